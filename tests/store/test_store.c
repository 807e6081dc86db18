/*
 * test_store.c - the LMDB store against a real environment in a temp dir.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "maskd/store.h"

#define T0 1800000000000LL	/* a fixed "now", ms */
#define MAP_SIZE (64ULL << 20)

#include "store_fx.h"

/* create() - one session in its own committed transaction; returns rc. */
static int create(struct fx *f, const char *a, const char *b, const char *vn,
		  int64_t ttl_ms, int64_t now, struct session *out)
{
	struct session_params p = {
		.party_a = a, .party_b = b, .vn = vn, .ttl_ms = ttl_ms,
	};
	struct store_txn *tx;
	struct session s;
	int rc;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_session_create(tx, &p, now, out ? out : &s);
	if (rc) {
		store_write_abort(tx);
		return rc;
	}
	assert_int_equal(store_write_commit(tx), 0);
	if (!out)
		session_clear(&s);
	return 0;
}

static int close_id(struct fx *f, const uint8_t *id, int64_t now)
{
	struct store_txn *tx;
	struct session s;
	int rc;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_session_close(tx, id, now, &s);
	if (rc == 0 || rc == EALREADY)
		session_clear(&s);
	if (rc) {
		store_write_abort(tx);
		return rc;
	}
	assert_int_equal(store_write_commit(tx), 0);
	return 0;
}

static uint32_t pool_active(struct fx *f, const char *vn)
{
	struct pool_number n;

	assert_int_equal(store_pool_get(f->r, vn, &n), 0);
	return n.active;
}

static void test_id_roundtrip(void **state)
{
	uint8_t id[STORE_ID_LEN], back[STORE_ID_LEN];
	char s[STORE_ID_STR_SIZE];
	int i;

	(void)state;
	for (i = 0; i < STORE_ID_LEN; i++)
		id[i] = (uint8_t)(i * 17 + 3);
	store_id_format(id, s);
	assert_int_equal(strlen(s), 32);
	assert_int_equal(store_id_parse(s, back), 0);
	assert_memory_equal(id, back, STORE_ID_LEN);
	assert_int_equal(store_id_parse("abc", back), EINVAL);
	assert_int_equal(store_id_parse("zz0102030405060708090a0b0c0d0e0f",
					back), EINVAL);
	assert_int_equal(store_id_parse(NULL, back), EINVAL);
}

static void test_create_lookup_both_ways(void **state)
{
	struct fx *f = *state;
	struct session s, l;
	char ids[STORE_ID_STR_SIZE], idl[STORE_ID_STR_SIZE];

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550199", NULL,
				60000, T0, &s), 0);
	assert_string_equal(s.vn, "+15550000001");
	assert_int_equal(s.status, SESSION_ACTIVE);
	assert_int_equal(s.expires_at_ms, T0 + 60000);

	/* A calls the VN: finds the session, whose other party is B */
	assert_int_equal(store_lookup(f->r, "+14155550100", "+15550000001",
				      T0 + 1, &l), 0);
	store_id_format(s.id, ids);
	store_id_format(l.id, idl);
	assert_string_equal(ids, idl);
	assert_string_equal(l.party_b, "+14155550199");
	assert_null(l.metadata);
	/* B calls back the same VN: same session */
	assert_int_equal(store_lookup(f->r, "+14155550199", "+15550000001",
				      T0 + 1, &l), 0);
	assert_memory_equal(l.id, s.id, STORE_ID_LEN);
	/* a stranger, or the right party on another VN: nothing */
	assert_int_equal(store_lookup(f->r, "+14155550111", "+15550000001",
				      T0 + 1, &l), ENOENT);
	assert_int_equal(store_lookup(f->r, "+14155550100", "+15550000002",
				      T0 + 1, &l), ENOENT);
	assert_int_equal(pool_active(f, "+15550000001"), 1);
	session_clear(&s);
}

static void test_create_errors(void **state)
{
	struct fx *f = *state;
	struct session s;

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550100", NULL,
				60000, T0, NULL), EINVAL);
	assert_int_equal(create(f, "+14155550100", "+14155550101",
				"+15559999999", 60000, T0, NULL), ENOENT);
	assert_int_equal(create(f, "+14155550100", "+14155550101",
				"+15550000001", 60000, T0, &s), 0);
	session_clear(&s);
	/* A already uses the only number: explicit -> EEXIST, auto -> ENOSPC */
	assert_int_equal(create(f, "+14155550100", "+14155550102",
				"+15550000001", 60000, T0, NULL), EEXIST);
	assert_int_equal(create(f, "+14155550102", "+14155550100", NULL,
				60000, T0, NULL), ENOSPC);
	/* unrelated parties may share the number */
	assert_int_equal(create(f, "+14155550103", "+14155550104", NULL,
				60000, T0, NULL), 0);
	assert_int_equal(pool_active(f, "+15550000001"), 2);
}

static void test_strings_roundtrip(void **state)
{
	struct fx *f = *state;
	struct session_params p = {
		.party_a = "+14155550100", .party_b = "+442071234567",
		.ttl_ms = 1000, .call_time_limit_s = 120, .record = true,
		.callback_url = "https://example.com/hook",
		.metadata = "{\"order\":\"A-17\"}",
	};
	struct store_txn *tx;
	struct session s, g;

	pool_add(f, "+15550000001");
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_create(tx, &p, T0, &s), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(store_session_get(f->r, s.id, T0, &g), 0);
	assert_string_equal(g.callback_url, "https://example.com/hook");
	assert_string_equal(g.metadata, "{\"order\":\"A-17\"}");
	assert_true(g.record);
	assert_int_equal(g.call_time_limit_s, 120);
	assert_string_equal(g.party_b, "+442071234567");
	session_clear(&g);
	/* past expires_at, get reports expired even before any sweep */
	assert_int_equal(store_session_get(f->r, s.id, T0 + 1000, &g), 0);
	assert_int_equal(g.status, SESSION_EXPIRED);
	assert_int_equal(g.ended_at_ms, T0 + 1000);
	session_clear(&g);
	session_clear(&s);
}

static void test_close(void **state)
{
	struct fx *f = *state;
	struct session s, l;
	struct store_stats stats;

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				60000, T0, &s), 0);
	assert_int_equal(close_id(f, s.id, T0 + 5), 0);
	assert_int_equal(close_id(f, s.id, T0 + 6), EALREADY);
	/* the pair remembers it ended: ESTALE, not ENOENT */
	assert_int_equal(store_lookup(f->r, "+14155550100", "+15550000001",
				      T0 + 7, &l), ESTALE);
	assert_int_equal(l.status, SESSION_CLOSED);
	assert_int_equal(l.ended_at_ms, T0 + 5);
	assert_int_equal(pool_active(f, "+15550000001"), 0);
	assert_int_equal(store_stats_get(f->r, &stats), 0);
	assert_int_equal(stats.sessions_active, 0);
	assert_int_equal(stats.sessions_total, 1);
	assert_int_equal(stats.expiries_total, 0);
	/* the pair is free again */
	session_clear(&s);
	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				60000, T0 + 10, &s), 0);
	assert_int_equal(store_lookup(f->r, "+14155550101", "+15550000001",
				      T0 + 11, &l), 0);
	assert_memory_equal(l.id, s.id, STORE_ID_LEN);
	session_clear(&s);
	assert_int_equal(close_id(f, (const uint8_t *)"0123456789abcdef",
				  T0), ENOENT);
}

static void test_expiry(void **state)
{
	struct fx *f = *state;
	struct store_stats stats;
	struct store_txn *tx;
	struct session s, l;
	int64_t at;
	unsigned n;

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				1000, T0, &s), 0);
	assert_int_equal(store_next_expiry(f->r, &at), 0);
	assert_int_equal(at, T0 + 1000);
	assert_int_equal(store_lookup(f->r, "+14155550100", "+15550000001",
				      T0 + 999, &l), 0);
	/* lookups never return an expired session, sweep or not */
	assert_int_equal(store_lookup(f->r, "+14155550100", "+15550000001",
				      T0 + 1000, &l), ESTALE);
	assert_int_equal(l.status, SESSION_EXPIRED);

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_expire_due(tx, T0 + 999, 100, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_expire_due(tx, T0 + 1000, 100, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_write_commit(tx), 0);

	assert_int_equal(store_next_expiry(f->r, &at), ENOENT);
	assert_int_equal(pool_active(f, "+15550000001"), 0);
	assert_int_equal(store_stats_get(f->r, &stats), 0);
	assert_int_equal(stats.sessions_active, 0);
	assert_int_equal(stats.expiries_total, 1);
	assert_int_equal(close_id(f, s.id, T0 + 2000), EALREADY);
	session_clear(&s);
}

static void test_update(void **state)
{
	struct fx *f = *state;
	struct session_patch patch = { 0 };
	struct store_txn *tx;
	struct session s, u, g;
	int64_t at;
	unsigned n;

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				1000, T0, &s), 0);
	patch.set_expires_at = true;
	patch.expires_at_ms = T0 + 5000;
	patch.set_callback_url = true;
	patch.callback_url = "http://cb.example/x";
	patch.set_record = true;
	patch.record = true;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_update(tx, s.id, &patch, T0 + 10, &u),
			 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(u.expires_at_ms, T0 + 5000);
	session_clear(&u);

	/* the old expiry is gone from the index, the new one is there */
	assert_int_equal(store_next_expiry(f->r, &at), 0);
	assert_int_equal(at, T0 + 5000);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_expire_due(tx, T0 + 1000, 100, &n), 0);
	assert_int_equal(n, 0);
	store_write_abort(tx);

	assert_int_equal(store_session_get(f->r, s.id, T0 + 20, &g), 0);
	assert_string_equal(g.callback_url, "http://cb.example/x");
	assert_true(g.record);
	session_clear(&g);

	/* the past is refused; an ended session cannot change */
	patch.expires_at_ms = T0 + 10;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_update(tx, s.id, &patch, T0 + 20, &u),
			 EINVAL);
	store_write_abort(tx);
	assert_int_equal(close_id(f, s.id, T0 + 30), 0);
	patch.expires_at_ms = T0 + 9000;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_update(tx, s.id, &patch, T0 + 40, &u),
			 EALREADY);
	store_write_abort(tx);
	session_clear(&s);
}

static void test_pool(void **state)
{
	struct fx *f = *state;
	struct store_txn *tx;
	struct session s;

	pool_add(f, "+15550000001");
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_add(tx, "+15550000001", "US", T0), EEXIST);
	assert_int_equal(store_pool_add(tx, "12345", "US", T0), EINVAL);
	assert_int_equal(store_pool_remove(tx, "+15550000009", T0), ENOENT);
	store_write_abort(tx);

	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				1000, T0, &s), 0);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_remove(tx, "+15550000001", T0 + 1), EBUSY);
	/* once the session is past its expiry the number can go */
	assert_int_equal(store_pool_remove(tx, "+15550000001", T0 + 1000), 0);
	assert_int_equal(store_write_commit(tx), 0);
	session_clear(&s);
	assert_int_equal(create(f, "+14155550102", "+14155550103", NULL,
				1000, T0 + 2000, NULL), ENOSPC);
}

/* A failed nested transaction leaves its parent's work intact. */
static void test_nested_abort(void **state)
{
	struct fx *f = *state;
	struct session_params p = {
		.party_a = "+14155550100", .party_b = "+14155550101",
		.ttl_ms = 60000,
	};
	struct store_txn *tx, *child;
	struct session s;
	struct store_stats stats;

	pool_add(f, "+15550000001");
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_write_begin(f->st, tx, &child), 0);
	assert_int_equal(store_session_create(child, &p, T0, &s), 0);
	session_clear(&s);
	assert_int_equal(store_write_commit(child), 0);
	assert_int_equal(store_write_begin(f->st, tx, &child), 0);
	p.party_b = "+14155550102";
	assert_int_equal(store_session_create(child, &p, T0, &s), ENOSPC);
	store_write_abort(child);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(store_stats_get(f->r, &stats), 0);
	assert_int_equal(stats.sessions_total, 1);
	assert_int_equal(pool_active(f, "+15550000001"), 1);
}

struct collect {
	char ids[64][STORE_ID_STR_SIZE];
	size_t n;
	uint8_t last[STORE_ID_LEN];
};

static int collect_h(const struct session *s, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < 64);
	store_id_format(s->id, c->ids[c->n++]);
	memcpy(c->last, s->id, STORE_ID_LEN);
	return 0;
}

/* page() - walk every page of @f with page size @limit; return count. */
static size_t page_all(struct fx *f, struct session_filter *flt,
		       unsigned limit, struct collect *all)
{
	bool more = true;

	flt->limit = limit;
	flt->has_cursor = false;
	memset(all, 0, sizeof(*all));
	while (more) {
		struct collect c = { .n = 0 };
		size_t i;

		assert_int_equal(store_session_list(f->r, flt, T0 + 1,
						    collect_h, &c, &more), 0);
		assert_true(c.n <= limit);
		if (more)
			assert_int_equal(c.n, limit);
		for (i = 0; i < c.n; i++)
			strcpy(all->ids[all->n++], c.ids[i]);
		if (c.n) {
			flt->has_cursor = true;
			memcpy(flt->after, c.last, STORE_ID_LEN);
		}
	}
	return all->n;
}

static void test_list_pagination(void **state)
{
	struct fx *f = *state;
	struct session_filter flt;
	struct collect all;
	struct session s;
	char a[E164_SIZE], b[E164_SIZE];
	int i;
	size_t j, k;

	for (i = 0; i < 8; i++) {
		snprintf(a, sizeof(a), "+1555000000%u", (unsigned)i % 10);
		pool_add(f, a);
	}
	/* 30 sessions: party +14155550100 in every third one */
	for (i = 0; i < 30; i++) {
		snprintf(a, sizeof(a), "+1415555%04u", (unsigned)(i % 3 ? 1000 + i : 100) % 10000);
		snprintf(b, sizeof(b), "+1650555%04u", (unsigned)i % 10000);
		assert_int_equal(create(f, a, b, NULL, 60000, T0 + i, &s), 0);
		if (i % 5 == 0)
			assert_int_equal(close_id(f, s.id, T0 + i), 0);
		session_clear(&s);
	}

	memset(&flt, 0, sizeof(flt));
	assert_int_equal(page_all(f, &flt, 7, &all), 30);
	for (j = 0; j < all.n; j++)	/* each exactly once, in order */
		for (k = j + 1; k < all.n; k++)
			assert_true(strcmp(all.ids[j], all.ids[k]) < 0);

	memset(&flt, 0, sizeof(flt));
	flt.party = "+14155550100";
	assert_int_equal(page_all(f, &flt, 3, &all), 10);

	memset(&flt, 0, sizeof(flt));
	flt.by_status = true;
	flt.status = SESSION_CLOSED;
	assert_int_equal(page_all(f, &flt, 4, &all), 6);
	flt.status = SESSION_ACTIVE;
	assert_int_equal(page_all(f, &flt, 1000, &all), 24);

	memset(&flt, 0, sizeof(flt));
	flt.vn = "+15550000000";
	assert_true(page_all(f, &flt, 2, &all) >= 3);

	memset(&flt, 0, sizeof(flt));
	flt.party = "+19999999999";
	assert_int_equal(page_all(f, &flt, 5, &all), 0);
}

/* What was committed is there after close and reopen. */
static void test_reopen(void **state)
{
	struct fx *f = *state;
	struct session s, l;

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				60000, T0, &s), 0);
	store_reader_close(f->r);
	store_close(f->st);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(store_lookup(f->r, "+14155550101", "+15550000001",
				      T0 + 1, &l), 0);
	assert_memory_equal(l.id, s.id, STORE_ID_LEN);
	session_clear(&s);
}

/* A full map fails the write cleanly (EDQUOT), and the store still works. */
static void test_map_full(void **state)
{
	struct fx *f = *state;
	char big[8192];
	struct session_params p = {
		.ttl_ms = 60000, .metadata = big,
	};
	char a[E164_SIZE], b[E164_SIZE];
	struct store *st;
	struct store_reader *r;
	struct store_txn *tx;
	struct session s;
	char path[600];
	int i, rc = 0;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(path, sizeof(path), "%s/small", f->dir);
	assert_int_equal(store_open(&st, path, 1 << 20, NULL), 0);
	assert_int_equal(store_write_begin(st, NULL, &tx), 0);
	assert_int_equal(store_pool_add(tx, "+15550000001", "", T0), 0);
	assert_int_equal(store_write_commit(tx), 0);
	for (i = 0; i < 1000 && !rc; i++) {
		snprintf(a, sizeof(a), "+1415555%04u", (unsigned)(2000 + i) % 10000);
		snprintf(b, sizeof(b), "+1650555%04u", (unsigned)(2000 + i) % 10000);
		p.party_a = a;
		p.party_b = b;
		assert_int_equal(store_write_begin(st, NULL, &tx), 0);
		rc = store_session_create(tx, &p, T0, &s);
		if (rc) {
			store_write_abort(tx);
			break;
		}
		session_clear(&s);
		rc = store_write_commit(tx);
	}
	assert_int_equal(rc, EDQUOT);
	assert_int_equal(store_reader_open(st, &r), 0);
	assert_int_equal(store_lookup(r, "+14155552000", "+15550000001",
				      T0 + 1, &s), 0);
	store_reader_close(r);
	store_close(st);
}

static int cdr_collect(const struct cdr *c, void *arg)
{
	struct cdr *out = arg;
	int i = 0;

	while (out[i].end_ms)
		i++;
	assert_true(i < 3);
	out[i] = *c;
	return 0;
}

static void test_cdr(void **state)
{
	struct fx *f = *state;
	struct cdr c, got[4];
	struct store_txn *tx;
	struct session s1, s2;
	int i;

	pool_add(f, "+15550000001");
	assert_int_equal(create(f, "+14155550100", "+14155550101", NULL,
				60000, T0, &s1), 0);
	assert_int_equal(create(f, "+14155550102", "+14155550103", NULL,
				60000, T0, &s2), 0);
	/* two calls on s1, one on s2, written out of order */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	for (i = 0; i < 3; i++) {
		memset(&c, 0, sizeof(c));
		memcpy(c.session_id, i == 1 ? s2.id : s1.id, STORE_ID_LEN);
		assert_int_equal(store_cdr_id_new(T0 + 1000 * (3 - i), c.id),
				 0);
		c.a_to_b = i == 0;
		c.start_ms = T0 + 1000 * (3 - i);
		c.answer_ms = i == 2 ? 0 : c.start_ms + 500;
		c.end_ms = c.start_ms + 900;
		c.final_code = i == 2 ? 486 : 200;
		c.hangup = i == 2 ? CDR_HANGUP_NONE : CDR_HANGUP_CALLER;
		strcpy(c.reason, i == 2 ? "busy" : "normal");
		assert_int_equal(store_cdr_add(tx, &c), 0);
	}
	assert_int_equal(store_cdr_add(tx, &c), EEXIST);
	assert_int_equal(store_write_commit(tx), 0);

	memset(got, 0, sizeof(got));
	assert_int_equal(store_cdr_list(f->r, s1.id, cdr_collect, got), 0);
	assert_int_equal(got[0].final_code, 486);	/* oldest first */
	assert_string_equal(got[0].reason, "busy");
	assert_int_equal(got[0].answer_ms, 0);
	assert_int_equal(got[1].final_code, 200);
	assert_true(got[1].a_to_b);
	assert_int_equal(got[1].hangup, CDR_HANGUP_CALLER);
	assert_int_equal(got[2].end_ms, 0);		/* only two */
	memset(got, 0, sizeof(got));
	assert_int_equal(store_cdr_list(f->r, s2.id, cdr_collect, got), 0);
	assert_int_equal(got[0].start_ms, T0 + 2000);
	assert_int_equal(got[1].end_ms, 0);
	session_clear(&s1);
	session_clear(&s2);
}

/* Ids made in one millisecond still sort in creation order. */
static void test_id_order(void **state)
{
	struct fx *f = *state;
	struct session s;
	uint8_t prev[STORE_ID_LEN] = { 0 };
	char a[E164_SIZE], b[E164_SIZE];
	int i;

	pool_add(f, "+15550000001");
	for (i = 0; i < 50; i++) {
		snprintf(a, sizeof(a), "+1415555%04u", (unsigned)i);
		snprintf(b, sizeof(b), "+1650555%04u", (unsigned)i);
		assert_int_equal(create(f, a, b, NULL, 60000, T0, &s), 0);
		assert_true(memcmp(prev, s.id, STORE_ID_LEN) < 0);
		memcpy(prev, s.id, STORE_ID_LEN);
		session_clear(&s);
	}
}

/* session_copy(): its own strings, the rest as it was;
 * session_apply_clock(): only an active session past its expiry ends,
 * at its expiry. */
static void test_session_copy_clock(void **state)
{
	struct session a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	snprintf(a.vn, sizeof(a.vn), "+15550000001");
	a.status = SESSION_ACTIVE;
	a.expires_at_ms = 5000;
	a.callback_url = strdup("https://example.com/cb");
	assert_non_null(a.callback_url);
	assert_int_equal(session_copy(&b, &a), 0);
	assert_string_equal(b.vn, "+15550000001");
	assert_string_equal(b.callback_url, "https://example.com/cb");
	assert_ptr_not_equal(b.callback_url, a.callback_url);
	assert_null(b.metadata);
	session_clear(&a);
	assert_string_equal(b.callback_url, "https://example.com/cb");

	session_apply_clock(&b, 4999);
	assert_int_equal(b.status, SESSION_ACTIVE);
	session_apply_clock(&b, 5000);
	assert_int_equal(b.status, SESSION_EXPIRED);
	assert_int_equal(b.ended_at_ms, 5000);
	b.status = SESSION_CLOSED;
	b.ended_at_ms = 100;
	session_apply_clock(&b, 9000);
	assert_int_equal(b.status, SESSION_CLOSED);
	assert_int_equal(b.ended_at_ms, 100);
	session_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_roundtrip),
		cmocka_unit_test(test_session_copy_clock),
		cmocka_unit_test_setup_teardown(test_create_lookup_both_ways,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_create_errors,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_strings_roundtrip,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_close,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_expiry,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pool,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nested_abort,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_list_pagination,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reopen,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_full,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cdr,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_id_order,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
