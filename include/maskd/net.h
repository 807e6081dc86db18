/*
 * net.h - addresses and CIDR blocks as operators write them.
 *
 * Base code: no state, no allocation, no locking; any thread may call
 * any of these. net_cidr_match() is on the SIP thread's per-request path
 * (trunk recognition and the flood guard).
 */
#ifndef MASKD_NET_H
#define MASKD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_HOST_SIZE 256

/* An address as written: "127.0.0.1:5060", "[::1]:5060", "gw.example:5080". */
struct net_addr {
	char host[NET_HOST_SIZE];	/* literal IP or host name, no brackets */
	uint16_t port;			/* 0 = none (an empty optional address) */
};

/* One CIDR block; IPv4 or IPv6, host bits cleared. */
struct net_cidr {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];		/* network byte order; v4 in first 4 */
	unsigned prefix;		/* 0..32 or 0..128 */
};

/*
 * net_addr_parse() - "host:port" or "[v6]:port" into @out; the host is an
 * IPv4 address or a DNS name, the port 1..65535.
 *
 * Returns 0 or EINVAL; on EINVAL, when @why is not NULL, writes what is
 * wrong into it ("'x' has no port (host:port)"), quoting the input.
 */
int net_addr_parse(const char *s, struct net_addr *out, char *why,
		   size_t whylen);

/*
 * net_addr_format() - @a as net_addr_parse() reads it ("" for port 0).
 * Returns the length snprintf() would write.
 */
int net_addr_format(const struct net_addr *a, char *buf, size_t size);

/*
 * net_cidr_parse() - "a.b.c.d/n", "v6/n", or a bare address (/32, /128).
 * Returns 0 or EINVAL.
 */
int net_cidr_parse(const char *s, struct net_cidr *out);

/*
 * net_cidr_format() - @c as "a.b.c.d/n" or "v6/n".
 * Returns the length snprintf() would write.
 */
int net_cidr_format(const struct net_cidr *c, char *buf, size_t size);

/*
 * net_cidr_match() - true when @sa (AF_INET or AF_INET6) is inside @c.
 * An IPv4-mapped IPv6 address matches an IPv4 block. Hot path: no
 * allocation, no system call.
 */
bool net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa);

/*
 * net_hostname_valid() - @s is a DNS host name (letters, digits, '-',
 * '_', '.'); all-numeric names are refused as mistyped IPv4 addresses.
 */
bool net_hostname_valid(const char *s);

#endif
