/*
 * ctl.h - the control thread's own work: session and number pool
 * operations, the call records (CDR sink) and the expiry sweeper.
 *
 * The REST API (api.h) is one adapter over this: it parses and validates
 * HTTP requests into the plain C inputs below and turns the results into
 * replies; ctl knows nothing of HTTP. The next issues add here the events
 * outbox delivery, call-routing hooks and API-originated calls.
 *
 * Reads are answered at once from ctl's own store reader. Every change
 * goes through the writer (writer.h, group commit): a change function
 * copies its inputs, queues the change and returns; its done handler runs
 * later, from the event loop, once the batch holding it was committed (or
 * was not). So a caller never hears "done" for what is not on disk.
 *
 * ctl talks to the SIP thread only through its command queue
 * (sip_cmd_*() in sip.h): a session closed while one of its calls is up
 * tells the SIP thread to end that call. It never touches a SIP object.
 *
 * Owned by the control thread; not thread-safe. Nothing here blocks on
 * another thread.
 */
#ifndef MASKD_CTL_H
#define MASKD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "maskd/config.h"
#include "maskd/log.h"
#include "maskd/net.h"
#include "maskd/sip.h"
#include "maskd/store.h"
#include "maskd/webhook.h"
#include "maskd/writer.h"

struct ctl;
struct sip;

/*
 * ctl_start() - ctl on @base, reading @st through its own reader and
 * writing through @w; starts the sweeper, which moves sessions past
 * expires_at to expired within a second and deletes ended sessions (with
 * their call records) older than cfg->store.retention_s. @cfg, @st, @w,
 * @base and @log are borrowed and must outlive the ctl. Returns 0 or an
 * errno.
 */
int ctl_start(struct ctl **ctlp, struct event_base *base,
	      const struct config *cfg, struct store *st, struct writer *w,
	      struct log *log);

/*
 * ctl_stop() - stop the sweeper, run what is still queued in the writer
 * (every pending done handler, CDRs included, runs now), free. NULL-safe.
 * Callers whose done handlers are pending must still be alive.
 */
void ctl_stop(struct ctl *ctl);

/*
 * ctl_flush() - run every queued change now, done handlers included
 * (shutdown: the API answers whoever waits).
 */
void ctl_flush(struct ctl *ctl);

/*
 * ctl_set_sip() - the SIP side to send commands to from now on (NULL:
 * none). Borrowed; clear it before the sip is stopped.
 */
void ctl_set_sip(struct ctl *ctl, struct sip *sip);

struct cluster;

/*
 * ctl_set_cluster() - [cluster] mode from now on: session creates and
 * closes go to PostgreSQL through @c (borrowed; NULL: single-node, LMDB
 * alone), then into this node's LMDB with their events
 * (src/ctl/ctl_cluster.c). ctl_session_create() and ctl_session_close()
 * then also return ENOTCONN (PostgreSQL unreachable: 503), and their
 * handlers get @lost with ENOTCONN, ECONNRESET (outcome unknown), EBUSY
 * or EIO. Reads, patches and the sweeper stay local for now.
 */
void ctl_set_cluster(struct ctl *ctl, struct cluster *c);

struct sip_miss_ask;

/*
 * ctl_cluster_miss() - a sip_miss_h for cluster mode (main.c installs
 * it with sip_miss_set()): @q is copied to the control thread, asked of
 * PostgreSQL (cluster_session_lookup()), a session found is written into
 * this node's LMDB, and only then is the SIP thread told
 * (sip_cmd_miss_answer()), so its second lookup finds it. Any thread.
 * Returns 0, ENOSYS (not in cluster mode) or ENOMEM.
 */
int ctl_cluster_miss(struct ctl *ctl, const struct sip_miss_ask *q);

/* ---- done handlers ---- */

/*
 * A change's outcome. @err is 0, or the store's refusal of the change
 * (as the store_*() function documents it: EEXIST, ENOSPC, ...) with
 * @lost false; or, with @lost true, why nothing reached the disk - the
 * change may have been fine, but its batch was not committed (or never
 * began). The result pointers are valid only during the call, and only
 * when @err is 0.
 */
typedef void (ctl_session_h)(int err, bool lost, const struct session *s,
			     void *arg);
typedef void (ctl_number_h)(int err, bool lost, const struct pool_number *n,
			    void *arg);
typedef void (ctl_done_h)(int err, bool lost, void *arg);

/* ctl_clustered() - [cluster] store is set (ctl_set_cluster()): the
 * sessions and the pool are PostgreSQL's. */
bool ctl_clustered(const struct ctl *ctl);

/* ---- sessions ---- */

/*
 * ctl_session_create() - create a session (VN allocated from the pool
 * when p->vn is NULL or ""; see store_session_create(): ENOTUNIQ is a
 * PIN conflict, EADDRNOTAVAIL no free number local to the geo party with
 * p->geo_strict). @p is copied, its PINs too (wiped once done). The
 * session handed to @h has geo_matched set; a create asking for
 * geo-match counts in maskd_alloc_geo_matched_total or, given a number
 * from the whole pool, maskd_alloc_geo_fallback_total.
 * Returns 0 (then @h runs exactly once, with the session as stored) or
 * ENOMEM (nothing queued, @h never runs).
 */
int ctl_session_create(struct ctl *ctl, const struct session_params *p,
		       ctl_session_h *h, void *arg);

/*
 * ctl_session_patch() - apply @p to an active session. @ttl_ms > 0 sets
 * expires_at to @ttl_ms after the moment the change runs (p's own
 * expires_at is then ignored). @p is copied. Returns as
 * ctl_session_create(); @h gets ENOENT, EALREADY (ended) or EINVAL as
 * store_session_update() does.
 */
int ctl_session_patch(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      const struct session_patch *p, int64_t ttl_ms,
		      ctl_session_h *h, void *arg);

/*
 * ctl_session_close() - end an active session now (status closed). Once
 * that is on disk, a call of the session that is still up is ended by
 * the SIP thread (BYE both legs, CDR reason "session_closed"); a command
 * the SIP thread's full queue refuses is logged and counted
 * (ctl_stats.sip_cmds_lost). Returns as ctl_session_create(); @h gets
 * ENOENT or EALREADY as store_session_close() does.
 */
int ctl_session_close(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      ctl_session_h *h, void *arg);

/* ctl_session_get() - as store_session_get(), now; in cluster mode also
 * a session this node created and answered whose cache write has not
 * committed yet (a few ms). */
int ctl_session_get(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		    struct session *out);

/* ctl_session_list() - as store_session_list(), now. */
int ctl_session_list(struct ctl *ctl, const struct session_filter *f,
		     session_list_h *h, void *arg, bool *more);

/*
 * ctl_session_calls() - session @id into *s (as ctl_session_get(); the
 * caller owns its strings, also on error) and then each of its call
 * records, oldest first, to @h. Returns 0, ENOENT, or an errno.
 */
int ctl_session_calls(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      struct session *s, cdr_list_h *h, void *arg);

/*
 * ctl_session_calls_all() - cluster mode: ctl_session_calls() with the
 * records every node exported to PostgreSQL too (a call of this session
 * through another node), merged with this node's own (some not exported
 * yet), oldest first. @h gets 0, the session and the records (valid
 * during the call), or ENOMEM; PostgreSQL unreachable: this node's
 * records alone. It may run before this returns. Returns 0 (@h will be
 * or was called), ENOENT (no such session here: @h not called), ENOSYS
 * (single-node mode: use ctl_session_calls()) or an errno of the store.
 */
typedef void (ctl_calls_h)(int err, const struct session *s,
			   const struct cdr *c, size_t n, void *arg);
int ctl_session_calls_all(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
			  ctl_calls_h *h, void *arg);

/* ---- the number pool ---- */

/*
 * ctl_number_add() - add @vn (E.164, validated) with @country ("" or two
 * letters). @h gets the number as added, or EEXIST. Returns as
 * ctl_session_create().
 */
int ctl_number_add(struct ctl *ctl, const char *vn, const char *country,
		   ctl_number_h *h, void *arg);

/* ctl_number_remove() - @h gets 0, ENOENT or EBUSY (in an active
 * session). Returns as ctl_session_create(). */
int ctl_number_remove(struct ctl *ctl, const char *vn, ctl_done_h *h,
		      void *arg);

/* ctl_number_get() / ctl_number_list() - as store_pool_get/list(). */
int ctl_number_get(struct ctl *ctl, const char *vn, struct pool_number *out);
int ctl_number_list(struct ctl *ctl, pool_list_h *h, void *arg);

/*
 * ctl_number_list_all() - cluster mode: the pool as PostgreSQL has it
 * (active counts of every node's sessions), in number order; @vn
 * non-NULL: that number alone. @h gets 0 and the numbers (valid during
 * the call), ENOENT (@vn not in the pool), or an errno (PostgreSQL out
 * of reach: ENOTCONN, ECONNRESET, EIO; ENOMEM). Returns 0 (@h will be
 * called), ENOSYS (single-node mode: ctl_number_get/list()) or an errno
 * (@h will not be). ctl_number_add() and ctl_number_remove() go to
 * PostgreSQL by themselves in cluster mode.
 */
typedef void (ctl_numbers_h)(int err, const struct pool_number *v, size_t n,
			     void *arg);
int ctl_number_list_all(struct ctl *ctl, const char *vn, ctl_numbers_h *h,
			void *arg);

/* ---- call records ---- */

/*
 * ctl_cdr_store() - queue call record @c (copied) for the store. main.c
 * calls it from the mailbox the SIP thread posts into. A record that
 * cannot be queued or committed is logged and counted (cdrs_lost), never
 * silently dropped.
 */
void ctl_cdr_store(struct ctl *ctl, const struct cdr *c);

/* ---- calls the API drives (ctl_call.c) ---- */

/*
 * Request-a-call, a live call's view and hang-up, and participants go to
 * the SIP thread as commands (sip_cmd_call()); its answer comes back
 * through a mailbox of ctl's own and runs the caller's handler on the
 * control thread. A request the SIP thread does not answer within
 * CTL_CALL_WAIT_MS gets ETIMEDOUT; one pending when ctl_set_sip(NULL)
 * runs (shutdown) gets ECANCELED.
 */
#define CTL_CALL_WAIT_MS 10000

/*
 * ctl_call_h - the SIP thread's answer: @err 0 with @v the call after the
 * request (a copy, valid during the call), or why not (see struct
 * sip_reply in sip.h, plus ETIMEDOUT and ECANCELED above). @leg: a new
 * participant's leg id.
 */
typedef void (ctl_call_h)(int err, const struct sip_call_view *v,
			  unsigned leg, void *arg);

struct ctl_call_params {
	bool a_first;			/* party_a is called first */
	uint32_t ring_timeout_s;	/* 0: [session] ring_timeout */
	bool time_limit_set;		/* else the session's (or config's) */
	uint32_t time_limit_s;		/* 0 = none */
};

/*
 * ctl_call_originate() - request-a-call for session @sid: the session
 * must exist (ENOENT) and be active (EALREADY); then the SIP thread
 * calls the first party and answers through @h (0: it claimed the
 * session and the first INVITE is out; EBUSY: the session has a call
 * up; ENOSPC: no relay ports; ESHUTDOWN: every SIP worker is draining).
 * Returns 0 (@h runs exactly once),
 * ENOTCONN (no SIP side), ENOSPC (its queue is full, counted in
 * sip_cmds_lost), ENOMEM or a store errno (@h never runs).
 */
int ctl_call_originate(struct ctl *ctl, const uint8_t sid[STORE_ID_LEN],
		       const struct ctl_call_params *p, ctl_call_h *h,
		       void *arg);

/*
 * ctl_call_get() / ctl_call_hangup() - the live call @call_id (any call,
 * inbound or not): its view; or hang it up, every leg at any stage (CDR
 * reason "api_hangup"). @h gets ENOENT when no call with that id is up
 * (ctl_call_record() then tells a finished one). Returns as
 * ctl_call_originate().
 */
int ctl_call_get(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		 ctl_call_h *h, void *arg);
int ctl_call_hangup(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		    ctl_call_h *h, void *arg);

/*
 * ctl_call_participant_add() - call @number (E.164) from the call's VN
 * into live call @call_id, up to [conference] max_participants people
 * on it. @h gets 0 and the new leg id, ENOENT, EALREADY (not bridged
 * yet), ENOSPC (at the cap or no ports), EAGAIN (try again), EPROTO
 * (the call's codec cannot be mixed). Returns as ctl_call_originate().
 */
int ctl_call_participant_add(struct ctl *ctl,
			     const uint8_t call_id[STORE_ID_LEN],
			     const char *number, ctl_call_h *h, void *arg);

/* ctl_call_participant_remove() - BYE (or CANCEL) participant @leg; @h
 * gets 0, ENOENT (no such call) or ESRCH (no such participant). */
int ctl_call_participant_remove(struct ctl *ctl,
				const uint8_t call_id[STORE_ID_LEN],
				unsigned leg, ctl_call_h *h, void *arg);

/*
 * SIP workers (PATCH /v1/sip/workers/{worker}). ctl_worker_h - the
 * worker's answer: @err 0 with @v the worker after the change, or
 * ETIMEDOUT / ECANCELED as above.
 */
typedef void (ctl_worker_h)(int err, const struct sip_worker_view *v,
			    void *arg);

/*
 * ctl_sip_worker_set() - drain worker @worker (@drain) or resume it,
 * through its own command queue; @h runs once it has. Returns 0 (@h
 * runs exactly once), ENOENT (no such worker), ENOTCONN, ENOSPC or
 * ENOMEM (@h never runs).
 */
int ctl_sip_worker_set(struct ctl *ctl, unsigned worker, bool drain,
		       ctl_worker_h *h, void *arg);

/*
 * ctl_sip_worker_view() - worker @worker now (sip_worker_view()); 0,
 * ENOENT or ENOTCONN. ctl_sip_workers(): how many (0: no SIP side).
 */
int ctl_sip_worker_view(struct ctl *ctl, unsigned worker,
			struct sip_worker_view *v);
unsigned ctl_sip_workers(struct ctl *ctl);

/*
 * ctl_call_record() - the record of finished call @call_id into *c and
 * its session into *s (the caller owns its strings, also on error); a
 * session-less record (cdr_sessionless()) leaves *s untouched.
 * Returns 0, ENOENT, or a store errno.
 */
int ctl_call_record(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		    struct cdr *c, struct session *s);
/*
 * ctl_call_record_all() - cluster mode: ctl_call_record() of a call this
 * node has no record of, from the records every node exported to
 * PostgreSQL; its session from this node's cache, else PostgreSQL. @h
 * gets 0, the record and its session (NULL: a session-less record),
 * ENOENT (no such record, or its session is gone, as ctl_call_record()
 * says), or an errno (PostgreSQL out of reach).
 * Returns 0 (@h will be called), ENOSYS (single-node mode) or an errno.
 */
typedef void (ctl_record_h)(int err, const struct cdr *c,
			    const struct session *s, void *arg);
int ctl_call_record_all(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
			ctl_record_h *h, void *arg);
/* ctl_cdr_get() - the stored record of call @call_id (store_cdr_get()):
 * 0, ENOENT or an errno. Control thread. */
int ctl_cdr_get(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		struct cdr *out);

/*
 * ctl_cdr_recording_json() - the "recording" object of call record @c
 * (as GET /v1/sessions/{id}/calls and recording.ready show it: format,
 * duration_ms, bytes, sha256, url), or JSON null when it has no finished
 * recording. A new reference; NULL on ENOMEM. Any thread.
 */
json_t *ctl_cdr_recording_json(const struct cdr *c);

struct rec_result;

/*
 * ctl_rec_result() - a recording ended or was purged (recorder.h): the
 * call record's recording fields are updated and recording.ready or
 * recording.failed written in the same transaction. A record not yet
 * stored (its call's CDR is still on its way) is tried again for a
 * while. Control thread; @r is copied.
 */
void ctl_rec_result(struct ctl *ctl, const struct rec_result *r);

/*
 * ctl_rec_delete() - DELETE /v1/calls/{id}/recording: remove the file
 * of call @call_id and mark its record deleted; @done gets 0, ENOENT
 * (no such call, or no recording) or an errno. Control thread.
 */
int ctl_rec_delete(struct ctl *ctl, const uint8_t call_id[STORE_ID_LEN],
		   ctl_done_h *done, void *arg);

/* ---- events (ctl_event.c) ---- */

#define CTL_EVENTS_MAX_PENDING 1000000

/*
 * The [events] settings. An event is written, in the transaction of the
 * change it reports, only when it can go somewhere: @url ([events] url)
 * or the session's callback_url. Delivery (ctl_deliver.c) runs when
 * @n_keys > 0. Pointers are borrowed and must outlive the ctl.
 */
struct ctl_events_conf {
	bool url_set;
	const char *url;		/* "" or NULL = none */
	uint64_t max_pending;		/* 0 = unbounded */
	int64_t retention_ms;		/* delivered events kept this long */
	const struct webhook_key *keys;	/* signing secrets, decoded */
	size_t n_keys;
	uint32_t schedule_s[WEBHOOK_SCHEDULE_MAX];
	size_t n_schedule;
	uint32_t timeout_s;
	uint32_t concurrency;		/* per endpoint */
	int64_t disable_after_ms;
	const struct net_cidr *allow;	/* private ranges let through */
	size_t n_allow;
};

/* ctl_events_configure() - from now on (start-up, before any change);
 * starts delivery when c->n_keys > 0. Returns 0 or an errno (libcurl). */
int ctl_events_configure(struct ctl *ctl, const struct ctl_events_conf *c);

/*
 * ctl_event_url_check() - may @url receive events? http or https, and
 * its host, when it is an IP literal, outside loopback, private,
 * link-local and multicast ranges unless c->allow covers it (names are
 * checked again after resolution, at delivery). 0 or EINVAL with @why.
 */
int ctl_event_url_check(struct ctl *ctl, const char *url, char *why,
			size_t whylen);

/* An endpoint as GET /v1/webhooks shows it. */
struct ctl_webhook {
	const char *url;
	bool disabled;
	char disabled_reason[64];
	int64_t failing_since_ms;	/* 0 = last attempt succeeded */
	uint64_t delivered, failed;
	uint16_t last_code;
	unsigned in_flight;
};

typedef int (ctl_webhook_h)(const struct ctl_webhook *w, void *arg);

/* ctl_webhooks_list() - every endpoint delivery has seen since start. */
int ctl_webhooks_list(struct ctl *ctl, ctl_webhook_h *h, void *arg);

/* ctl_webhook_enable() - re-enable endpoint @url. 0 or ENOENT. */
int ctl_webhook_enable(struct ctl *ctl, const char *url);

/* ctl_event_redeliver() - event @id pending again, due now; @h gets 0,
 * ENOENT. Returns as ctl_session_create(). */
int ctl_event_redeliver(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
			ctl_done_h *h, void *arg);

/* ctl_events_list() / ctl_event_get() - as store_event_list/get(), now. */
int ctl_events_list(struct ctl *ctl, const struct event_filter *f,
		    event_list_h *h, void *arg, bool *more);
int ctl_event_get(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		  struct event *out);

/* ---- the call-routing hook (ctl_hook.c) ---- */

struct sip_hook_ask;

/*
 * ctl_hook_start() - answer the SIP thread's routing questions from now
 * on by asking [hooks] route_url (a signed POST, the [events] secrets
 * that ctl_events_configure() was given; libcurl multi on this loop).
 * Nothing without a route_url. Start-up, after ctl_events_configure().
 * Returns 0, EINVAL (a route_url the SSRF rules refuse, logged) or an
 * errno.
 */
int ctl_hook_start(struct ctl *ctl);

/*
 * ctl_hook_ask() - a parked INVITE's question @q (copied). ANY THREAD:
 * it is the SIP thread's sip_hook_h; the copy crosses by a mailbox into
 * the control thread, which asks the hook and sends the decision back
 * with sip_cmd_hook_answer() to the sip of ctl_set_sip(). A connect with
 * create_session creates the session first (ctl_session_create(): party
 * a the caller, party b the hook's number, the dialled VN); a create the
 * store refuses still connects the call, without a session (counted in
 * maskd_hook_sessions_refused_total). Returns 0, ENOSYS (no hook
 * started) or ENOMEM.
 */
int ctl_hook_ask(struct ctl *ctl, const struct sip_hook_ask *q);

/* ---- counters ---- */

struct ctl_stats {
	uint64_t creates;		/* sessions created since start */
	uint64_t expiries;		/* sessions the sweeper expired */
	uint64_t cdrs_written;		/* call records committed */
	uint64_t cdrs_lost;		/* not queued, or not committed */
	uint64_t sip_cmds_lost;		/* refused: the SIP queue was full */
	struct writer_stats writer;	/* the group commit */
};

void ctl_stats_get(const struct ctl *ctl, struct ctl_stats *out);

struct metrics;

/*
 * ctl_metrics_register() - show ctl's counters (src/ctl/ctl_metrics.inc)
 * in @reg from now on; ctl_stop() takes them off first. Control thread.
 * Returns 0 or an errno of metrics_register().
 */
int ctl_metrics_register(struct ctl *ctl, struct metrics *reg);

/* How full the store's map is (ctl_store_room()). */
struct ctl_store_room {
	uint64_t used;		/* bytes in use (or the file's high-water
				 * mark, when that alone shows room) */
	uint64_t map;		/* [store] map_size */
	uint64_t reserve;	/* kept free for what frees space or must
				 * not be lost: 5% of map, >= 256 KiB */
	bool full;		/* used + reserve > map */
};

/*
 * ctl_store_room() - read the map's room now, for the API's 507
 * store_full guard before a write that grows the store. Cheap while the
 * file's high-water mark leaves the reserve free (no walk); above it the
 * free list is walked (a few pages: LMDB reuses freed pages before it
 * grows the file). Returns 0 or an errno of the store.
 */
int ctl_store_room(struct ctl *ctl, struct ctl_store_room *out);

/* ctl_store_stats() - the store's durable counters, now. */
int ctl_store_stats(struct ctl *ctl, struct store_stats *out);

#endif
