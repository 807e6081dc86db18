/*
 * rand.c - random bytes, buffered per thread (rand.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "maskd/rand.h"

static _Thread_local unsigned char rand_buf[RAND_BUFFER_SIZE];
static _Thread_local size_t rand_left;

int rand_bytes(void *buf, size_t len)
{
	unsigned char *out = buf;
	size_t n;

	while (len) {
		if (!rand_left) {
			if (getrandom(rand_buf, sizeof(rand_buf), 0) !=
			    (ssize_t)sizeof(rand_buf))
				return EIO;
			rand_left = sizeof(rand_buf);
		}
		n = len < rand_left ? len : rand_left;
		/* from the end: what is handed out is wiped, so the buffer
		 * never holds bytes somebody already has */
		memcpy(out, rand_buf + rand_left - n, n);
		memset(rand_buf + rand_left - n, 0, n);
		rand_left -= n;
		out += n;
		len -= n;
	}
	return 0;
}
