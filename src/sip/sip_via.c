/*
 * sip_via.c - where maskd answers a request: the address and port it came
 * from, always (RFC 3581's rport, forced, as a carrier SBC does), never a
 * host the request names.
 *
 * nta sends a response where the top Via says (RFC 3261 18.2.2): maddr
 * first, else received, else the sent-by host, resolved with a blocking
 * getaddrinfo() on this thread. It adds received= itself, but only on the
 * path of a well-formed request: a request its parser refuses (400), one
 * of another SIP version (505) or one too large (413) is answered
 * statelessly to the Via as it came, and a maddr wins on every path. So
 * one datagram such as RFC 4475's scalar02 (a bad CSeq, a TCP Via naming
 * host129.example.com, sent over UDP) cost a DNS lookup on the SIP thread:
 * with no resolver answering, every call stalled for its timeout (5 s and
 * more) per datagram, and with one answering, the 400 went to whatever
 * the attacker's name resolved to.
 *
 * None of those paths reaches the agent's message callback, so the Via is
 * fixed where nta cannot miss it: while the parser reads it. maskd gives
 * nta a copy of sofia's SIP parser (NTATAG_MCLASS) whose Via class is
 * sofia's own with one more step: once the top Via of a received request
 * is parsed, its maddr is dropped, received= is set to the source address
 * (when the sent-by host is not that already) and rport= to the source
 * port. Every response nta makes from then on - stateless or not, over
 * UDP or TCP - goes to a numeric address with no lookup. (Over TCP the
 * connection the request came on is used while it lasts; after that nta
 * reconnects to received:port, as RFC 3261 18.2.2 says.)
 *
 * The one limit is nta's: a request answered statelessly whose Via names
 * a transport other than the one it came over (scalar02) is answered to
 * the source address but the Via's sent-by port, as nta ignores rport
 * there. That is the sender's own host; nothing leaves for a third party.
 *
 * SIP thread only. Hot path: the parser runs this for every Via line;
 * the work is done once per received request and allocates only from the
 * message's own home, as the parser does.
 */
#include "sip_internal.h"

#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/msg_mclass_hash.h>
#include <sofia-sip/sip_parser.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * True when @host (a Via sent-by host, IPv6 in brackets) is @ip (as
 * inet_ntop() prints it) written the same way; a different spelling of
 * the same address only costs a received= that says it again.
 */
static bool sip_via_host_is(const char *host, const char *ip)
{
	size_t n = strlen(ip);

	if (host[0] == '[')
		return !strncasecmp(host + 1, ip, n) && host[n + 1] == ']' &&
		       host[n + 2] == '\0';
	return !strcasecmp(host, ip);
}

/*
 * The top Via @v of @msg, a request just read from the network: drop
 * maddr, received= the source address unless sent-by says it already,
 * rport= the source port. A parameter that cannot be allocated is left as
 * it was; nta then treats the Via as it would have anyway.
 */
static void sip_via_force_rport(msg_t *msg, sip_via_t *v)
{
	su_home_t *home = msg_home(msg);
	su_sockaddr_t const *su = msg_addr(msg);
	char ip[SU_ADDRSIZE];
	char *param;

	if (!su || (su->su_family != AF_INET && su->su_family != AF_INET6))
		return;		/* made here, not received */
	if (!su_inet_ntop(su->su_family, SU_ADDR(su), ip, sizeof(ip)))
		return;

	/* RFC 3261 18.2.2: a maddr would win over received */
	if (v->v_maddr)
		msg_header_remove_param(v->v_common, "maddr");

	if (v->v_host && sip_via_host_is(v->v_host, ip)) {
		/* a received= of the sender's own is a lie or a name */
		if (v->v_received)
			msg_header_remove_param(v->v_common, "received");
	}
	else {
		param = su_sprintf(home, "received=%s", ip);
		if (param)
			msg_header_replace_param(home, v->v_common, param);
	}

	param = su_sprintf(home, "rport=%u", (unsigned)ntohs(su->su_port));
	if (param)
		msg_header_replace_param(home, v->v_common, param);
}

/*
 * The Via class's parse function: sofia's, then, for the top Via of a
 * request being read, sip_via_force_rport().
 *
 * The parser passes the message's home, which is the message itself
 * (msg_home() is a cast), but hc_parse() gets no message, so @home is
 * taken back as one. That holds because this class is reachable only
 * through s->mclass, and sofia parses through a message class only into a
 * message (msg_extract(), msg_header_add_str()); the one exception,
 * msg_header_d() with a home of the caller's, is called neither by nta
 * nor by maskd. Belt and braces: a home whose size is not a message's of
 * this class is left alone, and so is a message with no request line
 * (a response) or a Via already on top (a later one).
 *
 * Hot path: no logging, no allocation but the parameters'.
 */
static issize_t sip_via_parse(su_home_t *home, msg_header_t *h, char *s,
			      isize_t slen)
{
	const struct sip_via_hclass *vc =
		(const struct sip_via_hclass *)h->sh_class;
	/* a comma-separated value after the first is linked before it is
	 * parsed; the first value of a line is not linked yet */
	bool line_first = h->sh_prev == NULL;
	issize_t rc;
	sip_t *sip;

	rc = sip_via_class->hc_parse(home, h, s, slen);
	if (rc < 0 || !line_first || home->suh_size != vc->msg_size)
		return rc;

	sip = sip_object((msg_t *)home);
	if (!sip || !sip->sip_request || sip->sip_via)
		return rc;

	sip_via_force_rport((msg_t *)home, (sip_via_t *)h);
	return rc;
}

/*
 * Make @hc what @mc parses Via (and "v") with, keeping sofia's own class
 * in the table too. A message class is an open-addressed table that the
 * parser searches by name, from the name's hash on, taking the first
 * match, while msg_hclass_offset() - how a header of a given class finds
 * its place in a message - searches from the same slot for that very
 * class pointer. nta inserts Vias of sofia's class (its own, on every
 * request it sends) and copies of parsed ones (ours, on every response),
 * so both must be found: ours takes the slot sofia's had, and sofia's
 * moves to the next free slot of the same probe chain, where only the
 * pointer search reaches it. sip_via_open() checks the result.
 */
static int sip_via_replace(msg_mclass_t *mc, msg_hclass_t *hc)
{
	msg_href_t *shorts = (msg_href_t *)mc->mc_short;	/* our copy */
	int n = mc->mc_hash_size;
	int i, j, j0;

	j0 = msg_header_name_hash(sip_via_class->hc_name, NULL) % n;
	for (i = j0; mc->mc_hash[i].hr_class != sip_via_class; i = (i + 1) % n)
		if (!mc->mc_hash[i].hr_class || (i + 1) % n == j0)
			return ENOENT;
	for (j = i; mc->mc_hash[j].hr_class; j = (j + 1) % n)
		if ((j + 1) % n == i)
			return ENOSPC;

	mc->mc_hash[j] = mc->mc_hash[i];
	mc->mc_hash[i].hr_class = hc;
	mc->mc_hash_used++;
	if (!shorts || shorts['v' - 'a'].hr_class != sip_via_class)
		return ENOENT;
	shorts['v' - 'a'].hr_class = hc;
	return 0;
}

/* What sip_via_replace() promised, asked of sofia itself. */
static bool sip_via_check(msg_mclass_t const *mc, msg_hclass_t *hc)
{
	msg_href_t const *l = msg_find_hclass(mc, "Via", NULL);
	msg_href_t const *c = msg_find_hclass(mc, "v", NULL);
	msg_header_t **ours = msg_hclass_offset(mc, NULL, hc);
	msg_header_t **theirs = msg_hclass_offset(mc, NULL, sip_via_class);

	return l && l->hr_class == hc && c && c->hr_class == hc && ours &&
	       ours == theirs;
}

int sip_via_open(struct sip *s)
{
	msg_t *probe;
	int err;

	s->mclass = msg_mclass_clone(sip_default_mclass(), 0, 0);
	if (!s->mclass)
		return ENOMEM;

	s->via_class.hc = *sip_via_class;
	s->via_class.hc.hc_parse = sip_via_parse;
	err = sip_via_replace(s->mclass, &s->via_class.hc);
	if (err)
		return err;
	if (!sip_via_check(s->mclass, &s->via_class.hc))
		return ENOENT;

	/* what su_home_new() recorded for a message of this class */
	probe = msg_create(s->mclass, 0);
	if (!probe)
		return ENOMEM;
	s->via_class.msg_size = msg_home(probe)->suh_size;
	msg_destroy(probe);
	return 0;
}

void sip_via_close(struct sip *s)
{
	free(s->mclass);
	s->mclass = NULL;
}
