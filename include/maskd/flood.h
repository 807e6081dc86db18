/*
 * flood.h - per-source request rate limiting and blocking (pike-style),
 * and a token bucket for calls-per-second caps.
 *
 * struct flood counts requests per key (a source address, a token digest)
 * over a fixed window. A key above @limit requests in one window is blocked
 * for @block_ms: every check answers FLOOD_BLOCK until then, however quiet
 * the key has become, so a scanner cannot probe its way back in.
 *
 * The table has a fixed number of slots, allocated once: checking a key is
 * on the per-message hot path and never allocates. When the table is full
 * the stalest unblocked entry is reused, so a flood of forged sources can
 * only evict quiet ones, never free a blocked one early.
 *
 * Owned by one thread (the SIP thread, or the control thread for the API);
 * not thread-safe.
 */
#ifndef MASKD_FLOOD_H
#define MASKD_FLOOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FLOOD_KEY_MAX 32

enum flood_verdict {
	FLOOD_PASS = 0,
	FLOOD_BLOCK,		/* above the limit now, or still blocked */
};

struct flood_params {
	uint32_t limit;		/* requests per window; 0 = no limit */
	uint32_t window_ms;	/* > 0 */
	uint32_t block_ms;	/* how long an offender stays blocked */
	uint32_t slots;		/* table size; rounded up to a power of 2 */
};

struct flood_stats {
	uint64_t checked;
	uint64_t blocked;	/* checks answered FLOOD_BLOCK */
	uint64_t offenders;	/* times a key crossed the limit */
	uint64_t evicted;	/* entries reused while the table was full */
};

struct flood;

/* flood_alloc() - a table per @p. Returns 0, EINVAL or ENOMEM. */
int flood_alloc(struct flood **fp, const struct flood_params *p);
void flood_free(struct flood *f);

/*
 * flood_check() - count one request from @key (@len bytes, at most
 * FLOOD_KEY_MAX) at @now_ms and say whether to serve it.
 * Hot path: no allocation, no lock, no log.
 */
enum flood_verdict flood_check(struct flood *f, const void *key, size_t len,
			       int64_t now_ms);

/* flood_check_addr() - flood_check() keyed by @sa's IP address (no
 * port: a scanner changes ports for free). */
enum flood_verdict flood_check_addr(struct flood *f, const struct sockaddr *sa,
				    int64_t now_ms);

void flood_stats_get(const struct flood *f, struct flood_stats *out);

/*
 * A token bucket: @rate tokens per second, at most @burst banked. For
 * calls-per-second caps (global and per trunk). rate 0 = no cap.
 */
struct tbucket {
	double rate;
	double burst;
	double tokens;
	int64_t last_ms;
};

/* tbucket_init() - start full. */
void tbucket_init(struct tbucket *b, double rate, double burst,
		  int64_t now_ms);

/*
 * tbucket_take() - true (and one token spent) when a token is there.
 * When false, *retry_after_s (may be NULL) is the whole seconds until one
 * will be: what a 503's Retry-After should say. Hot path.
 */
bool tbucket_take(struct tbucket *b, int64_t now_ms, uint32_t *retry_after_s);

#endif
