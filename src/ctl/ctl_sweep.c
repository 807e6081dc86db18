/*
 * ctl_sweep.c - moves sessions past expires_at to expired.
 *
 * Lookups already treat such sessions as expired (store.h), so the sweeper
 * is not what makes expiry correct; it frees their pool slots and keeps
 * the expiry index short. Every 250 ms it asks the store for the earliest
 * expiry and, when that is due, queues one expire op - never more than
 * one at a time, so a slow commit cannot pile them up.
 */
#include <errno.h>
#include <string.h>

#include "ctl_internal.h"

static int ctl_sweep_op(struct store_txn *tx, void *arg)
{
	struct ctl *ctl = arg;

	ctl->sweep_n = 0;
	return store_expire_due(tx, clock_now_ms(), CTL_SWEEP_MAX,
				&ctl->sweep_n);
}

static void ctl_sweep_done(int err, void *arg)
{
	struct ctl *ctl = arg;

	ctl->sweep_queued = false;
	if (err) {
		log_warn(ctl->log, "ctl: expiry sweep failed: %s",
			 strerror(err));
		return;
	}
	ctl->ctr.expiries += ctl->sweep_n;
	if (ctl->sweep_n)
		log_debug(ctl->log, "ctl: %u sessions expired", ctl->sweep_n);
}

static void ctl_sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	int64_t at;
	int err;

	(void)fd;
	(void)what;
	if (ctl->sweep_queued)
		return;

	err = store_next_expiry(ctl->rd, &at);
	if (err == ENOENT)
		return;
	if (err) {
		log_warn(ctl->log, "ctl: cannot read the expiry index: %s",
			 strerror(err));
		return;
	}
	if (at > clock_now_ms())
		return;

	ctl->sweep_queued = true;
	if (writer_submit(ctl->w, ctl_sweep_op, ctl_sweep_done, ctl))
		ctl->sweep_queued = false;	/* ENOMEM: next tick */
}

int ctl_sweep_start(struct ctl *ctl)
{
	struct timeval tv = { 0, CTL_SWEEP_MS * 1000 };

	ctl->sweep_ev = event_new(ctl->base, -1, EV_PERSIST, ctl_sweep_tick,
				  ctl);
	if (!ctl->sweep_ev)
		return ENOMEM;
	/* High priority: it only looks and queues; the writer does the work
	 * at the low one. */
	event_priority_set(ctl->sweep_ev, 0);
	if (event_add(ctl->sweep_ev, &tv)) {
		event_free(ctl->sweep_ev);
		ctl->sweep_ev = NULL;
		return ENOMEM;
	}
	return 0;
}

void ctl_sweep_stop(struct ctl *ctl)
{
	if (!ctl->sweep_ev)
		return;
	event_free(ctl->sweep_ev);	/* also deletes it */
	ctl->sweep_ev = NULL;
}
