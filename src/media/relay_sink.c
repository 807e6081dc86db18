/*
 * relay_sink.c - where a leg's packets go (relay.h, Sinks): the leg
 * output sink, the SIP-facing relay_call_connect()/relay_call_tap(), and
 * applying them on the worker.
 *
 * The batch path in relay_packet.c does not call the leg output's write:
 * it recognises the ops and sends from its receive buffers. write() here
 * is for everything else that writes into a leg (a player, a chain).
 */
#include <errno.h>
#include <string.h>

#include "maskd/rtcp.h"
#include "relay_internal.h"

/*
 * relay_side_sink_write() - a packet written into a leg's output by
 * anything but the packet path's own batch (a player, a chain of sinks):
 * one sendto() out of the leg's socket of the packet's kind. Worker
 * thread. RTCP is scrubbed on a copy, the writer's buffer being
 * read-only. Nothing is counted here: the flows count what arrived on a
 * leg, and whoever writes into a leg output counts what it writes.
 */
static void relay_side_sink_write(struct relay_sink *sink, const uint8_t *pkt,
				  size_t len, bool is_rtcp, int64_t now)
{
	struct relay_side *out = relay_sink_side(sink);
	struct relay_dest *to = &out->dest[is_rtcp ? RELAY_RTCP : RELAY_RTP];
	uint8_t copy[RELAY_PACKET_MAX];

	(void)now;
	if (!to->addr.sa.sa_family || out->muted || len > sizeof(copy))
		return;
	if (is_rtcp) {
		memcpy(copy, pkt, len);
		(void)rtcp_scrub(copy, len);
		pkt = copy;
	}

	/* a full socket buffer loses this one packet, as on the batch path */
	(void)sendto(out->sock[is_rtcp ? RELAY_RTCP : RELAY_RTP]->fd, pkt, len,
		     MSG_DONTWAIT, &to->addr.sa, to->len);
}

const struct relay_sink_ops relay_side_sink_ops = {
	.write = relay_side_sink_write,
};

/* relay_sink_detach() - @s is no longer written into by a leg. Worker
 * thread. A leg output has no detach. */
void relay_sink_detach(struct relay_sink *s)
{
	if (s && s->ops->detach)
		s->ops->detach(s);
}

/*
 * relay_call_post_sink() - leave a new sink (@op: RELAY_LOP_SINK) or tap
 * (relay_lop_tap(slot)) for @leg. EBUSY while the previous one is not yet
 * taken by the worker: overwriting it would lose its detach.
 */
int relay_call_post_sink(struct relay_call *c, unsigned op,
			 enum relay_leg leg, struct relay_sink *s)
{
	struct relay_worker *w = c->w;
	struct relay_slot *sl = relay_slot(c, leg);
	bool wake;

	pthread_mutex_lock(&w->ctl_lock);
	if (sl->ctl_ops & op) {
		pthread_mutex_unlock(&w->ctl_lock);
		return EBUSY;
	}
	sl->ctl_ops |= op;
	if (op == RELAY_LOP_SINK)
		sl->ctl_sink = s;
	else
		sl->ctl_tap[op == RELAY_LOP_TAP1 ? 1 : 0] = s;
	wake = relay_call_queue_locked(w, c);
	pthread_mutex_unlock(&w->ctl_lock);

	if (wake)
		relay_wake(w);
	return 0;
}

/* relay_side_sinks() - apply a leg's new sink and tap, detaching what
 * they replace. Worker thread. */
void relay_side_sinks(struct relay_call *c, int l)
{
	struct relay_slot *sl = relay_slot(c, (unsigned)l);
	struct relay_side *leg = &sl->side;
	struct relay_sink *old;
	unsigned t;

	if (sl->work_ops & RELAY_LOP_SINK) {
		old = leg->sink;
		leg->sink = sl->work_sink;
		relay_sink_detach(old);
	}
	for (t = 0; t < RELAY_TAPS; t++) {
		if (!(sl->work_ops & relay_lop_tap(t)))
			continue;
		old = leg->tap[t];
		leg->tap[t] = sl->work_tap[t];
		relay_sink_detach(old);
	}
	leg->tapped = false;
	for (t = 0; t < RELAY_TAPS; t++)
		leg->tapped |= leg->tap[t] != NULL;
}

void relay_side_taps_detach(struct relay_side *side)
{
	unsigned t;

	for (t = 0; t < RELAY_TAPS; t++) {
		relay_sink_detach(side->tap[t]);
		side->tap[t] = NULL;
	}
	side->tapped = false;
}

/* The address of a leg slot's output is fixed for the call: writing into
 * a slot with no party sends nothing. A and B have theirs from the start;
 * a further slot exists once relay_call_leg_add() made the call's room
 * for them (relay_internal.h), which the SIP thread knows. */
struct relay_sink *relay_call_sink(struct relay_call *c, enum relay_leg leg)
{
	if (!c || (unsigned)leg >= RELAY_LEGS_MAX ||
	    ((unsigned)leg >= RELAY_SLOTS_INLINE && !c->more))
		return NULL;
	return &relay_side(c, leg)->out;
}

/* relay_call_side_index() - the index of @side among @c's slots, or
 * RELAY_LEGS_MAX when it is none of them. The SIP thread. */
static unsigned relay_call_side_index(struct relay_call *c,
				      const struct relay_side *side)
{
	unsigned l;

	for (l = 0; l < relay_call_slots(c); l++) {
		if (side == relay_side(c, l))
			return l;
	}
	return RELAY_LEGS_MAX;
}

int relay_call_connect(struct relay_call *c, enum relay_leg leg,
		       struct relay_sink *sink)
{
	struct relay_side *side;

	if (!relay_call_leg_ok(c, leg))
		return EINVAL;
	if (sink && (!sink->ops || !sink->ops->write))
		return EINVAL;
	/* a leg output: one of this call's open legs */
	side = relay_sink_side(sink);
	if (side && !relay_call_leg_ok(c, relay_call_side_index(c, side)))
		return EINVAL;

	return relay_call_post_sink(c, RELAY_LOP_SINK, leg, sink);
}

int relay_call_tap_at(struct relay_call *c, enum relay_leg leg,
		      enum relay_tap_slot slot, struct relay_sink *tap)
{
	if (!relay_call_leg_ok(c, leg) || (unsigned)slot >= RELAY_TAPS)
		return EINVAL;
	if (tap && (!tap->ops || !tap->ops->write || relay_sink_side(tap)))
		return EINVAL;

	return relay_call_post_sink(c, relay_lop_tap(slot), leg, tap);
}

int relay_call_tap(struct relay_call *c, enum relay_leg leg,
		   struct relay_sink *tap)
{
	return relay_call_tap_at(c, leg, RELAY_TAP_DTMF, tap);
}
