/*
 * store_cdr.c - call records, keyed by (session id, call id) so that a
 * session's calls are one contiguous range, oldest first; cdr_id maps a
 * call id alone to its session, for the API's /v1/calls/{id} and the
 * recorder, which know only the call.
 *
 * Records are fixed-size structs with a version byte: version 1 (up to
 * schema 4) is a prefix of version 2 (schema 5), itself a prefix of
 * version 3 (adds the VN and the caller), so all three are read; only
 * version 3 is written.
 *
 * Session-less records. A call maskd answered or refused itself without
 * a session (a PIN prompt nobody typed a right PIN into, an announced
 * unknown pair) has a record too, so the platform can find every call it
 * was told of (pin.result and call.unrouted name the call id). Its
 * session id is all zeros: the session-less records are one key range,
 * oldest first, which retention (store_purge()) walks from its head by
 * end time and store_cdr_sessionless_trim() cuts to a bound. Whoever can
 * send an INVITE can make them, so the bound matters: they never grow
 * the store past [store] sessionless_calls_max records.
 */
#include <errno.h>
#include <string.h>

#include "maskd/rand.h"
#include "maskd/store_mirror.h"

#include "store_internal.h"

#define CDR_REC_VERSION 3

/* How many records store_cdr_reindex() indexes per transaction. */
#define CDR_REINDEX_BATCH 4096

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

static const uint8_t cdr_no_session[STORE_ID_LEN];

bool cdr_sessionless(const struct cdr *c)
{
	return !memcmp(c->session_id, cdr_no_session, STORE_ID_LEN);
}

/* A number for a record: packed, 0 when absent or not a number. */
static uint64_t cdr_num_pack(const char *num)
{
	uint64_t n;

	if (!num[0] || store_num_pack(num, &n))
		return 0;
	return n;
}

static void cdr_num_unpack(uint64_t n, char out[E164_SIZE])
{
	if (n)
		store_num_unpack(n, out);
	else
		out[0] = '\0';
}

static void cdr_encode(const struct cdr *c, struct rec_cdr *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->version = CDR_REC_VERSION;
	rec->a_to_b = c->a_to_b ? 1 : 0;
	rec->hangup = (uint8_t)c->hangup;
	rec->final_code = c->final_code;
	rec->start_ms = c->start_ms;
	rec->answer_ms = c->answer_ms;
	rec->end_ms = c->end_ms;
	memcpy(rec->reason, c->reason, CDR_REASON_SIZE);
	rec->reason[CDR_REASON_SIZE - 1] = '\0';
	rec->pkts_a_to_b = c->pkts_a_to_b;
	rec->pkts_b_to_a = c->pkts_b_to_a;
	rec->bytes_a_to_b = c->bytes_a_to_b;
	rec->bytes_b_to_a = c->bytes_b_to_a;
	rec->direction = (uint8_t)c->direction;
	rec->pin_status = (uint8_t)c->pin_status;
	rec->pin_attempts = c->pin_attempts;
	rec->participants = c->participants;
	rec->hook = (uint8_t)c->hook;
	rec->hook_latency_ms = c->hook_latency_ms;
	rec->rec_state = (uint8_t)c->rec_state;
	rec->rec_format = c->rec_format;
	rec->rec_duration_ms = c->rec_duration_ms;
	rec->rec_bytes = c->rec_bytes;
	memcpy(rec->rec_sha256, c->rec_sha256, CDR_SHA256_LEN);
	memcpy(rec->rec_reason, c->rec_reason, CDR_REASON_SIZE);
	rec->rec_reason[CDR_REASON_SIZE - 1] = '\0';
	rec->vn = cdr_num_pack(c->vn);
	rec->caller = cdr_num_pack(c->caller);
}

int store_cdr_add(struct store_txn *tx, const struct cdr *c)
{
	uint8_t key[CDR_KEY_SIZE];
	struct rec_cdr rec;
	MDB_val k = { sizeof(key), key };
	MDB_val v = { sizeof(rec), &rec };
	MDB_val ik = { STORE_ID_LEN, (void *)c->id };
	MDB_val iv = { STORE_ID_LEN, (void *)c->session_id };
	int rc;

	memcpy(key, c->session_id, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, c->id, STORE_ID_LEN);
	cdr_encode(c, &rec);
	rc = mdb_put(tx->txn, tx->st->cdr, &k, &v, MDB_NOOVERWRITE);
	if (rc == 0)
		rc = mdb_put(tx->txn, tx->st->cdr_id, &ik, &iv,
			     MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return EEXIST;
	rc = store_err(rc);
	if (!rc && cdr_sessionless(c))
		rc = store_meta_add(tx, "cdrs_sessionless", 1);
	if (!rc)
		rc = store_export_put(tx, STORE_EXPORT_CDR, c->id);
	return rc;
}

static int cdr_decode(const MDB_val *k, const MDB_val *v, struct cdr *c)
{
	struct rec_cdr rec;

	if (k->mv_size != CDR_KEY_SIZE || v->mv_size < REC_CDR_V1_SIZE ||
	    v->mv_size > sizeof(rec))
		return EIO;
	/* an older record leaves the newer fields zero: none */
	memset(&rec, 0, sizeof(rec));
	memcpy(&rec, v->mv_data, v->mv_size);
	if (!(rec.version == 1 && v->mv_size == REC_CDR_V1_SIZE) &&
	    !(rec.version == 2 && v->mv_size == REC_CDR_V2_SIZE) &&
	    !(rec.version == CDR_REC_VERSION && v->mv_size == sizeof(rec)))
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
	c->direction = (enum cdr_direction)rec.direction;
	c->pin_status = (enum cdr_pin)rec.pin_status;
	c->pin_attempts = rec.pin_attempts;
	c->participants = rec.participants;
	c->hook = (enum cdr_hook)rec.hook;
	c->hook_latency_ms = rec.hook_latency_ms;
	c->rec_state = (enum cdr_rec)rec.rec_state;
	c->rec_format = rec.rec_format;
	c->rec_duration_ms = rec.rec_duration_ms;
	c->rec_bytes = rec.rec_bytes;
	memcpy(c->rec_sha256, rec.rec_sha256, CDR_SHA256_LEN);
	memcpy(c->rec_reason, rec.rec_reason, CDR_REASON_SIZE);
	c->rec_reason[CDR_REASON_SIZE - 1] = '\0';
	cdr_num_unpack(rec.vn, c->vn);
	cdr_num_unpack(rec.caller, c->caller);
	return 0;
}

/* cdr_key_of() - the cdr key of call @call_id, from cdr_id, in @txn. */
static int cdr_key_of(MDB_txn *txn, const struct store *st,
		      const uint8_t call_id[STORE_ID_LEN],
		      uint8_t key[CDR_KEY_SIZE])
{
	MDB_val k = { STORE_ID_LEN, (void *)call_id }, v;
	int rc;

	rc = mdb_get(txn, st->cdr_id, &k, &v);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc)
		return store_err(rc);
	if (v.mv_size != STORE_ID_LEN)
		return EIO;
	memcpy(key, v.mv_data, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, call_id, STORE_ID_LEN);
	return 0;
}

int store_cdr_get(struct store_reader *r, const uint8_t call_id[STORE_ID_LEN],
		  struct cdr *out)
{
	uint8_t key[CDR_KEY_SIZE];
	MDB_val k = { sizeof(key), key }, v;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = cdr_key_of(r->txn, r->st, call_id, key);
	if (rc)
		goto out;
	rc = mdb_get(r->txn, r->st->cdr, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = EIO;	/* the index names a record that is gone */
	else if (rc)
		rc = store_err(rc);
	else
		rc = cdr_decode(&k, &v, out);
 out:
	store_reader_end(r);
	return rc;
}

int store_cdr_recording_set(struct store_txn *tx,
			    const uint8_t call_id[STORE_ID_LEN],
			    const struct cdr *c)
{
	uint8_t key[CDR_KEY_SIZE];
	MDB_val k = { sizeof(key), key }, v;
	struct cdr cur;
	struct rec_cdr rec;
	int rc;

	rc = cdr_key_of(tx->txn, tx->st, call_id, key);
	if (rc)
		return rc;
	rc = mdb_get(tx->txn, tx->st->cdr, &k, &v);
	if (rc == MDB_NOTFOUND)
		return EIO;
	if (rc)
		return store_err(rc);
	rc = cdr_decode(&k, &v, &cur);
	if (rc)
		return rc;
	cur.rec_state = c->rec_state;
	cur.rec_format = c->rec_format;
	cur.rec_duration_ms = c->rec_duration_ms;
	cur.rec_bytes = c->rec_bytes;
	memcpy(cur.rec_sha256, c->rec_sha256, CDR_SHA256_LEN);
	memcpy(cur.rec_reason, c->rec_reason, CDR_REASON_SIZE);
	/* an older record comes back as version 3, a little longer */
	cdr_encode(&cur, &rec);
	v.mv_size = sizeof(rec);
	v.mv_data = &rec;
	rc = store_err(mdb_put(tx->txn, tx->st->cdr, &k, &v, 0));
	if (!rc)
		rc = store_export_put(tx, STORE_EXPORT_CDR, call_id);
	return rc;
}

/* ---- session-less records ---- */

int store_cdr_sessionless_first(MDB_txn *txn, const struct store *st,
				struct cdr *out)
{
	MDB_val k = { STORE_ID_LEN, (void *)cdr_no_session }, v;
	MDB_cursor *cur;
	int rc;

	rc = store_err(mdb_cursor_open(txn, st->cdr, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != CDR_KEY_SIZE ||
			memcmp(k.mv_data, cdr_no_session, STORE_ID_LEN)))
		rc = MDB_NOTFOUND;	/* past the range: a session's */
	if (rc == 0)
		rc = cdr_decode(&k, &v, out);
	else
		rc = rc == MDB_NOTFOUND ? ENOENT : store_err(rc);
	mdb_cursor_close(cur);
	return rc;
}

int store_cdr_sessionless_del(struct store_txn *tx,
			      const uint8_t call_id[STORE_ID_LEN])
{
	uint8_t key[CDR_KEY_SIZE];
	MDB_val k = { sizeof(key), key };
	MDB_val ik = { STORE_ID_LEN, (void *)call_id };
	int rc;

	memset(key, 0, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, call_id, STORE_ID_LEN);
	rc = mdb_del(tx->txn, tx->st->cdr, &k, NULL);
	if (rc == 0)
		rc = mdb_del(tx->txn, tx->st->cdr_id, &ik, NULL);
	if (rc)
		return rc == MDB_NOTFOUND ? EIO : store_err(rc);
	return store_meta_add(tx, "cdrs_sessionless", -1);
}

int store_cdr_sessionless_trim(struct store_txn *tx, uint64_t max,
			       unsigned *dropped)
{
	uint64_t n;
	unsigned d = 0;
	struct cdr c;
	int rc;

	rc = store_meta_get(tx->txn, tx->st, "cdrs_sessionless", &n);
	/* after each add this is one deletion: the loop is bounded by
	 * how far a lowered bound left the count above it */
	while (!rc && n > max) {
		rc = store_cdr_sessionless_first(tx->txn, tx->st, &c);
		if (rc == ENOENT)
			rc = EIO;	/* counted but not there */
		if (!rc)
			rc = store_cdr_sessionless_del(tx, c.id);
		if (!rc) {
			n--;
			d++;
		}
	}
	if (!rc && d)
		rc = store_meta_add(tx, "cdrs_sessionless_dropped", d);
	if (dropped)
		*dropped = rc ? 0 : d;
	return rc;
}

int store_cdr_reindex(struct store *st)
{
	uint8_t last[CDR_KEY_SIZE];
	bool started = false;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, v, ik, iv;
	unsigned n;
	int rc;

	for (;;) {
		rc = store_err(mdb_txn_begin(st->env, NULL, 0, &txn));
		if (rc)
			return rc;
		rc = store_err(mdb_cursor_open(txn, st->cdr, &cur));
		if (rc)
			goto fail;
		if (started) {
			k.mv_size = sizeof(last);
			k.mv_data = last;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && k.mv_size == sizeof(last) &&
			    !memcmp(k.mv_data, last, sizeof(last)))
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		} else {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		}
		for (n = 0; rc == 0 && n < CDR_REINDEX_BATCH; n++) {
			if (k.mv_size != CDR_KEY_SIZE) {
				rc = EIO;
				goto fail;
			}
			ik.mv_size = STORE_ID_LEN;
			ik.mv_data = (uint8_t *)k.mv_data + STORE_ID_LEN;
			iv.mv_size = STORE_ID_LEN;
			iv.mv_data = k.mv_data;
			rc = mdb_put(txn, st->cdr_id, &ik, &iv, 0);
			if (rc)
				break;
			memcpy(last, k.mv_data, sizeof(last));
			started = true;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc && rc != MDB_NOTFOUND) {
			rc = store_err(rc);
			goto fail;
		}
		mdb_cursor_close(cur);
		cur = NULL;
		rc = store_err(mdb_txn_commit(txn));
		txn = NULL;
		if (rc || n < CDR_REINDEX_BATCH)
			return rc;
	}
 fail:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
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

const char *cdr_hangup_name(enum cdr_hangup h)
{
	switch (h) {
	case CDR_HANGUP_CALLER:
		return "caller";
	case CDR_HANGUP_CALLEE:
		return "callee";
	case CDR_HANGUP_MASKD:
		return "maskd";
	case CDR_HANGUP_NONE:
		break;
	}
	return NULL;
}

const char *cdr_direction_name(const struct cdr *c)
{
	if (c->direction == CDR_DIR_API)
		return "api";
	return c->a_to_b ? "a_to_b" : "b_to_a";
}

const char *cdr_pin_name(enum cdr_pin p)
{
	switch (p) {
	case CDR_PIN_AUTHORIZED_CALLER:
		return "authorized_caller";
	case CDR_PIN_SUCCESS:
		return "success";
	case CDR_PIN_FAILED:
		return "failed";
	case CDR_PIN_NONE:
		break;
	}
	return NULL;
}

const char *cdr_hook_name(enum cdr_hook h)
{
	switch (h) {
	case CDR_HOOK_CONNECT:
		return "connect";
	case CDR_HOOK_ALLOW:
		return "allow";
	case CDR_HOOK_REJECT:
		return "reject";
	case CDR_HOOK_ANNOUNCE:
		return "announce";
	case CDR_HOOK_ERROR:
		return "error";
	case CDR_HOOK_NONE:
		break;
	}
	return NULL;
}

const char *cdr_rec_name(enum cdr_rec r)
{
	switch (r) {
	case CDR_REC_ACTIVE:
		return "active";
	case CDR_REC_READY:
		return "ready";
	case CDR_REC_FAILED:
		return "failed";
	case CDR_REC_DELETED:
		return "deleted";
	case CDR_REC_NONE:
		break;
	}
	return NULL;
}
