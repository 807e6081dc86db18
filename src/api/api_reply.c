/*
 * api_reply.c - how every reply leaves: counted by status, logged at
 * debug (phone numbers masked), and tracked until its last byte is out so
 * api_stop() can wait for it; and the context of a write request, which
 * waits for ctl's done handler before it is answered.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api_internal.h"

static const char *api_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default:  return "Unknown";
	}
}

const char *api_method_name(enum evhttp_cmd_type m)
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
void api_send(struct api *api, struct evhttp_request *req, int status,
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

void api_send_file(struct api *api, struct evhttp_request *req, int status,
		   const char *ctype, int fd, off_t off, off_t len)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (len > 0 && evbuffer_add_file(out, fd, off, len)) {
		close(fd);	/* libevent closes it only on success */
		api_reply_error(api, req, 500, "internal", "cannot send the "
				"file");
		return;
	}
	if (len <= 0)
		close(fd);
	if (status >= 0 && status < API_MAX_STATUS)
		api->ctr.requests[status]++;
	api_log_request(api, req, status);
	api_sending_add(api, req);
	evhttp_add_header(hdrs, "Content-Type", ctype);
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
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
	api_utf8_fix(msg);
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
	explicit_bzero(c, sizeof(*c));	/* PINs */
	free(c);
}

void api_call_queued(struct api_call *c, int err)
{
	struct api *api = c->api;

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

bool api_call_lost(struct api_call *c, int err, bool lost)
{
	if (!lost)
		return false;
	log_warn(c->api->log, "api: write not committed: %s", strerror(err));
	api_reply_store_err(c->api, c->req, err,
			    "the change could not be stored");
	return true;
}
