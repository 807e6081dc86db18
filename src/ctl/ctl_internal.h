/*
 * ctl_internal.h - what the files of src/ctl/ share; not a contract.
 *
 * ctl.c          start, stop, wiring, a change's life (struct ctl_op)
 * ctl_session.c  sessions: create, patch, close (+ the SIP hang-up), reads
 * ctl_number.c   the number pool
 * ctl_cdr.c      call records: the sink and the reads
 * ctl_sweep.c    the expiry sweeper
 * ctl_event.c    events into the outbox, in the change's transaction
 * ctl_deliver.c  the outbox out: libcurl multi on the loop, signed POSTs
 * ctl_call.c     calls the API drives: commands to the SIP thread and
 *                its answers (request-a-call, participants)
 * ctl_curl.c     libcurl's multi on the loop; the SSRF rule
 * ctl_hook.c     the call-routing hook: the SIP thread's questions out
 *
 * Everything here is owned by the control thread.
 */
#ifndef MASKD_CTL_INTERNAL_H
#define MASKD_CTL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "maskd/clock.h"
#include "maskd/config.h"
#include "maskd/ctl.h"
#include "maskd/metrics.h"

#define CTL_SWEEP_MS 250
#define CTL_SWEEP_MAX 10000		/* sessions expired per batch */
/* Records (sessions and call records) deleted per retention op: a few
 * hundred keeps each write transaction short, so calls and the API never
 * wait long behind it; a full batch queues the next one at once. */
#define CTL_PURGE_MAX 256
#define CTL_PURGE_LOG_MS 60000		/* one failed-purge line a minute */
/*
 * A cluster cache's index queue (store_mirror.h) is flushed at every
 * sweep tick (CTL_SWEEP_MS), at most CTL_IDXQ_MAX records per op (a
 * full one queues the next at once). The longer the wait, the more
 * entries share a page, but the longer a flush holds the control
 * thread. In bench_cluster_api.py, storage writes per create over three
 * nodes and the creates' p99: no queue 75-77 KB, 37-55 ms; once a
 * second 21 KB, 62-82 ms; every tick 28-30 KB, 50-61 ms.
 */
#define CTL_IDXQ_MAX 10000
/*
 * What ctl_store_room() keeps free: 5% of the map, at least 256 KiB.
 * LMDB copies every page it changes, so even a delete needs free pages
 * to commit (a close touches some twenty): the reserve is for what frees
 * space or must not be lost - closes, the sweeper's expiries and
 * retention, and the call records of calls, which are never refused.
 */
#define CTL_STORE_RESERVE_PCT 5
#define CTL_STORE_RESERVE_MIN (256 << 10)

/* The cells of maskd_event_deliveries_total{result}. */
enum ctl_delivery_result {
	CTL_DELIVERY_OK = 0,
	CTL_DELIVERY_RETRY,
	CTL_DELIVERY_FAILED,
	CTL_DELIVERY_DROPPED,	/* max_pending passed: the oldest dropped */
};

extern const char *const ctl_delivery_results[4];

/* The cells of maskd_hook_requests_total{result}. */
enum ctl_hook_result {
	CTL_HOOK_CONNECT = 0,
	CTL_HOOK_ALLOW,
	CTL_HOOK_REJECT,
	CTL_HOOK_ANNOUNCE,
	CTL_HOOK_TIMEOUT,	/* no answer within timeout_ms */
	CTL_HOOK_ERROR,		/* down, non-2xx, garbage, too large */
};

extern const char *const ctl_hook_results[6];

/* Cells read in place (histograms cannot ride in the snapshot). */
struct ctl_cells {
	struct metrics_hist delivery_ms;	/* attempt start to its 2xx */
	struct metrics_hist hook_ms;		/* hook request to its answer */
};

/* Counters since start, for /metrics (and ctl_stats_get()). */
struct ctl_counters {
#define X METRICS_X_PLAIN
#define XL METRICS_XL_PLAIN
#include "ctl_metrics.inc"
#undef XL
#undef X
};

struct ctl {
	struct event_base *base;	/* borrowed */
	const struct config *cfg;	/* borrowed */
	struct store *st;		/* borrowed */
	struct writer *w;		/* borrowed */
	struct log *log;		/* borrowed */
	struct sip *sip;		/* borrowed; NULL = no SIP side */
	struct store_reader *rd;	/* every read */

	struct event *sweep_ev;
	bool sweep_queued;		/* an expire op is in the writer */
	unsigned sweep_n;		/* what the last one expired */
	bool purge_queued;		/* a retention op is in the writer */
	unsigned purge_max;		/* its batch: halved on EDQUOT */
	unsigned purge_sessions;	/* what the last one deleted */
	unsigned purge_cdrs;
	int64_t purge_warned_ms;	/* last failure logged (monotonic) */
	bool idxq_queued;		/* an index queue flush is in the writer */
	bool idxq_more;			/* the last one left records queued */

	struct ctl_events_conf evc;	/* ctl_events_configure() */
	struct ctl_deliver *dl;		/* ctl_deliver.c; NULL = off */
	struct ctl_hook *hk;		/* ctl_hook.c; NULL = no hook */

	/* calls the API drives (ctl_call.c): the SIP thread's answers,
	 * and the requests waiting for one */
	struct mailbox *sip_mb;
	struct ctl_call_wait *waits;
	uint64_t call_token;

	struct ctl_counters ctr;	/* ctl_metrics.inc */
	struct ctl_cells cells;		/* the "events" group */
	struct metrics *metrics;	/* borrowed; ctl_metrics_register() */
	struct cluster *cluster;	/* borrowed; NULL = single-node */
	struct mailbox *miss_mb;	/* ctl_cluster.c: cache misses in */
	struct ctl_claims *claims;	/* ctl_cluster.c: this node's calls'
					 * claims in PostgreSQL */
	struct ctl_cluster_op *unmirrored;	/* ctl_cluster.c: creates
					 * answered, their cache write not
					 * committed yet */
};

/*
 * One queued change: allocated by ctl_op_new(), holding copies of all its
 * inputs (the caller's are gone by the time it runs), freed after its
 * done handler ran. @run does the store work into @out / @num.
 */
struct ctl_op {
	struct ctl *ctl;
	int (*run)(struct ctl_op *op, struct store_txn *tx);
	void (*done)(struct ctl_op *op, int err, bool lost);
	union {				/* the caller's handler */
		ctl_session_h *session;
		ctl_number_h *number;
		ctl_done_h *done;
	} h;
	void *arg;
	bool ran;
	int op_err;
	int64_t now_ms;			/* when it ran */

	uint8_t id[STORE_ID_LEN];
	char party_a[E164_SIZE];
	char party_b[E164_SIZE];
	char vn[E164_SIZE];
	char pin_a[STORE_PIN_SIZE];	/* copies of the PINs: secrets, */
	char pin_b[STORE_PIN_SIZE];	/* wiped by ctl_op_free() */
	char country[STORE_COUNTRY_SIZE];
	char *callback_url;		/* owned */
	char *metadata;			/* owned */
	struct session_params params;	/* points into the above */
	struct session_patch patch;	/* callback_url points above */
	int64_t ttl_ms;
	struct session out;		/* owned strings */
	struct pool_number num;
};

/* ---- ctl.c ---- */

/* ctl_op_new() - a change's context; NULL on ENOMEM. ctl_op_free()
 * for one that was never submitted; NULL-safe. */
struct ctl_op *ctl_op_new(struct ctl *ctl, void *arg);
void ctl_op_free(struct ctl_op *op);

/*
 * ctl_op_submit() - queue @op with the writer. Returns 0, or ENOMEM
 * (then @op is freed and no handler runs).
 */
int ctl_op_submit(struct ctl_op *op);

/* ctl_strdup() - a copy of @s, NULL for NULL; *err = ENOMEM on failure. */
char *ctl_strdup(const char *s, int *err);

/* ---- ctl_event.c ---- */

/* ctl_event_wanted() - a session with @callback_url (may be NULL) has
 * somewhere its events can go: the events below write one only then. */
bool ctl_event_wanted(const struct ctl *ctl, const char *callback_url);

/*
 * ctl_event_session() - write event @type ("session.created", ...) for
 * session @s (as stored after the change) into @tx, when it can go
 * somewhere. @at_ms is when it happened. Returns 0 or an errno (then the
 * change's transaction must fail: the event and the change go together).
 */
int ctl_event_session(struct ctl *ctl, struct store_txn *tx,
		      const char *type, const struct session *s,
		      int64_t at_ms, int64_t now_ms);

/* ctl_event_cdr() - call.completed or call.failed for record @c of
 * session @s, into @tx. Returns as ctl_event_session(). */
int ctl_event_cdr(struct ctl *ctl, struct store_txn *tx, const struct cdr *c,
		  const struct session *s, int64_t now_ms);

/* ctl_event_progress() - call.initiated, call.ringing or call.answered
 * (c->kind) of session @s, into @tx. */
int ctl_event_progress(struct ctl *ctl, struct store_txn *tx,
		       const struct cdr *c, const struct session *s,
		       int64_t now_ms);

/* ctl_event_recording() - recording.ready (@c's rec_state READY) or
 * recording.failed for call @c (its id and rec_* fields) of session @s,
 * into @tx. As ctl_event_session(). */
int ctl_event_recording(struct ctl *ctl, struct store_txn *tx,
			const struct cdr *c, const struct session *s,
			int64_t now_ms);

/* ctl_event_pin() - pin.result for @c (CDR_KIND_PIN); @s is the session
 * the PIN named, NULL for none ([events] url only then). */
int ctl_event_pin(struct ctl *ctl, struct store_txn *tx, const struct cdr *c,
		  const struct session *s, int64_t now_ms);

/* ctl_event_unrouted() - call.unrouted (no session; [events] url only). */
int ctl_event_unrouted(struct ctl *ctl, struct store_txn *tx,
		       const struct cdr *c, int64_t now_ms);

/* ctl_event_start/stop() - session.expired from every expiry
 * (store_set_expire_h()). */
void ctl_event_start(struct ctl *ctl);
void ctl_event_stop(struct ctl *ctl);

/* ---- ctl_call.c ---- */

struct ctl_call_wait;

/* ctl_call_start() - the SIP answers' mailbox; ctl_call_stop() fails
 * what waits (ECANCELED) and frees it. ctl_call_cancel_all() only the
 * former (the SIP side goes away). */
int ctl_call_start(struct ctl *ctl);
void ctl_call_stop(struct ctl *ctl);
void ctl_call_cancel_all(struct ctl *ctl);
/* ---- ctl_curl.c ---- */

/*
 * libcurl's multi interface on @base: ctl_curl_new() makes one whose
 * finished transfers go to @done (CURLINFO_PRIVATE says whose);
 * ctl_curl_free() frees it once every easy handle has been removed.
 */
struct ctl_curl;
typedef void (ctl_curl_done_h)(CURL *easy, CURLcode res, void *arg);
int ctl_curl_new(struct ctl_curl **ccp, struct event_base *base,
		 ctl_curl_done_h *done, void *arg);
CURLM *ctl_curl_multi(struct ctl_curl *cc);
void ctl_curl_free(struct ctl_curl *cc);

/* ctl_curl_easy() - an easy handle (from the pool, or new; NULL on
 * ENOMEM); ctl_curl_release() takes it off the multi (if on it) and back
 * into the pool. A pooled handle keeps the options its last request set
 * (*@reused, may be NULL, says it is one: each ctl_curl has one user, so
 * the options that user sets alike on every request are there already);
 * a user sets every other option it relies on, for every request. */
CURL *ctl_curl_easy(struct ctl_curl *cc, bool *reused);

/*
 * ctl_curl_socket() - the socket for @a, from a CURLOPT_OPENSOCKETFUNCTION
 * (after its SSRF check): curl closes it through ctl_curl's close
 * callback, so an idle keep-alive connection can stay in epoll between
 * requests. CURL_SOCKET_BAD (-1) with errno on failure.
 */
curl_socket_t ctl_curl_socket(struct ctl_curl *cc,
			      const struct curl_sockaddr *a);
void ctl_curl_release(struct ctl_curl *cc, CURL *easy);

/* ctl_addr_ok() - may a request go to @sa (curl's resolved address)?
 * Loopback, private, link-local and multicast only within c->allow. */
bool ctl_addr_ok(const struct ctl_events_conf *c, const struct sockaddr *sa);

/* ---- ctl_hook.c ---- */

void ctl_hook_stop(struct ctl *ctl);

/* ---- ctl_deliver.c ---- */

int ctl_deliver_start(struct ctl *ctl);
void ctl_deliver_stop(struct ctl *ctl);
/* ctl_deliver_kick() - a scan of the outbox soon (an event became due:
 * redelivered by hand). No-op when delivery is off. */
void ctl_deliver_kick(struct ctl *ctl);
/* ctl_deliver_due() - an event is (to be) due at @at_ms: a kick's walk
 * of the outbox starts no later than that ms (ctl_deliver.c keeps where
 * the rows before are all in flight). Control thread; no-op when
 * delivery is off. */
void ctl_deliver_due(struct ctl *ctl, int64_t at_ms);

/* ---- ctl_cluster_api.c: PATCH and the pool through PostgreSQL ---- */

int ctl_cluster_patch(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      const struct session_patch *p, int64_t ttl_ms,
		      ctl_session_h *h, void *arg);
int ctl_cluster_number_add(struct ctl *ctl, const char *vn,
			   const char *country, ctl_number_h *h, void *arg);
int ctl_cluster_number_remove(struct ctl *ctl, const char *vn, ctl_done_h *h,
			      void *arg);

/* ---- ctl_cluster.c: create and close through PostgreSQL ---- */

int ctl_cluster_create(struct ctl *ctl, const struct session_params *p,
		       ctl_session_h *h, void *arg);
/* ctl_cluster_unmirrored_get() - the session @id if this node created it
 * and answered, its cache write still on its way (ctl_cluster.c): a copy
 * into @out (session_clear() it), as the cache will give it; ENOENT if
 * none. Reads of one session by id try it when the cache has none. */
int ctl_cluster_unmirrored_get(struct ctl *ctl,
			       const uint8_t id[STORE_ID_LEN], int64_t now_ms,
			       struct session *out);
/* ctl_cluster_call() - a call's progress or record (@cdr): claims its
 * session across nodes when initiated, releases it when ended. */
void ctl_cluster_call(struct ctl *ctl, const struct cdr *cdr);
int ctl_cluster_close(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      ctl_session_h *h, void *arg);

/* ---- ctl_sweep.c ---- */

int ctl_sweep_start(struct ctl *ctl);
void ctl_sweep_stop(struct ctl *ctl);

#endif
