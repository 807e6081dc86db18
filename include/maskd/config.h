/*
 * config.h - maskd's one INI file, parsed with libinih.
 *
 * config_load() fills a struct config from a file; every key has a default
 * (see conf/maskd.conf, which documents each key, its default and unit).
 * The struct is filled once at start-up on the main thread and then only
 * read, so every thread may read it without locking.
 *
 * Errors name the place and the key as section.key:
 * "conf/maskd.conf:12: rtp.port_min: not a number" (line 0 when the
 * place is the whole file, e.g. "x.conf:0: api.tokens: required").
 */
#ifndef MASKD_CONFIG_H
#define MASKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "maskd/log.h"

#define CONFIG_HOST_SIZE 256
#define CONFIG_NAME_SIZE 64
#define CONFIG_PATH_SIZE 4096
#define CONFIG_AUTH_SIZE 128	/* [gateway] auth_user, _password, _realm */

/* An address as written in the file: "127.0.0.1:5060", "[::1]:5060". */
struct config_addr {
	char host[CONFIG_HOST_SIZE];	/* literal IP or host name, no brackets */
	uint16_t port;
};

/* One CIDR block of an inbound trunk's sources; IPv4 or IPv6. */
struct config_cidr {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];		/* network byte order; v4 in first 4 */
	unsigned prefix;		/* 0..32 or 0..128 */
};

/* One [trunk.NAME] section: a carrier allowed to send us INVITEs. */
struct config_trunk {
	char name[CONFIG_NAME_SIZE];
	struct config_cidr *sources;	/* owned by the config */
	size_t n_sources;
	bool trusted;			/* caller from P-Asserted-Identity */
	char country_code[8];		/* digits prepended to national numbers */
	char national_prefix[8];	/* e.g. "0": stripped before country_code */
	uint32_t cps;			/* new INVITEs/s from it; 0 = no cap */
};

/* [flood] scanners: User-Agent substrings, at most this many. */
#define CONFIG_SCANNERS_MAX 32
#define CONFIG_SCANNER_SIZE 32

struct config {
	struct {
		struct config_addr listen;	/* UDP and TCP */
		/* host written in maskd's own From, P-Asserted-Identity and
		 * Contact; "" = listen.host */
		char advertise[CONFIG_HOST_SIZE];
		uint16_t unknown_code;		/* no session for the pair */
		uint16_t ended_code;		/* the pair's session ended */
		uint32_t transaction_timeout_ms;	/* SIP's 64*T1 */
		uint32_t udp_buffer;		/* SO_RCVBUF/SO_SNDBUF, bytes */
		uint32_t cps;			/* new INVITEs/s, all; 0 = none */
		/* RFC 4028 session timers, per leg: the interval offered on
		 * the callee's leg and the smallest accepted on either */
		uint32_t session_expires_s;
		uint32_t min_se_s;
		char **pass_headers;		/* owned; extra header names */
		size_t n_pass_headers;		/* copied from leg to leg */
		/* SIP over TLS: its own TCP port; port 0 = no TLS. The key
		 * and certificate (chain, leaf first) maskd presents, and
		 * the CAs a TLS gateway's certificate must chain to; PEM
		 * files, read at start-up */
		struct config_addr tls_listen;
		char tls_cert[CONFIG_PATH_SIZE];
		char tls_key[CONFIG_PATH_SIZE];
		char tls_ca[CONFIG_PATH_SIZE];	/* "" = none */
		/* a TLS peer maskd connects to must name the host it
		 * connected to, besides chaining to tls_ca */
		bool tls_verify_name;
	} sip;

	/* pike-style per-source limit on out-of-dialog requests */
	struct {
		uint32_t rate;			/* per window; 0 = off */
		uint32_t window_s;
		uint32_t block_s;		/* an offender's time out */
		bool reply_503;			/* action = 503 (else drop) */
		bool exempt_trunks;		/* trunks skip the limit */
		char scanners[CONFIG_SCANNERS_MAX][CONFIG_SCANNER_SIZE];
		size_t n_scanners;
	} flood;

	struct config_trunk *trunks;	/* owned; n_trunks entries */
	size_t n_trunks;

	struct {
		struct config_addr address;	/* outbound legs go here */
		char transport[8];		/* "udp", "tcp" or "tls" */
		/* digest credentials for the gateway's 401/407 challenges
		 * (src/sip/sip_auth.c); "" = none. The password is a
		 * secret: no message or log line ever shows it, and
		 * config_free() wipes it. */
		char auth_user[CONFIG_AUTH_SIZE];
		char auth_password[CONFIG_AUTH_SIZE];
		char auth_realm[CONFIG_AUTH_SIZE];	/* "" = any realm */
	} gateway;

	struct {
		uint16_t port_min;
		uint16_t port_max;
		char advertise[CONFIG_HOST_SIZE];	/* address written in SDP */
		char bind[CONFIG_HOST_SIZE];	/* media sockets; "" = advertise */
		uint32_t workers;		/* relay threads; 0 = one per core */
		uint32_t timeout_s;		/* no media: BYE; 0 = never */
		uint32_t hold_timeout_s;	/* the same while on hold */
		bool strict_source;		/* only the SDP's address may send */
	} rtp;

	struct {
		char path[CONFIG_PATH_SIZE];	/* LMDB directory */
		uint64_t map_size;		/* bytes */
		uint32_t retention_s;		/* ended sessions kept; 0 = ever */
	} store;

	struct {
		struct config_addr listen;
		char **tokens;			/* owned; n_tokens strings */
		size_t n_tokens;
		uint32_t max_body;		/* bytes; larger bodies get 413 */
		char tls_cert[CONFIG_PATH_SIZE];	/* "" = plain HTTP */
		char tls_key[CONFIG_PATH_SIZE];
		uint32_t rate_limit;		/* requests/s per token; 0 = none */
		uint32_t rate_burst;		/* requests; 0 = rate_limit */
		/* from accept, or the last reply, until a whole request is
		 * in; slower clients are disconnected */
		uint32_t request_timeout_s;
		uint32_t max_connections;	/* open at once; 0 = no cap */
	} api;

	struct {
		uint32_t default_ttl_s;
		uint32_t max_ttl_s;
		uint32_t call_time_limit_s;	/* 0 = no limit */
		uint32_t ring_timeout_s;
	} session;

	struct {
		enum log_level level;
		char file[CONFIG_PATH_SIZE];	/* "" = stderr */
	} log;
};

/*
 * config_defaults() - fill @cfg with every default; no trunk, no token.
 */
void config_defaults(struct config *cfg);

/*
 * config_load() - read and validate @path into @cfg.
 *
 * Unknown sections or keys, bad values and missing required keys (at least
 * one [trunk.*] with sources, and api.tokens; gateway.auth_user and
 * gateway.auth_password only together) are errors. On error returns
 * EINVAL (or an errno when the file cannot be read) and writes one line
 * "path:line: key: what is wrong" into @err. @cfg is then left freed
 * (config_free() on it is still safe). On success the caller owns what
 * @cfg points to and releases it with config_free().
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/*
 * config_free() - release what config_load() allocated and wipe
 * gateway.auth_password. Idempotent.
 */
void config_free(struct config *cfg);

/*
 * config_addr_parse() - "host:port" or "[v6]:port" into @out.
 * Returns 0 or EINVAL.
 */
int config_addr_parse(const char *s, struct config_addr *out);

/*
 * config_cidr_parse() - "a.b.c.d/n", "v6/n", or a bare address (/32, /128).
 * Returns 0 or EINVAL.
 */
int config_cidr_parse(const char *s, struct config_cidr *out);

/*
 * config_cidr_match() - true when @sa (AF_INET or AF_INET6) is inside @c.
 * An IPv4-mapped IPv6 address matches an IPv4 block.
 */
bool config_cidr_match(const struct config_cidr *c, const struct sockaddr *sa);

#endif
