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

/* mailbox_free() - deliver what is queued, then free. Receiver's thread.
 * NULL-safe. */
void mailbox_free(struct mailbox *mb);

#endif
