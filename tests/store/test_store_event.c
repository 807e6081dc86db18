/*
 * test_store_event.c - the events outbox against a real LMDB environment:
 * per-session sequences, the due index, per-session order, attempts and
 * redelivery, max_pending dropping the oldest, purging delivered events,
 * the deliverer's walk of the due index from a ms.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/store.h"
#include "../test_util.h"

#define T0 1800000000000LL
#define MAP_SIZE (64ULL << 20)

struct fx {
	char *dir;
	char path[512];
	struct store *st;
	struct store_reader *r;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = test_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	store_reader_close(f->r);
	store_close(f->st);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* add() - one event of session @sid (NULL: none), committed. */
static void add(struct fx *f, const uint8_t *sid, const char *type,
		int64_t now, uint64_t max_pending, unsigned *dropped,
		struct event *ev)
{
	struct store_txn *tx;
	char body[64];

	memset(ev, 0, sizeof(*ev));
	snprintf(ev->type, sizeof(ev->type), "%s", type);
	snprintf(body, sizeof(body), "{\"type\":\"%s\"}", type);
	ev->body = body;
	ev->body_len = strlen(body);
	ev->next_at_ms = now;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	if (sid) {
		ev->has_session = true;
		memcpy(ev->session_id, sid, STORE_ID_LEN);
		assert_int_equal(store_event_seq_next(tx, sid,
						      &ev->sequence), 0);
	}
	assert_int_equal(store_event_add(tx, ev, now, max_pending, dropped),
			 0);
	assert_int_equal(store_write_commit(tx), 0);
	ev->body = NULL;
}

static int collect(const struct event *ev, void *arg)
{
	struct event *out = arg;
	int i;

	for (i = 0; out[i].type[0]; i++)
		;
	out[i] = *ev;
	out[i].body = NULL;
	out[i].callback_url = NULL;
	return 0;
}

static void attempt(struct fx *f, const uint8_t *id, enum event_status st,
		    int64_t at, int64_t next, uint16_t code, const char *err)
{
	struct event_attempt a = {
		.status = st, .at_ms = at, .next_at_ms = next, .code = code,
		.error = err,
	};
	struct store_txn *tx;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_attempt(tx, id, &a), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

static void test_sequence_order_attempts(void **state)
{
	struct fx *f = *state;
	uint8_t s1[STORE_ID_LEN] = { 1 }, s2[STORE_ID_LEN] = { 2 };
	struct event e1, e2, e3, e4, got[8], one;
	struct event_filter ef = { .limit = 10 };
	uint64_t pending;
	int64_t at;
	bool blocked, more;

	add(f, s1, "session.created", T0, 0, NULL, &e1);
	add(f, s2, "session.created", T0 + 1, 0, NULL, &e2);
	add(f, s1, "call.completed", T0 + 2, 0, NULL, &e3);
	add(f, NULL, "call.unrouted", T0 + 3, 0, NULL, &e4);
	assert_int_equal(e1.sequence, 1);
	assert_int_equal(e2.sequence, 1);
	assert_int_equal(e3.sequence, 2);
	assert_int_equal(e4.sequence, 0);
	assert_int_equal(store_event_pending(f->r, &pending), 0);
	assert_int_equal(pending, 4);
	assert_int_equal(store_event_next_due(f->r, &at), 0);
	assert_int_equal(at, T0);

	/* n+1 waits for n */
	assert_int_equal(store_event_session_prev(f->r, s1, 2, &blocked), 0);
	assert_true(blocked);
	assert_int_equal(store_event_session_prev(f->r, s1, 1, &blocked), 0);
	assert_false(blocked);

	/* a failed try keeps it pending, later; the due index follows */
	attempt(f, e1.id, EVENT_PENDING, T0 + 10, T0 + 5000, 500,
		"HTTP 500");
	memset(got, 0, sizeof(got));
	assert_int_equal(store_event_due(f->r, T0 + 100, 10, collect, got), 0);
	assert_int_equal(got[0].sequence, 1);	/* e2 */
	assert_memory_equal(got[0].id, e2.id, STORE_ID_LEN);
	assert_memory_equal(got[1].id, e3.id, STORE_ID_LEN);
	assert_memory_equal(got[2].id, e4.id, STORE_ID_LEN);
	assert_int_equal(got[3].type[0], '\0');
	assert_int_equal(store_event_session_prev(f->r, s1, 2, &blocked), 0);
	assert_true(blocked);

	/* delivered: no longer due, no longer blocking */
	attempt(f, e1.id, EVENT_DELIVERED, T0 + 5001, 0, 204, NULL);
	assert_int_equal(store_event_session_prev(f->r, s1, 2, &blocked), 0);
	assert_false(blocked);
	memset(&one, 0, sizeof(one));
	assert_int_equal(store_event_get(f->r, e1.id, &one), 0);
	assert_int_equal(one.status, EVENT_DELIVERED);
	assert_int_equal(one.attempts, 2);
	assert_int_equal(one.last_code, 204);
	assert_string_equal(one.body, "{\"type\":\"session.created\"}");
	event_clear(&one);
	assert_int_equal(store_event_pending(f->r, &pending), 0);
	assert_int_equal(pending, 3);

	/* listing by status, by session, by type, and the cursor */
	ef.by_status = true;
	ef.status = EVENT_DELIVERED;
	memset(got, 0, sizeof(got));
	assert_int_equal(store_event_list(f->r, &ef, collect, got, &more), 0);
	assert_false(more);
	assert_memory_equal(got[0].id, e1.id, STORE_ID_LEN);
	assert_int_equal(got[1].type[0], '\0');
	ef.status = EVENT_PENDING;
	ef.limit = 2;
	memset(got, 0, sizeof(got));
	assert_int_equal(store_event_list(f->r, &ef, collect, got, &more), 0);
	assert_true(more);
	assert_memory_equal(got[1].id, e3.id, STORE_ID_LEN);
	ef.has_cursor = true;
	memcpy(ef.after, e3.id, STORE_ID_LEN);
	memset(got, 0, sizeof(got));
	assert_int_equal(store_event_list(f->r, &ef, collect, got, &more), 0);
	assert_false(more);
	assert_memory_equal(got[0].id, e4.id, STORE_ID_LEN);
	assert_int_equal(got[1].type[0], '\0');
	memset(&ef, 0, sizeof(ef));
	ef.limit = 10;
	ef.type = "session.created";
	memset(got, 0, sizeof(got));
	assert_int_equal(store_event_list(f->r, &ef, collect, got, &more), 0);
	assert_memory_equal(got[0].id, e1.id, STORE_ID_LEN);
	assert_memory_equal(got[1].id, e2.id, STORE_ID_LEN);
	assert_int_equal(got[2].type[0], '\0');
	ef.type = NULL;
	ef.by_session = true;
	memcpy(ef.session_id, s1, STORE_ID_LEN);
	memset(got, 0, sizeof(got));
	assert_int_equal(store_event_list(f->r, &ef, collect, got, &more), 0);
	assert_int_equal(got[0].sequence, 1);
	assert_int_equal(got[1].sequence, 2);
	assert_int_equal(got[2].type[0], '\0');

	/* given up, then redelivered: pending again, same id */
	attempt(f, e2.id, EVENT_FAILED, T0 + 6000, 0, 0, "timeout");
	{
		struct store_txn *tx;

		assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
		assert_int_equal(store_event_redeliver(tx, e2.id, T0 + 7000),
				 0);
		assert_int_equal(store_write_commit(tx), 0);
	}
	memset(&one, 0, sizeof(one));
	assert_int_equal(store_event_get(f->r, e2.id, &one), 0);
	assert_int_equal(one.status, EVENT_PENDING);
	assert_int_equal(one.next_at_ms, T0 + 7000);
	assert_int_equal(one.attempts, 1);
	assert_string_equal(one.last_error, "timeout");
	event_clear(&one);
}

static void test_max_pending_and_purge(void **state)
{
	struct fx *f = *state;
	uint8_t s1[STORE_ID_LEN] = { 7 };
	struct event ev[5], one;
	struct store_txn *tx;
	unsigned dropped, n;
	uint64_t pending;
	int i;

	for (i = 0; i < 3; i++) {
		add(f, s1, "session.created", T0 + i, 3, &dropped, &ev[i]);
		assert_int_equal(dropped, 0);
	}
	add(f, s1, "session.closed", T0 + 3, 3, &dropped, &ev[3]);
	assert_int_equal(dropped, 1);
	assert_int_equal(store_event_pending(f->r, &pending), 0);
	assert_int_equal(pending, 3);
	memset(&one, 0, sizeof(one));
	assert_int_equal(store_event_get(f->r, ev[0].id, &one), 0);
	assert_int_equal(one.status, EVENT_FAILED);
	assert_string_equal(one.last_error, "dropped: max_pending");
	event_clear(&one);

	/* purge: only delivered ones, only before the cut-off */
	attempt(f, ev[1].id, EVENT_DELIVERED, T0 + 10, 0, 200, NULL);
	attempt(f, ev[2].id, EVENT_DELIVERED, T0 + 10, 0, 200, NULL);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_purge(tx, T0 + 2, 100, &n), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_event_get(f->r, ev[1].id, &one), ENOENT);
	assert_int_equal(store_event_get(f->r, ev[2].id, &one), 0);
	event_clear(&one);
	assert_int_equal(store_event_get(f->r, ev[0].id, &one), 0);
	event_clear(&one);
}

/* Each destination on its own: done bits, per-destination order, and a
 * partial (uncounted) outcome. */
static void test_destinations(void **state)
{
	struct fx *f = *state;
	uint8_t s1[STORE_ID_LEN] = { 7 };
	struct event e1, e2, one;
	struct event_attempt a = {
		.status = EVENT_PENDING, .at_ms = T0 + 1, .next_at_ms = T0 + 5000,
		.code = 500, .error = "HTTP 500", .done = EVENT_TO_URL,
	};
	struct store_txn *tx;
	uint8_t mask;
	bool blocked;

	add(f, s1, "session.created", T0, 0, NULL, &e1);
	add(f, s1, "session.closed", T0, 0, NULL, &e2);
	assert_int_equal(store_event_session_waiting(f->r, s1, 2, &mask), 0);
	assert_int_equal(mask, EVENT_TO_URL | EVENT_TO_CALLBACK);

	/* the url took e1, the callback failed: e2 may go to the url */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_attempt(tx, e1.id, &a), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(store_event_session_waiting(f->r, s1, 2, &mask), 0);
	assert_int_equal(mask, EVENT_TO_CALLBACK);
	assert_int_equal(store_event_session_prev(f->r, s1, 2, &blocked), 0);
	assert_true(blocked);
	memset(&one, 0, sizeof(one));
	assert_int_equal(store_event_get(f->r, e1.id, &one), 0);
	assert_int_equal(one.done, EVENT_TO_URL);
	assert_int_equal(one.attempts, 1);
	event_clear(&one);

	/* e2 reached the url while its callback waits: no slot used */
	a.status = EVENT_PENDING;
	a.uncounted = true;
	a.code = 200;
	a.error = NULL;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_attempt(tx, e2.id, &a), 0);
	assert_int_equal(store_write_commit(tx), 0);
	memset(&one, 0, sizeof(one));
	assert_int_equal(store_event_get(f->r, e2.id, &one), 0);
	assert_int_equal(one.done, EVENT_TO_URL);
	assert_int_equal(one.attempts, 0);
	assert_int_equal(one.status, EVENT_PENDING);
	event_clear(&one);

	/* redelivered by hand: to every destination again */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_event_redeliver(tx, e2.id, T0 + 10), 0);
	assert_int_equal(store_write_commit(tx), 0);
	memset(&one, 0, sizeof(one));
	assert_int_equal(store_event_get(f->r, e2.id, &one), 0);
	assert_int_equal(one.done, 0);
	event_clear(&one);
}

/* What test_due_walk()'s handlers saw. */
struct walk_seen {
	uint8_t skip_id[STORE_ID_LEN];	/* id_skip passes this one over */
	int64_t skip_at;		/* the ms id_skip was told for it */
	unsigned n_id, n_rows;
	uint8_t rows[16][STORE_ID_LEN];
	int64_t at[16];
};

static int walk_id_skip(const uint8_t id[STORE_ID_LEN], int64_t at_ms,
			void *arg)
{
	struct walk_seen *w = arg;

	w->n_id++;
	if (memcmp(id, w->skip_id, STORE_ID_LEN))
		return 0;
	w->skip_at = at_ms;
	return 1;
}

static int walk_row(const struct event *ev, void *arg)
{
	struct walk_seen *w = arg;

	assert_true(w->n_rows < 16);
	memcpy(w->rows[w->n_rows], ev->id, STORE_ID_LEN);
	w->at[w->n_rows++] = ev->next_at_ms;
	return 0;
}

static bool walk_has(const struct walk_seen *w, const uint8_t *id)
{
	unsigned i;

	for (i = 0; i < w->n_rows; i++)
		if (!memcmp(w->rows[i], id, STORE_ID_LEN))
			return true;
	return false;
}

/*
 * The deliverer's kick walks from a ms, not from the head: every row of
 * that ms is met (ids are random, so a row made later in the same ms
 * can sort before the one that set the start), none of an earlier ms,
 * none due later than now; a row id_skip passes over is never read.
 */
static void test_due_walk(void **state)
{
	struct fx *f = *state;
	struct event early, same[8], late, future;
	struct walk_seen w;
	struct event_due_walk dw = {
		.from_ms = T0 + 10, .now_ms = T0 + 100, .max = 100,
		.id_skip = walk_id_skip, .h = walk_row, .arg = &w,
	};
	unsigned i, lowest = 0;

	add(f, NULL, "call.unrouted", T0 + 5, 0, NULL, &early);
	for (i = 0; i < 8; i++) {
		add(f, NULL, "call.unrouted", T0 + 10, 0, NULL, &same[i]);
		if (memcmp(same[i].id, same[lowest].id, STORE_ID_LEN) < 0)
			lowest = i;
	}
	add(f, NULL, "call.unrouted", T0 + 20, 0, NULL, &late);
	add(f, NULL, "call.unrouted", T0 + 1000, 0, NULL, &future);

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_event_due_walk(f->r, &dw), 0);
	assert_int_equal(w.n_rows, 9);
	for (i = 0; i < 8; i++)
		assert_true(walk_has(&w, same[i].id));
	assert_true(walk_has(&w, late.id));
	assert_false(walk_has(&w, early.id));
	assert_false(walk_has(&w, future.id));
	/* earliest first: the row of the lowest id of that ms leads */
	assert_memory_equal(w.rows[0], same[lowest].id, STORE_ID_LEN);
	assert_int_equal(w.at[8], T0 + 20);

	/* passed over by its key: counted, not read */
	memset(&w, 0, sizeof(w));
	memcpy(w.skip_id, same[lowest].id, STORE_ID_LEN);
	assert_int_equal(store_event_due_walk(f->r, &dw), 0);
	assert_int_equal(w.n_id, 9);
	assert_int_equal(w.skip_at, T0 + 10);
	assert_int_equal(w.n_rows, 8);
	assert_false(walk_has(&w, same[lowest].id));

	/* max_walk bounds the rows looked at, skipped ones too */
	memset(&w, 0, sizeof(w));
	memcpy(w.skip_id, same[lowest].id, STORE_ID_LEN);
	dw.max_walk = 3;
	assert_int_equal(store_event_due_walk(f->r, &dw), 0);
	assert_int_equal(w.n_id, 3);
	assert_int_equal(w.n_rows, 2);

	/* from 0: the head, the early row first */
	memset(&w, 0, sizeof(w));
	dw.from_ms = 0;
	dw.max_walk = 0;
	assert_int_equal(store_event_due_walk(f->r, &dw), 0);
	assert_int_equal(w.n_rows, 10);
	assert_memory_equal(w.rows[0], early.id, STORE_ID_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequence_order_attempts,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_destinations, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_max_pending_and_purge,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_due_walk, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
