/*
 * ctl_session.c - sessions: create (with VN allocation), patch, close,
 * and the reads.
 *
 * Closing a session that has a call up also ends that call: a platform
 * closes a session when the order is cancelled or the ride is over, and
 * expects the masked line to stop now, not only for the next call. The
 * SIP thread is told once the close is on disk, by a copied command
 * (sip_cmd_session_end()); ctl never waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "maskd/sip.h"

#include "ctl_internal.h"

#define CTL_REASON_SESSION_CLOSED "session_closed"

static void ctl_session_done(struct ctl_op *op, int err, bool lost)
{
	op->h.session(err, lost, err ? NULL : &op->out, op->arg);
}

/* ctl_pin_copy() - @pin's strings into @op, and @pin pointed at them. */
static void ctl_pin_copy(struct ctl_op *op, struct session_pin_params *pin)
{
	snprintf(op->pin_a, sizeof(op->pin_a), "%s",
		 pin->pin_a ? pin->pin_a : "");
	snprintf(op->pin_b, sizeof(op->pin_b), "%s",
		 pin->pin_b ? pin->pin_b : "");
	pin->pin_a = op->pin_a[0] ? op->pin_a : NULL;
	pin->pin_b = op->pin_b[0] ? op->pin_b : NULL;
}

/* ---- create ---- */

static int ctl_create_run(struct ctl_op *op, struct store_txn *tx)
{
	int err;

	err = store_session_create(tx, &op->params, op->now_ms, &op->out);
	if (!err)
		err = ctl_event_session(op->ctl, tx, "session.created",
					&op->out, op->now_ms, op->now_ms);
	return err;
}

static void ctl_create_done(struct ctl_op *op, int err, bool lost)
{
	if (!err) {
		op->ctl->ctr.creates++;
		if (op->out.geo_matched)
			op->ctl->ctr.geo_matched++;
		else if (op->params.geo_match != GEO_MATCH_NONE)
			op->ctl->ctr.geo_fallback++;
	}
	ctl_session_done(op, err, lost);
}

int ctl_session_create(struct ctl *ctl, const struct session_params *p,
		       ctl_session_h *h, void *arg)
{
	struct ctl_op *op;
	int err = 0;

	if (ctl->cluster)	/* [cluster]: ctl_cluster.c */
		return ctl_cluster_create(ctl, p, h, arg);
	op = ctl_op_new(ctl, arg);
	if (!op)
		return ENOMEM;
	op->h.session = h;
	snprintf(op->party_a, sizeof(op->party_a), "%s", p->party_a);
	snprintf(op->party_b, sizeof(op->party_b), "%s", p->party_b);
	snprintf(op->vn, sizeof(op->vn), "%s", p->vn ? p->vn : "");
	op->callback_url = ctl_strdup(p->callback_url, &err);
	op->metadata = ctl_strdup(p->metadata, &err);
	op->params = *p;
	op->params.party_a = op->party_a;
	op->params.party_b = op->party_b;
	op->params.vn = op->vn[0] ? op->vn : NULL;
	op->params.callback_url = op->callback_url;
	op->params.metadata = op->metadata;
	ctl_pin_copy(op, &op->params.pin);
	op->run = ctl_create_run;
	op->done = ctl_create_done;
	if (err) {
		ctl_op_free(op);
		return err;
	}
	return ctl_op_submit(op);
}

/* ---- patch ---- */

static int ctl_patch_run(struct ctl_op *op, struct store_txn *tx)
{
	if (op->ttl_ms)
		op->patch.expires_at_ms = op->now_ms + op->ttl_ms;
	return store_session_update(tx, op->id, &op->patch, op->now_ms,
				    &op->out);
}

int ctl_session_patch(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      const struct session_patch *p, int64_t ttl_ms,
		      ctl_session_h *h, void *arg)
{
	struct ctl_op *op;
	int err = 0;

	if (ctl->cluster)	/* [cluster]: ctl_cluster_api.c */
		return ctl_cluster_patch(ctl, id, p, ttl_ms, h, arg);
	op = ctl_op_new(ctl, arg);
	if (!op)
		return ENOMEM;
	op->h.session = h;
	memcpy(op->id, id, STORE_ID_LEN);
	op->patch = *p;
	op->callback_url = ctl_strdup(p->callback_url, &err);
	op->patch.callback_url = op->callback_url;
	ctl_pin_copy(op, &op->patch.pin);
	if (ttl_ms > 0) {
		op->ttl_ms = ttl_ms;
		op->patch.set_expires_at = true;
	}
	op->run = ctl_patch_run;
	op->done = ctl_session_done;
	if (err) {
		ctl_op_free(op);
		return err;
	}
	return ctl_op_submit(op);
}

/* ---- close ---- */

static int ctl_close_run(struct ctl_op *op, struct store_txn *tx)
{
	int err;

	err = store_session_close(tx, op->id, op->now_ms, &op->out);
	if (!err)
		err = ctl_event_session(op->ctl, tx, "session.closed",
					&op->out, op->now_ms, op->now_ms);
	return err;
}

static void ctl_close_done(struct ctl_op *op, int err, bool lost)
{
	struct ctl *ctl = op->ctl;
	char id[STORE_ID_STR_SIZE];
	int cerr;

	/* only a close that is on disk ends the call: a lost one did not
	 * happen, and the client will hear so */
	if (!err && ctl->sip) {
		cerr = sip_cmd_session_end(ctl->sip, op->id,
					   CTL_REASON_SESSION_CLOSED);
		if (cerr) {
			ctl->ctr.sip_cmds_lost++;
			store_id_format(op->id, id);
			log_warn(ctl->log, "ctl: session %s closed, but its "
				 "call (if any) cannot be told to end: %s", id,
				 strerror(cerr));
		}
	}
	ctl_session_done(op, err, lost);
}

int ctl_session_close(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      ctl_session_h *h, void *arg)
{
	struct ctl_op *op;

	if (ctl->cluster)	/* [cluster]: ctl_cluster.c */
		return ctl_cluster_close(ctl, id, h, arg);
	op = ctl_op_new(ctl, arg);
	if (!op)
		return ENOMEM;
	op->h.session = h;
	memcpy(op->id, id, STORE_ID_LEN);
	op->run = ctl_close_run;
	op->done = ctl_close_done;
	return ctl_op_submit(op);
}

/* ---- reads ---- */

int ctl_session_get(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		    struct session *out)
{
	int64_t now = clock_now_ms();
	int err = store_session_get(ctl->rd, id, now, out);

	if (err == ENOENT && ctl->cluster)
		err = ctl_cluster_unmirrored_get(ctl, id, now, out);
	return err;
}

int ctl_session_list(struct ctl *ctl, const struct session_filter *f,
		     session_list_h *h, void *arg, bool *more)
{
	return store_session_list(ctl->rd, f, clock_now_ms(), h, arg, more);
}
