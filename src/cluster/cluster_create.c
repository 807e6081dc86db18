/*
 * cluster_create.c - cluster_session_create(): store_session_create()
 * in PostgreSQL.
 *
 * allocation = lock batches: the creates asked in one loop turn, or
 * queued while every connection was busy, go out as ONE call of
 * maskd_session_create_many() on one idle connection - one transaction,
 * one WAL flush for all of them, the group commit the LMDB writer does
 * for LMDB - while the next batch may go out on another connection.
 * Durable commits cost a flush each, so this, not more connections, is
 * what makes creates/s scale; and inside the batch PostgreSQL allocates
 * the common create in memory and writes them all with one statement a
 * table (schema 5, cluster_schema.c): ~150-250 us of its CPU a create
 * instead of ~1 ms (bench_cluster.py).
 * allocation = serializable sends each create on its own: a batch
 * under SSI would fail and retry as a whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"

enum {
	CP_ID, CP_A, CP_B, CP_VN, CP_NOW, CP_TTL, CP_CTL, CP_RECORD, CP_CB,
	CP_META, CP_PIN_REQ, CP_PIN_RETRIES, CP_PIN_A, CP_PIN_B, CP_PIN_GEN,
	CP_PIN_LEN, CP_LOCK, CP_N
};

static const char create_sql[] =
	"SELECT err, vn, pin_a, pin_b FROM maskd_session_create("
	"$1::bytea, $2, $3, $4, $5::bigint, $6::bigint, $7::bigint, "
	"$8::boolean, $9, $10, $11::boolean, $12::smallint, $13, $14, "
	"$15::boolean, $16::integer, $17::boolean)";

/* A create in flight: what it was asked, kept for retries. */
struct create_op {
	struct cluster *c;
	struct session s;		/* filled but for vn and PINs */
	const char *vals[CP_N];
	char id_hex[CLUSTER_BYTEA_SIZE];
	char now[24], ttl[24], ctl[24], retries[8], len[8];
	unsigned attempts;
	cluster_session_h *h;
	void *arg;
};

static void create_op_free(struct create_op *op)
{
	session_clear(&op->s);
	explicit_bzero(op, sizeof(*op));	/* PINs */
	free(op);
}

static void create_done(int err, const PGresult *res, void *arg);
static int batch_add(struct create_op *op);

/* Send @op: into this turn's batch (lock), or on its own. */
static int create_send(struct create_op *op)
{
	struct cluster_pg *pg;
	int err;

	if (op->c->alloc == CLUSTER_ALLOC_LOCK)
		return cluster_pick(op->c) ? batch_add(op) : ENOTCONN;
	pg = cluster_pick(op->c);
	if (!pg)
		return ENOTCONN;
	op->attempts++;
	err = cluster_pg_query(pg, create_sql, CP_N, op->vals, create_done,
			       op);
	if (!err)
		op->c->stats.batches++;
	return err;
}

static void create_finish(struct create_op *op, int err, const PGresult *res,
			  int row, int col);

static void create_retry(evutil_socket_t fd, short what, void *arg)
{
	struct create_op *op = arg;
	int err = create_send(op);

	if (err)
		create_finish(op, err, NULL, 0, 0);
}

/*
 * create_finish() - answer @op: @err, or 0 with the vn and PINs from
 * columns @col, @col + 1, @col + 2 of row @row of @res.
 */
static void create_finish(struct create_op *op, int err, const PGresult *res,
			  int row, int col)
{
	struct cluster *c = op->c;

	if (!err && (cluster_copy_str(op->s.vn, sizeof(op->s.vn),
				      PQgetvalue(res, row, col)) ||
		     cluster_copy_str(op->s.pin_a, sizeof(op->s.pin_a),
				      PQgetvalue(res, row, col + 1)) ||
		     cluster_copy_str(op->s.pin_b, sizeof(op->s.pin_b),
				      PQgetvalue(res, row, col + 2))))
		err = EIO;
	if (!err) {
		c->stats.creates++;
		cluster_notify(c);
	}
	if (err == ENOTCONN || err == ECONNRESET)
		c->stats.unavailable++;
	op->h(err, err ? NULL : &op->s, op->arg);
	create_op_free(op);
}

/* A failed attempt that may be run again: again later, or EBUSY. */
static void create_again(struct create_op *op)
{
	struct cluster *c = op->c;

	if (op->attempts >= CLUSTER_RETRY_MAX) {
		create_finish(op, EBUSY, NULL, 0, 0);
		return;
	}
	c->stats.retries++;
	if (cluster_retry_later(c, op->attempts, create_retry, op))
		create_finish(op, ENOMEM, NULL, 0, 0);
}

static void create_done(int err, const PGresult *res, void *arg)
{
	struct create_op *op = arg;

	if (err) {
		create_finish(op, err, NULL, 0, 0);
		return;
	}
	if (!cluster_pg_ok(res)) {
		if (cluster_retryable(res)) {
			create_again(op);
			return;
		}
		cluster_log_pg_error(op->c, "create", res);
		create_finish(op, EIO, NULL, 0, 0);
		return;
	}
	if (PQntuples(res) != 1) {
		create_finish(op, EIO, NULL, 0, 0);
		return;
	}
	create_finish(op, cluster_err_from_name(PQgetvalue(res, 0, 0)), res,
		      0, 1);
}

/* ---- batches (allocation = lock) ---- */

static const char create_many_sql[] =
	"SELECT k, err, vn, pin_a, pin_b FROM maskd_session_create_many("
	"$1::bytea[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
	"$6::bigint[], $7::bigint[], $8::boolean[], $9::text[], $10::text[], "
	"$11::boolean[], $12::smallint[], $13::text[], $14::text[], "
	"$15::boolean[], $16::integer[])";

/* The columns of create_many_sql, in the order of struct create_op's
 * vals[] but for the lock flag (always true in a batch). */
#define BATCH_NCOLS (CP_N - 1)

/* A growing string: one array literal. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->err = ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* one element of an array literal: NULL, or "..." with \ and " escaped */
static void sb_elem(struct sbuf *b, const char *s, bool first)
{
	if (!first)
		sb_put(b, ",", 1);
	if (!s) {
		sb_put(b, "NULL", 4);
		return;
	}
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_put(b, "\\", 1);
		sb_put(b, s, 1);
	}
	sb_put(b, "\"", 1);
}

struct create_batch {
	struct cluster *c;
	struct create_op **ops;
	size_t n;
};


static void batch_done(int err, const PGresult *res, void *arg)
{
	struct create_batch *b = arg;
	struct cluster *c = b->c;
	int rows, r;
	size_t i;

	c->batches_out--;
	/* the creates that queued meanwhile go now, as one batch */
	if (c->n_batch && c->batch_ev && !c->batch_scheduled) {
		event_active(c->batch_ev, 0, 0);
		c->batch_scheduled = true;
	}

	if (!err && !cluster_pg_ok(res)) {
		if (cluster_retryable(res)) {
			/* a deadlock or clash of the batch as a whole */
			for (i = 0; i < b->n; i++)
				create_again(b->ops[i]);
			goto out;
		}
		cluster_log_pg_error(c, "create batch", res);
		err = EIO;
	}
	if (err) {
		for (i = 0; i < b->n; i++)
			create_finish(b->ops[i], err, NULL, 0, 0);
		goto out;
	}
	rows = PQntuples(res);
	for (r = 0; r < rows; r++) {
		int64_t k;
		const char *e = PQgetvalue(res, r, 1);

		if (cluster_parse_i64(PQgetvalue(res, r, 0), &k) || k < 1 ||
		    (size_t)k > b->n || !b->ops[k - 1])
			continue;
		i = (size_t)k - 1;
		if (!strcmp(e, "RETRY"))
			create_again(b->ops[i]);
		else
			create_finish(b->ops[i], cluster_err_from_name(e), res,
				      r, 2);
		b->ops[i] = NULL;
	}
	for (i = 0; i < b->n; i++)	/* no row: should not happen */
		if (b->ops[i])
			create_finish(b->ops[i], EIO, NULL, 0, 0);
 out:
	free(b->ops);
	free(b);
}

/* Send up to CLUSTER_BATCH_MAX queued creates as one transaction on
 * @pg (NULL: none is up, they fail). */
static void batch_send(struct cluster *c, struct cluster_pg *pg)
{
	struct sbuf cols[BATCH_NCOLS];
	const char *vals[BATCH_NCOLS];
	struct create_batch *b;
	size_t n = c->n_batch < CLUSTER_BATCH_MAX ? c->n_batch :
		   CLUSTER_BATCH_MAX, i;
	int j, err = 0;

	b = calloc(1, sizeof(*b));
	if (b && !(b->ops = calloc(n, sizeof(*b->ops)))) {
		free(b);
		b = NULL;
	}
	if (!b) {
		/* answer them rather than leave them queued for ever */
		for (i = 0; i < n; i++)
			create_finish(c->batch[i], ENOMEM, NULL, 0, 0);
		memmove(c->batch, c->batch + n,
			(c->n_batch - n) * sizeof(*c->batch));
		c->n_batch -= n;
		return;
	}
	b->c = c;
	b->n = n;
	memcpy(b->ops, c->batch, n * sizeof(*b->ops));
	memmove(c->batch, c->batch + n, (c->n_batch - n) * sizeof(*c->batch));
	c->n_batch -= n;
	memset(cols, 0, sizeof(cols));
	for (j = 0; j < BATCH_NCOLS; j++) {
		sb_put(&cols[j], "{", 1);
		for (i = 0; i < n; i++)
			sb_elem(&cols[j], b->ops[i]->vals[j], i == 0);
		sb_put(&cols[j], "}", 1);
		if (cols[j].err)
			err = cols[j].err;
		vals[j] = cols[j].p;
	}
	for (i = 0; i < n; i++)
		b->ops[i]->attempts++;
	if (!err)
		err = pg ? cluster_pg_query(pg, create_many_sql, BATCH_NCOLS,
					    vals, batch_done, b) : ENOTCONN;
	for (j = 0; j < BATCH_NCOLS; j++)
		free(cols[j].p);
	if (!err) {
		c->batches_out++;
		c->stats.batches++;
		return;
	}
	for (i = 0; i < n; i++)
		create_finish(b->ops[i], err, NULL, 0, 0);
	free(b->ops);
	free(b);
}

/*
 * Send the queued creates: each batch on a connection with nothing
 * queued. When every connection is busy and a batch is out, they wait
 * for its answer (batch_done()) and go then as one bigger batch: under
 * load a batch holds what arrived while the previous ones ran, one
 * commit for all. With no batch out (the connections busy with other
 * queries) they queue on the least busy one.
 */
static void batch_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *c = arg;

	c->batch_scheduled = false;
	while (c->n_batch) {
		struct cluster_pg *pg = cluster_pick(c);

		if (pg && cluster_pg_pending(pg) && c->batches_out)
			break;
		batch_send(c, pg);
	}
}

/* Queue @op for the batch of this loop turn. */
static int batch_add(struct create_op *op)
{
	struct cluster *c = op->c;

	if (!c->batch_ev) {
		c->batch_ev = event_new(c->base, -1, 0, batch_on_event, c);
		if (!c->batch_ev)
			return ENOMEM;
	}
	if (c->n_batch == c->cap_batch) {
		size_t cap = c->cap_batch ? c->cap_batch * 2 : 64;
		struct create_op **nb = realloc(c->batch, cap * sizeof(*nb));

		if (!nb)
			return ENOMEM;
		c->batch = nb;
		c->cap_batch = cap;
	}
	c->batch[c->n_batch++] = op;
	if (!c->batch_scheduled) {
		/* after the loop turn's other ready events: the requests
		 * read in the same wake-up join the batch */
		event_active(c->batch_ev, 0, 0);
		c->batch_scheduled = true;
	}
	return 0;
}

void cluster_create_stop(struct cluster *c)
{
	while (c->n_batch) {
		struct create_op *op = c->batch[--c->n_batch];

		create_finish(op, ENOTCONN, NULL, 0, 0);
	}
	free(c->batch);
	c->batch = NULL;
	c->cap_batch = 0;
	if (c->batch_ev)
		event_free(c->batch_ev);
	c->batch_ev = NULL;
}

int cluster_session_create(struct cluster *c, const struct session_params *p,
			   int64_t now_ms, cluster_session_h *h, void *arg)
{
	const struct session_pin_params *pin = &p->pin;
	struct create_op *op;
	int rc;

	if (p->geo_match != GEO_MATCH_NONE)
		return ENOTSUP;
	if (!e164_valid(p->party_a) || !e164_valid(p->party_b) ||
	    !strcmp(p->party_a, p->party_b) || p->ttl_ms <= 0 ||
	    (p->vn && p->vn[0] && !e164_valid(p->vn)))
		return EINVAL;
	/* the PIN rules of store_pin_check(), before any round trip */
	if (pin->pin_retries > STORE_PIN_RETRIES_MAX)
		return EINVAL;
	if (pin->generate ? (pin->pin_length < STORE_PIN_MIN ||
			     pin->pin_length > STORE_PIN_MAX) :
	    (pin->pin_a && pin->pin_a[0] &&
	     (!store_pin_valid(pin->pin_a) || !pin->pin_b ||
	      !store_pin_valid(pin->pin_b) ||
	      !strcmp(pin->pin_a, pin->pin_b))))
		return EINVAL;
	if (pin->pin_required && !pin->generate &&
	    !(pin->pin_a && pin->pin_a[0]))
		return EINVAL;
	if (!cluster_pick(c)) {
		c->stats.unavailable++;
		return ENOTCONN;
	}

	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->c = c;
	op->h = h;
	op->arg = arg;
	rc = cluster_id_new(c, now_ms, op->s.id);
	if (rc)
		goto fail;
	strcpy(op->s.party_a, p->party_a);	/* validated E.164 */
	strcpy(op->s.party_b, p->party_b);
	op->s.status = SESSION_ACTIVE;
	op->s.created_at_ms = now_ms;
	op->s.expires_at_ms = now_ms + p->ttl_ms;
	op->s.call_time_limit_s = p->call_time_limit_s;
	op->s.record = p->record;
	op->s.pin_required = pin->pin_required;
	op->s.pin_retries = pin->pin_retries;
	rc = ENOMEM;
	if (p->callback_url && !(op->s.callback_url = strdup(p->callback_url)))
		goto fail;
	if (p->metadata && !(op->s.metadata = strdup(p->metadata)))
		goto fail;
	cluster_bytea_hex(op->s.id, op->id_hex);
	snprintf(op->now, sizeof(op->now), "%" PRId64, now_ms);
	snprintf(op->ttl, sizeof(op->ttl), "%" PRId64, p->ttl_ms);
	snprintf(op->ctl, sizeof(op->ctl), "%" PRIu32, p->call_time_limit_s);
	snprintf(op->retries, sizeof(op->retries), "%u", pin->pin_retries);
	snprintf(op->len, sizeof(op->len), "%u", pin->pin_length);
	op->vals[CP_ID] = op->id_hex;
	op->vals[CP_A] = op->s.party_a;
	op->vals[CP_B] = op->s.party_b;
	op->vals[CP_VN] = p->vn ? p->vn : "";
	op->vals[CP_NOW] = op->now;
	op->vals[CP_TTL] = op->ttl;
	op->vals[CP_CTL] = op->ctl;
	op->vals[CP_RECORD] = p->record ? "t" : "f";
	op->vals[CP_CB] = op->s.callback_url;
	op->vals[CP_META] = op->s.metadata;
	op->vals[CP_PIN_REQ] = pin->pin_required ? "t" : "f";
	op->vals[CP_PIN_RETRIES] = op->retries;
	op->vals[CP_PIN_A] = pin->generate ? "" : pin->pin_a ? pin->pin_a : "";
	op->vals[CP_PIN_B] = pin->generate ? "" : pin->pin_b ? pin->pin_b : "";
	op->vals[CP_PIN_GEN] = pin->generate ? "t" : "f";
	op->vals[CP_PIN_LEN] = op->len;
	op->vals[CP_LOCK] = c->alloc == CLUSTER_ALLOC_LOCK ? "t" : "f";
	/* vals are copied by cluster_pg_query(), except those we keep for
	 * a retry: all of them point into op or p's copies above, but
	 * p->vn and the PINs are the caller's: copy them too */
	if (p->vn && p->vn[0]) {
		strcpy(op->s.vn, p->vn);
		op->vals[CP_VN] = op->s.vn;
	}
	if (!pin->generate && pin->pin_a && pin->pin_a[0]) {
		strcpy(op->s.pin_a, pin->pin_a);
		strcpy(op->s.pin_b, pin->pin_b);
		op->vals[CP_PIN_A] = op->s.pin_a;
		op->vals[CP_PIN_B] = op->s.pin_b;
	}
	rc = create_send(op);
	if (rc)
		goto fail;
	return 0;
 fail:
	create_op_free(op);
	return rc;
}

