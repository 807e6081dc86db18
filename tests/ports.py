"""ports.py - free loopback ports for the test suites, shared by all.

Ports come from 10000-19999 and are checked free for both UDP and TCP.
Not the kernel's way (bind to port 0): that hands out its ephemeral ports
(32768-60999), which every HTTP client connection and Python RTP peer of
the suites running in parallel also takes, and which overlap the relay
ranges maskd instances bind (20000-29999 claimed by the media tests,
30000-39999 by default). A port picked there could be taken again before
maskd binds it - or rebinds it after a kill -9 - and maskd would refuse
to start. Nothing else allocates below 20000, so only two suites picking
the same random port at once can collide, and each check makes that rare.
"""
import random
import socket

PORT_LO = 10000
PORT_HI = 20000

_given = set()  # never the same port twice to one process


def free_port(host="127.0.0.1", udp=True, tcp=True):
    """A port of @host free for UDP and/or TCP now, not given out before
    by this process."""
    rnd = random.SystemRandom()
    for _ in range(2000):
        port = rnd.randrange(PORT_LO, PORT_HI)
        if port in _given:
            continue
        socks = []
        try:
            for kind, want in ((socket.SOCK_DGRAM, udp),
                               (socket.SOCK_STREAM, tcp)):
                if want:
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind((host, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        _given.add(port)
        return port
    raise AssertionError("no free port on %s" % host)
