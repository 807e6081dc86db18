/*
 * test_ctl.c - the control layer on a real libevent loop, a real store
 * and the real writer: every change answers through its done handler
 * only after it is committed, refusals come back as the store's errnos
 * (not "lost"), the CDR sink stores records, and the sweeper expires
 * sessions past expires_at.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "maskd/clock.h"
#include "maskd/ctl.h"
#include "../test_util.h"

struct fx {
	char *dir;
	struct event_base *base;
	struct store *st;
	struct writer *w;
	struct ctl *ctl;
	struct config cfg;	/* defaults: retention 90 days */
};

/* What one done handler saw. */
struct got {
	int calls;
	int err;
	bool lost;
	struct session s;	/* copied, strings dropped */
	struct pool_number n;
};

static void on_session(int err, bool lost, const struct session *s,
		       void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->err = err;
	g->lost = lost;
	if (!err) {
		assert_non_null(s);
		g->s = *s;
		g->s.callback_url = NULL;	/* owned by ctl */
		g->s.metadata = NULL;
	} else {
		assert_null(s);
	}
}

static void on_number(int err, bool lost, const struct pool_number *n,
		      void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->err = err;
	g->lost = lost;
	if (!err)
		g->n = *n;
}

static void on_done(int err, bool lost, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->err = err;
	g->lost = lost;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[512];

	assert_non_null(f);
	f->dir = test_tmpdir();
	snprintf(path, sizeof(path), "%s/db", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(event_base_priority_init(f->base, 2), 0);
	assert_int_equal(store_open(&f->st, path, 16 << 20, NULL), 0);
	assert_int_equal(writer_alloc(&f->w, f->base, f->st, NULL), 0);
	config_defaults(&f->cfg);
	assert_int_equal(ctl_start(&f->ctl, f->base, &f->cfg, f->st, f->w,
				   NULL), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	ctl_stop(f->ctl);
	config_free(&f->cfg);
	writer_free(f->w);
	store_close(f->st);
	event_base_free(f->base);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Run the loop until @g's handler ran; nothing is answered before the
 * loop runs the writer's batch. */
static void wait_for(struct fx *f, struct got *g)
{
	int i;

	assert_int_equal(g->calls, 0);
	for (i = 0; i < 1000 && !g->calls; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(g->calls, 1);
}

static void add_number(struct fx *f, const char *vn)
{
	struct got g = { 0 };

	assert_int_equal(ctl_number_add(f->ctl, vn, "US", on_number, &g), 0);
	wait_for(f, &g);
	assert_int_equal(g.err, 0);
	assert_false(g.lost);
	assert_string_equal(g.n.vn, vn);
	assert_string_equal(g.n.country, "US");
	assert_true(g.n.added_at_ms > 0);
}

static void create(struct fx *f, const char *a, const char *b,
		   int64_t ttl_ms, struct got *g)
{
	struct session_params p = {
		.party_a = a, .party_b = b, .ttl_ms = ttl_ms,
		.callback_url = "https://example.com/hook",
		.metadata = "{\"order\":1}",
	};

	memset(g, 0, sizeof(*g));
	assert_int_equal(ctl_session_create(f->ctl, &p, on_session, g), 0);
	wait_for(f, g);
}

static void test_pool_and_sessions(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 }, g2;
	struct session s;
	struct pool_number n;
	struct ctl_stats cs;

	add_number(f, "+15550000001");
	/* a second add is the store's refusal, not a lost write */
	assert_int_equal(ctl_number_add(f->ctl, "+15550000001", "", on_number,
					&g), 0);
	wait_for(f, &g);
	assert_int_equal(g.err, EEXIST);
	assert_false(g.lost);

	/* the VN comes from the pool; strings were copied at the call */
	create(f, "+14155550100", "+442071234567", 3600 * 1000, &g);
	assert_int_equal(g.err, 0);
	assert_string_equal(g.s.vn, "+15550000001");
	assert_int_equal(g.s.status, SESSION_ACTIVE);

	memset(&s, 0, sizeof(s));
	assert_int_equal(ctl_session_get(f->ctl, g.s.id, &s), 0);
	assert_string_equal(s.callback_url, "https://example.com/hook");
	assert_string_equal(s.metadata, "{\"order\":1}");
	session_clear(&s);
	assert_int_equal(ctl_number_get(f->ctl, "+15550000001", &n), 0);
	assert_int_equal(n.active, 1);

	/* the pool has no number left for a party already on it */
	create(f, "+14155550100", "+33123456789", 1000, &g2);
	assert_int_equal(g2.err, ENOSPC);
	assert_false(g2.lost);

	/* in use: the number stays */
	memset(&g2, 0, sizeof(g2));
	assert_int_equal(ctl_number_remove(f->ctl, "+15550000001", on_done,
					   &g2), 0);
	wait_for(f, &g2);
	assert_int_equal(g2.err, EBUSY);

	/* close, then close again: EALREADY */
	memset(&g2, 0, sizeof(g2));
	assert_int_equal(ctl_session_close(f->ctl, g.s.id, on_session, &g2),
			 0);
	wait_for(f, &g2);
	assert_int_equal(g2.err, 0);
	assert_int_equal(g2.s.status, SESSION_CLOSED);
	memset(&g2, 0, sizeof(g2));
	assert_int_equal(ctl_session_close(f->ctl, g.s.id, on_session, &g2),
			 0);
	wait_for(f, &g2);
	assert_int_equal(g2.err, EALREADY);
	assert_false(g2.lost);

	memset(&g2, 0, sizeof(g2));
	assert_int_equal(ctl_number_remove(f->ctl, "+15550000001", on_done,
					   &g2), 0);
	wait_for(f, &g2);
	assert_int_equal(g2.err, 0);
	assert_int_equal(ctl_number_get(f->ctl, "+15550000001", &n), ENOENT);

	ctl_stats_get(f->ctl, &cs);
	assert_int_equal(cs.creates, 1);
	assert_true(cs.writer.batches >= 7);
	assert_int_equal(cs.writer.failures, 0);
}

/* PATCH's ttl counts from when the change runs; a patch of an unknown
 * session is ENOENT. */
static void test_patch(void **state)
{
	struct fx *f = *state;
	struct session_patch p = { .set_record = true, .record = true };
	uint8_t unknown[STORE_ID_LEN] = { 1 };
	struct got g, g2;
	int64_t before;

	add_number(f, "+15550000002");
	create(f, "+14155550101", "+442071234568", 60 * 1000, &g);
	assert_int_equal(g.err, 0);

	memset(&g2, 0, sizeof(g2));
	before = clock_now_ms();
	assert_int_equal(ctl_session_patch(f->ctl, g.s.id, &p, 7200 * 1000,
					   on_session, &g2), 0);
	wait_for(f, &g2);
	assert_int_equal(g2.err, 0);
	assert_true(g2.s.record);
	assert_true(g2.s.expires_at_ms >= before + 7200 * 1000);

	memset(&g2, 0, sizeof(g2));
	assert_int_equal(ctl_session_patch(f->ctl, unknown, &p, 0, on_session,
					   &g2), 0);
	wait_for(f, &g2);
	assert_int_equal(g2.err, ENOENT);
	assert_false(g2.lost);
}

static int count_cdr(const struct cdr *c, void *arg)
{
	int *n = arg;

	assert_string_equal(c->reason, "session_closed");
	(*n)++;
	return 0;
}

/* The CDR sink: a record handed over is committed and listed. */
static void test_cdr_sink(void **state)
{
	struct fx *f = *state;
	struct ctl_stats cs;
	struct session s;
	struct cdr c;
	struct got g;
	int i, n = 0;

	add_number(f, "+15550000003");
	create(f, "+14155550102", "+442071234569", 60 * 1000, &g);
	memset(&c, 0, sizeof(c));
	memcpy(c.session_id, g.s.id, STORE_ID_LEN);
	assert_int_equal(store_cdr_id_new(clock_now_ms(), c.id), 0);
	c.a_to_b = true;
	c.start_ms = clock_now_ms();
	c.end_ms = c.start_ms + 1;
	c.final_code = 200;
	c.hangup = CDR_HANGUP_MASKD;
	snprintf(c.reason, sizeof(c.reason), "session_closed");
	ctl_cdr_store(f->ctl, &c);
	for (i = 0; i < 1000; i++) {
		ctl_stats_get(f->ctl, &cs);
		if (cs.cdrs_written)
			break;
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		/* a record waits up to WRITER_LATER_MS for company */
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	assert_int_equal(cs.cdrs_written, 1);
	assert_int_equal(cs.cdrs_lost, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(ctl_session_calls(f->ctl, g.s.id, &s, count_cdr, &n),
			 0);
	session_clear(&s);
	assert_int_equal(n, 1);
}

static void loop_for(struct fx *f, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* The sweeper moves a session past expires_at to expired and frees its
 * pool slot; an active one stays. */
static void test_sweeper(void **state)
{
	struct fx *f = *state;
	struct pool_number n;
	struct ctl_stats cs;
	struct session s;
	struct got g, keep;
	int i;

	add_number(f, "+15550000004");
	/* the short one last: a create expires what is due itself */
	create(f, "+14155550104", "+442071234571", 3600 * 1000, &keep);
	create(f, "+14155550103", "+442071234570", 1, &g);
	assert_int_equal(g.err, 0);
	assert_int_equal(keep.err, 0);
	for (i = 0; i < 100; i++) {
		ctl_stats_get(f->ctl, &cs);
		if (cs.expiries)
			break;
		loop_for(f, 100);
	}
	assert_int_equal(cs.expiries, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(ctl_session_get(f->ctl, g.s.id, &s), 0);
	assert_int_equal(s.status, SESSION_EXPIRED);
	session_clear(&s);
	assert_int_equal(ctl_session_get(f->ctl, keep.s.id, &s), 0);
	assert_int_equal(s.status, SESSION_ACTIVE);
	session_clear(&s);
	assert_int_equal(ctl_number_get(f->ctl, "+15550000004", &n), 0);
	assert_int_equal(n.active, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_and_sessions,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_cdr_sink, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_sweeper, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
