/*
 * api.c - the REST API server: listening, routing, auth, metrics, replies.
 *
 * Runs on the control thread's event base. Reads are answered at once
 * from the api's own store reader; writes become a struct api_call that
 * goes through the writer and is answered from its done handler, after
 * the batch holding it was committed.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_internal.h"
#include "maskd/relay.h"

#define API_LISTEN_BACKLOG 511

int64_t api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *api_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default:  return "Unknown";
	}
}

static const char *api_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:     return "GET";
	case EVHTTP_REQ_POST:    return "POST";
	case EVHTTP_REQ_HEAD:    return "HEAD";
	case EVHTTP_REQ_PUT:     return "PUT";
	case EVHTTP_REQ_DELETE:  return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:   return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:   return "PATCH";
	default:                 return "?";
	}
}

/*
 * The request line at debug level. The path of /v1/numbers/{vn} holds a
 * phone number, so that segment goes through log_mask_number() like every
 * other number; the query string (party=...) is never logged.
 */
static void api_log_request(struct api *api, struct evhttp_request *req,
			    int status)
{
	static const char numbers[] = "/v1/numbers/";
	const struct evhttp_uri *uri;
	const char *path = NULL;
	char mask[LOG_MASK_SIZE];
	char *vn;

	if (!api->log || api->log->level < LOG_LVL_DEBUG)
		return;

	uri = evhttp_request_get_evhttp_uri(req);
	if (uri)
		path = evhttp_uri_get_path(uri);
	if (!path)
		path = "?";

	if (strncmp(path, numbers, sizeof(numbers) - 1) == 0 &&
	    path[sizeof(numbers) - 1] != '\0') {
		vn = api_path_decode(path + sizeof(numbers) - 1);
		log_debug(api->log, "api: %s %s%s -> %d",
			  api_method_name(evhttp_request_get_command(req)),
			  numbers,
			  vn ? log_mask_number(api->log, vn, mask) : "?",
			  status);
		free(vn);
		return;
	}

	log_debug(api->log, "api: %s %s -> %d",
		  api_method_name(evhttp_request_get_command(req)), path,
		  status);
}

/*
 * The pointers in api->sending are only compared, never dereferenced, so
 * one left behind by a connection libevent freed without telling us costs
 * nothing but a longer drain.
 */
void api_sending_remove(struct api *api, struct evhttp_connection *evcon)
{
	size_t i;

	for (i = 0; i < api->n_sending; i++) {
		if (api->sending[i] != evcon)
			continue;
		api->sending[i] = api->sending[--api->n_sending];
		if (api->stopping && api->n_sending == 0)
			event_base_loopbreak(api->base);
		return;
	}
}

/* The reply's last byte went out: the next request's time starts. */
static void api_sent_cb(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	api_sending_remove(arg, evcon);
	api_conn_replied(arg, evcon);
}

/*
 * Remember that @req's reply is on its way, so api_stop() can wait for it.
 * Without memory it is simply not tracked: that costs at most the drain's
 * time limit at shutdown.
 */
static void api_sending_add(struct api *api, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evhttp_connection **n;
	size_t cap;

	if (!evcon)
		return;	/* the client is gone; nothing will be written */
	if (api->n_sending == api->cap_sending) {
		cap = api->cap_sending ? api->cap_sending * 2 : 64;
		n = realloc(api->sending, cap * sizeof(*n));
		if (!n)
			return;
		api->sending = n;
		api->cap_sending = cap;
	}
	api->sending[api->n_sending++] = evcon;
	/* a connection that closes first is taken off by api_conn.c */
	evhttp_request_set_on_complete_cb(req, api_sent_cb, api);
}

/*
 * Every reply goes out here, so this is where requests are counted and
 * logged.
 *
 * Why a reply sent long after the request (from a writer done handler) is
 * safe even when the client has hung up: libevent 2.1 stops reading a
 * connection once a whole request is in and until its reply is sent, so a
 * hang-up is only noticed when the reply is written. evhttp then frees the
 * connection and request itself. And if the connection does fail first
 * (read timeout, EOF), evhttp_connection_incoming_fail() detaches the
 * request instead of freeing it - it stays ours - and evhttp_send_reply()
 * on a detached request just frees it. So each request gets exactly one
 * reply, and never one after evhttp_free(): api_stop() flushes the writer
 * first.
 */
static void api_send(struct api *api, struct evhttp_request *req, int status,
		     const char *ctype, const char *body, size_t len)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);

	if (status >= 0 && status < API_MAX_STATUS)
		api->ctr.requests[status]++;
	api_log_request(api, req, status);
	api_sending_add(api, req);

	if (ctype)
		evhttp_add_header(hdrs, "Content-Type", ctype);
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
	if (body && len)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, status, api_reason(status), NULL);
}

void api_reply_json(struct api *api, struct evhttp_request *req, int status,
		    json_t *body)
{
	static const char oom[] = "{\"error\":{\"code\":\"internal\","
				  "\"message\":\"out of memory\"}}";
	char *text;

	if (!body) {
		api_send(api, req, status, NULL, NULL, 0);
		return;
	}

	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text) {
		api_send(api, req, 500, "application/json", oom,
			 sizeof(oom) - 1);
		return;
	}
	api_send(api, req, status, "application/json", text, strlen(text));
	free(text);
}

static void api_reply_errorv(struct api *api, struct evhttp_request *req,
			     int status, const char *code, const char *fmt,
			     va_list ap)
{
	char msg[API_MSG_SIZE];
	json_t *body;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	body = json_pack("{s:{s:s, s:s}}", "error", "code", code,
			 "message", msg);
	api_reply_json(api, req, status, body);
}

void api_reply_error(struct api *api, struct evhttp_request *req, int status,
		     const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_reply_errorv(api, req, status, code, fmt, ap);
	va_end(ap);
}

void api_reply_err(struct api *api, struct evhttp_request *req,
		   const struct api_err *e)
{
	api_reply_error(api, req, e->status, e->code, "%s", e->message);
}

/* ---- write requests ---- */

int api_call_new(struct api *api, struct evhttp_request *req,
		 struct api_call **cp)
{
	struct api_call *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->api = api;
	c->req = req;
	*cp = c;
	return 0;
}

void api_call_free(struct api_call *c)
{
	if (!c)
		return;
	if (c->submitted)
		c->api->in_flight--;
	free(c->callback_url);
	free(c->metadata);
	session_clear(&c->out);
	free(c);
}

void api_call_submit(struct api_call *c, writer_op_h *op, writer_done_h *done)
{
	struct api *api = c->api;
	int err;

	err = writer_submit(api->w, op, done, c);
	if (err) {
		log_warn(api->log, "api: cannot queue a write: %s",
			 strerror(err));
		api_reply_error(api, c->req, 503, "store_unavailable",
				"the store cannot take writes now");
		api_call_free(c);
		return;
	}
	c->submitted = true;
	api->in_flight++;
}

bool api_call_commit_failed(struct api_call *c, int err)
{
	int why;

	if (c->op_ran && (c->op_err != 0 || err == 0))
		return false;

	why = err ? err : EIO;
	log_warn(c->api->log, "api: write not committed: %s", strerror(why));
	api_reply_store_err(c->api, c->req, why,
			    "the change could not be stored");
	return true;
}

/* ---- auth ---- */

static int api_digest(const void *data, size_t len,
		      uint8_t out[API_DIGEST_LEN])
{
	unsigned int n = 0;

	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) ||
	    n != API_DIGEST_LEN)
		return EIO;
	return 0;
}

/*
 * Bearer tokens are compared as SHA-256 digests with CRYPTO_memcmp(): a
 * plain strcmp() returns sooner the earlier the first wrong byte is, and
 * comparing digests of equal length also keeps the token's length out of
 * the timing. Every configured token is compared, match or not.
 */
/*
 * api_authorized() - the index of the request's bearer token in the
 * configured list, or -1. Every token is compared, in constant time, so
 * neither which token matched nor how much of one did shows in the timing.
 */
static int api_authorized(struct api *api, struct evhttp_request *req)
{
	uint8_t md[API_DIGEST_LEN];
	const char *h, *tok;
	size_t len, i;
	int match = -1;

	h = evhttp_find_header(evhttp_request_get_input_headers(req),
			       "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return -1;

	tok = h + 7;
	while (*tok == ' ' || *tok == '\t')
		tok++;
	len = strlen(tok);
	while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	if (!len)
		return -1;

	if (api_digest(tok, len, md))
		return -1;
	for (i = 0; i < api->n_tokens; i++) {
		int eq = CRYPTO_memcmp(md, api->tokens[i], API_DIGEST_LEN) == 0;

		/* branch-free select: match = eq ? i : match */
		match = (int)((unsigned)match ^ (((unsigned)match ^ (unsigned)i) &
						 -(unsigned)eq));
	}
	OPENSSL_cleanse(md, sizeof(md));
	return match;
}

/* ---- public endpoints ---- */

static void api_healthz(struct api *api, struct evhttp_request *req)
{
	api_reply_json(api, req, 200, json_pack("{s:s}", "status", "ok"));
}

static void api_metric(struct evbuffer *b, const char *name,
		       const char *type, const char *help, uint64_t v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
			    name, help, name, type, name,
			    (unsigned long long)v);
}

/*
 * The B2BUA's counters, one row each: name, type, help and where the value
 * sits in struct sip_stats. Live ones must fall back to 0 when calls end.
 */
static const struct api_sip_metric {
	const char *name;
	const char *type;
	const char *help;
	size_t off;
} api_sip_metrics[] = {
	{ "maskd_sip_calls_live", "gauge",
	  "Calls with a leg still alive.",
	  offsetof(struct sip_stats, calls_live) },
	{ "maskd_sip_dialogs_live", "gauge",
	  "SIP dialogs (nta legs) alive.",
	  offsetof(struct sip_stats, dialogs_live) },
	{ "maskd_sip_transactions_live", "gauge",
	  "SIP transactions alive.",
	  offsetof(struct sip_stats, transactions_live) },
	{ "maskd_sip_calls_total", "counter",
	  "Inbound INVITEs routed since start.",
	  offsetof(struct sip_stats, calls_total) },
	{ "maskd_sip_calls_answered_total", "counter",
	  "Calls answered since start.",
	  offsetof(struct sip_stats, calls_answered) },
	{ "maskd_sip_rejected_source_total", "counter",
	  "Requests refused: source not in any trunk.",
	  offsetof(struct sip_stats, rejected_source) },
	{ "maskd_sip_rejected_unknown_total", "counter",
	  "INVITEs refused: no session for the pair.",
	  offsetof(struct sip_stats, rejected_unknown) },
	{ "maskd_sip_rejected_ended_total", "counter",
	  "INVITEs refused: the pair's session has ended.",
	  offsetof(struct sip_stats, rejected_ended) },
	{ "maskd_sip_rejected_busy_total", "counter",
	  "INVITEs refused: the session is already in a call.",
	  offsetof(struct sip_stats, rejected_busy) },
	{ "maskd_sip_malformed_total", "counter",
	  "Malformed SIP messages dropped or refused.",
	  offsetof(struct sip_stats, malformed) },
	{ "maskd_sip_options_total", "counter",
	  "Out-of-dialog OPTIONS answered.",
	  offsetof(struct sip_stats, options) },
	{ "maskd_sip_rejected_ports_total", "counter",
	  "INVITEs refused with 503: no free relay ports.",
	  offsetof(struct sip_stats, rejected_ports) },
	{ "maskd_sip_bad_sdp_total", "counter",
	  "SDP bodies that could not be rewritten (488 or dropped).",
	  offsetof(struct sip_stats, bad_sdp) },
	{ "maskd_sip_rtp_timeouts_total", "counter",
	  "Calls ended because no media flowed.",
	  offsetof(struct sip_stats, rtp_timeouts) },
	{ "maskd_sip_rtp_timeouts_lost_total", "counter",
	  "RTP timeout reports lost between relay and SIP thread.",
	  offsetof(struct sip_stats, rtp_timeouts_lost) },
	{ "maskd_sip_flood_blocked_total", "counter",
	  "Requests dropped or refused: source over [flood] rate.",
	  offsetof(struct sip_stats, flood_blocked) },
	{ "maskd_sip_scanner_dropped_total", "counter",
	  "Requests dropped silently: scanner User-Agent.",
	  offsetof(struct sip_stats, scanner_dropped) },
	{ "maskd_sip_cps_refused_total", "counter",
	  "INVITEs refused with 503: a calls-per-second cap.",
	  offsetof(struct sip_stats, cps_refused) },
	{ "maskd_sip_auth_retries_total", "counter",
	  "Requests sent to the gateway again with credentials.",
	  offsetof(struct sip_stats, auth_retries) },
	{ "maskd_sip_auth_failed_total", "counter",
	  "Calls failed: the gateway's authentication (403).",
	  offsetof(struct sip_stats, auth_failed) },
};

static void api_metrics_sip(struct evbuffer *b, struct sip *sip)
{
	const struct api_sip_metric *m;
	struct sip_stats ss;
	uint64_t v;
	size_t i;

	sip_stats_get(sip, &ss);
	for (i = 0; i < sizeof(api_sip_metrics) / sizeof(*m); i++) {
		m = &api_sip_metrics[i];
		memcpy(&v, (const char *)&ss + m->off, sizeof(v));
		api_metric(b, m->name, m->type, m->help, v);
	}
}

/* The media relay's counters: ports in use and calls live must fall back
 * to 0 once every call has ended. */
static void api_metrics_relay(struct evbuffer *b, struct relay *relay)
{
	struct relay_stats rs;

	relay_stats_get(relay, &rs);
	api_metric(b, "maskd_relay_workers", "gauge",
		   "Media relay worker threads.", rs.workers);
	api_metric(b, "maskd_relay_ports_total", "gauge",
		   "UDP ports in the relay's range.", rs.ports_total);
	api_metric(b, "maskd_relay_ports_free", "gauge",
		   "UDP ports free for new calls.", rs.ports_free);
	api_metric(b, "maskd_relay_ports_in_use", "gauge",
		   "UDP ports held by calls.", rs.ports_in_use);
	api_metric(b, "maskd_relay_calls_live", "gauge",
		   "Relay calls not yet freed.", rs.calls_live);
	api_metric(b, "maskd_relay_calls_total", "counter",
		   "Relay calls allocated since start.", rs.calls_total);
	api_metric(b, "maskd_relay_calls_refused_total", "counter",
		   "Relay calls refused since start: no free port pair.",
		   rs.calls_refused);
	api_metric(b, "maskd_relay_bind_failures_total", "counter",
		   "Relay ports skipped since start: bind() failed.",
		   rs.bind_failures);
	api_metric(b, "maskd_relay_timeouts_total", "counter",
		   "Relay calls reported silent since start.", rs.timeouts);
	api_metric(b, "maskd_relay_packets_total", "counter",
		   "RTP and RTCP packets relayed since start.", rs.packets);
	api_metric(b, "maskd_relay_bytes_total", "counter",
		   "UDP payload bytes relayed since start.", rs.bytes);
	api_metric(b, "maskd_relay_drops_total", "counter",
		   "Packets dropped by the relay since start.", rs.drops);
}

void api_set_relay(struct api *api, struct relay *relay)
{
	api->relay = relay;
}

/*
 * Prometheus text format 0.0.4. No auth: the listener is meant to be on
 * loopback or a management network, and scrapers rarely carry tokens.
 * Gauges come from the store's durable counters, the *_total counters
 * are this process's since it started.
 */
static void api_metrics(struct api *api, struct evhttp_request *req)
{
	struct store_stats ss;
	struct writer_stats ws;
	struct evbuffer *b;
	char *text = NULL;
	size_t len;
	int err, code;

	err = store_stats_get(api->rd, &ss);
	if (err) {
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
		return;
	}
	writer_stats_get(api->w, &ws);

	b = evbuffer_new();
	if (!b)
		goto oom;

	api_metric(b, "maskd_sessions_active", "gauge",
		   "Sessions currently active.", ss.sessions_active);
	api_metric(b, "maskd_pool_numbers", "gauge",
		   "Numbers in the virtual number pool.", ss.pool_numbers);
	api_metric(b, "maskd_session_creates_total", "counter",
		   "Sessions created since start.", api->ctr.creates);
	api_metric(b, "maskd_session_expiries_total", "counter",
		   "Sessions expired by the sweeper since start.",
		   api->ctr.expiries);
	api_metric(b, "maskd_store_commits_total", "counter",
		   "Write transactions committed since start.", ws.batches);
	api_metric(b, "maskd_store_ops_total", "counter",
		   "Write operations run since start.", ws.ops);
	api_metric(b, "maskd_store_commit_failures_total", "counter",
		   "Write transactions that failed to commit since start.",
		   ws.failures);
	api_metric(b, "maskd_store_map_bytes", "gauge",
		   "The store's map size: the most it may use.", ss.map_bytes);
	api_metric(b, "maskd_store_file_bytes", "gauge",
		   "Store pages ever used, in bytes (the file's high-water "
		   "mark; freed pages are reused first).", ss.file_bytes);
	api_metric(b, "maskd_store_used_bytes", "gauge",
		   "Store pages in use, in bytes (not on the free list).",
		   ss.used_bytes);
	api_metric(b, "maskd_store_purged_sessions_total", "counter",
		   "Ended sessions deleted by [store] retention, ever.",
		   ss.purged_sessions);
	api_metric(b, "maskd_store_purged_cdrs_total", "counter",
		   "Call records deleted by [store] retention, ever.",
		   ss.purged_cdrs);

	api_metric(b, "maskd_api_connections", "gauge",
		   "API client connections open.", api_conn_count(api));
	api_metric(b, "maskd_api_request_timeouts_total", "counter",
		   "API connections closed: no whole request within "
		   "[api] request_timeout.", api->ctr.request_timeouts);
	api_metric(b, "maskd_api_accept_paused_total", "counter",
		   "Times the API stopped accepting at [api] max_connections.",
		   api->ctr.accept_paused);

	api_metric(b, "maskd_cdrs_written_total", "counter",
		   "Call records committed since start.", api->cdrs_written);
	api_metric(b, "maskd_cdrs_lost_total", "counter",
		   "Call records that could not be stored since start.",
		   api->cdrs_lost);
	if (api->sip)
		api_metrics_sip(b, api->sip);
	if (api->relay)
		api_metrics_relay(b, api->relay);

	evbuffer_add_printf(b,
		"# HELP maskd_api_requests_total API requests answered "
		"since start, by HTTP status.\n"
		"# TYPE maskd_api_requests_total counter\n");
	for (code = 0; code < API_MAX_STATUS; code++) {
		if (!api->ctr.requests[code])
			continue;
		evbuffer_add_printf(b,
			"maskd_api_requests_total{code=\"%d\"} %llu\n", code,
			(unsigned long long)api->ctr.requests[code]);
	}

	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	if (!text)
		goto oom;
	evbuffer_remove(b, text, len);
	evbuffer_free(b);
	api_send(api, req, 200, "text/plain; version=0.0.4; charset=utf-8",
		 text, len);
	free(text);
	return;
 oom:
	if (b)
		evbuffer_free(b);
	api_reply_error(api, req, 500, "internal", "out of memory");
}

/* ---- routing ---- */

static void api_not_allowed(struct api *api, struct evhttp_request *req,
			    const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  allow);
	api_reply_error(api, req, 405, "method_not_allowed",
			"%s is not allowed here; use %s",
			api_method_name(evhttp_request_get_command(req)),
			allow);
}

static void api_not_found(struct api *api, struct evhttp_request *req)
{
	api_reply_error(api, req, 404, "not_found", "no such resource");
}

/*
 * If @path is @prefix followed by exactly one non-empty segment, that
 * segment percent-decoded; else NULL. *bad is set when the segment was
 * there but could not be decoded.
 */
static char *api_route_segment(const char *path, const char *prefix,
			       bool *bad)
{
	size_t n = strlen(prefix);
	const char *seg;
	char *out;

	*bad = false;
	if (strncmp(path, prefix, n) != 0)
		return NULL;
	seg = path + n;
	if (*seg == '\0' || strchr(seg, '/'))
		return NULL;
	out = api_path_decode(seg);
	if (!out)
		*bad = true;
	return out;
}

/* "/v1/sessions/{id}/calls" -> the decoded id, as api_route_segment(). */
static char *api_route_calls(const char *path, bool *bad)
{
	static const char prefix[] = "/v1/sessions/";
	static const char suffix[] = "/calls";
	size_t n = strlen(path), pn = sizeof(prefix) - 1;
	size_t sn = sizeof(suffix) - 1;
	char *seg, *out;

	*bad = false;
	if (n <= pn + sn || strncmp(path, prefix, pn) ||
	    strcmp(path + n - sn, suffix))
		return NULL;
	seg = strndup(path + pn, n - pn - sn);
	if (!seg || strchr(seg, '/')) {
		free(seg);
		return NULL;
	}
	out = api_path_decode(seg);
	free(seg);
	if (!out)
		*bad = true;
	return out;
}

static void api_route_v1(struct api *api, struct evhttp_request *req,
			 const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char *seg;
	bool bad;

	if (strcmp(path, "/v1/sessions") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_sessions_list(api, req);
		else if (m == EVHTTP_REQ_POST)
			api_sessions_create(api, req);
		else
			api_not_allowed(api, req, "GET, POST");
		return;
	}
	if (strcmp(path, "/v1/numbers") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_numbers_list(api, req);
		else if (m == EVHTTP_REQ_POST)
			api_numbers_add(api, req);
		else
			api_not_allowed(api, req, "GET, POST");
		return;
	}

	seg = api_route_calls(path, &bad);
	if (seg) {
		/* POST (request-a-call) comes with a later issue */
		if (m == EVHTTP_REQ_GET)
			api_session_calls(api, req, seg);
		else
			api_not_allowed(api, req, "GET");
		free(seg);
		return;
	}
	if (bad) {
		api_not_found(api, req);
		return;
	}

	seg = api_route_segment(path, "/v1/sessions/", &bad);
	if (seg) {
		if (m == EVHTTP_REQ_GET)
			api_session_get(api, req, seg);
		else if (m == EVHTTP_REQ_PATCH)
			api_session_patch(api, req, seg);
		else if (m == EVHTTP_REQ_DELETE)
			api_session_delete(api, req, seg);
		else
			api_not_allowed(api, req, "GET, PATCH, DELETE");
		free(seg);
		return;
	}
	if (bad) {
		api_not_found(api, req);
		return;
	}

	seg = api_route_segment(path, "/v1/numbers/", &bad);
	if (seg) {
		if (m == EVHTTP_REQ_GET)
			api_number_get(api, req, seg);
		else if (m == EVHTTP_REQ_DELETE)
			api_number_delete(api, req, seg);
		else
			api_not_allowed(api, req, "GET, DELETE");
		free(seg);
		return;
	}
	api_not_found(api, req);
}

static void api_request_cb(struct evhttp_request *req, void *arg)
{
	struct api *api = arg;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const struct evhttp_uri *uri;
	const char *path;
	uint32_t retry = 0;
	int tok;

	api_conn_request(api, req);	/* in whole: its deadline is off */
	uri = evhttp_request_get_evhttp_uri(req);
	path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || *path != '/') {
		api_reply_error(api, req, 400, "invalid_request",
				"request target: not an absolute path");
		return;
	}

	if (strcmp(path, "/healthz") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_healthz(api, req);
		else
			api_not_allowed(api, req, "GET");
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_metrics(api, req);
		else
			api_not_allowed(api, req, "GET");
		return;
	}

	if (api->stopping) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		api_reply_error(api, req, 503, "shutting_down",
				"maskd is stopping; retry");
		return;
	}

	/* Everything else needs a token, even to learn that it is 404. */
	tok = api_authorized(api, req);
	if (tok < 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "WWW-Authenticate", "Bearer");
		api_reply_error(api, req, 401, "unauthorized",
				"missing or invalid bearer token");
		return;
	}
	if (!tbucket_take(&api->buckets[tok], api_now_ms(), &retry)) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", retry ? retry : 1);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Retry-After", ra);
		api_reply_error(api, req, 429, "rate_limited",
				"more than %u requests/s with this token",
				api->cfg->api.rate_limit);
		return;
	}

	api_route_v1(api, req, path);
}

/*
 * evhttp makes its bufferevents at the base's default priority, which with
 * two levels is the low one - the writer's. Making them ourselves at the
 * high priority lets the writer's batch wait until every ready request has
 * been read and queued, which is what makes group commit group.
 */
static struct bufferevent *api_bev_cb(struct event_base *base, void *arg)
{
	struct api *api = arg;
	struct bufferevent *bev;
	SSL *ssl;

	if (!api->tls) {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	} else {
		ssl = SSL_new(api->tls);
		if (!ssl)
			return NULL;
		/* the bufferevent owns ssl from here on, even on failure */
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
			BUFFEREVENT_SSL_ACCEPTING,
			BEV_OPT_CLOSE_ON_FREE);
		if (bev)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	if (bev) {
		bufferevent_priority_set(bev, 0);
		api_conn_track(api, bev);
	}
	return bev;
}

/*
 * Bind the listener ourselves instead of evhttp_bind_socket(): that way
 * the caller gets the real errno (EADDRINUSE, EACCES) rather than -1.
 */
static int api_listen(struct api *api)
{
	const struct config_addr *a = &api->cfg->api.listen;
	struct addrinfo hints, *res = NULL;
	char port[8];
	int fd = -1, on = 1, err, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)a->port);

	rc = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
	if (rc) {
		log_error(api->log, "api: %s: %s", a->host, gai_strerror(rc));
		err = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		goto out;
	}

	fd = socket(res->ai_family,
		    res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, API_LISTEN_BACKLOG) < 0) {
		err = errno;
		goto out;
	}

	api->listener = evhttp_accept_socket_with_handle(api->http, fd);
	if (!api->listener) {
		err = ENOMEM;
		goto out;
	}
	fd = -1;	/* the listener owns it now */
	err = 0;
 out:
	if (err)
		log_error(api->log, "api: cannot listen on %s:%u: %s",
			  a->host, (unsigned)a->port, strerror(err));
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	return err;
}

static int api_tokens_init(struct api *api)
{
	const struct config *cfg = api->cfg;
	size_t i;
	int err;

	if (!cfg->api.n_tokens)
		return 0;
	api->tokens = calloc(cfg->api.n_tokens, sizeof(*api->tokens));
	if (!api->tokens)
		return ENOMEM;
	api->buckets = calloc(cfg->api.n_tokens, sizeof(*api->buckets));
	if (!api->buckets)
		return ENOMEM;
	for (i = 0; i < cfg->api.n_tokens; i++) {
		err = api_digest(cfg->api.tokens[i],
				 strlen(cfg->api.tokens[i]), api->tokens[i]);
		if (err)
			return err;
		/* one bucket per token: one noisy client cannot starve
		 * another platform sharing the API */
		tbucket_init(&api->buckets[i], cfg->api.rate_limit,
			     cfg->api.rate_burst ? cfg->api.rate_burst :
			     cfg->api.rate_limit, api_now_ms());
	}
	api->n_tokens = cfg->api.n_tokens;
	return 0;
}

/* Log what OpenSSL's error queue holds, and empty it. */
static void api_tls_log_errors(struct api *api, const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error())) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error(api->log, "api: tls: %s: %s", what, buf);
	}
}

/*
 * api_tls_init() - the server context when [api] tls_cert/tls_key are
 * set: TLS 1.2 at least, the certificate chain and its key, which must
 * match. A bad file stops start-up rather than serving plain text.
 */
static int api_tls_init(struct api *api)
{
	const struct config *cfg = api->cfg;
	SSL_CTX *ctx;

	if (!cfg->api.tls_cert[0])
		return 0;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		api_tls_log_errors(api, "context");
		return ENOMEM;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->api.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->api.tls_key,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		api_tls_log_errors(api, cfg->api.tls_cert);
		SSL_CTX_free(ctx);
		return EINVAL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	api->tls = ctx;
	return 0;
}

int api_start(struct api **apip, struct event_base *base,
	      const struct config *cfg, struct store *st, struct writer *w,
	      struct log *log)
{
	struct api *api;
	int err;

	api = calloc(1, sizeof(*api));
	if (!api)
		return ENOMEM;
	api->base = base;
	api->cfg = cfg;
	api->st = st;
	api->w = w;
	api->log = log;

	err = api_tokens_init(api);
	if (err)
		goto out;
	err = api_tls_init(api);
	if (err)
		goto out;

	err = store_reader_open(st, &api->rd);
	if (err)
		goto out;

	api->http = evhttp_new(base);
	if (!api->http) {
		err = ENOMEM;
		goto out;
	}
	/* evhttp's own limit only guards memory; bodies above max_body
	 * get our JSON 413 from api_body_parse(). */
	evhttp_set_max_body_size(api->http, API_MAX_HTTP_BODY);
	/* ... and with lingering close it reads a larger body to its end
	 * (discarding it: request_timeout bounds how long) before its 413,
	 * so the client, still sending, gets the 413 rather than a reset */
	evhttp_set_flags(api->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(api->http, API_MAX_HEADERS);
	evhttp_set_timeout(api->http, API_TIMEOUT_S);
	evhttp_set_allowed_methods(api->http,
		EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_PATCH);
	evhttp_set_gencb(api->http, api_request_cb, api);
	evhttp_set_bevcb(api->http, api_bev_cb, api);

	err = api_listen(api);
	if (err)
		goto out;

	err = api_sweeper_start(api);
	if (err)
		goto out;

	*apip = api;
	api = NULL;
 out:
	api_stop(api);
	return err;
}

/*
 * Answer whoever waits for a commit, and give those answers up to
 * API_DRAIN_MS to reach their clients: a client that never hears its 201
 * retries and creates the session twice. No new connection is accepted
 * meanwhile, and requests on open ones get 503 without touching the store.
 * The loop ends at once when nothing is left to write.
 */
static void api_drain(struct api *api)
{
	struct timeval tv = { 0, API_DRAIN_MS * 1000 };

	if (api->listener) {
		evhttp_del_accept_socket(api->http, api->listener);
		api->listener = NULL;
	}
	api->stopping = true;
	writer_flush(api->w);
	if (api->in_flight)
		log_warn(api->log, "api: %u requests left unanswered",
			 api->in_flight);
	if (!api->n_sending)
		return;

	log_info(api->log, "api: sending %zu last replies", api->n_sending);
	event_base_loopexit(api->base, &tv);
	event_base_dispatch(api->base);
	if (api->n_sending)
		log_info(api->log, "api: %zu replies not delivered",
			 api->n_sending);
}

void api_stop(struct api *api)
{
	if (!api)
		return;

	api_sweeper_stop(api);
	if (api->w && api->http)
		api_drain(api);

	/* evhttp_free() closes the listener before the connections, whose
	 * close callbacks must not start it again */
	api->stopping = true;
	api->listener = NULL;
	if (api->http)
		evhttp_free(api->http);	/* calls api_conn_closed() */
	api_conn_stop(api);
	free(api->sending);
	if (api->rd)
		store_reader_close(api->rd);
	if (api->tokens)
		OPENSSL_cleanse(api->tokens,
				api->n_tokens * sizeof(*api->tokens));
	free(api->tokens);
	free(api->buckets);
	if (api->tls)
		SSL_CTX_free(api->tls);
	free(api);
}
