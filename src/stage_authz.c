/*
 * Stage 6, authorize: may these credentials call this route?  API keys
 * may call only the routes marked for them (market data, forecasts,
 * portfolio), within their scopes ("write" includes "read"); admin
 * routes need the admin role (and never take a key).
 */
#include "config.h"

#include "aspida.h"

enum aerr
stage_authz(struct req *r)
{
	unsigned int	need = r->route->scopes, have;

	if (r->route->admin && r->who.kind != CRED_APIKEY && !r->who.admin) {
		event_recordf(r, "admin_refused", SEV_WARNING,
		    "admin route called by a non-admin");
		return req_fail(r, AERR_FORBIDDEN, NULL);
	}
	if (r->who.kind != CRED_APIKEY)
		return AERR_OK;
	if (!r->route->keys) {
		event_recordf(r, "api_key_refused", SEV_WARNING,
		    "API key on a route keys may not use");
		return req_fail(r, AERR_FORBIDDEN,
		    "API keys may not call this route.");
	}
	have = r->who.scopes;
	if (have & SCOPE_WRITE)
		have |= SCOPE_READ;
	if ((need & have) != need) {
		event_recordf(r, "api_key_refused", SEV_WARNING,
		    "API key without the scope this route needs");
		return req_fail(r, AERR_INSUFFICIENT_SCOPE, NULL);
	}
	return AERR_OK;
}
