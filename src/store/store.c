/*
 * store.c - the LMDB environment, transactions, ids and key layouts.
 *
 * Sessions and the pool live in store_session.c and store_pool.c; this
 * file owns what they share.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "store_internal.h"

#define STORE_MAX_DBS 32
#define STORE_MAX_READERS 512

int store_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc == MDB_MAP_FULL)
		return EDQUOT;
	if (rc > 0)
		return rc;	/* LMDB passes errnos through */
	return EIO;
}

/* mkdir -p: LMDB wants its directory to exist. */
static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	char *p;

	if (len == 0 || len >= sizeof(buf))
		return EINVAL;
	memcpy(buf, path, len + 1);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) && errno != EEXIST)
		return errno;
	return 0;
}

static int open_dbs(struct store *st)
{
	static const struct {
		const char *name;
		size_t off;
	} dbs[] = {
		{ "sessions", offsetof(struct store, sessions) },
		{ "pair", offsetof(struct store, pair) },
		{ "party", offsetof(struct store, party) },
		{ "vn", offsetof(struct store, vn) },
		{ "expiry", offsetof(struct store, expiry) },
		{ "pool", offsetof(struct store, pool) },
		{ "pool_use", offsetof(struct store, pool_use) },
		{ "meta", offsetof(struct store, meta) },
		{ "cdr", offsetof(struct store, cdr) },
		{ "status", offsetof(struct store, status) },
		{ "ended", offsetof(struct store, ended) },
		{ "events", offsetof(struct store, events) },
		{ "evt_due", offsetof(struct store, evt_due) },
		{ "evt_sess", offsetof(struct store, evt_sess) },
		{ "evt_status", offsetof(struct store, evt_status) },
		{ "evt_seq", offsetof(struct store, evt_seq) },
		{ "pin", offsetof(struct store, pin) },
		{ "pool_geo", offsetof(struct store, pool_geo) },
		{ "cdr_id", offsetof(struct store, cdr_id) },
		{ "export", offsetof(struct store, export) },
		{ "idxq", offsetof(struct store, idxq) },
	};
	MDB_txn *txn;
	size_t i;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc)
		return store_err(rc);
	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		MDB_dbi *dbi = (MDB_dbi *)((char *)st + dbs[i].off);

		rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbi);
		if (rc) {
			mdb_txn_abort(txn);
			return store_err(rc);
		}
	}
	return store_err(mdb_txn_commit(txn));
}

int store_open(struct store **stp, const char *path, uint64_t map_size,
	       struct log *log)
{
	struct store *st;
	int dead = 0;
	int rc;

	st = calloc(1, sizeof(*st));
	if (!st)
		return ENOMEM;
	st->log = log;

	rc = mkdir_parents(path);
	if (rc) {
		log_error(log, "store: cannot create %s: %s", path,
			  strerror(rc));
		goto fail;
	}
	rc = store_err(mdb_env_create(&st->env));
	if (rc)
		goto fail;
	rc = store_err(mdb_env_set_maxdbs(st->env, STORE_MAX_DBS));
	if (rc)
		goto fail;
	rc = store_err(mdb_env_set_maxreaders(st->env, STORE_MAX_READERS));
	if (rc)
		goto fail;
	rc = store_err(mdb_env_set_mapsize(st->env, (size_t)map_size));
	if (rc)
		goto fail;
	/*
	 * MDB_NOTLS: a reader belongs to a struct store_reader, not to the
	 * OS thread, so the control thread can hold its reader and the write
	 * transaction at once. MDB_NORDAHEAD: lookups are random reads; the
	 * kernel's readahead would only evict useful pages.
	 */
	rc = store_err(mdb_env_open(st->env, path,
				    MDB_NOTLS | MDB_NORDAHEAD, 0640));
	if (rc) {
		log_error(log, "store: cannot open %s: %s", path,
			  strerror(rc));
		goto fail;
	}
	/* A process killed with kill -9 leaves its reader slots behind. */
	mdb_reader_check(st->env, &dead);
	if (dead)
		log_info(log, "store: cleared %d stale reader slots", dead);

	rc = open_dbs(st);
	if (!rc)
		rc = store_index_upgrade(st);
	if (!rc)
		rc = store_geo_rebuild(st);
	if (rc) {
		log_error(log, "store: cannot open %s: %s", path,
			  strerror(rc));
		goto fail;
	}

	*stp = st;
	return 0;
 fail:
	store_close(st);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_metrics_unregister(st);
	if (st->env)
		mdb_env_close(st->env);
	free(st);
}

/* ---- ids ---- */

int store_id_new(struct store *st, int64_t now_ms, uint8_t id[STORE_ID_LEN])
{
	uint64_t t;
	int i;

	/* a clock step backwards must not break the order either */
	if (now_ms <= st->id_last_ms) {
		now_ms = st->id_last_ms;
		if (++st->id_seq == 0)
			now_ms = ++st->id_last_ms;
	} else {
		st->id_last_ms = now_ms;
		st->id_seq = 0;
	}
	t = now_ms < 0 ? 0 : (uint64_t)now_ms;
	for (i = 5; i >= 0; i--) {
		id[i] = (uint8_t)t;
		t >>= 8;
	}
	id[6] = (uint8_t)(st->id_seq >> 8);
	id[7] = (uint8_t)st->id_seq;
	if (st->id_rand_left < STORE_ID_LEN - 8) {
		if (getrandom(st->id_rand, sizeof(st->id_rand), 0) !=
		    (ssize_t)sizeof(st->id_rand))
			return EIO;
		st->id_rand_left = sizeof(st->id_rand);
	}
	st->id_rand_left -= STORE_ID_LEN - 8;
	memcpy(id + 8, st->id_rand + st->id_rand_left, STORE_ID_LEN - 8);
	/* used bytes are not kept */
	memset(st->id_rand + st->id_rand_left, 0, STORE_ID_LEN - 8);
	return 0;
}

void store_id_format(const uint8_t id[STORE_ID_LEN],
		     char out[STORE_ID_STR_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < STORE_ID_LEN; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 0xf];
	}
	out[2 * STORE_ID_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int store_id_parse(const char *s, uint8_t id[STORE_ID_LEN])
{
	int i;

	if (!s || strlen(s) != 2 * STORE_ID_LEN)
		return EINVAL;
	for (i = 0; i < STORE_ID_LEN; i++) {
		int hi = hexval(s[2 * i]);
		int lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return EINVAL;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void session_clear(struct session *s)
{
	if (!s)
		return;
	free(s->callback_url);
	free(s->metadata);
	s->callback_url = NULL;
	s->metadata = NULL;
}

int session_copy(struct session *dst, const struct session *src)
{
	*dst = *src;
	dst->callback_url = NULL;
	dst->metadata = NULL;
	if ((src->callback_url &&
	     !(dst->callback_url = strdup(src->callback_url))) ||
	    (src->metadata && !(dst->metadata = strdup(src->metadata)))) {
		session_clear(dst);
		return ENOMEM;
	}
	return 0;
}

void session_apply_clock(struct session *s, int64_t now_ms)
{
	if (s->status == SESSION_ACTIVE && s->expires_at_ms <= now_ms) {
		s->status = SESSION_EXPIRED;
		s->ended_at_ms = s->expires_at_ms;
	}
}

const char *session_status_name(enum session_status st)
{
	switch (st) {
	case SESSION_ACTIVE:
		return "active";
	case SESSION_EXPIRED:
		return "expired";
	case SESSION_CLOSED:
		return "closed";
	}
	return "unknown";
}

int session_status_parse(const char *s, enum session_status *out)
{
	static const enum session_status all[] = {
		SESSION_ACTIVE, SESSION_EXPIRED, SESSION_CLOSED,
	};
	size_t i;

	for (i = 0; s && i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(s, session_status_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return EINVAL;
}

/* ---- numbers and keys ---- */

int store_num_pack(const char *e164, uint64_t *out)
{
	uint64_t n = 0;
	const char *p;

	if (!e164_valid(e164))
		return EINVAL;
	for (p = e164 + 1; *p; p++)
		n = n * 10 + (uint64_t)(*p - '0');
	*out = n;
	return 0;
}

void store_num_unpack(uint64_t n, char out[E164_SIZE])
{
	char digits[E164_SIZE];
	int i = 0, j;

	do {
		digits[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n && i < E164_SIZE - 2);
	out[0] = '+';
	for (j = 0; j < i; j++)
		out[1 + j] = digits[i - 1 - j];
	out[1 + i] = '\0';
}

void store_be64_put(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t store_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

MDB_val store_key_pair(uint8_t buf[PAIR_KEY_SIZE], uint64_t party,
		       uint64_t vn)
{
	MDB_val k = { PAIR_KEY_SIZE, buf };

	store_be64_put(buf, party);
	store_be64_put(buf + 8, vn);
	return k;
}

MDB_val store_key_idx(uint8_t buf[IDX_KEY_SIZE], uint64_t num,
		      const uint8_t id[STORE_ID_LEN])
{
	MDB_val k = { 8, buf };

	store_be64_put(buf, num);
	if (id) {
		memcpy(buf + 8, id, STORE_ID_LEN);
		k.mv_size = IDX_KEY_SIZE;
	}
	return k;
}

char *store_strdup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

MDB_val store_key_expiry(uint8_t buf[EXPIRY_KEY_SIZE], int64_t at_ms,
			 const uint8_t id[STORE_ID_LEN])
{
	MDB_val k = { EXPIRY_KEY_SIZE, buf };

	/* times before 1970 never occur; clamp so the sort stays right */
	store_be64_put(buf, at_ms < 0 ? 0 : (uint64_t)at_ms);
	memcpy(buf + 8, id, STORE_ID_LEN);
	return k;
}

int64_t store_key_expiry_at(const MDB_val *k)
{
	return (int64_t)store_be64_get(k->mv_data);
}

MDB_val store_key_status(uint8_t buf[STATUS_KEY_SIZE],
			 enum session_status status,
			 const uint8_t id[STORE_ID_LEN])
{
	MDB_val k = { 1, buf };

	buf[0] = (uint8_t)status;
	if (id) {
		memcpy(buf + 1, id, STORE_ID_LEN);
		k.mv_size = STATUS_KEY_SIZE;
	}
	return k;
}

MDB_val store_key_pool(uint8_t buf[POOL_KEY_SIZE], uint64_t vn)
{
	MDB_val k = { POOL_KEY_SIZE, buf };

	store_be64_put(buf, vn);
	return k;
}

MDB_val store_key_pool_use(uint8_t buf[POOL_USE_KEY_SIZE], uint32_t count,
			   uint64_t vn)
{
	MDB_val k = { POOL_USE_KEY_SIZE, buf };

	buf[0] = (uint8_t)(count >> 24);
	buf[1] = (uint8_t)(count >> 16);
	buf[2] = (uint8_t)(count >> 8);
	buf[3] = (uint8_t)count;
	store_be64_put(buf + 4, vn);
	return k;
}

/* ---- readers ---- */

int store_reader_open(struct store *st, struct store_reader **rp)
{
	struct store_reader *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->st = st;
	rc = store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn));
	if (rc) {
		free(r);
		return rc;
	}
	/* Hold no snapshot while idle: an old snapshot pins pages and
	 * makes the file grow under a steady write load. */
	mdb_txn_reset(r->txn);
	*rp = r;
	return 0;
}

void store_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	mdb_txn_abort(r->txn);
	free(r);
}

int store_reader_begin(struct store_reader *r)
{
	return store_err(mdb_txn_renew(r->txn));
}

void store_reader_end(struct store_reader *r)
{
	mdb_txn_reset(r->txn);
}

/* ---- write transactions ---- */

static int store_write_open(struct store *st, struct store_txn *parent,
			    unsigned flags, struct store_txn **txp)
{
	struct store_txn *tx;
	int rc;

	tx = calloc(1, sizeof(*tx));
	if (!tx)
		return ENOMEM;
	tx->st = st;
	rc = store_err(mdb_txn_begin(st->env, parent ? parent->txn : NULL,
				     flags, &tx->txn));
	if (rc) {
		free(tx);
		return rc;
	}
	*txp = tx;
	return 0;
}

int store_write_begin(struct store *st, struct store_txn *parent,
		      struct store_txn **txp)
{
	return store_write_open(st, parent, 0, txp);
}

/*
 * LMDB 0.9.24 (Debian 12's) ignores MDB_NOMETASYNC given to
 * mdb_txn_begin() (measured: the meta page still went through its
 * O_DSYNC descriptor), so the env's flag is set for the transaction's
 * life and cleared when it ends. Only the control thread writes, and
 * LMDB's one rule for mdb_env_set_flags() is that two threads must not
 * change flags at once; readers never look at this one.
 */
static void store_lazy_end(struct store_txn *tx)
{
	if (tx->lazy)
		mdb_env_set_flags(tx->st->env, MDB_NOMETASYNC, 0);
}

int store_write_begin_lazy(struct store *st, struct store_txn **txp)
{
	int rc = store_err(mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1));

	if (!rc)
		rc = store_write_open(st, NULL, 0, txp);
	if (rc) {
		mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
		return rc;
	}
	(*txp)->lazy = true;
	return 0;
}

int store_write_commit(struct store_txn *tx)
{
	int rc = store_err(mdb_txn_commit(tx->txn));

	store_lazy_end(tx);
	free(tx);
	return rc;
}

void store_write_abort(struct store_txn *tx)
{
	if (!tx)
		return;
	mdb_txn_abort(tx->txn);
	store_lazy_end(tx);
	free(tx);
}

/* ---- meta counters ---- */

int store_meta_get(MDB_txn *txn, struct store *st, const char *name,
		   uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v;
	int rc;

	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(*out))
		return EIO;
	memcpy(out, v.mv_data, sizeof(*out));
	return 0;
}

int store_meta_add(struct store_txn *tx, const char *name, int64_t delta)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v;
	uint64_t n;
	int rc;

	rc = store_meta_get(tx->txn, tx->st, name, &n);
	if (rc)
		return rc;
	/* counters never go below zero, even if a bug tries */
	if (delta < 0 && (uint64_t)-delta > n)
		n = 0;
	else
		n += (uint64_t)delta;
	v.mv_size = sizeof(n);
	v.mv_data = &n;
	return store_err(mdb_put(tx->txn, tx->st->meta, &k, &v, 0));
}

/*
 * free_pages() - pages on LMDB's free list (database 0): freed by earlier
 * commits and reused by later ones before the file grows. Each record is
 * an id list whose first word is its length, as mdb_stat -f counts them.
 * The list is a few pages even after heavy churn, so walking it is cheap.
 */
static int free_pages(MDB_txn *txn, uint64_t *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n;
	int rc;

	*out = 0;
	rc = mdb_cursor_open(txn, 0, &cur);
	if (rc)
		return store_err(rc);
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (v.mv_size < sizeof(n))
			continue;
		memcpy(&n, v.mv_data, sizeof(n));	/* may be unaligned */
		*out += n;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int store_size_get(struct store *st, uint64_t *file_bytes,
		   uint64_t *map_bytes)
{
	MDB_envinfo ei;
	MDB_stat ms;
	int rc;

	rc = store_err(mdb_env_info(st->env, &ei));
	if (!rc)
		rc = store_err(mdb_env_stat(st->env, &ms));
	if (rc)
		return rc;
	*file_bytes = ((uint64_t)ei.me_last_pgno + 1) * ms.ms_psize;
	*map_bytes = ei.me_mapsize;
	return 0;
}

int store_stats_get(struct store_reader *r, struct store_stats *out)
{
	MDB_envinfo ei;
	MDB_stat ms;
	uint64_t pages, free_n = 0;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_meta_get(r->txn, r->st, "active", &out->sessions_active);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, "total",
				    &out->sessions_total);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, "expiries",
				    &out->expiries_total);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, "purged_sessions",
				    &out->purged_sessions);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, "purged_cdrs",
				    &out->purged_cdrs);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, "cdrs_sessionless",
				    &out->cdrs_sessionless);
	if (!rc)
		rc = store_meta_get(r->txn, r->st, "cdrs_sessionless_dropped",
				    &out->cdrs_sessionless_dropped);
	if (!rc) {
		rc = store_err(mdb_stat(r->txn, r->st->pool, &ms));
		out->pool_numbers = ms.ms_entries;
	}
	if (!rc)
		rc = free_pages(r->txn, &free_n);
	if (!rc)
		rc = store_err(mdb_env_info(r->st->env, &ei));
	if (!rc)
		rc = store_err(mdb_env_stat(r->st->env, &ms));
	if (!rc) {
		/* me_last_pgno is of the newest commit, which may be newer
		 * than this reader's free list: never report below zero */
		pages = (uint64_t)ei.me_last_pgno + 1;
		out->map_bytes = ei.me_mapsize;
		out->file_bytes = pages * ms.ms_psize;
		out->used_bytes = (pages > free_n ? pages - free_n : 0) *
				  ms.ms_psize;
	}
	store_reader_end(r);
	return rc;
}
