/*
 * check_crypto.c - the libgcrypt wrappers against published vectors
 * (FIPS 180-2 for SHA-256, RFC 4231 for HMAC-SHA256), the refusal of short
 * HMAC keys, the constant-time comparison, and the hex and base64url codecs,
 * whose strictness is what makes a cursor's spelling unique.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Compares a digest with the lower-case hex a vector publishes. */
static void
assert_digest(int line, const unsigned char d[32], const char *want)
{
	char	hex[65];

	hex_encode(d, 32, hex);
	ck_assert_msg(strcmp(hex, want) == 0, "line %d: got %s, want %s",
	    line, hex, want);
}

struct shavec {
	int		 line;
	const char	*msg;
	const char	*digest;
};

/* FIPS 180-2 appendix B and the empty message. */
static const struct shavec shavecs[] = {
	{ __LINE__, "",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ __LINE__, "abc",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ __LINE__, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

START_TEST(test_sha256_vectors)
{
	const struct shavec	*v = &shavecs[_i];
	unsigned char		 d[32];

	crypto_sha256(v->msg, strlen(v->msg), d);
	assert_digest(v->line, d, v->digest);
}
END_TEST

START_TEST(test_sha256_million)
{
	unsigned char	 d[32];
	char		*m;

	/* FIPS 180-2 B.3: one million 'a'. */
	m = malloc(1000000);
	ck_assert_ptr_nonnull(m);
	memset(m, 'a', 1000000);
	crypto_sha256(m, 1000000, d);
	free(m);
	assert_digest(__LINE__, d,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(test_hmac_rfc4231)
{
	static const char msg6[] =
	    "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char msg7[] =
	    "This is a test using a larger than block-size key and a larger "
	    "than block-size data. The key needs to be hashed before being "
	    "used by the HMAC algorithm.";
	unsigned char	 key[131], d[32];

	/* RFC 4231 test cases 6 and 7: a 131-byte key of 0xaa. */
	memset(key, 0xaa, sizeof(key));
	ck_assert_int_eq(crypto_hmac_sha256(key, sizeof(key), msg6,
	    strlen(msg6), d), 0);
	assert_digest(__LINE__, d,
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	ck_assert_int_eq(crypto_hmac_sha256(key, sizeof(key), msg7,
	    strlen(msg7), d), 0);
	assert_digest(__LINE__, d,
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
END_TEST

START_TEST(test_hmac_32byte_key)
{
	unsigned char	 key[32], d[32];
	size_t		 i;

	/*
	 * The shortest key accepted, checked against Python's hmac module:
	 * bytes 0x01..0x20 over "Hi There", and the test conf's cursor
	 * secret over the empty message.
	 */
	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i + 1);
	ck_assert_int_eq(crypto_hmac_sha256(key, 32, "Hi There", 8, d), 0);
	assert_digest(__LINE__, d,
	    "45131af2422d643aed31b05ef8bbf08548235405e900cdd3308047abbbcab639");
	memset(key, 'k', sizeof(key));
	ck_assert_int_eq(crypto_hmac_sha256(key, 32, "", 0, d), 0);
	assert_digest(__LINE__, d,
	    "a4ad8e340e32bf1d916005cb1dc92795148897965e36ae56c0adc357474b5372");
}
END_TEST

START_TEST(test_hmac_short_key)
{
	static const size_t	 lens[] = { 0, 1, 4, 20, 25, 31 };
	unsigned char		 key[32], d[32], before[32];
	size_t			 i;

	/*
	 * RFC 4231 cases 1-4 use keys of 20, 4, 20 and 25 bytes; all are
	 * refused, as is any key under 32 bytes and a NULL key.
	 */
	memset(key, 0x0b, sizeof(key));
	memset(d, 0x5a, sizeof(d));
	memcpy(before, d, sizeof(d));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		ck_assert_msg(crypto_hmac_sha256(key, lens[i], "Hi There", 8,
		    d) == -1, "key of %zu bytes accepted", lens[i]);
	ck_assert_int_eq(crypto_hmac_sha256(NULL, 32, "Hi There", 8, d), -1);
	ck_assert_mem_eq(d, before, sizeof(d));
	ck_assert_int_eq(crypto_hmac_sha256(key, 32, "Hi There", 8, d), 0);
}
END_TEST

START_TEST(test_hmac_key_matters)
{
	unsigned char	 k1[32], k2[32], d1[32], d2[32];

	memset(k1, 'k', sizeof(k1));
	memcpy(k2, k1, sizeof(k2));
	k2[31] ^= 1;
	ck_assert_int_eq(crypto_hmac_sha256(k1, 32, "msg", 3, d1), 0);
	ck_assert_int_eq(crypto_hmac_sha256(k2, 32, "msg", 3, d2), 0);
	ck_assert_int_eq(crypto_equal(d1, d2, 32), 0);
	/* Long keys are hashed, not truncated to 32 bytes. */
	{
		unsigned char	k3[64];

		memset(k3, 'k', sizeof(k3));
		ck_assert_int_eq(crypto_hmac_sha256(k3, 64, "msg", 3, d2), 0);
		ck_assert_int_eq(crypto_equal(d1, d2, 32), 0);
	}
}
END_TEST

START_TEST(test_equal)
{
	unsigned char	 a[48], b[48];
	size_t		 i;
	int		 bit;

	for (i = 0; i < sizeof(a); i++)
		a[i] = (unsigned char)(i * 7 + 3);
	memcpy(b, a, sizeof(b));
	ck_assert_int_eq(crypto_equal(a, b, sizeof(a)), 1);
	ck_assert_int_eq(crypto_equal(a, b, 0), 1);
	/* Any one differing bit, at any position, is seen. */
	for (i = 0; i < sizeof(a); i++)
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (unsigned char)(1 << bit);
			ck_assert_msg(crypto_equal(a, b, sizeof(a)) == 0,
			    "byte %zu bit %d", i, bit);
			b[i] ^= (unsigned char)(1 << bit);
		}
	/* Only the first n bytes count. */
	b[47] ^= 0xff;
	ck_assert_int_eq(crypto_equal(a, b, 47), 1);
	ck_assert_int_eq(crypto_equal(a, b, 48), 0);
}
END_TEST

START_TEST(test_hex)
{
	unsigned char	 in[256], out[256];
	char		 hex[513];
	size_t		 i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	hex_encode(in, sizeof(in), hex);
	ck_assert_uint_eq(strlen(hex), 512);
	ck_assert_int_eq(strncmp(hex, "000102030405060708090a0b0c0d0e0f10", 34),
	    0);
	ck_assert_str_eq(hex + 500, "fafbfcfdfeff");
	ck_assert_int_eq(hex_decode(hex, 512, out, sizeof(out)), 0);
	ck_assert_mem_eq(in, out, sizeof(in));
	hex_encode(in, 0, hex);
	ck_assert_str_eq(hex, "");
	ck_assert_int_eq(hex_decode("", 0, out, 0), 0);
}
END_TEST

struct hexrow {
	int		 line;
	const char	*in;
	size_t		 outlen;
	int		 ok;
};

static const struct hexrow hexrows[] = {
	{ __LINE__, "00ff", 2, 1 },
	{ __LINE__, "deadbeef", 4, 1 },
	{ __LINE__, "0123456789abcdef", 8, 1 },
	/* Upper case is refused: one spelling per value. */
	{ __LINE__, "00FF", 2, 0 },
	{ __LINE__, "DEADBEEF", 4, 0 },
	{ __LINE__, "deadbeeF", 4, 0 },
	/* Bad digits. */
	{ __LINE__, "0g", 1, 0 },
	{ __LINE__, "g0", 1, 0 },
	{ __LINE__, "0x", 1, 0 },
	{ __LINE__, " 0", 1, 0 },
	{ __LINE__, "0 ", 1, 0 },
	{ __LINE__, "-1", 1, 0 },
	{ __LINE__, "+1", 1, 0 },
	{ __LINE__, "0:", 1, 0 },	/* ':' follows '9' */
	{ __LINE__, "0/", 1, 0 },	/* '/' precedes '0' */
	{ __LINE__, "`a", 1, 0 },	/* '`' precedes 'a' */
	{ __LINE__, "ag", 1, 0 },
	{ __LINE__, "\xc3\xa9", 1, 0 },
	/* Wrong length for the output. */
	{ __LINE__, "00ff", 1, 0 },
	{ __LINE__, "00ff", 3, 0 },
	{ __LINE__, "00f", 2, 0 },
	{ __LINE__, "00f", 1, 0 },
	{ __LINE__, "", 1, 0 },
	{ __LINE__, "00", 0, 0 },
};

START_TEST(test_hex_decode_table)
{
	const struct hexrow	*r = &hexrows[_i];
	unsigned char		 out[16];
	char			 back[33];

	if (!r->ok) {
		ck_assert_msg(hex_decode(r->in, strlen(r->in), out,
		    r->outlen) == -1, "line %d: \"%s\" accepted", r->line,
		    r->in);
		return;
	}
	ck_assert_msg(hex_decode(r->in, strlen(r->in), out, r->outlen) == 0,
	    "line %d: \"%s\" refused", r->line, r->in);
	hex_encode(out, r->outlen, back);
	ck_assert_msg(strcmp(back, r->in) == 0, "line %d: %s", r->line, back);
}
END_TEST

START_TEST(test_hex_decode_nul)
{
	unsigned char	out[2];

	/* The length is authoritative: an embedded NUL is a bad digit. */
	ck_assert_int_eq(hex_decode("0\0ff", 4, out, 2), -1);
}
END_TEST

struct b64vec {
	int		 line;
	const char	*raw;
	size_t		 rawlen;
	const char	*enc;
};

/* RFC 4648 section 10, unpadded, and the two url-safe characters. */
static const struct b64vec b64vecs[] = {
	{ __LINE__, "", 0, "" },
	{ __LINE__, "f", 1, "Zg" },
	{ __LINE__, "fo", 2, "Zm8" },
	{ __LINE__, "foo", 3, "Zm9v" },
	{ __LINE__, "foob", 4, "Zm9vYg" },
	{ __LINE__, "fooba", 5, "Zm9vYmE" },
	{ __LINE__, "foobar", 6, "Zm9vYmFy" },
	{ __LINE__, "\xfb\xff", 2, "-_8" },
	{ __LINE__, "\xfb\xef\xbe", 3, "----" },
	{ __LINE__, "\xff\xff\xff", 3, "____" },
	{ __LINE__, "\x00\x00\x00", 3, "AAAA" },
	{ __LINE__, "\x00", 1, "AA" },
};

START_TEST(test_b64url_vectors)
{
	const struct b64vec	*v = &b64vecs[_i];
	unsigned char		 out[16];
	char			 enc[16];
	size_t			 n = 99;

	ck_assert_msg(b64url_encode((const unsigned char *)v->raw, v->rawlen,
	    enc, sizeof(enc)) == (int)strlen(v->enc), "line %d", v->line);
	ck_assert_msg(strcmp(enc, v->enc) == 0, "line %d: %s", v->line, enc);
	ck_assert_msg(b64url_decode(v->enc, strlen(v->enc), out, sizeof(out),
	    &n) == 0, "line %d", v->line);
	ck_assert_msg(n == v->rawlen && memcmp(out, v->raw, n) == 0,
	    "line %d", v->line);
}
END_TEST

/* Every length 0..40 round-trips, in the alphabet, without padding. */
START_TEST(test_b64url_roundtrip)
{
	size_t		 len = (size_t)_i, n, i;
	unsigned char	 in[40], out[40];
	char		 enc[64];
	int		 k;

	for (i = 0; i < len; i++)
		in[i] = (unsigned char)(i * 37 + len * 11 + 0x80);
	k = b64url_encode(in, len, enc, sizeof(enc));
	ck_assert_int_eq(k, (int)((4 * len + 2) / 3));
	ck_assert_uint_eq(strlen(enc), (size_t)k);
	ck_assert_msg(strspn(enc, b64chars) == (size_t)k, "len %zu: %s", len,
	    enc);
	ck_assert_uint_ne((size_t)k % 4, 1);
	memset(out, 0, sizeof(out));
	ck_assert_msg(b64url_decode(enc, (size_t)k, out, sizeof(out), &n) == 0,
	    "len %zu: %s refused", len, enc);
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(out, in, len);
	/* An output buffer of exactly the decoded size is enough. */
	if (len > 0) {
		ck_assert_int_eq(b64url_decode(enc, (size_t)k, out, len, &n), 0);
		ck_assert_uint_eq(n, len);
		/* One byte short is refused, never overrun. */
		ck_assert_int_eq(b64url_decode(enc, (size_t)k, out, len - 1,
		    &n), -1);
	}
	/* No room for the terminating NUL: refused. */
	ck_assert_int_eq(b64url_encode(in, len, enc, (size_t)k), -1);
}
END_TEST

START_TEST(test_b64url_encode_small)
{
	unsigned char	 in[6] = "foobar";
	char		 enc[16];

	memset(enc, '#', sizeof(enc));
	ck_assert_int_eq(b64url_encode(in, 6, enc, 8), -1);
	ck_assert_int_eq(b64url_encode(in, 6, enc, 0), -1);
	ck_assert_int_eq(b64url_encode(in, 6, enc, 9), 8);
	ck_assert_str_eq(enc, "Zm9vYmFy");
	ck_assert_int_eq(enc[9], '#');
}
END_TEST

struct b64bad {
	int		 line;
	const char	*in;
	size_t		 len;
};

static const struct b64bad b64bads[] = {
	/* Padding. */
	{ __LINE__, "Zg==", 4 },
	{ __LINE__, "Zm8=", 4 },
	{ __LINE__, "Zg=", 3 },
	{ __LINE__, "Zm9vYg==", 8 },
	{ __LINE__, "====", 4 },
	/* The standard alphabet's '+' and '/'. */
	{ __LINE__, "+_8", 3 },
	{ __LINE__, "-/8", 3 },
	{ __LINE__, "++++", 4 },
	{ __LINE__, "////", 4 },
	/* Non-zero bits after the last whole byte. */
	{ __LINE__, "Zh", 2 },
	{ __LINE__, "Zv", 2 },
	{ __LINE__, "Zm9", 3 },
	{ __LINE__, "Zm-", 3 },
	{ __LINE__, "AB", 2 },
	{ __LINE__, "AAB", 3 },
	{ __LINE__, "Zm9vYh", 6 },
	/* A length that no byte string encodes to. */
	{ __LINE__, "A", 1 },
	{ __LINE__, "Z", 1 },
	{ __LINE__, "Zm9vY", 5 },
	{ __LINE__, "AAAAAAAAA", 9 },
	/* Anything outside the alphabet. */
	{ __LINE__, "Zm9v\n", 5 },
	{ __LINE__, " Zm9v", 5 },
	{ __LINE__, "Zm 9v", 5 },
	{ __LINE__, "Zm.v", 4 },
	{ __LINE__, "Zm9v\0\0\0\0", 8 },
	{ __LINE__, "Zm\0v", 4 },
	{ __LINE__, "Zm9v\xc3\xa9", 6 },
	{ __LINE__, "Zm9%", 4 },
};

START_TEST(test_b64url_strict)
{
	const struct b64bad	*b = &b64bads[_i];
	unsigned char		 out[16];
	size_t			 n = 99;

	ck_assert_msg(b64url_decode(b->in, b->len, out, sizeof(out), &n) == -1,
	    "line %d: \"%s\" accepted", b->line, b->in);
	ck_assert_msg(n == 99, "line %d: *outlen written on failure", b->line);
}
END_TEST

/*
 * Exactly one spelling per byte string: after a one-byte prefix "Z" only
 * the 4 characters with 4 low zero bits complete it; after "Zm" the 16
 * with 2 low zero bits.
 */
START_TEST(test_b64url_canonical)
{
	unsigned char	 out[4];
	char		 s[4];
	size_t		 n, i;
	int		 ok1 = 0, ok2 = 0, r;

	for (i = 0; i < 64; i++) {
		s[0] = 'Z';
		s[1] = b64chars[i];
		r = b64url_decode(s, 2, out, sizeof(out), &n);
		ck_assert_msg((r == 0) == (i % 16 == 0), "Z%c", b64chars[i]);
		ok1 += r == 0;
		s[1] = 'm';
		s[2] = b64chars[i];
		r = b64url_decode(s, 3, out, sizeof(out), &n);
		ck_assert_msg((r == 0) == (i % 4 == 0), "Zm%c", b64chars[i]);
		ok2 += r == 0;
	}
	ck_assert_int_eq(ok1, 4);
	ck_assert_int_eq(ok2, 16);
}
END_TEST

START_TEST(test_random)
{
	unsigned char	 a[32], b[32], zero[32];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	crypto_random(a, sizeof(a));
	crypto_random(b, sizeof(b));
	ck_assert_int_eq(crypto_equal(a, b, sizeof(a)), 0);
	ck_assert_int_eq(crypto_equal(a, zero, sizeof(a)), 0);
	ck_assert_int_eq(crypto_equal(b, zero, sizeof(b)), 0);
	/* A zero-length request writes nothing. */
	memcpy(b, a, sizeof(b));
	crypto_random(a, 0);
	ck_assert_mem_eq(a, b, sizeof(a));
}
END_TEST

START_TEST(test_sha1_hex)
{
	char	out[41];

	/* Redis names scripts by SHA-1; FIPS 180-1 "abc". */
	crypto_sha1_hex("abc", out);
	ck_assert_str_eq(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
}
END_TEST

Suite *
crypto_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("crypto");

	tc = tcase_create("digests");
	tcase_add_loop_test(tc, test_sha256_vectors, 0,
	    sizeof(shavecs) / sizeof(shavecs[0]));
	tcase_add_test(tc, test_sha256_million);
	tcase_add_test(tc, test_hmac_rfc4231);
	tcase_add_test(tc, test_hmac_32byte_key);
	tcase_add_test(tc, test_hmac_short_key);
	tcase_add_test(tc, test_hmac_key_matters);
	tcase_add_test(tc, test_equal);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_sha1_hex);
	suite_add_tcase(s, tc);

	tc = tcase_create("hex");
	tcase_add_test(tc, test_hex);
	tcase_add_loop_test(tc, test_hex_decode_table, 0,
	    sizeof(hexrows) / sizeof(hexrows[0]));
	tcase_add_test(tc, test_hex_decode_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("b64url");
	tcase_add_loop_test(tc, test_b64url_vectors, 0,
	    sizeof(b64vecs) / sizeof(b64vecs[0]));
	tcase_add_loop_test(tc, test_b64url_roundtrip, 0, 41);
	tcase_add_test(tc, test_b64url_encode_small);
	tcase_add_loop_test(tc, test_b64url_strict, 0,
	    sizeof(b64bads) / sizeof(b64bads[0]));
	tcase_add_test(tc, test_b64url_canonical);
	suite_add_tcase(s, tc);

	return s;
}
