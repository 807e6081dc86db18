/*
 * ctl_event.c - the events a change reports, written into the outbox
 * (store_event_add()) inside the change's own write transaction: a
 * session created, closed or expired, a call record stored. The body is
 * built here, once, and sent byte for byte on every attempt, so every
 * retry carries the same signature input.
 *
 * An event is written only when it can go somewhere: [events] url is set
 * or the session has a callback_url.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "maskd/recorder.h"
#include "ctl_internal.h"


int ctl_events_configure(struct ctl *ctl, const struct ctl_events_conf *c)
{
	ctl->evc = *c;
	ctl->evc.url_set = c->url_set || (c->url && *c->url);
	if (!c->n_keys)
		return 0;
	return ctl_deliver_start(ctl);
}


static json_t *ctl_time_json(int64_t ms)
{
	char buf[CLOCK_RFC3339_SIZE];

	clock_rfc3339(ms, buf);
	return json_string(buf);
}

bool ctl_event_wanted(const struct ctl *ctl, const char *callback_url)
{
	return ctl->evc.url_set || (callback_url && *callback_url);
}

/* The session fields every event of a session carries. */
static int ctl_event_session_fields(json_t *d, const struct session *s,
				    uint64_t seq)
{
	char id[STORE_ID_STR_SIZE];
	int rc = 0;

	store_id_format(s->id, id);
	rc |= json_object_set_new(d, "session_id", json_string(id));
	rc |= json_object_set_new(d, "sequence", json_integer((json_int_t)seq));
	rc |= json_object_set_new(d, "party_a", json_string(s->party_a));
	rc |= json_object_set_new(d, "party_b", json_string(s->party_b));
	rc |= json_object_set_new(d, "virtual_number", json_string(s->vn));
	return rc ? ENOMEM : 0;
}

/* What every call.* event of a session says of the call itself. */
static int ctl_event_call_fields(json_t *d, const struct cdr *c,
				 const struct session *s)
{
	char id[STORE_ID_STR_SIZE];
	int rc;

	store_id_format(c->id, id);
	rc = json_object_set_new(d, "call_id", json_string(id));
	rc |= json_object_set_new(d, "direction",
				  json_string(cdr_direction_name(c)));
	rc |= json_object_set_new(d, "from", json_string(c->a_to_b ?
				  s->party_a : s->party_b));
	rc |= json_object_set_new(d, "to", json_string(c->a_to_b ?
				  s->party_b : s->party_a));
	rc |= json_object_set_new(d, "started_at", ctl_time_json(c->start_ms));
	return rc;
}

/*
 * Serialise {type, timestamp, data} (takes @data) and write it to the
 * outbox for the session @s (NULL: none) in @tx. Its counters may count
 * an event twice when a writer group it was in failed and it was written
 * again alone (writer_submit_group()).
 */
static int ctl_event_put(struct ctl *ctl, struct store_txn *tx,
			 const char *type, int64_t at_ms, json_t *data,
			 const struct session *s, uint64_t seq, int64_t now_ms)
{
	struct event ev;
	unsigned dropped = 0;
	json_t *o;
	char *body;
	int rc;

	o = json_pack("{s:s, s:o, s:o}", "type", type, "timestamp",
		      ctl_time_json(at_ms), "data", data);
	if (!o)
		return ENOMEM;
	/* compact and in insertion order: what is signed is what is sent */
	body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!body)
		return ENOMEM;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.type, sizeof(ev.type), "%s", type);
	if (s) {
		ev.has_session = true;
		memcpy(ev.session_id, s->id, STORE_ID_LEN);
		ev.sequence = seq;
		ev.callback_url = s->callback_url;	/* borrowed */
	}
	ev.body = body;
	ev.body_len = strlen(body);
	ev.next_at_ms = now_ms;
	rc = store_event_add(tx, &ev, now_ms, ctl->evc.max_pending, &dropped);
	free(body);
	if (!rc && dropped) {
		ctl->ctr.deliveries[CTL_DELIVERY_DROPPED] += dropped;
		log_warn(ctl->log, "ctl: events: %u oldest pending events "
			 "dropped (max_pending %llu)", dropped,
			 (unsigned long long)ctl->evc.max_pending);
	}
	if (!rc) {
		ctl->ctr.events_written++;
		/* now_ms may be the op's, earlier than where the deliverer's
		 * kicks start: they must meet this row */
		ctl_deliver_due(ctl, ev.next_at_ms);
	}
	return rc;
}

/*
 * ctl_event_data() - the data object of an event of session @s: the
 * session's fields and its next sequence number (*seq, taken in @tx).
 * *dp is NULL (and 0 returned) when the event could go nowhere. Returns
 * 0, ENOMEM or a store errno.
 */
static int ctl_event_data(struct ctl *ctl, struct store_txn *tx,
			  const struct session *s, json_t **dp, uint64_t *seq)
{
	json_t *d;
	int rc;

	*dp = NULL;
	if (!ctl_event_wanted(ctl, s->callback_url))
		return 0;
	rc = store_event_seq_next(tx, s->id, seq);
	if (rc)
		return rc;
	d = json_object();
	if (!d)
		return ENOMEM;
	if (ctl_event_session_fields(d, s, *seq)) {
		json_decref(d);
		return ENOMEM;
	}
	*dp = d;
	return 0;
}

int ctl_event_session(struct ctl *ctl, struct store_txn *tx,
		      const char *type, const struct session *s,
		      int64_t at_ms, int64_t now_ms)
{
	uint64_t seq;
	json_t *d;
	int rc;

	rc = ctl_event_data(ctl, tx, s, &d, &seq);
	if (rc || !d)
		return rc;
	rc |= json_object_set_new(d, "status",
				  json_string(session_status_name(s->status)));
	rc |= json_object_set_new(d, "created_at",
				  ctl_time_json(s->created_at_ms));
	rc |= json_object_set_new(d, "expires_at",
				  ctl_time_json(s->expires_at_ms));
	rc |= json_object_set_new(d, "ended_at", s->status == SESSION_ACTIVE ?
				  json_null() : ctl_time_json(s->ended_at_ms));
	if (rc) {
		json_decref(d);
		return ENOMEM;
	}
	return ctl_event_put(ctl, tx, type, at_ms, d, s, seq, now_ms);
}

/*
 * call.completed (it was answered) or call.failed (it never was), with
 * the CDR's fields under the names GET /v1/sessions/{id}/calls uses.
 */
int ctl_event_cdr(struct ctl *ctl, struct store_txn *tx, const struct cdr *c,
		  const struct session *s, int64_t now_ms)
{
	const char *hangup = cdr_hangup_name(c->hangup);
	int64_t talk_ms = c->answer_ms ? c->end_ms - c->answer_ms : 0;
	uint64_t seq;
	json_t *d;
	int rc;

	if (talk_ms < 0)
		talk_ms = 0;
	rc = ctl_event_data(ctl, tx, s, &d, &seq);
	if (rc || !d)
		return rc;
	rc |= ctl_event_call_fields(d, c, s);
	rc |= json_object_set_new(d, "answered_at", c->answer_ms ?
				  ctl_time_json(c->answer_ms) : json_null());
	rc |= json_object_set_new(d, "ended_at", ctl_time_json(c->end_ms));
	rc |= json_object_set_new(d, "duration",
				  json_integer((talk_ms + 999) / 1000));
	rc |= json_object_set_new(d, "duration_ms", json_integer(talk_ms));
	rc |= json_object_set_new(d, "final_code",
				  json_integer(c->final_code));
	rc |= json_object_set_new(d, "hangup_by",
				  hangup ? json_string(hangup) : json_null());
	rc |= json_object_set_new(d, "reason", json_string(c->reason));
	rc |= json_object_set_new(d, "pin_status", cdr_pin_name(c->pin_status)
				  ? json_string(cdr_pin_name(c->pin_status))
				  : json_null());
	rc |= json_object_set_new(d, "hook", cdr_hook_name(c->hook) ?
				  json_string(cdr_hook_name(c->hook)) :
				  json_null());
	if (rc) {
		json_decref(d);
		return ENOMEM;
	}
	return ctl_event_put(ctl, tx, c->answer_ms ? "call.completed" :
			     "call.failed", c->end_ms, d, s, seq, now_ms);
}

json_t *ctl_cdr_recording_json(const struct cdr *c)
{
	char id[STORE_ID_STR_SIZE], url[64 + STORE_ID_STR_SIZE];
	char hex[2 * CDR_SHA256_LEN + 1];
	int i;

	if (c->rec_state != CDR_REC_READY)
		return json_null();
	store_id_format(c->id, id);
	snprintf(url, sizeof(url), "/v1/calls/%s/recording", id);
	for (i = 0; i < CDR_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", c->rec_sha256[i]);
	return json_pack("{s:s, s:I, s:I, s:s, s:s}", "format",
			 c->rec_format == REC_FORMAT_MP3 ? "mp3" : "wav",
			 "duration_ms", (json_int_t)c->rec_duration_ms,
			 "bytes", (json_int_t)c->rec_bytes, "sha256", hex,
			 "url", url);
}

/*
 * recording.ready (with the recording object of the call's record) or
 * recording.failed (with the reason).
 */
int ctl_event_recording(struct ctl *ctl, struct store_txn *tx,
			const struct cdr *c, const struct session *s,
			int64_t now_ms)
{
	char id[STORE_ID_STR_SIZE];
	bool ready = c->rec_state == CDR_REC_READY;
	json_t *d, *rec;
	uint64_t seq;
	int rc;

	rc = ctl_event_data(ctl, tx, s, &d, &seq);
	if (rc || !d)
		return rc;
	store_id_format(c->id, id);
	rc |= json_object_set_new(d, "call_id", json_string(id));
	if (ready) {
		rec = ctl_cdr_recording_json(c);
		rc |= rec ? json_object_set_new(d, "recording", rec) : -1;
	} else {
		rc |= json_object_set_new(d, "reason",
					  json_string(c->rec_reason));
	}
	if (rc) {
		json_decref(d);
		return ENOMEM;
	}
	return ctl_event_put(ctl, tx, ready ? "recording.ready" :
			     "recording.failed", now_ms, d, s, seq, now_ms);
}

int ctl_event_progress(struct ctl *ctl, struct store_txn *tx,
		       const struct cdr *c, const struct session *s,
		       int64_t now_ms)
{
	const char *type;
	uint64_t seq;
	json_t *d;
	int rc;

	switch (c->kind) {
	case CDR_KIND_INITIATED:
		type = "call.initiated";
		break;
	case CDR_KIND_RINGING:
		type = "call.ringing";
		break;
	case CDR_KIND_ANSWERED:
		type = "call.answered";
		break;
	default:
		return EINVAL;
	}
	rc = ctl_event_data(ctl, tx, s, &d, &seq);
	if (rc || !d)
		return rc;
	rc |= ctl_event_call_fields(d, c, s);
	if (rc) {
		json_decref(d);
		return ENOMEM;
	}
	return ctl_event_put(ctl, tx, type, c->at_ms, d, s, seq, now_ms);
}

/*
 * pin.result: what a PIN prompt decided. Never the PIN, never the
 * caller's number (a third party's, not the session's): the session the
 * PIN named (if one did), the call, the result, the entries typed, and
 * whose PIN it was.
 */
int ctl_event_pin(struct ctl *ctl, struct store_txn *tx, const struct cdr *c,
		  const struct session *s, int64_t now_ms)
{
	char id[STORE_ID_STR_SIZE];
	bool right = c->pin_status == CDR_PIN_SUCCESS;
	uint64_t seq = 0;
	json_t *d;
	int rc;

	if (s ? !ctl_event_wanted(ctl, s->callback_url) : !ctl->evc.url_set)
		return 0;
	if (s) {
		rc = store_event_seq_next(tx, s->id, &seq);
		if (rc)
			return rc;
	}
	d = json_object();
	if (!d)
		return ENOMEM;
	if (s) {
		rc = ctl_event_session_fields(d, s, seq);
	} else {
		rc = json_object_set_new(d, "session_id", json_null());
		rc |= json_object_set_new(d, "virtual_number",
					  json_string(c->vn));
	}
	store_id_format(c->id, id);
	rc |= json_object_set_new(d, "call_id", json_string(id));
	rc |= json_object_set_new(d, "result",
				  json_string(right ? "success" : "failed"));
	rc |= json_object_set_new(d, "attempts",
				  json_integer(c->pin_attempts));
	rc |= json_object_set_new(d, "party", !right ? json_null() :
				  json_string(c->a_to_b ? "a" : "b"));
	if (rc) {
		json_decref(d);
		return ENOMEM;
	}
	return ctl_event_put(ctl, tx, "pin.result", c->at_ms, d, s, seq,
			     now_ms);
}

int ctl_event_unrouted(struct ctl *ctl, struct store_txn *tx,
		       const struct cdr *c, int64_t now_ms)
{
	char id[STORE_ID_STR_SIZE];
	json_t *d;

	if (!ctl->evc.url_set)
		return 0;
	/* the SIP side marks an INVITE it answered with a prompt first
	 * (sip_route.c): its caller heard why, then final_code */
	store_id_format(c->id, id);
	/* call_id: the record an announcement filed (GET /v1/calls/{id});
	 * a bare refusal files none */
	d = json_pack("{s:n, s:s, s:s, s:i, s:s, s:o}", "session_id", "from",
		      c->caller, "virtual_number", c->vn, "final_code",
		      (int)c->final_code, "action",
		      !strcmp(c->reason, "announced") ? "announced" :
		      "rejected", "call_id", memcmp(c->id,
		      (uint8_t[STORE_ID_LEN]){ 0 }, STORE_ID_LEN) ?
		      json_string(id) : json_null());
	if (!d)
		return ENOMEM;
	return ctl_event_put(ctl, tx, "call.unrouted", c->at_ms, d, NULL, 0,
			     now_ms);
}

/* store_expire_h: every expiry, whichever op's transaction does it. */
static int ctl_event_expired(struct store_txn *tx, const struct session *s,
			     void *arg)
{
	struct ctl *ctl = arg;

	/* cluster mode: this is the local cache catching up; the expiry is
	 * PostgreSQL's, and one node reports it (ctl_cluster.c) */
	if (ctl->cluster)
		return 0;
	return ctl_event_session(ctl, tx, "session.expired", s,
				 s->ended_at_ms, clock_now_ms());
}

void ctl_event_start(struct ctl *ctl)
{
	store_set_expire_h(ctl->st, ctl_event_expired, ctl);
}

void ctl_event_stop(struct ctl *ctl)
{
	store_set_expire_h(ctl->st, NULL, NULL);
}

int ctl_events_list(struct ctl *ctl, const struct event_filter *f,
		    event_list_h *h, void *arg, bool *more)
{
	return store_event_list(ctl->rd, f, h, arg, more);
}

int ctl_event_get(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		  struct event *out)
{
	return store_event_get(ctl->rd, id, out);
}

/* ---- redeliver (ctl_deliver.c sends it) ---- */

static int ctl_redeliver_run(struct ctl_op *op, struct store_txn *tx)
{
	ctl_deliver_due(op->ctl, op->now_ms);
	return store_event_redeliver(tx, op->id, op->now_ms);
}

static void ctl_redeliver_done(struct ctl_op *op, int err, bool lost)
{
	op->h.done(err, lost, op->arg);
	if (!err)
		ctl_deliver_kick(op->ctl);
}

int ctl_event_redeliver(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
			ctl_done_h *h, void *arg)
{
	struct ctl_op *op = ctl_op_new(ctl, arg);

	if (!op)
		return ENOMEM;
	op->h.done = h;
	memcpy(op->id, id, STORE_ID_LEN);
	op->run = ctl_redeliver_run;
	op->done = ctl_redeliver_done;
	return ctl_op_submit(op);
}
