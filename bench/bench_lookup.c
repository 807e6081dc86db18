/*
 * bench_lookup.c - (party, VN) lookups per second on one core, with
 * latency percentiles, against a store holding many sessions.
 *
 *   bench_lookup [-n SESSIONS] [-l LOOKUPS] [-d DIR]
 *
 * Fills DIR (a fresh temp dir by default, removed afterwards) with
 * SESSIONS active sessions over a pool of 1000 numbers, in batches of
 * 10,000 per commit, then runs LOOKUPS random lookups twice on one
 * thread: once untimed per call (throughput), once with a clock read
 * around each call (latency p50/p99/p99.9). Each lookup is what the SIP
 * thread will do per INVITE: renew the reader, read the pair index and
 * the session, reset.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maskd/store.h"

#define POOL_SIZE 1000
#define FILL_BATCH 10000
#define NOW_MS 1800000000000LL

struct query {
	char party[E164_SIZE];
	char vn[E164_SIZE];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Party i's number; parties 2k and 2k+1 share session k. */
static void party(size_t i, char out[E164_SIZE])
{
	snprintf(out, E164_SIZE, "+1%010u", (unsigned)(2000000000 + i % 100000000));
}

static int fill(struct store *st, size_t n, char (*vns)[E164_SIZE])
{
	struct store_txn *tx;
	char vn[E164_SIZE], a[E164_SIZE], b[E164_SIZE];
	double t0 = now_s();
	size_t i;
	int rc;

	rc = store_write_begin(st, NULL, &tx);
	for (i = 0; !rc && i < POOL_SIZE; i++) {
		snprintf(vn, sizeof(vn), "+1555%07zu", i);
		rc = store_pool_add(tx, vn, "US", NOW_MS);
	}
	if (!rc)
		rc = store_write_commit(tx);
	for (i = 0; !rc && i < n; i++) {
		struct session_params p = { .ttl_ms = 86400000 };
		struct session s;

		if (i % FILL_BATCH == 0 &&
		    (rc = store_write_begin(st, NULL, &tx)))
			break;
		party(2 * i, a);
		party(2 * i + 1, b);
		p.party_a = a;
		p.party_b = b;
		rc = store_session_create(tx, &p, NOW_MS, &s);
		if (rc) {
			store_write_abort(tx);
			break;
		}
		memcpy(vns[i], s.vn, E164_SIZE);
		session_clear(&s);
		if (i % FILL_BATCH == FILL_BATCH - 1 || i == n - 1)
			rc = store_write_commit(tx);
	}
	if (!rc)
		fprintf(stderr, "filled %zu sessions in %.1f s\n", n,
			now_s() - t0);
	return rc;
}

int main(int argc, char **argv)
{
	size_t n = 1000000, lookups = 3000000, i;
	const char *dir = NULL;
	char tmpl[] = "/tmp/maskd-bench-XXXXXX";
	char (*vns)[E164_SIZE] = NULL;
	struct query *q = NULL;
	uint32_t *lat = NULL;
	struct store *st = NULL;
	struct store_reader *r = NULL;
	uint64_t seed = 88172645463325252ULL;
	double t, secs;
	size_t misses = 0;
	int opt, rc;

	while ((opt = getopt(argc, argv, "n:l:d:")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			lookups = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-n SESSIONS] [-l LOOKUPS] "
				"[-d DIR]\n", argv[0]);
			return 2;
		}
	}
	if (n == 0 || lookups == 0)
		return 2;
	if (!dir && !(dir = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 1;
	}
	vns = calloc(n, E164_SIZE);
	q = malloc(lookups * sizeof(*q));
	lat = malloc(lookups * sizeof(*lat));
	if (!vns || !q || !lat)
		return 1;

	rc = store_open(&st, dir, 16ULL << 30, NULL);
	if (!rc)
		rc = fill(st, n, vns);
	if (!rc)
		rc = store_reader_open(st, &r);
	if (rc) {
		fprintf(stderr, "store: %s\n", strerror(rc));
		return 1;
	}

	/*
	 * Random pairs, written out in lookup order before the clock starts:
	 * the SIP thread looks up numbers it has just parsed (hot in cache),
	 * so the bench must not charge the store for its own array misses.
	 */
	for (i = 0; i < lookups; i++) {
		size_t p = xorshift(&seed) % (2 * n);

		party(p, q[i].party);
		memcpy(q[i].vn, vns[p / 2], E164_SIZE);
	}

	/* warm the page cache the way a running daemon would be */
	for (i = 0; i < lookups; i++) {
		struct session s;

		store_lookup(r, q[i].party, q[i].vn, NOW_MS + 1, &s);
	}

	t = now_s();
	for (i = 0; i < lookups; i++) {
		struct session s;

		if (store_lookup(r, q[i].party, q[i].vn, NOW_MS + 1, &s))
			misses++;
	}
	secs = now_s() - t;

	for (i = 0; i < lookups; i++) {
		struct session s;
		uint64_t t0;

		t0 = now_ns();
		if (store_lookup(r, q[i].party, q[i].vn, NOW_MS + 1, &s))
			misses++;
		lat[i] = (uint32_t)(now_ns() - t0);
	}
	qsort(lat, lookups, sizeof(*lat), cmp_u32);

	printf("sessions %zu  lookups %zu  misses %zu\n", n, lookups, misses);
	printf("lookups/s %.0f (one thread)\n", lookups / secs);
	printf("latency ns p50 %u  p99 %u  p99.9 %u  max %u "
	       "(includes ~2 clock reads)\n", lat[lookups / 2],
	       lat[lookups * 99 / 100], lat[lookups * 999 / 1000],
	       lat[lookups - 1]);

	store_reader_close(r);
	store_close(st);
	if (dir == tmpl) {
		char path[sizeof(tmpl) + 16];

		snprintf(path, sizeof(path), "%s/data.mdb", tmpl);
		unlink(path);
		snprintf(path, sizeof(path), "%s/lock.mdb", tmpl);
		unlink(path);
		rmdir(tmpl);
	}
	free(vns);
	free(q);
	free(lat);
	return misses ? 1 : 0;
}
