/*
 * test_notify.c - notify_send() delivers its state, one datagram, to the
 * socket $NOTIFY_SOCKET names (a path or an abstract "@name"), and does
 * nothing without one; notify_watchdog_usec() reads systemd's variables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "maskd/notify.h"
#include "../test_util.h"

/* rx_bind() - a datagram socket bound to @name ('@' = abstract). */
static int rx_bind(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len;
	size_t n = strlen(name);
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(n < sizeof(sun.sun_path));
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

static void rx_expect(int fd, const char *want)
{
	char buf[NOTIFY_STATE_MAX + 16];
	ssize_t n;

	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
	/* exactly one datagram per call */
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void test_path_socket(void **state)
{
	char *dir = test_tmpdir(), *path;
	int fd;

	(void)state;
	assert_non_null(dir);
	assert_true(asprintf(&path, "%s/notify", dir) > 0);
	fd = rx_bind(path);
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);

	assert_int_equal(notify_send(NOTIFY_READY "\nSTATUS=listening"), 0);
	rx_expect(fd, "READY=1\nSTATUS=listening");
	assert_int_equal(notify_send(NOTIFY_STOPPING), 0);
	rx_expect(fd, "STOPPING=1");

	close(fd);
	/* nobody listening any more: the error is the caller's to see */
	assert_int_equal(notify_send(NOTIFY_WATCHDOG), ECONNREFUSED);
	unlink(path);
	assert_int_equal(notify_send(NOTIFY_WATCHDOG), ENOENT);
	unsetenv("NOTIFY_SOCKET");
	free(path);
	test_rmtree(dir);
	free(dir);
}

static void test_abstract_socket(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@maskd-test-notify-%ld", (long)getpid());
	fd = rx_bind(name);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(notify_send(NOTIFY_WATCHDOG), 0);
	rx_expect(fd, "WATCHDOG=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_no_socket(void **state)
{
	char big[NOTIFY_STATE_MAX + 2];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send(NOTIFY_READY), ENOENT);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(notify_send(NOTIFY_READY), ENOENT);
	assert_int_equal(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	assert_int_equal(notify_send(NOTIFY_READY), EINVAL);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '/';
	assert_int_equal(setenv("NOTIFY_SOCKET", big, 1), 0);
	assert_int_equal(notify_send(NOTIFY_READY), ENAMETOOLONG);
	assert_int_equal(setenv("NOTIFY_SOCKET", "/nonexistent", 1), 0);
	assert_int_equal(notify_send(""), EINVAL);
	assert_int_equal(notify_send(big), EINVAL);	/* too long */
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
	char pid[32];
	uint64_t usec = 0;

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(notify_watchdog_usec(&usec), ENOENT);

	assert_int_equal(setenv("WATCHDOG_USEC", "30000000", 1), 0);
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	assert_true(usec == 30000000u);

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	usec = 0;
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	assert_true(usec == 30000000u);
	/* meant for another process (our parent, say): not ours to feed */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(notify_watchdog_usec(&usec), ENOENT);

	unsetenv("WATCHDOG_PID");
	assert_int_equal(setenv("WATCHDOG_USEC", "30s", 1), 0);
	assert_int_equal(notify_watchdog_usec(&usec), EINVAL);
	assert_int_equal(setenv("WATCHDOG_USEC", "0", 1), 0);
	assert_int_equal(notify_watchdog_usec(&usec), EINVAL);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
