/*
 * store_purge.c - retention: deleting ended sessions and all that refers
 * to them, oldest end first, a bounded number at a time.
 *
 * A session is referred to by: its record; its call records (a key range
 * of cdr); its pair entries, unless a newer session of the same pair has
 * taken them over; one entry each in party (both parties), vn, status and
 * ended. Deleting all of these in one transaction keeps the store what it
 * would be had the session never existed - except the counter "total",
 * which counts sessions ever created.
 *
 * Session-less call records (store_cdr.c) refer to nothing: they go by
 * their own end time, before the sessions.
 *
 * A cluster cache's index queue (store_mirror.h) is written into the
 * indexes first, so every session to purge has its index entries. The
 * queue holds a quarter second of creates (a few thousand at most under
 * load), so STORE_PURGE_IDXQ_MAX takes it all; a longer one (a node
 * catching up with the feed) means no session is purged this time: the
 * queue's own flushes drain it, and the next purge goes on.
 *
 * Cursors are opened afresh for every deletion, as store_expire_due()
 * does: a delete under a cursor in LMDB 0.9.24 is exactly where its bugs
 * live, and a fresh seek is one B-tree descent.
 */
#include <errno.h>
#include <string.h>

#include "maskd/store_mirror.h"

#include "store_internal.h"


/* del_key() - delete @k from @dbi; a missing key means an index out of
 * step with its session (EIO). */
static int del_key(struct store_txn *tx, MDB_dbi dbi, MDB_val *k)
{
	int rc = mdb_del(tx->txn, dbi, k, NULL);

	return rc == MDB_NOTFOUND ? EIO : store_err(rc);
}

/* first_key() - copy the first key of @dbi at or after @k (NULL: the
 * first of all) into @out; ENOENT when there is none. */
static int first_key(struct store_txn *tx, MDB_dbi dbi, const MDB_val *k,
		     uint8_t *out, size_t *len, size_t cap)
{
	MDB_cursor *cur;
	MDB_val key, v;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, dbi, &cur));
	if (rc)
		return rc;
	if (k) {
		key = *k;
		rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST);
	}
	if (rc == 0 && key.mv_size > cap)
		rc = EIO;
	if (rc == 0) {
		memcpy(out, key.mv_data, key.mv_size);
		*len = key.mv_size;
	}
	mdb_cursor_close(cur);
	return store_err(rc);
}

/*
 * purge_cdrs() - delete call records of session @id, at most *budget of
 * them (decremented). *all is set when none is left.
 */
static int purge_cdrs(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
		      unsigned *budget, unsigned *n, bool *all)
{
	uint8_t key[CDR_KEY_SIZE];
	MDB_val k = { STORE_ID_LEN, (void *)id }, ik;
	size_t len;
	int rc;

	*all = false;
	for (;;) {
		rc = first_key(tx, tx->st->cdr, &k, key, &len, sizeof(key));
		if (rc == ENOENT || (rc == 0 && (len != CDR_KEY_SIZE ||
			memcmp(key, id, STORE_ID_LEN)))) {
			*all = true;	/* past this session's range */
			return 0;
		}
		if (rc)
			return rc;
		if (*budget == 0)
			return 0;
		k.mv_size = len;
		k.mv_data = key;
		rc = del_key(tx, tx->st->cdr, &k);
		if (rc)
			return rc;
		ik.mv_size = STORE_ID_LEN;
		ik.mv_data = key + STORE_ID_LEN;
		rc = del_key(tx, tx->st->cdr_id, &ik);
		if (rc)
			return rc;
		(*budget)--;
		(*n)++;
	}
}

/* pair_del_if() - delete the pair entry (@party, @vn) if it still names
 * session @id; a newer session of the pair owns it otherwise. */
static int pair_del_if(struct store_txn *tx, uint64_t party, uint64_t vn,
		       const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[PAIR_KEY_SIZE];
	MDB_val k = store_key_pair(buf, party, vn);
	MDB_val v;
	int rc;

	rc = mdb_get(tx->txn, tx->st->pair, &k, &v);
	if (rc == MDB_NOTFOUND)
		return EIO;	/* the newest session of a pair always has one */
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(struct rec_pair))
		return EIO;
	if (memcmp(v.mv_data, id, STORE_ID_LEN))	/* rec_pair.id is first */
		return 0;
	return del_key(tx, tx->st->pair, &k);
}

/* purge_session() - everything of ended session @s but its call records,
 * and its ended entry @ended_k. */
static int purge_session(struct store_txn *tx, const struct session *s,
			 MDB_val *ended_k)
{
	uint8_t buf[IDX_KEY_SIZE];
	MDB_val k;
	uint64_t a, b, vn;
	int rc;

	if (store_num_pack(s->party_a, &a) || store_num_pack(s->party_b, &b) ||
	    store_num_pack(s->vn, &vn))
		return EIO;
	rc = pair_del_if(tx, a, vn, s->id);
	if (!rc)
		rc = pair_del_if(tx, b, vn, s->id);
	if (rc)
		return rc;
	k = store_key_idx(buf, a, s->id);
	rc = del_key(tx, tx->st->party, &k);
	if (rc)
		return rc;
	k = store_key_idx(buf, b, s->id);
	rc = del_key(tx, tx->st->party, &k);
	if (rc)
		return rc;
	k = store_key_idx(buf, vn, s->id);
	rc = del_key(tx, tx->st->vn, &k);
	if (!rc)
		rc = store_status_del(tx, s->status, s->id);
	if (!rc)
		rc = del_key(tx, tx->st->ended, ended_k);
	if (rc)
		return rc;
	k.mv_size = STORE_ID_LEN;
	k.mv_data = (void *)s->id;
	return del_key(tx, tx->st->sessions, &k);
}

/*
 * purge_sessionless() - session-less call records whose call ended before
 * @cutoff_ms, from the oldest call on, at most *budget of them. Calls
 * maskd answers without a session last seconds, so the first one not yet
 * due is where the due ones end (near enough: one still running at the
 * cutoff holds the rest back until the next pass).
 */
static int purge_sessionless(struct store_txn *tx, int64_t cutoff_ms,
			     unsigned *budget, unsigned *n)
{
	struct cdr c;
	int rc = 0;

	while (*budget > 0) {
		rc = store_cdr_sessionless_first(tx->txn, tx->st, &c);
		if (rc == ENOENT)
			return 0;
		if (rc || c.end_ms >= cutoff_ms)
			return rc;
		rc = store_cdr_sessionless_del(tx, c.id);
		if (rc)
			return rc;
		(*budget)--;
		(*n)++;
	}
	return 0;
}

int store_purge(struct store_txn *tx, int64_t cutoff_ms, unsigned max,
		unsigned *sessions, unsigned *cdrs)
{
	unsigned budget = max, n_s = 0, n_c = 0;
	bool queued;
	int rc;

	rc = store_idxq_flush(tx, STORE_PURGE_IDXQ_MAX, NULL, &queued);
	if (!rc)
		rc = purge_sessionless(tx, cutoff_ms, &budget, &n_c);
	while (!rc && !queued && budget > 0) {
		uint8_t key[ENDED_KEY_SIZE];
		MDB_val k = { STORE_ID_LEN, NULL }, v;
		struct session s;
		size_t len;
		bool all;

		rc = first_key(tx, tx->st->ended, NULL, key, &len, sizeof(key));
		if (rc == ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (len != ENDED_KEY_SIZE) {
			rc = EIO;
			break;
		}
		k.mv_size = len;
		k.mv_data = key;
		if (store_key_expiry_at(&k) >= cutoff_ms)
			break;	/* the oldest end left is recent enough */

		memcpy(s.id, key + 8, STORE_ID_LEN);
		k.mv_size = STORE_ID_LEN;
		k.mv_data = s.id;
		rc = mdb_get(tx->txn, tx->st->sessions, &k, &v);
		rc = rc == MDB_NOTFOUND ? EIO : store_err(rc);
		if (!rc)
			rc = store_session_decode(&v, &s, false);
		if (!rc && s.status == SESSION_ACTIVE)
			rc = EIO;	/* only ended sessions are indexed */
		if (rc)
			break;

		/* the call records first: the session goes only with the
		 * last of them, so none is ever left without its session */
		rc = purge_cdrs(tx, s.id, &budget, &n_c, &all);
		if (rc || !all)
			break;
		if (budget == 0)
			break;	/* the session itself counts too: next time */
		k.mv_size = ENDED_KEY_SIZE;
		k.mv_data = key;
		rc = purge_session(tx, &s, &k);
		if (rc)
			break;
		budget--;
		n_s++;
	}
	if (!rc && n_s)
		rc = store_meta_add(tx, "purged_sessions", n_s);
	if (!rc && n_c)
		rc = store_meta_add(tx, "purged_cdrs", n_c);
	if (rc)
		n_s = n_c = 0;	/* the caller aborts: nothing was deleted */
	if (sessions)
		*sessions = n_s;
	if (cdrs)
		*cdrs = n_c;
	return rc;
}

int store_next_ended(struct store_reader *r, int64_t *at_ms)
{
	struct cdr c;
	int rc, rc2;

	rc = store_first_at(r, r->st->ended, at_ms);
	if (rc && rc != ENOENT)
		return rc;
	rc2 = store_reader_begin(r);
	if (rc2)
		return rc2;
	rc2 = store_cdr_sessionless_first(r->txn, r->st, &c);
	store_reader_end(r);
	if (rc2 == ENOENT)
		return rc;
	if (rc2)
		return rc2;
	if (rc == ENOENT || c.end_ms < *at_ms)
		*at_ms = c.end_ms;
	return 0;
}
