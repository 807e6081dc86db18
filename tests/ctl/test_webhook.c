/*
 * test_webhook.c - Standard Webhooks signing against the specification's
 * known-answer vector (/work/shared/webhooks/VECTORS.md), byte for byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/webhook.h"

/* The spec's test vector (v1, HMAC-SHA256). */
#define KAT_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KAT_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define KAT_TS 1614265330
#define KAT_BODY "{\"test\": 2432232314}"
#define KAT_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_known_answer(void **state)
{
	struct webhook_key k;
	char sig[WEBHOOK_SIG_SIZE];

	(void)state;
	assert_int_equal(webhook_key_parse(KAT_SECRET, &k), 0);
	assert_int_equal(k.len, 24);
	assert_int_equal(webhook_sign(&k, 1, KAT_ID, KAT_TS, KAT_BODY,
				      strlen(KAT_BODY), sig, sizeof(sig)), 0);
	assert_string_equal(sig, KAT_SIG);
}

/* Rotation: one v1 entry per key, in order, space-separated. */
static void test_two_keys(void **state)
{
	struct webhook_key k[2];
	char sig[WEBHOOK_SIG_SIZE];
	const char *other;

	(void)state;
	assert_int_equal(webhook_key_parse("whsec_c2Vjb25kIGtleQ==", &k[0]),
			 0);
	assert_int_equal(k[0].len, 10);	/* "second key" */
	assert_memory_equal(k[0].key, "second key", 10);
	assert_int_equal(webhook_key_parse(KAT_SECRET, &k[1]), 0);
	assert_int_equal(webhook_sign(k, 2, KAT_ID, KAT_TS, KAT_BODY,
				      strlen(KAT_BODY), sig, sizeof(sig)), 0);
	other = strchr(sig, ' ');
	assert_non_null(other);
	assert_string_equal(other + 1, KAT_SIG);
	assert_int_equal(strncmp(sig, "v1,", 3), 0);
	assert_int_not_equal(strncmp(sig, KAT_SIG, strlen(KAT_SIG)), 0);
	/* a body one byte different signs differently */
	assert_int_equal(webhook_sign(&k[1], 1, KAT_ID, KAT_TS, KAT_BODY,
				      strlen(KAT_BODY) - 1, sig, sizeof(sig)),
			 0);
	assert_string_not_equal(sig, KAT_SIG);
}

static void test_bad_secrets(void **state)
{
	struct webhook_key k;
	char sig[8];

	(void)state;
	assert_int_equal(webhook_key_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
					   &k), EINVAL);
	assert_int_equal(webhook_key_parse("whsec_", &k), EINVAL);
	assert_int_equal(webhook_key_parse("whsec_abc", &k), EINVAL);
	assert_int_equal(webhook_key_parse("whsec_ab!d", &k), EINVAL);
	assert_int_equal(webhook_key_parse(NULL, &k), EINVAL);
	assert_int_equal(webhook_key_parse(KAT_SECRET, &k), 0);
	assert_int_equal(webhook_sign(&k, 0, KAT_ID, KAT_TS, "", 0, sig,
				      sizeof(sig)), EINVAL);
	assert_int_equal(webhook_sign(&k, 1, KAT_ID, KAT_TS, "", 0, sig,
				      sizeof(sig)), ENOSPC);
}

static void test_schedule(void **state)
{
	uint32_t v[WEBHOOK_SCHEDULE_MAX];
	size_t n = 0;

	(void)state;
	assert_int_equal(webhook_schedule_parse(
		"0,5,300,1800,7200,18000,36000,36000", v, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[2], 300);
	assert_int_equal(v[7], 36000);
	assert_int_equal(webhook_schedule_parse(" 1 , 2 ", v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[1], 2);
	assert_int_equal(webhook_schedule_parse("", v, &n), EINVAL);
	assert_int_equal(webhook_schedule_parse("1,,2", v, &n), EINVAL);
	assert_int_equal(webhook_schedule_parse("1,x", v, &n), EINVAL);
	assert_int_equal(webhook_schedule_parse("-1", v, &n), EINVAL);
	assert_int_equal(webhook_schedule_parse("864001", v, &n), EINVAL);
	assert_int_equal(webhook_schedule_parse(NULL, v, &n), EINVAL);
}

/*
 * More keys than a thread keeps prepared (WEBHOOK_KEYS_MAX), in turn:
 * each signature is the one a fresh HMAC gives (the vector's key
 * signs the vector again after being pushed out), and a 64-byte key (a
 * whole SHA-256 block) signs as RFC 2104 says: here against the vector's
 * key zero-padded to 64 bytes, which HMAC treats as the same key.
 */
static void test_key_cache(void **state)
{
	struct webhook_key kat, k;
	char sig[WEBHOOK_SIG_SIZE], first[WEBHOOK_SIG_SIZE];
	int i, round;

	(void)state;
	assert_int_equal(webhook_key_parse(KAT_SECRET, &kat), 0);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < WEBHOOK_KEYS_MAX + 3; i++) {
			memset(&k, 0, sizeof(k));
			k.len = 16;
			memset(k.key, 'a' + i, k.len);
			assert_int_equal(webhook_sign(&k, 1, KAT_ID, KAT_TS,
						      KAT_BODY,
						      strlen(KAT_BODY), sig,
						      sizeof(sig)), 0);
			if (i == 0 && round == 0)
				strcpy(first, sig);
			if (i == 0 && round == 1)
				assert_string_equal(sig, first);
			assert_string_not_equal(sig, KAT_SIG);
		}
		/* twice: the second starts from the states the key left */
		assert_int_equal(webhook_sign(&kat, 1, KAT_ID, KAT_TS,
					      KAT_BODY, strlen(KAT_BODY), sig,
					      sizeof(sig)), 0);
		assert_string_equal(sig, KAT_SIG);
		assert_int_equal(webhook_sign(&kat, 1, KAT_ID, KAT_TS,
					      KAT_BODY, strlen(KAT_BODY), sig,
					      sizeof(sig)), 0);
		assert_string_equal(sig, KAT_SIG);
	}
	k = kat;
	memset(k.key + k.len, 0, WEBHOOK_KEY_MAX - k.len);
	k.len = WEBHOOK_KEY_MAX;
	assert_int_equal(webhook_sign(&k, 1, KAT_ID, KAT_TS, KAT_BODY,
				      strlen(KAT_BODY), sig, sizeof(sig)), 0);
	assert_string_equal(sig, KAT_SIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_two_keys),
		cmocka_unit_test(test_key_cache),
		cmocka_unit_test(test_bad_secrets),
		cmocka_unit_test(test_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
