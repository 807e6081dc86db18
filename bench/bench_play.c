/*
 * bench_play.c - many prompt plays at once through the real relay: each
 * a relay call (relay_call_alloc()) whose side A plays a prompt
 * (relay_call_play()) to a receiver on loopback, the way a PIN prompt or
 * an announcement plays - the worker's one play timer
 * (RELAY_PLAY_TICK_US), the leg output's sendto() from the call's own
 * port.
 *
 *   bench_play [-n PLAYS] [-s SECONDS] [-w WORKERS] [-d PROMPTS_DIR]
 *              [-p 0|8] [-P PORT_MIN] [-r PRIORITY]
 *
 * -r is [rtp] realtime_priority, applied the way maskd applies it
 * (relay_start(): the relay workers alone at SCHED_RR, relay_sched.c);
 * without it, maskd's default; -r 0 normal priority. Run it as root (or
 * with CAP_SYS_NICE), not under chrt: the line "workers at real-time
 * priority" says what the workers got. The receiver stands for the far
 * ends, not for maskd: it runs at SCHED_FIFO 1 in every run (when
 * allowed: the lowest real-time priority, below any worker's), so on a
 * loaded host no run loses packets in its socket because the measuring
 * thread was starved, and every run measures the same way.
 *
 * The plays start spread over the first second (as calls do), each a
 * prompt long enough to last the run (enter_pin repeated), so no play
 * ends or restarts while measured.
 *
 * Measured:
 *   - packet interval jitter: a receiver thread reads one socket with
 *     recvmmsg() and the kernel's receive stamp (SO_TIMESTAMPNS); per
 *     SSRC, |interval between consecutive packets - 20 ms|, p50, p99,
 *     p99.9 and max over every packet after the warm-up (2 s);
 *   - loss: sequence gaps per SSRC;
 *   - CPU per played packet: the relay workers' user + system time
 *     (/proc/self/task/TID/stat of every thread but this one and the
 *     receiver) over the measured window, divided by the packets sent in
 *     it.
 *
 * Loopback only; bounded in time; never run by ctest.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "maskd/config.h"
#include "maskd/player.h"
#include "maskd/prompt.h"
#include "maskd/relay.h"

#define HIST_US 200000		/* 1 us buckets up to 200 ms */
#define BATCH 256
#define WARMUP_NS 2000000000ULL
#define SSRC_SLOTS 65536	/* open addressing, a power of two */
#define RX_PRIO 1		/* the receiver's SCHED_FIFO priority: above
				 * the host's other load, below any relay
				 * worker at real-time priority, so it
				 * never delays one */

struct stream {
	uint32_t ssrc;
	bool used;
	uint16_t seq;
	uint64_t last_ns;
};

struct rx {
	int fd;
	atomic_bool stop;
	pid_t tid;
	_Atomic uint64_t t0_ns;		/* warm-up ends */
	uint64_t *hist;			/* HIST_US + 1 buckets */
	uint64_t samples, lost, measured_packets;
	_Atomic uint64_t packets;	/* read by main */
	struct stream *streams;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct stream *stream_of(struct rx *rx, uint32_t ssrc)
{
	uint32_t i = (ssrc * 2654435761u) & (SSRC_SLOTS - 1);

	while (rx->streams[i].used && rx->streams[i].ssrc != ssrc)
		i = (i + 1) & (SSRC_SLOTS - 1);
	if (!rx->streams[i].used) {
		rx->streams[i].used = true;
		rx->streams[i].ssrc = ssrc;
	}
	return &rx->streams[i];
}

static void rx_packet(struct rx *rx, const uint8_t *p, size_t len,
		      uint64_t at)
{
	struct stream *s;
	uint32_t ssrc;
	uint16_t seq, gap;
	uint64_t d, us;

	if (len < 12)
		return;
	ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
	       (uint32_t)p[10] << 8 | p[11];
	seq = (uint16_t)(p[2] << 8 | p[3]);
	s = stream_of(rx, ssrc);
	rx->packets++;
	if (at >= rx->t0_ns)
		rx->measured_packets++;
	if (s->last_ns) {
		gap = (uint16_t)(seq - s->seq);
		if (gap > 1 && gap < 1000)
			rx->lost += gap - 1u;
		if (gap == 1 && at >= rx->t0_ns) {
			d = at > s->last_ns ? at - s->last_ns : 0;
			d = d > 20000000ULL ? d - 20000000ULL : 20000000ULL - d;
			us = d / 1000;
			rx->hist[us > HIST_US ? HIST_US : us]++;
			rx->samples++;
		}
	}
	s->seq = seq;
	s->last_ns = at;
}

static void *rx_main(void *arg)
{
	struct rx *rx = arg;
	static uint8_t bufs[BATCH][512];
	static char ctl[BATCH][64];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct timespec to = { 0, 100000000 };
	struct cmsghdr *cm;
	uint64_t at;
	int n, i;

	rx->tid = gettid();
	while (!atomic_load(&rx->stop)) {
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		n = recvmmsg(rx->fd, msgs, BATCH, MSG_WAITFORONE, &to);
		for (i = 0; i < n; i++) {
			at = 0;
			for (cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm;
			     cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
				if (cm->cmsg_level == SOL_SOCKET &&
				    cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;

					memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
					at = (uint64_t)ts.tv_sec * 1000000000ULL +
					     (uint64_t)ts.tv_nsec;
				}
			}
			rx_packet(rx, bufs[i], msgs[i].msg_len,
				  at ? at : now_ns());
		}
	}
	return NULL;
}

static double hist_pct(const uint64_t *h, uint64_t n, double pct)
{
	uint64_t want = (uint64_t)((double)n * pct / 100.0), seen = 0;
	size_t i;

	for (i = 0; i <= HIST_US; i++) {
		seen += h[i];
		if (seen > want)
			return (double)i / 1000.0;
	}
	return (double)HIST_US / 1000.0;
}

static double hist_max(const uint64_t *h)
{
	size_t i;

	for (i = HIST_US + 1; i-- > 0;)
		if (h[i])
			return (double)i / 1000.0;
	return 0;
}

/* CPU seconds of every thread of this process but @skip1 and @skip2. */
static double relay_cpu_s(pid_t skip1, pid_t skip2)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned long ut, st;
	double sum = 0;
	char path[64], buf[1024], *p;
	FILE *f;
	pid_t tid;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == skip1 || tid == skip2)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			   "%*u %lu %lu", &ut, &st) == 2)
			sum += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	closedir(d);
	return sum;
}

/* The prompt every call plays: @base repeated to at least @seconds. */
static struct prompt *long_prompt(const struct prompt *base, unsigned seconds)
{
	size_t want = (size_t)seconds * PROMPT_RATE, reps, n, i;
	struct prompt *p = calloc(1, sizeof(*p));
	int16_t *pcm;
	uint8_t *u, *a;

	reps = want / base->n_padded + 1;
	n = reps * base->n_padded;
	pcm = calloc(n, sizeof(*pcm));
	u = malloc(n);
	a = malloc(n);
	if (!p || !pcm || !u || !a) {
		free(p);
		free(pcm);
		free(u);
		free(a);
		return NULL;
	}
	for (i = 0; i < reps; i++) {
		memcpy(pcm + i * base->n_padded, base->pcm,
		       base->n * sizeof(*pcm));
		memcpy(u + i * base->n_padded, base->pcmu, base->n_padded);
		memcpy(a + i * base->n_padded, base->pcma, base->n_padded);
	}
	p->pcm = pcm;
	p->n = n;
	p->pcmu = u;
	p->pcma = a;
	p->n_padded = n;
	return p;
}

int main(int argc, char **argv)
{
	unsigned n_plays = 2000, seconds = 10, workers = 2, pt = 0;
	unsigned port_min = 30000;
	const char *dir = MASKD_PROMPTS_DIR;
	char err[PROMPT_ERR_SIZE];
	struct prompt_set *set = NULL;
	struct prompt *pr;
	struct relay_call **calls;
	struct sockaddr_in to;
	socklen_t tolen = sizeof(to);
	struct relay *r;
	struct config cfg;
	struct rx rx;
	pthread_t th;
	double cpu0, cpu1;
	uint64_t pk0, pk1, t_start;
	unsigned i, started = 0;
	int opt, one = 1, rcvbuf = 64 << 20, rt_prio = -1;
	struct relay_stats rs;

	while ((opt = getopt(argc, argv, "n:s:w:d:p:P:r:")) != -1) {
		switch (opt) {
		case 'n': n_plays = (unsigned)atoi(optarg); break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'w': workers = (unsigned)atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'p': pt = (unsigned)atoi(optarg); break;
		case 'P': port_min = (unsigned)atoi(optarg); break;
		case 'r': rt_prio = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_play [-n PLAYS] [-s SECONDS]"
				" [-w WORKERS] [-d PROMPTS_DIR] [-p 0|8] "
				"[-P PORT_MIN] [-r PRIORITY]\n");
			return 2;
		}
	}
	if (seconds < 4 || !n_plays || (pt != 0 && pt != 8) || rt_prio > 49) {
		fprintf(stderr, "bench_play: -s >= 4, -n > 0, -p 0 or 8, "
			"-r 0..49\n");
		return 2;
	}
	if (prompt_set_load(&set, dir, err, sizeof(err))) {
		fprintf(stderr, "bench_play: %s\n", err);
		return 1;
	}
	pr = long_prompt(prompt_get(set, PROMPT_ENTER_PIN), seconds + 5);
	calls = calloc(n_plays, sizeof(*calls));
	if (!pr || !calls)
		return 1;

	/* the receiver: one socket for every play */
	memset(&rx, 0, sizeof(rx));
	rx.hist = calloc(HIST_US + 1, sizeof(*rx.hist));
	rx.streams = calloc(SSRC_SLOTS, sizeof(*rx.streams));
	rx.fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!rx.hist || !rx.streams || rx.fd < 0 ||
	    setsockopt(rx.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
		       sizeof(one)) ||
	    bind(rx.fd, (struct sockaddr *)&to, sizeof(to)) ||
	    getsockname(rx.fd, (struct sockaddr *)&to, &tolen)) {
		perror("bench_play: receiver");
		return 1;
	}
	if (setsockopt(rx.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		(void)setsockopt(rx.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));
	rx.t0_ns = UINT64_MAX;
	if (pthread_create(&th, NULL, rx_main, &rx))
		return 1;
	{
		struct sched_param sp = { .sched_priority = RX_PRIO };
		int e = pthread_setschedparam(th, SCHED_FIFO, &sp);

		printf("receiver: %s\n", e ? "normal priority (not allowed "
		       "SCHED_FIFO: packets it is late for may be lost)" :
		       "SCHED_FIFO 1");
	}

	config_defaults(&cfg);
	cfg.rtp.port_min = (uint16_t)port_min;
	cfg.rtp.port_max = (uint16_t)(port_min + 4 * n_plays + 16 * workers);
	snprintf(cfg.rtp.advertise, sizeof(cfg.rtp.advertise), "127.0.0.1");
	cfg.rtp.workers = workers;
	cfg.rtp.timeout_s = 0;
	cfg.rtp.hold_timeout_s = 0;
	if (rt_prio >= 0)
		cfg.rtp.realtime_priority = (uint32_t)rt_prio;
	if (relay_start(&r, &cfg.rtp, NULL, NULL, NULL)) {
		fprintf(stderr, "bench_play: relay_start failed (ports %u-%u)\n",
			cfg.rtp.port_min, cfg.rtp.port_max);
		return 1;
	}
	relay_stats_get(r, &rs);
	printf("workers at real-time priority: %" PRIu64 " of %" PRIu64
	       " (realtime_priority %u, SCHED_RR)\n", rs.workers_realtime,
	       rs.workers, cfg.rtp.realtime_priority);

	/* plays start over the first second, as calls would */
	t_start = now_ns();
	for (i = 0; i < n_plays; i++) {
		if (relay_call_alloc(r, i + 1, &calls[i]))
			break;
		relay_call_set_remote(calls[i], RELAY_LEG_A,
				      (struct sockaddr *)&to, NULL, 0);
		while (relay_call_play(calls[i], RELAY_LEG_A, pr, (uint8_t)pt,
				       NULL, NULL) == EBUSY)
			usleep(100);
		started++;
		usleep(1000000 / n_plays);
	}
	while (now_ns() - t_start < WARMUP_NS)
		usleep(10000);
	rx.t0_ns = now_ns();
	pk0 = rx.packets;
	cpu0 = relay_cpu_s(gettid(), rx.tid);
	sleep(seconds - 2);
	cpu1 = relay_cpu_s(gettid(), rx.tid);
	pk1 = rx.packets;

	atomic_store(&rx.stop, true);
	pthread_join(th, NULL);
	for (i = 0; i < started; i++)
		relay_call_free(calls[i], NULL);
	relay_stop(r);

	printf("bench_play: %u plays through the relay (%u workers, PT %u), "
	       "%u s measured after a 2 s warm-up\n", started, workers, pt,
	       seconds - 2);
	printf("  packets received  %" PRIu64 " (%.0f/s), lost %" PRIu64
	       " (%.4f%%)\n", pk1 - pk0, (double)(pk1 - pk0) / (seconds - 2),
	       rx.lost, rx.packets ? 100.0 * (double)rx.lost /
	       (double)(rx.packets + rx.lost) : 0.0);
	printf("  interval jitter |dt - 20 ms|  p50 %.3f ms  p99 %.3f ms  "
	       "p99.9 %.3f ms  max %.3f ms  (%" PRIu64 " intervals)\n",
	       hist_pct(rx.hist, rx.samples, 50),
	       hist_pct(rx.hist, rx.samples, 99),
	       hist_pct(rx.hist, rx.samples, 99.9), hist_max(rx.hist),
	       rx.samples);
	printf("  relay CPU  %.2f s in %u s (%.1f%% of a core), %.2f us per "
	       "played packet\n", cpu1 - cpu0, seconds - 2,
	       100.0 * (cpu1 - cpu0) / (seconds - 2),
	       pk1 > pk0 ? (cpu1 - cpu0) * 1e6 / (double)(pk1 - pk0) : 0.0);

	free((void *)pr->pcm);
	free((void *)pr->pcmu);
	free((void *)pr->pcma);
	free(pr);
	prompt_set_free(set);
	free(calls);
	free(rx.hist);
	free(rx.streams);
	close(rx.fd);
	return 0;
}
