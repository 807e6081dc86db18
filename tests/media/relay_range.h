/*
 * relay_range.h - a block of relay ports for one test process, shared by
 * the relay's unit tests (test_relay.c, test_relay_pool.c): claimed with
 * abstract sockets named as tests/sip/test_media.py names its claims, so
 * no two tests running at once bind the same ports. Header-only; tests
 * only.
 */
#ifndef MASKD_TEST_RELAY_RANGE_H
#define MASKD_TEST_RELAY_RANGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RANGE_FIRST 20000	/* 20000..29999: the test relay ranges */
#define RANGE_SLOT 200		/* a claim's unit, as tests/sip/test_media.py */
#define RANGE_SLOTS 50
#define BLOCK_SLOTS 5		/* 1,000 ports */

/*
 * range_claim() - claim BLOCK_SLOTS slots of RANGE_SLOT ports in a row
 * for this process: one abstract socket per slot, named as test_media.py
 * names its claims, held until the process exits. Returns the block's
 * first port, or 0 when every block is held.
 */
static inline uint16_t range_claim(void)
{
	int start = (int)((unsigned)getpid() % (RANGE_SLOTS / BLOCK_SLOTS));
	int n, k, got, fd[BLOCK_SLOTS];

	for (n = 0; n < RANGE_SLOTS / BLOCK_SLOTS; n++) {
		int block = (start + n) % (RANGE_SLOTS / BLOCK_SLOTS);

		for (got = 0; got < BLOCK_SLOTS; got++) {
			struct sockaddr_un a = { .sun_family = AF_UNIX };
			int len;

			len = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1,
				       "maskd-test-rtp-range-%d",
				       block * BLOCK_SLOTS + got);
			fd[got] = socket(AF_UNIX, SOCK_DGRAM, 0);
			if (fd[got] < 0)
				break;
			if (bind(fd[got], (struct sockaddr *)&a,
				 (socklen_t)(offsetof(struct sockaddr_un,
						      sun_path) + 1 + len))) {
				close(fd[got]);
				break;
			}
		}
		if (got == BLOCK_SLOTS)
			return (uint16_t)(RANGE_FIRST +
					  block * BLOCK_SLOTS * RANGE_SLOT);
		for (k = 0; k < got; k++)
			close(fd[k]);
	}
	return 0;
}

#endif
