/*
 * cluster.c - the cluster's connections, its schema and the session
 * operations in PostgreSQL (see cluster.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "maskd/clock.h"

#include "cluster_internal.h"

/* ---- helpers ---- */

void cluster_bytea_hex(const uint8_t id[STORE_ID_LEN],
		       char out[CLUSTER_BYTEA_SIZE])
{
	out[0] = '\\';
	out[1] = 'x';
	store_id_format(id, out + 2);
}

char *cluster_bytea_array(const uint8_t *ids, size_t n)
{
	char *arr = malloc(n * (CLUSTER_BYTEA_SIZE + 4) + 3), *p = arr;
	size_t i;

	if (!arr)
		return NULL;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		char hex[CLUSTER_BYTEA_SIZE];

		/* in an array literal a backslash is escaped: "\\x.." */
		cluster_bytea_hex(ids + i * STORE_ID_LEN, hex);
		p += sprintf(p, "%s\"\\\\%s\"", i ? "," : "", hex + 1);
	}
	*p++ = '}';
	*p = '\0';
	return arr;
}

int cluster_id_new(struct cluster *c, int64_t now_ms,
			  uint8_t id[STORE_ID_LEN])
{
	uint64_t t;
	int i;

	/* as store_id_new(): time-ordered within this node */
	if (now_ms <= c->id_last_ms) {
		now_ms = c->id_last_ms;
		if (++c->id_seq == 0)
			now_ms = ++c->id_last_ms;
	} else {
		c->id_last_ms = now_ms;
		c->id_seq = 0;
	}
	t = now_ms < 0 ? 0 : (uint64_t)now_ms;
	for (i = 5; i >= 0; i--) {
		id[i] = (uint8_t)t;
		t >>= 8;
	}
	id[6] = (uint8_t)(c->id_seq >> 8);
	id[7] = (uint8_t)c->id_seq;
	if (getrandom(id + 8, STORE_ID_LEN - 8, 0) != STORE_ID_LEN - 8)
		return EIO;
	return 0;
}

int cluster_parse_i64(const char *s, int64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno || end == s || *end) ? EIO : 0;
}

int cluster_copy_str(char *dst, size_t size, const char *s)
{
	if (strlen(s) >= size)
		return EIO;
	strcpy(dst, s);
	return 0;
}

int cluster_session_from_row(const PGresult *res, int row, int col,
			     struct session *out)
{
	const char *v;
	size_t n;
	unsigned char *id;
	int64_t x;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	id = PQunescapeBytea((const unsigned char *)
			     PQgetvalue(res, row, col), &n);
	if (!id)
		return ENOMEM;
	if (n == STORE_ID_LEN)
		memcpy(out->id, id, STORE_ID_LEN);
	else
		rc = EIO;
	PQfreemem(id);
	if (!rc)
		rc = cluster_copy_str(out->party_a, sizeof(out->party_a),
			      PQgetvalue(res, row, col + 1));
	if (!rc)
		rc = cluster_copy_str(out->party_b, sizeof(out->party_b),
			      PQgetvalue(res, row, col + 2));
	if (!rc)
		rc = cluster_copy_str(out->vn, sizeof(out->vn),
			      PQgetvalue(res, row, col + 3));
	if (!rc && !(rc = cluster_parse_i64(PQgetvalue(res, row, col + 4), &x)))
		rc = x < 0 || x > SESSION_CLOSED ? EIO :
		     ((out->status = (enum session_status)x), 0);
	if (!rc)
		rc = cluster_parse_i64(PQgetvalue(res, row, col + 5),
			       &out->created_at_ms);
	if (!rc)
		rc = cluster_parse_i64(PQgetvalue(res, row, col + 6),
			       &out->expires_at_ms);
	if (!rc)
		rc = cluster_parse_i64(PQgetvalue(res, row, col + 7),
			       &out->ended_at_ms);
	if (!rc && !(rc = cluster_parse_i64(PQgetvalue(res, row, col + 8), &x)))
		rc = x < 0 || x > UINT32_MAX ? EIO :
		     ((out->call_time_limit_s = (uint32_t)x), 0);
	if (rc)
		return rc;
	out->record = PQgetvalue(res, row, col + 9)[0] == 't';
	if (!PQgetisnull(res, row, col + 10) &&
	    !(out->callback_url = strdup(PQgetvalue(res, row, col + 10))))
		rc = ENOMEM;
	if (!rc && !PQgetisnull(res, row, col + 11) &&
	    !(out->metadata = strdup(PQgetvalue(res, row, col + 11))))
		rc = ENOMEM;
	out->pin_required = PQgetvalue(res, row, col + 12)[0] == 't';
	if (!rc && !(rc = cluster_parse_i64(PQgetvalue(res, row, col + 13), &x)))
		rc = x < 0 || x > STORE_PIN_RETRIES_MAX ? EIO :
		     ((out->pin_retries = (uint8_t)x), 0);
	v = PQgetvalue(res, row, col + 14);
	if (!rc)
		rc = cluster_copy_str(out->pin_a, sizeof(out->pin_a), v);
	if (!rc)
		rc = cluster_copy_str(out->pin_b, sizeof(out->pin_b),
			      PQgetvalue(res, row, col + 15));
	if (rc)
		session_clear(out);
	return rc;
}

/* "ENOSPC" and friends, as the SQL functions answer */
int cluster_err_from_name(const char *s)
{
	static const struct { const char *name; int err; } names[] = {
		{ "", 0 }, { "EINVAL", EINVAL }, { "ENOENT", ENOENT },
		{ "EEXIST", EEXIST }, { "ENOSPC", ENOSPC },
		{ "ENOTUNIQ", ENOTUNIQ }, { "EALREADY", EALREADY },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].err;
	return EIO;
}

/*
 * A serialization failure, a deadlock, or a unique index saying another
 * node won the race: running the transaction again sees the winner's row.
 */
bool cluster_retryable(const PGresult *res)
{
	const char *st = cluster_pg_sqlstate(res);

	return !strcmp(st, "40001") || !strcmp(st, "40P01") ||
	       !strcmp(st, "23505");
}

/*
 * cluster_retry_later() - run @fn(@arg) after a random pause of up to 2^attempts
 * ms (at most 64): transactions that keep colliding must not retry in
 * lockstep, or under SERIALIZABLE they collide again.
 */
int cluster_retry_later(struct cluster *c, unsigned attempts,
		       event_callback_fn fn, void *arg)
{
	unsigned cap = 1u << (attempts < 6 ? attempts : 6), r = 0;
	struct timeval tv;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = attempts;
	r %= cap * 1000;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)r;
	return event_base_once(c->base, -1, EV_TIMEOUT, fn, arg, &tv) ?
	       ENOMEM : 0;
}

/* The connection to send on: the least busy one that is up. */
struct cluster_pg *cluster_pick(struct cluster *c)
{
	struct cluster_pg *best = NULL;
	unsigned best_n = 0, i, n;

	if (!c->schema_ok)
		return NULL;
	for (i = 0; i < c->n_pg; i++) {
		if (!c->pg[i] || !cluster_pg_up(c->pg[i]))
			continue;
		n = cluster_pg_pending(c->pg[i]);
		if (!best || n < best_n) {
			best = c->pg[i];
			best_n = n;
		}
	}
	return best;
}

/*
 * cluster_log_scrub() - blank out every run of STORE_PIN_MIN or more
 * digits in @msg: PostgreSQL may quote a value in its message (a key, a
 * bad input), and a phone number or a PIN (as short as STORE_PIN_MIN
 * digits) must not reach the log above debug.
 */
static void cluster_log_scrub(char *msg)
{
	size_t i = 0, j;

	while (msg[i]) {
		for (j = i; msg[j] >= '0' && msg[j] <= '9'; j++)
			;
		if (j - i >= STORE_PIN_MIN)
			memset(msg + i, '*', j - i);
		i = j > i ? j : i + 1;
	}
}

void cluster_log_pg_error(struct cluster *c, const char *what,
				 const PGresult *res)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
	msg[strcspn(msg, "\n")] = '\0';
	cluster_log_scrub(msg);
	log_error(c->log, "cluster: %s: %s (%s)", what, msg,
		  cluster_pg_sqlstate(res));
}

/* ---- schema ---- */

static void schema_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;
	int64_t v = 0;

	c->schema_running = false;
	if (err)
		return;		/* lost: the next connection that comes up
				 * runs it again (it is one transaction) */
	if (!cluster_pg_ok(res) || PQntuples(res) != 1 ||
	    cluster_parse_i64(PQgetvalue(res, 0, 0), &v)) {
		cluster_log_pg_error(c, "migrations", res);
		return;
	}
	if (v > CLUSTER_SCHEMA) {
		log_error(c->log, "cluster: %s: schema version %" PRId64
			  " is newer than this maskd's (%d): refusing it",
			  c->dsn_masked, v, CLUSTER_SCHEMA);
		c->schema_err = EPROTO;
		return;
	}
	log_info(c->log, "cluster: %s: schema at version %" PRId64,
		 c->dsn_masked, v);
	c->schema_ok = true;
	cluster_claims_reset(c);
}

static void serializable_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(c, "set isolation", res);
}

static void cluster_on_state(struct cluster_pg *pg, bool up, void *arg)
{
	struct cluster *c = arg;

	if (!up)
		return;
	c->stats.reconnects++;
	/* who this node is, for what its transactions mark as its own
	 * (maskd_session_end(): expiries); before any other query */
	cluster_expire_on_up(c, pg);
	/* a session's setting: once per connection, before any create */
	if (c->alloc == CLUSTER_ALLOC_SERIALIZABLE)
		cluster_pg_query(pg, "SET SESSION CHARACTERISTICS AS "
				 "TRANSACTION ISOLATION LEVEL SERIALIZABLE",
				 0, NULL, serializable_done, c);
	if (!c->schema_ok && !c->schema_running && !c->schema_err &&
	    !cluster_pg_query(pg, cluster_schema_sql, -1, NULL, schema_done,
			      c))
		c->schema_running = true;
}

int cluster_open(struct cluster **cp, struct event_base *base,
		 const char *dsn, unsigned connections,
		 enum cluster_alloc alloc, struct log *log)
{
	struct cluster *c;
	unsigned i;
	int rc;

	if (connections < 1 || connections > CLUSTER_CONNECTIONS_MAX)
		return EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->base = base;
	c->log = log;
	c->alloc = alloc;
	c->dsn = strdup(dsn);
	c->pg = calloc(connections, sizeof(*c->pg));
	if (!c->dsn || !c->pg) {
		cluster_close(c);
		return ENOMEM;
	}
	cluster_dsn_mask(dsn, c->dsn_masked, sizeof(c->dsn_masked));
	rc = cluster_expire_init(c);
	if (rc) {
		cluster_close(c);
		return rc;
	}
	log_info(log, "cluster: store %s, %u connections, allocation %s",
		 c->dsn_masked, connections,
		 alloc == CLUSTER_ALLOC_LOCK ? "lock" : "serializable");
	for (i = 0; i < connections; i++) {
		char name[16];

		snprintf(name, sizeof(name), "pg%u", i);
		rc = cluster_pg_open(&c->pg[i], base, dsn, name, log,
				     cluster_on_state, NULL, c);
		if (rc) {
			cluster_close(c);
			return rc;
		}
		c->n_pg = i + 1;
	}
	*cp = c;
	return 0;
}

void cluster_close(struct cluster *c)
{
	unsigned i;

	if (!c)
		return;
	cluster_create_stop(c);
	cluster_feed_free(c->feed);
	cluster_expire_free(c);
	/* queries still queued are answered ENOTCONN now, while what they
	 * point at (c, the export) is still here */
	for (i = 0; i < c->n_pg; i++)
		cluster_pg_free(c->pg[i]);
	c->n_pg = 0;
	cluster_export_free(c->export);
	free(c->pg);
	cluster_dsn_free(c->dsn);
	free(c);
}

void cluster_set_query_timeout(struct cluster *c, unsigned ms)
{
	unsigned i;

	c->query_timeout_ms = ms;
	for (i = 0; i < c->n_pg; i++)
		cluster_pg_set_timeout(c->pg[i], ms);
}

bool cluster_ready(const struct cluster *c)
{
	unsigned i;

	if (!c->schema_ok)
		return false;
	for (i = 0; i < c->n_pg; i++)
		if (cluster_pg_up(c->pg[i]))
			return true;
	return false;
}

int cluster_schema_error(const struct cluster *c)
{
	return c->schema_err;
}

void cluster_stats(const struct cluster *c, struct cluster_stats *out)
{
	*out = c->stats;
}

/* ---- the feed's wake-up ---- */

static void notify_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	c->notify_busy = false;
	if (c->notify_again) {
		c->notify_again = false;
		cluster_notify(c);
	}
}

/*
 * cluster_notify() - wake every node's feed (NOTIFY maskd_changes) after
 * a change committed. Sent on its own, after the commit, not inside the
 * change's transaction: PostgreSQL serialises the commits of
 * transactions that NOTIFY (a database-wide lock until the commit is
 * flushed), which would undo the group commit of concurrent creates.
 * Coalesced: one in flight, at most one more after it. A lost one only
 * delays the feeds until their next poll.
 */
void cluster_notify(struct cluster *c)
{
	struct cluster_pg *pg;

	if (c->notify_busy) {
		c->notify_again = true;
		return;
	}
	pg = cluster_pick(c);
	if (pg && !cluster_pg_query(pg, "NOTIFY maskd_changes", 0, NULL,
				    notify_done, c))
		c->notify_busy = true;
}

/* ---- close, get, pool ---- */

struct session_op {
	struct cluster *c;
	uint8_t id[STORE_ID_LEN];
	int64_t now_ms;
	unsigned attempts;
	cluster_session_h *h;
	cluster_done_h *done;
	void *arg;
};

static const char get_sql[] =
	"SELECT " CLUSTER_SESSION_COLS " FROM sessions s WHERE s.id = $1::bytea";

static void get_done(int err, const PGresult *res, void *arg);

static int session_op_send(struct session_op *op, const char *sql,
			   cluster_pg_result_h *h, bool with_now)
{
	struct cluster_pg *pg = cluster_pick(op->c);
	char id[CLUSTER_BYTEA_SIZE], now[24];
	const char *vals[2] = { id, now };

	if (!pg)
		return ENOTCONN;
	cluster_bytea_hex(op->id, id);
	snprintf(now, sizeof(now), "%" PRId64, op->now_ms);
	return cluster_pg_query(pg, sql, with_now ? 2 : 1, vals, h, op);
}

/* After a close, or for a get: read the row and hand it over with @err. */
static void get_done(int err, const PGresult *res, void *arg)
{
	struct session_op *op = arg;
	struct session s;

	if (err) {
		op->c->stats.unavailable++;
	} else if (!cluster_pg_ok(res)) {
		cluster_log_pg_error(op->c, "get", res);
		err = EIO;
	} else if (PQntuples(res) != 1) {
		err = ENOENT;
	} else {
		err = cluster_session_from_row(res, 0, 0, &s);
	}
	if (err) {
		op->h(err, NULL, op->arg);
	} else {
		session_apply_clock(&s, op->now_ms);
		op->h(0, &s, op->arg);
		session_clear(&s);
	}
	free(op);
}

int cluster_session_get(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			int64_t now_ms, cluster_session_h *h, void *arg)
{
	struct session_op *op = calloc(1, sizeof(*op));
	int rc;

	if (!op)
		return ENOMEM;
	op->c = c;
	memcpy(op->id, id, STORE_ID_LEN);
	op->now_ms = now_ms;
	op->h = h;
	op->arg = arg;
	rc = session_op_send(op, get_sql, get_done, false);
	if (rc) {
		c->stats.unavailable++;
		free(op);
	}
	return rc;
}

static const char lookup_sql[] =
	"SELECT " CLUSTER_SESSION_COLS " FROM pairs p "
	"JOIN sessions s ON s.id = p.session_id "
	"WHERE p.party = $1 AND p.vn = $2 AND p.active AND s.status = 0 "
	"AND s.expires_at_ms > $3::bigint";

int cluster_session_lookup(struct cluster *c, const char *caller,
			   const char *vn, int64_t now_ms,
			   cluster_session_h *h, void *arg)
{
	struct cluster_pg *pg = cluster_pick(c);
	struct session_op *op;
	char now[24];
	const char *vals[3] = { caller, vn, now };
	int rc;

	if (!pg) {
		c->stats.unavailable++;
		return ENOTCONN;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->c = c;
	op->now_ms = now_ms;
	op->h = h;
	op->arg = arg;
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	/* the row, or none: get_done() says ENOENT for no row */
	rc = cluster_pg_query(pg, lookup_sql, 3, vals, get_done, op);
	if (rc)
		free(op);
	return rc;
}

/* close's result: then the row as it now is (one more round trip, only
 * on the API's DELETE, which answers with the session) */
struct close_op {
	struct session_op op;
	int err;
};

static void close_read_done(int err, const PGresult *res, void *arg)
{
	struct close_op *cop = arg;
	cluster_session_h *h = cop->op.h;
	void *harg = cop->op.arg;
	struct session s;

	if (!err && cluster_pg_ok(res) && PQntuples(res) == 1 &&
	    !cluster_session_from_row(res, 0, 0, &s)) {
		h(cop->err, &s, harg);
		session_clear(&s);
	} else {
		if (err)
			cop->op.c->stats.unavailable++;
		h(err ? err : EIO, NULL, harg);
	}
	free(cop);
}

static void close_read(struct close_op *cop, int err);
static void close_done(int err, const PGresult *res, void *arg);

static const char close_sql[] =
	"SELECT err FROM maskd_session_close($1::bytea, $2::bigint)";

static int close_send(struct close_op *cop)
{
	cop->op.attempts++;
	return session_op_send(&cop->op, close_sql, close_done, true);
}

static void close_retry(evutil_socket_t fd, short what, void *arg)
{
	struct close_op *cop = arg;
	int err = close_send(cop);

	if (err) {
		cop->op.c->stats.unavailable++;
		cop->op.h(err, NULL, cop->op.arg);
		free(cop);
	}
}

static void close_done(int err, const PGresult *res, void *arg)
{
	struct close_op *cop = arg;
	struct cluster *c = cop->op.c;

	if (!err && !cluster_pg_ok(res) && cluster_retryable(res)) {
		if (cop->op.attempts >= CLUSTER_RETRY_MAX) {
			cop->op.h(EBUSY, NULL, cop->op.arg);
			free(cop);
			return;
		}
		c->stats.retries++;
		err = cluster_retry_later(c, cop->op.attempts, close_retry, cop);
		if (!err)
			return;
		cop->op.h(err, NULL, cop->op.arg);
		free(cop);
		return;
	}
	if (err) {
		c->stats.unavailable++;
	} else if (!cluster_pg_ok(res) || PQntuples(res) != 1) {
		cluster_log_pg_error(c, "close", res);
		err = EIO;
	} else {
		err = cluster_err_from_name(PQgetvalue(res, 0, 0));
		if (!err)
			cluster_notify(c);
	}
	close_read(cop, err);
}

/* After the close: the row as it now is, for the handler. */
static void close_read(struct close_op *cop, int err)
{
	struct cluster *c = cop->op.c;

	if (err && err != EALREADY) {
		cop->op.h(err, NULL, cop->op.arg);
		free(cop);
		return;
	}
	cop->err = err;
	err = session_op_send(&cop->op, get_sql, close_read_done, false);
	if (err) {
		c->stats.unavailable++;
		cop->op.h(err, NULL, cop->op.arg);
		free(cop);
	}
}

int cluster_session_close(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			  int64_t now_ms, cluster_session_h *h, void *arg)
{
	struct close_op *cop = calloc(1, sizeof(*cop));
	int rc;

	if (!cop)
		return ENOMEM;
	cop->op.c = c;
	memcpy(cop->op.id, id, STORE_ID_LEN);
	cop->op.now_ms = now_ms;
	cop->op.h = h;
	cop->op.arg = arg;
	rc = close_send(cop);
	if (rc) {
		c->stats.unavailable++;
		free(cop);
	}
	return rc;
}

struct pool_op {
	struct cluster *c;
	cluster_done_h *h;
	void *arg;
};

static void pool_done(int err, const PGresult *res, void *arg)
{
	struct pool_op *op = arg;

	if (!err) {
		if (!cluster_pg_ok(res) || PQntuples(res) != 1) {
			cluster_log_pg_error(op->c, "pool add", res);
			err = EIO;
		} else {
			err = cluster_err_from_name(PQgetvalue(res, 0, 0));
		}
	}
	op->h(err, op->arg);
	free(op);
}

int cluster_pool_add(struct cluster *c, const char *vn, const char *country,
		     int64_t now_ms, cluster_done_h *h, void *arg)
{
	struct cluster_pg *pg = cluster_pick(c);
	struct pool_op *op;
	char now[24];
	const char *vals[3] = { vn, country ? country : "", now };
	int rc;

	if (!e164_valid(vn))
		return EINVAL;
	if (!pg)
		return ENOTCONN;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->c = c;
	op->h = h;
	op->arg = arg;
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	rc = cluster_pg_query(pg, "SELECT err FROM maskd_pool_add($1, $2, "
			      "$3::bigint)", 3, vals, pool_done, op);
	if (rc)
		free(op);
	return rc;
}
