/*
 * Reads and parses the request body, once the client, route and
 * credentials have been judged: a blocked or unauthenticated client never
 * makes aspida read its body.  Sizes are checked before reading (413),
 * the media type before parsing (415), then strict RFC 8259 (our pre-scan,
 * since json-c accepts NaN, single quotes, duplicates and more) and only
 * then json-c.  A price feed's credentials are its source, address and
 * body signature (route_ingest.c): the first two are judged before the
 * body is read, the signature on the raw bytes before they are parsed.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "aspida.h"

static void
json_put(void *o)
{
	json_object_put(o);
}

enum aerr
stage_body(struct req *r)
{
	struct json_tokener	*tok;
	const char		*why;
	size_t			 limit, got = 0;
	int			 n;
	enum aerr		 e;

	if (r->route->ingest && (e = route_ingest_source(r)) != AERR_OK)
		return e;
	limit = (size_t)(r->route->ingest ? conf->ingest_max_body_bytes :
	    conf->max_body_bytes);
	if (r->content_length > limit) {
		event_recordf(r, "payload_too_large", SEV_WARNING,
		    "Content-Length %zu over %zu", r->content_length, limit);
		return req_fail(r, AERR_PAYLOAD_TOO_LARGE, NULL);
	}
	if (r->content_length == 0)
		return r->route->ingest ? route_ingest_signed(r) : AERR_OK;
	if (!stage_parse_content_type_is_json(r->content_type))
		return req_fail(r, AERR_UNSUPPORTED_MEDIA_TYPE, NULL);
	r->body = arena_alloc(r->arena, r->content_length + 1);
	while (got < r->content_length) {
		n = r->io.read(r->io.ctx, r->body + got, r->content_length - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != r->content_length)
		return req_fail(r, AERR_INVALID_INPUT,
		    "The request body is shorter than its Content-Length.");
	r->body[got] = '\0';
	r->body_len = got;
	if (r->route->ingest && (e = route_ingest_signed(r)) != AERR_OK)
		return e;

	if (json_strict_check(r->body, r->body_len, ASPIDA_JSON_DEPTH, &why) == -1) {
		event_recordf(r, "invalid_json", SEV_INFO, "%s", why);
		return req_fail(r, AERR_INVALID_JSON, NULL);
	}
	if ((tok = json_tokener_new_ex(ASPIDA_JSON_DEPTH + 1)) == NULL)
		fatalx("json_tokener_new_ex");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	r->json = json_tokener_parse_ex(tok, r->body, (int)r->body_len + 1);
	arena_defer(r->arena, json_put, r->json);
	if (r->json == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(r->json, json_type_object)) {
		json_tokener_free(tok);
		return req_fail(r, AERR_INVALID_JSON, NULL);
	}
	json_tokener_free(tok);
	/* Checked after parsing, so every body is held to strict JSON. */
	if (r->route->body == NULL)
		return req_fail(r, AERR_INVALID_INPUT,
		    "This route takes no request body.");
	return AERR_OK;
}
