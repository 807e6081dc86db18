/*
 * relay_pool.c - a worker's free list of RTP/RTCP port pairs.
 *
 * A FIFO ring (see struct relay_pool for why FIFO). Taken from by the SIP
 * thread in relay_call_alloc(), given back by the worker when it reclaims
 * a freed call; a plain mutex is enough because neither happens per
 * packet.
 */
#include <errno.h>
#include <stdlib.h>

#include "relay_internal.h"

int relay_pool_init(struct relay_pool *p, uint16_t port_min, uint32_t n)
{
	uint32_t i;
	int err;

	p->ring = calloc(n ? n : 1, sizeof(*p->ring));
	if (!p->ring)
		return ENOMEM;

	err = pthread_mutex_init(&p->lock, NULL);
	if (err) {
		free(p->ring);
		p->ring = NULL;
		return err;
	}

	p->port_min = port_min;
	p->n = n;
	p->head = 0;
	p->count = n;
	for (i = 0; i < n; i++)
		p->ring[i] = i;
	atomic_store(&p->n_free, n);
	return 0;
}

void relay_pool_destroy(struct relay_pool *p)
{
	if (!p->ring)
		return;

	pthread_mutex_destroy(&p->lock);
	free(p->ring);
	p->ring = NULL;
}

int relay_pool_take(struct relay_pool *p, uint32_t *pair)
{
	int err = 0;

	pthread_mutex_lock(&p->lock);
	if (!p->count) {
		err = ENOSPC;
		goto out;
	}

	*pair = p->ring[p->head];
	p->head = (p->head + 1) % p->n;
	p->count--;
	atomic_store_explicit(&p->n_free, p->count, memory_order_relaxed);
 out:
	pthread_mutex_unlock(&p->lock);
	return err;
}

void relay_pool_put(struct relay_pool *p, uint32_t pair)
{
	pthread_mutex_lock(&p->lock);
	/* count < n always holds here: a pair is only put back once */
	p->ring[(p->head + p->count) % p->n] = pair;
	p->count++;
	atomic_store_explicit(&p->n_free, p->count, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
}

uint32_t relay_pool_free_count(const struct relay_pool *p)
{
	return atomic_load_explicit((_Atomic uint32_t *)&p->n_free,
				    memory_order_relaxed);
}
