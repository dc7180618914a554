/*
 * check_alerts.c - the alert rules (alerts.c): the counters' keys and
 * sliding-window weights, which events feed which counters, the 5xx
 * share, the request spike against a usual rate, the download burst, the
 * JSON alert_command reads (request data stays inside string values), the
 * argument vector (absolute path, configured words only); and against a
 * real redis-server (check_redis.c) the event script's latch: threshold +
 * N events fire one alert, and so do twenty processes racing.  With no
 * PostgreSQL the fired alert waits in the Redis queue, which is what the
 * Redis tests count.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_redis.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static struct arena	*ar;
static struct req	 rq;
static const struct req_io no_io = { .param = NULL };
static const struct field email_field = { .name = "email",
	.type = FT_STRING, .min = 1, .max = 320 };
static char	no_db[] = "host=/nonexistent-aspida-check dbname=none "
		    "connect_timeout=1";

static void
conf_alerts(void)
{
	conf->alert_login_failures_per_address = 20;
	conf->alert_login_failures_address_window = 3600;
	conf->alert_rate_violations_per_address = 100;
	conf->alert_rate_violations_window = 3600;
	conf->global_login_failures_per_min = 100;
	conf->alert_global_login_failures_window = 60;
	conf->alert_login_failures_per_account = 10;
	conf->alert_login_failures_account_window = 3600;
	conf->alert_autoblock_minutes = 0;
	conf->ipv6_prefix = 64;
	conf->db_conninfo = no_db;
	conf->db_connect_timeout_ms = 200;
	conf->db_query_timeout_ms = 200;
	conf->db_retry_max_ms = 100000;
}

static void
setup(void)
{
	conf_alerts();
	ar = arena_new();
	req_init(&rq, ar, &no_io);
	(void)strlcpy(rq.id, "0123456789abcdef0123456789abcdef", sizeof(rq.id));
	rq.method_name = "POST";
	rq.path = "/api/v1/auth/login";
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
}

static void
set_client(const char *ip)
{
	ck_assert_int_eq(ipaddr_parse(ip, &rq.client), 0);
	(void)strlcpy(rq.client_ip, ip, sizeof(rq.client_ip));
}

static void
set_email(const char *email)
{
	rq.bvals[0].field = &email_field;
	rq.bvals[0].present = 1;
	rq.bvals[0].s = email;
	rq.bvals[0].len = strlen(email);
}

/* ---- counters ------------------------------------------------------- */

static const struct {
	int		 line;
	long long	 now, window;
	long long	 start;
	double		 weight;
	const char	*cur, *prev;
} counter_rows[] = {
	{ __LINE__, 7200, 3600, 7200, 1.0,
	    "aspida:al:c:login_failures_address:2:192.0.2.1",
	    "aspida:al:c:login_failures_address:1:192.0.2.1" },
	{ __LINE__, 7200 + 900, 3600, 7200, 0.75,
	    "aspida:al:c:login_failures_address:2:192.0.2.1",
	    "aspida:al:c:login_failures_address:1:192.0.2.1" },
	{ __LINE__, 7200 + 3599, 3600, 7200, 1.0 / 3600,
	    "aspida:al:c:login_failures_address:2:192.0.2.1",
	    "aspida:al:c:login_failures_address:1:192.0.2.1" },
	{ __LINE__, 125, 60, 120, 55.0 / 60,
	    "aspida:al:c:login_failures_address:2:192.0.2.1",
	    "aspida:al:c:login_failures_address:1:192.0.2.1" },
	/* A window of 0 is taken as 1 second, never a division by 0. */
	{ __LINE__, 42, 0, 42, 1.0,
	    "aspida:al:c:login_failures_address:42:192.0.2.1",
	    "aspida:al:c:login_failures_address:41:192.0.2.1" },
};

START_TEST(test_counter_init)
{
	struct alert_counter	c;
	size_t			i;

	for (i = 0; i < NITEMS(counter_rows); i++) {
		alerts_counter_init(&c, ALERT_LOGIN_FAILURES_ADDRESS,
		    "192.0.2.1", 1, 20, counter_rows[i].window,
		    counter_rows[i].now);
		ck_assert_msg(c.window_start == counter_rows[i].start,
		    "line %d: start %lld", counter_rows[i].line,
		    c.window_start);
		ck_assert_msg(c.prev_weight > counter_rows[i].weight - 1e-9 &&
		    c.prev_weight < counter_rows[i].weight + 1e-9,
		    "line %d: weight %f", counter_rows[i].line, c.prev_weight);
		ck_assert_msg(strcmp(c.cur, counter_rows[i].cur) == 0,
		    "line %d: %s", counter_rows[i].line, c.cur);
		ck_assert_msg(strcmp(c.prev, counter_rows[i].prev) == 0,
		    "line %d: %s", counter_rows[i].line, c.prev);
		ck_assert_str_eq(c.latch,
		    "aspida:al:l:login_failures_address:192.0.2.1");
	}
}
END_TEST

/* A subject longer than the buffer is cut, never overflows. */
START_TEST(test_counter_long_subject)
{
	struct alert_counter	c;
	char			s[1000];

	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	alerts_counter_init(&c, ALERT_LOGIN_FAILURES_ACCOUNT, s, 1, 10, 3600,
	    1000);
	ck_assert_uint_eq(strlen(c.subject), ALERT_SUBJECT_MAX - 1);
	ck_assert(strlen(c.latch) < sizeof(c.latch));
}
END_TEST

/* Which events feed which counters, with which thresholds. */
START_TEST(test_event_counters)
{
	struct alert_counter	c[ALERTS_MAX_COUNTERS];
	size_t			n;

	set_client("192.0.2.7");
	set_email("  Bob@Example.COM ");
	n = alerts_event_counters(&rq, "login_failure", c, NITEMS(c));
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(c[0].kind, ALERT_LOGIN_FAILURES_ADDRESS);
	ck_assert_str_eq(c[0].subject, "192.0.2.7");
	ck_assert_int_eq(c[0].threshold, 20);
	ck_assert_int_eq(c[0].window, 3600);
	ck_assert_int_eq(c[1].kind, ALERT_LOGIN_FAILURES_GLOBAL);
	ck_assert_int_eq(c[1].threshold, 100);
	ck_assert_int_eq(c[1].window, 60);
	ck_assert_int_eq(c[2].kind, ALERT_LOGIN_FAILURES_ACCOUNT);
	ck_assert_str_eq(c[2].subject, "bob@example.com");
	ck_assert_int_eq(c[2].threshold, 10);

	n = alerts_event_counters(&rq, "rate_limited", c, NITEMS(c));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].kind, ALERT_RATE_VIOLATIONS_ADDRESS);
	ck_assert_int_eq(c[0].threshold, 100);

	/* Other events feed nothing: no cost on their path. */
	ck_assert_uint_eq(alerts_event_counters(&rq, "auth_failure", c,
	    NITEMS(c)), 0);
	ck_assert_uint_eq(alerts_event_counters(&rq, "login_success", c,
	    NITEMS(c)), 0);
	ck_assert_uint_eq(alerts_event_counters(&rq, "alert", c,
	    NITEMS(c)), 0);
	/* max bounds what is written. */
	ck_assert_uint_eq(alerts_event_counters(&rq, "login_failure", c, 1),
	    1);
}
END_TEST

/* IPv6 addresses count by their /64, as the automatic blocks do. */
START_TEST(test_event_counters_ipv6)
{
	struct alert_counter	c[ALERTS_MAX_COUNTERS];

	set_client("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
	ck_assert_uint_eq(alerts_event_counters(&rq, "rate_limited", c,
	    NITEMS(c)), 1);
	ck_assert_str_eq(c[0].subject, "2001:db8:1:2::");
}
END_TEST

/* ---- thresholds ----------------------------------------------------- */

static const struct {
	int		 line;
	long long	 errors, total, percent, min;
	int		 over;
} ratio_rows[] = {
	{ __LINE__, 0, 0, 10, 1, 0 },
	{ __LINE__, 1, 10, 10, 1, 0 },		/* exactly 10 %: not above */
	{ __LINE__, 2, 10, 10, 1, 1 },
	{ __LINE__, 11, 100, 10, 1, 1 },
	{ __LINE__, 10, 100, 10, 1, 0 },
	{ __LINE__, 5, 5, 10, 20, 0 },		/* too few requests */
	{ __LINE__, 3, 20, 10, 20, 1 },
	{ __LINE__, 1, 1, 100, 1, 0 },		/* 100 % is never above */
	{ __LINE__, 0, 1000000, 1, 1, 0 },
	{ __LINE__, 3000000000LL, 10000000000LL, 29, 1, 1 },
};

START_TEST(test_ratio)
{
	size_t	i;

	for (i = 0; i < NITEMS(ratio_rows); i++)
		ck_assert_msg(alerts_ratio_over(ratio_rows[i].errors,
		    ratio_rows[i].total, ratio_rows[i].percent,
		    ratio_rows[i].min) == ratio_rows[i].over, "line %d",
		    ratio_rows[i].line);
}
END_TEST

static const struct {
	int		 line;
	long long	 count;
	double		 usual;
	long long	 factor, min;
	int		 spike;
} spike_rows[] = {
	{ __LINE__, 1000, 0, 10, 100, 0 },	/* no usual rate yet */
	{ __LINE__, 1000, 100, 10, 100, 0 },	/* exactly 10x */
	{ __LINE__, 1001, 100, 10, 100, 1 },
	{ __LINE__, 50, 1, 10, 100, 0 },	/* below the minimum */
	{ __LINE__, 100, 1, 10, 100, 1 },
	{ __LINE__, 30, 2.5, 10, 20, 1 },
	{ __LINE__, 25, 2.5, 10, 20, 0 },
	{ __LINE__, 1000, -1, 10, 1, 0 },
};

START_TEST(test_spike)
{
	size_t	i;

	for (i = 0; i < NITEMS(spike_rows); i++)
		ck_assert_msg(alerts_spike(spike_rows[i].count,
		    spike_rows[i].usual, spike_rows[i].factor,
		    spike_rows[i].min) == spike_rows[i].spike, "line %d",
		    spike_rows[i].line);
}
END_TEST

static const struct {
	int		 line;
	long long	 bytes, quota, percent;
	int		 over;
} quota_rows[] = {
	{ __LINE__, 0, 100000000, 50, 0 },
	{ __LINE__, 50000000, 100000000, 50, 0 },	/* exactly half */
	{ __LINE__, 50000001, 100000000, 50, 1 },
	{ __LINE__, 1001, 1000, 100, 1 },
	{ __LINE__, 999, 1000, 100, 0 },
	{ __LINE__, 600000000000LL, 1000000000000LL, 50, 1 },
	{ __LINE__, 10, 0, 50, 0 },
};

START_TEST(test_quota)
{
	size_t	i;

	for (i = 0; i < NITEMS(quota_rows); i++)
		ck_assert_msg(alerts_quota_over(quota_rows[i].bytes,
		    quota_rows[i].quota, quota_rows[i].percent) ==
		    quota_rows[i].over, "line %d", quota_rows[i].line);
}
END_TEST

/* ---- the JSON and the command line ---------------------------------- */

static const char *
jstr(struct json_object *o, const char *k)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

START_TEST(test_json)
{
	static const char evil[] = "x\"; rm -rf / ; $(touch /tmp/p) `id`\n\\";
	struct alert		 a;
	struct json_object	*o, *back, *d;
	const char		*text;

	memset(&a, 0, sizeof(a));
	a.id = 42;
	a.kind = "login_failures_account";
	a.severity = "warning";
	a.subject = evil;
	a.value = "11";
	a.threshold = "10";
	a.window = 3600;
	a.ts = 1767225600;	/* 2026-01-01T00:00:00Z */
	a.details = "{\"alert\":\"login_failures_account\",\"window_start\":0}";
	o = alerts_json(&a);
	text = json_text(o, NULL);
	/* One line, one object: the request data is an escaped string. */
	ck_assert_ptr_null(strchr(text, '\n'));
	back = json_tokener_parse(text);
	ck_assert_ptr_nonnull(back);
	ck_assert_str_eq(jstr(back, "subject"), evil);
	ck_assert_str_eq(jstr(back, "kind"), "login_failures_account");
	ck_assert_str_eq(jstr(back, "severity"), "warning");
	ck_assert_str_eq(jstr(back, "ts"), "2026-01-01T00:00:00Z");
	ck_assert_str_eq(jstr(back, "value"), "11");
	ck_assert_str_eq(jstr(back, "threshold"), "10");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(back,
	    "id")), 42);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(back,
	    "window_seconds")), 3600);
	ck_assert(json_object_object_get_ex(back, "details", &d));
	ck_assert(json_object_is_type(d, json_type_object));
	ck_assert_str_eq(jstr(d, "alert"), "login_failures_account");
	json_object_put(back);
	json_object_put(o);

	/* Not stored: no id; details that are not an object: null. */
	a.id = 0;
	a.subject = NULL;
	a.details = "[1,2]";
	o = alerts_json(&a);
	ck_assert(!json_object_object_get_ex(o, "id", NULL));
	ck_assert(json_object_object_get_ex(o, "subject", &d) && d == NULL);
	ck_assert(json_object_object_get_ex(o, "details", &d) && d == NULL);
	json_object_put(o);
	a.details = "{not json";
	o = alerts_json(&a);
	ck_assert(json_object_object_get_ex(o, "details", &d) && d == NULL);
	json_object_put(o);
}
END_TEST

START_TEST(test_argv)
{
	static char	p0[] = "/usr/local/bin/notify", p1[] = "--to",
			p2[] = "ops team", rel[] = "notify", empty[] = "";
	char		*ok[] = { p0, p1, p2 };
	char		*relative[] = { rel, p1 };
	char		*hole[] = { p0, empty };
	char		*many[ALERT_ARGV_MAX + 1];
	const char	*out[ALERT_ARGV_MAX + 1], *errstr = NULL;
	size_t		 i;

	ck_assert_int_eq(alerts_argv(ok, 3, out, NITEMS(out), &errstr), 3);
	ck_assert_ptr_eq(out[0], p0);
	ck_assert_ptr_eq(out[1], p1);
	ck_assert_ptr_eq(out[2], p2);	/* one word, spaces and all */
	ck_assert_ptr_null(out[3]);

	ck_assert_int_eq(alerts_argv(relative, 2, out, NITEMS(out), &errstr),
	    -1);
	ck_assert_ptr_nonnull(strstr(errstr, "absolute"));
	ck_assert_int_eq(alerts_argv(hole, 2, out, NITEMS(out), &errstr), -1);
	ck_assert_int_eq(alerts_argv(ok, 0, out, NITEMS(out), &errstr), -1);
	for (i = 0; i < NITEMS(many); i++)
		many[i] = p0;
	ck_assert_int_eq(alerts_argv(many, NITEMS(many), out, NITEMS(out),
	    &errstr), -1);
	/* Room for the words and the NULL, exactly. */
	ck_assert_int_eq(alerts_argv(many, 3, out, 4, &errstr), 3);
	ck_assert_int_eq(alerts_argv(many, 4, out, 4, &errstr), -1);
}
END_TEST

/* ---- the latch, against Redis --------------------------------------- */

static void
redis_setup(void)
{
	check_redis_start();	/* a fresh configuration: set ours after */
	setup();
}

static void
redis_teardown(void)
{
	check_redis_stop();
	teardown();
}

static long long
queued(const char *kind)
{
	const char		*argv[4] = { "LRANGE", "aspida:al:queue", "0",
				    "-1" };
	struct redisReply	*rep;
	long long		 n = 0;
	size_t			 i;

	rep = check_redis_command(4, argv);
	ck_assert_ptr_nonnull(rep);
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
		if (strstr(rep->element[i]->str, kind) != NULL)
			n++;
	freeReplyObject(rep);
	return n;
}

/* threshold + N failures from one address: one alert, not N. */
START_TEST(test_latch_once)
{
	int	i;

	conf->alert_login_failures_per_address = 5;
	conf->alert_login_failures_per_account = 1000;
	set_client("192.0.2.9");
	for (i = 0; i < 5; i++)
		event_recordf(&rq, "login_failure", SEV_WARNING, "test");
	ck_assert_int_eq(queued("login_failures_address"), 0);
	for (i = 0; i < 20; i++)
		event_recordf(&rq, "login_failure", SEV_WARNING, "test");
	ck_assert_int_eq(queued("login_failures_address"), 1);
	/* Another address has its own count and its own alert. */
	set_client("192.0.2.10");
	for (i = 0; i < 6; i++)
		event_recordf(&rq, "login_failure", SEV_WARNING, "test");
	ck_assert_int_eq(queued("login_failures_address"), 2);
	/* The account and the global counters stayed below theirs. */
	ck_assert_int_eq(queued("login_failures_account"), 0);
	ck_assert_int_eq(queued("login_failures_global"), 0);
}
END_TEST

/* The previous window still counts, weighed: no reset at a boundary. */
START_TEST(test_latch_previous_window)
{
	struct alert_counter	 c;
	const char		*argv[3];
	struct redisReply	*rep;

	conf->alert_rate_violations_per_address = 10;
	conf->alert_rate_violations_window = 100000;
	set_client("192.0.2.11");
	alerts_counter_init(&c, ALERT_RATE_VIOLATIONS_ADDRESS, "192.0.2.11",
	    1, 10, 100000, (long long)time(NULL));
	/* The previous window had 1e9; weighed, that alone is over 10. */
	argv[0] = "SET";
	argv[1] = c.prev;
	argv[2] = "1000000000";
	rep = check_redis_command(3, argv);
	freeReplyObject(rep);
	event_recordf(&rq, "rate_limited", SEV_WARNING, "test");
	ck_assert_int_eq(queued("rate_violations_address"), 1);
}
END_TEST

static char
racer(void *arg)
{
	struct arena	*a = arena_new();
	struct req	 r;
	int		 i;

	(void)arg;
	conf_alerts();
	conf->alert_login_failures_per_account = 40;
	req_init(&r, a, &no_io);
	(void)strlcpy(r.id, "0123456789abcdef0123456789abcdef", sizeof(r.id));
	r.method_name = "POST";
	r.path = "/api/v1/auth/login";
	(void)ipaddr_parse("192.0.2.12", &r.client);
	(void)strlcpy(r.client_ip, "192.0.2.12", sizeof(r.client_ip));
	r.bvals[0].field = &email_field;
	r.bvals[0].present = 1;
	r.bvals[0].s = "victim@example.com";
	r.bvals[0].len = strlen(r.bvals[0].s);
	for (i = 0; i < 5; i++)
		event_recordf(&r, "login_failure", SEV_WARNING, "race");
	arena_free(a);
	return 'o';
}

/* Twenty processes, 100 failures at once over a threshold of 40: one. */
START_TEST(test_latch_race)
{
	char	results[CHECK_REDIS_RACERS];
	int	i;

	check_redis_race(racer, NULL, results);
	for (i = 0; i < CHECK_REDIS_RACERS; i++)
		ck_assert_int_eq(results[i], 'o');
	ck_assert_int_eq(queued("login_failures_account"), 1);
	ck_assert_int_eq(queued("victim@example.com"), 1);
}
END_TEST

Suite *
alerts_suite(void)
{
	Suite	*s = suite_create("alerts");
	TCase	*tc;

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_counter_init);
	tcase_add_test(tc, test_counter_long_subject);
	tcase_add_test(tc, test_event_counters);
	tcase_add_test(tc, test_event_counters_ipv6);
	tcase_add_test(tc, test_ratio);
	tcase_add_test(tc, test_spike);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_argv);
	suite_add_tcase(s, tc);

	tc = tcase_create("latch");
	tcase_add_unchecked_fixture(tc, check_redis_dir_setup,
	    check_redis_dir_teardown);
	tcase_add_checked_fixture(tc, redis_setup, redis_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_latch_once);
	tcase_add_test(tc, test_latch_previous_window);
	tcase_add_test(tc, test_latch_race);
	suite_add_tcase(s, tc);
	return s;
}
