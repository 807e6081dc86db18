/*
 * test_store_export.c - the export queue of cluster mode
 * (store_mirror.h): off, nothing is queued; on, a call record, its
 * recording update, an event and its final delivery each queue an
 * entry in their own transaction, in commit order; an aborted
 * transaction queues nothing; store_export_done() deletes a prefix, and
 * numbering goes on after the queue emptied; the queue survives a
 * reopen.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "maskd/store.h"
#include "maskd/store_mirror.h"

#define MAP_SIZE (64ULL << 20)
#define T0 1700000000000LL

#include "store_fx.h"

static void cdr_add(struct fx *f, int64_t at, struct cdr *c)
{
	struct store_txn *tx;

	memset(c, 0, sizeof(*c));
	memset(c->session_id, 0x11, STORE_ID_LEN);
	assert_int_equal(store_cdr_id_new(at, c->id), 0);
	c->start_ms = at;
	c->end_ms = at + 1000;
	c->final_code = 200;
	strcpy(c->reason, "normal");
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_add(tx, c), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

static void event_add(struct fx *f, struct event *ev)
{
	struct store_txn *tx;
	char body[] = "{\"type\":\"call.completed\"}";

	memset(ev, 0, sizeof(*ev));
	strcpy(ev->type, "call.completed");
	ev->body = body;
	ev->body_len = strlen(body);
	ev->next_at_ms = T0;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_add(tx, ev, T0, 0, NULL), 0);
	assert_int_equal(store_write_commit(tx), 0);
	ev->body = NULL;
}

static unsigned pending(struct fx *f)
{
	uint64_t n = 99;

	assert_int_equal(store_export_pending(f->r, &n), 0);
	return (unsigned)n;
}

static void test_off_queues_nothing(void **state)
{
	struct fx *f = *state;
	struct cdr c;
	struct event ev;

	cdr_add(f, T0, &c);
	event_add(f, &ev);
	assert_int_equal(pending(f), 0);
}

static void test_order_and_done(void **state)
{
	struct fx *f = *state;
	struct store_export_entry e[8];
	struct event_attempt a = { .status = EVENT_DELIVERED, .code = 200,
				   .at_ms = T0 + 5 };
	struct store_txn *tx;
	struct cdr c, c2;
	struct event ev;
	unsigned n;

	store_set_export(f->st, true);
	cdr_add(f, T0, &c);
	event_add(f, &ev);
	/* a recording lands on the record: queued again */
	c.rec_state = CDR_REC_READY;
	c.rec_bytes = 1234;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_recording_set(tx, c.id, &c), 0);
	assert_int_equal(store_write_commit(tx), 0);
	/* the event delivered: its final state queued */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_attempt(tx, ev.id, &a), 0);
	assert_int_equal(store_write_commit(tx), 0);
	/* a transaction that aborts queues nothing */
	memset(&c2, 0, sizeof(c2));
	assert_int_equal(store_cdr_id_new(T0 + 9, c2.id), 0);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_add(tx, &c2), 0);
	store_write_abort(tx);

	assert_int_equal(store_export_list(f->r, e, 8, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(e[0].kind, STORE_EXPORT_CDR);
	assert_memory_equal(e[0].id, c.id, STORE_ID_LEN);
	assert_int_equal(e[1].kind, STORE_EXPORT_EVENT);
	assert_memory_equal(e[1].id, ev.id, STORE_ID_LEN);
	assert_int_equal(e[2].kind, STORE_EXPORT_CDR);
	assert_memory_equal(e[2].id, c.id, STORE_ID_LEN);
	assert_int_equal(e[3].kind, STORE_EXPORT_EVENT);
	assert_true(e[0].seq < e[1].seq && e[1].seq < e[2].seq &&
		    e[2].seq < e[3].seq);
	/* at most max */
	assert_int_equal(store_export_list(f->r, e, 2, &n), 0);
	assert_int_equal(n, 2);

	/* the first two copied */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_export_done(tx, e[1].seq), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(pending(f), 2);
	assert_int_equal(store_export_list(f->r, e, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].kind, STORE_EXPORT_CDR);

	/* all of them; a new entry after the queue emptied is listed */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_export_done(tx, e[1].seq), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(pending(f), 0);
	cdr_add(f, T0 + 20, &c2);
	assert_int_equal(store_export_list(f->r, e, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(e[0].id, c2.id, STORE_ID_LEN);
	event_clear(&ev);
}

static void test_survives_reopen(void **state)
{
	struct fx *f = *state;
	struct store_export_entry e[4];
	struct cdr c;
	unsigned n;

	store_set_export(f->st, true);
	cdr_add(f, T0, &c);
	store_reader_close(f->r);
	store_close(f->st);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(store_export_list(f->r, e, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(e[0].id, c.id, STORE_ID_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_off_queues_nothing,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_order_and_done,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
