/*
 * check_json_strict.c - the strict RFC 8259 pre-scan and utf8_valid().
 *
 * Every row is copied into a buffer of exactly its length, so a read past
 * the end shows under ASan or valgrind, and the scanner is never helped by
 * a terminating NUL.  Rows name the error they expect, so each rule is
 * shown to be the one that fired.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aspida.h"
#include "check_aspida.h"

struct jrow {
	int		 line;
	const char	*in;
	size_t		 len;
	const char	*err;		/* NULL: valid */
};

#define OK(s)		{ __LINE__, (s), sizeof(s) - 1, NULL }
#define BAD(s, e)	{ __LINE__, (s), sizeof(s) - 1, (e) }

#define E_DUP	"duplicate key"
#define E_TRAIL	"trailing data after value"
#define E_TRUNC	"truncated document"
#define E_UNEXP	"unexpected character"
#define E_MISS	"missing value"
#define E_SEP	"expected ',' or end of container"
#define E_NUM	"invalid number"
#define E_ZERO	"leading zero in number"
#define E_LIT	"invalid literal"
#define E_CTRL	"control character in string"
#define E_ESC	"invalid escape in string"
#define E_UESC	"invalid \\u escape"
#define E_SURR	"lone surrogate escape"
#define E_NUL	"NUL in string"
#define E_UTF8	"invalid UTF-8 in string"
#define E_UNTERM "unterminated string"
#define E_EMPTY	"empty document"
#define E_KEY	"object key is not a string"
#define E_COLON	"expected ':' after key"
#define E_OCOMMA "trailing comma in object"
#define E_DEEP	"nesting too deep"

static const struct jrow jrows[] = {
	/* Values of every type, at the top level too. */
	OK("{}"),
	OK("[]"),
	OK("{\"a\":1}"),
	OK("{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }"),
	OK(" \t\r\n{\"a\":1} \t\r\n"),
	OK("[ ]"),
	OK("{ }"),
	OK("true"),
	OK("false"),
	OK("null"),
	OK("\"x\""),
	OK("[true,false,null]"),
	OK("{\"a\":{\"b\":[1,2,{\"c\":null}]}}"),
	/* Numbers by the RFC grammar. */
	OK("0"),
	OK("-0"),
	OK("123"),
	OK("-123"),
	OK("0.5"),
	OK("-0.5e10"),
	OK("1E+2"),
	OK("1e-2"),
	OK("10.25E2"),
	OK("[0,-0,0.0,1e0]"),
	OK("99999999999999999999999"),	/* range is the field's business */
	BAD("[012]", E_ZERO),
	BAD("[-012]", E_ZERO),
	BAD("[00]", E_ZERO),
	BAD("[+1]", E_UNEXP),
	BAD("[0x10]", E_SEP),
	BAD("[0X1F]", E_SEP),
	BAD("[.5]", E_UNEXP),
	BAD("[5.]", E_NUM),
	BAD("[1.e5]", E_NUM),
	BAD("[1e]", E_NUM),
	BAD("[1e+]", E_NUM),
	BAD("[-]", E_NUM),
	BAD("[- 1]", E_NUM),
	BAD("[1 2]", E_SEP),
	BAD("[1.5.5]", E_SEP),
	BAD("[NaN]", E_UNEXP),
	BAD("{\"a\":NaN}", E_UNEXP),
	BAD("[Infinity]", E_UNEXP),
	BAD("[-Infinity]", E_NUM),
	/* Literals are lower case and whole. */
	BAD("[True]", E_UNEXP),
	BAD("[nul]", E_LIT),
	BAD("[nulll]", E_SEP),
	BAD("truex", E_TRAIL),
	BAD("[true false]", E_SEP),
	BAD("[undefined]", E_UNEXP),
	/* json-c traps (LIBRARIES.md section 4). */
	BAD("{\"a\":1} xyz", E_TRAIL),
	BAD("{\"a\":1}{\"b\":2}", E_TRAIL),
	BAD("{\"a\":1}\0junk", E_TRAIL),
	BAD("{\"a\":1}\0", E_TRAIL),
	BAD("{\"a\":1,}", E_OCOMMA),
	BAD("[1,]", E_MISS),
	BAD("[1,,2]", E_MISS),
	BAD("[,1]", E_MISS),
	BAD("{,}", E_KEY),
	BAD("// c\n{}", E_UNEXP),
	BAD("{} // c", E_TRAIL),
	BAD("/**/{}", E_UNEXP),
	BAD("{/**/}", E_KEY),
	BAD("[1/**/]", E_SEP),
	BAD("{\"a\":1 # c\n}", E_SEP),
	BAD("{'a':1}", E_KEY),
	BAD("['a']", E_UNEXP),
	BAD("{\"a\":'b'}", E_UNEXP),
	BAD("{a:1}", E_KEY),
	BAD("{\"role\":\"user\",\"role\":\"admin\"}", E_DUP),
	BAD("[\"a\tb\"]", E_CTRL),
	BAD("\"\\u0000\"", E_NUL),
	BAD("{\"a\":\"x\\u0000y\"}", E_NUL),
	BAD("[\"\xc3\x28\"]", E_UTF8),
	BAD("[\"\xc0\xaf\"]", E_UTF8),
	BAD("[\"\xed\xa0\x80\"]", E_UTF8),
	BAD("[\"\xf4\x90\x80\x80\"]", E_UTF8),
	BAD("[\"\\ud800\"]", E_SURR),
	/* Structure. */
	BAD("", E_EMPTY),
	BAD(" \t\r\n", E_EMPTY),
	BAD("{\"a\" 1}", E_COLON),
	BAD("{\"a\"}", E_COLON),
	BAD("{\"a\":}", E_MISS),
	BAD("{\"a\":1 \"b\":2}", E_SEP),
	BAD("{\"a\":1]", E_SEP),
	BAD("[1}", E_SEP),
	BAD("[", E_TRUNC),
	BAD("{", E_TRUNC),
	BAD("{\"a\":1", E_TRUNC),
	BAD("[1,2", E_TRUNC),
	BAD("{\"a\":", E_TRUNC),
	BAD("{\"a\"", E_TRUNC),
	BAD("]", E_MISS),
	BAD("}", E_MISS),
	BAD(",", E_MISS),
	BAD(":", E_UNEXP),
	BAD("{1:2}", E_KEY),
	BAD("{null:1}", E_KEY),
	/* Whitespace is SP, HT, LF, CR and nothing else. */
	BAD("\f{}", E_UNEXP),
	BAD("\v{}", E_UNEXP),
	BAD("\xc2\xa0{}", E_UNEXP),
	BAD("\xef\xbb\xbf{}", E_UNEXP),		/* BOM */
	BAD("{}\f", E_TRAIL),
	/* Embedded NUL, outside and inside strings. */
	BAD("\0{}", E_UNEXP),
	BAD("{\0}", E_KEY),
	BAD("{\"a\"\0:1}", E_COLON),
	BAD("{\"a\":\"x\0y\"}", E_CTRL),
	BAD("[1\0]", E_SEP),
	/* Strings: escapes. */
	OK("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""),
	OK("\"\\u00e9\\u00E9\""),
	OK("\"\\uD83D\\uDE00\""),		/* a valid pair */
	OK("\"\\udbff\\udfff\""),		/* U+10FFFF */
	OK("\"\\u0001\\u001f\""),		/* escaped controls are RFC */
	OK("\"\\uFFFF\""),
	BAD("\"\\x41\"", E_ESC),
	BAD("\"\\'\"", E_ESC),
	BAD("\"\\a\"", E_ESC),
	BAD("\"\\0\"", E_ESC),
	BAD("\"\\U0041\"", E_ESC),
	BAD("\"\\u12\"", E_UESC),
	BAD("\"\\u12G4\"", E_UESC),
	BAD("\"\\u-123\"", E_UESC),
	BAD("\"\\u123", E_UESC),
	BAD("\"\\", E_UNTERM),
	BAD("\"\\u", E_UESC),
	BAD("\"\\udc00\"", E_SURR),
	BAD("\"\\udfff\"", E_SURR),
	BAD("\"\\ud800\\u0041\"", E_SURR),
	BAD("\"\\ud800x\"", E_SURR),
	BAD("\"\\ud800\\\"", E_SURR),
	BAD("\"\\ud800\\n\"", E_SURR),
	BAD("\"\\udc00\\ud800\"", E_SURR),
	BAD("\"\\ud800\\ud800\"", E_SURR),
	BAD("\"\\udbff\\ue000\"", E_SURR),
	BAD("\"\\ud800\\udc0", E_SURR),
	/* Strings: raw bytes. */
	OK("\"caf\xc3\xa9\""),
	OK("\"\xf0\x9f\x98\x80\""),		/* U+1F600 */
	OK("\"\xf4\x8f\xbf\xbf\""),		/* U+10FFFF */
	OK("\"\xed\x9f\xbf\""),			/* U+D7FF */
	OK("\"\xee\x80\x80\""),			/* U+E000 */
	OK("\"\xef\xbf\xbf\""),			/* U+FFFF */
	OK("\"\xc2\x80\""),			/* U+0080 */
	OK("\"\xe0\xa0\x80\""),			/* U+0800 */
	OK("\"\xf0\x90\x80\x80\""),		/* U+10000 */
	OK("\"\x7f\""),				/* DEL is not < 0x20 */
	BAD("\"a\nb\"", E_CTRL),
	BAD("\"a\rb\"", E_CTRL),
	BAD("\"\x01\"", E_CTRL),
	BAD("\"\x1f\"", E_CTRL),
	BAD("\"\xc1\xbf\"", E_UTF8),		/* overlong */
	BAD("\"\xe0\x80\xaf\"", E_UTF8),	/* overlong */
	BAD("\"\xe0\x9f\xbf\"", E_UTF8),	/* overlong */
	BAD("\"\xf0\x80\x80\xaf\"", E_UTF8),	/* overlong */
	BAD("\"\xf0\x8f\xbf\xbf\"", E_UTF8),	/* overlong */
	BAD("\"\xed\xbf\xbf\"", E_UTF8),	/* surrogate */
	BAD("\"\xed\xa0\x80\xed\xb0\x80\"", E_UTF8),	/* CESU-8 pair */
	BAD("\"\xf5\x80\x80\x80\"", E_UTF8),
	BAD("\"\xf8\x88\x80\x80\x80\"", E_UTF8),
	BAD("\"\xfe\"", E_UTF8),
	BAD("\"\xff\"", E_UTF8),
	BAD("\"\x80\"", E_UTF8),		/* lone continuation */
	BAD("\"\xbf\"", E_UTF8),
	BAD("\"\xe2\x82\"", E_UTF8),		/* truncated */
	BAD("\"\xc3\"", E_UTF8),
	BAD("\"\xc3", E_UTF8),
	BAD("\"\xf0\x9f\x98", E_UTF8),
	BAD("\"\xc3\xc3\xa9\"", E_UTF8),
	BAD("{\"\xc3\x28\":1}", E_UTF8),	/* in a key too */
	BAD("\"abc", E_UNTERM),
	BAD("\"", E_UNTERM),
	/* Duplicate keys, compared decoded. */
	OK("{\"a\":1,\"b\":2}"),
	OK("{\"a\":1,\"A\":1}"),
	OK("{\"a\":1,\"ab\":2}"),
	OK("{\"ab\":1,\"a\":2}"),
	OK("{\"\":1}"),
	OK("{\"\":1,\"a\":2}"),
	OK("{\"a\":{\"a\":1}}"),
	OK("[{\"a\":1},{\"a\":2}]"),
	OK("{\"a\":{\"b\":1},\"b\":{\"a\":1}}"),
	OK("{\"\\u0061b\":1,\"a\":2}"),
	OK("{\"\\u00e9\":1,\"e\":2}"),
	OK("{\"\\ud83d\\ude00\":1,\"\\ud83d\\ude01\":2}"),
	OK("{\"a\\n\":1,\"a\":2}"),
	BAD("{\"a\":1,\"a\":2}", E_DUP),
	BAD("{\"a\":1,\"a\":1}", E_DUP),
	BAD("{\"\":1,\"\":2}", E_DUP),
	BAD("{\"a\":1,\"\\u0061\":2}", E_DUP),
	BAD("{\"\\u0061\":1,\"a\":2}", E_DUP),
	BAD("{\"\\u0061\":1,\"\\u0061\":2}", E_DUP),
	BAD("{\"\\u0061\":1,\"\\u0041\":2,\"\\u0061\":3}", E_DUP),
	BAD("{\"\\u00e9\":1,\"\xc3\xa9\":2}", E_DUP),
	BAD("{\"\\u00E9\":1,\"\\u00e9\":2}", E_DUP),
	BAD("{\"\\uD83D\\uDE00\":1,\"\xf0\x9f\x98\x80\":2}", E_DUP),
	BAD("{\"\\/\":1,\"/\":2}", E_DUP),
	BAD("{\"\\\\\":1,\"\\u005c\":2}", E_DUP),
	BAD("{\"\\n\":1,\"\\u000a\":2}", E_DUP),
	BAD("{\"\\t\":1,\"\\u0009\":2}", E_DUP),
	BAD("{\"b\":1,\"a\":2,\"c\":3,\"a\":4}", E_DUP),
	BAD("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}", E_DUP),
	BAD("[{\"a\":1},{\"b\":1,\"b\":2}]", E_DUP),
	BAD("{\"a\":{},\"a\":[]}", E_DUP),
	BAD("{\"a\":{\"b\":1},\"c\":2,\"a\":3}", E_DUP),
};

/* A copy of exactly len bytes, with nothing after it to lean on. */
static char *
exact(const char *s, size_t len)
{
	char	*p;

	p = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(p);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

START_TEST(test_json_table)
{
	const struct jrow	*r = &jrows[_i];
	const char		*errstr = "unset";
	char			*buf;
	int			 rc;

	buf = exact(r->in, r->len);
	rc = json_strict_check(buf, r->len, ASPIDA_JSON_DEPTH, &errstr);
	free(buf);
	if (r->err == NULL) {
		ck_assert_msg(rc == 0, "line %d: rejected (%s)", r->line,
		    errstr != NULL ? errstr : "NULL");
		ck_assert_msg(errstr == NULL, "line %d: errstr set on success",
		    r->line);
	} else {
		ck_assert_msg(rc == -1, "line %d: accepted", r->line);
		ck_assert_msg(errstr != NULL && strcmp(errstr, r->err) == 0,
		    "line %d: error \"%s\", want \"%s\"", r->line,
		    errstr != NULL ? errstr : "NULL", r->err);
	}
}
END_TEST

/* Nested containers: n arrays, or n objects each under key "a". */
static char *
nest(int n, int object, size_t *lenp)
{
	size_t	 len = 0, cap = (size_t)n * 6 + 8;
	char	*s;
	int	 i;

	s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		if (object) {
			memcpy(s + len, i + 1 < n ? "{\"a\":" : "{", i + 1 < n ?
			    5 : 1);
			len += i + 1 < n ? 5 : 1;
		} else
			s[len++] = '[';
	}
	for (i = 0; i < n; i++)
		s[len++] = object ? '}' : ']';
	*lenp = len;
	return s;
}

START_TEST(test_json_depth)
{
	const char	*errstr;
	char		*s;
	size_t		 len;
	int		 object;

	for (object = 0; object <= 1; object++) {
		s = nest(16, object, &len);
		ck_assert_int_eq(json_strict_check(s, len, 16, &errstr), 0);
		free(s);
		s = nest(17, object, &len);
		ck_assert_int_eq(json_strict_check(s, len, 16, &errstr), -1);
		ck_assert_str_eq(errstr, E_DEEP);
		ck_assert_int_eq(json_strict_check(s, len, 17, &errstr), 0);
		free(s);
	}

	/* {"a":{}} is two levels; mixed containers count alike. */
	ck_assert_int_eq(json_strict_check("{\"a\":{}}", 8, 2, &errstr), 0);
	ck_assert_int_eq(json_strict_check("{\"a\":{}}", 8, 1, &errstr), -1);
	ck_assert_str_eq(errstr, E_DEEP);
	ck_assert_int_eq(json_strict_check("[{\"a\":[]}]", 10, 3, &errstr), 0);
	ck_assert_int_eq(json_strict_check("[{\"a\":[]}]", 10, 2, &errstr),
	    -1);
	/* Siblings do not add up: depth is how deep, not how many. */
	ck_assert_int_eq(json_strict_check("[[],[],{},[[]]]", 15, 3, &errstr),
	    0);
	/* 0 allows scalars only. */
	ck_assert_int_eq(json_strict_check("1", 1, 0, &errstr), 0);
	ck_assert_int_eq(json_strict_check("[]", 2, 0, &errstr), -1);
	ck_assert_str_eq(errstr, E_DEEP);
	/* Limits the scanner cannot honour are refused, not ignored. */
	ck_assert_int_eq(json_strict_check("{}", 2, -1, &errstr), -1);
	ck_assert_int_eq(json_strict_check("{}", 2, 100000, &errstr), -1);
	ck_assert_str_eq(errstr, "nesting limit out of range");
}
END_TEST

START_TEST(test_json_deep_attack)
{
	const char	*errstr;
	size_t		 n = 200000, i;
	char		*s;

	/* Far deeper than any stack: rejected at level 17, no crash. */
	s = malloc(n);
	ck_assert_ptr_nonnull(s);
	memset(s, '[', n);
	ck_assert_int_eq(json_strict_check(s, n, 16, &errstr), -1);
	ck_assert_str_eq(errstr, E_DEEP);
	for (i = 0; i + 5 <= n; i += 5)
		memcpy(s + i, "{\"a\":", 5);
	ck_assert_int_eq(json_strict_check(s, i, 16, &errstr), -1);
	ck_assert_str_eq(errstr, E_DEEP);
	free(s);
}
END_TEST

static const char *const truncdocs[] = {
	"{\"a\":1}",
	"{\"asset_id\":\"BTC\",\"quantity\":\"1.5\",\"n\":[1,-2.5e+3,true,"
	    "false,null,{}],\"s\":\"\\u00e9\\ud83d\\ude00\\n\xc3\xa9"
	    "\xf0\x9f\x98\x80\"}",
	"[ { \"a\" : [ 0 , 10.5E-2 ] } , \"x\" ]",
	"{\"k\":{\"k\":{\"k\":\"\\\"\"}}}",
};

/* Every proper prefix of a valid document (ending in } or ]) is invalid. */
START_TEST(test_json_truncated)
{
	const char	*doc = truncdocs[_i], *errstr;
	size_t		 len = strlen(doc), i;
	char		*buf;

	buf = exact(doc, len);
	ck_assert_int_eq(json_strict_check(buf, len, 16, &errstr), 0);
	free(buf);
	for (i = 0; i < len; i++) {
		buf = exact(doc, i);
		ck_assert_msg(json_strict_check(buf, i, 16, &errstr) == -1,
		    "doc %d: prefix of %zu bytes accepted", _i, i);
		free(buf);
	}
}
END_TEST

START_TEST(test_json_null_args)
{
	const char	*errstr = NULL;

	ck_assert_int_eq(json_strict_check(NULL, 0, 16, &errstr), -1);
	ck_assert_str_eq(errstr, E_EMPTY);
	ck_assert_int_eq(json_strict_check(NULL, 5, 16, &errstr), -1);
	/* errstr is optional. */
	ck_assert_int_eq(json_strict_check("{}", 2, 16, NULL), 0);
	ck_assert_int_eq(json_strict_check("{,}", 3, 16, NULL), -1);
	/* len, not the NUL, ends the input. */
	ck_assert_int_eq(json_strict_check("{}garbage", 2, 16, NULL), 0);
}
END_TEST

/*
 * An object of n keys, "k00000", ... in shuffled order (7919 is prime to
 * the n used); escaped writes them as "\u006bk..." (the slow comparison
 * path); dup repeats the first key at the end.
 */
static char *
manykeys(int n, int escaped, int dup, size_t *lenp)
{
	size_t	 cap = (size_t)(n + 1) * 24 + 4, len = 0;
	char	*s;
	int	 i, w;

	s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	s[len++] = '{';
	for (i = 0; i < n + (dup ? 1 : 0); i++) {
		w = snprintf(s + len, cap - len, "%s\"%sk%05d\":%d",
		    i > 0 ? "," : "", escaped ? "\\u006b" : "",
		    i < n ? (int)(((long)i * 7919) % n) : 0, i);
		ck_assert(w > 0 && (size_t)w < cap - len);
		len += w;
	}
	s[len++] = '}';
	*lenp = len;
	return s;
}

/* The best of three runs, in seconds, after checking the result. */
static double
timed_check(const char *s, size_t len, int want)
{
	struct timespec	 t0, t1;
	const char	*errstr;
	double		 t, best = 1e9;
	int		 i;

	for (i = 0; i < 3; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ck_assert_int_eq(json_strict_check(s, len, 16, &errstr), want);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		t = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (t < best)
			best = t;
	}
	return best;
}

/*
 * 20000 keys in one object cost little more than scanning the same bytes
 * as an array, where no key is compared.  Sorting costs 5 to 40 times
 * the scan; comparing every pair, over 1500 times.  A ratio, unlike a
 * time, holds under sanitizers, valgrind and on a slow machine.
 */
START_TEST(test_json_many_keys)
{
	const char	*errstr;
	char		*s;
	size_t		 len, i;
	double		 tobj, tarr;
	int		 escaped;

	for (escaped = 0; escaped <= 1; escaped++) {
		s = manykeys(20000, escaped, 1, &len);
		ck_assert_int_eq(json_strict_check(s, len, 16, &errstr), -1);
		ck_assert_str_eq(errstr, E_DUP);
		free(s);

		s = manykeys(20000, escaped, 0, &len);
		tobj = timed_check(s, len, 0);
		s[0] = '[';
		s[len - 1] = ']';
		for (i = 0; i < len; i++)
			if (s[i] == ':')
				s[i] = ',';
		tarr = timed_check(s, len, 0);
		free(s);
		ck_assert_msg(tobj < 300 * tarr + 0.001,
		    "escaped %d: object %.4f s, array %.4f s", escaped, tobj,
		    tarr);
	}
}
END_TEST

START_TEST(test_json_many_objects)
{
	const char	*errstr;
	size_t		 cap = 20000 * 16, len = 0;
	char		*s;
	int		 i;

	/* Keys of closed objects are dropped: siblings may reuse names. */
	s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	s[len++] = '[';
	for (i = 0; i < 20000; i++) {
		memcpy(s + len, i ? ",{\"a\":{\"a\":1}}" : "{\"a\":{\"a\":1}}",
		    i ? 14 : 13);
		len += i ? 14 : 13;
	}
	s[len++] = ']';
	ck_assert_int_eq(json_strict_check(s, len, 16, &errstr), 0);
	free(s);
}
END_TEST

struct urow {
	int		 line;
	const char	*in;
	size_t		 len;
	int		 valid;
};

#define UOK(s)	{ __LINE__, (s), sizeof(s) - 1, 1 }
#define UBAD(s)	{ __LINE__, (s), sizeof(s) - 1, 0 }

static const struct urow urows[] = {
	UOK(""),
	UOK("abc"),
	UOK("BTC-USD ?x=1&y=2"),
	UOK("\x01\x1f\x7f"),		/* controls are the validators' job */
	UOK("caf\xc3\xa9"),
	UOK("\xc2\x80"),
	UOK("\xdf\xbf"),
	UOK("\xe0\xa0\x80"),
	UOK("\xed\x9f\xbf"),
	UOK("\xee\x80\x80"),
	UOK("\xef\xbf\xbf"),
	UOK("\xf0\x90\x80\x80"),
	UOK("\xf0\x9f\x98\x80"),
	UOK("\xf4\x8f\xbf\xbf"),
	UBAD("\0"),
	UBAD("a\0b"),
	UBAD("abc\0"),
	UBAD("\xc0\x80"),		/* overlong NUL */
	UBAD("\xc0\xaf"),
	UBAD("\xc1\xbf"),
	UBAD("\xe0\x80\xaf"),
	UBAD("\xe0\x9f\xbf"),
	UBAD("\xf0\x80\x80\xaf"),
	UBAD("\xf0\x8f\xbf\xbf"),
	UBAD("\xed\xa0\x80"),
	UBAD("\xed\xaf\xbf"),
	UBAD("\xed\xb0\x80"),
	UBAD("\xed\xbf\xbf"),
	UBAD("\xf4\x90\x80\x80"),
	UBAD("\xf4\xbf\xbf\xbf"),
	UBAD("\xf5\x80\x80\x80"),
	UBAD("\xf7\xbf\xbf\xbf"),
	UBAD("\xf8\x88\x80\x80\x80"),
	UBAD("\xfc\x84\x80\x80\x80\x80"),
	UBAD("\xfe"),
	UBAD("\xff"),
	UBAD("\x80"),
	UBAD("a\xbf"),
	UBAD("\xc3"),
	UBAD("\xc3\x28"),
	UBAD("\xe2\x82"),
	UBAD("\xe2\x28\xa1"),
	UBAD("\xe2\x82\x28"),
	UBAD("\xf0\x9f\x98"),
	UBAD("\xf0\x9f\x98\x28"),
	UBAD("\xf0\x28\x98\x80"),
	UBAD("caf\xe9"),		/* Latin-1 */
};

START_TEST(test_utf8_table)
{
	const struct urow	*r = &urows[_i];
	char			*buf;

	buf = exact(r->in, r->len);
	ck_assert_msg(utf8_valid(buf, r->len) == r->valid,
	    "line %d: utf8_valid gave %d", r->line, !r->valid);
	free(buf);
}
END_TEST

START_TEST(test_utf8_bounds)
{
	/* len bounds the scan: a valid prefix of a longer buffer passes. */
	ck_assert_int_eq(utf8_valid("abc\xff", 3), 1);
	ck_assert_int_eq(utf8_valid("abc\xff", 4), 0);
	/* A sequence cut by len is invalid though the bytes go on. */
	ck_assert_int_eq(utf8_valid("\xc3\xa9", 1), 0);
	ck_assert_int_eq(utf8_valid("\xf0\x9f\x98\x80", 3), 0);
	ck_assert_int_eq(utf8_valid(NULL, 0), 1);
	ck_assert_int_eq(utf8_valid(NULL, 1), 0);
}
END_TEST

Suite *
json_strict_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("json_strict");
	tc = tcase_create("json_strict_check");
	tcase_add_loop_test(tc, test_json_table, 0,
	    sizeof(jrows) / sizeof(jrows[0]));
	tcase_add_test(tc, test_json_depth);
	tcase_add_test(tc, test_json_deep_attack);
	tcase_add_loop_test(tc, test_json_truncated, 0,
	    sizeof(truncdocs) / sizeof(truncdocs[0]));
	tcase_add_test(tc, test_json_null_args);
	tcase_add_test(tc, test_json_many_keys);
	tcase_add_test(tc, test_json_many_objects);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8_valid");
	tcase_add_loop_test(tc, test_utf8_table, 0,
	    sizeof(urows) / sizeof(urows[0]));
	tcase_add_test(tc, test_utf8_bounds);
	suite_add_tcase(s, tc);
	return s;
}
