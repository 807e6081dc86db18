/*
 * ctl_cdr.c - call records: the sink that brings each finished call from
 * the SIP thread (through main.c's mailbox) into the store, and the reads.
 *
 * A record is small and fixed-size, so it rides in its own little op
 * rather than a struct ctl_op.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

struct ctl_cdr_op {
	struct ctl *ctl;
	struct cdr cdr;
};

static int ctl_cdr_run(struct store_txn *tx, void *arg)
{
	struct ctl_cdr_op *c = arg;
	struct session s;
	int err;

	err = store_cdr_add(tx, &c->cdr);
	if (err)
		return err;
	/* a call maskd answered alone: no session, no call.* event (its
	 * pin.result or call.unrouted told of it); the bound holds */
	if (cdr_sessionless(&c->cdr))
		return store_cdr_sessionless_trim(tx,
			c->ctl->cfg->store.sessionless_calls_max, NULL);
	/* call.completed / call.failed ride in the record's transaction */
	memset(&s, 0, sizeof(s));
	err = store_session_read(tx, c->cdr.session_id, &s);
	if (err == ENOENT)
		return 0;	/* no session to report it for */
	if (!err)
		err = ctl_event_cdr(c->ctl, tx, &c->cdr, &s, clock_now_ms());
	session_clear(&s);
	return err;
}

static void ctl_cdr_done(int err, void *arg)
{
	struct ctl_cdr_op *c = arg;
	char id[STORE_ID_STR_SIZE];

	if (err) {
		/* never refused up front (the API's store-full guard leaves
		 * them the reserve): this is a record that did not fit */
		store_id_format(c->cdr.id, id);
		log_error(c->ctl->log, "ctl: call record %s lost: %s", id,
			  err == EDQUOT ? "the store is full (raise [store] "
			  "map_size or lower [store] retention)" :
			  strerror(err));
		c->ctl->ctr.cdrs_lost++;
	} else {
		c->ctl->ctr.cdrs_written++;
	}
	free(c);
}

/* ---- progress and unrouted: events only, never records ---- */

static int ctl_progress_run(struct store_txn *tx, void *arg)
{
	struct ctl_cdr_op *c = arg;
	struct session s;
	int err;

	if (c->cdr.kind == CDR_KIND_UNROUTED)
		return ctl_event_unrouted(c->ctl, tx, &c->cdr, clock_now_ms());
	memset(&s, 0, sizeof(s));
	err = store_session_read(tx, c->cdr.session_id, &s);
	if (err == ENOENT && c->cdr.kind == CDR_KIND_PIN)
		return ctl_event_pin(c->ctl, tx, &c->cdr, NULL,
				     clock_now_ms());	/* no PIN was right */
	if (err == ENOENT)
		return 0;
	if (!err && c->cdr.kind == CDR_KIND_PIN)
		err = ctl_event_pin(c->ctl, tx, &c->cdr, &s, clock_now_ms());
	else if (!err)
		err = ctl_event_progress(c->ctl, tx, &c->cdr, &s,
					 clock_now_ms());
	session_clear(&s);
	return err;
}

static void ctl_progress_done(int err, void *arg)
{
	struct ctl_cdr_op *c = arg;

	if (err)
		log_warn(c->ctl->log, "ctl: a call event was not stored: %s",
			 strerror(err));
	free(c);
}

/* Only what can go somewhere is queued: events off cost no write. */
static bool ctl_progress_wanted(struct ctl *ctl, const struct cdr *cdr)
{
	struct session s;
	bool want;

	if (ctl->evc.url_set)
		return true;
	if (cdr->kind == CDR_KIND_UNROUTED)
		return false;
	if (cdr->kind == CDR_KIND_PIN && cdr->pin_status != CDR_PIN_SUCCESS)
		return false;	/* no session: [events] url only */
	memset(&s, 0, sizeof(s));
	if (ctl_session_get(ctl, cdr->session_id, &s))
		return false;
	want = s.callback_url && *s.callback_url;
	session_clear(&s);
	return want;
}

static void ctl_progress_store(struct ctl *ctl, const struct cdr *cdr)
{
	struct ctl_cdr_op *c;

	if (!ctl_progress_wanted(ctl, cdr))
		return;
	c = malloc(sizeof(*c));
	if (!c) {
		log_warn(ctl->log, "ctl: a call event lost: out of memory");
		return;
	}
	c->ctl = ctl;
	c->cdr = *cdr;
	if (writer_submit_group(ctl->w, ctl_progress_run, ctl_progress_done,
				c)) {
		log_warn(ctl->log, "ctl: a call event lost: out of memory");
		free(c);
	}
}

void ctl_cdr_store(struct ctl *ctl, const struct cdr *cdr)
{
	struct ctl_cdr_op *c;

	if (ctl->cluster)
		ctl_cluster_call(ctl, cdr);	/* the session's claim */
	if (cdr->kind != CDR_KIND_FINAL) {
		ctl_progress_store(ctl, cdr);
		return;
	}
	if (cdr_sessionless(cdr) && !ctl->cfg->store.sessionless_calls_max)
		return;		/* none kept, by configuration */
	c = malloc(sizeof(*c));

	if (!c) {
		log_error(ctl->log, "ctl: call record lost: out of memory");
		ctl->ctr.cdrs_lost++;
		return;
	}
	c->ctl = ctl;
	c->cdr = *cdr;
	if (writer_submit_group(ctl->w, ctl_cdr_run, ctl_cdr_done, c)) {
		log_error(ctl->log, "ctl: call record lost: out of memory");
		ctl->ctr.cdrs_lost++;
		free(c);
	}
}

int ctl_session_calls(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      struct session *s, cdr_list_h *h, void *arg)
{
	int err;

	err = ctl_session_get(ctl, id, s);
	if (err)
		return err;
	return store_cdr_list(ctl->rd, id, h, arg);
}

int ctl_cdr_get(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		struct cdr *out)
{
	return store_cdr_get(ctl->rd, call_id, out);
}
