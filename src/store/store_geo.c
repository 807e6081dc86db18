/*
 * store_geo.c - the pool by country, and picking a number local to a
 * party (geo-match).
 *
 * pool_geo: country(2) be32(active) be64(vn) -> "" for every pool number
 * whose country is known, so the numbers of one country sit together,
 * least-used first: a country pick is one cursor walk from the country's
 * first key that skips only the numbers the two parties already use,
 * exactly as store_pool_pick() does over the whole pool. A number's
 * country is its pool `country` field when given (which decides for +1,
 * where the area-code table only guesses), else geo_lookup() of its
 * digits; a number of neither has no entry and is never "local".
 *
 * The entry is kept with the pool_use one (store_pool.c), in the same
 * transaction. It depends on the calling-code table, so a store whose
 * index was built with another table (meta "geo_table") has it rebuilt
 * at open: one pass over the pool.
 *
 * An area pick needs no index of its own: the numbers sharing a party's
 * leading digits are one range of the pool database per number length
 * (pool keys are the numbers, packed and big-endian), walked in number
 * order until the first idle number the parties do not use.
 *
 * Any other store of the pool (the cluster issue's PostgreSQL allocation)
 * must keep exactly this behaviour: local numbers first by the same rules
 * (least used, ties to the lower number, parties' numbers and taken
 * explicit PINs skipped), then the whole pool or EADDRNOTAVAIL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/geo.h"
#include "store_internal.h"

#define GEO_KEY_SIZE (2 + 4 + 8)
#define E164_DIGITS_MAX 15

static MDB_val geo_key(uint8_t buf[GEO_KEY_SIZE], const char country[2],
		       uint32_t count, uint64_t vn)
{
	MDB_val k = { GEO_KEY_SIZE, buf };

	buf[0] = (uint8_t)country[0];
	buf[1] = (uint8_t)country[1];
	buf[2] = (uint8_t)(count >> 24);
	buf[3] = (uint8_t)(count >> 16);
	buf[4] = (uint8_t)(count >> 8);
	buf[5] = (uint8_t)count;
	store_be64_put(buf + 6, vn);
	return k;
}

void store_geo_country(uint64_t vn, const struct rec_pool *p,
		       char out[GEO_COUNTRY_SIZE])
{
	char num[E164_SIZE];

	if (p->country[0] && p->country[1]) {
		out[0] = p->country[0];
		out[1] = p->country[1];
		out[2] = '\0';
		return;
	}
	store_num_unpack(vn, num);
	if (geo_lookup(num, out, NULL))
		out[0] = '\0';
}

int store_geo_put(struct store_txn *tx, uint64_t vn, const struct rec_pool *p)
{
	char c[GEO_COUNTRY_SIZE];
	uint8_t buf[GEO_KEY_SIZE];
	MDB_val k, v = { 0, NULL };

	store_geo_country(vn, p, c);
	if (!c[0])
		return 0;
	k = geo_key(buf, c, p->active, vn);
	return store_err(mdb_put(tx->txn, tx->st->pool_geo, &k, &v, 0));
}

/* A missing entry is an index out of step with the pool: EIO. */
int store_geo_del(struct store_txn *tx, uint64_t vn, const struct rec_pool *p)
{
	char c[GEO_COUNTRY_SIZE];
	uint8_t buf[GEO_KEY_SIZE];
	MDB_val k;
	int rc;

	store_geo_country(vn, p, c);
	if (!c[0])
		return 0;
	k = geo_key(buf, c, p->active, vn);
	rc = mdb_del(tx->txn, tx->st->pool_geo, &k, NULL);
	return rc == MDB_NOTFOUND ? EIO : store_err(rc);
}

static bool in_used(const uint64_t *used, size_t n, uint64_t vn)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (used[mid] == vn)
			return true;
		if (used[mid] < vn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int pick_country(struct store_txn *tx, const char *country,
			const uint64_t *used, size_t n_used, uint64_t *out)
{
	uint8_t buf[GEO_KEY_SIZE];
	MDB_cursor *cur;
	MDB_val k = geo_key(buf, country, 0, 0), v;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, tx->st->pool_geo, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		const uint8_t *d = k.mv_data;

		if (k.mv_size != GEO_KEY_SIZE) {
			rc = EIO;
			break;
		}
		if (d[0] != (uint8_t)country[0] ||
		    d[1] != (uint8_t)country[1]) {
			rc = MDB_NOTFOUND;
			break;
		}
		*out = store_be64_get(d + 6);
		if (!in_used(used, n_used, *out))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? ENOSPC : store_err(rc);
}

/*
 * pick_area() - the least-used number beginning with the digits @prefix
 * (@plen of them) not in @used; ties go to the lower number. Numbers of
 * a given length with that prefix are one key range; shorter numbers are
 * smaller, so walking the lengths upwards walks in number order, and the
 * first idle free number ends the walk.
 */
static int pick_area(struct store_txn *tx, uint64_t prefix, unsigned plen,
		     const uint64_t *used, size_t n_used, uint64_t *out)
{
	uint8_t buf[POOL_KEY_SIZE];
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t scale = 10, best = 0;
	uint32_t best_active = UINT32_MAX;
	unsigned len;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, tx->st->pool, &cur));
	if (rc)
		return rc;
	for (len = plen + 1; len <= E164_DIGITS_MAX && best_active;
	     len++, scale *= 10) {
		uint64_t lo = prefix * scale, hi = (prefix + 1) * scale;

		k = store_key_pool(buf, lo);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		while (rc == 0) {
			struct rec_pool p;
			uint64_t vn;

			if (k.mv_size != POOL_KEY_SIZE ||
			    v.mv_size != sizeof(p)) {
				rc = EIO;
				break;
			}
			vn = store_be64_get(k.mv_data);
			if (vn >= hi)
				break;
			memcpy(&p, v.mv_data, sizeof(p));
			if (p.active < best_active &&
			    !in_used(used, n_used, vn)) {
				best = vn;
				best_active = p.active;
				if (!best_active)
					break;
			}
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	if (rc)
		return store_err(rc);
	if (best_active == UINT32_MAX)
		return ENOSPC;
	*out = best;
	return 0;
}

int store_geo_want(const char *party, enum geo_match m, unsigned area_digits,
		   struct store_geo_want *w)
{
	uint64_t num;
	unsigned cc_len, digits;

	memset(w, 0, sizeof(*w));
	w->match = m;
	if (m == GEO_MATCH_NONE)
		return 0;
	if (store_num_pack(party, &num))
		return EINVAL;
	/* a party the table does not place has no local number */
	if (geo_lookup(party, w->country, &cc_len)) {
		w->unknown = true;
		return 0;
	}
	if (m == GEO_MATCH_AREA) {
		digits = (unsigned)strlen(party) - 1;
		w->prefix_len = cc_len + area_digits;
		if (w->prefix_len >= digits) {
			w->unknown = true;
			return 0;
		}
		w->prefix = num;
		while (digits-- > w->prefix_len)
			w->prefix /= 10;
	}
	return 0;
}

int store_pool_pick_geo(struct store_txn *tx, const struct store_geo_want *w,
			const uint64_t *used, size_t n_used, uint64_t *out)
{
	if (w->match == GEO_MATCH_NONE)
		return store_pool_pick(tx, used, n_used, out);
	if (w->unknown)
		return ENOSPC;
	if (w->match == GEO_MATCH_AREA)
		return pick_area(tx, w->prefix, w->prefix_len, used, n_used,
				 out);
	return pick_country(tx, w->country, used, n_used, out);
}

/* used_add() - insert @vn into the sorted array *used. */
static int used_add(uint64_t **used, size_t *n, size_t *cap, uint64_t vn)
{
	size_t i;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		uint64_t *nu = realloc(*used, ncap * sizeof(*nu));

		if (!nu)
			return ENOMEM;
		*used = nu;
		*cap = ncap;
	}
	for (i = *n; i > 0 && (*used)[i - 1] > vn; i--)
		(*used)[i] = (*used)[i - 1];
	(*used)[i] = vn;
	(*n)++;
	return 0;
}

/*
 * pick_loop() - the least-used number @w matches where the explicit PINs
 * are free: a number where one is taken is excluded (added to *used) and
 * the pick made again. ENOSPC, or ENOTUNIQ when PINs excluded the rest.
 */
static int pick_loop(struct store_txn *tx, const struct store_geo_want *w,
		     bool explicit, const struct session_pin_params *pin,
		     uint64_t **used, size_t *n_used, size_t *cap,
		     bool *pin_skipped, uint64_t *vn)
{
	bool taken = false;
	int rc;

	for (;;) {
		rc = store_pool_pick_geo(tx, w, *used, *n_used, vn);
		if (rc == ENOSPC && *pin_skipped)
			rc = ENOTUNIQ;
		if (!rc && explicit)
			rc = store_pin_pair_taken(tx, *vn, pin, &taken);
		if (rc)
			return rc;
		if (!explicit || !taken)
			return 0;
		*pin_skipped = true;
		rc = used_add(used, n_used, cap, *vn);
		if (rc)
			return rc;
	}
}

int store_alloc_pick(struct store_txn *tx, const struct session_params *p,
		     uint64_t **used, size_t *n_used, size_t *cap,
		     uint64_t *vn, bool *geo_matched)
{
	bool explicit = p->pin.pin_required && !p->pin.generate;
	bool pin_skipped = false;
	struct store_geo_want w;
	int rc;

	*geo_matched = false;
	rc = store_geo_want(p->geo_party_b ? p->party_b : p->party_a,
			    p->geo_match, p->geo_area_digits, &w);
	if (rc)
		return rc;
	rc = pick_loop(tx, &w, explicit, &p->pin, used, n_used, cap,
		       &pin_skipped, vn);
	*geo_matched = !rc && w.match != GEO_MATCH_NONE;
	if ((rc != ENOSPC && rc != ENOTUNIQ) || w.match == GEO_MATCH_NONE)
		return rc;
	/* no local number free (or only ones where a PIN is taken) */
	if (p->geo_strict)
		return rc == ENOSPC ? EADDRNOTAVAIL : rc;
	w.match = GEO_MATCH_NONE;
	return pick_loop(tx, &w, explicit, &p->pin, used, n_used, cap,
			 &pin_skipped, vn);
}

/*
 * store_geo_rebuild() - at open: when meta "geo_table" is not this
 * build's table fingerprint (a store from before pool_geo existed, or
 * another table), empty pool_geo and index every pool number again, in
 * one transaction.
 */
int store_geo_rebuild(struct store *st)
{
	struct store_txn tx = { .st = st, .txn = NULL };
	uint64_t have, want = geo_table_fingerprint(), n = 0;
	MDB_val mk = { 9, "geo_table" }, k, v;
	MDB_cursor *cur = NULL;
	int rc;

	rc = store_err(mdb_txn_begin(st->env, NULL, 0, &tx.txn));
	if (rc)
		return rc;
	rc = store_meta_get(tx.txn, st, "geo_table", &have);
	if (rc || have == want)
		goto out;
	rc = store_err(mdb_drop(tx.txn, st->pool_geo, 0));
	if (!rc)
		rc = store_err(mdb_cursor_open(tx.txn, st->pool, &cur));
	if (rc)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		struct rec_pool p;

		if (k.mv_size != POOL_KEY_SIZE || v.mv_size != sizeof(p)) {
			rc = EIO;
			goto out;
		}
		memcpy(&p, v.mv_data, sizeof(p));
		rc = store_geo_put(&tx, store_be64_get(k.mv_data), &p);
		if (rc)
			goto out;
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
	mdb_cursor_close(cur);
	cur = NULL;
	v.mv_size = sizeof(want);
	v.mv_data = &want;
	if (!rc)
		rc = store_err(mdb_put(tx.txn, st->meta, &mk, &v, 0));
	if (rc)
		goto out;
	if (n)
		log_info(st->log, "store: %llu pool numbers indexed by country",
			 (unsigned long long)n);
	return store_err(mdb_txn_commit(tx.txn));
 out:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(tx.txn);
	return rc;
}
