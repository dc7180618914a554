/*
 * Rate limiting: GCRA (RATELIMIT.md) for several limits at once in one
 * atomic Redis script, which also carries the request's other hot-path
 * lookups (the access token's revocation and the user's generation), so
 * an authenticated read costs one round trip to Redis in all.  Either
 * every limit passes and is charged, or none is charged.  A denied
 * request counts toward its address's violations (automatic blocks).
 * When Redis cannot answer, a small per-worker table keeps GCRA limits
 * locally (DESIGN.md failure policy).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "aspida.h"

#define LOCAL_SLOTS	1024

/*
 * The name given for a lookup the script skips.  Redis's ACL checks every
 * key of an EVAL, used or not, so it stays under aspida's prefix; nothing
 * ever writes it.
 */
#define RL_NO_KEY	"aspida:-"

/*
 * KEYS: the n limit keys, then the violation key, the revoked-jti key,
 * the user key, the download-quota key, the cached-price key and the
 * revoked-family key (RL_NO_KEY to skip).  ARGV: n, then
 * per limit the burst and the emission interval in microseconds.  Returns
 * per limit {allowed, remaining, retry_after_ms, reset_ms}, then
 * violations, revoked, and when asked gen and role, quota bytes used and
 * the cached latest price (nil when not cached).
 */
static const char hot_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local n = tonumber(ARGV[1])\n"
    "local res, nts, all = {}, {}, true\n"
    "for i = 1, n do\n"
    "  local burst = tonumber(ARGV[2 * i])\n"
    "  local T = tonumber(ARGV[2 * i + 1])\n"
    "  local tat = tonumber(redis.call('GET', KEYS[i]) or now)\n"
    "  if tat < now then tat = now end\n"
    "  local tau = T * burst\n"
    "  local nt = tat + T\n"
    "  if now < nt - tau then\n"
    "    all = false\n"
    "    nts[i] = false\n"
    "    res[#res + 1] = 0\n"
    "    res[#res + 1] = 0\n"
    "    res[#res + 1] = math.ceil((nt - tau - now) / 1000)\n"
    "    res[#res + 1] = math.ceil((tat - now) / 1000)\n"
    "  else\n"
    "    nts[i] = nt\n"
    "    res[#res + 1] = 1\n"
    "    res[#res + 1] = math.floor((now - (nt - tau)) / T)\n"
    "    res[#res + 1] = 0\n"
    "    res[#res + 1] = math.ceil((nt - now) / 1000)\n"
    "  end\n"
    "end\n"
    "if all then\n"
    "  for i = 1, n do\n"
    "    redis.call('SET', KEYS[i], string.format('%.0f', nts[i]), 'PX',\n"
    "      math.ceil((nts[i] - now) / 1000) + 1)\n"
    "  end\n"
    "  res[#res + 1] = 0\n"
    "else\n"
    "  local v = redis.call('INCR', KEYS[n + 1])\n"
    "  if v == 1 then redis.call('EXPIRE', KEYS[n + 1], 3600) end\n"
    "  res[#res + 1] = v\n"
    "end\n"
    "if KEYS[n + 2] ~= '" RL_NO_KEY "' then\n"
    "  res[#res + 1] = redis.call('EXISTS', KEYS[n + 2], KEYS[n + 6])\n"
    "else\n"
    "  res[#res + 1] = 0\n"
    "end\n"
    "if KEYS[n + 3] ~= '" RL_NO_KEY "' then\n"
    "  local u = redis.call('HMGET', KEYS[n + 3], 'gen', 'role')\n"
    "  res[#res + 1] = u[1]\n"
    "  res[#res + 1] = u[2]\n"
    "end\n"
    "if KEYS[n + 4] ~= '" RL_NO_KEY "' then\n"
    "  res[#res + 1] = tonumber(redis.call('GET', KEYS[n + 4]) or '0')\n"
    "end\n"
    "if KEYS[n + 5] ~= '" RL_NO_KEY "' then\n"
    "  res[#res + 1] = redis.call('GET', KEYS[n + 5])\n"
    "end\n"
    "return res\n";
static char hot_sha[41];

/* The per-worker fallback: GCRA state by hashed key, collisions overwrite. */
static struct {
	unsigned long long	hash;
	double			tat;
} local_state[LOCAL_SLOTS];

static double
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static unsigned long long
fnv1a(const char *s)
{
	unsigned long long	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static double
interval_us(long long per_minute)
{
	return 60e6 / (double)per_minute;
}

/*
 * The same GCRA, per worker, when Redis is down: the bound holds per
 * worker only, which is what the failure policy promises.
 */
static void
check_local(struct rl_check *c)
{
	double			 now = now_us(), tat[RL_MAX_LIMITS], T, tau;
	size_t			 i, slot[RL_MAX_LIMITS];
	unsigned long long	 h[RL_MAX_LIMITS];
	int			 all = 1;

	for (i = 0; i < c->n; i++) {
		h[i] = fnv1a(c->key[i]);
		slot[i] = h[i] % LOCAL_SLOTS;
		tat[i] = local_state[slot[i]].hash == h[i] ?
		    local_state[slot[i]].tat : now;
		if (tat[i] < now)
			tat[i] = now;
		T = interval_us(c->per_minute[i]);
		tau = T * (double)c->burst[i];
		if (now < tat[i] + T - tau) {
			all = 0;
			c->allowed[i] = 0;
			c->remaining[i] = 0;
			c->retry_ms[i] = (long long)((tat[i] + T - tau - now) /
			    1000) + 1;
			c->reset_ms[i] = (long long)((tat[i] - now) / 1000) + 1;
		} else {
			c->allowed[i] = 1;
			c->remaining[i] = (long long)((now - (tat[i] + T - tau)) /
			    T);
			c->retry_ms[i] = 0;
			c->reset_ms[i] = (long long)((tat[i] + T - now) / 1000) + 1;
		}
	}
	for (i = 0; all && i < c->n; i++) {
		local_state[slot[i]].hash = h[i];
		local_state[slot[i]].tat = tat[i] + interval_us(c->per_minute[i]);
	}
	c->violations = all ? 0 : 1;
	c->revoked = 0;
	c->gen = -1;
	c->local = 1;
}

/*
 * Runs the limits (and, when set, the revocation and user lookups).
 * Returns 0 with the results filled, or -1 when Redis could not answer
 * (the caller applies the failure policy; ratelimit_local() then gives
 * per-worker limits).
 */
int
ratelimit_check(struct req *r, struct rl_check *c)
{
	const char		*args[2 * RL_MAX_LIMITS + 12];
	char			 num[2 * RL_MAX_LIMITS + 1][32];
	struct redisReply	*rep;
	size_t			 i, k = 0, nargs, e;

	if (c->n == 0 || c->n > RL_MAX_LIMITS)
		return -1;
	for (i = 0; i < c->n; i++)
		args[k++] = c->key[i];
	args[k++] = c->viol_key;
	args[k++] = c->revoked_key ? c->revoked_key : RL_NO_KEY;
	args[k++] = c->user_key ? c->user_key : RL_NO_KEY;
	args[k++] = c->quota_key ? c->quota_key : RL_NO_KEY;
	args[k++] = c->price_key ? c->price_key : RL_NO_KEY;
	args[k++] = c->family_key ? c->family_key : RL_NO_KEY;
	(void)snprintf(num[0], sizeof(num[0]), "%zu", c->n);
	args[k++] = num[0];
	for (i = 0; i < c->n; i++) {
		(void)snprintf(num[1 + 2 * i], sizeof(num[0]), "%lld",
		    c->burst[i]);
		(void)snprintf(num[2 + 2 * i], sizeof(num[0]), "%.3f",
		    interval_us(c->per_minute[i]));
		args[k++] = num[1 + 2 * i];
		args[k++] = num[2 + 2 * i];
	}
	nargs = k;
	if (hot_sha[0] == '\0')
		crypto_sha1_hex(hot_lua, hot_sha);
	rep = kv_script(r, hot_lua, hot_sha, (int)c->n + 6, (int)nargs, args,
	    NULL);
	e = 4 * c->n + 2 + (c->user_key ? 2 : 0) + (c->quota_key ? 1 : 0) +
	    (c->price_key ? 1 : 0);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != e) {
		if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
			log_warnx("%s: rate-limit script: %s", r->id, rep->str);
		return -1;
	}
	for (i = 0; i < c->n; i++) {
		c->allowed[i] = rep->element[4 * i]->integer == 1;
		c->remaining[i] = rep->element[4 * i + 1]->integer;
		c->retry_ms[i] = rep->element[4 * i + 2]->integer;
		c->reset_ms[i] = rep->element[4 * i + 3]->integer;
	}
	k = 4 * c->n;
	c->violations = rep->element[k++]->integer;
	c->revoked = rep->element[k++]->integer >= 1;
	c->gen = -1;
	if (c->user_key != NULL) {
		if (rep->element[k]->type == REDIS_REPLY_STRING)
			c->gen = strtoll(rep->element[k]->str, NULL, 10);
		c->admin = rep->element[k + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(rep->element[k + 1]->str, "admin") == 0;
		k += 2;
	}
	c->quota_used = 0;
	if (c->quota_key != NULL)
		c->quota_used = rep->element[k++]->integer;
	c->price = NULL;
	if (c->price_key != NULL && rep->element[k]->type == REDIS_REPLY_STRING)
		c->price = rep->element[k]->str;	/* lives with the request */
	c->local = 0;
	return 0;
}

void
ratelimit_local(struct rl_check *c)
{
	check_local(c);
}

/* The key part for an address: IPv6 clients count by their /64. */
void
ratelimit_addr_key(const struct ipaddr *a, char *out, size_t outsize)
{
	struct ipaddr	t = *a;

	ipaddr_truncate(&t, 32, (int)conf->ipv6_prefix);
	if (ipaddr_format(&t, out, outsize) == -1)
		(void)strlcpy(out, "?", outsize);
}
