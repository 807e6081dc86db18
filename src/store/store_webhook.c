/*
 * store_webhook.c - the state of webhook endpoints that must outlive a
 * restart: disabled (410 Gone, or failing for [events] disable_after)
 * and since when an endpoint has been failing. One row per endpoint with
 * such a state, in the meta database under "wh:" + SHA-256(url) (a URL
 * may be longer than an LMDB key); the URL itself is in the value. An
 * endpoint in good health has no row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store_internal.h"

#define WH_PREFIX "wh:"
#define WH_PREFIX_LEN 3
#define WH_KEY_SIZE (WH_PREFIX_LEN + 32)
#define WH_REC_VERSION 1

struct rec_webhook {
	uint8_t version;
	uint8_t disabled;
	uint16_t pad;
	uint32_t url_len;
	int64_t failing_since_ms;
	char reason[STORE_WEBHOOK_REASON_SIZE];
};

static int wh_key(const char *url, uint8_t key[WH_KEY_SIZE])
{
	unsigned int n = 0;

	memcpy(key, WH_PREFIX, WH_PREFIX_LEN);
	if (!EVP_Digest(url, strlen(url), key + WH_PREFIX_LEN, &n,
			EVP_sha256(), NULL) || n != 32)
		return EIO;
	return 0;
}

int store_webhook_put(struct store_txn *tx, const struct webhook_state *w)
{
	uint8_t key[WH_KEY_SIZE];
	MDB_val k = { sizeof(key), key }, v;
	struct rec_webhook rec;
	size_t len = strlen(w->url);
	int rc;

	rc = wh_key(w->url, key);
	if (rc)
		return rc;
	if (!w->disabled && !w->failing_since_ms) {
		rc = mdb_del(tx->txn, tx->st->meta, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : store_err(rc);
	}
	memset(&rec, 0, sizeof(rec));
	rec.version = WH_REC_VERSION;
	rec.disabled = w->disabled ? 1 : 0;
	rec.url_len = (uint32_t)len;
	rec.failing_since_ms = w->failing_since_ms;
	memcpy(rec.reason, w->reason,
	       strnlen(w->reason, sizeof(rec.reason) - 1));
	v.mv_size = sizeof(rec) + len;
	rc = mdb_put(tx->txn, tx->st->meta, &k, &v, MDB_RESERVE);
	if (rc)
		return store_err(rc);
	memcpy(v.mv_data, &rec, sizeof(rec));
	memcpy((char *)v.mv_data + sizeof(rec), w->url, len);
	return 0;
}

int store_webhook_list(struct store_reader *r, webhook_state_h *h, void *arg)
{
	MDB_val k = { WH_PREFIX_LEN, (void *)WH_PREFIX }, v;
	MDB_cursor *cur = NULL;
	struct rec_webhook rec;
	struct webhook_state w;
	int rc;

	rc = store_reader_begin(r);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, r->st->meta, &cur));
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != WH_KEY_SIZE ||
		    memcmp(k.mv_data, WH_PREFIX, WH_PREFIX_LEN))
			break;
		if (v.mv_size < sizeof(rec))
			continue;
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (rec.version != WH_REC_VERSION ||
		    v.mv_size != sizeof(rec) + rec.url_len)
			continue;	/* not ours to read: left alone */
		memset(&w, 0, sizeof(w));
		w.url = store_strdup_n((const char *)v.mv_data + sizeof(rec),
				       rec.url_len);
		if (!w.url) {
			rc = ENOMEM;
			break;
		}
		w.disabled = rec.disabled != 0;
		w.failing_since_ms = rec.failing_since_ms;
		memcpy(w.reason, rec.reason, sizeof(w.reason));
		w.reason[sizeof(w.reason) - 1] = '\0';
		rc = h(&w, arg);
		free(w.url);
		if (rc) {
			rc = MDB_NOTFOUND;
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
