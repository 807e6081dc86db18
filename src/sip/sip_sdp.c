/*
 * sip_sdp.c - the SDP rewriter (sdp.h), on sofia-sip's SDP parser and
 * printer.
 *
 * The body is parsed into sofia's sdp_session_t, the structure is edited
 * (strings replaced by copies in the same su_home, list links cut), and
 * the printer writes the result. Direction attributes are left to the
 * parser and printer as plain attributes (sdp_f_mode_manual): sofia would
 * otherwise fold them into its own mode and print nothing for sendrecv,
 * turning a resume's explicit a=sendrecv into silence. All memory of one
 * rewrite lives in one su_home that is torn down at the end; only the
 * output is malloc'd.
 *
 * SIP thread (or any one thread); no state outside the caller's
 * struct sdp_origin.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sdp.h>

#include "maskd/rand.h"
#include "maskd/sdp.h"

/* Addresses of the party collected while rewriting: any attribute that
 * still mentions one is removed. Beyond this many, the SDP is refused. */
#define SDP_ADDRS_MAX 64

/* An o= session id small enough for every parser seen in the wild
 * (some read it into a signed 32-bit integer). */
#define SDP_ID_MAX 0x7fffffffu

struct sdp_ctx {
	su_home_t *home;
	int family;			/* of the advertised address */
	const char *address;		/* advertised, as text */
	uint16_t port;			/* relay RTP port for the receiver */
	const char *addrs[SDP_ADDRS_MAX];	/* the party's, as written */
	size_t n_addrs;
	bool relayed;			/* the relayed stream is chosen */
	bool session_hold;		/* a session-level direction holds */
	struct sdp_remote remote;
};

/*
 * sdp_attrs_hold() - what the direction attributes of @list say: 1 for
 * sendonly, recvonly or inactive, 0 for sendrecv, @dflt when there is
 * none (a media section inherits the session's direction).
 */
static bool sdp_attrs_hold(const sdp_attribute_t *a, bool dflt)
{
	for (; a; a = a->a_next) {
		if (!strcasecmp(a->a_name, "sendrecv"))
			return false;
		if (!strcasecmp(a->a_name, "sendonly") ||
		    !strcasecmp(a->a_name, "recvonly") ||
		    !strcasecmp(a->a_name, "inactive"))
			return true;
	}
	return dflt;
}

/* Attributes that are dropped whatever their value. */
static const char *const sdp_drop_attrs[] = {
	"candidate", "remote-candidates", "end-of-candidates",
	"ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-mismatch",
	"ice-pacing", "rtcp-mux", "rtcp-mux-only", "group",
	"tool",			/* the party's software: as User-Agent */
};

static int sdp_addr_note(struct sdp_ctx *ctx, const char *a)
{
	size_t i;

	if (!a || !*a)
		return 0;
	for (i = 0; i < ctx->n_addrs; i++) {
		if (!strcmp(ctx->addrs[i], a))
			return 0;
	}
	if (ctx->n_addrs == SDP_ADDRS_MAX)
		return EINVAL;
	ctx->addrs[ctx->n_addrs++] = a;
	return 0;
}

/* An address text as written in c= or a=rtcp, into @out (port 0).
 * Host names are refused: resolving one would block the SIP thread. */
static int sdp_addr_parse(const char *text, struct sockaddr_storage *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (!text)
		return EINVAL;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 0;
	}
	return EINVAL;
}

static void sdp_addr_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

static bool sdp_addr_unspecified(const struct sockaddr_storage *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &any6,
		       sizeof(any6));
}

/*
 * sdp_conn_rewrite() - one c= (or o= address): note the party's address,
 * parse it, and point it at maskd; an unspecified address stays so.
 * @parsed (NULL-ok) receives the party's address.
 */
static int sdp_conn_rewrite(struct sdp_ctx *ctx, sdp_connection_t *c,
			    struct sockaddr_storage *parsed)
{
	struct sockaddr_storage a;
	int err;

	if (c->c_nettype != sdp_net_in || c->c_mcast)
		return EINVAL;

	err = sdp_addr_parse(c->c_address, &a);
	if (err)
		return err;
	/* "0.0.0.0" names no one, and would scrub innocent attributes */
	if (!sdp_addr_unspecified(&a)) {
		err = sdp_addr_note(ctx, c->c_address);
		if (err)
			return err;
	}
	if (parsed)
		*parsed = a;

	c->c_addrtype = ctx->family == AF_INET ? sdp_addr_ip4 : sdp_addr_ip6;
	c->c_address = !sdp_addr_unspecified(&a) ? ctx->address :
		       ctx->family == AF_INET ? "0.0.0.0" : "::";
	c->c_ttl = 0;
	c->c_groups = 0;
	c->c_next = NULL;
	return 0;
}

static bool sdp_attr_dropped(const sdp_attribute_t *a)
{
	size_t i;

	for (i = 0; i < sizeof(sdp_drop_attrs) / sizeof(sdp_drop_attrs[0]);
	     i++) {
		if (!strcasecmp(a->a_name, sdp_drop_attrs[i]))
			return true;
	}
	return false;
}

/*
 * sdp_rtcp_parse() - "a=rtcp:PORT [IN IP4 ADDR]" (RFC 3605) into @out,
 * the address defaulting to @conn. The value is only read, and only
 * through strtoul and a bounded copy.
 */
static int sdp_rtcp_parse(struct sdp_ctx *ctx, const char *v,
			  const struct sockaddr_storage *conn,
			  struct sockaddr_storage *out)
{
	char net[8], type[8], addr[64];
	unsigned long port;
	char *end;
	int n, err;

	if (!v)
		return EINVAL;
	port = strtoul(v, &end, 10);
	if (end == v || port == 0 || port > 65535)
		return EINVAL;

	*out = *conn;
	if (*end) {
		n = sscanf(end, " %7s %7s %63s", net, type, addr);
		if (n != 3 || strcmp(net, "IN") ||
		    (strcmp(type, "IP4") && strcmp(type, "IP6")))
			return EINVAL;
		err = sdp_addr_parse(addr, out);
		if (err)
			return err;
		/* the address text lives in the parser's copy of the body */
		err = sdp_addr_note(ctx, su_strdup(ctx->home, addr));
		if (err)
			return err;
	}
	sdp_addr_port(out, (uint16_t)port);
	return 0;
}

/* The relay's a=rtcp value. */
static const char *sdp_rtcp_value(struct sdp_ctx *ctx)
{
	return su_sprintf(ctx->home, "%u IN %s %s", ctx->port + 1u,
			  ctx->family == AF_INET ? "IP4" : "IP6",
			  ctx->address);
}

/*
 * sdp_attrs_rewrite() - walk an attribute list: drop ICE, rtcp-mux and
 * group, rewrite a=rtcp (only for the relayed stream: @rtcp_out
 * non-NULL; elsewhere it is dropped). The address scan runs later, once
 * every address of the party is known.
 */
static int sdp_attrs_rewrite(struct sdp_ctx *ctx, sdp_attribute_t **list,
			     const struct sockaddr_storage *conn,
			     struct sockaddr_storage *rtcp_out)
{
	sdp_attribute_t **pp = list, *a;
	int err;

	while ((a = *pp)) {
		if (sdp_attr_dropped(a)) {
			*pp = a->a_next;
			continue;
		}
		if (!strcasecmp(a->a_name, "rtcp")) {
			if (!rtcp_out) {
				*pp = a->a_next;
				continue;
			}
			err = sdp_rtcp_parse(ctx, a->a_value, conn, rtcp_out);
			if (err)
				return err;
			a->a_value = sdp_rtcp_value(ctx);
			if (!a->a_value)
				return ENOMEM;
		}
		pp = &a->a_next;
	}
	return 0;
}

/*
 * Four dot-separated groups of digits in a row, inside @s/@n: an IPv4
 * address, or something a reader could take for one ("1.2.3.4567.8"),
 * so the values are not checked.
 */
static bool sdp_has_ipv4(const char *s, size_t n)
{
	unsigned run = 0;
	size_t i = 0, d;

	while (i < n) {
		for (d = 0; i + d < n && s[i + d] >= '0' && s[i + d] <= '9'; d++)
			;
		if (!d) {
			run = 0;
			i++;
			continue;
		}
		if (++run == 4)
			return true;
		i += d;
		if (i < n && s[i] == '.')
			i++;
		else
			run = 0;
	}
	return false;
}

/*
 * sdp_has_ip() - does @s mention an IP address other than @allow and the
 * unspecified ones? Looks at each run of hex digits, dots and colons: an
 * IPv4 dotted quad anywhere in it, or the whole run as an IPv6 address.
 */
static bool sdp_has_ip(const char *s, const char *allow)
{
	static const char ipchars[] = "0123456789abcdefABCDEF.:";
	char run[INET6_ADDRSTRLEN + 8];
	struct in6_addr a6;
	size_t n;

	while (*s) {
		n = strspn(s, ipchars);
		if (!n) {
			s++;
			continue;
		}
		if (n < sizeof(run)) {
			memcpy(run, s, n);
			run[n] = '\0';
		}
		else {
			run[0] = '\0';
		}

		if (!(allow && !strcmp(run, allow)) && strcmp(run, "0.0.0.0") &&
		    strcmp(run, "::")) {
			if (sdp_has_ipv4(s, n))
				return true;
			if (run[0] && strchr(run, ':') != strrchr(run, ':') &&
			    inet_pton(AF_INET6, run, &a6) == 1)
				return true;
		}
		s += n;
	}
	return false;
}

/*
 * sdp_attrs_scrub() - drop every attribute whose value names one of the
 * party's addresses as written (host names too), or any IP address at
 * all: a=ssrc cname:user@10.0.0.1, vendor a=x-nat:..., and the like.
 */
static void sdp_attrs_scrub(struct sdp_ctx *ctx, sdp_attribute_t **list)
{
	sdp_attribute_t **pp = list, *a;
	bool drop;
	size_t i;

	while ((a = *pp)) {
		drop = false;
		for (i = 0; a->a_value && i < ctx->n_addrs; i++)
			drop |= strstr(a->a_value, ctx->addrs[i]) != NULL;
		/* our own a=rtcp names our address, never theirs */
		if (a->a_value && !strcasecmp(a->a_name, "rtcp"))
			drop = false;
		else if (a->a_value)
			drop |= sdp_has_ip(a->a_value, ctx->address);
		drop |= sdp_has_ip(a->a_name, NULL);

		if (drop) {
			*pp = a->a_next;
			continue;
		}
		pp = &a->a_next;
	}
}

/* A transport the relay can carry: anything over UDP (RTP/AVP,
 * RTP/SAVP(F), UDP/TLS/RTP/SAVPF, udptl for T.38), not TCP. */
static bool sdp_media_relayable(const sdp_media_t *m)
{
	const char *p = m->m_proto_name;

	if (m->m_proto == sdp_proto_rtp || m->m_proto == sdp_proto_srtp ||
	    m->m_proto == sdp_proto_udp || m->m_proto == sdp_proto_udptl)
		return true;
	return p && (!strncasecmp(p, "RTP/", 4) || !strncasecmp(p, "UDP", 3));
}

/* sdp_conn_new() - maskd's own address, for o=. */
static sdp_connection_t *sdp_conn_new(struct sdp_ctx *ctx)
{
	sdp_connection_t *c = su_zalloc(ctx->home, sizeof(*c));

	if (!c)
		return NULL;
	c->c_size = sizeof(*c);
	c->c_nettype = sdp_net_in;
	c->c_addrtype = ctx->family == AF_INET ? sdp_addr_ip4 : sdp_addr_ip6;
	c->c_address = ctx->address;
	return c;
}

/*
 * sdp_media_rewrite() - one m= section. The first relayable stream with a
 * port is the relayed one: its address goes into ctx->remote. @sconn is
 * the party's session-level c= (AF_UNSPEC if none).
 */
static int sdp_media_rewrite(struct sdp_ctx *ctx, sdp_media_t *m,
			     const struct sockaddr_storage *sconn)
{
	struct sockaddr_storage conn = *sconn, rtcp;
	bool relay;
	int err;

	/* every c= of the section (a list only for multicast layers) */
	if (m->m_connections) {
		err = sdp_conn_rewrite(ctx, m->m_connections, &conn);
		if (err)
			return err;
	}
	m->m_information = NULL;
	m->m_key = NULL;		/* k= is obsolete; k=uri: can name a host */

	relay = !ctx->relayed && m->m_port && !m->m_rejected &&
		sdp_media_relayable(m);
	if (relay && conn.ss_family == AF_UNSPEC)
		return EINVAL;		/* no c= for the stream at all */

	memset(&rtcp, 0, sizeof(rtcp));
	err = sdp_attrs_rewrite(ctx, &m->m_attributes, &conn,
				relay ? &rtcp : NULL);
	if (err)
		return err;

	if (!relay) {
		m->m_port = 0;
		m->m_number_of_ports = 0;
		return 0;
	}

	ctx->relayed = true;
	if (m->m_port > 65535)
		return EINVAL;
	ctx->remote.rtp = conn;
	sdp_addr_port(&ctx->remote.rtp, (uint16_t)m->m_port);
	ctx->remote.rtcp = rtcp;
	ctx->remote.hold = sdp_attrs_hold(m->m_attributes, ctx->session_hold) ||
			   sdp_addr_unspecified(&conn);

	m->m_port = ctx->port;
	m->m_number_of_ports = 0;
	return 0;
}

/*
 * sdp_mline_ok() - @s/@n (what follows "m=") matches RFC 4566's
 *   media SP port ["/" integer] SP proto 1*(SP fmt)
 * with media, proto's parts and fmt tokens; trailing blanks allowed.
 */
static bool sdp_mline_ok(const char *s, size_t n)
{
	static const char token[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789-!#$%&'*+.^_`{|}~";
	unsigned field = 0;
	size_t i = 0, k, len;
	bool slash;

	while (n && s[n - 1] == ' ')
		n--;

	for (field = 0; i < n; field++) {
		for (len = 0; i + len < n && s[i + len] != ' '; len++)
			;
		if (!len)
			return false;		/* two blanks in a row */

		slash = false;
		for (k = i; k < i + len; k++) {
			char c = s[k];

			if (c == '/' && (field == 1 || field == 2) &&
			    k > i && k + 1 < i + len && s[k - 1] != '/') {
				if (field == 1 && slash)
					return false;
				slash = true;
				continue;
			}
			if (field == 1 ? !(c >= '0' && c <= '9') :
			    !strchr(token, c))
				return false;
		}
		i += len + 1;
	}

	return field >= 4;
}

/*
 * sdp_body_check() - refuse what sofia-sip 1.12.11's parser cannot take.
 *
 * Its m= parser loops forever, allocating, when a non-RTP m= line has a
 * format with a character outside its token set: "m=audio 4000 RT /AVP 0"
 * parses as proto "RT" and then never gets past "/AVP". So every m= line
 * must follow RFC 4566's grammar exactly (which real ones do). Lines are
 * split the way the parser splits them: at CR or LF, leading blanks
 * skipped.
 */
static int sdp_body_check(const char *body, size_t len)
{
	const char *p = body, *end = body + len, *eol;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		for (eol = p; eol < end && *eol != '\r' && *eol != '\n';
		     eol++)
			;
		if (eol - p >= 2 && p[0] == 'm' && p[1] == '=' &&
		    !sdp_mline_ok(p + 2, (size_t)(eol - p - 2)))
			return EINVAL;
		p = eol + 1;
	}
	return 0;
}

static uint64_t sdp_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t sdp_id_new(void)
{
	uint32_t v = 0;

	if (rand_bytes(&v, sizeof(v)))
		v = (uint32_t)time(NULL) ^ (uint32_t)clock();
	v &= SDP_ID_MAX;
	return v ? v : 1;
}

/* sdp_session_print() - print @sdp into a malloc'd string. */
static int sdp_session_print(su_home_t *home, sdp_session_t *sdp,
			     char **outp, size_t *lenp)
{
	sdp_printer_t *pr;
	const char *msg;
	size_t len;
	int err = 0;

	pr = sdp_print(home, sdp, NULL, 0, sdp_f_mode_manual);
	if (!pr)
		return ENOMEM;
	msg = sdp_message(pr);
	if (sdp_printing_error(pr) || !msg) {
		err = EINVAL;
		goto out;
	}

	len = strlen(msg);
	*outp = malloc(len + 1);
	if (!*outp) {
		err = ENOMEM;
		goto out;
	}
	memcpy(*outp, msg, len + 1);
	*lenp = len;
 out:
	sdp_printer_free(pr);
	return err;
}

/*
 * sdp_session_rewrite() - everything but o=: session lines, then each
 * m= section, then the scrub of attributes that mention the party.
 */
static int sdp_session_rewrite(struct sdp_ctx *ctx, sdp_session_t *sdp)
{
	struct sockaddr_storage sconn;
	sdp_media_t *m;
	int err;

	sdp->sdp_subject = "-";
	sdp->sdp_information = NULL;
	sdp->sdp_uri = NULL;
	sdp->sdp_emails = NULL;
	sdp->sdp_phones = NULL;
	sdp->sdp_charset = NULL;
	sdp->sdp_key = NULL;

	if (!sdp->sdp_origin)
		return EINVAL;
	err = sdp_addr_note(ctx, sdp->sdp_origin->o_address ?
			    sdp->sdp_origin->o_address->c_address : NULL);
	if (err)
		return err;

	memset(&sconn, 0, sizeof(sconn));
	if (sdp->sdp_connection) {
		err = sdp_conn_rewrite(ctx, sdp->sdp_connection, &sconn);
		if (err)
			return err;
	}

	err = sdp_attrs_rewrite(ctx, &sdp->sdp_attributes, &sconn, NULL);
	if (err)
		return err;
	ctx->session_hold = sdp_attrs_hold(sdp->sdp_attributes, false);

	for (m = sdp->sdp_media; m; m = m->m_next) {
		err = sdp_media_rewrite(ctx, m, &sconn);
		if (err)
			return err;
	}

	sdp_attrs_scrub(ctx, &sdp->sdp_attributes);
	for (m = sdp->sdp_media; m; m = m->m_next)
		sdp_attrs_scrub(ctx, &m->m_attributes);
	return 0;
}

int sdp_rewrite(const char *body, size_t len, const char *address,
		uint16_t port, struct sdp_origin *origin, char **outp,
		size_t *outlenp, struct sdp_remote *remote)
{
	su_home_t *home;
	struct sdp_ctx ctx;
	struct sockaddr_storage adv;
	sdp_parser_t *parser;
	sdp_session_t *sdp;
	sdp_origin_t *o;
	char *out = NULL;
	size_t outlen = 0;
	uint64_t id, version, hash;
	size_t i;
	int err;

	if (!body || !origin || !outp || !outlenp || !port || port == 65535)
		return EINVAL;
	if (!len || len > SDP_BODY_MAX || memchr(body, '\0', len) ||
	    sdp_body_check(body, len))
		return EINVAL;
	if (!address || sdp_addr_parse(address, &adv))
		return EAFNOSUPPORT;

	home = su_home_new(sizeof(*home));
	if (!home)
		return ENOMEM;

	memset(&ctx, 0, sizeof(ctx));
	ctx.home = home;
	ctx.family = adv.ss_family;
	ctx.address = address;
	ctx.port = port;

	parser = sdp_parse(home, body, (issize_t)len, sdp_f_mode_manual);
	sdp = sdp_session(parser);
	if (!sdp) {
		err = EINVAL;
		goto out;
	}

	err = sdp_session_rewrite(&ctx, sdp);
	if (err)
		goto out;

	o = su_zalloc(home, sizeof(*o));
	if (!o) {
		err = ENOMEM;
		goto out;
	}
	o->o_size = sizeof(*o);
	o->o_username = "maskd";
	o->o_address = sdp_conn_new(&ctx);
	if (!o->o_address) {
		err = ENOMEM;
		goto out;
	}
	sdp->sdp_origin = o;

	/* print once with version 0 to see whether anything changed, then
	 * for real with the version the leg's party must see */
	id = origin->id ? origin->id : sdp_id_new();
	o->o_id = id;
	o->o_version = 0;
	err = sdp_session_print(home, sdp, &out, &outlen);
	if (err)
		goto out;
	hash = sdp_hash(out, outlen);

	/* the net under the rules above: whatever slipped through (an
	 * address in a codec parameter or a format token), refuse rather
	 * than leak it */
	for (i = 0; i < ctx.n_addrs; i++) {
		if (strstr(out, ctx.addrs[i]) && strcmp(ctx.addrs[i], address))
			err = EINVAL;
	}
	if (err || sdp_has_ip(out, address))
		err = EINVAL;
	free(out);
	out = NULL;
	if (err)
		goto out;

	version = origin->version;
	if (!origin->id || hash != origin->hash)
		version++;
	o->o_version = version;
	err = sdp_session_print(home, sdp, &out, &outlen);
	if (err)
		goto out;

	origin->id = id;
	origin->version = version;
	origin->hash = hash;
	if (remote)
		*remote = ctx.remote;
	*outp = out;
	*outlenp = outlen;
	out = NULL;
 out:
	free(out);
	if (parser)
		sdp_parser_free(parser);
	su_home_unref(home);
	return err;
}
