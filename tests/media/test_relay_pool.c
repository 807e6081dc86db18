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
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

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
	int f0, f1, squat;

	(void)state;
	/* four pairs; PORT(101) is the first pair's RTCP */
	squat = sock_open(RELAY_HOST, PORT(101));
	assert_true(squat >= 0);
	cfg_make(&cfg, PORT(100), PORT(107), true);
	f0 = fds_open();
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	f1 = fds_open();
	relay_stats_get(r, &st);
	assert_int_equal(st.bind_failures, 1);
	assert_int_equal(st.ports_free, 8);

	/* one call fits in the three open pairs (it skips the held one) */
	assert_int_equal(relay_call_alloc(r, 1, &c[0]), 0);
	assert_int_not_equal(relay_call_port(c[0], RELAY_LEG_A), PORT(100));
	assert_int_not_equal(relay_call_port(c[0], RELAY_LEG_B), PORT(100));
	assert_int_equal(fds_open(), f1);
	relay_stats_get(r, &st);
	assert_int_equal(st.bind_failures, 2);
	assert_int_equal(relay_call_alloc(r, 2, &c[1]), ENOSPC);

	/* the squatter leaves: its pair opens for the next call */
	close(squat);
	assert_int_equal(relay_call_alloc(r, 2, &c[1]), 0);
	assert_int_equal(fds_open(), f1 + 2 - 1);
	relay_call_free(c[0], NULL);
	relay_call_free(c[1], NULL);
	relay_stop(r);
	assert_int_equal(fds_open(), f0 - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockets_kept),
		cmocka_unit_test(test_preopen),
	};

	port_base = range_claim();
	if (!port_base) {
		fprintf(stderr, "no free block of test relay ports\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
