/*
 * sip_pin.h - PIN authentication (sip_pin.c): maskd answers a caller who
 * is no party of the virtual number's sessions, asks for a PIN, and calls
 * the party the PIN names.
 *
 * SIP thread only, like everything of a call; the relay worker that hears
 * the digits only pushes them into the command queue (SIP_CMD_DIGIT).
 */
#ifndef MASKD_SIP_PIN_H
#define MASKD_SIP_PIN_H

#include "sip_internal.h"

/*
 * sip_pin_wanted() - true when a caller who is no party of an active
 * session on @vn is asked for a PIN: some active session on @vn has
 * pin_required, and there are prompts to play.
 */
bool sip_pin_wanted(struct sip *s, const char *vn);

/*
 * sip_pin_start() - answer @irq (@sip) from @caller to @vn with maskd's
 * own SDP and ask for a PIN. Returns 0 when the call took @irq over,
 * else the status nta answers with: 488 (an offer without G.711, or no
 * offer at all: maskd needs the caller's media), 503 (no relay ports),
 * 500.
 */
int sip_pin_start(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		  const char *caller, const char *vn);

/* sip_pin_digit() - the relay heard @digit on @c's prompt. May free @c. */
void sip_pin_digit(struct sip_call *c, char digit);

/* sip_pin_play_done() - a prompt of @c's ended (@err 0) or never started.
 * May free @c. */
void sip_pin_play_done(struct sip_call *c, int err);

/*
 * sip_pin_on_outbound() - the answer @sip (@status) on @leg, the second
 * leg of a PIN call (sip_call_on_outbound() hands it over): the party
 * answers (bridge), or fails ('goodbye', BYE). Returns 0. May free the
 * call.
 */
int sip_pin_on_outbound(struct sip_leg *leg, sip_t const *sip, int status);

/* sip_pin_authorized() - @c, a routed call of a party, is on a VN that
 * asks strangers for a PIN: its CDR says authorized_caller. */
void sip_pin_authorized(struct sip_call *c);

/* sip_pin_free() - what @c's PIN prompt holds; NULL-safe on c->pin. */
void sip_pin_free(struct sip_call *c);

#endif
