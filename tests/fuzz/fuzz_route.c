/*
 * fuzz_route.c - libFuzzer harness for the number normaliser that turns
 * a Request-URI or From user part into E.164 under a trunk's rules.
 *
 * Input: one byte choosing the trunk's rules, then the user part. What it
 * accepts must be valid E.164 - the store and the leak checks rely on it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/sip/sip_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_trunk t;
	char in[256], out[E164_SIZE];
	size_t n;

	if (size < 1)
		return 0;
	memset(&t, 0, sizeof(t));
	switch (data[0] % 4) {
	case 1:
		strcpy(t.country_code, "44");
		strcpy(t.national_prefix, "0");
		break;
	case 2:
		strcpy(t.country_code, "1");
		break;
	case 3:
		strcpy(t.national_prefix, "00");
		break;
	}
	n = size - 1 < sizeof(in) - 1 ? size - 1 : sizeof(in) - 1;
	memcpy(in, data + 1, n);
	in[n] = '\0';
	memset(out, 0x5a, sizeof(out));
	if (sip_route_normalise(data[0] % 4 ? &t : NULL, in, out) == 0 &&
	    !e164_valid(out))
		__builtin_trap();
	return 0;
}
