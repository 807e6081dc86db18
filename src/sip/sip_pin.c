/*
 * sip_pin.c - PIN authentication (Plivo's model): a caller who is no
 * party of an active session on the virtual number, on a number that has
 * PIN sessions, types a party's PIN and is connected to the other party.
 *
 * A party of an active session on the VN never comes here: it is routed
 * as always (sip_route.c; its CDR says pin_status authorized_caller when
 * the session has pin_required). Anybody else on a VN with PIN sessions
 * (store_pin_vn_active()):
 *
 *   PROMPT   maskd answers (200 with its own SDP: PCMU or PCMA, the
 *            offer's first, plus telephone-event/8000 when offered; an
 *            offer with neither codec, or none, gets 488), plays
 *            'enter_pin' and collects digits: RFC 4733 events when
 *            telephone-event was negotiated, else in-band G.711 tones
 *            (spandsp), through a tap on side A (relay.h, Sinks) whose
 *            handler, on the relay worker, only pushes SIP_CMD_DIGIT
 *            into the command queue. A digit stops the prompt that
 *            plays (barge-in).
 *   DIALING  a party's PIN: a new leg (sip_leg_originate()) to the
 *            other party, From/P-Asserted-Identity the VN, offering
 *            maskd's own SDP on side B in the caller's codec; the caller
 *            hears 'connecting', then silence while it rings (the
 *            party's early media is dropped: side B's sink is NULL).
 *   BRIDGED  the party answered: side B sends to its SDP, side B's media
 *            goes to the caller again (relay_call_connect()), the
 *            prompt stops. Both parties already talk to maskd's ports,
 *            so the caller's dialog needs no re-INVITE; from here the
 *            call is an ordinary bridged call (sip_call.c,
 *            sip_forward.c).
 *   BYE      'goodbye', then BYE: out of retries, pin_timeout of
 *            silence, the session already in a call, or the second leg
 *            failed.
 *
 * When an entry is complete. PINs of different lengths may share a VN
 * (4 to 15 digits). An entry ends
 *   - on '#': what was typed is looked up (nothing, or fewer than
 *     STORE_PIN_MIN digits, is a wrong PIN);
 *   - on a digit that makes the entry a PIN of the VN (store_pin_lookup())
 *     that no longer PIN of the VN starts with (store_pin_extends()): a
 *     caller whose PIN another one extends ends it with '#';
 *   - on a digit that brings the entry to the longest PIN length of the
 *     VN (store_pin_vn_info(), read when the prompt starts), matched or
 *     not.
 * Nothing tells a caller more than right or wrong: the store is only
 * asked whether a longer PIN exists after an exact match, so a wrong
 * entry never learns whether its digits begin some PIN. '*' and A-D are
 * ignored. The caller gets pin_retries further entries after a wrong one
 * (the largest pin_retries of the VN's PIN sessions: which session the
 * caller wants is not known until the PIN is right), each after
 * 'wrong_pin'.
 *
 * Records. A PIN that names a session makes the call that session's: the
 * one-call-per-session rule applies from then on (a session already in
 * a call: 'goodbye'), and its CDR says pin_status success and the
 * attempts. A caller who never typed a right PIN named no session: its
 * record is a session-less one (store_cdr.c: no session id, the VN,
 * pin_status failed and the attempts; never the caller's number nor a
 * digit), found by its call id, which the pin.result event (result
 * failed, no session) names. The PIN itself is in no log line above
 * debug, no event and no record.
 *
 * SIP thread only, but sip_pin_tap_digit() (relay worker).
 */
#include "sip_pin.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/dtmf_inband.h"
#include "maskd/player.h"
#include "maskd/telev.h"

#define SIP_PIN_SDP_SIZE 1024

/* How long 'goodbye' may take before the BYE goes anyway (its done
 * report lost): its length and this much more. */
#define SIP_PIN_GUARD_MS 5000

/* A play the relay refused as busy (the last one not yet taken by the
 * worker) is tried again this much later. */
#define SIP_PIN_RETRY_MS 20

enum sip_pin_phase {
	SIP_PIN_PROMPT = 0,	/* enter_pin / wrong_pin; digits taken */
	SIP_PIN_DIALING,	/* the party's leg rings */
	SIP_PIN_BRIDGED,	/* answered: an ordinary call */
	SIP_PIN_BYE,		/* goodbye playing; BYE when it ends */
};

/* A PIN prompt; c->pin, freed with its call. SIP thread. */
struct sip_pin {
	enum sip_pin_phase phase;
	struct sip_announce_codec cc;
	struct pin_vn_info info;
	char digits[STORE_PIN_SIZE];
	size_t n;
	unsigned attempts;		/* entries decided */
	bool right;			/* a PIN named a session */
	bool decided;			/* pin.result went out */
	enum pin_party party;		/* whose PIN it was */
	const char *end_reason;		/* the CDR reason after goodbye */

	su_timer_t *timer;		/* silence, ring timeout, goodbye */
	su_timer_t *limit_timer;	/* the call time limit, bridged */
	su_timer_t *retry_timer;	/* a play refused as busy */
	const struct prompt *retry_prompt;	/* what it plays; NULL stop */
	bool retry_pending;
	int64_t bye_after_ms;		/* goodbye's end, roughly */
	char *sdp_a;			/* malloc'd: our answer to the caller */
};

/* The tap on side A: owned by the relay once attached; its detach frees
 * it on the worker. */
struct sip_pin_tap {
	struct sip *s;
	uint64_t cookie;
	struct telev *telev;		/* one of the two */
	struct dtmf_inband *inband;
};

/* ---- the tap (relay worker) ------------------------------------------ */

/* telev_digit_h / dtmf_inband_digit_h: on the worker; hand it over */
static void sip_pin_tap_digit(char digit, uint32_t ssrc, uint32_t ts,
			      void *arg)
{
	struct sip_pin_tap *tap = arg;
	struct sip_cmd_digit m = { .cookie = tap->cookie, .digit = digit };

	(void)ssrc;
	(void)ts;
	if (mqueue_push(tap->s->cmdq, SIP_CMD_DIGIT, &m, sizeof(m)))
		SIP_COUNT(tap->s, pin_digits_lost);
}

static void sip_pin_tap_free(struct sip_pin_tap *tap)
{
	if (!tap)
		return;
	telev_free(tap->telev);
	dtmf_inband_free(tap->inband);
	free(tap);
}

static void sip_pin_telev_detach(struct telev *t, void *arg)
{
	(void)t;
	sip_pin_tap_free(arg);
}

static void sip_pin_inband_detach(struct dtmf_inband *d, void *arg)
{
	(void)d;
	sip_pin_tap_free(arg);
}

/* Side A's packets go to the digit collector too; the relay owns it. */
static int sip_pin_tap_attach(struct sip_call *c)
{
	struct sip_pin *p = c->pin;
	struct sip_pin_tap *tap;
	struct relay_sink *sink;
	int err;

	tap = calloc(1, sizeof(*tap));
	if (!tap)
		return ENOMEM;
	tap->s = c->s;
	tap->cookie = c->cookie;
	if (p->cc.te_pt >= 0) {
		err = telev_alloc(&tap->telev, (uint8_t)p->cc.te_pt,
				  sip_pin_tap_digit, tap);
		sink = err ? NULL : telev_sink(tap->telev,
					       sip_pin_telev_detach, tap);
	} else {
		err = dtmf_inband_alloc(&tap->inband, (uint8_t)p->cc.pt,
					sip_pin_tap_digit, tap);
		sink = err ? NULL : dtmf_inband_sink(tap->inband,
						     sip_pin_inband_detach,
						     tap);
	}
	if (!err)
		err = relay_call_tap(c->media, RELAY_LEG_A, sink);
	if (err)
		sip_pin_tap_free(tap);
	return err;
}

/* ---- timers and prompts ----------------------------------------------- */

static int sip_pin_timer_set(struct sip_call *c, su_timer_t **tp,
			     su_timer_f cb, uint64_t ms)
{
	if (!*tp) {
		*tp = su_timer_create(su_root_task(c->s->root), 0);
		if (!*tp)
			return ENOMEM;
	}
	if (su_timer_set_interval(*tp, cb, c, (su_duration_t)ms) < 0)
		return ENOMEM;
	return 0;
}

static void sip_pin_timer_destroy(su_timer_t **tp)
{
	if (*tp)
		su_timer_destroy(*tp);
	*tp = NULL;
}

static uint64_t sip_pin_prompt_ms(const struct prompt *pr)
{
	return pr ? pr->n_padded * 1000u / PROMPT_RATE : 0;
}

static void sip_pin_play(struct sip_call *c, const struct prompt *pr);

static void sip_pin_on_retry(su_root_magic_t *magic, su_timer_t *t,
			     void *arg)
{
	struct sip_call *c = arg;
	struct sip_pin *p = c->pin;

	(void)magic;
	(void)t;
	if (p->retry_pending) {
		p->retry_pending = false;
		sip_pin_play(c, p->retry_prompt);
	}
}

/*
 * Play @pr to the caller (NULL: stop). The relay takes one play change
 * per leg at a time; one it refuses as busy goes again a little later
 * (the last one wins).
 */
static void sip_pin_play(struct sip_call *c, const struct prompt *pr)
{
	struct sip_pin *p = c->pin;
	int err;

	if (!c->media)
		return;
	err = relay_call_play(c->media, RELAY_LEG_A, pr, (uint8_t)p->cc.pt,
			      pr ? sip_announce_on_done : NULL, c->s);
	if (err != EBUSY) {
		p->retry_pending = false;
		return;
	}
	p->retry_prompt = pr;
	p->retry_pending = true;
	if (sip_pin_timer_set(c, &p->retry_timer, sip_pin_on_retry,
			      SIP_PIN_RETRY_MS))
		p->retry_pending = false;
}

static const struct prompt *sip_pin_prompt(struct sip_call *c,
					   enum prompt_id id)
{
	return prompt_get(c->s->prompts, id);
}

/* ---- the end ------------------------------------------------------------ */

static void sip_pin_on_timer(su_root_magic_t *magic, su_timer_t *t,
			     void *arg);

/* The call is over for the caller: BYE now (the second leg's CANCEL or
 * BYE with it). May free @c. */
static void sip_pin_hangup(struct sip_call *c, const char *reason)
{
	sip_call_hangup(c, NULL, CDR_HANGUP_MASKD, reason);
}

/* 'goodbye', then BYE with CDR reason @reason. */
static void sip_pin_goodbye(struct sip_call *c, const char *reason)
{
	struct sip_pin *p = c->pin;
	const struct prompt *bye = sip_pin_prompt(c, PROMPT_GOODBYE);
	uint64_t ms = sip_pin_prompt_ms(bye);

	p->phase = SIP_PIN_BYE;
	p->end_reason = reason;
	(void)relay_call_tap(c->media, RELAY_LEG_A, NULL);
	p->bye_after_ms = clock_now_ms() + (int64_t)ms - 200;
	sip_pin_play(c, bye);
	if (sip_pin_timer_set(c, &p->timer, sip_pin_on_timer,
			      ms + SIP_PIN_GUARD_MS))
		sip_pin_hangup(c, reason);
}

/* ---- the result --------------------------------------------------------- */

static void sip_pin_progress(struct sip_call *c, enum cdr_kind kind)
{
	struct cdr r = c->cdr;

	r.kind = kind;
	r.at_ms = clock_now_ms();
	if (kind == CDR_KIND_PIN)
		snprintf(r.vn, sizeof(r.vn), "%s", c->vn);
	if (c->s->cdrh)
		c->s->cdrh(&r, c->s->cdr_arg);
}

/* The prompt decided: the record says so, and pin.result goes out. */
static void sip_pin_result(struct sip_call *c, enum cdr_pin status)
{
	struct sip_pin *p = c->pin;

	p->decided = true;
	c->cdr.pin_status = status;
	c->cdr.pin_attempts = (uint8_t)(p->attempts > 255 ? 255 : p->attempts);
	sip_pin_progress(c, CDR_KIND_PIN);
}

/* Our offer to the party on side B: maskd only, the caller's codec. */
static int sip_pin_offer(struct sip_call *c, char *out, size_t size)
{
	struct sip *s = c->s;
	struct sip_pin *p = c->pin;
	struct sdp_origin *o = &c->legs[RELAY_LEG_B].origin;
	const char *ip = strchr(s->cfg->rtp.advertise, ':') ? "IP6" : "IP4";
	const char *name = p->cc.pt == PLAYER_PT_PCMU ? "PCMU" : "PCMA";
	unsigned port = relay_call_port(c->media, RELAY_LEG_B);
	int n;

	if (!o->id)
		o->id = (uint64_t)clock_now_ms() * 1000u + c->cookie % 1000u + 1;
	o->version++;
	if (p->cc.te_pt >= 0)
		n = snprintf(out, size,
			     "v=0\r\no=maskd %llu %llu IN %s %s\r\ns=-\r\n"
			     "c=IN %s %s\r\nt=0 0\r\n"
			     "m=audio %u RTP/AVP %d %d\r\n"
			     "a=rtpmap:%d %s/8000\r\n"
			     "a=rtpmap:%d telephone-event/8000\r\n"
			     "a=fmtp:%d 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
			     (unsigned long long)o->id,
			     (unsigned long long)o->version, ip,
			     s->cfg->rtp.advertise, ip, s->cfg->rtp.advertise,
			     port, p->cc.pt, p->cc.te_pt, p->cc.pt, name,
			     p->cc.te_pt, p->cc.te_pt);
	else
		n = snprintf(out, size,
			     "v=0\r\no=maskd %llu %llu IN %s %s\r\ns=-\r\n"
			     "c=IN %s %s\r\nt=0 0\r\n"
			     "m=audio %u RTP/AVP %d\r\n"
			     "a=rtpmap:%d %s/8000\r\n"
			     "a=ptime:20\r\na=sendrecv\r\n",
			     (unsigned long long)o->id,
			     (unsigned long long)o->version, ip,
			     s->cfg->rtp.advertise, ip, s->cfg->rtp.advertise,
			     port, p->cc.pt, p->cc.pt, name);
	return n < 0 || (size_t)n >= size ? EMSGSIZE : 0;
}

/*
 * The PIN named @sess (@party's): the call is that session's from now
 * on, and maskd calls the other party from the VN.
 */
static void sip_pin_right(struct sip_call *c, const struct session *sess,
			  enum pin_party party)
{
	struct sip *s = c->s;
	struct sip_pin *p = c->pin;
	char sdp[SIP_PIN_SDP_SIZE];
	struct sip_leg *leg = NULL;
	char *copy;
	int err;

	p->right = true;
	p->party = party;
	SIP_COUNT(s, pin_success);

	/* typing A's PIN says "I am A": the call goes to B, and back */
	memcpy(c->cdr.session_id, sess->id, STORE_ID_LEN);
	c->cdr.a_to_b = party == PIN_PARTY_A;
	sip_pin_result(c, CDR_PIN_SUCCESS);
	c->limit_s = sess->call_time_limit_s ? sess->call_time_limit_s
					     : s->cfg->session.call_time_limit_s;
	(void)relay_call_tap(c->media, RELAY_LEG_A, NULL);

	if (!sip_call_claim(c, sess->id)) {
		/* one call per session: it is that session's call now */
		SIP_COUNT(s, rejected_busy);
		sip_pin_goodbye(c, "busy");
		return;
	}
	c->cdr_none = false;
	sip_call_busy_add(c);
	SIP_COUNT(s, calls_total);

	p->phase = SIP_PIN_DIALING;
	sip_pin_play(c, sip_pin_prompt(c, PROMPT_CONNECTING));
	err = sip_pin_offer(c, sdp, sizeof(sdp));
	if (!err)
		err = sip_leg_originate(c, party == PIN_PARTY_A ?
					sess->party_b : sess->party_a,
					NULL, sdp, &leg);
	if (!err) {
		/* what a 422 retry and our refreshes send the party */
		copy = strdup(sdp);
		if (copy) {
			free(leg->st.sdp);
			leg->st.sdp = copy;
		}
		err = sip_pin_timer_set(c, &p->timer, sip_pin_on_timer,
					s->cfg->session.ring_timeout_s * 1000u);
	}
	if (!err) {
		sip_pin_progress(c, CDR_KIND_INITIATED);
		return;
	}
	log_debug(s->log, "sip: PIN call not placed: %s", strerror(err));
	if (leg && leg->orq_invite) {
		sip_pin_hangup(c, "failure");	/* CANCELs it */
		return;
	}
	if (leg) {
		/* no INVITE left: nothing on the leg to end */
		sip_leg_free(leg);
		leg->role = SIP_LEG_NONE;
	}
	sip_pin_goodbye(c, "failure");
}

/* A wrong entry: 'wrong_pin' and another, or 'goodbye'. */
static void sip_pin_wrong(struct sip_call *c)
{
	struct sip_pin *p = c->pin;
	const struct prompt *pr;

	SIP_COUNT(c->s, pin_wrong);
	if (p->attempts > p->info.retries) {
		SIP_COUNT(c->s, pin_failed);
		sip_pin_result(c, CDR_PIN_FAILED);
		sip_pin_goodbye(c, "pin_failed");
		return;
	}
	pr = sip_pin_prompt(c, PROMPT_WRONG_PIN);
	sip_pin_play(c, pr);
	if (sip_pin_timer_set(c, &p->timer, sip_pin_on_timer,
			      sip_pin_prompt_ms(pr) +
			      c->s->cfg->sip.pin_timeout_ms))
		sip_pin_hangup(c, "failure");
}

/*
 * The entry is complete: right or wrong. @sess is its session when the
 * caller (sip_pin_digit()) already looked it up.
 */
static void sip_pin_decide(struct sip_call *c, const struct session *sess,
			   enum pin_party party)
{
	struct sip_pin *p = c->pin;

	p->attempts++;
	/* the record says so whenever it goes out, a hang-up included */
	c->cdr.pin_attempts = (uint8_t)(p->attempts > 255 ? 255 : p->attempts);
	memset(p->digits, 0, sizeof(p->digits));
	p->n = 0;
	if (sess)
		sip_pin_right(c, sess, party);
	else
		sip_pin_wrong(c);
}

void sip_pin_digit(struct sip_call *c, char digit)
{
	struct sip *s = c->s;
	struct sip_pin *p = c->pin;
	struct session sess;
	enum pin_party party = PIN_PARTY_A;
	bool found = false, longer = false, done;
	int err;

	if (!p || p->phase != SIP_PIN_PROMPT)
		return;		/* late digits: the entry is over */
	if (s->log && s->log->level >= LOG_LVL_DEBUG)
		log_debug(s->log, "sip: PIN digit '%c'", digit);

	if (digit == '#') {
		done = true;
	} else if (digit >= '0' && digit <= '9') {
		p->digits[p->n++] = digit;
		p->digits[p->n] = '\0';
		done = p->n >= STORE_PIN_MAX || p->n >= p->info.longest;
	} else {
		return;		/* '*', A-D: not part of a PIN */
	}

	memset(&sess, 0, sizeof(sess));
	if (p->n >= STORE_PIN_MIN && (done || (p->info.lengths >> p->n) & 1)) {
		err = store_pin_lookup(s->reader, c->vn, p->digits,
				       clock_now_ms(), &sess, &party);
		found = !err;
		if (err && err != ENOENT)
			log_debug(s->log, "sip: PIN lookup failed: %s",
				  strerror(err));
		/* only after a match: a wrong entry learns nothing */
		if (found && !done &&
		    store_pin_extends(s->reader, c->vn, p->digits, &longer))
			longer = true;	/* unsure: wait for '#' or more */
		if (found && !longer)
			done = true;
	}

	if (!done) {
		/* barge-in: the first digit stops the prompt */
		if (p->n == 1)
			sip_pin_play(c, NULL);
		if (sip_pin_timer_set(c, &p->timer, sip_pin_on_timer,
				      s->cfg->sip.pin_timeout_ms))
			sip_pin_hangup(c, "failure");
		return;
	}
	sip_pin_decide(c, found ? &sess : NULL, party);
}

/* ---- timers ------------------------------------------------------------- */

static void sip_pin_on_timer(su_root_magic_t *magic, su_timer_t *t,
			     void *arg)
{
	struct sip_call *c = arg;
	struct sip_pin *p = c->pin;
	size_t i;

	(void)magic;
	(void)t;
	switch (p->phase) {
	case SIP_PIN_PROMPT:
		/* silence: as good as out of retries */
		SIP_COUNT(c->s, pin_failed);
		sip_pin_result(c, CDR_PIN_FAILED);
		sip_pin_goodbye(c, "pin_timeout");
		break;
	case SIP_PIN_DIALING:
		/* the ring timeout: CANCEL; its 487 says goodbye */
		for (i = 0; i < SIP_CALL_LEGS; i++) {
			if (c->legs[i].role == SIP_LEG_OUTBOUND &&
			    c->legs[i].orq_invite)
				(void)nta_outgoing_tcancel(
					c->legs[i].orq_invite, NULL, NULL,
					TAG_END());
		}
		p->end_reason = "ring_timeout";
		break;
	case SIP_PIN_BYE:
		sip_pin_hangup(c, p->end_reason);
		break;
	default:
		break;
	}
}

static void sip_pin_on_limit(su_root_magic_t *magic, su_timer_t *t,
			     void *arg)
{
	(void)magic;
	(void)t;
	sip_call_hangup(arg, NULL, CDR_HANGUP_MASKD, "call_time_limit");
}

void sip_pin_play_done(struct sip_call *c, int err)
{
	struct sip_pin *p = c->pin;

	if (err)
		log_debug(c->s->log, "sip: PIN prompt not played: %s",
			  strerror(err));
	/* only goodbye's end matters; an earlier prompt's report that
	 * crossed it in the queue is not goodbye's */
	if (p->phase == SIP_PIN_BYE &&
	    (err || clock_now_ms() >= p->bye_after_ms))
		sip_pin_hangup(c, p->end_reason);
}

/* ---- the second leg ----------------------------------------------------- */

/* The party answered on @leg: bridge. */
static void sip_pin_answered(struct sip_leg *leg, sip_t const *sip)
{
	struct sip_call *c = leg->call;
	struct sip *s = c->s;
	struct sip_pin *p = c->pin;
	struct sip_leg *in = sip_call_inbound(c);
	char *body = NULL;
	int err;

	sip_leg_answered(leg, sip);
	sip_pin_timer_destroy(&p->timer);

	/* the party's answer tells side B where to send; what
	 * sip_media_sdp() makes of it for the caller is not sent (the
	 * caller keeps our first answer, which a refresh repeats) */
	err = sip_msg_has_sdp(sip) ? sip_media_sdp(leg, sip, &body) : EPROTO;
	free(body);
	if (p->sdp_a) {
		free(in->st.sdp);
		in->st.sdp = strdup(p->sdp_a);
	}
	if (!err)
		err = sip_leg_ack_answer(leg, NULL);
	else
		(void)sip_leg_ack_answer(leg, NULL);
	if (!err)
		err = relay_call_connect(c->media, RELAY_LEG_B,
					 relay_call_sink(c->media,
							 RELAY_LEG_A));
	if (err) {
		log_debug(s->log, "sip: PIN call not bridged: %s",
			  strerror(err));
		sip_pin_hangup(c, err == EPROTO ? "bad_sdp" : "failure");
		return;
	}
	sip_pin_play(c, NULL);
	sip_st_uac(leg, sip);

	p->phase = SIP_PIN_BRIDGED;
	c->cdr.answer_ms = clock_now_ms();
	SIP_COUNT(s, calls_answered);
	sip_pin_progress(c, CDR_KIND_ANSWERED);
	if (c->limit_s &&
	    sip_pin_timer_set(c, &p->limit_timer, sip_pin_on_limit,
			      c->limit_s * 1000u))
		log_debug(s->log, "sip: no timer for the call time limit");
}

int sip_pin_on_outbound(struct sip_leg *leg, sip_t const *sip, int status)
{
	struct sip_call *c = leg->call;
	struct sip_pin *p = c->pin;
	const char *reason;
	int err;

	if (status < 200) {
		if (status > 100 && !c->ringing_told) {
			c->ringing_told = true;
			sip_pin_progress(c, CDR_KIND_RINGING);
		}
		return 0;	/* early media is not heard: connecting */
	}
	if (p->phase != SIP_PIN_DIALING)
		return 0;	/* a retransmission, a second fork */
	if (status < 300) {
		sip_pin_answered(leg, sip);
		return 0;
	}

	/* the leg's own negotiation, as on any leg maskd originates: a
	 * session interval too short, the gateway's challenge */
	if (status == 422 && !sip_leg_retry_422(leg, sip))
		return 0;
	reason = NULL;
	if (status == 401 || status == 407) {
		err = sip_leg_retry_auth(leg, sip, &reason);
		if (!err)
			return 0;
		if (err == EACCES)
			sip_auth_failed(c->s, reason);
		else
			reason = "failure";
	}

	/* the party cannot be reached: the leg is done, goodbye */
	if (p->end_reason)
		reason = p->end_reason;
	else if (!reason)
		reason = sip_cdr_failure_reason(status);
	sip_leg_free(leg);
	leg->role = SIP_LEG_NONE;
	sip_pin_goodbye(c, reason);
	return 0;
}

/* ---- the start ---------------------------------------------------------- */

bool sip_pin_wanted(struct sip *s, const char *vn)
{
	bool yes = false;

	if (!s->prompts)
		return false;
	if (store_pin_vn_active(s->reader, vn, &yes))
		return false;
	return yes;
}

void sip_pin_authorized(struct sip_call *c)
{
	bool yes = false;

	if (c && !store_pin_vn_active(c->s->reader, c->vn, &yes) && yes)
		c->cdr.pin_status = CDR_PIN_AUTHORIZED_CALLER;
}

void sip_pin_free(struct sip_call *c)
{
	struct sip_pin *p = c->pin;

	if (!p)
		return;
	/* the caller hung up (or maskd stopped) before any decision */
	if (!p->decided)
		sip_pin_result(c, CDR_PIN_FAILED);
	sip_pin_timer_destroy(&p->timer);
	sip_pin_timer_destroy(&p->limit_timer);
	sip_pin_timer_destroy(&p->retry_timer);
	free(p->sdp_a);
	free(p);
	c->pin = NULL;
}

/* The caller's offer as its leg's peer SDP (what a refresh compares). */
static int sip_pin_remember_offer(struct sip_leg *in, sip_t const *sip)
{
	char *copy = malloc(sip->sip_payload->pl_len + 1);

	if (!copy)
		return ENOMEM;
	memcpy(copy, sip->sip_payload->pl_data, sip->sip_payload->pl_len);
	copy[sip->sip_payload->pl_len] = '\0';
	free(in->st.peer_sdp);
	in->st.peer_sdp = copy;
	return 0;
}

int sip_pin_start(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		  const char *caller, const char *vn)
{
	const struct prompt *enter = prompt_get(s->prompts, PROMPT_ENTER_PIN);
	struct sip_call *c;
	struct sip_pin *p;
	struct sip_leg *in;
	char sdp[SIP_PIN_SDP_SIZE];
	char hdrs[SIP_ST_HDRS_SIZE];
	int64_t now = clock_now_ms();
	int err, status;

	(void)caller;	/* never copied anywhere: it named no session */
	if (!sip_msg_has_sdp(sip)) {
		SIP_COUNT(s, bad_sdp);
		return 488;	/* maskd makes no offers to strangers */
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return 500;
	c->s = s;
	SIP_COUNT(s, calls_live);
	sip_leg_init(c);
	c->cdr_none = true;		/* until the prompt starts */
	snprintf(c->vn, sizeof(c->vn), "%s", vn);
	snprintf(c->cdr.vn, sizeof(c->cdr.vn), "%s", vn);
	/* until a PIN is right: a hang-up, silence, out of retries */
	c->cdr.pin_status = CDR_PIN_FAILED;
	c->cdr.start_ms = now;
	err = store_cdr_id_new(now, c->cdr.id);
	if (err)
		goto fail;
	p = c->pin = calloc(1, sizeof(*c->pin));
	if (!p) {
		err = ENOMEM;
		goto fail;
	}
	p->cc.pt = p->cc.te_pt = -1;
	p->decided = true;	/* nothing to report until prompted */
	err = store_pin_vn_info(s->reader, vn, &p->info);
	if (!err && !p->info.longest)
		err = ENOENT;	/* the last PIN session ended meanwhile */
	if (err)
		goto fail;

	in = sip_call_inbound(c);
	sip_leg_inbound(c, irq, sip);

	err = sip_media_open(c);
	if (err)
		goto fail;
	err = sip_announce_answer_sdp(c, sip->sip_payload->pl_data,
				      sip->sip_payload->pl_len, &p->cc, sdp,
				      sizeof(sdp));
	if (!err)
		err = sip_announce_remote(c, sip);
	if (err == EINVAL)
		err = EPROTO;
	if (err)
		goto fail;
	p->sdp_a = strdup(sdp);
	if (!p->sdp_a || sip_pin_remember_offer(in, sip)) {
		err = ENOMEM;
		goto fail;
	}
	in->st.sdp = strdup(sdp);
	if (!in->st.sdp) {
		err = ENOMEM;
		goto fail;
	}

	/* the party's media waits for the bridge; the caller's digits
	 * go to the collector */
	err = relay_call_connect(c->media, RELAY_LEG_B, NULL);
	if (!err)
		err = sip_pin_tap_attach(c);
	if (!err)
		err = sip_pin_timer_set(c, &p->timer, sip_pin_on_timer,
					sip_pin_prompt_ms(enter) +
					s->cfg->sip.pin_timeout_ms);
	if (!err)
		err = sip_leg_accept(in, irq, sip);
	if (!err)
		err = relay_call_play(c->media, RELAY_LEG_A, enter,
				      (uint8_t)p->cc.pt, sip_announce_on_done,
				      s);
	if (err)
		goto fail;

	/* from here the call answers the caller's INVITE, and has a
	 * record: session-less until a PIN names a session */
	in->irq_invite = irq;
	p->decided = false;
	c->cdr_none = false;
	sip_call_bind_inbound(c);
	sip_st_hdrs_uas(&in->st, hdrs, sizeof(hdrs));
	err = sip_prack_uas_answer(in, NULL, sdp, hdrs);
	c->state = SIP_CALL_ANSWERED;
	c->cdr.answer_ms = 0;	/* answered by maskd: billed from the bridge */
	sip_st_arm(in);

	sip_call_link(c);
	SIP_COUNT(s, pin_prompts);
	if (err)
		sip_pin_hangup(c, "failure");
	return 0;

 fail:
	status = sip_announce_abandon(c, err);
	return err == ENOENT ? s->cfg->sip.unknown_code : status;
}
