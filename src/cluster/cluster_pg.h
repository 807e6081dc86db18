/*
 * cluster_pg.h - one PostgreSQL connection on a libevent loop (libpq's
 * non-blocking API), for src/cluster/ alone.
 *
 * A struct cluster_pg connects with PQconnectStart/PQconnectPoll, sends
 * with PQsendQueryPrepared/PQsendQuery, reads with PQconsumeInput, PQisBusy
 * and PQgetResult, all driven by one event on the connection's socket, so
 * nothing here ever blocks the loop. Queries run one at a time in the
 * order they were queued (a connection is one backend, which runs one
 * statement at a time anyway: parallelism is more connections). When the
 * connection is lost it reconnects by itself with a growing backoff
 * (CLUSTER_PG_BACKOFF_MIN_MS doubling up to _MAX_MS).
 *
 * Threads: owned by the thread that runs @base (the control thread);
 * not thread-safe. Handlers run from that loop.
 */
#ifndef MASKD_CLUSTER_PG_H
#define MASKD_CLUSTER_PG_H

#include <stdbool.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "maskd/log.h"

#define CLUSTER_PG_BACKOFF_MIN_MS 100
#define CLUSTER_PG_BACKOFF_MAX_MS 5000
#define CLUSTER_PG_CONNECT_TIMEOUT_MS 5000
/* statements a connection prepares; past that, unnamed ones */
#define CLUSTER_PG_PREPARED_MAX 64

struct cluster_pg;

/*
 * cluster_pg_result_h - a query's outcome. @err 0: @res is its last
 * result (PGRES_TUPLES_OK, PGRES_COMMAND_OK, or PGRES_FATAL_ERROR: see
 * cluster_pg_sqlstate()), valid only during the call. @err ENOTCONN: it
 * was never sent (the connection was down or went down first);
 * ECONNRESET: the connection was lost while it ran, so whether a write
 * committed is unknown. @res is NULL when @err is set.
 */
typedef void (cluster_pg_result_h)(int err, const PGresult *res, void *arg);

/* cluster_pg_state_h - the connection came up (@up) or went down. On up,
 * queries the handler queues run before any queued later. */
typedef void (cluster_pg_state_h)(struct cluster_pg *pg, bool up, void *arg);

/* cluster_pg_notify_h - a NOTIFY on a channel this connection LISTENs to. */
typedef void (cluster_pg_notify_h)(struct cluster_pg *pg, const char *channel,
				   void *arg);

/*
 * cluster_pg_open() - start connecting to @dsn (a postgresql:// URI or a
 * libpq key=value string; copied, wiped on free) on @base. @name tags the
 * log lines ("pg0"). Handlers may be NULL. Returns 0 and sets *pgp (the
 * connection comes up later: @state tells), or an errno.
 */
int cluster_pg_open(struct cluster_pg **pgp, struct event_base *base,
		    const char *dsn, const char *name, struct log *log,
		    cluster_pg_state_h *state, cluster_pg_notify_h *notify,
		    void *arg);

/* cluster_pg_free() - close; queued queries get ENOTCONN. NULL-safe. */
void cluster_pg_free(struct cluster_pg *pg);

/*
 * cluster_pg_set_timeout() - a query not answered within @ms (0: no
 * limit, the default) drops the connection: its handler gets ECONNRESET,
 * the queued ones ENOTCONN, and it reconnects as after any loss.
 */
void cluster_pg_set_timeout(struct cluster_pg *pg, unsigned ms);

/* cluster_pg_up() - connected now. */
bool cluster_pg_up(const struct cluster_pg *pg);

/* cluster_pg_pending() - queries queued or running. */
unsigned cluster_pg_pending(const struct cluster_pg *pg);

/*
 * cluster_pg_query() - queue @sql with @n text parameters (@vals copied;
 * a NULL entry is SQL NULL). @n < 0 sends @sql as a simple query, which
 * may hold several statements (one implicit transaction) and no
 * parameters. @sql must be a string constant: with @n > 0 the
 * connection prepares it on first use and knows it again by its
 * address (a server-side prepared statement per session: behind a
 * connection pooler, session pooling). @h is called exactly once, from
 * the loop. Returns 0, ENOTCONN (down: nothing queued, @h not called)
 * or ENOMEM.
 */
int cluster_pg_query(struct cluster_pg *pg, const char *sql, int n,
		     const char *const *vals, cluster_pg_result_h *h,
		     void *arg);

/* cluster_pg_sqlstate() - @res's SQLSTATE ("40001"), "" when none. */
const char *cluster_pg_sqlstate(const PGresult *res);

/* cluster_pg_ok() - @res is PGRES_TUPLES_OK or PGRES_COMMAND_OK. */
bool cluster_pg_ok(const PGresult *res);

#endif
