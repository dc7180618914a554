/*
 * The stage loop (lighttpd's handler loop): each stage lets the request
 * through (AERR_OK) or ends it; respond and audit always run.  The order
 * is DESIGN.md's: nothing reads the body before the client and its
 * credentials have been judged.  Stages that later work adds (rate limit,
 * CSRF, authorisation, gates) slot into this table.
 */
#include "config.h"

#include "aspida.h"

static enum aerr (*const stages[])(struct req *) = {
	stage_parse,
	stage_client,
	stage_route,
	stage_auth,
	stage_ratelimit,
	stage_csrf,
	stage_authz,
	stage_body,
	stage_validate,
	stage_handler,
};

void
pipeline_run(struct req *r)
{
	size_t		i;
	enum aerr	e = AERR_OK;

	for (i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
		if ((e = stages[i](r)) != AERR_OK)
			break;
	}
	if (e != AERR_OK && r->err == AERR_OK)
		r->err = e;
	stage_respond(r);
	stage_audit(r);
}

enum aerr
stage_handler(struct req *r)
{
	return r->route->handler(r);
}
