/*
 * fuzz_config.c - libFuzzer harness for the config parser.
 *
 * config_load() reads a path, so each input is written to a memfd and
 * loaded through /proc/self/fd: the real file path, reader and line
 * counting, no test double. Whatever the bytes, it must return 0 or an
 * error with a message, and free everything either way. A config that
 * loads is printed (config_print(), as --print-config does): every value
 * the table accepts must format without overrunning anything, and no
 * secret may come out.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maskd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A secret's line must say ***, whatever the secret (a search for the
 * secret itself would also find a short one inside another value). */
static void fuzz_print(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return;
	if (config_print(cfg, f))
		__builtin_trap();
	fclose(f);
	if (cfg->gateway.auth_password[0] &&
	    !strstr(buf, "\nauth_password = ***\n"))
		__builtin_trap();
	if (cfg->api.n_tokens && !strstr(buf, "\ntokens = ***\n"))
		__builtin_trap();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	struct config cfg;
	int fd, rc;

	fd = memfd_create("fuzz.conf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	rc = config_load(path, &cfg, err, sizeof(err));
	if (rc && err[0] == '\0')
		__builtin_trap();	/* every error must say what is wrong */
	if (rc && strncmp(err, path, strlen(path)) != 0)
		__builtin_trap();	/* ... and where */
	if (!rc)
		fuzz_print(&cfg);
	config_free(&cfg);
	close(fd);
	return 0;
}
