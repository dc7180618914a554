/*
 * check_token.c - access JWTs, refresh tokens, fingerprints and CSRF
 * tokens.  Hostile tokens are crafted here with the fixture's keys, so
 * their signatures are valid wherever a case needs the check behind the
 * signature to be the one that refuses them; for the cases libjwt 1.10.2
 * itself lets through (HS512, "hs256", duplicate claims, string or float
 * exp, expiry) the test first shows libjwt accepting the token, so the
 * refusal is proven to be token.c's own.  Clocks and keys are fixed.
 */
#include "config.h"

#include <sys/socket.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>
#include <json-c/json.h>
#include <jwt.h>

#include "aspida.h"
#include "check_aspida.h"

#define NOW		1800000000LL
#define S_IAT		"1800000000"
#define S_EXP		"1800000900"
#define TTL		900
#define LEEWAY		30
#define JTI		"00112233445566778899aabbccddeeff"
#define FGP		"0123456789abcdef0123456789abcdef" \
			"0123456789abcdef0123456789abcdef"
#define GOOD_HEADER	"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k2\"}"
#define PREV_HEADER	"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"
#define TOKBUF		8192

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char kid_cur[] = "k2";
static char kid_prev[] = "k1";
static char issuer[] = "aspida";
static char audience[] = "aspida-api";

static unsigned char key_cur[32], key_prev[32], key_other[32];

enum which_key {
	KEY_CUR,
	KEY_PREV,
	KEY_OTHER
};

static const unsigned char *
key_of(enum which_key k)
{
	return k == KEY_CUR ? key_cur : k == KEY_PREV ? key_prev : key_other;
}

static void
setup(void)
{
	size_t	i;

	check_conf_setup();
	for (i = 0; i < 32; i++) {
		key_cur[i] = (unsigned char)(0x10 + i);
		key_prev[i] = (unsigned char)(0x80 + i);
		key_other[i] = (unsigned char)(0xc0 + i);
	}
	conf->jwt_kid = kid_cur;
	memcpy(conf->jwt_key, key_cur, 32);
	conf->jwt_key_len = 32;
	conf->jwt_previous_kid = kid_prev;
	memcpy(conf->jwt_previous_key, key_prev, 32);
	conf->jwt_previous_key_len = 32;
	conf->jwt_issuer = issuer;
	conf->jwt_audience = audience;
	conf->access_token_ttl = TTL;
	conf->refresh_token_ttl = 604800;
	conf->jwt_leeway = LEEWAY;
	conf->bind_ip = 0;
	conf->ipv6_prefix = 64;
	memset(conf->csrf_secret, 'c', 32);
	conf->csrf_secret_len = 32;
}

static void
teardown(void)
{
	check_conf_setup();
}

enum sig {
	SIG_HS256,
	SIG_HS512,
	SIG_NONE,	/* empty signature */
	SIG_JUNK	/* 32 bytes that are no MAC */
};

/* HMAC-SHA512 straight from libgcrypt: crypto.c has no use for it. */
static void
hmac_sha512(const unsigned char *key, size_t keylen, const void *msg,
    size_t len, unsigned char out[64])
{
	gcry_mac_hd_t	h;
	size_t		n = 64;

	ck_assert_int_eq(gcry_mac_open(&h, GCRY_MAC_HMAC_SHA512, 0, NULL), 0);
	ck_assert_int_eq(gcry_mac_setkey(h, key, keylen), 0);
	ck_assert_int_eq(gcry_mac_write(h, msg, len), 0);
	ck_assert_int_eq(gcry_mac_read(h, out, &n), 0);
	ck_assert_uint_eq(n, 64);
	gcry_mac_close(h);
}

/* b64url(hdr) "." b64url(payload) "." b64url(signature) into out. */
static void
craft(char *out, size_t size, const char *hdr, const char *payload,
    enum sig sig, enum which_key k)
{
	unsigned char	mac[64];
	size_t		n, maclen = 0;
	int		r;

	r = b64url_encode((const unsigned char *)hdr, strlen(hdr), out, size);
	ck_assert_int_ge(r, 0);
	n = (size_t)r;
	ck_assert_uint_lt(n + 1, size);
	out[n++] = '.';
	r = b64url_encode((const unsigned char *)payload, strlen(payload),
	    out + n, size - n);
	ck_assert_int_ge(r, 0);
	n += (size_t)r;
	switch (sig) {
	case SIG_HS256:
		ck_assert_int_eq(crypto_hmac_sha256(key_of(k), 32, out, n,
		    mac), 0);
		maclen = 32;
		break;
	case SIG_HS512:
		hmac_sha512(key_of(k), 32, out, n, mac);
		maclen = 64;
		break;
	case SIG_NONE:
		break;
	case SIG_JUNK:
		memset(mac, 0x5a, 32);
		maclen = 32;
		break;
	}
	ck_assert_uint_lt(n + 1, size);
	out[n++] = '.';
	ck_assert_int_ge(b64url_encode(mac, maclen, out + n, size - n), 0);
}

/* The claims of a good token, in the order token.c mints them. */
static const struct {
	const char	*name;
	const char	*value;
} good_claims[] = {
	{ "iss", "\"aspida\"" },
	{ "aud", "\"aspida-api\"" },
	{ "sub", "\"42\"" },
	{ "sid", "\"7\"" },
	{ "jti", "\"" JTI "\"" },
	{ "iat", S_IAT },
	{ "exp", S_EXP },
	{ "typ", "\"access\"" },
	{ "gen", "3" },
	{ "fgp", "\"" FGP "\"" },
};

/* As a value: leave the claim out. */
#define OMIT	((const char *)-1)

static const char *const no_change[] = { NULL };

/*
 * The good claims with those named in ov (pairs of name and raw JSON value
 * or OMIT, ended by a NULL name) replaced, then extra ("\"k\":v") appended.
 */
static void
payload(char *out, size_t size, const char *const *ov, const char *extra)
{
	const char	*v;
	size_t		 i, k, o = 0;
	int		 r, first = 1;

	out[o++] = '{';
	for (i = 0; i < sizeof(good_claims) / sizeof(good_claims[0]); i++) {
		v = good_claims[i].value;
		for (k = 0; ov[k] != NULL; k += 2)
			if (strcmp(good_claims[i].name, ov[k]) == 0)
				v = ov[k + 1];
		if (v == OMIT)
			continue;
		r = snprintf(out + o, size - o, "%s\"%s\":%s", first ? "" : ",",
		    good_claims[i].name, v);
		ck_assert(r > 0 && (size_t)r < size - o);
		o += (size_t)r;
		first = 0;
	}
	if (extra != NULL) {
		r = snprintf(out + o, size - o, ",%s", extra);
		ck_assert(r > 0 && (size_t)r < size - o);
		o += (size_t)r;
	}
	ck_assert_uint_lt(o + 1, size);
	out[o++] = '}';
	out[o] = '\0';
}

/*
 * A good token under kid, HS256-signed with a key too short for
 * crypto_hmac_sha256 (which refuses one), so straight from libgcrypt.
 */
static void
craft_short_key(char *out, size_t size, const char *kid,
    const unsigned char *key, size_t keylen)
{
	gcry_mac_hd_t	 h;
	unsigned char	 mac[32];
	char		 pl[1024], hdr[128];
	size_t		 n = 32, len;

	payload(pl, sizeof(pl), no_change, NULL);
	(void)snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
	craft(out, size, hdr, pl, SIG_NONE, KEY_CUR);
	len = strlen(out);
	ck_assert_int_eq(gcry_mac_open(&h, GCRY_MAC_HMAC_SHA256, 0, NULL), 0);
	ck_assert_int_eq(gcry_mac_setkey(h, key, keylen), 0);
	ck_assert_int_eq(gcry_mac_write(h, out, len - 1), 0);
	ck_assert_int_eq(gcry_mac_read(h, mac, &n), 0);
	gcry_mac_close(h);
	ck_assert_int_eq(b64url_encode(mac, sizeof(mac), out + len, size - len),
	    43);
}

/* A good token, signed by the current key. */
static void
good_token(char *out, size_t size)
{
	char	pl[1024];

	payload(pl, sizeof(pl), no_change, NULL);
	craft(out, size, GOOD_HEADER, pl, SIG_HS256, KEY_CUR);
}

/* 1 when libjwt alone, given key, takes the token; alg as it reports it. */
static int
libjwt_accepts(const char *tok, enum which_key k, jwt_alg_t *alg)
{
	jwt_t	*j = NULL;

	if (jwt_decode(&j, tok, key_of(k), 32) != 0)
		return 0;
	if (alg != NULL)
		*alg = jwt_get_alg(j);
	jwt_free(j);
	return 1;
}

static enum token_status
verify(const char *tok)
{
	struct token_claims	c;
	enum token_status	st;

	memset(&c, 0x55, sizeof(c));
	st = token_verify_access(tok, NOW, &c);
	if (st == TOKEN_INVALID)
		ck_assert_msg(c.sub == 0 && c.sid == 0 && c.exp == 0 &&
		    c.jti[0] == '\0', "claims left behind for a bad token");
	return st;
}

static const char *
status_name(enum token_status st)
{
	return st == TOKEN_OK ? "OK" : st == TOKEN_EXPIRED ? "EXPIRED" :
	    st == TOKEN_INVALID ? "INVALID" : "?";
}

START_TEST(test_roundtrip)
{
	struct token_claims	 c, v;
	struct json_object	*o, *x;
	unsigned char		 raw[512];
	char			*tok, *tok2, *dot;
	size_t			 n;

	memset(&c, 0, sizeof(c));
	c.sub = 42;
	c.sid = 7;
	c.gen = 3;
	memcpy(c.fgp, FGP, sizeof(c.fgp));
	tok = token_mint_access(&c, NOW);
	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(c.iat, NOW);
	ck_assert_int_eq(c.exp, NOW + TTL);
	ck_assert_uint_eq(strspn(c.jti, "0123456789abcdef"), 32);
	ck_assert_uint_eq(strlen(c.jti), 32);

	ck_assert_int_eq(token_verify_access(tok, NOW, &v), TOKEN_OK);
	ck_assert_int_eq(v.sub, 42);
	ck_assert_int_eq(v.sid, 7);
	ck_assert_int_eq(v.gen, 3);
	ck_assert_int_eq(v.iat, NOW);
	ck_assert_int_eq(v.exp, NOW + TTL);
	ck_assert_str_eq(v.jti, c.jti);
	ck_assert_str_eq(v.fgp, FGP);

	/* The JOSE header as API.md has it. */
	dot = strchr(tok, '.');
	ck_assert_ptr_nonnull(dot);
	ck_assert_int_eq(b64url_decode(tok, (size_t)(dot - tok), raw,
	    sizeof(raw) - 1, &n), 0);
	raw[n] = '\0';
	o = json_tokener_parse((const char *)raw);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "alg", &x));
	ck_assert_str_eq(json_object_get_string(x), "HS256");
	ck_assert(json_object_object_get_ex(o, "typ", &x));
	ck_assert_str_eq(json_object_get_string(x), "JWT");
	ck_assert(json_object_object_get_ex(o, "kid", &x));
	ck_assert_str_eq(json_object_get_string(x), "k2");
	json_object_put(o);

	/* Claims with their JSON types: ids as strings, numbers as ints. */
	ck_assert_int_eq(b64url_decode(dot + 1, strcspn(dot + 1, "."), raw,
	    sizeof(raw) - 1, &n), 0);
	raw[n] = '\0';
	o = json_tokener_parse((const char *)raw);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "sub", &x));
	ck_assert(json_object_is_type(x, json_type_string));
	ck_assert_str_eq(json_object_get_string(x), "42");
	ck_assert(json_object_object_get_ex(o, "sid", &x));
	ck_assert(json_object_is_type(x, json_type_string));
	ck_assert(json_object_object_get_ex(o, "aud", &x));
	ck_assert(json_object_is_type(x, json_type_string));
	ck_assert_str_eq(json_object_get_string(x), "aspida-api");
	ck_assert(json_object_object_get_ex(o, "iss", &x));
	ck_assert_str_eq(json_object_get_string(x), "aspida");
	ck_assert(json_object_object_get_ex(o, "typ", &x));
	ck_assert_str_eq(json_object_get_string(x), "access");
	ck_assert(json_object_object_get_ex(o, "gen", &x));
	ck_assert(json_object_is_type(x, json_type_int));
	ck_assert(json_object_object_get_ex(o, "exp", &x));
	ck_assert(json_object_is_type(x, json_type_int));
	ck_assert_int_eq(json_object_get_int64(x), NOW + TTL);
	json_object_put(o);

	/* A fresh jti each time. */
	tok2 = token_mint_access(&c, NOW);
	ck_assert_ptr_nonnull(tok2);
	ck_assert_str_ne(tok, tok2);
	ck_assert_str_ne(c.jti, v.jti);
	free(tok);
	free(tok2);

	/* Our crafting matches: a crafted good token passes too. */
	{
		char	t[TOKBUF];

		good_token(t, sizeof(t));
		ck_assert_int_eq(verify(t), TOKEN_OK);
	}
}
END_TEST

START_TEST(test_mint_refuses)
{
	struct token_claims	 c;
	char			*tok;

	memset(&c, 0, sizeof(c));
	c.sub = 42;
	c.sid = 7;
	c.gen = 0;
	memcpy(c.fgp, FGP, sizeof(c.fgp));
	tok = token_mint_access(&c, NOW);
	ck_assert_ptr_nonnull(tok);
	free(tok);

	c.sub = 0;
	ck_assert_ptr_null(token_mint_access(&c, NOW));
	c.sub = 42;
	c.sid = -1;
	ck_assert_ptr_null(token_mint_access(&c, NOW));
	c.sid = 7;
	c.gen = -1;
	ck_assert_ptr_null(token_mint_access(&c, NOW));
	c.gen = 0;
	c.fgp[10] = 'X';
	ck_assert_ptr_null(token_mint_access(&c, NOW));
	memcpy(c.fgp, FGP, sizeof(c.fgp));
	ck_assert_ptr_null(token_mint_access(&c, 0));
	ck_assert_ptr_null(token_mint_access(&c, LLONG_MAX - 10));
	conf->jwt_key_len = 31;
	ck_assert_ptr_null(token_mint_access(&c, NOW));
	conf->jwt_key_len = 0;
	ck_assert_ptr_null(token_mint_access(&c, NOW));
}
END_TEST

/* A previous-kid token works only while the previous key is configured. */
START_TEST(test_previous_kid)
{
	char	pl[1024], t[TOKBUF];

	payload(pl, sizeof(pl), no_change, NULL);
	craft(t, sizeof(t), PREV_HEADER, pl, SIG_HS256, KEY_PREV);
	ck_assert_int_eq(verify(t), TOKEN_OK);
	/* The previous kid must come with the previous key. */
	craft(t, sizeof(t), PREV_HEADER, pl, SIG_HS256, KEY_CUR);
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
	craft(t, sizeof(t), GOOD_HEADER, pl, SIG_HS256, KEY_PREV);
	ck_assert_int_eq(verify(t), TOKEN_INVALID);

	craft(t, sizeof(t), PREV_HEADER, pl, SIG_HS256, KEY_PREV);
	conf->jwt_previous_key_len = 0;
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
	conf->jwt_previous_key_len = 32;
	ck_assert_int_eq(verify(t), TOKEN_OK);
	/* A stub of a key is never used, even under its kid. */
	conf->jwt_previous_key_len = 16;
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
	craft_short_key(t, sizeof(t), "k1", key_prev, 16);
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
}
END_TEST

/*
 * No configured key means no signature check in libjwt (NULL or length 0):
 * a kid without a key must be refused, not waved through unverified.
 */
START_TEST(test_no_key)
{
	char	pl[1024], t[TOKBUF];

	payload(pl, sizeof(pl), no_change, NULL);
	conf->jwt_previous_key_len = 0;
	craft(t, sizeof(t), PREV_HEADER, pl, SIG_JUNK, KEY_PREV);
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
	craft(t, sizeof(t), GOOD_HEADER, pl, SIG_JUNK, KEY_CUR);
	conf->jwt_key_len = 0;
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
	craft_short_key(t, sizeof(t), "k2", key_cur, 16);
	conf->jwt_key_len = 16;
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
	/* libjwt itself, given no key, would take the junk-signed one. */
	craft(t, sizeof(t), GOOD_HEADER, pl, SIG_JUNK, KEY_CUR);
	{
		jwt_t	*j = NULL;

		ck_assert_int_eq(jwt_decode(&j, t, NULL, 0), 0);
		jwt_free(j);
	}
}
END_TEST

/* Rotating keys: tokens minted before the rotation still verify. */
START_TEST(test_rotation)
{
	static char		 k3[] = "k3";
	struct token_claims	 c, v;
	char			*tok;

	memset(&c, 0, sizeof(c));
	c.sub = 9;
	c.sid = 9;
	memcpy(c.fgp, FGP, sizeof(c.fgp));
	tok = token_mint_access(&c, NOW);
	ck_assert_ptr_nonnull(tok);

	conf->jwt_previous_kid = kid_cur;
	memcpy(conf->jwt_previous_key, key_cur, 32);
	conf->jwt_kid = k3;
	memcpy(conf->jwt_key, key_other, 32);
	ck_assert_int_eq(token_verify_access(tok, NOW, &v), TOKEN_OK);
	ck_assert_int_eq(v.sub, 9);
	conf->jwt_previous_key_len = 0;
	ck_assert_int_eq(token_verify_access(tok, NOW, &v), TOKEN_INVALID);
	free(tok);
}
END_TEST

struct hdrrow {
	int		 line;
	const char	*hdr;
	enum sig	 sig;
	enum which_key	 key;
	int		 libjwt;	/* 1: libjwt alone accepts it */
	enum token_status want;
};

static const struct hdrrow hdrrows[] = {
	{ __LINE__, GOOD_HEADER, SIG_HS256, KEY_CUR, 1, TOKEN_OK },
	{ __LINE__, "{\"alg\":\"HS256\",\"kid\":\"k2\"}", SIG_HS256, KEY_CUR,
	  1, TOKEN_OK },
	{ __LINE__, "{\"kid\":\"k2\",\"typ\":\"JWT\",\"alg\":\"HS256\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_OK },
	/* alg none, any case, with and without a signature */
	{ __LINE__, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_NONE, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"NONE\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"nOnE\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_NONE, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"None\",\"kid\":\"k2\"}", SIG_JUNK, KEY_CUR, 0,
	  TOKEN_INVALID },
	/* other algorithms, even signed with our key */
	{ __LINE__, "{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_HS512, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"hs256\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"Hs256\",\"kid\":\"k2\"}", SIG_HS256, KEY_CUR,
	  1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_JUNK, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"ES256\",\"kid\":\"k2\"}", SIG_HS256, KEY_CUR,
	  0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256 \",\"kid\":\"k2\"}", SIG_HS256, KEY_CUR,
	  0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":[\"HS256\"],\"kid\":\"k2\"}", SIG_HS256, KEY_CUR,
	  0, TOKEN_INVALID },
	{ __LINE__, "{\"typ\":\"JWT\",\"kid\":\"k2\"}", SIG_HS256, KEY_CUR, 0,
	  TOKEN_INVALID },
	/* kid */
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", SIG_HS256, KEY_CUR,
	  1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k3\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"K2\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":2}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":null}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":[\"k2\"]}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k2\\u0000\"}",
	  SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	/* wrong key for the kid */
	{ __LINE__, GOOD_HEADER, SIG_HS256, KEY_OTHER, 0, TOKEN_INVALID },
	{ __LINE__, GOOD_HEADER, SIG_JUNK, KEY_CUR, 0, TOKEN_INVALID },
	/* typ */
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"jwt\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"typ\":1,\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	/* parameters we do not understand, crit above all */
	{ __LINE__, "{\"alg\":\"HS256\",\"kid\":\"k2\",\"crit\":[\"exp\"]}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"kid\":\"k2\",\"jku\":\"http://x\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	/* duplicates: whichever copy json-c or Jansson would keep */
	{ __LINE__, "{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"kid\":\"k3\",\"kid\":\"k2\"}",
	  SIG_HS256, KEY_CUR, 1, TOKEN_INVALID },
	/* not a strict JSON object */
	{ __LINE__, "[\"HS256\"]", SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "\"HS256\"", SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "", SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, GOOD_HEADER " x", SIG_HS256, KEY_CUR, 0, TOKEN_INVALID },
	{ __LINE__, "{'alg':'HS256','kid':'k2'}", SIG_HS256, KEY_CUR, 0,
	  TOKEN_INVALID },
	{ __LINE__, "{\"alg\":\"HS256\",\"kid\":\"k2\",}", SIG_HS256, KEY_CUR,
	  0, TOKEN_INVALID },
};

START_TEST(test_header)
{
	const struct hdrrow	*r = &hdrrows[_i];
	char			 pl[1024], t[TOKBUF];
	enum token_status	 st;

	payload(pl, sizeof(pl), no_change, NULL);
	craft(t, sizeof(t), r->hdr, pl, r->sig, r->key);
	if (r->libjwt)
		ck_assert_msg(libjwt_accepts(t, KEY_CUR, NULL),
		    "line %d: libjwt refuses it by itself", r->line);
	st = verify(t);
	ck_assert_msg(st == r->want, "line %d: %s, want %s", r->line,
	    status_name(st), status_name(r->want));
}
END_TEST

/* HS512 with our key really is what libjwt 1.10.2 would take. */
START_TEST(test_hs512_accepted_by_libjwt)
{
	char		pl[1024], t[TOKBUF];
	jwt_alg_t	alg = JWT_ALG_NONE;

	payload(pl, sizeof(pl), no_change, NULL);
	craft(t, sizeof(t),
	    "{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"k2\"}", pl,
	    SIG_HS512, KEY_CUR);
	ck_assert(libjwt_accepts(t, KEY_CUR, &alg));
	ck_assert_int_eq(alg, JWT_ALG_HS512);
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
}
END_TEST

struct claimrow {
	int		 line;
	const char	*name;		/* claim replaced, or NULL */
	const char	*value;		/* raw JSON, or OMIT */
	const char	*extra;		/* appended member */
	int		 libjwt;	/* 1: libjwt alone accepts it */
	enum token_status want;
};

static const struct claimrow claimrows[] = {
	{ __LINE__, NULL, NULL, NULL, 1, TOKEN_OK },
	{ __LINE__, NULL, NULL, "\"nbf\":1", 1, TOKEN_OK },
	{ __LINE__, "sub", "\"9223372036854775807\"", NULL, 1, TOKEN_OK },
	{ __LINE__, "gen", "0", NULL, 1, TOKEN_OK },
	/* iss, aud, typ: exact strings */
	{ __LINE__, "iss", "\"other\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iss", "\"Aspida\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iss", "\"aspida \"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iss", OMIT, NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iss", "[\"aspida\"]", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iss", "\"aspida\\u0000\"", NULL, 0, TOKEN_INVALID },
	{ __LINE__, "aud", "\"other\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "aud", "[\"aspida-api\"]", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "aud", "[\"aspida-api\",\"x\"]", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "aud", OMIT, NULL, 1, TOKEN_INVALID },
	{ __LINE__, "typ", "\"refresh\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "typ", "\"Access\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "typ", OMIT, NULL, 1, TOKEN_INVALID },
	/* sub, sid: decimal strings of positive integers */
	{ __LINE__, "sub", "\"admin\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"42x\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"0\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"-1\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"+42\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"042\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\" 42\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"9223372036854775808\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "\"99999999999999999999\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", "42", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sub", OMIT, NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sid", "\"x\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sid", "7", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "sid", OMIT, NULL, 1, TOKEN_INVALID },
	/* jti, fgp: lower-case hex of the exact length */
	{ __LINE__, "jti", "\"00112233445566778899aabbccddeef\"", NULL, 1,
	  TOKEN_INVALID },
	{ __LINE__, "jti", "\"00112233445566778899aabbccddeeff0\"", NULL, 1,
	  TOKEN_INVALID },
	{ __LINE__, "jti", "\"00112233445566778899AABBCCDDEEFF\"", NULL, 1,
	  TOKEN_INVALID },
	{ __LINE__, "jti", "\"0011223344556677889gaabbccddeeff\"", NULL, 1,
	  TOKEN_INVALID },
	{ __LINE__, "jti", OMIT, NULL, 1, TOKEN_INVALID },
	{ __LINE__, "fgp", "\"0123\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "fgp", "\"" FGP "0\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "fgp", "\"0123456789ABCDEF0123456789abcdef"
	  "0123456789abcdef0123456789abcdef\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "fgp", OMIT, NULL, 1, TOKEN_INVALID },
	/* iat, exp, gen: JSON integers */
	{ __LINE__, "exp", "\"" S_EXP "\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "exp", S_EXP ".0", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "exp", "1.8000009e9", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "exp", "true", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "exp", "null", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "exp", OMIT, NULL, 1, TOKEN_INVALID },
	{ __LINE__, "exp", "1799999999", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iat", "\"" S_IAT "\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iat", S_IAT ".5", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iat", OMIT, NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iat", "0", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "iat", "-5", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "gen", "\"3\"", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "gen", "3.0", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "gen", "-1", NULL, 1, TOKEN_INVALID },
	{ __LINE__, "gen", OMIT, NULL, 1, TOKEN_INVALID },
	/* duplicates: libjwt would keep the last */
	{ __LINE__, NULL, NULL, "\"sub\":\"1\"", 1, TOKEN_INVALID },
	{ __LINE__, NULL, NULL, "\"s\\u0075b\":\"1\"", 1, TOKEN_INVALID },
	{ __LINE__, NULL, NULL, "\"exp\":9999999999", 1, TOKEN_INVALID },
	{ __LINE__, NULL, NULL, "\"gen\":4", 1, TOKEN_INVALID },
	{ __LINE__, NULL, NULL, "\"typ\":\"access\"", 1, TOKEN_INVALID },
	/* an unknown claim nested too deep for a flat claim set */
	{ __LINE__, NULL, NULL, "\"x\":[[1]]", 1, TOKEN_INVALID },
};

START_TEST(test_claims)
{
	const struct claimrow	*r = &claimrows[_i];
	const char		*ov[] = { r->name, r->value, NULL };
	char			 pl[1024], t[TOKBUF];
	enum token_status	 st;

	payload(pl, sizeof(pl), ov, r->extra);
	craft(t, sizeof(t), GOOD_HEADER, pl, SIG_HS256, KEY_CUR);
	if (r->libjwt)
		ck_assert_msg(libjwt_accepts(t, KEY_CUR, NULL),
		    "line %d: libjwt refuses it by itself", r->line);
	st = verify(t);
	ck_assert_msg(st == r->want, "line %d: %s, want %s", r->line,
	    status_name(st), status_name(r->want));
}
END_TEST

/* The duplicate that matters: libjwt reads the second sub. */
START_TEST(test_duplicate_sub)
{
	char	pl[1024], t[TOKBUF];
	jwt_t	*j = NULL;

	payload(pl, sizeof(pl), no_change, "\"sub\":\"1\"");
	craft(t, sizeof(t), GOOD_HEADER, pl, SIG_HS256, KEY_CUR);
	ck_assert_int_eq(jwt_decode(&j, t, key_cur, 32), 0);
	ck_assert_str_eq(jwt_get_grant(j, "sub"), "1");
	jwt_free(j);
	ck_assert_int_eq(verify(t), TOKEN_INVALID);
}
END_TEST

START_TEST(test_payload_shape)
{
	static const char	*const bad[] = {
		"[1,2]", "\"x\"", "42", "{}", "null", "",
	};
	char			 t[TOKBUF];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		craft(t, sizeof(t), GOOD_HEADER, bad[i], SIG_HS256, KEY_CUR);
		ck_assert_msg(verify(t) == TOKEN_INVALID, "payload %s", bad[i]);
	}
}
END_TEST

struct timerow {
	int		 line;
	long long	 iat, exp, leeway;
	enum sig	 sig;
	const char	*iss;
	enum token_status want;
};

static const struct timerow timerows[] = {
	{ __LINE__, NOW, NOW + TTL, LEEWAY, SIG_HS256, NULL, TOKEN_OK },
	/* expiry, with the leeway honoured */
	{ __LINE__, NOW - TTL, NOW, LEEWAY, SIG_HS256, NULL, TOKEN_OK },
	{ __LINE__, NOW - TTL, NOW - LEEWAY, LEEWAY, SIG_HS256, NULL,
	  TOKEN_OK },
	{ __LINE__, NOW - TTL, NOW - LEEWAY - 1, LEEWAY, SIG_HS256, NULL,
	  TOKEN_EXPIRED },
	{ __LINE__, NOW - 2 * TTL, NOW - TTL, LEEWAY, SIG_HS256, NULL,
	  TOKEN_EXPIRED },
	{ __LINE__, NOW - TTL, NOW, 0, SIG_HS256, NULL, TOKEN_OK },
	{ __LINE__, NOW - TTL, NOW - 1, 0, SIG_HS256, NULL, TOKEN_EXPIRED },
	/* issued in the future */
	{ __LINE__, NOW + LEEWAY, NOW + TTL, LEEWAY, SIG_HS256, NULL,
	  TOKEN_OK },
	{ __LINE__, NOW + LEEWAY + 1, NOW + TTL + LEEWAY, LEEWAY, SIG_HS256,
	  NULL, TOKEN_INVALID },
	{ __LINE__, NOW + 1, NOW + TTL, 0, SIG_HS256, NULL, TOKEN_INVALID },
	{ __LINE__, NOW + 86400, NOW + 86400 + TTL, LEEWAY, SIG_HS256, NULL,
	  TOKEN_INVALID },
	/* EXPIRED only when all else is good, signature first */
	{ __LINE__, NOW - TTL, NOW - 100, LEEWAY, SIG_JUNK, NULL,
	  TOKEN_INVALID },
	{ __LINE__, NOW - TTL, NOW - 100, LEEWAY, SIG_NONE, NULL,
	  TOKEN_INVALID },
	{ __LINE__, NOW - TTL, NOW - 100, LEEWAY, SIG_HS512, NULL,
	  TOKEN_INVALID },
	{ __LINE__, NOW - TTL, NOW - 100, LEEWAY, SIG_HS256, "\"other\"",
	  TOKEN_INVALID },
	{ __LINE__, NOW - TTL, NOW - 100, LEEWAY, SIG_HS256, "1",
	  TOKEN_INVALID },
};

START_TEST(test_times)
{
	const struct timerow	*r = &timerows[_i];
	struct token_claims	 c;
	char			 pl[1024], t[TOKBUF], iat[24], exp[24];
	enum token_status	 st;
	const char		*ov[] = { "iat", iat, "exp", exp,
				    r->iss != NULL ? "iss" : NULL, r->iss,
				    NULL };

	conf->jwt_leeway = r->leeway;
	(void)snprintf(iat, sizeof(iat), "%lld", r->iat);
	(void)snprintf(exp, sizeof(exp), "%lld", r->exp);
	payload(pl, sizeof(pl), ov, NULL);
	craft(t, sizeof(t), GOOD_HEADER, pl, r->sig, KEY_CUR);
	memset(&c, 0, sizeof(c));
	st = token_verify_access(t, NOW, &c);
	ck_assert_msg(st == r->want, "line %d: %s, want %s", r->line,
	    status_name(st), status_name(r->want));
	if (st == TOKEN_EXPIRED) {
		ck_assert_msg(c.sub == 42 && c.exp == r->exp, "line %d",
		    r->line);
		/* libjwt alone never looks at exp */
		ck_assert_msg(libjwt_accepts(t, KEY_CUR, NULL), "line %d",
		    r->line);
	}
}
END_TEST

/* Every character of a good token, replaced: never OK, never EXPIRED. */
START_TEST(test_every_alteration)
{
	static const char	 extra[] = "+/=. %~\n\x80\xff";
	struct token_claims	 c;
	char			*tok, m[TOKBUF];
	size_t			 i, j, len, tried = 0;

	memset(&c, 0, sizeof(c));
	c.sub = 42;
	c.sid = 7;
	memcpy(c.fgp, FGP, sizeof(c.fgp));
	tok = token_mint_access(&c, NOW - 2 * TTL);	/* expired */
	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(verify(tok), TOKEN_EXPIRED);
	len = strlen(tok);
	ck_assert_uint_lt(len, sizeof(m));
	for (i = 0; i < len; i++) {
		for (j = 0; j < 64 + sizeof(extra) - 1; j += (j < 64 ? 7 : 1)) {
			memcpy(m, tok, len + 1);
			m[i] = j < 64 ? b64chars[j] : extra[j - 64];
			if (m[i] == tok[i])
				continue;
			tried++;
			ck_assert_msg(verify(m) == TOKEN_INVALID,
			    "position %zu changed to '%c' accepted", i, m[i]);
		}
		/* and the next one in the alphabet, so each byte changes */
		memcpy(m, tok, len + 1);
		if (strchr(b64chars, tok[i]) != NULL) {
			m[i] = b64chars[(strchr(b64chars, tok[i]) - b64chars +
			    1) % 64];
			ck_assert_msg(verify(m) == TOKEN_INVALID,
			    "position %zu +1 accepted", i);
		}
		/* cut short here */
		memcpy(m, tok, i);
		m[i] = '\0';
		ck_assert_msg(verify(m) == TOKEN_INVALID, "cut at %zu", i);
	}
	ck_assert_uint_gt(tried, len * 10);
	free(tok);
}
END_TEST

START_TEST(test_segments)
{
	char	t[TOKBUF], m[TOKBUF * 2];
	char	*d1, *d2;

	good_token(t, sizeof(t));
	ck_assert_int_eq(verify(t), TOKEN_OK);
	d1 = strchr(t, '.');
	d2 = strchr(d1 + 1, '.');

	/* two segments */
	(void)snprintf(m, sizeof(m), "%.*s", (int)(d2 - t), t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "%s", t);
	m[d2 - t] = '\0';
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	/* four */
	(void)snprintf(m, sizeof(m), "%s.%s", t, d2 + 1);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "%s.", t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "%.*s.%s", (int)(d2 - t), t, d1 + 1);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	/* one, empty ones */
	(void)snprintf(m, sizeof(m), "%.*s", (int)(d1 - t), t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), ".%s", d1 + 1);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "%.*s.%s", (int)(d1 - t), t, d2);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	ck_assert_int_eq(verify(""), TOKEN_INVALID);
	ck_assert_int_eq(verify(".."), TOKEN_INVALID);
	ck_assert_int_eq(verify("..."), TOKEN_INVALID);
	ck_assert_int_eq(verify(NULL), TOKEN_INVALID);
	/* surrounding space, Bearer prefix, padding */
	(void)snprintf(m, sizeof(m), " %s", t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "%s\n", t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "Bearer %s", t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
	(void)snprintf(m, sizeof(m), "%s=", t);
	ck_assert_int_eq(verify(m), TOKEN_INVALID);
}
END_TEST

/*
 * The 4096-byte bound: the longest good token that fits is accepted, the
 * first that does not is refused, and a huge one is refused without
 * reaching libjwt's alloca().
 */
START_TEST(test_length)
{
	char		 pl[4096], pad[4096], t[TOKBUF], *huge;
	size_t		 m, len, best = 0, over = 0;
	const size_t	 hugelen = 4 * 1024 * 1024;

	for (m = 2600; m < 2800; m++) {
		memset(pad, 'p', m);
		memcpy(pad, "\"pad\":\"", 7);
		pad[m - 1] = '"';
		pad[m] = '\0';
		payload(pl, sizeof(pl), no_change, pad);
		craft(t, sizeof(t), GOOD_HEADER, pl, SIG_HS256, KEY_CUR);
		len = strlen(t);
		if (len <= 4096) {
			ck_assert_msg(verify(t) == TOKEN_OK, "length %zu", len);
			best = len > best ? len : best;
		} else {
			ck_assert_msg(verify(t) == TOKEN_INVALID, "length %zu",
			    len);
			over = over == 0 || len < over ? len : over;
		}
	}
	ck_assert_uint_ge(best, 4094);
	ck_assert_uint_le(over, 4098);
	ck_assert_uint_gt(over, 4096);

	huge = malloc(hugelen + 1);
	ck_assert_ptr_nonnull(huge);
	good_token(t, sizeof(t));
	memset(huge, 'A', hugelen);
	huge[hugelen] = '\0';
	ck_assert_int_eq(verify(huge), TOKEN_INVALID);
	/* A well-shaped one: header, a 4 MiB payload, a signature. */
	memcpy(huge, t, strchr(t, '.') - t + 1);
	memcpy(huge + hugelen - 44, strrchr(t, '.'), 44);
	ck_assert_int_eq(verify(huge), TOKEN_INVALID);
	free(huge);
}
END_TEST

/* What token.c documents, rebuilt here from the primitives. */
static void
refresh_expected(const unsigned char *key, long long family,
    long long counter, char *out, size_t size)
{
	static const char	label[] = "aspida-refresh-v1";
	unsigned char		kr[32], raw[48];
	unsigned char		msg[sizeof(label) - 1 + 16];
	int			i;

	ck_assert_int_eq(crypto_hmac_sha256(key, 32, "aspida refresh key v1",
	    21, kr), 0);
	for (i = 0; i < 8; i++) {
		raw[i] = (unsigned char)((unsigned long long)family >>
		    (56 - 8 * i));
		raw[8 + i] = (unsigned char)((unsigned long long)counter >>
		    (56 - 8 * i));
	}
	memcpy(msg, label, sizeof(label) - 1);
	memcpy(msg + sizeof(label) - 1, raw, 16);
	ck_assert_int_eq(crypto_hmac_sha256(kr, 32, msg, sizeof(msg),
	    raw + 16), 0);
	ck_assert_uint_gt(size, 3);
	memcpy(out, "rt.", 3);
	ck_assert_int_eq(b64url_encode(raw, sizeof(raw), out + 3, size - 3),
	    64);
}

struct rtrow {
	int		 line;
	long long	 family, counter;
};

static const struct rtrow rtrows[] = {
	{ __LINE__, 1, 0 },
	{ __LINE__, 5, 1 },
	{ __LINE__, 123456789, 987654321 },
	{ __LINE__, LLONG_MAX, LLONG_MAX },
	{ __LINE__, 0x0102030405060708LL, 0x1112131415161718LL },
};

START_TEST(test_refresh_roundtrip)
{
	const struct rtrow	*r = &rtrows[_i];
	long long		 f = -7, n = -7;
	char			*tok, want[80];

	tok = token_mint_refresh(r->family, r->counter);
	ck_assert_ptr_nonnull(tok);
	ck_assert_msg(strlen(tok) == 67, "line %d: %s", r->line, tok);
	refresh_expected(key_cur, r->family, r->counter, want, sizeof(want));
	ck_assert_msg(strcmp(tok, want) == 0, "line %d: %s != %s", r->line,
	    tok, want);
	ck_assert_msg(token_parse_refresh(tok, &f, &n) == 0, "line %d",
	    r->line);
	ck_assert_msg(f == r->family && n == r->counter, "line %d: %lld %lld",
	    r->line, f, n);
	free(tok);
}
END_TEST

static int
refresh_ok(const char *tok)
{
	long long	f = -7, n = -7;

	if (token_parse_refresh(tok, &f, &n) == 0)
		return 1;
	ck_assert_msg(f == -7 && n == -7, "values written for a bad token");
	return 0;
}

START_TEST(test_refresh_alterations)
{
	static const char	 extra[] = "+/=. %~\n\x80\xff";
	char			*tok, m[128];
	size_t			 i, j, len;

	tok = token_mint_refresh(77, 3);
	ck_assert_ptr_nonnull(tok);
	ck_assert(refresh_ok(tok));
	len = strlen(tok);
	for (i = 0; i < len; i++) {
		for (j = 0; j < 64 + sizeof(extra) - 1; j++) {
			memcpy(m, tok, len + 1);
			m[i] = j < 64 ? b64chars[j] : extra[j - 64];
			if (m[i] == tok[i])
				continue;
			ck_assert_msg(!refresh_ok(m),
			    "position %zu changed to '%c' accepted", i, m[i]);
		}
		memcpy(m, tok, i);
		m[i] = '\0';
		ck_assert_msg(!refresh_ok(m), "cut at %zu", i);
	}
	(void)snprintf(m, sizeof(m), "%sA", tok);
	ck_assert(!refresh_ok(m));
	(void)snprintf(m, sizeof(m), " %s", tok);
	ck_assert(!refresh_ok(m));
	(void)snprintf(m, sizeof(m), "%s", tok);
	m[0] = 'R';
	ck_assert(!refresh_ok(m));
	ck_assert(!refresh_ok(NULL));
	ck_assert(!refresh_ok(""));
	ck_assert(!refresh_ok("rt."));
	free(tok);
}
END_TEST

/* A MAC that is right for another (family, counter) proves nothing. */
START_TEST(test_refresh_splice)
{
	unsigned char	a[48], b[48];
	char		ta[80], tb[80], m[80];
	size_t		n;

	refresh_expected(key_cur, 10, 1, ta, sizeof(ta));
	refresh_expected(key_cur, 10, 2, tb, sizeof(tb));
	ck_assert(refresh_ok(ta));
	ck_assert(refresh_ok(tb));
	ck_assert_int_eq(b64url_decode(ta + 3, 64, a, sizeof(a), &n), 0);
	ck_assert_int_eq(b64url_decode(tb + 3, 64, b, sizeof(b), &n), 0);
	memcpy(a + 16, b + 16, 32);	/* counter 1 with counter 2's MAC */
	memcpy(m, "rt.", 3);
	ck_assert_int_eq(b64url_encode(a, sizeof(a), m + 3, sizeof(m) - 3),
	    64);
	ck_assert(!refresh_ok(m));
	/* A MAC under the JWT key itself, not the derived one. */
	a[15] = 1;
	ck_assert_int_eq(crypto_hmac_sha256(key_cur, 32, a, 16, a + 16), 0);
	ck_assert_int_eq(b64url_encode(a, sizeof(a), m + 3, sizeof(m) - 3),
	    64);
	ck_assert(!refresh_ok(m));
	/* Sealed right, but values we never mint. */
	refresh_expected(key_cur, 0, 1, m, sizeof(m));
	ck_assert(!refresh_ok(m));
	refresh_expected(key_cur, -1, 1, m, sizeof(m));
	ck_assert(!refresh_ok(m));
	refresh_expected(key_cur, 1, -1, m, sizeof(m));
	ck_assert(!refresh_ok(m));

	ck_assert_ptr_null(token_mint_refresh(0, 0));
	ck_assert_ptr_null(token_mint_refresh(-1, 0));
	ck_assert_ptr_null(token_mint_refresh(1, -1));
}
END_TEST

START_TEST(test_refresh_keys)
{
	char	t[80];

	/* Another key's token is refused. */
	refresh_expected(key_other, 10, 1, t, sizeof(t));
	ck_assert(!refresh_ok(t));
	/* The previous key's, only while it is configured. */
	refresh_expected(key_prev, 10, 1, t, sizeof(t));
	ck_assert(refresh_ok(t));
	conf->jwt_previous_key_len = 0;
	ck_assert(!refresh_ok(t));
	/* After a rotation, the old current key becomes the previous one. */
	refresh_expected(key_cur, 10, 1, t, sizeof(t));
	ck_assert(refresh_ok(t));
	memcpy(conf->jwt_previous_key, key_cur, 32);
	conf->jwt_previous_key_len = 32;
	memcpy(conf->jwt_key, key_other, 32);
	ck_assert(refresh_ok(t));
	conf->jwt_previous_key_len = 0;
	ck_assert(!refresh_ok(t));
	/* No usable key: nothing minted, nothing accepted. */
	conf->jwt_key_len = 0;
	ck_assert_ptr_null(token_mint_refresh(1, 1));
	ck_assert(!refresh_ok(t));
}
END_TEST

static void
sha_hex(const char *s, char out[65])
{
	unsigned char	d[32];

	crypto_sha256(s, strlen(s), d);
	hex_encode(d, sizeof(d), out);
}

static void
fgp(const char *ua, const char *ip, char out[65])
{
	struct ipaddr	a;

	ck_assert_msg(ipaddr_parse(ip, &a) == 0, "%s", ip);
	token_fingerprint(ua, &a, out);
}

START_TEST(test_fingerprint)
{
	char	a[65], b[65], want[65];

	/* Without bind_ip: the User-Agent alone. */
	fgp("Mozilla/5.0", "192.0.2.1", a);
	fgp("Mozilla/5.0", "198.51.100.7", b);
	sha_hex("Mozilla/5.0", want);
	ck_assert_str_eq(a, want);
	ck_assert_str_eq(b, want);
	fgp("curl/8.0", "192.0.2.1", b);
	ck_assert_str_ne(a, b);
	fgp("Mozilla/5.0 ", "192.0.2.1", b);
	ck_assert_str_ne(a, b);
	token_fingerprint(NULL, NULL, a);
	token_fingerprint("", NULL, b);
	sha_hex("", want);
	ck_assert_str_eq(a, want);
	ck_assert_str_eq(b, want);

	/* With it: the client's /24 joins in. */
	conf->bind_ip = 1;
	fgp("Mozilla/5.0", "192.0.2.1", a);
	sha_hex("Mozilla/5.0\n192.0.2.0/24", want);
	ck_assert_str_eq(a, want);
	fgp("Mozilla/5.0", "192.0.2.254", b);
	ck_assert_str_eq(a, b);
	fgp("Mozilla/5.0", "::ffff:192.0.2.9", b);
	ck_assert_str_eq(a, b);
	fgp("Mozilla/5.0", "192.0.3.1", b);
	ck_assert_str_ne(a, b);
	fgp("Mozilla/5.0", "10.0.2.1", b);
	ck_assert_str_ne(a, b);
	fgp("curl/8.0", "192.0.2.1", b);
	ck_assert_str_ne(a, b);
	sha_hex("Mozilla/5.0", want);
	ck_assert_str_ne(a, want);
}
END_TEST

START_TEST(test_fingerprint_v6)
{
	char	a[65], b[65], want[65];

	conf->bind_ip = 1;
	fgp("UA", "2001:db8:1:2::1", a);
	sha_hex("UA\n2001:db8:1:2::/64", want);
	ck_assert_str_eq(a, want);
	fgp("UA", "2001:db8:1:2:ffff:ffff:ffff:ffff", b);
	ck_assert_str_eq(a, b);
	fgp("UA", "2001:db8:1:3::1", b);
	ck_assert_str_ne(a, b);
	fgp("UA", "2001:db9:1:2::1", b);
	ck_assert_str_ne(a, b);

	/* ipv6_prefix widens the network. */
	conf->ipv6_prefix = 48;
	fgp("UA", "2001:db8:1:2::1", a);
	fgp("UA", "2001:db8:1:3::1", b);
	ck_assert_str_eq(a, b);
	sha_hex("UA\n2001:db8:1::/48", want);
	ck_assert_str_eq(a, want);
	fgp("UA", "2001:db8:2:2::1", b);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_fgp_equal)
{
	char	a[65], b[65];
	size_t	i;

	memcpy(a, FGP, sizeof(a));
	memcpy(b, FGP, sizeof(b));
	ck_assert(token_fgp_equal(a, b));
	for (i = 0; i < 64; i++) {
		b[i] = b[i] == 'f' ? 'e' : 'f';
		ck_assert_msg(!token_fgp_equal(a, b), "position %zu", i);
		b[i] = a[i];
	}
	ck_assert(!token_fgp_equal(a, NULL));
	ck_assert(!token_fgp_equal(NULL, a));
	ck_assert(!token_fgp_equal("", ""));
	ck_assert(!token_fgp_equal("abc", "abc"));
	ck_assert(!token_fgp_equal(FGP "0", FGP "0"));
	ck_assert(!token_fgp_equal(FGP, FGP "0"));
	ck_assert(!token_fgp_equal(FGP "0", FGP));
}
END_TEST

START_TEST(test_csrf)
{
	static const char	 msg[] = "aspida-csrf-v1" JTI;
	unsigned char		 mac[32];
	char			 a[65], b[65], want[65];

	ck_assert_int_eq(token_csrf(JTI, a), 0);
	ck_assert_int_eq(crypto_hmac_sha256(conf->csrf_secret, 32, msg,
	    sizeof(msg) - 1, mac), 0);
	hex_encode(mac, sizeof(mac), want);
	ck_assert_str_eq(a, want);
	ck_assert_int_eq(token_csrf(JTI, b), 0);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(token_csrf("00112233445566778899aabbccddeefe", b), 0);
	ck_assert_str_ne(a, b);
	memset(conf->csrf_secret, 'd', 32);
	ck_assert_int_eq(token_csrf(JTI, b), 0);
	ck_assert_str_ne(a, b);
	/* No secret, no token (and nothing a client could match). */
	conf->csrf_secret_len = 0;
	memset(b, 'x', sizeof(b));
	ck_assert_int_eq(token_csrf(JTI, b), -1);
	ck_assert_str_eq(b, "");
	conf->csrf_secret_len = 32;
	ck_assert_int_eq(token_csrf("", b), -1);
	ck_assert_int_eq(token_csrf(NULL, b), -1);
}
END_TEST

Suite *
token_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("token");

	tc = tcase_create("access");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_mint_refuses);
	tcase_add_test(tc, test_previous_kid);
	tcase_add_test(tc, test_no_key);
	tcase_add_test(tc, test_rotation);
	tcase_add_loop_test(tc, test_header, 0,
	    sizeof(hdrrows) / sizeof(hdrrows[0]));
	tcase_add_test(tc, test_hs512_accepted_by_libjwt);
	tcase_add_loop_test(tc, test_claims, 0,
	    sizeof(claimrows) / sizeof(claimrows[0]));
	tcase_add_test(tc, test_duplicate_sub);
	tcase_add_test(tc, test_payload_shape);
	tcase_add_loop_test(tc, test_times, 0,
	    sizeof(timerows) / sizeof(timerows[0]));
	tcase_add_test(tc, test_every_alteration);
	tcase_add_test(tc, test_segments);
	tcase_add_test(tc, test_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("refresh");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_refresh_roundtrip, 0,
	    sizeof(rtrows) / sizeof(rtrows[0]));
	tcase_add_test(tc, test_refresh_alterations);
	tcase_add_test(tc, test_refresh_splice);
	tcase_add_test(tc, test_refresh_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("binding");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fingerprint);
	tcase_add_test(tc, test_fingerprint_v6);
	tcase_add_test(tc, test_fgp_equal);
	tcase_add_test(tc, test_csrf);
	suite_add_tcase(s, tc);
	return s;
}
