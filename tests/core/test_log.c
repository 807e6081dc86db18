/*
 * test_log.c - log lines, levels, masking and reopen after logrotate.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "maskd/log.h"

struct tmpdir {
	char dir[64];
	char file[128];		/* dir/maskd.log */
	char rotated[128];	/* dir/maskd.log.1 */
};

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/maskd_test_log_XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->file, sizeof(t->file), "%s/maskd.log", t->dir);
	snprintf(t->rotated, sizeof(t->rotated), "%s/maskd.log.1", t->dir);
}

static void tmpdir_remove(struct tmpdir *t)
{
	unlink(t->file);
	rmdir(t->file);
	unlink(t->rotated);
	rmdir(t->dir);
}

/* Whole file into a static buffer; "" when it does not exist. */
static const char *slurp(const char *path)
{
	static char buf[16384];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return buf;

	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void test_level_parse(void **state)
{
	enum log_level lvl = LOG_LVL_ERROR;

	assert_int_equal(log_level_parse("error", &lvl), 0);
	assert_int_equal(lvl, LOG_LVL_ERROR);
	assert_int_equal(log_level_parse("warn", &lvl), 0);
	assert_int_equal(lvl, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("info", &lvl), 0);
	assert_int_equal(lvl, LOG_LVL_INFO);
	assert_int_equal(log_level_parse("debug", &lvl), 0);
	assert_int_equal(lvl, LOG_LVL_DEBUG);

	assert_int_equal(log_level_parse("INFO", &lvl), EINVAL);
	assert_int_equal(log_level_parse("warning", &lvl), EINVAL);
	assert_int_equal(log_level_parse("", &lvl), EINVAL);
	assert_int_equal(log_level_parse(NULL, &lvl), EINVAL);
	assert_int_equal(lvl, LOG_LVL_DEBUG);
}

static void test_mask_levels(void **state)
{
	static const enum log_level masked[] = {
		LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO
	};
	struct log lg = { .fd = 2 };
	char buf[LOG_MASK_SIZE];
	size_t i;

	for (i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		lg.level = masked[i];
		assert_string_equal(log_mask_number(&lg, "+14155550100", buf),
				    "+1415***0100");
		assert_string_equal(log_mask_number(&lg, "+442071838750", buf),
				    "+4420***8750");
		/* 15 digits, the longest E.164 number */
		assert_string_equal(
			log_mask_number(&lg, "+123456789012345", buf),
			"+1234***2345");
	}

	lg.level = LOG_LVL_DEBUG;
	assert_string_equal(log_mask_number(&lg, "+14155550100", buf),
			    "+14155550100");
	assert_string_equal(log_mask_number(&lg, "+12", buf), "+12");

	/* no logger: mask, never leak by default */
	assert_string_equal(log_mask_number(NULL, "+14155550100", buf),
			    "+1415***0100");
}

/* A PIN shows only in a debug line of a debug log: "***" everywhere else. */
static void test_mask_pin(void **state)
{
	static const enum log_level lines[] = {
		LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO
	};
	struct log lg = { .fd = 2 };
	size_t i, j;

	(void)state;
	for (i = 0; i <= LOG_LVL_DEBUG; i++) {
		lg.level = (enum log_level)i;
		for (j = 0; j < sizeof(lines) / sizeof(lines[0]); j++)
			assert_string_equal(log_mask_pin(&lg, lines[j],
							 "4711"), "***");
		assert_string_equal(log_mask_pin(&lg, LOG_LVL_DEBUG, "4711"),
				    i == LOG_LVL_DEBUG ? "4711" : "***");
	}
	assert_string_equal(log_mask_pin(NULL, LOG_LVL_DEBUG, "4711"), "***");
	assert_string_equal(log_mask_pin(&lg, LOG_LVL_DEBUG, NULL), "***");
}

static void test_mask_returns_buf(void **state)
{
	struct log lg = { .level = LOG_LVL_INFO, .fd = 2 };
	char buf[LOG_MASK_SIZE];

	assert_ptr_equal(log_mask_number(&lg, "+14155550100", buf), buf);
	lg.level = LOG_LVL_DEBUG;
	assert_ptr_equal(log_mask_number(&lg, "+14155550100", buf), buf);
}

static void test_mask_short(void **state)
{
	struct log lg = { .level = LOG_LVL_INFO, .fd = 2 };
	char buf[LOG_MASK_SIZE];

	/* 9 characters or fewer keep only the first two */
	assert_string_equal(log_mask_number(&lg, "+12345678", buf), "+1***");
	assert_string_equal(log_mask_number(&lg, "+1234567", buf), "+1***");
	assert_string_equal(log_mask_number(&lg, "alice", buf), "al***");
	assert_string_equal(log_mask_number(&lg, "+1", buf), "+1***");
	assert_string_equal(log_mask_number(&lg, "7", buf), "7***");
	assert_string_equal(log_mask_number(&lg, "", buf), "***");

	/* 10-11 characters: first three and last two, five+ hidden */
	assert_string_equal(log_mask_number(&lg, "+123456789", buf),
			    "+12***89");
	assert_string_equal(log_mask_number(&lg, "+1234567890", buf),
			    "+12***90");
	/* 12: the long rule starts here */
	assert_string_equal(log_mask_number(&lg, "+12345678901", buf),
			    "+1234***8901");
}

static void test_mask_long_input(void **state)
{
	struct log lg = { .level = LOG_LVL_INFO, .fd = 2 };
	char in[300], buf[LOG_MASK_SIZE + 8];

	memset(in, '9', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	memset(buf, 'X', sizeof(buf));

	assert_string_equal(log_mask_number(&lg, in, buf), "99999***9999");

	/* at debug it is copied, but never past LOG_MASK_SIZE */
	lg.level = LOG_LVL_DEBUG;
	log_mask_number(&lg, in, buf);
	assert_int_equal(strlen(buf), LOG_MASK_SIZE - 1);
	assert_int_equal(buf[LOG_MASK_SIZE], 'X');
}

static void test_line_format(void **state)
{
	struct tmpdir t;
	struct log lg;
	regex_t re;
	const char *text;

	tmpdir_make(&t);
	assert_int_equal(log_open(&lg, LOG_LVL_INFO, t.file), 0);
	assert_true(lg.fd > 2);
	assert_string_equal(lg.path, t.file);

	log_info(&lg, "call %d from %s", 42, "carrier1");
	log_error(&lg, "store: %s", "MDB_MAP_FULL");
	log_debug(&lg, "not at info");

	text = slurp(t.file);
	assert_int_equal(regcomp(&re,
		"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
		"\\.[0-9]{3}Z INFO call 42 from carrier1\n"
		"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
		"\\.[0-9]{3}Z ERROR store: MDB_MAP_FULL\n$",
		REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, text, 0, NULL, 0))
		fail_msg("unexpected log text: '%s'", text);
	regfree(&re);

	log_close(&lg);
	assert_int_equal(lg.fd, -1);
	log_info(&lg, "after close");		/* ignored, no crash */
	log_close(&lg);				/* twice is fine */
	tmpdir_remove(&t);
}

static void test_levels_filter(void **state)
{
	struct tmpdir t;
	struct log lg;
	const char *text;

	tmpdir_make(&t);
	assert_int_equal(log_open(&lg, LOG_LVL_WARN, t.file), 0);
	log_error(&lg, "e");
	log_warn(&lg, "w");
	log_info(&lg, "i");
	log_debug(&lg, "d");
	text = slurp(t.file);
	assert_non_null(strstr(text, " ERROR e\n"));
	assert_non_null(strstr(text, " WARN w\n"));
	assert_null(strstr(text, " INFO "));
	assert_null(strstr(text, " DEBUG "));
	log_close(&lg);

	assert_int_equal(log_open(&lg, LOG_LVL_DEBUG, t.file), 0);
	log_debug(&lg, "d2");
	assert_non_null(strstr(slurp(t.file), " DEBUG d2\n"));
	log_close(&lg);

	/* NULL logger is a no-op */
	log_error(NULL, "nothing");
	log_close(NULL);
	tmpdir_remove(&t);
}

static void test_truncate_and_sanitize(void **state)
{
	struct tmpdir t;
	struct log lg;
	static char big[5000];
	const char *text;

	tmpdir_make(&t);
	assert_int_equal(log_open(&lg, LOG_LVL_INFO, t.file), 0);

	memset(big, 'a', sizeof(big) - 1);
	log_info(&lg, "%s", big);
	text = slurp(t.file);
	assert_int_equal(strlen(text), 2048);
	assert_int_equal(text[2047], '\n');
	assert_ptr_equal(strchr(text, '\n'), text + 2047);
	log_close(&lg);

	/* CR/LF from the network must not forge a second line */
	unlink(t.file);
	assert_int_equal(log_open(&lg, LOG_LVL_INFO, t.file), 0);
	log_info(&lg, "From: %s", "x\r\n2024-01-01T00:00:00.000Z ERROR fake");
	text = slurp(t.file);
	assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
	assert_non_null(strstr(text, " INFO From: x??2024"));
	log_close(&lg);
	tmpdir_remove(&t);
}

static void test_stderr(void **state)
{
	struct log lg;

	assert_int_equal(log_open(&lg, LOG_LVL_INFO, NULL), 0);
	assert_int_equal(lg.fd, 2);
	assert_string_equal(lg.path, "");
	assert_int_equal(log_reopen(&lg), 0);
	assert_int_equal(lg.fd, 2);
	log_close(&lg);
	/* stderr itself stays open */
	assert_int_not_equal(fcntl(2, F_GETFD), -1);

	assert_int_equal(log_open(&lg, LOG_LVL_INFO, ""), 0);
	assert_int_equal(lg.fd, 2);
}

static void test_open_errors(void **state)
{
	struct log lg;
	static char longpath[5000];

	assert_int_equal(log_open(&lg, LOG_LVL_INFO, "/nonexistent/dir/x.log"),
			 ENOENT);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	assert_int_equal(log_open(&lg, LOG_LVL_INFO, longpath), ENAMETOOLONG);
}

static void test_reopen_after_rename(void **state)
{
	struct tmpdir t;
	struct log lg;
	int fd;

	tmpdir_make(&t);
	assert_int_equal(log_open(&lg, LOG_LVL_INFO, t.file), 0);
	fd = lg.fd;

	log_info(&lg, "before rotate");
	assert_int_equal(rename(t.file, t.rotated), 0);
	log_info(&lg, "still old file");

	assert_int_equal(log_reopen(&lg), 0);
	/* the descriptor number other threads hold stays valid */
	assert_int_equal(lg.fd, fd);
	assert_true(fcntl(lg.fd, F_GETFD) & FD_CLOEXEC);
	log_info(&lg, "after rotate");

	assert_non_null(strstr(slurp(t.rotated), " INFO before rotate\n"));
	assert_non_null(strstr(slurp(t.rotated), " INFO still old file\n"));
	assert_null(strstr(slurp(t.rotated), "after rotate"));
	assert_non_null(strstr(slurp(t.file), " INFO after rotate\n"));
	assert_null(strstr(slurp(t.file), "before"));

	log_close(&lg);
	tmpdir_remove(&t);
}

static void test_reopen_failure_keeps_old(void **state)
{
	struct tmpdir t;
	struct log lg;
	int fd;

	tmpdir_make(&t);
	assert_int_equal(log_open(&lg, LOG_LVL_INFO, t.file), 0);
	fd = lg.fd;

	assert_int_equal(rename(t.file, t.rotated), 0);
	/* a directory where the file was: open() fails even for root */
	assert_int_equal(mkdir(t.file, 0700), 0);

	assert_int_equal(log_reopen(&lg), EISDIR);
	assert_int_equal(lg.fd, fd);
	log_info(&lg, "kept writing");
	assert_non_null(strstr(slurp(t.rotated), " INFO kept writing\n"));

	log_close(&lg);
	tmpdir_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_mask_levels),
		cmocka_unit_test(test_mask_pin),
		cmocka_unit_test(test_mask_returns_buf),
		cmocka_unit_test(test_mask_short),
		cmocka_unit_test(test_mask_long_input),
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_levels_filter),
		cmocka_unit_test(test_truncate_and_sanitize),
		cmocka_unit_test(test_stderr),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_reopen_after_rename),
		cmocka_unit_test(test_reopen_failure_keeps_old),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
