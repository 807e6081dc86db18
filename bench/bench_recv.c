/*
 * bench_recv.c - the quick webhook receiver of bench/bench_events.py:
 * HTTP/1.1 keep-alive on 127.0.0.1:PORT, every request answered
 * "200 OK" at once, the count of answers written to COUNT_FILE every
 * 200 ms. One thread, epoll; several processes may share the port
 * (SO_REUSEPORT). Python's asyncio took two to three times maskd's CPU
 * per event, so on a shared box the receiver, not maskd, set the pace.
 *
 * It verifies nothing (tests/ctl/test_events.py's receivers check every
 * signature); it reads each request whole (head, then Content-Length
 * bytes) before answering, as a real receiver must.
 *
 * Usage: bench_recv PORT COUNT_FILE
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define RECV_BUF 65536
#define RECV_EVENTS 256
#define RECV_REPORT_MS 200

struct conn {
	int fd;
	size_t len;		/* bytes in buf */
	char buf[RECV_BUF];
};

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(const char *path, unsigned long long n)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%llu", n);
	fclose(f);
	rename(tmp, path);
}

/* Answer every whole request in c->buf; returns the count answered, or
 * -1 when the connection is to be closed. */
static int conn_serve(struct conn *c)
{
	int n = 0;

	for (;;) {
		char *end, *cl;
		size_t head, body = 0, whole;

		end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			return c->len == sizeof(c->buf) ? -1 : n;
		head = (size_t)(end - c->buf) + 4;
		*end = '\0';
		cl = strcasestr(c->buf, "\r\ncontent-length:");
		if (cl)
			body = strtoul(cl + 17, NULL, 10);
		*end = '\r';
		whole = head + body;
		if (whole > sizeof(c->buf))
			return -1;
		if (c->len < whole)
			return n;
		if (write(c->fd, answer, sizeof(answer) - 1) !=
		    (ssize_t)(sizeof(answer) - 1))
			return -1;	/* a 38-byte answer fits any buffer */
		memmove(c->buf, c->buf + whole, c->len - whole);
		c->len -= whole;
		n++;
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[RECV_EVENTS], ev;
	struct sockaddr_in sa;
	unsigned long long count = 0;
	long long next_report = 0;
	int lfd, ep, one = 1, i, n;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_recv PORT COUNT_FILE\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 1024)) {
		perror("bench_recv: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) {
		perror("bench_recv: epoll");
		return 1;
	}
	report(argv[2], 0);
	for (;;) {
		n = epoll_wait(ep, evs, RECV_EVENTS, RECV_REPORT_MS);
		if (n < 0 && errno != EINTR) {
			perror("bench_recv: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t got;
			int done;

			if (!c) {
				int fd = accept4(lfd, NULL, NULL,
						 SOCK_NONBLOCK);

				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				c = calloc(1, sizeof(*c));
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
					close(fd);
					free(c);
				}
				continue;
			}
			got = read(c->fd, c->buf + c->len,
				   sizeof(c->buf) - c->len);
			done = got > 0 ? (c->len += (size_t)got,
					  conn_serve(c)) : -1;
			if (got < 0 && errno == EAGAIN)
				continue;
			if (done < 0) {
				close(c->fd);	/* epoll forgets it */
				free(c);
				continue;
			}
			count += (unsigned long long)done;
		}
		if (now_ms() >= next_report) {
			report(argv[2], count);
			next_report = now_ms() + RECV_REPORT_MS;
		}
	}
}
