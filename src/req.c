/*
 * The request object: its creation, its id, and the accessors handlers use
 * to read validated values.  Handlers never read raw parameters.
 */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "aspida.h"

const char *const methods[METHOD__MAX] = {
	[METHOD_GET] = "GET",
	[METHOD_HEAD] = "HEAD",
	[METHOD_POST] = "POST",
	[METHOD_PUT] = "PUT",
	[METHOD_PATCH] = "PATCH",
	[METHOD_DELETE] = "DELETE",
	[METHOD_OPTIONS] = "OPTIONS",
};

/* Request ids are ours alone (16 random bytes), never taken from a client. */
void
req_new_id(char *out)
{
	unsigned char	raw[ASPIDA_REQID_LEN / 2];

	crypto_random(raw, sizeof(raw));
	hex_encode(raw, sizeof(raw), out);
}

void
req_init(struct req *r, struct arena *a, const struct req_io *io)
{
	memset(r, 0, sizeof(*r));
	r->arena = a;
	r->io = *io;
	r->method = METHOD__MAX;
	r->status = 200;
	buf_init(&r->out, a);
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	req_new_id(r->id);
}

/* Returns a CGI parameter; an empty value counts as absent. */
const char *
req_param(struct req *r, const char *name)
{
	const char	*v;

	if (r->io.param == NULL)
		return NULL;
	v = r->io.param(r->io.ctx, name);
	if (v == NULL || *v == '\0')
		return NULL;
	return v;
}

void
req_header(struct req *r, const char *name, const char *value)
{
	if (r->nheaders == ASPIDA_MAX_HEADERS)
		fatalx("too many response headers");
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->nheaders++;
}

/* Replaces a header already set, or adds it. */
void
req_header_set(struct req *r, const char *name, const char *value)
{
	size_t	i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0) {
			r->headers[i].value = value;
			return;
		}
	req_header(r, name, value);
}

static const struct value *
value_find(const struct value *v, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (v[i].field != NULL && v[i].present &&
		    strcmp(v[i].field->name, name) == 0)
			return &v[i];
	return NULL;
}

const struct value *
req_query(const struct req *r, const char *name)
{
	return value_find(r->qvals, ASPIDA_MAX_QUERY, name);
}

const struct value *
req_path(const struct req *r, const char *name)
{
	return value_find(r->params, ASPIDA_MAX_PATH_PARAMS, name);
}

const struct value *
req_body(const struct req *r, const char *name)
{
	return value_find(r->bvals,
	    sizeof(r->bvals) / sizeof(r->bvals[0]), name);
}
