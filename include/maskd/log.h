/*
 * log.h - leveled logging to a file or stderr, with phone-number masking.
 *
 * There is no global logger: main.c owns one struct log and hands a pointer
 * to every module that logs. Each line is written with one write(2), so
 * lines from different threads never interleave; the struct itself is only
 * changed by log_open()/log_reopen()/log_close() on the control thread.
 *
 * Numbers are leaks too: above debug level, log callers must print phone
 * numbers through log_mask_number() (+1415***0100), never raw.
 */
#ifndef MASKD_LOG_H
#define MASKD_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

struct log {
	enum log_level level;
	int fd;			/* 2 (stderr) when path is empty */
	char path[4096];	/* "" = stderr */
};

/*
 * log_level_parse() - "error", "warn", "info" or "debug" to a level.
 * Returns 0 and sets *out, or EINVAL.
 */
int log_level_parse(const char *s, enum log_level *out);

/*
 * log_open() - start logging at @level to @path (NULL or "" = stderr).
 * The file is opened O_APPEND|O_CREAT. Returns 0 or an errno.
 */
int log_open(struct log *lg, enum log_level level, const char *path);

/*
 * log_reopen() - reopen the file after logrotate moved it (SIGHUP).
 * On failure the old descriptor stays in use and an errno is returned.
 */
int log_reopen(struct log *lg);

/* log_close() - close the file (not stderr). NULL-safe. */
void log_close(struct log *lg);

/*
 * log_write() - format and write one line if @level is enabled.
 * Adds an ISO 8601 UTC timestamp, the level and a newline. Lines longer
 * than 2 KiB are truncated. Safe from any thread; lg may be NULL (no-op).
 */
void log_write(const struct log *lg, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(lg, ...) log_write((lg), LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(lg, ...)  log_write((lg), LOG_LVL_WARN, __VA_ARGS__)
#define log_info(lg, ...)  log_write((lg), LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_write((lg), LOG_LVL_DEBUG, __VA_ARGS__)

/* LOG_MASK_SIZE - enough for any masked number and its NUL. */
#define LOG_MASK_SIZE 40

/*
 * log_mask_number() - the form of @number that may appear in a log line.
 *
 * At debug level @number is copied unchanged; above it, all but the first
 * five and last four characters become "***" (+14155550100 -> +1415***0100).
 * Shorter strings show less: 10-11 characters keep the first three and the
 * last two, 9 or fewer only their first two.
 * Writes at most LOG_MASK_SIZE bytes into @buf and returns @buf, so it can
 * be used inside a log_info() argument list.
 */
const char *log_mask_number(const struct log *lg, const char *number,
			    char buf[LOG_MASK_SIZE]);

/*
 * log_mask_pin() - the form of a PIN (a secret, unlike a number) that may
 * appear in a line written at @line_level: the PIN itself only in a debug
 * line of a log at debug level, "***" in every other line. Returns @pin
 * or a static string.
 */
const char *log_mask_pin(const struct log *lg, enum log_level line_level,
			 const char *pin);

#endif
