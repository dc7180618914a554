/*
 * fuzz_ingest - the signed price feed, POST /api/v1/ingest/prices.  The
 * input is "NAME=VALUE" lines of CGI parameters (HTTP_X_SOURCE,
 * HTTP_X_SIGNATURE, REMOTE_ADDR...), an empty line, and the body.  An
 * X-Signature of "auto" is replaced by the right one for the body under
 * feed1's secret, so the fuzzer gets past the signature to the parsers
 * behind it.  The request goes through the source and address checks,
 * the signature check on the raw bytes, stage_body, validation, and the
 * handler up to the database (which is down: it stops at loading the
 * assets' references).  Then the points are judged (ingest_judge_batch)
 * against fixed references: an asset with a window and a pending run
 * from an earlier request, one with a window only, one with a level
 * start, one with nothing yet.  The verdicts must be consistent, and no
 * one batch may move the level of an asset nothing earlier pointed to.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aspida.h"
#include "fuzz.h"

#define FUZZ_ASSETS	4
#define FUZZ_CANDCAP	64
#define FUZZ_REQID	"fedcba9876543210fedcba9876543210"

static struct arena	*fuzz_arena;
static struct ingest_ref fuzz_btc[40], fuzz_sol[40], fuzz_aapl[10];
static const long long	 fuzz_existing[] = {
	FUZZ_NOW - 60, FUZZ_NOW - 120, FUZZ_NOW - 3600
};
static struct ingest_candidate fuzz_cand[FUZZ_ASSETS][FUZZ_CANDCAP];
static struct ingest_candidate fuzz_adopt[FUZZ_ASSETS][FUZZ_CANDCAP];

/* The references the route would have loaded. */
static void
fuzz_assets(struct ingest_asset *a)
{
	struct ingest_candidate	*x;
	size_t			 i;

	for (i = 0; i < 40; i++) {
		fuzz_btc[i].ts = FUZZ_NOW - 60 * (long long)(i + 1);
		fuzz_btc[i].price = 64000 + (double)(i % 7) * 25;
		fuzz_sol[i].ts = FUZZ_NOW - 300 * (long long)(i + 1);
		fuzz_sol[i].price = 140 + (double)(i % 3);
	}
	for (i = 0; i < 10; i++) {
		fuzz_aapl[i].ts = FUZZ_NOW - 3600 * (long long)(i + 1);
		fuzz_aapl[i].price = i < 4 ? 190.5 : 95.25;	/* a split */
	}
	memset(a, 0, FUZZ_ASSETS * sizeof(*a));
	(void)strlcpy(a[0].id, "BTC", sizeof(a[0].id));
	a[0].recent = fuzz_btc;
	a[0].nrecent = 40;
	a[0].existing = fuzz_existing;
	a[0].nexisting = 3;
	(void)strlcpy(a[1].id, "SOL", sizeof(a[1].id));
	a[1].recent = fuzz_sol;
	a[1].nrecent = 40;
	(void)strlcpy(a[2].id, "AAPL", sizeof(a[2].id));
	a[2].recent = fuzz_aapl;
	a[2].nrecent = 10;
	a[2].anchor_ts = FUZZ_NOW - 4 * 3600;
	(void)strlcpy(a[3].id, "ETH", sizeof(a[3].id));
	for (i = 0; i < FUZZ_ASSETS; i++) {
		a[i].cand = fuzz_cand[i];
		a[i].candcap = FUZZ_CANDCAP;
		a[i].adopt = fuzz_adopt[i];
		a[i].adoptcap = FUZZ_CANDCAP;
	}
	/* BTC: three outliers from an earlier request, pending. */
	memset(fuzz_cand[0], 0, sizeof(fuzz_cand[0]));
	for (i = 0; i < 3; i++) {
		x = &fuzz_cand[0][i];
		x->ts = FUZZ_NOW - 900 + 60 * (long long)i;
		x->received = FUZZ_NOW - 900 + 60 * (long long)i;
		(void)strlcpy(x->price.text, i == 1 ? "90125.5" : "90000",
		    sizeof(x->price.text));
		(void)strlcpy(x->request_id, "00000000000000000000000000000001",
		    sizeof(x->request_id));
		(void)strlcpy(x->source, FUZZ_SOURCE, sizeof(x->source));
	}
	a[0].ncand = 3;
}

/* The points as route_ingest reads them: strings only, NUL-free. */
static size_t
fuzz_points(struct json_object *list, struct ingest_point *p, size_t max)
{
	struct json_object	*o;
	const char		*s;
	size_t			 i, n, len;

	n = json_object_array_length(list);
	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		o = json_object_array_get_idx(list, i);
		json_object_object_foreach(o, key, val) {
			if (!json_object_is_type(val, json_type_string))
				continue;
			s = json_object_get_string(val);
			len = (size_t)json_object_get_string_len(val);
			if (strlen(s) != len)
				continue;
			if (strcmp(key, "asset_id") == 0) {
				p[i].asset = s;
				p[i].asset_len = len;
			} else if (strcmp(key, "price") == 0) {
				p[i].price = s;
				p[i].price_len = len;
			} else if (strcmp(key, "ts") == 0 &&
			    timestamp_parse(s, len, &p[i].ts) == 0)
				p[i].has_ts = 1;
		}
	}
	return n;
}

static void
fuzz_judge(struct json_object *list)
{
	static struct ingest_point	 p[INGEST_BATCH_MAX];
	static struct ingest_verdict	 v[INGEST_BATCH_MAX];
	struct ingest_asset		 a[FUZZ_ASSETS];
	struct ingest_config		 c;
	struct ingest_batch		 b;
	const char			*why;
	size_t				 n, i, j, k;

	n = fuzz_points(list, p, INGEST_BATCH_MAX);
	fuzz_assets(a);
	ingest_store_config(&c);
	b.request_id = FUZZ_REQID;
	b.source = FUZZ_SOURCE;
	b.now = FUZZ_NOW;
	if (ingest_judge_batch(&c, &b, p, n, a, FUZZ_ASSETS, v, &why) == -1)
		fuzz_fail("judge: %s", why);
	for (i = 0; i < n; i++) {
		if ((unsigned)v[i].reason >= INGEST__MAX)
			fuzz_fail("point %zu: reason %d", i, (int)v[i].reason);
		if ((v[i].reason == INGEST_INVALID_ASSET) !=
		    (v[i].asset == SIZE_MAX) ||
		    (v[i].asset != SIZE_MAX && v[i].asset >= FUZZ_ASSETS))
			fuzz_fail("point %zu: asset %zu", i, v[i].asset);
		if (v[i].reason != INGEST_ACCEPTED)
			continue;
		if (!p[i].has_ts || p[i].ts < FUZZ_NOW - c.max_age ||
		    p[i].ts > FUZZ_NOW + c.future_skew ||
		    !(v[i].price.value > 0))
			fuzz_fail("point %zu accepted out of bounds", i);
		if (v[i].reanchored && v[i].asset != 0)
			fuzz_fail("point %zu: one batch moved %s's level", i,
			    a[v[i].asset].id);
		for (k = 0; v[i].asset == 0 && k < 3; k++)
			if (p[i].ts == fuzz_existing[k])
				fuzz_fail("point %zu: a stored time again", i);
		for (j = 0; j < i; j++)
			if (v[j].reason == INGEST_ACCEPTED &&
			    v[j].asset == v[i].asset && p[j].ts == p[i].ts)
				fuzz_fail("points %zu and %zu: one time twice",
				    j, i);
	}
	for (k = 0; k < FUZZ_ASSETS; k++)
		if (a[k].ncand > a[k].candcap || a[k].nadopt > a[k].adoptcap ||
		    (k != 0 && (a[k].reanchored || a[k].nadopt > 0)))
			fuzz_fail("asset %s: ncand %zu nadopt %zu moved %d",
			    a[k].id, a[k].ncand, a[k].nadopt, a[k].reanchored);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct value	*pv;
	struct fuzz_io		 io;
	struct req		 r;
	enum aerr		 err;
	char			*text, sig[72], clen[24];
	size_t			 i;

	if (fuzz_arena == NULL)
		fuzz_arena = arena_new();
	text = fuzz_strndup(data, size);
	fuzz_io_parse(&io, text, size);
	for (i = 0; i < io.n; i++)
		if (strcmp(io.name[i], "HTTP_X_SIGNATURE") == 0 &&
		    strcmp(io.value[i], "auto") == 0) {
			fuzz_sign(io.body != NULL ? io.body : "", io.bodylen,
			    sig);
			sig[71] = '\0';
			io.value[i] = sig;
		}
	(void)snprintf(clen, sizeof(clen), "%zu", io.bodylen);
	fuzz_io_param(&io, "REQUEST_METHOD", "POST");
	fuzz_io_param(&io, "REQUEST_URI", "/api/v1/ingest/prices");
	fuzz_io_param(&io, "REMOTE_ADDR", "192.0.2.10");
	fuzz_io_param(&io, "CONTENT_TYPE", "application/json");
	fuzz_io_param(&io, "CONTENT_LENGTH", clen);
	fuzz_req_init(&r, fuzz_arena, &io);

	if (stage_parse(&r) == AERR_OK &&
	    (r.route = router_match(&r, &err)) != NULL && r.route->ingest &&
	    stage_body(&r) == AERR_OK && stage_validate(&r) == AERR_OK) {
		if (r.principal == NULL ||
		    strcmp(r.principal, "source:" FUZZ_SOURCE) != 0)
			fuzz_fail("a body was parsed for %s", r.principal ?
			    r.principal : "no source");
		pv = req_body(&r, "points");
		(void)r.route->handler(&r);
		fuzz_judge(pv->list);
	}
	stage_respond(&r);
	arena_reset(fuzz_arena);
	free(text);
	return 0;
}
