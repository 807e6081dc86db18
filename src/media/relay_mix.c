/*
 * relay_mix.c - the mixer of a call on its worker (relay.h, More legs):
 * the sinks its legs write into, the worker's one mix timer, and each
 * listener's RTP stream. The arithmetic (jitter buffer, concealment,
 * sum less own, clip, encode) is mix.c's.
 *
 * Made by relay_call_mix() on the SIP thread the first time a call
 * mixes (the memory and the randomness, as player_alloc() for a
 * player), handed over with the note, owned by the worker from then
 * on, freed with the call. A mixing call is on its worker's list
 * (w->mixes); one persistent 20 ms timer per worker runs while the list
 * is not empty and makes one frame of every call on it per tick,
 * whatever the number of calls: the same pattern as the play timer.
 *
 * Per packet (relay_mix_in_write(), the packet path): one RTP parse and
 * a decode into the leg's jitter buffer. Per tick and call: a get per
 * input, a 32-bit sum, and per listener a subtract-clip-encode and one
 * sendto() out of the listener's own RTP socket (relay_call_sink()).
 * Nothing allocated, no lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "maskd/mix.h"
#include "relay_internal.h"

/* Frames made at once for a worker that fell behind (a thread that did
 * not get the CPU for a while): as many as the parties' own jitter
 * buffers commonly absorb. Further behind, the time is skipped. */
#define RELAY_MIX_CATCHUP 8

#define RELAY_MIX_PACKET (RTP_HDR + MIX_FRAME)
#define RTP_HDR 12

/* One leg of the mix: its input, and the stream its party hears. */
struct relay_mix_leg {
	struct relay_sink in;		/* the leg's sink while mixed */
	struct relay_mix *mix;
	struct mix_input jb;
	int16_t pcm[MIX_FRAME];		/* this tick's frame */
	bool has;			/* pcm holds a signal this tick */
	bool fed;			/* in is the leg's sink */
	bool started;			/* marker sent */
	uint16_t seq;			/* of the next packet */
	uint32_t ts;
	uint32_t ssrc;
	uint64_t concealed_seen;	/* jb.st already in the metrics */
	uint64_t late_seen;
};

struct relay_mix {
	struct relay_call *c;
	uint32_t legs;			/* mixed legs, bit per leg */
	uint32_t parked;		/* legs A, B taken out of the plain
					 * pair by the mix, not yet back */
	struct relay_mix *next;		/* the worker's mixing calls */
	struct relay_mix **pprev;	/* NULL: not listed */
	struct relay_mix_leg leg[RELAY_LEGS_MAX];
};

static uint64_t relay_mix_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct relay_mix_leg *relay_mix_leg_of(struct relay_sink *s)
{
	return (struct relay_mix_leg *)((char *)s -
					offsetof(struct relay_mix_leg, in));
}

/* Packet path: RTCP and what is not G.711 stay out (relay.h says why);
 * the leg has counted the packet as consumed already. */
static void relay_mix_in_write(struct relay_sink *s, const uint8_t *pkt,
			       size_t len, bool is_rtcp, int64_t now)
{
	(void)now;
	if (is_rtcp)
		return;
	(void)mix_input_put(&relay_mix_leg_of(s)->jb, pkt, len);
}

/* the leg's sink was replaced (relay_call_connect() on a mixed leg, or
 * the leg left): it still hears the mix, but feeds nothing into it */
static void relay_mix_in_detach(struct relay_sink *s)
{
	relay_mix_leg_of(s)->fed = false;
}

static const struct relay_sink_ops relay_mix_in_ops = {
	.write = relay_mix_in_write,
	.detach = relay_mix_in_detach,
};

int relay_mix_alloc(struct relay_call *c, struct relay_mix **mp)
{
	uint32_t rnd[RELAY_LEGS_MAX][3];
	struct relay_mix *m;
	unsigned l;

	/* RFC 3550 5.1: SSRC, first sequence number and timestamp random */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return errno ? errno : EIO;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	m->c = c;
	for (l = 0; l < RELAY_LEGS_MAX; l++) {
		m->leg[l].in.ops = &relay_mix_in_ops;
		m->leg[l].mix = m;
		m->leg[l].ssrc = rnd[l][0];
		m->leg[l].seq = (uint16_t)rnd[l][1];
		m->leg[l].ts = rnd[l][2];
		mix_input_init(&m->leg[l].jb);
	}
	*mp = m;
	return 0;
}

void relay_mix_free(struct relay_mix *m)
{
	free(m);
}

static void relay_mix_list(struct relay_worker *w, struct relay_mix *m)
{
	struct timeval tv = { 0, RELAY_MIX_TICK_US };

	if (m->pprev)
		return;
	relay_count(&w->mix_calls, 1);
	if (!w->mixes) {
		if (event_add(w->mix_ev, &tv))
			log_warn(w->r->log, "relay: worker %u: cannot start "
				 "the mix timer", w->idx);
		w->mix_due_us = relay_mix_now_us() + RELAY_MIX_TICK_US;
	}
	m->next = w->mixes;
	if (w->mixes)
		w->mixes->pprev = &m->next;
	m->pprev = &w->mixes;
	w->mixes = m;
}

static void relay_mix_unlist(struct relay_worker *w, struct relay_mix *m)
{
	if (!m->pprev)
		return;
	atomic_store_explicit(&w->mix_calls, relay_read(&w->mix_calls) - 1,
			      memory_order_relaxed);
	*m->pprev = m->next;
	if (m->next)
		m->next->pprev = m->pprev;
	m->next = NULL;
	m->pprev = NULL;
	if (!w->mixes)
		event_del(w->mix_ev);
}

/* relay_mix_join() - leg @l into @m: its sink becomes the mix. */
static void relay_mix_join(struct relay_call *c, struct relay_mix *m,
			   unsigned l)
{
	struct relay_mix_leg *ml = &m->leg[l];
	struct relay_side *side = relay_side(c, l);
	struct relay_sink *old = side->sink;

	if (!(m->legs & (1u << l))) {
		/* a new party (or one back): a fresh buffer, and its
		 * stream restarts with a marker */
		mix_input_init(&ml->jb);
		ml->concealed_seen = 0;
		ml->late_seen = 0;
		ml->started = false;
		m->legs |= 1u << l;
	}
	m->parked &= ~(1u << l);
	if (old != &ml->in) {
		side->sink = &ml->in;
		ml->fed = true;
		relay_sink_detach(old);
	}
}

/* relay_mix_leave() - leg @l out of @m: its sink drops from now on. */
static void relay_mix_leave(struct relay_call *c, struct relay_mix *m,
			    unsigned l)
{
	struct relay_side *side = relay_side(c, l);

	if (!(m->legs & (1u << l)))
		return;
	m->legs &= ~(1u << l);
	if (side->sink == &m->leg[l].in) {
		side->sink = NULL;
		relay_sink_detach(&m->leg[l].in);
		if (l <= RELAY_LEG_B)
			m->parked |= 1u << l;
	}
}

void relay_mix_apply(struct relay_call *c)
{
	struct relay_mix_req *req = &c->work_mix;
	struct relay_mix *m;
	uint32_t legs = req->legs;
	unsigned l;

	if (req->fresh) {
		/* relay_call_mix() posts one mixer per call */
		if (!c->mix)
			c->mix = req->fresh;
		else
			relay_mix_free(req->fresh);
		req->fresh = NULL;
	}
	m = c->mix;
	if (!m)
		return;

	if (!req->on && !legs)
		legs = m->legs;
	for (l = 0; l < RELAY_LEGS_MAX; l++) {
		/* a leg closed since the note was left is not joined */
		if (!(legs & (1u << l)) || !(c->open & (1u << l)))
			continue;
		if (req->on)
			relay_mix_join(c, m, l);
		else
			relay_mix_leave(c, m, l);
	}

	/* neither A nor B mixed: the plain call again, for those the mix
	 * took out of it (not for a sink the SIP side set itself) */
	if (!(m->legs & (1u << RELAY_LEG_A | 1u << RELAY_LEG_B))) {
		for (l = RELAY_LEG_A; l <= RELAY_LEG_B; l++) {
			if (m->parked & (1u << l) && !relay_side(c, l)->sink)
				relay_side(c, l)->sink = &relay_side(c, !l)->out;
		}
		m->parked = 0;
	}

	if (m->legs)
		relay_mix_list(c->w, m);
	else
		relay_mix_unlist(c->w, m);
}

void relay_mix_leg_gone(struct relay_call *c, unsigned l)
{
	struct relay_mix *m = c->mix;

	if (!m)
		return;
	relay_mix_leave(c, m, l);
	if (!m->legs)
		relay_mix_unlist(c->w, m);
}

void relay_mix_drop(struct relay_call *c)
{
	if (!c->mix)
		return;
	relay_mix_unlist(c->w, c->mix);
	relay_mix_free(c->mix);
	c->mix = NULL;
}

static void relay_mix_put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/*
 * relay_mix_frame() - one 20 ms frame of @m: every input's frame into
 * the sum, then each listener's packet out of its own leg. A listener
 * with nowhere to send (no SDP yet, or muted) is skipped, its timestamp
 * going on with the clock so its stream stays one stream.
 */
static void relay_mix_frame(struct relay_mix *m, int64_t now_ms)
{
	struct relay_call *c = m->c;
	struct relay_worker *w = c->w;
	uint64_t sent = 0, concealed = 0, late = 0;
	int32_t sum[MIX_FRAME];
	uint8_t pkt[RELAY_MIX_PACKET];
	struct relay_mix_leg *ml;
	struct relay_side *side;
	unsigned l;

	memset(sum, 0, sizeof(sum));
	for (l = 0; l < RELAY_LEGS_MAX; l++) {
		if (!(m->legs & (1u << l)))
			continue;
		ml = &m->leg[l];
		ml->has = ml->fed && mix_input_get(&ml->jb, ml->pcm);
		if (ml->has)
			mix_sum_add(sum, ml->pcm);
		concealed += ml->jb.st.concealed - ml->concealed_seen;
		late += ml->jb.st.late - ml->late_seen;
		ml->concealed_seen = ml->jb.st.concealed;
		ml->late_seen = ml->jb.st.late;
	}

	for (l = 0; l < RELAY_LEGS_MAX; l++) {
		if (!(m->legs & (1u << l)))
			continue;
		ml = &m->leg[l];
		side = relay_side(c, l);
		if (!side->dest[RELAY_RTP].addr.sa.sa_family || side->muted) {
			ml->ts += MIX_FRAME;
			continue;
		}

		pkt[0] = 0x80;			/* V=2, no P, X, CC */
		pkt[1] = (uint8_t)(side->codec | (ml->started ? 0 : 0x80));
		pkt[2] = (uint8_t)(ml->seq >> 8);
		pkt[3] = (uint8_t)ml->seq;
		relay_mix_put32(pkt + 4, ml->ts);
		relay_mix_put32(pkt + 8, ml->ssrc);
		mix_listener(sum, ml->has ? ml->pcm : NULL, side->codec,
			     pkt + RTP_HDR);
		side->out.ops->write(&side->out, pkt, sizeof(pkt), false,
				     now_ms);
		ml->started = true;
		ml->seq++;
		ml->ts += MIX_FRAME;
		sent++;
	}

	if (sent)
		relay_count(&w->mix_packets, sent);
	if (concealed)
		relay_count(&w->mix_concealed, concealed);
	if (late)
		relay_count(&w->mix_late, late);
}

/*
 * relay_mix_skip() - @k frames' time passed unmixed (a stalled worker):
 * each input's playout and each listener's timestamp move on by it, so
 * the streams stay on the parties' clocks. Rare; not the packet path.
 */
static void relay_mix_skip(struct relay_mix *m, uint64_t k)
{
	int16_t scratch[MIX_FRAME];
	struct relay_mix_leg *ml;
	unsigned l;
	uint64_t i;

	for (l = 0; l < RELAY_LEGS_MAX; l++) {
		if (!(m->legs & (1u << l)))
			continue;
		ml = &m->leg[l];
		for (i = 0; ml->fed && i < k && i < MIX_JB_FRAMES; i++)
			(void)mix_input_get(&ml->jb, scratch);
		ml->ts += (uint32_t)(k * MIX_FRAME);
	}
}

static void relay_mix_tick(evutil_socket_t fd, short what, void *arg)
{
	struct relay_worker *w = arg;
	struct relay_mix *m, *next;
	uint64_t now = relay_mix_now_us(), frames, skip = 0, i;
	int64_t now_ms = clock_mono_coarse_ms();

	(void)fd;
	(void)what;
	/*
	 * One frame per tick: the persistent timer keeps the 20 ms grid
	 * on average, but libevent reads a coarse clock (4 ms steps on a
	 * 250 Hz kernel), so a tick's wake-up is no measure of whether a
	 * frame is due; deciding by it would skip a tick and double the
	 * next (an interval of 40 ms then 0). Only a worker more than
	 * half a period behind its grid (a stalled thread) makes the
	 * missed frames at once, up to RELAY_MIX_CATCHUP; the time beyond
	 * that is skipped, and a grid running ahead is pulled back.
	 */
	frames = 1;
	if (now > w->mix_due_us)
		frames += (now - w->mix_due_us + RELAY_MIX_TICK_US / 2) /
			  RELAY_MIX_TICK_US;
	if (frames > RELAY_MIX_CATCHUP) {
		skip = frames - RELAY_MIX_CATCHUP;
		frames = RELAY_MIX_CATCHUP;
		for (m = w->mixes; m; m = m->next)
			relay_mix_skip(m, skip);
	}
	for (i = 0; i < frames; i++) {
		for (m = w->mixes; m; m = next) {
			next = m->next;
			relay_mix_frame(m, now_ms);
		}
	}
	w->mix_due_us += (frames + skip) * RELAY_MIX_TICK_US;
	if (w->mix_due_us > now + 2 * RELAY_MIX_TICK_US)
		w->mix_due_us = now + RELAY_MIX_TICK_US;
}

int relay_mix_open(struct relay_worker *w)
{
	w->mix_ev = event_new(w->base, -1, EV_PERSIST, relay_mix_tick, w);
	return w->mix_ev ? 0 : ENOMEM;
}

void relay_mix_close(struct relay_worker *w)
{
	if (w->mix_ev)
		event_free(w->mix_ev);
	w->mix_ev = NULL;
}

int relay_call_mix(struct relay_call *c, uint32_t legs, bool on)
{
	struct relay_mix *fresh = NULL;
	struct relay_worker *w;
	bool wake;
	int err;

	if (!c || legs & ~c->sip_legs || (on && !legs))
		return EINVAL;
	if (on && !c->sip_mix) {
		err = relay_mix_alloc(c, &fresh);
		if (err)
			return err;
	}

	w = c->w;
	pthread_mutex_lock(&w->ctl_lock);
	if (c->ctl_ops & RELAY_OP_MIX) {
		pthread_mutex_unlock(&w->ctl_lock);
		relay_mix_free(fresh);
		return EBUSY;
	}
	c->ctl_ops |= RELAY_OP_MIX;
	c->ctl_mix.legs = legs;
	c->ctl_mix.on = on;
	c->ctl_mix.fresh = fresh;
	wake = relay_call_queue_locked(w, c);
	pthread_mutex_unlock(&w->ctl_lock);

	if (fresh)
		c->sip_mix = true;
	if (wake)
		relay_wake(w);
	return 0;
}
