/*
 * store_internal.h - what the store's own files share: the handles, the
 * on-disk record layouts and the key builders. Nothing outside src/store/
 * includes this.
 *
 * Records are stored in native byte order (an LMDB file never moves between
 * architectures anyway) except where a key must sort by number: those are
 * big-endian. LMDB only guarantees 2-byte alignment of values, so records
 * are always memcpy'd out of the map, never cast in place.
 */
#ifndef MASKD_STORE_INTERNAL_H
#define MASKD_STORE_INTERNAL_H

#include <lmdb.h>

#include "maskd/store.h"

#define STORE_REC_VERSION 1

struct store {
	MDB_env *env;
	MDB_dbi sessions;
	MDB_dbi pair;
	MDB_dbi party;
	MDB_dbi vn;
	MDB_dbi expiry;
	MDB_dbi pool;
	MDB_dbi pool_use;
	MDB_dbi meta;
	struct log *log;
};

/* Owned by the one thread that opened it. */
struct store_reader {
	struct store *st;
	MDB_txn *txn;		/* reset between uses, renewed on the next */
};

/* Owned by the control thread. */
struct store_txn {
	struct store *st;
	MDB_txn *txn;
};

/* The fixed head of a sessions value; callback_url and metadata follow. */
struct rec_session {
	uint8_t version;
	uint8_t status;
	uint8_t record;
	uint8_t pad0;
	uint32_t call_time_limit_s;
	int64_t created_at_ms;
	int64_t expires_at_ms;
	int64_t ended_at_ms;
	char party_a[E164_SIZE];
	char party_b[E164_SIZE];
	char vn[E164_SIZE];
	uint8_t pad1;
	uint32_t callback_len;
	uint32_t metadata_len;
};

/* A pair value: which session the pair (party, vn) belongs to. */
struct rec_pair {
	uint8_t id[STORE_ID_LEN];
	uint8_t status;
};

/* A pool value. */
struct rec_pool {
	uint32_t active;
	char country[STORE_COUNTRY_SIZE];
	uint8_t pad;
	int64_t added_at_ms;
};

/* Keys: "party NUL vn", "party NUL id", be64(ms) id, be32(count) vn. */
#define PAIR_KEY_SIZE (2 * E164_SIZE)
#define IDX_KEY_SIZE (E164_SIZE + STORE_ID_LEN)
#define EXPIRY_KEY_SIZE (8 + STORE_ID_LEN)
#define POOL_USE_KEY_SIZE (4 + E164_SIZE)

/* store_err() - an LMDB return code as an errno. */
int store_err(int rc);

/* Build a key into buf, return its MDB_val. Strings must be E.164-sized. */
MDB_val store_key_pair(char buf[PAIR_KEY_SIZE], const char *party,
		       const char *vn);
MDB_val store_key_idx(char buf[IDX_KEY_SIZE], const char *s,
		      const uint8_t id[STORE_ID_LEN]);
MDB_val store_key_expiry(uint8_t buf[EXPIRY_KEY_SIZE], int64_t at_ms,
			 const uint8_t id[STORE_ID_LEN]);
/* store_key_expiry_at() - the time of an expiry key (24 bytes). */
int64_t store_key_expiry_at(const MDB_val *k);
MDB_val store_key_pool_use(uint8_t buf[POOL_USE_KEY_SIZE], uint32_t count,
			   const char *vn);

/* Reader transactions: begin renews, end resets (never aborts). */
int store_reader_begin(struct store_reader *r);
void store_reader_end(struct store_reader *r);

/* meta counters */
int store_meta_add(struct store_txn *tx, const char *name, int64_t delta);
int store_meta_get(MDB_txn *txn, struct store *st, const char *name,
		   uint64_t *out);

/* Pool slot accounting (store_pool.c). */
int store_pool_adjust(struct store_txn *tx, const char *vn, int delta);
/*
 * store_pool_pick() - the least-used pool number not in @used (sorted
 * array of @n_used E.164 strings). ENOSPC when every number is excluded.
 */
int store_pool_pick(struct store_txn *tx, char (*used)[E164_SIZE],
		    size_t n_used, char out[E164_SIZE]);

/* Decode a sessions value; strings are duplicated only if @with_strings. */
int store_session_decode(const MDB_val *v, struct session *out,
			 bool with_strings);

#endif
