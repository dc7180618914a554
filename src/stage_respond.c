/*
 * Stage 10, respond: the only place a response is written.  Every
 * response carries API.md's security headers, the request id and
 * Vary: Origin; errors become the one error shape, and a 500 is always
 * masked (its details went to the log under the request id).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aspida.h"

#define CORS_ALLOW_HEADERS \
	"Authorization, Content-Type, X-API-Key, X-CSRF-Token, Idempotency-Key"
#define CORS_EXPOSE_HEADERS \
	"RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id"

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 423: return "Locked";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* An origin may use credentials only when listed in cors_origins. */
static int
origin_listed(const char *origin)
{
	size_t	i;

	if (origin == NULL)
		return 0;
	for (i = 0; i < conf->ncors_origins; i++)
		if (strcmp(conf->cors_origins[i], origin) == 0)
			return 1;
	return 0;
}

static void
error_body(struct req *r)
{
	const struct aerr_info	*e = &aerrs[r->err];
	struct json_object	*root, *err;
	const char		*msg = e->message;

	/* Masked: a 500 never says more than the table's sentence. */
	if (r->err_message != NULL && e->status != 500)
		msg = r->err_message;
	root = json_object_new_object();
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(e->code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(err, "request_id", json_object_new_string(r->id));
	json_object_object_add(root, "error", err);
	r->out.len = 0;
	(void)json_respond(r, e->status, root);
}

static void
add_cors(struct req *r, struct buf *h)
{
	if (!origin_listed(r->origin))
		return;
	buf_printf(h, "Access-Control-Allow-Origin: %s\r\n"
	    "Access-Control-Allow-Credentials: true\r\n"
	    "Access-Control-Expose-Headers: " CORS_EXPOSE_HEADERS "\r\n",
	    r->origin);
	if (r->method == METHOD_OPTIONS)
		buf_puts(h, "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n"
		    "Access-Control-Allow-Headers: " CORS_ALLOW_HEADERS "\r\n"
		    "Access-Control-Max-Age: 600\r\n");
}

void
stage_respond(struct req *r)
{
	struct buf	 h;
	char		 allow[128];
	size_t		 i;

	if (r->err != AERR_OK && r->err != AERR_DONE) {
		if (r->err == AERR_METHOD_NOT_ALLOWED &&
		    router_allow(r, allow, sizeof(allow)) > 0)
			req_header(r, "Allow", arena_strdup(r->arena, allow));
		if (r->err == AERR_UNAVAILABLE || r->err == AERR_BUSY)
			if (r->retry_after < 1)
				r->retry_after = conf->retry_after_unavailable;
		error_body(r);
	}
	if (r->content_type_out == NULL)
		r->content_type_out = "application/json; charset=utf-8";

	buf_init(&h, r->arena);
	buf_printf(&h, "Status: %d %s\r\n", r->status, reason(r->status));
	buf_printf(&h, "Content-Type: %s\r\n", r->content_type_out);
	buf_puts(&h, "X-Content-Type-Options: nosniff\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-XSS-Protection: 0\r\n"
	    "Vary: Origin\r\n");
	if (r->https)
		buf_puts(&h, "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n");
	buf_printf(&h, "X-Request-Id: %s\r\n", r->id);
	if (r->retry_after > 0)
		buf_printf(&h, "Retry-After: %lld\r\n", r->retry_after);
	add_cors(r, &h);
	for (i = 0; i < r->nheaders; i++)
		buf_printf(&h, "%s: %s\r\n", r->headers[i].name,
		    r->headers[i].value);
	if (r->status != 204)
		buf_printf(&h, "Content-Length: %zu\r\n", r->out.len);
	buf_puts(&h, "\r\n");

	if (r->io.write == NULL)
		return;
	(void)r->io.write(r->io.ctx, h.data, h.len);
	if (r->status != 204 && r->out.len > 0)
		(void)r->io.write(r->io.ctx, r->out.data, r->out.len);
}
