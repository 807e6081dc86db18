/*
 * telev.h - an RFC 4733 telephone-event receiver: DTMF digits out of the
 * RTP that a party sends, one digit per event.
 *
 * An event is a run of RTP packets on the negotiated payload type that
 * share one RTP timestamp (the event's start): the first packets carry a
 * growing duration, the last one has the E bit and is sent three times
 * (RFC 4733 2.5.1.4), a long event may be refreshed. The receiver reports
 * a digit on the first packet of an event it sees, so a lost start packet
 * costs nothing, and then ignores every packet with the same SSRC and
 * timestamp, and any packet of that SSRC whose timestamp is older (a
 * late retransmission of an event already reported: RTP timestamps are
 * compared modulo 2^32, so the wrap from 0xffffffff to 0 is a step
 * forward). Events 0-9, 10 (*), 11 (#) and 12-15 (A-D) are digits; other
 * events (flash, tones) are consumed without a digit.
 *
 * Threads. A telev belongs to whoever feeds it, one thread at a time;
 * used as a relay tap (telev_sink()) that is the call's relay worker, on
 * which telev_digit_h then runs: like relay_timeout_h it must only hand
 * the digit over (post it to its own thread), never block. No allocation
 * after telev_alloc(), no lock.
 */
#ifndef MASKD_TELEV_H
#define MASKD_TELEV_H

#include <stddef.h>
#include <stdint.h>

struct telev;
struct relay_sink;

/* SSRCs remembered at once; a further one replaces the least recent. */
#define TELEV_SSRC_MAX 4

/*
 * telev_digit_h - a new event for digit @digit ('0'-'9', '*', '#',
 * 'A'-'D') from stream @ssrc, started at RTP time @ts. Runs on the
 * feeding thread, from inside telev_input() or the sink's write.
 */
typedef void (telev_digit_h)(char digit, uint32_t ssrc, uint32_t ts,
			     void *arg);

/*
 * telev_alloc() - a receiver for payload type @pt (0-127: the
 * telephone-event/8000 number of the SDP). @h may not be NULL.
 * Returns 0, EINVAL or ENOMEM.
 */
int telev_alloc(struct telev **tp, uint8_t pt, telev_digit_h *h, void *arg);

/* telev_free() - NULL-safe. Not while it is attached to a relay leg:
 * free it from its detach (telev_sink()) or after it. */
void telev_free(struct telev *t);

/*
 * telev_input() - one RTP packet, as it came off the wire.
 * Returns 0 (consumed: a digit reported, a repeat ignored, an event that
 * is no digit), ENOENT (another payload type: not ours, left alone) or
 * EBADMSG (not RTP, or a telephone-event payload shorter than 4 bytes).
 */
int telev_input(struct telev *t, const uint8_t *pkt, size_t len);

/*
 * telev_sink() - @t as a relay sink, to give to relay_call_tap() (the
 * leg keeps forwarding; maskd listens) or relay_call_connect() (maskd
 * answered the leg and consumes its media). Feeds RTP to telev_input()
 * and ignores RTCP. @detach (NULL-ok) runs, with @arg, when the relay
 * stops writing into it (relay.h, Sinks), on the relay worker; freeing
 * @t there is allowed. Fixed for @t's lifetime; the last call wins.
 */
struct relay_sink *telev_sink(struct telev *t, void (*detach)(struct telev *t,
							       void *arg),
			      void *arg);

/* telev_digit() - the digit of event code @event, or 0 for none. */
char telev_digit(uint8_t event);

#endif
