/*
 * webhook.h - Standard Webhooks signing (https://www.standardwebhooks.com):
 * the webhook-signature header of an event delivery.
 *
 * A secret is "whsec_" followed by the base64 of the key. The signature
 * of a delivery is, for each configured key (several during rotation),
 * "v1," + base64(HMAC-SHA256(key, id "." timestamp "." body)), the
 * entries separated by one space. Receivers verify against the raw body,
 * so the body signed must be the bytes sent.
 *
 * Pure functions; any thread. HMAC and base64 by OpenSSL.
 */
#ifndef MASKD_WEBHOOK_H
#define MASKD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_KEY_MAX 64	/* bytes of a decoded secret */
#define WEBHOOK_KEYS_MAX 8	/* secrets configured at once */
/* "v1," + 44 base64 characters + a space (or the NUL), per key */
#define WEBHOOK_SIG_SIZE (WEBHOOK_KEYS_MAX * 48)

struct webhook_key {
	uint8_t key[WEBHOOK_KEY_MAX];
	size_t len;
};

/*
 * webhook_key_parse() - "whsec_<base64>" into @out. Returns 0, or EINVAL
 * (no whsec_ prefix, bad base64, empty, or longer than WEBHOOK_KEY_MAX).
 */
int webhook_key_parse(const char *secret, struct webhook_key *out);

/*
 * webhook_sign() - the webhook-signature value for message @id sent at
 * @timestamp (Unix seconds) with @body, signed with each of @keys[0..n),
 * into @out (NUL-terminated). Returns 0, EINVAL (n is 0 or too many) or
 * ENOSPC (@out too small; WEBHOOK_SIG_SIZE always fits).
 */
int webhook_sign(const struct webhook_key *keys, size_t n, const char *id,
		 int64_t timestamp, const void *body, size_t body_len,
		 char *out, size_t out_size);

#define WEBHOOK_SCHEDULE_MAX 32	/* attempts at most */

/*
 * webhook_schedule_parse() - "0,5,300" (seconds, comma-separated, 1 to
 * WEBHOOK_SCHEDULE_MAX of them, each at most 10 days) into @out_s (may be
 * NULL: check only) and *n. Returns 0 or EINVAL.
 */
int webhook_schedule_parse(const char *s, uint32_t *out_s, size_t *n);

#endif
