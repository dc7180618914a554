/*
 * check_json.c - the respond stage and the JSON it writes: the status
 * line, API.md's security headers on every response, the request id,
 * HSTS only over HTTPS, CORS only for listed origins, the one error shape
 * with 500 masked, Retry-After and Allow; and the request arena that owns
 * every response (destructors at reset, large blocks, arena_printf).
 *
 * A request is driven through stage_parse with a small table of CGI
 * parameters and its output captured by the write callback, as libfcgi
 * would receive it.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "aspida.h"
#include "check_aspida.h"

#define MAX_PARAMS	16

static struct arena	*ar;
static struct req	 rq;
static const char	*params[2 * MAX_PARAMS];
static size_t		 nparams;

static struct {
	char	 data[256 * 1024];
	size_t	 len;
	int	 writes;
	char	*body;		/* after the blank line */
	size_t	 bodylen;
} out;

static const char *
io_param(void *ctx, const char *name)
{
	size_t	i;

	ck_assert_ptr_eq(ctx, &out);
	for (i = 0; i < nparams; i++)
		if (strcmp(params[2 * i], name) == 0)
			return params[2 * i + 1];
	return NULL;
}

static int
io_write(void *ctx, const char *s, size_t n)
{
	ck_assert_ptr_eq(ctx, &out);
	ck_assert_uint_lt(n, sizeof(out.data) - out.len);
	memcpy(out.data + out.len, s, n);
	out.len += n;
	out.data[out.len] = '\0';
	out.writes++;
	return (int)n;
}

static const struct req_io test_io = {
	.param = io_param,
	.write = io_write,
	.ctx = &out,
};

static void	param(const char *, const char *);

/* Forgets the parameters of the last request; every request has a peer. */
static void
reset_params(void)
{
	nparams = 0;
	param("REMOTE_ADDR", "192.0.2.10");
}

static void
setup(void)
{
	check_conf_setup();
	ar = arena_new();
	reset_params();
	memset(&out, 0, sizeof(out));
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
	check_conf_setup();
}

/* Sets a CGI parameter for the next request, replacing an earlier one. */
static void
param(const char *name, const char *value)
{
	size_t	i;

	for (i = 0; i < nparams; i++)
		if (strcmp(params[2 * i], name) == 0) {
			params[2 * i + 1] = value;
			return;
		}
	ck_assert_uint_lt(nparams, MAX_PARAMS);
	params[2 * nparams] = name;
	params[2 * nparams + 1] = value;
	nparams++;
}

/* A GET of uri, with whatever param() added before. */
static void
get(const char *uri)
{
	param("REQUEST_METHOD", "GET");
	param("REQUEST_URI", uri);
}

/* Starts a request as the pipeline does: init, then the parse stage. */
static struct req *
begin(void)
{
	enum aerr	e;

	arena_reset(ar);
	memset(&out, 0, sizeof(out));
	req_init(&rq, ar, &test_io);
	e = stage_parse(&rq);
	if (e != AERR_OK && rq.err == AERR_OK)
		rq.err = e;
	return &rq;
}

/* Responds and splits the output into head and body. */
static void
finish(void)
{
	char	*p;

	stage_respond(&rq);
	ck_assert_uint_gt(out.len, 0);
	p = strstr(out.data, "\r\n\r\n");
	ck_assert_msg(p != NULL, "no end of headers in %s", out.data);
	*p = '\0';		/* the head is now a string of its own */
	out.body = p + 4;
	out.bodylen = out.len - (size_t)(out.body - out.data);
}

/* A request for uri ending in err (with message msg), responded. */
static void
request(const char *uri, enum aerr err, const char *msg)
{
	get(uri);
	(void)begin();
	if (err != AERR_OK)
		(void)req_fail(&rq, err, msg);
	finish();
}

/*
 * Returns the value of header name (exact case), or NULL; the head must
 * carry it at most once.
 */
static const char *
header(const char *name)
{
	static char	 val[1024];
	const char	*line, *end, *found = NULL;
	size_t		 nlen = strlen(name), vlen = 0;

	/* The first line is the Status pseudo-header. */
	for (line = out.data; *line != '\0'; line = end + 2) {
		if ((end = strstr(line, "\r\n")) == NULL)
			end = line + strlen(line);
		if ((size_t)(end - line) > nlen + 1 &&
		    strncmp(line, name, nlen) == 0 &&
		    line[nlen] == ':' && line[nlen + 1] == ' ') {
			ck_assert_msg(found == NULL, "%s twice", name);
			found = line + nlen + 2;
			vlen = (size_t)(end - found);
		}
		if (*end == '\0')
			break;
	}
	if (found == NULL)
		return NULL;
	ck_assert_uint_lt(vlen, sizeof(val));
	memcpy(val, found, vlen);
	val[vlen] = '\0';
	return val;
}

static void
assert_header(int line, const char *name, const char *want)
{
	const char	*v = header(name);

	ck_assert_msg(v != NULL, "line %d: no %s in\n%s", line, name, out.data);
	ck_assert_msg(strcmp(v, want) == 0, "line %d: %s: \"%s\", want \"%s\"",
	    line, name, v, want);
}

/* Every header name in the head, checked against a prefix. */
static int
any_header_prefixed(const char *prefix)
{
	const char	*line;

	for (line = out.data; line != NULL; line = strstr(line, "\r\n")) {
		if (line != out.data)
			line += 2;
		if (strncasecmp(line, prefix, strlen(prefix)) == 0)
			return 1;
	}
	return 0;
}

/* API.md "Headers on every response", and what aspida adds to all. */
static void
assert_common(int line)
{
	const char	*id;
	size_t		 i;
	char		 want[32];

	ck_assert_msg(strncmp(out.data, "Status: ", 8) == 0, "line %d: %s",
	    line, out.data);
	(void)snprintf(want, sizeof(want), "%d ", rq.status);
	ck_assert_msg(strncmp(out.data + 8, want, strlen(want)) == 0,
	    "line %d: status %s, want %d", line, out.data + 8, rq.status);
	assert_header(line, "X-Content-Type-Options", "nosniff");
	assert_header(line, "X-Frame-Options", "DENY");
	assert_header(line, "Content-Security-Policy",
	    "default-src 'none'; frame-ancestors 'none'");
	assert_header(line, "Referrer-Policy", "no-referrer");
	assert_header(line, "Cache-Control", "no-store");
	assert_header(line, "X-XSS-Protection", "0");
	assert_header(line, "Vary", "Origin");
	id = header("X-Request-Id");
	ck_assert_msg(id != NULL, "line %d: no X-Request-Id", line);
	ck_assert_msg(strlen(id) == ASPIDA_REQID_LEN, "line %d: id %s", line,
	    id);
	for (i = 0; i < ASPIDA_REQID_LEN; i++)
		ck_assert_msg(isdigit((unsigned char)id[i]) ||
		    (id[i] >= 'a' && id[i] <= 'f'), "line %d: id %s", line, id);
	ck_assert_str_eq(id, rq.id);
	/* Never a wildcard origin, whatever the request. */
	ck_assert_msg(strstr(out.data, "Access-Control-Allow-Origin: *") ==
	    NULL, "line %d: wildcard origin", line);
	/* Content-Length tells the truth, except on 204 (no body at all). */
	if (rq.status == 204) {
		ck_assert_msg(header("Content-Length") == NULL, "line %d", line);
		ck_assert_msg(out.bodylen == 0, "line %d: 204 with a body",
		    line);
	} else {
		(void)snprintf(want, sizeof(want), "%zu", out.bodylen);
		assert_header(line, "Content-Length", want);
	}
}

/*
 * The error shape, exactly: {"error":{"code","message","request_id"}} and
 * nothing else.  Returns the message for further checks.
 */
static const char *
assert_error(int line, enum aerr e)
{
	static char		 msg[512];
	struct json_object	*root, *err, *v;
	char			 want[16];

	assert_common(line);
	(void)snprintf(want, sizeof(want), "%d", aerrs[e].status);
	ck_assert_msg(rq.status == aerrs[e].status, "line %d: status %d",
	    line, rq.status);
	ck_assert_msg(strncmp(out.data + 8, want, strlen(want)) == 0,
	    "line %d", line);
	assert_header(line, "Content-Type", "application/json; charset=utf-8");
	root = json_tokener_parse(out.body);
	ck_assert_msg(root != NULL, "line %d: body %s", line, out.body);
	ck_assert_msg(json_object_is_type(root, json_type_object) &&
	    json_object_object_length(root) == 1 &&
	    json_object_object_get_ex(root, "error", &err) &&
	    json_object_is_type(err, json_type_object) &&
	    json_object_object_length(err) == 3, "line %d: shape %s", line,
	    out.body);
	ck_assert_msg(json_object_object_get_ex(err, "code", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), aerrs[e].code) == 0,
	    "line %d: code in %s", line, out.body);
	ck_assert_msg(json_object_object_get_ex(err, "request_id", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), rq.id) == 0,
	    "line %d: request_id in %s", line, out.body);
	ck_assert_msg(json_object_object_get_ex(err, "message", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) > 0, "line %d: message in %s", line,
	    out.body);
	(void)snprintf(msg, sizeof(msg), "%s", json_object_get_string(v));
	json_object_put(root);
	return msg;
}

START_TEST(test_success)
{
	struct json_object	*o;

	get("/api/v1/assets");
	ck_assert_int_eq(begin()->err, AERR_OK);
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ok"));
	ck_assert_int_eq(json_respond(&rq, 200, o), AERR_OK);
	finish();
	ck_assert_int_eq(strncmp(out.data, "Status: 200 OK\r\n", 16), 0);
	assert_common(__LINE__);
	assert_header(__LINE__, "Content-Type",
	    "application/json; charset=utf-8");
	ck_assert_str_eq(out.body, "{\"status\":\"ok\"}");
	ck_assert_ptr_null(header("Strict-Transport-Security"));
	ck_assert_ptr_null(header("Retry-After"));
	ck_assert_ptr_null(header("Allow"));
	ck_assert_int_eq(any_header_prefixed("Access-Control-"), 0);
}
END_TEST

START_TEST(test_created_and_204)
{
	get("/api/v1/assets");
	(void)begin();
	(void)json_respond(&rq, 201, json_object_new_object());
	finish();
	ck_assert_int_eq(strncmp(out.data, "Status: 201 Created\r\n", 21), 0);
	assert_common(__LINE__);
	ck_assert_str_eq(out.body, "{}");

	reset_params();
	get("/api/v1/assets");
	(void)begin();
	rq.status = 204;
	finish();
	ck_assert_int_eq(strncmp(out.data, "Status: 204 No Content\r\n", 24), 0);
	assert_common(__LINE__);
}
END_TEST

START_TEST(test_csv)
{
	param("HTTP_ACCEPT", "text/csv");
	get("/api/v1/prices/BTC");
	ck_assert_int_eq(begin()->want_csv, 1);
	buf_puts(&rq.out, "ts,price\r\n2026-11-28T12:00:00Z,1\r\n");
	rq.content_type_out = "text/csv; charset=utf-8";
	finish();
	assert_common(__LINE__);
	assert_header(__LINE__, "Content-Type", "text/csv; charset=utf-8");
	ck_assert_str_eq(out.body, "ts,price\r\n2026-11-28T12:00:00Z,1\r\n");
}
END_TEST

START_TEST(test_request_id_differs)
{
	char	first[ASPIDA_REQID_LEN + 1];

	request("/api/v1/assets", AERR_NOT_FOUND, NULL);
	assert_error(__LINE__, AERR_NOT_FOUND);
	(void)snprintf(first, sizeof(first), "%s", header("X-Request-Id"));
	reset_params();
	/* A client's own id is never taken. */
	param("HTTP_X_REQUEST_ID", "00000000000000000000000000000000");
	request("/api/v1/assets", AERR_NOT_FOUND, NULL);
	assert_error(__LINE__, AERR_NOT_FOUND);
	ck_assert_str_ne(header("X-Request-Id"), first);
	ck_assert_str_ne(header("X-Request-Id"),
	    "00000000000000000000000000000000");
}
END_TEST

struct hstsrow {
	int		 line;
	const char	*https;		/* HTTPS parameter, or NULL */
	int		 hsts;
};

static const struct hstsrow hstsrows[] = {
	{ __LINE__, NULL, 0 },
	{ __LINE__, "on", 1 },
	{ __LINE__, "ON", 1 },
	{ __LINE__, "off", 0 },
	{ __LINE__, "", 0 },
	{ __LINE__, "1", 0 },
	{ __LINE__, "yes", 0 },
};

START_TEST(test_hsts)
{
	const struct hstsrow	*h = &hstsrows[_i];
	const char		*v;

	if (h->https != NULL)
		param("HTTPS", h->https);
	/* Errors and successes alike. */
	request("/api/v1/assets", AERR_FORBIDDEN, NULL);
	assert_error(h->line, AERR_FORBIDDEN);
	v = header("Strict-Transport-Security");
	if (!h->hsts) {
		ck_assert_msg(v == NULL, "line %d: HSTS without HTTPS", h->line);
		return;
	}
	assert_header(h->line, "Strict-Transport-Security",
	    "max-age=31536000; includeSubDomains");
	request("/api/v1/assets", AERR_OK, NULL);
	assert_common(h->line);
	assert_header(h->line, "Strict-Transport-Security",
	    "max-age=31536000; includeSubDomains");
}
END_TEST

/* Every error of the table, in the one shape, with its status line. */
START_TEST(test_every_error)
{
	enum aerr	 e = (enum aerr)_i;
	const char	*msg;
	char		 want[64];

	request("/api/v1/assets", e, NULL);
	msg = assert_error(__LINE__, e);
	ck_assert_str_eq(msg, aerrs[e].message);
	(void)snprintf(want, sizeof(want), "Status: %d ", aerrs[e].status);
	ck_assert_int_eq(strncmp(out.data, want, strlen(want)), 0);
	ck_assert_msg(strstr(out.data, "Unknown\r\n") == NULL,
	    "no reason phrase for %d", aerrs[e].status);
}
END_TEST

struct msgrow {
	int		 line;
	enum aerr	 err;
	const char	*message;	/* set by the stage */
	const char	*want;		/* NULL: the table's */
};

static const struct msgrow msgrows[] = {
	{ __LINE__, AERR_INVALID_INPUT, "limit must be between 1 and 1000.",
	    "limit must be between 1 and 1000." },
	{ __LINE__, AERR_INVALID_ASSET, NULL, NULL },
	{ __LINE__, AERR_UNAUTHORIZED, "Pages larger than 100 need credentials.",
	    "Pages larger than 100 need credentials." },
	{ __LINE__, AERR_CONFLICT, "Use /api/v1/keys to list your keys.",
	    "Use /api/v1/keys to list your keys." },
	/* A 500 is masked, whatever the stage said. */
	{ __LINE__, AERR_INTERNAL,
	    "PQexecPrepared: ERROR: relation \"users\" does not exist", NULL },
	{ __LINE__, AERR_INTERNAL, "", NULL },
	{ __LINE__, AERR_INTERNAL, "hiredis: Connection refused", NULL },
};

START_TEST(test_error_messages)
{
	const struct msgrow	*m = &msgrows[_i];
	const char		*msg;

	request("/api/v1/assets", m->err, m->message);
	msg = assert_error(m->line, m->err);
	ck_assert_msg(strcmp(msg, m->want ? m->want : aerrs[m->err].message) ==
	    0, "line %d: message \"%s\"", m->line, msg);
	if (m->want == NULL && m->message != NULL && *m->message != '\0')
		ck_assert_msg(strstr(out.data, m->message) == NULL &&
		    strstr(out.body, "relation") == NULL &&
		    strstr(out.body, "hiredis") == NULL,
		    "line %d: internals leaked: %s", m->line, out.body);
}
END_TEST

START_TEST(test_no_slash_escape)
{
	struct json_object	*o;

	/* Error messages ... */
	request("/api/v1/assets", AERR_INVALID_INPUT, "Try /api/v1/assets.");
	ck_assert_str_eq(assert_error(__LINE__, AERR_INVALID_INPUT),
	    "Try /api/v1/assets.");
	ck_assert_ptr_nonnull(strstr(out.body, "\"Try /api/v1/assets.\""));
	ck_assert_ptr_null(strstr(out.body, "\\/"));

	/* ... and handler bodies. */
	reset_params();
	get("/api/v1/assets");
	(void)begin();
	o = json_object_new_object();
	json_object_object_add(o, "path",
	    json_object_new_string("/api/v1/prices/BTC?cursor=a/b"));
	json_object_object_add(o, "html",
	    json_object_new_string("</script>"));
	(void)json_respond(&rq, 200, o);
	finish();
	assert_common(__LINE__);
	ck_assert_str_eq(out.body,
	    "{\"path\":\"/api/v1/prices/BTC?cursor=a/b\",\"html\":\"</script>\"}");
}
END_TEST

START_TEST(test_json_text)
{
	struct json_object	*o;
	const char		*s;
	size_t			 len = 0;

	o = json_object_new_object();
	json_object_object_add(o, "a", json_object_new_string("x/y"));
	json_object_object_add(o, "b", json_object_new_int(1));
	json_object_object_add(o, "c", NULL);
	json_object_object_add(o, "d", json_object_new_string("\"\\\n\x01"));
	s = json_text(o, &len);
	ck_assert_str_eq(s,
	    "{\"a\":\"x/y\",\"b\":1,\"c\":null,\"d\":\"\\\"\\\\\\n\\u0001\"}");
	ck_assert_uint_eq(len, strlen(s));
	json_object_put(o);
}
END_TEST

START_TEST(test_json_respond_replaces)
{
	struct json_object	*o;

	get("/api/v1/assets");
	(void)begin();
	buf_puts(&rq.out, "left over");
	rq.content_type_out = "text/csv; charset=utf-8";
	o = json_object_new_array();
	json_object_array_add(o, json_object_new_int(1));
	ck_assert_int_eq(json_respond(&rq, 201, o), AERR_OK);
	ck_assert_int_eq(rq.status, 201);
	ck_assert_str_eq(rq.content_type_out,
	    "application/json; charset=utf-8");
	ck_assert_str_eq(buf_cstr(&rq.out), "[1]");
	/* An error after a handler's body replaces it. */
	(void)req_fail(&rq, AERR_INTERNAL, "after the body");
	finish();
	assert_error(__LINE__, AERR_INTERNAL);
	ck_assert_ptr_null(strstr(out.body, "[1]"));
}
END_TEST

START_TEST(test_retry_after)
{
	/* 503s get the configured default ... */
	request("/api/v1/assets", AERR_UNAVAILABLE, NULL);
	assert_error(__LINE__, AERR_UNAVAILABLE);
	assert_header(__LINE__, "Retry-After", "5");
	conf->retry_after_unavailable = 17;
	request("/api/v1/assets", AERR_BUSY, NULL);
	assert_error(__LINE__, AERR_BUSY);
	assert_header(__LINE__, "Retry-After", "17");

	/* ... unless the stage set its own. */
	get("/api/v1/assets");
	(void)begin();
	rq.retry_after = 42;
	(void)req_fail(&rq, AERR_UNAVAILABLE, NULL);
	finish();
	assert_error(__LINE__, AERR_UNAVAILABLE);
	assert_header(__LINE__, "Retry-After", "42");

	/* 429 and 423 carry what the stage computed. */
	get("/api/v1/assets");
	(void)begin();
	rq.retry_after = 3;
	(void)req_fail(&rq, AERR_RATE_LIMITED, NULL);
	finish();
	assert_error(__LINE__, AERR_RATE_LIMITED);
	assert_header(__LINE__, "Retry-After", "3");

	/* Other errors have none. */
	request("/api/v1/assets", AERR_NOT_FOUND, NULL);
	assert_error(__LINE__, AERR_NOT_FOUND);
	ck_assert_ptr_null(header("Retry-After"));
}
END_TEST

/*
 * stage_route holds a 404 or 405 in r->pending; the rate limit stage
 * answers it, as here, once the address has passed its limit
 * (check_ratelimit.c drives that stage itself against Redis).
 */
static void
answer_held(int line, enum aerr want)
{
	ck_assert_msg(rq.pending == want, "line %d: held %d", line,
	    rq.pending);
	ck_assert_msg(rq.err == AERR_OK, "line %d: answered early", line);
	(void)req_fail(&rq, rq.pending, rq.pending_message);
}

struct allowrow {
	int		 line;
	const char	*method;
	const char	*uri;
	const char	*allow;
};

static const struct allowrow allowrows[] = {
	{ __LINE__, "POST", "/api/v1/assets", "GET" },
	{ __LINE__, "DELETE", "/api/v1/price/BTC", "GET" },
	{ __LINE__, "PUT", "/api/v1/prices/BTC?limit=1", "GET" },
	{ __LINE__, "POST", "/healthz", "GET" },
	{ __LINE__, "BREW", "/readyz", "GET" },
};

START_TEST(test_allow)
{
	const struct allowrow	*a = &allowrows[_i];

	param("REQUEST_METHOD", a->method);
	param("REQUEST_URI", a->uri);
	ck_assert_int_eq(begin()->err, AERR_OK);
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	answer_held(a->line, AERR_METHOD_NOT_ALLOWED);
	finish();
	assert_error(a->line, AERR_METHOD_NOT_ALLOWED);
	assert_header(a->line, "Allow", a->allow);
}
END_TEST

START_TEST(test_no_allow_on_404)
{
	param("REQUEST_METHOD", "POST");
	param("REQUEST_URI", "/api/v1/nothing");
	(void)begin();
	ck_assert_int_eq(stage_route(&rq), AERR_OK);
	answer_held(__LINE__, AERR_NOT_FOUND);
	finish();
	assert_error(__LINE__, AERR_NOT_FOUND);
	ck_assert_ptr_null(header("Allow"));
}
END_TEST

static char	*origins[] = {
	"https://app.example",
	"http://127.0.0.1:8080",
};

static void
cors_setup(void)
{
	setup();
	conf->cors_origins = origins;
	conf->ncors_origins = sizeof(origins) / sizeof(origins[0]);
}

struct corsrow {
	int		 line;
	const char	*method;
	const char	*origin;	/* NULL: none sent */
	int		 listed;
};

static const struct corsrow corsrows[] = {
	{ __LINE__, "GET", "https://app.example", 1 },
	{ __LINE__, "GET", "http://127.0.0.1:8080", 1 },
	{ __LINE__, "POST", "https://app.example", 1 },
	{ __LINE__, "OPTIONS", "https://app.example", 1 },
	{ __LINE__, "OPTIONS", "http://127.0.0.1:8080", 1 },
	{ __LINE__, "GET", NULL, 0 },
	{ __LINE__, "OPTIONS", NULL, 0 },
	{ __LINE__, "GET", "https://evil.example", 0 },
	{ __LINE__, "OPTIONS", "https://evil.example", 0 },
	{ __LINE__, "GET", "https://app.example.evil.example", 0 },
	{ __LINE__, "GET", "https://app.example/", 0 },
	{ __LINE__, "GET", "https://app.exampl", 0 },
	{ __LINE__, "GET", "http://app.example", 0 },
	{ __LINE__, "GET", "https://app.example:443", 0 },
	{ __LINE__, "GET", "null", 0 },
	{ __LINE__, "GET", "*", 0 },
	{ __LINE__, "OPTIONS", "*", 0 },
	{ __LINE__, "GET", "https://app.example\r\nSet-Cookie: x=1", 0 },
};

START_TEST(test_cors)
{
	const struct corsrow	*c = &corsrows[_i];
	int			 preflight = strcmp(c->method, "OPTIONS") == 0;

	param("REQUEST_METHOD", c->method);
	param("REQUEST_URI", "/api/v1/prices/BTC");
	if (c->origin != NULL)
		param("HTTP_ORIGIN", c->origin);
	(void)begin();
	if (preflight)
		ck_assert_msg(rq.err == AERR_DONE && rq.status == 204,
		    "line %d: preflight not answered", c->line);
	finish();
	assert_common(c->line);
	/* Preflights are answered for any origin; only listed ones get CORS. */
	ck_assert_msg(rq.status == (preflight ? 204 : 200), "line %d: %d",
	    c->line, rq.status);
	if (!c->listed) {
		ck_assert_msg(!any_header_prefixed("Access-Control-"),
		    "line %d: CORS for an unlisted origin:\n%s", c->line,
		    out.data);
		ck_assert_msg(strstr(out.data, "Set-Cookie") == NULL,
		    "line %d", c->line);
		return;
	}
	assert_header(c->line, "Access-Control-Allow-Origin", c->origin);
	assert_header(c->line, "Access-Control-Allow-Credentials", "true");
	assert_header(c->line, "Access-Control-Expose-Headers",
	    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
	    "Retry-After, X-Request-Id");
	if (!preflight) {
		ck_assert_ptr_null(header("Access-Control-Allow-Methods"));
		ck_assert_ptr_null(header("Access-Control-Max-Age"));
		return;
	}
	ck_assert_msg(header("Access-Control-Allow-Methods") != NULL,
	    "line %d", c->line);
	ck_assert_ptr_nonnull(strstr(header("Access-Control-Allow-Methods"),
	    "GET"));
	assert_header(c->line, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type, X-API-Key, X-CSRF-Token, "
	    "Idempotency-Key");
	assert_header(c->line, "Access-Control-Max-Age", "600");
}
END_TEST

START_TEST(test_cors_none_configured)
{
	/* An empty cors_origins lists nobody, not everybody. */
	conf->cors_origins = NULL;
	conf->ncors_origins = 0;
	param("HTTP_ORIGIN", "https://app.example");
	request("/api/v1/assets", AERR_OK, NULL);
	assert_common(__LINE__);
	ck_assert_int_eq(any_header_prefixed("Access-Control-"), 0);
}
END_TEST

START_TEST(test_cors_on_errors)
{
	/* A listed origin can read our errors too (and their request id). */
	param("HTTP_ORIGIN", "https://app.example");
	request("/api/v1/assets", AERR_RATE_LIMITED, NULL);
	assert_error(__LINE__, AERR_RATE_LIMITED);
	assert_header(__LINE__, "Access-Control-Allow-Origin",
	    "https://app.example");
}
END_TEST

START_TEST(test_extra_headers)
{
	get("/api/v1/assets");
	(void)begin();
	req_header(&rq, "RateLimit-Limit", "60");
	req_header(&rq, "Link", "</api/v1/prices/BTC?cursor=x>; rel=\"next\"");
	finish();
	assert_common(__LINE__);
	assert_header(__LINE__, "RateLimit-Limit", "60");
	assert_header(__LINE__, "Link",
	    "</api/v1/prices/BTC?cursor=x>; rel=\"next\"");
}
END_TEST

START_TEST(test_parse_failure_responds)
{
	char	uri[ASPIDA_MAX_URI + 2];

	/* Whatever stage_parse refused still gets the full set of headers. */
	memset(uri, 'a', sizeof(uri) - 1);
	uri[0] = '/';
	uri[sizeof(uri) - 1] = '\0';
	get(uri);
	ck_assert_int_eq(begin()->err, AERR_INVALID_INPUT);
	finish();
	assert_error(__LINE__, AERR_INVALID_INPUT);
}
END_TEST

/* Arena. */

static int	 order[8];
static int	 norder;

static void
record(void *p)
{
	ck_assert_int_lt(norder, 8);
	order[norder++] = *(int *)p;
}

START_TEST(test_arena_defer)
{
	static int	 ids[3] = { 1, 2, 3 };
	struct arena	*a;

	norder = 0;
	a = arena_new();
	arena_defer(a, record, &ids[0]);
	arena_defer(a, record, &ids[1]);
	arena_defer(a, record, NULL);		/* nothing to release */
	arena_defer(a, record, &ids[2]);
	ck_assert_int_eq(norder, 0);
	arena_reset(a);
	/* All of them, once, newest first. */
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 3);
	ck_assert_int_eq(order[1], 2);
	ck_assert_int_eq(order[2], 1);
	arena_reset(a);
	ck_assert_int_eq(norder, 3);
	/* arena_free runs the ones still pending. */
	arena_defer(a, record, &ids[1]);
	arena_free(a);
	ck_assert_int_eq(norder, 4);
	ck_assert_int_eq(order[3], 2);
	arena_free(NULL);
}
END_TEST

static void
json_put(void *o)
{
	json_object_put(o);
}

START_TEST(test_arena_defer_json)
{
	struct arena		*a;
	struct json_object	*o;

	/* Library objects go with the arena; valgrind sees the rest. */
	a = arena_new();
	o = json_object_new_object();
	json_object_object_add(o, "k", json_object_new_string("v"));
	arena_defer(a, json_put, o);
	arena_reset(a);
	o = json_object_new_array();
	arena_defer(a, json_put, o);
	arena_free(a);
}
END_TEST

START_TEST(test_arena_large)
{
	struct arena	*a;
	unsigned char	*p, *q, *small;
	size_t		 i, sizes[] = { 65536, 65537, 1 << 20, 3 << 20 };

	a = arena_new();
	small = arena_alloc(a, 10);
	memset(small, 's', 10);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = arena_alloc(a, sizes[i]);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		/* Zeroed, writable end to end. */
		ck_assert_int_eq(p[0], 0);
		ck_assert_int_eq(p[sizes[i] - 1], 0);
		memset(p, 0xee, sizes[i]);
		q = arena_alloc(a, 32);
		ck_assert_int_eq(q[0], 0);
		memset(q, 0xdd, 32);
		ck_assert_int_eq(p[sizes[i] - 1], 0xee);
	}
	/* The small block before them is untouched. */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(small[i], 's');
	ck_assert_uint_ge(arena_used(a), 65536 + 65537 + (1 << 20) + (3 << 20));
	arena_reset(a);
	ck_assert_uint_eq(arena_used(a), 0);
	/* Many small blocks across several chunks. */
	for (i = 0; i < 10000; i++) {
		p = arena_alloc(a, 100);
		ck_assert_int_eq(p[99], 0);
		memset(p, (int)(i & 0xff), 100);
	}
	ck_assert_uint_ge(arena_used(a), 10000 * 100);
	arena_free(a);
}
END_TEST

START_TEST(test_arena_wipe)
{
	struct arena	*a;
	char		*p;
	size_t		 i;

	/*
	 * The first chunk survives a reset; what a request left in it is
	 * wiped, so the next request cannot read its secrets.
	 */
	a = arena_new();
	p = arena_alloc(a, 64);
	memcpy(p, "Bearer eyJhbGciOiJIUzI1NiJ9.secret", 35);
	arena_reset(a);
	for (i = 0; i < 64; i++)
		ck_assert_msg(p[i] == 0, "byte %zu survived the reset", i);
	/* Reused memory comes back zeroed. */
	p = arena_alloc(a, 64);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(p[i], 0);
	ck_assert_uint_ge(arena_used(a), 64);
	/* Zero-size allocations are distinct. */
	ck_assert_ptr_ne(arena_alloc(a, 0), arena_alloc(a, 0));
	arena_free(a);
}
END_TEST

START_TEST(test_arena_strings)
{
	struct arena	*a;
	char		*s, big[100000];

	a = arena_new();
	ck_assert_str_eq(arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.5),
	    "x-42-003.5");
	ck_assert_str_eq(arena_printf(a, "%s", ""), "");
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = arena_printf(a, "<%s>", big);
	ck_assert_uint_eq(strlen(s), sizeof(big) + 1);
	ck_assert_int_eq(s[0], '<');
	ck_assert_int_eq(s[sizeof(big)], '>');
	s = arena_strndup(a, "abcdef", 3);
	ck_assert_str_eq(s, "abc");
	s = arena_strndup(a, "a\0bc", 4);
	ck_assert_int_eq(memcmp(s, "a\0bc", 5), 0);
	ck_assert_str_eq(arena_strdup(a, "hello"), "hello");
	arena_free(a);
}
END_TEST

START_TEST(test_buf)
{
	struct arena	*a;
	struct buf	 b;
	size_t		 i;

	a = arena_new();
	buf_init(&b, a);
	ck_assert_str_eq(buf_cstr(&b), "");
	for (i = 0; i < 5000; i++)
		buf_printf(&b, "%zu,", i);
	buf_append(&b, "x\0y", 3);
	ck_assert_uint_eq(b.len, strlen(b.data) + 2);
	ck_assert_int_eq(strncmp(b.data, "0,1,2,3,", 8), 0);
	ck_assert_int_eq(memcmp(b.data + b.len - 8, "4999,x\0y", 9), 0);
	arena_free(a);
}
END_TEST

Suite *
json_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("json");

	tc = tcase_create("respond");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_success);
	tcase_add_test(tc, test_created_and_204);
	tcase_add_test(tc, test_csv);
	tcase_add_test(tc, test_request_id_differs);
	tcase_add_loop_test(tc, test_hsts, 0,
	    sizeof(hstsrows) / sizeof(hstsrows[0]));
	tcase_add_loop_test(tc, test_every_error, AERR_INVALID_INPUT,
	    AERR__MAX);
	tcase_add_loop_test(tc, test_error_messages, 0,
	    sizeof(msgrows) / sizeof(msgrows[0]));
	tcase_add_test(tc, test_no_slash_escape);
	tcase_add_test(tc, test_json_text);
	tcase_add_test(tc, test_json_respond_replaces);
	tcase_add_test(tc, test_retry_after);
	tcase_add_loop_test(tc, test_allow, 0,
	    sizeof(allowrows) / sizeof(allowrows[0]));
	tcase_add_test(tc, test_no_allow_on_404);
	tcase_add_test(tc, test_extra_headers);
	tcase_add_test(tc, test_parse_failure_responds);
	suite_add_tcase(s, tc);

	tc = tcase_create("cors");
	tcase_add_checked_fixture(tc, cors_setup, teardown);
	tcase_add_loop_test(tc, test_cors, 0,
	    sizeof(corsrows) / sizeof(corsrows[0]));
	tcase_add_test(tc, test_cors_none_configured);
	tcase_add_test(tc, test_cors_on_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("arena");
	tcase_add_test(tc, test_arena_defer);
	tcase_add_test(tc, test_arena_defer_json);
	tcase_add_test(tc, test_arena_large);
	tcase_add_test(tc, test_arena_wipe);
	tcase_add_test(tc, test_arena_strings);
	tcase_add_test(tc, test_buf);
	suite_add_tcase(s, tc);

	return s;
}
