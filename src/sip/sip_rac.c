/*
 * sip_rac.c - request-a-call: the API asks, maskd calls the first party
 * of a session from its VN, then the second, and bridges them (RFC 3725
 * third-party call control, maskd anchoring the media); and the control
 * thread's requests about live calls (SIP_CMD_CALL: originate, look at,
 * hang up, participants).
 *
 * Both legs are maskd's own INVITEs towards the gateway, each with an
 * offer of maskd's (rtp.advertise and the relay port facing that
 * party): every party talks to maskd's ports only and answers maskd, so
 * no SDP crosses from one party to the other until they are bridged and
 * one of them re-INVITEs (then sip_forward.c relays it as for any call),
 * and RFC 3725's re-INVITE ping-pong (its flow II) never arises. From and
 * P-Asserted-Identity are the VN (sip_leg_originate_on()).
 *
 *   FIRST    INVITE to the first party (relay side A), ring timeout.
 *            Busy, no answer, rejected, timed out: the call ends (CANCEL
 *            when it still rings), CDR reason why (busy, no_answer, ...).
 *   SECOND   A answered (its answer sets the relay's leg A, the codec it
 *            chose is the only one offered to B): A hears `connecting`,
 *            over and over, while maskd calls B, ring timeout again.
 *   BRIDGED  B answered: the prompt stops, the relay's plain pair A<->B
 *            carries the call (its default sinks), c->state CONFIRMED,
 *            the call time limit runs; from here it is any call.
 *   GOODBYE  B failed: A hears `goodbye`, then BYE; CDR reason
 *            second_<why> (second_busy, second_no_answer, ...).
 *
 * DELETE /v1/calls/{id}, a closed session and shutdown end the call at
 * any stage: CANCEL what rings (the call waits, ZOMBIE, for its final
 * answer, and ACKs and BYEs a late 2xx), BYE what is up.
 *
 * The control thread's requests arrive through the command queue
 * (sip_cmd.c) and every one is answered once through its reply handler,
 * with a copy of the call (struct sip_call_view): the SIP thread never
 * shares a call. SIP thread only.
 */
#include "sip_internal.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sdp.h>

#include "maskd/prompt.h"

#define SIP_RAC_SDP_SIZE 640

/* goodbye: the prompt's length and this much more, if its done report
 * is lost */
#define SIP_RAC_GUARD_MS 5000

/* a play change the worker has not applied yet (EBUSY): again after
 * this long, at most this many times */
#define SIP_RAC_RETRY_MS 20
#define SIP_RAC_RETRY_MAX 50

/* ---- the rac of a call --------------------------------------------- */

struct sip_rac *sip_rac_get(struct sip_call *c)
{
	if (!c->rac)
		c->rac = calloc(1, sizeof(*c->rac));
	return c->rac;
}

static void sip_rac_timer_destroy(su_timer_t **tp)
{
	if (*tp)
		su_timer_destroy(*tp);
	*tp = NULL;
}

void sip_rac_free(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;
	struct sip_part *p;
	size_t i;

	if (!rac)
		return;
	for (i = 0; i < SIP_CALL_LEGS_MAX; i++) {
		p = rac->parts[i];
		if (!p)
			continue;
		sip_leg_free(&p->leg);
		sip_rac_timer_destroy(&p->ring_timer);
		free(p);
	}
	sip_rac_timer_destroy(&rac->guard_timer);
	sip_rac_timer_destroy(&rac->retry_timer);
	free(rac);
	c->rac = NULL;
}

static int sip_rac_timer_set(struct sip_call *c, su_timer_t **tp,
			     su_timer_f cb, void *arg, uint32_t ms)
{
	if (!*tp) {
		*tp = su_timer_create(su_root_task(c->s->root), 0);
		if (!*tp)
			return ENOMEM;
	}
	return su_timer_set_interval(*tp, cb, arg, ms) < 0 ? ENOMEM : 0;
}

/* ---- SDP: maskd's offer, the party's answer ------------------------- */

int sip_rac_offer(struct sip_leg *leg, const struct sip_rac_codec *codec,
		  char **sdpp)
{
	struct sip_call *c = leg->call;
	struct sip *s = c->s;
	const char *adv = s->cfg->rtp.advertise;
	const char *ip = strchr(adv, ':') ? "IP6" : "IP4";
	struct sdp_origin *o = &leg->origin;
	int te = codec ? codec->te_pt : SIP_RAC_PT_TE;
	char buf[SIP_RAC_SDP_SIZE], fmts[32], maps[256];
	size_t m;
	int n;

	if (codec) {
		snprintf(fmts, sizeof(fmts), "%d", codec->pt);
		m = (size_t)snprintf(maps, sizeof(maps),
				     "a=rtpmap:%d %s/8000\r\n", codec->pt,
				     codec->pt == SIP_RAC_PT_PCMU ? "PCMU"
								  : "PCMA");
	} else {
		snprintf(fmts, sizeof(fmts), "%d %d", SIP_RAC_PT_PCMU,
			 SIP_RAC_PT_PCMA);
		m = (size_t)snprintf(maps, sizeof(maps),
				     "a=rtpmap:0 PCMU/8000\r\n"
				     "a=rtpmap:8 PCMA/8000\r\n");
	}
	if (te >= 0) {
		n = (int)strlen(fmts);
		snprintf(fmts + n, sizeof(fmts) - (size_t)n, " %d", te);
		snprintf(maps + m, sizeof(maps) - m,
			 "a=rtpmap:%d telephone-event/8000\r\n"
			 "a=fmtp:%d 0-15\r\n", te, te);
	}

	if (!o->id)
		o->id = (uint64_t)clock_now_ms() * 1000u +
			(c->cookie * 7u + (uint64_t)leg->side) % 1000u;
	o->version++;
	n = snprintf(buf, sizeof(buf),
		     "v=0\r\no=maskd %llu %llu IN %s %s\r\ns=-\r\n"
		     "c=IN %s %s\r\nt=0 0\r\nm=audio %u RTP/AVP %s\r\n"
		     "%sa=ptime:20\r\na=sendrecv\r\n",
		     (unsigned long long)o->id,
		     (unsigned long long)o->version, ip, adv, ip, adv,
		     (unsigned)relay_call_port(c->media, leg->side), fmts,
		     maps);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return ENOSPC;

	/* what a session refresh of the leg resends (sip_timer.c) */
	free(leg->st.sdp);
	leg->st.sdp = strdup(buf);
	*sdpp = strdup(buf);
	if (!leg->st.sdp || !*sdpp) {
		free(*sdpp);
		*sdpp = NULL;
		return ENOMEM;
	}
	return 0;
}

int sip_rac_codec_of(const char *body, size_t len,
			    struct sip_rac_codec *codec)
{
	su_home_t home[SU_HOME_AUTO_SIZE(8192)];
	sdp_parser_t *parser;
	sdp_session_t *sdp;
	sdp_media_t *m;
	sdp_rtpmap_t *rm;
	int err = EPROTO;

	su_home_auto(home, sizeof(home));
	parser = sdp_parse(home, body, (issize_t)len, sdp_f_mode_manual);
	sdp = sdp_session(parser);
	for (m = sdp ? sdp->sdp_media : NULL; m; m = m->m_next) {
		if (m->m_type != sdp_media_audio || !m->m_port ||
		    m->m_rejected)
			continue;
		codec->pt = -1;
		codec->te_pt = -1;
		for (rm = m->m_rtpmaps; rm; rm = rm->rm_next) {
			if (codec->pt < 0 && (rm->rm_pt == SIP_RAC_PT_PCMU ||
					      rm->rm_pt == SIP_RAC_PT_PCMA))
				codec->pt = (int)rm->rm_pt;
			if (codec->te_pt < 0 && rm->rm_encoding &&
			    !strcasecmp(rm->rm_encoding, "telephone-event") &&
			    rm->rm_rate == 8000)
				codec->te_pt = (int)rm->rm_pt;
		}
		if (codec->pt >= 0)
			err = 0;
		break;
	}
	if (parser)
		sdp_parser_free(parser);
	su_home_deinit(home);
	return err;
}

int sip_rac_answer(struct sip_leg *leg, sip_t const *sip,
		   struct sip_rac_codec *codec)
{
	struct sip_call *c = leg->call;
	struct sip *s = c->s;
	struct sdp_origin scratch = { 0 };
	struct sdp_remote rem;
	const char *body;
	char *out = NULL;
	size_t len, outlen;
	int err;

	if (!sip_msg_has_sdp(sip) || !c->media)
		return EPROTO;
	body = sip->sip_payload->pl_data;
	len = sip->sip_payload->pl_len;
	err = sip_rac_codec_of(body, len, codec);
	if (err)
		return err;

	/* sdp_rewrite()'s reading of the answer: where the party wants its
	 * media (the body it makes goes nowhere) */
	err = sdp_rewrite(body, len, s->cfg->rtp.advertise,
			  relay_call_port(c->media, leg->side), &scratch, &out,
			  &outlen, &rem);
	free(out);
	if (err)
		return err == ENOMEM ? ENOMEM : EPROTO;
	if (rem.rtp.ss_family == AF_UNSPEC)
		return EPROTO;
	if (relay_call_set_remote(c->media, leg->side,
				  (const struct sockaddr *)&rem.rtp,
				  rem.rtcp.ss_family != AF_UNSPEC ?
				  (const struct sockaddr *)&rem.rtcp : NULL,
				  rem.hold ? RELAY_REMOTE_HOLD : 0))
		return EPROTO;

	free(leg->st.peer_sdp);
	leg->st.peer_sdp = strndup(body, len);
	return leg->st.peer_sdp ? 0 : ENOMEM;
}

int sip_rac_answer_final(struct sip_leg *leg, sip_t const *sip,
			 struct sip_rac_codec *codec)
{
	const char *peer = leg->st.peer_sdp;

	if (sip_msg_has_sdp(sip) || !peer)
		return sip_rac_answer(leg, sip, codec);
	/* the answer came in a 18x: the relay knows it already */
	return sip_rac_codec_of(peer, strlen(peer), codec);
}

/*
 * A failure answer to our INVITE on @leg that may go again: 422 with a
 * Min-SE (once), a gateway's challenge we have credentials for (once).
 * 0 when the INVITE went again; else *reasonp says why when the gateway's
 * authentication failed (NULL otherwise).
 */
int sip_rac_retry(struct sip_leg *leg, sip_t const *sip, int status,
		  const char **reasonp)
{
	struct sip_st *st = &leg->st;
	int err;

	*reasonp = NULL;
	if (status == 422 && !st->retried && sip->sip_min_se) {
		st->retried = true;
		st->min_s = sip_st_clamp(sip->sip_min_se->min_delta);
		return sip_rac_reinvite(leg);
	}
	if (status != 401 && status != 407)
		return EPROTO;

	*reasonp = leg->auth.invite_retried ? "auth_failed" : "auth_required";
	if (leg->auth.invite_retried)
		err = EACCES;
	else
		err = sip_auth_challenge(leg, sip);
	if (!err) {
		leg->auth.invite_retried = true;
		err = sip_rac_reinvite(leg);
		if (!err) {
			SIP_COUNT(leg->call->s, auth_retries);
			*reasonp = NULL;
			return 0;
		}
	}
	if (err == EACCES)
		sip_auth_failed(leg->call->s, *reasonp);
	else
		*reasonp = "failure";
	return err;
}

int sip_rac_reinvite(struct sip_leg *leg)
{
	if (leg->orq_invite)
		nta_outgoing_destroy(leg->orq_invite);
	leg->orq_invite = NULL;
	return sip_leg_invite(leg, NULL, leg->st.sdp);
}

/* ---- prompts to the first party ---------------------------------------- */

/*
 * What side A should hear: rac->want (a prompt, or -1: nothing). The
 * worker takes one play change per leg at a time; an EBUSY is retried
 * from a timer, so the last wish always lands.
 */
static void sip_rac_play_apply(struct sip_call *c);

static void sip_rac_on_retry(su_root_magic_t *magic, su_timer_t *t,
			     void *arg)
{
	(void)magic;
	(void)t;
	sip_rac_play_apply(arg);
}

static void sip_rac_play_apply(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;
	struct sip *s = c->s;
	const struct prompt *p = NULL;
	int err;

	if (!c->media)
		return;
	if (rac->want >= 0 && s->prompts)
		p = prompt_get(s->prompts, (enum prompt_id)rac->want);
	if (rac->want >= 0 && !p)
		return;		/* none loaded: silence */
	err = relay_call_play(c->media, RELAY_LEG_A, p,
			      (uint8_t)rac->codec.pt,
			      p ? sip_announce_on_done : NULL, s);
	if (err == EBUSY && rac->retries++ < SIP_RAC_RETRY_MAX)
		(void)sip_rac_timer_set(c, &rac->retry_timer,
					sip_rac_on_retry, c,
					SIP_RAC_RETRY_MS);
}

static void sip_rac_play(struct sip_call *c, int want)
{
	c->rac->want = want;
	c->rac->retries = 0;
	sip_rac_play_apply(c);
}

/* ---- ending -------------------------------------------------------------- */

/* true while @leg's INVITE has no final answer */
static bool sip_rac_ringing(const struct sip_leg *leg)
{
	return leg->role == SIP_LEG_OUTBOUND && leg->orq_invite &&
	       !leg->answered && nta_outgoing_status(leg->orq_invite) < 200;
}

static void sip_rac_on_zombie(su_root_magic_t *magic, su_timer_t *t,
			      void *arg)
{
	(void)magic;
	(void)t;
	sip_call_free(arg);
}

/*
 * The request-a-call is over (@code, @who, @reason into its CDR): BYE
 * every leg that is up but @except (the one that said BYE itself),
 * CANCEL every leg that rings. A CANCELled leg's final answer is waited
 * for (ZOMBIE), so a late 2xx is ACKed and BYEd; else @c is freed.
 */
static void sip_rac_close(struct sip_call *c, struct sip_leg *except,
			  uint16_t code, enum cdr_hangup who,
			  const char *reason)
{
	struct sip_rac *rac = c->rac;
	struct sip_leg *leg;
	bool pending = false;
	size_t i;

	sip_rac_timer_destroy(&c->ring_timer);
	sip_rac_timer_destroy(&rac->guard_timer);
	sip_rac_timer_destroy(&rac->retry_timer);
	for (i = 0; i < SIP_CALL_LEGS; i++) {
		leg = &c->legs[i];
		if (leg->role == SIP_LEG_NONE)
			continue;
		if (leg->answered) {
			(void)sip_leg_ack_answer(leg, NULL);
			if (leg != except &&
			    rac->state[i] != SIP_LEG_VIEW_ENDED)
				sip_leg_bye(leg);
		} else if (sip_rac_ringing(leg)) {
			if (rac->state[i] != SIP_LEG_VIEW_ENDED)
				(void)nta_outgoing_tcancel(leg->orq_invite,
							   NULL, NULL,
							   TAG_END());
			pending = true;
		}
		rac->state[i] = SIP_LEG_VIEW_ENDED;
	}
	sip_call_cdr(c, code, who, reason);
	if (!pending) {
		sip_call_free(c);
		return;
	}
	c->state = SIP_CALL_ZOMBIE;
	if (sip_rac_timer_set(c, &c->zombie_timer, sip_rac_on_zombie, c,
			      SIP_ZOMBIE_MS))
		sip_call_free(c);
}

/* goodbye is over (or its report lost): BYE the first party */
static void sip_rac_finish(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;

	sip_rac_close(c, NULL, rac->end_code, CDR_HANGUP_NONE,
		      rac->end_reason);
}

static void sip_rac_on_guard(su_root_magic_t *magic, su_timer_t *t,
			     void *arg)
{
	(void)magic;
	(void)t;
	sip_rac_finish(arg);
}

/*
 * The second party failed (@code as the CDR's, @why its reason): it is
 * CANCELled or BYEd as it stands, and the first hears `goodbye` before
 * its BYE; without prompts the BYE goes at once.
 */
static void sip_rac_goodbye(struct sip_call *c, uint16_t code,
			    const char *why)
{
	struct sip_rac *rac = c->rac;
	struct sip_leg *b = &c->legs[RELAY_LEG_B];
	const struct prompt *p = c->s->prompts ?
				 prompt_get(c->s->prompts, PROMPT_GOODBYE) :
				 NULL;
	uint64_t ms;

	rac->stage = SIP_RAC_GOODBYE;
	rac->end_code = code;
	snprintf(rac->end_reason, sizeof(rac->end_reason), "second_%s", why);
	sip_rac_timer_destroy(&c->ring_timer);

	if (b->answered) {
		(void)sip_leg_ack_answer(b, NULL);
		if (rac->state[RELAY_LEG_B] != SIP_LEG_VIEW_ENDED)
			sip_leg_bye(b);
	} else if (sip_rac_ringing(b)) {
		(void)nta_outgoing_tcancel(b->orq_invite, NULL, NULL,
					   TAG_END());
	}
	rac->state[RELAY_LEG_B] = SIP_LEG_VIEW_ENDED;

	if (!p || !c->media) {
		sip_rac_finish(c);
		return;
	}
	ms = p->n_padded * 1000u / PROMPT_RATE + SIP_RAC_GUARD_MS;
	if (sip_rac_timer_set(c, &rac->guard_timer, sip_rac_on_guard, c,
			      (uint32_t)ms)) {
		sip_rac_finish(c);
		return;
	}
	sip_rac_play(c, PROMPT_GOODBYE);
}

bool sip_rac_hangup(struct sip_call *c, struct sip_leg *except,
		    enum cdr_hangup who, const char *reason)
{
	struct sip_rac *rac = c->rac;
	uint16_t code;

	sip_conf_end(c);
	if (rac->stage == SIP_RAC_NONE || rac->stage == SIP_RAC_BRIDGED)
		return false;
	/* the CDR's code: what the call came to before it was ended */
	code = rac->stage == SIP_RAC_GOODBYE ? rac->end_code :
	       rac->stage == SIP_RAC_SECOND ? 200 : 487;
	sip_rac_close(c, except, code, who,
		      rac->stage == SIP_RAC_GOODBYE && who == CDR_HANGUP_CALLER
		      ? rac->end_reason : reason);
	return true;
}

static void sip_rac_on_ring_timer(su_root_magic_t *magic, su_timer_t *t,
				  void *arg)
{
	struct sip_call *c = arg;
	struct sip_rac *rac = c->rac;

	(void)magic;
	(void)t;
	if (rac->stage == SIP_RAC_FIRST) {
		rac->code[RELAY_LEG_A] = 408;
		sip_rac_close(c, NULL, 480, CDR_HANGUP_MASKD, "ring_timeout");
	} else if (rac->stage == SIP_RAC_SECOND) {
		rac->code[RELAY_LEG_B] = 408;
		sip_rac_goodbye(c, 480, "ring_timeout");
	}
}

/* ---- the answers to our INVITEs ------------------------------------------ */

/* The first party answered: `connecting`, and the second is called. */
static void sip_rac_first_up(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;
	struct sip_leg *b = &c->legs[RELAY_LEG_B];
	char *sdp = NULL;
	int err;

	rac->stage = SIP_RAC_SECOND;
	sip_rac_play(c, PROMPT_CONNECTING);

	err = sip_rac_offer(b, &rac->codec, &sdp);
	if (!err)
		err = sip_rac_timer_set(c, &c->ring_timer,
					sip_rac_on_ring_timer, c,
					rac->o.ring_timeout_s * 1000u);
	if (!err)
		err = sip_leg_originate_on(b, rac->o.second, NULL, sdp);
	free(sdp);
	if (err) {
		rac->code[RELAY_LEG_B] = 500;
		sip_rac_goodbye(c, 500, "failure");
		return;
	}
	rac->state[RELAY_LEG_B] = SIP_LEG_VIEW_CALLING;
}

/* The second party answered: the plain pair carries the call. */
static void sip_rac_bridge(struct sip_call *c)
{
	struct sip_rac *rac = c->rac;

	sip_rac_timer_destroy(&c->ring_timer);
	sip_rac_play(c, -1);
	rac->stage = SIP_RAC_BRIDGED;
	c->state = SIP_CALL_CONFIRMED;
	c->cdr.answer_ms = clock_now_ms();
	SIP_COUNT(c->s, calls_answered);
	SIP_COUNT(c->s, api_calls_bridged);
	sip_call_limit_arm(c);
	/* recorded from the bridge, as an inbound call from its answer */
	sip_rec_answered(c);
}

static void sip_rac_up(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_call *c = leg->call;
	struct sip_rac *rac = c->rac;
	struct sip_rac_codec codec = { -1, -1 };
	unsigned i = leg->side;
	int err;

	sip_leg_answered(leg, sip);
	err = sip_rac_answer_final(leg, sip, &codec);
	/* ACKed whatever the answer: a 2xx unACKed is retransmitted for
	 * 32 s, and a leg must be ACKed before it can be BYEd */
	(void)sip_leg_ack_answer(leg, NULL);
	sip_st_uac(leg, sip);
	rac->state[i] = SIP_LEG_VIEW_ANSWERED;
	rac->code[i] = 200;

	if (err) {
		SIP_COUNT(c->s, bad_sdp);
		if (i == RELAY_LEG_A) {
			sip_rac_close(c, NULL, 488, CDR_HANGUP_MASKD,
				      "bad_sdp");
			return;
		}
		sip_rac_goodbye(c, 488, "bad_sdp");
		return;
	}
	sip_call_progress(c, CDR_KIND_ANSWERED);
	if (i == RELAY_LEG_A) {
		rac->codec = codec;
		sip_rac_first_up(c);
	} else {
		sip_rac_bridge(c);
	}
}

int sip_rac_on_response(struct sip_leg *leg, nta_outgoing_t *orq,
			sip_t const *sip)
{
	struct sip_call *c = leg->call;
	struct sip_rac *rac = c->rac;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
	unsigned i = leg->side;
	const char *reason;
	char why[CDR_REASON_SIZE];
	int mapped;

	if (status > 100 && status < 200)
		sip_prack_uac_recv(leg, orq, sip);

	/* a leg already given up (CANCELled, or the call is over): a late
	 * 2xx is ACKed and BYEd; once nothing rings, a zombie goes */
	if (c->state == SIP_CALL_ZOMBIE ||
	    rac->state[i] == SIP_LEG_VIEW_ENDED) {
		if (status < 200)
			return 0;
		if (status < 300 && !leg->answered) {
			sip_leg_answered(leg, sip);
			(void)sip_leg_ack_answer(leg, NULL);
			sip_leg_bye(leg);
		}
		if (c->state == SIP_CALL_ZOMBIE &&
		    !sip_rac_ringing(&c->legs[RELAY_LEG_A]) &&
		    !sip_rac_ringing(&c->legs[RELAY_LEG_B]))
			sip_call_free(c);
		return 0;
	}

	if (status < 200) {
		/* an answer in a 18x (RFC 3264 early media, RFC 3262):
		 * the 2xx may then carry none */
		if (status > 100 && sip_msg_has_sdp(sip))
			(void)sip_rac_answer(leg, sip, &rac->early);
		if (status > 100 && rac->state[i] == SIP_LEG_VIEW_CALLING)
			rac->state[i] = SIP_LEG_VIEW_RINGING;
		if (status > 100 && !rac->rang[i]) {
			rac->rang[i] = true;
			sip_call_progress(c, CDR_KIND_RINGING);
		}
		return 0;
	}
	if (status < 300) {
		if (!leg->answered)
			sip_rac_up(leg, sip);
		return 0;
	}
	if (leg->answered)
		return 0;

	if (!sip_rac_retry(leg, sip, status, &reason))
		return 0;
	mapped = reason && strcmp(reason, "failure") ? SIP_AUTH_FAIL_STATUS
						    : sip_cdr_failure_status(status);
	if (!reason)
		reason = sip_cdr_failure_reason(status);
	rac->code[i] = (uint16_t)status;
	rac->state[i] = SIP_LEG_VIEW_ENDED;
	if (i == RELAY_LEG_A) {
		sip_rac_close(c, NULL, (uint16_t)mapped, CDR_HANGUP_NONE,
			      reason);
		return 0;
	}
	snprintf(why, sizeof(why), "%s", reason);
	sip_rac_goodbye(c, (uint16_t)mapped, why);
	return 0;
}

/* ---- in-dialog requests ------------------------------------------------ */

bool sip_rac_on_request(struct sip_leg *from, nta_incoming_t *irq,
			sip_t const *sip, int *status)
{
	struct sip_call *c = from->call;
	struct sip_rac *rac = c->rac;
	enum cdr_hangup who = from->side == RELAY_LEG_A ? CDR_HANGUP_CALLER
							: CDR_HANGUP_CALLEE;

	/* an inbound call's parties: as any call's */
	if (rac->stage == SIP_RAC_NONE ||
	    sip->sip_request->rq_method != sip_method_bye)
		return false;
	*status = 0;
	if (c->state == SIP_CALL_ZOMBIE) {
		*status = 481;
		return true;
	}
	if (rac->state[from->side] == SIP_LEG_VIEW_ENDED) {
		/* it crossed our own BYE (the second party, at goodbye) */
		sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
		nta_incoming_destroy(irq);
		return true;
	}
	sip_msg_reply(c->s, irq, 200, NULL, NULL, NULL, 0);
	nta_incoming_destroy(irq);
	/* the first party hanging up is the "caller" of the record */
	sip_call_hangup(c, from, who, rac->stage == SIP_RAC_SECOND ? "cancel"
								   : "normal");
	return true;
}

void sip_rac_play_done(struct sip_call *c, int leg, int err)
{
	struct sip_rac *rac = c->rac;

	if (leg != RELAY_LEG_A)
		return;
	if (rac->stage == SIP_RAC_SECOND && !err && rac->want >= 0)
		sip_rac_play_apply(c);		/* `connecting` again */
	else if (rac->stage == SIP_RAC_GOODBYE)
		sip_rac_finish(c);
}

/* ---- request-a-call: the first INVITE ---------------------------- */

int sip_rac_originate(struct sip *s, const struct sip_originate *o,
			     struct sip_call **cp)
{
	struct sip_call *c;
	struct sip_leg *a;
	struct sip_rac *rac;
	int64_t now = clock_now_ms();
	char *sdp = NULL;
	int err;

	if (s->stopping)
		return ECANCELED;
	if (sip_call_busy(s, o->session_id))
		return EBUSY;
	if (!o->ring_timeout_s)
		return EINVAL;

	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->s = s;
	SIP_COUNT(s, calls_live);
	sip_leg_init(c);
	rac = sip_rac_get(c);
	if (!rac) {
		err = ENOMEM;
		goto out;
	}
	rac->stage = SIP_RAC_FIRST;
	rac->o = *o;
	rac->want = -1;

	memcpy(c->cdr.session_id, o->session_id, STORE_ID_LEN);
	c->cdr.a_to_b = o->a_first;
	c->cdr.direction = CDR_DIR_API;
	c->record = o->record;
	c->cdr.start_ms = now;
	err = store_cdr_id_new(now, c->cdr.id);
	if (err)
		goto out;
	/* another worker may have a call of the session by now */
	if (!sip_call_claim(c, o->session_id)) {
		err = EBUSY;
		goto out;
	}
	snprintf(c->vn, sizeof(c->vn), "%s", o->vn);
	c->limit_s = o->time_limit_s;

	err = sip_media_open(c);
	if (err)
		goto out;
	a = &c->legs[RELAY_LEG_A];
	err = sip_rac_offer(a, NULL, &sdp);
	if (err)
		goto out;
	/* armed before the INVITE leaves, as for any call */
	err = sip_rac_timer_set(c, &c->ring_timer, sip_rac_on_ring_timer, c,
				o->ring_timeout_s * 1000u);
	if (err)
		goto out;
	err = sip_leg_originate_on(a, o->first, NULL, sdp);
	if (err)
		goto out;
	rac->state[RELAY_LEG_A] = SIP_LEG_VIEW_CALLING;

	sip_call_link(c);
	sip_call_busy_add(c);
	sip_call_progress(c, CDR_KIND_INITIATED);
	SIP_COUNT(s, api_calls);
	*cp = c;
	c = NULL;
 out:
	free(sdp);
	if (c)
		sip_call_free(c);
	return err;
}
