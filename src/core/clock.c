/*
 * clock.c - the wall and monotonic clocks in milliseconds (see clock.h).
 */
#include <time.h>

#include "maskd/clock.h"

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	/* cannot fail for these clocks on Linux: the ids are valid and ts
	 * is writable */
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t clock_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t clock_mono_coarse_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC_COARSE);
}
