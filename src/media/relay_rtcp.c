/*
 * relay_rtcp.c - scrubbing what RTCP says about the party that sent it
 * (see rtcp.h for why).
 *
 * Runs on a relay worker for every RTCP packet, so it allocates nothing
 * and walks the packet at most twice: once to prove the framing sound,
 * once to write. Writing only after a full check means a packet we do
 * not understand is never half rewritten.
 */
#include <stdbool.h>

#include "maskd/rtcp.h"

#define RTCP_PT_SDES 202
#define RTCP_PT_BYE 203
#define RTCP_SDES_END 0
#define RTCP_SDES_PRIV 8

static uint32_t rtcp_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Overwrite @n bytes at @p with the hex digits of @ssrc, over and over. */
static void rtcp_fill(uint8_t *p, size_t n, uint32_t ssrc)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)hex[(ssrc >> (28 - 4 * (i % 8))) & 0xf];
}

/*
 * The chunks of one SDES packet: @count of them in @p .. @end, each an
 * SSRC, items (type, length, text) up to a null item, then padding to
 * the next 32-bit word - counted from @base, the packet's first byte.
 * Returns the texts overwritten (@write) or found, -1 when malformed.
 */
static int rtcp_sdes(const uint8_t *base, uint8_t *p, const uint8_t *end,
		     unsigned count, bool write)
{
	uint32_t ssrc;
	size_t ilen;
	int n = 0;

	while (count--) {
		if (end - p < 4)
			return -1;
		ssrc = rtcp_be32(p);
		p += 4;
		for (;;) {
			if (p >= end)
				return -1;
			if (*p == RTCP_SDES_END)
				break;
			if (end - p < 2)
				return -1;
			ilen = p[1];
			if ((size_t)(end - p - 2) < ilen)
				return -1;
			if (write && ilen) {
				/* PRIV: a prefix length, then prefix and
				 * value; an empty prefix keeps it a PRIV
				 * item no reader can overrun */
				if (*p == RTCP_SDES_PRIV) {
					p[2] = 0;
					rtcp_fill(p + 3, ilen - 1, ssrc);
				} else {
					rtcp_fill(p + 2, ilen, ssrc);
				}
			}
			n += ilen ? 1 : 0;
			p += 2 + ilen;
		}
		/* the null item, then up to the next word boundary */
		p++;
		while ((p - base) % 4) {
			if (p >= end)
				return -1;
			p++;
		}
	}
	return n;
}

/*
 * One BYE packet: @count SSRCs in @p .. @end, then maybe a length byte
 * and a reason. Returns as rtcp_sdes() does.
 */
static int rtcp_bye(uint8_t *p, const uint8_t *end, unsigned count,
		    bool write)
{
	uint32_t ssrc = 0;
	size_t rlen;

	if ((size_t)(end - p) < 4u * count)
		return -1;
	if (count)
		ssrc = rtcp_be32(p);
	p += 4u * count;
	if (p >= end)
		return 0;
	rlen = *p;
	if ((size_t)(end - p - 1) < rlen)
		return -1;
	if (write)
		rtcp_fill(p + 1, rlen, ssrc);
	return rlen ? 1 : 0;
}

/*
 * Walk the compound packet: every header version 2, every length inside
 * @len and the lengths adding up to exactly @len, padding (P bit) only on
 * the last packet and no longer than it. With @write, overwrite the
 * texts; without, only check.
 */
static int rtcp_walk(uint8_t *buf, size_t len, bool write)
{
	size_t off = 0, plen, body;
	unsigned count;
	int n = 0, k;

	if (len < RTCP_MIN_LEN)
		return -1;
	while (off < len) {
		if (len - off < 4 || (buf[off] & 0xc0) != 0x80)
			return -1;
		plen = ((size_t)buf[off + 2] << 8 | buf[off + 3]) * 4 + 4;
		if (plen > len - off)
			return -1;
		body = plen;
		if (buf[off] & 0x20) {
			/* padding: only the last packet, at least one byte,
			 * never into the header */
			if (off + plen != len || !buf[len - 1] ||
			    buf[len - 1] > plen - 4)
				return -1;
			body -= buf[len - 1];
		}
		count = buf[off] & 0x1f;
		k = 0;
		if (buf[off + 1] == RTCP_PT_SDES)
			k = rtcp_sdes(buf + off, buf + off + 4, buf + off + body,
				      count, write);
		else if (buf[off + 1] == RTCP_PT_BYE)
			k = rtcp_bye(buf + off + 4, buf + off + body, count,
				     write);
		if (k < 0)
			return -1;
		n += k;
		off += plen;
	}
	return n;
}

int rtcp_scrub(uint8_t *buf, size_t len)
{
	if (rtcp_walk(buf, len, false) < 0)
		return -1;
	return rtcp_walk(buf, len, true);
}
