/*
 * test_rtcp.c - the RTCP scrubber: what a party's RTCP says of itself
 * (SDES items, BYE reasons) never reaches the other party, the framing is
 * untouched, and packets that do not walk as RTCP are left as they came.
 *
 * The packets are built here byte by byte, the way a SIP phone or a
 * gateway sends them (SR or RR first, then SDES with a CNAME of the form
 * user@host, sometimes NAME and PHONE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "maskd/rtcp.h"

struct pkt {
	uint8_t b[512];
	size_t len;
	size_t start;	/* where the packet being built began */
};

static void put8(struct pkt *p, uint8_t v)
{
	assert_true(p->len < sizeof(p->b));
	p->b[p->len++] = v;
}

static void put32(struct pkt *p, uint32_t v)
{
	put8(p, (uint8_t)(v >> 24));
	put8(p, (uint8_t)(v >> 16));
	put8(p, (uint8_t)(v >> 8));
	put8(p, (uint8_t)v);
}

static void begin(struct pkt *p, uint8_t count, uint8_t pt)
{
	p->start = p->len;
	put8(p, (uint8_t)(0x80 | count));
	put8(p, pt);
	put8(p, 0);
	put8(p, 0);
}

/* Pad to a word and write the length field of the packet being built. */
static void end(struct pkt *p)
{
	size_t words;

	while ((p->len - p->start) % 4)
		put8(p, 0);
	words = (p->len - p->start) / 4 - 1;
	p->b[p->start + 2] = (uint8_t)(words >> 8);
	p->b[p->start + 3] = (uint8_t)words;
}

static void sr(struct pkt *p, uint32_t ssrc)
{
	begin(p, 0, 200);
	put32(p, ssrc);
	put32(p, 0x83aa7e80);	/* NTP seconds */
	put32(p, 0x12345678);	/* NTP fraction */
	put32(p, 160);		/* RTP timestamp */
	put32(p, 10);		/* packets */
	put32(p, 1600);		/* octets */
	end(p);
}

static void item(struct pkt *p, uint8_t type, const char *text)
{
	size_t i, n = strlen(text);

	put8(p, type);
	put8(p, (uint8_t)n);
	for (i = 0; i < n; i++)
		put8(p, (uint8_t)text[i]);
}

/* The end of a chunk's items: a null item, then up to the next word. */
static void chunk_end(struct pkt *p)
{
	put8(p, 0);
	while ((p->len - p->start) % 4)
		put8(p, 0);
}

static int contains(const struct pkt *p, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= p->len; i++)
		if (!memcmp(p->b + i, s, n))
			return 1;
	return 0;
}

/* Only the text bytes may change: same length, same bytes elsewhere. */
static void assert_only_text_changed(const struct pkt *before,
				     const struct pkt *after,
				     const size_t *text_off, size_t ntext)
{
	size_t i, k;
	int in_text;

	assert_int_equal(before->len, after->len);
	for (i = 0; i < before->len; i++) {
		in_text = 0;
		for (k = 0; k < ntext; k += 2)
			if (i >= text_off[k] && i < text_off[k] + text_off[k + 1])
				in_text = 1;
		if (!in_text)
			assert_int_equal(before->b[i], after->b[i]);
	}
}

/* SR + SDES(CNAME, NAME, PHONE): every text replaced, nothing else. */
static void test_sdes_scrubbed(void **state)
{
	struct pkt p = { .len = 0 }, orig;
	size_t texts[6];
	uint32_t ssrc = 0x1a2b3c4d;

	(void)state;
	sr(&p, ssrc);
	begin(&p, 1, 202);
	put32(&p, ssrc);
	texts[0] = p.len + 2; texts[1] = strlen("alice@192.0.2.10");
	item(&p, 1, "alice@192.0.2.10");
	texts[2] = p.len + 2; texts[3] = strlen("+14155550123");
	item(&p, 2, "+14155550123");
	texts[4] = p.len + 2; texts[5] = strlen("tel:+14155550123");
	item(&p, 4, "tel:+14155550123");
	chunk_end(&p);
	end(&p);
	orig = p;

	assert_int_equal(rtcp_scrub(p.b, p.len), 3);
	assert_false(contains(&p, "192.0.2.10"));
	assert_false(contains(&p, "alice"));
	assert_false(contains(&p, "4155550123"));
	assert_only_text_changed(&orig, &p, texts, 6);
	/* the replacement is the SSRC in hex: stable per source */
	assert_memory_equal(p.b + texts[0], "1a2b3c4d1a2b3c4d", 16);

	/* scrubbing again gives the same bytes (stable CNAME) */
	orig = p;
	assert_int_equal(rtcp_scrub(p.b, p.len), 3);
	assert_memory_equal(orig.b, p.b, p.len);
}

/* RR + SDES with two chunks, the last packet padded; BYE with reason. */
static void test_two_chunks_bye_padding(void **state)
{
	struct pkt p = { .len = 0 };
	size_t pad;

	(void)state;
	begin(&p, 0, 201);
	put32(&p, 0x01020304);
	end(&p);

	begin(&p, 2, 202);
	put32(&p, 0x11111111);
	item(&p, 1, "bob@example.net");
	chunk_end(&p);
	put32(&p, 0x22222222);
	item(&p, 1, "x");
	item(&p, 6, "Gateway/1.0 at 198.51.100.7");
	chunk_end(&p);
	end(&p);

	begin(&p, 1, 203);
	put32(&p, 0x33333333);
	put8(&p, (uint8_t)strlen("hung up by +14155550123"));
	for (const char *c = "hung up by +14155550123"; *c; c++)
		put8(&p, (uint8_t)*c);
	end(&p);
	/* four bytes of padding on the last packet (P bit, count last) */
	for (pad = 0; pad < 3; pad++)
		put8(&p, 0);
	put8(&p, 4);
	p.b[p.start] |= 0x20;
	p.b[p.start + 3] += 1;

	assert_int_equal(rtcp_scrub(p.b, p.len), 4);
	assert_false(contains(&p, "example.net"));
	assert_false(contains(&p, "198.51.100.7"));
	assert_false(contains(&p, "4155550123"));
	assert_true(contains(&p, "33333333"));	/* BYE reason: its SSRC */
}

/* PRIV: the prefix length is zeroed, so no reader can overrun the item. */
static void test_priv(void **state)
{
	struct pkt p = { .len = 0 };
	size_t at;

	(void)state;
	sr(&p, 7);
	begin(&p, 1, 202);
	put32(&p, 7);
	at = p.len;
	/* PRIV item: prefix length 4, prefix "host", value "1.2.3.4" */
	put8(&p, 8);
	put8(&p, 12);
	put8(&p, 4);
	for (const char *c = "host1.2.3.4"; *c; c++)
		put8(&p, (uint8_t)*c);
	chunk_end(&p);
	end(&p);

	assert_int_equal(rtcp_scrub(p.b, p.len), 1);
	assert_int_equal(p.b[at], 8);
	assert_int_equal(p.b[at + 1], 12);
	assert_int_equal(p.b[at + 2], 0);
	assert_false(contains(&p, "host"));
	assert_false(contains(&p, "1.2.3.4"));
}

/* Anything that does not walk as RTCP is left exactly as it came. */
static void test_malformed_untouched(void **state)
{
	struct pkt good = { .len = 0 }, p;
	uint8_t junk[14] = "\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc";

	(void)state;
	sr(&good, 9);
	begin(&good, 1, 202);
	put32(&good, 9);
	item(&good, 1, "carol@203.0.113.5");
	chunk_end(&good);
	end(&good);

	/* truncated anywhere but after the SR (28 bytes: a whole SR alone,
	 * with no text to scrub) */
	for (size_t n = 0; n < good.len; n++) {
		p = good;
		assert_int_equal(rtcp_scrub(p.b, n), n == 28 ? 0 : -1);
		assert_memory_equal(p.b, good.b, good.len);
	}

	/* SRTCP-like: the compound, then an index and an auth tag */
	p = good;
	memcpy(p.b + p.len, junk, sizeof(junk));
	p.len += sizeof(junk);
	assert_int_equal(rtcp_scrub(p.b, p.len), -1);
	assert_true(contains(&p, "carol@203.0.113.5"));

	/* an item longer than its packet */
	p = good;
	p.b[28 + 8 + 1] = 200;
	assert_int_equal(rtcp_scrub(p.b, p.len), -1);
	assert_true(contains(&p, "carol@203.0.113.5"));

	/* version 1 in the second header */
	p = good;
	p.b[28] = (uint8_t)((p.b[28] & 0x3f) | 0x40);
	assert_int_equal(rtcp_scrub(p.b, p.len), -1);

	/* padding on a packet that is not the last */
	p = good;
	p.b[0] |= 0x20;
	assert_int_equal(rtcp_scrub(p.b, p.len), -1);

	/* chunk count above what the packet holds */
	p = good;
	p.b[28] = (uint8_t)((p.b[28] & 0xe0) | 2);
	assert_int_equal(rtcp_scrub(p.b, p.len), -1);
	assert_true(contains(&p, "carol@203.0.113.5"));
}

/* RTP and RTCP muxed on one port are told apart by the second byte. */
static void test_is_rtcp(void **state)
{
	uint8_t rtp[12] = { 0x80, 0x00 }, rtp_m[12] = { 0x80, 0xe5 };
	uint8_t sr_[8] = { 0x80, 200 }, app[8] = { 0x81, 204 };

	(void)state;
	assert_false(rtcp_is_rtcp(rtp, sizeof(rtp)));
	assert_false(rtcp_is_rtcp(rtp_m, sizeof(rtp_m)));	/* PT 101, M */
	assert_true(rtcp_is_rtcp(sr_, sizeof(sr_)));
	assert_true(rtcp_is_rtcp(app, sizeof(app)));
	assert_false(rtcp_is_rtcp(sr_, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdes_scrubbed),
		cmocka_unit_test(test_two_chunks_bye_padding),
		cmocka_unit_test(test_priv),
		cmocka_unit_test(test_malformed_untouched),
		cmocka_unit_test(test_is_rtcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
