/*
 * test_g711.c - the G.711 coders against the Recommendation: the decoded
 * value at the start and end of every segment (G.711 tables 1 and 2, at
 * the 16-bit scale of the G.191 tools: mu-law (((2m + 33) << s) - 33) * 4,
 * A-law (2m + 1) * 8 in segment 0 and ((2m + 33) << (s - 1)) * 8 above),
 * all 256 codes back to themselves, and all 65536 samples to a level
 * within half a step of their own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "maskd/g711.h"

/* Table values written out, not computed: code (as on the wire) and the
 * decoded 16-bit sample. */
static const struct { uint8_t code; int16_t pcm; } ulaw_ref[] = {
	{ 0xFF, 0 }, { 0x7F, 0 },		/* +0 and -0 */
	{ 0xFE, 8 }, { 0x7E, -8 },
	{ 0xF0, 120 }, { 0xEF, 132 },		/* end of seg 0, seg 1 */
	{ 0xE0, 372 }, { 0xDF, 396 },		/* seg 1 end, seg 2 */
	{ 0xD0, 876 }, { 0xCF, 924 },
	{ 0xC0, 1884 }, { 0xBF, 1980 },
	{ 0xB0, 3900 }, { 0xAF, 4092 },
	{ 0xA0, 7932 }, { 0x9F, 8316 },
	{ 0x90, 15996 }, { 0x8F, 16764 },	/* seg 6 end, seg 7 */
	{ 0x80, 32124 }, { 0x00, -32124 },	/* the largest */
};

static const struct { uint8_t code; int16_t pcm; } alaw_ref[] = {
	{ 0xD5, 8 }, { 0x55, -8 },		/* the smallest */
	{ 0xDA, 248 }, { 0xC5, 264 },		/* seg 0 end, seg 1 */
	{ 0xCA, 504 }, { 0xF5, 528 },		/* seg 1 end, seg 2 */
	{ 0xFA, 1008 }, { 0xE5, 1056 },
	{ 0xEA, 2016 }, { 0x95, 2112 },
	{ 0x9A, 4032 }, { 0x85, 4224 },
	{ 0x8A, 8064 }, { 0xB5, 8448 },
	{ 0xBA, 16128 }, { 0xA5, 16896 },	/* seg 6 end, seg 7 */
	{ 0xAA, 32256 }, { 0x2A, -32256 },	/* the largest */
};

static void test_ulaw_reference(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ulaw_ref) / sizeof(ulaw_ref[0]); i++) {
		assert_int_equal(g711_ulaw_decode(ulaw_ref[i].code),
				 ulaw_ref[i].pcm);
		if (ulaw_ref[i].code != 0x7F)	/* 0 encodes as +0 */
			assert_int_equal(g711_ulaw_encode(ulaw_ref[i].pcm),
					 ulaw_ref[i].code);
	}
	assert_int_equal(g711_ulaw_encode(0), G711_ULAW_SILENCE);
	assert_int_equal(g711_ulaw_encode(32767), 0x80);
	assert_int_equal(g711_ulaw_encode(-32768), 0x00);
}

static void test_alaw_reference(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(alaw_ref) / sizeof(alaw_ref[0]); i++) {
		assert_int_equal(g711_alaw_decode(alaw_ref[i].code),
				 alaw_ref[i].pcm);
		assert_int_equal(g711_alaw_encode(alaw_ref[i].pcm),
				 alaw_ref[i].code);
	}
	assert_int_equal(g711_alaw_encode(0), G711_ALAW_SILENCE);
	assert_int_equal(g711_alaw_encode(32767), 0xAA);
	assert_int_equal(g711_alaw_encode(-32768), 0x2A);
}

/* Every code decodes to a level that encodes back to it (mu-law's -0
 * excepted: it decodes to 0, which is +0). */
static void test_codes_round_trip(void **state)
{
	int c;

	(void)state;
	for (c = 0; c < 256; c++) {
		if (c != 0x7F)
			assert_int_equal(
				g711_ulaw_encode(g711_ulaw_decode((uint8_t)c)),
				c);
		assert_int_equal(g711_alaw_encode(g711_alaw_decode((uint8_t)c)),
				 c);
	}
}

/*
 * Every sample: the decoded value keeps the sign, moves monotonically
 * with the input, and is within half a step of the input (a step is
 * 8 << seg at 16 bits for both laws, 16 in A-law's segment 0; mu-law's
 * segment seg starts where |x| + 132 reaches 128 << seg, A-law's where
 * |x| reaches 128 << seg),
 * except where the input lies beyond the top level (clipped).
 */
static void test_samples_round_trip(void **state)
{
	int prev_u = -32768, prev_a = -32768;
	int32_t x;

	(void)state;
	for (x = -32768; x <= 32767; x++) {
		int u = g711_ulaw_decode(g711_ulaw_encode((int16_t)x));
		int a = g711_alaw_decode(g711_alaw_encode((int16_t)x));
		int au = abs(x), step;

		assert_true(u >= prev_u);
		assert_true(a >= prev_a);
		prev_u = u;
		prev_a = a;
		/* the level is the middle of its interval: the error is
		 * half a step, plus what the >> 2 (>> 3) truncation of a
		 * negative sample adds, which may also carry it (+3, +7)
		 * over a segment's edge */
		for (step = 8; step < 1024 && au + 3 + 132 >= step * 32; step *= 2)
			;
		if (au <= 32124)
			assert_true(abs(u - x) <= step / 2 + 4);
		else
			assert_int_equal(abs(u), 32124);
		for (step = 16; step < 2048 && au + 7 >= step * 32; step *= 2)
			;
		if (au <= 32256)
			assert_true(abs(a - x) <= step / 2 + 8);
		else
			assert_int_equal(abs(a), 32256);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ulaw_reference),
		cmocka_unit_test(test_alaw_reference),
		cmocka_unit_test(test_codes_round_trip),
		cmocka_unit_test(test_samples_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
