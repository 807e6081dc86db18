/*
 * notify.h - tell the service manager how maskd is doing (systemd's
 * sd_notify protocol, without libsystemd).
 *
 * The protocol is one datagram of "KEY=value" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET ("@name" is the abstract namespace). systemd sets
 * it for a Type=notify unit; anywhere else it is unset and every call here
 * is a no-op, so maskd run by hand or by the tests behaves as before.
 *
 * No state: each call reads the environment and opens, sends and closes
 * its own socket. Any thread may call, but maskd calls only from the
 * control thread (main's loop): READY=1 once SIP and the API listen,
 * WATCHDOG=1 from a timer on that loop, STOPPING=1 when it ends.
 */
#ifndef MASKD_NOTIFY_H
#define MASKD_NOTIFY_H

#include <stdint.h>

/* What maskd sends; a state may hold several lines ("READY=1\nSTATUS=.."). */
#define NOTIFY_READY "READY=1"
#define NOTIFY_STOPPING "STOPPING=1"
#define NOTIFY_WATCHDOG "WATCHDOG=1"

/* Longest state notify_send() takes, bytes, terminating NUL excluded. */
#define NOTIFY_STATE_MAX 512

/*
 * notify_send() - send @state as one datagram to $NOTIFY_SOCKET.
 *
 * Returns 0 when sent, ENOENT when $NOTIFY_SOCKET is unset or empty (no
 * service manager is listening: callers treat this as success),
 * ENAMETOOLONG/EINVAL for a socket name that cannot be an AF_UNIX address
 * or a state that is empty or too long, or the errno of socket(2) or
 * sendto(2). Never blocks: the datagram is sent with MSG_DONTWAIT.
 */
int notify_send(const char *state);

/*
 * notify_watchdog_usec() - the watchdog interval systemd asks for, from
 * $WATCHDOG_USEC (and $WATCHDOG_PID, when set, must be our pid).
 *
 * Returns 0 and sets *usec (> 0) when WATCHDOG=1 must be sent at least that
 * often (maskd sends it at half the interval), or ENOENT when no watchdog
 * is asked of this process, EINVAL when the variable is not a number.
 */
int notify_watchdog_usec(uint64_t *usec);

#endif
