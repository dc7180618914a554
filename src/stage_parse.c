/*
 * Stage 1, parse: the request line and headers into struct req, every size
 * bounded.  The body is not read here: the client stage must first decide
 * whether this address may send one at all (stage_body reads it later).
 * CORS preflights are answered here, before any limit (API.md).
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "aspida.h"

#define MAX_CONTENT_LENGTH_DIGITS	10

static int
hexdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decodes %XX escapes in place.  A malformed escape or a decoded NUL is an
 * error: no field of ours may carry one.  Returns 0, or -1.
 */
int
stage_parse_percent_decode(char *s, size_t *len)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < *len; i++) {
		if (s[i] != '%') {
			s[o++] = s[i];
			continue;
		}
		if (i + 2 >= *len)
			return -1;
		if ((hi = hexdigit((unsigned char)s[i + 1])) < 0 ||
		    (lo = hexdigit((unsigned char)s[i + 2])) < 0)
			return -1;
		if (hi == 0 && lo == 0)
			return -1;
		s[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	s[o] = '\0';
	*len = o;
	return 0;
}

/*
 * Splits a query string into at most ASPIDA_MAX_QUERY decoded name/value
 * pairs.  Empty pieces, bad escapes and a name given twice are errors
 * (API.md: a duplicate parameter is 400).  Returns 0, or -1.
 */
int
stage_parse_query(struct req *r, const char *qs)
{
	char	*copy, *piece, *eq, *next;
	size_t	 i, nlen, vlen;

	if (qs == NULL || *qs == '\0')
		return 0;
	copy = arena_strdup(r->arena, qs);
	for (piece = copy; piece != NULL; piece = next) {
		if ((next = strchr(piece, '&')) != NULL)
			*next++ = '\0';
		if (*piece == '\0')
			return -1;
		if (r->nquery == ASPIDA_MAX_QUERY)
			return -1;
		if ((eq = strchr(piece, '=')) != NULL)
			*eq++ = '\0';
		else
			eq = piece + strlen(piece);
		for (i = 0; piece[i] != '\0'; i++)
			if (piece[i] == '+')
				piece[i] = ' ';
		for (i = 0; eq[i] != '\0'; i++)
			if (eq[i] == '+')
				eq[i] = ' ';
		nlen = strlen(piece);
		vlen = strlen(eq);
		if (nlen == 0 || stage_parse_percent_decode(piece, &nlen) == -1 ||
		    stage_parse_percent_decode(eq, &vlen) == -1)
			return -1;
		for (i = 0; i < r->nquery; i++)
			if (strcmp(r->query[i].name, piece) == 0)
				return -1;
		r->query[r->nquery].name = piece;
		r->query[r->nquery].value = eq;
		r->nquery++;
	}
	return 0;
}

/*
 * Splits the path into decoded segments.  Empty segments (a doubled or
 * trailing slash) make the path unknown rather than equal to another.
 * Returns 0, -1 when no route can have this shape, or -2 when a segment
 * is malformed (a bad escape or an encoded NUL).
 */
static int
parse_path(struct req *r, const char *path, size_t len)
{
	const char	*p = path + 1, *end = path + len, *slash;
	char		*seg;
	size_t		 slen;

	if (len == 0 || path[0] != '/')
		return -1;
	while (p <= end) {
		if ((slash = memchr(p, '/', (size_t)(end - p))) == NULL)
			slash = end;
		if (r->nsegments == sizeof(r->segments) / sizeof(r->segments[0]))
			return -1;
		slen = (size_t)(slash - p);
		seg = arena_strndup(r->arena, p, slen);
		if (stage_parse_percent_decode(seg, &slen) == -1)
			return -2;
		r->segments[r->nsegments++] = seg;
		p = slash + 1;
	}
	return 0;
}

/* "application/json", any case, parameters ignored. */
int
stage_parse_content_type_is_json(const char *ct)
{
	size_t	n;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if (n != strlen("application/json") ||
	    strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* True when one of the Accept media ranges is text/csv. */
static int
accepts_csv(const char *accept)
{
	const char	*p = accept;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ";, \t");
		if (n == strlen("text/csv") && strncasecmp(p, "text/csv", n) == 0)
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

static int
parse_content_length(const char *s, size_t *out)
{
	size_t	i, v = 0;

	if (s == NULL) {
		*out = 0;
		return 0;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (i == MAX_CONTENT_LENGTH_DIGITS || !isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

enum aerr
stage_parse(struct req *r)
{
	const char	*m, *uri, *q;
	size_t		 plen;
	int		 i;

	if (stage_client_address(r) == -1)
		return req_fail(r, AERR_INTERNAL, NULL);
	m = req_param(r, "REQUEST_METHOD");
	for (i = 0; m != NULL && i < METHOD__MAX; i++)
		if (strcmp(m, methods[i]) == 0) {
			r->method = (enum method)i;
			break;
		}
	r->method_name = r->method == METHOD__MAX ? "?" : methods[r->method];

	if ((uri = req_param(r, "REQUEST_URI")) == NULL ||
	    strlen(uri) > ASPIDA_MAX_URI)
		return req_fail(r, AERR_INVALID_INPUT, "The request URI is malformed or too long.");
	r->uri = uri;
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	r->path = arena_strndup(r->arena, uri, plen);

	r->https = (m = req_param(r, "HTTPS")) != NULL &&
	    strcasecmp(m, "on") == 0;
	r->host = req_param(r, "HTTP_HOST");
	r->origin = req_param(r, "HTTP_ORIGIN");
	r->user_agent = req_param(r, "HTTP_USER_AGENT");
	r->content_type = req_param(r, "CONTENT_TYPE");
	r->want_csv = accepts_csv(req_param(r, "HTTP_ACCEPT"));

	switch (parse_path(r, uri, plen)) {
	case 0:
		break;
	case -2:
		return req_fail(r, AERR_INVALID_INPUT,
		    "The path has a malformed percent escape.");
	default:
		return req_fail(r, AERR_NOT_FOUND, NULL);
	}
	if (parse_content_length(req_param(r, "CONTENT_LENGTH"),
	    &r->content_length) == -1)
		return req_fail(r, AERR_INVALID_INPUT, "The Content-Length header is malformed.");

	if (r->method == METHOD_OPTIONS) {
		/* stage_respond adds the CORS headers for listed origins. */
		r->status = 204;
		return AERR_DONE;
	}
	if (q != NULL && stage_parse_query(r, q + 1) == -1)
		return req_fail(r, AERR_INVALID_INPUT,
		    "The query string is malformed or repeats a parameter.");
	return AERR_OK;
}
