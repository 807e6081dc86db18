/*
 * cluster.h - PostgreSQL as the truth for sessions and the pool, shared by
 * several maskd nodes; each node's LMDB store is a cache of it.
 *
 * [cluster] store empty (the default) is single-node mode: nothing here
 * runs and maskd is what it always was. With a DSN, a node
 *   - applies the schema's migrations at start (cluster_schema.c: one
 *     transaction under an advisory lock, so nodes starting together do
 *     it once);
 *   - creates and closes sessions in PostgreSQL, each in one transaction
 *     (the pair rule and the 2N-1 guarantee of store_session_create()
 *     hold across nodes; unique indexes on active (party, vn) and
 *     (vn, PIN) are the backstop);
 *   - expires sessions past expires_at in PostgreSQL (every
 *     CLUSTER_SWEEP_MS, each node, SKIP LOCKED so they share the work);
 *   - replays the changes table into its LMDB store through the writer
 *     (cluster_feed_start()), so the call path keeps reading LMDB alone.
 *
 * Everything talks to PostgreSQL through libpq's non-blocking API on the
 * event base it was given (cluster_pg.h): no call here blocks.
 *
 * Threads: a struct cluster is owned by the thread that runs its event
 * base (the control thread, which also owns the writer it feeds); no
 * function here is thread-safe. Handlers run from that loop.
 *
 * Secrets: the DSN may hold a password. It is never logged; log lines use
 * cluster_dsn_mask().
 */
#ifndef MASKD_CLUSTER_H
#define MASKD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "maskd/config.h"
#include "maskd/log.h"
#include "maskd/store.h"
#include "maskd/writer.h"

/* the schema version this build writes (cluster_schema.c) */
#define CLUSTER_SCHEMA 1
#define CLUSTER_SWEEP_MS 1000
#define CLUSTER_SWEEP_MAX 1000		/* sessions expired per sweep */
/* create retries on a serialization failure, deadlock or unique clash */
#define CLUSTER_RETRY_MAX 32
#define CLUSTER_CONNECTIONS_MAX 64
/*
 * Creates sent as one transaction at most (allocation = lock). Each runs
 * in a subtransaction, and a backend caches only 64 subtransaction ids:
 * past that every snapshot of every backend has to read pg_subtrans,
 * and the whole server slows down (measured: 256 per batch was slower
 * than one create per transaction).
 */
#define CLUSTER_BATCH_MAX 48
/* the environment variable that overrides [cluster] store and store_file */
#define CLUSTER_DSN_ENV "MASKD_CLUSTER_DSN"

struct cluster;

/*
 * cluster_dsn() - the DSN this node uses: $MASKD_CLUSTER_DSN if set and
 * not empty, else the first line of @cfg->store_file if set, else
 * @cfg->store. *dsnp is a heap string (wipe and free it with
 * cluster_dsn_free()), or NULL in single-node mode (all empty).
 * Returns 0, or an errno reading store_file (@err gets a line saying so,
 * without the DSN).
 */
int cluster_dsn(const struct config_cluster *cfg, char **dsnp, char *err,
		size_t errlen);

/* cluster_dsn_free() - wipe and free a DSN of cluster_dsn(). NULL-safe. */
void cluster_dsn_free(char *dsn);

/*
 * cluster_dsn_mask() - @dsn as it may be logged: a URI's password
 * (user:PASSWORD@) and any password= parameter (URI query or key=value
 * form) replaced by ***. Truncated to @size.
 */
void cluster_dsn_mask(const char *dsn, char *out, size_t size);

/* How a create is kept race-free ([cluster] allocation). */
enum cluster_alloc {
	/* advisory locks on both parties + SELECT ... FOR UPDATE SKIP
	 * LOCKED on the pool, READ COMMITTED: no retries */
	CLUSTER_ALLOC_LOCK = 0,
	/* SERIALIZABLE, no locks; retried on serialization failure */
	CLUSTER_ALLOC_SERIALIZABLE,
};

/* Counters (cluster_stats()). */
struct cluster_stats {
	uint64_t creates;		/* sessions created */
	uint64_t retries;		/* creates run again (40001, 40P01,
					 * 23505) */
	uint64_t unavailable;		/* ops refused or lost: PG down */
	uint64_t feed_applied;		/* changes written to LMDB */
	uint64_t feed_polls;
	uint64_t reconnects;		/* connections that came back */
	uint64_t expiries;		/* sessions this node's sweeps expired */
};

/*
 * cluster_open() - connect @connections (1..CLUSTER_CONNECTIONS_MAX)
 * connections to @dsn (copied) on @base and apply the migrations on the
 * first that comes up. Returns 0 and sets *cp at once; operations answer
 * ENOTCONN until cluster_ready(). @log is borrowed.
 */
int cluster_open(struct cluster **cp, struct event_base *base,
		 const char *dsn, unsigned connections,
		 enum cluster_alloc alloc, struct log *log);

/* cluster_close() - close every connection; pending operations get
 * ENOTCONN or ECONNRESET. NULL-safe. */
void cluster_close(struct cluster *c);

/*
 * cluster_ready() - the schema is in place (this build's version) and
 * at least one connection is up. cluster_schema_error() is nonzero when
 * the database is unusable for good: EPROTO, written by a newer maskd.
 */
bool cluster_ready(const struct cluster *c);
int cluster_schema_error(const struct cluster *c);

void cluster_stats(const struct cluster *c, struct cluster_stats *out);

/*
 * cluster_session_h - an operation's outcome. @s (0, or EALREADY for a
 * close) is valid only during the call; its strings too.
 * Errors: those of the store_* function the operation mirrors, plus
 *   ENOTCONN    PostgreSQL is unreachable: nothing was done
 *               (API: 503 store_unavailable);
 *   ECONNRESET  the connection was lost while it ran: it may or may not
 *               have been done (also 503);
 *   EBUSY       a create or close lost CLUSTER_RETRY_MAX races in a row
 *               (seen with allocation = serializable and a small, busy
 *               pool: SERIALIZABLE can starve a transaction);
 *   EIO         PostgreSQL refused it (logged).
 */
typedef void (cluster_session_h)(int err, const struct session *s,
				 void *arg);

/*
 * cluster_session_create() - store_session_create() across nodes: the
 * same rules and errors (EINVAL, ENOENT, EEXIST, ENOSPC, ENOTUNIQ).
 * Geo-match is not done in cluster mode yet: p->geo_match other than
 * GEO_MATCH_NONE is refused with ENOTSUP. Returns 0 (@h will be called),
 * or an errno at once (@h will not be).
 */
int cluster_session_create(struct cluster *c, const struct session_params *p,
			   int64_t now_ms, cluster_session_h *h, void *arg);

/* cluster_session_close() - store_session_close(): 0, ENOENT, EALREADY. */
int cluster_session_close(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			  int64_t now_ms, cluster_session_h *h, void *arg);

/* cluster_session_get() - store_session_get(): 0 or ENOENT. */
int cluster_session_get(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			int64_t now_ms, cluster_session_h *h, void *arg);

/* cluster_done_h - an operation without a result but its error. */
typedef void (cluster_done_h)(int err, void *arg);

/* cluster_pool_add() - store_pool_add(): 0 or EEXIST. */
int cluster_pool_add(struct cluster *c, const char *vn, const char *country,
		     int64_t now_ms, cluster_done_h *h, void *arg);

/*
 * cluster_applied_h - told of each session the feed wrote into LMDB,
 * after its commit (tests and the bench measure propagation with it).
 */
typedef void (cluster_applied_h)(const struct session *s, void *arg);

/*
 * cluster_feed_start() - keep @st (through @w, the control thread's
 * writer; both borrowed) a cache of PostgreSQL's sessions: replay the
 * changes table from the cursor kept in @st's meta, then again whenever
 * a NOTIFY maskd_changes arrives (and every CLUSTER_FEED_POLL_MS in any
 * case, so a lost wake-up only delays). It has its own connection, and
 * resumes from the kept cursor after a reconnect or a restart, so no
 * change is missed. @h (may be NULL) is told of each applied session.
 * Returns 0 or an errno.
 */
#define CLUSTER_FEED_POLL_MS 1000
#define CLUSTER_FEED_BATCH 512
#define CLUSTER_FEED_BATCH_STR "512"	/* the same, in the query */
int cluster_feed_start(struct cluster *c, struct store *st, struct writer *w,
		       cluster_applied_h *h, void *arg);

/*
 * Freshness of the cache. The feed is "in sync" when a read of the
 * changes table came back short (nothing more to read) and what it read
 * is written; it reads at least every CLUSTER_FEED_POLL_MS. The cache is
 * fresh while the last sync is less than CLUSTER_STALE_MS old: not before
 * the first one (a node that starts catches up first), not when
 * PostgreSQL has been out of reach for longer (this node may miss any
 * session created since).
 *
 * cluster_fresh_h - told whether the cache is fresh: at once, when that
 * changes, and again every CLUSTER_FEED_POLL_MS (a receiver that lost
 * one, a full queue, hears it again soon). Runs on the feed's loop.
 */
#define CLUSTER_STALE_MS 3000
typedef void (cluster_fresh_h)(bool fresh, void *arg);

/* cluster_fresh_watch() - tell @h (NULL: nobody) from now on. Returns 0,
 * or ENOENT without a feed (cluster_feed_start()). */
int cluster_fresh_watch(struct cluster *c, cluster_fresh_h *h, void *arg);

#endif
