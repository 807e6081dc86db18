/*
 * cluster_tool.c - drives src/cluster/ from the tests and the bench: the
 * real module on a real libevent loop against a real PostgreSQL.
 *
 *   cluster_tool migrate DSN
 *   cluster_tool pool DSN COUNT [FIRST]           add COUNT pool numbers
 *   cluster_tool create DSN N CONC PARTIES CONNS ALLOC [SEED [CLOSE%]]
 *        N operations, CONC in flight: creates with parties drawn from
 *        PARTIES numbers, and (CLOSE% of them, default 0) closes of a
 *        session created before; ALLOC lock|serializable; prints one
 *        JSON line of counts, and when the creates started and ended
 *        (ms since the epoch). $CLUSTER_TOOL_WARMUP: that many
 *        operations first, not counted; $CLUSTER_TOOL_READY set: then
 *        print "ready" and wait for a line on stdin before the first
 *        counted one (the bench starts its nodes together);
 *        $CLUSTER_TOOL_SECS: start none after that many seconds (N is
 *        then a bound), so the sweeps run meanwhile
 *   cluster_tool feed DSN LMDB_DIR EXPECT TIMEOUT_S
 *        replay changes into the LMDB store until EXPECT sessions are
 *        applied (or TIMEOUT_S); prints a JSON line with the count and
 *        the propagation delays (created_at to applied) p50/p99 in ms
 *        (after EXPECT it goes on 1.5 s, so the cursor it keeps passes
 *        what it applied: a poll runs every CLUSTER_FEED_POLL_MS)
 *   cluster_tool lookup LMDB_DIR CALLER VN
 *        store_lookup() in that store: prints the session id, "ENOENT"
 *        or "ESTALE"
 *   cluster_tool export DSN LMDB_DIR COUNT TIMEOUT_S
 *        write COUNT call records into the LMDB store with the export
 *        queue on (the writer batches them as the CDR sink does), then
 *        copy them into PostgreSQL (cluster_export_start()) until the
 *        queue is empty: prints a JSON line with the records copied,
 *        the seconds from the first write to an empty queue, and those
 *        after the last was written
 *   cluster_tool watch DSN SECONDS
 *        prints "up"/"down" as the connection comes and goes, and
 *        "query ok" after each successful probe (every 200 ms)
 *
 * Exit status 0 on success, 1 on a failure, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "maskd/clock.h"
#include "maskd/cluster.h"
#include "maskd/store_mirror.h"
#include "maskd/writer.h"

static struct event_base *g_base;
static struct cluster *g_c;
static struct log g_log;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the loop for @s seconds. */
static void run_for(double s)
{
	struct timeval tv = { (time_t)s, (suseconds_t)((s - (time_t)s) * 1e6) };

	event_base_loopexit(g_base, &tv);
	event_base_dispatch(g_base);
}

static bool wait_ready(double timeout_s)
{
	double end = mono_s() + timeout_s;

	while (!cluster_ready(g_c) && !cluster_schema_error(g_c) &&
	       mono_s() < end)
		event_base_loop(g_base, EVLOOP_ONCE);
	return cluster_ready(g_c);
}

static int open_cluster(const char *dsn, unsigned conns,
			enum cluster_alloc alloc)
{
	if (cluster_open(&g_c, g_base, dsn, conns, alloc, &g_log))
		return 1;
	if (!wait_ready(30)) {
		fprintf(stderr, "cluster_tool: not ready (schema error %d)\n",
			cluster_schema_error(g_c));
		return 1;
	}
	return 0;
}

/* ---- pool ---- */

static unsigned g_pending;
static unsigned g_failed;

static void pool_done(int err, void *arg)
{
	if (err && err != EEXIST)
		g_failed++;
	g_pending--;
}

static int cmd_pool(const char *dsn, unsigned count, uint64_t first)
{
	unsigned i;

	if (open_cluster(dsn, 2, CLUSTER_ALLOC_LOCK))
		return 1;
	for (i = 0; i < count; i++) {
		char vn[E164_SIZE];

		snprintf(vn, sizeof(vn), "+%" PRIu64, first + i);
		if (cluster_pool_add(g_c, vn, "US", now_ms(), pool_done, NULL))
			return 1;
		g_pending++;
	}
	while (g_pending)
		run_for(0.02);
	printf("{\"added\": %u, \"failed\": %u}\n", count, g_failed);
	return g_failed ? 1 : 0;
}

/* ---- create ---- */

static struct {
	unsigned n, conc, parties, started, finished, close_pct;
	unsigned ok, enospc, eexist, busy, unavailable, other, closed;
	uint64_t seed;
	uint8_t (*ids)[STORE_ID_LEN];	/* created, not yet closed */
	unsigned n_ids;
	double until;			/* mono_s(); 0: none */
} g_cr;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed */
	g_cr.seed ^= g_cr.seed >> 12;
	g_cr.seed ^= g_cr.seed << 25;
	g_cr.seed ^= g_cr.seed >> 27;
	return g_cr.seed * 2685821657736338717ULL;
}

static void create_start(void);

static void close_done(int err, const struct session *s, void *arg)
{
	if (!err)
		g_cr.closed++;
	else if (err == EBUSY)
		g_cr.busy++;
	else if (err == ENOTCONN || err == ECONNRESET)
		g_cr.unavailable++;
	else
		g_cr.other++;
	g_cr.finished++;
	create_start();
}

static void create_done(int err, const struct session *s, void *arg)
{
	switch (err) {
	case 0:
		g_cr.ok++;
		memcpy(g_cr.ids[g_cr.n_ids++], s->id, STORE_ID_LEN);
		break;
	case ENOSPC: g_cr.enospc++; break;
	case EEXIST: g_cr.eexist++; break;
	case EBUSY: g_cr.busy++; break;
	case ENOTCONN: case ECONNRESET: g_cr.unavailable++; break;
	default:
		g_cr.other++;
		fprintf(stderr, "create: %s\n", strerror(err));
	}
	g_cr.finished++;
	create_start();
}

static void create_start(void)
{
	if (g_cr.until && mono_s() >= g_cr.until)
		g_cr.n = g_cr.started;	/* time's up: the loop below ends */
	while (g_cr.started < g_cr.n &&
	       g_cr.started - g_cr.finished < g_cr.conc) {
		char a[E164_SIZE], b[E164_SIZE];
		unsigned ia = rnd() % g_cr.parties, ib;
		struct session_params p = { .party_a = a, .party_b = b,
					    .ttl_ms = 3600 * 1000 };
		int rc;

		if (g_cr.n_ids && rnd() % 100 < g_cr.close_pct) {
			unsigned k = (unsigned)(rnd() % g_cr.n_ids);
			uint8_t id[STORE_ID_LEN];

			memcpy(id, g_cr.ids[k], STORE_ID_LEN);
			memcpy(g_cr.ids[k], g_cr.ids[--g_cr.n_ids],
			       STORE_ID_LEN);
			g_cr.started++;
			if (cluster_session_close(g_c, id, now_ms(),
						  close_done, NULL)) {
				g_cr.finished++;
				g_cr.unavailable++;
			}
			continue;
		}
		do {
			ib = rnd() % g_cr.parties;
		} while (ib == ia);
		snprintf(a, sizeof(a), "+1415%07u", ia % 10000000);
		snprintf(b, sizeof(b), "+1415%07u", ib % 10000000);
		g_cr.started++;
		rc = cluster_session_create(g_c, &p, now_ms(), create_done,
					    NULL);
		if (rc) {
			g_cr.finished++;
			g_cr.unavailable += rc == ENOTCONN;
			g_cr.other += rc != ENOTCONN;
		}
	}
}

static int cmd_create(const char *dsn, char **argv)
{
	struct cluster_stats st;
	const char *start, *warm, *secs;
	unsigned n_warm;
	int64_t start_ms;
	double t0, dt;

	g_cr.n = (unsigned)strtoul(argv[0], NULL, 10);
	g_cr.conc = (unsigned)strtoul(argv[1], NULL, 10);
	g_cr.parties = (unsigned)strtoul(argv[2], NULL, 10);
	g_cr.seed = argv[5] ? strtoull(argv[5], NULL, 10) : 1;
	g_cr.close_pct = argv[5] && argv[6] ?
			 (unsigned)strtoul(argv[6], NULL, 10) : 0;
	warm = getenv("CLUSTER_TOOL_WARMUP");
	n_warm = warm ? (unsigned)strtoul(warm, NULL, 10) : 0;
	g_cr.ids = calloc(g_cr.n + n_warm ? g_cr.n + n_warm : 1,
			  sizeof(*g_cr.ids));
	if (!g_cr.ids)
		return 1;
	if (!g_cr.seed)
		g_cr.seed = 1;
	if (g_cr.parties < 2 || !g_cr.conc)
		return 2;
	if (open_cluster(dsn, (unsigned)strtoul(argv[3], NULL, 10),
			 !strcmp(argv[4], "serializable") ?
			 CLUSTER_ALLOC_SERIALIZABLE : CLUSTER_ALLOC_LOCK))
		return 1;
	/* the bench's warm-up: its connections' backends compile the
	 * functions and settle their plans before the figure */
	if (n_warm) {
		unsigned n = g_cr.n;

		g_cr.n = n_warm;
		create_start();
		while (g_cr.finished < g_cr.n)
			run_for(0.02);
		if (g_cr.other)
			return 1;
		g_cr.n = n;
		g_cr.started = g_cr.finished = g_cr.ok = g_cr.enospc = 0;
		g_cr.eexist = g_cr.busy = g_cr.unavailable = g_cr.closed = 0;
	}
	/* the bench starts every node at once, once they are all up and
	 * warm, so its figure is creates and not process start-up: "ready",
	 * then a line on stdin */
	start = getenv("CLUSTER_TOOL_READY");
	if (start && *start) {
		char line[16];

		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	start_ms = now_ms();
	t0 = mono_s();
	secs = getenv("CLUSTER_TOOL_SECS");
	if (secs)
		g_cr.until = t0 + strtod(secs, NULL);
	create_start();
	while (g_cr.finished < g_cr.n)
		run_for(0.02);
	dt = mono_s() - t0;
	cluster_stats(g_c, &st);
	printf("{\"ok\": %u, \"closed\": %u, \"enospc\": %u, \"eexist\": %u, \"busy\": %u, "
	       "\"unavailable\": %u, \"other\": %u, \"retries\": %" PRIu64
	       ", \"seconds\": %.3f, \"per_s\": %.1f, \"start_ms\": %" PRId64
	       ", \"end_ms\": %" PRId64 "}\n", g_cr.ok, g_cr.closed,
	       g_cr.enospc, g_cr.eexist, g_cr.busy, g_cr.unavailable,
	       g_cr.other, st.retries, dt, g_cr.n / dt, start_ms, now_ms());
	return g_cr.other ? 1 : 0;
}

/* ---- feed ---- */

static int64_t *g_lat;
static unsigned g_applied, g_expect;

static void applied(const struct session *s, void *arg)
{
	if (g_applied < g_expect)
		g_lat[g_applied] = now_ms() - s->created_at_ms;
	g_applied++;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmd_feed(const char *dsn, const char *dir, unsigned expect,
		    double timeout_s)
{
	struct store *st = NULL;
	struct writer *w = NULL;
	double end = mono_s() + timeout_s;
	unsigned n;
	int rc = 1;

	g_expect = expect;
	g_lat = calloc(expect ? expect : 1, sizeof(*g_lat));
	if (!g_lat || store_open(&st, dir, 1ULL << 30, &g_log) ||
	    writer_alloc(&w, g_base, st, &g_log))
		goto out;
	if (open_cluster(dsn, 1, CLUSTER_ALLOC_LOCK))
		goto out;
	if (cluster_feed_start(g_c, st, w, applied, NULL))
		goto out;
	printf("feeding\n");
	fflush(stdout);
	while (g_applied < expect && mono_s() < end)
		run_for(0.01);
	if (g_applied >= expect)
		run_for(1.5);
	n = g_applied < expect ? g_applied : expect;
	qsort(g_lat, n, sizeof(*g_lat), cmp_i64);
	printf("{\"applied\": %u, \"p50_ms\": %" PRId64 ", \"p99_ms\": %"
	       PRId64 ", \"max_ms\": %" PRId64 "}\n", g_applied,
	       n ? g_lat[n / 2] : -1, n ? g_lat[(n * 99) / 100] : -1,
	       n ? g_lat[n - 1] : -1);
	rc = g_applied >= expect ? 0 : 1;
 out:
	cluster_close(g_c);
	g_c = NULL;
	writer_free(w);
	store_close(st);
	free(g_lat);
	return rc;
}

static int cmd_lookup(const char *dir, const char *caller, const char *vn)
{
	struct store *st = NULL;
	struct store_reader *r = NULL;
	struct session s;
	char id[STORE_ID_STR_SIZE];
	int rc;

	if (store_open(&st, dir, 1ULL << 30, &g_log) ||
	    store_reader_open(st, &r))
		return 1;
	rc = store_lookup(r, caller, vn, now_ms(), &s);
	if (rc == 0) {
		store_id_format(s.id, id);
		printf("%s\n", id);
	} else {
		printf("%s\n", rc == ENOENT ? "ENOENT" :
		       rc == ESTALE ? "ESTALE" : strerror(rc));
	}
	store_reader_close(r);
	store_close(st);
	return rc == 0 || rc == ENOENT || rc == ESTALE ? 0 : 1;
}

/* ---- export ---- */

static unsigned g_written;

static int export_write(struct store_txn *tx, void *arg)
{
	return store_cdr_add(tx, arg);
}

static void export_written(int err, void *arg)
{
	if (!err)
		g_written++;
	free(arg);
}

static int cmd_export(const char *dsn, const char *dir, unsigned count,
		      double timeout_s)
{
	struct store *st = NULL;
	struct store_reader *r = NULL;
	struct writer *w = NULL;
	struct cluster_stats cs;
	double end = mono_s() + timeout_s, t0, start;
	uint64_t left = 1;
	unsigned i;
	int rc = 1;

	if (store_open(&st, dir, 1ULL << 30, &g_log) ||
	    store_reader_open(st, &r) ||
	    writer_alloc(&w, g_base, st, &g_log))
		goto out;
	if (open_cluster(dsn, 2, CLUSTER_ALLOC_LOCK))
		goto out;
	if (cluster_export_start(g_c, st, w))
		goto out;
	start = mono_s();
	for (i = 0; i < count; i++) {
		struct cdr *c = calloc(1, sizeof(*c));

		if (!c)
			goto out;
		c->session_id[0] = (uint8_t)(i >> 8);
		c->session_id[1] = (uint8_t)i;
		if (store_cdr_id_new(now_ms(), c->id))
			goto out;
		c->start_ms = now_ms();
		c->end_ms = c->start_ms + 1000;
		c->final_code = 200;
		strcpy(c->reason, "normal");
		if (writer_submit(w, export_write, export_written, c))
			goto out;
	}
	while (g_written < count && mono_s() < end)
		run_for(0.01);
	t0 = mono_s();
	while (mono_s() < end) {
		if (store_export_pending(r, &left) || !left)
			break;
		run_for(0.01);
	}
	cluster_stats(g_c, &cs);
	printf("{\"written\": %u, \"exported\": %" PRIu64 ", \"left\": %"
	       PRIu64 ", \"after_written_s\": %.3f, \"total_s\": %.3f}\n",
	       g_written, cs.exported, left, mono_s() - t0,
	       mono_s() - start);
	rc = left ? 1 : 0;
 out:
	cluster_close(g_c);
	g_c = NULL;
	writer_free(w);
	store_reader_close(r);
	store_close(st);
	return rc;
}

/* ---- watch ---- */

static bool g_probe_busy;
static bool g_was_up;

static void probe_done(int err, const struct session *s, void *arg)
{
	g_probe_busy = false;
	if (err == ENOENT) {
		printf("query ok\n");
		fflush(stdout);
	}
}

static void probe(evutil_socket_t fd, short what, void *arg)
{
	uint8_t id[STORE_ID_LEN] = { 0 };
	bool up = cluster_ready(g_c);

	if (up != g_was_up) {
		printf("%s\n", up ? "up" : "down");
		fflush(stdout);
		g_was_up = up;
	}
	if (up && !g_probe_busy &&
	    !cluster_session_get(g_c, id, now_ms(), probe_done, NULL))
		g_probe_busy = true;
}

static int cmd_watch(const char *dsn, double seconds)
{
	struct timeval tv = { 0, 200 * 1000 };
	struct event *ev;

	if (cluster_open(&g_c, g_base, dsn, 1, CLUSTER_ALLOC_LOCK, &g_log))
		return 1;
	ev = event_new(g_base, -1, EV_PERSIST, probe, NULL);
	event_add(ev, &tv);
	run_for(seconds);
	event_free(ev);
	return 0;
}

int main(int argc, char **argv)
{
	const char *lvl = getenv("CLUSTER_TOOL_LOG");
	enum log_level level = LOG_LVL_WARN;
	int rc = 2;

	if (argc < 3)
		goto usage;
	if (lvl)
		log_level_parse(lvl, &level);
	if (log_open(&g_log, level, NULL))
		return 1;
	g_base = event_base_new();
	if (!g_base)
		return 1;
	if (!strcmp(argv[1], "migrate") && argc == 3) {
		rc = open_cluster(argv[2], 1, CLUSTER_ALLOC_LOCK);
		if (!rc)
			printf("schema ok\n");
	} else if (!strcmp(argv[1], "pool") && (argc == 4 || argc == 5)) {
		rc = cmd_pool(argv[2], (unsigned)strtoul(argv[3], NULL, 10),
			      argc == 5 ? strtoull(argv[4], NULL, 10) :
			      15550000000ULL);
	} else if (!strcmp(argv[1], "create") && argc >= 8 && argc <= 10) {
		rc = cmd_create(argv[2], argv + 3);
	} else if (!strcmp(argv[1], "feed") && argc == 6) {
		rc = cmd_feed(argv[2], argv[3],
			      (unsigned)strtoul(argv[4], NULL, 10),
			      strtod(argv[5], NULL));
	} else if (!strcmp(argv[1], "lookup") && argc == 5) {
		rc = cmd_lookup(argv[2], argv[3], argv[4]);
	} else if (!strcmp(argv[1], "export") && argc == 6) {
		rc = cmd_export(argv[2], argv[3],
				(unsigned)strtoul(argv[4], NULL, 10),
				strtod(argv[5], NULL));
	} else if (!strcmp(argv[1], "watch") && argc == 4) {
		rc = cmd_watch(argv[2], strtod(argv[3], NULL));
	} else {
		goto usage;
	}
	cluster_close(g_c);
	event_base_free(g_base);
	log_close(&g_log);
	return rc;
 usage:
	fprintf(stderr, "usage: see tests/cluster/cluster_tool.c\n");
	return 2;
}
