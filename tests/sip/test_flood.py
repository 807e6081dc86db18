#!/usr/bin/env python3
"""
test_flood.py - flood control (issue 5, point 3) on a real maskd.

With [flood] rate = 20, window = 1, block = 30 and exempt_trunks = no
(trunks are exempt by default; with no, a carrier flooding is still a
flood): one source (127.0.0.5, a trunk) sends OPTIONS at ten times its
limit for a few seconds and is shut out - its later requests get no answer
(action = drop) - while a second trunk source (127.0.0.2) completes SIPp
calls through maskd all along, and a third (127.0.0.6, no trunk) gets
every OPTIONS answered. A scanner User-Agent is dropped silently. A
calls-per-second cap answers 503 with Retry-After; with action = 503 a
blocked source gets 503 too. Every refusal is on /metrics. With
exempt_trunks left at its default (yes), a trunk source at ten times the
limit is answered throughout while a source outside every trunk is cut off.

Uses test_sip.py's harness (Maskd, SIPp pairs). Loopback only; every
wait is bounded and nothing asserts speed: the figures are printed.
"""
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402

FLOODER_IP = ts.TRUSTED_IP      # 127.0.0.5, in [trunk.trusted]
BYSTANDER_IP = "127.0.0.6"
SCANNER_IP = "127.0.0.8"
CAPPED_IP = "127.0.0.7"
RATE = 20
FLOOD_S = 4


def options(ip, port, n, ua=None):
    ua_line = ("User-Agent: %s\r\n" % ua) if ua else ""
    return ("OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-fl-%s-%s\r\n"
            "From: <sip:probe@%s>;tag=f%s\r\nTo: <sip:127.0.0.1>\r\n"
            "Call-ID: fl-%s-%s@flood\r\nCSeq: 1 OPTIONS\r\n%s"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (ip, port, ip, n, ip, n, ip, n, ua_line)).encode()


def invite(ip, port, n, vn="+15550000001"):
    return ("INVITE sip:%s@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-cps-%d\r\n"
            "From: <sip:+12025550100@%s>;tag=c%d\r\nTo: <sip:%s@127.0.0.1>\r\n"
            "Call-ID: cps-%s-%d@flood\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:+12025550100@%s:%d>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (vn, ip, port, n, ip, n, vn, ip, n, ip, port)).encode()


class Client:
    """A UDP socket on @ip counting the answers by Call-ID."""

    def __init__(self, ip, maskd):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.ip, self.port = ip, self.sock.getsockname()[1]
        self.dst = ("127.0.0.1", maskd.sip_port)
        self.answers = {}       # Call-ID -> [raw responses]
        self.stop = False
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            cid = None
            for line in data.split(b"\r\n"):
                if line.lower().startswith((b"call-id:", b"i:")):
                    cid = line.split(b":", 1)[1].strip().decode()
            self.answers.setdefault(cid, []).append(data)

    def send(self, data):
        self.sock.sendto(data, self.dst)

    def finals(self, cid):
        return [int(r[8:11]) for r in self.answers.get(cid, [])
                if r.startswith(b"SIP/2.0 ") and r[8:9] != b"1"]

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


class FloodMaskd(ts.Maskd):
    extra = ("[flood]\nrate = %d\nwindow = 1\nblock = 30\naction = drop\n"
             "exempt_trunks = no\n" % RATE)

    def write_config(self):
        super().write_config()
        with open(self.conf_path, "a") as f:
            f.write(self.extra)


class CapMaskd(FloodMaskd):
    extra = ("[flood]\nrate = %d\nwindow = 1\nblock = 30\naction = 503\n"
             "exempt_trunks = no\n[trunk.capped]\nsources = %s/32\ncps = 1\n"
             % (RATE, CAPPED_IP))


class ExemptMaskd(FloodMaskd):
    """The same limit, exempt_trunks left at its default."""
    extra = ("[flood]\nrate = %d\nwindow = 1\nblock = 30\naction = drop\n"
             % RATE)


class FloodBase(ts.SipBase):
    maskd_class = FloodMaskd

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-flood-")
        cls.maskd = cls.maskd_class(cls.tmp).start()


class Flood(FloodBase):
    def test_flood_blocks_one_source_only(self):
        m = self.maskd
        flooder = Client(FLOODER_IP, m)
        bystander = Client(BYSTANDER_IP, m)
        sent = {"flooder": 0, "bystander": 0}
        stop = threading.Event()

        def flood():
            n = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < FLOOD_S:
                for _ in range(RATE):   # 10x the limit: 200/s
                    flooder.send(options(FLOODER_IP, flooder.port, n))
                    n += 1
                time.sleep(0.1)
            sent["flooder"] = n

        def bystand():
            n = 0
            while not stop.is_set():
                bystander.send(options(BYSTANDER_IP, bystander.port, n))
                n += 1
                time.sleep(0.1)   # 10/s: half the limit
            sent["bystander"] = n

        ft = threading.Thread(target=flood)
        bt = threading.Thread(target=bystand)
        ft.start()
        bt.start()
        # calls from the carrier trunk all along the flood
        calls = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < FLOOD_S or calls < 2:
            self.call_pair("basic_uac.xml", "basic_uas.xml", uac_d=200,
                           uas_d=200)
            calls += 1
        ft.join()
        # the flooder is still blocked (block = 30 s): nothing answered
        late = []
        for i in range(5):
            cid = "fl-%s-late%d@flood" % (FLOODER_IP, i)
            flooder.send(options(FLOODER_IP, flooder.port, "late%d" % i))
            late.append(cid)
            time.sleep(0.2)
        time.sleep(2)
        stop.set()
        bt.join()
        time.sleep(1)
        fl_answered = sum(1 for c, v in flooder.answers.items()
                          if c and v)
        by_answered = sum(1 for c, v in bystander.answers.items()
                          if c and v)
        late_answered = [c for c in late if flooder.answers.get(c)]
        metrics = m.metrics()
        flooder.close()
        bystander.close()
        print("\nflood figures: flooder %s sent %d OPTIONS in %d s, %d "
              "answered; bystander %s sent %d, %d answered; %d SIPp calls "
              "from %s all completed; flood_blocked %d"
              % (FLOODER_IP, sent["flooder"], FLOOD_S, fl_answered,
                 BYSTANDER_IP, sent["bystander"], by_answered, calls,
                 ts.A_IP, metrics.get("maskd_sip_flood_blocked_total", -1)))
        # the first window's worth is served, then nothing
        self.assertGreater(fl_answered, 0)
        self.assertLessEqual(fl_answered, RATE * 2)
        self.assertEqual(late_answered, [], "blocked source answered")
        self.assertEqual(by_answered, sent["bystander"],
                         "the bystander lost answers")
        self.assertGreaterEqual(metrics["maskd_sip_flood_blocked_total"],
                                sent["flooder"] - fl_answered)

    def test_scanner_dropped(self):
        m = self.maskd
        c = Client(SCANNER_IP, m)
        try:
            before = m.metrics().get("maskd_sip_scanner_dropped_total", 0)
            for i, ua in enumerate(("friendly-scanner", "sipvicious 0.3",
                                    "SIPCLI/v1.8")):
                c.send(options(SCANNER_IP, c.port, i, ua=ua))
            c.send(options(SCANNER_IP, c.port, 99, ua="Acme SBC 1.0"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not c.answers:
                time.sleep(0.1)
            time.sleep(1)
            cids = set(c.answers)
            self.assertEqual(cids, {"fl-%s-99@flood" % SCANNER_IP}, cids)
            after = m.metrics()["maskd_sip_scanner_dropped_total"]
            self.assertEqual(after - before, 3)
        finally:
            c.close()


class Caps(FloodBase):
    """action = 503, and a trunk's calls-per-second cap."""
    maskd_class = CapMaskd

    def test_cps_cap_503_retry_after(self):
        m = self.maskd
        c = Client(CAPPED_IP, m)
        try:
            for i in range(5):
                c.send(invite(CAPPED_IP, c.port, i))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(
                    [k for k in c.answers if k and c.finals(k)]) < 5:
                time.sleep(0.1)
            codes = sorted(c.finals("cps-%s-%d@flood" % (CAPPED_IP, i))[0]
                           for i in range(5))
            print("\ncps figures: 5 INVITEs at once on a cps = 1 trunk: %r"
                  % codes)
            self.assertIn(503, codes)
            self.assertIn(404, codes)   # the first: no session, as usual
            r503 = [r for v in c.answers.values() for r in v
                    if r.startswith(b"SIP/2.0 503")]
            self.assertIn(b"Retry-After:", r503[0])
            self.assertGreaterEqual(
                m.metrics()["maskd_sip_cps_refused_total"],
                codes.count(503))
        finally:
            c.close()

    def test_blocked_source_gets_503(self):
        m = self.maskd
        c = Client(BYSTANDER_IP, m)
        try:
            for i in range(RATE * 3):
                c.send(options(BYSTANDER_IP, c.port, i))
            time.sleep(2)
            codes = [x for k in list(c.answers) for x in c.finals(k)]
            self.assertIn(503, codes)
            r503 = [r for v in c.answers.values() for r in v
                    if r.startswith(b"SIP/2.0 503")]
            self.assertIn(b"Retry-After: 30", r503[0])
        finally:
            c.close()


class ExemptByDefault(FloodBase):
    """Trunks are exempt unless the file says exempt_trunks = no."""
    maskd_class = ExemptMaskd

    def flood(self, ip, seconds):
        """OPTIONS from @ip at 10x the limit; (sent, answered, late)."""
        c = Client(ip, self.maskd)
        try:
            n = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                for _ in range(RATE):
                    c.send(options(ip, c.port, n))
                    n += 1
                time.sleep(0.1)
            c.send(options(ip, c.port, "late"))
            deadline = time.monotonic() + 10
            late = "fl-%s-late@flood" % ip
            while time.monotonic() < deadline and (
                    len([k for k in c.answers if k]) < n + 1):
                time.sleep(0.1)
            time.sleep(1)
            answered = len([k for k, v in c.answers.items() if k and v])
            return n, answered, bool(c.answers.get(late))
        finally:
            c.close()

    def test_trunk_not_blocked_by_default(self):
        m = self.maskd
        before = m.metrics().get("maskd_sip_flood_blocked_total", 0)
        sent, answered, late = self.flood(FLOODER_IP, 2)
        after = m.metrics().get("maskd_sip_flood_blocked_total", 0)
        print("\nexempt figures: trunk source %s sent %d OPTIONS at 10x "
              "the limit, %d answered" % (FLOODER_IP, sent, answered))
        self.assertEqual(after, before, "a trunk source was limited")
        self.assertEqual(answered, sent + 1)
        self.assertTrue(late)
        # the limit itself is on: a source outside every trunk is cut off
        sent, answered, late = self.flood(BYSTANDER_IP, 2)
        print("exempt figures: non-trunk %s sent %d, %d answered"
              % (BYSTANDER_IP, sent, answered))
        self.assertLessEqual(answered, RATE * 2)
        self.assertFalse(late)
        self.assertGreater(m.metrics()["maskd_sip_flood_blocked_total"],
                           after)


if __name__ == "__main__":
    ts.main(globals())
