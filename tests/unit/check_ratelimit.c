/*
 * check_ratelimit.c - rate limiting against a real redis-server that each
 * test starts itself (check_redis.c): GCRA's bound, that no more than
 * burst + per_minute * t / 60 requests pass in any t seconds, checked on
 * every window of a fast loop; all-or-nothing charging of several limits;
 * the remaining, retry and reset values; the violation counter; the
 * revocation and user lookups that ride along; a Redis gone away.  The
 * per-worker fallback obeys the same bound with no Redis at all.  And the
 * stage: an unknown path or bad credentials, held by the earlier stages,
 * still pass (and spend) the per-address limit before they are answered.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_req.h"
#include "check_redis.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_HITS	256

static struct arena	*ar;
static struct req	 rq;

/* Wall-clock seconds: Redis's TIME and the local fallback use it too. */
static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fresh_req(void)
{
	check_req_clear();
	check_req_init(&rq, ar);
}

static void
local_setup(void)
{
	check_conf_setup();
	ar = arena_new();
	fresh_req();
}

static void
local_teardown(void)
{
	arena_free(ar);
	ar = NULL;
	check_conf_setup();
}

static void
redis_setup(void)
{
	check_redis_start();
	ar = arena_new();
	fresh_req();
}

static void
redis_teardown(void)
{
	arena_free(ar);
	ar = NULL;
	check_redis_stop();
}

static void
rl_init(struct rl_check *c, const char *viol)
{
	memset(c, 0, sizeof(*c));
	(void)snprintf(c->viol_key, sizeof(c->viol_key), "%s", viol);
}

static void
rl_add(struct rl_check *c, const char *key, long long per_minute,
    long long burst)
{
	size_t	i = c->n++;

	ck_assert_uint_le(c->n, RL_MAX_LIMITS);
	c->cls[i] = RATE_DEFAULT;
	(void)snprintf(c->key[i], sizeof(c->key[i]), "%s", key);
	c->per_minute[i] = per_minute;
	c->burst[i] = burst;
}

/* One check, through Redis or the local fallback. */
static void
rl_run(int local, struct rl_check *c)
{
	if (local)
		ratelimit_local(c);
	else
		ck_assert_int_eq(ratelimit_check(&rq, c), 0);
	ck_assert_int_eq(c->local, local);
}

/*
 * Drives one limit as fast as the loop goes for secs seconds, then checks
 * GCRA's bound on every window from one passed request to a later one:
 * k requests passed between them, so k <= burst + per_minute * t / 60,
 * t being at most the time from before the first call to after the
 * last.  The worst windows start and end on a passed request, so this
 * covers every window.  And the limit is not stricter than that: a loop
 * this fast gets about all the bound allows.
 */
static void
drive(int local, const char *key, long long per_minute, long long burst,
    double secs)
{
	struct rl_check	 c;
	double		 before[MAX_HITS], after[MAX_HITS], start, b, a = 0;
	double		 t, bound;
	size_t		 n = 0, i, j;
	long		 denied = 0;

	start = now_s();
	do {
		rl_init(&c, "aspida:viol:test");
		rl_add(&c, key, per_minute, burst);
		b = now_s();
		rl_run(local, &c);
		a = now_s();
		arena_reset(ar);	/* the replies of this call */
		if (c.allowed[0]) {
			ck_assert_uint_lt(n, MAX_HITS);
			before[n] = b;
			after[n++] = a;
		} else
			denied++;
	} while (a - start < secs);

	ck_assert_msg(denied > 0, "nothing was denied");
	for (i = 0; i < n; i++)
		for (j = i; j < n; j++) {
			/* Redis's TIME has whole microseconds. */
			t = after[j] - before[i] + 2e-6;
			bound = (double)burst + (double)per_minute * t / 60.0;
			ck_assert_msg((double)(j - i + 1) <= bound + 1e-9,
			    "%zu passed in %.6f s: bound %.3f", j - i + 1, t,
			    bound);
		}
	/* The burst passes at once, then one per interval. */
	ck_assert_uint_ge(n, (size_t)burst);
	bound = (double)burst +
	    (double)(long long)((double)per_minute * (a - start) / 60.0);
	ck_assert_msg((double)n + 2 >= bound, "only %zu passed in %.3f s "
	    "(%.0f allowed)", n, a - start, bound);
}

START_TEST(test_bound)
{
	drive(0, "aspida:rl:test:bound", 600, 5, 2.0);
}
END_TEST

START_TEST(test_local_bound)
{
	drive(1, "aspida:rl:test:local-bound", 600, 5, 2.0);
}
END_TEST

/*
 * Either every limit passes and each is charged, or none is charged: a
 * request the second limit refuses must not spend the first, whichever
 * order they come in.
 */
static void
all_or_nothing(int local, const char *roomy, const char *spent)
{
	struct rl_check	c;
	int		order;

	/* roomy: 60/min, burst 5; spent: burst 1, used up by request 1. */
	rl_init(&c, "aspida:viol:test");
	rl_add(&c, roomy, 60, 5);
	rl_add(&c, spent, 60, 1);
	rl_run(local, &c);
	ck_assert(c.allowed[0] && c.allowed[1]);
	ck_assert_int_eq(c.remaining[0], 4);
	ck_assert_int_eq(c.remaining[1], 0);

	for (order = 0; order < 2; order++) {
		rl_init(&c, "aspida:viol:test");
		rl_add(&c, order ? spent : roomy, 60, order ? 1 : 5);
		rl_add(&c, order ? roomy : spent, 60, order ? 5 : 1);
		rl_run(local, &c);
		/* The roomy limit would pass; the spent one refuses. */
		ck_assert_int_eq(c.allowed[order ? 1 : 0], 1);
		ck_assert_int_eq(c.allowed[order ? 0 : 1], 0);
	}

	/* roomy was charged once, by request 1: three refusals later 3 left. */
	rl_init(&c, "aspida:viol:test");
	rl_add(&c, roomy, 60, 5);
	rl_run(local, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	ck_assert_int_eq(c.remaining[0], 3);
}

START_TEST(test_all_or_nothing)
{
	all_or_nothing(0, "aspida:rl:test:roomy", "aspida:rl:test:spent");
	/* Nothing refused left a key behind or changed one. */
	ck_assert_int_eq(check_redis_int("EXISTS", "aspida:rl:test:roomy"), 1);
	ck_assert_int_eq(check_redis_int("EXISTS", "aspida:rl:test:spent"), 1);
}
END_TEST

START_TEST(test_local_all_or_nothing)
{
	all_or_nothing(1, "aspida:rl:test:local-roomy",
	    "aspida:rl:test:local-spent");
}
END_TEST

/*
 * 60 a minute (one per second), burst 5: remaining counts down 4..0,
 * reset is when the limit would be whole again, retry when the next one
 * passes; waiting retry_ms is enough.
 */
START_TEST(test_values)
{
	struct rl_check	c;
	long long	k, pttl;

	for (k = 1; k <= 5; k++) {
		rl_init(&c, "aspida:viol:test");
		rl_add(&c, "aspida:rl:test:values", 60, 5);
		rl_run(0, &c);
		ck_assert_msg(c.allowed[0], "request %lld", k);
		ck_assert_int_eq(c.remaining[0], 5 - k);
		ck_assert_int_eq(c.retry_ms[0], 0);
		ck_assert_msg(c.reset_ms[0] > k * 1000 - 500 &&
		    c.reset_ms[0] <= k * 1000, "request %lld: reset %lld", k,
		    c.reset_ms[0]);
		ck_assert_int_eq(c.violations, 0);
		if (k == 1) {
			/* The key lives only as long as its state matters. */
			pttl = check_redis_int("PTTL", "aspida:rl:test:values");
			ck_assert_msg(pttl > 500 && pttl <= 1001, "pttl %lld",
			    pttl);
		}
	}
	rl_init(&c, "aspida:viol:test");
	rl_add(&c, "aspida:rl:test:values", 60, 5);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 0);
	ck_assert_int_eq(c.remaining[0], 0);
	ck_assert_msg(c.retry_ms[0] > 500 && c.retry_ms[0] <= 1000,
	    "retry %lld", c.retry_ms[0]);
	ck_assert_msg(c.reset_ms[0] > 4500 && c.reset_ms[0] <= 5000,
	    "reset %lld", c.reset_ms[0]);

	check_redis_sleep_ms((long)c.retry_ms[0] + 20);
	rl_init(&c, "aspida:viol:test");
	rl_add(&c, "aspida:rl:test:values", 60, 5);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	ck_assert_int_eq(c.remaining[0], 0);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 0);
}
END_TEST

START_TEST(test_local_values)
{
	struct rl_check	c;
	long long	k;

	for (k = 1; k <= 5; k++) {
		rl_init(&c, "aspida:viol:test");
		rl_add(&c, "aspida:rl:test:local-values", 60, 5);
		rl_run(1, &c);
		ck_assert_msg(c.allowed[0], "request %lld", k);
		ck_assert_int_eq(c.remaining[0], 5 - k);
		ck_assert_int_eq(c.retry_ms[0], 0);
		ck_assert_msg(c.reset_ms[0] > k * 1000 - 500 &&
		    c.reset_ms[0] <= k * 1000 + 1, "request %lld: reset %lld",
		    k, c.reset_ms[0]);
	}
	rl_run(1, &c);
	ck_assert_int_eq(c.allowed[0], 0);
	ck_assert_int_eq(c.remaining[0], 0);
	ck_assert_msg(c.retry_ms[0] > 500 && c.retry_ms[0] <= 1001,
	    "retry %lld", c.retry_ms[0]);
	ck_assert_int_eq(c.violations, 1);
	/* The fallback has no revocation list: it says so, never "fine". */
	ck_assert_int_eq(c.gen, -1);
	check_redis_sleep_ms((long)c.retry_ms[0] + 20);
	rl_run(1, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	/* Other keys are counted apart. */
	rl_init(&c, "aspida:viol:test");
	rl_add(&c, "aspida:rl:test:local-other", 60, 1);
	rl_run(1, &c);
	ck_assert_int_eq(c.allowed[0], 1);
}
END_TEST

/* Each refusal counts toward its address's hourly violations. */
START_TEST(test_violations)
{
	struct rl_check	c;
	long long	ttl;
	int		i;

	rl_init(&c, "aspida:viol:192.0.2.1");
	rl_add(&c, "aspida:rl:test:viol", 60, 1);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	ck_assert_int_eq(c.violations, 0);
	ck_assert_int_eq(check_redis_int("EXISTS", "aspida:viol:192.0.2.1"), 0);
	for (i = 1; i <= 3; i++) {
		rl_run(0, &c);
		ck_assert_int_eq(c.allowed[0], 0);
		ck_assert_int_eq(c.violations, i);
	}
	ttl = check_redis_int("TTL", "aspida:viol:192.0.2.1");
	ck_assert_msg(ttl > 3500 && ttl <= 3600, "ttl %lld", ttl);
	/* Another address starts at one. */
	rl_init(&c, "aspida:viol:192.0.2.2");
	rl_add(&c, "aspida:rl:test:viol", 60, 1);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 0);
	ck_assert_int_eq(c.violations, 1);
	ck_assert_int_eq(check_redis_get("aspida:viol:192.0.2.2"), 1);
	ck_assert_int_eq(check_redis_get("aspida:viol:192.0.2.1"), 3);
}
END_TEST

static void
redis_do(int argc, const char **argv)
{
	freeReplyObject(check_redis_command(argc, argv));
}

/* The revocation and user lookups ride along, denied or not. */
START_TEST(test_lookups)
{
	const char	*set[] = { "SET", "aspida:revoked:0123abcd", "1" };
	const char	*u7[] = { "HSET", "aspida:user:7", "gen", "3", "role",
			    "admin" };
	const char	*u8[] = { "HSET", "aspida:user:8", "gen", "0", "role",
			    "user" };
	struct rl_check	 c;

	redis_do(NITEMS(set), set);
	redis_do(NITEMS(u7), u7);
	redis_do(NITEMS(u8), u8);

	rl_init(&c, "aspida:viol:test");
	rl_add(&c, "aspida:rl:test:lookups", 60, 1);
	c.revoked_key = "aspida:revoked:0123abcd";
	c.user_key = "aspida:user:7";
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	ck_assert_int_eq(c.revoked, 1);
	ck_assert_int_eq(c.gen, 3);
	ck_assert_int_eq(c.admin, 1);

	/* Denied now: the lookups still come back. */
	c.revoked_key = "aspida:revoked:4567cdef";
	c.user_key = "aspida:user:8";
	c.admin = 1;
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 0);
	ck_assert_int_eq(c.revoked, 0);
	ck_assert_int_eq(c.gen, 0);
	ck_assert_int_eq(c.admin, 0);

	/* A user not cached: generation unknown (-1), not 0. */
	c.user_key = "aspida:user:9";
	c.admin = 1;
	rl_run(0, &c);
	ck_assert_int_eq(c.gen, -1);
	ck_assert_int_eq(c.admin, 0);

	/* No lookups asked for: none answered. */
	c.revoked_key = NULL;
	c.user_key = NULL;
	c.revoked = 1;
	rl_run(0, &c);
	ck_assert_int_eq(c.revoked, 0);
	ck_assert_int_eq(c.gen, -1);
}
END_TEST

/* After a SCRIPT FLUSH (or a Redis restart) EVAL takes over. */
START_TEST(test_script_flushed)
{
	const char	*flush[] = { "SCRIPT", "FLUSH" };
	struct rl_check	 c;

	rl_init(&c, "aspida:viol:test");
	rl_add(&c, "aspida:rl:test:flush", 60, 5);
	rl_run(0, &c);
	ck_assert_int_eq(c.remaining[0], 4);
	redis_do(NITEMS(flush), flush);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	ck_assert_int_eq(c.remaining[0], 3);
}
END_TEST

START_TEST(test_bad_counts)
{
	struct rl_check	c;

	rl_init(&c, "aspida:viol:test");
	ck_assert_int_eq(ratelimit_check(&rq, &c), -1);
	rl_add(&c, "aspida:rl:test:a", 60, 1);
	rl_add(&c, "aspida:rl:test:b", 60, 1);
	rl_add(&c, "aspida:rl:test:c", 60, 1);
	c.n = RL_MAX_LIMITS + 1;
	ck_assert_int_eq(ratelimit_check(&rq, &c), -1);
	ck_assert_int_eq(check_redis_int("DBSIZE", NULL), 0);
}
END_TEST

START_TEST(test_redis_down)
{
	struct rl_check	c;

	rl_init(&c, "aspida:viol:test");
	rl_add(&c, "aspida:rl:test:down", 60, 5);
	rl_run(0, &c);
	ck_assert_int_eq(c.allowed[0], 1);
	check_redis_kill();
	ck_assert_int_eq(ratelimit_check(&rq, &c), -1);
	/* Still down on the next try (refused, or backed off). */
	ck_assert_int_eq(ratelimit_check(&rq, &c), -1);
	/* Then the caller falls back to the local limits. */
	rl_run(1, &c);
	ck_assert_int_eq(c.allowed[0], 1);
}
END_TEST

/*
 * The stage.  The per-address limit: 60 a minute, burst 3; the route
 * classes and the download quotas are roomy so only it binds.  Automatic
 * blocks are out of reach (they would need PostgreSQL).
 */
static void
stage_setup(void)
{
	int	i;

	redis_setup();
	for (i = 0; i < RATE__MAX; i++) {
		conf->rate_per_minute[i] = 60;
		conf->rate_burst[i] = 100;
	}
	conf->rate_burst[RATE_PREAUTH] = 3;
	conf->autoblock_violations_per_hour = 1000000;
	conf->autoblock_failed_credentials_per_hour = 1000000;
	conf->autoblock_minutes = 1;
	conf->ipv6_prefix = 64;
	conf->quota_daily_bytes = 1LL << 40;
	conf->quota_anonymous_daily_bytes = 1LL << 40;
}

/* A request through the stages before the limit. */
static void
request(const char *uri, const char *addr, const char *authz)
{
	fresh_req();
	check_req_param("REQUEST_METHOD", "GET");
	check_req_param("REQUEST_URI", uri);
	check_req_param("REMOTE_ADDR", addr);
	if (authz != NULL)
		check_req_param("HTTP_AUTHORIZATION", authz);
	ck_assert_int_eq(stage_parse(&rq), AERR_OK);
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	ck_assert_int_eq(stage_auth(&rq), AERR_OK);
	ck_assert_int_eq(rq.err, AERR_OK);
}

static const char *
header(const char *name)
{
	size_t	i;

	for (i = 0; i < rq.nheaders; i++)
		if (strcmp(rq.headers[i].name, name) == 0)
			return rq.headers[i].value;
	return NULL;
}

static void
assert_limited(int line)
{
	ck_assert_msg(stage_ratelimit(&rq) == AERR_RATE_LIMITED,
	    "line %d: not limited", line);
	ck_assert_msg(rq.err == AERR_RATE_LIMITED, "line %d: err %d", line,
	    rq.err);
	ck_assert_msg(rq.retry_after >= 1, "line %d", line);
	ck_assert_msg(header("RateLimit-Remaining") != NULL &&
	    strcmp(header("RateLimit-Remaining"), "0") == 0, "line %d", line);
}

/* Unknown paths spend the address's limit before their 404. */
START_TEST(test_stage_unknown_path)
{
	int	i;

	for (i = 0; i < 3; i++) {
		request("/api/v1/nothing", "192.0.2.77", NULL);
		ck_assert_int_eq(rq.pending, AERR_NOT_FOUND);
		ck_assert_int_eq(stage_ratelimit(&rq), AERR_NOT_FOUND);
		ck_assert_int_eq(rq.err, AERR_NOT_FOUND);
	}
	request("/api/v1/nothing", "192.0.2.77", NULL);
	assert_limited(__LINE__);
	/* The same bucket: a real route from there is refused as well. */
	request("/api/v1/assets", "192.0.2.77", NULL);
	ck_assert_int_eq(rq.pending, AERR_OK);
	assert_limited(__LINE__);
	ck_assert_int_eq(check_redis_get("aspida:viol:192.0.2.77"), 2);

	/* Another address is not. */
	request("/api/v1/nothing", "192.0.2.78", NULL);
	ck_assert_int_eq(stage_ratelimit(&rq), AERR_NOT_FOUND);
	request("/api/v1/assets", "192.0.2.78", NULL);
	ck_assert_int_eq(stage_ratelimit(&rq), AERR_OK);
	ck_assert_int_eq(rq.err, AERR_OK);
	ck_assert_ptr_nonnull(header("RateLimit-Limit"));
	ck_assert_str_eq(header("RateLimit-Limit"), "60");

	/* IPv6 addresses count by their /64. */
	for (i = 0; i < 3; i++) {
		request("/api/v1/nothing", i % 2 ? "2001:db8:0:1::1" :
		    "2001:db8:0:1:ffff:ffff:ffff:ffff", NULL);
		ck_assert_int_eq(stage_ratelimit(&rq), AERR_NOT_FOUND);
	}
	request("/api/v1/nothing", "2001:db8:0:1::2", NULL);
	assert_limited(__LINE__);
	request("/api/v1/nothing", "2001:db8:0:2::1", NULL);
	ck_assert_int_eq(stage_ratelimit(&rq), AERR_NOT_FOUND);
}
END_TEST

/*
 * Bad credentials spend the limit before their 401, and each is counted
 * toward the address's automatic block.
 */
START_TEST(test_stage_bad_credentials)
{
	char	key[] = "aspida:credfail:192.0.2.79";
	int	i;

	for (i = 1; i <= 3; i++) {
		request("/api/v1/assets", "192.0.2.79", "Basic Zm9vOmJhcg==");
		ck_assert_int_eq(rq.pending, AERR_UNAUTHORIZED);
		ck_assert_int_eq(rq.cred_failed, 1);
		ck_assert_int_eq(stage_ratelimit(&rq), AERR_UNAUTHORIZED);
		ck_assert_int_eq(rq.err, AERR_UNAUTHORIZED);
		ck_assert_int_eq(check_redis_get(key), i);
	}
	ck_assert_int_gt(check_redis_int("TTL", key), 3500);
	request("/api/v1/assets", "192.0.2.79", "Basic Zm9vOmJhcg==");
	assert_limited(__LINE__);
	/* A route needing credentials, none sent: held 401, also limited. */
	request("/api/v1/auth/me", "192.0.2.79", NULL);
	ck_assert_int_eq(rq.pending, AERR_UNAUTHORIZED);
	ck_assert_int_eq(rq.cred_failed, 0);
	assert_limited(__LINE__);
}
END_TEST

Suite *
ratelimit_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ratelimit");
	tc = tcase_create("redis");
	tcase_add_unchecked_fixture(tc, check_redis_dir_setup,
	    check_redis_dir_teardown);
	tcase_add_checked_fixture(tc, redis_setup, redis_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_all_or_nothing);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_violations);
	tcase_add_test(tc, test_lookups);
	tcase_add_test(tc, test_script_flushed);
	tcase_add_test(tc, test_bad_counts);
	tcase_add_test(tc, test_redis_down);
	suite_add_tcase(s, tc);

	tc = tcase_create("local");
	tcase_add_checked_fixture(tc, local_setup, local_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_local_bound);
	tcase_add_test(tc, test_local_all_or_nothing);
	tcase_add_test(tc, test_local_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("stage");
	tcase_add_unchecked_fixture(tc, check_redis_dir_setup,
	    check_redis_dir_teardown);
	tcase_add_checked_fixture(tc, stage_setup, redis_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stage_unknown_path);
	tcase_add_test(tc, test_stage_bad_credentials);
	suite_add_tcase(s, tc);
	return s;
}
