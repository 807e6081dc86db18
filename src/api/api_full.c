/*
 * api_full.c - the store-full guard: writes that would grow a nearly full
 * store are refused with 507 store_full, and so is any write whose commit
 * ran out of map, with one log line a minute for the operator.
 *
 * LMDB fails a commit that needs more pages than the map has with
 * MDB_MAP_FULL, and then every write fails alike, closes included. The
 * guard refuses growth early so that what frees space (closes, the
 * sweeper's expiries and retention) and what must not be lost (the call
 * records of calls, never refused) still find pages.
 */
#include <errno.h>
#include <string.h>

#include "api_internal.h"

/* api_store_reserve() - what is kept free of a map of @map bytes. */
static uint64_t api_store_reserve(uint64_t map)
{
	uint64_t r = map / 100 * API_STORE_RESERVE_PCT;

	return r > API_STORE_RESERVE_MIN ? r : API_STORE_RESERVE_MIN;
}

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
		  (unsigned long long)api->store_used,
		  (unsigned long long)api->store_map,
		  (unsigned long long)api_store_reserve(api->store_map),
		  (unsigned long long)api->store_refused);
	api->store_refused = 0;
}

/*
 * api_store_check() - whether the map is nearly full. The file's
 * high-water mark costs nothing to read, and while it is below the limit
 * so is what is in use. Above it, only the free-page count tells (LMDB
 * reuses freed pages before it grows the file), and that walks the free
 * list: a few pages, so it is done for every write that grows the store
 * rather than cached - a cache would let a burst run into the reserve.
 */
static bool api_store_check(struct api *api)
{
	struct store_stats ss;
	uint64_t file, map;
	bool full;

	if (store_size_get(api->st, &file, &map) == 0 &&
	    file + api_store_reserve(map) <= map) {
		api->store_used = file;
		api->store_map = map;
	} else if (store_stats_get(api->rd, &ss) == 0) {
		api->store_used = ss.used_bytes;
		api->store_map = ss.map_bytes;
	}	/* else no news: the last figures */
	full = api->store_used + api_store_reserve(api->store_map) >
	       api->store_map;
	if (!full && api->store_full)
		log_info(api->log, "api: the store has room again: %llu of "
			 "%llu bytes in use",
			 (unsigned long long)api->store_used,
			 (unsigned long long)api->store_map);
	api->store_full = full;
	return full;
}

bool api_store_refuse(struct api *api, struct evhttp_request *req)
{
	int64_t now = api_now_ms();

	if (!api_store_check(api))
		return false;
	api->store_refused++;
	api_store_full_log(api, now);
	api_reply_error(api, req, 507, "store_full",
			"the store is full; try again once retention has "
			"freed space");
	return true;
}

void api_reply_store_err(struct api *api, struct evhttp_request *req,
			 int err, const char *what)
{
	int64_t now = api_now_ms();

	if (err != EDQUOT) {
		api_reply_error(api, req, 503, "store_unavailable", "%s: %s",
				what, strerror(err));
		return;
	}
	/* a commit ran out of map (a write bigger than the reserve, or
	 * one that does not grow the store by much): say so the same way */
	api->store_full = true;
	api->store_refused++;
	api_store_full_log(api, now);
	api_reply_error(api, req, 507, "store_full", "%s: the store is full",
			what);
}
