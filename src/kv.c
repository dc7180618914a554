/*
 * Redis: one connection per worker with connect and command timeouts
 * (hiredis has no command timeout until redisSetTimeout, and forgets it on
 * reconnect).  A NULL reply means the connection is dead: it is dropped,
 * never reused (a late reply would answer the next command), and retried
 * after a capped backoff.  Scripts run by EVALSHA with an EVAL fallback.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "aspida.h"

static redisContext	*rc;
static long long	 retry_at_ms;
static long long	 backoff_ms;
static int		 down_reported;

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct timeval
tv_ms(long long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static void
kv_fail(const char *reason)
{
	char	why[128];

	/* reason may point into the context freed below. */
	metrics_count(METRIC_DEPENDENCY_ERRORS);
	(void)strlcpy(why, reason, sizeof(why));
	redisFree(rc);
	rc = NULL;
	backoff_ms = backoff_ms == 0 ? 100 : backoff_ms * 2;
	if (backoff_ms > 5000)
		backoff_ms = 5000;
	retry_at_ms = now_ms() + backoff_ms;
	if (!down_reported) {
		down_reported = 1;
		log_crit("redis unavailable: %s", why);
	}
}

/*
 * Builds the AUTH command for the configured credentials: "AUTH password"
 * for Redis's default user (requirepass), "AUTH user password" for an ACL
 * user.  The password is passed by length, never through a format, and
 * never logged.  Returns the argument count, 0 when there is no password
 * (no AUTH is sent), or -1 for a user without a password, which Redis
 * would refuse anyway.
 */
int
kv_auth_argv(const char *user, const unsigned char *pw, size_t pwlen,
    const char *argv[3], size_t lens[3])
{
	int	argc = 0;

	if (pwlen == 0)
		return user != NULL && *user != '\0' ? -1 : 0;
	argv[argc] = "AUTH";
	lens[argc++] = 4;
	if (user != NULL && *user != '\0') {
		argv[argc] = user;
		lens[argc++] = strlen(user);
	}
	argv[argc] = (const char *)pw;
	lens[argc++] = pwlen;
	return argc;
}

static int
kv_connect(void)
{
	redisReply	*rep;
	const char	*argv[3];
	size_t		 lens[3];
	int		 argc, on_socket;
	char		 why[128];
	struct timeval	 ct = tv_ms(conf->redis_connect_timeout_ms);

	on_socket = conf->redis_socket != NULL && *conf->redis_socket != '\0';
	if (on_socket)
		rc = redisConnectUnixWithTimeout(conf->redis_socket, ct);
	else
		rc = redisConnectWithTimeout(conf->redis_host,
		    (int)conf->redis_port, ct);
	if (rc == NULL || rc->err) {
		kv_fail(rc ? rc->errstr : "out of memory");
		return -1;
	}
	if (redisSetTimeout(rc, tv_ms(conf->redis_timeout_ms)) != REDIS_OK) {
		kv_fail("cannot set the command timeout");
		return -1;
	}
	/*
	 * TCP only: on a unix socket hiredis's TCP_KEEPIDLE fails and leaves
	 * a sticky error in the context, which makes every command fail.
	 */
	if (!on_socket && redisEnableKeepAlive(rc) != REDIS_OK) {
		kv_fail(rc->errstr);
		return -1;
	}
	argc = kv_auth_argv(conf->redis_user, conf->redis_password,
	    conf->redis_password_len, argv, lens);
	if (argc == -1) {
		kv_fail("redis_user is set without a password");
		return -1;
	}
	if (argc > 0) {
		rep = redisCommandArgv(rc, argc, argv, lens);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
			/* Redis's reason (WRONGPASS, ...) never echoes it. */
			(void)snprintf(why, sizeof(why),
			    "authentication refused%s%.80s",
			    rep != NULL ? ": " : "", rep != NULL ? rep->str : "");
			freeReplyObject(rep);
			kv_fail(why);
			return -1;
		}
		freeReplyObject(rep);
	}
	backoff_ms = 0;
	if (down_reported) {
		down_reported = 0;
		log_info("redis available again");
	}
	return 0;
}

int
kv_init(void)
{
	return kv_connect();
}

void
kv_close(void)
{
	redisFree(rc);
	rc = NULL;
}

int
kv_available(void)
{
	if (rc != NULL)
		return 1;
	if (now_ms() < retry_at_ms)
		return 0;
	return kv_connect() == 0;
}

static void
reply_free(void *p)
{
	freeReplyObject(p);
}

/*
 * Runs one command.  Returns its reply (released with the request when r
 * is not NULL; else the caller frees it), or NULL when Redis cannot answer
 * now.  A reply of type REDIS_REPLY_ERROR is returned: the command failed,
 * the connection is fine.
 */
struct redisReply *
kv_command(struct req *r, int argc, const char **argv, const size_t *lens)
{
	redisReply	*rep;

	if (!kv_available())
		return NULL;
	if ((rep = redisCommandArgv(rc, argc, argv, lens)) == NULL) {
		kv_fail(rc->errstr[0] ? rc->errstr : "connection lost");
		return NULL;
	}
	if (r != NULL)
		arena_defer(r->arena, reply_free, rep);
	return rep;
}

/*
 * Claims key for ttl seconds (SET NX EX), so that of many workers and
 * hosts one does a piece of work once: 1 for the caller that got it, 0
 * when another holds it, -1 when Redis cannot answer.
 */
int
kv_claim(const char *key, long long ttl)
{
	const char	*argv[6];
	char		 seconds[24];
	redisReply	*rep;
	int		 won;

	(void)snprintf(seconds, sizeof(seconds), "%lld", ttl < 1 ? 1 : ttl);
	argv[0] = "SET";
	argv[1] = key;
	argv[2] = "1";
	argv[3] = "NX";
	argv[4] = "EX";
	argv[5] = seconds;
	if ((rep = kv_command(NULL, 6, argv, NULL)) == NULL)
		return -1;
	won = rep->type == REDIS_REPLY_ERROR ? -1 :
	    rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	return won;
}

/*
 * Runs a Lua script by its SHA-1, sending the body only when Redis does
 * not know it yet (after a restart or SCRIPT FLUSH).  args are the keys
 * followed by the other arguments.  Returns as kv_command does.
 */
struct redisReply *
kv_script(struct req *r, const char *body, const char *sha, int nkeys,
    int nargs, const char **args, const size_t *lens)
{
	const char	*argv[32];
	size_t		 argl[32];
	char		 nk[16];
	redisReply	*rep;
	int		 i;

	if (nargs + 3 > 32)
		fatalx("kv_script: too many arguments");
	(void)snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = sha;
	argv[2] = nk;
	for (i = 0; i < nargs; i++) {
		argv[3 + i] = args[i];
		argl[3 + i] = lens ? lens[i] : strlen(args[i]);
	}
	argl[0] = 7;
	argl[1] = strlen(sha);
	argl[2] = strlen(nk);
	if ((rep = kv_command(NULL, nargs + 3, argv, argl)) == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		argv[0] = "EVAL";
		argl[0] = 4;
		argv[1] = body;
		argl[1] = strlen(body);
		if ((rep = kv_command(NULL, nargs + 3, argv, argl)) == NULL)
			return NULL;
	}
	if (r != NULL)
		arena_defer(r->arena, reply_free, rep);
	return rep;
}

/* Returns 0 when Redis answers PING now. */
int
kv_ping(void)
{
	const char	*argv[] = { "PING" };
	size_t		 lens[] = { 4 };
	redisReply	*rep;
	int		 ok;

	if ((rep = kv_command(NULL, 1, argv, lens)) == NULL)
		return -1;
	ok = rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	return ok ? 0 : -1;
}
