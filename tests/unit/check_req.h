/*
 * check_req.h - a fake request for the unit tests of the pipeline's
 * stages (check_router.c, check_validate.c, check_ratelimit.c,
 * check_csrf.c): its CGI parameters come from a small table, read
 * through a struct req_io the way fcgi.c reads the real ones.
 */
#ifndef CHECK_REQ_H
#define CHECK_REQ_H

#define CHECK_REQ_MAX_PARAMS	12

struct arena;
struct req;

/* Forgets every parameter of the table. */
void	check_req_clear(void);
/* Adds one to the table; a NULL value leaves the parameter absent. */
void	check_req_param(const char *, const char *);
/* Empties the arena and starts the request on it, reading the table. */
void	check_req_init(struct req *, struct arena *);

#endif /* CHECK_REQ_H */
