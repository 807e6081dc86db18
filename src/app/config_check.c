/*
 * config_check.c - the checks config_table.c's rows name: of one value
 * (cfg_valid_h, as the key is read) and across keys (cfg_check_h, once
 * the whole file is read). Each names the key and line it refuses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "maskd/webhook.h"

#include "config_internal.h"

#define CFG_TOKEN_MIN 8

/* --- value checks (cfg_valid_h) ---------------------------------------- */

static bool cfg_is_ip(const char *v)
{
	uint8_t a[16];

	return inet_pton(AF_INET, v, a) == 1 || inet_pton(AF_INET6, v, a) == 1;
}

/* it goes into From, P-Asserted-Identity and Contact URIs */
int cfg_valid_host(struct cfg_ctx *ctx, const char *v, size_t i)
{
	if (*v && !cfg_is_ip(v) && !net_hostname_valid(v))
		return cfg_what(ctx, "'%s' is not an IP address or host name",
				v);
	return 0;
}

/* SDP c= lines need the address family; the relay binds exactly this */
int cfg_valid_ip(struct cfg_ctx *ctx, const char *v, size_t i)
{
	if (!cfg_is_ip(v))
		return cfg_what(ctx, "'%s' is not an IP address", v);
	return 0;
}

int cfg_valid_ip_or_empty(struct cfg_ctx *ctx, const char *v, size_t i)
{
	return *v ? cfg_valid_ip(ctx, v, i) : 0;
}

int cfg_valid_nonempty(struct cfg_ctx *ctx, const char *v, size_t i)
{
	return *v ? 0 : cfg_what(ctx, "empty");
}

/* [events] url: http or https, nothing else */
int cfg_valid_event_url(struct cfg_ctx *ctx, const char *v, size_t i)
{
	(void)i;
	if (*v && strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8))
		return cfg_what(ctx, "'%s' is not an http or https URL", v);
	return 0;
}

int cfg_valid_event_secret(struct cfg_ctx *ctx, const char *v, size_t i)
{
	struct webhook_key k;

	(void)i;
	/* never quote a secret back */
	if (webhook_key_parse(v, &k))
		return cfg_what(ctx, "not whsec_ followed by base64 (1 to %d "
				"bytes of key)", WEBHOOK_KEY_MAX);
	explicit_bzero(&k, sizeof(k));
	return 0;
}

int cfg_valid_retry_schedule(struct cfg_ctx *ctx, const char *v, size_t i)
{
	(void)i;
	if (webhook_schedule_parse(v, NULL, NULL))
		return cfg_what(ctx, "'%s' is not 1 to %d numbers of seconds, "
				"comma-separated", v, WEBHOOK_SCHEDULE_MAX);
	return 0;
}

/* the hook's request is signed with the events' secrets */
int cfg_check_hooks(struct cfg_ctx *ctx)
{
	if (ctx->cfg->hooks.route_url[0] && !ctx->cfg->events.n_secrets) {
		cfg_fail(ctx, EINVAL, cfg_key_line(ctx, CS_HOOKS, "route_url"),
			 "events.secrets: required with hooks.route_url");
		return EINVAL;
	}
	return 0;
}

int cfg_check_events(struct cfg_ctx *ctx)
{
	const struct config_events *ev = &ctx->cfg->events;

	if (ev->url[0] && !ev->n_secrets) {
		cfg_fail(ctx, EINVAL, cfg_key_line(ctx, CS_EVENTS, "url"),
			 "events.secrets: required with events.url");
		return EINVAL;
	}
	return 0;
}

/* RTP on the even port, RTCP on the odd one above it (RFC 3550) */
int cfg_valid_even(struct cfg_ctx *ctx, const char *v, size_t i)
{
	return (v[strlen(v) - 1] - '0') % 2 ?
	       cfg_what(ctx, "must be even (RTP even, RTCP odd)") : 0;
}

int cfg_valid_transport(struct cfg_ctx *ctx, const char *v, size_t i)
{
	if (strcmp(v, "udp") && strcmp(v, "tcp") && strcmp(v, "tls"))
		return cfg_what(ctx, "'%s' is not udp, tcp or tls", v);
	return 0;
}

/*
 * gateway.auth_user and auth_realm travel inside a quoted string of our
 * Authorization header: a quote, a backslash or a control character would
 * break it (or smuggle a header in), so they are refused rather than
 * escaped. The password only goes into the digest hash, so only control
 * characters are refused, and no complaint ever quotes what it read.
 */
int cfg_valid_auth_secret(struct cfg_ctx *ctx, const char *v, size_t i)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return cfg_what(ctx, "has a control character");
	}
	return 0;
}

int cfg_valid_auth_quoted(struct cfg_ctx *ctx, const char *v, size_t i)
{
	if (strpbrk(v, "\"\\"))
		return cfg_what(ctx, "has a character that cannot be sent "
				"(\" or \\)");
	return cfg_valid_auth_secret(ctx, v, i);
}

/* E.164 country codes: 1 to 3 digits, never starting with 0 */
int cfg_valid_country_code(struct cfg_ctx *ctx, const char *v, size_t i)
{
	if (*v && (!cfg_all_digits(v) || strlen(v) > 3 || v[0] == '0'))
		return cfg_what(ctx, "not a country code (1 to 3 digits, "
				"not starting with 0)");
	return 0;
}

int cfg_valid_national_prefix(struct cfg_ctx *ctx, const char *v,
				 size_t i)
{
	size_t max = sizeof(((struct config_trunk *)0)->national_prefix) - 1;

	if (*v && (!cfg_all_digits(v) || strlen(v) > max))
		return cfg_what(ctx, "not a national prefix (up to %zu "
				"digits)", max);
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

int cfg_valid_pass_header(struct cfg_ctx *ctx, const char *v, size_t n)
{
	size_t len = strlen(v), i;

	/* RFC 3261 token characters */
	if (!len || len >= CONFIG_NAME_SIZE ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789-.!%*_+`'~") != len)
		return cfg_what(ctx, "'%s' is not a header name", v);
	if (!strncasecmp(v, "X-", 2))
		return cfg_what(ctx, "%s: X- headers never pass", v);
	for (i = 0; i < sizeof(cfg_never_pass) / sizeof(cfg_never_pass[0]);
	     i++) {
		if (!strcasecmp(v, cfg_never_pass[i]))
			return cfg_what(ctx, "%s may not pass from leg to leg",
					v);
	}
	return 0;
}

/* Tokens are secrets: complaints say which one, never what it is. */
int cfg_valid_token(struct cfg_ctx *ctx, const char *v, size_t n)
{
	const unsigned char *p;

	if (strlen(v) < CFG_TOKEN_MIN)
		return cfg_what(ctx, "token %zu is shorter than %d characters",
				n + 1, CFG_TOKEN_MIN);
	for (p = (const unsigned char *)v; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return cfg_what(ctx, "token %zu has a character that "
					"is not printable ASCII", n + 1);
	}
	return 0;
}

/* --- checks across keys (cfg_check_h) --------------------------------- */

/* The last line of the file that sets one of @sec's keys named after it
 * (NULL-terminated), for a message about the group. */
static int cfg_last_line(struct cfg_ctx *ctx, enum cfg_sec sec, ...)
{
	const char *name;
	va_list ap;
	int line = 0, l;

	va_start(ap, sec);
	while ((name = va_arg(ap, const char *))) {
		l = cfg_key_line(ctx, sec, name);
		if (l > line)
			line = l;
	}
	va_end(ap);
	return line;
}

/*
 * SIP over TLS is all or nothing: a listener needs its key and
 * certificate, and the files mean nothing without it; a TLS gateway needs
 * the listener (the gateway's in-dialog requests come back to it) and
 * CAs to check the gateway's certificate against.
 */
int cfg_check_sip_tls(struct cfg_ctx *ctx)
{
	const struct config *cfg = ctx->cfg;
	const struct config_sip *sip = &cfg->sip;
	bool on = sip->tls_listen.port != 0;
	bool gw = !strcmp(cfg->gateway.transport, "tls");
	int line = cfg_last_line(ctx, CS_SIP, "tls_listen", "tls_cert",
				 "tls_key", "tls_ca", NULL);
	int gw_line = cfg_key_line(ctx, CS_GATEWAY, "transport");

	if (on && (!sip->tls_cert[0] || !sip->tls_key[0])) {
		cfg_fail(ctx, EINVAL, line, "%s: required with "
			 "sip.tls_listen", !sip->tls_cert[0] ?
			 "sip.tls_cert" : "sip.tls_key");
		return EINVAL;
	}
	if (!on && (sip->tls_cert[0] || sip->tls_key[0] || sip->tls_ca[0])) {
		cfg_fail(ctx, EINVAL, line, "sip.tls_listen: required with "
			 "sip.%s", sip->tls_cert[0] ? "tls_cert" :
			 sip->tls_key[0] ? "tls_key" : "tls_ca");
		return EINVAL;
	}
	if (on && sip->tls_listen.port == sip->listen.port &&
	    !strcmp(sip->tls_listen.host, sip->listen.host)) {
		cfg_fail(ctx, EINVAL, line, "sip.tls_listen: the same "
			 "address as sip.listen (its TCP socket)");
		return EINVAL;
	}
	if (gw && !on) {
		cfg_fail(ctx, EINVAL, gw_line, "gateway.transport: tls needs "
			 "sip.tls_listen");
		return EINVAL;
	}
	if (gw && !sip->tls_ca[0]) {
		cfg_fail(ctx, EINVAL, gw_line, "gateway.transport: tls needs "
			 "sip.tls_ca (the CAs the gateway's certificate is "
			 "checked against)");
		return EINVAL;
	}
	return 0;
}

/* [sip] workers: "auto" or a number of SIP threads */
int cfg_valid_sip_workers(struct cfg_ctx *ctx, const char *v, size_t i)
{
	(void)i;
	if (!strcmp(v, "auto"))
		return 0;
	if (!cfg_all_digits(v) || strlen(v) > 2 || atoi(v) < 1 ||
	    atoi(v) > CONFIG_SIP_WORKERS_MAX)
		return cfg_what(ctx, "'%s' is not auto or 1 to %d", v,
				CONFIG_SIP_WORKERS_MAX);
	return 0;
}

/* one entry of [sip] worker_ports / worker_tls_ports */
int cfg_valid_port(struct cfg_ctx *ctx, const char *v, size_t i)
{
	(void)i;
	if (!cfg_all_digits(v) || strlen(v) > 5 || atoi(v) < 1 ||
	    atoi(v) > 65535)
		return cfg_what(ctx, "'%s' is not a port (1 to 65535)", v);
	return 0;
}

/* Whether port @p (decimal) is one of the @n in @list but entry @skip. */
static bool cfg_port_in(char **list, size_t n, size_t skip, unsigned p)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (i != skip && (unsigned)atoi(list[i]) == p)
			return true;
	return false;
}

/*
 * Each further SIP worker needs its own port (and its own TLS port when
 * TLS is on), none of them another's or listen's: a number of workers the
 * lists cannot serve is refused here ("auto" takes what they allow).
 */
int cfg_check_sip_workers(struct cfg_ctx *ctx)
{
	const struct config_sip *sip = &ctx->cfg->sip;
	int line = cfg_last_line(ctx, CS_SIP, "workers", "worker_ports",
				 "worker_tls_ports", NULL);
	unsigned want = strcmp(sip->workers, "auto") ?
			(unsigned)atoi(sip->workers) : 1;
	bool tls = sip->tls_listen.port != 0;
	char **all[2] = { sip->worker_ports, sip->worker_tls_ports };
	size_t n[2] = { sip->n_worker_ports, sip->n_worker_tls_ports };
	size_t l, i;
	unsigned p;

	if (want > 1 && n[0] < want - 1) {
		cfg_fail(ctx, EINVAL, line, "sip.worker_ports: %u workers need "
			 "%u ports besides sip.listen's, %zu given", want,
			 want - 1, n[0]);
		return EINVAL;
	}
	if (want > 1 && tls && n[1] < want - 1) {
		cfg_fail(ctx, EINVAL, line, "sip.worker_tls_ports: %u workers "
			 "need %u TLS ports besides sip.tls_listen's, %zu "
			 "given", want, want - 1, n[1]);
		return EINVAL;
	}
	for (l = 0; l < 2; l++) {
		for (i = 0; i < n[l]; i++) {
			p = (unsigned)atoi(all[l][i]);
			if (p == sip->listen.port ||
			    (tls && p == sip->tls_listen.port) ||
			    cfg_port_in(all[l], n[l], i, p) ||
			    cfg_port_in(all[!l], n[!l], (size_t)-1, p)) {
				cfg_fail(ctx, EINVAL, line, "sip.%s: port %u "
					 "is used twice", l ? "worker_tls_ports"
					 : "worker_ports", p);
				return EINVAL;
			}
		}
	}
	return 0;
}

/* half a set of credentials is a typo, not "no authentication" */
int cfg_check_gateway_auth(struct cfg_ctx *ctx)
{
	const struct config_gateway *gw = &ctx->cfg->gateway;
	int line = cfg_last_line(ctx, CS_GATEWAY, "auth_user",
				 "auth_password", "auth_realm", NULL);

	if (!gw->auth_user[0] && (gw->auth_password[0] || gw->auth_realm[0])) {
		cfg_fail(ctx, EINVAL, line, "gateway.auth_user: required with "
			 "gateway.%s", gw->auth_password[0] ? "auth_password" :
			 "auth_realm");
		return EINVAL;
	}
	if (gw->auth_user[0] && !gw->auth_password[0]) {
		cfg_fail(ctx, EINVAL, line, "gateway.auth_password: required "
			 "with gateway.auth_user");
		return EINVAL;
	}
	return 0;
}

/* min not below max: blamed on whichever key the file sets */
int cfg_check_rtp_ports(struct cfg_ctx *ctx)
{
	const struct config_rtp *rtp = &ctx->cfg->rtp;
	int max_line = cfg_key_line(ctx, CS_RTP, "port_max");

	if (rtp->port_min < rtp->port_max)
		return 0;
	if (max_line)
		cfg_fail(ctx, EINVAL, max_line, "rtp.port_max: must be above "
			 "rtp.port_min (%u)", rtp->port_min);
	else
		cfg_fail(ctx, EINVAL, cfg_key_line(ctx, CS_RTP, "port_min"),
			 "rtp.port_min: must be below rtp.port_max (%u)",
			 rtp->port_max);
	return EINVAL;
}

int cfg_check_api_tls(struct cfg_ctx *ctx)
{
	const struct config_api *api = &ctx->cfg->api;

	if (!api->tls_cert[0] == !api->tls_key[0])
		return 0;
	cfg_fail(ctx, EINVAL, cfg_last_line(ctx, CS_API, "tls_cert",
					    "tls_key", NULL),
		 "%s: required with api.%s", api->tls_cert[0] ?
		 "api.tls_key" : "api.tls_cert", api->tls_cert[0] ?
		 "tls_cert" : "tls_key");
	return EINVAL;
}

int cfg_check_session_ttl(struct cfg_ctx *ctx)
{
	const struct config_session *s = &ctx->cfg->session;
	int def_line = cfg_key_line(ctx, CS_SESSION, "default_ttl");

	if (s->default_ttl_s <= s->max_ttl_s)
		return 0;
	if (def_line)
		cfg_fail(ctx, EINVAL, def_line, "session.default_ttl: out of "
			 "range 1..%u (session.max_ttl)", s->max_ttl_s);
	else
		cfg_fail(ctx, EINVAL, cfg_key_line(ctx, CS_SESSION, "max_ttl"),
			 "session.max_ttl: below session.default_ttl (%u)",
			 s->default_ttl_s);
	return EINVAL;
}
