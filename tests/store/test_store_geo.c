/*
 * test_store_geo.c - geo-match in the store (store_geo.c) against a real
 * environment: country and area picks (least used, ties to the lower
 * number, the pool field deciding for +1), party b, strict and fallback;
 * the pool_geo index holds exactly one entry per pool number of a known
 * country, with its use count, through creates, closes and removals; a
 * store of the previous schema (no pool_geo) opens with it built.
 *
 * White-box where it must be: pool_geo is read from LMDB directly
 * (store_internal.h), so a stale entry cannot hide.
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
#define MAP_SIZE (64ULL << 20)
#define HOUR_MS 3600000LL

#include "store_fx.h"

static void add(struct fx *f, const char *vn, const char *country)
{
	struct store_txn *tx;

	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_add(tx, vn, country, T0), 0);
	assert_int_equal(store_write_commit(tx), 0);
}

static int create(struct fx *f, const char *a, const char *b,
		  enum geo_match gm, bool party_b, bool strict,
		  struct session *out)
{
	struct session_params p = { 0 };
	struct store_txn *tx;
	struct session s;
	int rc;

	p.party_a = a;
	p.party_b = b;
	p.ttl_ms = HOUR_MS;
	p.geo_match = gm;
	p.geo_party_b = party_b;
	p.geo_strict = strict;
	p.geo_area_digits = 3;
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	rc = store_session_create(tx, &p, T0, &s);
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

/* expect_vn() - a create that must succeed on @vn, @matched. */
static void expect_vn(struct fx *f, const char *a, const char *b,
		      enum geo_match gm, bool party_b, const char *vn,
		      bool matched)
{
	struct session s;

	assert_int_equal(create(f, a, b, gm, party_b, false, &s), 0);
	assert_string_equal(s.vn, vn);
	assert_int_equal(s.geo_matched, matched);
	session_clear(&s);
}

/*
 * check_geo() - pool_geo has one entry per pool number with a known
 * country (@known of them), each naming the number's country and use
 * count.
 */
static void check_geo(struct fx *f, size_t known)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &txn),
			 0);
	assert_int_equal(mdb_cursor_open(txn, f->st->pool_geo, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *d = k.mv_data;
		struct pool_number pn;
		char vn[E164_SIZE], c[GEO_COUNTRY_SIZE];
		uint8_t pk[POOL_KEY_SIZE];
		MDB_val kk = store_key_pool(pk, store_be64_get(d + 6)), pv;
		struct rec_pool rp;
		uint32_t count;

		assert_int_equal(k.mv_size, 14);
		store_num_unpack(store_be64_get(d + 6), vn);
		assert_int_equal(store_pool_get(f->r, vn, &pn), 0);
		count = (uint32_t)d[2] << 24 | (uint32_t)d[3] << 16 |
			(uint32_t)d[4] << 8 | d[5];
		assert_int_equal(count, pn.active);
		assert_int_equal(mdb_get(txn, f->st->pool, &kk, &pv), 0);
		memcpy(&rp, pv.mv_data, sizeof(rp));
		store_geo_country(store_be64_get(d + 6), &rp, c);
		assert_int_equal(d[0], (uint8_t)c[0]);
		assert_int_equal(d[1], (uint8_t)c[1]);
		n++;
	}
	assert_int_equal(rc, MDB_NOTFOUND);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	assert_int_equal(n, known);
}

static void test_country(void **state)
{
	struct fx *f = *state;

	add(f, "+14155550002", "");		/* US by digits */
	add(f, "+12125550001", "US");
	add(f, "+14165550001", "");		/* CA by digits */
	add(f, "+14155550001", "CA");		/* CA: the field decides */
	add(f, "+442071230001", "GB");
	add(f, "+99912340001", "");		/* no country at all */
	check_geo(f, 5);

	/* US party: the US numbers, least used, ties to the lower number */
	expect_vn(f, "+13105550100", "+447700900001", GEO_MATCH_COUNTRY,
		  false, "+12125550001", true);
	expect_vn(f, "+13105550101", "+447700900002", GEO_MATCH_COUNTRY,
		  false, "+14155550002", true);
	expect_vn(f, "+13105550102", "+447700900003", GEO_MATCH_COUNTRY,
		  false, "+12125550001", true);
	/* CA party b: the CA-by-field number is the lower one */
	expect_vn(f, "+447700900004", "+16045550100", GEO_MATCH_COUNTRY,
		  true, "+14155550001", true);
	/* GB party a; then GB's only number is a's already */
	expect_vn(f, "+447700900005", "+13105550103", GEO_MATCH_COUNTRY,
		  false, "+442071230001", true);
	assert_int_equal(create(f, "+447700900005", "+13105550104",
				GEO_MATCH_COUNTRY, false, true, NULL),
			 EADDRNOTAVAIL);
	/* fallback: the least-used of the whole pool, a CA one */
	expect_vn(f, "+447700900005", "+13105550105", GEO_MATCH_COUNTRY,
		  false, "+14165550001", false);
	/* a party in no known country: fallback, or refused */
	assert_int_equal(create(f, "+99955550100", "+13105550106",
				GEO_MATCH_COUNTRY, false, true, NULL),
			 EADDRNOTAVAIL);
	/* none asked: never matched; the one idle number */
	expect_vn(f, "+447700900006", "+13105550107", GEO_MATCH_NONE, false,
		  "+99912340001", false);
	check_geo(f, 5);
}

static void test_area(void **state)
{
	struct fx *f = *state;
	struct store_txn *tx;
	struct session s, c;

	add(f, "+14155550001", "");
	add(f, "+14155550002", "");
	add(f, "+1415555000", "");		/* shorter: still 1 415 */
	add(f, "+12125550001", "");
	add(f, "+442071230001", "");
	add(f, "+442081230001", "");
	check_geo(f, 6);

	/* area 1 415: three numbers, the lowest first */
	expect_vn(f, "+14159990001", "+12129990001", GEO_MATCH_AREA, false,
		  "+1415555000", true);
	expect_vn(f, "+14159990002", "+12129990002", GEO_MATCH_AREA, false,
		  "+14155550001", true);
	expect_vn(f, "+14159990003", "+12129990003", GEO_MATCH_AREA, false,
		  "+14155550002", true);
	/* all three used once: least used again, the lowest */
	expect_vn(f, "+14159990004", "+12129990004", GEO_MATCH_AREA, false,
		  "+1415555000", true);
	/* party b, London 20 8... (44 208): only its own area */
	expect_vn(f, "+14159990005", "+442089990001", GEO_MATCH_AREA, true,
		  "+442081230001", true);
	/* country would take either London number; area not the 207 one */
	assert_int_equal(create(f, "+442089990001", "+14159990006",
				GEO_MATCH_AREA, false, true, NULL),
			 EADDRNOTAVAIL);
	expect_vn(f, "+442089990001", "+14159990006", GEO_MATCH_COUNTRY,
		  false, "+442071230001", true);
	/* an area with no number: 1 650 */
	expect_vn(f, "+16509990001", "+14159990007", GEO_MATCH_AREA, false,
		  "+12125550001", false);

	/* a closed session frees its slot in pool_geo too */
	assert_int_equal(create(f, "+16509990002", "+14159990008",
				GEO_MATCH_AREA, true, false, &s), 0);
	assert_true(s.geo_matched);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_session_close(tx, s.id, T0 + 1, &c), 0);
	assert_int_equal(store_write_commit(tx), 0);
	session_clear(&c);
	session_clear(&s);
	check_geo(f, 6);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_remove(tx, "+442071230001", T0 + 2),
			 EBUSY);
	store_write_abort(tx);
}

static void test_remove(void **state)
{
	struct fx *f = *state;
	struct store_txn *tx;

	add(f, "+14155550001", "");
	add(f, "+442071230001", "GB");
	add(f, "+99912340001", "");
	check_geo(f, 2);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_remove(tx, "+14155550001", T0), 0);
	assert_int_equal(store_pool_remove(tx, "+99912340001", T0), 0);
	assert_int_equal(store_write_commit(tx), 0);
	check_geo(f, 1);
	assert_int_equal(create(f, "+14159990001", "+12129990001",
				GEO_MATCH_COUNTRY, false, true, NULL),
			 EADDRNOTAVAIL);
}

/*
 * A store of the previous schema (3): no pool_geo entries, no geo_table
 * fingerprint. It opens as schema 4 with pool_geo built from the pool,
 * and geo picks and removals work on it.
 */
static void test_old_store(void **state)
{
	struct fx *f = *state;
	uint64_t schema = 3;
	MDB_val k = { 6, "schema" }, v = { sizeof(schema), &schema };
	MDB_val gk = { 9, "geo_table" };
	struct store_txn *tx;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	add(f, "+14155550001", "");
	add(f, "+442071230001", "GB");
	add(f, "+14165550001", "");
	store_reader_close(f->r);
	store_close(f->st);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(env, MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(env, f->path, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "pool_geo", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_del(txn, dbi, &gk, NULL), 0);
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
	check_geo(f, 3);
	expect_vn(f, "+16045550100", "+13105550100", GEO_MATCH_COUNTRY, false,
		  "+14165550001", true);
	check_geo(f, 3);
	assert_int_equal(store_write_begin(f->st, NULL, &tx), 0);
	assert_int_equal(store_pool_remove(tx, "+442071230001", T0), 0);
	assert_int_equal(store_write_commit(tx), 0);
	check_geo(f, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_country,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_area,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_old_store,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
