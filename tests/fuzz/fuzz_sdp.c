/*
 * fuzz_sdp.c - libFuzzer harness for the SDP rewriter.
 *
 * Each input is an SDP body from a party. Whatever it holds, the rewriter
 * must return EINVAL or a body that names only maskd's address: the
 * harness checks that no IPv4 literal other than the advertised one
 * survives (the privacy promise), and that a hang in sofia's parser shows
 * up as a libFuzzer timeout.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/sdp.h"

#define ADVERTISE "192.0.2.1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_quad(const char *p, size_t n, const char *quad)
{
	return n == strlen(quad) && !memcmp(p, quad, n);
}

/* true when @s holds a dotted quad other than ADVERTISE or 0.0.0.0 (the
 * unspecified address of an old-style hold carries no one's address) */
static int foreign_ipv4(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned parts = 0, digits = 0;
		size_t start = i, j = i;

		if (s[j] < '0' || s[j] > '9' ||
		    (j > 0 && ((s[j - 1] >= '0' && s[j - 1] <= '9') ||
			       s[j - 1] == '.'))) {
			i++;
			continue;
		}
		for (; j < len; j++) {
			if (s[j] >= '0' && s[j] <= '9') {
				if (++digits > 3)
					break;
			} else if (s[j] == '.' && digits) {
				parts++;
				digits = 0;
			} else {
				break;
			}
		}
		if (parts == 3 && digits &&
		    !is_quad(s + start, j - start, ADVERTISE) &&
		    !is_quad(s + start, j - start, "0.0.0.0"))
			return 1;
		i = j > i ? j : i + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sdp_origin origin = { 0 };
	struct sdp_remote remote;
	char *out = NULL;
	size_t outlen = 0;
	int rc;

	rc = sdp_rewrite((const char *)data, size, ADVERTISE, 40000, &origin,
			 &out, &outlen, &remote);
	if (rc == 0) {
		if (!out || outlen != strlen(out))
			__builtin_trap();
		if (foreign_ipv4(out, outlen))
			__builtin_trap();	/* an address leaked through */
	}
	free(out);
	return 0;
}
