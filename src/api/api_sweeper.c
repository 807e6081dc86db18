/*
 * api_sweeper.c - moves sessions past expires_at to expired.
 *
 * Lookups already treat such sessions as expired (store.h), so the sweeper
 * is not what makes expiry correct; it frees their pool slots and keeps
 * the expiry index short. Every 250 ms it asks the store for the earliest
 * expiry and, when that is due, queues one expire op - never more than
 * one at a time, so a slow commit cannot pile them up.
 */
#include <errno.h>
#include <string.h>

#include "api_internal.h"

static int api_sweep_op(struct store_txn *tx, void *arg)
{
	struct api *api = arg;

	api->sweep_n = 0;
	return store_expire_due(tx, clock_now_ms(), API_SWEEP_MAX,
				&api->sweep_n);
}

static void api_sweep_done(int err, void *arg)
{
	struct api *api = arg;

	api->sweep_queued = false;
	if (err) {
		log_warn(api->log, "api: expiry sweep failed: %s",
			 strerror(err));
		return;
	}
	api->ctr.expiries += api->sweep_n;
	if (api->sweep_n)
		log_debug(api->log, "api: %u sessions expired", api->sweep_n);
}

static void api_sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	int64_t at;
	int err;

	(void)fd;
	(void)what;
	if (api->sweep_queued)
		return;

	err = store_next_expiry(api->rd, &at);
	if (err == ENOENT)
		return;
	if (err) {
		log_warn(api->log, "api: cannot read the expiry index: %s",
			 strerror(err));
		return;
	}
	if (at > clock_now_ms())
		return;

	api->sweep_queued = true;
	if (writer_submit(api->w, api_sweep_op, api_sweep_done, api))
		api->sweep_queued = false;	/* ENOMEM: next tick */
}

int api_sweeper_start(struct api *api)
{
	struct timeval tv = { 0, API_SWEEP_MS * 1000 };

	api->sweep_ev = event_new(api->base, -1, EV_PERSIST, api_sweep_tick,
				  api);
	if (!api->sweep_ev)
		return ENOMEM;
	/* High priority: it only looks and queues; the writer does the work
	 * at the low one. */
	event_priority_set(api->sweep_ev, 0);
	if (event_add(api->sweep_ev, &tv)) {
		event_free(api->sweep_ev);
		api->sweep_ev = NULL;
		return ENOMEM;
	}
	return 0;
}

void api_sweeper_stop(struct api *api)
{
	if (!api->sweep_ev)
		return;
	event_free(api->sweep_ev);	/* also deletes it */
	api->sweep_ev = NULL;
}
