/*
 * check_ipaddr.c - address and CIDR parsing, matching, and the
 * X-Forwarded-For walk that decides who the client is.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

/* Parse an address the test knows to be good. */
static struct ipaddr
ip(const char *s)
{
	struct ipaddr	 a;

	ck_assert_msg(ipaddr_parse(s, &a) == 0, "cannot parse %s", s);
	return a;
}

static const char *
fmt(const struct ipaddr *a, char *buf, size_t size)
{
	ck_assert_int_eq(ipaddr_format(a, buf, size), 0);
	return buf;
}

struct prow {
	int		 line;
	const char	*in;
	int		 family;	/* 0: must fail */
	const char	*out;		/* canonical form */
};

static const struct prow prows[] = {
	{ __LINE__, "1.2.3.4", AF_INET, "1.2.3.4" },
	{ __LINE__, "0.0.0.0", AF_INET, "0.0.0.0" },
	{ __LINE__, "255.255.255.255", AF_INET, "255.255.255.255" },
	{ __LINE__, "10.0.0.1", AF_INET, "10.0.0.1" },
	{ __LINE__, "100.20.3.0", AF_INET, "100.20.3.0" },
	{ __LINE__, "::1", AF_INET6, "::1" },
	{ __LINE__, "::", AF_INET6, "::" },
	{ __LINE__, "2001:db8::1", AF_INET6, "2001:db8::1" },
	{ __LINE__, "2001:DB8:0:0:0:0:0:1", AF_INET6, "2001:db8::1" },
	{ __LINE__, "2001:0db8:0000:0000:0000:0000:0000:0001", AF_INET6,
	    "2001:db8::1" },
	{ __LINE__, "fe80::1", AF_INET6, "fe80::1" },
	/* IPv4-mapped IPv6 folds to IPv4, however written. */
	{ __LINE__, "::ffff:1.2.3.4", AF_INET, "1.2.3.4" },
	{ __LINE__, "::FFFF:1.2.3.4", AF_INET, "1.2.3.4" },
	{ __LINE__, "::ffff:0102:0304", AF_INET, "1.2.3.4" },
	{ __LINE__, "0:0:0:0:0:ffff:127.0.0.1", AF_INET, "127.0.0.1" },
	{ __LINE__, "0000:0000:0000:0000:0000:ffff:255.255.255.255", AF_INET,
	    "255.255.255.255" },
	/* Not mapped: stays IPv6. */
	{ __LINE__, "::fffe:1.2.3.4", AF_INET6, "::fffe:102:304" },
	{ __LINE__, "1::ffff:1.2.3.4", AF_INET6, "1::ffff:102:304" },
	{ __LINE__, "64:ff9b::1.2.3.4", AF_INET6, "64:ff9b::102:304" },
	/* IPv4: a strict dotted quad and nothing else. */
	{ __LINE__, "", 0, NULL },
	{ __LINE__, "010.0.0.1", 0, NULL },
	{ __LINE__, "1.2.3.04", 0, NULL },
	{ __LINE__, "00.0.0.0", 0, NULL },
	{ __LINE__, "1.2.3", 0, NULL },
	{ __LINE__, "127.1", 0, NULL },
	{ __LINE__, "2130706433", 0, NULL },
	{ __LINE__, "1.2.3.4.5", 0, NULL },
	{ __LINE__, "256.0.0.1", 0, NULL },
	{ __LINE__, "1.2.3.256", 0, NULL },
	{ __LINE__, "1.2.3.1000", 0, NULL },
	{ __LINE__, "1.2.3.-1", 0, NULL },
	{ __LINE__, "+1.2.3.4", 0, NULL },
	{ __LINE__, "1..2.3", 0, NULL },
	{ __LINE__, "1.2.3.4.", 0, NULL },
	{ __LINE__, ".1.2.3.4", 0, NULL },
	{ __LINE__, "0x7f.0.0.1", 0, NULL },
	{ __LINE__, "1.2.3.4 ", 0, NULL },
	{ __LINE__, " 1.2.3.4", 0, NULL },
	{ __LINE__, "1.2.3.4/32", 0, NULL },
	{ __LINE__, "1.2.3.4:80", 0, NULL },
	{ __LINE__, "localhost", 0, NULL },
	{ __LINE__, "unknown", 0, NULL },
	/* IPv6. */
	{ __LINE__, "fe80::1%eth0", 0, NULL },
	{ __LINE__, "fe80::1%1", 0, NULL },
	{ __LINE__, "[::1]", 0, NULL },
	{ __LINE__, ":::1", 0, NULL },
	{ __LINE__, "1::2::3", 0, NULL },
	{ __LINE__, "gggg::", 0, NULL },
	{ __LINE__, "12345::", 0, NULL },
	{ __LINE__, "1:2:3:4:5:6:7:8:9", 0, NULL },
	{ __LINE__, "1:2:3:4:5:6:7", 0, NULL },
	{ __LINE__, "::1 ", 0, NULL },
	{ __LINE__, "::ffff:010.0.0.1", 0, NULL },
	{ __LINE__, "::ffff:1.2.3.04", 0, NULL },
	{ __LINE__, "::ffff:0x1.2.3.4", 0, NULL },
	{ __LINE__, "::ffff:1.2.3.", 0, NULL },
	{ __LINE__, "::ffff:1.2.3", 0, NULL },
	{ __LINE__, "::ffff:1.2.3.4.5", 0, NULL },
	{ __LINE__, "::ffff:256.2.3.4", 0, NULL },
	{ __LINE__, "1.2.3.4::", 0, NULL },
	{ __LINE__, "::1.2.3.4:1", 0, NULL },
	{ __LINE__, "0000:0000:0000:0000:0000:ffff:255.255.255.255 ", 0, NULL },
	{ __LINE__, "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000",
	    0, NULL },
};

START_TEST(test_ipaddr_parse)
{
	const struct prow	*r = &prows[_i];
	struct ipaddr		 a;
	char			 buf[INET6_ADDRSTRLEN];
	size_t			 i;

	memset(&a, 0xa5, sizeof(a));
	if (r->family == 0) {
		ck_assert_msg(ipaddr_parse(r->in, &a) == -1,
		    "line %d: \"%s\" accepted", r->line, r->in);
		return;
	}
	ck_assert_msg(ipaddr_parse(r->in, &a) == 0, "line %d: \"%s\" rejected",
	    r->line, r->in);
	ck_assert_msg(a.family == r->family, "line %d: family %d", r->line,
	    a.family);
	ck_assert_msg(ipaddr_format(&a, buf, sizeof(buf)) == 0 &&
	    strcmp(buf, r->out) == 0, "line %d: \"%s\", want \"%s\"", r->line,
	    buf, r->out);
	/* IPv4 keeps the rest zero, so whole structs compare equal. */
	if (a.family == AF_INET)
		for (i = 4; i < sizeof(a.a); i++)
			ck_assert_msg(a.a[i] == 0, "line %d: byte %zu", r->line,
			    i);
}
END_TEST

START_TEST(test_ipaddr_parse_misc)
{
	struct ipaddr	 a, b;
	char		 big[256];

	ck_assert_int_eq(ipaddr_parse(NULL, &a), -1);
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(ipaddr_parse(big, &a), -1);
	/* A failed parse leaves *out alone. */
	a = ip("9.9.9.9");
	ck_assert_int_eq(ipaddr_parse("nope", &a), -1);
	b = ip("9.9.9.9");
	ck_assert_mem_eq(&a, &b, sizeof(a));
	/* Mapped and plain are the same address, byte for byte. */
	a = ip("::ffff:10.1.2.3");
	b = ip("10.1.2.3");
	ck_assert_mem_eq(&a, &b, sizeof(a));
}
END_TEST

START_TEST(test_ipaddr_format)
{
	struct ipaddr	 a;
	char		 buf[INET6_ADDRSTRLEN];

	a = ip("203.0.113.7");
	ck_assert_str_eq(fmt(&a, buf, sizeof(buf)), "203.0.113.7");
	ck_assert_int_eq(ipaddr_format(&a, buf, sizeof("203.0.113.7")), 0);
	ck_assert_int_eq(ipaddr_format(&a, buf, sizeof("203.0.113.7") - 1),
	    -1);
	a = ip("2001:db8:85a3::8a2e:370:7334");
	ck_assert_str_eq(fmt(&a, buf, sizeof(buf)), "2001:db8:85a3::8a2e:370:7334");
	ck_assert_int_eq(ipaddr_format(&a, buf, 8), -1);
	ck_assert_int_eq(ipaddr_format(&a, buf, 0), -1);
	ck_assert_int_eq(ipaddr_format(NULL, buf, sizeof(buf)), -1);
	/* A size past 4 GiB must not wrap to a tiny socklen_t. */
	a = ip("1.2.3.4");
	if (sizeof(size_t) > 4)
		ck_assert_int_eq(ipaddr_format(&a, buf,
		    (size_t)UINT32_MAX + 1 + 4), 0);
	memset(&a, 0, sizeof(a));
	a.family = AF_UNIX;
	ck_assert_int_eq(ipaddr_format(&a, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(test_ipaddr_loopback)
{
	static const struct {
		int		 line;
		const char	*in;
		int		 loop;
	} rows[] = {
		{ __LINE__, "127.0.0.1", 1 },
		{ __LINE__, "127.255.255.254", 1 },
		{ __LINE__, "127.0.0.0", 1 },
		{ __LINE__, "::1", 1 },
		{ __LINE__, "::ffff:127.0.0.1", 1 },
		{ __LINE__, "128.0.0.1", 0 },
		{ __LINE__, "126.255.255.255", 0 },
		{ __LINE__, "10.0.0.1", 0 },
		{ __LINE__, "0.0.0.0", 0 },
		{ __LINE__, "::", 0 },
		{ __LINE__, "::2", 0 },
		{ __LINE__, "1::1", 0 },
		{ __LINE__, "::127.0.0.1", 0 },	/* deprecated compat form */
		{ __LINE__, "fe80::1", 0 },
	};
	struct ipaddr	 a;
	size_t		 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		a = ip(rows[i].in);
		ck_assert_msg(ipaddr_is_loopback(&a) == rows[i].loop,
		    "line %d", rows[i].line);
	}
	ck_assert_int_eq(ipaddr_is_loopback(NULL), 0);
}
END_TEST

START_TEST(test_ipaddr_truncate)
{
	static const struct {
		int		 line;
		const char	*in;
		int		 v4, v6;
		const char	*out;
	} rows[] = {
		{ __LINE__, "1.2.3.4", 24, 64, "1.2.3.0" },
		{ __LINE__, "1.2.3.4", 32, 64, "1.2.3.4" },
		{ __LINE__, "1.2.3.4", 0, 64, "0.0.0.0" },
		{ __LINE__, "10.20.255.4", 20, 64, "10.20.240.0" },
		{ __LINE__, "255.255.255.255", 1, 64, "128.0.0.0" },
		{ __LINE__, "255.255.255.255", 31, 64, "255.255.255.254" },
		{ __LINE__, "1.2.3.4", 99, 64, "1.2.3.4" },	/* clamped */
		{ __LINE__, "1.2.3.4", -5, 64, "0.0.0.0" },
		{ __LINE__, "2001:db8:1:2:3:4:5:6", 24, 64, "2001:db8:1:2::" },
		{ __LINE__, "2001:db8:1:2:3:4:5:6", 24, 56, "2001:db8:1::" },
		{ __LINE__, "2001:db8:1:2ff:3:4:5:6", 24, 56,
		    "2001:db8:1:200::" },
		{ __LINE__, "2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::" },
		{ __LINE__, "2001:db8:1:2:3:4:5:6", 24, 128,
		    "2001:db8:1:2:3:4:5:6" },
		{ __LINE__, "2001:db8:1:2:3:4:5:6", 24, 0, "::" },
		{ __LINE__, "2001:db8:1:2:3:4:5:ffff", 24, 127,
		    "2001:db8:1:2:3:4:5:fffe" },
		{ __LINE__, "2001:db8:1:2:3:4:5:6", 24, 500,
		    "2001:db8:1:2:3:4:5:6" },
		{ __LINE__, "::ffff:1.2.3.4", 24, 64, "1.2.3.0" },
	};
	struct ipaddr	 a;
	char		 buf[INET6_ADDRSTRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		a = ip(rows[i].in);
		ipaddr_truncate(&a, rows[i].v4, rows[i].v6);
		ck_assert_msg(strcmp(fmt(&a, buf, sizeof(buf)),
		    rows[i].out) == 0, "line %d: %s", rows[i].line, buf);
	}
	ipaddr_truncate(NULL, 24, 64);
}
END_TEST

struct crow {
	int		 line;
	const char	*in;
	const char	*net;		/* NULL: must fail */
	int		 prefix;
};

static const struct crow crows[] = {
	{ __LINE__, "10.0.0.0/8", "10.0.0.0", 8 },
	{ __LINE__, "192.168.1.0/24", "192.168.1.0", 24 },
	{ __LINE__, "0.0.0.0/0", "0.0.0.0", 0 },
	{ __LINE__, "1.2.3.4", "1.2.3.4", 32 },
	{ __LINE__, "1.2.3.4/32", "1.2.3.4", 32 },
	{ __LINE__, "2001:db8::/32", "2001:db8::", 32 },
	{ __LINE__, "::/0", "::", 0 },
	{ __LINE__, "::1", "::1", 128 },
	{ __LINE__, "::1/128", "::1", 128 },
	{ __LINE__, "fe80::/10", "fe80::", 10 },
	/* Host bits are masked off. */
	{ __LINE__, "10.1.2.3/8", "10.0.0.0", 8 },
	{ __LINE__, "10.20.255.4/20", "10.20.240.0", 20 },
	{ __LINE__, "255.255.255.255/0", "0.0.0.0", 0 },
	{ __LINE__, "2001:db8:ffff::1/32", "2001:db8::", 32 },
	{ __LINE__, "2001:db8::ffff/127", "2001:db8::fffe", 127 },
	/* Mapped networks become IPv4 networks. */
	{ __LINE__, "::ffff:10.0.0.0/104", "10.0.0.0", 8 },
	{ __LINE__, "::ffff:10.1.2.3/104", "10.0.0.0", 8 },
	{ __LINE__, "::ffff:1.2.3.4", "1.2.3.4", 32 },
	{ __LINE__, "::ffff:0.0.0.0/96", "0.0.0.0", 0 },
	{ __LINE__, "::ffff:0:0/95", NULL, 0 },
	{ __LINE__, "::ffff:10.0.0.0/8", NULL, 0 },
	/* Prefix bounds and form. */
	{ __LINE__, "10.0.0.0/33", NULL, 0 },
	{ __LINE__, "::/129", NULL, 0 },
	{ __LINE__, "10.0.0.0/", NULL, 0 },
	{ __LINE__, "10.0.0.0/-1", NULL, 0 },
	{ __LINE__, "10.0.0.0/+8", NULL, 0 },
	{ __LINE__, "10.0.0.0/08", NULL, 0 },
	{ __LINE__, "10.0.0.0/00", NULL, 0 },
	{ __LINE__, "10.0.0.0/ 8", NULL, 0 },
	{ __LINE__, "10.0.0.0 /8", NULL, 0 },
	{ __LINE__, "10.0.0.0/8x", NULL, 0 },
	{ __LINE__, "10.0.0.0/8/8", NULL, 0 },
	{ __LINE__, "10.0.0.0/0x8", NULL, 0 },
	{ __LINE__, "10.0.0.0/99999999999999999999", NULL, 0 },
	{ __LINE__, "10.0.0.0/4294967304", NULL, 0 },	/* 2^32 + 8 */
	{ __LINE__, "/8", NULL, 0 },
	{ __LINE__, "", NULL, 0 },
	{ __LINE__, "10/8", NULL, 0 },
	{ __LINE__, "010.0.0.0/8", NULL, 0 },
	{ __LINE__, "10.0.0/8", NULL, 0 },
	{ __LINE__, "fe80::%eth0/10", NULL, 0 },
	{ __LINE__, "10.0.0.0/8,", NULL, 0 },
	{ __LINE__, "10.0.0.0-10.0.0.255", NULL, 0 },
};

START_TEST(test_cidr_parse)
{
	const struct crow	*r = &crows[_i];
	struct cidr		 c;
	char			 buf[INET6_ADDRSTRLEN];

	if (r->net == NULL) {
		ck_assert_msg(cidr_parse(r->in, &c) == -1,
		    "line %d: \"%s\" accepted", r->line, r->in);
		return;
	}
	ck_assert_msg(cidr_parse(r->in, &c) == 0, "line %d: \"%s\" rejected",
	    r->line, r->in);
	ck_assert_msg(strcmp(fmt(&c.net, buf, sizeof(buf)), r->net) == 0 &&
	    c.prefix == r->prefix, "line %d: %s/%d", r->line, buf, c.prefix);
}
END_TEST

START_TEST(test_cidr_parse_misc)
{
	struct cidr	 c;
	char		 big[128];

	ck_assert_int_eq(cidr_parse(NULL, &c), -1);
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(cidr_parse(big, &c), -1);
}
END_TEST

struct mrow {
	int		 line;
	const char	*cidr;
	const char	*addr;
	int		 match;
};

static const struct mrow mrows[] = {
	{ __LINE__, "10.0.0.0/8", "10.0.0.0", 1 },
	{ __LINE__, "10.0.0.0/8", "10.255.255.255", 1 },
	{ __LINE__, "10.0.0.0/8", "11.0.0.0", 0 },
	{ __LINE__, "10.0.0.0/8", "9.255.255.255", 0 },
	{ __LINE__, "10.0.0.0/8", "::ffff:10.9.8.7", 1 },
	{ __LINE__, "::ffff:10.0.0.0/104", "10.9.8.7", 1 },
	{ __LINE__, "10.20.240.0/20", "10.20.255.255", 1 },
	{ __LINE__, "10.20.240.0/20", "10.20.239.255", 0 },
	{ __LINE__, "10.20.240.0/20", "10.21.240.0", 0 },
	{ __LINE__, "1.2.3.4", "1.2.3.4", 1 },
	{ __LINE__, "1.2.3.4", "1.2.3.5", 0 },
	{ __LINE__, "1.2.3.4/31", "1.2.3.5", 1 },
	{ __LINE__, "1.2.3.4/31", "1.2.3.6", 0 },
	{ __LINE__, "128.0.0.0/1", "200.0.0.1", 1 },
	{ __LINE__, "128.0.0.0/1", "127.0.0.1", 0 },
	{ __LINE__, "0.0.0.0/0", "1.2.3.4", 1 },
	{ __LINE__, "0.0.0.0/0", "::1", 0 },	/* families never mix */
	{ __LINE__, "::/0", "2001:db8::1", 1 },
	{ __LINE__, "::/0", "1.2.3.4", 0 },
	{ __LINE__, "::/0", "::ffff:1.2.3.4", 0 },
	{ __LINE__, "::/96", "1.2.3.4", 0 },
	{ __LINE__, "2001:db8::/32", "2001:db8:ffff:ffff::1", 1 },
	{ __LINE__, "2001:db8::/32", "2001:db9::1", 0 },
	{ __LINE__, "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ __LINE__, "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ __LINE__, "::1", "::1", 1 },
	{ __LINE__, "::1", "::2", 0 },
	{ __LINE__, "::1", "127.0.0.1", 0 },
	{ __LINE__, "2001:db8::fffe/127", "2001:db8::ffff", 1 },
	{ __LINE__, "2001:db8::fffe/127", "2001:db8::fffd", 0 },
	{ __LINE__, "fe80::/10", "febf::1", 1 },
	{ __LINE__, "fe80::/10", "fec0::1", 0 },
};

START_TEST(test_cidr_match)
{
	const struct mrow	*r = &mrows[_i];
	struct cidr		 c;
	struct ipaddr		 a;

	ck_assert_msg(cidr_parse(r->cidr, &c) == 0, "line %d", r->line);
	a = ip(r->addr);
	ck_assert_msg(cidr_match(&c, &a) == r->match, "line %d: %s in %s",
	    r->line, r->addr, r->cidr);
}
END_TEST

START_TEST(test_cidr_match_misc)
{
	struct cidr	 c;
	struct ipaddr	 a;

	a = ip("1.2.3.4");
	ck_assert_int_eq(cidr_parse("0.0.0.0/0", &c), 0);
	ck_assert_int_eq(cidr_match(NULL, &a), 0);
	ck_assert_int_eq(cidr_match(&c, NULL), 0);
	/* A hand-made cidr with a silly prefix matches nothing. */
	c.prefix = 33;
	ck_assert_int_eq(cidr_match(&c, &a), 0);
	c.prefix = -1;
	ck_assert_int_eq(cidr_match(&c, &a), 0);
}
END_TEST

struct lrow {
	int		 line;
	const char	*in;
	int		 n;		/* -1: must fail */
	const char	*err;
};

static const struct lrow lrows[] = {
	{ __LINE__, "", 0, NULL },
	{ __LINE__, "   ", 0, NULL },
	{ __LINE__, "\t", 0, NULL },
	{ __LINE__, "10.0.0.0/8", 1, NULL },
	{ __LINE__, "127.0.0.1, ::1", 2, NULL },
	{ __LINE__, " 10.0.0.0/8 ,192.168.0.0/16,\t::1 ", 3, NULL },
	{ __LINE__, "10.0.0.0/8,10.0.0.0/8", 2, NULL },
	{ __LINE__, ",", -1, "empty entry" },
	{ __LINE__, ", 10.0.0.0/8", -1, "empty entry" },
	{ __LINE__, "10.0.0.0/8,", -1, "empty entry" },
	{ __LINE__, "10.0.0.0/8, ", -1, "empty entry" },
	{ __LINE__, "10.0.0.0/8,,::1", -1, "empty entry" },
	{ __LINE__, "10.0.0.0/8, bogus", -1, "invalid address" },
	{ __LINE__, "10.0.0.0/8 ::1", -1, "invalid prefix length" },
	{ __LINE__, "10.0.0.0 ::1/8", -1, "invalid address" },
	{ __LINE__, "10.0.0.0/8;::1", -1, "invalid prefix length" },
	{ __LINE__, "10.0.0.0/33", -1, "invalid prefix length" },
	{ __LINE__, "::/129", -1, "invalid prefix length" },
	{ __LINE__, "::ffff:0:0/64", -1, "IPv4-mapped prefix shorter than /96" },
	{ __LINE__, "10.0.0.0/8, 1111111111111111111111111111111111111111111111"
	    "111111111111111111111", -1, "entry too long" },
};

START_TEST(test_cidr_list_parse)
{
	const struct lrow	*r = &lrows[_i];
	struct cidr_list	 l;
	const char		*errstr = NULL;

	l.v = (void *)1;
	l.n = 99;
	if (r->n < 0) {
		ck_assert_msg(cidr_list_parse(r->in, &l, &errstr) == -1,
		    "line %d: accepted", r->line);
		ck_assert_msg(errstr != NULL && strcmp(errstr, r->err) == 0,
		    "line %d: error \"%s\"", r->line, errstr);
		ck_assert_msg(l.v == NULL && l.n == 0, "line %d: not empty",
		    r->line);
		cidr_list_free(&l);
		return;
	}
	ck_assert_msg(cidr_list_parse(r->in, &l, &errstr) == 0,
	    "line %d: rejected (%s)", r->line, errstr);
	ck_assert_msg(l.n == (size_t)r->n, "line %d: %zu entries", r->line,
	    l.n);
	cidr_list_free(&l);
	ck_assert_ptr_null(l.v);
	ck_assert_uint_eq(l.n, 0);
	cidr_list_free(&l);
}
END_TEST

START_TEST(test_cidr_list_limits)
{
	struct cidr_list	 l;
	const char		*errstr = NULL;
	char			*s;
	size_t			 cap = 1100 * 16, len = 0;
	int			 i;
	struct ipaddr		 a;

	s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i < 1024; i++)
		len += snprintf(s + len, cap - len, "%s10.%d.%d.0/24",
		    i ? ", " : "", i / 256, i % 256);
	ck_assert_int_eq(cidr_list_parse(s, &l, &errstr), 0);
	ck_assert_uint_eq(l.n, 1024);
	a = ip("10.3.255.7");
	ck_assert_int_eq(cidr_list_match(&l, &a), 1);
	a = ip("10.4.0.7");
	ck_assert_int_eq(cidr_list_match(&l, &a), 0);
	cidr_list_free(&l);

	snprintf(s + len, cap - len, ",1.2.3.4");
	ck_assert_int_eq(cidr_list_parse(s, &l, &errstr), -1);
	ck_assert_str_eq(errstr, "too many entries (at most 1024)");
	ck_assert_ptr_null(l.v);
	free(s);

	/* NULL is an empty list; errstr is optional. */
	ck_assert_int_eq(cidr_list_parse(NULL, &l, &errstr), 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_int_eq(cidr_list_parse("x", &l, NULL), -1);
	cidr_list_free(NULL);
}
END_TEST

START_TEST(test_cidr_list_match)
{
	struct cidr_list	 l;
	struct ipaddr		 a;
	const char		*errstr;

	ck_assert_int_eq(cidr_list_parse("", &l, &errstr), 0);
	a = ip("127.0.0.1");
	ck_assert_int_eq(cidr_list_match(&l, &a), 0);
	ck_assert_int_eq(cidr_list_match(NULL, &a), 0);
	cidr_list_free(&l);

	ck_assert_int_eq(cidr_list_parse("10.0.0.0/8, 2001:db8::/32, ::1",
	    &l, &errstr), 0);
	a = ip("10.1.1.1");
	ck_assert_int_eq(cidr_list_match(&l, &a), 1);
	a = ip("::ffff:10.1.1.1");
	ck_assert_int_eq(cidr_list_match(&l, &a), 1);
	a = ip("2001:db8::5");
	ck_assert_int_eq(cidr_list_match(&l, &a), 1);
	a = ip("::1");
	ck_assert_int_eq(cidr_list_match(&l, &a), 1);
	a = ip("127.0.0.1");
	ck_assert_int_eq(cidr_list_match(&l, &a), 0);
	a = ip("11.0.0.1");
	ck_assert_int_eq(cidr_list_match(&l, &a), 0);
	ck_assert_int_eq(cidr_list_match(&l, NULL), 0);
	cidr_list_free(&l);
}
END_TEST

struct xrow {
	int		 line;
	const char	*peer;
	const char	*xff;		/* may be NULL */
	const char	*client;
};

/* trusted_proxies for these rows: 10.0.0.0/8, 2001:db8:ff::/48, ::1 */
static const struct xrow xrows[] = {
	/* An untrusted peer's header changes nothing. */
	{ __LINE__, "203.0.113.9", "1.2.3.4", "203.0.113.9" },
	{ __LINE__, "203.0.113.9", "10.0.0.1", "203.0.113.9" },
	{ __LINE__, "127.0.0.1", "1.2.3.4", "127.0.0.1" },
	{ __LINE__, "2001:db8:1::1", "1.2.3.4", "2001:db8:1::1" },
	/* A trusted peer with no header is the client. */
	{ __LINE__, "10.0.0.1", NULL, "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "   ", "10.0.0.1" },
	/* Trusted proxy: the right-most untrusted address wins. */
	{ __LINE__, "10.0.0.1", "1.2.3.4", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", " 1.2.3.4 ", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", "6.6.6.6,1.2.3.4,10.0.0.2", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2, 10.9.9.9",
	    "1.2.3.4" },
	{ __LINE__, "10.0.0.1", "10.0.0.5, 1.2.3.4", "1.2.3.4" },
	{ __LINE__, "::1", "2001:db8::7, 2001:db8:ff::1", "2001:db8::7" },
	{ __LINE__, "::ffff:10.0.0.1", "1.2.3.4", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", "::ffff:1.2.3.4", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", "::ffff:10.0.0.3, 10.0.0.2", "10.0.0.3" },
	/* Every hop trusted: the left-most. */
	{ __LINE__, "10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3" },
	{ __LINE__, "10.0.0.1", "10.0.0.3", "10.0.0.3" },
	/* A malformed entry stops at the last trusted hop. */
	{ __LINE__, "10.0.0.1", "garbage", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "1.2.3.4, garbage", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "garbage, 10.0.0.2", "10.0.0.2" },
	{ __LINE__, "10.0.0.1", "1.2.3.4, garbage, 10.0.0.2", "10.0.0.2" },
	{ __LINE__, "10.0.0.1", "1.2.3.4,,10.0.0.2", "10.0.0.2" },
	{ __LINE__, "10.0.0.1", "1.2.3.4, 10.0.0.2,", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "1.2.3.4:80", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "[2001:db8::1]", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "unknown", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "010.0.0.1", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "fe80::1%eth0, 10.0.0.2", "10.0.0.2" },
	{ __LINE__, "10.0.0.1", "1.2.3.4 5.6.7.8", "10.0.0.1" },
	{ __LINE__, "10.0.0.1", "1.2.3.4;10.0.0.2", "10.0.0.1" },
	/* Malformed entries left of the client are never looked at. */
	{ __LINE__, "10.0.0.1", "garbage, 1.2.3.4", "1.2.3.4" },
	{ __LINE__, "10.0.0.1", ",,,, 1.2.3.4", "1.2.3.4" },
};

START_TEST(test_xff)
{
	const struct xrow	*r = &xrows[_i];
	struct cidr_list	 trusted;
	struct ipaddr		 peer, out, want;
	const char		*errstr;
	char			 buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(cidr_list_parse("10.0.0.0/8, 2001:db8:ff::/48, ::1",
	    &trusted, &errstr), 0);
	peer = ip(r->peer);
	want = ip(r->client);
	memset(&out, 0xa5, sizeof(out));
	ck_assert_int_eq(ipaddr_from_xff(r->xff, &peer, &trusted, &out), 0);
	ck_assert_msg(memcmp(&out, &want, sizeof(out)) == 0,
	    "line %d: client %s, want %s", r->line,
	    ipaddr_format(&out, buf, sizeof(buf)) == 0 ? buf : "?", r->client);
	cidr_list_free(&trusted);
}
END_TEST

START_TEST(test_xff_bounds)
{
	struct cidr_list	 trusted;
	struct ipaddr		 peer, out, want;
	const char		*errstr;
	char			 xff[4096], entry[128];
	size_t			 len;
	int			 i, n;

	ck_assert_int_eq(cidr_list_parse("10.0.0.0/8", &trusted, &errstr), 0);
	peer = ip("10.0.0.1");

	/* No trusted list, or an empty one: the peer, whatever it says. */
	ck_assert_int_eq(ipaddr_from_xff("1.2.3.4", &peer, NULL, &out), 0);
	ck_assert_mem_eq(&out, &peer, sizeof(out));

	/*
	 * The client behind 63 trusted hops is found; behind 64 it is past
	 * the bound, and the 64th hop from the right is used instead.
	 */
	for (n = 63; n <= 64; n++) {
		len = (size_t)snprintf(xff, sizeof(xff), "1.2.3.4");
		for (i = n; i > 0; i--)
			len += snprintf(xff + len, sizeof(xff) - len,
			    ", 10.0.%d.%d", i / 256, i % 256);
		ck_assert_uint_lt(len, sizeof(xff) - 1);
		ck_assert_int_eq(ipaddr_from_xff(xff, &peer, &trusted, &out),
		    0);
		want = ip(n == 63 ? "1.2.3.4" : "10.0.0.64");
		ck_assert_msg(memcmp(&out, &want, sizeof(out)) == 0,
		    "%d hops", n);
	}

	/* An entry of 64 bytes is read, 65 is malformed. */
	memset(entry, ' ', sizeof(entry));
	memcpy(entry + 64 - strlen("1.2.3.4"), "1.2.3.4", strlen("1.2.3.4"));
	entry[64] = '\0';
	ck_assert_int_eq(ipaddr_from_xff(entry, &peer, &trusted, &out), 0);
	want = ip("1.2.3.4");
	ck_assert_mem_eq(&out, &want, sizeof(out));
	snprintf(xff, sizeof(xff), " %s, 10.0.0.9", entry);
	ck_assert_int_eq(ipaddr_from_xff(xff, &peer, &trusted, &out), 0);
	want = ip("10.0.0.9");
	ck_assert_mem_eq(&out, &want, sizeof(out));

	/* A huge header of junk costs a bounded walk and yields the peer. */
	memset(xff, 'x', sizeof(xff) - 1);
	xff[sizeof(xff) - 1] = '\0';
	ck_assert_int_eq(ipaddr_from_xff(xff, &peer, &trusted, &out), 0);
	ck_assert_mem_eq(&out, &peer, sizeof(out));
	cidr_list_free(&trusted);

	ck_assert_int_eq(cidr_list_parse("", &trusted, &errstr), 0);
	ck_assert_int_eq(ipaddr_from_xff("1.2.3.4", &peer, &trusted, &out),
	    0);
	ck_assert_mem_eq(&out, &peer, sizeof(out));
	cidr_list_free(&trusted);
}
END_TEST

Suite *
ipaddr_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ipaddr");
	tc = tcase_create("ipaddr");
	tcase_add_loop_test(tc, test_ipaddr_parse, 0,
	    sizeof(prows) / sizeof(prows[0]));
	tcase_add_test(tc, test_ipaddr_parse_misc);
	tcase_add_test(tc, test_ipaddr_format);
	tcase_add_test(tc, test_ipaddr_loopback);
	tcase_add_test(tc, test_ipaddr_truncate);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr");
	tcase_add_loop_test(tc, test_cidr_parse, 0,
	    sizeof(crows) / sizeof(crows[0]));
	tcase_add_test(tc, test_cidr_parse_misc);
	tcase_add_loop_test(tc, test_cidr_match, 0,
	    sizeof(mrows) / sizeof(mrows[0]));
	tcase_add_test(tc, test_cidr_match_misc);
	tcase_add_loop_test(tc, test_cidr_list_parse, 0,
	    sizeof(lrows) / sizeof(lrows[0]));
	tcase_add_test(tc, test_cidr_list_limits);
	tcase_add_test(tc, test_cidr_list_match);
	suite_add_tcase(s, tc);

	tc = tcase_create("xff");
	tcase_add_loop_test(tc, test_xff, 0, sizeof(xrows) / sizeof(xrows[0]));
	tcase_add_test(tc, test_xff_bounds);
	suite_add_tcase(s, tc);
	return s;
}
