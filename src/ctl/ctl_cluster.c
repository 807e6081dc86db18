/*
 * ctl_cluster.c - session create and close when [cluster] store is set
 * (ctl_set_cluster()): PostgreSQL decides (cluster_session_create(),
 * cluster_session_close(): race-free across nodes), then this node's
 * LMDB follows at once, with the session.created / session.closed event
 * in the same LMDB transaction as in single-node mode, so the node that
 * made the change routes it without waiting for its own feed and its
 * webhooks go out as before. The other nodes get it from the feed
 * (cluster_feed_start()). Reads and patches stay local for now.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/cluster.h"
#include "maskd/sip.h"
#include "maskd/store_mirror.h"

#include "ctl_internal.h"

struct ctl_cluster_op {
	struct ctl *ctl;
	ctl_session_h *h;
	void *arg;
	const char *event;		/* "session.created", ... */
	bool close;
	int err;			/* PostgreSQL's answer */
	int64_t now_ms;
	struct session s;		/* owned strings */
};

static void op_free(struct ctl_cluster_op *op)
{
	session_clear(&op->s);
	explicit_bzero(op, sizeof(*op));	/* PINs */
	free(op);
}

static int mirror_run(struct store_txn *tx, void *arg)
{
	struct ctl_cluster_op *op = arg;
	int err;

	err = store_session_mirror(tx, &op->s, NULL);
	if (!err && !op->err)
		err = ctl_event_session(op->ctl, tx, op->event, &op->s,
					op->now_ms, op->now_ms);
	return err;
}

static void mirror_done(int err, void *arg)
{
	struct ctl_cluster_op *op = arg;
	struct ctl *ctl = op->ctl;

	/* PostgreSQL has it: the change happened whatever LMDB said, and
	 * the feed brings the row here again */
	if (err)
		log_warn(ctl->log, "ctl: cluster: the local cache did not take "
			 "a change (the feed will bring it): %s",
			 strerror(err));
	if (!op->err && op->close && ctl->sip &&
	    sip_cmd_session_end(ctl->sip, op->s.id, "session_closed"))
		ctl->ctr.sip_cmds_lost++;
	if (!op->err && !op->close)
		ctl->ctr.creates++;
	op->h(op->err, false, op->err ? NULL : &op->s, op->arg);
	op_free(op);
}

/* PostgreSQL's answer: EALREADY (close) still carries the session */
static void cluster_done(int err, const struct session *s, void *arg)
{
	struct ctl_cluster_op *op = arg;
	bool lost = err == ENOTCONN || err == ECONNRESET || err == EBUSY ||
		    err == EIO;

	if (s && (err == 0 || err == EALREADY)) {
		op->s = *s;
		op->s.callback_url = NULL;
		op->s.metadata = NULL;
		if ((s->callback_url &&
		     !(op->s.callback_url = strdup(s->callback_url))) ||
		    (s->metadata && !(op->s.metadata = strdup(s->metadata)))) {
			err = ENOMEM;
			lost = true;
		}
	}
	if (err && err != EALREADY) {
		op->h(err, lost, NULL, op->arg);
		op_free(op);
		return;
	}
	op->err = err;
	if (writer_submit(op->ctl->w, mirror_run, mirror_done, op))
		mirror_done(ENOMEM, op);
}

static struct ctl_cluster_op *op_new(struct ctl *ctl, ctl_session_h *h,
				     void *arg, const char *event)
{
	struct ctl_cluster_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->ctl = ctl;
	op->h = h;
	op->arg = arg;
	op->event = event;
	op->now_ms = clock_now_ms();
	return op;
}

int ctl_cluster_create(struct ctl *ctl, const struct session_params *p,
		       ctl_session_h *h, void *arg)
{
	struct ctl_cluster_op *op = op_new(ctl, h, arg, "session.created");
	int err;

	if (!op)
		return ENOMEM;
	err = cluster_session_create(ctl->cluster, p, op->now_ms,
				     cluster_done, op);
	if (err)
		op_free(op);
	return err;
}

int ctl_cluster_close(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      ctl_session_h *h, void *arg)
{
	struct ctl_cluster_op *op = op_new(ctl, h, arg, "session.closed");
	int err;

	if (!op)
		return ENOMEM;
	op->close = true;
	err = cluster_session_close(ctl->cluster, id, op->now_ms,
				    cluster_done, op);
	if (err)
		op_free(op);
	return err;
}

void ctl_set_cluster(struct ctl *ctl, struct cluster *c)
{
	ctl->cluster = c;
}
