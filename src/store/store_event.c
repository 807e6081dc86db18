/*
 * store_event.c - the events outbox: one row per event, written in the
 * write transaction of the change it reports, and the indexes delivery
 * and the API need (store.h lists them). No MDB_DUPSORT: composite keys.
 *
 * The pending count is evt_due's entry count (mdb_stat(), kept by LMDB in
 * the tree's header): evt_due holds exactly the pending events, so
 * max_pending is enforced without a scan and without a counter of its
 * own to write twice per event (a "evt_pending" meta row of older stores
 * is no longer read).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/store_mirror.h"

#include "store_internal.h"

#define EVENT_REC_VERSION 1
#define EVT_SESS_KEY_SIZE (STORE_ID_LEN + 8)
#define EVT_STATUS_KEY_SIZE (1 + STORE_ID_LEN)
#define EVT_DUE_KEY_SIZE (8 + STORE_ID_LEN)

/* The fixed head of an events value; callback_url and body follow. */
struct rec_event {
	uint8_t version;
	uint8_t status;
	uint8_t has_session;
	uint8_t done;			/* EVENT_TO_* reached (was padding:
					 * 0 in older rows, none reached) */
	uint16_t last_code;
	uint16_t pad1;
	uint32_t attempts;
	uint64_t sequence;
	uint8_t session_id[STORE_ID_LEN];
	int64_t created_ms;
	int64_t next_at_ms;
	int64_t last_attempt_ms;
	char type[EVENT_TYPE_SIZE];
	char last_error[EVENT_ERROR_SIZE];
	uint32_t url_len;
	uint32_t body_len;
};

void event_clear(struct event *ev)
{
	if (!ev)
		return;
	free(ev->body);
	free(ev->callback_url);
	ev->body = NULL;
	ev->callback_url = NULL;
	ev->body_len = 0;
}

const char *event_status_name(enum event_status st)
{
	switch (st) {
	case EVENT_PENDING:
		return "pending";
	case EVENT_DELIVERED:
		return "delivered";
	case EVENT_FAILED:
		return "failed";
	}
	return "unknown";
}

int event_status_parse(const char *s, enum event_status *out)
{
	static const enum event_status all[] = {
		EVENT_PENDING, EVENT_DELIVERED, EVENT_FAILED,
	};
	size_t i;

	for (i = 0; s && i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(s, event_status_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return EINVAL;
}

void event_id_format(const uint8_t id[STORE_ID_LEN],
		     char out[EVENT_ID_STR_SIZE])
{
	memcpy(out, "msg_", 4);
	store_id_format(id, out + 4);
}

int event_id_parse(const char *s, uint8_t id[STORE_ID_LEN])
{
	if (!s || strncmp(s, "msg_", 4))
		return EINVAL;
	return store_id_parse(s + 4, id);
}

void store_set_expire_h(struct store *st, store_expire_h *h, void *arg)
{
	st->expire_h = h;
	st->expire_arg = arg;
}

/* ---- keys ---- */

static MDB_val key_sess(uint8_t buf[EVT_SESS_KEY_SIZE],
			const uint8_t sid[STORE_ID_LEN], uint64_t seq)
{
	MDB_val k = { EVT_SESS_KEY_SIZE, buf };

	memcpy(buf, sid, STORE_ID_LEN);
	store_be64_put(buf + STORE_ID_LEN, seq);
	return k;
}

static MDB_val key_status(uint8_t buf[EVT_STATUS_KEY_SIZE], uint8_t status,
			  const uint8_t id[STORE_ID_LEN])
{
	MDB_val k = { EVT_STATUS_KEY_SIZE, buf };

	buf[0] = status;
	memcpy(buf + 1, id, STORE_ID_LEN);
	return k;
}

/* ---- records ---- */

static int event_decode(const MDB_val *k, const MDB_val *v, struct event *ev,
			bool with_strings)
{
	struct rec_event rec;
	const char *tail;

	if (k->mv_size != STORE_ID_LEN || v->mv_size < sizeof(rec))
		return EIO;
	memcpy(&rec, v->mv_data, sizeof(rec));
	if (rec.version != EVENT_REC_VERSION ||
	    v->mv_size != sizeof(rec) + rec.url_len + rec.body_len)
		return EIO;
	memset(ev, 0, sizeof(*ev));
	memcpy(ev->id, k->mv_data, STORE_ID_LEN);
	ev->has_session = rec.has_session != 0;
	memcpy(ev->session_id, rec.session_id, STORE_ID_LEN);
	ev->sequence = rec.sequence;
	memcpy(ev->type, rec.type, EVENT_TYPE_SIZE);
	ev->type[EVENT_TYPE_SIZE - 1] = '\0';
	ev->status = (enum event_status)rec.status;
	ev->created_ms = rec.created_ms;
	ev->next_at_ms = rec.next_at_ms;
	ev->last_attempt_ms = rec.last_attempt_ms;
	ev->attempts = rec.attempts;
	ev->last_code = rec.last_code;
	ev->done = rec.done;
	memcpy(ev->last_error, rec.last_error, EVENT_ERROR_SIZE);
	ev->last_error[EVENT_ERROR_SIZE - 1] = '\0';
	if (!with_strings)
		return 0;
	tail = (const char *)v->mv_data + sizeof(rec);
	if (rec.url_len) {
		ev->callback_url = store_strdup_n(tail, rec.url_len);
		if (!ev->callback_url)
			return ENOMEM;
	}
	ev->body = store_strdup_n(tail + rec.url_len, rec.body_len);
	if (!ev->body) {
		event_clear(ev);
		return ENOMEM;
	}
	ev->body_len = rec.body_len;
	return 0;
}

/* A row's callback_url, in the map (not NUL-terminated); the row has
 * passed event_decode(). */
static const char *event_url(const MDB_val *v)
{
	return (const char *)v->mv_data + sizeof(struct rec_event);
}

static size_t event_url_len(const MDB_val *v)
{
	struct rec_event rec;

	memcpy(&rec, v->mv_data, sizeof(rec));
	return rec.url_len;
}

static int event_read(MDB_txn *txn, struct store *st,
		      const uint8_t id[STORE_ID_LEN], struct event *ev,
		      bool with_strings)
{
	MDB_val k = { STORE_ID_LEN, (void *)id };
	MDB_val v;
	int rc;

	rc = mdb_get(txn, st->events, &k, &v);
	if (rc)
		return store_err(rc);
	return event_decode(&k, &v, ev, with_strings);
}

/* Write @ev's row (strings included) over whatever was there. */
static int event_put(struct store_txn *tx, const struct event *ev)
{
	MDB_val k = { STORE_ID_LEN, (void *)ev->id };
	size_t url_len = ev->callback_url ? strlen(ev->callback_url) : 0;
	struct rec_event rec;
	MDB_val v;
	char *p;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.version = EVENT_REC_VERSION;
	rec.status = (uint8_t)ev->status;
	rec.has_session = ev->has_session ? 1 : 0;
	rec.done = ev->done;
	rec.last_code = ev->last_code;
	rec.attempts = ev->attempts;
	rec.sequence = ev->sequence;
	memcpy(rec.session_id, ev->session_id, STORE_ID_LEN);
	rec.created_ms = ev->created_ms;
	rec.next_at_ms = ev->next_at_ms;
	rec.last_attempt_ms = ev->last_attempt_ms;
	/* rec is zeroed: the last byte stays NUL */
	memcpy(rec.type, ev->type, strnlen(ev->type, EVENT_TYPE_SIZE - 1));
	memcpy(rec.last_error, ev->last_error,
	       strnlen(ev->last_error, EVENT_ERROR_SIZE - 1));
	rec.url_len = (uint32_t)url_len;
	rec.body_len = (uint32_t)ev->body_len;
	v.mv_size = sizeof(rec) + url_len + ev->body_len;
	rc = mdb_put(tx->txn, tx->st->events, &k, &v, MDB_RESERVE);
	if (rc)
		return store_err(rc);
	p = v.mv_data;
	memcpy(p, &rec, sizeof(rec));
	if (url_len)
		memcpy(p + sizeof(rec), ev->callback_url, url_len);
	if (ev->body_len)
		memcpy(p + sizeof(rec) + url_len, ev->body, ev->body_len);
	return 0;
}

/* Status and due index entries of @ev: add (@on) or remove them. */
static int event_index(struct store_txn *tx, const struct event *ev, bool on)
{
	uint8_t sbuf[EVT_STATUS_KEY_SIZE], dbuf[EVT_DUE_KEY_SIZE];
	MDB_val sk = key_status(sbuf, (uint8_t)ev->status, ev->id);
	MDB_val dk = store_key_expiry(dbuf, ev->next_at_ms, ev->id);
	MDB_val empty = { 0, NULL };
	int rc;

	if (on) {
		rc = mdb_put(tx->txn, tx->st->evt_status, &sk, &empty, 0);
		if (!rc && ev->status == EVENT_PENDING)
			rc = mdb_put(tx->txn, tx->st->evt_due, &dk, &empty, 0);
		return store_err(rc);
	}
	rc = mdb_del(tx->txn, tx->st->evt_status, &sk, NULL);
	if (!rc && ev->status == EVENT_PENDING)
		rc = mdb_del(tx->txn, tx->st->evt_due, &dk, NULL);
	return store_err(rc);
}

/*
 * The session index entry of @ev: add (@on) or remove it. evt_sess holds
 * a session's pending events only, so the per-session order check
 * (event_session_scan()) reads the few still waiting, not every event a
 * long-lived session ever had. Rows of older stores that name delivered
 * events are passed over by that check and go at purge.
 */
static int event_sess_index(struct store_txn *tx, const struct event *ev,
			    bool on)
{
	uint8_t buf[EVT_SESS_KEY_SIZE];
	MDB_val k, v = { STORE_ID_LEN, (void *)ev->id };
	int rc;

	if (!ev->has_session)
		return 0;
	k = key_sess(buf, ev->session_id, ev->sequence);
	if (on)
		return store_err(mdb_put(tx->txn, tx->st->evt_sess, &k, &v, 0));
	rc = mdb_del(tx->txn, tx->st->evt_sess, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

/* The pending events in @txn's view: evt_due's entries. */
static int event_pending_count(MDB_txn *txn, const struct store *st,
			       uint64_t *n)
{
	MDB_stat ms;
	int rc;

	rc = mdb_stat(txn, st->evt_due, &ms);
	if (rc)
		return store_err(rc);
	*n = ms.ms_entries;
	return 0;
}

/* ---- writing ---- */

int store_event_seq_next(struct store_txn *tx,
			 const uint8_t session_id[STORE_ID_LEN],
			 uint64_t *seq)
{
	MDB_val k = { STORE_ID_LEN, (void *)session_id };
	uint8_t buf[8];
	MDB_val v;
	uint64_t n = 0;
	int rc;

	rc = mdb_get(tx->txn, tx->st->evt_seq, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		n = store_be64_get(v.mv_data);
	else if (rc != MDB_NOTFOUND)
		return rc ? store_err(rc) : EIO;
	store_be64_put(buf, ++n);
	v.mv_size = 8;
	v.mv_data = buf;
	rc = mdb_put(tx->txn, tx->st->evt_seq, &k, &v, 0);
	if (rc)
		return store_err(rc);
	*seq = n;
	return 0;
}

/* Mark the oldest pending event failed: max_pending was passed. */
static int event_drop_oldest(struct store_txn *tx, int64_t now_ms)
{
	uint8_t sbuf[EVT_STATUS_KEY_SIZE], id[STORE_ID_LEN] = { 0 };
	MDB_val k = key_status(sbuf, EVENT_PENDING, id);
	struct event ev;
	MDB_cursor *cur;
	MDB_val v;
	int rc;

	k.mv_size = 1;
	rc = store_err(mdb_cursor_open(tx->txn, tx->st->evt_status, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != EVT_STATUS_KEY_SIZE ||
			((uint8_t *)k.mv_data)[0] != EVENT_PENDING))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		memcpy(id, (uint8_t *)k.mv_data + 1, STORE_ID_LEN);
	mdb_cursor_close(cur);
	if (rc)
		return store_err(rc);

	rc = event_read(tx->txn, tx->st, id, &ev, true);
	if (!rc)
		rc = event_index(tx, &ev, false);
	if (!rc)
		rc = event_sess_index(tx, &ev, false);
	if (!rc) {
		ev.status = EVENT_FAILED;
		ev.last_attempt_ms = ev.last_attempt_ms ? ev.last_attempt_ms :
				     now_ms;
		snprintf(ev.last_error, sizeof(ev.last_error),
			 "dropped: max_pending");
		rc = event_put(tx, &ev);
	}
	if (!rc)
		rc = event_index(tx, &ev, true);
	event_clear(&ev);
	return rc;
}

int store_event_add(struct store_txn *tx, struct event *ev, int64_t now_ms,
		    uint64_t max_pending, unsigned *dropped)
{
	unsigned n = 0;
	uint64_t pending = 0;
	int rc;

	if (dropped)
		*dropped = 0;
	rc = store_id_new(tx->st, now_ms, ev->id);
	if (rc)
		return rc;
	ev->status = EVENT_PENDING;
	ev->created_ms = now_ms;
	ev->attempts = 0;
	ev->last_code = 0;
	ev->last_attempt_ms = 0;
	ev->last_error[0] = '\0';
	rc = event_put(tx, ev);
	if (!rc)
		rc = event_index(tx, ev, true);
	if (!rc)
		rc = event_sess_index(tx, ev, true);
	if (!rc)
		rc = store_export_put(tx, STORE_EXPORT_EVENT, ev->id);
	while (!rc && max_pending) {
		rc = event_pending_count(tx->txn, tx->st, &pending);
		if (rc || pending <= max_pending)
			break;
		rc = event_drop_oldest(tx, now_ms);
		n++;
	}
	if (dropped)
		*dropped = n;
	return rc;
}

int store_event_attempt(struct store_txn *tx, const uint8_t id[STORE_ID_LEN],
			const struct event_attempt *a)
{
	struct event ev;
	int rc;

	rc = event_read(tx->txn, tx->st, id, &ev, true);
	if (rc)
		return rc;
	rc = event_index(tx, &ev, false);
	if (!rc) {
		ev.status = a->status;
		if (!a->uncounted)
			ev.attempts++;
		ev.done |= a->done;
		ev.last_attempt_ms = a->at_ms;
		ev.next_at_ms = a->status == EVENT_PENDING ? a->next_at_ms : 0;
		ev.last_code = a->code;
		snprintf(ev.last_error, sizeof(ev.last_error), "%s",
			 a->error ? a->error : "");
		rc = event_put(tx, &ev);
	}
	if (!rc)
		rc = event_index(tx, &ev, true);
	if (!rc && ev.status != EVENT_PENDING)
		rc = event_sess_index(tx, &ev, false);
	/* its final state, once: the cluster's copy says delivered too */
	if (!rc && ev.status != EVENT_PENDING)
		rc = store_export_put(tx, STORE_EXPORT_EVENT, id);
	event_clear(&ev);
	return rc;
}

int store_event_redeliver(struct store_txn *tx,
			  const uint8_t id[STORE_ID_LEN], int64_t now_ms)
{
	struct event ev;
	int rc;

	rc = event_read(tx->txn, tx->st, id, &ev, true);
	if (rc)
		return rc;
	rc = event_index(tx, &ev, false);
	if (!rc) {
		ev.status = EVENT_PENDING;
		ev.next_at_ms = now_ms;
		ev.done = 0;		/* by hand: to every destination again */
		rc = event_put(tx, &ev);
	}
	if (!rc)
		rc = event_index(tx, &ev, true);
	if (!rc)
		rc = event_sess_index(tx, &ev, true);
	event_clear(&ev);
	return rc;
}

int store_event_purge(struct store_txn *tx, int64_t before_ms, unsigned max,
		      unsigned *n)
{
	unsigned done = 0;
	int rc = 0;

	/* delivered ids sort by creation time: the oldest come first */
	while (done < max) {
		uint8_t sbuf[EVT_STATUS_KEY_SIZE], id[STORE_ID_LEN] = { 0 };
		uint8_t qbuf[EVT_SESS_KEY_SIZE];
		MDB_val k = key_status(sbuf, EVENT_DELIVERED, id);
		MDB_val v, ik = { STORE_ID_LEN, id };
		struct event ev;
		MDB_cursor *cur;

		k.mv_size = 1;
		rc = store_err(mdb_cursor_open(tx->txn, tx->st->evt_status,
					       &cur));
		if (rc)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && (k.mv_size != EVT_STATUS_KEY_SIZE ||
				((uint8_t *)k.mv_data)[0] != EVENT_DELIVERED))
			rc = MDB_NOTFOUND;
		if (rc == 0)
			memcpy(id, (uint8_t *)k.mv_data + 1, STORE_ID_LEN);
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = store_err(rc);
			break;
		}
		rc = event_read(tx->txn, tx->st, id, &ev, false);
		if (rc)
			break;
		if (ev.created_ms >= before_ms)
			break;
		rc = event_index(tx, &ev, false);
		if (!rc && ev.has_session) {
			MDB_val qk = key_sess(qbuf, ev.session_id,
					      ev.sequence);

			rc = mdb_del(tx->txn, tx->st->evt_sess, &qk, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
		}
		if (!rc)
			rc = store_err(mdb_del(tx->txn, tx->st->events, &ik,
					       NULL));
		if (rc)
			break;
		done++;
	}
	if (n)
		*n = done;
	return rc;
}

/* ---- reading ---- */

int store_event_get(struct store_reader *r, const uint8_t id[STORE_ID_LEN],
		    struct event *out)
{
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = event_read(r->txn, r->st, id, out, true);
	store_reader_end(r);
	return rc;
}

int store_event_pending(struct store_reader *r, uint64_t *n)
{
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = event_pending_count(r->txn, r->st, n);
	store_reader_end(r);
	return rc;
}

static bool event_match(const struct event_filter *f, const struct event *ev)
{
	if (f->by_status && ev->status != f->status)
		return false;
	if (f->by_session && (!ev->has_session ||
			      memcmp(ev->session_id, f->session_id,
				     STORE_ID_LEN)))
		return false;
	if (f->type && *f->type && strcmp(f->type, ev->type))
		return false;
	return true;
}

/*
 * Walk the narrowest index: a status's range of evt_status when filtering
 * by status (ids in order), else every event; the session filter is
 * applied per row (a session has few events; the API's session listing
 * could use evt_sess, but id order is what the cursor needs).
 */
int store_event_list(struct store_reader *r, const struct event_filter *f,
		     event_list_h *h, void *arg, bool *more)
{
	uint8_t sbuf[EVT_STATUS_KEY_SIZE];
	uint8_t zero[STORE_ID_LEN] = { 0 };
	MDB_cursor *cur = NULL;
	unsigned limit = f->limit ? f->limit : 100, n = 0;
	MDB_dbi dbi = f->by_status ? r->st->evt_status : r->st->events;
	MDB_val k, v;
	struct event ev;
	int rc;

	*more = false;
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, dbi, &cur));
	if (rc)
		goto out;
	if (f->by_status)
		k = key_status(sbuf, (uint8_t)f->status,
			       f->has_cursor ? f->after : zero);
	else
		k = (MDB_val){ STORE_ID_LEN,
			       (void *)(f->has_cursor ? f->after : zero) };
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *id;
		MDB_val ek, evv;

		if (f->by_status) {
			if (k.mv_size != EVT_STATUS_KEY_SIZE ||
			    ((uint8_t *)k.mv_data)[0] != (uint8_t)f->status)
				break;
			id = (uint8_t *)k.mv_data + 1;
		} else {
			id = k.mv_data;
		}
		if (f->has_cursor && !memcmp(id, f->after, STORE_ID_LEN))
			continue;
		ek.mv_size = STORE_ID_LEN;
		ek.mv_data = (void *)id;
		if (f->by_status) {
			rc = mdb_get(r->txn, r->st->events, &ek, &evv);
			if (rc)
				break;
		} else {
			evv = v;
		}
		rc = event_decode(&ek, &evv, &ev, true);
		if (rc)
			break;
		if (!event_match(f, &ev)) {
			event_clear(&ev);
			continue;
		}
		if (n == limit) {
			*more = true;
			event_clear(&ev);
			break;
		}
		n++;
		rc = h(&ev, arg) ? MDB_NOTFOUND : 0;
		event_clear(&ev);
		if (rc)
			break;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
 out:
	if (cur)
		mdb_cursor_close(cur);
	store_reader_end(r);
	return rc;
}

int store_event_due(struct store_reader *r, int64_t now_ms, unsigned max,
		    event_list_h *h, void *arg)
{
	return store_event_due_skip(r, now_ms, max, 0, NULL, h, arg);
}

int store_event_due_skip(struct store_reader *r, int64_t now_ms,
			 unsigned max, unsigned max_walk, event_skip_h *skip,
			 event_list_h *h, void *arg)
{
	struct event_due_walk w = {
		.now_ms = now_ms, .max = max,
		/* the bound was on rows a @skip looked at */
		.max_walk = skip ? max_walk : 0,
		.skip = skip, .h = h, .arg = arg,
	};

	return store_event_due_walk(r, &w);
}

int store_event_due_walk(struct store_reader *r,
			 const struct event_due_walk *w)
{
	static const uint8_t zero[STORE_ID_LEN];
	uint8_t buf[EVT_DUE_KEY_SIZE];
	MDB_cursor *cur = NULL;
	unsigned n = 0, walked = 0;
	MDB_val k, v, ek, evv;
	struct event ev;
	int64_t at;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->evt_due, &cur));
	if (rc)
		goto out;
	k = store_key_expiry(buf, w->from_ms, zero);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && n < w->max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != EVT_DUE_KEY_SIZE) {
			rc = EIO;
			break;
		}
		at = store_key_expiry_at(&k);
		if (at > w->now_ms)
			break;
		if (w->max_walk && ++walked > w->max_walk)
			break;
		ek.mv_size = STORE_ID_LEN;
		ek.mv_data = (uint8_t *)k.mv_data + 8;
		if (w->id_skip && w->id_skip(ek.mv_data, at, w->arg))
			continue;
		rc = mdb_get(r->txn, r->st->events, &ek, &evv);
		if (rc)
			break;
		/* the head only, the URL in the map: most rows passed over
		 * (their endpoint at its cap, their session waiting) cost
		 * no copy */
		if (w->skip) {
			rc = event_decode(&ek, &evv, &ev, false);
			if (rc)
				break;
			if (w->skip(&ev, event_url(&evv), event_url_len(&evv),
				    w->arg))
				continue;
		}
		rc = event_decode(&ek, &evv, &ev, true);
		if (rc)
			break;
		n++;
		rc = w->h(&ev, w->arg) ? MDB_NOTFOUND : 0;
		event_clear(&ev);
		if (rc)
			break;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
 out:
	if (cur)
		mdb_cursor_close(cur);
	store_reader_end(r);
	return rc;
}

int store_event_next_due(struct store_reader *r, int64_t *at_ms)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->evt_due, &cur));
	if (rc)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == EVT_DUE_KEY_SIZE)
		*at_ms = store_key_expiry_at(&k);
	else if (rc == 0)
		rc = EIO;
	rc = store_err(rc);
 out:
	if (cur)
		mdb_cursor_close(cur);
	store_reader_end(r);
	return rc;
}

/* The pending events of a session before @seq: *any when there is one,
 * *mask the destinations they have not all reached. */
static int event_session_scan(struct store_reader *r,
			      const uint8_t session_id[STORE_ID_LEN],
			      uint64_t seq, bool *any, uint8_t *mask)
{
	uint8_t buf[EVT_SESS_KEY_SIZE];
	MDB_cursor *cur = NULL;
	MDB_val k = key_sess(buf, session_id, 1), v, evv;
	struct event ev;
	int rc;

	*any = false;
	*mask = 0;
	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->evt_sess, &cur));
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != EVT_SESS_KEY_SIZE ||
		    memcmp(k.mv_data, session_id, STORE_ID_LEN) ||
		    store_be64_get((uint8_t *)k.mv_data + STORE_ID_LEN) >= seq)
			break;
		if (v.mv_size != STORE_ID_LEN) {
			rc = EIO;
			break;
		}
		rc = mdb_get(r->txn, r->st->events, &v, &evv);
		if (rc)
			break;
		rc = event_decode(&v, &evv, &ev, false);
		if (rc)
			break;
		if (ev.status == EVENT_PENDING) {
			*any = true;
			*mask |= (uint8_t)(~ev.done &
					   (EVENT_TO_URL | EVENT_TO_CALLBACK));
			if (*mask == (EVENT_TO_URL | EVENT_TO_CALLBACK))
				break;
		}
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
 out:
	if (cur)
		mdb_cursor_close(cur);
	store_reader_end(r);
	return rc;
}

int store_event_session_prev(struct store_reader *r,
			     const uint8_t session_id[STORE_ID_LEN],
			     uint64_t seq, bool *blocked)
{
	uint8_t mask;

	return event_session_scan(r, session_id, seq, blocked, &mask);
}

int store_event_session_waiting(struct store_reader *r,
				const uint8_t session_id[STORE_ID_LEN],
				uint64_t seq, uint8_t *mask)
{
	bool any;

	return event_session_scan(r, session_id, seq, &any, mask);
}
