/*
 * Market data: the asset list, the latest price, and the price history
 * with keyset pagination (JSON or CSV).  Every value read here was
 * validated by the route's field tables; every query is a prepared
 * statement.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

static void
cache_price(struct req *r, const char *asset)
{
	const char	*argv[5];
	char		 key[48], ttl[24];

	if (conf->price_cache_seconds <= 0)
		return;
	(void)snprintf(key, sizeof(key), "aspida:price:%s", asset);
	(void)snprintf(ttl, sizeof(ttl), "%lld", conf->price_cache_seconds);
	argv[0] = "SET";
	argv[1] = key;
	argv[2] = buf_cstr(&r->out);
	argv[3] = "EX";
	argv[4] = ttl;
	(void)kv_command(r, 5, argv, NULL);
}

enum aerr
route_assets(struct req *r)
{
	struct json_object	*root, *list, *a;
	PGresult		*res;
	enum aerr		 e;
	int			 i;

	if ((e = db_query(r, DB_ASSETS_LIST, NULL, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		a = json_object_new_object();
		json_object_object_add(a, "id",
		    json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(a, "name",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(a, "currency",
		    json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_array_add(list, a);
	}
	root = json_object_new_object();
	json_object_object_add(root, "assets", list);
	return json_respond(r, 200, root);
}

/*
 * The hot read: the latest price comes from Redis when the rate-limit
 * script found it cached (so the request costs one round trip in all),
 * else from PostgreSQL, and is then cached for price_cache_seconds.
 * Ingestion drops the cached entry when it accepts a newer point.
 */
enum aerr
route_price(struct req *r)
{
	const struct value	*asset = req_path(r, "asset_id");
	const char		*params[1] = { asset->s };
	struct json_object	*root;
	PGresult		*res;
	char			 ts[32];
	enum aerr		 e;

	if (r->cached_price != NULL) {
		buf_puts(&r->out, r->cached_price);
		r->status = 200;
		return AERR_OK;
	}
	if ((e = db_query(r, DB_PRICE_LATEST, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) == 0)
		return req_fail(r, AERR_UNKNOWN_ASSET, NULL);
	if (PQgetisnull(res, 0, 2))
		return req_fail(r, AERR_NOT_FOUND,
		    "This asset has no price yet.");
	timestamp_format(strtoll(PQgetvalue(res, 0, 3), NULL, 10), ts,
	    sizeof(ts));
	root = json_object_new_object();
	json_object_object_add(root, "asset_id",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(root, "price",
	    json_object_new_string(PQgetvalue(res, 0, 2)));
	json_object_object_add(root, "currency",
	    json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(root, "ts", json_object_new_string(ts));
	(void)json_respond(r, 200, root);
	cache_price(r, asset->s);
	return AERR_OK;
}

struct page {
	const char	*asset;
	const struct value *from, *to;
	long long	 limit;
	long long	 before;	/* cursor position, or -1 */
	char		 binding[128];
};

/*
 * Reads and checks the page parameters in API.md's order: limit's range
 * first (400), then the anonymous cap (401), then the range and cursor.
 */
static enum aerr
page_params(struct req *r, struct page *pg)
{
	const struct value	*v;
	long long		 pos[2];

	pg->asset = req_path(r, "asset_id")->s;
	pg->from = req_query(r, "from");
	pg->to = req_query(r, "to");
	pg->limit = conf->prices_default_limit;
	pg->before = -1;
	if ((v = req_query(r, "limit")) != NULL) {
		if (v->i < 1 || v->i > conf->prices_max_limit)
			return req_fail(r, AERR_INVALID_INPUT,
			    "limit must be between 1 and the maximum page size.");
		pg->limit = v->i;
	}
	if (r->principal == NULL && pg->limit > conf->prices_anonymous_max_limit)
		return req_fail(r, AERR_UNAUTHORIZED,
		    "Pages larger than the anonymous limit need credentials.");
	if (pg->from != NULL && pg->to != NULL && pg->from->i >= pg->to->i)
		return req_fail(r, AERR_INVALID_INPUT,
		    "from must be earlier than to.");
	(void)snprintf(pg->binding, sizeof(pg->binding), "prices|%s|%s|%s",
	    pg->asset, pg->from ? pg->from->s : "", pg->to ? pg->to->s : "");
	if ((v = req_query(r, "cursor")) != NULL) {
		if (cursor_decode(pg->binding, v->s, v->len, pos) == -1 ||
		    pos[0] < 0 || pos[1] != 0)
			return req_fail(r, AERR_INVALID_INPUT,
			    "The cursor is invalid for this query.");
		pg->before = pos[0];
	}
	return AERR_OK;
}

static const char *
next_link(struct req *r, const struct page *pg, const char *cursor)
{
	return arena_printf(r->arena, "</api/v1/prices/%s?limit=%lld%s%s%s%s"
	    "&cursor=%s>; rel=\"next\"", pg->asset, pg->limit,
	    pg->from ? "&from=" : "", pg->from ? pg->from->s : "",
	    pg->to ? "&to=" : "", pg->to ? pg->to->s : "", cursor);
}

enum aerr
route_prices(struct req *r)
{
	struct page		 pg;
	struct json_object	*root, *points, *pt;
	const char		*params[5];
	char			 from[24], to[24], before[24], limit[24];
	char			 ts[32], cursor[CURSOR_MAX];
	long long		 pos[2] = { 0, 0 };
	PGresult		*res;
	enum aerr		 e;
	int			 i, n, more;

	if ((e = page_params(r, &pg)) != AERR_OK)
		return e;
	/* Pages above 100 points are heavy: held back while the circuit is open. */
	if (pg.limit > 100 && !breaker_allow())
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	(void)snprintf(from, sizeof(from), "%lld", pg.from ? pg.from->i : 0);
	(void)snprintf(to, sizeof(to), "%lld", pg.to ? pg.to->i : 0);
	(void)snprintf(before, sizeof(before), "%lld", pg.before);
	(void)snprintf(limit, sizeof(limit), "%lld", pg.limit + 1);
	params[0] = pg.asset;
	params[1] = pg.from ? from : NULL;
	params[2] = pg.to ? to : NULL;
	params[3] = pg.before >= 0 ? before : NULL;
	params[4] = limit;
	if ((e = db_query(r, DB_PRICES_PAGE, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	if (PQntuples(res) == 0)
		return req_fail(r, AERR_UNKNOWN_ASSET, NULL);
	n = PQgetisnull(res, 0, 0) ? 0 : PQntuples(res);
	more = n > pg.limit;
	if (more)
		n = (int)pg.limit;
	cursor[0] = '\0';
	if (more) {
		pos[0] = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
		if (cursor_encode(pg.binding, pos, cursor, sizeof(cursor)) == -1)
			return req_fail(r, AERR_INTERNAL, NULL);
	}

	if (r->want_csv) {
		buf_puts(&r->out, "ts,price\r\n");
		for (i = 0; i < n; i++) {
			timestamp_format(strtoll(PQgetvalue(res, i, 0), NULL, 10),
			    ts, sizeof(ts));
			buf_printf(&r->out, "%s,%s\r\n", ts, PQgetvalue(res, i, 1));
		}
		if (more)
			req_header(r, "Link", next_link(r, &pg, cursor));
		r->status = 200;
		r->content_type_out = "text/csv; charset=utf-8";
		return AERR_OK;
	}
	points = json_object_new_array();
	for (i = 0; i < n; i++) {
		timestamp_format(strtoll(PQgetvalue(res, i, 0), NULL, 10), ts,
		    sizeof(ts));
		pt = json_object_new_object();
		json_object_object_add(pt, "ts", json_object_new_string(ts));
		json_object_object_add(pt, "price",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_array_add(points, pt);
	}
	root = json_object_new_object();
	json_object_object_add(root, "asset_id", json_object_new_string(pg.asset));
	json_object_object_add(root, "points", points);
	json_object_object_add(root, "next_cursor",
	    more ? json_object_new_string(cursor) : NULL);
	return json_respond(r, 200, root);
}
