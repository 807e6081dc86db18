/*
 * store_pool.c - the virtual-number pool and its use counts.
 *
 * Each number has a use count (its active sessions) kept twice: in its
 * pool value, and as the sort prefix of a pool_use key, be32(count) vn.
 * Walking pool_use from the start visits numbers least-used first, so
 * choosing a number for a new session costs one cursor walk that skips
 * only the numbers its two parties already use.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "store_internal.h"

static int pool_read(MDB_txn *txn, struct store *st, uint64_t vn,
		     struct rec_pool *out)
{
	uint8_t buf[POOL_KEY_SIZE];
	MDB_val k = store_key_pool(buf, vn);
	MDB_val v;
	int rc;

	rc = mdb_get(txn, st->pool, &k, &v);
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(*out))
		return EIO;
	memcpy(out, v.mv_data, sizeof(*out));
	return 0;
}

static int pool_write(struct store_txn *tx, uint64_t vn,
		      const struct rec_pool *p)
{
	uint8_t buf[POOL_KEY_SIZE];
	MDB_val k = store_key_pool(buf, vn);
	MDB_val v = { sizeof(*p), (void *)p };

	return store_err(mdb_put(tx->txn, tx->st->pool, &k, &v, 0));
}

static int pool_use_put(struct store_txn *tx, uint32_t count, uint64_t vn)
{
	uint8_t buf[POOL_USE_KEY_SIZE];
	MDB_val k = store_key_pool_use(buf, count, vn);
	MDB_val v = { 0, NULL };

	return store_err(mdb_put(tx->txn, tx->st->pool_use, &k, &v, 0));
}

static int pool_use_del(struct store_txn *tx, uint32_t count, uint64_t vn)
{
	uint8_t buf[POOL_USE_KEY_SIZE];
	MDB_val k = store_key_pool_use(buf, count, vn);

	return store_err(mdb_del(tx->txn, tx->st->pool_use, &k, NULL));
}

int store_pool_exists(struct store_txn *tx, uint64_t vn)
{
	struct rec_pool p;

	return pool_read(tx->txn, tx->st, vn, &p);
}

int store_pool_add(struct store_txn *tx, const char *vn, const char *country,
		   int64_t now_ms)
{
	struct rec_pool p;
	uint64_t num;
	int rc;

	if (store_num_pack(vn, &num))
		return EINVAL;
	rc = pool_read(tx->txn, tx->st, num, &p);
	if (rc == 0)
		return EEXIST;
	if (rc != ENOENT)
		return rc;

	memset(&p, 0, sizeof(p));
	if (country)
		strncpy(p.country, country, sizeof(p.country) - 1);
	p.added_at_ms = now_ms;
	rc = pool_write(tx, num, &p);
	if (!rc)
		rc = store_geo_put(tx, num, &p);
	if (rc)
		return rc;
	return pool_use_put(tx, 0, num);
}

int store_pool_remove(struct store_txn *tx, const char *vn, int64_t now_ms)
{
	uint8_t buf[POOL_KEY_SIZE];
	struct rec_pool p;
	uint64_t num;
	MDB_val k;
	int rc;

	if (store_num_pack(vn, &num))
		return ENOENT;	/* never a pool number */
	/* a session past its expiry must not keep its number pinned */
	rc = store_expire_due(tx, now_ms, UINT32_MAX, NULL);
	if (rc)
		return rc;
	rc = pool_read(tx->txn, tx->st, num, &p);
	if (rc)
		return rc;
	if (p.active > 0)
		return EBUSY;
	rc = pool_use_del(tx, p.active, num);
	if (!rc)
		rc = store_geo_del(tx, num, &p);
	if (rc)
		return rc;
	k = store_key_pool(buf, num);
	return store_err(mdb_del(tx->txn, tx->st->pool, &k, NULL));
}

/*
 * store_pool_adjust() - one more or one fewer active session on @vn.
 * A number removed from the pool while in use cannot happen (EBUSY above),
 * so a missing number here means a corrupt store: report EIO.
 */
int store_pool_adjust(struct store_txn *tx, uint64_t vn, int delta)
{
	struct rec_pool p;
	uint32_t old;
	int rc;

	rc = pool_read(tx->txn, tx->st, vn, &p);
	if (rc == ENOENT)
		return EIO;
	if (rc)
		return rc;
	old = p.active;
	if (delta < 0 && old < (uint32_t)-delta)
		return EIO;
	p.active = (uint32_t)((int64_t)old + delta);
	/*
	 * The new key before the old one goes: with a pool of one number,
	 * deleting first would empty the tree, and LMDB puts an emptied
	 * root on the freed list, where this transaction cannot reuse it -
	 * a page lost per session ended, 13 MB for 3,000 in one sweep.
	 */
	if (p.active != old) {
		struct rec_pool was = p;

		was.active = old;
		rc = pool_use_put(tx, p.active, vn);
		if (!rc)
			rc = pool_use_del(tx, old, vn);
		/* the same order, for the same reason, in pool_geo */
		if (!rc)
			rc = store_geo_put(tx, vn, &p);
		if (!rc)
			rc = store_geo_del(tx, vn, &was);
		if (rc)
			return rc;
	}
	return pool_write(tx, vn, &p);
}

static bool in_sorted(const uint64_t *used, size_t n, uint64_t vn)
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

int store_pool_pick(struct store_txn *tx, const uint64_t *used,
		    size_t n_used, uint64_t *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, tx->st->pool_use, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size != POOL_USE_KEY_SIZE) {
			rc = EIO;
			break;
		}
		*out = store_be64_get((uint8_t *)k.mv_data + 4);
		if (!in_sorted(used, n_used, *out))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return ENOSPC;
	return store_err(rc);
}

int store_pool_get(struct store_reader *r, const char *vn,
		   struct pool_number *out)
{
	struct rec_pool p;
	uint64_t num;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_num_pack(vn, &num) ? ENOENT :
	     pool_read(r->txn, r->st, num, &p);
	store_reader_end(r);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	strncpy(out->vn, vn, sizeof(out->vn) - 1);
	memcpy(out->country, p.country, sizeof(out->country));
	out->country[STORE_COUNTRY_SIZE - 1] = '\0';
	out->active = p.active;
	out->added_at_ms = p.added_at_ms;
	return 0;
}

int store_pool_list(struct store_reader *r, pool_list_h *h, void *arg)
{
	struct pool_number n;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->pool, &cur));
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
		memset(&n, 0, sizeof(n));
		store_num_unpack(store_be64_get(k.mv_data), n.vn);
		memcpy(n.country, p.country, sizeof(n.country));
		n.country[STORE_COUNTRY_SIZE - 1] = '\0';
		n.active = p.active;
		n.added_at_ms = p.added_at_ms;
		if (h(&n, arg))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
 out:
	if (cur)
		mdb_cursor_close(cur);
	store_reader_end(r);
	return rc;
}
