/*
 * check_auth.c - the canonical email of the auth routes (route_auth.c),
 * the one form every account lookup, lockout key and limit sees: trimmed
 * of spaces and tabs, ASCII lower-cased, exactly one '@' with something
 * on each side and at most 64 before it, no space, control character,
 * angle bracket or non-ASCII byte inside, at most 254 characters.
 */
#include "config.h"

#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

struct erow {
	int		 line;
	const char	*in;
	const char	*out;		/* NULL: refused */
};

static const struct erow erows[] = {
	{ __LINE__, "alice@example.com", "alice@example.com" },
	{ __LINE__, "a@b", "a@b" },
	/* Trimmed, lower-cased. */
	{ __LINE__, "Alice@Example.COM", "alice@example.com" },
	{ __LINE__, "  alice@example.com", "alice@example.com" },
	{ __LINE__, "alice@example.com \t", "alice@example.com" },
	{ __LINE__, "\t ALICE@EXAMPLE.COM\t ", "alice@example.com" },
	{ __LINE__, "A.B+C_D-9@X-Y.Z", "a.b+c_d-9@x-y.z" },
	{ __LINE__, "o'Brien@Example.ie", "o'brien@example.ie" },
	/* Only A-Z changes: the neighbours of the range stay. */
	{ __LINE__, "a[Z]`{@b", "a[z]`{@b" },
	/* No '@', or more than one. */
	{ __LINE__, "alice.example.com", NULL },
	{ __LINE__, "alice@mail@example.com", NULL },
	{ __LINE__, "alice@@example.com", NULL },
	{ __LINE__, "@@@", NULL },
	/* Empty parts. */
	{ __LINE__, "", NULL },
	{ __LINE__, "   \t ", NULL },
	{ __LINE__, "@", NULL },
	{ __LINE__, "@example.com", NULL },
	{ __LINE__, "alice@", NULL },
	{ __LINE__, " @example.com", NULL },
	{ __LINE__, "alice@ ", NULL },
	{ __LINE__, "ab", NULL },
	/* Spaces inside. */
	{ __LINE__, "alice smith@example.com", NULL },
	{ __LINE__, "alice@example .com", NULL },
	{ __LINE__, "alice @example.com", NULL },
	{ __LINE__, "alice\t@example.com", NULL },
	/* Control characters, wherever they are. */
	{ __LINE__, "alice\x01@example.com", NULL },
	{ __LINE__, "alice@example.com\n", NULL },
	{ __LINE__, "alice@example.com\r\n", NULL },
	{ __LINE__, "\nalice@example.com", NULL },
	{ __LINE__, "alice@exa\x1fmple.com", NULL },
	{ __LINE__, "alice@example.com\x7f", NULL },
	{ __LINE__, "alice@example.com\v", NULL },
	/* Angle brackets: "Name <addr>" is not an address. */
	{ __LINE__, "<alice@example.com>", NULL },
	{ __LINE__, "Alice <alice@example.com>", NULL },
	{ __LINE__, "al<ice@example.com", NULL },
	/* Non-ASCII: no Unicode look-alikes of another account. */
	{ __LINE__, "jos\xc3\xa9@example.com", NULL },
	{ __LINE__, "alice@ex\xc3\xa4mple.de", NULL },
	{ __LINE__, "\xd0\xb0lice@example.com", NULL },	/* Cyrillic a */
	{ __LINE__, "alice@example.com\xc2\xa0", NULL },	/* NBSP */
	{ __LINE__, "\xef\xbd\x81@b", NULL },		/* fullwidth a */
	{ __LINE__, "\xff@b", NULL },
	{ __LINE__, "a@\x80", NULL },
};

START_TEST(test_email)
{
	const struct erow	*e = &erows[_i];
	char			 out[256];
	int			 rc;

	memset(out, '#', sizeof(out));
	rc = email_canonicalize(e->in, out, sizeof(out));
	if (e->out == NULL) {
		ck_assert_msg(rc == -1, "line %d: accepted as \"%s\"",
		    e->line, out);
		return;
	}
	ck_assert_msg(rc == 0, "line %d: refused", e->line);
	ck_assert_msg(strcmp(out, e->out) == 0, "line %d: \"%s\"", e->line,
	    out);
	/* Canonical is a fixed point. */
	ck_assert_int_eq(email_canonicalize(e->out, out, sizeof(out)), 0);
	ck_assert_msg(strcmp(out, e->out) == 0, "line %d: \"%s\"", e->line,
	    out);
}
END_TEST

/* "<local>@<domain>" of the given lengths, between pad spaces. */
static void
address(char *buf, size_t size, size_t local, size_t domain, size_t pad)
{
	size_t	i, o = 0;

	ck_assert_uint_lt(2 * pad + local + 1 + domain, size);
	for (i = 0; i < pad; i++)
		buf[o++] = ' ';
	for (i = 0; i < local; i++)
		buf[o++] = 'L';
	buf[o++] = '@';
	for (i = 0; i < domain; i++)
		buf[o++] = i % 4 == 3 ? '.' : 'D';
	for (i = 0; i < pad; i++)
		buf[o++] = ' ';
	buf[o] = '\0';
}

struct lrow {
	int	line;
	size_t	local;
	size_t	domain;
	size_t	pad;
	int	ok;
};

static const struct lrow lrows[] = {
	{ __LINE__, 64, 189, 0, 1 },		/* 254 in all */
	{ __LINE__, 64, 190, 0, 0 },		/* 255 */
	{ __LINE__, 1, 252, 0, 1 },		/* 254 */
	{ __LINE__, 1, 253, 0, 0 },		/* 255 */
	{ __LINE__, 10, 243, 0, 1 },		/* 254 */
	{ __LINE__, 10, 244, 0, 0 },		/* 255 */
	{ __LINE__, 10, 243, 100, 1 },		/* padding is not counted */
	{ __LINE__, 10, 1000, 0, 0 },
	{ __LINE__, 64, 10, 0, 1 },		/* the local part: 64 */
	{ __LINE__, 65, 10, 0, 0 },
	{ __LINE__, 200, 10, 0, 0 },
};

START_TEST(test_email_length)
{
	const struct lrow	*l = &lrows[_i];
	char			 in[1400], out[256];
	int			 rc;

	address(in, sizeof(in), l->local, l->domain, l->pad);
	rc = email_canonicalize(in, out, sizeof(out));
	ck_assert_msg(rc == (l->ok ? 0 : -1), "line %d: %d", l->line, rc);
	if (l->ok)
		ck_assert_msg(strlen(out) == l->local + 1 + l->domain,
		    "line %d: %zu", l->line, strlen(out));
}
END_TEST

/* The output buffer bounds the result; nothing is written past it. */
START_TEST(test_email_outsize)
{
	char	out[8];

	memset(out, '#', sizeof(out));
	ck_assert_int_eq(email_canonicalize("a@b", out, 3), -1);
	ck_assert_int_eq(out[3], '#');
	ck_assert_int_eq(email_canonicalize("A@B", out, 4), 0);
	ck_assert_str_eq(out, "a@b");
	ck_assert_int_eq(out[4], '#');
	ck_assert_int_eq(email_canonicalize("abcd@efgh", out, sizeof(out)),
	    -1);
	ck_assert_int_eq(email_canonicalize("abc@efg", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "abc@efg");
}
END_TEST

/* The request's form: an arena copy, or NULL. */
START_TEST(test_email_canonical)
{
	struct arena		*a = arena_new();
	struct req		 r;
	const struct req_io	 io = { .param = NULL };
	const char		*e;

	req_init(&r, a, &io);
	ck_assert_ptr_nonnull(e = email_canonical(&r, " Bob@Example.org "));
	ck_assert_str_eq(e, "bob@example.org");
	ck_assert_ptr_null(email_canonical(&r, "bob"));
	ck_assert_ptr_null(email_canonical(&r, "b\xc3\xb6" "b@example.org"));
	arena_free(a);
}
END_TEST

Suite *
auth_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("auth");
	tc = tcase_create("email");
	tcase_add_checked_fixture(tc, check_conf_setup, NULL);
	tcase_add_loop_test(tc, test_email, 0, NITEMS(erows));
	tcase_add_loop_test(tc, test_email_length, 0, NITEMS(lrows));
	tcase_add_test(tc, test_email_outsize);
	tcase_add_test(tc, test_email_canonical);
	suite_add_tcase(s, tc);
	return s;
}
