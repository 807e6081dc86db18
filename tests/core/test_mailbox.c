/*
 * test_mailbox.c - messages posted from other threads arrive on the
 * receiver's loop, all of them, each once, in each poster's order.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "maskd/mailbox.h"

#define THREADS 4
#define PER_THREAD 20000

struct msg {
	int thread;
	int seq;
};

struct rx {
	int next[THREADS];	/* next seq expected per thread */
	int total;
	struct event_base *base;
};

struct poster {
	struct mailbox *mb;
	int thread;
};

static void on_msg(void *m, void *arg)
{
	struct msg *msg = m;
	struct rx *rx = arg;

	assert_int_equal(msg->seq, rx->next[msg->thread]);
	rx->next[msg->thread]++;
	if (++rx->total == THREADS * PER_THREAD)
		event_base_loopbreak(rx->base);
}

static void *post_all(void *arg)
{
	struct poster *p = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		struct msg m = { p->thread, i };

		assert_int_equal(mailbox_post(p->mb, &m), 0);
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	struct rx rx = { .total = 0 };
	struct poster p[THREADS];
	pthread_t t[THREADS];
	struct mailbox *mb;
	struct timeval limit = { 60, 0 };
	int i;

	(void)state;
	rx.base = event_base_new();
	assert_non_null(rx.base);
	assert_int_equal(mailbox_alloc(&mb, rx.base, sizeof(struct msg),
				       on_msg, &rx), 0);
	for (i = 0; i < THREADS; i++) {
		p[i] = (struct poster){ mb, i };
		assert_int_equal(pthread_create(&t[i], NULL, post_all, &p[i]),
				 0);
	}
	/* bounded: a lost wake-up fails the test instead of hanging it */
	event_base_loopexit(rx.base, &limit);
	event_base_dispatch(rx.base);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	mailbox_free(mb);	/* delivers any rest */
	assert_int_equal(rx.total, THREADS * PER_THREAD);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(rx.next[i], PER_THREAD);
	event_base_free(rx.base);
}

static void count_msg(void *m, void *arg)
{
	struct msg *msg = m;
	struct rx *rx = arg;

	/* one poster here: in order */
	assert_int_equal(msg->seq, rx->next[0]);
	rx->next[0]++;
	rx->total++;
}

/* Run @base's loop for @ms. */
static void run_for(struct event_base *base, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/*
 * mailbox_lazy(): the first lazy post wakes the receiver (it takes it at
 * once and starts looking); the next ones wake nobody - a loop turn
 * takes nothing - and are delivered by the period's look; a look that
 * finds nothing stops the looking, and the next lazy post wakes again;
 * MAILBOX_LAZY_MAX waiting wake the receiver; an eager post after lazy
 * ones wakes it and all come, in order. A 500 ms period, so that a slow
 * (sanitizer) build never sees a look between two statements.
 */
static void test_lazy(void **state)
{
	struct rx rx = { .total = 0 };
	struct mailbox *mb;
	struct msg m = { 0, 0 };
	int i;

	(void)state;
	rx.base = event_base_new();
	assert_non_null(rx.base);
	assert_int_equal(mailbox_alloc(&mb, rx.base, sizeof(struct msg),
				       count_msg, &rx), 0);
	assert_int_equal(mailbox_lazy(mb, 500), 0);

	/* nobody looks yet: this one wakes */
	assert_int_equal(mailbox_post_lazy(mb, &m), 0);
	m.seq++;
	event_base_loop(rx.base, EVLOOP_NONBLOCK);
	assert_int_equal(rx.total, 1);

	/* now the receiver looks: no wake-up, the look brings it */
	assert_int_equal(mailbox_post_lazy(mb, &m), 0);
	m.seq++;
	event_base_loop(rx.base, EVLOOP_NONBLOCK);
	assert_int_equal(rx.total, 1);
	run_for(rx.base, 700);
	assert_int_equal(rx.total, 2);

	/* a look with nothing to take stops the looking: the next lazy
	 * post wakes the loop (it would wait for a look otherwise) */
	run_for(rx.base, 500);
	assert_int_equal(mailbox_post_lazy(mb, &m), 0);
	m.seq++;
	event_base_loop(rx.base, EVLOOP_NONBLOCK);
	assert_int_equal(rx.total, 3);

	/* many while it looks: the last one wakes the loop, no period
	 * needed */
	for (i = 0; i < MAILBOX_LAZY_MAX; i++, m.seq++)
		assert_int_equal(mailbox_post_lazy(mb, &m), 0);
	event_base_loop(rx.base, EVLOOP_NONBLOCK);
	assert_int_equal(rx.total, 3 + MAILBOX_LAZY_MAX);

	/* lazy, then eager: the eager one brings both now */
	assert_int_equal(mailbox_post_lazy(mb, &m), 0);
	m.seq++;
	assert_int_equal(mailbox_post(mb, &m), 0);
	m.seq++;
	event_base_loop(rx.base, EVLOOP_NONBLOCK);
	assert_int_equal(rx.total, 5 + MAILBOX_LAZY_MAX);

	mailbox_free(mb);
	event_base_free(rx.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_lazy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
