/*
 * sip_call.c - one masked call: the caller's dialog (leg a), the callee's
 * dialog (leg b), and every flow between them.
 *
 *   EARLY      our INVITE is out on leg b; 1xx are relayed to the caller
 *              (reliably when it asked for 100rel; leg b's reliable 1xx
 *              are PRACKed on leg b: sip_prack.c).
 *              CANCEL from the caller or the ring timeout: final to the
 *              caller, CANCEL on leg b, then ZOMBIE.
 *              A final failure on leg b: mapped to the caller, call freed.
 *              A 2xx on leg b: relayed, then ANSWERED.
 *   ANSWERED   the caller's ACK is awaited on the INVITE's server
 *              transaction; when it comes it is forwarded as our ACK on
 *              leg b (it may carry the answer of a late offer). Our 2xx
 *              may first wait for the PRACK of a reliable 18x; a CANCEL
 *              meanwhile still cancels (487, BYE on leg b).
 *   CONFIRMED  re-INVITE, UPDATE, INFO and OPTIONS are relayed either
 *              way (struct sip_fwd); BYE from either side ends the call;
 *              so does the call time limit.
 *   ZOMBIE     the caller has its final response and its CDR is out; we
 *              wait for leg b's answer to our CANCEL, and if that answer
 *              is a late 2xx we ACK it and BYE it.
 *
 * Session timers (RFC 4028) are per leg (struct sip_st, sip_timer.c);
 * a party's refresh that changes no SDP is answered on its own leg here
 * and never crosses; a real offer crosses as before and refreshes both
 * legs.
 *
 * Every call owns its two legs, its two INVITE transactions, its relayed
 * transactions, its timers and its relay call, and sip_call_free()
 * releases all of them: nothing of a call outlives it in nta or in the
 * relay. Every SDP that crosses goes through sip_media_sdp() (the party
 * it came from is the leg it came on); the relay call is freed, its
 * counters into the CDR, the moment the CDR goes out. Runs on the SIP
 * thread only; the per-message path logs at debug level at most.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_string.h>

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
	return sip_call_find_session(s, id) != NULL;
}

static void sip_busy_add(struct sip_call *c)
{
	struct sip_call **slot;

	slot = &c->s->busy[sip_busy_slot(c->cdr.session_id)];
	c->busy_next = *slot;
	*slot = c;
	c->busy_listed = true;
}

static void sip_busy_remove(struct sip_call *c)
{
	struct sip_call **pp;

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

static void sip_fwd_free(struct sip_fwd *f)
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

static void sip_call_timer_destroy(su_timer_t **tp)
{
	if (*tp)
		su_timer_destroy(*tp);
	*tp = NULL;
}

static void sip_call_leg_destroy(struct sip *s, nta_leg_t **legp)
{
	if (!*legp)
		return;
	nta_leg_destroy(*legp);
	*legp = NULL;
	SIP_UNCOUNT(s, dialogs_live);
}

/*
 * Releases everything the call holds in nta and sofia. Safe from inside
 * any callback of the call: nta lets a transaction or leg be destroyed
 * from its own callback, and a one-shot su_timer from its own expiry.
 */
static void sip_call_free(struct sip_call *c)
{
	struct sip *s = c->s;

	while (c->fwds)
		sip_fwd_free(c->fwds);

	sip_call_timer_destroy(&c->ring_timer);
	sip_call_timer_destroy(&c->limit_timer);
	sip_call_timer_destroy(&c->zombie_timer);
	sip_st_free(&c->st[RELAY_LEG_A]);
	sip_st_free(&c->st[RELAY_LEG_B]);
	sip_auth_free(&c->auth);
	sip_prack_free(c);

	if (c->irq_invite)
		nta_incoming_destroy(c->irq_invite);
	c->irq_invite = NULL;
	if (c->orq_invite)
		nta_outgoing_destroy(c->orq_invite);
	c->orq_invite = NULL;

	sip_call_leg_destroy(s, &c->leg_a);
	sip_call_leg_destroy(s, &c->leg_b);

	sip_media_close(c);
	sip_busy_remove(c);
	if (c->prev) {
		if (c->next)
			c->next->prev = c->prev;
		*c->prev = c->next;
	}
	SIP_UNCOUNT(s, calls_live);
	free(c);
}

/*
 * The caller's side of the call is over: hand the CDR over (once) and let
 * the session take its next call, even if leg b still needs tidying. The
 * media ends here too: its ports go back and its counters go into the
 * CDR.
 */
static void sip_call_cdr(struct sip_call *c, uint16_t code,
			 enum cdr_hangup who, const char *reason)
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

	sip_busy_remove(c);
	if (s->cdrh)
		s->cdrh(&c->cdr, s->cdr_arg);
}

/*
 * Progress for the events outbox (call.initiated/ringing/answered): a
 * copy of the record so far, through the same handler and mailbox as the
 * final one; ctl writes the event and stores no record for it.
 */
static void sip_call_progress(struct sip_call *c, enum cdr_kind kind)
{
	struct cdr p = c->cdr;

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

/* ---- sending on a leg -------------------------------------------------- */

static int sip_call_max_forwards(sip_t const *src)
{
	if (!src || !src->sip_max_forwards)
		return 70;
	if (src->sip_max_forwards->mf_count == 0)
		return 0;
	return (int)src->sip_max_forwards->mf_count - 1;
}

/*
 * A request of ours on @leg carrying what may cross from @src (the other
 * leg's request; may be NULL) with @sdp, its rewritten SDP (NULL: none).
 * @ruri only for the first INVITE; in a dialog the request goes to the
 * remote target nta keeps for the leg. @hdrs (may be NULL): raw header
 * lines of maskd's own, CRLF-separated. On leg b it carries credentials
 * once the gateway has challenged the call (sip_auth.c).
 */
nta_outgoing_t *sip_call_request(struct sip_call *c, nta_leg_t *leg,
				 sip_method_t method, const char *name,
				 const char *ruri, sip_t const *src,
				 const char *sdp, nta_response_f *cb,
				 void *magic, const char *contact,
				 const char *hdrs)
{
	struct sip *s = c->s;
	nta_outgoing_t *orq = NULL;
	char mf[12];
	msg_t *msg;
	sip_t *sip;

	msg = nta_msg_create(s->agent, 0);
	sip = sip_object(msg);
	if (!sip)
		goto out;

	snprintf(mf, sizeof(mf), "%d", sip_call_max_forwards(src));
	if (sip_add_tl(msg, sip, SIPTAG_MAX_FORWARDS_STR(mf),
		       TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
		       TAG_IF(contact, SIPTAG_ALLOW_STR(SIP_ALLOW_METHODS)),
		       TAG_IF(hdrs && *hdrs, SIPTAG_HEADER_STR(hdrs)),
		       TAG_END()) < 0)
		goto out;

	if (sip_msg_copy(s, msg, sip, src, sdp))
		goto out;

	if (nta_msg_request_complete(msg, leg, method, name,
				     ruri ? URL_STRING_MAKE(ruri) : NULL) < 0)
		goto out;
	if (leg == c->leg_b && sip_auth_authorize(c, msg, sip))
		goto out;

	orq = nta_outgoing_mcreate(s->agent, cb, magic, NULL, msg, TAG_END());
	if (orq)
		msg = NULL;
 out:
	if (msg)
		msg_destroy(msg);
	return orq;
}

static const char *sip_tp_name(enum sip_tp tp)
{
	switch (tp) {
	case SIP_TP_TCP:
		return "tcp";
	case SIP_TP_TLS:
		return "tls";
	default:
		return "udp";
	}
}

/*
 * The route set and remote target of @leg from the party's Record-Route
 * and Contact: @uac when maskd is the leg's UAC (they come from the
 * 2xx), else its UAS (they come from the INVITE). On a TLS leg the first
 * hop is pinned to TLS (sip_tls_pin()): no request of the dialog leaves
 * in clear, whatever transport the party wrote. Returns nta's answer, 0
 * or -1.
 */
static int sip_call_route(nta_leg_t *leg, bool tls, bool uac,
			  sip_record_route_t const *rr,
			  sip_contact_t const *m)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sip_record_route_t *pinned_rr;
	sip_contact_t *pinned_m;
	int rc = -1;

	if (tls) {
		if (sip_tls_pin(home, rr, m, uac, &pinned_rr, &pinned_m))
			goto out;
		rr = pinned_rr;
		m = pinned_m;
	}
	rc = uac ? nta_leg_client_reroute(leg, rr, m, 1)
		 : nta_leg_server_route(leg, rr, m);
 out:
	su_home_deinit(home);
	return rc;
}

/*
 * ACK the 2xx that @orq (an INVITE of ours on @leg) received, with what
 * may cross from @src (the other leg's ACK; may be NULL) and @sdp, its
 * rewritten SDP (NULL: none).
 * The ACK reuses the INVITE's CSeq and is its own transaction, which nta
 * keeps just long enough to re-ACK a retransmitted 2xx. On leg b it
 * carries the INVITE's credentials, if any.
 */
void sip_call_ack(struct sip_call *c, nta_leg_t *leg,
		  nta_outgoing_t *orq, sip_t const *src, const char *sdp)
{
	struct sip *s = c->s;
	nta_outgoing_t *ack;
	sip_cseq_t *cseq;
	msg_t *msg;
	sip_t *sip;

	msg = nta_msg_create(s->agent, 0);
	sip = sip_object(msg);
	if (!sip)
		goto out;

	cseq = sip_cseq_create(msg_home(msg), nta_outgoing_cseq(orq),
			       SIP_METHOD_ACK);
	if (!cseq ||
	    msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)cseq) ||
	    sip_add_tl(msg, sip, SIPTAG_MAX_FORWARDS_STR("70"),
		       TAG_END()) < 0 ||
	    sip_msg_copy(s, msg, sip, src, sdp) ||
	    nta_msg_request_complete(msg, leg, SIP_METHOD_ACK, NULL) < 0)
		goto out;
	if (leg == c->leg_b)
		sip_auth_ack(c, orq, msg, sip);

	ack = nta_outgoing_mcreate(s->agent, NULL, NULL, NULL, msg,
				   NTATAG_ACK_BRANCH(nta_outgoing_branch(orq)),
				   TAG_END());
	if (ack) {
		msg = NULL;
		nta_outgoing_destroy(ack);
	}
 out:
	if (msg)
		msg_destroy(msg);
}

/*
 * The callee's 2xx to our INVITE is ACKed, once, with the SDP of @src
 * (the caller's ACK: the answer to a late offer) rewritten. An SDP that
 * cannot be rewritten is left out and EPROTO returned: the caller of this
 * must then end the call, whose two sides no longer agree on media.
 */
static int sip_call_ack_b(struct sip_call *c, sip_t const *src)
{
	char *sdp = NULL;
	int err;

	if (!c->b_answered || c->b_acked || !c->orq_invite)
		return 0;

	err = sip_media_sdp(c, src, RELAY_LEG_A, &sdp);
	sip_call_ack(c, c->leg_b, c->orq_invite, src, sdp);
	free(sdp);
	c->b_acked = true;
	nta_outgoing_destroy(c->orq_invite);
	c->orq_invite = NULL;
	return err;
}

/*
 * A BYE on @leg; nta's default callback disposes of it when answered.
 * On leg b it carries credentials when the gateway challenged the call:
 * the call is gone before a challenge to the BYE could be answered.
 */
static void sip_call_send_bye(struct sip_call *c, nta_leg_t *leg)
{
	if (!leg)
		return;
	(void)sip_call_request(c, leg, SIP_METHOD_BYE, NULL, NULL, NULL,
			       NULL, NULL, NULL, NULL);
}

/* ---- ending a call ------------------------------------------------------ */

/*
 * Both legs are (or are about to be) up: BYE leg a when @bye_a, leg b
 * when @bye_b (not the one that just said BYE itself), and free the call.
 */
void sip_call_hangup(struct sip_call *c, bool bye_a, bool bye_b,
		     enum cdr_hangup who, const char *reason)
{
	/* the callee's 2xx must be ACKed before its dialog can be BYEd */
	(void)sip_call_ack_b(c, NULL);

	/* our 2xx still held for a PRACK: leg a has no dialog to BYE; the
	 * INVITE's transaction, destroyed with the call, answers it */
	if (sip_prack_a_holding(c))
		bye_a = false;

	if (bye_a)
		sip_call_send_bye(c, c->leg_a);
	if (bye_b)
		sip_call_send_bye(c, c->leg_b);

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
 * Before answer: give the caller @status, CANCEL leg b and wait (ZOMBIE)
 * for its final answer, which may still be a 2xx to be ACKed and BYEd.
 */
static void sip_call_cancel(struct sip_call *c, int status,
			    enum cdr_hangup who, const char *reason)
{
	if (c->irq_invite) {
		if (nta_incoming_status(c->irq_invite) < 200)
			nta_incoming_treply(c->irq_invite, status,
					    sip_msg_phrase(status), TAG_END());
		nta_incoming_destroy(c->irq_invite);
		c->irq_invite = NULL;
	}
	sip_call_cdr(c, (uint16_t)status, who, reason);
	sip_call_timer_destroy(&c->ring_timer);

	if (!c->orq_invite) {
		sip_call_free(c);
		return;
	}

	(void)nta_outgoing_tcancel(c->orq_invite, NULL, NULL, TAG_END());
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
	sip_call_hangup(c, true, true, CDR_HANGUP_MASKD, "call_time_limit");
}

/*
 * What the caller hears of the callee's failure: the cause where it means
 * something to the caller (busy, declined, rejected media), a generic
 * "not reachable now" for everything about where the callee is, and 5xx
 * as maskd's own trouble. The callee's reason phrase never crosses.
 */
static int sip_call_map_failure(int st)
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

static const char *sip_call_failure_reason(int st)
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

/* ---- leg b's answer to our INVITE --------------------------------------- */

static int sip_call_on_b_response(void *magic, nta_outgoing_t *orq,
				  sip_t const *sip);

/*
 * Our INVITE on leg b, with what may cross from @src (the caller's
 * INVITE) and @sdp, its rewritten SDP; it offers leg b's own session
 * timer.
 */
static int sip_call_invite_b(struct sip_call *c, sip_t const *src,
			     const char *sdp)
{
	struct sip *s = c->s;
	char ruri[SIP_URI_SIZE];
	char hdrs[SIP_URI_SIZE + 32 + SIP_ST_HDRS_SIZE + SIP_PRACK_HDRS_SIZE];
	int n;

	snprintf(ruri, sizeof(ruri), "sip:%s@%s:%u;transport=%s", c->callee,
		 s->gw_host, (unsigned)s->cfg->gateway.address.port,
		 sip_tp_name(s->gw_tp));
	n = snprintf(hdrs, sizeof(hdrs), "P-Asserted-Identity: <sip:%s@%s>\r\n",
		     c->vn, s->host);
	if (n < 0 || (size_t)n >= sizeof(hdrs))
		return ENOSPC;
	sip_st_hdrs_uac(c, RELAY_LEG_B, hdrs + n, sizeof(hdrs) - (size_t)n);
	sip_prack_b_hdrs(sdp, hdrs, sizeof(hdrs));

	c->orq_invite = sip_call_request(c, c->leg_b, SIP_METHOD_INVITE, ruri,
					 src, sdp, sip_call_on_b_response, c,
					 c->contact_b, hdrs);
	return c->orq_invite ? 0 : EIO;
}

/*
 * The callee finds our Session-Expires too short (422): once, the INVITE
 * goes again on the same dialog (a new CSeq) with its Min-SE (RFC 4028
 * section 7.4). Returns 0 when it went, else the 422 is a failure like
 * any other.
 */
static int sip_call_retry_422(struct sip_call *c, sip_t const *sip)
{
	struct sip_st *st = &c->st[RELAY_LEG_B];
	msg_t *req;
	int err;

	if (st->retried || !sip->sip_min_se || !c->irq_invite)
		return EPROTO;
	st->retried = true;
	st->min_s = sip_st_clamp(sip->sip_min_se->min_delta);

	req = nta_incoming_getrequest(c->irq_invite);
	if (!req)
		return ENOMEM;
	nta_outgoing_destroy(c->orq_invite);
	c->orq_invite = NULL;
	err = sip_call_invite_b(c, sip_object(req), st->sdp);
	msg_destroy(req);
	return err;
}

/*
 * The gateway wants credentials (401/407): once, the INVITE goes again on
 * the same dialog (the same Call-ID and From tag, the next CSeq, a new
 * branch) with them, RFC 3261 section 22.2; nta has ACKed the challenge
 * and the caller hears nothing of it but the 100 it had. The retry is
 * c->orq_invite from here, so a CANCEL or the ring timeout cancel it.
 * Returns 0 when it went; else *reasonp says why the call fails:
 * "auth_failed" (our credentials were refused: challenged again) or
 * "auth_required" (none for this challenge).
 */
static int sip_call_retry_auth(struct sip_call *c, sip_t const *sip,
			       const char **reasonp)
{
	msg_t *req;
	int err;

	*reasonp = c->auth.invite_retried ? "auth_failed" : "auth_required";
	if (c->auth.invite_retried || !c->irq_invite)
		return EACCES;
	err = sip_auth_challenge(c, sip);
	if (err)
		return err;
	c->auth.invite_retried = true;

	req = nta_incoming_getrequest(c->irq_invite);
	if (!req)
		return ENOMEM;
	nta_outgoing_destroy(c->orq_invite);
	c->orq_invite = NULL;
	err = sip_call_invite_b(c, sip_object(req), c->st[RELAY_LEG_B].sdp);
	msg_destroy(req);
	if (!err)
		SIP_COUNT(c->s, auth_retries);
	return err;
}

/*
 * The callee answered. Its SDP (the answer, or the offer when the
 * caller's INVITE had none) is rewritten for the caller; one that cannot
 * be gets the caller 488 and the callee an ACK and a BYE.
 */
static void sip_call_answered(struct sip_call *c, sip_t const *sip)
{
	struct sip *s = c->s;
	char hdrs[SIP_ST_HDRS_SIZE];
	char *sdp = NULL;
	int err;

	nta_leg_rtag(c->leg_b, sip->sip_to->a_tag);
	(void)sip_call_route(c->leg_b, s->gw_tp == SIP_TP_TLS, true,
			     sip->sip_record_route, sip->sip_contact);
	c->b_answered = true;

	sip_call_timer_destroy(&c->ring_timer);

	err = sip_media_sdp(c, sip, RELAY_LEG_B, &sdp);
	if (err == EPROTO) {
		if (c->irq_invite)
			nta_incoming_treply(c->irq_invite,
					    SIP_488_NOT_ACCEPTABLE, TAG_END());
		sip_call_cdr(c, 488, CDR_HANGUP_MASKD, "bad_sdp");
		sip_call_hangup(c, false, true, CDR_HANGUP_MASKD, "bad_sdp");
		return;
	}

	sip_st_hdrs_uas(&c->st[RELAY_LEG_A], hdrs, sizeof(hdrs));
	if (err || !c->irq_invite ||
	    sip_prack_a_answer(c, sip, sdp, hdrs)) {
		free(sdp);
		sip_call_hangup(c, false, true, CDR_HANGUP_MASKD, "failure");
		return;
	}
	free(sdp);

	c->state = SIP_CALL_ANSWERED;
	c->cdr.answer_ms = clock_now_ms();
	SIP_COUNT(s, calls_answered);
	sip_call_progress(c, CDR_KIND_ANSWERED);

	/* each leg's session timer runs from its own 2xx */
	sip_st_arm(c, RELAY_LEG_A);
	sip_st_uac(c, RELAY_LEG_B, sip);

	if (c->limit_s &&
	    sip_call_timer_start(c, &c->limit_timer, sip_call_on_limit_timer,
				 c->limit_s * 1000u))
		log_debug(s->log, "sip: no timer for the call time limit");
}

static int sip_call_on_b_response(void *magic, nta_outgoing_t *orq,
				  sip_t const *sip)
{
	struct sip_call *c = magic;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
	const char *reason = NULL;
	char *sdp = NULL;
	int mapped, err;

	/* leg b's own: a reliable 18x is PRACKed there, whatever the call */
	if (status > 100 && status < 200)
		sip_prack_b_recv(c, orq, sip);

	if (c->state == SIP_CALL_ZOMBIE) {
		if (status < 200)
			return 0;
		if (status < 300) {
			/* CANCEL lost the race to the 2xx: accept, then end */
			nta_leg_rtag(c->leg_b, sip->sip_to->a_tag);
			(void)sip_call_route(c->leg_b,
					     c->s->gw_tp == SIP_TP_TLS, true,
					     sip->sip_record_route,
					     sip->sip_contact);
			c->b_answered = true;
			(void)sip_call_ack_b(c, NULL);
			sip_call_send_bye(c, c->leg_b);
		}
		sip_call_free(c);
		return 0;
	}

	if (status < 200) {
		if (status > 100 && !c->ringing_told) {
			c->ringing_told = true;
			sip_call_progress(c, CDR_KIND_RINGING);
		}
		if (status > 100 && c->state == SIP_CALL_EARLY &&
		    c->irq_invite) {
			/* early media; SDP that cannot be rewritten is left
			 * out (and counted), the progress still relayed */
			(void)sip_media_sdp(c, sip, RELAY_LEG_B, &sdp);
			(void)sip_prack_a_progress(c, status, sip, sdp);
			free(sdp);
		}
		return 0;
	}

	if (status < 300) {
		/* a retransmission or a second fork's 2xx changes nothing */
		if (c->state == SIP_CALL_EARLY)
			sip_call_answered(c, sip);
		return 0;
	}

	if (c->state != SIP_CALL_EARLY)
		return 0;

	if (status == 422 && !sip_call_retry_422(c, sip))
		return 0;

	mapped = sip_call_map_failure(status);
	if (status == 401 || status == 407) {
		err = sip_call_retry_auth(c, sip, &reason);
		if (!err)
			return 0;
		/* the caller never sees the challenge; the CDR says why */
		if (err == EACCES) {
			mapped = SIP_AUTH_FAIL_STATUS;
			sip_auth_failed(c, reason);
		} else {
			mapped = 500;
			reason = "failure";
		}
	}
	if (c->irq_invite)
		nta_incoming_treply(c->irq_invite, mapped,
				    sip_msg_phrase(mapped), TAG_END());
	sip_call_cdr(c, (uint16_t)mapped, CDR_HANGUP_NONE,
		     reason ? reason : sip_call_failure_reason(status));
	sip_call_free(c);
	return 0;
}

/* ---- the caller's INVITE transaction: ACK, CANCEL, timeout -------------- */

static int sip_call_on_a_ack_cancel(void *magic, nta_incoming_t *irq,
				    sip_t const *sip)
{
	struct sip_call *c = magic;
	bool a_up;

	if (!sip && c->state == SIP_CALL_EARLY) {
		/* RFC 3262 timer: the caller never PRACKed our reliable
		 * 18x; it is gone, or cannot do 100rel after all */
		sip_call_cancel(c, 503, CDR_HANGUP_MASKD, "prack_timeout");
		return 0;
	}

	if (!sip) {
		/* timer H: our 2xx was never ACKed; the caller is gone. Or
		 * our 2xx never left, held for a PRACK that never came:
		 * then leg a has no dialog to BYE (nta answers 503) */
		a_up = nta_incoming_status(irq) >= 200;
		nta_incoming_destroy(irq);
		c->irq_invite = NULL;
		if (c->state == SIP_CALL_ANSWERED) {
			if (!a_up) {
				c->cdr.answer_ms = 0;	/* never relayed */
				sip_call_cdr(c, 503, CDR_HANGUP_MASKD,
					     "prack_timeout");
			}
			sip_call_hangup(c, a_up, true, CDR_HANGUP_MASKD,
					"ack_timeout");
		}
		return 0;
	}

	if (sip->sip_request->rq_method == sip_method_ack) {
		nta_incoming_destroy(irq);
		c->irq_invite = NULL;
		if (c->state == SIP_CALL_ANSWERED) {
			c->state = SIP_CALL_CONFIRMED;
			if (sip_call_ack_b(c, sip))
				sip_call_hangup(c, true, true,
						CDR_HANGUP_MASKD, "bad_sdp");
		}
		return 0;
	}

	if (sip->sip_request->rq_method != sip_method_cancel)
		return 0;
	if (c->state == SIP_CALL_EARLY) {
		sip_call_cancel(c, 487, CDR_HANGUP_CALLER, "cancel");
	} else if (c->state == SIP_CALL_ANSWERED && sip_prack_a_holding(c)) {
		/* answered on leg b, but our 2xx still waits for a PRACK:
		 * for the caller the call was never answered */
		nta_incoming_treply(irq, SIP_487_REQUEST_CANCELLED, TAG_END());
		nta_incoming_destroy(irq);
		c->irq_invite = NULL;
		c->cdr.answer_ms = 0;		/* never relayed */
		sip_call_cdr(c, 487, CDR_HANGUP_CALLER, "cancel");
		sip_call_hangup(c, false, true, CDR_HANGUP_CALLER, "cancel");
	}
	return 0;
}

/* ---- relaying in-dialog requests ---------------------------------------- */

static bool sip_method_offers(sip_method_t m)
{
	return m == sip_method_invite || m == sip_method_update;
}

/*
 * re-INVITE and UPDATE are target refresh requests: once one succeeds,
 * the party's next requests go to the Contact it named, in the request
 * (maskd the UAS, RFC 3261 section 12.2.2) or in its 2xx (maskd the
 * UAC, section 12.2.1.2). Only the target moves: the route set is the
 * dialog's for good. Without this the BYE went to where the party was.
 */
static void sip_call_retarget(nta_leg_t *leg, sip_t const *sip)
{
	if (leg && sip && sip->sip_contact)
		(void)nta_leg_client_reroute(leg, NULL, sip->sip_contact, 0);
}

/* The same for the request of @irq, which we have answered 2xx. */
static void sip_call_retarget_irq(nta_leg_t *leg, nta_incoming_t *irq)
{
	msg_t *req = nta_incoming_getrequest(irq);

	if (!req)
		return;
	sip_call_retarget(leg, sip_object(req));
	msg_destroy(req);
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
	const char *contact = f->from_a ? c->contact_a : c->contact_b;
	nta_leg_t *to_leg = f->from_a ? c->leg_b : c->leg_a;
	/* the answer comes from the party the request went to */
	enum relay_leg answerer = f->from_a ? RELAY_LEG_B : RELAY_LEG_A;
	enum relay_leg sender = f->from_a ? RELAY_LEG_A : RELAY_LEG_B;
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
	if ((status == 401 || status == 407) && f->from_a &&
	    !f->auth_retried && !f->cancelled && f->orq == orq) {
		nta_outgoing_t *again = sip_auth_resend(c, orq, sip,
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
				(void)sip_media_sdp(c, sip, answerer, &sdp);
			sip_msg_reply(c->s, f->irq, status, sip, sdp,
				      f->is_invite ? contact : NULL, 0);
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
		sip_call_retarget(to_leg, sip);
		err = sip_media_sdp(c, sip, answerer, &sdp);
		if (err)
			status = err == EPROTO ? 488 : 500;
		/* an offer answered is a refresh of both legs' timers */
		sip_st_uac(c, answerer, sip);
	}

	hdrs[0] = '\0';
	if (status < 300 && offers) {
		sip_st_hdrs_uas(&c->st[sender], hdrs, sizeof(hdrs));
		sip_st_arm(c, sender);
	}
	if (f->irq && !f->cancelled && nta_incoming_status(f->irq) < 200) {
		sip_msg_reply_hdrs(c->s, f->irq, status,
				   status < 300 ? sip : NULL, sdp,
				   status < 300 && offers ? contact : NULL,
				   status < 300 && allow ? SIP_REPLY_ALLOW : 0,
				   hdrs);
		if (status < 300 && offers)
			sip_call_retarget_irq(f->from_a ? c->leg_a : c->leg_b,
					      f->irq);
	}
	free(sdp);

	if (f->is_invite && nta_outgoing_status(orq) >= 200 &&
	    nta_outgoing_status(orq) < 300) {
		if (status < 300 && f->irq && !f->cancelled)
			return 0;	/* the ACK comes to the irq */
		sip_call_ack(c, to_leg, orq, NULL, NULL);
	}

	sip_fwd_free(f);
	return 0;
}

static int sip_fwd_on_ack_cancel(void *magic, nta_incoming_t *irq,
				 sip_t const *sip)
{
	struct sip_fwd *f = magic;
	struct sip_call *c = f->call;
	nta_leg_t *to_leg = f->from_a ? c->leg_b : c->leg_a;
	char *sdp = NULL;

	(void)irq;

	if (!sip || sip->sip_request->rq_method == sip_method_ack) {
		/* the sender ACKed our 2xx (or never will: timer H); its
		 * ACK may hold the answer to an offer in that 2xx, left
		 * out (and counted) when it cannot be rewritten */
		if (f->orq && nta_outgoing_status(f->orq) >= 200 &&
		    nta_outgoing_status(f->orq) < 300) {
			(void)sip_media_sdp(c, sip, f->from_a ? RELAY_LEG_A :
					    RELAY_LEG_B, &sdp);
			sip_call_ack(c, to_leg, f->orq, sip, sdp);
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

/* Answer the refresh @irq from leg @from here (sip_st_is_refresh()). */
static int sip_st_answer(struct sip_call *c, nta_incoming_t *irq,
			 sip_t const *sip, enum relay_leg from)
{
	struct sip_st *st = &c->st[from];
	char hdrs[SIP_ST_HDRS_SIZE];
	struct sip_fwd *f = NULL;
	int err = 500;

	if (sip->sip_request->rq_method == sip_method_invite) {
		/* its ACK comes to the irq: a relay with nothing relayed */
		f = calloc(1, sizeof(*f));
		if (!f)
			goto out;
		f->call = c;
		f->from_a = from == RELAY_LEG_A;
		f->is_invite = true;
	}

	sip_st_hdrs_uas(st, hdrs, sizeof(hdrs));
	if (sip_msg_reply_hdrs(c->s, irq, 200, NULL,
			       sip_msg_has_sdp(sip) ? st->sdp : NULL,
			       sip_call_contact(c, from), SIP_REPLY_ALLOW,
			       hdrs))
		goto out;
	sip_call_retarget(sip_call_leg(c, from), sip);
	sip_st_arm(c, from);

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

static int sip_fwd_start(struct sip_call *c, nta_incoming_t *irq,
			 sip_t const *sip, bool from_a)
{
	sip_method_t m = sip->sip_request->rq_method;
	enum relay_leg from = from_a ? RELAY_LEG_A : RELAY_LEG_B;
	enum relay_leg to = from_a ? RELAY_LEG_B : RELAY_LEG_A;
	nta_leg_t *to_leg = from_a ? c->leg_b : c->leg_a;
	const char *contact = from_a ? c->contact_b : c->contact_a;
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

		if (sip_st_uas(c, from, sip)) {
			sip_st_reply_422(c, irq);
			return 0;
		}
		if (sip_st_is_refresh(c, sip, from))
			return sip_st_answer(c, irq, sip, from);
		sip_st_hdrs_uac(c, to, hdrs, sizeof(hdrs));

		/* hold, resume, a new address: the offer's SDP tells the
		 * relay; INFO's and OPTIONS' SDP never crosses */
		err = sip_media_sdp(c, sip, from_a ? RELAY_LEG_A :
				    RELAY_LEG_B, &sdp);
		if (err)
			return err == EPROTO ? 488 : 500;
	}

	f = calloc(1, sizeof(*f));
	if (!f) {
		free(sdp);
		return 500;
	}
	f->call = c;
	f->from_a = from_a;
	f->is_invite = m == sip_method_invite;

	f->orq = sip_call_request(c, to_leg, m,
				  sip->sip_request->rq_method_name, NULL, sip,
				  sdp, sip_fwd_on_response, f,
				  sip_method_offers(m) ? contact : NULL, hdrs);
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

/* ---- requests inside either dialog -------------------------------------- */

/*
 * A request on leg a (@from_a) or leg b. Returns 0 when taken care of,
 * else the status for nta to answer with.
 */
static int sip_call_on_request(struct sip_call *c, nta_incoming_t *irq,
			       sip_t const *sip, bool from_a)
{
	sip_method_t m = sip->sip_request->rq_method;

	switch (m) {
	case sip_method_ack:
		/* an ACK whose INVITE transaction is already gone: ours to
		 * destroy, or one irq leaks per call */
		nta_incoming_destroy(irq);
		return 0;

	case sip_method_bye:
		if (c->state == SIP_CALL_ZOMBIE)
			return 481;
		if (c->state == SIP_CALL_EARLY) {
			if (!from_a)
				return 481;
			/* a caller giving up before the answer */
			sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
			nta_incoming_destroy(irq);
			sip_call_cancel(c, 487, CDR_HANGUP_CALLER, "cancel");
			return 0;
		}
		sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
		nta_incoming_destroy(irq);
		sip_call_hangup(c, !from_a, from_a,
				from_a ? CDR_HANGUP_CALLER : CDR_HANGUP_CALLEE,
				"normal");
		return 0;

	case sip_method_invite:
	case sip_method_update:
	case sip_method_info:
	case sip_method_options:
		if (c->state != SIP_CALL_CONFIRMED)
			return sip_method_offers(m) ? 491 : 481;
		return sip_fwd_start(c, irq, sip, from_a);

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

static int sip_call_on_leg_a(void *magic, nta_leg_t *leg,
			     nta_incoming_t *irq, sip_t const *sip)
{
	(void)leg;
	return sip_call_on_request(magic, irq, sip, true);
}

static int sip_call_on_leg_b(void *magic, nta_leg_t *leg,
			     nta_incoming_t *irq, sip_t const *sip)
{
	(void)leg;
	return sip_call_on_request(magic, irq, sip, false);
}

/* ---- starting and stopping ---------------------------------------------- */

/*
 * Our Contact on a leg of transport @tp: over TLS it names the TLS port,
 * so that the party's requests come back on TLS.
 */
static void sip_call_contact_make(const struct sip_call *c, enum sip_tp tp,
				  char *buf, size_t size)
{
	const struct sip *s = c->s;

	if (tp == SIP_TP_TLS)
		snprintf(buf, size, "<sip:%s@%s:%s;transport=tls>", c->vn,
			 s->tls_host, s->tls_port);
	else
		snprintf(buf, size, "<sip:%s@%s:%s%s>", c->vn, s->host,
			 s->port, tp == SIP_TP_TCP ? ";transport=tcp" : "");
}

/*
 * The two dialogs and our INVITE on leg b. Leg a answers to the caller's
 * Call-ID with a tag of ours; leg b is a new dialog in which nothing of
 * the caller appears: our Call-ID, tags and Via, the VN in From and
 * P-Asserted-Identity, our own Contact.
 */
static int sip_call_legs_open(struct sip_call *c, nta_incoming_t *irq,
			      sip_t const *sip, const char *sdp)
{
	struct sip *s = c->s;
	const struct config *cfg = s->cfg;
	char from[SIP_URI_SIZE], to[SIP_URI_SIZE];
	char const *tag;

	c->leg_a = nta_leg_tcreate(s->agent, sip_call_on_leg_a, c,
				   SIPTAG_CALL_ID(sip->sip_call_id),
				   SIPTAG_FROM(sip->sip_to),
				   SIPTAG_TO(sip->sip_from),
				   TAG_END());
	if (!c->leg_a)
		return ENOMEM;
	SIP_COUNT(s, dialogs_live);

	tag = nta_leg_tag(c->leg_a, NULL);
	if (!tag || !nta_incoming_tag(irq, tag))
		return ENOMEM;
	if (sip_call_route(c->leg_a, c->tp_a == SIP_TP_TLS, false,
			   sip->sip_record_route, sip->sip_contact) < 0)
		return ENOMEM;

	snprintf(from, sizeof(from), "<sip:%s@%s>", c->vn, s->host);
	snprintf(to, sizeof(to), "<sip:%s@%s:%u>", c->callee, s->gw_host,
		 (unsigned)cfg->gateway.address.port);
	c->leg_b = nta_leg_tcreate(s->agent, sip_call_on_leg_b, c,
				   SIPTAG_FROM_STR(from), SIPTAG_TO_STR(to),
				   TAG_END());
	if (!c->leg_b)
		return ENOMEM;
	SIP_COUNT(s, dialogs_live);
	if (!nta_leg_tag(c->leg_b, NULL))
		return ENOMEM;

	return sip_call_invite_b(c, sip, sdp);
}

int sip_call_start(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		   const struct session *sess, const char *caller)
{
	const struct config *cfg = s->cfg;
	struct sip_call *c;
	int64_t now = clock_now_ms();
	char *sdp = NULL;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->s = s;
	SIP_COUNT(s, calls_live);
	c->st[RELAY_LEG_A].call = c;
	c->st[RELAY_LEG_A].leg = RELAY_LEG_A;
	c->st[RELAY_LEG_B].call = c;
	c->st[RELAY_LEG_B].leg = RELAY_LEG_B;
	sip_prack_init(c, sip);
	/* sip_route_invite() has refused an interval below our Min-SE */
	(void)sip_st_uas(c, RELAY_LEG_A, sip);

	memcpy(c->cdr.session_id, sess->id, STORE_ID_LEN);
	c->cdr.a_to_b = !strcmp(caller, sess->party_a);
	c->cdr.start_ms = now;
	err = store_cdr_id_new(now, c->cdr.id);
	if (err)
		goto out;

	snprintf(c->vn, sizeof(c->vn), "%s", sess->vn);
	snprintf(c->callee, sizeof(c->callee), "%s",
		 c->cdr.a_to_b ? sess->party_b : sess->party_a);
	c->limit_s = sess->call_time_limit_s ? sess->call_time_limit_s
					     : cfg->session.call_time_limit_s;

	/* the socket it came on, not what its Via claims */
	c->tp_a = sip_tls_tp(s, irq);
	sip_call_contact_make(c, c->tp_a, c->contact_a, sizeof(c->contact_a));
	sip_call_contact_make(c, s->gw_tp, c->contact_b, sizeof(c->contact_b));

	/* the ports first: without them (ENOSPC, a 503) nothing else of
	 * the call is made; then the caller's offer, if it made one */
	err = sip_media_open(c);
	if (err)
		goto out;
	err = sip_media_sdp(c, sip, RELAY_LEG_A, &sdp);
	if (err)
		goto out;

	/* armed before the INVITE leaves, so no failure after it can leave
	 * the callee ringing with nobody to CANCEL it */
	err = sip_call_timer_start(c, &c->ring_timer, sip_call_on_ring_timer,
				   cfg->session.ring_timeout_s * 1000u);
	if (err)
		goto out;

	err = sip_call_legs_open(c, irq, sip, sdp);
	if (err)
		goto out;

	/* from here the call answers the caller's INVITE */
	c->irq_invite = irq;
	nta_incoming_bind(irq, sip_call_on_a_ack_cancel, c);
	nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());

	c->next = s->calls;
	if (c->next)
		c->next->prev = &c->next;
	c->prev = &s->calls;
	s->calls = c;
	sip_call_progress(c, CDR_KIND_INITIATED);
	sip_busy_add(c);
	SIP_COUNT(s, calls_total);
	c = NULL;
 out:
	free(sdp);
	if (c)
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
	switch (c->state) {
	case SIP_CALL_EARLY:
		sip_call_cancel(c, 480, CDR_HANGUP_MASKD, reason);
		break;
	case SIP_CALL_ANSWERED:
	case SIP_CALL_CONFIRMED:
		sip_call_hangup(c, true, true, CDR_HANGUP_MASKD, reason);
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
 * Shutdown: every call ends now. Answered calls get a BYE on both legs,
 * ringing ones a 503 to the caller and a CANCEL to the callee; nobody
 * waits for the answers, since the agent closes right after.
 */
void sip_call_stop_all(struct sip *s)
{
	struct sip_call *c;

	while ((c = s->calls)) {
		switch (c->state) {
		case SIP_CALL_EARLY:
			if (c->irq_invite &&
			    nta_incoming_status(c->irq_invite) < 200)
				nta_incoming_treply(c->irq_invite,
					SIP_503_SERVICE_UNAVAILABLE,
					TAG_END());
			if (c->orq_invite)
				(void)nta_outgoing_tcancel(c->orq_invite, NULL,
							   NULL, TAG_END());
			sip_call_cdr(c, 503, CDR_HANGUP_MASKD, "shutdown");
			sip_call_free(c);
			break;
		case SIP_CALL_ANSWERED:
		case SIP_CALL_CONFIRMED:
			sip_call_hangup(c, true, true, CDR_HANGUP_MASKD,
					"shutdown");
			break;
		default:
			sip_call_free(c);
			break;
		}
	}
}
