/*
 * e164.c - E.164 phone number validation.
 */
#include <stdbool.h>
#include <stddef.h>

#include "maskd/e164.h"

#define E164_MIN_DIGITS 7
#define E164_MAX_DIGITS 15

bool e164_valid(const char *s)
{
	size_t n;

	if (!s || s[0] != '+' || s[1] == '0')
		return false;

	/* not isdigit(): it depends on the locale */
	for (n = 0; s[n + 1] >= '0' && s[n + 1] <= '9'; n++) {
		if (n == E164_MAX_DIGITS)
			return false;
	}

	return s[n + 1] == '\0' && n >= E164_MIN_DIGITS;
}
