/*
 * Alerts: DESIGN.md's thresholds over the security events, each fired
 * once per window.  Three feeds:
 *  - events that already cost a Redis round trip (failed logins, rate
 *    limits) carry their alert counters in the same script (events.c),
 *    which compares a sliding-window estimate with the threshold and takes
 *    the window's latch (SET NX with the window as TTL) in one step;
 *  - every request adds to tallies in the worker (requests, 5xx, and per
 *    principal requests and downloaded bytes), flushed to Redis every
 *    alert_flush_seconds, so a plain GET costs no extra round trip;
 *  - aspidactl tick reads the per-principal tallies (download burst,
 *    request spike against the principal's usual rate) and the forecasts
 *    it has just scored.
 * A PostgreSQL or Redis failure is noticed by the worker after its
 * request; with Redis down the table's unique index (005_alerts.sql) is
 * the latch, with PostgreSQL down the alert waits in a Redis list until a
 * tick stores it, and with both down it is only in the log.
 * A firing alert is logged (its severity's syslog level), recorded as an
 * "alert" security event (counted in /metrics), stored in alerts, may
 * block the address (through blocklist.c, the one owner of blocks), and
 * is handed to alert_command by aspidactl tick, never by a worker.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

#define ALERTS_QUEUE		"aspida:al:queue"
#define ALERTS_QUEUE_MAX	"999"
#define ALERTS_USUAL		"aspida:al:usual"
#define ALERTS_TALLY_SLOTS	64
#define ALERTS_WHO_MAX		64
#define ALERTS_MINUTES_MAX	60
#define ALERTS_EVAL_MAX		(4 + 2 * ALERTS_MINUTES_MAX + 5 + \
				    3 * ALERTS_TALLY_SLOTS)
#define ALERTS_USUAL_KEEP	0.8	/* weight of the old usual rate */

const struct alert_rule alert_rules[ALERT__MAX] = {
	[ALERT_LOGIN_FAILURES_ADDRESS] = { "login_failures_address",
	    SEV_CRITICAL, 1 },
	[ALERT_RATE_VIOLATIONS_ADDRESS] = { "rate_violations_address",
	    SEV_CRITICAL, 1 },
	[ALERT_LOGIN_FAILURES_GLOBAL] = { "login_failures_global",
	    SEV_CRITICAL, 0 },
	[ALERT_SERVER_ERRORS] = { "server_errors", SEV_CRITICAL, 0 },
	[ALERT_DEPENDENCY] = { "dependency_failure", SEV_CRITICAL, 0 },
	[ALERT_LOGIN_FAILURES_ACCOUNT] = { "login_failures_account",
	    SEV_WARNING, 0 },
	[ALERT_QUOTA_BURST] = { "quota_burst", SEV_WARNING, 0 },
	[ALERT_REQUEST_SPIKE] = { "request_spike", SEV_WARNING, 0 },
	[ALERT_FORECAST_ERROR] = { "forecast_error", SEV_WARNING, 0 },
};

static const char *const sev_names[SEV__MAX] = {
	[SEV_INFO] = "info",
	[SEV_WARNING] = "warning",
	[SEV_CRITICAL] = "critical",
};

/* The worker's tallies, flushed every alert_flush_seconds. */
static struct {
	long long	 total;
	long long	 errors;
	struct {
		char		 who[ALERTS_WHO_MAX];
		long long	 reqs;
		long long	 bytes;
	}		 p[ALERTS_TALLY_SLOTS];
	size_t		 np;
	time_t		 next;
} tally;

/* The window a dependency alert was last raised in, per dependency. */
static long long	dep_window[2] = { -1, -1 };

/*
 * KEYS: the request and 5xx counters of this minute, the per-principal
 * request and byte hashes of this period, then the request and 5xx
 * counters of the window's earlier minutes.  ARGV: the requests, the 5xx,
 * the earlier minutes k, the minute counters' TTL, the hashes' TTL, then
 * (principal, requests, bytes) triples.  Returns the window's requests
 * and 5xx.
 */
static const char flush_lua[] =
    "local t = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "local e = redis.call('INCRBY', KEYS[2], ARGV[2])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[4])\n"
    "local k = tonumber(ARGV[3])\n"
    "for i = 1, k do\n"
    "  t = t + tonumber(redis.call('GET', KEYS[4 + i]) or '0')\n"
    "  e = e + tonumber(redis.call('GET', KEYS[4 + k + i]) or '0')\n"
    "end\n"
    "local i = 6\n"
    "while ARGV[i] do\n"
    "  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])\n"
    "  redis.call('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 2])\n"
    "  i = i + 3\n"
    "end\n"
    "if i > 6 then\n"
    "  redis.call('EXPIRE', KEYS[3], ARGV[5])\n"
    "  redis.call('EXPIRE', KEYS[4], ARGV[5])\n"
    "end\n"
    "return {t, e}\n";
static char flush_sha[41];

static void
reply_free(void *p)
{
	freeReplyObject(p);
}

/*
 * kv_script() for a script with more arguments than it takes: EVALSHA,
 * then EVAL when Redis does not know the script.  Returns as kv_command.
 */
static struct redisReply *
eval(struct req *r, const char *body, const char *sha, int nkeys, int nargs,
    const char **args)
{
	const char		*argv[3 + ALERTS_EVAL_MAX];
	char			 nk[16];
	struct redisReply	*rep;
	int			 i;

	if (nargs > ALERTS_EVAL_MAX)
		return NULL;
	(void)snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = sha;
	argv[2] = nk;
	for (i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	if ((rep = kv_command(NULL, nargs + 3, argv, NULL)) == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		argv[0] = "EVAL";
		argv[1] = body;
		if ((rep = kv_command(NULL, nargs + 3, argv, NULL)) == NULL)
			return NULL;
	}
	arena_defer(r->arena, reply_free, rep);
	return rep;
}

/*
 * Fills a counter: its keys for the window now falls in (the subject
 * last, so an IPv6 address's colons cannot collide with the other
 * parts), and the share of the previous window the estimate still
 * counts.
 */
void
alerts_counter_init(struct alert_counter *c, enum alert_kind kind,
    const char *subject, long long amount, long long threshold,
    long long window, long long now)
{
	long long	idx;

	memset(c, 0, sizeof(*c));
	if (window < 1)
		window = 1;
	idx = now / window;
	c->kind = kind;
	(void)strlcpy(c->subject, subject, sizeof(c->subject));
	c->amount = amount;
	c->threshold = threshold;
	c->window = window;
	c->window_start = idx * window;
	c->prev_weight = 1.0 - (double)(now - c->window_start) / (double)window;
	(void)snprintf(c->cur, sizeof(c->cur), "aspida:al:c:%s:%lld:%s",
	    alert_rules[kind].name, idx, c->subject);
	(void)snprintf(c->prev, sizeof(c->prev), "aspida:al:c:%s:%lld:%s",
	    alert_rules[kind].name, idx - 1, c->subject);
	(void)snprintf(c->latch, sizeof(c->latch), "aspida:al:l:%s:%s",
	    alert_rules[kind].name, c->subject);
}

/*
 * The counters an event feeds: failed logins by address, account and
 * across all accounts, rate-limit violations by address.  Returns how
 * many were filled (at most max).
 */
size_t
alerts_event_counters(struct req *r, const char *kind,
    struct alert_counter *out, size_t max)
{
	const struct value	*email;
	const char		*canon;
	char			 addr[64];
	long long		 now = (long long)time(NULL);
	size_t			 n = 0;
	int			 login;

	login = strcmp(kind, "login_failure") == 0;
	if (!login && strcmp(kind, "rate_limited") != 0)
		return 0;
	if (r->client.family != 0 && n < max) {
		ratelimit_addr_key(&r->client, addr, sizeof(addr));
		if (login)
			alerts_counter_init(&out[n++],
			    ALERT_LOGIN_FAILURES_ADDRESS, addr, 1,
			    conf->alert_login_failures_per_address,
			    conf->alert_login_failures_address_window, now);
		else
			alerts_counter_init(&out[n++],
			    ALERT_RATE_VIOLATIONS_ADDRESS, addr, 1,
			    conf->alert_rate_violations_per_address,
			    conf->alert_rate_violations_window, now);
	}
	if (!login)
		return n;
	if (n < max)
		alerts_counter_init(&out[n++], ALERT_LOGIN_FAILURES_GLOBAL, "*",
		    1, conf->global_login_failures_per_min,
		    conf->alert_global_login_failures_window, now);
	email = req_body(r, "email");
	if (n < max && email != NULL && email->s != NULL &&
	    (canon = email_canonical(r, email->s)) != NULL && *canon != '\0')
		alerts_counter_init(&out[n++], ALERT_LOGIN_FAILURES_ACCOUNT,
		    canon, 1, conf->alert_login_failures_per_account,
		    conf->alert_login_failures_account_window, now);
	return n;
}

/* The event script took a counter's latch: its estimate was value. */
void
alerts_counter_fired(struct req *r, const struct alert_counter *c,
    long long value)
{
	alerts_fire(r, c->kind, c->subject, (double)value, c->threshold,
	    c->window);
}

/*
 * 5xx over percent of the window's requests, once there are at least
 * min_total of them (one failed request of two is no incident).
 * Returns 1 when the alert is due, else 0.
 */
int
alerts_ratio_over(long long errors, long long total, long long percent,
    long long min_total)
{
	if (total <= 0 || total < min_total || errors <= 0)
		return 0;
	/* errors / total > percent / 100, in integers. */
	return errors * 100 > percent * total;
}

/*
 * A principal's requests this period against its usual rate: over
 * factor times the usual, at least min of them, and a usual known (a new
 * principal has none).  Returns 1 when the alert is due, else 0.
 */
int
alerts_spike(long long count, double usual, long long factor, long long min)
{
	if (usual <= 0 || !isfinite(usual) || count < min)
		return 0;
	return (double)count > usual * (double)factor;
}

/* Downloaded bytes over percent of the daily quota.  Returns 1 or 0. */
int
alerts_quota_over(long long bytes, long long quota, long long percent)
{
	if (bytes <= 0 || quota <= 0)
		return 0;
	/* bytes > quota * percent / 100, without overflow for any quota. */
	return (double)bytes * 100.0 > (double)quota * (double)percent;
}

/*
 * The alert as one JSON object: what alert_command reads on stdin and
 * the admin route shows.  details, when it parses, is nested as an
 * object; request data only ever appears inside string values.
 * Returns a new object.
 */
struct json_object *
alerts_json(const struct alert *a)
{
	struct json_object	*o, *d = NULL;
	char			 ts[32];

	o = json_object_new_object();
	if (a->id > 0)
		json_object_object_add(o, "id", json_object_new_int64(a->id));
	timestamp_format(a->ts, ts, sizeof(ts));
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "kind", json_object_new_string(a->kind));
	json_object_object_add(o, "severity",
	    json_object_new_string(a->severity));
	json_object_object_add(o, "subject",
	    a->subject ? json_object_new_string(a->subject) : NULL);
	json_object_object_add(o, "value",
	    a->value ? json_object_new_string(a->value) : NULL);
	json_object_object_add(o, "threshold",
	    a->threshold ? json_object_new_string(a->threshold) : NULL);
	json_object_object_add(o, "window_seconds",
	    json_object_new_int64(a->window));
	if (a->details != NULL)
		d = json_tokener_parse(a->details);
	if (d != NULL && !json_object_is_type(d, json_type_object)) {
		json_object_put(d);
		d = NULL;
	}
	json_object_object_add(o, "details", d);
	return o;
}

/*
 * The argument vector of alert_command: the configured words only, the
 * first an absolute path (no PATH search, no shell).  out gets at most
 * max pointers including the NULL that ends it.  Returns the number of
 * words, or -1 with *errstr set.
 */
int
alerts_argv(char *const *words, size_t n, const char **out, size_t max,
    const char **errstr)
{
	size_t	i;

	if (n == 0) {
		*errstr = "alert_command is not set";
		return -1;
	}
	if (n + 1 > max) {
		*errstr = "alert_command has too many words";
		return -1;
	}
	if (words[0] == NULL || words[0][0] != '/') {
		*errstr = "alert_command must start with an absolute path";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (words[i] == NULL || words[i][0] == '\0') {
			*errstr = "alert_command has an empty word";
			return -1;
		}
		out[i] = words[i];
	}
	out[n] = NULL;
	return (int)n;
}

/* Keeps an alert PostgreSQL could not take, for the next tick. */
static void
queue(struct req *r, const char *const *params)
{
	struct json_object	*o;
	const char		*argv[4];
	int			 i;
	static const char *const names[7] = { "kind", "severity", "subject",
	    "value", "threshold", "window_seconds", "details" };

	o = json_object_new_object();
	for (i = 0; i < 7; i++)
		json_object_object_add(o, names[i],
		    params[i] ? json_object_new_string(params[i]) : NULL);
	argv[0] = "LPUSH";
	argv[1] = ALERTS_QUEUE;
	argv[2] = json_text(o, NULL);
	if (kv_command(r, 3, argv, NULL) == NULL) {
		log_crit("alert %s not stored: PostgreSQL and Redis are down",
		    params[0]);
		json_object_put(o);
		return;
	}
	argv[0] = "LTRIM";
	argv[2] = "0";
	argv[3] = ALERTS_QUEUE_MAX;
	(void)kv_command(r, 4, argv, NULL);
	json_object_put(o);
}

/*
 * Fires an alert: a log line at its severity and an "alert" event (the
 * metric), a row in alerts, and for an address rule the automatic block
 * when alert_autoblock_minutes is set.  The caller holds the window's
 * latch.
 */
void
alerts_fire(struct req *r, enum alert_kind kind, const char *subject,
    double value, long long threshold, long long window)
{
	const struct alert_rule	*rule = &alert_rules[kind];
	struct json_object	*details;
	const char		*params[7];
	char			 val[48], thr[24], win[24], why[ALERT_SUBJECT_MAX + 64];
	long long		 now = (long long)time(NULL), start;
	PGresult		*res;

	if (window < 1)
		window = 1;
	start = now / window * window;
	(void)snprintf(val, sizeof(val), "%.0f", value);
	(void)snprintf(thr, sizeof(thr), "%lld", threshold);
	(void)snprintf(win, sizeof(win), "%lld", window);
	details = json_object_new_object();
	json_object_object_add(details, "alert",
	    json_object_new_string(rule->name));
	json_object_object_add(details, "subject",
	    json_object_new_string(subject));
	json_object_object_add(details, "value", json_object_new_string(val));
	json_object_object_add(details, "threshold",
	    json_object_new_string(thr));
	json_object_object_add(details, "window_seconds",
	    json_object_new_int64(window));
	json_object_object_add(details, "window_start",
	    json_object_new_int64(start));

	params[0] = rule->name;
	params[1] = sev_names[rule->severity];
	params[2] = subject;
	params[3] = val;
	params[4] = thr;
	params[5] = win;
	params[6] = arena_strdup(r->arena, json_text(details, NULL));
	/* The log line, its syslog level, and the metric. */
	event_record(r, "alert", rule->severity, details);

	if (db_query(r, DB_ALERT_INSERT, params, &res) != AERR_OK)
		queue(r, params);
	if (rule->autoblock && conf->alert_autoblock_minutes > 0 &&
	    r->client.family != 0) {
		(void)snprintf(why, sizeof(why), "alert %s", rule->name);
		blocklist_autoblock(r, why, conf->alert_autoblock_minutes);
	}
}

/*
 * Takes the latch of an alert for its window.  Returns 1 when this
 * caller fires it, 0 when another did, -1 when Redis cannot say.
 */
static int
latch(enum alert_kind kind, const char *subject, long long window)
{
	char	key[ALERT_KEY_MAX];

	(void)snprintf(key, sizeof(key), "aspida:al:l:%s:%s",
	    alert_rules[kind].name, subject);
	return kv_claim(key, window);
}

/*
 * A dependency this worker found down: once per window per worker, a
 * critical event (which goes straight to PostgreSQL when Redis is down)
 * and the alert, latched in Redis when Redis answers, else by the
 * table's unique index.
 */
static void
dependency(struct req *r, int which)
{
	const char	*name = which ? "postgresql" : "redis";
	long long	 w = conf->alert_dependency_window;
	long long	 start = (long long)time(NULL) / w * w;

	if (dep_window[which] == start)
		return;
	dep_window[which] = start;
	event_recordf(r, "dependency_unavailable", SEV_CRITICAL,
	    "%s is unavailable", name);
	if (latch(ALERT_DEPENDENCY, name, w) == 0)
		return;
	alerts_fire(r, ALERT_DEPENDENCY, name, 1, 0, w);
}

static void
tally_add(const char *who, long long bytes)
{
	size_t	i;

	for (i = 0; i < tally.np; i++)
		if (strcmp(tally.p[i].who, who) == 0)
			break;
	if (i == tally.np) {
		if (tally.np == ALERTS_TALLY_SLOTS)
			return;		/* flushed on the next due check */
		(void)strlcpy(tally.p[i].who, who, sizeof(tally.p[i].who));
		tally.p[i].reqs = 0;
		tally.p[i].bytes = 0;
		tally.np++;
	}
	tally.p[i].reqs++;
	tally.p[i].bytes += bytes;
}

/* Sends the tallies to Redis and checks the 5xx rate. */
static void
tally_flush(struct req *r)
{
	const char		*args[ALERTS_EVAL_MAX];
	char			 keys[4 + 2 * ALERTS_MINUTES_MAX][48];
	char			 num[5 + 2 * ALERTS_TALLY_SLOTS][24];
	struct redisReply	*rep;
	long long		 now = (long long)time(NULL), minute = now / 60;
	long long		 period, k, i, total, errors;
	int			 nk = 0, na = 0, nn = 0, argc;

	period = now / conf->alert_principal_window;
	k = conf->alert_5xx_window / 60 - 1;
	if (k < 0)
		k = 0;
	if (k > ALERTS_MINUTES_MAX - 1)
		k = ALERTS_MINUTES_MAX - 1;
	(void)snprintf(keys[nk++], sizeof(keys[0]), "aspida:al:req:%lld",
	    minute);
	(void)snprintf(keys[nk++], sizeof(keys[0]), "aspida:al:5xx:%lld",
	    minute);
	(void)snprintf(keys[nk++], sizeof(keys[0]), "aspida:al:preq:%lld",
	    period);
	(void)snprintf(keys[nk++], sizeof(keys[0]), "aspida:al:pbytes:%lld",
	    period);
	for (i = 1; i <= k; i++)
		(void)snprintf(keys[nk++], sizeof(keys[0]),
		    "aspida:al:req:%lld", minute - i);
	for (i = 1; i <= k; i++)
		(void)snprintf(keys[nk++], sizeof(keys[0]),
		    "aspida:al:5xx:%lld", minute - i);
	for (i = 0; i < nk; i++)
		args[na++] = keys[i];
	(void)snprintf(num[nn], sizeof(num[0]), "%lld", tally.total);
	args[na++] = num[nn++];
	(void)snprintf(num[nn], sizeof(num[0]), "%lld", tally.errors);
	args[na++] = num[nn++];
	(void)snprintf(num[nn], sizeof(num[0]), "%lld", k);
	args[na++] = num[nn++];
	(void)snprintf(num[nn], sizeof(num[0]), "%lld",
	    conf->alert_5xx_window + 120);
	args[na++] = num[nn++];
	(void)snprintf(num[nn], sizeof(num[0]), "%lld",
	    3 * conf->alert_principal_window);
	args[na++] = num[nn++];
	for (i = 0; i < (long long)tally.np; i++) {
		args[na++] = tally.p[i].who;
		(void)snprintf(num[nn], sizeof(num[0]), "%lld",
		    tally.p[i].reqs);
		args[na++] = num[nn++];
		(void)snprintf(num[nn], sizeof(num[0]), "%lld",
		    tally.p[i].bytes);
		args[na++] = num[nn++];
	}
	argc = na;
	tally.total = tally.errors = 0;
	tally.np = 0;
	if (flush_sha[0] == '\0')
		crypto_sha1_hex(flush_lua, flush_sha);
	rep = eval(r, flush_lua, flush_sha, nk, argc, args);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 2)
		return;
	total = rep->element[0]->integer;
	errors = rep->element[1]->integer;
	if (alerts_ratio_over(errors, total, conf->alert_5xx_percent,
	    conf->alert_5xx_min_requests) &&
	    latch(ALERT_SERVER_ERRORS, "*", conf->alert_5xx_window) == 1)
		alerts_fire(r, ALERT_SERVER_ERRORS, "*",
		    (double)errors * 100.0 / (double)total,
		    conf->alert_5xx_percent, conf->alert_5xx_window);
}

/*
 * Stage 11's part: counts the request into the worker's tallies (no I/O),
 * flushes them when due, and raises the dependency alert when this
 * request found PostgreSQL or Redis down.
 */
void
alerts_audit(struct req *r)
{
	time_t	now;
	char	who[ALERTS_WHO_MAX];

	if (r->route != NULL && r->route->ops)
		return;
	tally.total++;
	if (r->status >= 500)
		tally.errors++;
	if (r->principal != NULL) {
		(void)strlcpy(who, r->principal, sizeof(who));
		tally_add(who, r->route != NULL && r->route->quota &&
		    r->status < 400 ? (long long)r->out.len : 0);
	}
	/*
	 * kv_available() is a pointer test while Redis is up; PostgreSQL is
	 * only asked after a 5xx, since a reconnect may cost the connect
	 * timeout and a cached price may be served while it is down.
	 */
	if (!kv_available())
		dependency(r, 0);
	if (r->status >= 500 && !db_available())
		dependency(r, 1);
	now = time(NULL);
	if (now < tally.next && tally.np < ALERTS_TALLY_SLOTS)
		return;
	tally.next = now + conf->alert_flush_seconds;
	tally_flush(r);
}

/* ---- aspidactl tick ------------------------------------------------- */

/* Stores the alerts that waited in Redis while PostgreSQL was down. */
static void
tick_drain(struct req *r)
{
	const char		*argv[3], *params[7];
	struct redisReply	*rep;
	struct json_object	*o, *v;
	PGresult		*res;
	int			 i, n;
	static const char *const names[7] = { "kind", "severity", "subject",
	    "value", "threshold", "window_seconds", "details" };

	for (n = 0; n < 1000; n++) {
		argv[0] = "RPOP";
		argv[1] = ALERTS_QUEUE;
		if ((rep = kv_command(r, 2, argv, NULL)) == NULL ||
		    rep->type != REDIS_REPLY_STRING)
			return;
		if ((o = json_tokener_parse(rep->str)) == NULL)
			continue;
		for (i = 0; i < 7; i++)
			params[i] = json_object_object_get_ex(o, names[i], &v) &&
			    json_object_is_type(v, json_type_string) ?
			    json_object_get_string(v) : NULL;
		if (params[0] == NULL || params[1] == NULL) {
			json_object_put(o);
			continue;
		}
		if (db_query(r, DB_ALERT_INSERT, params, &res) != AERR_OK) {
			argv[0] = "RPUSH";
			argv[2] = rep->str;
			(void)kv_command(r, 3, argv, NULL);
			json_object_put(o);
			return;
		}
		json_object_put(o);
	}
}

static struct redisReply *
hgetall(struct req *r, const char *key)
{
	const char		*argv[2] = { "HGETALL", key };
	struct redisReply	*rep;

	rep = kv_command(r, 2, argv, NULL);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
		return NULL;
	return rep;
}

static long long
hash_get(struct redisReply *h, const char *field)
{
	size_t	i;

	for (i = 0; h != NULL && i + 1 < h->elements; i += 2)
		if (strcmp(h->element[i]->str, field) == 0)
			return strtoll(h->element[i + 1]->str, NULL, 10);
	return 0;
}

static double
hash_getd(struct redisReply *h, const char *field)
{
	size_t	i;

	for (i = 0; h != NULL && i + 1 < h->elements; i += 2)
		if (strcmp(h->element[i]->str, field) == 0)
			return strtod(h->element[i + 1]->str, NULL);
	return 0;
}

/*
 * Folds a finished period into each principal's usual rate (an
 * exponentially weighted mean of its periods), once across hosts.
 */
static void
tick_usual(struct req *r, long long period)
{
	struct redisReply	*last, *usual;
	const char		*argv[4];
	char			 key[48], val[48];
	double			 u;
	size_t			 i;

	(void)snprintf(key, sizeof(key), "aspida:al:usualdone:%lld", period);
	if (kv_claim(key, 3 * conf->alert_principal_window) != 1)
		return;
	(void)snprintf(key, sizeof(key), "aspida:al:preq:%lld", period);
	if ((last = hgetall(r, key)) == NULL ||
	    (usual = hgetall(r, ALERTS_USUAL)) == NULL)
		return;
	argv[0] = "HSET";
	argv[1] = ALERTS_USUAL;
	for (i = 0; i + 1 < last->elements; i += 2) {
		u = hash_getd(usual, last->element[i]->str);
		u = u > 0 ? ALERTS_USUAL_KEEP * u + (1 - ALERTS_USUAL_KEEP) *
		    strtod(last->element[i + 1]->str, NULL) :
		    strtod(last->element[i + 1]->str, NULL);
		(void)snprintf(val, sizeof(val), "%.3f", u);
		argv[2] = last->element[i]->str;
		argv[3] = val;
		(void)kv_command(r, 4, argv, NULL);
	}
	/* A principal idle for the whole period: its usual rate decays. */
	for (i = 0; i + 1 < usual->elements; i += 2) {
		if (hash_get(last, usual->element[i]->str) > 0)
			continue;
		u = ALERTS_USUAL_KEEP * strtod(usual->element[i + 1]->str, NULL);
		argv[2] = usual->element[i]->str;
		if (u < 0.5) {
			argv[0] = "HDEL";
			(void)kv_command(r, 3, argv, NULL);
			argv[0] = "HSET";
			continue;
		}
		(void)snprintf(val, sizeof(val), "%.3f", u);
		argv[3] = val;
		(void)kv_command(r, 4, argv, NULL);
	}
}

/* The per-principal rules over the current period's tallies. */
static void
tick_principals(struct req *r)
{
	struct redisReply	*reqs, *bytes, *usual;
	char			 key[48];
	long long		 w = conf->alert_principal_window;
	long long		 period = (long long)time(NULL) / w, n, b;
	size_t			 i;
	const char		*who;

	tick_usual(r, period - 1);
	(void)snprintf(key, sizeof(key), "aspida:al:preq:%lld", period);
	reqs = hgetall(r, key);
	(void)snprintf(key, sizeof(key), "aspida:al:pbytes:%lld", period);
	bytes = hgetall(r, key);
	usual = hgetall(r, ALERTS_USUAL);
	for (i = 0; bytes != NULL && i + 1 < bytes->elements; i += 2) {
		who = bytes->element[i]->str;
		b = strtoll(bytes->element[i + 1]->str, NULL, 10);
		if (alerts_quota_over(b, conf->quota_daily_bytes,
		    conf->alert_quota_percent) &&
		    latch(ALERT_QUOTA_BURST, who, w) == 1)
			alerts_fire(r, ALERT_QUOTA_BURST, who, (double)b,
			    conf->quota_daily_bytes * conf->alert_quota_percent /
			    100, w);
	}
	for (i = 0; reqs != NULL && i + 1 < reqs->elements; i += 2) {
		who = reqs->element[i]->str;
		n = strtoll(reqs->element[i + 1]->str, NULL, 10);
		if (alerts_spike(n, hash_getd(usual, who),
		    conf->alert_request_spike_factor,
		    conf->alert_request_spike_min_requests) &&
		    latch(ALERT_REQUEST_SPIKE, who, w) == 1)
			alerts_fire(r, ALERT_REQUEST_SPIKE, who, (double)n,
			    (long long)ceil(hash_getd(usual, who) *
			    (double)conf->alert_request_spike_factor), w);
	}
}

/* Forecasts scored this tick whose error passed the threshold. */
static void
tick_forecasts(struct req *r, PGresult *scored)
{
	double	err;
	int	i;

	for (i = 0; scored != NULL && i < PQntuples(scored); i++) {
		if (PQnfields(scored) < 3 || PQgetisnull(scored, i, 2))
			continue;
		err = strtod(PQgetvalue(scored, i, 2), NULL) * 100.0;
		if (err > (double)conf->alert_forecast_error_percent &&
		    latch(ALERT_FORECAST_ERROR, PQgetvalue(scored, i, 1),
		    conf->alert_forecast_window) == 1)
			alerts_fire(r, ALERT_FORECAST_ERROR,
			    PQgetvalue(scored, i, 1), err,
			    conf->alert_forecast_error_percent,
			    conf->alert_forecast_window);
	}
}

/*
 * One row of the statements that list alerts (id, epoch, kind, severity,
 * subject, value, threshold, window, details); the strings point into res.
 */
void
alerts_from_row(PGresult *res, int row, struct alert *a)
{
	memset(a, 0, sizeof(*a));
	a->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	a->ts = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	a->kind = PQgetvalue(res, row, 2);
	a->severity = PQgetvalue(res, row, 3);
	a->subject = PQgetisnull(res, row, 4) ? NULL : PQgetvalue(res, row, 4);
	a->value = PQgetisnull(res, row, 5) ? NULL : PQgetvalue(res, row, 5);
	a->threshold = PQgetisnull(res, row, 6) ? NULL :
	    PQgetvalue(res, row, 6);
	a->window = strtoll(PQgetvalue(res, row, 7), NULL, 10);
	a->details = PQgetisnull(res, row, 8) ? NULL : PQgetvalue(res, row, 8);
}

/*
 * Runs alert_command with the alert on stdin: execve of the configured
 * words (no shell, nothing from the alert in argv), a minimal
 * environment, its own process group, killed whole after
 * alert_command_timeout seconds.  Returns 0 when it exited 0, else -1.
 */
static int
run_command(const char *const *argv, const char *json)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    "LC_ALL=C", NULL };
	struct timespec	 pause = { 0, 20 * 1000 * 1000 };
	struct sigaction sa;
	time_t		 deadline;
	size_t		 len = strlen(json), off = 0;
	ssize_t		 w;
	pid_t		 pid;
	int		 p[2], fd, status;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGPIPE, &sa, NULL);
		if (dup2(p[0], 0) == -1)
			_exit(127);
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
		}
		for (fd = 3; fd < 1024; fd++)
			(void)close(fd);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	(void)setpgid(pid, pid);
	close(p[0]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)fcntl(p[1], F_SETFL, O_NONBLOCK);
	while (off < len && (w = write(p[1], json + off, len - off)) > 0)
		off += (size_t)w;
	close(p[1]);
	deadline = time(NULL) + conf->alert_command_timeout;
	for (;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid)
			break;
		if (got == -1 && errno != EINTR)
			return -1;
		if (time(NULL) >= deadline) {
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			log_warnx("alert_command timed out after %lld s; "
			    "its process group was killed",
			    conf->alert_command_timeout);
			return -1;
		}
		(void)nanosleep(&pause, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("alert_command failed (status %d)", status);
		return -1;
	}
	return 0;
}

/*
 * Hands every alert not yet notified to alert_command, each once across
 * hosts: a host claims an alert by inserting its alert_notifications row
 * (ON CONFLICT DO NOTHING RETURNING).  Returns 0, or -1.
 */
static int
tick_notify(struct req *r)
{
	const char		*argv[ALERT_ARGV_MAX + 1], *errstr = NULL;
	const char		*params[2];
	char			 host[128], by[192];
	struct alert		 a;
	struct json_object	*o;
	PGresult		*res, *claim;
	int			 i, rc = 0;

	if (conf->nalert_command == 0)
		return 0;
	if (alerts_argv(conf->alert_command, conf->nalert_command, argv,
	    sizeof(argv) / sizeof(argv[0]), &errstr) == -1) {
		log_warnx("%s", errstr);
		return -1;
	}
	if (db_query(r, DB_ALERTS_PENDING, NULL, &res) != AERR_OK)
		return -1;
	if (gethostname(host, sizeof(host)) == -1)
		(void)strlcpy(host, "?", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	(void)snprintf(by, sizeof(by), "%s:%ld", host, (long)getpid());
	for (i = 0; i < PQntuples(res); i++) {
		params[0] = PQgetvalue(res, i, 0);
		params[1] = by;
		if (db_query(r, DB_ALERT_CLAIM, params, &claim) != AERR_OK) {
			rc = -1;
			break;
		}
		if (PQntuples(claim) != 1)
			continue;	/* another host has it */
		alerts_from_row(res, i, &a);
		o = alerts_json(&a);
		if (run_command(argv, json_text(o, NULL)) == -1)
			rc = -1;
		json_object_put(o);
	}
	return rc;
}

/*
 * aspidactl tick's alert work: store the alerts queued while PostgreSQL
 * was down, evaluate the per-principal rules and the forecasts just
 * scored (scored may be NULL), and run alert_command.  Returns 0, or -1
 * when some of it failed.
 */
int
alerts_tick(struct pg_result *scored)
{
	struct req	r;
	int		rc;

	memset(&r, 0, sizeof(r));
	if ((r.arena = arena_new()) == NULL)
		return -1;
	req_new_id(r.id);
	r.method_name = "TICK";
	r.path = "aspidactl";
	metrics_init();
	tick_drain(&r);
	tick_principals(&r);
	tick_forecasts(&r, scored);
	rc = tick_notify(&r);
	arena_free(r.arena);
	return rc;
}
