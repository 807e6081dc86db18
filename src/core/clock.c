/*
 * clock.c - the wall and monotonic clocks in milliseconds (see clock.h).
 */
#include <stdio.h>
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

void clock_rfc3339(int64_t ms, char out[CLOCK_RFC3339_SIZE])
{
	int64_t sec = ms / 1000;
	int frac = (int)(ms % 1000);
	char date[24];
	time_t t;
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(date, sizeof(date), "1970-01-01T00:00:00");
	snprintf(out, CLOCK_RFC3339_SIZE, "%s.%03dZ", date, frac);
}
