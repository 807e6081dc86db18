/*
 * mqueue.h - a typed message queue into one thread (model: libre's
 * re_mqueue.h).
 *
 * Any thread pushes (id, data) messages; the data is copied in, so no
 * object of the sender's ever reaches the receiver (messages are copies,
 * never pointers to a call or a request). The receiving thread watches one
 * file descriptor (an eventfd) in its own loop - libevent through
 * mqueue_listen(), sofia-sip's su_root through su_wait_create() and
 * su_root_register() on mqueue_fd() - and calls mqueue_dispatch() when it
 * is readable: every queued message goes to the handler, once, in the
 * order it was pushed (per sender; senders interleave as they pushed).
 *
 * The queue is bounded: a push into a full queue fails with ENOSPC at once
 * and the sender counts the loss. A sender never waits for the receiver to
 * do anything; it holds the queue's mutex only to link one message in,
 * and the receiver holds it only to take the whole list out.
 *
 * Owned by the receiving thread (alloc, dispatch, free); mqueue_push()
 * and mqueue_wake() from any thread while it lives.
 */
#ifndef MASKD_MQUEUE_H
#define MASKD_MQUEUE_H

#include <stddef.h>

#include <event2/event.h>

struct mqueue;

/*
 * mqueue_h - one message, on the receiver's thread. @data is the queue's
 * copy of @len bytes (NULL when @len is 0), valid only during the call and
 * aligned for any type.
 */
typedef void (mqueue_h)(int id, void *data, size_t len, void *arg);

/*
 * mqueue_alloc() - a queue of at most @max messages (> 0) for @h.
 * Returns 0 or an errno.
 */
int mqueue_alloc(struct mqueue **mqp, size_t max, mqueue_h *h, void *arg);

/*
 * mqueue_free() - free the queue and every message still in it,
 * undelivered (the receiver has stopped: nobody would act on them).
 * NULL-safe. No sender may push any more.
 */
void mqueue_free(struct mqueue *mq);

/*
 * mqueue_push() - copy @len bytes of @data in as message @id and wake the
 * receiver. Any thread; never blocks on the receiver. Returns 0, ENOSPC
 * (the queue holds @max messages) or ENOMEM; the message is then lost and
 * the caller counts it.
 */
int mqueue_push(struct mqueue *mq, int id, const void *data, size_t len);

/*
 * mqueue_wake() - make the receiver's fd readable without a message, so
 * it dispatches and looks at whatever flag the sender set first (a stop
 * request, which must not be lost to a full queue). Any thread.
 */
void mqueue_wake(struct mqueue *mq);

/* mqueue_fd() - the fd the receiver watches for reading. */
int mqueue_fd(const struct mqueue *mq);

/*
 * mqueue_dispatch() - the fd was readable (or the receiver just wants to
 * empty the queue): deliver every queued message. Receiver's thread.
 * Messages pushed by handlers during the call wait for the next one.
 */
void mqueue_dispatch(struct mqueue *mq);

/*
 * mqueue_listen() - have @base (the receiver's libevent loop) call
 * mqueue_dispatch() whenever the fd is readable, at priority 0; undone by
 * mqueue_free(). Returns 0 or ENOMEM.
 */
int mqueue_listen(struct mqueue *mq, struct event_base *base);

/* mqueue_count() - messages queued now (tests, metrics). Any thread. */
size_t mqueue_count(struct mqueue *mq);

#endif
