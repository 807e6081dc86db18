/*
 * store_session.c - sessions: create, change, end, expire, look up, list.
 *
 * Every change to a session touches its record and its indexes in the
 * caller's transaction, so a commit never leaves them out of step.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- records ---- */

static void rec_from_session(struct rec_session *rec, const struct session *s)
{
	memset(rec, 0, sizeof(*rec));
	rec->version = STORE_REC_VERSION;
	rec->status = (uint8_t)s->status;
	rec->record = s->record ? 1 : 0;
	rec->call_time_limit_s = s->call_time_limit_s;
	rec->created_at_ms = s->created_at_ms;
	rec->expires_at_ms = s->expires_at_ms;
	rec->ended_at_ms = s->ended_at_ms;
	memcpy(rec->party_a, s->party_a, E164_SIZE);
	memcpy(rec->party_b, s->party_b, E164_SIZE);
	memcpy(rec->vn, s->vn, E164_SIZE);
	rec->callback_len = s->callback_url ? strlen(s->callback_url) : 0;
	rec->metadata_len = s->metadata ? strlen(s->metadata) : 0;
}

static void rec_pin_from_session(struct rec_pin *rp, const struct session *s)
{
	memset(rp, 0, sizeof(*rp));
	rp->required = s->pin_required ? 1 : 0;
	rp->retries = s->pin_retries;
	memcpy(rp->a, s->pin_a, STORE_PIN_SIZE);
	memcpy(rp->b, s->pin_b, STORE_PIN_SIZE);
}

int store_session_decode(const MDB_val *v, struct session *out,
			 bool with_strings)
{
	struct rec_session rec;
	struct rec_pin rp;
	const char *tail;
	uint64_t size;

	if (v->mv_size < sizeof(rec))
		return EIO;
	memcpy(&rec, v->mv_data, sizeof(rec));
	size = (uint64_t)sizeof(rec) + rec.callback_len + rec.metadata_len;
	memset(&rp, 0, sizeof(rp));
	if (rec.version == STORE_REC_VERSION) {
		if (size + sizeof(rp) != v->mv_size)
			return EIO;
		memcpy(&rp, (const char *)v->mv_data + size, sizeof(rp));
	} else if (rec.version != STORE_REC_VERSION_1 || size != v->mv_size) {
		return EIO;
	}
	out->pin_required = rp.required != 0;
	out->pin_retries = rp.retries;
	memcpy(out->pin_a, rp.a, STORE_PIN_SIZE);
	memcpy(out->pin_b, rp.b, STORE_PIN_SIZE);
	out->pin_a[STORE_PIN_SIZE - 1] = '\0';
	out->pin_b[STORE_PIN_SIZE - 1] = '\0';

	out->status = (enum session_status)rec.status;
	out->record = rec.record != 0;
	out->call_time_limit_s = rec.call_time_limit_s;
	out->created_at_ms = rec.created_at_ms;
	out->expires_at_ms = rec.expires_at_ms;
	out->ended_at_ms = rec.ended_at_ms;
	memcpy(out->party_a, rec.party_a, E164_SIZE);
	memcpy(out->party_b, rec.party_b, E164_SIZE);
	memcpy(out->vn, rec.vn, E164_SIZE);
	out->party_a[E164_SIZE - 1] = '\0';
	out->party_b[E164_SIZE - 1] = '\0';
	out->vn[E164_SIZE - 1] = '\0';
	out->callback_url = NULL;
	out->metadata = NULL;
	if (!with_strings)
		return 0;

	tail = (const char *)v->mv_data + sizeof(rec);
	if (rec.callback_len) {
		out->callback_url = store_strdup_n(tail, rec.callback_len);
		if (!out->callback_url)
			return ENOMEM;
	}
	if (rec.metadata_len) {
		out->metadata = store_strdup_n(tail + rec.callback_len,
				      rec.metadata_len);
		if (!out->metadata) {
			session_clear(out);
			return ENOMEM;
		}
	}
	return 0;
}

/* Write @s (with its strings) under its id. */
static int session_put(struct store_txn *tx, const struct session *s)
{
	struct rec_session rec;
	struct rec_pin rp;
	MDB_val k = { STORE_ID_LEN, (void *)s->id };
	MDB_val v;
	char *p;
	int rc;

	rec_from_session(&rec, s);
	rec_pin_from_session(&rp, s);
	v.mv_size = sizeof(rec) + rec.callback_len + rec.metadata_len +
		    sizeof(rp);
	v.mv_data = NULL;
	/* MDB_RESERVE: build the value in place, no temporary buffer */
	rc = mdb_put(tx->txn, tx->st->sessions, &k, &v, MDB_RESERVE);
	if (rc)
		return store_err(rc);
	p = v.mv_data;
	memcpy(p, &rec, sizeof(rec));
	p += sizeof(rec);
	if (rec.callback_len)
		memcpy(p, s->callback_url, rec.callback_len);
	if (rec.metadata_len)
		memcpy(p + rec.callback_len, s->metadata, rec.metadata_len);
	memcpy(p + rec.callback_len + rec.metadata_len, &rp, sizeof(rp));
	explicit_bzero(&rp, sizeof(rp));
	return 0;
}

static int session_read(MDB_txn *txn, struct store *st,
			const uint8_t id[STORE_ID_LEN], struct session *out,
			bool with_strings)
{
	MDB_val k = { STORE_ID_LEN, (void *)id };
	MDB_val v;
	int rc;

	rc = mdb_get(txn, st->sessions, &k, &v);
	if (rc)
		return store_err(rc);
	rc = store_session_decode(&v, out, with_strings);
	if (rc == 0)
		memcpy(out->id, id, STORE_ID_LEN);
	return rc;
}

/* ---- index helpers ---- */

/* pair_value() - the pair value of @s as seen from party @caller_is_a. */
static void pair_value(struct rec_pair *p, const struct session *s,
		       bool caller_is_a, uint64_t other)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->id, s->id, STORE_ID_LEN);
	p->other = other;
	p->created_at_ms = s->created_at_ms;
	p->expires_at_ms = s->expires_at_ms;
	p->ended_at_ms = s->ended_at_ms;
	p->call_time_limit_s = s->call_time_limit_s;
	p->status = (uint8_t)s->status;
	p->record = s->record ? 1 : 0;
	p->caller_is_a = caller_is_a ? 1 : 0;
}

/*
 * pairs_put() - write (party_a, vn) and (party_b, vn) from @s. Called on
 * every change to a session: the pair values copy its routing fields.
 */
static int pairs_put(struct store_txn *tx, const struct session *s)
{
	uint64_t a, b, vn;
	uint8_t buf[PAIR_KEY_SIZE];
	struct rec_pair p;
	MDB_val k, v = { sizeof(p), &p };
	int rc;

	if (store_num_pack(s->party_a, &a) || store_num_pack(s->party_b, &b) ||
	    store_num_pack(s->vn, &vn))
		return EIO;
	k = store_key_pair(buf, a, vn);
	pair_value(&p, s, true, b);
	rc = mdb_put(tx->txn, tx->st->pair, &k, &v, 0);
	if (rc)
		return store_err(rc);
	k = store_key_pair(buf, b, vn);
	pair_value(&p, s, false, a);
	return store_err(mdb_put(tx->txn, tx->st->pair, &k, &v, 0));
}

static int idx_put(struct store_txn *tx, MDB_dbi dbi, const char *num,
		   const uint8_t id[STORE_ID_LEN])
{
	uint64_t n;

	if (store_num_pack(num, &n))
		return EINVAL;
	return store_idx_put(tx, dbi, n, id);
}

static int expiry_put(struct store_txn *tx, int64_t at_ms,
		      const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[EXPIRY_KEY_SIZE];
	MDB_val k = store_key_expiry(buf, at_ms, id);
	MDB_val v = { 0, NULL };

	return store_err(mdb_put(tx->txn, tx->st->expiry, &k, &v, 0));
}

static int expiry_del(struct store_txn *tx, int64_t at_ms,
		      const uint8_t id[STORE_ID_LEN])
{
	uint8_t buf[EXPIRY_KEY_SIZE];
	MDB_val k = store_key_expiry(buf, at_ms, id);

	return store_err(mdb_del(tx->txn, tx->st->expiry, &k, NULL));
}

/*
 * collect_active_vns() - append to *used the numbers @party holds in an
 * active session: the be64(party) range of the pair index.
 */
static int collect_active_vns(struct store_txn *tx, uint64_t party,
			      uint64_t **used, size_t *n, size_t *cap)
{
	uint8_t buf[IDX_KEY_SIZE];
	MDB_val k = store_key_idx(buf, party, NULL);
	MDB_cursor *cur;
	MDB_val v;
	int rc;

	rc = store_err(mdb_cursor_open(tx->txn, tx->st->pair, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == PAIR_KEY_SIZE &&
	       !memcmp(k.mv_data, buf, 8)) {
		struct rec_pair p;

		if (v.mv_size != sizeof(p)) {
			rc = EIO;
			break;
		}
		memcpy(&p, v.mv_data, sizeof(p));
		if (p.status == SESSION_ACTIVE) {
			if (*n == *cap) {
				size_t ncap = *cap ? *cap * 2 : 16;
				uint64_t *nu = realloc(*used,
						       ncap * sizeof(*nu));

				if (!nu) {
					rc = ENOMEM;
					break;
				}
				*used = nu;
				*cap = ncap;
			}
			(*used)[(*n)++] =
				store_be64_get((uint8_t *)k.mv_data + 8);
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || rc == 0)
		return 0;
	return store_err(rc);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- create ---- */

int store_session_create(struct store_txn *tx, const struct session_params *p,
			 int64_t now_ms, struct session *out)
{
	uint64_t *used = NULL;
	size_t n_used = 0, cap = 0;
	uint64_t a, b, vn;
	struct session s;
	bool explicit, taken;
	int rc;

	memset(&s, 0, sizeof(s));
	if (store_num_pack(p->party_a, &a) || store_num_pack(p->party_b, &b) ||
	    p->ttl_ms <= 0 || a == b)
		return EINVAL;
	if (p->vn && p->vn[0] && store_num_pack(p->vn, &vn))
		return EINVAL;
	if (store_pin_check(&p->pin) ||
	    (p->pin.pin_required && !p->pin.generate &&
	     !(p->pin.pin_a && p->pin.pin_a[0])))
		return EINVAL;
	explicit = p->pin.pin_required && !p->pin.generate;

	rc = store_expire_due(tx, now_ms, UINT32_MAX, NULL);
	if (rc)
		goto out;

	rc = collect_active_vns(tx, a, &used, &n_used, &cap);
	if (!rc)
		rc = collect_active_vns(tx, b, &used, &n_used, &cap);
	if (rc)
		goto out;
	if (n_used)
		qsort(used, n_used, sizeof(*used), cmp_u64);

	if (p->vn && p->vn[0]) {
		rc = store_pool_exists(tx, vn);
		if (rc)
			goto out;	/* ENOENT: not a pool number */
		if (n_used &&
		    bsearch(&vn, used, n_used, sizeof(*used), cmp_u64)) {
			rc = EEXIST;
			goto out;
		}
		if (explicit) {
			rc = store_pin_pair_taken(tx, vn, &p->pin, &taken);
			if (!rc && taken)
				rc = ENOTUNIQ;
			if (rc)
				goto out;
		}
	} else {
		rc = store_alloc_pick(tx, p, &used, &n_used, &cap, &vn,
				      &s.geo_matched);
		if (rc)
			goto out;
	}

	rc = store_id_new(tx->st, now_ms, s.id);
	if (rc)
		goto out;
	store_num_unpack(a, s.party_a);
	store_num_unpack(b, s.party_b);
	store_num_unpack(vn, s.vn);
	s.status = SESSION_ACTIVE;
	s.created_at_ms = now_ms;
	s.expires_at_ms = now_ms + p->ttl_ms;
	s.call_time_limit_s = p->call_time_limit_s;
	s.record = p->record;
	/* borrowed for session_put(); duplicated for *out below */
	s.callback_url = (char *)p->callback_url;
	s.metadata = (char *)p->metadata;
	s.pin_required = p->pin.pin_required;
	s.pin_retries = p->pin.pin_retries;
	if (p->pin.generate) {
		rc = store_pin_generate(tx, vn, p->pin.pin_length, &s);
		if (rc)
			goto out;
	} else if (p->pin.pin_a && p->pin.pin_a[0]) {
		strcpy(s.pin_a, p->pin.pin_a);	/* checked: <= 15 digits */
		strcpy(s.pin_b, p->pin.pin_b);
	}

	rc = session_put(tx, &s);
	if (!rc)
		rc = pairs_put(tx, &s);
	if (!rc)
		rc = idx_put(tx, tx->st->party, s.party_a, s.id);
	if (!rc)
		rc = idx_put(tx, tx->st->party, s.party_b, s.id);
	if (!rc)
		rc = idx_put(tx, tx->st->vn, s.vn, s.id);
	if (!rc)
		rc = expiry_put(tx, s.expires_at_ms, s.id);
	if (!rc)
		rc = store_status_put(tx, SESSION_ACTIVE, s.id);
	if (!rc)
		rc = store_pin_index_put(tx, &s);
	if (!rc)
		rc = store_pool_adjust(tx, vn, +1);
	if (!rc)
		rc = store_meta_add(tx, "active", 1);
	if (!rc)
		rc = store_meta_add(tx, "total", 1);
	if (rc)
		goto out;

	s.callback_url = NULL;
	s.metadata = NULL;
	if (p->callback_url && !(s.callback_url = strdup(p->callback_url)))
		rc = ENOMEM;
	if (!rc && p->metadata && !(s.metadata = strdup(p->metadata)))
		rc = ENOMEM;
	if (rc) {
		session_clear(&s);
		goto out;
	}
	*out = s;
	free(used);
	return 0;
 out:
	free(used);
	explicit_bzero(&s, sizeof(s));
	return rc;
}

/* ---- end: close and expire ---- */

/*
 * session_end() - move the active session @s to @status: record, pair
 * entries (kept, as history, so a call to an ended pair can be told from
 * an unknown one, until retention purges them), expiry, status and ended
 * indexes, pool slot, counters.
 * @s carries its strings, since the record is rewritten whole.
 */
static int session_end(struct store_txn *tx, struct session *s,
		       enum session_status status, int64_t at_ms)
{
	int64_t expires_at_ms = s->expires_at_ms;
	uint64_t vn;
	int rc;

	if (store_num_pack(s->vn, &vn))
		return EIO;
	rc = store_pin_index_del(tx, s);	/* while s is still active */
	if (rc)
		return rc;
	s->status = status;
	s->ended_at_ms = at_ms;
	rc = session_put(tx, s);
	if (!rc)
		rc = pairs_put(tx, s);
	if (!rc)
		rc = expiry_del(tx, expires_at_ms, s->id);
	if (!rc)
		rc = store_status_del(tx, SESSION_ACTIVE, s->id);
	if (!rc)
		rc = store_status_put(tx, status, s->id);
	if (!rc)
		rc = store_ended_put(tx, at_ms, s->id);
	if (!rc)
		rc = store_pool_adjust(tx, vn, -1);
	if (!rc)
		rc = store_meta_add(tx, "active", -1);
	if (!rc && status == SESSION_EXPIRED)
		rc = store_meta_add(tx, "expiries", 1);
	return rc;
}

int store_expire_due(struct store_txn *tx, int64_t now_ms, unsigned max,
		     unsigned *n)
{
	unsigned done = 0;
	int rc = 0;

	/*
	 * Re-open the cursor each round: session_end() deletes the very key
	 * we stand on, and a fresh MDB_FIRST is one page walk anyway.
	 */
	while (done < max) {
		uint8_t id[STORE_ID_LEN];
		struct session s;
		MDB_cursor *cur;
		MDB_val k, v;
		int64_t at = 0;

		rc = store_err(mdb_cursor_open(tx->txn, tx->st->expiry, &cur));
		if (rc)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == 0 && k.mv_size == EXPIRY_KEY_SIZE) {
			at = store_key_expiry_at(&k);
			memcpy(id, (uint8_t *)k.mv_data + 8, STORE_ID_LEN);
		} else if (rc == 0) {
			rc = EIO;
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = store_err(rc);
			break;
		}
		if (at > now_ms)
			break;

		rc = session_read(tx->txn, tx->st, id, &s, true);
		if (rc == 0 && s.status != SESSION_ACTIVE)
			rc = EIO;	/* only active sessions are indexed */
		if (rc == 0)
			rc = session_end(tx, &s, SESSION_EXPIRED,
					 s.expires_at_ms);
		if (rc == 0 && tx->st->expire_h)
			rc = tx->st->expire_h(tx, &s, tx->st->expire_arg);
		session_clear(&s);
		if (rc)
			break;
		done++;
	}
	if (n)
		*n = done;
	return rc;
}

int store_session_close(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
			int64_t now_ms, struct session *out)
{
	struct session s;
	int rc;

	rc = store_expire_due(tx, now_ms, UINT32_MAX, NULL);
	if (rc)
		return rc;
	rc = session_read(tx->txn, tx->st, id, &s, true);
	if (rc)
		return rc;
	if (s.status != SESSION_ACTIVE) {
		*out = s;
		return EALREADY;
	}
	rc = session_end(tx, &s, SESSION_CLOSED, now_ms);
	if (rc) {
		session_clear(&s);
		return rc;
	}
	*out = s;
	return 0;
}

int store_session_update(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
			 const struct session_patch *patch, int64_t now_ms,
			 struct session *out)
{
	struct session s;
	int rc;

	if (patch->set_expires_at && patch->expires_at_ms <= now_ms)
		return EINVAL;
	if ((patch->set_pins || patch->set_pin_retries) &&
	    store_pin_check(&patch->pin))
		return EINVAL;
	rc = store_expire_due(tx, now_ms, UINT32_MAX, NULL);
	if (rc)
		return rc;
	rc = session_read(tx->txn, tx->st, id, &s, true);
	if (rc)
		return rc;
	if (s.status != SESSION_ACTIVE) {
		rc = EALREADY;
		goto fail;
	}
	if (patch->set_expires_at && patch->expires_at_ms != s.expires_at_ms) {
		rc = expiry_del(tx, s.expires_at_ms, s.id);
		if (!rc)
			rc = expiry_put(tx, patch->expires_at_ms, s.id);
		if (rc)
			goto fail;
		s.expires_at_ms = patch->expires_at_ms;
	}
	if (patch->set_call_time_limit)
		s.call_time_limit_s = patch->call_time_limit_s;
	if (patch->set_record)
		s.record = patch->record;
	if (patch->set_callback_url) {
		free(s.callback_url);
		s.callback_url = NULL;
		if (patch->callback_url &&
		    !(s.callback_url = strdup(patch->callback_url))) {
			rc = ENOMEM;
			goto fail;
		}
	}
	if (patch->set_pin_required || patch->set_pin_retries ||
	    patch->set_pins) {
		rc = store_pin_patch(tx, &s, patch);
		if (rc)
			goto fail;
	}
	rc = session_put(tx, &s);
	if (!rc)
		rc = pairs_put(tx, &s);
	if (rc)
		goto fail;
	*out = s;
	return 0;
 fail:
	session_clear(&s);
	explicit_bzero(&s, sizeof(s));
	return rc;
}

/* ---- reading ---- */

int store_lookup(struct store_reader *r, const char *caller, const char *vn,
		 int64_t now_ms, struct session *out)
{
	uint8_t buf[PAIR_KEY_SIZE];
	uint64_t c, v_num;
	struct rec_pair p;
	MDB_val k, v;
	int rc;

	if (store_num_pack(caller, &c) || store_num_pack(vn, &v_num))
		return ENOENT;	/* no stored number looks like that */
	k = store_key_pair(buf, c, v_num);

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = mdb_get(r->txn, r->st->pair, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(p))
		memcpy(&p, v.mv_data, sizeof(p));
	store_reader_end(r);
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(p))
		return EIO;

	memcpy(out->id, p.id, STORE_ID_LEN);
	if (p.caller_is_a) {
		store_num_unpack(c, out->party_a);
		store_num_unpack(p.other, out->party_b);
	} else {
		store_num_unpack(p.other, out->party_a);
		store_num_unpack(c, out->party_b);
	}
	store_num_unpack(v_num, out->vn);
	out->status = (enum session_status)p.status;
	out->created_at_ms = p.created_at_ms;
	out->expires_at_ms = p.expires_at_ms;
	out->ended_at_ms = p.ended_at_ms;
	out->call_time_limit_s = p.call_time_limit_s;
	out->record = p.record != 0;
	out->callback_url = NULL;
	out->metadata = NULL;
	/* the pair value carries no PIN: a party is never asked for one */
	out->pin_required = false;
	out->pin_retries = 0;
	out->pin_a[0] = '\0';
	out->pin_b[0] = '\0';
	session_apply_clock(out, now_ms);
	return out->status == SESSION_ACTIVE ? 0 : ESTALE;
}

int store_session_get(struct store_reader *r, const uint8_t id[STORE_ID_LEN],
		      int64_t now_ms, struct session *out)
{
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = session_read(r->txn, r->st, id, out, true);
	store_reader_end(r);
	if (rc == 0)
		session_apply_clock(out, now_ms);
	return rc;
}

static bool filter_match(const struct session_filter *f,
			 const struct session *s)
{
	if (f->party && strcmp(f->party, s->party_a) &&
	    strcmp(f->party, s->party_b))
		return false;
	if (f->vn && strcmp(f->vn, s->vn))
		return false;
	if (f->by_status && f->status != s->status)
		return false;
	return true;
}

/*
 * A listing walks the narrowest index the filter allows, in id order from
 * just after the cursor's id: the party or vn index (be64(number) id), the
 * status index (status(1) id), or the sessions themselves (id).
 *
 * Listing by status expired also merges in the sessions still marked
 * active but past expires_at, which the sweeper has not moved yet and
 * session_apply_clock() calls expired: they are the head of the expiry index, few
 * (the sweeper runs every fraction of a second), and are collected and
 * sorted by id before the walk. Those marked active but past expires_at
 * are skipped when listing active ones by the same rule.
 *
 * Listing by party or vn on a cluster cache merges in, the same way, the
 * sessions whose index entries are still queued (store_mirror.h): at
 * most the last flush interval's, read from the queue and sorted by id.
 */
struct list_walk {
	MDB_cursor *cur;
	uint8_t prefix[8];		/* of every key in the range */
	size_t plen;
	bool bare;			/* cur walks sessions: key = id */
	int rc;				/* the cursor's last move; 0 = on one */
	MDB_val k, v;
	struct store_ids due;		/* merged in (above): sorted */
	size_t i_due;
};

/* walk_id() - the cursor's id, or NULL past the end of its range. */
static const uint8_t *walk_id(const struct list_walk *w)
{
	if (w->rc || w->k.mv_size != w->plen + STORE_ID_LEN ||
	    memcmp(w->k.mv_data, w->prefix, w->plen))
		return NULL;
	return (const uint8_t *)w->k.mv_data + w->plen;
}

int store_ids_add(struct store_ids *l, const uint8_t id[STORE_ID_LEN])
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		void *nids = realloc(l->id, ncap * sizeof(*l->id));

		if (!nids)
			return ENOMEM;
		l->id = nids;
		l->cap = ncap;
	}
	memcpy(l->id[l->n++], id, STORE_ID_LEN);
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, STORE_ID_LEN);
}

void store_ids_sort(struct store_ids *l)
{
	if (l->n > 1)
		qsort(l->id, l->n, sizeof(*l->id), cmp_id);
}

/* collect_due() - the ids of active sessions past expires_at (<= @now_ms)
 * after the filter's cursor, sorted, into w->due. */
static int collect_due(MDB_txn *txn, struct store *st,
		       const struct session_filter *f, int64_t now_ms,
		       struct list_walk *w)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = store_err(mdb_cursor_open(txn, st->expiry, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		const uint8_t *id = (const uint8_t *)k.mv_data + 8;

		if (k.mv_size != EXPIRY_KEY_SIZE) {
			rc = EIO;
			break;
		}
		if (store_key_expiry_at(&k) > now_ms)
			break;
		if (!f->has_cursor || memcmp(id, f->after, STORE_ID_LEN) > 0) {
			rc = store_ids_add(&w->due, id);
			if (rc)
				break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return store_err(rc);
	store_ids_sort(&w->due);
	return 0;
}

/*
 * walk_next() - the next session of the walk (the smaller id of the
 * cursor's and the due list's) into *s, with its strings. ENOENT at the
 * end of both.
 */
static int walk_next(struct store_reader *r, struct list_walk *w,
		     struct session *s)
{
	const uint8_t *cid = walk_id(w);
	const uint8_t *did = w->i_due < w->due.n ? w->due.id[w->i_due] : NULL;
	int rc;

	if (w->bare && w->rc == 0 && w->k.mv_size != STORE_ID_LEN)
		return EIO;
	if (!cid && !did)
		return ENOENT;
	if (did && (!cid || memcmp(did, cid, STORE_ID_LEN) < 0)) {
		w->i_due++;
		rc = session_read(r->txn, r->st, did, s, true);
	} else if (w->bare) {
		rc = store_session_decode(&w->v, s, true);
		if (!rc)
			memcpy(s->id, cid, STORE_ID_LEN);
		w->rc = mdb_cursor_get(w->cur, &w->k, &w->v, MDB_NEXT);
	} else {
		rc = session_read(r->txn, r->st, cid, s, true);
		w->rc = mdb_cursor_get(w->cur, &w->k, &w->v, MDB_NEXT);
	}
	/* an index entry without its session: the index is out of step */
	if (rc == ENOENT)
		rc = EIO;
	if (!rc && w->rc && w->rc != MDB_NOTFOUND)
		rc = store_err(w->rc);
	return rc;
}

int store_session_list(struct store_reader *r, const struct session_filter *f,
		       int64_t now_ms, session_list_h *h, void *arg,
		       bool *more)
{
	uint8_t buf[IDX_KEY_SIZE];
	const char *prefix_str = f->party ? f->party : f->vn;
	struct list_walk w;
	uint64_t num;
	MDB_dbi dbi;
	MDB_val k;
	unsigned found = 0;
	int rc;

	*more = false;
	if (f->limit == 0)
		return EINVAL;
	memset(&w, 0, sizeof(w));
	if (prefix_str) {
		if (store_num_pack(prefix_str, &num))
			return 0;	/* matches nothing */
		dbi = f->party ? r->st->party : r->st->vn;
		k = store_key_idx(buf, num, f->has_cursor ? f->after : NULL);
		w.plen = 8;
	} else if (f->by_status) {
		dbi = r->st->status;
		k = store_key_status(buf, f->status,
				     f->has_cursor ? f->after : NULL);
		w.plen = 1;
	} else {
		dbi = r->st->sessions;
		memcpy(buf, f->after, STORE_ID_LEN);
		k.mv_data = buf;
		k.mv_size = f->has_cursor ? STORE_ID_LEN : 0;
		w.bare = true;
	}
	memcpy(w.prefix, buf, w.plen);

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	if (!prefix_str && f->by_status && f->status == SESSION_EXPIRED)
		rc = collect_due(r->txn, r->st, f, now_ms, &w);
	else if (prefix_str)
		rc = store_idxq_ids(r->txn, r->st, f->party != NULL, num,
				    f->has_cursor ? f->after : NULL, &w.due);
	if (!rc)
		rc = store_err(mdb_cursor_open(r->txn, dbi, &w.cur));
	if (rc)
		goto out;
	w.k = k;
	if (k.mv_size)
		w.rc = mdb_cursor_get(w.cur, &w.k, &w.v, MDB_SET_RANGE);
	else
		w.rc = mdb_cursor_get(w.cur, &w.k, &w.v, MDB_FIRST);
	/* the cursor's own id was on the previous page */
	if (w.rc == 0 && f->has_cursor && w.k.mv_size >= STORE_ID_LEN &&
	    !memcmp((char *)w.k.mv_data + w.k.mv_size - STORE_ID_LEN,
		    f->after, STORE_ID_LEN))
		w.rc = mdb_cursor_get(w.cur, &w.k, &w.v, MDB_NEXT);
	if (w.rc && w.rc != MDB_NOTFOUND) {
		rc = store_err(w.rc);
		goto out;
	}

	for (;;) {
		struct session s;

		rc = walk_next(r, &w, &s);
		if (rc == ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		session_apply_clock(&s, now_ms);
		if (filter_match(f, &s)) {
			if (found == f->limit) {
				*more = true;
				session_clear(&s);
				break;
			}
			found++;
			if (h(&s, arg)) {
				session_clear(&s);
				break;
			}
		}
		session_clear(&s);
	}
 out:
	if (w.cur)
		mdb_cursor_close(w.cur);
	free(w.due.id);
	store_reader_end(r);
	return rc;
}

/*
 * store_first_at() - the time of the first key of a time-ordered index
 * (be64 ms + session id: the expiry and ended indexes): ENOENT when it
 * is empty, EIO when its first key is not that shape.
 */
int store_first_at(struct store_reader *r, MDB_dbi dbi, int64_t *at_ms)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, dbi, &cur));
	if (rc)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	mdb_cursor_close(cur);
	if (rc) {
		rc = store_err(rc);
		goto out;
	}
	if (k.mv_size != EXPIRY_KEY_SIZE) {
		rc = EIO;
		goto out;
	}
	*at_ms = store_key_expiry_at(&k);
 out:
	store_reader_end(r);
	return rc;
}

int store_next_expiry(struct store_reader *r, int64_t *at_ms)
{
	return store_first_at(r, r->st->expiry, at_ms);
}

int store_session_read(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
		       struct session *out)
{
	return session_read(tx->txn, tx->st, id, out, true);
}

/* ---- for store_mirror.c: the record and pair value builders ---- */

int store_session_record_put(struct store_txn *tx, const struct session *s)
{
	return session_put(tx, s);
}

void store_pair_value(struct rec_pair *p, const struct session *s,
		      bool caller_is_a, uint64_t other)
{
	pair_value(p, s, caller_is_a, other);
}
