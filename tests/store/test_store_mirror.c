/*
 * test_store_mirror.c - store_session_mirror() (store_mirror.h): a
 * session applied twice as it is stays one session with its pairs and
 * counters; a changed one is rewritten and an ended one frees its pairs;
 * a pair's active session wins over a newer ended one;
 * one whose first write was rolled back is written by the next; a
 * session with PINs applied again indexes a PIN that was skipped while
 * a stale session held it. The index queue: sessions whose party and vn
 * entries are queued, flushed or half flushed are listed by party and by
 * number exactly once each, in id order across pages; retention flushes
 * the queue before it purges, and purges nothing while more than
 * STORE_PURGE_IDXQ_MAX records are queued.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "maskd/store.h"
#include "maskd/store_mirror.h"

#define MAP_SIZE (64ULL << 20)
#define T0 1700000000000LL

#include "store_fx.h"

static void sess(struct session *s, uint8_t id, const char *a, const char *b,
		 const char *vn)
{
	memset(s, 0, sizeof(*s));
	memset(s->id, id, STORE_ID_LEN);
	strcpy(s->party_a, a);
	strcpy(s->party_b, b);
	strcpy(s->vn, vn);
	s->status = SESSION_ACTIVE;
	s->created_at_ms = T0 + id;
	s->expires_at_ms = T0 + 3600000;
}

static int mirror(struct fx *f, const struct session *s, bool commit,
		  bool *pin_skipped)
{
	struct store_txn *tx;
	int rc;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_session_mirror(tx, s, pin_skipped);
	if (rc || !commit) {
		store_write_abort(tx);
		return rc;
	}
	return store_write_commit(tx);
}

static uint64_t active(struct fx *f, uint64_t *total)
{
	struct store_stats st;

	assert_int_equal(store_stats_get(f->r, &st), 0);
	*total = st.sessions_total;
	return st.sessions_active;
}

static void test_same_twice(void **state)
{
	struct fx *f = *state;
	struct session s, out;
	char meta[] = "{\"k\":1}";
	uint64_t total;

	sess(&s, 1, "+15550000001", "+15550000002", "+15559990001");
	s.metadata = meta;
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(active(f, &total), 1);
	assert_int_equal(total, 1);
	assert_int_equal(store_lookup(f->r, "+15550000001", "+15559990001",
				      T0, &out), 0);
	assert_memory_equal(out.id, s.id, STORE_ID_LEN);
	assert_int_equal(store_lookup(f->r, "+15550000002", "+15559990001",
				      T0, &out), 0);
	assert_int_equal(store_session_get(f->r, s.id, T0, &out), 0);
	assert_string_equal(out.metadata, meta);
	session_clear(&out);
}

static void test_changed_then_ended(void **state)
{
	struct fx *f = *state;
	struct session s, out;
	char meta[] = "{\"k\":2}";
	uint64_t total;

	sess(&s, 2, "+15550000001", "+15550000002", "+15559990001");
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	s.metadata = meta;
	s.expires_at_ms += 1000;
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(store_session_get(f->r, s.id, T0, &out), 0);
	assert_string_equal(out.metadata, meta);
	assert_int_equal(out.expires_at_ms, s.expires_at_ms);
	session_clear(&out);
	s.status = SESSION_CLOSED;
	s.ended_at_ms = T0 + 5000;
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(active(f, &total), 0);
	assert_int_equal(store_lookup(f->r, "+15550000001", "+15559990001",
				      T0 + 6000, &out), ESTALE);
}

/*
 * A pair's active session wins over an ended one, whatever their
 * creation times: a create that waited for its party's lock carries an
 * earlier created_at than the session made, used and closed meanwhile
 * by another node, and is applied after that one's close.
 */
static void test_active_beats_newer_ended(void **state)
{
	struct fx *f = *state;
	struct session old, young, out;

	sess(&young, 7, "+15550000007", "+15550000008", "+15559990007");
	sess(&old, 6, "+15550000007", "+15550000008", "+15559990007");
	young.created_at_ms = T0 + 100;		/* made second, ended */
	old.created_at_ms = T0 + 50;		/* asked first, active */
	assert_int_equal(mirror(f, &young, true, NULL), 0);
	young.status = SESSION_CLOSED;
	young.ended_at_ms = T0 + 200;
	assert_int_equal(mirror(f, &young, true, NULL), 0);
	assert_int_equal(mirror(f, &old, true, NULL), 0);
	assert_int_equal(store_lookup(f->r, "+15550000007", "+15559990007",
				      T0 + 300, &out), 0);
	assert_memory_equal(out.id, old.id, STORE_ID_LEN);
	assert_int_equal(store_lookup(f->r, "+15550000008", "+15559990007",
				      T0 + 300, &out), 0);
	assert_memory_equal(out.id, old.id, STORE_ID_LEN);
	/* the ended one applied again (a replay) does not take it back */
	assert_int_equal(mirror(f, &young, true, NULL), 0);
	assert_int_equal(store_lookup(f->r, "+15550000007", "+15559990007",
				      T0 + 300, &out), 0);
	assert_memory_equal(out.id, old.id, STORE_ID_LEN);
}

static void test_rolled_back_then_written(void **state)
{
	struct fx *f = *state;
	struct session s, out;
	uint64_t total;

	sess(&s, 3, "+15550000003", "+15550000004", "+15559990002");
	assert_int_equal(mirror(f, &s, false, NULL), 0);
	assert_int_equal(store_lookup(f->r, "+15550000003", "+15559990002",
				      T0, &out), ENOENT);
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(store_lookup(f->r, "+15550000003", "+15559990002",
				      T0, &out), 0);
	assert_int_equal(active(f, &total), 1);
}

static void test_skipped_pin_indexed_again(void **state)
{
	struct fx *f = *state;
	struct session x, y, out;
	enum pin_party party;
	bool skipped = false;

	sess(&x, 4, "+15550000005", "+15550000006", "+15559990003");
	x.pin_required = true;
	strcpy(x.pin_a, "1234");
	strcpy(x.pin_b, "5678");
	sess(&y, 5, "+15550000007", "+15550000008", "+15559990003");
	y.pin_required = true;
	strcpy(y.pin_a, "1234");
	strcpy(y.pin_b, "8765");
	assert_int_equal(mirror(f, &x, true, NULL), 0);
	assert_int_equal(mirror(f, &y, true, &skipped), 0);
	assert_true(skipped);
	/* x's end arrives, then y again exactly as before */
	x.status = SESSION_CLOSED;
	x.ended_at_ms = T0 + 100;
	assert_int_equal(mirror(f, &x, true, NULL), 0);
	skipped = false;
	assert_int_equal(mirror(f, &y, true, &skipped), 0);
	assert_false(skipped);
	assert_int_equal(store_pin_lookup(f->r, "+15559990003", "1234", T0,
					  &out, &party), 0);
	assert_memory_equal(out.id, y.id, STORE_ID_LEN);
	assert_int_equal(party, PIN_PARTY_A);
}

static uint64_t queued(struct fx *f)
{
	uint64_t n;

	assert_int_equal(store_idxq_count(f->r, &n), 0);
	return n;
}

static void flush(struct fx *f, unsigned max, unsigned want_n,
		  bool want_more)
{
	struct store_txn *tx;
	unsigned n;
	bool more;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_idxq_flush(tx, max, &n, &more), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(n, want_n);
	assert_int_equal(more, want_more);
}

struct ids {
	uint8_t first[8];	/* first id byte of each session listed */
	unsigned n;
	uint8_t last[STORE_ID_LEN];
};

static int ids_h(const struct session *s, void *arg)
{
	struct ids *l = arg;

	assert_true(l->n < sizeof(l->first));
	l->first[l->n++] = s->id[0];
	memcpy(l->last, s->id, STORE_ID_LEN);
	return 0;
}

/* list_all() - the first id bytes of everything listed for party (or vn
 * when !@party) @num, two at a time, into @out as a string. */
static void list_all(struct fx *f, bool party, const char *num, char *out)
{
	struct session_filter flt;
	struct ids l;
	bool more = true;
	size_t len = 0;

	memset(&flt, 0, sizeof(flt));
	flt.limit = 2;
	if (party)
		flt.party = num;
	else
		flt.vn = num;
	while (more) {
		unsigned i;

		memset(&l, 0, sizeof(l));
		assert_int_equal(store_session_list(f->r, &flt, T0, ids_h, &l,
						    &more), 0);
		for (i = 0; i < l.n; i++)
			out[len++] = (char)('0' + l.first[i]);
		if (l.n) {
			flt.has_cursor = true;
			memcpy(flt.after, l.last, STORE_ID_LEN);
		}
		assert_true(l.n || !more);
	}
	out[len] = '\0';
}

static void listed(struct fx *f, const char *a1, const char *vn1,
		   const char *vn2)
{
	char got[16];

	list_all(f, true, "+15550000011", got);
	assert_string_equal(got, a1);
	list_all(f, true, "+15550000099", got);
	assert_string_equal(got, "");
	list_all(f, false, "+15559990011", got);
	assert_string_equal(got, vn1);
	list_all(f, false, "+15559990012", got);
	assert_string_equal(got, vn2);
}

static void test_queue_listed(void **state)
{
	struct fx *f = *state;
	struct session s;

	/* party +15550000011 in 1, 2, 4 and 5 (as b in 2), vn ...11 in
	 * 1, 3 and 5 */
	sess(&s, 1, "+15550000011", "+15550000021", "+15559990011");
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	sess(&s, 2, "+15550000022", "+15550000011", "+15559990012");
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	sess(&s, 3, "+15550000023", "+15550000033", "+15559990011");
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(queued(f), 3);
	listed(f, "12", "13", "2");

	/* two flushed, one still queued: each listed once, in order */
	flush(f, 2, 2, true);
	assert_int_equal(queued(f), 1);
	listed(f, "12", "13", "2");
	sess(&s, 4, "+15550000011", "+15550000044", "+15559990012");
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	sess(&s, 5, "+15550000011", "+15550000055", "+15559990011");
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	/* the same session again is not queued twice */
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(queued(f), 3);
	listed(f, "1245", "135", "24");

	flush(f, 100, 3, false);
	assert_int_equal(queued(f), 0);
	listed(f, "1245", "135", "24");
	flush(f, 100, 0, false);
}

static unsigned purge(struct fx *f, unsigned max)
{
	struct store_txn *tx;
	unsigned n_s, n_c;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, T0 + 10000, max, &n_s, &n_c), 0);
	assert_int_equal(store_write_commit(tx), 0);
	return n_s;
}

static void test_queue_purged(void **state)
{
	struct fx *f = *state;
	struct session s;
	char got[16];
	uint8_t i;

	struct store_txn *tx;
	unsigned n;

	for (i = 1; i <= 3; i++) {
		sess(&s, i, "+15550000011", "+15550000021", "+15559990011");
		s.status = SESSION_CLOSED;
		s.ended_at_ms = T0 + i;
		assert_int_equal(mirror(f, &s, true, NULL), 0);
	}
	/* the queue goes first: all of it, then two of the three */
	assert_int_equal(purge(f, 2), 2);
	assert_int_equal(queued(f), 0);
	list_all(f, true, "+15550000011", got);
	assert_string_equal(got, "3");

	/* more queued than a purge flushes (a node catching up): none
	 * purged this time, the next purge goes on */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	for (n = 0; n < STORE_PURGE_IDXQ_MAX; n++) {
		sess(&s, 9, "+15550000077", "+15550000088", "+15559990077");
		s.id[1] = (uint8_t)(n >> 8);
		s.id[2] = (uint8_t)n;
		assert_int_equal(store_session_mirror(tx, &s, NULL), 0);
	}
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(queued(f), STORE_PURGE_IDXQ_MAX);
	sess(&s, 4, "+15550000011", "+15550000021", "+15559990011");
	s.status = SESSION_CLOSED;
	s.ended_at_ms = T0 + 4;
	assert_int_equal(mirror(f, &s, true, NULL), 0);
	assert_int_equal(purge(f, 2), 0);
	assert_int_equal(queued(f), 1);
	assert_int_equal(purge(f, 2), 2);
	assert_int_equal(queued(f), 0);
	list_all(f, true, "+15550000011", got);
	assert_string_equal(got, "");
	list_all(f, false, "+15559990011", got);
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_twice, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_changed_then_ended,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_active_beats_newer_ended,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rolled_back_then_written,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_skipped_pin_indexed_again,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_listed, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_purged, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
