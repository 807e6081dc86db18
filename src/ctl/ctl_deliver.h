/*
 * ctl_deliver.h - what the two halves of webhook delivery share: the
 * deliverer (ctl_deliver.c: due events out, requests, outcomes) and its
 * endpoints (ctl_endpoint.c: the URL registry, the state that outlives a
 * restart, the API's list and re-enable).
 *
 * Control thread only, like struct ctl. Endpoints live until
 * ctl_deliver_stop(); a pointer to one stays valid until then.
 */
#ifndef MASKD_CTL_DELIVER_H
#define MASKD_CTL_DELIVER_H

#include <curl/curl.h>

#include "ctl_internal.h"

#define DL_HASH 4096			/* buckets of the in-flight set */
#define DL_MAX_ENDPOINTS 1024
#define DL_HEADERS 5			/* a request's header lines */

struct dl_endpoint {
	char *url;
	size_t url_len;
	bool disabled;
	char disabled_reason[64];
	int64_t failing_since_ms;
	uint64_t delivered, failed;
	uint16_t last_code;
	unsigned in_flight;
	struct dl_endpoint *next;
};

struct dl_event;

struct dl_req {
	struct dl_event *ev;
	struct dl_endpoint *ep;
	unsigned bit;			/* which destination of the event */
	CURL *easy;
	/* its headers as the list CURLOPT_HTTPHEADER reads, kept here:
	 * not two mallocs a line (curl_slist_append()) per request */
	struct curl_slist hdr[DL_HEADERS];
	char hdr_id[EVENT_ID_STR_SIZE + 16];
	char hdr_ts[40];
	char hdr_sig[WEBHOOK_SIG_SIZE + 24];
	char errbuf[CURL_ERROR_SIZE];
	uint32_t retry_after_s;
	bool ssrf;			/* refused after resolution */
	int64_t started_ms;
	struct dl_req *next;		/* struct ctl_deliver's reqs */
};

/* One event being sent; lives until its outcome is committed. */
struct dl_event {
	struct ctl_deliver *dl;
	struct event ev;		/* a copy; body and callback_url owned */
	char id[EVENT_ID_STR_SIZE];
	unsigned todo;			/* destination bits still to send */
	unsigned out;			/* requests in flight */
	unsigned done_bits;		/* 2xx this round */
	unsigned waiting;		/* destinations not tried: an
					 * earlier event of the session has
					 * not reached them yet */
	bool gone;			/* a 410 */
	uint16_t code;			/* the last failure's */
	char error[EVENT_ERROR_SIZE];
	uint32_t retry_after_s;
	struct event_attempt a;
	int64_t unblock_ms;		/* the earliest due row of a later
					 * event of its session a walk passed
					 * over for it (INT64_MAX: none) */
	struct dl_event *next;
	struct dl_event *hnext;		/* struct ctl_deliver's hash */
	struct dl_event *snext;		/* struct ctl_deliver's shash */
	struct dl_event *bnext;		/* its struct dl_batch's list */
};

/* Outcomes committed together: one writer operation for all of them. */
struct dl_batch {
	struct ctl_deliver *dl;
	struct dl_event *list;		/* by bnext */
	unsigned n;
};

struct ctl_deliver {
	struct ctl *ctl;
	struct ctl_curl *cc;		/* ctl_curl.c: the multi */
	CURLM *multi;			/* cc's */
	struct event *tick;
	struct event *kick;		/* DL_KICK_MS, not persistent */
	bool kicked;			/* kick is pending */
	bool scan_full;			/* this scan walks past busy ends */
	struct dl_endpoint *url_ep;	/* [events] url's, once known */
	struct dl_batch *batch;		/* queued in the writer, not run */
	struct dl_endpoint *eps;
	unsigned n_eps;
	struct dl_event *events;	/* in flight or being committed */
	struct dl_event *hash[DL_HASH];	/* the same, by id: the due scan
					 * asks for each entry it passes */
	struct dl_event *shash[DL_HASH];	/* those of a session, by
					 * its id: the walk's order check */
	struct dl_req *reqs;		/* in flight */
	/*
	 * Where a kick's walk starts: every due row before this ms was, at
	 * the last walk, in flight or waiting for an earlier event of its
	 * session that is, so a kick need not read them again (with a few
	 * hundred in flight that re-reading was most of a scan's cost).
	 * Whatever could put a due row before it lowers it: a new event
	 * (ctl_deliver_due()), an outcome (pending again, or not stored),
	 * an event leaving the set with rows waiting on it (unblock_ms).
	 * The tick walks from the head and sets it afresh, so anything else
	 * (a wall clock stepped back) waits DL_TICK_MS at most.
	 */
	int64_t resume_ms;
	int64_t scan_resume_ms;		/* this walk's, while scan_clean */
	int64_t scan_low_ms;		/* lowered during this walk */
	bool scan_clean;		/* every row walked so far was */
	struct store_reader *rd;	/* the due scan's; ctl->rd answers the
					 * order checks inside it */
	bool stopping;
	int64_t busy_walk_at_ms;	/* the next tick walk while every
					 * known endpoint is at its cap */
	int64_t purge_at_ms;		/* the next retention purge */
	bool purge_queued;
	unsigned purged;
};

#define DL_TO_URL EVENT_TO_URL		/* [events] url */
#define DL_TO_CALLBACK EVENT_TO_CALLBACK	/* the session's callback_url */

/*
 * dl_endpoint() - the endpoint of @url; with @create, made (NULL past
 * DL_MAX_ENDPOINTS or out of memory). dl_endpoint_n(): a known one by a
 * URL that is not NUL-terminated.
 */
struct dl_endpoint *dl_endpoint(struct ctl_deliver *dl, const char *url,
				bool create);
struct dl_endpoint *dl_endpoint_n(struct ctl_deliver *dl, const char *url,
				  size_t len);

/* @ep's disabled flag and failing_since into the store, by the writer. */
void dl_persist(struct ctl *ctl, const struct dl_endpoint *ep);

/* Disable @ep for @why (a 410, or failing for disable_after): stored,
 * counted, logged once. */
void dl_disable(struct ctl_deliver *dl, struct dl_endpoint *ep,
		const char *why);

/* store_webhook_list()'s handler at start: @arg is the ctl_deliver. */
int dl_on_state(const struct webhook_state *w, void *arg);

#endif
