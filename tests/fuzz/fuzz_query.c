/*
 * fuzz_query - the small parsers of request text, each on the whole
 * input: the query string (pieces, '+', percent escapes, duplicates,
 * the parameter limit), percent decoding itself on raw bytes, the JSON
 * media type of Content-Type, and the aspida_session cookie out of a
 * Cookie header.  What each promises is checked: decoded text never
 * grows and never holds a NUL, names are unique and non-empty, at most
 * ASPIDA_MAX_QUERY of them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "fuzz.h"

static struct arena	*fuzz_arena;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_io	 io;
	struct req	 r;
	const char	*cookie;
	char		*text, *raw;
	size_t		 i, j, len;

	if (fuzz_arena == NULL)
		fuzz_arena = arena_new();
	text = fuzz_strndup(data, size);
	memset(&io, 0, sizeof(io));
	fuzz_io_param(&io, "HTTP_COOKIE", text);
	fuzz_req_init(&r, fuzz_arena, &io);

	if (stage_parse_query(&r, text) == 0) {
		if (r.nquery > ASPIDA_MAX_QUERY)
			fuzz_fail("%zu query parameters", r.nquery);
		for (i = 0; i < r.nquery; i++) {
			if (r.query[i].name[0] == '\0')
				fuzz_fail("empty parameter name");
			for (j = 0; j < i; j++)
				if (strcmp(r.query[i].name,
				    r.query[j].name) == 0)
					fuzz_fail("parameter %s twice",
					    r.query[i].name);
		}
	}

	/* Raw bytes, NULs included, as a length-counted buffer. */
	raw = fuzz_strndup(data, size);
	len = size;
	if (stage_parse_percent_decode(raw, &len) == 0) {
		if (len > size || raw[len] != '\0')
			fuzz_fail("decoded %zu bytes into %zu", size, len);
		if (memchr(data, '%', size) == NULL &&
		    (len != size || memcmp(raw, data, size) != 0))
			fuzz_fail("text without escapes changed");
		if (memchr(data, '\0', size) == NULL &&
		    memchr(raw, '\0', len) != NULL)
			fuzz_fail("an escape decoded to NUL");
	}
	free(raw);

	(void)stage_parse_content_type_is_json(text);
	if ((cookie = stage_auth_cookie(&r)) != NULL &&
	    strstr(text, cookie) == NULL)
		fuzz_fail("the cookie is not in the header");

	arena_reset(fuzz_arena);
	free(text);
	return 0;
}
