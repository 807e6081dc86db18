/*
 * api_events.c - the events outbox over HTTP (issue 10):
 *   GET   /v1/events                  list, filtered, paged
 *   POST  /v1/events/{id}/redeliver   pending again, due now
 *   GET   /v1/webhooks                the endpoints and their state
 *   PATCH /v1/webhooks                re-enable one: {"url", "enabled"}
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define API_EVENT_TYPE_MAX 23

static void api_reply_oom(struct api *api, struct evhttp_request *req)
{
	api_reply_error(api, req, 500, "internal", "out of memory");
}

static const char *const api_events_keys[] = {
	"status", "session_id", "type", "limit", "cursor", NULL
};

static int api_events_filter(const struct api_query *q,
			     struct event_filter *f, struct api_err *e)
{
	const char *v;
	char *end;
	unsigned long n;

	memset(f, 0, sizeof(*f));
	f->limit = API_LIST_DEFAULT;
	if ((v = api_query_get(q, "status"))) {
		if (event_status_parse(v, &f->status)) {
			api_err_set(e, 400, "invalid_field", "status: must be "
				    "pending, delivered or failed");
			return EINVAL;
		}
		f->by_status = true;
	}
	if ((v = api_query_get(q, "session_id"))) {
		if (store_id_parse(v, f->session_id)) {
			api_err_set(e, 400, "invalid_field",
				    "session_id: not a session id");
			return EINVAL;
		}
		f->by_session = true;
	}
	if ((v = api_query_get(q, "type"))) {
		if (!*v || strlen(v) > API_EVENT_TYPE_MAX) {
			api_err_set(e, 400, "invalid_field",
				    "type: not an event type");
			return EINVAL;
		}
		f->type = v;
	}
	if ((v = api_query_get(q, "limit"))) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end || errno || n < 1 ||
		    n > API_LIST_MAX) {
			api_err_set(e, 400, "invalid_field",
				    "limit: must be an integer between 1 "
				    "and %d", API_LIST_MAX);
			return EINVAL;
		}
		f->limit = (unsigned)n;
	}
	if ((v = api_query_get(q, "cursor"))) {
		if (event_id_parse(v, f->after)) {
			api_err_set(e, 400, "invalid_field",
				    "cursor: not a cursor from next_cursor");
			return EINVAL;
		}
		f->has_cursor = true;
	}
	return 0;
}

static json_t *api_event_json(const struct event *ev)
{
	char id[EVENT_ID_STR_SIZE], sid[STORE_ID_STR_SIZE];
	json_t *o, *payload;
	int rc = 0;

	o = json_object();
	if (!o)
		return NULL;
	payload = json_loadb(ev->body, ev->body_len, 0, NULL);
	event_id_format(ev->id, id);
	rc |= json_object_set_new(o, "id", json_string(id));
	rc |= json_object_set_new(o, "type", json_string(ev->type));
	if (ev->has_session) {
		store_id_format(ev->session_id, sid);
		rc |= json_object_set_new(o, "session_id", json_string(sid));
		rc |= json_object_set_new(o, "sequence",
					  json_integer((json_int_t)
						       ev->sequence));
	} else {
		rc |= json_object_set_new(o, "session_id", json_null());
		rc |= json_object_set_new(o, "sequence", json_null());
	}
	rc |= json_object_set_new(o, "status",
				  json_string(event_status_name(ev->status)));
	rc |= json_object_set_new(o, "created_at",
				  api_time_json(ev->created_ms));
	rc |= json_object_set_new(o, "attempts", json_integer(ev->attempts));
	rc |= json_object_set_new(o, "last_attempt_at", ev->last_attempt_ms ?
				  api_time_json(ev->last_attempt_ms) :
				  json_null());
	rc |= json_object_set_new(o, "last_status_code", ev->last_code ?
				  json_integer(ev->last_code) : json_null());
	rc |= json_object_set_new(o, "last_error", ev->last_error[0] ?
				  json_string(ev->last_error) : json_null());
	rc |= json_object_set_new(o, "next_attempt_at",
				  ev->status == EVENT_PENDING ?
				  api_time_json(ev->next_at_ms) : json_null());
	rc |= json_object_set_new(o, "payload", payload ? payload :
				  json_null());
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct api_events_list {
	json_t *arr;
	uint8_t last[STORE_ID_LEN];
	int err;
};

static int api_events_cb(const struct event *ev, void *arg)
{
	struct api_events_list *l = arg;
	json_t *o = api_event_json(ev);

	if (!o || json_array_append_new(l->arr, o)) {
		l->err = ENOMEM;
		return 1;
	}
	memcpy(l->last, ev->id, STORE_ID_LEN);
	return 0;
}

void api_events_list(struct api *api, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct api_events_list l;
	struct event_filter f;
	struct api_query q;
	struct api_err e;
	char cursor[EVENT_ID_STR_SIZE];
	json_t *body;
	bool more = false;
	int err;

	memset(&l, 0, sizeof(l));
	err = api_query_parse(evhttp_uri_get_query(uri), &q, &e);
	if (err) {
		api_reply_err(api, req, &e);
		return;
	}
	if ((err = api_query_check_keys(&q, api_events_keys, &e)) ||
	    (err = api_events_filter(&q, &f, &e))) {
		api_reply_err(api, req, &e);
		goto out;
	}
	l.arr = json_array();
	if (!l.arr) {
		api_reply_oom(api, req);
		goto out;
	}
	err = ctl_events_list(api->ctl, &f, api_events_cb, &l, &more);
	if (err == ENOMEM || l.err) {
		api_reply_oom(api, req);
		goto out;
	}
	if (err) {
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
		goto out;
	}
	if (more && json_array_size(l.arr))
		event_id_format(l.last, cursor);
	else
		more = false;
	body = json_pack("{s:O, s:o}", "events", l.arr, "next_cursor",
			 more ? json_string(cursor) : json_null());
	if (!body) {
		api_reply_oom(api, req);
		goto out;
	}
	api_reply_json(api, req, 200, body);
 out:
	json_decref(l.arr);
	api_query_free(&q);
}

/* ---- POST /v1/events/{id}/redeliver ---- */

static void api_redeliver_done(int err, bool lost, void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;

	if (api_call_lost(c, err, lost))
		goto out;
	if (err == ENOENT)
		api_reply_error(api, c->req, 404, "not_found",
				"no such event");
	else if (err)
		api_reply_error(api, c->req, 503, "store_unavailable",
				"the change could not be stored: %s",
				strerror(err));
	else
		api_reply_json(api, c->req, 202, json_pack("{s:s}", "status",
							   "pending"));
 out:
	api_call_free(c);
}

void api_event_redeliver(struct api *api, struct evhttp_request *req,
			 const char *eid)
{
	struct api_call *c = NULL;
	uint8_t id[STORE_ID_LEN];

	if (event_id_parse(eid, id)) {
		api_reply_error(api, req, 404, "not_found", "no such event");
		return;
	}
	if (api_call_new(api, req, &c)) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_call_queued(c, ctl_event_redeliver(api->ctl, id,
					       api_redeliver_done, c));
}

/* ---- GET / PATCH /v1/webhooks ---- */

static int api_webhook_cb(const struct ctl_webhook *w, void *arg)
{
	json_t *arr = arg;
	json_t *o;

	o = json_pack("{s:s, s:b, s:o, s:o, s:I, s:I, s:o, s:i}",
		      "url", w->url, "enabled", !w->disabled,
		      "disabled_reason", w->disabled ?
		      json_string(w->disabled_reason) : json_null(),
		      "failing_since", w->failing_since_ms ?
		      api_time_json(w->failing_since_ms) : json_null(),
		      "delivered", (json_int_t)w->delivered,
		      "failed", (json_int_t)w->failed,
		      "last_status_code", w->last_code ?
		      json_integer(w->last_code) : json_null(),
		      "in_flight", (int)w->in_flight);
	if (!o || json_array_append_new(arr, o))
		return 1;
	return 0;
}

void api_webhooks_get(struct api *api, struct evhttp_request *req)
{
	json_t *arr = json_array(), *body;

	if (!arr) {
		api_reply_oom(api, req);
		return;
	}
	ctl_webhooks_list(api->ctl, api_webhook_cb, arr);
	body = json_pack("{s:o}", "webhooks", arr);
	if (!body) {
		api_reply_oom(api, req);
		return;
	}
	api_reply_json(api, req, 200, body);
}

static const char *const api_webhook_patch_keys[] = {
	"url", "enabled", NULL
};

void api_webhooks_patch(struct api *api, struct evhttp_request *req)
{
	json_t *body = NULL, *url, *en;
	struct api_err e;
	int err;

	err = api_body_parse(api, req, &body, &e);
	if (!err)
		err = api_body_check_keys(body, api_webhook_patch_keys, &e);
	if (err) {
		api_reply_err(api, req, &e);
		json_decref(body);
		return;
	}
	url = json_object_get(body, "url");
	en = json_object_get(body, "enabled");
	if (!json_is_string(url)) {
		api_reply_error(api, req, 400, "invalid_field",
				"url: required, a string");
	} else if (!json_is_true(en)) {
		api_reply_error(api, req, 400, "invalid_field",
				"enabled: must be true (maskd disables "
				"endpoints itself)");
	} else if (ctl_webhook_enable(api->ctl, json_string_value(url))) {
		api_reply_error(api, req, 404, "not_found",
				"no such webhook endpoint");
	} else {
		api_webhooks_get(api, req);
	}
	json_decref(body);
}
