/*
 * test_dtmf_inband.c - in-band DTMF detection on real tones: the test
 * synthesises each key as its two ITU-T Q.23 sines at 8 kHz, encodes
 * them to G.711 with its own encoder (not spandsp's, so that the
 * detector's decoding is checked against an independent one), cuts the
 * audio into RTP packets and feeds them in, cleanly and the ways the
 * network mangles them; then speech-like noise and single tones that must
 * not be heard as keys, garbage, and a detector tapped onto a real relay
 * call over UDP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

/* the decoder the detector uses, to check the test's encoder against */
#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>

#include "maskd/config.h"
#include "maskd/dtmf_inband.h"
#include "maskd/relay.h"

#define RATE 8000
#define PKT_SAMPLES 160		/* 20 ms */
#define AUDIO_MAX (RATE * 4)	/* 4 s: the longest signal built */
#define AMP 7000.0		/* each sine about -10 dBm0 */

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* --- the signal ----------------------------------------------------- */

/* The two frequencies of @key (Q.23): row (low) and column (high). */
static void key_freqs(char key, double *low, double *high)
{
	static const char keys[] = "123A456B789C*0#D";
	static const double rows[] = { 697, 770, 852, 941 };
	static const double cols[] = { 1209, 1336, 1477, 1633 };
	const char *p = strchr(keys, key);

	assert_non_null(p);
	*low = rows[(p - keys) / 4];
	*high = cols[(p - keys) % 4];
}

struct audio {
	int16_t s[AUDIO_MAX];
	size_t n;
};

static void add_silence(struct audio *a, int ms)
{
	size_t n = (size_t)ms * RATE / 1000;

	assert_true(a->n + n <= AUDIO_MAX);
	memset(a->s + a->n, 0, n * sizeof(a->s[0]));
	a->n += n;
}

/* @ms of sines at @f1 and @f2 (0 = none), each at amplitude @amp. */
static void add_tone(struct audio *a, double f1, double f2, double amp,
		     int ms)
{
	size_t i, n = (size_t)ms * RATE / 1000;
	double v;

	assert_true(a->n + n <= AUDIO_MAX);
	for (i = 0; i < n; i++) {
		v = amp * sin(2 * M_PI * f1 * (double)i / RATE);
		if (f2 > 0)
			v += amp * sin(2 * M_PI * f2 * (double)i / RATE);
		a->s[a->n + i] = (int16_t)lrint(v);
	}
	a->n += n;
}

/* @keys as a phone dials them: @on ms of tone, @off ms of silence. */
static void add_keys(struct audio *a, const char *keys, int on, int off)
{
	double lo, hi;

	for (; *keys; keys++) {
		key_freqs(*keys, &lo, &hi);
		add_tone(a, lo, hi, AMP, on);
		add_silence(a, off);
	}
}

/* --- G.711, the test's own encoder (ITU-T G.711 tables' segments) --- */

static uint8_t ulaw_enc(int16_t pcm)
{
	int x = pcm, sign = 0, seg, mant;

	if (x < 0) {
		x = -x;
		sign = 0x80;
	}
	if (x > 32635)
		x = 32635;
	x += 0x84;		/* bias: every segment starts at a power of 2 */
	for (seg = 7; seg > 0 && !(x & (0x80 << seg)); seg--)
		;
	mant = (x >> (seg + 3)) & 0x0f;
	return (uint8_t)~(sign | seg << 4 | mant);
}

static uint8_t alaw_enc(int16_t pcm)
{
	int x = pcm, mask = 0xd5, seg, v;

	if (x < 0) {
		x = -x - 1;
		mask = 0x55;
	}
	for (seg = 0; seg < 8 && x > (0xff << seg | ((1 << seg) - 1)); seg++)
		;
	if (seg == 8)
		return (uint8_t)(0x7f ^ mask);
	v = seg << 4 | ((seg < 2 ? x >> 4 : x >> (seg + 3)) & 0x0f);
	return (uint8_t)(v ^ mask);
}

/* --- RTP -------------------------------------------------------------- */

static size_t rtp_hdr(uint8_t *p, uint8_t pt, uint16_t seq, uint32_t ts,
		      uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = pt;
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
	return 12;
}

/* Packet @k of @a: @per samples from sample k * per, G.711 for @pt. */
static size_t pkt_make(uint8_t *p, const struct audio *a, size_t k,
		       size_t per, uint8_t pt, uint32_t ssrc)
{
	size_t i, off = k * per, n;

	n = off + per <= a->n ? per : a->n - off;
	rtp_hdr(p, pt, (uint16_t)(1000 + k), (uint32_t)(50000 + off), ssrc);
	for (i = 0; i < n; i++)
		p[12 + i] = pt == 8 ? alaw_enc(a->s[off + i])
				    : ulaw_enc(a->s[off + i]);
	return 12 + n;
}

static size_t pkt_count(const struct audio *a, size_t per)
{
	return (a->n + per - 1) / per;
}

/* --- what the detector reports ---------------------------------------- */

struct got {
	char digits[64];
	uint32_t ts[64];
	size_t n;
	int detached;
};

static void on_digit(char d, uint32_t ssrc, uint32_t ts, void *arg)
{
	struct got *g = arg;

	assert_true(d && strchr("0123456789*#ABCD", d));
	assert_int_equal(ssrc, 0x5eed);
	assert_true(g->n < sizeof(g->digits) - 1);
	g->ts[g->n] = ts;
	g->digits[g->n++] = d;
	g->digits[g->n] = 0;
}

static struct dtmf_inband *det_new(uint8_t pt, struct got *g)
{
	struct dtmf_inband *d = NULL;

	memset(g, 0, sizeof(*g));
	assert_int_equal(dtmf_inband_alloc(&d, pt, on_digit, g), 0);
	return d;
}

/* Feed all of @a in packets of @per samples, except those for which
 * @lost[k] is set (NULL: none). */
static void feed(struct dtmf_inband *d, const struct audio *a, size_t per,
		 uint8_t pt, const bool *lost)
{
	uint8_t p[12 + 480];
	size_t k, len;

	assert_true(per <= 480);
	for (k = 0; k < pkt_count(a, per); k++) {
		if (lost && lost[k])
			continue;
		len = pkt_make(p, a, k, per, pt, 0x5eed);
		assert_int_equal(dtmf_inband_input(d, p, len), 0);
	}
}

static struct audio audio;	/* too large for a test's stack */

/* --- tests ------------------------------------------------------------ */

/* The test's encoders agree with the detector's decoder (spandsp's):
 * every value comes back within its segment's quantisation step, and
 * with its sign. */
static void test_encoder(void **state)
{
	int x, step;

	(void)state;
	for (x = -32768; x <= 32767; x++) {
		step = abs(x) < 512 ? 16 : abs(x) / 16 + 1;
		assert_true(abs(alaw_to_linear(alaw_enc((int16_t)x)) - x)
			    <= step);
		assert_true(abs(ulaw_to_linear(ulaw_enc((int16_t)x)) - x)
			    <= step);
	}
}

/* Every key, each once, in PCMU and in PCMA; each reported in a packet
 * of its own tone (or the one just after it). */
static void test_all_keys(void **state)
{
	static const char keys[] = "0123456789*#ABCD";
	static const uint8_t pts[] = { DTMF_INBAND_PCMU, DTMF_INBAND_PCMA };
	struct dtmf_inband *d;
	struct got g;
	uint32_t start;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(pts); i++) {
		d = det_new(pts[i], &g);
		audio.n = 0;
		add_silence(&audio, 100);
		add_keys(&audio, keys, 60, 60);
		add_silence(&audio, 200);
		feed(d, &audio, PKT_SAMPLES, pts[i], NULL);
		assert_string_equal(g.digits, keys);
		for (k = 0; k < g.n; k++) {
			/* key k's tone starts 100 + 120k ms in */
			start = 50000 + (uint32_t)(800 + 960 * k);
			assert_true(g.ts[k] >= start);
			assert_true(g.ts[k] < start + 480 + PKT_SAMPLES);
		}
		dtmf_inband_free(d);
	}
}

/* A PIN as a caller types it, in order; and the same key twice. */
static void test_string(void **state)
{
	struct dtmf_inband *d;
	struct got g;

	(void)state;
	d = det_new(DTMF_INBAND_PCMU, &g);
	audio.n = 0;
	add_silence(&audio, 40);
	add_keys(&audio, "1234#", 60, 60);
	add_keys(&audio, "55", 80, 60);
	feed(d, &audio, PKT_SAMPLES, DTMF_INBAND_PCMU, NULL);
	assert_string_equal(g.digits, "1234#55");
	dtmf_inband_free(d);
}

/* Tones that start and end inside packets, in packets of 10, 20, 30 and
 * 60 ms and of an odd 7 samples: the detector sees one stream. */
static void test_split(void **state)
{
	static const size_t pers[] = { 80, 160, 240, 480, 7 };
	struct dtmf_inband *d;
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pers) / sizeof(pers[0]); i++) {
		d = det_new(DTMF_INBAND_PCMA, &g);
		audio.n = 0;
		add_silence(&audio, 37);	/* 296 samples: mid-packet */
		add_keys(&audio, "*0#", 65, 55);
		add_keys(&audio, "9D", 50, 45);
		feed(d, &audio, pers[i], DTMF_INBAND_PCMA, NULL);
		assert_string_equal(g.digits, "*0#9D");
		dtmf_inband_free(d);
	}
}

/* A packet lost in the middle of each tone, then two: one key each, and
 * a key pressed twice stays two keys. Duplicated and late packets are
 * dropped, not fed again. */
static void test_lost(void **state)
{
	static bool lost[AUDIO_MAX / PKT_SAMPLES];
	struct dtmf_inband *d;
	uint8_t p[12 + PKT_SAMPLES];
	struct got g;
	size_t k, len;

	(void)state;
	d = det_new(DTMF_INBAND_PCMU, &g);
	audio.n = 0;
	add_silence(&audio, 100);		/* packets 0-4 */
	add_keys(&audio, "77", 100, 100);	/* 5-9 tone, 10-14, 15-19, ... */
	add_keys(&audio, "3", 160, 100);	/* 25-32 tone */
	memset(lost, 0, sizeof(lost));
	lost[7] = true;
	lost[17] = true;
	lost[28] = lost[29] = true;
	feed(d, &audio, PKT_SAMPLES, DTMF_INBAND_PCMU, lost);
	assert_string_equal(g.digits, "773");
	dtmf_inband_free(d);

	/* every packet twice, and each one after the next too late */
	d = det_new(DTMF_INBAND_PCMU, &g);
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++) {
		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMU,
			       0x5eed);
		assert_int_equal(dtmf_inband_input(d, p, len), 0);
		assert_int_equal(dtmf_inband_input(d, p, len), 0);
		if (k > 0) {
			len = pkt_make(p, &audio, k - 1, PKT_SAMPLES,
				       DTMF_INBAND_PCMU, 0x5eed);
			assert_int_equal(dtmf_inband_input(d, p, len), 0);
		}
	}
	assert_string_equal(g.digits, "773");
	dtmf_inband_free(d);
}

/* What is not a key: speech-like sound (voiced pulses through changing
 * resonances, with noise), a 1 kHz test tone, and each DTMF frequency
 * alone. */
static void test_not_keys(void **state)
{
	static const double freqs[] = { 697, 770, 852, 941,
					1209, 1336, 1477, 1633 };
	struct dtmf_inband *d;
	uint32_t rnd = 12345;
	double y1 = 0, y2 = 0, f, r, x, pitch;
	struct got g;
	size_t i;

	(void)state;
	d = det_new(DTMF_INBAND_PCMU, &g);
	audio.n = 0;
	/* a glottal pulse train at a wandering pitch through a resonator
	 * gliding between formants, plus hiss: three seconds */
	for (i = 0; i < (size_t)RATE * 3; i++) {
		rnd = rnd * 1103515245u + 12345u;
		pitch = 100 + 40 * sin(2 * M_PI * 0.7 * (double)i / RATE);
		x = fmod((double)i, RATE / pitch) < 1 ? 6000 : 0;
		x += (double)((int)(rnd >> 16 & 0x7fff) - 16384) / 8;
		f = 500 + 1500 * (0.5 + 0.5 * sin(2 * M_PI * 2.3 *
						    (double)i / RATE));
		r = 0.97;
		f = 2 * r * cos(2 * M_PI * f / RATE);
		x = x + f * y1 - r * r * y2;
		y2 = y1;
		y1 = x;
		if (x > 32767)
			x = 32767;
		if (x < -32768)
			x = -32768;
		audio.s[audio.n++] = (int16_t)lrint(x);
	}
	add_tone(&audio, 1000, 0, 2 * AMP, 500);
	feed(d, &audio, PKT_SAMPLES, DTMF_INBAND_PCMU, NULL);
	assert_int_equal(g.n, 0);
	dtmf_inband_free(d);

	d = det_new(DTMF_INBAND_PCMA, &g);
	audio.n = 0;
	for (i = 0; i < sizeof(freqs) / sizeof(freqs[0]); i++) {
		add_tone(&audio, freqs[i], 0, AMP, 200);
		add_silence(&audio, 60);
	}
	feed(d, &audio, PKT_SAMPLES, DTMF_INBAND_PCMA, NULL);
	assert_int_equal(g.n, 0);
	dtmf_inband_free(d);
}

/* The other G.711 law, telephone-event and any other payload type: left
 * alone (ENOENT), not fed to the detector. */
static void test_other_pt(void **state)
{
	static const uint8_t pts[] = { DTMF_INBAND_PCMA, 101, 18, 127 };
	struct dtmf_inband *d;
	uint8_t p[12 + PKT_SAMPLES];
	struct got g;
	size_t i, k, len;

	(void)state;
	d = det_new(DTMF_INBAND_PCMU, &g);
	audio.n = 0;
	add_keys(&audio, "1590", 60, 60);
	for (i = 0; i < sizeof(pts); i++)
		for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++) {
			len = pkt_make(p, &audio, k, PKT_SAMPLES, pts[i],
				       0x5eed);
			p[1] |= 0x80;	/* a marker is not a payload type */
			assert_int_equal(dtmf_inband_input(d, p, len),
					 ENOENT);
		}
	assert_int_equal(g.n, 0);
	/* and it still hears its own */
	feed(d, &audio, PKT_SAMPLES, DTMF_INBAND_PCMU, NULL);
	assert_string_equal(g.digits, "1590");
	dtmf_inband_free(d);
}

/* Not RTP, or lengths that do not add up: EBADMSG, nothing fed. */
static void test_garbage(void **state)
{
	struct dtmf_inband *d;
	uint8_t p[12 + PKT_SAMPLES], q[12 + PKT_SAMPLES];
	struct got g;
	size_t len, k;

	(void)state;
	d = det_new(DTMF_INBAND_PCMU, &g);
	audio.n = 0;
	add_keys(&audio, "8", 100, 60);
	len = pkt_make(p, &audio, 1, PKT_SAMPLES, DTMF_INBAND_PCMU, 0x5eed);

	/* shorter than a header, and empty */
	assert_int_equal(dtmf_inband_input(d, p, 11), EBADMSG);
	assert_int_equal(dtmf_inband_input(d, p, 0), EBADMSG);
	/* version 1, version 3 */
	memcpy(q, p, len);
	q[0] = 0x40;
	assert_int_equal(dtmf_inband_input(d, q, len), EBADMSG);
	q[0] = 0xc0;
	assert_int_equal(dtmf_inband_input(d, q, len), EBADMSG);
	/* 15 CSRCs in a 20-byte packet */
	q[0] = 0x8f;
	assert_int_equal(dtmf_inband_input(d, q, 20), EBADMSG);
	/* an extension header running past the end */
	q[0] = 0x90;
	q[12] = 0xbe;
	q[13] = 0xde;
	q[14] = 0x00;
	q[15] = 0xff;
	assert_int_equal(dtmf_inband_input(d, q, len), EBADMSG);
	/* an extension header cut short */
	assert_int_equal(dtmf_inband_input(d, q, 14), EBADMSG);
	/* padding: zero, longer than the packet, longer than the payload */
	memcpy(q, p, len);
	q[0] = 0xa0;
	q[len - 1] = 0;
	assert_int_equal(dtmf_inband_input(d, q, len), EBADMSG);
	q[len - 1] = 255;
	assert_int_equal(dtmf_inband_input(d, q, len), EBADMSG);
	q[0] = 0xa1;	/* one CSRC: 16 bytes of header */
	q[len - 1] = (uint8_t)(len - 15);
	assert_int_equal(dtmf_inband_input(d, q, len), EBADMSG);
	assert_int_equal(g.n, 0);

	/* in between, real packets of the key: one digit */
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++) {
		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMU,
			       0x5eed);
		assert_int_equal(dtmf_inband_input(d, p, len), 0);
		assert_int_equal(dtmf_inband_input(d, q, 5), EBADMSG);
	}
	assert_string_equal(g.digits, "8");
	dtmf_inband_free(d);
}

static void on_detach(struct dtmf_inband *d, void *arg)
{
	struct got *g = arg;

	g->detached++;
	dtmf_inband_free(d);
}

/* As a sink: RTP is heard, RTCP is not looked at; detach frees it. */
static void test_sink(void **state)
{
	struct dtmf_inband *d;
	struct relay_sink *s;
	uint8_t p[12 + PKT_SAMPLES];
	struct got g;
	size_t k, len;

	(void)state;
	d = det_new(DTMF_INBAND_PCMA, &g);
	s = dtmf_inband_sink(d, on_detach, &g);
	assert_non_null(s);
	audio.n = 0;
	add_keys(&audio, "6", 60, 60);
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++) {
		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMA,
			       0x5eed);
		s->ops->write(s, p, len, true, 0);
	}
	assert_int_equal(g.n, 0);
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++) {
		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMA,
			       0x5eed);
		s->ops->write(s, p, len, false, 0);
	}
	assert_string_equal(g.digits, "6");
	s->ops->detach(s);
	assert_int_equal(g.detached, 1);
}

static void test_bad_args(void **state)
{
	struct dtmf_inband *d = NULL;
	struct got g;

	(void)state;
	assert_int_equal(dtmf_inband_alloc(&d, 18, on_digit, &g), EINVAL);
	assert_int_equal(dtmf_inband_alloc(&d, 101, on_digit, &g), EINVAL);
	assert_int_equal(dtmf_inband_alloc(&d, 0, NULL, &g), EINVAL);
	assert_int_equal(dtmf_inband_alloc(NULL, 8, on_digit, &g), EINVAL);
	assert_null(d);
	assert_int_equal(dtmf_inband_input(NULL, (const uint8_t *)"", 0),
			 EINVAL);
	assert_null(dtmf_inband_sink(NULL, NULL, NULL));
	dtmf_inband_free(NULL);
}

/* --- on a relay call, over UDP ---------------------------------------- */

#define RELAY_HOST "127.0.0.1"
#define HOST_A "127.0.0.2"
#define HOST_B "127.0.0.3"
#define RECV_WAIT_MS 2000

/*
 * The relay's ports: one slot of test_relay.c's claim scheme (the same
 * abstract socket names as it and tests/sip/test_media.py), held until
 * the process exits, so no other test's relay binds them meanwhile.
 */
#define RANGE_FIRST 20000
#define RANGE_SLOT 200
#define RANGE_SLOTS 50

static uint16_t port_base;

static uint16_t range_claim(void)
{
	int start = (int)((unsigned)getpid() % RANGE_SLOTS), n, fd;

	for (n = 0; n < RANGE_SLOTS; n++) {
		int slot = (start + n) % RANGE_SLOTS, len;
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		len = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1,
			       "maskd-test-rtp-range-%d", slot);
		fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (fd < 0)
			return 0;
		if (!bind(fd, (struct sockaddr *)&a,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				      1 + len)))
			return (uint16_t)(RANGE_FIRST + slot * RANGE_SLOT);
		close(fd);
	}
	return 0;
}

static struct sockaddr_in sin_make(const char *host, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
	return a;
}

static int sock_open(const char *host)
{
	struct sockaddr_in a = sin_make(host, 0);
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static uint16_t sock_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static void set_remote(struct relay_call *c, enum relay_leg leg,
		       const char *host, uint16_t port)
{
	struct sockaddr_in a = sin_make(host, port);

	assert_int_equal(relay_call_set_remote(c, leg, (struct sockaddr *)&a,
					       NULL, 0), 0);
}

/* @fd must receive exactly @buf, from the relay's @port. */
static void expect_packet(int fd, const uint8_t *buf, size_t len,
			  uint16_t port)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	struct sockaddr_in from;
	socklen_t alen = sizeof(from);
	uint8_t got[2048];
	ssize_t n;

	if (poll(&pf, 1, RECV_WAIT_MS) != 1)
		fail_msg("nothing arrived from relay port %u", port);
	n = recvfrom(fd, got, sizeof(got), MSG_DONTWAIT,
		     (struct sockaddr *)&from, &alen);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(got, buf, len);
	assert_int_equal(from.sin_addr.s_addr, inet_addr(RELAY_HOST));
	assert_int_equal(ntohs(from.sin_port), port);
}

/* The tap's digits, reported on the relay worker; read after
 * relay_sync() under the lock. */
struct tapped {
	pthread_mutex_t lock;
	struct got g;
};

static void on_tap_digit(char d, uint32_t ssrc, uint32_t ts, void *arg)
{
	struct tapped *t = arg;

	pthread_mutex_lock(&t->lock);
	on_digit(d, ssrc, ts, &t->g);
	pthread_mutex_unlock(&t->lock);
}

static void on_tap_detach(struct dtmf_inband *d, void *arg)
{
	struct tapped *t = arg;

	(void)d;
	pthread_mutex_lock(&t->lock);
	t->g.detached++;
	pthread_mutex_unlock(&t->lock);
}

static void tap_expect(struct tapped *t, const char *digits, int detached)
{
	pthread_mutex_lock(&t->lock);
	assert_string_equal(t->g.digits, digits);
	assert_int_equal(t->g.detached, detached);
	pthread_mutex_unlock(&t->lock);
}

/*
 * An in-band detector tapped onto leg A of a relayed call: party A dials
 * "1234#" in PCMU; party B receives every packet byte-identical from
 * maskd's port while the tap hears each key once. Party B's tones (no
 * tap on leg B) are relayed, not heard. Untapped, the detector is
 * detached once and hears nothing more.
 */
static void test_relay_tap(void **state)
{
	struct tapped t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct relay_counters ctr;
	struct dtmf_inband *d;
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint8_t p[12 + PKT_SAMPLES];
	uint16_t pa, pb;
	size_t k, len, sent = 0, back = 0;
	int a, b;

	(void)state;
	config_defaults(&cfg);
	cfg.rtp.port_min = port_base;
	cfg.rtp.port_max = (uint16_t)(port_base + 39);
	snprintf(cfg.rtp.advertise, sizeof(cfg.rtp.advertise), RELAY_HOST);
	cfg.rtp.workers = 2;
	cfg.rtp.timeout_s = 0;
	cfg.rtp.hold_timeout_s = 0;
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);
	a = sock_open(HOST_A);
	b = sock_open(HOST_B);
	set_remote(c, RELAY_LEG_A, HOST_A, sock_port(a));
	set_remote(c, RELAY_LEG_B, HOST_B, sock_port(b));

	assert_int_equal(dtmf_inband_alloc(&d, DTMF_INBAND_PCMU,
					   on_tap_digit, &t), 0);
	assert_int_equal(relay_call_tap(c, RELAY_LEG_A,
			 dtmf_inband_sink(d, on_tap_detach, &t)), 0);
	relay_sync(r);

	audio.n = 0;
	add_silence(&audio, 60);
	add_keys(&audio, "1234#", 60, 60);
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++, sent++) {
		struct sockaddr_in to = sin_make(RELAY_HOST, pa);

		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMU,
			       0x5eed);
		assert_int_equal(sendto(a, p, len, 0, (struct sockaddr *)&to,
					sizeof(to)), (ssize_t)len);
		expect_packet(b, p, len, pb);
	}

	/* the other way: relayed, not heard */
	audio.n = 0;
	add_keys(&audio, "9", 100, 60);
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++, back++) {
		struct sockaddr_in to = sin_make(RELAY_HOST, pb);

		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMU,
			       0xb0b);

		assert_int_equal(sendto(b, p, len, 0, (struct sockaddr *)&to,
					sizeof(to)), (ssize_t)len);
		expect_packet(a, p, len, pa);
	}
	relay_sync(r);
	tap_expect(&t, "1234#", 0);

	/* untapped: detached once, party A's keys still relayed, unheard */
	assert_int_equal(relay_call_tap(c, RELAY_LEG_A, NULL), 0);
	relay_sync(r);
	tap_expect(&t, "1234#", 1);
	audio.n = 0;
	add_keys(&audio, "7", 100, 60);
	for (k = 0; k < pkt_count(&audio, PKT_SAMPLES); k++, sent++) {
		struct sockaddr_in to = sin_make(RELAY_HOST, pa);

		len = pkt_make(p, &audio, k, PKT_SAMPLES, DTMF_INBAND_PCMU,
			       0x5eed);
		assert_int_equal(sendto(a, p, len, 0, (struct sockaddr *)&to,
					sizeof(to)), (ssize_t)len);
		expect_packet(b, p, len, pb);
	}
	relay_sync(r);
	tap_expect(&t, "1234#", 1);
	dtmf_inband_free(d);

	relay_call_free(c, &ctr);
	assert_int_equal(ctr.a_to_b.packets, (uint64_t)sent);
	assert_int_equal(ctr.a_to_b.drops, 0);
	assert_int_equal(ctr.b_to_a.packets, (uint64_t)back);
	close(a);
	close(b);
	relay_stop(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_not_keys),
		cmocka_unit_test(test_other_pt),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_relay_tap),
	};

	port_base = range_claim();
	if (!port_base) {
		fprintf(stderr, "test_dtmf_inband: no free RTP port range\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
