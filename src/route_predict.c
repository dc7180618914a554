/*
 * Forecasts (POST /predict/{asset_id}): least squares on the log prices
 * of the asset's recent points, outliers excluded (forecast.c).  A
 * forecast is heavy: at most predict_max_inflight run at once across all
 * workers and hosts (a Redis gate whose slots expire if a worker dies),
 * and none while the circuit breaker is open.  Every forecast is stored,
 * to be scored against the price that arrives at its horizon.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

#define PREDICT_GATE	"predict"

static enum aerr
compute(struct req *r, PGresult *res, long long hours, struct forecast *fc)
{
	long long	*t;
	double		*p;
	const char	*why = NULL;
	int		 i, n = PQntuples(res), rc;
	long long	 now = (long long)time(NULL), horizon;

	if (n == 1 && PQgetisnull(res, 0, 1))
		n = 0;
	if (n < conf->predict_min_points)
		return req_fail(r, AERR_CONFLICT,
		    "This asset has too few recent prices to forecast.");
	t = arena_alloc(r->arena, (size_t)n * sizeof(*t));
	p = arena_alloc(r->arena, (size_t)n * sizeof(*p));
	for (i = 0; i < n; i++) {
		t[i] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		p[i] = strtod(PQgetvalue(res, i, 2), NULL);
	}
	/* The horizon counts from now, whatever the age of the last point. */
	horizon = now + hours * 3600 - t[0];
	if (horizon < 1)
		horizon = 1;
	rc = forecast_compute(t, p, (size_t)n, horizon,
	    (size_t)conf->predict_min_points, FORECAST_OUTLIER_K, fc, &why);
	if (rc == FORECAST_ENODATA)
		return req_fail(r, AERR_CONFLICT,
		    "This asset's recent prices cannot support a forecast.");
	if (rc != 0) {
		log_warnx("%s: forecast: %s", r->id, why ? why : "failed");
		return req_fail(r, AERR_INTERNAL, NULL);
	}
	return AERR_OK;
}

enum aerr
route_predict(struct req *r)
{
	const struct value	*asset = req_path(r, "asset_id");
	const struct value	*h = req_body(r, "horizon_hours");
	struct json_object	*o, *iv;
	struct forecast		 fc;
	const char		*params[11];
	char			 limit[24], hours[24], uid[24], target[24];
	char			 pred[FORECAST_DECIMAL_MAX], low[FORECAST_DECIMAL_MAX];
	char			 high[FORECAST_DECIMAL_MAX], conf_s[FORECAST_DECIMAL_MAX];
	char			 used[24], excl[24], slot[33];
	PGresult		*res;
	enum aerr		 e;
	long long		 nh = h ? h->i : 24;

	if (!breaker_allow())
		return req_fail(r, AERR_UNAVAILABLE, NULL);
	switch (gate_enter(PREDICT_GATE, conf->predict_max_inflight,
	    conf->gate_slot_ttl, slot)) {
	case 1:
		break;
	case 0:
		r->retry_after = 1;
		event_recordf(r, "gate_full", SEV_INFO, "forecast gate full");
		return req_fail(r, AERR_BUSY, NULL);
	default:
		/* Redis is down: open serves, one forecast per worker at most. */
		if (!conf->redis_failure_open)
			return req_fail(r, AERR_UNAVAILABLE, NULL);
		slot[0] = '\0';
		break;
	}
	(void)snprintf(limit, sizeof(limit), "%lld", conf->predict_window_points);
	params[0] = asset->s;
	params[1] = limit;
	e = db_query(r, DB_PREDICT_POINTS, params, &res);
	if (e == AERR_OK && PQntuples(res) == 0)
		e = req_fail(r, AERR_UNKNOWN_ASSET, NULL);
	else if (e == AERR_OK)
		e = compute(r, res, nh, &fc);
	else
		e = req_fail(r, e, NULL);
	gate_leave(PREDICT_GATE, slot);
	if (e != AERR_OK)
		return e;

	if (forecast_decimal(fc.predicted, pred, sizeof(pred)) == -1 ||
	    forecast_decimal(fc.low, low, sizeof(low)) == -1 ||
	    forecast_decimal(fc.high, high, sizeof(high)) == -1 ||
	    forecast_decimal(fc.confidence, conf_s, sizeof(conf_s)) == -1)
		return req_fail(r, AERR_INTERNAL, NULL);
	(void)snprintf(uid, sizeof(uid), "%lld", r->who.user_id);
	(void)snprintf(hours, sizeof(hours), "%lld", nh);
	(void)snprintf(target, sizeof(target), "%lld", fc.target);
	(void)snprintf(used, sizeof(used), "%zu", fc.points_used);
	(void)snprintf(excl, sizeof(excl), "%zu", fc.outliers_excluded);
	params[0] = uid;
	params[1] = asset->s;
	params[2] = hours;
	params[3] = target;
	params[4] = pred;
	params[5] = low;
	params[6] = high;
	params[7] = conf_s;
	params[8] = fc.model;
	params[9] = used;
	params[10] = excl;
	if ((e = db_query(r, DB_FORECAST_INSERT, params, &res)) != AERR_OK)
		return req_fail(r, e, NULL);

	o = json_object_new_object();
	json_object_object_add(o, "asset_id", json_object_new_string(asset->s));
	json_object_object_add(o, "horizon_hours", json_object_new_int64(nh));
	json_object_object_add(o, "predicted_price", json_object_new_string(pred));
	iv = json_object_new_object();
	json_object_object_add(iv, "low", json_object_new_string(low));
	json_object_object_add(iv, "high", json_object_new_string(high));
	json_object_object_add(iv, "level", json_object_new_string("0.95"));
	json_object_object_add(o, "interval", iv);
	json_object_object_add(o, "confidence", json_object_new_string(conf_s));
	json_object_object_add(o, "model", json_object_new_string(fc.model));
	json_object_object_add(o, "points_used",
	    json_object_new_int64((long long)fc.points_used));
	json_object_object_add(o, "outliers_excluded",
	    json_object_new_int64((long long)fc.outliers_excluded));
	return json_respond(r, 200, o);
}
