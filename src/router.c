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

const struct route routes[] = {
	{ .method = METHOD_GET, .path = "/api/v1/assets",
	  .rate = RATE_PRICES, .auth = AUTH_OPTIONAL,
	  .handler = route_assets },
	{ .method = METHOD_GET, .path = "/api/v1/price/{asset_id}",
	  .rate = RATE_PRICES, .auth = AUTH_OPTIONAL,
	  .params = asset_param, .handler = route_price },
	{ .method = METHOD_GET, .path = "/api/v1/prices/{asset_id}",
	  .rate = RATE_PRICES, .auth = AUTH_OPTIONAL, .csv = 1,
	  .params = asset_param, .query = prices_query,
	  .handler = route_prices },
	{ .method = METHOD_GET, .path = "/healthz",
	  .rate = RATE_NONE, .auth = AUTH_NONE, .ops = 1,
	  .handler = route_healthz },
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

	if ((r->route = router_match(r, &err)) == NULL)
		return req_fail(r, err, NULL);
	return AERR_OK;
}
