/*
 * ctl_rec.c - recordings into the store: what the recorder thread
 * reports (recorder.h) updates the call record's recording fields, and
 * recording.ready / recording.failed go into the outbox in the same
 * transaction; DELETE /v1/calls/{id}/recording.
 *
 * A recording ends a moment after its call's record was handed over
 * (the file is finished once the relay has let go of it), but the record
 * may still be queued (the CDR mailbox, the writer's batch): a report
 * that finds no record is tried again every CTL_REC_RETRY_MS, a few
 * times, before it is given up (logged, counted).
 *
 * Control thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "maskd/recorder.h"
#include "ctl_internal.h"

#define CTL_REC_RETRY_MS 500
#define CTL_REC_TRIES 20

struct ctl_rec_op {
	struct ctl *ctl;
	struct rec_result res;
	unsigned tries;
	struct event *retry;
};

static void ctl_rec_submit(struct ctl_rec_op *o);

/* The recording fields a result sets on its record. */
static void ctl_rec_fields(const struct rec_result *r, struct cdr *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->id, r->call_id, STORE_ID_LEN);
	switch (r->kind) {
	case REC_RESULT_READY:
		c->rec_state = CDR_REC_READY;
		c->rec_format = r->format;
		c->rec_duration_ms = r->duration_ms;
		c->rec_bytes = r->bytes;
		memcpy(c->rec_sha256, r->sha256, sizeof(c->rec_sha256));
		break;
	case REC_RESULT_FAILED:
		c->rec_state = CDR_REC_FAILED;
		c->rec_format = r->format;
		snprintf(c->rec_reason, sizeof(c->rec_reason), "%s",
			 r->reason);
		break;
	case REC_RESULT_PURGED:
		c->rec_state = CDR_REC_DELETED;
		c->rec_format = r->format;
		snprintf(c->rec_reason, sizeof(c->rec_reason), "retention");
		break;
	}
}

static int ctl_rec_run(struct store_txn *tx, void *arg)
{
	struct ctl_rec_op *o = arg;
	struct session s;
	struct cdr c;
	int err;

	ctl_rec_fields(&o->res, &c);
	err = store_cdr_recording_set(tx, o->res.call_id, &c);
	if (err || o->res.kind == REC_RESULT_PURGED)
		return err;
	memset(&s, 0, sizeof(s));
	err = store_session_read(tx, o->res.session_id, &s);
	if (err == ENOENT)
		return 0;	/* purged meanwhile: nobody to tell */
	if (!err)
		err = ctl_event_recording(o->ctl, tx, &c, &s, clock_now_ms());
	session_clear(&s);
	return err;
}

static void ctl_rec_free(struct ctl_rec_op *o)
{
	if (o->retry)
		event_free(o->retry);
	free(o);
}

static void ctl_rec_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ctl_rec_submit(arg);
}

static void ctl_rec_done(int err, void *arg)
{
	struct ctl_rec_op *o = arg;
	struct ctl *ctl = o->ctl;
	struct timeval tv = { CTL_REC_RETRY_MS / 1000,
			      CTL_REC_RETRY_MS % 1000 * 1000 };
	char id[STORE_ID_STR_SIZE];

	if (err == ENOENT && o->res.kind != REC_RESULT_PURGED &&
	    ++o->tries < CTL_REC_TRIES) {
		if (!o->retry)
			o->retry = evtimer_new(ctl->base, ctl_rec_on_retry, o);
		if (o->retry && !evtimer_add(o->retry, &tv))
			return;
	}
	/* a purged file whose record is gone already: nothing to say */
	if (err && !(err == ENOENT && o->res.kind == REC_RESULT_PURGED)) {
		store_id_format(o->res.call_id, id);
		log_warn(ctl->log, "ctl: call %s: its recording's state was not "
			 "stored: %s", id, strerror(err));
		ctl->ctr.rec_updates_lost++;
	}
	ctl_rec_free(o);
}

static void ctl_rec_submit(struct ctl_rec_op *o)
{
	if (writer_submit(o->ctl->w, ctl_rec_run, ctl_rec_done, o)) {
		log_warn(o->ctl->log, "ctl: a recording's state lost: out of "
			 "memory");
		o->ctl->ctr.rec_updates_lost++;
		ctl_rec_free(o);
	}
}

void ctl_rec_result(struct ctl *ctl, const struct rec_result *r)
{
	struct ctl_rec_op *o = calloc(1, sizeof(*o));

	if (!o) {
		log_warn(ctl->log, "ctl: a recording's state lost: out of "
			 "memory");
		ctl->ctr.rec_updates_lost++;
		return;
	}
	o->ctl = ctl;
	o->res = *r;
	ctl_rec_submit(o);
}

/* ---- DELETE /v1/calls/{id}/recording ---- */

static int ctl_rec_delete_run(struct ctl_op *op, struct store_txn *tx)
{
	struct cdr c;

	memset(&c, 0, sizeof(c));
	c.rec_state = CDR_REC_DELETED;
	snprintf(c.rec_reason, sizeof(c.rec_reason), "deleted");
	return store_cdr_recording_set(tx, op->id, &c);
}

static void ctl_rec_delete_done(struct ctl_op *op, int err, bool lost)
{
	op->h.done(err, lost, op->arg);
}

int ctl_rec_delete(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		   ctl_done_h *done, void *arg)
{
	char path[CONFIG_PATH_SIZE + 64];
	struct ctl_op *op;
	int f;

	/* the file first: a record that says deleted never names a file
	 * still there; both extensions, whatever the format is now */
	for (f = REC_FORMAT_WAV; f <= REC_FORMAT_MP3; f++) {
		if (!recorder_path(ctl->cfg->recording.dir, call_id,
				   (enum rec_format)f, path, sizeof(path)))
			(void)unlink(path);
	}
	op = ctl_op_new(ctl, arg);
	if (!op)
		return ENOMEM;
	op->h.done = done;
	memcpy(op->id, call_id, STORE_ID_LEN);
	op->run = ctl_rec_delete_run;
	op->done = ctl_rec_delete_done;
	return ctl_op_submit(op);
}
