/*
 * api_sip.c - the SIP workers: GET /v1/sip/workers, GET and PATCH
 * /v1/sip/workers/{worker}.
 *
 * A worker is drained or resumed through its own command queue (ctl,
 * ctl_sip_worker_set()); the PATCH is answered once the worker has
 * changed, with its view as it then stands. GETs read the workers'
 * counters at once (sip_worker_view()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "api_internal.h"

static json_t *api_worker_json(const struct sip_worker_view *v)
{
	return json_pack("{s:I, s:I, s:o, s:s, s:I, s:I}",
			 "worker", (json_int_t)v->worker,
			 "port", (json_int_t)v->port,
			 "tls_port", v->tls_port ?
			 json_integer(v->tls_port) : json_null(),
			 "state", v->draining ? "draining" : "active",
			 "calls_live", (json_int_t)v->calls_live,
			 "calls_total", (json_int_t)v->calls_total);
}

static void api_worker_reply(struct api *api, struct evhttp_request *req,
			     const struct sip_worker_view *v)
{
	json_t *o = api_worker_json(v);

	if (!o) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_reply_json(api, req, 200, o);
}

static bool api_no_sip(struct api *api, struct evhttp_request *req)
{
	if (ctl_sip_workers(api->ctl))
		return false;
	api_reply_error(api, req, 503, "sip_unavailable",
			"the SIP side is not running");
	return true;
}

/* The worker index in the path: decimal, below the number of workers;
 * false after a 404 naming it. */
static bool api_worker_parse(struct api *api, struct evhttp_request *req,
			     const char *seg, unsigned *out)
{
	unsigned n = ctl_sip_workers(api->ctl);
	unsigned long v;
	char *end;

	/* the index as GET shows it: no sign, no leading zero */
	if (seg[0] >= '0' && seg[0] <= '9' && strlen(seg) <= 4 &&
	    (seg[0] != '0' || !seg[1])) {
		v = strtoul(seg, &end, 10);
		if (!*end && v < n) {
			*out = (unsigned)v;
			return true;
		}
	}
	api_reply_error(api, req, 404, "not_found",
			"worker: no SIP worker %.16s (workers are 0 to %u)", seg,
			n ? n - 1 : 0);
	return false;
}

void api_sip_workers_list(struct api *api, struct evhttp_request *req)
{
	struct sip_worker_view v;
	json_t *o, *list;
	unsigned i, n;

	if (api_no_sip(api, req))
		return;
	n = ctl_sip_workers(api->ctl);
	list = json_array();
	o = list ? json_pack("{s:o}", "workers", list) : NULL;
	if (!o)
		goto oom;
	for (i = 0; i < n; i++) {
		if (ctl_sip_worker_view(api->ctl, i, &v) ||
		    json_array_append_new(list, api_worker_json(&v)))
			goto oom;
	}
	api_reply_json(api, req, 200, o);
	return;
 oom:
	json_decref(o);
	api_reply_error(api, req, 500, "internal", "out of memory");
}

void api_sip_worker_get(struct api *api, struct evhttp_request *req,
			const char *seg)
{
	struct sip_worker_view v;
	unsigned i;

	if (api_no_sip(api, req) || !api_worker_parse(api, req, seg, &i))
		return;
	if (ctl_sip_worker_view(api->ctl, i, &v)) {
		api_reply_error(api, req, 503, "sip_unavailable",
				"the SIP side is not running");
		return;
	}
	api_worker_reply(api, req, &v);
}

static void api_sip_worker_patch_done(int err,
				      const struct sip_worker_view *v,
				      void *arg)
{
	struct api_call *c = arg;

	if (api_call_common_err(c, err))
		;
	else if (err)
		api_reply_error(c->api, c->req, 500, "internal", "%s",
				strerror(err));
	else
		api_worker_reply(c->api, c->req, v);
	api_call_free(c);
}

static const char *const api_worker_patch_keys[] = { "state", NULL };

void api_sip_worker_patch(struct api *api, struct evhttp_request *req,
			  const char *seg)
{
	struct api_call *c = NULL;
	struct api_err e;
	json_t *body = NULL, *st;
	const char *state;
	unsigned i;
	int err;

	if (api_no_sip(api, req) || !api_worker_parse(api, req, seg, &i))
		return;
	if (api_body_parse(api, req, &body, &e) ||
	    api_body_check_keys(body, api_worker_patch_keys, &e))
		goto bad;
	st = json_object_get(body, "state");
	if (!st) {
		api_err_set(&e, 400, "missing_field", "state: required");
		goto bad;
	}
	state = json_is_string(st) ? json_string_value(st) : NULL;
	if (!state || (strcmp(state, "active") && strcmp(state, "draining"))) {
		api_err_set(&e, 400, "invalid_field",
			    "state: must be \"active\" or \"draining\"");
		goto bad;
	}

	if (api_call_new(api, req, &c)) {
		json_decref(body);
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	err = ctl_sip_worker_set(api->ctl, i, !strcmp(state, "draining"),
				 api_sip_worker_patch_done, c);
	json_decref(body);
	if (err) {
		api_call_refused(c, err, "worker");
		return;
	}
	api_call_queued(c, 0);
	return;
 bad:
	json_decref(body);
	api_reply_err(api, req, &e);
}
