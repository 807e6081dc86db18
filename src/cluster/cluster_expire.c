/*
 * cluster_expire.c - sessions past expires_at expire in PostgreSQL, and
 * each expiry is reported by exactly one node (cluster.h); retention
 * (cluster_set_retention()) runs from the same sweep.
 *
 * Every node sweeps (maskd_expire_due2(), SKIP LOCKED: the nodes share
 * the work and none waits for another). The transaction that ends a
 * session marks it with its connection's maskd.node and "not noted"
 * (maskd_session_end(), schema version 2), so the one node whose
 * transaction committed the expiry is the one that reports it: its sweep
 * reads back its own unnoted expiries, hands them to cluster_expired_h
 * (which writes the session and its session.expired event into the
 * node's LMDB in one transaction), then marks them noted. A node that
 * dies between its LMDB commit and the mark reports them again when it
 * comes back (at least once for that window, never zero times); every
 * other node only ever sees the session's new state through the feed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maskd/clock.h"

#include "cluster_internal.h"

struct cluster_expiry {
	struct cluster *c;
	struct session *s;
	size_t n;
};

int cluster_set_node(struct cluster *c, const char *node)
{
	if (!node || !*node || strlen(node) >= sizeof(c->node))
		return EINVAL;
	strcpy(c->node, node);
	return 0;
}

void cluster_set_expired_h(struct cluster *c, cluster_expired_h *h,
			   void *arg)
{
	c->expired_h = h;
	c->expired_arg = arg;
}

static void node_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(c, "set maskd.node", res);
}

void cluster_expire_on_up(struct cluster *c, struct cluster_pg *pg)
{
	const char *vals[1] = { c->node };

	/* and the node's liveness lock, shared by its connections: when
	 * the node dies its claims stop counting at once (maskd_claim()) */
	cluster_pg_query(pg, "SELECT set_config('maskd.node', $1, false), "
			 "pg_advisory_lock_shared(" NODE_LOCK ", hashtext($1))",
			 1, vals, node_done, c);
}

static void expiry_free(struct cluster_expiry *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		session_clear(&x->s[i]);
	free(x->s);
	free(x);
}

static void noted_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	c->sweep_busy = false;
	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(c, "expiry noted", res);
	/* not marked: the next sweep hands them over again */
}

void cluster_expired_done(struct cluster_expiry *x, int err)
{
	struct cluster *c = x->c;
	struct cluster_pg *pg;
	char *arr = NULL;
	uint8_t *ids;
	size_t i;
	const char *vals[1];

	if (err || !(pg = cluster_pick(c)))
		goto out;
	ids = malloc(x->n * STORE_ID_LEN);
	if (!ids)
		goto out;
	for (i = 0; i < x->n; i++)
		memcpy(ids + i * STORE_ID_LEN, x->s[i].id, STORE_ID_LEN);
	arr = cluster_bytea_array(ids, x->n);
	free(ids);
	if (!arr)
		goto out;
	vals[0] = arr;
	if (!cluster_pg_query(pg, "SELECT maskd_expiry_noted($1::bytea[])",
			      1, vals, noted_done, c)) {
		free(arr);
		expiry_free(x);
		return;		/* sweep_busy until it is marked */
	}
 out:
	free(arr);
	c->sweep_busy = false;
	expiry_free(x);
}

static void sweep_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;
	struct cluster_expiry *x;
	int rows, i;

	if (err)
		goto idle;
	if (!cluster_pg_ok(res)) {
		/* a deadlock with a create is possible: next time */
		if (strcmp(cluster_pg_sqlstate(res), "40P01"))
			cluster_log_pg_error(c, "expire", res);
		goto idle;
	}
	rows = PQntuples(res);
	if (!rows)
		goto idle;
	cluster_notify(c);
	x = calloc(1, sizeof(*x));
	if (!x || !(x->s = calloc((size_t)rows, sizeof(*x->s)))) {
		free(x);
		goto idle;
	}
	x->c = c;
	for (i = 0; i < rows; i++) {
		if (cluster_session_from_row(res, i, 0, &x->s[x->n]))
			break;
		x->n++;
	}
	c->stats.expiries += x->n;
	if (!x->n) {
		expiry_free(x);
		goto idle;
	}
	if (c->expired_h)
		c->expired_h(x, x->s, x->n, c->expired_arg);
	else
		cluster_expired_done(x, 0);
	return;
 idle:
	c->sweep_busy = false;
}

/* pg_try_advisory_lock(int4, int4) key of the vacuum turn: "mask" in
 * ASCII, 1. Two-key locks are a space apart from the parties' bigint
 * keys (cluster_schema.c), so no party's hash can take the turn's. */
#define LOCK_VACUUM "1835103083, 1"

static void vacuum_unlock_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	c->vacuum_busy = false;
	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(c, "vacuum pool", res);
}

/* Give the turn back: the lock is this session's until it unlocks (or
 * the backend goes, and the lock with it: then ENOTCONN, nothing to
 * do); a lock left held would keep every other node from its turn. */
static void vacuum_unlock(struct cluster *c)
{
	if (cluster_pg_query(c->vacuum_pg, "SELECT pg_advisory_unlock("
			     LOCK_VACUUM ")", -1, NULL, vacuum_unlock_done, c))
		c->vacuum_busy = false;
}

static void vacuum_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(c, "vacuum pool", res);
	if (err)	/* the backend is gone, and its session lock with it */
		c->vacuum_busy = false;
	else
		vacuum_unlock(c);
}

/*
 * The vacuum turn: true when this session took the turn's lock and the
 * pool's last vacuum, by any node or by autovacuum, is at least
 * CLUSTER_VACUUM_MS old (or there was none); the lock is then held
 * until the VACUUM is over. Otherwise false, and the lock is not held.
 * A check without the lock let two nodes both see a vacuum due and
 * vacuum one after the other (5 in 3.6 s, test_pool_vacuum_shared).
 * The statistics are read only once the lock is taken - CASE evaluates
 * in order and the subquery's InitPlan runs on first use - so the
 * previous holder's vacuum, whose last_vacuum the server sets in its
 * shared statistics before the VACUUM returns, is seen.
 */
static const char vacuum_turn_sql[] =
	"SELECT CASE WHEN NOT pg_try_advisory_lock(" LOCK_VACUUM ") "
	"THEN false "
	"WHEN (SELECT coalesce(greatest(last_vacuum, last_autovacuum) < "
	"now() - make_interval(secs => $1::integer / 1000.0), true) "
	"FROM pg_stat_user_tables WHERE relid = 'pool'::regclass) "
	"THEN true "
	"ELSE NOT pg_advisory_unlock(" LOCK_VACUUM ") END";

static void vacuum_turn_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;

	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(c, "vacuum pool", res);
	if (err || !cluster_pg_ok(res) || PQntuples(res) != 1 ||
	    strcmp(PQgetvalue(res, 0, 0), "t")) {
		c->vacuum_busy = false;
		return;
	}
	/* the VACUUM goes on the connection whose session holds the lock */
	if (cluster_pg_query(c->vacuum_pg, "VACUUM (SKIP_LOCKED, "
			     "INDEX_CLEANUP ON) pool", -1, NULL, vacuum_done,
			     c))
		vacuum_unlock(c);
	else
		c->stats.vacuums++;
}

/*
 * pool_vacuum() - VACUUM the pool table after creates. Every create
 * moves a number's row in the pool_use index (active, vn), and the pick
 * of the least-used number walks that index from its low end, where the
 * dead versions pile up: at 5,000 creates/s autovacuum's minute lets
 * hundreds of thousands gather, and a pick went from 20 us to over 1 ms
 * (bench_cluster.py). A vacuum of a pool of thousands of rows takes
 * milliseconds; SKIP_LOCKED, so a node never waits for autovacuum.
 * The table is shared, so one vacuum serves every node: a node that made
 * creates first takes the vacuum turn (vacuum_turn_sql). Each node
 * vacuuming on its own sweep did it once a second per node: in a 10 s
 * run of bench_cluster_api.py --statements at three nodes, 30 vacuums
 * and 1.0 s of PostgreSQL's time (~17 us a create); with the turn
 * shared, 11 vacuums and 0.2 s.
 */
static void pool_vacuum(struct cluster *c, struct cluster_pg *pg)
{
	char ms[16];
	const char *vals[1] = { ms };

	if (c->vacuum_busy || c->stats.creates == c->vacuum_creates)
		return;
	snprintf(ms, sizeof(ms), "%d", CLUSTER_VACUUM_MS);
	if (!cluster_pg_query(pg, vacuum_turn_sql, 1, vals, vacuum_turn_done,
			      c)) {
		c->vacuum_busy = true;
		c->vacuum_pg = pg;
		c->vacuum_creates = c->stats.creates;
	}
}

void cluster_set_retention(struct cluster *c, uint32_t sessions_s,
			   uint32_t events_s)
{
	c->retention_s = sessions_s;
	c->ev_retention_s = events_s;
}

static void purge_done(int err, const PGresult *res, void *arg)
{
	struct cluster *c = arg;
	int64_t n[4], id;
	bool full = false;
	int i;

	c->purge_busy = false;
	if (err)
		return;
	if (!cluster_pg_ok(res) || PQntuples(res) != 1 || PQnfields(res) != 6) {
		cluster_log_pg_error(c, "retention", res);
		return;
	}
	for (i = 0; i < 4; i++) {
		if (cluster_parse_i64(PQgetvalue(res, 0, i), &n[i]))
			return;
		c->stats.purged += (uint64_t)n[i];
		full |= n[i] >= CLUSTER_PURGE_MAX;
	}
	if (cluster_parse_i64(PQgetvalue(res, 0, 5), &id) ||
	    cluster_copy_str(c->purge_xid, sizeof(c->purge_xid),
			     PQgetvalue(res, 0, 4)))
		return;
	c->purge_id = id;
	/* what is left goes at the next sweep, not at once: a turn is a
	 * transaction, and the sweep's pace keeps them short and apart.
	 * Left: a kind that filled its turn, or the changes scan stopped
	 * short of the end (a position): old rows it keeps (live sessions)
	 * must not slow it to a turn's worth every CLUSTER_PURGE_MS. */
	c->purge_again = full || id != 0;
	if (n[0] || n[1] || n[2] || n[3])
		log_debug(c->log, "cluster: retention deleted %" PRId64
			  " sessions, %" PRId64 " call records, %" PRId64
			  " events, %" PRId64 " changes", n[0], n[1], n[2],
			  n[3]);
}

/* maskd_purge() every CLUSTER_PURGE_MS, or at the next sweep while the
 * last turn left work (purge_done()); only events when [store]
 * retention is 0 */
static void purge_maybe(struct cluster *c, struct cluster_pg *pg)
{
	char cut[24], evcut[24], max[16], id[24];
	const char *vals[5] = { cut, evcut, max, c->purge_xid, id };
	int64_t now = clock_now_ms(), mono = clock_mono_ms();

	if (c->purge_busy || !c->ev_retention_s ||
	    (!c->purge_again && c->purge_ms &&
	     mono - c->purge_ms < CLUSTER_PURGE_MS))
		return;
	if (!c->purge_xid[0])
		strcpy(c->purge_xid, "0");
	snprintf(cut, sizeof(cut), "%" PRId64,
		 now - (int64_t)c->retention_s * 1000);
	snprintf(evcut, sizeof(evcut), "%" PRId64,
		 now - (int64_t)c->ev_retention_s * 1000);
	snprintf(max, sizeof(max), "%d", CLUSTER_PURGE_MAX);
	snprintf(id, sizeof(id), "%" PRId64, c->purge_id);
	if (!c->retention_s)
		vals[0] = NULL;
	if (!cluster_pg_query(pg, "SELECT * FROM maskd_purge($1::bigint, "
			      "$2::bigint, $3::integer, $4::text::xid8, "
			      "$5::bigint)", 5, vals, purge_done, c)) {
		c->purge_busy = true;
		c->purge_ms = mono;
	}
}

static void cluster_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *c = arg;
	struct cluster_pg *pg = cluster_pick(c);
	char now[24], max[16];
	const char *vals[2] = { now, max };

	if (!pg)
		return;
	pool_vacuum(c, pg);
	purge_maybe(c, pg);
	if (c->sweep_busy)
		return;
	snprintf(now, sizeof(now), "%" PRId64, clock_now_ms());
	snprintf(max, sizeof(max), "%d", CLUSTER_SWEEP_MAX);
	if (!cluster_pg_query(pg, "SELECT " CLUSTER_SESSION_COLS
			      " FROM maskd_expire_due2($1::bigint, "
			      "$2::integer) s", 2, vals, sweep_done, c))
		c->sweep_busy = true;
}

int cluster_expire_init(struct cluster *c)
{
	const struct timeval tv = { CLUSTER_SWEEP_MS / 1000,
				    (CLUSTER_SWEEP_MS % 1000) * 1000 };

	if (gethostname(c->node, sizeof(c->node) - 1) || !c->node[0])
		strcpy(c->node, "maskd");
	c->sweep = event_new(c->base, -1, EV_PERSIST, cluster_on_sweep, c);
	if (!c->sweep)
		return ENOMEM;
	event_add(c->sweep, &tv);
	return 0;
}

void cluster_expire_free(struct cluster *c)
{
	if (c->sweep)
		event_free(c->sweep);
	c->sweep = NULL;
}
