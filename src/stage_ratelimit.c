/*
 * Stage 4, rate limit: every /api/v1 request passes the per-address
 * pre-authentication limit, and every request of a limited route its
 * class limit, keyed by the user (an API key counts as its owner) or else
 * the client's address (IPv6 by its /64).  One Redis script does it all,
 * together with the revocation and generation lookups of the access
 * token, so the hot path costs one round trip.  Only then are the errors
 * that earlier stages held answered: a request for an unknown path or
 * with bad credentials is still limited, and counted toward the
 * address's automatic block.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aspida.h"

static void
add_limit(struct rl_check *c, enum rate_class cls, const char *who)
{
	size_t	i = c->n++;

	c->cls[i] = cls;
	c->per_minute[i] = conf->rate_per_minute[cls];
	c->burst[i] = conf->rate_burst[cls];
	(void)snprintf(c->key[i], sizeof(c->key[i]), "aspida:rl:%d:%s",
	    (int)cls, who);
}

/* The headers show the limit with the least remaining (API.md). */
static void
limit_headers(struct req *r, const struct rl_check *c, size_t pick)
{
	r->rl_remaining = c->remaining[pick];
	req_header_set(r, "RateLimit-Limit",
	    arena_printf(r->arena, "%lld", c->per_minute[pick]));
	req_header_set(r, "RateLimit-Remaining",
	    arena_printf(r->arena, "%lld", c->remaining[pick]));
	req_header_set(r, "RateLimit-Reset",
	    arena_printf(r->arena, "%lld", (c->reset_ms[pick] + 999) / 1000));
}

static size_t
least_remaining(const struct rl_check *c)
{
	size_t	i, pick = 0;

	for (i = 1; i < c->n; i++)
		if (c->remaining[i] < c->remaining[pick] ||
		    (c->remaining[i] == c->remaining[pick] &&
		    c->reset_ms[i] > c->reset_ms[pick]))
			pick = i;
	return pick;
}

enum aerr
stage_ratelimit(struct req *r)
{
	struct rl_check	 c;
	enum rate_class	 cls = r->route ? r->route->rate : RATE_NONE;
	char		 addr[64], who[96], kjti[64], kuser[48], kprice[48];
	char		 kfam[48];
	size_t		 i, pick;
	int		 api = strncmp(r->path, "/api/v1/", 8) == 0, denied = -1;
	enum aerr	 e;

	if (!api && cls == RATE_NONE)
		goto held;
	memset(&c, 0, sizeof(c));
	ratelimit_addr_key(&r->client, addr, sizeof(addr));
	if (api) {
		(void)snprintf(who, sizeof(who), "ip:%s", addr);
		add_limit(&c, RATE_PREAUTH, who);
	}
	if (cls != RATE_NONE) {
		/* auth: per address always (API.md). */
		if (cls == RATE_AUTH || r->who.user_id == 0 || r->cred_failed)
			(void)snprintf(who, sizeof(who), "ip:%s", addr);
		else
			(void)snprintf(who, sizeof(who), "user:%lld",
			    r->who.user_id);
		add_limit(&c, cls, who);
	}
	(void)snprintf(c.viol_key, sizeof(c.viol_key), "aspida:viol:%s", addr);
	if (r->route != NULL && r->route->handler == route_price &&
	    conf->price_cache_seconds > 0 && r->params[0].s != NULL &&
	    asset_id_valid(r->params[0].s, r->params[0].len)) {
		(void)snprintf(kprice, sizeof(kprice), "aspida:price:%s",
		    r->params[0].s);
		c.price_key = kprice;
	}
	if (r->route != NULL && r->route->quota) {
		(void)snprintf(r->quota_key, sizeof(r->quota_key),
		    "aspida:quota:%lld:%s", (long long)(time(NULL) / 86400),
		    r->who.user_id > 0 && !r->cred_failed ?
		    arena_printf(r->arena, "user:%lld", r->who.user_id) :
		    arena_printf(r->arena, "ip:%s", addr));
		c.quota_key = r->quota_key;
	}
	if (r->who.pending) {
		(void)snprintf(kjti, sizeof(kjti), "aspida:revoked:%s",
		    r->who.jti);
		(void)snprintf(kuser, sizeof(kuser), "aspida:user:%lld",
		    r->who.user_id);
		(void)snprintf(kfam, sizeof(kfam), "aspida:revfam:%lld",
		    r->who.sid);
		c.revoked_key = kjti;
		c.user_key = kuser;
		c.family_key = kfam;
	}

	if (ratelimit_check(r, &c) == -1) {
		/*
		 * Redis is down.  Closed: credentials (whose revocation
		 * cannot be checked) and the auth routes answer 503;
		 * everything else runs under per-worker limits.
		 */
		if (!conf->redis_failure_open &&
		    (r->who.kind != CRED_NONE || r->cred_failed ||
		    cls == RATE_AUTH))
			return req_fail(r, AERR_UNAVAILABLE, NULL);
		ratelimit_local(&c);
	}

	for (i = 0; i < c.n; i++)
		if (!c.allowed[i] && denied < 0)
			denied = (int)i;
	pick = denied >= 0 ? (size_t)denied : least_remaining(&c);
	if (cls != RATE_NONE || denied >= 0)
		limit_headers(r, &c, pick);
	if (denied >= 0 && r->route != NULL && r->route->lockable &&
	    r->pending == AERR_OK) {
		/* 423 wins over 429: the handler looks at the lock first. */
		r->rate_denied = (c.retry_ms[pick] + 999) / 1000;
		if (r->rate_denied < 1)
			r->rate_denied = 1;
		blocklist_note_violation(r, c.violations);
		denied = -1;
	}
	if (denied >= 0) {
		r->retry_after = (c.retry_ms[pick] + 999) / 1000;
		if (r->retry_after < 1)
			r->retry_after = 1;
		event_recordf(r, "rate_limited", SEV_WARNING,
		    "class %d limit reached%s", (int)c.cls[pick],
		    c.local ? " (local limits: Redis is down)" : "");
		blocklist_note_violation(r, c.violations);
		r->quota_key[0] = '\0';
		return req_fail(r, AERR_RATE_LIMITED, NULL);
	}

	if (r->who.pending && r->pending == AERR_OK &&
	    (e = stage_auth_finish(r, c.revoked, c.gen, c.admin)) != AERR_OK)
		return e;
	r->cached_price = c.local ? NULL : c.price;
	if (c.quota_key != NULL && r->pending == AERR_OK &&
	    c.quota_used >= (r->principal ? conf->quota_daily_bytes :
	    conf->quota_anonymous_daily_bytes)) {
		/* Spent until UTC midnight. */
		r->retry_after = 86400 - (long long)(time(NULL) % 86400);
		r->quota_key[0] = '\0';
		event_recordf(r, "quota_exceeded", SEV_WARNING,
		    "daily download quota spent");
		return req_fail(r, AERR_QUOTA_EXCEEDED, NULL);
	}
held:
	if (r->cred_failed)
		blocklist_note_failed_credential(r);
	if (r->pending != AERR_OK)
		return req_fail(r, r->pending, r->pending_message);
	return AERR_OK;
}

/*
 * The auth class's second key for login and password change: the
 * account (API.md), so guesses spread over many addresses still meet one
 * limit.  Runs in the handler, once the email is known.  The headers
 * then show whichever limit has less left.
 */
enum aerr
stage_ratelimit_account(struct req *r, const char *email)
{
	struct rl_check	 c;
	unsigned char	 d[32];
	char		 hex[65], who[96];

	memset(&c, 0, sizeof(c));
	crypto_sha256(email, strlen(email), d);
	hex_encode(d, sizeof(d), hex);
	(void)snprintf(who, sizeof(who), "acct:%s", hex);
	add_limit(&c, RATE_AUTH, who);
	ratelimit_addr_key(&r->client, hex, sizeof(hex));
	(void)snprintf(c.viol_key, sizeof(c.viol_key), "aspida:viol:%s", hex);
	if (ratelimit_check(r, &c) == -1) {
		if (!conf->redis_failure_open)
			return req_fail(r, AERR_UNAVAILABLE, NULL);
		ratelimit_local(&c);
	}
	if (!c.allowed[0] || c.remaining[0] < r->rl_remaining)
		limit_headers(r, &c, 0);
	if (!c.allowed[0]) {
		r->retry_after = (c.retry_ms[0] + 999) / 1000;
		if (r->retry_after < 1)
			r->retry_after = 1;
		event_recordf(r, "rate_limited", SEV_WARNING,
		    "per-account auth limit reached");
		blocklist_note_violation(r, c.violations);
		return req_fail(r, AERR_RATE_LIMITED, NULL);
	}
	return AERR_OK;
}

static const char charge_lua[] =
    "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "redis.call('EXPIREAT', KEYS[1], ARGV[2])\n"
    "return 1\n";
static char charge_sha[41];

/*
 * Charges the response's bytes to the daily download quota, once they
 * are known (one round trip).  The counter lives until an hour past its UTC day.
 */
void
stage_ratelimit_charge(struct req *r)
{
	const char	*argv[3];
	char		 n[24], at[24];

	if (r->quota_key[0] == '\0' || r->status >= 400 || r->out.len == 0)
		return;
	(void)snprintf(n, sizeof(n), "%zu", r->out.len);
	(void)snprintf(at, sizeof(at), "%lld",
	    ((long long)time(NULL) / 86400 + 1) * 86400 + 3600);
	argv[0] = r->quota_key;
	argv[1] = n;
	argv[2] = at;
	if (charge_sha[0] == '\0')
		crypto_sha1_hex(charge_lua, charge_sha);
	(void)kv_script(r, charge_lua, charge_sha, 1, 3, argv, NULL);
}
