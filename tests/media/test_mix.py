#!/usr/bin/env python3
"""test_mix.py - 3-way calls through the real relay's mixer, end to end.

Run by ctest as:
    python3 tests/media/test_mix.py --driver build/tests/relay_driver \\
        --source-dir /repo [unittest args]

The relay (src/media) runs in tests/media/relay_driver.c, which plays
the SIP thread: it adds legs, sets each party's address and codec and
turns the mixer on and off, on command. The parties are RTP peers in
this file, each on its own loopback address (127.0.0.2..5), each
sending 20 ms G.711 packets of its own tone (440, 1000, 1800, 2600 Hz)
in PCMU or PCMA, paced on one clock. What each receives is decoded and
its spectrum checked (Goertzel): every party hears every other mixed
party's tone and not its own, through a join (a leg added to a running
mix), a leave (a leg removed: the rest still hear each other, the one
who left hears nothing) and the end of the mix (A and B back to the
plain relayed pair, byte for byte). Also checked: each listener's
stream is one RTP stream from maskd's port facing it (its codec's
payload type, one SSRC, sequence +1, timestamp +160, the marker on its
first packet), and neither RTCP nor telephone-events of one party reach
another while mixed.

Python 3 standard library only; loopback only; every wait bounded.
Nothing here asserts speed.
"""
import argparse
import math
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sip"))
from test_media import port_range  # noqa: E402  (the range slot claims)

RELAY_IP = "127.0.0.1"
PT_PCMU = 0
PT_PCMA = 8
FRAME = 160
RATE = 8000
AMP = 6000
SETTLE_S = 0.6          # jitter buffer depth and a margin, generous
LISTEN_S = 1.0          # what each spectrum is measured over
WAIT_S = 10

ARGS = None


# ---- G.711 (ITU-T G.711, as src/media/g711.c) ----------------------------

def ulaw_encode(x):
    sign = 0x7F if x < 0 else 0xFF
    v = min(abs(x) >> 2, 8159) + 33
    seg, end = 0, 0x3F
    while seg < 8 and v > end:
        end = end * 2 + 1
        seg += 1
    if seg >= 8:
        return 0x7F ^ sign
    return ((seg << 4) | ((v >> (seg + 1)) & 0x0F)) ^ sign


def ulaw_decode(code):
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def alaw_encode(x):
    if x >= 0:
        mask, v = 0xD5, x >> 3
    else:
        mask, v = 0x55, (-x - 1) >> 3
    if v > 0xFFF:
        v = 0xFFF
    seg = 0
    while seg < 8 and v >= (0x20 << seg):
        seg += 1
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (v >> 1) & 0x0F if seg < 2 else (v >> seg) & 0x0F
    return aval ^ mask


def alaw_decode(code):
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


ULAW = [ulaw_decode(c) for c in range(256)]
ALAW = [alaw_decode(c) for c in range(256)]


def encode(pt, pcm):
    enc = alaw_encode if pt == PT_PCMA else ulaw_encode
    return bytes(enc(x) for x in pcm)


def decode(pt, codes):
    table = ALAW if pt == PT_PCMA else ULAW
    return [table[c] for c in codes]


def goertzel(pcm, hz):
    """Power of @pcm at @hz: one DFT bin, normalised so that a tone of
    amplitude A at @hz gives A^2 / 4."""
    k = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in pcm:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / (len(pcm) * len(pcm))


# ---- the relay, through its driver --------------------------------------

class Relay:
    def __init__(self, n_ports=100, workers=2):
        lo, hi = port_range(n_ports)
        self.p = subprocess.Popen([ARGS.driver, str(lo), str(hi),
                                   str(workers)],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self._line()
        if line != "ready":
            raise AssertionError("relay_driver: %r" % line)

    def _line(self):
        r, _, _ = select.select([self.p.stdout], [], [], WAIT_S)
        if not r:
            raise AssertionError("relay_driver does not answer")
        return self.p.stdout.readline().strip()

    def cmd(self, *words):
        self.p.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.p.stdin.flush()
        got = self._line().split()
        if not got or got[0] != "ok":
            raise AssertionError("%s: %s" % (" ".join(map(str, words)),
                                              got))
        return [int(x) for x in got[1:]]

    def err(self, *words):
        """The errno a command fails with."""
        self.p.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.p.stdin.flush()
        got = self._line().split()
        if got[0] != "err":
            raise AssertionError("%s succeeded" % " ".join(map(str, words)))
        return int(got[1])

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            try:
                self.p.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()
        if self.p.returncode:
            raise AssertionError("relay_driver exited %d" % self.p.returncode)


# ---- the parties ----------------------------------------------------------

class Peer:
    """One party: RTP on an even port of @host, RTCP one above; sends
    its tone every 20 ms while self.sending, records what arrives."""

    def __init__(self, host, hz, pt):
        self.host, self.hz, self.pt = host, hz, pt
        for _ in range(100):
            self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.rtp.bind((host, 0))
            port = self.rtp.getsockname()[1]
            if port % 2 == 0 and port < 65534:
                self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    self.rtcp.bind((host, port + 1))
                    break
                except OSError:
                    self.rtcp.close()
            self.rtp.close()
        else:
            raise AssertionError("no even/odd port pair on " + host)
        self.port = port
        self.relay_port = None     # maskd's port facing this party
        self.ssrc = 0x10000 + port
        self.seq = 0
        self.ts = 1000 * port
        self.t = 0                 # samples of the tone sent
        self.sending = False
        self.lock = threading.Lock()
        self.got = []              # (source, data) of RTP
        self.got_rtcp = []

    def frame(self):
        pcm = [int(AMP * math.sin(2 * math.pi * self.hz * (self.t + i)
                                  / RATE)) for i in range(FRAME)]
        self.t += FRAME
        pkt = struct.pack("!BBHII", 0x80, self.pt, self.seq & 0xffff,
                          self.ts & 0xffffffff, self.ssrc)
        self.seq += 1
        self.ts += FRAME
        return pkt + encode(self.pt, pcm)

    def send_frame(self):
        self.rtp.sendto(self.frame(), (RELAY_IP, self.relay_port))

    def clear(self):
        with self.lock:
            self.got = []
            self.got_rtcp = []

    def taken(self):
        with self.lock:
            return list(self.got), list(self.got_rtcp)

    def close(self):
        self.rtp.close()
        self.rtcp.close()


class Net:
    """One sender thread paces every party on one 20 ms clock; one
    receiver thread drains every party's sockets."""

    def __init__(self, peers):
        self.peers = peers
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send, daemon=True),
                        threading.Thread(target=self._recv, daemon=True)]
        for t in self.threads:
            t.start()

    def _send(self):
        due = time.monotonic()
        while not self.stop.is_set():
            for p in self.peers:
                if p.sending:
                    p.send_frame()
            due += FRAME / RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:
                due = time.monotonic()   # a stall: do not burst

    def _recv(self):
        socks = {}
        for p in self.peers:
            socks[p.rtp] = (p, False)
            socks[p.rtcp] = (p, True)
        while not self.stop.is_set():
            r, _, _ = select.select(list(socks), [], [], 0.05)
            for s in r:
                p, is_rtcp = socks[s]
                try:
                    data, src = s.recvfrom(2048)
                except OSError:
                    continue
                with p.lock:
                    (p.got_rtcp if is_rtcp else p.got).append((src, data))

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(WAIT_S)


def rtp_fields(data):
    b0, b1, seq, ts_, ssrc = struct.unpack("!BBHII", data[:12])
    return b1 & 0x7f, bool(b1 & 0x80), seq, ts_, ssrc, data[12:]


class MixTest(unittest.TestCase):
    def setUp(self):
        self.relay = Relay()
        self.addCleanup(self.relay.close)
        self.a = Peer("127.0.0.2", 440, PT_PCMU)
        self.b = Peer("127.0.0.3", 1000, PT_PCMA)
        self.c = Peer("127.0.0.4", 1800, PT_PCMU)
        self.d = Peer("127.0.0.5", 2600, PT_PCMA)
        self.peers = [self.a, self.b, self.c, self.d]
        for p in self.peers:
            self.addCleanup(p.close)
        self.net = Net(self.peers)
        self.addCleanup(self.net.close)

    def party(self, call, leg, peer):
        peer.leg = leg
        self.relay.cmd("remote", call, leg, peer.host, peer.port)
        self.relay.cmd("codec", call, leg, peer.pt)

    def listen(self):
        """Every party's RTP over LISTEN_S, after SETTLE_S."""
        time.sleep(SETTLE_S)
        for p in self.peers:
            p.clear()
        time.sleep(LISTEN_S)
        return {p: p.taken() for p in self.peers}

    def check_stream(self, peer, got, first):
        """@got: one RTP stream from maskd's port facing @peer, in the
        peer's codec, sequence +1 and timestamp +160 a packet; the
        marker only on the first packet (@first: the stream started in
        this window, else never)."""
        self.assertGreater(len(got), 0.6 * LISTEN_S * RATE / FRAME,
                           "%s: %d packets" % (peer.host, len(got)))
        ssrcs = set()
        prev = None
        for i, (src, data) in enumerate(got):
            self.assertEqual(src, (RELAY_IP, peer.relay_port))
            pt, marker, seq, ts_, ssrc, payload = rtp_fields(data)
            self.assertEqual(pt, peer.pt)
            self.assertEqual(len(payload), FRAME)
            self.assertEqual(marker, first and i == 0)
            ssrcs.add(ssrc)
            if prev:
                self.assertEqual(seq, (prev[0] + 1) & 0xffff)
                # +160 a packet; more only where a worker that stalled
                # skipped time (whole frames: relay_mix.c)
                step = (ts_ - prev[1]) & 0xffffffff
                self.assertTrue(step >= FRAME and step % FRAME == 0,
                                "timestamp step %d" % step)
            prev = (seq, ts_)
        self.assertEqual(len(ssrcs), 1)
        return ssrcs.pop()

    def check_hears(self, peer, got, others, not_heard):
        """@peer's audio holds each tone of @others and none of
        @not_heard (its own among them)."""
        pcm = []
        for _, data in got:
            pcm += decode(peer.pt, data[12:])
        total = sum(x * x for x in pcm) / max(len(pcm), 1)
        # each tone is mixed at its full level AMP, its bin AMP^2 / 4;
        # one not mixed in is some 40 dB below that (G.711's noise)
        for o in others:
            pw = goertzel(pcm, o.hz)
            self.assertGreater(pw, 0.1 * AMP * AMP / 4,
                               "%s does not hear %d Hz (%.0f, total %.0f)"
                               % (peer.host, o.hz, pw, total))
        for o in not_heard:
            pw = goertzel(pcm, o.hz)
            self.assertLess(pw, 0.005 * AMP * AMP / 4,
                            "%s hears %d Hz (%.0f)" % (peer.host, o.hz, pw))

    def wait_packets(self, peer, n):
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            if len(peer.taken()[0]) >= n:
                return
            time.sleep(0.02)
        self.fail("%s: fewer than %d packets" % (peer.host, n))

    def test_three_way_join_leave(self):
        r, a, b, c, d = self.relay, self.a, self.b, self.c, self.d
        call, a.relay_port, b.relay_port = r.cmd("alloc")
        self.party(call, 0, a)
        self.party(call, 1, b)
        a.sending = b.sending = True

        # the plain call first: B's packets reach A byte for byte
        self.wait_packets(a, 5)
        sent_b = b.frame()
        b.rtp.sendto(sent_b, (RELAY_IP, b.relay_port))
        self.wait_packets(a, 10)
        self.assertIn(sent_b, [x[1] for x in a.taken()[0]])

        # a third party joins while the call runs: the three mixed
        leg, c.relay_port = r.cmd("add", call)
        self.assertEqual(leg, 2)
        self.party(call, 2, c)
        c.sending = True
        r.cmd("mix", call, 0b111, 1)
        got = self.listen()
        for p in (a, b, c):
            others = [o for o in (a, b, c) if o is not p]
            self.check_hears(p, got[p][0], others, [p, d])
        ssrc = {p: self.check_stream(p, got[p][0], False)
                for p in (a, b, c)}
        self.assertEqual(len(set(ssrc.values())), 3)
        self.assertEqual(got[d][0], [])
        calls, packets, _, _ = r.cmd("mixstats")
        self.assertEqual(calls, 1)
        self.assertGreaterEqual(packets, sum(len(got[p][0])
                                             for p in (a, b, c)))

        # while mixed, one party's RTCP and telephone-events reach
        # nobody (masking: an RTCP report names its sender)
        for p in (a, b, c):
            p.clear()
        c.rtcp.sendto(b"\x80\xc8\x00\x06" + b"RTCP-sender-report-c",
                      (RELAY_IP, c.relay_port + 1))
        c.rtp.sendto(struct.pack("!BBHII", 0x80, 101, 7, 7, c.ssrc) +
                     b"\x05\x0a\x00\xa0", (RELAY_IP, c.relay_port))
        time.sleep(0.5)
        for p in (a, b, c):
            rtp, rtcp = p.taken()
            self.assertEqual(rtcp, [])
            self.assertEqual([x for x in rtp if x[1][1] & 0x7f != p.pt],
                             [])

        # a fourth joins (PCMA): the marker opens its stream
        leg, d.relay_port = r.cmd("add", call)
        self.assertEqual(leg, 3)
        self.party(call, 3, d)
        d.clear()
        d.sending = True
        r.cmd("mix", call, 1 << 3, 1)
        self.wait_packets(d, 1)
        self.assertTrue(rtp_fields(d.taken()[0][0][1])[1])
        got = self.listen()
        for p in (a, b, c, d):
            others = [o for o in (a, b, c, d) if o is not p]
            self.check_hears(p, got[p][0], others, [p])
            # the streams of the first three go on: same SSRC
            s = self.check_stream(p, got[p][0], False)
            if p is not d:
                self.assertEqual(s, ssrc[p])

        # C leaves: its leg is removed; the rest still hear each other
        # and no longer C, and C hears nothing
        counters = r.cmd("counters", call, 2)
        self.assertGreater(counters[0], 0)
        r.cmd("remove", call, 2)
        r.cmd("sync")
        self.assertNotEqual(r.err("counters", call, 2), 0)
        got = self.listen()
        self.assertEqual(got[c][0], [])
        for p in (a, b, d):
            others = [o for o in (a, b, d) if o is not p]
            self.check_hears(p, got[p][0], others, [p, c])
            self.check_stream(p, got[p][0], False)

        # the leg index comes back for the next party
        leg, port = r.cmd("add", call)
        self.assertEqual(leg, 2)
        r.cmd("remove", call, 2)

        # the mix ends: A and B are a plain pair again (B's packets
        # byte for byte at A), D hears nothing
        c.sending = d.sending = False
        r.cmd("mix", call, 0, 0)
        r.cmd("sync")
        time.sleep(0.2)
        for p in self.peers:
            p.clear()
        sent_b = b.frame()
        b.rtp.sendto(sent_b, (RELAY_IP, b.relay_port))
        time.sleep(0.5)
        self.assertIn(sent_b, [x[1] for x in a.taken()[0]])
        for src, data in a.taken()[0]:
            self.assertEqual(rtp_fields(data)[4], b.ssrc)
        self.assertEqual(d.taken()[0], [])
        self.assertEqual(r.cmd("mixstats")[0], 0)

        r.cmd("free", call)
        free, total = r.cmd("pool")
        self.assertEqual(free, total)

    def test_leg_connect(self):
        """A further leg is a leg like A and B: connected to A as a
        plain pair it relays byte for byte both ways from its own port;
        removed, what A sends has nowhere to go (dropped, counted)."""
        r, a, b, c = self.relay, self.a, self.b, self.c
        call, a.relay_port, b.relay_port = r.cmd("alloc")
        leg, c.relay_port = r.cmd("add", call)
        self.assertNotIn(c.relay_port, (a.relay_port, b.relay_port))
        self.party(call, 0, a)
        self.party(call, 1, b)
        self.party(call, leg, c)
        r.cmd("connect", call, 0, leg)
        r.cmd("connect", call, leg, 0)
        r.cmd("sync")
        sent_a, sent_c = a.frame(), c.frame()
        a.rtp.sendto(sent_a, (RELAY_IP, a.relay_port))
        c.rtp.sendto(sent_c, (RELAY_IP, c.relay_port))
        self.wait_packets(c, 1)
        self.wait_packets(a, 1)
        self.assertEqual(c.taken()[0], [((RELAY_IP, c.relay_port), sent_a)])
        self.assertEqual(a.taken()[0], [((RELAY_IP, a.relay_port), sent_c)])
        self.assertEqual(b.taken()[0], [])
        self.assertEqual(r.cmd("counters", call, leg)[0], 1)

        r.cmd("remove", call, leg)
        r.cmd("sync")
        drops = r.cmd("counters", call, 0)[2]
        a.rtp.sendto(a.frame(), (RELAY_IP, a.relay_port))
        time.sleep(0.3)
        self.assertEqual(r.cmd("counters", call, 0)[2], drops + 1)
        self.assertEqual(len(c.taken()[0]), 1)
        self.assertEqual(b.taken()[0], [])
        r.cmd("free", call)
        free, total = r.cmd("pool")
        self.assertEqual(free, total)

    def test_refusals(self):
        r = self.relay
        call, _, _ = r.cmd("alloc")
        EINVAL, ENOSPC = 22, 28
        # legs A and B end with the call; unknown legs are refused
        self.assertEqual(r.err("remove", call, 0), EINVAL)
        self.assertEqual(r.err("remove", call, 2), EINVAL)
        self.assertEqual(r.err("mix", call, 1 << 2, 1), EINVAL)
        self.assertEqual(r.err("mix", call, 0, 1), EINVAL)
        self.assertEqual(r.err("codec", call, 0, 101), EINVAL)
        self.assertEqual(r.err("remote", call, 4, "127.0.0.2", 4000),
                         EINVAL)
        # four more legs, then no free index
        legs = [r.cmd("add", call)[0] for _ in range(4)]
        self.assertEqual(legs, [2, 3, 4, 5])
        self.assertEqual(r.err("add", call), ENOSPC)
        r.cmd("mix", call, 0b111111, 1)
        self.assertEqual(r.cmd("mixstats")[0], 1)
        r.cmd("free", call)
        self.assertEqual(r.cmd("mixstats")[0], 0)

    def test_no_free_pair(self):
        """A leg needs a port pair of its call's worker: with five pairs
        (one worker), a call and three further legs take them all, the
        next leg gets ENOSPC, and a removed leg's pair serves again."""
        r = Relay(n_ports=10, workers=1)
        self.addCleanup(r.close)
        ENOSPC = 28
        call, _, _ = r.cmd("alloc")
        legs = [r.cmd("add", call)[0] for _ in range(3)]
        self.assertEqual(r.err("add", call), ENOSPC)
        self.assertEqual(r.cmd("pool"), [0, 10])
        r.cmd("remove", call, legs[1])
        r.cmd("sync")
        self.assertEqual(r.cmd("pool"), [2, 10])
        self.assertEqual(r.cmd("add", call)[0], legs[1])
        r.cmd("free", call)
        self.assertEqual(r.cmd("pool"), [10, 10])
        free, total = r.cmd("pool")
        self.assertEqual(free, total)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    p.add_argument("--source-dir", required=True)
    ARGS, rest = p.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
