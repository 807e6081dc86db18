/*
 * bench_player.c - many prompt plays at once, driven the way a relay
 * worker drives them: ONE periodic 20 ms timer on one thread, which on
 * each tick asks every player for its due packets (player_next()) and
 * sends each with one real UDP send to a loopback sink socket.
 *
 *   bench_player [-n PLAYERS] [-s SECONDS] [-d PROMPTS_DIR] [-p 0|8]
 *                [-t TICK_US]
 *
 * Every player plays enter_pin over and over, the next play chained from
 * the done handler (no gap). With the default 20 ms tick all start on
 * one tick: each tick sends one packet of every player, the worst burst
 * for the ones served last. -t 5000 (a 5 ms tick): the players' 20 ms
 * grids are spread over the four phases of the tick, as plays that
 * start at random times would be, and each tick sends a quarter.
 *
 * Measured:
 *   - packet interval jitter: a receiver thread reads the sink socket
 *     with recvmmsg and the kernel's receive time stamp (SO_TIMESTAMPNS)
 *     of each packet; for each SSRC, |interval between consecutive
 *     packets - 20 ms|, p50/p99/p99.9/max over all packets after the
 *     first second;
 *   - loss and order: sequence gaps per SSRC;
 *   - CPU per packet: the sending thread's user + system time
 *     (RUSAGE_THREAD) over the run, divided by the packets it sent
 *     (player_next() and the send() syscall), and player_next() alone in
 *     a tight loop without sending;
 *   - the timer's lateness: tick wake-up - tick due, p50/p99.
 *
 * Loopback only; bounded in time; never run by ctest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "maskd/player.h"
#include "maskd/prompt.h"

#define HIST_US 200000		/* histogram of 1 us buckets up to 200 ms */
#define BATCH 256
#define WARMUP_US 1000000

struct stream {
	uint32_t ssrc;
	uint16_t seq;
	uint64_t last_ns;	/* arrival of the previous packet; 0 = none */
};

static struct stream *streams;
static size_t n_streams;
static uint64_t *jitter_hist;	/* [HIST_US + 1] */
static uint64_t n_intervals, n_lost, n_reordered, n_received;
static atomic_bool stop_rx;
static uint64_t t_start_ns;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_ssrc(const void *a, const void *b)
{
	uint32_t x = ((const struct stream *)a)->ssrc;
	uint32_t y = ((const struct stream *)b)->ssrc;

	return x < y ? -1 : x > y;
}

static struct stream *stream_find(uint32_t ssrc)
{
	struct stream key = { .ssrc = ssrc };

	return bsearch(&key, streams, n_streams, sizeof(key), cmp_ssrc);
}

static double hist_pct(const uint64_t *h, size_t n, uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * (double)total), seen = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		seen += h[i];
		if (seen > want)
			return (double)i;
	}
	return (double)(n - 1);
}

static void *rx_main(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t bufs[BATCH][PLAYER_PACKET_MAX + 64];
	static char ctl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int i, n;

	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!atomic_load(&stop_rx)) {
		for (i = 0; i < BATCH; i++) {
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		for (i = 0; i < n; i++) {
			const uint8_t *b = bufs[i];
			struct cmsghdr *c;
			struct stream *s;
			uint64_t at = 0;
			uint16_t seq;

			for (c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
			     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
				if (c->cmsg_level == SOL_SOCKET &&
				    c->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;

					memcpy(&ts, CMSG_DATA(c), sizeof(ts));
					at = (uint64_t)ts.tv_sec * 1000000000u +
					     (uint64_t)ts.tv_nsec;
				}
			}
			if (msgs[i].msg_len != PLAYER_PACKET_MAX || !at)
				continue;
			s = stream_find((uint32_t)b[8] << 24 |
					(uint32_t)b[9] << 16 |
					(uint32_t)b[10] << 8 | b[11]);
			if (!s)
				continue;
			n_received++;
			seq = (uint16_t)(b[2] << 8 | b[3]);
			if (s->last_ns) {
				uint16_t d = (uint16_t)(seq - s->seq);

				if (d == 0 || d > 0x8000)
					n_reordered++;
				else
					n_lost += d - 1u;
				if (at > t_start_ns + WARMUP_US * 1000u &&
				    d == 1) {
					int64_t iv = (int64_t)(at - s->last_ns);
					int64_t j = iv / 1000 - PLAYER_PTIME_US;
					uint64_t aj = (uint64_t)(j < 0 ? -j : j);

					jitter_hist[aj > HIST_US ? HIST_US : aj]++;
					n_intervals++;
				}
			}
			s->seq = seq;
			s->last_ns = at;
		}
	}
	return NULL;
}

static void on_done(struct player *p, const struct prompt *prompt, void *arg)
{
	(void)arg;
	player_play(p, prompt, 0);	/* back to back: the slot goes on */
}

static double thread_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *dir = MASKD_PROMPTS_DIR;
	unsigned n = 2000, seconds = 10, pt = PLAYER_PT_PCMU;
	unsigned tick_us = PLAYER_PTIME_US;
	struct player **players;
	struct prompt_set *set;
	const struct prompt *prompt;
	char err[PROMPT_ERR_SIZE];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int rx, tx, tfd, one = 1, rcvbuf = 64 << 20, c;
	struct timeval rx_timeout = { 0, 100000 };
	uint64_t *late_hist, *busy_hist, ticks = 0, wakes = 0, sent = 0;
	uint64_t send_err = 0;
	uint64_t t0_us, end_us, expirations;
	uint8_t buf[PLAYER_PACKET_MAX];
	struct itimerspec its;
	pthread_t th;
	double cpu0, cpu1;
	size_t len;
	unsigned i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "n:s:d:p:t:")) != -1) {
		switch (c) {
		case 'n': n = (unsigned)atoi(optarg); break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'p': pt = (unsigned)atoi(optarg); break;
		case 't': tick_us = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n PLAYERS] [-s SECONDS] "
				"[-d PROMPTS_DIR] [-p 0|8] [-t TICK_US]\n",
				argv[0]);
			return 2;
		}
	}
	if (prompt_set_load(&set, dir, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	prompt = prompt_get(set, PROMPT_ENTER_PIN);

	players = calloc(n, sizeof(*players));
	streams = calloc(n, sizeof(*streams));
	jitter_hist = calloc(HIST_US + 1, sizeof(*jitter_hist));
	late_hist = calloc(HIST_US + 1, sizeof(*late_hist));
	busy_hist = calloc(HIST_US + 1, sizeof(*busy_hist));
	if (!players || !streams || !jitter_hist || !late_hist || !busy_hist)
		return 1;
	for (i = 0; i < n; i++) {
		if (player_alloc(&players[i], (uint8_t)pt, on_done, NULL))
			return 1;
		streams[i].ssrc = player_ssrc(players[i]);
	}
	n_streams = n;
	qsort(streams, n, sizeof(*streams), cmp_ssrc);

	/* player_next() alone: n players, 50 packets each, no I/O */
	{
		uint64_t a, b, k = 0;
		unsigned t;

		for (i = 0; i < n; i++)
			player_play(players[i], prompt, 0);
		a = now_ns(CLOCK_MONOTONIC);
		for (t = 0; t < 50; t++)
			for (i = 0; i < n; i++)
				while (!player_next(players[i],
						    (uint64_t)t * PLAYER_PTIME_US,
						    buf, &len))
					k++;
		b = now_ns(CLOCK_MONOTONIC);
		printf("player_next alone: %" PRIu64 " packets, %.1f ns per "
		       "packet\n", k, (double)(b - a) / (double)k);
		for (i = 0; i < n; i++)
			player_stop(players[i]);
	}

	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rx < 0 || tx < 0) {
		perror("bench_player: socket");
		return 1;
	}
	/* room for a whole tick's burst (root may pass rmem_max) */
	if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	/* recvmmsg()'s own timeout is only looked at after a datagram
	 * came: the socket's lets the receiver see stop_rx */
	setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &rx_timeout,
		   sizeof(rx_timeout));
	if (bind(rx, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(rx, (struct sockaddr *)&sa, &salen) ||
	    connect(tx, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("bench_player: sockets");
		return 1;
	}
	t_start_ns = now_ns(CLOCK_REALTIME);
	pthread_create(&th, NULL, rx_main, &rx);

	/* the one timer of the "worker" */
	tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	its.it_interval.tv_sec = 0;
	its.it_interval.tv_nsec = (long)tick_us * 1000;
	its.it_value = its.it_interval;
	t0_us = now_ns(CLOCK_MONOTONIC) / 1000;
	if (timerfd_settime(tfd, 0, &its, NULL))
		return 1;
	/* phase k of the tick: first packet due at t0 + k ticks */
	for (i = 0; i < n; i++)
		player_play(players[i], prompt, t0_us + tick_us +
			    (uint64_t)(i % (PLAYER_PTIME_US / tick_us)) *
			    tick_us);
	end_us = t0_us + (uint64_t)seconds * 1000000u;

	cpu0 = thread_cpu_s();
	for (;;) {
		uint64_t now, due, late, busy;

		if (read(tfd, &expirations, sizeof(expirations)) !=
		    sizeof(expirations))
			continue;
		ticks += expirations;
		now = now_ns(CLOCK_MONOTONIC) / 1000;
		due = t0_us + ticks * tick_us;
		late = now > due ? now - due : 0;
		late_hist[late > HIST_US ? HIST_US : late]++;
		wakes++;
		if (now >= end_us)
			break;
		for (i = 0; i < n; i++)
			while (!player_next(players[i], now, buf, &len)) {
				if (send(tx, buf, len, 0) != (ssize_t)len)
					send_err++;
				sent++;
			}
		busy = now_ns(CLOCK_MONOTONIC) / 1000 - now;
		busy_hist[busy > HIST_US ? HIST_US : busy]++;
	}
	cpu1 = thread_cpu_s();
	usleep(200000);		/* the last packets reach the receiver */
	atomic_store(&stop_rx, true);
	pthread_join(th, NULL);

	printf("players %u, %u s, one %u us timer on one thread, PT %u\n",
	       n, seconds, tick_us, pt);
	printf("sent %" PRIu64 " packets (%.0f/s), send errors %" PRIu64
	       "; received %" PRIu64 ", lost %" PRIu64 ", reordered %" PRIu64
	       "\n", sent, (double)sent / seconds, send_err, n_received,
	       n_lost, n_reordered);
	printf("interval jitter |interval - 20 ms| over %" PRIu64
	       " intervals: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, "
	       "max %.0f us\n", n_intervals,
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 0.50),
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 0.99),
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 0.999),
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 1.0));
	printf("timer: %" PRIu64 " ticks in %" PRIu64 " wake-ups; lateness "
	       "p50 %.0f us, p99 %.0f us; one tick's work (wall) p50 %.0f us, "
	       "p99 %.0f us\n", ticks, wakes,
	       hist_pct(late_hist, HIST_US + 1, wakes, 0.50),
	       hist_pct(late_hist, HIST_US + 1, wakes, 0.99),
	       hist_pct(busy_hist, HIST_US + 1, wakes - 1, 0.50),
	       hist_pct(busy_hist, HIST_US + 1, wakes - 1, 0.99));
	printf("sender CPU %.3f s = %.2f us per packet (player_next + send), "
	       "%.1f%% of one core\n", cpu1 - cpu0,
	       (cpu1 - cpu0) * 1e6 / (double)sent,
	       (cpu1 - cpu0) * 100.0 / seconds);

	for (i = 0; i < n; i++)
		player_free(players[i]);
	prompt_set_free(set);
	free(players);
	free(streams);
	free(jitter_hist);
	free(late_hist);
	free(busy_hist);
	close(tfd);
	close(rx);
	close(tx);
	return 0;
}
