/*
 * rtp.c - reading an RTP packet: see rtp.h. Hot path: no allocation.
 */
#include <errno.h>

#include "maskd/rtp.h"

static uint32_t rtp_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int rtp_parse(const uint8_t *pkt, size_t len, struct rtp_hdr *h,
	      const uint8_t **payload, size_t *plen)
{
	size_t off, end = len;

	if (len < RTP_HDR_SIZE || pkt[0] >> 6 != 2)
		return EBADMSG;

	off = RTP_HDR_SIZE + 4u * (pkt[0] & 0x0f);	/* CSRCs */
	if (pkt[0] & 0x10) {				/* extension */
		if (off + 4 > len)
			return EBADMSG;
		off += 4 + 4u * ((size_t)pkt[off + 2] << 8 | pkt[off + 3]);
	}
	if (pkt[0] & 0x20) {				/* padding */
		if (!pkt[len - 1] || pkt[len - 1] > len)
			return EBADMSG;
		end = len - pkt[len - 1];
	}
	if (off > end)
		return EBADMSG;

	h->pt = pkt[1] & 0x7f;
	h->marker = pkt[1] >> 7;
	h->seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
	h->ts = rtp_be32(pkt + 4);
	h->ssrc = rtp_be32(pkt + 8);
	*payload = pkt + off;
	*plen = end - off;
	return 0;
}
