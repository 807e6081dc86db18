#!/usr/bin/env python3
"""test_hook.py - the call-routing hook (issue 10, part 2) against a real
maskd, real SIPp calls and a real HTTP hook server (Python standard
library) on 127.0.0.x.

The hook server verifies every request's Standard Webhooks signature
with test_events.py's own implementation of the spec (not maskd's code)
and answers what each test scripts: a decision, garbage, a 10 MB body,
nothing for longer than [hooks] timeout_ms, or it is down altogether.
Every forwarded message is checked for leaks as in test_sip.py.

Run by ctest as:
    python3 tests/ctl/test_hook.py --maskd /path/to/maskd --source-dir /repo

Nothing asserts speed: waits are bounded and generous.
"""
import http.server
import json
import os
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sip"))
sys.path.insert(0, HERE)
import test_sip as ts  # noqa: E402
import test_events as te  # noqa: E402  (verify, SECRET)

TIMEOUT_MS = 1000
# what must be back to 0 after a call (a server transaction lingers its
# 64*T1 in nta: not a leak, and not waited for here)
LIVE = ("maskd_sip_calls_live", "maskd_sip_dialogs_live",
        "maskd_relay_calls_live", "maskd_relay_ports_in_use")
BIG = 10 * 1024 * 1024


class HookServer:
    """The platform's hook on (127.0.0.1, a free port). @answer: a
    function (request dict) -> (status, body bytes, delay s). Keeps
    every request: (parsed body, headers)."""

    def __init__(self, ip="127.0.0.1"):
        self.ip = ip
        self.port = ts.free_port(socket.SOCK_STREAM, host=ip)
        self.lock = threading.Lock()
        self.got = []
        self.bad = []
        self.answer = None
        self.srv = None

    def url(self):
        return "http://%s:%d/route" % (self.ip, self.port)

    def start(self):
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                why = te.verify((te.SECRET,), hdrs, body)
                req = json.loads(body)
                with hook.lock:
                    if why:
                        hook.bad.append((why, hdrs, body))
                    hook.got.append((req, hdrs))
                status, out, delay = (hook.answer(req) if hook.answer
                                      else (200, b'{"action":"allow"}', 0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass        # maskd gave up first (timeout, too big)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer((self.ip, self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def asked(self, caller):
        with self.lock:
            return [r for r, h in self.got if r["data"]["from"] == caller]


def decide(obj, status=200, delay=0):
    return lambda req: (status, json.dumps(obj).encode(), delay)


class HookBase(ts.SipBase):
    route = "unrouted"
    on_error = "reject"

    @classmethod
    def setUpClass(cls):
        cls.hook = HookServer().start()
        cls.sip_extra = (
            "[events]\nsecrets = %s\nallow = 127.0.0.0/8\n"
            "[hooks]\nroute_url = %s\nroute = %s\ntimeout_ms = %d\n"
            "on_error = %s\n"
            % (te.SECRET, cls.hook.url(), cls.route, TIMEOUT_MS,
               cls.on_error))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        cls.hook.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.hook.answer = None

    def tearDown(self):
        super().tearDown()
        self.assertEqual(self.hook.bad, [], "unsigned or forged hook calls")

    def pool_number(self):
        vn = ts.vn_number()
        st, js, raw = self.maskd.request("POST", "/v1/numbers",
                                         {"number": vn, "country": "US"})
        self.assertEqual(st, 201, raw)
        return vn

    def metric(self, name):
        return self.maskd.metrics().get(name, 0)

    def wait_metric(self, name, at_least, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metric(name) >= at_least:
                return
            time.sleep(0.1)
        self.fail("%s < %s\n%s" % (name, at_least, self.maskd.diagnostics()))

    def connect(self, caller, callee, vn):
        """A call from @caller to @vn that must reach @callee from the
        VN, masked both ways."""
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": callee})
        ua = self.uac("basic_uac.xml", vn, {"caller": caller})
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, caller, callee)
        return ua, gw

    def refused(self, caller, vn, code, early=False):
        """@caller calling @vn gets @code; before it only 100 Trying
        (or, @early, the 183 of an announcement)."""
        ua = self.uac("reject_uac.xml", vn, {"caller": caller,
                                             "code": str(code)})
        self.expect_rc(ua)
        provisional = [m.split("\r\n", 1)[0] for m in self.received(ua)
                       if m.startswith("SIP/2.0 1")]
        self.assertIn("SIP/2.0 100 Trying", provisional)
        for m in provisional:
            self.assertIn(m, ("SIP/2.0 100 Trying",) +
                          (("SIP/2.0 183 Session Progress",) if early
                           else ()))
        return ua

    def sessions_of(self, party):
        st, js, raw = self.maskd.request(
            "GET", "/v1/sessions?party=%s&status=active"
            % party.replace("+", "%2B"))
        self.assertEqual(st, 200, raw)
        return js["sessions"]


class HookUnrouted(HookBase):
    """route = unrouted, on_error = reject (Twilio's out-of-session
    callback)."""

    def test_connect_without_session(self):
        vn = self.pool_number()
        caller, callee = ts.caller_number(), ts.callee_number()
        self.hook.answer = decide({"action": "connect", "to": callee})
        before = self.metric('maskd_hook_requests_total{result="connect"}')
        self.connect(caller, callee, vn)
        req = self.hook.asked(caller)
        self.assertEqual(len(req), 1, req)
        self.assertEqual(req[0]["type"], "call.route")
        d = req[0]["data"]
        self.assertEqual(d["to"], vn)
        self.assertEqual(d["trunk"], "carrier")
        self.assertIsNone(d["session_id"])
        self.assertIsNone(d["other_party"])
        self.assertRegex(d["call_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(self.sessions_of(caller), [])
        self.assertEqual(
            self.metric('maskd_hook_requests_total{result="connect"}'),
            before + 1)
        self.assertGreaterEqual(self.metric("maskd_hook_seconds_count"), 1)
        ok, m = self.maskd.wait_zero(LIVE)
        self.assertTrue(ok, m)

    def test_connect_create_session_then_routes_without_asking(self):
        vn = self.pool_number()
        caller, callee = ts.caller_number(), ts.callee_number()
        self.hook.answer = decide({"action": "connect", "to": callee,
                                   "create_session": {"ttl": 600}})
        self.connect(caller, callee, vn)
        ss = self.sessions_of(caller)
        self.assertEqual(len(ss), 1, ss)
        s = ss[0]
        self.assertEqual((s["party_a"], s["party_b"], s["virtual_number"]),
                         (caller, callee, vn))
        # the first call is that session's
        calls = self.wait_cdrs(s["id"], 1)
        self.assertEqual(calls[0]["final_code"], 200, calls)
        self.assertEqual(calls[0]["hook"]["action"], "connect", calls)
        self.assertGreaterEqual(calls[0]["hook"]["latency_ms"], 0)
        # the second routes by the session, the hook is not asked again
        self.hook.answer = decide({"action": "reject", "status": 603})
        self.connect(caller, callee, vn)
        self.assertEqual(len(self.hook.asked(caller)), 1)
        calls = self.wait_cdrs(s["id"], 2)
        self.assertIsNone(calls[1]["hook"], calls)     # not asked

    def test_create_session_conflict_still_connects(self):
        # party b already talks to someone else on this VN: the create
        # is refused like any create, the call connects all the same
        vn = self.pool_number()
        caller, callee = ts.caller_number(), ts.callee_number()
        st, js, raw = self.maskd.request("POST", "/v1/sessions", {
            "party_a": ts.caller_number(), "party_b": callee,
            "virtual_number": vn})
        self.assertEqual(st, 201, raw)
        before = self.metric("maskd_hook_sessions_refused_total")
        self.hook.answer = decide({"action": "connect", "to": callee,
                                   "create_session": {"ttl": 600}})
        self.connect(caller, callee, vn)
        self.assertEqual(self.sessions_of(caller), [])
        self.assertEqual(self.metric("maskd_hook_sessions_refused_total"),
                         before + 1)

    def test_reject(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        self.hook.answer = decide({"action": "reject", "status": 603})
        self.refused(caller, vn, 603)
        self.assertEqual(len(self.hook.asked(caller)), 1)
        self.assertGreaterEqual(
            self.metric('maskd_hook_requests_total{result="reject"}'), 1)

    def test_malformed_json_on_error_reject(self):
        vn = self.pool_number()
        for body in (b'{"action": "connect", "to": ', b'[1,2]',
                     b'{"action":"connect","to":"12345"}',
                     b'{"action":"reject","status":200}',
                     b'{"action":"reject","status":0}',
                     b'{"action":"dance"}'):
            caller = ts.caller_number()
            self.hook.answer = lambda req, b=body: (200, b, 0)
            self.refused(caller, vn, 404)      # [sip] unknown_code
            self.assertEqual(len(self.hook.asked(caller)), 1)

    def test_non_2xx_is_an_error(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        self.hook.answer = decide({"action": "connect",
                                   "to": ts.callee_number()}, status=500)
        self.refused(caller, vn, 404)

    def test_10mb_answer_refused(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        before = self.metric('maskd_hook_requests_total{result="error"}')
        big = b'{"action":"allow","pad":"' + b"x" * BIG + b'"}'
        self.hook.answer = lambda req: (200, big, 0)
        self.refused(caller, vn, 404)
        self.wait_metric('maskd_hook_requests_total{result="error"}',
                         before + 1)

    def test_timeout_on_error_reject(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        before = self.metric('maskd_hook_requests_total{result="timeout"}')
        self.hook.answer = decide({"action": "connect",
                                   "to": ts.callee_number()},
                                  delay=TIMEOUT_MS / 1000.0 + 1.5)
        self.refused(caller, vn, 404)
        self.assertEqual(
            self.metric('maskd_hook_requests_total{result="timeout"}'),
            before + 1)

    def test_cancel_while_pending(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        before = self.metric("maskd_sip_hook_cancelled_total")
        # the decision comes after the CANCEL, inside timeout_ms
        self.hook.answer = decide({"action": "connect",
                                   "to": ts.callee_number()}, delay=0.8)
        ua = self.uac("hook_cancel_uac.xml", vn, {"caller": caller},
                      d_ms=200)
        self.expect_rc(ua)
        self.assertEqual(self.metric("maskd_sip_hook_cancelled_total"),
                         before + 1)
        # the late answer is ignored: nothing goes to the gateway
        self.wait_metric("maskd_sip_hook_answers_ignored_total", 1)
        ok, m = self.maskd.wait_zero(LIVE)
        self.assertTrue(ok, m)
        self.assertEqual(m.get("maskd_sip_dialogs_live"), 0)

    def test_announce(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        before = self.metric("maskd_sip_announcements_total")
        # the prompt in early media (183), then the hook's code
        self.hook.answer = decide({"action": "announce",
                                   "prompt": "unknown", "status": 480})
        ua = self.refused(caller, vn, 480, early=True)
        self.assertTrue([m for m in self.received(ua)
                         if m.startswith("SIP/2.0 183")])
        self.assertEqual(self.metric("maskd_sip_announcements_total"),
                         before + 1)
        # a prompt maskd does not have: an error, refused as without
        # a hook (on_error = reject)
        self.hook.answer = decide({"action": "announce",
                                   "prompt": "no-such-prompt"})
        self.refused(ts.caller_number(), vn, 404)

    def test_hook_down(self):
        vn = self.pool_number()
        caller = ts.caller_number()
        self.hook.stop()
        try:
            self.refused(caller, vn, 404)
        finally:
            self.hook.start()
        self.assertGreaterEqual(
            self.metric('maskd_hook_requests_total{result="error"}'), 1)


class HookAlways(HookBase):
    """route = always, on_error = allow (8x8 Call Action): routed calls
    ask too; a failing hook lets them through."""
    route = "always"
    on_error = "allow"

    def test_allow_and_deny(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        self.hook.answer = decide({"action": "allow"})
        self.connect(a, b, vn)
        req = self.hook.asked(a)
        self.assertEqual(len(req), 1)
        self.assertEqual(req[0]["data"]["session_id"], s["id"])
        self.assertEqual(req[0]["data"]["other_party"], b)
        self.hook.answer = decide({"action": "reject", "status": 403})
        self.refused(a, vn, 403)
        calls = self.wait_cdrs(s["id"], 2)
        self.assertEqual([c["hook"]["action"] for c in calls],
                         ["allow", "reject"], calls)
        self.assertEqual(calls[-1]["final_code"], 403, calls)
        self.assertEqual(calls[-1]["reason"], "hook_reject", calls)

    def test_announce_session_call(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        self.hook.answer = decide({"action": "announce",
                                   "prompt": "goodbye", "status": 480})
        self.refused(a, s["virtual_number"], 480, early=True)
        calls = self.wait_cdrs(s["id"], 1)
        self.assertEqual(calls[0]["hook"]["action"], "announce", calls)
        self.assertEqual(calls[0]["reason"], "announced", calls)

    def test_connect_overrides_session(self):
        a, b = ts.caller_number(), ts.callee_number()
        other = ts.callee_number()
        s = self.maskd.session(a, b)
        self.hook.answer = decide({"action": "connect", "to": other})
        self.connect(a, other, s["virtual_number"])

    def test_timeout_on_error_allow(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        self.hook.answer = decide({"action": "reject", "status": 403},
                                  delay=TIMEOUT_MS / 1000.0 + 1.5)
        self.connect(a, b, s["virtual_number"])
        calls = self.wait_cdrs(s["id"], 1)
        self.assertEqual(calls[0]["final_code"], 200, calls)
        self.assertEqual(calls[0]["hook"]["action"], "error", calls)

    def test_down_on_error_allow(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        self.hook.stop()
        try:
            self.connect(a, b, s["virtual_number"])
        finally:
            self.hook.start()

    def test_unrouted_allowed_is_refused(self):
        # allow, or an error under on_error = allow, has no session to
        # route by: refused as without a hook
        vn = self.pool_number()
        self.hook.answer = decide({"action": "allow"})
        self.refused(ts.caller_number(), vn, 404)
        self.hook.answer = lambda req: (200, b"garbage", 0)
        self.refused(ts.caller_number(), vn, 404)


class HookAlwaysReject(HookBase):
    """route = always, on_error = reject: a routed call the hook cannot
    decide gets 503."""
    route = "always"
    on_error = "reject"

    def test_timeout_and_down_on_error_reject(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        self.hook.answer = decide({"action": "allow"},
                                  delay=TIMEOUT_MS / 1000.0 + 1.5)
        self.refused(a, vn, 503)
        self.hook.stop()
        try:
            self.refused(a, vn, 503)
        finally:
            self.hook.start()
        calls = self.wait_cdrs(s["id"], 2)
        self.assertEqual([c["reason"] for c in calls],
                         ["hook_error", "hook_error"])
        self.assertEqual([c["final_code"] for c in calls], [503, 503])
        self.assertEqual([c["hook"]["action"] for c in calls],
                         ["error", "error"])
        # the first waited timeout_ms for nothing
        self.assertGreaterEqual(calls[0]["hook"]["latency_ms"],
                                TIMEOUT_MS - 50)


if __name__ == "__main__":
    ts.main(globals())
