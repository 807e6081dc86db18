/*
 * store_export.c - the export queue (store_mirror.h): call records and
 * events waiting to be copied into the cluster's store.
 *
 * Keys are a sequence, the last key plus one (store_queue_append(), which
 * the index queue shares): entries are only appended at the end and
 * deleted from the front (store_export_done()), so the order is the
 * order of the commits, and a sequence that starts again at 1 after the
 * queue emptied is still after everything in it.
 */
#include <errno.h>
#include <string.h>

#include "maskd/store_mirror.h"

#include "store_internal.h"

#define EXPORT_VAL_SIZE (1 + STORE_ID_LEN)

void store_set_export(struct store *st, bool on)
{
	st->export_on = on;
}

int store_queue_append(struct store_txn *tx, MDB_dbi dbi, const void *val,
		       size_t len)
{
	uint8_t key[8];
	MDB_val k, v;
	MDB_cursor *cur;
	uint64_t seq = 1;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, dbi, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == 0 && k.mv_size == sizeof(key))
		seq = store_be64_get(k.mv_data) + 1;
	else if (rc == 0)
		return EIO;
	else if (rc != MDB_NOTFOUND)
		return store_err(rc);
	store_be64_put(key, seq);
	k.mv_size = sizeof(key);
	k.mv_data = key;
	v.mv_size = len;
	v.mv_data = (void *)val;
	/* the largest key: LMDB appends without a search */
	return store_err(mdb_put(tx->txn, dbi, &k, &v, MDB_APPEND));
}

int store_export_put(struct store_txn *tx, int kind,
		     const uint8_t id[STORE_ID_LEN])
{
	uint8_t val[EXPORT_VAL_SIZE];

	if (!tx->st->export_on)
		return 0;
	val[0] = (uint8_t)kind;
	memcpy(val + 1, id, STORE_ID_LEN);
	return store_queue_append(tx, tx->st->export, val, sizeof(val));
}

int store_export_list(struct store_reader *r, struct store_export_entry *out,
		      unsigned max, unsigned *n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	unsigned got = 0;
	int rc;

	*n = 0;
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->export, &cur));
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && got < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;

		if (k.mv_size != 8 || v.mv_size != EXPORT_VAL_SIZE) {
			rc = EIO;
			break;
		}
		out[got].seq = store_be64_get(k.mv_data);
		out[got].kind = (enum store_export_kind)p[0];
		memcpy(out[got].id, p + 1, STORE_ID_LEN);
		got++;
	}
	rc = rc == MDB_NOTFOUND || got == max ? 0 : store_err(rc);
	*n = got;
 out:
	if (cur)
		mdb_cursor_close(cur);
	store_reader_end(r);
	return rc;
}

int store_export_done(struct store_txn *tx, uint64_t upto)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, tx->st->export, &cur));
	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 8) {
			rc = EIO;
			break;
		}
		if (store_be64_get(k.mv_data) > upto)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int store_queue_count(struct store_reader *r, MDB_dbi dbi, uint64_t *n)
{
	MDB_stat ms;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_stat(r->txn, dbi, &ms));
	if (!rc)
		*n = ms.ms_entries;
	store_reader_end(r);
	return rc;
}

int store_export_pending(struct store_reader *r, uint64_t *n)
{
	return store_queue_count(r, r->st->export, n);
}
