/*
 * check_redis.h - a private redis-server for the unit tests that need a
 * real one (check_gate.c, check_ratelimit.c, check_lockout.c): started on
 * a free loopback port in a temporary directory, with conf and kv.c
 * pointed at it.  A missing redis-server fails the tests; it never skips
 * them.
 */
#ifndef CHECK_REDIS_H
#define CHECK_REDIS_H

struct redisReply;

/* Unchecked fixture: the temporary directory, made and removed once. */
void		 check_redis_dir_setup(void);
void		 check_redis_dir_teardown(void);
/* Checked fixture: start the server and kv_init(); stop both. */
void		 check_redis_start(void);
void		 check_redis_stop(void);
/* Kills the server now (Redis going away under a test). */
void		 check_redis_kill(void);
/* A command through kv.c; the caller frees the reply. */
struct redisReply *check_redis_command(int, const char **);
/* An integer command: "DBSIZE", or CMD key (EXISTS, TTL, PTTL, ...). */
long long	 check_redis_int(const char *, const char *);
/* GET key as a number; -1 when there is no such key. */
long long	 check_redis_get(const char *);
void		 check_redis_sleep_ms(long);

/*
 * Forks CHECK_REDIS_RACERS processes, each with its own kv.c connection,
 * that call the racer all at once; fills results[i] with the character
 * racer i returned ('e' when it could not connect).
 */
#define CHECK_REDIS_RACERS	20
void		 check_redis_race(char (*)(void *), void *,
		    char [CHECK_REDIS_RACERS]);

#endif /* CHECK_REDIS_H */
