/*
 * api.h - the REST API (evhttp + jansson) and the expiry sweeper.
 *
 * Runs on the control thread's event base: it parses and validates each
 * request, answers reads from its own store reader, and sends every change
 * through the writer (group commit), answering only after the commit.
 * See DESIGN.md "REST API" for the contract.
 *
 * Owned by the control thread; not thread-safe.
 */
#ifndef MASKD_API_H
#define MASKD_API_H

#include <event2/event.h>

#include "maskd/config.h"
#include "maskd/log.h"
#include "maskd/store.h"
#include "maskd/writer.h"

struct api;

/*
 * api_start() - listen on cfg->api.listen and serve.
 *
 * @cfg, @st, @w and @log are borrowed and must outlive the api. Also
 * starts the expiry sweeper, which moves sessions past expires_at to
 * expired within a second. Returns 0 or an errno (EADDRINUSE, ...).
 */
int api_start(struct api **apip, struct event_base *base,
	      const struct config *cfg, struct store *st, struct writer *w,
	      struct log *log);

struct metrics;

/*
 * api_metrics_register() - serve @reg on GET /metrics from now on (until
 * then it answers 503), and put the api's own counters in it (requests by
 * status, connections, session creates and expiries, CDRs written and
 * lost: src/api/api_metrics.inc). Borrowed: @reg must outlive the api;
 * api_stop() takes the api's counters off it. Returns 0 or an errno of
 * metrics_register().
 */
int api_metrics_register(struct api *api, struct metrics *reg);

/*
 * api_cdr_store() - queue call record @c for the store (group commit).
 * Control thread: main.c calls it from the mailbox the SIP thread posts
 * into. A record that cannot be queued or committed is logged and
 * counted (maskd_cdrs_lost_total), never silently dropped.
 */
void api_cdr_store(struct api *api, const struct cdr *c);

/*
 * api_stop() - stop listening, drop open connections, free. NULL-safe.
 * Requests waiting for a commit are answered first (writer_flush()).
 */
void api_stop(struct api *api);

#endif
