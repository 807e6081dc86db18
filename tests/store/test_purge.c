/*
 * test_purge.c - retention (store_purge.c) against a real environment:
 * exactly the old ended sessions go, with their pairs, index entries and
 * call records; active and recently ended ones stay; batches are bounded;
 * the file stops growing across fill and purge cycles.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "maskd/store.h"

#define T0 1800000000000LL	/* a fixed "now", ms */
#define MAP_SIZE (256ULL << 20)
#define HOUR_MS 3600000LL

#include "store_fx.h"

/* create() - one session, committed; its id into @id. */
static void create(struct fx *f, const char *a, const char *b, const char *vn,
		   int64_t ttl_ms, int64_t now, uint8_t id[STORE_ID_LEN])
{
	struct session_params p = {
		.party_a = a, .party_b = b, .vn = vn, .ttl_ms = ttl_ms,
		.metadata = "{\"k\":\"some metadata\"}",
	};
	struct store_txn *tx;
	struct session s;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_create(tx, &p, now, &s), 0);
	assert_int_equal(store_write_commit(tx), 0);
	memcpy(id, s.id, STORE_ID_LEN);
	session_clear(&s);
}

static void close_id(struct fx *f, const uint8_t *id, int64_t now)
{
	struct store_txn *tx;
	struct session s;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_close(tx, id, now, &s), 0);
	session_clear(&s);
	assert_int_equal(store_write_commit(tx), 0);
}

static void expire(struct fx *f, int64_t now)
{
	struct store_txn *tx;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_expire_due(tx, now, UINT32_MAX, NULL), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

static void add_cdrs(struct fx *f, const uint8_t *sid, int n, int64_t at)
{
	struct store_txn *tx;
	struct cdr c;
	int i;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		memcpy(c.session_id, sid, STORE_ID_LEN);
		assert_int_equal(store_cdr_id_new(at + i, c.id), 0);
		c.start_ms = at + i;
		c.end_ms = at + i + 1;
		c.final_code = 200;
		strcpy(c.reason, "normal");
		assert_int_equal(store_cdr_add(tx, &c), 0);
	}
	assert_int_equal(store_write_commit(tx), 0);
}

/* purge() - one store_purge() in its own transaction. */
static int purge(struct fx *f, int64_t cutoff, unsigned max, unsigned *s,
		 unsigned *c)
{
	struct store_txn *tx;
	int rc;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_purge(tx, cutoff, max, s, c);
	if (rc) {
		store_write_abort(tx);
		return rc;
	}
	assert_int_equal(store_write_commit(tx), 0);
	return 0;
}

static int count_cb(const struct cdr *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static int n_cdrs(struct fx *f, const uint8_t *sid)
{
	int n = 0;

	assert_int_equal(store_cdr_list(f->r, sid, count_cb, &n), 0);
	return n;
}

static int list_count_cb(const struct session *s, void *arg)
{
	(void)s;
	(*(unsigned *)arg)++;
	return 0;
}

/* n_listed() - sessions @flt lists (one page of at most 100000). */
static unsigned n_listed(struct fx *f, struct session_filter *flt,
			 int64_t now)
{
	unsigned n = 0;
	bool more;

	flt->limit = 100000;
	assert_int_equal(store_session_list(f->r, flt, now, list_count_cb, &n,
					    &more), 0);
	assert_false(more);
	return n;
}

static bool exists(struct fx *f, const uint8_t *id, int64_t now)
{
	struct session s;
	int rc = store_session_get(f->r, id, now, &s);

	if (rc == 0) {
		session_clear(&s);
		return true;
	}
	assert_int_equal(rc, ENOENT);
	return false;
}

/*
 * Sessions of every kind, purged at a cutoff between "old" and "recent":
 * exactly the old ended ones go, with everything that named them.
 */
static void test_purge_exact(void **state)
{
	struct fx *f = *state;
	const int64_t now = T0 + 100 * HOUR_MS;
	const int64_t cutoff = now - 10 * HOUR_MS;
	uint8_t old_closed[STORE_ID_LEN], old_expired[STORE_ID_LEN];
	uint8_t old_active[STORE_ID_LEN], recent[STORE_ID_LEN];
	uint8_t reused_old[STORE_ID_LEN], reused_new[STORE_ID_LEN];
	uint8_t at_cutoff[STORE_ID_LEN];
	struct session_filter flt;
	struct store_stats st;
	struct session l;
	unsigned ns, nc;
	int64_t at;

	pool_add(f, "+15550000001");
	pool_add(f, "+15550000002");

	/* created at T0: closed an hour later (old) */
	create(f, "+14155550001", "+14155550002", "+15550000001", 90 * HOUR_MS,
	       T0, old_closed);
	add_cdrs(f, old_closed, 3, T0 + 1000);
	close_id(f, old_closed, T0 + HOUR_MS);
	/* expired at T0 + 2 h (old) */
	create(f, "+14155550003", "+14155550004", "+15550000001", 2 * HOUR_MS,
	       T0, old_expired);
	add_cdrs(f, old_expired, 2, T0 + 2000);
	/* active since T0 until long after now: never purged */
	create(f, "+14155550005", "+14155550006", "+15550000001",
	       1000 * HOUR_MS, T0, old_active);
	add_cdrs(f, old_active, 4, T0 + 3000);
	/* created at T0, closed 5 h ago: recent */
	create(f, "+14155550007", "+14155550008", "+15550000001",
	       1000 * HOUR_MS, T0, recent);
	add_cdrs(f, recent, 1, T0 + 4000);
	close_id(f, recent, now - 5 * HOUR_MS);
	/* ended exactly at the cutoff: not older than it, so kept */
	create(f, "+14155550009", "+14155550010", "+15550000001",
	       1000 * HOUR_MS, T0, at_cutoff);
	close_id(f, at_cutoff, cutoff);
	/* a pair reused: the old session of (0011, 0002) ended, a newer
	 * one of the same pair is active and owns the pair entries */
	create(f, "+14155550011", "+14155550012", "+15550000002", HOUR_MS,
	       T0, reused_old);
	add_cdrs(f, reused_old, 1, T0 + 5000);
	close_id(f, reused_old, T0 + 1000);
	create(f, "+14155550011", "+14155550013", "+15550000002",
	       1000 * HOUR_MS, T0 + 2000, reused_new);
	expire(f, now);

	assert_int_equal(store_next_ended(f->r, &at), 0);
	assert_int_equal(at, T0 + 1000);	/* reused_old's end */
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(n_listed(f, &flt, now), 7);

	assert_int_equal(purge(f, cutoff, 1000, &ns, &nc), 0);
	assert_int_equal(ns, 3);		/* old_closed, old_expired,
						 * reused_old */
	assert_int_equal(nc, 3 + 2 + 1);

	/* gone, with their call records and pair entries */
	assert_false(exists(f, old_closed, now));
	assert_false(exists(f, old_expired, now));
	assert_false(exists(f, reused_old, now));
	assert_int_equal(n_cdrs(f, old_closed), 0);
	assert_int_equal(n_cdrs(f, old_expired), 0);
	assert_int_equal(n_cdrs(f, reused_old), 0);
	assert_int_equal(store_lookup(f->r, "+14155550001", "+15550000001",
				      now, &l), ENOENT);
	assert_int_equal(store_lookup(f->r, "+14155550002", "+15550000001",
				      now, &l), ENOENT);
	assert_int_equal(store_lookup(f->r, "+14155550004", "+15550000001",
				      now, &l), ENOENT);
	assert_int_equal(store_lookup(f->r, "+14155550012", "+15550000002",
				      now, &l), ENOENT);
	/* the newer session of the reused pair kept its entry */
	assert_int_equal(store_lookup(f->r, "+14155550011", "+15550000002",
				      now, &l), 0);
	assert_memory_equal(l.id, reused_new, STORE_ID_LEN);

	/* and the rest is untouched */
	assert_true(exists(f, old_active, now));
	assert_true(exists(f, recent, now));
	assert_true(exists(f, at_cutoff, now));
	assert_true(exists(f, reused_new, now));
	assert_int_equal(n_cdrs(f, old_active), 4);
	assert_int_equal(n_cdrs(f, recent), 1);
	assert_int_equal(store_lookup(f->r, "+14155550006", "+15550000001",
				      now, &l), 0);
	assert_memory_equal(l.id, old_active, STORE_ID_LEN);
	assert_int_equal(store_lookup(f->r, "+14155550007", "+15550000001",
				      now, &l), ESTALE);
	assert_memory_equal(l.id, recent, STORE_ID_LEN);

	/* no index names a purged session any more */
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(n_listed(f, &flt, now), 4);
	flt.party = "+14155550001";
	assert_int_equal(n_listed(f, &flt, now), 0);
	flt.party = "+14155550011";
	assert_int_equal(n_listed(f, &flt, now), 1);
	memset(&flt, 0, sizeof(flt));
	flt.vn = "+15550000001";
	assert_int_equal(n_listed(f, &flt, now), 3);
	memset(&flt, 0, sizeof(flt));
	flt.by_status = true;
	flt.status = SESSION_CLOSED;
	assert_int_equal(n_listed(f, &flt, now), 2);
	flt.status = SESSION_EXPIRED;
	assert_int_equal(n_listed(f, &flt, now), 0);
	flt.status = SESSION_ACTIVE;
	assert_int_equal(n_listed(f, &flt, now), 2);
	assert_int_equal(store_next_ended(f->r, &at), 0);
	assert_int_equal(at, cutoff);

	/* counters: the durable totals, and the pool's active counts */
	assert_int_equal(store_stats_get(f->r, &st), 0);
	assert_int_equal(st.purged_sessions, 3);
	assert_int_equal(st.purged_cdrs, 6);
	assert_int_equal(st.sessions_active, 2);
	assert_int_equal(st.sessions_total, 7);

	/* nothing more is due at the same cutoff */
	assert_int_equal(purge(f, cutoff, 1000, &ns, &nc), 0);
	assert_int_equal(ns + nc, 0);

	/* a purged pair can be used again */
	create(f, "+14155550001", "+14155550099", "+15550000001", HOUR_MS,
	       now, old_closed);
	assert_int_equal(store_lookup(f->r, "+14155550001", "+15550000001",
				      now, &l), 0);
	assert_memory_equal(l.id, old_closed, STORE_ID_LEN);

	/* and a later cutoff takes the rest that has ended */
	assert_int_equal(purge(f, now, 1000, &ns, &nc), 0);
	assert_int_equal(ns, 2);
	assert_int_equal(nc, 1);
	assert_int_equal(store_next_ended(f->r, &at), ENOENT);
}

static uint32_t pool_active(struct fx *f, const char *vn)
{
	struct pool_number n;

	assert_int_equal(store_pool_get(f->r, vn, &n), 0);
	return n.active;
}

/*
 * Many old ended sessions, one of them with many call records: every
 * purge call deletes at most @max records, and together they delete them
 * all, in order of end.
 */
static void test_purge_bounded(void **state)
{
	struct fx *f = *state;
	enum { N = 600, MAX = 16, BIG = 50 };
	const int64_t now = T0 + 100 * HOUR_MS;
	uint8_t id[STORE_ID_LEN], big[STORE_ID_LEN], live[STORE_ID_LEN];
	char a[E164_SIZE], b[E164_SIZE];
	struct store_stats st;
	unsigned ns, nc, tot_s = 0, tot_c = 0, calls = 0;
	int64_t prev = 0, at;
	int i, want_c = 0;

	pool_add(f, "+15550000001");
	create(f, "+14155559998", "+14155559999", NULL, 1000 * HOUR_MS, T0,
	       live);
	for (i = 0; i < N; i++) {
		snprintf(a, sizeof(a), "+1415555%04u", (unsigned)i % 10000);
		snprintf(b, sizeof(b), "+1650555%04u", (unsigned)i % 10000);
		create(f, a, b, NULL, 1000 * HOUR_MS, T0 + i, id);
		if (i % 3 == 0) {
			add_cdrs(f, id, i % 4, T0 + i);
			want_c += i % 4;
		}
		if (i == N / 2) {
			add_cdrs(f, id, BIG, T0 + i);
			want_c += BIG;
			memcpy(big, id, STORE_ID_LEN);
		}
		/* ends in another order than creation */
		close_id(f, id, T0 + HOUR_MS + (i * 7919) % N);
	}
	add_cdrs(f, live, 5, T0);
	assert_int_equal(pool_active(f, "+15550000001"), 1);

	for (;;) {
		assert_int_equal(purge(f, now, MAX, &ns, &nc), 0);
		assert_true(ns + nc <= MAX);
		if (ns + nc == 0)
			break;
		/* what is left ended no earlier than what went */
		if (store_next_ended(f->r, &at) == 0) {
			assert_true(at >= prev);
			prev = at;
		}
		tot_s += ns;
		tot_c += nc;
		calls++;
		assert_true(calls < 10 * N);
	}
	assert_int_equal(tot_s, N);
	assert_int_equal(tot_c, want_c);
	assert_false(exists(f, big, now));
	assert_int_equal(n_cdrs(f, big), 0);
	assert_int_equal(store_next_ended(f->r, &at), ENOENT);

	assert_true(exists(f, live, now));
	assert_int_equal(n_cdrs(f, live), 5);
	assert_int_equal(pool_active(f, "+15550000001"), 1);
	assert_int_equal(store_stats_get(f->r, &st), 0);
	assert_int_equal(st.purged_sessions, N);
	assert_int_equal(st.purged_cdrs, want_c);
	assert_int_equal(st.sessions_active, 1);

	/* a budget of 0 deletes nothing; a session with more records than
	 * the budget loses only some of them, and stays */
	create(f, "+14155551111", "+14155552222", NULL, HOUR_MS, now, id);
	add_cdrs(f, id, 5, now);
	close_id(f, id, now + 1);
	assert_int_equal(purge(f, now + 2, 0, &ns, &nc), 0);
	assert_int_equal(ns + nc, 0);
	assert_int_equal(purge(f, now + 2, 3, &ns, &nc), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(nc, 3);
	assert_true(exists(f, id, now + 2));
	assert_int_equal(n_cdrs(f, id), 2);
	assert_int_equal(purge(f, now + 2, 3, &ns, &nc), 0);
	assert_int_equal(ns, 1);
	assert_int_equal(nc, 2);
	assert_false(exists(f, id, now + 2));
}

/*
 * Fill and purge, again and again: freed pages are reused, so the file's
 * high-water mark stops growing after the first cycles, and what is in
 * use falls back after each purge.
 */
static void test_purge_space_reused(void **state)
{
	struct fx *f = *state;
	enum { CYCLES = 5, PER = 3000 };
	uint64_t file_after[CYCLES], used_full = 0;
	char a[E164_SIZE], b[E164_SIZE];
	struct store_stats st;
	int64_t now = T0;
	unsigned ns, nc;
	int cyc, i;

	pool_add(f, "+15550000001");
	for (cyc = 0; cyc < CYCLES; cyc++) {
		struct store_txn *tx;

		for (i = 0; i < PER; i += 100) {
			int j;

			assert_int_equal(store_write_begin(f->st, NULL, &tx),
					 0);
			for (j = i; j < i + 100; j++) {
				struct session_params p = {
					.party_a = a, .party_b = b,
					.ttl_ms = 1000,
					.metadata = "{\"pad\":\"0123456789"
						    "0123456789012345678\"}",
				};
				struct session s;

				snprintf(a, sizeof(a), "+1415555%04u",
					 (unsigned)j % 10000);
				snprintf(b, sizeof(b), "+1650555%04u",
					 (unsigned)j % 10000);
				assert_int_equal(store_session_create(tx, &p,
								      now, &s),
						 0);
				if (j % 10 == 0) {	/* a call */
					struct cdr c = { .end_ms = now };

					memcpy(c.session_id, s.id,
					       STORE_ID_LEN);
					assert_int_equal(store_cdr_id_new(now,
								c.id), 0);
					assert_int_equal(store_cdr_add(tx, &c),
							 0);
				}
				session_clear(&s);
			}
			assert_int_equal(store_write_commit(tx), 0);
		}
		assert_int_equal(store_stats_get(f->r, &st), 0);
		now += 2000;
		expire(f, now);
		assert_int_equal(store_stats_get(f->r, &st), 0);
		used_full = st.used_bytes;
		do
			assert_int_equal(purge(f, now + 1, 256, &ns, &nc), 0);
		while (ns + nc);
		assert_int_equal(store_stats_get(f->r, &st), 0);
		file_after[cyc] = st.file_bytes;
		print_message("cycle %d: file %llu used %llu (full: %llu)\n",
			      cyc, (unsigned long long)st.file_bytes,
			      (unsigned long long)st.used_bytes,
			      (unsigned long long)used_full);
		assert_true(st.used_bytes < used_full);
		assert_true(st.used_bytes <= st.file_bytes);
		assert_true(st.file_bytes <= st.map_bytes);
		assert_int_equal(st.map_bytes, MAP_SIZE);
		assert_int_equal(st.purged_sessions,
				 (uint64_t)(cyc + 1) * PER);
		assert_int_equal(st.purged_cdrs,
				 (uint64_t)(cyc + 1) * PER / 10);
	}
	/* after the second cycle, no more than a small margin */
	for (cyc = 2; cyc < CYCLES; cyc++)
		assert_true(file_after[cyc] <=
			    file_after[1] + file_after[1] / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_purge_exact,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_purge_bounded,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_purge_space_reused,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
