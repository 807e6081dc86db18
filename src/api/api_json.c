/*
 * api_json.c - request parsing and validation, session -> JSON, times.
 *
 * Every validator names the field in its message ("ttl: must be an
 * integer between 1 and 86400"), because that message is what a platform
 * engineer reads when an integration is wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "api_internal.h"

void api_err_set(struct api_err *e, int status, const char *code,
		 const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/*
 * A message quotes what the client sent (an unknown field's name) and is
 * cut to API_MSG_SIZE, maybe inside a character; jansson refuses invalid
 * UTF-8, and the client would get its 400 with no body at all.
 */
void api_utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n, i;

	while (*p) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			n = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 3;
		else
			n = 0;
		/* stops at the NUL too: it is no continuation byte */
		for (i = 1; n && i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		if (!n || i <= n ||
		    (p[0] == 0xe0 && p[1] < 0xa0) ||	/* overlong */
		    (p[0] == 0xed && p[1] >= 0xa0) ||	/* surrogate */
		    (p[0] == 0xf0 && p[1] < 0x90) ||	/* overlong */
		    (p[0] == 0xf4 && p[1] >= 0x90)) {	/* > U+10FFFF */
			*p++ = '?';
			continue;
		}
		p += n + 1;
	}
}

/* ---- times ---- */

void api_time_format(int64_t ms, char out[API_TIME_SIZE])
{
	clock_rfc3339(ms, out);
}

/* Exactly @n digits at *pp into *out; advances *pp. */
static int api_digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return EINVAL;
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*out = v;
	return 0;
}

static int api_days_in_month(int year, int mon)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (mon == 2 && leap)
		return 29;
	return days[mon - 1];
}

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).
 * A leap second (:60) is read as :59, since time_t cannot hold it.
 */
int api_time_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int year, mon, day, hour, min, sec, frac = 0, oh, om, sign, i;
	struct tm tm;
	time_t t;
	int64_t off = 0;

	if (api_digits(&p, 4, &year) || *p++ != '-' ||
	    api_digits(&p, 2, &mon) || *p++ != '-' ||
	    api_digits(&p, 2, &day) ||
	    (*p != 'T' && *p != 't'))
		return EINVAL;
	p++;
	if (api_digits(&p, 2, &hour) || *p++ != ':' ||
	    api_digits(&p, 2, &min) || *p++ != ':' ||
	    api_digits(&p, 2, &sec))
		return EINVAL;
	if (mon < 1 || mon > 12 || day < 1 ||
	    day > api_days_in_month(year, mon) || hour > 23 || min > 59 ||
	    sec > 60)
		return EINVAL;
	if (sec == 60)
		sec = 59;

	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return EINVAL;
		for (i = 0; *p >= '0' && *p <= '9'; i++, p++) {
			if (i >= 9)
				return EINVAL;
			if (i < 3)
				frac = frac * 10 + (*p - '0');
		}
		for (; i < 3; i++)
			frac *= 10;
	}

	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (api_digits(&p, 2, &oh) || *p++ != ':' ||
		    api_digits(&p, 2, &om) || oh > 23 || om > 59)
			return EINVAL;
		off = sign * ((int64_t)oh * 3600 + om * 60);
	} else {
		return EINVAL;
	}
	if (*p != '\0')
		return EINVAL;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*ms = ((int64_t)t - off) * 1000 + frac;
	return 0;
}

/* ---- bodies ---- */

int api_json_parse(const char *data, size_t len, size_t max, json_t **objp,
		   struct api_err *e)
{
	json_error_t jerr;
	json_t *root;

	if (len > max) {
		api_err_set(e, 413, "body_too_large",
			    "body: larger than %zu bytes", max);
		return EINVAL;
	}
	if (len == 0) {
		api_err_set(e, 400, "invalid_json",
			    "body: empty; a JSON object is expected");
		return EINVAL;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		api_err_set(e, 400, "invalid_json",
			    "body: %s (line %d, column %d)", jerr.text,
			    jerr.line, jerr.column);
		return EINVAL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		api_err_set(e, 400, "invalid_json",
			    "body: not a JSON object");
		return EINVAL;
	}
	*objp = root;
	return 0;
}

int api_body_parse(struct api *api, struct evhttp_request *req,
		   json_t **objp, struct api_err *e)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	unsigned char *data;

	/* check the size before evbuffer_pullup() copies a huge body */
	if (len > api->cfg->api.max_body)
		return api_json_parse(NULL, len, api->cfg->api.max_body,
				      objp, e);
	data = len ? evbuffer_pullup(in, -1) : NULL;
	if (len && !data) {
		api_err_set(e, 500, "internal", "body: out of memory");
		return EINVAL;
	}
	return api_json_parse((const char *)data, len, api->cfg->api.max_body,
			      objp, e);
}

int api_body_check_keys(const json_t *obj, const char *const *allowed,
			struct api_err *e)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, key, v) {
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			api_err_set(e, 400, "invalid_field",
				    "%.64s: unknown field", key);
			return EINVAL;
		}
	}
	return 0;
}

static json_t *api_field(const json_t *obj, const char *key, bool *present)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_null(v))
		v = NULL;
	if (present)
		*present = v != NULL;
	return v;
}

int api_get_e164(const json_t *obj, const char *key, bool required,
		 char out[E164_SIZE], bool *present, struct api_err *e)
{
	const char *s;
	json_t *v;

	out[0] = '\0';
	v = api_field(obj, key, present);
	if (!v) {
		if (!required)
			return 0;
		api_err_set(e, 400, "missing_field", "%s: required", key);
		return EINVAL;
	}
	if (!json_is_string(v)) {
		api_err_set(e, 400, "invalid_field", "%s: must be a string",
			    key);
		return EINVAL;
	}
	s = json_string_value(v);
	if (json_string_length(v) >= E164_SIZE || !e164_valid(s)) {
		api_err_set(e, 400, "invalid_field",
			    "%s: not an E.164 number", key);
		return EINVAL;
	}
	memcpy(out, s, json_string_length(v) + 1);
	return 0;
}

int api_get_uint(const json_t *obj, const char *key, uint64_t min,
		 uint64_t max, uint64_t *out, bool *present,
		 struct api_err *e)
{
	json_int_t n;
	json_t *v;

	v = api_field(obj, key, present);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		goto bad;
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		goto bad;
	*out = (uint64_t)n;
	return 0;
 bad:
	api_err_set(e, 400, "invalid_field",
		    "%s: must be an integer between %llu and %llu", key,
		    (unsigned long long)min, (unsigned long long)max);
	return EINVAL;
}

int api_get_bool(const json_t *obj, const char *key, bool *out,
		 bool *present, struct api_err *e)
{
	json_t *v;

	v = api_field(obj, key, present);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		api_err_set(e, 400, "invalid_field",
			    "%s: must be true or false", key);
		return EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

/*
 * A callback URL must be absolute http(s) with a host: libevent's own URI
 * parser checks the characters, so what we store can later be handed to
 * the webhook client unchanged.
 */
static bool api_url_valid(const char *s)
{
	struct evhttp_uri *u;
	const char *scheme, *host;
	bool ok = false;

	if (strncasecmp(s, "http://", 7) != 0 &&
	    strncasecmp(s, "https://", 8) != 0)
		return false;
	u = evhttp_uri_parse_with_flags(s, 0);
	if (!u)
		return false;
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	if (scheme && (strcasecmp(scheme, "http") == 0 ||
		       strcasecmp(scheme, "https") == 0) &&
	    host && *host)
		ok = true;
	evhttp_uri_free(u);
	return ok;
}

int api_get_url(const json_t *obj, const char *key, char **out,
		bool *present, bool *is_null, struct api_err *e)
{
	json_t *v = json_object_get(obj, key);
	const char *s;

	*out = NULL;
	*present = v != NULL;
	*is_null = json_is_null(v);
	if (!v || *is_null)
		return 0;
	if (!json_is_string(v)) {
		api_err_set(e, 400, "invalid_field",
			    "%s: must be a string or null", key);
		return EINVAL;
	}
	s = json_string_value(v);
	if (json_string_length(v) > API_URL_MAX) {
		api_err_set(e, 400, "invalid_field",
			    "%s: longer than %d characters", key, API_URL_MAX);
		return EINVAL;
	}
	if (!api_url_valid(s)) {
		api_err_set(e, 400, "invalid_field",
			    "%s: must be an http:// or https:// URL", key);
		return EINVAL;
	}
	*out = strdup(s);
	if (!*out) {
		api_err_set(e, 500, "internal", "%s: out of memory", key);
		return ENOMEM;
	}
	return 0;
}

/* ---- output ---- */

json_t *api_time_json(int64_t ms)
{
	char buf[API_TIME_SIZE];

	api_time_format(ms, buf);
	return json_string(buf);
}

json_t *api_session_json(const struct session *s)
{
	char id[STORE_ID_STR_SIZE];
	json_t *o, *meta = NULL;
	int rc = 0;

	o = json_object();
	if (!o)
		return NULL;
	store_id_format(s->id, id);
	if (s->metadata)
		meta = json_loads(s->metadata, 0, NULL);

	rc |= json_object_set_new(o, "id", json_string(id));
	rc |= json_object_set_new(o, "party_a", json_string(s->party_a));
	rc |= json_object_set_new(o, "party_b", json_string(s->party_b));
	rc |= json_object_set_new(o, "virtual_number", json_string(s->vn));
	rc |= json_object_set_new(o, "status",
				  json_string(session_status_name(s->status)));
	rc |= json_object_set_new(o, "created_at",
				  api_time_json(s->created_at_ms));
	rc |= json_object_set_new(o, "expires_at",
				  api_time_json(s->expires_at_ms));
	rc |= json_object_set_new(o, "ended_at", s->status == SESSION_ACTIVE ?
				  json_null() : api_time_json(s->ended_at_ms));
	rc |= json_object_set_new(o, "call_time_limit",
				  json_integer(s->call_time_limit_s));
	rc |= json_object_set_new(o, "record", json_boolean(s->record));
	rc |= json_object_set_new(o, "callback_url", s->callback_url ?
				  json_string(s->callback_url) : json_null());
	rc |= json_object_set_new(o, "metadata", meta ? meta : json_null());
	rc |= json_object_set_new(o, "pin_required",
				  json_boolean(s->pin_required));
	rc |= json_object_set_new(o, "pin_a", s->pin_a[0] ?
				  json_string(s->pin_a) : json_null());
	rc |= json_object_set_new(o, "pin_b", s->pin_b[0] ?
				  json_string(s->pin_b) : json_null());
	rc |= json_object_set_new(o, "pin_retries",
				  json_integer(s->pin_retries));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * A call as the API shows it. Billing convention: duration is whole
 * seconds from answer to end, rounded up; duration_ms is exact.
 */
json_t *api_cdr_json(const struct cdr *c, const struct session *s)
{
	char id[STORE_ID_STR_SIZE];
	const char *hangup = cdr_hangup_name(c->hangup);
	int64_t talk_ms = c->answer_ms ? c->end_ms - c->answer_ms : 0;
	json_t *o, *media;
	int rc = 0;

	if (talk_ms < 0)
		talk_ms = 0;
	o = json_object();
	media = json_object();
	if (!o || !media) {
		json_decref(o);
		json_decref(media);
		return NULL;
	}
	store_id_format(c->id, id);
	rc |= json_object_set_new(o, "id", json_string(id));
	if (s) {
		store_id_format(c->session_id, id);
		rc |= json_object_set_new(o, "session_id", json_string(id));
		rc |= json_object_set_new(o, "direction",
					  json_string(cdr_direction_name(c)));
		rc |= json_object_set_new(o, "from", json_string(c->a_to_b ?
					  s->party_a : s->party_b));
		rc |= json_object_set_new(o, "to", json_string(c->a_to_b ?
					  s->party_b : s->party_a));
		rc |= json_object_set_new(o, "virtual_number",
					  json_string(s->vn));
	} else {
		/* answered by maskd alone: no parties; the caller's
		 * number only where the record kept it (an unrouted call,
		 * whose call.unrouted named it too; never a PIN caller's) */
		rc |= json_object_set_new(o, "session_id", json_null());
		rc |= json_object_set_new(o, "direction",
					  json_string("inbound"));
		rc |= json_object_set_new(o, "from", c->caller[0] ?
					  json_string(c->caller) :
					  json_null());
		rc |= json_object_set_new(o, "to", json_null());
		rc |= json_object_set_new(o, "virtual_number", c->vn[0] ?
					  json_string(c->vn) : json_null());
	}
	rc |= json_object_set_new(o, "started_at", api_time_json(c->start_ms));
	rc |= json_object_set_new(o, "answered_at", c->answer_ms ?
				  api_time_json(c->answer_ms) : json_null());
	rc |= json_object_set_new(o, "ended_at", api_time_json(c->end_ms));
	rc |= json_object_set_new(o, "duration",
				  json_integer((talk_ms + 999) / 1000));
	rc |= json_object_set_new(o, "duration_ms", json_integer(talk_ms));
	rc |= json_object_set_new(o, "final_code",
				  json_integer(c->final_code));
	rc |= json_object_set_new(o, "hangup_by",
				  hangup ? json_string(hangup) : json_null());
	rc |= json_object_set_new(o, "reason", json_string(c->reason));
	rc |= json_object_set_new(media, "packets_a_to_b",
				  json_integer((json_int_t)c->pkts_a_to_b));
	rc |= json_object_set_new(media, "packets_b_to_a",
				  json_integer((json_int_t)c->pkts_b_to_a));
	rc |= json_object_set_new(media, "bytes_a_to_b",
				  json_integer((json_int_t)c->bytes_a_to_b));
	rc |= json_object_set_new(media, "bytes_b_to_a",
				  json_integer((json_int_t)c->bytes_b_to_a));
	rc |= json_object_set_new(o, "media", media);
	rc |= json_object_set_new(o, "participants",
				  json_integer(c->participants > 2 ?
					       c->participants : 2));
	rc |= json_object_set_new(o, "pin_status", cdr_pin_name(c->pin_status)
				  ? json_string(cdr_pin_name(c->pin_status))
				  : json_null());
	rc |= json_object_set_new(o, "pin_attempts",
				  json_integer(c->pin_attempts));
	rc |= json_object_set_new(o, "hook", c->hook == CDR_HOOK_NONE ?
				  json_null() :
				  json_pack("{s:s, s:I}", "action",
					    cdr_hook_name(c->hook),
					    "latency_ms",
					    (json_int_t)c->hook_latency_ms));
	/* null until the file is finished, and when none is kept */
	rc |= json_object_set_new(o, "recording", ctl_cdr_recording_json(c));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *api_pool_json(const struct pool_number *n)
{
	char added[API_TIME_SIZE];

	api_time_format(n->added_at_ms, added);
	return json_pack("{s:s, s:o, s:I, s:s}",
			 "number", n->vn,
			 "country", n->country[0] ? json_string(n->country) :
						    json_null(),
			 "active_sessions", (json_int_t)n->active,
			 "added_at", added);
}

/* ---- paths and queries ---- */

char *api_path_decode(const char *seg)
{
	size_t len = 0;
	char *out;

	out = evhttp_uridecode(seg, 0, &len);
	if (!out)
		return NULL;
	if (strlen(out) != len) {	/* a %00 inside */
		free(out);
		return NULL;
	}
	return out;
}

static int api_query_add(struct api_query *q, char *k, char *v)
{
	char **keys, **vals;

	keys = realloc(q->keys, (q->n + 1) * sizeof(*keys));
	if (!keys)
		return ENOMEM;
	q->keys = keys;
	vals = realloc(q->vals, (q->n + 1) * sizeof(*vals));
	if (!vals)
		return ENOMEM;
	q->vals = vals;
	q->keys[q->n] = k;
	q->vals[q->n] = v;
	q->n++;
	return 0;
}

/*
 * Our own split rather than evhttp_parse_query_str(): that one turns '+'
 * into a space, and "?party=+14155550100" is how most people will write
 * it.
 */
int api_query_parse(const char *qs, struct api_query *q, struct api_err *e)
{
	char *copy = NULL, *save = NULL, *pair, *eq, *k = NULL, *v = NULL;
	int err = 0;

	memset(q, 0, sizeof(*q));
	if (!qs || !*qs)
		return 0;
	copy = strdup(qs);
	if (!copy) {
		err = ENOMEM;
		goto oom;
	}

	for (pair = strtok_r(copy, "&", &save); pair;
	     pair = strtok_r(NULL, "&", &save)) {
		eq = strchr(pair, '=');
		if (eq)
			*eq = '\0';
		k = api_path_decode(pair);
		v = api_path_decode(eq ? eq + 1 : "");
		if (!k || !v) {
			api_err_set(e, 400, "invalid_field",
				    "query: malformed parameter");
			err = EINVAL;
			goto out;
		}
		if (api_query_get(q, k)) {
			api_err_set(e, 400, "invalid_field",
				    "%.64s: given more than once", k);
			err = EINVAL;
			goto out;
		}
		err = api_query_add(q, k, v);
		if (err)
			goto oom;
		k = v = NULL;
	}
	goto out;
 oom:
	api_err_set(e, 500, "internal", "query: out of memory");
 out:
	free(k);
	free(v);
	free(copy);
	if (err)
		api_query_free(q);
	return err;
}

const char *api_query_get(const struct api_query *q, const char *key)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->keys[i], key) == 0)
			return q->vals[i];
	return NULL;
}

int api_query_check_keys(const struct api_query *q,
			 const char *const *allowed, struct api_err *e)
{
	size_t i, j;

	for (i = 0; i < q->n; i++) {
		for (j = 0; allowed[j]; j++)
			if (strcmp(q->keys[i], allowed[j]) == 0)
				break;
		if (!allowed[j]) {
			api_err_set(e, 400, "invalid_field",
				    "%.64s: unknown parameter", q->keys[i]);
			return EINVAL;
		}
	}
	return 0;
}

void api_query_free(struct api_query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->keys[i]);
		free(q->vals[i]);
	}
	free(q->keys);
	free(q->vals);
	memset(q, 0, sizeof(*q));
}
