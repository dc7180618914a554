/*
 * check_validate.c - the validate stage: asset ids, RFC 3339 timestamps,
 * each field type's rules (integers without leading zeros, signs or
 * overflow; strings of valid UTF-8 without control characters, counted
 * in characters; names without '<' or '>'; cursors in the base64url
 * alphabet), and stage_validate on real routes, where a query parameter
 * or body field the route does not define is refused.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aspida.h"
#include "check_aspida.h"
#include "check_req.h"

/* asset_id_valid: ^[A-Z0-9]{1,10}$ */

struct assetrow {
	int		 line;
	const char	*id;
	int		 ok;
};

static const struct assetrow assetrows[] = {
	{ __LINE__, "BTC", 1 },
	{ __LINE__, "ETH", 1 },
	{ __LINE__, "X", 1 },
	{ __LINE__, "0", 1 },
	{ __LINE__, "SP500", 1 },
	{ __LINE__, "ABCDEFGHIJ", 1 },
	{ __LINE__, "0123456789", 1 },
	{ __LINE__, "ABCDEFGHIJK", 0 },		/* 11 characters */
	{ __LINE__, "01234567890", 0 },
	{ __LINE__, "", 0 },
	{ __LINE__, "btc", 0 },
	{ __LINE__, "Btc", 0 },
	{ __LINE__, "BTc", 0 },
	{ __LINE__, "BTC-USD", 0 },
	{ __LINE__, "BTC_USD", 0 },
	{ __LINE__, "BTC.USD", 0 },
	{ __LINE__, "BTC ", 0 },
	{ __LINE__, " BTC", 0 },
	{ __LINE__, "B TC", 0 },
	{ __LINE__, "BTC\n", 0 },
	{ __LINE__, "BTC\t", 0 },
	{ __LINE__, "'", 0 },
	{ __LINE__, "BTC'--", 0 },
	{ __LINE__, "' OR '1'='1", 0 },
	{ __LINE__, "1 OR 1=1", 0 },
	{ __LINE__, "BTC;DROP", 0 },
	{ __LINE__, "X\"", 0 },
	{ __LINE__, "../", 0 },
	{ __LINE__, "..", 0 },
	{ __LINE__, "..%2F", 0 },
	{ __LINE__, "A/B", 0 },
	{ __LINE__, "A\\B", 0 },
	{ __LINE__, "<script>", 0 },
	{ __LINE__, "<B>", 0 },
	{ __LINE__, "&lt;", 0 },
	{ __LINE__, "\xc3\x89TH", 0 },		/* UTF-8 É */
	{ __LINE__, "\xef\xbc\xa2TC", 0 },	/* fullwidth B */
	{ __LINE__, "BTC\xc2\xa0", 0 },		/* no-break space */
	{ __LINE__, "\xd0\x92TC", 0 },		/* Cyrillic В */
	{ __LINE__, "\xff", 0 },
	{ __LINE__, "@", 0 },			/* 'A' - 1 */
	{ __LINE__, "[", 0 },			/* 'Z' + 1 */
	{ __LINE__, "/", 0 },			/* '0' - 1 */
	{ __LINE__, ":", 0 },			/* '9' + 1 */
};

START_TEST(test_asset_id)
{
	const struct assetrow	*a = &assetrows[_i];

	ck_assert_msg(asset_id_valid(a->id, strlen(a->id)) == a->ok,
	    "line %d: \"%s\"", a->line, a->id);
}
END_TEST

START_TEST(test_asset_id_length)
{
	/* The length given is what is judged, NUL or not. */
	ck_assert_int_eq(asset_id_valid("BTC\0", 4), 0);
	ck_assert_int_eq(asset_id_valid("BTCX", 3), 1);
	ck_assert_int_eq(asset_id_valid("BTC", 0), 0);
	ck_assert_int_eq(asset_id_valid("ABCDEFGHIJK", 10), 1);
}
END_TEST

/* timestamp_parse */

struct tsrow {
	int		 line;
	const char	*s;
	int		 ok;
	long long	 t;
};

static const struct tsrow tsrows[] = {
	{ __LINE__, "1970-01-01T00:00:00Z", 1, 0 },
	{ __LINE__, "1970-01-01T00:00:01Z", 1, 1 },
	{ __LINE__, "2026-11-28T12:00:00Z", 1, 1795867200 },
	{ __LINE__, "2000-02-29T00:00:00Z", 1, 951782400 },	/* %400 leap */
	{ __LINE__, "2024-02-29T23:59:59Z", 1, 1709251199 },	/* %4 leap */
	{ __LINE__, "2100-03-01T00:00:00Z", 1, 4107542400 },
	{ __LINE__, "9999-12-31T23:59:59Z", 1, 253402300799 },
	{ __LINE__, "2026-12-31T23:59:59Z", 1, 1798761599 },
	{ __LINE__, "2026-04-30T00:00:00Z", 1, 1777507200 },
	/* Feb 29 outside leap years. */
	{ __LINE__, "2023-02-29T00:00:00Z", 0, 0 },
	{ __LINE__, "2100-02-29T00:00:00Z", 0, 0 },		/* %100 */
	{ __LINE__, "1900-02-29T00:00:00Z", 0, 0 },
	{ __LINE__, "2024-02-30T00:00:00Z", 0, 0 },
	/* Days past the month's end. */
	{ __LINE__, "2026-04-31T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-06-31T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-09-31T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-11-31T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-01-32T00:00:00Z", 0, 0 },
	/* Out-of-range fields. */
	{ __LINE__, "2026-00-10T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-13-10T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-01-00T00:00:00Z", 0, 0 },
	{ __LINE__, "2026-01-01T24:00:00Z", 0, 0 },
	{ __LINE__, "2026-01-01T23:60:00Z", 0, 0 },
	{ __LINE__, "2026-01-01T23:59:60Z", 0, 0 },	/* no leap seconds */
	{ __LINE__, "2026-01-01T99:99:99Z", 0, 0 },
	{ __LINE__, "1969-12-31T23:59:59Z", 0, 0 },
	{ __LINE__, "0000-01-01T00:00:00Z", 0, 0 },
	/* Offsets other than Z. */
	{ __LINE__, "2026-11-28T12:00:00+00:00", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00-00:00", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00+01:00", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00z", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00UTC", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00ZZ", 0, 0 },
	/* Fractional seconds. */
	{ __LINE__, "2026-11-28T12:00:00.0Z", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00.000Z", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00,5Z", 0, 0 },
	/* Other spellings RFC 3339 or ISO 8601 would allow. */
	{ __LINE__, "2026-11-28t12:00:00Z", 0, 0 },
	{ __LINE__, "2026-11-28 12:00:00Z", 0, 0 },
	{ __LINE__, "20261128T120000Z", 0, 0 },
	{ __LINE__, "2026-11-28", 0, 0 },
	{ __LINE__, "2026-11-28T12:00Z", 0, 0 },
	{ __LINE__, "+2026-11-28T12:00:00Z", 0, 0 },
	{ __LINE__, "12026-11-28T12:00:00Z", 0, 0 },
	{ __LINE__, "2026-1-28T12:00:00Z", 0, 0 },
	{ __LINE__, "2026-11-28T1:00:00Z", 0, 0 },
	{ __LINE__, "2026-11-28T12:0:000Z", 0, 0 },
	{ __LINE__, "2026-11-2aT12:00:00Z", 0, 0 },
	{ __LINE__, "2026-11-+8T12:00:00Z", 0, 0 },
	{ __LINE__, "2026-11- 8T12:00:00Z", 0, 0 },
	{ __LINE__, "2026/11/28T12:00:00Z", 0, 0 },
	{ __LINE__, "1795867200", 0, 0 },
	{ __LINE__, "", 0, 0 },
	{ __LINE__, " 2026-11-28T12:00:00Z", 0, 0 },
	{ __LINE__, "2026-11-28T12:00:00Z ", 0, 0 },
};

START_TEST(test_timestamp_parse)
{
	const struct tsrow	*t = &tsrows[_i];
	long long		 v = -42;

	if (!t->ok) {
		ck_assert_msg(timestamp_parse(t->s, strlen(t->s), &v) == -1,
		    "line %d: \"%s\" accepted", t->line, t->s);
		ck_assert_msg(v == -42, "line %d: written", t->line);
		return;
	}
	ck_assert_msg(timestamp_parse(t->s, strlen(t->s), &v) == 0,
	    "line %d: \"%s\" refused", t->line, t->s);
	ck_assert_msg(v == t->t, "line %d: %lld, want %lld", t->line, v, t->t);
}
END_TEST

START_TEST(test_timestamp_length)
{
	long long	v;

	/* Only the given length is read. */
	ck_assert_int_eq(timestamp_parse("2026-11-28T12:00:00Zjunk", 20, &v),
	    0);
	ck_assert_int_eq(v, 1795867200);
	ck_assert_int_eq(timestamp_parse("2026-11-28T12:00:00Z", 19, &v), -1);
	ck_assert_int_eq(timestamp_parse("2026-11-28T12:00:00\0", 20, &v), -1);
}
END_TEST

/* Every valid row formats back to itself; every day of a leap year too. */
START_TEST(test_timestamp_roundtrip)
{
	char		 buf[32];
	long long	 v, t;
	size_t		 i;

	for (i = 0; i < sizeof(tsrows) / sizeof(tsrows[0]); i++) {
		if (!tsrows[i].ok)
			continue;
		timestamp_format(tsrows[i].t, buf, sizeof(buf));
		ck_assert_msg(strcmp(buf, tsrows[i].s) == 0, "line %d: %s",
		    tsrows[i].line, buf);
	}
	for (t = 1704067200; t < 1704067200 + 366 * 86400LL; t += 86400 + 3661) {
		timestamp_format(t, buf, sizeof(buf));
		ck_assert_msg(timestamp_parse(buf, strlen(buf), &v) == 0 &&
		    v == t, "%lld: %s", t, buf);
	}
}
END_TEST

/* stage_validate_value, one table per type. */

static const struct field f_limit = {
	.name = "limit", .type = FT_INT, .min = 1, .max = 1000
};
static const struct field f_signed = {
	.name = "delta", .type = FT_INT, .min = -5, .max = 5
};
static const struct field f_wide = {
	.name = "wide", .type = FT_INT, .min = -999999999999999999LL,
	.max = 999999999999999999LL
};
static const struct field f_string = {
	.name = "s", .type = FT_STRING, .min = 1, .max = 5
};
static const struct field f_optstring = {
	.name = "o", .type = FT_STRING, .min = 0, .max = 3
};
static const struct field f_name = {
	.name = "name", .type = FT_NAME, .min = 1, .max = 8
};
static const struct field f_cursor = {
	.name = "cursor", .type = FT_CURSOR, .min = 1, .max = 16
};
static const struct field f_asset = {
	.name = "asset_id", .type = FT_ASSET, .min = 1, .max = 10
};
static const struct field f_ts = {
	.name = "from", .type = FT_TIMESTAMP
};

struct vrow {
	int			 line;
	const struct field	*f;
	const char		*s;
	size_t			 len;	/* 0: strlen(s) */
	enum aerr		 err;	/* AERR_OK: accepted */
	long long		 i;	/* FT_INT, FT_TIMESTAMP */
};

static const struct vrow vrows[] = {
	/* FT_INT: bounds both sides. */
	{ __LINE__, &f_limit, "1", 0, AERR_OK, 1 },
	{ __LINE__, &f_limit, "100", 0, AERR_OK, 100 },
	{ __LINE__, &f_limit, "1000", 0, AERR_OK, 1000 },
	{ __LINE__, &f_limit, "0", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "1001", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "99999", 0, AERR_INVALID_INPUT, 0 },
	/* Leading zeros. */
	{ __LINE__, &f_limit, "01", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "0100", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "00", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "0", 0, AERR_OK, 0 },
	{ __LINE__, &f_signed, "00", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "-01", 0, AERR_INVALID_INPUT, 0 },
	/* Signs. */
	{ __LINE__, &f_limit, "+1", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "-1", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "-0", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "-5", 0, AERR_OK, -5 },
	{ __LINE__, &f_signed, "-1", 0, AERR_OK, -1 },
	{ __LINE__, &f_signed, "5", 0, AERR_OK, 5 },
	{ __LINE__, &f_signed, "-6", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "6", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "+5", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "-", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "--1", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "- 1", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_signed, "1-", 0, AERR_INVALID_INPUT, 0 },
	/* Anything but digits. */
	{ __LINE__, &f_limit, "", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, " 1", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "1 ", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "1.0", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "1e2", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "0x10", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "1,000", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "ten", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "\xd9\xa1", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "1\0", 2, AERR_INVALID_INPUT, 0 },
	/* Overflow never wraps into range. */
	{ __LINE__, &f_wide, "999999999999999999", 0, AERR_OK,
	    999999999999999999LL },
	{ __LINE__, &f_wide, "-999999999999999999", 0, AERR_OK,
	    -999999999999999999LL },
	{ __LINE__, &f_wide, "1000000000000000000", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_wide, "9223372036854775807", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_wide, "9223372036854775808", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_wide, "-9223372036854775808", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_wide, "18446744073709551617", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "18446744073709551617", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "18446744073709551616", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_limit, "99999999999999999999999999999999", 0,
	    AERR_INVALID_INPUT, 0 },

	/* FT_STRING: lengths in characters, not bytes. */
	{ __LINE__, &f_string, "a", 0, AERR_OK, 0 },
	{ __LINE__, &f_string, "abcde", 0, AERR_OK, 0 },
	{ __LINE__, &f_string, "abcdef", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_optstring, "", 0, AERR_OK, 0 },
	{ __LINE__, &f_string, "h\xc3\xa9llo", 0, AERR_OK, 0 },
	{ __LINE__, &f_string, "h\xc3\xa9llo!", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\xe2\x82\xac", 0, AERR_OK, 0 },	/* 5 euro signs */
	{ __LINE__, &f_string, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 0,
	    AERR_OK, 0 },
	{ __LINE__, &f_string, "<b>", 0, AERR_OK, 0 },
	{ __LINE__, &f_string, "a b", 0, AERR_OK, 0 },
	{ __LINE__, &f_string, "~", 0, AERR_OK, 0 },
	/* Control characters, C0, DEL and C1. */
	{ __LINE__, &f_string, "a\tb", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "a\nb", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "a\rb", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\x01", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\x1b[0m", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\x1f", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\x7f", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "a\0b", 3, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc2\x80", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "a\xc2\x85z", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc2\x9b" "0m", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc2\x9f", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc2\xa0", 0, AERR_OK, 0 },	/* NBSP */
	{ __LINE__, &f_string, "\xc3\x80", 0, AERR_OK, 0 },	/* À */
	/* Invalid UTF-8. */
	{ __LINE__, &f_string, "\xff", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\x80", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "a\xc3", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc3(", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc0\xaf", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xc1\xbf", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xe0\x80\xaf", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xf0\x80\x80\xaf", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xed\xa0\x80", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xf4\x90\x80\x80", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_string, "\xf8\x88\x80\x80\x80", 0, AERR_INVALID_INPUT,
	    0 },
	/* A cut-off sequence at the end of the given length. */
	{ __LINE__, &f_string, "ab\xe2\x82\xac", 4, AERR_INVALID_INPUT, 0 },

	/* FT_NAME: FT_STRING without '<' or '>'. */
	{ __LINE__, &f_name, "My key", 0, AERR_OK, 0 },
	{ __LINE__, &f_name, "a&b \"c\"", 0, AERR_OK, 0 },
	{ __LINE__, &f_name, "<script>", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, "a<b", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, "a>b", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, "<", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, ">", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, "\xef\xbc\x9c", 0, AERR_OK, 0 },	/* fullwidth < */
	{ __LINE__, &f_name, "a\nb", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, "", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_name, "123456789", 0, AERR_INVALID_INPUT, 0 },

	/* FT_CURSOR: the base64url alphabet, length bounds. */
	{ __LINE__, &f_cursor, "AZaz09-_", 0, AERR_OK, 0 },
	{ __LINE__, &f_cursor, "A", 0, AERR_OK, 0 },
	{ __LINE__, &f_cursor, "AAAAAAAAAAAAAAAA", 0, AERR_OK, 0 },
	{ __LINE__, &f_cursor, "AAAAAAAAAAAAAAAAA", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "a+b", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "a/b", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "ab==", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "a b", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "a.b", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "%41", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "a\nb", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "\xc3\xa9", 0, AERR_INVALID_INPUT, 0 },
	{ __LINE__, &f_cursor, "ab\0c", 4, AERR_INVALID_INPUT, 0 },

	/* FT_ASSET answers invalid_asset, not invalid_input. */
	{ __LINE__, &f_asset, "BTC", 0, AERR_OK, 0 },
	{ __LINE__, &f_asset, "btc", 0, AERR_INVALID_ASSET, 0 },
	{ __LINE__, &f_asset, "../", 0, AERR_INVALID_ASSET, 0 },
	{ __LINE__, &f_asset, "", 0, AERR_INVALID_ASSET, 0 },

	/* FT_TIMESTAMP keeps the epoch seconds. */
	{ __LINE__, &f_ts, "2026-11-28T12:00:00Z", 0, AERR_OK, 1795867200 },
	{ __LINE__, &f_ts, "2026-11-28T12:00:00+00:00", 0, AERR_INVALID_INPUT,
	    0 },
	{ __LINE__, &f_ts, "2023-02-29T00:00:00Z", 0, AERR_INVALID_INPUT, 0 },
};

START_TEST(test_value)
{
	const struct vrow	*v = &vrows[_i];
	struct value		 out;
	enum aerr		 err = AERR_OK;
	size_t			 len = v->len ? v->len : strlen(v->s);
	int			 rc;

	memset(&out, 0xa5, sizeof(out));
	rc = stage_validate_value(v->f, v->s, len, &out, &err);
	if (v->err != AERR_OK) {
		ck_assert_msg(rc == -1, "line %d: \"%s\" accepted", v->line,
		    v->s);
		ck_assert_msg(err == v->err, "line %d: error %d, want %d",
		    v->line, err, v->err);
		ck_assert_msg(!out.present, "line %d: present", v->line);
		return;
	}
	ck_assert_msg(rc == 0, "line %d: \"%s\" refused (%d)", v->line, v->s,
	    err);
	ck_assert_msg(out.present && out.field == v->f && out.s == v->s &&
	    out.len == len, "line %d: value not filled", v->line);
	if (v->f->type == FT_INT || v->f->type == FT_TIMESTAMP)
		ck_assert_msg(out.i == v->i, "line %d: %lld, want %lld",
		    v->line, out.i, v->i);
}
END_TEST

START_TEST(test_value_unknown_type)
{
	static const struct field	 f = { .name = "x", .type = FT__MAX };
	struct value			 out;
	enum aerr			 err = AERR_OK;

	ck_assert_int_eq(stage_validate_value(&f, "x", 1, &out, &err), -1);
	ck_assert_int_eq(err, AERR_INVALID_INPUT);
	ck_assert_int_eq(out.present, 0);
}
END_TEST

START_TEST(test_string_long)
{
	static const struct field	 f = {
		.name = "s", .type = FT_STRING, .min = 1, .max = 100
	};
	char				 s[401];
	struct value			 out;
	enum aerr			 err;
	size_t				 i;

	/* 100 four-byte characters: 400 bytes, within 100 characters. */
	for (i = 0; i < 100; i++)
		memcpy(s + 4 * i, "\xf0\x9f\x98\x80", 4);
	s[400] = '\0';
	ck_assert_int_eq(stage_validate_value(&f, s, 400, &out, &err), 0);
	/* One ASCII more: 101 characters. */
	ck_assert_int_eq(stage_validate_value(&f, "x", 1, &out, &err), 0);
	memset(s, 'x', 101);
	ck_assert_int_eq(stage_validate_value(&f, s, 101, &out, &err), -1);
	ck_assert_int_eq(stage_validate_value(&f, s, 100, &out, &err), 0);
}
END_TEST

/* stage_validate on routes of the table. */

static struct arena	*ar;
static struct req	 rq;

static void
setup(void)
{
	check_conf_setup();
	ar = arena_new();
}

static void
teardown(void)
{
	arena_free(ar);
	ar = NULL;
}

/* Parses and routes a GET; returns what stage_validate says. */
static enum aerr
validate(const char *uri)
{
	enum aerr	e;

	check_req_clear();
	check_req_param("REMOTE_ADDR", "192.0.2.10");
	check_req_param("REQUEST_METHOD", "GET");
	check_req_param("REQUEST_URI", uri);
	check_req_init(&rq, ar);
	ck_assert_msg((e = stage_parse(&rq)) == AERR_OK, "%s: parse %d", uri,
	    e);
	ck_assert_msg((e = stage_route(&rq)) == AERR_OK, "%s: route %d", uri,
	    e);
	e = stage_validate(&rq);
	ck_assert_msg(e == AERR_OK || rq.err == e, "%s: r->err %d", uri,
	    rq.err);
	return e;
}

struct rrow {
	int		 line;
	const char	*uri;
	enum aerr	 err;
};

static const struct rrow rrows[] = {
	{ __LINE__, "/api/v1/prices/BTC", AERR_OK },
	{ __LINE__, "/api/v1/prices/BTC?limit=10", AERR_OK },
	{ __LINE__, "/api/v1/prices/BTC?from=2026-01-01T00:00:00Z"
	    "&to=2026-02-01T00:00:00Z&limit=1000&cursor=AAAA-_", AERR_OK },
	{ __LINE__, "/api/v1/prices/BTC?from=2026-01-01T00%3A00%3A00Z",
	    AERR_OK },
	/* limit's syntax here; its range is the handler's (API.md order). */
	{ __LINE__, "/api/v1/prices/BTC?limit=0", AERR_OK },
	{ __LINE__, "/api/v1/prices/BTC?limit=5000", AERR_OK },
	{ __LINE__, "/api/v1/prices/BTC?limit=-1", AERR_OK },
	{ __LINE__, "/api/v1/prices/BTC?limit=abc", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limit=010", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limit=", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limit", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limit=99999999999999999999",
	    AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?from=yesterday", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?to=2026-01-01T00:00:00.5Z",
	    AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?cursor=a%2Fb", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?cursor=", AERR_INVALID_INPUT },
	/* Unknown parameters, however close to a known one. */
	{ __LINE__, "/api/v1/prices/BTC?foo=1", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limit=10&foo=1", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?Limit=10", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limit%20=10", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?limits=10", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?asset_id=ETH", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/prices/BTC?callback=x", AERR_INVALID_INPUT },
	/* Routes without query fields refuse every parameter. */
	{ __LINE__, "/api/v1/assets", AERR_OK },
	{ __LINE__, "/api/v1/assets?limit=10", AERR_INVALID_INPUT },
	{ __LINE__, "/api/v1/price/BTC?x", AERR_INVALID_INPUT },
	{ __LINE__, "/healthz?a=b", AERR_INVALID_INPUT },
	/* The path parameter: invalid_asset. */
	{ __LINE__, "/api/v1/price/BTC", AERR_OK },
	{ __LINE__, "/api/v1/price/btc", AERR_INVALID_ASSET },
	{ __LINE__, "/api/v1/price/..%2F", AERR_INVALID_ASSET },
	{ __LINE__, "/api/v1/price/%3Cscript%3E", AERR_INVALID_ASSET },
	{ __LINE__, "/api/v1/price/BTC%27%20OR%201=1", AERR_INVALID_ASSET },
	{ __LINE__, "/api/v1/price/ABCDEFGHIJK", AERR_INVALID_ASSET },
	{ __LINE__, "/api/v1/prices/%C3%89TH", AERR_INVALID_ASSET },
	{ __LINE__, "/api/v1/prices/btc?limit=10", AERR_INVALID_ASSET },
};

START_TEST(test_route)
{
	const struct rrow	*r = &rrows[_i];
	enum aerr		 e;

	e = validate(r->uri);
	ck_assert_msg(e == r->err, "line %d: %s gave %d, want %d", r->line,
	    r->uri, e, r->err);
}
END_TEST

START_TEST(test_route_values)
{
	const struct value	*v;

	ck_assert_int_eq(validate("/api/v1/prices/BTC?limit=250"
	    "&from=2026-11-28T12%3A00%3A00Z&cursor=abc"), AERR_OK);
	ck_assert_ptr_nonnull(v = req_path(&rq, "asset_id"));
	ck_assert_str_eq(v->s, "BTC");
	ck_assert_ptr_nonnull(v = req_query(&rq, "limit"));
	ck_assert_int_eq(v->i, 250);
	ck_assert_ptr_nonnull(v = req_query(&rq, "from"));
	ck_assert_int_eq(v->i, 1795867200);
	ck_assert_str_eq(v->s, "2026-11-28T12:00:00Z");
	ck_assert_ptr_nonnull(v = req_query(&rq, "cursor"));
	ck_assert_str_eq(v->s, "abc");
	/* Absent is absent. */
	ck_assert_ptr_null(req_query(&rq, "to"));
	ck_assert_ptr_null(req_query(&rq, "nope"));
	ck_assert_ptr_null(req_body(&rq, "limit"));
}
END_TEST

static void
json_put(void *o)
{
	json_object_put(o);
}

/* A JSON body against a route's body table. */
static enum aerr
validate_body(const struct route *rt, const char *json)
{
	enum aerr	 e;

	check_req_clear();
	check_req_init(&rq, ar);
	rq.route = rt;
	/* As the router would have filled it, with a valid value. */
	if (rt->params != NULL) {
		rq.params[0].s = rt->params[0].type == FT_INT ? "1" : "BTC";
		rq.params[0].len = strlen(rq.params[0].s);
	}
	rq.json = json_tokener_parse(json);
	ck_assert_msg(rq.json != NULL, "test body %s", json);
	arena_defer(ar, json_put, rq.json);
	e = stage_validate(&rq);
	ck_assert_msg(e == AERR_OK || rq.err == e, "r->err %d", rq.err);
	return e;
}

static enum aerr
body_handler(struct req *r)
{
	(void)r;
	return AERR_OK;
}

static const struct field body_fields[] = {
	{ .name = "name", .type = FT_NAME, .min = 1, .max = 20, .required = 1 },
	{ .name = "days", .type = FT_INT, .min = 1, .max = 90 },
	{ .name = "asset_id", .type = FT_ASSET, .min = 1, .max = 10 },
	{ .name = NULL }
};

static const struct route body_route = {
	.method = METHOD_POST, .path = "/test", .body = body_fields,
	.handler = body_handler,
};

struct brow {
	int		 line;
	const char	*json;
	enum aerr	 err;
};

static const struct brow brows[] = {
	{ __LINE__, "{\"name\":\"k\"}", AERR_OK },
	{ __LINE__, "{\"name\":\"k\",\"days\":30,\"asset_id\":\"BTC\"}",
	    AERR_OK },
	/* Unknown fields: no mass assignment. */
	{ __LINE__, "{\"name\":\"k\",\"role\":\"admin\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"Name\":\"x\"}", AERR_INVALID_INPUT },
	/* Required fields. */
	{ __LINE__, "{}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"days\":30}", AERR_INVALID_INPUT },
	/* Types. */
	{ __LINE__, "{\"name\":1}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":null}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":[\"k\"]}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":\"30\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":30.0}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":true}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"asset_id\":7}", AERR_INVALID_ASSET },
	/* Values. */
	{ __LINE__, "{\"name\":\"k\",\"days\":0}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":91}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":-1}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":99999999999999999999}",
	    AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"days\":9223372036854775807}",
	    AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"<img>\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"a\\u0000b\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"a\\u0007b\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"a\\u0085b\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"name\":\"k\",\"asset_id\":\"btc\"}",
	    AERR_INVALID_ASSET },
};

START_TEST(test_body)
{
	const struct brow	*b = &brows[_i];
	enum aerr		 e;

	e = validate_body(&body_route, b->json);
	ck_assert_msg(e == b->err, "line %d: %s gave %d, want %d", b->line,
	    b->json, e, b->err);
}
END_TEST

START_TEST(test_body_values)
{
	const struct value	*v;

	ck_assert_int_eq(validate_body(&body_route,
	    "{\"days\":7,\"name\":\"my key\"}"), AERR_OK);
	ck_assert_ptr_nonnull(v = req_body(&rq, "days"));
	ck_assert_int_eq(v->i, 7);
	ck_assert_ptr_nonnull(v = req_body(&rq, "name"));
	ck_assert_str_eq(v->s, "my key");
	ck_assert_ptr_null(req_body(&rq, "asset_id"));
}
END_TEST

/* FT_ARRAY: an array of min..max objects, left to the handler. */
static const struct field array_fields[] = {
	{ .name = "points", .type = FT_ARRAY, .min = 1, .max = 3, .required = 1 },
	{ .name = NULL }
};

static const struct route array_route = {
	.method = METHOD_POST, .path = "/test", .body = array_fields,
	.handler = body_handler,
};

static const struct brow arows[] = {
	{ __LINE__, "{\"points\":[{}]}", AERR_OK },
	{ __LINE__, "{\"points\":[{\"a\":1},{\"b\":[]},{}]}", AERR_OK },
	/* The objects' members are not this stage's business. */
	{ __LINE__, "{\"points\":[{\"anything\":null}]}", AERR_OK },
	/* Count bounds. */
	{ __LINE__, "{\"points\":[]}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":[{},{},{},{}]}", AERR_INVALID_INPUT },
	/* Only objects, in an array. */
	{ __LINE__, "{\"points\":[{},1]}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":[\"x\"]}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":[null]}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":[[{}]]}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":{}}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":\"[{}]\"}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":null}", AERR_INVALID_INPUT },
	/* Required, and nothing beside it. */
	{ __LINE__, "{}", AERR_INVALID_INPUT },
	{ __LINE__, "{\"points\":[{}],\"more\":1}", AERR_INVALID_INPUT },
};

START_TEST(test_body_array)
{
	const struct brow	*b = &arows[_i];
	enum aerr		 e;

	e = validate_body(&array_route, b->json);
	ck_assert_msg(e == b->err, "line %d: %s gave %d, want %d", b->line,
	    b->json, e, b->err);
}
END_TEST

START_TEST(test_body_array_value)
{
	const struct value	*v;

	ck_assert_int_eq(validate_body(&array_route,
	    "{\"points\":[{\"x\":1},{}]}"), AERR_OK);
	ck_assert_ptr_nonnull(v = req_body(&rq, "points"));
	ck_assert_int_eq(v->i, 2);
	ck_assert_ptr_nonnull(v->list);
	ck_assert_uint_eq(json_object_array_length(v->list), 2);
}
END_TEST

START_TEST(test_body_on_bodiless_route)
{
	size_t	i;

	/* Routes without body fields: any field is one too many. */
	for (i = 0; i < nroutes; i++) {
		if (routes[i].body != NULL)
			continue;
		ck_assert_msg(validate_body(&routes[i], "{\"x\":1}") ==
		    AERR_INVALID_INPUT, "route %s", routes[i].path);
		ck_assert_msg(validate_body(&routes[i], "{}") == AERR_OK,
		    "route %s", routes[i].path);
	}
}
END_TEST

Suite *
validate_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("validate");

	tc = tcase_create("values");
	tcase_add_loop_test(tc, test_asset_id, 0,
	    sizeof(assetrows) / sizeof(assetrows[0]));
	tcase_add_test(tc, test_asset_id_length);
	tcase_add_loop_test(tc, test_timestamp_parse, 0,
	    sizeof(tsrows) / sizeof(tsrows[0]));
	tcase_add_test(tc, test_timestamp_length);
	tcase_add_test(tc, test_timestamp_roundtrip);
	tcase_add_loop_test(tc, test_value, 0,
	    sizeof(vrows) / sizeof(vrows[0]));
	tcase_add_test(tc, test_value_unknown_type);
	tcase_add_test(tc, test_string_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("stage_validate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_route, 0,
	    sizeof(rrows) / sizeof(rrows[0]));
	tcase_add_test(tc, test_route_values);
	tcase_add_loop_test(tc, test_body, 0,
	    sizeof(brows) / sizeof(brows[0]));
	tcase_add_test(tc, test_body_values);
	tcase_add_test(tc, test_body_on_bodiless_route);
	tcase_add_loop_test(tc, test_body_array, 0,
	    sizeof(arows) / sizeof(arows[0]));
	tcase_add_test(tc, test_body_array_value);
	suite_add_tcase(s, tc);

	return s;
}
