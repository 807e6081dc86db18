/*
 * test_sdp.c - the SDP rewriter: typical offers and answers, hold, RTCP,
 * ICE, several m= lines, o= versions, hostile input, and that nothing of
 * the sending party survives into what the other party receives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "maskd/sdp.h"

#define ADV "203.0.113.5"
#define PORT 30000

/* The party: a distinctive address, port and identity that must never
 * reach the other side. */
#define PARTY_IP "198.51.100.77"
#define PARTY_PORT "49170"

static const char offer_pcmu[] =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 " PARTY_IP "\r\n"
	"s=call from +14155550100\r\n"
	"i=alice's phone\r\n"
	"u=http://alice.example.com/\r\n"
	"e=alice@example.com\r\n"
	"p=+1 415 555 0100\r\n"
	"c=IN IP4 " PARTY_IP "\r\n"
	"t=0 0\r\n"
	"a=tool:AlicePhone 1.0\r\n"
	"m=audio " PARTY_PORT " RTP/AVP 0 8 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-16\r\n"
	"a=ptime:20\r\n"
	"a=sendrecv\r\n";

struct result {
	char *out;
	size_t len;
	struct sdp_remote rem;
	int rc;
};

static void rewrite(struct result *r, const char *body,
		    struct sdp_origin *o)
{
	memset(r, 0, sizeof(*r));
	r->rc = sdp_rewrite(body, strlen(body), ADV, PORT, o, &r->out,
			    &r->len, &r->rem);
	if (!r->rc) {
		assert_non_null(r->out);
		assert_int_equal(strlen(r->out), r->len);
	}
}

static void result_free(struct result *r)
{
	free(r->out);
	r->out = NULL;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not in:\n%s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("'%s' found in:\n%s", needle, hay);
}

/* Nothing naming the sending party may remain. */
static void assert_masked(const char *out)
{
	assert_lacks(out, PARTY_IP);
	assert_lacks(out, "198.51.100.");
	assert_lacks(out, PARTY_PORT);
	assert_lacks(out, "alice");
	assert_lacks(out, "Alice");
	assert_lacks(out, "5550100");
	assert_lacks(out, "555 0100");
}

static void assert_remote(const struct sockaddr_storage *ss,
			  const char *ip, uint16_t port)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(ss->ss_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, ip);
	assert_int_equal(ntohs(in->sin_port), port);
}

/* --- tests ------------------------------------------------------------ */

static void test_offer_pcmu(void **state)
{
	struct sdp_origin o = { 0 };
	struct result r;
	char want[1024];

	rewrite(&r, offer_pcmu, &o);
	assert_int_equal(r.rc, 0);
	assert_true(o.id > 0);
	assert_int_equal(o.version, 1);

	snprintf(want, sizeof(want),
		 "v=0\r\n"
		 "o=maskd %llu 1 IN IP4 " ADV "\r\n"
		 "s=-\r\n"
		 "c=IN IP4 " ADV "\r\n"
		 "t=0 0\r\n"
		 "m=audio 30000 RTP/AVP 0 8 101\r\n"
		 "a=rtpmap:0 PCMU/8000\r\n"
		 "a=rtpmap:8 PCMA/8000\r\n"
		 "a=rtpmap:101 telephone-event/8000\r\n"
		 "a=fmtp:101 0-16\r\n"
		 "a=ptime:20\r\n"
		 "a=sendrecv\r\n",	/* direction passes unchanged */
		 (unsigned long long)o.id);
	assert_string_equal(r.out, want);
	assert_masked(r.out);

	assert_remote(&r.rem.rtp, PARTY_IP, 49170);
	assert_int_equal(r.rem.rtcp.ss_family, AF_UNSPEC);
	assert_false(r.rem.hold);
	result_free(&r);
}

/* The answer from the other side: another address, an AMR codec with
 * fmtp, LF line ends; the rewrite faces the offerer. */
static void test_answer(void **state)
{
	static const char answer[] =
		"v=0\n"
		"o=- 1 1 IN IP4 192.0.2.9\n"
		"s=-\n"
		"c=IN IP4 192.0.2.9\n"
		"t=0 0\n"
		"m=audio 7078 RTP/AVP 96 101\n"
		"a=rtpmap:96 AMR/8000\n"
		"a=fmtp:96 octet-align=1;mode-set=7\n"
		"a=rtpmap:101 telephone-event/8000\n"
		"a=fmtp:101 0-15\n"
		"a=maxptime:40\n";
	struct sdp_origin o = { 0 };
	struct result r;

	rewrite(&r, answer, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "m=audio 30000 RTP/AVP 96 101\r\n");
	assert_contains(r.out, "a=rtpmap:96 AMR/8000\r\n");
	assert_contains(r.out, "a=fmtp:96 octet-align=1;mode-set=7\r\n");
	assert_contains(r.out, "a=rtpmap:101 telephone-event/8000\r\n");
	assert_contains(r.out, "a=fmtp:101 0-15\r\n");
	assert_contains(r.out, "a=maxptime:40\r\n");
	assert_lacks(r.out, "192.0.2.9");
	assert_lacks(r.out, "7078");
	assert_remote(&r.rem.rtp, "192.0.2.9", 7078);
	result_free(&r);
}

static void test_hold_sendonly(void **state)
{
	static const char hold[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0\r\n"
		"a=sendonly\r\n";
	static const char inactive[] =
		"v=0\r\n"
		"o=alice 1 3 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"a=inactive\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0\r\n";
	struct sdp_origin o = { 0 };
	struct result r;

	rewrite(&r, hold, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "a=sendonly\r\n");
	assert_contains(r.out, "c=IN IP4 " ADV "\r\n");
	assert_true(r.rem.hold);
	assert_remote(&r.rem.rtp, PARTY_IP, 49170);
	assert_masked(r.out);
	result_free(&r);

	/* session-level direction stays session-level */
	rewrite(&r, inactive, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "a=inactive\r\n");
	assert_true(r.rem.hold);
	result_free(&r);
}

static void test_hold_0000(void **state)
{
	static const char hold[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"t=0 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0\r\n";
	struct sdp_origin o = { 0 };
	const struct sockaddr_in *in;
	struct result r;

	rewrite(&r, hold, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "c=IN IP4 0.0.0.0\r\n");
	assert_contains(r.out, "o=maskd ");
	assert_contains(r.out, " IN IP4 " ADV "\r\n");
	assert_contains(r.out, "m=audio 30000 ");
	assert_true(r.rem.hold);
	in = (const struct sockaddr_in *)&r.rem.rtp;
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_masked(r.out);
	result_free(&r);
}

static void test_rtcp_attr(void **state)
{
	static const char offer[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0\r\n"
		"a=rtcp:53020 IN IP4 198.51.100.78\r\n";
	static const char port_only[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0\r\n"
		"a=rtcp:53021\r\n";
	struct sdp_origin o = { 0 };
	struct result r;

	rewrite(&r, offer, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "a=rtcp:30001 IN IP4 " ADV "\r\n");
	assert_lacks(r.out, "53020");
	assert_masked(r.out);
	assert_remote(&r.rem.rtp, PARTY_IP, 49170);
	assert_remote(&r.rem.rtcp, "198.51.100.78", 53020);
	result_free(&r);

	rewrite(&r, port_only, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "a=rtcp:30001 IN IP4 " ADV "\r\n");
	assert_remote(&r.rem.rtcp, PARTY_IP, 53021);
	result_free(&r);
}

/* ICE at both levels, rtcp-mux, BUNDLE and an SSRC cname naming the
 * party's address: all gone, the rest kept. */
static void test_ice_mux(void **state)
{
	static const char offer[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"a=ice-ufrag:F7gI\r\n"
		"a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
		"a=ice-options:trickle\r\n"
		"a=group:BUNDLE 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0 101\r\n"
		"a=mid:0\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=candidate:1 1 UDP 2130706431 203.0.113.11 8998 typ host\r\n"
		"a=candidate:2 1 UDP 1694498815 " PARTY_IP " 45664 typ srflx "
		"raddr 203.0.113.11 rport 8998\r\n"
		"a=end-of-candidates\r\n"
		"a=remote-candidates:1 203.0.113.11 8998\r\n"
		"a=rtcp-mux\r\n"
		"a=ssrc:1234 cname:alice@" PARTY_IP "\r\n"
		"a=ssrc:1234 msid:stream track\r\n"
		"a=x-nat:203.0.113.20:5060\r\n"
		"a=x-v6:fe80::1:2\r\n"
		"k=uri:http://keys." PARTY_IP ".example/\r\n";
	struct sdp_origin o = { 0 };
	struct result r;

	rewrite(&r, offer, &o);
	assert_int_equal(r.rc, 0);
	assert_lacks(r.out, "candidate");
	assert_lacks(r.out, "ice-");
	assert_lacks(r.out, "rtcp-mux");
	assert_lacks(r.out, "group");
	assert_lacks(r.out, "203.0.113.11");
	assert_lacks(r.out, "cname");
	assert_lacks(r.out, "x-nat");
	assert_lacks(r.out, "x-v6");
	assert_lacks(r.out, "k=");
	assert_contains(r.out, "a=mid:0\r\n");
	assert_contains(r.out, "a=ssrc:1234 msid:stream track\r\n");
	assert_contains(r.out, "a=rtpmap:101 telephone-event/8000\r\n");
	assert_masked(r.out);
	result_free(&r);
}

/* audio relayed; a second audio and a video disabled; a rejected stream
 * stays rejected; media-level c= lines rewritten. */
static void test_multiple_m(void **state)
{
	static const char offer[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"t=0 0\r\n"
		"m=audio 0 RTP/AVP 0\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 8\r\n"
		"c=IN IP4 198.51.100.79\r\n"
		"a=rtcp:49171\r\n"
		"m=video 49172 RTP/AVP 96\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"a=rtpmap:96 H264/90000\r\n"
		"a=rtcp:49173\r\n"
		"m=message 49174 TCP/MSRP *\r\n"
		"c=IN IP4 " PARTY_IP "\r\n";
	struct sdp_origin o = { 0 };
	struct result r;
	const char *p;

	rewrite(&r, offer, &o);
	assert_int_equal(r.rc, 0);
	p = strstr(r.out, "m=audio 0 RTP/AVP 0\r\n");
	assert_non_null(p);
	p = strstr(p, "m=audio 30000 RTP/AVP 8\r\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "a=rtcp:30001 IN IP4 " ADV "\r\n"));
	p = strstr(p, "m=video 0 RTP/AVP 96\r\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "a=rtpmap:96 H264/90000\r\n"));
	assert_non_null(strstr(p, "m=message 0 TCP/MSRP *\r\n"));
	/* only the relayed stream says a=rtcp */
	assert_null(strstr(strstr(r.out, "m=video"), "a=rtcp"));
	assert_lacks(r.out, "49171");
	assert_lacks(r.out, "49172");
	assert_lacks(r.out, "49173");
	assert_lacks(r.out, "49174");
	assert_masked(r.out);
	assert_remote(&r.rem.rtp, "198.51.100.79", 49170);
	assert_remote(&r.rem.rtcp, "198.51.100.79", 49171);
	result_free(&r);
}

/* Every stream rejected: nothing relayed. */
static void test_all_rejected(void **state)
{
	static const char answer[] =
		"v=0\r\n"
		"o=bob 1 2 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"m=audio 0 RTP/AVP 0\r\n";
	struct sdp_origin o = { 0 };
	struct result r;

	rewrite(&r, answer, &o);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "m=audio 0 RTP/AVP 0\r\n");
	assert_int_equal(r.rem.rtp.ss_family, AF_UNSPEC);
	assert_masked(r.out);
	result_free(&r);
}

/* o=: the id is the leg's own and stays; the version goes up when what
 * the leg is sent changes and only then. */
static void test_versions(void **state)
{
	static const char hold[] =
		"v=0\r\n"
		"o=alice 2890844526 2890844527 IN IP4 " PARTY_IP "\r\n"
		"s=-\r\n"
		"c=IN IP4 " PARTY_IP "\r\n"
		"t=0 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0 8 101\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=fmtp:101 0-16\r\n"
		"a=sendonly\r\n";
	struct sdp_origin o = { 0 }, other = { 0 };
	struct result r;
	char want[64];
	uint64_t id;

	rewrite(&r, offer_pcmu, &o);
	assert_int_equal(r.rc, 0);
	id = o.id;
	assert_int_equal(o.version, 1);
	result_free(&r);

	/* the same body again (a session refresh): same version */
	rewrite(&r, offer_pcmu, &o);
	assert_int_equal(r.rc, 0);
	assert_int_equal(o.id, id);
	assert_int_equal(o.version, 1);
	snprintf(want, sizeof(want), "o=maskd %llu 1 IN IP4 " ADV "\r\n",
		 (unsigned long long)id);
	assert_contains(r.out, want);
	result_free(&r);

	/* hold: a change */
	rewrite(&r, hold, &o);
	assert_int_equal(r.rc, 0);
	assert_int_equal(o.id, id);
	assert_int_equal(o.version, 2);
	snprintf(want, sizeof(want), "o=maskd %llu 2 IN IP4 " ADV "\r\n",
		 (unsigned long long)id);
	assert_contains(r.out, want);
	result_free(&r);

	/* resume: a change again, even back to an earlier body */
	rewrite(&r, offer_pcmu, &o);
	assert_int_equal(o.version, 3);
	result_free(&r);

	/* a refused body leaves the origin alone */
	rewrite(&r, "garbage", &o);
	assert_int_equal(r.rc, EINVAL);
	assert_int_equal(o.version, 3);
	assert_int_equal(o.id, id);

	/* the other leg has its own */
	rewrite(&r, offer_pcmu, &other);
	assert_int_equal(r.rc, 0);
	assert_int_equal(other.version, 1);
	result_free(&r);
}

static void test_ipv6(void **state)
{
	static const char offer[] =
		"v=0\r\n"
		"o=alice 1 2 IN IP6 2001:db8::77\r\n"
		"s=-\r\n"
		"c=IN IP6 2001:db8::77\r\n"
		"t=0 0\r\n"
		"m=audio " PARTY_PORT " RTP/AVP 0\r\n";
	struct sdp_origin o = { 0 };
	struct sockaddr_in6 *in6;
	char *out = NULL;
	size_t len;
	struct sdp_remote rem;

	/* an IPv6 party, an IPv4 maskd: the party's address is parsed as
	 * is (the relay refuses the family), the output is all IPv4 */
	assert_int_equal(sdp_rewrite(offer, strlen(offer), ADV, PORT, &o,
				     &out, &len, &rem), 0);
	assert_lacks(out, "2001:db8::77");
	assert_lacks(out, "IP6");
	assert_int_equal(rem.rtp.ss_family, AF_INET6);
	in6 = (struct sockaddr_in6 *)&rem.rtp;
	assert_int_equal(ntohs(in6->sin6_port), 49170);
	free(out);

	/* an IPv6 maskd */
	assert_int_equal(sdp_rewrite(offer_pcmu, strlen(offer_pcmu),
				     "2001:db8::5", PORT, &o, &out, &len,
				     NULL), 0);
	assert_contains(out, "c=IN IP6 2001:db8::5\r\n");
	assert_contains(out, " IN IP6 2001:db8::5\r\n");
	assert_masked(out);
	free(out);

	assert_int_equal(sdp_rewrite(offer_pcmu, strlen(offer_pcmu),
				     "maskd.example.com", PORT, &o, &out,
				     &len, NULL), EAFNOSUPPORT);
}

static void expect_einval(const char *body, size_t len)
{
	struct sdp_origin o = { 0 };
	char *out = NULL;
	size_t outlen;
	struct sdp_remote rem;

	if (sdp_rewrite(body, len, ADV, PORT, &o, &out, &outlen, &rem) !=
	    EINVAL)
		fail_msg("accepted:\n%.*s\n--- as:\n%s", (int)len, body,
			 out ? out : "(null)");
	assert_null(out);
	assert_int_equal(o.version, 0);
}

#define EINVAL_STR(s) expect_einval((s), strlen(s))

static void test_garbage(void **state)
{
	static const char nul[] = "v=0\r\no=a 1 1 IN IP4 1.2.3.4\0\r\n";
	char *big;
	size_t i;

	EINVAL_STR("");
	EINVAL_STR("hello");
	EINVAL_STR("v=0\r\n");
	EINVAL_STR("\r\n\r\n\r\n");
	EINVAL_STR("<html><body>not sdp</body></html>");
	expect_einval(nul, sizeof(nul) - 1);
	/* no o= */
	EINVAL_STR("v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 RTP/AVP 0\r\n");
	/* a host name where an address belongs: resolving would block */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 media.example.com\r\nt=0 0\r\n"
		   "m=audio 4000 RTP/AVP 0\r\n");
	/* multicast */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 224.2.1.1/127\r\nt=0 0\r\n"
		   "m=audio 4000 RTP/AVP 0\r\n");
	/* port out of range */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 99999 RTP/AVP 0\r\n");
	/* a=rtcp that is not a port */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 RTP/AVP 0\r\na=rtcp:abc\r\n");
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 host.x\r\n");
	/* sofia 1.12.11 loops forever on these m= lines: refused first */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 RT /AVP 0 8\r\n");
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 RT\t/AVP 0 8\r\n");
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 X/Y a(b\r\n");
	/* an address where a format belongs: refused, not printed */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
		   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
		   "m=audio 4000 X/Y 198.51.100.23\r\n");
	/* no c= for the stream */
	EINVAL_STR("v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
		   "m=audio 4000 RTP/AVP 0\r\n");

	/* too large */
	big = malloc(SDP_BODY_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', SDP_BODY_MAX + 1);
	big[SDP_BODY_MAX + 1] = '\0';
	EINVAL_STR(big);

	/* absurd but bounded: a huge format list and a very long line */
	strcpy(big, "v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4"
	       "\r\nt=0 0\r\nm=audio 4000 RTP/AVP");
	for (i = strlen(big); i < 60000; i += 4)
		memcpy(big + i, " 96 ", 4);
	big[i] = '\0';
	strcat(big, "\r\na=x:");
	for (i = strlen(big); i < SDP_BODY_MAX - 8; i++)
		big[i] = 'z';
	big[i] = '\0';
	strcat(big, "\r\n");
	{
		struct sdp_origin o = { 0 };
		char *out = NULL;
		size_t len;
		int rc = sdp_rewrite(big, strlen(big), ADV, PORT, &o, &out,
				     &len, NULL);

		assert_true(rc == 0 || rc == EINVAL);
		free(out);
	}
	free(big);
}

/*
 * A few thousand random mutations of good SDP (bytes flipped, lines cut
 * or doubled): each either parses into something masked or is refused;
 * none crashes (run under ASan in CI).
 */
static const char offer_rich[] =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 " PARTY_IP "\r\n"
	"s=call\r\ni=info\r\nu=http://x/\r\ne=a@b\r\np=+1 415\r\n"
	"c=IN IP4 " PARTY_IP "\r\nb=AS:64\r\nt=0 0\r\nr=7d 1h 0 25h\r\n"
	"z=2882844526 -1h 2898848070 0\r\nk=clear:abc\r\n"
	"a=ice-ufrag:F7gI\r\na=group:BUNDLE 0 1\r\n"
	"m=audio " PARTY_PORT " RTP/AVP 0 8 101\r\ni=m info\r\n"
	"c=IN IP4 198.51.100.78\r\nb=TIAS:64000\r\nk=prompt\r\n"
	"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-16\r\na=rtcp:49171 IN IP4 " PARTY_IP "\r\n"
	"a=candidate:1 1 UDP 2130706431 203.0.113.11 8998 typ host\r\n"
	"a=sendonly\r\na=ssrc:1 cname:x@" PARTY_IP "\r\n"
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
	"m=image 4000 udptl t38\r\na=T38FaxVersion:0\r\n"
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

static void test_mutations(void **state)
{
	const char *seed_sdp;
	char buf[4096];
	unsigned seed = 12345, i, j, n;
	size_t len;

	for (i = 0; i < 20000; i++) {
		struct sdp_origin o = { 0 };
		char *out = NULL;
		size_t outlen;
		int rc;

		seed_sdp = i % 2 ? offer_rich : offer_pcmu;
		len = strlen(seed_sdp);
		memcpy(buf, seed_sdp, len);
		n = 1 + rand_r(&seed) % 8;
		for (j = 0; j < n; j++) {
			size_t at = (size_t)rand_r(&seed) % len;

			switch (rand_r(&seed) % 4) {
			case 0:		/* flip a byte */
				buf[at] = (char)(rand_r(&seed) % 255 + 1);
				break;
			case 1:		/* cut the rest */
				len = at ? at : 1;
				break;
			case 2:		/* double a slice */
				if (len + 40 < sizeof(buf)) {
					memmove(buf + at + 40, buf + at,
						len - at);
					len += 40;
				}
				break;
			default:	/* a digit run */
				buf[at] = (char)('0' + rand_r(&seed) % 10);
				break;
			}
		}

		rc = sdp_rewrite(buf, len, ADV, PORT, &o, &out, &outlen,
				 NULL);
		assert_true(rc == 0 || rc == EINVAL);
		if (!rc) {
			assert_lacks(out, PARTY_IP);
			assert_lacks(out, "198.51.100.78");
			assert_lacks(out, "203.0.113.11");
			assert_lacks(out, "alice");
		}
		free(out);
	}
}

static void test_args(void **state)
{
	struct sdp_origin o = { 0 };
	char *out = NULL;
	size_t len;

	assert_int_equal(sdp_rewrite(NULL, 0, ADV, PORT, &o, &out, &len,
				     NULL), EINVAL);
	assert_int_equal(sdp_rewrite(offer_pcmu, strlen(offer_pcmu), ADV, 0,
				     &o, &out, &len, NULL), EINVAL);
	assert_int_equal(sdp_rewrite(offer_pcmu, strlen(offer_pcmu), ADV,
				     PORT, NULL, &out, &len, NULL), EINVAL);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offer_pcmu),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_hold_sendonly),
		cmocka_unit_test(test_hold_0000),
		cmocka_unit_test(test_rtcp_attr),
		cmocka_unit_test(test_ice_mux),
		cmocka_unit_test(test_multiple_m),
		cmocka_unit_test(test_all_rejected),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
