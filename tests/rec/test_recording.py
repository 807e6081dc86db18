#!/usr/bin/env python3
"""test_recording.py - call recording end to end.

Run by ctest as:
    python3 tests/rec/test_recording.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k kill).

SIPp does the signalling and Python RTP peers the media, through
tests/sip/test_sip.py's harness and tests/sip/test_media.py's peers: a
session with record = true, party A sending a 440 Hz tone and party B a
1,000 Hz tone, G.711-encoded here. The file maskd writes is read back
with the wave module and checked by spectrum (Goertzel): A's tone on the
left channel, B's on the right, whoever called; its length is the
answered time (the CDR's duration_ms) within 100 ms; loud 20 ms bursts
both parties send at the same instants land within 20 ms of each other
in the two channels through 2 s without RTP from one side, 5% loss, an
SSRC change with a timestamp jump, a switch to PCMA, a SIP hold and a
re-INVITE to PCMA, and a silent side. G.722 (encoded here with spandsp
through ctypes) makes a 16 kHz file; a codec maskd cannot decode fails
the recording, never the call; MP3 is read back through libsndfile;
[recording] announce plays `recorded` to both before they are bridged.
Also: kill -9 during a recorded call leaves a file that plays after the
restart; an unwritable directory fails the recording, never the call;
the download with and without the token, with Range; DELETE; retention.

Python 3 standard library and SIPp only; loopback only. Nothing here
asserts speed: every wait is bounded and generous.
"""
import hashlib
import math
import os
import random
import socket
import struct
import sys
import threading
import time
import unittest
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sip"))
import test_sip as ts    # noqa: E402  (the harness)
import test_media as tm  # noqa: E402  (RTP peers, MediaMaskd)

ARGS = None
RATE = 8000
PKT = 160                # samples per 20 ms packet
TONE_A = 440.0
TONE_B = 1000.0
LEVEL = 6000             # the tones' amplitude
BURST = 28000            # the alignment bursts' amplitude
WAIT_S = 30


# ---- G.711 (ITU-T G.711, the classic segment coders) --------------------

def ulaw(x):
    x = max(-32635, min(32635, int(x)))
    sign = 0x80 if x < 0 else 0
    if x < 0:
        x = -x
    x += 0x84
    seg = 7
    for s in range(8):
        if x <= (0xFF << s):
            seg = s
            break
    return ~(sign | (seg << 4) | ((x >> (seg + 3)) & 0x0F)) & 0xFF


def alaw(x):
    x = max(-32767, min(32767, int(x)))
    sign = 0x80 if x >= 0 else 0
    if x < 0:
        x = -x - 1 if x > -32768 else 32767
    x >>= 3
    if x < 32:
        code = x >> 1
    else:
        seg = 1
        while x >= (64 << (seg - 1)) and seg < 7:
            seg += 1
        code = (seg << 4) | ((x >> seg) & 0x0F)
    return (code | sign) ^ 0x55


# ---- what a party sends ---------------------------------------------------

class ToneStream:
    """20 ms packets of a continuous tone, PCMU (or PCMA after
    use_pcma()); burst(k) makes packet k a loud square wave instead."""

    def __init__(self, freq):
        self.freq = freq
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.n = 0              # samples made so far
        self.pt = 0

    def packet(self, burst=False):
        samples = []
        for i in range(PKT):
            t = (self.n + i) / RATE
            if burst:
                samples.append(BURST if (i // 8) % 2 == 0 else -BURST)
            else:
                samples.append(LEVEL * math.sin(2 * math.pi * self.freq * t))
        self.n += PKT
        enc = alaw if self.pt == 8 else ulaw
        payload = bytes(enc(s) for s in samples)
        pkt = tm.rtp_packet(self.pt, self.seq, self.ts, self.ssrc, payload)
        self.seq = (self.seq + 1) & 0xffff
        self.ts = (self.ts + PKT) & 0xffffffff
        return pkt

    def skip(self):
        """A packet lost on the way: numbers and clock move on."""
        self.n += PKT
        self.seq = (self.seq + 1) & 0xffff
        self.ts = (self.ts + PKT) & 0xffffffff

    def new_ssrc(self, ts_jump):
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = (self.ts + ts_jump) & 0xffffffff


class G722Stream(ToneStream):
    """The tone as G.722 (payload type 9): 320 samples at 16 kHz in 160
    bytes per 20 ms, the RTP clock still 8 kHz (RFC 3551). Encoded with
    spandsp through ctypes (the standard library has no G.722)."""

    def __init__(self, freq):
        import ctypes
        import ctypes.util
        super().__init__(freq)
        self.pt = 9
        lib = ctypes.CDLL(ctypes.util.find_library("spandsp") or
                          "libspandsp.so.2")
        lib.g722_encode_init.restype = ctypes.c_void_p
        lib.g722_encode_init.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                         ctypes.c_int]
        lib.g722_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_short),
                                    ctypes.c_int]
        lib.g722_encode_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.ctypes = ctypes
        self.enc = lib.g722_encode_init(None, 64000, 0)
        assert self.enc, "g722_encode_init"

    def packet(self, burst=False):
        ct = self.ctypes
        amp = (ct.c_short * (2 * PKT))()
        for i in range(2 * PKT):
            t = (2 * self.n + i) / (2 * RATE)
            amp[i] = int((BURST if (i // 16) % 2 == 0 else -BURST) if burst
                         else LEVEL * math.sin(2 * math.pi * self.freq * t))
        out = ct.create_string_buffer(PKT)
        n = self.lib.g722_encode(self.enc, out, amp, 2 * PKT)
        assert n == PKT, n
        self.n += PKT
        pkt = tm.rtp_packet(9, self.seq, self.ts, self.ssrc, out.raw[:n])
        self.seq = (self.seq + 1) & 0xffff
        self.ts = (self.ts + PKT) & 0xffffffff
        return pkt

    def close(self):
        self.lib.g722_encode_free(self.enc)


class Plan:
    """What each side does at tick k (20 ms each): "send", "burst",
    "skip" (lost), "quiet" (nothing, the clock goes on), or a callable
    run on the stream first."""

    def __init__(self, ticks):
        self.ticks = ticks
        self.bursts = set()
        self.a = {}
        self.b = {}
        self.hook = None    # hook(k, sa, sb): run first at every tick


def play(plan, pa, ra, sa, pb, rb, sb):
    """Send both sides' packets on one 20 ms clock, from each peer's RTP
    socket to its relay port; returns the monotonic time of each burst
    tick."""
    t0 = time.monotonic()
    sent_at = {}
    for k in range(plan.ticks):
        if plan.hook:
            plan.hook(k, sa, sb)
        for side, peer, port, stream in (("a", pa, ra, sa),
                                         ("b", pb, rb, sb)):
            act = getattr(plan, side).get(k, "send")
            if callable(act):
                act(stream)
                act = "send"
            if act == "quiet":
                continue
            if act == "skip":
                stream.skip()
                continue
            burst = k in plan.bursts
            peer.rtp.sendto(stream.packet(burst), (tm.MASKD_IP, port))
        if k in plan.bursts:
            sent_at[k] = time.monotonic()
        delay = t0 + (k + 1) * 0.020 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return sent_at


# ---- reading the file back -------------------------------------------------

def read_wav(path):
    """(rate, left samples, right samples)."""
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 2, "not stereo"
        assert w.getsampwidth() == 2, "not 16-bit"
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    n = len(raw) // 4
    vals = struct.unpack("<%dh" % (2 * n), raw[:4 * n])
    return rate, vals[0::2], vals[1::2]


def goertzel(x, rate, freq):
    """Power of @freq in samples @x."""
    w = 2 * math.pi * freq / rate
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + c * s1 - s2, s1
    return s1 * s1 + s2 * s2 - c * s1 * s2


def bursts(x, rate):
    """Start (seconds) of each run of loud samples, runs at least 100 ms
    apart."""
    out = []
    last = -1e9
    for i, v in enumerate(x):
        if abs(v) > BURST * 0.6 and i - last > rate // 10:
            out.append(i / rate)
            last = i
        elif abs(v) > BURST * 0.6:
            last = i
    return out


# ---- maskd with [recording] -------------------------------------------------

class RecMaskd(tm.MediaMaskd):
    def __init__(self, tmp, lo, hi, rec_lines):
        super().__init__(tmp, lo, hi)
        self.rec_lines = rec_lines

    def write_config(self):
        super().write_config()
        with open(self.conf_path, "a") as f:
            f.write("[recording]\n" + self.rec_lines +
                    # a key to sign with: sessions may then have a
                    # callback_url, and their events are written
                    "[events]\nsecrets = whsec_MDEyMzQ1Njc4OWFiY2RlZjAx"
                    "MjM0NTY3ODlhYmNkZWY=\nallow = 127.0.0.0/8\n")

    def rec_dir(self):
        return os.path.join(self.dir, "var", "recordings")


class RecBase(tm.MediaBase):
    REC = "format = wav\n"

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = tm.port_range(cls.N_PORTS)
        return RecMaskd(tmp, lo, hi, cls.REC)

    @classmethod
    def setUpClass(cls):
        tm.ARGS = ARGS
        super().setUpClass()

    def recorded_call(self, plan, d_ms, record=True, **session_kw):
        """A call of @d_ms with both parties' media per @plan; returns
        (call, its CDR)."""
        c = self.media_call("media_uac.xml", "media_uas.xml", d_ms=d_ms,
                            record=record, **session_kw)
        sa, sb = ToneStream(TONE_A), ToneStream(TONE_B)
        c["sent_at"] = play(plan, c["pa"], c["ra"], sa, c["pb"], c["rb"],
                            sb)
        self.expect_rc(c["ua"])
        self.expect_rc(c["gw"])
        calls = self.wait_cdrs(c["session"]["id"])
        self.assertTrue(calls, "no CDR")
        return c, calls[-1]

    def wait_recording(self, sid, timeout=WAIT_S):
        """The CDR once its recording is ready (or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cdr = self.maskd.calls(sid)[-1]
            rec = cdr.get("recording", "absent")
            if rec not in (None, "absent") or \
                    cdr.get("recording_error"):
                return cdr
            time.sleep(0.2)
        self.fail("no recording in the CDR after %ds\n%s"
                  % (timeout, self.maskd.diagnostics()))

    def rec_path(self, cdr, ext="wav"):
        return os.path.join(self.maskd.rec_dir(), cdr["id"] + "." + ext)

    def check_tones(self, left, right, rate, silent_right=False):
        """Left holds A's 440 Hz, right B's 1,000 Hz (over the samples
        given: bursts and silence cut out by the caller)."""
        la, lb = goertzel(left, rate, TONE_A), goertzel(left, rate, TONE_B)
        ra, rb = goertzel(right, rate, TONE_A), goertzel(right, rate, TONE_B)
        self.assertGreater(la, 20 * lb, "left: 440 Hz %.3g, 1 kHz %.3g"
                           % (la, lb))
        if silent_right:
            self.assertLess(max(abs(v) for v in right), 50,
                            "the silent side is not silent")
        else:
            self.assertGreater(rb, 20 * ra, "right: 1 kHz %.3g, 440 Hz "
                               "%.3g" % (rb, ra))

    def check_aligned(self, left, right, rate, n_bursts):
        bl, br = bursts(left, rate), bursts(right, rate)
        self.assertEqual(len(bl), n_bursts, "left bursts %r" % bl)
        self.assertEqual(len(br), n_bursts, "right bursts %r" % br)
        for x, y in zip(bl, br):
            self.assertLessEqual(abs(x - y), 0.020,
                                 "channels %.1f ms apart at %.2f s"
                                 % (abs(x - y) * 1000, x))
        return bl


# ---- the tests -----------------------------------------------------------------

class Recording(RecBase):

    def test_tones_left_and_right(self):
        """A's tone left, B's right, duration = answered time."""
        plan = Plan(150)
        plan.bursts = {25, 100}
        # a callback_url: the session's events are written (delivery
        # fails quietly: nothing listens there)
        c, cdr = self.recorded_call(plan, d_ms=2500,
                                    callback_url="http://127.0.0.1:9/x")
        cdr = self.wait_recording(c["session"]["id"])
        rec = cdr["recording"]
        self.assertEqual(rec["format"], "wav")
        # recording.ready, written with the record's update
        st, js, raw = self.maskd.request(
            "GET", "/v1/events?session_id=%s&type=recording.ready"
            % c["session"]["id"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(len(js["events"]), 1, js)
        data = js["events"][0]["payload"]["data"]
        self.assertEqual(data["call_id"], cdr["id"])
        self.assertEqual(data["recording"], rec)
        path = self.rec_path(cdr)
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o777, 0o640)
        self.assertEqual(rec["bytes"], st.st_size)
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             rec["sha256"])
        rate, left, right = read_wav(path)
        self.assertEqual(rate, 8000)
        dur_ms = len(left) * 1000 / rate
        self.assertLessEqual(abs(dur_ms - cdr["duration_ms"]), 100,
                             "file %d ms, answered %d ms"
                             % (dur_ms, cdr["duration_ms"]))
        self.assertLessEqual(abs(rec["duration_ms"] - dur_ms), 2)
        bl = self.check_aligned(left, right, rate, 2)
        # the tones between the bursts
        i = int((bl[0] + 0.2) * rate)
        self.check_tones(left[i:i + 8000], right[i:i + 8000], rate)

    def test_b_calls_channels_stay(self):
        """Party B calls: B is still the right channel."""
        plan = Plan(100)
        a, b = ts.caller_number(), ts.callee_number()
        # the session's party_b is the caller (on A's trunk address)
        s = self.maskd.session(b, a, record=True)
        vn = s["virtual_number"]
        pa, pb = self.peer(tm.A_IP), self.peer(tm.GW_IP)
        fa = os.path.join(self.run_dir, "a_relay_port")
        fb = os.path.join(self.run_dir, "b_relay_port")
        gw = self.uas("media_uas.xml", {"vn": vn, "callee": b,
                      "mport": str(pb.port), "rtp_file": fb}, d_ms=2000)
        ua = self.uac("media_uac.xml", vn, {"caller": a,
                      "mport": str(pa.port), "rtp_file": fa}, d_ms=2000)
        ra, rb = tm.wait_file(fa), tm.wait_file(fb)
        self.assertTrue(ra and rb)
        # the caller (party_b of the session) sends 1 kHz, the callee
        # (party_a) 440 Hz: party_a must come out left
        play(plan, pa, int(ra), ToneStream(TONE_B), pb, int(rb),
             ToneStream(TONE_A))
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.wait_cdrs(s["id"])
        cdr = self.wait_recording(s["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        self.check_tones(left[4000:12000], right[4000:12000], rate)

    def test_impairments_stay_aligned(self):
        """2 s of no RTP from A, 5% loss from B, B's SSRC change with a
        timestamp jump, A's timestamps pausing through its silence, B
        switching to PCMA: bursts stay within 20 ms."""
        plan = Plan(300)
        plan.bursts = {20, 170, 230, 255}
        rnd = random.Random(12)
        for k in range(300):
            if k not in plan.bursts and rnd.random() < 0.05:
                plan.b[k] = "skip"
        for k in range(40, 140):           # A: 2 s without RTP
            plan.a[k] = "quiet"
        plan.b[150] = lambda s: s.new_ssrc(123456789)

        def pcma(s):
            s.pt = 8
        plan.b[200] = pcma
        c, cdr = self.recorded_call(plan, d_ms=5600)
        cdr = self.wait_recording(c["session"]["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        self.assertLessEqual(abs(len(left) * 1000 / rate -
                                 cdr["duration_ms"]), 100)
        bl = self.check_aligned(left, right, rate, 4)
        # A's 2 s without RTP is silence on the left
        mid = int((bl[0] + 1.2) * rate)
        self.assertLess(max(abs(v) for v in left[mid:mid + 4000]), 50)
        # after the SSRC change and the PCMA switch: still the tones
        i = int((bl[2] + 0.1) * rate)
        self.check_tones(left[i:i + 3000], right[i:i + 3000], rate)

    def test_reinvite_to_pcma(self):
        """A re-INVITE switches both sides to PCMA mid-call: the tones
        and the alignment go on."""
        c = self.media_call("media_pcma_uac.xml", "media_pcma_uas.xml",
                            d_ms=1500, record=True)
        mark = c["fa"] + ".resumed"
        switched = []
        plan = Plan(250)

        def hook(k, sa, sb):
            if not switched and os.path.exists(mark):
                switched.append(k)
                sa.pt = sb.pt = 8
                plan.bursts.update({k + 20, k + 70})
        plan.hook = hook
        plan.bursts = {25}
        sa, sb = ToneStream(TONE_A), ToneStream(TONE_B)
        play(plan, c["pa"], c["ra"], sa, c["pb"], c["rb"], sb)
        self.expect_rc(c["ua"])
        self.expect_rc(c["gw"])
        self.assertTrue(switched, "the re-INVITE never happened")
        self.wait_cdrs(c["session"]["id"])
        cdr = self.wait_recording(c["session"]["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        self.assertLessEqual(abs(len(left) * 1000 / rate -
                                 cdr["duration_ms"]), 100)
        bl = self.check_aligned(left, right, rate, 3)
        # PCMA after the switch decodes to the same tones
        i = int((bl[1] + 0.1) * rate)
        self.check_tones(left[i:i + 3200], right[i:i + 3200], rate)

    def test_sip_hold(self):
        """A holds B with a re-INVITE: neither sends RTP until the
        resume; the hold is silence in both channels, aligned after."""
        c = self.media_call("media_hold_uac.xml", "media_hold_uas.xml",
                            d_ms=1500, record=True)
        mark = c["fa"] + ".resumed"
        resumed = []
        plan = Plan(320)

        def hook(k, sa, sb):
            if resumed or k < 90:
                return
            if os.path.exists(mark):
                resumed.append(k)
                plan.bursts.update({k + 20, k + 80})
                for kk in range(k, plan.ticks):
                    plan.a.pop(kk, None)
                    plan.b.pop(kk, None)
            else:
                for kk in range(k, k + 2):
                    plan.a[kk] = plan.b[kk] = "quiet"
        plan.hook = hook
        plan.bursts = {25}
        play(plan, c["pa"], c["ra"], ToneStream(TONE_A), c["pb"], c["rb"],
             ToneStream(TONE_B))
        self.expect_rc(c["ua"])
        self.expect_rc(c["gw"])
        self.assertTrue(resumed, "the hold was never resumed")
        self.wait_cdrs(c["session"]["id"])
        cdr = self.wait_recording(c["session"]["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        self.assertLessEqual(abs(len(left) * 1000 / rate -
                                 cdr["duration_ms"]), 100)
        bl = self.check_aligned(left, right, rate, 3)
        # the hold (ticks 90 to the resume, 20 ticks before the second
        # burst; the first burst is tick 25) is silence
        hold = left[int((bl[0] + 1.4) * rate):int((bl[1] - 0.5) * rate)]
        self.assertGreater(len(hold), rate // 2)
        self.assertLess(max(abs(v) for v in hold), 50)
        i = int((bl[1] + 0.1) * rate)
        self.check_tones(left[i:i + 3200], right[i:i + 3200], rate)

    def test_g722_is_16khz(self):
        """Both sides negotiate and speak G.722: the file is 16 kHz, the
        tones on their channels, aligned, as long as the answered time."""
        plan = Plan(120)
        plan.bursts = {20, 80}
        sa, sb = G722Stream(TONE_A), G722Stream(TONE_B)
        c = self.media_call("media_g722_uac.xml", "media_g722_uas.xml",
                            d_ms=2000, record=True)
        play(plan, c["pa"], c["ra"], sa, c["pb"], c["rb"], sb)
        sa.close()
        sb.close()
        self.expect_rc(c["ua"])
        self.expect_rc(c["gw"])
        self.wait_cdrs(c["session"]["id"])
        cdr = self.wait_recording(c["session"]["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        self.assertEqual(rate, 16000)
        self.assertLessEqual(abs(len(left) * 1000 / rate -
                                 cdr["duration_ms"]), 100)
        bl = self.check_aligned(left, right, rate, 2)
        i = int((bl[0] + 0.1) * rate)
        self.check_tones(left[i:i + 8000], right[i:i + 8000], rate)

    def test_one_silent_side(self):
        plan = Plan(120)
        for k in range(120):
            plan.b[k] = "quiet"
        c, cdr = self.recorded_call(plan, d_ms=2000)
        cdr = self.wait_recording(c["session"]["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        self.assertLessEqual(abs(len(left) * 1000 / rate -
                                 cdr["duration_ms"]), 100)
        self.check_tones(left[2000:10000], right[2000:10000], rate,
                         silent_right=True)

    def test_codec_unsupported(self):
        """Both sides send G.729 (payload type 18): no file,
        recording.failed codec_unsupported, the call goes on."""
        plan = Plan(100)

        def g729(k, sa, sb):
            sa.pt = sb.pt = 18
        plan.hook = g729
        c, cdr = self.recorded_call(plan, d_ms=1800,
                                    callback_url="http://127.0.0.1:9/x")
        self.assertEqual(cdr["final_code"], 200)
        self.assertGreater(len(c["pb"].got["rtp"]), 50)
        deadline = time.monotonic() + WAIT_S
        js = None
        while time.monotonic() < deadline:
            st, js, raw = self.maskd.request(
                "GET", "/v1/events?session_id=%s&type=recording.failed"
                % c["session"]["id"])
            if js and js["events"]:
                break
            time.sleep(0.2)
        self.assertEqual(len(js["events"]), 1, js)
        self.assertEqual(js["events"][0]["payload"]["data"]["reason"],
                         "codec_unsupported")
        self.assertIsNone(self.maskd.calls(c["session"]["id"])[-1]
                          ["recording"])
        self.assertFalse(os.path.exists(self.rec_path(cdr)))

    def test_not_recorded_without_flag(self):
        plan = Plan(50)
        c, cdr = self.recorded_call(plan, d_ms=800, record=False)
        time.sleep(1)
        self.assertIsNone(self.maskd.calls(c["session"]["id"])[-1]
                          .get("recording"))
        self.assertFalse(os.path.exists(self.rec_path(cdr)))

    def test_download_range_delete(self):
        plan = Plan(60)
        c, cdr = self.recorded_call(plan, d_ms=1000)
        cdr = self.wait_recording(c["session"]["id"])
        url = cdr["recording"]["url"]
        self.assertEqual(url, "/v1/calls/%s/recording" % cdr["id"])
        with open(self.rec_path(cdr), "rb") as f:
            data = f.read()
        st, _, raw = self.maskd.request("GET", url, token=None)
        self.assertEqual(st, 401)
        st, _, raw = self.maskd.request("GET", url, token="wrong-token-xx")
        self.assertEqual(st, 401)
        st, hdrs, raw = self.get(url)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["Content-Type"], "audio/wav")
        self.assertEqual(raw, data)
        self.assertEqual(hdrs["Accept-Ranges"], "bytes")
        st, hdrs, raw = self.get(url, {"Range": "bytes=10-109"})
        self.assertEqual(st, 206)
        self.assertEqual(raw, data[10:110])
        self.assertEqual(hdrs["Content-Range"],
                         "bytes 10-109/%d" % len(data))
        st, hdrs, raw = self.get(url, {"Range": "bytes=-44"})
        self.assertEqual(st, 206)
        self.assertEqual(raw, data[-44:])
        st, hdrs, raw = self.get(url, {"Range": "bytes=%d-" % len(data)})
        self.assertEqual(st, 416)
        st, _, _ = self.maskd.request("DELETE", url, token=None)
        self.assertEqual(st, 401)
        st, _, _ = self.maskd.request("DELETE", url)
        self.assertEqual(st, 204)
        self.assertFalse(os.path.exists(self.rec_path(cdr)))
        st, _, _ = self.maskd.request("GET", url)
        self.assertEqual(st, 404)
        st, _, _ = self.maskd.request("DELETE", url)
        self.assertEqual(st, 404)
        self.assertIsNone(self.maskd.calls(c["session"]["id"])[-1]
                          ["recording"])
        st, _, _ = self.maskd.request("GET", "/v1/calls/%s/recording"
                                      % ("0" * 32))
        self.assertEqual(st, 404)
        st, js, _ = self.maskd.request("GET", "/v1/calls/nothex/recording")
        self.assertEqual(st, 404)

    def get(self, url, headers=None):
        import http.client
        h = {"Authorization": "Bearer " + ts.TOKEN}
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.maskd.api_port,
                                          timeout=60)
        try:
            conn.request("GET", url, headers=h)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()


class RecordingAnnounce(RecBase):
    """[recording] announce = yes: both parties first hear `recorded`
    (maskd's packets, its own SSRC), then each other."""
    REC = "announce = yes\n"

    def test_both_hear_the_prompt_first(self):
        plan = Plan(200)
        c = self.media_call("media_uac.xml", "media_uas.xml", d_ms=4000,
                            record=True)
        sa, sb = ToneStream(TONE_A), ToneStream(TONE_B)
        play(plan, c["pa"], c["ra"], sa, c["pb"], c["rb"], sb)
        self.expect_rc(c["ua"])
        self.expect_rc(c["gw"])
        for peer, other in ((c["pa"], sb), (c["pb"], sa)):
            ssrcs = [tm.rtp_fields(d)[4] for d, _, _ in peer.got["rtp"]]
            self.assertTrue(ssrcs, "nothing arrived")
            first = ssrcs[0]
            self.assertNotEqual(first, other.ssrc, "no prompt first")
            prompt = [x for x in ssrcs if x == first]
            # 1.6 s of prompt in 20 ms packets
            self.assertGreaterEqual(len(prompt), 70)
            self.assertLessEqual(len(prompt), 90)
            # then the other party, bridged again
            self.assertIn(other.ssrc, ssrcs[len(prompt):])
            self.assertNotIn(other.ssrc, ssrcs[:len(prompt)])
        cdr = self.wait_recording(c["session"]["id"])
        rate, left, right = read_wav(self.rec_path(cdr))
        # the parties were recorded during the prompt too
        self.check_tones(left[2000:10000], right[2000:10000], rate)


def read_sndfile(path):
    """(rate, left, right) of any file libsndfile reads (MP3 too),
    through ctypes: the standard library has no MP3 decoder."""
    import ctypes
    import ctypes.util

    class Info(ctypes.Structure):
        _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int),
                    ("channels", ctypes.c_int), ("format", ctypes.c_int),
                    ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]
    lib = ctypes.CDLL(ctypes.util.find_library("sndfile") or
                      "libsndfile.so.1")
    lib.sf_open.restype = ctypes.c_void_p
    lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int,
                            ctypes.POINTER(Info)]
    lib.sf_readf_short.restype = ctypes.c_int64
    lib.sf_readf_short.argtypes = [ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_short),
                                   ctypes.c_int64]
    lib.sf_close.argtypes = [ctypes.c_void_p]
    info = Info()
    f = lib.sf_open(path.encode(), 0x10, ctypes.byref(info))  # SFM_READ
    assert f, "libsndfile cannot open " + path
    out = []
    buf = (ctypes.c_short * (2 * 4096))()
    while True:
        n = lib.sf_readf_short(f, buf, 4096)
        if n <= 0:
            break
        out.extend(buf[:2 * n])
    lib.sf_close(f)
    assert info.channels == 2, "not stereo"
    return info.samplerate, out[0::2], out[1::2]


class RecordingMp3(RecBase):
    """[recording] format = mp3 (bookworm's libsndfile writes it)."""
    REC = "format = mp3\n"

    def test_mp3(self):
        plan = Plan(120)
        c, cdr = self.recorded_call(plan, d_ms=2000)
        cdr = self.wait_recording(c["session"]["id"])
        rec = cdr["recording"]
        self.assertEqual(rec["format"], "mp3")
        path = self.rec_path(cdr, "mp3")
        self.assertEqual(os.stat(path).st_size, rec["bytes"])
        st, _, raw = self.maskd.request("GET", rec["url"])
        self.assertEqual(st, 200)
        self.assertEqual(hashlib.sha256(raw).hexdigest(), rec["sha256"])
        rate, left, right = read_sndfile(path)
        self.assertEqual(rate, 8000)
        # MP3 frames round the length up (1,152 samples at most)
        self.assertLessEqual(abs(len(left) * 1000 / rate -
                                 cdr["duration_ms"]), 100 + 144)
        self.check_tones(left[2000:10000], right[2000:10000], rate)


class RecordingKill(RecBase):
    """kill -9 in the middle of a recorded call: the file plays after the
    restart."""

    def test_kill_9_leaves_playable_file(self):
        c = self.media_call("media_uac.xml", "media_uas.xml", d_ms=20000,
                            record=True)
        plan = Plan(150)
        play(plan, c["pa"], c["ra"], ToneStream(TONE_A), c["pb"], c["rb"],
             ToneStream(TONE_B))
        m = self.maskd
        m.proc.kill()
        m.proc.wait()
        m._stderr.close()
        m._stderr = None
        m.proc = None
        for r in self.runs:
            r.proc.kill()
            r.wait()
        files = [f for f in os.listdir(m.rec_dir()) if f.endswith(".wav")]
        self.assertEqual(len(files), 1, files)
        path = os.path.join(m.rec_dir(), files[0])
        # as the crash left it: a valid WAV up to its last header update
        # (every second), 3 s having been sent
        rate, left, right = read_wav(path)
        before = len(left)
        self.assertGreater(before, rate * 1.5, "only %d frames" % before)
        self.check_tones(left[2000:10000], right[2000:10000], rate)
        m.start()
        # the restart repaired the header: everything written is in
        rate, left, right = read_wav(path)
        self.assertGreaterEqual(len(left), before)
        self.assertGreater(len(left), rate * 2.5, "only %d frames"
                           % len(left))
        self.assertEqual(m.metrics().get("maskd_recorder_repaired_total"),
                         1 if len(left) > before else 0)
        self.check_tones(left[2000:20000], right[2000:20000], rate)


class RecordingUnwritable(RecBase):
    """The recording directory cannot be made: the call goes on, the
    recording fails, reported."""
    REC = "dir = /dev/null/recordings\n"

    def test_call_unaffected(self):
        plan = Plan(75)
        c, cdr = self.recorded_call(plan, d_ms=1200,
                                    callback_url="http://127.0.0.1:9/x")
        # the media went through both ways
        self.assertGreater(len(c["pb"].got["rtp"]), 40)
        self.assertGreater(len(c["pa"].got["rtp"]), 40)
        self.assertEqual(cdr["final_code"], 200)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.maskd.metrics().get("maskd_recorder_failed_total"):
                break
            time.sleep(0.2)
        self.assertEqual(self.maskd.metrics().get(
            "maskd_recorder_failed_total"), 1)
        self.assertIn("not recorded", ts.read_text(self.maskd.log_path))
        cdr = self.maskd.calls(c["session"]["id"])[-1]
        self.assertIsNone(cdr["recording"])
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            st, js, raw = self.maskd.request(
                "GET", "/v1/events?session_id=%s&type=recording.failed"
                % c["session"]["id"])
            if js and js["events"]:
                break
            time.sleep(0.2)
        self.assertEqual(len(js["events"]), 1, raw)
        self.assertEqual(js["events"][0]["payload"]["data"]["reason"],
                         "io_error")


class RecordingRetention(RecBase):
    REC = "retention = 1\n"

    def test_purged_with_cdr_fields(self):
        plan = Plan(40)
        c, cdr = self.recorded_call(plan, d_ms=700)
        path = self.rec_path(cdr)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and (
                os.path.exists(path) or self.maskd.calls(
                    c["session"]["id"])[-1].get("recording")):
            time.sleep(0.2)
        self.assertFalse(os.path.exists(path))
        self.assertIsNone(self.maskd.calls(c["session"]["id"])[-1]
                          ["recording"])
        self.assertGreaterEqual(self.maskd.metrics().get(
            "maskd_recorder_purged_total"), 1)


if __name__ == "__main__":
    ts.main(globals())
