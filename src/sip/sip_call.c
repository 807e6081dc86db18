/*
 * sip_call.c - one masked call: a set of legs bridged by the relay, and
 * its life from the INVITE routed to its end. Today a call is born with
 * its inbound leg (the caller's dialog) and bridges it to the one leg it
 * originates (sip_leg_originate(): the callee's dialog towards the
 * gateway).
 *
 *   EARLY      our INVITE is out on the originated leg; 1xx are relayed
 *              to the caller (reliably when it asked for 100rel; the
 *              originated leg's reliable 1xx are PRACKed there:
 *              sip_prack.c).
 *              CANCEL from the caller or the ring timeout: final to the
 *              caller, CANCEL on the originated leg, then ZOMBIE.
 *              A final failure there: mapped to the caller, call freed.
 *              A 2xx there: relayed, then ANSWERED.
 *   ANSWERED   the caller's ACK is awaited on the INVITE's server
 *              transaction; when it comes it is forwarded as our ACK on
 *              the originated leg (it may carry the answer of a late
 *              offer). Our 2xx may first wait for the PRACK of a
 *              reliable 18x; a CANCEL meanwhile still cancels (487, BYE
 *              on the originated leg).
 *   CONFIRMED  re-INVITE, UPDATE, INFO and OPTIONS are relayed from
 *              either leg to the other (sip_forward.c); BYE from either
 *              side ends the call; so does the call time limit.
 *   ZOMBIE     the caller has its final response and its CDR is out; we
 *              wait for the originated leg's answer to our CANCEL, and
 *              if that answer is a late 2xx we ACK it and BYE it.
 *
 * Session timers (RFC 4028) are per leg (struct sip_st, sip_timer.c);
 * a party's refresh that changes no SDP is answered on its own leg
 * (sip_forward.c) and never crosses; a real offer crosses as before and
 * refreshes both legs.
 *
 * Every call owns its legs (sip_leg.c: dialogs, INVITE transactions),
 * its relayed transactions, its timers and its relay call, and
 * sip_call_free() releases all of them: nothing of a call outlives it in
 * nta or in the relay. Every SDP that crosses goes through
 * sip_media_sdp() (the party it came from is the leg it came on); the
 * relay call is freed, its counters into the CDR, the moment the CDR
 * goes out (sip_cdr.c). Runs on the SIP thread only; the per-message
 * path logs at debug level at most.
 */
#include "sip_internal.h"
#include "sip_hook.h"
#include "sip_pin.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table of sessions with a live call ---------------------------- */

static size_t sip_busy_slot(const uint8_t id[STORE_ID_LEN])
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < STORE_ID_LEN; i++)
		h = (h ^ id[i]) * 16777619u;
	return h & (SIP_BUSY_BUCKETS - 1);
}

struct sip_call *sip_call_find_session(struct sip *s,
				       const uint8_t id[STORE_ID_LEN])
{
	struct sip_call *c;

	for (c = s->busy[sip_busy_slot(id)]; c; c = c->busy_next) {
		if (!memcmp(c->cdr.session_id, id, STORE_ID_LEN))
			return c;
	}
	return NULL;
}

bool sip_call_busy(struct sip *s, const uint8_t id[STORE_ID_LEN])
{
	return sip_call_find_session(s, id) != NULL ||
	       (s->grp->n > 1 && sip_group_claimed(s->grp, id));
}

void sip_call_busy_add(struct sip_call *c)
{
	struct sip_call **slot;

	slot = &c->s->busy[sip_busy_slot(c->cdr.session_id)];
	c->busy_next = *slot;
	*slot = c;
	c->busy_listed = true;
}

bool sip_call_ringing(const struct sip_call *c)
{
	size_t i;

	for (i = 0; i < SIP_CALL_LEGS; i++) {
		if (c->legs[i].role == SIP_LEG_OUTBOUND &&
		    c->legs[i].orq_invite && !c->legs[i].answered)
			return true;
	}
	return false;
}

void sip_call_busy_remove(struct sip_call *c)
{
	struct sip_call **pp;

	sip_call_unclaim(c);
	if (!c->busy_listed)
		return;

	pp = &c->s->busy[sip_busy_slot(c->cdr.session_id)];
	for (; *pp; pp = &(*pp)->busy_next) {
		if (*pp == c) {
			*pp = c->busy_next;
			break;
		}
	}
	c->busy_next = NULL;
	c->busy_listed = false;
}

/* ---- lifetime -------------------------------------------------------- */

static void sip_call_timer_destroy(su_timer_t **tp)
{
	if (*tp)
		su_timer_destroy(*tp);
	*tp = NULL;
}

/*
 * Releases everything the call holds in nta and sofia. Safe from inside
 * any callback of the call: nta lets a transaction or leg be destroyed
 * from its own callback, and a one-shot su_timer from its own expiry.
 */
void sip_call_free(struct sip_call *c)
{
	struct sip *s = c->s;
	size_t i;

	while (c->fwds)
		sip_fwd_free(c->fwds);

	sip_call_timer_destroy(&c->ring_timer);
	sip_call_timer_destroy(&c->limit_timer);
	sip_call_timer_destroy(&c->zombie_timer);
	for (i = 0; i < SIP_CALL_LEGS; i++)
		sip_leg_free(&c->legs[i]);
	sip_rac_free(c);		/* its participants' legs */

	sip_media_close(c);
	sip_pin_free(c);
	sip_call_busy_remove(c);
	sip_hook_forget(c);
	if (c->prev) {
		if (c->next)
			c->next->prev = c->prev;
		*c->prev = c->next;
	}
	SIP_UNCOUNT(s, calls_live);
	free(c);
}

/*
 * Progress for the events outbox (call.initiated/ringing/answered): a
 * copy of the record so far, through the same handler and mailbox as the
 * final one; ctl writes the event and stores no record for it.
 */
void sip_call_progress(struct sip_call *c, enum cdr_kind kind)
{
	struct cdr p = c->cdr;

	if (c->cdr_none || cdr_sessionless(&c->cdr))
		return;		/* no session to report it for */
	p.kind = kind;
	p.at_ms = clock_now_ms();
	if (c->s->cdrh)
		c->s->cdrh(&p, c->s->cdr_arg);
}

static int sip_call_timer_start(struct sip_call *c, su_timer_t **tp,
				su_timer_f cb, uint32_t ms)
{
	if (!*tp) {
		*tp = su_timer_create(su_root_task(c->s->root), 0);
		if (!*tp)
			return ENOMEM;
	}
	if (su_timer_set_interval(*tp, cb, c, ms) < 0)
		return ENOMEM;
	return 0;
}

/* ---- ending a call ------------------------------------------------------ */

/*
 * The legs are (or are about to be) up: BYE each but @except (the one
 * that just said BYE itself), and free the call. A leg maskd originated
 * after the caller's answer (a PIN's second leg) may still ring: it is
 * CANCELled instead, and the call waits for its final answer (ZOMBIE).
 */
void sip_call_hangup(struct sip_call *c, struct sip_leg *except,
		     enum cdr_hangup who, const char *reason)
{
	struct sip_leg *leg;
	size_t i;

	/* participants leave; a request-a-call still ringing ends its way */
	if (c->rac && sip_rac_hangup(c, except, who, reason))
		return;

	/* an originated leg's 2xx must be ACKed before its dialog can be
	 * BYEd */
	for (i = 0; i < SIP_CALL_LEGS; i++)
		(void)sip_leg_ack_answer(&c->legs[i], NULL);

	for (i = 0; i < SIP_CALL_LEGS; i++) {
		leg = &c->legs[i];
		if (leg == except || leg->role == SIP_LEG_NONE)
			continue;
		/* our 2xx still held for a PRACK: the leg has no dialog to
		 * BYE; the INVITE's transaction, destroyed with the call,
		 * answers it */
		if (leg->role == SIP_LEG_INBOUND && sip_prack_uas_holding(leg))
			continue;
		if (leg->role == SIP_LEG_OUTBOUND && leg->orq_invite &&
		    !leg->answered)
			continue;	/* ringing: sip_call_cancel() below */
		sip_leg_bye(leg);
	}

	if (sip_call_ringing(c)) {
		sip_call_cancel(c, 200, who, reason);
		return;
	}
	sip_call_cdr(c, 200, who, reason);
	sip_call_free(c);
}

static void sip_call_on_zombie_timer(su_root_magic_t *magic, su_timer_t *t,
				     void *arg)
{
	struct sip_call *c = arg;

	(void)magic;
	(void)t;
	sip_call_free(c);
}

/*
 * Before answer: give the caller @status, CANCEL the originated leg and
 * wait (ZOMBIE) for its final answer, which may still be a 2xx to be
 * ACKed and BYEd.
 */
void sip_call_cancel(struct sip_call *c, int status, enum cdr_hangup who,
		     const char *reason)
{
	struct sip_leg *in = sip_call_inbound(c);
	bool ringing = false;
	size_t i;

	if (in->irq_invite) {
		if (nta_incoming_status(in->irq_invite) < 200)
			nta_incoming_treply(in->irq_invite, status,
					    sip_msg_phrase(status), TAG_END());
		nta_incoming_destroy(in->irq_invite);
		in->irq_invite = NULL;
	}
	sip_call_cdr(c, (uint16_t)status, who, reason);
	sip_call_timer_destroy(&c->ring_timer);

	for (i = 0; i < SIP_CALL_LEGS; i++) {
		if (!c->legs[i].orq_invite)
			continue;
		(void)nta_outgoing_tcancel(c->legs[i].orq_invite, NULL, NULL,
					   TAG_END());
		ringing = true;
	}
	if (!ringing) {
		sip_call_free(c);
		return;
	}

	c->state = SIP_CALL_ZOMBIE;
	if (sip_call_timer_start(c, &c->zombie_timer,
				 sip_call_on_zombie_timer, SIP_ZOMBIE_MS))
		sip_call_free(c);
}

static void sip_call_on_ring_timer(su_root_magic_t *magic, su_timer_t *t,
				   void *arg)
{
	struct sip_call *c = arg;

	(void)magic;
	(void)t;
	if (c->state == SIP_CALL_EARLY)
		sip_call_cancel(c, 480, CDR_HANGUP_MASKD, "ring_timeout");
}

static void sip_call_on_limit_timer(su_root_magic_t *magic, su_timer_t *t,
				    void *arg)
{
	struct sip_call *c = arg;

	(void)magic;
	(void)t;
	sip_call_hangup(c, NULL, CDR_HANGUP_MASKD, "call_time_limit");
}

void sip_call_limit_arm(struct sip_call *c)
{
	if (c->limit_s &&
	    sip_call_timer_start(c, &c->limit_timer, sip_call_on_limit_timer,
				 c->limit_s * 1000u))
		log_debug(c->s->log, "sip: no timer for the call time limit");
}

/* ---- the originated leg's answer to our INVITE ------------------------- */

/*
 * The callee answered on @leg. Its SDP (the answer, or the offer when
 * the caller's INVITE had none) is rewritten for the caller; one that
 * cannot be gets the caller 488 and the callee an ACK and a BYE.
 */
static void sip_call_answered(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_call *c = leg->call;
	struct sip_leg *in = sip_call_leg_other(leg);
	struct sip *s = c->s;
	char hdrs[SIP_ST_HDRS_SIZE];
	char *sdp = NULL;
	int err;

	sip_leg_answered(leg, sip);

	sip_call_timer_destroy(&c->ring_timer);

	err = sip_media_sdp(leg, sip, &sdp);
	if (err == EPROTO) {
		if (in->irq_invite)
			nta_incoming_treply(in->irq_invite,
					    SIP_488_NOT_ACCEPTABLE, TAG_END());
		sip_call_cdr(c, 488, CDR_HANGUP_MASKD, "bad_sdp");
		sip_call_hangup(c, in, CDR_HANGUP_MASKD, "bad_sdp");
		return;
	}

	sip_st_hdrs_uas(&in->st, hdrs, sizeof(hdrs));
	if (err || !in->irq_invite ||
	    sip_prack_uas_answer(in, sip, sdp, hdrs)) {
		free(sdp);
		sip_call_hangup(c, in, CDR_HANGUP_MASKD, "failure");
		return;
	}
	free(sdp);

	c->state = SIP_CALL_ANSWERED;
	c->cdr.answer_ms = clock_now_ms();
	SIP_COUNT(s, calls_answered);
	sip_rec_answered(c);
	sip_call_progress(c, CDR_KIND_ANSWERED);

	/* each leg's session timer runs from its own 2xx */
	sip_st_arm(in);
	sip_st_uac(leg, sip);

	sip_call_limit_arm(c);
}

int sip_call_on_outbound(void *magic, nta_outgoing_t *orq, sip_t const *sip)
{
	struct sip_leg *leg = magic;
	struct sip_call *c = leg->call;
	struct sip_leg *in = sip_call_leg_other(leg);
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
	const char *reason = NULL;
	char *sdp = NULL;
	int mapped, err;

	/* maskd's own calls: both legs originated, or a participant */
	if (leg->side >= SIP_CALL_LEGS)
		return sip_conf_on_response(leg, orq, sip);
	if (c->rac && c->rac->stage != SIP_RAC_NONE)
		return sip_rac_on_response(leg, orq, sip);

	/* the leg's own: a reliable 18x is PRACKed there, whatever the call */
	if (status > 100 && status < 200)
		sip_prack_uac_recv(leg, orq, sip);

	if (c->state == SIP_CALL_ZOMBIE) {
		if (status < 200)
			return 0;
		if (status < 300) {
			/* CANCEL lost the race to the 2xx: accept, then end */
			sip_leg_answered(leg, sip);
			(void)sip_leg_ack_answer(leg, NULL);
			sip_leg_bye(leg);
		}
		sip_call_free(c);
		return 0;
	}

	/* a PIN's second leg: the caller was answered by maskd already */
	if (c->pin)
		return sip_pin_on_outbound(leg, sip, status);

	if (status < 200) {
		if (status > 100 && !c->ringing_told) {
			c->ringing_told = true;
			sip_call_progress(c, CDR_KIND_RINGING);
		}
		if (status > 100 && c->state == SIP_CALL_EARLY &&
		    in->irq_invite) {
			/* early media; SDP that cannot be rewritten is left
			 * out (and counted), the progress still relayed */
			(void)sip_media_sdp(leg, sip, &sdp);
			(void)sip_prack_uas_progress(in, status, sip, sdp);
			free(sdp);
		}
		return 0;
	}

	if (status < 300) {
		/* a retransmission or a second fork's 2xx changes nothing */
		if (c->state == SIP_CALL_EARLY)
			sip_call_answered(leg, sip);
		return 0;
	}

	if (c->state != SIP_CALL_EARLY)
		return 0;

	if (status == 422 && !sip_leg_retry_422(leg, sip))
		return 0;

	mapped = sip_cdr_failure_status(status);
	if (status == 401 || status == 407) {
		err = sip_leg_retry_auth(leg, sip, &reason);
		if (!err)
			return 0;
		/* the caller never sees the challenge; the CDR says why */
		if (err == EACCES) {
			mapped = SIP_AUTH_FAIL_STATUS;
			sip_auth_failed(c->s, reason);
		} else {
			mapped = 500;
			reason = "failure";
		}
	}
	if (in->irq_invite)
		nta_incoming_treply(in->irq_invite, mapped,
				    sip_msg_phrase(mapped), TAG_END());
	sip_call_cdr(c, (uint16_t)mapped, CDR_HANGUP_NONE,
		     reason ? reason : sip_cdr_failure_reason(status));
	sip_call_free(c);
	return 0;
}

/* ---- the caller's INVITE transaction: ACK, CANCEL, timeout -------------- */

static int sip_call_on_inbound(void *magic, nta_incoming_t *irq,
			       sip_t const *sip)
{
	struct sip_leg *leg = magic;
	struct sip_call *c = leg->call;
	bool up;

	if (!sip && c->state == SIP_CALL_EARLY) {
		/* RFC 3262 timer: the caller never PRACKed our reliable
		 * 18x; it is gone, or cannot do 100rel after all */
		sip_call_cancel(c, 503, CDR_HANGUP_MASKD, "prack_timeout");
		return 0;
	}

	if (!sip) {
		/* timer H: our 2xx was never ACKed; the caller is gone. Or
		 * our 2xx never left, held for a PRACK that never came:
		 * then the leg has no dialog to BYE (nta answers 503) */
		up = nta_incoming_status(irq) >= 200;
		nta_incoming_destroy(irq);
		leg->irq_invite = NULL;
		if (c->state == SIP_CALL_ANSWERED) {
			if (!up) {
				c->cdr.answer_ms = 0;	/* never relayed */
				sip_call_cdr(c, 503, CDR_HANGUP_MASKD,
					     "prack_timeout");
			}
			sip_call_hangup(c, up ? NULL : leg, CDR_HANGUP_MASKD,
					"ack_timeout");
		}
		return 0;
	}

	if (sip->sip_request->rq_method == sip_method_ack) {
		nta_incoming_destroy(irq);
		leg->irq_invite = NULL;
		if (c->state == SIP_CALL_ANSWERED) {
			c->state = SIP_CALL_CONFIRMED;
			if (sip_leg_ack_answer(sip_call_leg_other(leg), sip))
				sip_call_hangup(c, NULL, CDR_HANGUP_MASKD,
						"bad_sdp");
		}
		return 0;
	}

	if (sip->sip_request->rq_method != sip_method_cancel)
		return 0;
	if (c->state == SIP_CALL_EARLY) {
		sip_call_cancel(c, 487, CDR_HANGUP_CALLER, "cancel");
	} else if (c->state == SIP_CALL_ANSWERED &&
		   sip_prack_uas_holding(leg)) {
		/* answered by the callee, but our 2xx still waits for a
		 * PRACK: for the caller the call was never answered */
		nta_incoming_treply(irq, SIP_487_REQUEST_CANCELLED, TAG_END());
		nta_incoming_destroy(irq);
		leg->irq_invite = NULL;
		c->cdr.answer_ms = 0;		/* never relayed */
		sip_call_cdr(c, 487, CDR_HANGUP_CALLER, "cancel");
		sip_call_hangup(c, leg, CDR_HANGUP_CALLER, "cancel");
	}
	return 0;
}

/* ---- starting and stopping ---------------------------------------------- */

void sip_call_bind_inbound(struct sip_call *c)
{
	struct sip_leg *in = sip_call_inbound(c);

	nta_incoming_bind(in->irq_invite, sip_call_on_inbound, in);
}

void sip_call_link(struct sip_call *c)
{
	struct sip *s = c->s;

	c->next = s->calls;
	if (c->next)
		c->next->prev = &c->next;
	c->prev = &s->calls;
	s->calls = c;
}

struct sip_call *sip_call_new(struct sip *s)
{
	struct sip_call *c;
	int64_t now = clock_now_ms();

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->s = s;
	SIP_COUNT(s, calls_live);
	sip_leg_init(c);
	c->cdr.start_ms = now;
	if (store_cdr_id_new(now, c->cdr.id)) {
		sip_call_free(c);
		return NULL;
	}
	return c;
}

static bool sip_id_zero(const uint8_t id[STORE_ID_LEN])
{
	size_t i;

	for (i = 0; i < STORE_ID_LEN; i++)
		if (id[i])
			return false;
	return true;
}

int sip_call_setup(struct sip_call *c, nta_incoming_t *irq, sip_t const *sip,
		   const struct session *sess, const char *caller)
{
	struct sip *s = c->s;
	const struct config *cfg = s->cfg;
	struct sip_leg *in;
	char *sdp = NULL;
	int err;

	c->state = SIP_CALL_EARLY;
	memcpy(c->cdr.session_id, sess->id, STORE_ID_LEN);
	c->cdr_none = sip_id_zero(sess->id);
	/* one call per session across workers: the caller checked this
	 * worker; another may have claimed it since */
	if (!c->cdr_none && s->grp->n > 1 && !sip_call_claim(c, sess->id))
		return EBUSY;
	c->cdr.a_to_b = !strcmp(caller, sess->party_a);

	snprintf(c->vn, sizeof(c->vn), "%s", sess->vn);
	c->record = sess->record;
	c->limit_s = sess->call_time_limit_s ? sess->call_time_limit_s
					     : cfg->session.call_time_limit_s;

	in = sip_call_inbound(c);
	sip_leg_inbound(c, irq, sip);

	/* the ports first: without them (ENOSPC, a 503) nothing else of
	 * the call is made; then the caller's offer, if it made one */
	err = sip_media_open(c);
	if (err)
		goto out;
	err = sip_media_sdp(in, sip, &sdp);
	if (err)
		goto out;

	/* armed before the INVITE leaves, so no failure after it can leave
	 * the callee ringing with nobody to CANCEL it */
	err = sip_call_timer_start(c, &c->ring_timer, sip_call_on_ring_timer,
				   cfg->session.ring_timeout_s * 1000u);
	if (err)
		goto out;

	err = sip_leg_accept(in, irq, sip);
	if (err)
		goto out;
	err = sip_leg_originate(c, c->cdr.a_to_b ? sess->party_b
						 : sess->party_a,
				sip, sdp, NULL);
	if (err)
		goto out;

	/* from here the call answers the caller's INVITE (a parked one has
	 * had its 100 Trying) */
	in->irq_invite = irq;
	sip_call_bind_inbound(c);
	if (!c->prev) {
		nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
		sip_call_link(c);
	}
	sip_call_progress(c, CDR_KIND_INITIATED);
	if (!c->cdr_none)
		sip_call_busy_add(c);
	SIP_COUNT(s, calls_total);
 out:
	free(sdp);
	return err;
}

int sip_call_start(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		   const struct session *sess, const char *caller)
{
	struct sip_call *c;
	int err;

	c = sip_call_new(s);
	if (!c)
		return ENOMEM;
	err = sip_call_setup(c, irq, sip, sess, caller);
	if (err)
		sip_call_free(c);
	return err;
}

/*
 * Ringing calls time out too once both parties have sent SDP (183 early
 * media) and nobody sends a packet; with the defaults the ring timeout
 * comes first. The relay reports a call once, so nothing is ignored.
 */
void sip_call_end(struct sip_call *c, const char *reason)
{
	/* a request-a-call not bridged yet: sip_call_hangup() ends it
	 * whatever rings and whatever is up */
	if (c->rac && c->rac->stage != SIP_RAC_NONE &&
	    c->state != SIP_CALL_ZOMBIE) {
		sip_call_hangup(c, NULL, CDR_HANGUP_MASKD, reason);
		return;
	}
	switch (c->state) {
	case SIP_CALL_EARLY:
		/* "busy": the session's call is on another node (cluster
		 * mode), as a second call here would be refused */
		sip_call_cancel(c, strcmp(reason, "busy") ? 480 : 486,
				CDR_HANGUP_MASKD, reason);
		break;
	case SIP_CALL_ANSWERED:
	case SIP_CALL_CONFIRMED:
		sip_call_hangup(c, NULL, CDR_HANGUP_MASKD, reason);
		break;
	default:
		break;		/* ZOMBIE: the caller is gone, its CDR out */
	}
}

void sip_call_rtp_timeout(struct sip_call *c)
{
	SIP_COUNT(c->s, rtp_timeouts);
	sip_call_end(c, "rtp_timeout");
}

/*
 * Shutdown: every call ends now. Answered calls get a BYE on every leg,
 * ringing ones a 503 to the caller and a CANCEL to the callee; nobody
 * waits for the answers, since the agent closes right after.
 */
void sip_call_stop_all(struct sip *s)
{
	struct sip_call *c;
	struct sip_leg *leg;
	size_t i;

	while ((c = s->calls)) {
		if (c->rac && c->rac->stage != SIP_RAC_NONE) {
			/* nobody waits for a CANCEL's answer now */
			if (c->state != SIP_CALL_ZOMBIE)
				sip_call_hangup(c, NULL, CDR_HANGUP_MASKD,
						"shutdown");
			if (s->calls == c)
				sip_call_free(c);
			continue;
		}
		switch (c->state) {
		case SIP_CALL_HOOK:
		case SIP_CALL_EARLY:
			for (i = 0; i < SIP_CALL_LEGS; i++) {
				leg = &c->legs[i];
				if (leg->irq_invite &&
				    nta_incoming_status(leg->irq_invite) < 200)
					nta_incoming_treply(leg->irq_invite,
						SIP_503_SERVICE_UNAVAILABLE,
						TAG_END());
				if (leg->orq_invite)
					(void)nta_outgoing_tcancel(
						leg->orq_invite, NULL, NULL,
						TAG_END());
			}
			sip_call_cdr(c, 503, CDR_HANGUP_MASKD, "shutdown");
			sip_call_free(c);
			break;
		case SIP_CALL_ANSWERED:
		case SIP_CALL_CONFIRMED:
			sip_call_hangup(c, NULL, CDR_HANGUP_MASKD,
					"shutdown");
			break;
		default:
			sip_call_free(c);
			break;
		}
	}
}
