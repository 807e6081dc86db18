/*
 * cluster_patch.c - PATCH of a session across nodes
 * (cluster_session_patch() in cluster.h): store_session_update() as one
 * PostgreSQL statement.
 *
 * One statement is one transaction: the row is locked (FOR UPDATE), the
 * patch applied only to an active session not past expires_at, the PIN
 * index (pins) follows in the same statement, and a 'session' change
 * goes into the feed, so every node's cache takes the new fields. A new
 * PIN another active session on the vn holds trips the unique index
 * pins_active: the whole statement is undone (ENOTUNIQ; drawn PINs are
 * drawn again, CLUSTER_RETRY_MAX times).
 *
 * Known difference from the LMDB store: the PIN index is checked row by
 * row, so swapping a session's two PINs in one PATCH (a's becomes b's
 * and b's a's) is refused as ENOTUNIQ (LMDB deletes both, then adds).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"

/* $1 id, $2 now, then (set, value) pairs: $3/$4 expires_at_ms,
 * $5/$6 call_time_limit_s, $7/$8 record, $9/$10 callback_url,
 * $11/$12 pin_required, $13/$14 pin_retries, $15 set PINs, $16/$17 the
 * PINs, $18 draw them ($19 digits) */
static const char patch_sql[] =
	"WITH o AS (SELECT * FROM sessions WHERE id = $1::bytea FOR UPDATE), "
	"g AS (SELECT CASE WHEN $18::boolean THEN maskd_pin_random($19::int) "
	"ELSE $16 END AS pa, CASE WHEN $18::boolean THEN "
	"maskd_pin_random($19::int) ELSE $17 END AS pb), "
	"n AS (SELECT o.id, CASE WHEN $11::boolean THEN $12::boolean "
	"ELSE o.pin_required END AS preq, "
	"CASE WHEN $15::boolean THEN g.pa ELSE o.pin_a END AS pa, "
	"CASE WHEN $15::boolean THEN g.pb ELSE o.pin_b END AS pb, "
	"o.status = 0 AND o.expires_at_ms > $2::bigint AS live FROM o, g), "
	"u AS (UPDATE sessions s SET "
	"expires_at_ms = CASE WHEN $3::boolean THEN $4::bigint "
	"ELSE s.expires_at_ms END, "
	"call_time_limit_s = CASE WHEN $5::boolean THEN $6::bigint "
	"ELSE s.call_time_limit_s END, "
	"record = CASE WHEN $7::boolean THEN $8::boolean ELSE s.record END, "
	"callback_url = CASE WHEN $9::boolean THEN $10 "
	"ELSE s.callback_url END, "
	"pin_required = n.preq, "
	"pin_retries = CASE WHEN $13::boolean THEN $14::smallint "
	"ELSE s.pin_retries END, "
	"pin_a = n.pa, pin_b = n.pb "
	"FROM n WHERE s.id = n.id AND n.live AND NOT (n.preq AND n.pa = '') "
	/* two drawn PINs alike: drawn again */
	"AND NOT ($18::boolean AND n.pa = n.pb) "
	"RETURNING " CLUSTER_SESSION_COLS "), "
	/* both parties' rows, indexed (active) only while required */
	"p AS (INSERT INTO pins (session_id, party, vn, pin, active) "
	"SELECT u.id, x.party, u.vn, x.pin, u.pin_required AND u.pin_a <> '' "
	"FROM u, LATERAL (VALUES (0::smallint, u.pin_a), "
	"(1::smallint, u.pin_b)) x (party, pin) "
	"ON CONFLICT (session_id, party) DO UPDATE SET pin = EXCLUDED.pin, "
	"vn = EXCLUDED.vn, active = EXCLUDED.active), "
	"c AS (INSERT INTO changes (kind, session_id, vn, at_ms) "
	"SELECT 'session', u.id, u.vn, $2::bigint FROM u) "
	"SELECT CASE WHEN u.id IS NOT NULL THEN '' WHEN NOT n.live "
	"THEN 'EALREADY' WHEN $18::boolean AND n.pa = n.pb THEN 'RETRY' "
	"ELSE 'EINVAL' END, u.* FROM n LEFT JOIN u ON true";

#define PATCH_NPARAMS 19

struct patch_op {
	struct cluster *c;
	cluster_session_h *h;
	void *arg;
	unsigned attempts;
	bool drawn;			/* PINs drawn by PostgreSQL */
	char *vals[PATCH_NPARAMS];	/* owned; NULL = SQL NULL */
};

static void patch_free(struct patch_op *op)
{
	int i;

	for (i = 0; i < PATCH_NPARAMS; i++) {
		if (op->vals[i]) {
			/* PINs are secrets */
			explicit_bzero(op->vals[i], strlen(op->vals[i]));
			free(op->vals[i]);
		}
	}
	free(op);
}

static int patch_send(struct patch_op *op);

static void patch_retry(evutil_socket_t fd, short what, void *arg)
{
	struct patch_op *op = arg;
	int err = patch_send(op);

	if (err) {
		op->c->stats.unavailable++;
		op->h(err, NULL, op->arg);
		patch_free(op);
	}
}

static void patch_done(int err, const PGresult *res, void *arg)
{
	struct patch_op *op = arg;
	struct cluster *c = op->c;
	const char *state;
	struct session s;

	if (!err && !cluster_pg_ok(res)) {
		state = cluster_pg_sqlstate(res);
		if (!strcmp(state, "23505") && !op->drawn) {
			err = ENOTUNIQ;		/* a PIN given is taken */
		} else if (cluster_retryable(res)) {
			if (op->attempts >= CLUSTER_RETRY_MAX) {
				err = !strcmp(state, "23505") ? ENOTUNIQ :
				      EBUSY;
			} else {
				c->stats.retries++;
				err = cluster_retry_later(c, op->attempts,
							  patch_retry, op);
				if (!err)
					return;
			}
		} else {
			cluster_log_pg_error(c, "patch", res);
			err = EIO;
		}
	} else if (err) {
		c->stats.unavailable++;
	} else if (PQntuples(res) != 1) {
		err = ENOENT;
	} else if (PQnfields(res) != 1 + CLUSTER_SESSION_NCOLS) {
		err = EIO;
	} else if (!strcmp(PQgetvalue(res, 0, 0), "RETRY") &&
		   op->attempts < CLUSTER_RETRY_MAX) {
		err = patch_send(op);
		if (!err)
			return;
	} else if (!(err = cluster_err_from_name(PQgetvalue(res, 0, 0)))) {
		err = cluster_session_from_row(res, 0, 1, &s);
		if (!err) {
			cluster_notify(c);
			op->h(0, &s, op->arg);
			session_clear(&s);
			explicit_bzero(&s, sizeof(s));
			patch_free(op);
			return;
		}
	}
	op->h(err, NULL, op->arg);
	patch_free(op);
}

static int patch_send(struct patch_op *op)
{
	struct cluster_pg *pg = cluster_pick(op->c);

	if (!pg)
		return ENOTCONN;
	op->attempts++;
	return cluster_pg_query(pg, patch_sql, PATCH_NPARAMS,
				(const char *const *)op->vals, patch_done, op);
}

static bool pin_valid(const char *pin)
{
	size_t n = 0;

	for (; pin[n]; n++)
		if (pin[n] < '0' || pin[n] > '9' || n == STORE_PIN_MAX)
			return false;
	return n >= STORE_PIN_MIN;
}

/* The checks store_session_update() makes before it reads the session
 * (store_pin_check() is the store's own). */
static int patch_check(const struct session_patch *p, int64_t now_ms)
{
	const struct session_pin_params *pin = &p->pin;
	bool has_a = pin->pin_a && pin->pin_a[0];
	bool has_b = pin->pin_b && pin->pin_b[0];

	if (p->set_expires_at && p->expires_at_ms <= now_ms)
		return EINVAL;
	if (!p->set_pins && !p->set_pin_retries)
		return 0;
	if (pin->pin_retries > STORE_PIN_RETRIES_MAX)
		return EINVAL;
	if (pin->generate)
		return pin->pin_length >= STORE_PIN_MIN &&
		       pin->pin_length <= STORE_PIN_MAX ? 0 : EINVAL;
	if (has_a != has_b)
		return EINVAL;
	if (has_a && (!pin_valid(pin->pin_a) || !pin_valid(pin->pin_b) ||
		      !strcmp(pin->pin_a, pin->pin_b)))
		return EINVAL;
	return 0;
}

static char *fmt_i64(int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, v);
	return strdup(b);
}

static char *fmt_bool(bool v)
{
	return strdup(v ? "t" : "f");
}

int cluster_session_patch(struct cluster *c, const uint8_t id[STORE_ID_LEN],
			  const struct session_patch *p, int64_t now_ms,
			  cluster_session_h *h, void *arg)
{
	const struct session_pin_params *pin = &p->pin;
	char hex[CLUSTER_BYTEA_SIZE];
	struct patch_op *op;
	bool gen = p->set_pins && pin->generate;
	int i, rc;

	rc = patch_check(p, now_ms);
	if (rc)
		return rc;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->c = c;
	op->h = h;
	op->arg = arg;
	op->drawn = gen;
	cluster_bytea_hex(id, hex);
	op->vals[0] = strdup(hex);
	op->vals[1] = fmt_i64(now_ms);
	op->vals[2] = fmt_bool(p->set_expires_at);
	op->vals[3] = fmt_i64(p->expires_at_ms);
	op->vals[4] = fmt_bool(p->set_call_time_limit);
	op->vals[5] = fmt_i64(p->call_time_limit_s);
	op->vals[6] = fmt_bool(p->set_record);
	op->vals[7] = fmt_bool(p->record);
	op->vals[8] = fmt_bool(p->set_callback_url);
	op->vals[10] = fmt_bool(p->set_pin_required);
	op->vals[11] = fmt_bool(pin->pin_required);
	op->vals[12] = fmt_bool(p->set_pin_retries);
	op->vals[13] = fmt_i64(pin->pin_retries);
	op->vals[14] = fmt_bool(p->set_pins);
	op->vals[15] = strdup(!gen && pin->pin_a ? pin->pin_a : "");
	op->vals[16] = strdup(!gen && pin->pin_b ? pin->pin_b : "");
	op->vals[17] = fmt_bool(gen);
	op->vals[18] = fmt_i64(gen ? pin->pin_length : STORE_PIN_MIN);
	rc = 0;
	for (i = 0; i < PATCH_NPARAMS; i++)
		if (i != 9 && !op->vals[i])
			rc = ENOMEM;
	/* NULL callback_url: removed (SQL NULL) */
	if (!rc && p->set_callback_url && p->callback_url &&
	    !(op->vals[9] = strdup(p->callback_url)))
		rc = ENOMEM;
	if (!rc)
		rc = patch_send(op);
	if (rc) {
		if (rc == ENOTCONN)
			c->stats.unavailable++;
		patch_free(op);
	}
	return rc;
}
