/*
 * writer.h - group commit: the control thread's single LMDB writer
 * (src/store/store_writer.c: it belongs to the store).
 *
 * Every change to the store goes through here. A submitted operation is
 * queued and the writer's event made active; libevent runs it after the
 * higher-priority network callbacks that are ready (requests read in the
 * same wake-up), so they join the batch. The writer opens one write
 * transaction, runs each queued operation in its own nested transaction
 * (a failed one leaves no trace; writer_submit_group()'s neighbours
 * share one), commits once - one fsync for the whole batch - and only
 * then calls each operation's done handler. So a client never hears "created"
 * for something that is not on disk, and a burst of N requests costs one
 * fsync instead of N.
 *
 * Owned by the control thread; not thread-safe.
 */
#ifndef MASKD_WRITER_H
#define MASKD_WRITER_H

#include <event2/event.h>

#include "maskd/metrics.h"
#include "maskd/store.h"

struct writer;

/*
 * writer_op_h - runs inside the batch, in its own nested transaction.
 * Return 0 to keep its changes, or an errno to have them rolled back.
 */
typedef int (writer_op_h)(struct store_txn *tx, void *arg);

/*
 * writer_done_h - after the batch: @err is the op's own result, or the
 * commit's error when the op succeeded but the batch could not be
 * committed (its changes are then lost and must be reported as such).
 */
typedef void (writer_done_h)(int err, void *arg);

/*
 * writer_alloc() - a writer on @base, at the base's default priority.
 * main.c gives the network and signal events a higher one, so a batch is
 * run only once every ready request has been read and queued into it.
 * A loop that always had network work would starve the writer; clients
 * that wait for their answers cannot do that (measured: creates answered
 * in 20-30 ms under 34,000 GET/s of other traffic). @st and @base are
 * borrowed. Returns 0 or an errno.
 */
int writer_alloc(struct writer **wp, struct event_base *base,
		 struct store *st, struct log *log);

/*
 * writer_free() - run what is still queued (one last batch), then free.
 * NULL-safe.
 */
void writer_free(struct writer *w);

/*
 * writer_submit() - queue @op. @done (may be NULL) is called exactly once,
 * from the event loop, after the batch holding @op committed or failed;
 * @arg must stay valid until then. Returns 0 or ENOMEM (then nothing was
 * queued and neither handler will run).
 */
int writer_submit(struct writer *w, writer_op_h *op, writer_done_h *done,
		  void *arg);

/* How long writer_submit_later() lets an operation wait for others. */
#define WRITER_LATER_MS 50

/*
 * writer_submit_later() - writer_submit() for what nobody waits on (call
 * records, call progress): the batch holding @op starts within
 * WRITER_LATER_MS (sooner when a writer_submit() comes meanwhile), so at
 * 100 calls/s five calls share one commit and one fsync instead of each
 * paying its own. A crash in that window loses them, as it loses the
 * records still on their way from the SIP thread.
 */
int writer_submit_later(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg);

/* How long writer_submit_cache() lets an operation wait for others. */
#define WRITER_CACHE_MS 5

/*
 * writer_submit_cache() - writer_submit() for a change that can be
 * rebuilt from elsewhere: in cluster mode the feed's copy of
 * PostgreSQL's sessions, whose cursor is written by the same operation
 * (cluster_feed.c), so whatever a lost commit held is read and applied
 * again. The operation waits up to WRITER_CACHE_MS for others (under
 * load a durable batch comes first and takes it along: no commit of its
 * own). A batch that holds only such operations commits through
 * store_write_begin_lazy(): one fdatasync instead of two, and a machine
 * crash may undo that last batch, never corrupt the store nor touch what
 * an earlier synced commit holds. Everything else (call records, the
 * events outbox, the export queue) never rides in such a batch and stays
 * as durable as before. A process crash (kill -9) loses nothing.
 * Neighbouring operations share one nested transaction, with the rule
 * writer_submit_group() states for @op.
 */
int writer_submit_cache(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg);

/*
 * writer_submit_group() - writer_submit_later() for the many small
 * operations of calls (call records, call events, delivery outcomes):
 * neighbours in the queue that were all submitted this way share one
 * nested transaction instead of one each (LMDB mallocs a 2 MiB dirty
 * list and a 1 MiB free list per nested transaction and merges them on
 * commit: per call event that cost more than writing the event). Queue
 * order is kept. When one of a group fails, the group's writes are
 * undone and each of its operations is run again alone, so the failure
 * costs only the operation that failed: @op may thus run twice, and must
 * leave nothing outside @tx that a second run would repeat wrongly.
 */
int writer_submit_group(struct writer *w, writer_op_h *op,
			writer_done_h *done, void *arg);

/* writer_flush() - run the queued batch now (tests, shutdown). */
void writer_flush(struct writer *w);

/* Counters for /metrics, declared in writer_metrics.inc. */
struct writer_stats {
#define X METRICS_X_PLAIN
#include "maskd/writer_metrics.inc"
#undef X
};
void writer_stats_get(const struct writer *w, struct writer_stats *out);

/*
 * writer_metrics_register() - show the writer's counters in @reg from now
 * on; writer_free() takes them off. The registry reads them through a
 * handler, so @reg must be rendered on the control thread (the api's
 * /metrics is). Returns 0 or an errno of metrics_register().
 */
int writer_metrics_register(struct writer *w, struct metrics *reg);

#endif
