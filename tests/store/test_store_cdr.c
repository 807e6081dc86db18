/*
 * test_store_cdr.c - call records of version 3 (direction, PIN, hook,
 * participants, recording, the VN and the caller): every field
 * round-trips, a record is found by its call id alone, the recorder's
 * update touches only its fields, retention takes the call id index with
 * the record, and stores of schema 4 (version 1 records, no call id
 * index) and 5 (version 2 records) open with their records readable and
 * indexed. Session-less records (no session id: a call maskd answered
 * alone) round-trip, are found by call id and by nobody's session, go by
 * retention on their own end time, and stay within their bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "maskd/store.h"

#define MAP_SIZE (64ULL << 20)
#define T0 1700000000000LL

#include "store_fx.h"
#include "../../src/store/store_internal.h"

static void session_new(struct fx *f, const char *a, const char *b,
			struct session *out)
{
	struct session_params p = {
		.party_a = a, .party_b = b, .ttl_ms = 60000,
	};
	struct store_txn *tx;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_create(tx, &p, T0, out), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

/* A record with every field set to something other than zero. */
static void cdr_full(struct cdr *c, const struct session *s, int64_t at)
{
	int i;

	memset(c, 0, sizeof(*c));
	memcpy(c->session_id, s->id, STORE_ID_LEN);
	assert_int_equal(store_cdr_id_new(at, c->id), 0);
	c->a_to_b = true;
	c->start_ms = at;
	c->answer_ms = at + 500;
	c->end_ms = at + 9000;
	c->final_code = 200;
	c->hangup = CDR_HANGUP_CALLEE;
	strcpy(c->reason, "normal");
	c->pkts_a_to_b = 400;
	c->pkts_b_to_a = 401;
	c->bytes_a_to_b = 68800;
	c->bytes_b_to_a = 68972;
	c->direction = CDR_DIR_API;
	c->pin_status = CDR_PIN_SUCCESS;
	c->pin_attempts = 2;
	c->participants = 3;
	c->hook = CDR_HOOK_CONNECT;
	c->hook_latency_ms = 37;
	c->rec_state = CDR_REC_ACTIVE;
	c->rec_format = 1;
	c->rec_duration_ms = 8500;
	c->rec_bytes = 272044;
	for (i = 0; i < CDR_SHA256_LEN; i++)
		c->rec_sha256[i] = (uint8_t)(i * 7 + 1);
	strcpy(c->rec_reason, "disk_full");
	strcpy(c->vn, "+15550000001");
	strcpy(c->caller, "+14155550199");
}

static void cdr_add(struct fx *f, const struct cdr *c)
{
	struct store_txn *tx;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_add(tx, c), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

/* Every field compared, not the struct: padding is not part of it. */
static void cdr_equal(const struct cdr *a, const struct cdr *b)
{
	assert_memory_equal(a->session_id, b->session_id, STORE_ID_LEN);
	assert_memory_equal(a->id, b->id, STORE_ID_LEN);
	assert_int_equal(a->a_to_b, b->a_to_b);
	assert_int_equal(a->start_ms, b->start_ms);
	assert_int_equal(a->answer_ms, b->answer_ms);
	assert_int_equal(a->end_ms, b->end_ms);
	assert_int_equal(a->final_code, b->final_code);
	assert_int_equal(a->hangup, b->hangup);
	assert_string_equal(a->reason, b->reason);
	assert_int_equal(a->pkts_a_to_b, b->pkts_a_to_b);
	assert_int_equal(a->pkts_b_to_a, b->pkts_b_to_a);
	assert_int_equal(a->bytes_a_to_b, b->bytes_a_to_b);
	assert_int_equal(a->bytes_b_to_a, b->bytes_b_to_a);
	assert_int_equal(a->direction, b->direction);
	assert_int_equal(a->pin_status, b->pin_status);
	assert_int_equal(a->pin_attempts, b->pin_attempts);
	assert_int_equal(a->participants, b->participants);
	assert_int_equal(a->hook, b->hook);
	assert_int_equal(a->hook_latency_ms, b->hook_latency_ms);
	assert_int_equal(a->rec_state, b->rec_state);
	assert_int_equal(a->rec_format, b->rec_format);
	assert_int_equal(a->rec_duration_ms, b->rec_duration_ms);
	assert_int_equal(a->rec_bytes, b->rec_bytes);
	assert_memory_equal(a->rec_sha256, b->rec_sha256, CDR_SHA256_LEN);
	assert_string_equal(a->rec_reason, b->rec_reason);
	assert_string_equal(a->vn, b->vn);
	assert_string_equal(a->caller, b->caller);
}

static int cdr_first(const struct cdr *c, void *arg)
{
	*(struct cdr *)arg = *c;
	return 1;
}

static void test_roundtrip_and_get(void **state)
{
	struct fx *f = *state;
	struct cdr c, got;
	struct session s;
	uint8_t unknown[STORE_ID_LEN];

	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	cdr_full(&c, &s, T0 + 1000);
	cdr_add(f, &c);

	memset(&got, 0, sizeof(got));
	assert_int_equal(store_cdr_list(f->r, s.id, cdr_first, &got), 0);
	cdr_equal(&got, &c);
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_cdr_get(f->r, c.id, &got), 0);
	cdr_equal(&got, &c);

	assert_int_equal(store_cdr_id_new(T0 + 2000, unknown), 0);
	assert_int_equal(store_cdr_get(f->r, unknown, &got), ENOENT);
	session_clear(&s);
}

/* The recorder's update changes the rec_* fields and nothing else. */
static void test_recording_set(void **state)
{
	struct fx *f = *state;
	struct cdr c, upd, got;
	struct store_txn *tx;
	struct session s;

	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	cdr_full(&c, &s, T0 + 1000);
	cdr_add(f, &c);

	memset(&upd, 0xff, sizeof(upd));	/* nothing but rec_* is read */
	upd.rec_state = CDR_REC_READY;
	upd.rec_format = 0;
	upd.rec_duration_ms = 8400;
	upd.rec_bytes = 134444;
	memset(upd.rec_sha256, 0xab, CDR_SHA256_LEN);
	upd.rec_reason[0] = '\0';
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_recording_set(tx, c.id, &upd), 0);
	assert_int_equal(store_write_commit(tx), 0);

	c.rec_state = CDR_REC_READY;
	c.rec_format = 0;
	c.rec_duration_ms = 8400;
	c.rec_bytes = 134444;
	memset(c.rec_sha256, 0xab, CDR_SHA256_LEN);
	c.rec_reason[0] = '\0';
	assert_int_equal(store_cdr_get(f->r, c.id, &got), 0);
	cdr_equal(&got, &c);

	/* a call that is not there: nothing written */
	assert_int_equal(store_cdr_id_new(T0 + 5000, upd.id), 0);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_recording_set(tx, upd.id, &upd), ENOENT);
	store_write_abort(tx);
	session_clear(&s);
}

/* Retention takes the call id index entry with the record. */
static void test_purge_takes_index(void **state)
{
	struct fx *f = *state;
	struct cdr c, got;
	struct store_txn *tx;
	struct session s, closed;
	unsigned ns, nc;

	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	cdr_full(&c, &s, T0 + 1000);
	cdr_add(f, &c);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_close(tx, s.id, T0 + 2000, &closed),
			 0);
	assert_int_equal(store_write_commit(tx), 0);
	session_clear(&closed);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, INT64_MAX, UINT32_MAX, &ns, &nc), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(ns, 1);
	assert_int_equal(nc, 1);
	assert_int_equal(store_cdr_get(f->r, c.id, &got), ENOENT);
	session_clear(&s);
}

/*
 * Turn the store at @path into one of schema 4: call records of version
 * 1 (the version 3 record cut at the first field version 2 added), no
 * cdr_id; or of @schema 5: version 2 records (cut at the first field of
 * version 3), cdr_id kept.
 */
#define V1_MAX 8192

static void make_old(const char *path, uint64_t schema)
{
	MDB_val sk = { 6, "schema" }, sv = { sizeof(schema), &schema };
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_dbi cdr, idx, meta;
	MDB_val k, v;
	static uint8_t keys[V1_MAX][CDR_KEY_SIZE];
	static struct rec_cdr recs[V1_MAX];
	struct rec_cdr rec;
	size_t i, n = 0;
	int rc;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(env, MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "cdr", 0, &cdr), 0);
	assert_int_equal(mdb_dbi_open(txn, "cdr_id", 0, &idx), 0);
	if (schema == 4)
		assert_int_equal(mdb_drop(txn, idx, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_put(txn, meta, &sk, &sv, 0), 0);
	/* read all first: rewriting under a cursor with another size
	 * moves it */
	assert_int_equal(mdb_cursor_open(txn, cdr, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		assert_true(n < V1_MAX);
		assert_int_equal(k.mv_size, CDR_KEY_SIZE);
		assert_int_equal(v.mv_size, sizeof(rec));
		memcpy(keys[n], k.mv_data, CDR_KEY_SIZE);
		memcpy(&recs[n], v.mv_data, sizeof(rec));
		n++;
	}
	assert_int_equal(rc, MDB_NOTFOUND);
	mdb_cursor_close(cur);
	for (i = 0; i < n; i++) {
		recs[i].version = schema == 4 ? 1 : 2;
		k.mv_size = CDR_KEY_SIZE;
		k.mv_data = keys[i];
		v.mv_size = schema == 4 ? REC_CDR_V1_SIZE : REC_CDR_V2_SIZE;
		v.mv_data = &recs[i];
		assert_int_equal(mdb_put(txn, cdr, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_schema4_upgrade(void **state)
{
	struct fx *f = *state;
	enum { N = 5000 };	/* more than one reindex batch */
	static struct cdr c[N];
	struct cdr got, v1;
	struct store_txn *tx;
	struct session s;
	uint64_t schema;
	MDB_txn *rt;
	int i;

	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	for (i = 0; i < N; i++) {
		cdr_full(&c[i], &s, T0 + 1000 + i);
		assert_int_equal(store_cdr_add(tx, &c[i]), 0);
	}
	assert_int_equal(store_write_commit(tx), 0);
	store_reader_close(f->r);
	store_close(f->st);
	make_old(f->path, 4);

	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &rt), 0);
	assert_int_equal(store_meta_get(rt, f->st, "schema", &schema), 0);
	mdb_txn_abort(rt);
	assert_int_equal(schema, STORE_SCHEMA);

	for (i = 0; i < N; i += N / 10 - 1) {
		/* what version 1 held survives; the rest reads as none */
		v1 = c[i];
		v1.direction = CDR_DIR_INBOUND;
		v1.pin_status = CDR_PIN_NONE;
		v1.pin_attempts = 0;
		v1.participants = 0;
		v1.hook = CDR_HOOK_NONE;
		v1.hook_latency_ms = 0;
		v1.rec_state = CDR_REC_NONE;
		v1.rec_format = 0;
		v1.rec_duration_ms = 0;
		v1.rec_bytes = 0;
		memset(v1.rec_sha256, 0, CDR_SHA256_LEN);
		v1.rec_reason[0] = '\0';
		v1.vn[0] = v1.caller[0] = '\0';
		assert_int_equal(store_cdr_get(f->r, c[i].id, &got), 0);
		cdr_equal(&got, &v1);
	}
	/* a version 1 record takes a recording update (and grows to 2) */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_recording_set(tx, c[0].id, &c[0]), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(store_cdr_get(f->r, c[0].id, &got), 0);
	assert_int_equal(got.rec_bytes, c[0].rec_bytes);
	assert_int_equal(got.reason[0], 'n');
	session_clear(&s);
}

/* A schema 5 store (version 2 records) opens as the current schema, its
 * records whole but for the VN and caller they never had; an update
 * makes them 3. */
static void test_schema5_upgrade(void **state)
{
	struct fx *f = *state;
	struct cdr c, got, v2;
	struct session s;
	struct store_txn *tx;
	uint64_t schema;
	MDB_txn *rt;

	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	cdr_full(&c, &s, T0 + 1000);
	cdr_add(f, &c);
	store_reader_close(f->r);
	store_close(f->st);
	make_old(f->path, 5);

	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &rt), 0);
	assert_int_equal(store_meta_get(rt, f->st, "schema", &schema), 0);
	mdb_txn_abort(rt);
	assert_int_equal(schema, STORE_SCHEMA);
	assert_int_equal(STORE_SCHEMA, 7);

	v2 = c;
	v2.vn[0] = v2.caller[0] = '\0';
	assert_int_equal(store_cdr_get(f->r, c.id, &got), 0);
	cdr_equal(&got, &v2);
	assert_false(cdr_sessionless(&got));
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_recording_set(tx, c.id, &c), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(store_cdr_get(f->r, c.id, &got), 0);
	cdr_equal(&got, &v2);
	session_clear(&s);
}

/* A PIN prompt nobody typed a right PIN into: no session, the VN, the
 * outcome; no caller. */
static void cdr_sessionless_new(struct cdr *c, int64_t start, int64_t end)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_cdr_id_new(start, c->id), 0);
	c->start_ms = start;
	c->end_ms = end;
	c->final_code = 200;
	c->hangup = CDR_HANGUP_MASKD;
	strcpy(c->reason, "pin_failed");
	c->pin_status = CDR_PIN_FAILED;
	c->pin_attempts = 2;
	c->pkts_a_to_b = 12;
	strcpy(c->vn, "+15550000002");
}

static void stats(struct fx *f, uint64_t *kept, uint64_t *dropped,
		  uint64_t *purged)
{
	struct store_stats ss;

	assert_int_equal(store_stats_get(f->r, &ss), 0);
	*kept = ss.cdrs_sessionless;
	*dropped = ss.cdrs_sessionless_dropped;
	*purged = ss.purged_cdrs;
}

static void test_sessionless_roundtrip(void **state)
{
	struct fx *f = *state;
	static const uint8_t none[STORE_ID_LEN];
	struct cdr c, a, got;
	struct session s;
	uint64_t kept, dropped, purged;

	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	cdr_full(&a, &s, T0 + 900);
	cdr_add(f, &a);
	cdr_sessionless_new(&c, T0 + 1000, T0 + 13000);
	assert_true(cdr_sessionless(&c));
	assert_false(cdr_sessionless(&a));
	cdr_add(f, &c);

	memset(&got, 0, sizeof(got));
	assert_int_equal(store_cdr_get(f->r, c.id, &got), 0);
	cdr_equal(&got, &c);
	assert_true(cdr_sessionless(&got));
	assert_string_equal(got.caller, "");
	/* no session's list shows it; the session's own is unchanged */
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_cdr_list(f->r, s.id, cdr_first, &got), 0);
	cdr_equal(&got, &a);
	stats(f, &kept, &dropped, &purged);
	assert_int_equal(kept, 1);
	assert_int_equal(dropped, 0);

	/* an announced unknown pair keeps its caller */
	cdr_sessionless_new(&c, T0 + 2000, T0 + 6000);
	strcpy(c.reason, "announced");
	c.pin_status = CDR_PIN_NONE;
	c.pin_attempts = 0;
	c.final_code = 404;
	strcpy(c.caller, "+14155550177");
	cdr_add(f, &c);
	assert_int_equal(store_cdr_get(f->r, c.id, &got), 0);
	cdr_equal(&got, &c);
	assert_memory_equal(got.session_id, none, STORE_ID_LEN);
	stats(f, &kept, &dropped, &purged);
	assert_int_equal(kept, 2);
	session_clear(&s);
}

/* Retention takes session-less records by their own end, oldest first,
 * with their call id entries; an ended session's records as before. */
static void test_sessionless_purge(void **state)
{
	struct fx *f = *state;
	struct cdr c[3], sc, got;
	struct store_txn *tx;
	struct session s, closed;
	uint64_t kept, dropped, purged;
	unsigned ns, nc;
	int64_t at;
	int i;

	assert_int_equal(store_next_ended(f->r, &at), ENOENT);
	for (i = 0; i < 3; i++) {
		cdr_sessionless_new(&c[i], T0 + 1000 * (i + 1),
				    T0 + 1000 * (i + 1) + 500);
		cdr_add(f, &c[i]);
	}
	assert_int_equal(store_next_ended(f->r, &at), 0);
	assert_int_equal(at, T0 + 1500);

	/* an ended session in between: the earlier end is what is next */
	pool_add(f, "+15550000001");
	session_new(f, "+14155550100", "+14155550101", &s);
	cdr_full(&sc, &s, T0 + 100);
	cdr_add(f, &sc);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_close(tx, s.id, T0 + 1200, &closed),
			 0);
	assert_int_equal(store_write_commit(tx), 0);
	session_clear(&closed);
	assert_int_equal(store_next_ended(f->r, &at), 0);
	assert_int_equal(at, T0 + 1200);

	/* a cutoff after the second call's end: two go, and the session
	 * with its record; a budget of 1 takes the oldest alone */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, T0 + 2600, 1, &ns, &nc), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(nc, 1);
	assert_int_equal(store_cdr_get(f->r, c[0].id, &got), ENOENT);
	assert_int_equal(store_cdr_get(f->r, c[1].id, &got), 0);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, T0 + 2600, 100, &ns, &nc), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(ns, 1);
	assert_int_equal(nc, 2);	/* c[1] and the session's record */
	assert_int_equal(store_cdr_get(f->r, c[1].id, &got), ENOENT);
	assert_int_equal(store_cdr_get(f->r, sc.id, &got), ENOENT);
	assert_int_equal(store_cdr_get(f->r, c[2].id, &got), 0);
	cdr_equal(&got, &c[2]);
	stats(f, &kept, &dropped, &purged);
	assert_int_equal(kept, 1);
	assert_int_equal(dropped, 0);
	assert_int_equal(purged, 3);
	assert_int_equal(store_next_ended(f->r, &at), 0);
	assert_int_equal(at, T0 + 3500);

	/* not yet due: nothing goes */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, T0 + 3500, 100, &ns, &nc), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(nc, 0);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, T0 + 3501, 100, &ns, &nc), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(nc, 1);
	assert_int_equal(store_cdr_get(f->r, c[2].id, &got), ENOENT);
	assert_int_equal(store_next_ended(f->r, &at), ENOENT);
	stats(f, &kept, &dropped, &purged);
	assert_int_equal(kept, 0);
	session_clear(&s);
}

/* The bound: the oldest go, at once when it is lowered. */
static void test_sessionless_trim(void **state)
{
	struct fx *f = *state;
	enum { N = 6 };
	struct cdr c[N], got;
	struct store_txn *tx;
	uint64_t kept, dropped, purged;
	unsigned d;
	int i;

	for (i = 0; i < N; i++) {
		cdr_sessionless_new(&c[i], T0 + 1000 * i, T0 + 1000 * i + 10);
		assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
		assert_int_equal(store_cdr_add(tx, &c[i]), 0);
		assert_int_equal(store_cdr_sessionless_trim(tx, 4, &d), 0);
		assert_int_equal(store_write_commit(tx), 0);
		assert_int_equal(d, i < 4 ? 0 : 1);
	}
	stats(f, &kept, &dropped, &purged);
	assert_int_equal(kept, 4);
	assert_int_equal(dropped, 2);
	assert_int_equal(purged, 0);	/* retention did not take them */
	for (i = 0; i < N; i++)
		assert_int_equal(store_cdr_get(f->r, c[i].id, &got),
				 i < 2 ? ENOENT : 0);

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_cdr_sessionless_trim(tx, 1, &d), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(d, 3);
	for (i = 0; i < N; i++)
		assert_int_equal(store_cdr_get(f->r, c[i].id, &got),
				 i < N - 1 ? ENOENT : 0);
	stats(f, &kept, &dropped, &purged);
	assert_int_equal(kept, 1);
	assert_int_equal(dropped, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_and_get,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_recording_set,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_purge_takes_index,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_schema4_upgrade,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_schema5_upgrade,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sessionless_roundtrip,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sessionless_purge,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sessionless_trim,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
