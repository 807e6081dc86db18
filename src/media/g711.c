/*
 * g711.c - G.711 mu-law and A-law, by the segment arithmetic of the
 * Recommendation rather than 64 KiB tables: the player encodes each
 * prompt once at start-up, so speed does not matter here and two
 * 256-entry decode loops are all a reader has to trust.
 */
#include "maskd/g711.h"

/*
 * mu-law works on 14-bit magnitudes with a bias of 33 that makes every
 * segment's end a power of two less one: the segment is where the biased
 * magnitude's top bit is.
 */
#define ULAW_BIAS 33		/* in 14-bit units (0x84 at 16 bits) */
#define ULAW_CLIP 8159		/* largest 14-bit magnitude encoded */

static int top_bit_segment(unsigned v, unsigned first_end)
{
	int seg = 0;

	/* segment 0 ends at first_end, each next one at twice its end */
	while (seg < 8 && v > first_end) {
		first_end = first_end * 2 + 1;
		seg++;
	}
	return seg;
}

uint8_t g711_ulaw_encode(int16_t pcm)
{
	int v = pcm >> 2;	/* 14 bits */
	uint8_t mask;
	int seg;

	if (v < 0) {
		v = -v;
		mask = 0x7F;	/* sign bit 0 after inversion */
	} else {
		mask = 0xFF;
	}
	if (v > ULAW_CLIP)
		v = ULAW_CLIP;
	v += ULAW_BIAS;
	seg = top_bit_segment((unsigned)v, 0x3F);
	if (seg >= 8)		/* the clipped top: segment 7, step 15 */
		return (uint8_t)(0x7F ^ mask);
	return (uint8_t)(((seg << 4) | ((v >> (seg + 1)) & 0x0F)) ^ mask);
}

int16_t g711_ulaw_decode(uint8_t code)
{
	unsigned u = (uint8_t)~code;
	int t;

	t = (int)(((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
	return (int16_t)(u & 0x80 ? 0x84 - t : t - 0x84);
}

/* A-law: 13-bit magnitudes, segments 0 and 1 share one step size. */
uint8_t g711_alaw_encode(int16_t pcm)
{
	int v = pcm >> 3;	/* 13 bits */
	uint8_t mask, aval;
	int seg;

	if (v >= 0) {
		mask = 0xD5;	/* sign bit 1, even bits inverted */
	} else {
		mask = 0x55;
		v = -v - 1;
	}
	seg = top_bit_segment((unsigned)v, 0x1F);
	if (seg >= 8)
		return (uint8_t)(0x7F ^ mask);
	aval = (uint8_t)(seg << 4);
	aval |= (uint8_t)((seg < 2 ? v >> 1 : v >> seg) & 0x0F);
	return (uint8_t)(aval ^ mask);
}

int16_t g711_alaw_decode(uint8_t code)
{
	unsigned a = code ^ 0x55u;
	int seg = (int)((a & 0x70) >> 4);
	int t = (int)((a & 0x0F) << 4);

	if (seg == 0)
		t += 8;
	else
		t = (t + 0x108) << (seg - 1);
	return (int16_t)(a & 0x80 ? t : -t);
}
