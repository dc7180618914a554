/*
 * POST /ingest/prices: signed price feeds.  A feed authenticates as a
 * source of aspida.conf, not as a user: X-Source names it, the client
 * address must be in its allowed_ips, and X-Signature carries the
 * HMAC-SHA256 of the raw body under the source's secret.  The body stage
 * calls the first two checks before it reads a byte of the body and the
 * signature check as soon as it has read it, before the JSON is parsed,
 * so an unsigned body is never parsed, let alone judged.  Every refusal
 * is a security event naming the source, never the signature or secret.
 *
 * The handler turns the points into ingest_points and lets
 * ingest_store.c judge and store them; each rejection is answered with
 * its index and reason and recorded as a price_rejected event, and a
 * re-anchor (a new price level) as a price_reanchored warning.  Stored
 * points drop their asset's cached latest price, so GET /price serves
 * them at once.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aspida.h"

#define ROUTE_INGEST_SIG_PREFIX	"sha256="

/* The configured source of that name, or NULL. */
static const struct conf_source *
route_ingest_find(const char *name)
{
	size_t	 i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < conf->nsources; i++)
		if (strcmp(conf->sources[i].name, name) == 0)
			return &conf->sources[i];
	return NULL;
}

/* Whether a client's X-Source could be a source name, to log it as is. */
static int
route_ingest_name_shaped(const char *s)
{
	size_t	 n = strlen(s);

	return n >= 1 && n <= 32 && strspn(s,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/*
 * Refuses the feed: a security event (the source as named when it looks
 * like a name, never what came in X-Signature), and a 401 counted toward
 * the address's automatic block like any failed credential.
 */
static enum aerr
route_ingest_refuse(struct req *r, enum aerr e, const char *why,
    const char *source)
{
	struct json_object	*d;

	d = json_object_new_object();
	json_object_object_add(d, "reason", json_object_new_string(why));
	if (source != NULL)
		json_object_object_add(d, "source",
		    json_object_new_string(route_ingest_name_shaped(source) ?
		    source : "(malformed)"));
	event_record(r, "ingest_refused", SEV_WARNING, d);
	if (e == AERR_UNAUTHORIZED) {
		blocklist_note_failed_credential(r);
		return req_fail(r, e, "A known X-Source and a valid "
		    "X-Signature are required.");
	}
	return req_fail(r, e, NULL);
}

/*
 * Before the body is read: the source exists and the client's address is
 * one of its allowed_ips (loopback counts only without an untrusted
 * X-Forwarded-For).  Returns AERR_OK or the refusal.
 */
enum aerr
route_ingest_source(struct req *r)
{
	const struct conf_source	*src;
	const char			*name = req_param(r, "HTTP_X_SOURCE");

	if (name == NULL)
		return route_ingest_refuse(r, AERR_UNAUTHORIZED, "no_source",
		    NULL);
	if ((src = route_ingest_find(name)) == NULL)
		return route_ingest_refuse(r, AERR_UNAUTHORIZED,
		    "unknown_source", name);
	if (!stage_client_allowed(r, &src->allowed_ips))
		return route_ingest_refuse(r, AERR_IP_NOT_ALLOWED,
		    "address_not_allowed", src->name);
	return AERR_OK;
}

/*
 * Once the body is read, before it is parsed: X-Signature is exactly
 * "sha256=" and 64 lower-case hex digits, equal (in constant time) to
 * HMAC-SHA256(the source's secret, the raw body).  The request then
 * acts as "source:NAME".  Returns AERR_OK or the refusal.
 */
enum aerr
route_ingest_signed(struct req *r)
{
	const struct conf_source	*src;
	const char			*sig;
	unsigned char			 sent[32], mac[32];
	const size_t			 plen =
					    strlen(ROUTE_INGEST_SIG_PREFIX);
	int				 ok;

	if ((src = route_ingest_find(req_param(r, "HTTP_X_SOURCE"))) == NULL)
		return route_ingest_refuse(r, AERR_UNAUTHORIZED,
		    "unknown_source", req_param(r, "HTTP_X_SOURCE"));
	sig = req_param(r, "HTTP_X_SIGNATURE");
	if (sig == NULL || strlen(sig) != plen + 64 ||
	    strncmp(sig, ROUTE_INGEST_SIG_PREFIX, plen) != 0 ||
	    hex_decode(sig + plen, 64, sent, sizeof(sent)) == -1)
		return route_ingest_refuse(r, AERR_UNAUTHORIZED,
		    sig == NULL ? "no_signature" : "malformed_signature",
		    src->name);
	if (crypto_hmac_sha256(src->secret, src->secret_len,
	    r->body != NULL ? r->body : "", r->body_len, mac) == -1) {
		log_warnx("%s: source %s: cannot compute the HMAC", r->id,
		    src->name);
		return req_fail(r, AERR_INTERNAL, NULL);
	}
	ok = crypto_equal(mac, sent, sizeof(mac));
	explicit_bzero(mac, sizeof(mac));
	if (!ok)
		return route_ingest_refuse(r, AERR_UNAUTHORIZED,
		    "bad_signature", src->name);
	r->principal = arena_printf(r->arena, "source:%s", src->name);
	return AERR_OK;
}

/*
 * One point of the body: only asset_id, ts and price; a member of the
 * wrong type is left absent, which ingest.c turns into the point's
 * reason.  Returns 0, or -1 for a member no point may have.
 */
static int
route_ingest_point(struct json_object *o, struct ingest_point *p)
{
	const char	*s;
	size_t		 len;

	memset(p, 0, sizeof(*p));
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "asset_id") != 0 && strcmp(key, "ts") != 0 &&
		    strcmp(key, "price") != 0)
			return -1;
		if (!json_object_is_type(val, json_type_string))
			continue;
		s = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
		if (strlen(s) != len)
			continue;	/* an embedded NUL */
		if (strcmp(key, "asset_id") == 0) {
			p->asset = s;
			p->asset_len = len;
		} else if (strcmp(key, "price") == 0) {
			p->price = s;
			p->price_len = len;
		} else if (timestamp_parse(s, len, &p->ts) == 0)
			p->has_ts = 1;
	}
	return 0;
}

/* The events of a judged batch: each rejection, each new level. */
static void
route_ingest_events(struct req *r, const char *source,
    const struct ingest_point *points, size_t n,
    const struct ingest_result *res)
{
	const struct ingest_verdict	*v;
	const struct ingest_asset	*a;
	struct json_object		*d;
	char				 ts[32];
	size_t				 i, k, current;

	for (i = 0; i < n; i++) {
		v = &res->verdicts[i];
		if (v->reason == INGEST_ACCEPTED)
			continue;
		d = json_object_new_object();
		json_object_object_add(d, "source",
		    json_object_new_string(source));
		json_object_object_add(d, "index", json_object_new_int64(
		    (int64_t)i));
		/* The asset as sent only when well-formed: it is input. */
		json_object_object_add(d, "asset", points[i].asset != NULL &&
		    asset_id_valid(points[i].asset, points[i].asset_len) ?
		    json_object_new_string_len(points[i].asset,
		    (int)points[i].asset_len) : NULL);
		json_object_object_add(d, "reason",
		    json_object_new_string(ingest_reasons[v->reason]));
		if (v->reason == INGEST_OUTLIER) {
			json_object_object_add(d, "z",
			    json_object_new_double(v->z));
			json_object_object_add(d, "jump",
			    json_object_new_double(v->jump));
			json_object_object_add(d, "candidate",
			    json_object_new_boolean(v->candidate));
		}
		event_record(r, "price_rejected", v->reason == INGEST_OUTLIER ?
		    SEV_WARNING : SEV_INFO, d);
	}
	for (k = 0; k < res->nassets; k++) {
		a = &res->assets[k];
		if (!a->reanchored)
			continue;
		for (i = current = 0; i < n; i++)
			if (res->verdicts[i].reanchored &&
			    res->verdicts[i].asset == k)
				current++;
		timestamp_format(a->anchor_ts, ts, sizeof(ts));
		d = json_object_new_object();
		json_object_object_add(d, "source",
		    json_object_new_string(source));
		json_object_object_add(d, "asset",
		    json_object_new_string(a->id));
		json_object_object_add(d, "level_from",
		    json_object_new_string(ts));
		json_object_object_add(d, "points_of_this_batch",
		    json_object_new_int64((int64_t)current));
		json_object_object_add(d, "points_of_earlier_batches",
		    json_object_new_int64((int64_t)a->nadopt));
		event_record(r, "price_reanchored", SEV_WARNING, d);
	}
}

enum aerr
route_ingest(struct req *r)
{
	const struct value		*pv = req_body(r, "points");
	const struct conf_source	*src;
	struct ingest_point		*points;
	struct ingest_result		 res;
	struct json_object		*root, *rejected, *o;
	size_t				 i, n;
	enum aerr			 e;

	if ((src = route_ingest_find(req_param(r, "HTTP_X_SOURCE"))) == NULL)
		return req_fail(r, AERR_UNAUTHORIZED, NULL);	/* a bug */
	n = json_object_array_length(pv->list);
	points = arena_alloc(r->arena, (n ? n : 1) * sizeof(*points));
	for (i = 0; i < n; i++)
		if (route_ingest_point(json_object_array_get_idx(pv->list, i),
		    &points[i]) == -1)
			return req_fail(r, AERR_INVALID_INPUT, arena_printf(
			    r->arena, "Point %zu has a field other than "
			    "asset_id, ts and price.", i));
	if ((e = ingest_store_batch(r, src->name, points, n, &res)) !=
	    AERR_OK) {
		if (e == AERR_BUSY)
			r->retry_after = 1;
		return req_fail(r, e, NULL);
	}
	route_ingest_events(r, src->name, points, n, &res);

	rejected = json_object_new_array();
	for (i = 0; i < n; i++) {
		if (res.verdicts[i].reason == INGEST_ACCEPTED)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "index",
		    json_object_new_int64((int64_t)i));
		json_object_object_add(o, "reason", json_object_new_string(
		    ingest_reasons[res.verdicts[i].reason]));
		json_object_array_add(rejected, o);
	}
	root = json_object_new_object();
	json_object_object_add(root, "accepted",
	    json_object_new_int64((int64_t)res.accepted));
	json_object_object_add(root, "rejected", rejected);
	return json_respond(r, 200, root);
}
