/*
 * api_calls.c - call records: GET /v1/sessions/{id}/calls. (The records
 * come in through ctl's CDR sink, ctl_cdr.c.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* ---- GET /v1/sessions/{id}/calls ---- */

struct api_calls_ctx {
	const struct session *s;
	json_t *arr;
	int err;
};

static int api_calls_cb(const struct cdr *c, void *arg)
{
	struct api_calls_ctx *x = arg;
	json_t *o = api_cdr_json(c, x->s);

	if (!o || json_array_append_new(x->arr, o)) {
		x->err = ENOMEM;
		return 1;
	}
	return 0;
}

void api_session_calls(struct api *api, struct evhttp_request *req,
		       const char *sid)
{
	struct api_calls_ctx x = { 0 };
	uint8_t id[STORE_ID_LEN];
	struct session s;
	json_t *body;
	int err;

	if (!api_id_parse(api, req, sid, id))
		return;
	memset(&s, 0, sizeof(s));
	x.s = &s;
	x.arr = json_array();
	if (!x.arr) {
		x.err = ENOMEM;
		goto oom;
	}
	err = ctl_session_calls(api->ctl, id, &s, api_calls_cb, &x);
	if (err == ENOENT) {
		json_decref(x.arr);
		session_clear(&s);
		api_reply_error(api, req, 404, "not_found", "no such session");
		return;
	}
	if (err)
		goto unavailable;
	if (x.err)
		goto oom;
	body = json_pack("{s:o}", "calls", x.arr);
	x.arr = NULL;
	if (!body)
		goto oom;
	api_reply_json(api, req, 200, body);
	session_clear(&s);
	return;
 oom:
	json_decref(x.arr);
	session_clear(&s);
	api_reply_error(api, req, 500, "internal", "out of memory");
	return;
 unavailable:
	json_decref(x.arr);
	session_clear(&s);
	api_reply_error(api, req, 503, "store_unavailable",
			"cannot read the store: %s", strerror(err));
}
