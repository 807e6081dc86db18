/*
 * ctl_sweep.c - moves sessions past expires_at to expired, and deletes
 * ended sessions past [store] retention.
 *
 * Lookups already treat such sessions as expired (store.h), so the sweeper
 * is not what makes expiry correct; it frees their pool slots and keeps
 * the expiry index short. Every 250 ms it asks the store for the earliest
 * expiry and, when that is due, queues one expire op - never more than
 * one at a time, so a slow commit cannot pile them up.
 *
 * Retention works the same way, on the earliest end: one purge op of at
 * most CTL_PURGE_MAX records at a time, each in its own writer batch, so
 * no write transaction grows long. A full one queues the next at once
 * (the network events still run first: they have the higher priority).
 *
 * A cluster cache's index queue (store_mirror.h) is flushed by the same
 * tick while it holds records.
 */
#include <errno.h>
#include <string.h>

#include "maskd/store_mirror.h"

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
	/* cluster mode: the cache catching up; the node that expired it
	 * in PostgreSQL counts it (ctl_cluster.c) */
	if (!ctl->cluster)
		ctl->ctr.expiries += ctl->sweep_n;
	if (ctl->sweep_n)
		log_debug(ctl->log, "ctl: %u sessions expired", ctl->sweep_n);
}

static void ctl_purge_maybe(struct ctl *ctl);

/* ended_at before this is past retention */
static int64_t ctl_purge_cutoff(const struct ctl *ctl)
{
	return clock_now_ms() - (int64_t)ctl->cfg->store.retention_s * 1000;
}

static int ctl_purge_op(struct store_txn *tx, void *arg)
{
	struct ctl *ctl = arg;

	return store_purge(tx, ctl_purge_cutoff(ctl), ctl->purge_max,
			   &ctl->purge_sessions, &ctl->purge_cdrs);
}

static void ctl_purge_done(int err, void *arg)
{
	struct ctl *ctl = arg;
	int64_t now = clock_mono_ms();

	ctl->purge_queued = false;
	if (err) {
		/* a batch that did not fit in the map: smaller ones may */
		if (err == EDQUOT && ctl->purge_max > 1)
			ctl->purge_max /= 2;
		if (!ctl->purge_warned_ms ||
		    now - ctl->purge_warned_ms >= CTL_PURGE_LOG_MS) {
			ctl->purge_warned_ms = now;
			log_warn(ctl->log, "ctl: retention purge failed: %s",
				 strerror(err));
		}
		return;
	}
	if (ctl->purge_sessions || ctl->purge_cdrs)
		log_debug(ctl->log, "ctl: retention: %u sessions and %u call "
			  "records deleted", ctl->purge_sessions,
			  ctl->purge_cdrs);
	if (ctl->purge_sessions + ctl->purge_cdrs < ctl->purge_max)
		return;		/* all that was due is gone */
	if (ctl->purge_max < CTL_PURGE_MAX)
		ctl->purge_max *= 2;
	/* not while stopping: the writer's last flush would go on purging,
	 * and run ops after ctl is freed */
	if (ctl->sweep_ev)
		ctl_purge_maybe(ctl);
}

/* ctl_purge_maybe() - queue a purge op when an end is past retention. */
static void ctl_purge_maybe(struct ctl *ctl)
{
	int64_t at;
	int err;

	if (!ctl->cfg->store.retention_s || ctl->purge_queued)
		return;
	err = store_next_ended(ctl->rd, &at);
	if (err == ENOENT)
		return;
	if (err) {
		log_warn(ctl->log, "ctl: cannot read the ended index: %s",
			 strerror(err));
		return;
	}
	if (at >= ctl_purge_cutoff(ctl))
		return;

	ctl->purge_queued = true;
	if (writer_submit(ctl->w, ctl_purge_op, ctl_purge_done, ctl))
		ctl->purge_queued = false;	/* ENOMEM: next tick */
}

static void ctl_idxq_maybe(struct ctl *ctl);

static int ctl_idxq_op(struct store_txn *tx, void *arg)
{
	struct ctl *ctl = arg;

	return store_idxq_flush(tx, CTL_IDXQ_MAX, NULL, &ctl->idxq_more);
}

static void ctl_idxq_done(int err, void *arg)
{
	struct ctl *ctl = arg;

	ctl->idxq_queued = false;
	if (err) {
		log_warn(ctl->log, "ctl: index queue flush failed: %s",
			 strerror(err));
		return;
	}
	/* not while stopping, as for retention */
	if (ctl->idxq_more && ctl->sweep_ev)
		ctl_idxq_maybe(ctl);
}

/* ctl_idxq_maybe() - queue a flush of the index queue when it holds
 * records. */
static void ctl_idxq_maybe(struct ctl *ctl)
{
	uint64_t n;
	int err;

	if (ctl->idxq_queued)
		return;
	err = store_idxq_count(ctl->rd, &n);
	if (err) {
		log_warn(ctl->log, "ctl: cannot read the index queue: %s",
			 strerror(err));
		return;
	}
	if (!n)
		return;
	ctl->idxq_queued = true;
	if (writer_submit_cache(ctl->w, ctl_idxq_op, ctl_idxq_done, ctl))
		ctl->idxq_queued = false;	/* ENOMEM: next tick */
}

static void ctl_sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	int64_t at;
	int err;

	(void)fd;
	(void)what;
	ctl_purge_maybe(ctl);
	ctl_idxq_maybe(ctl);
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

	ctl->purge_max = CTL_PURGE_MAX;

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
