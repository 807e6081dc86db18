/*
 * test_store_mirror.c - store_session_mirror() (store_mirror.h): a
 * session applied twice as it is stays one session with its pairs and
 * counters; a changed one is rewritten and an ended one frees its pairs;
 * one whose first write was rolled back is written by the next; a
 * session with PINs applied again indexes a PIN that was skipped while
 * a stale session held it.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_twice, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_changed_then_ended,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rolled_back_then_written,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_skipped_pin_indexed_again,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
