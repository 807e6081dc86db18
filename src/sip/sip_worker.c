/*
 * sip_worker.c - the SIP workers' group: how many there are and where
 * they listen, what they share (the one-call-per-session claims, the
 * counters summed for /metrics), and how a command or a relay report
 * finds the worker it concerns. See sip_worker.h.
 *
 * The claims. Every worker checks its own calls first (its busy table,
 * sip_call.c), as one worker always did; with several, a session's call
 * must also hold the group's claim, taken under claim_lock in the same
 * step that checks it, so two INVITEs of one session reaching two
 * workers at once get one call and one 486, exactly as on one worker.
 * Claims are taken a few times per call and held in a chained hash of
 * the calls themselves (c->claim_next): no allocation under the lock.
 */
#include "sip_worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned sip_workers_plan(const struct config *cfg,
			  uint16_t ports[SIP_WORKERS_MAX],
			  uint16_t tls_ports[SIP_WORKERS_MAX])
{
	const struct config_sip *sip = &cfg->sip;
	bool tls = sip->tls_listen.port != 0;
	unsigned n, max, i;
	long cores;

	/* the config checked that a number has its ports; auto takes as
	 * many cores as there are ports for */
	max = 1 + (unsigned)sip->n_worker_ports;
	if (tls && 1 + (unsigned)sip->n_worker_tls_ports < max)
		max = 1 + (unsigned)sip->n_worker_tls_ports;
	if (max > SIP_WORKERS_MAX)
		max = SIP_WORKERS_MAX;
	if (!strcmp(sip->workers, "auto")) {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores < 1 ? 1 : (unsigned)cores;
	} else {
		n = (unsigned)atoi(sip->workers);
	}
	if (n < 1)
		n = 1;
	if (n > max)
		n = max;

	ports[0] = sip->listen.port;
	tls_ports[0] = sip->tls_listen.port;
	for (i = 1; i < n; i++) {
		ports[i] = (uint16_t)atoi(sip->worker_ports[i - 1]);
		tls_ports[i] = tls ? (uint16_t)atoi(sip->worker_tls_ports[i - 1])
				   : 0;
	}
	return n;
}

int sip_group_alloc(struct sip_group **gp, unsigned n,
		    const struct config *cfg)
{
	struct sip_group *g;
	int err;

	if (n < 1 || n > SIP_WORKERS_MAX)
		return EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return ENOMEM;
	g->n = n;
	pthread_mutex_init(&g->claim_lock, NULL);
	pthread_mutex_init(&g->guard_lock, NULL);
	err = sip_guard_open(g, cfg);
	if (err) {
		sip_group_free(g);
		return err;
	}
	*gp = g;
	return 0;
}

void sip_group_free(struct sip_group *g)
{
	if (!g)
		return;
	sip_guard_close(g);
	pthread_mutex_destroy(&g->guard_lock);
	pthread_mutex_destroy(&g->claim_lock);
	free(g);
}

/* ---- commands and reports to the right worker ---- */

int sip_worker_pass(struct sip *s, int id, const void *data, size_t len)
{
	if (s->idx + 1 >= s->grp->n)
		return ENOENT;
	return mqueue_push(s->grp->w[s->idx + 1]->cmdq, id, data, len);
}

struct sip *sip_worker_by_key(struct sip_group *g, uint64_t key)
{
	uint64_t idx = key >> SIP_WORKER_SHIFT;

	return idx < g->n ? g->w[idx] : NULL;
}

void sip_worker_on_timeout(uint64_t cookie, void *arg)
{
	struct sip *s = sip_worker_by_key(arg, cookie);

	if (s)
		sip_media_on_timeout(cookie, s);
}

/* ---- draining one worker ---- */

/* A draining worker's 503 says: come back after this long (a front
 * tries the next worker at once and ignores it). */
#define SIP_DRAIN_RETRY_S "10"

unsigned sip_workers(const struct sip *s)
{
	return s->grp->n;
}

int sip_worker_view(struct sip *s, unsigned i, struct sip_worker_view *v)
{
	struct sip *w;

	if (i >= s->grp->n)
		return ENOENT;
	w = s->grp->w[i];
	memset(v, 0, sizeof(*v));
	v->worker = i;
	/* set before the worker's thread started, never changed */
	v->port = w->listen_port;
	v->tls_port = w->tls_listen_port;
	v->draining = metrics_get(&w->counters.draining) != 0;
	v->calls_live = metrics_get(&w->counters.calls_live);
	v->calls_total = metrics_get(&w->counters.calls_total);
	return 0;
}

void sip_worker_state_run(struct sip *s, const struct sip_call_req *req)
{
	struct sip_reply r;

	if (s->draining != req->drain) {
		s->draining = req->drain;
		metrics_set(&s->counters.draining, req->drain);
		log_info(s->log, "sip: worker %u (port %u) %s", s->idx,
			 s->listen_port, req->drain ?
			 "draining: new calls and OPTIONS answered 503, the "
			 "calls up served to their end" :
			 "resumed: takes new calls");
	}
	if (!req->h)
		return;
	memset(&r, 0, sizeof(r));
	r.op = req->op;
	r.token = req->token;
	(void)sip_worker_view(s, s->idx, &r.worker);
	req->h(&r, req->arg);
}

bool sip_worker_admit(struct sip *s, msg_t *msg)
{
	if (!s->draining)
		return true;
	SIP_COUNT(s, draining_refused);
	/* stateless, like an overload refusal: nothing of ours is spent,
	 * and a retransmission is simply refused again */
	nta_msg_treply(s->agent, msg, SIP_503_SERVICE_UNAVAILABLE,
		       SIPTAG_RETRY_AFTER_STR(SIP_DRAIN_RETRY_S), TAG_END());
	return false;
}

struct sip *sip_worker_pick(struct sip_group *g)
{
	unsigned i = 0, k;

	if (g->n == 1)
		return g->w[0];
	for (k = 0; k < g->n; k++) {
		i = atomic_fetch_add_explicit(&g->next, 1,
					      memory_order_relaxed) % g->n;
		if (!metrics_get(&g->w[i]->counters.draining))
			break;
	}
	return g->w[i];
}

/* ---- one call per session ---- */

static size_t sip_claim_slot(const uint8_t id[STORE_ID_LEN])
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < STORE_ID_LEN; i++)
		h = (h ^ id[i]) * 16777619u;
	return h & (SIP_BUSY_BUCKETS - 1);
}

/* The call holding session @id's claim, or NULL. claim_lock held. */
static struct sip_call *sip_claim_find(struct sip_group *g,
				       const uint8_t id[STORE_ID_LEN])
{
	struct sip_call *c;

	for (c = g->claims[sip_claim_slot(id)]; c; c = c->claim_next)
		if (!memcmp(c->claim_id, id, STORE_ID_LEN))
			return c;
	return NULL;
}

bool sip_group_claimed(struct sip_group *g, const uint8_t id[STORE_ID_LEN])
{
	bool found;

	pthread_mutex_lock(&g->claim_lock);
	found = sip_claim_find(g, id) != NULL;
	pthread_mutex_unlock(&g->claim_lock);
	return found;
}

bool sip_call_claim(struct sip_call *c, const uint8_t id[STORE_ID_LEN])
{
	struct sip *s = c->s;
	struct sip_group *g = s->grp;
	struct sip_call *other, **slot;

	if (c->claimed)
		return !memcmp(c->claim_id, id, STORE_ID_LEN);
	other = sip_call_find_session(s, id);
	if (other && other != c)
		return false;
	if (g->n == 1)
		return true;	/* the busy table is the claim */

	pthread_mutex_lock(&g->claim_lock);
	other = sip_claim_find(g, id);
	if (!other) {
		memcpy(c->claim_id, id, STORE_ID_LEN);
		slot = &g->claims[sip_claim_slot(id)];
		c->claim_next = *slot;
		*slot = c;
		c->claimed = true;
	}
	pthread_mutex_unlock(&g->claim_lock);
	return !other;
}

void sip_call_unclaim(struct sip_call *c)
{
	struct sip_group *g = c->s->grp;
	struct sip_call **pp;

	if (!c->claimed)
		return;
	pthread_mutex_lock(&g->claim_lock);
	for (pp = &g->claims[sip_claim_slot(c->claim_id)]; *pp;
	     pp = &(*pp)->claim_next) {
		if (*pp == c) {
			*pp = c->claim_next;
			break;
		}
	}
	pthread_mutex_unlock(&g->claim_lock);
	c->claim_next = NULL;
	c->claimed = false;
}

/* ---- /metrics: the workers' counters as one ---- */

struct sip_group_snap {
#define X METRICS_X_PLAIN
#include "sip_metrics.inc"
#undef X
	uint64_t worker_calls[SIP_WORKERS_MAX];
	uint64_t worker_live[SIP_WORKERS_MAX];
	uint64_t worker_draining[SIP_WORKERS_MAX];
};

static const struct metrics_row sip_group_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct sip_group_snap, f, name, kind, help),
#include "sip_metrics.inc"
#undef X
	METRICS_ROW_L(struct sip_group_snap, worker_calls,
		      "maskd_sip_worker_calls_total", COUNTER,
		      "Inbound INVITEs routed since start, by SIP worker "
		      "([sip] workers).", "worker", SIP_WORKERS_MAX, NULL),
	METRICS_ROW_L(struct sip_group_snap, worker_live,
		      "maskd_sip_worker_calls_live", GAUGE,
		      "Calls with a leg still alive, by SIP worker (absent: "
		      "0).", "worker", SIP_WORKERS_MAX, NULL),
	METRICS_ROW_L(struct sip_group_snap, worker_draining,
		      "maskd_sip_worker_draining", GAUGE,
		      "1 while the SIP worker drains (PATCH "
		      "/v1/sip/workers/{worker}; absent: 0, taking calls).",
		      "worker", SIP_WORKERS_MAX, NULL),
};

/*
 * Sums, but for the gauges that describe a worker's state rather than
 * count its things: the lag and the overload flag are the worst
 * worker's, ready only while every worker is (a draining worker says so
 * itself: maskd_sip_workers_draining counts them). Control thread (under the
 * registry's lock); the cells are relaxed atomics.
 */
static int sip_group_read(void *arg, void *snap_)
{
	struct sip_group *g = arg;
	struct sip_group_snap *snap = snap_;
	const struct sip_counters *k;
	unsigned i;

	for (i = 0; i < g->n; i++) {
		k = &g->w[i]->counters;
#define X(f, name, kind, help) snap->f += metrics_get(&k->f);
#include "sip_metrics.inc"
#undef X
		snap->worker_calls[i] = metrics_get(&k->calls_total);
		snap->worker_live[i] = metrics_get(&k->calls_live);
		snap->worker_draining[i] = metrics_get(&k->draining);
	}
	for (i = 0; i < g->n; i++) {
		k = &g->w[i]->counters;
		if (!i || metrics_get(&k->ready) < snap->ready)
			snap->ready = metrics_get(&k->ready);
		if (!i || metrics_get(&k->lag_ms) > snap->lag_ms)
			snap->lag_ms = metrics_get(&k->lag_ms);
		if (!i || metrics_get(&k->overloaded) > snap->overloaded)
			snap->overloaded = metrics_get(&k->overloaded);
	}
	return 0;
}

static const struct metrics_group sip_group_metrics =
	METRICS_GROUP_SNAP("sip", sip_group_rows, sip_group_read,
			   struct sip_group_snap);

int sip_group_metrics_register(struct sip_group *g, struct metrics *reg)
{
	int err;

	err = metrics_register(reg, &sip_group_metrics, g);
	if (!err)
		g->metrics = reg;
	return err;
}

void sip_group_metrics_unregister(struct sip_group *g)
{
	metrics_unregister(g->metrics, &sip_group_metrics, g);
	g->metrics = NULL;
}
