/*
 * net.c - addresses and CIDR blocks: parse, format, match.
 *
 * Pure functions of their arguments: any thread, no allocation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/net.h"

static bool net_all_digits(const char *s)
{
	if (!*s)
		return false;

	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}

	return true;
}

static int net_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int net_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return EINVAL;
}

bool net_hostname_valid(const char *s)
{
	bool alpha = false;

	if (!s || !*s)
		return false;

	for (; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    *s == '-' || *s == '_')
			alpha = true;
		else if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return false;
	}

	return alpha;
}

int net_addr_parse(const char *s, struct net_addr *out, char *why,
		   size_t whylen)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[NET_HOST_SIZE];
	const char *colon, *port;
	size_t hostlen;
	unsigned long n;

	if (!s || !out)
		return net_why(why, whylen, "no address");

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return net_why(why, whylen, "'%s' is not [IPv6]:port",
				       s);

		hostlen = (size_t)(close - s - 1);
		if (hostlen >= sizeof(host))
			return net_why(why, whylen, "host too long");

		memcpy(host, s + 1, hostlen);
		host[hostlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return net_why(why, whylen, "'%s' is not an IPv6 "
				       "address", host);
		port = close + 2;
	}
	else {
		colon = strrchr(s, ':');
		if (!colon)
			return net_why(why, whylen, "'%s' has no port "
				       "(host:port)", s);

		hostlen = (size_t)(colon - s);
		if (hostlen >= sizeof(host))
			return net_why(why, whylen, "host too long");

		memcpy(host, s, hostlen);
		host[hostlen] = '\0';
		if (strchr(host, ':'))
			return net_why(why, whylen, "IPv6 address needs "
				       "brackets: [v6]:port");

		if (inet_pton(AF_INET, host, &a4) != 1 &&
		    !net_hostname_valid(host))
			return net_why(why, whylen, "'%s' is not an IPv4 "
				       "address or host name", host);
		port = colon + 1;
	}

	if (!net_all_digits(port) || strlen(port) > 5)
		return net_why(why, whylen, "bad port '%s' (1..65535)", port);

	n = strtoul(port, NULL, 10);
	if (n < 1 || n > 65535)
		return net_why(why, whylen, "bad port '%s' (1..65535)", port);

	memcpy(out->host, host, hostlen + 1);
	out->port = (uint16_t)n;
	return 0;
}

int net_addr_format(const struct net_addr *a, char *buf, size_t size)
{
	if (!a->port)
		return snprintf(buf, size, "%s", "");

	return snprintf(buf, size, strchr(a->host, ':') ? "[%s]:%u" :
			"%s:%u", a->host, (unsigned)a->port);
}

/*
 * Host bits are cleared, so "10.0.0.1/8" is 10.0.0.0/8: operators paste
 * a host address with the carrier's prefix length, and meaning the block is
 * the only useful reading.
 */
int net_cidr_parse(const char *s, struct net_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct net_cidr c;
	const char *slash;
	unsigned long prefix;
	unsigned maxlen, i;
	size_t len;

	if (!s || !out)
		return EINVAL;

	memset(&c, 0, sizeof(c));

	slash = strchr(s, '/');
	len = slash ? (size_t)(slash - s) : strlen(s);
	if (!len || len >= sizeof(host))
		return EINVAL;

	memcpy(host, s, len);
	host[len] = '\0';

	if (inet_pton(AF_INET, host, c.addr) == 1) {
		c.family = AF_INET;
		maxlen = 32;
	}
	else if (inet_pton(AF_INET6, host, c.addr) == 1) {
		c.family = AF_INET6;
		maxlen = 128;
	}
	else {
		return EINVAL;
	}

	if (slash) {
		if (!net_all_digits(slash + 1) || strlen(slash + 1) > 3)
			return EINVAL;

		prefix = strtoul(slash + 1, NULL, 10);
		if (prefix > maxlen)
			return EINVAL;
	}
	else {
		prefix = maxlen;
	}

	c.prefix = (unsigned)prefix;
	for (i = 0; i < maxlen / 8; i++) {
		if (i * 8 >= prefix)
			c.addr[i] = 0;
		else if (i * 8 + 8 > prefix)
			c.addr[i] &= (uint8_t)(0xff << (8 - (prefix - i * 8)));
	}

	*out = c;
	return 0;
}

int net_cidr_format(const struct net_cidr *c, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family, c->addr, host, sizeof(host)))
		host[0] = '\0';

	return snprintf(buf, size, "%s/%u", host, c->prefix);
}

static bool net_prefix_match(const uint8_t *a, const uint8_t *b,
			     unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, bytes))
		return false;

	if (!bits)
		return true;

	mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/*
 * A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d, and operators
 * write IPv4 blocks: compare in whichever family the block is written in.
 */
bool net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	uint8_t addr[16];
	int family;

	if (!c || !sa)
		return false;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		family = AF_INET;
		memcpy(addr, &sin->sin_addr, 4);
	}
	else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		family = AF_INET6;
		memcpy(addr, &sin6->sin6_addr, 16);
	}
	else {
		return false;
	}

	if (c->family == AF_INET && family == AF_INET6) {
		if (memcmp(addr, v4mapped, 12))
			return false;
		memmove(addr, addr + 12, 4);
		family = AF_INET;
	}
	else if (c->family == AF_INET6 && family == AF_INET) {
		memmove(addr + 12, addr, 4);
		memcpy(addr, v4mapped, 12);
		family = AF_INET6;
	}

	if (family != c->family)
		return false;

	return net_prefix_match(addr, c->addr, c->prefix);
}
