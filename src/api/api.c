/*
 * api.c - the REST API server: listening, routing, auth, metrics, replies.
 *
 * Runs on the control thread's event base. Every request is parsed,
 * authorised and validated here, then handed to ctl (ctl.h): reads are
 * answered at once, changes become a struct api_call answered from
 * ctl's done handler, once the change is on disk.
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
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_internal.h"

#define API_LISTEN_BACKLOG 511

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

static const struct metrics_row api_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct api_counters, f, name, kind, help),
#define XL(f, name, kind, help, label, n, values) \
	METRICS_ROW_L(struct api_counters, f, name, kind, help, label, n, \
		      values),
#include "api_metrics.inc"
#undef X
#undef XL
};

/* Runs on the control thread, in api_metrics() below: the counters are
 * this thread's plain integers. */
static int api_metrics_read(void *arg, void *snap)
{
	struct api *api = arg;
	struct api_counters *out = snap;

	*out = api->ctr;
	out->connections = api_conn_count(api);
	return 0;
}

static const struct metrics_group api_metrics_group =
	METRICS_GROUP_SNAP("api", api_metrics_rows, api_metrics_read,
			   struct api_counters);

int api_metrics_register(struct api *api, struct metrics *reg)
{
	int err;

	err = metrics_register(reg, &api_metrics_group, api);
	if (!err)
		api->metrics = reg;
	return err;
}

/*
 * Prometheus text format 0.0.4: whatever the modules registered (see
 * metrics.h). No auth: the listener is meant to be on loopback or a
 * management network, and scrapers rarely carry tokens.
 */
static void api_metrics(struct api *api, struct evhttp_request *req)
{
	const char *failed = NULL;
	char *text = NULL;
	size_t len = 0;
	int err;

	if (!api->metrics) {
		api_reply_error(api, req, 503, "metrics_unavailable",
				"no metrics yet");
		return;
	}
	err = metrics_render(api->metrics, &text, &len, &failed);
	if (err == ENOMEM) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	if (err) {
		/* only the store's gauges can fail to be read */
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the %s: %s",
				failed ? failed : "metrics", strerror(err));
		return;
	}
	api_send(api, req, 200, "text/plain; version=0.0.4; charset=utf-8",
		 text, len);
	free(text);
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

/* "{prefix}{id}{suffix}" -> the decoded id, as api_route_segment(). */
static char *api_route_sub(const char *path, const char *prefix,
			   const char *suffix, bool *bad)
{
	size_t n = strlen(path), pn = strlen(prefix);
	size_t sn = strlen(suffix);
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

/* "/v1/sessions/{id}/calls" */
static char *api_route_calls(const char *path, bool *bad)
{
	return api_route_sub(path, "/v1/sessions/", "/calls", bad);
}

/* "/v1/events/{id}/redeliver" */
static char *api_route_redeliver(const char *path, bool *bad)
{
	return api_route_sub(path, "/v1/events/", "/redeliver", bad);
}

/*
 * /v1/calls/{id}, /v1/calls/{id}/participants and
 * /v1/calls/{id}/participants/{leg}.
 */
static void api_route_call(struct api *api, struct evhttp_request *req,
			   const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char *seg, *leg;
	const char *p;
	bool bad;

	seg = api_route_segment(path, "/v1/calls/", &bad);
	if (seg) {
		if (m == EVHTTP_REQ_GET)
			api_call_get(api, req, seg);
		else if (m == EVHTTP_REQ_DELETE)
			api_call_delete(api, req, seg);
		else
			api_not_allowed(api, req, "GET, DELETE");
		free(seg);
		return;
	}
	seg = api_route_sub(path, "/v1/calls/", "/participants", &bad);
	if (seg) {
		if (m == EVHTTP_REQ_POST)
			api_participant_add(api, req, seg);
		else
			api_not_allowed(api, req, "POST");
		free(seg);
		return;
	}
	/* {id}/participants/{leg}: the id is one segment, then the leg */
	p = strchr(path + 10, '/');
	if (!bad && p && strncmp(p, "/participants/", 14) == 0 &&
	    p > path + 10) {
		seg = strndup(path + 10, (size_t)(p - (path + 10)));
		leg = seg ? api_route_segment(p, "/participants/", &bad)
			  : NULL;
		if (seg && leg) {
			if (m == EVHTTP_REQ_DELETE)
				api_participant_delete(api, req, seg, leg);
			else
				api_not_allowed(api, req, "DELETE");
			free(seg);
			free(leg);
			return;
		}
		free(seg);
		free(leg);
	}
	api_not_found(api, req);
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

	if (strcmp(path, "/v1/events") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_events_list(api, req);
		else
			api_not_allowed(api, req, "GET");
		return;
	}
	if (strcmp(path, "/v1/webhooks") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_webhooks_get(api, req);
		else if (m == EVHTTP_REQ_PATCH)
			api_webhooks_patch(api, req);
		else
			api_not_allowed(api, req, "GET, PATCH");
		return;
	}
	if (strcmp(path, "/v1/sip/workers") == 0) {
		if (m == EVHTTP_REQ_GET)
			api_sip_workers_list(api, req);
		else
			api_not_allowed(api, req, "GET");
		return;
	}
	seg = api_route_segment(path, "/v1/sip/workers/", &bad);
	if (seg) {
		if (m == EVHTTP_REQ_GET)
			api_sip_worker_get(api, req, seg);
		else if (m == EVHTTP_REQ_PATCH)
			api_sip_worker_patch(api, req, seg);
		else
			api_not_allowed(api, req, "GET, PATCH");
		free(seg);
		return;
	}
	if (bad) {
		api_not_found(api, req);
		return;
	}
	seg = api_route_redeliver(path, &bad);
	if (seg) {
		if (m == EVHTTP_REQ_POST)
			api_event_redeliver(api, req, seg);
		else
			api_not_allowed(api, req, "POST");
		free(seg);
		return;
	}
	if (bad) {
		api_not_found(api, req);
		return;
	}

	seg = api_route_sub(path, "/v1/calls/", "/recording", &bad);
	if (seg) {
		if (m == EVHTTP_REQ_GET)
			api_call_recording_get(api, req, seg);
		else if (m == EVHTTP_REQ_DELETE)
			api_call_recording_delete(api, req, seg);
		else
			api_not_allowed(api, req, "GET, DELETE");
		free(seg);
		return;
	}
	if (bad) {
		api_not_found(api, req);
		return;
	}

	seg = api_route_calls(path, &bad);
	if (seg) {
		if (m == EVHTTP_REQ_GET)
			api_session_calls(api, req, seg);
		else if (m == EVHTTP_REQ_POST)
			api_session_call_create(api, req, seg);
		else
			api_not_allowed(api, req, "GET, POST");
		free(seg);
		return;
	}
	if (bad) {
		api_not_found(api, req);
		return;
	}
	if (strncmp(path, "/v1/calls/", 10) == 0) {
		api_route_call(api, req, path);
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
	if (!tbucket_take(&api->buckets[tok], clock_mono_ms(), &retry)) {
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
 * Bind the listener ourselves instead of evhttp_bind_socket(): that way
 * the caller gets the real errno (EADDRINUSE, EACCES) rather than -1.
 */
static int api_listen(struct api *api)
{
	const struct net_addr *a = &api->cfg->api.listen;
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
			     cfg->api.rate_limit, clock_mono_ms());
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
	      const struct config *cfg, struct ctl *ctl, struct log *log)
{
	struct api *api;
	int err;

	api = calloc(1, sizeof(*api));
	if (!api)
		return ENOMEM;
	api->base = base;
	api->cfg = cfg;
	api->ctl = ctl;
	api->log = log;

	err = api_tokens_init(api);
	if (err)
		goto out;
	err = api_tls_init(api);
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
	evhttp_set_bevcb(api->http, api_conn_bev, api);

	err = api_listen(api);
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
	ctl_flush(api->ctl);
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

	if (api->ctl && api->http)
		api_drain(api);
	/* the last /metrics has been answered */
	metrics_unregister(api->metrics, &api_metrics_group, api);

	/* evhttp_free() closes the listener before the connections, whose
	 * close callbacks must not start it again */
	api->stopping = true;
	api->listener = NULL;
	if (api->http)
		evhttp_free(api->http);	/* calls api_conn_closed() */
	api_conn_stop(api);
	free(api->sending);
	if (api->tokens)
		OPENSSL_cleanse(api->tokens,
				api->n_tokens * sizeof(*api->tokens));
	free(api->tokens);
	free(api->buckets);
	if (api->tls)
		SSL_CTX_free(api->tls);
	free(api);
}
