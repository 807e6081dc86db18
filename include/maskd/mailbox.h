/*
 * mailbox.h - hand messages from any thread to a libevent thread.
 *
 * A mutex-protected queue and an eventfd watched by the receiving base:
 * mailbox_post() copies the message in and wakes the receiver, whose
 * handler then runs on its own thread, once per message, in order. This is
 * how the SIP thread gives call records to the control thread without
 * either touching the other's objects.
 */
#ifndef MASKD_MAILBOX_H
#define MASKD_MAILBOX_H

#include <stddef.h>

#include <event2/event.h>

struct mailbox;

/*
 * mailbox_h - runs on the receiver's thread. @msg is the mailbox's copy,
 * valid only during the call.
 */
typedef void (mailbox_h)(void *msg, void *arg);

/*
 * mailbox_alloc() - a mailbox delivering messages of @size bytes to @h on
 * @base's thread. Returns 0 or an errno.
 */
int mailbox_alloc(struct mailbox **mbp, struct event_base *base, size_t size,
		  mailbox_h *h, void *arg);

/*
 * mailbox_post() - copy @msg (size bytes) in and wake the receiver. Any
 * thread. Returns 0, or ENOMEM (the message is then lost: the caller
 * counts it).
 */
int mailbox_post(struct mailbox *mb, const void *msg);

/*
 * mailbox_lazy() - let mailbox_post_lazy() skip the wake-up: the receiver
 * looks every @period_ms (a timer on its base) and takes what is there.
 * For messages nobody waits on (call records): at 100 calls/s three
 * records a call cost three eventfd writes, reads and loop wake-ups; now
 * twenty timer wake-ups a second in all. The timer runs only while lazy
 * posts come: the first after a quiet period wakes the receiver (which
 * takes it at once and starts looking), a look that finds nothing stops
 * it, so an idle receiver is never woken. Receiver's thread, once, after
 * mailbox_alloc(). 0 or ENOMEM.
 */
int mailbox_lazy(struct mailbox *mb, unsigned period_ms);

/*
 * mailbox_post_lazy() - mailbox_post() without the wake-up while the
 * receiver looks (mailbox_lazy()): delivered within its period, or at
 * once once MAILBOX_LAZY_MAX messages wait (or something is posted with
 * mailbox_post()); when it does not look, like mailbox_post(). Same
 * order as every other post. Any thread.
 */
#define MAILBOX_LAZY_MAX 256
int mailbox_post_lazy(struct mailbox *mb, const void *msg);

/* mailbox_free() - deliver what is queued, then free. Receiver's thread.
 * NULL-safe. */
void mailbox_free(struct mailbox *mb);

#endif
