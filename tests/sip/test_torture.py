#!/usr/bin/env python3
"""
test_torture.py - whatever arrives on maskd's SIP port gets the right SIP
error or is dropped (and counted); never a crash, a hang, a leak or a
forwarded request (issue 5, point 6).

A real maskd (trunk sources 127.0.0.0/8, so nothing is refused for its
source) gets every RFC 4475 torture message of tests/torture/rfc4475/,
byte-exact but for its Via's port (below), over UDP (one datagram
each) and over TCP (one connection each: send, read until a timeout,
close), each from a source of its own, one every 0.1 s, so that each has
its own answers and none waits out the one before (send_all()); then
64 KiB of random garbage over both, every message cut at random points,
and a burst. A UDP socket
bound as the gateway asserts that nothing is ever forwarded. Afterwards
/healthz answers, /metrics has counted the malformed input, maskd exits 0
on SIGTERM and (ASan build) nothing is in its stderr or log.

Responses go to the source address and port (maskd forces rport), but
for a request nta answers statelessly whose Via names another transport:
that goes to the source address and the Via's sent-by port (5060, or 5050
for quotbal.dat). So that two runs never need the same port, the UDP
sender and a second socket are bound to free ports on 127.0.0.10 (a
pair for each message in send_all(), one for the rest), and at send
time each message's top Via names them instead: its sent-by port
5060 (written, or UDP/TCP's default when none is) becomes the first,
5050 the second (via_ports()). Nothing else of a message changes, and
the free ports always have five digits (the kernel's ephemeral range),
so the random cuts of test_4 stay those of MASKD_TORTURE_SEED.

The expected answer of each message is in EXPECT, from INDEX.md: RFC
4475's "expected" column, as it applies to a B2BUA's incoming leg that
is neither registrar nor proxy. Nothing here asserts speed.
"""
import os
import random
import re
import select
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
VIA_PORTS = (5060, 5050)    # the ports the messages' Vias name
UDP_WAIT_S = 1.5
SPACING_S = 0.1         # between two RFC 4475 messages (test_1, test_2)
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


# the top Via's sent-by: SIP/2.0/<transport> host[:port]
SENT_BY = re.compile(rb"(SIP\s*/\s*[0-9.]+\s*/\s*([A-Za-z]+)\s+"
                     rb"(?:\[[^\]]*\]|[^\s;,:\[]+))(:(\d+))?")


def via_ports(raw, ports):
    """@raw with its top Via's sent-by port mapped by @ports ({5060: p,
    5050: q}): a port written there, or UDP/TCP's default 5060 when none
    is. Only that port changes; a message without a Via is unchanged."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        head_end = len(raw)
    pos = 0
    while pos < head_end:
        eol = raw.find(b"\r\n", pos)
        if eol < 0 or eol > head_end:
            eol = head_end
        line = raw[pos:eol]
        name, sep, _ = line.partition(b":")
        if sep and name.strip().lower() in (b"via", b"v"):
            m = SENT_BY.search(line)
            if not m:
                return raw
            if m.group(4) is not None:
                port = int(m.group(4))
            elif m.group(2).upper() in (b"UDP", b"TCP"):
                port = 5060
            else:
                return raw
            if port not in ports:
                return raw
            new = m.group(1) + b":%d" % ports[port]
            return (raw[:pos] + line[:m.start()] + new + line[m.end():]
                    + raw[eol:])
        pos = eol + 2
    return raw


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
                # as test_sip.Maskd: admission is test_overload's
                "overload_lag_ms = 1000\n"
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
        # the sender (and the Vias' 5060) and the Vias' 5050: free ports
        cls.udp = []
        for _ in VIA_PORTS:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((SRC_IP, 0))
            cls.udp.append(s)
        cls.ports = {via: s.getsockname()[1]
                     for via, s in zip(VIA_PORTS, cls.udp)}
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

    def read(self, name, ports=None):
        """The message of @name, its top Via naming our ports (@ports,
        or the class's sockets')."""
        with open(os.path.join(self.dir, name), "rb") as f:
            return via_ports(f.read(), ports or self.ports)

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

    def send_all(self, transport):
        """Every RFC 4475 message, in order, SPACING_S apart, each from a
        source of its own: over UDP a socket pair on SRC_IP (the sender,
        the Vias' 5060, and the Vias' 5050: via_ports()), over TCP one
        connection. Returns {name: (everything that source got, what
        it got within UDP_WAIT_S / TCP_WAIT_S of the send)}.

        Each message's answers are thus its own (and filtered by its
        Call-ID as well) and no message waits for the one before: a UDP
        source keeps listening until UDP_WAIT_S after the last send, at
        least as long as when each message had UDP_WAIT_S to itself; a
        TCP connection is read until TCP_WAIT_S after its send or until
        maskd closes it, as ever."""
        wait = UDP_WAIT_S if transport == "udp" else TCP_WAIT_S
        dst = ("127.0.0.1", self.maskd.sip_port)
        got = {n: [] for n in self.files}      # [(time, data)]
        sent_at = {}
        owner = {}                              # socket -> name
        closes = {}                             # TCP: socket -> deadline
        todo = list(self.files)
        t0 = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if todo and now >= t0 + SPACING_S * len(sent_at):
                    name = todo.pop(0)
                    sent_at[name] = now
                    if transport == "udp":
                        pair = []
                        for _ in VIA_PORTS:
                            u = socket.socket(socket.AF_INET,
                                              socket.SOCK_DGRAM)
                            u.bind((SRC_IP, 0))
                            owner[u] = name
                            pair.append(u)
                        ports = {v: u.getsockname()[1]
                                 for v, u in zip(VIA_PORTS, pair)}
                        pair[0].sendto(self.read(name, ports), dst)
                    else:
                        c = socket.socket(socket.AF_INET,
                                          socket.SOCK_STREAM)
                        owner[c] = name
                        c.bind((SRC_IP, 0))
                        c.settimeout(10)
                        c.connect(dst)
                        c.sendall(self.read(name))
                        closes[c] = now + wait
                    continue
                if transport == "tcp":
                    for c in [c for c, d in closes.items() if now >= d]:
                        del closes[c]
                        c.close()
                    if not todo and not closes:
                        break
                    end = min([todo and t0 + SPACING_S * len(sent_at)
                               or now + wait] + list(closes.values()))
                    socks = list(closes)
                else:
                    if not todo and now >= max(sent_at.values()) + wait:
                        break
                    end = (t0 + SPACING_S * len(sent_at) if todo
                           else max(sent_at.values()) + wait)
                    socks = [u for u in owner if u.fileno() >= 0]
                timeout = max(0.0, min(end - now, 0.05))
                ready = select.select(socks, [], [], timeout)[0] \
                    if socks else time.sleep(timeout) or []
                for r in ready:
                    name = owner[r]
                    try:
                        data = r.recv(70000)
                    except OSError:
                        data = b""
                    if data:
                        got[name].append((time.monotonic(), data))
                    elif transport == "tcp":
                        del closes[r]   # maskd closed: framing lost
                        r.close()
        finally:
            for sock in owner:
                sock.close()
        out = {}
        for name in self.files:
            arrivals = got[name]
            if transport == "tcp":
                # one connection: the stream, in order, as one piece
                stream = b"".join(d for _, d in arrivals)
                early = [stream] if stream else []
                out[name] = (early, early)
            else:
                out[name] = ([d for _, d in arrivals],
                             [d for t, d in arrivals
                              if t - sent_at[name] <= wait])
        return out

    def check(self, name, transport, got, early=None):
        """@got: every answer the source of @name got; @early, those
        within the wait after its send (default: all): a valid request
        must be answered there."""
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
            early = got if early is None else early
            self.assertTrue(finals(early, call_id(raw)),
                            "no answer within %s s: %s"
                            % (UDP_WAIT_S if transport == "udp"
                               else TCP_WAIT_S, where))

    def test_1_rfc4475_udp(self):
        self.assertEqual(len(self.files), 49)
        self.assertEqual(set(self.files), set(EXPECT))
        answers = self.send_all("udp")
        for name in self.files:
            with self.subTest(name=name):
                self.check(name, "udp", *answers[name])
        self.assert_alive("RFC 4475 over UDP")

    def test_2_rfc4475_tcp(self):
        # the same Call-IDs and branches as over UDP: let those server
        # transactions end first, or nta takes these for retransmissions
        time.sleep(TRANSACTION_S * 1.5)
        answers = self.send_all("tcp")
        for name in self.files:
            with self.subTest(name=name):
                self.check(name, "tcp", *answers[name])
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
        """Every message 20 times, back to back, from one socket. Those
        whose Via names another transport or a host name are in it too
        (scalar02.dat: TCP, host129.example.com): maskd answers the
        source, never a name, so none of them costs a DNS lookup on the
        SIP thread (ViaNoDns below has the details)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((BURST_IP, 0))
        # the answers that go to a Via's port come to this socket too
        # (and are not read): none goes to a port someone else may hold
        port = s.getsockname()[1]
        burst = [via_ports(self.read(n), {p: port for p in
                                          self.ports.values()})
                 for n in self.files]
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
               b"Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-after-1\r\n"
               b"From: <sip:probe@%s>;tag=a1\r\nTo: <sip:127.0.0.1>\r\n"
               b"Call-ID: after-1@torture\r\nCSeq: 1 OPTIONS\r\n"
               b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
               % (SRC_IP.encode(), self.ports[5060], SRC_IP.encode()))
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


VIA_IP = "127.0.0.12"
BURST_N = 20
BURST_BOUND_S = 5   # the burst below would take >= BURST_N * 5 s if any
                    # message in it cost a lookup with no resolver up


class ViaNoDns(unittest.TestCase):
    """Where maskd answers: the address and port a request came from
    (RFC 3581 rport, forced), never a name or address its Via gives, so
    that no request can make the SIP thread resolve a name.

    sofia-sip sends a response where the top Via says (maddr, else
    received, else sent-by) and resolves a name there with a blocking
    getaddrinfo(); on the paths where nta answers statelessly (a request
    its parser refuses, another SIP version) it never adds received=.
    One scalar02.dat (bad CSeq, TCP Via naming host129.example.com,
    sent over UDP) thus stalled every call for the resolver's timeout.

    Each case below is answered at a socket of ours only when maskd
    answers the source: without the fix its answer went to a name (a
    lookup, then wherever the name pointed) or to the Via's port. The
    burst then bounds the time an OPTIONS waits behind 20 of each: with
    no resolver answering, one lookup alone took 5 s or more."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-via-")
        cls.maskd = TortureMaskd(cls.tmp).start()
        cls.dir = os.path.join(ts.ARGS.source_dir, "tests", "torture",
                               "rfc4475")
        cls._failed = False
        cls.seq = 0

    @classmethod
    def tearDownClass(cls):
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

    def setUp(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((VIA_IP, 0))
        self.port = self.sock.getsockname()[1]

    def tearDown(self):
        self.sock.close()

    def next_id(self):
        type(self).seq += 1
        return "%d-%d" % (os.getpid(), self.seq)

    def options(self, via, cid, version=b"SIP/2.0", end=b"\r\n"):
        return (b"OPTIONS sip:127.0.0.1 %s\r\nVia: %s\r\n"
                b"From: <sip:probe@%s>;tag=v1\r\nTo: <sip:127.0.0.1>\r\n"
                b"Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                b"Content-Length: 0\r\n%s"
                % (version, via, VIA_IP.encode(), cid, end))

    def answers(self, data, cid, wait=UDP_WAIT_S):
        """Send @data from our socket; the final codes for @cid that come
        back to it: the first, or none within @wait."""
        self.sock.sendto(data, ("127.0.0.1", self.maskd.sip_port))
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                fin = finals([self.sock.recvfrom(70000)[0]], cid)
            except socket.timeout:
                break
            if fin:
                return fin
        return []

    def scalar02(self, port=None):
        with open(os.path.join(self.dir, "scalar02.dat"), "rb") as f:
            raw = f.read()
        if port:
            # the same message with our port as the Via's sent-by port:
            # nta answers a Via naming another transport there
            raw = raw.replace(b"host129.example.com;",
                              b"host129.example.com:%d;" % port, 1)
        return raw

    def test_scalar02_answered_at_source(self):
        """scalar02.dat, over UDP: its 400 comes back to the sender's
        address (to the Via's port: nta ignores rport for a Via naming
        another transport) instead of going to host129.example.com."""
        raw = self.scalar02(self.port)
        fin = self.answers(raw, call_id(raw))
        self.assertEqual(fin, [400], self.maskd.diagnostics())

    def test_maddr_ignored(self):
        """A Via maddr naming a host: answered at the source all the
        same."""
        cid = b"maddr-" + self.next_id().encode()
        via = (b"SIP/2.0/UDP %s:%d;maddr=maddr.example.com;branch=z9hG4bK-%s"
               % (VIA_IP.encode(), self.port, cid))
        self.assertEqual(self.answers(self.options(via, cid), cid), [200])

    def test_sent_by_elsewhere(self):
        """A Via naming another address and port, no rport: answered at
        the source address and port all the same."""
        cid = b"else-" + self.next_id().encode()
        via = b"SIP/2.0/UDP 127.0.0.99:5999;branch=z9hG4bK-%s" % cid
        self.assertEqual(self.answers(self.options(via, cid), cid), [200])

    def test_version_no_separator(self):
        """Another SIP version (505, stateless), with a host name in its
        Via and no empty line after the headers: answered at the
        source."""
        cid = b"vers-" + self.next_id().encode()
        via = b"SIP/2.0/UDP host134.example.com;branch=z9hG4bK-%s" % cid
        data = self.options(via, cid, version=b"SIP/7.0", end=b"")
        self.assertEqual(self.answers(data, cid), [505])

    def test_burst_then_options(self):
        """20 of each of the above, then an OPTIONS: answered within
        BURST_BOUND_S, a small part of what 20 lookups would take."""
        cid = b"burst-" + self.next_id().encode()
        burst = [self.scalar02(),
                 self.options(b"SIP/2.0/UDP %s:%d;maddr=maddr.example.com;"
                              b"branch=z9hG4bK-%s-m" % (VIA_IP.encode(),
                                                        self.port, cid),
                              cid + b"-m"),
                 self.options(b"SIP/2.0/UDP host134.example.com;"
                              b"branch=z9hG4bK-%s-v" % cid, cid + b"-v",
                              version=b"SIP/7.0", end=b"")]
        ping = self.options(b"SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-%s"
                            % (VIA_IP.encode(), self.port, cid), cid)
        t0 = time.monotonic()
        for _ in range(BURST_N):
            for raw in burst:
                self.sock.sendto(raw, ("127.0.0.1", self.maskd.sip_port))
        fin = self.answers(ping, cid, wait=60)
        took = time.monotonic() - t0
        self.assertIn(200, fin, self.maskd.diagnostics())
        self.assertLess(took, BURST_BOUND_S,
                        "the SIP thread was held up %.1f s" % took)
        print("\n%d messages, then OPTIONS answered in %.2f s"
              % (BURST_N * len(burst), took))


if __name__ == "__main__":
    ts.main(globals())
