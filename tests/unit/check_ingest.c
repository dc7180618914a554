/*
 * check_ingest.c - the decisions of price ingestion: canonical decimals,
 * API.md's rejection reasons and their order, duplicates, the robust
 * z-score with its MAD floor, max_jump, and re-anchoring across requests.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

#define NOW	1800000000LL	/* 2027-01-15; any fixed instant */
#define NASSET	4
#define NRECENT	3000		/* more than INGEST_WINDOW_MAX */
#define NCAND	64
#define NPTS	5000		/* more than the route's 1000 */
#define MINUTES_AGO(i)	(NOW - 60 * (long long)(i))

static struct ingest_config	 cfg;
static struct ingest_batch	 batch;
static struct ingest_asset	 assets[NASSET];
static struct ingest_ref	 recent[NASSET][NRECENT];
static long long		 existing[NASSET][16];
static struct ingest_candidate	 cand[NASSET][NCAND];
static struct ingest_candidate	 adopt[NASSET][NCAND];
static struct ingest_point	 pts[NPTS];
static struct ingest_verdict	 vs[NPTS];
static size_t			 nasset, npts;

static void
setup(void)
{
	memset(assets, 0, sizeof(assets));
	memset(recent, 0, sizeof(recent));
	memset(existing, 0, sizeof(existing));
	memset(cand, 0, sizeof(cand));
	memset(adopt, 0, sizeof(adopt));
	memset(pts, 0, sizeof(pts));
	memset(vs, 0, sizeof(vs));
	ingest_config_default(&cfg);
	batch.request_id = "r1";
	batch.source = "feed";
	batch.now = NOW;
	nasset = npts = 0;
}

static void
teardown(void)
{
}

/* A listed asset with room for candidates and nothing stored. */
static size_t
asset(const char *id)
{
	size_t	 k = nasset++;

	strlcpy(assets[k].id, id, sizeof(assets[k].id));
	assets[k].recent = recent[k];
	assets[k].existing = existing[k];
	assets[k].cand = cand[k];
	assets[k].candcap = NCAND;
	assets[k].adopt = adopt[k];
	assets[k].adoptcap = NCAND;
	return k;
}

/* n stored points at one price, one a minute, newest first. */
static void
flat(size_t k, double price, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		recent[k][i] = (struct ingest_ref){ MINUTES_AGO(i + 1), price };
	assets[k].nrecent = n;
}

static void
point_ts(const char *a, long long ts, int has_ts, const char *price)
{
	ck_assert_uint_lt(npts, NPTS);
	pts[npts].asset = a;
	pts[npts].asset_len = a != NULL ? strlen(a) : 0;
	pts[npts].price = price;
	pts[npts].price_len = price != NULL ? strlen(price) : 0;
	pts[npts].ts = ts;
	pts[npts].has_ts = has_ts;
	npts++;
}

static void
point(const char *a, long long ts, const char *price)
{
	point_ts(a, ts, 1, price);
}

static void
judge(void)
{
	const char	*err = NULL;

	ck_assert_msg(ingest_judge_batch(&cfg, &batch, pts, npts, assets,
	    nasset, vs, &err) == 0, "judge failed: %s", err ? err : "?");
}

/* A new request: another id, another clock, no points yet. */
static void
request(const char *id, long long now)
{
	batch.request_id = id;
	batch.now = now;
	npts = 0;
}

#define REASON(i, r) ck_assert_msg(vs[(i)].reason == (r), \
    "point %d: %s, wanted %s", (int)(i), ingest_reasons[vs[(i)].reason], \
    ingest_reasons[(r)])

/* Decimals ----------------------------------------------------------- */

struct drow {
	int		 line;
	const char	*in;
	int		 maxdec;
	long long	 max;
	int		 ok;
	double		 value;
};

#define P	INGEST_PRICE_DECIMALS
#define PMAX	1000000000000LL
#define Q	INGEST_QUANTITY_DECIMALS
#define QMAX	INGEST_QUANTITY_MAX

static const struct drow drows[] = {
	{ __LINE__, "1", P, PMAX, 1, 1.0 },
	{ __LINE__, "64213.52", P, PMAX, 1, 64213.52 },
	{ __LINE__, "0.5", P, PMAX, 1, 0.5 },
	{ __LINE__, "10", P, PMAX, 1, 10.0 },
	{ __LINE__, "0.000000000001", P, PMAX, 1, 1e-12 },	/* 12 */
	{ __LINE__, "123.4567890123451", P, PMAX, 0, 0 },	/* 13 */
	{ __LINE__, "0.0000000000001", P, PMAX, 0, 0 },		/* 13 */
	{ __LINE__, "1000000000000", P, PMAX, 1, 1e12 },	/* = max */
	{ __LINE__, "999999999999.999999999999", P, PMAX, 1,
	    999999999999.999999999999 },
	{ __LINE__, "1000000000000.000000000001", P, PMAX, 0, 0 },
	{ __LINE__, "1000000000001", P, PMAX, 0, 0 },
	{ __LINE__, "99999999999999999999999", P, PMAX, 0, 0 },
	{ __LINE__, "18446744073709551616", P, LLONG_MAX, 0, 0 }, /* 2^64 */
	{ __LINE__, "9223372036854775807", P, LLONG_MAX, 1,
	    9223372036854775807.0 },
	{ __LINE__, "9223372036854775807.1", P, LLONG_MAX, 0, 0 },
	{ __LINE__, "9999999999999999999", P, LLONG_MAX, 0, 0 },
	/* Not canonical: refused, never rewritten. */
	{ __LINE__, "64213.50", P, PMAX, 0, 0 },
	{ __LINE__, "1.0", P, PMAX, 0, 0 },
	{ __LINE__, "05", P, PMAX, 0, 0 },
	{ __LINE__, "00.5", P, PMAX, 0, 0 },
	{ __LINE__, "00", P, PMAX, 0, 0 },
	{ __LINE__, ".5", P, PMAX, 0, 0 },
	{ __LINE__, "5.", P, PMAX, 0, 0 },
	{ __LINE__, ".", P, PMAX, 0, 0 },
	{ __LINE__, "", P, PMAX, 0, 0 },
	{ __LINE__, "0", P, PMAX, 0, 0 },		/* not positive */
	{ __LINE__, "0.0", P, PMAX, 0, 0 },
	{ __LINE__, "-1", P, PMAX, 0, 0 },
	{ __LINE__, "+1", P, PMAX, 0, 0 },
	{ __LINE__, "-0.5", P, PMAX, 0, 0 },
	{ __LINE__, "1e3", P, PMAX, 0, 0 },
	{ __LINE__, "1E3", P, PMAX, 0, 0 },
	{ __LINE__, "1.5e-3", P, PMAX, 0, 0 },
	{ __LINE__, " 1", P, PMAX, 0, 0 },
	{ __LINE__, "1 ", P, PMAX, 0, 0 },
	{ __LINE__, "1\t", P, PMAX, 0, 0 },
	{ __LINE__, "1,5", P, PMAX, 0, 0 },
	{ __LINE__, "1..5", P, PMAX, 0, 0 },
	{ __LINE__, "1.2.3", P, PMAX, 0, 0 },
	{ __LINE__, "0x10", P, PMAX, 0, 0 },
	{ __LINE__, "NaN", P, PMAX, 0, 0 },
	{ __LINE__, "Infinity", P, PMAX, 0, 0 },
	{ __LINE__, "\xd9\xa1", P, PMAX, 0, 0 },		/* Arabic one */
	{ __LINE__, "\xef\xbc\x91", P, PMAX, 0, 0 },	/* fullwidth 1 */
	/* Quantities: 8 decimals, at most 1e9. */
	{ __LINE__, "0.00000001", Q, QMAX, 1, 1e-8 },
	{ __LINE__, "0.000000001", Q, QMAX, 0, 0 },
	{ __LINE__, "1000000000", Q, QMAX, 1, 1e9 },
	{ __LINE__, "1000000000.00000001", Q, QMAX, 0, 0 },
	{ __LINE__, "999999999.99999999", Q, QMAX, 1, 999999999.99999999 },
	{ __LINE__, "2.5", Q, QMAX, 1, 2.5 },
	/* Integers only. */
	{ __LINE__, "7", 0, 10, 1, 7.0 },
	{ __LINE__, "7.5", 0, 10, 0, 0 },
	{ __LINE__, "11", 0, 10, 0, 0 },
	/* Bounds the function refuses to check. */
	{ __LINE__, "1", -1, PMAX, 0, 0 },
	{ __LINE__, "1", 19, PMAX, 0, 0 },
	{ __LINE__, "1", P, 0, 0, 0 },
};

START_TEST(test_decimal_table)
{
	const struct drow	*r = &drows[_i];
	struct ingest_decimal	 d;
	const char		*why = NULL;
	int			 rc;
	double			 tol;

	rc = ingest_decimal_parse(r->in, strlen(r->in), r->maxdec, r->max, &d,
	    &why);
	ck_assert_msg(rc == (r->ok ? 0 : -1), "line %d: \"%s\" gave %d",
	    r->line, r->in, rc);
	if (!r->ok) {
		ck_assert_msg(why != NULL, "line %d: no reason", r->line);
		return;
	}
	/* The exact text is kept for storage, the value for statistics. */
	ck_assert_msg(strcmp(d.text, r->in) == 0 && d.len == strlen(r->in),
	    "line %d: text \"%s\"", r->line, d.text);
	tol = r->value * 1e-15;
	ck_assert_msg(d.value >= r->value - tol && d.value <= r->value + tol,
	    "line %d: %.17g != %.17g", r->line, d.value, r->value);
}
END_TEST

/* The length is honoured: nothing past it is read or kept. */
START_TEST(test_decimal_length)
{
	struct ingest_decimal	 d;
	const char		 buf[] = { '1', '2', '3', '.', '4', '0',
	    '0' };
	const char		 nul[] = { '1', '\0', '5' };
	const char		*why;

	ck_assert_int_eq(ingest_decimal_parse(buf, 3, P, PMAX, &d, &why), 0);
	ck_assert_str_eq(d.text, "123");
	ck_assert_int_eq(ingest_decimal_parse(buf, 5, P, PMAX, &d, &why), 0);
	ck_assert_str_eq(d.text, "123.4");
	/* "123.40" is not canonical; a longer length does not hide it. */
	ck_assert_int_eq(ingest_decimal_parse(buf, 6, P, PMAX, &d, &why), -1);
	ck_assert_int_eq(ingest_decimal_parse(buf, 0, P, PMAX, &d, &why), -1);
	/* A JSON "\u0000" inside the string is not a digit. */
	ck_assert_int_eq(ingest_decimal_parse(nul, 3, P, PMAX, &d, &why), -1);
	ck_assert_int_eq(ingest_decimal_parse(nul, 2, P, PMAX, &d, &why), -1);
	ck_assert_int_eq(ingest_decimal_parse(NULL, 0, P, PMAX, &d, &why), -1);
	ck_assert_str_eq(why, "is missing");
	/* The reasons are told apart for the log. */
	ingest_decimal_parse("1.5", 3, 0, PMAX, &d, &why);
	ck_assert_str_eq(why, "has too many decimals");
	ingest_decimal_parse("0", 1, P, PMAX, &d, &why);
	ck_assert_str_eq(why, "is not positive");
	ingest_decimal_parse("2000000000000", 13, P, PMAX, &d, &why);
	ck_assert_str_eq(why, "is too large");
	ingest_decimal_parse("1.50", 4, P, PMAX, &d, &why);
	ck_assert_str_eq(why, "is not a canonical decimal");
}
END_TEST

/* Reasons and their order -------------------------------------------- */

struct rrow {
	int		 line;
	const char	*asset;
	long long	 ts;
	int		 has_ts;
	const char	*price;
	enum ingest_reason reason;
};

#define OLD	(NOW - 7 * 24 * 3600)
#define STORED	(NOW - 3600)		/* BTC has a point here */
#define STORED_OLD (OLD - 5)		/* and here, now stale */

static const struct rrow rrows[] = {
	{ __LINE__, "BTC", NOW, 1, "100", INGEST_ACCEPTED },
	{ __LINE__, "BTC", NOW, 1, "100.05", INGEST_ACCEPTED },
	/* invalid_asset: unlisted or malformed, before anything else. */
	{ __LINE__, "XYZ", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "btc", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "BTC ", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "BTC;--", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "../BTC", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "<b>BTC</b>", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "ABCDEFGHIJK", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "", NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, NULL, NOW, 1, "100", INGEST_INVALID_ASSET },
	{ __LINE__, "XYZ", OLD - 1, 1, "abc", INGEST_INVALID_ASSET },
	{ __LINE__, "btc", STORED, 1, "10000", INGEST_INVALID_ASSET },
	/* out_of_range: before stale, duplicate and outlier. */
	{ __LINE__, "BTC", NOW, 1, NULL, INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", NOW, 1, "100.50", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", NOW, 1, "0", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", NOW, 1, "-100", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", NOW, 1, "1e2", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", NOW, 1, "100.0000000000001", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", NOW, 1, "1000000000001", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", OLD - 1, 1, "abc", INGEST_OUT_OF_RANGE },
	{ __LINE__, "BTC", STORED, 1, "1e2", INGEST_OUT_OF_RANGE },
	/* stale: older than max_age, or more than 300 s ahead. */
	{ __LINE__, "BTC", OLD - 1, 1, "100", INGEST_STALE },
	{ __LINE__, "BTC", OLD, 1, "100", INGEST_ACCEPTED },
	{ __LINE__, "BTC", NOW + 300, 1, "100", INGEST_ACCEPTED },
	{ __LINE__, "BTC", NOW + 301, 1, "100", INGEST_STALE },
	{ __LINE__, "BTC", 0, 0, "100", INGEST_STALE },
	{ __LINE__, "BTC", LLONG_MIN, 1, "100", INGEST_STALE },
	{ __LINE__, "BTC", LLONG_MAX, 1, "100", INGEST_STALE },
	{ __LINE__, "BTC", OLD - 1, 1, "10000", INGEST_STALE },
	{ __LINE__, "BTC", STORED_OLD, 1, "100", INGEST_STALE },
	/* duplicate: before outlier. */
	{ __LINE__, "BTC", STORED, 1, "100", INGEST_DUPLICATE },
	{ __LINE__, "BTC", STORED, 1, "10000", INGEST_DUPLICATE },
	{ __LINE__, "ETH", STORED, 1, "100", INGEST_ACCEPTED },
	/* outlier: a calm series and a price x100. */
	{ __LINE__, "BTC", NOW, 1, "10000", INGEST_OUTLIER },
	{ __LINE__, "BTC", NOW, 1, "1", INGEST_OUTLIER },
};

START_TEST(test_reason_order)
{
	const struct rrow	*r = &rrows[_i];
	size_t			 btc, eth;

	btc = asset("BTC");
	eth = asset("ETH");
	flat(btc, 100, 30);
	flat(eth, 100, 30);
	existing[btc][0] = STORED;
	existing[btc][1] = STORED_OLD;
	assets[btc].nexisting = 2;
	point_ts(r->asset, r->ts, r->has_ts, r->price);
	judge();
	ck_assert_msg(vs[0].reason == r->reason, "line %d: %s, wanted %s",
	    r->line, ingest_reasons[vs[0].reason], ingest_reasons[r->reason]);
	if (r->reason == INGEST_INVALID_ASSET)
		ck_assert(vs[0].asset == SIZE_MAX);
	else
		ck_assert_uint_eq(vs[0].asset,
		    strcmp(r->asset, "BTC") == 0 ? btc : eth);
	if (r->reason == INGEST_ACCEPTED)
		ck_assert_str_eq(vs[0].price.text, r->price);
}
END_TEST

START_TEST(test_reason_names)
{
	ck_assert_str_eq(ingest_reasons[INGEST_INVALID_ASSET], "invalid_asset");
	ck_assert_str_eq(ingest_reasons[INGEST_OUT_OF_RANGE], "out_of_range");
	ck_assert_str_eq(ingest_reasons[INGEST_STALE], "stale");
	ck_assert_str_eq(ingest_reasons[INGEST_DUPLICATE], "duplicate");
	ck_assert_str_eq(ingest_reasons[INGEST_OUTLIER], "outlier");
}
END_TEST

/* Duplicates --------------------------------------------------------- */

START_TEST(test_duplicate_in_batch)
{
	size_t	 btc, eth;

	btc = asset("BTC");
	eth = asset("ETH");
	flat(btc, 100, 30);
	flat(eth, 100, 30);
	point("BTC", NOW - 10, "100.1");	/* 0 accepted */
	point("BTC", NOW - 10, "100.1");	/* 1 same point again */
	point("BTC", NOW - 10, "100.2");	/* 2 same time, other price */
	point("ETH", NOW - 10, "100.1");	/* 3 other asset: fine */
	point("BTC", NOW - 20, "1.5.0");	/* 4 out_of_range ... */
	point("BTC", NOW - 20, "100.3");	/* 5 ... still takes the time */
	point("BTC", NOW - 30, "10000");	/* 6 outlier ... */
	point("BTC", NOW - 30, "100");		/* 7 ... claims it too */
	point("XYZ", NOW - 40, "100");		/* 8 unlisted */
	point("XYZ", NOW - 40, "100");		/* 9 unlisted first */
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_DUPLICATE);
	REASON(2, INGEST_DUPLICATE);
	REASON(3, INGEST_ACCEPTED);
	REASON(4, INGEST_OUT_OF_RANGE);
	REASON(5, INGEST_DUPLICATE);
	REASON(6, INGEST_OUTLIER);
	REASON(7, INGEST_DUPLICATE);
	REASON(8, INGEST_INVALID_ASSET);
	REASON(9, INGEST_INVALID_ASSET);
	ck_assert_uint_eq(vs[3].asset, eth);
}
END_TEST

START_TEST(test_duplicate_stored)
{
	size_t	 btc;

	btc = asset("BTC");
	flat(btc, 100, 30);
	existing[btc][0] = NOW - 60;
	existing[btc][1] = NOW - 120;
	existing[btc][2] = NOW - 120;		/* repeated: harmless */
	assets[btc].nexisting = 3;
	point("BTC", NOW - 120, "100");
	point("BTC", NOW - 60, "100");
	point("BTC", NOW - 61, "100");
	point("BTC", NOW - 61, "100");
	judge();
	REASON(0, INGEST_DUPLICATE);
	REASON(1, INGEST_DUPLICATE);
	REASON(2, INGEST_ACCEPTED);
	REASON(3, INGEST_DUPLICATE);
}
END_TEST

/* Outliers ----------------------------------------------------------- */

START_TEST(test_outlier_calm_series)
{
	static const double	 calm[] = { 100.2, 99.9, 100.1, 100.0, 99.8,
	    100.3, 99.7, 100.0, 100.1, 99.9 };
	size_t			 btc, i;

	btc = asset("BTC");
	for (i = 0; i < 10; i++)
		recent[btc][i] = (struct ingest_ref){ MINUTES_AGO(i + 1),
		    calm[i] };
	assets[btc].nrecent = 10;
	point("BTC", NOW - 5, "100.15");
	point("BTC", NOW - 4, "100.25");
	point("BTC", NOW - 3, "10015");		/* x100 */
	point("BTC", NOW - 2, "1.0015");	/* /100 */
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_ACCEPTED);
	REASON(2, INGEST_OUTLIER);
	REASON(3, INGEST_OUTLIER);
	ck_assert(vs[2].z > 1000 && vs[2].jump > 90);
	/* The two disagree: only the later one waits for a re-anchor. */
	ck_assert(!vs[2].candidate && vs[3].candidate);
	ck_assert(!vs[0].candidate && !vs[1].candidate);
	ck_assert_uint_eq(assets[btc].ncand, 1);
}
END_TEST

/*
 * A flat series has MAD 0: without the floor every tick would be an
 * outlier.  Floored at 0.1 % of 100, the scale is 1.4826 * 0.1, so z is
 * |p - 100| / 0.14826: +0.05 -> 0.337, +0.88 -> 5.935 (in), +0.9 -> 6.070
 * (out), +5 % -> 33.72 (out, far inside max_jump).
 */
START_TEST(test_outlier_mad_floor)
{
	static const struct {
		int		 line;
		const char	*price;
		double		 z;
		enum ingest_reason reason;
	} rows[] = {
		{ __LINE__, "100", 0.0, INGEST_ACCEPTED },
		{ __LINE__, "100.05", 0.05 / 0.14826, INGEST_ACCEPTED },
		{ __LINE__, "99.95", 0.05 / 0.14826, INGEST_ACCEPTED },
		{ __LINE__, "100.88", 0.88 / 0.14826, INGEST_ACCEPTED },
		{ __LINE__, "99.12", 0.88 / 0.14826, INGEST_ACCEPTED },
		{ __LINE__, "100.9", 0.9 / 0.14826, INGEST_OUTLIER },
		{ __LINE__, "99.1", 0.9 / 0.14826, INGEST_OUTLIER },
		{ __LINE__, "105", 5 / 0.14826, INGEST_OUTLIER },
	};
	size_t	 btc;

	btc = asset("BTC");
	flat(btc, 100, 50);
	point("BTC", NOW, rows[_i].price);
	judge();
	ck_assert_msg(vs[0].reason == rows[_i].reason, "line %d: %s",
	    rows[_i].line, ingest_reasons[vs[0].reason]);
	ck_assert_msg(vs[0].z > rows[_i].z - 1e-6 &&
	    vs[0].z < rows[_i].z + 1e-6, "line %d: z %.6f", rows[_i].line,
	    vs[0].z);
	ck_assert(vs[0].jump < cfg.max_jump);
}
END_TEST

/* Above the floor, the MAD itself is the scale: 98..102 has MAD 1. */
START_TEST(test_outlier_mad)
{
	static const double	 series[] = { 100, 98, 101, 102, 99 };
	size_t			 btc, i;

	btc = asset("BTC");
	for (i = 0; i < 5; i++)
		recent[btc][i] = (struct ingest_ref){ MINUTES_AGO(i + 1),
		    series[i] };
	assets[btc].nrecent = 5;
	point("BTC", NOW - 2, "108");		/* z 5.396 */
	judge();
	REASON(0, INGEST_ACCEPTED);
	ck_assert_double_eq_tol(vs[0].z, 8 / 1.4826, 1e-9);
	request("r2", NOW);
	point("BTC", NOW - 1, "109");		/* z 6.070 */
	judge();
	REASON(0, INGEST_OUTLIER);
	ck_assert_double_eq_tol(vs[0].z, 9 / 1.4826, 1e-9);
}
END_TEST

/*
 * A wide series (MAD 50) leaves max_jump to decide: from the last stored
 * price (100, the newest), exactly 50 % either way passes, more does not.
 */
START_TEST(test_outlier_max_jump)
{
	static const struct {
		int		 line;
		const char	*price;
		enum ingest_reason reason;
	} rows[] = {
		{ __LINE__, "150", INGEST_ACCEPTED },
		{ __LINE__, "150.01", INGEST_OUTLIER },
		{ __LINE__, "50", INGEST_ACCEPTED },
		{ __LINE__, "49.99", INGEST_OUTLIER },
	};
	size_t	 btc;

	btc = asset("BTC");
	recent[btc][0] = (struct ingest_ref){ NOW - 60, 100 };
	recent[btc][1] = (struct ingest_ref){ NOW - 120, 150 };
	recent[btc][2] = (struct ingest_ref){ NOW - 180, 50 };
	assets[btc].nrecent = 3;
	point("BTC", NOW, rows[_i].price);
	judge();
	ck_assert_msg(vs[0].reason == rows[_i].reason, "line %d: %s",
	    rows[_i].line, ingest_reasons[vs[0].reason]);
	ck_assert(vs[0].z < cfg.outlier_z);
}
END_TEST

/*
 * The last price is the stored point with the latest time, whatever its
 * place in recent[]: here the newest (t-10) is 60, so 100 is a 67 % jump.
 */
START_TEST(test_outlier_last_by_time)
{
	size_t	 btc;

	btc = asset("BTC");
	recent[btc][0] = (struct ingest_ref){ NOW - 120, 100 };
	recent[btc][1] = (struct ingest_ref){ NOW - 10, 60 };
	recent[btc][2] = (struct ingest_ref){ NOW - 180, 140 };
	assets[btc].nrecent = 3;
	point("BTC", NOW, "95");
	judge();
	REASON(0, INGEST_OUTLIER);
	ck_assert_double_eq_tol(vs[0].jump, 35.0 / 60, 1e-12);
}
END_TEST

/*
 * Inside a batch, both the stored last price and the last one the batch
 * accepted bound the jump: a whipsaw against the batch's own point fails,
 * and a walk of steps under 50 % cannot leave the stored level.
 */
START_TEST(test_outlier_batch_reference)
{
	size_t	 btc;

	btc = asset("BTC");
	recent[btc][0] = (struct ingest_ref){ NOW - 60, 100 };
	recent[btc][1] = (struct ingest_ref){ NOW - 120, 200 };
	recent[btc][2] = (struct ingest_ref){ NOW - 180, 20 };
	assets[btc].nrecent = 3;
	point("BTC", NOW - 50, "65");		/* alone: 35 % from 100 */
	judge();
	REASON(0, INGEST_ACCEPTED);

	request("r2", NOW);
	point("BTC", NOW - 50, "140");		/* 40 % from 100 */
	point("BTC", NOW - 40, "65");		/* 35 % / 54 % from 140 */
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_OUTLIER);

	request("r3", NOW);
	point("BTC", NOW - 35, "140");		/* 40 % */
	point("BTC", NOW - 25, "149");		/* 6 % from 140, 49 % */
	point("BTC", NOW - 15, "180");		/* 21 % from 149, 80 % */
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_ACCEPTED);
	REASON(2, INGEST_OUTLIER);
}
END_TEST

/* An asset with no stored point takes its level from its first one. */
START_TEST(test_outlier_first_point)
{
	asset("NEW");
	point("NEW", NOW - 30, "50");
	point("NEW", NOW - 20, "50.2");
	point("NEW", NOW - 10, "74");		/* 48 %: the z rejects */
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_ACCEPTED);
	REASON(2, INGEST_OUTLIER);
}
END_TEST

/* Re-anchoring ------------------------------------------------------- */

/* BTC flat at 100, and request r1 bringing three points at ~200. */
static size_t
reanchor_setup(void)
{
	size_t	 btc;

	btc = asset("BTC");
	flat(btc, 100, 30);
	point("BTC", NOW - 100, "200");
	point("BTC", NOW - 50, "201");
	point("BTC", NOW, "202");
	judge();
	REASON(0, INGEST_OUTLIER);
	REASON(1, INGEST_OUTLIER);
	REASON(2, INGEST_OUTLIER);
	ck_assert(vs[0].candidate && vs[1].candidate && vs[2].candidate);
	ck_assert_uint_eq(assets[btc].ncand, 3);
	ck_assert(assets[btc].changed && !assets[btc].reanchored);
	ck_assert_str_eq(cand[btc][0].request_id, "r1");
	ck_assert_str_eq(cand[btc][0].source, "feed");
	ck_assert_str_eq(cand[btc][2].price.text, "202");
	ck_assert(cand[btc][0].received == NOW);
	return btc;
}

START_TEST(test_reanchor_two_requests)
{
	size_t	 btc;

	btc = reanchor_setup();
	request("r2", NOW + 600);
	batch.source = "feed2";
	point("BTC", NOW + 500, "203");
	point("BTC", NOW + 600, "201");		/* fifth: a new level */
	point("BTC", NOW + 610, "202.5");	/* judged by the new level */
	point("BTC", NOW + 620, "100");		/* the old level: far */
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_ACCEPTED);
	REASON(2, INGEST_ACCEPTED);
	REASON(3, INGEST_OUTLIER);
	ck_assert(vs[0].reanchored && vs[1].reanchored && !vs[2].reanchored);
	ck_assert(!vs[0].candidate && !vs[1].candidate);
	ck_assert(assets[btc].reanchored && assets[btc].changed);
	ck_assert(assets[btc].anchor_ts == NOW - 100);
	/* r1's three are the caller's to store, as they came. */
	ck_assert_uint_eq(assets[btc].nadopt, 3);
	ck_assert_str_eq(adopt[btc][0].price.text, "200");
	ck_assert_str_eq(adopt[btc][1].price.text, "201");
	ck_assert_str_eq(adopt[btc][2].price.text, "202");
	ck_assert(adopt[btc][0].ts == NOW - 100);
	ck_assert_str_eq(adopt[btc][0].source, "feed");
	ck_assert_str_eq(adopt[btc][0].request_id, "r1");
	/* The old level's point starts a new run. */
	ck_assert_uint_eq(assets[btc].ncand, 1);
	ck_assert(vs[3].candidate);
}
END_TEST

/* The same five points in one batch never move the level. */
START_TEST(test_reanchor_one_batch)
{
	size_t	 btc, i;

	btc = asset("BTC");
	flat(btc, 100, 30);
	point("BTC", NOW - 900, "200");
	point("BTC", NOW - 600, "201");
	point("BTC", NOW - 300, "202");
	point("BTC", NOW - 100, "203");
	point("BTC", NOW, "201");
	point("BTC", NOW + 200, "200.5");
	judge();
	for (i = 0; i < 6; i++) {
		REASON(i, INGEST_OUTLIER);
		ck_assert(vs[i].candidate && !vs[i].reanchored);
	}
	ck_assert(!assets[btc].reanchored);
	ck_assert_uint_eq(assets[btc].ncand, 6);
}
END_TEST

/* A replayed request id is still one request. */
START_TEST(test_reanchor_same_request_id)
{
	size_t	 btc;

	btc = reanchor_setup();
	request("r1", NOW + 600);
	point("BTC", NOW + 500, "203");
	point("BTC", NOW + 600, "201");
	judge();
	REASON(0, INGEST_OUTLIER);
	REASON(1, INGEST_OUTLIER);
	ck_assert(!assets[btc].reanchored);
	ck_assert_uint_eq(assets[btc].ncand, 5);
}
END_TEST

/*
 * Two requests a second apart whose times claim ten minutes: the feed's
 * times alone do not span reanchor_span; arrival must too.  The next
 * request ten minutes on completes it.
 */
START_TEST(test_reanchor_arrival_span)
{
	size_t	 btc;

	btc = reanchor_setup();
	request("r2", NOW + 1);
	point("BTC", NOW - 700, "203");
	point("BTC", NOW - 600, "201");
	judge();
	REASON(0, INGEST_OUTLIER);
	REASON(1, INGEST_OUTLIER);
	ck_assert(!assets[btc].reanchored);
	ck_assert_uint_eq(assets[btc].ncand, 5);

	request("r3", NOW + 599);
	point("BTC", NOW + 500, "202");
	judge();
	REASON(0, INGEST_OUTLIER);
	ck_assert(!assets[btc].reanchored);

	request("r4", NOW + 600);
	point("BTC", NOW + 590, "202");
	judge();
	REASON(0, INGEST_ACCEPTED);
	ck_assert(vs[0].reanchored && assets[btc].reanchored);
	ck_assert_uint_eq(assets[btc].nadopt, 6);
	ck_assert(assets[btc].anchor_ts == NOW - 700);
}
END_TEST

/* Five points over two requests but only 599 s of their own time. */
START_TEST(test_reanchor_time_span)
{
	size_t	 btc;

	btc = reanchor_setup();
	request("r2", NOW + 700);
	point("BTC", NOW + 400, "203");
	point("BTC", NOW + 499, "201");		/* ts span 599 */
	judge();
	REASON(1, INGEST_OUTLIER);
	ck_assert(!assets[btc].reanchored);
	request("r3", NOW + 701);
	point("BTC", NOW + 500, "201");		/* ts span 600 */
	judge();
	REASON(0, INGEST_ACCEPTED);
	ck_assert(assets[btc].reanchored);
}
END_TEST

/* Points that do not agree within max_jump never make a level. */
START_TEST(test_reanchor_disagreeing)
{
	static const char *const prices[] = { "200", "400", "210", "420",
	    "190", "380", "205", "410" };
	size_t	 btc, i;
	char	 id[8];

	btc = asset("BTC");
	flat(btc, 100, 30);
	for (i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "r%zu", i);
		request(id, NOW + 300 * (long long)i);
		point("BTC", NOW + 300 * (long long)i, prices[i]);
		judge();
		REASON(0, INGEST_OUTLIER);
		ck_assert(!assets[btc].reanchored);
		/* Each newcomer keeps only the tail that agrees with it. */
		ck_assert_uint_eq(assets[btc].ncand, 1);
	}
}
END_TEST

/* Agreement is on the whole run: 200 and 300 agree, 200 and 301 not. */
START_TEST(test_reanchor_run_tail)
{
	size_t	 btc;

	btc = asset("BTC");
	flat(btc, 100, 30);
	point("BTC", NOW - 40, "300");
	point("BTC", NOW - 30, "250");
	point("BTC", NOW - 20, "200");		/* 300/200 = 1.5: agree */
	judge();
	ck_assert_uint_eq(assets[btc].ncand, 3);
	request("r2", NOW);
	point("BTC", NOW - 10, "199.99");	/* 300/199.99 > 1.5 */
	judge();
	ck_assert_uint_eq(assets[btc].ncand, 3);
	ck_assert_str_eq(cand[btc][0].price.text, "250");
	ck_assert_str_eq(cand[btc][2].price.text, "199.99");
}
END_TEST

/* An accepted point between them: the outliers are no longer consecutive. */
START_TEST(test_reanchor_interrupted)
{
	size_t	 btc;

	btc = reanchor_setup();
	request("r2", NOW + 600);
	point("BTC", NOW + 400, "100.1");	/* the old level, accepted */
	point("BTC", NOW + 500, "203");
	point("BTC", NOW + 600, "201");
	judge();
	REASON(0, INGEST_ACCEPTED);
	REASON(1, INGEST_OUTLIER);
	REASON(2, INGEST_OUTLIER);
	ck_assert(!assets[btc].reanchored);
	ck_assert_uint_eq(assets[btc].ncand, 2);
	ck_assert_str_eq(cand[btc][0].request_id, "r2");
	/* Rejections of other kinds neither join nor break a run. */
	request("r3", NOW + 610);
	point("BTC", NOW + 601, "abc");
	point("BTC", NOW + 600, "202");		/* duplicate */
	point("BTC", NOW - 700000, "202");	/* stale */
	judge();
	REASON(0, INGEST_OUT_OF_RANGE);
	REASON(1, INGEST_DUPLICATE);
	REASON(2, INGEST_STALE);
	ck_assert_uint_eq(assets[btc].ncand, 2);
}
END_TEST

/* A retried request re-sends the same points: they count once. */
START_TEST(test_reanchor_retry)
{
	size_t	 btc;

	btc = reanchor_setup();
	request("r1-retry", NOW + 600);
	point("BTC", NOW - 100, "200");
	point("BTC", NOW - 50, "201");
	point("BTC", NOW, "202");
	judge();
	REASON(0, INGEST_DUPLICATE);
	REASON(1, INGEST_DUPLICATE);
	REASON(2, INGEST_DUPLICATE);
	ck_assert(!assets[btc].reanchored);
	ck_assert_uint_eq(assets[btc].ncand, 3);
}
END_TEST

/*
 * After a re-anchor the caller keeps anchor_ts: the stored points before
 * it are the old level and must not judge the new one.
 */
START_TEST(test_reanchor_next_batch)
{
	size_t	 btc, i;

	btc = asset("BTC");
	for (i = 0; i < 30; i++)
		recent[btc][i] = (struct ingest_ref){ NOW - 2000 -
		    60 * (long long)i, 100 };
	for (i = 30; i < 35; i++)
		recent[btc][i] = (struct ingest_ref){ NOW - 1000 +
		    100 * (long long)(i - 30), 200 + (double)(i - 30) / 2 };
	assets[btc].nrecent = 35;
	point("BTC", NOW, "201");
	judge();
	REASON(0, INGEST_OUTLIER);		/* the old median rules */

	assets[btc].anchor_ts = NOW - 1000;
	assets[btc].ncand = 0;
	request("r2", NOW);
	point("BTC", NOW, "201");
	judge();
	REASON(0, INGEST_ACCEPTED);
	ck_assert(vs[0].z < 1);
}
END_TEST

/* The run is bounded: the oldest go first. */
START_TEST(test_reanchor_cap)
{
	char	 price[16];
	char	 prices[8][16];
	size_t	 btc, i;

	btc = asset("BTC");
	flat(btc, 100, 30);
	assets[btc].candcap = cfg.reanchor_points;
	for (i = 0; i < 8; i++) {
		snprintf(price, sizeof(price), "%zu", 200 + i);
		memcpy(prices[i], price, sizeof(price));
		point("BTC", NOW - 100 + (long long)i, prices[i]);
	}
	judge();
	ck_assert_uint_eq(assets[btc].ncand, cfg.reanchor_points);
	ck_assert_str_eq(cand[btc][0].price.text, "203");
	ck_assert_str_eq(cand[btc][4].price.text, "207");
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(vs[i].candidate, i >= 3);

	/* The configured bound applies when the room is larger. */
	setup();
	btc = asset("BTC");
	flat(btc, 100, 30);
	cfg.reanchor_pending = 6;
	for (i = 0; i < 8; i++)
		point("BTC", NOW - 100 + (long long)i, prices[i]);
	judge();
	ck_assert_uint_eq(assets[btc].ncand, 6);
}
END_TEST

/* Stored candidates are the caller's data: what cannot be used goes. */
START_TEST(test_reanchor_prune)
{
	size_t	 btc, i;

	btc = asset("BTC");
	flat(btc, 100, 30);
	cand[btc][0] = (struct ingest_candidate){ .ts = OLD - 10,
	    .received = OLD - 10 };			/* stale now */
	cand[btc][1] = (struct ingest_candidate){ .ts = NOW - 60,
	    .received = NOW + 60 };			/* future */
	cand[btc][2] = (struct ingest_candidate){ .ts = NOW - 50,
	    .received = NOW - 50 };			/* bad price */
	cand[btc][3] = (struct ingest_candidate){ .ts = NOW - 40,
	    .received = NOW - 40 };			/* kept */
	cand[btc][4] = (struct ingest_candidate){ .ts = NOW - 30,
	    .received = NOW - 30 };			/* no request */
	strlcpy(cand[btc][0].price.text, "200", INGEST_DECIMAL_SIZE);
	strlcpy(cand[btc][1].price.text, "200", INGEST_DECIMAL_SIZE);
	strlcpy(cand[btc][2].price.text, "200.0", INGEST_DECIMAL_SIZE);
	strlcpy(cand[btc][3].price.text, "201", INGEST_DECIMAL_SIZE);
	strlcpy(cand[btc][4].price.text, "202", INGEST_DECIMAL_SIZE);
	for (i = 0; i < 5; i++) {
		strlcpy(cand[btc][i].source, "feed", INGEST_SOURCE_SIZE);
		if (i != 4)
			strlcpy(cand[btc][i].request_id, "r0",
			    sizeof(cand[btc][i].request_id));
	}
	/* Unterminated strings are cut, not read past. */
	memset(cand[btc][3].source, 'x', sizeof(cand[btc][3].source));
	assets[btc].ncand = 5;
	judge();
	ck_assert(assets[btc].changed);
	ck_assert_uint_eq(assets[btc].ncand, 1);
	ck_assert_str_eq(cand[btc][0].price.text, "201");
	ck_assert(cand[btc][0].price.value == 201);
	ck_assert_uint_eq(strlen(cand[btc][0].source), INGEST_SOURCE_SIZE - 1);

	/* Nothing to drop, nothing to save. */
	request("r2", NOW);
	judge();
	ck_assert(!assets[btc].changed);
}
END_TEST

/* A stored run longer than the bound now configured keeps its newest. */
START_TEST(test_reanchor_stored_over_cap)
{
	size_t	 btc, i;

	btc = asset("BTC");
	flat(btc, 100, 30);
	for (i = 0; i < 8; i++) {
		cand[btc][i] = (struct ingest_candidate){
		    .ts = NOW - 100 + (long long)i, .received = NOW - 100 };
		snprintf(cand[btc][i].price.text, INGEST_DECIMAL_SIZE, "%zu",
		    200 + i);
		strlcpy(cand[btc][i].request_id, "r0", ASPIDA_REQID_LEN + 1);
		strlcpy(cand[btc][i].source, "feed", INGEST_SOURCE_SIZE);
	}
	assets[btc].ncand = 8;
	cfg.reanchor_pending = 6;
	judge();
	ck_assert(assets[btc].changed);
	ck_assert_uint_eq(assets[btc].ncand, 6);
	ck_assert_str_eq(cand[btc][0].price.text, "202");
	ck_assert_str_eq(cand[btc][5].price.text, "207");
}
END_TEST

/* Bounds and bad arguments ------------------------------------------- */

START_TEST(test_bounds)
{
	size_t	 btc, i;

	/* No points, no assets. */
	judge();
	point("BTC", NOW, "100");
	judge();
	REASON(0, INGEST_INVALID_ASSET);

	/* Many points, far more than one request may carry, all one time. */
	btc = asset("BTC");
	for (i = 0; i < NRECENT; i++)
		recent[btc][i] = (struct ingest_ref){ NOW - (long long)i - 1,
		    i < INGEST_WINDOW_MAX ? 100 : 1e6 };
	assets[btc].nrecent = NRECENT;
	npts = 0;
	for (i = 0; i < NPTS; i++)
		point("BTC", NOW, "100.01");
	judge();
	REASON(0, INGEST_ACCEPTED);
	for (i = 1; i < NPTS; i++)
		REASON(i, INGEST_DUPLICATE);

	/* Only the newest INGEST_WINDOW_MAX stored points are read. */
	ck_assert(vs[0].z < 1);

	/* Stored prices that make no sense are skipped, not divided by. */
	recent[btc][0].price = 0;
	recent[btc][1].price = -5;
	recent[btc][2].price = NAN;
	npts = 0;
	point("BTC", NOW, "100.01");
	judge();
	REASON(0, INGEST_ACCEPTED);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct ingest_config	 good;
	const char		*err;
	size_t			 btc;

	btc = asset("BTC");
	flat(btc, 100, 3);
	cand[btc][0] = (struct ingest_candidate){ .ts = NOW - 5,
	    .received = NOW - 5, .price = { "200", 3, 200 },
	    .request_id = "r0", .source = "feed" };
	assets[btc].ncand = 1;
	point("BTC", NOW, "100");
	good = cfg;

#define BAD(stmt) do {							\
	stmt;								\
	err = NULL;							\
	ck_assert_int_eq(ingest_judge_batch(&cfg, &batch, pts, npts,	\
	    assets, nasset, vs, &err), -1);				\
	ck_assert(err != NULL);						\
	ck_assert_uint_eq(assets[btc].ncand, 1);			\
	cfg = good;							\
	batch.request_id = "r1";					\
	batch.source = "feed";						\
	assets[btc].candcap = NCAND;					\
	assets[btc].adoptcap = NCAND;					\
	strlcpy(assets[btc].id, "BTC", sizeof(assets[btc].id));		\
	nasset = 1;							\
} while (0)

	BAD(cfg.reanchor_points = 1);
	BAD(cfg.reanchor_pending = INGEST_PENDING_MAX + 1);
	BAD(cfg.reanchor_pending = 4);
	BAD(cfg.max_jump = 0);
	BAD(cfg.outlier_z = -1);
	BAD(cfg.outlier_z = INFINITY);
	BAD(cfg.max_price = 0);
	BAD(cfg.max_age = -1);
	BAD(batch.request_id = "");
	BAD(batch.request_id = "0123456789abcdef0123456789abcdef0");
	BAD(batch.source = NULL);
	BAD(assets[btc].candcap = 4);
	BAD(assets[btc].adoptcap = 0);
	BAD(strlcpy(assets[btc].id, "btc", sizeof(assets[btc].id)));
	BAD(memset(assets[btc].id, 'A', sizeof(assets[btc].id)));
	BAD(asset("BTC"));			/* listed twice */
	ck_assert_int_eq(ingest_judge_batch(NULL, &batch, pts, npts, assets,
	    nasset, vs, &err), -1);
	ck_assert_int_eq(ingest_judge_batch(&cfg, &batch, pts, npts, assets,
	    nasset, NULL, &err), -1);
	ck_assert_int_eq(ingest_judge_batch(&cfg, &batch, pts, npts, assets,
	    nasset, vs, NULL), 0);
#undef BAD
}
END_TEST

Suite *
ingest_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ingest");
	tc = tcase_create("decimal");
	tcase_add_loop_test(tc, test_decimal_table, 0,
	    sizeof(drows) / sizeof(drows[0]));
	tcase_add_test(tc, test_decimal_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("reasons");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_reason_order, 0,
	    sizeof(rrows) / sizeof(rrows[0]));
	tcase_add_test(tc, test_reason_names);
	tcase_add_test(tc, test_duplicate_in_batch);
	tcase_add_test(tc, test_duplicate_stored);
	suite_add_tcase(s, tc);

	tc = tcase_create("outlier");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_outlier_calm_series);
	tcase_add_loop_test(tc, test_outlier_mad_floor, 0, 8);
	tcase_add_test(tc, test_outlier_mad);
	tcase_add_loop_test(tc, test_outlier_max_jump, 0, 4);
	tcase_add_test(tc, test_outlier_last_by_time);
	tcase_add_test(tc, test_outlier_batch_reference);
	tcase_add_test(tc, test_outlier_first_point);
	suite_add_tcase(s, tc);

	tc = tcase_create("reanchor");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reanchor_two_requests);
	tcase_add_test(tc, test_reanchor_one_batch);
	tcase_add_test(tc, test_reanchor_same_request_id);
	tcase_add_test(tc, test_reanchor_arrival_span);
	tcase_add_test(tc, test_reanchor_time_span);
	tcase_add_test(tc, test_reanchor_disagreeing);
	tcase_add_test(tc, test_reanchor_run_tail);
	tcase_add_test(tc, test_reanchor_interrupted);
	tcase_add_test(tc, test_reanchor_retry);
	tcase_add_test(tc, test_reanchor_next_batch);
	tcase_add_test(tc, test_reanchor_cap);
	tcase_add_test(tc, test_reanchor_prune);
	tcase_add_test(tc, test_reanchor_stored_over_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}
