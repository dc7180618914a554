/*
 * check_csrf.c - the CSRF stage: a session-cookie request that changes
 * state passes only with the CSRF token of its own access token and from
 * an allowed origin: Origin, or the origin of Referer when Origin is
 * absent, equal to the request's own (scheme from HTTPS, then Host) or
 * listed in cors_origins.  Safe methods, and Bearer or API-key requests
 * (no ambient credentials), need neither.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_req.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

#define JTI		"0123456789abcdef0123456789abcdef"
#define OTHER_JTI	"fedcba9876543210fedcba9876543210"
#define OWN		"api.example"

static struct arena	*ar;
static struct req	 rq;
static char		 nosock[] = "/nonexistent/check_csrf.sock";
static char		*origins[] = {
	"https://app.example",
	"http://localhost:3000",
};

static void
setup(void)
{
	check_conf_setup();
	memset(conf->csrf_secret, 'c', 32);
	conf->csrf_secret_len = 32;
	conf->cors_origins = origins;
	conf->ncors_origins = NITEMS(origins);
	/* Refused events go nowhere, at once: no Redis here. */
	conf->redis_socket = nosock;
	conf->redis_connect_timeout_ms = 100;
	conf->redis_timeout_ms = 100;
	ar = arena_new();
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
	check_conf_setup();
}

enum tok {
	TOK_NONE,		/* no X-CSRF-Token */
	TOK_RIGHT,		/* the token of this request's jti */
	TOK_OTHER_JTI,		/* another session's token */
	TOK_OTHER_SECRET,	/* this jti, another server's secret */
	TOK_FLIPPED,		/* right but for its last digit */
	TOK_UPPER,		/* right, in upper case */
	TOK_SHORT,		/* right, one digit short */
	TOK_LONG,		/* right, one digit more */
	TOK_EMPTY		/* an empty header */
};

static void
make_token(enum tok t, char *out, size_t size)
{
	char	want[65];
	size_t	i;

	ck_assert_uint_ge(size, 66);
	out[0] = '\0';
	ck_assert_int_eq(token_csrf(t == TOK_OTHER_JTI ? OTHER_JTI : JTI,
	    want), 0);
	ck_assert_uint_eq(strlen(want), 64);
	(void)strlcpy(out, want, size);
	switch (t) {
	case TOK_OTHER_SECRET:
		conf->csrf_secret[0] ^= 1;
		ck_assert_int_eq(token_csrf(JTI, out), 0);
		conf->csrf_secret[0] ^= 1;
		ck_assert_str_ne(out, want);
		break;
	case TOK_FLIPPED:
		out[63] = out[63] == '0' ? '1' : '0';
		break;
	case TOK_UPPER:
		for (i = 0; out[i] != '\0'; i++)
			if (out[i] >= 'a' && out[i] <= 'f')
				out[i] = (char)(out[i] - 'a' + 'A');
		ck_assert_str_ne(out, want);
		break;
	case TOK_SHORT:
		out[63] = '\0';
		break;
	case TOK_LONG:
		out[64] = '0';
		out[65] = '\0';
		break;
	case TOK_EMPTY:
		out[0] = '\0';
		break;
	default:
		break;
	}
}

struct row {
	int		 line;
	const char	*method;
	enum cred_kind	 kind;
	const char	*https;		/* HTTPS parameter, NULL: none */
	const char	*host;
	const char	*origin;
	const char	*referer;
	enum tok	 tok;
	enum aerr	 want;
};

#define OK	AERR_OK
#define NO	AERR_CSRF_FAILED

static const struct row rows[] = {
	/* The token. */
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_NONE, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_EMPTY, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_OTHER_JTI, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_OTHER_SECRET, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_FLIPPED, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_UPPER, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_SHORT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_LONG, NO },
	/* The right token, but from nowhere we can tell. */
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL, NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, NULL, OWN, NULL, NULL, TOK_RIGHT, NO },
	/* Our own origin: scheme from HTTPS, then Host as sent. */
	{ __LINE__, "POST", CRED_COOKIE, NULL, OWN, "http://" OWN, NULL,
	    TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "off", OWN, "http://" OWN, NULL,
	    TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "ON", OWN, "https://" OWN, NULL,
	    TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, NULL, OWN, "https://" OWN, NULL,
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "http://" OWN, NULL,
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN ":8443",
	    "https://" OWN ":8443", NULL, TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN ":8443", "https://" OWN,
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN ":8443",
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN "/", NULL,
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://" OWN ".evil",
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://evil." OWN, NULL,
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://API.EXAMPLE",
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, OWN, NULL, TOK_RIGHT, NO },
	/* Without Host there is no own origin to match. */
	{ __LINE__, "POST", CRED_COOKIE, "on", NULL, "https://" OWN, NULL,
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", NULL, "https://app.example",
	    NULL, TOK_RIGHT, OK },
	/* cors_origins, exactly. */
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://app.example",
	    NULL, TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "http://localhost:3000",
	    NULL, TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://app.example",
	    NULL, TOK_NONE, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "http://app.example",
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://app.example:443",
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "http://localhost",
	    NULL, TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://evil.example",
	    NULL, TOK_RIGHT, NO },
	/* The opaque origin of sandboxed frames, data: and file: pages. */
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "null", NULL, TOK_RIGHT,
	    NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "null",
	    "https://" OWN "/page", TOK_RIGHT, NO },
	/* Referer when there is no Origin: its scheme and authority. */
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://" OWN "/app/page?x=1", TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL, "https://" OWN,
	    TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://" OWN "?q=1", TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://app.example#top", TOK_RIGHT, OK },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://" OWN "/page", TOK_NONE, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "http://" OWN "/page", TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://evil.example/https://" OWN "/", TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://" OWN ".evil.example/", TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL,
	    "https://" OWN "@evil.example/", TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL, OWN "/page",
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL, "https:///page",
	    TOK_RIGHT, NO },
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, NULL, "", TOK_RIGHT, NO },
	/* Origin, when sent, decides: a good Referer cannot rescue it. */
	{ __LINE__, "POST", CRED_COOKIE, "on", OWN, "https://evil.example",
	    "https://" OWN "/page", TOK_RIGHT, NO },
	/* Every unsafe method; the safe ones pass untouched. */
	{ __LINE__, "PUT", CRED_COOKIE, "on", OWN, NULL, NULL, TOK_NONE, NO },
	{ __LINE__, "PATCH", CRED_COOKIE, "on", OWN, NULL, NULL, TOK_NONE, NO },
	{ __LINE__, "DELETE", CRED_COOKIE, "on", OWN, NULL, NULL, TOK_NONE,
	    NO },
	{ __LINE__, "DELETE", CRED_COOKIE, "on", OWN, "https://" OWN, NULL,
	    TOK_RIGHT, OK },
	{ __LINE__, "GET", CRED_COOKIE, "on", OWN, NULL, NULL, TOK_NONE, OK },
	{ __LINE__, "HEAD", CRED_COOKIE, "on", OWN, NULL, NULL, TOK_NONE, OK },
	{ __LINE__, "OPTIONS", CRED_COOKIE, "on", OWN, "https://evil.example",
	    NULL, TOK_NONE, OK },
	/* No ambient credentials, nothing to forge. */
	{ __LINE__, "POST", CRED_BEARER, "on", OWN, NULL, NULL, TOK_NONE, OK },
	{ __LINE__, "POST", CRED_BEARER, "on", OWN, "https://evil.example",
	    NULL, TOK_FLIPPED, OK },
	{ __LINE__, "DELETE", CRED_APIKEY, "on", OWN, NULL, NULL, TOK_NONE,
	    OK },
	{ __LINE__, "POST", CRED_NONE, "on", OWN, NULL, NULL, TOK_NONE, OK },
};

START_TEST(test_csrf)
{
	const struct row	*w = &rows[_i];
	char			 tok[80];
	enum aerr		 e;

	check_req_clear();
	check_req_param("REMOTE_ADDR", "192.0.2.10");
	check_req_param("REQUEST_METHOD", w->method);
	check_req_param("REQUEST_URI", "/api/v1/auth/logout");
	check_req_param("HTTPS", w->https);
	check_req_param("HTTP_HOST", w->host);
	check_req_param("HTTP_ORIGIN", w->origin);
	check_req_param("HTTP_REFERER", w->referer);
	if (w->tok != TOK_NONE) {
		make_token(w->tok, tok, sizeof(tok));
		check_req_param("HTTP_X_CSRF_TOKEN", tok);
	}
	check_req_init(&rq, ar);
	e = stage_parse(&rq);
	ck_assert_msg(e == AERR_OK || (e == AERR_DONE && strcmp(w->method,
	    "OPTIONS") == 0), "line %d: parse %d", w->line, e);
	rq.err = AERR_OK;
	rq.who.kind = w->kind;
	if (w->kind != CRED_NONE && w->kind != CRED_APIKEY)
		(void)strlcpy(rq.who.jti, JTI, sizeof(rq.who.jti));

	e = stage_csrf(&rq);
	ck_assert_msg(e == w->want, "line %d: %d, want %d", w->line, e,
	    w->want);
	ck_assert_msg(rq.err == w->want, "line %d: r->err %d", w->line,
	    rq.err);
}
END_TEST

/* A session without a jti (never issued so) fails closed, never passes. */
START_TEST(test_no_jti)
{
	char	tok[80];

	make_token(TOK_RIGHT, tok, sizeof(tok));
	check_req_clear();
	check_req_param("REMOTE_ADDR", "192.0.2.10");
	check_req_param("REQUEST_METHOD", "POST");
	check_req_param("REQUEST_URI", "/api/v1/auth/logout");
	check_req_param("HTTPS", "on");
	check_req_param("HTTP_HOST", OWN);
	check_req_param("HTTP_ORIGIN", "https://" OWN);
	check_req_param("HTTP_X_CSRF_TOKEN", tok);
	check_req_init(&rq, ar);
	ck_assert_int_eq(stage_parse(&rq), AERR_OK);
	rq.who.kind = CRED_COOKIE;
	ck_assert_int_ne(stage_csrf(&rq), AERR_OK);
	ck_assert_int_ne(rq.err, AERR_OK);
}
END_TEST

Suite *
csrf_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("csrf");
	tc = tcase_create("stage_csrf");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_csrf, 0, NITEMS(rows));
	tcase_add_test(tc, test_no_jti);
	suite_add_tcase(s, tc);
	return s;
}
