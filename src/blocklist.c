/*
 * The address block list and the automatic blocks (the fail2ban idea,
 * built in).  Blocks live in PostgreSQL (ip_blocks, durable); each worker
 * keeps a local copy and reloads it when the version counter in Redis
 * moves (checked at most once a second), when a block it holds expires,
 * and at least every minute, so a block reaches every worker on every
 * host within about a second without a lookup per request.  A blocked
 * address is refused before its body is read.  An address passing
 * autoblock_violations_per_hour rate-limit violations or
 * autoblock_failed_credentials_per_hour failed credentials is blocked
 * for autoblock_minutes, unless it is in autoblock_ignore.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "aspida.h"

#define BLOCKS_VERSION_KEY	"aspida:blocks:ver"
#define BLOCKS_MAX_AGE		60

static struct cidr_list	 blocks;
static long long	 blocks_version = -1;
static time_t		 checked_at, reload_by;

static int
reload(struct req *r, long long version)
{
	struct cidr_list	 next;
	const char		*errstr = NULL;
	PGresult		*res;
	time_t			 now = time(NULL);
	long long		 first_expiry;

	if (db_query(r, DB_BLOCKS_LIST, NULL, &res) != AERR_OK)
		return -1;
	memset(&next, 0, sizeof(next));
	if (!PQgetisnull(res, 0, 0) &&
	    cidr_list_parse(PQgetvalue(res, 0, 0), &next, &errstr) == -1) {
		log_warnx("block list: %s", errstr ? errstr : "unparsable");
		return -1;
	}
	cidr_list_free(&blocks);
	blocks = next;
	blocks_version = version;
	reload_by = now + BLOCKS_MAX_AGE;
	if (!PQgetisnull(res, 0, 1)) {
		first_expiry = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		if (first_expiry < (long long)reload_by)
			reload_by = (time_t)first_expiry;
	}
	return 0;
}

/* Returns the version counter, or -1 when Redis cannot say. */
static long long
version(struct req *r)
{
	const char		*argv[2] = { "GET", BLOCKS_VERSION_KEY };
	struct redisReply	*rep;

	if ((rep = kv_command(r, 2, argv, NULL)) == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_NIL)
		return 0;
	if (rep->type != REDIS_REPLY_STRING)
		return -1;
	return strtoll(rep->str, NULL, 10);
}

/*
 * Refuses a blocked client.  Returns AERR_OK, or AERR_FORBIDDEN with the
 * request failed.
 */
enum aerr
blocklist_check(struct req *r)
{
	time_t		now = time(NULL);
	long long	v;

	if (now != checked_at) {
		checked_at = now;
		v = version(r);
		if ((v >= 0 && v != blocks_version) || now >= reload_by)
			(void)reload(r, v >= 0 ? v : blocks_version);
	}
	if (blocks.n == 0 || !cidr_list_match(&blocks, &r->client))
		return AERR_OK;
	event_recordf(r, "blocked_request", SEV_INFO,
	    "request from a blocked address");
	return req_fail(r, AERR_FORBIDDEN,
	    "Requests from this address are blocked.");
}

/*
 * Adds a block and tells every worker.  cidr must be valid; minutes 0
 * means no expiry.  Returns the block's id, or -1.
 */
long long
blocklist_add(struct req *r, const char *cidr, const char *reason,
    long long minutes, const char *by, int automatic)
{
	const char		*params[5], *argv[2];
	char			 mins[24];
	PGresult		*res;
	long long		 id;

	(void)snprintf(mins, sizeof(mins), "%lld", minutes);
	params[0] = cidr;
	params[1] = reason;
	params[2] = minutes > 0 ? mins : NULL;
	params[3] = by;
	params[4] = automatic ? "t" : "f";
	if (db_query(r, DB_BLOCK_INSERT, params, &res) != AERR_OK)
		return -1;
	id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) :
	    -1;
	if (r == NULL)
		PQclear(res);
	if (id == -1)
		return -1;
	argv[0] = "INCR";
	argv[1] = BLOCKS_VERSION_KEY;
	freeReplyObject(kv_command(NULL, 2, argv, NULL));
	/* This worker need not wait for the next check. */
	checked_at = 0;
	reload_by = 0;
	return id;
}

/*
 * Blocks the client's address (its /64 for IPv6) automatically, once per
 * block period: SET NX makes one worker of many do it.
 */
static void
autoblock(struct req *r, const char *why, long long minutes)
{
	char			 addr[64], key[96], cidr[80];
	const char		*argv[2];

	if (cidr_list_match(&conf->autoblock_ignore, &r->client))
		return;
	ratelimit_addr_key(&r->client, addr, sizeof(addr));
	(void)snprintf(key, sizeof(key), "aspida:autoblocked:%s", addr);
	if (kv_claim(key, minutes * 60) != 1)
		return;
	(void)snprintf(cidr, sizeof(cidr), "%s/%d", addr,
	    r->client.family == AF_INET6 ? (int)conf->ipv6_prefix : 32);
	if (blocklist_add(r, cidr, why, minutes, "autoblock", 1) == -1) {
		argv[0] = "DEL";
		argv[1] = key;
		(void)kv_command(r, 2, argv, NULL);
		return;
	}
	event_recordf(r, "ip_autoblocked", SEV_CRITICAL, "%s blocked for %lld "
	    "minutes: %s", cidr, minutes, why);
}

/* An alert's automatic block (alerts.c): the same path, its own length. */
void
blocklist_autoblock(struct req *r, const char *why, long long minutes)
{
	autoblock(r, why, minutes);
}

/* violations: the address's count this hour, from the rate-limit script. */
void
blocklist_note_violation(struct req *r, long long violations)
{
	if (violations > conf->autoblock_violations_per_hour)
		autoblock(r, "rate-limit violations", conf->autoblock_minutes);
}

void
blocklist_note_failed_credential(struct req *r)
{
	char			 addr[64], key[96];
	const char		*argv[3];
	struct redisReply	*rep;
	long long		 n;

	ratelimit_addr_key(&r->client, addr, sizeof(addr));
	(void)snprintf(key, sizeof(key), "aspida:credfail:%s", addr);
	argv[0] = "INCR";
	argv[1] = key;
	if ((rep = kv_command(r, 2, argv, NULL)) == NULL ||
	    rep->type != REDIS_REPLY_INTEGER)
		return;
	n = rep->integer;
	if (n == 1) {
		argv[0] = "EXPIRE";
		argv[2] = "3600";
		(void)kv_command(r, 3, argv, NULL);
	}
	if (n > conf->autoblock_failed_credentials_per_hour)
		autoblock(r, "failed credentials", conf->autoblock_minutes);
}
