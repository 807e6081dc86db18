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

/*
 * api_stop() - stop listening, drop open connections, free. NULL-safe.
 * Requests waiting for a commit are answered first (writer_flush()).
 */
void api_stop(struct api *api);

#endif
