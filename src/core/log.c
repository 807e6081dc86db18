/*
 * log.c - leveled logging with one write(2) per line.
 *
 * No global state: everything lives in the struct log that main.c owns.
 * log_write() only reads it, so any thread may log while the control
 * thread is the only one that opens, reopens or closes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maskd/log.h"

/* LOG_LINE_SIZE - one line, newline included; longer ones are truncated. */
#define LOG_LINE_SIZE 2048

static const char *const log_level_names[] = {
	[LOG_LVL_ERROR] = "ERROR",
	[LOG_LVL_WARN] = "WARN",
	[LOG_LVL_INFO] = "INFO",
	[LOG_LVL_DEBUG] = "DEBUG",
};

static const char *const log_level_keys[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	if (!s || !out)
		return EINVAL;

	for (i = 0; i < sizeof(log_level_keys) / sizeof(log_level_keys[0]);
	     i++) {
		if (!strcmp(s, log_level_keys[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}

	return EINVAL;
}

static int log_open_fd(const char *path, int *fdp)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return errno;

	*fdp = fd;
	return 0;
}

int log_open(struct log *lg, enum log_level level, const char *path)
{
	int fd = 2;
	int err;

	if (!lg)
		return EINVAL;

	if (path && *path) {
		if (strlen(path) >= sizeof(lg->path))
			return ENAMETOOLONG;

		err = log_open_fd(path, &fd);
		if (err)
			return err;
	}
	else {
		path = "";
	}

	lg->level = level;
	lg->fd = fd;
	snprintf(lg->path, sizeof(lg->path), "%s", path);

	return 0;
}

/*
 * Other threads may be inside write(2) on lg->fd while we reopen, so the
 * descriptor number must never be closed or change: dup3() replaces the
 * file behind it atomically, and a line goes either to the old file or to
 * the new one, never to a descriptor reused by someone else.
 */
int log_reopen(struct log *lg)
{
	int fd = -1;
	int err;

	if (!lg)
		return EINVAL;

	/* stderr belongs to whoever started us; nothing to reopen */
	if (!lg->path[0] || lg->fd < 0)
		return 0;

	err = log_open_fd(lg->path, &fd);
	if (err)
		goto out;

	if (dup3(fd, lg->fd, O_CLOEXEC) < 0) {
		err = errno;
		goto out;
	}

	err = 0;
 out:
	if (fd >= 0)
		close(fd);
	return err;
}

void log_close(struct log *lg)
{
	if (!lg)
		return;

	if (lg->fd > 2)
		close(lg->fd);

	lg->fd = -1;
}

/* ISO 8601 UTC with milliseconds: "2024-05-01T12:34:56.789Z". */
static size_t log_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	if (clock_gettime(CLOCK_REALTIME, &ts) || !gmtime_r(&ts.tv_sec, &tm))
		return 0;

	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return 0;

	m = snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
	if (m < 0 || (size_t)m >= size - n)
		return 0;

	return n + (size_t)m;
}

/*
 * Messages carry text from the network (SIP headers, JSON fields): a CR or
 * LF in them would let a caller forge log lines, so control characters
 * become '?' and every line stays one line.
 */
static void log_sanitize(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			s[i] = '?';
	}
}

void log_write(const struct log *lg, enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_SIZE];
	size_t len, room;
	va_list ap;
	ssize_t n;
	int m;

	if (!lg || lg->fd < 0 || (unsigned)level > (unsigned)lg->level ||
	    (unsigned)level > LOG_LVL_DEBUG)
		return;

	len = log_timestamp(line, sizeof(line));
	m = snprintf(line + len, sizeof(line) - len, " %s ",
		     log_level_names[level]);
	if (m < 0)
		return;
	len += (size_t)m;

	/* keep one byte for the newline */
	room = sizeof(line) - len - 1;

	va_start(ap, fmt);
	m = vsnprintf(line + len, room + 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;

	if ((size_t)m > room)
		m = (int)room;

	log_sanitize(line + len, (size_t)m);
	len += (size_t)m;
	line[len++] = '\n';

	do {
		n = write(lg->fd, line, len);
	} while (n < 0 && errno == EINTR);
}

const char *log_mask_number(const struct log *lg, const char *number,
			    char buf[LOG_MASK_SIZE])
{
	size_t len;

	if (!number)
		number = "(null)";

	len = strlen(number);

	/*
	 * Keep enough to tell numbers apart in a log, never enough to dial:
	 * the shorter the number, the less of it is shown, so at least
	 * three digits (five for 10-11 characters) always stay hidden.
	 */
	if (lg && lg->level >= LOG_LVL_DEBUG)
		snprintf(buf, LOG_MASK_SIZE, "%s", number);
	else if (len <= 9)
		snprintf(buf, LOG_MASK_SIZE, "%.2s***", number);
	else if (len <= 11)
		snprintf(buf, LOG_MASK_SIZE, "%.3s***%s", number,
			 number + len - 2);
	else
		snprintf(buf, LOG_MASK_SIZE, "%.5s***%s", number,
			 number + len - 4);

	return buf;
}

const char *log_mask_pin(const struct log *lg, enum log_level line_level,
			 const char *pin)
{
	if (pin && lg && line_level >= LOG_LVL_DEBUG &&
	    lg->level >= LOG_LVL_DEBUG)
		return pin;
	return "***";
}
