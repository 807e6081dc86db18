#!/usr/bin/env python3
"""test_flows.py - the B2BUA's less travelled call flows, with SIPp against
a real maskd: in-dialog UPDATE, INFO and OPTIONS both ways, re-INVITEs
from the callee and without SDP, the CANCEL that crosses the callee's
200, and retransmitted INVITEs and 2xx.

Run by ctest as:
    python3 tests/sip/test_flows.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k update).

The harness is test_sip.py's (its Maskd, Sipp and SipBase; the topology
and the leak checks are described there): every scenario pair is
checked both ways by the scenarios' own regexps (nothing of A in what B
receives, nothing of B in what A receives, VN in From and
P-Asserted-Identity) and by SipBase.assert_masked() on the traces, and
every SDP either side receives must name maskd only. The scenarios are
the flow_*.xml of sipp-scenarios/, written by gen_scenarios.py.

A trunk's out-of-dialog OPTIONS keepalive is test_sip.py's
test_options_keepalive; it is not repeated here.

Nothing here asserts speed: every wait is bounded and generous.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402  (the harness: Maskd, Sipp, SipBase)

# Timer D (32 s, hard-coded in sofia-sip for a client INVITE that got a
# 2xx) plus [sip] transaction_timeout (8 s in the harness) and slack
DRAIN_S = 60
LIVE = ts.Maskd.LIVE


def origin(msg):
    """(username, sess-id, sess-version) of an SDP's o= line, or None."""
    m = re.search(r"(?m)^o=(\S+) (\d+) (\d+) IN IP[46] \S+\s*$",
                  ts.body_of(msg))
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def cseq(msg):
    """(number, method) of a message's CSeq."""
    m = re.search(r"(?mi)^CSeq:\s*(\d+)\s+(\S+)", ts.headers_of(msg))
    return int(m.group(1)), m.group(2)


def branch(msg):
    """The branch of a message's (first) Via."""
    m = re.search(r"(?mi)^Via:[^\n]*;\s*branch=([^;,\s]+)",
                  ts.headers_of(msg))
    return m.group(1) if m else None


def trace(run):
    """Every message of a SIPp -trace_msg file in order, as
    ("sent" | "received", message)."""
    out = []
    for block in re.split(r"\n-{20,} [^\n]*\n", "\n" +
                          ts.read_text(run.msg_log)):
        head, _, rest = block.strip("\n").partition("\n")
        for d in ("sent", "received"):
            if d in head and "message" in head:
                out.append((d, rest.strip("\n")))
    return out


def after_second_invite(run):
    """What a UAC received after it sent its INVITE the second time."""
    t = trace(run)
    sent = [i for i, (d, m) in enumerate(t)
            if d == "sent" and m.startswith("INVITE ")]
    return [m for d, m in t[sent[1] + 1:] if d == "received"]


def header(msg, name):
    m = re.search(r"(?mi)^%s:\s*(.*)$" % re.escape(name), ts.headers_of(msg))
    return m.group(1).strip() if m else None


class FlowsBase(ts.SipBase):
    """The helpers; each test a scenario pair through the class's maskd."""

    # -- helpers --

    def unique(self, run):
        """What a party received, each retransmission (a byte-identical
        copy) counted once: UDP may retransmit anything under load."""
        out = []
        for m in self.received(run):
            if m not in out:
                out.append(m)
        return out

    def requests(self, run, method, raw=False):
        msgs = self.received(run) if raw else self.unique(run)
        return [m for m in msgs if m.startswith(method + " ")]

    def responses(self, run, code, method, raw=False):
        msgs = self.received(run) if raw else self.unique(run)
        return [m for m in msgs
                if m.startswith("SIP/2.0 %d " % code) and
                cseq(m)[1] == method]

    def assert_from_vn(self, run, vn):
        """Every request a party receives comes from the VN: maskd's
        side of the dialog, never the other party."""
        reqs = [m for m in self.received(run) if not m.startswith("SIP/")]
        self.assertTrue(reqs)
        for m in reqs:
            self.assertIn(vn, header(m, "From"), m)

    def assert_versions_up(self, msgs):
        """The o= lines a party receives in turn: maskd's, one session
        id, and a version that goes up with every change (RFC 3264
        section 8; these bodies all differ from the one before)."""
        seen = [origin(m) for m in msgs]
        self.assertTrue(all(seen), msgs)
        self.assertEqual({o[0] for o in seen}, {"maskd"})
        self.assertEqual(len({o[1] for o in seen}), 1, seen)
        versions = [o[2] for o in seen]
        self.assertEqual(versions, sorted(set(versions)), seen)

    def metric(self, name):
        return self.maskd.metrics().get(name, 0)

    def wait_live_zero(self, names=LIVE):
        zero, m = self.maskd.wait_zero(names, DRAIN_S)
        if zero:
            return
        self.fail("live counters not back to 0 after %ds: %r\n%s"
                  % (DRAIN_S, {n: m.get(n) for n in names},
                     self.maskd.diagnostics()))



class Flows(FlowsBase):
    """One maskd for every flow but the CANCEL/200 race."""

    # -- 1. UPDATE with SDP mid-call --

    def test_update_hold_resume_by_caller(self):
        s, ua, gw = self.call_pair("flow_update_uac.xml",
                                   "flow_update_uas.xml")
        vn = s["virtual_number"]
        ups = self.requests(gw, "UPDATE")
        self.assertEqual(len(ups), 2)
        self.assertIn("a=sendonly", ts.body_of(ups[0]))
        self.assertIn("a=sendrecv", ts.body_of(ups[1]))
        for m in ups:
            # maskd's own target on leg b, and its timer offer
            self.assertIn("Contact: <sip:%s@127.0.0.1:%d>"
                          % (vn, self.maskd.sip_port), m)
        self.assert_versions_up(self.requests(gw, "INVITE") + ups)
        oks = self.responses(ua, 200, "UPDATE")
        self.assertEqual(len(oks), 2)
        self.assertIn("a=recvonly", ts.body_of(oks[0]))
        self.assertIn("a=sendrecv", ts.body_of(oks[1]))
        self.assert_versions_up(self.responses(ua, 200, "INVITE")[:1]
                                + oks)
        self.assert_from_vn(gw, vn)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_update_hold_resume_by_callee(self):
        s, ua, gw = self.call_pair("flow_update_b_uac.xml",
                                   "flow_update_b_uas.xml")
        vn = s["virtual_number"]
        ups = self.requests(ua, "UPDATE")
        self.assertEqual(len(ups), 2)
        self.assertIn("a=sendonly", ts.body_of(ups[0]))
        self.assertIn("a=sendrecv", ts.body_of(ups[1]))
        self.assert_versions_up(self.responses(ua, 200, "INVITE")[:1]
                                + ups)
        oks = self.responses(gw, 200, "UPDATE")
        self.assertEqual(len(oks), 2)
        self.assertIn("a=recvonly", ts.body_of(oks[0]))
        self.assert_versions_up(self.requests(gw, "INVITE") + oks)
        self.assert_from_vn(ua, vn)
        self.assert_from_vn(gw, vn)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    # -- 2. INFO and OPTIONS in the dialog --

    def test_info_and_options_both_ways(self):
        s, ua, gw = self.call_pair("flow_info_uac.xml", "flow_info_uas.xml")
        vn = s["virtual_number"]
        for run, digit in ((gw, "5"), (ua, "9")):
            info = self.requests(run, "INFO")
            self.assertEqual(len(info), 1)
            self.assertEqual(header(info[0], "Content-Type"),
                             "application/dtmf-relay")
            self.assertEqual(ts.body_of(info[0]).split(),
                             ["Signal=%s" % digit, "Duration=160"])
            opts = self.requests(run, "OPTIONS")
            self.assertEqual(len(opts), 1)
            self.assertEqual(header(opts[0], "Accept"), "application/sdp")
        for run in (ua, gw):
            ok = self.responses(run, 200, "OPTIONS")
            self.assertEqual(len(ok), 1)
            # maskd's own Allow (RFC 3261 section 11.2), not the party's;
            # the party's SDP, which names it, stays behind
            self.assertEqual(header(ok[0], "Allow"), "INVITE, ACK, "
                             "CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK")
            self.assertEqual(ts.body_of(ok[0]).strip(), "")
            self.assertIsNone(header(ok[0], "Content-Type"))
            self.assertEqual(len(self.responses(run, 200, "INFO")), 1)
        self.assert_from_vn(ua, vn)
        self.assert_from_vn(gw, vn)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    # -- 3. re-INVITE from the callee; re-INVITE without SDP --

    def test_reinvite_hold_resume_by_callee(self):
        s, ua, gw = self.call_pair("flow_reinvite_b_uac.xml",
                                   "flow_reinvite_b_uas.xml")
        invs = self.requests(ua, "INVITE")
        self.assertEqual(len(invs), 2)
        self.assertIn("a=sendonly", ts.body_of(invs[0]))
        self.assertIn("a=sendrecv", ts.body_of(invs[1]))
        self.assert_versions_up(self.responses(ua, 200, "INVITE")[:1]
                                + invs)
        oks = self.responses(gw, 200, "INVITE")
        self.assertEqual(len({cseq(m)[0] for m in oks}), 2)
        self.assert_from_vn(ua, s["virtual_number"])
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_target_refresh_both_ways(self):
        # B's re-INVITE and A's 200 to it each name a new Contact: the
        # ACK and the INFO to A, and the BYE to B, go to the new ones
        # (RFC 3261 sections 12.2.1.2 and 12.2.2)
        s, ua, gw = self.call_pair("flow_target_uac.xml",
                                   "flow_target_uas.xml")
        ack = self.requests(ua, "ACK")[-1]
        self.assertTrue(ack.startswith("ACK sip:a-moved@"), ack)
        self.assertTrue(self.requests(ua, "INFO")[0].startswith(
            "INFO sip:a-moved@"))
        self.assertTrue(self.requests(gw, "BYE")[0].startswith(
            "BYE sip:b-moved@"))
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def late_offer(self, uac, uas, offerer_run, answerer_run):
        """The re-INVITE reached the other party without SDP; the offer
        came back in the 200 and the answer went on in the ACK, each as
        maskd's SDP; the ACK of the re-INVITE has its CSeq."""
        s, ua, gw = self.call_pair(uac, uas)
        runs = {"ua": ua, "gw": gw}
        sender, receiver = runs[offerer_run], runs[answerer_run]
        reinv = self.requests(receiver, "INVITE")[-1]
        self.assertEqual(ts.body_of(reinv).strip(), "")
        sent = [m for m in ts.sip_messages(sender.msg_log, "sent")
                if m.startswith("INVITE ")][-1]
        ok = [m for m in self.responses(sender, 200, "INVITE")
              if cseq(m) == cseq(sent)]
        self.assertTrue(ok, "no 200 for the re-INVITE")
        self.assertIn("m=audio", ts.body_of(ok[0]))
        acks = [m for m in self.requests(receiver, "ACK")
                if cseq(m)[0] == cseq(reinv)[0]]
        self.assertTrue(acks, "no ACK for the re-INVITE")
        self.assertIn("m=audio", ts.body_of(acks[0]))
        self.assertEqual(header(acks[0], "Content-Type"), "application/sdp")
        # nothing changed: each party gets the very SDP it was given at
        # the start, the same o= version (RFC 3264 section 8)
        for run, got in ((sender, ok[0]), (receiver, acks[0])):
            first = [m for m in self.received(run) if "m=audio" in m][0]
            self.assertEqual(ts.body_of(got), ts.body_of(first))
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_reinvite_without_sdp_by_caller(self):
        self.late_offer("flow_late_reinvite_uac.xml",
                        "flow_late_reinvite_uas.xml", "ua", "gw")

    def test_reinvite_without_sdp_by_callee(self):
        self.late_offer("flow_late_reinvite_b_uac.xml",
                        "flow_late_reinvite_b_uas.xml", "gw", "ua")

    # -- 4. the CANCEL/200 race: CancelRace below; the mirror race --

    def test_cancel_after_answer(self):
        # the mirror race: A's CANCEL crosses maskd's 200; the CANCEL
        # changes nothing (RFC 3261 section 9.1), A ACKs and talks
        s, ua, gw = self.call_pair("flow_cancel_late_uac.xml",
                                   "basic_uas.xml",
                                   uac_extra=("-pause_msg_ign",))
        self.assertEqual(self.requests(gw, "CANCEL"), [])
        self.assertEqual(self.responses(ua, 487, "INVITE"), [])
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    # -- 6. retransmissions absorbed --

    def duplicate_invite(self, uas, uas_d):
        """A's INVITE twice, byte for byte (what came back in between
        lost): one call, one INVITE at B, one CDR."""
        before = self.metric("maskd_sip_calls_total")
        s, ua, gw = self.call_pair("flow_dup_invite_uac.xml", uas,
                                   uas_d=uas_d,
                                   uac_extra=("-pause_msg_ign",))
        sent = [m for m in ts.sip_messages(ua.msg_log, "sent")
                if m.startswith("INVITE ")]
        self.assertEqual(len(sent), 2)
        self.assertEqual(sent[0], sent[1])
        self.assertEqual(self.metric("maskd_sip_calls_total") - before, 1)
        self.assertEqual(len(self.requests(gw, "INVITE")), 1)
        self.check_cdr(s["id"], 200, "caller", "normal", True)
        self.assertEqual(len(self.maskd.calls(s["id"])), 1)
        return ua

    def test_duplicate_invite_while_ringing(self):
        # B rings for 1.8 s (the harness's ring timeout is 3 s): the
        # copy comes while the call is early and gets the last
        # provisional again, the 200 later
        ua = self.duplicate_invite("flow_slow_answer_uas.xml", 1800)
        after = [m.splitlines()[0] for m in after_second_invite(ua)]
        self.assertRegex(after[0], r"^SIP/2\.0 1[0-9][0-9] ", after)
        self.assertIn("SIP/2.0 200 OK", after)

    def test_duplicate_invite_after_answer(self):
        # B answers at once: the copy comes after maskd's 200, which
        # answers it again
        ua = self.duplicate_invite("basic_uas.xml", 500)
        after = [m.splitlines()[0] for m in after_second_invite(ua)]
        self.assertEqual(after[0], "SIP/2.0 200 OK", after)

    def test_200_retransmissions_absorbed_and_reacked(self):
        # A ACKs late: maskd retransmits its 200 to A, B retransmits its
        # own to maskd (absorbed: one call, one 200 to A's INVITE
        # transaction), and B's 200 sent again after maskd's ACK gets
        # another ACK (RFC 3261 section 13.2.2.4)
        before = self.metric("maskd_sip_calls_total")
        reacks = self.metric("maskd_sip_reacks_total")
        s, ua, gw = self.call_pair("flow_late_ack_uac.xml",
                                   "flow_reack_uas.xml")
        self.assertEqual(self.metric("maskd_sip_calls_total") - before, 1)
        # the ACK has no transaction in nta (sip_leg_ack()): the 2xx
        # sent again reached maskd as a stray response and was ACKed
        # from the leg (sip_leg_reack())
        self.assertGreaterEqual(self.metric("maskd_sip_reacks_total") -
                                reacks, 1)
        oks = self.responses(ua, 200, "INVITE", raw=True)
        self.assertGreaterEqual(len(oks), 2, "maskd did not retransmit")
        self.assertEqual(len(set(oks)), 1, "not a retransmission")
        # the scenario waits for the ACK of the 200 sent after the first
        acks = self.requests(gw, "ACK", raw=True)
        self.assertGreaterEqual(len(acks), 2)
        # the same ACK again, Via branch and all
        self.assertEqual(len({branch(m) for m in acks}), 1, acks)
        self.assertEqual({cseq(m) for m in acks},
                         {(cseq(self.requests(gw, "INVITE")[0])[0],
                           "ACK")})
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    # -- last of the class (unittest runs them by name) --

    def test_zz_counters_return_to_zero(self):
        # every relayed transaction, leg and relay call of the flows
        # above is gone
        self.wait_live_zero()


class CancelRace(FlowsBase):
    """The CANCEL/200 race on a maskd of its own: that nothing of it is
    left (its live counters back to 0 after Timer D) is checked while
    Flows runs on its own maskd (test_sip's ClassRunner)."""

    def test_cancel_crosses_200(self):
        # A CANCELs after the 180; B's 200 to the INVITE crosses maskd's
        # CANCEL: A still gets 200 (CANCEL) and 487, B an ACK and a BYE
        s, ua, gw = self.call_pair("cancel_uac.xml",
                                   "flow_cancel_race_uas.xml")
        self.assertEqual(len(self.responses(ua, 487, "INVITE")), 1)
        self.assertEqual(self.responses(ua, 200, "INVITE"), [])
        inv = self.requests(gw, "INVITE")[0]
        ack = self.requests(gw, "ACK")[0]
        bye = self.requests(gw, "BYE")[0]
        self.assertEqual(cseq(ack), (cseq(inv)[0], "ACK"))
        self.assertGreater(cseq(bye)[0], cseq(inv)[0])
        self.assertEqual(header(ack, "Call-ID"), header(inv, "Call-ID"))
        self.assertEqual(header(bye, "Call-ID"), header(inv, "Call-ID"))
        self.check_cdr(s["id"], 487, "caller", "cancel", False)
        self.wait_live_zero()


if __name__ == "__main__":
    ts.main(globals())
