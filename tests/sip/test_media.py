#!/usr/bin/env python3
"""test_media.py - the media relay wired into calls, end to end.

Run by ctest as:
    python3 tests/sip/test_media.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k hold).

SIPp does the signalling (sipp-scenarios/media_*.xml, through test_sip.py's
harness: party A on 127.0.0.2, maskd on 127.0.0.1, the gateway, party B, on
127.0.0.3) and small RTP peers in this file do the media: each party's SDP
names the port where its peer listens (RTP, RTCP one above), and each
scenario writes the relay port maskd's SDP gave it into a file the peer
waits for before it sends. The peers send known packets - PCMU audio
with distinct payloads, sequence numbers and timestamps, RFC 4733
telephone-events (payload type 101), RTCP sender reports - and record what
arrives and from where. Checked: every packet arrives byte for byte (so
payload, sequence number, timestamp, SSRC and marker are all intact) and
from maskd's relay port facing that party; every SDP a party receives
names only maskd; hold/resume, a party behind NAT, the RTP timeout, an
exhausted port range (503), SDP maskd cannot rewrite (488), the CDR's
media counters, and that every way a call ends gives its ports back
(/metrics).

Python 3 standard library and SIPp only; loopback only. Nothing here
asserts speed: every wait is bounded and generous.
"""
import datetime
import os
import random
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402  (its harness: Maskd, Sipp, SipBase)

A_IP = ts.A_IP
GW_IP = ts.GW_IP
MASKD_IP = "127.0.0.1"
PT_PCMU = 0
PT_EVENT = 101
PACKET_MS = 20
WAIT_S = 30             # for a file, a counter, a CDR


# ---- RTP and RTCP packets ----------------------------------------------

def rtp_packet(pt, seq, ts_, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt,
                       seq & 0xffff, ts_ & 0xffffffff, ssrc) + payload


def rtp_fields(data):
    """(payload type, marker, seq, timestamp, ssrc, payload)."""
    b0, b1, seq, ts_, ssrc = struct.unpack("!BBHII", data[:12])
    return b1 & 0x7f, bool(b1 & 0x80), seq, ts_, ssrc, data[12:]


def rtcp_sr(ssrc, n):
    """A sender report (RFC 3550 6.4.1), no report blocks; n makes it
    unique."""
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 0x83aa7e80 + n,
                       n * 1000, n * 160, n, n * 160)


class Stream:
    """What one party sends: 20 ms of PCMU per packet, with a DTMF digit
    (RFC 4733: a marked start, growing durations, three end packets, one
    timestamp) every @dtmf_every packets. Each packet differs from every
    other in its payload, sequence number and timestamp."""

    def __init__(self, dtmf_every=40):
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.n = 0
        self.dtmf_every = dtmf_every
        self.pending = []

    def next(self):
        if not self.pending:
            self.n += 1
            if self.dtmf_every and self.n % self.dtmf_every == 0:
                self.pending = self._digit(self.n // self.dtmf_every % 16)
            else:
                fill = bytes(((self.n * 31 + i * 7) ^ self.ssrc) & 0xff
                             for i in range(160))
                self.pending = [(PT_PCMU, False, fill, 160)]
        pt, marker, payload, step = self.pending.pop(0)
        pkt = rtp_packet(pt, self.seq, self.ts, self.ssrc, payload, marker)
        self.seq += 1
        self.ts += step
        return pkt

    @staticmethod
    def _digit(event):
        out = []
        # the event's packets share its start timestamp (step 0); the
        # last end packet moves the clock past the event
        for k in range(1, 5):
            out.append((PT_EVENT, k == 1,
                        struct.pack("!BBH", event, 10, 160 * k), 0))
        for k in range(3):
            out.append((PT_EVENT, False,
                        struct.pack("!BBH", event, 0x80 | 10, 640),
                        640 if k == 2 else 0))
        return out


class Peer:
    """One party's media: an RTP and an RTCP socket where its SDP says,
    optionally a third socket it sends RTP from (a NAT that moved the
    port). Records every datagram that arrives: (bytes, source, time)."""

    def __init__(self, ip, nat=False):
        self.ip = ip
        self.rtp, self.rtcp = self._bind_pair(ip)
        self.port = self.rtp.getsockname()[1]
        self.nat = self._bind(ip, 0) if nat else None
        self.got = {"rtp": [], "rtcp": [], "nat": []}
        self.sent_rtp = []      # (bytes, time)
        self.sent_rtcp = []
        self._stop = threading.Event()
        self._send_stop = threading.Event()
        self._rx = threading.Thread(target=self._receive, daemon=True)
        self._tx = None
        self._rx.start()

    @staticmethod
    def _bind(ip, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            s.bind((ip, port))
        except OSError:
            s.close()
            raise
        return s

    @classmethod
    def _bind_pair(cls, ip):
        """RTP and RTCP sockets on an even port P and P + 1 of @ip,
        bound as they are found: a pair found free, closed and bound
        again later can be taken in between by any socket on the
        machine (a CI run lost a test_sip_pin peer's port so)."""
        for _ in range(200):
            a = cls._bind(ip, 0)
            p = a.getsockname()[1]
            if p % 2 == 0 and p < 65535:
                try:
                    return a, cls._bind(ip, p + 1)
                except OSError:
                    pass
            a.close()
        raise AssertionError("no free port pair on " + ip)

    def _receive(self):
        socks = {self.rtp: "rtp", self.rtcp: "rtcp"}
        if self.nat:
            socks[self.nat] = "nat"
        while not self._stop.is_set():
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for s in ready:
                data, src = s.recvfrom(4096)
                self.got[socks[s]].append((data, src, time.time()))

    def send(self, relay_port, stream, count=None, rtcp_every=25):
        """Send @stream to maskd's @relay_port (RTCP to the port above),
        one packet every 20 ms, @count packets or until stop_sending()."""
        def run():
            out = self.nat or self.rtp
            t0 = time.monotonic()
            k = 0
            while not self._send_stop.is_set() and (count is None or
                                                     k < count):
                pkt = stream.next()
                out.sendto(pkt, (MASKD_IP, relay_port))
                self.sent_rtp.append((pkt, time.time()))
                k += 1
                if rtcp_every and k % rtcp_every == 0:
                    sr = rtcp_sr(stream.ssrc, k // rtcp_every)
                    self.rtcp.sendto(sr, (MASKD_IP, relay_port + 1))
                    self.sent_rtcp.append((sr, time.time()))
                delay = t0 + k * PACKET_MS / 1000.0 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        self._tx = threading.Thread(target=run, daemon=True)
        self._tx.start()

    def stop_sending(self, timeout=WAIT_S):
        self._send_stop.set()
        if self._tx:
            self._tx.join(timeout)

    def wait_sent(self, timeout=WAIT_S):
        if self._tx:
            self._tx.join(timeout)

    def close(self):
        self.stop_sending()
        self._stop.set()
        self._rx.join(WAIT_S)
        for s in (self.rtp, self.rtcp, self.nat):
            if s:
                s.close()


def even_port_pair(ip):
    """An even port P on @ip with P and P + 1 free for UDP."""
    for _ in range(200):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            a.bind((ip, 0))
            p = a.getsockname()[1]
            if p % 2 or p >= 65535:
                continue
            try:
                b.bind((ip, p + 1))
            except OSError:
                continue
            return p
        finally:
            a.close()
            b.close()
    raise AssertionError("no free port pair on " + ip)


def bound_even(ip):
    """A UDP socket bound to an even port P on @ip, P + 1 free when
    looked at. The socket holds P from its first bind: a suite running
    beside this one cannot take it between a look and a bind, as it
    could with even_port_pair()'s number."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 0))
        p = s.getsockname()[1]
        if p % 2 == 0 and p < 65535:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.bind((ip, p + 1))
                return s
            except OSError:
                pass
            finally:
                probe.close()
        s.close()
    raise AssertionError("no free port pair on " + ip)


def api_time(text):
    """The API's "2026-11-22T01:02:03.456Z" as seconds since the epoch."""
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def wait_file(path, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    return None


# ---- maskd with a relay the tests control -------------------------------

class MediaMaskd(ts.Maskd):
    """test_sip's maskd, with an [rtp] section: its own port range
    (below the kernel's ephemeral ports, where the peers' ports come
    from), a timeout, and the advertised address."""

    def __init__(self, tmp, port_min, port_max, timeout_s=30,
                 ring_timeout_s=10, advertise=MASKD_IP, bind=""):
        super().__init__(tmp)
        self.port_min = port_min
        self.port_max = port_max
        self.timeout_s = timeout_s
        self.ring_timeout_s = ring_timeout_s
        self.advertise = advertise
        self.bind = bind

    def write_config(self):
        with open(self.conf_path, "w") as f:
            f.write(
                "[sip]\nlisten = 127.0.0.1:%d\ntransaction_timeout = 8000\n"
                # as test_sip.Maskd: admission is test_overload's
                "overload_lag_ms = 1000\n"
                "[trunk.carrier]\nsources = %s/32\n"
                "[gateway]\naddress = %s:%d\ntransport = udp\n"
                "[rtp]\nport_min = %d\nport_max = %d\nadvertise = %s\n"
                "bind = %s\nworkers = 2\ntimeout = %d\nhold_timeout = %d\n"
                "[store]\npath = %s\nmap_size = 64M\n"
                "[api]\nlisten = 127.0.0.1:%d\ntokens = %s\n"
                "[session]\nring_timeout = %d\n"
                "[log]\nlevel = debug\nfile = %s\n"
                % (self.sip_port, A_IP, GW_IP, self.gw_port,
                   self.port_min, self.port_max, self.advertise, self.bind,
                   self.timeout_s, self.timeout_s * 3,
                   os.path.join(self.dir, "db"), self.api_port, ts.TOKEN,
                   self.ring_timeout_s, self.log_path))


RANGE_SLOT = 200        # ports per slot of 20000..29999
RANGE_SLOTS = 50        # (30000.. is maskd's default range, which the
                        # suites that set none bind)
_claims = []            # the slots this process holds, until it exits


def port_range(n_ports):
    """A range of @n_ports ports from an even one, in 20000..29999 (below
    the kernel's ephemeral ports, where the peers' ports come from) that
    no other maskd of a test holds: the range is cut into slots of
    RANGE_SLOT ports (tests/media/test_relay.c claims five in a row the
    same way), and this process claims the slots it needs, in a row, by
    binding an abstract socket named after each, for as long as it runs.
    So classes running at once (ClassRunner), parallel ctest and two
    checkouts testing at once never share a port of a relay range. A
    one-slot claim takes the lowest free slot, a longer one the highest
    free row: single slots pack at one end and leave the long claims
    (the cluster suites' nodes: test_front's FrontFailover wants two
    rows of 6) their rows at the other. (Single slots taken at random
    once left no row of 6 free among 50 slots in a CI run.)"""
    need = -(-n_ports // RANGE_SLOT)
    total = RANGE_SLOTS
    if need > total:
        raise AssertionError("port_range: %d ports" % n_ports)
    firsts = list(range(total - need + 1))
    if need > 1:
        firsts.reverse()
    for k in firsts:
        held = []
        for j in range(k, k + need):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                s.bind("\0maskd-test-rtp-range-%d" % j)
            except OSError:
                s.close()
                break
            held.append(s)
        if len(held) < need:
            for s in held:
                s.close()
            continue
        _claims.extend(held)
        base = 20000 + RANGE_SLOT * k
        return base, base + n_ports - 1
    raise AssertionError("no free RTP port range slot (%d ports wanted, "
                         "%d slots of %d)" % (n_ports, total, RANGE_SLOT))


def own_rtp_range(maskd, n_ports):
    """Append an [rtp] section with a relay range of its own to @maskd's
    config (claimed once by port_range(), kept in maskd.rtp_range, so a
    restart rewrites the same range): the default range is shared with
    every suite that sets none, and a port another maskd holds there is a
    503 here."""
    if not hasattr(maskd, "rtp_range"):
        maskd.rtp_range = port_range(n_ports)
    with open(maskd.conf_path, "a") as f:
        f.write("[rtp]\nport_min = %d\nport_max = %d\n" % maskd.rtp_range)


class MediaBase(ts.SipBase):
    """One maskd per class (see make_maskd); calls with RTP peers."""
    N_PORTS = 200
    TIMEOUT_S = 30

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = port_range(cls.N_PORTS)
        return MediaMaskd(tmp, lo, hi, timeout_s=cls.TIMEOUT_S)

    @classmethod
    def setUpClass(cls):
        ts.ARGS = ARGS
        cls.tmp = tempfile.mkdtemp(prefix="maskd-media-")
        cls.maskd = cls.make_maskd(cls.tmp).start()

    def setUp(self):
        super().setUp()
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.close()
        super().tearDown()

    # -- helpers --

    def peer(self, ip, nat=False):
        p = Peer(ip, nat)
        self.peers.append(p)
        return p

    def media_call(self, uac_sf, uas_sf, d_ms=3000, nat=False, **session_kw):
        """Start a call whose parties have RTP peers; returns once both
        relay ports are known. The caller finishes it with finish()."""
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b, **session_kw)
        vn = s["virtual_number"]
        pa, pb = self.peer(A_IP, nat), self.peer(GW_IP)
        fa = os.path.join(self.run_dir, "a_relay_port")
        fb = os.path.join(self.run_dir, "b_relay_port")
        gw = self.uas(uas_sf, {"vn": vn, "callee": b, "mport": str(pb.port),
                               "rtp_file": fb}, d_ms=d_ms)
        ua = self.uac(uac_sf, vn, {"caller": a, "mport": str(pa.port),
                                   "rtp_file": fa}, d_ms=d_ms)
        rb = wait_file(fb)
        ra = wait_file(fa)
        if not ra or not rb:
            self.fail("no relay port from the scenarios (a=%r b=%r)\n%s\n%s"
                      % (ra, rb, "\n".join(r.report() for r in self.runs),
                         self.maskd.diagnostics()))
        call = {"session": s, "a": a, "b": b, "ua": ua, "gw": gw,
                "pa": pa, "pb": pb, "ra": int(ra), "rb": int(rb),
                "fa": fa, "fb": fb}
        self.check_relay_ports(call)
        return call

    def check_relay_ports(self, call):
        m = self.maskd
        for name in ("ra", "rb"):
            port = call[name]
            self.assertTrue(m.port_min <= port < m.port_max and port % 2 == 0,
                            "%s: relay port %d outside %d-%d"
                            % (name, port, m.port_min, m.port_max))
        self.assertNotEqual(call["ra"], call["rb"])

    def finish(self, call):
        self.expect_rc(call["ua"])
        self.expect_rc(call["gw"])
        self.assert_masked(call["ua"], call["gw"], call["a"], call["b"])
        self.check_sdp(call)

    def check_sdp(self, call):
        """Every SDP a party received names maskd and the relay port
        facing that party, never anything of the other party."""
        for run, port in ((call["ua"], call["ra"]), (call["gw"], call["rb"])):
            n = 0
            for msg in self.received(run):
                body = ts.body_of(msg)
                if "m=audio" not in body:
                    continue
                n += 1
                for addr in ts.sdp_addresses(msg):
                    self.assertEqual(addr, MASKD_IP, msg)
                self.assertIn("m=audio %d RTP/AVP 0 101" % port, body, msg)
                self.assertIn("a=rtpmap:101 telephone-event/8000", body)
                self.assertIn("a=fmtp:101 0-16", body)
                for line in body.splitlines():
                    if line.startswith("a=rtcp:"):
                        self.assertTrue(line.startswith(
                            "a=rtcp:%d IN IP4 %s" % (port + 1, MASKD_IP)),
                            line)
                for bad in (str(call["pa"].port), str(call["pb"].port)):
                    self.assertNotIn(" " + bad + " ", body, msg)
            self.assertGreater(n, 0, "%s received no SDP" % run.name)

    def check_flow(self, sender, receiver, relay_port, kind="rtp",
                   since=None, min_fraction=0.9):
        """What @receiver got on its @kind socket is exactly what @sender
        sent (byte for byte, every packet), from maskd's @relay_port (+1
        for RTCP); and most of what was sent (after @since) arrived."""
        sent = sender.sent_rtcp if kind == "rtcp" else sender.sent_rtp
        sent_set = {p for p, _ in sent}
        got = receiver.got[kind]
        want_src = (MASKD_IP, relay_port + (1 if kind == "rtcp" else 0))
        seen = set()
        for data, src, _ in got:
            self.assertEqual(src, want_src,
                             "%s packet from %r, want maskd %r"
                             % (kind, src, want_src))
            self.assertIn(data, sent_set, "%s packet altered or foreign: %r"
                          % (kind, data[:16]))
            self.assertNotIn(data, seen, "%s packet duplicated" % kind)
            seen.add(data)
        expect = [p for p, t in sent if since is None or t >= since]
        arrived = [p for p in expect if p in seen]
        self.assertGreater(len(expect), 0, "nothing sent (%s)" % kind)
        self.assertGreaterEqual(
            len(arrived), min_fraction * len(expect),
            "%s: %d of %d packets arrived" % (kind, len(arrived),
                                              len(expect)))
        return arrived

    def check_dtmf(self, sender, receiver):
        """Every telephone-event packet sent arrived, in order, intact."""
        events = [p for p, _ in sender.sent_rtp
                  if rtp_fields(p)[0] == PT_EVENT]
        self.assertGreater(len(events), 0, "no DTMF sent")
        got = [d for d, _, _ in receiver.got["rtp"]
               if rtp_fields(d)[0] == PT_EVENT]
        self.assertEqual(got, events)

    def wait_metric(self, name, want, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        m = {}
        while time.monotonic() < deadline:
            m = self.maskd.metrics()
            if m.get(name) == want:
                return m
            time.sleep(0.1)
        self.fail("%s is %r, want %r" % (name, m.get(name), want))

    def wait_pool_full(self):
        m = self.wait_metric("maskd_relay_ports_in_use", 0)
        self.assertEqual(m.get("maskd_relay_calls_live"), 0, m)
        self.assertEqual(m.get("maskd_relay_ports_free"),
                         m.get("maskd_relay_ports_total"), m)
        return m

    def cdr(self, sid):
        calls = self.wait_cdrs(sid)
        self.assertIsNotNone(calls, "no /v1/sessions/{id}/calls")
        return calls[-1]

    def check_counters(self, cdr, sender, receiver, key):
        """The CDR's packets/bytes for one direction: at least what
        arrived, at most what was sent (RTP and RTCP together)."""
        got = receiver.got["rtp"] + receiver.got["rtcp"] + \
            receiver.got["nat"]
        sent = sender.sent_rtp + sender.sent_rtcp
        pk = cdr["media"]["packets_" + key]
        by = cdr["media"]["bytes_" + key]
        self.assertGreater(pk, 0, cdr)
        self.assertGreaterEqual(pk, len(got), cdr)
        self.assertLessEqual(pk, len(sent), cdr)
        self.assertGreaterEqual(by, sum(len(d) for d, _, _ in got), cdr)
        self.assertLessEqual(by, sum(len(d) for d, _ in sent), cdr)


class MediaFlows(MediaBase):
    """Two-way media through maskd's relay in the call flows of issue 4."""

    def test_two_way_audio_dtmf_rtcp(self):
        c = self.media_call("media_uac.xml", "media_uas.xml", d_ms=4000)
        sa, sb = Stream(), Stream()
        c["pa"].send(c["ra"], sa, count=100)
        c["pb"].send(c["rb"], sb, count=100)
        c["pa"].wait_sent()
        c["pb"].wait_sent()
        time.sleep(0.3)         # the last packets' way through maskd
        self.finish(c)

        self.check_flow(c["pa"], c["pb"], c["rb"])
        self.check_flow(c["pb"], c["pa"], c["ra"])
        self.check_flow(c["pa"], c["pb"], c["rb"], kind="rtcp")
        self.check_flow(c["pb"], c["pa"], c["ra"], kind="rtcp")
        self.check_dtmf(c["pa"], c["pb"])
        self.check_dtmf(c["pb"], c["pa"])

        cdr = self.cdr(c["session"]["id"])
        self.assertEqual(cdr["reason"], "normal", cdr)
        self.check_counters(cdr, c["pa"], c["pb"], "a_to_b")
        self.check_counters(cdr, c["pb"], c["pa"], "b_to_a")
        self.wait_pool_full()

    def test_late_offer_answer_in_ack(self):
        # no SDP in the INVITE: B offers in its 200, A answers in its ACK;
        # both are rewritten and both tell the relay where to send
        c = self.media_call("media_late_uac.xml", "media_late_uas.xml",
                            d_ms=3000)
        c["pa"].send(c["ra"], Stream(), count=60)
        c["pb"].send(c["rb"], Stream(), count=60)
        c["pa"].wait_sent()
        c["pb"].wait_sent()
        time.sleep(0.3)
        self.finish(c)
        invite = [m for m in self.received(c["gw"])
                  if m.startswith("INVITE")][0]
        self.assertNotIn("m=audio", invite)
        ack = [m for m in self.received(c["gw"]) if m.startswith("ACK")][0]
        self.assertIn("m=audio %d " % c["rb"], ack)
        self.check_flow(c["pa"], c["pb"], c["rb"])
        self.check_flow(c["pb"], c["pa"], c["ra"])
        self.check_dtmf(c["pa"], c["pb"])
        self.wait_pool_full()

    def test_callback_counters_name_the_parties(self):
        # party_b calls party_a: the CDR's a_to_b still means party_a's
        # packets, which come from the callee here
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(b, a)      # the caller is party_b
        vn = s["virtual_number"]
        pa, pb = self.peer(A_IP), self.peer(GW_IP)
        fa = os.path.join(self.run_dir, "a_relay_port")
        fb = os.path.join(self.run_dir, "b_relay_port")
        gw = self.uas("media_uas.xml", {"vn": vn, "callee": b,
                                        "mport": str(pb.port),
                                        "rtp_file": fb}, d_ms=3000)
        ua = self.uac("media_uac.xml", vn, {"caller": a,
                                            "mport": str(pa.port),
                                            "rtp_file": fa}, d_ms=3000)
        ra, rb = wait_file(fa), wait_file(fb)
        self.assertTrue(ra and rb)
        pa.send(int(ra), Stream(0), count=20)   # caller: party_b
        pb.send(int(rb), Stream(0), count=60)   # callee: party_a
        pa.wait_sent()
        pb.wait_sent()
        time.sleep(0.3)
        self.expect_rc(ua)
        self.expect_rc(gw)
        cdr = self.cdr(s["id"])
        self.assertEqual(cdr["direction"], "b_to_a", cdr)
        # party_a is the callee (pb), party_b the caller (pa)
        self.check_counters(cdr, pb, pa, "a_to_b")
        self.check_counters(cdr, pa, pb, "b_to_a")
        self.assertGreater(cdr["media"]["packets_a_to_b"],
                           cdr["media"]["packets_b_to_a"], cdr)

    def test_hold_resume_keeps_media(self):
        c = self.media_call("media_hold_uac.xml", "media_hold_uas.xml",
                            d_ms=1500)
        c["pa"].send(c["ra"], Stream())
        c["pb"].send(c["rb"], Stream())
        resumed = wait_file(c["fa"] + ".resumed")
        self.assertIsNotNone(resumed, "the hold was never resumed")
        mark = os.stat(c["fa"] + ".resumed").st_mtime
        time.sleep(1.2)         # media after the resume, before the BYE
        c["pa"].stop_sending()
        c["pb"].stop_sending()
        time.sleep(0.3)
        self.finish(c)
        self.assertEqual(int(resumed), c["ra"], "relay port changed")

        # media kept flowing after the resume, both ways, intact
        self.check_flow(c["pa"], c["pb"], c["rb"], since=mark)
        self.check_flow(c["pb"], c["pa"], c["ra"], since=mark)
        # ... and the held SDP crossed as hold
        held = [m for m in self.received(c["gw"])
                if "a=sendonly" in ts.body_of(m)]
        self.assertTrue(held, "B never saw a=sendonly")
        self.assertIn("c=IN IP4 %s" % MASKD_IP, ts.body_of(held[0]))
        cdr = self.cdr(c["session"]["id"])
        self.assertEqual(cdr["reason"], "normal", cdr)
        self.wait_pool_full()

    def test_nat_party_latched(self):
        # A's packets come from another port than its SDP names: maskd
        # must send B's media where A's packets come from
        c = self.media_call("media_uac.xml", "media_uas.xml", d_ms=4000,
                            nat=True)
        pa, pb = c["pa"], c["pb"]
        pa.send(c["ra"], Stream(), count=100)
        time.sleep(0.3)         # A speaks first: the relay latches
        start = time.time()
        pb.send(c["rb"], Stream(), count=80)
        pa.wait_sent()
        pb.wait_sent()
        time.sleep(0.3)
        self.finish(c)

        self.check_flow(pa, pb, c["rb"])
        # B -> A arrives at A's NAT port, from the relay port facing A
        got = pa.got["nat"]
        self.assertTrue(got, "nothing reached A behind its NAT")
        want = {p for p, t in pb.sent_rtp if t >= start}
        for data, src, _ in got:
            self.assertEqual(src, (MASKD_IP, c["ra"]))
            self.assertIn(data, want)
        self.assertGreaterEqual(len(got), 0.9 * len(want))
        self.assertEqual(pa.got["rtp"], [],
                         "media went to the SDP port after the latch")
        cdr = self.cdr(c["session"]["id"])
        self.check_counters(cdr, pb, pa, "b_to_a")
        self.wait_pool_full()

    def test_bad_sdp_488(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        before = self.maskd.metrics().get("maskd_sip_bad_sdp_total", 0)
        gw = ts.Sipp(self, "uas", "basic_uas.xml", GW_IP,
                     ["-key", "vn", s["virtual_number"], "-key", "callee",
                      b, "-timeout", "4s"], port=self.maskd.gw_port,
                     media_ip=GW_IP)
        self.runs.append(gw)
        ts.wait_listening(GW_IP, self.maskd.gw_port)
        ua = self.uac("media_bad_sdp_uac.xml", s["virtual_number"],
                      {"caller": a, "mport": "4000"})
        self.expect_rc(ua)
        gw.wait()
        self.assertEqual(self.received(gw), [], gw.report())
        m = self.wait_pool_full()
        self.assertGreater(m.get("maskd_sip_bad_sdp_total", 0), before)


class MediaPool(MediaBase):
    """Every relay port comes back, however calls end: a class of its own
    (its own maskd and port range) so its few hundred calls in a row run
    while MediaFlows does (test_sip's ClassRunner)."""

    def test_pool_full_after_every_ending(self):
        """Calls ended every way SIP ends them, then many in a row: every
        relay port is back."""
        # BYE from the caller, from the callee, CANCEL, a failure, the
        # ring timeout, the call time limit: test_sip's scenarios
        flows = [
            ("basic_uac.xml", "basic_uas.xml", {}, {}, {}),
            ("callee_bye_uac.xml", "callee_bye_uas.xml", {}, {}, {}),
            ("cancel_uac.xml", "cancel_uas.xml", {}, {}, {}),
            ("reject_uac.xml", "reject_uas.xml", {"code": "486"},
             {"code": "486"}, {}),
            ("callee_bye_uac.xml", "basic_uas.xml", {}, {},
             {"call_time_limit": 2}),
        ]
        for uac_sf, uas_sf, uas_keys, uac_keys, kw in flows:
            self.runs = []
            self.call_pair(uac_sf, uas_sf, uas_keys=uas_keys,
                           uac_keys=uac_keys, **kw)
            self.wait_pool_full()

        # and a few hundred in a row, caller and callee hanging up
        self.bulk("basic_uac.xml", "basic_uas.xml", 200)
        self.bulk("cancel_uac.xml", "cancel_uas.xml", 100)
        m = self.wait_pool_full()
        self.assertGreaterEqual(m.get("maskd_relay_calls_total", 0), 305)
        self.wait_metric("maskd_sip_calls_live", 0)

    def bulk(self, uac_sf, uas_sf, n):
        """@n calls of one session in a row (one at a time: a session
        has one call at a time), through one SIPp pair."""
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        common = ["-m", str(n), "-nostdin", "-timeout", "120s",
                  "-timeout_error", "-trace_err", "-max_recv_loops", "1000",
                  "-d", "0"]
        scen = os.path.join(ARGS.source_dir, "sipp-scenarios")
        out = open(os.path.join(self.run_dir, "bulk_%s.txt" % uac_sf), "wb")
        gw = subprocess.Popen(
            ["sipp", "-sf", os.path.join(scen, uas_sf), "-i", GW_IP, "-p",
             str(self.maskd.gw_port), "-mi", GW_IP, "-key", "vn", vn,
             "-key", "callee", b] + common,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=self.run_dir)
        ts.wait_listening(GW_IP, self.maskd.gw_port)
        ua = subprocess.Popen(
            ["sipp", "-sf", os.path.join(scen, uac_sf), "-i", A_IP, "-p",
             str(ts.free_port(host=A_IP)), "-mi", A_IP, "-s", vn, "-key",
             "caller", a, "-l", "1", "-r", "50"] + common +
            ["127.0.0.1:%d" % self.maskd.sip_port],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=self.run_dir)
        try:
            rc_a = ua.wait(300)
            rc_b = gw.wait(60)
        finally:
            for p in (ua, gw):
                if p.poll() is None:
                    p.kill()
                    p.wait()
            out.close()
        self.assertEqual((rc_a, rc_b), (0, 0), "bulk %s: see %s"
                         % (uac_sf, self.run_dir))


class MediaTimeout(MediaBase):
    """rtp.timeout = 2 s, and a range of two port pairs: one call."""
    N_PORTS = 4
    TIMEOUT_S = 2

    def test_media_keeps_call_up(self):
        # 4 s of media with a 2 s timeout: the call ends by its BYE
        c = self.media_call("media_uac.xml", "media_uas.xml", d_ms=4000)
        c["pa"].send(c["ra"], Stream(), count=200)
        c["pb"].send(c["rb"], Stream(), count=200)
        self.finish(c)
        cdr = self.cdr(c["session"]["id"])
        self.assertEqual(cdr["reason"], "normal", cdr)
        self.assertEqual(cdr["hangup_by"], "caller", cdr)
        self.wait_pool_full()

    def test_rtp_timeout_ends_call(self):
        before = self.maskd.metrics().get("maskd_sip_rtp_timeouts_total", 0)
        c = self.media_call("media_wait_bye_uac.xml", "media_uas.xml")
        c["pa"].send(c["ra"], Stream(), count=25)
        c["pb"].send(c["rb"], Stream(), count=25)
        c["pa"].wait_sent()
        c["pb"].wait_sent()
        stopped = time.time()
        # both SIPp parties get maskd's BYE (the scenarios wait for it)
        self.finish(c)
        cdr = self.cdr(c["session"]["id"])
        self.assertEqual(cdr["reason"], "rtp_timeout", cdr)
        self.assertEqual(cdr["hangup_by"], "maskd", cdr)
        self.assertEqual(cdr["final_code"], 200, cdr)
        self.check_counters(cdr, c["pa"], c["pb"], "a_to_b")
        self.check_counters(cdr, c["pb"], c["pa"], "b_to_a")
        bye_a = [m for m in self.received(c["ua"]) if m.startswith("BYE")]
        self.assertTrue(bye_a)
        # not before the timeout: the media had stopped for ~2 s
        self.assertGreater(api_time(cdr["ended_at"]), stopped + 1.0, cdr)
        m = self.wait_pool_full()
        self.assertGreater(m.get("maskd_sip_rtp_timeouts_total", 0), before)

    def test_exhausted_range_503(self):
        # the first call rings (its two pairs held, no SDP answer yet, so
        # no timeout); a second, concurrent one finds no ports
        before = self.maskd.metrics()
        a, b = ts.caller_number(), ts.callee_number()
        s1 = self.maskd.session(a, b)
        gw = self.uas("cancel_uas.xml", {"vn": s1["virtual_number"],
                                         "callee": b}, d_ms=500)
        first = self.uac("cancel_uac.xml", s1["virtual_number"],
                         {"caller": a}, d_ms=4000, name="first")
        self.wait_metric("maskd_relay_ports_in_use", 4)

        a2 = ts.caller_number()
        s2 = self.maskd.session(a2, ts.callee_number())
        second = self.uac("reject_uac.xml", s2["virtual_number"],
                          {"caller": a2, "code": "503"}, name="second")
        self.expect_rc(second)
        self.expect_rc(first)
        self.expect_rc(gw)
        invites = [m for m in self.received(gw) if m.startswith("INVITE")]
        self.assertEqual(len(invites), 1, "the refused call went on")

        m = self.wait_pool_full()
        self.assertGreater(m.get("maskd_sip_rejected_ports_total", 0),
                           before.get("maskd_sip_rejected_ports_total", 0))
        self.assertGreater(m.get("maskd_relay_calls_refused_total", 0),
                           before.get("maskd_relay_calls_refused_total", 0))
        # the range is whole again: the next call gets its ports
        self.runs = []
        self.call_pair("basic_uac.xml", "basic_uas.xml")
        self.wait_pool_full()


class MediaAdvertise(MediaBase):
    """rtp.advertise differs from rtp.bind (maskd behind 1:1 NAT): the SDP
    names the advertised address, the sockets sit on the bind address."""
    ADVERTISE = "127.0.0.66"

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = port_range(cls.N_PORTS)
        return MediaMaskd(tmp, lo, hi, advertise=cls.ADVERTISE,
                          bind=MASKD_IP)

    def test_sdp_names_advertised_address(self):
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml")
        for run in (ua, gw):
            sdps = [m for m in self.received(run) if "m=audio" in m]
            self.assertTrue(sdps)
            for msg in sdps:
                for addr in ts.sdp_addresses(msg):
                    self.assertEqual(addr, self.ADVERTISE, msg)
        self.wait_pool_full()

    def assert_sdp_maskd(self, m):
        for addr in ts.sdp_addresses(m):
            self.assertIn(addr, (self.ADVERTISE, "0.0.0.0"), m)


if __name__ == "__main__":
    ts.main(globals())
