/*
 * fuzz_decimal - decimal strings: prices of signed feeds and trade
 * quantities (ingest_decimal_parse), and the canonical decimals aspida
 * writes for forecasts (forecast_decimal).  The first byte picks the
 * decimals allowed, the second the maximum; the rest is the text.  An
 * accepted decimal must be the input unchanged, positive, within its
 * bounds and worth what strtod() says; a double written by
 * forecast_decimal (the first eight bytes' bits) must be a canonical
 * decimal within half a unit of the eighth decimal of it.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "fuzz.h"

static const long long fuzz_max[] = {
	1, 9, 1000, INGEST_QUANTITY_MAX, 1000000000000LL, LLONG_MAX, 0, -1
};
#define FUZZ_NMAX	(sizeof(fuzz_max) / sizeof(fuzz_max[0]))

static void
fuzz_parse(const char *s, size_t len, int maxdec, long long max)
{
	struct ingest_decimal	 d, again;
	const char		*errstr = NULL, *dot;
	double			 v;

	if (ingest_decimal_parse(s, len, maxdec, max, &d, &errstr) == -1) {
		if (errstr == NULL)
			fuzz_fail("refused without a reason");
		return;
	}
	if (d.len != len || memcmp(d.text, s, len) != 0 || d.text[len] != '\0')
		fuzz_fail("accepted %.*s as %s", (int)len, s, d.text);
	dot = strchr(d.text, '.');
	if (dot != NULL && (int)strlen(dot + 1) > maxdec)
		fuzz_fail("%s: more than %d decimals", d.text, maxdec);
	v = strtod(d.text, NULL);
	if (!(d.value > 0) || !isfinite(d.value) || v > (double)max ||
	    fabs(d.value - v) > 1e-15 * v)
		fuzz_fail("%s: value %.17g, strtod %.17g, max %lld", d.text,
		    d.value, v, max);
	if (ingest_decimal_parse(d.text, d.len, maxdec, max, &again,
	    NULL) == -1 || again.value != d.value)
		fuzz_fail("%s does not parse again", d.text);
}

static void
fuzz_format(double v)
{
	struct ingest_decimal	 d;
	char			 out[FORECAST_DECIMAL_MAX];
	double			 back;

	if (forecast_decimal(v, out, sizeof(out)) == -1) {
		if (v >= 0 && isfinite(v))
			fuzz_fail("%.17g not written", v);
		return;
	}
	if (!(v >= 0) || !isfinite(v))
		fuzz_fail("%.17g written as %s", v, out);
	back = strtod(out, NULL);
	if (fabs(back - v) > 5.000001e-9 + 1e-15 * v)
		fuzz_fail("%.17g written as %s", v, out);
	if (strcmp(out, "0") != 0 && v < 1e18 &&
	    ingest_decimal_parse(out, strlen(out), 8, LLONG_MAX, &d,
	    NULL) == -1)
		fuzz_fail("%.17g written as %s, not canonical", v, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	double	 v;
	char	*s;

	if (size < 2)
		return 0;
	s = fuzz_strndup(data + 2, size - 2);
	fuzz_parse(s, size - 2, data[0] % 20, fuzz_max[data[1] % FUZZ_NMAX]);
	free(s);
	if (size >= 8) {
		memcpy(&v, data, sizeof(v));
		fuzz_format(v);
	}
	return 0;
}
