/*
 * bench_rtp.c - RTP load through a media relay: loss, added one-way
 * latency and the relay's CPU, for maskd's relay and for rtpengine, in
 * the same run with the same generator.
 *
 *   bench_rtp [-k calls] [-s seconds] [-w workers] [-t targets]
 *
 * targets: a comma list of
 *   direct     the parties send straight to each other: the floor of the
 *              generator and loopback, subtracted to give "added" latency
 *   maskd      maskd's relay (src/media) in a child process that runs
 *              nothing else; calls set up over a socketpair
 *   maskd-rec  the same with every call recorded (src/rec/): the
 *              recorder's taps on both legs and its thread, files in
 *              $BENCH_REC_DIR (default /tmp/maskd-bench-rec, emptied
 *              after); also reported: the recorder thread's share of
 *              the CPU, its queue drops and the disk bytes per
 *              call-minute (bench/bench_rec.sh runs maskd against it)
 *   rtpengine  Debian's rtpengine daemon, userspace forwarding (no kernel
 *              table), started here on loopback and driven over its ng
 *              protocol (bencode over UDP)
 *
 * Each call is two parties, A on 127.0.0.2 and B on 127.0.0.3, each
 * sending 172-byte RTP packets (20 ms of G.711) every 20 ms to the relay
 * port facing it: 100 packets/s through the relay per call. Every packet
 * carries its send time (CLOCK_MONOTONIC) and its stream; the receiver
 * checks it arrived on the right party's socket and records the delay.
 * One sender thread spreads the sends evenly over each 20 ms; one
 * receiver thread drains all sockets with epoll and recvmmsg.
 *
 * The relay's CPU is read from /proc/PID/stat (user + system, all its
 * threads) over the measured window, and reported as the share of one
 * core it needs per 10,000 packets/s relayed.
 *
 * Loopback only; bounded in time; never run by ctest (speed is measured,
 * not asserted).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "maskd/clock.h"
#include "maskd/config.h"
#include "maskd/recorder.h"
#include "maskd/relay.h"

#define HOST_A "127.0.0.2"
#define HOST_B "127.0.0.3"
#define HOST_RELAY "127.0.0.1"
#define PKT_LEN 172			/* RTP header + 160 bytes of PCMU */
#define PTIME_MS 20
#define TICK_US 1000
#define HIST_US 100000			/* 1 us buckets up to 100 ms */
#define RTPE_NG_PORT 22230
#define RTPE_PORT_MIN 50000
#define RTPE_PORT_MAX 59999
#define MASKD_PORT_MIN 40000
#define MASKD_PORT_MAX 49999
#define MAGIC 0x6d61736bu		/* "mask" */

/* One direction of a call: party A's or party B's stream. */
struct party {
	struct sockaddr_in to;		/* the relay port facing this party */
	uint16_t seq;
	uint32_t ts;
};

struct call {
	struct party p[2];		/* [0] = A, [1] = B */
};

/*
 * The parties' sockets. Calls share them: call i's party A sends from
 * and receives on fd[0][i % N_SOCKS], party B on fd[1][i % N_SOCKS]. A
 * relay sees many calls from the same address, which it does not mind,
 * and the generator moves its packets with sendmmsg/recvmmsg in batches,
 * so that on a 2-core machine it leaves CPU for the relay under test.
 */
#define N_SOCKS 8
#define SEND_BATCH 64

/* What travels after the RTP header. */
struct stamp {
	uint64_t sent_ns;
	uint32_t call;
	uint32_t dir;			/* 0: A to B, 1: B to A */
	uint32_t magic;
};

struct bench {
	unsigned n_calls;
	unsigned seconds;
	unsigned workers;
	struct call *calls;
	int fd[2][N_SOCKS];

	pid_t relay_pid;		/* 0 = none (direct) */
	bool rec;			/* maskd-rec: record every call */
	int ctl_fd;			/* maskd: socketpair; rtpengine: UDP */

	_Atomic bool sending;
	_Atomic bool receiving;
	_Atomic uint64_t window_start_ns;	/* read by the receiver */
	_Atomic uint64_t window_end_ns;

	/* receiver-owned until it is joined */
	uint64_t hist[HIST_US + 1];
	uint64_t received[2];
	uint64_t misrouted;
	uint64_t in_window;
	/* sender-owned until it is joined */
	uint64_t sent[2];
};

struct result {
	const char *name;
	double pps;
	double loss;			/* fraction */
	uint64_t lost, sent, misrouted;
	double p50_us, p99_us, p999_us, max_us;
	double cpu_per_10k;		/* cores per 10,000 packets/s; <0 n/a */
	double rec_cpu_per_10k;		/* of which the recorder thread */
	/* CPU microseconds per packet relayed in the window (sent in it
	 * and received): the figure that stays right when a loaded
	 * machine keeps the generator below its nominal rate */
	double us_per_pkt, rec_us_per_pkt;
};

/* CLOCK_REALTIME: the clock of the kernel's receive timestamps. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct sockaddr_in sin_make(const char *host, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, host, &a.sin_addr);
	return a;
}

static int udp_open(const char *host)
{
	struct sockaddr_in a = sin_make(host, 0);
	int fd, size = 8 << 20, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* FORCE: past net.core.rmem_max when root; else the plain one */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* the kernel stamps each datagram as it reaches the socket: the
	 * receiver thread's own scheduling delay is not the relay's */
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint16_t udp_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

/* CPU seconds (user + system) of @pid's threads named @comm so far. */
static double proc_thread_cpu_s(pid_t pid, const char *comm)
{
	char path[300], buf[1024], *p;
	unsigned long ut, st;
	double sum = 0;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid,
			 de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (!p || !(p = strchr(buf, '(')) ||
		    strncmp(p + 1, comm, strlen(comm)) ||
		    !(p = strrchr(buf, ')')))
			continue;
		p += 2;
		for (i = 3; i < 14 && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p && sscanf(p, "%lu %lu", &ut, &st) == 2)
			sum += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	closedir(d);
	return sum;
}

/* CPU seconds (user + system) of process @pid so far, or -1. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);

	/* fields after the command, which may hold blanks: from ") " */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	for (i = 3; i < 14 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * bench_thread_nice() - the generator stands for the network: on a
 * 2-core machine it must not take the CPU from the relay under test
 * when both are runnable, so its threads run at the lowest priority.
 * Delays it suffers itself are not measured: the send stamp is taken
 * right before sendmmsg(), the receive stamp by the kernel.
 */
static void bench_thread_nice(void)
{
	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
}

/* --- maskd: the relay alone, in a child process ----------------------- */

struct maskd_setup {
	struct sockaddr_in a, b;	/* the parties */
};

struct maskd_reply {
	int err;
	uint16_t port_a, port_b;
};

static const char *rec_dir(void)
{
	const char *d = getenv("BENCH_REC_DIR");

	return d && *d ? d : "/tmp/maskd-bench-rec";
}

/* The files' bytes, then the files gone. */
static uint64_t rec_dir_empty(void)
{
	char path[800];
	struct dirent *de;
	struct stat st;
	uint64_t bytes = 0;
	DIR *d = opendir(rec_dir());

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", rec_dir(), de->d_name);
		if (!stat(path, &st))
			bytes += (uint64_t)st.st_size;
		unlink(path);
	}
	closedir(d);
	return bytes;
}

/* The child: start the relay (and with @rec the recorder), set up calls
 * on request, exit on EOF. */
static void maskd_child(int fd, unsigned workers, unsigned n_calls, bool rec)
{
	struct rec_call **rcs = NULL;
	struct recorder *recorder = NULL;
	struct recorder_stats rs;
	uint8_t id[STORE_ID_LEN];
	int64_t t0 = 0;
	uint64_t bytes;
	struct relay_call **calls;
	struct maskd_setup m;
	struct maskd_reply rep;
	struct relay *r;
	struct config cfg;
	unsigned n = 0, i;

	config_defaults(&cfg);
	cfg.rtp.port_min = MASKD_PORT_MIN;
	cfg.rtp.port_max = MASKD_PORT_MAX;
	snprintf(cfg.rtp.advertise, sizeof(cfg.rtp.advertise), HOST_RELAY);
	cfg.rtp.workers = workers;
	cfg.rtp.timeout_s = 0;
	cfg.rtp.hold_timeout_s = 0;

	calls = calloc(n_calls, sizeof(*calls));
	if (!calls || relay_start(&r, &cfg.rtp, NULL, NULL, NULL))
		_exit(1);
	if (rec) {
		snprintf(cfg.recording.dir, sizeof(cfg.recording.dir), "%s",
			 rec_dir());
		cfg.recording.retention_s = 0;
		rcs = calloc(n_calls, sizeof(*rcs));
		if (!rcs || recorder_start(&recorder, &cfg.recording, NULL,
					   NULL, NULL))
			_exit(1);
		t0 = clock_mono_ms();
	}

	while (recv(fd, &m, sizeof(m), 0) == (ssize_t)sizeof(m)) {
		memset(&rep, 0, sizeof(rep));
		if (n == n_calls) {
			rep.err = ENOSPC;
		}
		else {
			rep.err = relay_call_alloc(r, n, &calls[n]);
		}
		if (!rep.err) {
			relay_call_set_remote(calls[n], RELAY_LEG_A,
					      (struct sockaddr *)&m.a, NULL, 0);
			relay_call_set_remote(calls[n], RELAY_LEG_B,
					      (struct sockaddr *)&m.b, NULL, 0);
			rep.port_a = relay_call_port(calls[n], RELAY_LEG_A);
			rep.port_b = relay_call_port(calls[n], RELAY_LEG_B);
			if (recorder) {
				memset(id, 0, sizeof(id));
				memcpy(id, &n, sizeof(n));
				if (recorder_call_start(recorder, calls[n], id,
							id, RELAY_LEG_A, 8000,
							&rcs[n]))
					rep.err = EIO;
			}
			n++;
		}
		if (send(fd, &rep, sizeof(rep), 0) < 0)
			break;
	}

	for (i = 0; i < n; i++) {
		if (rcs)
			recorder_call_stop(rcs[i]);
		relay_call_free(calls[i], NULL);
	}
	relay_stop(r);
	if (recorder) {
		double min = (double)(clock_mono_ms() - t0) / 60000.0;

		recorder_stats_get(recorder, &rs);
		fprintf(stderr, "maskd-rec: recorder queue drops %llu, late "
			"packets %llu\n",
			(unsigned long long)rs.queue_drops,
			(unsigned long long)rs.late_packets);
		recorder_stop(recorder);	/* finishes every file */
		/* read after the stop: the last files' bytes are in */
		bytes = rec_dir_empty();
		fprintf(stderr, "maskd-rec: %u recordings, %.2f min each, "
			"%llu bytes on disk: %.0f bytes per call-minute\n", n,
			min, (unsigned long long)bytes,
			n && min > 0 ? (double)bytes / n / min : 0.0);
	}
	free(rcs);
	free(calls);
	_exit(0);
}

static int maskd_start(struct bench *b)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return errno;
	pid = fork();
	if (pid < 0)
		return errno;
	if (!pid) {
		close(sv[0]);
		maskd_child(sv[1], b->workers, b->n_calls, b->rec);
	}
	close(sv[1]);
	b->ctl_fd = sv[0];
	b->relay_pid = pid;
	return 0;
}

static int maskd_call(struct bench *b, unsigned i, uint16_t *pa,
		      uint16_t *pb)
{
	struct call *c = &b->calls[i];
	struct maskd_setup m;
	struct maskd_reply rep;

	(void)c;
	m.a = sin_make(HOST_A, udp_port(b->fd[0][i % N_SOCKS]));
	m.b = sin_make(HOST_B, udp_port(b->fd[1][i % N_SOCKS]));
	if (send(b->ctl_fd, &m, sizeof(m), 0) != (ssize_t)sizeof(m) ||
	    recv(b->ctl_fd, &rep, sizeof(rep), 0) != (ssize_t)sizeof(rep))
		return EIO;
	if (rep.err)
		return rep.err;
	*pa = rep.port_a;
	*pb = rep.port_b;
	return 0;
}

static void maskd_stop(struct bench *b)
{
	close(b->ctl_fd);
	waitpid(b->relay_pid, NULL, 0);
}

/* --- rtpengine over the ng protocol ---------------------------------- */

/* One ng request and its reply; returns the reply length or -1. */
static ssize_t ng_request(struct bench *b, const char *msg, size_t len,
			  char *reply, size_t size)
{
	struct sockaddr_in ng = sin_make(HOST_RELAY, RTPE_NG_PORT);
	struct pollfd p = { .fd = b->ctl_fd, .events = POLLIN };
	ssize_t n;
	int tries;

	for (tries = 0; tries < 50; tries++) {
		if (sendto(b->ctl_fd, msg, len, 0, (struct sockaddr *)&ng,
			   sizeof(ng)) < 0)
			return -1;
		if (poll(&p, 1, 200) == 1) {
			n = recv(b->ctl_fd, reply, size - 1, 0);
			if (n > 0) {
				reply[n] = '\0';
				return n;
			}
		}
	}
	return -1;
}

/* The m= port in the "sdp" value of an ng reply, or 0. */
static uint16_t ng_reply_port(const char *reply)
{
	const char *p = strstr(reply, "m=audio ");

	if (!p || !strstr(reply, "6:result2:ok"))
		return 0;
	return (uint16_t)strtoul(p + 8, NULL, 10);
}

static int rtpe_sdp(char *buf, size_t size, const char *host, uint16_t port)
{
	return snprintf(buf, size,
			"v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
			"t=0 0\r\nm=audio %u RTP/AVP 0\r\n"
			"a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
			host, host, port);
}

static int rtpe_call(struct bench *b, unsigned i, uint16_t *pa, uint16_t *pb)
{
	struct call *c = &b->calls[i];
	char sdp[512], msg[1024], reply[4096], callid[32];
	int sl, ml;

	snprintf(callid, sizeof(callid), "bench-%u", i);

	/* offer: A's SDP in, the SDP for B out (B sends to its port) */
	(void)c;
	sl = rtpe_sdp(sdp, sizeof(sdp), HOST_A, udp_port(b->fd[0][i % N_SOCKS]));
	ml = snprintf(msg, sizeof(msg),
		      "o%u d7:command5:offer7:call-id%zu:%s8:from-tag1:a"
		      "3:sdp%d:%s7:replacel6:origin18:session-connectione"
		      "3:ICE6:removee", i, strlen(callid), callid, sl, sdp);
	if (ng_request(b, msg, (size_t)ml, reply, sizeof(reply)) < 0)
		return EIO;
	*pb = ng_reply_port(reply);

	/* answer: B's SDP in, the SDP for A out */
	sl = rtpe_sdp(sdp, sizeof(sdp), HOST_B, udp_port(b->fd[1][i % N_SOCKS]));
	ml = snprintf(msg, sizeof(msg),
		      "a%u d7:command6:answer7:call-id%zu:%s8:from-tag1:a"
		      "6:to-tag1:b3:sdp%d:%s7:replacel6:origin"
		      "18:session-connectione3:ICE6:removee", i,
		      strlen(callid), callid, sl, sdp);
	if (ng_request(b, msg, (size_t)ml, reply, sizeof(reply)) < 0)
		return EIO;
	*pa = ng_reply_port(reply);

	return *pa && *pb ? 0 : EPROTO;
}

static int rtpe_start(struct bench *b)
{
	char ng[32], pmin[32], pmax[32], threads[32];
	struct sockaddr_in any = sin_make(HOST_RELAY, 0);
	char reply[256];
	pid_t pid;

	snprintf(ng, sizeof(ng), "--listen-ng=%s:%d", HOST_RELAY,
		 RTPE_NG_PORT);
	snprintf(pmin, sizeof(pmin), "--port-min=%d", RTPE_PORT_MIN);
	snprintf(pmax, sizeof(pmax), "--port-max=%d", RTPE_PORT_MAX);
	snprintf(threads, sizeof(threads), "--num-threads=%u",
		 b->workers ? b->workers : (unsigned)sysconf(
			 _SC_NPROCESSORS_ONLN));

	pid = fork();
	if (pid < 0)
		return errno;
	if (!pid) {
		execlp("rtpengine", "rtpengine", "--config-file=none",
		       "--interface=" HOST_RELAY, ng, pmin, pmax,
		       "--foreground", "--log-stderr", "--log-level=3",
		       "--table=-1", threads, "--timeout=600",
		       "--delete-delay=0", (char *)NULL);
		_exit(127);
	}
	b->relay_pid = pid;

	b->ctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (b->ctl_fd < 0 ||
	    bind(b->ctl_fd, (struct sockaddr *)&any, sizeof(any)))
		return errno;

	/* it is up when it answers a ping */
	if (ng_request(b, "p d7:command4:pinge", 19, reply,
		       sizeof(reply)) < 0 || !strstr(reply, "pong"))
		return ECONNREFUSED;
	return 0;
}

static void rtpe_stop(struct bench *b)
{
	char msg[256], reply[1024], callid[32];
	unsigned i;
	int ml;

	for (i = 0; i < b->n_calls; i++) {
		snprintf(callid, sizeof(callid), "bench-%u", i);
		ml = snprintf(msg, sizeof(msg), "d%u d7:command6:delete"
			      "7:call-id%zu:%s8:from-tag1:ae", i,
			      strlen(callid), callid);
		ng_request(b, msg, (size_t)ml, reply, sizeof(reply));
	}
	close(b->ctl_fd);
	kill(b->relay_pid, SIGTERM);
	waitpid(b->relay_pid, NULL, 0);
}

/* --- the load --------------------------------------------------------- */

static void packet_fill(uint8_t *p, struct party *pt, unsigned call,
			unsigned dir)
{
	struct stamp s = {
		.sent_ns = now_ns(),
		.call = call,
		.dir = dir,
		.magic = MAGIC,
	};

	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(pt->seq >> 8);
	p[3] = (uint8_t)pt->seq;
	p[4] = (uint8_t)(pt->ts >> 24);
	p[5] = (uint8_t)(pt->ts >> 16);
	p[6] = (uint8_t)(pt->ts >> 8);
	p[7] = (uint8_t)pt->ts;
	p[8] = (uint8_t)(call >> 24);
	p[9] = (uint8_t)(call >> 16);
	p[10] = (uint8_t)(call >> 8);
	p[11] = (uint8_t)(dir | 0x10);
	memcpy(p + 12, &s, sizeof(s));
	memset(p + 12 + sizeof(s), 0xff, PKT_LEN - 12 - sizeof(s));
	pt->seq++;
	pt->ts += 160;
}

/*
 * The sender: every party sends once per 20 ms; the streams are spread
 * over the 20 one-millisecond ticks of that period so the load is even,
 * and each tick's packets leave in sendmmsg batches per socket.
 */
static void *sender_main(void *arg)
{
	struct bench *b = arg;
	static uint8_t pkts[SEND_BATCH][PKT_LEN];
	struct mmsghdr msgs[SEND_BATCH];
	struct iovec iov[SEND_BATCH];
	unsigned n = b->n_calls * 2, slots = PTIME_MS * 1000 / TICK_US;
	uint64_t tick = 0, next = mono_ns();
	struct timespec ts;
	unsigned i, side, sock, k;
	int sent;

	for (k = 0; k < SEND_BATCH; k++) {
		iov[k].iov_base = pkts[k];
		iov[k].iov_len = PKT_LEN;
		memset(&msgs[k], 0, sizeof(msgs[k]));
		msgs[k].msg_hdr.msg_iov = &iov[k];
		msgs[k].msg_hdr.msg_iovlen = 1;
		msgs[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
	}
	bench_thread_nice();

	while (atomic_load(&b->sending)) {
		/* stream i: call i / 2, side i % 2, socket (i / 2) % N */
		for (side = 0; side < 2; side++) {
			for (sock = 0; sock < N_SOCKS; sock++) {
				k = 0;
				for (i = (unsigned)(tick % slots); i < n;
				     i += slots) {
					unsigned call = i / 2;
					struct party *pt;

					if (i % 2 != side ||
					    call % N_SOCKS != sock)
						continue;
					pt = &b->calls[call].p[side];
					packet_fill(pkts[k], pt, call, side);
					msgs[k].msg_hdr.msg_name = &pt->to;
					if (++k == SEND_BATCH)
						break;
				}
				if (!k)
					continue;
				sent = sendmmsg(b->fd[side][sock], msgs, k, 0);
				if (sent > 0)
					b->sent[side] += (unsigned)sent;
			}
		}
		tick++;
		next += TICK_US * 1000ull;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return NULL;
}

/* The receiver: epoll over every party socket, recvmmsg to drain. */
static void *receiver_main(void *arg)
{
	struct bench *b = arg;
	enum { BATCH = 32 };
	static __thread uint8_t bufs[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl[BATCH];
	struct epoll_event evs[256];
	unsigned i;
	int ep, k, j, m, q;

	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < 2 * N_SOCKS; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		epoll_ctl(ep, EPOLL_CTL_ADD, b->fd[i / N_SOCKS][i % N_SOCKS],
			  &ev);
	}
	for (j = 0; j < BATCH; j++) {
		iov[j].iov_base = bufs[j];
		iov[j].iov_len = sizeof(bufs[j]);
		memset(&msgs[j], 0, sizeof(msgs[j]));
		msgs[j].msg_hdr.msg_iov = &iov[j];
		msgs[j].msg_hdr.msg_iovlen = 1;
	}
	bench_thread_nice();

	while (atomic_load(&b->receiving)) {
		k = epoll_wait(ep, evs, 256, 10);
		for (j = 0; j < k; j++) {
			unsigned side = evs[j].data.u32 / N_SOCKS;
			unsigned sock = evs[j].data.u32 % N_SOCKS;
			int fd = b->fd[side][sock];
			uint64_t t;

			for (q = 0; q < BATCH; q++) {
				msgs[q].msg_hdr.msg_control = ctl[q].buf;
				msgs[q].msg_hdr.msg_controllen =
					sizeof(ctl[q].buf);
			}
			m = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
			for (q = 0; q < m; q++) {
				struct cmsghdr *cm;
				struct stamp s;
				uint64_t d;

				t = now_ns();
				cm = CMSG_FIRSTHDR(&msgs[q].msg_hdr);
				if (cm && cm->cmsg_level == SOL_SOCKET &&
				    cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec kt;

					memcpy(&kt, CMSG_DATA(cm), sizeof(kt));
					t = (uint64_t)kt.tv_sec * 1000000000ull +
					    (uint64_t)kt.tv_nsec;
				}

				if (msgs[q].msg_len != PKT_LEN) {
					b->misrouted++;
					continue;
				}
				memcpy(&s, bufs[q] + 12, sizeof(s));
				/* on side X's socket: the other side's
				 * stream of one of this socket's calls */
				if (s.magic != MAGIC ||
				    s.call >= b->n_calls ||
				    s.call % N_SOCKS != sock ||
				    s.dir == side) {
					b->misrouted++;
					continue;
				}
				b->received[s.dir]++;
				if (s.sent_ns < b->window_start_ns ||
				    (b->window_end_ns &&
				     s.sent_ns >= b->window_end_ns))
					continue;
				d = t > s.sent_ns ? (t - s.sent_ns) / 1000 : 0;
				b->hist[d < HIST_US ? d : HIST_US]++;
				b->in_window++;
			}
		}
	}
	close(ep);
	return NULL;
}

static double hist_pct(const struct bench *b, double pct)
{
	unsigned i;
	uint64_t want = (uint64_t)((double)b->in_window * pct), acc = 0;

	if (want >= b->in_window)
		want = b->in_window ? b->in_window - 1 : 0;

	for (i = 0; i <= HIST_US; i++) {
		acc += b->hist[i];
		if (acc > want)
			return i;
	}
	return HIST_US;
}

static int bench_run(struct bench *b, const char *target, struct result *res)
{
	pthread_t snd, rcv;
	double cpu0 = 0, cpu1 = 0, rcpu0 = 0, rcpu1 = 0;
	uint16_t pa, pb;
	unsigned i;
	int err = 0;

	memset(res, 0, sizeof(*res));
	res->name = target;
	res->cpu_per_10k = -1;
	memset(b->hist, 0, sizeof(b->hist));
	b->received[0] = b->received[1] = 0;
	b->sent[0] = b->sent[1] = 0;
	b->misrouted = b->in_window = 0;
	b->relay_pid = 0;
	b->window_start_ns = b->window_end_ns = 0;

	for (i = 0; i < N_SOCKS; i++)
		b->fd[0][i] = b->fd[1][i] = -1;
	b->calls = calloc(b->n_calls, sizeof(*b->calls));
	if (!b->calls)
		return ENOMEM;
	for (i = 0; i < N_SOCKS; i++) {
		b->fd[0][i] = udp_open(HOST_A);
		b->fd[1][i] = udp_open(HOST_B);
		if (b->fd[0][i] < 0 || b->fd[1][i] < 0) {
			err = errno;
			fprintf(stderr, "%s: party sockets: %s\n", target,
				strerror(err));
			goto out;
		}
	}

	b->rec = !strcmp(target, "maskd-rec");
	if (!strcmp(target, "maskd") || b->rec)
		err = maskd_start(b);
	else if (!strcmp(target, "rtpengine"))
		err = rtpe_start(b);
	if (err) {
		fprintf(stderr, "%s: cannot start: %s\n", target,
			strerror(err));
		goto out;
	}

	for (i = 0; i < b->n_calls; i++) {
		struct call *c = &b->calls[i];

		if (!strcmp(target, "direct")) {
			/* A sends to B's socket, B to A's */
			c->p[0].to = sin_make(HOST_B,
				udp_port(b->fd[1][i % N_SOCKS]));
			c->p[1].to = sin_make(HOST_A,
				udp_port(b->fd[0][i % N_SOCKS]));
			continue;
		}
		err = strcmp(target, "rtpengine") ? maskd_call(b, i, &pa, &pb) :
		      rtpe_call(b, i, &pa, &pb);
		if (err) {
			fprintf(stderr, "%s: call %u: %s\n", target, i,
				strerror(err));
			goto stop;
		}
		c->p[0].to = sin_make(HOST_RELAY, pa);
		c->p[1].to = sin_make(HOST_RELAY, pb);
	}

	/* 1 s of warm-up (latching, caches), then the measured window */
	b->window_start_ns = UINT64_MAX;
	atomic_store(&b->sending, true);
	atomic_store(&b->receiving, true);
	pthread_create(&rcv, NULL, receiver_main, b);
	pthread_create(&snd, NULL, sender_main, b);
	sleep(1);
	if (b->relay_pid) {
		cpu0 = proc_cpu_s(b->relay_pid);
		rcpu0 = proc_thread_cpu_s(b->relay_pid, "maskd-rec");
	}
	b->window_start_ns = now_ns();
	sleep(b->seconds);
	b->window_end_ns = now_ns();
	if (b->relay_pid) {
		cpu1 = proc_cpu_s(b->relay_pid);
		rcpu1 = proc_thread_cpu_s(b->relay_pid, "maskd-rec");
	}
	atomic_store(&b->sending, false);
	pthread_join(snd, NULL);
	usleep(300 * 1000);		/* let the last packets land */
	atomic_store(&b->receiving, false);
	pthread_join(rcv, NULL);

	res->sent = b->sent[0] + b->sent[1];
	res->lost = res->sent - (b->received[0] + b->received[1]);
	res->loss = res->sent ? (double)res->lost / (double)res->sent : 0;
	res->misrouted = b->misrouted;
	res->pps = (double)b->n_calls * 2 * 1000 / PTIME_MS;
	res->p50_us = hist_pct(b, 0.50);
	res->p99_us = hist_pct(b, 0.99);
	res->p999_us = hist_pct(b, 0.999);
	res->max_us = hist_pct(b, 1.0);
	if (b->relay_pid && cpu0 >= 0 && cpu1 >= 0)
		res->cpu_per_10k = (cpu1 - cpu0) /
			((double)(b->window_end_ns - b->window_start_ns) / 1e9)
			/ (res->pps / 10000);
	res->rec_cpu_per_10k = (rcpu1 - rcpu0) /
		((double)(b->window_end_ns - b->window_start_ns) / 1e9) /
		(res->pps / 10000);
	if (b->relay_pid && b->in_window) {
		res->us_per_pkt = (cpu1 - cpu0) * 1e6 / (double)b->in_window;
		res->rec_us_per_pkt = (rcpu1 - rcpu0) * 1e6 /
				      (double)b->in_window;
	}
 stop:
	if (!strcmp(target, "maskd") || b->rec)
		maskd_stop(b);
	else if (!strcmp(target, "rtpengine"))
		rtpe_stop(b);
 out:
	for (i = 0; i < N_SOCKS; i++) {
		if (b->fd[0][i] >= 0)
			close(b->fd[0][i]);
		if (b->fd[1][i] >= 0)
			close(b->fd[1][i]);
	}
	free(b->calls);
	b->calls = NULL;
	return err;
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct result res[4], *direct = NULL;
	char targets[128] = "direct,maskd,rtpengine", *t, *save = NULL;
	int opt, n = 0, i;

	b.n_calls = 200;
	b.seconds = 10;
	b.workers = 0;
	while ((opt = getopt(argc, argv, "k:s:w:t:")) != -1) {
		switch (opt) {
		case 'k': b.n_calls = (unsigned)atoi(optarg); break;
		case 's': b.seconds = (unsigned)atoi(optarg); break;
		case 'w': b.workers = (unsigned)atoi(optarg); break;
		case 't': snprintf(targets, sizeof(targets), "%s", optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-k calls] [-s seconds] "
				"[-w workers] "
				"[-t direct,maskd,maskd-rec,rtpengine]\n",
				argv[0]);
			return 2;
		}
	}
	if (!b.n_calls || b.n_calls > 5000 || !b.seconds || b.seconds > 300) {
		fprintf(stderr, "calls 1..5000, seconds 1..300\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	for (t = strtok_r(targets, ",", &save); t && n < 4;
	     t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "direct") && strcmp(t, "maskd") &&
		    strcmp(t, "maskd-rec") && strcmp(t, "rtpengine")) {
			fprintf(stderr, "unknown target %s\n", t);
			return 2;
		}
		if (bench_run(&b, t, &res[n]))
			continue;
		if (!strcmp(t, "direct"))
			direct = &res[n];
		n++;
	}

	printf("%u calls x 2 directions x %d packets/s = %.0f packets/s, "
	       "%u s measured\n", b.n_calls, 1000 / PTIME_MS,
	       (double)b.n_calls * 2 * 1000 / PTIME_MS, b.seconds);
	printf("%-10s %10s %8s %9s %9s %9s %9s %12s %9s\n", "target", "sent",
	       "loss%", "p50us", "p99us", "p999us", "maxus", "cpu/10kpps",
	       "cpu us/pkt");
	for (i = 0; i < n; i++) {
		printf("%-10s %10" PRIu64 " %8.4f %9.0f %9.0f %9.0f %9.0f ",
		       res[i].name, res[i].sent, res[i].loss * 100,
		       res[i].p50_us, res[i].p99_us, res[i].p999_us,
		       res[i].max_us);
		if (res[i].cpu_per_10k >= 0)
			printf("%11.1f%%", res[i].cpu_per_10k * 100);
		else
			printf("%12s", "-");
		if (res[i].us_per_pkt > 0)
			printf(" %9.3f", res[i].us_per_pkt);
		else
			printf(" %9s", "-");
		if (res[i].rec_cpu_per_10k > 0)
			printf("  (recorder thread %.1f%%, %.3f us/pkt)",
			       res[i].rec_cpu_per_10k * 100,
			       res[i].rec_us_per_pkt);
		if (res[i].misrouted)
			printf("  misrouted %" PRIu64, res[i].misrouted);
		printf("\n");
	}
	if (direct) {
		printf("added one-way latency over direct (us):\n");
		for (i = 0; i < n; i++) {
			if (&res[i] == direct)
				continue;
			printf("%-10s p50 %+.0f  p99 %+.0f  p999 %+.0f\n",
			       res[i].name, res[i].p50_us - direct->p50_us,
			       res[i].p99_us - direct->p99_us,
			       res[i].p999_us - direct->p999_us);
		}
	}
	return 0;
}
