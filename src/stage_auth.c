/*
 * Stage 3, authenticate: which credentials came, and whether they hold.
 * At most one kind per request (API.md); two session cookies are refused.
 * Credentials that fail are answered 401 at once, never treated as
 * anonymous.  Verification of each kind (JWT, API key, session) belongs
 * to the authentication work; until a verifier exists for a kind, every
 * credential of that kind fails, which is the safe reading.
 */
#include "config.h"

#include <string.h>

#include "aspida.h"

/* Counts "aspida_session=" cookies in a Cookie header. */
static int
session_cookies(const char *cookie)
{
	const char	*p = cookie;
	int		 n = 0;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (strncmp(p, "aspida_session=", strlen("aspida_session=")) == 0)
			n++;
		p = strchr(p, ';');
	}
	return n;
}

enum aerr
stage_auth(struct req *r)
{
	int	kinds = 0, cookies;

	if (r->route->auth == AUTH_NONE || r->route->auth == AUTH_IGNORED)
		return AERR_OK;
	if (req_param(r, "HTTP_AUTHORIZATION") != NULL)
		kinds++;
	if (req_param(r, "HTTP_X_API_KEY") != NULL)
		kinds++;
	if ((cookies = session_cookies(req_param(r, "HTTP_COOKIE"))) > 1)
		return req_fail(r, AERR_INVALID_INPUT,
		    "Send at most one aspida_session cookie.");
	kinds += cookies;
	if (kinds > 1)
		return req_fail(r, AERR_INVALID_INPUT,
		    "Send one kind of credentials, not several.");
	if (kinds == 1) {
		event_recordf(r, "auth_failure", SEV_WARNING,
		    "credentials of a kind this server cannot verify");
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	}
	if (r->route->auth == AUTH_REQUIRED)
		return req_fail(r, AERR_UNAUTHORIZED, NULL);
	return AERR_OK;
}
