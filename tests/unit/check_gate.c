/*
 * check_gate.c - unit tests of gate.c against a real redis-server that each
 * test starts on a free loopback port in a private temporary directory and
 * stops afterwards: the slot limit, leaving, expiry of a dead holder's
 * slot, twenty processes racing for three slots, and Redis going away.  A
 * missing redis-server fails the tests; it never skips them.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "aspida.h"
#include "check_aspida.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define RACERS		20

static pid_t	redis_pid = -1;
static char	redis_dir[64];
static int	redis_port;
static char	redis_host[] = "127.0.0.1";

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A port the kernel just handed out, so almost surely free. */
static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			s, port;

	ck_assert_int_ne(s = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(s);
	return port;
}

static int
redis_pings(int port)
{
	struct timeval	 tv = { 0, 200000 };
	redisContext	*c;
	redisReply	*r;
	int		 ok = 0;

	if ((c = redisConnectWithTimeout("127.0.0.1", port, tv)) == NULL)
		return 0;
	if (c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK &&
	    (r = redisCommand(c, "PING")) != NULL) {
		ok = r->type == REDIS_REPLY_STATUS &&
		    strcmp(r->str, "PONG") == 0;
		freeReplyObject(r);
	}
	redisFree(c);
	return ok;
}

/*
 * Starts redis-server and waits for its PING.  It dies with the test
 * process (PR_SET_PDEATHSIG), so a failed test cannot leave it behind.
 * Returns 0, or -1 when it exited (a port race; the caller retries).
 */
static int
redis_try_start(void)
{
	char	port[16], logf[96];
	int	i, status, fd;

	redis_port = free_port();
	(void)snprintf(port, sizeof(port), "%d", redis_port);
	(void)snprintf(logf, sizeof(logf), "%s/redis.log", redis_dir);
	ck_assert_int_ne(redis_pid = fork(), -1);
	if (redis_pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			(void)dup2(fd, 0);
			(void)dup2(fd, 1);
		}
		execlp("redis-server", "redis-server", "--port", port,
		    "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		    "--dir", redis_dir, "--logfile", logf, (char *)NULL);
		fprintf(stderr, "check_gate: cannot run redis-server: %s\n",
		    strerror(errno));
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if (waitpid(redis_pid, &status, WNOHANG) == redis_pid) {
			redis_pid = -1;
			ck_assert_msg(!WIFEXITED(status) ||
			    WEXITSTATUS(status) != 127,
			    "redis-server is not installed: the gate tests "
			    "need it (apt-get install redis-server)");
			return -1;
		}
		if (redis_pings(redis_port))
			return 0;
		sleep_ms(25);
	}
	ck_abort_msg("redis-server did not answer PING within 5 s");
	return -1;
}

static void
redis_stop(void)
{
	if (redis_pid != -1) {
		(void)kill(redis_pid, SIGTERM);
		(void)waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
}

/*
 * The directory lives as long as the test case, made and removed by the
 * runner itself (an unchecked fixture), so a failed test, whose process
 * exits at once, cannot leave it behind.
 */
static void
dir_setup(void)
{
	(void)strlcpy(redis_dir, "/tmp/check_gate.XXXXXX", sizeof(redis_dir));
	if (mkdtemp(redis_dir) == NULL)
		redis_dir[0] = '\0';
}

static void
dir_teardown(void)
{
	static const char *const files[] = { "redis.log", "dump.rdb" };
	char			 path[96];
	size_t			 i;

	if (redis_dir[0] == '\0')
		return;
	for (i = 0; i < NITEMS(files); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", redis_dir,
		    files[i]);
		(void)unlink(path);
	}
	(void)rmdir(redis_dir);
	redis_dir[0] = '\0';
}

static void
setup(void)
{
	int	try;

	ck_assert_msg(redis_dir[0] != '\0', "cannot make a temporary "
	    "directory for redis-server");
	for (try = 0; try < 5; try++)
		if (redis_try_start() == 0)
			break;
	ck_assert_msg(try < 5, "redis-server exited at start five times; "
	    "see its log in %s", redis_dir);
	check_conf_setup();
	conf->redis_host = redis_host;
	conf->redis_port = redis_port;
	conf->redis_socket = NULL;
	conf->redis_password_len = 0;
	conf->redis_connect_timeout_ms = 500;
	conf->redis_timeout_ms = 1000;
	ck_assert_int_eq(kv_init(), 0);
}

static void
teardown(void)
{
	kv_close();
	redis_stop();
	check_conf_setup();
}

/* An integer command through kv_command: ZCARD key, PTTL key, DBSIZE. */
static long long
redis_int(const char *cmd, const char *key)
{
	const char		*argv[2] = { cmd, key };
	struct redisReply	*r;
	long long		 v;

	ck_assert_ptr_nonnull(r = kv_command(NULL, key ? 2 : 1, argv, NULL));
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static void
assert_token(const char *t)
{
	size_t	i;

	ck_assert_uint_eq(strlen(t), GATE_TOKEN_LEN);
	for (i = 0; i < GATE_TOKEN_LEN; i++)
		ck_assert_msg(strchr("0123456789abcdef", t[i]) != NULL,
		    "token %s", t);
}

START_TEST(test_max_slots)
{
	char	t[4][GATE_TOKEN_LEN + 1];
	int	i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(gate_enter("login", 3, 60, t[i]), 1);
		assert_token(t[i]);
	}
	ck_assert_str_ne(t[0], t[1]);
	ck_assert_str_ne(t[1], t[2]);
	ck_assert_str_ne(t[0], t[2]);
	ck_assert_int_eq(gate_enter("login", 3, 60, t[3]), 0);
	ck_assert_str_eq(t[3], "");
	ck_assert_int_eq(gate_enter("login", 3, 60, t[3]), 0);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:login"), 3);
	/* Another gate is counted apart. */
	ck_assert_int_eq(gate_enter("forecast", 1, 60, t[3]), 1);
	ck_assert_int_eq(gate_enter("forecast", 1, 60, t[3]), 0);
}
END_TEST

START_TEST(test_leave)
{
	char	a[GATE_TOKEN_LEN + 1], b[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 1, 60, a), 1);
	ck_assert_int_eq(gate_enter("login", 1, 60, b), 0);
	/* Only the holder's token frees its slot. */
	gate_leave("login", "00000000000000000000000000000000");
	gate_leave("login", "");
	gate_leave("login", NULL);
	ck_assert_int_eq(gate_enter("login", 1, 60, b), 0);
	gate_leave("login", a);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:login"), 0);
	ck_assert_int_eq(gate_enter("login", 1, 60, b), 1);
	ck_assert_str_ne(a, b);
	/* Leaving twice is harmless. */
	gate_leave("login", a);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:login"), 1);
}
END_TEST

/* A holder that dies without leaving loses its slot after the TTL. */
START_TEST(test_expiry)
{
	char	t[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 1, 1, t), 1);
	ck_assert_int_eq(gate_enter("login", 1, 1, t), 0);
	sleep_ms(500);
	ck_assert_int_eq(gate_enter("login", 1, 1, t), 0);
	sleep_ms(700);
	ck_assert_int_eq(gate_enter("login", 1, 1, t), 1);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:login"), 1);

	/* Also while a live slot keeps the key itself alive. */
	ck_assert_int_eq(gate_enter("busy", 2, 60, t), 1);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 1);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 0);
	sleep_ms(1200);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:busy"), 2);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 1);
	ck_assert_int_eq(gate_enter("busy", 2, 1, t), 0);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:busy"), 2);
}
END_TEST

/* The key itself expires with its last slot: no gate lives forever. */
START_TEST(test_key_ttl)
{
	char		t[GATE_TOKEN_LEN + 1];
	long long	pttl;

	ck_assert_int_eq(gate_enter("login", 2, 1, t), 1);
	pttl = redis_int("PTTL", "aspida:gate:login");
	ck_assert_msg(pttl > 0 && pttl <= 1001, "pttl %lld", pttl);
	/* A longer slot keeps the key as long as it lives. */
	ck_assert_int_eq(gate_enter("login", 2, 30, t), 1);
	pttl = redis_int("PTTL", "aspida:gate:login");
	ck_assert_msg(pttl > 29000 && pttl <= 30001, "pttl %lld", pttl);
	/* And a full gate does not shorten it. */
	ck_assert_int_eq(gate_enter("login", 2, 1, t), 0);
	pttl = redis_int("PTTL", "aspida:gate:login");
	ck_assert_msg(pttl > 29000, "pttl %lld", pttl);
	gate_leave("login", t);

	ck_assert_int_eq(gate_enter("short", 5, 1, t), 1);
	sleep_ms(1200);
	ck_assert_int_eq(redis_int("EXISTS", "aspida:gate:short"), 0);
}
END_TEST

/* Twenty processes, each with its own connection, for three slots. */
START_TEST(test_race)
{
	char	 tok[GATE_TOKEN_LEN + 1], c, results[RACERS + 1];
	int	 go[2], res[2], i, status, rc;
	int	 entered = 0, full = 0, failed = 0;
	pid_t	 pids[RACERS];
	ssize_t	 n;
	size_t	 got = 0;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(res), 0);
	for (i = 0; i < RACERS; i++) {
		ck_assert_int_ne(pids[i] = fork(), -1);
		if (pids[i] == 0) {
			close(go[1]);
			close(res[0]);
			kv_close();	/* never share a connection */
			c = 'e';
			if (kv_init() == 0) {
				/* Wait until the parent lets all go at once. */
				while (read(go[0], &c, 1) == -1 &&
				    errno == EINTR)
					;
				rc = gate_enter("race", 3, 60, tok);
				c = rc == 1 ? '1' : rc == 0 ? '0' : 'e';
			}
			(void)write(res[1], &c, 1);
			kv_close();
			_exit(0);
		}
	}
	close(go[0]);
	close(res[1]);
	close(go[1]);
	while (got < RACERS && (n = read(res[0], results + got,
	    RACERS - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		got += n;
	}
	close(res[0]);
	for (i = 0; i < RACERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "racer %d: status %d", i, status);
	}
	ck_assert_uint_eq(got, RACERS);
	for (i = 0; i < RACERS; i++) {
		entered += results[i] == '1';
		full += results[i] == '0';
		failed += results[i] == 'e';
	}
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(entered, 3);
	ck_assert_int_eq(full, RACERS - 3);
	ck_assert_int_eq(redis_int("ZCARD", "aspida:gate:race"), 3);
}
END_TEST

/* After a SCRIPT FLUSH (or a Redis restart) EVAL takes over. */
START_TEST(test_script_flushed)
{
	const char		*argv[] = { "SCRIPT", "FLUSH" };
	struct redisReply	*r;
	char			 t[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 2, 60, t), 1);
	ck_assert_ptr_nonnull(r = kv_command(NULL, 2, argv, NULL));
	ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
	ck_assert_int_eq(gate_enter("login", 2, 60, t), 1);
	ck_assert_int_eq(gate_enter("login", 2, 60, t), 0);
}
END_TEST

START_TEST(test_redis_down)
{
	char	t[GATE_TOKEN_LEN + 1], held[GATE_TOKEN_LEN + 1];

	ck_assert_int_eq(gate_enter("login", 1, 60, held), 1);
	ck_assert_int_eq(kill(redis_pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(redis_pid, NULL, 0), redis_pid);
	redis_pid = -1;
	memset(t, 'x', sizeof(t));
	ck_assert_int_eq(gate_enter("login", 1, 60, t), -1);
	ck_assert_str_eq(t, "");
	/* Still down on the next try (reconnection refused or backed off). */
	ck_assert_int_eq(gate_enter("login", 1, 60, t), -1);
	gate_leave("login", held);	/* only logged: the slot expires */
}
END_TEST

struct badarg {
	int		 line;
	const char	*name;
	long long	 max;
	long long	 ttl;
};

static const struct badarg badargs[] = {
	{ __LINE__, NULL, 1, 60 },
	{ __LINE__, "", 1, 60 },
	{ __LINE__, "log in", 1, 60 },
	{ __LINE__, "login:*", 1, 60 },
	{ __LINE__, "LOGIN", 1, 60 },
	{ __LINE__, "a1234567890123456789012345678901234567890123456789"
	    "012345678901234", 1, 60 },		/* 65 characters */
	{ __LINE__, "login", 0, 60 },
	{ __LINE__, "login", -1, 60 },
	{ __LINE__, "login", 1, 0 },
	{ __LINE__, "login", 1, -5 },
	{ __LINE__, "login", 1, 86401 },
};

START_TEST(test_bad_args)
{
	const struct badarg	*b = &badargs[_i];
	char			 t[GATE_TOKEN_LEN + 1] = "x";

	ck_assert_msg(gate_enter(b->name, b->max, b->ttl, t) == -1,
	    "line %d", b->line);
	ck_assert_msg(t[0] == '\0', "line %d", b->line);
	ck_assert_int_eq(gate_enter("login", 1, 60, NULL), -1);
	/* Nothing was written for any of them. */
	ck_assert_int_eq(redis_int("DBSIZE", NULL), 0);
}
END_TEST

Suite *
gate_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("gate");
	tc = tcase_create("redis");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_max_slots);
	tcase_add_test(tc, test_leave);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_key_ttl);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_script_flushed);
	tcase_add_test(tc, test_redis_down);
	tcase_add_loop_test(tc, test_bad_args, 0, NITEMS(badargs));
	suite_add_tcase(s, tc);
	return s;
}
