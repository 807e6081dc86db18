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
	size_t size;		/* bytes per message */
	mailbox_h *h;
	void *arg;
	char *q;		/* n messages of size bytes, oldest first */
	size_t n, cap;
};

static void mailbox_drain(struct mailbox *mb)
{
	char *q;
	size_t n, i;

	pthread_mutex_lock(&mb->lock);
	q = mb->q;
	n = mb->n;
	mb->q = NULL;
	mb->n = 0;
	mb->cap = 0;
	pthread_mutex_unlock(&mb->lock);

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
	mailbox_drain(arg);
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

int mailbox_post(struct mailbox *mb, const void *msg)
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
	wake = mb->n++ == 0;	/* one wake-up per batch is enough */
	pthread_mutex_unlock(&mb->lock);

	if (wake && write(mb->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return errno;
	return 0;
}

void mailbox_free(struct mailbox *mb)
{
	if (!mb)
		return;
	mailbox_drain(mb);
	event_free(mb->ev);
	close(mb->efd);
	pthread_mutex_destroy(&mb->lock);
	free(mb->q);
	free(mb);
}
