/*
 * api.h - the REST API (evhttp + jansson): an HTTP adapter over ctl.
 *
 * Runs on the control thread's event base: it parses, authorises and
 * validates each request (a 400 names the field), calls ctl (ctl.h) with
 * plain C inputs and turns the result into the reply; a change is
 * answered only once ctl reports it on disk. See DESIGN.md "REST API"
 * for the contract.
 *
 * Owned by the control thread; not thread-safe.
 */
#ifndef MASKD_API_H
#define MASKD_API_H

#include <event2/event.h>

#include "maskd/config.h"
#include "maskd/ctl.h"
#include "maskd/log.h"

struct api;

/*
 * api_start() - listen on cfg->api.listen and serve.
 *
 * @cfg, @ctl and @log are borrowed and must outlive the api.
 * Returns 0 or an errno (EADDRINUSE, ...).
 */
int api_start(struct api **apip, struct event_base *base,
	      const struct config *cfg, struct ctl *ctl, struct log *log);

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
 * api_stop() - stop listening, drop open connections, free. NULL-safe.
 * Requests waiting for a commit are answered first (ctl_flush()).
 */
void api_stop(struct api *api);

#endif
