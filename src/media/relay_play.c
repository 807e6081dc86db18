/*
 * relay_play.c - prompts played into a leg (relay.h, Playing).
 *
 * The SIP thread leaves a play note on the call like a sink (ctl_play,
 * RELAY_LOP_PLAY); the worker applies it here: the leg's player (made
 * on its first play, kept for the call's life, so one SSRC per leg and
 * sequence numbers going on from prompt to prompt) starts the prompt,
 * and the leg joins the worker's list of playing legs.
 *
 * One timer per worker, not per call: every RELAY_PLAY_TICK_US it asks
 * each playing leg's player for the packets now due (player_next()) and
 * writes them into the leg's output sink, relay_call_sink(c, leg). The
 * player keeps the 20 ms grid itself (a tick late sends what it missed
 * one after the other), so the tick only bounds the jitter. The timer
 * runs only while some leg plays: an idle worker does not wake for it.
 *
 * The plain relayed call never comes here: the packet path
 * (relay_packet.c) does not know players exist.
 */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "maskd/player.h"
#include "maskd/prompt.h"
#include "relay_internal.h"

static uint64_t relay_play_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct relay_call *relay_side_call(struct relay_side *side)
{
	return side->sock[RELAY_RTP]->call;
}

static enum relay_leg relay_side_leg(struct relay_side *side)
{
	return (enum relay_leg)side->sock[RELAY_RTP]->leg;
}

static void relay_play_unlist(struct relay_worker *w, struct relay_side *side)
{
	if (!side->play_pprev)
		return;
	*side->play_pprev = side->play_next;
	if (side->play_next)
		side->play_next->play_pprev = side->play_pprev;
	side->play_next = NULL;
	side->play_pprev = NULL;
	if (!w->players)
		event_del(w->play_ev);
}

static void relay_play_list(struct relay_worker *w, struct relay_side *side)
{
	struct timeval tv = { 0, RELAY_PLAY_TICK_US };

	if (side->play_pprev)
		return;
	if (!w->players && event_add(w->play_ev, &tv))
		log_warn(w->r->log, "relay: worker %u: cannot start the play "
			 "timer", w->idx);
	side->play_next = w->players;
	if (w->players)
		w->players->play_pprev = &side->play_next;
	side->play_pprev = &w->players;
	w->players = side;
}

/* player_done_h: the last packet is being returned; the tick reports it
 * once that packet is out */
static void relay_play_on_done(struct player *p, const struct prompt *prompt,
			       void *arg)
{
	struct relay_side *side = arg;

	(void)p;
	(void)prompt;
	side->play_over = true;
}

/* relay_play_finish() - report the end of @side's play: unlisted first,
 * so nothing of the play is left if the handler plays again later. */
static void relay_play_finish(struct relay_worker *w, struct relay_side *side,
			      int err)
{
	struct relay_play_req req = side->play;

	relay_play_unlist(w, side);
	side->play_over = false;
	side->play.prompt = NULL;
	side->play.done = NULL;
	if (req.done)
		req.done(relay_side_call(side)->cookie, relay_side_leg(side),
			 err, req.arg);
}

static void relay_play_tick(evutil_socket_t fd, short what, void *arg)
{
	struct relay_worker *w = arg;
	struct relay_side *side, *next;
	uint8_t buf[PLAYER_PACKET_MAX];
	uint64_t now = relay_play_now_us();
	int64_t now_ms = clock_mono_coarse_ms();
	size_t len;
	int err;

	(void)fd;
	(void)what;
	for (side = w->players; side; side = next) {
		next = side->play_next;
		while (!(err = player_next(side->player, now, buf, &len))) {
			side->out.ops->write(&side->out, buf, len, false,
					     now_ms);
			if (side->play_over)
				break;
		}
		if (side->play_over || err == ENODATA)
			relay_play_finish(w, side, 0);
	}
}

void relay_play_apply(struct relay_call *c, int l)
{
	struct relay_worker *w = c->w;
	struct relay_side *side = relay_side(c, l);
	struct relay_play_req *req = &relay_slot(c, (unsigned)l)->work_play;
	uint8_t old_pt = side->play.pt;
	int err;

	/* what played is replaced (or stopped) without its done handler */
	if (side->player)
		player_stop(side->player);
	relay_play_unlist(w, side);
	side->play_over = false;
	side->play = *req;
	if (!req->prompt) {
		side->play.done = NULL;
		return;
	}

	/* the payload type is the leg's for its life; a new one (a
	 * re-INVITE chose the other codec) needs a new player */
	if (side->player && old_pt != req->pt) {
		player_free(side->player);
		side->player = NULL;
	}
	if (!side->player) {
		err = player_alloc(&side->player, req->pt, relay_play_on_done,
				   side);
		if (err) {
			side->player = NULL;
			relay_play_finish(w, side, err);
			return;
		}
	}
	player_play(side->player, req->prompt, relay_play_now_us());
	relay_play_list(w, side);
}

void relay_play_leg_drop(struct relay_call *c, unsigned l)
{
	relay_play_unlist(c->w, relay_side(c, l));
	player_free(relay_side(c, l)->player);
	relay_side(c, l)->player = NULL;
}

void relay_play_drop(struct relay_call *c)
{
	unsigned l;

	/* the call is being destroyed: OP_FREE came last, so relay_call_
	 * slots() is final */
	for (l = 0; l < relay_call_slots(c); l++)
		relay_play_leg_drop(c, l);
}

int relay_play_open(struct relay_worker *w)
{
	w->play_ev = event_new(w->base, -1, EV_PERSIST, relay_play_tick, w);
	return w->play_ev ? 0 : ENOMEM;
}

void relay_play_close(struct relay_worker *w)
{
	if (w->play_ev)
		event_free(w->play_ev);
	w->play_ev = NULL;
}

int relay_call_play(struct relay_call *c, enum relay_leg leg,
		    const struct prompt *prompt, uint8_t pt,
		    relay_play_done_h *done, void *arg)
{
	unsigned op = RELAY_LOP_PLAY;
	struct relay_worker *w;
	struct relay_slot *sl;
	bool wake;

	if (!relay_call_leg_ok(c, leg))
		return EINVAL;
	if (prompt && pt != PLAYER_PT_PCMU && pt != PLAYER_PT_PCMA)
		return EINVAL;

	w = c->w;
	sl = relay_slot(c, leg);
	pthread_mutex_lock(&w->ctl_lock);
	if (sl->ctl_ops & op) {
		pthread_mutex_unlock(&w->ctl_lock);
		return EBUSY;
	}
	sl->ctl_ops |= op;
	sl->ctl_play.prompt = prompt;
	sl->ctl_play.pt = pt;
	sl->ctl_play.done = done;
	sl->ctl_play.arg = arg;
	wake = relay_call_queue_locked(w, c);
	pthread_mutex_unlock(&w->ctl_lock);

	if (wake)
		relay_wake(w);
	return 0;
}
