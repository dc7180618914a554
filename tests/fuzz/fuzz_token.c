/*
 * fuzz_token - the credentials a client presents.  The first byte picks
 * what the rest is:
 *   0: an access token as sent (length, three base64url parts, the
 *      header read with json-c, the strict scan of the claims, libjwt);
 *   1: a JOSE header and a claims object, one line each, which this
 *      target encodes and signs with the configured key, so that what
 *      follows the signature check (the pinned algorithm, the kid, every
 *      claim by type and value, expiry) is reached;
 *   2: a refresh token (its shape, the MAC under the current and the
 *      previous key);
 *   3: a CSRF token's jti, a fingerprint to compare, a User-Agent.
 * A token that verifies must carry sane claims, a refresh token must be
 * the one spelling of its family and counter, and a position sealed by
 * token_mint_refresh must open again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "aspida.h"
#include "fuzz.h"

#define FUZZ_TOKEN_MAX	4200

static void
fuzz_claims(enum token_status st, const struct token_claims *c)
{
	size_t	 i;

	if (st == TOKEN_INVALID)
		return;
	if (c->sub <= 0 || c->sid <= 0 || c->gen < 0 || c->iat <= 0 ||
	    c->exp < c->iat || strlen(c->jti) != 32 || strlen(c->fgp) != 64)
		fuzz_fail("a token verified with bad claims");
	for (i = 0; i < 32; i++)
		if (strchr("0123456789abcdef", c->jti[i]) == NULL)
			fuzz_fail("a token verified with a bad jti");
	if (st == TOKEN_OK &&
	    (c->iat - 30 > FUZZ_NOW || c->exp + 30 < FUZZ_NOW))
		fuzz_fail("a token verified outside its lifetime");
}

/* header "\n" claims, signed with the key of the flag's choice. */
static void
fuzz_signed(const char *text, size_t len, int previous)
{
	struct token_claims	 c;
	const char		*nl;
	unsigned char		 mac[32];
	char			*tok;
	size_t			 n, hlen;
	int			 w;

	if ((nl = memchr(text, '\n', len)) == NULL)
		return;
	hlen = (size_t)(nl - text);
	if ((tok = malloc(FUZZ_TOKEN_MAX + 1)) == NULL)
		fuzz_fail("out of memory");
	if ((w = b64url_encode((const unsigned char *)text, hlen, tok,
	    FUZZ_TOKEN_MAX)) < 0)
		goto done;
	n = (size_t)w;
	tok[n++] = '.';
	if ((w = b64url_encode((const unsigned char *)nl + 1,
	    len - hlen - 1, tok + n, FUZZ_TOKEN_MAX - n)) < 0)
		goto done;
	n += (size_t)w;
	if (crypto_hmac_sha256(previous ? conf->jwt_previous_key :
	    conf->jwt_key, previous ? conf->jwt_previous_key_len :
	    conf->jwt_key_len, tok, n, mac) == -1)
		fuzz_fail("HMAC failed");
	if (n + 1 + 43 + 1 > FUZZ_TOKEN_MAX + 1)
		goto done;
	tok[n++] = '.';
	if (b64url_encode(mac, sizeof(mac), tok + n, FUZZ_TOKEN_MAX + 1 - n) <
	    0)
		goto done;
	fuzz_claims(token_verify_access(tok, FUZZ_NOW, &c), &c);
done:
	free(tok);
}

static void
fuzz_refresh(const char *text, const uint8_t *data, size_t size)
{
	long long	 f, n, f2, n2;
	char		*tok;
	size_t		 i;

	if (token_parse_refresh(text, &f, &n) == 0) {
		if (f <= 0 || n < 0)
			fuzz_fail("refresh token of family %lld, counter %lld",
			    f, n);
		/* Made under the current key: the one spelling of f, n. */
		if ((tok = token_mint_refresh(f, n)) == NULL)
			fuzz_fail("cannot mint family %lld", f);
		free(tok);
	}
	f = n = 0;
	for (i = 0; i < 16 && i < size; i++) {
		if (i < 8)
			f = (long long)((unsigned long long)f << 8 | data[i]);
		else
			n = (long long)((unsigned long long)n << 8 | data[i]);
	}
	if ((tok = token_mint_refresh(f, n)) == NULL) {
		if (f > 0 && n >= 0)
			fuzz_fail("cannot mint family %lld, counter %lld",
			    f, n);
		return;
	}
	if (token_parse_refresh(tok, &f2, &n2) == -1 || f2 != f || n2 != n)
		fuzz_fail("minted %s does not open", tok);
	free(tok);
}

static void
fuzz_csrf(const char *text)
{
	struct ipaddr	 a;
	char		 want[65], fgp[65];

	if (token_csrf(text, want) == 0) {
		if (strlen(want) != 64)
			fuzz_fail("a CSRF token of %zu digits", strlen(want));
		(void)token_fgp_equal(text, want);
	} else if (want[0] != '\0')
		fuzz_fail("a refused CSRF token is not empty");
	(void)ipaddr_parse("2001:db8:1:2::7", &a);
	token_fingerprint(text, &a, fgp);
	if (strlen(fgp) != 64 || !token_fgp_equal(fgp, fgp))
		fuzz_fail("a bad fingerprint");
	token_fingerprint(text, NULL, fgp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_claims	 c;
	char			*text;

	if (size < 1)
		return 0;
	text = fuzz_strndup(data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		fuzz_claims(token_verify_access(text, FUZZ_NOW, &c), &c);
		break;
	case 1:
		fuzz_signed(text, size - 1, data[0] & 4);
		break;
	case 2:
		fuzz_refresh(text, data + 1, size - 1);
		break;
	default:
		fuzz_csrf(text);
		break;
	}
	free(text);
	return 0;
}
