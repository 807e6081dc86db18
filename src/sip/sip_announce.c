/*
 * sip_announce.c - maskd answers a caller it cannot route and tells it
 * why: [sip] unknown_action / ended_action = announce.
 *
 * The call has one leg, the caller's (side A); maskd is its media
 * endpoint, so no SDP of anybody else's is rewritten for it: maskd makes
 * its own answer to the caller's offer, naming only rtp.advertise and
 * the relay port of side A, in PCMU or PCMA (whichever the offer lists
 * first) plus telephone-event/8000 when offered. An offer with neither
 * G.711 codec gets 488; an INVITE without an offer gets the final code
 * at once (maskd never makes offers to callers it does not know).
 *
 *   early media (default)  183 with the answer, the prompt, then the
 *                          final response (unknown_code / ended_code):
 *                          the call is never answered, nobody is billed
 *   announce_answer = yes  200 with the answer, the prompt, then BYE
 *
 * The prompt is played by side A's relay worker (relay_call_play()); its
 * done handler runs on that worker and only pushes SIP_CMD_PLAY_DONE with
 * the call's cookie into the command queue; sip_announce_done() then
 * ends the call here. CANCEL or BYE from the caller meanwhile ends the
 * call the ordinary way (sip_call.c, sip_forward.c): freeing the relay
 * call stops its player. A guard timer ends the call if the done report
 * is lost (a full command queue).
 *
 * CDR reason "announced": an ended session's announcement is filed
 * under that session, an unknown pair's as a session-less record (no
 * session id; the VN and the caller, as call.unrouted tells them, with
 * the record's call id: store_cdr.c). call.unrouted goes out for both
 * (sip_route.c: its action says "announced"). An INVITE refused before
 * the prompt starts (no offer, no G.711, no ports) files no record: it
 * cost its sender one request, and the store must not grow by that.
 *
 * SIP thread only.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sdp.h>

#include "maskd/player.h"
#include "maskd/prompt.h"

/* The guard timer: the prompt's length and this much more. */
#define SIP_ANNOUNCE_GUARD_MS 5000

#define SIP_ANNOUNCE_SDP_SIZE 1024

/*
 * sip_announce_answer_sdp() - choose the codec from the first audio
 * stream of @body and write maskd's answer into @out: the same m= lines,
 * every one but that stream rejected (port 0, RFC 3264 section 6).
 * EPROTO: no usable audio stream or no G.711 in it (488); EINVAL: not
 * SDP.
 */
int sip_announce_answer_sdp(struct sip_call *c, const char *body,
			    size_t len, struct sip_announce_codec *cc,
			    char *out, size_t size)
{
	struct sip *s = c->s;
	su_home_t home[SU_HOME_AUTO_SIZE(8192)];
	sdp_parser_t *parser;
	sdp_session_t *sdp;
	sdp_media_t *m;
	sdp_rtpmap_t *rm;
	const char *ip = strchr(s->cfg->rtp.advertise, ':') ? "IP6" : "IP4";
	struct sdp_origin *o = &sip_call_inbound(c)->origin;
	bool chosen = false;
	size_t n;
	int err = 0;

	su_home_auto(home, sizeof(home));
	parser = sdp_parse(home, body, (issize_t)len, sdp_f_mode_manual);
	sdp = sdp_session(parser);
	if (!sdp) {
		err = EINVAL;
		goto out;
	}

	if (!o->id)
		o->id = (uint64_t)clock_now_ms() * 1000u + c->cookie % 1000u;
	o->version++;
	n = (size_t)snprintf(out, size,
			     "v=0\r\no=maskd %llu %llu IN %s %s\r\ns=-\r\n"
			     "c=IN %s %s\r\nt=0 0\r\n",
			     (unsigned long long)o->id,
			     (unsigned long long)o->version, ip,
			     s->cfg->rtp.advertise, ip, s->cfg->rtp.advertise);

	for (m = sdp->sdp_media; m && n < size; m = m->m_next) {
		if (!chosen && m->m_type == sdp_media_audio && m->m_port &&
		    !m->m_rejected) {
			cc->pt = -1;
			cc->te_pt = -1;
			for (rm = m->m_rtpmaps; rm; rm = rm->rm_next) {
				if (cc->pt < 0 && (rm->rm_pt == PLAYER_PT_PCMU ||
						   rm->rm_pt == PLAYER_PT_PCMA))
					cc->pt = rm->rm_pt;
				if (cc->te_pt < 0 && rm->rm_encoding &&
				    !strcasecmp(rm->rm_encoding,
						"telephone-event") &&
				    rm->rm_rate == 8000)
					cc->te_pt = rm->rm_pt;
			}
			if (cc->pt < 0) {
				err = EPROTO;
				goto out;
			}
			chosen = true;
			n += (size_t)snprintf(out + n, size - n,
				"m=audio %u RTP/AVP %d",
				(unsigned)relay_call_port(c->media,
							  RELAY_LEG_A),
				cc->pt);
			if (cc->te_pt >= 0 && n < size)
				n += (size_t)snprintf(out + n, size - n, " %d",
						      cc->te_pt);
			if (n < size)
				n += (size_t)snprintf(out + n, size - n,
					"\r\na=rtpmap:%d %s/8000\r\n",
					cc->pt, cc->pt == PLAYER_PT_PCMU ?
					"PCMU" : "PCMA");
			if (cc->te_pt >= 0 && n < size)
				n += (size_t)snprintf(out + n, size - n,
					"a=rtpmap:%d telephone-event/8000\r\n"
					"a=fmtp:%d 0-15\r\n", cc->te_pt,
					cc->te_pt);
			if (n < size)
				n += (size_t)snprintf(out + n, size - n,
						      "a=ptime:20\r\n"
						      "a=sendrecv\r\n");
			continue;
		}
		/* any other stream: rejected, its first format kept */
		n += (size_t)snprintf(out + n, size - n, "m=%s 0 %s %s\r\n",
			m->m_type_name ? m->m_type_name : "audio",
			m->m_proto_name ? m->m_proto_name : "RTP/AVP",
			m->m_rtpmaps ? "0" :
			m->m_format && m->m_format->l_text ?
			m->m_format->l_text : "0");
	}
	if (!chosen) {
		err = EPROTO;
		goto out;
	}
	if (n >= size)
		err = EMSGSIZE;
 out:
	if (parser)
		sdp_parser_free(parser);
	su_home_deinit(home);
	return err;
}

/*
 * sip_announce_remote() - where the caller wants its media, for side A:
 * sdp_rewrite()'s reading of the offer (the body it makes is dropped,
 * nothing of it is sent).
 */
int sip_announce_remote(struct sip_call *c, sip_t const *sip)
{
	struct sip *s = c->s;
	struct sdp_origin scratch = { 0 };
	struct sdp_remote rem;
	char *body = NULL;
	size_t len;
	int err;

	err = sdp_rewrite(sip->sip_payload->pl_data, sip->sip_payload->pl_len,
			  s->cfg->rtp.advertise,
			  relay_call_port(c->media, RELAY_LEG_A), &scratch,
			  &body, &len, &rem);
	free(body);
	if (err)
		return err == ENOMEM ? ENOMEM : EPROTO;
	if (rem.rtp.ss_family == AF_UNSPEC)
		return EPROTO;
	return relay_call_set_remote(c->media, RELAY_LEG_A,
				     (const struct sockaddr *)&rem.rtp,
				     rem.rtcp.ss_family != AF_UNSPEC ?
				     (const struct sockaddr *)&rem.rtcp : NULL,
				     rem.hold ? RELAY_REMOTE_HOLD : 0) ?
	       EPROTO : 0;
}

/* relay_play_done_h: on the relay worker; hand the cookie over (for
 * every prompt a call plays: announcements, PIN, request-a-call, the
 * recording notice) */
void sip_announce_on_done(uint64_t cookie, enum relay_leg leg, int err,
			  void *arg)
{
	struct sip *s = arg;
	struct sip_cmd_play_done m = {
		.cookie = cookie,
		.leg = (int)leg,
		.err = err,
	};

	if (mqueue_push(s->cmdq, SIP_CMD_PLAY_DONE, &m, sizeof(m)))
		SIP_COUNT(s, play_done_lost);
}

/* The prompt is over (or its report lost): the final response or BYE. */
static void sip_announce_end(struct sip_call *c)
{
	switch (c->state) {
	case SIP_CALL_EARLY:
		sip_call_cancel(c, c->announce_code, CDR_HANGUP_MASKD,
				"announced");
		break;
	case SIP_CALL_ANSWERED:
	case SIP_CALL_CONFIRMED:
		sip_call_hangup(c, NULL, CDR_HANGUP_MASKD, "announced");
		break;
	default:
		break;
	}
}

static void sip_announce_on_guard(su_root_magic_t *magic, su_timer_t *t,
				  void *arg)
{
	(void)magic;
	(void)t;
	sip_announce_end(arg);
}

void sip_announce_done(struct sip_call *c, int err)
{
	if (!c->announce)
		return;
	if (err)
		log_debug(c->s->log, "sip: announcement not played: %s",
			  strerror(err));
	sip_announce_end(c);
}

int sip_announce(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		 const struct session *sess, const char *caller,
		 const char *vn, enum prompt_id id, int code,
		 uint8_t *call_id)
{
	const struct prompt *prompt = s->prompts ?
				      prompt_get(s->prompts, id) : NULL;
	struct sip_announce_codec cc = { -1, -1 };
	struct sip_call *c;
	struct sip_leg *in;
	char sdp[SIP_ANNOUNCE_SDP_SIZE];
	char hdrs[SIP_ST_HDRS_SIZE];
	int64_t now = clock_now_ms();
	uint64_t guard_ms;
	int err;

	/* no offer: nothing to play into, the plain refusal */
	if (!prompt || !sip_msg_has_sdp(sip))
		return code;

	c = calloc(1, sizeof(*c));
	if (!c)
		return 500;
	c->s = s;
	SIP_COUNT(s, calls_live);
	sip_leg_init(c);
	c->announce = prompt;
	c->announce_code = (uint16_t)code;
	/* no record unless the prompt starts (a refusal files none) */
	c->cdr_none = true;
	if (sess) {
		memcpy(c->cdr.session_id, sess->id, STORE_ID_LEN);
		c->cdr.a_to_b = !strcmp(caller, sess->party_a);
		snprintf(c->vn, sizeof(c->vn), "%s", sess->vn);
	} else {
		/* a session-less record: what call.unrouted says too */
		snprintf(c->vn, sizeof(c->vn), "%s", vn);
		snprintf(c->cdr.caller, sizeof(c->cdr.caller), "%s", caller);
	}
	snprintf(c->cdr.vn, sizeof(c->cdr.vn), "%s", c->vn);
	c->cdr.start_ms = now;
	err = store_cdr_id_new(now, c->cdr.id);
	if (err)
		goto fail;

	in = sip_call_inbound(c);
	sip_leg_inbound(c, irq, sip);

	err = sip_media_open(c);
	if (err)
		goto fail;
	err = sip_announce_answer_sdp(c, sip->sip_payload->pl_data,
				      sip->sip_payload->pl_len, &cc, sdp,
				      sizeof(sdp));
	if (!err)
		err = sip_announce_remote(c, sip);
	if (err == EINVAL)
		err = EPROTO;
	if (err)
		goto fail;

	guard_ms = prompt->n_padded * 1000u / PROMPT_RATE +
		   SIP_ANNOUNCE_GUARD_MS;
	c->ring_timer = su_timer_create(su_root_task(s->root), 0);
	if (!c->ring_timer ||
	    su_timer_set_interval(c->ring_timer, sip_announce_on_guard, c,
				  (su_duration_t)guard_ms) < 0) {
		err = ENOMEM;
		goto fail;
	}

	err = sip_leg_accept(in, irq, sip);
	if (err)
		goto fail;
	err = relay_call_play(c->media, RELAY_LEG_A, prompt, (uint8_t)cc.pt,
			      sip_announce_on_done, s);
	if (err)
		goto fail;

	/* from here the call answers the caller's INVITE, and has a
	 * record */
	in->irq_invite = irq;
	sip_call_bind_inbound(c);
	c->cdr_none = false;
	if (call_id)
		memcpy(call_id, c->cdr.id, STORE_ID_LEN);
	if (s->cfg->sip.announce_answer) {
		sip_st_hdrs_uas(&in->st, hdrs, sizeof(hdrs));
		err = sip_prack_uas_answer(in, NULL, sdp, hdrs);
		c->state = SIP_CALL_ANSWERED;
		c->cdr.answer_ms = now;
		SIP_COUNT(s, calls_answered);
	} else {
		err = sip_prack_uas_progress(in, 183, NULL, sdp);
		c->state = SIP_CALL_EARLY;
	}

	sip_call_link(c);
	SIP_COUNT(s, announcements);
	if (err)
		sip_announce_end(c);	/* the caller gets what can go */
	return 0;

 fail:
	return sip_announce_abandon(c, err);
}

int sip_announce_abandon(struct sip_call *c, int err)
{
	struct sip *s = c->s;

	sip_call_inbound(c)->irq_invite = NULL;	/* still the caller's */
	sip_call_free(c);
	if (err == EPROTO) {
		SIP_COUNT(s, bad_sdp);
		return 488;
	}
	if (err == ENOSPC) {
		SIP_COUNT(s, rejected_ports);
		return 503;
	}
	return 500;
}
