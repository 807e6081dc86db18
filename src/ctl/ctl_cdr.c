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

	return store_cdr_add(tx, &c->cdr);
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
