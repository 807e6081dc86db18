/*
 * api_full.c - the store-full guard: writes that would grow a nearly full
 * store are refused with 507 store_full, and so is any write whose commit
 * ran out of map, with one log line a minute for the operator.
 *
 * LMDB fails a commit that needs more pages than the map has with
 * MDB_MAP_FULL, and then every write fails alike, closes included. The
 * guard refuses growth early so that what frees space (closes, the
 * sweeper's expiries and retention) and what must not be lost (the call
 * records of calls, never refused) still find pages. How full is full is
 * ctl's to say (ctl_store_room()); this file only answers and logs.
 */
#include <errno.h>
#include <string.h>

#include "api_internal.h"

/* api_store_full_log() - the one line an operator needs, once a minute. */
static void api_store_full_log(struct api *api, int64_t now)
{
	if (api->store_logged_ms &&
	    now - api->store_logged_ms < API_STORE_LOG_MS &&
	    now >= api->store_logged_ms)
		return;
	api->store_logged_ms = now;
	log_error(api->log, "api: store full: %llu of %llu bytes in use "
		  "(%llu kept free): writes that grow it get 507 store_full "
		  "(%llu refused since the last such line) until [store] "
		  "retention frees space or [store] map_size is raised",
		  (unsigned long long)api->room.used,
		  (unsigned long long)api->room.map,
		  (unsigned long long)api->room.reserve,
		  (unsigned long long)api->store_refused);
	api->store_refused = 0;
}

/*
 * api_store_check() - whether the map is nearly full, read fresh for
 * every write that grows the store (ctl_store_room() says why that is
 * cheap): a cache would let a burst run into the reserve. A store that
 * cannot be read keeps the last answer.
 */
static bool api_store_check(struct api *api)
{
	struct ctl_store_room room;

	if (ctl_store_room(api->ctl, &room) == 0) {
		if (!room.full && api->store_full)
			log_info(api->log, "api: the store has room again: "
				 "%llu of %llu bytes in use",
				 (unsigned long long)room.used,
				 (unsigned long long)room.map);
		api->room = room;
		api->store_full = room.full;
	}
	return api->store_full;
}

bool api_store_refuse(struct api *api, struct evhttp_request *req)
{
	if (!api_store_check(api))
		return false;
	api->store_refused++;
	api_store_full_log(api, clock_mono_ms());
	api_reply_error(api, req, 507, "store_full",
			"the store is full; try again once retention has "
			"freed space");
	return true;
}

void api_reply_store_err(struct api *api, struct evhttp_request *req,
			 int err, const char *what)
{
	if (err != EDQUOT) {
		api_reply_error(api, req, 503, "store_unavailable", "%s: %s",
				what, strerror(err));
		return;
	}
	/* a commit ran out of map (a write bigger than the reserve, or
	 * one that does not grow the store by much): say so the same way */
	api->store_full = true;
	api->store_refused++;
	api_store_full_log(api, clock_mono_ms());
	api_reply_error(api, req, 507, "store_full", "%s: the store is full",
			what);
}
