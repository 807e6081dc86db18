/*
 * ctl_curl.c - libcurl's multi interface on the control thread's
 * libevent loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION,
 * curl_multi_socket_action()), for every HTTP request ctl makes: event
 * deliveries (ctl_deliver.c) and the routing hook (ctl_hook.c), each
 * with its own multi. And the one SSRF rule both follow: where a URL may
 * lead, checked on the literal at the API and on every address curl
 * resolved, before a byte goes out.
 *
 * Control thread only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "ctl_internal.h"

#define CTL_CURL_MAXCONNECTS 1024L
/* Easy handles kept for the next request: a handle is tens of KB of
 * state and buffers, made and freed per request otherwise. Kept with
 * their options (no curl_easy_reset(), which frees every string option
 * the next request would copy again): each user of a ctl_curl sets the
 * same options on every request, so none is left over from another. */
#define CTL_CURL_POOL 256

/*
 * A connection socket curl opened through ctl_curl_socket(), by its fd,
 * until curl closes it (CURLOPT_CLOSESOCKETFUNCTION). A keep-alive
 * connection idling in curl's cache between two requests stays in epoll
 * for reading: curl asks to REMOVE it after each response and for IN
 * again on the next request, and an event_free() then event_new() pair
 * cost an epoll_ctl DEL and ADD per request, on a virtual machine where
 * a system call is dear (1.5 epoll_ctl per event delivered at 1,000
 * calls/s, issue #10).
 *
 * Only those: curl closes its other sockets (the threaded resolver's
 * socketpair) without the close callback. An entry kept for one of
 * them outlived its fd, and the API's next connection on that number
 * was never watched (libevent took the fd as in epoll already): those
 * are watched from CURL_POLL_IN to CURL_POLL_REMOVE only, as curl asks.
 */
struct ctl_curl_sock {
	struct ctl_curl *cc;
	struct event *ev;
	curl_socket_t fd;
	short kind;			/* EV_READ|EV_WRITE in epoll; 0: none */
	bool idle;			/* removed by curl: not its to watch */
};

struct ctl_curl {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	ctl_curl_done_h *done;
	void *arg;
	CURL *pool[CTL_CURL_POOL];
	unsigned n_pool;
	struct ctl_curl_sock **socks;	/* by fd */
	size_t n_socks;
};

/* ---- SSRF ---- */

/*
 * Loopback, private, link-local, multicast, unspecified, and friends.
 * No row for v4-mapped IPv6 (::ffff:0:0/96): net_cidr_match() judges
 * ::ffff:a.b.c.d by the IPv4 rows, and it maps an IPv4 address into
 * ::ffff:0:0/96 for an IPv6 row, so such a row refused every IPv4
 * address, public ones too (test_ctl_event test_url_check).
 */
static bool ctl_addr_forbidden(const struct sockaddr *sa)
{
	static const char *const nets[] = {
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
		"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
		"192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
		"240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10",
		"ff00::/8",
	};
	struct net_cidr c;
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		if (net_cidr_parse(nets[i], &c))
			continue;
		if (net_cidr_match(&c, sa))
			return true;
	}
	return false;
}

bool ctl_addr_ok(const struct ctl_events_conf *c, const struct sockaddr *sa)
{
	size_t i;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	for (i = 0; i < c->n_allow; i++)
		if (net_cidr_match(&c->allow[i], sa))
			return true;
	return !ctl_addr_forbidden(sa);
}

int ctl_event_url_check(struct ctl *ctl, const char *url, char *why,
			size_t whylen)
{
	char host[256];
	const char *p, *end;
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	size_t n;

	if (!strncasecmp(url, "http://", 7)) {
		p = url + 7;
	} else if (!strncasecmp(url, "https://", 8)) {
		p = url + 8;
	} else {
		snprintf(why, whylen, "must be an http or https URL");
		return EINVAL;
	}
	if (strpbrk(url, " \t\r\n") || strchr(p, '@')) {
		snprintf(why, whylen, "must be a URL without credentials "
			 "or spaces");
		return EINVAL;
	}
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end) {
			snprintf(why, whylen, "is not a valid URL");
			return EINVAL;
		}
		p++;
	} else {
		end = p + strcspn(p, ":/?#");
	}
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(host)) {
		snprintf(why, whylen, "has no valid host");
		return EINVAL;
	}
	memcpy(host, p, n);
	host[n] = '\0';
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		if (!ctl_addr_ok(&ctl->evc, (struct sockaddr *)&s4))
			goto refused;
	} else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		if (!ctl_addr_ok(&ctl->evc, (struct sockaddr *)&s6))
			goto refused;
	} else if (!strcasecmp(host, "localhost") ||
		   (n > 10 && !strcasecmp(host + n - 10, ".localhost"))) {
		goto refused;
	}
	return 0;
 refused:
	snprintf(why, whylen, "resolves to a loopback, private, link-local "
		 "or multicast address ([events] allow opens ranges)");
	return EINVAL;
}

/* ---- libcurl on libevent ---- */

static void ctl_curl_check_done(struct ctl_curl *cc)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(cc->multi, &left))) {
		if (m->msg == CURLMSG_DONE)
			cc->done(m->easy_handle, m->data.result, cc->arg);
	}
}

static void ctl_curl_on_socket(evutil_socket_t fd, short what, void *arg);

/* @sk's interest in epoll becomes @kind (0: none). With the base's
 * changelist a change within one loop turn is one epoll_ctl at most. */
static int ctl_curl_sock_set(struct ctl_curl_sock *sk, short kind)
{
	if (sk->kind)
		event_del(sk->ev);
	sk->kind = 0;
	if (!kind)
		return 0;
	event_assign(sk->ev, sk->cc->base, sk->fd, kind | EV_PERSIST,
		     ctl_curl_on_socket, sk);
	if (event_add(sk->ev, NULL))
		return -1;
	sk->kind = kind;
	return 0;
}

/* The entry of @fd; made when @create. NULL when there is none (or no
 * memory). */
static struct ctl_curl_sock *ctl_curl_sock(struct ctl_curl *cc,
					   curl_socket_t fd, bool create)
{
	struct ctl_curl_sock *sk, **t;
	size_t n;

	if (fd < 0)
		return NULL;
	if ((size_t)fd < cc->n_socks && cc->socks[fd])
		return cc->socks[fd];
	if (!create)
		return NULL;
	if ((size_t)fd >= cc->n_socks) {
		n = (size_t)fd + 64;
		t = realloc(cc->socks, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + cc->n_socks, 0, (n - cc->n_socks) * sizeof(*t));
		cc->socks = t;
		cc->n_socks = n;
	}
	sk = calloc(1, sizeof(*sk));
	if (!sk)
		return NULL;
	sk->ev = event_new(cc->base, fd, EV_PERSIST, ctl_curl_on_socket, sk);
	if (!sk->ev) {
		free(sk);
		return NULL;
	}
	sk->cc = cc;
	sk->fd = fd;
	cc->socks[fd] = sk;
	return sk;
}

static void ctl_curl_sock_free(struct ctl_curl *cc, curl_socket_t fd)
{
	struct ctl_curl_sock *sk = ctl_curl_sock(cc, fd, false);

	if (!sk)
		return;
	cc->socks[fd] = NULL;
	event_free(sk->ev);	/* out of epoll while the fd is still open */
	free(sk);
}

/* CURLOPT_CLOSESOCKETFUNCTION: every socket curl closes, active or from
 * its cache, leaves the table (and epoll) first. */
static int ctl_curl_close_socket(void *clientp, curl_socket_t fd)
{
	ctl_curl_sock_free(clientp, fd);
	return close(fd);
}

curl_socket_t ctl_curl_socket(struct ctl_curl *cc,
			      const struct curl_sockaddr *a)
{
	curl_socket_t fd = socket(a->family, a->socktype, a->protocol);

	/* untracked without memory: watched like curl's other sockets */
	if (fd >= 0)
		(void)ctl_curl_sock(cc, fd, true);
	return fd;
}

/* libevent says @fd is ready (@what): curl's turn, then its results. */
static void ctl_curl_act(struct ctl_curl *cc, evutil_socket_t fd,
			 short what)
{
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cc->multi, fd, flags, &running);
	ctl_curl_check_done(cc);
}

/* A socket of curl's own (not a connection of ctl_curl_socket()). */
static void ctl_curl_on_other(evutil_socket_t fd, short what, void *arg)
{
	ctl_curl_act(arg, fd, what);
}

/* CURLMOPT_SOCKETFUNCTION for a socket of curl's own: its event is
 * curl's socketp for it, made on the first interest, freed on REMOVE. */
static int ctl_curl_socket_other(struct ctl_curl *cc, curl_socket_t s,
				 int what, struct event *ev)
{
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev)
			event_free(ev);
		curl_multi_assign(cc->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev) {
		event_del(ev);
		event_assign(ev, cc->base, s, kind, ctl_curl_on_other, cc);
	} else {
		ev = event_new(cc->base, s, kind, ctl_curl_on_other, cc);
		if (!ev)
			return -1;
		curl_multi_assign(cc->multi, s, ev);
	}
	return event_add(ev, NULL) ? -1 : 0;
}

static void ctl_curl_on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_curl_sock *sk = arg;

	if (sk->idle) {
		/* readable in curl's cache: the peer closed it (or spoke out
		 * of turn). curl's check before reuse finds that; stop
		 * watching it meanwhile, or every turn would wake for it */
		ctl_curl_sock_set(sk, 0);
		return;
	}
	ctl_curl_act(sk->cc, fd, what);	/* sk may be gone after it */
}

static void ctl_curl_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_curl *cc = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(cc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	ctl_curl_check_done(cc);
}

static int ctl_curl_socket_cb(CURL *easy, curl_socket_t s, int what,
			      void *userp, void *socketp)
{
	struct ctl_curl *cc = userp;
	struct ctl_curl_sock *sk;
	short kind = 0;

	(void)easy;
	sk = ctl_curl_sock(cc, s, false);
	if (!sk)
		return ctl_curl_socket_other(cc, s, what, socketp);
	if (what == CURL_POLL_REMOVE) {
		/* a connection into curl's cache, or one about to be
		 * closed (the close callback takes it out): its read
		 * interest stays; a write interest would fire at once */
		sk->idle = true;
		if (sk->kind & EV_WRITE)
			ctl_curl_sock_set(sk, 0);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	sk->idle = false;
	if (kind == sk->kind)
		return 0;	/* a reused connection: epoll has it */
	return ctl_curl_sock_set(sk, kind);
}

static int ctl_curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct ctl_curl *cc = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(cc->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(cc->timer, &tv);
	return 0;
}

int ctl_curl_new(struct ctl_curl **ccp, struct event_base *base,
		 ctl_curl_done_h *done, void *arg)
{
	static bool curl_ready;
	struct ctl_curl *cc;

	if (!curl_ready) {
		/* start-up, before any other thread uses libcurl */
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return EIO;
		curl_ready = true;
	}
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return ENOMEM;
	cc->base = base;
	cc->done = done;
	cc->arg = arg;
	cc->multi = curl_multi_init();
	cc->timer = evtimer_new(base, ctl_curl_on_timer, cc);
	if (!cc->multi || !cc->timer) {
		ctl_curl_free(cc);
		return ENOMEM;
	}
	curl_multi_setopt(cc->multi, CURLMOPT_SOCKETFUNCTION,
			  ctl_curl_socket_cb);
	curl_multi_setopt(cc->multi, CURLMOPT_SOCKETDATA, cc);
	curl_multi_setopt(cc->multi, CURLMOPT_TIMERFUNCTION, ctl_curl_timer_cb);
	curl_multi_setopt(cc->multi, CURLMOPT_TIMERDATA, cc);
	/* idle connections kept for reuse: at least one per request in
	 * flight ([events] concurrency is per endpoint, at most 1000), so
	 * keep-alive holds under load instead of a connect per request.
	 * CURLMOPT_MAX_HOST_CONNECTIONS stays 0 (no limit): the cap is the
	 * deliverer's, per endpoint URL; curl's per host would queue one
	 * endpoint's requests behind another's on the same host. */
	curl_multi_setopt(cc->multi, CURLMOPT_MAXCONNECTS, CTL_CURL_MAXCONNECTS);
	*ccp = cc;
	return 0;
}

CURLM *ctl_curl_multi(struct ctl_curl *cc)
{
	return cc->multi;
}

CURL *ctl_curl_easy(struct ctl_curl *cc, bool *reused)
{
	CURL *easy;

	if (reused)
		*reused = cc->n_pool > 0;
	if (cc->n_pool)
		return cc->pool[--cc->n_pool];
	easy = curl_easy_init();
	/* a connection takes its close callback from the handle that
	 * opened it: every handle of this multi has it */
	if (easy) {
		curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
				 ctl_curl_close_socket);
		curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, cc);
	}
	return easy;
}

void ctl_curl_release(struct ctl_curl *cc, CURL *easy)
{
	if (!easy)
		return;
	curl_multi_remove_handle(cc->multi, easy);
	if (cc->n_pool < CTL_CURL_POOL) {
		/* connections stay in the multi's cache */
		cc->pool[cc->n_pool++] = easy;
		return;
	}
	curl_easy_cleanup(easy);
}

void ctl_curl_free(struct ctl_curl *cc)
{
	size_t i;

	if (!cc)
		return;
	while (cc->n_pool)
		curl_easy_cleanup(cc->pool[--cc->n_pool]);
	/* closes the cached connections: their entries go with them */
	if (cc->multi)
		curl_multi_cleanup(cc->multi);
	for (i = 0; i < cc->n_socks; i++)
		ctl_curl_sock_free(cc, (curl_socket_t)i);
	free(cc->socks);
	if (cc->timer)
		event_free(cc->timer);
	free(cc);
}
