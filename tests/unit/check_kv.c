/*
 * check_kv.c - the AUTH command kv.c sends on connecting: one argument
 * (Redis's default user, requirepass) without redis_user, "AUTH user
 * password" with it (an ACL user), none without a password.  The password
 * travels by length, so any byte in it (blanks, CR LF, NUL) stays one
 * argument.  test_isolation.py shows the same against a real Redis.
 */
#include "config.h"

#include <string.h>

#include <check.h>

#include "aspida.h"
#include "check_aspida.h"

static const unsigned char	binary_pw[] = "pw with\r\n*1\r\n$4\r\nPING\0end";

static const struct {
	int			 line;
	const char		*user;
	const unsigned char	*pw;
	size_t			 pwlen;
	int			 argc;
	const char		*argv1;		/* the user, when argc is 3 */
} auth_cases[] = {
	{ __LINE__, NULL, NULL, 0, 0, NULL },
	{ __LINE__, "", NULL, 0, 0, NULL },
	{ __LINE__, NULL, (const unsigned char *)"s3cret", 6, 2, NULL },
	{ __LINE__, "", (const unsigned char *)"s3cret", 6, 2, NULL },
	{ __LINE__, "aspida", (const unsigned char *)"s3cret", 6, 3, "aspida" },
	{ __LINE__, "aspida", binary_pw, sizeof(binary_pw) - 1, 3, "aspida" },
	{ __LINE__, NULL, binary_pw, sizeof(binary_pw) - 1, 2, NULL },
	/* A user without a password: an error, never a bare "AUTH user". */
	{ __LINE__, "aspida", NULL, 0, -1, NULL },
	{ __LINE__, "aspida", (const unsigned char *)"", 0, -1, NULL },
};

START_TEST(test_kv_auth_argv)
{
	const char	*argv[3];
	size_t		 lens[3];
	int		 argc, i = _i;

	memset(argv, 0, sizeof(argv));
	memset(lens, 0, sizeof(lens));
	argc = kv_auth_argv(auth_cases[i].user, auth_cases[i].pw,
	    auth_cases[i].pwlen, argv, lens);
	ck_assert_msg(argc == auth_cases[i].argc,
	    "line %d: argc %d, want %d", auth_cases[i].line, argc,
	    auth_cases[i].argc);
	if (argc <= 0)
		return;
	ck_assert_msg(lens[0] == 4 && memcmp(argv[0], "AUTH", 4) == 0,
	    "line %d: not AUTH", auth_cases[i].line);
	if (argc == 3)
		ck_assert_msg(lens[1] == strlen(auth_cases[i].argv1) &&
		    strcmp(argv[1], auth_cases[i].argv1) == 0,
		    "line %d: user argument", auth_cases[i].line);
	/* The password is the last argument, its bytes and length exactly. */
	ck_assert_msg(lens[argc - 1] == auth_cases[i].pwlen &&
	    memcmp(argv[argc - 1], auth_cases[i].pw, auth_cases[i].pwlen) == 0,
	    "line %d: password argument", auth_cases[i].line);
}
END_TEST

Suite *
kv_suite(void)
{
	Suite	*s = suite_create("kv");
	TCase	*tc = tcase_create("auth");

	tcase_add_loop_test(tc, test_kv_auth_argv, 0,
	    (int)(sizeof(auth_cases) / sizeof(auth_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}
