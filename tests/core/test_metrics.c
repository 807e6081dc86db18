/*
 * test_metrics.c - the registry renders what fake modules registered as
 * Prometheus text, exactly: cells and snapshots, labelled families,
 * histograms; refuses bad rows and names registered twice; stops reading
 * a module the moment it unregisters; reports a read handler's error;
 * and sees counters that other threads add to.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/metrics.h"

/* ---- a fake module of cells, declared once in a list ---- */

#define API_MAX_STATUS 600
#define FAKE_METRICS(X, XL, XH) \
	X(calls_live, "fake_calls_live", GAUGE, "Calls alive.") \
	X(calls_total, "fake_calls_total", COUNTER, "Calls since start.") \
	XL(requests, "fake_requests_total", COUNTER, \
	   "Requests, by status.", "code", API_MAX_STATUS, NULL) \
	XL(ends, "fake_ends_total", COUNTER, "Ends, by reason.", \
	   "reason", 3, fake_reasons) \
	XH(latency, "fake_latency_seconds", "Hook latency.", 1000)

static const char *const fake_reasons[] = { "normal", "busy", "a\"b\\c" };

struct fake_counters {
	FAKE_METRICS(METRICS_X_CELL, METRICS_XL_CELL, METRICS_XH_CELL)
};

#define FAKE_ROW(f, name, kind, help) \
	METRICS_ROW(struct fake_counters, f, name, kind, help),
#define FAKE_ROW_L(f, name, kind, help, label, n, values) \
	METRICS_ROW_L(struct fake_counters, f, name, kind, help, label, n, \
		      values),
#define FAKE_ROW_H(f, name, help, scale) \
	METRICS_ROW_H(struct fake_counters, f, name, help, scale),

static const struct metrics_row fake_rows[] = {
	FAKE_METRICS(FAKE_ROW, FAKE_ROW_L, FAKE_ROW_H)
};

static const struct metrics_group fake_group =
	METRICS_GROUP("fake", fake_rows);

/* 5 ms, 50 ms, 0.5 s, 2.5 s */
static const uint64_t fake_bounds[] = { 5, 50, 500, 2500 };

/* ---- a fake module read through a snapshot ---- */

struct snap_stats {
	uint64_t workers;
	uint64_t packets;
};

static const struct metrics_row snap_rows[] = {
	METRICS_ROW(struct snap_stats, workers, "snap_workers", GAUGE,
		    "Workers.\nSecond line \\ backslash."),
	METRICS_ROW(struct snap_stats, packets, "snap_packets_total",
		    COUNTER, "Packets."),
};

struct snap_module {
	uint64_t w[3];		/* per-worker packets, summed when read */
	int fail;		/* an errno the read handler returns */
	int reads;
};

static int snap_read(void *arg, void *snap)
{
	struct snap_module *sm = arg;
	struct snap_stats *out = snap;

	sm->reads++;
	if (sm->fail)
		return sm->fail;
	assert_int_equal(out->packets, 0);	/* zeroed for us */
	out->workers = 3;
	out->packets = sm->w[0] + sm->w[1] + sm->w[2];
	return 0;
}

static const struct metrics_group snap_group =
	METRICS_GROUP_SNAP("snap", snap_rows, snap_read, struct snap_stats);

static char *render(struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, &text, &len, NULL), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_render_exact(void **state)
{
	static const char want[] =
		"# HELP fake_calls_live Calls alive.\n"
		"# TYPE fake_calls_live gauge\n"
		"fake_calls_live 2\n"
		"# HELP fake_calls_total Calls since start.\n"
		"# TYPE fake_calls_total counter\n"
		"fake_calls_total 7\n"
		"# HELP fake_requests_total Requests, by status.\n"
		"# TYPE fake_requests_total counter\n"
		"fake_requests_total{code=\"200\"} 5\n"
		"fake_requests_total{code=\"404\"} 1\n"
		"# HELP fake_ends_total Ends, by reason.\n"
		"# TYPE fake_ends_total counter\n"
		"fake_ends_total{reason=\"normal\"} 4\n"
		"fake_ends_total{reason=\"busy\"} 0\n"
		"fake_ends_total{reason=\"a\\\"b\\\\c\"} 1\n"
		"# HELP fake_latency_seconds Hook latency.\n"
		"# TYPE fake_latency_seconds histogram\n"
		"fake_latency_seconds_bucket{le=\"0.005\"} 2\n"
		"fake_latency_seconds_bucket{le=\"0.05\"} 3\n"
		"fake_latency_seconds_bucket{le=\"0.5\"} 3\n"
		"fake_latency_seconds_bucket{le=\"2.5\"} 4\n"
		"fake_latency_seconds_bucket{le=\"+Inf\"} 5\n"
		"fake_latency_seconds_sum 12.568\n"
		"fake_latency_seconds_count 5\n"
		"# HELP snap_workers Workers.\\nSecond line \\\\ backslash.\n"
		"# TYPE snap_workers gauge\n"
		"snap_workers 3\n"
		"# HELP snap_packets_total Packets.\n"
		"# TYPE snap_packets_total counter\n"
		"snap_packets_total 60\n";
	struct fake_counters c;
	struct snap_module sm = { { 10, 20, 30 }, 0, 0 };
	struct metrics *m;
	char *text;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(metrics_hist_init(&c.latency, fake_bounds, 4), 0);
	assert_int_equal(metrics_alloc(&m), 0);
	assert_int_equal(metrics_register(m, &fake_group, &c), 0);
	assert_int_equal(metrics_register(m, &snap_group, &sm), 0);

	metrics_inc(&c.calls_live);
	metrics_inc(&c.calls_live);
	metrics_inc(&c.calls_live);
	metrics_dec(&c.calls_live);
	metrics_add(&c.calls_total, 6);
	metrics_own_add(&c.calls_total, 1);
	metrics_add(&c.requests[200], 5);
	metrics_inc(&c.requests[404]);
	metrics_add(&c.ends[0], 4);
	metrics_inc(&c.ends[2]);
	metrics_hist_observe(&c.latency, 0);	/* le 0.005 */
	metrics_hist_observe(&c.latency, 5);	/* le 0.005: bounds are <= */
	metrics_hist_observe(&c.latency, 6);	/* le 0.05 */
	metrics_hist_observe(&c.latency, 2500);	/* le 2.5 */
	metrics_hist_observe(&c.latency, 10057);	/* +Inf */

	text = render(m);
	assert_string_equal(text, want);
	free(text);
	assert_int_equal(sm.reads, 1);

	metrics_unregister(m, &snap_group, &sm);
	metrics_unregister(m, &fake_group, &c);
	metrics_free(m);
}

static void test_unregister_stops_reading(void **state)
{
	struct snap_module sm = { { 1, 2, 3 }, 0, 0 };
	struct fake_counters *c;
	struct metrics *m;
	char *text;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(metrics_alloc(&m), 0);
	assert_int_equal(metrics_register(m, &fake_group, c), 0);
	assert_int_equal(metrics_register(m, &snap_group, &sm), 0);

	/* the module stops: unregisters, then frees its counters (ASan
	 * would see a read after the free) */
	metrics_unregister(m, &fake_group, c);
	free(c);
	text = render(m);
	assert_null(strstr(text, "fake_"));
	assert_non_null(strstr(text, "snap_packets_total 6\n"));
	free(text);

	metrics_unregister(m, &snap_group, &sm);
	text = render(m);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(sm.reads, 1);

	/* unknown pairs and no registry at all are no-ops */
	metrics_unregister(m, &snap_group, &sm);
	metrics_unregister(NULL, &snap_group, &sm);
	assert_int_equal(metrics_register(NULL, &snap_group, &sm), 0);

	/* registering again after a stop works, at the end of the page */
	assert_int_equal(metrics_register(m, &snap_group, &sm), 0);
	text = render(m);
	assert_non_null(strstr(text, "snap_workers 3\n"));
	free(text);
	metrics_unregister(m, &snap_group, &sm);
	metrics_free(m);
}

static void test_read_error_fails_render(void **state)
{
	struct snap_module sm = { { 0, 0, 0 }, EIO, 0 };
	struct metrics *m;
	const char *failed = NULL;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(metrics_alloc(&m), 0);
	assert_int_equal(metrics_register(m, &snap_group, &sm), 0);
	assert_int_equal(metrics_render(m, &text, &len, &failed), EIO);
	assert_null(text);
	assert_non_null(failed);
	assert_string_equal(failed, "snap");

	sm.fail = 0;
	assert_int_equal(metrics_render(m, &text, &len, &failed), 0);
	assert_null(failed);
	free(text);
	metrics_unregister(m, &snap_group, &sm);
	metrics_free(m);
}

/* ---- what registration refuses ---- */

struct one {
	_Atomic uint64_t a;
	_Atomic uint64_t b;
	struct metrics_hist h;
};

#define ONE_GROUP(var, ...) \
	static const struct metrics_row var##_rows[] = { __VA_ARGS__ }; \
	static const struct metrics_group var = \
		METRICS_GROUP(#var, var##_rows)

ONE_GROUP(dup_in_group,
	  METRICS_ROW(struct one, a, "x_total", COUNTER, "A."),
	  METRICS_ROW(struct one, b, "x_total", COUNTER, "B."));
ONE_GROUP(clash_a, METRICS_ROW(struct one, a, "clash", GAUGE, "A."));
ONE_GROUP(clash_b, METRICS_ROW(struct one, b, "clash", GAUGE, "B."));
ONE_GROUP(bad_name, METRICS_ROW(struct one, a, "9lives", GAUGE, "A."));
ONE_GROUP(bad_name2, METRICS_ROW(struct one, a, "a-b", GAUGE, "A."));
ONE_GROUP(no_help, METRICS_ROW(struct one, a, "nohelp", GAUGE, NULL));
ONE_GROUP(bad_label, METRICS_ROW_L(struct one, a, "lbl", GAUGE, "A.",
				   "le", 2, NULL));
ONE_GROUP(bad_label2, METRICS_ROW_L(struct one, a, "lbl", GAUGE, "A.",
				    "__x", 2, NULL));
ONE_GROUP(bad_scale, METRICS_ROW_H(struct one, h, "hist", "H.", 1024));
ONE_GROUP(good_hist, METRICS_ROW_H(struct one, h, "hist", "H.", 1000));

/* a histogram cannot be read through a snapshot */
static const struct metrics_row snap_hist_rows[] = {
	METRICS_ROW_H(struct one, h, "hist", "H.", 0),
};
static const struct metrics_group snap_hist =
	METRICS_GROUP_SNAP("snap_hist", snap_hist_rows, snap_read,
			   struct one);

/* a row outside its snapshot */
static const struct metrics_row outside_rows[] = {
	METRICS_ROW(struct one, h.sum, "outside", GAUGE, "B."),
};
static const struct metrics_group outside =
	METRICS_GROUP_SNAP("outside", outside_rows, snap_read,
			   struct snap_stats[1]);

static void test_register_refuses(void **state)
{
	static const uint64_t down[] = { 10, 5 };
	struct metrics_hist h;
	struct one o, o2;
	struct metrics *m;
	char *text;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(metrics_alloc(&m), 0);
	assert_int_equal(metrics_register(m, &dup_in_group, &o), EEXIST);
	assert_int_equal(metrics_register(m, &clash_a, &o), 0);
	assert_int_equal(metrics_register(m, &clash_a, &o), EEXIST);
	/* the same group for a second object: its names clash too */
	assert_int_equal(metrics_register(m, &clash_a, &o2), EEXIST);
	assert_int_equal(metrics_register(m, &clash_b, &o), EEXIST);
	assert_int_equal(metrics_register(m, &bad_name, &o), EINVAL);
	assert_int_equal(metrics_register(m, &bad_name2, &o), EINVAL);
	assert_int_equal(metrics_register(m, &no_help, &o), EINVAL);
	assert_int_equal(metrics_register(m, &bad_label, &o), EINVAL);
	assert_int_equal(metrics_register(m, &bad_label2, &o), EINVAL);
	assert_int_equal(metrics_register(m, &bad_scale, &o), EINVAL);
	assert_int_equal(metrics_register(m, &snap_hist, &o), EINVAL);
	assert_int_equal(metrics_register(m, &outside, &o), EINVAL);
	assert_int_equal(metrics_register(m, NULL, &o), EINVAL);

	/* a histogram nobody initialised has only +Inf */
	assert_int_equal(metrics_register(m, &good_hist, &o), 0);
	metrics_add(&o.a, 3);
	text = render(m);
	assert_string_equal(text,
		"# HELP clash A.\n# TYPE clash gauge\nclash 3\n"
		"# HELP hist H.\n# TYPE hist histogram\n"
		"hist_bucket{le=\"+Inf\"} 0\nhist_sum 0\nhist_count 0\n");
	free(text);

	assert_int_equal(metrics_hist_init(&h, down, 2), EINVAL);
	assert_int_equal(metrics_hist_init(&h, fake_bounds,
					   METRICS_HIST_MAX + 1), EINVAL);
	assert_int_equal(metrics_hist_init(&h, NULL, 1), EINVAL);

	metrics_unregister(m, &clash_a, &o);
	metrics_unregister(m, &good_hist, &o);
	metrics_free(m);
}

/* ---- updates from other threads while /metrics renders ---- */

#define THREADS 4
#define PER_THREAD 100000

static void *bump(void *arg)
{
	struct fake_counters *c = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		metrics_inc(&c->calls_total);
		metrics_inc(&c->requests[200]);
		metrics_hist_observe(&c->latency, (uint64_t)(i % 100));
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fake_counters *c;
	pthread_t t[THREADS];
	struct metrics *m;
	char *text, want[64];
	int i;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(metrics_hist_init(&c->latency, fake_bounds, 4), 0);
	assert_int_equal(metrics_alloc(&m), 0);
	assert_int_equal(metrics_register(m, &fake_group, c), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bump, c), 0);
	for (i = 0; i < 20; i++)
		free(render(m));	/* while they count */
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	text = render(m);
	snprintf(want, sizeof(want), "fake_calls_total %d\n",
		 THREADS * PER_THREAD);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "fake_requests_total{code=\"200\"} %d\n",
		 THREADS * PER_THREAD);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "fake_latency_seconds_count %d\n",
		 THREADS * PER_THREAD);
	assert_non_null(strstr(text, want));
	/* 0..5 of every 100 are le 5 ms */
	snprintf(want, sizeof(want),
		 "fake_latency_seconds_bucket{le=\"0.005\"} %d\n",
		 THREADS * PER_THREAD / 100 * 6);
	assert_non_null(strstr(text, want));
	free(text);

	metrics_unregister(m, &fake_group, c);
	metrics_free(m);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_exact),
		cmocka_unit_test(test_unregister_stops_reading),
		cmocka_unit_test(test_read_error_fails_render),
		cmocka_unit_test(test_register_refuses),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
