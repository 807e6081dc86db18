/*
 * rtcp.h - what the media relay does to RTCP on its way through.
 *
 * RTCP carries text a party's stack writes about itself: the SDES CNAME
 * is typically "user@host" or the host's address, and NAME, EMAIL and
 * PHONE items may hold the very number maskd exists to hide. A relay that
 * forwards RTCP untouched undoes the masking of the SIP side, so every
 * such text is overwritten before the packet leaves.
 */
#ifndef MASKD_RTCP_H
#define MASKD_RTCP_H

#include <stddef.h>
#include <stdint.h>

/* The smallest RTCP packet: a header and an SSRC. */
#define RTCP_MIN_LEN 8

/*
 * rtcp_is_rtcp() - true when the datagram @buf of @len bytes looks like
 * RTCP rather than RTP (RFC 5761 section 4: a second byte of 192..223,
 * payload types RTP never uses), for RTCP multiplexed on the RTP port.
 * Cheap: two byte tests; it runs for every RTP packet.
 */
static inline int rtcp_is_rtcp(const uint8_t *buf, size_t len)
{
	return len >= RTCP_MIN_LEN && (buf[0] & 0xc0) == 0x80 &&
	       buf[1] >= 192 && buf[1] <= 223;
}

/*
 * rtcp_scrub() - overwrite, in place, the text of every SDES item
 * (CNAME, NAME, EMAIL, PHONE, LOC, TOOL, NOTE, PRIV) and of every BYE
 * reason in the compound RTCP packet @buf of @len bytes.
 *
 * Nothing is re-framed: each text keeps its length and is replaced by
 * characters derived from its chunk's SSRC (which the other party sees
 * anyway), so a source keeps one stable CNAME, as RFC 3550 wants for
 * lip-sync, and learns nothing new. Report blocks and timestamps are left
 * alone: they describe the media, not the party.
 *
 * The packet is first checked as RFC 3550 appendix A.2 does (version 2,
 * every length inside @buf and adding up to @len, padding only on the
 * last packet) and left untouched when it fails: SRTCP, whose body is
 * encrypted and ends in an authentication tag, fails it, and writing into
 * it would only corrupt a packet nobody on the path can read.
 *
 * Returns the number of texts overwritten (0 or more), or -1 when @buf is
 * not compound RTCP maskd can walk (and was not changed).
 */
int rtcp_scrub(uint8_t *buf, size_t len);

#endif
