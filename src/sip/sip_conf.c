/*
 * sip_conf.c - participants: a further party maskd calls into a live
 * call from the call's VN (POST /v1/calls/{id}/participants), mixed with
 * the two parties once it answers, so that each hears the others and
 * not itself (the relay's mixer, relay_call_mix()).
 *
 * A participant is a leg of maskd's own, like a request-a-call's: an
 * INVITE with maskd's offer (PCMU and PCMA, telephone-event) naming the
 * relay leg added for it (relay_call_leg_add(): ports on the call's
 * worker, its media dropped until mixed); From and P-Asserted-Identity
 * the VN, its own Call-ID and tags: nothing of the parties, nor of any
 * other participant, reaches it, and nothing of it reaches them (no SDP
 * crosses: maskd is every participant's media peer). On its 2xx the
 * relay learns where it wants its media and in which codec it speaks,
 * and it joins the mix; the first to join brings both parties into the
 * mixer too. When the last participant leaves the parties go back to
 * the plain relayed pair.
 *
 * A participant's BYE, its failure, its ring timeout or DELETE
 * .../participants/{leg} remove it alone; either party's BYE (or the
 * call's end for any reason) ends the call for everyone. A participant's
 * re-INVITE or UPDATE is answered by maskd itself (it is the media
 * peer): its new address goes to the relay, maskd answers with its own
 * SDP in the codec the participant named first.
 *
 * Mixer changes are one at a time per call (EBUSY): what the mix should
 * be is recomputed from the participants and applied from a short
 * timer until it lands. SIP thread only.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIP_CONF_RETRY_MS 20

/* a participant's leg index is its relay leg's */
_Static_assert(SIP_CALL_LEGS_MAX <= RELAY_LEGS_MAX,
	       "more SIP legs than relay legs");

#define SIP_CONF_PAIR ((1u << RELAY_LEG_A) | (1u << RELAY_LEG_B))

static struct sip_part *sip_conf_part(struct sip_leg *leg)
{
	return (struct sip_part *)((char *)leg -
				   offsetof(struct sip_part, leg));
}

/* ---- the mix ------------------------------------------------------------ */

/* what the mixer should hold: both parties and every answered
 * participant, or nobody (the plain pair) */
static uint32_t sip_conf_want(const struct sip_rac *rac)
{
	uint32_t want = 0;
	size_t i;

	for (i = SIP_CALL_LEGS; i < SIP_CALL_LEGS_MAX; i++) {
		if (rac->parts[i] && rac->parts[i]->mixed)
			want |= 1u << i;
	}
	return want ? want | SIP_CONF_PAIR : 0;
}

static void sip_conf_mix(struct sip_call *c);

static void sip_conf_on_retry(su_root_magic_t *magic, su_timer_t *t,
			      void *arg)
{
	(void)magic;
	(void)t;
	sip_conf_mix(arg);
}

static void sip_conf_mix(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;
	uint32_t want = sip_conf_want(rac);
	int err;

	if (!c->media || want == rac->mixed)
		return;
	if (!want) {
		err = relay_call_mix(c->media, 0, false);
		if (!err)
			rac->mixed = 0;
	} else {
		err = relay_call_mix(c->media, want & ~rac->mixed, true);
		if (!err)
			rac->mixed = want;
	}
	if (err == EBUSY) {
		if (!rac->retry_timer)
			rac->retry_timer = su_timer_create(
				su_root_task(c->s->root), 0);
		if (rac->retry_timer)
			(void)su_timer_set_interval(rac->retry_timer,
						    sip_conf_on_retry, c,
						    SIP_CONF_RETRY_MS);
	} else if (err) {
		log_debug(c->s->log, "sip: mix change refused: %s",
			  strerror(err));
	}
}

/* ---- a participant's life ------------------------------------------------ */

/* Gone: its leg, its relay leg, its place in the mix. */
static void sip_conf_part_free(struct sip_call *c, struct sip_part *p)
{
	struct sip_rac *rac = c->rac;
	unsigned i = p->leg.side;

	sip_leg_free(&p->leg);
	if (p->ring_timer)
		su_timer_destroy(p->ring_timer);
	if (c->media)
		(void)relay_call_leg_remove(c->media, i);
	rac->mixed &= ~(1u << i);
	rac->parts[i] = NULL;
	rac->n_parts--;
	free(p);
	sip_conf_mix(c);
}

/* It leaves: BYE when up, CANCEL when ringing (then freed on the final
 * answer, so a late 2xx is still ACKed and BYEd). */
static void sip_conf_leave(struct sip_call *c, struct sip_part *p,
			   bool bye)
{
	struct sip_leg *leg = &p->leg;

	p->mixed = false;
	if (leg->answered) {
		(void)sip_leg_ack_answer(leg, NULL);
		if (bye && p->state != SIP_LEG_VIEW_ENDED)
			sip_leg_bye(leg);
	} else if (leg->orq_invite &&
		   nta_outgoing_status(leg->orq_invite) < 200) {
		p->state = SIP_LEG_VIEW_ENDED;
		(void)nta_outgoing_tcancel(leg->orq_invite, NULL, NULL,
					   TAG_END());
		sip_conf_mix(c);
		return;
	}
	p->state = SIP_LEG_VIEW_ENDED;
	sip_conf_part_free(c, p);
}

static void sip_conf_on_ring_timer(su_root_magic_t *magic, su_timer_t *t,
				   void *arg)
{
	struct sip_part *p = arg;

	(void)magic;
	(void)t;
	if (p->state != SIP_LEG_VIEW_ENDED && !p->leg.answered) {
		p->code = 408;
		sip_conf_leave(p->leg.call, p, true);
	}
}

/* The codec the parties talk in: the answer's first G.711. */
static int sip_conf_pair_pt(struct sip_call *c, uint8_t *pt)
{
	struct sip_rac *rac = c->rac;
	const char *sdp = c->legs[RELAY_LEG_B].st.peer_sdp;
	struct sip_rac_codec codec;

	if (rac->stage != SIP_RAC_NONE) {
		*pt = (uint8_t)rac->codec.pt;
		return 0;
	}
	if (!sdp || sip_rac_codec_of(sdp, strlen(sdp), &codec))
		return EPROTO;
	*pt = (uint8_t)codec.pt;
	return 0;
}

int sip_conf_add(struct sip_call *c, const char *number, unsigned max,
		 unsigned *legp)
{
	struct sip *s = c->s;
	struct sip_rac *rac;
	struct sip_part *p = NULL;
	unsigned idx = 0;
	char *sdp = NULL;
	uint8_t pt;
	int err;

	rac = sip_rac_get(c);
	if (!rac)
		return ENOMEM;
	/* a call maskd answers itself (a PIN prompt before a right PIN, an
	 * announcement) has no parties talking to add to */
	if (c->state != SIP_CALL_CONFIRMED || !c->media || c->announce ||
	    cdr_sessionless(&c->cdr) ||
	    (rac->stage != SIP_RAC_NONE && rac->stage != SIP_RAC_BRIDGED))
		return EALREADY;
	/* max counts everybody on the call: the two parties too */
	if (rac->n_parts + SIP_CALL_LEGS >= max)
		return ENOSPC;
	err = sip_conf_pair_pt(c, &pt);
	if (err)
		return err;

	err = relay_call_leg_add(c->media, &idx);
	if (err)
		return err == EBUSY ? EAGAIN : err;
	if (idx < SIP_CALL_LEGS || idx >= SIP_CALL_LEGS_MAX) {
		(void)relay_call_leg_remove(c->media, idx);
		return ENOSPC;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		(void)relay_call_leg_remove(c->media, idx);
		return ENOMEM;
	}
	p->leg.call = c;
	p->leg.side = (enum relay_leg)idx;
	rac->parts[idx] = p;
	rac->n_parts++;

	/* the parties' codec for the mixer's output to them */
	if (!rac->mixed) {
		(void)relay_call_leg_codec(c->media, RELAY_LEG_A, pt);
		(void)relay_call_leg_codec(c->media, RELAY_LEG_B, pt);
	}

	err = sip_rac_offer(&p->leg, NULL, &sdp);
	if (!err) {
		p->ring_timer = su_timer_create(su_root_task(s->root), 0);
		if (!p->ring_timer ||
		    su_timer_set_interval(p->ring_timer,
					  sip_conf_on_ring_timer, p,
					  s->cfg->session.ring_timeout_s *
					  1000u) < 0)
			err = ENOMEM;
	}
	if (!err)
		err = sip_leg_originate_on(&p->leg, number, NULL, sdp);
	free(sdp);
	if (err) {
		sip_conf_part_free(c, p);
		return err;
	}
	p->state = SIP_LEG_VIEW_CALLING;
	SIP_COUNT(s, participants);
	*legp = idx;
	return 0;
}

int sip_conf_remove(struct sip_call *c, unsigned leg)
{
	struct sip_part *p;

	if (!c->rac || leg < SIP_CALL_LEGS || leg >= SIP_CALL_LEGS_MAX)
		return ESRCH;
	p = c->rac->parts[leg];
	if (!p || p->state == SIP_LEG_VIEW_ENDED)
		return ESRCH;
	sip_conf_leave(c, p, true);
	return 0;
}

void sip_conf_end(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;
	struct sip_part *p;
	size_t i;

	for (i = SIP_CALL_LEGS; i < SIP_CALL_LEGS_MAX; i++) {
		p = rac->parts[i];
		if (!p)
			continue;
		if (p->leg.answered) {
			(void)sip_leg_ack_answer(&p->leg, NULL);
			if (p->state != SIP_LEG_VIEW_ENDED)
				sip_leg_bye(&p->leg);
		} else if (p->leg.orq_invite &&
			   nta_outgoing_status(p->leg.orq_invite) < 200) {
			(void)nta_outgoing_tcancel(p->leg.orq_invite, NULL,
						   NULL, TAG_END());
		}
		p->state = SIP_LEG_VIEW_ENDED;
		p->mixed = false;
	}
	/* the relay legs go with the relay call; the legs with the call */
}

/* ---- its answers and requests ---------------------------------------- */

static void sip_conf_up(struct sip_call *c, struct sip_part *p,
			sip_t const *sip)
{
	struct sip_leg *leg = &p->leg;
	struct sip_rac_codec codec = { -1, -1 };
	int err;

	sip_leg_answered(leg, sip);
	err = sip_rac_answer_final(leg, sip, &codec);
	(void)sip_leg_ack_answer(leg, NULL);
	sip_st_uac(leg, sip);
	if (p->ring_timer) {
		su_timer_destroy(p->ring_timer);
		p->ring_timer = NULL;
	}
	p->code = 200;
	if (!err)
		err = relay_call_leg_codec(c->media, leg->side,
					   (uint8_t)codec.pt);
	if (err) {
		SIP_COUNT(c->s, bad_sdp);
		p->state = SIP_LEG_VIEW_ANSWERED;
		sip_conf_leave(c, p, true);
		return;
	}
	p->state = SIP_LEG_VIEW_ANSWERED;
	p->mixed = true;
	c->rac->joined++;
	/* the record counts everybody who was on the call */
	c->cdr.participants = (uint8_t)(SIP_CALL_LEGS + c->rac->joined);
	SIP_COUNT(c->s, participants_joined);
	sip_conf_mix(c);
}

int sip_conf_on_response(struct sip_leg *leg, nta_outgoing_t *orq,
			 sip_t const *sip)
{
	struct sip_call *c = leg->call;
	struct sip_part *p = sip_conf_part(leg);
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
	const char *reason;

	if (status > 100 && status < 200)
		sip_prack_uac_recv(leg, orq, sip);
	if (status < 200) {
		if (status > 100 && sip_msg_has_sdp(sip) &&
		    p->state != SIP_LEG_VIEW_ENDED) {
			struct sip_rac_codec early;

			(void)sip_rac_answer(leg, sip, &early);
		}
		if (status > 100 && p->state == SIP_LEG_VIEW_CALLING)
			p->state = SIP_LEG_VIEW_RINGING;
		return 0;
	}

	/* given up (CANCEL, the call ending): a late 2xx ACKed and BYEd */
	if (p->state == SIP_LEG_VIEW_ENDED || c->state == SIP_CALL_ZOMBIE) {
		if (status < 300 && !leg->answered) {
			sip_leg_answered(leg, sip);
			(void)sip_leg_ack_answer(leg, NULL);
			sip_leg_bye(leg);
		}
		if (!leg->answered || status < 300)
			sip_conf_part_free(c, p);
		return 0;
	}
	if (status < 300) {
		if (!leg->answered)
			sip_conf_up(c, p, sip);
		return 0;
	}
	if (leg->answered)
		return 0;
	if (!sip_rac_retry(leg, sip, status, &reason))
		return 0;
	p->code = (uint16_t)status;
	p->state = SIP_LEG_VIEW_ENDED;
	sip_conf_part_free(c, p);
	return 0;
}

/* maskd is the participant's media peer: its offer is answered here */
static int sip_conf_offer(struct sip_leg *leg, nta_incoming_t *irq,
			  sip_t const *sip)
{
	struct sip_call *c = leg->call;
	struct sip_rac_codec codec;
	char hdrs[SIP_ST_HDRS_SIZE], m[SIP_URI_SIZE];
	char *sdp = NULL;
	int st;

	st = sip_st_uas(leg, sip);
	if (st)
		return st;
	if (sip_msg_has_sdp(sip)) {
		if (sip_rac_answer(leg, sip, &codec) ||
		    sip_rac_offer(leg, &codec, &sdp)) {
			SIP_COUNT(c->s, bad_sdp);
			return 488;
		}
		(void)relay_call_leg_codec(c->media, leg->side,
					   (uint8_t)codec.pt);
	}
	sip_st_hdrs_uas(&leg->st, hdrs, sizeof(hdrs));
	sip_msg_reply_hdrs(c->s, irq, 200, NULL, sdp ? sdp : leg->st.sdp,
			   sip_leg_contact(leg, m, sizeof(m)), SIP_REPLY_ALLOW,
			   hdrs);
	sip_st_arm(leg);
	nta_incoming_destroy(irq);
	free(sdp);
	return 0;
}

bool sip_conf_on_request(struct sip_leg *from, nta_incoming_t *irq,
			 sip_t const *sip, int *status)
{
	struct sip_call *c = from->call;
	struct sip_part *p = sip_conf_part(from);

	*status = 0;
	switch (sip->sip_request->rq_method) {
	case sip_method_ack:
		return false;		/* as any leg's */
	case sip_method_bye:
		sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
		nta_incoming_destroy(irq);
		if (p->state != SIP_LEG_VIEW_ENDED)
			sip_conf_leave(c, p, false);
		return true;
	case sip_method_invite:
	case sip_method_update:
		if (!from->answered || c->state != SIP_CALL_CONFIRMED) {
			*status = 491;
			return true;
		}
		*status = sip_conf_offer(from, irq, sip);
		return true;
	case sip_method_info:
	case sip_method_options:
		*status = 200;
		return true;
	default:
		return false;
	}
}

void sip_conf_view(struct sip_call *c, struct sip_call_view *v)
{
	struct sip_rac *rac = c->rac;
	struct sip_leg_view *lv;
	struct sip_part *p;
	size_t i;

	for (i = SIP_CALL_LEGS; i < SIP_CALL_LEGS_MAX; i++) {
		p = rac->parts[i];
		if (!p || v->n_legs >= SIP_CALL_LEGS_MAX)
			continue;
		lv = &v->legs[v->n_legs++];
		lv->id = (unsigned)i;
		lv->state = p->state;
		lv->code = p->code;
		snprintf(lv->number, sizeof(lv->number), "%s", p->leg.target);
	}
}
