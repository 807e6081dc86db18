/*
 * relay_leg.c - a call's legs: where each party wants its media
 * (relay_call_set_remote()), legs added and removed for a 3-way call
 * (relay.h, More legs), and applying the per-leg notes on the worker.
 *
 * A leg added later is the same as legs A and B: a port pair from the
 * call's worker's pool (relay_side_open(), the one place sockets are
 * made), the same packet path, latching, sinks, taps and players. Only
 * its handover differs: see struct relay_call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/mix.h"
#include "relay_internal.h"

static bool relay_sa_unspecified(const union relay_sa *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == htonl(INADDR_ANY) ||
		       !a->in.sin_port;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->in6.sin6_addr, &any6, sizeof(any6)) ||
		       !a->in6.sin6_port;
	return true;
}

static socklen_t relay_sa_len(const union relay_sa *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

/*
 * relay_side_remote() - apply a party's SDP address to its leg. Worker
 * thread. A new address forgets the latch (the party moved, or this is
 * the first SDP); the same address again (a re-INVITE for hold, resume or
 * a session refresh) keeps it, so a party behind NAT keeps its media.
 */
void relay_side_remote(struct relay_call *c, unsigned l,
		       const struct relay_remote *rem)
{
	struct relay_side *leg = relay_side(c, l);
	const union relay_sa *want;
	struct relay_dest *d;
	int k;

	leg->has_remote = true;
	leg->hold = rem->flags & RELAY_REMOTE_HOLD;
	leg->muted = relay_sa_unspecified(&rem->rtp);
	if (leg->muted) {
		leg->hold = true;
		goto out;
	}

	for (k = 0; k < 2; k++) {
		d = &leg->dest[k];
		want = k == RELAY_RTP ? &rem->rtp : &rem->rtcp;
		if (relay_sa_equal(want, &d->sdp))
			continue;

		d->sdp = *want;
		d->addr = *want;
		d->len = relay_sa_len(want);
		d->latched = false;
		d->last_ms = 0;
	}
 out:
	/* the timeout watches the call once its first two parties have
	 * answered; later legs join a call already armed */
	if (!c->armed && c->slot[0].side.has_remote &&
	    c->slot[1].side.has_remote) {
		c->armed = true;
		c->last_rx_ms = clock_mono_coarse_ms();
	}
}

/* relay_sa_copy() - @sa into @out if it has @family; EAFNOSUPPORT else. */
static int relay_sa_copy(const struct sockaddr *sa, int family,
			 union relay_sa *out)
{
	memset(out, 0, sizeof(*out));
	if (!sa)
		return 0;
	if (sa->sa_family != family)
		return EAFNOSUPPORT;

	if (family == AF_INET)
		memcpy(&out->in, sa, sizeof(out->in));
	else
		memcpy(&out->in6, sa, sizeof(out->in6));
	return 0;
}

int relay_call_set_remote(struct relay_call *c, enum relay_leg leg,
			  const struct sockaddr *rtp,
			  const struct sockaddr *rtcp, unsigned flags)
{
	struct relay_remote rem;
	int family, err;

	if (!relay_call_leg_ok(c, leg))
		return EINVAL;

	family = c->w->r->bind.sa.sa_family;
	err = relay_sa_copy(rtp, family, &rem.rtp);
	if (err)
		return err;

	if (rtcp) {
		err = relay_sa_copy(rtcp, family, &rem.rtcp);
		if (err)
			return err;
	}
	else {
		/* RFC 3550: RTCP on the next port up */
		rem.rtcp = rem.rtp;
		if (family == AF_INET && rem.rtp.in.sin_port)
			rem.rtcp.in.sin_port =
				htons((uint16_t)(ntohs(rem.rtp.in.sin_port) + 1));
		else if (family == AF_INET6 && rem.rtp.in6.sin6_port)
			rem.rtcp.in6.sin6_port =
				htons((uint16_t)(ntohs(rem.rtp.in6.sin6_port)
						 + 1));
	}
	rem.flags = flags;

	relay_call_post(c, 0, leg, RELAY_LOP_REMOTE, &rem);
	return 0;
}

/*
 * The slots of legs 2.. for @c, once: made here, on the SIP thread, and
 * set under ctl_lock, before any of them is posted (relay_internal.h).
 */
static int relay_slots_more(struct relay_call *c)
{
	struct relay_slot *more;
	size_t size = (RELAY_LEGS_MAX - RELAY_SLOTS_INLINE) * sizeof(*more);

	if (c->more)
		return 0;
	more = aligned_alloc(RELAY_CACHELINE, size);
	if (!more)
		return ENOMEM;
	memset(more, 0, size);
	pthread_mutex_lock(&c->w->ctl_lock);
	c->more = more;
	pthread_mutex_unlock(&c->w->ctl_lock);
	return 0;
}

int relay_call_leg_add(struct relay_call *c, unsigned *legp)
{
	struct relay_worker *w;
	uint32_t closing;
	bool busy = false;
	unsigned l;
	int err;

	if (!c || !legp)
		return EINVAL;

	w = c->w;
	pthread_mutex_lock(&w->ctl_lock);
	closing = c->ctl_closing;
	pthread_mutex_unlock(&w->ctl_lock);

	for (l = RELAY_LEG_B + 1; l < RELAY_LEGS_MAX; l++) {
		if (c->sip_legs & (1u << l))
			continue;
		/* the worker may still be closing it: the slot is not
		 * ours to fill yet */
		if (closing & (1u << l)) {
			busy = true;
			continue;
		}
		break;
	}
	if (l == RELAY_LEGS_MAX)
		return busy ? EBUSY : ENOSPC;

	err = relay_slots_more(c);
	if (err)
		return err;
	relay_side_init(c, l);
	err = relay_side_open(w->r, w, relay_side(c, l));
	if (err)
		return err;

	c->sip_legs |= 1u << l;
	relay_call_post(c, 0, l, RELAY_LOP_OPEN, NULL);
	*legp = l;
	return 0;
}

int relay_call_leg_remove(struct relay_call *c, unsigned leg)
{
	struct relay_worker *w;
	bool wake;

	if (!relay_call_leg_ok(c, leg) || leg <= RELAY_LEG_B)
		return EINVAL;

	w = c->w;
	c->sip_legs &= ~(1u << leg);
	pthread_mutex_lock(&w->ctl_lock);
	c->ctl_closing |= 1u << leg;
	relay_slot(c, leg)->ctl_ops |= RELAY_LOP_CLOSE;
	wake = relay_call_queue_locked(w, c);
	pthread_mutex_unlock(&w->ctl_lock);

	if (wake)
		relay_wake(w);
	return 0;
}

int relay_call_leg_counters(const struct relay_call *c, unsigned leg,
			    struct relay_flow *out)
{
	const struct relay_side *side;

	if (!relay_call_leg_ok(c, leg) || !out)
		return EINVAL;

	side = relay_side_c(c, leg);
	out->packets = relay_read(&side->packets);
	out->bytes = relay_read(&side->bytes);
	out->drops = relay_read(&side->drops);
	return 0;
}

int relay_call_leg_codec(struct relay_call *c, unsigned leg, uint8_t pt)
{
	struct relay_worker *w;
	bool wake;

	if (!relay_call_leg_ok(c, leg) ||
	    (pt != MIX_PT_PCMU && pt != MIX_PT_PCMA))
		return EINVAL;

	/* the last one wins: a codec is a state, not an event to keep */
	w = c->w;
	pthread_mutex_lock(&w->ctl_lock);
	relay_slot(c, leg)->ctl_codec = pt;
	relay_slot(c, leg)->ctl_ops |= RELAY_LOP_CODEC;
	wake = relay_call_queue_locked(w, c);
	pthread_mutex_unlock(&w->ctl_lock);

	if (wake)
		relay_wake(w);
	return 0;
}

/*
 * relay_leg_close() - stop leg @l for relay_call_leg_remove(): nothing
 * of it stays referenced (mixer, players, sinks of other legs), then
 * the slot goes back to the SIP thread. Worker thread.
 */
static void relay_leg_close(struct relay_call *c, unsigned l)
{
	struct relay_worker *w = c->w;
	struct relay_side *leg = relay_side(c, l);
	unsigned o;

	relay_side_unwatch(c, l);
	relay_mix_leg_gone(c, l);
	relay_play_leg_drop(c, l);
	/* what was sent to this party now has nowhere to go: dropped
	 * (open legs only: a free slot may be the SIP thread's) */
	for (o = 0; o < c->work_slots; o++) {
		if (c->open & (1u << o) && relay_side(c, o)->sink == &leg->out)
			relay_side(c, o)->sink = NULL;
	}
	relay_sink_detach(leg->sink);
	leg->sink = NULL;
	relay_side_taps_detach(leg);
	if (leg->port)
		relay_side_close(w, leg);

	pthread_mutex_lock(&w->ctl_lock);
	c->ctl_closing &= ~(1u << l);
	pthread_mutex_unlock(&w->ctl_lock);
}

void relay_leg_apply(struct relay_call *c)
{
	struct relay_slot *sl;
	unsigned l, ops;

	for (l = 0; l < c->work_slots; l++) {
		sl = relay_slot(c, l);
		ops = sl->work_ops;
		if (ops & RELAY_LOP_OPEN)
			relay_side_watch(c, l);
		if (ops & RELAY_LOP_REMOTE)
			relay_side_remote(c, l, &sl->work_remote);
		if (ops & RELAY_LOP_CODEC)
			sl->side.codec = sl->work_codec;
	}

	if (c->work_ops & RELAY_OP_MIX)
		relay_mix_apply(c);

	for (l = 0; l < c->work_slots; l++) {
		ops = relay_slot(c, l)->work_ops;
		if (ops & RELAY_LOP_PLAY)
			relay_play_apply(c, (int)l);
		/* last: whatever else was asked of the leg before its
		 * removal has been applied, and is undone here */
		if (ops & RELAY_LOP_CLOSE)
			relay_leg_close(c, l);
	}
}
