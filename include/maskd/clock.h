/*
 * clock.h - the two clocks maskd reads, in milliseconds.
 *
 * clock_now_ms() is the wall clock: for what is stored or shown (a
 * session's created_at and expires_at, a CDR's times, ids that begin with
 * a time). clock_mono_ms() is monotonic: for what measures an interval
 * (rate limits, timeouts, "at most once a minute"), which a wall clock
 * stepped by NTP or an operator would stretch or cut short.
 *
 * Any thread; no state, no lock, no allocation.
 */
#ifndef MASKD_CLOCK_H
#define MASKD_CLOCK_H

#include <stdint.h>

/* clock_now_ms() - wall clock: milliseconds since the Unix epoch. */
int64_t clock_now_ms(void);

/* clock_mono_ms() - monotonic milliseconds since an arbitrary start
 * (boot): only differences mean anything. */
int64_t clock_mono_ms(void);

/*
 * clock_mono_coarse_ms() - the same clock, read from the last kernel tick
 * (a vDSO read, no system call): up to a tick (a few ms) behind
 * clock_mono_ms(). For per-packet paths whose periods are seconds. Compare
 * its values only with each other: mixed with clock_mono_ms() a coarse
 * time can look a few ms in the past.
 */
int64_t clock_mono_coarse_ms(void);

#define CLOCK_RFC3339_SIZE 32	/* "2026-12-01T22:50:00.123Z" and NUL */

/*
 * clock_rfc3339() - wall-clock @ms (since the epoch) as RFC 3339 in UTC
 * with milliseconds, the one time format of the API and the events.
 */
void clock_rfc3339(int64_t ms, char out[CLOCK_RFC3339_SIZE]);

#endif
