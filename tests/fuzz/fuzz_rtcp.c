/*
 * fuzz_rtcp.c - libFuzzer harness for the RTCP scrubber, which runs on
 * every RTCP packet a party sends, on a relay worker.
 *
 * Besides what the sanitizers catch, it checks the scrubber's promises:
 * the length never changes, a packet it refuses is left byte for byte as
 * it came, and scrubbing twice changes nothing more (the replacement is
 * stable, so a source keeps one CNAME).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *once, *twice;
	int n1, n2;

	/* a copy of exactly @size bytes, so ASan sees any overrun */
	once = malloc(size ? size : 1);
	twice = malloc(size ? size : 1);
	if (!once || !twice)
		abort();
	memcpy(once, data, size);

	/* abort(), not assert(): the fuzz build may define NDEBUG */
	n1 = rtcp_scrub(once, size);
	if (n1 < 0 && memcmp(once, data, size))
		abort();
	memcpy(twice, once, size);
	n2 = rtcp_scrub(twice, size);
	if (n2 != n1 || memcmp(once, twice, size))
		abort();

	free(once);
	free(twice);
	return 0;
}
