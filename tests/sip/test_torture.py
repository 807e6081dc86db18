#!/usr/bin/env python3
"""
test_torture.py - whatever arrives on maskd's SIP port gets the right SIP
error or is dropped (and counted); never a crash, a hang, a leak or a
forwarded request (issue 5, point 6).

A real maskd (trunk sources 127.0.0.0/8, so nothing is refused for its
source) gets every RFC 4475 torture message of tests/torture/rfc4475/,
byte-exact, over UDP (one datagram each) and over TCP (one connection
each: send, read until a timeout, close); then 64 KiB of random garbage
over both, every message cut at random points, and a burst. A UDP socket
bound as the gateway asserts that nothing is ever forwarded. Afterwards
/healthz answers, /metrics has counted the malformed input, maskd exits 0
on SIGTERM and (ASan build) nothing is in its stderr or log.

Responses go where the Via says: its sent-by port (5060, or 5050 for
quotbal.dat) on our source address (nta adds received=), or the source
port when the Via has rport. So the UDP sender is bound to 127.0.0.10:5060
and a second socket listens on 127.0.0.10:5050.

The expected answer of each message is in EXPECT, from INDEX.md: RFC
4475's "expected" column, as it applies to a B2BUA's incoming leg that
is neither registrar nor proxy. Nothing here asserts speed.
"""
import argparse
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402  (the harness: Maskd, free_port, ...)

SRC_IP = "127.0.0.10"
BURST_IP = "127.0.0.11"
VIA_PORTS = (5060, 5050)
UDP_WAIT_S = 1.5
TRANSACTION_S = 4       # [sip] transaction_timeout, the shortest allowed
TCP_WAIT_S = 2.0
SEED = int(os.environ.get("MASKD_TORTURE_SEED", "4475"))

# kind: "valid" request (an answer is required on the transport its Via
# names; the codes allowed), "invalid" (a 4xx/5xx or silence, never a 2xx;
# the codes allowed, None = any 4xx/5xx), "response" (a response: never
# answered), "liberal" (invalid, but the RFC lets an element accept it
# when nothing is forwarded: the codes allowed, silence too), "dropped"
# (valid, but maskd's parser cannot read it: silence, or the codes).
# Where a valid message is refused rather than served, the reason is
# given: maskd is a B2BUA, not a registrar.
EXPECT = {
    # 3.1.1 valid
    "wsinv.dat": ("valid", {481}),            # INVITE with a To tag
    # sofia-sip 1.12.11's parser takes this method token for garbage:
    # dropped and counted (over UDP its TCP Via already drops it)
    "intmeth.dat": ("dropped", {405, 501}),
    "esc01.dat": ("valid", {404}),            # INVITE, unknown pair
    "escnull.dat": ("valid", {405, 501}),     # REGISTER: not a registrar
    "esc02.dat": ("valid", {405, 501}),       # unknown method
    "lwsdisp.dat": ("valid", {200}),          # OPTIONS
    "longreq.dat": ("valid", {404, 400}),     # INVITE, unknown pair
    "dblreq.dat": ("valid", {405, 501}),      # REGISTER; no INVITE made
    "semiuri.dat": ("valid", {200}),          # OPTIONS
    "transports.dat": ("valid", {200}),       # OPTIONS
    "mpart01.dat": ("valid", {405, 501}),     # MESSAGE
    "unreason.dat": ("response", None),
    "noreason.dat": ("response", None),
    # 3.1.2 invalid
    "badinv01.dat": ("invalid", None),
    "clerr.dat": ("invalid", None),
    "ncl.dat": ("invalid", None),
    "scalar02.dat": ("invalid", None),
    "scalarlg.dat": ("response", None),
    "quotbal.dat": ("invalid", None),
    "ltgtruri.dat": ("invalid", None),
    "lwsruri.dat": ("invalid", None),
    "lwsstart.dat": ("invalid", None),
    "trws.dat": ("liberal", {400, 200}),      # OPTIONS, trailing SP
    "escruri.dat": ("invalid", None),
    "baddate.dat": ("invalid", None),         # INVITE: 404 if Date ignored
    "regbadct.dat": ("invalid", None),
    "badaspec.dat": ("liberal", {400, 200}),  # OPTIONS, To < uri >
    "baddn.dat": ("invalid", None),
    "badvers.dat": ("invalid", {505, 400}),
    "mismatch01.dat": ("invalid", {400}),
    "mismatch02.dat": ("invalid", {501, 400, 405}),
    "bigcode.dat": ("response", None),
    # 3.2 / 3.3 semantic
    "badbranch.dat": ("liberal", {400, 200}),  # OPTIONS: RFC 2543 match
    "insuf.dat": ("invalid", {400}),
    "unkscm.dat": ("valid", {416, 400, 404}),
    "novelsc.dat": ("valid", {416, 404, 400}),
    "unksm2.dat": ("valid", {405, 501, 400}),  # REGISTER: not a registrar
    "bext01.dat": ("valid", {420}),
    "invut.dat": ("valid", {415}),
    "regaut01.dat": ("valid", {405, 501}),    # REGISTER: not a registrar
    "multi01.dat": ("invalid", {400}),
    "mcl01.dat": ("invalid", None),
    "bcast.dat": ("response", None),
    "zeromf.dat": ("valid", {200, 483}),      # OPTIONS, Max-Forwards 0
    "cparam01.dat": ("valid", {405, 501}),    # REGISTER: not a registrar
    "cparam02.dat": ("valid", {405, 501}),
    "regescrt.dat": ("valid", {405, 501}),
    "sdp01.dat": ("valid", {406, 400, 415, 404}),
    "inv2543.dat": ("valid", {404, 400}),     # INVITE, unknown pair
}

# The INVITE of this REGISTER's trailing bytes must never be acted on.
BAD_INVITE_CALL_ID = b"inv978f0a"


def status_of(data):
    """The status code of a response, or None."""
    if not data.startswith(b"SIP/2.0 "):
        return None
    try:
        return int(data[8:11])
    except ValueError:
        return None


def call_id(data):
    """The Call-ID of a message (long or compact form), or None."""
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() in (b"call-id", b"i"):
            return v.strip()
    return None


def finals(datas, cid=None):
    """Final status codes of the responses in @datas (1xx left out);
    with @cid, only those of that Call-ID: a UDP socket also gets the
    retransmitted answers of earlier messages."""
    out = []
    for d in datas:
        for part in split_stream(d):
            c = status_of(part)
            if c is None or c < 200:
                continue
            if cid is not None and call_id(part) != cid:
                continue
            out.append(c)
    return out


def split_stream(data):
    """Responses in a TCP byte stream (Content-Length framed)."""
    out = []
    while data:
        i = data.find(b"\r\n\r\n")
        if i < 0:
            out.append(data)
            break
        head = data[:i].decode("latin-1").lower()
        n = 0
        for line in head.split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip() in ("content-length", "l"):
                try:
                    n = int(v.strip())
                except ValueError:
                    n = 0
        end = i + 4 + n
        out.append(data[:end])
        data = data[end:]
    return out


def via_transport(raw):
    for line in raw.split(b"\r\n"):
        k, _, v = line.partition(b":")
        if k.strip().lower() in (b"via", b"v"):
            v = v.replace(b" ", b"").upper()
            for t in (b"TCP", b"TLS", b"UDP"):
                if v.startswith(b"SIP/2.0/" + t):
                    return t.decode().lower()
            return "?"
    return "udp"


class Gateway:
    """A UDP socket where maskd's gateway is: it must receive nothing."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ts.GW_IP, port))
        self.sock.settimeout(0.2)
        self.got = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data, _ = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.got.append(data)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


class TortureMaskd(ts.Maskd):
    def write_config(self):
        with open(self.conf_path, "w") as f:
            f.write(
                "[sip]\nlisten = 127.0.0.1:%d\ntransaction_timeout = %d\n"
                "[trunk.loopback]\nsources = 127.0.0.0/8\n"
                "[gateway]\naddress = %s:%d\ntransport = udp\n"
                "[store]\npath = %s\nmap_size = 64M\n"
                "[api]\nlisten = 127.0.0.1:%d\ntokens = %s\n"
                "[log]\nlevel = debug\nfile = %s\n"
                % (self.sip_port, TRANSACTION_S * 1000, ts.GW_IP,
                   self.gw_port,
                   os.path.join(self.dir, "db"), self.api_port, ts.TOKEN,
                   self.log_path))


class Torture(unittest.TestCase):
    """One maskd for all: it must survive the lot, in order."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-torture-")
        cls.maskd = TortureMaskd(cls.tmp).start()
        cls.gw = Gateway(cls.maskd.gw_port)
        cls.dir = os.path.join(ts.ARGS.source_dir, "tests", "torture",
                               "rfc4475")
        cls.files = sorted(f for f in os.listdir(cls.dir)
                           if f.endswith(".dat"))
        cls.udp = []
        for port in VIA_PORTS:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((SRC_IP, port))
            except OSError as e:
                raise AssertionError("cannot bind %s:%d for the Via "
                                     "replies: %s" % (SRC_IP, port, e))
            cls.udp.append(s)
        cls.results = {}
        cls._failed = False

    @classmethod
    def tearDownClass(cls):
        for s in cls.udp:
            s.close()
        cls.gw.close()
        m = cls.maskd
        rc = m.stop()
        rep = m.sanitizer_report()
        if rc != 0 or rep:
            raise AssertionError("maskd exit %s\n%s\n%s"
                                 % (rc, rep or "", m.diagnostics()))
        if not cls._failed:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def fail(self, msg=None):
        type(self)._failed = True
        super().fail(msg)

    def read(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return f.read()

    # -- transports --

    def drain_udp(self, wait):
        got = []
        deadline = time.monotonic() + wait
        for s in self.udp:
            s.settimeout(0.05)
        while time.monotonic() < deadline:
            for s in self.udp:
                try:
                    data, _ = s.recvfrom(70000)
                    got.append(data)
                except socket.timeout:
                    pass
        return got

    def send_udp(self, data, wait=UDP_WAIT_S):
        self.drain_udp(0.05)
        self.udp[0].sendto(data, ("127.0.0.1", self.maskd.sip_port))
        return self.drain_udp(wait)

    def send_tcp(self, data, wait=TCP_WAIT_S, src=SRC_IP):
        got = b""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", self.maskd.sip_port))
            s.sendall(data)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    break
                if not chunk:
                    break       # maskd closed: framing lost
                got += chunk
        finally:
            s.close()
        return [got] if got else []

    def assert_alive(self, what):
        try:
            st = self.maskd.request("GET", "/healthz", token=None)[0]
        except OSError as e:
            st = e
        if st != 200 or self.maskd.proc.poll() is not None:
            self.fail("maskd not alive after %s: %r\n%s"
                      % (what, st, self.maskd.diagnostics()))

    # -- the checks --

    def check(self, name, transport, got):
        kind, codes = EXPECT[name]
        raw = self.read(name)
        fin = finals(got, call_id(raw))
        self.results[(name, transport)] = fin
        where = "%s over %s: %r" % (name, transport, fin)
        for c in fin:
            self.assertFalse(200 <= c < 300 and
                             kind not in ("valid", "liberal", "dropped"),
                             "2xx to an invalid message: " + where)
        if kind == "response":
            self.assertEqual(fin, [], "a response was answered: " + where)
            return
        if kind in ("liberal", "dropped"):
            for c in fin:
                self.assertIn(c, codes, where)
            return
        if kind == "invalid":
            for c in fin:
                self.assertTrue(400 <= c < 600, where)
                if codes:
                    self.assertIn(c, codes, where)
            return
        # valid: answered on the transport its Via names, sensibly
        for c in fin:
            self.assertIn(c, codes, where)
        if via_transport(raw) == transport:
            self.assertTrue(fin, "no answer: " + where)

    def test_1_rfc4475_udp(self):
        self.assertEqual(len(self.files), 49)
        self.assertEqual(set(self.files), set(EXPECT))
        for name in self.files:
            raw = self.read(name)
            with self.subTest(name=name):
                self.check(name, "udp", self.send_udp(raw))
        self.assert_alive("RFC 4475 over UDP")

    def test_2_rfc4475_tcp(self):
        # the same Call-IDs and branches as over UDP: let those server
        # transactions end first, or nta takes these for retransmissions
        time.sleep(TRANSACTION_S * 1.5)
        for name in self.files:
            raw = self.read(name)
            with self.subTest(name=name):
                self.check(name, "tcp", self.send_tcp(raw))
        self.assert_alive("RFC 4475 over TCP")

    def test_3_garbage(self):
        rnd = random.Random(SEED)
        blob = bytes(rnd.getrandbits(8) for _ in range(65536))
        # UDP: as large a datagram as loopback takes, then the rest in 1K
        for off in range(0, len(blob), 1024):
            self.udp[0].sendto(blob[off:off + 1024],
                               ("127.0.0.1", self.maskd.sip_port))
        try:
            self.udp[0].sendto(blob[:65000],
                               ("127.0.0.1", self.maskd.sip_port))
        except OSError:
            pass
        got = self.drain_udp(UDP_WAIT_S)
        self.assertEqual([g for g in got if status_of(g) and
                          200 <= status_of(g) < 300], [])
        got = self.send_tcp(blob)
        self.assertEqual([c for c in finals(got) if c < 400], [])
        # text that looks like SIP but is not
        junk = (b"INVITE sip:x SIP/2.0\r\n" + b"A" * 70000 + b"\r\n\r\n")
        self.send_tcp(junk)
        self.send_udp(b"\r\n\r\n")
        self.send_udp(b"SIP/2.0\r\n\r\n")
        self.send_udp(b"OPTIONS\r\n\r\n")
        self.assert_alive("64 KiB of garbage")

    def test_4_truncated(self):
        rnd = random.Random(SEED + 1)
        for name in self.files:
            raw = self.read(name)
            cuts = sorted(set(rnd.randrange(1, len(raw))
                              for _ in range(3)))
            for cut in cuts:
                part = raw[:cut]
                self.udp[0].sendto(part, ("127.0.0.1", self.maskd.sip_port))
                got = self.drain_udp(0.1)
                for c in finals(got):
                    # a cut OPTIONS may still be whole enough to answer
                    self.assertFalse(200 <= c < 300 and
                                     EXPECT[name][0] != "valid",
                                     "%s cut at %d: %d" % (name, cut, c))
            # TCP: the cut message is incomplete; maskd waits, we leave
            self.send_tcp(raw[:cuts[0]], wait=0.2)
        self.drain_udp(UDP_WAIT_S)
        self.assert_alive("truncated messages")

    def test_5_burst(self):
        """Every message whose Via names UDP 20 times, back to back, from
        one socket.

        KNOWN ISSUE (left out of the burst, not fixed): a request nta
        refuses as malformed (400, stateless) whose Via names another
        transport and a host name - scalar02.dat: TCP, host129.example.com
        - makes sofia-sip's tport resolve that name with a blocking
        getaddrinfo() on the SIP thread to send the 400; with no DNS
        answer the whole SIP side stalls for the resolver's timeout (5 s
        and more here). test_1 sends it once and tolerates the stall; 20
        of them would stall it for minutes."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((BURST_IP, 0))
        burst = [self.read(n) for n in self.files
                 if via_transport(self.read(n)) == "udp"]
        try:
            for _ in range(20):
                for raw in burst:
                    s.sendto(raw, ("127.0.0.1", self.maskd.sip_port))
        finally:
            s.close()
        time.sleep(2)
        self.assert_alive("a burst")

    def test_6_after(self):
        """Nothing forwarded, malformed input counted, still serving."""
        time.sleep(1)
        self.assertEqual(self.gw.got, [], "forwarded to the gateway")
        m = self.maskd.metrics()
        self.assertGreater(m.get("maskd_sip_malformed_total", 0), 0, m)
        # still serving: an OPTIONS gets its 200
        opt = (b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
               b"Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-after-1\r\n"
               b"From: <sip:probe@%s>;tag=a1\r\nTo: <sip:127.0.0.1>\r\n"
               b"Call-ID: after-1@torture\r\nCSeq: 1 OPTIONS\r\n"
               b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
               % (SRC_IP.encode(), SRC_IP.encode()))
        fin = []
        deadline = time.monotonic() + 60
        while 200 not in fin and time.monotonic() < deadline:
            fin = finals(self.send_udp(opt), b"after-1@torture")
        self.assertIn(200, fin, "%r\n%s" % (m, self.maskd.diagnostics()))
        # RFC 4475 3.3.5 over UDP (bext01.dat names TLS, which maskd does
        # not listen on): Require gets 420 listing it in Unsupported
        req = opt.replace(b"after-1", b"after-2").replace(
            b"Max-Forwards", b"Require: nobodyKnowsThisExtension\r\n"
            b"Max-Forwards")
        got = [g for g in self.send_udp(req) if call_id(g) ==
               b"after-2@torture"]
        self.assertTrue(got and status_of(got[0]) == 420, got)
        self.assertIn(b"nobodyKnowsThisExtension", got[0])
        self.assert_alive("the torture")
        print("\ntorture results (file, transport: final codes):")
        for (name, tr), fin in sorted(self.results.items()):
            print("  %-16s %-3s %s" % (name, tr, fin or "-"))
        print("malformed counted: %d" % m.get("maskd_sip_malformed_total"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    args, rest = p.parse_known_args()
    ts.ARGS = args
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
