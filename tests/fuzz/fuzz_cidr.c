/*
 * fuzz_cidr - addresses and networks as they come from clients and
 * configuration: ipaddr_parse (strict dotted quads, IPv6, mapped IPv4),
 * cidr_parse, cidr_list_parse (allowed_ips of API keys, aspida.conf's
 * lists) and X-Forwarded-For behind a trusted proxy, each on the whole
 * input.  An address must read back from its canonical text; a network
 * must have no host bits and hold its own address; the client found in
 * X-Forwarded-For is the peer, a hop of the header, never made up.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "fuzz.h"

static void
fuzz_same(const struct ipaddr *a, const struct ipaddr *b, const char *what)
{
	if (a->family != b->family || memcmp(a->a, b->a, sizeof(a->a)) != 0)
		fuzz_fail("%s: the address changed", what);
}

static void
fuzz_network(const struct cidr *c)
{
	struct ipaddr	 masked = c->net;
	int		 max = c->net.family == AF_INET ? 32 : 128;

	if ((c->net.family != AF_INET && c->net.family != AF_INET6) ||
	    c->prefix < 0 || c->prefix > max)
		fuzz_fail("a network of family %d, prefix %d", c->net.family,
		    c->prefix);
	ipaddr_truncate(&masked, c->prefix, c->prefix);
	fuzz_same(&masked, &c->net, "network with host bits");
	if (!cidr_match(c, &c->net))
		fuzz_fail("a network does not hold its own address");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipaddr		 a, b, peer, client;
	struct cidr		 c;
	struct cidr_list	 l;
	const char		*errstr;
	char			*text, buf[64];
	size_t			 i;

	text = fuzz_strndup(data, size);
	if (ipaddr_parse(text, &a) == 0) {
		if (ipaddr_format(&a, buf, sizeof(buf)) == -1 ||
		    ipaddr_parse(buf, &b) == -1)
			fuzz_fail("%s: no canonical text", text);
		fuzz_same(&a, &b, "round trip");
		(void)ipaddr_is_loopback(&a);
	}
	if (cidr_parse(text, &c) == 0)
		fuzz_network(&c);
	if (cidr_list_parse(text, &l, &errstr) == 0) {
		for (i = 0; i < l.n; i++)
			fuzz_network(&l.v[i]);
		if (l.n > 0 && !cidr_list_match(&l, &l.v[l.n - 1].net))
			fuzz_fail("a list does not hold its own network");
		cidr_list_free(&l);
	} else if (l.v != NULL || l.n != 0 || errstr == NULL)
		fuzz_fail("a refused list is not empty");

	/* Behind a trusted proxy, and straight from an untrusted peer. */
	(void)ipaddr_parse("10.1.2.3", &peer);
	(void)ipaddr_from_xff(text, &peer, &conf->trusted_proxies, &client);
	if (client.family != AF_INET && client.family != AF_INET6)
		fuzz_fail("X-Forwarded-For gave family %d", client.family);
	(void)ipaddr_parse("192.0.2.1", &peer);
	(void)ipaddr_from_xff(text, &peer, &conf->trusted_proxies, &client);
	fuzz_same(&peer, &client, "untrusted peer");
	free(text);
	return 0;
}
