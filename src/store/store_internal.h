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

#include <stddef.h>

#include <lmdb.h>

#include "maskd/store.h"

/*
 * Session record versions. 1: head, callback_url, metadata. 2 (PINs):
 * the same followed by a struct rec_pin. Version 1 records are still read
 * (no PIN); every write is version 2.
 */
#define STORE_REC_VERSION_1 1
#define STORE_REC_VERSION 2

/*
 * The layout of the databases as a whole, kept in meta "schema". 1 (no
 * key): the first release. 2: adds the status and ended indexes, which
 * store_index_upgrade() builds at open from the sessions themselves.
 * 3: adds the pin index and version 2 session records; nothing to build
 * (no older session has a PIN), but an older maskd must not open a store
 * whose records it cannot read.
 * 4: adds pool_geo (the pool by country, store_geo.c); it is built at
 * open by store_geo_rebuild() whenever meta "geo_table" differs from this
 * build's calling-code table, which includes every store of schema 3.
 * 5: adds cdr_id (call id -> session id) and version 2 call records
 * (version 1 records are still read); cdr_id is built from the records
 * by store_cdr_reindex().
 * 6: adds version 3 call records (the VN and the caller, packed) and
 * session-less call records (session id all zero: calls maskd answered
 * or refused itself without a session, store_cdr.c); nothing to build
 * (no older record is session-less, and version 2 records are still
 * read), but an older maskd must not open a store whose records it
 * cannot read.
 * 7: adds idxq, the index queue of a cluster node's cache (store_idxq.c);
 * nothing to build, but an older maskd would neither list the sessions
 * queued there nor purge them (their index entries are missing).
 */
#define STORE_SCHEMA 7

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
	MDB_dbi cdr;
	MDB_dbi status;
	MDB_dbi ended;
	MDB_dbi events;		/* store_event.c: the outbox */
	MDB_dbi evt_due;
	MDB_dbi evt_sess;
	MDB_dbi evt_status;
	MDB_dbi evt_seq;
	/* told of each expiry, in its transaction (store_set_expire_h()) */
	store_expire_h *expire_h;
	void *expire_arg;
	MDB_dbi pin;
	MDB_dbi pool_geo;	/* store_geo.c: the pool by country */
	MDB_dbi cdr_id;		/* call id -> session id (store_cdr.c) */
	MDB_dbi export;		/* store_export.c: to copy to the cluster */
	MDB_dbi idxq;		/* store_idxq.c: index entries to write */
	bool export_on;		/* store_set_export() */
	struct log *log;
	/* id ordering: the writer's last id time and sequence within it */
	int64_t id_last_ms;
	uint16_t id_seq;
	/* the ids' random bytes, read from the kernel 256 bytes at a
	 * time (one getrandom() per id was one syscall per event); the
	 * writer's too */
	uint8_t id_rand[256];
	unsigned id_rand_left;
	/* store_metrics.c: the registry the gauges are in, and the reader
	 * it reads them through */
	struct metrics *metrics;
	struct store_reader *metrics_rd;
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
	bool lazy;		/* store_write_begin_lazy(): the env's
				 * MDB_NOMETASYNC is on until it ends */
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

/* The PIN tail of a version 2 sessions value. */
struct rec_pin {
	uint8_t required;
	uint8_t retries;
	uint8_t pad[2];
	char a[STORE_PIN_SIZE];
	char b[STORE_PIN_SIZE];
};

/*
 * A pair value: everything call routing needs, so that a lookup is one
 * B-tree descent. It duplicates fields of the session record, and every
 * change to a session rewrites both of its pair values (pairs_put()).
 */
struct rec_pair {
	uint8_t id[STORE_ID_LEN];
	uint64_t other;			/* the other party, packed */
	int64_t created_at_ms;
	int64_t expires_at_ms;
	int64_t ended_at_ms;
	uint32_t call_time_limit_s;
	uint8_t status;
	uint8_t record;
	uint8_t caller_is_a;		/* the key's party is party_a */
	uint8_t pad;
};

/* A pool value. */
struct rec_pool {
	uint32_t active;
	char country[STORE_COUNTRY_SIZE];
	uint8_t pad;
	int64_t added_at_ms;
};

/*
 * Numbers in keys are packed: the digits of an E.164 number as one
 * integer (at most 15 digits < 2^50, and E.164 never starts with 0, so
 * the packing is one-to-one), stored big-endian so keys sort by number.
 * An 8-byte key part instead of a 17-byte string makes pages denser and
 * compares cheaper: that is what keeps a lookup in the cache.
 *
 *   pair      be64(party) be64(vn)        16 bytes
 *   party/vn  be64(number) id             24 bytes
 *   expiry    be64(ms) id                 24 bytes
 *   pool      be64(vn)                     8 bytes
 *   pool_use  be32(count) be64(vn)        12 bytes
 *   status    status(1) id                17 bytes
 *   ended     be64(ms) id                 24 bytes (as expiry)
 */
#define PAIR_KEY_SIZE 16
#define IDX_KEY_SIZE (8 + STORE_ID_LEN)
#define EXPIRY_KEY_SIZE (8 + STORE_ID_LEN)
#define POOL_KEY_SIZE 8
#define POOL_USE_KEY_SIZE 12
#define STATUS_KEY_SIZE (1 + STORE_ID_LEN)
#define ENDED_KEY_SIZE EXPIRY_KEY_SIZE

/* store_num_pack() - "+14155550100" to 14155550100; EINVAL if not E.164. */
int store_num_pack(const char *e164, uint64_t *out);
/* store_num_unpack() - the reverse, into @out. */
void store_num_unpack(uint64_t n, char out[E164_SIZE]);

void store_be64_put(uint8_t *p, uint64_t v);
uint64_t store_be64_get(const uint8_t *p);

/* A cdr key: session id, call id (a session's calls are one range). */
#define CDR_KEY_SIZE (2 * STORE_ID_LEN)

/* A cdr value (key: session id, call id). */
struct rec_cdr {
	uint8_t version;
	uint8_t a_to_b;
	uint8_t hangup;
	uint8_t pad0;
	uint16_t final_code;
	uint16_t pad1;
	int64_t start_ms;
	int64_t answer_ms;
	int64_t end_ms;
	char reason[CDR_REASON_SIZE];
	uint64_t pkts_a_to_b, pkts_b_to_a;
	uint64_t bytes_a_to_b, bytes_b_to_a;
	/* version 2 (a version 1 record ends here) */
	uint8_t direction;
	uint8_t pin_status;
	uint8_t pin_attempts;
	uint8_t hook;
	uint32_t hook_latency_ms;
	uint8_t rec_state;
	uint8_t rec_format;
	uint8_t participants;
	uint8_t pad2;
	uint32_t rec_duration_ms;
	uint64_t rec_bytes;
	uint8_t rec_sha256[CDR_SHA256_LEN];
	char rec_reason[CDR_REASON_SIZE];
	/* version 3 (a version 2 record ends here) */
	uint64_t vn;			/* packed; 0 = not recorded */
	uint64_t caller;		/* packed; 0 = not recorded */
};

/* The size of a version 1 record: what maskd wrote up to schema 4. */
#define REC_CDR_V1_SIZE offsetof(struct rec_cdr, direction)
/* The size of a version 2 record: schema 5. */
#define REC_CDR_V2_SIZE offsetof(struct rec_cdr, vn)

/*
 * Session-less call records (store_cdr.c) are keyed by a session id of
 * all zeros, so they are one range of cdr, in call id (start time)
 * order; meta "cdrs_sessionless" counts them.
 *
 * store_cdr_sessionless_first() - the oldest of them, in @txn: 0 and
 * *out, ENOENT when there is none, or an errno.
 */
int store_cdr_sessionless_first(MDB_txn *txn, const struct store *st,
				struct cdr *out);
/* store_cdr_sessionless_del() - delete session-less record @call_id and
 * its cdr_id entry, and count it off; EIO when either is missing. */
int store_cdr_sessionless_del(struct store_txn *tx,
			      const uint8_t call_id[STORE_ID_LEN]);

/*
 * store_id_new() - a fresh id: be48(ms), be16(sequence within that ms),
 * 64 random bits. Ids from one store sort in creation order even within a
 * millisecond; the random half makes them unguessable.
 */
int store_id_new(struct store *st, int64_t now_ms, uint8_t id[STORE_ID_LEN]);

/* store_err() - an LMDB return code as an errno. */
int store_err(int rc);

/* Build a key into buf and return its MDB_val. */
MDB_val store_key_pair(uint8_t buf[PAIR_KEY_SIZE], uint64_t party,
		       uint64_t vn);
/* @id NULL: the 8-byte prefix alone, to seek to a number's range */
MDB_val store_key_idx(uint8_t buf[IDX_KEY_SIZE], uint64_t num,
		      const uint8_t id[STORE_ID_LEN]);
MDB_val store_key_expiry(uint8_t buf[EXPIRY_KEY_SIZE], int64_t at_ms,
			 const uint8_t id[STORE_ID_LEN]);
/*
 * store_strdup_n() - a NUL-terminated copy of the @n bytes at @p, which
 * need not be terminated (strings inside records are not, and strndup()
 * may read past them looking for a NUL). NULL when out of memory.
 */
char *store_strdup_n(const char *p, size_t n);

/* store_key_expiry_at() - the time of an expiry key. */
int64_t store_key_expiry_at(const MDB_val *k);

/* store_first_at() - the time of the first key of the expiry or ended
 * index (store_session.c): 0, ENOENT (empty) or an errno. */
int store_first_at(struct store_reader *r, MDB_dbi dbi, int64_t *at_ms);
MDB_val store_key_pool(uint8_t buf[POOL_KEY_SIZE], uint64_t vn);
MDB_val store_key_pool_use(uint8_t buf[POOL_USE_KEY_SIZE], uint32_t count,
			   uint64_t vn);

/* @id NULL: the 1-byte prefix alone, to seek to a status's range */
MDB_val store_key_status(uint8_t buf[STATUS_KEY_SIZE],
			 enum session_status status,
			 const uint8_t id[STORE_ID_LEN]);

/* Reader transactions: begin renews, end resets (never aborts). */
int store_reader_begin(struct store_reader *r);
void store_reader_end(struct store_reader *r);

/* store_queue_append() - append @val (@len bytes) to queue @dbi (the
 * export or the index queue), keyed be64(the last key + 1, or 1).
 * store_export.c */
int store_queue_append(struct store_txn *tx, MDB_dbi dbi, const void *val,
		       size_t len);
/* store_queue_count() - the entries of queue @dbi, through @r. */
int store_queue_count(struct store_reader *r, MDB_dbi dbi, uint64_t *n);

/* store_export_put() - queue record @id of @kind for the cluster's store
 * in @tx, when store_set_export() is on (else nothing). store_export.c */
int store_export_put(struct store_txn *tx, int kind,
		     const uint8_t id[STORE_ID_LEN]);

/*
 * A growing array of session ids (store_session.c), zeroed to start;
 * the owner frees id. store_ids_add() - append @id: 0 or ENOMEM.
 * store_ids_sort() - in id order.
 */
struct store_ids {
	uint8_t (*id)[STORE_ID_LEN];
	size_t n, cap;
};

int store_ids_add(struct store_ids *l, const uint8_t id[STORE_ID_LEN]);
void store_ids_sort(struct store_ids *l);

/*
 * The index queue (store_idxq.c, store_mirror.h).
 * store_idxq_put() - queue the party and vn index entries of @s.
 * store_idxq_ids() - append to @out the ids of the queued sessions with
 * party (@party) or vn (!@party) @num whose id is after @after (NULL:
 * all), then sort it. 0 or an errno.
 */
int store_idxq_put(struct store_txn *tx, const struct session *s);
/* store_idx_put() - the entry (@num, @id) of index @dbi (party or vn). */
int store_idx_put(struct store_txn *tx, MDB_dbi dbi, uint64_t num,
		  const uint8_t id[STORE_ID_LEN]);
int store_idxq_ids(MDB_txn *txn, struct store *st, bool party, uint64_t num,
		   const uint8_t *after, struct store_ids *out);

/* meta counters */
int store_meta_add(struct store_txn *tx, const char *name, int64_t delta);
int store_meta_get(MDB_txn *txn, struct store *st, const char *name,
		   uint64_t *out);

/* Pool slot accounting (store_pool.c). */
int store_pool_adjust(struct store_txn *tx, uint64_t vn, int delta);
/*
 * store_pool_pick() - the least-used pool number not in @used (a sorted
 * array of @n_used packed numbers). ENOSPC when every number is excluded.
 */
int store_pool_pick(struct store_txn *tx, const uint64_t *used,
		    size_t n_used, uint64_t *out);
/* store_pool_exists() - 0 when @vn is a pool number, else ENOENT. */
int store_pool_exists(struct store_txn *tx, uint64_t vn);

/*
 * The pool by country (store_geo.c). store_geo_put/_del: @p's entry
 * (country from p->country, else from the number; none when unknown),
 * kept by store_pool.c beside each pool_use entry.
 */
#include "maskd/geo.h"
void store_geo_country(uint64_t vn, const struct rec_pool *p,
		       char out[GEO_COUNTRY_SIZE]);
int store_geo_put(struct store_txn *tx, uint64_t vn,
		  const struct rec_pool *p);
int store_geo_del(struct store_txn *tx, uint64_t vn,
		  const struct rec_pool *p);

/* What a create asks of its number: local to one party's number. */
struct store_geo_want {
	enum geo_match match;
	bool unknown;			/* the party has no known country */
	char country[GEO_COUNTRY_SIZE];
	uint64_t prefix;		/* area: leading digits, packed */
	unsigned prefix_len;		/* calling code + area digits */
};

/* store_geo_want() - what @m asks for party number @party. 0/EINVAL. */
int store_geo_want(const char *party, enum geo_match m, unsigned area_digits,
		   struct store_geo_want *w);
/* store_pool_pick_geo() - as store_pool_pick() among the numbers @w
 * matches (all of them for GEO_MATCH_NONE); ENOSPC when none is free. */
int store_pool_pick_geo(struct store_txn *tx, const struct store_geo_want *w,
			const uint64_t *used, size_t n_used, uint64_t *out);
/*
 * store_alloc_pick() - store_session_create()'s pick of a vn for @p:
 * the least-used number in no active session of the parties (*used, a
 * sorted array the caller owns and frees; numbers skipped for a taken
 * explicit PIN are added to it), local to the geo party first when @p
 * asks for geo-match (*geo_matched then says whether it was). ENOSPC,
 * ENOTUNIQ (PINs excluded the rest), EADDRNOTAVAIL (strict, none local).
 */
int store_alloc_pick(struct store_txn *tx, const struct session_params *p,
		     uint64_t **used, size_t *n_used, size_t *cap,
		     uint64_t *vn, bool *geo_matched);
/* store_geo_rebuild() - at open, pool_geo for this build's table. */
int store_geo_rebuild(struct store *st);

/* Decode a sessions value; strings are duplicated only if @with_strings. */
int store_session_decode(const MDB_val *v, struct session *out,
			 bool with_strings);

/* store_metrics_unregister() - store_close()'s first step: the gauges
 * off the registry, their reader closed. Safe when never registered. */
void store_metrics_unregister(struct store *st);

/*
 * The status and ended indexes (store_index.c). Every session has one
 * status entry; an ended one also has an ended entry, be64(ended_at) id,
 * which is what retention walks, oldest end first.
 */
int store_status_put(struct store_txn *tx, enum session_status status,
		     const uint8_t id[STORE_ID_LEN]);
int store_status_del(struct store_txn *tx, enum session_status status,
		     const uint8_t id[STORE_ID_LEN]);
int store_ended_put(struct store_txn *tx, int64_t at_ms,
		    const uint8_t id[STORE_ID_LEN]);

/*
 * The pin index (store_pin.c): key be64(vn) and the PIN's digits, value
 * struct rec_pin_ref. It holds the PINs of the active sessions with
 * pin_required, and only those: session create, update and end keep it
 * so in the session's own transaction (ended sessions have no entry, so
 * retention has nothing to delete there).
 */
#define PIN_KEY_SIZE_MAX (8 + STORE_PIN_MAX)
struct rec_pin_ref {
	uint8_t id[STORE_ID_LEN];
	uint8_t party;			/* enum pin_party */
};

/* store_pin_check() - @p's fields in range, its PINs both or neither
 * set, well formed and different; EINVAL if not. */
int store_pin_check(const struct session_pin_params *p);
/* store_pin_taken() - whether @pin is in the pin index of @vn. */
int store_pin_taken(struct store_txn *tx, uint64_t vn, const char *pin,
		    bool *taken);
/* store_pin_generate() - a fresh pair of PINs of @len digits for @s (on
 * vn @vn), different from each other and from every PIN indexed on @vn.
 * ENOTUNIQ after 64 draws that all collided. */
int store_pin_generate(struct store_txn *tx, uint64_t vn, unsigned len,
		       struct session *s);
/* store_pin_index_put() / _del() - @s's entries, when it has
 * pin_required (else nothing). put: ENOTUNIQ if a PIN is taken. del: EIO
 * if an entry is missing (the index is out of step). */
int store_pin_index_put(struct store_txn *tx, const struct session *s);
int store_pin_index_del(struct store_txn *tx, const struct session *s);
/* store_pin_pair_taken() - whether either explicit PIN of @p is indexed
 * on @vn. */
int store_pin_pair_taken(struct store_txn *tx, uint64_t vn,
			 const struct session_pin_params *p, bool *taken);
/* store_pin_patch() - the PIN fields of @patch onto the active session
 * @s and its index entries with them (store_session_update()): EINVAL
 * (pin_required without PINs), ENOTUNIQ, or an errno; the caller aborts
 * on error. */
int store_pin_patch(struct store_txn *tx, struct session *s,
		    const struct session_patch *patch);

/*
 * store_index_upgrade() - at open: bring a store written by an older
 * maskd up to STORE_SCHEMA (build the status and ended indexes), in
 * batches of committed transactions. EPROTO when the store is newer than
 * this code.
 */
int store_index_upgrade(struct store *st);

/*
 * store_cdr_reindex() - add every stored call record to cdr_id, in
 * batches of committed transactions (idempotent: a crash halfway leaves
 * the schema below 5 and the next open starts again). Returns 0 or an
 * errno.
 */
int store_cdr_reindex(struct store *st);

/*
 * For store_mirror.c (store_session.c): write @s's sessions record alone,
 * and build the pair value of @s as seen from one party.
 */
int store_session_record_put(struct store_txn *tx, const struct session *s);
/* store_pin.c: store_pin_index_del() of the entries naming @s alone */
int store_pin_index_del_own(struct store_txn *tx, const struct session *s);
void store_pair_value(struct rec_pair *p, const struct session *s,
		      bool caller_is_a, uint64_t other);

#endif
