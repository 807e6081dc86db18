/*
 * ctl_number.c - the virtual number pool: add, remove, reads.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl_internal.h"

static int ctl_number_add_run(struct ctl_op *op, struct store_txn *tx)
{
	return store_pool_add(tx, op->vn, op->country, op->now_ms);
}

static void ctl_number_add_done(struct ctl_op *op, int err, bool lost)
{
	if (!err) {
		memset(&op->num, 0, sizeof(op->num));
		memcpy(op->num.vn, op->vn, sizeof(op->num.vn));
		memcpy(op->num.country, op->country, sizeof(op->num.country));
		op->num.added_at_ms = op->now_ms;
	}
	op->h.number(err, lost, err ? NULL : &op->num, op->arg);
}

int ctl_number_add(struct ctl *ctl, const char *vn, const char *country,
		   ctl_number_h *h, void *arg)
{
	struct ctl_op *op;

	if (ctl->cluster)	/* [cluster]: ctl_cluster_api.c */
		return ctl_cluster_number_add(ctl, vn, country, h, arg);
	op = ctl_op_new(ctl, arg);
	if (!op)
		return ENOMEM;
	op->h.number = h;
	snprintf(op->vn, sizeof(op->vn), "%s", vn);
	snprintf(op->country, sizeof(op->country), "%s",
		 country ? country : "");
	op->run = ctl_number_add_run;
	op->done = ctl_number_add_done;
	return ctl_op_submit(op);
}

static int ctl_number_remove_run(struct ctl_op *op, struct store_txn *tx)
{
	return store_pool_remove(tx, op->vn, op->now_ms);
}

static void ctl_number_remove_done(struct ctl_op *op, int err, bool lost)
{
	op->h.done(err, lost, op->arg);
}

int ctl_number_remove(struct ctl *ctl, const char *vn, ctl_done_h *h,
		      void *arg)
{
	struct ctl_op *op;

	if (ctl->cluster)	/* [cluster]: ctl_cluster_api.c */
		return ctl_cluster_number_remove(ctl, vn, h, arg);
	op = ctl_op_new(ctl, arg);
	if (!op)
		return ENOMEM;
	op->h.done = h;
	snprintf(op->vn, sizeof(op->vn), "%s", vn);
	op->run = ctl_number_remove_run;
	op->done = ctl_number_remove_done;
	return ctl_op_submit(op);
}

int ctl_number_get(struct ctl *ctl, const char *vn, struct pool_number *out)
{
	return store_pool_get(ctl->rd, vn, out);
}

int ctl_number_list(struct ctl *ctl, pool_list_h *h, void *arg)
{
	return store_pool_list(ctl->rd, h, arg);
}
