/*
 * test_store_pin.c - PINs in the store (store_pin.c) against a real
 * environment: the (vn, PIN) index holds exactly the PINs of the active
 * PIN-requiring sessions through create, patch, close, expire and purge;
 * lookups name the session and the party; collisions are refused, and
 * allocation skips a number where an explicit PIN is taken; generated PINs
 * have the asked length, differ and are spread over the digits; a store
 * of the previous schema (version 1 records, no pin database) opens.
 *
 * White-box where it must be: the index's entry count is read from LMDB
 * directly (store_internal.h), so a stale entry cannot hide.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "maskd/store.h"
#include "../../src/store/store_internal.h"

#define T0 1800000000000LL	/* a fixed "now", ms */
#define MAP_SIZE (256ULL << 20)
#define HOUR_MS 3600000LL

#include "store_fx.h"

#define VN1 "+15550000001"
#define VN2 "+15550000002"
#define VN3 "+15550000003"

static void fx_reopen(struct fx *f)
{
	store_reader_close(f->r);
	store_close(f->st);
	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
}

/* create() - store_session_create() in its own transaction, committed
 * when it succeeds, aborted otherwise. Returns its result. */
static int create(struct fx *f, const char *a, const char *b, const char *vn,
		  const struct session_pin_params *pin, int64_t ttl_ms,
		  int64_t now, struct session *out)
{
	struct session_params p = {
		.party_a = a, .party_b = b, .vn = vn, .ttl_ms = ttl_ms,
	};
	struct store_txn *tx;
	struct session s;
	int rc;

	if (pin)
		p.pin = *pin;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_session_create(tx, &p, now, &s);
	if (rc) {
		store_write_abort(tx);
		return rc;
	}
	assert_int_equal(store_write_commit(tx), 0);
	if (out)
		*out = s;
	else
		session_clear(&s);
	return 0;
}

static struct session_pin_params pins(const char *a, const char *b)
{
	struct session_pin_params p = {
		.pin_required = true, .pin_retries = 1, .pin_a = a, .pin_b = b,
	};

	return p;
}

static int patch(struct fx *f, const uint8_t *id,
		 const struct session_patch *pa, int64_t now,
		 struct session *out)
{
	struct store_txn *tx;
	struct session s;
	int rc;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_session_update(tx, id, pa, now, &s);
	if (rc) {
		store_write_abort(tx);
		return rc;
	}
	assert_int_equal(store_write_commit(tx), 0);
	if (out)
		*out = s;
	else
		session_clear(&s);
	return 0;
}

static void close_id(struct fx *f, const uint8_t *id, int64_t now)
{
	struct store_txn *tx;
	struct session s;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_close(tx, id, now, &s), 0);
	session_clear(&s);
	assert_int_equal(store_write_commit(tx), 0);
}

/* pin_entries() - how many entries the pin database holds. */
static size_t pin_entries(struct fx *f)
{
	MDB_txn *txn;
	MDB_stat ms;

	assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &txn),
			 0);
	assert_int_equal(mdb_stat(txn, f->st->pin, &ms), 0);
	mdb_txn_abort(txn);
	return ms.ms_entries;
}

static void expect_pin(struct fx *f, const char *vn, const char *pin,
		       int64_t now, const uint8_t *id, enum pin_party party)
{
	struct session s;
	enum pin_party got;

	assert_int_equal(store_pin_lookup(f->r, vn, pin, now, &s, &got), 0);
	assert_memory_equal(s.id, id, STORE_ID_LEN);
	assert_int_equal(got, party);
	assert_int_equal(s.status, SESSION_ACTIVE);
	assert_true(s.pin_required);
	assert_string_equal(party == PIN_PARTY_A ? s.pin_a : s.pin_b, pin);
	assert_string_equal(s.vn, vn);
}

static void expect_no_pin(struct fx *f, const char *vn, const char *pin,
			  int64_t now)
{
	struct session s;

	assert_int_equal(store_pin_lookup(f->r, vn, pin, now, &s, NULL),
			 ENOENT);
}

/* check_index() - the pin index is exactly the PINs of the active
 * PIN-requiring sessions: each of theirs looks up to them, and there are
 * no other entries. (Collected first: a lookup needs the reader that the
 * listing holds.) */
#define CHECK_MAX 1000

struct idx_check {
	size_t n;
	struct session s[CHECK_MAX];
};

static int check_one(const struct session *s, void *arg)
{
	struct idx_check *c = arg;

	assert_true(c->n < CHECK_MAX);
	c->s[c->n] = *s;
	c->s[c->n].callback_url = NULL;
	c->s[c->n].metadata = NULL;
	c->n++;
	return 0;
}

static void check_index(struct fx *f, int64_t now)
{
	static struct idx_check c;
	struct session_filter flt = {
		.by_status = true, .status = SESSION_ACTIVE, .limit = 1000,
	};
	size_t i, want = 0;
	bool more;

	c.n = 0;
	assert_int_equal(store_session_list(f->r, &flt, now, check_one, &c,
					    &more), 0);
	assert_false(more);
	for (i = 0; i < c.n; i++) {
		const struct session *s = &c.s[i];

		if (!s->pin_required)
			continue;
		expect_pin(f, s->vn, s->pin_a, now, s->id, PIN_PARTY_A);
		expect_pin(f, s->vn, s->pin_b, now, s->id, PIN_PARTY_B);
		want += 2;
	}
	assert_int_equal(pin_entries(f), want);
}

static void test_create_lookup(void **state)
{
	struct fx *f = *state;
	struct session_pin_params p = pins("1234", "567890");
	struct session s, t, u;
	bool yes;

	pool_add(f, VN1);
	pool_add(f, VN2);
	assert_int_equal(create(f, "+14150000001", "+14150000002", VN1, &p,
				HOUR_MS, T0, &s), 0);
	assert_true(s.pin_required);
	assert_int_equal(s.pin_retries, 1);
	assert_string_equal(s.pin_a, "1234");
	assert_string_equal(s.pin_b, "567890");
	expect_pin(f, VN1, "1234", T0, s.id, PIN_PARTY_A);
	expect_pin(f, VN1, "567890", T0, s.id, PIN_PARTY_B);
	expect_no_pin(f, VN1, "12345", T0);	/* longer: another PIN */
	expect_no_pin(f, VN1, "123", T0);	/* not a PIN at all */
	expect_no_pin(f, VN2, "1234", T0);	/* another number */
	expect_no_pin(f, "bogus", "1234", T0);
	assert_int_equal(store_pin_vn_active(f->r, VN1, &yes), 0);
	assert_true(yes);
	assert_int_equal(store_pin_vn_active(f->r, VN2, &yes), 0);
	assert_false(yes);

	/* GET returns them; a pair lookup carries none */
	assert_int_equal(store_session_get(f->r, s.id, T0, &t), 0);
	assert_true(t.pin_required);
	assert_string_equal(t.pin_a, "1234");
	assert_string_equal(t.pin_b, "567890");
	session_clear(&t);
	assert_int_equal(store_lookup(f->r, "+14150000001", VN1, T0, &t), 0);
	assert_false(t.pin_required);
	assert_string_equal(t.pin_a, "");

	/* PINs kept without pin_required are not indexed: they reach no one
	 * and block no one */
	p.pin_required = false;
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN2, &p,
				HOUR_MS, T0, &u), 0);
	assert_false(u.pin_required);
	assert_string_equal(u.pin_a, "1234");
	expect_no_pin(f, VN2, "1234", T0);
	assert_int_equal(store_pin_vn_active(f->r, VN2, &yes), 0);
	assert_false(yes);
	check_index(f, T0);

	/* past expires_at, before the sweeper: found no more */
	expect_no_pin(f, VN1, "1234", T0 + HOUR_MS);
	/* and after reopening, all still there */
	fx_reopen(f);
	expect_pin(f, VN1, "567890", T0, s.id, PIN_PARTY_B);
	check_index(f, T0);
	session_clear(&s);
	session_clear(&u);
}

static void test_refused(void **state)
{
	struct fx *f = *state;
	struct session_pin_params p;
	size_t before;

	pool_add(f, VN1);
	p = pins("1111", "2222");
	assert_int_equal(create(f, "+14150000001", "+14150000002", VN1, &p,
				HOUR_MS, T0, NULL), 0);
	before = pin_entries(f);

	/* either PIN taken on the explicit number: ENOTUNIQ, nothing kept */
	p = pins("3333", "1111");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), ENOTUNIQ);
	p = pins("2222", "4444");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), ENOTUNIQ);
	assert_int_equal(pin_entries(f), before);

	/* malformed */
	p = pins("1111", "1111");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins("123", "4567");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins("1234567890123456", "4567");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins("12a4", "4567");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins("1234", NULL);
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins(NULL, NULL);	/* pin_required without PINs */
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins("5555", "6666");
	p.pin_retries = STORE_PIN_RETRIES_MAX + 1;
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p = pins(NULL, NULL);
	p.generate = true;
	p.pin_length = STORE_PIN_MIN - 1;
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	p.pin_length = STORE_PIN_MAX + 1;
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0, NULL), EINVAL);
	assert_int_equal(pin_entries(f), before);
	check_index(f, T0);
}

/* Allocation takes the least-used number where the PINs are free. */
static void test_alloc_skips(void **state)
{
	struct fx *f = *state;
	struct session_pin_params p;
	struct session s;

	pool_add(f, VN1);
	pool_add(f, VN2);
	pool_add(f, VN3);
	/* VN1 used once (with PIN 1111), VN2 twice, VN3 three times */
	p = pins("1111", "2222");
	assert_int_equal(create(f, "+14150000001", "+14150000002", VN1, &p,
				HOUR_MS, T0, NULL), 0);
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN2, NULL,
				HOUR_MS, T0, NULL), 0);
	assert_int_equal(create(f, "+14150000005", "+14150000006", VN2, NULL,
				HOUR_MS, T0, NULL), 0);
	p = pins("1111", "7777");
	assert_int_equal(create(f, "+14150000007", "+14150000008", VN3, &p,
				HOUR_MS, T0, NULL), 0);
	assert_int_equal(create(f, "+14150000009", "+14150000010", VN3, NULL,
				HOUR_MS, T0, NULL), 0);
	assert_int_equal(create(f, "+14150000011", "+14150000012", VN3, NULL,
				HOUR_MS, T0, NULL), 0);

	/* free PINs: the least-used, VN1 */
	p = pins("8888", "9999");
	assert_int_equal(create(f, "+14150000013", "+14150000014", NULL, &p,
				HOUR_MS, T0, &s), 0);
	assert_string_equal(s.vn, VN1);
	session_clear(&s);
	/* 2222 is taken on VN1: VN2 */
	p = pins("4444", "2222");
	assert_int_equal(create(f, "+14150000015", "+14150000016", NULL, &p,
				HOUR_MS, T0, &s), 0);
	assert_string_equal(s.vn, VN2);
	session_clear(&s);
	/* 1111 is taken on VN1 and VN3, 4444 now on VN2: nowhere */
	p = pins("1111", "4444");
	assert_int_equal(create(f, "+14150000017", "+14150000018", NULL, &p,
				HOUR_MS, T0, NULL), ENOTUNIQ);
	/* a pair with no number left is still pool_exhausted */
	assert_int_equal(create(f, "+14150000001", "+14150000003", NULL, NULL,
				HOUR_MS, T0, &s), 0);
	assert_string_equal(s.vn, VN3);
	session_clear(&s);
	assert_int_equal(create(f, "+14150000001", "+14150000003", NULL, NULL,
				HOUR_MS, T0, NULL), ENOSPC);
	/* generated PINs never move the pick: still the least-used */
	p = pins(NULL, NULL);
	p.generate = true;
	p.pin_length = 4;
	assert_int_equal(create(f, "+14150000019", "+14150000020", NULL, &p,
				HOUR_MS, T0, &s), 0);
	assert_string_equal(s.vn, VN1);
	session_clear(&s);
	check_index(f, T0);
}

/* The index follows every change: patch, close, expire, purge. */
static void test_lifecycle(void **state)
{
	struct fx *f = *state;
	struct session_pin_params p = pins("1234", "5678");
	struct session_patch pa;
	struct session s, t, u;
	struct store_txn *tx;
	unsigned n;

	pool_add(f, VN1);
	assert_int_equal(create(f, "+14150000001", "+14150000002", VN1, &p,
				HOUR_MS, T0, &s), 0);
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, NULL,
				2 * HOUR_MS, T0, &t), 0);
	check_index(f, T0);

	/* t takes PINs; one of s's is refused, and t stays as it was */
	memset(&pa, 0, sizeof(pa));
	pa.set_pins = true;
	pa.set_pin_required = true;
	pa.pin = pins("5678", "4321");
	assert_int_equal(patch(f, t.id, &pa, T0 + 1, NULL), ENOTUNIQ);
	assert_int_equal(store_session_get(f->r, t.id, T0 + 1, &u), 0);
	assert_false(u.pin_required);
	assert_string_equal(u.pin_a, "");
	session_clear(&u);
	pa.pin = pins("8765", "4321");
	assert_int_equal(patch(f, t.id, &pa, T0 + 1, &u), 0);
	assert_string_equal(u.pin_a, "8765");
	session_clear(&u);
	check_index(f, T0 + 1);

	/* pin_required on without PINs: EINVAL */
	{
		struct session v;

		assert_int_equal(create(f, "+14150000005", "+14150000006",
					VN1, NULL, HOUR_MS, T0, &v), 0);
		memset(&pa, 0, sizeof(pa));
		pa.set_pin_required = true;
		pa.pin.pin_required = true;
		assert_int_equal(patch(f, v.id, &pa, T0 + 1, NULL), EINVAL);
		session_clear(&v);
	}

	/* s: off (its PINs kept, unindexed), then taken by nobody, on */
	memset(&pa, 0, sizeof(pa));
	pa.set_pin_required = true;
	pa.pin.pin_required = false;
	assert_int_equal(patch(f, s.id, &pa, T0 + 2, &u), 0);
	assert_string_equal(u.pin_a, "1234");
	session_clear(&u);
	expect_no_pin(f, VN1, "1234", T0 + 2);
	check_index(f, T0 + 2);
	pa.pin.pin_required = true;
	pa.set_pin_retries = true;
	pa.pin.pin_retries = 5;
	assert_int_equal(patch(f, s.id, &pa, T0 + 3, &u), 0);
	assert_int_equal(u.pin_retries, 5);
	session_clear(&u);
	expect_pin(f, VN1, "1234", T0 + 3, s.id, PIN_PARTY_A);
	check_index(f, T0 + 3);

	/* regenerate: the old PINs are free for another at once */
	memset(&pa, 0, sizeof(pa));
	pa.set_pins = true;
	pa.pin.generate = true;
	pa.pin.pin_length = 9;
	assert_int_equal(patch(f, s.id, &pa, T0 + 4, &u), 0);
	assert_int_equal(strlen(u.pin_a), 9);
	assert_int_equal(strlen(u.pin_b), 9);
	assert_string_not_equal(u.pin_a, u.pin_b);
	expect_pin(f, VN1, u.pin_b, T0 + 4, s.id, PIN_PARTY_B);
	session_clear(&u);
	expect_no_pin(f, VN1, "1234", T0 + 4);
	check_index(f, T0 + 4);

	/* close s: its entries go */
	close_id(f, s.id, T0 + 5);
	check_index(f, T0 + 5);
	assert_int_equal(pin_entries(f), 2);	/* t's */
	/* expire t (2 h): its entries go too */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_expire_due(tx, T0 + 2 * HOUR_MS, UINT32_MAX,
					  &n), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(n, 2);		/* t and the pin-less one (1 h) */
	assert_int_equal(pin_entries(f), 0);
	expect_no_pin(f, VN1, "8765", T0 + 2 * HOUR_MS);
	/* an ended session cannot take PINs back */
	memset(&pa, 0, sizeof(pa));
	pa.set_pins = true;
	pa.pin = pins("1234", "5678");
	assert_int_equal(patch(f, t.id, &pa, T0 + 2 * HOUR_MS, NULL),
			 EALREADY);
	/* their PINs are free for a new session */
	p = pins("8765", "4321");
	assert_int_equal(create(f, "+14150000007", "+14150000008", VN1, &p,
				HOUR_MS, T0 + 2 * HOUR_MS, &u), 0);
	check_index(f, T0 + 2 * HOUR_MS);

	/* retention: the ended ones go, the active one's entries stay */
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_purge(tx, INT64_MAX, UINT32_MAX, &n, NULL), 0);
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(n, 3);
	expect_pin(f, VN1, "8765", T0 + 2 * HOUR_MS, u.id, PIN_PARTY_A);
	check_index(f, T0 + 2 * HOUR_MS);
	assert_int_equal(pin_entries(f), 2);
	session_clear(&s);
	session_clear(&t);
	session_clear(&u);
}

#define GEN_SESSIONS 400

/* Generated PINs: the asked length, digits only, a != b, unique on the
 * number, and each digit about as frequent as any other. */
static void test_generate(void **state)
{
	struct fx *f = *state;
	struct session_pin_params p = pins(NULL, NULL);
	unsigned count[10] = { 0 }, len, i, total = 0;
	char a[20], b[20];
	struct session s;

	pool_add(f, VN1);
	p.generate = true;
	for (len = STORE_PIN_MIN; len <= STORE_PIN_MAX; len++) {
		p.pin_length = len;
		snprintf(a, sizeof(a), "+1416%07u", len);
		snprintf(b, sizeof(b), "+1417%07u", len);
		assert_int_equal(create(f, a, b, VN1, &p, HOUR_MS, T0, &s), 0);
		assert_int_equal(strlen(s.pin_a), len);
		assert_int_equal(strlen(s.pin_b), len);
		assert_true(store_pin_valid(s.pin_a));
		assert_true(store_pin_valid(s.pin_b));
		assert_string_not_equal(s.pin_a, s.pin_b);
		session_clear(&s);
	}
	/* 4-digit PINs: 800 on one number of 10^4, so collisions are drawn
	 * and must be drawn again; the index refuses duplicates anyway, and
	 * check_index() proves each PIN names its own session */
	p.pin_length = 4;
	for (i = 0; i < GEN_SESSIONS; i++) {
		snprintf(a, sizeof(a), "+1418%07u", i);
		snprintf(b, sizeof(b), "+1419%07u", i);
		assert_int_equal(create(f, a, b, VN1, &p, HOUR_MS, T0, &s), 0);
		for (len = 0; len < 4; len++) {
			count[s.pin_a[len] - '0']++;
			count[s.pin_b[len] - '0']++;
			total += 2;
		}
		session_clear(&s);
	}
	check_index(f, T0);
	assert_int_equal(pin_entries(f), 2 * (GEN_SESSIONS + STORE_PIN_MAX -
						STORE_PIN_MIN + 1));
	/* 3200 digits, 320 expected each, sd ~17: 6 sd either side */
	for (i = 0; i < 10; i++) {
		assert_true(count[i] > total / 10 - 110);
		assert_true(count[i] < total / 10 + 110);
	}
}

/*
 * A store of the previous schema: version 1 session records (no PIN tail),
 * no pin database, schema 2. It opens as schema 3, its sessions read with
 * no PINs and can be given some, and they close cleanly.
 */
static void test_old_store(void **state)
{
	struct fx *f = *state;
	uint64_t schema = 2;
	MDB_val k = { 6, "schema" }, v = { sizeof(schema), &schema };
	struct session s, t;
	struct session_patch pa;
	struct session_pin_params p;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val ck, cv;
	int rc;

	pool_add(f, VN1);
	assert_int_equal(create(f, "+14150000001", "+14150000002", VN1, NULL,
				HOUR_MS, T0, &s), 0);
	store_reader_close(f->r);
	store_close(f->st);

	/* rewrite every session as version 1 */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(env, f->path, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "sessions", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &ck, &cv, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT)) {
		char buf[4096];
		struct rec_session rec;

		assert_true(cv.mv_size < sizeof(buf));
		memcpy(buf, cv.mv_data, cv.mv_size);
		memcpy(&rec, buf, sizeof(rec));
		assert_int_equal(rec.version, 2);
		buf[offsetof(struct rec_session, version)] = 1;
		cv.mv_data = buf;
		cv.mv_size -= sizeof(struct rec_pin);
		assert_int_equal(mdb_cursor_put(cur, &ck, &cv, MDB_CURRENT),
				 0);
	}
	assert_int_equal(rc, MDB_NOTFOUND);
	mdb_cursor_close(cur);
	assert_int_equal(mdb_dbi_open(txn, "pin", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(store_open(&f->st, f->path, MAP_SIZE, NULL), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	{
		MDB_txn *rt;

		assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY,
					       &rt), 0);
		assert_int_equal(store_meta_get(rt, f->st, "schema", &schema),
				 0);
		mdb_txn_abort(rt);
	}
	assert_int_equal(schema, STORE_SCHEMA);
	assert_int_equal(store_session_get(f->r, s.id, T0, &t), 0);
	assert_false(t.pin_required);
	assert_string_equal(t.pin_a, "");
	session_clear(&t);

	/* the old session takes PINs (rewritten as version 2), and ends */
	memset(&pa, 0, sizeof(pa));
	pa.set_pins = pa.set_pin_required = true;
	pa.pin = pins("2468", "1357");
	assert_int_equal(patch(f, s.id, &pa, T0 + 1, NULL), 0);
	expect_pin(f, VN1, "1357", T0 + 1, s.id, PIN_PARTY_B);
	p = pins("2468", "0000");
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p,
				HOUR_MS, T0 + 1, NULL), ENOTUNIQ);
	close_id(f, s.id, T0 + 2);
	check_index(f, T0 + 2);
	assert_int_equal(pin_entries(f), 0);
	session_clear(&s);
}

/* What a PIN prompt asks of a vn: the lengths in use, the longest, the
 * largest retries (store_pin_vn_info()), and whether a longer PIN starts
 * with the digits typed (store_pin_extends()). */
static void test_vn_info_extends(void **state)
{
	struct fx *f = *state;
	struct session_pin_params p1 = pins("1234", "567890");
	struct session_pin_params p2 = pins("12345", "99999");
	struct pin_vn_info info;
	struct session s1, s2;
	bool yes;

	pool_add(f, VN1);
	pool_add(f, VN2);
	p2.pin_retries = 3;
	assert_int_equal(create(f, "+14150000001", "+14150000002", VN1, &p1,
				HOUR_MS, T0, &s1), 0);
	assert_int_equal(create(f, "+14150000003", "+14150000004", VN1, &p2,
				HOUR_MS, T0, &s2), 0);
	assert_int_equal(create(f, "+14150000005", "+14150000006", VN2, NULL,
				HOUR_MS, T0, NULL), 0);

	assert_int_equal(store_pin_vn_info(f->r, VN1, &info), 0);
	assert_int_equal(info.lengths, (1u << 4) | (1u << 5) | (1u << 6));
	assert_int_equal(info.longest, 6);
	assert_int_equal(info.retries, 3);
	assert_int_equal(store_pin_vn_info(f->r, VN2, &info), 0);
	assert_int_equal(info.lengths, 0);
	assert_int_equal(info.longest, 0);
	assert_int_equal(store_pin_vn_info(f->r, "bogus", &info), 0);
	assert_int_equal(info.longest, 0);

	assert_int_equal(store_pin_extends(f->r, VN1, "1234", &yes), 0);
	assert_true(yes);			/* 12345 */
	assert_int_equal(store_pin_extends(f->r, VN1, "12345", &yes), 0);
	assert_false(yes);
	assert_int_equal(store_pin_extends(f->r, VN1, "5678", &yes), 0);
	assert_true(yes);			/* 567890, no 5678 itself */
	assert_int_equal(store_pin_extends(f->r, VN1, "567890", &yes), 0);
	assert_false(yes);
	assert_int_equal(store_pin_extends(f->r, VN1, "9", &yes), 0);
	assert_true(yes);
	assert_int_equal(store_pin_extends(f->r, VN1, "0000", &yes), 0);
	assert_false(yes);
	assert_int_equal(store_pin_extends(f->r, VN1, "99999", &yes), 0);
	assert_false(yes);			/* the last key of the vn */
	assert_int_equal(store_pin_extends(f->r, VN2, "1234", &yes), 0);
	assert_false(yes);			/* another vn's */

	/* the second session ends: its PINs, length and retries go */
	close_id(f, s2.id, T0 + 1);
	assert_int_equal(store_pin_vn_info(f->r, VN1, &info), 0);
	assert_int_equal(info.lengths, (1u << 4) | (1u << 6));
	assert_int_equal(info.longest, 6);
	assert_int_equal(info.retries, 1);
	assert_int_equal(store_pin_extends(f->r, VN1, "1234", &yes), 0);
	assert_false(yes);
	session_clear(&s1);
	session_clear(&s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_lookup,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_alloc_skips,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_generate,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_old_store,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_vn_info_extends,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
