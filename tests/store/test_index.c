/*
 * test_index.c - the status and ended indexes (store_index.c): listing by
 * status through the index equals filtering a scan of every session, page
 * by page and from any cursor; a store written before the indexes existed
 * gets them at open; a store from a newer maskd is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lmdb.h>

#include "maskd/store.h"

#define T0 1800000000000LL
#define MAP_SIZE (256ULL << 20)
#define MAX_IDS 12000

#include "store_fx.h"

static void fx_reopen(struct fx *f)
{
	store_reader_close(f->r);
	store_close(f->st);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
}

/* ids and statuses, as a listing handed them out */
struct ids {
	size_t n;
	uint8_t id[MAX_IDS][STORE_ID_LEN];
	enum session_status status[MAX_IDS];
	int64_t ended_at[MAX_IDS];
};

static int ids_cb(const struct session *s, void *arg)
{
	struct ids *l = arg;

	assert_true(l->n < MAX_IDS);
	memcpy(l->id[l->n], s->id, STORE_ID_LEN);
	l->status[l->n] = s->status;
	l->ended_at[l->n] = s->ended_at_ms;
	l->n++;
	return 0;
}

/* scan() - every session, through the sessions themselves. */
static void scan(struct fx *f, int64_t now, struct ids *all)
{
	struct session_filter flt;
	bool more;

	memset(&flt, 0, sizeof(flt));
	flt.limit = MAX_IDS;
	all->n = 0;
	assert_int_equal(store_session_list(f->r, &flt, now, ids_cb, all,
					    &more), 0);
	assert_false(more);
}

/*
 * check_status() - listing @status from after @after (NULL: from the
 * start) in pages of @limit gives exactly the scan's sessions of that
 * status after @after, in the same order.
 */
static void check_status(struct fx *f, int64_t now, const struct ids *all,
			 enum session_status status, const uint8_t *after,
			 unsigned limit)
{
	static struct ids got, page;
	struct session_filter flt;
	size_t i, k = 0;
	bool more;

	memset(&flt, 0, sizeof(flt));
	flt.by_status = true;
	flt.status = status;
	flt.limit = limit;
	if (after) {
		flt.has_cursor = true;
		memcpy(flt.after, after, STORE_ID_LEN);
	}
	got.n = 0;
	do {
		page.n = 0;
		assert_int_equal(store_session_list(f->r, &flt, now, ids_cb,
						    &page, &more), 0);
		assert_true(page.n <= limit);
		if (more)
			assert_int_equal(page.n, limit);
		for (i = 0; i < page.n; i++) {
			assert_int_equal(page.status[i], status);
			memcpy(got.id[got.n++], page.id[i], STORE_ID_LEN);
		}
		if (page.n) {
			flt.has_cursor = true;
			memcpy(flt.after, page.id[page.n - 1], STORE_ID_LEN);
		}
	} while (more);

	for (i = 0; i < all->n; i++) {
		if (all->status[i] != status)
			continue;
		if (after && memcmp(all->id[i], after, STORE_ID_LEN) <= 0)
			continue;
		assert_true(k < got.n);
		assert_memory_equal(got.id[k], all->id[i], STORE_ID_LEN);
		k++;
	}
	assert_int_equal(k, got.n);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/*
 * fill() - @n sessions at random: short and long ttls, some closed.
 * Returns the time of the last one: every write expires what is due by
 * then, so a reader later than that sees sessions still marked active
 * past their expiry - the sweeper is behind.
 */
static int64_t fill(struct fx *f, unsigned n, uint64_t seed)
{
	static const char *const pool[] = {
		"+15550000001", "+15550000002", "+15550000003",
		"+15550000004", "+15550000005",
	};
	struct store_txn *tx;
	int64_t now = T0;
	unsigned i;
	size_t v;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	for (v = 0; v < sizeof(pool) / sizeof(pool[0]); v++)
		assert_int_equal(store_pool_add(tx, pool[v], "US", T0), 0);
	for (i = 0; i < n; i++) {
		char a[E164_SIZE], b[E164_SIZE];
		struct session_params p = { .party_a = a, .party_b = b };
		struct store_txn *child;
		struct session s;
		unsigned what = (unsigned)(rnd(&seed) % 10);
		int rc;

		snprintf(a, sizeof(a), "+1415555%04u", i % 10000);
		snprintf(b, sizeof(b), "+1650555%04u", (i / 3) % 10000);
		p.ttl_ms = what < 5 ? 1000 + (int64_t)(rnd(&seed) % 100000) :
			   10000000;
		now += (int64_t)(rnd(&seed) % 20);
		assert_int_equal(store_write_begin(f->st, tx, &child), 0);
		rc = store_session_create(child, &p, now, &s);
		if (rc) {
			assert_int_equal(rc, ENOSPC);
			store_write_abort(child);
			continue;
		}
		if (what == 9) {
			session_clear(&s);
			assert_int_equal(store_session_close(child, s.id, now,
							     &s), 0);
		}
		session_clear(&s);
		assert_int_equal(store_write_commit(child), 0);
		if (i % 500 == 499) {
			assert_int_equal(store_write_commit(tx), 0);
			assert_int_equal(store_write_begin(f->st, NULL, &tx),
					 0);
		}
	}
	assert_int_equal(store_write_commit(tx), 0);
	return now;
}

/* check_all() - every status, several page sizes and cursors; @mixed:
 * the store must hold sessions of every status; @big: a big store, so
 * large pages and a few cursors only (the test stays quick under ASan). */
static void check_all(struct fx *f, int64_t now, bool mixed, bool big)
{
	static const enum session_status all_st[] = {
		SESSION_ACTIVE, SESSION_EXPIRED, SESSION_CLOSED,
	};
	static const unsigned limits[] = { 1, 3, 7, 100, 1000 };
	static struct ids all;
	unsigned n_st[3] = { 0 };
	size_t i, j, l;

	scan(f, now, &all);
	for (i = 0; i < all.n; i++)
		n_st[all.status[i]]++;
	/* the mix this is about: every status, and sessions still marked
	 * active that a reader sees as expired */
	assert_true(n_st[SESSION_ACTIVE] > 0);
	assert_true(!mixed || n_st[SESSION_EXPIRED] > 0);
	assert_true(!mixed || n_st[SESSION_CLOSED] > 0);

	for (i = 0; i < 3; i++) {
		for (l = 0; l < sizeof(limits) / sizeof(limits[0]); l++)
			if (!big || limits[l] >= 100)
				check_status(f, now, &all, all_st[i], NULL,
					     limits[l]);
		/* from cursors that are any session's id, or none */
		for (j = 0; j < all.n; j += all.n / (big ? 3 : 7) + 1)
			check_status(f, now, &all, all_st[i], all.id[j],
				     big ? 1000 : 50);
		check_status(f, now, &all, all_st[i], all.id[all.n - 1], 5);
	}
}

static bool has_unswept(struct fx *f, int64_t now)
{
	int64_t at;

	if (store_next_expiry(f->r, &at))
		return 0;
	return at <= now;
}

static void test_status_list_equals_scan(void **state)
{
	struct fx *f = *state;
	int64_t now = fill(f, 800, 42) + 5000;

	assert_true(has_unswept(f, now));	/* the sweeper is behind */
	check_all(f, now, true, false);
	/* later, when all the short ones have run out */
	check_all(f, now + 200000, true, false);
}

/* drop_indexes() - make @path look like a store of the first release:
 * no status or ended database, no schema key. */
static void drop_indexes(const char *path, uint64_t schema)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "schema" }, v = { sizeof(schema), &schema };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	if (schema) {
		assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	} else {
		assert_int_equal(mdb_dbi_open(txn, "status", 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
		assert_int_equal(mdb_dbi_open(txn, "ended", 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
		assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/*
 * A store of the first release (more sessions than one upgrade batch)
 * opens with both indexes built: listing by status equals the scan, and
 * retention finds every ended session, oldest end first.
 */
static void test_upgrade_old_store(void **state)
{
	struct fx *f = *state;
	static struct ids all;
	struct store_txn *tx;
	/* one more than an upgrade batch (UPGRADE_BATCH) */
	int64_t now = fill(f, 10100, 7) + 5000, at, first = INT64_MAX;
	unsigned ns, nc, ended = 0;
	size_t i;

	store_reader_close(f->r);
	store_close(f->st);
	drop_indexes(f->path, 0);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);

	check_all(f, now, true, true);
	/* ended entries: the sessions the store has marked ended */
	scan(f, T0, &all);	/* a clock before any expiry: as stored */
	for (i = 0; i < all.n; i++) {
		if (all.status[i] == SESSION_ACTIVE)
			continue;
		ended++;
		if (all.ended_at[i] < first)
			first = all.ended_at[i];
	}
	assert_true(ended > 0);
	assert_int_equal(store_next_ended(f->r, &at), 0);
	assert_int_equal(at, first);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, INT64_MAX, UINT32_MAX, &ns, &nc), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(ns, ended);
	assert_int_equal(store_next_ended(f->r, &at), ENOENT);

	/* and after opening again, what is left still lists */
	fx_reopen(f);
	check_all(f, now, false, true);
}

static void test_newer_store_refused(void **state)
{
	struct fx *f = *state;

	store_reader_close(f->r);
	store_close(f->st);
	drop_indexes(f->path, 99);
	f->r = NULL;
	f->st = NULL;
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), EPROTO);
	assert_null(f->st);
	/* nothing was changed: back at this schema, it opens */
	drop_indexes(f->path, 2);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_list_equals_scan,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_old_store,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_newer_store_refused,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
