/*
 * check_router.c - the route table: every route is reached by its own
 * method and path; anything else is 404 (unknown paths, trailing or
 * doubled slashes, extra or missing segments) or, for a known path under
 * another method, 405 with an Allow list naming the methods it has.
 * stage_route holds those errors in r->pending for the rate limit stage
 * to answer, so unknown paths still pass the per-address limit.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_req.h"

static struct arena	*ar;
static struct req	 rq;

static void
setup(void)
{
	check_conf_setup();
	ar = arena_new();
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
}

/* Parses a request line the way the pipeline does before routing. */
static void
request(const char *method, const char *uri)
{
	enum aerr	e;

	check_req_clear();
	check_req_param("REMOTE_ADDR", "192.0.2.10");
	check_req_param("REQUEST_METHOD", method);
	check_req_param("REQUEST_URI", uri);
	check_req_init(&rq, ar);
	e = stage_parse(&rq);
	ck_assert_msg(e == AERR_OK, "%s %s: parse gave %d", method, uri, e);
}

/* Fills a route's path with a value for each "{name}". */
static void
route_uri(const char *path, const char *value, char *out, size_t size)
{
	const char	*p;
	size_t		 o = 0;

	for (p = path; *p != '\0' && o + 1 < size; p++) {
		if (*p == '{') {
			o += (size_t)snprintf(out + o, size - o, "%s", value);
			p = strchr(p, '}');
			ck_assert_ptr_nonnull(p);
			continue;
		}
		out[o++] = *p;
	}
	ck_assert_uint_lt(o, size);
	out[o] = '\0';
}

/* Each row of the table is reached by its method and path. */
START_TEST(test_each_route)
{
	const struct route	*want = &routes[_i], *got;
	const struct value	*v;
	enum aerr		 err = AERR_OK;
	char			 uri[256];

	route_uri(want->path, "BTC", uri, sizeof(uri));
	request(methods[want->method], uri);
	got = router_match(&rq, &err);
	ck_assert_msg(got == want, "%s %s: route %td", methods[want->method],
	    uri, got ? got - routes : -1);
	ck_assert_int_eq(err, AERR_OK);
	if (want->params != NULL) {
		v = &rq.params[0];
		ck_assert_ptr_nonnull(v->s);
		ck_assert_str_eq(v->s, "BTC");
		ck_assert_uint_eq(v->len, 3);
	}
	/* stage_route records the route, and holds no error. */
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	ck_assert_ptr_eq(rq.route, want);
	ck_assert_int_eq(rq.err, AERR_OK);
	ck_assert_int_eq(rq.pending, AERR_OK);
}
END_TEST

START_TEST(test_table_sane)
{
	size_t	i, j;

	ck_assert_uint_gt(nroutes, 0);
	for (i = 0; i < nroutes; i++) {
		ck_assert_msg(routes[i].path[0] == '/', "route %zu", i);
		ck_assert_msg(routes[i].handler != NULL, "route %zu", i);
		ck_assert_msg(routes[i].method < METHOD__MAX, "route %zu", i);
		/* No two rows for the same method and path. */
		for (j = i + 1; j < nroutes; j++)
			ck_assert_msg(routes[i].method != routes[j].method ||
			    strcmp(routes[i].path, routes[j].path) != 0,
			    "routes %zu and %zu collide", i, j);
	}
}
END_TEST

struct prow {
	int		 line;
	const char	*uri;
	const char	*path;		/* the route expected */
	const char	*param;		/* its asset_id */
};

static const struct prow prows[] = {
	{ __LINE__, "/api/v1/assets", "/api/v1/assets", NULL },
	{ __LINE__, "/api/v1/assets?x=1", "/api/v1/assets", NULL },
	{ __LINE__, "/api/v1/price/BTC", "/api/v1/price/{asset_id}", "BTC" },
	{ __LINE__, "/api/v1/price/btc", "/api/v1/price/{asset_id}", "btc" },
	{ __LINE__, "/api/v1/price/X", "/api/v1/price/{asset_id}", "X" },
	{ __LINE__, "/api/v1/prices/ETH?limit=1", "/api/v1/prices/{asset_id}",
	    "ETH" },
	/* Parameters arrive decoded; validation judges them, not routing. */
	{ __LINE__, "/api/v1/price/..%2F", "/api/v1/price/{asset_id}", "../" },
	{ __LINE__, "/api/v1/price/%3Cscript%3E", "/api/v1/price/{asset_id}",
	    "<script>" },
	{ __LINE__, "/api/v1/price/B%54C", "/api/v1/price/{asset_id}", "BTC" },
	{ __LINE__, "/api/v1/price/{asset_id}", "/api/v1/price/{asset_id}",
	    "{asset_id}" },
	{ __LINE__, "/healthz", "/healthz", NULL },
	{ __LINE__, "/readyz?verbose", "/readyz", NULL },
};

START_TEST(test_match)
{
	const struct prow	*p = &prows[_i];
	const struct route	*rt;
	enum aerr		 err = AERR_OK;

	request("GET", p->uri);
	rt = router_match(&rq, &err);
	ck_assert_msg(rt != NULL, "line %d: %s not matched (%d)", p->line,
	    p->uri, err);
	ck_assert_msg(strcmp(rt->path, p->path) == 0, "line %d: %s", p->line,
	    rt->path);
	if (p->param != NULL) {
		ck_assert_msg(rq.params[0].s != NULL &&
		    strcmp(rq.params[0].s, p->param) == 0 &&
		    rq.params[0].len == strlen(p->param), "line %d: param %s",
		    p->line, rq.params[0].s);
		ck_assert_msg(rq.params[1].s == NULL, "line %d", p->line);
	} else
		ck_assert_msg(rq.params[0].s == NULL, "line %d", p->line);
}
END_TEST

struct nrow {
	int		 line;
	const char	*method;
	const char	*uri;
};

static const struct nrow nrows[] = {
	{ __LINE__, "GET", "/" },
	{ __LINE__, "GET", "/api" },
	{ __LINE__, "GET", "/api/" },
	{ __LINE__, "GET", "/api/v1" },
	{ __LINE__, "GET", "/api/v1/" },
	{ __LINE__, "GET", "/api/v2/assets" },
	{ __LINE__, "GET", "/api/v1/asset" },
	{ __LINE__, "GET", "/api/v1/assetss" },
	{ __LINE__, "GET", "/api/v1/Assets" },
	{ __LINE__, "GET", "/API/v1/assets" },
	{ __LINE__, "GET", "/HEALTHZ" },
	{ __LINE__, "GET", "/healthz.json" },
	{ __LINE__, "GET", "/api/v1/nothing" },
	{ __LINE__, "GET", "/api/v1/admin/alert" },
	/* Trailing slashes. */
	{ __LINE__, "GET", "/api/v1/assets/" },
	{ __LINE__, "GET", "/healthz/" },
	{ __LINE__, "GET", "/readyz/" },
	{ __LINE__, "GET", "/api/v1/price/BTC/" },
	{ __LINE__, "GET", "/api/v1/prices/BTC/?limit=1" },
	{ __LINE__, "GET", "/api/v1/price/" },
	{ __LINE__, "GET", "/api/v1/prices/" },
	{ __LINE__, "GET", "/api/v1/prices/?limit=1" },
	/* Doubled slashes, anywhere. */
	{ __LINE__, "GET", "//api/v1/assets" },
	{ __LINE__, "GET", "/api//v1/assets" },
	{ __LINE__, "GET", "/api/v1//assets" },
	{ __LINE__, "GET", "/api/v1/price//BTC" },
	{ __LINE__, "GET", "/api/v1/price/BTC//" },
	{ __LINE__, "GET", "//healthz" },
	/* Extra or missing segments. */
	{ __LINE__, "GET", "/api/v1/assets/x" },
	{ __LINE__, "GET", "/api/v1/assets/BTC" },
	{ __LINE__, "GET", "/api/v1/price" },
	{ __LINE__, "GET", "/api/v1/prices" },
	{ __LINE__, "GET", "/api/v1/price/BTC/x" },
	{ __LINE__, "GET", "/api/v1/price/BTC/ETH" },
	{ __LINE__, "GET", "/healthz/x" },
	{ __LINE__, "GET", "/x/healthz" },
	{ __LINE__, "GET", "/api/v1/x/assets" },
	/* Dot segments are not resolved: no route has them. */
	{ __LINE__, "GET", "/api/v1/./assets" },
	{ __LINE__, "GET", "/api/v1/x/../assets" },
	{ __LINE__, "GET", "/api/v1%2Fassets" },
	/* Unknown paths stay 404 under any method. */
	{ __LINE__, "POST", "/api/v1/nothing" },
	{ __LINE__, "DELETE", "/api/v1/assets/" },
	{ __LINE__, "BREW", "/api/v1/asset" },
};

START_TEST(test_not_found)
{
	const struct nrow	*n = &nrows[_i];
	enum aerr		 err = AERR_OK;
	char			 allow[64];

	request(n->method, n->uri);
	ck_assert_msg(router_match(&rq, &err) == NULL, "line %d: %s matched",
	    n->line, n->uri);
	ck_assert_msg(err == AERR_NOT_FOUND, "line %d: %d", n->line, err);
	ck_assert_msg(router_allow(&rq, allow, sizeof(allow)) == 0 &&
	    allow[0] == '\0', "line %d: Allow %s", n->line, allow);
	/*
	 * stage_route holds the 404 rather than answering it, so the
	 * request still passes the per-address limit; the rate limit stage
	 * answers it.  Outside /api/v1 no limit applies and it answers at
	 * once (inside, check_ratelimit.c proves it against Redis).
	 */
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	ck_assert_msg(rq.pending == AERR_NOT_FOUND, "line %d: held %d",
	    n->line, rq.pending);
	ck_assert_int_eq(rq.err, AERR_OK);
	ck_assert_ptr_null(rq.route);
	if (strncmp(rq.path, "/api/v1/", 8) != 0) {
		ck_assert_msg(stage_ratelimit(&rq) == AERR_NOT_FOUND,
		    "line %d: not answered", n->line);
		ck_assert_int_eq(rq.err, AERR_NOT_FOUND);
	}
}
END_TEST

struct mrow {
	int		 line;
	const char	*method;
	const char	*uri;
	const char	*allow;
};

static const struct mrow mrows[] = {
	{ __LINE__, "POST", "/api/v1/assets", "GET" },
	{ __LINE__, "PUT", "/api/v1/assets", "GET" },
	{ __LINE__, "PATCH", "/api/v1/assets", "GET" },
	{ __LINE__, "DELETE", "/api/v1/assets", "GET" },
	{ __LINE__, "DELETE", "/api/v1/price/BTC", "GET" },
	{ __LINE__, "POST", "/api/v1/prices/BTC?limit=1", "GET" },
	{ __LINE__, "POST", "/healthz", "GET" },
	{ __LINE__, "DELETE", "/readyz", "GET" },
	/* A method we do not know is not one the path has. */
	{ __LINE__, "BREW", "/api/v1/assets", "GET" },
	{ __LINE__, "get", "/healthz", "GET" },
};

START_TEST(test_method_not_allowed)
{
	const struct mrow	*m = &mrows[_i];
	enum aerr		 err = AERR_OK;
	char			 allow[128];

	request(m->method, m->uri);
	ck_assert_msg(router_match(&rq, &err) == NULL, "line %d: matched",
	    m->line);
	ck_assert_msg(err == AERR_METHOD_NOT_ALLOWED, "line %d: %d", m->line,
	    err);
	ck_assert_msg(router_allow(&rq, allow, sizeof(allow)) ==
	    1, "line %d", m->line);
	ck_assert_msg(strcmp(allow, m->allow) == 0, "line %d: Allow \"%s\"",
	    m->line, allow);
	/* Held for the rate limit stage, as a 404 is. */
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	ck_assert_msg(rq.pending == AERR_METHOD_NOT_ALLOWED, "line %d: held %d",
	    m->line, rq.pending);
	ck_assert_int_eq(rq.err, AERR_OK);
	ck_assert_ptr_null(rq.route);
	if (strncmp(rq.path, "/api/v1/", 8) != 0) {
		ck_assert_msg(stage_ratelimit(&rq) == AERR_METHOD_NOT_ALLOWED,
		    "line %d: not answered", m->line);
		ck_assert_int_eq(rq.err, AERR_METHOD_NOT_ALLOWED);
	}
}
END_TEST

/* The first error held wins; a later stage cannot replace it. */
START_TEST(test_defer_first_wins)
{
	request("GET", "/api/v1/nothing");
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	ck_assert_int_eq(rq.pending, AERR_NOT_FOUND);
	ck_assert_ptr_null(rq.pending_message);
	ck_assert_int_eq(stage_defer(&rq, AERR_UNAUTHORIZED, "later"),
	    AERR_OK);
	ck_assert_int_eq(rq.pending, AERR_NOT_FOUND);
	ck_assert_ptr_null(rq.pending_message);
	ck_assert_int_eq(rq.err, AERR_OK);

	request("GET", "/api/v1/assets");
	ck_assert_int_eq(rq.pending, AERR_OK);
	ck_assert_int_eq(stage_defer(&rq, AERR_INVALID_INPUT, "first"),
	    AERR_OK);
	ck_assert_int_eq(stage_defer(&rq, AERR_UNAUTHORIZED, "second"),
	    AERR_OK);
	ck_assert_int_eq(rq.pending, AERR_INVALID_INPUT);
	ck_assert_str_eq(rq.pending_message, "first");
	ck_assert_int_eq(rq.err, AERR_OK);
}
END_TEST

/*
 * The Allow list names exactly the methods the table has for a path:
 * computed here from routes[] so it stays right as routes are added.
 */
START_TEST(test_allow_lists_table)
{
	const struct route	*rt = &routes[_i];
	char			 uri[256], allow[256], want[256];
	size_t			 i, used = 0;
	int			 n = 0;

	route_uri(rt->path, "ETH", uri, sizeof(uri));
	want[0] = '\0';
	for (i = 0; i < nroutes; i++)
		if (strcmp(routes[i].path, rt->path) == 0) {
			used += (size_t)snprintf(want + used,
			    sizeof(want) - used, "%s%s", n ? ", " : "",
			    methods[routes[i].method]);
			n++;
		}
	request(methods[rt->method], uri);
	ck_assert_int_eq(router_allow(&rq, allow, sizeof(allow)), n);
	ck_assert_str_eq(allow, want);
	ck_assert_ptr_null(strstr(allow, "OPTIONS"));
}
END_TEST

START_TEST(test_allow_small_buffer)
{
	char	allow[8];

	request("POST", "/api/v1/assets");
	/* Never overruns: a buffer too small lists what fits. */
	memset(allow, '#', sizeof(allow));
	ck_assert_int_eq(router_allow(&rq, allow, 4), 1);
	ck_assert_str_eq(allow, "GET");
	ck_assert_int_eq(allow[4], '#');
	memset(allow, '#', sizeof(allow));
	ck_assert_int_eq(router_allow(&rq, allow, 3), 0);
	ck_assert_str_eq(allow, "");
	ck_assert_int_eq(allow[3], '#');
	ck_assert_int_eq(router_allow(&rq, allow, 1), 0);
	ck_assert_str_eq(allow, "");
}
END_TEST

START_TEST(test_params_reset)
{
	enum aerr	err = AERR_OK;

	/* A parameter-less route leaves no stale parameter behind. */
	request("GET", "/api/v1/assets");
	rq.params[0].s = "STALE";
	rq.params[0].len = 5;
	ck_assert_ptr_nonnull(router_match(&rq, &err));
	ck_assert_ptr_null(rq.params[0].s);
	ck_assert_uint_eq(rq.params[0].len, 0);
}
END_TEST

Suite *
router_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("router");
	tc = tcase_create("router");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_each_route, 0, (int)nroutes);
	tcase_add_test(tc, test_table_sane);
	tcase_add_loop_test(tc, test_match, 0,
	    sizeof(prows) / sizeof(prows[0]));
	tcase_add_loop_test(tc, test_not_found, 0,
	    sizeof(nrows) / sizeof(nrows[0]));
	tcase_add_loop_test(tc, test_method_not_allowed, 0,
	    sizeof(mrows) / sizeof(mrows[0]));
	tcase_add_loop_test(tc, test_allow_lists_table, 0, (int)nroutes);
	tcase_add_test(tc, test_defer_first_wins);
	tcase_add_test(tc, test_allow_small_buffer);
	tcase_add_test(tc, test_params_reset);
	suite_add_tcase(s, tc);
	return s;
}
