/*
 * test_writer.c - group commit on a real libevent loop and a real store.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/writer.h"
#include "../test_util.h"

#define T0 1800000000000LL

struct fx {
	char *dir;
	struct event_base *base;
	struct store *st;
	struct store_reader *r;
	struct writer *w;
};

/* One request: add a number, or fail on purpose after adding it. */
struct req {
	struct fx *f;
	const char *vn;
	int fail_with;		/* op returns this after its write */
	int done_err;
	int done_calls;
	int order;		/* when done ran, 1-based */
	struct req *then;	/* submitted from the done handler */
};

static int done_seq;

static int add_op(struct store_txn *tx, void *arg)
{
	struct req *q = arg;
	int rc = store_pool_add(tx, q->vn, "US", T0);

	return rc ? rc : q->fail_with;
}

static void add_done(int err, void *arg)
{
	struct req *q = arg;

	q->done_err = err;
	q->done_calls++;
	q->order = ++done_seq;
	if (q->then)
		assert_int_equal(writer_submit(q->f->w, add_op, add_done,
					       q->then), 0);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[512];

	assert_non_null(f);
	f->dir = test_tmpdir();
	snprintf(path, sizeof(path), "%s/db", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(store_open(&f->st, path, 16 << 20, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(writer_alloc(&f->w, f->base, f->st, NULL), 0);
	done_seq = 0;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	writer_free(f->w);
	store_reader_close(f->r);
	store_close(f->st);
	event_base_free(f->base);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static bool in_pool(struct fx *f, const char *vn)
{
	struct pool_number n;

	return store_pool_get(f->r, vn, &n) == 0;
}

/* Three requests, one loop turn: one commit, handlers in order, and no
 * handler before the commit. */
static void test_one_batch(void **state)
{
	struct fx *f = *state;
	struct req q[3] = {
		{ .f = f, .vn = "+15550000001" },
		{ .f = f, .vn = "+15550000002" },
		{ .f = f, .vn = "+15550000003" },
	};
	struct writer_stats ws;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(writer_submit(f->w, add_op, add_done, &q[i]),
				 0);
	assert_int_equal(q[0].done_calls, 0);
	assert_false(in_pool(f, "+15550000001"));

	assert_true(event_base_loop(f->base, EVLOOP_NONBLOCK) >= 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(q[i].done_calls, 1);
		assert_int_equal(q[i].done_err, 0);
		assert_int_equal(q[i].order, i + 1);
	}
	assert_true(in_pool(f, "+15550000003"));
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 1);
	assert_int_equal(ws.ops, 3);
	assert_int_equal(ws.failures, 0);
}

/* writer_submit_later(): nothing runs on a loop turn before
 * WRITER_LATER_MS; then the two queued run in one batch. A
 * writer_submit() meanwhile takes the waiting one along at once. */
static void test_later(void **state)
{
	struct fx *f = *state;
	struct req q[3] = {
		{ .f = f, .vn = "+15550000011" },
		{ .f = f, .vn = "+15550000012" },
		{ .f = f, .vn = "+15550000013" },
	};
	struct timeval wait = { 0, (WRITER_LATER_MS + 20) * 1000 };
	struct writer_stats ws;

	assert_int_equal(writer_submit_later(f->w, add_op, add_done, &q[0]),
			 0);
	assert_int_equal(writer_submit_later(f->w, add_op, add_done, &q[1]),
			 0);
	assert_true(event_base_loop(f->base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(q[0].done_calls, 0);
	assert_false(in_pool(f, "+15550000011"));

	assert_int_equal(event_base_loopexit(f->base, &wait), 0);
	assert_true(event_base_loop(f->base, 0) >= 0);
	assert_int_equal(q[0].done_calls, 1);
	assert_int_equal(q[1].done_calls, 1);
	assert_true(in_pool(f, "+15550000012"));
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 1);

	/* waiting, then an urgent one: both in the next turn's batch */
	assert_int_equal(writer_submit_later(f->w, add_op, add_done, &q[2]),
			 0);
	q[0].done_calls = 0;
	q[0].vn = "+15550000014";
	assert_int_equal(writer_submit(f->w, add_op, add_done, &q[0]), 0);
	assert_true(event_base_loop(f->base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(q[2].done_calls, 1);
	assert_int_equal(q[0].done_calls, 1);
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 2);
	assert_int_equal(ws.ops, 4);
}

/* writer_submit_cache(): alone it waits WRITER_CACHE_MS, then commits
 * in a lazy batch of its own, which is a real commit (there after the
 * store is closed and opened again); with a durable operation it shares
 * that one's batch, which is not lazy; it also cuts a writer_submit_later()
 * wait short. */
static void test_cache(void **state)
{
	struct fx *f = *state;
	struct req q[4] = {
		{ .f = f, .vn = "+15550000051" },
		{ .f = f, .vn = "+15550000052" },
		{ .f = f, .vn = "+15550000053" },
		{ .f = f, .vn = "+15550000054" },
	};
	/* past the cache wait, well short of WRITER_LATER_MS */
	struct timeval wait = { 0, (WRITER_CACHE_MS + 15) * 1000 };
	struct writer_stats ws;
	char path[512];

	assert_true(WRITER_CACHE_MS + 15 < WRITER_LATER_MS);
	assert_int_equal(writer_submit_cache(f->w, add_op, add_done, &q[0]),
			 0);
	assert_true(event_base_loop(f->base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(q[0].done_calls, 0);
	assert_int_equal(event_base_loopexit(f->base, &wait), 0);
	assert_true(event_base_loop(f->base, 0) >= 0);
	assert_int_equal(q[0].done_calls, 1);
	assert_int_equal(q[0].done_err, 0);
	assert_true(in_pool(f, "+15550000051"));
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 1);
	assert_int_equal(ws.lazy, 1);

	/* with a durable one: one batch, synced as ever */
	assert_int_equal(writer_submit_cache(f->w, add_op, add_done, &q[1]),
			 0);
	assert_int_equal(writer_submit(f->w, add_op, add_done, &q[2]), 0);
	assert_true(event_base_loop(f->base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(q[1].done_calls, 1);
	assert_int_equal(q[2].done_calls, 1);
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 2);
	assert_int_equal(ws.lazy, 1);

	/* a later one waiting: the cache one's shorter wait runs both,
	 * in a batch that is not lazy */
	q[0].vn = "+15550000055";
	assert_int_equal(writer_submit_later(f->w, add_op, add_done, &q[0]),
			 0);
	assert_int_equal(writer_submit_cache(f->w, add_op, add_done, &q[3]),
			 0);
	assert_int_equal(event_base_loopexit(f->base, &wait), 0);
	assert_true(event_base_loop(f->base, 0) >= 0);
	assert_int_equal(q[0].done_calls, 2);
	assert_int_equal(q[3].done_calls, 1);
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 3);
	assert_int_equal(ws.lazy, 1);

	/* committed for real: there once the store is opened again */
	writer_free(f->w);
	store_reader_close(f->r);
	store_close(f->st);
	snprintf(path, sizeof(path), "%s/db", f->dir);
	assert_int_equal(store_open(&f->st, path, 16 << 20, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(writer_alloc(&f->w, f->base, f->st, NULL), 0);
	assert_true(in_pool(f, "+15550000051"));
	assert_true(in_pool(f, "+15550000054"));
	assert_true(in_pool(f, "+15550000055"));
}

/* A failing operation leaves no trace; its neighbours commit. */
static void test_failure_isolated(void **state)
{
	struct fx *f = *state;
	struct req ok1 = { .f = f, .vn = "+15550000001" };
	struct req bad = { .f = f, .vn = "+15550000002", .fail_with = EPERM };
	struct req dup = { .f = f, .vn = "+15550000001" };
	struct req ok2 = { .f = f, .vn = "+15550000003" };

	writer_submit(f->w, add_op, add_done, &ok1);
	writer_submit(f->w, add_op, add_done, &bad);
	writer_submit(f->w, add_op, add_done, &dup);
	writer_submit(f->w, add_op, add_done, &ok2);
	event_base_loop(f->base, EVLOOP_NONBLOCK);

	assert_int_equal(ok1.done_err, 0);
	assert_int_equal(bad.done_err, EPERM);
	assert_int_equal(dup.done_err, EEXIST);	/* sees ok1 in the batch */
	assert_int_equal(ok2.done_err, 0);
	assert_true(in_pool(f, "+15550000001"));
	assert_false(in_pool(f, "+15550000002"));
	assert_true(in_pool(f, "+15550000003"));
}

/* The @n requests at @q ran once each, in order; the second (made to
 * fail with EIO) left nothing, the others are in. */
static void assert_only_second_failed(struct fx *f, struct req *q, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		assert_int_equal(q[i].done_calls, 1);
		assert_int_equal(q[i].done_err, i == 1 ? EIO : 0);
		assert_int_equal(q[i].order, i + 1);
		assert_true(in_pool(f, q[i].vn) == (i != 1));
	}
}

/* writer_submit_group(): neighbours share a nested transaction; when
 * one of them fails, the others are run again alone and kept, the failed
 * one leaves nothing, and a plain operation between two groups keeps its
 * place in the order. */
static void test_group(void **state)
{
	struct fx *f = *state;
	struct req q[6] = {
		{ .f = f, .vn = "+15550000061" },
		{ .f = f, .vn = "+15550000062", .fail_with = EIO },
		{ .f = f, .vn = "+15550000063" },
		{ .f = f, .vn = "+15550000064" },	/* plain */
		{ .f = f, .vn = "+15550000065" },
		{ .f = f, .vn = "+15550000066" },
	};
	int i;

	for (i = 0; i < 6; i++)
		assert_int_equal(i == 3 ?
				 writer_submit_later(f->w, add_op, add_done,
						     &q[i]) :
				 writer_submit_group(f->w, add_op, add_done,
						     &q[i]), 0);
	writer_flush(f->w);
	assert_only_second_failed(f, q, 6);
	/* the same number twice in one group: the second fails (EEXIST)
	 * on its own, the first stays */
	memset(q, 0, sizeof(q));
	q[0] = (struct req){ .f = f, .vn = "+15550000067" };
	q[1] = (struct req){ .f = f, .vn = "+15550000067" };
	q[2] = (struct req){ .f = f, .vn = "+15550000068" };
	for (i = 0; i < 3; i++)
		assert_int_equal(writer_submit_group(f->w, add_op, add_done,
						     &q[i]), 0);
	writer_flush(f->w);
	assert_int_equal(q[0].done_err, 0);
	assert_int_not_equal(q[1].done_err, 0);
	assert_int_equal(q[2].done_err, 0);
	assert_true(in_pool(f, "+15550000067"));
	assert_true(in_pool(f, "+15550000068"));
}

/* writer_submit_cache() groups its neighbours as writer_submit_group()
 * does, failure isolation included: a failing cache write leaves
 * nothing and costs only itself, in a batch that stays lazy. */
static void test_cache_group(void **state)
{
	struct fx *f = *state;
	struct req q[3] = {
		{ .f = f, .vn = "+15550000071" },
		{ .f = f, .vn = "+15550000072", .fail_with = EIO },
		{ .f = f, .vn = "+15550000073" },
	};
	struct writer_stats ws;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(writer_submit_cache(f->w, add_op, add_done,
						     &q[i]), 0);
	writer_flush(f->w);
	assert_only_second_failed(f, q, 3);
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 1);
	assert_int_equal(ws.lazy, 1);
}

/* What a handler submits runs in a later batch, not lost, not nested. */
static void test_submit_from_done(void **state)
{
	struct fx *f = *state;
	struct req second = { .f = f, .vn = "+15550000002" };
	struct req first = { .f = f, .vn = "+15550000001", .then = &second };
	struct writer_stats ws;

	writer_submit(f->w, add_op, add_done, &first);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	if (!second.done_calls)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(first.done_calls, 1);
	assert_int_equal(second.done_calls, 1);
	assert_int_equal(second.done_err, 0);
	writer_stats_get(f->w, &ws);
	assert_int_equal(ws.batches, 2);
}

/* More than one batch can hold: split, every request answered once. */
static void test_large_split(void **state)
{
	struct fx *f = *state;
	enum { N = 5000 };
	static struct req q[N];
	static char vns[N][E164_SIZE];
	struct writer_stats ws;
	int i, turns = 0;

	for (i = 0; i < N; i++) {
		snprintf(vns[i], E164_SIZE, "+1555%07u", (unsigned)i);
		q[i] = (struct req){ .f = f, .vn = vns[i] };
		assert_int_equal(writer_submit(f->w, add_op, add_done, &q[i]),
				 0);
	}
	while (done_seq < N && turns++ < 10)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	for (i = 0; i < N; i++)
		assert_int_equal(q[i].done_calls, 1);
	writer_stats_get(f->w, &ws);
	assert_true(ws.batches >= 2);
	assert_int_equal(ws.ops, N);
}

/* writer_free() answers what is still queued. */
static void test_free_flushes(void **state)
{
	struct fx *f = *state;
	struct req q = { .f = f, .vn = "+15550000001" };

	writer_submit(f->w, add_op, add_done, &q);
	writer_free(f->w);
	f->w = NULL;
	assert_int_equal(q.done_calls, 1);
	assert_true(in_pool(f, "+15550000001"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_batch,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failure_isolated,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_group, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_submit_from_done,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_large_split,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cache_group, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_cache, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_later,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_flushes,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
