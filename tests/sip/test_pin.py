#!/usr/bin/env python3
"""test_pin.py - PIN authentication end to end (issue 11, section 5).

Run by ctest as:
    python3 tests/sip/test_pin.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k inband).

A caller who is no party of a session calls a VN with PIN sessions
(sipp-scenarios/pin_uac.xml, through test_sip.py's harness) and a Python
RTP peer (test_media.py's Peer) listens where its SDP says. maskd answers
with its own SDP and plays 'enter_pin', which the peer must receive sample
for sample (G.711 decoded against build/prompts/enter_pin.wav) with one
SSRC, sequence +1, timestamp +160 and the marker on the first packet. The
peer then types: RFC 4733 events (a marked start, growing durations, the
end packet three times; some events sent twice), or in-band G.711 tones
it synthesises itself when no telephone-event was offered. A party's
PIN makes maskd call the other party from the VN (pin_uas.xml: From and
P-Asserted-Identity the VN, and no trace of the caller: its number, its
address, its headers), 'connecting' plays, and on the answer the media is
bridged both ways; the party hangs up and maskd BYEs the caller. A wrong
PIN gets 'wrong_pin' and another try, the last one 'goodbye' and a BYE;
so does silence ([sip] pin_timeout, 2 s here). A party of a session on the
VN is never prompted. After each call every live counter and relay port is
back to 0. (PIN collisions at create: tests/api/test_pin.py.)

Python 3 standard library and SIPp only; loopback only. Nothing here
asserts speed: every wait is bounded and generous.
"""
import json
import math
import os
import re
import struct
import sys
import time
import unittest  # noqa: F401  (ts.main runs it)
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # G.711 reference coder (Python <= 3.12)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402
import test_announce as ta  # noqa: E402

A_IP = ts.A_IP
GW_IP = ts.GW_IP
FRAME = ta.FRAME
PT_PCMU = ta.PT_PCMU
PT_EVENT = 101
PIN_A = "1234"
PIN_B = "5678"
WRONG = "9999"
PIN_TIMEOUT_MS = 2000
DTMF_ROWS = {"1": 697, "2": 697, "3": 697, "A": 697,
             "4": 770, "5": 770, "6": 770, "B": 770,
             "7": 852, "8": 852, "9": 852, "C": 852,
             "*": 941, "0": 941, "#": 941, "D": 941}
DTMF_COLS = {"1": 1209, "4": 1209, "7": 1209, "*": 1209,
             "2": 1336, "5": 1336, "8": 1336, "0": 1336,
             "3": 1477, "6": 1477, "9": 1477, "#": 1477,
             "A": 1633, "B": 1633, "C": 1633, "D": 1633}
EVENTS = {d: i for i, d in enumerate("0123456789*#ABCD")}


class Typist:
    """The caller's RTP stream towards maskd: RFC 4733 events or in-band
    G.711 tones, one SSRC, sequence and timestamps going on."""

    def __init__(self, peer, relay_port):
        self.peer = peer
        self.port = relay_port
        self.ssrc = 0x1b2c3d4e
        self.seq = 1000
        self.ts = 160000

    def _send(self, pt, payload, marker=False, step=0):
        pkt = tm.rtp_packet(pt, self.seq, self.ts, self.ssrc, payload,
                            marker)
        self.peer.rtp.sendto(pkt, (tm.MASKD_IP, self.port))
        self.seq += 1
        self.ts += step
        time.sleep(0.02)

    def event(self, digit, twice=False):
        """One RFC 4733 event: marked start, growing durations, the end
        packet three times, all with the event's start timestamp; sent
        twice over (the same timestamp) when @twice."""
        code = EVENTS[digit]
        for _ in range(2 if twice else 1):
            for k in range(1, 4):
                self._send(PT_EVENT, struct.pack("!BBH", code, 10, 160 * k),
                           marker=(k == 1))
            for _ in range(3):
                self._send(PT_EVENT, struct.pack("!BBH", code, 0x80 | 10,
                                                 640))
        self.ts += 800      # the next event starts later

    def events(self, digits, twice=()):
        for i, d in enumerate(digits):
            self.event(d, twice=i in twice)

    def silence(self, packets):
        for _ in range(packets):
            self._send(PT_PCMU, b"\xff" * FRAME, step=FRAME)

    def tone(self, digit, packets=5):
        """@digit as in-band DTMF in PCMU: both tones at about -9 dBm0
        each for @packets x 20 ms."""
        lo, hi = DTMF_ROWS[digit], DTMF_COLS[digit]
        for _ in range(packets):
            n0 = self.ts
            pcm = b"".join(struct.pack("<h", int(
                6000 * math.sin(2 * math.pi * lo * (n0 + i) / 8000) +
                6000 * math.sin(2 * math.pi * hi * (n0 + i) / 8000)))
                for i in range(FRAME))
            self._send(PT_PCMU, audioop.lin2ulaw(pcm, 2), step=FRAME)

    def tones(self, digits):
        self.silence(3)
        for d in digits:
            self.tone(d)
            self.silence(5)


class PinMaskd(ta.AnnounceMaskd):
    """test_announce's maskd with an [events] url nobody answers: the
    outbox keeps every event, GET /v1/events shows it; @gateway_lines go
    into [gateway]."""
    gateway_lines = ""

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            text = f.read()
        text = text.replace("[gateway]\n", "[gateway]\n" +
                            self.gateway_lines, 1)
        with open(self.conf_path, "w") as f:
            f.write(text)
        with open(self.conf_path, "a") as f:
            f.write("[events]\nurl = http://127.0.0.1:%d/none\n"
                    "secrets = whsec_cGluLXRlc3Qtc2VjcmV0LWtleQ==\n"
                    "allow = 127.0.0.0/8\n" % ts.free_port())


class PinBase(ta.AnnounceBase):
    SIP_LINES = "pin_timeout = %d\n" % PIN_TIMEOUT_MS
    GATEWAY_LINES = ""
    N_PORTS = 40

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = tm.port_range(cls.N_PORTS)
        m = PinMaskd(tmp, lo, hi, cls.SIP_LINES)
        m.gateway_lines = cls.GATEWAY_LINES
        return m

    @classmethod
    def setUpClass(cls):
        ta.ARGS = ARGS      # test_announce's helpers read theirs
        super().setUpClass()

    def pin_session(self, **kw):
        """A session whose parties are both behind the gateway
        (+1303555xxxx), with PINs; the caller is a third number."""
        a, b = ts.callee_number(), ts.callee_number()
        body = {"pin_required": True, "pin_a": PIN_A, "pin_b": PIN_B}
        body.update(kw)
        s = self.maskd.session(a, b, **body)
        return s, a, b

    def prompt_ref(self, name, pt=PT_PCMU):
        return ta.g711_reference(ta.prompt_pcm(name), pt)

    def wait_packets(self, peer, n, timeout=ta.WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(peer.got["rtp"]) < n:
            time.sleep(0.02)
        return list(peer.got["rtp"])

    def hear(self, peer, start, name, port, first=False):
        """The packets from @start on are prompt @name, whole; returns
        the index after it. @first: the very first talkspurt (checked
        by check_rtp's marker rule); later prompts start a talkspurt of
        their own or follow the last one without a gap."""
        ref = self.prompt_ref(name)
        n = len(ref) // 2 // FRAME
        got = self.wait_packets(peer, start + n)
        self.assertGreaterEqual(len(got), start + n,
                                "%s: %d packets, want %d" %
                                (name, len(got) - start, n))
        part = got[start:start + n]
        if first:
            self.check_rtp(part, port, PT_PCMU, ref)
        else:
            # the marker may or may not be set on a later prompt's first
            # packet (a talkspurt, or one following on): drop the check
            fixed = []
            for k, (data, src, t) in enumerate(part):
                b1 = data[1] & 0x7F if k else data[1] | 0x80
                fixed.append((data[:1] + bytes([b1]) + data[2:], src, t))
            self.check_rtp(fixed, port, PT_PCMU, ref)
        return start + n

    def hear_cut(self, peer, start, name, port):
        """Prompt @name from @start on, cut short by the bridge (the
        party answers at once): at least one packet, each the prompt's
        in order, in the prompts' stream. Returns the index after it."""
        ref = self.prompt_ref(name)
        ssrc = struct.unpack("!I", peer.got["rtp"][0][0][8:12])[0]
        got = self.wait_packets(peer, start + 1)
        time.sleep(1.0)     # the bridge stops it; then nothing of it
        got = list(peer.got["rtp"])
        part = []
        for item in got[start:]:
            if struct.unpack("!I", item[0][8:12])[0] != ssrc:
                break
            part.append(item)
        self.assertTrue(part, "no %s prompt" % name)
        fixed = [(d[:1] + bytes([d[1] | 0x80 if k == 0 else d[1] & 0x7F])
                  + d[2:], src, t) for k, (d, src, t) in enumerate(part)]
        self.check_rtp(fixed, port, PT_PCMU, ref, whole=False)
        return start + len(part)

    @staticmethod
    def marked(part):
        """@part with the marker on its first packet only (check_rtp's
        rule for a talkspurt's start)."""
        return [(d[:1] + bytes([d[1] | 0x80 if k == 0 else d[1] & 0x7F])
                 + d[2:], src, t) for k, (d, src, t) in enumerate(part)]

    def same_stream(self, got):
        """Every prompt packet of one call: one SSRC, sequence going
        on."""
        ssrcs = {struct.unpack("!I", d[8:12])[0] for d, _, _ in got}
        self.assertEqual(len(ssrcs), 1, "the prompts changed SSRC")
        seqs = [struct.unpack("!H", d[2:4])[0] for d, _, _ in got]
        for x, y in zip(seqs, seqs[1:]):
            self.assertEqual(y, (x + 1) & 0xFFFF, "sequence gap")

    def caller(self, vn, fmts="0 101", want_fmt="0 101"):
        """A third number calls @vn: (uac run, peer, relay port file,
        the caller's number)."""
        number = ts.caller_number()
        ua, pa, fa = self.announce_call("pin_uac.xml", vn, number,
                                        fmts=fmts, want_fmt=want_fmt)
        return ua, pa, fa, number

    def callee(self, vn, number, uas="pin_uas.xml", d_ms=4000):
        pb = self.peer(GW_IP)
        fb = os.path.join(self.run_dir, "b_relay_port")
        gw = self.uas(uas, {"vn": vn, "callee": number,
                            "mport": str(pb.port), "rtp_file": fb},
                      d_ms=d_ms)
        return gw, pb, fb

    def check_caller_masked(self, ua, *numbers):
        for m in self.received(ua):
            self.assert_sdp_maskd(m)
            for bad in numbers + (GW_IP, "PartyB", "partyb"):
                self.assertNotIn(bad.lstrip("+"), m,
                                 "a party leaked to the caller:\n" + m)

    def check_callee_masked(self, gw, caller):
        for m in self.received(gw):
            self.assert_sdp_maskd(m)
            for bad in (caller, caller.lstrip("+"), A_IP, "PartyA",
                        "partya"):
                self.assertNotIn(bad, m, "the caller leaked:\n" + m)

    def check_bridged(self, pa, ra, pb, rb):
        """Media both ways once bridged: B's packets reach the caller
        from maskd's caller-side port, the caller's reach B."""
        n_a = len(pa.got["rtp"])
        stream = tm.Stream(dtmf_every=0)
        pb.send(rb, stream, count=25, rtcp_every=0)
        pb.wait_sent()
        deadline = time.monotonic() + ta.WAIT_S
        while time.monotonic() < deadline:
            mine = [d for d, src, _ in pa.got["rtp"][n_a:]
                    if struct.unpack("!I", d[8:12])[0] == stream.ssrc]
            if len(mine) >= 20:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(len(mine), 20, "B's audio never reached "
                                "the caller")
        for d, src, _ in pa.got["rtp"][n_a:]:
            self.assertEqual(src, (tm.MASKD_IP, ra))
        n_b = len(pb.got["rtp"])
        up = tm.Stream(dtmf_every=0)
        pa.send(ra, up, count=25, rtcp_every=0)
        pa.wait_sent()
        deadline = time.monotonic() + ta.WAIT_S
        while time.monotonic() < deadline:
            mine = [d for d, src, _ in pb.got["rtp"][n_b:]
                    if struct.unpack("!I", d[8:12])[0] == up.ssrc]
            if len(mine) >= 20:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(len(mine), 20, "the caller's audio never "
                                "reached B")

    def check_pin_cdr(self, sid, status, attempts, a_to_b):
        calls = self.wait_cdrs(sid)
        c = calls[-1]
        self.assertEqual(c["direction"], "a_to_b" if a_to_b else "b_to_a",
                         c)
        if "pin_status" in c:
            self.assertEqual(c["pin_status"], status, c)
            self.assertEqual(c["pin_attempts"], attempts, c)
        return c

    def pin_events(self, want=1, session_id=None, vn=None):
        """The pin.result events of a session, or of @vn without one;
        none of them may hold a PIN."""
        qs = "type=pin.result" + ("&session_id=" + session_id
                                  if session_id else "")
        deadline = time.monotonic() + ta.WAIT_S
        while True:
            st, js, raw = self.maskd.request("GET", "/v1/events?" + qs)
            self.assertEqual(st, 200, raw)
            evs = [e["payload"]["data"] for e in js["events"]
                   if session_id or
                   e["payload"]["data"]["virtual_number"] == vn]
            if len(evs) >= want or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(evs), want, js)
        for ev in evs:
            for k, v in ev.items():
                if k.endswith("_id"):
                    continue    # random hex: may hold any 4 digits
                for pin in (PIN_A, PIN_B, WRONG):
                    self.assertNotIn(pin, str(v), ev)
        return evs

    def check_log_clean(self):
        """No PIN in a log line above debug."""
        for line in ts.read_text(self.maskd.log_path).splitlines():
            if " DEBUG " in line:
                continue
            # ids are random hex and may hold any four digits
            line = re.sub(r"[0-9a-f]{32}", "<id>", line)
            for pin in (PIN_A, PIN_B, WRONG):
                self.assertNotIn(pin, line)

    def metric(self, name):
        return self.maskd.metrics().get(name, 0)

    # -- a whole right-PIN call --

    def right_pin(self, pin, party_a_typed, send, fmts="0 101",
                  want_fmt="0 101", uas="pin_uas.xml", wrong_first=None):
        s, a, b = self.pin_session()
        vn = s["virtual_number"]
        target = b if party_a_typed else a
        before = self.metric("maskd_sip_pin_success_total")
        gw, pb, fb = self.callee(vn, target, uas=uas)
        ua, pa, fa, who = self.caller(vn, fmts=fmts, want_fmt=want_fmt)
        ra = self.relay_port(fa)
        k = self.hear(pa, 0, "enter_pin", ra, first=True)
        typist = Typist(pa, ra)
        if wrong_first:
            send(typist, wrong_first)
            k = self.hear(pa, k, "wrong_pin", ra)
        send(typist, pin)
        rb = tm.wait_file(fb)
        self.assertTrue(rb, "maskd never called the party\n%s"
                        % self.maskd.diagnostics())
        rb = int(rb)
        k = self.hear_cut(pa, k, "connecting", ra)
        self.same_stream(pa.got["rtp"][:k])
        self.check_bridged(pa, ra, pb, rb)
        self.expect_rc(gw)
        self.expect_rc(ua)
        self.check_callee_masked(gw, who)
        self.check_caller_masked(ua, a, b)
        c = self.check_pin_cdr(s["id"], "success",
                               2 if wrong_first else 1, party_a_typed)
        self.assertEqual(c["hangup_by"], "callee", c)
        self.assertIsNotNone(c["answered_at"], c)
        self.assertEqual(self.metric("maskd_sip_pin_success_total"),
                         before + 1)
        ev = self.pin_events(session_id=s["id"])[0]
        self.assertEqual(ev["result"], "success")
        self.assertEqual(ev["attempts"], 2 if wrong_first else 1)
        self.assertEqual(ev["party"], "a" if party_a_typed else "b")
        self.assertEqual(ev["call_id"], c["id"])
        self.check_log_clean()
        self.check_clean()


def rfc4733(typist, digits):
    typist.events(digits, twice=(1,))


def rfc4733_hash(typist, digits):
    typist.events(digits + "#")


def inband(typist, digits):
    typist.tones(digits)


class PinCalls(PinBase):

    def test_pin_a_calls_b(self):
        self.right_pin(PIN_A, True, rfc4733)

    def test_pin_b_calls_a(self):
        self.right_pin(PIN_B, False, rfc4733)

    def test_wrong_then_right(self):
        self.right_pin(PIN_A, True, rfc4733, wrong_first=WRONG)

    def test_hash_early_then_right(self):
        # '#' after two digits ends the entry: wrong, one more try
        self.right_pin(PIN_B, False, rfc4733, wrong_first="12#")

    def test_digits_split_across_packets(self):
        def split(typist, digits):
            # two digits, a pause, the same event again (a duplicate),
            # then the rest one at a time
            typist.events(digits[:2])
            time.sleep(0.4)
            typist.ts -= 800
            typist.event(digits[1])
            for d in digits[2:]:
                time.sleep(0.3)
                typist.event(d)
        self.right_pin(PIN_A, True, split)

    def test_inband_tones(self):
        self.right_pin(PIN_A, True, inband, fmts="0", want_fmt="0",
                       uas="pin_nte_uas.xml")

    def test_shorter_pin_ended_by_hash(self):
        # two sessions on one VN: 4321 and 43210. "4321" is a PIN but a
        # longer one starts with it: the caller ends it with '#'
        s1, a1, b1 = self.pin_session(pin_a="4321", pin_b="8765")
        vn = s1["virtual_number"]
        s2, a2, b2 = self.pin_session(pin_a="43210", pin_b="87650",
                                      virtual_number=vn)
        gw, pb, fb = self.callee(vn, b1)
        ua, pa, fa, who = self.caller(vn)
        ra = self.relay_port(fa)
        k = self.hear(pa, 0, "enter_pin", ra, first=True)
        typist = Typist(pa, ra)
        typist.events("4321")
        time.sleep(0.5)
        self.assertFalse(tm.wait_file(fb, timeout=0.5),
                         "decided before '#' though 43210 exists")
        typist.events("#")
        rb = tm.wait_file(fb)
        self.assertTrue(rb)
        self.hear_cut(pa, k, "connecting", ra)
        self.expect_rc(gw)
        self.expect_rc(ua)
        self.check_caller_masked(ua, a1, b1, a2, b2)
        self.check_callee_masked(gw, who)
        self.check_pin_cdr(s1["id"], "success", 1, True)
        self.assertEqual(self.maskd.calls(s2["id"]), [])
        self.check_clean()


class PinRefusals(PinBase):

    def goodbye_call(self, typed):
        s, a, b = self.pin_session()
        vn = s["virtual_number"]
        failed = self.metric("maskd_sip_pin_failed_total")
        ua, pa, fa, who = self.caller(vn)
        ra = self.relay_port(fa)
        k = self.hear(pa, 0, "enter_pin", ra, first=True)
        typist = Typist(pa, ra)
        for entry in typed:
            typist.events(entry)
            k = self.hear(pa, k, "wrong_pin", ra) if entry != typed[-1] \
                else k
        k = self.hear(pa, k, "goodbye", ra)
        self.same_stream(pa.got["rtp"][:k])
        self.expect_rc(ua)
        self.check_caller_masked(ua, a, b)
        # no PIN named a session: none of its records, nothing dialled
        self.assertEqual(self.maskd.calls(s["id"]), [])
        self.assertEqual(self.metric("maskd_sip_pin_failed_total"),
                         failed + 1)
        ev = self.pin_events(vn=vn)[0]
        self.assertEqual(ev["result"], "failed")
        self.assertEqual(ev["attempts"], len(typed))
        self.assertIsNone(ev["party"])
        self.assertIsNone(ev["session_id"])
        # but a session-less record, found by the event's call id
        rec = self.sessionless_record(ev["call_id"])
        self.assertEqual(rec["pin_status"], "failed", rec)
        self.assertEqual(rec["pin_attempts"], len(typed), rec)
        self.assertEqual(rec["virtual_number"], vn, rec)
        self.assertEqual(rec["reason"],
                         "pin_failed" if typed else "pin_timeout", rec)
        self.assertEqual(rec["hangup_by"], "maskd", rec)
        self.assertIsNone(rec["answered_at"], rec)
        self.assertGreaterEqual(rec["ended_at"], rec["started_at"], rec)
        # the caller typed at a stranger's number: neither its number
        # nor any digit it typed is kept
        self.assertIsNone(rec["from"], rec)
        self.assertIsNone(rec["to"], rec)
        text = json.dumps(rec)
        self.assertNotIn(who.lstrip("+"), text)
        for entry in typed + [PIN_A, PIN_B]:
            self.assertNotIn('"%s"' % entry, text)
            self.assertNotIn(" %s" % entry, text)
        self.check_log_clean()
        self.check_clean()
        n = len(pa.got["rtp"])
        time.sleep(0.5)
        self.assertEqual(len(pa.got["rtp"]), n, "RTP after the BYE")

    def test_wrong_until_out_of_retries(self):
        # pin_retries 1 (the default): two wrong entries, then goodbye
        self.goodbye_call([WRONG, "1235"])

    def test_silence(self):
        t0 = time.monotonic()
        self.goodbye_call([])
        self.assertGreaterEqual(time.monotonic() - t0,
                                PIN_TIMEOUT_MS / 1000.0)

    def test_party_busy_goodbye(self):
        # a right PIN, but the party is busy (486): goodbye and BYE; the
        # record is the session's, PIN success, never answered
        s, a, b = self.pin_session()
        vn = s["virtual_number"]
        gw = self.uas("reject_uas.xml", {"vn": vn, "callee": b,
                                          "code": "486"})
        ua, pa, fa, who = self.caller(vn)
        ra = self.relay_port(fa)
        k = self.hear(pa, 0, "enter_pin", ra, first=True)
        Typist(pa, ra).events(PIN_A)
        self.expect_rc(gw)
        self.expect_rc(ua)      # goodbye, then the BYE
        # connecting, cut short by goodbye (which follows it without a
        # gap or a marker), then goodbye whole
        time.sleep(0.3)
        tail = list(pa.got["rtp"])[k:]
        n_bye = len(self.prompt_ref("goodbye")) // 2 // FRAME
        n_conn = len(tail) - n_bye
        self.assertGreaterEqual(n_conn, 0, "goodbye not whole")
        if n_conn:
            self.check_rtp(self.marked(tail[:n_conn]), ra, PT_PCMU,
                           self.prompt_ref("connecting"), whole=False)
        self.hear(pa, k + n_conn, "goodbye", ra)
        self.same_stream(pa.got["rtp"])
        self.check_caller_masked(ua, a, b)
        self.check_callee_masked(gw, who)
        c = self.check_pin_cdr(s["id"], "success", 1, True)
        self.assertEqual(c["reason"], "busy", c)
        self.assertEqual(c["final_code"], 200, c)
        self.assertIsNone(c["answered_at"], c)
        self.check_clean()

    def test_known_party_not_prompted(self):
        # party A of a PIN session calls its VN: routed at once to B
        a, b = ts.caller_number(), ts.callee_number()
        before = self.metric("maskd_sip_pin_prompts_total")
        s = self.maskd.session(a, b, pin_required=True, pin_a=PIN_A,
                               pin_b=PIN_B)
        vn = s["virtual_number"]
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("basic_uac.xml", vn, {"caller": a})
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b)
        c = self.check_cdr(s["id"], 200, "caller", "normal", True)
        calls = self.maskd.calls(s["id"])
        if calls and "pin_status" in calls[-1]:
            self.assertEqual(calls[-1]["pin_status"], "authorized_caller")
        self.assertEqual(self.metric("maskd_sip_pin_prompts_total"), before)
        del c
        self.check_clean()

    def test_no_g711_gets_488(self):
        s, a, b = self.pin_session()
        ua, pa, fa = self.announce_call("announce_488_uac.xml",
                                        s["virtual_number"],
                                        ts.caller_number(),
                                        fmts="18 101", want_fmt="x")
        self.expect_rc(ua)
        self.assertEqual(self.packets(pa, settle_s=0.5), [])
        self.check_clean()


class PinGatewayAuth(PinBase):
    """The gateway challenges the second leg: it goes again with
    credentials, as any leg maskd originates (test_auth.py)."""
    AUTH_USER = "pin-trunk-1"
    AUTH_PASS = "Pw-pin-s3cr3t"
    GATEWAY_LINES = "auth_user = %s\nauth_password = %s\n" % (AUTH_USER,
                                                               AUTH_PASS)

    def test_challenged_second_leg(self):
        s, a, b = self.pin_session(call_time_limit=3)
        vn = s["virtual_number"]
        gw = self.uas("auth_uas.xml", {"vn": vn, "callee": b,
                                       "realm": "gw.example.net",
                                       "auth_user": self.AUTH_USER,
                                       "auth_pass": self.AUTH_PASS})
        ua, pa, fa, who = self.caller(vn)
        ra = self.relay_port(fa)
        self.hear(pa, 0, "enter_pin", ra, first=True)
        Typist(pa, ra).events(PIN_A)
        # challenged, retried, answered; the call time limit ends it
        self.expect_rc(gw)
        self.expect_rc(ua)
        self.check_caller_masked(ua, a, b)
        self.check_callee_masked(gw, who)
        invites = [m for m in self.received(gw) if m.startswith("INVITE")]
        self.assertEqual(len(invites), 2, invites)
        self.assertIn("Authorization: Digest", invites[1])
        c = self.check_pin_cdr(s["id"], "success", 1, True)
        self.assertEqual(c["reason"], "call_time_limit", c)
        self.assertIsNotNone(c["answered_at"], c)
        self.check_clean()


if __name__ == "__main__":
    ts.main(globals())
