/*
 * ctl_deliver.c - the outbox out: signed POSTs by libcurl's multi
 * interface, driven by the control thread's libevent loop (ctl_curl.c),
 * so many deliveries are in flight and none ever blocks the loop.
 *
 * Every DL_TICK_MS (every DL_BUSY_WALK_MS while each known endpoint is
 * at its cap; and on the loop turn after a batch of outcomes is
 * committed, or after a response frees a full endpoint's slot) the due
 * index is read
 * (a kick's read starts past the rows it knows are all in flight or
 * waiting behind one, struct ctl_deliver's resume_ms; the tick's from
 * the head); each due event that is not in flight, not behind an
 * earlier pending event of its session (per-session order), and has an
 * endpoint below its concurrency cap is sent to each of its endpoints
 * ([events] url, the session's callback_url) not yet done. When all its
 * requests are back the outcome goes through the writer with the other
 * outcomes of its commit window (store_event_attempt(), dl_commit()):
 * delivered, pending again at the next slot of
 * the schedule (Retry-After honoured on 429/503), or failed once the
 * schedule is exhausted. An event stays "in flight" until that outcome is
 * committed, so it is never sent twice by this process; after kill -9 it
 * is sent again with the same webhook-id (at-least-once).
 *
 * Each destination is its own: an event records which destinations
 * have it (struct event's done bits), a retry goes only to the others,
 * and per-session order holds per destination (store_event_session_
 * waiting()), so a dead callback_url never holds back the [events] url's
 * copies. One schedule per event: its attempts count for both.
 *
 * An endpoint's disabled flag (410, disable_after) and since when it has
 * been failing are kept in the store (store_webhook.c), written when they
 * change: a restart keeps a disabled endpoint disabled and disable_after
 * counting. Its counters (delivered, failed) are since start.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <curl/curl.h>

#include "ctl_deliver.h"

#define DL_TICK_MS 100
#define DL_BUSY_WALK_MS 1000		/* the tick's walk while every known
					 * endpoint is at its cap */
#define DL_KICK_MS 0			/* a scan after responses or commits:
					 * the next loop turn (dl_kick()) */
#define DL_BATCH 256			/* due events started per scan */
#define DL_SCAN_MAX 1024		/* due rows looked at per scan */
#define DL_RETRY_AFTER_MAX_S 86400
#define DL_DISABLED_RETRY_MS 60000	/* a disabled endpoint's events */
#define DL_PURGE_MS 10000		/* retention purge every 10 s */
#define DL_PURGE_MAX 10000		/* events deleted per purge */

static bool dl_ep_full(const struct ctl_deliver *dl,
		       const struct dl_endpoint *ep)
{
	return ep->in_flight >= dl->ctl->evc.concurrency;
}

/* No known endpoint could take a request now (each at its cap or
 * disabled): a scan would only pass over rows. */
static bool dl_all_busy(const struct ctl_deliver *dl)
{
	const struct dl_endpoint *ep;

	for (ep = dl->eps; ep; ep = ep->next)
		if (!ep->disabled && !dl_ep_full(dl, ep))
			return false;
	return dl->eps != NULL;
}

/* CURLOPT_OPENSOCKETFUNCTION: the address curl resolved, checked before
 * any byte goes out (a name resolving to 127.0.0.1 is caught here). */
static curl_socket_t dl_open_socket(void *arg, curlsocktype purpose,
				    struct curl_sockaddr *a)
{
	struct dl_req *r = arg;

	(void)purpose;
	if (!ctl_addr_ok(&r->ev->dl->ctl->evc, &a->addr)) {
		r->ssrf = true;
		return CURL_SOCKET_BAD;
	}
	return ctl_curl_socket(r->ev->dl->cc, a);
}

/* ---- requests ---- */

static size_t dl_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static size_t dl_header(char *p, size_t size, size_t n, void *arg)
{
	struct dl_req *r = arg;
	size_t len = size * n;
	char buf[32];
	size_t i;

	if (len > 12 && len < 12 + sizeof(buf) &&
	    !strncasecmp(p, "retry-after:", 12)) {
		memcpy(buf, p + 12, len - 12);
		buf[len - 12] = '\0';
		i = strspn(buf, " \t");
		if (buf[i] >= '0' && buf[i] <= '9') {
			unsigned long v = strtoul(buf + i, NULL, 10);

			r->retry_after_s = v > DL_RETRY_AFTER_MAX_S ?
					   DL_RETRY_AFTER_MAX_S : (uint32_t)v;
		}
	}
	return len;
}

/* An id's bucket: bytes 8.. of an id are random (store_id_new()). */
static unsigned dl_hash(const uint8_t id[STORE_ID_LEN])
{
	uint32_t h;

	memcpy(&h, id + 8, sizeof(h));
	return h % DL_HASH;
}

/* A kick's walk starts no later than @at_ms (struct ctl_deliver). */
static void dl_due_at(struct ctl_deliver *dl, int64_t at_ms)
{
	if (at_ms < dl->resume_ms)
		dl->resume_ms = at_ms;
	if (at_ms < dl->scan_low_ms)
		dl->scan_low_ms = at_ms;
}

void ctl_deliver_due(struct ctl *ctl, int64_t at_ms)
{
	if (ctl->dl)
		dl_due_at(ctl->dl, at_ms);
}

static void dl_event_link(struct ctl_deliver *dl, struct dl_event *e)
{
	unsigned b = dl_hash(e->ev.id);

	e->unblock_ms = INT64_MAX;
	e->next = dl->events;
	dl->events = e;
	e->hnext = dl->hash[b];
	dl->hash[b] = e;
	if (e->ev.has_session) {
		b = dl_hash(e->ev.session_id);
		e->snext = dl->shash[b];
		dl->shash[b] = e;
	}
}

static void dl_event_free(struct dl_event *e)
{
	struct dl_event **pp;

	/* the later events of its session a walk passed over for it may
	 * go now: the next kick reads from the first of them */
	if (e->unblock_ms != INT64_MAX)
		dl_due_at(e->dl, e->unblock_ms);
	if (e->ev.has_session) {
		for (pp = &e->dl->shash[dl_hash(e->ev.session_id)]; *pp;
		     pp = &(*pp)->snext) {
			if (*pp == e) {
				*pp = e->snext;
				break;
			}
		}
	}

	for (pp = &e->dl->events; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	for (pp = &e->dl->hash[dl_hash(e->ev.id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	event_clear(&e->ev);
	free(e);
}

static void dl_req_free(struct ctl_deliver *dl, struct dl_req *r)
{
	struct dl_req **pp;

	for (pp = &dl->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->easy) {
		ctl_curl_release(dl->cc, r->easy);
	}
	free(r);
}

/* The header lines every request has (curl_slist's data is not const). */
static char dl_h_type[] = "Content-Type: application/json";
static char dl_h_expect[] = "Expect:";

/* What every request sets alike: once per easy handle, which keeps its
 * options in ctl_curl's pool. */
static void dl_req_setup(CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "maskd-webhooks/1");
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, dl_discard);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, dl_header);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, dl_open_socket);
}

static int dl_req_start(struct dl_event *e, struct dl_endpoint *ep,
			unsigned bit)
{
	struct ctl_deliver *dl = e->dl;
	const struct ctl_events_conf *c = &dl->ctl->evc;
	char sig[WEBHOOK_SIG_SIZE];
	int64_t ts = clock_now_ms() / 1000;
	struct dl_req *r;
	bool reused;
	int err, i;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->ev = e;
	r->ep = ep;
	r->bit = bit;
	r->started_ms = clock_now_ms();
	err = webhook_sign(c->keys, c->n_keys, e->id, ts, e->ev.body,
			   e->ev.body_len, sig, sizeof(sig));
	if (err)
		goto fail;
	err = ENOMEM;
	r->easy = ctl_curl_easy(dl->cc, &reused);
	if (!r->easy)
		goto fail;
	if (!reused)
		dl_req_setup(r->easy);
	snprintf(r->hdr_id, sizeof(r->hdr_id), "webhook-id: %s", e->id);
	snprintf(r->hdr_ts, sizeof(r->hdr_ts), "webhook-timestamp: %" PRId64,
		 ts);
	snprintf(r->hdr_sig, sizeof(r->hdr_sig), "webhook-signature: %s",
		 sig);
	r->hdr[0].data = dl_h_type;
	r->hdr[1].data = r->hdr_id;
	r->hdr[2].data = r->hdr_ts;
	r->hdr[3].data = r->hdr_sig;
	r->hdr[4].data = dl_h_expect;
	for (i = 0; i < DL_HEADERS; i++)
		r->hdr[i].next = i + 1 < DL_HEADERS ? &r->hdr[i + 1] : NULL;
	curl_easy_setopt(r->easy, CURLOPT_URL, ep->url);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
			 (long)c->timeout_s * 1000L);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdr);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, e->ev.body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE,
			 (long)e->ev.body_len);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(dl->multi, r->easy) != CURLM_OK)
		goto fail;
	ep->in_flight++;
	e->out++;
	r->next = dl->reqs;
	dl->reqs = r;
	return 0;
 fail:
	dl_req_free(dl, r);
	return err;
}

/* ---- outcomes ---- */

static uint32_t dl_jitter(uint32_t s)
{
	uint32_t rnd = 0;

	/* up to +10%, so a burst of failures does not retry in lockstep */
	if (s == 0 || getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return s * 1000;
	return s * 1000 + rnd % (s * 100 + 1);
}

/*
 * A scan soon: after a response frees an endpoint's slot, after a batch
 * of outcomes is committed (the next events of their sessions may go).
 * One timer for a burst: a scan reads the head of the due index, so one
 * per response would read it hundreds of times a second for nothing. Its
 * 0 ms makes it the next loop turn, after every response and commit of
 * this one. It was 2 ms: at the default [events] concurrency (16) a
 * freed slot then idled 2 ms after each response, which held an
 * endpoint to about 4,000 events a second at a fifth of a core
 * (bench_events.py 1: 3,924/s; 28,213/s now, and 34 us of CPU an event
 * instead of 52).
 */
static void dl_kick(struct ctl_deliver *dl)
{
	struct timeval tv = { 0, DL_KICK_MS * 1000 };

	if (dl->stopping || dl->kicked)
		return;
	if (event_add(dl->kick, &tv)) {
		event_active(dl->tick, EV_TIMEOUT, 0);
		return;
	}
	dl->kicked = true;
}

/* The batch is on disk (or failed): its events leave the in-flight set. */
static void dl_committed(int err, void *arg)
{
	struct dl_batch *b = arg;
	struct ctl_deliver *dl = b->dl;
	struct dl_event *e;

	if (err)
		log_warn(dl->ctl->log, "events: outcomes of %u events not "
			 "stored: %s (they will be sent again)", b->n,
			 strerror(err));
	while ((e = b->list)) {
		b->list = e->bnext;
		/* its row: still at its old key (not stored), or pending
		 * again at a new one (may be now) */
		if (err)
			dl_due_at(dl, e->ev.next_at_ms);
		else if (e->a.status == EVENT_PENDING)
			dl_due_at(dl, e->a.next_at_ms);
		dl_event_free(e);
	}
	free(b);
	dl_kick(dl);
}

static int dl_commit_run(struct store_txn *tx, void *arg)
{
	struct dl_batch *b = arg;
	struct dl_event *e;
	int err;

	/* outcomes from now on go in the next batch */
	if (b->dl->batch == b)
		b->dl->batch = NULL;
	for (e = b->list; e; e = e->bnext) {
		err = store_event_attempt(tx, e->ev.id, &e->a);
		if (err == ENOENT)
			continue;	/* the row is gone: nothing to mark */
		if (err)
			return err;	/* all of them pending still */
	}
	return 0;
}

/*
 * The outcome of @e to the store. Outcomes are gathered into one writer
 * operation, queued by writer_submit_group(): many share one commit and
 * one fsync (at 100 calls/s four per call would otherwise each pay their
 * own), and one nested transaction (LMDB allocates megabytes of dirty
 * lists for each), with the call records and events queued beside it.
 * The events stay in flight (dl->events) until the commit, so this
 * process never sends one twice. A crash in that window,
 * or a failed commit, loses only outcomes: the events are still pending
 * in the store and go out again, after restart, with the same
 * webhook-id, which at-least-once delivery (Standard Webhooks) allows;
 * per-session order holds, since event n+1 waits for n's commit.
 */
static void dl_commit(struct dl_event *e)
{
	struct ctl_deliver *dl = e->dl;
	struct dl_batch *b = dl->batch;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			goto lost;
		b->dl = dl;
		if (writer_submit_group(dl->ctl->w, dl_commit_run,
					dl_committed, b)) {
			free(b);
			goto lost;
		}
		dl->batch = b;
	}
	e->bnext = b->list;
	b->list = e;
	b->n++;
	return;
 lost:
	/* ENOMEM: it stays pending in the store; sent again later */
	dl_due_at(dl, e->ev.next_at_ms);
	dl_event_free(e);
}

/* Every request of @e is back: decide and commit. */
static void dl_event_finish(struct dl_event *e)
{
	struct ctl_deliver *dl = e->dl;
	struct ctl *ctl = dl->ctl;
	const struct ctl_events_conf *c = &ctl->evc;
	int64_t now = clock_now_ms();
	uint32_t delay_ms;
	size_t slot;

	e->todo &= ~e->done_bits;
	memset(&e->a, 0, sizeof(e->a));
	e->a.at_ms = now;
	e->a.code = e->code;
	e->a.error = e->error[0] ? e->error : NULL;
	e->a.done = (uint8_t)e->done_bits;
	if (!e->todo && e->waiting) {
		/* every destination tried has it; the others wait for an
		 * earlier event of the session: due again, no slot used */
		e->a.status = EVENT_PENDING;
		e->a.next_at_ms = now;
		e->a.uncounted = true;
		e->a.code = e->code ? e->code : 200;
		e->a.error = NULL;
	} else if (!e->todo) {
		e->a.status = EVENT_DELIVERED;
		e->a.code = e->code ? e->code : 200;
		e->a.error = NULL;
		ctl->ctr.deliveries[CTL_DELIVERY_OK]++;
	} else if ((e->gone && !e->waiting) ||
		   (slot = e->ev.attempts + 1) >= c->n_schedule) {
		e->a.status = EVENT_FAILED;
		ctl->ctr.deliveries[CTL_DELIVERY_FAILED]++;
		log_warn(ctl->log, "events: %s (%s) given up after %u "
			 "attempts: %s", e->id, e->ev.type,
			 e->ev.attempts + 1, e->error);
	} else {
		delay_ms = dl_jitter(c->schedule_s[slot]);
		if (e->retry_after_s &&
		    (uint64_t)e->retry_after_s * 1000 > delay_ms)
			delay_ms = e->retry_after_s * 1000;
		e->a.status = EVENT_PENDING;
		e->a.next_at_ms = now + delay_ms;
		ctl->ctr.deliveries[CTL_DELIVERY_RETRY]++;
	}
	dl_commit(e);
}

static void dl_req_done(struct ctl_deliver *dl, struct dl_req *r,
			CURLcode res)
{
	struct dl_event *e = r->ev;
	struct dl_endpoint *ep = r->ep;
	long code = 0;
	int64_t now = clock_now_ms();
	bool was_full = dl_ep_full(dl, ep);

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	log_debug(dl->ctl->log, "events: %s: %s, HTTP %ld", e->id,
		  curl_easy_strerror(res), code);
	ep->in_flight--;
	ep->last_code = (uint16_t)code;
	if (res == CURLE_OK && code >= 200 && code < 300) {
		e->done_bits |= r->bit;
		ep->delivered++;
		metrics_hist_observe(&dl->ctl->cells.delivery_ms,
				     (uint64_t)(now - r->started_ms));
		if (ep->failing_since_ms) {
			ep->failing_since_ms = 0;
			dl_persist(dl->ctl, ep);
		}
	} else {
		ep->failed++;
		if (!ep->failing_since_ms) {
			ep->failing_since_ms = now;
			if (code != 410)	/* dl_disable() keeps it */
				dl_persist(dl->ctl, ep);
		}
		if (r->ssrf)
			snprintf(e->error, sizeof(e->error), "refused: the "
				 "host resolves to a forbidden address");
		else if (res != CURLE_OK)
			snprintf(e->error, sizeof(e->error), "%.80s",
				 r->errbuf[0] ? r->errbuf :
				 curl_easy_strerror(res));
		else
			snprintf(e->error, sizeof(e->error), "HTTP %ld", code);
		e->code = (uint16_t)code;
		if (code == 429 || code == 503)
			e->retry_after_s = r->retry_after_s;
		if (code == 410) {
			e->gone = true;
			dl_disable(dl, ep, "410 Gone");
		} else if (now - ep->failing_since_ms >=
			   dl->ctl->evc.disable_after_ms) {
			dl_disable(dl, ep, "failing for disable_after");
		}
	}
	dl_req_free(dl, r);
	if (--e->out == 0)
		dl_event_finish(e);
	/* the endpoint had events waiting for a slot: fill it without
	 * waiting for this outcome's commit (the event itself stays in
	 * flight until then). Below its cap nothing waits on it: the next
	 * event of this session waits for the commit, which kicks. */
	if (was_full)
		dl_kick(dl);
}

/* ctl_curl_done_h: a request is over */
static void dl_on_done(CURL *easy, CURLcode res, void *arg)
{
	struct ctl_deliver *dl = arg;
	struct dl_req *r = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	if (r)
		dl_req_done(dl, r, res);
}

/* ---- the tick: due events out ---- */

static bool dl_in_flight(struct ctl_deliver *dl, const uint8_t *id)
{
	struct dl_event *e;

	for (e = dl->hash[dl_hash(id)]; e; e = e->hnext)
		if (!memcmp(e->ev.id, id, STORE_ID_LEN))
			return true;
	return false;
}

/*
 * A row the walk met, due at @at_ms: @clean when it is in flight now,
 * or waits for an event that is. The kick's start moves past the rows
 * up to the first that is not (struct ctl_deliver's resume_ms).
 */
static void dl_scan_row(struct ctl_deliver *dl, int64_t at_ms, bool clean)
{
	if (!dl->scan_clean)
		return;
	dl->scan_resume_ms = at_ms;
	dl->scan_clean = clean;
}

/* event_due_id_h of the due scan: an event being sent, by its key. */
static int dl_id_skip(const uint8_t id[STORE_ID_LEN], int64_t at_ms,
		      void *arg)
{
	struct ctl_deliver *dl = arg;

	if (!dl_in_flight(dl, id))
		return 0;
	dl_scan_row(dl, at_ms, true);
	return 1;
}

/*
 * Whether @head waits for an earlier event of its session that is in
 * flight, for each of the destinations @todo it still has to reach:
 * what store_event_session_waiting() would answer (that event is
 * pending in the store until its outcome is committed, with the done
 * bits of our copy), without a cursor over evt_sess per row.
 */
static bool dl_session_blocked(struct ctl_deliver *dl,
			       const struct event *head, unsigned todo)
{
	struct dl_event *p;

	if (!head->has_session || !todo)
		return false;
	for (p = dl->shash[dl_hash(head->session_id)]; p; p = p->snext) {
		if (p->ev.sequence >= head->sequence ||
		    (p->ev.done & todo) ||
		    memcmp(p->ev.session_id, head->session_id, STORE_ID_LEN))
			continue;
		if (head->next_at_ms < p->unblock_ms)
			p->unblock_ms = head->next_at_ms;
		return true;
	}
	return false;
}

/*
 * event_skip_h of the due scan: an event being sent, one waiting for an
 * earlier event of its session that is being sent, or one whose every
 * destination still to reach is a known endpoint at its cap (dl_on_due()
 * would leave each for later anyway), is passed over before its row is
 * copied. An unknown endpoint (a callback_url not seen yet) is never
 * full: a busy endpoint does not hide the events of another.
 */
static int dl_skip(const struct event *head, const char *url,
		   size_t url_len, void *arg)
{
	struct ctl_deliver *dl = arg;
	const struct ctl_events_conf *c = &dl->ctl->evc;
	struct dl_endpoint *ep;
	unsigned todo = 0;
	bool any = false;

	if (dl_in_flight(dl, head->id)) {
		dl_scan_row(dl, head->next_at_ms, true);
		return 1;
	}
	if (c->url && *c->url && !(head->done & DL_TO_URL))
		todo |= DL_TO_URL;
	if (url_len && !(head->done & DL_TO_CALLBACK))
		todo |= DL_TO_CALLBACK;
	if (dl_session_blocked(dl, head, todo)) {
		dl_scan_row(dl, head->next_at_ms, true);
		return 1;
	}
	if (todo & DL_TO_URL) {
		if (!dl->url_ep)
			dl->url_ep = dl_endpoint(dl, c->url, false);
		if (!dl->url_ep || !dl_ep_full(dl, dl->url_ep))
			return 0;
		any = true;
	}
	if (todo & DL_TO_CALLBACK) {
		ep = dl_endpoint_n(dl, url, url_len);
		if (!ep || !dl_ep_full(dl, ep))
			return 0;
		any = true;
	}
	if (any)
		dl_scan_row(dl, head->next_at_ms, false);
	return any;
}

/* Commit an outcome without sending: no endpoint, or all disabled. */
static void dl_event_skip(struct dl_event *e, enum event_status st,
			  const char *why)
{
	memset(&e->a, 0, sizeof(e->a));
	e->a.status = st;
	e->a.at_ms = clock_now_ms();
	e->a.next_at_ms = e->a.at_ms + DL_DISABLED_RETRY_MS;
	snprintf(e->error, sizeof(e->error), "%s", why);
	e->a.error = e->error;
	dl_commit(e);
}

static int dl_on_due(const struct event *ev, void *arg)
{
	struct ctl_deliver *dl = arg;
	struct ctl *ctl = dl->ctl;
	struct dl_endpoint *eps[2] = { NULL, NULL };
	struct dl_event *e;
	bool any = false, busy = false;
	unsigned bits = 0, go, i;
	uint8_t waiting = 0;

	if (dl_in_flight(dl, ev->id))
		return 0;
	log_debug(ctl->log, "events: due %s seq %" PRIu64, ev->type,
		  ev->sequence);
	if (ctl->evc.url && *ctl->evc.url)
		bits |= DL_TO_URL;
	if (ev->callback_url && *ev->callback_url)
		bits |= DL_TO_CALLBACK;
	/*
	 * Per-session order, per destination: event n+1 goes to an
	 * endpoint once event n reached it (or was given up), whatever n's
	 * other endpoint does; a destination this event already reached
	 * (an earlier attempt's 2xx) is not sent it again.
	 */
	if (ev->has_session &&
	    store_event_session_waiting(ctl->rd, ev->session_id,
					ev->sequence, &waiting))
		return 0;
	go = bits & ~ev->done & ~(unsigned)waiting;
	if (bits && !go && (bits & ~ev->done))
		return 0;	/* an earlier event of the session first */
	if (go & DL_TO_URL)
		eps[0] = dl_endpoint(dl, ctl->evc.url, true);
	if (go & DL_TO_CALLBACK)
		eps[1] = dl_endpoint(dl, ev->callback_url, true);
	for (i = 0; i < 2; i++) {
		if (!eps[i])
			continue;
		if (!eps[i]->disabled)
			any = true;
		if (eps[i]->in_flight >= ctl->evc.concurrency)
			busy = true;
	}
	if (busy)
		return 0;	/* the endpoint's cap: a later tick */

	e = calloc(1, sizeof(*e));
	if (!e)
		return 1;
	e->dl = dl;
	e->ev = *ev;
	e->ev.body = strdup(ev->body ? ev->body : "");
	e->ev.callback_url = ev->callback_url ? strdup(ev->callback_url) :
			     NULL;
	if (!e->ev.body || (ev->callback_url && !e->ev.callback_url)) {
		event_clear(&e->ev);
		free(e);
		return 1;
	}
	e->ev.body_len = ev->body_len;
	event_id_format(ev->id, e->id);
	dl_event_link(dl, e);

	if (!bits) {
		dl_event_skip(e, EVENT_FAILED, "no endpoint");
		ctl->ctr.deliveries[CTL_DELIVERY_FAILED]++;
		return 0;
	}
	if (!go) {
		/* every destination has it (a URL dropped from the config
		 * since, ...): nothing to send */
		e->todo = 0;
		dl_event_finish(e);
		return 0;
	}
	if (!any) {
		dl_event_skip(e, EVENT_PENDING, "endpoint disabled");
		return 0;
	}
	e->waiting = bits & ~ev->done & ~go;
	e->todo = 0;
	for (i = 0; i < 2; i++) {
		if (!eps[i] || eps[i]->disabled)
			continue;
		e->todo |= 1u << i;
		if (dl_req_start(e, eps[i], 1u << i)) {
			snprintf(e->error, sizeof(e->error), "out of memory");
			continue;
		}
	}
	if (e->out == 0)
		dl_event_finish(e);
	/* a kick's scan ends when every known endpoint is full; the
	 * tick's walks on, for callback_urls not seen yet */
	return !dl->scan_full && dl_all_busy(dl);
}

/* event_list_h of the due scan: dl_on_due(), and whether the row is in
 * flight after it (sent, or its outcome queued) for the kick's start. */
static int dl_on_due_row(const struct event *ev, void *arg)
{
	struct ctl_deliver *dl = arg;
	int stop = dl_on_due(ev, arg);

	dl_scan_row(dl, ev->next_at_ms, dl_in_flight(dl, ev->id));
	return stop;
}

/* Delivered events older than [events] retention go. */
static int dl_purge_run(struct store_txn *tx, void *arg)
{
	struct ctl_deliver *dl = arg;

	dl->purged = 0;
	return store_event_purge(tx, clock_now_ms() -
				 dl->ctl->evc.retention_ms, DL_PURGE_MAX,
				 &dl->purged);
}

static void dl_purge_done(int err, void *arg)
{
	struct ctl_deliver *dl = arg;

	dl->purge_queued = false;
	if (err)
		log_warn(dl->ctl->log, "events: purge failed: %s",
			 strerror(err));
	else if (dl->purged)
		log_debug(dl->ctl->log, "events: %u delivered events purged",
			  dl->purged);
}

/*
 * One scan of the due index: @full (the DL_TICK_MS tick) walks up to
 * DL_SCAN_MAX rows from the head whatever the endpoints' state; a
 * kick's starts at resume_ms, does not start when every known endpoint
 * is full, and stops when they become so.
 */
static void dl_scan(struct ctl_deliver *dl, bool full)
{
	int64_t now = clock_now_ms();
	struct event_due_walk w = {
		.now_ms = now, .max = DL_BATCH, .max_walk = DL_SCAN_MAX,
		.id_skip = dl_id_skip, .skip = dl_skip, .h = dl_on_due_row,
		.arg = dl,
	};
	int err;

	dl->kicked = false;
	event_del(dl->kick);	/* this scan is the kick's */
	if (!dl->purge_at_ms)
		dl->purge_at_ms = now + DL_PURGE_MS;
	if (now >= dl->purge_at_ms && !dl->purge_queued &&
	    dl->ctl->evc.retention_ms > 0) {
		dl->purge_at_ms = now + DL_PURGE_MS;
		dl->purge_queued = true;
		if (writer_submit(dl->ctl->w, dl_purge_run, dl_purge_done, dl))
			dl->purge_queued = false;
	}
	if (dl_all_busy(dl)) {
		if (!full)
			return;
		/* every known endpoint at its cap: the tick's walk only
		 * looks for callback_urls not seen yet, and walking up to
		 * DL_SCAN_MAX rows every DL_TICK_MS for that was the
		 * control thread's largest cost beside the writes while a
		 * receiver was slow (CPU the SIP thread waited for) */
		if (now < dl->busy_walk_at_ms)
			return;
		dl->busy_walk_at_ms = now + DL_BUSY_WALK_MS;
	}
	dl->scan_full = full;
	w.from_ms = full ? 0 : dl->resume_ms;
	dl->scan_resume_ms = w.from_ms;
	dl->scan_low_ms = INT64_MAX;
	dl->scan_clean = true;
	err = store_event_due_walk(dl->rd, &w);
	if (err) {
		log_warn(dl->ctl->log, "events: cannot read the outbox: %s",
			 strerror(err));
		dl->resume_ms = 0;
		return;
	}
	/* rows put before the start while it walked (an outcome not
	 * stored) lowered scan_low_ms */
	dl->resume_ms = dl->scan_resume_ms < dl->scan_low_ms ?
			dl->scan_resume_ms : dl->scan_low_ms;
}

static void dl_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dl_scan(arg, true);
}

static void dl_on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dl_scan(arg, false);
}

void ctl_deliver_kick(struct ctl *ctl)
{
	if (ctl->dl)
		dl_kick(ctl->dl);
}

int ctl_deliver_start(struct ctl *ctl)
{
	struct timeval tv = { 0, DL_TICK_MS * 1000 };
	struct ctl_deliver *dl;
	int err;

	if (ctl->dl)
		return 0;
	dl = calloc(1, sizeof(*dl));
	if (!dl)
		return ENOMEM;
	dl->ctl = ctl;
	ctl->dl = dl;
	err = ctl_curl_new(&dl->cc, ctl->base, dl_on_done, dl);
	if (err) {
		ctl_deliver_stop(ctl);
		return err;
	}
	dl->multi = ctl_curl_multi(dl->cc);
	dl->tick = event_new(ctl->base, -1, EV_PERSIST, dl_on_tick, dl);
	dl->kick = event_new(ctl->base, -1, 0, dl_on_kick, dl);
	if (!dl->tick || !dl->kick || store_reader_open(ctl->st, &dl->rd)) {
		ctl_deliver_stop(ctl);
		return ENOMEM;
	}
	err = store_webhook_list(dl->rd, dl_on_state, dl);
	if (err)
		log_warn(ctl->log, "events: endpoint states not read (%s): "
			 "every endpoint starts enabled", strerror(err));
	event_add(dl->tick, &tv);
	return 0;
}

void ctl_deliver_stop(struct ctl *ctl)
{
	struct ctl_deliver *dl = ctl->dl;
	struct dl_endpoint *ep;
	struct dl_event *e;

	if (!dl)
		return;
	dl->stopping = true;
	if (dl->tick)
		event_free(dl->tick);
	dl->tick = NULL;
	if (dl->kick)
		event_free(dl->kick);
	dl->kick = NULL;
	/* requests in flight are dropped: their events stay pending and
	 * go out after restart with the same webhook-id */
	while (dl->reqs) {
		dl->reqs->ev->out--;
		dl->reqs->ep->in_flight--;
		dl_req_free(dl, dl->reqs);
	}
	/* outcomes still in the writer point at their dl_event */
	writer_flush(ctl->w);
	while ((e = dl->events))
		dl_event_free(e);
	while ((ep = dl->eps)) {
		dl->eps = ep->next;
		free(ep->url);
		free(ep);
	}
	ctl_curl_free(dl->cc);
	if (dl->rd)
		store_reader_close(dl->rd);
	free(dl);
	ctl->dl = NULL;
}
