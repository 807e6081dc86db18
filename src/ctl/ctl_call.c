/*
 * ctl_call.c - calls the API drives: request-a-call, a live call's view
 * and hang-up, participants; and a SIP worker's drain or resume, which
 * travels the same way.
 *
 * ctl never touches a call. It checks what is its own to check (the
 * session exists and is active), pushes a copy of the request into the
 * SIP thread's command queue (sip_cmd_call()) with a token, and keeps a
 * struct ctl_call_wait for it. The SIP thread answers every request
 * once, from its own thread, through ctl_call_on_sip(), which only posts
 * the answer into ctl's mailbox; ctl_call_on_reply() then runs on the
 * control thread, finds the wait by its token and calls the caller's
 * handler. So the API says 201 only once the SIP thread has claimed the
 * session and sent the first INVITE.
 *
 * A wait not answered within CTL_CALL_WAIT_MS (an answer lost to memory,
 * a stalled SIP thread) gets ETIMEDOUT; the SIP side going away
 * (ctl_set_sip(NULL), shutdown) fails every wait with ECANCELED. An
 * answer that comes after either is dropped.
 *
 * Control thread only, but for ctl_call_on_sip() (the SIP thread), which
 * reads nothing of ctl but its mailbox (made before the SIP side is set,
 * freed after it is gone).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/mailbox.h"

#include "ctl_internal.h"

struct ctl_call_wait {
	struct ctl_call_wait *next;
	struct ctl *ctl;
	uint64_t token;
	struct event *timer;
	ctl_call_h *h;
	ctl_worker_h *wh;		/* a worker's drain or resume */
	void *arg;
};

static void ctl_call_wait_free(struct ctl_call_wait *w)
{
	struct ctl_call_wait **pp;

	for (pp = &w->ctl->waits; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	if (w->timer)
		event_free(w->timer);
	free(w);
}

/* @w is answered: unlisted first, so that @h may send a new request */
static void ctl_call_wait_done(struct ctl_call_wait *w, int err,
			       const struct sip_reply *r)
{
	ctl_call_h *h = w->h;
	ctl_worker_h *wh = w->wh;
	void *arg = w->arg;

	ctl_call_wait_free(w);
	if (wh)
		wh(err, r && !err ? &r->worker : NULL, arg);
	else
		h(err, r && !err ? &r->view : NULL, r ? r->leg : 0, arg);
}

/* The SIP thread's answer: a copy into ctl's mailbox, nothing else. */
static void ctl_call_on_sip(const struct sip_reply *r, void *arg)
{
	struct ctl *ctl = arg;

	/* lost: the wait times out (ETIMEDOUT) */
	(void)mailbox_post(ctl->sip_mb, r);
}

static void ctl_call_on_reply(void *msg, void *arg)
{
	const struct sip_reply *r = msg;
	struct ctl *ctl = arg;
	struct ctl_call_wait *w;

	for (w = ctl->waits; w; w = w->next) {
		if (w->token == r->token)
			break;
	}
	if (!w)
		return;		/* it timed out, or was cancelled */
	ctl_call_wait_done(w, r->err, r);
}

static void ctl_call_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_call_wait *w = arg;

	(void)fd;
	(void)what;
	log_warn(w->ctl->log, "ctl: the SIP side did not answer a call "
		 "request within %d ms", CTL_CALL_WAIT_MS);
	ctl_call_wait_done(w, ETIMEDOUT, NULL);
}

/* @req (filled but for token and reply) to the SIP thread; @h or @wh
 * answers. */
static int ctl_call_push_any(struct ctl *ctl, struct sip_call_req *req,
			     ctl_call_h *h, ctl_worker_h *wh, void *arg)
{
	struct timeval tv = {
		CTL_CALL_WAIT_MS / 1000, (CTL_CALL_WAIT_MS % 1000) * 1000
	};
	struct ctl_call_wait *w;
	int err;

	if (!ctl->sip)
		return ENOTCONN;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->ctl = ctl;
	w->token = ++ctl->call_token;
	w->h = h;
	w->wh = wh;
	w->arg = arg;
	w->timer = evtimer_new(ctl->base, ctl_call_on_timeout, w);
	if (!w->timer || evtimer_add(w->timer, &tv)) {
		if (w->timer)
			event_free(w->timer);
		free(w);
		return ENOMEM;
	}

	req->token = w->token;
	req->h = ctl_call_on_sip;
	req->arg = ctl;
	err = sip_cmd_call(ctl->sip, req);
	if (err) {
		event_free(w->timer);
		free(w);
		ctl->ctr.sip_cmds_lost++;
		log_warn(ctl->log, "ctl: the SIP command queue refused a call "
			 "request: %s", strerror(err));
		return err;
	}
	w->next = ctl->waits;
	ctl->waits = w;
	return 0;
}

static int ctl_call_push(struct ctl *ctl, struct sip_call_req *req,
			 ctl_call_h *h, void *arg)
{
	return ctl_call_push_any(ctl, req, h, NULL, arg);
}

int ctl_call_originate(struct ctl *ctl, const uint8_t sid[STORE_ID_LEN],
		       const struct ctl_call_params *p, ctl_call_h *h,
		       void *arg)
{
	const struct config_session *cs = &ctl->cfg->session;
	struct sip_call_req req;
	struct sip_originate *o = &req.o;
	struct session s;
	int err;

	if (!ctl->sip)
		return ENOTCONN;
	memset(&s, 0, sizeof(s));
	err = ctl_session_get(ctl, sid, &s);
	if (err)
		goto out;
	if (s.status != SESSION_ACTIVE) {
		err = EALREADY;
		goto out;
	}

	memset(&req, 0, sizeof(req));
	req.op = SIP_CALL_OP_ORIGINATE;
	memcpy(o->session_id, s.id, STORE_ID_LEN);
	o->a_first = p->a_first;
	o->record = s.record;
	memcpy(o->first, p->a_first ? s.party_a : s.party_b, E164_SIZE);
	memcpy(o->second, p->a_first ? s.party_b : s.party_a, E164_SIZE);
	memcpy(o->vn, s.vn, E164_SIZE);
	o->ring_timeout_s = p->ring_timeout_s ? p->ring_timeout_s
					      : cs->ring_timeout_s;
	o->time_limit_s = p->time_limit_set ? p->time_limit_s :
			  s.call_time_limit_s ? s.call_time_limit_s :
			  cs->call_time_limit_s;
	err = ctl_call_push(ctl, &req, h, arg);
 out:
	session_clear(&s);
	return err;
}

static int ctl_call_op(struct ctl *ctl, enum sip_call_op op,
		       const uint8_t call_id[STORE_ID_LEN], const char *number,
		       unsigned leg, ctl_call_h *h, void *arg)
{
	struct sip_call_req req;

	memset(&req, 0, sizeof(req));
	req.op = op;
	memcpy(req.call_id, call_id, STORE_ID_LEN);
	if (number)
		snprintf(req.number, sizeof(req.number), "%s", number);
	req.max_participants = ctl->cfg->conference.max_participants;
	req.leg = leg;
	return ctl_call_push(ctl, &req, h, arg);
}

int ctl_call_get(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		 ctl_call_h *h, void *arg)
{
	return ctl_call_op(ctl, SIP_CALL_OP_GET, call_id, NULL, 0, h, arg);
}

int ctl_call_hangup(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		    ctl_call_h *h, void *arg)
{
	return ctl_call_op(ctl, SIP_CALL_OP_HANGUP, call_id, NULL, 0, h, arg);
}

int ctl_call_participant_add(struct ctl *ctl,
			     const uint8_t call_id[STORE_ID_LEN],
			     const char *number, ctl_call_h *h, void *arg)
{
	return ctl_call_op(ctl, SIP_CALL_OP_PARTICIPANT_ADD, call_id, number,
			   0, h, arg);
}

int ctl_call_participant_remove(struct ctl *ctl,
				const uint8_t call_id[STORE_ID_LEN],
				unsigned leg, ctl_call_h *h, void *arg)
{
	return ctl_call_op(ctl, SIP_CALL_OP_PARTICIPANT_REMOVE, call_id, NULL,
			   leg, h, arg);
}

int ctl_call_record(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		    struct cdr *c, struct session *s)
{
	int err;

	err = store_cdr_get(ctl->rd, call_id, c);
	if (err || cdr_sessionless(c))
		return err;	/* no session: *s stays as it was */
	return ctl_session_get(ctl, c->session_id, s);
}

/* ---- SIP workers ---- */

int ctl_sip_worker_set(struct ctl *ctl, unsigned worker, bool drain,
		       ctl_worker_h *h, void *arg)
{
	struct sip_call_req req;

	if (!ctl->sip)
		return ENOTCONN;
	if (worker >= sip_workers(ctl->sip))
		return ENOENT;
	memset(&req, 0, sizeof(req));
	req.op = SIP_CALL_OP_WORKER_STATE;
	req.worker = worker;
	req.drain = drain;
	return ctl_call_push_any(ctl, &req, NULL, h, arg);
}

int ctl_sip_worker_view(struct ctl *ctl, unsigned worker,
			struct sip_worker_view *v)
{
	if (!ctl->sip)
		return ENOTCONN;
	return sip_worker_view(ctl->sip, worker, v);
}

unsigned ctl_sip_workers(struct ctl *ctl)
{
	return ctl->sip ? sip_workers(ctl->sip) : 0;
}

int ctl_call_start(struct ctl *ctl)
{
	return mailbox_alloc(&ctl->sip_mb, ctl->base, sizeof(struct sip_reply),
			     ctl_call_on_reply, ctl);
}

void ctl_call_cancel_all(struct ctl *ctl)
{
	while (ctl->waits)
		ctl_call_wait_done(ctl->waits, ECANCELED, NULL);
}

void ctl_call_stop(struct ctl *ctl)
{
	/* answers already posted are delivered first */
	mailbox_free(ctl->sip_mb);
	ctl->sip_mb = NULL;
	ctl_call_cancel_all(ctl);
}
