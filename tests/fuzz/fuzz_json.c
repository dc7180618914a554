/*
 * fuzz_json - the strict RFC 8259 pre-scan every body and token part
 * passes (json_strict_check: grammar, UTF-8, NUL, duplicate keys by their
 * decoded text, nesting), utf8_valid, and json-c's strict parse that
 * follows it in stage_body.  The first byte picks the nesting limit; the
 * rest is the document.  The scan must agree with itself: a document
 * valid under a limit is valid under the largest one.
 */
#include "config.h"

#include <stdlib.h>

#include <json-c/json.h>

#include "aspida.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	const char		*why, *why_max;
	char			*doc;
	size_t			 len;
	int			 depth, ok, ok_max;

	if (size < 1)
		return 0;
	depth = data[0] % (ASPIDA_JSON_DEPTH + 2);
	doc = fuzz_strndup(data + 1, size - 1);
	len = size - 1;

	(void)utf8_valid(doc, len);
	ok = json_strict_check(doc, len, depth, &why) == 0;
	ok_max = json_strict_check(doc, len, 256, &why_max) == 0;
	if (ok && !ok_max)
		fuzz_fail("valid at depth %d, not at 256: %s", depth, why_max);
	if (!ok && why == NULL)
		fuzz_fail("refused without a reason");
	if (ok) {
		if ((tok = json_tokener_new_ex(depth + 1)) == NULL)
			fuzz_fail("json_tokener_new_ex");
		json_tokener_set_flags(tok,
		    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		o = json_tokener_parse_ex(tok, doc, (int)len + 1);
		json_object_put(o);
		json_tokener_free(tok);
	}
	free(doc);
	return 0;
}
