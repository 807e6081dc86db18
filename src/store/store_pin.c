/*
 * store_pin.c - the pin index: (vn, PIN) -> the active session whose
 * party that PIN stands for, and the PIN rules (shape, generation).
 *
 * A PIN is unique among the PIN-requiring active sessions of one vn, so a
 * caller's digits name at most one session. The index is written by
 * store_session.c in the session's own transaction; nothing else writes
 * it.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "store_internal.h"

/* Draws of a generated pair before giving up: with 4 digits and even a
 * thousand PINs on one vn, 64 collisions in a row is about 10^-64. */
#define PIN_DRAWS 64

bool store_pin_valid(const char *pin)
{
	size_t n = 0;

	if (!pin)
		return false;
	for (; pin[n]; n++)
		if (pin[n] < '0' || pin[n] > '9' || n == STORE_PIN_MAX)
			return false;
	return n >= STORE_PIN_MIN;
}

int store_pin_check(const struct session_pin_params *p)
{
	bool has_a = p->pin_a && p->pin_a[0];
	bool has_b = p->pin_b && p->pin_b[0];

	if (p->pin_retries > STORE_PIN_RETRIES_MAX)
		return EINVAL;
	if (p->generate)
		return p->pin_length >= STORE_PIN_MIN &&
		       p->pin_length <= STORE_PIN_MAX ? 0 : EINVAL;
	if (has_a != has_b)
		return EINVAL;
	if (has_a && (!store_pin_valid(p->pin_a) ||
		      !store_pin_valid(p->pin_b) ||
		      !strcmp(p->pin_a, p->pin_b)))
		return EINVAL;
	return 0;
}

static MDB_val pin_key(uint8_t buf[PIN_KEY_SIZE_MAX], uint64_t vn,
		       const char *pin)
{
	size_t n = strlen(pin);
	MDB_val k;

	store_be64_put(buf, vn);
	memcpy(buf + 8, pin, n);
	k.mv_size = 8 + n;
	k.mv_data = buf;
	return k;
}

int store_pin_taken(struct store_txn *tx, uint64_t vn, const char *pin,
		    bool *taken)
{
	uint8_t buf[PIN_KEY_SIZE_MAX];
	MDB_val k = pin_key(buf, vn, pin), v;
	int rc;

	rc = mdb_get(tx->txn, tx->st->pin, &k, &v);
	*taken = rc == 0;
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

/* pin_draw() - @len uniformly random digits: bytes >= 250 are dropped so
 * that each of the ten digits has the same 25 byte values. */
static int pin_draw(unsigned len, char out[STORE_PIN_SIZE])
{
	uint8_t rnd[64];
	unsigned i = 0;

	while (i < len) {
		ssize_t got = getrandom(rnd, sizeof(rnd), 0);

		if (got <= 0)
			return EIO;
		for (ssize_t j = 0; j < got && i < len; j++)
			if (rnd[j] < 250)
				out[i++] = (char)('0' + rnd[j] % 10);
	}
	out[len] = '\0';
	return 0;
}

int store_pin_generate(struct store_txn *tx, uint64_t vn, unsigned len,
		       struct session *s)
{
	char pin[2][STORE_PIN_SIZE];
	int i, rc;

	for (i = 0; i < 2; i++) {
		unsigned draw;
		bool taken = true;

		for (draw = 0; taken && draw < PIN_DRAWS; draw++) {
			rc = pin_draw(len, pin[i]);
			if (!rc)
				rc = store_pin_taken(tx, vn, pin[i], &taken);
			if (rc)
				return rc;
			if (i == 1 && !strcmp(pin[0], pin[1]))
				taken = true;
		}
		if (taken)
			return ENOTUNIQ;
	}
	memcpy(s->pin_a, pin[0], STORE_PIN_SIZE);
	memcpy(s->pin_b, pin[1], STORE_PIN_SIZE);
	explicit_bzero(pin, sizeof(pin));
	return 0;
}

/* store_pin_pair_taken() - whether either PIN of @p is indexed on @vn. */
int store_pin_pair_taken(struct store_txn *tx, uint64_t vn,
			 const struct session_pin_params *p, bool *taken)
{
	int rc = store_pin_taken(tx, vn, p->pin_a, taken);

	if (!rc && !*taken)
		rc = store_pin_taken(tx, vn, p->pin_b, taken);
	return rc;
}

static bool indexed(const struct session *s)
{
	return s->status == SESSION_ACTIVE && s->pin_required &&
	       s->pin_a[0] && s->pin_b[0];
}

int store_pin_index_put(struct store_txn *tx, const struct session *s)
{
	uint8_t buf[PIN_KEY_SIZE_MAX];
	struct rec_pin_ref ref;
	uint64_t vn;
	int i, rc;

	if (!indexed(s))
		return 0;
	if (store_num_pack(s->vn, &vn))
		return EIO;
	for (i = 0; i < 2; i++) {
		MDB_val k = pin_key(buf, vn, i ? s->pin_b : s->pin_a);
		MDB_val v = { sizeof(ref), &ref };

		memset(&ref, 0, sizeof(ref));
		memcpy(ref.id, s->id, STORE_ID_LEN);
		ref.party = i ? PIN_PARTY_B : PIN_PARTY_A;
		rc = mdb_put(tx->txn, tx->st->pin, &k, &v, MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST)
			return ENOTUNIQ;
		if (rc)
			return store_err(rc);
	}
	return 0;
}

int store_pin_index_del(struct store_txn *tx, const struct session *s)
{
	uint8_t buf[PIN_KEY_SIZE_MAX];
	uint64_t vn;
	int i, rc;

	if (!indexed(s))
		return 0;
	if (store_num_pack(s->vn, &vn))
		return EIO;
	for (i = 0; i < 2; i++) {
		MDB_val k = pin_key(buf, vn, i ? s->pin_b : s->pin_a);

		rc = mdb_del(tx->txn, tx->st->pin, &k, NULL);
		if (rc == MDB_NOTFOUND)
			return EIO;
		if (rc)
			return store_err(rc);
	}
	return 0;
}

int store_pin_lookup(struct store_reader *r, const char *vn, const char *pin,
		     int64_t now_ms, struct session *out,
		     enum pin_party *party)
{
	uint8_t buf[PIN_KEY_SIZE_MAX];
	struct rec_pin_ref ref;
	uint64_t num;
	MDB_val k, v;
	int rc;

	if (store_num_pack(vn, &num) || !store_pin_valid(pin))
		return ENOENT;	/* no indexed PIN looks like that */
	k = pin_key(buf, num, pin);
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = mdb_get(r->txn, r->st->pin, &k, &v);
	if (rc == 0 && v.mv_size != sizeof(ref))
		rc = EIO;
	if (rc == 0) {
		memcpy(&ref, v.mv_data, sizeof(ref));
		k.mv_size = STORE_ID_LEN;
		k.mv_data = ref.id;
		rc = mdb_get(r->txn, r->st->sessions, &k, &v);
		if (rc == MDB_NOTFOUND)
			rc = EIO;	/* an entry without its session */
		if (rc == 0)
			rc = store_session_decode(&v, out, false);
	}
	store_reader_end(r);
	if (rc)
		return rc == EIO ? EIO : store_err(rc);
	memcpy(out->id, ref.id, STORE_ID_LEN);
	if (out->status != SESSION_ACTIVE)
		return EIO;	/* only active sessions are indexed */
	/* past expires_at: ended to every reader (see store_session_get()) */
	if (out->expires_at_ms <= now_ms)
		return ENOENT;
	if (party)
		*party = ref.party ? PIN_PARTY_B : PIN_PARTY_A;
	return 0;
}

int store_pin_vn_active(struct store_reader *r, const char *vn, bool *yes)
{
	uint8_t buf[8];
	MDB_cursor *cur;
	uint64_t num;
	MDB_val k = { sizeof(buf), buf }, v;
	int rc;

	*yes = false;
	if (store_num_pack(vn, &num))
		return 0;
	store_be64_put(buf, num);
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->pin, &cur));
	if (rc == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		*yes = rc == 0 && k.mv_size > 8 &&
		       !memcmp(k.mv_data, buf, 8);
		mdb_cursor_close(cur);
		rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
	}
	store_reader_end(r);
	return rc;
}

/*
 * store_pin_patch() - the PIN fields of @patch onto the active session
 * @s, and its pin index entries with them: the old ones out, the new ones
 * in (ENOTUNIQ when taken by another session; the caller aborts).
 */
int store_pin_patch(struct store_txn *tx, struct session *s,
		    const struct session_patch *patch)
{
	uint64_t vn;
	int rc;

	rc = store_pin_index_del(tx, s);
	if (rc)
		return rc;
	if (patch->set_pin_required)
		s->pin_required = patch->pin.pin_required;
	if (patch->set_pin_retries)
		s->pin_retries = patch->pin.pin_retries;
	if (patch->set_pins && patch->pin.generate) {
		if (store_num_pack(s->vn, &vn))
			return EIO;
		rc = store_pin_generate(tx, vn, patch->pin.pin_length, s);
		if (rc)
			return rc;
	} else if (patch->set_pins) {
		memset(s->pin_a, 0, sizeof(s->pin_a));
		memset(s->pin_b, 0, sizeof(s->pin_b));
		if (patch->pin.pin_a && patch->pin.pin_a[0]) {
			strcpy(s->pin_a, patch->pin.pin_a);
			strcpy(s->pin_b, patch->pin.pin_b);
		}
	}
	if (s->pin_required && !s->pin_a[0])
		return EINVAL;
	return store_pin_index_put(tx, s);
}

/*
 * store_pin_index_del_own() - store_pin_index_del(), but only the entries
 * that name @s: a mirrored session whose PIN was not indexed (another,
 * stale, session held it: store_mirror.c) must not delete that one's.
 */
int store_pin_index_del_own(struct store_txn *tx, const struct session *s)
{
	uint8_t buf[PIN_KEY_SIZE_MAX];
	struct rec_pin_ref ref;
	uint64_t vn;
	MDB_val k, v;
	int i, rc;

	if (!indexed(s))
		return 0;
	if (store_num_pack(s->vn, &vn))
		return EIO;
	for (i = 0; i < 2; i++) {
		k = pin_key(buf, vn, i ? s->pin_b : s->pin_a);
		rc = mdb_get(tx->txn, tx->st->pin, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc)
			return store_err(rc);
		if (v.mv_size != sizeof(ref))
			return EIO;
		memcpy(&ref, v.mv_data, sizeof(ref));
		if (memcmp(ref.id, s->id, STORE_ID_LEN))
			continue;
		rc = mdb_del(tx->txn, tx->st->pin, &k, NULL);
		if (rc)
			return store_err(rc);
	}
	return 0;
}

int store_pin_vn_info(struct store_reader *r, const char *vn,
		      struct pin_vn_info *out)
{
	uint8_t buf[8];
	struct rec_pin_ref ref;
	struct session s;
	MDB_cursor *cur;
	uint64_t num;
	MDB_val k = { sizeof(buf), buf }, v, sv;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_num_pack(vn, &num))
		return 0;
	store_be64_put(buf, num);
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->pin, &cur));
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= 8 || memcmp(k.mv_data, buf, 8))
			break;
		n = k.mv_size - 8;
		if (n > STORE_PIN_MAX || v.mv_size != sizeof(ref))
			continue;	/* not an entry this build writes */
		out->lengths |= 1u << n;
		if (n > out->longest)
			out->longest = (uint8_t)n;
		if (out->retries >= STORE_PIN_RETRIES_MAX)
			continue;
		memcpy(&ref, v.mv_data, sizeof(ref));
		k.mv_size = STORE_ID_LEN;
		k.mv_data = ref.id;
		/* another database: the cursor keeps its place */
		if (!mdb_get(r->txn, r->st->sessions, &k, &sv) &&
		    !store_session_decode(&sv, &s, false) &&
		    s.pin_retries > out->retries)
			out->retries = s.pin_retries;
	}
	mdb_cursor_close(cur);
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
 out:
	store_reader_end(r);
	return rc;
}

int store_pin_extends(struct store_reader *r, const char *vn,
		      const char *digits, bool *yes)
{
	uint8_t buf[PIN_KEY_SIZE_MAX];
	MDB_cursor *cur;
	uint64_t num;
	size_t n = strlen(digits);
	MDB_val k, v;
	int rc;

	*yes = false;
	if (store_num_pack(vn, &num) || n >= STORE_PIN_MAX)
		return 0;
	k = pin_key(buf, num, digits);
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->pin, &cur));
	if (rc == 0) {
		/* keys sort as bytes, a prefix first: the first key past
		 * @digits itself is the smallest that could extend it */
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == 8 + n &&
		    !memcmp(k.mv_data, buf, 8 + n))
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		*yes = rc == 0 && k.mv_size > 8 + n &&
		       !memcmp(k.mv_data, buf, 8 + n);
		mdb_cursor_close(cur);
		rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
	}
	store_reader_end(r);
	return rc;
}
