/*
 * api_internal.h - what the api's files share; not part of any contract.
 *
 * api.c        the server: listening, routing, auth, metrics
 * api_reply.c  replies (each counted and logged), write requests' context
 * api_conn.c   connections: TLS or not, deadlines, the cap
 * api_full.c   the store-full guard (507 store_full)
 * api_json.c   request parsing and validation, session -> JSON, times
 * api_sessions.c  /v1/sessions
 * api_numbers.c   /v1/numbers
 * api_calls.c     GET /v1/sessions/{id}/calls
 * api_call.c      POST /v1/sessions/{id}/calls, /v1/calls/...
 * api_sip.c       /v1/sip/workers (drain and resume a SIP worker)
 *
 * The api only speaks HTTP: every read and change goes to ctl (ctl.h).
 * Everything here is owned by the control thread.
 */
#ifndef MASKD_API_INTERNAL_H
#define MASKD_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "maskd/api.h"
#include "maskd/ctl.h"
#include "maskd/clock.h"
#include "maskd/flood.h"
#include "maskd/metrics.h"

#define API_DIGEST_LEN 32		/* SHA-256 */
#define API_MAX_STATUS 600		/* counters for codes 0..599 */
#define API_MAX_HTTP_BODY (1024 * 1024)	/* evhttp's own hard limit */
#define API_MAX_HEADERS (16 * 1024)
#define API_TIMEOUT_S 30
#define API_DRAIN_MS 1000		/* api_stop() waits for replies */
#define API_STORE_LOG_MS 60000		/* one "store full" line a minute */
#define API_LIST_DEFAULT 100
#define API_LIST_MAX 1000
#define API_METADATA_MAX (16 * 1024)	/* serialized bytes */
#define API_URL_MAX 2048
#define API_MSG_SIZE 256
#define API_TIME_SIZE CLOCK_RFC3339_SIZE
#define API_CONN_BUCKETS 1024		/* open connections, hashed */

/* In-memory counters since start, for /metrics: api_metrics.inc. */
struct api_counters {
#define X METRICS_X_PLAIN
#define XL METRICS_XL_PLAIN
#include "api_metrics.inc"
#undef X
#undef XL
};

struct api_conn;

struct api {
	struct event_base *base;		/* borrowed */
	const struct config *cfg;		/* borrowed */
	struct ctl *ctl;			/* borrowed */
	struct log *log;			/* borrowed */

	struct evhttp *http;
	struct evhttp_bound_socket *listener;

	uint8_t (*tokens)[API_DIGEST_LEN];	/* SHA-256 of each token */
	struct tbucket *buckets;		/* rate limit, one per token */
	size_t n_tokens;
	SSL_CTX *tls;				/* NULL = plain HTTP */

	unsigned in_flight;		/* requests waiting for a commit */
	bool stopping;			/* api_stop() is draining */

	/* Connections whose reply is still being written (evhttp has at most
	 * one per connection): api_stop() waits for them to empty. */
	struct evhttp_connection **sending;
	size_t n_sending, cap_sending;

	/* Every open connection (api_conn.c): its request deadline, and the
	 * count for [api] max_connections. */
	struct api_conn *conn_pending;	/* accepted, not yet adopted */
	struct api_conn *conns[API_CONN_BUCKETS];	/* adopted, by evcon */
	size_t n_conns;
	bool accept_paused;		/* the listener is off at the cap */
	struct bufferevent *refusal;	/* spare, for api_conn_bev() */
	int64_t tls_warned_ms;		/* last TLS failure logged */
	uint64_t tls_unlogged;		/* TLS failures since then */
	/* The store-full guard (api_full.c): whether the map was nearly full
	 * at the last check; refusals counted for the next log line. */
	bool store_full;
	struct ctl_store_room room;	/* as of that check */
	int64_t store_logged_ms;
	uint64_t store_refused;

	struct api_counters ctr;
	struct metrics *metrics;	/* borrowed; api_metrics_register() */
};

/*
 * A client error, built by the validators and sent by api_reply_err().
 * @code is a static string ("invalid_field"); @message names the field.
 */
struct api_err {
	int status;
	const char *code;
	char message[API_MSG_SIZE];
};

/*
 * One write request waiting for ctl: allocated per request, freed by its
 * done handler after the reply is sent. It holds what validation made of
 * the body, which ctl copies when the change is queued.
 */
struct api_call {
	struct api *api;
	struct evhttp_request *req;
	bool submitted;			/* counted in api->in_flight */

	/* sessions */
	uint8_t id[STORE_ID_LEN];
	char party_a[E164_SIZE];
	char party_b[E164_SIZE];
	char vn[E164_SIZE];
	char *callback_url;		/* owned */
	char *metadata;			/* owned */
	char pin_a[STORE_PIN_SIZE];	/* secrets: wiped by api_call_free() */
	char pin_b[STORE_PIN_SIZE];
	struct session_params params;	/* points into the above */
	struct session_patch patch;	/* callback_url points above */
	int64_t ttl_ms;			/* PATCH ttl; counted from the op */

	/* numbers */
	char country[STORE_COUNTRY_SIZE];
};

/* ---- api.c ---- */

/* ---- api_reply.c ---- */

/* api_method_name() - "GET", ...; "?" for others. */
const char *api_method_name(enum evhttp_cmd_type m);

/*
 * api_send() - every reply goes out here: counted, logged, and waited
 * for by api_stop().
 */
void api_send(struct api *api, struct evhttp_request *req, int status,
	      const char *ctype, const char *body, size_t len);

/*
 * api_send_file() - send @len bytes of @fd (taken: closed when sent or
 * on failure) from @off as the body, like api_send(). For recordings:
 * the file is not read into memory.
 */
void api_send_file(struct api *api, struct evhttp_request *req, int status,
		   const char *ctype, int fd, off_t off, off_t len);

/* api_reply_json() - send @status with @body (stolen; NULL = no body). */
void api_reply_json(struct api *api, struct evhttp_request *req, int status,
		    json_t *body);

/* api_reply_error() - send {"error":{"code":...,"message":...}}. */
void api_reply_error(struct api *api, struct evhttp_request *req, int status,
		     const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* api_reply_err() - send what a validator put into @e. */
void api_reply_err(struct api *api, struct evhttp_request *req,
		   const struct api_err *e);

/* api_call_new() / api_call_free() - a write request's context. */
int api_call_new(struct api *api, struct evhttp_request *req,
		 struct api_call **cp);
void api_call_free(struct api_call *c);

/*
 * api_call_queued() - @err is what a ctl change function returned for
 * @c: 0 (counted in in_flight until @c is freed), or an errno, when the
 * client gets a 503 here and @c is freed, so the caller never touches @c
 * again.
 */
void api_call_queued(struct api_call *c, int err);

/*
 * api_call_lost() - true when a done handler's @lost says the change did
 * not reach the disk (@err why); the 503 has then been sent.
 */
bool api_call_lost(struct api_call *c, int err, bool lost);

/*
 * api_call_refused() - answer what a ctl call function refused before
 * the SIP side saw anything (@err: ENOENT is a 404 "no such @what",
 * EALREADY a 409, anything else a 503) and free @c.
 */
void api_call_refused(struct api_call *c, int err, const char *what);

/*
 * api_call_common_err() - what every answer from the SIP side may be
 * beside the request's own: ECANCELED (maskd stopping), ETIMEDOUT (no
 * answer in time), ENOMEM. True when @err was one and its error reply is
 * sent; @c is still the caller's to free.
 */
bool api_call_common_err(struct api_call *c, int err);

/*
 * api_sending_remove() - @evcon's reply is out, or it is closing: no
 * longer waited for by api_stop().
 */
void api_sending_remove(struct api *api, struct evhttp_connection *evcon);

/* ---- api_full.c ---- */

/*
 * api_store_refuse() - before queueing a write that grows the store: when
 * the map is nearly full (ctl_store_room()), answer 507 store_full,
 * log it (at most once a minute) and return true; the caller then frees
 * its request context and is done.
 */
bool api_store_refuse(struct api *api, struct evhttp_request *req);

/*
 * api_reply_store_err() - a write the store did not take: 507 store_full
 * when @err is EDQUOT (the map is full), else 503 store_unavailable.
 * @what says what was lost ("the session could not be stored").
 */
void api_reply_store_err(struct api *api, struct evhttp_request *req,
			 int err, const char *what);

/* ---- api_conn.c ---- */

/*
 * api_conn_bev() - evhttp's bufferevent callback (evhttp_set_bevcb()): the
 * bufferevent for a connection just accepted, TLS when [api] tls_cert is
 * set, given a request deadline ([api] request_timeout) and counted
 * against [api] max_connections. When a TLS connection cannot have its
 * TLS state, the bufferevent returned makes evhttp close it unserved.
 */
struct bufferevent *api_conn_bev(struct event_base *base, void *arg);

/* api_conn_request() - @req is in whole: its connection's deadline is off
 * until api_conn_replied(). */
void api_conn_request(struct api *api, struct evhttp_request *req);

/* api_conn_replied() - a reply went out on @evcon: the next request on it
 * has request_timeout from now. */
void api_conn_replied(struct api *api, struct evhttp_connection *evcon);

/* api_conn_count() - connections open, for /metrics. */
size_t api_conn_count(const struct api *api);

/* api_conn_stop() - after evhttp_free(): free what is left. */
void api_conn_stop(struct api *api);

/* ---- api_json.c ---- */

void api_err_set(struct api_err *e, int status, const char *code,
		 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* api_utf8_fix() - make @s valid UTF-8 in place: each byte that does not
 * begin a whole, well-formed sequence becomes '?'. */
void api_utf8_fix(char *s);

/* api_time_format() - @ms as RFC 3339 UTC with milliseconds. */
void api_time_format(int64_t ms, char out[API_TIME_SIZE]);

/* api_time_parse() - RFC 3339 date-time into ms; 0 or EINVAL. */
int api_time_parse(const char *s, int64_t *ms);

/*
 * api_json_parse() - @len bytes of @data as a JSON object (duplicate keys
 * refused). 413 when @len > @max, 400 otherwise. Pure: the fuzzer's door.
 */
int api_json_parse(const char *data, size_t len, size_t max, json_t **objp,
		   struct api_err *e);

/*
 * api_body_parse() - the request body as a JSON object. Returns 0 and
 * sets *objp (caller decrefs), or EINVAL with @e filled (413, 400).
 */
int api_body_parse(struct api *api, struct evhttp_request *req,
		   json_t **objp, struct api_err *e);

/* api_body_check_keys() - EINVAL when @obj has a key not in @allowed
 * (NULL-terminated). */
int api_body_check_keys(const json_t *obj, const char *const *allowed,
			struct api_err *e);

/*
 * The field getters: *present (may be NULL) says whether the key was
 * there; JSON null counts as absent unless the getter says otherwise.
 * Each returns 0 or EINVAL with @e naming the field.
 */
int api_get_e164(const json_t *obj, const char *key, bool required,
		 char out[E164_SIZE], bool *present, struct api_err *e);
int api_get_uint(const json_t *obj, const char *key, uint64_t min,
		 uint64_t max, uint64_t *out, bool *present,
		 struct api_err *e);
int api_get_bool(const json_t *obj, const char *key, bool *out,
		 bool *present, struct api_err *e);
/* *out is NULL when the key is absent or null (then *is_null is true). */
int api_get_url(const json_t *obj, const char *key, char **out,
		bool *present, bool *is_null, struct api_err *e);

/* api_session_json() - @s as the API shows it; NULL on ENOMEM. */
json_t *api_session_json(const struct session *s);

/* api_time_json() - @ms as a JSON RFC 3339 string; NULL on ENOMEM. */
json_t *api_time_json(int64_t ms);

/* api_cdr_json() - call record @c of session @s (NULL: a session-less
 * record, cdr_sessionless()); NULL on ENOMEM. */
json_t *api_cdr_json(const struct cdr *c, const struct session *s);

/* api_pool_json() - one pool number; NULL on ENOMEM. */
json_t *api_pool_json(const struct pool_number *n);

/*
 * api_path_decode() - percent-decode one path segment ('+' stays '+').
 * Returns a malloc'd string, or NULL when it is malformed or holds a NUL.
 */
char *api_path_decode(const char *seg);

/*
 * A query string split into known parameters. Values are decoded copies
 * (owned, free with api_query_free()); '+' stays '+', because phone
 * numbers are sent unencoded more often than spaces are.
 */
struct api_query {
	size_t n;
	char **keys;
	char **vals;
};
int api_query_parse(const char *qs, struct api_query *q, struct api_err *e);
const char *api_query_get(const struct api_query *q, const char *key);
int api_query_check_keys(const struct api_query *q,
			 const char *const *allowed, struct api_err *e);
void api_query_free(struct api_query *q);

/* ---- api_sessions.c ---- */

/* api_create_parse() - a POST /v1/sessions body into @c; pure. */
int api_create_parse(const json_t *body, const struct config *cfg,
		     struct api_call *c, struct api_err *e);

/* api_id_parse() - a session id from the path; false after a 404. */
bool api_id_parse(struct api *api, struct evhttp_request *req, const char *s,
		  uint8_t id[STORE_ID_LEN]);

/* ---- api_events.c ---- */

void api_events_list(struct api *api, struct evhttp_request *req);
void api_event_redeliver(struct api *api, struct evhttp_request *req,
			 const char *eid);
void api_webhooks_get(struct api *api, struct evhttp_request *req);
void api_webhooks_patch(struct api *api, struct evhttp_request *req);

void api_sessions_create(struct api *api, struct evhttp_request *req);
void api_sessions_list(struct api *api, struct evhttp_request *req);
void api_session_get(struct api *api, struct evhttp_request *req,
		     const char *id);
void api_session_patch(struct api *api, struct evhttp_request *req,
		       const char *id);
void api_session_delete(struct api *api, struct evhttp_request *req,
			const char *id);

/* ---- api_calls.c ---- */

void api_session_calls(struct api *api, struct evhttp_request *req,
		       const char *id);
void api_call_recording_get(struct api *api, struct evhttp_request *req,
			    const char *id);
void api_call_recording_delete(struct api *api, struct evhttp_request *req,
			       const char *id);

/* ---- api_call.c ---- */

void api_session_call_create(struct api *api, struct evhttp_request *req,
			     const char *sid);
void api_call_get(struct api *api, struct evhttp_request *req,
		  const char *cid);
void api_call_delete(struct api *api, struct evhttp_request *req,
		     const char *cid);
void api_participant_add(struct api *api, struct evhttp_request *req,
			 const char *cid);
void api_participant_delete(struct api *api, struct evhttp_request *req,
			    const char *cid, const char *leg);

/* ---- api_sip.c ---- */

void api_sip_workers_list(struct api *api, struct evhttp_request *req);
void api_sip_worker_get(struct api *api, struct evhttp_request *req,
			const char *worker);
void api_sip_worker_patch(struct api *api, struct evhttp_request *req,
			  const char *worker);

/* ---- api_numbers.c ---- */

void api_numbers_list(struct api *api, struct evhttp_request *req);
void api_numbers_add(struct api *api, struct evhttp_request *req);
void api_number_get(struct api *api, struct evhttp_request *req,
		    const char *vn);
void api_number_delete(struct api *api, struct evhttp_request *req,
		       const char *vn);

#endif
