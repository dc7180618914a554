/*
 * Price forecasts for POST /predict/{asset_id}: a small, well-known model
 * computed from an asset's recent points, and the canonical decimal
 * strings API.md wants for its results.  Pure: no I/O, no globals, no
 * configuration; the route reads the points and the settings and passes
 * them in.
 *
 * Input.  n points (t[i] in Unix seconds, price[i] > 0 as a double), in
 * any order (the database's newest-first order is fine: nothing depends
 * on it).  The forecast origin is the newest timestamp given; the target
 * is origin + horizon seconds.  Time is measured in hours from the origin,
 * x = (t - origin) / 3600, so x <= 0, and y = ln(price).
 *
 * Outliers.  A resistant line (Tukey's three-group line) is fitted first:
 * the points sorted by time are cut into a left and a right third of
 * floor(n/3) points each, the slope is b0 = (median y of the right third
 * - median y of the left third) / (median x right - median x left) (0 if
 * those medians coincide), and the intercept a0 = median(y - b0 x).  With
 * residuals r = y - a0 - b0 x (their median is 0 by construction) and
 * MAD = median |r|, floored at 0.001 (about 0.1 % of the price, API.md's
 * ingestion floor, in log units), a point is excluded when
 * |r| > k * 1.4826 * MAD (k = outlier_k, 6 by default).  A trend does
 * not make the newest and oldest points look like outliers, and since at
 * least half the residuals lie within one MAD, at most half the points
 * can ever be excluded.  Timestamps tied in the sort are ordered by
 * price, so the result never depends on the order of the input.
 *
 * Model ("ols-log-linear").  Ordinary least squares of y on x over the
 * kept points (m of them): xm, ym the means, Sxx = sum (x - xm)^2,
 * b = sum (x - xm)(y - ym) / Sxx, a = ym - b xm (ln price at the origin),
 * s^2 = sum (y - a - b x)^2 / (m - 2).  At x0 = horizon / 3600:
 *	yhat = a + b x0
 *	se   = s sqrt(1 + 1/m + (x0 - xm)^2 / Sxx)
 *	predicted = exp(yhat)
 *	low  = exp(yhat - q se),  high = exp(yhat + q se)
 * with q = t(0.975, m - 2), the two-sided 95 % Student-t quantile: a
 * 95 % prediction interval for the log price, exponentiated.  q comes
 * from a table for df <= 30 and beyond from the Cornish-Fisher expansion,
 * refined by a Newton step on the exact t distribution function up to
 * df 500 (forecast_t975): within 1e-13 of the true quantile.  predicted
 * is the model's median price (no log-normal mean correction), so it is
 * the geometric middle of the interval.  A constant series gives slope 0,
 * s = 0, low = predicted = high and confidence 1 exactly.
 *
 * Confidence = low / high = exp(-2 q se): 1 for a zero-width interval,
 * falling toward 0 as the interval widens (0.5 when high is twice low).
 * Bounded, monotone in the interval's relative width, independent of the
 * price's scale, and computed before rounding.  R^2 is deliberately not
 * used: a flat, quiet series forecasts well and has R^2 near 0.
 *
 * Failures: FORECAST_EINVAL for arguments or points that are invalid
 * (a caller bug or corrupt data: non-finite or non-positive price, a
 * timestamp outside 0..9999-12-31, a horizon outside 1 s..366 days, k
 * outside [1, 1000], n above FORECAST_MAX_POINTS), FORECAST_ENODATA when
 * the points cannot support a forecast (fewer than max(min_points, 3)
 * given or kept after exclusion, kept points all at one time, or a high
 * end above FORECAST_MAX_VALUE) - the route's 409.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"

#define FORECAST_MAD_FLOOR	0.001	/* ln units: 0.1 % of the price */
#define FORECAST_MAD_SCALE	1.4826	/* MAD to sigma for normal data */
#define FORECAST_T_MAX		253402300799LL	/* 9999-12-31T23:59:59Z */
#define FORECAST_DIGITS		17	/* enough for any double */
#define FORECAST_T_NEWTON	500	/* df refined on the exact t law */

struct forecast_pt {
	double	x;
	double	y;
	int	kept;
};

/*
 * t(0.975, df) for df = 1..30, computed with mpmath (the regularised
 * incomplete beta function, inverted by root finding, 40 digits).
 */
static const double forecast_t975_table[] = {
	12.706204736174705,	/* 1 */
	4.3026527297494639,	/* 2 */
	3.1824463052837096,	/* 3 */
	2.7764451051977944,	/* 4 */
	2.5705818356363155,	/* 5 */
	2.4469118511449700,	/* 6 */
	2.3646242515927853,	/* 7 */
	2.3060041352041667,	/* 8 */
	2.2621571627982055,	/* 9 */
	2.2281388519862747,	/* 10 */
	2.2009851600916399,	/* 11 */
	2.1788128296672289,	/* 12 */
	2.1603686564627925,	/* 13 */
	2.1447866879178038,	/* 14 */
	2.1314495455597757,	/* 15 */
	2.1199052992212547,	/* 16 */
	2.1098155778333171,	/* 17 */
	2.1009220402410385,	/* 18 */
	2.0930240544083098,	/* 19 */
	2.0859634472658648,	/* 20 */
	2.0796138447276804,	/* 21 */
	2.0738730679040262,	/* 22 */
	2.0686576104190487,	/* 23 */
	2.0638985616280258,	/* 24 */
	2.0595385527532977,	/* 25 */
	2.0555294386428732,	/* 26 */
	2.0518305164802856,	/* 27 */
	2.0484071417952452,	/* 28 */
	2.0452296421327043,	/* 29 */
	2.0422724563012383,	/* 30 */
};

#define FORECAST_T_TABLE \
	(sizeof(forecast_t975_table) / sizeof(forecast_t975_table[0]))

/*
 * P(|T| <= t) for Student's t with an integral nu >= 3 degrees of
 * freedom (the table covers fewer), by the finite series of Abramowitz
 * and Stegun 26.7.3 (nu odd) and 26.7.4 (nu even) in theta =
 * atan(t / sqrt(nu)), and its derivative in t: the series' last term
 * times (nu - 1) cos(theta) is d/dtheta, and dtheta/dt =
 * cos^2(theta) / sqrt(nu).  Returns the probability, the derivative in
 * *deriv.
 */
static double
forecast_t_abs_cdf(double t, double nu, double *deriv)
{
	double	th, s, c, c2, term, sum, j, p, dth;

	th = atan(t / sqrt(nu));
	s = sin(th);
	c = cos(th);
	c2 = c * c;
	if (fmod(nu, 2) == 0) {
		term = sum = 1;
		for (j = 2; j <= nu - 2; j += 2) {
			term *= (j - 1) / j * c2;
			sum += term;
		}
		p = s * sum;
		dth = term * (nu - 1) * c;
	} else {
		term = sum = c;
		for (j = 3; j <= nu - 2; j += 2) {
			term *= (j - 1) / j * c2;
			sum += term;
		}
		p = 2 / M_PI * (th + s * sum);
		dth = 2 / M_PI * term * (nu - 1) * c;
	}
	*deriv = dth * c2 / sqrt(nu);
	return p;
}

/*
 * The 0.975 quantile of Student's t with df degrees of freedom.  Up to 30
 * the table above.  Beyond, the Cornish-Fisher expansion of Abramowitz
 * and Stegun 26.7.5 around the normal quantile z (error 3e-8 at df 31,
 * falling as df^-5); up to df 500 one Newton step on the exact
 * distribution function then brings it to within 1e-13, and beyond 500
 * the expansion alone is that close (INFINITY gives z).  Returns the
 * quantile, or NaN for NaN, df < 1 or a fractional df.
 */
double
forecast_t975(double df)
{
	const double	z = 1.9599639845400542;
	double		z2, g1, g2, g3, g4, v, t, d;

	if (!(df >= 1) || (isfinite(df) && df != floor(df)))	/* NaN too */
		return NAN;
	if (df <= FORECAST_T_TABLE)
		return forecast_t975_table[(size_t)df - 1];
	z2 = z * z;
	g1 = z * (z2 + 1) / 4;
	g2 = z * ((5 * z2 + 16) * z2 + 3) / 96;
	g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384;
	g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) /
	    92160;
	v = 1 / df;
	t = z + v * (g1 + v * (g2 + v * (g3 + v * g4)));
	if (df <= FORECAST_T_NEWTON)
		t -= (forecast_t_abs_cdf(t, df, &d) - 0.95) / d;
	return t;
}

static int
forecast_cmp_double(const void *a, const void *b)
{
	double	da = *(const double *)a, db = *(const double *)b;

	return (da > db) - (da < db);
}

static int
forecast_cmp_x(const void *a, const void *b)
{
	const struct forecast_pt	*pa = a, *pb = b;

	/* y breaks ties, so the order the points came in changes nothing. */
	if (pa->x != pb->x)
		return (pa->x > pb->x) - (pa->x < pb->x);
	return (pa->y > pb->y) - (pa->y < pb->y);
}

/* Sorts v (no NaN) in place.  Returns its median. */
static double
forecast_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), forecast_cmp_double);
	if (n % 2 == 1)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Marks the outliers of pts (sorted by x) as not kept, by the resistant
 * line and MAD rule of the header comment; w is scratch for n doubles.
 * Returns how many points are kept.
 */
static size_t
forecast_exclude(struct forecast_pt *pts, size_t n, double k, double *w)
{
	size_t	i, third = n / 3, kept;
	double	xl, xr, yl, yr, b0, a0, mad, limit;

	for (i = 0; i < third; i++)
		w[i] = pts[i].x;
	xl = forecast_median(w, third);
	for (i = 0; i < third; i++)
		w[i] = pts[n - third + i].x;
	xr = forecast_median(w, third);
	for (i = 0; i < third; i++)
		w[i] = pts[i].y;
	yl = forecast_median(w, third);
	for (i = 0; i < third; i++)
		w[i] = pts[n - third + i].y;
	yr = forecast_median(w, third);
	b0 = xr > xl ? (yr - yl) / (xr - xl) : 0;

	for (i = 0; i < n; i++)
		w[i] = pts[i].y - b0 * pts[i].x;
	a0 = forecast_median(w, n);
	for (i = 0; i < n; i++)
		w[i] = fabs(pts[i].y - a0 - b0 * pts[i].x);
	mad = forecast_median(w, n);
	if (mad < FORECAST_MAD_FLOOR)
		mad = FORECAST_MAD_FLOOR;
	limit = k * FORECAST_MAD_SCALE * mad;

	for (i = kept = 0; i < n; i++) {
		pts[i].kept = fabs(pts[i].y - a0 - b0 * pts[i].x) <= limit;
		if (pts[i].kept)
			kept++;
	}
	return kept;
}

/*
 * Forecasts the price horizon seconds after the newest of the n points
 * (t[i], price[i]) given in any order, as the header comment describes:
 * outliers (robust z above k) excluded, least squares on the log prices
 * of the rest, a 95 % prediction interval, the confidence.  min_points is
 * the fewest points a forecast may use (predict_min_points; at least 3
 * is always required), counted after exclusion.  Returns 0 with fc
 * filled, or FORECAST_EINVAL or FORECAST_ENODATA with *errstr set and fc
 * untouched.
 */
int
forecast_compute(const long long *t, const double *price, size_t n,
    long long horizon, size_t min_points, double k, struct forecast *fc,
    const char **errstr)
{
	struct forecast		 r;
	struct forecast_pt	*pts = NULL;
	double			*w = NULL;
	double			 xm, ym, sxx, sxy, sse, d, a, b, s, x0, yhat;
	double			 se, q, y0;
	long long		 origin;
	size_t			 i, m;
	int			 rc = FORECAST_EINVAL;

	*errstr = NULL;
	if (min_points < FORECAST_MIN_FIT)
		min_points = FORECAST_MIN_FIT;
	if ((n > 0 && (t == NULL || price == NULL)) || fc == NULL) {
		*errstr = "no points or no result given";
		goto fail;
	}
	if (n > FORECAST_MAX_POINTS) {
		*errstr = "too many points";
		goto fail;
	}
	if (horizon < 1 || horizon > FORECAST_MAX_HORIZON) {
		*errstr = "horizon out of range";
		goto fail;
	}
	if (!(k >= 1 && k <= 1000)) {		/* NaN fails too */
		*errstr = "outlier threshold out of range";
		goto fail;
	}
	origin = 0;
	for (i = 0; i < n; i++) {
		if (t[i] < 0 || t[i] > FORECAST_T_MAX) {
			*errstr = "timestamp out of range";
			goto fail;
		}
		if (!(price[i] > 0) || !isfinite(price[i])) {
			*errstr = "price not positive and finite";
			goto fail;
		}
		if (t[i] > origin)
			origin = t[i];
	}
	if (n < min_points) {
		rc = FORECAST_ENODATA;
		*errstr = "too few points";
		goto fail;
	}

	if ((pts = calloc(n, sizeof(*pts))) == NULL ||
	    (w = calloc(n, sizeof(*w))) == NULL) {
		*errstr = "out of memory";
		goto fail;
	}
	for (i = 0; i < n; i++) {
		pts[i].x = (double)(t[i] - origin) / 3600;
		pts[i].y = log(price[i]);
	}
	qsort(pts, n, sizeof(*pts), forecast_cmp_x);
	m = forecast_exclude(pts, n, k, w);
	rc = FORECAST_ENODATA;
	if (m < min_points) {
		*errstr = "too few points after excluding outliers";
		goto fail;
	}

	/*
	 * Two passes, centred, so the sums lose nothing to cancellation.
	 * The log prices are taken from the first kept one, so a constant
	 * series has a mean exactly its value: slope and s exactly 0.
	 */
	for (i = 0; !pts[i].kept; i++)
		;
	y0 = pts[i].y;
	xm = ym = 0;
	for (i = 0; i < n; i++)
		if (pts[i].kept) {
			xm += pts[i].x;
			ym += pts[i].y - y0;
		}
	xm /= m;
	ym = y0 + ym / m;
	sxx = sxy = 0;
	for (i = 0; i < n; i++)
		if (pts[i].kept) {
			d = pts[i].x - xm;
			sxx += d * d;
			sxy += d * (pts[i].y - ym);
		}
	if (!(sxx > 0)) {
		*errstr = "the points span no time";
		goto fail;
	}
	b = sxy / sxx;
	a = ym - b * xm;
	sse = 0;
	for (i = 0; i < n; i++)
		if (pts[i].kept) {
			d = pts[i].y - a - b * pts[i].x;
			sse += d * d;
		}
	s = sqrt(sse / (double)(m - 2));

	x0 = (double)horizon / 3600;
	yhat = a + b * x0;
	se = s * sqrt(1 + 1 / (double)m + (x0 - xm) * (x0 - xm) / sxx);
	q = forecast_t975((double)(m - 2));

	memset(&r, 0, sizeof(r));
	r.predicted = exp(yhat);
	r.low = exp(yhat - q * se);
	r.high = exp(yhat + q * se);
	r.confidence = exp(-2 * q * se);
	if (!(r.high <= FORECAST_MAX_VALUE)) {		/* NaN fails too */
		*errstr = "forecast out of range";
		goto fail;
	}
	r.slope = b;
	r.intercept = a;
	r.resid_sd = s;
	r.pred_se = se;
	r.tq = q;
	r.origin = origin;
	r.target = origin + horizon;
	r.points_used = m;
	r.outliers_excluded = n - m;
	r.model = FORECAST_MODEL;
	*fc = r;
	rc = 0;
 fail:
	free(pts);
	free(w);
	return rc;
}

/*
 * The shortest decimal that reads back as v (v finite, > 0): its digits
 * in d (no leading zero and, being shortest, no trailing one), their
 * count in *nd, and the power of ten of the first digit in *e10, so
 * v = d[0].d[1]d[2]... * 10^(*e10).  Returns 0, or -1 if the printed
 * form is not the one expected.
 */
static int
forecast_shortest(double v, int d[FORECAST_DIGITS], int *nd, int *e10)
{
	char		 buf[64], *p, *end;
	long		 e;
	int		 prec, len;

	for (prec = 0; prec < FORECAST_DIGITS; prec++) {
		len = snprintf(buf, sizeof(buf), "%.*e", prec, v);
		if (len < 0 || (size_t)len >= sizeof(buf))
			return -1;
		if (strtod(buf, NULL) == v)
			break;
	}
	if (prec == FORECAST_DIGITS)
		return -1;
	/* "D.DDDDe+XX"; the radix character is skipped, whatever it is. */
	*nd = 0;
	for (p = buf; *p != '\0' && *p != 'e'; p++) {
		if (*p < '0' || *p > '9')
			continue;
		if (*nd == FORECAST_DIGITS)
			return -1;
		d[(*nd)++] = *p - '0';
	}
	if (*p != 'e' || *nd == 0 || d[0] == 0)
		return -1;
	e = strtol(p + 1, &end, 10);
	if (*end != '\0' || e < -400 || e > 400)
		return -1;
	*e10 = (int)e;
	return 0;
}

/*
 * Writes v as API.md's canonical decimal: its shortest round-trip
 * decimal (what %.17g means, in the fewest digits that read back as the
 * same double, as Python's repr) rounded half-even to 8 decimals, with
 * no sign, no exponent, trailing zeros trimmed, "0" for zero (-0 too).
 * So 0.123456785 gives "0.12345678" and 0.123456795 "0.1234568", though
 * neither is exact in binary.  FORECAST_DECIMAL_MAX bytes hold any
 * double.  Returns 0, or -1 for NaN, an infinity, a negative value or a
 * buffer too small (buf is then "" if it has room for that).
 */
int
forecast_decimal(double v, char *buf, size_t size)
{
	char	out[FORECAST_DECIMAL_MAX];
	int	d[FORECAST_DIGITS + 1], nd, e10, keep, i, up, len, pos;

	if (size > 0)
		buf[0] = '\0';
	if (!(v >= 0) || isinf(v))		/* NaN fails v >= 0 */
		return -1;
	len = 0;
	if (v == 0)
		goto zero;
	if (forecast_shortest(v, d, &nd, &e10) == -1)
		return -1;

	/* Digits at 10^e10 .. 10^-8 stay: keep of them. */
	keep = e10 + 9;
	if (keep < 0)
		goto zero;		/* below 10^-9: under half a unit */
	if (keep < nd) {
		up = d[keep] > 5 || (d[keep] == 5 &&
		    (nd > keep + 1 || (keep > 0 && d[keep - 1] % 2 == 1)));
		nd = keep;
		if (up) {
			for (i = nd - 1; i >= 0 && d[i] == 9; i--)
				d[i] = 0;
			if (i >= 0)
				d[i]++;
			else {
				/* 9...9 carried out: a new leading 1. */
				memmove(d + 1, d, nd * sizeof(d[0]));
				d[0] = 1;
				nd++;
				e10++;
			}
		}
		while (nd > 0 && d[nd - 1] == 0)
			nd--;
		if (nd == 0)
			goto zero;
	}

	if (e10 >= 0) {
		for (pos = 0; pos <= e10; pos++)
			out[len++] = pos < nd ? '0' + d[pos] : '0';
		if (nd > e10 + 1) {
			out[len++] = '.';
			for (; pos < nd; pos++)
				out[len++] = '0' + d[pos];
		}
	} else {
		out[len++] = '0';
		out[len++] = '.';
		for (i = e10 + 1; i < 0; i++)
			out[len++] = '0';
		for (pos = 0; pos < nd; pos++)
			out[len++] = '0' + d[pos];
	}
	out[len] = '\0';
	goto done;
 zero:
	out[len++] = '0';
	out[len] = '\0';
 done:
	if ((size_t)len >= size)
		return -1;
	memcpy(buf, out, len + 1);
	return 0;
}
