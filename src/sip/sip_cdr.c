/*
 * sip_cdr.c - the call record: written once, when the caller's side of a
 * call is over (answered and hung up, failed, cancelled, or ended by
 * maskd), with the relay call's counters; and what a callee's failure
 * becomes for the caller and in the record.
 *
 * The record is the call's (struct sip_call's cdr); s->cdrh takes a copy
 * on the SIP thread (sip.h). Runs on the SIP thread only.
 */
#include "sip_internal.h"

#include <stdio.h>

/*
 * The caller's side of the call is over: hand the CDR over (once) and let
 * the session take its next call, even if the originated leg still needs
 * tidying. The media ends here too: its ports go back and its counters
 * go into the CDR.
 */
void sip_call_cdr(struct sip_call *c, uint16_t code, enum cdr_hangup who,
		  const char *reason)
{
	struct sip *s = c->s;

	if (c->cdr_sent)
		return;
	c->cdr_sent = true;

	sip_media_close(c);
	c->cdr.end_ms = clock_now_ms();
	c->cdr.final_code = code;
	c->cdr.hangup = who;
	snprintf(c->cdr.reason, sizeof(c->cdr.reason), "%s", reason);
	if (!c->cdr.vn[0])
		snprintf(c->cdr.vn, sizeof(c->cdr.vn), "%s", c->vn);

	sip_call_busy_remove(c);
	if (s->cdrh && !c->cdr_none)
		s->cdrh(&c->cdr, s->cdr_arg);
}

/*
 * What the caller hears of the callee's failure: the cause where it means
 * something to the caller (busy, declined, rejected media), a generic
 * "not reachable now" for everything about where the callee is, and 5xx
 * as maskd's own trouble. The callee's reason phrase never crosses.
 */
int sip_cdr_failure_status(int st)
{
	switch (st) {
	case 403: case 486: case 488:
	case 600: case 603: case 604: case 606:
		return st;
	case 408:
		return 408;
	case 500:
		return 500;
	default:
		break;
	}
	if (st >= 500 && st < 600)
		return 503;
	if (st >= 600)
		return st;
	return 480;
}

const char *sip_cdr_failure_reason(int st)
{
	switch (st) {
	case 486: case 600:
		return "busy";
	case 603:
		return "declined";
	case 404: case 408: case 410: case 480: case 484: case 487:
		return "no_answer";
	default:
		return "failure";
	}
}
