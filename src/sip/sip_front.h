/*
 * sip_front.h - the overload front path (sip_front.c): while the SIP
 * thread is overloaded, new out-of-dialog INVITEs on nta's UDP socket are
 * answered 503 from the raw datagram, before sofia reads them, and the
 * ACKs of those 503s are taken off the socket; everything else is left
 * to sofia, untouched and in order. TCP and TLS are not looked at (a
 * stream has no datagram to peek at; they keep sip_overload_admit()).
 *
 * Also the set of Call-IDs of the new INVITEs let through (by the front
 * or by sip_overload_admit()): their retransmissions belong to sofia's
 * transactions and must never be refused.
 *
 * SIP thread only. Owned by sip_overload.c, which decides (through a
 * sip_front_admit_h) which new INVITEs are refused.
 */
#ifndef MASKD_SIP_FRONT_H
#define MASKD_SIP_FRONT_H

#include <stdbool.h>
#include <stddef.h>

struct sip;
struct sip_front;

/*
 * sip_front_admit_h - asked for each new out-of-dialog INVITE at the head
 * of the socket's queue that no earlier one let through: returns 0 to
 * let it through (sofia reads it next), or the Retry-After (seconds) of
 * its refusal.
 */
typedef unsigned (sip_front_admit_h)(void *arg);

/*
 * sip_front_alloc() - a front for nta's UDP socket @fd (-1: none known,
 * then only the Call-ID set works). @ttl_ms: how long a let-through
 * Call-ID is remembered (a transaction's life). Returns 0 or ENOMEM.
 */
int sip_front_alloc(struct sip *s, int fd, unsigned ttl_ms,
		    struct sip_front **fp);

/* sip_front_free() - NULL-safe. */
void sip_front_free(struct sip_front *f);

/*
 * sip_front_drain() - look at the datagrams at the head of the socket's
 * queue, one at a time and at most a bounded number: a refused new INVITE
 * is read off and answered 503 (counted in overload_rejected), an ACK of
 * one of our 503s is read off; the first datagram of any other kind (or
 * a new INVITE let through) stops it, left at the head for sofia. Never
 * blocks. Returns how many datagrams it took off the queue.
 */
unsigned sip_front_drain(struct sip_front *f, sip_front_admit_h *admit,
			 void *arg);

/* sip_front_known() - whether Call-ID @id (@len bytes) was let through
 * less than the set's ttl ago. */
bool sip_front_known(const struct sip_front *f, const char *id, size_t len);

/* sip_front_remember() - note Call-ID @id as let through, now. */
void sip_front_remember(struct sip_front *f, const char *id, size_t len);

#endif
