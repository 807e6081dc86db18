/*
 * sip_forward.c - requests inside a leg's dialog: BYE ends the call; a
 * re-INVITE, UPDATE, INFO or OPTIONS is relayed to the other leg (struct
 * sip_fwd) and its answer relayed back; a bare session refresh is
 * answered on its own leg and never crosses (sip_timer.c).
 *
 * Nothing of one leg's dialog crosses to the other: the request on the
 * other leg is maskd's own (sip_leg_request()), carrying only what
 * sip_msg_copy() lets cross and the SDP sip_media_sdp() rewrote.
 *
 * Runs on the SIP thread only; a struct sip_fwd is its call's, freed by
 * sip_fwd_free() when its answer is relayed or with the call.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdlib.h>

static bool sip_method_offers(sip_method_t m)
{
	return m == sip_method_invite || m == sip_method_update;
}

void sip_fwd_free(struct sip_fwd *f)
{
	struct sip_fwd **pp;

	for (pp = &f->call->fwds; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}

	/* an unanswered irq gets a 500 from nta; an unanswered orq dies */
	if (f->irq)
		nta_incoming_destroy(f->irq);
	if (f->orq)
		nta_outgoing_destroy(f->orq);
	free(f);
}

static int sip_fwd_on_ack_cancel(void *magic, nta_incoming_t *irq,
				 sip_t const *sip);

/*
 * The answer to a relayed request. A 2xx to a re-INVITE waits for the
 * sender's ACK (sip_fwd_on_ack_cancel); everything else ends the relay.
 */
static int sip_fwd_on_response(void *magic, nta_outgoing_t *orq,
			       sip_t const *sip)
{
	struct sip_fwd *f = magic;
	struct sip_call *c = f->call;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
	/* the answer comes from the party the request went to */
	struct sip_leg *sender = f->from;
	struct sip_leg *answerer = sip_call_leg_other(sender);
	char m[SIP_URI_SIZE];
	bool offers = sip_method_offers(nta_outgoing_method(orq));
	/* a 2xx to OPTIONS says what we do (RFC 3261 section 11.2): our
	 * Allow, as the other party's never crosses */
	bool allow = f->is_invite ||
		     nta_outgoing_method(orq) == sip_method_options;
	char hdrs[SIP_ST_HDRS_SIZE];
	char *sdp = NULL;
	int err = 0;

	/* the gateway's challenge to what we relayed to it: once more,
	 * with credentials; the sender waits as it would for the answer */
	if ((status == 401 || status == 407) &&
	    answerer->role == SIP_LEG_OUTBOUND &&
	    !f->auth_retried && !f->cancelled && f->orq == orq) {
		nta_outgoing_t *again = sip_auth_resend(answerer, orq, sip,
							sip_fwd_on_response,
							f);
		if (again) {
			f->auth_retried = true;
			nta_outgoing_destroy(orq);
			f->orq = again;
			return 0;
		}
	}

	if (status < 200) {
		if (status > 100 && f->irq && !f->cancelled) {
			if (f->is_invite)
				(void)sip_media_sdp(answerer, sip, &sdp);
			sip_msg_reply(c->s, f->irq, status, sip, sdp,
				      f->is_invite ? sip_leg_contact(sender, m,
								     sizeof(m))
						   : NULL, 0);
			free(sdp);
		}
		return 0;
	}

	/* the other leg's authentication and redirection stay there */
	if (status == 401 || status == 407 || (status >= 300 && status < 400))
		status = 500;

	/* an answer that cannot be rewritten fails the request for its
	 * sender, who keeps its old media; the 2xx is ACKed below */
	if (status < 300 && offers) {
		sip_leg_retarget(answerer, sip);
		err = sip_media_sdp(answerer, sip, &sdp);
		if (err)
			status = err == EPROTO ? 488 : 500;
		/* an offer answered is a refresh of both legs' timers */
		sip_st_uac(answerer, sip);
	}

	hdrs[0] = '\0';
	if (status < 300 && offers) {
		sip_st_hdrs_uas(&sender->st, hdrs, sizeof(hdrs));
		sip_st_arm(sender);
	}
	if (f->irq && !f->cancelled && nta_incoming_status(f->irq) < 200) {
		sip_msg_reply_hdrs(c->s, f->irq, status,
				   status < 300 ? sip : NULL, sdp,
				   status < 300 && offers
					   ? sip_leg_contact(sender, m,
							     sizeof(m))
					   : NULL,
				   status < 300 && allow ? SIP_REPLY_ALLOW : 0,
				   hdrs);
		if (status < 300 && offers)
			sip_leg_retarget_irq(sender, f->irq);
	}
	free(sdp);

	if (f->is_invite && nta_outgoing_status(orq) >= 200 &&
	    nta_outgoing_status(orq) < 300) {
		if (status < 300 && f->irq && !f->cancelled)
			return 0;	/* the ACK comes to the irq */
		sip_leg_ack(answerer, orq, NULL, NULL);
	}

	sip_fwd_free(f);
	return 0;
}

static int sip_fwd_on_ack_cancel(void *magic, nta_incoming_t *irq,
				 sip_t const *sip)
{
	struct sip_fwd *f = magic;
	struct sip_leg *to = sip_call_leg_other(f->from);
	char *sdp = NULL;

	(void)irq;

	if (!sip || sip->sip_request->rq_method == sip_method_ack) {
		/* the sender ACKed our 2xx (or never will: timer H); its
		 * ACK may hold the answer to an offer in that 2xx, left
		 * out (and counted) when it cannot be rewritten */
		if (f->orq && nta_outgoing_status(f->orq) >= 200 &&
		    nta_outgoing_status(f->orq) < 300) {
			(void)sip_media_sdp(f->from, sip, &sdp);
			sip_leg_ack(to, f->orq, sip, sdp);
			free(sdp);
		}
		sip_fwd_free(f);
		return 0;
	}

	if (sip->sip_request->rq_method == sip_method_cancel) {
		f->cancelled = true;
		if (nta_incoming_status(f->irq) < 200)
			nta_incoming_treply(f->irq, SIP_487_REQUEST_CANCELLED,
					    TAG_END());
		if (f->orq)
			(void)nta_outgoing_tcancel(f->orq, NULL, NULL,
						   TAG_END());
	}
	return 0;
}

/* Answer the refresh @irq from @from's party here (sip_st_is_refresh()). */
static int sip_fwd_answer_refresh(struct sip_leg *from, nta_incoming_t *irq,
				  sip_t const *sip)
{
	struct sip_call *c = from->call;
	struct sip_st *st = &from->st;
	char hdrs[SIP_ST_HDRS_SIZE], m[SIP_URI_SIZE];
	struct sip_fwd *f = NULL;
	int err = 500;

	if (sip->sip_request->rq_method == sip_method_invite) {
		/* its ACK comes to the irq: a relay with nothing relayed */
		f = calloc(1, sizeof(*f));
		if (!f)
			goto out;
		f->call = c;
		f->from = from;
		f->is_invite = true;
	}

	sip_st_hdrs_uas(st, hdrs, sizeof(hdrs));
	if (sip_msg_reply_hdrs(c->s, irq, 200, NULL,
			       sip_msg_has_sdp(sip) ? st->sdp : NULL,
			       sip_leg_contact(from, m, sizeof(m)),
			       SIP_REPLY_ALLOW, hdrs))
		goto out;
	sip_leg_retarget(from, sip);
	sip_st_arm(from);

	if (f) {
		f->irq = irq;
		nta_incoming_bind(irq, sip_fwd_on_ack_cancel, f);
		f->next = c->fwds;
		c->fwds = f;
		f = NULL;
	} else {
		nta_incoming_destroy(irq);
	}
	err = 0;
 out:
	free(f);
	return err;
}

/* Relay @irq (@sip) from @from's party to the other leg's. */
static int sip_fwd_start(struct sip_leg *from, nta_incoming_t *irq,
			 sip_t const *sip)
{
	struct sip_call *c = from->call;
	struct sip_leg *to = sip_call_leg_other(from);
	sip_method_t m = sip->sip_request->rq_method;
	char hdrs[SIP_ST_HDRS_SIZE];
	struct sip_fwd *f;
	char *sdp = NULL;
	int err;

	if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0)
		return 483;

	hdrs[0] = '\0';
	if (sip_method_offers(m)) {
		/* one offer at a time per call, whoever made it */
		if (sip_call_offering(c))
			return 491;

		if (sip_st_uas(from, sip)) {
			sip_st_reply_422(c->s, irq);
			return 0;
		}
		if (sip_st_is_refresh(from, sip))
			return sip_fwd_answer_refresh(from, irq, sip);
		sip_st_hdrs_uac(to, hdrs, sizeof(hdrs));

		/* hold, resume, a new address: the offer's SDP tells the
		 * relay; INFO's and OPTIONS' SDP never crosses */
		err = sip_media_sdp(from, sip, &sdp);
		if (err)
			return err == EPROTO ? 488 : 500;
	}

	f = calloc(1, sizeof(*f));
	if (!f) {
		free(sdp);
		return 500;
	}
	f->call = c;
	f->from = from;
	f->is_invite = m == sip_method_invite;

	f->orq = sip_leg_request(to, m, sip->sip_request->rq_method_name, NULL,
				 sip, sdp, sip_fwd_on_response, f,
				 sip_method_offers(m), hdrs);
	free(sdp);
	if (!f->orq) {
		free(f);
		return 500;
	}

	f->irq = irq;
	if (f->is_invite)
		nta_incoming_bind(irq, sip_fwd_on_ack_cancel, f);
	f->next = c->fwds;
	c->fwds = f;
	return 0;
}

/*
 * A request on @magic, a leg of a call. Returns 0 when taken care of,
 * else the status for nta to answer with.
 */
int sip_leg_on_request(void *magic, nta_leg_t *dialog, nta_incoming_t *irq,
		       sip_t const *sip)
{
	struct sip_leg *from = magic;
	struct sip_call *c = from->call;
	bool caller = from->role == SIP_LEG_INBOUND;
	sip_method_t m = sip->sip_request->rq_method;
	int status;

	(void)dialog;
	/* maskd's own calls: a participant, or a request-a-call */
	if (from->side >= SIP_CALL_LEGS) {
		if (sip_conf_on_request(from, irq, sip, &status))
			return status;
	} else if (c->rac && sip_rac_on_request(from, irq, sip, &status)) {
		return status;
	}
	switch (m) {
	case sip_method_ack:
		/* an ACK whose INVITE transaction is already gone: ours to
		 * destroy, or one irq leaks per call */
		nta_incoming_destroy(irq);
		return 0;

	case sip_method_bye:
		if (c->state == SIP_CALL_ZOMBIE)
			return 481;
		if (c->state == SIP_CALL_EARLY || sip_call_ringing(c)) {
			if (!caller)
				return 481;
			/* a caller giving up before the answer (or, answered
			 * by maskd, before its second leg's) */
			sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
			nta_incoming_destroy(irq);
			sip_call_cancel(c, c->state == SIP_CALL_EARLY ? 487 : 200,
					CDR_HANGUP_CALLER, "cancel");
			return 0;
		}
		sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
		nta_incoming_destroy(irq);
		sip_call_hangup(c, from,
				caller ? CDR_HANGUP_CALLER : CDR_HANGUP_CALLEE,
				"normal");
		return 0;

	case sip_method_invite:
	case sip_method_update:
	case sip_method_info:
	case sip_method_options:
		/* maskd is the far end (an announcement): nothing to relay
		 * to, and the prompt's codec is not renegotiated */
		if (sip_call_leg_other(from)->role == SIP_LEG_NONE)
			return sip_method_offers(m) ? 488 : 200;
		if (c->state != SIP_CALL_CONFIRMED || sip_call_ringing(c))
			return sip_method_offers(m) ? 491 : 481;
		return sip_fwd_start(from, irq, sip);

	case sip_method_cancel:
	case sip_method_prack:
		return 481;

	default:
		sip_msg_reply(c->s, irq, 405, NULL, NULL, NULL,
			      SIP_REPLY_ALLOW);
		nta_incoming_destroy(irq);
		return 0;
	}
}
