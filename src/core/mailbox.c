/*
 * mailbox.c - messages from any thread into a libevent thread (mailbox.h).
 *
 * The queue is a growable ring of fixed-size slots under a mutex; an
 * eventfd tells the receiving loop there is something to take. The
 * receiver swaps the whole ring out under the lock and runs the handlers
 * without it, so a slow handler never blocks a poster.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "maskd/mailbox.h"

struct mailbox {
	pthread_mutex_t lock;
	int efd;
	struct event *ev;
	struct event *lazy_ev;	/* mailbox_lazy(): the receiver's look */
	struct timeval lazy_tv;	/* its period */
	bool lazy_armed;	/* lazy_ev is pending: lazy posts need no
				 * wake-up */
	bool lazy_want;		/* a lazy post found it not: the receiver
				 * arms it when it takes that post */
	size_t size;		/* bytes per message */
	mailbox_h *h;
	void *arg;
	char *q;		/* n messages of size bytes, oldest first */
	size_t n, cap;
	bool woken;		/* the eventfd was written for this batch */
};

/*
 * Take what is queued and run the handlers. @look: the lazy timer's look.
 * The timer runs only while lazy posts come: armed by the receiver when
 * it takes a lazy post that woke it, stopped by a look that finds
 * nothing. Ticking on with nothing to take cost an idle maskd twenty
 * wake-ups a second (issue 14).
 */
static void mailbox_drain(struct mailbox *mb, bool look)
{
	bool arm = false, disarm = false;
	char *q;
	size_t n, i;

	pthread_mutex_lock(&mb->lock);
	q = mb->q;
	n = mb->n;
	mb->q = NULL;
	mb->n = 0;
	mb->cap = 0;
	mb->woken = false;
	if (mb->lazy_want && !mb->lazy_armed) {
		mb->lazy_armed = true;
		arm = true;
	} else if (look && !n && mb->lazy_armed) {
		mb->lazy_armed = false;
		disarm = true;
	}
	mb->lazy_want = false;
	pthread_mutex_unlock(&mb->lock);

	if (disarm)
		event_del(mb->lazy_ev);
	if (arm && event_add(mb->lazy_ev, &mb->lazy_tv)) {
		/* lazy posts wake the receiver again */
		pthread_mutex_lock(&mb->lock);
		mb->lazy_armed = false;
		pthread_mutex_unlock(&mb->lock);
	}
	for (i = 0; i < n; i++)
		mb->h(q + i * mb->size, mb->arg);
	free(q);
}

static void mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;

	/* the counter only says "look"; its value does not matter */
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	mailbox_drain(arg, false);
}

int mailbox_alloc(struct mailbox **mbp, struct event_base *base, size_t size,
		  mailbox_h *h, void *arg)
{
	struct mailbox *mb;
	int err;

	if (size == 0)
		return EINVAL;
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return ENOMEM;
	mb->size = size;
	mb->h = h;
	mb->arg = arg;
	mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb->efd < 0) {
		err = errno;
		free(mb);
		return err;
	}
	err = pthread_mutex_init(&mb->lock, NULL);
	if (err) {
		close(mb->efd);
		free(mb);
		return err;
	}
	mb->ev = event_new(base, mb->efd, EV_READ | EV_PERSIST, mailbox_cb,
			   mb);
	if (!mb->ev || event_add(mb->ev, NULL)) {
		if (mb->ev)
			event_free(mb->ev);
		pthread_mutex_destroy(&mb->lock);
		close(mb->efd);
		free(mb);
		return ENOMEM;
	}
	*mbp = mb;
	return 0;
}

static void mailbox_lazy_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mailbox_drain(arg, true);
}

int mailbox_lazy(struct mailbox *mb, unsigned period_ms)
{
	mb->lazy_tv.tv_sec = period_ms / 1000;
	mb->lazy_tv.tv_usec = (period_ms % 1000) * 1000;
	/* armed by the first lazy post (mailbox_drain()) */
	mb->lazy_ev = event_new(event_get_base(mb->ev), -1, EV_PERSIST,
				mailbox_lazy_cb, mb);
	return mb->lazy_ev ? 0 : ENOMEM;
}

static int mailbox_put(struct mailbox *mb, const void *msg, bool lazy)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&mb->lock);
	if (mb->n == mb->cap) {
		size_t ncap = mb->cap ? mb->cap * 2 : 16;
		char *nq = realloc(mb->q, ncap * mb->size);

		if (!nq) {
			pthread_mutex_unlock(&mb->lock);
			return ENOMEM;
		}
		mb->q = nq;
		mb->cap = ncap;
	}
	memcpy(mb->q + mb->n * mb->size, msg, mb->size);
	if (lazy && mb->lazy_armed) {
		/* the receiver looks anyway; unless the batch grows big */
		wake = ++mb->n == MAILBOX_LAZY_MAX;
	} else if (lazy && mb->lazy_ev) {
		/* no look is due: wake it now, and it starts looking */
		mb->lazy_want = true;
		wake = mb->n++ == 0 || !mb->woken;
	} else
		/* one wake-up per batch is enough (a lazy batch got none:
		 * the first eager post after it wakes) */
		wake = mb->n++ == 0 || !mb->woken;
	mb->woken = mb->woken || wake;
	pthread_mutex_unlock(&mb->lock);

	if (wake && write(mb->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return errno;
	return 0;
}

int mailbox_post(struct mailbox *mb, const void *msg)
{
	return mailbox_put(mb, msg, false);
}

int mailbox_post_lazy(struct mailbox *mb, const void *msg)
{
	return mailbox_put(mb, msg, true);
}

void mailbox_free(struct mailbox *mb)
{
	if (!mb)
		return;
	mailbox_drain(mb, false);
	if (mb->lazy_ev)
		event_free(mb->lazy_ev);
	event_free(mb->ev);
	close(mb->efd);
	pthread_mutex_destroy(&mb->lock);
	free(mb->q);
	free(mb);
}
