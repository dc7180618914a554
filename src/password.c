/*
 * Passwords: bcrypt ($2b$) hashes made by libxcrypt, and API.md's strength
 * rules checked with libpwquality and cracklib's dictionary.
 *
 * bcrypt reads at most 72 bytes of its input and would silently ignore the
 * rest of a long password.  So bcrypt never sees the password: it hashes
 * base64(HMAC-SHA256(pepper, password)), 44 ASCII bytes that depend on
 * every byte of the password (and a stolen database is useless without the
 * pepper file).  A login for an unknown user is checked against a dummy
 * hash of the same cost, so it takes as long as one for a real user.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <libintl.h>
#include <stdlib.h>
#include <string.h>

#include <pwquality.h>

#include "aspida.h"

#define PASSWORD_MIN_CHARS	12
#define PASSWORD_MAX_CHARS	128
#define PASSWORD_MAX_BYTES	(PASSWORD_MAX_CHARS * 4)	/* UTF-8 */
#define PASSWORD_PREHASH_LEN	44	/* base64 of 32 bytes, padded */
#define PASSWORD_HASH_LEN	60	/* "$2b$" cost "$" salt and hash */
#define PASSWORD_LOCAL_MIN	3	/* shorter local parts match too much */
#define PASSWORD_LOCAL_MAX	255
#define PASSWORD_MAX_REPEAT	3	/* the same character in a row */

/*
 * Stems of the commonest passwords that cracklib lets through once they
 * are 12 characters long ("passwordpassword", "Password!234").
 */
#define PASSWORD_BAD_WORDS \
	"password passw0rd qwerty letmein iloveyou welcome aspida"

/*
 * The start-up probe: a passphrase any working dictionary accepts and a
 * dictionary word it must reject.  A missing dictionary fails the first
 * (cracklib fails closed), an empty or wrong one the second.
 */
#define PASSWORD_PROBE_STRONG	"velvet-quarry-74-lantern-orbit"
#define PASSWORD_PROBE_WORD	"sunflower123"

/* What cracklib answers when it cannot open its dictionary. */
#define PASSWORD_CRACKLIB_NODICT	"error loading dictionary"

static pwquality_settings_t	*pwq;
static struct crypt_data	*password_cd;
static char			 password_dummy_hash[CRYPT_OUTPUT_SIZE];
static long long		 password_dummy_cost;

/* Our own advice: libpwquality's sentences never reach a client. */
static const char advice_short[] = "Use at least 12 characters.";
static const char advice_long[] = "Use at most 128 characters.";
static const char advice_chars[] =
    "Use only printable characters, without control characters.";
static const char advice_email[] = "Do not include your email name.";
static const char advice_dict[] = "Avoid dictionary words.";
static const char advice_runs[] =
    "Avoid long runs of repeated or sequential characters.";
static const char advice_mix[] = "Use a longer mix of different characters.";
static const char advice_pattern[] =
    "Avoid predictable patterns such as palindromes.";

/* libpwquality's verdicts on a password; any other code is our fault. */
static const struct {
	int		 code;
	const char	*advice;
} password_advice[] = {
	{ PWQ_ERROR_MIN_LENGTH,		advice_short },
	{ PWQ_ERROR_EMPTY_PASSWORD,	advice_short },
	{ PWQ_ERROR_MIN_DIGITS,		advice_mix },
	{ PWQ_ERROR_MIN_UPPERS,		advice_mix },
	{ PWQ_ERROR_MIN_LOWERS,		advice_mix },
	{ PWQ_ERROR_MIN_OTHERS,		advice_mix },
	{ PWQ_ERROR_MIN_CLASSES,	advice_mix },
	{ PWQ_ERROR_MAX_CLASS_REPEAT,	advice_mix },
	{ PWQ_ERROR_MAX_CONSECUTIVE,	advice_runs },
	{ PWQ_ERROR_MAX_SEQUENCE,	advice_runs },
	{ PWQ_ERROR_PALINDROME,		advice_pattern },
	{ PWQ_ERROR_CASE_CHANGES_ONLY,	advice_pattern },
	{ PWQ_ERROR_ROTATED,		advice_pattern },
	{ PWQ_ERROR_TOO_SIMILAR,	advice_pattern },
	{ PWQ_ERROR_SAME_PASSWORD,	advice_pattern },
	{ PWQ_ERROR_USER_CHECK,		advice_email },
	{ PWQ_ERROR_GECOS_CHECK,	advice_email },
	{ PWQ_ERROR_BAD_WORDS,		advice_dict },
	{ PWQ_ERROR_CRACKLIB_CHECK,	advice_dict },
};

/* cracklib's reasons (English: workers never call setlocale). */
static const struct {
	const char	*reason;
	const char	*advice;
} password_cracklib[] = {
	{ "dictionary",		advice_dict },
	{ "DIFFERENT",		advice_mix },
	{ "whitespace",		advice_mix },
	{ "simplistic",		advice_runs },
	{ "too short",		advice_short },
};

/* The crypt buffer: 32 KiB, too big for a worker's stack; one a process. */
static struct crypt_data *
password_crypt_data(void)
{
	if (password_cd == NULL &&
	    (password_cd = calloc(1, sizeof(*password_cd))) == NULL)
		log_warnx("password: out of memory");
	return password_cd;
}

static int
password_cost_ok(void)
{
	if (conf->bcrypt_cost < 4 || conf->bcrypt_cost > 31) {
		log_warnx("password: bcrypt_cost %lld is outside 4..31",
		    conf->bcrypt_cost);
		return 0;
	}
	return 1;
}

/* Standard base64 with padding: 32 bytes give 44 characters. */
static void
password_b64(const unsigned char in[32], char out[PASSWORD_PREHASH_LEN + 1])
{
	static const char	 abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 i, o = 0;
	unsigned int		 v;

	for (i = 0; i + 3 <= 32; i += 3) {
		v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
		out[o++] = abc[v & 63];
	}
	/* 32 = 10 * 3 + 2: two bytes remain, one '=' pads them. */
	v = in[30] << 16 | in[31] << 8;
	out[o++] = abc[v >> 18 & 63];
	out[o++] = abc[v >> 12 & 63];
	out[o++] = abc[v >> 6 & 63];
	out[o++] = '=';
	out[o] = '\0';
}

/*
 * The input bcrypt hashes: base64(HMAC-SHA256(pepper, password)).
 * Returns 0, or -1 when the pepper is missing or short.
 */
static int
password_prehash(const char *pw, size_t len, char out[PASSWORD_PREHASH_LEN + 1])
{
	unsigned char	mac[32];

	if (conf->password_pepper_len < 32 ||
	    crypto_hmac_sha256(conf->password_pepper,
	    conf->password_pepper_len, pw, len, mac) == -1) {
		log_warnx("password: the pepper is missing or too short");
		return -1;
	}
	password_b64(mac, out);
	explicit_bzero(mac, sizeof(mac));
	return 0;
}

/*
 * Runs bcrypt over input with setting (a fresh salt or a stored hash) and
 * copies the result to out.  The crypt buffer is wiped whatever happens.
 * Returns 0, or -1.
 */
static int
password_crypt(const char *input, const char *setting, char *out,
    size_t outsize)
{
	struct crypt_data	*cd;
	const char		*h;
	int			 rc = -1;

	if ((cd = password_crypt_data()) == NULL)
		return -1;
	h = crypt_rn(input, setting, cd, sizeof(*cd));
	if (h == NULL || h[0] == '*')
		log_warnx("password: crypt failed: %s",
		    h == NULL ? strerror(errno) : "bad setting");
	else if (strlcpy(out, h, outsize) >= outsize)
		log_warnx("password: hash longer than its buffer");
	else
		rc = 0;
	explicit_bzero(cd, sizeof(*cd));
	return rc;
}

/* A fresh $2b$ salt at the configured cost.  Returns 0, or -1. */
static int
password_salt(char setting[CRYPT_GENSALT_OUTPUT_SIZE])
{
	if (!password_cost_ok())
		return -1;
	if (crypt_gensalt_rn("$2b$", (unsigned long)conf->bcrypt_cost, NULL, 0,
	    setting, CRYPT_GENSALT_OUTPUT_SIZE) == NULL) {
		log_warn("password: crypt_gensalt_rn");
		return -1;
	}
	return 0;
}

/*
 * The hash unknown users are checked against: of a random secret, at the
 * cost real hashes get now (made again if the cost changed).  Returns 0,
 * or -1.
 */
static int
password_dummy(void)
{
	char		 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	unsigned char	 secret[32];
	char		 in[PASSWORD_PREHASH_LEN + 1];
	int		 rc;

	if (password_dummy_cost == conf->bcrypt_cost &&
	    password_dummy_hash[0] != '\0')
		return 0;
	if (password_salt(setting) == -1)
		return -1;
	crypto_random(secret, sizeof(secret));
	password_b64(secret, in);
	rc = password_crypt(in, setting, password_dummy_hash,
	    sizeof(password_dummy_hash));
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(in, sizeof(in));
	if (rc == -1) {
		password_dummy_hash[0] = '\0';
		return -1;
	}
	password_dummy_cost = conf->bcrypt_cost;
	return 0;
}

/*
 * Per worker: the strength settings (maxrepeat is ours, see
 * password_repeats), a check that cracklib's dictionary
 * (dictpath, or cracklib's default when NULL) loads and rejects a word,
 * the crypt buffer and the dummy hash.  Returns 0, or -1 (logged).
 */
int
password_init_dict(const char *dictpath)
{
	pwquality_settings_t	*q;
	void			*aux;
	char			 msg[PWQ_MAX_ERROR_MESSAGE_LEN];
	const char		*shown = dictpath ? dictpath : "the default";
	int			 r;

	if (pwq != NULL) {
		pwquality_free_settings(pwq);
		pwq = NULL;
	}
	if ((q = pwquality_default_settings()) == NULL) {
		log_warnx("password: out of memory");
		return -1;
	}
	if (pwquality_set_int_value(q, PWQ_SETTING_MIN_LENGTH,
	    PASSWORD_MIN_CHARS) != 0 ||
	    pwquality_set_int_value(q, PWQ_SETTING_MAX_REPEAT, 0) != 0 ||
	    pwquality_set_int_value(q, PWQ_SETTING_MAX_SEQUENCE, 4) != 0 ||
	    pwquality_set_int_value(q, PWQ_SETTING_DICT_CHECK, 1) != 0 ||
	    pwquality_set_int_value(q, PWQ_SETTING_USER_CHECK, 1) != 0 ||
	    pwquality_set_int_value(q, PWQ_SETTING_GECOS_CHECK, 0) != 0 ||
	    pwquality_set_str_value(q, PWQ_SETTING_BAD_WORDS,
	    PASSWORD_BAD_WORDS) != 0 ||
	    (dictpath != NULL && pwquality_set_str_value(q,
	    PWQ_SETTING_DICT_PATH, dictpath) != 0)) {
		log_warnx("password: cannot configure libpwquality");
		goto fail;
	}
	aux = NULL;
	if ((r = pwquality_check(q, PASSWORD_PROBE_STRONG, NULL, NULL,
	    &aux)) < 0) {
		log_warnx("password: cracklib dictionary %s is missing or "
		    "unreadable (install cracklib-runtime): %s", shown,
		    pwquality_strerror(msg, sizeof(msg), r, aux));
		goto fail;
	}
	aux = NULL;
	if ((r = pwquality_check(q, PASSWORD_PROBE_WORD, NULL, NULL,
	    &aux)) != PWQ_ERROR_CRACKLIB_CHECK) {
		if (r < 0)
			(void)pwquality_strerror(msg, sizeof(msg), r, aux);
		log_warnx("password: cracklib dictionary %s does not reject "
		    "dictionary words", shown);
		goto fail;
	}
	pwq = q;
	if (password_crypt_data() == NULL || password_dummy() == -1)
		return -1;
	return 0;
 fail:
	pwquality_free_settings(q);
	return -1;
}

int
password_init(void)
{
	return password_init_dict(NULL);
}

/*
 * Hashes a password for storage as "$2b$<cost>$...".  Returns 0, or -1
 * (no pepper, bad cost, out buffer too small, crypt failure).
 */
int
password_hash(const char *pw, size_t len, char *out, size_t outsize)
{
	char	setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char	in[PASSWORD_PREHASH_LEN + 1];
	int	rc;

	if (pw == NULL || len == 0 || out == NULL || outsize == 0)
		return -1;
	out[0] = '\0';
	if (password_salt(setting) == -1 ||
	    password_prehash(pw, len, in) == -1)
		return -1;
	rc = password_crypt(in, setting, out, outsize);
	explicit_bzero(in, sizeof(in));
	if (rc == -1)
		out[0] = '\0';
	return rc;
}

/*
 * Checks a password against a stored hash, or, when stored is NULL (no
 * such user), against the dummy hash for equal timing.  Returns 1 on a
 * match, 0 on none (always 0 for NULL), -1 on error.
 */
int
password_verify(const char *pw, size_t len, const char *stored)
{
	char		 in[PASSWORD_PREHASH_LEN + 1];
	char		 got[CRYPT_OUTPUT_SIZE];
	const char	*against;
	size_t		 n;
	int		 rc;

	if (pw == NULL)
		return -1;
	if (stored == NULL) {
		if (password_dummy() == -1)
			return -1;
		against = password_dummy_hash;
	} else
		against = stored;
	/*
	 * Only our own format: libxcrypt would take "ab..." as a DES salt
	 * and quietly check a damaged value with an 8-byte cipher.
	 */
	n = strnlen(against, PASSWORD_HASH_LEN + 1);
	if (n != PASSWORD_HASH_LEN || strncmp(against, "$2b$", 4) != 0) {
		log_warnx("password: stored hash is not a bcrypt $2b$ hash");
		return -1;
	}
	if (password_prehash(pw, len, in) == -1)
		return -1;
	rc = password_crypt(in, against, got, sizeof(got));
	explicit_bzero(in, sizeof(in));
	if (rc == -1)
		return -1;
	rc = strlen(got) == n && crypto_equal(got, against, n);
	explicit_bzero(got, sizeof(got));
	return stored == NULL ? 0 : rc;
}

/*
 * Valid UTF-8 without NUL, C0, DEL or C1 controls; the number of
 * characters goes to nchars.  Returns 0, or -1.
 */
static int
password_chars(const char *pw, size_t len, size_t *nchars)
{
	unsigned char	c;
	size_t		i, n = 0;

	if (!utf8_valid(pw, len))
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)pw[i];
		if (c < 0x20 || c == 0x7f)
			return -1;
		/* U+0080-U+009F: valid UTF-8, so a byte follows 0xc2. */
		if (c == 0xc2 && (unsigned char)pw[i + 1] < 0xa0)
			return -1;
		if ((c & 0xc0) != 0x80)
			n++;
	}
	*nchars = n;
	return 0;
}

/*
 * More than PASSWORD_MAX_REPEAT of the same character in a row.  Ours,
 * not libpwquality's maxrepeat: that one counts bytes (so "éééé" passes)
 * and reads an uninitialized variable, which would bury real findings of
 * valgrind in noise.  pw is valid UTF-8.  Returns 1 when it has such a run.
 */
static int
password_repeats(const char *pw, size_t len)
{
	size_t	i = 0, n, prev = 0, prevn = 0, run = 0;

	while (i < len) {
		for (n = 1; i + n < len &&
		    ((unsigned char)pw[i + n] & 0xc0) == 0x80; n++)
			;
		if (run > 0 && n == prevn &&
		    memcmp(pw + prev, pw + i, n) == 0) {
			if (++run > PASSWORD_MAX_REPEAT)
				return 1;
		} else
			run = 1;
		prev = i;
		prevn = n;
		i += n;
	}
	return 0;
}

static int
password_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Returns 1 when s contains w, ASCII letters compared without case. */
static int
password_contains(const char *s, size_t slen, const char *w, size_t wlen)
{
	size_t	i, j;

	if (wlen == 0 || wlen > slen)
		return 0;
	for (i = 0; i <= slen - wlen; i++) {
		for (j = 0; j < wlen; j++)
			if (password_lower((unsigned char)s[i + j]) !=
			    password_lower((unsigned char)w[j]))
				break;
		if (j == wlen)
			return 1;
	}
	return 0;
}

/* Our sentence for a libpwquality verdict, or NULL for an internal error. */
static const char *
password_advice_for(int code, const void *aux)
{
	const char	*reason = aux;
	size_t		 i;

	if (code == PWQ_ERROR_CRACKLIB_CHECK && reason != NULL) {
		if (strcmp(reason, PASSWORD_CRACKLIB_NODICT) == 0 ||
		    strcmp(reason, dgettext("cracklib",
		    PASSWORD_CRACKLIB_NODICT)) == 0)
			return NULL;
		for (i = 0; i < sizeof(password_cracklib) /
		    sizeof(password_cracklib[0]); i++)
			if (strstr(reason, password_cracklib[i].reason) != NULL)
				return password_cracklib[i].advice;
		return advice_dict;
	}
	for (i = 0; i < sizeof(password_advice) / sizeof(password_advice[0]);
	    i++)
		if (password_advice[i].code == code)
			return password_advice[i].advice;
	return NULL;
}

/*
 * API.md's rules for a new password: 12-128 characters of printable UTF-8,
 * not containing the local part of email (when it has 3 or more
 * characters), no character more than 3 times in a row, and passing
 * libpwquality with the local part as the user name.  On -1 *advice is a sentence of ours saying what to fix.  Returns
 * 0 when acceptable, -1 when weak, -2 on an internal error (dictionary
 * missing, not initialized).
 */
int
password_check_strength(const char *pw, size_t len, const char *email,
    const char **advice)
{
	char		 buf[PASSWORD_MAX_BYTES + 1];
	char		 user[PASSWORD_LOCAL_MAX + 1];
	char		 msg[PWQ_MAX_ERROR_MESSAGE_LEN];
	const char	*at, *text;
	size_t		 nchars, llen = 0;
	void		*aux = NULL;
	int		 r;

	*advice = NULL;
	if (pw == NULL)
		return -2;
	if (pwq == NULL) {
		log_warnx("password: strength check before password_init");
		return -2;
	}
	/* 4 bytes a character at most: more than 512 bytes is too long. */
	if (len > PASSWORD_MAX_BYTES) {
		*advice = advice_long;
		return -1;
	}
	if (password_chars(pw, len, &nchars) == -1) {
		*advice = advice_chars;
		return -1;
	}
	if (nchars < PASSWORD_MIN_CHARS) {
		*advice = advice_short;
		return -1;
	}
	if (nchars > PASSWORD_MAX_CHARS) {
		*advice = advice_long;
		return -1;
	}
	if (email != NULL) {
		at = strchr(email, '@');
		llen = at != NULL ? (size_t)(at - email) : strlen(email);
		if (llen > PASSWORD_LOCAL_MAX) {
			log_warnx("password: email local part too long");
			return -2;
		}
		if (llen < PASSWORD_LOCAL_MIN)
			llen = 0;
		else if (password_contains(pw, len, email, llen)) {
			*advice = advice_email;
			return -1;
		}
		memcpy(user, email, llen);
		user[llen] = '\0';
	}
	if (password_repeats(pw, len)) {
		*advice = advice_runs;
		return -1;
	}
	memcpy(buf, pw, len);
	buf[len] = '\0';
	r = pwquality_check(pwq, buf, NULL, llen > 0 ? user : NULL, &aux);
	explicit_bzero(buf, sizeof(buf));
	if (r >= 0)
		return 0;
	text = password_advice_for(r, aux);
	/* Also frees aux where libpwquality allocated it. */
	(void)pwquality_strerror(msg, sizeof(msg), r, aux);
	if (text == NULL) {
		log_warnx("password: strength check failed: %s", msg);
		return -2;
	}
	log_debug("password: weak: %s", msg);
	*advice = text;
	return -1;
}
