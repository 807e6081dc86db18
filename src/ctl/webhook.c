/*
 * webhook.c - Standard Webhooks signatures (webhook.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "maskd/webhook.h"

#define WEBHOOK_PREFIX "whsec_"

int webhook_key_parse(const char *secret, struct webhook_key *out)
{
	size_t plen = strlen(WEBHOOK_PREFIX), len, pad = 0;
	unsigned char buf[((WEBHOOK_KEY_MAX + 2) / 3) * 3 + 3];
	int n;

	if (!secret || strncmp(secret, WEBHOOK_PREFIX, plen))
		return EINVAL;
	secret += plen;
	len = strlen(secret);
	/* EVP_DecodeBlock() wants whole quads and ignores nothing */
	if (len == 0 || len % 4 || len / 4 * 3 > sizeof(buf))
		return EINVAL;
	if (secret[len - 1] == '=')
		pad++;
	if (secret[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(buf, (const unsigned char *)secret, (int)len);
	if (n < 0 || (size_t)n < pad)
		return EINVAL;
	/* it decodes padding as zero bytes: they are not key */
	n -= (int)pad;
	if (n == 0 || n > WEBHOOK_KEY_MAX)
		return EINVAL;
	memcpy(out->key, buf, (size_t)n);
	out->len = (size_t)n;
	return 0;
}

/*
 * HMAC-SHA256 (RFC 2104) from SHA-256 states prepared once per key: the
 * hash after (key ^ ipad) and after (key ^ opad). A signature copies them
 * (EVP_MD_CTX_copy_ex(), into a context it reuses) and hashes only the
 * message and the inner digest. EVP_MAC_init() per signature fetched the
 * digest from the provider store under its lock and hashed both padded
 * key blocks again: most of what a delivery's signing cost.
 *
 * The prepared states are per thread (no lock; "any thread" holds), up to
 * WEBHOOK_KEYS_MAX keys, freed when the thread exits.
 */
#define WEBHOOK_BLOCK 64		/* SHA-256's; WEBHOOK_KEY_MAX fits */

struct webhook_ready {
	size_t len;			/* 0: unused */
	uint8_t key[WEBHOOK_KEY_MAX];
	EVP_MD_CTX *in, *out;
};

struct webhook_tls {
	struct webhook_ready r[WEBHOOK_KEYS_MAX];
	unsigned next;			/* the slot a new key takes */
	EVP_MD_CTX *work;
};

static _Thread_local struct webhook_tls *webhook_tls;
static pthread_key_t webhook_tls_key;
static pthread_once_t webhook_tls_once = PTHREAD_ONCE_INIT;
static const EVP_MD *webhook_md;

static void webhook_ready_clear(struct webhook_ready *r)
{
	EVP_MD_CTX_free(r->in);
	EVP_MD_CTX_free(r->out);
	OPENSSL_cleanse(r->key, sizeof(r->key));
	r->in = r->out = NULL;
	r->len = 0;
}

static void webhook_tls_free(void *p)
{
	struct webhook_tls *t = p;
	size_t i;

	for (i = 0; i < WEBHOOK_KEYS_MAX; i++)
		webhook_ready_clear(&t->r[i]);
	EVP_MD_CTX_free(t->work);
	free(t);
}

static void webhook_tls_init(void)
{
	webhook_md = EVP_sha256();
	pthread_key_create(&webhook_tls_key, webhook_tls_free);
}

static struct webhook_tls *webhook_tls_get(void)
{
	struct webhook_tls *t = webhook_tls;

	if (t)
		return t;
	pthread_once(&webhook_tls_once, webhook_tls_init);
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->work = EVP_MD_CTX_new();
	if (!t->work) {
		free(t);
		return NULL;
	}
	/* the destructor frees it at thread exit; the pointer in TLS
	 * keeps it reachable until then */
	pthread_setspecific(webhook_tls_key, t);
	webhook_tls = t;
	return t;
}

/* @k's prepared states: found, or made in the next slot. */
static struct webhook_ready *webhook_ready_get(struct webhook_tls *t,
					       const struct webhook_key *k)
{
	uint8_t ipad[WEBHOOK_BLOCK], opad[WEBHOOK_BLOCK];
	struct webhook_ready *r;
	size_t i;

	for (i = 0; i < WEBHOOK_KEYS_MAX; i++) {
		r = &t->r[i];
		if (r->len == k->len && !memcmp(r->key, k->key, k->len))
			return r;
	}
	r = &t->r[t->next];
	t->next = (t->next + 1) % WEBHOOK_KEYS_MAX;
	webhook_ready_clear(r);
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (i = 0; i < k->len; i++) {
		ipad[i] ^= k->key[i];
		opad[i] ^= k->key[i];
	}
	r->in = EVP_MD_CTX_new();
	r->out = EVP_MD_CTX_new();
	if (!r->in || !r->out ||
	    !EVP_DigestInit_ex(r->in, webhook_md, NULL) ||
	    !EVP_DigestUpdate(r->in, ipad, sizeof(ipad)) ||
	    !EVP_DigestInit_ex(r->out, webhook_md, NULL) ||
	    !EVP_DigestUpdate(r->out, opad, sizeof(opad))) {
		webhook_ready_clear(r);
		r = NULL;
	} else {
		memcpy(r->key, k->key, k->len);
		r->len = k->len;
	}
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	return r;
}

/* HMAC-SHA256 of head + body, streamed: the body is never copied. */
static int webhook_hmac(const struct webhook_key *k, const char *head,
			size_t hlen, const void *body, size_t body_len,
			unsigned char mac[EVP_MAX_MD_SIZE], size_t *mlen)
{
	unsigned char inner[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0, olen = 0;
	struct webhook_tls *t = webhook_tls_get();
	struct webhook_ready *r;
	int ok;

	if (k->len == 0 || k->len > WEBHOOK_BLOCK)
		return EINVAL;
	r = t ? webhook_ready_get(t, k) : NULL;
	if (!r)
		return ENOMEM;
	ok = EVP_MD_CTX_copy_ex(t->work, r->in) &&
	     EVP_DigestUpdate(t->work, head, hlen) &&
	     EVP_DigestUpdate(t->work, body, body_len) &&
	     EVP_DigestFinal_ex(t->work, inner, &ilen) &&
	     EVP_MD_CTX_copy_ex(t->work, r->out) &&
	     EVP_DigestUpdate(t->work, inner, ilen) &&
	     EVP_DigestFinal_ex(t->work, mac, &olen);
	*mlen = olen;
	return ok ? 0 : EIO;
}

int webhook_sign(const struct webhook_key *keys, size_t n, const char *id,
		 int64_t timestamp, const void *body, size_t body_len,
		 char *out, size_t out_size)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char head[128];
	size_t used = 0, mlen, i;
	int hlen, err;

	if (n == 0 || n > WEBHOOK_KEYS_MAX || out_size == 0)
		return EINVAL;
	hlen = snprintf(head, sizeof(head), "%s.%" PRId64 ".", id, timestamp);
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return EINVAL;
	for (i = 0; i < n; i++) {
		err = webhook_hmac(&keys[i], head, (size_t)hlen, body,
				   body_len, mac, &mlen);
		if (err)
			return err;
		/* a space, "v1,", the base64 and the NUL EncodeBlock adds */
		if (used + (i ? 1 : 0) + 3 + 4 * ((mlen + 2) / 3) + 1 >
		    out_size)
			return ENOSPC;
		if (i)
			out[used++] = ' ';
		memcpy(out + used, "v1,", 3);
		used += 3;
		used += (size_t)EVP_EncodeBlock((unsigned char *)out + used,
						mac, (int)mlen);
	}
	out[used] = '\0';
	return 0;
}

int webhook_schedule_parse(const char *s, uint32_t *out_s, size_t *n)
{
	size_t k = 0;

	if (!s)
		return EINVAL;
	for (;;) {
		uint64_t v = 0;
		int digits = 0;

		while (*s == ' ')
			s++;
		while (*s >= '0' && *s <= '9' && digits < 8) {
			v = v * 10 + (uint64_t)(*s++ - '0');
			digits++;
		}
		while (*s == ' ')
			s++;
		if (!digits || v > 864000 || k == WEBHOOK_SCHEDULE_MAX)
			return EINVAL;
		if (out_s)
			out_s[k] = (uint32_t)v;
		k++;
		if (*s == '\0')
			break;
		if (*s++ != ',')
			return EINVAL;
	}
	if (n)
		*n = k;
	return 0;
}
