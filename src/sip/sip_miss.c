/*
 * sip_miss.c - a call whose pair is not in this node's cache asks
 * PostgreSQL before it is refused (cluster mode; sip.h).
 *
 *   sip_route.c   the lookup said ENOENT (or ESTALE: the cache may hold
 *                 an ended session of the pair while PostgreSQL already
 *                 has its successor): sip_miss_park()
 *   park          100 Trying at once, the INVITE's transaction bound
 *                 here (no call, no ports, no dialog), the question (a
 *                 copy) to the handler, a guard timer
 *   the answer    SIP_CMD_MISS_ANSWER: the handler (ctl) has written
 *                 the session into the LMDB cache when PostgreSQL had
 *                 one, so routing the INVITE again from the start of
 *                 the lookup (sip_route_again()) finds it there and
 *                 every rule of a routed call applies as always (busy,
 *                 PIN, hook, ports); nothing found: refused as always
 *   CANCEL        487; the late answer finds no token: ignored
 *   the guard     no answer in the handler's timeout and a second:
 *                 routed again as the cache now says
 *
 * The call path itself never waits on the network: only an INVITE the
 * cache could not route waits, and never longer than the guard.
 */
#include "sip_internal.h"
#include "sip_miss.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sip_miss_wait;

struct sip_miss {
	sip_miss_h *h;
	void *arg;
	uint32_t timeout_ms;
	uint64_t next_token;
	struct sip_miss_wait *head;	/* parked, newest first */
	unsigned n;
};

/* One parked INVITE. */
struct sip_miss_wait {
	struct sip *s;
	uint64_t token;
	nta_incoming_t *irq;
	su_timer_t *guard;
	struct sip_miss_wait *next, **pprev;
};

bool sip_miss_wanted(const struct sip *s)
{
	return s->miss && s->miss->h && s->miss->n < SIP_MISS_MAX &&
	       !s->stopping;
}

void sip_miss_set_run(struct sip *s, const struct sip_cmd_miss_set *m)
{
	if (!s->miss) {
		s->miss = calloc(1, sizeof(*s->miss));
		if (!s->miss) {
			log_error(s->log, "sip: no memory for cache misses: "
				  "they are refused from the cache alone");
			return;
		}
		/* answers find their worker by the token's top bits */
		s->miss->next_token = sip_worker_base(s);
	}
	s->miss->h = m->h;
	s->miss->arg = m->arg;
	s->miss->timeout_ms = m->timeout_ms;
}

/* Out of the list, guard stopped, freed; the transaction is returned. */
static nta_incoming_t *sip_miss_unpark(struct sip_miss_wait *w)
{
	nta_incoming_t *irq = w->irq;

	if (w->pprev) {
		*w->pprev = w->next;
		if (w->next)
			w->next->pprev = w->pprev;
		w->s->miss->n--;
	}
	if (w->guard)
		su_timer_destroy(w->guard);
	free(w);
	return irq;
}

/* A transaction between two owners: nothing to do with what comes. */
static int sip_miss_on_orphan(void *magic, nta_incoming_t *irq,
			      sip_t const *sip)
{
	(void)magic;
	(void)irq;
	(void)sip;
	return 0;
}

/* Route the parked INVITE again, now that the cache knows more. */
static void sip_miss_reroute(struct sip_miss_wait *w)
{
	struct sip *s = w->s;
	nta_incoming_t *irq = sip_miss_unpark(w);
	sip_t const *sip;
	msg_t *msg;
	int st;

	nta_incoming_bind(irq, sip_miss_on_orphan, NULL);
	msg = nta_incoming_getrequest(irq);
	sip = msg ? sip_object(msg) : NULL;
	st = sip ? sip_route_again(s, irq, sip) : 500;
	if (st) {
		nta_incoming_treply(irq, st, sip_msg_phrase(st), TAG_END());
		nta_incoming_destroy(irq);
	}
	if (msg)
		msg_destroy(msg);
}

void sip_miss_answer(struct sip *s, const struct sip_cmd_miss_answer *a)
{
	struct sip_miss_wait *w;

	for (w = s->miss ? s->miss->head : NULL; w; w = w->next)
		if (w->token == a->token)
			break;
	if (!w)
		return;		/* cancelled, or the guard went first */
	if (a->found)
		SIP_COUNT(s, cache_miss_found);
	sip_miss_reroute(w);
}

static void sip_miss_on_guard(su_root_magic_t *magic, su_timer_t *t,
			      void *arg)
{
	struct sip_miss_wait *w = arg;

	(void)magic;
	(void)t;
	SIP_COUNT(w->s, cache_miss_lost);
	sip_miss_reroute(w);
}

/* The parked INVITE's transaction: a CANCEL ends the wait. */
static int sip_miss_on_inbound(void *magic, nta_incoming_t *irq,
			       sip_t const *sip)
{
	struct sip_miss_wait *w = magic;

	if (sip && sip->sip_request->rq_method != sip_method_cancel)
		return 0;
	irq = sip_miss_unpark(w);
	nta_incoming_bind(irq, sip_miss_on_orphan, NULL);
	if (nta_incoming_status(irq) < 200)
		nta_incoming_treply(irq, SIP_487_REQUEST_CANCELLED, TAG_END());
	nta_incoming_destroy(irq);
	return 0;
}

int sip_miss_park(struct sip *s, nta_incoming_t *irq, const char *caller,
		  const char *vn)
{
	struct sip_miss *m = s->miss;
	struct sip_miss_ask q;
	struct sip_miss_wait *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->s = s;
	w->irq = irq;
	w->token = ++m->next_token;
	w->guard = su_timer_create(su_root_task(s->root), 0);
	if (!w->guard ||
	    su_timer_set_interval(w->guard, sip_miss_on_guard, w,
				  (su_duration_t)(m->timeout_ms +
						  SIP_MISS_GUARD_MS)) < 0) {
		sip_miss_unpark(w);
		SIP_COUNT(s, cache_miss_lost);
		return ENOMEM;
	}
	memset(&q, 0, sizeof(q));
	q.token = w->token;
	snprintf(q.caller, sizeof(q.caller), "%s", caller);
	snprintf(q.vn, sizeof(q.vn), "%s", vn);
	/* asked before it is parked: the answer comes through the command
	 * queue, which this thread reads only after we return */
	err = m->h(&q, m->arg);
	if (err) {
		sip_miss_unpark(w);
		SIP_COUNT(s, cache_miss_lost);
		return err;
	}
	SIP_COUNT(s, cache_misses);
	w->next = m->head;
	if (m->head)
		m->head->pprev = &w->next;
	w->pprev = &m->head;
	m->head = w;
	m->n++;
	nta_incoming_bind(irq, sip_miss_on_inbound, (void *)w);
	nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
	return 0;
}

void sip_miss_stop_all(struct sip *s)
{
	nta_incoming_t *irq;

	while (s->miss && s->miss->head) {
		irq = sip_miss_unpark(s->miss->head);
		nta_incoming_bind(irq, sip_miss_on_orphan, NULL);
		nta_incoming_treply(irq, 503, sip_msg_phrase(503), TAG_END());
		nta_incoming_destroy(irq);
	}
}

void sip_miss_close(struct sip *s)
{
	free(s->miss);
	s->miss = NULL;
}
