#!/usr/bin/env python3
"""test_prack.py - reliable provisional responses (RFC 3262, 100rel)
through maskd, each leg on its own.

Run by ctest as:
    python3 tests/sip/test_prack.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k cancel).

The harness is test_sip.py's (one maskd per class, SIPp pairs on loopback
addresses, every received message leak-checked both in the scenarios and
here). What is checked on top:

  - leg b: maskd's INVITE offers 100rel (Supported) when it carries an
    offer; a callee's reliable 183 is PRACKed by maskd on leg b (RAck of
    the callee's RSeq and the INVITE's CSeq, no body, nothing of A), and
    a caller without 100rel still gets a plain 183 with maskd's SDP;
  - leg a: a caller that supports 100rel gets the 183 with early media
    reliably (Require: 100rel, RSeq); its PRACK is answered by maskd and
    never reaches the callee; the 200 never overtakes the unacknowledged
    183; a caller that requires 100rel gets every 18x reliably, whatever
    the callee does;
  - a PRACK never crosses: each side sees only its own RSeq/RAck;
  - cleanup: CANCEL, the ring timeout and a PRACK that never comes leave
    no call, dialog or transaction behind (/metrics back to 0).

Nothing here asserts speed: every wait is bounded and generous.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402  (the harness: Maskd, SipBase, ...)

LIVE = ts.Maskd.LIVE


def header(msg, name):
    """The values of every @name header line of @msg, in order."""
    return re.findall(r"(?mi)^%s:[ \t]*(.*?)\r?$" % re.escape(name),
                      ts.headers_of(msg))


def first(msgs, prefix):
    got = [m for m in msgs if m.startswith(prefix)]
    return got[0] if got else None


class PrackBase(ts.SipBase):

    def assert_reliable(self, msg, with_sdp):
        self.assertIsNotNone(msg)
        self.assertTrue(any("100rel" in v for v in header(msg, "Require")),
                        msg)
        rseq = header(msg, "RSeq")
        self.assertEqual(len(rseq), 1, msg)
        self.assertRegex(rseq[0], r"^[0-9]+$")
        if with_sdp:
            self.assertIn("m=audio", ts.body_of(msg))
        return int(rseq[0])

    def assert_plain(self, msg):
        self.assertIsNotNone(msg)
        self.assertEqual(header(msg, "RSeq"), [], msg)
        self.assertFalse(any("100rel" in v for v in header(msg, "Require")),
                         msg)

    def assert_invite_offers_100rel(self, gw):
        invite = first(self.received(gw), "INVITE")
        self.assertTrue(any("100rel" in v
                            for v in header(invite, "Supported")), invite)
        self.assertFalse(any("100rel" in v
                             for v in header(invite, "Require")), invite)
        return invite

    def assert_prack_at_b(self, gw):
        """maskd's own PRACK on leg b: the callee's RSeq 1 and INVITE
        CSeq, to the callee's Contact, no body, nothing of A's."""
        invite = first(self.received(gw), "INVITE")
        pracks = [m for m in self.received(gw) if m.startswith("PRACK")]
        self.assertEqual(len(pracks), 1, pracks)
        p = pracks[0]
        cseq = header(invite, "CSeq")[0].split()[0]
        self.assertEqual(header(p, "RAck"), ["1 %s INVITE" % cseq], p)
        self.assertEqual(header(p, "Call-ID"), header(invite, "Call-ID"))
        self.assertRegex(p, r"^PRACK sip:\+1303555[0-9]{4}@127\.0\.0\.3:")
        self.assertEqual(ts.body_of(p).strip(), "", p)
        for name in ("User-Agent", "X-PartyA-Secret", "RSeq"):
            self.assertEqual(header(p, name), [], p)
        return p

    def assert_no_prack_at_b(self, gw):
        self.assertEqual([m for m in self.received(gw)
                          if m.startswith("PRACK")], [],
                         "a PRACK reached the callee")

    def wait_live_zero(self):
        zero, m = self.maskd.wait_zero(LIVE, 90)
        if zero:
            return
        self.fail("live counters did not return to 0: %r\n%s"
                  % ({n: m.get(n) for n in LIVE}, self.maskd.diagnostics()))


class PrackFlows(PrackBase):
    """100rel on one leg, the other, both, and cleanup when cancelled."""

    def test_callee_reliable_183_caller_plain(self):
        # (1) B sends its 183 reliably: maskd PRACKs it on leg b; A, which
        # knows nothing of 100rel, gets a plain 183 with maskd's SDP
        s, ua, gw = self.call_pair("basic_uac.xml", "prack_uas.xml")
        self.assert_invite_offers_100rel(gw)
        self.assert_prack_at_b(gw)
        early = first(self.received(ua), "SIP/2.0 183")
        self.assert_plain(early)
        self.assertIn("m=audio", ts.body_of(early))
        self.assertEqual(ts.sdp_addresses(early),
                         [ts.MASKD_IP, ts.MASKD_IP])
        self.assertEqual([m for m in ts.sip_messages(ua.msg_log, "sent")
                          if m.startswith("PRACK")], [])
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_caller_supports_100rel(self):
        # (2) A supports 100rel, B does not: the 183 with early media goes
        # to A reliably, A's PRACK is answered by maskd, B never sees it
        # (basic_uas.xml would fail on it), and B's immediate 200 waits
        # for that PRACK before it reaches A
        s, ua, gw = self.call_pair("prack_uac.xml", "basic_uas.xml")
        got = self.received(ua)
        self.assert_plain(first(got, "SIP/2.0 180"))
        self.assert_reliable(first(got, "SIP/2.0 183"), True)
        self.assert_no_prack_at_b(gw)
        # the 200 to the PRACK came before the 200 to the INVITE
        oks = [header(m, "CSeq")[0] for m in got
               if m.startswith("SIP/2.0 200")]
        self.assertEqual(oks[:2], ["2 PRACK", "1 INVITE"], oks)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_caller_requires_100rel_callee_plain(self):
        # (3) A requires 100rel, B does neither: A still gets every 18x
        # reliably, RSeq counting up, and the call completes; B's INVITE
        # carries no Require of A's
        s, ua, gw = self.call_pair("prack_req_uac.xml", "prack_slow_uas.xml",
                                   uas_d=2000)
        got = self.received(ua)
        r180 = self.assert_reliable(first(got, "SIP/2.0 180"), False)
        self.assertNotIn("m=audio", ts.body_of(first(got, "SIP/2.0 180")))
        r183 = self.assert_reliable(first(got, "SIP/2.0 183"), True)
        self.assertEqual(r183, r180 + 1)
        self.assert_invite_offers_100rel(gw)
        self.assert_no_prack_at_b(gw)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_caller_requires_100rel_late_offer(self):
        # A requires 100rel and makes no offer: maskd offers B no 100rel,
        # and A's reliable 18x carry no SDP (B's early media would be an
        # offer in them); the 200 offers, A's ACK answers
        s, ua, gw = self.call_pair("prack_late_uac.xml", "prack_late_uas.xml",
                                   uas_d=2000)
        got = self.received(ua)
        for code in ("180", "183"):
            m = first(got, "SIP/2.0 " + code)
            self.assert_reliable(m, False)
            self.assertEqual(ts.body_of(m).strip(), "", m)
        ok = [m for m in got if m.startswith("SIP/2.0 200") and
              header(m, "CSeq") == ["1 INVITE"]]
        self.assertTrue(ok, got)
        self.assertIn("m=audio", ts.body_of(ok[0]))
        invite = first(self.received(gw), "INVITE")
        self.assertNotIn("100rel", invite)
        self.assert_no_prack_at_b(gw)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_both_legs_100rel(self):
        # each leg PRACKs its own 183: B sees maskd's PRACK of its RSeq 1,
        # A gets maskd's RSeq and its PRACK stays with maskd
        s, ua, gw = self.call_pair("prack_uac.xml", "prack_uas.xml")
        got = self.received(ua)
        self.assert_plain(first(got, "SIP/2.0 180"))
        self.assert_reliable(first(got, "SIP/2.0 183"), True)
        self.assert_prack_at_b(gw)
        oks = [header(m, "CSeq")[0] for m in got
               if m.startswith("SIP/2.0 200")]
        self.assertEqual(oks[:2], ["2 PRACK", "1 INVITE"], oks)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_cancel_while_183_awaits_prack(self):
        # (4) A never PRACKs the reliable 183 and CANCELs: 487 to A,
        # CANCEL to B (which had its own 183 PRACKed by maskd)
        s, ua, gw = self.call_pair("prack_cancel_uac.xml",
                                   "prack_cancel_uas.xml", uac_d=1500)
        self.assert_reliable(first(self.received(ua), "SIP/2.0 183"), True)
        self.assert_prack_at_b(gw)
        self.check_cdr(s["id"], 487, "caller", "cancel", False)

    def test_cancel_while_200_awaits_prack(self):
        # B answers at once, A holds back its PRACK and CANCELs: maskd's
        # 200 was waiting for that PRACK, so A gets 487, never a 200, and
        # B's answered call is ACKed and BYEd (basic_uas.xml expects so)
        s, ua, gw = self.call_pair("prack_cancel_uac.xml", "basic_uas.xml",
                                   uac_d=1500)
        got = self.received(ua)
        self.assert_reliable(first(got, "SIP/2.0 183"), True)
        self.assertFalse([m for m in got if m.startswith("SIP/2.0 200") and
                          "INVITE" in header(m, "CSeq")[0]], got)
        self.assert_no_prack_at_b(gw)
        self.check_cdr(s["id"], 487, "caller", "cancel", False)

    def test_ring_timeout_while_183_awaits_prack(self):
        # the ring timeout (3 s) comes while A's reliable 183 still waits
        s, ua, gw = self.call_pair("prack_silent_uac.xml",
                                   "prack_cancel_uas.xml",
                                   uac_keys={"code": "480"})
        self.assert_prack_at_b(gw)
        self.check_cdr(s["id"], 480, "maskd", "ring_timeout", False)

    def test_zz_counters_return_to_zero(self):
        # last of the class (unittest runs them by name): nothing of the
        # calls above - reliable responses, PRACKs, held 2xx - is left
        self.wait_live_zero()


class PrackTimeout(PrackBase):
    """A caller that asked for 100rel and never PRACKs: after 64*T1
    ([sip] transaction_timeout, 8 s in the harness) maskd answers 503
    and CANCELs the callee (RFC 3262 section 3). The ring timeout is
    pushed past it for this class only."""
    ring_timeout_s = 40

    def test_prack_never_comes(self):
        s, ua, gw = self.call_pair("prack_silent_uac.xml",
                                   "prack_cancel_uas.xml",
                                   uac_keys={"code": "503"})
        got = self.received(ua)
        self.assert_reliable(first(got, "SIP/2.0 183"), True)
        self.assert_prack_at_b(gw)
        self.check_cdr(s["id"], 503, "maskd", "prack_timeout", False)
        self.wait_live_zero()


if __name__ == "__main__":
    ts.main(globals())
