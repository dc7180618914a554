/*
 * The decisions of price ingestion (POST /ingest/prices), kept free of
 * I/O so that they can be unit-tested and fuzzed: the route loads each
 * listed asset's reference (its recent accepted points, the stored times
 * the batch touches, the pending re-anchor candidates), and this file
 * gives every point the first of API.md's reasons that applies --
 * invalid_asset, out_of_range, stale, duplicate, outlier -- or accepts it,
 * and keeps the run of outliers that may, across requests, become a new
 * level.
 *
 * The reference a batch is judged against is fixed before the batch: the
 * median and MAD of the stored window and its latest point.  Points the
 * batch accepts never widen that reference for the rest of the batch (so
 * a batch cannot walk its own yardstick); they do become a second "last
 * accepted price" that later points of the batch must also not jump from.
 * Only a re-anchor, or an asset with no reference yet, changes it.
 */
#include "config.h"

#include <limits.h>
#include <math.h>		/* isfinite(), a macro: no libm */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"

#define INGEST_MAD_FLOOR	0.001	/* 0.1 % of the median (API.md) */
#define INGEST_MAD_SCALE	1.4826	/* MAD to a normal sigma */
#define INGEST_SCRATCH	(INGEST_WINDOW_MAX > INGEST_PENDING_MAX ? \
			    INGEST_WINDOW_MAX : INGEST_PENDING_MAX)

const char *const ingest_reasons[INGEST__MAX] = {
	"accepted",		/* INGEST_ACCEPTED */
	"invalid_asset",	/* INGEST_INVALID_ASSET */
	"out_of_range",		/* INGEST_OUT_OF_RANGE */
	"stale",		/* INGEST_STALE */
	"duplicate",		/* INGEST_DUPLICATE */
	"outlier",		/* INGEST_OUTLIER */
};

/* What one asset is judged against during one batch. */
struct ingest_state {
	int		 has_ref;
	double		 median;
	double		 scale;		/* 1.4826 * floored MAD */
	double		 last;		/* the reference's newest */
	int		 has_blast;
	double		 blast;		/* batch's last accepted */
	size_t		 cap;		/* run length kept */
};

/* The assets by id, for lookup. */
struct ingest_id {
	const char	*id;
	size_t		 k;
};

/* A (asset, ts) pair for duplicate detection; order 0 is stored/pending. */
struct ingest_key {
	size_t		 asset;
	long long	 ts;
	size_t		 order;
};

void
ingest_config_default(struct ingest_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_price = 1000000000000LL;
	c->max_age = 7 * 24 * 3600;
	c->future_skew = 300;
	c->outlier_z = 6.0;
	c->max_jump = 0.5;
	c->reanchor_points = 5;
	c->reanchor_span = 600;
	c->reanchor_pending = 1024;
}

/*
 * Parse a canonical positive decimal (API.md): digits, optionally '.' and
 * more digits, no sign, no exponent, no blanks, no leading zero but the
 * one of "0.x", no trailing zero in the fraction.  Input must already be
 * canonical -- "64213.50", "05", ".5", "5." are refused, never rewritten
 * -- so the text stored is the text signed by the feed or the client.
 * At most maxdec (0..18) decimals; at most max, compared exactly on the
 * digits, never through a double.  The double is for statistics only.
 * Returns 0 with out filled, or -1 with *errstr set (our own words).
 */
int
ingest_decimal_parse(const char *s, size_t len, int maxdec, long long max,
    struct ingest_decimal *out, const char **errstr)
{
	unsigned long long	 ip = 0, fp = 0, pow10 = 1;
	size_t			 i, nint, nfrac = 0;
	const char		*why;

	memset(out, 0, sizeof(*out));
	if (maxdec < 0 || maxdec > 18 || max < 1) {
		why = "has bounds that cannot be checked";
		goto fail;
	}
	if (s == NULL) {
		why = "is missing";
		goto fail;
	}
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		continue;
	nint = i;
	why = "is not a canonical decimal";
	if (nint == 0 || (nint > 1 && s[0] == '0'))
		goto fail;
	if (i < len) {
		if (s[i++] != '.')
			goto fail;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			continue;
		nfrac = i - nint - 1;
		if (nfrac == 0 || i != len || s[len - 1] == '0')
			goto fail;
	}
	if (nfrac > (size_t)maxdec) {
		why = "has too many decimals";
		goto fail;
	}
	/* 19 digits cannot overflow an unsigned long long; more is > max. */
	why = "is too large";
	if (nint > 19)
		goto fail;
	for (i = 0; i < nint; i++)
		ip = ip * 10 + (unsigned long long)(s[i] - '0');
	if (ip > (unsigned long long)max ||
	    (ip == (unsigned long long)max && nfrac > 0))
		goto fail;
	if (ip == 0 && nfrac == 0) {
		why = "is not positive";
		goto fail;
	}
	for (i = nint + 1; i < len; i++) {
		fp = fp * 10 + (unsigned long long)(s[i] - '0');
		pow10 *= 10;
	}
	/* Both parts and 10^k (k <= 18) are exact doubles: one rounding. */
	out->value = (double)ip + (double)fp / (double)pow10;
	memcpy(out->text, s, len);
	out->text[len] = '\0';
	out->len = len;
	return 0;
fail:
	if (errstr != NULL)
		*errstr = why;
	return -1;
}

/* a - b, saturated instead of overflowing: times come from storage. */
static long long
ingest_span(long long a, long long b)
{
	long long	 d;

	if (__builtin_sub_overflow(a, b, &d))
		return a > b ? LLONG_MAX : LLONG_MIN;
	return d;
}

static long long
ingest_add(long long a, long long b)
{
	long long	 d;

	if (__builtin_add_overflow(a, b, &d))
		return b > 0 ? LLONG_MAX : LLONG_MIN;
	return d;
}

/* Without libm, which the build does not link. */
static double
ingest_abs(double x)
{
	return x < 0 ? -x : x;
}

static int
ingest_cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of v[0..n), n > 0, sorting v. */
static double
ingest_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), ingest_cmp_double);
	if (n % 2 == 1)
		return v[n / 2];
	/* Halfway without a + b, which could overflow. */
	return v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

/*
 * Set st's reference from the prices v[0..n), n > 0 (v is overwritten):
 * the median, and the scale the robust z-score divides by, with MAD
 * floored at 0.1 % of the median so that a flat series does not make
 * every tick an outlier.
 */
static void
ingest_reference(struct ingest_state *st, double *v, size_t n, double last)
{
	double	 m, mad;
	size_t	 i;

	m = ingest_median(v, n);
	for (i = 0; i < n; i++)
		v[i] = ingest_abs(v[i] - m);
	mad = ingest_median(v, n);
	if (mad < INGEST_MAD_FLOOR * m)
		mad = INGEST_MAD_FLOOR * m;
	st->has_ref = 1;
	st->median = m;
	st->scale = INGEST_MAD_SCALE * mad;
	st->last = last;
}

static int
ingest_cmp_key(const void *a, const void *b)
{
	const struct ingest_key	*x = a, *y = b;

	if (x->asset != y->asset)
		return x->asset < y->asset ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

static int
ingest_cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct ingest_id *)a)->id,
	    ((const struct ingest_id *)b)->id);
}

/*
 * Find the asset named s[0..len) in the index sorted by id.  Returns its
 * index in assets[], or SIZE_MAX when it is not listed.
 */
static size_t
ingest_lookup(const struct ingest_id *byid, size_t nassets, const char *s,
    size_t len)
{
	size_t	 lo = 0, hi = nassets, mid, idlen;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		idlen = strlen(byid[mid].id);
		c = memcmp(s, byid[mid].id, len < idlen ? len : idlen);
		if (c == 0)
			c = len < idlen ? -1 : len > idlen;
		if (c == 0)
			return byid[mid].k;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

/* A NUL-terminated string of 1..size-1 bytes within a fixed array. */
static int
ingest_str_ok(const char *s, size_t size)
{
	size_t	 n = strnlen(s, size);

	return n > 0 && n < size;
}

/* The arguments a caller could get wrong.  Returns NULL or the problem. */
static const char *
ingest_check_args(const struct ingest_config *c, const struct ingest_batch *b,
    const struct ingest_point *points, size_t n, struct ingest_asset *assets,
    size_t nassets, struct ingest_verdict *verdicts)
{
	struct ingest_asset	*a;
	size_t			 k;

	if (c == NULL || b == NULL)
		return "no configuration or batch";
	if (c->max_price < 1 || c->max_age < 0 || c->future_skew < 0 ||
	    !isfinite(c->outlier_z) || c->outlier_z <= 0 ||
	    !isfinite(c->max_jump) || c->max_jump <= 0 ||
	    c->reanchor_points < 2 || c->reanchor_span < 0 ||
	    c->reanchor_pending < c->reanchor_points ||
	    c->reanchor_pending > INGEST_PENDING_MAX)
		return "configuration out of bounds";
	if (b->request_id == NULL ||
	    !ingest_str_ok(b->request_id, ASPIDA_REQID_LEN + 1) ||
	    b->source == NULL || !ingest_str_ok(b->source, INGEST_SOURCE_SIZE))
		return "bad request id or source";
	if (n > 0 && (points == NULL || verdicts == NULL))
		return "no points or verdicts";
	if (nassets > 0 && assets == NULL)
		return "no assets";
	for (k = 0; k < nassets; k++) {
		a = &assets[k];
		if (strnlen(a->id, sizeof(a->id)) == sizeof(a->id) ||
		    !asset_id_valid(a->id, strlen(a->id)))
			return "malformed asset in the table";
		if ((a->nrecent > 0 && a->recent == NULL) ||
		    (a->nexisting > 0 && a->existing == NULL) ||
		    a->cand == NULL || a->candcap < c->reanchor_points ||
		    a->ncand > a->candcap ||
		    (a->ncand > 0 && a->adopt == NULL) ||
		    a->adoptcap < a->ncand)
			return "asset arrays inconsistent";
	}
	return NULL;
}

/*
 * Drop the pending candidates that can no longer be trusted or used: a
 * time now outside the accepted window (the point would be stale if sent
 * today), an arrival in the future, a price that no longer parses under
 * the current limits, or a broken id.  They are the caller's stored data,
 * so nothing in them is assumed.  Returns whether anything was dropped.
 */
static int
ingest_prune(const struct ingest_config *c, const struct ingest_batch *b,
    struct ingest_asset *a, long long lo, long long hi)
{
	struct ingest_candidate	*x;
	struct ingest_decimal	 d;
	size_t			 i, k = 0;

	for (i = 0; i < a->ncand; i++) {
		x = &a->cand[i];
		x->request_id[sizeof(x->request_id) - 1] = '\0';
		x->source[sizeof(x->source) - 1] = '\0';
		x->price.text[sizeof(x->price.text) - 1] = '\0';
		x->current = 0;
		x->index = 0;
		if (x->ts < lo || x->ts > hi || x->received > b->now ||
		    x->request_id[0] == '\0' || x->source[0] == '\0' ||
		    ingest_decimal_parse(x->price.text, strlen(x->price.text),
		    INGEST_PRICE_DECIMALS, c->max_price, &d, NULL) == -1)
			continue;
		x->price = d;
		if (k != i)
			a->cand[k] = *x;
		k++;
	}
	if (k == a->ncand)
		return 0;
	a->ncand = k;
	return 1;
}

/*
 * Append an outlier to the asset's run of consecutive outliers.  The run
 * keeps only its longest tail whose prices all agree with the newcomer
 * and each other (highest and lowest within max_jump of the lowest), and
 * at most st->cap points, the oldest going first.
 */
static void
ingest_run_add(const struct ingest_config *c, struct ingest_asset *a,
    const struct ingest_state *st, const struct ingest_candidate *nc)
{
	double	 lo, hi, x;
	size_t	 k;

	lo = hi = nc->price.value;
	for (k = a->ncand; k > 0; k--) {
		x = a->cand[k - 1].price.value;
		if (x < lo)
			lo = x;
		if (x > hi)
			hi = x;
		if (hi - lo > c->max_jump * lo)
			break;
	}
	if (a->ncand - k >= st->cap)
		k = a->ncand - (st->cap - 1);
	if (k > 0) {
		memmove(a->cand, a->cand + k,
		    (a->ncand - k) * sizeof(*a->cand));
		a->ncand -= k;
	}
	a->cand[a->ncand++] = *nc;
}

/*
 * Whether the run is a new level: reanchor_points of them, spanning
 * reanchor_span seconds both in their own times and in when they reached
 * us, from at least two requests.  The arrival span is what makes "one
 * signed batch cannot move it" hold against a feed that forges times:
 * a batch arrives at one instant, and two quick requests do not span it.
 */
static int
ingest_run_complete(const struct ingest_config *c,
    const struct ingest_asset *a)
{
	const struct ingest_candidate	*x;
	long long			 tmin, tmax, rmin, rmax;
	size_t				 i;
	int				 two = 0;

	if (a->ncand < c->reanchor_points)
		return 0;
	tmin = tmax = a->cand[0].ts;
	rmin = rmax = a->cand[0].received;
	for (i = 1; i < a->ncand; i++) {
		x = &a->cand[i];
		tmin = x->ts < tmin ? x->ts : tmin;
		tmax = x->ts > tmax ? x->ts : tmax;
		rmin = x->received < rmin ? x->received : rmin;
		rmax = x->received > rmax ? x->received : rmax;
		if (strcmp(x->request_id, a->cand[0].request_id) != 0)
			two = 1;
	}
	return two && ingest_span(tmax, tmin) >= c->reanchor_span &&
	    ingest_span(rmax, rmin) >= c->reanchor_span;
}

/*
 * The run became a level: accept its points of this batch, hand those of
 * earlier requests to the caller to store, and judge the rest of the
 * batch against the new level alone.
 */
static void
ingest_reanchor(struct ingest_asset *a, struct ingest_state *st,
    struct ingest_verdict *verdicts, double *scratch)
{
	struct ingest_candidate	*x, *newest;
	long long		 tmin;
	size_t			 i;

	newest = &a->cand[0];
	tmin = a->cand[0].ts;
	for (i = 0; i < a->ncand; i++) {
		x = &a->cand[i];
		scratch[i] = x->price.value;
		if (x->ts > newest->ts)
			newest = x;
		if (x->ts < tmin)
			tmin = x->ts;
		if (x->current) {
			verdicts[x->index].reason = INGEST_ACCEPTED;
			verdicts[x->index].reanchored = 1;
		} else
			a->adopt[a->nadopt++] = *x;
	}
	ingest_reference(st, scratch, a->ncand, newest->price.value);
	st->has_blast = 1;
	st->blast = a->cand[a->ncand - 1].price.value;
	a->anchor_ts = tmin;
	a->reanchored = 1;
	a->changed = 1;
	a->ncand = 0;
}

/*
 * Mark the points that are duplicates: an (asset, ts) already stored,
 * pending as a re-anchor candidate (first write wins there too, and a
 * retried request must not count twice toward a re-anchor), or carried by
 * an earlier point of the batch, whatever that point's fate.
 */
static void
ingest_duplicates(const struct ingest_point *points, size_t n,
    const struct ingest_verdict *verdicts, const struct ingest_asset *assets,
    size_t nassets, struct ingest_key *keys, unsigned char *dup)
{
	size_t	 nk = 0, i, j, k;

	for (k = 0; k < nassets; k++) {
		for (j = 0; j < assets[k].nexisting; j++)
			keys[nk++] = (struct ingest_key){ k,
			    assets[k].existing[j], 0 };
		for (j = 0; j < assets[k].ncand; j++)
			keys[nk++] = (struct ingest_key){ k,
			    assets[k].cand[j].ts, 0 };
	}
	for (i = 0; i < n; i++)
		if (verdicts[i].asset != SIZE_MAX && points[i].has_ts)
			keys[nk++] = (struct ingest_key){ verdicts[i].asset,
			    points[i].ts, i + 1 };
	qsort(keys, nk, sizeof(*keys), ingest_cmp_key);
	for (i = 0; i < nk; i = j) {
		/* Stored and pending sort first: every point after one. */
		for (j = i + 1; j < nk && keys[j].asset == keys[i].asset &&
		    keys[j].ts == keys[i].ts; j++)
			if (keys[j].order > 0)
				dup[keys[j].order - 1] = 1;
	}
}

/*
 * Judge a batch.  For each point, in batch order, the first reason of
 * API.md's list that applies, or acceptance; assets[] holds the listed
 * assets the batch names (an asset absent from it is unlisted), and is
 * updated: the pending run of outliers (cand), and on a re-anchor the
 * earlier candidates to store (adopt), the new anchor_ts and the
 * reanchored flag the warning alert hangs on.  Nothing is read past a
 * given length and nothing outlives the call but what is written to the
 * caller's arrays.
 * Returns 0, or -1 with *errstr set (bad arguments, out of memory) and
 * nothing changed.
 */
int
ingest_judge_batch(const struct ingest_config *c, const struct ingest_batch *b,
    const struct ingest_point *points, size_t n, struct ingest_asset *assets,
    size_t nassets, struct ingest_verdict *verdicts, const char **errstr)
{
	struct ingest_state	*states = NULL, *st;
	struct ingest_key	*keys = NULL;
	struct ingest_id	*byid = NULL;
	struct ingest_candidate	 nc;
	struct ingest_asset	*a;
	struct ingest_verdict	*v;
	const struct ingest_point *p;
	size_t			 nkeys, i, k, nv;
	unsigned char		*dup = NULL;
	double			*scratch = NULL, newest, x, one;
	long long		 lo, hi, newest_ts;
	const char		*why;
	int			 outlier;

	if ((why = ingest_check_args(c, b, points, n, assets, nassets,
	    verdicts)) != NULL)
		goto fail;

	why = "out of memory";
	nkeys = n;
	for (k = 0; k < nassets; k++) {
		if (__builtin_add_overflow(nkeys, assets[k].nexisting,
		    &nkeys) ||
		    __builtin_add_overflow(nkeys, assets[k].ncand, &nkeys))
			goto fail;
	}
	/* At least one of each: malloc(0) may return NULL. */
	if ((byid = reallocarray(NULL, nassets ? nassets : 1,
	    sizeof(*byid))) == NULL ||
	    (states = calloc(nassets ? nassets : 1, sizeof(*states))) == NULL ||
	    (keys = reallocarray(NULL, nkeys ? nkeys : 1,
	    sizeof(*keys))) == NULL ||
	    (dup = calloc(n ? n : 1, 1)) == NULL ||
	    (scratch = reallocarray(NULL, INGEST_SCRATCH,
	    sizeof(*scratch))) == NULL)
		goto fail;

	for (k = 0; k < nassets; k++)
		byid[k] = (struct ingest_id){ assets[k].id, k };
	qsort(byid, nassets, sizeof(*byid), ingest_cmp_id);
	for (k = 1; k < nassets; k++)
		if (strcmp(byid[k - 1].id, byid[k].id) == 0) {
			why = "an asset listed twice";
			goto fail;
		}

	/* Nothing has changed so far; from here on nothing fails. */
	lo = ingest_span(b->now, c->max_age);
	hi = ingest_add(b->now, c->future_skew);
	for (k = 0; k < nassets; k++) {
		a = &assets[k];
		st = &states[k];
		a->nadopt = 0;
		a->reanchored = 0;
		a->changed = ingest_prune(c, b, a, lo, hi);
		st->cap = a->candcap < c->reanchor_pending ?
		    a->candcap : c->reanchor_pending;
		if (a->ncand > st->cap) {
			memmove(a->cand, a->cand + (a->ncand - st->cap),
			    st->cap * sizeof(*a->cand));
			a->ncand = st->cap;
			a->changed = 1;
		}
		/* The window: usable points of the current level. */
		nv = 0;
		newest = 0;
		newest_ts = LLONG_MIN;
		for (i = 0; i < a->nrecent && nv < INGEST_WINDOW_MAX; i++) {
			x = a->recent[i].price;
			if (!isfinite(x) || x <= 0)
				continue;
			if (a->anchor_ts != 0 && a->recent[i].ts < a->anchor_ts)
				continue;
			scratch[nv++] = x;
			if (a->recent[i].ts > newest_ts || nv == 1) {
				newest_ts = a->recent[i].ts;
				newest = x;
			}
		}
		if (nv > 0)
			ingest_reference(st, scratch, nv, newest);
	}

	for (i = 0; i < n; i++) {
		v = &verdicts[i];
		p = &points[i];
		memset(v, 0, sizeof(*v));
		v->asset = SIZE_MAX;
		if (p->asset != NULL && asset_id_valid(p->asset, p->asset_len))
			v->asset = ingest_lookup(byid, nassets, p->asset,
			    p->asset_len);
	}
	ingest_duplicates(points, n, verdicts, assets, nassets, keys, dup);

	for (i = 0; i < n; i++) {
		v = &verdicts[i];
		p = &points[i];
		if (v->asset == SIZE_MAX) {
			v->reason = INGEST_INVALID_ASSET;
			continue;
		}
		if (p->price == NULL || ingest_decimal_parse(p->price,
		    p->price_len, INGEST_PRICE_DECIMALS, c->max_price,
		    &v->price, NULL) == -1) {
			v->reason = INGEST_OUT_OF_RANGE;
			continue;
		}
		if (!p->has_ts || p->ts < lo || p->ts > hi) {
			v->reason = INGEST_STALE;
			continue;
		}
		if (dup[i]) {
			v->reason = INGEST_DUPLICATE;
			continue;
		}
		a = &assets[v->asset];
		st = &states[v->asset];
		x = v->price.value;
		outlier = 0;
		if (!st->has_ref) {
			/* No level yet: the first point sets one. */
			one = x;
			ingest_reference(st, &one, 1, x);
		} else {
			v->z = ingest_abs(x - st->median) / st->scale;
			v->jump = ingest_abs(x - st->last) / st->last;
			if (st->has_blast &&
			    ingest_abs(x - st->blast) / st->blast > v->jump)
				v->jump = ingest_abs(x - st->blast) / st->blast;
			outlier = v->z > c->outlier_z || v->jump > c->max_jump;
		}
		if (!outlier) {
			v->reason = INGEST_ACCEPTED;
			st->has_blast = 1;
			st->blast = x;
			/* An accepted point ends any run: not consecutive. */
			if (a->ncand > 0) {
				a->ncand = 0;
				a->changed = 1;
			}
			continue;
		}
		v->reason = INGEST_OUTLIER;
		memset(&nc, 0, sizeof(nc));
		nc.ts = p->ts;
		nc.received = b->now;
		nc.price = v->price;
		strlcpy(nc.request_id, b->request_id, sizeof(nc.request_id));
		strlcpy(nc.source, b->source, sizeof(nc.source));
		nc.current = 1;
		nc.index = i;
		ingest_run_add(c, a, st, &nc);
		a->changed = 1;
		if (ingest_run_complete(c, a))
			ingest_reanchor(a, st, verdicts, scratch);
	}

	/* The outliers still waiting in a run are candidates. */
	for (k = 0; k < nassets; k++)
		for (i = 0; i < assets[k].ncand; i++)
			if (assets[k].cand[i].current)
				verdicts[assets[k].cand[i].index].candidate = 1;

	free(byid);
	free(states);
	free(keys);
	free(dup);
	free(scratch);
	return 0;
fail:
	free(byid);
	free(states);
	free(keys);
	free(dup);
	free(scratch);
	if (errstr != NULL)
		*errstr = why;
	return -1;
}
