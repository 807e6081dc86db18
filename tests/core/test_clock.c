/*
 * test_clock.c - the wall clock is the epoch's, the monotonic clocks
 * never go back, and the coarse one is the same clock a tick behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "maskd/clock.h"

/* What time(2) says, in ms, brackets clock_now_ms(). */
static void test_now_is_epoch_ms(void **state)
{
	int64_t before, now, after;

	(void)state;
	before = (int64_t)time(NULL) * 1000;
	now = clock_now_ms();
	after = ((int64_t)time(NULL) + 1) * 1000;
	assert_true(now >= before);
	assert_true(now <= after);
}

static void test_mono_never_goes_back(void **state)
{
	int64_t prev = clock_mono_ms(), prev_c = clock_mono_coarse_ms(), t;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		t = clock_mono_ms();
		assert_true(t >= prev);
		prev = t;
		t = clock_mono_coarse_ms();
		assert_true(t >= prev_c);
		prev_c = t;
	}
}

/* A 20 ms sleep shows on both, and the coarse clock is never ahead. */
static void test_mono_advances(void **state)
{
	struct timespec d = { 0, 20 * 1000 * 1000 };
	int64_t m0, c0, m1, c1;

	(void)state;
	/* coarse first: the tick it reads is then no later than m0 */
	c0 = clock_mono_coarse_ms();
	m0 = clock_mono_ms();
	assert_true(c0 <= m0);
	while (nanosleep(&d, &d))
		;
	c1 = clock_mono_coarse_ms();
	m1 = clock_mono_ms();
	assert_true(m1 - m0 >= 20);
	assert_true(c1 > c0);
	assert_true(c1 <= m1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_is_epoch_ms),
		cmocka_unit_test(test_mono_never_goes_back),
		cmocka_unit_test(test_mono_advances),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
