/*
 * test_relay_pool.c - the relay's sockets belong to its pool, not to its
 * calls (src/media/relay_pool.c): a pair's sockets are opened the first
 * time a call takes it (or all at start with rtp.preopen) and stay open
 * across calls until relay_stop(); what reaches an idle one is dropped
 * and counted; a port another program holds is skipped and tried again.
 *
 * Real UDP sockets on loopback; the process's open descriptors are
 * counted in /proc/self/fd.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "maskd/clock.h"
#include "maskd/config.h"
#include "maskd/relay.h"
#include "relay_range.h"

#define RELAY_HOST "127.0.0.1"
#define HOST_A "127.0.0.2"
#define WAIT_MS 2000
#define PORT(n) ((uint16_t)(port_base + (n)))

static uint16_t port_base;

static int fds_open(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the directory's own */
}

static int sock_open(const char *host, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd;

	assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void cfg_make(struct config *cfg, uint16_t port_min,
		     uint16_t port_max, bool preopen)
{
	config_defaults(cfg);
	cfg->rtp.port_min = port_min;
	cfg->rtp.port_max = port_max;
	snprintf(cfg->rtp.advertise, sizeof(cfg->rtp.advertise), RELAY_HOST);
	cfg->rtp.workers = 1;
	cfg->rtp.timeout_s = 0;
	cfg->rtp.hold_timeout_s = 0;
	cfg->rtp.preopen = preopen;
}

static uint64_t drops_now(struct relay *r)
{
	struct relay_stats st;

	relay_stats_get(r, &st);
	return st.drops;
}

/*
 * Four pairs, one worker: the first call opens its two pairs, which stay
 * open when it ends; the second call opens the other two (FIFO); the
 * third reuses the first two and opens nothing. A packet sent to a port
 * between calls is dropped and counted. relay_stop() closes them all.
 */
static void test_sockets_kept(void **state)
{
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint16_t pa;
	int f0, f1, a;
	int64_t deadline;
	struct timespec nap = { 0, 10 * 1000000 };

	(void)state;
	cfg_make(&cfg, PORT(0), PORT(7), false);
	f0 = fds_open();
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	f1 = fds_open();

	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	assert_int_equal(fds_open(), f1 + 4);
	pa = relay_call_port(c, RELAY_LEG_A);
	relay_call_free(c, NULL);
	relay_sync(r);
	assert_int_equal(fds_open(), f1 + 4);

	/* between calls: dropped, counted, nothing left queued */
	a = sock_open(HOST_A, 0);
	assert_true(a >= 0);
	{
		struct sockaddr_in to = { .sin_family = AF_INET,
					  .sin_port = htons(pa) };
		uint64_t before = drops_now(r);

		inet_pton(AF_INET, RELAY_HOST, &to.sin_addr);
		assert_int_equal(sendto(a, "stale", 5, 0,
					(struct sockaddr *)&to, sizeof(to)), 5);
		deadline = WAIT_MS / 10;
		while (drops_now(r) == before && deadline--)
			nanosleep(&nap, NULL);
		assert_int_equal(drops_now(r), before + 1);
	}
	close(a);

	assert_int_equal(relay_call_alloc(r, 2, &c), 0);
	assert_int_not_equal(relay_call_port(c, RELAY_LEG_A), pa);
	assert_int_equal(fds_open(), f1 + 8);
	relay_call_free(c, NULL);
	relay_sync(r);

	assert_int_equal(relay_call_alloc(r, 3, &c), 0);
	assert_int_equal(relay_call_port(c, RELAY_LEG_A), pa);
	assert_int_equal(fds_open(), f1 + 8);
	relay_call_free(c, NULL);

	relay_stop(r);
	assert_int_equal(fds_open(), f0);
}

/*
 * rtp.preopen: every pair is open after relay_start() but the one whose
 * RTCP port another program holds (neither of its ports is kept), which
 * is counted as a bind failure at once; a call skips it while it is
 * held and gets it once it is free, opening only that pair.
 */
static void test_preopen(void **state)
{
	struct relay_call *c[2];
	struct relay_stats st;
	struct relay *r;
	struct config cfg;
	int64_t t0;
	bool soon;
	int f0, f1, squat;

	(void)state;
	/* four pairs; PORT(101) is the first pair's RTCP */
	squat = sock_open(RELAY_HOST, PORT(101));
	assert_true(squat >= 0);
	cfg_make(&cfg, PORT(100), PORT(107), true);
	f0 = fds_open();
	t0 = clock_mono_coarse_ms();
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	f1 = fds_open();
	relay_stats_get(r, &st);
	assert_int_equal(st.bind_failures, 1);
	assert_int_equal(st.ports_free, 8);

	/* one call fits in the three open pairs (it skips the held one,
	 * without trying it again within RELAY_BIND_RETRY_MS of its
	 * failure) */
	assert_int_equal(relay_call_alloc(r, 1, &c[0]), 0);
	soon = clock_mono_coarse_ms() - t0 < RELAY_BIND_RETRY_MS;
	assert_int_not_equal(relay_call_port(c[0], RELAY_LEG_A), PORT(100));
	assert_int_not_equal(relay_call_port(c[0], RELAY_LEG_B), PORT(100));
	assert_int_equal(fds_open(), f1);
	relay_stats_get(r, &st);
	if (soon)
		assert_int_equal(st.bind_failures, 1);
	else	/* a stalled machine: the delay was over, it was tried */
		assert_in_range(st.bind_failures, 1, 2);
	assert_int_equal(relay_call_alloc(r, 2, &c[1]), ENOSPC);

	/* the squatter leaves: its pair opens for the next call once its
	 * retry delay is over */
	close(squat);
	usleep((RELAY_BIND_RETRY_MS + 100) * 1000);
	assert_int_equal(relay_call_alloc(r, 2, &c[1]), 0);
	assert_int_equal(fds_open(), f1 + 2 - 1);
	relay_call_free(c[0], NULL);
	relay_call_free(c[1], NULL);
	relay_stop(r);
	assert_int_equal(fds_open(), f0 - 1);
}

/*
 * Out of descriptors (the open file limit below what the range needs) a
 * call is refused with ENOSPC - the SIP side's 503 - not an errno it
 * would answer 500 to; pairs already open still serve.
 */
static void test_fd_limit(void **state)
{
	struct relay_call *c, *c2;
	struct relay_stats st;
	struct rlimit old, low;
	struct relay *r;
	struct config cfg;

	(void)state;
	cfg_make(&cfg, PORT(300), PORT(315), false);
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	/* one call's pairs opened and kept */
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	relay_call_free(c, NULL);
	relay_sync(r);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)fds_open();	/* not one more */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* the two open pairs come round again only after the six others:
	 * each of those fails to open, and the open ones serve */
	assert_int_equal(relay_call_alloc(r, 2, &c), 0);
	assert_int_equal(relay_call_alloc(r, 3, &c2), ENOSPC);
	relay_stats_get(r, &st);
	assert_int_equal(st.calls_refused, 1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

	assert_int_equal(relay_call_alloc(r, 3, &c2), 0);
	relay_call_free(c, NULL);
	relay_call_free(c2, NULL);
	relay_stop(r);
}

/* A party's socket's port. */
static uint16_t sock_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static void set_remote(struct relay_call *c, enum relay_leg leg,
		       const char *host, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };

	inet_pton(AF_INET, host, &a.sin_addr);
	assert_int_equal(relay_call_set_remote(c, leg, (struct sockaddr *)&a,
					       NULL, 0), 0);
}

/*
 * A free is left for the worker without a wake-up (it is taken with the
 * next note or at the worker's sweep, every second here). A new call's
 * notes queued behind it must still wake the worker at once: media of
 * the new call flows well before the sweep. Three rounds, so a worker
 * that waits for its sweep cannot pass by luck of the sweep's phase.
 */
static void test_note_behind_free(void **state)
{
	struct relay_call *old, *c;
	struct relay *r;
	struct config cfg;
	struct timeval tv = { 0, 400 * 1000 };
	char pkt[12] = { (char)0x80, 0 }, got[64];
	struct sockaddr_in to = { .sin_family = AF_INET };
	int a, b, round;

	(void)state;
	cfg_make(&cfg, PORT(200), PORT(215), false);
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	a = sock_open(HOST_A, 0);
	b = sock_open("127.0.0.3", 0);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)), 0);
	inet_pton(AF_INET, RELAY_HOST, &to.sin_addr);

	assert_int_equal(relay_call_alloc(r, 1, &old), 0);
	relay_sync(r);
	for (round = 0; round < 3; round++) {
		relay_call_free(old, NULL);	/* waits, unwoken */
		assert_int_equal(relay_call_alloc(r, 2 + round, &c), 0);
		set_remote(c, RELAY_LEG_A, HOST_A, sock_port(a));
		set_remote(c, RELAY_LEG_B, "127.0.0.3", sock_port(b));
		to.sin_port = htons(relay_call_port(c, RELAY_LEG_A));
		/* the first packet may reach the socket before the worker
		 * has the call; a few, 20 ms apart, as a party sends */
		{
			struct timespec gap = { 0, 20 * 1000000 };
			int i;

			for (i = 0; i < 5; i++) {
				assert_int_equal(sendto(a, pkt, sizeof(pkt), 0,
					(struct sockaddr *)&to, sizeof(to)),
					(ssize_t)sizeof(pkt));
				nanosleep(&gap, NULL);
			}
		}
		assert_int_equal(recv(b, got, sizeof(got), 0),
				 (ssize_t)sizeof(pkt));
		while (recv(b, got, sizeof(got), MSG_DONTWAIT) > 0)
			;
		old = c;
	}
	relay_call_free(old, NULL);
	close(a);
	close(b);
	relay_stop(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockets_kept),
		cmocka_unit_test(test_preopen),
		cmocka_unit_test(test_note_behind_free),
		cmocka_unit_test(test_fd_limit),
	};

	port_base = range_claim();
	if (!port_base) {
		fprintf(stderr, "no free block of test relay ports\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
