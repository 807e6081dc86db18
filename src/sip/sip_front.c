/*
 * sip_front.c - refusing new calls for less than sofia charges.
 *
 * Under overload (sip_overload.c) the SIP thread must refuse new INVITEs
 * faster than they come. Through sofia a refusal costs a wake-up, an
 * ioctl and a read (tport_recv_dgram(): one datagram per wake-up), a full
 * parse, nta_msg_treply()'s copy and send - and the caller's ACK of the
 * 503 costs as much again: at twice the clean rate the thread could not
 * keep up with its own refusals and calls failed (issue 14).
 *
 * So while overloaded the SIP loop first runs this front (su_root's
 * prepoll hook, before each wait): it peeks at the datagram at the head
 * of nta's UDP socket (MSG_PEEK: the kernel keeps it queued) and scans
 * it without sofia:
 *   - a new out-of-dialog INVITE (request line INVITE, no tag in To),
 *     well framed, with the headers a request must have, from a source
 *     not flood-blocked and not a scanner, whose Call-ID no INVITE let
 *     through has used: sip_overload.c decides; a refused one is read
 *     off (a zero-length read discards a datagram) and answered with a
 *     503 built here (RFC 3261 8.2.6 / 17.2.1: the Vias, top one with
 *     received and rport as 18.2.1 and RFC 3581 want, From, To with a
 *     tag of ours, Call-ID, CSeq; Retry-After), sent with the others of
 *     the same turn in one sendmmsg();
 *   - an ACK whose To tag is one of ours (the ACK of such a 503) is read
 *     off: it ends a transaction nobody holds;
 *   - anything else - ACK, BYE, CANCEL, PRACK, responses, in-dialog
 *     requests, an INVITE retransmission of a call let through, anything
 *     malformed or unusual, a new INVITE let through - stops the front:
 *     it stays at the head, untouched, and sofia reads it next, as it
 *     always did (malformed ones are still counted and answered there).
 * A refusal costs a peek, a zero-length read and a share of a sendmmsg;
 * a datagram left to sofia costs one peek more than before. None of this
 * runs while the thread keeps up.
 *
 * The 503 goes to the datagram's source address, as every response of
 * maskd (sip_via.c). Our To tags start with a random per-process prefix,
 * which is how their ACKs are told apart without any state.
 *
 * SIP thread only. No allocation after sip_front_alloc(); no log.
 */
#include "sip_internal.h"
#include "sip_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

/* Datagrams looked at per loop turn at most: timers and the command
 * queue must still run under a steady stream of INVITEs. */
#define SIP_FRONT_BUDGET 64

/* 503s sent per sendmmsg() at most, and the largest one (a request whose
 * 503 would be longer is left to sofia). */
#define SIP_FRONT_BATCH 32
#define SIP_FRONT_REPLY_MAX 2048

/* The largest datagram peeked at whole (a UDP datagram's maximum). */
#define SIP_FRONT_DGRAM_MAX 65536

/* Vias copied into a 503 at most (more: left to sofia). */
#define SIP_FRONT_VIA_MAX 16

/* The Call-ID set: buckets of WAYS slots, the oldest replaced. 64K
 * slots hold over 30 s of calls at 2,000 calls/s. */
#define SIP_FRONT_WAYS 8
#define SIP_FRONT_BUCKETS 8192

/* A User-Agent longer than this is not checked here: left to sofia. */
#define SIP_FRONT_UA_MAX 256

/* Our To tags: this many hex digits of per-process prefix, then a count. */
#define SIP_FRONT_TAG_PREFIX 16

struct sip_front {
	struct sip *s;
	int fd;
	int64_t ttl_ms;
	uint32_t serial;	/* To tag counter */
	char tag[SIP_FRONT_TAG_PREFIX + 1];

	uint64_t *set_h;	/* Call-ID hashes; 0: empty */
	int64_t *set_ms;	/* when each was let through */

	char *dgram;		/* SIP_FRONT_DGRAM_MAX + 1 */
	char *reply;		/* SIP_FRONT_BATCH * SIP_FRONT_REPLY_MAX */
	struct sockaddr_storage to[SIP_FRONT_BATCH];
	socklen_t to_len[SIP_FRONT_BATCH];
	struct mmsghdr mm[SIP_FRONT_BATCH];
	struct iovec iov[SIP_FRONT_BATCH];
};

enum sip_front_kind {
	SIP_FRONT_PASS = 0,	/* sofia's */
	SIP_FRONT_INVITE,	/* a new out-of-dialog INVITE */
	SIP_FRONT_OUR_ACK,	/* the ACK of one of our 503s */
};

struct sip_front_span {
	const char *p;
	size_t n;
};

/* What the scan found: whole header lines (no CRLF) and some values. */
struct sip_front_req {
	struct sip_front_span via[SIP_FRONT_VIA_MAX];
	unsigned n_via;
	struct sip_front_span via0_v;	/* the first Via line's value */
	struct sip_front_span from, to, call_id, cseq;
	struct sip_front_span from_v, to_v, call_id_v, cseq_v, ua_v;
	bool max_forwards;
	bool has_clen;
	size_t clen;
};

/* ---- the Call-ID set ---- */

static uint64_t sip_front_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;	/* 0 marks an empty slot */
}

bool sip_front_known(const struct sip_front *f, const char *id, size_t len)
{
	uint64_t h = sip_front_hash(id, len);
	size_t b = (h % SIP_FRONT_BUCKETS) * SIP_FRONT_WAYS, i;
	int64_t now = clock_mono_ms();

	for (i = b; i < b + SIP_FRONT_WAYS; i++)
		if (f->set_h[i] == h && now - f->set_ms[i] < f->ttl_ms)
			return true;
	return false;
}

void sip_front_remember(struct sip_front *f, const char *id, size_t len)
{
	uint64_t h = sip_front_hash(id, len);
	size_t b = (h % SIP_FRONT_BUCKETS) * SIP_FRONT_WAYS, i, old = b;
	int64_t now = clock_mono_ms();

	for (i = b; i < b + SIP_FRONT_WAYS; i++) {
		if (f->set_h[i] == h) {
			old = i;
			break;
		}
		if (!f->set_h[i] || f->set_ms[i] < f->set_ms[old])
			old = i;
	}
	f->set_h[old] = h;
	f->set_ms[old] = now;
}

/* ---- the scanner ---- */

static bool sip_front_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* @name (@n bytes) is header @full, or its compact form @c (0: none) */
static bool sip_front_name(const char *name, size_t n, const char *full,
			   char c)
{
	if (c && n == 1 && (name[0] | 0x20) == c)
		return true;
	return n == strlen(full) && !strncasecmp(name, full, n);
}

static const char *sip_front_find(const char *p, size_t n, const char *what)
{
	size_t w = strlen(what), i;

	for (i = 0; i + w <= n; i++)
		if (!strncasecmp(p + i, what, w))
			return p + i;
	return NULL;
}

/* a header we copy, met twice: sofia's to judge */
static bool sip_front_set(struct sip_front_span *line,
			  struct sip_front_span *val,
			  struct sip_front_span l, struct sip_front_span v)
{
	if (line->p)
		return false;
	*line = l;
	*val = v;
	return true;
}

/*
 * sip_front_headers() - split the header section from @p to @end into
 * @m. False for anything unusual: a line without CRLF, a folded line, a
 * line without a colon, a header we copy met twice, too many Vias.
 * *@body is set to the first byte after the empty line.
 */
static bool sip_front_headers(const char *p, const char *end,
			      struct sip_front_req *m, const char **body)
{
	struct sip_front_span l, v;
	const char *nl, *le, *colon, *nend;
	char *e;

	for (;;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl == p || nl[-1] != '\r')
			return false;
		le = nl - 1;
		if (le == p) {
			*body = nl + 1;
			return true;
		}
		if (sip_front_ws(*p))
			return false;
		colon = memchr(p, ':', (size_t)(le - p));
		if (!colon)
			return false;
		for (nend = colon; nend > p && sip_front_ws(nend[-1]); nend--)
			;
		for (v.p = colon + 1; v.p < le && sip_front_ws(*v.p); v.p++)
			;
		for (e = (char *)le; e > v.p && sip_front_ws(e[-1]); e--)
			;
		v.n = (size_t)(e - v.p);
		l.p = p;
		l.n = (size_t)(e - p);

		if (sip_front_name(p, (size_t)(nend - p), "via", 'v')) {
			if (m->n_via == SIP_FRONT_VIA_MAX || !v.n)
				return false;
			if (!m->n_via)
				m->via0_v = v;
			m->via[m->n_via++] = l;
		} else if (sip_front_name(p, (size_t)(nend - p), "from",
					  'f')) {
			if (!sip_front_set(&m->from, &m->from_v, l, v))
				return false;
		} else if (sip_front_name(p, (size_t)(nend - p), "to", 't')) {
			if (!sip_front_set(&m->to, &m->to_v, l, v))
				return false;
		} else if (sip_front_name(p, (size_t)(nend - p), "call-id",
					  'i')) {
			if (!sip_front_set(&m->call_id, &m->call_id_v, l, v))
				return false;
		} else if (sip_front_name(p, (size_t)(nend - p), "cseq", 0)) {
			if (!sip_front_set(&m->cseq, &m->cseq_v, l, v))
				return false;
		} else if (sip_front_name(p, (size_t)(nend - p),
					  "max-forwards", 0)) {
			m->max_forwards = true;
		} else if (sip_front_name(p, (size_t)(nend - p),
					  "content-length", 'l')) {
			if (m->has_clen || !v.n)
				return false;
			m->has_clen = true;
			for (m->clen = 0; v.n; v.p++, v.n--) {
				if (*v.p < '0' || *v.p > '9' ||
				    m->clen > SIP_FRONT_DGRAM_MAX)
					return false;
				m->clen = m->clen * 10 + (size_t)(*v.p - '0');
			}
		} else if (sip_front_name(p, (size_t)(nend - p),
					  "user-agent", 0)) {
			if (m->ua_v.p)
				return false;
			m->ua_v = v;
		}
		p = nl + 1;
	}
}

/* a From or To value sofia would parse: something with a URI in it, and
 * a '>' after a '<' */
static bool sip_front_addr_ok(struct sip_front_span v)
{
	const char *lt = memchr(v.p, '<', v.n);

	if (!v.n || !memchr(v.p, ':', v.n))
		return false;
	return !lt || memchr(lt, '>', v.n - (size_t)(lt - v.p));
}

/*
 * sip_front_scan() - what the datagram @p (@n bytes) is to the front.
 * Strict on purpose: whatever it is not sure of is sofia's.
 */
static enum sip_front_kind sip_front_scan(const struct sip_front *f,
					  const char *p, size_t n,
					  struct sip_front_req *m)
{
	const char *end = p + n, *sp, *body, *c;
	enum sip_front_kind kind;
	size_t i;

	if (n > 7 && !memcmp(p, "INVITE ", 7)) {
		kind = SIP_FRONT_INVITE;
		p += 7;
	} else if (n > 4 && !memcmp(p, "ACK ", 4)) {
		kind = SIP_FRONT_OUR_ACK;
		p += 4;
	} else {
		return SIP_FRONT_PASS;
	}
	if (memchr(p, '\0', (size_t)(end - p)))
		return SIP_FRONT_PASS;

	/* Request-URI SP SIP-Version CRLF */
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || sp == p || (size_t)(end - sp) < 10 ||
	    memcmp(sp, " SIP/2.0\r\n", 10))
		return SIP_FRONT_PASS;
	if (strncasecmp(p, "sip:", 4) && strncasecmp(p, "sips:", 5) &&
	    strncasecmp(p, "tel:", 4))
		return SIP_FRONT_PASS;

	memset(m, 0, sizeof(*m));
	if (!sip_front_headers(sp + 10, end, m, &body))
		return SIP_FRONT_PASS;
	if (!m->n_via || !m->from.p || !m->to.p || !m->call_id.p ||
	    !m->cseq.p || !m->max_forwards)
		return SIP_FRONT_PASS;
	if (m->has_clen && m->clen != (size_t)(end - body))
		return SIP_FRONT_PASS;

	if (kind == SIP_FRONT_OUR_ACK) {
		c = sip_front_find(m->to_v.p, m->to_v.n, f->tag);
		return c && c - m->to_v.p >= 5 &&
		       !strncasecmp(c - 5, ";tag=", 5) ? SIP_FRONT_OUR_ACK
						       : SIP_FRONT_PASS;
	}

	/* new: no tag in To (a "tag" anywhere in it - even in the URI -
	 * is sofia's to judge) */
	if (sip_front_find(m->to_v.p, m->to_v.n, "tag"))
		return SIP_FRONT_PASS;
	if (!sip_front_addr_ok(m->from_v) || !sip_front_addr_ok(m->to_v))
		return SIP_FRONT_PASS;
	/* the top Via: SIP/2.0/transport sent-by, no received yet */
	if (m->via0_v.n < 9 || strncasecmp(m->via0_v.p, "SIP/2.0/", 8) ||
	    sip_front_find(m->via0_v.p, m->via0_v.n, "received="))
		return SIP_FRONT_PASS;
	/* Call-ID: a word */
	if (!m->call_id_v.n)
		return SIP_FRONT_PASS;
	for (i = 0; i < m->call_id_v.n; i++)
		if (sip_front_ws(m->call_id_v.p[i]))
			return SIP_FRONT_PASS;
	/* CSeq: digits LWS INVITE */
	for (i = 0; i < m->cseq_v.n && m->cseq_v.p[i] >= '0' &&
		    m->cseq_v.p[i] <= '9'; i++)
		;
	if (!i || i > 10)
		return SIP_FRONT_PASS;
	while (i < m->cseq_v.n && sip_front_ws(m->cseq_v.p[i]))
		i++;
	if (m->cseq_v.n - i != 6 || memcmp(m->cseq_v.p + i, "INVITE", 6))
		return SIP_FRONT_PASS;
	return SIP_FRONT_INVITE;
}

/* ---- the 503 ---- */

struct sip_front_out {
	char *p;
	size_t n, cap;
	bool over;
};

static void sip_front_put(struct sip_front_out *o, const char *p, size_t n)
{
	if (o->over || n > o->cap - o->n) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void sip_front_puts(struct sip_front_out *o, const char *str)
{
	sip_front_put(o, str, strlen(str));
}

/*
 * The top Via with what 18.2.1 and RFC 3581 add: received=<source> when
 * the sent-by host is not the source address, rport=<source port> when
 * the request asked for it. Both go at the end of the line's first value.
 */
static void sip_front_put_via0(struct sip_front_out *o,
			       const struct sip_front_req *m,
			       const char *ip, const char *port)
{
	const char *line = m->via[0].p, *v = m->via0_v.p;
	const char *vend = v + m->via0_v.n, *first, *host, *hend, *r;
	const char *lend = line + m->via[0].n;

	first = memchr(v, ',', m->via0_v.n);
	if (!first)
		first = vend;

	/* sent-by host: after "SIP/2.0/UDP" and its whitespace */
	for (host = v + 8; host < first && !sip_front_ws(*host); host++)
		;
	while (host < first && sip_front_ws(*host))
		host++;
	if (host < first && *host == '[') {
		host++;
		hend = memchr(host, ']', (size_t)(first - host));
		if (!hend)
			hend = host;
	} else {
		for (hend = host; hend < first && *hend != ':' &&
			  *hend != ';' && !sip_front_ws(*hend); hend++)
			;
	}

	/* ";rport" without a value */
	for (r = v; (r = sip_front_find(r, (size_t)(first - r), ";rport"));
	     r += 6)
		if (r + 6 == first || r[6] == ';' || r[6] == ',' ||
		    sip_front_ws(r[6]))
			break;

	if (r) {
		sip_front_put(o, line, (size_t)(r + 6 - line));
		sip_front_puts(o, "=");
		sip_front_puts(o, port);
		sip_front_put(o, r + 6, (size_t)(first - (r + 6)));
	} else {
		sip_front_put(o, line, (size_t)(first - line));
	}
	if ((size_t)(hend - host) != strlen(ip) ||
	    strncasecmp(host, ip, strlen(ip))) {
		sip_front_puts(o, ";received=");
		sip_front_puts(o, ip);
	}
	sip_front_put(o, first, (size_t)(lend - first));
	sip_front_puts(o, "\r\n");
}

/*
 * sip_front_build() - the 503 to @m from @sa into @out (@cap bytes).
 * Returns its length, 0 when it does not fit or the address is odd.
 */
static size_t sip_front_build(struct sip_front *f,
			      const struct sip_front_req *m,
			      const struct sockaddr_storage *sa,
			      unsigned retry_s, char *out, size_t cap)
{
	struct sip_front_out o = { .p = out, .cap = cap };
	char ip[INET6_ADDRSTRLEN], port[8], num[32];
	unsigned i;

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(port, sizeof(port), "%u", ntohs(in->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		/* an IPv4 caller on a dual-stack socket is named as IPv4,
		 * as sofia does (SU_CANONIZE_SOCKADDR) */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip,
				  sizeof(ip));
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(port, sizeof(port), "%u", ntohs(in6->sin6_port));
	} else {
		return 0;
	}

	sip_front_puts(&o, "SIP/2.0 503 Service Unavailable\r\n");
	sip_front_put_via0(&o, m, ip, port);
	for (i = 1; i < m->n_via; i++) {
		sip_front_put(&o, m->via[i].p, m->via[i].n);
		sip_front_puts(&o, "\r\n");
	}
	sip_front_put(&o, m->from.p, m->from.n);
	sip_front_puts(&o, "\r\n");
	sip_front_put(&o, m->to.p, m->to.n);
	snprintf(num, sizeof(num), ";tag=%s%x\r\n", f->tag, ++f->serial);
	sip_front_puts(&o, num);
	sip_front_put(&o, m->call_id.p, m->call_id.n);
	sip_front_puts(&o, "\r\n");
	sip_front_put(&o, m->cseq.p, m->cseq.n);
	snprintf(num, sizeof(num), "\r\nRetry-After: %u\r\n", retry_s);
	sip_front_puts(&o, num);
	sip_front_puts(&o, "Content-Length: 0\r\n\r\n");
	return o.over ? 0 : o.n;
}

/* ---- the drain ---- */

/* The checks sip_guard_admit() makes before anything else: a request
 * they would refuse is left to sofia, where they refuse it as always. */
static bool sip_front_guard_ok(struct sip_front *f,
			       const struct sip_front_req *m,
			       const struct sockaddr_storage *sa)
{
	char ua[SIP_FRONT_UA_MAX + 1];

	if (sip_guard_flood_blocked(f->s, (const struct sockaddr *)sa))
		return false;
	if (!m->ua_v.p || !f->s->cfg->flood.n_scanners)
		return true;
	if (m->ua_v.n > SIP_FRONT_UA_MAX)
		return false;
	memcpy(ua, m->ua_v.p, m->ua_v.n);
	ua[m->ua_v.n] = '\0';
	return !sip_guard_scanner_ua(f->s, ua);
}

static void sip_front_flush(struct sip_front *f, unsigned n)
{
	unsigned done = 0;
	int r;

	/* a 503 that cannot go now is lost like any UDP datagram: the
	 * INVITE's retransmission is refused again */
	while (done < n) {
		r = sendmmsg(f->fd, f->mm + done, n - done, MSG_DONTWAIT);
		if (r <= 0)
			break;
		done += (unsigned)r;
	}
}

unsigned sip_front_drain(struct sip_front *f, sip_front_admit_h *admit,
			 void *arg)
{
	struct sip_front_req m;
	struct msghdr mh;
	struct iovec iov;
	enum sip_front_kind kind;
	unsigned n, taken = 0, out = 0, retry_s;
	size_t len;
	ssize_t got;

	if (!f || f->fd < 0)
		return 0;

	for (n = 0; n < SIP_FRONT_BUDGET; n++) {
		iov.iov_base = f->dgram;
		iov.iov_len = SIP_FRONT_DGRAM_MAX;
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &f->to[out];
		mh.msg_namelen = sizeof(f->to[out]);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		got = recvmsg(f->fd, &mh, MSG_PEEK | MSG_DONTWAIT);
		if (got <= 0 || (mh.msg_flags & MSG_TRUNC))
			break;
		kind = sip_front_scan(f, f->dgram, (size_t)got, &m);
		if (kind == SIP_FRONT_PASS)
			break;

		len = 0;
		if (kind == SIP_FRONT_INVITE) {
			if (sip_front_known(f, m.call_id_v.p, m.call_id_v.n))
				break;
			retry_s = admit(arg);
			if (!retry_s) {
				sip_front_remember(f, m.call_id_v.p,
						   m.call_id_v.n);
				break;
			}
			if (!sip_front_guard_ok(f, &m, &f->to[out]))
				break;
			len = sip_front_build(f, &m, &f->to[out], retry_s,
					      f->reply + (size_t)out *
					      SIP_FRONT_REPLY_MAX,
					      SIP_FRONT_REPLY_MAX);
			if (!len)
				break;
		}

		/* off the queue: a zero-length read discards a datagram */
		if (recv(f->fd, NULL, 0, MSG_DONTWAIT) < 0)
			break;
		taken++;
		if (kind != SIP_FRONT_INVITE)
			continue;

		SIP_COUNT(f->s, overload_rejected);
		f->to_len[out] = mh.msg_namelen;
		f->iov[out].iov_base = f->reply + (size_t)out *
				       SIP_FRONT_REPLY_MAX;
		f->iov[out].iov_len = len;
		memset(&f->mm[out], 0, sizeof(f->mm[out]));
		f->mm[out].msg_hdr.msg_name = &f->to[out];
		f->mm[out].msg_hdr.msg_namelen = f->to_len[out];
		f->mm[out].msg_hdr.msg_iov = &f->iov[out];
		f->mm[out].msg_hdr.msg_iovlen = 1;
		if (++out == SIP_FRONT_BATCH) {
			sip_front_flush(f, out);
			out = 0;
		}
	}
	sip_front_flush(f, out);
	return taken;
}

/* ---- life ---- */

int sip_front_alloc(struct sip *s, int fd, unsigned ttl_ms,
		    struct sip_front **fp)
{
	struct sip_front *f;
	uint64_t r = 0;
	int err = ENOMEM;

	f = calloc(1, sizeof(*f));
	if (!f)
		return ENOMEM;
	f->s = s;
	f->fd = fd;
	f->ttl_ms = ttl_ms;
	f->set_h = calloc(SIP_FRONT_BUCKETS * SIP_FRONT_WAYS,
			  sizeof(*f->set_h));
	f->set_ms = calloc(SIP_FRONT_BUCKETS * SIP_FRONT_WAYS,
			   sizeof(*f->set_ms));
	if (!f->set_h || !f->set_ms)
		goto out;
	if (fd >= 0) {
		f->dgram = malloc(SIP_FRONT_DGRAM_MAX + 1);
		f->reply = malloc((size_t)SIP_FRONT_BATCH *
				  SIP_FRONT_REPLY_MAX);
		if (!f->dgram || !f->reply)
			goto out;
	}
	/* the prefix that tells our 503s' ACKs apart: unguessable enough
	 * that no other UA's tag starts with it */
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)clock_mono_ms() * 0x9e3779b97f4a7c15ull;
	snprintf(f->tag, sizeof(f->tag), "%016llx", (unsigned long long)r);

	*fp = f;
	f = NULL;
	err = 0;
 out:
	sip_front_free(f);
	return err;
}

void sip_front_free(struct sip_front *f)
{
	if (!f)
		return;
	free(f->set_h);
	free(f->set_ms);
	free(f->dgram);
	free(f->reply);
	free(f);
}
