/*
 * ingest_store.c - a batch of price points judged and stored: the I/O
 * around ingest.c, shared by POST /ingest/prices (route_ingest.c) and
 * `aspidactl import-prices`, so that a batch load passes exactly the
 * checks a signed feed does.
 *
 * One query loads, for every listed asset the batch names, what it is
 * judged against (DB_INGEST_LOAD); ingest_judge_batch() decides; one call
 * of ingest_commit() (sql/004_ingest.sql), hence one transaction, stores
 * the accepted points, the candidates a re-anchor adopted, the pending
 * runs and the anchors.  That call writes nothing when the state of an
 * asset it would write changed since the load (another batch for the
 * asset committed in between): the batch is then loaded and judged again,
 * at most INGEST_STORE_TRIES times, so concurrent batches for one asset
 * end as if one had run after the other.  Memory comes from the request's
 * arena.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "aspida.h"

#define INGEST_STORE_TRIES	8

/* What the load says of a listed asset beside its struct ingest_asset. */
struct ingest_store_aux {
	long long	 version;	/* of its state row, 0: none */
	const char	*cand;		/* its stored run, JSON */
	size_t		 nbatch;	/* points naming it */
	struct ingest_ref *recent;	/* filled, then handed over */
	size_t		 nrecent;
	long long	*existing;
	size_t		 nexisting;
	int		 dirty;		/* a candidate was dropped here */
};

/* The assets of one load, sorted by id. */
struct ingest_store_load {
	struct ingest_asset	*assets;
	struct ingest_store_aux	*aux;
	const char		**ids;	/* ids[k] == assets[k].id */
	size_t			 n;
};

/* The judgement's limits, from the configuration. */
void
ingest_store_config(struct ingest_config *c)
{
	ingest_config_default(c);
	c->max_price = conf->max_price;
	c->max_age = conf->ingest_max_age;
	c->future_skew = conf->ingest_future_skew;
	c->outlier_z = conf->outlier_z;
	c->max_jump = conf->max_jump;
	c->reanchor_points = (size_t)conf->reanchor_points;
	c->reanchor_span = conf->reanchor_span;
}

static int
ingest_store_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
ingest_store_cmp_ll(const void *a, const void *b)
{
	long long	 x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* The index of id in the sorted ids[0..n), or -1. */
static long
ingest_store_find(const char **ids, size_t n, const char *id)
{
	const char	**p;

	if (n == 0)
		return -1;
	p = bsearch(&id, ids, n, sizeof(*ids), ingest_store_cmp_str);
	return p == NULL ? -1 : (long)(p - ids);
}

/*
 * The distinct well-formed asset ids the points name, sorted, into *idsp;
 * and the load's parameters: those ids and the (asset, ts) pairs whose
 * storage is asked about, as PostgreSQL array literals (ids are only
 * [A-Z0-9], times only digits: nothing to quote).  Returns the number of
 * ids.
 */
static size_t
ingest_store_ids(struct req *r, const struct ingest_point *points, size_t n,
    const char ***idsp, const char **params)
{
	const char	**ids;
	struct buf	 lit, pids, pts;
	size_t		 i, k = 0, m = 0, np = 0;

	ids = arena_alloc(r->arena, (n ? n : 1) * sizeof(*ids));
	buf_init(&lit, r->arena);
	buf_init(&pids, r->arena);
	buf_init(&pts, r->arena);
	for (i = 0; i < n; i++) {
		if (points[i].asset == NULL ||
		    !asset_id_valid(points[i].asset, points[i].asset_len))
			continue;
		ids[k++] = arena_strndup(r->arena, points[i].asset,
		    points[i].asset_len);
		if (!points[i].has_ts)
			continue;
		buf_printf(&pids, "%s%s", np ? "," : "", ids[k - 1]);
		buf_printf(&pts, "%s%lld", np ? "," : "", points[i].ts);
		np++;
	}
	qsort(ids, k, sizeof(*ids), ingest_store_cmp_str);
	for (i = 0; i < k; i++)
		if (m == 0 || strcmp(ids[m - 1], ids[i]) != 0)
			ids[m++] = ids[i];
	buf_puts(&lit, "{");
	for (i = 0; i < m; i++)
		buf_printf(&lit, "%s%s", i ? "," : "", ids[i]);
	buf_puts(&lit, "}");
	params[0] = arena_strdup(r->arena, buf_cstr(&lit));
	params[2] = arena_printf(r->arena, "{%s}", buf_cstr(&pids));
	params[3] = arena_printf(r->arena, "{%s}", buf_cstr(&pts));
	*idsp = ids;
	return m;
}

/* A JSON string member of at most size - 1 bytes, copied; 0 or -1. */
static int
ingest_store_jstr(struct json_object *o, const char *key, char *out,
    size_t size)
{
	struct json_object	*v;
	const char		*s;
	size_t			 len;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len >= size || strlen(s) != len)
		return -1;
	memcpy(out, s, len + 1);
	return 0;
}

static int
ingest_store_jint(struct json_object *o, const char *key, long long *out)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	*out = (long long)json_object_get_int64(v);
	return 0;
}

/*
 * The asset's stored run of candidates, from its JSON, into arrays sized
 * for whatever the batch may add (ingest.c never grows them).  A run
 * longer than reanchor_pending keeps its newest.  Entries that are not
 * what ingest_commit() writes are skipped; ingest.c checks the rest
 * (times, prices) against today's limits.
 */
static void
ingest_store_candidates(struct req *r, const struct ingest_config *c,
    struct ingest_asset *a, const char *text, size_t nbatch)
{
	struct json_object	*root, *o;
	struct ingest_candidate	*x;
	size_t			 i, n = 0, first, cap;

	root = json_tokener_parse(text);
	if (root != NULL && json_object_is_type(root, json_type_array))
		n = json_object_array_length(root);
	first = n > c->reanchor_pending ? n - c->reanchor_pending : 0;
	cap = n - first + nbatch;
	if (cap > c->reanchor_pending)
		cap = c->reanchor_pending;
	if (cap < c->reanchor_points)
		cap = c->reanchor_points;
	a->cand = arena_alloc(r->arena, cap * sizeof(*a->cand));
	a->candcap = cap;
	a->adopt = arena_alloc(r->arena,
	    (n > first ? n - first : 1) * sizeof(*a->adopt));
	a->adoptcap = n - first;
	a->ncand = 0;
	for (i = first; i < n && a->ncand < cap; i++) {
		o = json_object_array_get_idx(root, i);
		x = &a->cand[a->ncand];
		memset(x, 0, sizeof(*x));
		if (!json_object_is_type(o, json_type_object) ||
		    ingest_store_jint(o, "ts", &x->ts) == -1 ||
		    ingest_store_jint(o, "received", &x->received) == -1 ||
		    ingest_store_jstr(o, "price", x->price.text,
		    sizeof(x->price.text)) == -1 ||
		    ingest_store_jstr(o, "request_id", x->request_id,
		    sizeof(x->request_id)) == -1 ||
		    ingest_store_jstr(o, "source", x->source,
		    sizeof(x->source)) == -1)
			continue;
		x->price.len = strlen(x->price.text);
		a->ncand++;
	}
	json_object_put(root);
}

/*
 * Drops the candidates whose time has a stored price (put there by
 * someone else than ingestion, since ingest.c never lets a stored time
 * join a run): adopting one could never be stored.
 */
static void
ingest_store_drop_stored(struct ingest_asset *a, struct ingest_store_aux *x)
{
	size_t	 i, k = 0;

	for (i = 0; i < a->ncand; i++) {
		if (a->nexisting > 0 && bsearch(&a->cand[i].ts, a->existing,
		    a->nexisting, sizeof(*a->existing),
		    ingest_store_cmp_ll) != NULL) {
			x->dirty = 1;
			continue;
		}
		a->cand[k++] = a->cand[i];
	}
	a->ncand = k;
}

/*
 * Runs the load and builds the listed assets the batch names: state,
 * recent points, stored times, candidates.  Returns AERR_OK with *ld
 * filled, or the database's error.
 */
static enum aerr
ingest_store_load(struct req *r, const struct ingest_config *c,
    const struct ingest_point *points, size_t n, const char **ids,
    size_t nids, const char *const *params, struct ingest_store_load *ld)
{
	struct ingest_asset	*a;
	struct ingest_store_aux	*x;
	PGresult		*res;
	const char		*kind;
	long			*slot, j;
	size_t			 i, k, rows;
	enum aerr		 e;

	memset(ld, 0, sizeof(*ld));
	if (nids == 0)
		return AERR_OK;
	if ((e = db_query(r, DB_INGEST_LOAD, params, &res)) != AERR_OK)
		return e;
	if (PQnfields(res) != 5)
		return AERR_INTERNAL;
	rows = (size_t)PQntuples(res);

	/* Which of the ids are listed: one 'a' row each. */
	slot = arena_alloc(r->arena, nids * sizeof(*slot));
	for (i = 0; i < nids; i++)
		slot[i] = -1;
	for (i = 0; i < rows; i++)
		if (strcmp(PQgetvalue(res, (int)i, 0), "a") == 0 &&
		    (j = ingest_store_find(ids, nids,
		    PQgetvalue(res, (int)i, 1))) >= 0)
			slot[j] = 0;
	ld->assets = arena_alloc(r->arena, nids * sizeof(*ld->assets));
	ld->aux = arena_alloc(r->arena, nids * sizeof(*ld->aux));
	ld->ids = arena_alloc(r->arena, nids * sizeof(*ld->ids));
	for (i = 0; i < nids; i++) {
		if (slot[i] == -1)
			continue;
		slot[i] = (long)ld->n;
		(void)strlcpy(ld->assets[ld->n].id, ids[i],
		    sizeof(ld->assets[ld->n].id));
		ld->ids[ld->n] = ld->assets[ld->n].id;
		ld->n++;
	}

	/* Count, allocate, fill. */
	for (i = 0; i < rows; i++) {
		kind = PQgetvalue(res, (int)i, 0);
		if ((j = ingest_store_find(ld->ids, ld->n,
		    PQgetvalue(res, (int)i, 1))) < 0)
			continue;
		if (strcmp(kind, "a") == 0) {
			ld->aux[j].version = strtoll(PQgetvalue(res, (int)i, 2),
			    NULL, 10);
			ld->assets[j].anchor_ts = strtoll(PQgetvalue(res,
			    (int)i, 3), NULL, 10);
			ld->aux[j].cand = PQgetvalue(res, (int)i, 4);
		} else if (strcmp(kind, "r") == 0)
			ld->aux[j].nrecent++;
		else if (strcmp(kind, "e") == 0)
			ld->aux[j].nexisting++;
	}
	for (k = 0; k < ld->n; k++) {
		x = &ld->aux[k];
		x->recent = arena_alloc(r->arena,
		    (x->nrecent + 1) * sizeof(*x->recent));
		x->existing = arena_alloc(r->arena,
		    (x->nexisting + 1) * sizeof(*x->existing));
	}
	for (i = 0; i < rows; i++) {
		kind = PQgetvalue(res, (int)i, 0);
		if ((j = ingest_store_find(ld->ids, ld->n,
		    PQgetvalue(res, (int)i, 1))) < 0)
			continue;
		a = &ld->assets[j];
		x = &ld->aux[j];
		if (strcmp(kind, "r") == 0 && a->nrecent < x->nrecent) {
			x->recent[a->nrecent].ts = strtoll(PQgetvalue(res,
			    (int)i, 2), NULL, 10);
			x->recent[a->nrecent].price = strtod(PQgetvalue(res,
			    (int)i, 4), NULL);
			a->nrecent++;
		} else if (strcmp(kind, "e") == 0 &&
		    a->nexisting < x->nexisting)
			x->existing[a->nexisting++] = strtoll(PQgetvalue(res,
			    (int)i, 2), NULL, 10);
	}

	for (i = 0; i < n; i++)
		if (points[i].asset != NULL &&
		    asset_id_valid(points[i].asset, points[i].asset_len)) {
			char	 id[INGEST_ASSET_SIZE];

			memcpy(id, points[i].asset, points[i].asset_len);
			id[points[i].asset_len] = '\0';
			if ((j = ingest_store_find(ld->ids, ld->n, id)) >= 0)
				ld->aux[j].nbatch++;
		}
	for (k = 0; k < ld->n; k++) {
		a = &ld->assets[k];
		x = &ld->aux[k];
		qsort(x->existing, a->nexisting, sizeof(*x->existing),
		    ingest_store_cmp_ll);
		a->recent = x->recent;
		a->existing = x->existing;
		ingest_store_candidates(r, c, a, x->cand ? x->cand : "[]",
		    x->nbatch);
		ingest_store_drop_stored(a, x);
	}
	return AERR_OK;
}

static struct json_object *
ingest_store_point(const char *asset, long long ts, const char *price,
    const char *source)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "a", json_object_new_string(asset));
	json_object_object_add(o, "t", json_object_new_int64(ts));
	json_object_object_add(o, "p", json_object_new_string(price));
	json_object_object_add(o, "s", json_object_new_string(source));
	return o;
}

static struct json_object *
ingest_store_run(const struct ingest_asset *a)
{
	const struct ingest_candidate	*x;
	struct json_object		*run, *o;
	size_t				 i;

	run = json_object_new_array();
	for (i = 0; i < a->ncand; i++) {
		x = &a->cand[i];
		o = json_object_new_object();
		json_object_object_add(o, "ts", json_object_new_int64(x->ts));
		json_object_object_add(o, "received",
		    json_object_new_int64(x->received));
		json_object_object_add(o, "price",
		    json_object_new_string(x->price.text));
		json_object_object_add(o, "request_id",
		    json_object_new_string(x->request_id));
		json_object_object_add(o, "source",
		    json_object_new_string(x->source));
		json_object_array_add(run, o);
	}
	return run;
}

/*
 * Stores what the judgement decided: the accepted points and the adopted
 * candidates, and the new state of every asset the batch changed (with
 * the version it was judged at).  Sets *conflict when ingest_commit()
 * found a state moved and wrote nothing.  Returns AERR_OK or the
 * database's error.
 */
static enum aerr
ingest_store_write(struct req *r, const char *source,
    const struct ingest_point *points, size_t n,
    const struct ingest_store_load *ld,
    const struct ingest_verdict *verdicts, struct ingest_result *out,
    int *conflict)
{
	struct json_object	*jassets, *jpoints, *o;
	const struct ingest_asset *a;
	const char		*params[3], *status;
	size_t			*nacc, i, k, want = 0;
	PGresult		*res;
	enum aerr		 e;

	*conflict = 0;
	out->accepted = out->adopted = 0;
	nacc = arena_alloc(r->arena, (ld->n ? ld->n : 1) * sizeof(*nacc));
	jassets = json_object_new_array();
	jpoints = json_object_new_array();
	for (i = 0; i < n; i++) {
		if (verdicts[i].reason != INGEST_ACCEPTED)
			continue;
		a = &ld->assets[verdicts[i].asset];
		nacc[verdicts[i].asset]++;
		json_object_array_add(jpoints, ingest_store_point(a->id,
		    points[i].ts, verdicts[i].price.text, source));
		out->accepted++;
	}
	for (k = 0; k < ld->n; k++) {
		a = &ld->assets[k];
		for (i = 0; i < a->nadopt; i++)
			json_object_array_add(jpoints, ingest_store_point(a->id,
			    a->adopt[i].ts, a->adopt[i].price.text,
			    a->adopt[i].source));
		out->adopted += a->nadopt;
		if (nacc[k] == 0 && a->nadopt == 0 && !a->changed &&
		    !a->reanchored && !ld->aux[k].dirty)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(a->id));
		json_object_object_add(o, "version",
		    json_object_new_int64(ld->aux[k].version));
		json_object_object_add(o, "anchor",
		    json_object_new_int64(a->anchor_ts));
		json_object_object_add(o, "candidates", ingest_store_run(a));
		json_object_array_add(jassets, o);
	}
	want = out->accepted + out->adopted;
	params[0] = source;
	params[1] = json_text(jassets, NULL);
	params[2] = json_text(jpoints, NULL);
	e = db_query(r, DB_INGEST_COMMIT, params, &res);
	json_object_put(jassets);
	json_object_put(jpoints);
	if (e != AERR_OK)
		return e;
	if (PQntuples(res) != 1 || PQnfields(res) != 2)
		return AERR_INTERNAL;
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "conflict") == 0) {
		*conflict = 1;
		return AERR_OK;
	}
	if (strcmp(status, "ok") != 0 ||
	    strtoull(PQgetvalue(res, 0, 1), NULL, 10) != want) {
		log_warnx("%s: ingest_commit answered %s", r->id, status);
		return AERR_INTERNAL;
	}
	return AERR_OK;
}

/*
 * Drops the cached latest price (route_market.c) of every asset the batch
 * stored points for, so GET /price serves them at once.  A read that
 * fetched the old price before the commit may still cache it after this:
 * price_cache_seconds bounds how long.  Without Redis the same bound
 * holds, and the batch stands.
 */
static void
ingest_store_uncache(struct req *r, const struct ingest_store_load *ld,
    const struct ingest_verdict *verdicts, size_t n)
{
	const char	**argv;
	unsigned char	 *hit;
	size_t		  i, k, argc = 0;

	if (ld->n == 0)
		return;
	hit = arena_alloc(r->arena, ld->n);
	for (i = 0; i < n; i++)
		if (verdicts[i].reason == INGEST_ACCEPTED)
			hit[verdicts[i].asset] = 1;
	argv = arena_alloc(r->arena, (ld->n + 1) * sizeof(*argv));
	argv[argc++] = "DEL";
	for (k = 0; k < ld->n; k++)
		if (hit[k] || ld->assets[k].nadopt > 0)
			argv[argc++] = arena_printf(r->arena, "aspida:price:%s",
			    ld->assets[k].id);
	if (argc > 1)
		(void)kv_command(r, (int)argc, argv, NULL);
}

/*
 * Judges the points (from the feed named source) against what is stored
 * and stores the outcome in one transaction.  r gives the request id the
 * candidates are tagged with and the arena everything comes from.
 * Returns AERR_OK with *out filled (verdicts in point order; assets in
 * the order of verdicts[i].asset), AERR_BUSY when other batches for the
 * same assets kept committing first, or the database's error; nothing is
 * stored unless AERR_OK.
 */
enum aerr
ingest_store_batch(struct req *r, const char *source,
    const struct ingest_point *points, size_t n, struct ingest_result *out)
{
	struct ingest_config	 c;
	struct ingest_batch	 b;
	struct ingest_store_load ld;
	struct ingest_verdict	*verdicts;
	const char		*params[4], **ids, *why = NULL;
	char			 window[24];
	size_t			 nids;
	int			 attempt, conflict;
	enum aerr		 e;

	memset(out, 0, sizeof(*out));
	ingest_store_config(&c);
	nids = ingest_store_ids(r, points, n, &ids, params);
	(void)snprintf(window, sizeof(window), "%lld",
	    conf->ingest_window_points);
	params[1] = window;
	for (attempt = 0; attempt < INGEST_STORE_TRIES; attempt++) {
		if ((e = ingest_store_load(r, &c, points, n, ids, nids, params,
		    &ld)) != AERR_OK)
			return e;
		verdicts = arena_alloc(r->arena,
		    (n ? n : 1) * sizeof(*verdicts));
		b.request_id = r->id;
		b.source = source;
		b.now = (long long)time(NULL);
		if (ingest_judge_batch(&c, &b, points, n, ld.assets, ld.n,
		    verdicts, &why) == -1) {
			log_warnx("%s: ingest: %s", r->id, why);
			return AERR_INTERNAL;
		}
		if ((e = ingest_store_write(r, source, points, n, &ld,
		    verdicts, out, &conflict)) != AERR_OK)
			return e;
		if (!conflict) {
			ingest_store_uncache(r, &ld, verdicts, n);
			out->verdicts = verdicts;
			out->assets = ld.assets;
			out->nassets = ld.n;
			return AERR_OK;
		}
		log_info("%s: ingest: an asset changed while the batch was "
		    "judged; judging it again", r->id);
	}
	memset(out, 0, sizeof(*out));
	return AERR_BUSY;
}
