/*
 * cluster_pg.c - one PostgreSQL connection on a libevent loop (see
 * cluster_pg.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_pg.h"
#include "cluster_internal.h"

struct pg_query {
	struct pg_query *next;
	const char *sql;
	int n;			/* < 0: simple query */
	char **vals;		/* n copies, in one allocation with this */
	cluster_pg_result_h *h;
	void *arg;
};

enum pg_phase {
	PG_IDLE,		/* waiting for the backoff timer */
	PG_CONNECTING,
	PG_UP,
};

struct cluster_pg {
	struct event_base *base;
	struct log *log;
	char *dsn;		/* secret: wiped on free */
	char name[16];
	PGconn *conn;
	enum pg_phase phase;
	struct event *io;	/* the socket; reassigned as the fd changes */
	struct event *timer;	/* backoff before the next connect */
	struct event *qtimer;	/* the query in flight: its timeout */
	unsigned timeout_ms;	/* 0 = none */
	unsigned backoff_ms;
	bool want_write;	/* PQflush() left output: wait for EV_WRITE */
	struct pg_query *head, *tail;	/* head is in flight when sent */
	bool sent;
	bool preparing;		/* what is in flight is the head's Parse */
	PGresult *last;		/* the in-flight query's last result so far */
	/* the statements this session has prepared, by their text's
	 * address (a string constant); the name is "maskd<index>". A new
	 * connection is a new session: n_prepared goes back to 0. */
	const char *prepared[CLUSTER_PG_PREPARED_MAX];
	unsigned n_prepared;
	cluster_pg_state_h *state_h;
	cluster_pg_notify_h *notify_h;
	void *arg;
};

static void pg_connect(struct cluster_pg *pg);
static void pg_send_next(struct cluster_pg *pg);
static void pg_on_notice(void *arg, const char *msg);

static void query_free(struct pg_query *q)
{
	free(q);
}

/* Fail every queued query; the one in flight (if sent) with @sent_err. */
static void pg_fail_all(struct cluster_pg *pg, int sent_err)
{
	struct pg_query *q;

	while ((q = pg->head)) {
		int err = (q == pg->head && pg->sent) ? sent_err : ENOTCONN;

		pg->head = q->next;
		pg->sent = false;
		if (q->h)
			q->h(err, NULL, q->arg);
		query_free(q);
	}
	pg->tail = NULL;
	if (pg->last) {
		PQclear(pg->last);
		pg->last = NULL;
	}
}

static void pg_schedule(struct cluster_pg *pg)
{
	struct timeval tv = {
		.tv_sec = pg->backoff_ms / 1000,
		.tv_usec = (pg->backoff_ms % 1000) * 1000,
	};

	pg->phase = PG_IDLE;
	evtimer_add(pg->timer, &tv);
	pg->backoff_ms *= 2;
	if (pg->backoff_ms > CLUSTER_PG_BACKOFF_MAX_MS)
		pg->backoff_ms = CLUSTER_PG_BACKOFF_MAX_MS;
}

/* The connection is gone (or never came): drop it, tell, try again. */
static void pg_lost(struct cluster_pg *pg, const char *why)
{
	bool was_up = pg->phase == PG_UP;
	char msg[160];

	/* libpq's message ends with a newline and never holds the password */
	snprintf(msg, sizeof(msg), "%s", pg->conn ? PQerrorMessage(pg->conn) :
		 "");
	msg[strcspn(msg, "\n")] = '\0';
	event_del(pg->io);
	evtimer_del(pg->qtimer);
	if (pg->conn) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	if (was_up)
		log_warn(pg->log, "cluster: %s: connection lost (%s: %s), "
			 "reconnecting", pg->name, why, msg);
	else
		log_debug(pg->log, "cluster: %s: connect failed (%s: %s), "
			  "retry in %u ms", pg->name, why, msg,
			  pg->backoff_ms);
	pg_schedule(pg);
	pg_fail_all(pg, ECONNRESET);
	if (was_up && pg->state_h)
		pg->state_h(pg, false, pg->arg);
}

static void pg_on_io(evutil_socket_t fd, short what, void *arg);

static void pg_watch(struct cluster_pg *pg, short what, int timeout_ms)
{
	struct timeval tv = {
		.tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000,
	};

	event_del(pg->io);
	/* the socket can change while connecting (another address of the
	 * host): assign it afresh every time */
	event_assign(pg->io, pg->base, PQsocket(pg->conn), what, pg_on_io, pg);
	event_add(pg->io, timeout_ms > 0 ? &tv : NULL);
}

static void pg_rearm_up(struct cluster_pg *pg)
{
	pg_watch(pg, EV_READ | EV_PERSIST | (pg->want_write ? EV_WRITE : 0),
		 0);
}

static void pg_connect_step(struct cluster_pg *pg)
{
	switch (PQconnectPoll(pg->conn)) {
	case PGRES_POLLING_READING:
		pg_watch(pg, EV_READ, CLUSTER_PG_CONNECT_TIMEOUT_MS);
		return;
	case PGRES_POLLING_WRITING:
		pg_watch(pg, EV_WRITE, CLUSTER_PG_CONNECT_TIMEOUT_MS);
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		pg_lost(pg, "connect");
		return;
	}
	if (PQsetnonblocking(pg->conn, 1)) {
		pg_lost(pg, "setnonblocking");
		return;
	}
	PQsetNoticeProcessor(pg->conn, pg_on_notice, pg);
	pg->phase = PG_UP;
	pg->n_prepared = 0;
	pg->preparing = false;
	pg->backoff_ms = CLUSTER_PG_BACKOFF_MIN_MS;
	pg->want_write = false;
	pg_rearm_up(pg);
	log_info(pg->log, "cluster: %s: connected (server %d)", pg->name,
		 PQserverVersion(pg->conn));
	if (pg->state_h)
		pg->state_h(pg, true, pg->arg);
	pg_send_next(pg);
}

/* The server's notices and warnings (a VACUUM that skipped a locked
 * table) go to the log, not to libpq's default, stderr. */
static void pg_on_notice(void *arg, const char *msg)
{
	struct cluster_pg *pg = arg;
	size_t n = strlen(msg);

	if (n && msg[n - 1] == '\n')
		n--;
	log_debug(pg->log, "cluster: %s: %.*s", pg->name, (int)n, msg);
}

static void pg_connect(struct cluster_pg *pg)
{
	pg->conn = PQconnectStart(pg->dsn);
	if (!pg->conn) {
		log_error(pg->log, "cluster: %s: out of memory", pg->name);
		pg_schedule(pg);
		return;
	}
	if (PQstatus(pg->conn) == CONNECTION_BAD) {
		pg_lost(pg, "connect");
		return;
	}
	pg->phase = PG_CONNECTING;
	/* libpq: right after PQconnectStart, wait as if PQconnectPoll had
	 * said PGRES_POLLING_WRITING */
	pg_watch(pg, EV_WRITE, CLUSTER_PG_CONNECT_TIMEOUT_MS);
}

static void pg_on_timer(evutil_socket_t fd, short what, void *arg)
{
	pg_connect(arg);
}

static void pg_flush(struct cluster_pg *pg)
{
	int r = PQflush(pg->conn);

	if (r < 0) {
		pg_lost(pg, "write");
		return;
	}
	if ((r == 1) != pg->want_write) {
		pg->want_write = r == 1;
		pg_rearm_up(pg);
	}
}

/* The index @sql is prepared under in this session, -1: not (yet). */
static int pg_prepared(const struct cluster_pg *pg, const char *sql)
{
	unsigned i;

	for (i = 0; i < pg->n_prepared; i++)
		if (pg->prepared[i] == sql)
			return (int)i;
	return -1;
}

/*
 * Send the head. A query with parameters runs as a prepared statement:
 * its first run on a connection sends the Parse alone (preparing), and
 * pg_read() sends the query itself once that is done. PostgreSQL then
 * neither parses nor plans it again for that session (its plan cache),
 * where an unnamed statement is parsed, analysed and planned every
 * time: ~11% of the server's CPU at 4,500 creates/s, the batch call
 * and the feed's read above all (perf, bench_cluster_api.py). Queries
 * without parameters (VACUUM, LISTEN, NOTIFY) are utility statements
 * and go as they are.
 */
static void pg_send_next(struct cluster_pg *pg)
{
	struct pg_query *q = pg->head;
	char name[16];
	int ok, i = -1;

	if (pg->phase != PG_UP || !q || pg->sent)
		return;
	if (q->n > 0) {
		i = pg_prepared(pg, q->sql);
		if (i < 0 && pg->n_prepared < CLUSTER_PG_PREPARED_MAX) {
			i = (int)pg->n_prepared;	/* its name-to-be */
			pg->preparing = true;
		}
		if (i >= 0)
			snprintf(name, sizeof(name), "maskd%d", i);
	}
	if (q->n < 0)
		ok = PQsendQuery(pg->conn, q->sql);
	else if (pg->preparing)
		ok = PQsendPrepare(pg->conn, name, q->sql, q->n, NULL);
	else if (i >= 0)
		ok = PQsendQueryPrepared(pg->conn, name, q->n,
					 (const char *const *)q->vals, NULL,
					 NULL, 0);
	else
		ok = PQsendQueryParams(pg->conn, q->sql, q->n, NULL,
				       (const char *const *)q->vals, NULL,
				       NULL, 0);
	if (!ok) {
		pg_lost(pg, "send");
		return;
	}
	pg->sent = true;
	if (pg->timeout_ms) {
		struct timeval tv = { pg->timeout_ms / 1000,
				      (pg->timeout_ms % 1000) * 1000 };

		evtimer_add(pg->qtimer, &tv);
	}
	pg_flush(pg);
}

/*
 * A query ran past its timeout: the server is gone without a word
 * (a dead host, a partition) or stuck. Drop the connection: libpq's
 * PQcancel() would block the loop, and a reconnect with backoff is what
 * a lost connection gets anyway. The query's handler gets ECONNRESET
 * (whether a write committed is unknown), the ones queued ENOTCONN.
 */
static void pg_on_qtimer(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_pg *pg = arg;

	if (pg->phase == PG_UP && pg->sent)
		pg_lost(pg, "query timeout");
}

/* The in-flight query has all its results: hand the last one over. */
static void pg_complete(struct cluster_pg *pg)
{
	struct pg_query *q = pg->head;
	PGresult *res = pg->last;

	pg->last = NULL;
	evtimer_del(pg->qtimer);
	pg->head = q->next;
	if (!pg->head)
		pg->tail = NULL;
	pg->sent = false;
	if (q->h)
		q->h(0, res, q->arg);
	PQclear(res);
	query_free(q);
}

/*
 * The head's Parse is done. Prepared: note it, send the query (true).
 * Refused (the SQL names what this database lacks): that error is the
 * query's outcome, and the next run tries to prepare it again (false).
 */
static bool pg_prepare_done(struct cluster_pg *pg)
{
	struct pg_query *q = pg->head;
	bool ok = pg->last && PQresultStatus(pg->last) == PGRES_COMMAND_OK;

	pg->preparing = false;
	if (!ok)
		return false;
	PQclear(pg->last);
	pg->last = NULL;
	pg->prepared[pg->n_prepared++] = q->sql;
	pg->sent = false;
	pg_send_next(pg);
	return true;
}

static void pg_read(struct cluster_pg *pg)
{
	PGnotify *nt;

	if (!PQconsumeInput(pg->conn)) {
		pg_lost(pg, "read");
		return;
	}
	while ((nt = PQnotifies(pg->conn))) {
		if (pg->notify_h)
			pg->notify_h(pg, nt->relname, pg->arg);
		PQfreemem(nt);
	}
	while (pg->conn && pg->head && pg->sent && !PQisBusy(pg->conn)) {
		PGresult *r = PQgetResult(pg->conn);

		if (!r) {
			if (pg->preparing && pg_prepare_done(pg))
				continue;
			pg_complete(pg);
			pg_send_next(pg);	/* if the handler queued none */
			continue;
		}
		/* of several results (a simple query's statements), keep
		 * the first error, else the last */
		if (pg->last && PQresultStatus(pg->last) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(pg->last);
		pg->last = r;
	}
	if (pg->conn && PQstatus(pg->conn) == CONNECTION_BAD)
		pg_lost(pg, "status");
}

static void pg_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_pg *pg = arg;

	if (pg->phase == PG_CONNECTING) {
		if (what & EV_TIMEOUT) {
			pg_lost(pg, "connect timeout");
			return;
		}
		pg_connect_step(pg);
		return;
	}
	if (pg->phase != PG_UP)
		return;
	if (what & EV_WRITE) {
		pg_flush(pg);
		if (pg->phase != PG_UP)
			return;
	}
	if (what & EV_READ)
		pg_read(pg);
}

int cluster_pg_open(struct cluster_pg **pgp, struct event_base *base,
		    const char *dsn, const char *name, struct log *log,
		    cluster_pg_state_h *state, cluster_pg_notify_h *notify,
		    void *arg)
{
	struct cluster_pg *pg;

	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return ENOMEM;
	pg->base = base;
	pg->log = log;
	snprintf(pg->name, sizeof(pg->name), "%s", name);
	pg->state_h = state;
	pg->notify_h = notify;
	pg->arg = arg;
	pg->backoff_ms = CLUSTER_PG_BACKOFF_MIN_MS;
	pg->dsn = strdup(dsn);
	pg->io = event_new(base, -1, 0, pg_on_io, pg);
	pg->timer = evtimer_new(base, pg_on_timer, pg);
	pg->qtimer = evtimer_new(base, pg_on_qtimer, pg);
	if (!pg->dsn || !pg->io || !pg->timer || !pg->qtimer) {
		cluster_pg_free(pg);
		return ENOMEM;
	}
	pg_connect(pg);
	*pgp = pg;
	return 0;
}

void cluster_pg_free(struct cluster_pg *pg)
{
	if (!pg)
		return;
	if (pg->io)
		event_free(pg->io);
	if (pg->timer)
		event_free(pg->timer);
	if (pg->qtimer)
		event_free(pg->qtimer);
	pg->qtimer = NULL;
	pg->phase = PG_IDLE;
	pg_fail_all(pg, ECONNRESET);
	if (pg->conn)
		PQfinish(pg->conn);
	if (pg->dsn) {
		explicit_bzero(pg->dsn, strlen(pg->dsn));
		free(pg->dsn);
	}
	free(pg);
}

void cluster_pg_set_timeout(struct cluster_pg *pg, unsigned ms)
{
	pg->timeout_ms = ms;
}

bool cluster_pg_up(const struct cluster_pg *pg)
{
	return pg->phase == PG_UP;
}

unsigned cluster_pg_pending(const struct cluster_pg *pg)
{
	const struct pg_query *q;
	unsigned n = 0;

	for (q = pg->head; q; q = q->next)
		n++;
	return n;
}

int cluster_pg_query(struct cluster_pg *pg, const char *sql, int n,
		     const char *const *vals, cluster_pg_result_h *h,
		     void *arg)
{
	struct pg_query *q;
	size_t size = sizeof(*q), off;
	int i;

	if (pg->phase != PG_UP)
		return ENOTCONN;
	for (i = 0; i < n; i++)
		size += sizeof(char *) + (vals[i] ? strlen(vals[i]) + 1 : 0);
	q = calloc(1, size);
	if (!q)
		return ENOMEM;
	q->sql = sql;
	q->n = n;
	q->h = h;
	q->arg = arg;
	if (n > 0) {
		q->vals = (char **)(q + 1);
		off = sizeof(*q) + (size_t)n * sizeof(char *);
		for (i = 0; i < n; i++) {
			if (!vals[i])
				continue;
			q->vals[i] = (char *)q + off;
			strcpy(q->vals[i], vals[i]);
			off += strlen(vals[i]) + 1;
		}
	}
	if (pg->tail)
		pg->tail->next = q;
	else
		pg->head = q;
	pg->tail = q;
	pg_send_next(pg);
	return 0;
}

const char *cluster_pg_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

bool cluster_pg_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}
