/*
 * test_e164.c - which strings are E.164 numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "maskd/e164.h"

struct e164_case {
	const char *s;
	bool valid;
};

static const struct e164_case e164_cases[] = {
	{ "+14155550100", true },
	{ "+442071838750", true },
	{ "+4915112345678", true },
	{ "+1234567", true },			/* 7 digits, the shortest */
	{ "+123456789012345", true },		/* 15 digits, the longest */
	{ "+99999999999999", true },
	{ "+123456", false },			/* 6 digits */
	{ "+1234567890123456", false },		/* 16 digits */
	{ "+12345678901234567890", false },
	{ "+04155550100", false },		/* country code starts 0 */
	{ "+0", false },
	{ "14155550100", false },		/* no '+' */
	{ "004155550100", false },
	{ "++14155550100", false },
	{ "+", false },
	{ "", false },
	{ "+1415555010a", false },		/* letter */
	{ "+1415ABC0100", false },
	{ "+1 415 555 0100", false },		/* blanks */
	{ "+1-415-555-0100", false },
	{ " +14155550100", false },
	{ "+14155550100 ", false },
	{ "+14155550100\n", false },
	{ "+(1)4155550100", false },
	{ "+1415555010\xd9\xa3", false },	/* Arabic-Indic digit three */
	{ "tel:+14155550100", false },
	{ "sip:+14155550100@example.com", false },
};

static void test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(e164_cases) / sizeof(e164_cases[0]); i++) {
		if (e164_valid(e164_cases[i].s) != e164_cases[i].valid)
			fail_msg("e164_valid(\"%s\") should be %s",
				 e164_cases[i].s,
				 e164_cases[i].valid ? "true" : "false");
	}
}

static void test_null(void **state)
{
	assert_false(e164_valid(NULL));
}

/* Every length from 0 to 20 digits: exactly 7..15 pass. */
static void test_lengths(void **state)
{
	char s[32];
	size_t n;

	for (n = 0; n <= 20; n++) {
		s[0] = '+';
		memset(s + 1, '5', n);
		s[n + 1] = '\0';
		assert_int_equal(e164_valid(s), n >= 7 && n <= 15);
	}

	assert_int_equal(strlen("+123456789012345") + 1, E164_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
