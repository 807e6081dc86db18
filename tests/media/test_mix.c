/*
 * test_mix.c - the mixer's arithmetic (src/media/mix.c): each listener
 * hears the sum of the others less itself, clipped once; PCMU and PCMA
 * inputs and listeners mix; the jitter buffer puts reordered packets
 * back in order, drops late ones, restarts on a new SSRC or a jump;
 * a lost packet is concealed, several in a row fade to silence.
 *
 * The relay around it (sockets, the worker's timer) is tested end to
 * end by tests/media/test_mix.py.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "maskd/g711.h"
#include "maskd/mix.h"

/* An RTP packet of @n G.711 codes of @pcm in @pt. */
static size_t pkt_make(uint8_t *p, uint8_t pt, uint16_t seq, uint32_t ts,
		       uint32_t ssrc, const int16_t *pcm, size_t n)
{
	size_t i;

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
	for (i = 0; i < n; i++)
		p[12 + i] = pt == MIX_PT_PCMA ? g711_alaw_encode(pcm[i]) :
			    g711_ulaw_encode(pcm[i]);
	return 12 + n;
}

/* A constant frame. */
static void frame_fill(int16_t *f, int16_t v)
{
	int i;

	for (i = 0; i < MIX_FRAME; i++)
		f[i] = v;
}

/* A frame of a sine of @hz, @amp, at sample @t0 of the tone. */
static void frame_sine(int16_t *f, double hz, double amp, uint32_t t0)
{
	int i;

	for (i = 0; i < MIX_FRAME; i++)
		f[i] = (int16_t)lrint(amp * sin(2 * M_PI * hz *
						(t0 + i) / MIX_RATE));
}

static int16_t decode(uint8_t pt, uint8_t code)
{
	return pt == MIX_PT_PCMA ? g711_alaw_decode(code) :
	       g711_ulaw_decode(code);
}

/* G.711 steps are at most 1/16 of the value (plus the smallest step):
 * what one encode-decode may change */
static void assert_near(int32_t got, int32_t want)
{
	int32_t tol = abs(want) / 16 + 16;

	if (abs(got - want) > tol)
		fail_msg("got %d, want %d (+-%d)", got, want, tol);
}

/* One input fed @v (constant) as one full frame, synced and played
 * through the depth: the frame that comes out after MIX_JB_DEPTH
 * silent ones. */
static void input_feed_const(struct mix_input *in, uint8_t pt, int16_t v,
			     int16_t out[MIX_FRAME])
{
	int16_t f[MIX_FRAME];
	uint8_t pkt[12 + MIX_FRAME];
	size_t len;
	int i;

	mix_input_init(in);
	frame_fill(f, v);
	len = pkt_make(pkt, pt, 1, 16000, 0x1234, f, MIX_FRAME);
	assert_int_equal(mix_input_put(in, pkt, len), 0);
	for (i = 0; i < MIX_JB_DEPTH; i++)
		assert_false(mix_input_get(in, out));
	assert_true(mix_input_get(in, out));
}

/*
 * Three parties at different levels, PCMU and PCMA mixed: each listener
 * gets exactly the other two, in its own law.
 */
static void test_sum_minus_own(void **state)
{
	static const int16_t level[3] = { 1000, -3000, 7000 };
	static const uint8_t law[3] = { MIX_PT_PCMU, MIX_PT_PCMA, MIX_PT_PCMU };
	static struct mix_input in[3];
	int16_t pcm[3][MIX_FRAME];
	int32_t sum[MIX_FRAME];
	uint8_t codes[MIX_FRAME];
	int j, k, i;

	(void)state;
	memset(sum, 0, sizeof(sum));
	for (j = 0; j < 3; j++) {
		input_feed_const(&in[j], law[j], level[j], pcm[j]);
		assert_near(pcm[j][0], level[j]);
		mix_sum_add(sum, pcm[j]);
	}

	for (j = 0; j < 3; j++) {
		for (k = 0; k < 2; k++) {
			uint8_t pt = k ? MIX_PT_PCMA : MIX_PT_PCMU;
			int32_t want = 0;

			for (i = 0; i < 3; i++) {
				if (i != j)
					want += level[i];
			}
			mix_listener(sum, pcm[j], pt, codes);
			for (i = 0; i < MIX_FRAME; i++)
				assert_near(decode(pt, codes[i]), want);
		}
	}

	/* a listener that put nothing in hears the whole sum */
	mix_listener(sum, NULL, MIX_PT_PCMU, codes);
	assert_near(decode(MIX_PT_PCMU, codes[0]), 1000 - 3000 + 7000);
}

/*
 * Clipping once, per listener, after its own signal is out: two loud
 * parties saturate the third's frame, while each of them hears the
 * other one undistorted (a sum clipped first would dent it).
 */
static void test_clip(void **state)
{
	int16_t a[MIX_FRAME], b[MIX_FRAME], c[MIX_FRAME];
	int32_t sum[MIX_FRAME];
	uint8_t codes[MIX_FRAME];

	(void)state;
	frame_fill(a, 30000);
	frame_fill(b, 25000);
	frame_fill(c, -20000);
	memset(sum, 0, sizeof(sum));
	mix_sum_add(sum, a);
	mix_sum_add(sum, b);
	mix_sum_add(sum, c);
	assert_int_equal(sum[0], 35000);	/* beyond 16 bits: 32-bit sum */

	/* c hears a + b = 55000: clipped to the top code */
	mix_listener(sum, c, MIX_PT_PCMU, codes);
	assert_int_equal(codes[0], g711_ulaw_encode(INT16_MAX));
	mix_listener(sum, c, MIX_PT_PCMA, codes);
	assert_int_equal(codes[0], g711_alaw_encode(INT16_MAX));

	/* a hears b + c = 5000, b hears a + c = 10000: no dent */
	mix_listener(sum, a, MIX_PT_PCMU, codes);
	assert_near(decode(MIX_PT_PCMU, codes[0]), 5000);
	mix_listener(sum, b, MIX_PT_PCMA, codes);
	assert_near(decode(MIX_PT_PCMA, codes[0]), 10000);

	/* and the negative side */
	frame_fill(a, -30000);
	frame_fill(b, -30000);
	memset(sum, 0, sizeof(sum));
	mix_sum_add(sum, a);
	mix_sum_add(sum, b);
	mix_listener(sum, NULL, MIX_PT_PCMA, codes);
	assert_int_equal(codes[0], g711_alaw_encode(INT16_MIN));
}

/*
 * Packets out of order within the depth play in order: 1, 3, 2, 4, 5
 * give frames 1, 2, 3, 4, 5; one behind the playout point is dropped
 * as late and counted.
 */
static void test_reorder(void **state)
{
	static const int order[] = { 1, 3, 2, 4, 5 };
	static struct mix_input in;
	int16_t f[MIX_FRAME], out[MIX_FRAME];
	uint8_t pkt[12 + MIX_FRAME];
	size_t len;
	unsigned i;

	(void)state;
	mix_input_init(&in);
	/* all five arrive before the first playout */
	for (i = 0; i < 5; i++) {
		frame_fill(f, (int16_t)(1000 * order[i]));
		len = pkt_make(pkt, MIX_PT_PCMU, (uint16_t)order[i],
			       (uint32_t)(MIX_FRAME * order[i]), 7, f,
			       MIX_FRAME);
		assert_int_equal(mix_input_put(&in, pkt, len), 0);
	}
	for (i = 0; i < MIX_JB_DEPTH; i++)
		assert_false(mix_input_get(&in, out));
	for (i = 1; i <= 5; i++) {
		assert_true(mix_input_get(&in, out));
		assert_near(out[0], 1000 * (int)i);
		assert_near(out[MIX_FRAME - 1], 1000 * (int)i);
	}
	assert_int_equal(in.st.frames, 5);

	/* frame 2 again: played already, late */
	frame_fill(f, 2000);
	len = pkt_make(pkt, MIX_PT_PCMU, 2, 2 * MIX_FRAME, 7, f, MIX_FRAME);
	assert_int_equal(mix_input_put(&in, pkt, len), ESTALE);
	assert_int_equal(in.st.late, 1);
	assert_int_equal(in.st.resyncs, 0);
}

/*
 * Two 10 ms packets make one frame; payloads other than G.711 (RFC 4733
 * events, comfort noise), malformed packets and a frame that is not
 * whole (one 10 ms half lost) do not play as they are.
 */
static void test_ptime_and_ignored(void **state)
{
	static struct mix_input in;
	static uint8_t big[12 + MIX_JB_FRAMES * MIX_FRAME];
	int16_t f[MIX_FRAME], out[MIX_FRAME];
	uint8_t pkt[12 + MIX_FRAME];
	size_t len;
	int i;

	(void)state;
	mix_input_init(&in);
	frame_fill(f, 4000);
	len = pkt_make(pkt, MIX_PT_PCMA, 1, 800, 9, f, MIX_FRAME / 2);
	assert_int_equal(mix_input_put(&in, pkt, len), 0);
	len = pkt_make(pkt, MIX_PT_PCMA, 2, 800 + MIX_FRAME / 2, 9, f,
		       MIX_FRAME / 2);
	assert_int_equal(mix_input_put(&in, pkt, len), 0);
	/* an RFC 4733 event and comfort noise: not audio to mix */
	len = pkt_make(pkt, 101, 3, 800, 9, f, 4);
	assert_int_equal(mix_input_put(&in, pkt, len), ENOTSUP);
	len = pkt_make(pkt, 13, 3, 800, 9, f, 1);
	assert_int_equal(mix_input_put(&in, pkt, len), ENOTSUP);
	assert_int_equal(mix_input_put(&in, (const uint8_t *)"\x00junk", 5),
			 EBADMSG);
	/* more than the buffer holds */
	len = pkt_make(big, MIX_PT_PCMU, 4, 800, 9, f, 0);
	memset(big + len, 0xff, sizeof(big) - len);
	assert_int_equal(mix_input_put(&in, big, sizeof(big)), EMSGSIZE);
	assert_int_equal(in.st.ignored, 4);

	for (i = 0; i < MIX_JB_DEPTH; i++)
		assert_false(mix_input_get(&in, out));
	assert_true(mix_input_get(&in, out));
	assert_near(out[0], 4000);
	assert_near(out[MIX_FRAME - 1], 4000);

	/* the next frame: only its first half comes; concealed whole */
	len = pkt_make(pkt, MIX_PT_PCMA, 3, 800 + MIX_FRAME, 9, f,
		       MIX_FRAME / 2);
	assert_int_equal(mix_input_put(&in, pkt, len), 0);
	assert_true(mix_input_get(&in, out));
	assert_int_equal(in.st.frames, 1);
	assert_int_equal(in.st.concealed, 1);
}

/* Energy of a frame. */
static double frame_energy(const int16_t *f)
{
	double e = 0;
	int i;

	for (i = 0; i < MIX_FRAME; i++)
		e += (double)f[i] * f[i];
	return e;
}

/*
 * A lost packet in a 440 Hz tone is concealed: the missing frame is not
 * silence, it carries the tone (close to the frame that was lost), and
 * the stream goes on. MIX_PLC_MAX lost in a row and more: silence after.
 */
static void test_plc(void **state)
{
	static struct mix_input in;
	int16_t f[MIX_FRAME], out[MIX_FRAME], lost[MIX_FRAME];
	uint8_t pkt[12 + MIX_FRAME];
	double e_lost, e_out, err;
	size_t len;
	uint32_t n;
	int i;

	(void)state;
	mix_input_init(&in);
	/* frames 0..9 sent, 10 lost, 11.. sent; one put and one get per
	 * tick after the depth is filled */
	for (n = 0; n < 20; n++) {
		frame_sine(f, 440, 8000, n * MIX_FRAME);
		if (n == 10) {
			memcpy(lost, f, sizeof(lost));
		} else {
			len = pkt_make(pkt, MIX_PT_PCMU, (uint16_t)n,
				       n * MIX_FRAME, 3, f, MIX_FRAME);
			assert_int_equal(mix_input_put(&in, pkt, len), 0);
		}
		if (n < MIX_JB_DEPTH) {
			assert_false(mix_input_get(&in, out));
			continue;
		}
		assert_true(mix_input_get(&in, out));
		if (n - MIX_JB_DEPTH == 10) {
			/* the concealment: the tone's energy, near the
			 * lost frame itself */
			e_lost = frame_energy(lost);
			e_out = frame_energy(out);
			assert_true(e_out > 0.3 * e_lost);
			assert_true(e_out < 2.0 * e_lost);
			err = 0;
			for (i = 0; i < MIX_FRAME; i++)
				err += ((double)out[i] - lost[i]) *
				       ((double)out[i] - lost[i]);
			assert_true(err < 0.5 * e_lost);
		}
	}
	assert_int_equal(in.st.concealed, 1);
	assert_int_equal(in.st.frames, 20 - MIX_JB_DEPTH - 1);

	/* the sender stops: concealed MIX_PLC_MAX times, then silence */
	for (i = 0; i < MIX_JB_DEPTH; i++)
		assert_true(mix_input_get(&in, out));
	for (i = 0; i < MIX_PLC_MAX; i++)
		assert_true(mix_input_get(&in, out));
	assert_false(mix_input_get(&in, out));
	assert_true(frame_energy(out) == 0);
	assert_int_equal(in.st.concealed, 1 + MIX_PLC_MAX);
}

/*
 * Restarts of the playout: a new SSRC, a timestamp jump beyond the
 * buffer (a talkspurt after silence), and a sender whose timestamps
 * went back (late packets in a row) all play again after the depth.
 */
static void test_resync(void **state)
{
	static struct mix_input in;
	int16_t f[MIX_FRAME], out[MIX_FRAME];
	uint8_t pkt[12 + MIX_FRAME];
	size_t len;
	int i;

	(void)state;
	frame_fill(f, 3000);
	input_feed_const(&in, MIX_PT_PCMU, 3000, out);

	/* another SSRC: the depth again */
	len = pkt_make(pkt, MIX_PT_PCMU, 9, 500000, 0x9999, f, MIX_FRAME);
	assert_int_equal(mix_input_put(&in, pkt, len), 0);
	assert_int_equal(in.st.resyncs, 1);
	for (i = 0; i < MIX_JB_DEPTH; i++)
		assert_false(mix_input_get(&in, out));
	assert_true(mix_input_get(&in, out));

	/* a jump of 10 s ahead */
	len = pkt_make(pkt, MIX_PT_PCMU, 10, 580000, 0x9999, f, MIX_FRAME);
	assert_int_equal(mix_input_put(&in, pkt, len), 0);
	assert_int_equal(in.st.resyncs, 2);

	/* timestamps back by a second: late until the run says resync */
	for (i = 0; i < MIX_JB_DEPTH; i++) {
		len = pkt_make(pkt, MIX_PT_PCMU, (uint16_t)(11 + i),
			       (uint32_t)(572000 + i * MIX_FRAME), 0x9999, f,
			       MIX_FRAME);
		assert_int_equal(mix_input_put(&in, pkt, len), ESTALE);
	}
	len = pkt_make(pkt, MIX_PT_PCMU, 20, 572000 + 5 * MIX_FRAME, 0x9999,
		       f, MIX_FRAME);
	assert_int_equal(mix_input_put(&in, pkt, len), 0);
	assert_int_equal(in.st.resyncs, 3);
	assert_int_equal(in.st.late, MIX_JB_DEPTH);
	/* the same voice: the frames until then are concealed */
	for (i = 0; i < MIX_JB_DEPTH; i++)
		assert_true(mix_input_get(&in, out));
	assert_true(mix_input_get(&in, out));
	/* the concealer blends its first samples into the real frame
	 * (no click); the rest is the frame as sent */
	assert_near(out[MIX_FRAME - 1], 3000);
	assert_near(out[MIX_FRAME / 2], 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_minus_own),
		cmocka_unit_test(test_clip),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_ptime_and_ignored),
		cmocka_unit_test(test_plc),
		cmocka_unit_test(test_resync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
