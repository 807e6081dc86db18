/*
 * sip_leg.c - one leg of a call: its making (an inbound INVITE accepted,
 * or a leg maskd originates), its dialog (route set, remote target and
 * their refresh), sending maskd's own requests and ACKs on it, and its
 * release.
 *
 * A leg knows its party only: nothing of another leg is ever copied into
 * one but what sip_msg_copy() lets cross and the SDP sip_media_sdp()
 * rewrote. What a leg negotiates stays on it: its session timer
 * (sip_timer.c), 100rel (sip_prack.c) and, towards the gateway, digest
 * authentication (sip_auth.c).
 *
 * Runs on the SIP thread only; a leg is part of its call (struct
 * sip_call) and sip_leg_free() releases what it holds.
 */
#include "sip_internal.h"

#include <sofia-sip/su_string.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lifetime -------------------------------------------------------- */

void sip_leg_init(struct sip_call *c)
{
	size_t i;

	for (i = 0; i < SIP_CALL_LEGS; i++) {
		c->legs[i].call = c;
		c->legs[i].side = (enum relay_leg)i;
	}
}

static void sip_leg_dialog_destroy(struct sip_leg *leg)
{
	if (!leg->dialog)
		return;
	nta_leg_destroy(leg->dialog);
	leg->dialog = NULL;
	SIP_UNCOUNT(leg->call->s, dialogs_live);
}

/*
 * The reliable 18x goes before the INVITE's irq (nta frees them with
 * it); the rest in any order. nta lets a transaction or leg be destroyed
 * from its own callback, and a one-shot su_timer from its own expiry.
 */
void sip_leg_free(struct sip_leg *leg)
{
	sip_st_free(&leg->st);
	sip_auth_free(&leg->auth);
	sip_prack_free(leg);

	if (leg->irq_invite)
		nta_incoming_destroy(leg->irq_invite);
	leg->irq_invite = NULL;
	if (leg->orq_invite)
		nta_outgoing_destroy(leg->orq_invite);
	leg->orq_invite = NULL;

	sip_leg_dialog_destroy(leg);
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

const char *sip_leg_contact(const struct sip_leg *leg, char *buf,
			    size_t size)
{
	const struct sip_call *c = leg->call;
	const struct sip *s = c->s;

	if (leg->tp == SIP_TP_TLS)
		snprintf(buf, size, "<sip:%s@%s:%s;transport=tls>", c->vn,
			 s->tls_host, s->tls_port);
	else
		snprintf(buf, size, "<sip:%s@%s:%s%s>", c->vn, s->host,
			 s->port, leg->tp == SIP_TP_TCP ? ";transport=tcp" : "");
	return buf;
}

/*
 * The route set and remote target of @leg's dialog from the party's
 * Record-Route and Contact: @uac when maskd is the leg's UAC (they come
 * from the 2xx), else its UAS (they come from the INVITE). On a TLS leg
 * the first hop is pinned to TLS (sip_tls_pin()): no request of the
 * dialog leaves in clear, whatever transport the party wrote. Returns
 * nta's answer, 0 or -1.
 */
static int sip_leg_route(struct sip_leg *leg, bool uac,
			 sip_record_route_t const *rr, sip_contact_t const *m)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sip_record_route_t *pinned_rr;
	sip_contact_t *pinned_m;
	int rc = -1;

	if (leg->tp == SIP_TP_TLS) {
		if (sip_tls_pin(home, rr, m, uac, &pinned_rr, &pinned_m))
			goto out;
		rr = pinned_rr;
		m = pinned_m;
	}
	rc = uac ? nta_leg_client_reroute(leg->dialog, rr, m, 1)
		 : nta_leg_server_route(leg->dialog, rr, m);
 out:
	su_home_deinit(home);
	return rc;
}

/* ---- an inbound leg ---------------------------------------------------- */

void sip_leg_inbound(struct sip_call *c, nta_incoming_t *irq,
		     sip_t const *sip)
{
	struct sip_leg *leg = sip_call_inbound(c);

	leg->role = SIP_LEG_INBOUND;
	sip_prack_init(leg, sip);
	/* sip_route_invite() has refused an interval below our Min-SE */
	(void)sip_st_uas(leg, sip);
	/* the socket it came on, not what its Via claims */
	leg->tp = sip_tls_tp(c->s, irq);
}

/* The dialog answers to the party's Call-ID with a tag of ours. */
int sip_leg_accept(struct sip_leg *leg, nta_incoming_t *irq,
		   sip_t const *sip)
{
	struct sip *s = leg->call->s;
	char const *tag;

	leg->dialog = nta_leg_tcreate(s->agent, sip_leg_on_request, leg,
				      SIPTAG_CALL_ID(sip->sip_call_id),
				      SIPTAG_FROM(sip->sip_to),
				      SIPTAG_TO(sip->sip_from),
				      TAG_END());
	if (!leg->dialog)
		return ENOMEM;
	SIP_COUNT(s, dialogs_live);

	tag = nta_leg_tag(leg->dialog, NULL);
	if (!tag || !nta_incoming_tag(irq, tag))
		return ENOMEM;
	if (sip_leg_route(leg, false, sip->sip_record_route,
			  sip->sip_contact) < 0)
		return ENOMEM;
	return 0;
}

/* ---- a leg maskd originates ------------------------------------------- */

/*
 * Our INVITE on @leg, with what may cross from @src and @sdp, its
 * rewritten SDP; it offers the leg's own session timer.
 */
int sip_leg_invite(struct sip_leg *leg, sip_t const *src, const char *sdp)
{
	struct sip_call *c = leg->call;
	struct sip *s = c->s;
	char ruri[SIP_URI_SIZE];
	char hdrs[SIP_URI_SIZE + 32 + SIP_ST_HDRS_SIZE + SIP_PRACK_HDRS_SIZE];
	int n;

	snprintf(ruri, sizeof(ruri), "sip:%s@%s:%u;transport=%s", leg->target,
		 s->gw_host, (unsigned)s->cfg->gateway.address.port,
		 sip_tp_name(s->gw_tp));
	n = snprintf(hdrs, sizeof(hdrs), "P-Asserted-Identity: <sip:%s@%s>\r\n",
		     c->vn, s->host);
	if (n < 0 || (size_t)n >= sizeof(hdrs))
		return ENOSPC;
	sip_st_hdrs_uac(leg, hdrs + n, sizeof(hdrs) - (size_t)n);
	sip_prack_uac_hdrs(sdp, hdrs, sizeof(hdrs));

	leg->orq_invite = sip_leg_request(leg, SIP_METHOD_INVITE, ruri, src,
					  sdp, sip_call_on_outbound, leg, true,
					  hdrs);
	return leg->orq_invite ? 0 : EIO;
}

int sip_leg_originate(struct sip_call *c, const char *target,
		      sip_t const *src, const char *sdp,
		      struct sip_leg **legp)
{
	struct sip_leg *leg = NULL;
	size_t i;

	for (i = 0; i < SIP_CALL_LEGS && !leg; i++) {
		if (c->legs[i].role == SIP_LEG_NONE)
			leg = &c->legs[i];
	}
	if (!leg)
		return ENOSPC;
	if (legp)
		*legp = leg;
	return sip_leg_originate_on(leg, target, src, sdp);
}

int sip_leg_originate_on(struct sip_leg *leg, const char *target,
			 sip_t const *src, const char *sdp)
{
	struct sip_call *c = leg->call;
	struct sip *s = c->s;
	char from[SIP_URI_SIZE], to[SIP_URI_SIZE];

	leg->role = SIP_LEG_OUTBOUND;
	leg->tp = s->gw_tp;
	snprintf(leg->target, sizeof(leg->target), "%s", target);

	snprintf(from, sizeof(from), "<sip:%s@%s>", c->vn, s->host);
	snprintf(to, sizeof(to), "<sip:%s@%s:%u>", leg->target, s->gw_host,
		 (unsigned)s->cfg->gateway.address.port);
	leg->dialog = nta_leg_tcreate(s->agent, sip_leg_on_request, leg,
				      SIPTAG_FROM_STR(from),
				      SIPTAG_TO_STR(to), TAG_END());
	if (!leg->dialog)
		return ENOMEM;
	SIP_COUNT(s, dialogs_live);
	if (!nta_leg_tag(leg->dialog, NULL))
		return ENOMEM;

	return sip_leg_invite(leg, src, sdp);
}

/*
 * True while the INVITE of @leg (originated) may go again: the caller
 * still waits on its INVITE transaction, or maskd answered the caller
 * itself and this leg is the second one of a PIN call (nothing of the
 * caller's INVITE crosses then).
 */
static bool sip_leg_may_reinvite(struct sip_leg *leg)
{
	return sip_call_leg_other(leg)->irq_invite || leg->call->pin;
}

/*
 * The INVITE goes again on the same dialog: what may cross comes from
 * the other leg's INVITE as before (when it is still there), the SDP is
 * the one this leg was last sent.
 */
static int sip_leg_reinvite(struct sip_leg *leg)
{
	struct sip_leg *other = sip_call_leg_other(leg);
	msg_t *req = NULL;
	int err;

	if (other->irq_invite) {
		req = nta_incoming_getrequest(other->irq_invite);
		if (!req)
			return ENOMEM;
	}
	nta_outgoing_destroy(leg->orq_invite);
	leg->orq_invite = NULL;
	err = sip_leg_invite(leg, req ? sip_object(req) : NULL, leg->st.sdp);
	if (req)
		msg_destroy(req);
	return err;
}

/*
 * The callee finds our Session-Expires too short (422): once, the INVITE
 * goes again on the same dialog (a new CSeq) with its Min-SE (RFC 4028
 * section 7.4). Returns 0 when it went, else the 422 is a failure like
 * any other.
 */
int sip_leg_retry_422(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_st *st = &leg->st;

	if (st->retried || !sip->sip_min_se || !sip_leg_may_reinvite(leg))
		return EPROTO;
	st->retried = true;
	st->min_s = sip_st_clamp(sip->sip_min_se->min_delta);
	return sip_leg_reinvite(leg);
}

/*
 * The gateway wants credentials (401/407): once, the INVITE goes again on
 * the same dialog (the same Call-ID and From tag, the next CSeq, a new
 * branch) with them, RFC 3261 section 22.2; nta has ACKed the challenge
 * and the caller hears nothing of it but the 100 it had. The retry is
 * leg->orq_invite from here, so a CANCEL or the ring timeout cancel it.
 */
int sip_leg_retry_auth(struct sip_leg *leg, sip_t const *sip,
		       const char **reasonp)
{
	int err;

	*reasonp = leg->auth.invite_retried ? "auth_failed"
					    : "auth_required";
	if (leg->auth.invite_retried || !sip_leg_may_reinvite(leg))
		return EACCES;
	err = sip_auth_challenge(leg, sip);
	if (err)
		return err;
	leg->auth.invite_retried = true;

	err = sip_leg_reinvite(leg);
	if (!err)
		SIP_COUNT(leg->call->s, auth_retries);
	return err;
}

void sip_leg_answered(struct sip_leg *leg, sip_t const *sip)
{
	nta_leg_rtag(leg->dialog, sip->sip_to->a_tag);
	(void)sip_leg_route(leg, true, sip->sip_record_route,
			    sip->sip_contact);
	leg->answered = true;
}

int sip_leg_ack_answer(struct sip_leg *leg, sip_t const *src)
{
	char *sdp = NULL;
	int err;

	if (!leg->answered || leg->acked || !leg->orq_invite)
		return 0;

	err = sip_media_sdp(sip_call_leg_other(leg), src, &sdp);
	sip_leg_ack(leg, leg->orq_invite, src, sdp);
	free(sdp);
	leg->acked = true;
	nta_outgoing_destroy(leg->orq_invite);
	leg->orq_invite = NULL;
	return err;
}

/* ---- sending on a leg -------------------------------------------------- */

static int sip_leg_max_forwards(sip_t const *src)
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
 * lines of maskd's own, CRLF-separated. Towards the gateway it carries
 * credentials once the gateway has challenged the leg (sip_auth.c).
 */
nta_outgoing_t *sip_leg_request(struct sip_leg *leg, sip_method_t method,
				const char *name, const char *ruri,
				sip_t const *src, const char *sdp,
				nta_response_f *cb, void *magic, bool contact,
				const char *hdrs)
{
	struct sip *s = leg->call->s;
	nta_outgoing_t *orq = NULL;
	char mf[12], m[SIP_URI_SIZE];
	msg_t *msg;
	sip_t *sip;

	msg = nta_msg_create(s->agent, 0);
	sip = sip_object(msg);
	if (!sip)
		goto out;

	snprintf(mf, sizeof(mf), "%d", sip_leg_max_forwards(src));
	if (sip_add_tl(msg, sip, SIPTAG_MAX_FORWARDS_STR(mf),
		       TAG_IF(contact, SIPTAG_CONTACT_STR(
			       sip_leg_contact(leg, m, sizeof(m)))),
		       TAG_IF(contact, SIPTAG_ALLOW_STR(SIP_ALLOW_METHODS)),
		       TAG_IF(hdrs && *hdrs, SIPTAG_HEADER_STR(hdrs)),
		       TAG_END()) < 0)
		goto out;

	if (sip_msg_copy(s, msg, sip, src, sdp))
		goto out;

	if (nta_msg_request_complete(msg, leg->dialog, method, name,
				     ruri ? URL_STRING_MAKE(ruri) : NULL) < 0)
		goto out;
	if (leg->role == SIP_LEG_OUTBOUND &&
	    sip_auth_authorize(leg, msg, sip))
		goto out;

	orq = nta_outgoing_mcreate(s->agent, cb, magic, NULL, msg, TAG_END());
	if (orq)
		msg = NULL;
 out:
	if (msg)
		msg_destroy(msg);
	return orq;
}

/* What an ACK's Via branch adds to its INVITE's: an ACK of a 2xx is a
 * transaction of its own (RFC 3261 section 17.1.1.3), and one made again
 * for a retransmitted 2xx must be the same message, branch included, or
 * the party takes it for another request. */
#define SIP_ACK_BRANCH_SUFFIX ".ack"

/*
 * The ACK of CSeq @cseq_n on @leg, with what may cross from @src (the
 * other leg's ACK; may be NULL) and @sdp, its rewritten SDP (NULL: none),
 * and the credentials of @invite (may be NULL) towards the gateway; sent
 * without a transaction. @invite_branch is the INVITE's Via branch (with
 * or without "branch="): nta asserts that an ACK names its INVITE, and
 * the ACK's own branch is made from it. Returns 0 or -1.
 */
static int sip_leg_ack_send(struct sip_leg *leg, uint32_t cseq_n,
			    nta_outgoing_t *invite, const char *invite_branch,
			    sip_t const *src, const char *sdp)
{
	struct sip *s = leg->call->s;
	char branch[SIP_BRANCH_SIZE];
	sip_cseq_t *cseq;
	msg_t *msg;
	sip_t *sip;
	int n;

	if (!invite_branch)
		return -1;
	if (su_casenmatch(invite_branch, "branch=", 7))
		invite_branch += 7;
	n = snprintf(branch, sizeof(branch), "%s" SIP_ACK_BRANCH_SUFFIX,
		     invite_branch);
	if (n < 0 || (size_t)n >= sizeof(branch))
		return -1;

	msg = nta_msg_create(s->agent, 0);
	sip = sip_object(msg);
	if (!sip)
		goto fail;

	cseq = sip_cseq_create(msg_home(msg), cseq_n, SIP_METHOD_ACK);
	if (!cseq ||
	    msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)cseq) ||
	    sip_add_tl(msg, sip, SIPTAG_MAX_FORWARDS_STR("70"),
		       TAG_END()) < 0 ||
	    sip_msg_copy(s, msg, sip, src, sdp) ||
	    nta_msg_request_complete(msg, leg->dialog, SIP_METHOD_ACK,
				     NULL) < 0)
		goto fail;
	if (leg->role == SIP_LEG_OUTBOUND && invite)
		sip_auth_ack(leg, invite, msg, sip);

	/* nta_msg_tsend() takes msg in any case */
	return nta_msg_tsend(s->agent, msg, NULL,
			     NTATAG_ACK_BRANCH(invite_branch),
			     NTATAG_BRANCH_KEY(branch), TAG_END());
 fail:
	if (msg)
		msg_destroy(msg);
	return -1;
}

/*
 * ACK the 2xx that @orq (an INVITE of ours on @leg) received, with what
 * may cross from @src (the other leg's ACK; may be NULL) and @sdp, its
 * rewritten SDP (NULL: none). The ACK reuses the INVITE's CSeq; towards
 * the gateway it carries the INVITE's credentials, if any.
 *
 * No transaction: nta kept an ACK's for 64*T1 with its message, URL and
 * block tables (about 4 KiB per call set up, issue 14). The INVITE's,
 * destroyed by then, hands a 2xx sent again on as a stray response, and
 * sip_leg_reack() answers it from what is kept here.
 */
void sip_leg_ack(struct sip_leg *leg, nta_outgoing_t *orq, sip_t const *src,
		 const char *sdp)
{
	uint32_t cseq = nta_outgoing_cseq(orq);

	(void)sip_leg_ack_send(leg, cseq, orq, nta_outgoing_branch(orq), src,
			       sdp);
	leg->ack_cseq = cseq;
	leg->ack_sdp = sdp != NULL;
}

bool sip_leg_reack(struct sip *s, sip_t const *sip)
{
	nta_leg_t *dialog;
	struct sip_leg *leg;
	int status;

	if (!sip->sip_status || !sip->sip_cseq || !sip->sip_call_id ||
	    !sip->sip_via || !sip->sip_to ||
	    sip->sip_cseq->cs_method != sip_method_invite)
		return false;
	status = sip->sip_status->st_status;
	if (status < 200 || status >= 300)
		return false;

	dialog = nta_leg_by_call_id(s->agent, sip->sip_call_id->i_id);
	leg = dialog ? (struct sip_leg *)nta_leg_magic(dialog,
						       sip_leg_on_request)
		     : NULL;
	if (!leg || !leg->ack_cseq ||
	    sip->sip_cseq->cs_seq != leg->ack_cseq ||
	    !nta_leg_get_rtag(dialog) || !sip->sip_to->a_tag ||
	    !su_casematch(nta_leg_get_rtag(dialog), sip->sip_to->a_tag))
		return false;

	/* the INVITE's transaction is gone (or going): no credentials to
	 * copy, and a gateway does not challenge an ACK */
	(void)sip_leg_ack_send(leg, leg->ack_cseq, NULL,
			       sip->sip_via->v_branch, NULL,
			       leg->ack_sdp ? leg->st.sdp : NULL);
	return true;
}

/*
 * nta's default callback disposes of the BYE when answered. Towards the
 * gateway it carries credentials when the gateway challenged the leg:
 * the call is gone before a challenge to the BYE could be answered.
 */
void sip_leg_bye(struct sip_leg *leg)
{
	if (!leg->dialog)
		return;
	(void)sip_leg_request(leg, SIP_METHOD_BYE, NULL, NULL, NULL, NULL,
			      NULL, false, NULL);
}

/* ---- target refresh ---------------------------------------------------- */

/*
 * re-INVITE and UPDATE are target refresh requests: once one succeeds,
 * the party's next requests go to the Contact it named, in the request
 * (maskd the UAS, RFC 3261 section 12.2.2) or in its 2xx (maskd the
 * UAC, section 12.2.1.2). Only the target moves: the route set is the
 * dialog's for good. Without this the BYE went to where the party was.
 */
void sip_leg_retarget(struct sip_leg *leg, sip_t const *sip)
{
	if (leg->dialog && sip && sip->sip_contact)
		(void)nta_leg_client_reroute(leg->dialog, NULL,
					     sip->sip_contact, 0);
}

void sip_leg_retarget_irq(struct sip_leg *leg, nta_incoming_t *irq)
{
	msg_t *req = nta_incoming_getrequest(irq);

	if (!req)
		return;
	sip_leg_retarget(leg, sip_object(req));
	msg_destroy(req);
}
