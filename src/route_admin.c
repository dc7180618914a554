/*
 * Admin routes: the block list, the security events and alerts, and the
 * incident tools for accounts.  The
 * routes are hidden (404) from addresses outside admin_allow_ips (see
 * stage_client), need a user token or session of role admin, and never
 * take an API key (stage_authz).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

static struct json_object *
stamp_or_null(PGresult *res, int row, int col)
{
	char	ts[32];

	if (PQgetisnull(res, row, col))
		return NULL;
	timestamp_format(strtoll(PQgetvalue(res, row, col), NULL, 10), ts,
	    sizeof(ts));
	return json_object_new_string(ts);
}

enum aerr
route_admin_blocks_create(struct req *r)
{
	const struct value	*mins = req_body(r, "expires_in_minutes");
	struct json_object	*o;
	struct cidr		 c;
	const char		*cidr = req_body(r, "cidr")->s;
	char			 by[48], text[80];
	long long		 id;

	if (cidr_parse(cidr, &c) == -1 ||
	    ipaddr_format(&c.net, text, sizeof(text)) == -1)
		return req_fail(r, AERR_INVALID_INPUT,
		    "cidr must be an address or a CIDR block.");
	(void)snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "/%d", c.prefix);
	(void)snprintf(by, sizeof(by), "admin:%lld", r->who.user_id);
	if ((id = blocklist_add(r, text, req_body(r, "reason")->s,
	    mins ? mins->i : 0, by, 0)) == -1)
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	event_recordf(r, "ip_blocked", SEV_WARNING, "%s blocked by an admin",
	    text);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "cidr", json_object_new_string(text));
	json_object_object_add(o, "reason",
	    json_object_new_string(req_body(r, "reason")->s));
	return json_respond(r, 201, o);
}

enum aerr
route_admin_blocks_list(struct req *r)
{
	struct json_object	*root, *list, *b;
	PGresult		*res;
	enum aerr		 e;
	int			 i;

	if ((e = db_query(r, DB_BLOCKS_ACTIVE, NULL, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		b = json_object_new_object();
		json_object_object_add(b, "id", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_object_add(b, "cidr",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(b, "reason",
		    json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_object_add(b, "created_by",
		    json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_object_add(b, "automatic", json_object_new_boolean(
		    strcmp(PQgetvalue(res, i, 4), "t") == 0));
		json_object_object_add(b, "created_at", stamp_or_null(res, i, 5));
		json_object_object_add(b, "expires_at", stamp_or_null(res, i, 6));
		json_object_array_add(list, b);
	}
	root = json_object_new_object();
	json_object_object_add(root, "ip_blocks", list);
	return json_respond(r, 200, root);
}

enum aerr
route_admin_blocks_delete(struct req *r)
{
	const char		*params[1] = { req_path(r, "id")->s };
	const char		*argv[2] = { "INCR", "aspida:blocks:ver" };
	PGresult		*res;
	enum aerr		 e;

	if ((e = db_query(r, DB_BLOCK_END, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_NOT_FOUND, NULL);
	(void)kv_command(r, 2, argv, NULL);
	event_recordf(r, "ip_unblocked", SEV_INFO, "block %s ended by an admin",
	    params[0]);
	r->status = 204;
	return AERR_OK;
}

enum aerr
route_admin_unlock(struct req *r)
{
	const char	*params[1] = { req_path(r, "id")->s };
	PGresult	*res;
	enum aerr	 e;

	if ((e = db_query(r, DB_USER_EMAIL, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_NOT_FOUND, NULL);
	if (lockout_clear(PQgetvalue(res, 0, 0)) == -1)
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	event_recordf(r, "account_unlocked", SEV_INFO, "user %s unlocked by "
	    "an admin", params[0]);
	r->status = 204;
	return AERR_OK;
}

enum aerr
route_admin_revoke(struct req *r)
{
	const char	*params[1] = { req_path(r, "id")->s };
	PGresult	*res;
	enum aerr	 e;

	if ((e = db_query(r, DB_REVOKE_SESSIONS, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) != 1)
		return req_fail(r, AERR_NOT_FOUND, NULL);
	stage_auth_forget_user(strtoll(params[0], NULL, 10));
	event_recordf(r, "sessions_revoked", SEV_WARNING, "every token and "
	    "API key of user %s revoked by an admin", params[0]);
	r->status = 204;
	return AERR_OK;
}

#define ADMIN_LIST_DEFAULT	100

/* The limit parameter, or the default; since as epoch text, or NULL. */
static void
list_params(struct req *r, char *since, size_t ssize, char *limit,
    size_t lsize, const char **sincep)
{
	const struct value	*v;

	*sincep = NULL;
	if ((v = req_query(r, "since")) != NULL) {
		(void)snprintf(since, ssize, "%lld", v->i);
		*sincep = since;
	}
	v = req_query(r, "limit");
	(void)snprintf(limit, lsize, "%lld", v ? v->i : ADMIN_LIST_DEFAULT);
}

static struct json_object *
text_or_null(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_string(PQgetvalue(res, row, col));
}

static struct json_object *
json_or_null(PGresult *res, int row, int col)
{
	struct json_object	*o;

	if (PQgetisnull(res, row, col))
		return NULL;
	o = json_tokener_parse(PQgetvalue(res, row, col));
	return o;
}

/*
 * GET /admin/security-events?type=&since=&limit=: newest first.  type is
 * an event kind, [a-z0-9_] only.
 */
enum aerr
route_admin_events(struct req *r)
{
	const struct value	*type = req_query(r, "type");
	struct json_object	*root, *list, *e;
	const char		*params[3];
	char			 since[24], limit[24];
	PGresult		*res;
	enum aerr		 err;
	int			 i;

	if (type != NULL && strspn(type->s,
	    "abcdefghijklmnopqrstuvwxyz0123456789_") != type->len)
		return req_fail(r, AERR_INVALID_INPUT,
		    "type must be an event kind.");
	list_params(r, since, sizeof(since), limit, sizeof(limit), &params[1]);
	params[0] = type ? type->s : NULL;
	params[2] = limit;
	if ((err = db_query(r, DB_EVENTS_LIST, params, &res)) != AERR_OK)
		return req_fail(r, err, NULL);
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_object_add(e, "ts", stamp_or_null(res, i, 1));
		json_object_object_add(e, "minute", stamp_or_null(res, i, 2));
		json_object_object_add(e, "type", text_or_null(res, i, 3));
		json_object_object_add(e, "severity", text_or_null(res, i, 4));
		json_object_object_add(e, "request_id", text_or_null(res, i, 5));
		json_object_object_add(e, "client_ip", text_or_null(res, i, 6));
		json_object_object_add(e, "principal", text_or_null(res, i, 7));
		json_object_object_add(e, "route", text_or_null(res, i, 8));
		json_object_object_add(e, "count", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 9), NULL, 10)));
		json_object_object_add(e, "details", json_or_null(res, i, 10));
		json_object_array_add(list, e);
	}
	root = json_object_new_object();
	json_object_object_add(root, "events", list);
	return json_respond(r, 200, root);
}

/* GET /admin/alerts?since=&limit=: newest first. */
enum aerr
route_admin_alerts(struct req *r)
{
	struct json_object	*root, *list;
	struct alert		 a;
	const char		*params[2];
	char			 since[24], limit[24];
	PGresult		*res;
	enum aerr		 err;
	int			 i;

	list_params(r, since, sizeof(since), limit, sizeof(limit), &params[0]);
	params[1] = limit;
	if ((err = db_query(r, DB_ALERTS_LIST, params, &res)) != AERR_OK)
		return req_fail(r, err, NULL);
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		alerts_from_row(res, i, &a);
		json_object_array_add(list, alerts_json(&a));
	}
	root = json_object_new_object();
	json_object_object_add(root, "alerts", list);
	return json_respond(r, 200, root);
}
