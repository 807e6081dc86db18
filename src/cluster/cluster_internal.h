/*
 * cluster_internal.h - what the files of src/cluster/ share. Nothing
 * outside src/cluster/ includes this.
 */
#ifndef MASKD_CLUSTER_INTERNAL_H
#define MASKD_CLUSTER_INTERNAL_H

#include <libpq-fe.h>

#include "maskd/cluster.h"

#include "cluster_pg.h"

/* the first key of every node's liveness lock (two-key advisory lock,
 * the second hashtext(node)): "mskn" in ASCII */
#define NODE_LOCK "1836280686"

/* cluster_schema.c: the migration script (one simple query) */
extern const char cluster_schema_sql[];

struct cluster_feed;
struct cluster_export;

/* Owned by the control thread (cluster.h). */
struct cluster {
	struct event_base *base;
	struct log *log;
	char *dsn;			/* secret */
	char dsn_masked[256];		/* what the log shows */
	enum cluster_alloc alloc;
	struct cluster_pg **pg;		/* n_pg session connections */
	unsigned n_pg;
	bool schema_ok;			/* migrations applied */
	bool schema_running;		/* on one connection now */
	int schema_err;			/* EPROTO: newer schema */
	/* id ordering, as store_id_new() */
	int64_t id_last_ms;
	uint16_t id_seq;
	struct cluster_stats stats;
	struct cluster_feed *feed;	/* cluster_feed.c; NULL = none */
	bool notify_busy, notify_again;	/* cluster_notify() */
	char node[CLUSTER_NODE_SIZE];	/* cluster_set_node() */
	unsigned query_timeout_ms;	/* cluster_set_query_timeout() */
	bool claims_reset;		/* this process's first schema_ok */
	/* cluster_expire.c: maskd_expire_due2() every CLUSTER_SWEEP_MS */
	struct event *sweep;
	bool sweep_busy;
	bool vacuum_busy;		/* pool_vacuum() */
	struct cluster_pg *vacuum_pg;	/* whose session holds the turn */
	/* cluster_expire.c: retention (cluster_set_retention()) */
	uint32_t retention_s, ev_retention_s;	/* 0: off */
	bool purge_busy, purge_again;
	int64_t purge_ms;		/* clock_mono_ms() of the last turn */
	char purge_xid[24];		/* where the changes scan goes on */
	int64_t purge_id;
	uint64_t vacuum_creates;	/* stats.creates at the last check */
	cluster_expired_h *expired_h;
	void *expired_arg;
	struct cluster_export *export;	/* cluster_export.c; NULL = none */
	/* cluster_create.c: creates waiting for the next batch */
	struct create_op **batch;
	size_t n_batch, cap_batch;
	struct event *batch_ev;
	bool batch_scheduled;
	unsigned batches_out;		/* sent, not answered */
};

/* cluster_create.c: run before cluster_close() frees the connections:
 * queued creates get ENOTCONN */
void cluster_create_stop(struct cluster *c);

/* cluster_notify() - wake the nodes' feeds (cluster.c) */
void cluster_notify(struct cluster *c);

/*
 * The columns cluster_session_from_row() reads, in this order, starting
 * at its @col: the session's fields as the sessions table has them.
 */
#define CLUSTER_SESSION_COLS \
	"s.id, s.party_a, s.party_b, s.vn, s.status, s.created_at_ms, " \
	"s.expires_at_ms, s.ended_at_ms, s.call_time_limit_s, s.record, " \
	"s.callback_url, s.metadata, s.pin_required, s.pin_retries, " \
	"s.pin_a, s.pin_b"
#define CLUSTER_SESSION_NCOLS 16

/*
 * cluster_session_from_row() - row @row of @res, from column @col, into
 * *out (strings owned by *out: session_clear()). Returns 0, EIO (a value
 * out of range) or ENOMEM.
 */
int cluster_session_from_row(const PGresult *res, int row, int col,
			     struct session *out);

/* cluster_bytea_hex() - "\\x" + hex of @id, for a bytea text parameter. */
#define CLUSTER_BYTEA_SIZE (2 + 2 * STORE_ID_LEN + 1)
void cluster_bytea_hex(const uint8_t id[STORE_ID_LEN],
		       char out[CLUSTER_BYTEA_SIZE]);

/* cluster_bytea_array() - a bytea[] text literal of the @n ids in @ids
 * (16 bytes each), for a parameter: {"\\x...",...}. Heap; NULL: ENOMEM. */
char *cluster_bytea_array(const uint8_t *ids, size_t n);

/* ---- cluster.c: what the operations share ---- */

/* cluster_pick() - the least busy connection that is up, NULL: none (or
 * the schema is not in place yet). */
struct cluster_pg *cluster_pick(struct cluster *c);
/* cluster_id_new() - a session id, time-ordered as store_id_new()'s. */
int cluster_id_new(struct cluster *c, int64_t now_ms,
		   uint8_t id[STORE_ID_LEN]);
int cluster_parse_i64(const char *s, int64_t *out);
/* cluster_copy_str() - @s into @dst, EIO when it does not fit. */
int cluster_copy_str(char *dst, size_t size, const char *s);
/* cluster_err_from_name() - "ENOSPC" (as the SQL functions answer) to
 * its errno; "" is 0, an unknown name EIO. */
int cluster_err_from_name(const char *s);
/* cluster_retryable() - 40001, 40P01 or 23505: run it again. */
bool cluster_retryable(const PGresult *res);
/* cluster_retry_later() - @fn(@arg) after a random pause growing with
 * @attempts. 0 or ENOMEM. */
int cluster_retry_later(struct cluster *c, unsigned attempts,
			event_callback_fn fn, void *arg);
void cluster_log_pg_error(struct cluster *c, const char *what,
			  const PGresult *res);

/* cluster_expire.c: the sweep's timer (init, free) and what a
 * connection that comes up runs first (SET maskd.node) */
int cluster_expire_init(struct cluster *c);
void cluster_expire_free(struct cluster *c);
void cluster_expire_on_up(struct cluster *c, struct cluster_pg *pg);

/* cluster_claims_reset() - once per process, when the schema is in
 * place: the claims this node's previous life left go (its calls died
 * with it). cluster_claim.c */
void cluster_claims_reset(struct cluster *c);

/* cluster_export_free() - stop copying; cluster_close() calls it. */
struct cluster_export;
void cluster_export_free(struct cluster_export *x);

/* cluster_feed_free() - stop the feed; cluster_close() calls it. */
void cluster_feed_free(struct cluster_feed *f);

#endif
