/*
 * test_mqueue.c - typed messages pushed from other threads reach the
 * receiver, each exactly once, in each sender's order, with their data
 * copied; a full queue refuses at once (ENOSPC) instead of blocking; and
 * freeing a queue frees what is still in it (LSan checks that).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/mqueue.h"

#define THREADS 4
#define PER_THREAD 20000
#define SMALL_MAX 64		/* so senders do meet a full queue */

struct msg {
	int seq;
	char text[40];		/* copied with the message */
};

struct rx {
	int next[THREADS];	/* next seq expected per sender (= id) */
	int total;
	struct event_base *base;
};

struct sender {
	struct mqueue *mq;
	int id;
	unsigned long full;	/* ENOSPC seen, retried */
};

static void on_msg(int id, void *data, size_t len, void *arg)
{
	struct rx *rx = arg;
	struct msg *m = data;
	char want[40];

	assert_true(id >= 0 && id < THREADS);
	assert_int_equal(len, sizeof(*m));
	assert_int_equal(m->seq, rx->next[id]);	/* order, once each */
	snprintf(want, sizeof(want), "sender %d message %d", id, m->seq);
	assert_string_equal(m->text, want);
	rx->next[id]++;
	if (++rx->total == THREADS * PER_THREAD && rx->base)
		event_base_loopbreak(rx->base);
}

/* The sender's loss would be counted in maskd; here it tries again, to
 * check that nothing pushed with 0 is lost and nothing refused arrives. */
static void *send_all(void *arg)
{
	struct sender *s = arg;
	struct msg m;
	int i, err;

	for (i = 0; i < PER_THREAD; i++) {
		memset(&m, 0, sizeof(m));
		m.seq = i;
		snprintf(m.text, sizeof(m.text), "sender %d message %d", s->id,
			 i);
		while ((err = mqueue_push(s->mq, s->id, &m, sizeof(m)))) {
			assert_int_equal(err, ENOSPC);
			s->full++;
			sched_yield();
		}
	}
	return NULL;
}

static void start_senders(struct mqueue *mq, pthread_t *t, struct sender *s)
{
	int i;

	for (i = 0; i < THREADS; i++) {
		s[i].mq = mq;
		s[i].id = i;
		s[i].full = 0;
		assert_int_equal(pthread_create(&t[i], NULL, send_all, &s[i]),
				 0);
	}
}

/* The receiver as sofia's su_root sees it: a bare fd in a poll loop. */
static void test_threads_poll(void **state)
{
	struct rx rx;
	struct mqueue *mq;
	struct sender s[THREADS];
	pthread_t t[THREADS];
	struct pollfd pfd;
	int i;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(mqueue_alloc(&mq, SMALL_MAX, on_msg, &rx), 0);
	start_senders(mq, t, s);
	pfd.fd = mqueue_fd(mq);
	pfd.events = POLLIN;
	while (rx.total < THREADS * PER_THREAD) {
		assert_true(poll(&pfd, 1, 10000) == 1);
		mqueue_dispatch(mq);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(rx.next[i], PER_THREAD);
	}
	assert_int_equal(mqueue_count(mq), 0);
	mqueue_free(mq);
}

/* The receiver as a libevent thread sees it (the control thread). */
static void test_threads_libevent(void **state)
{
	struct rx rx;
	struct mqueue *mq;
	struct sender s[THREADS];
	pthread_t t[THREADS];
	int i;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	rx.base = event_base_new();
	assert_non_null(rx.base);
	assert_int_equal(mqueue_alloc(&mq, 1000000, on_msg, &rx), 0);
	assert_int_equal(mqueue_listen(mq, rx.base), 0);
	start_senders(mq, t, s);
	assert_int_equal(event_base_dispatch(rx.base), 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(rx.next[i], PER_THREAD);
	}
	assert_int_equal(rx.total, THREADS * PER_THREAD);
	mqueue_free(mq);	/* also frees the event */
	event_base_free(rx.base);
}

struct seen {
	int ids[8];
	size_t lens[8];
	int n;
};

static void on_seen(int id, void *data, size_t len, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	if (len)
		assert_non_null(data);
	else
		assert_null(data);
	s->ids[s->n] = id;
	s->lens[s->n] = len;
	s->n++;
}

/* Full means refused at once; taking the messages out makes room. */
static void test_full(void **state)
{
	struct seen seen;
	struct mqueue *mq;
	uint64_t v = 7;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(mqueue_alloc(&mq, 3, on_seen, &seen), 0);
	assert_int_equal(mqueue_push(mq, 1, &v, sizeof(v)), 0);
	assert_int_equal(mqueue_push(mq, 2, NULL, 0), 0);
	assert_int_equal(mqueue_push(mq, 3, "abc", 4), 0);
	assert_int_equal(mqueue_push(mq, 4, &v, sizeof(v)), ENOSPC);
	assert_int_equal(mqueue_count(mq), 3);

	mqueue_dispatch(mq);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.ids[0], 1);
	assert_int_equal(seen.lens[0], sizeof(v));
	assert_int_equal(seen.ids[1], 2);
	assert_int_equal(seen.lens[1], 0);
	assert_int_equal(seen.ids[2], 3);
	assert_int_equal(seen.lens[2], 4);
	assert_int_equal(mqueue_count(mq), 0);
	assert_int_equal(mqueue_push(mq, 4, &v, sizeof(v)), 0);
	mqueue_dispatch(mq);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen.ids[3], 4);
	mqueue_free(mq);
}

/* A wake-up without a message makes the fd readable and delivers
 * nothing; the fd is quiet again after the dispatch. */
static void test_wake(void **state)
{
	struct seen seen;
	struct mqueue *mq;
	struct pollfd pfd;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(mqueue_alloc(&mq, 4, on_seen, &seen), 0);
	pfd.fd = mqueue_fd(mq);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 0);
	mqueue_wake(mq);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	mqueue_dispatch(mq);
	assert_int_equal(seen.n, 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	mqueue_free(mq);
}

/* Freeing a queue that still holds messages frees them, undelivered. */
static void test_free_drops(void **state)
{
	struct seen seen;
	struct mqueue *mq;
	char big[4096];
	int i;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	memset(big, 'x', sizeof(big));
	assert_int_equal(mqueue_alloc(&mq, 100, on_seen, &seen), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(mqueue_push(mq, i, big, sizeof(big)), 0);
	mqueue_free(mq);
	assert_int_equal(seen.n, 0);
	mqueue_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_poll),
		cmocka_unit_test(test_threads_libevent),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_wake),
		cmocka_unit_test(test_free_drops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
