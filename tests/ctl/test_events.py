#!/usr/bin/env python3
"""test_events.py - events out (issue 10): signed webhooks from the
durable outbox, against a real maskd, real SIPp calls and real HTTP
receivers (Python standard library) on 127.0.0.x.

Each receiver verifies every delivery with its OWN implementation of the
Standard Webhooks spec (HMAC-SHA256 over id.timestamp.body with the key
base64-decoded from whsec_, constant-time compare, any of the
space-separated v1 entries, timestamp within 5 minutes) - never maskd's
code. Deliveries are deduplicated by webhook-id where the spec allows
repeats (at-least-once).

Run by ctest as:
    python3 tests/ctl/test_events.py --maskd /path/to/maskd --source-dir /repo

The SIP harness is tests/sip/test_sip.py's (Maskd, Sipp, SipBase).
Nothing asserts speed: waits are bounded and generous; retry timings are
checked as lower bounds only (a retry never comes before its slot).
"""
import base64
import hashlib
import hmac
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
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402  (port_range, even_port_pair)
import test_soak as tsk  # noqa: E402  (Sipp: a bounded load run)

SECRET = "whsec_" + base64.b64encode(b"maskd events test key 0123").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"an older key").decode()
SCHEDULE = [0, 1, 2, 2, 2, 2]     # seconds: tests keep retries short
WAIT_S = 60


def verify(secrets, headers, body):
    """The Standard Webhooks check, written from the spec: returns None
    when the delivery is authentic, else why not."""
    msg_id = headers.get("webhook-id")
    ts_ = headers.get("webhook-timestamp")
    sig = headers.get("webhook-signature")
    if not (msg_id and ts_ and sig):
        return "missing headers"
    try:
        t = int(ts_)
    except ValueError:
        return "bad timestamp"
    if abs(time.time() - t) > 300:
        return "timestamp too far from now"
    signed = msg_id.encode() + b"." + ts_.encode() + b"." + body
    for s in secrets:
        key = base64.b64decode(s[len("whsec_"):])
        want = base64.b64encode(hmac.new(key, signed,
                                         hashlib.sha256).digest())
        for entry in sig.split(" "):
            ver, _, value = entry.partition(",")
            if ver == "v1" and hmac.compare_digest(value.encode(), want):
                return None
    return "no signature matches"


class Receiver:
    """An HTTP receiver on (ip, free port). @script: a function
    (path, body) -> (status, headers) deciding each answer; default 200.
    Keeps every delivery: (time, path, headers, body, status)."""

    def __init__(self, ip="127.0.0.1", secrets=(SECRET,)):
        self.stall = None       # a threading.Event: hold each request
        self.stall_s = 20       # ... until it is set, at most this long
        self.arrived = 0        # requests begun
        self.ip = ip
        self.port = ts.free_port(socket.SOCK_STREAM, host=ip)
        self.secrets = secrets
        self.lock = threading.Lock()
        self.got = []
        self.bad = []
        self.script = None
        self.srv = None

    def url(self, path="/hook"):
        return "http://%s:%d%s" % (self.ip, self.port, path)

    def start(self):
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                why = verify(rcv.secrets, hdrs, body)
                status, extra = 200, {}
                with rcv.lock:
                    rcv.arrived += 1
                if rcv.stall is not None:
                    rcv.stall.wait(rcv.stall_s)
                if rcv.script:
                    status, extra = rcv.script(self.path, body)
                with rcv.lock:
                    if why:
                        rcv.bad.append((why, hdrs, body))
                    rcv.got.append((time.monotonic(), self.path, hdrs,
                                    body, status))
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer((self.ip, self.port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def events(self, ok_only=True):
        """Delivered events, deduplicated by webhook-id, in arrival
        order: [(headers, parsed body)]."""
        seen, out = set(), []
        with self.lock:
            got = list(self.got)
        for _, _, h, body, status in got:
            if ok_only and not 200 <= status < 300:
                continue
            if h["webhook-id"] in seen:
                continue
            seen.add(h["webhook-id"])
            out.append((h, json.loads(body)))
        return out

    def of_session(self, sid):
        return [e for h, e in self.events()
                if e["data"].get("session_id") == sid]

    def wait(self, pred, what, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.1)
        raise AssertionError("receiver %s: %s not seen in %ds; got %r"
                             % (self.url(""), what, timeout,
                                [e["type"] for h, e in self.events()]))


class EventsBase(ts.SipBase):
    receiver_ip = "127.0.0.1"
    schedule = SCHEDULE
    timeout_s = 5           # [events] timeout

    @classmethod
    def sip_prefix(cls):
        """More [sip] lines (and sections) before [events]."""
        return ""

    @classmethod
    def setUpClass(cls):
        cls.all = Receiver(cls.receiver_ip).start()
        cls.sip_extra = cls.sip_prefix() + (
            "[events]\nurl = %s\nsecrets = %s,%s\nallow = 127.0.0.0/8\n"
            "retry_schedule = %s\ntimeout = %d\nconcurrency = 4\n"
            % (cls.all.url("/all"), OLD_SECRET, SECRET,
               ",".join(str(s) for s in cls.schedule), cls.timeout_s))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        cls.all.stop()
        super().tearDownClass()

    def tearDown(self):
        super().tearDown()
        self.assertEqual(self.all.bad, [], "forged or unsigned deliveries")

    def assert_sequences(self, evs, types):
        self.assertEqual([e["type"] for e in evs], types)
        self.assertEqual([e["data"]["sequence"] for e in evs],
                         list(range(1, len(types) + 1)))
        for e in evs:
            t = e["timestamp"]
            self.assertRegex(t, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Events(EventsBase):

    def test_answered_and_busy_calls(self):
        cb = Receiver("127.0.0.2").start()
        self.addCleanup(cb.stop)
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml",
                                   callback_url=cb.url("/cb"))
        sid = s["id"]
        want = ["session.created", "call.initiated", "call.ringing",
                "call.answered", "call.completed"]
        for r in (self.all, cb):
            r.wait(lambda: len(r.of_session(sid)) >= 5, "answered call")
            evs = r.of_session(sid)
            self.assert_sequences(evs, want)
            call_ids = {e["data"]["call_id"] for e in evs[1:]}
            self.assertEqual(len(call_ids), 1, evs)
            for e in evs[1:4]:
                self.assertEqual(e["data"]["from"], s["party_a"])
                self.assertEqual(e["data"]["to"], s["party_b"])
                self.assertEqual(e["data"]["virtual_number"],
                                 s["virtual_number"])
            d = evs[4]["data"]
            self.assertEqual(d["final_code"], 200)
            self.assertEqual(d["hangup_by"], "caller")
            self.assertEqual(d["reason"], "normal")
            self.assertEqual(d["virtual_number"], s["virtual_number"])
            self.assertEqual(d["from"], s["party_a"])
            self.assertEqual(d["to"], s["party_b"])
            self.assertIsNotNone(d["answered_at"])
            calls = self.maskd.calls(sid)
            self.assertEqual(d["call_id"], calls[0]["id"])
        self.assertEqual(cb.bad, [])
        # the session callback got only its own session's events
        self.assertEqual({e["data"]["session_id"] for h, e in cb.events()},
                         {sid})

        s, ua, gw = self.call_pair("reject_uac.xml", "reject_uas.xml",
                                   uas_keys={"code": "486"},
                                   uac_keys={"code": "486"})
        sid = s["id"]
        self.all.wait(lambda: len(self.all.of_session(sid)) >= 3, "busy")
        evs = self.all.of_session(sid)
        self.assert_sequences(evs, ["session.created", "call.initiated",
                                    "call.failed"])
        d = evs[2]["data"]
        self.assertEqual(d["final_code"], 486)
        self.assertEqual(d["reason"], "busy")
        self.assertIsNone(d["answered_at"])
        self.assertIsNone(d["hangup_by"])

        # closing the session reports it, third in order
        st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + sid)
        self.assertIn(st, (200, 204), raw)
        self.all.wait(lambda: len(self.all.of_session(sid)) >= 4, "close")
        self.assert_sequences(self.all.of_session(sid),
                              ["session.created", "call.initiated",
                               "call.failed", "session.closed"])

    def failed_call(self, uac, uas, uac_keys, reason, code, hangup):
        """A call that ends unanswered: session.created, call.initiated,
        call.ringing, call.failed with @code, @reason, @hangup - to the
        global URL and the session's callback_url alike."""
        cb = Receiver("127.0.0.2").start()
        self.addCleanup(cb.stop)
        s, ua, gw = self.call_pair(uac, uas, uac_keys=uac_keys,
                                   callback_url=cb.url("/cb"))
        sid = s["id"]
        want = ["session.created", "call.initiated", "call.ringing",
                "call.failed"]
        for r in (self.all, cb):
            r.wait(lambda: len(r.of_session(sid)) >= 4, reason)
            evs = r.of_session(sid)
            self.assert_sequences(evs, want)
            self.assertEqual(len({e["data"]["call_id"] for e in evs[1:]}),
                             1, evs)
            d = evs[3]["data"]
            self.assertEqual(d["final_code"], code)
            self.assertEqual(d["reason"], reason)
            self.assertEqual(d["hangup_by"], hangup)
            self.assertIsNone(d["answered_at"])
            self.assertEqual(d["duration"], 0)
            self.assertEqual(d["from"], s["party_a"])
            self.assertEqual(d["to"], s["party_b"])
            self.assertEqual(d["virtual_number"], s["virtual_number"])
            self.assertEqual(d["call_id"], self.maskd.calls(sid)[0]["id"])
        self.assertEqual(cb.bad, [])

    def test_no_answer(self):
        # the callee rings past [session] ring_timeout: 480, by maskd
        self.failed_call("reject_uac.xml", "cancel_uas.xml",
                         {"code": "480"}, "ring_timeout", 480, "maskd")

    def test_cancelled(self):
        # the caller gives up while the callee rings: 487, by the caller
        self.failed_call("cancel_uac.xml", "cancel_uas.xml", {},
                         "cancel", 487, "caller")

    def test_unrouted(self):
        s = self.maskd.session(ts.caller_number(), ts.callee_number())
        stranger = ts.caller_number()
        # a stranger calls an existing VN: 404, and call.unrouted
        ua = self.uac("reject_uac.xml", s["virtual_number"],
                      {"caller": stranger, "code": "404"})
        self.expect_rc(ua)

        def unrouted():
            return [e for h, e in self.all.events()
                    if e["type"] == "call.unrouted" and
                    e["data"]["from"] == stranger]
        self.all.wait(unrouted, "call.unrouted")
        d = unrouted()[0]["data"]
        self.assertEqual(d["virtual_number"], s["virtual_number"])
        self.assertEqual(d["final_code"], 404)
        self.assertIsNone(d["session_id"])
        self.assertEqual(d["action"], "rejected")
        self.assertIsNone(d["call_id"])     # a bare 404 files no record
        # the real number is never logged (only debug level prints it)
        log = ts.read_text(self.maskd.log_path)
        for line in log.splitlines():
            if "call.unrouted" in line or "events:" in line:
                self.assertNotIn(stranger, line)

    def test_retry_500_then_200_and_retry_after(self):
        cb = Receiver("127.0.0.3").start()
        self.addCleanup(cb.stop)
        answers = [(500, {}), (503, {"Retry-After": "4"}), (200, {})]

        def script(path, body):
            return answers.pop(0) if answers else (200, {})
        cb.script = script
        s = self.maskd.session(ts.caller_number(), ts.callee_number(),
                               callback_url=cb.url("/cb"))
        cb.wait(lambda: cb.events(), "the delivery after two failures")
        with cb.lock:
            got = list(cb.got)
        self.assertEqual([g[4] for g in got[:3]], [500, 503, 200])
        ids = {g[2]["webhook-id"] for g in got[:3]}
        self.assertEqual(len(ids), 1, "a retry changed the webhook-id")
        # slot 1 of the schedule after the 500; Retry-After (4 s, longer
        # than the schedule's 2 s) after the 503
        self.assertGreaterEqual(got[1][0] - got[0][0], SCHEDULE[1] - 0.2)
        self.assertGreaterEqual(got[2][0] - got[1][0], 4 - 0.2)
        self.assertEqual(cb.of_session(s["id"])[0]["type"],
                         "session.created")
        m = self.maskd.metrics()
        self.assertGreaterEqual(m.get("maskd_event_delivery_seconds_count",
                                      0), 1)
        self.assertGreaterEqual(
            m.get('maskd_event_deliveries_total{result="retry"}', 0), 2)
        self.assertGreaterEqual(
            m.get('maskd_event_deliveries_total{result="ok"}', 0), 1)

    def test_dead_callback_does_not_hold_back_url(self):
        # the session's callback_url fails every attempt: the [events]
        # url still gets the session's events at once, in order, each
        # exactly once (a retry goes only where it has not arrived)
        cb = Receiver("127.0.0.7").start()
        self.addCleanup(cb.stop)
        cb.script = lambda path, body: (500, {})
        s = self.maskd.session(ts.caller_number(), ts.callee_number(),
                               callback_url=cb.url("/dead"))
        sid = s["id"]
        st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + sid)
        self.assertIn(st, (200, 204), raw)
        t0 = time.monotonic()
        self.all.wait(lambda: len(self.all.of_session(sid)) >= 2,
                      "both events at the url")
        # long before the callback's schedule is through
        self.assertLess(time.monotonic() - t0, sum(SCHEDULE))
        self.assert_sequences(self.all.of_session(sid),
                              ["session.created", "session.closed"])
        cb.wait(lambda: len(cb.got) >= 3, "the callback's retries")
        with self.all.lock:
            mine = [g for g in self.all.got
                    if json.loads(g[3])["data"].get("session_id") == sid]
        self.assertEqual(len(mine), 2, "the url got a retry's duplicate")
        with cb.lock:
            types = {json.loads(g[3])["type"] for g in cb.got}
        # the callback's own order: closed waits for created
        self.assertEqual(types, {"session.created"})

    def test_410_disables_endpoint(self):
        cb = Receiver("127.0.0.4").start()
        self.addCleanup(cb.stop)
        cb.script = lambda path, body: (410, {})
        s = self.maskd.session(ts.caller_number(), ts.callee_number(),
                               callback_url=cb.url("/gone"))
        cb.wait(lambda: cb.got, "the first attempt")
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            m = self.maskd.metrics()
            if m.get("maskd_webhooks_disabled_total", 0) >= 1:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(m.get("maskd_webhooks_disabled_total", 0), 1)
        # the global endpoint still got it; the gone one is not retried
        self.all.wait(lambda: self.all.of_session(s["id"]), "global copy")
        st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + s["id"])
        self.assertIn(st, (200, 204), raw)
        self.all.wait(lambda: len(self.all.of_session(s["id"])) >= 2,
                      "session.closed")
        time.sleep(SCHEDULE[1] + SCHEDULE[2] + 1)
        self.assertEqual(len(cb.got), 1, "a disabled endpoint was called")

        # visible in the API, and re-enabled there
        st, js, raw = self.maskd.request("GET", "/v1/webhooks")
        self.assertEqual(st, 200, raw)
        hooks = {w["url"]: w for w in js["webhooks"]}
        gone = hooks[cb.url("/gone")]
        self.assertFalse(gone["enabled"])
        self.assertEqual(gone["disabled_reason"], "410 Gone")
        self.assertEqual(gone["last_status_code"], 410)
        self.assertTrue(hooks[self.all.url("/all")]["enabled"])
        st, js, raw = self.maskd.request(
            "GET", "/v1/events?session_id=%s&type=session.created"
            % s["id"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(len(js["events"]), 1, js)
        ev = js["events"][0]
        self.assertEqual(ev["status"], "failed")
        self.assertEqual(ev["last_status_code"], 410)
        self.assertEqual(ev["attempts"], 1)
        self.assertIsNone(ev["next_attempt_at"])
        self.assertEqual(ev["payload"]["type"], "session.created")
        st, js, raw = self.maskd.request(
            "PATCH", "/v1/webhooks", {"url": cb.url("/gone"),
                                      "enabled": True})
        self.assertEqual(st, 200, raw)
        cb.script = None
        # redelivered by hand: the same webhook-id, now accepted
        st, js, raw = self.maskd.request(
            "POST", "/v1/events/%s/redeliver" % ev["id"])
        self.assertEqual(st, 202, raw)
        cb.wait(lambda: cb.events(), "the redelivery")
        self.assertEqual(cb.events()[0][0]["webhook-id"], ev["id"])
        st, js, raw = self.maskd.request(
            "POST", "/v1/events/msg_%s/redeliver" % ("0" * 32))
        self.assertEqual(st, 404, raw)
        for qs in ("status=done", "limit=0", "cursor=xyz", "colour=1"):
            st, js, raw = self.maskd.request("GET", "/v1/events?" + qs)
            self.assertEqual(st, 400, (qs, raw))

    def test_ssrf_refused_at_api(self):
        # each range refused is checked in test_ctl_event.c
        # (test_url_check), the classifier alone; here, that the API
        # answers 400 naming the field, with URLs that stay on this host
        # were one let through ([events] allow is 127.0.0.0/8 alone, so
        # ::1 and the names are refused)
        for url in ("http://[::1]/x", "http://localhost:8080/x",
                    "http://a.localhost/x", "ftp://127.0.0.1/x",
                    "http://user@127.0.0.1/x"):
            body = {"party_a": ts.caller_number(),
                    "party_b": ts.callee_number(), "callback_url": url}
            st, js, raw = self.maskd.request("POST", "/v1/sessions", body)
            self.assertEqual(st, 400, (url, raw))
            self.assertIn("callback_url", js["error"]["message"], raw)


class EventsAnnounce(EventsBase):
    """[sip] unknown_action = announce: the caller hears the prompt,
    and call.unrouted still goes out with the code it gets after it."""

    @classmethod
    def sip_prefix(cls):
        lo, hi = tm.port_range(40)
        return ("unknown_action = announce\n"
                "[rtp]\nport_min = %d\nport_max = %d\n" % (lo, hi))

    def test_unrouted_announced(self):
        s = self.maskd.session(ts.caller_number(), ts.callee_number())
        stranger = ts.caller_number()
        ua = self.uac("announce_uac.xml", s["virtual_number"],
                      {"caller": stranger,
                       "mport": str(tm.even_port_pair(ts.A_IP)),
                       "fmts": "0 101", "want_fmt": "0 101",
                       "rtp_file": os.path.join(self.run_dir, "port")})
        self.expect_rc(ua)

        def unrouted():
            return [e for h, e in self.all.events()
                    if e["type"] == "call.unrouted" and
                    e["data"]["from"] == stranger]
        self.all.wait(unrouted, "call.unrouted")
        d = unrouted()[0]["data"]
        self.assertEqual(d["virtual_number"], s["virtual_number"])
        self.assertEqual(d["final_code"], 404)
        self.assertIsNone(d["session_id"])
        self.assertEqual(d["action"], "announced")
        # the announcement filed a session-less record under call_id
        # (written once the call has ended: the event went out first)
        deadline = time.monotonic() + 30
        while True:
            st, js, raw = self.maskd.request("GET",
                                             "/v1/calls/" + d["call_id"])
            if (st == 200 and "record" in js) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(st, 200, raw)
        self.assertIn("record", js, js)
        self.assertIsNone(js["session_id"], js)
        self.assertEqual(js["record"]["reason"], "announced", js)
        self.assertEqual(js["record"]["from"], stranger, js)
        ok, m = self.maskd.wait_zero()
        self.assertTrue(ok, m)


class EventsNoAllow(ts.SipBase):
    """Without [events] allow: a URL whose NAME resolves to loopback is
    refused at delivery, after resolution; nothing reaches it."""

    @classmethod
    def setUpClass(cls):
        cls.rcv = Receiver("127.0.0.1").start()
        cls.sip_extra = (
            "[events]\nurl = http://localhost:%d/all\nsecrets = %s\n"
            "retry_schedule = 0,1\n" % (cls.rcv.port, SECRET))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        cls.rcv.stop()
        super().tearDownClass()

    def failed_event(self, sid):
        """The first event of session @sid once it has been given up."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            st, js, raw = self.maskd.request(
                "GET", "/v1/events?status=failed&session_id=" + sid)
            self.assertEqual(st, 200, raw)
            if js["events"]:
                return js["events"][0]
            time.sleep(0.2)
        self.fail("the event was not given up")

    def test_name_resolving_to_loopback_refused(self):
        s = self.maskd.session(ts.caller_number(), ts.callee_number())
        ev = self.failed_event(s["id"])
        self.assertEqual(ev["attempts"], 2)
        self.assertIn("forbidden address", ev["last_error"])
        self.assertEqual(self.rcv.got, [], "a refused URL was called")
        # and at the API, an IP literal in loopback without allow
        st, js, raw = self.maskd.request("POST", "/v1/sessions", {
            "party_a": ts.caller_number(), "party_b": ts.callee_number(),
            "callback_url": "http://127.0.0.1:%d/x" % self.rcv.port})
        self.assertEqual(st, 400, raw)
        self.assertIn("callback_url", js["error"]["message"])

    @staticmethod
    def hosts_loopback_name():
        """A name /etc/hosts maps into 127.0.0.0/8, other than localhost
        (which curl answers itself, without its resolver): looked up from
        the file, so no DNS query leaves the machine. Debian writes the
        host's own name there (127.0.1.1)."""
        try:
            with open("/etc/hosts") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2 or not fields[0].startswith("127."):
                continue
            for name in fields[1:]:
                if name.lower() not in ("localhost",
                                        "localhost.localdomain"):
                    return name
        return None

    def test_resolved_callback_keeps_api_served(self):
        """A callback_url with a host name: curl resolves it in a thread
        of its own that signals through a socketpair curl closes itself.
        The address is refused (loopback, no allow), and the API still
        answers every new connection: the descriptors curl closed are
        reused by the API's next accepts, and an event left registered
        for one of them once hid that connection from epoll."""
        name = self.hosts_loopback_name()
        if name is None:
            self.skipTest("no name for 127.0.0.0/8 in /etc/hosts but "
                          "localhost (a DNS name would query the network)")
        s = self.maskd.session(ts.caller_number(), ts.callee_number(),
                               callback_url="http://%s:9/h" % name)
        ev = self.failed_event(s["id"])
        self.assertIn("forbidden address", ev["last_error"])
        for _ in range(20):
            st, js, raw = self.maskd.request("GET", "/v1/sessions/" + s["id"])
            self.assertEqual(st, 200, raw)


class EventsSlowReceiver(EventsBase):
    """A receiver that takes 20 s per request while a bounded batch of
    SIPp calls runs: every call completes normally (nothing waits for the
    webhooks), and once the receiver is quick again every event arrives,
    in per-session order. (How much setup latency changes is measured by
    bench/bench_events.sh, not here.)"""
    receiver_ip = "127.0.0.6"
    timeout_s = 30          # past the receiver's 20 s
    CALLS = 30

    def test_stalled_receiver_does_not_touch_calls(self):
        stall = threading.Event()
        self.all.stall = stall
        self.addCleanup(stall.set)
        m = self.maskd
        st, js, raw = m.request("POST", "/v1/numbers",
                                {"number": ts.vn_number(), "country": "US"})
        self.assertEqual(st, 201, raw)

        def create(i):
            st, js, raw = m.request("POST", "/v1/sessions", {
                "party_a": "+1202556%04d" % i,
                "party_b": "+1303556%04d" % i})
            self.assertEqual(st, 201, raw)
            return "+1202556%04d" % i, js["virtual_number"], js["id"]
        sessions = [create(i) for i in range(self.CALLS)]
        inf = os.path.join(self.run_dir, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for caller, vn, _ in sessions:
                f.write("%s;%s;\n" % (caller, vn))
        # the first session.created requests are stalled at the receiver
        self.all.wait(lambda: self.all.arrived >= 1, "a stalled request")
        uas = tsk.Sipp(self.run_dir, "uas", [
            "-sf", os.path.join(ts.ARGS.source_dir, "bench", "sipp",
                                "uas.xml"),
            "-i", ts.GW_IP, "-p", str(m.gw_port), "-mi", ts.GW_IP,
            "-m", str(self.CALLS)])
        ts.wait_listening(ts.GW_IP, m.gw_port)
        uac = tsk.Sipp(self.run_dir, "uac", [
            "-sf", os.path.join(ts.ARGS.source_dir, "bench", "sipp",
                                "uac.xml"),
            "-i", ts.A_IP, "-p", str(ts.free_port(host=ts.A_IP)),
            "-mi", ts.A_IP, "-inf", inf, "-r", "10", "-l", "30",
            "-m", str(self.CALLS), "-d", "200",
            "127.0.0.1:%d" % m.sip_port])
        try:
            rc = uac.wait(120)
            stats = uac.stats()
            self.assertEqual(rc, 0, uac.report())
            self.assertEqual(int(stats.get("SuccessfulCall(C)", -1)),
                             self.CALLS, uac.report())
            self.assertEqual(int(stats.get("FailedCall(C)", -1)), 0)
            self.assertEqual(uas.wait(60), 0, uas.report())
        finally:
            uac.kill()
            uas.kill()
        # the calls' events were held back meanwhile, not lost
        self.assertGreater(m.metrics().get("maskd_events_pending", 0),
                           self.CALLS)
        stall.set()
        want = ["session.created", "call.initiated", "call.ringing",
                "call.answered", "call.completed"]
        self.all.wait(lambda: all(len(self.all.of_session(sid)) >= 5
                                  for _, _, sid in sessions),
                      "every call's events", timeout=120)
        for _, _, sid in sessions:
            self.assert_sequences(self.all.of_session(sid), want)


class EventsEndpointState(EventsBase):
    """An endpoint's state outlives a restart: a 410'd endpoint stays
    disabled (and is not called again), a failing one keeps the time it
    began failing (disable_after goes on counting)."""
    receiver_ip = "127.0.0.8"
    schedule = [0, 30]      # one retry, far off: the test ends first

    def webhooks(self):
        st, js, raw = self.maskd.request("GET", "/v1/webhooks")
        self.assertEqual(st, 200, raw)
        return {w["url"]: w for w in js["webhooks"]}

    def test_state_survives_restart(self):
        gone = Receiver("127.0.0.9").start()
        self.addCleanup(gone.stop)
        gone.script = lambda path, body: (410, {})
        bad = Receiver("127.0.0.10").start()
        self.addCleanup(bad.stop)
        bad.script = lambda path, body: (500, {})
        s1 = self.maskd.session(ts.caller_number(), ts.callee_number(),
                                callback_url=gone.url("/gone"))
        s2 = self.maskd.session(ts.caller_number(), ts.callee_number(),
                                callback_url=bad.url("/bad"))
        gone.wait(lambda: gone.got, "the 410")
        bad.wait(lambda: bad.got, "the 500")
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            w = self.webhooks()
            if (not w.get(gone.url("/gone"), {"enabled": True})["enabled"]
                    and w.get(bad.url("/bad"), {}).get("failing_since")):
                break
            time.sleep(0.2)
        before = self.webhooks()
        self.assertFalse(before[gone.url("/gone")]["enabled"], before)
        since = before[bad.url("/bad")]["failing_since"]
        self.assertIsNotNone(since, before)
        self.maskd.stop()
        self.maskd.start()
        after = self.webhooks()
        g = after[gone.url("/gone")]
        self.assertFalse(g["enabled"], after)
        self.assertEqual(g["disabled_reason"], "410 Gone")
        self.assertEqual(after[bad.url("/bad")]["failing_since"], since)
        self.assertTrue(after[bad.url("/bad")]["enabled"])
        # a new event of the disabled endpoint's session is not sent
        st, js, raw = self.maskd.request("DELETE",
                                         "/v1/sessions/" + s1["id"])
        self.assertIn(st, (200, 204), raw)
        self.all.wait(lambda: len(self.all.of_session(s1["id"])) >= 2,
                      "session.closed at the url")
        time.sleep(1)
        self.assertEqual(len(gone.got), 1, "a disabled endpoint was called")
        # re-enabled: the state row goes, and stays gone after a restart
        st, js, raw = self.maskd.request(
            "PATCH", "/v1/webhooks", {"url": gone.url("/gone"),
                                      "enabled": True})
        self.assertEqual(st, 200, raw)
        self.maskd.stop()
        self.maskd.start()
        self.assertNotIn(gone.url("/gone"), self.webhooks())
        self.assertIsNotNone(s2)


class EventsDurable(EventsBase):
    """The receiver down, maskd killed with events pending: everything
    arrives after the restart, once each after dedup, in session order."""
    receiver_ip = "127.0.0.5"
    # retried every 2 s for 40 s: no event may be given up while the
    # 60 are made (slow under ASan on a loaded machine), and after the
    # restart each is due within 2 s
    schedule = [0] + [2] * 20

    def test_receiver_down_then_kill_9(self):
        self.all.stop()         # down: every attempt is refused
        sids = []
        for i in range(40):
            s = self.maskd.session(ts.caller_number(), ts.callee_number())
            sids.append(s["id"])
        for sid in sids[:20]:
            st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + sid)
            self.assertIn(st, (200, 204), raw)
        time.sleep(2)           # a few failed attempts
        m = self.maskd.metrics()
        self.assertGreaterEqual(m.get("maskd_events_pending", 0), 60)
        self.maskd.proc.kill()  # kill -9
        self.maskd.proc.wait()
        self.maskd.proc = None
        self.maskd._stderr.close()
        self.all.start()
        self.maskd.start()
        self.all.wait(lambda: len(self.all.events()) >= 60,
                      "every event after the restart")
        for i, sid in enumerate(sids):
            evs = self.all.of_session(sid)
            want = ["session.created"] + (["session.closed"] if i < 20
                                          else [])
            self.assert_sequences(evs, want)
        self.assertEqual(len(self.all.events()), 60)


if __name__ == "__main__":
    ts.main(globals())
