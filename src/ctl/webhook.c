/*
 * webhook.c - Standard Webhooks signatures (webhook.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>

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

/* The HMAC implementation, fetched once for the process: a fetch walks
 * OpenSSL's provider store under its lock, every signature paid it. Never
 * freed (one object, reachable until exit). */
static EVP_MAC *webhook_mac;
static pthread_once_t webhook_mac_once = PTHREAD_ONCE_INIT;

static void webhook_mac_fetch(void)
{
	webhook_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* HMAC-SHA256 of head + body, streamed: the body is never copied. */
static int webhook_hmac(const struct webhook_key *k, const char *head,
			size_t hlen, const void *body, size_t body_len,
			unsigned char mac[EVP_MAX_MD_SIZE], size_t *mlen)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *mc;
	int ok;

	pthread_once(&webhook_mac_once, webhook_mac_fetch);
	if (!webhook_mac)
		return ENOMEM;
	mc = EVP_MAC_CTX_new(webhook_mac);
	if (!mc)
		return ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string("digest",
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(mc, k->key, k->len, params) &&
	     EVP_MAC_update(mc, (const unsigned char *)head, hlen) &&
	     EVP_MAC_update(mc, body, body_len) &&
	     EVP_MAC_final(mc, mac, mlen, EVP_MAX_MD_SIZE);
	EVP_MAC_CTX_free(mc);
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
