#!/usr/bin/env python3
"""test_retention.py - bounded disk: [store] retention and the store-full
guard, tested against a real maskd over real HTTP and SIP.

Run by ctest as:
    python3 tests/api/test_retention.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k full).

Python 3 standard library only; the maskd harness is test_api.py's. Calls
are made by a small SIP probe on UDP: a caller on 127.0.0.2 and a gateway
on 127.0.0.3 that answers every INVITE 486, enough to see where maskd
routes a call (the gateway gets it, or the caller is refused with
[sip] unknown_code or ended_code) without SIPp.

Nothing here asserts speed: every wait is a generous poll.
"""
import concurrent.futures
import os
import random
import re
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import MaskdCase, phone, pool_numbers  # noqa: E402

UA_IP = "127.0.0.2"
GW_IP = "127.0.0.3"
UNKNOWN_CODE = 404
ENDED_CODE = 410
WAIT_S = 120


def wait_for(what, cond, timeout=WAIT_S, interval=0.1):
    """Poll @cond until it returns a true value; that value, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def header(msg, name, compact=None):
    for line in msg.split("\r\n")[1:]:
        if not line:
            break
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == name.lower() or (compact and k == compact):
            return v.strip()
    return None


class SipProbe:
    """A caller and a gateway on UDP, speaking just enough SIP to ask
    maskd where a call goes. The gateway answers every INVITE 486."""

    def __init__(self):
        self.ua = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ua.bind((UA_IP, 0))
        self.gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.gw.bind((GW_IP, 0))
        self.gw_port = self.gw.getsockname()[1]

    def close(self):
        self.ua.close()
        self.gw.close()

    def config(self):
        """What a Maskd needs to route to this gateway."""
        return dict(sip_extra="unknown_code = %d\nended_code = %d\n"
                              % (UNKNOWN_CODE, ENDED_CODE),
                    extra="[gateway]\naddress = %s:%d\ntransport = udp\n"
                          % (GW_IP, self.gw_port))

    @staticmethod
    def _busy(req):
        """486 to the INVITE @req, as the gateway."""
        lines = ["SIP/2.0 486 Busy Here"]
        for line in req.split("\r\n")[1:]:
            if not line:
                break
            k = line.partition(":")[0].strip().lower()
            if k in ("via", "v", "from", "f", "call-id", "i", "cseq"):
                lines.append(line)
            elif k in ("to", "t"):
                lines.append(line + ";tag=gw%d" % random.randrange(10**9))
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def call(self, m, caller, vn, timeout=60):
        """INVITE @vn from @caller through maskd @m. Returns (code, to):
        the final response code the caller got, and the user part of the
        Request-URI the gateway was sent (None when it got nothing)."""
        port = self.ua.getsockname()[1]
        rnd = "%016x" % random.getrandbits(64)
        branch = "z9hG4bK" + rnd
        call_id = rnd + "@" + UA_IP
        from_hdr = "<sip:%s@%s>;tag=ua%s" % (caller, UA_IP, rnd[:8])
        ruri = "sip:%s@127.0.0.1:%d" % (vn, m.sip_port)
        sdp = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
               "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
               % (UA_IP, UA_IP))
        invite = ("INVITE %s SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                  "Max-Forwards: 70\r\nFrom: %s\r\nTo: <sip:%s@127.0.0.1>\r\n"
                  "Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
                  "Contact: <sip:%s@%s:%d>\r\n"
                  "Content-Type: application/sdp\r\nContent-Length: %d\r\n"
                  "\r\n%s" % (ruri, UA_IP, port, branch, from_hdr, vn,
                              call_id, caller, UA_IP, port, len(sdp), sdp))
        dest = ("127.0.0.1", m.sip_port)
        self.ua.sendto(invite.encode(), dest)
        forwarded = None
        heard = False
        retransmit = time.monotonic() + 1
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now > deadline:
                raise AssertionError("no final response to the INVITE")
            if not heard and now >= retransmit:
                self.ua.sendto(invite.encode(), dest)
                retransmit = now + 1
            r, _, _ = select.select([self.ua, self.gw], [], [], 0.2)
            if self.gw in r:
                data, addr = self.gw.recvfrom(65535)
                req = data.decode("utf-8", "replace")
                got = re.match(r"INVITE sip:([^@;>]+)@", req)
                if got:
                    forwarded = got.group(1)
                    self.gw.sendto(self._busy(req), addr)
            if self.ua in r:
                data, _ = self.ua.recvfrom(65535)
                msg = data.decode("utf-8", "replace")
                st = re.match(r"SIP/2\.0 (\d{3}) ", msg)
                if (not st or header(msg, "Call-ID", "i") != call_id or
                        not (header(msg, "CSeq") or "").endswith("INVITE")):
                    continue
                heard = True
                code = int(st.group(1))
                if code < 200:
                    continue
                if code >= 300:
                    ack = ("ACK %s SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                           "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n"
                           "Call-ID: %s\r\nCSeq: 1 ACK\r\n"
                           "Content-Length: 0\r\n\r\n"
                           % (ruri, UA_IP, port, branch, from_hdr,
                              header(msg, "To", "t"), call_id))
                    self.ua.sendto(ack.encode(), dest)
                return code, forwarded


class RetentionCase(MaskdCase):

    def setUp(self):
        super().setUp()
        self.probe = SipProbe()

    def tearDown(self):
        self.probe.close()
        super().tearDown()

    def start(self, name, retention, **kw):
        kw.update(self.probe.config())
        kw["store_extra"] = "retention = %d\n" % retention
        return self.start_maskd(name, **kw)

    def assert_routed(self, m, s):
        """A call from party_a to the session's VN reaches party_b."""
        code, to = self.probe.call(m, s["party_a"], s["virtual_number"])
        self.assertEqual(to, s["party_b"], "the gateway got no INVITE "
                         "for an active session (final %d)" % code)
        self.assertEqual(code, 486)

    def assert_refused(self, m, s, want):
        code, to = self.probe.call(m, s["party_a"], s["virtual_number"])
        self.assertIsNone(to, "a call of an ended pair reached the gateway")
        self.assertEqual(code, want)

    def parallel(self, fn, items, workers=8):
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            return list(ex.map(fn, items))


class TestRetention(RetentionCase):

    RETENTION_S = 2
    CYCLES = 4
    PER_CYCLE = 1000        # ended sessions per cycle

    def test_fill_purge_cycles(self):
        """Thousands of ended sessions disappear past retention, cycle
        after cycle; the file stops growing; active sessions stay."""
        m = self.start("cycles", self.RETENTION_S)
        m.add_numbers(pool_numbers(5))
        keepers = []
        for _ in range(5):
            r = m.create(phone("1202"), phone("1303"), ttl=86400)
            self.assertEqual(r.status, 201, r)
            keepers.append(r.json)
        keeper_ids = sorted(s["id"] for s in keepers)
        self.assert_routed(m, keepers[0])

        def create(i):
            # half of them expire by themselves, half are closed
            ttl = 1 if i % 2 else 3600
            r = m.create(phone("1202"), phone("1303"), ttl=ttl)
            self.assertEqual(r.status, 201, r)
            return r.json

        def close(s):
            r = m.request("DELETE", "/v1/sessions/" + s["id"])
            self.assertEqual(r.status, 200, r)

        file_bytes = []
        purged = 0
        for cycle in range(self.CYCLES):
            made = self.parallel(create, range(self.PER_CYCLE))
            closing = [s for i, s in enumerate(made) if i % 2 == 0]
            first = closing[0]
            if cycle == 0:
                # a call on it leaves a call record, purged with it
                self.assert_routed(m, first)
                wait_for("its call record", lambda: m.request(
                    "GET", "/v1/sessions/%s/calls" % first["id"]).json
                    .get("calls"))
            close(first)
            t_closed = time.monotonic()
            code, to = self.probe.call(m, first["party_a"],
                                       first["virtual_number"])
            self.assertIsNone(to)
            if time.monotonic() - t_closed < self.RETENTION_S - 0.5:
                # still kept: refused as ended, not as unknown
                self.assertEqual(code, ENDED_CODE)
            self.parallel(close, closing[1:])
            purged += self.PER_CYCLE

            def done():
                mt = m.metrics()
                return (mt["maskd_store_purged_sessions_total"] >= purged
                        and mt["maskd_sessions_active"] == len(keepers)
                        and mt)
            mt = wait_for("cycle %d's purge" % cycle, done)
            self.assertEqual(mt["maskd_store_purged_sessions_total"], purged)
            if cycle == 0:
                self.assertGreaterEqual(
                    mt["maskd_store_purged_cdrs_total"], 1)
            file_bytes.append(mt["maskd_store_file_bytes"])
            self.assertLessEqual(mt["maskd_store_used_bytes"],
                                 mt["maskd_store_file_bytes"])
            self.assertEqual(mt["maskd_store_map_bytes"], 64 << 20)

            # gone: by id, from every listing, from call routing
            for s in made[:10] + made[-10:]:
                self.assertEqual(m.get(s["id"]).status, 404)
            self.assertEqual(m.request(
                "GET", "/v1/sessions/%s/calls" % first["id"]).status, 404)
            self.assertEqual(m.list_all(limit=100, status="closed"), [])
            self.assertEqual(m.list_all(limit=100, status="expired"), [])
            self.assertEqual(sorted(s["id"] for s in m.list_all(
                limit=3, status="active")), keeper_ids)
            self.assertEqual(sorted(s["id"] for s in m.list_all(limit=100)),
                             keeper_ids)
            self.assert_refused(m, first, UNKNOWN_CODE)
            self.assert_refused(m, made[1], UNKNOWN_CODE)   # expired one

        # freed pages are reused: after the second cycle, no more growth
        # than a small margin
        sys.stderr.write("file bytes after each cycle: %s\n" % file_bytes)
        for cycle in range(2, self.CYCLES):
            self.assertLessEqual(file_bytes[cycle],
                                 file_bytes[1] * 1.10 + 65536,
                                 "the file grew: %s" % file_bytes)

        # the active sessions are untouched, and still routed
        for s in keepers:
            r = m.get(s["id"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json, s)
        for s in keepers[:2]:
            self.assert_routed(m, s)
        self.stop_clean(m)

    def test_zero_keeps_forever(self):
        """retention = 0: ended sessions stay, however old."""
        m = self.start("forever", 0)
        m.add_numbers(pool_numbers(1))
        r = m.create(phone("1202"), phone("1303"), ttl=1)
        self.assertEqual(r.status, 201, r)
        s = r.json
        wait_for("the expiry", lambda: m.metrics()
                 ["maskd_session_expiries_total"] >= 1)
        time.sleep(2)
        self.assertEqual(m.get(s["id"]).json["status"], "expired")
        self.assertEqual(m.metrics()["maskd_store_purged_sessions_total"], 0)
        self.assert_refused(m, s, ENDED_CODE)
        self.stop_clean(m)


class TestStoreFull(RetentionCase):

    def test_full_507_reads_calls_then_room_again(self):
        """A small map fills: creates get 507 store_full with one log
        line, reads and calls go on, and once retention has purged the
        closed sessions, creates are taken again."""
        m = self.start("full", 2, map_size="2M")
        m.add_numbers(pool_numbers(3, "1904"))
        pad = "x" * 1500
        made = []
        got = None
        for i in range(2000):
            r = m.create(phone(), phone(), metadata={"pad": pad, "i": i})
            if r.status != 201:
                got = r
                break
            made.append(r.json)
        self.assertIsNotNone(got, "the store never filled up")
        self.assertEqual(got.status, 507, got)
        self.assertEqual(got.code, "store_full")
        self.assertTrue(got.headers.get("Content-Type", "")
                        .startswith("application/json"))
        # the guard, not an obscure failure: a few more are refused too
        for _ in range(3):
            r = m.create(phone(), phone())
            self.assertEqual((r.status, r.code), (507, "store_full"), r)
        r = m.request("POST", "/v1/numbers", {"number": phone("1905")})
        self.assertEqual((r.status, r.code), (507, "store_full"), r)
        r = m.request("PATCH", "/v1/sessions/" + made[0]["id"],
                      {"ttl": 600})
        self.assertEqual((r.status, r.code), (507, "store_full"), r)
        log = m.read(m.log_path)
        self.assertEqual(log.count("api: store full: "), 1, log[-3000:])

        # reads go on
        self.assertEqual(m.request("GET", "/healthz").status, 200)
        r = m.get(made[0]["id"])
        self.assertEqual((r.status, r.json), (200, made[0]))
        self.assertEqual(m.request("GET", "/v1/sessions?limit=5").status,
                         200)
        mt = m.metrics()
        # refused with less than the reserve left: 5% of the map, at
        # least 256 KiB (API_STORE_RESERVE_*)
        self.assertGreater(mt["maskd_store_used_bytes"],
                           mt["maskd_store_map_bytes"]
                           - max(mt["maskd_store_map_bytes"] / 20, 256 << 10))
        self.assertEqual(mt["maskd_store_map_bytes"], 2 << 20)

        # calls are never refused by the guard; their record is written
        # (the guard kept room for it) or counted as lost, never dropped
        before = mt["maskd_cdrs_written_total"] + mt["maskd_cdrs_lost_total"]
        self.assert_routed(m, made[1])
        wait_for("the call's record", lambda: (
            lambda t: t["maskd_cdrs_written_total"]
            + t["maskd_cdrs_lost_total"] > before)(m.metrics()))

        # closing frees space: 200, each of them
        for s in made:
            r = m.request("DELETE", "/v1/sessions/" + s["id"])
            self.assertEqual(r.status, 200, r)
        wait_for("the purge", lambda: m.metrics()
                 ["maskd_store_purged_sessions_total"] >= len(made))

        def created():
            r = m.create(phone(), phone(), metadata={"pad": pad})
            if r.status == 201:
                return r
            self.assertEqual((r.status, r.code), (507, "store_full"), r)
            return None
        s = wait_for("a create to be taken again", created).json
        self.assertIn("api: the store has room again",
                      m.read(m.log_path))
        self.assert_routed(m, s)
        self.stop_clean(m)


def main():
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    args, rest = p.parse_known_args()
    args.maskd = os.path.abspath(args.maskd)
    args.source_dir = os.path.abspath(args.source_dir)
    test_api.ARGS = args
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
