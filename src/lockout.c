/*
 * Account lockout against password guessing (API.md, login): failures
 * count per account over lock_window; the failure that reaches
 * lock_threshold locks the account for lock_base, doubling with each
 * further lock up to lock_max; the level is forgotten lock_reset seconds
 * after the last lock ends.  Attempts while locked do not count.  Keys are
 * the SHA-256 of the canonical email, so unknown emails lock exactly like
 * real ones and Redis never holds an address.  Each step is one script:
 * concurrent guesses cannot slip between the count and the lock.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "aspida.h"

static const char fail_lua[] =
    "local ttl = redis.call('TTL', KEYS[2])\n"
    "if ttl > 0 then return {0, ttl} end\n"
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
    "if n < tonumber(ARGV[1]) then return {n, 0} end\n"
    "local lvl = redis.call('INCR', KEYS[3])\n"
    "if lvl > 32 then lvl = 32 end\n"
    "local d = tonumber(ARGV[3]) * 2 ^ (lvl - 1)\n"
    "if d > tonumber(ARGV[4]) then d = tonumber(ARGV[4]) end\n"
    "d = math.floor(d)\n"
    "redis.call('SET', KEYS[2], '1', 'EX', d)\n"
    "redis.call('EXPIRE', KEYS[3], d + tonumber(ARGV[5]))\n"
    "redis.call('DEL', KEYS[1])\n"
    "return {n, d}\n";
static char fail_sha[41];

static void
keys(const char *email, char fail[96], char lock[96], char level[96])
{
	unsigned char	d[32];
	char		hex[65];

	crypto_sha256(email, strlen(email), d);
	hex_encode(d, sizeof(d), hex);
	(void)snprintf(fail, 96, "aspida:fail:%s", hex);
	(void)snprintf(lock, 96, "aspida:lock:%s", hex);
	(void)snprintf(level, 96, "aspida:locklvl:%s", hex);
}

/*
 * Returns the seconds left on the account's lock, 0 when it is not
 * locked, or -1 when Redis cannot say.
 */
long long
lockout_check(struct req *r, const char *email)
{
	char			 fail[96], lock[96], level[96];
	const char		*argv[2];
	struct redisReply	*rep;

	keys(email, fail, lock, level);
	argv[0] = "TTL";
	argv[1] = lock;
	if ((rep = kv_command(r, 2, argv, NULL)) == NULL ||
	    rep->type != REDIS_REPLY_INTEGER)
		return -1;
	return rep->integer > 0 ? rep->integer : 0;
}

/*
 * Counts a failure.  Returns the lock length in seconds when this failure
 * locked the account, 0 when it did not, or -1 when Redis failed.
 */
long long
lockout_fail(struct req *r, const char *email)
{
	char			 fail[96], lock[96], level[96];
	char			 a[5][24];
	const char		*args[8];
	struct redisReply	*rep;

	keys(email, fail, lock, level);
	(void)snprintf(a[0], sizeof(a[0]), "%lld", conf->lock_threshold);
	(void)snprintf(a[1], sizeof(a[1]), "%lld", conf->lock_window);
	(void)snprintf(a[2], sizeof(a[2]), "%lld", conf->lock_base);
	(void)snprintf(a[3], sizeof(a[3]), "%lld", conf->lock_max);
	(void)snprintf(a[4], sizeof(a[4]), "%lld", conf->lock_reset);
	args[0] = fail;
	args[1] = lock;
	args[2] = level;
	args[3] = a[0];
	args[4] = a[1];
	args[5] = a[2];
	args[6] = a[3];
	args[7] = a[4];
	if (fail_sha[0] == '\0')
		crypto_sha1_hex(fail_lua, fail_sha);
	rep = kv_script(r, fail_lua, fail_sha, 3, 8, args, NULL);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
		return -1;
	/* {0, ttl}: already locked, not counted. */
	if (rep->element[0]->integer == 0)
		return 0;
	return rep->element[1]->integer;
}

/* A successful login resets the count (not the level). */
void
lockout_success(struct req *r, const char *email)
{
	char		 fail[96], lock[96], level[96];
	const char	*argv[2];

	keys(email, fail, lock, level);
	argv[0] = "DEL";
	argv[1] = fail;
	(void)kv_command(r, 2, argv, NULL);
}

/* aspidactl unlock: lifts the lock and forgets the count and level. */
int
lockout_clear(const char *email)
{
	char			 fail[96], lock[96], level[96];
	const char		*argv[4];
	struct redisReply	*rep;

	keys(email, fail, lock, level);
	argv[0] = "DEL";
	argv[1] = fail;
	argv[2] = lock;
	argv[3] = level;
	if ((rep = kv_command(NULL, 4, argv, NULL)) == NULL)
		return -1;
	freeReplyObject(rep);
	return 0;
}
