/*
 * Stage 5, CSRF: a browser session (the aspida_session cookie) may change
 * state only with the CSRF token issued at its login in X-CSRF-Token and
 * from an allowed origin (Origin, or Referer when there is none): the
 * request's own origin or one listed in cors_origins.  Bearer and API-key
 * requests carry no ambient credentials and need neither.
 */
#include "config.h"

#include <string.h>

#include "aspida.h"

static int
unsafe(enum method m)
{
	return m == METHOD_POST || m == METHOD_PUT || m == METHOD_PATCH ||
	    m == METHOD_DELETE;
}

/* "scheme://host[:port]" of a Referer, into out; -1 if it has none. */
static int
referer_origin(const char *ref, char *out, size_t outsize)
{
	const char	*p, *end;
	size_t		 n;

	if ((p = strstr(ref, "://")) == NULL)
		return -1;
	p += 3;
	end = p + strcspn(p, "/?#");
	n = (size_t)(end - ref);
	if (end == p || n >= outsize)
		return -1;
	memcpy(out, ref, n);
	out[n] = '\0';
	return 0;
}

static int
origin_allowed(struct req *r, const char *origin)
{
	const char	*own;
	size_t		 i;

	if (r->host != NULL) {
		own = arena_printf(r->arena, "%s://%s",
		    r->https ? "https" : "http", r->host);
		if (strcmp(origin, own) == 0)
			return 1;
	}
	for (i = 0; i < conf->ncors_origins; i++)
		if (strcmp(conf->cors_origins[i], origin) == 0)
			return 1;
	return 0;
}

enum aerr
stage_csrf(struct req *r)
{
	const char	*sent, *origin = r->origin, *ref;
	char		 want[65], from_ref[512];

	if (r->who.kind != CRED_COOKIE || !unsafe(r->method))
		return AERR_OK;
	if (origin == NULL && (ref = req_param(r, "HTTP_REFERER")) != NULL &&
	    referer_origin(ref, from_ref, sizeof(from_ref)) == 0)
		origin = from_ref;
	sent = req_param(r, "HTTP_X_CSRF_TOKEN");
	if (token_csrf(r->who.jti, want) == -1)
		return req_fail(r, AERR_INTERNAL, NULL);
	if (sent == NULL || strlen(sent) != 64 ||
	    !crypto_equal(sent, want, 64) ||
	    origin == NULL || !origin_allowed(r, origin)) {
		event_recordf(r, "csrf_failure", SEV_WARNING, "%s",
		    sent == NULL ? "no CSRF token" : origin == NULL ?
		    "no Origin or Referer" : "CSRF token or origin refused");
		return req_fail(r, AERR_CSRF_FAILED, NULL);
	}
	return AERR_OK;
}
