/*
 * store_cdr.c - call records, keyed by (session id, call id) so that a
 * session's calls are one contiguous range, oldest first.
 */
#include <errno.h>
#include <string.h>

#include "maskd/rand.h"
#include "store_internal.h"

#define CDR_KEY_SIZE (2 * STORE_ID_LEN)
#define CDR_REC_VERSION 1

/*
 * The SIP thread makes call ids, not the writer, so they cannot come from
 * store_id_new()'s sequence: time and 80 random bits, like session ids
 * before the sequence was added. Calls of one session are seconds apart.
 */
int store_cdr_id_new(int64_t now_ms, uint8_t id[STORE_ID_LEN])
{
	uint64_t t = now_ms < 0 ? 0 : (uint64_t)now_ms;
	int i;

	for (i = 5; i >= 0; i--) {
		id[i] = (uint8_t)t;
		t >>= 8;
	}
	return rand_bytes(id + 6, STORE_ID_LEN - 6);
}

int store_cdr_add(struct store_txn *tx, const struct cdr *c)
{
	uint8_t key[CDR_KEY_SIZE];
	struct rec_cdr rec;
	MDB_val k = { sizeof(key), key };
	MDB_val v = { sizeof(rec), &rec };
	int rc;

	memcpy(key, c->session_id, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, c->id, STORE_ID_LEN);
	memset(&rec, 0, sizeof(rec));
	rec.version = CDR_REC_VERSION;
	rec.a_to_b = c->a_to_b ? 1 : 0;
	rec.hangup = (uint8_t)c->hangup;
	rec.final_code = c->final_code;
	rec.start_ms = c->start_ms;
	rec.answer_ms = c->answer_ms;
	rec.end_ms = c->end_ms;
	memcpy(rec.reason, c->reason, CDR_REASON_SIZE);
	rec.reason[CDR_REASON_SIZE - 1] = '\0';
	rec.pkts_a_to_b = c->pkts_a_to_b;
	rec.pkts_b_to_a = c->pkts_b_to_a;
	rec.bytes_a_to_b = c->bytes_a_to_b;
	rec.bytes_b_to_a = c->bytes_b_to_a;
	rc = mdb_put(tx->txn, tx->st->cdr, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return EEXIST;
	return store_err(rc);
}

static int cdr_decode(const MDB_val *k, const MDB_val *v, struct cdr *c)
{
	struct rec_cdr rec;

	if (k->mv_size != CDR_KEY_SIZE || v->mv_size != sizeof(rec))
		return EIO;
	memcpy(&rec, v->mv_data, sizeof(rec));
	if (rec.version != CDR_REC_VERSION)
		return EIO;
	memset(c, 0, sizeof(*c));
	memcpy(c->session_id, k->mv_data, STORE_ID_LEN);
	memcpy(c->id, (uint8_t *)k->mv_data + STORE_ID_LEN, STORE_ID_LEN);
	c->a_to_b = rec.a_to_b != 0;
	c->hangup = (enum cdr_hangup)rec.hangup;
	c->final_code = rec.final_code;
	c->start_ms = rec.start_ms;
	c->answer_ms = rec.answer_ms;
	c->end_ms = rec.end_ms;
	memcpy(c->reason, rec.reason, CDR_REASON_SIZE);
	c->reason[CDR_REASON_SIZE - 1] = '\0';
	c->pkts_a_to_b = rec.pkts_a_to_b;
	c->pkts_b_to_a = rec.pkts_b_to_a;
	c->bytes_a_to_b = rec.bytes_a_to_b;
	c->bytes_b_to_a = rec.bytes_b_to_a;
	return 0;
}

int store_cdr_list(struct store_reader *r,
		   const uint8_t session_id[STORE_ID_LEN], cdr_list_h *h,
		   void *arg)
{
	MDB_val k = { STORE_ID_LEN, (void *)session_id };
	MDB_cursor *cur = NULL;
	MDB_val v;
	struct cdr c;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->cdr, &cur));
	if (rc)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == CDR_KEY_SIZE &&
	       !memcmp(k.mv_data, session_id, STORE_ID_LEN)) {
		rc = cdr_decode(&k, &v, &c);
		if (rc || h(&c, arg))
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
