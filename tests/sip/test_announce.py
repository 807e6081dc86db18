#!/usr/bin/env python3
"""test_announce.py - [sip] unknown_action / ended_action = announce, end
to end.

Run by ctest as:
    python3 tests/sip/test_announce.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k cancel).

SIPp is the caller (sipp-scenarios/announce_*.xml, through test_sip.py's
harness); a Python RTP peer (test_media.py's Peer) listens where the
caller's SDP says. maskd cannot route the call (no session for the pair,
or an ended one), so it answers the media itself: its SDP must name only
maskd, in the codec the offer prefers, and the RTP the peer receives must
decode (G.711) sample for sample to the prompt the build spoke
(build/prompts/unknown.wav, expired.wav next to the maskd binary), with
one SSRC, sequence numbers and timestamps going up by 1 and 160, and the
marker on the first packet only. Then the final response (early media)
or a BYE (announce_answer = yes). A CANCEL (early) or a BYE (answered)
from the caller during the prompt stops it. An
offer without G.711 gets 488; reject stays as it was. After each call
every live counter and every relay port is back to 0, and every message
the caller received passes the scenarios' leak checks. An announced call
has a record: an unknown pair's is session-less (GET /v1/calls/{id} with
the call id call.unrouted names: reason announced, the VN, the caller),
an ended session's is the session's; a bare 404 files none.

Python 3 standard library and SIPp only; loopback only. Nothing here
asserts speed: every wait is bounded and generous.
"""
import os
import struct
import sys
import tempfile
import time
import unittest
import warnings
import wave

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # G.711 reference coder (Python <= 3.12)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402

A_IP = ts.A_IP
FRAME = 160
PT_PCMU = 0
PT_PCMA = 8
WAIT_S = 30


def prompt_pcm(name):
    """The 16-bit samples of the prompt @name the build made (the set
    maskd loads with an empty [media] prompts: prompts/ next to it)."""
    path = os.path.join(os.path.dirname(os.path.abspath(ARGS.maskd)),
                        "prompts", name + ".wav")
    with wave.open(path, "rb") as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 \
            and w.getsampwidth() == 2, path
        return w.readframes(w.getnframes())


def g711_reference(pcm, pt):
    """@pcm as G.711 of payload type @pt and back, padded with silence to
    whole 20 ms packets: what the caller must hear, sample for sample."""
    n = len(pcm) // 2
    pad = (-n) % FRAME
    pcm = pcm + b"\0\0" * pad
    if pt == PT_PCMU:
        return audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)
    return audioop.alaw2lin(audioop.lin2alaw(pcm, 2), 2)


def g711_decode(payload, pt):
    if pt == PT_PCMU:
        return audioop.ulaw2lin(payload, 2)
    return audioop.alaw2lin(payload, 2)


class AnnounceMaskd(tm.MediaMaskd):
    """test_media's maskd with more [sip] lines; with @events an [events]
    url nobody answers, so the outbox keeps call.unrouted for
    GET /v1/events."""

    def __init__(self, tmp, port_min, port_max, sip_lines, events=False):
        super().__init__(tmp, port_min, port_max)
        self.sip_lines = sip_lines
        self.events = events

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            text = f.read()
        text = text.replace("[sip]\n", "[sip]\n" + self.sip_lines, 1)
        if self.events:
            text += ("[events]\nurl = http://127.0.0.1:%d/none\n"
                     "secrets = whsec_YW5ub3VuY2UtdGVzdC1zZWNyZXQ=\n"
                     "allow = 127.0.0.0/8\n" % ts.free_port())
        with open(self.conf_path, "w") as f:
            f.write(text)


class AnnounceBase(tm.MediaBase):
    SIP_LINES = ""
    N_PORTS = 40
    EVENTS = False

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = tm.port_range(cls.N_PORTS)
        return AnnounceMaskd(tmp, lo, hi, cls.SIP_LINES, cls.EVENTS)

    @classmethod
    def setUpClass(cls):
        ts.ARGS = ARGS
        tm.ARGS = ARGS
        cls.tmp = tempfile.mkdtemp(prefix="maskd-announce-")
        cls.maskd = cls.make_maskd(cls.tmp).start()

    # -- helpers --

    def announce_call(self, scenario, vn, caller, fmts="0 101",
                      want_fmt="0 101", d_ms=500):
        """A calls @vn from @caller offering @fmts; returns (uac run,
        peer, path of the relay port file)."""
        pa = self.peer(A_IP)
        fa = os.path.join(self.run_dir, "a_relay_port")
        ua = self.uac(scenario, vn, {"caller": caller, "mport": str(pa.port),
                                     "fmts": fmts, "want_fmt": want_fmt,
                                     "rtp_file": fa}, d_ms=d_ms)
        return ua, pa, fa

    def relay_port(self, fa):
        text = tm.wait_file(fa)
        self.assertTrue(text, "no relay port from the scenario")
        port = int(text)
        self.assertTrue(self.maskd.port_min <= port < self.maskd.port_max
                        and port % 2 == 0, port)
        return port

    def packets(self, peer, want=None, settle_s=1.0):
        """What reached the peer's RTP port, once nothing more arrives
        (or @want packets have)."""
        deadline = time.monotonic() + WAIT_S
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = len(peer.got["rtp"])
            if want is not None and n >= want:
                break
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= settle_s:
                break
            time.sleep(0.05)
        return list(peer.got["rtp"])

    def check_rtp(self, got, relay_port, pt, reference, whole=True):
        """@got are the packets of one play: from maskd's relay port, one
        SSRC, seq +1, ts +160, marker on the first only, and their
        payloads decode to the start of @reference (all of it when
        @whole)."""
        self.assertTrue(got, "no RTP reached the caller")
        ssrc0 = seq0 = ts0 = None
        audio = b""
        for k, (data, src, _) in enumerate(got):
            self.assertEqual(src, (tm.MASKD_IP, relay_port),
                             "RTP from elsewhere than maskd's port")
            self.assertEqual(len(data), 12 + FRAME, "not a 20 ms packet")
            b0, b1, seq, ts_, ssrc = struct.unpack("!BBHII", data[:12])
            self.assertEqual(b0, 0x80, "RTP v2, no padding/extension/CSRC")
            self.assertEqual(b1 & 0x7F, pt, "payload type")
            self.assertEqual(bool(b1 & 0x80), k == 0,
                             "marker on packet %d" % k)
            if k == 0:
                ssrc0, seq0, ts0 = ssrc, seq, ts_
            self.assertEqual(ssrc, ssrc0, "SSRC changed")
            self.assertEqual(seq, (seq0 + k) & 0xFFFF, "sequence gap")
            self.assertEqual(ts_, (ts0 + FRAME * k) & 0xFFFFFFFF,
                             "timestamp step")
            audio += g711_decode(data[12:], pt)
        if whole:
            self.assertEqual(len(audio), len(reference),
                             "%d samples played, the prompt has %d"
                             % (len(audio) // 2, len(reference) // 2))
        self.assertTrue(len(audio) <= len(reference))
        self.assertTrue(audio == reference[:len(audio)],
                        "the audio is not the prompt's, sample for sample")

    def check_masked(self, ua):
        for m in self.received(ua):
            self.assert_sdp_maskd(m)
            self.assertNotIn("127.0.0.3", m)

    def check_clean(self):
        ok, m = self.maskd.wait_zero()
        self.assertTrue(ok, "live counters not back to 0: %r" % {
            k: m.get(k) for k in ts.Maskd.LIVE})
        self.wait_pool_full()

    def stranger_vn(self):
        """A VN with a session, and a caller who is not party to it."""
        s = self.maskd.session(ts.caller_number(), ts.callee_number())
        return s["virtual_number"], ts.caller_number()

    def ended_vn(self):
        """An ended session's VN and its party A."""
        a = ts.caller_number()
        s = self.maskd.session(a, ts.callee_number())
        st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + s["id"])
        self.assertIn(st, (200, 204), raw)
        return s, a

    def counter(self, name):
        return self.maskd.metrics().get(name, 0)

    def unrouted_event(self, vn):
        """The one call.unrouted event of a call to @vn."""
        deadline = time.monotonic() + WAIT_S
        while True:
            st, js, raw = self.maskd.request(
                "GET", "/v1/events?type=call.unrouted")
            self.assertEqual(st, 200, raw)
            evs = [e["payload"]["data"] for e in js["events"]
                   if e["payload"]["data"]["virtual_number"] == vn]
            if evs or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(evs), 1, js)
        return evs[0]

    def sessionless_record(self, call_id):
        """GET /v1/calls/{call_id} of a call maskd answered without a
        session, once its record is stored: the record."""
        self.assertIsNotNone(call_id)
        deadline = time.monotonic() + WAIT_S
        while True:
            st, js, raw = self.maskd.request("GET", "/v1/calls/" + call_id)
            if st == 200 and "record" in js or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(st, 200, raw)
        self.assertIn("record", js, js)
        self.assertEqual(js["id"], call_id, js)
        self.assertIsNone(js["session_id"], js)
        self.assertEqual(js["direction"], "inbound", js)
        self.assertIsNone(js["first"], js)
        self.assertEqual(js["legs"], [], js)
        rec = js["record"]
        self.assertEqual(rec["id"], call_id, rec)
        self.assertIsNone(rec["session_id"], rec)
        self.assertEqual(rec["direction"], "inbound", rec)
        return rec


    def check_unknown_record(self, vn, caller, code, answered):
        """The announced unknown pair's call: call.unrouted names its
        record, a session-less one (reason announced, the VN, the
        caller as the event gave it, no PIN)."""
        ev = self.unrouted_event(vn)
        self.assertEqual(ev["action"], "announced", ev)
        self.assertEqual(ev["from"], caller, ev)
        rec = self.sessionless_record(ev["call_id"])
        self.assertEqual(rec["reason"], "announced", rec)
        self.assertEqual(rec["final_code"], code, rec)
        self.assertEqual(rec["virtual_number"], vn, rec)
        self.assertEqual(rec["from"], caller, rec)
        self.assertIsNone(rec["to"], rec)
        self.assertIsNone(rec["pin_status"], rec)
        self.assertEqual(rec["pin_attempts"], 0, rec)
        self.assertEqual(rec["hangup_by"], "maskd", rec)
        self.assertEqual(rec["answered_at"] is not None, answered, rec)
        self.assertGreaterEqual(rec["ended_at"], rec["started_at"], rec)
        return rec


class AnnounceEarly(AnnounceBase):
    """unknown_action = ended_action = announce: 183, prompt, 404."""
    SIP_LINES = "unknown_action = announce\nended_action = announce\n"
    EVENTS = True

    def test_unknown_pair_hears_prompt_then_404(self):
        before = self.counter("maskd_sip_announcements_total")
        kept = self.counter("maskd_store_sessionless_cdrs")
        vn, caller = self.stranger_vn()
        ua, pa, fa = self.announce_call("announce_uac.xml", vn, caller)
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("unknown"), PT_PCMU)
        got = self.packets(pa, want=len(ref) // 2 // FRAME)
        self.check_rtp(got, port, PT_PCMU, ref)
        self.check_masked(ua)
        self.assertEqual(self.counter("maskd_sip_announcements_total"),
                         before + 1)
        self.check_unknown_record(vn, caller, 404, answered=False)
        self.assertEqual(self.counter("maskd_store_sessionless_cdrs"),
                         kept + 1)
        self.check_clean()
        # the RTP stopped with the prompt
        n = len(pa.got["rtp"])
        time.sleep(0.5)
        self.assertEqual(len(pa.got["rtp"]), n, "RTP after the prompt")

    def test_ended_session_hears_expired_then_404(self):
        s, a = self.ended_vn()
        ua, pa, fa = self.announce_call("announce_uac.xml",
                                        s["virtual_number"], a)
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("expired"), PT_PCMU)
        got = self.packets(pa, want=len(ref) // 2 // FRAME)
        self.check_rtp(got, port, PT_PCMU, ref)
        self.check_masked(ua)
        self.check_cdr(s["id"], 404, "maskd", "announced", answered=False)
        # the ended session's call is that session's record, and
        # call.unrouted names it
        ev = self.unrouted_event(s["virtual_number"])
        self.assertEqual(ev["call_id"], self.maskd.calls(s["id"])[-1]["id"])
        self.check_clean()

    def test_pcma_offer_gets_pcma(self):
        vn, caller = self.stranger_vn()
        ua, pa, fa = self.announce_call("announce_uac.xml", vn, caller,
                                        fmts="8 0 101", want_fmt="8 101")
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("unknown"), PT_PCMA)
        got = self.packets(pa, want=len(ref) // 2 // FRAME)
        self.check_rtp(got, port, PT_PCMA, ref)
        self.check_clean()

    def test_no_telephone_event_offered(self):
        vn, caller = self.stranger_vn()
        ua, pa, fa = self.announce_call("announce_uac.xml", vn, caller,
                                        fmts="0", want_fmt="0")
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("unknown"), PT_PCMU)
        got = self.packets(pa, want=len(ref) // 2 // FRAME)
        self.check_rtp(got, port, PT_PCMU, ref)
        self.check_clean()

    def test_no_g711_gets_488(self):
        vn, caller = self.stranger_vn()
        ua, pa, fa = self.announce_call("announce_488_uac.xml", vn, caller,
                                        fmts="18 101", want_fmt="x")
        self.expect_rc(ua)
        self.assertEqual(self.packets(pa, settle_s=0.5), [])
        self.check_clean()

    def test_cancel_during_prompt(self):
        vn, caller = self.stranger_vn()
        ua, pa, fa = self.announce_call("announce_cancel_uac.xml", vn,
                                        caller, d_ms=800)
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("unknown"), PT_PCMU)
        got = self.packets(pa, settle_s=0.5)
        self.check_rtp(got, port, PT_PCMU, ref, whole=False)
        self.assertLess(len(got), len(ref) // 2 // FRAME,
                        "the whole prompt played despite the CANCEL")
        self.check_masked(ua)
        self.check_clean()
        n = len(pa.got["rtp"])
        time.sleep(0.5)
        self.assertEqual(len(pa.got["rtp"]), n, "RTP after the CANCEL")


class AnnounceAnswer(AnnounceBase):
    """announce_answer = yes: 200, prompt, BYE."""
    SIP_LINES = ("unknown_action = announce\nended_action = announce\n"
                 "announce_answer = yes\n")
    EVENTS = True

    def test_answered_prompt_then_bye(self):
        vn, caller = self.stranger_vn()
        ua, pa, fa = self.announce_call("announce_answer_uac.xml", vn,
                                        caller)
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("unknown"), PT_PCMU)
        got = self.packets(pa, want=len(ref) // 2 // FRAME)
        self.check_rtp(got, port, PT_PCMU, ref)
        self.check_masked(ua)
        self.check_unknown_record(vn, caller, 200, answered=True)
        self.check_clean()

    def test_answered_ended_session_cdr(self):
        s, a = self.ended_vn()
        ua, pa, fa = self.announce_call("announce_answer_uac.xml",
                                        s["virtual_number"], a)
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("expired"), PT_PCMU)
        got = self.packets(pa, want=len(ref) // 2 // FRAME)
        self.check_rtp(got, port, PT_PCMU, ref)
        self.check_cdr(s["id"], 200, "maskd", "announced", answered=True)
        self.check_clean()


    def test_caller_bye_during_prompt(self):
        s, a = self.ended_vn()
        ua, pa, fa = self.announce_call("announce_answer_bye_uac.xml",
                                        s["virtual_number"], a, d_ms=800)
        port = self.relay_port(fa)
        self.expect_rc(ua)
        ref = g711_reference(prompt_pcm("expired"), PT_PCMU)
        got = self.packets(pa, settle_s=0.5)
        self.check_rtp(got, port, PT_PCMU, ref, whole=False)
        self.assertLess(len(got), len(ref) // 2 // FRAME,
                        "the whole prompt played despite the BYE")
        self.check_cdr(s["id"], 200, "caller", "normal", answered=True)
        self.check_clean()
        n = len(pa.got["rtp"])
        time.sleep(0.5)
        self.assertEqual(len(pa.got["rtp"]), n, "RTP after the BYE")


class AnnounceRejectUnchanged(AnnounceBase):
    """unknown_action = reject (the default) keeps the bare 404 even
    while ended_action = announce."""
    SIP_LINES = "ended_action = announce\n"
    EVENTS = True

    def test_unknown_pair_bare_404(self):
        kept = self.counter("maskd_store_sessionless_cdrs")
        vn, caller = self.stranger_vn()
        pa = self.peer(A_IP)
        ua = self.uac("reject_uac.xml", vn, {"caller": caller,
                                              "code": "404"})
        self.expect_rc(ua)
        for m in self.received(ua):
            self.assertFalse(m.startswith("SIP/2.0 183"), m)
            self.assertNotIn("m=audio", m)
        self.assertEqual(self.packets(pa, settle_s=0.5), [])
        # a bare refusal files no record (README: flood): the event
        # says so with a null call_id
        ev = self.unrouted_event(vn)
        self.assertEqual(ev["action"], "rejected", ev)
        self.assertIsNone(ev["call_id"], ev)
        self.assertEqual(self.counter("maskd_store_sessionless_cdrs"), kept)
        self.check_clean()


if __name__ == "__main__":
    ts.main(globals())
