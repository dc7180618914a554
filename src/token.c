/*
 * token.c - the credentials aspida mints: HS256 access JWTs, opaque
 * refresh tokens, the client fingerprint both are bound to, and the CSRF
 * token of a cookie session.
 *
 * libjwt 1.10.2 checks a signature and nothing else (LIBRARIES.md section
 * 1): it takes whatever alg the header names (HS512 with our secret, "hs256",
 * "none" without a key), skips the signature for a NULL key or a zero
 * length, lets a duplicate claim win over the first, cannot tell a string
 * or a float from an integer, and alloca()s the token on the stack.  So
 * every token is checked here before and after libjwt sees it: bounded
 * length and shape first, then the header read with json-c to pick the key
 * by kid, the payload scanned by json_strict_check for duplicates, and
 * after the signature every claim by its JSON type and exact value.  Expiry
 * is judged last, so TOKEN_EXPIRED always means "well-signed, otherwise
 * good" and never tells a forger anything.
 *
 * Refresh tokens are not JWTs: they are a family id and a counter sealed
 * with an HMAC under a key derived from the JWT key, so nothing but the
 * counter has to be stored, and a token below the family's counter is
 * proof of reuse.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <jwt.h>

#include "aspida.h"

#define TOKEN_MAX		4096	/* bounds libjwt's alloca() */
#define TOKEN_SEG_MAX		(TOKEN_MAX / 4 * 3 + 3)
#define TOKEN_SIG_B64		43	/* 32 bytes of HMAC-SHA256 */
#define TOKEN_KEY_MIN		32	/* RFC 7518 3.2: >= 256 bits */
#define TOKEN_CLAIM_DEPTH	2	/* claims are flat, one level to spare */

#define REFRESH_PREFIX		"rt."
#define REFRESH_RAW		48	/* family, counter, MAC */
#define REFRESH_B64		64
#define REFRESH_LEN		(sizeof(REFRESH_PREFIX) - 1 + REFRESH_B64)
#define REFRESH_KEY_LABEL	"aspida refresh key v1"
#define REFRESH_MAC_LABEL	"aspida-refresh-v1"

#define CSRF_LABEL		"aspida-csrf-v1"
#define CSRF_JTI_MAX		128

/*
 * The key the configuration holds under kid, or NULL: the current key, or
 * the previous one while it is configured.  A key shorter than 32 bytes is
 * never handed out, so libjwt can never be given NULL or a zero length.
 */
static const unsigned char *
token_key(const char *kid, size_t *keylen)
{
	if (conf->jwt_kid != NULL && *conf->jwt_kid != '\0' &&
	    strcmp(kid, conf->jwt_kid) == 0) {
		*keylen = conf->jwt_key_len;
		if (*keylen < TOKEN_KEY_MIN || *keylen > sizeof(conf->jwt_key))
			return NULL;
		return conf->jwt_key;
	}
	if (conf->jwt_previous_key_len > 0 && conf->jwt_previous_kid != NULL &&
	    *conf->jwt_previous_kid != '\0' &&
	    strcmp(kid, conf->jwt_previous_kid) == 0) {
		*keylen = conf->jwt_previous_key_len;
		if (*keylen < TOKEN_KEY_MIN ||
		    *keylen > sizeof(conf->jwt_previous_key))
			return NULL;
		return conf->jwt_previous_key;
	}
	return NULL;
}

/* Returns 1 when s is exactly n lower-case hex digits. */
static int
token_is_hex(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/*
 * A positive decimal integer as a JWT claim string: digits only, no sign,
 * no leading zero, no overflow.  Returns 0 with the value, or -1.
 */
static int
token_decimal(const char *s, long long *out)
{
	long long	v = 0;
	size_t		i;

	if (s[0] < '1' || s[0] > '9')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (LLONG_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parses buf[0..len) (NUL-terminated at len) as one strict JSON object,
 * after json_strict_check has vetted it, which rejects duplicate keys that
 * json-c would silently merge.  Returns the object, or NULL.
 */
static struct json_object *
token_json_object(const char *buf, size_t len, int depth)
{
	struct json_tokener	*t;
	struct json_object	*o;
	const char		*errstr;

	if (len == 0 || len > INT_MAX - 1 ||
	    json_strict_check(buf, len, depth, &errstr) == -1)
		return NULL;
	if ((t = json_tokener_new_ex(depth + 1)) == NULL)
		return NULL;
	json_tokener_set_flags(t,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(t, buf, (int)len + 1);
	if (o != NULL && (json_tokener_get_error(t) != json_tokener_success ||
	    json_tokener_get_parse_end(t) != len ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(t);
	return o;
}

/* The member name of o as a C string without NULs, or NULL. */
static const char *
token_json_string(struct json_object *o, const char *name)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (s = json_object_get_string(v)) == NULL ||
	    (size_t)json_object_get_string_len(v) != strlen(s))
		return NULL;
	return s;
}

/* The member name of o when it is a JSON integer.  Returns 0, or -1. */
static int
token_json_int(struct json_object *o, const char *name, long long *out)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	*out = (long long)json_object_get_int64(v);
	return 0;
}

/*
 * Splits tok[0..len) into three non-empty base64url segments.  The
 * signature must be exactly an HS256 MAC's length.  Returns 0, or -1.
 */
static int
token_split(const char *tok, size_t len, const char *seg[3], size_t n[3])
{
	static const char	 alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			 i, k = 0;

	seg[0] = tok;
	for (i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (k == 2)
				return -1;
			n[k] = (size_t)(tok + i - seg[k]);
			seg[++k] = tok + i + 1;
		} else if (strchr(alphabet, tok[i]) == NULL)
			return -1;
	}
	if (k != 2)
		return -1;
	n[2] = (size_t)(tok + len - seg[2]);
	if (n[0] == 0 || n[1] == 0 || n[2] != TOKEN_SIG_B64)
		return -1;
	return 0;
}

/*
 * Reads the JOSE header seg[0..n) ourselves: a JSON object of strings with
 * alg exactly "HS256", typ "JWT" if present, a kid naming a configured key,
 * and nothing else (an unknown "crit" must not be ignored).
 * Returns the key for the kid, or NULL.
 */
static const unsigned char *
token_header_key(const char *seg, size_t n, size_t *keylen)
{
	char			 buf[TOKEN_SEG_MAX + 1];
	struct json_object	*h, *v;
	const unsigned char	*key = NULL;
	const char		*alg, *kid, *typ;
	size_t			 len;
	int			 ok = 1;

	if (b64url_decode(seg, n, (unsigned char *)buf, sizeof(buf) - 1,
	    &len) == -1)
		return NULL;
	buf[len] = '\0';
	if ((h = token_json_object(buf, len, 1)) == NULL)
		return NULL;
	json_object_object_foreach(h, name, val) {
		if ((strcmp(name, "alg") != 0 && strcmp(name, "typ") != 0 &&
		    strcmp(name, "kid") != 0) ||
		    !json_object_is_type(val, json_type_string))
			ok = 0;
	}
	if (ok &&
	    (alg = token_json_string(h, "alg")) != NULL &&
	    strcmp(alg, "HS256") == 0 &&
	    (!json_object_object_get_ex(h, "typ", &v) ||
	    ((typ = token_json_string(h, "typ")) != NULL &&
	    strcmp(typ, "JWT") == 0)) &&
	    (kid = token_json_string(h, "kid")) != NULL)
		key = token_key(kid, keylen);
	json_object_put(h);
	return key;
}

/*
 * Checks the verified claims and copies them to c.  Returns 0, or -1.
 */
static int
token_claims_read(struct json_object *o, struct token_claims *c)
{
	const char	*s;

	memset(c, 0, sizeof(*c));
	if ((s = token_json_string(o, "iss")) == NULL ||
	    conf->jwt_issuer == NULL || strcmp(s, conf->jwt_issuer) != 0)
		return -1;
	if ((s = token_json_string(o, "aud")) == NULL ||
	    conf->jwt_audience == NULL || strcmp(s, conf->jwt_audience) != 0)
		return -1;
	if ((s = token_json_string(o, "typ")) == NULL ||
	    strcmp(s, "access") != 0)
		return -1;
	if ((s = token_json_string(o, "sub")) == NULL ||
	    token_decimal(s, &c->sub) == -1)
		return -1;
	if ((s = token_json_string(o, "sid")) == NULL ||
	    token_decimal(s, &c->sid) == -1)
		return -1;
	if ((s = token_json_string(o, "jti")) == NULL ||
	    !token_is_hex(s, sizeof(c->jti) - 1))
		return -1;
	memcpy(c->jti, s, sizeof(c->jti));
	if ((s = token_json_string(o, "fgp")) == NULL ||
	    !token_is_hex(s, sizeof(c->fgp) - 1))
		return -1;
	memcpy(c->fgp, s, sizeof(c->fgp));
	if (token_json_int(o, "iat", &c->iat) == -1 || c->iat <= 0 ||
	    token_json_int(o, "exp", &c->exp) == -1 || c->exp < c->iat ||
	    token_json_int(o, "gen", &c->gen) == -1 || c->gen < 0)
		return -1;
	return 0;
}

/*
 * Verifies an access token at time now (see the file comment for the
 * order).  out is filled for TOKEN_OK and TOKEN_EXPIRED and zeroed
 * otherwise.  The fingerprint is left to the caller, who knows the request.
 * Returns TOKEN_OK, TOKEN_EXPIRED (well-signed and valid but for its age),
 * or TOKEN_INVALID.
 */
enum token_status
token_verify_access(const char *tok, long long now, struct token_claims *out)
{
	struct token_claims	 c;
	struct json_object	*claims = NULL;
	const unsigned char	*key;
	const char		*seg[3], *errstr;
	unsigned char		 payload[TOKEN_SEG_MAX + 1];
	size_t			 n[3], len, keylen;
	jwt_t			*j = NULL;
	char			*grants = NULL;
	long long		 leeway;
	enum token_status	 st = TOKEN_INVALID;

	memset(out, 0, sizeof(*out));
	if (tok == NULL || (len = strnlen(tok, TOKEN_MAX + 1)) > TOKEN_MAX ||
	    token_split(tok, len, seg, n) == -1)
		goto done;
	if ((key = token_header_key(seg[0], n[0], &keylen)) == NULL)
		goto done;
	/* libjwt (Jansson) lets the last duplicate win: refuse them first. */
	if (b64url_decode(seg[1], n[1], payload, sizeof(payload), &len) == -1 ||
	    json_strict_check((const char *)payload, len, TOKEN_CLAIM_DEPTH,
	    &errstr) == -1)
		goto done;
	if (jwt_decode(&j, tok, key, (int)keylen) != 0) {
		j = NULL;
		goto done;
	}
	/*
	 * The header said HS256 already; this also catches a key libjwt
	 * did not use (it reports NONE after an unkeyed decode).
	 */
	if (jwt_get_alg(j) != JWT_ALG_HS256)
		goto done;
	/* What libjwt verified, with JSON types intact. */
	if ((grants = jwt_get_grants_json(j, NULL)) == NULL ||
	    (claims = token_json_object(grants, strlen(grants),
	    TOKEN_CLAIM_DEPTH)) == NULL ||
	    token_claims_read(claims, &c) == -1)
		goto done;
	leeway = conf->jwt_leeway < 0 ? 0 : conf->jwt_leeway;
	if (c.iat - leeway > now)
		goto done;
	st = now - leeway > c.exp ? TOKEN_EXPIRED : TOKEN_OK;
	*out = c;
done:
	json_object_put(claims);
	free(grants);
	if (j != NULL)
		jwt_free(j);
	return st;
}

/*
 * Mints an access token for claims->sub, sid, gen and fgp, issued at now;
 * fills claims->jti, iat and exp.  Returns the token (free() it), or NULL.
 */
char *
token_mint_access(struct token_claims *claims, long long now)
{
	unsigned char	 rnd[16];
	char		 sub[24], sid[24];
	jwt_t		*j = NULL;
	char		*tok = NULL;

	if (conf->jwt_key_len < TOKEN_KEY_MIN ||
	    conf->jwt_key_len > sizeof(conf->jwt_key) ||
	    conf->jwt_kid == NULL || *conf->jwt_kid == '\0' ||
	    conf->jwt_issuer == NULL || conf->jwt_audience == NULL ||
	    claims->sub <= 0 || claims->sid <= 0 || claims->gen < 0 ||
	    !token_is_hex(claims->fgp, sizeof(claims->fgp) - 1) ||
	    now <= 0 || conf->access_token_ttl <= 0 ||
	    now > LLONG_MAX - conf->access_token_ttl)
		return NULL;
#if LONG_MAX < LLONG_MAX
	/* libjwt's integer claims are longs. */
	if (claims->gen > LONG_MAX || now + conf->access_token_ttl > LONG_MAX)
		return NULL;
#endif
	crypto_random(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), claims->jti);
	claims->iat = now;
	claims->exp = now + conf->access_token_ttl;
	(void)snprintf(sub, sizeof(sub), "%lld", claims->sub);
	(void)snprintf(sid, sizeof(sid), "%lld", claims->sid);

	if (jwt_new(&j) != 0)
		return NULL;
	if (jwt_add_grant(j, "iss", conf->jwt_issuer) == 0 &&
	    jwt_add_grant(j, "aud", conf->jwt_audience) == 0 &&
	    jwt_add_grant(j, "sub", sub) == 0 &&
	    jwt_add_grant(j, "sid", sid) == 0 &&
	    jwt_add_grant(j, "jti", claims->jti) == 0 &&
	    jwt_add_grant_int(j, "iat", (long)claims->iat) == 0 &&
	    jwt_add_grant_int(j, "exp", (long)claims->exp) == 0 &&
	    jwt_add_grant(j, "typ", "access") == 0 &&
	    jwt_add_grant_int(j, "gen", (long)claims->gen) == 0 &&
	    jwt_add_grant(j, "fgp", claims->fgp) == 0 &&
	    jwt_add_header(j, "kid", conf->jwt_kid) == 0 &&
	    jwt_set_alg(j, JWT_ALG_HS256, conf->jwt_key,
	    (int)conf->jwt_key_len) == 0)
		tok = jwt_encode_str(j);
	jwt_free(j);
	return tok;
}

/* Returns 1 when a and b are the same 64-hex fingerprint, in constant time. */
int
token_fgp_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL || strnlen(a, 65) != 64 ||
	    strnlen(b, 65) != 64)
		return 0;
	return crypto_equal(a, b, 64);
}

/*
 * The fingerprint a token is bound to: hex SHA-256 of the User-Agent, with
 * "\n" and the client's network ("192.0.2.0/24", "2001:db8:1:2::/64")
 * appended when bind_ip is set, so a token lifted to another browser or
 * network is refused.  The network text holds no newline, so the last one
 * separates it from any User-Agent.  A missing address leaves the network
 * empty.
 */
void
token_fingerprint(const char *ua, const struct ipaddr *client, char out[65])
{
	struct ipaddr	 net;
	unsigned char	 d[32];
	char		 addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
	char		*msg;
	size_t		 ualen, tlen;
	int		 v6;

	if (ua == NULL)
		ua = "";
	ualen = strlen(ua);
	if (!conf->bind_ip) {
		crypto_sha256(ua, ualen, d);
		hex_encode(d, sizeof(d), out);
		return;
	}
	text[0] = '\0';
	if (client != NULL) {
		v6 = conf->ipv6_prefix < 0 ? 0 : conf->ipv6_prefix > 128 ?
		    128 : (int)conf->ipv6_prefix;
		net = *client;
		ipaddr_truncate(&net, 24, v6);
		if (ipaddr_format(&net, addr, sizeof(addr)) == 0)
			(void)snprintf(text, sizeof(text), "%s/%d", addr,
			    net.family == AF_INET ? 24 : v6);
	}
	tlen = strlen(text);
	if (ualen > SIZE_MAX - 1 - tlen || (msg = malloc(ualen + 1 + tlen)) ==
	    NULL)
		fatal("token_fingerprint");
	memcpy(msg, ua, ualen);
	msg[ualen] = '\n';
	memcpy(msg + ualen + 1, text, tlen);
	crypto_sha256(msg, ualen + 1 + tlen, d);
	free(msg);
	hex_encode(d, sizeof(d), out);
}

/*
 * K_refresh for a JWT key: HMAC-SHA256(key, "aspida refresh key v1"), so a
 * refresh MAC can never be confused with a JWT signature.  Returns 0, or -1.
 */
static int
token_refresh_key(const unsigned char *key, size_t keylen,
    unsigned char out[32])
{
	return crypto_hmac_sha256(key, keylen, REFRESH_KEY_LABEL,
	    sizeof(REFRESH_KEY_LABEL) - 1, out);
}

/* The MAC of raw[0..16) (family, counter) under kr.  Returns 0, or -1. */
static int
token_refresh_mac(const unsigned char kr[32], const unsigned char *raw,
    unsigned char mac[32])
{
	unsigned char	msg[sizeof(REFRESH_MAC_LABEL) - 1 + 16];

	memcpy(msg, REFRESH_MAC_LABEL, sizeof(REFRESH_MAC_LABEL) - 1);
	memcpy(msg + sizeof(REFRESH_MAC_LABEL) - 1, raw, 16);
	return crypto_hmac_sha256(kr, 32, msg, sizeof(msg), mac);
}

/* Returns 1 when raw's MAC is right under the derivation of key. */
static int
token_refresh_check(const unsigned char *key, size_t keylen,
    const unsigned char raw[REFRESH_RAW])
{
	unsigned char	kr[32], mac[32];
	int		ok = 0;

	if (token_refresh_key(key, keylen, kr) == 0 &&
	    token_refresh_mac(kr, raw, mac) == 0)
		ok = crypto_equal(mac, raw + 16, 32);
	explicit_bzero(kr, sizeof(kr));
	explicit_bzero(mac, sizeof(mac));
	return ok;
}

/* Returns a refresh token for family and counter (free() it), or NULL. */
char *
token_mint_refresh(long long family, long long counter)
{
	unsigned char	 raw[REFRESH_RAW], kr[32];
	char		*tok;
	int		 i, rc;

	if (family <= 0 || counter < 0 ||
	    conf->jwt_key_len > sizeof(conf->jwt_key))
		return NULL;
	for (i = 0; i < 8; i++) {
		raw[i] = (unsigned char)((unsigned long long)family >>
		    (56 - 8 * i));
		raw[8 + i] = (unsigned char)((unsigned long long)counter >>
		    (56 - 8 * i));
	}
	rc = token_refresh_key(conf->jwt_key, conf->jwt_key_len, kr);
	if (rc == 0)
		rc = token_refresh_mac(kr, raw, raw + 16);
	explicit_bzero(kr, sizeof(kr));
	if (rc == -1 || (tok = malloc(REFRESH_LEN + 1)) == NULL)
		return NULL;
	memcpy(tok, REFRESH_PREFIX, sizeof(REFRESH_PREFIX) - 1);
	if (b64url_encode(raw, sizeof(raw), tok + sizeof(REFRESH_PREFIX) - 1,
	    REFRESH_B64 + 1) != REFRESH_B64) {
		free(tok);
		return NULL;
	}
	return tok;
}

/*
 * Opens a refresh token made under the current key's derivation or, while
 * it is configured, the previous key's.  Returns 0 with the family and
 * counter, or -1 for anything forged, altered or malformed.
 */
int
token_parse_refresh(const char *tok, long long *family, long long *counter)
{
	unsigned char		raw[REFRESH_RAW];
	unsigned long long	f = 0, n = 0;
	size_t			len;
	int			i;

	if (tok == NULL || strnlen(tok, REFRESH_LEN + 1) != REFRESH_LEN ||
	    strncmp(tok, REFRESH_PREFIX, sizeof(REFRESH_PREFIX) - 1) != 0 ||
	    b64url_decode(tok + sizeof(REFRESH_PREFIX) - 1, REFRESH_B64, raw,
	    sizeof(raw), &len) == -1 || len != sizeof(raw))
		return -1;
	if (!(conf->jwt_key_len <= sizeof(conf->jwt_key) &&
	    token_refresh_check(conf->jwt_key, conf->jwt_key_len, raw)) &&
	    !(conf->jwt_previous_key_len > 0 &&
	    conf->jwt_previous_key_len <= sizeof(conf->jwt_previous_key) &&
	    token_refresh_check(conf->jwt_previous_key,
	    conf->jwt_previous_key_len, raw)))
		return -1;
	for (i = 0; i < 8; i++) {
		f = f << 8 | raw[i];
		n = n << 8 | raw[8 + i];
	}
	if (f == 0 || f > LLONG_MAX || n > LLONG_MAX)
		return -1;
	*family = (long long)f;
	*counter = (long long)n;
	return 0;
}

/*
 * The CSRF token of a cookie session whose access token has this jti: hex
 * HMAC-SHA256(csrf_secret, "aspida-csrf-v1" || jti).  Returns 0, or -1
 * (with out empty, which the caller must never accept) when the secret is
 * missing or jti is empty or too long.
 */
int
token_csrf(const char *jti, char out[65])
{
	unsigned char	msg[sizeof(CSRF_LABEL) - 1 + CSRF_JTI_MAX];
	unsigned char	mac[32];
	size_t		len;

	out[0] = '\0';
	if (jti == NULL || (len = strnlen(jti, CSRF_JTI_MAX + 1)) == 0 ||
	    len > CSRF_JTI_MAX ||
	    conf->csrf_secret_len > sizeof(conf->csrf_secret))
		return -1;
	memcpy(msg, CSRF_LABEL, sizeof(CSRF_LABEL) - 1);
	memcpy(msg + sizeof(CSRF_LABEL) - 1, jti, len);
	if (crypto_hmac_sha256(conf->csrf_secret, conf->csrf_secret_len, msg,
	    sizeof(CSRF_LABEL) - 1 + len, mac) == -1)
		return -1;
	hex_encode(mac, sizeof(mac), out);
	explicit_bzero(mac, sizeof(mac));
	return 0;
}
