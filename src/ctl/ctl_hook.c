/*
 * ctl_hook.c - the call-routing hook ([hooks]): the SIP thread's
 * questions about parked INVITEs (sip_hook.c) asked of the platform, and
 * the decisions sent back.
 *
 *   ctl_hook_ask()   any thread (the SIP thread): a copy of the question
 *                    into the hook's mailbox
 *   the request      a signed POST (Standard Webhooks headers, the
 *                    [events] secrets, webhook-id "msg_" + the call's
 *                    id) of {"type":"call.route","timestamp","data":{
 *                    call_id, from, to, trunk, session_id, other_party}}
 *                    by libcurl's multi on this loop (ctl_curl.c), its
 *                    own multi: a slow hook never waits behind event
 *                    deliveries. timeout_ms bounds it all; the SSRF rule
 *                    of webhooks applies after resolution; an answer
 *                    past HK_BODY_MAX is cut off (an error)
 *   the answer       2xx and JSON {"action": connect|allow|reject|
 *                    announce, ...}; anything else is an error, which the
 *                    SIP side turns into [hooks] on_error
 *   create_session   a connect's session goes through the normal create
 *                    path (ctl_session_create(), group commit) before the
 *                    decision leaves, so the call is that session's
 *   back             sip_cmd_hook_answer() into the SIP command queue
 *
 * Counted in maskd_hook_requests_total{result} and maskd_hook_seconds.
 * Control thread only, but ctl_hook_ask().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "maskd/e164.h"
#include "maskd/mailbox.h"
#include "maskd/prompt.h"
#include "maskd/sip.h"

#include "ctl_internal.h"

/* The largest answer read: a decision is a few dozen bytes. */
#define HK_BODY_MAX (64 * 1024)

struct hk_req {
	struct ctl_hook *hk;
	struct sip_hook_ask q;
	CURL *easy;
	struct curl_slist *headers;
	char *body;			/* the request's */
	char *resp;			/* the answer so far */
	size_t resp_len;
	bool too_big;
	bool ssrf;			/* refused after resolution */
	int64_t started_ms;		/* monotonic */
	char errbuf[CURL_ERROR_SIZE];
	struct sip_hook_answer a;	/* the decision, once known */
	struct hk_req *next;		/* hk->reqs */
};

struct ctl_hook {
	struct ctl *ctl;
	struct mailbox *mb;		/* SIP thread -> here */
	struct ctl_curl *cc;
	struct hk_req *reqs;		/* in flight, or creating a session */
	bool stopping;
};

static void hk_req_free(struct hk_req *r)
{
	struct hk_req **pp;

	if (!r)
		return;
	for (pp = &r->hk->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->easy) {
		ctl_curl_release(r->hk->cc, r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

/* The decision out to the SIP thread, counted; frees @r. */
static void hk_send(struct hk_req *r, enum ctl_hook_result res)
{
	struct ctl *ctl = r->hk->ctl;

	ctl->ctr.hook_requests[res]++;
	r->a.token = r->q.token;
	if (ctl->sip && sip_cmd_hook_answer(ctl->sip, &r->a)) {
		/* the parked INVITE's guard timer decides instead */
		ctl->ctr.sip_cmds_lost++;
		log_warn(ctl->log, "hook: a decision was lost: the SIP "
			 "queue is full");
	}
	hk_req_free(r);
}

/* ---- the answer ---- */

/*
 * The hook's JSON into r->a; *ttl_s > 0 when a connect asked for a
 * session. Returns the result, CTL_HOOK_ERROR for what is not a valid
 * answer (@why says what).
 */
static enum ctl_hook_result hk_parse(struct hk_req *r, uint32_t *ttl_s,
				     const char **why)
{
	const struct config *cfg = r->hk->ctl->cfg;
	struct sip_hook_answer *a = &r->a;
	enum ctl_hook_result res = CTL_HOOK_ERROR;
	json_t *root, *v, *cs;
	const char *action, *s;
	json_int_t n;
	int i;

	*ttl_s = 0;
	root = json_loadb(r->resp ? r->resp : "", r->resp_len, 0, NULL);
	if (!json_is_object(root)) {
		*why = "not a JSON object";
		goto out;
	}
	action = json_string_value(json_object_get(root, "action"));
	if (!action) {
		*why = "no action";
		goto out;
	}
	if (!strcmp(action, "connect")) {
		s = json_string_value(json_object_get(root, "to"));
		if (!s || !e164_valid(s)) {
			*why = "connect: to is not an E.164 number";
			goto out;
		}
		snprintf(a->to, sizeof(a->to), "%s", s);
		cs = json_object_get(root, "create_session");
		if (cs && !json_is_null(cs)) {
			if (!json_is_object(cs)) {
				*why = "connect: create_session is not an "
				       "object";
				goto out;
			}
			v = json_object_get(cs, "ttl");
			n = v ? (json_is_integer(v) ? json_integer_value(v) : -1)
			      : (json_int_t)cfg->session.default_ttl_s;
			if (n < 1 || n > (json_int_t)cfg->session.max_ttl_s) {
				*why = "connect: create_session.ttl is not "
				       "1 to [session] max_ttl seconds";
				goto out;
			}
			*ttl_s = (uint32_t)n;
		}
		a->action = SIP_HOOK_CONNECT;
		res = CTL_HOOK_CONNECT;
	} else if (!strcmp(action, "allow")) {
		a->action = SIP_HOOK_ALLOW;
		res = CTL_HOOK_ALLOW;
	} else if (!strcmp(action, "reject") || !strcmp(action, "announce")) {
		v = json_object_get(root, "status");
		n = !v ? (action[0] == 'r' ? 403 : 0) :
		    json_is_integer(v) ? json_integer_value(v) : -1;
		if (v && (n < 400 || n > 699)) {
			*why = "status is not 400 to 699";
			goto out;
		}
		a->status = (uint16_t)n;
		if (action[0] == 'r') {
			a->action = SIP_HOOK_REJECT;
			res = CTL_HOOK_REJECT;
			goto out;
		}
		a->prompt = PROMPT_UNKNOWN;
		v = json_object_get(root, "prompt");
		if (v) {
			s = json_string_value(v);
			for (i = 0; s && i < PROMPT_N; i++)
				if (!strcmp(s, prompt_name((enum prompt_id)i)))
					break;
			if (!s || i == PROMPT_N) {
				*why = "announce: no such prompt";
				goto out;
			}
			a->prompt = i;
		}
		a->action = SIP_HOOK_ANNOUNCE;
		res = CTL_HOOK_ANNOUNCE;
	} else {
		*why = "unknown action";
	}
 out:
	json_decref(root);
	return res;
}

/* create_session's done handler: the call connects either way. */
static void hk_on_created(int err, bool lost, const struct session *s,
			  void *arg)
{
	struct hk_req *r = arg;
	struct ctl *ctl = r->hk->ctl;
	struct sip_hook_session *hs = &r->a.session;

	if (!err && !lost) {
		r->a.has_session = true;
		memcpy(hs->id, s->id, STORE_ID_LEN);
		snprintf(hs->party_a, sizeof(hs->party_a), "%s", s->party_a);
		snprintf(hs->party_b, sizeof(hs->party_b), "%s", s->party_b);
		hs->call_time_limit_s = s->call_time_limit_s;
	} else {
		ctl->ctr.hook_sessions_refused++;
		log_info(ctl->log, "hook: create_session refused (%s); the "
			 "call connects without a session",
			 lost ? "not stored" : strerror(err));
	}
	hk_send(r, CTL_HOOK_CONNECT);
}

static void hk_create_session(struct hk_req *r, uint32_t ttl_s)
{
	struct session_params p;

	memset(&p, 0, sizeof(p));
	p.party_a = r->q.from;
	p.party_b = r->a.to;
	p.vn = r->q.to;
	p.ttl_ms = (int64_t)ttl_s * 1000;
	if (ctl_session_create(r->hk->ctl, &p, hk_on_created, r)) {
		r->hk->ctl->ctr.hook_sessions_refused++;
		hk_send(r, CTL_HOOK_CONNECT);
	}
}

/* ctl_curl_done_h */
static void hk_on_done(CURL *easy, CURLcode res, void *arg)
{
	struct ctl_hook *hk = arg;
	struct ctl *ctl = hk->ctl;
	struct hk_req *r = NULL;
	enum ctl_hook_result result;
	const char *why = NULL;
	uint32_t ttl_s = 0;
	long code = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	if (!r)
		return;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	metrics_hist_observe(&ctl->cells.hook_ms,
			     (uint64_t)(clock_mono_ms() - r->started_ms));
	/* the transfer is over: its handle goes now, the answer stays */
	ctl_curl_release(hk->cc, r->easy);
	r->easy = NULL;

	memset(&r->a, 0, sizeof(r->a));
	r->a.action = SIP_HOOK_ERROR;
	if (res == CURLE_OPERATION_TIMEDOUT) {
		result = CTL_HOOK_TIMEOUT;
		why = "timed out";
	} else if (r->ssrf) {
		result = CTL_HOOK_ERROR;
		why = "the host resolves to a forbidden address";
	} else if (r->too_big) {
		result = CTL_HOOK_ERROR;
		why = "answer too large";
	} else if (res != CURLE_OK) {
		result = CTL_HOOK_ERROR;
		why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
	} else if (code < 200 || code > 299) {
		result = CTL_HOOK_ERROR;
		why = "not a 2xx";
	} else {
		result = hk_parse(r, &ttl_s, &why);
		if (result == CTL_HOOK_ERROR)
			r->a.action = SIP_HOOK_ERROR;
	}
	if (why)
		log_warn(ctl->log, "hook: no decision (HTTP %ld): %s; "
			 "on_error applies", code, why);
	if (result == CTL_HOOK_CONNECT && ttl_s) {
		hk_create_session(r, ttl_s);
		return;
	}
	hk_send(r, result);
}

/* ---- the request ---- */

static size_t hk_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct hk_req *r = arg;
	size_t len = size * n;
	char *nb;

	if (r->resp_len + len > HK_BODY_MAX) {
		r->too_big = true;
		return 0;		/* CURLE_WRITE_ERROR: the transfer ends */
	}
	nb = realloc(r->resp, r->resp_len + len + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->resp_len, p, len);
	r->resp = nb;
	r->resp_len += len;
	nb[r->resp_len] = '\0';
	return len;
}

/* CURLOPT_OPENSOCKETFUNCTION: the SSRF rule on the resolved address */
static curl_socket_t hk_open_socket(void *arg, curlsocktype purpose,
				    struct curl_sockaddr *a)
{
	struct hk_req *r = arg;

	(void)purpose;
	if (!ctl_addr_ok(&r->hk->ctl->evc, &a->addr)) {
		r->ssrf = true;
		return CURL_SOCKET_BAD;
	}
	return ctl_curl_socket(r->hk->cc, a);
}

static char *hk_body(const struct sip_hook_ask *q)
{
	char id[STORE_ID_STR_SIZE], sid[STORE_ID_STR_SIZE];
	char at[CLOCK_RFC3339_SIZE];
	json_t *root;
	char *out;

	store_id_format(q->call_id, id);
	store_id_format(q->session_id, sid);
	clock_rfc3339(clock_now_ms(), at);
	root = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:o, s:o}}",
			 "type", "call.route", "timestamp", at, "data",
			 "call_id", id, "from", q->from, "to", q->to,
			 "trunk", q->trunk,
			 "session_id", q->has_session ? json_string(sid) :
			 json_null(),
			 "other_party", q->has_session ?
			 json_string(q->other_party) : json_null());
	if (!root)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

static int hk_start(struct ctl_hook *hk, const struct sip_hook_ask *q)
{
	const struct ctl *ctl = hk->ctl;
	const struct ctl_events_conf *c = &ctl->evc;
	char sig[WEBHOOK_SIG_SIZE], h[WEBHOOK_SIG_SIZE + 32];
	char id[EVENT_ID_STR_SIZE];
	int64_t ts = clock_now_ms() / 1000;
	struct curl_slist *l;
	struct hk_req *r;
	int err = ENOMEM;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->hk = hk;
	r->q = *q;
	r->next = hk->reqs;
	hk->reqs = r;
	r->started_ms = clock_mono_ms();
	r->body = hk_body(q);
	if (!r->body)
		goto fail;
	event_id_format(q->call_id, id);
	err = webhook_sign(c->keys, c->n_keys, id, ts, r->body,
			   strlen(r->body), sig, sizeof(sig));
	if (err)
		goto fail;
	err = ENOMEM;
	r->easy = ctl_curl_easy(hk->cc, NULL);
	if (!r->easy)
		goto fail;
	l = curl_slist_append(NULL, "Content-Type: application/json");
	r->headers = l;
	snprintf(h, sizeof(h), "webhook-id: %s", id);
	if (l)
		l = curl_slist_append(l, h);
	snprintf(h, sizeof(h), "webhook-timestamp: %" PRId64, ts);
	if (l)
		l = curl_slist_append(l, h);
	snprintf(h, sizeof(h), "webhook-signature: %s", sig);
	if (l)
		l = curl_slist_append(l, h);
	if (l)
		l = curl_slist_append(l, "Expect:");
	if (!l)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_URL, ctl->cfg->hooks.route_url);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
			 (long)ctl->cfg->hooks.timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "maskd-hooks/1");
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE,
			 (long)strlen(r->body));
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, hk_on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETFUNCTION, hk_open_socket);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(ctl_curl_multi(hk->cc), r->easy) !=
	    CURLM_OK)
		goto fail;	/* hk_req_free() releases the handle */
	return 0;
 fail:
	hk_req_free(r);
	return err;
}

/* mailbox_h: a question from the SIP thread */
static void hk_on_ask(void *msg, void *arg)
{
	struct ctl_hook *hk = arg;
	struct hk_req tmp;
	int err;

	if (hk->stopping)
		return;
	err = hk_start(hk, msg);
	if (!err)
		return;
	log_warn(hk->ctl->log, "hook: cannot ask: %s; on_error applies",
		 strerror(err));
	/* an answer of its own, so the caller is not left to the guard */
	memset(&tmp, 0, sizeof(tmp));
	tmp.q = *(const struct sip_hook_ask *)msg;
	tmp.a.action = SIP_HOOK_ERROR;
	hk->ctl->ctr.hook_requests[CTL_HOOK_ERROR]++;
	tmp.a.token = tmp.q.token;
	if (hk->ctl->sip && sip_cmd_hook_answer(hk->ctl->sip, &tmp.a))
		hk->ctl->ctr.sip_cmds_lost++;
}

int ctl_hook_ask(struct ctl *ctl, const struct sip_hook_ask *q)
{
	if (!ctl->hk)
		return ENOSYS;
	return mailbox_post(ctl->hk->mb, q);
}

int ctl_hook_start(struct ctl *ctl)
{
	const char *url = ctl->cfg->hooks.route_url;
	struct ctl_hook *hk;
	char why[160];
	int err;

	if (!url[0] || ctl->hk)
		return 0;
	if (!ctl->evc.n_keys) {
		log_error(ctl->log, "hook: hooks.route_url needs "
			  "events.secrets to sign with");
		return EINVAL;
	}
	if (ctl_event_url_check(ctl, url, why, sizeof(why))) {
		log_error(ctl->log, "hook: hooks.route_url %s", why);
		return EINVAL;
	}
	hk = calloc(1, sizeof(*hk));
	if (!hk)
		return ENOMEM;
	hk->ctl = ctl;
	ctl->hk = hk;
	err = ctl_curl_new(&hk->cc, ctl->base, hk_on_done, hk);
	if (!err)
		err = mailbox_alloc(&hk->mb, ctl->base,
				    sizeof(struct sip_hook_ask), hk_on_ask, hk);
	if (err) {
		ctl_hook_stop(ctl);
		return err;
	}
	return 0;
}

void ctl_hook_stop(struct ctl *ctl)
{
	struct ctl_hook *hk = ctl->hk;
	struct hk_req *r, *next;

	if (!hk)
		return;
	/* the SIP side is gone (main.c stops it first): what is still
	 * asked or queued is dropped; a create in the writer keeps its
	 * request until its done handler runs (ctl_stop() flushes) */
	hk->stopping = true;
	mailbox_free(hk->mb);
	hk->mb = NULL;
	for (r = hk->reqs; r; r = next) {
		next = r->next;
		if (r->easy)
			hk_req_free(r);
	}
	writer_flush(ctl->w);
	while (hk->reqs)
		hk_req_free(hk->reqs);
	ctl_curl_free(hk->cc);
	free(hk);
	ctl->hk = NULL;
}
