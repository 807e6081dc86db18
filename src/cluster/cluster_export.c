/*
 * cluster_export.c - this node's call records and events into
 * PostgreSQL (cluster_export_start() in cluster.h).
 *
 * The queue is in LMDB (store_mirror.h: an entry commits with the record
 * it names), so a record the node wrote is copied even when PostgreSQL
 * was down for an hour or the node was killed meanwhile. One batch is in
 * flight at a time, oldest first: read the entries, read each record as
 * it is now, send them all in one statement, and only once PostgreSQL
 * committed it delete the entries (through the writer). A crash between
 * the two sends the batch again, which the upsert on the id absorbs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "maskd/store_mirror.h"

#include "cluster_internal.h"

struct cluster_export {
	struct cluster *c;
	struct store *st;		/* borrowed */
	struct writer *w;		/* borrowed */
	struct store_reader *rd;
	struct event *timer;
	bool busy;			/* a batch sent or being deleted */
	bool full;			/* the last batch was full: go on */
	uint64_t upto;			/* the batch's last entry */
	unsigned count;			/* records in it */
	struct store_export_entry e[CLUSTER_EXPORT_BATCH];
};

/*
 * Every column is given (json_populate_recordset() makes a missing key
 * NULL, not the default). What a record can still change - a CDR's
 * recording, an event's delivery - is what the upsert updates.
 */
static const char export_sql[] =
	"WITH c AS (INSERT INTO cdrs SELECT * FROM "
	"json_populate_recordset(NULL::cdrs, $1::json) "
	"ON CONFLICT (id) DO UPDATE SET "
	"pkts_a_to_b = EXCLUDED.pkts_a_to_b, "
	"pkts_b_to_a = EXCLUDED.pkts_b_to_a, "
	"bytes_a_to_b = EXCLUDED.bytes_a_to_b, "
	"bytes_b_to_a = EXCLUDED.bytes_b_to_a, "
	"rec_state = EXCLUDED.rec_state, rec_format = EXCLUDED.rec_format, "
	"rec_duration_ms = EXCLUDED.rec_duration_ms, "
	"rec_bytes = EXCLUDED.rec_bytes, rec_sha256 = EXCLUDED.rec_sha256, "
	"rec_reason = EXCLUDED.rec_reason RETURNING 1), "
	"e AS (INSERT INTO events SELECT * FROM "
	"json_populate_recordset(NULL::events, $2::json) "
	"ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
	"next_at_ms = EXCLUDED.next_at_ms, "
	"last_attempt_ms = EXCLUDED.last_attempt_ms, "
	"attempts = EXCLUDED.attempts, last_code = EXCLUDED.last_code, "
	"last_error = EXCLUDED.last_error, done = EXCLUDED.done "
	"RETURNING 1) "
	"SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM e)";

static json_t *bytea_json(const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char s[2 + 2 * CDR_SHA256_LEN + 1];
	size_t i;

	s[0] = '\\';
	s[1] = 'x';
	for (i = 0; i < n; i++) {
		s[2 + 2 * i] = hex[b[i] >> 4];
		s[3 + 2 * i] = hex[b[i] & 15];
	}
	s[2 + 2 * n] = '\0';
	return json_string(s);
}

static bool all_zero(const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static json_t *cdr_json(const struct cdr *c, const char *node)
{
	json_t *o = json_object();
	int rc;

	if (!o)
		return NULL;
	rc = json_object_set_new(o, "id", bytea_json(c->id, STORE_ID_LEN));
	rc |= json_object_set_new(o, "session_id",
				  bytea_json(c->session_id, STORE_ID_LEN));
	rc |= json_object_set_new(o, "a_to_b", json_boolean(c->a_to_b));
	rc |= json_object_set_new(o, "start_ms", json_integer(c->start_ms));
	rc |= json_object_set_new(o, "answer_ms", json_integer(c->answer_ms));
	rc |= json_object_set_new(o, "end_ms", json_integer(c->end_ms));
	rc |= json_object_set_new(o, "final_code",
				  json_integer(c->final_code));
	rc |= json_object_set_new(o, "hangup", json_integer(c->hangup));
	rc |= json_object_set_new(o, "reason", json_string(c->reason));
	rc |= json_object_set_new(o, "pkts_a_to_b",
				  json_integer((json_int_t)c->pkts_a_to_b));
	rc |= json_object_set_new(o, "pkts_b_to_a",
				  json_integer((json_int_t)c->pkts_b_to_a));
	rc |= json_object_set_new(o, "bytes_a_to_b",
				  json_integer((json_int_t)c->bytes_a_to_b));
	rc |= json_object_set_new(o, "bytes_b_to_a",
				  json_integer((json_int_t)c->bytes_b_to_a));
	rc |= json_object_set_new(o, "direction", json_integer(c->direction));
	rc |= json_object_set_new(o, "pin_status",
				  json_integer(c->pin_status));
	rc |= json_object_set_new(o, "pin_attempts",
				  json_integer(c->pin_attempts));
	rc |= json_object_set_new(o, "participants",
				  json_integer(c->participants));
	rc |= json_object_set_new(o, "hook", json_integer(c->hook));
	rc |= json_object_set_new(o, "hook_latency_ms",
				  json_integer(c->hook_latency_ms));
	rc |= json_object_set_new(o, "rec_state", json_integer(c->rec_state));
	rc |= json_object_set_new(o, "rec_format",
				  json_integer(c->rec_format));
	rc |= json_object_set_new(o, "rec_duration_ms",
				  json_integer(c->rec_duration_ms));
	rc |= json_object_set_new(o, "rec_bytes",
				  json_integer((json_int_t)c->rec_bytes));
	rc |= json_object_set_new(o, "rec_sha256",
				  all_zero(c->rec_sha256, CDR_SHA256_LEN) ?
				  json_null() :
				  bytea_json(c->rec_sha256, CDR_SHA256_LEN));
	rc |= json_object_set_new(o, "rec_reason", json_string(c->rec_reason));
	rc |= json_object_set_new(o, "node", json_string(node));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *event_json(const struct event *ev, const char *node)
{
	json_t *o = json_object();
	int rc;

	if (!o)
		return NULL;
	rc = json_object_set_new(o, "id", bytea_json(ev->id, STORE_ID_LEN));
	rc |= json_object_set_new(o, "session_id", ev->has_session ?
				  bytea_json(ev->session_id, STORE_ID_LEN) :
				  json_null());
	rc |= json_object_set_new(o, "sequence",
				  json_integer((json_int_t)ev->sequence));
	rc |= json_object_set_new(o, "type", json_string(ev->type));
	rc |= json_object_set_new(o, "status", json_integer(ev->status));
	rc |= json_object_set_new(o, "created_ms",
				  json_integer(ev->created_ms));
	rc |= json_object_set_new(o, "next_at_ms",
				  json_integer(ev->next_at_ms));
	rc |= json_object_set_new(o, "last_attempt_ms",
				  json_integer(ev->last_attempt_ms));
	rc |= json_object_set_new(o, "attempts", json_integer(ev->attempts));
	rc |= json_object_set_new(o, "last_code",
				  json_integer(ev->last_code));
	rc |= json_object_set_new(o, "last_error",
				  json_string(ev->last_error));
	rc |= json_object_set_new(o, "callback_url", ev->callback_url ?
				  json_string(ev->callback_url) :
				  json_null());
	rc |= json_object_set_new(o, "body", json_stringn(ev->body,
							  ev->body_len));
	rc |= json_object_set_new(o, "node", json_string(node));
	rc |= json_object_set_new(o, "done", json_integer(ev->done));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int export_deleted_run(struct store_txn *tx, void *arg)
{
	struct cluster_export *x = arg;

	return store_export_done(tx, x->upto);
}

static void export_tick(evutil_socket_t fd, short what, void *arg);

static void export_deleted(int err, void *arg)
{
	struct cluster_export *x = arg;

	x->busy = false;
	if (err) {
		log_warn(x->c->log, "cluster: export: cannot delete what was "
			 "copied (it will be copied again): %s",
			 strerror(err));
		return;
	}
	x->c->stats.exported += x->count;
	if (x->full)
		export_tick(-1, 0, x);
}

static void export_sent(int err, const PGresult *res, void *arg)
{
	struct cluster_export *x = arg;

	if (err) {
		x->busy = false;	/* down: they wait in LMDB */
		return;
	}
	if (!cluster_pg_ok(res)) {
		cluster_log_pg_error(x->c, "export", res);
		x->busy = false;
		return;
	}
	if (writer_submit(x->w, export_deleted_run, export_deleted, x))
		x->busy = false;	/* ENOMEM: copied again next time */
}

/* The same record twice in one batch (a CDR and then its recording)
 * would make the upsert touch a row twice, which PostgreSQL refuses:
 * the record is read as it is now anyway, once is enough. */
static bool seen_before(const struct cluster_export *x, unsigned i)
{
	unsigned j;

	for (j = 0; j < i; j++)
		if (x->e[j].kind == x->e[i].kind &&
		    !memcmp(x->e[j].id, x->e[i].id, STORE_ID_LEN))
			return true;
	return false;
}

/* Build the two arrays; entries whose record is gone (purged) are
 * simply dropped with the batch. */
static int export_build(struct cluster_export *x, unsigned n, json_t *cdrs,
			json_t *events)
{
	unsigned i;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		json_t *o = NULL;

		if (seen_before(x, i))
			continue;
		if (x->e[i].kind == STORE_EXPORT_CDR) {
			struct cdr c;

			rc = store_cdr_get(x->rd, x->e[i].id, &c);
			if (!rc && !(o = cdr_json(&c, x->c->node)))
				rc = ENOMEM;
			if (!rc)
				rc = json_array_append_new(cdrs, o) ? ENOMEM : 0;
		} else if (x->e[i].kind == STORE_EXPORT_EVENT) {
			struct event ev;

			rc = store_event_get(x->rd, x->e[i].id, &ev);
			if (!rc) {
				o = event_json(&ev, x->c->node);
				event_clear(&ev);
				rc = o ? 0 : ENOMEM;
			}
			if (!rc)
				rc = json_array_append_new(events, o) ?
				     ENOMEM : 0;
		}
		if (rc == ENOENT)
			rc = 0;
		else if (!rc)
			x->count++;
	}
	return rc;
}

static void export_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_export *x = arg;
	struct cluster_pg *pg;
	json_t *cdrs = NULL, *events = NULL;
	char *v1 = NULL, *v2 = NULL;
	const char *vals[2];
	unsigned n = 0;
	int rc;

	if (x->busy || !(pg = cluster_pick(x->c)))
		return;
	rc = store_export_list(x->rd, x->e, CLUSTER_EXPORT_BATCH, &n);
	if (rc || !n) {
		if (rc)
			log_warn(x->c->log, "cluster: export: reading the "
				 "queue: %s", strerror(rc));
		return;
	}
	x->upto = x->e[n - 1].seq;
	x->full = n == CLUSTER_EXPORT_BATCH;
	x->count = 0;
	cdrs = json_array();
	events = json_array();
	rc = cdrs && events ? export_build(x, n, cdrs, events) : ENOMEM;
	if (!rc) {
		v1 = json_dumps(cdrs, JSON_COMPACT);
		v2 = json_dumps(events, JSON_COMPACT);
		rc = v1 && v2 ? 0 : ENOMEM;
	}
	vals[0] = v1;
	vals[1] = v2;
	if (!rc)
		rc = cluster_pg_query(pg, export_sql, 2, vals, export_sent, x);
	if (!rc)
		x->busy = true;
	else if (rc != ENOTCONN)
		log_warn(x->c->log, "cluster: export: %s", strerror(rc));
	json_decref(cdrs);
	json_decref(events);
	free(v1);
	free(v2);
}

int cluster_export_start(struct cluster *c, struct store *st,
			 struct writer *w)
{
	struct timeval tv = { CLUSTER_EXPORT_MS / 1000,
			      (CLUSTER_EXPORT_MS % 1000) * 1000 };
	struct cluster_export *x;
	int rc;

	if (c->export)
		return EALREADY;
	x = calloc(1, sizeof(*x));
	if (!x)
		return ENOMEM;
	x->c = c;
	x->st = st;
	x->w = w;
	rc = store_reader_open(st, &x->rd);
	if (rc)
		goto fail;
	x->timer = event_new(c->base, -1, EV_PERSIST, export_tick, x);
	if (!x->timer) {
		rc = ENOMEM;
		goto fail;
	}
	event_add(x->timer, &tv);
	store_set_export(st, true);
	c->export = x;
	return 0;
 fail:
	cluster_export_free(x);
	return rc;
}

void cluster_export_free(struct cluster_export *x)
{
	if (!x)
		return;
	/* a delete in the writer still points at x: flush it first (and
	 * let it start no next batch) */
	x->full = false;
	if (x->busy && x->w)
		writer_flush(x->w);
	store_set_export(x->st, false);
	if (x->timer)
		event_free(x->timer);
	store_reader_close(x->rd);
	free(x);
}
