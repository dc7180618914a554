/*
 * fuzz_validate - the field validators (stage_validate_value) with every
 * field of the route table, and the timestamps they read.  The first
 * byte picks the field; the rest, NULs included, is the value.  What an
 * accepted value promises is checked: an asset id is ^[A-Z0-9]{1,10}$,
 * an integer is within its bounds and is the number its digits say, a
 * timestamp is the one canonical spelling of its instant (formatting it
 * gives the input back), a string is NUL-free UTF-8.  The first eight
 * bytes are also read as an instant, which must survive a round trip.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "fuzz.h"

#define FUZZ_FIELDS	64
#define FUZZ_TS_MAX	253402300799LL	/* 9999-12-31T23:59:59Z */

static const struct field *fuzz_fields[FUZZ_FIELDS];
static size_t		 fuzz_nfields;

static void
fuzz_add(const struct field *f)
{
	for (; f != NULL && f->name != NULL; f++)
		if (fuzz_nfields < FUZZ_FIELDS)
			fuzz_fields[fuzz_nfields++] = f;
}

static void
fuzz_check(const struct field *f, const char *s, size_t len,
    const struct value *v)
{
	char	 ts[32];

	if (v->s != s || v->len != len || !v->present || v->field != f)
		fuzz_fail("%s: the value does not describe the input", f->name);
	if (memchr(s, '\0', len) != NULL)
		fuzz_fail("%s: NUL accepted", f->name);
	switch (f->type) {
	case FT_ASSET:
		if (!asset_id_valid(s, len))
			fuzz_fail("%s: bad asset id accepted", f->name);
		break;
	case FT_INT:
		if (v->i < f->min || v->i > f->max ||
		    strtoll(s, NULL, 10) != v->i)
			fuzz_fail("%s: %lld out of bounds or not the input",
			    f->name, v->i);
		break;
	case FT_TIMESTAMP:
		timestamp_format(v->i, ts, sizeof(ts));
		if (strlen(ts) != len || memcmp(ts, s, len) != 0)
			fuzz_fail("%s: accepted as %s", f->name, ts);
		break;
	case FT_STRING:
	case FT_NAME:
		if (!utf8_valid(s, len))
			fuzz_fail("%s: invalid UTF-8 accepted", f->name);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct field	*f;
	struct value		 v;
	enum aerr		 err;
	long long		 t, back;
	uint64_t		 u = 0;
	char			*s, ts[32];
	size_t			 i;

	if (fuzz_nfields == 0)
		for (i = 0; i < nroutes; i++) {
			fuzz_add(routes[i].params);
			fuzz_add(routes[i].query);
			fuzz_add(routes[i].body);
		}
	if (size < 1)
		return 0;
	f = fuzz_fields[data[0] % fuzz_nfields];
	s = fuzz_strndup(data + 1, size - 1);
	if (stage_validate_value(f, s, size - 1, &v, &err) == 0)
		fuzz_check(f, s, size - 1, &v);
	else if (err != AERR_INVALID_INPUT && err != AERR_INVALID_ASSET)
		fuzz_fail("%s: refused with error %d", f->name, (int)err);
	if (timestamp_parse(s, size - 1, &t) == 0) {
		timestamp_format(t, ts, sizeof(ts));
		if (strlen(ts) != size - 1 || memcmp(ts, s, size - 1) != 0)
			fuzz_fail("timestamp accepted as %s", ts);
	}
	free(s);

	for (i = 0; i < 8 && i < size; i++)
		u = u << 8 | data[i];
	t = (long long)(u % (FUZZ_TS_MAX + 1));
	timestamp_format(t, ts, sizeof(ts));
	if (timestamp_parse(ts, strlen(ts), &back) != 0 || back != t)
		fuzz_fail("%lld formats as %s, not read back", t, ts);
	return 0;
}
