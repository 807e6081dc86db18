/*
 * store_mirror.h - the LMDB store as a cache of another store's sessions
 * (cluster mode: PostgreSQL holds the truth, include/maskd/cluster.h).
 *
 * A mirrored session is written as it is given - its id, its vn, its
 * status - with every index store_lookup(), store_pin_lookup() and the
 * listings read, so the call path reads a cache exactly as it reads a
 * single node's store. The local pool's counts are not touched: numbers
 * are allocated where the truth is.
 *
 * Threads: the writer's (control) thread, inside a write transaction;
 * the cursor is read through any reader.
 */
#ifndef MASKD_STORE_MIRROR_H
#define MASKD_STORE_MIRROR_H

#include <stdint.h>

#include "maskd/store.h"

/*
 * The index queue. A mirrored session's listing index entries (party
 * and vn, store.h) are not written with it: store_session_mirror()
 * queues them (one record appended at the queue's end) and
 * store_idxq_flush() writes them into the indexes later, many at once.
 * Why: a cache takes every create of every node, and the pool hands its
 * numbers out in turn, so each create's vn entry lands in a leaf page of
 * its own - in a bench of three nodes, half of all the cache wrote. A
 * flush every 250 ms (ctl_sweep.c) writes each such leaf once for all
 * the entries it got meanwhile. Nothing waits for a flush: listings
 * merge the queue in (store_session_list()), so a session is listed as
 * soon as it is cached, and retention (store_purge()) flushes it first.
 * The queue is in the store, so a crash loses none of it.
 *
 *   idxq     be64(seq) -> id(16) be64(party_a) be64(party_b) be64(vn)
 *
 * store_idxq_flush() - write up to @max queued records into the indexes
 * and delete them from the queue, oldest first; *n (may be NULL) gets
 * how many, *more whether any is left. 0 or an errno.
 * store_idxq_count() - records queued, through any reader.
 */
int store_idxq_flush(struct store_txn *tx, unsigned max, unsigned *n,
		     bool *more);
int store_idxq_count(struct store_reader *r, uint64_t *n);

/*
 * store_session_mirror() - make session @s->id what @s says.
 *   unknown here   written, with its indexes (party and vn queued) and
 *                  counters;
 *   active here    updated (an active @s: expiry, PINs, fields), or
 *                  ended (an ended @s), freeing its pair for the next;
 *   ended here     left as it is: an end is final.
 * A pair entry is only taken over from an older session (created_at,
 * then id), so a change applied late never hides a newer session of the
 * same pair. A PIN a stale local session still holds is not indexed
 * (*pin_skipped, may be NULL, set): that session's end is on its way.
 * Returns 0 or an errno.
 */
int store_session_mirror(struct store_txn *tx, const struct session *s,
			 bool *pin_skipped);

/*
 * store_mirror_cursor_get() / _set() - the position in the source's
 * change feed up to which everything is applied (two numbers, kept in
 * meta; both 0 before the first). _set in the same transaction as the
 * changes it covers, so a crash never skips one.
 */
int store_mirror_cursor_get(struct store_reader *r, uint64_t *xid,
			    uint64_t *id);
int store_mirror_cursor_set(struct store_txn *tx, uint64_t xid, uint64_t id);

/*
 * The export queue: call records and events this node wrote, waiting to
 * be copied into the cluster's store (cluster_export.c). With
 * store_set_export() on, store_cdr_add(), store_cdr_recording_set(),
 * store_event_add() and a final store_event_attempt() each append an
 * entry in their own transaction: the record and its entry commit
 * together, so nothing written here is ever missed, whatever happens to
 * the network or the process. An entry names the record (kind, id), it
 * does not copy it: the copy sent is the record as it is then.
 *
 *   export     be64(seq) -> kind(1) id(16)
 */
enum store_export_kind {
	STORE_EXPORT_CDR = 1,
	STORE_EXPORT_EVENT = 2,
};

struct store_export_entry {
	uint64_t seq;
	enum store_export_kind kind;
	uint8_t id[STORE_ID_LEN];
};

/* store_set_export() - queue exports from now on (cluster mode). Control
 * thread, before the writes it should cover. */
void store_set_export(struct store *st, bool on);

/*
 * store_export_list() - the oldest @max entries (or fewer) into @out;
 * *n gets how many. Any thread, through its reader. 0 or an errno.
 */
int store_export_list(struct store_reader *r, struct store_export_entry *out,
		      unsigned max, unsigned *n);

/* store_export_done() - delete the entries with seq <= @upto (copied). */
int store_export_done(struct store_txn *tx, uint64_t upto);

/* store_export_pending() - entries waiting. 0 or an errno. */
int store_export_pending(struct store_reader *r, uint64_t *n);

#endif
