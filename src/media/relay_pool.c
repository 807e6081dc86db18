/*
 * relay_pool.c - a worker's port pairs: the free list and the sockets.
 *
 * The free list is a FIFO ring (see struct relay_pool for why FIFO).
 * Taken from by the SIP thread in relay_call_alloc(), given back by the
 * worker when it reclaims a freed call; a plain mutex is enough because
 * neither happens per packet.
 *
 * The sockets are the pool's, not the calls': a pair's two sockets are
 * opened and bound once - at start for every pair that binds, else the
 * first time the pair is taken - and watched by the worker from the
 * first call on them until relay_stop(). A call used to cost four
 * socket() + setsockopt() + bind(), four epoll_ctl(ADD) and four
 * epoll_ctl(DEL) + close(): twenty system calls of the ~90 per call
 * (issue 14); now none. Between calls a socket stays open: what arrives
 * there (a party still sending after its BYE) is read and dropped by the
 * worker, counted, instead of drawing an ICMP port unreachable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <unistd.h>

#include "relay_internal.h"

/* DSCP EF (RFC 3246) in the TOS byte: what phones and carriers mark
 * voice with. Best effort: a failing setsockopt changes nothing else. */
#define RELAY_TOS_EF 0xb8

int relay_pool_init(struct relay_pool *p, struct relay_worker *w,
		    uint16_t port_min, uint32_t n)
{
	uint32_t i;
	int err;

	p->ring = calloc(n ? n : 1, sizeof(*p->ring));
	p->socks = calloc(n ? 2 * (size_t)n : 1, sizeof(*p->socks));
	if (!p->ring || !p->socks) {
		err = ENOMEM;
		goto fail;
	}

	err = pthread_mutex_init(&p->lock, NULL);
	if (err)
		goto fail;

	p->port_min = port_min;
	p->n = n;
	p->head = 0;
	p->count = n;
	for (i = 0; i < n; i++)
		p->ring[i] = i;
	for (i = 0; i < 2 * n; i++) {
		p->socks[i].fd = -1;
		p->socks[i].kind = (uint8_t)(i & 1);
		p->socks[i].w = w;
	}
	atomic_store(&p->n_free, n);
	return 0;
 fail:
	free(p->ring);
	free(p->socks);
	p->ring = NULL;
	p->socks = NULL;
	return err;
}

void relay_pool_destroy(struct relay_pool *p)
{
	uint32_t i;

	if (!p->ring)
		return;

	for (i = 0; i < 2 * p->n; i++) {
		if (p->socks[i].watched)
			event_del(&p->socks[i].ev);
		if (p->socks[i].fd >= 0)
			close(p->socks[i].fd);
	}
	pthread_mutex_destroy(&p->lock);
	free(p->ring);
	free(p->socks);
	p->ring = NULL;
	p->socks = NULL;
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

int relay_socket_open(const struct relay *r, uint16_t port)
{
	union relay_sa a = r->bind;
	int fd, tos = RELAY_TOS_EF, err;

	fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;

	if (a.sa.sa_family == AF_INET) {
		a.in.sin_port = htons(port);
		(void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	}
	else {
		a.in6.sin6_port = htons(port);
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos,
				 sizeof(tos));
	}

	if (bind(fd, &a.sa, r->bind_len) < 0) {
		err = errno;
		close(fd);
		return -err;
	}

	return fd;
}

int relay_pool_open(const struct relay *r, struct relay_pool *p,
		    uint32_t pair)
{
	struct relay_sock *s, *rtp = relay_pool_sock(p, pair, 0);
	int k, fd;

	if (rtp->fd < 0 && rtp->bind_retry_ms &&
	    rtp->bind_retry_ms > clock_mono_coarse_ms())
		return -EAGAIN;

	for (k = 0; k < 2; k++) {
		s = relay_pool_sock(p, pair, k);
		if (s->fd >= 0)
			continue;
		fd = relay_socket_open(r, (uint16_t)
				       (relay_pool_port(p, pair) + k));
		if (fd < 0) {
			/* both or neither: a half-open pair would hold a
			 * port another program may want */
			if (k == 1 && !rtp->watched) {
				close(rtp->fd);
				rtp->fd = -1;
			}
			if (fd == -EADDRINUSE || fd == -EACCES)
				rtp->bind_retry_ms = clock_mono_coarse_ms() +
						     RELAY_BIND_RETRY_MS;
			return fd;
		}
		s->fd = fd;
	}
	return 0;
}

uint32_t relay_pool_preopen(const struct relay *r, struct relay_pool *p)
{
	uint32_t i, failed = 0;

	for (i = 0; i < p->n; i++) {
		if (relay_pool_open(r, p, i) ||
		    relay_pool_watch(relay_pool_sock(p, i, 0)) ||
		    relay_pool_watch(relay_pool_sock(p, i, 1)))
			failed++;
	}
	return failed;
}

int relay_pool_watch(struct relay_sock *s)
{
	if (s->watched)
		return 0;
	/* edge-triggered: relay_sock_cb() drains a socket each time */
	event_assign(&s->ev, s->w->base, s->fd, EV_READ | EV_PERSIST | EV_ET,
		     relay_sock_cb, s);
	if (event_add(&s->ev, NULL))
		return EIO;
	s->watched = true;
	return 0;
}
