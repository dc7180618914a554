/*
 * Stage 7, validate: every value a handler reads is checked here against
 * the route's field tables (kcgi's kvalid): type, bounds, pattern, UTF-8,
 * no control characters.  Unknown query parameters and unknown JSON fields
 * are errors (no mass assignment).  Handlers read only validated values.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "aspida.h"

/* ^[A-Z0-9]{1,10}$ */
int
asset_id_valid(const char *s, size_t len)
{
	size_t	i;

	if (len < 1 || len > 10)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

static int
digits(const char *s, size_t n, int *out)
{
	size_t	i;
	int	v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * RFC 3339 in UTC with 'Z' and whole seconds, nothing else
 * ("2026-11-28T12:00:00Z"), years 1970-9999, real calendar dates.
 * Returns 0 with *out in epoch seconds, or -1.
 */
int
timestamp_parse(const char *s, size_t len, long long *out)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm	 tm;
	int		 y, mo, d, h, mi, se, leap;
	time_t		 t;

	if (len != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &se))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = (long long)t;
	return 0;
}

void
timestamp_format(long long t, char *out, size_t outsize)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	strftime(out, outsize, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Decimal integer: optional '-' when min < 0, no leading zeros, no '+'. */
static int
parse_int(const char *s, size_t len, long long min, long long max,
    long long *out)
{
	size_t		i = 0;
	int		neg = 0;
	long long	v = 0;

	if (len > 0 && s[0] == '-' && min < 0) {
		neg = 1;
		i = 1;
	}
	if (i == len || len - i > 18)
		return -1;
	if (s[i] == '0' && len - i > 1)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
text_ok(const struct field *f, const char *s, size_t len)
{
	size_t	i, chars = 0;

	if (!utf8_valid(s, len))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
		/* C1 controls U+0080-U+009F (valid UTF-8: a byte follows). */
		if (c == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
			return 0;
		if (f->type == FT_NAME && (c == '<' || c == '>'))
			return 0;
		if ((c & 0xc0) != 0x80)
			chars++;
	}
	return (long long)chars >= f->min && (long long)chars <= f->max;
}

static int
cursor_chars_ok(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * Checks one value against its field.  Returns 0 with *out filled, or -1
 * with *err set to the error the client gets.
 */
int
stage_validate_value(const struct field *f, const char *s, size_t len,
    struct value *out, enum aerr *err)
{
	memset(out, 0, sizeof(*out));
	out->field = f;
	*err = AERR_INVALID_INPUT;
	if (memchr(s, '\0', len) != NULL)
		return -1;
	switch (f->type) {
	case FT_ASSET:
		*err = AERR_INVALID_ASSET;
		if (!asset_id_valid(s, len))
			return -1;
		break;
	case FT_INT:
		if (parse_int(s, len, f->min, f->max, &out->i) == -1)
			return -1;
		break;
	case FT_TIMESTAMP:
		if (timestamp_parse(s, len, &out->i) == -1)
			return -1;
		break;
	case FT_CURSOR:
		if ((long long)len < f->min || (long long)len > f->max ||
		    !cursor_chars_ok(s, len))
			return -1;
		break;
	case FT_STRING:
	case FT_NAME:
		if (!text_ok(f, s, len))
			return -1;
		break;
	default:
		return -1;
	}
	out->present = 1;
	out->s = s;
	out->len = len;
	return 0;
}

static const struct field *
field_find(const struct field *fields, const char *name)
{
	for (; fields != NULL && fields->name != NULL; fields++)
		if (strcmp(fields->name, name) == 0)
			return fields;
	return NULL;
}

static enum aerr
validate_params(struct req *r)
{
	const struct field	*f = r->route->params;
	struct value		 raw;
	enum aerr		 err;
	size_t			 i;

	for (i = 0; f != NULL && f[i].name != NULL; i++) {
		raw = r->params[i];
		if (stage_validate_value(&f[i], raw.s, raw.len, &r->params[i],
		    &err) == -1)
			return req_fail(r, err, NULL);
	}
	return AERR_OK;
}

static enum aerr
validate_query(struct req *r)
{
	const struct field	*f;
	enum aerr		 err;
	size_t			 i;

	for (i = 0; i < r->nquery; i++) {
		if ((f = field_find(r->route->query, r->query[i].name)) == NULL)
			return req_fail(r, AERR_INVALID_INPUT,
			    "The request has a query parameter this route does not define.");
		if (stage_validate_value(f, r->query[i].value,
		    strlen(r->query[i].value), &r->qvals[i], &err) == -1)
			return req_fail(r, err, NULL);
	}
	for (f = r->route->query; f != NULL && f->name != NULL; f++)
		if (f->required && req_query(r, f->name) == NULL)
			return req_fail(r, AERR_INVALID_INPUT,
			    "A required query parameter is missing.");
	return AERR_OK;
}

/*
 * A JSON array of min..max strings, each 1..64 characters of printable
 * UTF-8; the handler reads the array from value->list.  Returns 0 or -1.
 */
static int
list_value(struct req *r, const struct field *f, struct json_object *a,
    struct value *out)
{
	static const struct field item = { .name = "item", .type = FT_STRING,
	    .min = 1, .max = 64 };
	struct json_object	*v;
	struct value		 tmp;
	enum aerr		 err;
	size_t			 i, n;

	(void)r;
	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	if ((long long)n < f->min || (long long)n > f->max)
		return -1;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_string) ||
		    (size_t)json_object_get_string_len(v) !=
		    strlen(json_object_get_string(v)) ||
		    stage_validate_value(&item, json_object_get_string(v),
		    strlen(json_object_get_string(v)), &tmp, &err) == -1)
			return -1;
	}
	memset(out, 0, sizeof(*out));
	out->field = f;
	out->present = 1;
	out->s = "";
	out->list = a;
	out->i = (long long)n;
	return 0;
}

/*
 * A JSON array of min..max objects (POST /ingest/prices' points): only
 * the shape is checked here, since what each object may hold, and which
 * of its faults reject the whole body, is the handler's to say.  The
 * handler reads the array from value->list.  Returns 0 or -1.
 */
static int
array_value(const struct field *f, struct json_object *a, struct value *out)
{
	size_t	 i, n;

	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	if ((long long)n < f->min || (long long)n > f->max)
		return -1;
	for (i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(a, i),
		    json_type_object))
			return -1;
	memset(out, 0, sizeof(*out));
	out->field = f;
	out->present = 1;
	out->s = "";
	out->list = a;
	out->i = (long long)n;
	return 0;
}

static enum aerr
validate_body(struct req *r)
{
	const struct field	*f;
	const char		*s;
	char			 num[32];
	enum aerr		 err;
	size_t			 n = 0, max = sizeof(r->bvals) / sizeof(r->bvals[0]);

	if (r->json == NULL)
		goto required;
	json_object_object_foreach(r->json, key, val) {
		if ((f = field_find(r->route->body, key)) == NULL || n == max)
			return req_fail(r, AERR_INVALID_INPUT,
			    "The body has a field this route does not accept.");
		if (f->type == FT_LIST) {
			if (list_value(r, f, val, &r->bvals[n]) == -1)
				return req_fail(r, AERR_INVALID_INPUT, NULL);
			n++;
			continue;
		}
		if (f->type == FT_ARRAY) {
			if (array_value(f, val, &r->bvals[n]) == -1)
				return req_fail(r, AERR_INVALID_INPUT,
				    arena_printf(r->arena, "%s must be an "
				    "array of %lld to %lld objects.", f->name,
				    f->min, f->max));
			n++;
			continue;
		}
		if (f->type == FT_INT) {
			if (!json_object_is_type(val, json_type_int))
				return req_fail(r, AERR_INVALID_INPUT, NULL);
			/* json-c saturates silently: check via the text. */
			s = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
			(void)strlcpy(num, s, sizeof(num));
			s = arena_strdup(r->arena, num);
		} else {
			if (!json_object_is_type(val, json_type_string))
				return req_fail(r, f->type == FT_ASSET ?
				    AERR_INVALID_ASSET : AERR_INVALID_INPUT, NULL);
			s = json_object_get_string(val);
			if ((size_t)json_object_get_string_len(val) != strlen(s))
				return req_fail(r, AERR_INVALID_INPUT, NULL);
		}
		if (stage_validate_value(f, s, strlen(s), &r->bvals[n], &err) == -1)
			return req_fail(r, err, NULL);
		n++;
	}
required:
	for (f = r->route->body; f != NULL && f->name != NULL; f++)
		if (f->required && req_body(r, f->name) == NULL)
			return req_fail(r, AERR_INVALID_INPUT,
			    "A required field is missing from the body.");
	return AERR_OK;
}

enum aerr
stage_validate(struct req *r)
{
	enum aerr	err;

	if ((err = validate_params(r)) != AERR_OK ||
	    (err = validate_query(r)) != AERR_OK ||
	    (err = validate_body(r)) != AERR_OK)
		return err;
	return AERR_OK;
}
