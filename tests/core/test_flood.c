/*
 * test_flood.c - per-source limiting, blocking, eviction, token buckets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/flood.h"

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return sa;
}

/* One source over its limit is blocked for block_ms; another is not. */
static void test_limit_and_block(void **state)
{
	struct flood_params p = { .limit = 10, .window_ms = 1000,
				  .block_ms = 5000, .slots = 128 };
	struct sockaddr_in bad = v4("127.0.0.2", 5060);
	struct sockaddr_in good = v4("127.0.0.3", 5060);
	struct flood_stats st;
	struct flood *f;
	int i;

	(void)state;
	assert_int_equal(flood_alloc(&f, &p), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(flood_check_addr(f, (void *)&bad, 100 + i),
				 FLOOD_PASS);
	assert_int_equal(flood_check_addr(f, (void *)&bad, 120), FLOOD_BLOCK);
	/* the other source is untouched */
	for (i = 0; i < 10; i++)
		assert_int_equal(flood_check_addr(f, (void *)&good, 130 + i),
				 FLOOD_PASS);
	/* a new port does not help the offender */
	bad.sin_port = htons(40000);
	assert_int_equal(flood_check_addr(f, (void *)&bad, 2000),
			 FLOOD_BLOCK);
	/* blocked until 120 + 5000, quiet or not */
	assert_int_equal(flood_check_addr(f, (void *)&bad, 5119),
			 FLOOD_BLOCK);
	assert_int_equal(flood_check_addr(f, (void *)&bad, 5120), FLOOD_PASS);
	flood_stats_get(f, &st);
	assert_int_equal(st.offenders, 1);
	assert_int_equal(st.blocked, 3);
	flood_free(f);
}

/* A new window starts the count again. */
static void test_window(void **state)
{
	struct flood_params p = { .limit = 3, .window_ms = 1000,
				  .block_ms = 1000, .slots = 64 };
	struct flood *f;
	int w, i;

	(void)state;
	assert_int_equal(flood_alloc(&f, &p), 0);
	for (w = 0; w < 5; w++)
		for (i = 0; i < 3; i++)
			assert_int_equal(flood_check(f, "k", 1,
						     w * 1000 + i * 10),
					 FLOOD_PASS);
	flood_free(f);
}

/* Many distinct sources in a small table: quiet entries are reused, a
 * blocked one keeps its block. */
static void test_eviction_keeps_blocks(void **state)
{
	struct flood_params p = { .limit = 2, .window_ms = 10000,
				  .block_ms = 60000, .slots = 64 };
	struct flood_stats st;
	struct flood *f;
	char key[16];
	int i;

	(void)state;
	assert_int_equal(flood_alloc(&f, &p), 0);
	for (i = 0; i < 3; i++)
		flood_check(f, "offender", 8, 1);
	assert_int_equal(flood_check(f, "offender", 8, 2), FLOOD_BLOCK);
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "src%d", i);
		flood_check(f, key, strlen(key), 10 + i);
	}
	assert_int_equal(flood_check(f, "offender", 8, 6000), FLOOD_BLOCK);
	flood_stats_get(f, &st);
	assert_true(st.evicted > 0);
	flood_free(f);
}

static void test_no_limit(void **state)
{
	struct flood_params p = { .limit = 0, .window_ms = 1000 };
	struct flood *f;
	int i;

	(void)state;
	assert_int_equal(flood_alloc(&f, &p), 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(flood_check(f, "k", 1, i), FLOOD_PASS);
	flood_free(f);
	p.window_ms = 0;
	assert_int_equal(flood_alloc(&f, &p), EINVAL);
}

static void test_tbucket(void **state)
{
	struct tbucket b;
	uint32_t retry = 0;
	int i, ok = 0;

	(void)state;
	tbucket_init(&b, 10, 5, 0);	/* 10/s, burst 5 */
	for (i = 0; i < 5; i++)
		assert_true(tbucket_take(&b, 0, &retry));
	assert_false(tbucket_take(&b, 0, &retry));
	assert_int_equal(retry, 1);
	assert_true(tbucket_take(&b, 100, NULL));	/* one per 100 ms */
	assert_false(tbucket_take(&b, 150, NULL));
	/* over 10 s at most burst + 100 pass */
	for (i = 0; i < 10000; i++)
		ok += tbucket_take(&b, 200 + i, NULL);
	assert_true(ok >= 99 && ok <= 101);

	tbucket_init(&b, 0, 0, 0);	/* no cap */
	for (i = 0; i < 1000; i++)
		assert_true(tbucket_take(&b, 0, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_block),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_eviction_keeps_blocks),
		cmocka_unit_test(test_no_limit),
		cmocka_unit_test(test_tbucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
