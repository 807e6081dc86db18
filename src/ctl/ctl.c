/*
 * ctl.c - the control layer's start, stop and wiring, and the life of one
 * change (struct ctl_op): copied in, run inside the writer's batch, done
 * handler after the commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maskd/cluster.h"
#include "maskd/store_mirror.h"

#include "ctl_internal.h"

char *ctl_strdup(const char *s, int *err)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		*err = ENOMEM;
	return p;
}

struct ctl_op *ctl_op_new(struct ctl *ctl, void *arg)
{
	struct ctl_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->ctl = ctl;
	op->arg = arg;
	return op;
}

void ctl_op_free(struct ctl_op *op)
{
	if (!op)
		return;
	free(op->callback_url);
	free(op->metadata);
	session_clear(&op->out);
	explicit_bzero(op, sizeof(*op));	/* PINs */
	free(op);
}

static int ctl_op_run(struct store_txn *tx, void *arg)
{
	struct ctl_op *op = arg;

	op->now_ms = clock_now_ms();
	op->op_err = op->run(op, tx);
	op->ran = true;
	return op->op_err;
}

/*
 * The writer gives @err: the op's own result, or the commit's error when
 * the op succeeded. An op that refused (op_err) is reported as such even
 * if the batch then failed too: its refusal stands. An op that never ran
 * (no transaction could begin) or whose changes did not reach the disk is
 * "lost".
 */
static void ctl_op_done(int err, void *arg)
{
	struct ctl_op *op = arg;

	if (!op->ran || (op->op_err == 0 && err != 0))
		op->done(op, err ? err : EIO, true);
	else
		op->done(op, op->op_err, false);
	ctl_op_free(op);
}

int ctl_op_submit(struct ctl_op *op)
{
	int err;

	err = writer_submit(op->ctl->w, ctl_op_run, ctl_op_done, op);
	if (err) {
		log_warn(op->ctl->log, "ctl: cannot queue a write: %s",
			 strerror(err));
		ctl_op_free(op);
	}
	return err;
}

/* ms, rendered in seconds: a LAN receiver to a slow platform */
static const uint64_t ctl_delivery_bounds[] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
};

/* ms; a caller hears only 100 Trying meanwhile: the low end matters */
static const uint64_t ctl_hook_bounds[] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000,
};

int ctl_start(struct ctl **ctlp, struct event_base *base,
	      const struct config *cfg, struct store *st, struct writer *w,
	      struct log *log)
{
	struct ctl *ctl;
	int err;

	if (!ctlp || !base || !cfg || !st || !w)
		return EINVAL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return ENOMEM;
	ctl->base = base;
	ctl->cfg = cfg;
	ctl->st = st;
	ctl->w = w;
	ctl->log = log;

	err = store_reader_open(st, &ctl->rd);
	if (err)
		goto out;
	ctl->evc.max_pending = CTL_EVENTS_MAX_PENDING;
	err = metrics_hist_init(&ctl->cells.delivery_ms, ctl_delivery_bounds,
				sizeof(ctl_delivery_bounds) /
				sizeof(ctl_delivery_bounds[0]));
	if (!err)
		err = metrics_hist_init(&ctl->cells.hook_ms, ctl_hook_bounds,
					sizeof(ctl_hook_bounds) /
					sizeof(ctl_hook_bounds[0]));
	if (err)
		goto out;
	ctl_event_start(ctl);
	err = ctl_call_start(ctl);
	if (err)
		goto out;
	err = ctl_sweep_start(ctl);
	if (err)
		goto out;

	*ctlp = ctl;
	ctl = NULL;
 out:
	ctl_stop(ctl);
	return err;
}

const char *const ctl_delivery_results[4] = {
	"ok", "retry", "failed", "dropped",
};

const char *const ctl_hook_results[6] = {
	"connect", "allow", "reject", "announce", "timeout", "error",
};

static const struct metrics_row ctl_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct ctl_counters, f, name, kind, help),
#define XL(f, name, kind, help, label, n, values) \
	METRICS_ROW_L(struct ctl_counters, f, name, kind, help, label, n, \
		      values),
#include "ctl_metrics.inc"
#undef XL
#undef X
};

/* Rendered on the control thread, which alone writes the counters. */
static int ctl_metrics_read(void *arg, void *snap)
{
	const struct ctl *ctl = arg;
	struct ctl_counters *c = snap;
	uint64_t pending = 0;

	memcpy(snap, &ctl->ctr, sizeof(ctl->ctr));
	if (!store_event_pending(ctl->rd, &pending))
		c->events_pending = pending;
	pending = 0;
	if (!store_export_pending(ctl->rd, &pending))
		c->export_pending = pending;
	pending = 0;
	if (!store_idxq_count(ctl->rd, &pending))
		c->index_queue = pending;
	return 0;
}

static const struct metrics_row ctl_cell_rows[] = {
	METRICS_ROW_H(struct ctl_cells, delivery_ms,
		      "maskd_event_delivery_seconds",
		      "Webhook delivery latency, attempt start to its 2xx.",
		      1000),
	METRICS_ROW_H(struct ctl_cells, hook_ms, "maskd_hook_seconds",
		      "Call-routing hook latency, request start to its "
		      "answer (or error).", 1000),
};

static const struct metrics_group ctl_cells_group =
	METRICS_GROUP("events", ctl_cell_rows);

static const struct metrics_group ctl_metrics_group =
	METRICS_GROUP_SNAP("ctl", ctl_metrics_rows, ctl_metrics_read,
			   struct ctl_counters);

/* The cluster node's counters, rendered in both modes (0 in
 * single-node mode) so a dashboard's families are always there. */
static int ctl_cluster_metrics_read(void *arg, void *snap)
{
	const struct ctl *ctl = arg;

	if (ctl->cluster)
		cluster_stats(ctl->cluster, snap);
	else
		memset(snap, 0, sizeof(struct cluster_stats));
	return 0;
}

static const struct metrics_row ctl_cluster_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct cluster_stats, f, name, kind, help),
#include "maskd/cluster_metrics.inc"
#undef X
};

static const struct metrics_group ctl_cluster_metrics_group =
	METRICS_GROUP_SNAP("cluster", ctl_cluster_metrics_rows,
			   ctl_cluster_metrics_read, struct cluster_stats);

void ctl_stop(struct ctl *ctl)
{
	if (!ctl)
		return;
	/* first: the counters are freed with ctl */
	metrics_unregister(ctl->metrics, &ctl_metrics_group, ctl);
	metrics_unregister(ctl->metrics, &ctl_cells_group, &ctl->cells);
	metrics_unregister(ctl->metrics, &ctl_cluster_metrics_group, ctl);
	ctl_sweep_stop(ctl);
	ctl_hook_stop(ctl);
	ctl_deliver_stop(ctl);
	/* the pending done handlers (CDRs, a sweep) point at ctl */
	writer_flush(ctl->w);
	ctl_call_stop(ctl);
	ctl_event_stop(ctl);
	if (ctl->rd)
		store_reader_close(ctl->rd);
	free(ctl);
}

bool ctl_clustered(const struct ctl *ctl)
{
	return ctl->cluster != NULL;
}

void ctl_flush(struct ctl *ctl)
{
	writer_flush(ctl->w);
}

void ctl_set_sip(struct ctl *ctl, struct sip *sip)
{
	if (!sip)
		ctl_call_cancel_all(ctl);	/* nobody will answer them */
	ctl->sip = sip;
}

void ctl_stats_get(const struct ctl *ctl, struct ctl_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->creates = ctl->ctr.creates;
	out->expiries = ctl->ctr.expiries;
	out->cdrs_written = ctl->ctr.cdrs_written;
	out->cdrs_lost = ctl->ctr.cdrs_lost;
	out->sip_cmds_lost = ctl->ctr.sip_cmds_lost;
	writer_stats_get(ctl->w, &out->writer);
}

int ctl_metrics_register(struct ctl *ctl, struct metrics *reg)
{
	int err;

	err = metrics_register(reg, &ctl_metrics_group, ctl);
	if (err)
		return err;
	err = metrics_register(reg, &ctl_cells_group, &ctl->cells);
	if (!err)
		err = metrics_register(reg, &ctl_cluster_metrics_group, ctl);
	if (err) {
		metrics_unregister(reg, &ctl_cells_group, &ctl->cells);
		metrics_unregister(reg, &ctl_metrics_group, ctl);
		return err;
	}
	ctl->metrics = reg;
	return 0;
}

int ctl_store_room(struct ctl *ctl, struct ctl_store_room *out)
{
	struct store_stats ss;
	uint64_t file, map;
	int err;

	err = store_size_get(ctl->st, &file, &map);
	if (err)
		return err;
	out->map = map;
	out->reserve = map / 100 * CTL_STORE_RESERVE_PCT;
	if (out->reserve < CTL_STORE_RESERVE_MIN)
		out->reserve = CTL_STORE_RESERVE_MIN;
	/* below the high-water mark is all that can be in use */
	out->used = file;
	if (file + out->reserve > map) {
		err = store_stats_get(ctl->rd, &ss);
		if (err)
			return err;
		out->used = ss.used_bytes;
	}
	out->full = out->used + out->reserve > out->map;
	return 0;
}

int ctl_store_stats(struct ctl *ctl, struct store_stats *out)
{
	return store_stats_get(ctl->rd, out);
}
