/*
 * check_password.c - unit tests of password.c: bcrypt round trips over the
 * peppered pre-hash (so bcrypt's 72-byte truncation cannot bite), the
 * dummy hash for unknown users, the real default cost, and API.md's
 * strength rules with our own advice, never libpwquality's.  Most tests run
 * at bcrypt cost 4; one runs at the production default of 12.
 */
#include "config.h"

#include <sys/stat.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <pwquality.h>

#include "aspida.h"
#include "check_aspida.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define DICT_DEFAULT	"/var/cache/cracklib/cracklib_dict"

static const char strong[] = "velvet-quarry-74-lantern";

static void
setup_cost(long long cost)
{
	check_conf_setup();
	memset(conf->password_pepper, 'p', 32);
	conf->password_pepper_len = 32;
	conf->bcrypt_cost = cost;
}

static void
setup(void)
{
	setup_cost(4);
	ck_assert_int_eq(password_init(), 0);
}

static void
teardown(void)
{
	check_conf_setup();
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_round_trip)
{
	char	h[CRYPT_OUTPUT_SIZE], h2[CRYPT_OUTPUT_SIZE];

	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	ck_assert_msg(strncmp(h, "$2b$04$", 7) == 0, "hash %s", h);
	ck_assert_uint_eq(strlen(h), 60);
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), 1);
	/* A fresh salt each time, and both verify. */
	ck_assert_int_eq(password_hash(strong, strlen(strong), h2,
	    sizeof(h2)), 0);
	ck_assert_str_ne(h, h2);
	ck_assert_int_eq(password_verify(strong, strlen(strong), h2), 1);
}
END_TEST

START_TEST(test_wrong_password)
{
	char	h[CRYPT_OUTPUT_SIZE];

	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	ck_assert_int_eq(password_verify("velvet-quarry-74-lanterN",
	    strlen(strong), h), 0);
	/* A prefix, and the password with one more byte. */
	ck_assert_int_eq(password_verify(strong, strlen(strong) - 1, h), 0);
	ck_assert_int_eq(password_verify("velvet-quarry-74-lantern!",
	    strlen(strong) + 1, h), 0);
	ck_assert_int_eq(password_verify("", 0, h), 0);
}
END_TEST

/* The pepper is part of the hash: another pepper, no match. */
START_TEST(test_pepper)
{
	char	h[CRYPT_OUTPUT_SIZE];

	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	conf->password_pepper[0] ^= 1;
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), 0);
	conf->password_pepper[0] ^= 1;
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), 1);
	/* No pepper, or a short one: refused, never hashed without. */
	conf->password_pepper_len = 31;
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    -1);
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), -1);
	conf->password_pepper_len = 0;
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    -1);
}
END_TEST

/* Two 100-byte passwords equal for their first 80 bytes. */
START_TEST(test_72_byte_trap)
{
	char			 a[101], b[101], h[CRYPT_OUTPUT_SIZE];
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char			 ra[CRYPT_OUTPUT_SIZE];
	struct crypt_data	*cd;
	const char		*r;
	size_t			 i;

	for (i = 0; i < 100; i++)
		a[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-"[i % 47];
	a[100] = '\0';
	memcpy(b, a, sizeof(b));
	b[90] = '!';

	/* The trap is real: bare bcrypt cannot tell them apart. */
	ck_assert_ptr_nonnull(cd = calloc(1, sizeof(*cd)));
	ck_assert_ptr_nonnull(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting,
	    sizeof(setting)));
	ck_assert_ptr_nonnull(r = crypt_rn(a, setting, cd, sizeof(*cd)));
	ck_assert_uint_lt(strlen(r), sizeof(ra));
	memcpy(ra, r, strlen(r) + 1);
	ck_assert_ptr_nonnull(r = crypt_rn(b, ra, cd, sizeof(*cd)));
	ck_assert_str_eq(r, ra);
	free(cd);

	ck_assert_int_eq(password_hash(a, 100, h, sizeof(h)), 0);
	ck_assert_int_eq(password_verify(a, 100, h), 1);
	ck_assert_int_eq(password_verify(b, 100, h), 0);
}
END_TEST

/* 128 four-byte characters: 512 bytes, past crypt's own 511-byte limit. */
static void
emoji128(char *out, int twist)
{
	size_t	i;

	for (i = 0; i < 128; i++) {
		out[4 * i] = (char)0xf0;
		out[4 * i + 1] = (char)0x9f;
		out[4 * i + 2] = (char)0x98;
		out[4 * i + 3] = (char)(0x80 + (i * 7) % 64);
	}
	if (twist)
		out[4 * 127 + 3] ^= 1;
	out[512] = '\0';
}

START_TEST(test_multibyte_128)
{
	char		 pw[513], other[513], h[CRYPT_OUTPUT_SIZE];
	const char	*advice;

	emoji128(pw, 0);
	emoji128(other, 1);
	ck_assert_int_eq(password_hash(pw, 512, h, sizeof(h)), 0);
	ck_assert_int_eq(password_verify(pw, 512, h), 1);
	ck_assert_int_eq(password_verify(other, 512, h), 0);
	ck_assert_int_eq(password_check_strength(pw, 512, "bobcat@example.com",
	    &advice), 0);
	ck_assert_ptr_null(advice);
}
END_TEST

START_TEST(test_dummy)
{
	char	h[CRYPT_OUTPUT_SIZE];

	/* Right or wrong, an unknown user never matches. */
	ck_assert_int_eq(password_verify(strong, strlen(strong), NULL), 0);
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	ck_assert_int_eq(password_verify(strong, strlen(strong), NULL), 0);
	ck_assert_int_eq(password_verify("", 0, NULL), 0);
}
END_TEST

/*
 * The dummy does the work a real check does, at the configured cost
 * (here raised after password_init): without it an unknown email would
 * answer in microseconds instead of milliseconds.
 */
START_TEST(test_dummy_timing)
{
	char	h[CRYPT_OUTPUT_SIZE];
	double	t0, real, dummy;
	int	i;

	conf->bcrypt_cost = 8;
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	ck_assert_int_eq(password_verify(strong, strlen(strong), NULL), 0);
	real = dummy = 1e9;
	for (i = 0; i < 3; i++) {
		t0 = now_s();
		ck_assert_int_eq(password_verify(strong, strlen(strong), h), 1);
		if (now_s() - t0 < real)
			real = now_s() - t0;
		t0 = now_s();
		ck_assert_int_eq(password_verify(strong, strlen(strong), NULL),
		    0);
		if (now_s() - t0 < dummy)
			dummy = now_s() - t0;
	}
	ck_assert_msg(dummy * 2 >= real && dummy <= real * 2,
	    "dummy %.6f s, real %.6f s", dummy, real);
}
END_TEST

START_TEST(test_bad_stored)
{
	static const char *const bad[] = {
		"", "*", "!", "garbage", "$2b$04$short",
		"ab01234567890",	/* DES: libxcrypt would accept it */
		"$1$abcdefgh$0123456789abcdefghijkl",
		"$2b$99$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
	};
	char	long_stored[CRYPT_OUTPUT_SIZE + 8], h[CRYPT_OUTPUT_SIZE + 1];
	size_t	i;

	for (i = 0; i < NITEMS(bad); i++)
		ck_assert_msg(password_verify(strong, strlen(strong), bad[i]) ==
		    -1, "stored \"%s\"", bad[i]);
	/* Another scheme, even one that would match, is not ours. */
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	h[2] = 'y';
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), -1);
	h[2] = 'b';
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), 1);
	(void)strlcpy(h + 60, "x", 2);
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), -1);
	memset(long_stored, 'x', sizeof(long_stored) - 1);
	long_stored[sizeof(long_stored) - 1] = '\0';
	ck_assert_int_eq(password_verify(strong, strlen(strong), long_stored),
	    -1);
	ck_assert_int_eq(password_verify(NULL, 0, NULL), -1);
}
END_TEST

/* crypt_gensalt_rn("$2b$", 0) would silently use cost 5. */
START_TEST(test_bad_cost)
{
	static const long long	 costs[] = { 0, 1, 3, 32, -1 };
	char			 h[CRYPT_OUTPUT_SIZE];
	size_t			 i;

	for (i = 0; i < NITEMS(costs); i++) {
		conf->bcrypt_cost = costs[i];
		ck_assert_msg(password_hash(strong, strlen(strong), h,
		    sizeof(h)) == -1, "cost %lld", costs[i]);
		ck_assert_str_eq(h, "");
	}
}
END_TEST

START_TEST(test_bad_args)
{
	char	h[CRYPT_OUTPUT_SIZE];

	ck_assert_int_eq(password_hash(strong, strlen(strong), h, 60), -1);
	ck_assert_str_eq(h, "");
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, 61), 0);
	ck_assert_int_eq(password_hash(strong, 0, h, sizeof(h)), -1);
	ck_assert_int_eq(password_hash(NULL, 1, h, sizeof(h)), -1);
}
END_TEST

/* The production default, kept honest: about 250 ms a hash. */
START_TEST(test_cost_12)
{
	char	h[CRYPT_OUTPUT_SIZE];

	setup_cost(12);
	ck_assert_int_eq(password_hash(strong, strlen(strong), h, sizeof(h)),
	    0);
	ck_assert_msg(strncmp(h, "$2b$12$", 7) == 0, "hash %s", h);
	ck_assert_int_eq(password_verify(strong, strlen(strong), h), 1);
	ck_assert_int_eq(password_verify("velvet-quarry-74-lanterN",
	    strlen(strong), h), 0);
}
END_TEST

static const char a_short[] = "Use at least 12 characters.";
static const char a_long[] = "Use at most 128 characters.";
static const char a_chars[] =
    "Use only printable characters, without control characters.";
static const char a_email[] = "Do not include your email name.";
static const char a_dict[] = "Avoid dictionary words.";
static const char a_runs[] =
    "Avoid long runs of repeated or sequential characters.";
static const char a_pattern[] =
    "Avoid predictable patterns such as palindromes.";

struct strength {
	int		 line;
	const char	*pw;
	size_t		 len;		/* 0: strlen(pw) */
	const char	*email;
	int		 rc;
	const char	*advice;
};

static const struct strength strengths[] = {
	/* length in characters, not bytes */
	{ __LINE__, "kX9#qL2!vR7", 0, NULL, -1, a_short },
	{ __LINE__, "kX9#qL2!vR7@", 0, NULL, 0, NULL },
	{ __LINE__, "Жёлтый-Ключ9", 0, NULL, 0, NULL },	/* 12 chars */
	{ __LINE__, "Жёлтый-Ключ", 0, NULL, -1, a_short },	/* 11, 21 bytes */
	{ __LINE__, "", 0, NULL, -1, a_short },
	/* printable UTF-8 only */
	{ __LINE__, "velvet\tquarry-74-x", 0, NULL, -1, a_chars },
	{ __LINE__, "velvet\x7fquarry-74-x", 0, NULL, -1, a_chars },
	{ __LINE__, "velvet\xc2\x85quarry-74-x", 0, NULL, -1, a_chars },
	{ __LINE__, "velvet\0quarry-74-lantern", 24, NULL, -1, a_chars },
	{ __LINE__, "velvet\xffquarry-74-x", 0, NULL, -1, a_chars },
	{ __LINE__, "velvet\xc0\xafquarry-74-x", 0, NULL, -1, a_chars },
	{ __LINE__, "velvet\xed\xa0\x80quarry-74", 0, NULL, -1, a_chars },
	{ __LINE__, "velvet-quarry-74-lanter\xc3", 0, NULL, -1, a_chars },
	/* the email's local part, any case; not when under 3 characters */
	{ __LINE__, "Zebra-BOBCAT-velvet-17", 0, "bobcat@example.com", -1,
	    a_email },
	{ __LINE__, "zebra-bobcat-velvet-17", 0, "BobCat@example.com", -1,
	    a_email },
	{ __LINE__, "velvet-quarry-74-lantern", 0, "bobcat@example.com", 0,
	    NULL },
	{ __LINE__, "Zebra-bo-velvet-quarry", 0, "bo@example.com", 0, NULL },
	{ __LINE__, "Zebra-bob-velvet-quarry", 0, "bob@example.com", -1,
	    a_email },
	/* libpwquality and cracklib, in our words */
	{ __LINE__, "Sunflowers12", 0, NULL, -1, a_dict },
	{ __LINE__, "sunflower123", 0, "bobcat@example.com", -1, a_dict },
	{ __LINE__, "passwordpassword", 0, NULL, -1, a_dict },
	{ __LINE__, "Password!234", 0, NULL, -1, a_dict },
	{ __LINE__, "xQ7#aaaa9Lm!pz", 0, NULL, -1, a_runs },
	{ __LINE__, "xQ7#aaa9Lm!pzw", 0, NULL, 0, NULL },
	{ __LINE__, "Zebra-éééé-velvet-9", 0, NULL, -1, a_runs },
	{ __LINE__, "Zebra-ééé-velvet-9x", 0, NULL, 0, NULL },
	{ __LINE__, "Zebra-\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	    "\xf0\x9f\x98\x80-velvet", 0, NULL, -1, a_runs },
	{ __LINE__, "velvet-quarry-7!!!!", 0, NULL, -1, a_runs },
	{ __LINE__, "kq7#abcde!Lm9Z", 0, NULL, -1, a_runs },
	{ __LINE__, "kq7#abcd!Lm9Zw", 0, NULL, 0, NULL },
	{ __LINE__, "monkey123456", 0, NULL, -1, a_runs },
	{ __LINE__, "Xq7#pL9!!9Lp#7qX", 0, NULL, -1, a_pattern },
	/* strong passphrases */
	{ __LINE__, "correct horse battery staple", 0, "alice@example.com", 0,
	    NULL },
	{ __LINE__, "velvet-quarry-74-lantern-orbit", 0, NULL, 0, NULL },
	{ __LINE__, "Пароль-Zebra-17", 0, "bobcat@example.com", 0, NULL },
};

/*
 * The settings password_init uses, to ask libpwquality for its own text;
 * maxrepeat stays 0 as there (password.c checks repeats itself).
 */
static pwquality_settings_t *
pwq_like_ours(void)
{
	pwquality_settings_t	*q;

	ck_assert_ptr_nonnull(q = pwquality_default_settings());
	ck_assert_int_eq(pwquality_set_int_value(q, PWQ_SETTING_MIN_LENGTH,
	    12), 0);
	ck_assert_int_eq(pwquality_set_int_value(q, PWQ_SETTING_MAX_SEQUENCE,
	    4), 0);
	ck_assert_int_eq(pwquality_set_str_value(q, PWQ_SETTING_BAD_WORDS,
	    "password passw0rd qwerty letmein iloveyou welcome aspida"), 0);
	return q;
}

/* The advice must not be, or quote, libpwquality's text for the code. */
static void
assert_not_pwquality(int line, const struct strength *s, const char *advice)
{
	pwquality_settings_t	*q = pwq_like_ours();
	char			 buf[PWQ_MAX_ERROR_MESSAGE_LEN], *pw, *at;
	char			 user[64] = "";
	const char		*text;
	void			*aux = NULL;
	size_t			 len = s->len ? s->len : strlen(s->pw);
	int			 r;

	ck_assert_ptr_nonnull(pw = strndup(s->pw, len));
	if (s->email != NULL && (at = strchr(s->email, '@')) != NULL &&
	    at - s->email >= 3)
		(void)snprintf(user, sizeof(user), "%.*s",
		    (int)(at - s->email), s->email);
	r = pwquality_check(q, pw, NULL, user[0] ? user : NULL, &aux);
	free(pw);
	if (r < 0) {
		text = pwquality_strerror(buf, sizeof(buf), r, aux);
		ck_assert_msg(strcmp(advice, text) != 0 &&
		    strstr(advice, text) == NULL && strstr(text, advice) == NULL,
		    "line %d: advice \"%s\" is pwquality's \"%s\"", line, advice,
		    text);
		if (aux != NULL && r == PWQ_ERROR_CRACKLIB_CHECK)
			ck_assert_msg(strstr(advice, aux) == NULL,
			    "line %d: advice quotes cracklib", line);
	}
	pwquality_free_settings(q);
}

START_TEST(test_strength)
{
	const struct strength	*s = &strengths[_i];
	const char		*advice = "unset";
	size_t			 len = s->len ? s->len : strlen(s->pw);
	int			 rc;

	rc = password_check_strength(s->pw, len, s->email, &advice);
	ck_assert_msg(rc == s->rc, "line %d: rc %d, want %d (advice %s)",
	    s->line, rc, s->rc, advice ? advice : "NULL");
	if (s->advice == NULL) {
		ck_assert_msg(advice == NULL, "line %d: advice %s", s->line,
		    advice);
		return;
	}
	ck_assert_msg(advice != NULL && strcmp(advice, s->advice) == 0,
	    "line %d: advice \"%s\", want \"%s\"", s->line,
	    advice ? advice : "NULL", s->advice);
	assert_not_pwquality(s->line, s, advice);
}
END_TEST

/*
 * None of our sentences is, contains or is contained in any text
 * libpwquality has for a code, with or without its detail.
 */
START_TEST(test_advice_not_pwquality)
{
	static const char *const ours[] = {
		a_short, a_long, a_chars, a_email, a_dict, a_runs, a_pattern,
		"Use a longer mix of different characters.",
	};
	static const int numeric[] = {
		PWQ_ERROR_MIN_DIGITS, PWQ_ERROR_MIN_UPPERS,
		PWQ_ERROR_MIN_LOWERS, PWQ_ERROR_MIN_OTHERS,
		PWQ_ERROR_MIN_LENGTH, PWQ_ERROR_MIN_CLASSES,
		PWQ_ERROR_MAX_CONSECUTIVE, PWQ_ERROR_MAX_CLASS_REPEAT,
		PWQ_ERROR_MAX_SEQUENCE,
	};
	static const char *const cracklib[] = {
		"it is based on a dictionary word",
		"it is based on a (reversed) dictionary word",
		"it does not contain enough DIFFERENT characters",
		"it is all whitespace", "it is too simplistic/systematic",
		"it is too short",
	};
	char		 buf[PWQ_MAX_ERROR_MESSAGE_LEN];
	const char	*text[64];
	size_t		 n = 0, i, j;
	int		 code;

	for (code = PWQ_ERROR_MAX_SEQUENCE; code <= PWQ_ERROR_FATAL_FAILURE;
	    code++)
		ck_assert_ptr_nonnull(text[n++] = strdup(pwquality_strerror(buf,
		    sizeof(buf), code, NULL)));
	for (i = 0; i < NITEMS(numeric); i++)
		ck_assert_ptr_nonnull(text[n++] = strdup(pwquality_strerror(buf,
		    sizeof(buf), numeric[i], (void *)3L)));
	for (i = 0; i < NITEMS(cracklib); i++) {
		ck_assert_ptr_nonnull(text[n++] = strdup(pwquality_strerror(buf,
		    sizeof(buf), PWQ_ERROR_CRACKLIB_CHECK,
		    (void *)cracklib[i])));
		ck_assert_ptr_nonnull(text[n++] = strdup(cracklib[i]));
	}
	ck_assert_uint_le(n, NITEMS(text));
	for (i = 0; i < NITEMS(ours); i++)
		for (j = 0; j < n; j++)
			ck_assert_msg(strcasecmp(ours[i], text[j]) != 0 &&
			    strstr(ours[i], text[j]) == NULL &&
			    strstr(text[j], ours[i]) == NULL,
			    "\"%s\" is pwquality's \"%s\"", ours[i], text[j]);
	for (j = 0; j < n; j++)
		free((void *)text[j]);
}
END_TEST

/* 128 varied printable characters pass; one more is too many. */
START_TEST(test_strength_129)
{
	char		 pw[131];
	const char	*advice;
	size_t		 i;

	for (i = 0; i < 129; i++)
		pw[i] = "velvet-QUARRY-74-lantern-orbit-9x"[i % 33];
	pw[129] = '\0';
	ck_assert_int_eq(password_check_strength(pw, 128, NULL, &advice), 0);
	ck_assert_int_eq(password_check_strength(pw, 129, NULL, &advice), -1);
	ck_assert_str_eq(advice, a_long);
	/* Past 512 bytes it is too long whatever the characters. */
	{
		char	big[600];

		memset(big, 'a', sizeof(big));
		ck_assert_int_eq(password_check_strength(big, sizeof(big),
		    NULL, &advice), -1);
		ck_assert_str_eq(advice, a_long);
	}
}
END_TEST

/* A missing dictionary: no start (pwquality would fail every password). */
START_TEST(test_dict_missing)
{
	const char	*advice = "unset";

	ck_assert_int_eq(password_init_dict("/nonexistent/cracklib_dict"), -1);
	ck_assert_int_eq(password_check_strength(strong, strlen(strong), NULL,
	    &advice), -2);
	ck_assert_ptr_null(advice);
	ck_assert_int_eq(password_init(), 0);
	ck_assert_int_eq(password_check_strength(strong, strlen(strong), NULL,
	    &advice), 0);
}
END_TEST

static void
copy_file(const char *from, const char *to)
{
	char	 buf[65536];
	FILE	*in, *out;
	size_t	 n;

	ck_assert_ptr_nonnull(in = fopen(from, "rb"));
	ck_assert_ptr_nonnull(out = fopen(to, "wb"));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

/* cracklib opens the dictionary on every check: losing it is our error. */
START_TEST(test_dict_lost_later)
{
	static const char *const ext[] = { ".pwd", ".pwi", ".hwm" };
	char		 dir[] = "/tmp/check_password.XXXXXX";
	char		 dict[64], from[64], to[80];
	const char	*advice = "unset";
	size_t		 i;
	int		 rc, ok;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	(void)snprintf(dict, sizeof(dict), "%s/dict", dir);
	for (i = 0; i < NITEMS(ext); i++) {
		(void)snprintf(from, sizeof(from), "%s%s", DICT_DEFAULT,
		    ext[i]);
		(void)snprintf(to, sizeof(to), "%s%s", dict, ext[i]);
		copy_file(from, to);
	}
	rc = password_init_dict(dict);
	ok = password_check_strength(strong, strlen(strong), NULL, &advice);
	for (i = 0; i < NITEMS(ext); i++) {
		(void)snprintf(to, sizeof(to), "%s%s", dict, ext[i]);
		(void)unlink(to);
	}
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(ok, 0);
	ck_assert_int_eq(password_check_strength(strong, strlen(strong), NULL,
	    &advice), -2);
	ck_assert_ptr_null(advice);
	ck_assert_int_eq(password_check_strength("Sunflowers12", 12, NULL,
	    &advice), -2);
}
END_TEST

/* A dictionary that loads but knows no words must not pass as one. */
START_TEST(test_dict_useless)
{
	static const char *const ext[] = { ".pwd", ".pwi", ".hwm" };
	char	 dir[] = "/tmp/check_password.XXXXXX";
	char	 dict[64], cmd[128], to[80];
	FILE	*p;
	size_t	 i;
	int	 rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	(void)snprintf(dict, sizeof(dict), "%s/dict", dir);
	(void)snprintf(cmd, sizeof(cmd),
	    "/usr/sbin/cracklib-packer %s >/dev/null", dict);
	ck_assert_ptr_nonnull(p = popen(cmd, "w"));
	fputs("xylophonic\nzygomatic\n", p);
	ck_assert_int_eq(pclose(p), 0);
	rc = password_init_dict(dict);
	for (i = 0; i < NITEMS(ext); i++) {
		(void)snprintf(to, sizeof(to), "%s%s", dict, ext[i]);
		(void)unlink(to);
	}
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(rc, -1);
}
END_TEST

Suite *
password_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("password");

	tc = tcase_create("hash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_pepper);
	tcase_add_test(tc, test_72_byte_trap);
	tcase_add_test(tc, test_multibyte_128);
	tcase_add_test(tc, test_dummy);
	tcase_add_test(tc, test_dummy_timing);
	tcase_add_test(tc, test_bad_stored);
	tcase_add_test(tc, test_bad_cost);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);

	/* Tagged so the valgrind run can give it a timeout of its own. */
	tc = tcase_create("cost12");
	tcase_set_tags(tc, "cost12");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cost_12);
	suite_add_tcase(s, tc);

	tc = tcase_create("strength");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_strength, 0, NITEMS(strengths));
	tcase_add_test(tc, test_advice_not_pwquality);
	tcase_add_test(tc, test_strength_129);
	tcase_add_test(tc, test_dict_missing);
	tcase_add_test(tc, test_dict_lost_later);
	tcase_add_test(tc, test_dict_useless);
	suite_add_tcase(s, tc);

	return s;
}
