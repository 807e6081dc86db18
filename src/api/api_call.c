/*
 * api_call.c - calls the API drives: POST /v1/sessions/{id}/calls
 * (request-a-call), GET and DELETE /v1/calls/{id}, POST
 * /v1/calls/{id}/participants and DELETE .../participants/{leg}.
 *
 * Each request goes to ctl (ctl_call.c), which asks the SIP thread and
 * calls back once it has answered; the reply is sent from there. A live
 * call is shown as the SIP thread sees it (its legs and their states); a
 * finished one as its call record, with "status" completed or failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "api_internal.h"

static bool api_call_id_parse(struct api *api, struct evhttp_request *req,
			      const char *s, uint8_t id[STORE_ID_LEN])
{
	if (store_id_parse(s, id) == 0)
		return true;
	api_reply_error(api, req, 404, "not_found", "no such call");
	return false;
}

static const char *api_leg_state_name(enum sip_leg_view_state st)
{
	switch (st) {
	case SIP_LEG_VIEW_CALLING:
		return "calling";
	case SIP_LEG_VIEW_RINGING:
		return "ringing";
	case SIP_LEG_VIEW_ANSWERED:
		return "answered";
	case SIP_LEG_VIEW_ENDED:
		return "ended";
	default:
		return "idle";
	}
}

/* A live call: what the SIP thread showed of it. */
static json_t *api_call_view_json(const struct sip_call_view *v)
{
	char id[STORE_ID_STR_SIZE];
	const struct sip_leg_view *lv;
	const char *status, *party;
	json_t *o, *legs, *l;
	unsigned i;
	bool none;
	int rc = 0;

	o = json_object();
	legs = json_array();
	if (!o || !legs)
		goto fail;
	if (v->ending)
		status = "ending";
	else if (v->bridged)
		status = "connected";
	else if (v->api && v->legs[0].state == SIP_LEG_VIEW_ANSWERED)
		status = "connecting";
	else
		status = "calling";

	store_id_format(v->call_id, id);
	rc |= json_object_set_new(o, "id", json_string(id));
	store_id_format(v->session_id, id);
	/* a call maskd answers alone (a PIN prompt, an announcement) has
	 * no session, so no parties, until a PIN names one */
	none = !memcmp(v->session_id, (uint8_t[STORE_ID_LEN]){ 0 },
		       STORE_ID_LEN);
	rc |= json_object_set_new(o, "session_id", none ? json_null() :
				  json_string(id));
	rc |= json_object_set_new(o, "status", json_string(status));
	rc |= json_object_set_new(o, "direction", json_string(v->api ? "api" :
				  none ? "inbound" :
				  v->a_to_b ? "a_to_b" : "b_to_a"));
	rc |= json_object_set_new(o, "first", none ? json_null() :
				  json_string(v->a_to_b ? "a" : "b"));
	rc |= json_object_set_new(o, "started_at", api_time_json(v->start_ms));
	rc |= json_object_set_new(o, "answered_at", v->answer_ms ?
				  api_time_json(v->answer_ms) : json_null());
	for (i = 0; i < v->n_legs && i < SIP_CALL_LEGS_MAX; i++) {
		lv = &v->legs[i];
		/* leg 0 faces who called (inbound) or was called first */
		if (lv->id >= 2)
			party = "participant";
		else
			party = (lv->id == 0) == v->a_to_b ? "a" : "b";
		l = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)lv->id,
			      "party", party, "state",
			      api_leg_state_name(lv->state), "code",
			      lv->code ? json_integer(lv->code)
				       : json_null());
		if (l && lv->id >= 2)
			rc |= json_object_set_new(l, "number",
						  json_string(lv->number));
		if (!l || json_array_append_new(legs, l))
			goto fail;
	}
	rc |= json_object_set_new(o, "legs", legs);
	legs = NULL;
	if (rc)
		goto fail;
	return o;
 fail:
	json_decref(legs);
	json_decref(o);
	return NULL;
}

static void api_call_reply_view(struct api *api, struct evhttp_request *req,
				int status, const struct sip_call_view *v)
{
	json_t *o = api_call_view_json(v);

	if (!o) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_reply_json(api, req, status, o);
}

void api_call_refused(struct api_call *c, int err, const char *what)
{
	struct api *api = c->api;

	if (err == ENOENT)
		api_reply_error(api, c->req, 404, "not_found", "no such %s",
				what);
	else if (err == EALREADY)
		api_reply_error(api, c->req, 409, "session_inactive",
				"the session has ended");
	else if (err == ENOTCONN)
		api_reply_error(api, c->req, 503, "sip_unavailable",
				"the SIP side is not running");
	else
		api_reply_error(api, c->req, 503, "sip_unavailable",
				"the SIP side cannot take requests now: %s",
				strerror(err));
	api_call_free(c);
}

bool api_call_common_err(struct api_call *c, int err)
{
	struct api *api = c->api;

	if (err == ECANCELED)
		api_reply_error(api, c->req, 503, "shutting_down",
				"maskd is stopping; retry");
	else if (err == ETIMEDOUT)
		api_reply_error(api, c->req, 503, "sip_unavailable",
				"the SIP side did not answer in time");
	else if (err == ENOMEM)
		api_reply_error(api, c->req, 500, "internal", "out of memory");
	else
		return false;
	return true;
}

/* ---- POST /v1/sessions/{id}/calls ---- */

static void api_call_create_done(int err, const struct sip_call_view *v,
				 unsigned leg, void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;
	char loc[64], id[STORE_ID_STR_SIZE];

	(void)leg;
	if (api_call_common_err(c, err))
		goto out;
	if (err == EBUSY) {
		api_reply_error(api, c->req, 409, "call_in_progress",
				"the session has a call up");
		goto out;
	}
	if (err == ENOSPC) {
		api_reply_error(api, c->req, 503, "no_media_ports",
				"no relay ports are free");
		goto out;
	}
	if (err == ESHUTDOWN) {
		api_reply_error(api, c->req, 503, "sip_draining",
				"every SIP worker is draining "
				"(PATCH /v1/sip/workers/{worker})");
		goto out;
	}
	if (err) {
		api_reply_error(api, c->req, 500, "internal",
				"the call could not be made: %s",
				strerror(err));
		goto out;
	}
	store_id_format(v->call_id, id);
	snprintf(loc, sizeof(loc), "/v1/calls/%s", id);
	evhttp_add_header(evhttp_request_get_output_headers(c->req),
			  "Location", loc);
	api_call_reply_view(api, c->req, 201, v);
 out:
	api_call_free(c);
}

static const char *const api_call_create_keys[] = {
	"first", "ring_timeout", "time_limit", NULL,
};

void api_session_call_create(struct api *api, struct evhttp_request *req,
			     const char *sid)
{
	struct ctl_call_params p = { .a_first = true };
	struct api_call *c = NULL;
	uint8_t id[STORE_ID_LEN];
	struct api_err e;
	json_t *body = NULL, *first;
	uint64_t n;
	bool present;
	int err;

	if (!api_id_parse(api, req, sid, id))
		return;
	/* every field has a default: no body is {} */
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) == 0)
		body = json_object();
	else if (api_body_parse(api, req, &body, &e))
		goto bad;
	if (!body) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	if (api_body_check_keys(body, api_call_create_keys, &e))
		goto bad;

	first = json_object_get(body, "first");
	if (first && !json_is_null(first)) {
		const char *f = json_is_string(first) ?
				json_string_value(first) : NULL;

		if (!f || (strcmp(f, "a") && strcmp(f, "b"))) {
			api_err_set(&e, 400, "invalid_field",
				    "first: must be \"a\" or \"b\"");
			goto bad;
		}
		p.a_first = !strcmp(f, "a");
	}
	n = 0;
	if (api_get_uint(body, "ring_timeout", 1, 86400, &n, NULL, &e))
		goto bad;
	p.ring_timeout_s = (uint32_t)n;
	n = 0;
	if (api_get_uint(body, "time_limit", 0, 86400, &n, &present, &e))
		goto bad;
	p.time_limit_set = present;
	p.time_limit_s = (uint32_t)n;
	json_decref(body);
	body = NULL;

	if (api_call_new(api, req, &c)) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	memcpy(c->id, id, STORE_ID_LEN);
	err = ctl_call_originate(api->ctl, c->id, &p, api_call_create_done,
				 c);
	if (err) {
		api_call_refused(c, err, "session");
		return;
	}
	api_call_queued(c, 0);
	return;
 bad:
	json_decref(body);
	api_reply_err(api, req, &e);
}

/* ---- GET /v1/calls/{id} ---- */

/*
 * A finished call: what a live one shows, its legs gone, with its
 * record (as GET /v1/sessions/{id}/calls shows it) under "record".
 */
static void api_call_record_send(struct api *api, struct evhttp_request *req,
				 const struct cdr *cdr,
				 const struct session *s)
{
	char id[STORE_ID_STR_SIZE];
	json_t *o = NULL, *rec;

	rec = api_cdr_json(cdr, cdr_sessionless(cdr) ? NULL : s);
	store_id_format(cdr->id, id);
	if (rec)
		o = json_pack("{s:s, s:O, s:s, s:O, s:o, s:o, s:o, s:[], s:o}",
			      "id", id, "session_id",
			      json_object_get(rec, "session_id"),
			      "status", cdr->answer_ms ? "completed" : "failed",
			      "direction", json_object_get(rec, "direction"),
			      "first", cdr_sessionless(cdr) ? json_null() :
			      json_string(cdr->a_to_b ? "a" : "b"),
			      "started_at", api_time_json(cdr->start_ms),
			      "answered_at", cdr->answer_ms ?
			      api_time_json(cdr->answer_ms) : json_null(),
			      "legs", "record", rec);
	else
		json_decref(rec);
	if (!o) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_reply_json(api, req, 200, o);
}

/* Cluster mode: the record another node wrote (ctl_call_record_all()). */
static void api_call_record_all_done(int err, const struct cdr *cdr,
				     const struct session *s, void *arg)
{
	struct api_call *c = arg;

	if (err == ENOENT)
		api_reply_error(c->api, c->req, 404, "not_found",
				"no such call");
	else if (err)
		api_reply_error(c->api, c->req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
	else
		api_call_record_send(c->api, c->req, cdr, s);
	api_call_free(c);
}

/* Returns true when @c was handed on (cluster mode: the reply comes
 * later and frees it); false: replied, the caller frees @c. */
static bool api_call_record_reply(struct api_call *c)
{
	struct api *api = c->api;
	struct session s;
	struct cdr cdr;
	int err;

	memset(&s, 0, sizeof(s));
	memset(&cdr, 0, sizeof(cdr));
	err = ctl_call_record(api->ctl, c->id, &cdr, &s);
	if (err == ENOENT) {
		/* cluster mode: a call through another node */
		err = ctl_call_record_all(api->ctl, c->id,
					  api_call_record_all_done, c);
		if (!err) {
			session_clear(&s);
			return true;
		}
		if (err == ENOSYS)
			err = ENOENT;
	}
	if (err == ENOENT)
		api_reply_error(api, c->req, 404, "not_found", "no such call");
	else if (err)
		api_reply_error(api, c->req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
	else
		api_call_record_send(api, c->req, &cdr, &s);
	session_clear(&s);
	return false;
}

static void api_call_get_done(int err, const struct sip_call_view *v,
			      unsigned leg, void *arg)
{
	struct api_call *c = arg;

	(void)leg;
	if (api_call_common_err(c, err))
		goto out;
	if (err == ENOENT) {
		if (api_call_record_reply(c))
			return;
	} else if (err) {
		api_reply_error(c->api, c->req, 500, "internal", "%s",
				strerror(err));
	} else {
		api_call_reply_view(c->api, c->req, 200, v);
	}
 out:
	api_call_free(c);
}

/* A request about call @cid: @h gets what the SIP thread answered. */
static void api_call_ask(struct api *api, struct evhttp_request *req,
			 const char *cid, int op, const char *number,
			 unsigned leg, ctl_call_h *h)
{
	struct api_call *c;
	int err;

	if (api_call_new(api, req, &c)) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	if (!api_call_id_parse(api, req, cid, c->id)) {
		api_call_free(c);
		return;
	}
	switch (op) {
	case SIP_CALL_OP_GET:
		err = ctl_call_get(api->ctl, c->id, h, c);
		break;
	case SIP_CALL_OP_HANGUP:
		err = ctl_call_hangup(api->ctl, c->id, h, c);
		break;
	case SIP_CALL_OP_PARTICIPANT_ADD:
		err = ctl_call_participant_add(api->ctl, c->id, number, h, c);
		break;
	default:
		err = ctl_call_participant_remove(api->ctl, c->id, leg, h, c);
		break;
	}
	if (err == ENOTCONN && op == SIP_CALL_OP_GET) {
		/* no SIP side: only records to show */
		if (!api_call_record_reply(c))
			api_call_free(c);
		return;
	}
	if (err) {
		api_call_refused(c, err, "call");
		return;
	}
	api_call_queued(c, 0);
}

void api_call_get(struct api *api, struct evhttp_request *req,
		  const char *cid)
{
	api_call_ask(api, req, cid, SIP_CALL_OP_GET, NULL, 0,
		     api_call_get_done);
}

/* ---- DELETE /v1/calls/{id} ---- */

static void api_call_delete_done(int err, const struct sip_call_view *v,
				 unsigned leg, void *arg)
{
	struct api_call *c = arg;
	struct session s;
	struct cdr cdr;

	(void)leg;
	if (api_call_common_err(c, err))
		goto out;
	if (err == ENOENT) {
		/* a finished call: 409, an unknown one: 404 */
		memset(&s, 0, sizeof(s));
		err = ctl_call_record(c->api->ctl, c->id, &cdr, &s);
		session_clear(&s);
		if (!err)
			api_reply_error(c->api, c->req, 409, "call_ended",
					"the call has ended");
		else
			api_reply_error(c->api, c->req, 404, "not_found",
					"no such call");
	} else if (err) {
		api_reply_error(c->api, c->req, 500, "internal", "%s",
				strerror(err));
	} else {
		api_call_reply_view(c->api, c->req, 200, v);
	}
 out:
	api_call_free(c);
}

void api_call_delete(struct api *api, struct evhttp_request *req,
		     const char *cid)
{
	api_call_ask(api, req, cid, SIP_CALL_OP_HANGUP, NULL, 0,
		     api_call_delete_done);
}

/* ---- POST /v1/calls/{id}/participants ---- */

static void api_participant_add_done(int err, const struct sip_call_view *v,
				     unsigned leg, void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;
	char loc[96], id[STORE_ID_STR_SIZE];
	json_t *o;

	if (api_call_common_err(c, err))
		goto out;
	switch (err) {
	case 0:
		break;
	case ENOENT:
		api_reply_error(api, c->req, 404, "not_found",
				"no such call up");
		goto out;
	case EALREADY:
		api_reply_error(api, c->req, 409, "call_not_connected",
				"the parties are not talking yet");
		goto out;
	case ENOSPC:
		api_reply_error(api, c->req, 409, "too_many_participants",
				"at most %u people on a call ([conference] "
				"max_participants), or no relay ports free",
				api->cfg->conference.max_participants);
		goto out;
	case EPROTO:
		api_reply_error(api, c->req, 409, "codec_unsupported",
				"the call's codec cannot be mixed (G.711 "
				"only)");
		goto out;
	case EAGAIN:
		api_reply_error(api, c->req, 503, "sip_unavailable",
				"a participant is still leaving; retry");
		goto out;
	default:
		api_reply_error(api, c->req, 500, "internal",
				"the participant could not be called: %s",
				strerror(err));
		goto out;
	}
	store_id_format(v->call_id, id);
	snprintf(loc, sizeof(loc), "/v1/calls/%s/participants/%u", id, leg);
	evhttp_add_header(evhttp_request_get_output_headers(c->req),
			  "Location", loc);
	o = api_call_view_json(v);
	if (!o || json_object_set_new(o, "participant",
				      json_integer((json_int_t)leg))) {
		json_decref(o);
		api_reply_error(api, c->req, 500, "internal", "out of memory");
		goto out;
	}
	api_reply_json(api, c->req, 201, o);
 out:
	api_call_free(c);
}

static const char *const api_participant_keys[] = { "number", NULL };

void api_participant_add(struct api *api, struct evhttp_request *req,
			 const char *cid)
{
	char number[E164_SIZE];
	struct api_err e;
	json_t *body = NULL;

	if (api_body_parse(api, req, &body, &e) ||
	    api_body_check_keys(body, api_participant_keys, &e) ||
	    api_get_e164(body, "number", true, number, NULL, &e)) {
		json_decref(body);
		api_reply_err(api, req, &e);
		return;
	}
	json_decref(body);
	api_call_ask(api, req, cid, SIP_CALL_OP_PARTICIPANT_ADD, number, 0,
		     api_participant_add_done);
}

/* ---- DELETE /v1/calls/{id}/participants/{leg} ---- */

static void api_participant_delete_done(int err,
					const struct sip_call_view *v,
					unsigned leg, void *arg)
{
	struct api_call *c = arg;

	(void)leg;
	if (api_call_common_err(c, err))
		goto out;
	if (err == ENOENT)
		api_reply_error(c->api, c->req, 404, "not_found",
				"no such call up");
	else if (err == ESRCH)
		api_reply_error(c->api, c->req, 404, "not_found",
				"no such participant");
	else if (err)
		api_reply_error(c->api, c->req, 500, "internal", "%s",
				strerror(err));
	else
		api_call_reply_view(c->api, c->req, 200, v);
 out:
	api_call_free(c);
}

void api_participant_delete(struct api *api, struct evhttp_request *req,
			    const char *cid, const char *leg)
{
	char *end = NULL;
	unsigned long n;

	n = strtoul(leg, &end, 10);
	if (!*leg || *leg == '-' || *leg == '+' || !end || *end ||
	    n >= SIP_CALL_LEGS_MAX) {
		api_reply_error(api, req, 404, "not_found",
				"no such participant");
		return;
	}
	if (n < 2) {
		api_reply_error(api, req, 400, "invalid_field",
				"leg_id: %lu is a party's leg; DELETE "
				"/v1/calls/{id} ends the call", n);
		return;
	}
	api_call_ask(api, req, cid, SIP_CALL_OP_PARTICIPANT_REMOVE, NULL,
		     (unsigned)n, api_participant_delete_done);
}
