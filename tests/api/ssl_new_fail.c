/*
 * ssl_new_fail.c - an LD_PRELOAD shim for test_api_tls.py: SSL_new()
 * fails, as it does when OpenSSL runs out of memory, while the file named
 * by MASKD_TEST_SSL_NEW_FAIL exists; otherwise it is OpenSSL's own.
 *
 * A file rather than a call count, so the test decides which connection
 * fails whatever else in maskd makes SSL objects. Test-only: never
 * installed, never linked into maskd.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

typedef SSL *(ssl_new_fn)(SSL_CTX *ctx);

SSL *SSL_new(SSL_CTX *ctx)
{
	const char *path = getenv("MASKD_TEST_SSL_NEW_FAIL");
	ssl_new_fn *real;

	if (path && access(path, F_OK) == 0) {
		ERR_raise(ERR_LIB_SSL, ERR_R_MALLOC_FAILURE);
		return NULL;
	}
	*(void **)&real = dlsym(RTLD_NEXT, "SSL_new");
	if (!real)
		abort();
	return real(ctx);
}
