/*
 * store_idxq.c - the index queue (store_mirror.h): the listing index
 * entries of mirrored sessions, written into the party and vn indexes
 * later and many at once.
 *
 * Keys are a sequence, as the export queue's (store_queue_append()):
 * records are appended at the end and taken from the front.
 */
#include <errno.h>
#include <string.h>

#include "maskd/store_mirror.h"

#include "store_internal.h"

/* id(16) be64(party_a) be64(party_b) be64(vn) */
#define IDXQ_VAL_SIZE (STORE_ID_LEN + 3 * 8)

struct idxq_rec {
	uint8_t id[STORE_ID_LEN];
	uint64_t a, b, vn;
};

static int idxq_decode(const MDB_val *k, const MDB_val *v,
		       struct idxq_rec *out)
{
	const uint8_t *p = v->mv_data;

	if (k->mv_size != 8 || v->mv_size != IDXQ_VAL_SIZE)
		return EIO;
	memcpy(out->id, p, STORE_ID_LEN);
	out->a = store_be64_get(p + STORE_ID_LEN);
	out->b = store_be64_get(p + STORE_ID_LEN + 8);
	out->vn = store_be64_get(p + STORE_ID_LEN + 16);
	return 0;
}

int store_idxq_put(struct store_txn *tx, const struct session *s)
{
	uint8_t val[IDXQ_VAL_SIZE];
	uint64_t a, b, vn;

	if (store_num_pack(s->party_a, &a) || store_num_pack(s->party_b, &b) ||
	    store_num_pack(s->vn, &vn))
		return EINVAL;
	memcpy(val, s->id, STORE_ID_LEN);
	store_be64_put(val + STORE_ID_LEN, a);
	store_be64_put(val + STORE_ID_LEN + 8, b);
	store_be64_put(val + STORE_ID_LEN + 16, vn);
	return store_queue_append(tx, tx->st->idxq, val, sizeof(val));
}

int store_idx_put(struct store_txn *tx, MDB_dbi dbi, uint64_t num,
		  const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[IDX_KEY_SIZE];
	MDB_val k = store_key_idx(buf, num, id), v = { 0, NULL };

	return store_err(mdb_put(tx->txn, dbi, &k, &v, 0));
}

int store_idxq_flush(struct store_txn *tx, unsigned max, unsigned *n,
		     bool *more)
{
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned done = 0;
	int rc;

	*more = false;
	rc = store_err(mdb_cursor_open(tx->txn, tx->st->idxq, &cur));
	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		struct idxq_rec q;

		if (done == max) {
			*more = true;
			break;
		}
		rc = idxq_decode(&k, &v, &q);
		if (!rc)
			rc = store_idx_put(tx, tx->st->party, q.a, q.id);
		if (!rc)
			rc = store_idx_put(tx, tx->st->party, q.b, q.id);
		if (!rc)
			rc = store_idx_put(tx, tx->st->vn, q.vn, q.id);
		if (!rc)
			rc = store_err(mdb_cursor_del(cur, 0));
		if (rc)
			break;
		done++;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc < 0)
		rc = store_err(rc);
	if (n)
		*n = rc ? 0 : done;
	return rc;
}

int store_idxq_count(struct store_reader *r, uint64_t *n)
{
	return store_queue_count(r, r->st->idxq, n);
}

int store_idxq_ids(MDB_txn *txn, struct store *st, bool party, uint64_t num,
		   const uint8_t *after, struct store_ids *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = store_err(mdb_cursor_open(txn, st->idxq, &cur));
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct idxq_rec q;

		rc = idxq_decode(&k, &v, &q);
		if (rc)
			break;
		if (party ? q.a != num && q.b != num : q.vn != num)
			continue;
		if (after && memcmp(q.id, after, STORE_ID_LEN) <= 0)
			continue;
		rc = store_ids_add(out, q.id);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc < 0)
		rc = store_err(rc);
	if (!rc)
		store_ids_sort(out);
	return rc;
}
