/*
 * api_conn.c - what one client connection may cost the API: a deadline for
 * each request to arrive whole, and a cap on connections open at once.
 *
 * evhttp 2.1's own timeout is an idle one, restarted by every byte read,
 * so a client sending a header byte a second (slowloris) keeps its
 * connection, and the memory evhttp holds for it, for ever; a few thousand
 * of them take every descriptor. So each connection also gets a timer,
 * armed when it is accepted and again when a reply has gone out on it
 * (api_conn_replied()), disarmed when a whole request is in
 * (api_conn_request(), from the request callback). If it fires, the client
 * has had [api] request_timeout seconds for one request - TLS handshake,
 * request line, headers and body - and has not sent it: the connection is
 * closed. A kept-alive connection with no next request is closed by it
 * too, after the same time.
 *
 * libevent 2.1 tells nobody when evhttp accepts a connection, and a
 * connection carries no user data. It does ask us for the connection's
 * bufferevent (api_conn_bev(), from evhttp_set_bevcb()), so that is where
 * a struct api_conn is made, holding a reference on the bufferevent. An
 * event made active there runs once evhttp has wrapped the bufferevent in
 * its connection (api_conn_adopt()): the connection is then the
 * bufferevent's callback argument - evhttp's own, in 2.1 as in 2.2 - and
 * its close callback becomes how the struct learns it is gone. Had evhttp
 * freed it already (it does on an error while setting up), its callbacks
 * are cleared, and the reference kept it readable to see that.
 *
 * [api] max_connections stops the listener when that many are open, so
 * further clients wait in the kernel's backlog rather than take
 * descriptors, and starts it again when one closes.
 *
 * When a TLS connection cannot have its SSL object (SSL_new() fails: out
 * of memory), the bufferevent callback must still not return NULL: evhttp
 * 2.1 then makes a plain socket bufferevent itself and serves the client
 * in plain text. What it returns instead is one element of a bufferevent
 * pair, which has no file descriptor to take: evhttp's
 * bufferevent_setfd() on it fails, so evhttp_get_request_connection()
 * frees the connection and evhttp_get_request() closes the socket before
 * a byte is read or written. The pair is made with BEV_OPT_CLOSE_ON_FREE
 * so that evhttp_connection_free() only shuts the socket down and leaves
 * the one close() to evhttp_get_request() (2.1 closes it in both places
 * otherwise). libevent prints its own warning for each on stderr; ours
 * goes to the log once a minute at most, with the count.
 *
 * Control thread only, like the rest of the API.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "api_internal.h"

/* A TLS failure is logged once a minute at most: when SSL_new() fails for
 * one client it fails for every client, and the counter has the number. */
#define API_TLS_WARN_MS 60000

struct api_conn {
	struct api *api;
	/* in api->conns[] once adopted, in api->conn_pending before */
	struct api_conn *next, **pprev;
	struct bufferevent *bev;	/* referenced until adopted */
	struct evhttp_connection *evcon;	/* NULL until adopted */
	struct event *timer;		/* adoption, then the deadline */
};

static size_t api_conn_bucket(const struct evhttp_connection *evcon)
{
	uintptr_t p = (uintptr_t)evcon;

	return (size_t)((p >> 4) ^ (p >> 14)) & (API_CONN_BUCKETS - 1);
}

static void api_conn_link(struct api_conn **head, struct api_conn *c)
{
	c->next = *head;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = head;
	*head = c;
}

static void api_conn_unlink(struct api_conn *c)
{
	if (!c->pprev)
		return;
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->next = NULL;
	c->pprev = NULL;
}

static struct api_conn *api_conn_find(struct api *api,
				      const struct evhttp_connection *evcon)
{
	struct api_conn *c;

	if (!evcon)
		return NULL;
	for (c = api->conns[api_conn_bucket(evcon)]; c; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static struct evconnlistener *api_conn_listener(struct api *api)
{
	return api->listener ? evhttp_bound_socket_get_listener(api->listener)
			     : NULL;
}

/* Below the cap again: take new clients, unless the API is stopping. */
static void api_conn_resume(struct api *api)
{
	struct evconnlistener *l;

	if (!api->accept_paused || api->stopping)
		return;
	if (api->cfg->api.max_connections &&
	    api->n_conns >= api->cfg->api.max_connections)
		return;
	l = api_conn_listener(api);
	if (l)
		evconnlistener_enable(l);
	api->accept_paused = false;
}

/* Forget @c, which no longer has a connection or a reference. */
static void api_conn_free(struct api_conn *c)
{
	struct api *api = c->api;

	api_conn_unlink(c);
	if (c->timer)
		event_free(c->timer);
	free(c);
	api->n_conns--;
	api_conn_resume(api);
}

static void api_conn_arm(struct api_conn *c)
{
	struct timeval tv = { c->api->cfg->api.request_timeout_s, 0 };

	evtimer_add(c->timer, &tv);
}

/* evhttp is freeing the connection: replies on it are no longer awaited. */
static void api_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_conn *c = arg;

	api_sending_remove(c->api, evcon);
	api_conn_free(c);
}

/*
 * Right after accept: find evhttp's connection (see the top of the file),
 * hang the struct on it and start its deadline.
 */
static void api_conn_adopt(struct api_conn *c)
{
	struct api *api = c->api;
	struct bufferevent *bev = c->bev;
	bufferevent_event_cb eventcb = NULL;
	void *arg = NULL;

	bufferevent_getcb(bev, NULL, NULL, &eventcb, &arg);
	c->bev = NULL;
	if (!eventcb || !arg ||
	    evhttp_connection_get_bufferevent(arg) != bev) {
		/* evhttp has let go of it already */
		bufferevent_decref(bev);
		api_conn_free(c);
		return;
	}
	c->evcon = arg;
	api_conn_unlink(c);
	api_conn_link(&api->conns[api_conn_bucket(c->evcon)], c);
	evhttp_connection_set_closecb(c->evcon, api_conn_closed, c);
	bufferevent_decref(bev);	/* evhttp holds its own */
	api_conn_arm(c);
}

/* Adoption, or the deadline: the request is still not in. */
static void api_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn *c = arg;
	struct api *api = c->api;
	struct evhttp_connection *evcon = c->evcon;

	(void)fd;
	(void)what;
	if (!evcon) {
		api_conn_adopt(c);
		return;
	}

	api->ctr.request_timeouts++;
	log_debug(api->log, "api: request not in after %u s: connection "
		  "closed", api->cfg->api.request_timeout_s);
	/* no reply is being written (the deadline is off meanwhile), so
	 * nothing on this connection is ours but @c */
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	api_sending_remove(api, evcon);
	api_conn_free(c);
	evhttp_connection_free(evcon);
}

/* Give @bev, just made for a connection evhttp accepted, its deadline and
 * count it. Without memory it is served untracked. */
static void api_conn_track(struct api *api, struct bufferevent *bev)
{
	struct evconnlistener *l;
	struct api_conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return;	/* served all the same, without a deadline */
	c->api = api;
	c->timer = evtimer_new(api->base, api_conn_timer_cb, c);
	if (!c->timer) {
		free(c);
		return;
	}
	/* before any read on it can make evhttp free it */
	event_priority_set(c->timer, 0);
	bufferevent_incref(bev);
	c->bev = bev;
	api_conn_link(&api->conn_pending, c);
	api->n_conns++;
	event_active(c->timer, EV_TIMEOUT, 1);

	if (api->cfg->api.max_connections &&
	    api->n_conns >= api->cfg->api.max_connections &&
	    !api->accept_paused) {
		l = api_conn_listener(api);
		if (l)
			evconnlistener_disable(l);
		api->accept_paused = true;
		api->ctr.accept_paused++;
	}
}

/* A bufferevent that makes evhttp close its connection unserved (see the
 * top of the file); NULL without memory. */
static struct bufferevent *api_conn_refusal_new(struct event_base *base)
{
	struct bufferevent *pair[2];

	if (bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair))
		return NULL;
	bufferevent_free(pair[1]);
	return pair[0];
}

/*
 * The TLS state for a connection could not be made: count it, say so
 * (rate-limited), and return what closes the connection. A spare is kept
 * for when not even a pair can be allocated any more; only when the spare
 * is gone too is NULL returned, and evhttp then needs memory of its own
 * to serve the connection, which it has just been shown not to have.
 */
static struct bufferevent *api_conn_refuse(struct api *api,
					   struct event_base *base)
{
	struct bufferevent *bev;
	unsigned long e = ERR_peek_error();
	int64_t now = clock_mono_ms();
	char why[128] = "out of memory";

	api->ctr.tls_failures++;
	api->tls_unlogged++;
	if (e)
		ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	if (!api->tls_warned_ms || now < api->tls_warned_ms ||
	    now - api->tls_warned_ms >= API_TLS_WARN_MS) {
		log_error(api->log, "api: tls: cannot make the TLS state "
			  "for a connection (%s): closed it unserved (%llu "
			  "since the last report)", why,
			  (unsigned long long)api->tls_unlogged);
		api->tls_warned_ms = now;
		api->tls_unlogged = 0;
	}

	bev = api_conn_refusal_new(base);
	if (!bev) {
		bev = api->refusal;
		api->refusal = NULL;
	}
	return bev;
}

/*
 * evhttp makes its bufferevents at the base's default priority, which with
 * two levels is the low one - the writer's. Making them ourselves at the
 * high priority lets the writer's batch wait until every ready request has
 * been read and queued, which is what makes group commit group.
 */
struct bufferevent *api_conn_bev(struct event_base *base, void *arg)
{
	struct api *api = arg;
	struct bufferevent *bev;
	SSL *ssl;

	if (api->tls && !api->refusal)
		api->refusal = api_conn_refusal_new(base);

	if (!api->tls) {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	} else {
		ssl = SSL_new(api->tls);
		if (!ssl)
			return api_conn_refuse(api, base);
		/* the bufferevent owns ssl from here on, even on failure */
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
			BUFFEREVENT_SSL_ACCEPTING,
			BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			return api_conn_refuse(api, base);
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	if (bev) {
		bufferevent_priority_set(bev, 0);
		api_conn_track(api, bev);
	}
	return bev;
}

void api_conn_request(struct api *api, struct evhttp_request *req)
{
	struct api_conn *c = api_conn_find(api,
					   evhttp_request_get_connection(req));

	if (c)
		evtimer_del(c->timer);
}

void api_conn_replied(struct api *api, struct evhttp_connection *evcon)
{
	struct api_conn *c = api_conn_find(api, evcon);

	if (c)
		api_conn_arm(c);
}

size_t api_conn_count(const struct api *api)
{
	return api->n_conns;
}

void api_conn_stop(struct api *api)
{
	struct api_conn *c;
	size_t i;

	/* adopted ones went with evhttp_free(); these were never adopted */
	while ((c = api->conn_pending)) {
		if (c->bev)
			bufferevent_decref(c->bev);
		c->bev = NULL;
		api_conn_free(c);
	}
	for (i = 0; i < API_CONN_BUCKETS; i++)
		while ((c = api->conns[i])) {
			evhttp_connection_set_closecb(c->evcon, NULL, NULL);
			api_conn_free(c);
		}
	if (api->refusal)
		bufferevent_free(api->refusal);
	api->refusal = NULL;
}
