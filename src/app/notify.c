/*
 * notify.c - the sd_notify datagram protocol (see notify.h).
 *
 * Written here rather than linked from libsystemd: it is one sendto(2),
 * and maskd then builds and runs the same on systems without systemd.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "maskd/notify.h"

/* notify_addr() - $NOTIFY_SOCKET as an AF_UNIX address. "@name" is an
 * abstract socket: sun_path starts with a NUL and the length, not a
 * terminating NUL, says where the name ends. */
static int notify_addr(struct sockaddr_un *sun, socklen_t *lenp)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || !*path)
		return ENOENT;
	/* systemd also knows vsock addresses ("vsock:CID:PORT", for VMs);
	 * a daemon in a VM guest is not maskd's case */
	if (path[0] != '/' && path[0] != '@')
		return EINVAL;
	n = strlen(path);
	if (n >= sizeof(sun->sun_path))
		return ENAMETOOLONG;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	*lenp = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			    (path[0] == '/'));
	return 0;
}

int notify_send(const char *state)
{
	struct sockaddr_un sun;
	socklen_t len;
	size_t n;
	ssize_t sent;
	int fd, err;

	err = notify_addr(&sun, &len);
	if (err)
		return err;
	n = state ? strlen(state) : 0;
	if (n == 0 || n > NOTIFY_STATE_MAX)
		return EINVAL;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	sent = sendto(fd, state, n, MSG_NOSIGNAL | MSG_DONTWAIT,
		      (const struct sockaddr *)&sun, len);
	err = sent < 0 ? errno : (size_t)sent != n ? EIO : 0;
	close(fd);
	return err;
}

int notify_watchdog_usec(uint64_t *usec)
{
	const char *s = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return ENOENT;
	/* WATCHDOG_PID names the process the watchdog is for: a child
	 * that inherited the environment must not answer for its parent */
	if (pid && *pid) {
		errno = 0;
		v = strtoull(pid, &end, 10);
		if (errno || *end || v == 0)
			return EINVAL;
		if (v != (unsigned long long)getpid())
			return ENOENT;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return EINVAL;
	*usec = v;
	return 0;
}
