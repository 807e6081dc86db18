/*
 * test_net.c - addresses and CIDR blocks: parse, format, match
 * (src/core/net.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "maskd/net.h"

static void assert_cidr(const struct net_cidr *c, int family,
			const char *addr, unsigned prefix)
{
	uint8_t want[16] = { 0 };

	assert_int_equal(c->family, family);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(c->addr, want, family == AF_INET ? 4 : 16);
	assert_int_equal(c->prefix, prefix);
}

static void test_cidr_parse(void **state)
{
	struct net_cidr c;

	assert_int_equal(net_cidr_parse("198.0.0.0/8", &c), 0);
	assert_cidr(&c, AF_INET, "198.0.0.0", 8);
	/* host bits are masked */
	assert_int_equal(net_cidr_parse("198.1.2.3/8", &c), 0);
	assert_cidr(&c, AF_INET, "198.0.0.0", 8);
	assert_int_equal(net_cidr_parse("203.0.113.255/23", &c), 0);
	assert_cidr(&c, AF_INET, "203.0.112.0", 23);
	assert_int_equal(net_cidr_parse("203.0.113.9", &c), 0);
	assert_cidr(&c, AF_INET, "203.0.113.9", 32);
	assert_int_equal(net_cidr_parse("1.2.3.4/0", &c), 0);
	assert_cidr(&c, AF_INET, "0.0.0.0", 0);
	assert_int_equal(net_cidr_parse("2001:db8:abcd::1/33", &c), 0);
	assert_cidr(&c, AF_INET6, "2001:db8:8000::", 33);
	assert_int_equal(net_cidr_parse("::1", &c), 0);
	assert_cidr(&c, AF_INET6, "::1", 128);
	assert_int_equal(net_cidr_parse("fe80::1/128", &c), 0);
	assert_cidr(&c, AF_INET6, "fe80::1", 128);

	assert_int_equal(net_cidr_parse("198.0.0.0/33", &c), EINVAL);
	assert_int_equal(net_cidr_parse("::/129", &c), EINVAL);
	assert_int_equal(net_cidr_parse("198.0.0.0/", &c), EINVAL);
	assert_int_equal(net_cidr_parse("198.0.0.0/-1", &c), EINVAL);
	assert_int_equal(net_cidr_parse("198.0.0.0/+8", &c), EINVAL);
	assert_int_equal(net_cidr_parse("198.0.0.0/8x", &c), EINVAL);
	assert_int_equal(net_cidr_parse("198.0.0.0/0008", &c), EINVAL);
	assert_int_equal(net_cidr_parse("/8", &c), EINVAL);
	assert_int_equal(net_cidr_parse("", &c), EINVAL);
	assert_int_equal(net_cidr_parse("198.0.0/8", &c), EINVAL);
	assert_int_equal(net_cidr_parse(" 198.0.0.0/8", &c), EINVAL);
	assert_int_equal(net_cidr_parse("fe80::1%eth0", &c), EINVAL);
	assert_int_equal(net_cidr_parse("example.com/8", &c), EINVAL);
	assert_int_equal(net_cidr_parse(NULL, &c), EINVAL);
}

static void sa4(struct sockaddr_in *sin, const char *a)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5060);
	assert_int_equal(inet_pton(AF_INET, a, &sin->sin_addr), 1);
}

static void sa6(struct sockaddr_in6 *sin6, const char *a)
{
	memset(sin6, 0, sizeof(*sin6));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(5060);
	assert_int_equal(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
}

static bool match4(const char *cidr, const char *a)
{
	struct net_cidr c;
	struct sockaddr_in sin;

	assert_int_equal(net_cidr_parse(cidr, &c), 0);
	sa4(&sin, a);
	return net_cidr_match(&c, (struct sockaddr *)&sin);
}

static bool match6(const char *cidr, const char *a)
{
	struct net_cidr c;
	struct sockaddr_in6 sin6;

	assert_int_equal(net_cidr_parse(cidr, &c), 0);
	sa6(&sin6, a);
	return net_cidr_match(&c, (struct sockaddr *)&sin6);
}

static void test_cidr_match(void **state)
{
	struct net_cidr c;
	struct sockaddr sa;

	assert_true(match4("127.0.0.0/8", "127.0.0.1"));
	assert_true(match4("127.0.0.0/8", "127.255.255.255"));
	assert_false(match4("127.0.0.0/8", "128.0.0.1"));
	assert_false(match4("127.0.0.0/8", "126.255.255.255"));
	assert_true(match4("198.1.2.3/8", "198.200.0.1"));
	assert_true(match4("203.0.112.0/23", "203.0.113.7"));
	assert_false(match4("203.0.112.0/23", "203.0.114.7"));
	assert_true(match4("203.0.113.9", "203.0.113.9"));
	assert_false(match4("203.0.113.9", "203.0.113.8"));
	assert_true(match4("0.0.0.0/0", "8.8.8.8"));
	assert_true(match4("198.51.100.0/31", "198.51.100.1"));
	assert_false(match4("198.51.100.0/31", "198.51.100.2"));

	assert_true(match6("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(match6("2001:db8::/32", "2001:db9::1"));
	assert_true(match6("2001:db8:8000::/33", "2001:db8:8000::1"));
	assert_false(match6("2001:db8:8000::/33", "2001:db8:7fff::1"));
	assert_true(match6("::1", "::1"));
	assert_false(match6("::1", "::2"));
	assert_true(match6("::/0", "fe80::1"));

	/* v4-mapped v6 peers (dual-stack sockets) match v4 blocks */
	assert_true(match6("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_false(match6("127.0.0.0/8", "::ffff:128.0.0.1"));
	assert_true(match6("0.0.0.0/0", "::ffff:1.2.3.4"));
	/* but not other v6 addresses that merely end the same */
	assert_false(match6("127.0.0.0/8", "::127.0.0.1"));
	assert_false(match6("0.0.0.0/0", "2001:db8::1"));
	/* and v4 peers match v4-mapped v6 blocks */
	assert_true(match4("::ffff:198.0.0.0/104", "198.9.9.9"));
	assert_false(match4("::ffff:198.0.0.0/104", "199.9.9.9"));
	assert_false(match4("2001:db8::/32", "198.9.9.9"));

	/* other families and NULLs never match */
	assert_int_equal(net_cidr_parse("0.0.0.0/0", &c), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_false(net_cidr_match(&c, &sa));
	assert_false(net_cidr_match(&c, NULL));
	assert_false(net_cidr_match(NULL, &sa));
}

static void test_addr_parse(void **state)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse("127.0.0.1:5060", &a, NULL, 0), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 5060);
	assert_int_equal(net_addr_parse("[::1]:8080", &a, NULL, 0), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 8080);
	assert_int_equal(net_addr_parse("[2001:db8::1]:65535", &a, NULL, 0), 0);
	assert_string_equal(a.host, "2001:db8::1");
	assert_int_equal(a.port, 65535);
	assert_int_equal(net_addr_parse("sbc-1.example.net:1", &a, NULL, 0), 0);
	assert_string_equal(a.host, "sbc-1.example.net");
	assert_int_equal(a.port, 1);

	assert_int_equal(net_addr_parse("127.0.0.1", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:0", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:65536", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:005060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:-1", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1: 5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse(":5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("::1:5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("[::1]5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("[::1]", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("[127.0.0.1]:5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("[]:5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("1.2.3.256:5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("bad host:5060", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse("", &a, NULL, 0), EINVAL);
	assert_int_equal(net_addr_parse(NULL, &a, NULL, 0), EINVAL);
}

/* What net_*_format() writes, net_*_parse() reads back. */
static void test_format(void **state)
{
	static const char *const addrs[] = {
		"127.0.0.1:5060", "[::1]:8080", "[2001:db8::1]:65535",
		"sbc-1.example.net:1",
	};
	static const struct { const char *in, *out; } cidrs[] = {
		{ "198.1.2.3/8", "198.0.0.0/8" },
		{ "203.0.113.9", "203.0.113.9/32" },
		{ "2001:db8:abcd::1/33", "2001:db8:8000::/33" },
		{ "::1", "::1/128" },
	};
	struct net_addr a, b;
	struct net_cidr c;
	char buf[300], why[128];
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		assert_int_equal(net_addr_parse(addrs[i], &a, NULL, 0), 0);
		net_addr_format(&a, buf, sizeof(buf));
		assert_string_equal(buf, addrs[i]);
		assert_int_equal(net_addr_parse(buf, &b, NULL, 0), 0);
		assert_string_equal(a.host, b.host);
		assert_int_equal(a.port, b.port);
	}
	memset(&a, 0, sizeof(a));
	net_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "");	/* port 0: none */

	for (i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		assert_int_equal(net_cidr_parse(cidrs[i].in, &c), 0);
		net_cidr_format(&c, buf, sizeof(buf));
		assert_string_equal(buf, cidrs[i].out);
	}

	/* the complaint names what is wrong, and fits the buffer */
	assert_int_equal(net_addr_parse("127.0.0.1", &a, why, sizeof(why)),
			 EINVAL);
	assert_string_equal(why, "'127.0.0.1' has no port (host:port)");
	assert_int_equal(net_addr_parse("::1:5060", &a, why, 8), EINVAL);
	assert_int_equal(strlen(why), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
