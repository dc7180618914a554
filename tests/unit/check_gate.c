/*
 * check_gate.c - unit tests of gate.c against a real redis-server that each
 * test starts itself (check_redis.c) on a free loopback port in a private
 * temporary directory and stops afterwards: the slot limit, leaving,
 * expiry of a dead holder's slot, twenty processes racing for three
 * slots, and Redis going away.  A missing redis-server fails the tests; it
 * never skips them.
 */
#include "config.h"

#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_redis.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
assert_token(const char *t)
{
	size_t	i;

	ck_assert_uint_eq(strlen(t), GATE_TOKEN_LEN);
	for (i = 0; i < GATE_TOKEN_LEN; i++)
		ck_assert_msg(strchr("0123456789abcdef", t[i]) != NULL,
		    "token %s", t);
}

START_TEST(test_max_slots)
{
	char	t[4][GATE_TOKEN_LEN + 1];
	int	i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(gate_enter("login", 3, 60, t[i]), 1);
		assert_token(t[i]);
	}
	ck_assert_str_ne(t[0], t[1]);
	ck_assert_str_ne(t[1], t[2]);
	ck_assert_str_ne(t[0], t[2]);
	ck_assert_int_eq(gate_enter("login", 3, 60, t[3]), 0);
	ck_assert_str_eq(t[3], "");
	ck_assert_int_eq(gate_enter("login", 3, 60, t[3]), 0);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:login"), 3);
	/* Another gate is counted apart. */
	ck_assert_int_eq(gate_enter("forecast", 1, 60, t[3]), 1);
	ck_assert_int_eq(gate_enter("forecast", 1, 60, t[3]), 0);
}
END_TEST

START_TEST(test_leave)
{
	char	a[GATE_TOKEN_LEN + 1], b[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 1, 60, a), 1);
	ck_assert_int_eq(gate_enter("login", 1, 60, b), 0);
	/* Only the holder's token frees its slot. */
	gate_leave("login", "00000000000000000000000000000000");
	gate_leave("login", "");
	gate_leave("login", NULL);
	ck_assert_int_eq(gate_enter("login", 1, 60, b), 0);
	gate_leave("login", a);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:login"), 0);
	ck_assert_int_eq(gate_enter("login", 1, 60, b), 1);
	ck_assert_str_ne(a, b);
	/* Leaving twice is harmless. */
	gate_leave("login", a);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:login"), 1);
}
END_TEST

/* A holder that dies without leaving loses its slot after the TTL. */
START_TEST(test_expiry)
{
	char	t[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 1, 1, t), 1);
	ck_assert_int_eq(gate_enter("login", 1, 1, t), 0);
	check_redis_sleep_ms(500);
	ck_assert_int_eq(gate_enter("login", 1, 1, t), 0);
	check_redis_sleep_ms(700);
	ck_assert_int_eq(gate_enter("login", 1, 1, t), 1);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:login"), 1);

	/* Also while a live slot keeps the key itself alive. */
	ck_assert_int_eq(gate_enter("busy", 2, 60, t), 1);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 1);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 0);
	check_redis_sleep_ms(1200);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:busy"), 2);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 1);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 0);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:busy"), 2);
}
END_TEST

/* The key itself expires with its last slot: no gate lives forever. */
START_TEST(test_key_ttl)
{
	char		t[GATE_TOKEN_LEN + 1];
	long long	pttl;

	ck_assert_int_eq(gate_enter("login", 2, 1, t), 1);
	pttl = check_redis_int("PTTL", "aspida:gate:login");
	ck_assert_msg(pttl > 0 && pttl <= 1001, "pttl %lld", pttl);
	/* A longer slot keeps the key as long as it lives. */
	ck_assert_int_eq(gate_enter("login", 2, 30, t), 1);
	pttl = check_redis_int("PTTL", "aspida:gate:login");
	ck_assert_msg(pttl > 29000 && pttl <= 30001, "pttl %lld", pttl);
	/* And a full gate does not shorten it. */
	ck_assert_int_eq(gate_enter("login", 2, 1, t), 0);
	pttl = check_redis_int("PTTL", "aspida:gate:login");
	ck_assert_msg(pttl > 29000, "pttl %lld", pttl);
	gate_leave("login", t);

	ck_assert_int_eq(gate_enter("short", 5, 1, t), 1);
	check_redis_sleep_ms(1200);
	ck_assert_int_eq(check_redis_int("EXISTS", "aspida:gate:short"), 0);
}
END_TEST

/* One racer: '1' entered, '0' found the gate full, 'e' failed. */
static char
race_enter(void *arg)
{
	char	tok[GATE_TOKEN_LEN + 1];
	int	rc;

	(void)arg;
	rc = gate_enter("race", 3, 60, tok);
	return rc == 1 ? '1' : rc == 0 ? '0' : 'e';
}

/* Twenty processes, each with its own connection, for three slots. */
START_TEST(test_race)
{
	char	results[CHECK_REDIS_RACERS];
	int	i, entered = 0, full = 0, failed = 0;

	check_redis_race(race_enter, NULL, results);
	for (i = 0; i < CHECK_REDIS_RACERS; i++) {
		entered += results[i] == '1';
		full += results[i] == '0';
		failed += results[i] == 'e';
	}
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(entered, 3);
	ck_assert_int_eq(full, CHECK_REDIS_RACERS - 3);
	ck_assert_int_eq(check_redis_int("ZCARD", "aspida:gate:race"), 3);
}
END_TEST

/* After a SCRIPT FLUSH (or a Redis restart) EVAL takes over. */
START_TEST(test_script_flushed)
{
	const char		*argv[] = { "SCRIPT", "FLUSH" };
	struct redisReply	*r;
	char			 t[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 2, 60, t), 1);
	ck_assert_ptr_nonnull(r = kv_command(NULL, 2, argv, NULL));
	ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
	ck_assert_int_eq(gate_enter("login", 2, 60, t), 1);
	ck_assert_int_eq(gate_enter("login", 2, 60, t), 0);
}
END_TEST

START_TEST(test_redis_down)
{
	char	t[GATE_TOKEN_LEN + 1], held[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 1, 60, held), 1);
	check_redis_kill();
	memset(t, 'x', sizeof(t));
	ck_assert_int_eq(gate_enter("login", 1, 60, t), -1);
	ck_assert_str_eq(t, "");
	/* Still down on the next try (reconnection refused or backed off). */
	ck_assert_int_eq(gate_enter("login", 1, 60, t), -1);
	gate_leave("login", held);	/* only logged: the slot expires */
}
END_TEST

struct badarg {
	int		 line;
	const char	*name;
	long long	 max;
	long long	 ttl;
};

static const struct badarg badargs[] = {
	{ __LINE__, NULL, 1, 60 },
	{ __LINE__, "", 1, 60 },
	{ __LINE__, "log in", 1, 60 },
	{ __LINE__, "login:*", 1, 60 },
	{ __LINE__, "LOGIN", 1, 60 },
	{ __LINE__, "a1234567890123456789012345678901234567890123456789"
	    "012345678901234", 1, 60 },		/* 65 characters */
	{ __LINE__, "login", 0, 60 },
	{ __LINE__, "login", -1, 60 },
	{ __LINE__, "login", 1, 0 },
	{ __LINE__, "login", 1, -5 },
	{ __LINE__, "login", 1, 86401 },
};

START_TEST(test_bad_args)
{
	const struct badarg	*b = &badargs[_i];
	char			 t[GATE_TOKEN_LEN + 1] = "x";

	ck_assert_msg(gate_enter(b->name, b->max, b->ttl, t) == -1,
	    "line %d", b->line);
	ck_assert_msg(t[0] == '\0', "line %d", b->line);
	ck_assert_int_eq(gate_enter("login", 1, 60, NULL), -1);
	/* Nothing was written for any of them. */
	ck_assert_int_eq(check_redis_int("DBSIZE", NULL), 0);
}
END_TEST

Suite *
gate_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("gate");
	tc = tcase_create("redis");
	tcase_add_unchecked_fixture(tc, check_redis_dir_setup,
	    check_redis_dir_teardown);
	tcase_add_checked_fixture(tc, check_redis_start, check_redis_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_max_slots);
	tcase_add_test(tc, test_leave);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_key_ttl);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_script_flushed);
	tcase_add_test(tc, test_redis_down);
	tcase_add_loop_test(tc, test_bad_args, 0, NITEMS(badargs));
	suite_add_tcase(s, tc);
	return s;
}
