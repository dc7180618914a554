/*
 * The few cryptographic operations aspida needs, all through libgcrypt:
 * random bytes, SHA-256, HMAC-SHA256, and a constant-time comparison (the
 * one helper libgcrypt does not export).  Plus hex and base64url codecs,
 * which are encodings, not cryptography.
 */
#include "config.h"

#include <string.h>

#include <gcrypt.h>

#include "aspida.h"

/* Must run before fork(), in every mode: the system RNG survives forks. */
void
crypto_init(void)
{
	if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P))
		return;
	gcry_control(GCRYCTL_SET_PREFERRED_RNG_TYPE, GCRY_RNG_TYPE_SYSTEM);
	if (gcry_check_version("1.10.0") == NULL)
		fatalx("libgcrypt 1.10 or newer is required");
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

void
crypto_random(void *p, size_t n)
{
	gcry_randomize(p, n, GCRY_STRONG_RANDOM);
}

void
crypto_sha256(const void *p, size_t n, unsigned char out[32])
{
	gcry_md_hash_buffer(GCRY_MD_SHA256, out, p, n);
}

/*
 * HMAC-SHA256 of msg under key.  An empty or short key is refused here
 * because libgcrypt accepts one.  Returns 0, or -1 on error.
 */
int
crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
    size_t msglen, unsigned char out[32])
{
	gcry_mac_hd_t	 h;
	size_t		 len = 32;
	int		 rc = -1;

	if (key == NULL || keylen < 32)
		return -1;
	if (gcry_mac_open(&h, GCRY_MAC_HMAC_SHA256, 0, NULL) != 0)
		return -1;
	if (gcry_mac_setkey(h, key, keylen) == 0 &&
	    gcry_mac_write(h, msg, msglen) == 0 &&
	    gcry_mac_read(h, out, &len) == 0 && len == 32)
		rc = 0;
	gcry_mac_close(h);
	return rc;
}

/* Returns 1 when a and b are equal, in time independent of their bytes. */
int
crypto_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char	*x = a, *y = b;
	unsigned char			 d = 0;
	size_t				 i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void
hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decodes exactly outlen bytes of lower-case hex from s[0..len).
 * Returns 0, or -1 when the length or a digit is wrong.
 */
int
hex_decode(const char *s, size_t len, unsigned char *out, size_t outlen)
{
	size_t	i;
	int	hi, lo;

	if (len != 2 * outlen)
		return -1;
	for (i = 0; i < outlen; i++) {
		if ((hi = hex_value((unsigned char)s[2 * i])) < 0 ||
		    (lo = hex_value((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Base64url without padding.  Returns the encoded length, or -1 when out
 * (which receives a terminating NUL) is too small.
 */
int
b64url_encode(const unsigned char *p, size_t n, char *out, size_t outsize)
{
	size_t		i, o = 0;
	unsigned int	v;

	if (n > (SIZE_MAX - 3) / 4 * 3 || (n + 2) / 3 * 4 + 1 > outsize)
		return -1;
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)p[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return (int)o;
}

static int
b64url_value(int c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64url, c)) == NULL)
		return -1;
	return (int)(p - b64url);
}

/*
 * Strict base64url decoding: no padding, no other characters, and the
 * unused low bits of the last character must be zero, so each byte string
 * has exactly one encoding (a cursor cannot be altered into a twin).
 * Returns 0 with *outlen set, or -1.
 */
int
b64url_decode(const char *s, size_t len, unsigned char *out, size_t outsize,
    size_t *outlen)
{
	size_t		i, o = 0;
	unsigned int	v = 0;
	int		bits = 0, d;

	if (len % 4 == 1 || len / 4 * 3 + 2 > outsize + 2)
		return -1;
	for (i = 0; i < len; i++) {
		if ((d = b64url_value((unsigned char)s[i])) < 0)
			return -1;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsize)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	if (v != 0)
		return -1;
	*outlen = o;
	return 0;
}

/* The SHA-1 Redis names a script by: an identifier, not a protection. */
void
crypto_sha1_hex(const char *text, char *out)
{
	unsigned char	d[20];

	gcry_md_hash_buffer(GCRY_MD_SHA1, d, text, strlen(text));
	hex_encode(d, sizeof(d), out);
}
