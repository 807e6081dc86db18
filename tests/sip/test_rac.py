#!/usr/bin/env python3
"""test_rac.py - request-a-call and participants, end to end.

Run by ctest as:
    python3 tests/sip/test_rac.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k busy).

The platform asks (POST /v1/sessions/{id}/calls): maskd calls the first
party from the VN, plays it `connecting` while it calls the second, and
bridges them; POST /v1/calls/{id}/participants calls a third party into
the call. Every outbound INVITE goes to the one [gateway] address, so
the gateway here is a Python SIP peer (sip_peers.py: Gateway) that
routes each INVITE by its Request-URI number to a Party, which answers
as its script says (ring, answer, refuse, never answer). Each party has
its own loopback address (127.0.0.21 ...): its Contact and its SDP name
it, so that in-dialog requests and media reach it there, and a leak of
one party's address to another shows in the same checks as a leaked
number. Every message each party received is read back: no other party's number or
address, no other leg's Call-ID, the VN in From and
P-Asserted-Identity, every SDP naming maskd only.

A 3-way call is checked by ear: each party sends its own tone through
the mixer and must hear the other two and not itself (Goertzel), one of
them in PCMA on a PCMU call.

Python 3 standard library only (test_sip.py's harness for maskd, the API
and the live counters); loopback only. Nothing here asserts speed: every
wait is bounded and generous.
"""
import os
import re
import struct
import sys
import tempfile
import time
import wave

ARGS = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ctl"))
import test_events as te  # noqa: E402  (the webhook Receiver)
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402
from sip_peers import (AMP, PARTY_IPS, RATE, Gateway, Party,  # noqa: E402
                       goertzel, number, sdp_media)

WAIT_S = 20

# ---- maskd --------------------------------------------------------------

class RacMaskd(tm.MediaMaskd):
    def __init__(self, tmp, port_min, port_max, max_participants=4,
                 extra=""):
        super().__init__(tmp, port_min, port_max, timeout_s=30,
                         ring_timeout_s=4)
        self.max_participants = max_participants
        self.extra = extra      # more sections

    def write_config(self):
        super().write_config()
        with open(self.conf_path, "a") as f:
            f.write("[conference]\nmax_participants = %d\n%s"
                    % (self.max_participants, self.extra))


class RacBase(tm.MediaBase):
    N_PORTS = 100
    EXTRA = ""          # more sections for the class's maskd

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = tm.port_range(cls.N_PORTS)
        return RacMaskd(tmp, lo, hi, extra=cls.EXTRA)

    @classmethod
    def setUpClass(cls):
        ts.ARGS = ARGS
        tm.ARGS = ARGS
        cls.tmp = tempfile.mkdtemp(prefix="maskd-rac-")
        cls.maskd = cls.make_maskd(cls.tmp).start()

    def setUp(self):
        super().setUp()
        self.gw = Gateway(ts.GW_IP, self.maskd.gw_port)
        self.gw.start()
        self.parties = []

    def tearDown(self):
        self.gw.stop()
        for p in self.parties:
            p.close()
        super().tearDown()

    # -- helpers --

    def party(self, prefix, ip, **kw):
        p = Party(self.gw, number(prefix), ip, **kw)
        self.gw.add(p)
        self.parties.append(p)
        return p

    def pair(self, a_kw=None, b_kw=None, **session_kw):
        a = self.party("+1202555", PARTY_IPS[0], **(a_kw or {}))
        b = self.party("+1303555", PARTY_IPS[1], **(b_kw or {}))
        s = self.maskd.session(a.number, b.number, **session_kw)
        return s, a, b

    def post_call(self, sid, body=None, want=201):
        st, js, raw = self.maskd.request("POST", "/v1/sessions/%s/calls"
                                         % sid, body or {})
        self.assertEqual(st, want, raw)
        return js

    def get_call(self, cid):
        st, js, raw = self.maskd.request("GET", "/v1/calls/%s" % cid)
        return st, js

    def wait_for(self, cond, what, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for %s\n%s\n%s"
                  % (what, self.trace(), self.maskd.diagnostics()))

    def trace(self):
        out = []
        for p in self.parties:
            out.append("--- %s (%s) events %r" % (p.number, p.ip, p.events))
            for m in p.received[-6:]:
                out.append(m.first)
        return "\n".join(out + ["gateway errors: %r" % self.gw.errors])

    def wait_state(self, p, state):
        self.wait_for(lambda: p.dialog and p.dialog["state"] == state,
                      "%s to be %s" % (p.number, state))

    def cdr(self, sid, timeout=WAIT_S):
        calls = self.wait_cdrs(sid, 1, timeout)
        return calls[-1]

    def check_masked(self, vn):
        """Nothing of any party reached another one: numbers, addresses,
        Call-IDs; From and PAI of every INVITE the VN; SDP maskd's."""
        legs = {p.number: set(m.get("call-id") for m in p.received
                              if m.get("call-id")) for p in self.parties}
        for p in self.parties:
            for m in p.received:
                for q in self.parties:
                    if q is p:
                        continue
                    for bad in (q.number, q.number.lstrip("+"), q.ip):
                        self.assertNotIn(bad, m.raw, "%s leaked to %s:\n%s"
                                         % (q.number, p.number, m.raw))
                    for cid in legs[q.number]:
                        self.assertNotIn(cid, m.raw, "Call-ID of %s "
                                         "reached %s" % (q.number, p.number))
                if m.method == "INVITE":
                    self.assertIn(vn, m.get("from"), m.raw)
                    self.assertIn(vn, m.get("p-asserted-identity") or "",
                                  m.raw)
                for addr in ts.sdp_addresses(m.raw.replace("\r\n", "\n")):
                    self.assertEqual(addr, ts.MASKD_IP, m.raw)
        self.assertEqual(self.gw.errors, [])

    # nta keeps an answered INVITE client transaction for 32 s (RFC 3261
    # timer D, whatever transaction_timeout says): each test waits for
    # everything else, test_zz for the transactions too
    NOW_ZERO = tuple(n for n in ts.Maskd.LIVE
                     if n != "maskd_sip_transactions_live")

    def check_clean(self, names=NOW_ZERO, timeout=60):
        ok, m = self.maskd.wait_zero(names, timeout)
        self.assertTrue(ok, "live counters not back to 0: %r\n%s"
                        % ({k: v for k, v in m.items() if "live" in k or
                            "in_use" in k}, self.maskd.diagnostics()))

    def rtp_flows(self, src, dst, n=10):
        """@src's RTP reaches @dst through maskd."""
        dst.drain_rtp()
        deadline = time.monotonic() + WAIT_S
        got = 0
        while time.monotonic() < deadline and got < 3:
            src.send_rtp(n)
            time.sleep(0.1)
            got += dst.drain_rtp()
        return got >= 3


# ---- request-a-call -------------------------------------------------------

class RequestACall(RacBase):

    def test_success_a_first_then_caller_hangs_up(self):
        s, a, b = self.pair(b_kw={"ring_s": 1.5})
        js = self.post_call(s["id"], {"first": "a"})
        self.assertEqual(js["session_id"], s["id"])
        self.assertEqual(js["direction"], "api")
        self.assertEqual(js["status"], "calling")
        self.assertEqual([(l["id"], l["party"]) for l in js["legs"]],
                         [(0, "a"), (1, "b")])
        cid = js["id"]
        self.wait_state(a, "up")
        # while the second rings, the first hears `connecting`
        self.wait_for(lambda: b.dialog is not None, "B's INVITE")
        self.assertFalse(b.saw("ack"))
        st, live = self.get_call(cid)
        self.assertEqual(st, 200, live)
        self.assertIn(live["status"], ("connecting", "connected"), live)
        self.wait_for(lambda: a.drain_rtp() > 0, "`connecting` at A")
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        st, live = self.get_call(cid)
        self.assertEqual(live["status"], "connected", live)
        self.assertEqual([l["state"] for l in live["legs"]],
                         ["answered", "answered"], live)
        self.assertIsNotNone(live["answered_at"])
        # one codec end to end: B was offered only what A chose
        self.assertEqual(sdp_media(b.dialog["invite"].body)[1][0], a.pt)
        self.assertTrue(self.rtp_flows(a, b), "A's RTP never reached B")
        self.assertTrue(self.rtp_flows(b, a), "B's RTP never reached A")
        a.bye()
        self.wait_for(lambda: b.saw("bye"), "BYE at B")
        c = self.cdr(s["id"])
        self.assertEqual(c["id"], cid)
        self.assertEqual((c["final_code"], c["hangup_by"], c["reason"]),
                         (200, "caller", "normal"), c)
        self.assertIsNotNone(c["answered_at"])
        self.assertGreater(c["media"]["packets_a_to_b"], 0, c)
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def test_no_body_is_defaults(self):
        s, a, b = self.pair(a_kw={"final": None})
        st, js, raw = self.maskd.request("POST", "/v1/sessions/%s/calls"
                                         % s["id"])
        self.assertEqual(st, 201, raw)
        self.assertEqual(js["first"], "a")
        self.wait_for(lambda: a.dialog is not None, "A's INVITE")
        self.maskd.request("DELETE", "/v1/calls/%s" % js["id"])
        self.cdr(s["id"])
        self.check_clean()

    def test_b_first_second_hangs_up(self):
        s, a, b = self.pair()
        js = self.post_call(s["id"], {"first": "b"})
        self.assertEqual([(l["id"], l["party"]) for l in js["legs"]],
                         [(0, "b"), (1, "a")])
        self.wait_state(b, "up")
        self.wait_state(a, "up")
        self.wait_for(lambda: a.saw("ack"), "A's ACK")
        self.assertLess(dict(b.events)["invite"], dict(a.events)["invite"])
        a.bye()         # the second party
        self.wait_for(lambda: b.saw("bye"), "BYE at B")
        c = self.cdr(s["id"])
        self.assertEqual((c["hangup_by"], c["reason"], c["direction"]),
                         ("callee", "normal", "api"), c)
        # party_b was called first: the record's from/to say so
        self.assertEqual((c["from"], c["to"]), (b.number, a.number), c)
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def test_answers_in_183(self):
        """Both parties answer maskd's offer in a 183 and send a 200
        without SDP (RFC 3264 early media): the call is bridged."""
        s, a, b = self.pair(a_kw={"early": True, "prefer": 8},
                            b_kw={"early": True})
        self.post_call(s["id"], {})
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        self.assertEqual((a.pt, b.pt), (8, 8))
        self.assertTrue(self.rtp_flows(a, b), "A's RTP never reached B")
        self.assertTrue(self.rtp_flows(b, a), "B's RTP never reached A")
        b.bye()
        self.wait_for(lambda: a.saw("bye"), "BYE at A")
        c = self.cdr(s["id"])
        self.assertEqual((c["hangup_by"], c["reason"]), ("callee", "normal"))
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def first_fails(self, final, code, reason, ring_s=0.2):
        s, a, b = self.pair(a_kw={"final": final, "ring_s": ring_s})
        js = self.post_call(s["id"], {"ring_timeout": 2})
        c = self.cdr(s["id"])
        self.assertEqual(c["id"], js["id"])
        self.assertEqual((c["final_code"], c["reason"]), (code, reason), c)
        self.assertIsNone(c["answered_at"], c)
        self.assertIsNone(b.dialog, "the second party was called")
        st, d = self.get_call(js["id"])
        self.assertEqual((st, d["status"], d["record"]["reason"]),
                         (200, "failed", reason), d)
        self.check_masked(s["virtual_number"])
        self.check_clean()
        return a

    def test_first_busy(self):
        self.first_fails(486, 486, "busy")

    def test_first_declines(self):
        self.first_fails(603, 603, "declined")

    def test_first_not_found(self):
        self.first_fails(404, 480, "no_answer")

    def test_first_no_answer_ring_timeout(self):
        a = self.first_fails(None, 480, "ring_timeout")
        self.assertTrue(a.saw("cancel"), "no CANCEL at A")

    def second_fails(self, final, code, reason, ring_s=0.2):
        s, a, b = self.pair(b_kw={"final": final, "ring_s": ring_s})
        self.post_call(s["id"], {"ring_timeout": 2})
        self.wait_state(a, "up")
        self.wait_for(lambda: a.saw("bye"), "BYE at A")
        c = self.cdr(s["id"])
        self.assertEqual((c["final_code"], c["reason"]), (code, reason), c)
        self.assertIsNone(c["answered_at"], c)
        self.check_masked(s["virtual_number"])
        self.check_clean()
        return a, b

    def test_second_busy_first_hears_goodbye(self):
        a, b = self.second_fails(486, 486, "second_busy")
        bye_t = dict(a.events)["bye"]
        # goodbye played before the BYE (at least a few packets)
        self.assertGreater(bye_t - dict(a.events)["ack"], 0.3)

    def test_second_no_answer(self):
        a, b = self.second_fails(None, 480, "second_ring_timeout")
        self.assertTrue(b.saw("cancel"), "no CANCEL at B")

    def test_delete_while_first_rings(self):
        s, a, b = self.pair(a_kw={"final": None})
        js = self.post_call(s["id"], {})
        self.wait_for(lambda: a.dialog is not None, "A's INVITE")
        st, d, raw = self.maskd.request("DELETE", "/v1/calls/%s" % js["id"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(d["status"], "ending")
        self.wait_for(lambda: a.saw("cancel"), "CANCEL at A")
        c = self.cdr(s["id"])
        self.assertEqual((c["final_code"], c["hangup_by"], c["reason"]),
                         (487, "maskd", "api_hangup"), c)
        self.check_clean()

    def test_delete_while_second_rings(self):
        s, a, b = self.pair(b_kw={"final": None})
        js = self.post_call(s["id"], {})
        self.wait_state(a, "up")
        self.wait_for(lambda: b.dialog is not None, "B's INVITE")
        st, d, raw = self.maskd.request("DELETE", "/v1/calls/%s" % js["id"])
        self.assertEqual(st, 200, raw)
        self.wait_for(lambda: a.saw("bye") and b.saw("cancel"),
                      "BYE at A and CANCEL at B")
        c = self.cdr(s["id"])
        self.assertEqual((c["hangup_by"], c["reason"]),
                         ("maskd", "api_hangup"), c)
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def test_delete_connected(self):
        s, a, b = self.pair()
        js = self.post_call(s["id"], {})
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        st, d, raw = self.maskd.request("DELETE", "/v1/calls/%s" % js["id"])
        self.assertEqual(st, 200, raw)
        self.wait_for(lambda: a.saw("bye") and b.saw("bye"), "both BYEs")
        c = self.cdr(s["id"])
        self.assertEqual((c["final_code"], c["hangup_by"], c["reason"]),
                         (200, "maskd", "api_hangup"), c)
        self.assertIsNotNone(c["answered_at"])
        # the call is over: GET shows its record, DELETE is 409
        st, d = self.get_call(js["id"])
        self.assertEqual(st, 200, d)
        self.assertEqual((d["id"], d["status"], d["direction"], d["legs"],
                          d["record"]["reason"]),
                         (js["id"], "completed", "api", [], "api_hangup"), d)
        st, d, raw = self.maskd.request("DELETE", "/v1/calls/%s" % js["id"])
        self.assertEqual((st, d["error"]["code"]), (409, "call_ended"), raw)
        self.check_clean()

    def test_time_limit(self):
        s, a, b = self.pair()
        self.post_call(s["id"], {"time_limit": 2})
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        t0 = time.monotonic()
        self.wait_for(lambda: a.saw("bye") and b.saw("bye"), "both BYEs")
        self.assertGreater(time.monotonic() - t0, 1.0)
        c = self.cdr(s["id"])
        self.assertEqual((c["hangup_by"], c["reason"]),
                         ("maskd", "call_time_limit"), c)
        self.check_clean()

    def test_session_closed_ends_it(self):
        s, a, b = self.pair(b_kw={"final": None})
        self.post_call(s["id"], {})
        self.wait_state(a, "up")
        self.wait_for(lambda: b.dialog is not None, "B's INVITE")
        st, _, raw = self.maskd.request("DELETE", "/v1/sessions/%s" % s["id"])
        self.assertIn(st, (200, 204), raw)
        self.wait_for(lambda: a.saw("bye") and b.saw("cancel"),
                      "BYE at A and CANCEL at B")
        c = self.cdr(s["id"])
        self.assertEqual(c["reason"], "session_closed", c)
        self.check_clean()

    def test_409_call_in_progress(self):
        s, a, b = self.pair(a_kw={"final": None})
        js = self.post_call(s["id"], {})
        self.wait_for(lambda: a.dialog is not None, "A's INVITE")
        st, e, raw = self.maskd.request("POST", "/v1/sessions/%s/calls"
                                        % s["id"], {})
        self.assertEqual(st, 409, raw)
        self.assertEqual(e["error"]["code"], "call_in_progress")
        self.maskd.request("DELETE", "/v1/calls/%s" % js["id"])
        self.cdr(s["id"])
        self.check_clean()

    def test_409_session_inactive_404_400(self):
        s, a, b = self.pair()
        self.maskd.request("DELETE", "/v1/sessions/%s" % s["id"])
        st, e, raw = self.maskd.request("POST", "/v1/sessions/%s/calls"
                                        % s["id"], {})
        self.assertEqual((st, e["error"]["code"]), (409, "session_inactive"))
        st, e, raw = self.maskd.request("POST", "/v1/sessions/%s/calls"
                                        % ("0" * 32), {})
        self.assertEqual(st, 404, raw)
        s2, a2, b2 = self.pair()
        for body, field in (({"first": "c"}, "first"),
                            ({"ring_timeout": 0}, "ring_timeout"),
                            ({"time_limit": -1}, "time_limit"),
                            ({"color": 1}, "color")):
            st, e, raw = self.maskd.request(
                "POST", "/v1/sessions/%s/calls" % s2["id"], body)
            self.assertEqual(st, 400, raw)
            self.assertIn(field, e["error"]["message"])
        st, e, raw = self.maskd.request("GET", "/v1/calls/%s" % ("0" * 32))
        self.assertEqual(st, 404, raw)
        st, e, raw = self.maskd.request("GET", "/v1/calls/nonsense")
        self.assertEqual(st, 404, raw)
        self.assertIsNone(a2.dialog)
        self.assertIsNone(a.dialog)

    def test_zz_counters_return_to_zero(self):
        """After every test of the class: transactions too."""
        self.check_clean(ts.Maskd.LIVE, 90)


# ---- participants ------------------------------------------------------

class Participants(RacBase):

    def connected(self, b_kw=None, c_kw=None):
        s, a, b = self.pair(b_kw=b_kw)
        js = self.post_call(s["id"], {})
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        c = self.party("+1404555", PARTY_IPS[2], **(c_kw or {}))
        return s, js["id"], a, b, c

    def add(self, cid, num, want=201):
        st, js, raw = self.maskd.request(
            "POST", "/v1/calls/%s/participants" % cid, {"number": num})
        self.assertEqual(st, want, raw)
        return js

    def legs(self, cid):
        st, js = self.get_call(cid)
        self.assertEqual(st, 200, js)
        return {l["id"]: l for l in js["legs"]}

    def hears(self, p, yes, no):
        pcm = p.heard_pcm()
        self.assertGreater(len(pcm), RATE // 2, "%s heard nothing"
                           % p.number)
        for hz in yes:
            pw = goertzel(pcm, hz)
            self.assertGreater(pw, 0.05 * AMP * AMP / 4,
                               "%s does not hear %d Hz (%.0f)"
                               % (p.number, hz, pw))
        for hz in no:
            pw = goertzel(pcm, hz)
            self.assertLess(pw, 0.01 * AMP * AMP / 4,
                            "%s hears %d Hz (%.0f)" % (p.number, hz, pw))

    def test_three_way_join_hear_leave(self):
        # the parties talk PCMU (B would rather have PCMA, but is offered
        # only what A chose); maskd offers C both and C takes PCMA: the
        # mixer decodes and encodes each leg in its own codec
        s, cid, a, b, c = self.connected(b_kw={"prefer": 8},
                                         c_kw={"prefer": 8})
        self.assertEqual((a.pt, b.pt), (0, 0))
        js = self.add(cid, c.number)
        self.assertEqual(js["participant"], 2)
        self.assertEqual(js["legs"][2]["party"], "participant")
        self.assertEqual(js["legs"][2]["number"], c.number)
        self.wait_for(lambda: c.saw("ack"), "C's ACK")
        self.assertEqual(c.pt, 8)
        self.assertEqual(self.legs(cid)[2]["state"], "answered")
        # each hears the other two and not itself
        for p, hz in ((a, 500), (b, 1100), (c, 1700)):
            p.start_tone(hz, 2.0)
        for p in (a, b, c):
            p.wait_tone()
        self.hears(a, (1100, 1700), (500,))
        self.hears(b, (500, 1700), (1100,))
        self.hears(c, (500, 1100), (1700,))
        # C leaves: the parties are a plain pair again
        c.bye()
        self.wait_for(lambda: 2 not in self.legs(cid), "C gone")
        self.assertTrue(self.rtp_flows(a, b), "A no longer reaches B")
        self.assertFalse(b.saw("bye"))
        a.bye()
        self.wait_for(lambda: b.saw("bye"), "BYE at B")
        cdr = self.cdr(s["id"])
        self.assertEqual(cdr["participants"], 3, cdr)
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def test_removed_by_api_and_call_end_takes_all(self):
        s, cid, a, b, c = self.connected()
        d = self.party("+1505555", PARTY_IPS[3], final=None)
        self.add(cid, c.number)
        self.wait_for(lambda: c.saw("ack"), "C's ACK")
        self.add(cid, d.number)
        self.wait_for(lambda: d.dialog is not None, "D's INVITE")
        # D's 180 is on its way (an ASan maskd may not have it yet)
        self.wait_for(lambda: self.legs(cid)[3]["state"] == "ringing",
                      "D ringing")
        # at max_participants (4): one more is refused
        st, e, raw = self.maskd.request(
            "POST", "/v1/calls/%s/participants" % cid,
            {"number": number("+1606555")})
        self.assertEqual((st, e["error"]["code"]),
                         (409, "too_many_participants"), raw)
        # the ringing one removed: CANCEL
        st, js, raw = self.maskd.request(
            "DELETE", "/v1/calls/%s/participants/3" % cid)
        self.assertEqual(st, 200, raw)
        self.wait_for(lambda: d.saw("cancel"), "CANCEL at D")
        self.wait_for(lambda: 3 not in self.legs(cid), "D gone")
        st, e, raw = self.maskd.request(
            "DELETE", "/v1/calls/%s/participants/3" % cid)
        self.assertEqual(st, 404, raw)
        # B hangs up: the call ends for everybody, C included
        b.bye()
        self.wait_for(lambda: a.saw("bye") and c.saw("bye"),
                      "BYE at A and C")
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def test_participant_fails_call_goes_on(self):
        s, cid, a, b, c = self.connected(c_kw={"final": 486})
        self.add(cid, c.number)
        self.wait_for(lambda: 2 not in self.legs(cid), "C gone")
        self.assertTrue(self.rtp_flows(a, b), "A no longer reaches B")
        st, js, raw = self.maskd.request("DELETE", "/v1/calls/%s" % cid)
        self.assertEqual(st, 200, raw)
        self.wait_for(lambda: a.saw("bye") and b.saw("bye"), "both BYEs")
        cdr = self.cdr(s["id"])
        self.assertEqual(cdr["participants"], 2, cdr)   # nobody joined
        self.check_masked(s["virtual_number"])
        self.check_clean()

    def test_participant_errors(self):
        s, a, b = self.pair(b_kw={"final": None})
        js = self.post_call(s["id"], {})
        cid = js["id"]
        self.wait_for(lambda: b.dialog is not None, "B's INVITE")
        st, e, raw = self.maskd.request(
            "POST", "/v1/calls/%s/participants" % cid,
            {"number": number("+1404555")})
        self.assertEqual((st, e["error"]["code"]),
                         (409, "call_not_connected"), raw)
        for body, field in (({"number": "12"}, "number"), ({}, "number"),
                            ({"number": "+14045550000", "x": 1}, "x")):
            st, e, raw = self.maskd.request(
                "POST", "/v1/calls/%s/participants" % cid, body)
            self.assertEqual(st, 400, raw)
            self.assertIn(field, e["error"]["message"])
        st, e, raw = self.maskd.request(
            "POST", "/v1/calls/%s/participants" % ("0" * 32),
            {"number": "+14045550000"})
        self.assertEqual(st, 404, raw)
        st, e, raw = self.maskd.request(
            "DELETE", "/v1/calls/%s/participants/0" % cid)
        self.assertEqual(st, 400, raw)
        self.assertIn("leg_id", e["error"]["message"])
        st, e, raw = self.maskd.request(
            "DELETE", "/v1/calls/%s/participants/2" % cid)
        self.assertEqual(st, 404, raw)
        self.maskd.request("DELETE", "/v1/calls/%s" % cid)
        self.cdr(s["id"])
        self.check_clean()

    def test_zz_counters_return_to_zero(self):
        self.check_clean(ts.Maskd.LIVE, 90)


# ---- events, and an inbound call with a participant ---------------------

class EventsAndInbound(RacBase):
    """call.* events of a request-a-call, each leg's; and a participant
    added to a call a carrier brought (SIPp as the caller), found by the
    call_id of its call.initiated event."""

    @classmethod
    def setUpClass(cls):
        cls.rcv = te.Receiver().start()
        cls.EXTRA = ("[events]\nurl = %s\nsecrets = %s\n"
                     "allow = 127.0.0.0/8\nretry_schedule = 0,1,1\n"
                     "timeout = 5\n" % (cls.rcv.url("/all"), te.SECRET))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.rcv.stop()

    def events(self, sid, n, what):
        out = []

        def enough():
            out[:] = [e for e in self.rcv.of_session(sid)
                      if e["type"].startswith("call.")]
            return len(out) >= n
        self.wait_for(enough, what)
        self.assertEqual(self.rcv.bad, [])
        return out

    def test_events_of_each_leg(self):
        s, a, b = self.pair()
        js = self.post_call(s["id"], {})
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        b.bye()
        evs = self.events(s["id"], 6, "six call events")
        types = [e["type"] for e in evs]
        self.assertEqual(sorted(types),
                         sorted(["call.initiated", "call.ringing",
                                 "call.ringing", "call.answered",
                                 "call.answered", "call.completed"]),
                         evs)
        self.assertEqual(types[0], "call.initiated")
        self.assertEqual(types[-1], "call.completed")
        for e in evs:
            self.assertEqual(e["data"]["call_id"], js["id"], e)
            self.assertEqual(e["data"]["direction"], "api", e)
        self.check_clean()

    def test_participant_on_inbound_call(self):
        caller = number("+1202555")
        b = self.party("+1303555", PARTY_IPS[1])
        c = self.party("+1404555", PARTY_IPS[2])
        s = self.maskd.session(caller, b.number)
        ua = self.uac("basic_uac.xml", s["virtual_number"],
                      {"caller": caller}, d_ms=6000)
        ev = self.events(s["id"], 1, "call.initiated")
        self.assertEqual(ev[0]["type"], "call.initiated")
        cid = ev[0]["data"]["call_id"]
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        st, live = self.get_call(cid)
        self.assertEqual((live["direction"], live["status"]),
                         ("a_to_b", "connected"), live)
        st, js, raw = self.maskd.request(
            "POST", "/v1/calls/%s/participants" % cid, {"number": c.number})
        self.assertEqual(st, 201, raw)
        self.wait_for(lambda: c.saw("ack"), "C's ACK")
        st, live = self.get_call(cid)
        self.assertEqual([(l["party"], l["state"]) for l in live["legs"]],
                         [("a", "answered"), ("b", "answered"),
                          ("participant", "answered")], live)
        # the caller hangs up after its pause: everybody gets a BYE
        self.expect_rc(ua)
        self.wait_for(lambda: b.saw("bye") and c.saw("bye"),
                      "BYE at B and C")
        for m in ts.sip_messages(ua.msg_log, "received"):
            for bad in (c.number, c.number.lstrip("+"), c.ip, b.number,
                        b.ip):
                self.assertNotIn(bad, m, "leaked to the caller:\n" + m)
        a_ip = re.compile(re.escape(ts.A_IP) + r"(?![0-9])")
        for p in (b, c):
            for m in p.received:
                for bad in (caller, caller.lstrip("+")):
                    self.assertNotIn(bad, m.raw, "the caller leaked to "
                                     "%s:\n%s" % (p.number, m.raw))
                self.assertIsNone(a_ip.search(m.raw), "the caller's "
                                  "address reached %s:\n%s"
                                  % (p.number, m.raw))
        self.check_masked(s["virtual_number"])
        cdr = self.cdr(s["id"])
        self.assertEqual((cdr["direction"], cdr["participants"]),
                         ("a_to_b", 3), cdr)
        self.check_clean()

    def test_zz_counters_return_to_zero(self):
        self.check_clean(ts.Maskd.LIVE, 90)


class RecordedRequestACall(RacBase):
    """A request-a-call of a session that records is recorded from the
    bridge, like an inbound call from its answer: party A of the session
    on the left channel, party B on the right, whoever maskd called
    first (here B: relay leg A faces party B)."""

    def test_recorded_b_first(self):
        s, a, b = self.pair(record=True)
        cid = self.post_call(s["id"], {"first": "b"})["id"]
        self.wait_for(lambda: b.saw("ack") and a.saw("ack"), "both ACKs")
        self.wait_for(lambda: self.get_call(cid)[1].get("status") ==
                      "connected", "the bridge")
        for p, hz in ((a, 500), (b, 1100)):
            p.start_tone(hz, 2.0)
        for p in (a, b):
            p.wait_tone()
        b.bye()
        self.wait_for(lambda: a.saw("bye"), "BYE at A")
        rec = {}

        def ready():
            calls = self.maskd.calls(s["id"]) or []
            if calls and calls[-1].get("recording"):
                rec.update(calls[-1])
                return True
            return False
        self.wait_for(ready, "the recording in the call record")
        self.assertEqual((rec["id"], rec["direction"]), (cid, "api"), rec)
        path = os.path.join(self.maskd.dir, "var", "recordings",
                            cid + ".wav")
        with wave.open(path, "rb") as w:
            self.assertEqual(w.getnchannels(), 2)
            self.assertEqual(w.getsampwidth(), 2)
            raw = w.readframes(w.getnframes())
        n = len(raw) // 4
        vals = struct.unpack("<%dh" % (2 * n), raw[:4 * n])
        left, right = vals[0::2], vals[1::2]
        self.assertGreater(n, RATE, "shorter than the tones")
        # each channel holds its party's tone, far above the other's
        self.assertGreater(goertzel(left, 500), 100 * goertzel(left, 1100))
        self.assertGreater(goertzel(right, 1100),
                           100 * goertzel(right, 500))
        self.check_clean()


if __name__ == "__main__":
    ts.main(globals())
