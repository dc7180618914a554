/*
 * fuzz.c - the set-up every libFuzzer target shares.  The configuration
 * lives in memory with fixed secrets, so a target is deterministic and
 * can sign what it feeds the verifiers; PostgreSQL and Redis are
 * configured unreachable (an invalid conninfo, a socket that does not
 * exist), so a code path that wants them takes its "dependency down"
 * branch at once; and syslog is masked, since every refused input is a
 * security event and a fuzzer makes hundreds of thousands of them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "aspida.h"
#include "fuzz.h"

static struct conf	 fuzz_conf;
static char		 fuzz_empty[] = "";
static char		 fuzz_kid[] = FUZZ_JWT_KID;
static char		 fuzz_previous_kid[] = FUZZ_JWT_PREVIOUS_KID;
static char		 fuzz_issuer[] = FUZZ_JWT_ISSUER;
static char		 fuzz_audience[] = FUZZ_JWT_AUDIENCE;
static char		 fuzz_conninfo[] = "aspida_fuzz_no_database=1";
static char		 fuzz_redis[] = "/nonexistent/aspida-fuzz/redis.sock";
static char		 fuzz_origin[] = "https://app.example";
static char		*fuzz_origins[] = { fuzz_origin };
static char		 fuzz_source1[] = FUZZ_SOURCE;
static char		 fuzz_source2[] = "feed-2";

static void
fuzz_cidrs(struct cidr_list *l, const char *s)
{
	const char	*errstr;

	if (cidr_list_parse(s, l, &errstr) == -1)
		fuzz_fail("fuzz_setup: %s: %s", s, errstr);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf	*c = &fuzz_conf;
	int		 i;

	(void)argc;
	(void)argv;
	/* No priority is in the mask: syslog() returns at once. */
	(void)setlogmask(1 << 8);
	crypto_init();

	memset(c, 0, sizeof(*c));
	c->listen = fuzz_empty;
	c->max_body_bytes = 65536;
	c->ingest_max_body_bytes = 262144;
	c->prices_default_limit = 100;
	c->prices_max_limit = 1000;
	c->prices_anonymous_max_limit = 100;
	c->retry_after_unavailable = 5;
	c->event_flush_seconds = 3600;
	c->db_conninfo = fuzz_conninfo;
	c->db_connect_timeout_ms = 50;
	c->db_query_timeout_ms = 50;
	c->db_retry_max_ms = 5000;
	c->redis_socket = fuzz_redis;
	c->redis_connect_timeout_ms = 50;
	c->redis_timeout_ms = 50;
	c->ipv6_prefix = 64;
	c->cors_origins = fuzz_origins;
	c->ncors_origins = 1;
	fuzz_cidrs(&c->trusted_proxies, "10.0.0.0/8, 2001:db8:ffff::/48");
	fuzz_cidrs(&c->admin_allow_ips, "127.0.0.1, 192.0.2.0/24");
	fuzz_cidrs(&c->metrics_allow_ips, "127.0.0.1");
	memset(c->cursor_secret, 'k', 32);
	c->cursor_secret_len = 32;
	c->jwt_kid = fuzz_kid;
	memset(c->jwt_key, 'j', 32);
	c->jwt_key_len = 32;
	c->jwt_previous_kid = fuzz_previous_kid;
	memset(c->jwt_previous_key, 'p', 48);
	c->jwt_previous_key_len = 48;
	c->jwt_issuer = fuzz_issuer;
	c->jwt_audience = fuzz_audience;
	c->access_token_ttl = 900;
	c->refresh_token_ttl = 86400;
	c->jwt_leeway = 30;
	c->bind_ip = 1;
	memset(c->csrf_secret, 'c', 32);
	c->csrf_secret_len = 32;
	c->max_price = 1000000000000LL;
	c->ingest_max_age = 7 * 86400;
	c->ingest_future_skew = 300;
	c->outlier_z = 6.0;
	c->max_jump = 0.5;
	c->reanchor_points = 5;
	c->reanchor_span = 600;
	c->ingest_window_points = 200;
	c->sources[0].name = fuzz_source1;
	fuzz_cidrs(&c->sources[0].allowed_ips, "127.0.0.1, 192.0.2.0/24");
	c->sources[1].name = fuzz_source2;
	fuzz_cidrs(&c->sources[1].allowed_ips, "2001:db8::/32");
	for (i = 0; i < 2; i++) {
		memset(c->sources[i].secret, 's' + i, 32);
		c->sources[i].secret_len = 32;
	}
	c->nsources = 2;
	conf = c;
	return 0;
}

void
fuzz_fail(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
	abort();
}

char *
fuzz_strndup(const uint8_t *data, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL)
		fuzz_fail("fuzz_strndup: out of memory");
	if (len > 0)
		memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

void
fuzz_io_param(struct fuzz_io *io, const char *name, const char *value)
{
	size_t	 i;

	if (value == NULL || io->n == FUZZ_MAX_PARAMS)
		return;
	for (i = 0; i < io->n; i++)
		if (strcmp(io->name[i], name) == 0)
			return;
	io->name[io->n] = name;
	io->value[io->n] = value;
	io->n++;
}

void
fuzz_io_parse(struct fuzz_io *io, char *text, size_t len)
{
	char	*p = text, *end = text + len, *nl, *eq;

	memset(io, 0, sizeof(*io));
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl == p) {		/* the empty line: the body follows */
			io->body = p + 1;
			io->bodylen = (size_t)(end - p - 1);
			return;
		}
		*nl = '\0';
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			fuzz_io_param(io, p, eq + 1);
		}
		p = nl + 1;
	}
}

static const char *
fuzz_io_get(void *ctx, const char *name)
{
	struct fuzz_io	*io = ctx;
	size_t		 i;

	for (i = 0; i < io->n; i++)
		if (strcmp(io->name[i], name) == 0)
			return io->value[i];
	return NULL;
}

/* Hands the body out in pieces of at most 7 bytes, as a slow client. */
static int
fuzz_io_read(void *ctx, char *buf, size_t len)
{
	struct fuzz_io	*io = ctx;
	size_t		 n = io->bodylen - io->bodyoff;

	if (n > len)
		n = len;
	if (n > 7)
		n = 7;
	if (n > 0)
		memcpy(buf, io->body + io->bodyoff, n);
	io->bodyoff += n;
	return (int)n;
}

static int
fuzz_io_write(void *ctx, const char *buf, size_t len)
{
	struct fuzz_io	*io = ctx;
	size_t		 i;

	if (io->writes++ > 0)
		return (int)len;
	if (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0)
		fuzz_fail("response header block does not end in CRLF CRLF");
	for (i = 0; i < len; i++) {
		if (buf[i] == '\0')
			fuzz_fail("NUL in the response header block");
		if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n'))
			fuzz_fail("bare CR in the response header block");
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			fuzz_fail("bare LF in the response header block");
		if (i + 4 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			fuzz_fail("an empty line inside the header block");
	}
	return (int)len;
}

void
fuzz_req_init(struct req *r, struct arena *a, struct fuzz_io *io)
{
	struct req_io	 rio;

	rio.param = fuzz_io_get;
	rio.read = fuzz_io_read;
	rio.write = fuzz_io_write;
	rio.ctx = io;
	io->bodyoff = 0;
	io->writes = 0;
	arena_reset(a);
	req_init(r, a, &rio);
}

void
fuzz_sign(const char *body, size_t len, char out[72])
{
	unsigned char	 mac[32];

	if (crypto_hmac_sha256(conf->sources[0].secret,
	    conf->sources[0].secret_len, body, len, mac) == -1)
		fuzz_fail("fuzz_sign: HMAC failed");
	memcpy(out, "sha256=", 7);
	hex_encode(mac, sizeof(mac), out + 7);
}
