/*
 * webhook.c - Standard Webhooks signatures (webhook.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

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
 * OpenSSL's HMAC, its key set once per key and thread. EVP_MAC_init()
 * with a key fetched SHA-256 from the provider store under its lock and
 * hashed both padded key blocks: most of what signing a delivery cost.
 * Given no key, it starts the next MAC from the states the key left
 * (OpenSSL's HMAC keeps them), so a signature hashes only its message.
 *
 * Per thread (no lock; "any thread" holds): up to WEBHOOK_KEYS_MAX keys,
 * the oldest replaced by a new one, freed when the thread exits.
 */
struct webhook_ready {
	size_t len;			/* 0: unused */
	uint8_t key[WEBHOOK_KEY_MAX];
	EVP_MAC_CTX *mc;
};

struct webhook_tls {
	struct webhook_ready r[WEBHOOK_KEYS_MAX];
	unsigned next;			/* the slot a new key takes */
};

static _Thread_local struct webhook_tls *webhook_tls;
static pthread_key_t webhook_tls_key;
static pthread_once_t webhook_once = PTHREAD_ONCE_INIT;
/* fetched once for the process; never freed (one object, reachable
 * until exit) */
static EVP_MAC *webhook_mac;

static void webhook_ready_clear(struct webhook_ready *r)
{
	EVP_MAC_CTX_free(r->mc);
	OPENSSL_cleanse(r->key, sizeof(r->key));
	r->mc = NULL;
	r->len = 0;
}

static void webhook_tls_free(void *p)
{
	struct webhook_tls *t = p;
	size_t i;

	for (i = 0; i < WEBHOOK_KEYS_MAX; i++)
		webhook_ready_clear(&t->r[i]);
	free(t);
}

static void webhook_init(void)
{
	webhook_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	pthread_key_create(&webhook_tls_key, webhook_tls_free);
}

static struct webhook_tls *webhook_tls_get(void)
{
	struct webhook_tls *t = webhook_tls;

	if (t)
		return t;
	pthread_once(&webhook_once, webhook_init);
	if (!webhook_mac)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	/* the destructor frees it at thread exit; the pointer in TLS
	 * keeps it reachable until then */
	pthread_setspecific(webhook_tls_key, t);
	webhook_tls = t;
	return t;
}

/* @k's keyed HMAC context: found, or made in the next slot. */
static struct webhook_ready *webhook_ready_get(struct webhook_tls *t,
					       const struct webhook_key *k)
{
	OSSL_PARAM params[2];
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
	params[0] = OSSL_PARAM_construct_utf8_string("digest",
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	r->mc = EVP_MAC_CTX_new(webhook_mac);
	if (!r->mc || !EVP_MAC_init(r->mc, k->key, k->len, params)) {
		webhook_ready_clear(r);
		return NULL;
	}
	memcpy(r->key, k->key, k->len);
	r->len = k->len;
	return r;
}

/* HMAC-SHA256 of head + body, streamed: the body is never copied. */
static int webhook_hmac(const struct webhook_key *k, const char *head,
			size_t hlen, const void *body, size_t body_len,
			unsigned char mac[EVP_MAX_MD_SIZE], size_t *mlen)
{
	struct webhook_tls *t = webhook_tls_get();
	struct webhook_ready *r;
	int ok;

	if (k->len == 0 || k->len > WEBHOOK_KEY_MAX)
		return EINVAL;
	r = t ? webhook_ready_get(t, k) : NULL;
	if (!r)
		return ENOMEM;
	ok = EVP_MAC_init(r->mc, NULL, 0, NULL) &&
	     EVP_MAC_update(r->mc, (const unsigned char *)head, hlen) &&
	     EVP_MAC_update(r->mc, body, body_len) &&
	     EVP_MAC_final(r->mc, mac, mlen, EVP_MAX_MD_SIZE);
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
