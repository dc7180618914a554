/*
 * The error table: API.md's status and code for each error, with a
 * sentence of our own.  Only the respond stage turns these into JSON, and
 * no message ever carries library or database text.
 */
#include "config.h"

#include "aspida.h"

const struct aerr_info aerrs[AERR__MAX] = {
	[AERR_OK] = { 200, "ok", "" },
	[AERR_DONE] = { 200, "ok", "" },
	[AERR_INVALID_INPUT] = { 400, "invalid_input",
	    "The request is malformed or out of range." },
	[AERR_INVALID_ASSET] = { 400, "invalid_asset",
	    "The asset id is malformed: it must be 1 to 10 upper-case letters or digits." },
	[AERR_INVALID_JSON] = { 400, "invalid_json",
	    "The body is not a single strict JSON object." },
	[AERR_WEAK_PASSWORD] = { 400, "weak_password",
	    "The password is too weak." },
	[AERR_UNAUTHORIZED] = { 401, "unauthorized",
	    "Valid credentials are required." },
	[AERR_INVALID_CREDENTIALS] = { 401, "invalid_credentials",
	    "The email or password is wrong." },
	[AERR_TOKEN_EXPIRED] = { 401, "token_expired",
	    "The credentials have expired." },
	[AERR_TOKEN_REVOKED] = { 401, "token_revoked",
	    "The credentials have been revoked." },
	[AERR_FORBIDDEN] = { 403, "forbidden",
	    "You are not allowed to do this." },
	[AERR_CSRF_FAILED] = { 403, "csrf_failed",
	    "The CSRF token or origin check failed." },
	[AERR_IP_NOT_ALLOWED] = { 403, "ip_not_allowed",
	    "These credentials may not be used from this address." },
	[AERR_INSUFFICIENT_SCOPE] = { 403, "insufficient_scope",
	    "These credentials lack the scope this route needs." },
	[AERR_NOT_FOUND] = { 404, "not_found",
	    "Nothing was found here." },
	[AERR_UNKNOWN_ASSET] = { 404, "unknown_asset",
	    "No such asset is listed." },
	[AERR_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed",
	    "This method is not allowed on this route." },
	[AERR_CONFLICT] = { 409, "conflict",
	    "The request conflicts with the current state." },
	[AERR_INSUFFICIENT_HOLDINGS] = { 409, "insufficient_holdings",
	    "You do not hold enough of this asset." },
	[AERR_EMAIL_TAKEN] = { 409, "email_taken",
	    "This email address is already registered." },
	[AERR_PAYLOAD_TOO_LARGE] = { 413, "payload_too_large",
	    "The request body is too large." },
	[AERR_UNSUPPORTED_MEDIA_TYPE] = { 415, "unsupported_media_type",
	    "Request bodies must be application/json." },
	[AERR_ACCOUNT_LOCKED] = { 423, "account_locked",
	    "This account is temporarily locked." },
	[AERR_RATE_LIMITED] = { 429, "rate_limited",
	    "Too many requests; slow down." },
	[AERR_QUOTA_EXCEEDED] = { 429, "quota_exceeded",
	    "The daily download quota is spent." },
	[AERR_INTERNAL] = { 500, "internal",
	    "An internal error occurred." },
	[AERR_BUSY] = { 503, "busy",
	    "The server is busy; try again shortly." },
	[AERR_UNAVAILABLE] = { 503, "unavailable",
	    "The service is temporarily unavailable." },
};

/*
 * Records why the request fails, with an optional sentence of our own
 * (never library text) in place of the table's.  Returns the error, so a
 * stage can write "return req_fail(...)".
 */
enum aerr
req_fail(struct req *r, enum aerr e, const char *message)
{
	r->err = e;
	r->err_message = message;
	return e;
}

/*
 * Holds an error to be answered after the rate limit stage, so that a
 * request for an unknown path or with bad credentials still passes (and
 * is counted by) the per-address limits.  The first held error wins.
 * Returns AERR_OK: the pipeline goes on to the limits.
 */
enum aerr
stage_defer(struct req *r, enum aerr e, const char *message)
{
	if (r->pending == AERR_OK) {
		r->pending = e;
		r->pending_message = message;
	}
	return AERR_OK;
}
