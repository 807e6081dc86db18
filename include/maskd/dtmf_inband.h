/*
 * dtmf_inband.h - in-band DTMF: digits out of the G.711 audio a party
 * sends, for calls on which no telephone-event (telev.h) was negotiated.
 *
 * The audio of one RTP stream (PCMU or PCMA, the payload type given at
 * allocation) is decoded and fed to spandsp's DTMF receiver, which
 * reports a key once when its tone pair has been present long enough
 * (ITU-T Q.24) and not again until the tone has stopped. Packets are
 * taken in RTP sequence order: a duplicate or a late (reordered) packet
 * is dropped, since audio fed out of order is noise to a tone detector;
 * a gap of up to DTMF_INBAND_GAP_MAX lost packets is bridged with
 * spandsp's fill-in, which keeps the key the detector holds, so a packet
 * lost in the middle of a tone neither ends nor doubles the digit. A longer
 * gap, or another SSRC, starts the detector afresh (a new stream).
 *
 * Threads. A dtmf_inband belongs to whoever feeds it, one thread at a
 * time; used as a relay tap (dtmf_inband_sink()) that is the call's relay
 * worker, on which dtmf_inband_digit_h then runs: like relay_timeout_h it
 * must only hand the digit over, never block. No allocation, lock or
 * system call after dtmf_inband_alloc() (spandsp's receiver is allocated
 * there and re-initialised in place).
 */
#ifndef MASKD_DTMF_INBAND_H
#define MASKD_DTMF_INBAND_H

#include <stddef.h>
#include <stdint.h>

struct dtmf_inband;
struct relay_sink;

/* Lost packets (by RTP sequence number) bridged without a restart: at
 * 20 ms a packet, a second. */
#define DTMF_INBAND_GAP_MAX 50

/* The G.711 payload types (RFC 3551): the only ones accepted. */
#define DTMF_INBAND_PCMU 0
#define DTMF_INBAND_PCMA 8

/*
 * dtmf_inband_digit_h - key @digit ('0'-'9', '*', '#', 'A'-'D') pressed
 * in stream @ssrc, recognised in the packet with RTP time @ts. The same
 * signature as telev_digit_h, so one collector may take both. Runs on the
 * feeding thread, from inside dtmf_inband_input() or the sink's write.
 */
typedef void (dtmf_inband_digit_h)(char digit, uint32_t ssrc, uint32_t ts,
				   void *arg);

/*
 * dtmf_inband_alloc() - a detector for G.711 payload type @pt
 * (DTMF_INBAND_PCMU or DTMF_INBAND_PCMA, static: the SDP's rtpmap may
 * not rename them). @h may not be NULL.
 * Returns 0, EINVAL or ENOMEM.
 */
int dtmf_inband_alloc(struct dtmf_inband **dp, uint8_t pt,
		      dtmf_inband_digit_h *h, void *arg);

/* dtmf_inband_free() - NULL-safe. Not while it is attached to a relay
 * leg: free it from its detach (dtmf_inband_sink()) or after it. */
void dtmf_inband_free(struct dtmf_inband *d);

/*
 * dtmf_inband_input() - one RTP packet, as it came off the wire.
 * Returns 0 (consumed: audio fed, or a duplicate or late packet
 * dropped), ENOENT (another payload type: not ours, left alone) or
 * EBADMSG (not RTP version 2, or its lengths do not add up).
 */
int dtmf_inband_input(struct dtmf_inband *d, const uint8_t *pkt, size_t len);

/*
 * dtmf_inband_sink() - @d as a relay sink, for relay_call_tap() (the leg
 * keeps forwarding; maskd listens) or relay_call_connect() (maskd
 * answered the leg and consumes its media). Feeds RTP to
 * dtmf_inband_input() and ignores RTCP. @detach (NULL-ok) runs, with
 * @arg, when the relay stops writing into it (relay.h, Sinks), on the
 * relay worker; freeing @d there is allowed. Fixed for @d's lifetime;
 * the last call wins.
 */
struct relay_sink *dtmf_inband_sink(struct dtmf_inband *d,
				    void (*detach)(struct dtmf_inband *d,
						   void *arg),
				    void *arg);

#endif
