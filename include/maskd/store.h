/*
 * store.h - the LMDB store: sessions, their indexes and the number pool.
 *
 * One LMDB environment (a directory) holds these named databases:
 *
 *   sessions   id(16)                  -> session record
 *   pair       party NUL vn            -> {id, expires_at, status}
 *                                         (both parties; the newest session
 *                                          of that pair, active or not)
 *   party      party NUL id(16)        -> ""   (every session, for listing)
 *   vn         vn NUL id(16)           -> ""   (every session, for listing)
 *   idxq       be64(seq)               -> party and vn entries to write
 *                                         (a cluster cache's sessions:
 *                                          store_mirror.h)
 *   expiry     be64(expires_at) id(16) -> ""   (active sessions only)
 *   pool       vn                      -> {active count, country, added_at}
 *   pool_use   be32(active) vn         -> ""   (least-used first)
 *   pool_geo   country(2) be32(active) vn -> "" (the pool by country,
 *                                         least-used first: store_geo.c)
 *   meta       name                    -> u64 counters
 *   cdr        session id(16) call id(16) -> call record
 *                                         (session id all zero: a call
 *                                          maskd answered without a
 *                                          session, store_cdr.c)
 *   cdr_id     call id(16)             -> session id(16)
 *   status     status(1) id(16)        -> ""   (every session, for listing)
 *   ended      be64(ended_at) id(16)   -> ""   (ended sessions: retention)
 *   pin        be64(vn) pin digits     -> {id(16), party}
 *                                         (active sessions with
 *                                          pin_required only: store_pin.c)
 *
 *   events     id(16)                  -> event record + body (the outbox)
 *   evt_due    be64(next_at) id(16)    -> ""   (pending events only)
 *   evt_sess   session id(16) be64(seq) -> id  (a session's pending events)
 *   evt_status status(1) id(16)        -> ""   (listing by status)
 *   evt_seq    session id(16)          -> be64 last sequence of the session
 *
 * Retention: store_purge() deletes ended sessions whose end is older than
 * a cutoff, with everything that refers to them (pair entries still
 * pointing at them, index entries, call records). A call to a purged pair
 * is then "unknown", no longer "ended". Active sessions are never purged.
 * Session-less call records go when their call's end is older than the
 * same cutoff.
 *
 * No MDB_DUPSORT anywhere: Debian's LMDB 0.9.24 has delete bugs in it, so
 * every one-to-many index is a composite key with an empty value.
 *
 * Threads. Exactly one thread writes: the control thread, through a
 * struct store_txn (store_write_begin()). Any thread reads through its own
 * struct store_reader, a read transaction that is reset between uses and
 * renewed on the next (mdb_txn_reset/renew), so a lookup costs no malloc
 * and no lock. The env is opened MDB_NOTLS so one thread may hold a reader
 * and the write transaction at the same time.
 *
 * Durability: every commit is fsync'ed (no MDB_NOSYNC); what a commit
 * returned 0 for survives kill -9 and power loss. Callers that need
 * throughput batch many operations into one write transaction (group
 * commit, see writer.h) rather than weaken this.
 *
 * Times are milliseconds since the Unix epoch (int64_t *_ms).
 */
#ifndef MASKD_STORE_H
#define MASKD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maskd/e164.h"
#include "maskd/geo.h"
#include "maskd/log.h"

#define STORE_ID_LEN 16		/* binary session id: be48 ms + 80 random bits */
#define STORE_ID_STR_SIZE 33	/* 32 lowercase hex digits and the NUL */
#define STORE_COUNTRY_SIZE 3	/* ISO 3166-1 alpha-2 and the NUL */
#define STORE_PIN_MIN 4
#define STORE_PIN_MAX 15
#define STORE_PIN_SIZE (STORE_PIN_MAX + 1)	/* digits and the NUL */
#define STORE_PIN_RETRIES_MAX 5
#define STORE_PIN_RETRIES_DEFAULT 1
#define STORE_PIN_LENGTH_DEFAULT 4

struct store;
struct store_reader;
struct store_txn;

enum session_status {
	SESSION_ACTIVE = 0,
	SESSION_EXPIRED = 1,
	SESSION_CLOSED = 2,
};

/*
 * A session as the store hands it out: always a copy, never a pointer into
 * the map. callback_url and metadata are heap strings owned by the struct
 * (NULL when absent, and always NULL from store_lookup()); release them with
 * session_clear().
 */
struct session {
	uint8_t id[STORE_ID_LEN];
	char party_a[E164_SIZE];
	char party_b[E164_SIZE];
	char vn[E164_SIZE];
	enum session_status status;
	int64_t created_at_ms;
	int64_t expires_at_ms;
	int64_t ended_at_ms;		/* 0 while active */
	uint32_t call_time_limit_s;	/* 0 = no limit */
	bool record;
	char *callback_url;		/* owned; NULL = none */
	char *metadata;			/* owned; JSON object text; NULL = none */
	/* PIN authentication: a caller who is neither party may reach the
	 * other one of a party by typing that party's PIN ("" = none; both
	 * set or both empty). Secrets: never logged above debug. */
	bool pin_required;
	uint8_t pin_retries;		/* 0..STORE_PIN_RETRIES_MAX */
	char pin_a[STORE_PIN_SIZE];
	char pin_b[STORE_PIN_SIZE];
	/* not stored: set by store_session_create() alone, whether the vn
	 * it picked matched the asked geo_match (false when none asked) */
	bool geo_matched;
};

/* Which party a PIN belongs to (store_pin_lookup()). */
enum pin_party {
	PIN_PARTY_A = 0,
	PIN_PARTY_B = 1,
};

/*
 * The PIN part of a create or a patch. pin_a/pin_b are borrowed digit
 * strings (validated by the caller: 4..15 digits, different); with
 * generate set, the store draws both itself (pin_length digits each,
 * uniformly random, different) and ignores pin_a/pin_b.
 */
struct session_pin_params {
	bool pin_required;
	uint8_t pin_retries;
	const char *pin_a;		/* NULL or "" = none */
	const char *pin_b;
	bool generate;
	unsigned pin_length;		/* STORE_PIN_MIN..STORE_PIN_MAX */
};

/* What store_session_create() needs. Strings are borrowed for the call. */
struct session_params {
	const char *party_a;		/* E.164, validated by the caller */
	const char *party_b;
	const char *vn;			/* NULL or "" = allocate from the pool */
	int64_t ttl_ms;			/* > 0 */
	uint32_t call_time_limit_s;
	bool record;
	const char *callback_url;	/* NULL = none */
	const char *metadata;		/* NULL = none; JSON text */
	struct session_pin_params pin;	/* zero = no PIN */
	/* geo-match (allocation only; NONE with an explicit vn): a vn in
	 * the country, or area, of party_a's number (party_b's with
	 * geo_party_b); geo_strict: none free is ENOSPC's sibling
	 * EADDRNOTAVAIL instead of a pick from the whole pool */
	enum geo_match geo_match;
	bool geo_party_b;
	bool geo_strict;
	unsigned geo_area_digits;	/* 1..GEO_AREA_DIGITS_MAX for AREA */
};

/* What store_session_update() changes; a field left unset stays as it is. */
struct session_patch {
	bool set_expires_at;
	int64_t expires_at_ms;		/* must be in the future */
	bool set_call_time_limit;
	uint32_t call_time_limit_s;
	bool set_record;
	bool record;
	bool set_callback_url;
	const char *callback_url;	/* NULL = remove */
	bool set_pin_required;
	bool set_pin_retries;
	bool set_pins;			/* pin.pin_a/pin_b, or pin.generate */
	struct session_pin_params pin;	/* the fields the set_* flags name */
};

/* A list query; fields left zero/NULL do not filter. */
struct session_filter {
	const char *party;		/* either party */
	const char *vn;
	bool by_status;
	enum session_status status;
	bool has_cursor;
	uint8_t after[STORE_ID_LEN];	/* resume after this id (exclusive) */
	unsigned limit;			/* 1..1000 */
};

/* One pool number as listed. */
struct pool_number {
	char vn[E164_SIZE];
	char country[STORE_COUNTRY_SIZE];
	uint32_t active;		/* active sessions using it */
	int64_t added_at_ms;
};

/* Who ended a call. */
enum cdr_hangup {
	CDR_HANGUP_NONE = 0,	/* never connected: failed, cancelled */
	CDR_HANGUP_CALLER,
	CDR_HANGUP_CALLEE,
	CDR_HANGUP_MASKD,	/* a limit or timeout of ours */
};

#define CDR_REASON_SIZE 32

/* How the call began: a carrier's INVITE, or the API (request-a-call). */
enum cdr_direction {
	CDR_DIR_INBOUND = 0,
	CDR_DIR_API,
};

/* What PIN authentication decided (none: the VN asks no PIN). */
enum cdr_pin {
	CDR_PIN_NONE = 0,
	CDR_PIN_AUTHORIZED_CALLER,	/* a party of the session: not asked */
	CDR_PIN_SUCCESS,
	CDR_PIN_FAILED,			/* out of retries, silence, hang-up */
};

/* What the call-routing hook answered (none: it was not asked). */
enum cdr_hook {
	CDR_HOOK_NONE = 0,
	CDR_HOOK_CONNECT,
	CDR_HOOK_ALLOW,
	CDR_HOOK_REJECT,
	CDR_HOOK_ANNOUNCE,
	CDR_HOOK_ERROR,		/* slow, down or garbage: on_error decided */
};

/* Where the call's recording stands (none: not recorded). */
enum cdr_rec {
	CDR_REC_NONE = 0,
	CDR_REC_ACTIVE,		/* being written */
	CDR_REC_READY,
	CDR_REC_FAILED,		/* rec_reason says why */
	CDR_REC_DELETED,	/* deleted by the API or by retention */
};

#define CDR_SHA256_LEN 32

/*
 * What a struct cdr handed from the SIP thread to ctl reports: the final
 * record (stored), or a call's progress / an unrouted INVITE, which only
 * become events (ctl_event.c) and are never stored as records.
 */
enum cdr_kind {
	CDR_KIND_FINAL = 0,
	CDR_KIND_INITIATED,	/* routed to a session, INVITE sent on */
	CDR_KIND_RINGING,	/* first 18x from the callee */
	CDR_KIND_ANSWERED,	/* 2xx relayed to the caller */
	CDR_KIND_UNROUTED,	/* matched no active session: caller, vn,
				 * final_code set; session_id all zero */
	CDR_KIND_PIN,		/* a PIN prompt decided (pin.result):
				 * pin_status, pin_attempts, vn, a_to_b
				 * (A's PIN); session_id zero when none */
};

/*
 * A call record (CDR): one call through a session. Written once, when the
 * call has ended, by the control thread (the SIP thread hands it over).
 */
struct cdr {
	uint8_t session_id[STORE_ID_LEN];
	uint8_t id[STORE_ID_LEN];	/* the call's own id; time-ordered */
	bool a_to_b;			/* party_a called (else party_b did) */
	int64_t start_ms;		/* INVITE received */
	int64_t answer_ms;		/* 200 OK relayed; 0 = never answered */
	int64_t end_ms;
	uint16_t final_code;		/* the final response sent to the caller */
	enum cdr_hangup hangup;
	char reason[CDR_REASON_SIZE];	/* "normal", "cancel", "busy",
					 * "no_answer", "ring_timeout",
					 * "call_time_limit", "failure", ... */
	/* media counters: filled by the relay when it lands, 0 until then */
	uint64_t pkts_a_to_b, pkts_b_to_a;
	uint64_t bytes_a_to_b, bytes_b_to_a;
	enum cdr_direction direction;
	enum cdr_pin pin_status;
	uint8_t pin_attempts;		/* PINs the caller entered */
	uint8_t participants;		/* legs that joined; 0 = two */
	enum cdr_hook hook;
	uint32_t hook_latency_ms;
	/* the recording; store_cdr_recording_set() updates these alone */
	enum cdr_rec rec_state;
	uint8_t rec_format;		/* 0 WAV, 1 MP3 */
	uint32_t rec_duration_ms;
	uint64_t rec_bytes;
	uint8_t rec_sha256[CDR_SHA256_LEN];
	char rec_reason[CDR_REASON_SIZE];	/* failed: why */
	/* not stored: what ctl needs of a progress or unrouted report */
	enum cdr_kind kind;
	int64_t at_ms;			/* when the progress happened */
	/* stored since schema 6 ("" = not recorded; older records have
	 * neither): the VN called, and the caller's number, which only a
	 * session-less record of an unrouted call keeps (a session's
	 * record names its parties through the session; a PIN caller's
	 * number is never kept) */
	char caller[E164_SIZE];
	char vn[E164_SIZE];
};

/* cdr_sessionless() - @c belongs to no session (session_id all zero):
 * a call maskd answered or refused itself. Any thread. */
bool cdr_sessionless(const struct cdr *c);

/*
 * Counters kept durably in the store (meta database), and the space the
 * map uses. LMDB never shrinks its file: pages freed by deletes go on its
 * free list and are reused before the file grows, so file_bytes is the
 * high-water mark and used_bytes what is in use now.
 */
struct store_stats {
	uint64_t sessions_active;
	uint64_t sessions_total;	/* ever created */
	uint64_t expiries_total;
	uint64_t pool_numbers;
	uint64_t purged_sessions;	/* deleted by store_purge(), ever */
	uint64_t purged_cdrs;
	uint64_t cdrs_sessionless;	/* session-less records stored now */
	uint64_t cdrs_sessionless_dropped;	/* cut by the bound, ever */
	uint64_t map_bytes;		/* the map size: the most it may use */
	uint64_t file_bytes;		/* pages ever used, in bytes */
	uint64_t used_bytes;		/* of those, not on the free list */
};

/*
 * store_open() - open (creating if needed) the environment at @path.
 *
 * @path is a directory, created with its parents if missing. @map_size is
 * the LMDB map size in bytes (the most the store may grow to). @log is
 * borrowed for the life of the store. Returns 0 and sets *stp, or an errno
 * (LMDB's own codes are mapped: MDB_MAP_FULL -> EDQUOT, others -> EIO;
 * every function below maps them the same way).
 * On open, stale reader slots left by a killed process are cleared, and a
 * store written by an older maskd gets the indexes it lacks (the status
 * and ended indexes: one pass over the sessions, logged); a store written
 * by a newer one is refused with EPROTO.
 */
int store_open(struct store **stp, const char *path, uint64_t map_size,
	       struct log *log);

/* store_close() - close the environment. NULL-safe. All readers and any
 * write transaction must have been closed first. */
void store_close(struct store *st);

struct metrics;

/*
 * store_metrics_register() - show the store's gauges (active sessions,
 * pool numbers; src/store/store_metrics.inc) in @reg from now on, read
 * through a reader of the store's own when /metrics renders; store_close()
 * takes them off. Returns 0, EEXIST (already registered) or an errno.
 */
int store_metrics_register(struct store *st, struct metrics *reg);

/* store_id_format() - @id as 32 lowercase hex digits into @out. */
void store_id_format(const uint8_t id[STORE_ID_LEN],
		     char out[STORE_ID_STR_SIZE]);

/* store_id_parse() - 32 hex digits into @id. Returns 0 or EINVAL. */
int store_id_parse(const char *s, uint8_t id[STORE_ID_LEN]);

/* store_pin_valid() - @pin is a PIN: STORE_PIN_MIN to STORE_PIN_MAX
 * ASCII digits. Any thread. */
bool store_pin_valid(const char *pin);

/* session_clear() - free callback_url and metadata; NULL-safe. */
void session_clear(struct session *s);

/* session_copy() - *dst = *src with copies of its strings of its own.
 * Returns 0, or ENOMEM with *dst holding no strings (session_clear() of
 * it stays safe either way). */
int session_copy(struct session *dst, const struct session *src);

/* session_apply_clock() - @s as a read at @now_ms sees it: an active
 * session past expires_at is expired (since then), whether or not the
 * sweeper has written that down yet. Every reader of a stored session
 * applies it. */
void session_apply_clock(struct session *s, int64_t now_ms);

/* session_status_name() - "active", "expired", "closed". */
const char *session_status_name(enum session_status st);

/* session_status_parse() - the reverse; 0 or EINVAL. */
int session_status_parse(const char *s, enum session_status *out);

/* ---- reading (any thread, through its own reader) ---- */

/*
 * store_reader_open() - a reusable read transaction for the calling
 * thread's use. Returns 0 or an errno. Close it with store_reader_close()
 * before store_close().
 */
int store_reader_open(struct store *st, struct store_reader **rp);
void store_reader_close(struct store_reader *r);

/*
 * store_lookup() - find the session of the pair (@caller, @vn).
 *
 * The call-routing hot path: no allocation, no lock, no log. Returns
 *   0        the pair's session is active and not past expires_at;
 *            *out is filled (callback_url and metadata NULL).
 *   ESTALE   the pair's newest session has ended, or is past expires_at
 *            even if the sweeper has not run yet; *out is filled so the
 *            caller can tell expired from closed.
 *   ENOENT   no session ever had this pair.
 *   or an errno from the store.
 */
int store_lookup(struct store_reader *r, const char *caller, const char *vn,
		 int64_t now_ms, struct session *out);

/*
 * store_session_get() - one session by id, with its strings.
 * Returns 0, ENOENT, or an errno. The caller owns *out's strings.
 * A session still marked active but past expires_at is reported as
 * SESSION_EXPIRED (with ended_at_ms = expires_at_ms).
 */
int store_session_get(struct store_reader *r, const uint8_t id[STORE_ID_LEN],
		      int64_t now_ms, struct session *out);

/*
 * session_list_h - called for each session of store_session_list() in
 * id (creation) order. @s and its strings are valid only during the call.
 * Return 0 to go on, nonzero to stop.
 */
typedef int (session_list_h)(const struct session *s, void *arg);

/*
 * store_session_list() - the sessions matching @f, at most f->limit,
 * oldest first. *more is set to true when further matches exist; the last
 * id handed to @h is then the cursor for the next page. Status filtering
 * uses the same rule as store_session_get() (past expires_at = expired).
 * It walks the party or vn index when @f names one, else the status index
 * when @f filters by status, else every session: a page costs about
 * f->limit reads, not a scan of the store.
 */
int store_session_list(struct store_reader *r, const struct session_filter *f,
		       int64_t now_ms, session_list_h *h, void *arg,
		       bool *more);

/*
 * pool_list_h - called for each pool number, in number order. @n is valid
 * only during the call. Return 0 to go on, nonzero to stop.
 */
typedef int (pool_list_h)(const struct pool_number *n, void *arg);

int store_pool_list(struct store_reader *r, pool_list_h *h, void *arg);

/* store_pool_get() - one pool number; 0, ENOENT or an errno. */
int store_pool_get(struct store_reader *r, const char *vn,
		   struct pool_number *out);

/* store_stats_get() - the durable counters as of the last commit, and
 * the space used (walks LMDB's free list: a few pages). */
int store_stats_get(struct store_reader *r, struct store_stats *out);

/* store_size_get() - file_bytes and map_bytes of struct store_stats
 * alone, as of the last commit: no transaction, no walk. Any thread. */
int store_size_get(struct store *st, uint64_t *file_bytes,
		   uint64_t *map_bytes);

/* store_cdr_id_new() - a fresh time-ordered id for a call record. Any
 * thread. Returns 0 or EIO (no randomness). */
int store_cdr_id_new(int64_t now_ms, uint8_t id[STORE_ID_LEN]);

/*
 * The names the API and the events give a call record's enums: constant
 * strings, or NULL for "none" (shown as JSON null). cdr_direction_name()
 * is "a_to_b" or "b_to_a" for a carrier's call, "api" for the API's.
 */
const char *cdr_hangup_name(enum cdr_hangup h);
const char *cdr_direction_name(const struct cdr *c);
const char *cdr_pin_name(enum cdr_pin p);
const char *cdr_hook_name(enum cdr_hook h);
const char *cdr_rec_name(enum cdr_rec r);

/*
 * cdr_list_h - called for each call record of a session, oldest first.
 * @c is valid only during the call. Return 0 to go on, nonzero to stop.
 */
typedef int (cdr_list_h)(const struct cdr *c, void *arg);

/* store_cdr_list() - the call records of session @session_id (none for
 * an unknown id: check the session first if that matters). */
int store_cdr_list(struct store_reader *r,
		   const uint8_t session_id[STORE_ID_LEN], cdr_list_h *h,
		   void *arg);

/*
 * store_cdr_get() - the call record with id @call_id, whatever its
 * session (an index by call id, kept with the record). Any thread, through
 * its reader. Returns 0 and fills *out (a copy), ENOENT, or an errno.
 */
int store_cdr_get(struct store_reader *r, const uint8_t call_id[STORE_ID_LEN],
		  struct cdr *out);

/*
 * store_pin_lookup() - the active session on @vn that @pin (digits) is a
 * PIN of, and whose PIN it is (*party; may be NULL).
 *
 * The SIP side's path for a caller who is neither party: no allocation,
 * no log. Only sessions with pin_required are found. Returns 0 (*out
 * filled, strings NULL), ENOENT (no such PIN on this vn, or its session
 * is past expires_at), or an errno.
 */
int store_pin_lookup(struct store_reader *r, const char *vn, const char *pin,
		     int64_t now_ms, struct session *out,
		     enum pin_party *party);

/*
 * store_pin_vn_active() - whether any active session on @vn has
 * pin_required (then a caller who is no party is prompted for a PIN).
 * Returns 0 with *yes set, or an errno.
 */
int store_pin_vn_active(struct store_reader *r, const char *vn, bool *yes);

/*
 * What a PIN prompt on a vn needs to know of its PIN sessions
 * (store_pin_vn_info()): the PIN lengths in use (bit n set: some PIN of
 * n digits), the longest one, and the largest pin_retries among them.
 */
struct pin_vn_info {
	uint32_t lengths;		/* bit n: a PIN of n digits */
	uint8_t longest;		/* 0: no PIN session on the vn */
	uint8_t retries;		/* the largest pin_retries */
};

/*
 * store_pin_vn_info() - *out for the active PIN sessions of @vn: one walk
 * over the vn's pin index entries (and each session's retries), so it
 * costs what the vn holds; for a PIN prompt, once per call. Returns 0 or
 * an errno.
 */
int store_pin_vn_info(struct store_reader *r, const char *vn,
		      struct pin_vn_info *out);

/*
 * store_pin_extends() - whether some PIN on @vn is longer than @digits
 * and starts with them (then a caller who typed @digits may not be done
 * yet). One cursor step; no allocation, no log. Returns 0 with *yes set,
 * or an errno.
 */
int store_pin_extends(struct store_reader *r, const char *vn,
		      const char *digits, bool *yes);

/*
 * store_next_expiry() - the earliest expires_at_ms of any active session,
 * or ENOENT when none is active.
 */
int store_next_expiry(struct store_reader *r, int64_t *at_ms);

/*
 * store_next_ended() - the earliest ended_at_ms of any ended session
 * still stored, or end_ms of the oldest session-less call record if that
 * is earlier, or ENOENT when there is neither: what retention has left
 * to do.
 */
int store_next_ended(struct store_reader *r, int64_t *at_ms);

/* ---- writing (the control thread only) ---- */

/*
 * store_write_begin() - start a write transaction, nested inside @parent
 * when it is not NULL. A nested transaction that fails can be aborted
 * without losing its parent's work: the writer (writer.h) runs each
 * request in one, inside a batch that is committed once.
 * Returns 0 and sets *txp, or an errno.
 */
int store_write_begin(struct store *st, struct store_txn *parent,
		      struct store_txn **txp);

/*
 * store_write_begin_lazy() - a top-level write transaction whose commit
 * syncs its data pages but not the meta page that makes them current
 * (LMDB's MDB_NOMETASYNC, for this transaction only). At commit the data
 * is on disk and other threads see the change; the commit itself becomes
 * durable with the next synced commit (its fdatasync covers the file) or
 * when the kernel writes the page back. A machine crash in between undoes
 * it, and only it: the store stays consistent (each commit's fdatasync
 * also carries the previous commit's meta page, so the meta on disk is
 * never older than the one before last, and LMDB reuses no page that one
 * reaches). MDB_NOSYNC would not do: its later commits may overwrite
 * pages the meta on disk still points at, and a power loss can then
 * leave a corrupt store.
 * A process crash (kill -9) loses nothing: the page cache holds it.
 * Only for changes that can be rebuilt from elsewhere (writer.h,
 * writer_submit_cache()). Returns 0 and sets *txp, or an errno.
 */
int store_write_begin_lazy(struct store *st, struct store_txn **txp);

/* store_write_commit() - commit and free @tx. Returns 0 or an errno
 * (EDQUOT when the map is full); @tx is freed either way. */
int store_write_commit(struct store_txn *tx);

/* store_write_abort() - drop @tx's changes and free it. NULL-safe. */
void store_write_abort(struct store_txn *tx);

/*
 * store_session_create() - create an active session.
 *
 * Picks the VN when p->vn is empty: the least-used pool number that is in
 * no active session of party_a nor of party_b (ties broken by number
 * order). An explicit p->vn must be in the pool and in no active session
 * of either party. Sessions past expires_at are expired first (same
 * transaction), so a stale one never blocks a pair.
 * Returns 0 and fills *out (strings owned by the caller), or
 *   EINVAL       party_a equals party_b;
 *   ENOENT       the explicit vn is not in the pool;
 *   EEXIST       the explicit vn is in use by a party (vn_conflict);
 *   ENOSPC       no pool number is free for this pair (pool_exhausted);
 *   ENOTUNIQ     a requested PIN is already a PIN of an active session on
 *                the explicit vn, or on every vn free for the pair
 *                (pin_conflict);
 *   EINVAL       also: pin_required without PINs, a malformed PIN, equal
 *                PINs, pin_retries or pin_length out of range;
 *   or an errno from the store.
 * PINs: with p->pin.pin_required, the session's PINs go into the pin
 * index of its vn, and allocation skips a vn where an explicit PIN is
 * taken. Generated PINs never make allocation skip a vn: a PIN that is
 * taken on the picked vn is drawn again (up to 64 times, then ENOTUNIQ),
 * so the least-used number is still the one picked.
 * Geo-match (p->geo_match): the same rules among the numbers local to
 * the geo party (its country: pool_geo; its area: the pool range of its
 * leading digits) first; when none is free, the whole pool
 * (out->geo_matched false), or with p->geo_strict
 *   EADDRNOTAVAIL no local number is free (no_geo_match).
 * Cost: a country pick is a walk of pool_geo from the country's least-
 * used number, skipping the parties' own active numbers (and PIN
 * collisions); an area pick walks the area's numbers in number order up
 * to the first idle free one (all of them only when every one is in use);
 * a fallback then costs one plain pick.
 */
int store_session_create(struct store_txn *tx, const struct session_params *p,
			 int64_t now_ms, struct session *out);

/*
 * store_session_update() - apply @patch to an active session.
 * Returns 0 and fills *out, ENOENT (no such id), EALREADY (the session has
 * ended or is past expires_at), EINVAL (expires_at not in the future; the
 * result would be pin_required without PINs; a PIN field out of range),
 * ENOTUNIQ (a new PIN is taken by another active session on the vn), or
 * an errno. The pin index follows the result in the same transaction.
 */
int store_session_update(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
			 const struct session_patch *patch, int64_t now_ms,
			 struct session *out);

/*
 * store_session_close() - end an active session now (status closed); its
 * pair entries stay as history, its pool slot is freed. Closing a session
 * that has already ended returns EALREADY with *out filled.
 * Returns 0, ENOENT, EALREADY or an errno.
 */
int store_session_close(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
			int64_t now_ms, struct session *out);

/*
 * store_expire_due() - mark expired every active session whose
 * expires_at_ms <= @now_ms, at most @max of them, freeing their pool
 * slots. *n (may be NULL) gets how many were expired.
 */
int store_expire_due(struct store_txn *tx, int64_t now_ms, unsigned max,
		     unsigned *n);

/*
 * store_purge() - delete ended sessions whose ended_at_ms < @cutoff_ms,
 * oldest end first, with their call records, their pair entries (those
 * that still name them: a newer session of the same pair keeps its
 * entry) and their index entries. At most @max records in all (sessions
 * and call records), so one call is a short transaction: a session with
 * more call records than are left of @max loses only some of them now,
 * and the rest next time. Session-less call records whose end_ms <
 * @cutoff_ms go first, oldest first, out of the same @max. *sessions and
 * *cdrs (may be NULL) get how many were deleted; the meta counters
 * purged_sessions and purged_cdrs add them up. A cluster cache's index
 * queue is flushed first (store_mirror.h): with more than
 * STORE_PURGE_IDXQ_MAX records queued, no session goes this time.
 * Returns 0 or an errno (EIO: an index out of step).
 */
#define STORE_PURGE_IDXQ_MAX 20000
int store_purge(struct store_txn *tx, int64_t cutoff_ms, unsigned max,
		unsigned *sessions, unsigned *cdrs);

/*
 * store_session_read() - session @id as @tx sees it, with its strings
 * (the caller owns them). Returns 0, ENOENT or an errno. Unlike
 * store_session_get(), the status is the stored one.
 */
int store_session_read(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
		       struct session *out);

/*
 * store_cdr_add() - store call record @c (c->id set by the caller, see
 * store_cdr_id_new()); with a session id of all zeros it is a
 * session-less record (cdr_sessionless()), found by store_cdr_get()
 * alone. Returns 0, EEXIST for a duplicate id, or an errno.
 */
int store_cdr_add(struct store_txn *tx, const struct cdr *c);

/*
 * store_cdr_sessionless_trim() - delete the oldest session-less call
 * records until at most @max are left (anyone who can send an INVITE can
 * make one: this is their bound); *dropped (may be NULL) gets how many,
 * and the meta counter cdrs_sessionless_dropped adds them up. One
 * deletion after each add at the bound. Control thread, in @tx. Returns
 * 0 or an errno.
 */
int store_cdr_sessionless_trim(struct store_txn *tx, uint64_t max,
			       unsigned *dropped);

/*
 * store_cdr_recording_set() - copy the rec_* fields of @c into the stored
 * record of call @call_id, leaving every other field as stored (the
 * recorder finishes after the call's record was written). Writer thread,
 * in @tx. Returns 0, ENOENT (no such call: purged meanwhile), or an
 * errno.
 */
int store_cdr_recording_set(struct store_txn *tx,
			    const uint8_t call_id[STORE_ID_LEN],
			    const struct cdr *c);

/*
 * store_pool_add() - add @vn (E.164) with @country ("US", may be "").
 * Returns 0, EEXIST, or an errno.
 */
int store_pool_add(struct store_txn *tx, const char *vn, const char *country,
		   int64_t now_ms);

/*
 * store_pool_remove() - remove @vn from the pool.
 * Returns 0, ENOENT, EBUSY (an active session uses it), or an errno.
 */
int store_pool_remove(struct store_txn *tx, const char *vn, int64_t now_ms);

/* ---- the events outbox (store_event.c) ---- */

/*
 * An event is written in the same write transaction as the change it
 * reports (the session row, the CDR), so what is on disk and what will be
 * told to the platform never disagree, also after kill -9. Its id is the
 * webhook-id ("msg_" + 32 hex digits, time-ordered), the same on every
 * delivery attempt.
 */
enum event_status {
	EVENT_PENDING = 0,
	EVENT_DELIVERED = 1,
	EVENT_FAILED = 2,	/* given up on, or dropped (max_pending) */
};

#define EVENT_ID_STR_SIZE (4 + STORE_ID_STR_SIZE)	/* "msg_" + hex */
#define EVENT_TYPE_SIZE 24
#define EVENT_ERROR_SIZE 96

/* An event as the store hands it out: a copy; body owned (event_clear()). */
struct event {
	uint8_t id[STORE_ID_LEN];
	bool has_session;
	uint8_t session_id[STORE_ID_LEN];
	uint64_t sequence;		/* per session, from 1; 0 = no session */
	char type[EVENT_TYPE_SIZE];	/* "session.created", ... */
	enum event_status status;
	int64_t created_ms;
	int64_t next_at_ms;		/* pending: when to try next */
	int64_t last_attempt_ms;	/* 0 = never tried */
	uint32_t attempts;
	uint16_t last_code;		/* HTTP status of the last try; 0 = none */
	char last_error[EVENT_ERROR_SIZE];
	char *callback_url;		/* owned; the session's, NULL = none */
	char *body;			/* owned; the JSON sent, NUL-terminated */
	size_t body_len;
	uint8_t done;			/* EVENT_TO_* bits: destinations that
					 * have it already (2xx) */
};

/* An event's destinations, for struct event's done bits. */
#define EVENT_TO_URL 1u			/* [events] url */
#define EVENT_TO_CALLBACK 2u		/* the session's callback_url */

/* A list query; fields left zero/NULL do not filter. */
struct event_filter {
	bool by_status;
	enum event_status status;
	bool by_session;
	uint8_t session_id[STORE_ID_LEN];
	const char *type;
	bool has_cursor;
	uint8_t after[STORE_ID_LEN];	/* resume after this id (exclusive) */
	unsigned limit;			/* 1..1000 */
};

/* event_clear() - free the body and callback_url; NULL-safe. */
void event_clear(struct event *ev);

/* event_status_name() / event_status_parse(): "pending", "delivered",
 * "failed"; parse returns 0 or EINVAL. */
const char *event_status_name(enum event_status st);
int event_status_parse(const char *s, enum event_status *out);

/* event_id_format() - "msg_" + 32 hex digits; event_id_parse() the
 * reverse (0 or EINVAL). */
void event_id_format(const uint8_t id[STORE_ID_LEN],
		     char out[EVENT_ID_STR_SIZE]);
int event_id_parse(const char *s, uint8_t id[STORE_ID_LEN]);

/*
 * store_expire_h - told of each session store_expire_due() (also when
 * called from inside create and close) moves to expired, with the write
 * transaction that does it, so an outbox row goes into the same commit.
 * A nonzero return fails that transaction.
 */
typedef int (store_expire_h)(struct store_txn *tx, const struct session *s,
			     void *arg);

/* store_set_expire_h() - install @h (NULL: none). Control thread. */
void store_set_expire_h(struct store *st, store_expire_h *h, void *arg);

/*
 * store_event_seq_next() - allocate the next sequence number of session
 * @session_id's events (1, 2, 3, ...) in @tx. Returns 0 or an errno.
 */
int store_event_seq_next(struct store_txn *tx,
			 const uint8_t session_id[STORE_ID_LEN],
			 uint64_t *seq);

/*
 * store_event_add() - write event @ev (type, session, sequence, body,
 * callback_url, next_at_ms; status pending) in @tx. Sets ev->id and
 * ev->created_ms. When more than @max_pending events are then pending, the
 * oldest pending ones are marked failed ("dropped: max_pending") and
 * *dropped (may be NULL) gets how many. Returns 0 or an errno.
 */
int store_event_add(struct store_txn *tx, struct event *ev, int64_t now_ms,
		    uint64_t max_pending, unsigned *dropped);

/* store_event_get() - one event, with its body. 0, ENOENT or an errno. */
int store_event_get(struct store_reader *r, const uint8_t id[STORE_ID_LEN],
		    struct event *out);

/*
 * event_list_h - called for each event of store_event_list() in id
 * (creation) order; @ev and its strings are valid only during the call.
 * Return 0 to go on, nonzero to stop.
 */
typedef int (event_list_h)(const struct event *ev, void *arg);

/* store_event_list() - as store_session_list(), for events. */
int store_event_list(struct store_reader *r, const struct event_filter *f,
		     event_list_h *h, void *arg, bool *more);

/*
 * store_event_due() - the pending events whose next_at_ms <= @now_ms,
 * earliest first, to @h (at most @max). Returns 0 or an errno.
 */
int store_event_due(struct store_reader *r, int64_t now_ms, unsigned max,
		    event_list_h *h, void *arg);

/*
 * event_skip_h - whether store_event_due_skip() passes over a due event
 * (nonzero: skip; it does not count in max). @head is the row without
 * its strings (body, callback_url NULL); @url/@url_len its callback_url,
 * in the map, not NUL-terminated, valid during the call.
 */
typedef int (event_skip_h)(const struct event *head, const char *url,
			   size_t url_len, void *arg);

/*
 * store_event_due_skip() - store_event_due(), the events @skip (may be
 * NULL) says to pass over left uncopied and uncounted, and at most
 * @max_walk rows looked at (with a @skip): the deliverer passes over
 * those it is sending, and those whose endpoint is at its cap, without
 * paying a copy of each row's body.
 */
int store_event_due_skip(struct store_reader *r, int64_t now_ms,
			 unsigned max, unsigned max_walk, event_skip_h *skip,
			 event_list_h *h, void *arg);

/*
 * event_due_id_h - whether store_event_due_walk() passes over the due
 * row of event @id, due at @at_ms, by its index key alone (nonzero:
 * pass over), before the row is read: most rows the deliverer's walk
 * meets are events it is sending, and each cost an mdb_get and a decode.
 */
typedef int (event_due_id_h)(const uint8_t id[STORE_ID_LEN], int64_t at_ms,
			     void *arg);

/* What store_event_due_walk() walks and tells. */
struct event_due_walk {
	int64_t from_ms;	/* start at the first row due at this ms (its
				 * lowest id): 0 is the head */
	int64_t now_ms;		/* a row due later ends the walk */
	unsigned max;		/* events to @h */
	unsigned max_walk;	/* rows looked at; 0: no bound */
	event_due_id_h *id_skip;	/* may be NULL */
	event_skip_h *skip;		/* may be NULL */
	event_list_h *h;
	void *arg;
};

/*
 * store_event_due_walk() - store_event_due_skip() from @w->from_ms on:
 * the deliverer's kick starts past the rows it knows are all in flight
 * instead of re-reading them from the head each time. Rows are due in
 * (next_at_ms, id) order and ids are random, so a start at a ms, not at
 * a key, still meets every row of that ms. Returns 0 or an errno.
 */
int store_event_due_walk(struct store_reader *r,
			 const struct event_due_walk *w);

/* store_event_next_due() - the earliest next_at_ms of a pending event,
 * or ENOENT when none is pending. */
int store_event_next_due(struct store_reader *r, int64_t *at_ms);

/*
 * store_event_session_prev() - whether session @session_id has an event
 * before sequence @seq still pending (*blocked = true): per-session order,
 * event n+1 is not sent before n is delivered or given up.
 */
int store_event_session_prev(struct store_reader *r,
			     const uint8_t session_id[STORE_ID_LEN],
			     uint64_t seq, bool *blocked);

/*
 * store_event_session_waiting() - per-session order, per destination:
 * *mask gets the EVENT_TO_* bits that some pending event of session
 * @session_id before sequence @seq has not reached yet. Event n+1 may go
 * to a destination outside *mask: a dead callback_url holds back only
 * its own copies, never the [events] url's. Returns 0 or an errno.
 */
int store_event_session_waiting(struct store_reader *r,
				const uint8_t session_id[STORE_ID_LEN],
				uint64_t seq, uint8_t *mask);

/* ---- webhook endpoints (store_webhook.c) ---- */

#define STORE_WEBHOOK_REASON_SIZE 64

/* What survives a restart of one endpoint's state. */
struct webhook_state {
	char *url;			/* borrowed by put; the list's copy
					 * is valid during the call */
	bool disabled;
	char reason[STORE_WEBHOOK_REASON_SIZE];	/* why disabled */
	int64_t failing_since_ms;	/* 0 = last attempt succeeded */
};

/* store_webhook_put() - keep @w (an endpoint neither disabled nor failing
 * is deleted: nothing to keep). 0 or an errno. */
int store_webhook_put(struct store_txn *tx, const struct webhook_state *w);

/* store_webhook_list() - every kept endpoint state to @h (nonzero
 * stops). 0 or an errno. */
typedef int (webhook_state_h)(const struct webhook_state *w, void *arg);
int store_webhook_list(struct store_reader *r, webhook_state_h *h, void *arg);

/* The outcome of one delivery attempt, for store_event_attempt(). */
struct event_attempt {
	enum event_status status;	/* pending = retry at next_at_ms */
	int64_t at_ms;			/* when it was tried */
	int64_t next_at_ms;
	uint16_t code;			/* HTTP status, 0 = none */
	const char *error;		/* NULL = none */
	uint8_t done;			/* EVENT_TO_* reached now: added */
	bool uncounted;			/* not an attempt of the schedule:
					 * only some destinations were due
					 * (the others wait for order) */
};

/* store_event_attempt() - record @a for event @id. 0, ENOENT or an errno. */
int store_event_attempt(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
			const struct event_attempt *a);

/*
 * store_event_redeliver() - make event @id pending again, due at @now_ms
 * (its attempts and id kept). Returns 0, ENOENT or an errno.
 */
int store_event_redeliver(struct store_txn *tx,
			  const uint8_t id[STORE_ID_LEN], int64_t now_ms);

/*
 * store_event_purge() - delete delivered events created before
 * @before_ms, at most @max; *n (may be NULL) gets how many.
 */
int store_event_purge(struct store_txn *tx, int64_t before_ms, unsigned max,
		      unsigned *n);

/* store_event_pending() - how many events are pending, as of now. */
int store_event_pending(struct store_reader *r, uint64_t *n);

#endif
