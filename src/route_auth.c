/*
 * Everything under /api/v1/auth: registration, login (bearer tokens or a
 * browser session), refresh with rotation and reuse detection, logout,
 * the current user, and password change.  Threats answered here: brute
 * force (lockout, and a gate on every bcrypt), stolen tokens (short
 * access tokens, fingerprints, revocation, refresh reuse), session
 * hijacking, and user enumeration (the same answer in the same time).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <crypt.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

#define REFRESH_TOKEN_MAX	256

/*
 * Canonical email (API.md): trimmed and ASCII-lower-cased, one '@' with
 * something on each side, no spaces, controls or angle brackets.
 * Returns 0 with it in out, or -1 when it cannot be an address.
 */
int
email_canonicalize(const char *s, char *out, size_t outsize)
{
	size_t	len, i, at = 0, nat = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len < 3 || len > 254 || len >= outsize)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
			return -1;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		if (c == '@') {
			at = i;
			nat++;
		}
	}
	out[len] = '\0';
	if (nat != 1 || at == 0 || at == len - 1 || at > 64)
		return -1;
	return 0;
}

const char *
email_canonical(struct req *r, const char *s)
{
	char	*e = arena_alloc(r->arena, 256);

	return email_canonicalize(s, e, 256) == 0 ? e : NULL;
}

static const char *
gate_name(void)
{
	static char	name[96];
	char		host[64];
	size_t		i;

	/* Per host (API.md: login_max_inflight per host); gate names are
	 * [a-z0-9_-]. */
	if (name[0] == '\0') {
		if (gethostname(host, sizeof(host)) == -1)
			(void)strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		for (i = 0; host[i] != '\0'; i++) {
			if (host[i] >= 'A' && host[i] <= 'Z')
				host[i] = (char)(host[i] - 'A' + 'a');
			else if (!((host[i] >= 'a' && host[i] <= 'z') ||
			    (host[i] >= '0' && host[i] <= '9') || host[i] == '_'))
				host[i] = '-';
		}
		(void)snprintf(name, sizeof(name), "hash-%s", host);
	}
	return name;
}

/*
 * Enters the per-host password-hashing gate: bcrypt costs about 250 ms
 * of CPU, so a login flood must queue here, not take the machine.
 */
static enum aerr
hash_gate_enter(struct req *r, char *slot)
{
	switch (gate_enter(gate_name(), conf->login_max_inflight,
	    conf->gate_slot_ttl, slot)) {
	case 1:
		return AERR_OK;
	case 0:
		r->retry_after = 1;
		return req_fail(r, AERR_BUSY, NULL);
	default:
		/*
		 * Redis is down.  open: serve, bounded per worker (one
		 * request at a time each); closed: refuse (DESIGN.md).
		 */
		if (conf->redis_failure_open) {
			slot[0] = '\0';
			return AERR_OK;
		}
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	}
}

/*
 * A new password (registration, change): judged for strength, then hashed
 * through the per-host gate into hash (CRYPT_OUTPUT_SIZE bytes).
 * Returns AERR_OK, or fails the request (weak_password, busy, 500).
 */
static enum aerr
new_password_hash(struct req *r, const struct value *pw, const char *email,
    char *hash)
{
	const char	*advice;
	char		 slot[33];
	enum aerr	 e;
	int		 rc;

	rc = password_check_strength(pw->s, pw->len, email, &advice);
	if (rc == -1)
		return req_fail(r, AERR_WEAK_PASSWORD, advice);
	if (rc != 0)
		return req_fail(r, AERR_INTERNAL, NULL);
	if ((e = hash_gate_enter(r, slot)) != AERR_OK)
		return e;
	rc = password_hash(pw->s, pw->len, hash, CRYPT_OUTPUT_SIZE);
	gate_leave(gate_name(), slot);
	if (rc == -1)
		return req_fail(r, AERR_INTERNAL, NULL);
	return AERR_OK;
}

static struct json_object *
user_json(PGresult *res)
{
	struct json_object	*o = json_object_new_object();
	char			 ts[32];

	timestamp_format(strtoll(PQgetvalue(res, 0, 4), NULL, 10), ts,
	    sizeof(ts));
	json_object_object_add(o, "id",
	    json_object_new_int64(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	json_object_object_add(o, "email",
	    json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(o, "full_name",
	    json_object_new_string(PQgetvalue(res, 0, 2)));
	json_object_object_add(o, "role",
	    json_object_new_string(PQgetvalue(res, 0, 3)));
	json_object_object_add(o, "created_at", json_object_new_string(ts));
	return o;
}

enum aerr
route_register(struct req *r)
{
	const struct value	*pw = req_body(r, "password");
	const char		*email, *params[3];
	char			 hash[CRYPT_OUTPUT_SIZE];
	PGresult		*res;
	enum aerr		 e;

	if ((email = email_canonical(r, req_body(r, "email")->s)) == NULL)
		return req_fail(r, AERR_INVALID_INPUT,
		    "The email address is not valid.");
	/* Hash before looking: a taken email costs the same time. */
	if ((e = new_password_hash(r, pw, email, hash)) != AERR_OK)
		return e;
	params[0] = email;
	params[1] = hash;
	params[2] = req_body(r, "full_name")->s;
	e = db_query(r, DB_USER_INSERT, params, &res);
	explicit_bzero(hash, sizeof(hash));
	if (e != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_EMAIL_TAKEN, NULL);
	event_recordf(r, "registration", SEV_INFO, "user %s registered",
	    PQgetvalue(res, 0, 0));
	return json_respond(r, 201, user_json(res));
}

/* Creates a refresh family for a login.  Returns its id, or -1. */
static long long
family_create(struct req *r, long long uid, const char *fgp)
{
	const char	*params[3];
	char		 id[24], ttl[24];
	PGresult	*res;
	enum aerr	 e;

	(void)snprintf(id, sizeof(id), "%lld", uid);
	(void)snprintf(ttl, sizeof(ttl), "%lld", conf->refresh_token_ttl);
	params[0] = id;
	params[1] = fgp;
	params[2] = ttl;
	if ((e = db_query(r, DB_FAMILY_CREATE, params, &res)) != AERR_OK) {
		req_fail(r, e, NULL);
		return -1;
	}
	return strtoll(PQgetvalue(res, 0, 0), NULL, 10);
}

static void
free_string(void *p)
{
	size_t	n = strlen(p);

	explicit_bzero(p, n);
	free(p);
}

/*
 * Mints a token pair (or, for a browser, the session cookie and its CSRF
 * token) for user uid in family sid, refresh counter `counter`.
 */
static enum aerr
issue_tokens(struct req *r, long long uid, long long gen, long long sid,
    long long counter, const char *fgp, int cookie)
{
	struct token_claims	 c;
	struct json_object	*o;
	char			*access, *refresh, csrf[65];

	memset(&c, 0, sizeof(c));
	c.sub = uid;
	c.sid = sid;
	c.gen = gen;
	(void)strlcpy(c.fgp, fgp, sizeof(c.fgp));
	if ((access = token_mint_access(&c, (long long)time(NULL))) == NULL)
		return req_fail(r, AERR_INTERNAL, NULL);
	arena_defer(r->arena, free_string, access);
	o = json_object_new_object();
	if (cookie) {
		if (token_csrf(c.jti, csrf) == -1) {
			json_object_put(o);
			return req_fail(r, AERR_INTERNAL, NULL);
		}
		req_header(r, "Set-Cookie", arena_printf(r->arena,
		    "aspida_session=%s; Path=/; Max-Age=%lld; HttpOnly; "
		    "Secure; SameSite=Strict", access, conf->access_token_ttl));
		json_object_object_add(o, "csrf_token",
		    json_object_new_string(csrf));
	} else {
		if ((refresh = token_mint_refresh(sid, counter)) == NULL) {
			json_object_put(o);
			return req_fail(r, AERR_INTERNAL, NULL);
		}
		arena_defer(r->arena, free_string, refresh);
		json_object_object_add(o, "access_token",
		    json_object_new_string(access));
		json_object_object_add(o, "refresh_token",
		    json_object_new_string(refresh));
		json_object_object_add(o, "token_type",
		    json_object_new_string("bearer"));
	}
	json_object_object_add(o, "expires_in",
	    json_object_new_int64(conf->access_token_ttl));
	return json_respond(r, 200, o);
}

static enum aerr
locked(struct req *r, long long seconds)
{
	r->retry_after = seconds;
	return req_fail(r, AERR_ACCOUNT_LOCKED, NULL);
}

/*
 * Verifies a password for an account, through the lock and the gate.
 * stored may be NULL (unknown email): the work is the same.  Returns
 * AERR_OK on a match, else the error to answer with (failures counted).
 */
static enum aerr
check_password(struct req *r, const char *email, const struct value *pw,
    const char *stored)
{
	long long	 lock;
	char		 slot[33];
	enum aerr	 e;
	int		 ok;

	/* 423 wins over 429 (API.md): the lock is looked at first. */
	if ((lock = lockout_check(r, email)) < 0) {
		/* Redis is down: only the open policy serves without locks. */
		if (!conf->redis_failure_open)
			return req_fail(r, AERR_UNAVAILABLE, NULL);
		lock = 0;
	}
	if (lock > 0)
		return locked(r, lock);
	if (r->rate_denied > 0) {
		r->retry_after = r->rate_denied;
		event_recordf(r, "rate_limited", SEV_WARNING,
		    "per-address auth limit reached");
		return req_fail(r, AERR_RATE_LIMITED, NULL);
	}
	if ((e = stage_ratelimit_account(r, email)) != AERR_OK)
		return e;
	if ((e = hash_gate_enter(r, slot)) != AERR_OK)
		return e;
	ok = password_verify(pw->s, pw->len, stored);
	gate_leave(gate_name(), slot);
	if (ok == 1) {
		lockout_success(r, email);
		return AERR_OK;
	}
	if (ok < 0)
		return req_fail(r, AERR_INTERNAL, NULL);
	if ((lock = lockout_fail(r, email)) < 0 && !conf->redis_failure_open)
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	event_recordf(r, "login_failure", SEV_WARNING, "wrong email or password");
	blocklist_note_failed_credential(r);
	if (lock > 0)
		event_recordf(r, "account_locked", SEV_WARNING,
		    "account locked for %lld seconds", lock);
	/* The failure that locks still answers 401 (API.md). */
	return req_fail(r, AERR_INVALID_CREDENTIALS, NULL);
}

enum aerr
route_login(struct req *r)
{
	const struct value	*mode = req_query(r, "session");
	const char		*email, *params[1], *stored = NULL;
	char			 fgp[65];
	long long		 uid = 0, gen = 0, sid;
	PGresult		*res;
	enum aerr		 e;
	int			 cookie = 0;

	if (mode != NULL) {
		if (strcmp(mode->s, "cookie") != 0)
			return req_fail(r, AERR_INVALID_INPUT,
			    "session must be \"cookie\" when given.");
		cookie = 1;
	}
	if ((email = email_canonical(r, req_body(r, "email")->s)) == NULL)
		return req_fail(r, AERR_INVALID_INPUT,
		    "The email address is not valid.");
	params[0] = email;
	if ((e = db_query(r, DB_USER_BY_EMAIL, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) == 1) {
		uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		stored = PQgetvalue(res, 0, 1);
		gen = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	}
	if ((e = check_password(r, email, req_body(r, "password"), stored)) !=
	    AERR_OK)
		return e;

	token_fingerprint(r->user_agent, &r->client, fgp);
	if ((sid = family_create(r, uid, fgp)) < 0)
		return r->err;
	r->principal = arena_printf(r->arena, "user:%lld", uid);
	event_recordf(r, "login_success", SEV_INFO, "%s",
	    cookie ? "browser session" : "token pair");
	return issue_tokens(r, uid, gen, sid, 0, fgp, cookie);
}

/*
 * Explains why a rotation matched no family, from the family's row.
 * A genuine token whose counter is behind the family's was used before:
 * someone else holds the family, so all of it is revoked (API.md).
 */
static enum aerr
refresh_refused(struct req *r, const char *famid, long long counter,
    const char *fgp)
{
	const char	*params[3];
	PGresult	*fam, *res;
	enum aerr	 e;

	params[0] = famid;
	if ((e = db_query(r, DB_FAMILY_GET, params, &fam)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(fam) != 1) {
		event_recordf(r, "auth_failure", SEV_WARNING,
		    "refresh token of an unknown family");
		blocklist_note_failed_credential(r);
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	}
	if (strcmp(PQgetvalue(fam, 0, 2), "t") == 0)
		return req_fail(r, AERR_TOKEN_REVOKED, NULL);
	if (strcmp(PQgetvalue(fam, 0, 3), "t") == 0)
		return req_fail(r, AERR_TOKEN_EXPIRED, NULL);
	if (strtoll(PQgetvalue(fam, 0, 1), NULL, 10) > counter) {
		params[0] = famid;
		params[1] = PQgetvalue(fam, 0, 0);
		params[2] = "reuse";
		if ((e = db_query(r, DB_FAMILY_REVOKE, params, &res)) != AERR_OK)
			return req_fail(r, e, NULL);
		r->principal = arena_printf(r->arena, "user:%s",
		    PQgetvalue(fam, 0, 0));
		stage_auth_revoke_family(r, famid);
		event_recordf(r, "refresh_reuse", SEV_CRITICAL,
		    "refresh family %s revoked: a used token came back", famid);
		return req_fail(r, AERR_TOKEN_REVOKED, NULL);
	}
	if (!token_fgp_equal(PQgetvalue(fam, 0, 4), fgp)) {
		event_recordf(r, "fingerprint_mismatch", SEV_WARNING,
		    "refresh token presented with another fingerprint");
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	}
	return req_fail(r, AERR_UNAUTHORIZED, NULL);
}

enum aerr
route_refresh(struct req *r)
{
	const struct value	*tok = req_body(r, "refresh_token");
	const char		*params[3];
	char			 fgp[65], famid[24], ctr[24];
	long long		 fam, counter;
	PGresult		*res;
	enum aerr		 e;

	if (token_parse_refresh(tok->s, &fam, &counter) == -1) {
		event_recordf(r, "auth_failure", SEV_WARNING,
		    "malformed or forged refresh token");
		blocklist_note_failed_credential(r);
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	}
	token_fingerprint(r->user_agent, &r->client, fgp);
	(void)snprintf(famid, sizeof(famid), "%lld", fam);
	(void)snprintf(ctr, sizeof(ctr), "%lld", counter);
	params[0] = famid;
	params[1] = ctr;
	params[2] = fgp;
	if ((e = db_query(r, DB_FAMILY_ROTATE, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return refresh_refused(r, famid, counter, fgp);
	r->principal = arena_printf(r->arena, "user:%s", PQgetvalue(res, 0, 0));
	return issue_tokens(r, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
	    strtoll(PQgetvalue(res, 0, 2), NULL, 10), fam,
	    strtoll(PQgetvalue(res, 0, 1), NULL, 10), fgp, 0);
}

/* Revokes an access token's jti in Redis until it would expire anyway. */
static enum aerr
revoke_jti(struct req *r)
{
	const char		*args[5];
	char			 key[64], ttl[24];
	long long		 left;
	struct redisReply	*rep;

	left = r->who.exp + conf->jwt_leeway - (long long)time(NULL);
	if (left < 1)
		left = 1;
	(void)snprintf(key, sizeof(key), "aspida:revoked:%s", r->who.jti);
	(void)snprintf(ttl, sizeof(ttl), "%lld", left);
	args[0] = "SET";
	args[1] = key;
	args[2] = "1";
	args[3] = "EX";
	args[4] = ttl;
	if ((rep = kv_command(r, 5, args, NULL)) == NULL ||
	    rep->type == REDIS_REPLY_ERROR)
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	return AERR_OK;
}

enum aerr
route_logout(struct req *r)
{
	const struct value	*tok = req_body(r, "refresh_token");
	const char		*params[3];
	char			 famid[24], uid[24];
	long long		 fam, counter;
	PGresult		*res;
	enum aerr		 e;

	if (r->who.kind == CRED_BEARER || r->who.kind == CRED_COOKIE) {
		if ((e = revoke_jti(r)) != AERR_OK)
			return e;
		(void)snprintf(famid, sizeof(famid), "%lld", r->who.sid);
		(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
		params[0] = famid;
		params[1] = uid;
		params[2] = "logout";
		if ((e = db_query(r, DB_FAMILY_REVOKE, params, &res)) != AERR_OK)
			return req_fail(r, e, NULL);
		stage_auth_revoke_family(r, famid);
		if (r->who.kind == CRED_COOKIE)
			req_header(r, "Set-Cookie", "aspida_session=; Path=/; "
			    "Max-Age=0; HttpOnly; Secure; SameSite=Strict");
	} else {
		if (tok == NULL)
			return req_fail(r, AERR_UNAUTHORIZED, NULL);
		if (token_parse_refresh(tok->s, &fam, &counter) == -1) {
			event_recordf(r, "auth_failure", SEV_WARNING,
			    "malformed or forged refresh token");
			return req_fail(r, AERR_UNAUTHORIZED, NULL);
		}
		(void)snprintf(famid, sizeof(famid), "%lld", fam);
		params[0] = famid;
		if ((e = db_query(r, DB_FAMILY_GET, params, &res)) != AERR_OK)
			return req_fail(r, e, NULL);
		if (PQntuples(res) != 1)
			return req_fail(r, AERR_UNAUTHORIZED, NULL);
		params[1] = PQgetvalue(res, 0, 0);
		params[2] = "logout";
		if ((e = db_query(r, DB_FAMILY_REVOKE, params, &res)) != AERR_OK)
			return req_fail(r, e, NULL);
		stage_auth_revoke_family(r, famid);
	}
	event_recordf(r, "token_revoked", SEV_INFO, "logout");
	r->status = 204;
	return AERR_OK;
}

enum aerr
route_me(struct req *r)
{
	const char	*params[1];
	char		 uid[24];
	PGresult	*res;
	enum aerr	 e;

	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	params[0] = uid;
	if ((e = db_query(r, DB_USER_GET, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	return json_respond(r, 200, user_json(res));
}

enum aerr
route_password(struct req *r)
{
	const struct value	*cur = req_body(r, "current_password");
	const struct value	*next = req_body(r, "new_password");
	const char		*params[3], *email;
	char			 uid[24], hash[CRYPT_OUTPUT_SIZE];
	PGresult		*res;
	enum aerr		 e;

	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	params[0] = uid;
	if ((e = db_query(r, DB_USER_GET, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	email = PQgetvalue(res, 0, 1);
	if ((e = check_password(r, email, cur, PQgetvalue(res, 0, 5))) !=
	    AERR_OK)
		return e;
	if ((e = new_password_hash(r, next, email, hash)) != AERR_OK)
		return e;
	params[1] = hash;
	params[2] = "password_change";
	e = db_query(r, DB_PASSWORD_CHANGE, params, &res);
	explicit_bzero(hash, sizeof(hash));
	if (e != AERR_OK)
		return req_fail(r, e, NULL);
	stage_auth_forget_user(r->who.user_id);
	event_recordf(r, "password_change", SEV_INFO,
	    "password changed; every earlier token revoked");
	r->status = 204;
	return AERR_OK;
}
