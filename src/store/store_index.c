/*
 * store_index.c - the status and ended indexes, and building them for a
 * store written before they existed.
 *
 * status: status(1) id -> "" for every session, so that listing by status
 * walks only that status's sessions. ended: be64(ended_at) id -> "" for
 * every ended session, so that retention finds the oldest ends first
 * without looking at anything else. Both are composite keys with empty
 * values (no MDB_DUPSORT: see store.h).
 */
#include <errno.h>
#include <string.h>

#include "store_internal.h"

/* Sessions indexed per committed transaction while upgrading: enough to
 * make the fsyncs cheap, few enough that no transaction gets huge. */
#define UPGRADE_BATCH 10000

int store_status_put(struct store_txn *tx, enum session_status status,
		     const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[STATUS_KEY_SIZE];
	MDB_val k = store_key_status(buf, status, id);
	MDB_val v = { 0, NULL };

	return store_err(mdb_put(tx->txn, tx->st->status, &k, &v, 0));
}

/* A missing entry is an index out of step with its session: EIO. */
int store_status_del(struct store_txn *tx, enum session_status status,
		     const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[STATUS_KEY_SIZE];
	MDB_val k = store_key_status(buf, status, id);
	int rc = mdb_del(tx->txn, tx->st->status, &k, NULL);

	return rc == MDB_NOTFOUND ? EIO : store_err(rc);
}

int store_ended_put(struct store_txn *tx, int64_t at_ms,
		    const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[ENDED_KEY_SIZE];
	MDB_val k = store_key_expiry(buf, at_ms, id);
	MDB_val v = { 0, NULL };

	return store_err(mdb_put(tx->txn, tx->st->ended, &k, &v, 0));
}

/*
 * index_batch() - index up to UPGRADE_BATCH sessions after *last (all
 * from the first when !*started) in @tx. Sets *done at the end of the
 * sessions. Puts are idempotent, so a batch interrupted by a crash is
 * simply done again at the next open.
 */
static int index_batch(struct store_txn *tx, uint8_t last[STORE_ID_LEN],
		       bool *started, bool *done, uint64_t *count)
{
	MDB_cursor *cur;
	MDB_val k = { STORE_ID_LEN, last }, v;
	unsigned n = 0;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, tx->st->sessions, &cur));
	if (rc)
		return rc;
	if (*started) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == STORE_ID_LEN &&
		    !memcmp(k.mv_data, last, STORE_ID_LEN))
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	while (rc == 0 && n < UPGRADE_BATCH) {
		struct session s;
		uint8_t id[STORE_ID_LEN];

		if (k.mv_size != STORE_ID_LEN) {
			rc = EIO;
			break;
		}
		memcpy(id, k.mv_data, STORE_ID_LEN);
		rc = store_session_decode(&v, &s, false);
		if (rc)
			break;
		/* puts into other databases leave this cursor alone */
		rc = store_status_put(tx, s.status, id);
		if (!rc && s.status != SESSION_ACTIVE)
			rc = store_ended_put(tx, s.ended_at_ms, id);
		if (rc)
			break;
		memcpy(last, id, STORE_ID_LEN);
		*started = true;
		n++;
		(*count)++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		*done = true;
		return 0;
	}
	return store_err(rc);
}

int store_index_upgrade(struct store *st)
{
	struct store_txn tx = { .st = st, .txn = NULL };
	uint8_t last[STORE_ID_LEN];
	uint64_t schema, count = 0;
	bool started = false, done = false;
	MDB_val k = { 6, "schema" }, v;
	MDB_stat ms;
	int rc;

	/* 4 -> 5: index the call records by call id first; the schema is
	 * written below, only once everything older is built too */
	rc = store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &tx.txn));
	if (rc)
		return rc;
	rc = store_meta_get(tx.txn, st, "schema", &schema);
	mdb_txn_abort(tx.txn);
	if (rc)
		return rc;
	if (schema < 5) {
		rc = store_cdr_reindex(st);
		if (rc)
			return rc;
	}

	for (;;) {
		rc = store_err(mdb_txn_begin(st->env, NULL, 0, &tx.txn));
		if (rc)
			return rc;
		rc = store_meta_get(tx.txn, st, "schema", &schema);
		if (rc)
			goto fail;
		if (schema == 0)
			schema = 1;	/* written before there was a key */
		if (schema > STORE_SCHEMA) {
			log_error(st->log, "store: written by a newer maskd "
				  "(schema %llu, this one knows %d)",
				  (unsigned long long)schema, STORE_SCHEMA);
			rc = EPROTO;
			goto fail;
		}
		if (schema == STORE_SCHEMA) {
			mdb_txn_abort(tx.txn);
			return 0;
		}
		/* 2 -> 3 (the pin index) has nothing to build; 3 -> 4
		 * (pool_geo) is built by store_geo_rebuild() after this;
		 * 4 -> 5 (cdr_id) was built above */
		if (schema >= 2)
			done = true;
		if (!started && !done) {
			rc = store_err(mdb_stat(tx.txn, st->sessions, &ms));
			if (rc)
				goto fail;
			if (ms.ms_entries)
				log_info(st->log, "store: schema %llu -> %d: "
					 "indexing %zu sessions by status",
					 (unsigned long long)schema,
					 STORE_SCHEMA, ms.ms_entries);
		}
		if (!done)
			rc = index_batch(&tx, last, &started, &done, &count);
		if (rc)
			goto fail;
		if (done) {
			schema = STORE_SCHEMA;
			v.mv_size = sizeof(schema);
			v.mv_data = &schema;
			rc = store_err(mdb_put(tx.txn, st->meta, &k, &v, 0));
			if (rc)
				goto fail;
		}
		rc = store_err(mdb_txn_commit(tx.txn));
		if (rc)
			return rc;
		if (done)
			break;
	}
	if (count)
		log_info(st->log, "store: %llu sessions indexed",
			 (unsigned long long)count);
	return 0;
 fail:
	mdb_txn_abort(tx.txn);
	return rc;
}
