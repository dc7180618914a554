/*
 * check_req.c - a fake request for the unit tests of the pipeline's
 * stages.  The CGI parameters are name and value pairs in a small table
 * that the test fills before it runs a stage; req_param reads them
 * through the param callback of a struct req_io, so the stages see them
 * exactly as they would see FastCGI's.  The table holds pointers only:
 * each value must outlive the request that reads it.
 */
#include "config.h"

#include <string.h>

#include <check.h>

#include "aspida.h"
#include "check_req.h"

static const char	*params[2 * CHECK_REQ_MAX_PARAMS];
static size_t		 nparams;

static const char *
io_param(void *ctx, const char *name)
{
	size_t	i;

	(void)ctx;
	for (i = 0; i < nparams; i++)
		if (strcmp(params[2 * i], name) == 0)
			return params[2 * i + 1];
	return NULL;
}

static const struct req_io test_io = { .param = io_param };

void
check_req_clear(void)
{
	nparams = 0;
}

void
check_req_param(const char *name, const char *value)
{
	if (value == NULL)
		return;
	ck_assert_uint_lt(nparams, CHECK_REQ_MAX_PARAMS);
	params[2 * nparams] = name;
	params[2 * nparams + 1] = value;
	nparams++;
}

void
check_req_init(struct req *r, struct arena *a)
{
	arena_reset(a);
	req_init(r, a, &test_io);
}
