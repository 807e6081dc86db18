/*
 * test_util.h - what several unit tests share: a temporary directory that
 * is removed afterwards, and a fixed clock. Header-only; tests only.
 */
#ifndef MASKD_TEST_UTIL_H
#define MASKD_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* test_tmpdir() - a fresh directory under $TMPDIR (or /tmp); free() it
 * after test_rmtree(). */
static inline char *test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/maskd-test-XXXXXX", base) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

/* test_rmtree() - remove a directory of plain files, one level deep
 * or two (an LMDB dir inside a temp dir). */
static inline void test_rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		char *child;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (asprintf(&child, "%s/%s", path, e->d_name) < 0)
			continue;
		if (e->d_type == DT_DIR)
			test_rmtree(child);
		else
			unlink(child);
		free(child);
	}
	closedir(d);
	rmdir(path);
}

#endif
