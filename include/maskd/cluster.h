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
 *     CLUSTER_SWEEP_MS, each node, SKIP LOCKED so they share the work),
 *     and hands the sessions its own transactions expired to
 *     cluster_expired_h: exactly one node reports each expiry;
 *   - vacuums the pool table at most once every CLUSTER_VACUUM_MS
 *     across the cluster, after creates;
 *   - copies the call records and events its LMDB store wrote into
 *     PostgreSQL (cluster_export_start()), from a durable queue;
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
#include "maskd/metrics.h"
#include "maskd/store.h"
#include "maskd/writer.h"

/* the schema version this build writes (cluster_schema.c) */
#define CLUSTER_SCHEMA 8
#define CLUSTER_SWEEP_MS 1000
/* the pool is vacuumed at most this often, by whichever node's sweep
 * takes the vacuum turn (cluster_expire.c: pool_vacuum()): a little
 * under CLUSTER_SWEEP_MS, so the turn does not slip by a sweep */
#define CLUSTER_VACUUM_MS 900
#define CLUSTER_SWEEP_MAX 1000		/* sessions expired per sweep */
/* create retries on a serialization failure, deadlock or unique clash */
#define CLUSTER_RETRY_MAX 32
#define CLUSTER_CONNECTIONS_MAX 64
/*
 * Creates sent as one transaction at most (allocation = lock). Those
 * maskd_session_create_many() cannot allocate in memory (a number or a
 * PIN asked, a small pool: schema 5) each run in a subtransaction, and a
 * backend caches only 64 subtransaction ids: past that every snapshot of
 * every backend has to read pg_subtrans, and the whole server slows down
 * (measured: 256 per batch was slower than one create per transaction).
 */
#define CLUSTER_BATCH_MAX 64
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

/* Counters (cluster_stats()), declared in cluster_metrics.inc. */
struct cluster_stats {
#define X METRICS_X_PLAIN
#include "maskd/cluster_metrics.inc"
#undef X
};

#define CLUSTER_NODE_SIZE 64

/*
 * cluster_set_node() - this node's name in PostgreSQL (the node column
 * of call records and events; whose expiries are whose). Default: the
 * host name. Names must differ between nodes and stay the same across a
 * node's restarts (what a node expired but had not reported before it
 * died is reported when it comes back). Call before the loop runs.
 * Returns 0 or EINVAL (empty or too long).
 */
int cluster_set_node(struct cluster *c, const char *node);

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

/*
 * cluster_session_patch() - store_session_update() across nodes: @p
 * applied in one PostgreSQL transaction (PINs drawn there when
 * p->pin.generate), its change fed to every node's cache. The same
 * errors: ENOENT, EALREADY, EINVAL (also at once, for what needs no
 * session), ENOTUNIQ. @h gets the session as it now is.
 */
int cluster_session_patch(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			  const struct session_patch *p, int64_t now_ms,
			  cluster_session_h *h, void *arg);

/* cluster_session_get() - store_session_get(): 0 or ENOENT. */
int cluster_session_get(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			int64_t now_ms, cluster_session_h *h, void *arg);

/*
 * cluster_expired_h - sessions this node's transactions expired in
 * PostgreSQL (its sweep, or a create or close that found them past
 * expires_at), that it has not reported yet: @n sessions in @s, valid
 * until cluster_expired_done(@x). The handler writes them (and their
 * session.expired events) into the node's store, then calls
 * cluster_expired_done(@x, 0): PostgreSQL marks them reported. A
 * nonzero error leaves them unreported: the next sweep hands them over
 * again. At most one batch is out at a time. No handler: they are
 * marked reported as they come.
 */
struct cluster_expiry;
typedef void (cluster_expired_h)(struct cluster_expiry *x,
				 const struct session *s, size_t n,
				 void *arg);
void cluster_set_expired_h(struct cluster *c, cluster_expired_h *h,
			   void *arg);
void cluster_expired_done(struct cluster_expiry *x, int err);

/*
 * cluster_export_start() - copy the call records and events @st writes
 * into PostgreSQL's cdrs and events tables: turns on @st's export queue
 * (store_mirror.h), then every CLUSTER_EXPORT_MS sends the oldest
 * CLUSTER_EXPORT_BATCH entries
 * in one statement (an upsert on the record's id: sending one twice
 * writes the same row) and deletes them through @w once it committed.
 * PostgreSQL down: they wait in @st, nothing is lost. @st and @w are
 * borrowed (the control thread's). Returns 0 or an errno.
 */
#define CLUSTER_EXPORT_MS 200
#define CLUSTER_EXPORT_BATCH 256
int cluster_export_start(struct cluster *c, struct store *st,
			 struct writer *w);

/*
 * cluster_set_retention() - PostgreSQL keeps what LMDB keeps: ended
 * sessions (with their pairs, PINs and call records) and session-less
 * call records @sessions_s ([store] retention; 0 = for ever), events
 * @events_s ([events] retention). Each node tries every
 * CLUSTER_PURGE_MS, one node at a time, CLUSTER_PURGE_MAX of each kind
 * a turn, and again at the next sweep while a turn comes back full or
 * its scan of changes stops short of the end (maskd_purge(), schema 8).
 * A session goes once both its end and its expiry are past @sessions_s,
 * so a cache that missed its end already treats it as expired. Default: nothing is deleted. Call before the
 * loop runs.
 */
#define CLUSTER_PURGE_MS 10000
#define CLUSTER_PURGE_MAX 1000
void cluster_set_retention(struct cluster *c, uint32_t sessions_s,
			   uint32_t events_s);

/*
 * cluster_set_query_timeout() - every query (this node's connections
 * and its feed's) not answered within @ms drops its connection, which
 * reconnects with backoff (cluster_pg_set_timeout()): a PostgreSQL that
 * went silent costs at most that long. 0 = no limit. Call before the
 * loop runs.
 */
void cluster_set_query_timeout(struct cluster *c, unsigned ms);

/*
 * cluster_session_lookup() - store_lookup() in PostgreSQL: the active
 * session of (@caller, @vn) at @now_ms, for a call whose pair is not in
 * this node's cache (yet). @h gets 0 and the session, ENOENT, or
 * ENOTCONN / ECONNRESET / EIO. Returns 0 (@h will be called) or an
 * errno at once.
 */
int cluster_session_lookup(struct cluster *c, const char *caller,
			   const char *vn, int64_t now_ms,
			   cluster_session_h *h, void *arg);

/*
 * cluster_cdr_list() - the call records of @session_id that the nodes
 * exported to PostgreSQL (cluster_export_start()), oldest first, at most
 * CLUSTER_CDR_LIST_MAX: @h gets 0 and @n records in @c (valid during
 * the call; session_id set), or an errno (ENOTCONN, ECONNRESET,
 * EIO, ENOMEM). Returns 0 or an errno at once.
 */
#define CLUSTER_CDR_LIST_MAX 1000
#define CLUSTER_CDR_LIST_MAX_STR "1000"
typedef void (cluster_cdrs_h)(int err, const struct cdr *c, size_t n,
			      void *arg);
int cluster_cdr_list(struct cluster *c, const uint8_t session_id[STORE_ID_LEN],
		     cluster_cdrs_h *h, void *arg);

/*
 * cluster_cdr_get() - the call record @call_id, whichever node exported
 * it: @h gets 0 and one record (its session_id set), ENOENT, or an errno
 * as cluster_cdr_list()'s. Returns 0 or an errno at once.
 */
int cluster_cdr_get(struct cluster *c, const uint8_t call_id[STORE_ID_LEN],
		    cluster_cdrs_h *h, void *arg);

/* cluster_done_h - an operation without a result but its error. */
typedef void (cluster_done_h)(int err, void *arg);

/*
 * One call per session across nodes: a claim with a lease in
 * PostgreSQL (call_claims). cluster_claim() makes @call_id this node's
 * call of @session_id unless another node's claim is live: @h gets 0
 * (claimed), EBUSY (a live call elsewhere), or ENOTCONN / ECONNRESET /
 * EIO (not known). cluster_claim_renew() extends the leases of the
 * @n calls in @call_ids (this node's live calls; 16 bytes each) to
 * @now_ms + CLUSTER_CLAIM_LEASE_MS; cluster_claim_release() drops one.
 * A node that dies loses its connections and with them its liveness
 * lock: its claims stop counting at once (and lapse with the lease in
 * any case).
 * Both fire and forget (a lost release lapses too). Return 0 or an
 * errno at once.
 */
#define CLUSTER_CLAIM_LEASE_MS 30000
#define CLUSTER_CLAIM_RENEW_MS 10000
int cluster_claim(struct cluster *c, const uint8_t session_id[STORE_ID_LEN],
		  const uint8_t call_id[STORE_ID_LEN], int64_t now_ms,
		  cluster_done_h *h, void *arg);
int cluster_claim_release(struct cluster *c,
			  const uint8_t session_id[STORE_ID_LEN],
			  const uint8_t call_id[STORE_ID_LEN]);
int cluster_claim_renew(struct cluster *c, const uint8_t *call_ids, size_t n,
			int64_t now_ms);

/* cluster_pool_add() - store_pool_add(): 0 or EEXIST. */
int cluster_pool_add(struct cluster *c, const char *vn, const char *country,
		     int64_t now_ms, cluster_done_h *h, void *arg);

/* cluster_pool_remove() - store_pool_remove(): 0, ENOENT, or EBUSY (an
 * active session uses it). cluster_pool.c */
int cluster_pool_remove(struct cluster *c, const char *vn, int64_t now_ms,
			cluster_done_h *h, void *arg);

/*
 * cluster_pool_list() - the pool as PostgreSQL has it (active counts of
 * every node's sessions), in number order; @vn non-NULL: that number
 * alone (@h gets ENOENT when it is not in the pool). @h gets 0 and @n
 * numbers in @v (valid during the call), or an errno (ENOTCONN,
 * ECONNRESET, EIO, ENOMEM). Returns 0 or an errno at once.
 */
typedef void (cluster_pool_h)(int err, const struct pool_number *v, size_t n,
			      void *arg);
int cluster_pool_list(struct cluster *c, const char *vn, cluster_pool_h *h,
		      void *arg);

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
