/*
 * API keys (API.md): created by a user with a token or browser session,
 * shown once, stored only as their SHA-256 with a short display prefix;
 * scopes read/write, an expiry (at most 90 days) and an optional address
 * allow list.  Use is counted in Redis and written to PostgreSQL at most
 * once a minute, so a busy key costs no database write per request.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

#define KEY_RANDOM_BYTES	32
#define KEY_USAGE_HASH		"aspida:keyuse"
#define KEY_LAST_HASH		"aspida:keylast"

static time_t	next_usage_flush;

/* A key may not manage keys (API.md). */
static enum aerr
key_refused(struct req *r)
{
	if (r->who.kind == CRED_APIKEY)
		return req_fail(r, AERR_FORBIDDEN,
		    "API keys cannot manage API keys.");
	return AERR_OK;
}

static struct json_object *
split_list(const char *s)
{
	struct json_object	*a = json_object_new_array();
	const char		*p = s, *comma;

	while (p != NULL && *p != '\0') {
		comma = strchr(p, ',');
		json_object_array_add(a, json_object_new_string_len(p,
		    comma ? (int)(comma - p) : (int)strlen(p)));
		p = comma ? comma + 1 : NULL;
	}
	return a;
}

static struct json_object *
stamp(const char *epoch)
{
	char	ts[32];

	if (epoch == NULL || *epoch == '\0')
		return NULL;
	timestamp_format(strtoll(epoch, NULL, 10), ts, sizeof(ts));
	return json_object_new_string(ts);
}

enum aerr
route_keys_create(struct req *r)
{
	const struct value	*scopes = req_body(r, "scopes");
	const struct value	*ips = req_body(r, "allowed_ips");
	const struct value	*days = req_body(r, "expires_in_days");
	struct json_object	*o, *v;
	struct buf		 scopelist, iplist;
	struct cidr		 cidr;
	unsigned char		 raw[KEY_RANDOM_BYTES], digest[32];
	char			 key[80], hex[65], prefix[16], uid[24], nd[24];
	const char		*params[7], *s;
	PGresult		*res;
	enum aerr		 e;
	size_t			 i, n;
	int			 read = 0, write = 0;

	if ((e = key_refused(r)) != AERR_OK)
		return e;
	buf_init(&scopelist, r->arena);
	buf_init(&iplist, r->arena);
	for (i = 0; i < (size_t)scopes->i; i++) {
		s = json_object_get_string(json_object_array_get_idx(scopes->list,
		    i));
		if (strcmp(s, "read") == 0 && !read)
			read = 1;
		else if (strcmp(s, "write") == 0 && !write)
			write = 1;
		else
			return req_fail(r, AERR_INVALID_INPUT,
			    "scopes must be \"read\" and/or \"write\", once each.");
		buf_printf(&scopelist, "%s%s", i ? "," : "", s);
	}
	n = ips ? (size_t)ips->i : 0;
	for (i = 0; i < n; i++) {
		s = json_object_get_string(json_object_array_get_idx(ips->list, i));
		if (cidr_parse(s, &cidr) == -1)
			return req_fail(r, AERR_INVALID_INPUT,
			    "allowed_ips must be CIDR blocks.");
		buf_printf(&iplist, "%s%s", i ? "," : "", s);
	}

	crypto_random(raw, sizeof(raw));
	(void)strlcpy(key, "ak_", sizeof(key));
	if (b64url_encode(raw, sizeof(raw), key + 3, sizeof(key) - 3) < 0)
		return req_fail(r, AERR_INTERNAL, NULL);
	explicit_bzero(raw, sizeof(raw));
	crypto_sha256(key, strlen(key), digest);
	hex_encode(digest, sizeof(digest), hex);
	(void)snprintf(prefix, sizeof(prefix), "%.9s", key);
	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	(void)snprintf(nd, sizeof(nd), "%lld", days ? days->i : 30);
	params[0] = uid;
	params[1] = req_body(r, "name")->s;
	params[2] = hex;
	params[3] = prefix;
	params[4] = buf_cstr(&scopelist);
	params[5] = buf_cstr(&iplist);
	params[6] = nd;
	if ((e = db_query(r, DB_APIKEY_CREATE, params, &res)) != AERR_OK) {
		explicit_bzero(key, sizeof(key));
		return req_fail(r, e, NULL);
	}
	if (PQntuples(res) != 1) {
		explicit_bzero(key, sizeof(key));
		return req_fail(r, AERR_CONFLICT,
		    "You already have the most live API keys allowed (10).");
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(
	    strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	json_object_object_add(o, "name",
	    json_object_new_string(req_body(r, "name")->s));
	json_object_object_add(o, "key", json_object_new_string(key));
	explicit_bzero(key, sizeof(key));
	json_object_object_add(o, "prefix", json_object_new_string(prefix));
	json_object_object_add(o, "scopes", split_list(buf_cstr(&scopelist)));
	json_object_object_add(o, "allowed_ips", split_list(buf_cstr(&iplist)));
	json_object_object_add(o, "expires_at", stamp(PQgetvalue(res, 0, 1)));
	v = o;
	event_recordf(r, "api_key_created", SEV_INFO, "key %s created",
	    PQgetvalue(res, 0, 0));
	return json_respond(r, 201, v);
}

enum aerr
route_keys_list(struct req *r)
{
	struct json_object	*root, *list, *k;
	const char		*params[1];
	char			 uid[24];
	PGresult		*res;
	enum aerr		 e;
	int			 i;

	if ((e = key_refused(r)) != AERR_OK)
		return e;
	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	params[0] = uid;
	if ((e = db_query(r, DB_APIKEY_LIST, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		k = json_object_new_object();
		json_object_object_add(k, "id", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_object_add(k, "name",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(k, "prefix",
		    json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_object_add(k, "scopes",
		    split_list(PQgetvalue(res, i, 3)));
		json_object_object_add(k, "allowed_ips",
		    split_list(PQgetvalue(res, i, 4)));
		json_object_object_add(k, "created_at",
		    stamp(PQgetvalue(res, i, 5)));
		json_object_object_add(k, "expires_at",
		    stamp(PQgetvalue(res, i, 6)));
		json_object_object_add(k, "last_used_at",
		    PQgetisnull(res, i, 7) ? NULL : stamp(PQgetvalue(res, i, 7)));
		json_object_object_add(k, "use_count", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 8), NULL, 10)));
		json_object_array_add(list, k);
	}
	root = json_object_new_object();
	json_object_object_add(root, "keys", list);
	return json_respond(r, 200, root);
}

enum aerr
route_keys_delete(struct req *r)
{
	const char	*params[2];
	char		 uid[24];
	PGresult	*res;
	enum aerr	 e;

	if ((e = key_refused(r)) != AERR_OK)
		return e;
	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	params[0] = req_path(r, "id")->s;
	params[1] = uid;
	if ((e = db_query(r, DB_APIKEY_REVOKE, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	/* Someone else's key is simply not found (no BOLA oracle). */
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_NOT_FOUND, NULL);
	event_recordf(r, "api_key_revoked", SEV_INFO, "key %s revoked",
	    params[0]);
	r->status = 204;
	return AERR_OK;
}

/* Counts a use of the request's key; written out by the flush. */
void
route_keys_note_use(struct req *r)
{
	const char	*argv[4];
	char		 id[24], now[24];

	(void)snprintf(id, sizeof(id), "%lld", r->who.key_id);
	(void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	argv[0] = "HINCRBY";
	argv[1] = KEY_USAGE_HASH;
	argv[2] = id;
	argv[3] = "1";
	(void)kv_command(r, 4, argv, NULL);
	argv[0] = "HSET";
	argv[1] = KEY_LAST_HASH;
	argv[3] = now;
	(void)kv_command(r, 4, argv, NULL);
}

/*
 * Writes the counted uses to api_keys, at most once a minute per worker
 * and by one worker at a time (the hashes are renamed away first, so
 * counts arriving meanwhile start a fresh hash and are never lost or
 * counted twice).
 */
static void	keys_flush(int);

void
route_keys_flush_due(void)
{
	keys_flush(0);
}

void
route_keys_flush_now(void)
{
	keys_flush(1);
}

static void
keys_flush(int force)
{
	struct redisReply	*uses, *last, *rep;
	const char		*argv[3], *params[3];
	char			 tmp1[64], tmp2[64], tag[17];
	unsigned char		 rnd[8];
	time_t			 now = time(NULL);
	size_t			 i, j;

	if (!force && now < next_usage_flush)
		return;
	next_usage_flush = now + 60;
	if (!kv_available() || !db_available())
		return;
	crypto_random(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), tag);
	(void)snprintf(tmp1, sizeof(tmp1), KEY_USAGE_HASH ":%s", tag);
	(void)snprintf(tmp2, sizeof(tmp2), KEY_LAST_HASH ":%s", tag);
	argv[0] = "RENAME";
	argv[1] = KEY_USAGE_HASH;
	argv[2] = tmp1;
	if ((rep = kv_command(NULL, 3, argv, NULL)) == NULL)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {	/* nothing counted */
		freeReplyObject(rep);
		return;
	}
	freeReplyObject(rep);
	argv[1] = KEY_LAST_HASH;
	argv[2] = tmp2;
	freeReplyObject(kv_command(NULL, 3, argv, NULL));
	argv[0] = "HGETALL";
	argv[1] = tmp1;
	uses = kv_command(NULL, 2, argv, NULL);
	argv[1] = tmp2;
	last = kv_command(NULL, 2, argv, NULL);
	for (i = 0; uses != NULL && uses->type == REDIS_REPLY_ARRAY &&
	    i + 1 < uses->elements; i += 2) {
		params[0] = uses->element[i]->str;
		params[1] = uses->element[i + 1]->str;
		params[2] = "0";
		for (j = 0; last != NULL && last->type == REDIS_REPLY_ARRAY &&
		    j + 1 < last->elements; j += 2)
			if (strcmp(last->element[j]->str, params[0]) == 0)
				params[2] = last->element[j + 1]->str;
		(void)db_exec_direct(DB_APIKEY_USAGE, params);
	}
	freeReplyObject(uses);
	freeReplyObject(last);
	argv[0] = "DEL";
	argv[1] = tmp1;
	argv[2] = tmp2;
	freeReplyObject(kv_command(NULL, 3, argv, NULL));
}
