/*
 * sip_worker.h - several SIP threads ([sip] workers): what they share and
 * who owns it (sip_worker.c).
 *
 * A worker is a struct sip (sip_internal.h): one thread, its own su_root,
 * nta agent, transports (worker 0 on [sip] listen / tls_listen, worker i
 * on worker_ports[i-1] / worker_tls_ports[i-1]), command queue, store
 * reader and calls. A call is its worker's from its INVITE to its end:
 * its Contact and nta's Via name that worker's port, so every request of
 * its dialogs comes back there and nothing of a call is ever touched by
 * another thread. With one worker nothing below takes a lock.
 *
 * What the workers share is the group's, struct sip_group:
 *   - the sessions with a call (one call per session across workers): a
 *     set of claims under claim_lock, taken with sip_call_claim() before
 *     a call of a session is set up, given back with the call's CDR;
 *   - the per-source flood table and the calls-per-second buckets
 *     (sip_guard.c), under guard_lock: limits are the whole node's;
 *   - the counters: each worker counts into its own struct sip_counters
 *     and /metrics shows their sum (the lag and overload gauges their
 *     maximum, ready its minimum) and maskd_sip_worker_calls_total per
 *     worker.
 *
 * Commands from other threads (sip_cmd.c) reach the worker they concern:
 * relay timeouts, prompt ends and digits by the call's relay cookie, hook
 * and cache-miss answers by their token (both carry the worker's index
 * in their top bits: SIP_WORKER_SHIFT), a request-a-call goes to the
 * workers in turn, a request about a call id to worker 0, which passes it
 * on to the next one when the call is not its own (the last one answers
 * ENOENT), and session ends, readiness and handlers to every worker.
 * A drain or resume (PATCH /v1/sip/workers/{worker}) goes to the worker
 * it names, which alone changes its state (see sip_worker_state_run()).
 *
 * The handle sip_start() returns is worker 0; s->grp is the group.
 */
#ifndef MASKD_SIP_WORKER_H
#define MASKD_SIP_WORKER_H

#include "sip_internal.h"

#define SIP_WORKERS_MAX CONFIG_SIP_WORKERS_MAX

/* Cookies and tokens a worker gives out start at its index shifted by
 * this much: 2^48 each before they would run into the next worker's,
 * and below 2^53, so a token stays exact even as a JSON number. */
#define SIP_WORKER_SHIFT 48

struct sip_group {
	unsigned n;				/* workers */
	struct sip *w[SIP_WORKERS_MAX];		/* [0] is the handle */
	atomic_uint next;			/* request-a-call: the next */
	struct metrics *metrics;		/* borrowed; registered */

	/* the one-call-per-session claims, by session id; n > 1 only */
	pthread_mutex_t claim_lock;
	struct sip_call *claims[SIP_BUSY_BUCKETS];

	/* [flood] and the cps caps, for every worker (sip_guard.c);
	 * guard_lock held around them when n > 1 */
	pthread_mutex_t guard_lock;
	struct flood *flood;
	struct tbucket cps;
	struct tbucket *trunk_cps;		/* by trunk index */
};

/* sip_worker_base() - the first cookie or token @s gives out, minus 1. */
static inline uint64_t sip_worker_base(const struct sip *s)
{
	return (uint64_t)s->idx << SIP_WORKER_SHIFT;
}

/*
 * sip_workers_plan() - how many workers @cfg asks for and their ports:
 * ports[i] (UDP and TCP) and tls_ports[i] (0 = no TLS) for worker i.
 * "auto" is the number of online cores, capped by the ports listed.
 * Returns the number (>= 1).
 */
unsigned sip_workers_plan(const struct config *cfg,
			  uint16_t ports[SIP_WORKERS_MAX],
			  uint16_t tls_ports[SIP_WORKERS_MAX]);

/* sip_group_alloc() - an empty group for @n workers, its guard made per
 * @cfg. sip_group_free() frees what it holds (not the workers). */
int sip_group_alloc(struct sip_group **gp, unsigned n,
		    const struct config *cfg);
void sip_group_free(struct sip_group *g);

/*
 * sip_worker_pass() - a command about a call @s does not have goes on to
 * the next worker. Returns 0 (pushed), ENOENT (@s is the last), or the
 * push's ENOSPC/ENOMEM. SIP thread of @s.
 */
int sip_worker_pass(struct sip *s, int id, const void *data, size_t len);

/* sip_worker_by_key() - the worker a cookie or token belongs to; NULL
 * for one no worker gave out. Any thread. */
struct sip *sip_worker_by_key(struct sip_group *g, uint64_t key);

/*
 * sip_worker_on_timeout() - relay_timeout_h for the whole group (@arg):
 * the cookie goes to the worker whose call it is. Relay worker thread.
 */
void sip_worker_on_timeout(uint64_t cookie, void *arg);

/*
 * sip_call_claim() - @c becomes the call of session @id, unless the
 * session has a call already (on any worker): false then. Idempotent for
 * the same @c. With one worker it is the local check; with more, the
 * group's claim set too. The claim goes with sip_call_unclaim() (from
 * sip_call_busy_remove(): the CDR, or the call's end).
 */
bool sip_call_claim(struct sip_call *c, const uint8_t id[STORE_ID_LEN]);
void sip_call_unclaim(struct sip_call *c);

/* sip_group_claimed() - whether session @id has a call on any worker
 * (n > 1). Any worker's thread. */
bool sip_group_claimed(struct sip_group *g, const uint8_t id[STORE_ID_LEN]);

/*
 * Draining (PATCH /v1/sip/workers/{worker}). A worker's own state: only
 * its thread reads or changes s->draining; the change comes through its
 * command queue (SIP_CMD_CALL, op SIP_CALL_OP_WORKER_STATE), and its
 * draining gauge is what other threads see (sip_worker_view(), the
 * request-a-call round-robin, /metrics).
 *
 * sip_worker_state_run() - apply @req and answer it with the worker's
 * view. SIP thread of @s.
 */
void sip_worker_state_run(struct sip *s, const struct sip_call_req *req);

/*
 * sip_worker_admit() - whether a new out-of-dialog INVITE (@msg, no
 * transaction yet) may be routed; while draining it is answered with a
 * stateless 503 and Retry-After, counted, and false returned: a front
 * fails over to the next worker, a direct caller comes back later.
 * Everything of the calls up (in-dialog requests, CANCEL, ACK, the
 * INVITE's retransmissions) is nta's and never comes here.
 */
bool sip_worker_admit(struct sip *s, msg_t *msg);

/* sip_worker_pick() - the worker for a new request-a-call: the next in
 * turn that is not draining (all draining: the next in turn, which
 * refuses it). Any thread. */
struct sip *sip_worker_pick(struct sip_group *g);

/* sip_group_metrics_register() / _unregister() - the "sip" group of
 * /metrics: the workers' counters summed, and per worker. */
int sip_group_metrics_register(struct sip_group *g, struct metrics *reg);
void sip_group_metrics_unregister(struct sip_group *g);

#endif
