/*
 * cluster_cdr.c - the call records every node exported to PostgreSQL
 * (cluster_export.c), read back for any node's API (cluster.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"

struct cdr_list_op {
	struct cluster *c;
	cluster_cdrs_h *h;
	void *arg;
	bool one;			/* cluster_cdr_get() */
};

#define CDR_COLS \
	"SELECT encode(id, 'hex'), a_to_b, start_ms, answer_ms, end_ms, " \
	"final_code, hangup, reason, pkts_a_to_b, pkts_b_to_a, " \
	"bytes_a_to_b, bytes_b_to_a, direction, pin_status, pin_attempts, " \
	"participants, hook, hook_latency_ms, rec_state, rec_format, " \
	"rec_duration_ms, rec_bytes, " \
	"coalesce(encode(rec_sha256, 'hex'), ''), rec_reason, " \
	"encode(session_id, 'hex') FROM cdrs "

static const char list_sql[] =
	CDR_COLS "WHERE session_id = $1::bytea ORDER BY id "
	"LIMIT " CLUSTER_CDR_LIST_MAX_STR;

/* cdrs_id_session (schema 2) is on id */
static const char get_sql[] = CDR_COLS "WHERE id = $1::bytea";

static int hex_bytes(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	unsigned v;

	if (strlen(s) != 2 * n)
		return EIO;
	for (i = 0; i < n; i++) {
		char b[3] = { s[2 * i], s[2 * i + 1], 0 };
		char *end;

		v = (unsigned)strtoul(b, &end, 16);
		if (*end)
			return EIO;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Row @r into *out, its session id too. */
static int cdr_from_row(const PGresult *res, int r, struct cdr *out)
{
	int64_t v[24];
	const char *sha;
	int i, rc;

	memset(out, 0, sizeof(*out));
	rc = store_id_parse(PQgetvalue(res, r, 0), out->id) ? EIO : 0;
	for (i = 2; !rc && i < 22; i++)
		if (i != 7)
			rc = cluster_parse_i64(PQgetvalue(res, r, i), &v[i]);
	if (rc)
		return rc;
	out->a_to_b = PQgetvalue(res, r, 1)[0] == 't';
	out->start_ms = v[2];
	out->answer_ms = v[3];
	out->end_ms = v[4];
	out->final_code = (uint16_t)v[5];
	out->hangup = (enum cdr_hangup)v[6];
	rc = cluster_copy_str(out->reason, sizeof(out->reason),
			      PQgetvalue(res, r, 7));
	out->pkts_a_to_b = (uint64_t)v[8];
	out->pkts_b_to_a = (uint64_t)v[9];
	out->bytes_a_to_b = (uint64_t)v[10];
	out->bytes_b_to_a = (uint64_t)v[11];
	out->direction = (enum cdr_direction)v[12];
	out->pin_status = (enum cdr_pin)v[13];
	out->pin_attempts = (uint8_t)v[14];
	out->participants = (uint8_t)v[15];
	out->hook = (enum cdr_hook)v[16];
	out->hook_latency_ms = (uint32_t)v[17];
	out->rec_state = (enum cdr_rec)v[18];
	out->rec_format = (uint8_t)v[19];
	out->rec_duration_ms = (uint32_t)v[20];
	out->rec_bytes = (uint64_t)v[21];
	sha = PQgetvalue(res, r, 22);
	if (!rc && *sha)
		rc = hex_bytes(sha, out->rec_sha256, CDR_SHA256_LEN);
	if (!rc)
		rc = cluster_copy_str(out->rec_reason,
				      sizeof(out->rec_reason),
				      PQgetvalue(res, r, 23));
	if (!rc)
		rc = hex_bytes(PQgetvalue(res, r, 24), out->session_id,
			       STORE_ID_LEN);
	return rc;
}

static void list_done(int err, const PGresult *res, void *arg)
{
	struct cdr_list_op *op = arg;
	struct cdr *v = NULL;
	int n = 0, i;

	if (!err && !cluster_pg_ok(res)) {
		cluster_log_pg_error(op->c, "call records", res);
		err = EIO;
	}
	if (!err && op->one && PQntuples(res) != 1)
		err = ENOENT;
	if (!err) {
		n = PQntuples(res);
		if (n && !(v = calloc((size_t)n, sizeof(*v))))
			err = ENOMEM;
		for (i = 0; !err && i < n; i++)
			err = cdr_from_row(res, i, &v[i]);
	}
	op->h(err, err ? NULL : v, err ? 0 : (size_t)n, op->arg);
	free(v);
	free(op);
}

static int cdr_query(struct cluster *c, const char *sql,
		     const uint8_t id[STORE_ID_LEN], bool one,
		     cluster_cdrs_h *h, void *arg)
{
	struct cluster_pg *pg = cluster_pick(c);
	char sid[CLUSTER_BYTEA_SIZE];
	const char *vals[1] = { sid };
	struct cdr_list_op *op;
	int rc;

	if (!pg)
		return ENOTCONN;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->c = c;
	op->h = h;
	op->arg = arg;
	op->one = one;
	cluster_bytea_hex(id, sid);
	rc = cluster_pg_query(pg, sql, 1, vals, list_done, op);
	if (rc)
		free(op);
	return rc;
}

int cluster_cdr_list(struct cluster *c, const uint8_t session_id[STORE_ID_LEN],
		     cluster_cdrs_h *h, void *arg)
{
	return cdr_query(c, list_sql, session_id, false, h, arg);
}

int cluster_cdr_get(struct cluster *c, const uint8_t call_id[STORE_ID_LEN],
		    cluster_cdrs_h *h, void *arg)
{
	return cdr_query(c, get_sql, call_id, true, h, arg);
}
