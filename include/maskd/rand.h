/*
 * rand.h - random bytes from the kernel's CSPRNG, buffered per thread.
 *
 * getrandom() is a system call; the SIP thread needed three per call (a
 * call id, two SDP session ids), each for 4-10 bytes. rand_bytes() takes
 * them from a per-thread buffer that one getrandom() refills every
 * RAND_BUFFER_SIZE bytes: the same kernel output, one system call where
 * there were dozens. The buffer lives in the thread's memory until used;
 * nothing it yields is a key (ids, SDP session ids, jitter), so that is
 * no weaker than the ids themselves, which go out in the clear.
 *
 * Any thread; no lock. Not for key material (use getrandom() directly).
 */
#ifndef MASKD_RAND_H
#define MASKD_RAND_H

#include <stddef.h>

#define RAND_BUFFER_SIZE 256

/*
 * rand_bytes() - fill @buf with @len random bytes. Returns 0, or EIO when
 * the kernel gives none (then @buf is unchanged in part or whole).
 */
int rand_bytes(void *buf, size_t len);

#endif
