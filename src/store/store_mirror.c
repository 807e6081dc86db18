/*
 * store_mirror.c - sessions written as another store says (see
 * store_mirror.h): the cluster's cache feed.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "maskd/store_mirror.h"

#include "store_internal.h"

#define META_XID "cluster_xid"
#define META_ID "cluster_id"

/*
 * Whether the pair entry @p (another session) keeps its place against
 * @s. An active session wins over an ended one whatever their creation
 * times: PostgreSQL never holds two active sessions of a pair, and a
 * create can carry an earlier created_at than a session another node
 * made, used and closed while this one waited for its party's lock
 * (test_cluster's feed saw the ended one kept and the pair refused).
 * Between two of the same kind the newer stays.
 */
static bool mirror_pair_keeps(const struct rec_pair *p,
			      const struct session *s)
{
	bool p_active = p->status == SESSION_ACTIVE;
	bool s_active = s->status == SESSION_ACTIVE;

	if (p_active != s_active)
		return p_active;
	return p->created_at_ms > s->created_at_ms ||
	       (p->created_at_ms == s->created_at_ms &&
		memcmp(p->id, s->id, STORE_ID_LEN) > 0);
}

/* pair entry of (@party, @s->vn) -> @s, unless another session keeps it
 * (mirror_pair_keeps()) */
static int mirror_pair(struct store_txn *tx, const struct session *s,
		       uint64_t party, uint64_t other, uint64_t vn,
		       bool caller_is_a)
{
	uint8_t buf[PAIR_KEY_SIZE];
	MDB_val k = store_key_pair(buf, party, vn), v;
	struct rec_pair p;
	int rc;

	rc = mdb_get(tx->txn, tx->st->pair, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(p)) {
		memcpy(&p, v.mv_data, sizeof(p));
		if (memcmp(p.id, s->id, STORE_ID_LEN) &&
		    mirror_pair_keeps(&p, s))
			return 0;
	} else if (rc && rc != MDB_NOTFOUND) {
		return store_err(rc);
	}
	store_pair_value(&p, s, caller_is_a, other);
	v.mv_size = sizeof(p);
	v.mv_data = &p;
	return store_err(mdb_put(tx->txn, tx->st->pair, &k, &v, 0));
}

static int mirror_pairs(struct store_txn *tx, const struct session *s)
{
	uint64_t a, b, vn;
	int rc;

	if (store_num_pack(s->party_a, &a) || store_num_pack(s->party_b, &b) ||
	    store_num_pack(s->vn, &vn))
		return EINVAL;
	rc = mirror_pair(tx, s, a, b, vn, true);
	return rc ? rc : mirror_pair(tx, s, b, a, vn, false);
}

static int expiry_op(struct store_txn *tx, int64_t at_ms,
		     const uint8_t id[STORE_ID_LEN], bool put)
{
	uint8_t buf[EXPIRY_KEY_SIZE];
	MDB_val k = store_key_expiry(buf, at_ms, id), v = { 0, NULL };
	int rc;

	if (put)
		return store_err(mdb_put(tx->txn, tx->st->expiry, &k, &v, 0));
	rc = mdb_del(tx->txn, tx->st->expiry, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static int pins_put(struct store_txn *tx, const struct session *s,
		    bool *pin_skipped)
{
	int rc = store_pin_index_put(tx, s);

	if (rc == ENOTUNIQ) {
		if (pin_skipped)
			*pin_skipped = true;
		return 0;
	}
	return rc;
}

/* a new session here */
static int mirror_new(struct store_txn *tx, const struct session *s,
		      bool *pin_skipped)
{
	bool active = s->status == SESSION_ACTIVE;
	int rc;

	rc = store_session_record_put(tx, s);
	if (!rc)
		rc = mirror_pairs(tx, s);
	if (!rc)
		rc = store_idxq_put(tx, s);
	if (!rc)
		rc = store_status_put(tx, s->status, s->id);
	if (!rc && active)
		rc = expiry_op(tx, s->expires_at_ms, s->id, true);
	if (!rc && active)
		rc = pins_put(tx, s, pin_skipped);
	if (!rc && active)
		rc = store_meta_add(tx, "active", 1);
	if (!rc && !active)
		rc = store_ended_put(tx, s->ended_at_ms, s->id);
	if (!rc)
		rc = store_meta_add(tx, "total", 1);
	return rc;
}

/* an active session here, @s active or ended */
static int mirror_change(struct store_txn *tx, const struct session *old,
			 const struct session *s, bool *pin_skipped)
{
	bool active = s->status == SESSION_ACTIVE;
	int rc;

	/* its PINs may not be indexed (skipped): delete only its own */
	rc = store_pin_index_del_own(tx, old);
	if (!rc)
		rc = store_session_record_put(tx, s);
	if (!rc)
		rc = mirror_pairs(tx, s);
	if (!rc && (!active || old->expires_at_ms != s->expires_at_ms))
		rc = expiry_op(tx, old->expires_at_ms, s->id, false);
	if (!rc && active && old->expires_at_ms != s->expires_at_ms)
		rc = expiry_op(tx, s->expires_at_ms, s->id, true);
	if (!rc && active)
		return pins_put(tx, s, pin_skipped);
	if (!rc)
		rc = store_status_del(tx, SESSION_ACTIVE, s->id);
	if (!rc)
		rc = store_status_put(tx, s->status, s->id);
	if (!rc)
		rc = store_ended_put(tx, s->ended_at_ms, s->id);
	if (!rc)
		rc = store_meta_add(tx, "active", -1);
	if (!rc && s->status == SESSION_EXPIRED)
		rc = store_meta_add(tx, "expiries", 1);
	return rc;
}

static bool str_same(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

/*
 * An active session already here exactly as @s says, with no PIN: the
 * feed bringing back a node's own create (its commit wrote the same row,
 * pairs and expiry a moment ago). Rewriting it would dirty the same
 * pages again for nothing - a third of the feed's rows on a node of
 * three. Only an identical row is skipped, so a local write that never
 * committed is still made by the feed. A row with PINs is written again:
 * its PINs may have been skipped (*pin_skipped) and be free now.
 */
static bool mirror_same(const struct session *old, const struct session *s)
{
	return old->status == SESSION_ACTIVE && s->status == SESSION_ACTIVE &&
	       !old->pin_a[0] && !old->pin_b[0] && !s->pin_a[0] &&
	       !s->pin_b[0] && old->pin_required == s->pin_required &&
	       old->pin_retries == s->pin_retries &&
	       old->created_at_ms == s->created_at_ms &&
	       old->expires_at_ms == s->expires_at_ms &&
	       old->ended_at_ms == s->ended_at_ms &&
	       old->call_time_limit_s == s->call_time_limit_s &&
	       old->record == s->record &&
	       !strcmp(old->party_a, s->party_a) &&
	       !strcmp(old->party_b, s->party_b) &&
	       !strcmp(old->vn, s->vn) &&
	       str_same(old->callback_url, s->callback_url) &&
	       str_same(old->metadata, s->metadata);
}

int store_session_mirror(struct store_txn *tx, const struct session *s,
			 bool *pin_skipped)
{
	struct session old;
	int rc;

	rc = store_session_read(tx, s->id, &old);
	if (rc == ENOENT)
		return mirror_new(tx, s, pin_skipped);
	if (rc)
		return rc;
	if (old.status == SESSION_ACTIVE && !mirror_same(&old, s))
		rc = mirror_change(tx, &old, s, pin_skipped);
	session_clear(&old);
	explicit_bzero(&old, sizeof(old));	/* PINs */
	return rc;
}

static int meta_put(struct store_txn *tx, const char *name, uint64_t n)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v = { sizeof(n), &n };

	return store_err(mdb_put(tx->txn, tx->st->meta, &k, &v, 0));
}

int store_mirror_cursor_set(struct store_txn *tx, uint64_t xid, uint64_t id)
{
	int rc = meta_put(tx, META_XID, xid);

	return rc ? rc : meta_put(tx, META_ID, id);
}

int store_mirror_cursor_get(struct store_reader *r, uint64_t *xid,
			    uint64_t *id)
{
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_meta_get(r->txn, r->st, META_XID, xid);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, META_ID, id);
	store_reader_end(r);
	return rc;
}
