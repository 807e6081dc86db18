/*
 * store_fx.h - the cmocka fixture the store's unit tests share: a fresh
 * store in a temporary directory with one reader, removed afterwards.
 * The including test defines MAP_SIZE (bytes) and T0 (a fixed "now",
 * ms) first. Header-only; tests only.
 */
#ifndef MASKD_TEST_STORE_FX_H
#define MASKD_TEST_STORE_FX_H

#include "maskd/store.h"
#include "../test_util.h"

struct fx {
	char *dir;
	char path[512];
	struct store *st;
	struct store_reader *r;
};

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = test_tmpdir();
	assert_non_null(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;

	store_reader_close(f->r);
	store_close(f->st);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* pool_add() - @vn into the pool, in its own committed transaction. */
static inline void pool_add(struct fx *f, const char *vn)
{
	struct store_txn *tx;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_add(tx, vn, "US", T0), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

#endif
