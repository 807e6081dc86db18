/*
 * sip_timer.c - RFC 4028 session timers, one per leg of a call.
 *
 * maskd is the UAS of an inbound leg's INVITE and the UAC of its own on
 * a leg it originates, so each leg negotiates its own interval and
 * refresher, and neither party learns the other's. When maskd refreshes
 * a leg it sends UPDATE (or a re-INVITE with the SDP it last sent) at
 * half the interval; when the party refreshes and falls silent, every
 * leg is BYEd. A refresh
 * that changes nothing is answered on its own leg (sip_forward.c) and
 * never crosses, so a party without timers is never bothered by the
 * other's.
 *
 * Runs on the SIP thread only; state lives in struct sip_st, part of its
 * leg and released by sip_st_free().
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_string.h>

/* A refresh that cannot leave now (an offer in flight, the caller's ACK
 * not in yet) is tried again this much later. */
#define SIP_ST_RETRY_MS 1000

/* The shortest interval taken from a party: below it timers would spin. */
#define SIP_ST_FLOOR_S 2

/* The Min-SE of @leg: ours, raised by a 422 of the party's. */
static uint32_t sip_st_min(const struct sip_leg *leg)
{
	uint32_t min = leg->call->s->cfg->sip.min_se_s;

	return leg->st.min_s > min ? leg->st.min_s : min;
}

/* The interval maskd asks for on @leg: configured, never below a Min-SE
 * (ours, the party's 422, or @req_min from the party's request). */
static uint32_t sip_st_offer(const struct sip_leg *leg, uint32_t req_min)
{
	uint32_t se = leg->call->s->cfg->sip.session_expires_s;
	uint32_t min = sip_st_min(leg);

	if (se < min)
		se = min;
	return se < req_min ? req_min : se;
}

uint32_t sip_st_clamp(unsigned long delta)
{
	if (delta < SIP_ST_FLOOR_S)
		return SIP_ST_FLOOR_S;
	return delta > 86400 ? 86400 : (uint32_t)delta;
}

bool sip_call_offering(const struct sip_call *c)
{
	const struct sip_fwd *f;
	sip_method_t m;
	size_t i;

	for (i = 0; i < SIP_CALL_LEGS; i++) {
		if (c->legs[i].st.orq)
			return true;
	}
	for (f = c->fwds; f; f = f->next) {
		if (!f->orq)
			continue;
		m = nta_outgoing_method(f->orq);
		if (m == sip_method_invite || m == sip_method_update)
			return true;
	}
	return false;
}

static void sip_st_on_timer(su_root_magic_t *magic, su_timer_t *t,
			    void *arg);

static void sip_st_arm_ms(struct sip_leg *leg, uint32_t ms)
{
	struct sip *s = leg->call->s;
	struct sip_st *st = &leg->st;

	if (!st->timer) {
		st->timer = su_timer_create(su_root_task(s->root), 0);
		if (!st->timer)
			goto fail;
	}
	if (su_timer_set_interval(st->timer, sip_st_on_timer, leg, ms) < 0)
		goto fail;
	return;
 fail:
	/* the call goes on unguarded, as it did before RFC 4028 */
	log_debug(s->log, "sip: no session timer");
}

/*
 * (Re)start @leg's session timer, counting from now: maskd refreshes at
 * half the interval; a party that refreshes is given the interval less
 * min(32 s, a third) (RFC 4028 section 10) before the call is taken to be
 * dead. No interval: no timer.
 */
void sip_st_arm(struct sip_leg *leg)
{
	struct sip_st *st = &leg->st;
	uint32_t ms = st->interval_s * 1000u;
	uint32_t slack = ms / 3 < 32000 ? ms / 3 : 32000;

	if (!st->interval_s) {
		if (st->timer)
			su_timer_reset(st->timer);
		return;
	}
	sip_st_arm_ms(leg, st->we_refresh ? ms / 2 : ms - slack);
}

/*
 * An INVITE or UPDATE from the party of @leg, maskd being the UAS of
 * that transaction (RFC 4028 section 9). The party's interval and
 * refresher stand; without a refresher it refreshes when it supports
 * "timer", else maskd does. A party that only supports "timer" gets
 * maskd's interval and refreshes itself; one that does neither gets no
 * timer. Returns 0, or 422 when the interval is below our Min-SE (the
 * leg is left as it was).
 */
int sip_st_uas(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_st *st = &leg->st;
	sip_session_expires_t const *x = sip->sip_session_expires;
	uint32_t req_min = sip->sip_min_se ?
			   sip_st_clamp(sip->sip_min_se->min_delta) : 0;

	if (x && x->x_delta < leg->call->s->cfg->sip.min_se_s)
		return 422;

	st->peer_timer = sip_has_supported(sip->sip_supported, "timer") ||
			 sip_has_feature(sip->sip_require, "timer");
	if (sip->sip_allow)
		st->peer_update = sip_is_allowed(sip->sip_allow,
						 SIP_METHOD_UPDATE);

	if (x) {
		st->interval_s = sip_st_clamp(x->x_delta);
		if (x->x_refresher)
			st->we_refresh = su_casematch(x->x_refresher, "uas");
		else
			st->we_refresh = !st->peer_timer;
	} else if (st->peer_timer) {
		if (!st->interval_s || st->interval_s < req_min)
			st->interval_s = sip_st_offer(leg, req_min);
		st->we_refresh = false;
	} else {
		st->interval_s = 0;
	}
	return 0;
}

/* What our 2xx to the party of a leg says of the timer (sip_st_uas()). */
void sip_st_hdrs_uas(const struct sip_st *st, char *buf, size_t size)
{
	if (!st->interval_s) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, size, "Session-Expires: %u;refresher=%s%s",
		 (unsigned)st->interval_s, st->we_refresh ? "uas" : "uac",
		 st->peer_timer ? "\r\nSupported: timer\r\nRequire: timer"
				: "");
}

/*
 * What an INVITE or UPDATE of ours on @leg says: the leg's interval and
 * refresher once there is one (the party is the UAS here, so a refreshing
 * party is "uas"), else our offer without a refresher, for the party to
 * choose (RFC 4028 section 7.1).
 */
void sip_st_hdrs_uac(const struct sip_leg *leg, char *buf, size_t size)
{
	const struct sip_st *st = &leg->st;

	snprintf(buf, size,
		 "Session-Expires: %u%s\r\nMin-SE: %u\r\nSupported: timer",
		 (unsigned)(st->interval_s ? st->interval_s
					   : sip_st_offer(leg, 0)),
		 !st->interval_s ? "" : st->we_refresh ? ";refresher=uac"
						       : ";refresher=uas",
		 (unsigned)sip_st_min(leg));
}

/*
 * A 2xx to an INVITE or UPDATE of ours on @leg (RFC 4028 section 7.2):
 * its Session-Expires decides; none means the party does no timer and
 * the leg has none. Restarts the leg's timer.
 */
void sip_st_uac(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_st *st = &leg->st;
	sip_session_expires_t const *x = sip ? sip->sip_session_expires : NULL;

	if (sip && sip->sip_allow)
		st->peer_update = sip_is_allowed(sip->sip_allow,
						 SIP_METHOD_UPDATE);
	st->interval_s = 0;
	if (x && x->x_delta) {
		st->interval_s = sip_st_clamp(x->x_delta);
		st->we_refresh = !x->x_refresher ||
				 su_casematch(x->x_refresher, "uac");
	}
	sip_st_arm(leg);
}

static int sip_st_refresh(struct sip_leg *leg);

/*
 * The session of @leg has expired (the party stopped refreshing, or
 * our refresh got 408/481): a participant's leaves the call
 * (sip_conf.c), either party's ends it. May free @leg.
 */
static void sip_st_expired(struct sip_leg *leg)
{
	if (leg->side >= SIP_CALL_LEGS)
		(void)sip_conf_remove(leg->call, (unsigned)leg->side);
	else
		sip_call_hangup(leg->call, NULL, CDR_HANGUP_MASKD,
				"session_timer_expired");
}

/*
 * The answer to our refresh on @leg. A 2xx to a re-INVITE is ACKed at
 * once: its SDP can only repeat the party's, which the other party
 * already has. 408 and 481 mean the dialog is gone (RFC 4028 section
 * 10): every leg is BYEd. Anything else keeps the session as it was.
 */
static int sip_st_on_response(void *magic, nta_outgoing_t *orq,
			      sip_t const *sip)
{
	struct sip_leg *leg = magic;
	struct sip_st *st = &leg->st;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
	bool invite = nta_outgoing_method(orq) == sip_method_invite;

	if (status < 200)
		return 0;

	/* the gateway's challenge: this refresh once more, credentials in */
	if ((status == 401 || status == 407) &&
	    leg->role == SIP_LEG_OUTBOUND &&
	    !st->auth_retried && st->orq == orq) {
		nta_outgoing_t *again = sip_auth_resend(leg, orq, sip,
							sip_st_on_response,
							leg);
		if (again) {
			st->auth_retried = true;
			nta_outgoing_destroy(orq);
			st->orq = again;
			return 0;
		}
	}

	if (status < 300 && invite)
		sip_leg_ack(leg, orq, NULL, NULL);
	nta_outgoing_destroy(orq);
	st->orq = NULL;

	if (status < 300) {
		sip_st_uac(leg, sip);
		return 0;
	}
	if (status == 408 || status == 481) {
		sip_st_expired(leg);
		return 0;
	}
	if (status == 422 && sip->sip_min_se) {
		st->min_s = sip_st_clamp(sip->sip_min_se->min_delta);
		if (st->interval_s < st->min_s)
			st->interval_s = st->min_s;
		sip_st_arm_ms(leg, 0);
		return 0;
	}
	if (!invite && (status == 405 || status == 501))
		st->peer_update = false;
	if (status == 491 || !invite)
		sip_st_arm_ms(leg, SIP_ST_RETRY_MS);
	else
		sip_st_arm(leg);
	return 0;
}

/*
 * Our refresh on @leg: an UPDATE without SDP when the party allows
 * UPDATE, else a re-INVITE with the SDP maskd last sent it (the same o=
 * version: nothing changed). EAGAIN when an offer is in flight or the
 * call is not confirmed yet.
 */
static int sip_st_refresh(struct sip_leg *leg)
{
	struct sip_call *c = leg->call;
	struct sip_st *st = &leg->st;
	char hdrs[SIP_ST_HDRS_SIZE];
	bool update = st->peer_update || !st->sdp;

	if (c->state != SIP_CALL_CONFIRMED || sip_call_offering(c))
		return EAGAIN;

	sip_st_hdrs_uac(leg, hdrs, sizeof(hdrs));
	st->orq = sip_leg_request(leg,
				  update ? sip_method_update
					 : sip_method_invite,
				  update ? "UPDATE" : "INVITE",
				  NULL, NULL, update ? NULL : st->sdp,
				  sip_st_on_response, leg, true, hdrs);
	st->auth_retried = false;
	return st->orq ? 0 : ENOMEM;
}

static void sip_st_on_timer(su_root_magic_t *magic, su_timer_t *t,
			    void *arg)
{
	struct sip_leg *leg = arg;

	(void)magic;
	(void)t;
	if (!leg->st.we_refresh) {
		sip_st_expired(leg);
		return;
	}
	if (sip_st_refresh(leg))
		sip_st_arm_ms(leg, SIP_ST_RETRY_MS);
}

void sip_st_free(struct sip_st *st)
{
	if (st->orq)
		nta_outgoing_destroy(st->orq);
	st->orq = NULL;
	if (st->timer)
		su_timer_destroy(st->timer);
	st->timer = NULL;
	free(st->sdp);
	st->sdp = NULL;
	free(st->peer_sdp);
	st->peer_sdp = NULL;
}

/* 422 naming our Min-SE (RFC 4028 section 8.1). */
void sip_st_reply_422(struct sip *s, nta_incoming_t *irq)
{
	char min[16];

	snprintf(min, sizeof(min), "%u", (unsigned)s->cfg->sip.min_se_s);
	nta_incoming_treply(irq, SIP_422_SESSION_TIMER_TOO_SMALL,
			    SIPTAG_MIN_SE_STR(min), TAG_END());
	nta_incoming_destroy(irq);
}

/*
 * A session refresh (RFC 4028) changes nothing the other party needs to
 * know: an UPDATE without a body, or an offer byte for byte the party's
 * last SDP. It is answered here, with the SDP maskd last sent the party
 * (the same o= version), so the other party - which may do no timers at
 * all - never sees it. An INVITE without SDP is relayed as before: its
 * answer would come in an ACK we could not compare in time.
 */
bool sip_st_is_refresh(const struct sip_leg *leg, sip_t const *sip)
{
	const struct sip_st *st = &leg->st;
	sip_payload_t const *pl = sip->sip_payload;

	if (!pl || !pl->pl_len)
		return sip->sip_request->rq_method == sip_method_update;
	return sip_msg_has_sdp(sip) && st->sdp && st->peer_sdp &&
	       strlen(st->peer_sdp) == pl->pl_len &&
	       !memcmp(st->peer_sdp, pl->pl_data, pl->pl_len);
}
