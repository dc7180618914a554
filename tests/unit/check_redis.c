/*
 * check_redis.c - a real redis-server for the unit tests that need one:
 * each test starts it on a free loopback port in a private temporary
 * directory, points conf and kv.c at it, and stops it afterwards, so no
 * test sees another's keys.  It dies with the test process, so a failed
 * test cannot leave it behind.  A missing redis-server fails the tests;
 * it never skips them.  Also the harness for processes racing on it.
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
#include "check_redis.h"

static pid_t	redis_pid = -1;
static char	redis_dir[64];
static int	redis_port;
static char	redis_host[] = "127.0.0.1";

void
check_redis_sleep_ms(long ms)
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
pings(int port)
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

/* Returns 0, or -1 when the server exited (a port race: try again). */
static int
try_start(void)
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
		fprintf(stderr, "check_redis: cannot run redis-server: %s\n",
		    strerror(errno));
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if (waitpid(redis_pid, &status, WNOHANG) == redis_pid) {
			redis_pid = -1;
			ck_assert_msg(!WIFEXITED(status) ||
			    WEXITSTATUS(status) != 127,
			    "redis-server is not installed: these tests "
			    "need it (apt-get install redis-server)");
			return -1;
		}
		if (pings(redis_port))
			return 0;
		check_redis_sleep_ms(25);
	}
	ck_abort_msg("redis-server did not answer PING within 5 s");
	return -1;
}

void
check_redis_dir_setup(void)
{
	(void)strlcpy(redis_dir, "/tmp/check_redis.XXXXXX",
	    sizeof(redis_dir));
	if (mkdtemp(redis_dir) == NULL)
		redis_dir[0] = '\0';
}

void
check_redis_dir_teardown(void)
{
	static const char *const files[] = { "redis.log", "dump.rdb" };
	char			 path[96];
	size_t			 i;

	if (redis_dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", redis_dir,
		    files[i]);
		(void)unlink(path);
	}
	(void)rmdir(redis_dir);
	redis_dir[0] = '\0';
}

void
check_redis_start(void)
{
	int	try;

	ck_assert_msg(redis_dir[0] != '\0', "cannot make a temporary "
	    "directory for redis-server");
	for (try = 0; try < 5; try++)
		if (try_start() == 0)
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

void
check_redis_kill(void)
{
	if (redis_pid != -1) {
		ck_assert_int_eq(kill(redis_pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(redis_pid, NULL, 0), redis_pid);
		redis_pid = -1;
	}
}

void
check_redis_stop(void)
{
	kv_close();
	if (redis_pid != -1) {
		(void)kill(redis_pid, SIGTERM);
		(void)waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
	check_conf_setup();
}

struct redisReply *
check_redis_command(int argc, const char **argv)
{
	struct redisReply	*r;

	r = kv_command(NULL, argc, argv, NULL);
	ck_assert_msg(r != NULL, "redis did not answer %s", argv[0]);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", argv[0],
	    r->str);
	return r;
}

long long
check_redis_int(const char *cmd, const char *key)
{
	const char		*argv[2] = { cmd, key };
	struct redisReply	*r;
	long long		 v;

	r = check_redis_command(key ? 2 : 1, argv);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s: type %d", cmd,
	    r->type);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

long long
check_redis_get(const char *key)
{
	const char		*argv[2] = { "GET", key };
	struct redisReply	*r;
	long long		 v = -1;

	r = check_redis_command(2, argv);
	ck_assert_msg(r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_NIL, "GET %s: type %d", key, r->type);
	if (r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

void
check_redis_race(char (*racer)(void *), void *arg,
    char results[CHECK_REDIS_RACERS])
{
	char	 c;
	int	 go[2], res[2], i, status;
	pid_t	 pids[CHECK_REDIS_RACERS];
	ssize_t	 n;
	size_t	 got = 0;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(res), 0);
	for (i = 0; i < CHECK_REDIS_RACERS; i++) {
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
				c = racer(arg);
			}
			(void)write(res[1], &c, 1);
			kv_close();
			_exit(0);
		}
	}
	close(go[0]);
	close(res[1]);
	close(go[1]);
	while (got < CHECK_REDIS_RACERS && (n = read(res[0], results + got,
	    CHECK_REDIS_RACERS - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	close(res[0]);
	for (i = 0; i < CHECK_REDIS_RACERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "racer %d: status %d", i, status);
	}
	ck_assert_uint_eq(got, CHECK_REDIS_RACERS);
}
