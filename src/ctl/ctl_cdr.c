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
		store_id_format(c->cdr.id, id);
		log_error(c->ctl->log, "ctl: call record %s lost: %s", id,
			  strerror(err));
		c->ctl->ctr.cdrs_lost++;
	} else {
		c->ctl->ctr.cdrs_written++;
	}
	free(c);
}

void ctl_cdr_store(struct ctl *ctl, const struct cdr *cdr)
{
	struct ctl_cdr_op *c = malloc(sizeof(*c));

	if (!c) {
		log_error(ctl->log, "ctl: call record lost: out of memory");
		ctl->ctr.cdrs_lost++;
		return;
	}
	c->ctl = ctl;
	c->cdr = *cdr;
	if (writer_submit(ctl->w, ctl_cdr_run, ctl_cdr_done, c)) {
		log_error(ctl->log, "ctl: call record lost: out of memory");
		ctl->ctr.cdrs_lost++;
		free(c);
	}
}

int ctl_session_calls(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      struct session *s, cdr_list_h *h, void *arg)
{
	int err;

	err = store_session_get(ctl->rd, id, clock_now_ms(), s);
	if (err)
		return err;
	return store_cdr_list(ctl->rd, id, h, arg);
}
