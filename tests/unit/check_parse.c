/*
 * check_parse.c - the parse stage: percent decoding, the query string
 * (duplicates, empty pieces, too many parameters, '+' as space), the JSON
 * media type, and stage_parse over a full table of CGI parameters: method,
 * path segments, Content-Length, preflights, URI length and Accept.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

#define MAX_PARAMS	16

static struct arena	*ar;
static struct req	 rq;
static const char	*params[2 * MAX_PARAMS];
static size_t		 nparams;

static const char *
io_param(void *ctx, const char *name)
{
	size_t	i;

	ck_assert_ptr_eq(ctx, params);
	for (i = 0; i < nparams; i++)
		if (strcmp(params[2 * i], name) == 0)
			return params[2 * i + 1];
	return NULL;
}

static const struct req_io test_io = {
	.param = io_param,
	.ctx = params,
};

/* Sets a CGI parameter, replacing an earlier one of the same name. */
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

static void
setup(void)
{
	check_conf_setup();
	ar = arena_new();
	nparams = 0;
	param("REMOTE_ADDR", "192.0.2.10");
	req_init(&rq, ar, &test_io);
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
}

/* A fresh request for the current parameters, through stage_parse. */
static enum aerr
parse(void)
{
	arena_reset(ar);
	req_init(&rq, ar, &test_io);
	return stage_parse(&rq);
}

/* Percent decoding. */

struct pctrow {
	int		 line;
	const char	*in;
	size_t		 inlen;		/* 0: strlen(in) */
	const char	*out;		/* NULL: refused */
	size_t		 outlen;
};

static const struct pctrow pctrows[] = {
	{ __LINE__, "", 0, "", 0 },
	{ __LINE__, "abc", 0, "abc", 3 },
	{ __LINE__, "a%20b", 0, "a b", 3 },
	{ __LINE__, "%41%42%43", 0, "ABC", 3 },
	{ __LINE__, "%4a%4A", 0, "JJ", 2 },
	{ __LINE__, "%2e%2E%2f", 0, "../", 3 },
	{ __LINE__, "..%2F", 0, "../", 3 },
	{ __LINE__, "%25", 0, "%", 1 },
	{ __LINE__, "%2541", 0, "%41", 3 },	/* decoded once only */
	{ __LINE__, "%C3%A9", 0, "\xc3\xa9", 2 },
	{ __LINE__, "%ff", 0, "\xff", 1 },	/* bytes; UTF-8 is validated later */
	{ __LINE__, "%01", 0, "\x01", 1 },
	{ __LINE__, "+", 0, "+", 1 },		/* '+' is the query's business */
	{ __LINE__, "a%", 0, NULL, 0 },
	{ __LINE__, "%", 0, NULL, 0 },
	{ __LINE__, "%4", 0, NULL, 0 },
	{ __LINE__, "a%4", 0, NULL, 0 },
	{ __LINE__, "%%41", 0, NULL, 0 },
	{ __LINE__, "%G1", 0, NULL, 0 },
	{ __LINE__, "%1G", 0, NULL, 0 },
	{ __LINE__, "%-1", 0, NULL, 0 },
	{ __LINE__, "% 1", 0, NULL, 0 },
	{ __LINE__, "%+1", 0, NULL, 0 },
	{ __LINE__, "%0x1", 0, NULL, 0 },
	{ __LINE__, "%00", 0, NULL, 0 },
	{ __LINE__, "abc%00def", 0, NULL, 0 },
	{ __LINE__, "%u0041", 0, NULL, 0 },
	/* The length is what counts: an escape cut by it is truncated. */
	{ __LINE__, "%41", 2, NULL, 0 },
	{ __LINE__, "%41", 1, NULL, 0 },
	{ __LINE__, "ab%41", 4, NULL, 0 },
};

START_TEST(test_percent_decode)
{
	const struct pctrow	*p = &pctrows[_i];
	char			 s[64];
	size_t			 len = p->inlen ? p->inlen : strlen(p->in);

	(void)snprintf(s, sizeof(s), "%s", p->in);
	if (p->out == NULL) {
		ck_assert_msg(stage_parse_percent_decode(s, &len) == -1,
		    "line %d: \"%s\" accepted", p->line, p->in);
		return;
	}
	ck_assert_msg(stage_parse_percent_decode(s, &len) == 0,
	    "line %d: \"%s\" refused", p->line, p->in);
	ck_assert_msg(len == p->outlen && memcmp(s, p->out, len) == 0 &&
	    s[len] == '\0', "line %d: \"%s\" (%zu)", p->line, s, len);
}
END_TEST

START_TEST(test_percent_decode_all_bytes)
{
	char	 s[4];
	size_t	 len;
	int	 c;

	/* Every byte but NUL survives %XX in both cases of hex digits. */
	for (c = 0; c < 256; c++) {
		(void)snprintf(s, sizeof(s), "%%%02x", c);
		len = 3;
		ck_assert_int_eq(stage_parse_percent_decode(s, &len),
		    c == 0 ? -1 : 0);
		if (c != 0)
			ck_assert(len == 1 && (unsigned char)s[0] == c);
		(void)snprintf(s, sizeof(s), "%%%02X", c);
		len = 3;
		ck_assert_int_eq(stage_parse_percent_decode(s, &len),
		    c == 0 ? -1 : 0);
	}
}
END_TEST

/* The query string. */

struct qrow {
	int		 line;
	const char	*qs;
	int		 ok;
	size_t		 n;
	const char	*pairs[8];	/* name, value, ... */
};

static const struct qrow qrows[] = {
	{ __LINE__, NULL, 1, 0, { NULL } },
	{ __LINE__, "", 1, 0, { NULL } },
	{ __LINE__, "a=1", 1, 1, { "a", "1" } },
	{ __LINE__, "a=1&b=2", 1, 2, { "a", "1", "b", "2" } },
	{ __LINE__, "a", 1, 1, { "a", "" } },
	{ __LINE__, "a=", 1, 1, { "a", "" } },
	{ __LINE__, "a==", 1, 1, { "a", "=" } },
	{ __LINE__, "a=b=c", 1, 1, { "a", "b=c" } },
	{ __LINE__, "q=a+b", 1, 1, { "q", "a b" } },
	{ __LINE__, "q=a%2Bb", 1, 1, { "q", "a+b" } },
	{ __LINE__, "a+b=c", 1, 1, { "a b", "c" } },
	{ __LINE__, "q=%20", 1, 1, { "q", " " } },
	{ __LINE__, "%61=1", 1, 1, { "a", "1" } },
	{ __LINE__, "from=2026-01-01T00%3A00%3A00Z", 1, 1,
	    { "from", "2026-01-01T00:00:00Z" } },
	{ __LINE__, "q=%26&r=%3D", 1, 2, { "q", "&", "r", "=" } },
	/* Duplicates, however spelled. */
	{ __LINE__, "a=1&a=2", 0, 0, { NULL } },
	{ __LINE__, "a=1&a=1", 0, 0, { NULL } },
	{ __LINE__, "a&a", 0, 0, { NULL } },
	{ __LINE__, "a=1&%61=2", 0, 0, { NULL } },
	{ __LINE__, "a%20b=1&a+b=2", 0, 0, { NULL } },
	{ __LINE__, "limit=1&cursor=x&limit=2", 0, 0, { NULL } },
	/* Case matters: these are two names (validation refuses them). */
	{ __LINE__, "a=1&A=2", 1, 2, { "a", "1", "A", "2" } },
	/* Empty pieces and empty names. */
	{ __LINE__, "&", 0, 0, { NULL } },
	{ __LINE__, "a=1&", 0, 0, { NULL } },
	{ __LINE__, "&a=1", 0, 0, { NULL } },
	{ __LINE__, "a=1&&b=2", 0, 0, { NULL } },
	{ __LINE__, "=1", 0, 0, { NULL } },
	{ __LINE__, "=", 0, 0, { NULL } },
	{ __LINE__, "a=1&=2", 0, 0, { NULL } },
	/* Bad escapes in names or values. */
	{ __LINE__, "a=%", 0, 0, { NULL } },
	{ __LINE__, "a=%4", 0, 0, { NULL } },
	{ __LINE__, "a=%zz", 0, 0, { NULL } },
	{ __LINE__, "a=%00", 0, 0, { NULL } },
	{ __LINE__, "%00=1", 0, 0, { NULL } },
	{ __LINE__, "a%=1", 0, 0, { NULL } },
};

START_TEST(test_query)
{
	const struct qrow	*q = &qrows[_i];
	size_t			 i;

	if (!q->ok) {
		ck_assert_msg(stage_parse_query(&rq, q->qs) == -1,
		    "line %d: \"%s\" accepted", q->line, q->qs);
		return;
	}
	ck_assert_msg(stage_parse_query(&rq, q->qs) == 0,
	    "line %d: \"%s\" refused", q->line, q->qs);
	ck_assert_msg(rq.nquery == q->n, "line %d: %zu parameters", q->line,
	    rq.nquery);
	for (i = 0; i < q->n; i++) {
		ck_assert_msg(strcmp(rq.query[i].name, q->pairs[2 * i]) == 0,
		    "line %d: name %zu \"%s\"", q->line, i, rq.query[i].name);
		ck_assert_msg(strcmp(rq.query[i].value, q->pairs[2 * i + 1]) ==
		    0, "line %d: value %zu \"%s\"", q->line, i,
		    rq.query[i].value);
	}
}
END_TEST

START_TEST(test_query_count)
{
	char	qs[512];
	size_t	i, used = 0;

	/* ASPIDA_MAX_QUERY parameters pass; one more is refused. */
	for (i = 0; i < ASPIDA_MAX_QUERY; i++)
		used += (size_t)snprintf(qs + used, sizeof(qs) - used, "%sp%zu=%zu",
		    i ? "&" : "", i, i);
	ck_assert_int_eq(stage_parse_query(&rq, qs), 0);
	ck_assert_uint_eq(rq.nquery, ASPIDA_MAX_QUERY);
	ck_assert_str_eq(rq.query[ASPIDA_MAX_QUERY - 1].name, "p15");

	arena_reset(ar);
	req_init(&rq, ar, &test_io);
	(void)snprintf(qs + used, sizeof(qs) - used, "&p%d=x", ASPIDA_MAX_QUERY);
	ck_assert_int_eq(stage_parse_query(&rq, qs), -1);
	ck_assert_uint_le(rq.nquery, ASPIDA_MAX_QUERY);

	/* Many empty pieces: refused at the first. */
	arena_reset(ar);
	req_init(&rq, ar, &test_io);
	memset(qs, '&', sizeof(qs) - 1);
	qs[sizeof(qs) - 1] = '\0';
	ck_assert_int_eq(stage_parse_query(&rq, qs), -1);
}
END_TEST

START_TEST(test_query_source_untouched)
{
	const char	*qs = "a=x+y&b=%41";

	/* Decoding works on a copy: the URI as sent stays as sent. */
	ck_assert_int_eq(stage_parse_query(&rq, qs), 0);
	ck_assert_str_eq(qs, "a=x+y&b=%41");
	ck_assert_str_eq(rq.query[0].value, "x y");
	ck_assert_str_eq(rq.query[1].value, "A");
}
END_TEST

/* The JSON media type. */

struct ctrow {
	int		 line;
	const char	*ct;
	int		 json;
};

static const struct ctrow ctrows[] = {
	{ __LINE__, "application/json", 1 },
	{ __LINE__, "application/json; charset=utf-8", 1 },
	{ __LINE__, "application/json;charset=UTF-8", 1 },
	{ __LINE__, "application/json ; charset=utf-8", 1 },
	{ __LINE__, "Application/JSON", 1 },
	{ __LINE__, "APPLICATION/JSON; CHARSET=UTF-8", 1 },
	{ __LINE__, " application/json", 1 },
	{ __LINE__, "application/json ", 1 },
	{ __LINE__, "application/json\t", 1 },
	{ __LINE__, "application/jsonx", 0 },
	{ __LINE__, "application/json-patch+json", 0 },
	{ __LINE__, "application/json5", 0 },
	{ __LINE__, "application/jso", 0 },
	{ __LINE__, "application/", 0 },
	{ __LINE__, "application", 0 },
	{ __LINE__, "text/json", 0 },
	{ __LINE__, "text/plain", 0 },
	{ __LINE__, "application/x-www-form-urlencoded", 0 },
	{ __LINE__, "multipart/form-data; boundary=x", 0 },
	{ __LINE__, "application/vnd.api+json", 0 },
	{ __LINE__, "application/json,text/plain", 0 },
	{ __LINE__, "application/json x", 0 },
	{ __LINE__, "xapplication/json", 0 },
	{ __LINE__, "application /json", 0 },
	{ __LINE__, "*/*", 0 },
	{ __LINE__, "", 0 },
	{ __LINE__, NULL, 0 },
};

START_TEST(test_content_type)
{
	const struct ctrow	*c = &ctrows[_i];

	ck_assert_msg(stage_parse_content_type_is_json(c->ct) == c->json,
	    "line %d: \"%s\"", c->line, c->ct ? c->ct : "(null)");
}
END_TEST

/* stage_parse over whole requests. */

struct mrow {
	int		 line;
	const char	*method;
	enum method	 want;
	const char	*name;
};

static const struct mrow mrows[] = {
	{ __LINE__, "GET", METHOD_GET, "GET" },
	{ __LINE__, "HEAD", METHOD_HEAD, "HEAD" },
	{ __LINE__, "POST", METHOD_POST, "POST" },
	{ __LINE__, "PUT", METHOD_PUT, "PUT" },
	{ __LINE__, "PATCH", METHOD_PATCH, "PATCH" },
	{ __LINE__, "DELETE", METHOD_DELETE, "DELETE" },
	/* Unknown methods parse; the router answers them 405 or 404. */
	{ __LINE__, "get", METHOD__MAX, "?" },
	{ __LINE__, "BREW", METHOD__MAX, "?" },
	{ __LINE__, "GET ", METHOD__MAX, "?" },
	{ __LINE__, "GETS", METHOD__MAX, "?" },
	{ __LINE__, "CONNECT", METHOD__MAX, "?" },
	{ __LINE__, "TRACE", METHOD__MAX, "?" },
	{ __LINE__, NULL, METHOD__MAX, "?" },
};

START_TEST(test_method)
{
	const struct mrow	*m = &mrows[_i];

	if (m->method != NULL)
		param("REQUEST_METHOD", m->method);
	param("REQUEST_URI", "/api/v1/assets");
	ck_assert_msg(parse() == AERR_OK, "line %d", m->line);
	ck_assert_msg(rq.method == m->want, "line %d: %d", m->line, rq.method);
	ck_assert_msg(strcmp(rq.method_name, m->name) == 0, "line %d: %s",
	    m->line, rq.method_name);
}
END_TEST

struct pathrow {
	int		 line;
	const char	*uri;
	enum aerr	 err;
	const char	*path;		/* r->path */
	size_t		 n;
	const char	*segs[8];
};

static const struct pathrow pathrows[] = {
	{ __LINE__, "/api/v1/assets", AERR_OK, "/api/v1/assets", 3,
	    { "api", "v1", "assets" } },
	{ __LINE__, "/api/v1/prices/BTC?limit=5", AERR_OK,
	    "/api/v1/prices/BTC", 4, { "api", "v1", "prices", "BTC" } },
	{ __LINE__, "/healthz", AERR_OK, "/healthz", 1, { "healthz" } },
	{ __LINE__, "/", AERR_OK, "/", 1, { "" } },
	{ __LINE__, "/api/v1/assets/", AERR_OK, "/api/v1/assets/", 4,
	    { "api", "v1", "assets", "" } },
	{ __LINE__, "/api//v1", AERR_OK, "/api//v1", 3, { "api", "", "v1" } },
	{ __LINE__, "//", AERR_OK, "//", 2, { "", "" } },
	/* Segments are decoded one by one: an encoded '/' stays inside. */
	{ __LINE__, "/api/v1/price/..%2F", AERR_OK, "/api/v1/price/..%2F", 4,
	    { "api", "v1", "price", "../" } },
	{ __LINE__, "/api/v1/price/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", AERR_OK,
	    "/api/v1/price/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", 4,
	    { "api", "v1", "price", "../../etc/passwd" } },
	{ __LINE__, "/api/v1/price/B%54C", AERR_OK, "/api/v1/price/B%54C", 4,
	    { "api", "v1", "price", "BTC" } },
	{ __LINE__, "/api/v1/price/%3Cscript%3E", AERR_OK,
	    "/api/v1/price/%3Cscript%3E", 4,
	    { "api", "v1", "price", "<script>" } },
	{ __LINE__, "/a+b", AERR_OK, "/a+b", 1, { "a+b" } },
	{ __LINE__, "/api/v1/assets?", AERR_OK, "/api/v1/assets", 3,
	    { "api", "v1", "assets" } },
	{ __LINE__, "/x?a=/b/c", AERR_OK, "/x", 1, { "x" } },
	/* A malformed escape or an encoded NUL is a malformed request. */
	{ __LINE__, "/api/v1/price/%00", AERR_INVALID_INPUT, NULL, 0, { NULL } },
	{ __LINE__, "/api/v1/price/%", AERR_INVALID_INPUT, NULL, 0, { NULL } },
	{ __LINE__, "/api/v1/price/%4", AERR_INVALID_INPUT, NULL, 0, { NULL } },
	{ __LINE__, "/api/v1/price/%zz", AERR_INVALID_INPUT, NULL, 0, { NULL } },
	{ __LINE__, "/api/v1/price/%4g", AERR_INVALID_INPUT, NULL, 0, { NULL } },
	{ __LINE__, "/%/v1/assets", AERR_INVALID_INPUT, NULL, 0, { NULL } },
	/* Paths no route can have are unknown paths. */
	{ __LINE__, "api/v1/assets", AERR_NOT_FOUND, NULL, 0, { NULL } },
	{ __LINE__, "http://example.com/api/v1/assets", AERR_NOT_FOUND, NULL, 0,
	    { NULL } },
	{ __LINE__, "*", AERR_NOT_FOUND, NULL, 0, { NULL } },
	{ __LINE__, "?a=1", AERR_NOT_FOUND, NULL, 0, { NULL } },
	{ __LINE__, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
	    AERR_NOT_FOUND, NULL, 0, { NULL } },
	/* A missing URI is not a request we can answer but with 400. */
	{ __LINE__, NULL, AERR_INVALID_INPUT, NULL, 0, { NULL } },
	/* A bad query after a good path. */
	{ __LINE__, "/api/v1/assets?a=1&a=2", AERR_INVALID_INPUT,
	    "/api/v1/assets", 3, { "api", "v1", "assets" } },
	{ __LINE__, "/api/v1/assets?&", AERR_INVALID_INPUT,
	    "/api/v1/assets", 3, { "api", "v1", "assets" } },
};

START_TEST(test_path)
{
	const struct pathrow	*p = &pathrows[_i];
	enum aerr		 e;
	size_t			 i;

	param("REQUEST_METHOD", "GET");
	if (p->uri != NULL)
		param("REQUEST_URI", p->uri);
	e = parse();
	ck_assert_msg(e == p->err, "line %d: \"%s\" gave %d", p->line,
	    p->uri ? p->uri : "(null)", e);
	if (e != AERR_OK)
		ck_assert_msg(rq.err == e, "line %d: r->err %d", p->line, rq.err);
	/* A 400 says what was malformed. */
	if (e == AERR_INVALID_INPUT)
		ck_assert_msg(rq.err_message != NULL, "line %d: no message",
		    p->line);
	if (p->path == NULL)
		return;
	ck_assert_msg(strcmp(rq.path, p->path) == 0, "line %d: path %s",
	    p->line, rq.path);
	ck_assert_msg(strcmp(rq.uri, p->uri) == 0, "line %d", p->line);
	ck_assert_msg(rq.nsegments == p->n, "line %d: %zu segments", p->line,
	    rq.nsegments);
	for (i = 0; i < p->n; i++)
		ck_assert_msg(strcmp(rq.segments[i], p->segs[i]) == 0,
		    "line %d: segment %zu \"%s\"", p->line, i, rq.segments[i]);
}
END_TEST

START_TEST(test_segment_limit)
{
	char	uri[64];
	size_t	i, used = 0;

	/* As many segments as the request holds, and no more. */
	for (i = 0; i < sizeof(rq.segments) / sizeof(rq.segments[0]); i++)
		used += (size_t)snprintf(uri + used, sizeof(uri) - used, "/s");
	param("REQUEST_METHOD", "GET");
	param("REQUEST_URI", uri);
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_uint_eq(rq.nsegments, 16);
	(void)snprintf(uri + used, sizeof(uri) - used, "/s");
	ck_assert_int_eq(parse(), AERR_NOT_FOUND);
	/* Trailing slash on a full path: one more (empty) segment. */
	uri[used] = '/';
	uri[used + 1] = '\0';
	ck_assert_int_eq(parse(), AERR_NOT_FOUND);
}
END_TEST

START_TEST(test_query_through_parse)
{
	param("REQUEST_METHOD", "GET");
	param("REQUEST_URI",
	    "/api/v1/prices/BTC?limit=5&from=2026-01-01T00%3A00%3A00Z&q=a+b");
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_uint_eq(rq.nquery, 3);
	ck_assert_str_eq(rq.query[0].name, "limit");
	ck_assert_str_eq(rq.query[0].value, "5");
	ck_assert_str_eq(rq.query[1].value, "2026-01-01T00:00:00Z");
	ck_assert_str_eq(rq.query[2].value, "a b");
	/* The raw URI is kept as sent. */
	ck_assert_str_eq(rq.uri,
	    "/api/v1/prices/BTC?limit=5&from=2026-01-01T00%3A00%3A00Z&q=a+b");
}
END_TEST

struct clrow {
	int		 line;
	const char	*cl;		/* NULL: absent */
	enum aerr	 err;
	size_t		 len;
};

static const struct clrow clrows[] = {
	{ __LINE__, NULL, AERR_OK, 0 },
	{ __LINE__, "", AERR_OK, 0 },
	{ __LINE__, "0", AERR_OK, 0 },
	{ __LINE__, "1", AERR_OK, 1 },
	{ __LINE__, "65536", AERR_OK, 65536 },
	{ __LINE__, "0000000012", AERR_OK, 12 },
	{ __LINE__, "9999999999", AERR_OK, 9999999999ULL },
	{ __LINE__, "99999999999", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "18446744073709551617", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "-1", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "+1", AERR_INVALID_INPUT, 0 },
	{ __LINE__, " 1", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "1 ", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "1,1", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "0x10", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "1e3", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "abc", AERR_INVALID_INPUT, 0 },
	{ __LINE__, "12abc", AERR_INVALID_INPUT, 0 },
};

START_TEST(test_content_length)
{
	const struct clrow	*c = &clrows[_i];
	enum aerr		 e;

	param("REQUEST_METHOD", "POST");
	param("REQUEST_URI", "/api/v1/assets");
	param("CONTENT_TYPE", "application/json");
	if (c->cl != NULL)
		param("CONTENT_LENGTH", c->cl);
	e = parse();
	ck_assert_msg(e == c->err, "line %d: \"%s\" gave %d", c->line, c->cl, e);
	if (e == AERR_OK)
		ck_assert_msg(rq.content_length == c->len, "line %d: %zu",
		    c->line, rq.content_length);
	else
		ck_assert_msg(rq.err == AERR_INVALID_INPUT &&
		    rq.err_message != NULL, "line %d", c->line);
}
END_TEST

START_TEST(test_options)
{
	/* A preflight is answered, even where a GET would be refused. */
	param("REQUEST_METHOD", "OPTIONS");
	param("REQUEST_URI", "/api/v1/prices/BTC");
	param("HTTP_ORIGIN", "https://app.example");
	ck_assert_int_eq(parse(), AERR_DONE);
	ck_assert_int_eq(rq.status, 204);
	ck_assert_int_eq(rq.method, METHOD_OPTIONS);
	ck_assert_str_eq(rq.origin, "https://app.example");

	param("REQUEST_URI", "/api/v1/nowhere?a=1&a=1");
	ck_assert_int_eq(parse(), AERR_DONE);
	ck_assert_int_eq(rq.status, 204);
	ck_assert_uint_eq(rq.nquery, 0);

	/* But not a malformed one. */
	param("CONTENT_LENGTH", "x");
	ck_assert_int_eq(parse(), AERR_INVALID_INPUT);
	ck_assert_int_ne(rq.status, 204);
	param("CONTENT_LENGTH", "0");
	param("REQUEST_URI", "/api/v1/%00");
	ck_assert_int_eq(parse(), AERR_INVALID_INPUT);
	ck_assert_int_ne(rq.status, 204);
	param("REQUEST_URI", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17");
	ck_assert_int_eq(parse(), AERR_NOT_FOUND);
	ck_assert_int_ne(rq.status, 204);
}
END_TEST

START_TEST(test_uri_length)
{
	char	uri[ASPIDA_MAX_URI + 2];

	param("REQUEST_METHOD", "GET");
	param("REQUEST_URI", uri);
	/* Exactly the limit: accepted (the query carries the length). */
	memset(uri, 'a', sizeof(uri));
	memcpy(uri, "/api/v1/assets?a=", 17);
	uri[ASPIDA_MAX_URI] = '\0';
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_uint_eq(strlen(rq.query[0].value), ASPIDA_MAX_URI - 17);
	/* One more: refused before anything else is read. */
	uri[ASPIDA_MAX_URI] = 'a';
	uri[ASPIDA_MAX_URI + 1] = '\0';
	ck_assert_int_eq(parse(), AERR_INVALID_INPUT);
	ck_assert_ptr_nonnull(rq.err_message);
	ck_assert_uint_eq(rq.nsegments, 0);
	ck_assert_ptr_null(rq.path);
}
END_TEST

struct accrow {
	int		 line;
	const char	*accept;
	int		 csv;
};

static const struct accrow accrows[] = {
	{ __LINE__, NULL, 0 },
	{ __LINE__, "text/csv", 1 },
	{ __LINE__, "TEXT/CSV", 1 },
	{ __LINE__, "text/csv; charset=utf-8", 1 },
	{ __LINE__, "text/csv;q=0.9", 1 },
	{ __LINE__, "application/json, text/csv", 1 },
	{ __LINE__, "text/html,text/csv;q=0.5,*/*;q=0.1", 1 },
	{ __LINE__, " text/csv ", 1 },
	{ __LINE__, "application/json", 0 },
	{ __LINE__, "*/*", 0 },
	{ __LINE__, "text/*", 0 },
	{ __LINE__, "text/html", 0 },
	{ __LINE__, "text/csvx", 0 },
	{ __LINE__, "xtext/csv", 0 },
	{ __LINE__, "text/cs", 0 },
	{ __LINE__, "application/text/csv", 0 },
	{ __LINE__, "text/plain; x=text/csv", 0 },
	{ __LINE__, "", 0 },
	{ __LINE__, ",,,", 0 },
};

START_TEST(test_accept)
{
	const struct accrow	*a = &accrows[_i];

	param("REQUEST_METHOD", "GET");
	param("REQUEST_URI", "/api/v1/prices/BTC");
	if (a->accept != NULL)
		param("HTTP_ACCEPT", a->accept);
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_msg(rq.want_csv == a->csv, "line %d: \"%s\"", a->line,
	    a->accept ? a->accept : "(null)");
}
END_TEST

START_TEST(test_headers)
{
	param("REQUEST_METHOD", "POST");
	param("REQUEST_URI", "/api/v1/assets");
	param("HTTP_HOST", "api.example");
	param("HTTP_ORIGIN", "https://app.example");
	param("HTTP_USER_AGENT", "curl/8.0");
	param("CONTENT_TYPE", "application/json; charset=utf-8");
	param("CONTENT_LENGTH", "17");
	param("HTTPS", "on");
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_str_eq(rq.host, "api.example");
	ck_assert_str_eq(rq.origin, "https://app.example");
	ck_assert_str_eq(rq.user_agent, "curl/8.0");
	ck_assert_str_eq(rq.content_type, "application/json; charset=utf-8");
	ck_assert_uint_eq(rq.content_length, 17);
	ck_assert_int_eq(rq.https, 1);
	/* The body is not read here. */
	ck_assert_ptr_null(rq.body);
	ck_assert_uint_eq(rq.body_len, 0);

	/* Empty CGI values count as absent. */
	param("HTTP_ORIGIN", "");
	param("HTTPS", "");
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_ptr_null(rq.origin);
	ck_assert_int_eq(rq.https, 0);
	param("HTTPS", "off");
	ck_assert_int_eq(parse(), AERR_OK);
	ck_assert_int_eq(rq.https, 0);
}
END_TEST

Suite *
parse_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("parse");

	tc = tcase_create("pieces");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_percent_decode, 0,
	    sizeof(pctrows) / sizeof(pctrows[0]));
	tcase_add_test(tc, test_percent_decode_all_bytes);
	tcase_add_loop_test(tc, test_query, 0,
	    sizeof(qrows) / sizeof(qrows[0]));
	tcase_add_test(tc, test_query_count);
	tcase_add_test(tc, test_query_source_untouched);
	tcase_add_loop_test(tc, test_content_type, 0,
	    sizeof(ctrows) / sizeof(ctrows[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("stage_parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_method, 0,
	    sizeof(mrows) / sizeof(mrows[0]));
	tcase_add_loop_test(tc, test_path, 0,
	    sizeof(pathrows) / sizeof(pathrows[0]));
	tcase_add_test(tc, test_segment_limit);
	tcase_add_test(tc, test_query_through_parse);
	tcase_add_loop_test(tc, test_content_length, 0,
	    sizeof(clrows) / sizeof(clrows[0]));
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_uri_length);
	tcase_add_loop_test(tc, test_accept, 0,
	    sizeof(accrows) / sizeof(accrows[0]));
	tcase_add_test(tc, test_headers);
	suite_add_tcase(s, tc);

	return s;
}
