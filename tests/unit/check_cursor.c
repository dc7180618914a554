/*
 * check_cursor.c - keyset cursors: a cursor round-trips for the query it
 * was made for and is refused for any other binding, after any single
 * character is altered, when cut or extended, and when it was sealed with
 * another secret.  The test conf (check_conf_setup) holds the secret.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

#define BINDING	"prices|BTC|2026-01-01T00:00:00Z|2026-02-01T00:00:00Z"

/* The raw layout cursor.c documents: version, two big-endian values, MAC. */
#define RAW_PAYLOAD	17
#define RAW_LEN		(RAW_PAYLOAD + 32)
#define ENC_LEN		66	/* 49 bytes in unpadded base64url */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
setup(void)
{
	check_conf_setup();
}

static void
make(const char *binding, long long a, long long b, char *out, size_t size)
{
	const long long	pos[2] = { a, b };

	ck_assert_msg(cursor_encode(binding, pos, out, size) == 0,
	    "cursor_encode(%s) failed", binding);
}

/* True when s decodes under binding. */
static int
decodes(const char *binding, const char *s, size_t len)
{
	long long	pos[2] = { 7, 7 };

	if (cursor_decode(binding, s, len, pos) == 0)
		return 1;
	ck_assert_msg(pos[0] == 7 && pos[1] == 7,
	    "position written for a refused cursor");
	return 0;
}

/*
 * Seals a payload the way cursor.c does, with the test secret, so the
 * checks behind the MAC (the version byte) can be reached.
 */
static void
seal(const char *binding, unsigned char version, long long a, long long b,
    char *out, size_t size)
{
	unsigned char		 raw[RAW_LEN], msg[256];
	unsigned long long	 v[2] = { (unsigned long long)a,
				    (unsigned long long)b };
	size_t			 blen = strlen(binding);
	int			 i, k;

	raw[0] = version;
	for (k = 0; k < 2; k++)
		for (i = 0; i < 8; i++)
			raw[1 + 8 * k + i] = (unsigned char)(v[k] >> (56 - 8 * i));
	ck_assert_uint_lt(blen + 1 + RAW_PAYLOAD, sizeof(msg));
	memcpy(msg, binding, blen + 1);
	memcpy(msg + blen + 1, raw, RAW_PAYLOAD);
	ck_assert_int_eq(crypto_hmac_sha256(conf->cursor_secret,
	    conf->cursor_secret_len, msg, blen + 1 + RAW_PAYLOAD,
	    raw + RAW_PAYLOAD), 0);
	ck_assert_int_eq(b64url_encode(raw, sizeof(raw), out, size), ENC_LEN);
}

struct rtrow {
	int		 line;
	long long	 a, b;
};

static const struct rtrow rtrows[] = {
	{ __LINE__, 0, 0 },
	{ __LINE__, 1795867200, 0 },
	{ __LINE__, 1795867200, 42 },
	{ __LINE__, 1, -1 },
	{ __LINE__, -1, 1 },
	{ __LINE__, LLONG_MAX, LLONG_MIN },
	{ __LINE__, LLONG_MIN, LLONG_MAX },
	{ __LINE__, 0x0102030405060708LL, 0x1112131415161718LL },
};

START_TEST(test_roundtrip)
{
	const struct rtrow	*r = &rtrows[_i];
	char			 c[CURSOR_MAX];
	long long		 pos[2] = { 0, 0 };

	make(BINDING, r->a, r->b, c, sizeof(c));
	ck_assert_msg(strlen(c) == ENC_LEN, "line %d: length %zu", r->line,
	    strlen(c));
	ck_assert_msg(strspn(c, b64chars) == ENC_LEN, "line %d: %s", r->line,
	    c);
	ck_assert_msg(cursor_decode(BINDING, c, strlen(c), pos) == 0,
	    "line %d: refused", r->line);
	ck_assert_msg(pos[0] == r->a && pos[1] == r->b, "line %d: %lld %lld",
	    r->line, pos[0], pos[1]);
}
END_TEST

START_TEST(test_deterministic)
{
	char	c1[CURSOR_MAX], c2[CURSOR_MAX], c3[CURSOR_MAX];

	make(BINDING, 100, 0, c1, sizeof(c1));
	make(BINDING, 100, 0, c2, sizeof(c2));
	make(BINDING, 101, 0, c3, sizeof(c3));
	ck_assert_str_eq(c1, c2);
	ck_assert_str_ne(c1, c3);
	/* The documented layout: what seal() builds is what cursor.c builds. */
	seal(BINDING, 1, 100, 0, c2, sizeof(c2));
	ck_assert_str_eq(c1, c2);
}
END_TEST

START_TEST(test_small_buffer)
{
	const long long	 pos[2] = { 1, 2 };
	char		 c[CURSOR_MAX];

	ck_assert_int_eq(cursor_encode(BINDING, pos, c, ENC_LEN), -1);
	ck_assert_int_eq(cursor_encode(BINDING, pos, c, 0), -1);
	ck_assert_int_eq(cursor_encode(BINDING, pos, c, sizeof(c)), 0);
}
END_TEST

struct bindrow {
	int		 line;
	const char	*binding;
};

/* Every one differs from BINDING in what the cursor is bound to. */
static const struct bindrow bindrows[] = {
	{ __LINE__, "prices|ETH|2026-01-01T00:00:00Z|2026-02-01T00:00:00Z" },
	{ __LINE__, "prices|BTC1|2026-01-01T00:00:00Z|2026-02-01T00:00:00Z" },
	{ __LINE__, "prices|BT|2026-01-01T00:00:00Z|2026-02-01T00:00:00Z" },
	{ __LINE__, "prices|BTC|2026-01-01T00:00:01Z|2026-02-01T00:00:00Z" },
	{ __LINE__, "prices|BTC|2026-01-01T00:00:00Z|2026-02-01T00:00:01Z" },
	{ __LINE__, "prices|BTC|2026-02-01T00:00:00Z|2026-01-01T00:00:00Z" },
	{ __LINE__, "prices|BTC||2026-02-01T00:00:00Z" },
	{ __LINE__, "prices|BTC|2026-01-01T00:00:00Z|" },
	{ __LINE__, "prices|BTC||" },
	{ __LINE__, "trades|BTC|2026-01-01T00:00:00Z|2026-02-01T00:00:00Z" },
	{ __LINE__, "prices|BTC|2026-01-01T00:00:00Z|2026-02-01T00:00:00" },
	{ __LINE__, "" },
};

START_TEST(test_other_binding)
{
	const struct bindrow	*b = &bindrows[_i];
	char			 c[CURSOR_MAX];

	make(BINDING, 1795867200, 0, c, sizeof(c));
	ck_assert_msg(!decodes(b->binding, c, strlen(c)),
	    "line %d: accepted for %s", b->line, b->binding);
	/* And the other way round. */
	make(b->binding, 1795867200, 0, c, sizeof(c));
	ck_assert_msg(decodes(b->binding, c, strlen(c)), "line %d", b->line);
	ck_assert_msg(!decodes(BINDING, c, strlen(c)), "line %d: accepted",
	    b->line);
}
END_TEST

/*
 * Each position, replaced by every other base64url character and by a
 * few that are not in the alphabet: all refused.
 */
START_TEST(test_every_alteration)
{
	static const char	 extra[] = "+/=. %~\n\x80\xff";
	char			 c[CURSOR_MAX], m[CURSOR_MAX];
	size_t			 i, j, len, tried = 0;

	make(BINDING, 1795867200, 3, c, sizeof(c));
	len = strlen(c);
	ck_assert_uint_eq(len, ENC_LEN);
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof(b64chars) - 1 + sizeof(extra) - 1; j++) {
			memcpy(m, c, len + 1);
			m[i] = j < 64 ? b64chars[j] : extra[j - 64];
			if (m[i] == c[i])
				continue;
			tried++;
			ck_assert_msg(!decodes(BINDING, m, len),
			    "position %zu changed to '%c' accepted", i, m[i]);
		}
		/* An embedded NUL, with the length still covering it. */
		memcpy(m, c, len + 1);
		m[i] = '\0';
		ck_assert_msg(!decodes(BINDING, m, len), "NUL at %zu", i);
	}
	ck_assert_uint_eq(tried, len * (64 - 1 + sizeof(extra) - 1));
	/* The unaltered cursor still decodes: the loop tested something. */
	ck_assert(decodes(BINDING, c, len));
}
END_TEST

START_TEST(test_truncated_extended)
{
	char	 c[CURSOR_MAX], m[CURSOR_MAX * 4];
	size_t	 len, i, k;

	make(BINDING, 1795867200, 0, c, sizeof(c));
	len = strlen(c);
	/* Every prefix, including the empty string. */
	for (i = 0; i < len; i++)
		ck_assert_msg(!decodes(BINDING, c, i), "prefix %zu accepted", i);
	/* Every suffix dropped from the front. */
	for (i = 1; i < len; i++)
		ck_assert_msg(!decodes(BINDING, c + i, len - i),
		    "suffix from %zu accepted", i);
	/* Extended by 1..8 of each character of the alphabet. */
	for (k = 0; k < 64; k++)
		for (i = 1; i <= 8; i++) {
			memcpy(m, c, len);
			memset(m + len, b64chars[k], i);
			m[len + i] = '\0';
			ck_assert_msg(!decodes(BINDING, m, len + i),
			    "extended by %zu '%c' accepted", i, b64chars[k]);
		}
	/* Padded like standard base64. */
	memcpy(m, c, len);
	memcpy(m + len, "==", 3);
	ck_assert(!decodes(BINDING, m, len + 2));
	/* A cursor twice over. */
	memcpy(m, c, len);
	memcpy(m + len, c, len + 1);
	ck_assert(!decodes(BINDING, m, 2 * len));
}
END_TEST

START_TEST(test_overlong)
{
	char	 m[4096];
	size_t	 n;

	/* Long strings of valid characters never reach the decoder's buffer. */
	memset(m, 'A', sizeof(m));
	for (n = CURSOR_MAX - 4; n <= sizeof(m); n++)
		ck_assert_msg(!decodes(BINDING, m, n), "%zu chars accepted", n);
	ck_assert(!decodes(BINDING, m, CURSOR_MAX + 1));
	ck_assert(!decodes(BINDING, "", 0));
}
END_TEST

START_TEST(test_version)
{
	char	c[CURSOR_MAX];

	/* A correctly sealed cursor of another version is still refused. */
	seal(BINDING, 1, 5, 0, c, sizeof(c));
	ck_assert(decodes(BINDING, c, strlen(c)));
	seal(BINDING, 0, 5, 0, c, sizeof(c));
	ck_assert(!decodes(BINDING, c, strlen(c)));
	seal(BINDING, 2, 5, 0, c, sizeof(c));
	ck_assert(!decodes(BINDING, c, strlen(c)));
	seal(BINDING, 0xff, 5, 0, c, sizeof(c));
	ck_assert(!decodes(BINDING, c, strlen(c)));
}
END_TEST

START_TEST(test_other_secret)
{
	char	c[CURSOR_MAX], d[CURSOR_MAX];

	make(BINDING, 1795867200, 0, c, sizeof(c));
	ck_assert(decodes(BINDING, c, strlen(c)));

	/* The same secret with one bit changed. */
	conf->cursor_secret[0] ^= 1;
	ck_assert(!decodes(BINDING, c, strlen(c)));
	make(BINDING, 1795867200, 0, d, sizeof(d));
	ck_assert_str_ne(c, d);
	ck_assert(decodes(BINDING, d, strlen(d)));
	conf->cursor_secret[0] ^= 1;
	ck_assert(!decodes(BINDING, d, strlen(d)));
	ck_assert(decodes(BINDING, c, strlen(c)));

	/* A longer secret that starts with the old one. */
	memset(conf->cursor_secret, 'k', 33);
	conf->cursor_secret_len = 33;
	ck_assert(!decodes(BINDING, c, strlen(c)));

	/* Without a usable secret nothing is made or accepted. */
	conf->cursor_secret_len = 0;
	ck_assert_int_eq(cursor_encode(BINDING, (const long long [2]){ 1, 0 },
	    d, sizeof(d)), -1);
	ck_assert(!decodes(BINDING, c, strlen(c)));
	conf->cursor_secret_len = 31;
	ck_assert_int_eq(cursor_encode(BINDING, (const long long [2]){ 1, 0 },
	    d, sizeof(d)), -1);
	ck_assert(!decodes(BINDING, c, strlen(c)));
}
END_TEST

START_TEST(test_long_binding)
{
	char	 b[1024], c[CURSOR_MAX];

	/* A binding too long to seal is an error, not a truncated MAC. */
	memset(b, 'x', sizeof(b) - 1);
	b[sizeof(b) - 1] = '\0';
	ck_assert_int_eq(cursor_encode(b, (const long long [2]){ 1, 0 }, c,
	    sizeof(c)), -1);
	make(BINDING, 1, 0, c, sizeof(c));
	ck_assert(!decodes(b, c, strlen(c)));
}
END_TEST

Suite *
cursor_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("cursor");
	tc = tcase_create("cursor");
	tcase_add_checked_fixture(tc, setup, setup);
	tcase_add_loop_test(tc, test_roundtrip, 0,
	    sizeof(rtrows) / sizeof(rtrows[0]));
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_small_buffer);
	tcase_add_loop_test(tc, test_other_binding, 0,
	    sizeof(bindrows) / sizeof(bindrows[0]));
	tcase_add_test(tc, test_every_alteration);
	tcase_add_test(tc, test_truncated_extended);
	tcase_add_test(tc, test_overlong);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_other_secret);
	tcase_add_test(tc, test_long_binding);
	suite_add_tcase(s, tc);
	return s;
}
