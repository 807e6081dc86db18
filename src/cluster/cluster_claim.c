/*
 * cluster_claim.c - one call per session across nodes (cluster.h): a
 * claim with a lease in PostgreSQL's call_claims.
 *
 * The call path does not wait for it. A node's SIP thread keeps the
 * rule among its own calls as in single-node mode, and forwards a call
 * at once; the control thread claims the session when the call is
 * reported initiated (ctl_cluster.c). PostgreSQL answers in a
 * millisecond or two, while the callee has hardly started ringing: a
 * claim another node's live call holds ends this call before anyone
 * answered (486 to the caller, CANCEL to the callee). PostgreSQL down:
 * the call goes on (routing existing sessions outlives PostgreSQL; two
 * nodes may then each carry one call of a session, never one node two).
 *
 * A node that dies loses its connections, and with them the shared
 * advisory lock every connection of a live node holds
 * (cluster_expire_on_up()): its claims stop counting at once
 * (maskd_node_alive(), schema 4), not when their lease runs out, so the
 * session's next call through another node connects. A node that comes
 * back drops the claims its previous life left (cluster_claims_reset()).
 *
 * Claims, releases and renewals commit asynchronously (synchronous_commit
 * off for their transaction only; bench_cluster_lookup.py: they were two
 * WAL flushes a call, most of PostgreSQL's CPU per call). A claim is a
 * lease, not a record: visible to every node the moment it commits, as
 * before; what PostgreSQL's own crash may lose is the last ~0.6 s of
 * them. A crash ends every node's connections, so its advisory lock
 * (above) too, and claims stop counting until a node is back anyway; a
 * lost claim lets one more node carry a call of that session meanwhile,
 * as when PostgreSQL is down; a lost release or renewal ends with the
 * lease. Sessions, call records and events stay durable commits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster_internal.h"

/* A select-list item: this statement's transaction commits without
 * waiting for its WAL flush (see above). A data-modifying WITH runs to
 * its end whatever the SELECT reads of it. */
#define CLAIM_ASYNC "set_config('synchronous_commit', 'off', true)"

struct claim_op {
	struct cluster *c;
	cluster_done_h *h;
	void *arg;
};

static void claim_done(int err, const PGresult *res, void *arg)
{
	struct claim_op *op = arg;

	if (!err) {
		if (!cluster_pg_ok(res) || PQntuples(res) != 1) {
			cluster_log_pg_error(op->c, "claim", res);
			err = EIO;
		} else if (PQgetvalue(res, 0, 0)[0] != 't') {
			err = EBUSY;
		}
	}
	if (op->h)
		op->h(err, op->arg);
	free(op);
}

int cluster_claim(struct cluster *c, const uint8_t session_id[STORE_ID_LEN],
		  const uint8_t call_id[STORE_ID_LEN], int64_t now_ms,
		  cluster_done_h *h, void *arg)
{
	struct cluster_pg *pg = cluster_pick(c);
	char sid[CLUSTER_BYTEA_SIZE], cid[CLUSTER_BYTEA_SIZE], now[24],
	     lease[24];
	const char *vals[4] = { sid, cid, now, lease };
	struct claim_op *op;
	int rc;

	if (!pg)
		return ENOTCONN;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->c = c;
	op->h = h;
	op->arg = arg;
	cluster_bytea_hex(session_id, sid);
	cluster_bytea_hex(call_id, cid);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	snprintf(lease, sizeof(lease), "%d", CLUSTER_CLAIM_LEASE_MS);
	rc = cluster_pg_query(pg, "SELECT maskd_claim($1::bytea, $2::bytea, "
			      "$3::bigint, $4::bigint), " CLAIM_ASYNC, 4,
			      vals, claim_done, op);
	if (rc)
		free(op);
	return rc;
}

static void fire_done(int err, const PGresult *res, void *arg)
{
	if (!err && !cluster_pg_ok(res))
		cluster_log_pg_error(arg, "claims", res);
}

int cluster_claim_release(struct cluster *c,
			  const uint8_t session_id[STORE_ID_LEN],
			  const uint8_t call_id[STORE_ID_LEN])
{
	struct cluster_pg *pg = cluster_pick(c);
	char sid[CLUSTER_BYTEA_SIZE], cid[CLUSTER_BYTEA_SIZE];
	const char *vals[2] = { sid, cid };

	if (!pg)
		return ENOTCONN;
	cluster_bytea_hex(session_id, sid);
	cluster_bytea_hex(call_id, cid);
	return cluster_pg_query(pg, "WITH d AS (DELETE FROM call_claims "
				"WHERE session_id = $1::bytea AND call_id = "
				"$2::bytea AND node = current_setting("
				"'maskd.node', true) RETURNING 1) "
				"SELECT " CLAIM_ASYNC, 2, vals, fire_done, c);
}

int cluster_claim_renew(struct cluster *c, const uint8_t *call_ids, size_t n,
			int64_t now_ms)
{
	struct cluster_pg *pg = cluster_pick(c);
	char until[24], *arr;
	const char *vals[2];
	int rc;

	if (!n)
		return 0;
	if (!pg)
		return ENOTCONN;
	arr = cluster_bytea_array(call_ids, n);
	if (!arr)
		return ENOMEM;
	snprintf(until, sizeof(until), "%" PRId64,
		 now_ms + CLUSTER_CLAIM_LEASE_MS);
	vals[0] = arr;
	vals[1] = until;
	rc = cluster_pg_query(pg, "WITH u AS (UPDATE call_claims SET "
			      "lease_until_ms = $2::bigint WHERE call_id = "
			      "ANY ($1::bytea[]) AND node = current_setting("
			      "'maskd.node', true) RETURNING 1) "
			      "SELECT " CLAIM_ASYNC, 2, vals, fire_done, c);
	free(arr);
	return rc;
}

void cluster_claims_reset(struct cluster *c)
{
	struct cluster_pg *pg;

	if (c->claims_reset || !(pg = cluster_pick(c)))
		return;
	if (!cluster_pg_query(pg, "DELETE FROM call_claims WHERE node = "
			      "current_setting('maskd.node', true)", 0, NULL,
			      fire_done, c))
		c->claims_reset = true;
}
