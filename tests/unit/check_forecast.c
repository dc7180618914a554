/*
 * check_forecast.c - the forecasting model of forecast.c against values
 * worked out independently: the Student-t quantile against mpmath, a
 * series exactly linear in log price against its closed form, a noisy
 * series from a fixed LCG against an mpmath fit (tests/unit numbers
 * below, with the Python that made them) and against a second, naive
 * least-squares fit written here, an injected outlier, a flat series whose
 * MAD is 0, a trending series whose small outlier only a trend-aware rule
 * sees, every refusal, and the canonical decimal strings, half-even.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define T0		1767225600LL	/* 2026-01-01T00:00:00Z */
#define DAY		86400LL
#define NOISY_N		40

/* Relative difference, for values that are never 0 here. */
static double
rel(double got, double want)
{
	return fabs(got - want) / fabs(want);
}

/*
 * The two-sided 95 % quantile: mpmath's root of the regularised incomplete
 * beta function, 40 digits (df = infinity: sqrt(2) erfinv(0.95)).  Rows
 * in the table carry a tolerance: 1e-13, what forecast.c promises.
 */
START_TEST(test_t975_table)
{
	static const struct {
		int	 line;
		double	 df;
		double	 want;
		double	 tol;
	} rows[] = {
		{ __LINE__, 1, 12.706204736174705, 1e-13 },
		{ __LINE__, 2, 4.3026527297494639, 1e-13 },
		{ __LINE__, 5, 2.5705818356363155, 1e-13 },
		{ __LINE__, 10, 2.2281388519862747, 1e-13 },
		{ __LINE__, 30, 2.0422724563012383, 1e-13 },
		{ __LINE__, 31, 2.0395134463964085, 1e-13 },
		{ __LINE__, 37, 2.0261924630291098, 1e-13 },
		{ __LINE__, 38, 2.0243941639119696, 1e-13 },
		{ __LINE__, 50, 2.0085591121007611, 1e-13 },
		{ __LINE__, 100, 1.9839715185235523, 1e-13 },
		{ __LINE__, 120, 1.9799304050824408, 1e-13 },
		{ __LINE__, 1000, 1.9623390808264085, 1e-13 },
		{ __LINE__, 10000, 1.9602012398906263, 1e-13 },
		{ __LINE__, INFINITY, 1.9599639845400542, 1e-15 },
	};
	size_t	i;
	double	got;

	for (i = 0; i < NITEMS(rows); i++) {
		got = forecast_t975(rows[i].df);
		ck_assert_msg(fabs(got - rows[i].want) <= rows[i].tol,
		    "line %d: t(%g) = %.17g, want %.17g", rows[i].line,
		    rows[i].df, got, rows[i].want);
	}
	/* Closed forms for 1 and 2 degrees of freedom. */
	ck_assert_double_eq_tol(forecast_t975(1), tan(M_PI * 0.475), 1e-12);
	ck_assert_double_eq_tol(forecast_t975(2),
	    0.95 / sqrt(2 * 0.975 * 0.025), 1e-12);
	/* The printed tables everyone knows, to three decimals. */
	ck_assert_double_eq_tol(forecast_t975(5), 2.571, 5e-4);
	ck_assert_double_eq_tol(forecast_t975(10), 2.228, 5e-4);
	ck_assert_double_eq_tol(forecast_t975(30), 2.042, 5e-4);
	ck_assert_double_eq_tol(forecast_t975(100), 1.984, 5e-4);
}
END_TEST

START_TEST(test_t975_shape)
{
	double	prev, cur;
	int	df;

	/*
	 * Decreasing in df all the way: no step where the table meets the
	 * expansion (30/31) or the Newton steps stop (500/501).
	 */
	prev = forecast_t975(1);
	for (df = 2; df <= 2000; df++) {
		cur = forecast_t975(df);
		ck_assert_msg(cur < prev && cur > 1.9599639845400542,
		    "t(%d) = %.17g after %.17g", df, cur, prev);
		prev = cur;
	}
	ck_assert(isnan(forecast_t975(0)));
	ck_assert(isnan(forecast_t975(-3)));
	ck_assert(isnan(forecast_t975(0.5)));
	ck_assert(isnan(forecast_t975(2.5)));
	ck_assert(isnan(forecast_t975(30.5)));
	ck_assert(isnan(forecast_t975(700.5)));
	ck_assert(isnan(forecast_t975(NAN)));
	ck_assert(isnan(forecast_t975(-INFINITY)));
}
END_TEST

/*
 * 48 hourly points exactly on ln p = ln 100 + 0.01 h: the fit recovers the
 * line, the interval has no width, the confidence is 1 - and the order
 * the points come in does not matter.
 */
START_TEST(test_linear)
{
	enum { N = 48 };
	static const int	 orders[] = { 0, 1, 2 };
	long long		 t[N];
	double			 p[N];
	struct forecast		 fc, first;
	const char		*err;
	char			 dec[FORECAST_DECIMAL_MAX];
	size_t			 i, o, j;
	long long		 tt;
	double			 pp;

	for (o = 0; o < NITEMS(orders); o++) {
		for (i = 0; i < N; i++) {
			/* oldest first, newest first, then interleaved */
			j = orders[o] == 0 ? i : orders[o] == 1 ? N - 1 - i :
			    (i * 7) % N;
			t[i] = T0 + 3600 * (long long)j;
			p[i] = 100 * exp(0.01 * (double)j);
		}
		ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
		    FORECAST_OUTLIER_K, &fc, &err), 0);
		ck_assert_ptr_null(err);
		ck_assert_int_eq(fc.points_used, N);
		ck_assert_int_eq(fc.outliers_excluded, 0);
		ck_assert_str_eq(fc.model, "ols-log-linear");
		ck_assert_int_eq(fc.origin, T0 + 3600 * (N - 1));
		ck_assert_int_eq(fc.target, T0 + 3600 * (N - 1) + DAY);
		ck_assert_double_eq_tol(fc.slope, 0.01, 1e-12);
		ck_assert_double_eq_tol(fc.intercept,
		    log(100) + 0.01 * (N - 1), 1e-12);
		ck_assert_double_le(fc.resid_sd, 1e-12);
		ck_assert_double_le(rel(fc.predicted,
		    100 * exp(0.01 * (N - 1 + 24))), 1e-12);
		ck_assert_double_le(fc.low, fc.predicted);
		ck_assert_double_ge(fc.high, fc.predicted);
		ck_assert_double_le(rel(fc.low, fc.predicted), 1e-9);
		ck_assert_double_le(rel(fc.high, fc.predicted), 1e-9);
		ck_assert_double_ge(fc.confidence, 1 - 1e-9);
		ck_assert_double_le(fc.confidence, 1);
		ck_assert_int_eq(forecast_decimal(fc.confidence, dec,
		    sizeof(dec)), 0);
		ck_assert_str_eq(dec, "1");
		if (o == 0)
			first = fc;
		else {
			ck_assert(fc.predicted == first.predicted);
			ck_assert(fc.low == first.low);
			ck_assert(fc.high == first.high);
		}
	}

	/* A falling line forecasts down. */
	for (i = 0; i < N; i++) {
		tt = T0 + 3600 * (long long)i;
		pp = 100 * exp(-0.02 * (double)i);
		t[i] = tt;
		p[i] = pp;
	}
	ck_assert_int_eq(forecast_compute(t, p, N, 3600, 3,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_double_eq_tol(fc.slope, -0.02, 1e-12);
	ck_assert_double_le(rel(fc.predicted, 100 * exp(-0.02 * N)), 1e-12);
}
END_TEST

/*
 * Two prices at each of 20 times, given in two orders: the results agree
 * to the last bit, so nothing depends on the order the database returns.
 */
START_TEST(test_order)
{
	enum { N = 40 };
	long long	 t[N], t2[N];
	double		 p[N], p2[N];
	struct forecast	 a, b;
	const char	*err;
	size_t		 i;

	for (i = 0; i < N; i++) {
		t[i] = T0 + 600 * (long long)(i / 2);
		p[i] = 100 + 0.01 * (double)i + (i % 2 ? 0.37 : -0.41) +
		    0.013 * (double)((i * 7) % 5);
	}
	for (i = 0; i < N; i++) {
		t2[i] = t[(i * 17) % N];
		p2[i] = p[(i * 17) % N];
	}
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
	    FORECAST_OUTLIER_K, &a, &err), 0);
	ck_assert_int_eq(forecast_compute(t2, p2, N, DAY, 30,
	    FORECAST_OUTLIER_K, &b, &err), 0);
	ck_assert(a.slope == b.slope);
	ck_assert(a.intercept == b.intercept);
	ck_assert(a.resid_sd == b.resid_sd);
	ck_assert(a.predicted == b.predicted);
	ck_assert(a.low == b.low && a.high == b.high);
}
END_TEST

/* A fixed 64-bit LCG (Knuth's MMIX constants), the top 53 bits in [0,1). */
static double
lcg_uniform(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*state >> 11) * 0x1p-53;
}

/*
 * 40 points about 15 minutes apart (0..299 s of jitter), price
 * 250 exp(0.003 h + U(-0.01, 0.01)): a trend of 0.3 %/hour under 1 %
 * noise.  The Python below builds the same series, bit for bit.
 */
static void
noisy_series(long long *t, double *p)
{
	uint64_t	state = 0x2545F4914F6CDD1DULL;
	double		noise;
	size_t		i;

	for (i = 0; i < NOISY_N; i++) {
		t[i] = T0 + 900 * (long long)i +
		    (long long)(lcg_uniform(&state) * 300);
		noise = 0.02 * (lcg_uniform(&state) - 0.5);
		p[i] = 250.0 * exp(0.003 * ((double)(t[i] - T0) / 3600.0) +
		    noise);
	}
}

/*
 * A second least-squares fit, written the other way: the normal equations
 * in raw (uncentred) sums, long double, time in seconds from the first
 * point; slope and intercept come back per hour and at the newest point.
 */
static void
naive_fit(const long long *t, const double *p, size_t n, size_t skip,
    double *slope, double *at_last)
{
	long double	sx = 0, sy = 0, sxx = 0, sxy = 0, x, y, b, a, cnt = 0;
	long long	last = t[0];
	size_t		i;

	for (i = 0; i < n; i++)
		if (t[i] > last)
			last = t[i];
	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		x = (long double)(t[i] - t[0]);
		y = logl((long double)p[i]);
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
		cnt++;
	}
	b = (cnt * sxy - sx * sy) / (cnt * sxx - sx * sx);
	a = (sy - b * sx) / cnt;
	*slope = (double)(b * 3600);
	*at_last = (double)(a + b * (long double)(last - t[0]));
}

/*
 * Expected values from python3 with mpmath at 50 digits (the script that
 * made them, abridged):
 *
 *	state = 0x2545F4914F6CDD1D
 *	def u():
 *	    global state
 *	    state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
 *	    return (state >> 11) * 2.0**-53
 *	for i in range(40):
 *	    t = T0 + 900*i + int(u()*300)
 *	    p = 250.0 * math.exp(0.003 * ((t - T0)/3600.0) + 0.02*(u() - 0.5))
 *	# x = (t - max t)/3600, y = mp.log(p); OLS as forecast.c's header;
 *	# q = root of 1 - betainc(v/2, 1/2, 0, v/(v+t^2))/2 = 0.975
 */
static const struct noisy_want {
	const char	*what;
	size_t		 skip;		/* index left out, or NOISY_N */
	double		 slope, intercept, resid_sd, pred_se, tq;
	double		 predicted, low, high, confidence;
} noisy_clean = {
	"clean", NOISY_N,
	0.002876556117658873854, 5.5487175441110174007,
	0.005580983028351648048, 0.010500772982834213241,
	2.0243941639119696444, 275.27067627168707798,
	269.48081148617259408, 281.18493779643381243,
	0.95837569963034606608
}, noisy_without17 = {
	"without point 17", 17,
	0.0028632403475393933912, 5.5488328836285428644,
	0.0055330365853732374156, 0.010411766206140581912,
	2.0261924630291097749, 275.21446101444473674,
	269.46928398066291177, 281.08212718191150783,
	0.95868523083385887393
};

static void
check_noisy(const struct forecast *fc, const struct noisy_want *w)
{
	ck_assert_msg(rel(fc->slope, w->slope) < 1e-10, "%s: slope %.17g",
	    w->what, fc->slope);
	ck_assert_msg(rel(fc->intercept, w->intercept) < 1e-12,
	    "%s: intercept %.17g", w->what, fc->intercept);
	ck_assert_msg(rel(fc->resid_sd, w->resid_sd) < 1e-9,
	    "%s: s %.17g", w->what, fc->resid_sd);
	ck_assert_msg(rel(fc->pred_se, w->pred_se) < 1e-9,
	    "%s: se %.17g", w->what, fc->pred_se);
	ck_assert_msg(rel(fc->tq, w->tq) < 1e-13, "%s: q %.17g", w->what,
	    fc->tq);
	ck_assert_msg(rel(fc->predicted, w->predicted) < 1e-11,
	    "%s: predicted %.17g", w->what, fc->predicted);
	ck_assert_msg(rel(fc->low, w->low) < 1e-10, "%s: low %.17g",
	    w->what, fc->low);
	ck_assert_msg(rel(fc->high, w->high) < 1e-10, "%s: high %.17g",
	    w->what, fc->high);
	ck_assert_msg(rel(fc->confidence, w->confidence) < 1e-10,
	    "%s: confidence %.17g", w->what, fc->confidence);
}

START_TEST(test_noisy)
{
	long long	 t[NOISY_N];
	double		 p[NOISY_N], slope, at_last, xm, sxx;
	struct forecast	 fc;
	const char	*err;
	char		 dec[FORECAST_DECIMAL_MAX];
	size_t		 i;

	noisy_series(t, p);
	/* The series is the Python one, bit for bit. */
	ck_assert_int_eq(t[17], 1767241114LL);
	ck_assert(p[17] == 251.08834449032275);
	ck_assert_int_eq(t[39], 1767260981LL);
	ck_assert(p[39] == 255.1315721642669);

	ck_assert_int_eq(forecast_compute(t, p, NOISY_N, DAY, 30,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_int_eq(fc.points_used, NOISY_N);
	ck_assert_int_eq(fc.outliers_excluded, 0);
	check_noisy(&fc, &noisy_clean);

	naive_fit(t, p, NOISY_N, NOISY_N, &slope, &at_last);
	ck_assert_double_le(rel(fc.slope, slope), 1e-9);
	ck_assert_double_le(fabs(fc.intercept - at_last), 1e-12);

	/* The true slope, within three standard errors s / sqrt(Sxx). */
	for (i = 0, xm = 0; i < NOISY_N; i++)
		xm += (double)(t[i] - T0) / 3600 / NOISY_N;
	for (i = 0, sxx = 0; i < NOISY_N; i++)
		sxx += ((double)(t[i] - T0) / 3600 - xm) *
		    ((double)(t[i] - T0) / 3600 - xm);
	ck_assert_double_le(fabs(fc.slope - 0.003),
	    3 * fc.resid_sd / sqrt(sxx));

	/* What the route will print. */
	ck_assert_int_eq(forecast_decimal(fc.predicted, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, "275.27067627");
	ck_assert_int_eq(forecast_decimal(fc.low, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, "269.48081149");
	ck_assert_int_eq(forecast_decimal(fc.high, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, "281.1849378");
	ck_assert_int_eq(forecast_decimal(fc.confidence, dec, sizeof(dec)),
	    0);
	ck_assert_str_eq(dec, "0.9583757");

	/* A longer horizon widens the interval and lowers the confidence. */
	{
		struct forecast	week;

		ck_assert_int_eq(forecast_compute(t, p, NOISY_N, 7 * DAY, 30,
		    FORECAST_OUTLIER_K, &week, &err), 0);
		ck_assert_double_gt(week.high / week.low, fc.high / fc.low);
		ck_assert_double_lt(week.confidence, fc.confidence);
	}
}
END_TEST

/*
 * A x100 spike, wherever it sits (the middle, the newest point), and a
 * x0.01 drop: each is excluded, and the forecast is the one of the series
 * without it.
 */
START_TEST(test_outlier)
{
	static const struct {
		int	 line;
		size_t	 at;
		double	 factor;
	} rows[] = {
		{ __LINE__, 17, 100 },
		{ __LINE__, 17, 0.01 },
		{ __LINE__, 39, 100 },
		{ __LINE__, 0, 100 },
	};
	long long	 t[NOISY_N], tc[NOISY_N];
	double		 p[NOISY_N], pc[NOISY_N];
	struct forecast	 fc, clean;
	const char	*err;
	size_t		 r, i, j;

	for (r = 0; r < NITEMS(rows); r++) {
		noisy_series(t, p);
		for (i = j = 0; i < NOISY_N; i++)
			if (i != rows[r].at) {
				tc[j] = t[i];
				pc[j++] = p[i];
			}
		p[rows[r].at] *= rows[r].factor;
		ck_assert_msg(forecast_compute(t, p, NOISY_N, DAY, 30,
		    FORECAST_OUTLIER_K, &fc, &err) == 0, "line %d: %s",
		    rows[r].line, err);
		ck_assert_msg(fc.outliers_excluded == 1 &&
		    fc.points_used == NOISY_N - 1, "line %d: %zu excluded",
		    rows[r].line, fc.outliers_excluded);
		ck_assert_int_eq(forecast_compute(tc, pc, NOISY_N - 1, DAY, 30,
		    FORECAST_OUTLIER_K, &clean, &err), 0);
		ck_assert_int_eq(clean.outliers_excluded, 0);
		/*
		 * The origin stays at the newest point given, excluded or
		 * not; only when the newest point is left out of the clean
		 * series does the clean forecast move with it.
		 */
		ck_assert_int_eq(fc.origin, t[NOISY_N - 1]);
		if (rows[r].at == NOISY_N - 1)
			continue;
		ck_assert_msg(rel(fc.predicted, clean.predicted) < 1e-12 &&
		    rel(fc.low, clean.low) < 1e-12 &&
		    rel(fc.high, clean.high) < 1e-12,
		    "line %d: %.17g not %.17g", rows[r].line, fc.predicted,
		    clean.predicted);
		if (rows[r].at == 17)
			check_noisy(&fc, &noisy_without17);
	}

	/* With the outlier kept (k huge) the forecast is far off. */
	noisy_series(t, p);
	p[17] *= 100;
	ck_assert_int_eq(forecast_compute(t, p, NOISY_N, DAY, 30, 1000, &fc,
	    &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 0);
	ck_assert_double_gt(fc.high / fc.low, 2);
}
END_TEST

/*
 * A flat series with a few points 0.01 % off: MAD is 0, and without its
 * floor every point off the median would be called an outlier.  A real
 * spike in a flat series still goes.  An exactly constant series keeps
 * everything and forecasts itself with certainty.
 */
START_TEST(test_flat)
{
	enum { N = 40 };
	long long	 t[N];
	double		 p[N];
	struct forecast	 fc;
	const char	*err;
	char		 dec[FORECAST_DECIMAL_MAX];
	size_t		 i;

	for (i = 0; i < N; i++) {
		t[i] = T0 + 60 * (long long)i;
		p[i] = i % 4 == 1 ? 100.01 : 100;
	}
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 0);
	ck_assert_int_eq(fc.points_used, N);

	p[20] = 10000;
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 1);
	ck_assert_double_lt(fc.high, 101);

	for (i = 0; i < N; i++)
		p[i] = 64213.52;
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 0);
	ck_assert_double_eq(fc.slope, 0);
	ck_assert_double_eq(fc.resid_sd, 0);
	ck_assert_double_eq(fc.confidence, 1);
	ck_assert_int_eq(forecast_decimal(fc.predicted, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, "64213.52");
	ck_assert_int_eq(forecast_decimal(fc.low, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, "64213.52");
	ck_assert_int_eq(forecast_decimal(fc.high, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, "64213.52");
}
END_TEST

/*
 * A steep trend (1 %/hour over two days, 0.05 % noise) with one point 5 %
 * high.  Against the median of all prices that point is unremarkable (the
 * trend spreads the prices over 48 %); against the resistant line it is
 * 50 MADs out.  The newest and oldest points, farthest from the median,
 * are kept.
 */
START_TEST(test_trend_outlier)
{
	enum { N = 48 };
	long long	 t[N];
	double		 p[N];
	struct forecast	 fc;
	const char	*err;
	uint64_t	 state = 42;
	size_t		 i;

	for (i = 0; i < N; i++) {
		t[i] = T0 + 3600 * (long long)i;
		p[i] = 100 * exp(0.01 * (double)i +
		    0.001 * (lcg_uniform(&state) - 0.5));
	}
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 0);

	p[30] *= 1.05;
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30,
	    FORECAST_OUTLIER_K, &fc, &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 1);
	ck_assert_double_eq_tol(fc.slope, 0.01, 1e-4);
}
END_TEST

/* A test series of n hourly points, gently rising. */
static void
series(long long *t, double *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		t[i] = T0 + 3600 * (long long)i;
		p[i] = 100 + (double)i + (i % 2 == 0 ? 0.1 : -0.1);
	}
}

START_TEST(test_refusals)
{
	enum { N = 40 };
	long long	 t[N];
	double		 p[N], bad;
	struct forecast	 fc, untouched;
	const char	*err;
	size_t		 i;
	int		 rc;

	/* Invalid points and arguments. */
	static const struct {
		int		 line;
		int		 idx;		/* point to spoil, -1 none */
		long long	 ts;		/* its timestamp, -2: keep */
		double		 price;		/* its price, -2: keep */
		long long	 horizon;
		double		 k;
		size_t		 n;
	} rows[] = {
		{ __LINE__, 5, -2, 0, DAY, 6, N },
		{ __LINE__, 5, -2, -1, DAY, 6, N },
		{ __LINE__, 5, -2, NAN, DAY, 6, N },
		{ __LINE__, 5, -2, INFINITY, DAY, 6, N },
		{ __LINE__, 5, -2, -INFINITY, DAY, 6, N },
		{ __LINE__, 5, -1, -2, DAY, 6, N },
		{ __LINE__, 5, 253402300800LL, -2, DAY, 6, N },
		{ __LINE__, 5, -9223372036854775807LL, -2, DAY, 6, N },
		{ __LINE__, -1, -2, -2, 0, 6, N },
		{ __LINE__, -1, -2, -2, -DAY, 6, N },
		{ __LINE__, -1, -2, -2, 366 * DAY + 1, 6, N },
		{ __LINE__, -1, -2, -2, DAY, NAN, N },
		{ __LINE__, -1, -2, -2, DAY, 0.5, N },
		{ __LINE__, -1, -2, -2, DAY, 1000.5, N },
		{ __LINE__, -1, -2, -2, DAY, INFINITY, N },
	};

	memset(&untouched, 0x5a, sizeof(untouched));
	for (i = 0; i < NITEMS(rows); i++) {
		series(t, p, N);
		if (rows[i].idx >= 0 && rows[i].ts != -2)
			t[rows[i].idx] = rows[i].ts;
		if (rows[i].idx >= 0 && rows[i].price != -2)
			p[rows[i].idx] = rows[i].price;
		fc = untouched;
		err = NULL;
		rc = forecast_compute(t, p, rows[i].n, rows[i].horizon, 30,
		    rows[i].k, &fc, &err);
		ck_assert_msg(rc == FORECAST_EINVAL && err != NULL,
		    "line %d: rc %d", rows[i].line, rc);
		ck_assert_msg(memcmp(&fc, &untouched, sizeof(fc)) == 0,
		    "line %d: result written", rows[i].line);
	}
	series(t, p, N);
	ck_assert_int_eq(forecast_compute(NULL, p, N, DAY, 30, 6, &fc, &err),
	    FORECAST_EINVAL);
	ck_assert_int_eq(forecast_compute(t, NULL, N, DAY, 30, 6, &fc, &err),
	    FORECAST_EINVAL);
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30, 6, NULL, &err),
	    FORECAST_EINVAL);

	/* FORECAST_MAX_POINTS, with that many valid points to read. */
	{
		size_t		 big = FORECAST_MAX_POINTS + 1;
		long long	*bt;
		double		*bp;

		ck_assert_ptr_nonnull(bt = calloc(big, sizeof(*bt)));
		ck_assert_ptr_nonnull(bp = calloc(big, sizeof(*bp)));
		for (i = 0; i < big; i++) {
			bt[i] = T0 + 60 * (long long)i;
			bp[i] = 100 + (i % 3 == 0 ? 0.5 : 0);
		}
		ck_assert_int_eq(forecast_compute(bt, bp, big, DAY, 30, 6,
		    &fc, &err), FORECAST_EINVAL);
		ck_assert_int_eq(forecast_compute(bt, bp, big - 1, DAY, 30, 6,
		    &fc, &err), 0);
		ck_assert_int_eq(fc.points_used, big - 1);
		free(bt);
		free(bp);
	}

	/* The edges that are allowed (a level series, for the long one). */
	ck_assert_int_eq(forecast_compute(t, p, N, 1, 3, 1, &fc, &err), 0);
	for (i = 0; i < N; i++)
		p[i] = i % 2 == 0 ? 100.1 : 99.9;
	ck_assert_int_eq(forecast_compute(t, p, N, 366 * DAY, 30, 1000, &fc,
	    &err), 0);
	series(t, p, N);
	t[0] = 0;
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30, 6, &fc, &err), 0);
	series(t, p, N);
	for (i = 0; i < N; i++)
		t[i] += 253402300799LL - t[N - 1];
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30, 6, &fc, &err), 0);
	ck_assert_int_eq(fc.origin, 253402300799LL);
	ck_assert_int_eq(fc.target, 253402300799LL + DAY);
	series(t, p, N);
	bad = DBL_MIN;
	p[3] = bad;		/* tiny but positive: only an outlier */
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30, 6, &fc, &err), 0);
	ck_assert_int_eq(fc.outliers_excluded, 1);
}
END_TEST

START_TEST(test_too_few)
{
	enum { N = 40 };
	long long	 t[N];
	double		 p[N];
	struct forecast	 fc, untouched;
	const char	*err;
	size_t		 i;

	series(t, p, N);
	memset(&untouched, 0x5a, sizeof(untouched));
	fc = untouched;

	/* predict_min_points */
	ck_assert_int_eq(forecast_compute(t, p, 29, DAY, 30, 6, &fc, &err),
	    FORECAST_ENODATA);
	ck_assert_ptr_nonnull(err);
	ck_assert(memcmp(&fc, &untouched, sizeof(fc)) == 0);
	ck_assert_int_eq(forecast_compute(t, p, 30, DAY, 30, 6, &fc, &err),
	    0);
	ck_assert_int_eq(forecast_compute(t, p, 0, DAY, 30, 6, &fc, &err),
	    FORECAST_ENODATA);
	ck_assert_int_eq(forecast_compute(NULL, NULL, 0, DAY, 30, 6, &fc,
	    &err), FORECAST_ENODATA);

	/* Three points at least, whatever the caller's minimum. */
	for (i = 0; i < 3; i++) {
		err = NULL;
		ck_assert_int_eq(forecast_compute(t, p, i, DAY, 0, 6, &fc,
		    &err), FORECAST_ENODATA);
		ck_assert_str_eq(err, "too few points");
	}
	ck_assert_int_eq(forecast_compute(t, p, 3, DAY, 0, 6, &fc, &err), 0);
	ck_assert_int_eq(fc.points_used, 3);
	ck_assert_double_eq(fc.tq, forecast_t975(1));

	/* The minimum counts the points kept, not the points given. */
	p[10] *= 100;
	ck_assert_int_eq(forecast_compute(t, p, 30, DAY, 30, 6, &fc, &err),
	    FORECAST_ENODATA);
	ck_assert_str_eq(err, "too few points after excluding outliers");
	ck_assert_int_eq(forecast_compute(t, p, 30, DAY, 29, 6, &fc, &err),
	    0);
	ck_assert_int_eq(fc.points_used, 29);

	/* All at one instant: no trend can be fitted. */
	series(t, p, N);
	for (i = 0; i < N; i++)
		t[i] = T0;
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30, 6, &fc, &err),
	    FORECAST_ENODATA);
	ck_assert_str_eq(err, "the points span no time");

	/*
	 * Prices doubling every hour, from 1 to 5.5e11: a day out is about
	 * 9e18, above FORECAST_MAX_VALUE; 366 days out is beyond any
	 * double.  Both are refused rather than printed; an hour out is not.
	 */
	for (i = 0; i < N; i++) {
		t[i] = T0 + 3600 * (long long)i;
		p[i] = exp2((double)i) * (i % 2 ? 1.01 : 0.99);
	}
	ck_assert_int_eq(forecast_compute(t, p, N, DAY, 30, 6, &fc, &err),
	    FORECAST_ENODATA);
	ck_assert_str_eq(err, "forecast out of range");
	ck_assert_int_eq(forecast_compute(t, p, N, 366 * DAY, 30, 6, &fc,
	    &err), FORECAST_ENODATA);
	ck_assert_str_eq(err, "forecast out of range");
	ck_assert_int_eq(forecast_compute(t, p, N, 3600, 30, 6, &fc, &err),
	    0);
	ck_assert_double_gt(fc.predicted, 1e12);
	ck_assert_double_le(fc.high, 1e15);
}
END_TEST

/*
 * Values made with strtod from decimal strings, so each row names the
 * decimal it stands for.  Expectations from Python:
 * Decimal(repr(float(s))).quantize(Decimal('1e-8'), ROUND_HALF_EVEN).
 */
START_TEST(test_decimal)
{
	static const struct {
		int		 line;
		const char	*in;
		const char	*want;
	} rows[] = {
		{ __LINE__, "0", "0" },
		{ __LINE__, "-0", "0" },
		{ __LINE__, "1", "1" },
		{ __LINE__, "100", "100" },
		{ __LINE__, "64213.52", "64213.52" },
		{ __LINE__, "0.1", "0.1" },
		{ __LINE__, "0.3", "0.3" },
		{ __LINE__, "2.675", "2.675" },
		{ __LINE__, "0.00000001", "0.00000001" },
		/* ties go to the even neighbour */
		{ __LINE__, "0.123456785", "0.12345678" },
		{ __LINE__, "0.123456775", "0.12345678" },
		{ __LINE__, "0.000000015", "0.00000002" },
		{ __LINE__, "0.000000025", "0.00000002" },
		{ __LINE__, "0.000000035", "0.00000004" },
		{ __LINE__, "0.000000045", "0.00000004" },
		{ __LINE__, "0.999999985", "0.99999998" },
		{ __LINE__, "1234567.123456785", "1234567.12345678" },
		/* binary value above the tie: the decimal decides */
		{ __LINE__, "12345.000000005", "12345" },
		{ __LINE__, "12345.000000015", "12345.00000002" },
		/* just above a tie goes up */
		{ __LINE__, "0.1234567850000001", "0.12345679" },
		{ __LINE__, "0.0000000050000001", "0.00000001" },
		/* carries, and the zeros they leave trimmed */
		{ __LINE__, "0.123456795", "0.1234568" },
		{ __LINE__, "0.999999995", "1" },
		{ __LINE__, "9.999999995", "10" },
		{ __LINE__, "0.0000000095", "0.00000001" },
		/* below half a unit */
		{ __LINE__, "0.000000005", "0" },
		{ __LINE__, "0.000000004999", "0" },
		{ __LINE__, "3.999999995e-9", "0" },
		{ __LINE__, "1e-300", "0" },
		{ __LINE__, "5e-324", "0" },
		/* large: no exponent, ever */
		{ __LINE__, "1e15", "1000000000000000" },
		{ __LINE__, "1e21", "1000000000000000000000" },
		{ __LINE__, "2.5e22", "25000000000000000000000" },
	};
	char	buf[FORECAST_DECIMAL_MAX];
	size_t	i;

	for (i = 0; i < NITEMS(rows); i++) {
		memset(buf, 'x', sizeof(buf));
		ck_assert_msg(forecast_decimal(strtod(rows[i].in, NULL), buf,
		    sizeof(buf)) == 0, "line %d: refused", rows[i].line);
		ck_assert_msg(strcmp(buf, rows[i].want) == 0,
		    "line %d: %s gave %s, want %s", rows[i].line, rows[i].in,
		    buf, rows[i].want);
	}
}
END_TEST

START_TEST(test_decimal_bounds)
{
	char	buf[FORECAST_DECIMAL_MAX], small[9];
	size_t	i;

	/* The largest double: its shortest digits, then zeros, no exponent. */
	ck_assert_int_eq(forecast_decimal(DBL_MAX, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(strlen(buf), 309);
	ck_assert(strncmp(buf, "17976931348623157", 17) == 0);
	for (i = 17; i < 309; i++)
		ck_assert_int_eq(buf[i], '0');
	ck_assert_int_eq(forecast_decimal(DBL_MAX, buf, 309), -1);
	ck_assert_int_eq(forecast_decimal(DBL_MAX, buf, 310), 0);

	/* Refused: nothing is written past an empty string. */
	ck_assert_int_eq(forecast_decimal(NAN, buf, sizeof(buf)), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(forecast_decimal(INFINITY, buf, sizeof(buf)), -1);
	ck_assert_int_eq(forecast_decimal(-INFINITY, buf, sizeof(buf)), -1);
	ck_assert_int_eq(forecast_decimal(-1, buf, sizeof(buf)), -1);
	ck_assert_int_eq(forecast_decimal(-1e-300, buf, sizeof(buf)), -1);
	ck_assert_int_eq(forecast_decimal(-0.000000001, buf, sizeof(buf)),
	    -1);

	/* "64213.52" is 8 bytes and a NUL. */
	ck_assert_int_eq(forecast_decimal(64213.52, small, 8), -1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(forecast_decimal(64213.52, small, sizeof(small)), 0);
	ck_assert_str_eq(small, "64213.52");
	ck_assert_int_eq(forecast_decimal(1, small, 0), -1);
	ck_assert_int_eq(forecast_decimal(1, small, 1), -1);
	ck_assert_int_eq(forecast_decimal(1, small, 2), 0);
	ck_assert_str_eq(small, "1");
}
END_TEST

Suite *
forecast_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("forecast");
	tc = tcase_create("t_quantile");
	tcase_add_test(tc, test_t975_table);
	tcase_add_test(tc, test_t975_shape);
	suite_add_tcase(s, tc);
	tc = tcase_create("model");
	tcase_add_test(tc, test_linear);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_noisy);
	tcase_add_test(tc, test_outlier);
	tcase_add_test(tc, test_flat);
	tcase_add_test(tc, test_trend_outlier);
	suite_add_tcase(s, tc);
	tc = tcase_create("refusals");
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_too_few);
	suite_add_tcase(s, tc);
	tc = tcase_create("decimal");
	tcase_add_test(tc, test_decimal);
	tcase_add_test(tc, test_decimal_bounds);
	suite_add_tcase(s, tc);
	return s;
}
