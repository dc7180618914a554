/*
 * check_lockout.c - account lockout against a real redis-server that each
 * test starts itself (check_redis.c), with tiny periods (lock_base 1 s,
 * lock_max 4 s): the lock_threshold-th failure locks; attempts while
 * locked are not counted; each further lock doubles up to lock_max; a
 * success resets the count; lockout_clear lifts the lock and forgets the
 * level; every email, known or not, is treated alike and kept in Redis
 * only as a hash; twenty processes guessing at once meet one lock; Redis
 * gone away is reported, never taken for "not locked".
 */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_redis.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* sha256("alice@example.com"), computed apart from aspida. */
#define ALICE		"alice@example.com"
#define ALICE_HASH	"ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad" \
			"60e28eaaa8c6d976"
#define NOBODY		"nobody@nowhere.invalid"

static struct arena	*ar;
static struct req	 rq;
static const struct req_io no_io = { .param = NULL };

static void
setup(void)
{
	check_redis_start();
	conf->lock_threshold = 5;
	conf->lock_window = 60;
	conf->lock_base = 1;
	conf->lock_max = 4;
	conf->lock_reset = 60;
	ar = arena_new();
	req_init(&rq, ar, &no_io);
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
	check_redis_stop();
}

static void
key(char *out, size_t size, const char *kind, const char *hash)
{
	(void)snprintf(out, size, "aspida:%s:%s", kind, hash);
}

/* Fails n times, none of which may lock. */
static void
fail_n(const char *email, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		ck_assert_msg(lockout_fail(&rq, email) == 0, "%s: failure %d "
		    "locked", email, i + 1);
	arena_reset(ar);
}

/* Lifts a lock as its expiry would, keeping the level. */
static void
expire_lock(const char *hash)
{
	const char	*argv[2] = { "DEL", NULL };
	char		 k[96];

	key(k, sizeof(k), "lock", hash);
	argv[1] = k;
	freeReplyObject(check_redis_command(2, argv));
}

START_TEST(test_threshold)
{
	char		k[96];
	long long	ttl;

	ck_assert_int_eq(lockout_check(&rq, ALICE), 0);
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 0);
	/* The count is kept under the hash, for lock_window. */
	key(k, sizeof(k), "fail", ALICE_HASH);
	ck_assert_int_eq(check_redis_get(k), 4);
	ttl = check_redis_int("TTL", k);
	ck_assert_msg(ttl > 50 && ttl <= 60, "ttl %lld", ttl);
	/* The fifth locks, for lock_base. */
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 1);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 1);
	key(k, sizeof(k), "lock", ALICE_HASH);
	ck_assert_int_eq(check_redis_int("EXISTS", k), 1);
	/* Another account is untouched. */
	ck_assert_int_eq(lockout_check(&rq, NOBODY), 0);
	/* And the lock ends by itself. */
	check_redis_sleep_ms(1100);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 0);
	ck_assert_int_eq(check_redis_int("EXISTS", k), 0);
}
END_TEST

/* Guesses while locked are refused without counting toward the next. */
START_TEST(test_locked_not_counted)
{
	char	k[96];
	int	i;

	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 1);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(lockout_fail(&rq, ALICE), 0);
	key(k, sizeof(k), "fail", ALICE_HASH);
	ck_assert_int_eq(check_redis_int("EXISTS", k), 0);
	/* Nor do they lengthen the lock. */
	key(k, sizeof(k), "lock", ALICE_HASH);
	ck_assert_int_le(check_redis_int("TTL", k), 1);
	expire_lock(ALICE_HASH);
	/* A fresh count: four more do not lock, the fifth does. */
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 0);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 2);
}
END_TEST

/* lock_base, doubling with each lock, capped at lock_max. */
START_TEST(test_doubling)
{
	static const long long	 want[] = { 1, 2, 4, 4, 4 };
	char			 k[96];
	long long		 ttl;
	size_t			 i;

	key(k, sizeof(k), "locklvl", ALICE_HASH);
	for (i = 0; i < NITEMS(want); i++) {
		fail_n(ALICE, 4);
		ck_assert_msg(lockout_fail(&rq, ALICE) == want[i],
		    "lock %zu", i + 1);
		ck_assert_int_eq(lockout_check(&rq, ALICE), want[i]);
		/* The level outlives the lock by lock_reset. */
		ttl = check_redis_int("TTL", k);
		ck_assert_msg(ttl > want[i] + 50 && ttl <= want[i] + 60,
		    "lock %zu: level ttl %lld", i + 1, ttl);
		expire_lock(ALICE_HASH);
		arena_reset(ar);
	}
}
END_TEST

/* A success resets the count, not the level. */
START_TEST(test_success_resets)
{
	fail_n(ALICE, 4);
	lockout_success(&rq, ALICE);
	fail_n(ALICE, 4);
	lockout_success(&rq, ALICE);
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 1);
	expire_lock(ALICE_HASH);
	lockout_success(&rq, ALICE);
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 2);
}
END_TEST

/* aspidactl unlock: the lock is lifted and the level forgotten. */
START_TEST(test_clear)
{
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 1);
	expire_lock(ALICE_HASH);
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 2);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 2);
	ck_assert_int_eq(lockout_clear(ALICE), 0);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 0);
	ck_assert_int_eq(check_redis_int("DBSIZE", NULL), 0);
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 1);
	/* Clearing an account never seen is harmless. */
	ck_assert_int_eq(lockout_clear(NOBODY), 0);
	ck_assert_int_eq(lockout_check(&rq, ALICE), 1);
}
END_TEST

/*
 * Known or unknown, every email locks the same way, and Redis holds no
 * address: only aspida:{fail,lock,locklvl}:<64 hex digits>.
 */
static const char *const emails[] = {
	ALICE,
	NOBODY,
	"x@y",
	"very.long.name+tag@sub.domain.example.org",
	"o'brien@example.ie",
};

START_TEST(test_keys_hashed)
{
	const char		*argv[2] = { "KEYS", "*" };
	struct redisReply	*r;
	regex_t			 re;
	size_t			 i, j;
	char			 at[64], *p;

	for (i = 0; i < NITEMS(emails); i++) {
		fail_n(emails[i], 4);
		ck_assert_msg(lockout_fail(&rq, emails[i]) == 1, "%s",
		    emails[i]);
		ck_assert_int_eq(lockout_check(&rq, emails[i]), 1);
	}
	fail_n("notlocked@example.com", 3);
	ck_assert_int_eq(regcomp(&re,
	    "^aspida:(fail|lock|locklvl):[0-9a-f]{64}$", REG_EXTENDED), 0);
	r = check_redis_command(2, argv);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	/* A lock and a level for each, and the count of the last one. */
	ck_assert_uint_eq(r->elements, 2 * NITEMS(emails) + 1);
	for (j = 0; j < r->elements; j++) {
		ck_assert_msg(regexec(&re, r->element[j]->str, 0, NULL, 0) ==
		    0, "key %s", r->element[j]->str);
		for (i = 0; i < NITEMS(emails); i++) {
			(void)strlcpy(at, emails[i], sizeof(at));
			p = strchr(at, '@');
			*p = '\0';
			ck_assert_ptr_null(strstr(r->element[j]->str, at));
			ck_assert_ptr_null(strstr(r->element[j]->str, p + 1));
		}
	}
	freeReplyObject(r);
	regfree(&re);
}
END_TEST

/* One guess: 'L' locked the account, '0' was counted, 'e' failed. */
static char
race_fail(void *arg)
{
	long long	rc;

	(void)arg;
	rc = lockout_fail(&rq, ALICE);
	return rc == 60 ? 'L' : rc == 0 ? '0' : 'e';
}

/* Twenty processes guessing at once: the fifth failure locks, once. */
START_TEST(test_race)
{
	char	results[CHECK_REDIS_RACERS];
	int	i, locked = 0, counted = 0, failed = 0;

	/* A lock that outlasts slow racers (under valgrind, say). */
	conf->lock_base = 60;
	conf->lock_max = 60;
	check_redis_race(race_fail, NULL, results);
	for (i = 0; i < CHECK_REDIS_RACERS; i++) {
		locked += results[i] == 'L';
		counted += results[i] == '0';
		failed += results[i] == 'e';
	}
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(locked, 1);
	ck_assert_int_eq(counted, CHECK_REDIS_RACERS - 1);
	ck_assert_int_gt(lockout_check(&rq, ALICE), 50);
}
END_TEST

START_TEST(test_redis_down)
{
	fail_n(ALICE, 4);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), 1);
	check_redis_kill();
	ck_assert_int_eq(lockout_check(&rq, ALICE), -1);
	ck_assert_int_eq(lockout_fail(&rq, ALICE), -1);
	lockout_success(&rq, ALICE);		/* nothing to report */
	ck_assert_int_eq(lockout_clear(ALICE), -1);
	ck_assert_int_eq(lockout_check(&rq, NOBODY), -1);
}
END_TEST

Suite *
lockout_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("lockout");
	tc = tcase_create("redis");
	tcase_add_unchecked_fixture(tc, check_redis_dir_setup,
	    check_redis_dir_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_threshold);
	tcase_add_test(tc, test_locked_not_counted);
	tcase_add_test(tc, test_doubling);
	tcase_add_test(tc, test_success_resets);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_keys_hashed);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_redis_down);
	suite_add_tcase(s, tc);
	return s;
}
