/*
 * api_sessions.c - /v1/sessions: create, list, get, patch, delete.
 *
 * Each handler validates the request into plain C inputs (naming the
 * field in a 400) and calls ctl; a change is answered from ctl's done
 * handler, once it is on disk (or is not).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "api_internal.h"

#define API_CALL_LIMIT_MAX 2147483647ULL

static void api_reply_session(struct api *api, struct evhttp_request *req,
			      int status, const struct session *s)
{
	json_t *o = api_session_json(s);

	if (!o) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_reply_json(api, req, status, o);
}

/*
 * The create reply: the session, and when geo-match was asked for,
 * whether its vn is local (else the reply is exactly what GET shows).
 */
static void api_reply_created(struct api *api, struct evhttp_request *req,
			      const struct session *s, bool geo)
{
	json_t *o = api_session_json(s);

	if (!o || (geo && json_object_set_new(o, "geo_matched",
					      json_boolean(s->geo_matched)))) {
		json_decref(o);
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_reply_json(api, req, 201, o);
}

static void api_reply_oom(struct api *api, struct evhttp_request *req)
{
	api_reply_error(api, req, 500, "internal", "out of memory");
}

static void api_log_session(struct api *api, const char *what,
			    const struct session *s)
{
	char id[STORE_ID_STR_SIZE];
	char a[LOG_MASK_SIZE], b[LOG_MASK_SIZE], vn[LOG_MASK_SIZE];

	if (api->log->level < LOG_LVL_DEBUG)
		return;
	store_id_format(s->id, id);
	log_debug(api->log, "api: session %s %s a=%s b=%s vn=%s pin=%s "
		  "pin_a=%s pin_b=%s", id, what,
		  log_mask_number(api->log, s->party_a, a),
		  log_mask_number(api->log, s->party_b, b),
		  log_mask_number(api->log, s->vn, vn),
		  s->pin_required ? "required" : "off",
		  log_mask_pin(api->log, LOG_LVL_DEBUG,
			       s->pin_a[0] ? s->pin_a : "-"),
		  log_mask_pin(api->log, LOG_LVL_DEBUG,
			       s->pin_b[0] ? s->pin_b : "-"));
}

/* A malformed id names no session: 404, like an unknown one. */
bool api_id_parse(struct api *api, struct evhttp_request *req,
			 const char *s, uint8_t id[STORE_ID_LEN])
{
	if (store_id_parse(s, id) == 0)
		return true;
	api_reply_error(api, req, 404, "not_found", "no such session");
	return false;
}

/* ---- POST /v1/sessions ---- */

static void api_create_done(int err, bool lost, const struct session *s,
			    void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;
	char loc[64], id[STORE_ID_STR_SIZE];

	if (api_call_lost(c, err, lost))
		goto out;

	switch (err) {
	case 0:
		api_log_session(api, "created", s);
		store_id_format(s->id, id);
		snprintf(loc, sizeof(loc), "/v1/sessions/%s", id);
		evhttp_add_header(evhttp_request_get_output_headers(c->req),
				  "Location", loc);
		api_reply_created(api, c->req, s,
				  c->params.geo_match != GEO_MATCH_NONE);
		break;
	case EINVAL:
		api_reply_error(api, c->req, 400, "invalid_field",
				"party_b: same as party_a");
		break;
	case ENOENT:
		api_reply_error(api, c->req, 400, "invalid_field",
				"virtual_number: not in the number pool");
		break;
	case EEXIST:
		api_reply_error(api, c->req, 409, "vn_conflict",
				"virtual_number: already in an active session "
				"of party_a or party_b");
		break;
	case ENOTUNIQ:
		api_reply_error(api, c->req, 409, "pin_conflict",
				"pin_a or pin_b: already a PIN of an active "
				"session on the virtual number");
		break;
	case ENOSPC:
		api_reply_error(api, c->req, 409, "pool_exhausted",
				"no pool number is free for this pair of "
				"parties");
		break;
	case EADDRNOTAVAIL:
		api_reply_error(api, c->req, 409, "no_geo_match",
				"no pool number local to the geo party is "
				"free for this pair of parties "
				"(geo_fallback: false)");
		break;
	default:
		log_warn(api->log, "api: session create failed: %s",
			 strerror(err));
		api_reply_store_err(api, c->req, err,
				    "the session could not be stored");
		break;
	}
 out:
	api_call_free(c);
}

static const char *const api_create_keys[] = {
	"party_a", "party_b", "virtual_number", "ttl", "call_time_limit",
	"record", "callback_url", "metadata", "pin_required", "pin_a", "pin_b",
	"generate_pin", "pin_length", "pin_retries", "geo_match", "geo_party",
	"geo_fallback", NULL
};

/*
 * api_geo_parse() - geo_match, geo_party and geo_fallback of a create
 * body into @p. geo_match picks the vn; with an explicit vn there is
 * nothing to pick, so the two are refused together.
 */
static int api_geo_parse(const json_t *body, const struct config *cfg,
			 bool explicit_vn, bool clustered,
			 struct session_params *p, struct api_err *e)
{
	json_t *m = json_object_get(body, "geo_match");
	json_t *party = json_object_get(body, "geo_party");
	bool fallback = true;
	int err;

	/* null is the same as left out */
	if (json_is_null(m))
		m = NULL;
	if (json_is_null(party))
		party = NULL;

	if (m && (!json_is_string(m) ||
		  geo_match_parse(json_string_value(m), &p->geo_match))) {
		api_err_set(e, 400, "invalid_field",
			    "geo_match: must be none, country or area");
		return EINVAL;
	}
	if (party && (!json_is_string(party) ||
		      (strcmp(json_string_value(party), "a") &&
		       strcmp(json_string_value(party), "b")))) {
		api_err_set(e, 400, "invalid_field",
			    "geo_party: must be a or b");
		return EINVAL;
	}
	if ((err = api_get_bool(body, "geo_fallback", &fallback, NULL, e)))
		return err;
	if (explicit_vn && p->geo_match != GEO_MATCH_NONE) {
		api_err_set(e, 400, "invalid_field",
			    "geo_match: not with virtual_number");
		return EINVAL;
	}
	/* PostgreSQL's allocation (cluster_create.c) has no geo pick yet:
	 * said plainly, never a number from anywhere */
	if (clustered && p->geo_match != GEO_MATCH_NONE) {
		api_err_set(e, 400, "invalid_field",
			    "geo_match: not available in cluster mode "
			    "([cluster] store); none only");
		return EINVAL;
	}
	p->geo_party_b = party && !strcmp(json_string_value(party), "b");
	p->geo_strict = !fallback;
	p->geo_area_digits = cfg->session.geo_area_digits;
	return 0;
}

static int api_get_pin(const json_t *body, const char *key,
		       char out[STORE_PIN_SIZE], bool *present,
		       struct api_err *e)
{
	json_t *v = json_object_get(body, key);

	out[0] = '\0';
	*present = v && !json_is_null(v);
	if (!*present)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > STORE_PIN_MAX ||
	    !store_pin_valid(json_string_value(v))) {
		api_err_set(e, 400, "invalid_field",
			    "%s: must be %d to %d digits", key, STORE_PIN_MIN,
			    STORE_PIN_MAX);
		return EINVAL;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/*
 * api_pin_parse() - the PIN fields of a create or patch body into @pin
 * (pointing into @c) and the set_* flags (present in the body). On
 * create, an absent field takes its default and pin_required needs PINs.
 */
static int api_pin_parse(const json_t *body, bool create,
			 struct api_call *c, struct session_pin_params *pin,
			 bool *set_required, bool *set_retries,
			 bool *set_pins, struct api_err *e)
{
	uint64_t len = STORE_PIN_LENGTH_DEFAULT;
	uint64_t retries = STORE_PIN_RETRIES_DEFAULT;
	bool has_a, has_b, has_len, gen = false;
	int err;

	if ((err = api_get_bool(body, "pin_required", &pin->pin_required,
				set_required, e)) ||
	    (err = api_get_pin(body, "pin_a", c->pin_a, &has_a, e)) ||
	    (err = api_get_pin(body, "pin_b", c->pin_b, &has_b, e)) ||
	    (err = api_get_bool(body, "generate_pin", &gen, NULL, e)) ||
	    (err = api_get_uint(body, "pin_length", STORE_PIN_MIN,
				STORE_PIN_MAX, &len, &has_len, e)) ||
	    (err = api_get_uint(body, "pin_retries", 0, STORE_PIN_RETRIES_MAX,
				&retries, set_retries, e)))
		return err;
	if (has_a != has_b) {
		api_err_set(e, 400, "invalid_field", "%s: required with %s",
			    has_a ? "pin_b" : "pin_a",
			    has_a ? "pin_a" : "pin_b");
		return EINVAL;
	}
	if (has_a && !strcmp(c->pin_a, c->pin_b)) {
		api_err_set(e, 400, "invalid_field", "pin_b: same as pin_a");
		return EINVAL;
	}
	if (gen && has_a) {
		api_err_set(e, 400, "invalid_field",
			    "generate_pin: not with pin_a and pin_b");
		return EINVAL;
	}
	if (has_len && !gen) {
		api_err_set(e, 400, "invalid_field",
			    "pin_length: only with generate_pin: true");
		return EINVAL;
	}
	if (create && pin->pin_required && !has_a && !gen) {
		api_err_set(e, 400, "invalid_field",
			    "pin_required: needs pin_a and pin_b, or "
			    "generate_pin");
		return EINVAL;
	}
	*set_pins = has_a || gen;
	pin->generate = gen;
	pin->pin_length = (unsigned)len;
	pin->pin_retries = (uint8_t)retries;
	pin->pin_a = has_a ? c->pin_a : NULL;
	pin->pin_b = has_b ? c->pin_b : NULL;
	return 0;
}

/* metadata: any JSON object, kept as compact text of at most 16 KiB. */
static int api_get_metadata(const json_t *body, char **out, struct api_err *e)
{
	json_t *v = json_object_get(body, "metadata");
	char *text;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		api_err_set(e, 400, "invalid_field",
			    "metadata: must be a JSON object");
		return EINVAL;
	}
	text = json_dumps(v, JSON_COMPACT);
	if (!text) {
		api_err_set(e, 500, "internal", "metadata: out of memory");
		return ENOMEM;
	}
	if (strlen(text) > API_METADATA_MAX) {
		free(text);
		api_err_set(e, 400, "invalid_field",
			    "metadata: larger than %d bytes serialized",
			    API_METADATA_MAX);
		return EINVAL;
	}
	*out = text;
	return 0;
}

/*
 * api_create_parse() - validate a create body into @c's copies and
 * c->params. Pure (no I/O), so the fuzzer can drive it.
 */
int api_create_parse(const json_t *body, const struct config *cfg,
		     struct api_call *c, struct api_err *e)
{
	uint64_t ttl = cfg->session.default_ttl_s;
	uint64_t limit = cfg->session.call_time_limit_s;
	bool record = false, present, is_null, unused;
	int err;

	if ((err = api_body_check_keys(body, api_create_keys, e)) ||
	    (err = api_get_e164(body, "party_a", true, c->party_a, NULL, e)) ||
	    (err = api_get_e164(body, "party_b", true, c->party_b, NULL, e)))
		return err;
	if (strcmp(c->party_a, c->party_b) == 0) {
		api_err_set(e, 400, "invalid_field",
			    "party_b: same as party_a");
		return EINVAL;
	}
	if ((err = api_get_e164(body, "virtual_number", false, c->vn, NULL,
				e)) ||
	    (err = api_get_uint(body, "ttl", 1, cfg->session.max_ttl_s, &ttl,
				NULL, e)) ||
	    (err = api_get_uint(body, "call_time_limit", 0,
				API_CALL_LIMIT_MAX, &limit, NULL, e)) ||
	    (err = api_get_bool(body, "record", &record, NULL, e)) ||
	    (err = api_get_url(body, "callback_url", &c->callback_url,
			       &present, &is_null, e)) ||
	    (err = api_get_metadata(body, &c->metadata, e)) ||
	    (err = api_pin_parse(body, true, c, &c->params.pin, &unused,
				 &unused, &unused, e)) ||
	    (err = api_geo_parse(body, cfg, c->vn[0] != '\0',
				 c->api && c->api->ctl &&
				 ctl_clustered(c->api->ctl), &c->params, e)))
		return err;

	c->params.party_a = c->party_a;
	c->params.party_b = c->party_b;
	c->params.vn = c->vn[0] ? c->vn : NULL;
	c->params.ttl_ms = (int64_t)ttl * 1000;
	c->params.call_time_limit_s = (uint32_t)limit;
	c->params.record = record;
	c->params.callback_url = c->callback_url;
	c->params.metadata = c->metadata;
	return 0;
}

/*
 * A callback_url must be one events can go to: signed (a secret is
 * configured) and not aimed inside the network (SSRF; resolved names
 * are checked again at delivery).
 */
static int api_callback_check(struct api *api, const char *url,
			      struct api_err *e)
{
	char why[160];

	if (!url)
		return 0;
	if (!api->cfg->events.n_secrets) {
		api_err_set(e, 400, "invalid_field", "callback_url: no "
			    "[events] secrets are configured to sign "
			    "webhooks");
		return EINVAL;
	}
	if (ctl_event_url_check(api->ctl, url, why, sizeof(why))) {
		api_err_set(e, 400, "invalid_field", "callback_url: %s", why);
		return EINVAL;
	}
	return 0;
}

void api_sessions_create(struct api *api, struct evhttp_request *req)
{
	struct api_call *c = NULL;
	json_t *body = NULL;
	struct api_err e;
	int err;

	err = api_body_parse(api, req, &body, &e);
	if (err)
		goto fail;
	err = api_call_new(api, req, &c);
	if (err) {
		api_err_set(&e, 500, "internal", "out of memory");
		goto fail;
	}
	err = api_create_parse(body, api->cfg, c, &e);
	if (!err)
		err = api_callback_check(api, c->callback_url, &e);
	if (err)
		goto fail;
	json_decref(body);
	if (api_store_refuse(api, req)) {
		api_call_free(c);
		return;
	}
	api_call_queued(c, ctl_session_create(api->ctl, &c->params,
					      api_create_done, c));
	return;
 fail:
	api_reply_err(api, req, &e);
	json_decref(body);
	api_call_free(c);
}

/* ---- GET /v1/sessions ---- */

struct api_list {
	json_t *arr;
	uint8_t last[STORE_ID_LEN];
};

static int api_list_cb(const struct session *s, void *arg)
{
	struct api_list *l = arg;
	json_t *o = api_session_json(s);

	if (!o || json_array_append_new(l->arr, o))
		return ENOMEM;
	memcpy(l->last, s->id, STORE_ID_LEN);
	return 0;
}

static const char *const api_list_keys[] = {
	"party", "virtual_number", "status", "limit", "cursor", NULL
};

static int api_list_filter(const struct api_query *q,
			   struct session_filter *f, struct api_err *e)
{
	const char *v;
	char *end;
	unsigned long n;

	memset(f, 0, sizeof(*f));
	f->limit = API_LIST_DEFAULT;

	if ((v = api_query_get(q, "party"))) {
		if (!e164_valid(v))
			goto bad_party;
		f->party = v;
	}
	if ((v = api_query_get(q, "virtual_number"))) {
		if (!e164_valid(v)) {
			api_err_set(e, 400, "invalid_field",
				    "virtual_number: not an E.164 number");
			return EINVAL;
		}
		f->vn = v;
	}
	if ((v = api_query_get(q, "status"))) {
		if (session_status_parse(v, &f->status)) {
			api_err_set(e, 400, "invalid_field",
				    "status: must be active, expired or "
				    "closed");
			return EINVAL;
		}
		f->by_status = true;
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
		if (store_id_parse(v, f->after)) {
			api_err_set(e, 400, "invalid_field",
				    "cursor: not a cursor from next_cursor");
			return EINVAL;
		}
		f->has_cursor = true;
	}
	return 0;
 bad_party:
	api_err_set(e, 400, "invalid_field", "party: not an E.164 number");
	return EINVAL;
}

void api_sessions_list(struct api *api, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct api_query q;
	struct session_filter f;
	struct api_list l;
	struct api_err e;
	char cursor[STORE_ID_STR_SIZE];
	json_t *body;
	bool more = false;
	int err;

	memset(&l, 0, sizeof(l));
	err = api_query_parse(evhttp_uri_get_query(uri), &q, &e);
	if (err) {
		api_reply_err(api, req, &e);
		return;
	}
	if ((err = api_query_check_keys(&q, api_list_keys, &e)) ||
	    (err = api_list_filter(&q, &f, &e))) {
		api_reply_err(api, req, &e);
		goto out;
	}

	l.arr = json_array();
	if (!l.arr) {
		api_reply_oom(api, req);
		goto out;
	}
	err = ctl_session_list(api->ctl, &f, api_list_cb, &l, &more);
	if (err == ENOMEM) {
		api_reply_oom(api, req);
		goto out;
	}
	if (err) {
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
		goto out;
	}

	if (more && json_array_size(l.arr))
		store_id_format(l.last, cursor);
	else
		more = false;
	body = json_pack("{s:O, s:o}", "sessions", l.arr, "next_cursor",
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

/* ---- GET /v1/sessions/{id} ---- */

void api_session_get(struct api *api, struct evhttp_request *req,
		     const char *sid)
{
	uint8_t id[STORE_ID_LEN];
	struct session s;
	int err;

	if (!api_id_parse(api, req, sid, id))
		return;
	memset(&s, 0, sizeof(s));
	err = ctl_session_get(api->ctl, id, &s);
	if (err == ENOENT)
		api_reply_error(api, req, 404, "not_found", "no such session");
	else if (err)
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
	else
		api_reply_session(api, req, 200, &s);
	session_clear(&s);
}

/* ---- PATCH /v1/sessions/{id} ---- */

/* What PATCH and DELETE share: a change to an existing id. */
static void api_update_done(int err, bool lost, const struct session *s,
			    struct api_call *c, const char *what)
{
	struct api *api = c->api;

	if (api_call_lost(c, err, lost))
		return;

	switch (err) {
	case 0:
		api_log_session(api, what, s);
		api_reply_session(api, c->req, 200, s);
		break;
	case ENOENT:
		api_reply_error(api, c->req, 404, "not_found",
				"no such session");
		break;
	case EALREADY:
		api_reply_error(api, c->req, 409, "session_ended",
				"the session has already ended");
		break;
	case EINVAL:
		/* the store's one other EINVAL: PINs required, none set */
		if (c->patch.set_pin_required && c->patch.pin.pin_required &&
		    !c->patch.set_pins)
			api_reply_error(api, c->req, 400, "invalid_field",
					"pin_required: the session has no "
					"PINs (give pin_a and pin_b, or "
					"generate_pin)");
		else
			api_reply_error(api, c->req, 400, "invalid_field",
					"expires_at: not in the future");
		break;
	case ENOTUNIQ:
		api_reply_error(api, c->req, 409, "pin_conflict",
				"pin_a or pin_b: already a PIN of an active "
				"session on the virtual number");
		break;
	default:
		log_warn(api->log, "api: session %s failed: %s", what,
			 strerror(err));
		api_reply_store_err(api, c->req, err,
				    "the change could not be stored");
		break;
	}
}

static void api_patch_done(int err, bool lost, const struct session *s,
			   void *arg)
{
	struct api_call *c = arg;

	api_update_done(err, lost, s, c, "updated");
	api_call_free(c);
}

static const char *const api_patch_keys[] = {
	"ttl", "expires_at", "call_time_limit", "record", "callback_url",
	"pin_required", "pin_a", "pin_b", "generate_pin", "pin_length",
	"pin_retries", NULL
};

static int api_get_expires_at(struct api *api, const json_t *body,
			      struct api_call *c, struct api_err *e)
{
	json_t *v = json_object_get(body, "expires_at");
	int64_t now = clock_now_ms(), at;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) ||
	    api_time_parse(json_string_value(v), &at)) {
		api_err_set(e, 400, "invalid_field",
			    "expires_at: not an RFC 3339 date-time");
		return EINVAL;
	}
	if (at <= now) {
		api_err_set(e, 400, "invalid_field",
			    "expires_at: not in the future");
		return EINVAL;
	}
	if (at - now > (int64_t)api->cfg->session.max_ttl_s * 1000) {
		api_err_set(e, 400, "invalid_field",
			    "expires_at: more than max_ttl (%u s) from now",
			    (unsigned)api->cfg->session.max_ttl_s);
		return EINVAL;
	}
	c->patch.set_expires_at = true;
	c->patch.expires_at_ms = at;
	return 0;
}

void api_session_patch(struct api *api, struct evhttp_request *req,
		       const char *sid)
{
	const struct config *cfg = api->cfg;
	struct session_patch *p;
	struct api_call *c = NULL;
	json_t *body = NULL;
	struct api_err e;
	uint8_t id[STORE_ID_LEN];
	uint64_t ttl = 0, limit = 0;
	bool has_ttl, has_limit, has_url, is_null;
	int err;

	if (!api_id_parse(api, req, sid, id))
		return;
	err = api_body_parse(api, req, &body, &e);
	if (err)
		goto fail;
	err = api_call_new(api, req, &c);
	if (err) {
		api_err_set(&e, 500, "internal", "out of memory");
		goto fail;
	}
	memcpy(c->id, id, STORE_ID_LEN);
	p = &c->patch;

	if ((err = api_body_check_keys(body, api_patch_keys, &e)) ||
	    (err = api_get_uint(body, "ttl", 1, cfg->session.max_ttl_s, &ttl,
				&has_ttl, &e)))
		goto fail;
	if (has_ttl && json_object_get(body, "expires_at") &&
	    !json_is_null(json_object_get(body, "expires_at"))) {
		api_err_set(&e, 400, "invalid_field",
			    "ttl: give ttl or expires_at, not both");
		err = EINVAL;
		goto fail;
	}
	if ((err = api_get_expires_at(api, body, c, &e)) ||
	    (err = api_get_uint(body, "call_time_limit", 0,
				API_CALL_LIMIT_MAX, &limit, &has_limit, &e)) ||
	    (err = api_get_bool(body, "record", &p->record, &p->set_record,
				&e)) ||
	    (err = api_get_url(body, "callback_url", &c->callback_url,
			       &has_url, &is_null, &e)) ||
	    (err = api_callback_check(api, c->callback_url, &e)) ||
	    (err = api_pin_parse(body, false, c, &p->pin,
				 &p->set_pin_required, &p->set_pin_retries,
				 &p->set_pins, &e)))
		goto fail;

	if (has_ttl) {
		c->ttl_ms = (int64_t)ttl * 1000;
		p->set_expires_at = true;
	}
	p->set_call_time_limit = has_limit;
	p->call_time_limit_s = (uint32_t)limit;
	p->set_callback_url = has_url;
	p->callback_url = c->callback_url;

	if (!p->set_expires_at && !p->set_call_time_limit &&
	    !p->set_record && !p->set_callback_url &&
	    !p->set_pin_required && !p->set_pin_retries && !p->set_pins) {
		api_err_set(&e, 400, "missing_field",
			    "body: none of ttl, expires_at, call_time_limit, "
			    "record, callback_url, pin_required, pin_a, pin_b, "
			    "generate_pin, pin_retries");
		err = EINVAL;
		goto fail;
	}

	json_decref(body);
	if (api_store_refuse(api, req)) {
		api_call_free(c);
		return;
	}
	api_call_queued(c, ctl_session_patch(api->ctl, c->id, &c->patch,
					     c->ttl_ms, api_patch_done, c));
	return;
 fail:
	api_reply_err(api, req, &e);
	json_decref(body);
	api_call_free(c);
}

/* ---- DELETE /v1/sessions/{id} ---- */

static void api_close_done(int err, bool lost, const struct session *s,
			   void *arg)
{
	struct api_call *c = arg;

	api_update_done(err, lost, s, c, "closed");
	api_call_free(c);
}

/*
 * Closing also ends the session's call if one is up (ctl.h): the reply
 * does not wait for that, only for the close to be on disk.
 */
void api_session_delete(struct api *api, struct evhttp_request *req,
			const char *sid)
{
	struct api_call *c = NULL;
	int err;

	err = api_call_new(api, req, &c);
	if (err) {
		api_reply_oom(api, req);
		return;
	}
	if (!api_id_parse(api, req, sid, c->id)) {
		api_call_free(c);
		return;
	}
	api_call_queued(c, ctl_session_close(api->ctl, c->id, api_close_done,
					     c));
}
