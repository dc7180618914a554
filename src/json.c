/*
 * JSON responses through json-c, serialised plainly (and without json-c's
 * "\/" escaping).  The object is released with the request.
 */
#include "config.h"

#include <json-c/json.h>

#include "aspida.h"

static void
json_put(void *o)
{
	json_object_put(o);
}

const char *
json_text(struct json_object *o, size_t *len)
{
	return json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

/*
 * Makes o (whose reference the request takes over) the response body with
 * the given status.  Returns AERR_OK, so handlers can end with it.
 */
enum aerr
json_respond(struct req *r, int status, struct json_object *o)
{
	const char	*s;
	size_t		 len;

	if (o == NULL)
		fatalx("json_respond: out of memory");
	arena_defer(r->arena, json_put, o);
	s = json_text(o, &len);
	r->out.len = 0;
	buf_append(&r->out, s, len);
	r->status = status;
	r->content_type_out = "application/json; charset=utf-8";
	return AERR_OK;
}
