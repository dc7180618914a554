/*
 * ipaddr.c - client addresses, CIDR lists, and X-Forwarded-For.
 *
 * Addresses decide rate-limit keys, automatic blocks and who may reach the
 * admin and metrics routes, so the parsers are strict: IPv4 only as a
 * plain dotted quad (no "010.0.0.1", which some libraries read as octal,
 * no "127.1" shorthand), IPv6 without zone ids.  An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is folded to IPv4, so one client has one key
 * and "10.0.0.0/8" matches it however the web server wrote it.
 *
 * X-Forwarded-For is believed only as far as API.md allows: when the peer
 * is a trusted proxy, walk the header right to left past trusted hops and
 * take the first untrusted one.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "aspida.h"

#define IPADDR_ENTRY_MAX	64	/* bytes in a list or XFF entry */
#define IPADDR_XFF_MAX		64	/* X-Forwarded-For entries looked at */
#define CIDR_LIST_MAX		1024

static const unsigned char ipaddr_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int
ipaddr_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parse exactly four decimal parts of 0..255 separated by single dots,
 * with no leading zeros, from s[0..len).
 * Returns 0, or -1.
 */
static int
ipaddr_parse_v4(const char *s, size_t len, unsigned char out[4])
{
	size_t	 i = 0;
	int	 part, digits, val;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
		val = 0;
		digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (digits > 0 && val == 0)
				return -1;	/* leading zero */
			val = val * 10 + (s[i] - '0');
			if (val > 255)
				return -1;
			digits++;
			i++;
		}
		if (digits == 0)
			return -1;
		out[part] = (unsigned char)val;
	}
	return i == len ? 0 : -1;
}

/*
 * Parse the address in s[0..len); s need not be NUL-terminated.
 * *v6text tells whether it was written as IPv6 (cidr_parse needs to know
 * for a mapped address).
 * Returns 0 with the address in *out, or -1.
 */
static int
ipaddr_parse_n(const char *s, size_t len, struct ipaddr *out, int *v6text)
{
	char		 tmp[INET6_ADDRSTRLEN];
	struct ipaddr	 a;

	memset(&a, 0, sizeof(a));
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	if (memchr(s, ':', len) == NULL) {
		if (ipaddr_parse_v4(s, len, a.a) == -1)
			return -1;
		a.family = AF_INET;
		if (v6text != NULL)
			*v6text = 0;
		*out = a;
		return 0;
	}

	/*
	 * glibc's inet_pton() (unlike getaddrinfo()) refuses zone ids and
	 * holds an embedded dotted quad to the same rules as ours: no
	 * leading zeros, exactly four parts.  The tests pin both.
	 */
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET6, tmp, a.a) != 1)
		return -1;
	a.family = AF_INET6;
	if (memcmp(a.a, ipaddr_mapped, sizeof(ipaddr_mapped)) == 0) {
		memmove(a.a, a.a + 12, 4);
		memset(a.a + 4, 0, sizeof(a.a) - 4);
		a.family = AF_INET;
	}
	if (v6text != NULL)
		*v6text = 1;
	*out = a;
	return 0;
}

/*
 * Parse a textual IPv4 or IPv6 address, folding IPv4-mapped IPv6 to IPv4.
 * Returns 0, or -1 when s is not exactly one address.
 */
int
ipaddr_parse(const char *s, struct ipaddr *out)
{
	if (s == NULL)
		return -1;
	return ipaddr_parse_n(s, strnlen(s, INET6_ADDRSTRLEN), out, NULL);
}

/*
 * Write the address in its canonical text form into buf.
 * Returns 0, or -1 when the family is unknown or buf is too small.
 */
int
ipaddr_format(const struct ipaddr *addr, char *buf, size_t size)
{
	if (addr == NULL || buf == NULL || size == 0)
		return -1;
	if (addr->family != AF_INET && addr->family != AF_INET6)
		return -1;
	if (size > INET6_ADDRSTRLEN)	/* enough, and fits a socklen_t */
		size = INET6_ADDRSTRLEN;
	if (inet_ntop(addr->family, addr->a, buf, (socklen_t)size) == NULL) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* Returns 1 for 127.0.0.0/8 and ::1, else 0. */
int
ipaddr_is_loopback(const struct ipaddr *addr)
{
	static const unsigned char one[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};

	if (addr == NULL)
		return 0;
	if (addr->family == AF_INET)
		return addr->a[0] == 127;
	if (addr->family == AF_INET6)
		return memcmp(addr->a, one, sizeof(one)) == 0;
	return 0;
}

/* Clear every bit of a[0..n) after the first prefix bits. */
static void
ipaddr_mask(unsigned char *a, size_t n, int prefix)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		a[i] &= (unsigned char)(0xff00 >> prefix);
		prefix = 0;
	}
}

/*
 * Zero the host bits, keeping v4prefix bits of an IPv4 address or
 * v6prefix bits of an IPv6 one (clamped to the family's width), so that
 * an IPv6 client counts by its /64.
 */
void
ipaddr_truncate(struct ipaddr *addr, int v4prefix, int v6prefix)
{
	int	 prefix;

	if (addr == NULL)
		return;
	if (addr->family == AF_INET) {
		prefix = v4prefix < 0 ? 0 : v4prefix > 32 ? 32 : v4prefix;
		ipaddr_mask(addr->a, 4, prefix);
		memset(addr->a + 4, 0, sizeof(addr->a) - 4);
	} else if (addr->family == AF_INET6) {
		prefix = v6prefix < 0 ? 0 : v6prefix > 128 ? 128 : v6prefix;
		ipaddr_mask(addr->a, 16, prefix);
	}
}

/*
 * Parse "address[/prefix]" from s[0..len).  A bare address is a /32 or
 * /128; host bits past the prefix are masked off.  A mapped IPv6 network
 * becomes the IPv4 network it covers, and must not reach outside
 * ::ffff:0:0/96, since folded addresses are matched as IPv4.
 * Returns 0, or -1 with the problem in *errstr.
 */
static int
cidr_parse_n(const char *s, size_t len, struct cidr *out,
    const char **errstr)
{
	const char	*slash, *p, *end = s + len;
	struct ipaddr	 a;
	int		 v6text, max, prefix;

	slash = memchr(s, '/', len);
	if (ipaddr_parse_n(s, slash != NULL ? (size_t)(slash - s) : len, &a,
	    &v6text) == -1) {
		*errstr = "invalid address";
		return -1;
	}
	max = v6text ? 128 : 32;
	if (slash == NULL)
		prefix = max;
	else {
		/* Plain decimal: no sign, no blanks, no leading zero. */
		p = slash + 1;
		if (p == end || (*p == '0' && end - p > 1)) {
			*errstr = "invalid prefix length";
			return -1;
		}
		for (prefix = 0; p < end; p++) {
			if (*p < '0' || *p > '9' ||
			    (prefix = prefix * 10 + (*p - '0')) > max) {
				*errstr = "invalid prefix length";
				return -1;
			}
		}
	}
	if (v6text && a.family == AF_INET) {
		if (prefix < 96) {
			*errstr = "IPv4-mapped prefix shorter than /96";
			return -1;
		}
		prefix -= 96;
	}
	ipaddr_mask(a.a, a.family == AF_INET ? 4 : 16, prefix);
	out->net = a;
	out->prefix = prefix;
	return 0;
}

/*
 * Parse "10.0.0.0/8", "2001:db8::/32" or a bare address.
 * Returns 0, or -1.
 */
int
cidr_parse(const char *s, struct cidr *out)
{
	const char	*errstr;

	if (s == NULL || out == NULL)
		return -1;
	return cidr_parse_n(s, strlen(s), out, &errstr);
}

/* Returns 1 when addr is inside the network c, else 0. */
int
cidr_match(const struct cidr *c, const struct ipaddr *addr)
{
	int	 full, rem, max;

	if (c == NULL || addr == NULL || c->net.family != addr->family)
		return 0;
	max = addr->family == AF_INET ? 32 : 128;
	if (c->prefix < 0 || c->prefix > max)
		return 0;
	full = c->prefix / 8;
	rem = c->prefix % 8;
	if (memcmp(c->net.a, addr->a, full) != 0)
		return 0;
	if (rem != 0 &&
	    ((c->net.a[full] ^ addr->a[full]) & (0xff00 >> rem) & 0xff) != 0)
		return 0;
	return 1;
}

/*
 * Parse a comma-separated list of networks; blanks around entries are
 * allowed, an empty (or blank) list is an empty list, an empty entry is an
 * error.  out->v is malloc'd: free it with cidr_list_free().
 * Returns 0, or -1 with out empty and the problem in *errstr.
 */
int
cidr_list_parse(const char *list, struct cidr_list *out, const char **errstr)
{
	const char	*p, *e, *comma, *err = NULL;
	struct cidr	*v = NULL;
	size_t		 n = 0, max = 1;

	out->v = NULL;
	out->n = 0;
	if (list == NULL)
		return 0;
	for (p = list; ipaddr_blank(*p); p++)
		continue;
	if (*p == '\0')
		return 0;

	for (p = list; *p != '\0'; p++)
		if (*p == ',' && ++max > CIDR_LIST_MAX) {
			err = "too many entries (at most 1024)";
			goto fail;
		}
	if ((v = calloc(max, sizeof(*v))) == NULL) {
		err = "out of memory";
		goto fail;
	}
	for (p = list;; p = comma + 1) {
		comma = strchr(p, ',');
		e = comma != NULL ? comma : p + strlen(p);
		while (p < e && ipaddr_blank(*p))
			p++;
		while (e > p && ipaddr_blank(e[-1]))
			e--;
		if (p == e) {
			err = "empty entry";
			goto fail;
		}
		if (e - p > IPADDR_ENTRY_MAX) {
			err = "entry too long";
			goto fail;
		}
		if (cidr_parse_n(p, e - p, &v[n], &err) == -1)
			goto fail;
		n++;
		if (comma == NULL)
			break;
	}
	out->v = v;
	out->n = n;
	return 0;

 fail:
	free(v);
	if (errstr != NULL)
		*errstr = err;
	return -1;
}

/* Returns 1 when any network of the list holds addr, else 0. */
int
cidr_list_match(const struct cidr_list *l, const struct ipaddr *addr)
{
	size_t	 i;

	if (l == NULL || addr == NULL)
		return 0;
	for (i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], addr))
			return 1;
	return 0;
}

void
cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * Find the client behind the peer (API.md, "The client's address").  Only
 * a peer inside trusted may speak for someone else; then X-Forwarded-For
 * is read right to left, each hop added by a proxy closer to us, and the
 * first address not in trusted is the client.  A malformed entry ends the
 * walk at the last trusted hop, the closest address still believable; if
 * every hop is trusted the left-most is the client.  At most 64 entries of
 * at most 64 bytes are looked at.
 * Returns 0 with the client in *out.
 */
int
ipaddr_from_xff(const char *xff, const struct ipaddr *peer,
    const struct cidr_list *trusted, struct ipaddr *out)
{
	const char	*start, *end, *p, *s, *e;
	struct ipaddr	 hop, last;
	int		 i;

	*out = *peer;
	if (xff == NULL || !cidr_list_match(trusted, peer))
		return 0;
	last = *peer;
	start = xff;
	end = xff + strlen(xff);
	for (i = 0; i < IPADDR_XFF_MAX; i++) {
		/* Back to the comma before this entry, or the start. */
		for (p = end; p > start && p[-1] != ','; p--)
			continue;
		if (end - p > IPADDR_ENTRY_MAX)
			break;
		for (s = p, e = end; s < e && ipaddr_blank(*s); s++)
			continue;
		while (e > s && ipaddr_blank(e[-1]))
			e--;
		if (ipaddr_parse_n(s, e - s, &hop, NULL) == -1)
			break;
		if (!cidr_list_match(trusted, &hop)) {
			*out = hop;
			return 0;
		}
		last = hop;
		if (p == start)
			break;
		end = p - 1;
	}
	*out = last;
	return 0;
}
