/*
 * sip_overload.h - overload control of the SIP thread (sip_overload.c).
 *
 * SIP thread only. sip_overload_open() after the agent exists (it finds
 * nta's UDP socket), sip_overload_close() before the agent goes.
 */
#ifndef MASKD_SIP_OVERLOAD_H
#define MASKD_SIP_OVERLOAD_H

#include <stdbool.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

struct sip;

/*
 * sip_overload_open() - start measuring the thread's lag: a timer, and
 * receive timestamps on nta's UDP socket; and the front path on that
 * socket (sip_front.c, run by sip_overload_prepoll()). With [sip]
 * overload_lag_ms = 0 nothing is started. Returns 0 or ENOMEM; a UDP
 * socket that cannot be found only leaves the timer's lateness to
 * measure (logged).
 */
int sip_overload_open(struct sip *s);

/* sip_overload_close() - stop it; NULL-safe, safe on a partial open. */
void sip_overload_close(struct sip *s);

/*
 * sip_overload_prepoll() - the front path's turn, before each wait of the
 * SIP loop (sip.c's prepoll hook): while at least half of the new INVITEs
 * are refused, those at the head of the UDP queue are answered before
 * sofia reads them. One test otherwise; nothing without overload control.
 */
void sip_overload_prepoll(struct sip *s);

/*
 * sip_overload_admit() - whether a new out-of-dialog INVITE (@msg, @sip)
 * that came through sofia may be served: always when the front path let
 * it through (sip_front.c). When not, it has been answered 503 with a
 * random Retry-After, statelessly, @msg is consumed and the refusal
 * counted. When it may, its Call-ID is remembered: its retransmissions
 * are never refused. Hot path: no allocation but the 503's, no log.
 */
bool sip_overload_admit(struct sip *s, msg_t *msg, sip_t const *sip);

#endif
