/*
 * relay_internal.h - the relay's structures, shared by src/media/ only.
 *
 * relay.c         start/stop, the worker threads, the SIP-facing calls
 * relay_pool.c    each worker's port pairs: their free list and their
 *                 sockets, opened once and kept for the relay's life
 * relay_packet.c  the per-packet path: receive, latch, forward into the
 *                 leg's sink (and tap), count
 * relay_sink.c    the leg output sink, connect/tap, applying them
 * relay_play.c    prompts played into a leg: the worker's play timer
 * relay_leg.c     legs: set_remote, legs added and removed (3-way)
 * relay_mix.c     the mixer on a worker: its timer, sinks and RTP out
 *                 (the arithmetic is mix.c, include/maskd/mix.h)
 *
 * Who owns what is said at each struct. The rule: the SIP thread may
 * touch a relay_call's immutable fields (w, cookie, ports) and, under its
 * worker's ctl_lock, the ctl_* fields; everything else in the call
 * belongs to the worker thread, except the leg counters, which the worker
 * writes and anyone reads (relaxed atomics, one writer).
 */
#ifndef MASKD_RELAY_INTERNAL_H
#define MASKD_RELAY_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "maskd/clock.h"
#include "maskd/relay.h"

/* Datagrams taken per recvmmsg(). */
#define RELAY_BATCH 32

/* recvmmsg() rounds per wake-up: a socket under flood yields to the
 * others after this many; libevent is level-triggered and comes back. */
#define RELAY_DRAIN_ROUNDS 16

#define RELAY_CACHELINE 64

/* Sweep period bounds for the timeout check, milliseconds. */
#define RELAY_SWEEP_MIN_MS 100
#define RELAY_SWEEP_MAX_MS 1000

union relay_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

enum relay_kind {
	RELAY_RTP = 0,
	RELAY_RTCP = 1,
};

/* ctl_ops bits: what the SIP thread asked a worker to do with a call */
enum {
	RELAY_OP_ADD = 1 << 0,		/* start watching legs A and B */
	RELAY_OP_FREE = 1 << 1,		/* close, return the ports, free */
	RELAY_OP_MIX = 1 << 2,		/* ctl_mix is new */
};

/* ctl_leg_ops[leg] bits: what it asked for one leg */
enum {
	RELAY_LOP_REMOTE = 1 << 0,	/* ctl_remote[leg] is new */
	RELAY_LOP_SINK = 1 << 1,	/* ctl_sink[leg] is new */
	RELAY_LOP_TAP = 1 << 2,		/* ctl_tap[leg][0] is new */
	RELAY_LOP_PLAY = 1 << 3,	/* ctl_play[leg] is new */
	RELAY_LOP_CODEC = 1 << 4,	/* ctl_codec[leg] is new */
	RELAY_LOP_OPEN = 1 << 5,	/* relay_call_leg_add(): watch it */
	RELAY_LOP_CLOSE = 1 << 6,	/* relay_call_leg_remove() */
	RELAY_LOP_TAP1 = 1 << 7,	/* ctl_tap[leg][1] is new */
};

/* The leg op bit of tap @slot. */
static inline unsigned relay_lop_tap(unsigned slot)
{
	return slot ? RELAY_LOP_TAP1 : RELAY_LOP_TAP;
}

struct relay_mix;

/* What relay_call_mix() asked for; copied under ctl_lock. */
struct relay_mix_req {
	uint32_t legs;
	bool on;
	struct relay_mix *fresh;	/* the call's first mix: its mixer */
};

/* What relay_call_play() asked for; copied under ctl_lock. */
struct relay_play_req {
	const struct prompt *prompt;	/* NULL: stop */
	uint8_t pt;
	relay_play_done_h *done;
	void *arg;
};

struct player;
struct relay_worker;

/* A counter with one writer: a relaxed load and store, which on x86 is a
 * plain add, not a locked one (the packet path pays nothing for it). */
static inline void relay_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed)
			      + n, memory_order_relaxed);
}

static inline uint64_t relay_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c,
				    memory_order_relaxed);
}

/*
 * Where a leg sends one kind of packet (RTP or RTCP) to its party, and
 * whom it accepts packets from. Worker-owned.
 */
struct relay_dest {
	union relay_sa sdp;	/* from SDP; sa_family 0 = none yet */
	union relay_sa addr;	/* current destination; family 0 = none */
	socklen_t len;		/* of addr */
	int64_t last_ms;	/* last packet accepted from addr */
	bool latched;		/* addr came from a packet */
};

/*
 * One socket of a port pair, the event's argument. It belongs to the
 * worker's pool, not to a call: opened the first time its pair is taken
 * (or at start), watched by the worker from the first call on it, and
 * closed only by relay_stop() - so a call costs no socket(), bind(),
 * epoll_ctl() or close(). fd is written by whoever opens the pair while
 * it is taken (so by no one else); the rest is worker-owned. Between
 * calls call is NULL and what arrives is read and dropped (counted).
 */
struct relay_sock {
	struct event ev;
	int fd;			/* -1: not open yet */
	bool watched;		/* ev added to the worker's base */
	uint8_t leg;		/* the leg index, while call is set */
	uint8_t kind;		/* enum relay_kind */
	struct relay_call *call;	/* NULL: idle */
	struct relay_worker *w;
	/* the RTP socket's only: when its pair last failed to bind, plus
	 * RELAY_BIND_RETRY_MS (clock_mono_coarse_ms(); 0: never). Written
	 * and read by whoever has the pair taken; the pool's lock orders
	 * one taker after the next */
	int64_t bind_retry_ms;
};

/* What relay_call_set_remote() asked for; copied under ctl_lock. */
struct relay_remote {
	union relay_sa rtp;	/* family 0: no address (mute) */
	union relay_sa rtcp;
	unsigned flags;
};

/* One side of a call: the leg facing one party (enum relay_leg). */
struct relay_side {
	/* immutable after relay_call_alloc() */
	uint32_t pair;			/* index in the worker's pool */
	uint16_t port;			/* RTP; RTCP is port + 1 */
	struct relay_sink out;		/* relay_call_sink(): ops are
					 * relay_side_sink_ops */

	/* worker-owned */
	struct relay_sink *sink;	/* where accepted packets go; NULL
					 * drops them */
	struct relay_sink *tap[RELAY_TAPS];	/* see them too; NULL: none */
	bool tapped;			/* some tap[] is set */
	struct relay_sock *sock[2];	/* [enum relay_kind]: the pair's,
					 * in the worker's pool; NULL: none */
	struct relay_dest dest[2];
	bool has_remote;		/* set_remote() seen */
	bool muted;			/* SDP says send nothing there */
	bool hold;
	uint8_t codec;			/* relay_call_leg_codec() */

	/* playing (relay_play.c): worker-owned */
	struct player *player;		/* made on the first play */
	struct relay_play_req play;	/* the play going on */
	bool play_over;			/* its last packet is out */
	struct relay_side *play_next;	/* the worker's playing legs */
	struct relay_side **play_pprev;	/* NULL: not listed */

	/* packets arrived on this leg: worker writes, anyone reads */
	_Atomic uint64_t packets;
	_Atomic uint64_t bytes;
	_Atomic uint64_t drops;
};

/*
 * One leg slot of a call: the side and the notes about it, worker-owned
 * (work_*) or under the worker's ctl_lock (ctl_*, on their own cache
 * line, away from the packet path's fields).
 */
struct relay_slot {
	struct relay_side side;

	/* worker-owned: the notes being applied */
	unsigned work_ops;		/* RELAY_LOP_* */
	struct relay_remote work_remote;
	struct relay_sink *work_sink;
	struct relay_sink *work_tap[RELAY_TAPS];
	struct relay_play_req work_play;
	uint8_t work_codec;

	/* under w->ctl_lock: the notes left for the worker */
	_Alignas(RELAY_CACHELINE) unsigned ctl_ops;
	struct relay_remote ctl_remote;
	struct relay_sink *ctl_sink;
	struct relay_sink *ctl_tap[RELAY_TAPS];
	struct relay_play_req ctl_play;
	uint8_t ctl_codec;
};

/* Leg slots inside a call: the plain call's two. */
#define RELAY_SLOTS_INLINE 2

/*
 * A call: allocated by relay_call_alloc() on the SIP thread, owned by its
 * worker from then on, freed by the worker after RELAY_OP_FREE.
 *
 * The plain call's two legs are in the call. The slots of further legs
 * (a mixer's, 2 .. RELAY_LEGS_MAX - 1) are one block, `more`, made by the
 * first relay_call_leg_add() on the SIP thread and set under ctl_lock
 * before that leg is posted, so the worker reads it only for a leg it was
 * told of under the lock; it goes with the call (a recycled call drops
 * it: relay_call_put()). A plain call so costs about 2.3 KiB less than room for six legs.
 * A leg slot >= 2 changes hands: the SIP thread fills it in
 * relay_call_leg_add() (its immutable fields and sockets) and posts
 * RELAY_LOP_OPEN; the worker owns it from then on, and after
 * RELAY_LOP_CLOSE clears its bit in ctl_closing (under ctl_lock) once it
 * no longer touches it, which is when the SIP thread may fill it again.
 */
struct relay_call {
	struct relay_worker *w;		/* immutable */
	uint64_t cookie;		/* immutable */
	struct relay_slot slot[RELAY_SLOTS_INLINE];
	/* NULL, or RELAY_LEGS_MAX - RELAY_SLOTS_INLINE slots (see above) */
	struct relay_slot *more;

	/* the calling (SIP) thread's: which legs it may name */
	uint32_t sip_legs;		/* open legs, bit per leg */
	bool sip_mix;			/* a mixer was posted */

	/* worker-owned */
	struct relay_call *prev, *next;	/* the worker's live calls */
	struct relay_call *work_next;	/* while its ops are applied */
	unsigned work_ops;
	unsigned work_slots;		/* relay_call_slots() when the notes
					 * were taken: the slots the worker
					 * may look at */
	struct relay_mix_req work_mix;
	struct relay_mix *mix;		/* made on the first mix */
	uint32_t open;			/* legs whose events are added */
	int64_t last_rx_ms;		/* last packet accepted, any socket */
	bool live;			/* events added */
	bool armed;			/* both legs have SDP: timer runs */
	bool timed_out;			/* reported once */

	/* under w->ctl_lock; its own cache line, away from the packet
	 * path's fields */
	_Alignas(RELAY_CACHELINE) struct relay_call *ctl_next;
	unsigned ctl_ops;
	unsigned ctl_remotes;		/* 1 << leg: set_remote() seen */
	bool ctl_queued;
	uint32_t ctl_closing;		/* legs the worker has yet to close */
	struct relay_mix_req ctl_mix;
};

/*
 * relay_slot() - leg @l's slot in @c. Only for a leg that has one: @l
 * below RELAY_SLOTS_INLINE, or a leg relay_call_leg_add() opened (the
 * SIP thread) or the worker was told of under ctl_lock.
 */
static inline struct relay_slot *relay_slot(struct relay_call *c,
					    unsigned l)
{
	return l < RELAY_SLOTS_INLINE ? &c->slot[l]
				      : &c->more[l - RELAY_SLOTS_INLINE];
}

/* relay_side() - leg @l's side; as relay_slot(). */
static inline struct relay_side *relay_side(struct relay_call *c, unsigned l)
{
	return &relay_slot(c, l)->side;
}

/* relay_side_c() - relay_side() of a const call. */
static inline const struct relay_side *relay_side_c(const struct relay_call *c,
						    unsigned l)
{
	return l < RELAY_SLOTS_INLINE ? &c->slot[l].side
				      : &c->more[l - RELAY_SLOTS_INLINE].side;
}

/* relay_call_slots() - how many slots @c has: RELAY_SLOTS_INLINE, or
 * RELAY_LEGS_MAX once `more` is there. The SIP thread, or under
 * ctl_lock; the worker otherwise reads c->work_slots. */
static inline unsigned relay_call_slots(const struct relay_call *c)
{
	return c->more ? RELAY_LEGS_MAX : RELAY_SLOTS_INLINE;
}

/*
 * A worker's port pairs. The free list is a FIFO ring of pair indexes,
 * so a port just given back is the last to be reused (a party that keeps
 * sending for a moment after its BYE does not land in a new call). The
 * lock is taken by the SIP thread (take) and the worker (put), never on
 * the packet path. n_free mirrors count for lock-free reads. socks holds
 * each pair's two sockets ([2 * pair + kind]), see struct relay_sock.
 */
struct relay_pool {
	pthread_mutex_t lock;
	uint16_t port_min;		/* the slice's first (even) port */
	uint32_t n;			/* pairs in the slice */
	uint32_t *ring;			/* n slots */
	uint32_t head;			/* oldest free pair */
	uint32_t count;
	_Atomic uint32_t n_free;
	struct relay_sock *socks;	/* 2 * n */
};

/* relay_pool_init() - @n pairs from @port_min, all free, none open;
 * their sockets' events will be on @w's base. 0 or ENOMEM/an errno. */
int relay_pool_init(struct relay_pool *p, struct relay_worker *w,
		    uint16_t port_min, uint32_t n);
/* relay_pool_destroy() - close every socket (its event first). The
 * worker's thread must be gone. */
void relay_pool_destroy(struct relay_pool *p);
int relay_pool_take(struct relay_pool *p, uint32_t *pair);
void relay_pool_put(struct relay_pool *p, uint32_t pair);
uint32_t relay_pool_free_count(const struct relay_pool *p);

/* relay_pool_open() - make sure both sockets of @pair (taken, so owned by
 * the caller) are open and bound: 0, or -errno of the first that is not
 * (EADDRINUSE: another program holds the port; nothing is kept open).
 * -EAGAIN, with no system call, for a pair that failed to bind in the
 * last RELAY_BIND_RETRY_MS: with most of a range held elsewhere, every
 * call would otherwise try thousands of socket/bind/close on the SIP
 * thread (seen with another maskd holding the range). */
int relay_pool_open(const struct relay *r, struct relay_pool *p,
		    uint32_t pair);

/* relay_pool_preopen() - open every pair that binds, at start, so the
 * first calls pay nothing either; returns how many did not bind (they
 * are tried again when taken). Before the worker runs. */
uint32_t relay_pool_preopen(const struct relay *r, struct relay_pool *p);

/* relay_pool_watch() - add @s's event to its worker's base, once.
 * Worker thread (or before it runs). 0 or an errno from epoll. */
int relay_pool_watch(struct relay_sock *s);

/* relay_socket_open() - a nonblocking UDP socket bound to @port (0: any)
 * on the relay's bind address, DSCP EF; the fd or -errno. Any thread. */
int relay_socket_open(const struct relay *r, uint16_t port);

static inline struct relay_sock *relay_pool_sock(struct relay_pool *p,
						 uint32_t pair, int kind)
{
	return &p->socks[2 * pair + (unsigned)kind];
}

static inline uint16_t relay_pool_port(const struct relay_pool *p,
				       uint32_t pair)
{
	return (uint16_t)(p->port_min + 2 * pair);
}

/*
 * A worker thread and what it owns: its base, its calls, its scratch
 * buffers. Allocated by relay_start(); the SIP thread touches only pool
 * (through its lock) and ctl_* (under ctl_lock).
 */
struct relay_worker {
	struct relay *r;
	unsigned idx;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct relay_pool pool;

	int ctl_fd;			/* eventfd: "look at ctl_head" */
	struct event *ctl_ev;
	struct event *sweep_ev;
	struct event *play_ev;		/* the play timer: on while
					 * players is not empty */
	struct relay_side *players;	/* legs playing; worker-owned */
	struct event *mix_ev;		/* the mix timer: on while mixes
					 * is not empty */
	struct relay_mix *mixes;	/* mixing calls; worker-owned */
	uint64_t mix_due_us;		/* the next frame's time */
	pthread_mutex_t ctl_lock;
	struct relay_call *ctl_head;	/* calls with ops, under ctl_lock */
	bool ctl_woken;			/* under ctl_lock: the worker was
					 * woken for what is on ctl_head */
	bool ctl_stop;			/* under ctl_lock */
	pthread_cond_t sync_cond;	/* relay_sync(): under ctl_lock */
	uint64_t sync_asked;
	uint64_t sync_done;

	/* worker-owned from here on */
	_Alignas(RELAY_CACHELINE) struct relay_call *calls;
	_Atomic uint64_t packets;
	_Atomic uint64_t bytes;
	_Atomic uint64_t drops;
	_Atomic uint64_t timeouts;
	_Atomic uint64_t mix_calls;	/* listed in mixes */
	_Atomic uint64_t mix_packets;
	_Atomic uint64_t mix_concealed;
	_Atomic uint64_t mix_late;
	/* the SCHED_RR priority relay_sched_apply() gave this worker; 0 =
	 * normal priority. Written once at start, read by the metrics. */
	_Atomic unsigned rt_prio;

	/* packet path scratch: no allocation per packet */
	struct mmsghdr rmsg[RELAY_BATCH];
	struct mmsghdr smsg[RELAY_BATCH];
	struct iovec riov[RELAY_BATCH];
	struct iovec siov[RELAY_BATCH];
	union relay_sa rname[RELAY_BATCH];
	uint8_t buf[RELAY_BATCH][RELAY_PACKET_MAX];
};

/* The relay; owned by the thread that called relay_start(). */
struct relay {
	const struct config_rtp *rtp;	/* borrowed */
	struct log *log;
	relay_timeout_h *h;
	void *arg;

	union relay_sa bind;		/* port 0 */
	socklen_t bind_len;
	bool strict;
	int64_t timeout_ms;		/* 0 = never */
	int64_t hold_timeout_ms;

	unsigned n_workers;
	struct relay_worker **workers;
	unsigned next;			/* round-robin start of the pick */

	_Atomic uint64_t calls_live;
	_Atomic uint64_t calls_total;
	_Atomic uint64_t calls_refused;
	_Atomic uint64_t bind_failures;

	/* relay calls freed and kept for the next ones (relay.c: a relay
	 * call is several KiB, made on the SIP thread and freed on a
	 * worker; recycled, the heap neither churns nor fragments) */
	pthread_mutex_t spare_lock;
	struct relay_call *spare;	/* linked through work_next */
	unsigned n_spare;

	struct metrics *metrics;	/* borrowed; relay_metrics_register() */
};


/* relay_wake() - make worker @w look at its ctl list. Any thread.
 * relay_call_queue_locked() - put @c on that list (once), under
 * w->ctl_lock; true when the worker must be woken (nobody has woken it
 * for this list yet). relay.c. */
void relay_wake(struct relay_worker *w);
bool relay_call_queue_locked(struct relay_worker *w, struct relay_call *c);

/*
 * relay_sched_apply() - [rtp] realtime_priority: every started worker of
 * @r to SCHED_RR priority @prio (0: nothing), all or none. Logs once
 * what they got (each worker's rt_prio says it for the metrics): a
 * refusal (EPERM: no CAP_SYS_NICE) leaves them all at normal priority
 * with one warning. Returns how many run at @prio (n_workers or 0).
 * relay_sched.c; the thread that runs relay_start().
 */
unsigned relay_sched_apply(struct relay *r, unsigned prio);

/* relay_sock_cb() - the packet path; relay_packet.c. */
void relay_sock_cb(evutil_socket_t fd, short what, void *arg);

/* relay_call_post() - leave call ops @ops and leg ops @lops of @leg
 * (with @rem for RELAY_LOP_REMOTE) on @c for its worker and wake it.
 * Any thread but the worker's; cannot fail. relay.c. */
void relay_call_post(struct relay_call *c, unsigned ops, unsigned leg,
		     unsigned lops, const struct relay_remote *rem);

/* relay_call_post_sink() - leave a new sink (@op: RELAY_LOP_SINK) or
 * tap (RELAY_LOP_TAP) of @leg for the worker; EBUSY while the last one
 * is not yet taken. Any thread but the worker's. relay_sink.c. */
int relay_call_post_sink(struct relay_call *c, unsigned op,
			 enum relay_leg leg, struct relay_sink *s);

/* relay_call_leg_ok() - may the call's owner name @leg (open)? */
static inline bool relay_call_leg_ok(const struct relay_call *c,
				     unsigned leg)
{
	return c && leg < RELAY_LEGS_MAX && (c->sip_legs & (1u << leg));
}

/* relay_side_init() - a leg slot as relay_call_alloc() and
 * relay_call_leg_add() start it: no sockets, no sink. relay.c. */
void relay_side_init(struct relay_call *c, unsigned l);

/* relay_side_open() - take a pair from @w's pool, bind its two sockets
 * into @leg (pair, port, sock[].fd); relay_side_close() closes them and
 * gives the pair back. 0, ENOSPC or an errno. relay.c. */
int relay_side_open(struct relay *r, struct relay_worker *w,
		    struct relay_side *leg);
void relay_side_close(struct relay_worker *w, struct relay_side *leg);

/* relay_side_watch() - leg @l's sockets deliver to @c from now on
 * (watched by the worker: relay_pool_watch()); relay_side_unwatch()
 * makes them idle again (what arrives is read and dropped). Worker
 * thread. relay.c. */
void relay_side_watch(struct relay_call *c, unsigned l);
void relay_side_unwatch(struct relay_call *c, unsigned l);

/* relay_side_remote() - apply a party's SDP address to leg @l. Worker
 * thread. relay_leg.c. */
void relay_side_remote(struct relay_call *c, unsigned l,
		       const struct relay_remote *rem);

/* relay_leg_apply() - apply the leg notes of @c other than sinks and
 * taps (open, remote, codec, mix, play, close), in that order. Worker
 * thread. relay_leg.c. */
void relay_leg_apply(struct relay_call *c);

/* relay_mix_open() - the worker's mix timer (not yet running);
 * relay_mix_close() frees it after every call is destroyed. 0 or
 * ENOMEM. relay_mix.c. */
int relay_mix_open(struct relay_worker *w);
void relay_mix_close(struct relay_worker *w);

/* relay_mix_alloc() - a mixer for @c, made by the thread that calls
 * relay_call_mix() (random SSRCs, sequence numbers and timestamps);
 * relay_mix_free() is NULL-safe. relay_mix.c. */
int relay_mix_alloc(struct relay_call *c, struct relay_mix **mp);
void relay_mix_free(struct relay_mix *m);

/* relay_mix_apply() - apply work_mix to @c. Worker thread. */
void relay_mix_apply(struct relay_call *c);

/* relay_mix_leg_gone() - leg @l is closing: out of the mix. Worker. */
void relay_mix_leg_gone(struct relay_call *c, unsigned l);

/* relay_mix_drop() - @c is being destroyed: its mixer goes. Worker. */
void relay_mix_drop(struct relay_call *c);

/* relay_side_sinks() - apply the sink and tap notes of leg @l (work_ops,
 * work_sink, work_tap), detaching what they replace. Worker thread.
 * relay_sink.c. */
void relay_side_sinks(struct relay_call *c, int l);

/* relay_side_taps_detach() - the leg goes (its call destroyed, or the
 * leg removed): detach each of its taps. Worker thread. relay_sink.c. */
void relay_side_taps_detach(struct relay_side *side);

/* relay_play_open() - the worker's play timer (not yet running);
 * relay_play_close() frees it after every call is destroyed. 0 or
 * ENOMEM. relay_play.c. */
int relay_play_open(struct relay_worker *w);
void relay_play_close(struct relay_worker *w);

/* relay_play_apply() - apply the play note of leg @l (work_play).
 * Worker thread. relay_play.c. */
void relay_play_apply(struct relay_call *c, int l);

/* relay_play_drop() - @c is being destroyed: its players stop and go,
 * no done handler. Worker thread. relay_play.c. */
void relay_play_drop(struct relay_call *c);

/* relay_play_leg_drop() - the same for leg @l alone (it is closing). */
void relay_play_leg_drop(struct relay_call *c, unsigned l);

/* relay_sink_detach() - @s (NULL-ok) is no longer written into by a leg:
 * its detach op, if any. Worker thread. relay_sink.c. */
void relay_sink_detach(struct relay_sink *s);

/* The ops of every leg output sink (struct relay_side.out); the packet
 * path recognises a leg output by them and sends to it in batches
 * instead of calling write() per packet. relay_sink.c. */
extern const struct relay_sink_ops relay_side_sink_ops;

/* relay_sink_side() - the leg whose output @s is, or NULL for any other
 * sink (or none). Hot path: one compare. */
static inline struct relay_side *relay_sink_side(struct relay_sink *s)
{
	if (!s || s->ops != &relay_side_sink_ops)
		return NULL;
	return (struct relay_side *)((char *)s -
				     offsetof(struct relay_side, out));
}

/* relay_sa_same_host() - same family and address; ports may differ.
 * Hot path. */
static inline bool relay_sa_same_host(const union relay_sa *a,
				      const union relay_sa *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
			       sizeof(a->in6.sin6_addr));
	return false;
}

/* relay_sa_equal() - same family, address and port. Hot path. */
static inline bool relay_sa_equal(const union relay_sa *a,
				  const union relay_sa *b)
{
	if (!relay_sa_same_host(a, b))
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port;
	return a->in6.sin6_port == b->in6.sin6_port;
}

#endif
