/*
 * sip_hook.c - the SIP side of the call-routing hook ([hooks]): an
 * INVITE the hook must decide is parked, its question goes to the
 * control thread, and the answer routes, refuses or announces it.
 *
 *   sip_route.c       the INVITE passed every check and the lookup; the
 *                     hook is wanted (route = always, or no active
 *                     session): sip_hook_park()
 *   park              100 Trying at once (so the carrier stops
 *                     retransmitting), a call of state SIP_CALL_HOOK
 *                     holds the INVITE's transaction and nothing else (no
 *                     ports, no dialog), the question (a copy) goes to
 *                     the handler, and a guard timer starts
 *   CANCEL            487 to the caller; the call is freed, its CDR (a
 *                     routed call under route = always) or call.unrouted
 *                     goes out; the late answer finds no token: ignored
 *   the answer        SIP_CMD_HOOK_ANSWER (sip_cmd.c) finds the call by
 *                     its token: connect (the same call, routed to the
 *                     hook's number from the VN exactly as a session
 *                     call: sip_call_setup()), allow (the session's
 *                     route; no session: refused as without a hook),
 *                     reject, announce (sip_announce.c), or error
 *                     ([hooks] on_error)
 *   the guard         no answer by timeout_ms + SIP_HOOK_GUARD_MS (a
 *                     lost command): an error
 *
 * SIP thread only; the handler (main.c: ctl_hook_ask()) copies the
 * question and returns at once.
 */
#include "sip_internal.h"
#include "sip_hook.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sip_hook {
	sip_hook_h *h;
	void *arg;
	uint64_t next_token;
	struct sip_call *parked[SIP_HOOK_BUCKETS];
};

/* A parked INVITE's hook state; part of its call. */
struct sip_hook_wait {
	uint64_t token;
	struct sip_call *next;		/* s->hook->parked bucket */
	bool listed;
	char caller[E164_SIZE];
	int lookup_err;			/* 0, ENOENT or ESTALE */
	struct session sess;		/* lookup_err 0 or ESTALE; no
					 * strings (callback_url, metadata
					 * cleared) */
	int64_t asked_ms;
	su_timer_t *guard;
};

/* The CDR's hook field: ERROR also when on_error let the call through. */
static enum cdr_hook sip_hook_cdr(enum sip_hook_action act)
{
	switch (act) {
	case SIP_HOOK_CONNECT:
		return CDR_HOOK_CONNECT;
	case SIP_HOOK_ALLOW:
		return CDR_HOOK_ALLOW;
	case SIP_HOOK_REJECT:
		return CDR_HOOK_REJECT;
	case SIP_HOOK_ANNOUNCE:
		return CDR_HOOK_ANNOUNCE;
	default:
		return CDR_HOOK_ERROR;
	}
}

static struct sip_call **sip_hook_slot(struct sip *s, uint64_t token)
{
	return &s->hook->parked[(token * 0x9e3779b97f4a7c15ull) >>
				(64 - 10) & (SIP_HOOK_BUCKETS - 1)];
}

bool sip_hook_wanted(const struct sip *s, int lookup_err)
{
	const struct config_hooks *h = &s->cfg->hooks;

	if (!h->route_url[0])
		return false;
	if (h->route == CONFIG_HOOK_ALWAYS)
		return lookup_err == 0 || lookup_err == ENOENT ||
		       lookup_err == ESTALE;
	return lookup_err == ENOENT || lookup_err == ESTALE;
}

static void sip_hook_unlist(struct sip_call *c)
{
	struct sip_hook_wait *w = c->hook;
	struct sip_call **pp;

	if (!w)
		return;
	if (w->listed) {
		for (pp = sip_hook_slot(c->s, w->token); *pp;
		     pp = &(*pp)->hook->next) {
			if (*pp == c) {
				*pp = w->next;
				break;
			}
		}
		w->next = NULL;
		w->listed = false;
	}
	if (w->guard)
		su_timer_destroy(w->guard);
	w->guard = NULL;
}

void sip_hook_forget(struct sip_call *c)
{
	if (!c->hook)
		return;
	sip_hook_unlist(c);
	free(c->hook);
	c->hook = NULL;
}

void sip_hook_close(struct sip *s)
{
	free(s->hook);
	s->hook = NULL;
}

void sip_hook_set_run(struct sip *s, const struct sip_cmd_hook_set *m)
{
	if (!s->hook) {
		s->hook = calloc(1, sizeof(*s->hook));
		if (!s->hook) {
			log_error(s->log, "sip: no memory for the routing "
				  "hook: every hook call is an error");
			return;
		}
		/* answers find their worker by the token's top bits */
		s->hook->next_token = sip_worker_base(s);
	}
	s->hook->h = m->h;
	s->hook->arg = m->arg;
}

/* ---- deciding ------------------------------------------------------------ */

/* The parked call's INVITE again (it was parsed once, kept by nta). */
static msg_t *sip_hook_request(struct sip_call *c, sip_t const **sipp)
{
	msg_t *msg = nta_incoming_getrequest(sip_call_inbound(c)->irq_invite);

	*sipp = msg ? sip_object(msg) : NULL;
	if (msg && !*sipp) {
		msg_destroy(msg);
		msg = NULL;
	}
	return msg;
}

/* A final answer to the parked INVITE and the call's end; the CDR (a
 * session's call) or call.unrouted says so. Frees @c. */
static void sip_hook_refuse(struct sip_call *c, int status, const char *why)
{
	struct sip_leg *in = sip_call_inbound(c);
	struct sip_hook_wait *w = c->hook;

	if (in->irq_invite) {
		nta_incoming_treply(in->irq_invite, status,
				    sip_msg_phrase(status), TAG_END());
		nta_incoming_destroy(in->irq_invite);
		in->irq_invite = NULL;
	}
	if (w->lookup_err)
		(void)sip_route_unrouted(c->s, w->caller, c->vn, status, why,
					 NULL);
	sip_call_cdr(c, (uint16_t)status, CDR_HANGUP_MASKD, why);
	sip_call_free(c);
}

/* The INVITE leaves the parked call for another path (announce,
 * refusal): the call is freed, the transaction handed back. */
static nta_incoming_t *sip_hook_unpark(struct sip_call *c)
{
	struct sip_leg *in = sip_call_inbound(c);
	nta_incoming_t *irq = in->irq_invite;

	/* still bound to sip_hook_on_inbound(): the caller of this
	 * answers it or binds it anew before anything else can run */
	in->irq_invite = NULL;
	c->cdr_none = true;
	sip_call_free(c);
	return irq;
}

/* Answer what sip_route_invite() would have: @st 0 = taken care of. */
static void sip_hook_reply(nta_incoming_t *irq, int st)
{
	if (!st)
		return;
	nta_incoming_treply(irq, st, sip_msg_phrase(st), TAG_END());
	nta_incoming_destroy(irq);
}

/* No active session (or the hook let such a call through): what
 * maskd does without a hook - unknown_*, or ended_* for an ended one. */
static void sip_hook_unrouted(struct sip_call *c)
{
	struct sip *s = c->s;
	struct sip_hook_wait *w = c->hook;
	char caller[E164_SIZE], vn[E164_SIZE];
	struct session sess = w->sess;
	bool ended = w->lookup_err == ESTALE;
	nta_incoming_t *irq;
	sip_t const *sip;
	msg_t *msg;
	int st;

	msg = sip_hook_request(c, &sip);
	if (!msg) {
		sip_hook_refuse(c, 500, "failure");
		return;
	}
	snprintf(caller, sizeof(caller), "%s", w->caller);
	snprintf(vn, sizeof(vn), "%s", c->vn);
	irq = sip_hook_unpark(c);
	st = sip_route_refuse(s, irq, sip, ended ? &sess : NULL, caller, vn,
			      ended ? s->cfg->sip.ended_action :
			      s->cfg->sip.unknown_action,
			      ended ? PROMPT_EXPIRED : PROMPT_UNKNOWN,
			      ended ? s->cfg->sip.ended_code :
			      s->cfg->sip.unknown_code);
	sip_hook_reply(irq, st);
	msg_destroy(msg);
}

/* An all-zero session id: a connect without a session. */
static bool sip_hook_id_zero(const uint8_t id[STORE_ID_LEN])
{
	static const uint8_t zero[STORE_ID_LEN];

	return !memcmp(id, zero, STORE_ID_LEN);
}

/* Route the parked call to @sess (the lookup's, or one the hook made). */
static void sip_hook_route(struct sip_call *c, const struct session *sess)
{
	struct sip *s = c->s;
	struct sip_leg *in = sip_call_inbound(c);
	struct sip_hook_wait *w = c->hook;
	char caller[E164_SIZE];
	nta_incoming_t *irq = in->irq_invite;
	sip_t const *sip;
	msg_t *msg;
	int err, st;

	if (!sip_hook_id_zero(sess->id) && !sip_call_claim(c, sess->id)) {
		/* one call per session, as without a hook */
		SIP_COUNT(s, rejected_busy);
		sip_hook_refuse(c, 486, "busy");
		return;
	}
	msg = sip_hook_request(c, &sip);
	if (!msg) {
		sip_hook_refuse(c, 500, "failure");
		return;
	}
	snprintf(caller, sizeof(caller), "%s", w->caller);
	/* sip_call_setup() takes the transaction over on success */
	in->irq_invite = NULL;
	err = sip_call_setup(c, irq, sip, sess, caller);
	if (err) {
		if (err == ENOSPC)
			SIP_COUNT(s, rejected_ports);
		st = err == ENOSPC ? 503 : err == EPROTO ? 488 : 500;
		log_debug(s->log, "sip: hook call not started: %s",
			  strerror(err));
		/* whatever setup made goes with the call; the INVITE is
		 * answered here */
		in->irq_invite = NULL;
		c->cdr_none = true;
		sip_call_free(c);
		sip_hook_reply(irq, st);
	}
	msg_destroy(msg);
}

static void sip_hook_announce(struct sip_call *c, int prompt, int code)
{
	struct sip *s = c->s;
	struct sip_hook_wait *w = c->hook;
	char caller[E164_SIZE], vn[E164_SIZE];
	uint8_t call_id[STORE_ID_LEN];
	struct session sess = w->sess;
	bool has = w->lookup_err != ENOENT;
	bool unrouted = w->lookup_err != 0;
	enum cdr_hook hook;
	uint32_t latency;
	nta_incoming_t *irq;
	sip_t const *sip;
	msg_t *msg;
	int st;

	msg = sip_hook_request(c, &sip);
	if (!msg) {
		sip_hook_refuse(c, 500, "failure");
		return;
	}
	snprintf(caller, sizeof(caller), "%s", w->caller);
	snprintf(vn, sizeof(vn), "%s", c->vn);
	hook = c->cdr.hook;
	latency = c->cdr.hook_latency_ms;
	irq = sip_hook_unpark(c);
	if (prompt < 0 || prompt >= PROMPT_N)
		prompt = PROMPT_UNKNOWN;
	st = sip_announce(s, irq, sip, has ? &sess : NULL, caller, vn,
			  (enum prompt_id)prompt, code, call_id);
	/* the announcing call (listed first) records the decision too */
	if (!st && s->calls && sip_call_inbound(s->calls)->irq_invite == irq) {
		s->calls->cdr.hook = hook;
		s->calls->cdr.hook_latency_ms = latency;
	}
	if (unrouted)
		(void)sip_route_unrouted(s, caller, vn, st ? st : code,
					 st ? "hook_reject" : "announced",
					 st ? NULL : call_id);
	sip_hook_reply(irq, st);
	msg_destroy(msg);
}

/* The decision for parked call @c. */
static void sip_hook_decide(struct sip_call *c, const struct sip_hook_answer *a)
{
	struct sip *s = c->s;
	struct sip_hook_wait *w = c->hook;
	enum sip_hook_action act = a->action;
	struct session sess;

	sip_hook_unlist(c);
	c->cdr.hook = sip_hook_cdr(act);
	c->cdr.hook_latency_ms = (uint32_t)(clock_now_ms() - w->asked_ms);
	if (act == SIP_HOOK_ERROR) {
		if (s->cfg->hooks.on_error == CONFIG_HOOK_ERR_ALLOW) {
			act = SIP_HOOK_ALLOW;
		} else if (w->lookup_err == 0) {
			sip_hook_refuse(c, 503, "hook_error");
			return;
		} else {
			sip_hook_unrouted(c);
			return;
		}
	}
	switch (act) {
	case SIP_HOOK_CONNECT:
		memset(&sess, 0, sizeof(sess));
		if (a->has_session) {
			memcpy(sess.id, a->session.id, STORE_ID_LEN);
			snprintf(sess.party_a, sizeof(sess.party_a), "%s",
				 a->session.party_a);
			snprintf(sess.party_b, sizeof(sess.party_b), "%s",
				 a->session.party_b);
			sess.call_time_limit_s = a->session.call_time_limit_s;
		} else {
			/* no session: the caller is party a, the hook's
			 * number party b, and no CDR is filed */
			snprintf(sess.party_a, sizeof(sess.party_a), "%s",
				 w->caller);
			snprintf(sess.party_b, sizeof(sess.party_b), "%s",
				 a->to);
		}
		snprintf(sess.vn, sizeof(sess.vn), "%s", c->vn);
		sip_hook_route(c, &sess);
		return;
	case SIP_HOOK_ALLOW:
		if (w->lookup_err) {
			sip_hook_unrouted(c);
			return;
		}
		sess = w->sess;
		sip_hook_route(c, &sess);
		return;
	case SIP_HOOK_REJECT:
		sip_hook_refuse(c, a->status, "hook_reject");
		return;
	case SIP_HOOK_ANNOUNCE:
		sip_hook_announce(c, a->prompt, a->status ? a->status :
				  s->cfg->sip.unknown_code);
		return;
	default:
		sip_hook_refuse(c, 500, "failure");
		return;
	}
}

void sip_hook_answer(struct sip *s, const struct sip_hook_answer *a)
{
	struct sip_call *c = NULL;

	if (s->hook)
		for (c = *sip_hook_slot(s, a->token); c; c = c->hook->next)
			if (c->hook->token == a->token)
				break;
	if (!c) {
		/* the caller CANCELled (or the guard decided) first */
		SIP_COUNT(s, hook_answers_ignored);
		return;
	}
	sip_hook_decide(c, a);
}

static void sip_hook_on_guard(su_root_magic_t *magic, su_timer_t *t,
			      void *arg)
{
	struct sip_call *c = arg;
	struct sip_hook_answer a;

	(void)magic;
	(void)t;
	memset(&a, 0, sizeof(a));
	a.action = SIP_HOOK_ERROR;
	SIP_COUNT(c->s, hook_lost);
	log_debug(c->s->log, "sip: the routing hook's answer never came");
	sip_hook_decide(c, &a);
}

/* ---- parking ------------------------------------------------------------- */

/* The parked INVITE's transaction: a CANCEL ends the wait. */
static int sip_hook_on_inbound(void *magic, nta_incoming_t *irq,
			       sip_t const *sip)
{
	struct sip_call *c = magic;

	(void)irq;
	if (c->state != SIP_CALL_HOOK)
		return 0;
	if (sip && sip->sip_request->rq_method != sip_method_cancel)
		return 0;
	/* CANCEL (nta has answered it 200), or the transaction is gone */
	SIP_COUNT(c->s, hook_cancelled);
	sip_hook_unlist(c);
	/* no decision: hook stays CDR_HOOK_NONE; the wait is the latency */
	c->cdr.hook_latency_ms = (uint32_t)(clock_now_ms() -
					    c->hook->asked_ms);
	sip_call_inbound(c)->irq_invite = NULL;
	if (irq && nta_incoming_status(irq) < 200)
		nta_incoming_treply(irq, SIP_487_REQUEST_CANCELLED, TAG_END());
	if (c->hook->lookup_err)
		(void)sip_route_unrouted(c->s, c->hook->caller, c->vn, 487,
					 "cancel", NULL);
	sip_call_cdr(c, 487, CDR_HANGUP_CALLER, "cancel");
	nta_incoming_destroy(irq);
	sip_call_free(c);
	return 0;
}

int sip_hook_park(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		  const struct config_trunk *t, const char *caller,
		  const char *vn, int lookup_err, const struct session *sess)
{
	struct sip_hook_ask q;
	struct sip_hook_wait *w;
	struct sip_call *c, **slot;
	struct sip_leg *in;
	int err;

	(void)sip;
	c = sip_call_new(s);
	if (!c)
		return 500;
	w = calloc(1, sizeof(*w));
	if (!w) {
		sip_call_free(c);
		return 500;
	}
	c->hook = w;
	c->state = SIP_CALL_HOOK;
	c->cdr_none = lookup_err != 0;
	snprintf(c->vn, sizeof(c->vn), "%s", vn);
	snprintf(w->caller, sizeof(w->caller), "%s", caller);
	w->lookup_err = lookup_err;
	if (lookup_err != ENOENT) {
		w->sess = *sess;
		w->sess.callback_url = NULL;	/* not ours to keep */
		w->sess.metadata = NULL;
	}
	if (!lookup_err) {
		memcpy(c->cdr.session_id, sess->id, STORE_ID_LEN);
		c->cdr.a_to_b = !strcmp(caller, sess->party_a);
	}

	memset(&q, 0, sizeof(q));
	q.token = s->hook ? ++s->hook->next_token : 0;
	w->token = q.token;
	memcpy(q.call_id, c->cdr.id, STORE_ID_LEN);
	snprintf(q.from, sizeof(q.from), "%s", caller);
	snprintf(q.to, sizeof(q.to), "%s", vn);
	if (t)
		snprintf(q.trunk, sizeof(q.trunk), "%s", t->name);
	if (!lookup_err) {
		q.has_session = true;
		memcpy(q.session_id, sess->id, STORE_ID_LEN);
		snprintf(q.other_party, sizeof(q.other_party), "%s",
			 c->cdr.a_to_b ? sess->party_b : sess->party_a);
	}

	w->guard = su_timer_create(su_root_task(s->root), 0);
	if (!w->guard ||
	    su_timer_set_interval(w->guard, sip_hook_on_guard, c,
				  (su_duration_t)(s->cfg->hooks.timeout_ms +
						  SIP_HOOK_GUARD_MS)) < 0) {
		sip_call_free(c);
		return 500;
	}

	/* the call holds the INVITE from here */
	in = sip_call_inbound(c);
	in->role = SIP_LEG_INBOUND;
	in->irq_invite = irq;
	nta_incoming_bind(irq, sip_hook_on_inbound, (void *)c);
	nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
	sip_call_link(c);
	w->asked_ms = clock_now_ms();

	err = s->hook && s->hook->h ? s->hook->h(&q, s->hook->arg) : ENOSYS;
	if (err) {
		struct sip_hook_answer a;

		memset(&a, 0, sizeof(a));
		a.action = SIP_HOOK_ERROR;
		SIP_COUNT(s, hook_lost);
		log_debug(s->log, "sip: the routing hook cannot be asked: %s",
			  strerror(err));
		sip_hook_decide(c, &a);
		return 0;
	}
	slot = sip_hook_slot(s, w->token);
	w->next = *slot;
	*slot = c;
	w->listed = true;
	return 0;
}
