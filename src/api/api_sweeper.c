/*
 * api_sweeper.c - moves sessions past expires_at to expired, and deletes
 * ended sessions past [store] retention.
 *
 * Lookups already treat such sessions as expired (store.h), so the sweeper
 * is not what makes expiry correct; it frees their pool slots and keeps
 * the expiry index short. Every 250 ms it asks the store for the earliest
 * expiry and, when that is due, queues one expire op - never more than
 * one at a time, so a slow commit cannot pile them up.
 *
 * Retention works the same way, on the earliest end: one purge op of at
 * most API_PURGE_MAX records at a time, each in its own writer batch, so
 * no write transaction grows long. A full one queues the next at once
 * (the network events still run first: they have the higher priority).
 */
#include <errno.h>
#include <string.h>

#include "api_internal.h"

static int api_sweep_op(struct store_txn *tx, void *arg)
{
	struct api *api = arg;

	api->sweep_n = 0;
	return store_expire_due(tx, api_now_ms(), API_SWEEP_MAX,
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

static void api_purge_maybe(struct api *api);

/* ended_at before this is past retention */
static int64_t api_purge_cutoff(const struct api *api)
{
	return api_now_ms() - (int64_t)api->cfg->store.retention_s * 1000;
}

static int api_purge_op(struct store_txn *tx, void *arg)
{
	struct api *api = arg;

	return store_purge(tx, api_purge_cutoff(api), api->purge_max,
			   &api->purge_sessions, &api->purge_cdrs);
}

static void api_purge_done(int err, void *arg)
{
	struct api *api = arg;
	int64_t now = api_now_ms();

	api->purge_queued = false;
	if (err) {
		/* a batch that did not fit in the map: smaller ones may */
		if (err == EDQUOT && api->purge_max > 1)
			api->purge_max /= 2;
		if (now - api->purge_warned_ms >= API_STORE_LOG_MS) {
			api->purge_warned_ms = now;
			log_warn(api->log, "api: retention purge failed: %s",
				 strerror(err));
		}
		return;
	}
	if (api->purge_sessions || api->purge_cdrs)
		log_debug(api->log, "api: retention: %u sessions and %u call "
			  "records deleted", api->purge_sessions,
			  api->purge_cdrs);
	if (api->purge_sessions + api->purge_cdrs < api->purge_max)
		return;		/* all that was due is gone */
	if (api->purge_max < API_PURGE_MAX)
		api->purge_max *= 2;
	/* not while stopping: the writer's last flush would go on purging,
	 * and run ops after the api is freed */
	if (api->sweep_ev)
		api_purge_maybe(api);
}

/* api_purge_maybe() - queue a purge op when an end is past retention. */
static void api_purge_maybe(struct api *api)
{
	int64_t at;
	int err;

	if (!api->cfg->store.retention_s || api->purge_queued)
		return;
	err = store_next_ended(api->rd, &at);
	if (err == ENOENT)
		return;
	if (err) {
		log_warn(api->log, "api: cannot read the ended index: %s",
			 strerror(err));
		return;
	}
	if (at >= api_purge_cutoff(api))
		return;

	api->purge_queued = true;
	if (writer_submit(api->w, api_purge_op, api_purge_done, api))
		api->purge_queued = false;	/* ENOMEM: next tick */
}

static void api_sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	int64_t at;
	int err;

	(void)fd;
	(void)what;
	api_purge_maybe(api);
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
	if (at > api_now_ms())
		return;

	api->sweep_queued = true;
	if (writer_submit(api->w, api_sweep_op, api_sweep_done, api))
		api->sweep_queued = false;	/* ENOMEM: next tick */
}

int api_sweeper_start(struct api *api)
{
	struct timeval tv = { 0, API_SWEEP_MS * 1000 };

	api->purge_max = API_PURGE_MAX;
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
