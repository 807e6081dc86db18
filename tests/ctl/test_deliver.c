/*
 * test_deliver.c - the deliverer (ctl_deliver.c) against a real store and
 * an evhttp receiver on loopback, in one event loop: a due event is
 * always picked up, also one that sorts before where the kicks' walk of
 * the outbox starts (written behind the deliverer's back, as a wall
 * clock stepped back would), and a session's events go out in order
 * when the later ones waited for an earlier one in flight.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "maskd/clock.h"
#include "maskd/ctl.h"
#include "maskd/net.h"
#include "maskd/webhook.h"
#include "../test_util.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MAX_GOT 64

struct fx {
	char *dir;
	char path[512];
	struct event_base *base;
	struct store *st;
	struct writer *w;
	struct ctl *ctl;
	struct config cfg;
	struct evhttp *http;
	char url[64];
	struct webhook_key key;
	struct net_cidr allow;
	unsigned n_got;
	char got[MAX_GOT][64];		/* the bodies, as received */
};

/* The receiver: 200 to every signed POST, its body kept. */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	size_t len = evbuffer_get_length(b);

	assert_non_null(evhttp_find_header(h, "webhook-id"));
	assert_non_null(evhttp_find_header(h, "webhook-signature"));
	assert_true(f->n_got < MAX_GOT);
	assert_true(len < sizeof(f->got[0]));
	evbuffer_remove(b, f->got[f->n_got], len);
	f->got[f->n_got++][len] = '\0';
	evhttp_send_reply(req, 200, "OK", NULL);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ctl_events_conf ec = { 0 };
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	assert_non_null(f);
	config_defaults(&f->cfg);
	f->dir = test_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(event_base_priority_init(f->base, 2), 0);
	f->http = evhttp_new(f->base);
	assert_non_null(f->http);
	evhttp_set_gencb(f->http, on_request, f);
	bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bs);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sa, &sl), 0);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/hook",
		 (unsigned)ntohs(sa.sin_port));

	assert_int_equal(store_open(&f->st, f->path, 16 << 20, NULL), 0);
	assert_int_equal(writer_alloc(&f->w, f->base, f->st, NULL), 0);
	assert_int_equal(ctl_start(&f->ctl, f->base, &f->cfg, f->st, f->w,
				   NULL), 0);
	assert_int_equal(webhook_key_parse(SECRET, &f->key), 0);
	assert_int_equal(net_cidr_parse("127.0.0.0/8", &f->allow), 0);
	ec.url = f->url;
	ec.keys = &f->key;
	ec.n_keys = 1;
	ec.schedule_s[0] = 0;
	ec.schedule_s[1] = 1;
	ec.n_schedule = 2;
	ec.timeout_s = 5;
	ec.concurrency = 16;
	ec.disable_after_ms = 3600 * 1000;
	ec.allow = &f->allow;
	ec.n_allow = 1;
	assert_int_equal(ctl_events_configure(f->ctl, &ec), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	ctl_stop(f->ctl);
	writer_free(f->w);
	store_close(f->st);
	evhttp_free(f->http);
	config_free(&f->cfg);
	event_base_free(f->base);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* An event written straight into the outbox, due at at_ms: not through
 * ctl_event.c, so the deliverer is not told where it is due. */
struct inject {
	const uint8_t *sid;		/* NULL: no session */
	int64_t at_ms;
	const char *tag;
	bool done;
};

static int inject_run(struct store_txn *tx, void *arg)
{
	struct inject *in = arg;
	struct event ev;
	char body[64];
	int rc;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.type, sizeof(ev.type), "test.event");
	snprintf(body, sizeof(body), "{\"tag\":\"%s\"}", in->tag);
	ev.body = body;
	ev.body_len = strlen(body);
	ev.next_at_ms = in->at_ms;
	if (in->sid) {
		ev.has_session = true;
		memcpy(ev.session_id, in->sid, STORE_ID_LEN);
		rc = store_event_seq_next(tx, in->sid, &ev.sequence);
		if (rc)
			return rc;
	}
	return store_event_add(tx, &ev, in->at_ms, 0, NULL);
}

static void inject_done(int err, void *arg)
{
	struct inject *in = arg;

	assert_int_equal(err, 0);
	in->done = true;
}

static void inject(struct fx *f, struct inject *in)
{
	assert_int_equal(writer_submit(f->w, inject_run, inject_done, in), 0);
	writer_flush(f->w);
	assert_true(in->done);
}

/* Run the loop until @n bodies came, for at most @ms. */
static void wait_got(struct fx *f, unsigned n, int64_t ms)
{
	int64_t end = clock_mono_ms() + ms;
	struct timeval tv = { 0, 10000 };

	while (f->n_got < n && clock_mono_ms() < end) {
		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_int_equal(f->n_got, n);
}

static unsigned got_index(const struct fx *f, const char *tag)
{
	char want[64];
	unsigned i;

	snprintf(want, sizeof(want), "{\"tag\":\"%s\"}", tag);
	for (i = 0; i < f->n_got; i++)
		if (!strcmp(f->got[i], want))
			return i;
	fail_msg("%s never delivered", tag);
	return 0;
}

static void test_due_before_resume_picked_up(void **state)
{
	struct fx *f = *state;
	uint8_t s1[STORE_ID_LEN] = { 7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 3, 4 };
	int64_t now = clock_now_ms();
	struct inject warm = { .at_ms = now, .tag = "warm" };
	struct inject past[4] = {
		{ .sid = s1, .at_ms = now - 60000, .tag = "s1-1" },
		{ .sid = s1, .at_ms = now - 60000, .tag = "s1-2" },
		{ .sid = s1, .at_ms = now - 59999, .tag = "s1-3" },
		{ .at_ms = now - 60000, .tag = "lone" },
	};
	struct inject chain[3] = {
		{ .sid = s1, .tag = "s1-4" },
		{ .sid = s1, .tag = "s1-5" },
		{ .sid = s1, .tag = "s1-6" },
	};
	unsigned i;

	/* one delivered: the kicks' walk now starts at its ms */
	inject(f, &warm);
	wait_got(f, 1, 3000);
	wait_got(f, 1, 300);		/* its outcome committed, kicked */

	/* due a minute before that start, never announced to the
	 * deliverer: the tick's walk from the head finds them */
	for (i = 0; i < 4; i++)
		inject(f, &past[i]);
	wait_got(f, 5, 3000);
	assert_true(got_index(f, "s1-1") < got_index(f, "s1-2"));
	assert_true(got_index(f, "s1-2") < got_index(f, "s1-3"));

	/* a session's next events, all due at once, wait for the one in
	 * flight before them and still all go, in order */
	now = clock_now_ms();
	for (i = 0; i < 3; i++) {
		chain[i].at_ms = now;
		inject(f, &chain[i]);
	}
	wait_got(f, 8, 3000);
	assert_true(got_index(f, "s1-3") < got_index(f, "s1-4"));
	assert_true(got_index(f, "s1-4") < got_index(f, "s1-5"));
	assert_true(got_index(f, "s1-5") < got_index(f, "s1-6"));
	/* nothing sent twice */
	wait_got(f, 8, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_due_before_resume_picked_up, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
