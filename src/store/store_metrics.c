/*
 * store_metrics.c - the store's gauges in the metrics registry.
 *
 * They live in the map (the meta database and the pool's entry count), so
 * they are read when /metrics is rendered, through a reader of the
 * store's own: the one thread that renders uses it, one render at a time
 * (the registry's mutex), which MDB_NOTLS allows from any thread.
 */
#include <errno.h>

#include "maskd/metrics.h"
#include "store_internal.h"

struct store_metrics_snap {
#define X METRICS_X_PLAIN
#include "store_metrics.inc"
#undef X
};

/* A store that cannot be read fails the render (503 from /metrics)
 * rather than show gauges at 0. */
static int store_metrics_read(void *arg, void *snap)
{
	struct store_metrics_snap *out = snap;
	struct store_stats ss;
	int err;

	err = store_stats_get(arg, &ss);
	if (err)
		return err;
	out->sessions_active = ss.sessions_active;
	out->pool_numbers = ss.pool_numbers;
	out->map_bytes = ss.map_bytes;
	out->file_bytes = ss.file_bytes;
	out->used_bytes = ss.used_bytes;
	out->purged_sessions = ss.purged_sessions;
	out->purged_cdrs = ss.purged_cdrs;
	out->cdrs_sessionless = ss.cdrs_sessionless;
	out->cdrs_sessionless_dropped = ss.cdrs_sessionless_dropped;
	return 0;
}

static const struct metrics_row store_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct store_metrics_snap, f, name, kind, help),
#include "store_metrics.inc"
#undef X
};

static const struct metrics_group store_metrics_group =
	METRICS_GROUP_SNAP("store", store_metrics_rows, store_metrics_read,
			   struct store_metrics_snap);

int store_metrics_register(struct store *st, struct metrics *reg)
{
	struct store_reader *rd = NULL;
	int err;

	if (!reg)
		return 0;
	if (st->metrics)
		return EEXIST;
	err = store_reader_open(st, &rd);
	if (err)
		return err;
	err = metrics_register(reg, &store_metrics_group, rd);
	if (err) {
		store_reader_close(rd);
		return err;
	}
	st->metrics = reg;
	st->metrics_rd = rd;
	return 0;
}

void store_metrics_unregister(struct store *st)
{
	metrics_unregister(st->metrics, &store_metrics_group, st->metrics_rd);
	store_reader_close(st->metrics_rd);
	st->metrics = NULL;
	st->metrics_rd = NULL;
}
