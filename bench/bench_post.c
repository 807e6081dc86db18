/*
 * bench_post.c - what one webhook POST costs the sender on this box, with
 * nothing else around it: no store, no signing, no event to build. It
 * sends N POSTs of a call event's size (BODY bytes, 5 header lines like
 * ctl_deliver.c's) to a keep-alive receiver on 127.0.0.1:PORT (run
 * bench/bench_recv there), CONC in flight, and prints its own CPU per
 * request (getrusage: user + system, every thread).
 *
 *   raw:  plain sockets on epoll, one write() per request, one read()
 *         per answer: the floor of one HTTP/1.1 exchange per event on
 *         this kernel, whatever the client.
 *   curl: libcurl's multi interface driven by curl_multi_socket_action()
 *         on epoll, the handles kept and reused with their options, as
 *         maskd's deliverer (src/ctl/ctl_curl.c) does.
 *
 * Issue #10 asks for events to add at most 15% to maskd's CPU per call;
 * with four events a call that is a budget per event this compares with.
 *
 * Usage: bench_post raw|curl PORT N CONC [BODY]
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define POST_MAX_CONC 1024
#define POST_EVENTS 256

static char *body;
static size_t body_len;
static unsigned long total, sent, answered;
static int ep;

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- raw ---- */

struct raw_conn {
	int fd;
	size_t got;		/* bytes of the answer read so far */
	char buf[512];
};

static char raw_req[8192];
static size_t raw_req_len;

static int raw_send(struct raw_conn *c)
{
	if (sent == total)
		return 0;
	if (write(c->fd, raw_req, raw_req_len) != (ssize_t)raw_req_len)
		return -1;
	sent++;
	return 0;
}

static int run_raw(int port, unsigned conc)
{
	static struct raw_conn conns[POST_MAX_CONC];
	struct epoll_event evs[POST_EVENTS], ev;
	struct sockaddr_in sa;
	unsigned i;
	int one = 1, n, k;

	raw_req_len = (size_t)snprintf(raw_req, sizeof(raw_req),
		"POST /events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		"User-Agent: maskd-webhooks/1\r\nAccept: */*\r\n"
		"Content-Type: application/json\r\n"
		"webhook-id: msg_0123456789abcdef0123456789abcdef\r\n"
		"webhook-timestamp: 1764547200\r\n"
		"webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=\r\n"
		"Content-Length: %zu\r\n\r\n", port, body_len);
	if (raw_req_len + body_len >= sizeof(raw_req))
		return -1;
	memcpy(raw_req + raw_req_len, body, body_len);
	raw_req_len += body_len;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < conc; i++) {
		conns[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (conns[i].fd < 0 ||
		    connect(conns[i].fd, (struct sockaddr *)&sa, sizeof(sa)))
			return -1;
		setsockopt(conns[i].fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev))
			return -1;
	}
	for (i = 0; i < conc; i++)
		if (raw_send(&conns[i]))
			return -1;
	while (answered < total) {
		n = epoll_wait(ep, evs, POST_EVENTS, 5000);
		if (n <= 0)
			return -1;
		for (k = 0; k < n; k++) {
			struct raw_conn *c = evs[k].data.ptr;
			ssize_t got = read(c->fd, c->buf + c->got,
					   sizeof(c->buf) - c->got - 1);
			char *end;

			if (got <= 0)
				return -1;
			c->got += (size_t)got;
			c->buf[c->got] = '\0';
			/* the receiver's answer has no body */
			end = strstr(c->buf, "\r\n\r\n");
			if (!end)
				continue;
			if (strncmp(c->buf, "HTTP/1.1 200", 12))
				return -1;
			c->got = 0;
			answered++;
			if (raw_send(c))
				return -1;
		}
	}
	return 0;
}

/* ---- curl ---- */

static CURLM *multi;
static long timeout_ms = -1;
static struct curl_slist hdr[5];
static char url[64];
static CURL *pool[POST_MAX_CONC];
static unsigned n_pool;

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * CURLMOPT_SOCKETFUNCTION. As src/ctl/ctl_curl.c does, a connection that
 * curl takes back into its cache stays in epoll for reading (an idle
 * socket's events are ignored), so a reused one costs no epoll_ctl
 * DEL and ADD per request.
 */
static uint32_t sock_mask[65536];	/* by fd: what epoll has; 0: none */
static unsigned char sock_idle[65536];

static int on_socket(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
	struct epoll_event ev;
	uint32_t want;

	(void)e;
	(void)u;
	(void)sp;
	if (s < 0 || s >= 65536)
		return -1;
	if (what == CURL_POLL_REMOVE) {
		sock_idle[s] = 1;
		if (!(sock_mask[s] & EPOLLOUT))
			return 0;
		want = EPOLLIN;
	} else {
		sock_idle[s] = 0;
		want = (what & CURL_POLL_IN ? EPOLLIN : 0) |
		       (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	}
	if (want == sock_mask[s])
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.data.fd = s;
	ev.events = want;
	if (epoll_ctl(ep, sock_mask[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
		      &ev))
		return -1;
	sock_mask[s] = want;
	return 0;
}

static int on_timer(CURLM *m, long ms, void *u)
{
	(void)m;
	(void)u;
	timeout_ms = ms;
	return 0;
}

static int curl_send(void)
{
	CURL *e;

	if (sent == total)
		return 0;
	if (n_pool) {
		e = pool[--n_pool];
	} else {
		e = curl_easy_init();
		if (!e)
			return -1;
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "maskd-webhooks/1");
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, discard);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
		return -1;
	sent++;
	return 0;
}

static int curl_done(void)
{
	CURLMsg *m;
	int left;
	long code;

	while ((m = curl_multi_info_read(multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
				  &code);
		if (m->data.result != CURLE_OK || code != 200)
			return -1;
		curl_multi_remove_handle(multi, m->easy_handle);
		pool[n_pool++] = m->easy_handle;
		answered++;
		if (curl_send())
			return -1;
	}
	return 0;
}

static int run_curl(int port, unsigned conc)
{
	static char h0[] = "Content-Type: application/json";
	static char h1[] = "webhook-id: msg_0123456789abcdef0123456789abcdef";
	static char h2[] = "webhook-timestamp: 1764547200";
	static char h3[] = "webhook-signature: "
			   "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=";
	static char h4[] = "Expect:";
	struct epoll_event evs[POST_EVENTS];
	int running, n, k;
	unsigned i;

	hdr[0].data = h0;
	hdr[1].data = h1;
	hdr[2].data = h2;
	hdr[3].data = h3;
	hdr[4].data = h4;
	for (i = 0; i < 4; i++)
		hdr[i].next = &hdr[i + 1];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/events", port);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -1;
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)POST_MAX_CONC);
	for (i = 0; i < conc; i++)
		if (curl_send())
			return -1;
	while (answered < total) {
		n = epoll_wait(ep, evs, POST_EVENTS,
			       timeout_ms < 0 ? 5000 : (int)timeout_ms);
		if (n < 0)
			return -1;
		if (n == 0) {
			timeout_ms = -1;
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT,
						 0, &running);
		}
		for (k = 0; k < n; k++) {
			if (sock_idle[evs[k].data.fd])
				continue;	/* in curl's cache */
			int f = (evs[k].events & EPOLLIN ?
				 CURL_CSELECT_IN : 0) |
				(evs[k].events & EPOLLOUT ?
				 CURL_CSELECT_OUT : 0) |
				(evs[k].events & (EPOLLERR | EPOLLHUP) ?
				 CURL_CSELECT_ERR : 0);

			curl_multi_socket_action(multi, evs[k].data.fd, f,
						 &running);
		}
		if (curl_done())
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	double c0, w0, c1, w1;
	unsigned conc;
	int port, rc;

	if (argc < 5 || argc > 6 ||
	    (strcmp(argv[1], "raw") && strcmp(argv[1], "curl"))) {
		fprintf(stderr, "usage: bench_post raw|curl PORT N CONC "
			"[BODY]\n");
		return 2;
	}
	port = atoi(argv[2]);
	total = strtoul(argv[3], NULL, 10);
	conc = (unsigned)atoi(argv[4]);
	body_len = argc == 6 ? strtoul(argv[5], NULL, 10) : 700;
	if (!total || !conc || conc > POST_MAX_CONC || body_len > 4096)
		return 2;
	body = malloc(body_len + 1);
	if (!body)
		return 1;
	memset(body, 'x', body_len);
	body[body_len] = '\0';
	ep = epoll_create1(0);
	c0 = cpu_s();
	w0 = wall_s();
	rc = !strcmp(argv[1], "raw") ? run_raw(port, conc) :
				       run_curl(port, conc);
	c1 = cpu_s();
	w1 = wall_s();
	if (rc) {
		fprintf(stderr, "bench_post: failed after %lu answers\n",
			answered);
		return 1;
	}
	printf("%s: %lu POSTs, %u in flight, %zu-byte body: %.1f us CPU "
	       "per request, %.0f requests/s\n", argv[1], answered, conc,
	       body_len, 1e6 * (c1 - c0) / (double)answered,
	       (double)answered / (w1 - w0));
	return 0;
}
