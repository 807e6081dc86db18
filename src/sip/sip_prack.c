/*
 * sip_prack.c - reliable provisional responses (RFC 3262, "100rel"), each
 * leg on its own, the way a carrier's B2BUA does them.
 *
 * An inbound leg (maskd the UAS of the caller's INVITE). A caller that
 * supports 100rel gets the 18x that carry SDP (early media: the answer
 * to its offer) reliably; one that requires it gets every 18x reliably.
 * nta adds Require: 100rel and RSeq, retransmits until the PRACK, and
 * hands the PRACK to sip_prack_uas_on_prack(), which answers it here: it
 * never reaches the callee. One reliable 18x at a time awaits its PRACK;
 * the next 18x, and our 2xx, are held until it comes (RFC 3262 section
 * 3: a 2xx must not overtake an unacknowledged 18x with SDP; maskd holds
 * it behind any, so the caller never PRACKs a response nta has
 * forgotten). A caller that made no offer is never sent SDP in a
 * reliable 18x: that would be an offer whose answer, in the PRACK, only
 * the callee could give. It gets them without SDP when it requires
 * 100rel, unreliable as before when it only supports it.
 *
 * An originated leg (maskd the UAC of its own INVITE). The INVITE says
 * Supported: 100rel when it carries an offer, so the callee's reliable
 * 18x carries the answer and the PRACK needs no body. maskd PRACKs it on
 * that leg at once, in the early dialog (To tag and Contact of the 18x),
 * and the 18x is relayed to the caller as any other. nta drops
 * retransmitted and out-of-order reliable 18x before they reach us
 * (RSeq).
 *
 * Everything here is the leg's and sip_prack_free() releases it. Runs on
 * the SIP thread; per message, no logging above debug.
 *
 * Not done: an UPDATE in the early dialog (answered 491 as before),
 * offers in PRACK (answered 488: maskd cannot answer without the other
 * leg), preconditions, and more than one early dialog on a leg (nta
 * follows one fork's RSeq; a 2xx from another fork still wins).
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void sip_prack_init(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_prack *p = &leg->prack;

	p->required = sip_has_feature(sip->sip_require, "100rel");
	p->supported = p->required ||
		       sip_has_supported(sip->sip_supported, "100rel");
	p->offered = sip_msg_has_sdp(sip);
}

static void sip_prack_uas_drop(struct sip_prack *p)
{
	if (p->next)
		msg_destroy(p->next);
	p->next = NULL;
	if (p->final)
		msg_destroy(p->final);
	p->final = NULL;
}

/*
 * nta frees the reliable responses with their INVITE transaction, so ours
 * goes first, while the transaction surely lives; without it (already
 * destroyed) nta has flushed it and ours is long gone.
 */
void sip_prack_free(struct sip_leg *leg)
{
	struct sip_prack *p = &leg->prack;

	if (p->rel && leg->irq_invite)
		nta_reliable_destroy(p->rel);
	p->rel = NULL;
	sip_prack_uas_drop(p);

	/* a PRACK in flight finishes on nta's default callback */
	if (p->orq)
		nta_outgoing_destroy(p->orq);
	p->orq = NULL;
}

bool sip_prack_uas_holding(const struct sip_leg *leg)
{
	return leg->prack.final != NULL;
}

static int sip_prack_uas_on_prack(void *magic, nta_reliable_t *rel,
				  nta_incoming_t *prack, sip_t const *sip);

/* Send @msg (a 18x for the party) reliably; nta takes @msg. */
static int sip_prack_uas_send(struct sip_leg *leg, msg_t *msg)
{
	if (!leg->irq_invite) {
		msg_destroy(msg);
		return EIO;
	}
	leg->prack.rel = nta_reliable_mreply(leg->irq_invite,
					     sip_prack_uas_on_prack, leg, msg);
	return leg->prack.rel ? 0 : EIO;
}

/*
 * The caller PRACKed our reliable 18x (@prack), or nta gave up on it
 * (@prack NULL): a final response went out, or the caller never PRACKed
 * within 64*T1 (the INVITE's callback follows with no message). A PRACK
 * is answered here and what was held goes out: our 2xx, else the next
 * 18x. The 200 to the PRACK leaves first, so the caller sees its PRACK
 * answered before anything that follows it.
 */
static int sip_prack_uas_on_prack(void *magic, nta_reliable_t *rel,
				  nta_incoming_t *prack, sip_t const *sip)
{
	struct sip_leg *leg = magic;
	struct sip_prack *p = &leg->prack;
	msg_t *next;

	if (p->rel == rel)
		p->rel = NULL;
	nta_reliable_destroy(rel);

	if (!prack) {
		sip_prack_uas_drop(p);
		return 0;
	}

	/* a new offer in a PRACK only the callee could answer */
	if (sip_msg_has_sdp(sip))
		nta_incoming_treply(prack, SIP_488_NOT_ACCEPTABLE,
				    TAG_END());
	else
		nta_incoming_treply(prack, SIP_200_OK, TAG_END());
	nta_incoming_destroy(prack);

	if (p->final) {
		next = p->final;
		p->final = NULL;
		sip_prack_uas_drop(p);
		/* nta takes the message, even when sending fails */
		if (!leg->irq_invite || nta_incoming_mreply(leg->irq_invite,
							    next) < 0)
			log_debug(leg->call->s->log,
				  "sip: held 2xx not sent");
	} else if (p->next) {
		next = p->next;
		p->next = NULL;
		(void)sip_prack_uas_send(leg, next);
	}
	return 0;
}

int sip_prack_uas_progress(struct sip_leg *leg, int status,
			   sip_t const *src, const char *sdp)
{
	struct sip *s = leg->call->s;
	struct sip_prack *p = &leg->prack;
	char m[SIP_URI_SIZE];
	msg_t *msg;
	int err;

	if (!p->required && !(p->supported && p->offered && sdp))
		return sip_msg_reply(s, leg->irq_invite, status, src, sdp,
				     sip_leg_contact(leg, m, sizeof(m)), 0);

	if (!p->offered)
		sdp = NULL;

	/* one held 18x is enough: the latest, unless only the held one
	 * has the early media */
	if (p->rel && p->next && p->next_sdp && !sdp)
		return 0;

	err = sip_msg_response(s, leg->irq_invite, status, src, sdp,
			       sip_leg_contact(leg, m, sizeof(m)), 0, NULL,
			       &msg);
	if (err)
		return err;

	if (p->rel) {
		if (p->next)
			msg_destroy(p->next);
		p->next = msg;
		p->next_sdp = sdp != NULL;
		return 0;
	}
	return sip_prack_uas_send(leg, msg);
}

int sip_prack_uas_answer(struct sip_leg *leg, sip_t const *src,
			 const char *sdp, const char *hdrs)
{
	struct sip_prack *p = &leg->prack;
	char m[SIP_URI_SIZE];
	msg_t *msg;
	int err;

	err = sip_msg_response(leg->call->s, leg->irq_invite, 200, src, sdp,
			       sip_leg_contact(leg, m, sizeof(m)),
			       SIP_REPLY_ALLOW, hdrs, &msg);
	if (err)
		return err;

	if (!p->rel)
		/* nta takes the message, even when sending fails */
		return nta_incoming_mreply(leg->irq_invite, msg) < 0 ? EIO
								     : 0;

	/* the held 18x is overtaken by the answer and never sent */
	sip_prack_uas_drop(p);
	p->final = msg;
	return 0;
}

void sip_prack_uac_hdrs(const char *sdp, char *buf, size_t size)
{
	size_t n = strlen(buf);

	if (sdp && n < size)
		snprintf(buf + n, size - n, "%sSupported: 100rel",
			 n ? "\r\n" : "");
}

static int sip_prack_uac_on_answer(void *magic, nta_outgoing_t *orq,
				   sip_t const *sip)
{
	struct sip_leg *leg = magic;

	(void)sip;
	if (nta_outgoing_status(orq) < 200)
		return 0;
	/* whatever the answer: the callee retransmits an unPRACKed 18x
	 * and fails the INVITE itself if it must */
	if (leg->prack.orq == orq)
		leg->prack.orq = NULL;
	nta_outgoing_destroy(orq);
	return 0;
}

/*
 * The PRACK goes in the early dialog the 18x made: its To tag, its
 * Contact as the target (via the leg, which the 2xx re-routes later),
 * our INVITE's Request-URI when it had no Contact. The leg's remote tag
 * is left for the 2xx to set, so a 2xx from another fork still takes the
 * dialog. Nothing of the other leg is in it: it is built new, on @leg.
 */
void sip_prack_uac_recv(struct sip_leg *leg, nta_outgoing_t *orq,
			sip_t const *sip)
{
	struct sip *s = leg->call->s;
	nta_outgoing_t *prack;
	sip_rack_t rack[1];
	msg_t *msg;
	sip_t *req;

	if (!sip || !sip->sip_rseq || !sip->sip_cseq || !sip->sip_to ||
	    !sip->sip_to->a_tag || !leg->dialog ||
	    !sip_has_feature(sip->sip_require, "100rel"))
		return;

	if (nta_leg_client_reroute(leg->dialog, sip->sip_record_route,
				   sip->sip_contact, 1) < 0)
		return;

	msg = nta_msg_create(s->agent, 0);
	req = sip_object(msg);
	if (!req)
		goto out;

	sip_rack_init(rack);
	rack->ra_response = sip->sip_rseq->rs_response;
	rack->ra_cseq = sip->sip_cseq->cs_seq;
	rack->ra_method = sip->sip_cseq->cs_method;
	rack->ra_method_name = sip->sip_cseq->cs_method_name;

	if (sip_add_tl(msg, req, SIPTAG_TO(sip->sip_to), SIPTAG_RACK(rack),
		       SIPTAG_MAX_FORWARDS_STR("70"), TAG_END()) < 0 ||
	    nta_msg_request_complete(msg, leg->dialog, SIP_METHOD_PRACK,
				     (url_string_t const *)
				     nta_outgoing_request_uri(orq)) < 0)
		goto out;

	prack = nta_outgoing_mcreate(s->agent, sip_prack_uac_on_answer, leg,
				     NULL, msg, TAG_END());
	if (!prack)
		goto out;
	msg = NULL;

	/* nta now drops this 18x's retransmissions */
	(void)nta_outgoing_setrseq(orq, rack->ra_response);

	/* a PRACK still unanswered finishes on nta's default callback */
	if (leg->prack.orq)
		nta_outgoing_destroy(leg->prack.orq);
	leg->prack.orq = prack;
 out:
	if (msg)
		msg_destroy(msg);
}
