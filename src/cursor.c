/*
 * Keyset cursors: the position of the last row served (two integers, e.g.
 * a timestamp and an id), sealed with an HMAC over the position and a
 * binding string that names the query (route, asset, range).  A cursor
 * that was altered, forged, or replayed against another asset or range
 * fails the MAC and is refused.  The encoding is canonical (strict
 * base64url) so there is exactly one valid spelling of each cursor.
 */
#include "config.h"

#include <string.h>

#include "aspida.h"

#define CURSOR_VERSION	1
#define CURSOR_PAYLOAD	17	/* version + two 64-bit big-endian values */
#define CURSOR_MAC	32

static int
cursor_mac(const char *binding, const unsigned char *payload,
    unsigned char mac[CURSOR_MAC])
{
	unsigned char	msg[512];
	size_t		blen = strlen(binding);

	if (blen + 1 + CURSOR_PAYLOAD > sizeof(msg))
		return -1;
	memcpy(msg, binding, blen);
	msg[blen] = '\0';
	memcpy(msg + blen + 1, payload, CURSOR_PAYLOAD);
	return crypto_hmac_sha256(conf->cursor_secret, conf->cursor_secret_len,
	    msg, blen + 1 + CURSOR_PAYLOAD, mac);
}

/* Returns 0 with the cursor in out, or -1. */
int
cursor_encode(const char *binding, const long long pos[2], char *out,
    size_t outsize)
{
	unsigned char	raw[CURSOR_PAYLOAD + CURSOR_MAC];
	unsigned long long v;
	int		i, k;

	raw[0] = CURSOR_VERSION;
	for (k = 0; k < 2; k++) {
		v = (unsigned long long)pos[k];
		for (i = 0; i < 8; i++)
			raw[1 + 8 * k + i] = (unsigned char)(v >> (56 - 8 * i));
	}
	if (cursor_mac(binding, raw, raw + CURSOR_PAYLOAD) == -1)
		return -1;
	return b64url_encode(raw, sizeof(raw), out, outsize) < 0 ? -1 : 0;
}

/* Returns 0 with the position in pos, or -1 for any bad cursor. */
int
cursor_decode(const char *binding, const char *s, size_t len, long long pos[2])
{
	unsigned char	raw[CURSOR_PAYLOAD + CURSOR_MAC + 4], mac[CURSOR_MAC];
	unsigned long long v;
	size_t		n;
	int		i, k;

	if (len > CURSOR_MAX ||
	    b64url_decode(s, len, raw, sizeof(raw), &n) == -1 ||
	    n != CURSOR_PAYLOAD + CURSOR_MAC || raw[0] != CURSOR_VERSION)
		return -1;
	if (cursor_mac(binding, raw, mac) == -1 ||
	    !crypto_equal(mac, raw + CURSOR_PAYLOAD, CURSOR_MAC))
		return -1;
	for (k = 0; k < 2; k++) {
		v = 0;
		for (i = 0; i < 8; i++)
			v = v << 8 | raw[1 + 8 * k + i];
		pos[k] = (long long)v;
	}
	return 0;
}
