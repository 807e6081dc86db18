/*
 * cluster_pool.c - the pool across nodes: removal and the reads
 * (cluster_pool_remove(), cluster_pool_list() in cluster.h; the add is
 * cluster_pool_add(), cluster.c). PostgreSQL's pool is the only one in
 * cluster mode: allocation reads it, and its active counts are every
 * node's sessions, so the API reads it there too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/e164.h"

#include "cluster_internal.h"

/*
 * A number in use is refused; the row lock makes it exact: a create
 * that is taking the number holds the row (FOR UPDATE, then active + 1),
 * so the DELETE waits for it and reads the row again (active > 0: kept).
 * Its change wakes no cache (the feed keeps sessions only), it only
 * records the change.
 */
static const char remove_sql[] =
	"WITH d AS (DELETE FROM pool WHERE vn = $1 AND active = 0 "
	"RETURNING vn), "
	"c AS (INSERT INTO changes (kind, vn, at_ms) "
	"SELECT 'pool', d.vn, $2::bigint FROM d) "
	"SELECT CASE WHEN EXISTS (SELECT 1 FROM d) THEN '' "
	"WHEN EXISTS (SELECT 1 FROM pool WHERE vn = $1) THEN 'EBUSY' "
	"ELSE 'ENOENT' END";

static const char list_sql[] =
	"SELECT vn, country, active, added_at_ms FROM pool ORDER BY vn";
static const char get_sql[] =
	"SELECT vn, country, active, added_at_ms FROM pool WHERE vn = $1";

struct pool_op {
	struct cluster *c;
	cluster_done_h *done;
	cluster_pool_h *list;
	bool one;
	void *arg;
};

static void remove_done(int err, const PGresult *res, void *arg)
{
	struct pool_op *op = arg;

	if (err) {
		op->c->stats.unavailable++;
	} else if (!cluster_pg_ok(res) || PQntuples(res) != 1) {
		cluster_log_pg_error(op->c, "pool remove", res);
		err = EIO;
	} else if (!strcmp(PQgetvalue(res, 0, 0), "EBUSY")) {
		err = EBUSY;
	} else {
		err = cluster_err_from_name(PQgetvalue(res, 0, 0));
	}
	op->done(err, op->arg);
	free(op);
}

static struct pool_op *op_new(struct cluster *c, void *arg)
{
	struct pool_op *op = calloc(1, sizeof(*op));

	if (op) {
		op->c = c;
		op->arg = arg;
	}
	return op;
}

int cluster_pool_remove(struct cluster *c, const char *vn, int64_t now_ms,
			cluster_done_h *h, void *arg)
{
	struct cluster_pg *pg = cluster_pick(c);
	struct pool_op *op;
	char now[24];
	const char *vals[2] = { vn, now };
	int rc;

	if (!e164_valid(vn))
		return ENOENT;		/* no stored number looks like that */
	if (!pg) {
		c->stats.unavailable++;
		return ENOTCONN;
	}
	if (!(op = op_new(c, arg)))
		return ENOMEM;
	op->done = h;
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	rc = cluster_pg_query(pg, remove_sql, 2, vals, remove_done, op);
	if (rc)
		free(op);
	return rc;
}

static int number_from_row(const PGresult *res, int r, struct pool_number *n)
{
	int64_t active, added;
	int rc;

	memset(n, 0, sizeof(*n));
	rc = cluster_copy_str(n->vn, sizeof(n->vn), PQgetvalue(res, r, 0));
	if (!rc)
		rc = cluster_copy_str(n->country, sizeof(n->country),
				      PQgetvalue(res, r, 1));
	if (!rc)
		rc = cluster_parse_i64(PQgetvalue(res, r, 2), &active);
	if (!rc)
		rc = cluster_parse_i64(PQgetvalue(res, r, 3), &added);
	if (!rc && (active < 0 || active > UINT32_MAX))
		rc = EIO;
	if (rc)
		return rc;
	n->active = (uint32_t)active;
	n->added_at_ms = added;
	return 0;
}

static void list_done(int err, const PGresult *res, void *arg)
{
	struct pool_op *op = arg;
	struct pool_number *v = NULL;
	int n = 0, i;

	if (err) {
		op->c->stats.unavailable++;
	} else if (!cluster_pg_ok(res)) {
		cluster_log_pg_error(op->c, "pool list", res);
		err = EIO;
	} else if (op->one && PQntuples(res) != 1) {
		err = ENOENT;
	} else {
		n = PQntuples(res);
		if (n && !(v = calloc((size_t)n, sizeof(*v))))
			err = ENOMEM;
		for (i = 0; !err && i < n; i++)
			err = number_from_row(res, i, &v[i]);
	}
	op->list(err, err ? NULL : v, err ? 0 : (size_t)n, op->arg);
	free(v);
	free(op);
}

int cluster_pool_list(struct cluster *c, const char *vn, cluster_pool_h *h,
		      void *arg)
{
	struct cluster_pg *pg = cluster_pick(c);
	struct pool_op *op;
	const char *vals[1] = { vn };
	int rc;

	if (!pg) {
		c->stats.unavailable++;
		return ENOTCONN;
	}
	if (!(op = op_new(c, arg)))
		return ENOMEM;
	op->list = h;
	op->one = vn != NULL;
	rc = cluster_pg_query(pg, vn ? get_sql : list_sql, vn ? 1 : 0, vals,
			      list_done, op);
	if (rc)
		free(op);
	return rc;
}
