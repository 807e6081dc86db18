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
	bool wake;

	pthread_mutex_lock(&w->ctl_lock);
	if (c->ctl_leg_ops[leg] & op) {
		pthread_mutex_unlock(&w->ctl_lock);
		return EBUSY;
	}
	c->ctl_leg_ops[leg] |= op;
	if (op == RELAY_LOP_SINK)
		c->ctl_sink[leg] = s;
	else
		c->ctl_tap[leg][op == RELAY_LOP_TAP1 ? 1 : 0] = s;
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
	struct relay_side *leg = &c->leg[l];
	struct relay_sink *old;
	unsigned t;

	if (c->work_leg_ops[l] & RELAY_LOP_SINK) {
		old = leg->sink;
		leg->sink = c->work_sink[l];
		relay_sink_detach(old);
	}
	for (t = 0; t < RELAY_TAPS; t++) {
		if (!(c->work_leg_ops[l] & relay_lop_tap(t)))
			continue;
		old = leg->tap[t];
		leg->tap[t] = c->work_tap[l][t];
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

/* Any thread may take the address of any leg slot's output (fixed for
 * the call): writing into a slot with no party sends nothing. */
struct relay_sink *relay_call_sink(struct relay_call *c, enum relay_leg leg)
{
	if (!c || (unsigned)leg >= RELAY_LEGS_MAX)
		return NULL;
	return &c->leg[leg].out;
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
	if (side && (side < c->leg || side >= c->leg + RELAY_LEGS_MAX ||
		     !relay_call_leg_ok(c, (unsigned)(side - c->leg))))
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
