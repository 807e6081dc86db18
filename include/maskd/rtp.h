/*
 * rtp.h - reading an RTP packet (RFC 3550 5.1) for the media sinks that
 * look inside one (the RFC 4733 receiver, the in-band DTMF detector).
 *
 * Pure functions on the caller's bytes: any thread, on the per-packet
 * path (no allocation, no lock, no syscall). The relay's own forwarding
 * never parses RTP; only sinks that consume it do.
 */
#ifndef MASKD_RTP_H
#define MASKD_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HDR_SIZE 12		/* the fixed header, before any CSRC */

/* The fixed header's fields, in host order. */
struct rtp_hdr {
	uint8_t pt;		/* payload type, 0..127 */
	bool marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
};

/*
 * rtp_parse() - the header and payload of RTP packet @pkt (@len bytes):
 * version 2, bounds checked against the CSRC list, the header extension
 * and the padding. Returns 0 with *h filled and *payload / *plen naming
 * the payload inside @pkt (borrowed: valid as long as @pkt), or EBADMSG
 * for anything that is not such a packet.
 */
int rtp_parse(const uint8_t *pkt, size_t len, struct rtp_hdr *h,
	      const uint8_t **payload, size_t *plen);

#endif
