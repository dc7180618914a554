/*
 * Security events, the one module every safeguard reports through.  An
 * event becomes one JSON line in syslog (authentication events under
 * authpriv) and in log_file, and a row in security_events.  Rows are not
 * written per event: a flood would turn the audit table into the attack's
 * amplifier.  Events are counted in Redis per kind, address, principal,
 * route and minute, and once the minute has passed the first worker to
 * notice inserts one row per group with its count (DESIGN.md).  When Redis
 * itself is down, critical events go straight to PostgreSQL.  The same
 * script carries the alert counters an event feeds (alerts.c), so an
 * alert threshold costs no round trip of its own.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "aspida.h"

#define EVENT_TTL		7200	/* seconds */
#define EVENT_STR_(x)		#x
#define EVENT_STR(x)		EVENT_STR_(x)
#define EVENT_ROUTE_MAX		200
#define EVENT_FLUSH_MAX_ROWS	2000

static const char *const severities[SEV__MAX] = {
	[SEV_INFO] = "info",
	[SEV_WARNING] = "warning",
	[SEV_CRITICAL] = "critical",
};

/*
 * KEYS: the minute's counts, samples and the pending set, then per alert
 * counter its current and previous window and its latch.  ARGV: the
 * group, the sample, the minute, the TTL, the number of counters, then
 * per counter amount, window, the previous window's weight, threshold.
 * Returns the group's count, then per counter the estimate when this
 * call took its latch (the alert fires), else 0.
 */
static const char count_lua[] =
    "local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)\n"
    "if n == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[4])\n"
    "redis.call('SADD', KEYS[3], ARGV[3])\n"
    "redis.call('EXPIRE', KEYS[3], ARGV[4])\n"
    "local res = {n}\n"
    "for j = 1, tonumber(ARGV[5] or '0') do\n"
    "  local k, a = 3 * j, 5 + 4 * (j - 1)\n"
    "  local c = redis.call('INCRBY', KEYS[k + 1], ARGV[a + 1])\n"
    "  redis.call('EXPIRE', KEYS[k + 1], 2 * tonumber(ARGV[a + 2]) + 60)\n"
    "  local est = c + tonumber(redis.call('GET', KEYS[k + 2]) or '0') *\n"
    "    tonumber(ARGV[a + 3])\n"
    "  local f = 0\n"
    "  if est > tonumber(ARGV[a + 4]) and redis.call('SET', KEYS[k + 3],\n"
    "    '1', 'NX', 'EX', ARGV[a + 2]) then f = math.max(1, math.floor(est)) end\n"
    "  res[#res + 1] = f\n"
    "end\n"
    "return res\n";
static char count_sha[41];

static time_t	next_flush;

static void	event_flush(int);

/* Authentication events go to authpriv (DESIGN.md). */
static int
is_auth_kind(const char *kind)
{
	static const char *const auth_kinds[] = {
		"account_locked", "account_unlocked", "api_key_created",
		"api_key_ip_refused", "api_key_refused", "api_key_revoked",
		"csrf_failure", "fingerprint_mismatch", "password_change",
		"refresh_reuse", "registration", "sessions_revoked",
		"token_revoked",
	};
	size_t	i;

	if (strncmp(kind, "auth", 4) == 0 || strncmp(kind, "login", 5) == 0)
		return 1;
	for (i = 0; i < sizeof(auth_kinds) / sizeof(auth_kinds[0]); i++)
		if (strcmp(kind, auth_kinds[i]) == 0)
			return 1;
	return 0;
}

static const char *
route_name(const struct req *r, char *buf, size_t size)
{
	const char	*p = r->route ? r->route->path : r->path;

	(void)snprintf(buf, size, "%s %.*s", r->method_name ? r->method_name : "?",
	    EVENT_ROUTE_MAX, p ? p : "-");
	return buf;
}

static void
insert_direct(const char *kind, const char *sev, const struct req *r,
    const char *route, const char *details)
{
	const char	*params[9] = { NULL };

	params[1] = kind;
	params[2] = sev;
	params[3] = r ? r->id : NULL;
	params[4] = r && r->client_ip[0] ? r->client_ip : NULL;
	params[5] = r ? r->principal : NULL;
	params[6] = route;
	params[8] = details;
	(void)db_exec_direct(DB_EVENT_INSERT, params);
}

/*
 * Records a security event; takes over the details object (may be NULL).
 * Never fails the request: an event that cannot be stored is still in
 * the log.
 */
void
event_record(struct req *r, const char *kind, enum severity sev,
    struct json_object *details)
{
	struct json_object	*line, *sample;
	const char		*text, *args[8 + 7 * ALERTS_MAX_COUNTERS];
	char			 route[EVENT_ROUTE_MAX + 16], minute[24], field[512];
	char			 key1[48], key2[48], num[1 + 4 * ALERTS_MAX_COUNTERS][32];
	struct alert_counter	 ctr[ALERTS_MAX_COUNTERS];
	struct redisReply	*rep;
	time_t			 now = time(NULL);
	size_t			 nc, j, nk, na;
	int			 pri;

	if (details == NULL)
		details = json_object_new_object();
	metrics_event(kind);
	route_name(r, route, sizeof(route));

	line = json_object_new_object();
	json_object_object_add(line, "event", json_object_new_string(kind));
	json_object_object_add(line, "severity",
	    json_object_new_string(severities[sev]));
	json_object_object_add(line, "request_id", json_object_new_string(r->id));
	json_object_object_add(line, "client_ip",
	    json_object_new_string(r->client_ip[0] ? r->client_ip : "-"));
	json_object_object_add(line, "principal",
	    r->principal ? json_object_new_string(r->principal) : NULL);
	json_object_object_add(line, "route", json_object_new_string(route));
	json_object_object_add(line, "details", json_object_get(details));
	pri = sev == SEV_CRITICAL ? LOG_CRIT :
	    sev == SEV_WARNING ? LOG_WARNING : LOG_NOTICE;
	log_line(pri, is_auth_kind(kind) ? LOG_AUTHPRIV : 0, json_text(line, NULL));
	json_object_put(line);

	/* One group per kind, severity, address, principal, route, minute. */
	(void)snprintf(minute, sizeof(minute), "%lld", (long long)(now / 60 * 60));
	(void)snprintf(field, sizeof(field), "%s\t%s\t%s\t%s\t%s", kind,
	    severities[sev], r->client_ip, r->principal ? r->principal : "",
	    route);
	(void)snprintf(key1, sizeof(key1), "aspida:ev:%s", minute);
	(void)snprintf(key2, sizeof(key2), "aspida:evs:%s", minute);
	sample = json_object_new_object();
	json_object_object_add(sample, "request_id", json_object_new_string(r->id));
	json_object_object_add(sample, "details", json_object_get(details));
	text = json_text(sample, NULL);
	if (count_sha[0] == '\0')
		crypto_sha1_hex(count_lua, count_sha);
	nc = alerts_event_counters(r, kind, ctr, ALERTS_MAX_COUNTERS);
	nk = 0;
	args[nk++] = key1;
	args[nk++] = key2;
	args[nk++] = "aspida:ev:pending";
	for (j = 0; j < nc; j++) {
		args[nk++] = ctr[j].cur;
		args[nk++] = ctr[j].prev;
		args[nk++] = ctr[j].latch;
	}
	na = nk;
	args[na++] = field;
	args[na++] = text;
	args[na++] = minute;
	args[na++] = EVENT_STR(EVENT_TTL);
	(void)snprintf(num[0], sizeof(num[0]), "%zu", nc);
	args[na++] = num[0];
	for (j = 0; j < nc; j++) {
		(void)snprintf(num[1 + 4 * j], sizeof(num[0]), "%lld",
		    ctr[j].amount);
		(void)snprintf(num[2 + 4 * j], sizeof(num[0]), "%lld",
		    ctr[j].window);
		(void)snprintf(num[3 + 4 * j], sizeof(num[0]), "%.6f",
		    ctr[j].prev_weight);
		(void)snprintf(num[4 + 4 * j], sizeof(num[0]), "%lld",
		    ctr[j].threshold);
		args[na++] = num[1 + 4 * j];
		args[na++] = num[2 + 4 * j];
		args[na++] = num[3 + 4 * j];
		args[na++] = num[4 + 4 * j];
	}
	rep = kv_script(NULL, count_lua, count_sha, (int)nk, (int)na, args,
	    NULL);
	if (rep == NULL && sev == SEV_CRITICAL)
		insert_direct(kind, severities[sev], r, route,
		    json_text(details, NULL));
	/* Counters whose latch this event took: their alerts fire. */
	for (j = 0; rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
	    j < nc && j + 1 < rep->elements; j++)
		if (rep->element[j + 1]->type == REDIS_REPLY_INTEGER &&
		    rep->element[j + 1]->integer > 0)
			alerts_counter_fired(r, &ctr[j],
			    rep->element[j + 1]->integer);
	freeReplyObject(rep);
	json_object_put(sample);
	json_object_put(details);
}

void
event_recordf(struct req *r, const char *kind, enum severity sev,
    const char *fmt, ...)
{
	struct json_object	*d;
	char			 msg[512];
	va_list			 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d = json_object_new_object();
	json_object_object_add(d, "detail", json_object_new_string(msg));
	event_record(r, kind, sev, d);
}

static char *
tab_field(char **p)
{
	char	*s = *p, *t;

	if (s == NULL)
		return NULL;
	if ((t = strchr(s, '\t')) != NULL) {
		*t = '\0';
		*p = t + 1;
	} else
		*p = NULL;
	return s;
}

/* Inserts the groups of one finished minute.  Returns 0 or -1. */
static int
flush_minute(const char *minute)
{
	const char		*argv[3];
	char			 key1[48], key2[48], stamp[32], count[24], *p;
	char			*kind, *sev, *ip, *principal, *route;
	const char		*params[9];
	struct redisReply	*all, *samples;
	struct json_object	*sample, *details;
	const char		*rid;
	size_t			 i, j;
	int			 rc = 0;

	(void)snprintf(key1, sizeof(key1), "aspida:ev:%s", minute);
	(void)snprintf(key2, sizeof(key2), "aspida:evs:%s", minute);
	argv[0] = "HGETALL";
	argv[1] = key1;
	if ((all = kv_command(NULL, 2, argv, NULL)) == NULL)
		return -1;
	argv[1] = key2;
	if ((samples = kv_command(NULL, 2, argv, NULL)) == NULL) {
		freeReplyObject(all);
		return -1;
	}
	timestamp_format(strtoll(minute, NULL, 10), stamp, sizeof(stamp));
	for (i = 0; all->type == REDIS_REPLY_ARRAY && i + 1 < all->elements &&
	    i / 2 < EVENT_FLUSH_MAX_ROWS; i += 2) {
		rid = NULL;
		sample = NULL;
		details = NULL;
		for (j = 0; samples->type == REDIS_REPLY_ARRAY &&
		    j + 1 < samples->elements; j += 2)
			if (strcmp(samples->element[j]->str,
			    all->element[i]->str) == 0) {
				sample = json_tokener_parse(samples->element[j + 1]->str);
				break;
			}
		if (sample != NULL) {
			struct json_object *v;

			if (json_object_object_get_ex(sample, "request_id", &v))
				rid = json_object_get_string(v);
			(void)json_object_object_get_ex(sample, "details", &details);
		}
		p = all->element[i]->str;
		kind = tab_field(&p);
		sev = tab_field(&p);
		ip = tab_field(&p);
		principal = tab_field(&p);
		route = p;
		(void)snprintf(count, sizeof(count), "%s", all->element[i + 1]->str);
		params[0] = stamp;
		params[1] = kind;
		params[2] = sev;
		params[3] = rid;
		params[4] = ip && *ip ? ip : NULL;
		params[5] = principal && *principal ? principal : NULL;
		params[6] = route;
		params[7] = count;
		params[8] = details ? json_text(details, NULL) : NULL;
		if (db_exec_direct(DB_EVENT_INSERT, params) == -1)
			rc = -1;
		json_object_put(sample);
		if (rc == -1)
			break;
	}
	freeReplyObject(all);
	freeReplyObject(samples);
	return rc;
}

/*
 * Flushes finished minutes, at most every event_flush_seconds per
 * worker.  SET NX makes exactly one worker (on any host) own a minute;
 * if its insert fails the claim is dropped so another may retry, and the
 * table's unique index keeps a retried row from counting twice.
 */
void
event_flush_due(void)
{
	event_flush(0);
}

/* aspidactl tick: flush now, whatever this process flushed last. */
void
event_flush_now(void)
{
	event_flush(1);
}

static void
event_flush(int force)
{
	const char		*argv[3];
	struct redisReply	*pending;
	char			 fkey[48], key1[48], key2[48];
	time_t			 now = time(NULL);
	long long		 current = (long long)(now / 60 * 60);
	size_t			 i;
	int			 won;

	if (!force && now < next_flush)
		return;
	next_flush = now + conf->event_flush_seconds;
	if (!kv_available() || !db_available())
		return;
	argv[0] = "SMEMBERS";
	argv[1] = "aspida:ev:pending";
	if ((pending = kv_command(NULL, 2, argv, NULL)) == NULL)
		return;
	for (i = 0; pending->type == REDIS_REPLY_ARRAY && i < pending->elements;
	    i++) {
		const char *m = pending->element[i]->str;

		if (strtoll(m, NULL, 10) >= current)
			continue;
		(void)snprintf(fkey, sizeof(fkey), "aspida:evf:%s", m);
		if ((won = kv_claim(fkey, EVENT_TTL)) == -1)
			break;
		if (won == 0)
			continue;
		(void)snprintf(key1, sizeof(key1), "aspida:ev:%s", m);
		(void)snprintf(key2, sizeof(key2), "aspida:evs:%s", m);
		if (flush_minute(m) == -1) {
			argv[0] = "DEL";
			argv[1] = fkey;
			freeReplyObject(kv_command(NULL, 2, argv, NULL));
			break;
		}
		argv[0] = "DEL";
		argv[1] = key1;
		argv[2] = key2;
		freeReplyObject(kv_command(NULL, 3, argv, NULL));
		argv[0] = "SREM";
		argv[1] = "aspida:ev:pending";
		argv[2] = m;
		freeReplyObject(kv_command(NULL, 3, argv, NULL));
	}
	freeReplyObject(pending);
}
