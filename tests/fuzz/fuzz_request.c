/*
 * fuzz_request - a request as FastCGI hands it over: the input is
 * "NAME=VALUE" lines of CGI parameters (REQUEST_METHOD, REQUEST_URI,
 * REMOTE_ADDR, HTTP_* headers...).  It goes through the stages that read
 * them before any body: parse (method, URI, path segments, percent
 * escapes, query string, Content-Length, Accept, X-Forwarded-For), the
 * client stage (admin paths, the block list, with Redis down), the
 * router and the Allow list, authentication's pre-checks (Authorization,
 * X-API-Key, the session cookie; nothing verifies, since the input cannot
 * sign), CSRF (Origin, Referer, X-CSRF-Token, for a cookie session whose
 * token is fixed), validation of path and query parameters, and the
 * response, whose header block must stay one header block.
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
	char		*text, allow[128];
	enum aerr	 e;

	if (fuzz_arena == NULL)
		fuzz_arena = arena_new();
	text = fuzz_strndup(data, size);
	fuzz_io_parse(&io, text, size);
	fuzz_io_param(&io, "REMOTE_ADDR", "192.0.2.10");
	fuzz_req_init(&r, fuzz_arena, &io);

	if ((e = stage_parse(&r)) == AERR_OK &&
	    (e = stage_client(&r)) == AERR_OK) {
		(void)router_allow(&r, allow, sizeof(allow));
		if ((e = stage_route(&r)) == AERR_OK && r.route != NULL &&
		    (e = stage_auth(&r)) == AERR_OK) {
			/* A cookie session whose token verified. */
			if (r.who.kind == CRED_NONE ||
			    r.who.kind == CRED_COOKIE) {
				r.who.kind = CRED_COOKIE;
				memcpy(r.who.jti, FUZZ_JTI, sizeof(r.who.jti));
			}
			if ((e = stage_csrf(&r)) == AERR_OK &&
			    r.pending == AERR_OK)
				e = stage_validate(&r);
		}
		if (r.err == AERR_OK && r.pending != AERR_OK)
			(void)req_fail(&r, r.pending, r.pending_message);
	}
	(void)e;
	stage_respond(&r);
	arena_reset(fuzz_arena);
	free(text);
	return 0;
}
