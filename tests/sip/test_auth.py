#!/usr/bin/env python3
"""test_auth.py - maskd authenticates to the gateway (RFC 3261 section 22).

Run by ctest as:
    python3 tests/sip/test_auth.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k cancel).

test_sip.py's harness and topology (party A on 127.0.0.2, maskd on
127.0.0.1, the gateway - a SIPp UAS - on 127.0.0.3), with [gateway]
auth_user/auth_password set. The gateway challenges maskd's INVITE with 401
or 407 (sipp-scenarios/auth_*_uas.xml) and verifies the credentials of the
INVITE that follows with SIPp's verifyauth; this file reads the traces for
the rest: the same Call-ID and From tag, the next CSeq, a new branch, the
digest recomputed here from the password, the credentials on the ACK and
the BYE, the CANCEL of the retried INVITE, and nothing of the challenge
or of the password anywhere it must not be (the caller's messages, maskd's
log). Refused credentials and challenges maskd cannot answer fail the call
with 403 and a CDR saying why.

Nothing here asserts speed: every wait is bounded and generous.
"""
import hashlib
import os
import re
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402  (the harness: Maskd, Sipp, SipBase)

ARGS = None
AUTH_USER = "maskd-trunk-7"
AUTH_PASS = "Pw-4auth-s3cr3t:x"
REALM = "gw.example.net"
NONCE1 = "8a1b0f3e5c7d9e2f4a6b8c0d1e3f5a7b"
NONCE2 = "c0ffee00deadbeef0123456789abcdef"
OPAQUE = "5ccc069c403ebaf9f0171e9517f40e41"
LIVE = ts.Maskd.LIVE
# nta keeps a completed INVITE client transaction for its Timer D, 32 s
# in sofia-sip 1.12.11 whatever T1 is: every challenged INVITE leaves one
LIVE_TIMEOUT_S = 120


class AuthMaskd(ts.Maskd):
    """test_sip's maskd with [gateway] credentials."""

    def __init__(self, tmp, user=AUTH_USER, password=AUTH_PASS, realm=""):
        super().__init__(tmp)
        self.auth = "auth_user = %s\nauth_password = %s\n" % (user, password)
        if realm:
            self.auth += "auth_realm = %s\n" % realm

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            text = f.read()
        gw = "[gateway]\naddress = %s:%d\ntransport = udp\n" % (ts.GW_IP,
                                                               self.gw_port)
        if gw not in text:
            raise AssertionError("test_sip's config changed:\n" + text)
        with open(self.conf_path, "w") as f:
            f.write(text.replace(gw, gw + self.auth))


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def header_values(msg, name):
    """Every value of header @name (any case) in @msg's header part."""
    out = []
    for line in ts.headers_of(msg).split("\n")[1:]:
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def header_value(msg, name):
    v = header_values(msg, name)
    return v[0] if v else None


def auth_params(value):
    """The parameters of a Digest credentials or challenge value."""
    scheme, _, rest = value.partition(" ")
    out = {"scheme": scheme}
    for m in re.finditer(r'([A-Za-z-]+)\s*=\s*("([^"]*)"|[^,\s]+)', rest):
        out[m.group(1).lower()] = (m.group(3) if m.group(3) is not None
                                   else m.group(2))
    return out


def request_line(msg):
    method, uri, _ = msg.split("\n", 1)[0].split(" ", 2)
    return method, uri


def cseq_of(msg):
    n, method = header_value(msg, "CSeq").split()
    return int(n), method


def branch_of(msg):
    return re.search(r"branch=([^;\s]+)", header_value(msg, "Via")).group(1)


def tag_of(value):
    m = re.search(r"tag=([^;>\s]+)", value)
    return m.group(1) if m else None


class AuthBase(ts.SipBase):
    """One maskd per class (make_maskd); the caller is party A."""

    @classmethod
    def make_maskd(cls, tmp):
        return AuthMaskd(tmp)

    @classmethod
    def setUpClass(cls):
        ts.ARGS = ARGS
        cls.tmp = tempfile.mkdtemp(prefix="maskd-auth-")
        cls.maskd = cls.make_maskd(cls.tmp).start()

    def requests(self, run, method, direction="received"):
        return [m for m in ts.sip_messages(run.msg_log, direction)
                if m.startswith(method + " ")]

    def uas_keys(self, realm=REALM, password=AUTH_PASS):
        return {"realm": realm, "auth_user": AUTH_USER,
                "auth_pass": password}

    def assert_digest(self, msg, hdr, nonce, nc):
        """@msg's @hdr credentials are ours, for @nonce, with nonce count
        @nc, and their response is right for its method and URI."""
        values = header_values(msg, hdr)
        self.assertEqual(len(values), 1, msg)
        p = auth_params(values[0])
        self.assertEqual(p["scheme"], "Digest", msg)
        self.assertEqual(p.get("username"), AUTH_USER, msg)
        self.assertEqual(p.get("realm"), REALM, msg)
        self.assertEqual(p.get("nonce"), nonce, msg)
        self.assertEqual(p.get("opaque"), OPAQUE, msg)
        self.assertEqual(p.get("algorithm", "MD5").upper(), "MD5", msg)
        self.assertEqual(p.get("qop"), "auth", msg)
        self.assertEqual(p.get("nc"), "%08x" % nc, msg)
        self.assertTrue(p.get("cnonce"), msg)
        method, uri = request_line(msg)
        if method != "ACK":
            # the digest covers the Request-URI it was sent to
            self.assertEqual(p.get("uri"), uri, msg)
        ha1 = md5("%s:%s:%s" % (AUTH_USER, REALM, AUTH_PASS))
        ha2 = md5("%s:%s" % ("INVITE" if method == "ACK" else method,
                             p["uri"]))
        want = md5("%s:%s:%s:%s:%s:%s" % (ha1, nonce, p["nc"], p["cnonce"],
                                         "auth", ha2))
        self.assertEqual(p.get("response"), want, "bad digest:\n" + msg)
        return values[0]

    def assert_retried(self, gw, hdr="Authorization"):
        """The gateway got our INVITE without credentials, then once more
        in the same dialog with them; returns the two."""
        invites = self.requests(gw, "INVITE")
        self.assertGreaterEqual(len(invites), 2, gw.report())
        first, second = invites[0], invites[1]
        for name in ("Authorization", "Proxy-Authorization"):
            self.assertEqual(header_values(first, name), [], first)
        other = ("Proxy-Authorization" if hdr == "Authorization"
                 else "Authorization")
        self.assertEqual(header_values(second, other), [], second)
        self.assertEqual(header_value(first, "Call-ID"),
                         header_value(second, "Call-ID"))
        self.assertEqual(tag_of(header_value(first, "From")),
                         tag_of(header_value(second, "From")))
        self.assertIsNone(tag_of(header_value(second, "To")), second)
        n1, m1 = cseq_of(first)
        n2, m2 = cseq_of(second)
        self.assertEqual((m1, m2), ("INVITE", "INVITE"))
        self.assertEqual(n2, n1 + 1)
        self.assertNotEqual(branch_of(first), branch_of(second))
        self.assertEqual(request_line(first), request_line(second))
        # the offer goes again as it was
        self.assertEqual(ts.body_of(first), ts.body_of(second))
        self.assert_digest(second, hdr, NONCE1, 1)
        return first, second

    def assert_nothing_of_auth(self, ua):
        """The caller never hears of the challenge or the credentials."""
        for m in self.received(ua):
            self.assertFalse(re.match(r"SIP/2\.0 40[17] ", m), m)
            for bad in ("Authenticate", "Authorization", REALM, NONCE1,
                        NONCE2, OPAQUE, AUTH_USER, AUTH_PASS):
                self.assertNotIn(bad, m, "the challenge reached A:\n" + m)

    def assert_password_secret(self):
        """Not in maskd's log (debug level here) nor on the wire."""
        for path in (self.maskd.log_path, self.maskd.stderr_path):
            self.assertNotIn(AUTH_PASS, ts.read_text(path), path)
        for r in self.runs:
            self.assertNotIn(AUTH_PASS, ts.read_text(r.msg_log), r.name)

    def wait_live_zero(self):
        zero, m = self.maskd.wait_zero(LIVE, LIVE_TIMEOUT_S)
        if not zero:
            self.fail("live counters did not return to 0: %r"
                      % {n: m.get(n) for n in LIVE})
        return m

    def fail_with_403(self, uas_sf, uas_keys, reason, invites):
        s, ua, gw = self.call_pair("reject_uac.xml", uas_sf,
                                   uas_keys=uas_keys,
                                   uac_keys={"code": "403"})
        got = self.requests(gw, "INVITE")
        self.assertEqual(len(got), invites, gw.report())
        self.assert_nothing_of_auth(ua)
        self.check_cdr(s["id"], 403, None, reason, False)
        self.assert_password_secret()
        return s, ua, gw


class AuthFlows(AuthBase):
    """[gateway] auth_user/auth_password set, any realm."""

    def test_401_retry(self):
        s, ua, gw = self.call_pair("basic_uac.xml", "auth_uas.xml",
                                   uas_keys=self.uas_keys())
        first, second = self.assert_retried(gw)
        # the ACK of the 2xx carries the INVITE's credentials (RFC 3261
        # 13.2.2.4), the BYE its own, on the same nonce
        acks = self.requests(gw, "ACK")
        self.assertEqual(len(acks), 2)
        self.assertEqual(header_values(acks[0], "Authorization"), [])
        self.assertEqual(header_values(acks[1], "Authorization"),
                         header_values(second, "Authorization"))
        bye = self.requests(gw, "BYE")[0]
        self.assert_digest(bye, "Authorization", NONCE1, 2)
        # the dialog took the 2xx's tag, not the challenge's
        ok = [m for m in ts.sip_messages(gw.msg_log, "sent")
              if m.startswith("SIP/2.0 200")][0]
        self.assertEqual(tag_of(header_value(bye, "To")),
                         tag_of(header_value(ok, "To")))
        self.assertNotIn("SIPpAuth", header_value(bye, "To"))
        self.assert_nothing_of_auth(ua)
        self.check_cdr(s["id"], 200, "caller", "normal", True)
        self.assert_password_secret()

    def test_407_retry(self):
        s, ua, gw = self.call_pair("basic_uac.xml", "auth_proxy_uas.xml",
                                   uas_keys=self.uas_keys())
        first, second = self.assert_retried(gw, "Proxy-Authorization")
        bye = self.requests(gw, "BYE")[0]
        self.assert_digest(bye, "Proxy-Authorization", NONCE1, 2)
        self.assertEqual(header_values(bye, "Authorization"), [])
        self.assert_nothing_of_auth(ua)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_wrong_password_403(self):
        # the gateway knows another password: it challenges the INVITE
        # with credentials again, and maskd gives up
        s, ua, gw = self.fail_with_403(
            "auth_twice_uas.xml", self.uas_keys(password="not-" + AUTH_PASS),
            "auth_failed", 2)
        self.assert_retried(gw)

    def test_cancel_cancels_the_retry(self):
        s, ua, gw = self.call_pair("cancel_uac.xml", "auth_cancel_uas.xml",
                                   uas_keys=self.uas_keys())
        first, second = self.assert_retried(gw)
        cancels = self.requests(gw, "CANCEL")
        self.assertEqual(len(cancels), 1)
        self.assertEqual(cseq_of(cancels[0]), (cseq_of(second)[0], "CANCEL"))
        self.assertEqual(branch_of(cancels[0]), branch_of(second))
        self.assert_nothing_of_auth(ua)
        self.check_cdr(s["id"], 487, "caller", "cancel", False)

    def test_ring_timeout_after_retry(self):
        s, ua, gw = self.call_pair("reject_uac.xml", "auth_cancel_uas.xml",
                                   uas_keys=self.uas_keys(),
                                   uac_keys={"code": "480"})
        first, second = self.assert_retried(gw)
        cancel = self.requests(gw, "CANCEL")[0]
        self.assertEqual(branch_of(cancel), branch_of(second))
        self.check_cdr(s["id"], 480, "maskd", "ring_timeout", False)

    def test_call_time_limit_after_retry(self):
        s, ua, gw = self.call_pair("callee_bye_uac.xml", "auth_uas.xml",
                                   uas_keys=self.uas_keys(),
                                   call_time_limit=2)
        self.assert_retried(gw)
        bye = self.requests(gw, "BYE")[0]
        self.assert_digest(bye, "Authorization", NONCE1, 2)
        self.check_cdr(s["id"], 200, "maskd", "call_time_limit", True)

    def test_reinvite_challenged_in_dialog(self):
        # A holds and resumes: each re-INVITE reaches B with credentials;
        # B challenges the first anyway (stale nonce), maskd sends it once
        # more with the new nonce, and the resume uses that nonce too
        s, ua, gw = self.call_pair("hold_uac.xml", "auth_reinvite_uas.xml",
                                   uas_keys=self.uas_keys())
        invites = self.requests(gw, "INVITE")
        self.assertEqual(len(invites), 5, gw.report())
        hold, hold_again, resume = invites[2], invites[3], invites[4]
        self.assert_digest(hold, "Authorization", NONCE1, 2)
        self.assertEqual(cseq_of(hold_again)[0], cseq_of(hold)[0] + 1)
        self.assertNotEqual(branch_of(hold), branch_of(hold_again))
        self.assertEqual(ts.body_of(hold), ts.body_of(hold_again))
        self.assert_digest(hold_again, "Authorization", NONCE2, 1)
        self.assert_digest(resume, "Authorization", NONCE2, 2)
        self.assertEqual(cseq_of(resume)[0], cseq_of(hold_again)[0] + 1)
        # A saw one answer per re-INVITE, never the challenge
        oks = [m for m in self.received(ua) if m.startswith("SIP/2.0 200")]
        self.assertEqual(len(oks), 4)
        self.assert_nothing_of_auth(ua)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_zz_counters(self):
        # last of the class (unittest runs them by name): every call,
        # leg and transaction of the calls above is gone
        m = self.wait_live_zero()
        self.assertGreaterEqual(m.get("maskd_sip_auth_retries_total", 0), 7)
        self.assertGreaterEqual(m.get("maskd_sip_auth_failed_total", 0), 1)
        self.assert_password_secret()


class AuthSessionTimer(AuthBase):
    """maskd refreshes leg b (RFC 4028) and the gateway challenges the
    refresh; intervals of seconds, as in test_sip's SipSessionTimers."""

    @classmethod
    def make_maskd(cls, tmp):
        m = AuthMaskd(tmp)
        m.sip_extra = "session_expires = 6\nmin_se = 2\n"
        return m

    def test_refresh_challenged(self):
        s, ua, gw = self.call_pair("st_plain_uac.xml", "auth_refresh_uas.xml",
                                   uas_keys=self.uas_keys(), uac_d=4500)
        invites = self.requests(gw, "INVITE")
        self.assertEqual(len(invites), 4, gw.report())
        refresh, again = invites[2], invites[3]
        self.assert_digest(refresh, "Authorization", NONCE1, 2)
        self.assert_digest(again, "Authorization", NONCE2, 1)
        self.assertEqual(cseq_of(again)[0], cseq_of(refresh)[0] + 1)
        self.assertEqual(ts.body_of(refresh), ts.body_of(again))
        # the caller, which does no timers, saw nothing of it
        self.assertEqual(self.requests(ua, "INVITE"), [])
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_zz_counters(self):
        m = self.wait_live_zero()
        self.assertGreaterEqual(m.get("maskd_sip_auth_retries_total", 0), 2)


class AuthNoCredentials(AuthBase):
    """No [gateway] credentials: a challenge fails the call."""

    @classmethod
    def make_maskd(cls, tmp):
        return ts.Maskd(tmp)

    def test_challenge_without_credentials_403(self):
        self.fail_with_403("auth_once_uas.xml", self.uas_keys(),
                           "auth_required", 1)

    def test_zz_counters(self):
        m = self.wait_live_zero()
        self.assertEqual(m.get("maskd_sip_auth_retries_total", 0), 0)
        self.assertGreaterEqual(m.get("maskd_sip_auth_failed_total", 0), 1)


class AuthOtherRealm(AuthBase):
    """Credentials for another realm than the gateway's challenge."""

    @classmethod
    def make_maskd(cls, tmp):
        return AuthMaskd(tmp, realm="trunk.example.org")

    def test_challenge_of_another_realm_403(self):
        self.fail_with_403("auth_once_uas.xml", self.uas_keys(),
                           "auth_required", 1)

    def test_zz_counters(self):
        m = self.wait_live_zero()
        self.assertEqual(m.get("maskd_sip_auth_retries_total", 0), 0)


if __name__ == "__main__":
    ts.main(globals())
