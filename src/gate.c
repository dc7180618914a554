/*
 * Concurrency gates: at most max holders of a named gate at once, across
 * every worker on every host (login hashing, forecasts).  A gate is a Redis
 * sorted set aspida:gate:<name> of slot tokens scored by their expiry time,
 * taken by one Lua script, so a worker that dies holding a slot loses it
 * after the slot's TTL instead of leaking it.  Expiry uses Redis's clock,
 * so hosts with skewed clocks still agree.  What to do when Redis is down
 * is the caller's decision.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "aspida.h"

#define GATE_NAME_MAX	64

/*
 * KEYS[1] the gate, ARGV[1] max, ARGV[2] slot TTL in ms, ARGV[3] token.
 * Drops expired slots, takes one if fewer than max are held, and keeps
 * the key until its last slot expires.  Returns 1 entered, 0 full.
 */
static const char gate_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local max = tonumber(ARGV[1])\n"
    "local ttl = tonumber(ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local entered = 0\n"
    "if redis.call('ZCARD', KEYS[1]) < max then\n"
    "  redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])\n"
    "  entered = 1\n"
    "end\n"
    "local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
    "if last[2] then\n"
    "  redis.call('PEXPIRE', KEYS[1], tonumber(last[2]) - now + 1)\n"
    "end\n"
    "return entered\n";

static char	gate_sha[41];

/* The gate's key; names are ours, but bounded and plain all the same. */
static int
gate_key(const char *name, char *key, size_t size)
{
	size_t	i, n;

	if (name == NULL || (n = strlen(name)) == 0 || n > GATE_NAME_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '_' || name[i] == '-'))
			return -1;
	if ((size_t)snprintf(key, size, "aspida:gate:%s", name) >= size)
		return -1;
	return 0;
}

/*
 * Takes a slot of gate name, held at most ttl_seconds; its token (for
 * gate_leave) goes to token_out, GATE_TOKEN_LEN + 1 bytes.  Returns 1
 * entered, 0 when max slots are held, -1 when Redis cannot answer (or on
 * bad arguments).
 */
int
gate_enter(const char *name, long long max, long long ttl_seconds,
    char *token_out)
{
	char		 key[sizeof("aspida:gate:") + GATE_NAME_MAX];
	char		 smax[24], sttl[24];
	unsigned char	 raw[GATE_TOKEN_LEN / 2];
	const char	*args[4];
	redisReply	*rep;
	int		 rc = -1;

	if (token_out != NULL)
		token_out[0] = '\0';
	if (token_out == NULL || gate_key(name, key, sizeof(key)) == -1 ||
	    max < 1 || max > 1000000 || ttl_seconds < 1 ||
	    ttl_seconds > 86400) {
		log_warnx("gate: bad arguments for gate %s",
		    name ? name : "(null)");
		return -1;
	}
	if (gate_sha[0] == '\0')
		crypto_sha1_hex(gate_script, gate_sha);
	crypto_random(raw, sizeof(raw));
	hex_encode(raw, sizeof(raw), token_out);
	(void)snprintf(smax, sizeof(smax), "%lld", max);
	(void)snprintf(sttl, sizeof(sttl), "%lld", ttl_seconds * 1000);
	args[0] = key;
	args[1] = smax;
	args[2] = sttl;
	args[3] = token_out;
	if ((rep = kv_script(NULL, gate_script, gate_sha, 1, 4, args,
	    NULL)) == NULL)
		goto done;
	if (rep->type == REDIS_REPLY_INTEGER &&
	    (rep->integer == 0 || rep->integer == 1))
		rc = (int)rep->integer;
	else
		log_warnx("gate: %s: unexpected reply: %s", name,
		    rep->type == REDIS_REPLY_ERROR ? rep->str : "not 0 or 1");
	freeReplyObject(rep);
 done:
	if (rc != 1)
		token_out[0] = '\0';
	return rc;
}

/*
 * Gives back a slot.  Failure is only logged: the slot then expires on
 * its own.
 */
void
gate_leave(const char *name, const char *token)
{
	char		 key[sizeof("aspida:gate:") + GATE_NAME_MAX];
	const char	*argv[3];
	redisReply	*rep;

	if (token == NULL || *token == '\0' ||
	    gate_key(name, key, sizeof(key)) == -1)
		return;
	argv[0] = "ZREM";
	argv[1] = key;
	argv[2] = token;
	if ((rep = kv_command(NULL, 3, argv, NULL)) == NULL) {
		log_warnx("gate: %s: slot not released, it will expire",
		    name);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR)
		log_warnx("gate: %s: ZREM: %s", name, rep->str);
	freeReplyObject(rep);
}
