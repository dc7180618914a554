/*
 * Stage 11, audit: what every request leaves behind.  Server errors are
 * security events (an attacker probing for a crash is one); each request
 * gets a debug line with its id, so a client's X-Request-Id leads to the
 * log.  The alert tallies (alerts.c) are counted here too.
 */
#include "config.h"

#include <time.h>

#include "aspida.h"

void
stage_audit(struct req *r)
{
	struct timespec	now;
	long long	ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - r->started.tv_sec) * 1000LL +
	    (now.tv_nsec - r->started.tv_nsec) / 1000000;
	metrics_request(r->route ? r->route->rate : RATE_DEFAULT, r->status,
	    (double)(now.tv_sec - r->started.tv_sec) +
	    (double)(now.tv_nsec - r->started.tv_nsec) / 1e9);
	if (r->status >= 500 && r->err == AERR_INTERNAL)
		event_recordf(r, "server_error", SEV_CRITICAL,
		    "status %d", r->status);
	log_debug("%s %s %s %s %d %lldms", r->id, r->client_ip,
	    r->method_name, r->path ? r->path : "-", r->status, ms);
	stage_ratelimit_charge(r);
	alerts_audit(r);
	if (r->who.kind == CRED_APIKEY && r->principal != NULL)
		route_keys_note_use(r);
	event_flush_due();
	route_keys_flush_due();
}
