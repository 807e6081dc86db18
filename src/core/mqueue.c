/*
 * mqueue.c - a typed message queue into one thread (mqueue.h).
 *
 * A singly linked list of messages under a mutex, each its own allocation
 * holding the id and a copy of the data, and an eventfd that says "look".
 * Only the push that finds the list empty writes the eventfd: the
 * receiver reads the eventfd before it takes the list, so a message
 * linked in between is taken now and the next push wakes it again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "maskd/mqueue.h"

struct mqueue_msg {
	struct mqueue_msg *next;
	int id;
	size_t len;
	alignas(max_align_t) unsigned char data[];
};

struct mqueue {
	pthread_mutex_t lock;
	int efd;
	struct event *ev;		/* mqueue_listen(); NULL otherwise */
	mqueue_h *h;
	void *arg;
	size_t max;
	/* under lock */
	struct mqueue_msg *head, **tail;
	size_t n;
};

static void mqueue_msgs_free(struct mqueue_msg *m)
{
	struct mqueue_msg *next;

	for (; m; m = next) {
		next = m->next;
		free(m);
	}
}

int mqueue_alloc(struct mqueue **mqp, size_t max, mqueue_h *h, void *arg)
{
	struct mqueue *mq;
	int err;

	if (!mqp || !max || !h)
		return EINVAL;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return ENOMEM;
	mq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mq->efd < 0) {
		err = errno;
		free(mq);
		return err;
	}
	err = pthread_mutex_init(&mq->lock, NULL);
	if (err) {
		close(mq->efd);
		free(mq);
		return err;
	}
	mq->h = h;
	mq->arg = arg;
	mq->max = max;
	mq->tail = &mq->head;
	*mqp = mq;
	return 0;
}

void mqueue_free(struct mqueue *mq)
{
	if (!mq)
		return;
	if (mq->ev)
		event_free(mq->ev);
	mqueue_msgs_free(mq->head);
	close(mq->efd);
	pthread_mutex_destroy(&mq->lock);
	free(mq);
}

static void mqueue_signal(struct mqueue *mq)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN: the counter is at its maximum, readable already */
	do
		n = write(mq->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

int mqueue_push(struct mqueue *mq, int id, const void *data, size_t len)
{
	struct mqueue_msg *m;
	bool wake;

	/* allocated outside the lock: a sender holds it only to link in */
	m = malloc(sizeof(*m) + len);
	if (!m)
		return ENOMEM;
	m->next = NULL;
	m->id = id;
	m->len = len;
	if (len)
		memcpy(m->data, data, len);

	pthread_mutex_lock(&mq->lock);
	if (mq->n >= mq->max) {
		pthread_mutex_unlock(&mq->lock);
		free(m);
		return ENOSPC;
	}
	*mq->tail = m;
	mq->tail = &m->next;
	wake = mq->n++ == 0;	/* one wake-up per batch is enough */
	pthread_mutex_unlock(&mq->lock);

	if (wake)
		mqueue_signal(mq);
	return 0;
}

void mqueue_wake(struct mqueue *mq)
{
	mqueue_signal(mq);
}

int mqueue_fd(const struct mqueue *mq)
{
	return mq->efd;
}

void mqueue_dispatch(struct mqueue *mq)
{
	struct mqueue_msg *m, *next;
	uint64_t v;

	/* first the eventfd, then the list: see the top of the file */
	if (read(mq->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled; the list may still hold some */
	}

	pthread_mutex_lock(&mq->lock);
	m = mq->head;
	mq->head = NULL;
	mq->tail = &mq->head;
	mq->n = 0;
	pthread_mutex_unlock(&mq->lock);

	for (; m; m = next) {
		next = m->next;
		mq->h(m->id, m->len ? m->data : NULL, m->len, mq->arg);
		free(m);
	}
}

static void mqueue_event_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mqueue_dispatch(arg);
}

int mqueue_listen(struct mqueue *mq, struct event_base *base)
{
	if (mq->ev)
		return EALREADY;
	mq->ev = event_new(base, mq->efd, EV_READ | EV_PERSIST,
			   mqueue_event_cb, mq);
	if (!mq->ev)
		return ENOMEM;
	/* a base with one priority has only 0; with two, 0 is the high one
	 * the network uses (the writer runs at 1) */
	event_priority_set(mq->ev, 0);
	if (event_add(mq->ev, NULL)) {
		event_free(mq->ev);
		mq->ev = NULL;
		return ENOMEM;
	}
	return 0;
}

size_t mqueue_count(struct mqueue *mq)
{
	size_t n;

	pthread_mutex_lock(&mq->lock);
	n = mq->n;
	pthread_mutex_unlock(&mq->lock);
	return n;
}
