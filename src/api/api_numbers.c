/*
 * api_numbers.c - /v1/numbers: the virtual number pool.
 *
 * Pool changes are rare operator actions, so unlike session traffic they
 * are logged at info level (masked, as every number above debug).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "api_internal.h"

static void api_log_number(struct api *api, const char *what,
			   const char *vn)
{
	char mask[LOG_MASK_SIZE];

	log_info(api->log, "api: pool number %s %s",
		 log_mask_number(api->log, vn, mask), what);
}

/* ---- GET /v1/numbers ---- */

struct api_pool_list {
	json_t *arr;
	const char *country;		/* NULL = every number */
};

/*
 * A number's country, as geo-match sees it: its own country field, else
 * the one its digits say (geo.h).
 */
static int api_pool_list_cb(const struct pool_number *n, void *arg)
{
	struct api_pool_list *l = arg;
	char derived[GEO_COUNTRY_SIZE];
	const char *country = n->country;
	json_t *o;

	if (l->country) {
		if (!country[0] && geo_lookup(n->vn, derived, NULL) == 0)
			country = derived;
		if (strcmp(country, l->country))
			return 0;
	}
	o = api_pool_json(n);
	if (!o || json_array_append_new(l->arr, o))
		return ENOMEM;
	return 0;
}

/* Cluster mode: the pool is PostgreSQL's (ctl_number_list_all()); @c
 * has the number asked for (vn) or the list's filter (country). */
static void api_numbers_all_done(int err, const struct pool_number *v,
				 size_t n, void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;
	struct api_pool_list l = { NULL, c->country[0] ? c->country : NULL };
	json_t *body = NULL;
	size_t i;

	if (!err && c->vn[0]) {
		body = api_pool_json(&v[0]);
		err = body ? 0 : ENOMEM;
	} else if (!err) {
		l.arr = json_array();
		err = l.arr ? 0 : ENOMEM;
		for (i = 0; !err && i < n; i++)
			err = api_pool_list_cb(&v[i], &l);
		if (!err) {
			body = json_pack("{s:O}", "numbers", l.arr);
			err = body ? 0 : ENOMEM;
		}
		json_decref(l.arr);
	}
	if (err == ENOENT)
		api_reply_error(api, c->req, 404, "not_found",
				"no such pool number");
	else if (err == ENOMEM)
		api_reply_error(api, c->req, 500, "internal", "out of memory");
	else if (err)
		api_reply_error(api, c->req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
	else
		api_reply_json(api, c->req, 200, body);
	api_call_free(c);
}

/* Cluster mode: ask PostgreSQL (true: the reply is on its way or
 * sent); single-node mode: false, read the local store. */
static bool api_numbers_all(struct api *api, struct evhttp_request *req,
			    const char *vn, const char *country)
{
	struct api_call *c;
	int err;

	if (api_call_new(api, req, &c)) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return true;
	}
	snprintf(c->vn, sizeof(c->vn), "%s", vn ? vn : "");
	snprintf(c->country, sizeof(c->country), "%s",
		 country ? country : "");
	err = ctl_number_list_all(api->ctl, vn, api_numbers_all_done, c);
	if (!err)
		return true;
	api_call_free(c);
	if (err == ENOSYS)
		return false;
	api_reply_error(api, req, 503, "store_unavailable",
			"cannot read the store: %s", strerror(err));
	return true;
}

static const char *const api_numbers_list_keys[] = { "country", NULL };

void api_numbers_list(struct api *api, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct api_pool_list l = { NULL, NULL };
	json_t *arr, *body = NULL;
	struct api_query q;
	struct api_err e;
	const char *c;
	int err;

	err = api_query_parse(evhttp_uri_get_query(uri), &q, &e);
	if (err) {
		api_reply_err(api, req, &e);
		return;
	}
	if (!(err = api_query_check_keys(&q, api_numbers_list_keys, &e)) &&
	    (c = api_query_get(&q, "country")) &&
	    (strlen(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' ||
	     c[1] > 'Z')) {
		api_err_set(&e, 400, "invalid_field", "country: must be two "
			    "uppercase letters (ISO 3166-1)");
		err = EINVAL;
	}
	if (err) {
		api_reply_err(api, req, &e);
		api_query_free(&q);
		return;
	}
	l.country = api_query_get(&q, "country");
	if (api_numbers_all(api, req, NULL, l.country)) {
		api_query_free(&q);
		return;
	}

	arr = json_array();
	l.arr = arr;
	err = arr ? ctl_number_list(api->ctl, api_pool_list_cb, &l) : ENOMEM;
	if (!err) {
		body = json_pack("{s:O}", "numbers", arr);
		err = body ? 0 : ENOMEM;
	}
	json_decref(arr);

	if (err == ENOMEM)
		api_reply_error(api, req, 500, "internal", "out of memory");
	else if (err)
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
	else
		api_reply_json(api, req, 200, body);
	api_query_free(&q);
}

/* ---- GET /v1/numbers/{vn} ---- */

void api_number_get(struct api *api, struct evhttp_request *req,
		    const char *vn)
{
	struct pool_number n;
	json_t *o;
	int err;

	if (!e164_valid(vn)) {
		api_reply_error(api, req, 404, "not_found",
				"no such pool number");
		return;
	}
	if (api_numbers_all(api, req, vn, NULL))
		return;
	err = ctl_number_get(api->ctl, vn, &n);
	if (err == ENOENT) {
		api_reply_error(api, req, 404, "not_found",
				"no such pool number");
		return;
	}
	if (err) {
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
		return;
	}
	o = api_pool_json(&n);
	if (!o) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	api_reply_json(api, req, 200, o);
}

/* ---- POST /v1/numbers ---- */

static void api_pool_add_done(int err, bool lost, const struct pool_number *n,
			      void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;
	json_t *o;

	if (api_call_lost(c, err, lost))
		goto out;

	switch (err) {
	case 0:
		api_log_number(api, "added", n->vn);
		o = api_pool_json(n);
		if (o)
			api_reply_json(api, c->req, 201, o);
		else
			api_reply_error(api, c->req, 500, "internal",
					"out of memory");
		break;
	case EEXIST:
		api_reply_error(api, c->req, 409, "number_exists",
				"number: already in the pool");
		break;
	default:
		log_warn(api->log, "api: pool add failed: %s",
			 strerror(err));
		api_reply_store_err(api, c->req, err,
				    "the number could not be stored");
		break;
	}
 out:
	api_call_free(c);
}

static const char *const api_number_keys[] = { "number", "country", NULL };

static int api_get_country(const json_t *body, char out[STORE_COUNTRY_SIZE],
			   struct api_err *e)
{
	json_t *v = json_object_get(body, "country");
	const char *s;

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		goto bad;
	s = json_string_value(v);
	if (json_string_length(v) != 2 || s[0] < 'A' || s[0] > 'Z' ||
	    s[1] < 'A' || s[1] > 'Z')
		goto bad;
	memcpy(out, s, 3);
	return 0;
 bad:
	api_err_set(e, 400, "invalid_field",
		    "country: must be two uppercase letters (ISO 3166-1)");
	return EINVAL;
}

void api_numbers_add(struct api *api, struct evhttp_request *req)
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
	if ((err = api_body_check_keys(body, api_number_keys, &e)) ||
	    (err = api_get_e164(body, "number", true, c->vn, NULL, &e)) ||
	    (err = api_get_country(body, c->country, &e)))
		goto fail;

	json_decref(body);
	if (api_store_refuse(api, req)) {
		api_call_free(c);
		return;
	}
	api_call_queued(c, ctl_number_add(api->ctl, c->vn, c->country,
					  api_pool_add_done, c));
	return;
 fail:
	api_reply_err(api, req, &e);
	json_decref(body);
	api_call_free(c);
}

/* ---- DELETE /v1/numbers/{vn} ---- */

static void api_pool_remove_done(int err, bool lost, void *arg)
{
	struct api_call *c = arg;
	struct api *api = c->api;

	if (api_call_lost(c, err, lost))
		goto out;

	switch (err) {
	case 0:
		api_log_number(api, "removed", c->vn);
		api_reply_json(api, c->req, 204, NULL);
		break;
	case ENOENT:
		api_reply_error(api, c->req, 404, "not_found",
				"no such pool number");
		break;
	case EBUSY:
		api_reply_error(api, c->req, 409, "number_in_use",
				"the number is in an active session");
		break;
	default:
		log_warn(api->log, "api: pool remove failed: %s",
			 strerror(err));
		api_reply_store_err(api, c->req, err,
				    "the change could not be stored");
		break;
	}
 out:
	api_call_free(c);
}

void api_number_delete(struct api *api, struct evhttp_request *req,
		       const char *vn)
{
	struct api_call *c = NULL;
	int err;

	if (!e164_valid(vn)) {
		api_reply_error(api, req, 404, "not_found",
				"no such pool number");
		return;
	}
	err = api_call_new(api, req, &c);
	if (err) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	memcpy(c->vn, vn, strlen(vn) + 1);
	api_call_queued(c, ctl_number_remove(api->ctl, c->vn,
					     api_pool_remove_done, c));
}
