/*
 * fuzz_cursor - the keyset cursors of /prices and /portfolio/trades and
 * the codecs under them.  The first byte picks the binding (the query a
 * cursor is sealed to); the rest is the cursor as a client sends it.  A
 * cursor that decodes must be the one spelling of its position (encoding
 * it again gives the input back); since the input cannot forge a MAC,
 * only the seeds' real cursors get that far.  Strict base64url and hex
 * must be canonical the same way, and a position sealed by cursor_encode
 * must open again, under its own binding only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "fuzz.h"

static const char *const fuzz_bindings[] = {
	"prices|BTC|2026-11-27T12:00:00Z|2026-11-28T12:00:00Z",
	"prices|BTC||",
	"prices|ETH|2026-11-01T00:00:00Z|",
	"trades|42",
	"trades|7",
};
#define FUZZ_NBINDINGS	(sizeof(fuzz_bindings) / sizeof(fuzz_bindings[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*binding, *other;
	unsigned char	 raw[512];
	long long	 pos[2], back[2];
	char		*s, out[4 * sizeof(raw) / 3 + 8];
	char		 hex[2 * sizeof(raw) + 1];
	size_t		 i, len, n;

	if (size < 1)
		return 0;
	binding = fuzz_bindings[data[0] % FUZZ_NBINDINGS];
	other = fuzz_bindings[(data[0] + 1) % FUZZ_NBINDINGS];
	len = size - 1;
	s = fuzz_strndup(data + 1, len);

	if (cursor_decode(binding, s, len, pos) == 0) {
		if (cursor_encode(binding, pos, out, sizeof(out)) == -1 ||
		    strlen(out) != len || memcmp(out, s, len) != 0)
			fuzz_fail("a second spelling of a cursor decoded");
		if (cursor_decode(other, s, len, back) == 0)
			fuzz_fail("a cursor opened under another binding");
	}
	if (b64url_decode(s, len, raw, sizeof(raw), &n) == 0 &&
	    (b64url_encode(raw, n, out, sizeof(out)) != (int)len ||
	    memcmp(out, s, len) != 0))
		fuzz_fail("base64url decoding is not canonical");
	if (len % 2 == 0 && len / 2 <= sizeof(raw) &&
	    hex_decode(s, len, raw, len / 2) == 0) {
		hex_encode(raw, len / 2, hex);
		if (memcmp(hex, s, len) != 0)
			fuzz_fail("hex decoding is not canonical");
	}
	free(s);

	/* The input's first 16 bytes as a position: sealed, then opened. */
	memset(pos, 0, sizeof(pos));
	for (i = 0; i < 16 && i + 1 < size; i++)
		pos[i / 8] = (long long)((unsigned long long)pos[i / 8] << 8 |
		    data[i + 1]);
	if (cursor_encode(binding, pos, out, sizeof(out)) == -1 ||
	    strlen(out) > CURSOR_MAX ||
	    cursor_decode(binding, out, strlen(out), back) == -1 ||
	    back[0] != pos[0] || back[1] != pos[1])
		fuzz_fail("a sealed position did not open");
	if (cursor_decode(other, out, strlen(out), back) == 0)
		fuzz_fail("a sealed position opened under another binding");
	return 0;
}
