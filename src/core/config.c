/*
 * config.c - read and validate maskd's INI file with libinih.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO and with a 200-byte
 * line buffer, so inih alone can neither tell the handler which line it is
 * on nor say that it cut a long line in two. We therefore feed it through
 * our own reader (cfg_reader), which counts lines, refuses long ones, and
 * tracks [section] headers itself; the handler only sees key = value.
 *
 * Runs once on the main thread at start-up; nothing here is shared.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <ini.h>

#include "maskd/config.h"

#define CFG_SECTION_SIZE 128
#define CFG_WHAT_SIZE 256
#define CFG_TOKEN_MIN 8
#define CFG_MAP_SIZE_MIN (1ULL << 20)
#define CFG_MAX_BODY_MAX (1ULL << 30)
#define CFG_RTP_PORT_LOW 1024

enum cfg_section {
	SEC_NONE = 0,
	SEC_SIP,
	SEC_TRUNK,
	SEC_GATEWAY,
	SEC_RTP,
	SEC_STORE,
	SEC_API,
	SEC_SESSION,
	SEC_LOG,
	SEC_FLOOD,
};

static const char *const cfg_section_names[] = {
	[SEC_SIP] = "sip",
	[SEC_GATEWAY] = "gateway",
	[SEC_RTP] = "rtp",
	[SEC_STORE] = "store",
	[SEC_API] = "api",
	[SEC_SESSION] = "session",
	[SEC_LOG] = "log",
	[SEC_FLOOD] = "flood",
};

#define CFG_N_SECTIONS \
	(sizeof(cfg_section_names) / sizeof(cfg_section_names[0]))

/* Everything config_load() needs while inih walks the file. */
struct cfg_ctx {
	const char *path;
	FILE *fp;
	char *buf;			/* getline() buffer */
	size_t bufsize;
	int line;			/* line last handed to inih */

	struct config *cfg;

	enum cfg_section sec;
	char section[CFG_SECTION_SIZE];	/* as written, for messages */
	int section_line;
	uint32_t seen_sections;		/* bit per enum cfg_section */
	uint64_t seen_keys;		/* bit per cfg_keys[] entry */

	int api_line;			/* [api], for "api.tokens: required" */
	int api_tls_line;		/* the last tls_cert/tls_key line */
	int auth_line;			/* the last gateway.auth_* line */
	int sip_tls_line;		/* the last [sip] tls_* line */
	int gateway_transport_line;
	int port_min_line;
	int port_max_line;
	int default_ttl_line;
	int max_ttl_line;

	char what[CFG_WHAT_SIZE];	/* complaint of the last key parser */

	int failed;			/* errno of the first error, 0 = none */
	char *err;
	size_t errlen;
};

/* A key parser: 0, or EINVAL with the complaint in ctx->what. */
typedef int (cfg_parse_h)(struct cfg_ctx *ctx, const char *value);

struct cfg_key {
	enum cfg_section sec;
	const char *name;
	cfg_parse_h *parse;
};

/*
 * cfg_fail() - record "path:line: message" unless an error is already
 * recorded: the first error is the one worth reading, the rest often follow
 * from it.
 */
static void cfg_fail(struct cfg_ctx *ctx, int err, int line,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void cfg_fail(struct cfg_ctx *ctx, int err, int line,
		     const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ctx->failed)
		return;

	ctx->failed = err;

	if (!ctx->err || !ctx->errlen)
		return;

	n = snprintf(ctx->err, ctx->errlen, "%s:%d: ", ctx->path, line);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;

	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int cfg_what(struct cfg_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int cfg_what(struct cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->what, sizeof(ctx->what), fmt, ap);
	va_end(ap);

	return EINVAL;
}

static struct config_trunk *cfg_trunk(struct cfg_ctx *ctx)
{
	return &ctx->cfg->trunks[ctx->cfg->n_trunks - 1];
}

static int cfg_copy(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len >= size)
		return ENAMETOOLONG;

	memcpy(dst, src, len + 1);
	return 0;
}

static bool cfg_all_digits(const char *s)
{
	if (!*s)
		return false;

	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}

	return true;
}

/*
 * strtoull() alone takes " 12", "+12" and "-1" (as 2^64-1) and stops at
 * "12abc": insist on digits only, so a typo is an error, not a value.
 */
static int cfg_uint(struct cfg_ctx *ctx, const char *v, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	unsigned long long n;
	char *end;

	if (!cfg_all_digits(v))
		return cfg_what(ctx, "not a number");

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return cfg_what(ctx, "out of range %" PRIu64 "..%" PRIu64,
				min, max);

	*out = n;
	return 0;
}

/* "4G", "512M", "1048576": bytes, with an optional binary suffix. */
static int cfg_size(struct cfg_ctx *ctx, const char *v, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	char digits[32];
	unsigned shift = 0;
	unsigned long long n;
	size_t len = strlen(v);
	char *end;

	if (len && strchr("KkMmGgTt", v[len - 1])) {
		switch (v[len - 1]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: shift = 40; break;
		}
		len--;
	}

	if (!len || len >= sizeof(digits))
		goto nan;

	memcpy(digits, v, len);
	digits[len] = '\0';
	if (!cfg_all_digits(digits))
		goto nan;

	errno = 0;
	n = strtoull(digits, &end, 10);
	if (errno || n > (UINT64_MAX >> shift))
		goto range;

	n <<= shift;
	if (n < min || n > max)
		goto range;

	*out = n;
	return 0;
 nan:
	return cfg_what(ctx, "not a size (bytes, or a number with K, M, G "
			"or T)");
 range:
	return cfg_what(ctx, "out of range %" PRIu64 "..%" PRIu64 " bytes",
			min, max);
}

static int cfg_bool(struct cfg_ctx *ctx, const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}

	return cfg_what(ctx, "not a boolean (yes/no, true/false, on/off, "
			"1/0)");
}

/* A host name as DNS allows it; all-numeric names are mistyped IPv4. */
static bool cfg_hostname_valid(const char *s)
{
	bool alpha = false;

	if (!*s)
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

static int cfg_addr(struct cfg_ctx *ctx, const char *s,
		    struct config_addr *out)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[CONFIG_HOST_SIZE];
	const char *colon, *port;
	size_t hostlen;
	unsigned long n;
	char *end;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return cfg_what(ctx, "'%s' is not [IPv6]:port", s);

		hostlen = (size_t)(close - s - 1);
		if (hostlen >= sizeof(host))
			return cfg_what(ctx, "host too long");

		memcpy(host, s + 1, hostlen);
		host[hostlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return cfg_what(ctx, "'%s' is not an IPv6 address",
					host);
		port = close + 2;
	}
	else {
		colon = strrchr(s, ':');
		if (!colon)
			return cfg_what(ctx, "'%s' has no port (host:port)",
					s);

		hostlen = (size_t)(colon - s);
		if (hostlen >= sizeof(host))
			return cfg_what(ctx, "host too long");

		memcpy(host, s, hostlen);
		host[hostlen] = '\0';
		if (strchr(host, ':'))
			return cfg_what(ctx, "IPv6 address needs brackets: "
					"[v6]:port");

		if (inet_pton(AF_INET, host, &a4) != 1 &&
		    !cfg_hostname_valid(host))
			return cfg_what(ctx, "'%s' is not an IPv4 address or "
					"host name", host);
		port = colon + 1;
	}

	if (!cfg_all_digits(port) || strlen(port) > 5)
		return cfg_what(ctx, "bad port '%s' (1..65535)", port);

	n = strtoul(port, &end, 10);
	if (n < 1 || n > 65535)
		return cfg_what(ctx, "bad port '%s' (1..65535)", port);

	memcpy(out->host, host, hostlen + 1);
	out->port = (uint16_t)n;
	return 0;
}

int config_addr_parse(const char *s, struct config_addr *out)
{
	struct cfg_ctx ctx;

	if (!s || !out)
		return EINVAL;

	return cfg_addr(&ctx, s, out);
}

/*
 * Host bits are cleared, so "10.0.0.1/8" is 10.0.0.0/8: operators paste
 * a host address with the carrier's prefix length, and meaning the block is
 * the only useful reading.
 */
int config_cidr_parse(const char *s, struct config_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct config_cidr c;
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
		if (!cfg_all_digits(slash + 1) || strlen(slash + 1) > 3)
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

static bool cfg_prefix_match(const uint8_t *a, const uint8_t *b,
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
bool config_cidr_match(const struct config_cidr *c, const struct sockaddr *sa)
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

	return cfg_prefix_match(addr, c->addr, c->prefix);
}

/* Splits a comma list in place; trims blanks around each item. */
static char *cfg_next_item(char **sp)
{
	char *s = *sp, *item, *end;

	if (!s)
		return NULL;

	end = strchr(s, ',');
	if (end) {
		*end = '\0';
		*sp = end + 1;
	}
	else {
		*sp = NULL;
	}

	while (*s == ' ' || *s == '\t')
		s++;
	item = s;
	end = s + strlen(s);
	while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	return item;
}

static size_t cfg_count_items(const char *v)
{
	size_t n = 1;

	for (; *v; v++)
		n += (*v == ',');

	return n;
}

/* --- key parsers ------------------------------------------------------ */

static int parse_sip_listen(struct cfg_ctx *ctx, const char *v)
{
	return cfg_addr(ctx, v, &ctx->cfg->sip.listen);
}

/* Empty: no TLS (port 0). */
static int parse_sip_tls_listen(struct cfg_ctx *ctx, const char *v)
{
	struct config_addr *a = &ctx->cfg->sip.tls_listen;

	ctx->sip_tls_line = ctx->line;
	if (!*v) {
		memset(a, 0, sizeof(*a));
		return 0;
	}
	return cfg_addr(ctx, v, a);
}

static int parse_sip_tls_path(struct cfg_ctx *ctx, char *dst, const char *v)
{
	ctx->sip_tls_line = ctx->line;
	if (cfg_copy(dst, CONFIG_PATH_SIZE, v))
		return cfg_what(ctx, "path too long");
	return 0;
}

static int parse_sip_tls_cert(struct cfg_ctx *ctx, const char *v)
{
	return parse_sip_tls_path(ctx, ctx->cfg->sip.tls_cert, v);
}

static int parse_sip_tls_key(struct cfg_ctx *ctx, const char *v)
{
	return parse_sip_tls_path(ctx, ctx->cfg->sip.tls_key, v);
}

static int parse_sip_tls_ca(struct cfg_ctx *ctx, const char *v)
{
	return parse_sip_tls_path(ctx, ctx->cfg->sip.tls_ca, v);
}

static int parse_sip_tls_verify_name(struct cfg_ctx *ctx, const char *v)
{
	return cfg_bool(ctx, v, &ctx->cfg->sip.tls_verify_name);
}

static int parse_sip_advertise(struct cfg_ctx *ctx, const char *v)
{
	uint8_t a[16];

	/* it goes into From, P-Asserted-Identity and Contact URIs */
	if (*v && inet_pton(AF_INET, v, a) != 1 &&
	    inet_pton(AF_INET6, v, a) != 1 && !cfg_hostname_valid(v))
		return cfg_what(ctx, "'%s' is not an IP address or host name",
				v);

	return cfg_copy(ctx->cfg->sip.advertise,
			sizeof(ctx->cfg->sip.advertise), v);
}

/* A final response code maskd may send instead of connecting a call. */
static int cfg_final_code(struct cfg_ctx *ctx, const char *v, uint16_t *out)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 400, 699, &n);
	if (err)
		return err;

	*out = (uint16_t)n;
	return 0;
}

static int parse_sip_unknown_code(struct cfg_ctx *ctx, const char *v)
{
	return cfg_final_code(ctx, v, &ctx->cfg->sip.unknown_code);
}

static int parse_sip_ended_code(struct cfg_ctx *ctx, const char *v)
{
	return cfg_final_code(ctx, v, &ctx->cfg->sip.ended_code);
}

static int parse_sip_transaction_timeout(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 4000, 64000, &n);
	if (err)
		return err;

	ctx->cfg->sip.transaction_timeout_ms = (uint32_t)n;
	return 0;
}

static int parse_sip_udp_buffer(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_size(ctx, v, 65536, 256ULL << 20, &n);
	if (err)
		return err;
	ctx->cfg->sip.udp_buffer = (uint32_t)n;
	return 0;
}

/* RFC 4028 asks 90 s at least; 2 s is allowed so tests see refreshes. */
static int parse_sip_session_expires(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 2, 86400, &n);
	if (err)
		return err;
	ctx->cfg->sip.session_expires_s = (uint32_t)n;
	return 0;
}

static int parse_sip_min_se(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 2, 86400, &n);
	if (err)
		return err;
	ctx->cfg->sip.min_se_s = (uint32_t)n;
	return 0;
}

/*
 * Headers that carry a party's identity, address or route, or that the
 * B2BUA builds itself on each leg: copying one of them from leg to leg
 * would unmask a number or break the dialog, so no config may ask for it.
 */
static const char *const cfg_never_pass[] = {
	"Via", "Route", "Record-Route", "Contact", "From", "To", "Call-ID",
	"CSeq", "Max-Forwards", "Content-Length", "Content-Type",
	"P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID",
	"Privacy", "Diversion", "History-Info", "P-Charging-Vector",
	"User-Agent", "Server", "Organization", "Subject", "Call-Info",
	"Warning", "Reason", "Referred-By", "Refer-To", "Replaces",
	"Authorization", "Proxy-Authorization", "WWW-Authenticate",
	"Proxy-Authenticate", "Require", "Proxy-Require", "Supported",
	"Session-Expires", "Min-SE", "RSeq", "RAck", "Path",
	"Service-Route", "P-Called-Party-ID", "P-Associated-URI",
	"P-Access-Network-Info", "P-Visited-Network-ID", "Allow",
	"Error-Info", "Alert-Info", "In-Reply-To", "Reply-To",
};

static bool cfg_header_name_valid(const char *s)
{
	size_t len = strlen(s);

	/* RFC 3261 token characters */
	return len && len < CONFIG_NAME_SIZE &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789-.!%*_+`'~") == len;
}

static int parse_sip_pass_headers(struct cfg_ctx *ctx, const char *v)
{
	struct config *cfg = ctx->cfg;
	char list[CFG_WHAT_SIZE];
	char *rest = list, *item;
	char **names = NULL;
	size_t n = 0, i;
	int err;

	if (cfg_copy(list, sizeof(list), v))
		return cfg_what(ctx, "too long");

	if (*v) {
		names = calloc(cfg_count_items(v), sizeof(*names));
		if (!names)
			return cfg_what(ctx, "out of memory");
	}

	while (*v && (item = cfg_next_item(&rest))) {
		if (!cfg_header_name_valid(item)) {
			err = cfg_what(ctx, "'%s' is not a header name", item);
			goto out;
		}
		if (!strncasecmp(item, "X-", 2)) {
			err = cfg_what(ctx, "%s: X- headers never pass", item);
			goto out;
		}
		for (i = 0; i < sizeof(cfg_never_pass) /
			    sizeof(cfg_never_pass[0]); i++) {
			if (!strcasecmp(item, cfg_never_pass[i])) {
				err = cfg_what(ctx, "%s may not pass from leg "
					       "to leg", item);
				goto out;
			}
		}
		names[n] = strdup(item);
		if (!names[n]) {
			err = cfg_what(ctx, "out of memory");
			goto out;
		}
		n++;
	}

	for (i = 0; i < cfg->sip.n_pass_headers; i++)
		free(cfg->sip.pass_headers[i]);
	free(cfg->sip.pass_headers);
	cfg->sip.pass_headers = names;
	cfg->sip.n_pass_headers = n;
	names = NULL;
	err = 0;
 out:
	if (names) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return err;
}

static int parse_sip_cps(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 1000000, &n);
	if (err)
		return err;
	ctx->cfg->sip.cps = (uint32_t)n;
	return 0;
}

static int parse_trunk_sources(struct cfg_ctx *ctx, const char *v)
{
	struct config_trunk *t = cfg_trunk(ctx);
	struct config_cidr *cidrs;
	char list[CFG_WHAT_SIZE];
	char *rest = list, *item;
	size_t n = 0;
	int err;

	if (cfg_copy(list, sizeof(list), v))
		return cfg_what(ctx, "too long");

	cidrs = calloc(cfg_count_items(v), sizeof(*cidrs));
	if (!cidrs)
		return cfg_what(ctx, "out of memory");

	while ((item = cfg_next_item(&rest))) {
		if (!*item) {
			err = cfg_what(ctx, "empty entry in the CIDR list");
			goto out;
		}
		if (config_cidr_parse(item, &cidrs[n])) {
			err = cfg_what(ctx, "bad CIDR '%s'", item);
			goto out;
		}
		n++;
	}

	free(t->sources);
	t->sources = cidrs;
	t->n_sources = n;
	cidrs = NULL;
	err = 0;
 out:
	free(cidrs);
	return err;
}

static int parse_trunk_trusted(struct cfg_ctx *ctx, const char *v)
{
	return cfg_bool(ctx, v, &cfg_trunk(ctx)->trusted);
}

static int parse_trunk_country_code(struct cfg_ctx *ctx, const char *v)
{
	struct config_trunk *t = cfg_trunk(ctx);

	/* E.164 country codes: 1 to 3 digits, never starting with 0 */
	if (*v && (!cfg_all_digits(v) || strlen(v) > 3 || v[0] == '0'))
		return cfg_what(ctx, "not a country code (1 to 3 digits, "
				"not starting with 0)");

	return cfg_copy(t->country_code, sizeof(t->country_code), v);
}

static int parse_trunk_cps(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 1000000, &n);
	if (err)
		return err;
	cfg_trunk(ctx)->cps = (uint32_t)n;
	return 0;
}

static int parse_trunk_national_prefix(struct cfg_ctx *ctx, const char *v)
{
	struct config_trunk *t = cfg_trunk(ctx);

	if (*v && (!cfg_all_digits(v) ||
		   strlen(v) >= sizeof(t->national_prefix)))
		return cfg_what(ctx, "not a national prefix (up to %zu digits)",
				sizeof(t->national_prefix) - 1);

	return cfg_copy(t->national_prefix, sizeof(t->national_prefix), v);
}

static int parse_gateway_address(struct cfg_ctx *ctx, const char *v)
{
	return cfg_addr(ctx, v, &ctx->cfg->gateway.address);
}

static int parse_gateway_transport(struct cfg_ctx *ctx, const char *v)
{
	ctx->gateway_transport_line = ctx->line;
	if (strcmp(v, "udp") && strcmp(v, "tcp") && strcmp(v, "tls"))
		return cfg_what(ctx, "'%s' is not udp, tcp or tls", v);

	return cfg_copy(ctx->cfg->gateway.transport,
			sizeof(ctx->cfg->gateway.transport), v);
}

/*
 * gateway.auth_user and auth_realm travel inside a quoted string of our
 * Authorization header: a quote, a backslash or a control character would
 * break it (or smuggle a header in), so they are refused rather than
 * escaped. The password only goes into the digest hash, so only control
 * characters are refused, and no complaint ever quotes what it read.
 */
static int cfg_auth_text(struct cfg_ctx *ctx, const char *v, char *dst,
			 size_t size, bool quoted)
{
	const unsigned char *p;

	if (strlen(v) >= size)
		return cfg_what(ctx, "longer than %zu characters", size - 1);

	for (p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return cfg_what(ctx, "has a control character");
		if (quoted && (*p == '"' || *p == '\\'))
			return cfg_what(ctx, "has a character that cannot be "
					"sent (\" or \\)");
	}

	ctx->auth_line = ctx->line;
	return cfg_copy(dst, size, v);
}

static int parse_gateway_auth_user(struct cfg_ctx *ctx, const char *v)
{
	return cfg_auth_text(ctx, v, ctx->cfg->gateway.auth_user,
			     sizeof(ctx->cfg->gateway.auth_user), true);
}

static int parse_gateway_auth_password(struct cfg_ctx *ctx, const char *v)
{
	return cfg_auth_text(ctx, v, ctx->cfg->gateway.auth_password,
			     sizeof(ctx->cfg->gateway.auth_password), false);
}

static int parse_gateway_auth_realm(struct cfg_ctx *ctx, const char *v)
{
	return cfg_auth_text(ctx, v, ctx->cfg->gateway.auth_realm,
			     sizeof(ctx->cfg->gateway.auth_realm), true);
}

static int parse_rtp_port_min(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, CFG_RTP_PORT_LOW, 65535, &n);
	if (err)
		return err;

	/* RTP on the even port, RTCP on the odd one above it (RFC 3550) */
	if (n % 2)
		return cfg_what(ctx, "must be even (RTP even, RTCP odd)");

	ctx->cfg->rtp.port_min = (uint16_t)n;
	ctx->port_min_line = ctx->line;
	return 0;
}

static int parse_rtp_port_max(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, CFG_RTP_PORT_LOW, 65535, &n);
	if (err)
		return err;

	ctx->cfg->rtp.port_max = (uint16_t)n;
	ctx->port_max_line = ctx->line;
	return 0;
}

static int parse_rtp_advertise(struct cfg_ctx *ctx, const char *v)
{
	uint8_t a[16];

	/* it goes into SDP c= lines, which need the address family */
	if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1)
		return cfg_what(ctx, "'%s' is not an IP address", v);

	return cfg_copy(ctx->cfg->rtp.advertise,
			sizeof(ctx->cfg->rtp.advertise), v);
}

static int parse_rtp_bind(struct cfg_ctx *ctx, const char *v)
{
	uint8_t a[16];

	/* the relay binds each media socket to exactly this address, so
	 * packets leave from the address the parties latch on */
	if (*v && inet_pton(AF_INET, v, a) != 1 &&
	    inet_pton(AF_INET6, v, a) != 1)
		return cfg_what(ctx, "'%s' is not an IP address", v);

	return cfg_copy(ctx->cfg->rtp.bind, sizeof(ctx->cfg->rtp.bind), v);
}

static int parse_rtp_workers(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 64, &n);
	if (err)
		return err;

	ctx->cfg->rtp.workers = (uint32_t)n;
	return 0;
}

static int parse_rtp_timeout(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 86400, &n);
	if (err)
		return err;

	ctx->cfg->rtp.timeout_s = (uint32_t)n;
	return 0;
}

static int parse_rtp_hold_timeout(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 86400, &n);
	if (err)
		return err;

	ctx->cfg->rtp.hold_timeout_s = (uint32_t)n;
	return 0;
}

static int parse_rtp_strict_source(struct cfg_ctx *ctx, const char *v)
{
	return cfg_bool(ctx, v, &ctx->cfg->rtp.strict_source);
}

static int parse_store_path(struct cfg_ctx *ctx, const char *v)
{
	if (!*v)
		return cfg_what(ctx, "empty");

	return cfg_copy(ctx->cfg->store.path, sizeof(ctx->cfg->store.path), v);
}

static int parse_store_map_size(struct cfg_ctx *ctx, const char *v)
{
	return cfg_size(ctx, v, CFG_MAP_SIZE_MIN, UINT64_MAX,
			&ctx->cfg->store.map_size);
}

/* Seconds, as [session] ttls are; 0 keeps ended sessions for ever. */
static int parse_store_retention(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, UINT32_MAX, &n);
	if (err)
		return err;
	ctx->cfg->store.retention_s = (uint32_t)n;
	return 0;
}

static int parse_api_listen(struct cfg_ctx *ctx, const char *v)
{
	return cfg_addr(ctx, v, &ctx->cfg->api.listen);
}

/* Tokens are secrets: complaints say which one, never what it is. */
static int parse_api_tokens(struct cfg_ctx *ctx, const char *v)
{
	struct config *cfg = ctx->cfg;
	char list[CFG_WHAT_SIZE];
	char *rest = list, *item;
	char **tokens;
	size_t n = 0, i;
	const unsigned char *p;
	int err;

	if (cfg_copy(list, sizeof(list), v))
		return cfg_what(ctx, "too long");

	tokens = calloc(cfg_count_items(v), sizeof(*tokens));
	if (!tokens)
		return cfg_what(ctx, "out of memory");

	while ((item = cfg_next_item(&rest))) {
		if (strlen(item) < CFG_TOKEN_MIN) {
			err = cfg_what(ctx, "token %zu is shorter than %d "
				       "characters", n + 1, CFG_TOKEN_MIN);
			goto out;
		}
		for (p = (const unsigned char *)item; *p; p++) {
			if (*p <= 0x20 || *p >= 0x7f) {
				err = cfg_what(ctx, "token %zu has a character "
					       "that is not printable ASCII",
					       n + 1);
				goto out;
			}
		}
		tokens[n] = strdup(item);
		if (!tokens[n]) {
			err = cfg_what(ctx, "out of memory");
			goto out;
		}
		n++;
	}

	for (i = 0; i < cfg->api.n_tokens; i++)
		free(cfg->api.tokens[i]);
	free(cfg->api.tokens);
	cfg->api.tokens = tokens;
	cfg->api.n_tokens = n;
	tokens = NULL;
	err = 0;
 out:
	if (tokens) {
		for (i = 0; i < n; i++)
			free(tokens[i]);
		free(tokens);
	}
	return err;
}

static int parse_api_max_body(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_size(ctx, v, 1, CFG_MAX_BODY_MAX, &n);
	if (err)
		return err;

	ctx->cfg->api.max_body = (uint32_t)n;
	return 0;
}

static int parse_api_tls_cert(struct cfg_ctx *ctx, const char *v)
{
	ctx->api_tls_line = ctx->line;
	return cfg_copy(ctx->cfg->api.tls_cert, sizeof(ctx->cfg->api.tls_cert),
			v);
}

static int parse_api_tls_key(struct cfg_ctx *ctx, const char *v)
{
	ctx->api_tls_line = ctx->line;
	return cfg_copy(ctx->cfg->api.tls_key, sizeof(ctx->cfg->api.tls_key),
			v);
}

static int parse_api_rate_limit(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 1000000, &n);
	if (err)
		return err;
	ctx->cfg->api.rate_limit = (uint32_t)n;
	return 0;
}

static int parse_api_rate_burst(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 1000000, &n);
	if (err)
		return err;
	ctx->cfg->api.rate_burst = (uint32_t)n;
	return 0;
}

static int parse_api_request_timeout(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 1, 3600, &n);
	if (err)
		return err;
	ctx->cfg->api.request_timeout_s = (uint32_t)n;
	return 0;
}

static int parse_api_max_connections(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 1000000, &n);
	if (err)
		return err;
	ctx->cfg->api.max_connections = (uint32_t)n;
	return 0;
}

static int parse_session_default_ttl(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 1, UINT32_MAX, &n);
	if (err)
		return err;

	ctx->cfg->session.default_ttl_s = (uint32_t)n;
	ctx->default_ttl_line = ctx->line;
	return 0;
}

static int parse_session_max_ttl(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 1, UINT32_MAX, &n);
	if (err)
		return err;

	ctx->cfg->session.max_ttl_s = (uint32_t)n;
	ctx->max_ttl_line = ctx->line;
	return 0;
}

static int parse_session_call_time_limit(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, UINT32_MAX, &n);
	if (err)
		return err;

	ctx->cfg->session.call_time_limit_s = (uint32_t)n;
	return 0;
}

static int parse_session_ring_timeout(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 1, 86400, &n);
	if (err)
		return err;

	ctx->cfg->session.ring_timeout_s = (uint32_t)n;
	return 0;
}

static int parse_log_level(struct cfg_ctx *ctx, const char *v)
{
	if (log_level_parse(v, &ctx->cfg->log.level))
		return cfg_what(ctx, "'%s' is not error, warn, info or debug",
				v);

	return 0;
}

static int parse_log_file(struct cfg_ctx *ctx, const char *v)
{
	return cfg_copy(ctx->cfg->log.file, sizeof(ctx->cfg->log.file), v);
}

/* At most 64 entries: ctx->seen_keys has one bit per entry. */
static int parse_flood_rate(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 0, 1000000, &n);
	if (err)
		return err;
	ctx->cfg->flood.rate = (uint32_t)n;
	return 0;
}

static int parse_flood_window(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 1, 3600, &n);
	if (err)
		return err;
	ctx->cfg->flood.window_s = (uint32_t)n;
	return 0;
}

static int parse_flood_block(struct cfg_ctx *ctx, const char *v)
{
	uint64_t n = 0;
	int err;

	err = cfg_uint(ctx, v, 1, 86400, &n);
	if (err)
		return err;
	ctx->cfg->flood.block_s = (uint32_t)n;
	return 0;
}

static int parse_flood_action(struct cfg_ctx *ctx, const char *v)
{
	if (!strcmp(v, "drop"))
		ctx->cfg->flood.reply_503 = false;
	else if (!strcmp(v, "503"))
		ctx->cfg->flood.reply_503 = true;
	else
		return cfg_what(ctx, "must be drop or 503");
	return 0;
}

static int parse_flood_exempt_trunks(struct cfg_ctx *ctx, const char *v)
{
	return cfg_bool(ctx, v, &ctx->cfg->flood.exempt_trunks);
}

/* A fixed table, not a malloc'd list: the SIP thread scans it for every
 * out-of-dialog request, and nothing here ever needs freeing. */
static int parse_flood_scanners(struct cfg_ctx *ctx, const char *v)
{
	struct config *cfg = ctx->cfg;
	char list[CFG_WHAT_SIZE];
	char *rest = list, *item;
	size_t n = 0;

	if (cfg_copy(list, sizeof(list), v))
		return cfg_what(ctx, "too long");

	while (*v && (item = cfg_next_item(&rest))) {
		if (!*item)
			return cfg_what(ctx, "empty entry in the list");
		if (n == CONFIG_SCANNERS_MAX)
			return cfg_what(ctx, "more than %d entries",
					CONFIG_SCANNERS_MAX);
		if (cfg_copy(cfg->flood.scanners[n], CONFIG_SCANNER_SIZE,
			     item))
			return cfg_what(ctx, "'%s' longer than %d", item,
					CONFIG_SCANNER_SIZE - 1);
		n++;
	}
	cfg->flood.n_scanners = n;
	return 0;
}

static const struct cfg_key cfg_keys[] = {
	{ SEC_SIP, "listen", parse_sip_listen },
	{ SEC_SIP, "advertise", parse_sip_advertise },
	{ SEC_SIP, "unknown_code", parse_sip_unknown_code },
	{ SEC_SIP, "ended_code", parse_sip_ended_code },
	{ SEC_SIP, "transaction_timeout", parse_sip_transaction_timeout },
	{ SEC_SIP, "pass_headers", parse_sip_pass_headers },
	{ SEC_SIP, "udp_buffer", parse_sip_udp_buffer },
	{ SEC_SIP, "session_expires", parse_sip_session_expires },
	{ SEC_SIP, "min_se", parse_sip_min_se },
	{ SEC_SIP, "cps", parse_sip_cps },
	{ SEC_SIP, "tls_listen", parse_sip_tls_listen },
	{ SEC_SIP, "tls_cert", parse_sip_tls_cert },
	{ SEC_SIP, "tls_key", parse_sip_tls_key },
	{ SEC_SIP, "tls_ca", parse_sip_tls_ca },
	{ SEC_SIP, "tls_verify_name", parse_sip_tls_verify_name },
	{ SEC_TRUNK, "sources", parse_trunk_sources },
	{ SEC_TRUNK, "cps", parse_trunk_cps },
	{ SEC_TRUNK, "trusted", parse_trunk_trusted },
	{ SEC_TRUNK, "country_code", parse_trunk_country_code },
	{ SEC_TRUNK, "national_prefix", parse_trunk_national_prefix },
	{ SEC_GATEWAY, "address", parse_gateway_address },
	{ SEC_GATEWAY, "transport", parse_gateway_transport },
	{ SEC_GATEWAY, "auth_user", parse_gateway_auth_user },
	{ SEC_GATEWAY, "auth_password", parse_gateway_auth_password },
	{ SEC_GATEWAY, "auth_realm", parse_gateway_auth_realm },
	{ SEC_RTP, "port_min", parse_rtp_port_min },
	{ SEC_RTP, "port_max", parse_rtp_port_max },
	{ SEC_RTP, "advertise", parse_rtp_advertise },
	{ SEC_RTP, "bind", parse_rtp_bind },
	{ SEC_RTP, "workers", parse_rtp_workers },
	{ SEC_RTP, "timeout", parse_rtp_timeout },
	{ SEC_RTP, "hold_timeout", parse_rtp_hold_timeout },
	{ SEC_RTP, "strict_source", parse_rtp_strict_source },
	{ SEC_STORE, "path", parse_store_path },
	{ SEC_STORE, "map_size", parse_store_map_size },
	{ SEC_STORE, "retention", parse_store_retention },
	{ SEC_API, "listen", parse_api_listen },
	{ SEC_API, "tokens", parse_api_tokens },
	{ SEC_API, "max_body", parse_api_max_body },
	{ SEC_API, "tls_cert", parse_api_tls_cert },
	{ SEC_API, "tls_key", parse_api_tls_key },
	{ SEC_API, "rate_limit", parse_api_rate_limit },
	{ SEC_API, "rate_burst", parse_api_rate_burst },
	{ SEC_API, "request_timeout", parse_api_request_timeout },
	{ SEC_API, "max_connections", parse_api_max_connections },
	{ SEC_SESSION, "default_ttl", parse_session_default_ttl },
	{ SEC_SESSION, "max_ttl", parse_session_max_ttl },
	{ SEC_SESSION, "call_time_limit", parse_session_call_time_limit },
	{ SEC_SESSION, "ring_timeout", parse_session_ring_timeout },
	{ SEC_LOG, "level", parse_log_level },
	{ SEC_LOG, "file", parse_log_file },
	{ SEC_FLOOD, "rate", parse_flood_rate },
	{ SEC_FLOOD, "window", parse_flood_window },
	{ SEC_FLOOD, "block", parse_flood_block },
	{ SEC_FLOOD, "action", parse_flood_action },
	{ SEC_FLOOD, "scanners", parse_flood_scanners },
	{ SEC_FLOOD, "exempt_trunks", parse_flood_exempt_trunks },
};

_Static_assert(sizeof(cfg_keys) / sizeof(cfg_keys[0]) <= 64,
	       "seen_keys is a uint64_t");

/* --- sections ---------------------------------------------------------- */

static bool cfg_trunk_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len >= CONFIG_NAME_SIZE)
		return false;

	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789_-") == len;
}

/* The section just read is complete: check what it requires. */
static void cfg_section_end(struct cfg_ctx *ctx)
{
	if (ctx->sec == SEC_TRUNK && !cfg_trunk(ctx)->n_sources)
		cfg_fail(ctx, EINVAL, ctx->section_line, "%s.sources: required",
			 ctx->section);
}

static void cfg_section_begin(struct cfg_ctx *ctx, const char *name)
{
	struct config *cfg = ctx->cfg;
	struct config_trunk *trunks, *t;
	size_t i;

	cfg_section_end(ctx);
	if (ctx->failed)
		return;

	ctx->sec = SEC_NONE;
	ctx->seen_keys = 0;
	ctx->section_line = ctx->line;
	snprintf(ctx->section, sizeof(ctx->section), "%s", name);

	for (i = 1; i < CFG_N_SECTIONS; i++) {
		/* trunk sections have no fixed name */
		if (!cfg_section_names[i] || strcmp(name, cfg_section_names[i]))
			continue;

		if (ctx->seen_sections & (1u << i)) {
			cfg_fail(ctx, EINVAL, ctx->line,
				 "%s: duplicate section", name);
			return;
		}
		ctx->seen_sections |= 1u << i;
		ctx->sec = (enum cfg_section)i;
		if (ctx->sec == SEC_API)
			ctx->api_line = ctx->line;
		return;
	}

	if (strncmp(name, "trunk.", 6)) {
		if (!strcmp(name, "trunk"))
			cfg_fail(ctx, EINVAL, ctx->line, "trunk: needs a "
				 "name: [trunk.NAME]");
		else
			cfg_fail(ctx, EINVAL, ctx->line,
				 "%s: unknown section", name);
		return;
	}

	if (!cfg_trunk_name_valid(name + 6)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: bad trunk name (1 to "
			 "%d of A-Z a-z 0-9 _ -)", name, CONFIG_NAME_SIZE - 1);
		return;
	}

	for (i = 0; i < cfg->n_trunks; i++) {
		if (!strcmp(cfg->trunks[i].name, name + 6)) {
			cfg_fail(ctx, EINVAL, ctx->line,
				 "%s: duplicate trunk name", name);
			return;
		}
	}

	trunks = realloc(cfg->trunks, (cfg->n_trunks + 1) * sizeof(*trunks));
	if (!trunks) {
		cfg_fail(ctx, ENOMEM, ctx->line, "%s: out of memory", name);
		return;
	}
	cfg->trunks = trunks;

	t = &trunks[cfg->n_trunks++];
	memset(t, 0, sizeof(*t));
	memcpy(t->name, name + 6, strlen(name + 6) + 1);
	ctx->sec = SEC_TRUNK;
}

/* --- the reader and the handler ---------------------------------------- */

static bool cfg_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Looks at each line before inih does. Returns false (after cfg_fail())
 * for what inih would silently get wrong: lines it would cut, indented
 * lines it would glue to the previous value (multi-line values are on in
 * Debian's build) and text after a section's ']'.
 */
static bool cfg_line_check(struct cfg_ctx *ctx, const char *line, size_t len,
			   int max)
{
	char name[CFG_SECTION_SIZE];
	const char *start = line, *s, *end;

	if (memchr(line, '\0', len)) {
		cfg_fail(ctx, EINVAL, ctx->line, "line contains a NUL byte");
		return false;
	}

	if (len > (size_t)max) {
		cfg_fail(ctx, EINVAL, ctx->line,
			 "line too long (max %d characters)", max);
		return false;
	}

	/* inih skips a UTF-8 byte order mark on the first line */
	if (ctx->line == 1 && !strncmp(start, "\xEF\xBB\xBF", 3))
		start += 3;

	for (s = start; cfg_is_blank(*s); s++)
		;

	if (!*s || *s == ';' || *s == '#')
		return true;

	if (s != start) {
		cfg_fail(ctx, EINVAL, ctx->line, "line starts with blanks "
			 "(continuation lines are not supported)");
		return false;
	}

	if (*s != '[') {
		/* as inih: '=' or ':' before any " ;" comment */
		for (end = s; *end && *end != '=' && *end != ':'; end++) {
			if (*end == ';' && cfg_is_blank(end[-1]))
				break;
		}
		if (*end != '=' && *end != ':') {
			cfg_fail(ctx, EINVAL, ctx->line, "syntax error "
				 "(expected [section] or key = value)");
			return false;
		}
		return true;
	}

	end = strchr(s, ']');
	if (!end) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: missing ']'", s);
		return false;
	}

	if ((size_t)(end - s - 1) >= sizeof(name)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%.64s...: unknown section",
			 s + 1);
		return false;
	}
	memcpy(name, s + 1, (size_t)(end - s - 1));
	name[end - s - 1] = '\0';

	for (end++; cfg_is_blank(*end); end++)
		;
	if (*end && *end != ';' && *end != '#') {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: text after ']'", name);
		return false;
	}

	cfg_section_begin(ctx, name);
	return !ctx->failed;
}

/*
 * The ini_reader: hands inih one line at a time, so ctx->line is the line
 * of the key the handler is called for. Returning NULL ends the parse;
 * we do that on the first error, like a compiler that stops at the first
 * message worth reading.
 */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_ctx *ctx = stream;
	ssize_t n;
	size_t len;

	if (ctx->failed || num < 3)
		return NULL;

	errno = 0;
	n = getline(&ctx->buf, &ctx->bufsize, ctx->fp);
	if (n < 0) {
		int err = errno ? errno : EIO;

		if (ferror(ctx->fp))
			cfg_fail(ctx, err, ctx->line + 1, "read error: %s",
				 strerror(err));
		return NULL;
	}

	ctx->line++;
	len = (size_t)n;
	if (len && ctx->buf[len - 1] == '\n')
		len--;
	if (len && ctx->buf[len - 1] == '\r')
		len--;
	ctx->buf[len] = '\0';

	/* inih needs room for the newline and the NUL */
	if (!cfg_line_check(ctx, ctx->buf, len, num - 2))
		return NULL;

	memcpy(str, ctx->buf, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static void cfg_unquote(char *v)
{
	size_t len = strlen(v);

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		memmove(v, v + 1, len - 2);
		v[len - 2] = '\0';
	}
}

static int cfg_handler(void *user, const char *section, const char *name,
		       const char *value)
{
	struct cfg_ctx *ctx = user;
	char v[CFG_WHAT_SIZE];
	size_t i;

	(void)section;		/* inih cuts names at 50 bytes; we track it */

	if (ctx->failed)
		return 0;

	if (ctx->sec == SEC_NONE) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: key outside any section",
			 name);
		return 0;
	}

	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		if (cfg_keys[i].sec == ctx->sec &&
		    !strcmp(cfg_keys[i].name, name))
			break;
	}
	if (i == sizeof(cfg_keys) / sizeof(cfg_keys[0])) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: unknown key",
			 ctx->section, name);
		return 0;
	}

	if (ctx->seen_keys & (1ull << i)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: duplicate key",
			 ctx->section, name);
		return 0;
	}
	ctx->seen_keys |= 1ull << i;

	if (cfg_copy(v, sizeof(v), value)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: too long",
			 ctx->section, name);
		return 0;
	}
	cfg_unquote(v);

	if (cfg_keys[i].parse(ctx, v)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: %s", ctx->section,
			 name, ctx->what);
		return 0;
	}

	return 1;
}

/*
 * SIP over TLS is all or nothing: a listener needs its key and
 * certificate, and the files mean nothing without it; a TLS gateway needs
 * the listener (the gateway's in-dialog requests come back to it) and
 * CAs to check the gateway's certificate against. Returns true when it
 * failed.
 */
static bool cfg_finish_sip_tls(struct cfg_ctx *ctx)
{
	const struct config *cfg = ctx->cfg;
	bool on = cfg->sip.tls_listen.port != 0;
	bool gw = !strcmp(cfg->gateway.transport, "tls");

	if (on && (!cfg->sip.tls_cert[0] || !cfg->sip.tls_key[0])) {
		cfg_fail(ctx, EINVAL, ctx->sip_tls_line, "%s: required with "
			 "sip.tls_listen", !cfg->sip.tls_cert[0] ?
			 "sip.tls_cert" : "sip.tls_key");
		return true;
	}
	if (!on && (cfg->sip.tls_cert[0] || cfg->sip.tls_key[0] ||
		    cfg->sip.tls_ca[0])) {
		cfg_fail(ctx, EINVAL, ctx->sip_tls_line, "sip.tls_listen: "
			 "required with sip.%s", cfg->sip.tls_cert[0] ?
			 "tls_cert" : cfg->sip.tls_key[0] ? "tls_key" :
			 "tls_ca");
		return true;
	}
	if (on && cfg->sip.tls_listen.port == cfg->sip.listen.port &&
	    !strcmp(cfg->sip.tls_listen.host, cfg->sip.listen.host)) {
		cfg_fail(ctx, EINVAL, ctx->sip_tls_line, "sip.tls_listen: "
			 "the same address as sip.listen (its TCP socket)");
		return true;
	}
	if (gw && !on) {
		cfg_fail(ctx, EINVAL, ctx->gateway_transport_line,
			 "gateway.transport: tls needs sip.tls_listen");
		return true;
	}
	if (gw && !cfg->sip.tls_ca[0]) {
		cfg_fail(ctx, EINVAL, ctx->gateway_transport_line,
			 "gateway.transport: tls needs sip.tls_ca (the CAs "
			 "the gateway's certificate is checked against)");
		return true;
	}
	return false;
}

/* Checks that need the whole file: required keys and pairs of keys. */
static void cfg_finish(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	cfg_section_end(ctx);
	if (ctx->failed)
		return;

	if (!cfg->n_trunks) {
		cfg_fail(ctx, EINVAL, 0, "trunk: at least one [trunk.NAME] "
			 "section is required");
		return;
	}

	if (!cfg->api.n_tokens) {
		cfg_fail(ctx, EINVAL, ctx->api_line, "api.tokens: required");
		return;
	}

	if (!cfg->api.tls_cert[0] != !cfg->api.tls_key[0]) {
		cfg_fail(ctx, EINVAL, ctx->api_tls_line, "%s: required with "
			 "api.%s", cfg->api.tls_cert[0] ? "api.tls_key" :
			 "api.tls_cert", cfg->api.tls_cert[0] ? "tls_cert" :
			 "tls_key");
		return;
	}

	/* half a set of credentials is a typo, not "no authentication" */
	if (!cfg->gateway.auth_user[0] && (cfg->gateway.auth_password[0] ||
					   cfg->gateway.auth_realm[0])) {
		cfg_fail(ctx, EINVAL, ctx->auth_line, "gateway.auth_user: "
			 "required with gateway.%s",
			 cfg->gateway.auth_password[0] ? "auth_password" :
			 "auth_realm");
		return;
	}
	if (cfg->gateway.auth_user[0] && !cfg->gateway.auth_password[0]) {
		cfg_fail(ctx, EINVAL, ctx->auth_line, "gateway.auth_password: "
			 "required with gateway.auth_user");
		return;
	}
	if (cfg_finish_sip_tls(ctx))
		return;

	if (cfg->rtp.port_min >= cfg->rtp.port_max) {
		if (ctx->port_max_line)
			cfg_fail(ctx, EINVAL, ctx->port_max_line,
				 "rtp.port_max: must be above rtp.port_min "
				 "(%u)", cfg->rtp.port_min);
		else
			cfg_fail(ctx, EINVAL, ctx->port_min_line,
				 "rtp.port_min: must be below rtp.port_max "
				 "(%u)", cfg->rtp.port_max);
		return;
	}

	if (cfg->session.default_ttl_s > cfg->session.max_ttl_s) {
		if (ctx->default_ttl_line)
			cfg_fail(ctx, EINVAL, ctx->default_ttl_line,
				 "session.default_ttl: out of range 1..%u "
				 "(session.max_ttl)", cfg->session.max_ttl_s);
		else
			cfg_fail(ctx, EINVAL, ctx->max_ttl_line,
				 "session.max_ttl: below session.default_ttl "
				 "(%u)", cfg->session.default_ttl_s);
		return;
	}
}

/* --- public ------------------------------------------------------------ */

/* The SIP scanners seen on every exposed port, by their User-Agent. */
static const char *const cfg_scanners[] = {
	"friendly-scanner", "sipcli", "sipvicious", "sipsak",
	"VaxSIPUserAgent", "sundayddr", "iWar", "SIVuS",
};

void config_defaults(struct config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));

	snprintf(cfg->sip.listen.host, sizeof(cfg->sip.listen.host),
		 "127.0.0.1");
	cfg->sip.listen.port = 5060;
	cfg->sip.unknown_code = 404;
	cfg->sip.ended_code = 404;
	cfg->sip.transaction_timeout_ms = 32000;
	cfg->sip.udp_buffer = 4U << 20;
	cfg->sip.session_expires_s = 1800;
	cfg->sip.min_se_s = 90;
	cfg->sip.tls_verify_name = true;

	snprintf(cfg->gateway.address.host, sizeof(cfg->gateway.address.host),
		 "127.0.0.1");
	cfg->gateway.address.port = 5090;
	snprintf(cfg->gateway.transport, sizeof(cfg->gateway.transport),
		 "udp");

	cfg->rtp.port_min = 30000;
	cfg->rtp.port_max = 40000;
	snprintf(cfg->rtp.advertise, sizeof(cfg->rtp.advertise), "127.0.0.1");
	cfg->rtp.workers = 0;
	cfg->rtp.timeout_s = 60;
	cfg->rtp.hold_timeout_s = 3600;
	cfg->rtp.strict_source = false;

	snprintf(cfg->store.path, sizeof(cfg->store.path), "var/maskd.lmdb");
	cfg->store.map_size = 4ULL << 30;
	cfg->store.retention_s = 90 * 86400;	/* 90 days */

	snprintf(cfg->api.listen.host, sizeof(cfg->api.listen.host),
		 "127.0.0.1");
	cfg->api.listen.port = 8080;
	cfg->api.max_body = 65536;
	cfg->api.request_timeout_s = 10;
	cfg->api.max_connections = 1024;

	cfg->session.default_ttl_s = 3600;
	cfg->session.max_ttl_s = 31536000;
	cfg->session.call_time_limit_s = 0;
	cfg->session.ring_timeout_s = 60;

	/*
	 * Only out-of-dialog requests count (new INVITEs, OPTIONS, junk):
	 * in-dialog ones and retransmissions are matched by nta first. 1000
	 * per 2 s is 500/s from one address - above what one carrier SBC
	 * sends at a few hundred calls/s, far below what a scanner tries.
	 */
	cfg->flood.rate = 1000;
	cfg->flood.window_s = 2;
	cfg->flood.block_s = 60;
	cfg->flood.reply_503 = false;
	cfg->flood.exempt_trunks = false;
	for (i = 0; i < sizeof(cfg_scanners) / sizeof(cfg_scanners[0]); i++)
		snprintf(cfg->flood.scanners[i], CONFIG_SCANNER_SIZE, "%s",
			 cfg_scanners[i]);
	cfg->flood.n_scanners = i;

	cfg->log.level = LOG_LVL_INFO;
	cfg->log.file[0] = '\0';
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx ctx;
	int line;

	if (!cfg)
		return EINVAL;

	config_defaults(cfg);

	memset(&ctx, 0, sizeof(ctx));
	ctx.path = path ? path : "(null)";
	ctx.cfg = cfg;
	ctx.err = err;
	ctx.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	if (!path) {
		cfg_fail(&ctx, EINVAL, 0, "file: no path given");
		goto out;
	}

	ctx.fp = fopen(path, "re");
	if (!ctx.fp) {
		int e = errno;

		cfg_fail(&ctx, e, 0, "file: cannot open (%s)", strerror(e));
		goto out;
	}

	line = ini_parse_stream(cfg_reader, &ctx, cfg_handler, &ctx);
	if (ctx.failed)
		goto out;

	/* what inih refused by itself: a line that is no [section] or key */
	if (line > 0) {
		cfg_fail(&ctx, EINVAL, line, "syntax error (expected [section] "
			 "or key = value)");
		goto out;
	}
	if (line < 0) {
		cfg_fail(&ctx, ENOMEM, 0, "file: inih failed (%d)", line);
		goto out;
	}

	cfg_finish(&ctx);
 out:
	if (ctx.fp)
		fclose(ctx.fp);
	free(ctx.buf);
	if (ctx.failed)
		config_free(cfg);
	return ctx.failed;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;

	for (i = 0; i < cfg->sip.n_pass_headers; i++)
		free(cfg->sip.pass_headers[i]);
	free(cfg->sip.pass_headers);
	cfg->sip.pass_headers = NULL;
	cfg->sip.n_pass_headers = 0;

	for (i = 0; i < cfg->n_trunks; i++)
		free(cfg->trunks[i].sources);
	free(cfg->trunks);
	cfg->trunks = NULL;
	cfg->n_trunks = 0;

	for (i = 0; i < cfg->api.n_tokens; i++)
		free(cfg->api.tokens[i]);
	free(cfg->api.tokens);
	cfg->api.tokens = NULL;
	cfg->api.n_tokens = 0;

	/* a secret outlives no config; explicit_bzero() is never elided */
	explicit_bzero(cfg->gateway.auth_password,
		       sizeof(cfg->gateway.auth_password));
}
