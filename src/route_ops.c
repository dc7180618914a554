/*
 * Operations routes, outside /api/v1: liveness and readiness for load
 * balancers and supervisors.  Their bodies are not in the error shape.
 */
#include "config.h"

#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

enum aerr
route_healthz(struct req *r)
{
	struct json_object	*root = json_object_new_object();

	json_object_object_add(root, "status", json_object_new_string("ok"));
	return json_respond(r, 200, root);
}

enum aerr
route_readyz(struct req *r)
{
	struct json_object	*root, *failing;
	PGresult		*res;
	int			 pg_ok, redis_ok, status = 200;
	const char		*state = "ok";

	pg_ok = db_query(r, DB_PING, NULL, &res) == AERR_OK;
	redis_ok = kv_ping() == 0;
	failing = json_object_new_array();
	if (!pg_ok)
		json_object_array_add(failing, json_object_new_string("postgresql"));
	if (!redis_ok)
		json_object_array_add(failing, json_object_new_string("redis"));
	if (!pg_ok || (!redis_ok && !conf->redis_failure_open)) {
		state = "unavailable";
		status = 503;
		r->retry_after = conf->retry_after_unavailable;
	} else if (!redis_ok)
		state = "degraded";
	root = json_object_new_object();
	json_object_object_add(root, "status", json_object_new_string(state));
	if (status != 200 || !redis_ok)
		json_object_object_add(root, "failing", failing);
	else
		json_object_put(failing);
	return json_respond(r, status, root);
}

/*
 * Prometheus metrics, only to metrics_allow_ips (else the route does not
 * exist: 404).  Loopback counts only without an untrusted
 * X-Forwarded-For (API.md).
 */
enum aerr
route_metrics(struct req *r)
{
	if (!stage_client_allowed(r, &conf->metrics_allow_ips))
		return req_fail(r, AERR_NOT_FOUND, NULL);
	metrics_render(&r->out);
	r->status = 200;
	r->content_type_out = "text/plain; version=0.0.4; charset=utf-8";
	return AERR_OK;
}
