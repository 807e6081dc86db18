/*
 * api_calls.c - call records: GET /v1/sessions/{id}/calls, and the write
 * path that brings each finished call from the SIP thread into the store.
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
	err = store_session_get(api->rd, id, api_now_ms(), &s);
	if (err == ENOENT) {
		api_reply_error(api, req, 404, "not_found", "no such session");
		return;
	}
	if (err)
		goto unavailable;
	x.s = &s;
	x.arr = json_array();
	if (!x.arr) {
		x.err = ENOMEM;
		goto oom;
	}
	err = store_cdr_list(api->rd, id, api_calls_cb, &x);
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

/* ---- the CDR write path ---- */

struct api_cdr_call {
	struct api *api;
	struct cdr cdr;
};

static int api_cdr_op(struct store_txn *tx, void *arg)
{
	struct api_cdr_call *c = arg;

	return store_cdr_add(tx, &c->cdr);
}

static void api_cdr_done(int err, void *arg)
{
	struct api_cdr_call *c = arg;
	char id[STORE_ID_STR_SIZE];

	if (err) {
		/* never refused up front (the API's store-full guard leaves
		 * them the headroom): this is a record that did not fit */
		store_id_format(c->cdr.id, id);
		log_error(c->api->log, "api: call record %s lost: %s", id,
			  err == EDQUOT ? "the store is full (raise [store] "
			  "map_size or lower [store] retention)" :
			  strerror(err));
		c->api->cdrs_lost++;
	} else {
		c->api->cdrs_written++;
	}
	free(c);
}

void api_cdr_store(struct api *api, const struct cdr *cdr)
{
	struct api_cdr_call *c = malloc(sizeof(*c));

	if (!c) {
		log_error(api->log, "api: call record lost: out of memory");
		api->cdrs_lost++;
		return;
	}
	c->api = api;
	c->cdr = *cdr;
	if (writer_submit(api->w, api_cdr_op, api_cdr_done, c)) {
		log_error(api->log, "api: call record lost: out of memory");
		api->cdrs_lost++;
		free(c);
	}
}

void api_set_sip(struct api *api, struct sip *sip)
{
	api->sip = sip;
}
