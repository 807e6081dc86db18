/*
 * flood.c - per-key rate limiting with blocking, and token buckets.
 *
 * An open-addressing table (linear probing, at most FLOOD_PROBE slots per
 * lookup) of fixed size: allocation happens once, in flood_alloc().
 * Entries are never deleted, only reused, which keeps probing simple.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/flood.h"

#define FLOOD_PROBE 16

struct flood_entry {
	uint8_t key[FLOOD_KEY_MAX];
	uint8_t len;		/* 0 = free slot */
	uint32_t count;		/* requests in the current window */
	int64_t window_start_ms;
	int64_t blocked_until_ms;
	int64_t last_ms;
};

struct flood {
	struct flood_params p;
	size_t mask;
	struct flood_entry *t;
	struct flood_stats stats;
};

/* FNV-1a: tiny, no table, good enough for addresses and digests. */
static uint32_t flood_hash(const void *key, size_t len)
{
	const uint8_t *k = key;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= k[i];
		h *= 16777619u;
	}
	return h;
}

int flood_alloc(struct flood **fp, const struct flood_params *p)
{
	struct flood *f;
	size_t n = 64;

	if (p->window_ms == 0)
		return EINVAL;
	while (n < p->slots && n < ((size_t)1 << 24))
		n <<= 1;
	f = calloc(1, sizeof(*f));
	if (!f)
		return ENOMEM;
	f->t = calloc(n, sizeof(*f->t));
	if (!f->t) {
		free(f);
		return ENOMEM;
	}
	f->p = *p;
	f->mask = n - 1;
	*fp = f;
	return 0;
}

void flood_free(struct flood *f)
{
	if (!f)
		return;
	free(f->t);
	free(f);
}

/*
 * Find @key's entry, or the slot to put it in: a free one, else the
 * least recently seen unblocked one among the probed slots. NULL when
 * every probed slot holds a blocked key (the newcomer is then counted in
 * no entry: it passes until the table has room, which only a flood of
 * many distinct offenders can cause, and those are blocked already).
 */
static struct flood_entry *flood_slot(struct flood *f, const void *key,
				      size_t len, int64_t now_ms,
				      bool *found)
{
	size_t i = flood_hash(key, len) & f->mask;
	struct flood_entry *victim = NULL;
	int n;

	*found = false;
	for (n = 0; n < FLOOD_PROBE; n++, i = (i + 1) & f->mask) {
		struct flood_entry *e = &f->t[i];

		if (e->len == len && !memcmp(e->key, key, len)) {
			*found = true;
			return e;
		}
		if (e->len == 0) {
			if (!victim || victim->len)
				victim = e;
			continue;
		}
		if (e->blocked_until_ms > now_ms)
			continue;
		if (!victim || (victim->len && e->last_ms < victim->last_ms))
			victim = e;
	}
	return victim;
}

enum flood_verdict flood_check(struct flood *f, const void *key, size_t len,
			       int64_t now_ms)
{
	struct flood_entry *e;
	bool found;

	f->stats.checked++;
	if (f->p.limit == 0 || len == 0 || len > FLOOD_KEY_MAX)
		return FLOOD_PASS;
	e = flood_slot(f, key, len, now_ms, &found);
	if (!e)
		return FLOOD_PASS;
	if (!found) {
		if (e->len)
			f->stats.evicted++;
		memset(e, 0, sizeof(*e));
		memcpy(e->key, key, len);
		e->len = (uint8_t)len;
		e->window_start_ms = now_ms;
	}
	e->last_ms = now_ms;
	if (e->blocked_until_ms > now_ms) {
		f->stats.blocked++;
		return FLOOD_BLOCK;
	}
	if (now_ms - e->window_start_ms >= f->p.window_ms) {
		e->window_start_ms = now_ms;
		e->count = 0;
	}
	if (++e->count > f->p.limit) {
		e->blocked_until_ms = now_ms + f->p.block_ms;
		e->count = 0;
		f->stats.offenders++;
		f->stats.blocked++;
		return FLOOD_BLOCK;
	}
	return FLOOD_PASS;
}

enum flood_verdict flood_check_addr(struct flood *f, const struct sockaddr *sa,
				    int64_t now_ms)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return flood_check(f, &in->sin_addr, 4, now_ms);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		return flood_check(f, &in6->sin6_addr, 16, now_ms);
	}
	return FLOOD_PASS;
}

void flood_stats_get(const struct flood *f, struct flood_stats *out)
{
	*out = f->stats;
}

void tbucket_init(struct tbucket *b, double rate, double burst,
		  int64_t now_ms)
{
	b->rate = rate;
	b->burst = burst < 1 ? 1 : burst;
	b->tokens = b->burst;
	b->last_ms = now_ms;
}

bool tbucket_take(struct tbucket *b, int64_t now_ms, uint32_t *retry_after_s)
{
	if (b->rate <= 0)
		return true;
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_ms = now_ms;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return true;
	}
	if (retry_after_s)
		*retry_after_s = (uint32_t)ceil((1.0 - b->tokens) / b->rate);
	return false;
}
