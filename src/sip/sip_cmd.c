/*
 * sip_cmd.c - the typed command queue into the SIP thread.
 *
 * Other threads never touch a call: they push a message (an id and a copy
 * of its data, mqueue.h) and the SIP thread acts on it here, between two
 * SIP messages. Who pushes what:
 *
 *   relay workers    SIP_CMD_RTP_TIMEOUT   no media on a call for too long
 *   relay workers    SIP_CMD_PLAY_DONE     a prompt played to its end
 *                                          (sip_announce.c, sip_pin.c;
 *                                          the `recorded` prompt:
 *                                          sip_rec.c)
 *   relay workers    SIP_CMD_DIGIT         a DTMF digit on a PIN prompt
 *                                          (sip_pin.c): one message per
 *                                          digit, no lock per packet
 *   control thread   SIP_CMD_SESSION_END   the session ended (DELETE):
 *                                          its call, if any, ends now
 *   control thread   SIP_CMD_CALL          the API's calls: originate,
 *                                          look at, hang up, add or
 *                                          remove a participant
 *                                          (sip_rac.c answers each one
 *                                          through its reply handler);
 *                                          and a worker's drain or
 *                                          resume (sip_worker.c)
 *   control thread   SIP_CMD_HOOK_ANSWER   the routing hook decided a
 *                                          parked INVITE (sip_hook.c)
 *   main thread      SIP_CMD_HOOK_SET      who asks the routing hook
 *   control thread   SIP_CMD_READY         whether OPTIONS say 200 or
 *                                          503 (cluster mode: is the
 *                                          session cache fresh?)
 *   control thread   SIP_CMD_MISS_ANSWER   PostgreSQL answered a cache
 *                                          miss (sip_miss.c)
 *   main thread      SIP_CMD_MISS_SET      who asks about cache misses
 *
 * and sip_stop() sets s->stop_asked and wakes the queue (a flag cannot be
 * lost to a full queue).
 *
 * No sender ever waits for the SIP thread: a full queue is refused at
 * once (ENOSPC) and the sender counts it.
 *
 * With several SIP workers (sip_worker.h) each has its own queue; the
 * functions below pick the one a command concerns: session ends,
 * readiness and the handlers go to every worker (a worker without the
 * session's call ignores its end), hook and miss answers to the worker
 * their token names, a request-a-call to the workers in turn (skipping
 * draining ones), a request about a call id to worker 0, which passes it
 * on (sip_rac_cmd.c), a drain or resume to the worker it names.
 */
#include "sip_internal.h"
#include "sip_hook.h"
#include "sip_miss.h"
#include "sip_pin.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void sip_cmd_session_end_run(struct sip *s,
				    const struct sip_cmd_session_end *m)
{
	struct sip_call *c = sip_call_find_session(s, m->session_id);
	char id[STORE_ID_STR_SIZE];

	if (!c)
		return;		/* no call up (or it ended meanwhile) */
	if (s->log && s->log->level >= LOG_LVL_DEBUG) {
		store_id_format(m->session_id, id);
		log_debug(s->log, "sip: session %s ended: its call hangs up "
			  "(%s)", id, m->reason);
	}
	sip_call_end(c, m->reason);
}

static void sip_cmd_play_done_run(struct sip *s,
				  const struct sip_cmd_play_done *m)
{
	struct sip_call *c = sip_media_call(s, m->cookie);

	if (!c)		/* it ended meanwhile (CANCEL, BYE) */
		return;
	if (c->rec_playing)	/* [recording] announce (sip_rec.c) */
		sip_rec_play_done(c, m->leg);
	else if (c->rac && c->rac->stage != SIP_RAC_NONE)
		sip_rac_play_done(c, m->leg, m->err);
	else if (c->pin)
		sip_pin_play_done(c, m->err);
	else
		sip_announce_done(c, m->err);
}

static void sip_cmd_digit_run(struct sip *s, const struct sip_cmd_digit *m)
{
	struct sip_call *c = sip_media_call(s, m->cookie);

	if (c && c->pin)
		sip_pin_digit(c, m->digit);
}

static void sip_cmd_ready_run(struct sip *s, bool ready)
{
	if (s->unready == !ready)
		return;		/* told again: the sender repeats itself */
	s->unready = !ready;
	if (!s->stopping)
		metrics_set(&s->counters.ready, ready);
	log_info(s->log, "sip: %s", ready ? "ready: OPTIONS answered 200"
		 : "not ready: OPTIONS answered 503");
}

static void sip_cmd_on_msg(int id, void *data, size_t len, void *arg)
{
	struct sip *s = arg;
	uint64_t cookie;

	switch (id) {
	case SIP_CMD_RTP_TIMEOUT:
		if (len != sizeof(cookie))
			break;
		memcpy(&cookie, data, sizeof(cookie));
		sip_media_timeout(s, cookie);
		break;
	case SIP_CMD_PLAY_DONE:
		if (len != sizeof(struct sip_cmd_play_done))
			break;
		sip_cmd_play_done_run(s, data);
		break;
	case SIP_CMD_CALL:
		if (len != sizeof(struct sip_call_req))
			break;
		if (((const struct sip_call_req *)data)->op ==
		    SIP_CALL_OP_WORKER_STATE)
			sip_worker_state_run(s, data);
		else
			sip_rac_cmd(s, data);
		break;
	case SIP_CMD_DIGIT:
		if (len != sizeof(struct sip_cmd_digit))
			break;
		sip_cmd_digit_run(s, data);
		break;
	case SIP_CMD_SESSION_END:
		if (len != sizeof(struct sip_cmd_session_end))
			break;
		sip_cmd_session_end_run(s, data);
		break;
	case SIP_CMD_HOOK_ANSWER:
		if (len != sizeof(struct sip_hook_answer))
			break;
		sip_hook_answer(s, data);
		break;
	case SIP_CMD_HOOK_SET:
		if (len != sizeof(struct sip_cmd_hook_set))
			break;
		sip_hook_set_run(s, data);
		break;
	case SIP_CMD_READY:
		if (len != sizeof(bool))
			break;
		sip_cmd_ready_run(s, *(const bool *)data);
		break;
	case SIP_CMD_MISS_ANSWER:
		if (len != sizeof(struct sip_cmd_miss_answer))
			break;
		sip_miss_answer(s, data);
		break;
	case SIP_CMD_MISS_SET:
		if (len != sizeof(struct sip_cmd_miss_set))
			break;
		sip_miss_set_run(s, data);
		break;
	default:
		break;
	}
}

static int sip_cmd_on_wakeup(struct sip *magic, su_wait_t *w, struct sip *s)
{
	(void)magic;
	(void)w;
	mqueue_dispatch(s->cmdq);
	if (atomic_load(&s->stop_asked))
		sip_stopping(s);
	return 0;
}

int sip_cmd_open(struct sip *s)
{
	return mqueue_alloc(&s->cmdq, SIP_CMD_MAX, sip_cmd_on_msg, s);
}

void sip_cmd_close(struct sip *s)
{
	mqueue_free(s->cmdq);
	s->cmdq = NULL;
}

int sip_cmd_listen(struct sip *s)
{
	if (su_wait_create(&s->cmd_wait, mqueue_fd(s->cmdq), SU_WAIT_IN) < 0)
		return EIO;
	s->cmd_index = su_root_register(s->root, &s->cmd_wait,
					sip_cmd_on_wakeup, s, 0);
	if (s->cmd_index <= 0) {
		s->cmd_index = 0;
		su_wait_destroy(&s->cmd_wait);
		return EIO;
	}
	return 0;
}

void sip_cmd_unlisten(struct sip *s)
{
	if (s->cmd_index > 0)
		su_root_deregister(s->root, s->cmd_index);
	s->cmd_index = 0;
}

/* Push @data to every worker: the first error, after trying them all. */
static int sip_cmd_all(struct sip *s, int id, const void *data, size_t len)
{
	struct sip_group *g = s->grp;
	unsigned i;
	int err, first = 0;

	for (i = 0; i < g->n; i++) {
		err = mqueue_push(g->w[i]->cmdq, id, data, len);
		if (err && !first)
			first = err;
	}
	return first;
}

/* Push @data to the worker that gave out @key (worker 0 for one none
 * did: it finds nothing and ignores it, as ever). */
static int sip_cmd_keyed(struct sip *s, uint64_t key, int id,
			 const void *data, size_t len)
{
	struct sip *w = sip_worker_by_key(s->grp, key);

	return mqueue_push((w ? w : s)->cmdq, id, data, len);
}

int sip_cmd_session_end(struct sip *s, const uint8_t id[STORE_ID_LEN],
			const char *reason)
{
	struct sip_cmd_session_end m;

	memset(&m, 0, sizeof(m));
	memcpy(m.session_id, id, STORE_ID_LEN);
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	return sip_cmd_all(s, SIP_CMD_SESSION_END, &m, sizeof(m));
}

int sip_cmd_call(struct sip *s, const struct sip_call_req *req)
{
	struct sip_group *g = s->grp;
	struct sip *w = g->w[0];

	if (req->op == SIP_CALL_OP_WORKER_STATE) {
		if (req->worker >= g->n)
			return ENOENT;
		w = g->w[req->worker];
	} else if (req->op == SIP_CALL_OP_ORIGINATE) {
		w = sip_worker_pick(g);
	}
	return mqueue_push(w->cmdq, SIP_CMD_CALL, req, sizeof(*req));
}

int sip_cmd_hook_answer(struct sip *s, const struct sip_hook_answer *a)
{
	return sip_cmd_keyed(s, a->token, SIP_CMD_HOOK_ANSWER, a, sizeof(*a));
}

int sip_hook_set(struct sip *s, sip_hook_h *h, void *arg)
{
	struct sip_cmd_hook_set m = { .h = h, .arg = arg };

	return sip_cmd_all(s, SIP_CMD_HOOK_SET, &m, sizeof(m));
}

int sip_cmd_ready(struct sip *s, bool ready)
{
	return sip_cmd_all(s, SIP_CMD_READY, &ready, sizeof(ready));
}

int sip_cmd_miss_answer(struct sip *s, uint64_t token, bool found)
{
	struct sip_cmd_miss_answer a;

	memset(&a, 0, sizeof(a));
	a.token = token;
	a.found = found;
	return sip_cmd_keyed(s, token, SIP_CMD_MISS_ANSWER, &a, sizeof(a));
}

int sip_miss_set(struct sip *s, sip_miss_h *h, void *arg,
		 uint32_t timeout_ms)
{
	struct sip_cmd_miss_set m = { .h = h, .arg = arg,
				      .timeout_ms = timeout_ms };

	return sip_cmd_all(s, SIP_CMD_MISS_SET, &m, sizeof(m));
}
