/*
 * relay.h - the media relay: every call's RTP and RTCP through maskd's
 * own ports, so neither party learns the other's address.
 *
 * Threads. relay_start() starts N worker threads (rtp.workers; 0 = one
 * per core). Each worker has its own libevent base and its own contiguous
 * slice of [rtp.port_min, rtp.port_max], cut into RTP/RTCP pairs (even
 * port RTP, the odd port above it RTCP). A call lives on one worker: its
 * four sockets, latching state and counters belong to that worker thread
 * and the packet path takes no lock shared with anything.
 *
 * The SIP thread drives calls through the relay_call_*() functions. They
 * never touch what the worker owns: relay_call_alloc() takes ports (and
 * opens their sockets the first time) on the caller's thread and then
 * hands the call over; set_remote() and free() leave a note on the call
 * for its worker, which applies it on its own thread (woken at once for
 * what cannot wait, once per plain call: relay.c). Neither can fail after
 * relay_call_alloc() returned 0, so a call's ports always come back.
 * relay_call_connect() and relay_call_tap() (Sinks, below) post the same
 * way.
 *
 * A relay call has two legs. Leg A faces party A (the caller): its ports
 * are written into the SDP that party A receives, and what arrives there
 * is party A's media, sent on out of leg B's socket to party B - and the
 * other way round (by default: see Sinks below). A call may get further
 * legs (relay_call_leg_add(), up to RELAY_LEGS_MAX), each facing one more
 * party, and mix them (relay_call_mix(): a 3-way call). Every function
 * below that takes an enum relay_leg takes any open leg's index.
 *
 * Latching (non-strict, the default). Where a leg sends to its party is
 * first the address in that party's SDP; the first packet the party sends
 * to the leg replaces it with the packet's source (symmetric RTP: a party
 * behind NAT is reached where its packets come from). After that the leg
 * accepts packets only from the latched source, except that
 *   - a packet from the SDP address itself always wins (re-latches);
 *   - after RELAY_RELATCH_MS of silence from the latched source, a packet
 *     from the same IP address on another port re-latches (a NAT that
 *     rebound the party's port);
 *   - new SDP with another address (re-INVITE) forgets the latch.
 * Anything else is dropped and counted: a stranger who guesses a port
 * can neither inject media nor steal it once the party has spoken (the
 * "RTP bleed" attack). RTP and RTCP latch independently. With
 * rtp.strict_source only the SDP's address and port are accepted.
 *
 * Timeouts. Once both legs have an SDP address, a call from which no
 * packet arrived on any of its sockets for rtp.timeout seconds (or
 * rtp.hold_timeout while either side's SDP holds the call) is reported
 * once through relay_timeout_h. Before both SDPs are known (ringing) the
 * SIP side's ring timeout applies instead.
 */
#ifndef MASKD_RELAY_H
#define MASKD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "maskd/config.h"
#include "maskd/log.h"
#include "maskd/metrics.h"

/* A latched source silent this long may be replaced by its own IP on
 * another port (NAT rebinding). */
#define RELAY_RELATCH_MS 2000

/* Largest datagram relayed; larger ones are dropped and counted. */
#define RELAY_PACKET_MAX 4096

struct relay;
struct relay_call;

/* Legs a relay call may have: A, B and up to four more. */
#define RELAY_LEGS_MAX 6

enum relay_leg {
	RELAY_LEG_A = 0,	/* faces party A, the caller */
	RELAY_LEG_B = 1,	/* faces party B, the callee */
	/* 2 .. RELAY_LEGS_MAX - 1: legs from relay_call_leg_add() */
};

/* relay_call_set_remote() flags */
enum {
	/* the party's SDP holds the call (sendonly, recvonly, inactive or
	 * c=0.0.0.0): rtp.hold_timeout applies instead of rtp.timeout */
	RELAY_REMOTE_HOLD = 1 << 0,
};

/* One direction of a call: what arrived from one party. Drops are
 * packets from a source the leg does not accept, with nowhere to go
 * yet, too large, or refused by the kernel on the way out. */
struct relay_flow {
	uint64_t packets;	/* relayed, RTP and RTCP */
	uint64_t bytes;		/* UDP payload bytes relayed */
	uint64_t drops;
};

/* A call's counters, for its CDR. A copy: the caller owns it. Named
 * after the plain call; they are what arrived on leg A and on leg B
 * (relayed, or consumed by another sink such as the mixer). */
struct relay_counters {
	struct relay_flow a_to_b;	/* arrived on leg A, sent to party B */
	struct relay_flow b_to_a;
};

/* Counters for /metrics, declared in relay_metrics.inc: any thread,
 * relaxed atomics, so the fields are each exact but not a snapshot of one
 * instant. */
struct relay_stats {
#define X METRICS_X_PLAIN
#include "maskd/relay_metrics.inc"
#undef X
};

/*
 * relay_timeout_h - call @cookie has had no media for its timeout.
 *
 * Runs on the call's WORKER thread, at most once per call, and must only
 * hand the cookie over (the SIP side posts it to its own thread, which
 * BYEs both legs with CDR reason "rtp_timeout" and then calls
 * relay_call_free()). The call may already have been freed by the SIP
 * side in the meantime, so the cookie - not a pointer into the call - is
 * what identifies it: an unknown cookie is ignored. Must not block and
 * must not call back into the relay.
 */
typedef void (relay_timeout_h)(uint64_t cookie, void *arg);

/*
 * relay_start() - split the port range, start the worker threads.
 *
 * Reads only the [rtp] section: binds to rtp->bind (or rtp->advertise when
 * it is empty). @rtp and @log are borrowed and must outlive the relay; @h
 * may be NULL.
 * Returns 0, EINVAL (fewer than two port pairs per worker, or a bad
 * address), EADDRNOTAVAIL (the bind address is not on this host), or
 * another errno with no thread left running.
 */
int relay_start(struct relay **rp, const struct config_rtp *rtp,
		struct log *log, relay_timeout_h *h, void *arg);

/*
 * relay_timeout_set() - replace the handler given to relay_start(), for a
 * handler whose @arg only exists once the relay runs (the SIP side, which
 * is started with the relay). The workers read the handler only for a
 * live call, so call it while the relay has no call: a call handed to a
 * worker after it (through ctl_lock) sees the new handler, and none can
 * see a half-written one. NULL-safe.
 */
void relay_timeout_set(struct relay *r, relay_timeout_h *h, void *arg);

/*
 * relay_stop() - stop the workers and close every socket. Calls not yet
 * freed are freed here; the caller must not use them afterwards.
 * NULL-safe. Call from the thread that called relay_start().
 */
void relay_stop(struct relay *r);

/*
 * relay_call_alloc() - a new call: two port pairs on the least loaded
 * worker, their sockets open.
 *
 * Synchronous and fast, for the SIP thread (the ports go into the SDP
 * right away): a mutex around the worker's free list; a pair's sockets
 * are opened and bound the first time it is taken and then kept
 * (relay_pool.c), so most calls make no system call here. A pair that
 * does not open (EADDRINUSE: another program took a port; EMFILE: the
 * open file limit) goes to the back of the free list and the next is
 * tried; one that failed to bind is not tried again for
 * RELAY_BIND_RETRY_MS (so a range mostly held elsewhere costs one sweep
 * of binds a second, not one per call). @cookie is what relay_timeout_h
 * will report. Returns 0 and sets
 * *callp, or ENOSPC (no worker has two free pairs that are or can be
 * opened: nothing is held; the SIP side answers 503), or ENOMEM/an errno
 * from socket(). The caller owns *callp until it passes it to
 * relay_call_free(); only one thread may use it at a time.
 */
int relay_call_alloc(struct relay *r, uint64_t cookie,
		     struct relay_call **callp);
#define RELAY_BIND_RETRY_MS 1000

/*
 * relay_call_port() - the RTP port of @leg (its RTCP port is one above),
 * to write into the SDP the party of @leg receives. Fixed while the leg
 * is open (for A and B: the call); 0 for a leg that is not open.
 */
uint16_t relay_call_port(const struct relay_call *c, enum relay_leg leg);

/*
 * relay_call_set_remote() - where the party of @leg wants its media, from
 * that party's SDP (offer or answer, first or re-INVITE).
 *
 * @rtp is the party's connection address and m= port; @rtcp its a=rtcp
 * address, or NULL for the RTP address with port + 1. An @rtp that is
 * NULL, has port 0 or the unspecified address (c=0.0.0.0) stops media
 * towards that party until SDP names an address again; the latch is kept
 * so a resume to the same address needs no new packet first. The
 * address family must be the bind address's: else EAFNOSUPPORT and
 * nothing changes. Returns 0 or EINVAL/EAFNOSUPPORT; the worker applies
 * it shortly afterwards, on its thread.
 */
int relay_call_set_remote(struct relay_call *c, enum relay_leg leg,
			  const struct sockaddr *rtp,
			  const struct sockaddr *rtcp, unsigned flags);

/*
 * Sinks. What a leg accepts from its party is written into the leg's
 * *sink*; by default leg A's sink is leg B's output (the sockets facing
 * party B) and the other way round, which is the plain relayed call. A
 * sink can also be something that consumes media itself (a DTMF
 * collector, later a player's echo, a recorder queue or a mixer), and a
 * leg may have a *tap* besides: a sink that sees a read-only copy of
 * every accepted packet while the leg still forwards to its sink, so a
 * bridged call keeps relaying DTMF untouched while maskd listens.
 *
 * Threads. A sink's ops run on the call's WORKER thread, for every packet
 * (write) and once when the leg stops using it (detach), so write() is on
 * the packet path: no blocking, no lock shared with the SIP thread, no
 * log line per packet; what it has to report it hands over as
 * relay_timeout_h does. The SIP thread attaches and detaches sinks only
 * through relay_call_connect()/relay_call_tap(), which leave a note for
 * the worker like set_remote().
 *
 * Ownership. The owner of a sink keeps it alive from the call that names
 * it until its detach op has run; detach runs exactly once for every
 * relay_call_connect() or relay_call_tap() that named the sink and
 * returned 0, when it is replaced, or when the call is freed (during
 * relay_stop(), on the thread calling it). A leg output sink
 * (relay_call_sink()) belongs to the call and has no detach.
 */
struct relay_sink;

struct relay_sink_ops {
	/* @pkt (@len bytes, read-only) arrived from the party of the leg
	 * feeding this sink, from a source the leg accepts; @is_rtcp says
	 * whether it is RTCP (also RTCP muxed on the RTP port); @now is
	 * CLOCK_MONOTONIC_COARSE in milliseconds. Worker thread. */
	void (*write)(struct relay_sink *s, const uint8_t *pkt, size_t len,
		      bool is_rtcp, int64_t now);
	/* the leg no longer writes into @s; may be NULL */
	void (*detach)(struct relay_sink *s);
};

/* Embed it in the sink's own struct (container_of) or point arg at it. */
struct relay_sink {
	const struct relay_sink_ops *ops;
	void *arg;			/* the owner's; the relay never reads it */
};

/*
 * relay_call_sink() - the output of @leg: a sink that sends what is
 * written into it out of @leg's sockets to @leg's party (RTP out of the
 * RTP port, RTCP out of the RTCP port, RTCP's sender scrubbed), where
 * that leg has latched. Belongs to the call; fixed for its lifetime; any
 * thread may take the address of A's or B's, only the worker writes into
 * it. A further slot (2 .. RELAY_LEGS_MAX - 1) has one once the call's
 * first relay_call_leg_add() made room for them (NULL before, and
 * beyond; the call's owner asks); a leg slot that is not open sends
 * nothing.
 */
struct relay_sink *relay_call_sink(struct relay_call *c, enum relay_leg leg);

/*
 * relay_call_connect() - from now on what arrives on @leg goes into
 * @sink instead: relay_call_sink(c, other leg) is the default,
 * relay_call_sink(c, leg) echoes to the party, NULL drops (counted), any
 * other sink consumes it. A leg output of another call is refused
 * (EINVAL: that call may live on another worker), and so is one of a
 * leg of this call that is not open. One change per leg in
 * flight: EBUSY while the worker has not yet applied the previous
 * relay_call_connect() of @leg (it does within one loop iteration; try
 * again from the next event). Returns 0, EINVAL or EBUSY.
 */
int relay_call_connect(struct relay_call *c, enum relay_leg leg,
		       struct relay_sink *sink);

/*
 * relay_call_tap() - @tap (NULL: none) sees a copy of every packet @leg
 * accepts, before it goes into the leg's sink (even when that sink drops
 * it: a muted or not yet answered far end). A leg has RELAY_TAPS tap
 * slots, one per kind of listener, so a DTMF collector and a recorder
 * can listen at once; relay_call_tap() sets slot RELAY_TAP_DTMF,
 * relay_call_tap_at() any. Setting a slot detaches what it held.
 * Returns 0, EINVAL (a leg output is not a tap, no such slot) or EBUSY
 * as relay_call_connect() (per slot).
 */
enum relay_tap_slot {
	RELAY_TAP_DTMF = 0,	/* digit collectors (PIN) */
	RELAY_TAP_REC = 1,	/* the recorder (recorder.h) */
	RELAY_TAPS
};

int relay_call_tap(struct relay_call *c, enum relay_leg leg,
		   struct relay_sink *tap);
int relay_call_tap_at(struct relay_call *c, enum relay_leg leg,
		      enum relay_tap_slot slot, struct relay_sink *tap);

/*
 * Playing. While maskd is the media endpoint of a leg (an announcement, a
 * PIN prompt) the leg's worker makes its RTP with a player (player.h)
 * and writes each packet into relay_call_sink(c, leg). Every worker
 * drives all its players from ONE periodic timer (RELAY_PLAY_TICK_US),
 * never one per call, and runs it only while something plays. One
 * player per leg, made on the first play, kept for the call's life: one
 * SSRC, and sequence and timestamps going on from prompt to prompt.
 * The tick bounds the jitter (a packet goes out on the first tick at or
 * after it is due), so it is short: 1 ms, on libevent's precise clock
 * (relay.c); with 2,000 plays it costs one pass over the playing legs
 * per millisecond, a few microseconds (bench/bench_play).
 */
#define RELAY_PLAY_TICK_US 1000

/*
 * relay_play_done_h - the play of @leg of the call with @cookie is over:
 * @err 0 when the prompt's last packet went out, else why it never
 * started (ENOMEM: no player). Runs on the call's WORKER thread, once
 * per relay_call_play() that named it, unless the play was replaced or
 * stopped, or the call freed, first; like relay_timeout_h it must only
 * hand the cookie over (the call may be freed meanwhile).
 */
typedef void (relay_play_done_h)(uint64_t cookie, enum relay_leg leg,
				 int err, void *arg);

struct prompt;

/*
 * relay_call_play() - play @prompt (immutable, prompt.h; NULL: stop
 * playing) to the party of @leg in payload type @pt (0 PCMU, 8 PCMA),
 * from the worker's next tick; @done (may be NULL) with @arg when it
 * ends. Handed over like relay_call_connect(): one change per leg in
 * flight (EBUSY). The packets go out where the leg sends to its party
 * (its SDP address, or where the party's packets came from): call
 * relay_call_set_remote() for @leg first. Returns 0, EINVAL or EBUSY.
 */
int relay_call_play(struct relay_call *c, enum relay_leg leg,
		    const struct prompt *prompt, uint8_t pt,
		    relay_play_done_h *done, void *arg);

/*
 * More legs and the mixer (a 3-way call).
 *
 * relay_call_leg_add() - a further leg (index 2 .. RELAY_LEGS_MAX - 1)
 * with its own RTP/RTCP port pair, taken from the pool of @c's worker
 * (so it lives on the same thread as the call) and bound like the
 * first two. Its sink is NULL (what its party sends is dropped, counted)
 * until relay_call_connect() or relay_call_mix() says otherwise, and
 * nothing is sent to its party until something writes into its output.
 * Returns 0 and *legp, ENOSPC (the worker has no free pair, or every
 * index is taken), EBUSY (the only free indexes are legs whose removal
 * the worker has not applied yet: try again from the next event), or
 * ENOMEM/an errno from socket(). SIP thread (the call's owner).
 */
int relay_call_leg_add(struct relay_call *c, unsigned *legp);

/*
 * relay_call_leg_remove() - stop leg @leg (>= 2): its worker stops
 * watching it, takes it out of the mix, detaches its sink and tap,
 * stops its player, points every leg whose sink was @leg's output at
 * NULL, closes its sockets and returns its ports. Its counters are gone
 * with it: read them first (relay_call_leg_counters()). Returns 0 or
 * EINVAL (legs A and B end with the call, or @leg is not open).
 */
int relay_call_leg_remove(struct relay_call *c, unsigned leg);

/*
 * relay_call_leg_counters() - what arrived on open leg @leg so far
 * (relayed or consumed, and dropped). Any leg; legs A and B are also in
 * relay_call_free()'s counters. Returns 0 or EINVAL.
 */
int relay_call_leg_counters(const struct relay_call *c, unsigned leg,
			    struct relay_flow *out);

/*
 * relay_call_leg_codec() - @leg's party speaks payload type @pt (0 PCMU,
 * 8 PCMA): what the mixer sends it is encoded so. PCMU until set; a
 * packet arriving in the other G.711 law is still decoded by its own
 * payload type. Returns 0 or EINVAL; applied like set_remote().
 */
int relay_call_leg_codec(struct relay_call *c, unsigned leg, uint8_t pt);

/*
 * relay_call_mix() - @on: every leg in @legs (a bitmask of open legs,
 * 1u << leg) joins the call's mixer, in addition to those already in it:
 * its sink becomes the mixer (what it replaces is detached), and its
 * party hears, from the leg's own ports, the sum of every other mixed
 * party and not itself. Off: the legs in @legs (0: every mixed leg)
 * leave it; a leg that leaves gets sink NULL, except that legs A and B,
 * once neither is mixed, go back to each other (the plain call).
 *
 * The mixer (relay_mix.c): each input G.711-decoded by its packet's
 * payload type into a jitter buffer (MIX_JB_DEPTH frames held, packets
 * reordered, late ones dropped) with packet-loss concealment; every 20
 * ms one worker timer (RELAY_MIX_TICK_US, for all the worker's mixed
 * calls) sums the frames in 32 bits and sends each listener the sum
 * less its own frame, clipped once, encoded in the listener's codec
 * (relay_call_leg_codec()): one RTP stream per listener with its own
 * random SSRC, sequence and timestamp (+160 per packet), marker on its
 * first packet, kept for the call's life. Not mixed, and dropped
 * (counted as the leg's packets, as any consuming sink counts them):
 * RTCP - maskd does not forward one party's reports to the others,
 * which would name its SSRC and CNAME, and sends none of its own (RTP
 * without RTCP is what a receiver sees from many gateways) - telephone
 * events and comfort noise (payload types other than 0 and 8). Do not
 * play into a mixed leg: both would send.
 *
 * The mixer is made on the first @on (here, on the calling thread) and
 * kept until the call is freed. One change in flight: EBUSY while the
 * worker has not applied the previous one. Returns 0, EINVAL (@legs
 * names a leg that is not open, or is 0 with @on), EBUSY or ENOMEM.
 */
int relay_call_mix(struct relay_call *c, uint32_t legs, bool on);

/* The mixer's period: one timer per worker drives all its mixed calls. */
#define RELAY_MIX_TICK_US 20000

/*
 * relay_call_free() - end the call: fill @out (NULL-ok) with its counters
 * and hand it to its worker, which returns the ports to its free list
 * (their sockets stay open, idle) when it next looks at its notes, within
 * a sweep period (at most a second). Never fails; @c is
 * invalid afterwards. NULL-safe.
 *
 * The counters are what the worker had counted at that instant: a batch
 * it is relaying right then (a few packets at most, after the BYE) is
 * not in them.
 */
void relay_call_free(struct relay_call *c, struct relay_counters *out);

/*
 * relay_sync() - wait until every worker has applied what was posted to
 * it before this call (adds, set_remote()s, frees: the ports of freed
 * calls are back in the pool when it returns). Blocks for about one
 * loop iteration of each worker: for tests and shutdown, not for the
 * SIP thread's normal work. Returns 0.
 */
int relay_sync(struct relay *r);

/* relay_stats_get() - counters for /metrics. Any thread. */
void relay_stats_get(const struct relay *r, struct relay_stats *out);

/*
 * relay_metrics_register() - show relay_stats_get()'s counters in @reg
 * from now on; relay_stop() takes them off. Call after relay_start(),
 * from the thread that will stop it. Returns 0 or an errno of
 * metrics_register().
 */
int relay_metrics_register(struct relay *r, struct metrics *reg);

#endif
