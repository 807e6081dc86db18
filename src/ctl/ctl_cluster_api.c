/*
 * ctl_cluster_api.c - the rest of the API in cluster mode, so that any
 * node's API serves any session (ctl_cluster.c has create and close):
 *   - PATCH /v1/sessions/{id}: PostgreSQL applies it
 *     (cluster_session_patch()), then this node's LMDB takes the session
 *     as it now is, so this node's reads show it at once; the other
 *     nodes get it from the changes feed;
 *   - the pool: PostgreSQL's is the one allocation reads, with every
 *     node's active counts; added, removed and read there;
 *   - GET /v1/calls/{id}: a call this node has no record of is looked
 *     up among the records the nodes exported (cluster_cdr_get()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/cluster.h"
#include "maskd/store_mirror.h"

#include "ctl_internal.h"

/* What PostgreSQL being out of reach (or lost in the middle) looks
 * like: nothing known to have been done, the API says 503. */
static bool ctl_cluster_lost(int err)
{
	return err == ENOTCONN || err == ECONNRESET || err == EBUSY ||
	       err == EIO || err == ENOMEM;
}

/* ---- PATCH ---- */

struct ctl_patch_op {
	struct ctl *ctl;
	ctl_session_h *h;
	void *arg;
	int err;			/* refused at once: told from the loop */
	struct session s;		/* owned strings */
};

static void patch_op_free(struct ctl_patch_op *op)
{
	session_clear(&op->s);
	explicit_bzero(op, sizeof(*op));	/* PINs */
	free(op);
}

static int patch_mirror_run(struct store_txn *tx, void *arg)
{
	struct ctl_patch_op *op = arg;

	return store_session_mirror(tx, &op->s, NULL);
}

static void patch_mirror_done(int err, void *arg)
{
	struct ctl_patch_op *op = arg;

	/* PostgreSQL has it: the feed brings it here again */
	if (err)
		log_warn(op->ctl->log, "ctl: cluster: the local cache did not "
			 "take a change (the feed will bring it): %s",
			 strerror(err));
	op->h(0, false, &op->s, op->arg);
	patch_op_free(op);
}

static void patch_done(int err, const struct session *s, void *arg)
{
	struct ctl_patch_op *op = arg;

	if (!err && session_copy(&op->s, s))
		err = ENOMEM;
	if (err) {
		op->h(err, ctl_cluster_lost(err), NULL, op->arg);
		patch_op_free(op);
		return;
	}
	if (writer_submit(op->ctl->w, patch_mirror_run, patch_mirror_done, op))
		patch_mirror_done(ENOMEM, op);
}

/* A patch refused before it reached PostgreSQL: @h runs from the loop,
 * after ctl_cluster_patch() returned 0, as it always does. */
static void patch_refused(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_patch_op *op = arg;

	op->h(op->err, false, NULL, op->arg);
	patch_op_free(op);
}

int ctl_cluster_patch(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      const struct session_patch *p, int64_t ttl_ms,
		      ctl_session_h *h, void *arg)
{
	struct ctl_patch_op *op = calloc(1, sizeof(*op));
	struct session_patch patch = *p;
	int64_t now = clock_now_ms();
	int err;

	if (!op)
		return ENOMEM;
	op->ctl = ctl;
	op->h = h;
	op->arg = arg;
	if (ttl_ms > 0) {
		patch.set_expires_at = true;
		patch.expires_at_ms = now + ttl_ms;
	}
	err = cluster_session_patch(ctl->cluster, id, &patch, now, patch_done,
				    op);
	if (err == EINVAL) {
		op->err = err;
		err = event_base_once(ctl->base, -1, EV_TIMEOUT, patch_refused,
				      op, NULL) ? ENOMEM : 0;
		if (!err)
			return 0;
	}
	if (err)
		patch_op_free(op);
	return err;
}

/* ---- the pool ---- */

struct ctl_pool_op {
	struct ctl *ctl;
	ctl_number_h *added;
	ctl_done_h *removed;
	ctl_numbers_h *list;
	void *arg;
	struct pool_number num;
};

static void pool_added(int err, void *arg)
{
	struct ctl_pool_op *op = arg;

	op->added(err, ctl_cluster_lost(err), err ? NULL : &op->num, op->arg);
	free(op);
}

int ctl_cluster_number_add(struct ctl *ctl, const char *vn,
			   const char *country, ctl_number_h *h, void *arg)
{
	struct ctl_pool_op *op = calloc(1, sizeof(*op));
	int err;

	if (!op)
		return ENOMEM;
	op->ctl = ctl;
	op->added = h;
	op->arg = arg;
	snprintf(op->num.vn, sizeof(op->num.vn), "%s", vn);
	snprintf(op->num.country, sizeof(op->num.country), "%s",
		 country ? country : "");
	op->num.added_at_ms = clock_now_ms();
	err = cluster_pool_add(ctl->cluster, op->num.vn, op->num.country,
			       op->num.added_at_ms, pool_added, op);
	if (err)
		free(op);
	return err;
}

static void pool_removed(int err, void *arg)
{
	struct ctl_pool_op *op = arg;

	/* EBUSY here is the pool's answer: in use */
	op->removed(err, err != EBUSY && ctl_cluster_lost(err), op->arg);
	free(op);
}

int ctl_cluster_number_remove(struct ctl *ctl, const char *vn, ctl_done_h *h,
			      void *arg)
{
	struct ctl_pool_op *op = calloc(1, sizeof(*op));
	int err;

	if (!op)
		return ENOMEM;
	op->ctl = ctl;
	op->removed = h;
	op->arg = arg;
	err = cluster_pool_remove(ctl->cluster, vn, clock_now_ms(),
				  pool_removed, op);
	if (err)
		free(op);
	return err;
}

static void pool_listed(int err, const struct pool_number *v, size_t n,
			void *arg)
{
	struct ctl_pool_op *op = arg;

	op->list(err, v, n, op->arg);
	free(op);
}

int ctl_number_list_all(struct ctl *ctl, const char *vn, ctl_numbers_h *h,
			void *arg)
{
	struct ctl_pool_op *op;
	int err;

	if (!ctl->cluster)
		return ENOSYS;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->ctl = ctl;
	op->list = h;
	op->arg = arg;
	err = cluster_pool_list(ctl->cluster, vn, pool_listed, op);
	if (err)
		free(op);
	return err;
}

/* ---- a call's record, whichever node wrote it ---- */

struct ctl_record_op {
	struct ctl *ctl;
	ctl_record_h *h;
	void *arg;
	struct cdr cdr;
};

static void record_session(int err, const struct session *s, void *arg)
{
	struct ctl_record_op *op = arg;

	/* no session (purged since): ENOENT, as ctl_call_record() */
	op->h(err, err ? NULL : &op->cdr, s, op->arg);
	free(op);
}

static void record_found(int err, const struct cdr *c, size_t n, void *arg)
{
	struct ctl_record_op *op = arg;
	struct ctl *ctl = op->ctl;
	struct session s;

	if (err || n != 1) {
		op->h(err ? err : ENOENT, NULL, NULL, op->arg);
		free(op);
		return;
	}
	op->cdr = *c;
	if (cdr_sessionless(&op->cdr)) {
		op->h(0, &op->cdr, NULL, op->arg);
		free(op);
		return;
	}
	/* the session: this node's cache has it (the feed), else
	 * PostgreSQL */
	memset(&s, 0, sizeof(s));
	err = ctl_session_get(ctl, op->cdr.session_id, &s);
	if (!err) {
		op->h(0, &op->cdr, &s, op->arg);
		session_clear(&s);
		free(op);
		return;
	}
	session_clear(&s);
	err = cluster_session_get(ctl->cluster, op->cdr.session_id,
				  clock_now_ms(), record_session, op);
	if (err)
		record_session(err, NULL, op);
}

int ctl_call_record_all(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
			ctl_record_h *h, void *arg)
{
	struct ctl_record_op *op;
	int err;

	if (!ctl->cluster)
		return ENOSYS;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->ctl = ctl;
	op->h = h;
	op->arg = arg;
	err = cluster_cdr_get(ctl->cluster, call_id, record_found, op);
	if (err)
		free(op);
	return err;
}
