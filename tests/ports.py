"""ports.py - free loopback ports for the test suites, shared by all.

Ports come from 10000-19999 and are checked free for both UDP and TCP.
Not the kernel's way (bind to port 0): that hands out its ephemeral ports
(32768-60999), which every HTTP client connection and Python RTP peer of
the suites running in parallel also takes, and which overlap the relay
ranges maskd instances bind (20000-29999 claimed by the media tests,
30000-39999 by default). A port picked there could be taken again before
maskd binds it - or rebinds it after a kill -9 - and maskd would refuse
to start. Nothing else allocates below 20000.

A port checked free is not held: a maskd's gateway port, say, is only
written in its config, and the test's SIPp binds it minutes later. A
check by another suite in between found it free too and could bind it
first (SIPp exit 254 in CI). So every port given out is also written,
with the pid it was given to, in one registry file shared by all the
suites (under a lock), and no other living process is given it again.
"""
import errno
import fcntl
import os
import random
import socket
import tempfile

PORT_LO = 10000
PORT_HI = 20000

REGISTRY = os.path.join(tempfile.gettempdir(), "maskd-test-ports")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno != errno.ESRCH
    return True


def _bindable(host, port, udp, tcp):
    socks = []
    try:
        for kind, want in ((socket.SOCK_DGRAM, udp),
                           (socket.SOCK_STREAM, tcp)):
            if want:
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((host, port))
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
    return True


def free_port(host="127.0.0.1", udp=True, tcp=True):
    """A port of @host free for UDP and/or TCP now, not given out before
    by this process nor to any other test process still running."""
    rnd = random.SystemRandom()
    fd = os.open(REGISTRY, os.O_RDWR | os.O_CREAT, 0o666)
    with os.fdopen(fd, "r+") as reg:
        fcntl.flock(reg, fcntl.LOCK_EX)
        reg.seek(0)
        held = {}
        for line in reg.read().split("\n"):
            f = line.split()
            if len(f) == 2 and f[0].isdigit() and f[1].isdigit():
                held[int(f[0])] = int(f[1])
        # a dead process's ports go back to the pool
        alive = {}
        live = {}
        for port, pid in held.items():
            if pid not in alive:
                alive[pid] = _alive(pid)
            if alive[pid]:
                live[port] = pid
        for _ in range(2000):
            port = rnd.randrange(PORT_LO, PORT_HI)
            if port in live:
                continue
            if not _bindable(host, port, udp, tcp):
                continue
            live[port] = os.getpid()
            reg.seek(0)
            reg.truncate()
            reg.write("".join("%d %d\n" % kv for kv in live.items()))
            reg.flush()
            return port
    raise AssertionError("no free port on %s" % host)
