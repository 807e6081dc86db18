/*
 * cluster_feed.c - the changes table into this node's LMDB cache (see
 * cluster_feed_start() in cluster.h).
 *
 * The cursor. changes.id is a bigserial: ids are taken at insert but
 * become visible at commit, so a later id can be seen before an earlier
 * one, and "everything up to the highest id seen" would skip the late
 * one for good. Each row also has the id of the transaction that wrote
 * it (xid8). Every transaction below a snapshot's xmin has finished, so
 * rows are read in (xid, id) order and the kept cursor only ever moves
 * over rows whose xid is below the xmin of the snapshot that read them:
 * nothing can still appear behind it. Rows past that point (committed
 * while an older transaction was still open) are applied at once too -
 * propagation does not wait for stragglers - and remembered in `ahead`
 * so the re-read that follows does not write them again.
 *
 * What is applied is the session's row as it is now (a join), not a copy
 * in the change: applying it twice, or late, writes the same truth
 * (store_session_mirror()). The cursor is written in the same LMDB
 * transaction as the sessions it covers, so a restart resumes exactly.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/clock.h"
#include "maskd/store_mirror.h"

#include "cluster_internal.h"

struct feed_pos {
	uint64_t xid, id;
};

struct cluster_feed {
	struct cluster *c;
	struct store *st;		/* borrowed */
	struct writer *w;		/* borrowed */
	struct store_reader *rd;
	struct cluster_pg *pg;		/* its own connection: LISTENs */
	struct event *timer;
	struct feed_pos cursor;		/* durable: everything before done */
	struct feed_pos scan;		/* where the next read starts */
	struct feed_pos *ahead;		/* applied past the cursor */
	size_t n_ahead, cap_ahead;
	bool busy;			/* a read or its write in flight */
	bool again;			/* woken while busy */
	cluster_applied_h *h;
	void *arg;
	/* freshness (cluster_fresh_watch()) */
	int64_t synced_ms;		/* clock_mono_ms() of the last sync;
					 * 0: none yet */
	bool fresh_told;		/* what fresh_h heard last */
	cluster_fresh_h *fresh_h;
	void *fresh_arg;
};

/* One read's worth, handed to the writer. */
struct feed_batch {
	struct cluster_feed *f;
	struct session *s;		/* to apply (not in ahead) */
	struct feed_pos *pos;		/* their positions */
	size_t n;
	struct feed_pos cursor;		/* the cursor after this batch */
	bool full;			/* the read hit its LIMIT */
	struct feed_pos last;		/* the last row read */
	bool *beyond;			/* s[i] is past the new cursor */
	int err;
};

static const char feed_sql[] =
	"SELECT c.id, c.xid::text, "
	"pg_snapshot_xmin(pg_current_snapshot())::text, "
	CLUSTER_SESSION_COLS " FROM changes c "
	"JOIN sessions s ON s.id = c.session_id "
	"WHERE (c.xid, c.id) > ($1::text::xid8, $2::bigint) "
	"AND c.kind = 'session' "
	"ORDER BY c.xid, c.id LIMIT " CLUSTER_FEED_BATCH_STR;

static void feed_poll(struct cluster_feed *f);

static bool feed_fresh(const struct cluster_feed *f)
{
	return f->synced_ms &&
	       clock_mono_ms() - f->synced_ms < CLUSTER_STALE_MS;
}

/* Tell the watcher: always when @repeat, else only a change. */
static void feed_tell(struct cluster_feed *f, bool repeat)
{
	bool fresh = feed_fresh(f);

	if (!f->fresh_h || (!repeat && fresh == f->fresh_told))
		return;
	f->fresh_told = fresh;
	f->fresh_h(fresh, f->fresh_arg);
}

/* A short read, written: the cache held all PostgreSQL had. */
static void feed_synced(struct cluster_feed *f)
{
	f->synced_ms = clock_mono_ms();
	feed_tell(f, false);
}

static int pos_cmp(const struct feed_pos *a, const struct feed_pos *b)
{
	if (a->xid != b->xid)
		return a->xid < b->xid ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static bool ahead_has(const struct cluster_feed *f, const struct feed_pos *p)
{
	size_t i;

	for (i = 0; i < f->n_ahead; i++)
		if (!pos_cmp(&f->ahead[i], p))
			return true;
	return false;
}

/* Forget what the cursor has passed. */
static void ahead_prune(struct cluster_feed *f)
{
	size_t i, j = 0;

	for (i = 0; i < f->n_ahead; i++)
		if (pos_cmp(&f->ahead[i], &f->cursor) > 0)
			f->ahead[j++] = f->ahead[i];
	f->n_ahead = j;
}

static int ahead_add(struct cluster_feed *f, const struct feed_pos *p)
{
	if (f->n_ahead == f->cap_ahead) {
		size_t cap = f->cap_ahead ? f->cap_ahead * 2 : 64;
		struct feed_pos *n = realloc(f->ahead, cap * sizeof(*n));

		if (!n)
			return ENOMEM;
		f->ahead = n;
		f->cap_ahead = cap;
	}
	f->ahead[f->n_ahead++] = *p;
	return 0;
}

static void batch_free(struct feed_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		session_clear(&b->s[i]);
		explicit_bzero(&b->s[i], sizeof(b->s[i]));
	}
	free(b->s);
	free(b->pos);
	free(b->beyond);
	free(b);
}

static int feed_apply(struct store_txn *tx, void *arg)
{
	struct feed_batch *b = arg;
	size_t i;
	int rc = 0;

	for (i = 0; i < b->n && !rc; i++)
		rc = store_session_mirror(tx, &b->s[i], NULL);
	if (!rc)
		rc = store_mirror_cursor_set(tx, b->cursor.xid, b->cursor.id);
	return rc;
}

static void feed_applied(int err, void *arg)
{
	struct feed_batch *b = arg;
	struct cluster_feed *f = b->f;
	size_t i;

	f->busy = false;
	if (err) {
		log_error(f->c->log, "cluster: feed: writing the cache: %s",
			  strerror(err));
		batch_free(b);
		return;		/* the timer tries again */
	}
	f->cursor = b->cursor;
	ahead_prune(f);
	for (i = 0; i < b->n; i++) {
		if (b->beyond[i])
			ahead_add(f, &b->pos[i]);	/* ENOMEM: rewritten */
		f->c->stats.feed_applied++;
		if (f->h)
			f->h(&b->s[i], f->arg);
	}
	/* a full read: more rows are waiting; else read again from the
	 * cursor next time, for rows that commit late behind it */
	f->scan = b->full ? b->last : f->cursor;
	if (!b->full)
		feed_synced(f);
	if (b->full || f->again) {
		f->again = false;
		batch_free(b);
		feed_poll(f);
		return;
	}
	batch_free(b);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return (errno || end == s || *end) ? EIO : 0;
}

static void feed_read(int err, const PGresult *res, void *arg)
{
	struct cluster_feed *f = arg;
	struct feed_batch *b = NULL;
	int rows, i;
	/* every row so far is below xmin; and the read started at the
	 * cursor: a read that goes on after a full one must not move it,
	 * a row between the cursor and its start may commit meanwhile */
	bool passed = !pos_cmp(&f->scan, &f->cursor);
	uint64_t xmin = 0;

	if (err)
		goto fail;	/* down: the reconnect polls again */
	if (!cluster_pg_ok(res)) {
		cluster_log_pg_error(f->c, "feed", res);
		err = EIO;
		goto fail;
	}
	f->c->stats.feed_polls++;
	rows = PQntuples(res);
	b = calloc(1, sizeof(*b));
	if (!b || (rows && (!(b->s = calloc((size_t)rows, sizeof(*b->s))) ||
			    !(b->pos = calloc((size_t)rows,
					      sizeof(*b->pos))) ||
			    !(b->beyond = calloc((size_t)rows,
						 sizeof(*b->beyond)))))) {
		err = ENOMEM;
		goto fail;
	}
	b->f = f;
	b->cursor = f->cursor;
	b->full = rows == CLUSTER_FEED_BATCH;
	if (rows && parse_u64(PQgetvalue(res, 0, 2), &xmin)) {
		err = EIO;
		goto fail;
	}
	for (i = 0; i < rows; i++) {
		struct feed_pos p;

		if (parse_u64(PQgetvalue(res, i, 0), &p.id) ||
		    parse_u64(PQgetvalue(res, i, 1), &p.xid)) {
			err = EIO;
			goto fail;
		}
		b->last = p;
		/* the cursor moves only over a prefix of finished xids */
		if (passed && p.xid < xmin && pos_cmp(&p, &f->cursor) > 0)
			b->cursor = p;
		else
			passed = false;
		if (ahead_has(f, &p))
			continue;
		err = cluster_session_from_row(res, i, 3, &b->s[b->n]);
		if (err)
			goto fail;
		b->pos[b->n] = p;
		b->beyond[b->n] = !passed;
		b->n++;
	}
	if (!b->n && !pos_cmp(&b->cursor, &f->cursor)) {
		/* nothing new: no LMDB commit */
		f->busy = false;
		f->scan = b->full ? b->last : f->cursor;
		if (!b->full)
			feed_synced(f);
		if (b->full || f->again) {
			f->again = false;
			batch_free(b);
			feed_poll(f);
			return;
		}
		batch_free(b);
		return;
	}
	/* rebuildable: the cursor rides in the same operation, so what a
	 * machine crash undoes is read again from PostgreSQL */
	err = writer_submit_cache(f->w, feed_apply, feed_applied, b);
	if (err)
		goto fail;
	return;
 fail:
	if (err != ENOTCONN && err != ECONNRESET)
		log_error(f->c->log, "cluster: feed: %s", strerror(err));
	if (b)
		batch_free(b);
	f->busy = false;
}

static void feed_poll(struct cluster_feed *f)
{
	char xid[24], id[24];
	const char *vals[2] = { xid, id };

	if (f->busy) {
		f->again = true;
		return;
	}
	if (!cluster_pg_up(f->pg) || !f->c->schema_ok)
		return;
	snprintf(xid, sizeof(xid), "%" PRIu64, f->scan.xid);
	snprintf(id, sizeof(id), "%" PRIu64, f->scan.id);
	if (!cluster_pg_query(f->pg, feed_sql, 2, vals, feed_read, f))
		f->busy = true;
}

static void feed_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_feed *f = arg;

	feed_tell(f, true);	/* staleness shows here: no read came back */
	feed_poll(f);
}

static void feed_on_notify(struct cluster_pg *pg, const char *channel,
			   void *arg)
{
	feed_poll(arg);
}

static void feed_listen_done(int err, const PGresult *res, void *arg)
{
	struct cluster_feed *f = arg;

	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(f->c, "feed: SET, LISTEN", res);
}

static void feed_on_state(struct cluster_pg *pg, bool up, void *arg)
{
	struct cluster_feed *f = arg;

	if (!up) {
		f->busy = false;	/* its read failed with the link */
		return;
	}
	f->c->stats.reconnects++;
	/* LISTEN first, then read from the cursor: a change committed
	 * between the two is read, one after it wakes us. The read walks
	 * its index (changes by (xid, id)) in order and stops at the
	 * batch's end; nothing else on this connection needs another plan.
	 * Where changes has no statistics yet - a new table, autovacuum not
	 * yet round - the planner guessed it small and instead scanned all
	 * of it (15 ms a read behind 50,000 pool rows, bench_cluster_api.py
	 * --pool 50000, where the index takes 0.2), or without seqscan
	 * fetched every change past the cursor by bitmap and sorted them
	 * to keep 1,000: a node far behind read its whole backlog for each
	 * batch (test_cluster's test_feed_catch_up_in_order). */
	cluster_pg_query(pg, "SET enable_seqscan = off; "
			 "SET enable_bitmapscan = off; SET enable_sort = off; "
			 "LISTEN maskd_changes", -1, NULL, feed_listen_done, f);
	f->scan = f->cursor;
	feed_poll(f);
}

int cluster_feed_start(struct cluster *c, struct store *st, struct writer *w,
		       cluster_applied_h *h, void *arg)
{
	struct timeval tv = { CLUSTER_FEED_POLL_MS / 1000,
			      (CLUSTER_FEED_POLL_MS % 1000) * 1000 };
	struct cluster_feed *f;
	int rc;

	if (c->feed)
		return EALREADY;
	f = calloc(1, sizeof(*f));
	if (!f)
		return ENOMEM;
	f->c = c;
	f->st = st;
	f->w = w;
	f->h = h;
	f->arg = arg;
	rc = store_reader_open(st, &f->rd);
	if (!rc)
		rc = store_mirror_cursor_get(f->rd, &f->cursor.xid,
					     &f->cursor.id);
	if (rc)
		goto fail;
	f->scan = f->cursor;
	f->timer = event_new(c->base, -1, EV_PERSIST, feed_on_timer, f);
	if (!f->timer) {
		rc = ENOMEM;
		goto fail;
	}
	event_add(f->timer, &tv);
	rc = cluster_pg_open(&f->pg, c->base, c->dsn, "feed", c->log,
			     feed_on_state, feed_on_notify, f);
	if (rc)
		goto fail;
	cluster_pg_set_timeout(f->pg, c->query_timeout_ms);
	log_info(c->log, "cluster: feed: resuming after (%" PRIu64 ", %"
		 PRIu64 ")", f->cursor.xid, f->cursor.id);
	c->feed = f;
	return 0;
 fail:
	cluster_feed_free(f);
	return rc;
}

void cluster_feed_free(struct cluster_feed *f)
{
	if (!f)
		return;
	/* a batch in the writer still points at f: flush it first */
	if (f->busy && f->w)
		writer_flush(f->w);
	cluster_pg_free(f->pg);
	if (f->timer)
		event_free(f->timer);
	store_reader_close(f->rd);
	free(f->ahead);
	free(f);
}

int cluster_fresh_watch(struct cluster *c, cluster_fresh_h *h, void *arg)
{
	struct cluster_feed *f = c->feed;

	if (!f)
		return ENOENT;
	f->fresh_h = h;
	f->fresh_arg = arg;
	feed_tell(f, true);
	return 0;
}
