/*
 * The portfolio: holdings valued at the latest prices, buy and sell at the
 * latest price, and the caller's trades.  A trade is one database call
 * (portfolio_trade() in sql/003_portfolio.sql) that locks the holding row,
 * so concurrent sells can never spend the same units twice, refuses a
 * price older than max_trade_price_age, and records the Idempotency-Key
 * claim in the same transaction.  Quantities are strict canonical decimal
 * strings, never floats.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

enum aerr
route_portfolio(struct req *r)
{
	struct json_object	*root, *list, *h;
	const char		*params[1];
	char			 uid[24];
	PGresult		*res;
	enum aerr		 e;
	int			 i;

	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	params[0] = uid;
	if ((e = db_query(r, DB_PORTFOLIO, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		h = json_object_new_object();
		json_object_object_add(h, "asset_id",
		    json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(h, "quantity",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(h, "cost_basis",
		    json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_object_add(h, "market_value",
		    json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_array_add(list, h);
	}
	root = json_object_new_object();
	json_object_object_add(root, "holdings", list);
	json_object_object_add(root, "total_value", json_object_new_string(
	    PQntuples(res) > 0 ? PQgetvalue(res, 0, 4) : "0"));
	return json_respond(r, 200, root);
}

/* Idempotency-Key: 1-64 of [A-Za-z0-9_-]; NULL when absent, "" if bad. */
static const char *
idempotency_key(struct req *r)
{
	const char	*k = req_param(r, "HTTP_IDEMPOTENCY_KEY");
	size_t		 n;

	if (k == NULL)
		return NULL;
	n = strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-");
	if (n == 0 || n > 64 || k[n] != '\0')
		return "";
	return k;
}

static enum aerr
trade(struct req *r, const char *side)
{
	const struct value	*asset = req_body(r, "asset_id");
	const struct value	*qty = req_body(r, "quantity");
	struct ingest_decimal	 q;
	struct json_object	*o;
	const char		*params[9], *key, *why = NULL, *status;
	char			 uid[24], age[24], hex[65], route[32], *msg;
	unsigned char		 d[32];
	PGresult		*res;
	enum aerr		 e;

	if (ingest_decimal_parse(qty->s, qty->len, INGEST_QUANTITY_DECIMALS,
	    INGEST_QUANTITY_MAX, &q, &why) == -1)
		return req_fail(r, AERR_INVALID_INPUT, "quantity must be a "
		    "positive canonical decimal string with at most 8 decimals "
		    "and at most 1000000000.");
	if ((key = idempotency_key(r)) != NULL && *key == '\0')
		return req_fail(r, AERR_INVALID_INPUT, "Idempotency-Key must be "
		    "1 to 64 letters, digits, '_' or '-'.");
	/* The same key with another body is a conflict: hash what matters. */
	msg = arena_printf(r->arena, "%s\n%s\n%s", side, asset->s, q.text);
	crypto_sha256(msg, strlen(msg), d);
	hex_encode(d, sizeof(d), hex);
	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	(void)snprintf(age, sizeof(age), "%lld", conf->max_trade_price_age);
	(void)snprintf(route, sizeof(route), "POST /portfolio/%s", side);
	params[0] = uid;
	params[1] = arena_printf(r->arena, "user:%lld", r->who.user_id);
	params[2] = route;
	params[3] = asset->s;
	params[4] = side;
	params[5] = q.text;
	params[6] = age;
	params[7] = key;
	params[8] = hex;
	if ((e = db_query(r, DB_PORTFOLIO_TRADE, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "unknown_asset") == 0)
		return req_fail(r, AERR_UNKNOWN_ASSET, NULL);
	if (strcmp(status, "stale") == 0)
		return req_fail(r, AERR_CONFLICT, "The latest price of this "
		    "asset is too old to trade on.");
	if (strcmp(status, "insufficient") == 0)
		return req_fail(r, AERR_INSUFFICIENT_HOLDINGS, NULL);
	if (strcmp(status, "key_conflict") == 0)
		return req_fail(r, AERR_CONFLICT, "This Idempotency-Key was "
		    "used with another request.");
	if ((strcmp(status, "ok") != 0 && strcmp(status, "replay") != 0) ||
	    (o = json_tokener_parse(PQgetvalue(res, 0, 1))) == NULL)
		return req_fail(r, AERR_INTERNAL, NULL);
	if (strcmp(status, "ok") == 0)
		event_recordf(r, "trade", SEV_INFO, "%s %s %s", side, q.text,
		    asset->s);
	return json_respond(r, 200, o);
}

enum aerr
route_portfolio_buy(struct req *r)
{
	return trade(r, "buy");
}

enum aerr
route_portfolio_sell(struct req *r)
{
	return trade(r, "sell");
}

enum aerr
route_portfolio_trades(struct req *r)
{
	const struct value	*lim = req_query(r, "limit");
	const struct value	*cur = req_query(r, "cursor");
	struct json_object	*root, *list, *t;
	const char		*params[4];
	char			 uid[24], binding[64], before[24], id[24];
	char			 limit[24], ts[32], next[CURSOR_MAX];
	long long		 pos[2], n = lim ? lim->i : 50;
	PGresult		*res;
	enum aerr		 e;
	int			 i, rows, more;

	if (n < 1 || n > 100)
		return req_fail(r, AERR_INVALID_INPUT,
		    "limit must be between 1 and 100.");
	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	(void)snprintf(binding, sizeof(binding), "trades|%lld",
	    r->who.user_id);
	params[0] = uid;
	params[1] = params[2] = NULL;
	if (cur != NULL) {
		if (cursor_decode(binding, cur->s, cur->len, pos) == -1)
			return req_fail(r, AERR_INVALID_INPUT,
			    "The cursor is invalid for this query.");
		(void)snprintf(before, sizeof(before), "%lld", pos[0]);
		(void)snprintf(id, sizeof(id), "%lld", pos[1]);
		params[1] = before;
		params[2] = id;
	}
	(void)snprintf(limit, sizeof(limit), "%lld", n + 1);
	params[3] = limit;
	if ((e = db_query(r, DB_TRADES_PAGE, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);
	rows = PQntuples(res);
	more = rows > n;
	if (more)
		rows = (int)n;
	list = json_object_new_array();
	for (i = 0; i < rows; i++) {
		t = json_object_new_object();
		json_object_object_add(t, "trade_id", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_object_add(t, "asset_id",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(t, "side",
		    json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_object_add(t, "quantity",
		    json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_object_add(t, "price",
		    json_object_new_string(PQgetvalue(res, i, 4)));
		timestamp_format(strtoll(PQgetvalue(res, i, 5), NULL, 10), ts,
		    sizeof(ts));
		json_object_object_add(t, "ts", json_object_new_string(ts));
		json_object_array_add(list, t);
	}
	root = json_object_new_object();
	json_object_object_add(root, "trades", list);
	if (more) {
		pos[0] = strtoll(PQgetvalue(res, rows - 1, 6), NULL, 10);
		pos[1] = strtoll(PQgetvalue(res, rows - 1, 0), NULL, 10);
		if (cursor_encode(binding, pos, next, sizeof(next)) == -1) {
			json_object_put(root);
			return req_fail(r, AERR_INTERNAL, NULL);
		}
	}
	json_object_object_add(root, "next_cursor",
	    more ? json_object_new_string(next) : NULL);
	return json_respond(r, 200, root);
}
