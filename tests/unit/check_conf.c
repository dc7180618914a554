/*
 * check_conf.c - unit tests of conf.c: the defaults, every value type and
 * its bounds, the grammar and its error messages ("PATH:LINE: reason"),
 * source blocks, the cross-key checks, where the file is looked for, and
 * the rules a secret file must pass.  Configurations are written to
 * mkstemp(3) files; secret files to a private mkdtemp(3) directory.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "aspida.h"
#include "check_aspida.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static const char *
tmp_dir(void)
{
	const char	*d = getenv("TMPDIR");

	return d != NULL && *d != '\0' ? d : "/tmp";
}

/* Writes len bytes to a new temporary file; its name goes to path. */
static void
tmp_write(const char *data, size_t len, char *path, size_t size)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	ck_assert_int_lt(snprintf(path, size, "%s/check_conf.XXXXXX",
	    tmp_dir()), (int)size);
	ck_assert_int_ne(fd = mkstemp(path), -1);
	while (off < len) {
		n = write(fd, data + off, len - off);
		ck_assert_int_gt(n, 0);
		off += n;
	}
	ck_assert_int_eq(close(fd), 0);
}

/* Loads len bytes of text as a configuration (the file is removed). */
static struct conf *
load_len(const char *text, size_t len, char *path, size_t size, char **cause)
{
	struct conf	*c;

	tmp_write(text, len, path, size);
	c = conf_load(path, cause);
	unlink(path);
	return c;
}

static struct conf *
load_ok(int row, const char *text)
{
	char		 path[PATH_MAX], *cause = NULL;
	struct conf	*c;

	c = load_len(text, strlen(text), path, sizeof(path), &cause);
	ck_assert_msg(c != NULL, "row %d: %s", row, cause);
	ck_assert_ptr_null(cause);
	return c;
}

/*
 * Checks that text fails to load with "PATH:LINE: " (or "PATH: " when
 * line is 0) followed by a message containing want.
 */
static void
expect_error_len(int row, const char *text, size_t len, int line,
    const char *want)
{
	char		 path[PATH_MAX], prefix[PATH_MAX + 32], *cause = NULL;
	struct conf	*c;

	c = load_len(text, len, path, sizeof(path), &cause);
	ck_assert_msg(c == NULL, "row %d: loaded, expected \"%s\"", row, want);
	ck_assert_msg(cause != NULL, "row %d: no cause", row);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	ck_assert_msg(strncmp(cause, prefix, strlen(prefix)) == 0,
	    "row %d: cause \"%s\", expected prefix \"%s\"", row, cause, prefix);
	ck_assert_msg(strstr(cause + strlen(prefix), want) != NULL,
	    "row %d: cause \"%s\", expected \"%s\"", row, cause, want);
	free(cause);
}

static void
expect_error(int row, const char *text, int line, const char *want)
{
	expect_error_len(row, text, strlen(text), line, want);
}

/* Field access by offset, as the options table does it. */
static long long
int_at(const struct conf *c, size_t off)
{
	return *(const long long *)(const void *)((const char *)c + off);
}

static const char *
str_at(const struct conf *c, size_t off)
{
	return *(char *const *)(const void *)((const char *)c + off);
}

static int
flag_at(const struct conf *c, size_t off)
{
	return *(const int *)(const void *)((const char *)c + off);
}

/* Defaults: every key, from an empty file, as the brief's table says. */
START_TEST(test_defaults)
{
	static const struct {
		int		 row;
		size_t		 off;
		long long	 v;
	} ints[] = {
		{ __LINE__, offsetof(struct conf, workers), 4 },
		{ __LINE__, offsetof(struct conf, max_requests_per_worker), 0 },
		{ __LINE__, offsetof(struct conf, shutdown_timeout), 30 },
		{ __LINE__, offsetof(struct conf, memory_limit_mb), 512 },
		{ __LINE__, offsetof(struct conf, db_connect_timeout_ms), 2000 },
		{ __LINE__, offsetof(struct conf, db_query_timeout_ms), 3000 },
		{ __LINE__, offsetof(struct conf, db_retry_max_ms), 5000 },
		{ __LINE__, offsetof(struct conf, redis_port), 6379 },
		{ __LINE__, offsetof(struct conf, redis_connect_timeout_ms), 500 },
		{ __LINE__, offsetof(struct conf, redis_timeout_ms), 250 },
		{ __LINE__, offsetof(struct conf, max_body_bytes), 65536 },
		{ __LINE__, offsetof(struct conf, ingest_max_body_bytes), 262144 },
		{ __LINE__, offsetof(struct conf, retry_after_unavailable), 5 },
		{ __LINE__, offsetof(struct conf, prices_default_limit), 100 },
		{ __LINE__, offsetof(struct conf, prices_max_limit), 1000 },
		{ __LINE__, offsetof(struct conf, prices_anonymous_max_limit),
		  100 },
		{ __LINE__, offsetof(struct conf, ipv6_prefix), 64 },
		{ __LINE__, offsetof(struct conf, event_flush_seconds), 60 },
		{ __LINE__, offsetof(struct conf, max_price), 1000000000000LL },
		{ __LINE__, offsetof(struct conf, ingest_max_age), 604800 },
		{ __LINE__, offsetof(struct conf, ingest_future_skew), 300 },
		{ __LINE__, offsetof(struct conf, reanchor_points), 5 },
		{ __LINE__, offsetof(struct conf, reanchor_span), 600 },
		{ __LINE__, offsetof(struct conf, ingest_window_points), 500 },
	};
	static const struct {
		int		 row;
		size_t		 off;
		const char	*v;
	} strs[] = {
		{ __LINE__, offsetof(struct conf, listen), "" },
		{ __LINE__, offsetof(struct conf, log_file), "" },
		{ __LINE__, offsetof(struct conf, db_conninfo),
		  "dbname=aspida user=aspida_app" },
		{ __LINE__, offsetof(struct conf, db_owner_conninfo),
		  "dbname=aspida" },
		{ __LINE__, offsetof(struct conf, redis_host), "127.0.0.1" },
		{ __LINE__, offsetof(struct conf, redis_socket), "" },
		{ __LINE__, offsetof(struct conf, redis_password_file), "" },
		{ __LINE__, offsetof(struct conf, cursor_secret_file), "" },
	};
	static const char *const texts[] = {
		"",
		"\n\n   \n\t\n",
		"# only a comment\n   # and another\n",
		";;\n",
	};
	struct conf	*c;
	size_t		 t, i;

	for (t = 0; t < NITEMS(texts); t++) {
		c = load_ok(__LINE__, texts[t]);
		for (i = 0; i < NITEMS(ints); i++)
			ck_assert_msg(int_at(c, ints[i].off) == ints[i].v,
			    "row %d: %lld", ints[i].row, int_at(c, ints[i].off));
		for (i = 0; i < NITEMS(strs); i++) {
			ck_assert_msg(str_at(c, strs[i].off) != NULL &&
			    strcmp(str_at(c, strs[i].off), strs[i].v) == 0,
			    "row %d", strs[i].row);
		}
		ck_assert_int_eq(c->sandbox, 1);
		/* API.md: 6 and 50 %, exactly. */
		ck_assert(c->outlier_z == 6.0);
		ck_assert(c->max_jump == 0.5);
		ck_assert_int_eq(c->log_verbose, 0);
		ck_assert_int_eq(c->redis_failure_open, 0);
		ck_assert_uint_eq(c->trusted_proxies.n, 0);
		ck_assert_uint_eq(c->admin_allow_ips.n, 2);
		ck_assert_int_eq(c->admin_allow_ips.v[0].net.family, AF_INET);
		ck_assert_int_eq(c->admin_allow_ips.v[1].net.family, AF_INET6);
		ck_assert_uint_eq(c->metrics_allow_ips.n, 2);
		ck_assert_uint_eq(c->ncors_origins, 0);
		ck_assert_ptr_null(c->cors_origins);
		ck_assert_uint_eq(c->nsources, 0);
		ck_assert_uint_eq(c->cursor_secret_len, 0);
		ck_assert_ptr_nonnull(c->path);
		conf_free(c);
	}
}
END_TEST

/*
 * Every integer key at both bounds, and one past each.  extra keeps the
 * cross-key checks out of the way.
 */
static const struct {
	int		 row;
	const char	*key;
	size_t		 off;
	long long	 min;
	long long	 max;
	const char	*extra;
} int_keys[] = {
	{ __LINE__, "workers", offsetof(struct conf, workers), 1, 256, "" },
	{ __LINE__, "max_requests_per_worker",
	  offsetof(struct conf, max_requests_per_worker), 0, 1000000000, "" },
	{ __LINE__, "shutdown_timeout",
	  offsetof(struct conf, shutdown_timeout), 1, 3600, "" },
	{ __LINE__, "memory_limit_mb",
	  offsetof(struct conf, memory_limit_mb), 0, 65536, "" },
	{ __LINE__, "db_connect_timeout_ms",
	  offsetof(struct conf, db_connect_timeout_ms), 50, 60000, "" },
	{ __LINE__, "db_query_timeout_ms",
	  offsetof(struct conf, db_query_timeout_ms), 10, 600000, "" },
	{ __LINE__, "db_retry_max_ms",
	  offsetof(struct conf, db_retry_max_ms), 10, 600000, "" },
	{ __LINE__, "redis_port", offsetof(struct conf, redis_port), 1, 65535,
	  "" },
	{ __LINE__, "redis_connect_timeout_ms",
	  offsetof(struct conf, redis_connect_timeout_ms), 10, 60000, "" },
	{ __LINE__, "redis_timeout_ms",
	  offsetof(struct conf, redis_timeout_ms), 10, 60000, "" },
	{ __LINE__, "max_body_bytes", offsetof(struct conf, max_body_bytes),
	  1024, 16777216, "" },
	{ __LINE__, "ingest_max_body_bytes",
	  offsetof(struct conf, ingest_max_body_bytes), 1024, 16777216, "" },
	{ __LINE__, "retry_after_unavailable",
	  offsetof(struct conf, retry_after_unavailable), 1, 3600, "" },
	{ __LINE__, "prices_default_limit",
	  offsetof(struct conf, prices_default_limit), 1, 100000,
	  "prices_max_limit = 100000\n" },
	{ __LINE__, "prices_max_limit",
	  offsetof(struct conf, prices_max_limit), 1, 100000,
	  "prices_default_limit = 1\nprices_anonymous_max_limit = 1\n" },
	{ __LINE__, "prices_anonymous_max_limit",
	  offsetof(struct conf, prices_anonymous_max_limit), 1, 100000,
	  "prices_max_limit = 100000\n" },
	{ __LINE__, "ipv6_prefix", offsetof(struct conf, ipv6_prefix), 32, 128,
	  "" },
	{ __LINE__, "event_flush_seconds",
	  offsetof(struct conf, event_flush_seconds), 1, 3600, "" },
	{ __LINE__, "max_price", offsetof(struct conf, max_price), 1,
	  1000000000000000LL, "" },
	{ __LINE__, "ingest_max_age", offsetof(struct conf, ingest_max_age),
	  60, 31622400, "reanchor_span = 1\n" },
	{ __LINE__, "ingest_future_skew",
	  offsetof(struct conf, ingest_future_skew), 0, 3600, "" },
	{ __LINE__, "reanchor_points", offsetof(struct conf, reanchor_points),
	  2, 1000, "" },
	{ __LINE__, "reanchor_span", offsetof(struct conf, reanchor_span), 1,
	  31622400, "ingest_max_age = 31622400\n" },
	{ __LINE__, "ingest_window_points",
	  offsetof(struct conf, ingest_window_points), 1, INGEST_WINDOW_MAX,
	  "" },
};

START_TEST(test_int_bounds)
{
	char		 text[512], want[128];
	struct conf	*c;
	size_t		 i;

	for (i = 0; i < NITEMS(int_keys); i++) {
		int	 row = int_keys[i].row;

		snprintf(text, sizeof(text), "%s%s = %lld\n", int_keys[i].extra,
		    int_keys[i].key, int_keys[i].min);
		c = load_ok(row, text);
		ck_assert_msg(int_at(c, int_keys[i].off) == int_keys[i].min,
		    "row %d: min", row);
		conf_free(c);

		snprintf(text, sizeof(text), "%s%s = %lld\n", int_keys[i].extra,
		    int_keys[i].key, int_keys[i].max);
		c = load_ok(row, text);
		ck_assert_msg(int_at(c, int_keys[i].off) == int_keys[i].max,
		    "row %d: max", row);
		conf_free(c);

		/* The key is on line 1, or after the extra lines. */
		snprintf(want, sizeof(want), "between %lld and %lld",
		    int_keys[i].min, int_keys[i].max);
		snprintf(text, sizeof(text), "%s = %lld\n%s", int_keys[i].key,
		    int_keys[i].min - 1, int_keys[i].extra);
		expect_error(row, text, 1, want);
		snprintf(text, sizeof(text), "%s = %lld\n%s", int_keys[i].key,
		    int_keys[i].max + 1, int_keys[i].extra);
		expect_error(row, text, 1, want);
	}
}
END_TEST

/* Only plain decimal integers. */
START_TEST(test_int_syntax)
{
	static const struct {
		int		 row;
		const char	*value;
		long long	 v;	/* -1: rejected */
	} cases[] = {
		{ __LINE__, "8", 8 },
		{ __LINE__, "008", 8 },
		{ __LINE__, "\"8\"", 8 },
		{ __LINE__, "  8  ", 8 },
		{ __LINE__, "+8", -1 },
		{ __LINE__, "-8", -1 },
		{ __LINE__, "-0", -1 },
		{ __LINE__, "8k", -1 },
		{ __LINE__, "8 8", -1 },
		{ __LINE__, "0x8", -1 },
		{ __LINE__, "1e1", -1 },
		{ __LINE__, "8.0", -1 },
		{ __LINE__, "\"\"", -1 },
		{ __LINE__, "\" 8\"", -1 },
		{ __LINE__, "\"8 \"", -1 },
		{ __LINE__, "eight", -1 },
		{ __LINE__, "99999999999999999999", -1 },
		{ __LINE__, "9223372036854775808", -1 },
		{ __LINE__, "18446744073709551624", -1 },
	};
	char		 text[256];
	struct conf	*c;
	size_t		 i;

	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(text, sizeof(text), "workers = %s\n", cases[i].value);
		if (cases[i].v == -1) {
			expect_error(cases[i].row, text, 1,
			    "between 1 and 256");
			continue;
		}
		c = load_ok(cases[i].row, text);
		ck_assert_msg(c->workers == cases[i].v, "row %d", cases[i].row);
		conf_free(c);
	}
	expect_error(__LINE__, "workers = 8k\n", 1,
	    "workers must be a decimal integer between 1 and 256, not \"8k\"");
	expect_error(__LINE__, "workers = 257\n", 1,
	    "workers must be between 1 and 256, not 257");
}
END_TEST

/*
 * CONF_DECIMAL: digits with an optional fraction, nothing strtod() would
 * add (sign, exponent, hex, nan, inf, blanks inside), within the bounds.
 */
START_TEST(test_decimal)
{
	static const struct {
		int		 row;
		const char	*key;
		const char	*value;
		double		 v;	/* < 0: rejected */
		const char	*why;
	} cases[] = {
		{ __LINE__, "max_jump", "0.5", 0.5, NULL },
		{ __LINE__, "max_jump", "0.25", 0.25, NULL },
		{ __LINE__, "max_jump", "2", 2, NULL },
		{ __LINE__, "max_jump", "000.50", 0.5, NULL },
		{ __LINE__, "max_jump", "\"0.5\"", 0.5, NULL },
		{ __LINE__, "max_jump", "  0.5  ", 0.5, NULL },
		{ __LINE__, "max_jump", "0.001", 0.001, NULL },
		{ __LINE__, "max_jump", "1000", 1000, NULL },
		{ __LINE__, "max_jump", "1000.0", 1000, NULL },
		{ __LINE__, "max_jump", "0.123456789", 0.123456789, NULL },
		{ __LINE__, "outlier_z", "6", 6, NULL },
		{ __LINE__, "outlier_z", "3.5", 3.5, NULL },
		{ __LINE__, "outlier_z", "1", 1, NULL },
		{ __LINE__, "outlier_z", "999999999", -1, "between 1 and 1000" },
		/* Bounds. */
		{ __LINE__, "max_jump", "0.0009", -1,
		  "max_jump must be between 0.001 and 1000, not 0.0009" },
		{ __LINE__, "max_jump", "0", -1, "between 0.001 and 1000" },
		{ __LINE__, "max_jump", "1000.000000001", -1, "not 1000.000000001" },
		{ __LINE__, "outlier_z", "0.999", -1,
		  "outlier_z must be between 1 and 1000, not 0.999" },
		{ __LINE__, "outlier_z", "1001", -1, "between 1 and 1000" },
		/* Syntax. */
		{ __LINE__, "max_jump", ".5", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "5.", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "-0.5", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "+0.5", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "5e-1", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "0x1", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "nan", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "inf", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "0,5", -1, "takes one value" },
		{ __LINE__, "max_jump", "0.5.1", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "0 .5", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "50%", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "\"\"", -1, "must be a decimal number" },
		{ __LINE__, "max_jump", "0.1234567891", -1,
		  "must be a decimal number" },
		{ __LINE__, "outlier_z", "0000000006", -1,
		  "must be a decimal number" },
	};
	char		 text[256];
	struct conf	*c;
	size_t		 i;

	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(text, sizeof(text), "\n%s = %s\n", cases[i].key,
		    cases[i].value);
		if (cases[i].v < 0) {
			expect_error(cases[i].row, text, 2, cases[i].why);
			continue;
		}
		c = load_ok(cases[i].row, text);
		ck_assert_msg((strcmp(cases[i].key, "max_jump") == 0 ?
		    c->max_jump : c->outlier_z) == cases[i].v, "row %d: %.17g",
		    cases[i].row, strcmp(cases[i].key, "max_jump") == 0 ?
		    c->max_jump : c->outlier_z);
		conf_free(c);
	}
	expect_error(__LINE__, "max_jump = 0.5 0.6\n", 1,
	    "must be a decimal number");
	expect_error(__LINE__, "max_jump = 0.5, 0.6\n", 1,
	    "max_jump takes one value");
}
END_TEST

START_TEST(test_bool)
{
	static const struct {
		int		 row;
		const char	*value;
		int		 v;	/* -1: rejected */
	} cases[] = {
		{ __LINE__, "yes", 1 },
		{ __LINE__, "no", 0 },
		{ __LINE__, "true", 1 },
		{ __LINE__, "false", 0 },
		{ __LINE__, "on", 1 },
		{ __LINE__, "off", 0 },
		{ __LINE__, "\"on\"", 1 },
		{ __LINE__, "Yes", -1 },
		{ __LINE__, "1", -1 },
		{ __LINE__, "0", -1 },
		{ __LINE__, "y", -1 },
		{ __LINE__, "yess", -1 },
		{ __LINE__, "\"\"", -1 },
	};
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
		{ "sandbox", offsetof(struct conf, sandbox) },
		{ "log_verbose", offsetof(struct conf, log_verbose) },
	};
	char		 text[256];
	struct conf	*c;
	size_t		 i, k;

	for (k = 0; k < NITEMS(keys); k++) {
		for (i = 0; i < NITEMS(cases); i++) {
			snprintf(text, sizeof(text), "\n%s = %s\n",
			    keys[k].key, cases[i].value);
			if (cases[i].v == -1) {
				expect_error(cases[i].row, text, 2,
				    "must be yes or no");
				continue;
			}
			c = load_ok(cases[i].row, text);
			ck_assert_msg(flag_at(c, keys[k].off) == cases[i].v,
			    "row %d: %s", cases[i].row, keys[k].key);
			conf_free(c);
		}
	}
}
END_TEST

START_TEST(test_enum)
{
	struct conf	*c;

	c = load_ok(__LINE__, "redis_failure = open\n");
	ck_assert_int_eq(c->redis_failure_open, 1);
	conf_free(c);
	c = load_ok(__LINE__, "redis_failure = closed\n");
	ck_assert_int_eq(c->redis_failure_open, 0);
	conf_free(c);
	c = load_ok(__LINE__, "redis_failure = \"open\"\n");
	ck_assert_int_eq(c->redis_failure_open, 1);
	conf_free(c);
	expect_error(__LINE__, "redis_failure = Open\n", 1,
	    "redis_failure must be one of closed, open; not \"Open\"");
	expect_error(__LINE__, "redis_failure = half\n", 1,
	    "one of closed, open");
	expect_error(__LINE__, "redis_failure = open, closed\n", 1,
	    "redis_failure takes one value, not a list");
}
END_TEST

/* Strings: bare (with inner blanks), quoted, escapes, comments. */
START_TEST(test_string)
{
	static const struct {
		int		 row;
		const char	*text;
		const char	*v;
	} cases[] = {
		{ __LINE__, "log_file = /var/log/aspida.log\n",
		  "/var/log/aspida.log" },
		{ __LINE__, "log_file=/a\n", "/a" },
		{ __LINE__, "\t log_file \t=\t /a \t\n", "/a" },
		{ __LINE__, "log_file = /a", "/a" },		/* no newline */
		{ __LINE__, "log_file = /a # trailing comment\n", "/a" },
		{ __LINE__, "log_file = /a#b\n", "/a" },
		{ __LINE__, "log_file = \"/a # not a comment\"\n",
		  "/a # not a comment" },
		{ __LINE__, "log_file = \"/a b\" # comment\n", "/a b" },
		{ __LINE__, "log_file = \"\"\n", "" },
		{ __LINE__, "log_file = \"a \\\"q\\\" \\\\ b\"\n",
		  "a \"q\" \\ b" },
		{ __LINE__, "log_file = \"a,b\"\n", "a,b" },
		{ __LINE__, "log_file = \"a;b\"\n", "a;b" },
		{ __LINE__, "log_file = \"{a}\"\n", "{a}" },
		{ __LINE__, "log_file = a = b\n", "a = b" },
		{ __LINE__, "log_file = /tmp/\xc3\xa9t\xc3\xa9\n",
		  "/tmp/\xc3\xa9t\xc3\xa9" },
		{ __LINE__, "log_file = /a; workers = 5\n", "/a" },
	};
	struct conf	*c;
	size_t		 i;

	for (i = 0; i < NITEMS(cases); i++) {
		c = load_ok(cases[i].row, cases[i].text);
		ck_assert_msg(strcmp(c->log_file, cases[i].v) == 0,
		    "row %d: \"%s\"", cases[i].row, c->log_file);
		conf_free(c);
	}

	c = load_ok(__LINE__, "db_conninfo = host=/run/postgresql "
	    "dbname=aspida user=aspida_app\n"
	    "db_owner_conninfo = \"dbname=aspida user=postgres\"\n"
	    "listen = [::1]:9000\n"
	    "redis_host = redis.internal\n"
	    "redis_socket = /run/redis/redis.sock\n"
	    "redis_password_file = /etc/aspida/redis.pass\n"
	    "cursor_secret_file = /etc/aspida/cursor.key\n");
	ck_assert_str_eq(c->db_conninfo,
	    "host=/run/postgresql dbname=aspida user=aspida_app");
	ck_assert_str_eq(c->db_owner_conninfo, "dbname=aspida user=postgres");
	ck_assert_str_eq(c->listen, "[::1]:9000");
	ck_assert_str_eq(c->redis_host, "redis.internal");
	ck_assert_str_eq(c->redis_socket, "/run/redis/redis.sock");
	ck_assert_str_eq(c->redis_password_file, "/etc/aspida/redis.pass");
	ck_assert_str_eq(c->cursor_secret_file, "/etc/aspida/cursor.key");
	conf_free(c);

	c = load_ok(__LINE__, "workers = 5; log_verbose = yes ;sandbox=no\n");
	ck_assert_int_eq(c->workers, 5);
	ck_assert_int_eq(c->log_verbose, 1);
	ck_assert_int_eq(c->sandbox, 0);
	conf_free(c);

	expect_error(__LINE__, "log_file = a, b\n", 1,
	    "log_file takes one value, not a list");
}
END_TEST

/* The grammar's errors, each on its line. */
START_TEST(test_syntax_errors)
{
	static const struct {
		int		 row;
		const char	*text;
		int		 line;
		const char	*want;
	} cases[] = {
		{ __LINE__, "workers 4\n", 1, "expected '=' after workers" },
		{ __LINE__, "workers\n", 1, "expected '=' after workers, "
		  "found end of line" },
		{ __LINE__, "workers", 1, "found end of file" },
		{ __LINE__, "\nworkers =\n", 2, "workers has no value" },
		{ __LINE__, "workers = # four\n", 1, "workers has no value" },
		{ __LINE__, "workers = ;\n", 1, "workers has no value" },
		{ __LINE__, "log_file = \"abc\n", 1, "unterminated quoted" },
		{ __LINE__, "log_file = \"abc", 1, "unterminated quoted" },
		/* A quoted string ends on its line, even with a '"' further on. */
		{ __LINE__, "log_file = \"abc\nlog_verbose = \"yes\"\n", 1,
		  "unterminated quoted" },
		{ __LINE__, "log_file = \"a\\n\"\n", 1, "unknown escape" },
		{ __LINE__, "log_file = \"a\\", 1, "unknown escape" },
		{ __LINE__, "log_file = \"a\" b\n", 1, "unexpected 'b'" },
		{ __LINE__, "log_file = a\"b\"\n", 1, "unexpected '\"'" },
		{ __LINE__, "log_file = a { b\n", 1, "unexpected '{'" },
		{ __LINE__, "log_file = a } b\n", 1, "unexpected '}'" },
		{ __LINE__, "\n\n}\n", 3, "unexpected '}' outside a block" },
		{ __LINE__, "= 4\n", 1, "expected a key, found '='" },
		{ __LINE__, "\"workers\" = 4\n", 1, "expected a key, found '\"'" },
		{ __LINE__, "{\n", 1, "expected a key, found '{'" },
		{ __LINE__, "workers = 4 5\n", 1, "decimal integer" },
		{ __LINE__, "cors_origins = https://a.example,\n", 1,
		  "empty item" },
		{ __LINE__, "cors_origins = ,https://a.example\n", 1,
		  "empty item" },
		{ __LINE__, "cors_origins = https://a.example,,https://b.example"
		  "\n", 1, "empty item" },
		{ __LINE__, "cors_origins = \"\", https://a.example\n", 1,
		  "empty item" },
		{ __LINE__, "source = x\n", 1, "source starts a block" },
		{ __LINE__, "workers = 4\r\n", 1, "carriage return" },
		{ __LINE__, "\n\nworkers = 4\x01\n", 3,
		  "control character 0x01" },
		{ __LINE__, "log_file = \"a\x7f\"\n", 1,
		  "control character 0x7f" },
		{ __LINE__, "Workers = 4\n", 1, "unknown key \"Workers\"" },
		{ __LINE__, "work.ers = 4\n", 1, "unknown key \"work.ers\"" },
	};
	size_t	 i;

	for (i = 0; i < NITEMS(cases); i++)
		expect_error(cases[i].row, cases[i].text, cases[i].line,
		    cases[i].want);

	/* A NUL byte is a control character too, not the end of the file. */
	expect_error_len(__LINE__, "workers = 4\n\0workers = 5\n",
	    sizeof("workers = 4\n\0workers = 5\n") - 1, 2,
	    "control character 0x00");
	/* A key longer than any key. */
	expect_error(__LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1\n", 1, "is too long");
}
END_TEST

START_TEST(test_unknown_and_duplicate)
{
	char		 path[PATH_MAX], want[PATH_MAX + 64], *cause = NULL;
	const char	*text = "# aspida\n\nworkers = 4\n\n"
			    "wrokers = 5\n";
	struct conf	*c;

	/* The whole message, as documented. */
	c = load_len(text, strlen(text), path, sizeof(path), &cause);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s:5: unknown key \"wrokers\"", path);
	ck_assert_str_eq(cause, want);
	free(cause);

	expect_error(__LINE__, "workers = 4\n\n# again\nworkers = 5\n", 4,
	    "key \"workers\" given twice (first on line 1)");
	expect_error(__LINE__, "workers = 4; workers = 4\n", 1,
	    "given twice");
	/* Equal values are still a repeat: which one was meant? */
	expect_error(__LINE__, "log_file = \"\"\nlog_file = \"\"\n", 2,
	    "given twice");
}
END_TEST

/* The limits on the file itself. */
START_TEST(test_file_limits)
{
	char		 path[PATH_MAX], *text, *cause = NULL;
	struct conf	*c;
	size_t		 len, off;

	/* A line of exactly 4096 bytes passes; one more byte does not. */
	text = malloc(8192);
	ck_assert_ptr_nonnull(text);
	memset(text, ' ', 4096);
	memcpy(text, "log_file = ", 11);
	memset(text + 11, 'a', 4096 - 11);
	text[4096] = '\n';
	c = load_len(text, 4097, path, sizeof(path), &cause);
	ck_assert_msg(c != NULL, "%s", cause);
	ck_assert_uint_eq(strlen(c->log_file), 4096 - 11);
	conf_free(c);
	memcpy(text, "workers = 4\n", 12);
	memcpy(text + 12, "log_file = ", 11);
	memset(text + 23, 'a', 4097 - 11);
	text[12 + 4097] = '\n';
	expect_error_len(__LINE__, text, 12 + 4098, 2,
	    "line longer than 4096 bytes");
	/* The last line needs no newline to be measured. */
	expect_error_len(__LINE__, text, 12 + 4097, 2,
	    "line longer than 4096 bytes");
	free(text);

	/* Exactly 1 MiB of comments passes; one byte more does not. */
	len = 1024 * 1024;
	text = malloc(len + 1);
	ck_assert_ptr_nonnull(text);
	for (off = 0; off < len; off += 1024) {
		memset(text + off, '#', 1023);
		text[off + 1023] = '\n';
	}
	c = load_len(text, len, path, sizeof(path), &cause);
	ck_assert_msg(c != NULL, "%s", cause);
	conf_free(c);
	text[len] = '\n';
	expect_error_len(__LINE__, text, len + 1, 0, "larger than 1048576");
	free(text);

	/* No file, or not a file. */
	snprintf(path, sizeof(path), "%s/check_conf.missing.%ld", tmp_dir(),
	    (long)getpid());
	ck_assert_ptr_null(conf_load(path, &cause));
	ck_assert_ptr_nonnull(strstr(cause, path));
	ck_assert_ptr_nonnull(strstr(cause, strerror(ENOENT)));
	free(cause);
	ck_assert_ptr_null(conf_load(tmp_dir(), &cause));
	ck_assert_ptr_nonnull(strstr(cause, "not a regular file"));
	free(cause);
	/* A NULL cause is allowed. */
	ck_assert_ptr_null(conf_load(path, NULL));
}
END_TEST

START_TEST(test_cidrs)
{
	struct conf	*c;

	c = load_ok(__LINE__, "trusted_proxies = 10.0.0.0/8, 192.168.1.1\n"
	    "admin_allow_ips = 2001:db8::/32\n"
	    "metrics_allow_ips = \"\"\n");
	ck_assert_uint_eq(c->trusted_proxies.n, 2);
	ck_assert_int_eq(c->trusted_proxies.v[0].prefix, 8);
	ck_assert_int_eq(c->trusted_proxies.v[1].prefix, 32);
	ck_assert_uint_eq(c->admin_allow_ips.n, 1);
	ck_assert_int_eq(c->admin_allow_ips.v[0].net.family, AF_INET6);
	ck_assert_uint_eq(c->metrics_allow_ips.n, 0);
	conf_free(c);

	/* Quoted, and items split by commas inside the quotes too. */
	c = load_ok(__LINE__, "trusted_proxies = \"10.0.0.0/8, ::1\", "
	    "\"127.0.0.1\"\n");
	ck_assert_uint_eq(c->trusted_proxies.n, 3);
	conf_free(c);

	expect_error(__LINE__, "\ntrusted_proxies = 10.0.0.0/33\n", 2,
	    "trusted_proxies: ");
	expect_error(__LINE__, "admin_allow_ips = 127.0.0.1, bogus\n", 1,
	    "admin_allow_ips: ");
	expect_error(__LINE__, "metrics_allow_ips = 10.0.0.0/8, \"\"\n", 1,
	    "empty");
}
END_TEST

START_TEST(test_cors_origins)
{
	static const struct {
		int		 row;
		const char	*value;
		const char	*want;	/* NULL: accepted */
	} cases[] = {
		{ __LINE__, "https://app.example.com", NULL },
		{ __LINE__, "http://localhost:8080", NULL },
		{ __LINE__, "http://127.0.0.1:3000", NULL },
		{ __LINE__, "https://[::1]:8443", NULL },
		{ __LINE__, "https://[2001:db8::1]", NULL },
		{ __LINE__, "https://xn--bcher-kva.example", NULL },
		{ __LINE__, "https://app.example.com/", "no path" },
		{ __LINE__, "https://app.example.com/x", "no path" },
		{ __LINE__, "*", "must start with http:// or https://" },
		{ __LINE__, "https://*.example.com", "wildcards" },
		{ __LINE__, "https://app.example.com*", "wildcards" },
		{ __LINE__, "ftp://app.example.com", "http:// or https://" },
		{ __LINE__, "app.example.com", "http:// or https://" },
		{ __LINE__, "null", "http:// or https://" },
		{ __LINE__, "HTTPS://app.example.com", "lower case" },
		{ __LINE__, "https://App.example.com", "lower case" },
		{ __LINE__, "https://app.Example.com", "lower case" },
		{ __LINE__, "https://[2001:DB8::1]", "lower case" },
		{ __LINE__, "Https://app.example.com", "lower case" },
		{ __LINE__, "https://", "no host" },
		{ __LINE__, "https://:8080", "no host" },
		{ __LINE__, "https://app.example.com:443", "default port" },
		{ __LINE__, "http://app.example.com:80", "default port" },
		{ __LINE__, "http://app.example.com:443", NULL },
		{ __LINE__, "https://app.example.com:", "not an origin" },
		{ __LINE__, "https://app.example.com:0", "not an origin" },
		{ __LINE__, "https://app.example.com:08080", "not an origin" },
		{ __LINE__, "https://app.example.com:65536", "not an origin" },
		{ __LINE__, "https://app.example.com:123456", "not an origin" },
		{ __LINE__, "https://app.example.com?x", "not an origin" },
		{ __LINE__, "https://user@app.example.com", "not an origin" },
		{ __LINE__, "https://a_b.example.com", "not an origin" },
		{ __LINE__, "https://[::1", "not an origin" },
		{ __LINE__, "https://[]", "not an origin" },
		{ __LINE__, "https://app.example.com foo", "not an origin" },
	};
	char		 text[256];
	struct conf	*c;
	size_t		 i;

	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(text, sizeof(text), "cors_origins = \"%s\"\n",
		    cases[i].value);
		if (cases[i].want != NULL) {
			expect_error(cases[i].row, text, 1, cases[i].want);
			continue;
		}
		c = load_ok(cases[i].row, text);
		ck_assert_uint_eq(c->ncors_origins, 1);
		ck_assert_msg(strcmp(c->cors_origins[0], cases[i].value) == 0,
		    "row %d", cases[i].row);
		conf_free(c);
	}

	c = load_ok(__LINE__, "cors_origins = https://a.example, "
	    "\"http://b.example:8080\",https://c.example  # three\n");
	ck_assert_uint_eq(c->ncors_origins, 3);
	ck_assert_str_eq(c->cors_origins[0], "https://a.example");
	ck_assert_str_eq(c->cors_origins[1], "http://b.example:8080");
	ck_assert_str_eq(c->cors_origins[2], "https://c.example");
	conf_free(c);

	c = load_ok(__LINE__, "cors_origins = \"\"\n");
	ck_assert_uint_eq(c->ncors_origins, 0);
	conf_free(c);

	/* The error names the key and the line. */
	expect_error(__LINE__, "\ncors_origins = https://a.example, "
	    "https://b.example/\n", 2, "cors_origins: \"https://b.example/\"");
}
END_TEST

START_TEST(test_sources)
{
	struct conf	*c;
	char		 text[8192];
	size_t		 off, i;

	c = load_ok(__LINE__, "source feed1 { secret_file = /etc/a.key; "
	    "allowed_ips = 10.0.0.0/8 }\n");
	ck_assert_uint_eq(c->nsources, 1);
	ck_assert_str_eq(c->sources[0].name, "feed1");
	ck_assert_str_eq(c->sources[0].secret_file, "/etc/a.key");
	ck_assert_uint_eq(c->sources[0].allowed_ips.n, 1);
	ck_assert_int_eq(c->sources[0].allowed_ips.v[0].prefix, 8);
	conf_free(c);

	expect_error(__LINE__,
	    "source feed-2 {\n"
	    "\tsecret_file = /k\n"
	    "\tallowed_ips = 192.0.2.0/24,\n"
	    "}\n", 3, "empty item in the value of allowed_ips");
	c = load_ok(__LINE__,
	    "workers = 2\n"
	    "source feed-2 {   # the second feed\n"
	    "\t# a comment inside\n"
	    "\tsecret_file = \"/etc/aspida/feed 2.key\"\n"
	    "\n"
	    "\tallowed_ips = 192.0.2.0/24, 2001:db8::/32\n"
	    "}\n"
	    "source x_9{secret_file=/k}\n"
	    "source z {\n"
	    "  secret_file = /z;;\n"
	    "  ; allowed_ips = \"::1\" }  # closes here\n"
	    "log_verbose = yes\n");
	ck_assert_int_eq(c->workers, 2);
	ck_assert_int_eq(c->log_verbose, 1);
	ck_assert_uint_eq(c->nsources, 3);
	ck_assert_str_eq(c->sources[0].name, "feed-2");
	ck_assert_str_eq(c->sources[0].secret_file, "/etc/aspida/feed 2.key");
	ck_assert_uint_eq(c->sources[0].allowed_ips.n, 2);
	ck_assert_str_eq(c->sources[1].name, "x_9");
	ck_assert_str_eq(c->sources[1].secret_file, "/k");
	/* allowed_ips defaults to loopback. */
	ck_assert_uint_eq(c->sources[1].allowed_ips.n, 2);
	ck_assert_str_eq(c->sources[2].name, "z");
	ck_assert_uint_eq(c->sources[2].allowed_ips.n, 1);
	ck_assert_int_eq(c->sources[2].allowed_ips.v[0].net.family, AF_INET6);
	conf_free(c);

	/* Exactly CONF_MAX_SOURCES sources, and one more. */
	for (off = 0, i = 0; i < CONF_MAX_SOURCES; i++)
		off += snprintf(text + off, sizeof(text) - off,
		    "source s%zu { secret_file = /k%zu }\n", i, i);
	c = load_ok(__LINE__, text);
	ck_assert_uint_eq(c->nsources, CONF_MAX_SOURCES);
	ck_assert_str_eq(c->sources[CONF_MAX_SOURCES - 1].name, "s31");
	conf_free(c);
	snprintf(text + off, sizeof(text) - off,
	    "source s%d { secret_file = /k }\n", CONF_MAX_SOURCES);
	expect_error(__LINE__, text, CONF_MAX_SOURCES + 1, "more than 32 "
	    "sources");

	/* Names: ^[a-z0-9_-]{1,32}$ */
	c = load_ok(__LINE__, "source abcdefghijklmnopqrstuvwxyz012345 "
	    "{ secret_file = /k }\n");
	ck_assert_str_eq(c->sources[0].name, "abcdefghijklmnopqrstuvwxyz012345");
	conf_free(c);
	expect_error(__LINE__, "source abcdefghijklmnopqrstuvwxyz0123456 "
	    "{ secret_file = /k }\n", 1, "source name "
	    "\"abcdefghijklmnopqrstuvwxyz0123456\" is invalid");
	expect_error(__LINE__, "\nsource Feed { secret_file = /k }\n", 2,
	    "source name \"Feed\" is invalid");
	expect_error(__LINE__, "source a.b { secret_file = /k }\n", 1,
	    "is invalid");
	/* The sources table wants a letter or digit first. */
	expect_error(__LINE__, "source -feed { secret_file = /k }\n", 1,
	    "source name \"-feed\" is invalid");
	expect_error(__LINE__, "source _feed { secret_file = /k }\n", 1,
	    "source name \"_feed\" is invalid");
	c = load_ok(__LINE__, "source 0feed_- { secret_file = /k }\n");
	ck_assert_str_eq(c->sources[0].name, "0feed_-");
	conf_free(c);
	expect_error(__LINE__, "source f\xc3\xa9 { secret_file = /k }\n", 1,
	    "is invalid");
	expect_error(__LINE__, "source { secret_file = /k }\n", 1,
	    "expected a source name, found '{'");
	expect_error(__LINE__, "source \"a\" { secret_file = /k }\n", 1,
	    "expected a source name");
	expect_error(__LINE__, "source\n", 1,
	    "expected a source name, found end of line");

	expect_error(__LINE__, "source a { secret_file = /k }\n"
	    "workers = 4\n"
	    "source a { secret_file = /j }\n", 3,
	    "source \"a\" is defined twice (first on line 1)");
	expect_error(__LINE__, "source a {\n  secret_file = /k\n"
	    "  secret = /j\n}\n", 3, "unknown key \"secret\" in source \"a\"");
	expect_error(__LINE__, "source a { workers = 4; secret_file = /k }\n",
	    1, "unknown key \"workers\" in source \"a\"");
	expect_error(__LINE__, "source a {\n  secret_file = /k\n"
	    "  source b { secret_file = /j }\n}\n", 3,
	    "unknown key \"source\" in source \"a\"");
	expect_error(__LINE__, "source a {\n  secret_file = /k\n"
	    "  secret_file = /j\n}\n", 3,
	    "key \"secret_file\" given twice in source \"a\" (first on line 2)");
	expect_error(__LINE__, "\nsource a {\n  allowed_ips = ::1\n}\n", 2,
	    "source \"a\" has no secret_file");
	expect_error(__LINE__, "source a { secret_file = \"\" }\n", 1,
	    "source \"a\" has no secret_file");
	expect_error(__LINE__, "source a { }\n", 1,
	    "source \"a\" has no secret_file");
	expect_error(__LINE__, "\nsource a {\n  secret_file = /k\n", 2,
	    "source \"a\" is not closed with '}'");
	expect_error(__LINE__, "source a\n{ secret_file = /k }\n", 1,
	    "expected '{' after source \"a\", found end of line");
	expect_error(__LINE__, "source a { secret_file = /k } workers = 4\n",
	    1, "unexpected 'w' after the '}' of source \"a\"");
	expect_error(__LINE__, "source a {\n secret_file = /k\n"
	    " allowed_ips = 10.0.0.0/40 }\n", 3, "allowed_ips: ");
	expect_error(__LINE__, "source a { secret_file = /k, /j }\n", 1,
	    "secret_file takes one value");
	expect_error(__LINE__, "source a { secret_file }\n", 1,
	    "expected '=' after secret_file, found '}'");
	expect_error(__LINE__, "source a { secret_file = }\n", 1,
	    "secret_file has no value");
}
END_TEST

START_TEST(test_cross_keys)
{
	struct conf	*c;

	/* Equal is fine. */
	c = load_ok(__LINE__, "prices_default_limit = 1000\n"
	    "prices_anonymous_max_limit = 1000\n");
	ck_assert_int_eq(c->prices_default_limit, 1000);
	conf_free(c);
	c = load_ok(__LINE__, "prices_max_limit = 5\nprices_default_limit = 5\n"
	    "prices_anonymous_max_limit = 2\n");
	conf_free(c);

	expect_error(__LINE__, "\nprices_default_limit = 1001\n", 2,
	    "prices_default_limit (1001) must not be greater than "
	    "prices_max_limit (1000)");
	expect_error(__LINE__, "prices_anonymous_max_limit = 2000\n", 1,
	    "prices_anonymous_max_limit (2000) must not be greater than "
	    "prices_max_limit (1000)");
	/* Against a default: the line of the key that was given. */
	expect_error(__LINE__, "workers = 2\nprices_max_limit = 99\n", 2,
	    "prices_default_limit (100) must not be greater than "
	    "prices_max_limit (99)");
	/* Both given: the later line. */
	expect_error(__LINE__, "prices_max_limit = 10\n\n"
	    "prices_anonymous_max_limit = 5\nprices_default_limit = 11\n", 4,
	    "prices_default_limit (11)");
	expect_error(__LINE__, "prices_default_limit = 10\n"
	    "prices_anonymous_max_limit = 10\nprices_max_limit = 9\n", 3,
	    "must not be greater than prices_max_limit (9)");

	/* A run older than ingest_max_age is dropped: it could never span. */
	c = load_ok(__LINE__, "ingest_max_age = 600\n");
	ck_assert_int_eq(c->reanchor_span, 600);
	conf_free(c);
	expect_error(__LINE__, "ingest_max_age = 599\n", 1,
	    "reanchor_span (600) must not be greater than ingest_max_age "
	    "(599)");
	expect_error(__LINE__, "reanchor_span = 700\ningest_max_age = 600\n",
	    2, "reanchor_span (700) must not be greater than ingest_max_age "
	    "(600)");
}
END_TEST

START_TEST(test_default_path)
{
	const char	*def = SYSCONFDIR "/aspida/aspida.conf";

	ck_assert_int_eq(unsetenv("ASPIDA_CONFIG"), 0);
	ck_assert_str_eq(conf_default_path(NULL), def);
	ck_assert_str_eq(conf_default_path("/flag.conf"), "/flag.conf");

	ck_assert_int_eq(setenv("ASPIDA_CONFIG", "/env.conf", 1), 0);
	ck_assert_str_eq(conf_default_path(NULL), "/env.conf");
	ck_assert_str_eq(conf_default_path("/flag.conf"), "/flag.conf");

	/* Empty counts as unset. */
	ck_assert_int_eq(setenv("ASPIDA_CONFIG", "", 1), 0);
	ck_assert_str_eq(conf_default_path(NULL), def);
	ck_assert_str_eq(conf_default_path("/flag.conf"), "/flag.conf");
	ck_assert_int_eq(unsetenv("ASPIDA_CONFIG"), 0);
}
END_TEST

/*
 * Secret files live in a private directory made for each test (Check
 * forks every test, so a fixture's state is the test's own).
 */
static char	secret_dir[PATH_MAX];

static void
secret_setup(void)
{
	snprintf(secret_dir, sizeof(secret_dir), "%s/check_conf.d.XXXXXX",
	    tmp_dir());
	ck_assert_ptr_nonnull(mkdtemp(secret_dir));
}

static int
secret_remove(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
secret_teardown(void)
{
	if (secret_dir[0] != '\0')
		(void)nftw(secret_dir, secret_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static void
secret_path(const char *name, char *path, size_t size)
{
	ck_assert_int_lt(snprintf(path, size, "%s/%s", secret_dir, name),
	    (int)size);
}

/* Writes a secret file (any mode, any content) in the private directory. */
static void
secret_write(const char *name, const char *data, size_t len, mode_t mode,
    char *path, size_t size)
{
	int	 fd;

	secret_path(name, path, size);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600),
	    -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

#define SECRET40	"0123456789abcdef0123456789abcdef01234567"
#define SECRET64	\
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/*
 * Reads a secret into a 64-byte buffer.  want NULL: expect success with
 * wantlen bytes; else expect failure with a cause containing the path
 * and want.
 */
static void
secret_expect(int row, const char *path, uid_t uid, const char *want,
    size_t wantlen)
{
	unsigned char	 buf[64];
	char		*cause = NULL;
	size_t		 len = 12345, i;
	int		 r;

	memset(buf, 'X', sizeof(buf));
	r = secret_file_read(path, uid, buf, sizeof(buf), &len, &cause);
	if (want == NULL) {
		ck_assert_msg(r == 0, "row %d: %s", row, cause);
		ck_assert_ptr_null(cause);
		ck_assert_msg(len == wantlen, "row %d: len %zu", row, len);
		return;
	}
	ck_assert_msg(r == -1, "row %d: accepted", row);
	ck_assert_msg(cause != NULL && strstr(cause, want) != NULL,
	    "row %d: cause \"%s\", expected \"%s\"", row, cause, want);
	if (*path != '\0')
		ck_assert_msg(strstr(cause, path) != NULL,
		    "row %d: cause \"%s\" does not name the file", row, cause);
	ck_assert_uint_eq(len, 0);
	/* Nothing read is left behind. */
	for (i = 0; i < sizeof(buf); i++)
		ck_assert_msg(buf[i] == 0, "row %d: buf[%zu] not wiped", row, i);
	free(cause);
}

START_TEST(test_secret_modes)
{
	static const struct {
		int		 row;
		mode_t		 mode;
		const char	*want;
	} cases[] = {
		{ __LINE__, 0600, NULL },
		{ __LINE__, 0400, NULL },
		{ __LINE__, 0700, NULL },
		{ __LINE__, 0640, "is readable by group or others (mode 0640); "
		  "chmod 600 it" },
		{ __LINE__, 0604, "readable by group or others (mode 0604)" },
		{ __LINE__, 0644, "readable by group or others (mode 0644)" },
		{ __LINE__, 0440, "readable by group or others (mode 0440)" },
		{ __LINE__, 0620, "writable or executable by group or others "
		  "(mode 0620)" },
		{ __LINE__, 0602, "(mode 0602)" },
		{ __LINE__, 0610, "(mode 0610)" },
		{ __LINE__, 0601, "(mode 0601)" },
	};
	char	 path[PATH_MAX], name[32];
	size_t	 i;

	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(name, sizeof(name), "mode%zu", i);
		secret_write(name, SECRET40, 40, cases[i].mode, path,
		    sizeof(path));
		secret_expect(cases[i].row, path, geteuid(), cases[i].want, 40);
	}
}
END_TEST

START_TEST(test_secret_owner)
{
	char	 path[PATH_MAX], want[128];
	uid_t	 other = geteuid() == 4242 ? 4243 : 4242;

	secret_write("owned", SECRET40, 40, 0600, path, sizeof(path));
	secret_expect(__LINE__, path, geteuid(), NULL, 40);
	/* The file is ours; aspida would run as another user. */
	snprintf(want, sizeof(want), "is owned by uid %lu, not by the user "
	    "aspida runs as (uid %lu)", (unsigned long)geteuid(),
	    (unsigned long)other);
	secret_expect(__LINE__, path, other, want, 0);

	/* As root: a file that belongs to someone else. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path, other, (gid_t)-1), 0);
		snprintf(want, sizeof(want), "is owned by uid %lu, not by the "
		    "user aspida runs as (uid 0)", (unsigned long)other);
		secret_expect(__LINE__, path, 0, want, 0);
		secret_expect(__LINE__, path, other, NULL, 40);
	}
}
END_TEST

START_TEST(test_secret_kinds)
{
	char	 path[PATH_MAX], target[PATH_MAX];

	/* Missing. */
	secret_path("missing", path, sizeof(path));
	secret_expect(__LINE__, path, geteuid(), "does not exist", 0);
	secret_expect(__LINE__, "", geteuid(), "empty", 0);

	/* A symbolic link, even to a good file, is refused. */
	secret_write("target", SECRET40, 40, 0600, target, sizeof(target));
	secret_path("link", path, sizeof(path));
	ck_assert_int_eq(symlink(target, path), 0);
	secret_expect(__LINE__, path, geteuid(), "is a symbolic link", 0);
	secret_expect(__LINE__, target, geteuid(), NULL, 40);

	/* A directory. */
	secret_path("dir", path, sizeof(path));
	ck_assert_int_eq(mkdir(path, 0700), 0);
	secret_expect(__LINE__, path, geteuid(), "is not a regular file", 0);

	/* A FIFO: refused at once, not waited on (the test would time out). */
	secret_path("fifo", path, sizeof(path));
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	secret_expect(__LINE__, path, geteuid(), "is not a regular file", 0);
}
END_TEST

/* Sizes: at least 32 bytes, at most the buffer, one newline dropped. */
START_TEST(test_secret_sizes)
{
	static const struct {
		int		 row;
		const char	*data;
		size_t		 len;
		const char	*want;
		size_t		 wantlen;
		int		 lastnl;	/* secret ends in '\n' */
	} cases[] = {
		{ __LINE__, SECRET40, 31, "is 31 bytes; secrets must be at "
		  "least 32 bytes", 0, 0 },
		{ __LINE__, "0123456789abcdef0123456789abcde\n", 32,
		  "is 31 bytes", 0, 0 },
		{ __LINE__, "", 0, "is 0 bytes", 0, 0 },
		{ __LINE__, "\n", 1, "is 0 bytes", 0, 0 },
		{ __LINE__, SECRET40, 32, NULL, 32, 0 },
		{ __LINE__, "0123456789abcdef0123456789abcdef\n", 33, NULL, 32,
		  0 },
		{ __LINE__, "0123456789abcdef0123456789abcdef\n\n", 34, NULL,
		  33, 1 },
		{ __LINE__, "0123456789abcdef0123456789abcdef\r\n", 34, NULL,
		  33, 0 },
		{ __LINE__, SECRET64, 64, NULL, 64, 0 },
		{ __LINE__, SECRET64 "\n", 65, NULL, 64, 0 },
		{ __LINE__, SECRET64 "\n\n", 66, "is too large; this secret "
		  "must be at most 64 bytes", 0, 0 },
		{ __LINE__, SECRET64 "0", 65, "is too large", 0, 0 },
		{ __LINE__, SECRET64 "\n0", 66, "is too large", 0, 0 },
		{ __LINE__, SECRET64 SECRET64, 128, "is too large", 0, 0 },
		{ __LINE__, "0123456789abcdef0123456789abcdef0123456789abcdef"
		  "0123456789abcde\n\n", 65, NULL, 64, 1 },
	};
	unsigned char	 buf[64];
	char		 path[PATH_MAX], name[32], *cause;
	size_t		 i, len;

	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(name, sizeof(name), "size%zu", i);
		secret_write(name, cases[i].data, cases[i].len, 0600, path,
		    sizeof(path));
		secret_expect(cases[i].row, path, geteuid(), cases[i].want,
		    cases[i].wantlen);
		if (cases[i].want != NULL)
			continue;
		/* The bytes are the file's, less exactly one newline. */
		cause = NULL;
		ck_assert_int_eq(secret_file_read(path, geteuid(), buf,
		    sizeof(buf), &len, &cause), 0);
		ck_assert_msg(memcmp(buf, cases[i].data, len) == 0,
		    "row %d", cases[i].row);
		ck_assert_msg((buf[len - 1] == '\n') == cases[i].lastnl,
		    "row %d: last byte", cases[i].row);
	}

	/* A smaller buffer bounds the secret, not the file's own size. */
	secret_write("small", SECRET40, 40, 0600, path, sizeof(path));
	cause = NULL;
	ck_assert_int_eq(secret_file_read(path, geteuid(), buf, 39, &len,
	    &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "at most 39 bytes"));
	free(cause);
	ck_assert_int_eq(secret_file_read(path, geteuid(), buf, 40, &len,
	    &cause), 0);
	ck_assert_uint_eq(len, 40);
}
END_TEST

/* conf_load_secrets: which files it needs and where the bytes go. */
/* The other required secrets, all pointed at the cursor's file. */
#define AUTH_SECRETS \
	"jwt_key_file = %s\npassword_pepper_file = %s\ncsrf_secret_file = %s\n"

START_TEST(test_load_secrets)
{
	struct conf	*c;
	char		 cursor[PATH_MAX], feed[PATH_MAX], redis[PATH_MAX];
	char		 bad[PATH_MAX], text[8 * PATH_MAX], *cause = NULL;
	unsigned char	 zero[128];
	const char	*redis_pw = "a-redis-password-of-more-than-32-bytes....";

	memset(zero, 0, sizeof(zero));
	secret_write("cursor", SECRET64 "\n", 65, 0600, cursor, sizeof(cursor));
	secret_write("feed", SECRET40, 40, 0400, feed, sizeof(feed));
	secret_write("redis", redis_pw, strlen(redis_pw), 0600, redis,
	    sizeof(redis));
	secret_write("bad", SECRET40, 40, 0644, bad, sizeof(bad));

	/* No cursor_secret_file: loading works, serving does not. */
	c = load_ok(__LINE__, "workers = 1\n");
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "cursor_secret_file is not set"));
	ck_assert_ptr_nonnull(strstr(cause, c->path));
	free(cause);
	conf_free(c);

	/* Everything. */
	snprintf(text, sizeof(text), "cursor_secret_file = %s\n" AUTH_SECRETS
	    "redis_password_file = \"%s\"\n"
	    "source feed1 { secret_file = %s }\n", cursor, cursor, cursor, cursor, redis, feed);
	c = load_ok(__LINE__, text);
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), 0);
	ck_assert_ptr_null(cause);
	ck_assert_uint_eq(c->cursor_secret_len, 64);
	ck_assert_int_eq(memcmp(c->cursor_secret, SECRET64, 64), 0);
	ck_assert_uint_eq(c->sources[0].secret_len, 40);
	ck_assert_int_eq(memcmp(c->sources[0].secret, SECRET40, 40), 0);
	ck_assert_uint_eq(c->redis_password_len, strlen(redis_pw));
	ck_assert_int_eq(memcmp(c->redis_password, redis_pw,
	    strlen(redis_pw)), 0);
	/* Read as another user: refused. */
	ck_assert_int_eq(conf_load_secrets(c, geteuid() + 1, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "cursor_secret_file: "));
	ck_assert_ptr_nonnull(strstr(cause, "is owned by uid"));
	free(cause);
	conf_free(c);

	/* No Redis password file: none is read. */
	snprintf(text, sizeof(text), "cursor_secret_file = %s\n" AUTH_SECRETS, cursor, cursor, cursor, cursor);
	c = load_ok(__LINE__, text);
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), 0);
	ck_assert_uint_eq(c->redis_password_len, 0);
	conf_free(c);

	/* A bad source secret fails, and wipes the secrets read before it. */
	snprintf(text, sizeof(text), "cursor_secret_file = %s\n" AUTH_SECRETS
	    "source ok { secret_file = %s }\n"
	    "source feed2 { secret_file = %s }\n", cursor, cursor, cursor, cursor, feed, bad);
	c = load_ok(__LINE__, text);
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "source \"feed2\": "));
	ck_assert_ptr_nonnull(strstr(cause, "mode 0644"));
	free(cause);
	ck_assert_uint_eq(c->cursor_secret_len, 0);
	ck_assert_int_eq(memcmp(c->cursor_secret, zero, 64), 0);
	ck_assert_uint_eq(c->sources[0].secret_len, 0);
	ck_assert_int_eq(memcmp(c->sources[0].secret, zero, 64), 0);
	conf_free(c);

	/* A missing source secret file. */
	snprintf(text, sizeof(text), "cursor_secret_file = %s\n" AUTH_SECRETS
	    "source feed3 { secret_file = %s.nope }\n", cursor, cursor, cursor, cursor, feed);
	c = load_ok(__LINE__, text);
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "source \"feed3\": "));
	ck_assert_ptr_nonnull(strstr(cause, "does not exist"));
	free(cause);
	/* A source built without a secret_file (not from a file). */
	free(c->sources[0].secret_file);
	c->sources[0].secret_file = strdup("");
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "source \"feed3\" has no "
	    "secret_file"));
	free(cause);
	conf_free(c);

	/* A bad Redis password file, and a short cursor secret. */
	snprintf(text, sizeof(text), "cursor_secret_file = %s\n" AUTH_SECRETS
	    "redis_password_file = %s\n", cursor, cursor, cursor, cursor, bad);
	c = load_ok(__LINE__, text);
	ck_assert_int_eq(conf_load_secrets(c, geteuid(), &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "redis_password_file: "));
	ck_assert_uint_eq(c->cursor_secret_len, 0);
	free(cause);
	conf_free(c);
}
END_TEST

Suite *
conf_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("conf");

	tc = tcase_create("parse");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_int_bounds);
	tcase_add_test(tc, test_int_syntax);
	tcase_add_test(tc, test_decimal);
	tcase_add_test(tc, test_bool);
	tcase_add_test(tc, test_enum);
	tcase_add_test(tc, test_string);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_unknown_and_duplicate);
	tcase_add_test(tc, test_file_limits);
	tcase_add_test(tc, test_cidrs);
	tcase_add_test(tc, test_cors_origins);
	tcase_add_test(tc, test_sources);
	tcase_add_test(tc, test_cross_keys);
	tcase_add_test(tc, test_default_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, secret_setup, secret_teardown);
	tcase_add_test(tc, test_secret_modes);
	tcase_add_test(tc, test_secret_owner);
	tcase_add_test(tc, test_secret_kinds);
	tcase_add_test(tc, test_secret_sizes);
	tcase_add_test(tc, test_load_secrets);
	suite_add_tcase(s, tc);

	return s;
}
