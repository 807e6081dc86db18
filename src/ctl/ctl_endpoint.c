/*
 * ctl_endpoint.c - webhook endpoints: one per URL events go to ([events]
 * url, each callback_url), their counters, and the disabled state and
 * failing-since time that outlive a restart (store_webhook.c), for the
 * deliverer and for GET/PATCH /v1/webhooks.
 *
 * Control thread only (ctl_deliver.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_deliver.h"

/* ---- endpoints ---- */

struct dl_endpoint *dl_endpoint(struct ctl_deliver *dl, const char *url,
				bool create)
{
	struct dl_endpoint *ep;

	for (ep = dl->eps; ep; ep = ep->next)
		if (!strcmp(ep->url, url))
			return ep;
	if (!create || dl->n_eps >= DL_MAX_ENDPOINTS)
		return NULL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return NULL;
	ep->url = strdup(url);
	if (!ep->url) {
		free(ep);
		return NULL;
	}
	ep->url_len = strlen(url);
	ep->next = dl->eps;
	dl->eps = ep;
	dl->n_eps++;
	return ep;
}

/* A known endpoint by a URL in the map (not NUL-terminated). */
struct dl_endpoint *dl_endpoint_n(struct ctl_deliver *dl, const char *url,
				  size_t len)
{
	struct dl_endpoint *ep;

	for (ep = dl->eps; ep; ep = ep->next)
		if (ep->url_len == len && !memcmp(ep->url, url, len))
			return ep;
	return NULL;
}

/* ---- endpoint state that outlives a restart ---- */

struct dl_persist {
	struct ctl *ctl;
	struct webhook_state w;		/* w.url points at url */
	char url[];
};

static int dl_persist_run(struct store_txn *tx, void *arg)
{
	struct dl_persist *p = arg;

	return store_webhook_put(tx, &p->w);
}

static void dl_persist_done(int err, void *arg)
{
	struct dl_persist *p = arg;

	if (err)
		log_warn(p->ctl->log, "events: an endpoint's state was not "
			 "stored (%s): a restart forgets it", strerror(err));
	free(p);
}

/* @ep's disabled flag and failing_since into the store, by the writer:
 * called when either changes (a few times per outage, never per
 * delivery). */
void dl_persist(struct ctl *ctl, const struct dl_endpoint *ep)
{
	size_t len = strlen(ep->url);
	struct dl_persist *p = malloc(sizeof(*p) + len + 1);

	if (!p)
		goto lost;
	memset(p, 0, sizeof(*p));
	p->ctl = ctl;
	memcpy(p->url, ep->url, len + 1);
	p->w.url = p->url;
	p->w.disabled = ep->disabled;
	memcpy(p->w.reason, ep->disabled_reason, sizeof(p->w.reason));
	p->w.reason[sizeof(p->w.reason) - 1] = '\0';
	p->w.failing_since_ms = ep->failing_since_ms;
	if (!writer_submit(ctl->w, dl_persist_run, dl_persist_done, p))
		return;
	free(p);
 lost:
	log_warn(ctl->log, "events: an endpoint's state was not stored "
		 "(out of memory): a restart forgets it");
}

/* store_webhook_list(): what the last run knew, back at start */
int dl_on_state(const struct webhook_state *w, void *arg)
{
	struct ctl_deliver *dl = arg;
	struct dl_endpoint *ep = dl_endpoint(dl, w->url, true);

	if (!ep)
		return 1;
	ep->disabled = w->disabled;
	snprintf(ep->disabled_reason, sizeof(ep->disabled_reason), "%s",
		 w->reason);
	ep->failing_since_ms = w->failing_since_ms;
	return 0;
}

int ctl_webhooks_list(struct ctl *ctl, ctl_webhook_h *h, void *arg)
{
	struct dl_endpoint *ep;
	struct ctl_webhook w;

	if (ctl->evc.url && *ctl->evc.url && ctl->dl)
		dl_endpoint(ctl->dl, ctl->evc.url, true);
	for (ep = ctl->dl ? ctl->dl->eps : NULL; ep; ep = ep->next) {
		memset(&w, 0, sizeof(w));
		w.url = ep->url;
		w.disabled = ep->disabled;
		memcpy(w.disabled_reason, ep->disabled_reason,
		       sizeof(w.disabled_reason));
		w.failing_since_ms = ep->failing_since_ms;
		w.delivered = ep->delivered;
		w.failed = ep->failed;
		w.last_code = ep->last_code;
		w.in_flight = ep->in_flight;
		if (h(&w, arg))
			break;
	}
	return 0;
}

int ctl_webhook_enable(struct ctl *ctl, const char *url)
{
	struct dl_endpoint *ep;

	ep = ctl->dl ? dl_endpoint(ctl->dl, url, false) : NULL;
	if (!ep)
		return ENOENT;
	if (ep->disabled)
		log_info(ctl->log, "events: endpoint re-enabled");
	ep->disabled = false;
	ep->disabled_reason[0] = '\0';
	ep->failing_since_ms = 0;
	dl_persist(ctl, ep);
	return 0;
}

void dl_disable(struct ctl_deliver *dl, struct dl_endpoint *ep,
		const char *why)
{
	if (ep->disabled)
		return;
	ep->disabled = true;
	snprintf(ep->disabled_reason, sizeof(ep->disabled_reason), "%s", why);
	dl->ctl->ctr.webhooks_disabled++;
	dl_persist(dl->ctl, ep);
	/* the URL may carry a token in its path: log the host part only */
	log_warn(dl->ctl->log, "events: endpoint disabled (%s): %.*s", why,
		 (int)strcspn(ep->url + strcspn(ep->url, "/") + 2, "/") +
		 (int)strcspn(ep->url, "/") + 2, ep->url);
}
