/*
 * PostgreSQL: one connection per worker, prepared statements only, and a
 * client-side deadline on every round trip (PQsendQueryPrepared + poll +
 * PQcancel), because a stopped or frozen server otherwise hangs a worker
 * for good.  After any failure the connection is dropped and retried with
 * a capped backoff, so a dead database costs a request one fast 503, not a
 * connect timeout each.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "aspida.h"

struct stmt {
	const char	*name;
	const char	*sql;
	int		 nparams;
};

/*
 * Prices leave the database canonical (trim_scale: no trailing zeros) and
 * timestamps as epoch seconds, formatted by us.  The page query keeps its
 * bounds in index conditions so a deep cursor costs what the first page
 * costs; the lateral join tells "unlisted" (no row) from "no points" (a
 * row of NULLs) in the same round trip.
 */
static const struct stmt stmts[DB__MAX] = {
	[DB_ASSETS_LIST] = { "assets_list",
	    "SELECT id, name, currency FROM assets ORDER BY id", 0 },
	[DB_ASSET_GET] = { "asset_get",
	    "SELECT id, name, currency FROM assets WHERE id = $1", 1 },
	[DB_PRICE_LATEST] = { "price_latest",
	    "SELECT a.id, a.currency, trim_scale(p.price)::text,"
	    " floor(extract(epoch FROM p.ts))::bigint"
	    " FROM assets a LEFT JOIN LATERAL"
	    " (SELECT price, ts FROM prices WHERE asset_id = a.id"
	    "  ORDER BY ts DESC LIMIT 1) p ON true"
	    " WHERE a.id = $1", 1 },
	[DB_PRICES_PAGE] = { "prices_page",
	    "SELECT floor(extract(epoch FROM p.ts))::bigint, trim_scale(p.price)::text"
	    " FROM assets a LEFT JOIN LATERAL"
	    " (SELECT ts, price FROM prices WHERE asset_id = a.id"
	    "  AND ts >= coalesce(to_timestamp($2::bigint), '-infinity')"
	    "  AND ts < least(coalesce(to_timestamp($3::bigint), 'infinity'),"
	    "                 coalesce(to_timestamp($4::bigint), 'infinity'))"
	    "  ORDER BY ts DESC LIMIT $5::int) p ON true"
	    " WHERE a.id = $1", 5 },
	[DB_EVENT_INSERT] = { "event_insert",
	    "INSERT INTO security_events (minute, kind, severity, request_id,"
	    " client_ip, principal, route, count, details)"
	    " VALUES ($1::timestamptz, $2, $3, $4, $5::inet, $6, $7,"
	    " coalesce($8::int, 1), $9::jsonb)"
	    " ON CONFLICT DO NOTHING", 9 },
	[DB_PING] = { "ping", "SELECT 1", 0 },

	/* Authentication.  Emails arrive canonical (route_auth.c). */
	[DB_USER_BY_EMAIL] = { "user_by_email",
	    "SELECT id, password_hash, role, token_generation FROM users"
	    " WHERE email = $1", 1 },
	[DB_USER_INSERT] = { "user_insert",
	    "INSERT INTO users (email, password_hash, full_name)"
	    " VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING"
	    " RETURNING id, email, full_name, role,"
	    " floor(extract(epoch FROM created_at))::bigint", 3 },
	[DB_USER_GET] = { "user_get",
	    "SELECT id, email, full_name, role,"
	    " floor(extract(epoch FROM created_at))::bigint, password_hash"
	    " FROM users WHERE id = $1", 1 },
	[DB_USER_AUTH] = { "user_auth",
	    "SELECT token_generation, role FROM users WHERE id = $1", 1 },
	/*
	 * The new hash, the generation bump and the revocation of every
	 * refresh family commit together: a stolen refresh token must not
	 * outlive the password change by a single refresh.
	 */
	[DB_PASSWORD_CHANGE] = { "password_change",
	    "WITH u AS (UPDATE users SET password_hash = $2,"
	    "  token_generation = token_generation + 1 WHERE id = $1"
	    "  RETURNING id, token_generation),"
	    " f AS (UPDATE refresh_families SET revoked_at = now(),"
	    "  revoked_reason = $3 WHERE user_id = (SELECT id FROM u)"
	    "  AND revoked_at IS NULL)"
	    " SELECT token_generation FROM u", 3 },
	[DB_FAMILY_CREATE] = { "family_create",
	    "INSERT INTO refresh_families (user_id, fingerprint, expires_at)"
	    " VALUES ($1, decode($2, 'hex'),"
	    " now() + make_interval(secs => $3::int)) RETURNING id", 3 },
	/*
	 * Rotation is one conditional UPDATE: of two refreshes presenting
	 * the same counter only one can match, and the other then sees a
	 * higher counter, which is reuse.
	 */
	[DB_FAMILY_ROTATE] = { "family_rotate",
	    "UPDATE refresh_families f SET rotated = f.rotated + 1"
	    " FROM users u WHERE f.id = $1 AND f.rotated = $2"
	    " AND f.fingerprint = decode($3, 'hex') AND f.revoked_at IS NULL"
	    " AND f.expires_at > now() AND u.id = f.user_id"
	    " RETURNING f.user_id, f.rotated, u.token_generation, u.role", 3 },
	[DB_FAMILY_GET] = { "family_get",
	    "SELECT user_id, rotated, revoked_at IS NOT NULL,"
	    " expires_at <= now(), encode(fingerprint, 'hex')"
	    " FROM refresh_families WHERE id = $1", 1 },
	[DB_FAMILY_REVOKE] = { "family_revoke",
	    "UPDATE refresh_families SET revoked_at = now(),"
	    " revoked_reason = $3 WHERE id = $1 AND user_id = $2"
	    " AND revoked_at IS NULL", 3 },

	/* The block list, as one comma list for cidr_list_parse. */
	[DB_BLOCKS_LIST] = { "blocks_list",
	    "SELECT string_agg(cidr::text, ','),"
	    " extract(epoch FROM min(expires_at))::bigint FROM ip_blocks"
	    " WHERE expires_at IS NULL OR expires_at > now()", 0 },
	[DB_BLOCK_INSERT] = { "block_insert",
	    "INSERT INTO ip_blocks (cidr, reason, expires_at, created_by,"
	    " automatic) VALUES ($1::cidr, $2, CASE WHEN $3::int IS NULL"
	    " THEN NULL ELSE now() + make_interval(mins => $3::int) END,"
	    " $4, $5::boolean) RETURNING id", 5 },

	/* API keys: looked up by hash, never by the key itself. */
	[DB_APIKEY_LOOKUP] = { "apikey_lookup",
	    "SELECT k.id, k.user_id, array_to_string(k.scopes, ','),"
	    " array_to_string(k.allowed_ips, ','), k.expires_at <= now(),"
	    " k.revoked_at IS NOT NULL, u.role"
	    " FROM api_keys k JOIN users u ON u.id = k.user_id"
	    " WHERE k.key_hash = decode($1, 'hex')", 1 },
	[DB_APIKEY_CREATE] = { "apikey_create",
	    "SELECT key_id, floor(extract(epoch FROM key_expires_at))::bigint"
	    " FROM api_key_create($1, $2, decode($3, 'hex'), $4,"
	    " string_to_array($5, ','), string_to_array($6, ',')::cidr[],"
	    " $7::int, 10)", 7 },
	[DB_APIKEY_LIST] = { "apikey_list",
	    "SELECT id, name, prefix, array_to_string(scopes, ','),"
	    " array_to_string(allowed_ips, ','),"
	    " floor(extract(epoch FROM created_at))::bigint,"
	    " floor(extract(epoch FROM expires_at))::bigint,"
	    " floor(extract(epoch FROM last_used_at))::bigint, use_count"
	    " FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL"
	    " ORDER BY id", 1 },
	[DB_APIKEY_REVOKE] = { "apikey_revoke",
	    "UPDATE api_keys SET revoked_at = now() WHERE id = $1"
	    " AND user_id = $2 AND revoked_at IS NULL RETURNING id", 2 },
	[DB_APIKEY_USAGE] = { "apikey_usage",
	    "UPDATE api_keys SET use_count = use_count + $2::bigint,"
	    " last_used_at = greatest(last_used_at, to_timestamp($3::bigint))"
	    " WHERE id = $1", 3 },

	/* Admin. */
	[DB_BLOCKS_ACTIVE] = { "blocks_active",
	    "SELECT id, cidr::text, reason, created_by, automatic,"
	    " floor(extract(epoch FROM created_at))::bigint,"
	    " floor(extract(epoch FROM expires_at))::bigint FROM ip_blocks"
	    " WHERE expires_at IS NULL OR expires_at > now() ORDER BY id", 0 },
	/* Ended rather than deleted: the table keeps the history. */
	[DB_BLOCK_END] = { "block_end",
	    "UPDATE ip_blocks SET expires_at = greatest(now(),"
	    " created_at + interval '1 microsecond') WHERE id = $1"
	    " AND (expires_at IS NULL OR expires_at > now()) RETURNING id", 1 },
	[DB_USER_EMAIL] = { "user_email",
	    "SELECT email FROM users WHERE id = $1", 1 },
	[DB_REVOKE_SESSIONS] = { "revoke_sessions",
	    "WITH u AS (UPDATE users SET token_generation ="
	    "  token_generation + 1 WHERE id = $1 RETURNING id),"
	    " f AS (UPDATE refresh_families SET revoked_at = now(),"
	    "  revoked_reason = 'revoke_sessions' WHERE user_id ="
	    "  (SELECT id FROM u) AND revoked_at IS NULL),"
	    " k AS (UPDATE api_keys SET revoked_at = now() WHERE user_id ="
	    "  (SELECT id FROM u) AND revoked_at IS NULL)"
	    " SELECT id FROM u", 1 },

	/* Forecasts. */
	[DB_PREDICT_POINTS] = { "predict_points",
	    "SELECT a.id, floor(extract(epoch FROM p.ts))::bigint, p.price::float8"
	    " FROM assets a LEFT JOIN LATERAL"
	    " (SELECT ts, price FROM prices WHERE asset_id = a.id"
	    "  ORDER BY ts DESC LIMIT $2::int) p ON true WHERE a.id = $1", 2 },
	[DB_FORECAST_INSERT] = { "forecast_insert",
	    "INSERT INTO forecasts (user_id, asset_id, horizon_hours, target_ts,"
	    " predicted, low, high, confidence, model, points_used,"
	    " outliers_excluded) VALUES ($1, $2, $3, to_timestamp($4::bigint),"
	    " $5, $6, $7, $8, $9, $10, $11) RETURNING id", 11 },

	/* Portfolio: values at the latest prices, rounded half-even. */
	[DB_PORTFOLIO] = { "portfolio",
	    "SELECT h.asset_id, trim_scale(h.quantity)::text,"
	    " trim_scale(round_half_even(h.cost_basis, 8))::text,"
	    " trim_scale(round_half_even(h.quantity * lp.price, 8))::text,"
	    " trim_scale(round_half_even(sum(h.quantity * lp.price) OVER (),"
	    "  8))::text"
	    " FROM holdings h LEFT JOIN LATERAL (SELECT price FROM prices"
	    "  WHERE asset_id = h.asset_id ORDER BY ts DESC LIMIT 1) lp ON true"
	    " WHERE h.user_id = $1 AND h.quantity > 0 ORDER BY h.asset_id", 1 },
	[DB_PORTFOLIO_TRADE] = { "portfolio_trade",
	    "SELECT status, response::text FROM portfolio_trade($1, $2, $3,"
	    " $4, $5, $6::numeric, $7::int, $8, decode($9, 'hex'))", 9 },
	[DB_TRADES_PAGE] = { "trades_page",
	    "SELECT id, asset_id, side, trim_scale(quantity)::text,"
	    " trim_scale(price)::text, floor(extract(epoch FROM ts))::bigint,"
	    " (extract(epoch FROM ts) * 1000000)::bigint"
	    " FROM trades WHERE user_id = $1 AND ($2::bigint IS NULL OR"
	    " (ts, id) < (timestamptz 'epoch' + $2::bigint *"
	    " interval '1 microsecond', $3::bigint))"
	    " ORDER BY ts DESC, id DESC LIMIT $4::int", 4 },

	/*
	 * Ingestion (ingest_store.c, sql/004_ingest.sql).  One round trip
	 * for everything a batch is judged against, as rows tagged by kind:
	 * 'a' a listed asset of $1 with its state (version, anchor, pending
	 * candidates), 'r' its newest $2 points since its anchor, 'e' a time
	 * already stored, of the batch's ($3, $4) pairs or of a candidate.
	 */
	[DB_INGEST_LOAD] = { "ingest_load",
	    "WITH a AS (SELECT x.id::text AS id, coalesce(s.version, 0) AS v,"
	    "  s.anchor_ts, coalesce(s.candidates, '[]'::jsonb) AS cand"
	    "  FROM assets x LEFT JOIN ingest_state s ON s.asset_id = x.id"
	    "  WHERE x.id = ANY ($1::text[]))"
	    " SELECT 'a'::text, a.id, a.v,"
	    "  coalesce(floor(extract(epoch FROM a.anchor_ts))::bigint, 0),"
	    "  a.cand::text FROM a"
	    " UNION ALL SELECT 'r', a.id, floor(extract(epoch FROM p.ts))::bigint, 0,"
	    "  p.price::float8::text FROM a CROSS JOIN LATERAL"
	    "  (SELECT ts, price FROM prices WHERE asset_id = a.id"
	    "   AND ts >= coalesce(a.anchor_ts, '-infinity')"
	    "   ORDER BY ts DESC LIMIT $2::int) p"
	    " UNION ALL SELECT 'e', b.id, b.t, 0, NULL"
	    "  FROM unnest($3::text[], $4::bigint[]) AS b(id, t)"
	    "  WHERE EXISTS (SELECT 1 FROM prices p WHERE p.asset_id = b.id"
	    "   AND p.ts = to_timestamp(b.t))"
	    " UNION ALL SELECT 'e', a.id, c.t, 0, NULL"
	    "  FROM a CROSS JOIN LATERAL (SELECT CASE WHEN e->>'ts' ~"
	    "   '^[0-9]{1,15}$' THEN (e->>'ts')::bigint END AS t"
	    "   FROM jsonb_array_elements(a.cand) e) c"
	    "  WHERE c.t IS NOT NULL AND EXISTS (SELECT 1 FROM prices p"
	    "   WHERE p.asset_id = a.id AND p.ts = to_timestamp(c.t))", 4 },
	[DB_INGEST_COMMIT] = { "ingest_commit",
	    "SELECT status, inserted FROM ingest_commit($1, $2::jsonb,"
	    " $3::jsonb)", 3 },

	/*
	 * aspidactl tick: a forecast whose horizon has passed is scored
	 * against the first price at or after its target (relative error).
	 */
	[DB_FORECASTS_SCORE] = { "forecasts_score",
	    "UPDATE forecasts f SET actual = s.price,"
	    " error = abs(s.price - f.predicted) / s.price, scored_at = now()"
	    " FROM (SELECT d.id, (SELECT price FROM prices"
	    "  WHERE asset_id = d.asset_id AND ts >= d.target_ts"
	    "  ORDER BY ts LIMIT 1) AS price FROM forecasts d"
	    "  WHERE d.scored_at IS NULL AND d.target_ts <= now()) s"
	    " WHERE f.id = s.id AND s.price IS NOT NULL"
	    " RETURNING f.id, f.asset_id, f.error::text", 0 },

	/*
	 * Alerts (alerts.c): details carries window_start, on which
	 * 005_alerts.sql puts a unique index, so a window's alert is stored
	 * once even when Redis (the usual latch) is down.
	 */
	[DB_ALERT_INSERT] = { "alert_insert",
	    "INSERT INTO alerts (kind, severity, subject, value, threshold,"
	    " window_seconds, details) VALUES ($1, $2, $3, $4::numeric,"
	    " $5::numeric, $6::int, $7::jsonb) ON CONFLICT DO NOTHING"
	    " RETURNING id", 7 },
	[DB_ALERTS_LIST] = { "alerts_list",
	    "SELECT id, floor(extract(epoch FROM ts))::bigint, kind, severity,"
	    " subject, value::text, threshold::text, window_seconds, details"
	    " FROM alerts WHERE ts >= coalesce(to_timestamp($1::bigint),"
	    " '-infinity') ORDER BY ts DESC, id DESC LIMIT $2::int", 2 },
	[DB_EVENTS_LIST] = { "events_list",
	    "SELECT id, floor(extract(epoch FROM ts))::bigint,"
	    " floor(extract(epoch FROM minute))::bigint, kind, severity,"
	    " request_id, host(client_ip), principal, route, count, details"
	    " FROM security_events WHERE ($1::text IS NULL OR kind = $1)"
	    " AND ts >= coalesce(to_timestamp($2::bigint), '-infinity')"
	    " ORDER BY ts DESC, id DESC LIMIT $3::int", 3 },
	[DB_ALERTS_PENDING] = { "alerts_pending",
	    "SELECT a.id, floor(extract(epoch FROM a.ts))::bigint, a.kind,"
	    " a.severity, a.subject, a.value::text, a.threshold::text,"
	    " a.window_seconds, a.details FROM alerts a WHERE a.ts > now() -"
	    " interval '1 day' AND NOT EXISTS (SELECT 1 FROM"
	    " alert_notifications n WHERE n.alert_id = a.id)"
	    " ORDER BY a.id LIMIT 100", 0 },
	[DB_ALERT_CLAIM] = { "alert_claim",
	    "INSERT INTO alert_notifications (alert_id, claimed_by)"
	    " VALUES ($1::bigint, $2) ON CONFLICT DO NOTHING"
	    " RETURNING alert_id", 2 },
};

static PGconn		*pg;
static long long	 retry_at_ms;	/* monotonic ms before which we fail fast */
static long long	 backoff_ms;
static int		 down_reported;

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *
cancel_thread(void *arg)
{
	PGcancel	*cancel = arg;
	char		 errbuf[256];

	(void)PQcancel(cancel, errbuf, sizeof(errbuf));
	PQfreeCancel(cancel);
	return NULL;
}

/*
 * Asks the server to cancel the running query without waiting for it:
 * PQcancel connects and waits for the server to hang up, retrying on
 * EINTR, so against a frozen server it never returns.  It runs in a
 * detached thread; the worker drops the connection and moves on, and the
 * thread ends when the server wakes.  statement_timeout and
 * client_connection_check_interval on the runtime role are the server's
 * half of the same deadline.
 */
static void
cancel_async(PGconn *c)
{
	PGcancel	*cancel;
	pthread_attr_t	 attr;
	pthread_t	 t;

	if ((cancel = PQgetCancel(c)) == NULL)
		return;
	if (pthread_attr_init(&attr) != 0) {
		PQfreeCancel(cancel);
		return;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, cancel_thread, cancel) != 0)
		PQfreeCancel(cancel);
	(void)pthread_attr_destroy(&attr);
}

static void
db_fail(const char *reason)
{
	char	why[256];

	/* reason may be libpq's message, freed with the connection below. */
	metrics_count(METRIC_DEPENDENCY_ERRORS);
	(void)strlcpy(why, reason, sizeof(why));
	why[strcspn(why, "\n")] = '\0';
	if (pg != NULL)
		PQfinish(pg);
	pg = NULL;
	backoff_ms = backoff_ms == 0 ? 100 : backoff_ms * 2;
	if (backoff_ms > conf->db_retry_max_ms)
		backoff_ms = conf->db_retry_max_ms;
	retry_at_ms = now_ms() + backoff_ms;
	if (!down_reported) {
		down_reported = 1;
		log_crit("postgresql unavailable: %s", why);
	}
}

/* Waits until the socket is ready or the deadline passes. Returns 0/-1. */
static int
wait_socket(PGconn *c, int events, long long deadline)
{
	struct pollfd	pfd;
	long long	left;
	int		rc;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		pfd.fd = PQsocket(c);
		pfd.events = (short)events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -1;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Sends nothing itself: flushes what libpq queued and collects the
 * result of one command before the deadline.  Returns the first result
 * (the caller clears it), or NULL on timeout or a broken connection.
 */
static PGresult *
collect(long long deadline, int *timed_out)
{
	PGresult	*res = NULL, *r;
	int		 f;

	*timed_out = 0;
	while ((f = PQflush(pg)) == 1)
		if (wait_socket(pg, POLLIN | POLLOUT, deadline) == -1) {
			*timed_out = 1;
			return NULL;
		}
	if (f == -1)
		return NULL;
	for (;;) {
		while (PQisBusy(pg)) {
			if (wait_socket(pg, POLLIN, deadline) == -1) {
				*timed_out = 1;
				PQclear(res);
				return NULL;
			}
			if (!PQconsumeInput(pg)) {
				PQclear(res);
				return NULL;
			}
		}
		if ((r = PQgetResult(pg)) == NULL)
			break;
		if (res == NULL)
			res = r;
		else
			PQclear(r);
	}
	return res;
}

static int
prepare_all(long long deadline)
{
	PGresult	*res;
	int		 i, timed_out, ok;

	for (i = 0; i < DB__MAX; i++) {
		if (stmts[i].name == NULL)
			fatalx("db: statement %d has no SQL", i);
		if (!PQsendPrepare(pg, stmts[i].name, stmts[i].sql,
		    stmts[i].nparams, NULL)) {
			log_warnx("prepare %s: %s", stmts[i].name,
			    PQerrorMessage(pg));
			return -1;
		}
		res = collect(deadline, &timed_out);
		ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok)
			log_warnx("prepare %s: %s", stmts[i].name, res != NULL ?
			    PQresultErrorMessage(res) : timed_out ?
			    "timed out" : PQerrorMessage(pg));
		PQclear(res);
		if (!ok)
			return -1;
	}
	return 0;
}

/* Connects (asynchronously, under the connect deadline) and prepares. */
static int
db_connect(void)
{
	PostgresPollingStatusType	st = PGRES_POLLING_WRITING;
	long long			deadline;

	deadline = now_ms() + conf->db_connect_timeout_ms;
	if ((pg = PQconnectStart(conf->db_conninfo)) == NULL) {
		db_fail("out of memory");
		return -1;
	}
	if (PQstatus(pg) == CONNECTION_BAD) {
		db_fail(PQerrorMessage(pg));
		return -1;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			db_fail(PQerrorMessage(pg));
			return -1;
		}
		if (wait_socket(pg, st == PGRES_POLLING_READING ? POLLIN :
		    POLLOUT, deadline) == -1) {
			db_fail("connect timed out");
			return -1;
		}
		st = PQconnectPoll(pg);
	}
	if (PQsetnonblocking(pg, 1) != 0 || prepare_all(deadline) == -1) {
		db_fail("cannot prepare statements");
		return -1;
	}
	backoff_ms = 0;
	if (down_reported) {
		down_reported = 0;
		log_info("postgresql available again");
	}
	return 0;
}

int
db_init(void)
{
	return db_connect();
}

void
db_close(void)
{
	if (pg != NULL)
		PQfinish(pg);
	pg = NULL;
}

/* Whether a query may be tried now (connected, or backoff has passed). */
int
db_available(void)
{
	if (pg != NULL && PQstatus(pg) == CONNECTION_OK)
		return 1;
	if (pg != NULL)
		db_fail("connection lost");
	if (now_ms() < retry_at_ms)
		return 0;
	return db_connect() == 0;
}

static void
result_clear(void *p)
{
	PQclear(p);
}

/*
 * Runs one prepared statement under the query deadline.  Returns the
 * result through *out (released with the request when r is not NULL;
 * else the caller clears it) and AERR_OK, AERR_UNAVAILABLE when the
 * database cannot answer in time, or AERR_INTERNAL for a query error
 * (logged under the request id, never shown).
 */
static enum aerr
run(struct req *r, enum db_stmt s, const char *const *params, PGresult **out)
{
	PGresult	*res;
	const char	*state;
	int		 timed_out;

	*out = NULL;
	if (!db_available()) {
		breaker_failure();
		return AERR_UNAVAILABLE;
	}
	if (!PQsendQueryPrepared(pg, stmts[s].name, stmts[s].nparams, params,
	    NULL, NULL, 0)) {
		db_fail(PQerrorMessage(pg));
		return AERR_UNAVAILABLE;
	}
	res = collect(now_ms() + conf->db_query_timeout_ms, &timed_out);
	if (res == NULL) {
		if (timed_out)
			cancel_async(pg);
		db_fail(timed_out ? "query deadline passed" : "connection lost");
		breaker_failure();
		return AERR_UNAVAILABLE;
	}
	if (r != NULL)
		arena_defer(r->arena, result_clear, res);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		*out = res;
		breaker_success();
		return AERR_OK;
	default:
		break;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	log_warnx("%s: %s: %s", r ? r->id : "-", stmts[s].name,
	    PQresultErrorMessage(res));
	if (r == NULL)
		PQclear(res);
	if (PQstatus(pg) != CONNECTION_OK) {
		db_fail("connection lost");
		return AERR_UNAVAILABLE;
	}
	/* 57014: statement_timeout, the server half of the deadline. */
	if (state != NULL && strcmp(state, "57014") == 0)
		return AERR_UNAVAILABLE;
	return AERR_INTERNAL;
}

enum aerr
db_query(struct req *r, enum db_stmt s, const char *const *params,
    PGresult **out)
{
	return run(r, s, params, out);
}

/* For work outside a request (event flushes).  Returns 0 or -1. */
int
db_exec_direct(enum db_stmt s, const char *const *params)
{
	PGresult	*res;

	if (run(NULL, s, params, &res) != AERR_OK)
		return -1;
	PQclear(res);
	return 0;
}
