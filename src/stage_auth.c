/*
 * Stage 3, authenticate: which credentials came, and whether they hold.
 * At most one kind per request (API.md); two session cookies are refused.
 * Credentials that fail are answered 401 at once, never treated as
 * anonymous.  A Bearer token or a session cookie (an access JWT too) is
 * verified here with the algorithm pinned, then its fingerprint; its
 * revocation and the user's token generation are looked up by the rate
 * limit stage in the same Redis round trip as the limits, and checked by
 * stage_auth_finish().  A failure is held (r->pending) until then, so
 * failing requests still pass, and are counted by, the per-address
 * limits and the automatic block.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "aspida.h"

#define USER_CACHE_TTL	"60"	/* bounds a stale generation if an update is lost */

/* The value of the aspida_session cookie, or NULL; sets *count. */
static const char *
session_cookie(struct req *r, int *count)
{
	const char	*p = req_param(r, "HTTP_COOKIE"), *v = NULL, *end;
	const size_t	 nlen = strlen("aspida_session=");

	*count = 0;
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (strncmp(p, "aspida_session=", nlen) == 0) {
			(*count)++;
			v = arena_strndup(r->arena, p + nlen,
			    end ? (size_t)(end - p) - nlen : strlen(p + nlen));
		}
		p = end;
	}
	return v;
}

const char *
stage_auth_cookie(struct req *r)
{
	int	n;

	return session_cookie(r, &n);
}

/* Holds a failed credential for the rate limit stage to count. */
static enum aerr
fail(struct req *r, enum aerr e, const char *why)
{
	event_recordf(r, "auth_failure", SEV_WARNING, "%s", why);
	r->cred_failed = 1;
	return stage_defer(r, e, NULL);
}

/*
 * The user's current token generation and role: from the Redis cache
 * when there, else from PostgreSQL (then cached).  Returns 0, or -1 with
 * the request failed (unknown user: 401; database down: 503).
 */
int
stage_auth_user_state(struct req *r, long long uid, long long *gen,
    int *admin)
{
	const char		*params[1], *args[6];
	char			 id[24], key[48], genstr[24];
	PGresult		*res;
	enum aerr		 e;

	(void)snprintf(id, sizeof(id), "%lld", uid);
	params[0] = id;
	if ((e = db_query(r, DB_USER_AUTH, params, &res)) != AERR_OK) {
		req_fail(r, e, NULL);
		return -1;
	}
	if (PQntuples(res) != 1) {
		(void)fail(r, AERR_UNAUTHORIZED, "token of an unknown user");
		return -1;
	}
	*gen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*admin = strcmp(PQgetvalue(res, 0, 1), "admin") == 0;
	(void)snprintf(key, sizeof(key), "aspida:user:%lld", uid);
	(void)snprintf(genstr, sizeof(genstr), "%lld", *gen);
	args[0] = "HSET";
	args[1] = key;
	args[2] = "gen";
	args[3] = genstr;
	args[4] = "role";
	args[5] = PQgetvalue(res, 0, 1);
	(void)kv_command(r, 6, args, NULL);
	args[0] = "EXPIRE";
	args[2] = USER_CACHE_TTL;
	(void)kv_command(r, 3, args, NULL);
	return 0;
}

/*
 * Drops the cached generation and role of a user after a change, so the
 * next request reads PostgreSQL and every earlier token fails.  If Redis
 * cannot be told, the cache's short TTL bounds the staleness.
 */
void
stage_auth_forget_user(long long uid)
{
	const char	*args[2];
	char		 key[48];

	(void)snprintf(key, sizeof(key), "aspida:user:%lld", uid);
	args[0] = "DEL";
	args[1] = key;
	freeReplyObject(kv_command(NULL, 2, args, NULL));
}

/*
 * Marks a refresh family revoked for its access tokens too, until the
 * last of them would have expired (the family row in PostgreSQL is the
 * durable record; this is what the hot path checks).
 */
void
stage_auth_revoke_family(struct req *r, const char *sid)
{
	const char	*args[5];
	char		 key[48], ttl[24];

	(void)snprintf(key, sizeof(key), "aspida:revfam:%s", sid);
	(void)snprintf(ttl, sizeof(ttl), "%lld",
	    conf->access_token_ttl + conf->jwt_leeway);
	args[0] = "SET";
	args[1] = key;
	args[2] = "1";
	args[3] = "EX";
	args[4] = ttl;
	(void)kv_command(r, 5, args, NULL);
}

/*
 * Verifies an access JWT from a Bearer header or the session cookie, up
 * to what needs Redis: signature with the algorithm pinned, claims,
 * expiry, fingerprint.
 */
/*
 * Tokens this worker has verified, by the SHA-256 of the whole token: a
 * client sends the same token for up to 15 minutes, and verifying it
 * (libjwt's parse, then ours) is most of a hot read's CPU.  Only tokens
 * that verified are kept; expiry is checked again on every use, and the
 * revocation and generation checks always run.  Looked up by digest, so
 * the comparison tells an attacker nothing about a cached token.
 */
#define TOKEN_CACHE_SLOTS	256

static struct {
	unsigned char		digest[32];
	struct token_claims	claims;
	int			used;
} token_cache[TOKEN_CACHE_SLOTS];

static enum token_status
verify_cached(const char *jwt, long long now, struct token_claims *c)
{
	unsigned char		 d[32];
	size_t			 len = strnlen(jwt, 4097), slot;
	enum token_status	 st;

	if (len > 4096)
		return TOKEN_INVALID;
	crypto_sha256(jwt, len, d);
	slot = ((size_t)d[0] << 8 | d[1]) % TOKEN_CACHE_SLOTS;
	if (token_cache[slot].used &&
	    memcmp(token_cache[slot].digest, d, sizeof(d)) == 0) {
		*c = token_cache[slot].claims;
		if (now > c->exp + conf->jwt_leeway)
			return TOKEN_EXPIRED;
		return TOKEN_OK;
	}
	if ((st = token_verify_access(jwt, now, c)) == TOKEN_OK) {
		memcpy(token_cache[slot].digest, d, sizeof(d));
		token_cache[slot].claims = *c;
		token_cache[slot].used = 1;
	}
	return st;
}

static enum aerr
verify_token(struct req *r, const char *jwt)
{
	struct token_claims	 c;
	char			 fgp[65];

	switch (verify_cached(jwt, (long long)time(NULL), &c)) {
	case TOKEN_OK:
		break;
	case TOKEN_EXPIRED:
		return fail(r, AERR_TOKEN_EXPIRED, "expired access token");
	default:
		return fail(r, AERR_UNAUTHORIZED, "invalid access token");
	}
	token_fingerprint(r->user_agent, &r->client, fgp);
	if (!token_fgp_equal(fgp, c.fgp)) {
		event_recordf(r, "fingerprint_mismatch", SEV_WARNING,
		    "token of user %lld presented with another fingerprint",
		    c.sub);
		r->cred_failed = 1;
		return stage_defer(r, AERR_UNAUTHORIZED, NULL);
	}
	r->who.user_id = c.sub;
	r->who.gen = c.gen;
	r->who.sid = c.sid;
	r->who.exp = c.exp;
	r->who.pending = 1;
	memcpy(r->who.jti, c.jti, sizeof(r->who.jti));
	return AERR_OK;
}

/*
 * Finishes a token's verification with what the rate limit stage read
 * from Redis: revoked jti, and the user's generation (from PostgreSQL
 * when not cached).  gen < 0 means unknown.  Returns AERR_OK, or fails
 * the request.
 */
enum aerr
stage_auth_finish(struct req *r, int revoked, long long gen, int admin)
{
	if (!r->who.pending)
		return AERR_OK;
	r->who.pending = 0;
	if (revoked)
		return fail(r, AERR_TOKEN_REVOKED, "revoked access token");
	if (gen < 0 && stage_auth_user_state(r, r->who.user_id, &gen,
	    &admin) == -1)
		return r->err != AERR_OK ? r->err : r->pending;
	if (r->who.gen != gen)
		return fail(r, AERR_TOKEN_REVOKED,
		    "access token of an earlier generation");
	r->who.admin = admin;
	r->principal = arena_printf(r->arena, "user:%lld", r->who.user_id);
	return AERR_OK;
}

/*
 * Verifies an API key: its shape, then its hash in PostgreSQL (never the
 * key itself), expiry, revocation, and the address allow list.
 */
static enum aerr
verify_key(struct req *r, const char *key)
{
	const char		*params[1], *ips;
	struct cidr_list	 allow;
	unsigned char		 d[32];
	char			 hex[65];
	size_t			 i, len = strlen(key);
	PGresult		*res;
	enum aerr		 e;
	int			 ok;

	if (len != 3 + 43 || strncmp(key, "ak_", 3) != 0)
		return fail(r, AERR_UNAUTHORIZED, "malformed API key");
	for (i = 3; i < len; i++)
		if (!((key[i] >= 'A' && key[i] <= 'Z') ||
		    (key[i] >= 'a' && key[i] <= 'z') ||
		    (key[i] >= '0' && key[i] <= '9') || key[i] == '-' ||
		    key[i] == '_'))
			return fail(r, AERR_UNAUTHORIZED, "malformed API key");
	crypto_sha256(key, len, d);
	hex_encode(d, sizeof(d), hex);
	params[0] = hex;
	if ((e = db_query(r, DB_APIKEY_LOOKUP, params, &res)) != AERR_OK)
		return stage_defer(r, e, NULL);
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 5), "t") == 0)
		return fail(r, AERR_UNAUTHORIZED, "unknown or revoked API key");
	if (strcmp(PQgetvalue(res, 0, 4), "t") == 0)
		return fail(r, AERR_TOKEN_EXPIRED, "expired API key");
	ips = PQgetvalue(res, 0, 3);
	if (*ips != '\0') {
		memset(&allow, 0, sizeof(allow));
		ok = cidr_list_parse(ips, &allow, NULL) == 0 &&
		    cidr_list_match(&allow, &r->client);
		cidr_list_free(&allow);
		if (!ok) {
			event_recordf(r, "api_key_ip_refused", SEV_WARNING,
			    "key %s used from an address outside its allow "
			    "list", PQgetvalue(res, 0, 0));
			r->cred_failed = 1;
			return stage_defer(r, AERR_IP_NOT_ALLOWED, NULL);
		}
	}
	r->who.kind = CRED_APIKEY;
	r->who.key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	r->who.user_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	r->who.scopes = (strstr(PQgetvalue(res, 0, 2), "read") ? SCOPE_READ : 0) |
	    (strstr(PQgetvalue(res, 0, 2), "write") ? SCOPE_WRITE : 0);
	r->who.admin = strcmp(PQgetvalue(res, 0, 6), "admin") == 0;
	r->principal = arena_printf(r->arena, "user:%lld", r->who.user_id);
	return AERR_OK;
}

enum aerr
stage_auth(struct req *r)
{
	const char	*authz, *apikey, *cookie;
	int		 kinds = 0, cookies;

	if (r->route == NULL || r->route->auth == AUTH_NONE ||
	    r->route->auth == AUTH_IGNORED)
		return AERR_OK;
	if ((authz = req_param(r, "HTTP_AUTHORIZATION")) != NULL)
		kinds++;
	if ((apikey = req_param(r, "HTTP_X_API_KEY")) != NULL)
		kinds++;
	cookie = session_cookie(r, &cookies);
	if (cookies > 1)
		return stage_defer(r, AERR_INVALID_INPUT,
		    "Send at most one aspida_session cookie.");
	kinds += cookies;
	if (kinds > 1)
		return stage_defer(r, AERR_INVALID_INPUT,
		    "Send one kind of credentials, not several.");

	if (authz != NULL) {
		if (strncasecmp(authz, "Bearer ", 7) != 0 || authz[7] == '\0')
			return fail(r, AERR_UNAUTHORIZED,
			    "malformed Authorization header");
		r->who.kind = CRED_BEARER;
		return verify_token(r, authz + 7);
	}
	if (cookie != NULL) {
		r->who.kind = CRED_COOKIE;
		return verify_token(r, cookie);
	}
	if (apikey != NULL)
		return verify_key(r, apikey);
	if (r->route->auth == AUTH_REQUIRED)
		return stage_defer(r, AERR_UNAUTHORIZED, NULL);
	return AERR_OK;
}
