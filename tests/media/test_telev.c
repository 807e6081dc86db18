/*
 * test_telev.c - the RFC 4733 receiver on packets built the way phones
 * send them: a start packet with the marker, refreshes with a growing
 * duration, the end packet three times; then the ways the network mangles
 * them (duplicates, losses, reordering, timestamp wrap) and garbage.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "maskd/relay.h"
#include "maskd/telev.h"

#define PT 101

struct got {
	char digits[64];
	size_t n;		/* stored */
	size_t all;		/* reported, stored or not */
	uint32_t ssrc[64];
	uint32_t ts[64];
	int detached;
};

static void on_digit(char d, uint32_t ssrc, uint32_t ts, void *arg)
{
	struct got *g = arg;

	/* every digit reported is one of the sixteen */
	assert_true(d && strchr("0123456789*#ABCD", d));
	g->all++;
	if (g->n == sizeof(g->digits) - 1)
		return;
	g->ssrc[g->n] = ssrc;
	g->ts[g->n] = ts;
	g->digits[g->n++] = d;
	g->digits[g->n] = 0;
}

/* One telephone-event packet. */
static size_t ev_make(uint8_t *p, uint8_t pt, bool marker, uint16_t seq,
		      uint32_t ts, uint32_t ssrc, uint8_t event, bool end,
		      uint16_t duration)
{
	p[0] = 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
	p[12] = event;
	p[13] = (uint8_t)((end ? 0x80 : 0) | 10);	/* volume -10 dBm0 */
	p[14] = (uint8_t)(duration >> 8);
	p[15] = (uint8_t)duration;
	return 16;
}

/* A whole event as a phone sends it: start, two refreshes, end x3.
 * Returns the next sequence number. */
static uint16_t press(struct telev *t, uint16_t seq, uint32_t ts,
		      uint32_t ssrc, uint8_t event)
{
	uint8_t p[16];
	size_t len;
	int i;

	len = ev_make(p, PT, true, seq++, ts, ssrc, event, false, 160);
	assert_int_equal(telev_input(t, p, len), 0);
	len = ev_make(p, PT, false, seq++, ts, ssrc, event, false, 320);
	assert_int_equal(telev_input(t, p, len), 0);
	len = ev_make(p, PT, false, seq++, ts, ssrc, event, false, 480);
	assert_int_equal(telev_input(t, p, len), 0);
	for (i = 0; i < 3; i++) {
		len = ev_make(p, PT, false, seq++, ts, ssrc, event, true, 640);
		assert_int_equal(telev_input(t, p, len), 0);
	}
	return seq;
}

static struct telev *telev_new(struct got *g)
{
	struct telev *t = NULL;

	memset(g, 0, sizeof(*g));
	assert_int_equal(telev_alloc(&t, PT, on_digit, g), 0);
	return t;
}

static void test_triple_end(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);

	(void)state;
	press(t, 1000, 8000, 0x11223344, 5);
	assert_string_equal(g.digits, "5");
	assert_int_equal(g.ssrc[0], 0x11223344);
	assert_int_equal(g.ts[0], 8000);
	telev_free(t);
}

static void test_all_digits(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	uint16_t seq = 1;
	uint8_t e;

	(void)state;
	for (e = 0; e < 16; e++)
		seq = press(t, seq, 1600u * (e + 1), 7, e);
	assert_string_equal(g.digits, "0123456789*#ABCD");
	telev_free(t);
}

static void test_duplicates(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	uint8_t p[16];
	size_t len;

	(void)state;
	/* the network duplicates the whole event: still one digit */
	press(t, 10, 16000, 9, 1);
	press(t, 10, 16000, 9, 1);
	assert_string_equal(g.digits, "1");

	/* the same key pressed again is a new event: a new timestamp */
	press(t, 20, 24000, 9, 1);
	assert_string_equal(g.digits, "11");

	/* a stray duplicate of the first event's end after the second:
	 * older than the last reported, not a digit again */
	len = ev_make(p, PT, false, 15, 16000, 9, 1, true, 640);
	assert_int_equal(telev_input(t, p, len), 0);
	assert_string_equal(g.digits, "11");
	telev_free(t);
}

static void test_split_and_lost(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	uint8_t p[200];
	size_t len;
	int i;

	(void)state;
	/* an event spread over many packets, audio in between: the audio
	 * is not ours, the event is one digit */
	for (i = 0; i < 10; i++) {
		len = ev_make(p, PT, i == 0, (uint16_t)(100 + 2 * i), 4000, 3,
			      11, false, (uint16_t)(160 * (i + 1)));
		assert_int_equal(telev_input(t, p, len), 0);
		len = ev_make(p, 0, false, (uint16_t)(101 + 2 * i),
			      (uint32_t)(4000 + 160 * i), 3, 11, false, 0);
		memset(p + 12, 0xff, 160);
		assert_int_equal(telev_input(t, p, 172), ENOENT);
	}
	assert_string_equal(g.digits, "#");

	/* start and refreshes lost: the end packets alone give the digit,
	 * once */
	for (i = 0; i < 3; i++) {
		len = ev_make(p, PT, false, (uint16_t)(200 + i), 9000, 3, 12,
			      true, 800);
		assert_int_equal(telev_input(t, p, len), 0);
	}
	assert_string_equal(g.digits, "#A");

	/* only the first end packet arrives */
	len = ev_make(p, PT, false, 300, 12000, 3, 0, true, 800);
	assert_int_equal(telev_input(t, p, len), 0);
	assert_string_equal(g.digits, "#A0");
	telev_free(t);
}

static void test_timestamp_wrap(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	uint8_t p[16];
	size_t len;

	(void)state;
	press(t, 65530, 0xfffffe00u, 42, 7);
	/* 0x100 is after 0xfffffe00 modulo 2^32 */
	press(t, 65536 - 2, 0x00000100u, 42, 8);
	assert_string_equal(g.digits, "78");

	/* a late end of the event before the wrap: older, ignored */
	len = ev_make(p, PT, false, 1, 0xfffffe00u, 42, 7, true, 640);
	assert_int_equal(telev_input(t, p, len), 0);
	press(t, 10, 0x00000900u, 42, 9);
	assert_string_equal(g.digits, "789");
	telev_free(t);
}

static void test_ssrcs(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	uint32_t s;

	(void)state;
	/* another stream with the same timestamp is another event */
	press(t, 1, 5000, 1, 2);
	press(t, 1, 5000, 2, 3);
	assert_string_equal(g.digits, "23");

	/* more streams than remembered: the least recent is forgotten, the
	 * others still deduplicate */
	for (s = 3; s < 3 + TELEV_SSRC_MAX; s++)
		press(t, 1, 6000, s, 4);
	assert_int_equal(g.n, 2 + TELEV_SSRC_MAX);
	press(t, 1, 6000, 2 + TELEV_SSRC_MAX, 4);
	assert_int_equal(g.n, 2 + TELEV_SSRC_MAX);
	telev_free(t);
}

static void test_not_digits(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);

	(void)state;
	/* flash (16) and a tone (70): consumed, no digit */
	press(t, 1, 1000, 5, 16);
	press(t, 10, 2000, 5, 70);
	press(t, 20, 3000, 5, 255);
	assert_int_equal(g.n, 0);
	assert_int_equal(telev_digit(15), 'D');
	assert_int_equal(telev_digit(16), 0);
	telev_free(t);
}

static void test_garbage(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	uint8_t p[64];
	size_t len, i;
	uint32_t x = 12345;
	int err;

	(void)state;
	len = ev_make(p, PT, true, 1, 100, 1, 5, false, 160);

	/* short of a header; not version 2 */
	assert_int_equal(telev_input(t, p, 11), EBADMSG);
	assert_int_equal(telev_input(t, p, 0), EBADMSG);
	p[0] = 0x40;
	assert_int_equal(telev_input(t, p, len), EBADMSG);
	p[0] = 0x80;

	/* payload shorter than an event */
	assert_int_equal(telev_input(t, p, 15), EBADMSG);

	/* CSRC count past the end */
	p[0] = 0x8f;
	assert_int_equal(telev_input(t, p, len), EBADMSG);
	/* an extension header claiming more than there is */
	p[0] = 0x90;
	p[12] = 0xbe; p[13] = 0xde; p[14] = 0x00; p[15] = 0x10;
	assert_int_equal(telev_input(t, p, len), EBADMSG);
	/* padding longer than the packet, and padding of 0 */
	len = ev_make(p, PT, true, 1, 100, 1, 5, false, 160);
	p[0] = 0xa0;
	p[15] = 200;
	assert_int_equal(telev_input(t, p, len), EBADMSG);
	p[15] = 0;
	assert_int_equal(telev_input(t, p, len), EBADMSG);
	assert_int_equal(g.n, 0);

	/* with a CSRC, an extension and padding, all in bounds: a digit */
	memset(p, 0, sizeof(p));
	p[0] = 0x80 | 0x20 | 0x10 | 1;
	p[1] = PT;
	p[7] = 100;
	p[11] = 1;
	/* CSRC at 12..15, extension header 16..19 with one word 20..23 */
	p[19] = 1;
	p[24] = 6;		/* event '6' */
	p[28 + 3] = 4;	/* 4 bytes of padding at 28..31 */
	assert_int_equal(telev_input(t, p, 32), 0);
	assert_string_equal(g.digits, "6");

	/* random bytes: never a crash, only digits from the set */
	for (i = 0; i < 200000; i++) {
		size_t k, n;

		x = x * 1103515245u + 12345u;
		n = (x >> 16) % sizeof(p);
		for (k = 0; k < n; k++) {
			x = x * 1103515245u + 12345u;
			p[k] = (uint8_t)(x >> 16);
		}
		if (i & 1)
			p[1] = PT;	/* half of them on our type */
		err = telev_input(t, p, n);
		assert_true(err == 0 || err == ENOENT || err == EBADMSG);
	}
	/* and some were digits (the handler checked each) */
	assert_true(g.all > 1);
	telev_free(t);
}

static void on_detach(struct telev *t, void *arg)
{
	struct got *g = arg;

	g->detached++;
	telev_free(t);
}

static void test_sink(void **state)
{
	struct got g;
	struct telev *t = telev_new(&g);
	struct relay_sink *s;
	uint8_t p[16];
	size_t len;

	(void)state;
	s = telev_sink(t, on_detach, &g);
	assert_non_null(s);
	len = ev_make(p, PT, true, 1, 100, 1, 3, false, 160);
	/* what the relay says is RTCP is not looked at */
	s->ops->write(s, p, len, true, 0);
	assert_int_equal(g.n, 0);
	s->ops->write(s, p, len, false, 0);
	assert_string_equal(g.digits, "3");
	s->ops->detach(s);
	assert_int_equal(g.detached, 1);
}

static void test_bad_args(void **state)
{
	struct telev *t = NULL;
	struct got g;

	(void)state;
	assert_int_equal(telev_alloc(&t, 128, on_digit, &g), EINVAL);
	assert_int_equal(telev_alloc(&t, PT, NULL, &g), EINVAL);
	assert_int_equal(telev_alloc(NULL, PT, on_digit, &g), EINVAL);
	assert_int_equal(telev_input(NULL, (const uint8_t *)"", 0), EINVAL);
	assert_null(telev_sink(NULL, NULL, NULL));
	telev_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_triple_end),
		cmocka_unit_test(test_all_digits),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_split_and_lost),
		cmocka_unit_test(test_timestamp_wrap),
		cmocka_unit_test(test_ssrcs),
		cmocka_unit_test(test_not_digits),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
