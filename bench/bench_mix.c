/*
 * bench_mix.c - concurrent 3-way calls through maskd's relay mixer
 * (src/media/relay_mix.c): CPU per mixed packet and packet interval
 * jitter of what the parties hear.
 *
 *   bench_mix [-k CALLS] [-s SECONDS] [-w WORKERS] [-p PORT_MIN]
 *
 * The relay runs in this process on 127.0.0.1 (ports PORT_MIN up,
 * default 40000), set up as the SIP side would: per call relay_call_
 * alloc(), relay_call_leg_add() for the third party, set_remote() and
 * relay_call_leg_codec() per leg (A and C PCMU, B PCMA), then
 * relay_call_mix() of the three. The parties are UDP sockets on
 * 127.0.0.2, .3 and .4; one sender thread sends each party's 20 ms
 * packet (a tone: 400, 1000 or 2000 Hz, whole periods per frame) with
 * the sends of all parties spread evenly over each 20 ms, as calls
 * started at random times would send; one receiver thread drains all
 * sockets with epoll and recvmmsg, with the kernel's receive stamps
 * (SO_TIMESTAMPNS).
 *
 * Measured, after a 2 s warm-up, over SECONDS:
 *   - packet interval jitter: per listener (one mixed stream each),
 *     |interval between consecutive packets - 20 ms|, p50/p99/p99.9/max;
 *   - loss: packets each listener should have had (one per 20 ms) and
 *     did not, and sequence gaps;
 *   - the relay workers' CPU (user + system of the threads named
 *     maskd-rtp*, from /proc/self/task) as a share of one core, and
 *     divided by the mixed packets sent (each one: its share of the
 *     receive, jitter buffer and decode of the inputs, the sum, the
 *     subtract-clip-encode and the sendto()).
 *
 * Loopback only; bounded in time; never run by ctest.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "maskd/config.h"
#include "maskd/g711.h"
#include "maskd/relay.h"

#define PARTIES 3
#define FRAME 160
#define PKT_LEN (12 + FRAME)
#define PTIME_US 20000
#define HIST_US 200000		/* 1 us buckets up to 200 ms */
#define WARMUP_US 2000000
#define BATCH 64

static const char *const hosts[PARTIES] = {
	"127.0.0.2", "127.0.0.3", "127.0.0.4"
};
static const int tone_hz[PARTIES] = { 400, 1000, 2000 };
static const uint8_t law[PARTIES] = { 0, 8, 0 };

struct party {
	int fd;
	struct sockaddr_in relay;	/* maskd's port facing it */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	/* receive side, receiver thread only */
	uint64_t last_ns;
	uint16_t last_seq;
	bool any;
	uint64_t got;
	uint64_t gaps;
};

static struct party *parties;	/* [calls * PARTIES] */
static unsigned n_parties;
static uint8_t frame_codes[PARTIES][FRAME];
static uint64_t *jitter_hist;
static uint64_t n_intervals;
static atomic_bool measuring, stopping;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double hist_pct(const uint64_t *h, size_t n, uint64_t total, double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)total), acc = 0;
	size_t i;

	if (!total)
		return 0;
	for (i = 0; i < n; i++) {
		acc += h[i];
		if (acc >= want && h[i])
			return (double)i;
	}
	return (double)(n - 1);
}

/* user + system ticks of this process's relay worker threads */
static uint64_t workers_cpu_ticks(void)
{
	char path[300], buf[1024];
	struct dirent *e;
	uint64_t sum = 0;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char *p;
		unsigned long ut, st;
		int field;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(buf, sizeof(buf), f)) {
			fclose(f);
			continue;
		}
		fclose(f);
		if (!strstr(buf, "(maskd-rtp"))
			continue;
		p = strrchr(buf, ')');
		/* fields after the name: state is 3, utime 14, stime 15 */
		for (field = 2; p && field < 14; field++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%lu %lu", &ut, &st) == 2)
			sum += ut + st;
	}
	closedir(d);
	return sum;
}

static void *sender_main(void *arg)
{
	uint8_t pkt[PKT_LEN];
	uint64_t start = now_ns(), period = PTIME_US * 1000ull;
	uint64_t round = 0;
	unsigned i;

	(void)arg;
	while (!atomic_load(&stopping)) {
		uint64_t base = start + round * period;

		for (i = 0; i < n_parties; i++) {
			struct party *p = &parties[i];
			uint64_t due = base + period * i / n_parties;
			uint64_t t = now_ns();
			struct timespec ts;

			if (due > t) {
				ts.tv_sec = (time_t)((due - t) / 1000000000u);
				ts.tv_nsec = (long)((due - t) % 1000000000u);
				nanosleep(&ts, NULL);
			}
			pkt[0] = 0x80;
			pkt[1] = law[i % PARTIES];
			pkt[2] = (uint8_t)(p->seq >> 8);
			pkt[3] = (uint8_t)p->seq;
			pkt[4] = (uint8_t)(p->ts >> 24);
			pkt[5] = (uint8_t)(p->ts >> 16);
			pkt[6] = (uint8_t)(p->ts >> 8);
			pkt[7] = (uint8_t)p->ts;
			pkt[8] = (uint8_t)(p->ssrc >> 24);
			pkt[9] = (uint8_t)(p->ssrc >> 16);
			pkt[10] = (uint8_t)(p->ssrc >> 8);
			pkt[11] = (uint8_t)p->ssrc;
			memcpy(pkt + 12, frame_codes[i % PARTIES], FRAME);
			(void)sendto(p->fd, pkt, sizeof(pkt), MSG_DONTWAIT,
				     (struct sockaddr *)&p->relay,
				     sizeof(p->relay));
			p->seq++;
			p->ts += FRAME;
		}
		round++;
		/* fell behind by more than a round (a stalled machine):
		 * skip ahead rather than burst */
		if (now_ns() > start + (round + 1) * period)
			round = (now_ns() - start) / period;
	}
	return NULL;
}

static void *receiver_main(void *arg)
{
	int ep = *(int *)arg;
	struct epoll_event ev[64];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint8_t buf[BATCH][256];
	char ctl[BATCH][64];
	int n, i, j, k;

	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}

	while (!atomic_load(&stopping)) {
		n = epoll_wait(ep, ev, 64, 100);
		for (i = 0; i < n; i++) {
			struct party *p = &parties[ev[i].data.u32];

			for (j = 0; j < BATCH; j++) {
				m[j].msg_hdr.msg_control = ctl[j];
				m[j].msg_hdr.msg_controllen = sizeof(ctl[j]);
			}
			k = recvmmsg(p->fd, m, BATCH, MSG_DONTWAIT, NULL);
			for (j = 0; j < k; j++) {
				struct cmsghdr *c;
				uint64_t t = 0;
				uint16_t seq;

				for (c = CMSG_FIRSTHDR(&m[j].msg_hdr); c;
				     c = CMSG_NXTHDR(&m[j].msg_hdr, c)) {
					if (c->cmsg_level == SOL_SOCKET &&
					    c->cmsg_type == SCM_TIMESTAMPNS) {
						struct timespec ts;

						memcpy(&ts, CMSG_DATA(c),
						       sizeof(ts));
						t = (uint64_t)ts.tv_sec *
						    1000000000u +
						    (uint64_t)ts.tv_nsec;
					}
				}
				if (m[j].msg_len < 12)
					continue;
				seq = (uint16_t)(buf[j][2] << 8 | buf[j][3]);
				if (!atomic_load(&measuring)) {
					p->any = false;
					continue;
				}
				p->got++;
				if (p->any) {
					int64_t d = (int64_t)(t - p->last_ns) /
						    1000 - PTIME_US;
					uint64_t a = (uint64_t)(d < 0 ? -d : d);

					jitter_hist[a > HIST_US ? HIST_US : a]++;
					n_intervals++;
					if (seq != (uint16_t)(p->last_seq + 1))
						p->gaps++;
				}
				p->any = true;
				p->last_ns = t;
				p->last_seq = seq;
			}
		}
	}
	return NULL;
}

static struct sockaddr_in sin_of(const char *host, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, host, &a.sin_addr);
	return a;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	unsigned calls = 200, seconds = 10, workers = 0, i, l;
	unsigned port_min = 40000;
	struct relay_call **rc;
	struct relay_stats st;
	struct relay *r;
	struct rlimit rl;
	pthread_t tx, rxt;
	uint64_t cpu0, cpu1, t0, t1, got = 0, gaps = 0, want;
	double secs, cpu_s;
	int ep, opt, one = 1, err;

	while ((opt = getopt(argc, argv, "k:s:w:p:")) != -1) {
		switch (opt) {
		case 'k': calls = (unsigned)atoi(optarg); break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'w': workers = (unsigned)atoi(optarg); break;
		case 'p': port_min = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_mix [-k CALLS] "
				"[-s SECONDS] [-w WORKERS] [-p PORT_MIN]\n");
			return 2;
		}
	}
	if (!calls || seconds > 600 || calls > 2000)
		return 2;

	/* the parties' sockets besides the relay's */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	for (l = 0; l < PARTIES; l++) {
		for (i = 0; i < FRAME; i++) {
			int16_t x = (int16_t)lrint(6000 * sin(2 * M_PI *
					tone_hz[l] * i / 8000.0));

			frame_codes[l][i] = law[l] ? g711_alaw_encode(x) :
					    g711_ulaw_encode(x);
		}
	}

	config_defaults(&cfg);
	cfg.rtp.port_min = (uint16_t)port_min;
	cfg.rtp.port_max = (uint16_t)(port_min + calls * PARTIES * 2 + 2 * 64
				      + 1);
	cfg.rtp.workers = workers;
	cfg.rtp.timeout_s = 0;
	cfg.rtp.hold_timeout_s = 0;
	snprintf(cfg.rtp.advertise, sizeof(cfg.rtp.advertise), "127.0.0.1");
	err = relay_start(&r, &cfg.rtp, NULL, NULL, NULL);
	if (err) {
		fprintf(stderr, "relay_start: %s\n", strerror(err));
		return 1;
	}

	n_parties = calls * PARTIES;
	parties = calloc(n_parties, sizeof(*parties));
	rc = calloc(calls, sizeof(*rc));
	jitter_hist = calloc(HIST_US + 1, sizeof(*jitter_hist));
	ep = epoll_create1(0);
	if (!parties || !rc || !jitter_hist || ep < 0)
		return 1;

	for (i = 0; i < calls; i++) {
		unsigned leg[PARTIES] = { RELAY_LEG_A, RELAY_LEG_B, 0 };

		err = relay_call_alloc(r, i, &rc[i]);
		if (!err)
			err = relay_call_leg_add(rc[i], &leg[2]);
		if (err) {
			fprintf(stderr, "call %u: %s\n", i, strerror(err));
			return 1;
		}
		for (l = 0; l < PARTIES; l++) {
			struct party *p = &parties[i * PARTIES + l];
			struct sockaddr_in a = sin_of(hosts[l], 0);
			socklen_t len = sizeof(a);
			struct epoll_event ev = { .events = EPOLLIN };

			p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
			if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&a,
					      sizeof(a)) ||
			    getsockname(p->fd, (struct sockaddr *)&a, &len)) {
				perror("party socket");
				return 1;
			}
			setsockopt(p->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
				   sizeof(one));
			ev.data.u32 = i * PARTIES + l;
			epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev);
			p->relay = sin_of("127.0.0.1",
					  relay_call_port(rc[i], leg[l]));
			p->ssrc = 0x1000000u + i * PARTIES + l;
			relay_call_set_remote(rc[i], leg[l],
					      (struct sockaddr *)&a, NULL, 0);
			relay_call_leg_codec(rc[i], leg[l], law[l]);
		}
		relay_call_mix(rc[i], 1u << RELAY_LEG_A | 1u << RELAY_LEG_B |
			       1u << leg[2], true);
	}
	relay_sync(r);

	pthread_create(&rxt, NULL, receiver_main, &ep);
	pthread_create(&tx, NULL, sender_main, NULL);
	usleep(WARMUP_US);

	atomic_store(&measuring, true);
	cpu0 = workers_cpu_ticks();
	t0 = now_ns();
	sleep(seconds);
	cpu1 = workers_cpu_ticks();
	t1 = now_ns();
	atomic_store(&measuring, false);
	atomic_store(&stopping, true);
	pthread_join(tx, NULL);
	pthread_join(rxt, NULL);

	for (i = 0; i < n_parties; i++) {
		got += parties[i].got;
		gaps += parties[i].gaps;
	}
	secs = (double)(t1 - t0) / 1e9;
	cpu_s = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK);
	want = (uint64_t)(secs * 1e6 / PTIME_US) * n_parties;

	relay_stats_get(r, &st);
	printf("bench_mix: %u 3-way calls (%u parties, A and C PCMU, B PCMA), "
	       "%" PRIu64 " relay workers, %.1f s measured\n", calls, n_parties,
	       (uint64_t)st.workers, secs);
	printf("  mixed packets received: %" PRIu64 " of %" PRIu64
	       " (%.3f%% short), sequence gaps %" PRIu64 "\n", got, want,
	       want > got ? 100.0 * (double)(want - got) / (double)want : 0.0,
	       gaps);
	printf("  packet interval jitter |interval - 20 ms| (us): p50 %.0f  "
	       "p99 %.0f  p99.9 %.0f  max %.0f  (%" PRIu64 " intervals)\n",
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 0.50),
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 0.99),
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 0.999),
	       hist_pct(jitter_hist, HIST_US + 1, n_intervals, 1.0),
	       n_intervals);
	printf("  relay workers' CPU: %.1f%% of one core; %.2f us per mixed "
	       "packet sent (%.0f packets/s out, as many in)\n",
	       100.0 * cpu_s / secs, got ? cpu_s * 1e6 / (double)got : 0.0,
	       (double)got / secs);

	for (i = 0; i < calls; i++)
		relay_call_free(rc[i], NULL);
	relay_stop(r);
	for (i = 0; i < n_parties; i++)
		close(parties[i].fd);
	close(ep);
	free(parties);
	free(rc);
	free(jitter_hist);
	return 0;
}
