/*
 * relay.c - the media relay's threads and the calls the SIP thread makes
 * (relay.h).
 *
 * Handing a call to its worker. The SIP thread never touches what a
 * worker owns; it leaves a note on the call (ctl_ops, ctl_remote) under
 * the worker's ctl_lock, links the call into the worker's ctl list if it
 * is not there yet, and wakes the worker through an eventfd. The worker
 * takes the list, copies the notes out under the lock and applies them on
 * its own thread. The note lives in the call itself, so posting needs no
 * memory and cannot fail: relay_call_free() always reaches the worker,
 * and every port always comes back. (maskd's general mailbox copies each
 * message into a queue it may have to grow; here that could lose a free.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "relay_internal.h"

/* relay_pick() keeps a bit per worker in a uint64_t. */
#define RELAY_WORKERS_MAX 64

/* File descriptors kept free for everything that is not a media socket. */
#define RELAY_FD_HEADROOM 256

void relay_wake(struct relay_worker *w)
{
	uint64_t one = 1;

	/* the counter only says "look"; EAGAIN means it already does */
	if (write(w->ctl_fd, &one, sizeof(one)) < 0)
		return;
}

/* Put @c on its worker's list of calls with changes waiting (once),
 * under w->ctl_lock, without waking the worker. */
static void relay_call_link_locked(struct relay_worker *w,
				   struct relay_call *c)
{
	if (!c->ctl_queued) {
		c->ctl_queued = true;
		c->ctl_next = w->ctl_head;
		w->ctl_head = c;
	}
}

/*
 * relay_call_queue_locked() - relay_call_link_locked(), and whether the
 * worker must be woken: not "the list was empty", since frees wait on it
 * without a wake-up (relay_call_post()) and a note behind them must not.
 */
bool relay_call_queue_locked(struct relay_worker *w, struct relay_call *c)
{
	bool wake = !w->ctl_woken;

	relay_call_link_locked(w, c);
	w->ctl_woken = true;
	return wake;
}

void relay_call_post(struct relay_call *c, unsigned ops, unsigned leg,
		     unsigned lops, const struct relay_remote *rem)
{
	const unsigned both = 1u << RELAY_LEG_A | 1u << RELAY_LEG_B;
	struct relay_worker *w = c->w;
	bool wake;

	pthread_mutex_lock(&w->ctl_lock);
	c->ctl_ops |= ops;
	relay_slot(c, leg)->ctl_ops |= lops;
	if (rem)
		relay_slot(c, leg)->ctl_remote = *rem;
	if (lops & RELAY_LOP_REMOTE && leg < 2)
		c->ctl_remotes |= 1u << leg;
	/*
	 * Some notes need no hurry; the worker takes them with the next
	 * note that wakes it or at its next sweep (RELAY_SWEEP_MAX_MS at
	 * most), which saves a write, a wake-up and a read each:
	 *  - a free: the pair comes back that much later, and the pool is
	 *    FIFO anyway;
	 *  - a new call and its first party's address, until the other
	 *    party's is known too: no media can be relayed before that
	 *    but a callee's sent ahead of its SDP answer (which then wakes
	 *    the worker, in the same moment as a rule).
	 * So a plain call wakes its worker once.
	 */
	if ((ops == RELAY_OP_FREE && !lops) ||
	    (!(ops & ~RELAY_OP_ADD) && !(lops & ~RELAY_LOP_REMOTE) &&
	     leg < 2 && (c->ctl_remotes & both) != both)) {
		relay_call_link_locked(w, c);
		wake = false;
	} else {
		wake = relay_call_queue_locked(w, c);
	}
	pthread_mutex_unlock(&w->ctl_lock);

	if (wake)
		relay_wake(w);
}

void relay_side_init(struct relay_call *c, unsigned l)
{
	struct relay_side *leg = relay_side(c, l);

	/* the side only: the slot's notes are the worker's to copy (a slot
	 * starts with none: relay_call_alloc(), relay_slots_more()) */
	memset(leg, 0, sizeof(*leg));	/* no pair, no sockets */
	leg->out.ops = &relay_side_sink_ops;
}

/* The pair's sockets stay open and watched (relay_pool.c). */
void relay_side_close(struct relay_worker *w, struct relay_side *leg)
{
	relay_pool_put(&w->pool, leg->pair);
	leg->port = 0;			/* no pair: nothing to give back */
	leg->sock[0] = leg->sock[1] = NULL;
}

void relay_side_watch(struct relay_call *c, unsigned l)
{
	struct relay_worker *w = c->w;
	struct relay_sock *s;
	int k;

	for (k = 0; k < 2; k++) {
		s = relay_side(c, l)->sock[k];
		s->call = c;
		s->leg = (uint8_t)l;
		if (relay_pool_watch(s))
			log_warn(w->r->log, "relay: worker %u: cannot watch "
				 "port %u", w->idx, relay_side(c, l)->port + k);
	}
	c->open |= 1u << l;
}

/*
 * Idle again: what still arrives is read and dropped. Also for a leg
 * the worker never watched (its call freed before the worker added it),
 * so that nothing waits in a socket for the pair's next call.
 */
void relay_side_unwatch(struct relay_call *c, unsigned l)
{
	struct relay_sock *s;
	int k;

	for (k = 0; k < 2; k++) {
		s = relay_side(c, l)->sock[k];
		if (!s || (s->call && s->call != c))
			continue;
		s->call = NULL;
		(void)relay_pool_watch(s);
	}
	c->open &= ~(1u << l);
}

/* Spare relay calls kept at most: what a burst of call ends leaves.
 * None under ASan, whose quarantine must see every relay call freed to
 * catch a use after the end. */
#if defined(__SANITIZE_ADDRESS__)
#define RELAY_SPARE_MAX 0
#else
#define RELAY_SPARE_MAX 1024
#endif

/* relay_call_get() - a spare relay call, or a new one; uninitialised.
 * The SIP thread. NULL on ENOMEM. */
static struct relay_call *relay_call_get(struct relay *r)
{
	struct relay_call *c;

	pthread_mutex_lock(&r->spare_lock);
	c = r->spare;
	if (c) {
		r->spare = c->work_next;
		r->n_spare--;
	}
	pthread_mutex_unlock(&r->spare_lock);
	if (c)
		return c;
	return aligned_alloc(RELAY_CACHELINE,
			     (sizeof(*c) + RELAY_CACHELINE - 1) &
			     ~(size_t)(RELAY_CACHELINE - 1));
}

/* relay_call_put() - keep @c for relay_call_get(), or free it when
 * enough are kept. Any thread; NULL-safe. */
static void relay_call_put(struct relay *r, struct relay_call *c)
{
	if (!c)
		return;
	/* a plain call is the common one: a spare keeps two slots only */
	free(c->more);
	c->more = NULL;
#if RELAY_SPARE_MAX > 0
	pthread_mutex_lock(&r->spare_lock);
	if (r->n_spare < RELAY_SPARE_MAX) {
		c->work_next = r->spare;
		r->spare = c;
		r->n_spare++;
		c = NULL;
	}
	pthread_mutex_unlock(&r->spare_lock);
#endif
	free(c);
}

/* relay_call_destroy() - close, give the ports back, free. Worker
 * thread (or relay_stop() after the worker ended). */
static void relay_call_destroy(struct relay_call *c)
{
	struct relay_worker *w = c->w;
	/* OP_FREE came last: the SIP thread adds no leg any more */
	unsigned l, n = relay_call_slots(c);

	for (l = 0; l < n; l++)
		relay_side_unwatch(c, l);
	if (c->live) {
		if (c->prev)
			c->prev->next = c->next;
		else
			w->calls = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}

	relay_play_drop(c);
	for (l = 0; l < n; l++) {
		struct relay_side *side = relay_side(c, l);

		relay_sink_detach(side->sink);
		relay_side_taps_detach(side);
		if (side->port)
			relay_side_close(w, side);
	}
	/* after the sinks: a mixed leg's sink is in the mixer */
	relay_mix_drop(c);
	relay_call_put(w->r, c);
}

/*
 * relay_call_add() - start watching the call's sockets. Worker thread.
 * event_add() fails only when epoll cannot register the descriptor; the
 * call then stays silent and ends by its timeout or its BYE, both of
 * which still reclaim it, so it is logged, not undone.
 */
static void relay_call_add(struct relay_call *c)
{
	struct relay_worker *w = c->w;

	relay_side_watch(c, RELAY_LEG_A);
	relay_side_watch(c, RELAY_LEG_B);
	c->live = true;
	c->prev = NULL;
	c->next = w->calls;
	if (w->calls)
		w->calls->prev = c;
	w->calls = c;
}

/*
 * relay_worker_apply() - apply the notes the SIP thread left. Worker
 * thread (or relay_stop() once the worker has ended).
 */
static bool relay_worker_apply(struct relay_worker *w)
{
	struct relay_call *list, *c, *next;
	uint64_t asked;
	bool stop;
	unsigned l;

	pthread_mutex_lock(&w->ctl_lock);
	list = w->ctl_head;
	w->ctl_head = NULL;
	w->ctl_woken = false;
	stop = w->ctl_stop;
	asked = w->sync_asked;
	/* copy the notes out while they cannot change: once the lock is
	 * dropped the SIP thread may queue the same call again */
	for (c = list; c; c = c->ctl_next) {
		c->work_next = c->ctl_next;
		c->work_ops = c->ctl_ops;
		c->work_slots = relay_call_slots(c);
		for (l = 0; l < c->work_slots; l++) {
			struct relay_slot *sl = relay_slot(c, l);

			sl->work_ops = sl->ctl_ops;
			sl->work_remote = sl->ctl_remote;
			sl->work_sink = sl->ctl_sink;
			memcpy(sl->work_tap, sl->ctl_tap, sizeof(sl->work_tap));
			sl->work_play = sl->ctl_play;
			sl->work_codec = sl->ctl_codec;
			sl->ctl_ops = 0;
		}
		c->work_mix = c->ctl_mix;
		c->ctl_mix.fresh = NULL;	/* handed over */
		c->ctl_ops = 0;
		c->ctl_queued = false;
	}
	pthread_mutex_unlock(&w->ctl_lock);

	for (c = list; c; c = next) {
		next = c->work_next;
		/* first, so that sinks named just before a free are
		 * attached and then detached like any other */
		for (l = 0; l < c->work_slots; l++)
			relay_side_sinks(c, (int)l);
		if (c->work_ops & RELAY_OP_FREE) {
			if (c->work_mix.fresh && !c->mix)
				c->mix = c->work_mix.fresh;
			relay_call_destroy(c);
			continue;
		}
		if (c->work_ops & RELAY_OP_ADD)
			relay_call_add(c);
		relay_leg_apply(c);
	}

	/* everything posted before relay_sync() asked is applied now */
	pthread_mutex_lock(&w->ctl_lock);
	if (w->sync_done < asked) {
		w->sync_done = asked;
		pthread_cond_broadcast(&w->sync_cond);
	}
	pthread_mutex_unlock(&w->ctl_lock);

	return stop;
}

int relay_sync(struct relay *r)
{
	struct relay_worker *w;
	uint64_t ticket;
	unsigned i;

	if (!r)
		return 0;

	for (i = 0; i < r->n_workers; i++) {
		w = r->workers[i];
		pthread_mutex_lock(&w->ctl_lock);
		ticket = ++w->sync_asked;
		pthread_mutex_unlock(&w->ctl_lock);
		relay_wake(w);

		pthread_mutex_lock(&w->ctl_lock);
		while (w->sync_done < ticket)
			pthread_cond_wait(&w->sync_cond, &w->ctl_lock);
		pthread_mutex_unlock(&w->ctl_lock);
	}

	return 0;
}

static void relay_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_worker *w = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (relay_worker_apply(w))
		event_base_loopbreak(w->base);
}

/*
 * relay_sweep_cb() - take the notes posted without a wake-up, and report
 * calls that have been silent too long. Worker thread, every sweep
 * period; O(calls on this worker), a few thousand comparisons a second
 * at most.
 */
static void relay_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_worker *w = arg;
	struct relay *r = w->r;
	int64_t now = clock_mono_coarse_ms(), limit;
	struct relay_call *c;
	int l;

	/* the frees and early notes left without a wake-up
	 * (relay_call_post()) */
	if (relay_worker_apply(w)) {
		event_base_loopbreak(w->base);
		return;
	}

	for (c = w->calls; c; c = c->next) {
		if (!c->armed || c->timed_out)
			continue;
		limit = r->timeout_ms;
		for (l = 0; l < RELAY_LEGS_MAX; l++) {
			if (c->open & (1u << l) && relay_side(c, l)->hold)
				limit = r->hold_timeout_ms;
		}
		if (!limit || now - c->last_rx_ms < limit)
			continue;

		c->timed_out = true;
		relay_count(&w->timeouts, 1);
		if (r->h)
			r->h(c->cookie, r->arg);
	}
}

static void *relay_worker_main(void *arg)
{
	struct relay_worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void relay_worker_free(struct relay_worker *w)
{
	struct relay_call *c;

	if (!w)
		return;

	if (w->started) {
		pthread_mutex_lock(&w->ctl_lock);
		w->ctl_stop = true;
		pthread_mutex_unlock(&w->ctl_lock);
		relay_wake(w);
		pthread_join(w->thread, NULL);
	}

	/* the worker is gone: this thread owns its calls now */
	if (w->ctl_ev)
		relay_worker_apply(w);
	while ((c = w->calls))
		relay_call_destroy(c);

	relay_play_close(w);
	relay_mix_close(w);
	/* before the base: the pool's events are on it */
	relay_pool_destroy(&w->pool);
	if (w->sweep_ev)
		event_free(w->sweep_ev);
	if (w->ctl_ev) {
		event_free(w->ctl_ev);
		pthread_cond_destroy(&w->sync_cond);
		pthread_mutex_destroy(&w->ctl_lock);
	}
	if (w->ctl_fd >= 0)
		close(w->ctl_fd);
	if (w->base)
		event_base_free(w->base);
	free(w);
}

static int relay_worker_alloc(struct relay *r, unsigned idx,
			      uint16_t port_min, uint32_t n_pairs,
			      int64_t sweep_ms, struct relay_worker **wp)
{
	struct timeval tv = {
		.tv_sec = sweep_ms / 1000,
		.tv_usec = (sweep_ms % 1000) * 1000,
	};
	struct event_config *ecfg;
	struct relay_worker *w;
	unsigned i;
	int err;

	w = aligned_alloc(RELAY_CACHELINE,
			  (sizeof(*w) + RELAY_CACHELINE - 1) &
			  ~(size_t)(RELAY_CACHELINE - 1));
	if (!w)
		return ENOMEM;
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->idx = idx;
	w->ctl_fd = -1;

	for (i = 0; i < RELAY_BATCH; i++) {
		w->riov[i].iov_base = w->buf[i];
		w->riov[i].iov_len = sizeof(w->buf[i]);
		w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
		w->rmsg[i].msg_hdr.msg_iovlen = 1;
		w->rmsg[i].msg_hdr.msg_name = &w->rname[i];
		w->smsg[i].msg_hdr.msg_iov = &w->siov[i];
		w->smsg[i].msg_hdr.msg_iovlen = 1;
	}

	err = relay_pool_init(&w->pool, w, port_min, n_pairs);
	if (err)
		goto out;

	/* the play timer keeps prompts on their 20 ms grid: libevent's
	 * default clock on Linux is CLOCK_MONOTONIC_COARSE, whose jiffy
	 * steps (4 ms and more) it adds to every timer */
	ecfg = event_config_new();
	if (ecfg)
		(void)event_config_set_flag(ecfg,
					    EVENT_BASE_FLAG_PRECISE_TIMER);
	w->base = ecfg ? event_base_new_with_config(ecfg) : NULL;
	if (ecfg)
		event_config_free(ecfg);
	if (!w->base) {
		err = ENOMEM;
		goto out;
	}

	w->ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->ctl_fd < 0) {
		err = errno;
		goto out;
	}

	err = pthread_mutex_init(&w->ctl_lock, NULL);
	if (err)
		goto out;
	err = pthread_cond_init(&w->sync_cond, NULL);
	if (err) {
		pthread_mutex_destroy(&w->ctl_lock);
		goto out;
	}

	w->ctl_ev = event_new(w->base, w->ctl_fd, EV_READ | EV_PERSIST,
			      relay_ctl_cb, w);
	if (!w->ctl_ev) {
		pthread_cond_destroy(&w->sync_cond);
		pthread_mutex_destroy(&w->ctl_lock);
		err = ENOMEM;
		goto out;
	}

	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, relay_sweep_cb, w);
	if (!w->sweep_ev || relay_play_open(w) || relay_mix_open(w) ||
	    event_add(w->ctl_ev, NULL) ||
	    event_add(w->sweep_ev, &tv)) {
		err = ENOMEM;
		goto out;
	}

	*wp = w;
	w = NULL;
 out:
	relay_worker_free(w);
	return err;
}

/* relay_bind_parse() - [rtp] bind (or advertise) address, port 0. */
static int relay_bind_parse(struct relay *r, const struct config_rtp *rtp)
{
	const char *host = rtp->bind[0] ? rtp->bind :
			   rtp->advertise;

	memset(&r->bind, 0, sizeof(r->bind));
	if (inet_pton(AF_INET, host, &r->bind.in.sin_addr) == 1) {
		r->bind.in.sin_family = AF_INET;
		r->bind_len = sizeof(r->bind.in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &r->bind.in6.sin6_addr) == 1) {
		r->bind.in6.sin6_family = AF_INET6;
		r->bind_len = sizeof(r->bind.in6);
		return 0;
	}

	log_error(r->log, "relay: '%s' is not an IP address", host);
	return EINVAL;
}

/*
 * relay_side_open() - take a pair from @w's pool, its sockets open (they
 * are after the pair's first use: relay_pool.c). A pair that does not
 * bind (another program holds one of its ports) goes to the back of the
 * list and the next one is tried, each free pair at most once (one that
 * failed within RELAY_BIND_RETRY_MS is passed over: relay_pool_open()).
 */
int relay_side_open(struct relay *r, struct relay_worker *w,
		    struct relay_side *leg)
{
	uint32_t tries = relay_pool_free_count(&w->pool), pair;
	int err, k;

	for (;;) {
		if (!tries--) {
			err = ENOSPC;
			goto out;
		}
		err = relay_pool_take(&w->pool, &pair);
		if (err)
			goto out;

		err = -relay_pool_open(r, &w->pool, pair);
		if (!err)
			break;

		relay_pool_put(&w->pool, pair);
		if (err == EAGAIN)	/* held elsewhere a moment ago */
			continue;
		/* out of descriptors (the open file limit below what the
		 * range needs: maskd warns at start): a pair already open
		 * further on may still serve, else the call is refused like
		 * one that finds no port - a 503, not a 500 (issue 14: the
		 * few failed calls of 5,000 held ones were this) */
		if (err == EMFILE || err == ENFILE)
			continue;
		if (err != EADDRINUSE && err != EACCES)
			goto out;
		atomic_fetch_add(&r->bind_failures, 1);
		log_debug(r->log, "relay: pair at port %u: bind: %s",
			  relay_pool_port(&w->pool, pair), strerror(err));
	}

	leg->pair = pair;
	leg->port = relay_pool_port(&w->pool, pair);
	for (k = 0; k < 2; k++)
		leg->sock[k] = relay_pool_sock(&w->pool, pair, k);
	err = 0;
 out:
	return err;
}

/*
 * relay_pick() - the worker with the most free pairs, leaving out those
 * in @tried (a bit per worker); ties go round robin so an idle relay
 * spreads calls over every thread.
 */
static struct relay_worker *relay_pick(struct relay *r, uint64_t tried)
{
	struct relay_worker *best = NULL;
	uint32_t best_free = 0, f;
	unsigned i, start = r->next++;

	for (i = 0; i < r->n_workers; i++) {
		struct relay_worker *w = r->workers[(start + i) % r->n_workers];

		if (tried & (1ull << w->idx))
			continue;
		f = relay_pool_free_count(&w->pool);
		if (f > best_free) {
			best = w;
			best_free = f;
		}
	}

	return best_free >= 2 ? best : NULL;
}

int relay_call_alloc(struct relay *r, uint64_t cookie,
		     struct relay_call **callp)
{
	struct relay_worker *w;
	struct relay_call *c = NULL;
	struct relay_side *a, *b;
	uint64_t tried = 0;
	unsigned attempt;
	int err = ENOSPC, l;

	if (!r || !callp)
		return EINVAL;

	/* a rival taking the last pairs between the pick and the take, or
	 * ports that will not bind, send us to the next best worker */
	for (attempt = 0; attempt < r->n_workers; attempt++) {
		w = relay_pick(r, tried);
		if (!w) {
			err = ENOSPC;
			goto out;
		}
		tried |= 1ull << w->idx;

		if (!c) {
			c = relay_call_get(r);
			if (!c) {
				err = ENOMEM;
				goto out;
			}
		}
		memset(c, 0, sizeof(*c));	/* more = NULL: see put */
		c->w = w;
		c->cookie = cookie;
		for (l = 0; l < RELAY_SLOTS_INLINE; l++)
			relay_side_init(c, (unsigned)l);
		a = relay_side(c, RELAY_LEG_A);
		b = relay_side(c, RELAY_LEG_B);
		/* the plain call: each leg into the other's output */
		a->sink = &b->out;
		b->sink = &a->out;
		c->sip_legs = 1u << RELAY_LEG_A | 1u << RELAY_LEG_B;

		err = relay_side_open(r, w, a);
		if (!err) {
			err = relay_side_open(r, w, b);
			if (err)
				relay_side_close(w, a);
		}
		if (err != ENOSPC)
			break;
	}
	if (err)
		goto out;

	atomic_fetch_add(&r->calls_live, 1);
	atomic_fetch_add(&r->calls_total, 1);
	relay_call_post(c, RELAY_OP_ADD, RELAY_LEG_A, 0, NULL);
	*callp = c;
	c = NULL;
 out:
	if (err == ENOSPC && r)
		atomic_fetch_add(&r->calls_refused, 1);
	if (r)
		relay_call_put(r, c);
	return err;
}

uint16_t relay_call_port(const struct relay_call *c, enum relay_leg leg)
{
	return relay_call_leg_ok(c, leg) ? relay_side_c(c, leg)->port : 0;
}

void relay_call_free(struct relay_call *c, struct relay_counters *out)
{
	struct relay_side *a, *b;

	if (!c)
		return;

	a = relay_side(c, RELAY_LEG_A);
	b = relay_side(c, RELAY_LEG_B);
	if (out) {
		out->a_to_b.packets = relay_read(&a->packets);
		out->a_to_b.bytes = relay_read(&a->bytes);
		out->a_to_b.drops = relay_read(&a->drops);
		out->b_to_a.packets = relay_read(&b->packets);
		out->b_to_a.bytes = relay_read(&b->bytes);
		out->b_to_a.drops = relay_read(&b->drops);
	}

	atomic_fetch_sub(&c->w->r->calls_live, 1);
	relay_call_post(c, RELAY_OP_FREE, RELAY_LEG_A, 0, NULL);
}

void relay_stats_get(const struct relay *r, struct relay_stats *out)
{
	const struct relay_worker *w;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (!r)
		return;

	out->workers = r->n_workers;
	for (i = 0; i < r->n_workers; i++) {
		w = r->workers[i];
		out->ports_total += 2 * (uint64_t)w->pool.n;
		out->ports_free += 2 * (uint64_t)relay_pool_free_count(&w->pool);
		out->packets += relay_read(&w->packets);
		out->bytes += relay_read(&w->bytes);
		out->drops += relay_read(&w->drops);
		out->timeouts += relay_read(&w->timeouts);
		out->mix_calls += relay_read(&w->mix_calls);
		out->mix_packets += relay_read(&w->mix_packets);
		out->mix_concealed += relay_read(&w->mix_concealed);
		out->mix_late += relay_read(&w->mix_late);
		if (atomic_load_explicit(&w->rt_prio, memory_order_relaxed))
			out->workers_realtime++;
	}
	out->ports_in_use = out->ports_total - out->ports_free;
	out->calls_live = relay_read(&r->calls_live);
	out->calls_total = relay_read(&r->calls_total);
	out->calls_refused = relay_read(&r->calls_refused);
	out->bind_failures = relay_read(&r->bind_failures);
}

/* The sums over workers are made when read: a snapshot group. */
static int relay_metrics_read(void *arg, void *snap)
{
	relay_stats_get(arg, snap);
	return 0;
}

static const struct metrics_row relay_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct relay_stats, f, name, kind, help),
#include "maskd/relay_metrics.inc"
#undef X
};

static const struct metrics_group relay_metrics_group =
	METRICS_GROUP_SNAP("relay", relay_metrics_rows, relay_metrics_read,
			   struct relay_stats);

int relay_metrics_register(struct relay *r, struct metrics *reg)
{
	int err;

	err = metrics_register(reg, &relay_metrics_group, r);
	if (!err)
		r->metrics = reg;
	return err;
}

/*
 * relay_fd_limit() - four descriptors per call: make sure the whole port
 * range can be open at once, as far as the hard limit allows, so a busy
 * relay fails with ENOSPC (a clean 503) rather than EMFILE halfway.
 */
static void relay_fd_limit(struct relay *r, uint64_t ports)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)(ports + RELAY_FD_HEADROOM);

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;

	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		log_warn(r->log, "relay: open file limit %llu is below the %llu "
			 "descriptors the port range needs",
			 (unsigned long long)rl.rlim_max,
			 (unsigned long long)want);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* relay_bind_check() - fail at start, not on the first call, when the
 * bind address is not on this host. */
static int relay_bind_check(const struct relay *r)
{
	int fd = relay_socket_open(r, 0);

	if (fd < 0)
		return -fd;
	close(fd);
	return 0;
}

int relay_start(struct relay **rp, const struct config_rtp *rtp, struct log *log,
		relay_timeout_h *h, void *arg)
{
	struct relay *r;
	sigset_t all, old;
	uint32_t first, n_pairs, from, to;
	unsigned n, i;
	long cores;
	int64_t sweep_ms;
	int err;

	if (!rp || !rtp)
		return EINVAL;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	pthread_mutex_init(&r->spare_lock, NULL);
	r->rtp = rtp;
	r->log = log;
	r->h = h;
	r->arg = arg;
	r->strict = rtp->strict_source;
	r->timeout_ms = (int64_t)rtp->timeout_s * 1000;
	r->hold_timeout_ms = (int64_t)rtp->hold_timeout_s * 1000;

	err = relay_bind_parse(r, rtp);
	if (err)
		goto out;

	err = relay_bind_check(r);
	if (err) {
		log_error(log, "relay: cannot bind to %s: %s",
			  rtp->bind[0] ? rtp->bind : rtp->advertise,
			  strerror(err));
		goto out;
	}

	/* RTP even, RTCP the odd port above (RFC 3550) */
	first = (rtp->port_min + 1u) & ~1u;
	n_pairs = rtp->port_max >= first + 1 ?
		  (rtp->port_max - first + 1) / 2 : 0;

	n = rtp->workers;
	if (!n) {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (unsigned)cores : 1;
	}
	if (n > RELAY_WORKERS_MAX)
		n = RELAY_WORKERS_MAX;
	/* a worker needs two pairs for one call */
	if (n > n_pairs / 2)
		n = n_pairs / 2;
	if (!n) {
		log_error(log, "relay: rtp.port_min..port_max holds fewer "
			  "than two RTP/RTCP pairs");
		err = EINVAL;
		goto out;
	}

	r->workers = calloc(n, sizeof(*r->workers));
	if (!r->workers) {
		err = ENOMEM;
		goto out;
	}

	sweep_ms = RELAY_SWEEP_MAX_MS;
	if (r->timeout_ms && r->timeout_ms / 4 < sweep_ms)
		sweep_ms = r->timeout_ms / 4;
	if (r->hold_timeout_ms && r->hold_timeout_ms / 4 < sweep_ms)
		sweep_ms = r->hold_timeout_ms / 4;
	if (sweep_ms < RELAY_SWEEP_MIN_MS)
		sweep_ms = RELAY_SWEEP_MIN_MS;

	/* before any socket is opened: the range may all be open at once */
	relay_fd_limit(r, 2ull * n_pairs);

	for (i = 0; i < n; i++) {
		from = (uint32_t)((uint64_t)n_pairs * i / n);
		to = (uint32_t)((uint64_t)n_pairs * (i + 1) / n);
		err = relay_worker_alloc(r, i, (uint16_t)(first + 2 * from),
					 to - from, sweep_ms, &r->workers[i]);
		if (err)
			goto out;
		r->n_workers++;
	}

	if (rtp->preopen) {
		uint32_t failed = 0;

		for (i = 0; i < n; i++)
			failed += relay_pool_preopen(r, &r->workers[i]->pool);
		atomic_fetch_add(&r->bind_failures, failed);
		if (failed)
			log_warn(log, "relay: %u of %u port pairs did not bind "
				 "at start (another program holds them); each "
				 "is tried again when a call takes it",
				 failed, n_pairs);
	}

	/* signals belong to the main thread's loop, not to the workers */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		struct relay_worker *w = r->workers[i];
		char name[16];

		err = pthread_create(&w->thread, NULL, relay_worker_main, w);
		if (err)
			break;
		w->started = true;
		snprintf(name, sizeof(name), "maskd-rtp%u", (unsigned char)i);
		pthread_setname_np(w->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto out;
	(void)relay_sched_apply(r, rtp->realtime_priority);

	log_info(log, "relay: %u workers, ports %u-%u (%u pairs) on %s",
		 n, first, first + 2 * n_pairs - 1, n_pairs,
		 rtp->bind[0] ? rtp->bind : rtp->advertise);
	*rp = r;
	r = NULL;
 out:
	relay_stop(r);
	return err;
}

void relay_stop(struct relay *r)
{
	struct relay_call *c;
	unsigned i;

	if (!r)
		return;

	/* first: the registry reads the workers' counters */
	metrics_unregister(r->metrics, &relay_metrics_group, r);
	for (i = 0; i < r->n_workers; i++)
		relay_worker_free(r->workers[i]);
	free(r->workers);
	while ((c = r->spare)) {
		r->spare = c->work_next;
		free(c);
	}
	pthread_mutex_destroy(&r->spare_lock);
	free(r);
}

void relay_timeout_set(struct relay *r, relay_timeout_h *h, void *arg)
{
	if (!r)
		return;
	r->h = h;
	r->arg = arg;
}
