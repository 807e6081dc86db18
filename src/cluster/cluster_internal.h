/*
 * cluster_internal.h - what the files of src/cluster/ share. Nothing
 * outside src/cluster/ includes this.
 */
#ifndef MASKD_CLUSTER_INTERNAL_H
#define MASKD_CLUSTER_INTERNAL_H

#include <libpq-fe.h>

#include "maskd/cluster.h"

#include "cluster_pg.h"

/* cluster_schema.c: the migration script (one simple query) */
extern const char cluster_schema_sql[];

struct cluster_feed;

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
	struct event *sweep;		/* maskd_expire_due() every second */
	bool sweep_busy;
};

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

/* cluster_feed_free() - stop the feed; cluster_close() calls it. */
void cluster_feed_free(struct cluster_feed *f);

#endif
