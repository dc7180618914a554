/*
 * fuzz_body - JSON request bodies through the stages that read them:
 * stage_body (size, media type, a client sending in small pieces, the
 * strict pre-scan, json-c) and stage_validate with each route's field
 * table (strings, names, integers from JSON numbers, assets, lists and
 * arrays), then the pure checks the handlers make of validated values:
 * canonical decimal quantities, CIDR allow lists and blocks, email
 * addresses, refresh tokens.  The first byte picks one of the routes
 * that take a body (the signed ingestion has fuzz_ingest); the rest is
 * the body.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aspida.h"
#include "fuzz.h"

#define FUZZ_BODY_ROUTES	32

static struct arena	*fuzz_arena;
static const struct route *fuzz_routes[FUZZ_BODY_ROUTES];
static char		 fuzz_uris[FUZZ_BODY_ROUTES][128];
static size_t		 fuzz_nroutes;

/* The routes with a body, each with a URI that matches it. */
static void
fuzz_body_routes(void)
{
	const char	*p;
	char		*u;
	size_t		 i, n;

	for (i = 0; i < nroutes && fuzz_nroutes < FUZZ_BODY_ROUTES; i++) {
		if (routes[i].body == NULL || routes[i].ingest)
			continue;
		u = fuzz_uris[fuzz_nroutes];
		for (p = routes[i].path, n = 0; *p != '\0' && n < 100; p++) {
			if (*p != '{') {
				u[n++] = *p;
				continue;
			}
			/* "{asset_id}" or "{id}": a value the field takes. */
			n += (size_t)snprintf(u + n, 128 - n, "%s",
			    strncmp(p, "{asset_id}", 10) == 0 ? "BTC" : "7");
			p = strchr(p, '}');
		}
		u[n] = '\0';
		fuzz_routes[fuzz_nroutes++] = &routes[i];
	}
}

/* What the handlers do with the validated values, short of the database. */
static void
fuzz_body_handlers(struct req *r)
{
	const struct value	*v;
	struct ingest_decimal	 d;
	struct cidr		 c;
	struct json_object	*item;
	long long		 family, counter;
	char			 email[256];
	size_t			 i;

	if ((v = req_body(r, "quantity")) != NULL &&
	    ingest_decimal_parse(v->s, v->len, INGEST_QUANTITY_DECIMALS,
	    INGEST_QUANTITY_MAX, &d, NULL) == 0 &&
	    (d.len != v->len || memcmp(d.text, v->s, v->len) != 0))
		fuzz_fail("a quantity was rewritten");
	if ((v = req_body(r, "allowed_ips")) != NULL)
		for (i = 0; i < (size_t)v->i; i++) {
			item = json_object_array_get_idx(v->list, i);
			(void)cidr_parse(json_object_get_string(item), &c);
		}
	if ((v = req_body(r, "cidr")) != NULL)
		(void)cidr_parse(v->s, &c);
	if ((v = req_body(r, "email")) != NULL)
		(void)email_canonicalize(v->s, email, sizeof(email));
	if ((v = req_body(r, "refresh_token")) != NULL &&
	    token_parse_refresh(v->s, &family, &counter) == 0 &&
	    (family <= 0 || counter < 0))
		fuzz_fail("refresh token of family %lld, counter %lld",
		    family, counter);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_io	 io;
	struct req	 r;
	enum aerr	 err;
	size_t		 k;
	char		 clen[24];

	if (fuzz_arena == NULL) {
		fuzz_arena = arena_new();
		fuzz_body_routes();
	}
	if (size < 1 || fuzz_nroutes == 0)
		return 0;
	k = data[0] % fuzz_nroutes;
	memset(&io, 0, sizeof(io));
	(void)snprintf(clen, sizeof(clen), "%zu", size - 1);
	fuzz_io_param(&io, "REQUEST_METHOD", methods[fuzz_routes[k]->method]);
	fuzz_io_param(&io, "REQUEST_URI", fuzz_uris[k]);
	fuzz_io_param(&io, "REMOTE_ADDR", "192.0.2.10");
	fuzz_io_param(&io, "CONTENT_TYPE", "application/json");
	fuzz_io_param(&io, "CONTENT_LENGTH", clen);
	io.body = (const char *)data + 1;
	io.bodylen = size - 1;
	fuzz_req_init(&r, fuzz_arena, &io);

	if (stage_parse(&r) != AERR_OK)
		fuzz_fail("%s does not parse", fuzz_uris[k]);
	if ((r.route = router_match(&r, &err)) != fuzz_routes[k])
		fuzz_fail("%s is not routed to its route", fuzz_uris[k]);
	if (stage_body(&r) == AERR_OK && stage_validate(&r) == AERR_OK)
		fuzz_body_handlers(&r);
	stage_respond(&r);
	arena_reset(fuzz_arena);
	return 0;
}
