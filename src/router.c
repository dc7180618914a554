/*
 * The route table: one row per route, saying what the pipeline must do for
 * it (rate class, credentials, CSRF, CSV, validators) and which handler
 * answers.  Adding a route is one row here and one handler function.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "aspida.h"

static const struct field asset_param[] = {
	{ .name = "asset_id", .type = FT_ASSET, .min = 1, .max = 10, .required = 1 },
	{ .name = NULL }
};

/* Bounds here are syntactic; the handler applies the configured limits. */
static const struct field prices_query[] = {
	{ .name = "from", .type = FT_TIMESTAMP },
	{ .name = "to", .type = FT_TIMESTAMP },
	{ .name = "limit", .type = FT_INT, .min = -1000000000LL, .max = 1000000000LL },
	{ .name = "cursor", .type = FT_CURSOR, .min = 1, .max = 512 },
	{ .name = NULL }
};

/* Passwords are checked for strength by the handler (weak_password). */
static const struct field register_body[] = {
	{ .name = "email", .type = FT_STRING, .min = 1, .max = 320, .required = 1 },
	{ .name = "password", .type = FT_STRING, .min = 1, .max = 1024, .required = 1 },
	{ .name = "full_name", .type = FT_NAME, .min = 1, .max = 256, .required = 1 },
	{ .name = NULL }
};

/* The handlers check type's characters and default limit (route_admin.c). */
static const struct field events_query[] = {
	{ .name = "type", .type = FT_STRING, .min = 1, .max = 64 },
	{ .name = "since", .type = FT_TIMESTAMP },
	{ .name = "limit", .type = FT_INT, .min = 1, .max = 1000 },
	{ .name = NULL }
};

static const struct field alerts_query[] = {
	{ .name = "since", .type = FT_TIMESTAMP },
	{ .name = "limit", .type = FT_INT, .min = 1, .max = 1000 },
	{ .name = NULL }
};

static const struct field login_body[] = {
	{ .name = "email", .type = FT_STRING, .min = 1, .max = 320, .required = 1 },
	{ .name = "password", .type = FT_STRING, .min = 1, .max = 1024, .required = 1 },
	{ .name = NULL }
};

static const struct field login_query[] = {
	{ .name = "session", .type = FT_STRING, .min = 1, .max = 16 },
	{ .name = NULL }
};

static const struct field refresh_body[] = {
	{ .name = "refresh_token", .type = FT_STRING, .min = 1, .max = 256, .required = 1 },
	{ .name = NULL }
};

static const struct field logout_body[] = {
	{ .name = "refresh_token", .type = FT_STRING, .min = 1, .max = 256 },
	{ .name = NULL }
};

static const struct field password_body[] = {
	{ .name = "current_password", .type = FT_STRING, .min = 1, .max = 1024, .required = 1 },
	{ .name = "new_password", .type = FT_STRING, .min = 1, .max = 1024, .required = 1 },
	{ .name = NULL }
};

static const struct field key_body[] = {
	{ .name = "name", .type = FT_NAME, .min = 1, .max = 100, .required = 1 },
	{ .name = "scopes", .type = FT_LIST, .min = 1, .max = 2, .required = 1 },
	{ .name = "expires_in_days", .type = FT_INT, .min = 1, .max = 90 },
	{ .name = "allowed_ips", .type = FT_LIST, .min = 0, .max = 32 },
	{ .name = NULL }
};

static const struct field key_param[] = {
	{ .name = "id", .type = FT_INT, .min = 1, .max = 4000000000000000000LL, .required = 1 },
	{ .name = NULL }
};

static const struct field block_body[] = {
	{ .name = "cidr", .type = FT_STRING, .min = 1, .max = 64, .required = 1 },
	{ .name = "reason", .type = FT_NAME, .min = 1, .max = 256, .required = 1 },
	{ .name = "expires_in_minutes", .type = FT_INT, .min = 1, .max = 525600 },
	{ .name = NULL }
};

static const struct field predict_body[] = {
	{ .name = "horizon_hours", .type = FT_INT, .min = 1, .max = 168 },
	{ .name = NULL }
};

static const struct field trade_body[] = {
	{ .name = "asset_id", .type = FT_ASSET, .min = 1, .max = 10, .required = 1 },
	{ .name = "quantity", .type = FT_STRING, .min = 1, .max = 32, .required = 1 },
	{ .name = NULL }
};

static const struct field trades_query[] = {
	{ .name = "limit", .type = FT_INT, .min = -1000000000LL, .max = 1000000000LL },
	{ .name = "cursor", .type = FT_CURSOR, .min = 1, .max = 512 },
	{ .name = NULL }
};

/* Each point's members are the handler's (route_ingest.c). */
static const struct field ingest_body[] = {
	{ .name = "points", .type = FT_ARRAY, .min = 1, .max = INGEST_BATCH_MAX, .required = 1 },
	{ .name = NULL }
};

const struct route routes[] = {
	/* Signed by a source, not a user: see route_ingest.c. */
	{ .method = METHOD_POST, .path = "/api/v1/ingest/prices",
	  .rate = RATE_DEFAULT, .auth = AUTH_NONE, .ingest = 1,
	  .body = ingest_body, .handler = route_ingest },
	{ .method = METHOD_GET, .path = "/api/v1/portfolio",
	  .rate = RATE_PORTFOLIO, .auth = AUTH_REQUIRED,
	  .keys = 1, .scopes = SCOPE_READ, .handler = route_portfolio },
	{ .method = METHOD_POST, .path = "/api/v1/portfolio/buy",
	  .rate = RATE_PORTFOLIO, .auth = AUTH_REQUIRED, .csrf = 1,
	  .keys = 1, .scopes = SCOPE_WRITE,
	  .body = trade_body, .handler = route_portfolio_buy },
	{ .method = METHOD_POST, .path = "/api/v1/portfolio/sell",
	  .rate = RATE_PORTFOLIO, .auth = AUTH_REQUIRED, .csrf = 1,
	  .keys = 1, .scopes = SCOPE_WRITE,
	  .body = trade_body, .handler = route_portfolio_sell },
	{ .method = METHOD_GET, .path = "/api/v1/portfolio/trades",
	  .rate = RATE_PORTFOLIO, .auth = AUTH_REQUIRED,
	  .keys = 1, .scopes = SCOPE_READ,
	  .query = trades_query, .handler = route_portfolio_trades },
	{ .method = METHOD_POST, .path = "/api/v1/predict/{asset_id}",
	  .rate = RATE_PREDICT, .auth = AUTH_REQUIRED, .csrf = 1,
	  .keys = 1, .scopes = SCOPE_READ,
	  .params = asset_param, .body = predict_body,
	  .handler = route_predict },
	{ .method = METHOD_POST, .path = "/api/v1/admin/ip-blocks",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .csrf = 1, .admin = 1,
	  .body = block_body, .handler = route_admin_blocks_create },
	{ .method = METHOD_GET, .path = "/api/v1/admin/ip-blocks",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .admin = 1,
	  .handler = route_admin_blocks_list },
	{ .method = METHOD_DELETE, .path = "/api/v1/admin/ip-blocks/{id}",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .csrf = 1, .admin = 1,
	  .params = key_param, .handler = route_admin_blocks_delete },
	{ .method = METHOD_GET, .path = "/api/v1/admin/security-events",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .admin = 1,
	  .query = events_query, .handler = route_admin_events },
	{ .method = METHOD_GET, .path = "/api/v1/admin/alerts",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .admin = 1,
	  .query = alerts_query, .handler = route_admin_alerts },
	{ .method = METHOD_POST, .path = "/api/v1/admin/users/{id}/unlock",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .csrf = 1, .admin = 1,
	  .params = key_param, .handler = route_admin_unlock },
	{ .method = METHOD_POST,
	  .path = "/api/v1/admin/users/{id}/revoke-sessions",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .csrf = 1, .admin = 1,
	  .params = key_param, .handler = route_admin_revoke },
	{ .method = METHOD_POST, .path = "/api/v1/auth/register",
	  .rate = RATE_AUTH, .auth = AUTH_IGNORED,
	  .body = register_body, .handler = route_register },
	{ .method = METHOD_POST, .path = "/api/v1/auth/login",
	  .rate = RATE_AUTH, .auth = AUTH_IGNORED, .lockable = 1,
	  .query = login_query, .body = login_body, .handler = route_login },
	{ .method = METHOD_POST, .path = "/api/v1/auth/refresh",
	  .rate = RATE_AUTH, .auth = AUTH_IGNORED,
	  .body = refresh_body, .handler = route_refresh },
	{ .method = METHOD_POST, .path = "/api/v1/auth/logout",
	  .rate = RATE_DEFAULT, .auth = AUTH_OPTIONAL, .csrf = 1,
	  .body = logout_body, .handler = route_logout },
	{ .method = METHOD_GET, .path = "/api/v1/auth/me",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED,
	  .handler = route_me },
	{ .method = METHOD_POST, .path = "/api/v1/auth/password",
	  .rate = RATE_AUTH, .auth = AUTH_REQUIRED, .csrf = 1, .lockable = 1,
	  .body = password_body, .handler = route_password },
	{ .method = METHOD_POST, .path = "/api/v1/keys",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .csrf = 1,
	  .body = key_body, .handler = route_keys_create },
	{ .method = METHOD_GET, .path = "/api/v1/keys",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED,
	  .handler = route_keys_list },
	{ .method = METHOD_DELETE, .path = "/api/v1/keys/{id}",
	  .rate = RATE_DEFAULT, .auth = AUTH_REQUIRED, .csrf = 1,
	  .params = key_param, .handler = route_keys_delete },
	{ .method = METHOD_GET, .path = "/api/v1/assets",
	  .rate = RATE_PRICES, .auth = AUTH_OPTIONAL,
	  .keys = 1, .scopes = SCOPE_READ, .handler = route_assets },
	{ .method = METHOD_GET, .path = "/api/v1/price/{asset_id}",
	  .rate = RATE_PRICES, .auth = AUTH_OPTIONAL,
	  .keys = 1, .scopes = SCOPE_READ,
	  .params = asset_param, .handler = route_price },
	{ .method = METHOD_GET, .path = "/api/v1/prices/{asset_id}",
	  .rate = RATE_PRICES, .auth = AUTH_OPTIONAL, .csv = 1, .quota = 1,
	  .keys = 1, .scopes = SCOPE_READ,
	  .params = asset_param, .query = prices_query,
	  .handler = route_prices },
	{ .method = METHOD_GET, .path = "/healthz",
	  .rate = RATE_NONE, .auth = AUTH_NONE, .ops = 1,
	  .handler = route_healthz },
	{ .method = METHOD_GET, .path = "/metrics",
	  .rate = RATE_NONE, .auth = AUTH_NONE, .ops = 1,
	  .handler = route_metrics },
	{ .method = METHOD_GET, .path = "/readyz",
	  .rate = RATE_NONE, .auth = AUTH_NONE, .ops = 1,
	  .handler = route_readyz },
};
const size_t nroutes = sizeof(routes) / sizeof(routes[0]);

/*
 * Matches the request's segments against a route path; fills params with
 * the raw parameter strings when vals is not NULL.  Returns 1 on a match.
 */
static int
path_match(const struct req *r, const char *path, struct value *vals)
{
	const char	*p = path + 1, *slash;
	size_t		 i, n, np = 0;

	for (i = 0; i < r->nsegments; i++) {
		if (*p == '\0' && i < r->nsegments)
			return 0;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (p[0] == '{') {
			/* An empty segment is a stray slash, not a value. */
			if (r->segments[i][0] == '\0')
				return 0;
			if (vals != NULL) {
				if (np == ASPIDA_MAX_PATH_PARAMS)
					return 0;
				vals[np].s = r->segments[i];
				vals[np].len = strlen(r->segments[i]);
				np++;
			}
		} else if (strlen(r->segments[i]) != n ||
		    memcmp(r->segments[i], p, n) != 0)
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return *p == '\0';
}

/*
 * Finds the route for the request.  Returns it, or NULL with *err set to
 * AERR_METHOD_NOT_ALLOWED when the path exists under other methods, else
 * AERR_NOT_FOUND.
 */
const struct route *
router_match(struct req *r, enum aerr *err)
{
	size_t	i;
	int	path_seen = 0;

	for (i = 0; i < nroutes; i++) {
		if (!path_match(r, routes[i].path, NULL))
			continue;
		path_seen = 1;
		if (routes[i].method != r->method)
			continue;
		memset(r->params, 0, sizeof(r->params));
		(void)path_match(r, routes[i].path, r->params);
		return &routes[i];
	}
	*err = path_seen ? AERR_METHOD_NOT_ALLOWED : AERR_NOT_FOUND;
	return NULL;
}

/*
 * Writes the Allow header value for the request's path.  Returns the
 * number of methods listed.
 */
int
router_allow(const struct req *r, char *out, size_t outsize)
{
	size_t	i, used = 0;
	int	n = 0, w;

	out[0] = '\0';
	for (i = 0; i < nroutes; i++) {
		if (!path_match(r, routes[i].path, NULL))
			continue;
		w = snprintf(out + used, outsize - used, "%s%s",
		    n > 0 ? ", " : "", methods[routes[i].method]);
		if (w < 0 || (size_t)w >= outsize - used) {
			out[used] = '\0';	/* no half-written method */
			break;
		}
		used += (size_t)w;
		n++;
	}
	return n;
}

enum aerr
stage_route(struct req *r)
{
	enum aerr	 err = AERR_NOT_FOUND;

	/* Unknown paths still pass the per-address limit first. */
	if ((r->route = router_match(r, &err)) == NULL)
		return stage_defer(r, err, NULL);
	return AERR_OK;
}
