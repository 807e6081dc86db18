/*
 * store_writer.c - group commit for the control thread (see writer.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/clock.h"
#include "maskd/writer.h"

/* A batch bigger than this is split: one huge transaction would hold the
 * loop (and every client waiting on it) for too long. */
#define WRITER_BATCH_MAX 4096

struct writer_op {
	writer_op_h *op;
	writer_done_h *done;
	void *arg;
	int err;
	bool group;		/* writer_submit_group(): shares a nested
				 * transaction with its neighbours */
	bool cache;		/* writer_submit_cache(): can be rebuilt */
};

struct writer {
	struct event_base *base;
	struct event *ev;
	struct store *st;
	struct log *log;
	struct writer_op *q;	/* pending operations, oldest first */
	size_t n, cap;
	struct writer_op *run;	/* the batch being run; WRITER_BATCH_MAX */
	bool scheduled;		/* ev is active */
	bool timed;		/* ev is pending, until due_ms */
	int64_t due_ms;		/* clock_mono_ms() the timed batch runs */
	struct writer_stats stats;
	struct metrics *metrics;	/* borrowed; writer_metrics_register() */
};

static void writer_run(struct writer *w);
static void writer_run_one(struct writer *w, struct store_txn *tx,
			   struct writer_op *o);
static int writer_run_group(struct writer *w, struct store_txn *tx,
			    struct writer_op *g, size_t n);

static void writer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	/* run, whether made active or timed out: either way ev is no
	 * longer pending (it is not persistent) */
	w->scheduled = false;
	w->timed = false;
	writer_run(w);
}

int writer_alloc(struct writer **wp, struct event_base *base,
		 struct store *st, struct log *log)
{
	struct writer *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->base = base;
	w->st = st;
	w->log = log;
	w->ev = event_new(base, -1, 0, writer_cb, w);
	w->run = calloc(WRITER_BATCH_MAX, sizeof(*w->run));
	if (!w->ev || !w->run) {
		if (w->ev)
			event_free(w->ev);
		free(w->run);
		free(w);
		return ENOMEM;
	}
	*wp = w;
	return 0;
}

static int writer_metrics_read(void *arg, void *snap)
{
	writer_stats_get(arg, snap);
	return 0;
}

static const struct metrics_row writer_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct writer_stats, f, name, kind, help),
#include "maskd/writer_metrics.inc"
#undef X
};

static const struct metrics_group writer_metrics_group =
	METRICS_GROUP_SNAP("writer", writer_metrics_rows, writer_metrics_read,
			   struct writer_stats);

int writer_metrics_register(struct writer *w, struct metrics *reg)
{
	int err;

	err = metrics_register(reg, &writer_metrics_group, w);
	if (!err)
		w->metrics = reg;
	return err;
}

void writer_free(struct writer *w)
{
	if (!w)
		return;
	metrics_unregister(w->metrics, &writer_metrics_group, w);
	writer_flush(w);
	event_free(w->ev);
	free(w->run);
	free(w->q);
	free(w);
}

static int writer_queue(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg, bool group,
			bool cache)
{
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 64;
		struct writer_op *nq = realloc(w->q, ncap * sizeof(*nq));

		if (!nq)
			return ENOMEM;
		w->q = nq;
		w->cap = ncap;
	}
	w->q[w->n].op = op;
	w->q[w->n].done = done;
	w->q[w->n].arg = arg;
	w->q[w->n].err = 0;
	w->q[w->n].group = group;
	w->q[w->n].cache = cache;
	w->n++;
	return 0;
}

int writer_submit(struct writer *w, writer_op_h *op, writer_done_h *done,
		  void *arg)
{
	int err = writer_queue(w, op, done, arg, false, false);

	if (err)
		return err;
	if (!w->scheduled) {
		w->scheduled = true;
		event_active(w->ev, EV_TIMEOUT, 0);
	}
	return 0;
}

/* Queue an operation that may wait up to @ms for others: the batch
 * runs then, or sooner (a writer_submit(), an earlier deadline). */
static int writer_submit_lazy(struct writer *w, writer_op_h *op,
			      writer_done_h *done, void *arg, bool group,
			      bool cache, int ms)
{
	struct timeval tv = {
		.tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000,
	};
	int64_t due = clock_mono_ms() + ms;
	int err = writer_queue(w, op, done, arg, group, cache);

	if (err)
		return err;
	if (!w->scheduled && (!w->timed || due < w->due_ms)) {
		/* (a pending event added again keeps only the new timeout) */
		if (event_add(w->ev, &tv)) {
			/* no timer: at once, as writer_submit() */
			event_del(w->ev);
			w->timed = false;
			w->scheduled = true;
			event_active(w->ev, EV_TIMEOUT, 0);
			return 0;
		}
		w->timed = true;
		w->due_ms = due;
	}
	return 0;
}

int writer_submit_later(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg)
{
	return writer_submit_lazy(w, op, done, arg, false, false,
				  WRITER_LATER_MS);
}

int writer_submit_group(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg)
{
	return writer_submit_lazy(w, op, done, arg, true, false,
				  WRITER_LATER_MS);
}

int writer_submit_cache(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg)
{
	/* grouped: a node caches each session another node creates, and
	 * a nested transaction apiece cost more than the write itself */
	return writer_submit_lazy(w, op, done, arg, true, true,
				  WRITER_CACHE_MS);
}

void writer_flush(struct writer *w)
{
	while (w->n)
		writer_run(w);
}

void writer_stats_get(const struct writer *w, struct writer_stats *out)
{
	*out = w->stats;
}

/* @o in its own nested transaction of @tx. */
static void writer_run_one(struct writer *w, struct store_txn *tx,
			   struct writer_op *o)
{
	struct store_txn *child;

	o->err = store_write_begin(w->st, tx, &child);
	if (o->err)
		return;
	o->err = o->op(child, o->arg);
	if (o->err)
		store_write_abort(child);
	else
		o->err = store_write_commit(child);
}

/*
 * writer_run_group() - the @n grouped operations at @g in one nested
 * transaction of @tx: LMDB mallocs megabytes of dirty and free lists for
 * each nested transaction and merges them into the parent's on commit,
 * which per event of a call cost more than writing the event. Returns 0
 * when all of them are in; otherwise nothing of them is (the caller runs
 * each again alone, so one bad operation still costs only itself).
 */
static int writer_run_group(struct writer *w, struct store_txn *tx,
			    struct writer_op *g, size_t n)
{
	struct store_txn *child;
	size_t i;
	int err;

	err = store_write_begin(w->st, tx, &child);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++)
		err = g[i].op(child, g[i].arg);
	if (err) {
		store_write_abort(child);
		return err;
	}
	err = store_write_commit(child);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		g[i].err = 0;
	return 0;
}

/*
 * writer_run() - one batch: up to WRITER_BATCH_MAX queued operations, each
 * in its own nested transaction, one commit, then the done handlers.
 *
 * The batch is taken off the queue before any handler runs, because done
 * handlers may submit again (and so reallocate the queue).
 */
static void writer_run(struct writer *w)
{
	struct writer_op *batch = w->run;
	struct store_txn *tx = NULL;
	size_t n = w->n < WRITER_BATCH_MAX ? w->n : WRITER_BATCH_MAX;
	size_t i;
	int err;

	if (n == 0)
		return;
	memcpy(batch, w->q, n * sizeof(*batch));
	memmove(w->q, w->q + n, (w->n - n) * sizeof(*w->q));
	w->n -= n;

	/* only rebuildable changes: their commit need not sync the meta
	 * page (writer_submit_cache()); any other operation makes the
	 * whole batch as durable as ever */
	for (i = 0; i < n && batch[i].cache; i++)
		;
	err = i == n ? store_write_begin_lazy(w->st, &tx) :
		       store_write_begin(w->st, NULL, &tx);
	if (!err && i == n)
		w->stats.lazy++;
	for (i = 0; i < n; i++) {
		size_t j = i + 1;

		if (err) {
			batch[i].err = err;
			continue;
		}
		while (batch[i].group && j < n && batch[j].group)
			j++;
		if (j - i > 1 && !writer_run_group(w, tx, batch + i, j - i)) {
			i = j - 1;
			continue;
		}
		/* alone, or its group failed: each in its own, again */
		for (; i < j; i++)
			writer_run_one(w, tx, batch + i);
		i--;
	}
	if (!err) {
		err = store_write_commit(tx);
		w->stats.batches++;
		if (err) {
			log_error(w->log, "writer: commit of %zu operations "
				  "failed: %s", n, strerror(err));
			for (i = 0; i < n; i++)
				if (!batch[i].err)
					batch[i].err = err;
		}
	} else {
		log_error(w->log, "writer: cannot begin a transaction: %s",
			  strerror(err));
	}
	if (err)
		w->stats.failures++;
	w->stats.ops += n;

	/* What arrived meanwhile, or did not fit, goes in the next batch;
	 * scheduled before the handlers, which may submit more. */
	if (w->n && !w->scheduled) {
		w->scheduled = true;
		event_active(w->ev, EV_TIMEOUT, 0);
	}
	for (i = 0; i < n; i++)
		if (batch[i].done)
			batch[i].done(batch[i].err, batch[i].arg);
}
