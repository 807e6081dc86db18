/*
 * sdp.h - rewrite one party's SDP into the SDP the other party receives,
 * so that it names only maskd: its address, its relay ports, its own
 * origin. Parsed and printed with sofia-sip's SDP parser/printer, never by
 * editing text.
 *
 * Runs on the SIP thread (any single thread: there is no shared state).
 * Each call keeps one struct sdp_origin per leg, the o= line maskd shows
 * that leg's party.
 *
 * What the rewrite does, for every offer and answer, both ways:
 *   o=   username "maskd", the leg's own session id, and a version that
 *        goes up by one whenever the body sent to that leg changes (a
 *        repeated body keeps its version, RFC 3264 section 8);
 *        address = the advertised address
 *   s=   "-"; i= u= e= p= removed (free text, URIs, mail, phone numbers)
 *   c=   the advertised address; an unspecified address (c=0.0.0.0, the
 *        old way to hold) stays unspecified, in the advertised family
 *   m=   maskd relays ONE stream per call, the first m= line with a
 *        nonzero port and a UDP-based transport: its port becomes the
 *        relay port facing the receiving party. Every other m= line is
 *        kept with port 0 (disabled), so offer and answer keep the same
 *        lines; a stream that was already port 0 stays 0.
 *   a=rtcp          rewritten to the relay's RTCP port (port + 1) and
 *                   address
 *   a=rtcp-mux      removed (also rtcp-mux-only): each side then sends
 *                   RTCP to its own odd port, which the relay relays, and
 *                   a muxing party and a non-muxing one still meet
 *   ICE             a=candidate, a=ice-*, a=end-of-candidates,
 *                   a=remote-candidates removed: maskd is the media
 *                   anchor, a candidate would name the party's address
 *   a=group         removed (BUNDLE cannot span one relayed stream)
 *   any other a= line whose value contains one of the party's addresses
 *   (a=ssrc ... cname:user@10.0.0.1, say) is removed
 *   Codecs, a=rtpmap, a=fmtp, telephone-event (RFC 4733), a=ptime,
 *   a=crypto, b=, t= and the direction attributes (sendonly, recvonly,
 *   inactive) pass through unchanged.
 */
#ifndef MASKD_SDP_H
#define MASKD_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Bodies larger than this are refused (EINVAL). */
#define SDP_BODY_MAX 65536

/*
 * The o= line maskd shows one party. Zero-initialise it with the call;
 * sdp_rewrite() picks the session id on first use. Owned by the SIP
 * call, used on the SIP thread only.
 */
struct sdp_origin {
	uint64_t id;		/* o= sess-id; 0 = not chosen yet */
	uint64_t version;	/* o= sess-version last sent */
	uint64_t hash;		/* of the last body sent, to see a change */
};

/*
 * Where the sending party wants its media, for relay_call_set_remote().
 * rtp.ss_family is AF_UNSPEC when no stream is relayed (no m= line with a
 * port, or every stream rejected): pass NULL then, which stops media
 * towards that party. rtcp.ss_family is AF_UNSPEC when the SDP has no
 * a=rtcp (RTCP then goes to the RTP port + 1: pass NULL). A copy; the
 * caller owns it.
 */
struct sdp_remote {
	struct sockaddr_storage rtp;
	struct sockaddr_storage rtcp;
	bool hold;		/* sendonly, recvonly, inactive or c=0.0.0.0 */
};

/*
 * sdp_rewrite() - the SDP that the other party receives.
 *
 * @body/@len is the SDP as received from one party. @address is maskd's
 * advertised IP address (literal IPv4 or IPv6), @port the relay's RTP
 * port on the leg facing the RECEIVING party (its RTCP port is @port + 1).
 * @origin is the receiving leg's o= state; it is updated only on success.
 *
 * Returns 0 with a NUL-terminated body in *outp (malloc'd: the caller
 * frees it) of *outlenp bytes, and the sending party's media address in
 * *remote (NULL-ok). Returns EINVAL for a body that is not usable SDP
 * (the SIP side answers 488 to an offer, or ends the call on an answer),
 * ENOMEM, or EAFNOSUPPORT when @address is not an IP address. Never
 * crashes on hostile input: the body is only ever read by sofia's parser.
 */
int sdp_rewrite(const char *body, size_t len, const char *address,
		uint16_t port, struct sdp_origin *origin, char **outp,
		size_t *outlenp, struct sdp_remote *remote);

#endif
