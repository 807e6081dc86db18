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

#endif
