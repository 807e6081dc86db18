#!/usr/bin/env python3
"""test_api.py - maskd's REST API, tested over real HTTP against a real maskd.

Run by ctest as:
    python3 tests/api/test_api.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k pagination).

Python 3 standard library only. Each maskd gets a temporary directory with
its config, LMDB store, log file and captured stderr; it listens on a free
127.0.0.1 port picked at run time. When maskd is built with sanitizers, a
report in its stderr or log fails the test that stopped it.

Nothing here asserts speed: every wait is a generous poll.
"""
import argparse
import concurrent.futures
import http.client
import itertools
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import ports  # noqa: E402  (tests/ports.py)

ARGS = None
TOKEN = "test-token-0123456789"
OTHER_TOKEN = "second-token-abcdef"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
START_TIMEOUT = 60
STOP_TIMEOUT = 120
HTTP_TIMEOUT = 60

_numbers = itertools.count(1)
_numbers_lock = threading.Lock()


def phone(prefix="1415"):
    """A fresh E.164 number, unique within this test run."""
    with _numbers_lock:
        n = next(_numbers)
    return "+%s%07d" % (prefix, n)


def pool_numbers(count, prefix="1555"):
    return [phone(prefix) for _ in range(count)]


def free_port():
    """A port free for both UDP and TCP (tests/ports.py)."""
    return ports.free_port()


def q(number):
    """A phone number as a path segment or query value: %2B for '+'."""
    return urllib.parse.quote(number, safe="")


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        ctype = headers.get("Content-Type", "")
        if body and ctype.startswith("application/json"):
            self.json = json.loads(body.decode("utf-8"))

    def __repr__(self):
        return "<Resp %d %r>" % (self.status, self.body[:300])

    @property
    def code(self):
        """The error code of an error reply, or None."""
        if isinstance(self.json, dict) and "error" in self.json:
            return self.json["error"].get("code")
        return None

    @property
    def message(self):
        if isinstance(self.json, dict) and "error" in self.json:
            return self.json["error"].get("message", "")
        return ""


# signs webhooks: a session may then have a callback_url (issue 10)
EVENTS_SECRET = "whsec_dGVzdF9hcGkgc2lnbmluZyBrZXk="


class Maskd:
    """One maskd process with its own directory, config and store."""

    def __init__(self, tmp, name, map_size="64M", log_level="debug",
                 default_ttl=3600, max_ttl=86400, call_time_limit=0,
                 api_extra="", tls_ctx=None, env=None, sip_extra="",
                 store_extra="", extra="", events_secret=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "db")
        self.log_path = os.path.join(self.dir, "maskd.log")
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.conf_path = os.path.join(self.dir, "maskd.conf")
        self.map_size = map_size
        self.log_level = log_level
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self.call_time_limit = call_time_limit
        self.api_extra = api_extra      # more [api] lines
        self.sip_extra = sip_extra      # more [sip] lines
        self.store_extra = store_extra  # more [store] lines
        self.extra = extra              # more sections, at the end
        # [events] secrets; "" = none (no callback_url may be set)
        self.events_secret = (EVENTS_SECRET if events_secret is None
                              else events_secret)
        self.tls_ctx = tls_ctx          # an ssl.SSLContext: talk HTTPS
        self.env = env or {}            # more environment for maskd
        self.port = None
        self.sip_port = None
        self.proc = None
        self._stderr = None

    def write_config(self):
        self.port = free_port()
        self.sip_port = free_port()
        with open(self.conf_path, "w") as f:
            f.write(
                "[sip]\nlisten = 127.0.0.1:%d\n%s"
                "[trunk.test]\nsources = 127.0.0.0/8\n"
                "[store]\npath = %s\nmap_size = %s\n%s"
                "[api]\nlisten = 127.0.0.1:%d\ntokens = %s,%s\n"
                "max_body = 65536\n%s"
                "[session]\ndefault_ttl = %d\nmax_ttl = %d\n"
                "call_time_limit = %d\n"
                "[events]\nsecrets = %s\n"
                "[log]\nlevel = %s\nfile = %s\n%s"
                % (self.sip_port, self.sip_extra, self.db, self.map_size,
                   self.store_extra, self.port, TOKEN, OTHER_TOKEN,
                   self.api_extra, self.default_ttl, self.max_ttl,
                   self.call_time_limit, self.events_secret, self.log_level,
                   self.log_path, self.extra))

    def start(self):
        self.write_config()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.update(self.env)
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [ARGS.maskd, "-c", self.conf_path], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
            cwd=self.dir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    "maskd exited with %d at start:\n%s"
                    % (self.proc.returncode, self.diagnostics()))
            try:
                r = self.request("GET", "/healthz", token=None, timeout=5)
                if r.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("maskd did not answer /healthz:\n%s"
                             % self.diagnostics())

    def _closed(self):
        if self._stderr:
            self._stderr.close()
            self._stderr = None

    def stop(self, sig=signal.SIGTERM):
        """Stop with @sig; returns the exit status (negative: signal)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("maskd did not stop on signal %d" % sig)
        finally:
            self._closed()
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def diagnostics(self):
        return ("--- stderr ---\n%s\n--- log (tail) ---\n%s"
                % (self.read(self.stderr_path)[-4000:],
                   self.read(self.log_path)[-4000:]))

    def sanitizer_report(self):
        """Any sanitizer report in this maskd's stderr or log files."""
        texts = [self.read(self.stderr_path)]
        for name in os.listdir(self.dir):
            if name.startswith("maskd.log"):
                texts.append(self.read(os.path.join(self.dir, name)))
        for t in texts:
            for mark in SANITIZER_MARKS:
                i = t.find(mark)
                if i >= 0:
                    return t[max(0, i - 200):i + 3000]
        return None

    def request(self, method, path, body=None, token=TOKEN, headers=None,
                raw=None, timeout=HTTP_TIMEOUT):
        h = {}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        if self.tls_ctx:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout,
                context=self.tls_ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Resp(r.status, r.headers, r.read())
        finally:
            conn.close()

    # -- helpers over the API --

    def add_numbers(self, numbers, country="US"):
        for n in numbers:
            r = self.request("POST", "/v1/numbers",
                             {"number": n, "country": country})
            if r.status != 201:
                raise AssertionError("adding %s: %r" % (n, r))

    def create(self, a, b, **kw):
        body = {"party_a": a, "party_b": b}
        body.update(kw)
        return self.request("POST", "/v1/sessions", body)

    def get(self, sid):
        return self.request("GET", "/v1/sessions/" + sid)

    def list_all(self, limit=7, **filters):
        """Every session matching @filters, page by page."""
        out = []
        cursor = None
        pages = 0
        while True:
            params = dict(filters)
            params["limit"] = str(limit)
            if cursor:
                params["cursor"] = cursor
            r = self.request("GET", "/v1/sessions?"
                             + urllib.parse.urlencode(params))
            if r.status != 200:
                raise AssertionError("list: %r" % r)
            page = r.json["sessions"]
            if len(page) > limit:
                raise AssertionError("page longer than limit")
            out.extend(page)
            cursor = r.json["next_cursor"]
            pages += 1
            if cursor is None:
                return out
            if not page:
                raise AssertionError("empty page with a cursor")
            if pages > 100000:
                raise AssertionError("pagination does not end")

    def pool(self):
        r = self.request("GET", "/v1/numbers")
        if r.status != 200:
            raise AssertionError("numbers: %r" % r)
        return {n["number"]: n for n in r.json["numbers"]}

    def metrics(self):
        r = self.request("GET", "/metrics", token=None)
        if r.status != 200:
            raise AssertionError("metrics: %r" % r)
        out = {}
        for line in r.body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out


class MaskdCase(unittest.TestCase):
    """Starts maskd instances and checks each one's exit on teardown."""

    def start_maskd(self, name=None, **kw):
        m = Maskd(self.tmp, name or "m%d" % len(self._instances), **kw)
        self._instances.append(m)
        return m.start()

    def stop_clean(self, m):
        rc = m.stop()
        self.assertEqual(rc, 0, "maskd exit status on SIGTERM\n"
                         + m.diagnostics())
        self.assert_no_sanitizer(m)

    def assert_no_sanitizer(self, m):
        rep = m.sanitizer_report()
        if rep:
            self.fail("sanitizer report from maskd:\n" + rep)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="maskd-api-")
        self._instances = []

    def tearDown(self):
        failures = []
        for m in self._instances:
            if m.proc:
                rc = m.stop()
                if rc != 0:
                    failures.append("exit status %s\n%s"
                                    % (rc, m.diagnostics()))
            rep = m.sanitizer_report()
            if rep:
                failures.append("sanitizer report:\n" + rep)
        if not failures:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            sys.stderr.write("kept %s for inspection\n" % self.tmp)
        if failures:
            self.fail("\n".join(failures))


class SharedMaskd(MaskdCase):
    """Most tests share one maskd (started once) with a 60-number pool."""

    shared = None

    @classmethod
    def setUpClass(cls):
        cls.shared_tmp = tempfile.mkdtemp(prefix="maskd-api-shared-")
        cls.shared = Maskd(cls.shared_tmp, "shared").start()
        cls.pool = pool_numbers(60)
        cls.shared.add_numbers(cls.pool)

    @classmethod
    def tearDownClass(cls):
        m = cls.shared
        rc = m.stop()
        rep = m.sanitizer_report()
        diag = m.diagnostics()
        if rc == 0 and not rep:
            shutil.rmtree(cls.shared_tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError("shared maskd exit status %s\n%s"
                                 % (rc, diag))
        if rep:
            raise AssertionError("sanitizer report:\n" + rep)

    def setUp(self):
        super().setUp()
        self.m = self.shared

    # -- small helpers --

    def assertError(self, r, status, code, field=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.code, code, r)
        self.assertTrue(r.headers.get("Content-Type", "")
                        .startswith("application/json"), r.headers)
        if field is not None:
            self.assertTrue(r.message.startswith(field + ":"),
                            "message %r should name %r" % (r.message, field))

    def new_session(self, **kw):
        r = self.m.create(phone(), phone(), **kw)
        self.assertEqual(r.status, 201, r)
        return r.json


class TestBasics(SharedMaskd):

    def test_healthz_needs_no_auth(self):
        r = self.m.request("GET", "/healthz", token=None)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"status": "ok"})
        r = self.m.request("GET", "/healthz", token="wrong-token-xxxx")
        self.assertEqual(r.status, 200)

    def test_metrics(self):
        before = self.m.metrics()
        self.new_session()
        r = self.m.request("GET", "/metrics", token=None)
        self.assertEqual(r.status, 200)
        self.assertIn("text/plain", r.headers["Content-Type"])
        self.assertIn("version=0.0.4", r.headers["Content-Type"])
        text = r.body.decode()
        self.assertIn("# TYPE maskd_sessions_active gauge", text)
        self.assertIn("# TYPE maskd_session_creates_total counter", text)
        after = self.m.metrics()
        for name in ("maskd_sessions_active", "maskd_session_creates_total",
                     "maskd_session_expiries_total", "maskd_pool_numbers",
                     "maskd_store_commits_total"):
            self.assertIn(name, after)
        self.assertGreaterEqual(after["maskd_session_creates_total"],
                                before["maskd_session_creates_total"] + 1)
        self.assertGreater(after["maskd_store_commits_total"],
                           before["maskd_store_commits_total"])
        self.assertGreaterEqual(after["maskd_pool_numbers"], 60)
        self.assertGreaterEqual(after["maskd_sessions_active"], 1)
        self.assertGreaterEqual(after['maskd_api_requests_total{code="201"}'],
                                1)

    def test_metrics_contract(self):
        """Every family of tests/api/metrics_contract.txt is on /metrics
        with that HELP, TYPE and label set, and nothing else is: a renamed
        or retyped metric breaks dashboards, so it breaks this first."""
        path = os.path.join(ARGS.source_dir, "tests", "api",
                            "metrics_contract.txt")
        want_hdr, want_labels = set(), {}
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# LABELS "):
                    _, _, fam, names = line.split(" ", 3)
                    want_labels[fam] = set(names.split(","))
                elif line.startswith("#"):
                    want_hdr.add(line)
        self.new_session()          # a 201 for the labelled family
        r = self.m.request("GET", "/metrics", token=None)
        self.assertEqual(r.status, 200)
        got_hdr, types, seen = [], {}, {}
        for line in r.body.decode().splitlines():
            if line.startswith("#"):
                got_hdr.append(line)
                kw, fam, rest = line[2:].split(" ", 2)
                if kw == "TYPE":
                    types[fam] = rest
                continue
            m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? '
                             r'(\S+)', line)
            self.assertIsNotNone(m, "not a sample line: %r" % line)
            name, labels = m.group(1), m.group(3) or ""
            fam = name
            if fam not in types:    # a histogram's _bucket/_sum/_count
                fam = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertEqual(types.get(fam), "histogram", line)
            names = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', labels))
            names.discard("le")
            self.assertEqual(names, want_labels.get(fam, set()), line)
            float(m.group(4))
            seen[fam] = seen.get(fam, 0) + 1
        self.assertEqual(len(got_hdr), len(set(got_hdr)),
                         "a HELP or TYPE line twice")
        self.assertEqual(sorted(set(got_hdr) - want_hdr), [],
                         "on /metrics, not in metrics_contract.txt")
        self.assertEqual(sorted(want_hdr - set(got_hdr)), [],
                         "in metrics_contract.txt, not on /metrics")
        for fam, kind in types.items():
            if fam not in want_labels and kind != "histogram":
                # one series, always there
                self.assertEqual(seen.get(fam), 1, fam)
        self.assertGreaterEqual(seen.get("maskd_api_requests_total", 0), 1)

    def test_auth(self):
        for token, headers in ((None, None),
                               ("wrong-token-000000", None),
                               (TOKEN + "x", None),
                               (TOKEN[:-1], None),
                               (None, {"Authorization": "Basic " + TOKEN}),
                               (None, {"Authorization": "Bearer "}),
                               (None, {"Authorization": TOKEN})):
            for method, path in (("GET", "/v1/sessions"),
                                 ("POST", "/v1/sessions"),
                                 ("GET", "/v1/numbers"),
                                 ("GET", "/v1/nothing-here")):
                r = self.m.request(method, path, token=token,
                                   headers=headers,
                                   body={} if method == "POST" else None)
                self.assertError(r, 401, "unauthorized")
                self.assertEqual(r.headers.get("WWW-Authenticate"),
                                 "Bearer")
        # both configured tokens work; the scheme is case-insensitive
        self.assertEqual(self.m.request("GET", "/v1/numbers").status, 200)
        self.assertEqual(self.m.request("GET", "/v1/numbers",
                                        token=OTHER_TOKEN).status, 200)
        r = self.m.request("GET", "/v1/numbers", token=None,
                           headers={"Authorization": "bearer " + TOKEN})
        self.assertEqual(r.status, 200)

    def test_not_found(self):
        for path in ("/", "/v1", "/v1/", "/v2/sessions", "/v1/sessions/",
                     "/v1/sessions/0123/calls",
                     "/v1/sessions/%s/calls" % ("0" * 32),
                     "/v1/numbers/", "/healthz/x", "/v1/numbers/+1/x"):
            r = self.m.request("GET", path)
            self.assertError(r, 404, "not_found")
        # unknown and malformed ids
        for sid in ("0" * 32, "f" * 32, "xyz", "0" * 31, "0" * 33,
                    "%00" + "0" * 29):
            for method in ("GET", "DELETE"):
                r = self.m.request(method, "/v1/sessions/" + sid)
                self.assertError(r, 404, "not_found")
            r = self.m.request("PATCH", "/v1/sessions/" + sid, {"ttl": 5})
            self.assertError(r, 404, "not_found")

    def test_calls_of_new_session(self):
        # the records themselves are checked by the SIP tests, which
        # make real calls; here: the endpoint, its auth and its errors
        sid = self.new_session()["id"]
        r = self.m.request("GET", "/v1/sessions/%s/calls" % sid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"calls": []})
        r = self.m.request("GET", "/v1/sessions/%s/calls" % sid, token=None)
        self.assertError(r, 401, "unauthorized")
        r = self.m.request("DELETE", "/v1/sessions/%s/calls" % sid)
        self.assertError(r, 405, "method_not_allowed")
        # POST: request-a-call (tests/sip/test_rac.py)
        self.assertEqual(r.headers.get("Allow"), "GET, POST")

    def test_method_not_allowed(self):
        sid = self.new_session()["id"]
        for method, path in (("PUT", "/v1/sessions"),
                             ("DELETE", "/v1/sessions"),
                             ("PATCH", "/v1/sessions"),
                             ("POST", "/v1/sessions/" + sid),
                             ("PUT", "/v1/sessions/" + sid),
                             ("PUT", "/v1/numbers"),
                             ("DELETE", "/v1/numbers"),
                             ("PATCH", "/v1/numbers/" + q(self.pool[0])),
                             ("POST", "/v1/numbers/" + q(self.pool[0])),
                             ("POST", "/healthz"),
                             ("DELETE", "/metrics")):
            r = self.m.request(method, path, raw=b"{}")
            self.assertError(r, 405, "method_not_allowed")
            self.assertTrue(r.headers.get("Allow"), r.headers)


class TestSessions(SharedMaskd):

    def test_create_and_get(self):
        a, b = phone(), phone()
        meta = {"order": "A-1", "n": [1, 2, {"x": None}], "ü": "✓"}
        r = self.m.create(a, b, ttl=600, call_time_limit=120, record=True,
                          callback_url="https://example.com/hook?x=1",
                          metadata=meta)
        self.assertEqual(r.status, 201, r)
        s = r.json
        self.assertRegex(s["id"], r"^[0-9a-f]{32}$")
        self.assertEqual(r.headers.get("Location"), "/v1/sessions/" + s["id"])
        self.assertEqual(s["party_a"], a)
        self.assertEqual(s["party_b"], b)
        self.assertIn(s["virtual_number"], self.pool)
        self.assertEqual(s["status"], "active")
        self.assertRegex(s["created_at"], TIME_RE)
        self.assertRegex(s["expires_at"], TIME_RE)
        self.assertEqual(s["call_time_limit"], 120)
        self.assertIs(s["record"], True)
        self.assertEqual(s["callback_url"], "https://example.com/hook?x=1")
        self.assertEqual(s["metadata"], meta)
        self.assertIsNone(s["ended_at"])
        created = parse_time(s["created_at"])
        self.assertAlmostEqual(parse_time(s["expires_at"]) - created, 600,
                               delta=0.002)
        self.assertLess(abs(created - time.time()), 300)

        g = self.m.get(s["id"])
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json, s)

    def test_create_defaults(self):
        s = self.new_session()
        self.assertAlmostEqual(parse_time(s["expires_at"])
                               - parse_time(s["created_at"]), 3600,
                               delta=0.002)
        self.assertEqual(s["call_time_limit"], 0)
        self.assertIs(s["record"], False)
        self.assertIsNone(s["callback_url"])
        self.assertIsNone(s["metadata"])
        # explicit nulls are the same as absent
        r = self.m.create(phone(), phone(), virtual_number=None,
                          callback_url=None, metadata=None, ttl=None)
        self.assertEqual(r.status, 201, r)

    def test_create_explicit_vn(self):
        vn = self.pool[5]
        r = self.m.create(phone(), phone(), virtual_number=vn)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["virtual_number"], vn)

    def test_create_validation(self):
        a, b = phone(), phone()
        good = {"party_a": a, "party_b": b}
        cases = [
            # (change, status, code, field)
            ({"party_a": None}, 400, "missing_field", "party_a"),
            ({"party_b": None}, 400, "missing_field", "party_b"),
            ({"party_a": "14155550100"}, 400, "invalid_field", "party_a"),
            ({"party_a": "+0155550100"}, 400, "invalid_field", "party_a"),
            ({"party_a": "+1415"}, 400, "invalid_field", "party_a"),
            ({"party_a": "+1234567890123456"}, 400, "invalid_field",
             "party_a"),
            ({"party_a": "+1415555x100"}, 400, "invalid_field", "party_a"),
            ({"party_a": 14155550100}, 400, "invalid_field", "party_a"),
            ({"party_b": "+1 415 555 0100"}, 400, "invalid_field",
             "party_b"),
            ({"party_b": a}, 400, "invalid_field", "party_b"),
            ({"virtual_number": "555"}, 400, "invalid_field",
             "virtual_number"),
            ({"virtual_number": 5}, 400, "invalid_field", "virtual_number"),
            ({"virtual_number": "+19999999999"}, 400, "invalid_field",
             "virtual_number"),
            ({"ttl": 0}, 400, "invalid_field", "ttl"),
            ({"ttl": -5}, 400, "invalid_field", "ttl"),
            ({"ttl": 86401}, 400, "invalid_field", "ttl"),
            ({"ttl": 10.5}, 400, "invalid_field", "ttl"),
            ({"ttl": 10.0}, 400, "invalid_field", "ttl"),
            ({"ttl": "10"}, 400, "invalid_field", "ttl"),
            ({"ttl": True}, 400, "invalid_field", "ttl"),
            ({"ttl": 2 ** 70}, 400, "invalid_json", None),
            ({"call_time_limit": -1}, 400, "invalid_field",
             "call_time_limit"),
            ({"call_time_limit": "60"}, 400, "invalid_field",
             "call_time_limit"),
            ({"call_time_limit": 2 ** 40}, 400, "invalid_field",
             "call_time_limit"),
            ({"record": "yes"}, 400, "invalid_field", "record"),
            ({"record": 1}, 400, "invalid_field", "record"),
            ({"callback_url": "ftp://example.com/"}, 400, "invalid_field",
             "callback_url"),
            ({"callback_url": "example.com/hook"}, 400, "invalid_field",
             "callback_url"),
            ({"callback_url": "http://"}, 400, "invalid_field",
             "callback_url"),
            ({"callback_url": "http://exa mple.com/"}, 400,
             "invalid_field", "callback_url"),
            ({"callback_url": "https://example.com/" + "x" * 2040}, 400,
             "invalid_field", "callback_url"),
            ({"callback_url": 7}, 400, "invalid_field", "callback_url"),
            ({"metadata": [1, 2]}, 400, "invalid_field", "metadata"),
            ({"metadata": "text"}, 400, "invalid_field", "metadata"),
            ({"metadata": {"k": "v" * 16400}}, 400, "invalid_field",
             "metadata"),
            ({"colour": "blue"}, 400, "invalid_field", "colour"),
        ]
        for change, status, code, field in cases:
            body = dict(good)
            for k, v in change.items():
                if v is None and k in ("party_a", "party_b"):
                    del body[k]
                else:
                    body[k] = v
            r = self.m.request("POST", "/v1/sessions", body)
            with self.subTest(change=str(change)[:80]):
                self.assertError(r, status, code, field)
        # the longest allowed URL and metadata are fine
        url = "https://example.com/" + "x" * (2048 - 20)
        r = self.m.create(phone(), phone(), callback_url=url,
                          metadata={"k": "v" * 16000})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["callback_url"], url)
        # nothing was created by the failures
        self.assertEqual(self.m.list_all(party=a), [])

    def test_invalid_json(self):
        for raw in (b"", b"{", b"not json", b"[1,2]", b"\"str\"", b"null",
                    b"{\"party_a\": \"+14155550100\", \"party_a\": \"x\"}",
                    b"\xff\xfe{}", b"{} {}"):
            r = self.m.request("POST", "/v1/sessions", raw=raw)
            with self.subTest(raw=raw):
                self.assertError(r, 400, "invalid_json", "body")
        sid = self.new_session()["id"]
        r = self.m.request("PATCH", "/v1/sessions/" + sid, raw=b"{")
        self.assertError(r, 400, "invalid_json", "body")
        r = self.m.request("POST", "/v1/numbers", raw=b"[]")
        self.assertError(r, 400, "invalid_json", "body")

    def test_body_too_large(self):
        big = {"party_a": phone(), "party_b": phone(),
               "metadata": {"pad": "x" * (70 * 1024)}}
        r = self.m.request("POST", "/v1/sessions", big)
        self.assertError(r, 413, "body_too_large", "body")
        sid = self.new_session()["id"]
        r = self.m.request("PATCH", "/v1/sessions/" + sid,
                           raw=b" " * (70 * 1024) + b"{}")
        self.assertError(r, 413, "body_too_large")
        r = self.m.request("POST", "/v1/numbers",
                           raw=b" " * (70 * 1024) + b"{}")
        self.assertError(r, 413, "body_too_large")
        # above evhttp's own 1 MiB guard: still a 413, from libevent
        try:
            r = self.m.request("POST", "/v1/sessions",
                               raw=b" " * (2 * 1024 * 1024))
            self.assertEqual(r.status, 413)
        except (ConnectionError, http.client.HTTPException):
            pass    # the server may close before reading it all
        self.assertEqual(self.m.request("GET", "/healthz").status, 200)

    def test_hostile_bodies(self):
        """Deep nesting, numbers no C type holds, wrong types, a 10 MiB
        body: each gets a 4xx that names the problem, and maskd goes on."""
        a, b = phone(), phone()
        pair = '"party_a":"%s","party_b":"%s"' % (a, b)
        cases = [
            # (raw body, status, code, field, words in the message)
            (b"[" * 100000, 413, "body_too_large", "body", "larger"),
            (b"[" * 60000, 400, "invalid_json", "body", "depth"),
            (('{%s,"metadata":' % pair).encode() + b'{"a":' * 5000 +
             b"1" + b"}" * 5001, 400, "invalid_json", "body", "depth"),
            (('{%s,"ttl":1e999}' % pair).encode(), 400, "invalid_json",
             "body", "overflow"),
            (('{%s,"ttl":99999999999999999999999}' % pair).encode(), 400,
             "invalid_json", "body", "too big"),
            (('{%s,"ttl":-99999999999999999999999}' % pair).encode(), 400,
             "invalid_json", "body", "too big"),
            (('{%s,"ttl":1e308}' % pair).encode(), 400, "invalid_field",
             "ttl", ""),
            (('{%s,"call_time_limit":-1e308}' % pair).encode(), 400,
             "invalid_field", "call_time_limit", ""),
            (('{%s,"metadata":{"n":1e999}}' % pair).encode(), 400,
             "invalid_json", "body", "overflow"),
            (('{"party_a":["%s"],"party_b":"%s"}' % (a, b)).encode(), 400,
             "invalid_field", "party_a", ""),
            (('{"party_a":"%s","party_b":{"n":"%s"}}' % (a, b)).encode(),
             400, "invalid_field", "party_b", ""),
            (('{"party_a":null,"party_b":"%s"}' % b).encode(), 400, None,
             "party_a", ""),
            (('{%s,"record":{}}' % pair).encode(), 400, "invalid_field",
             "record", ""),
            (('{%s,"ttl":[60]}' % pair).encode(), 400, "invalid_field",
             "ttl", ""),
        ]
        for raw, status, code, field, words in cases:
            r = self.m.request("POST", "/v1/sessions", raw=raw)
            with self.subTest(raw=raw[:60], len=len(raw)):
                self.assertEqual(r.status, status, r)
                if code:
                    self.assertError(r, status, code, field)
                else:
                    self.assertTrue(r.message.startswith(field + ":"), r)
                self.assertIn(words, r.message)
        sid = self.new_session()["id"]
        for raw, field in ((b'{"ttl":99999999999999999999999}', "body"),
                           (b'{"ttl":1e999}', "body"),
                           (b'{"ttl":"forever"}', "ttl"),
                           (b'{"record":[]}', "record")):
            r = self.m.request("PATCH", "/v1/sessions/" + sid, raw=raw)
            with self.subTest(patch=raw):
                self.assertEqual(r.status, 400, r)
                self.assertTrue(r.message.startswith(field + ":"), r)
        for raw, field in ((b'{"number":1e999}', "body"),
                           (b'{"number":15550001234}', "number"),
                           (b'{"number":"+15550001234","country":["US"]}',
                            "country")):
            r = self.m.request("POST", "/v1/numbers", raw=raw)
            with self.subTest(numbers=raw):
                self.assertEqual(r.status, 400, r)
                self.assertTrue(r.message.startswith(field + ":"), r)
        # 10 MiB, far above evhttp's own 1 MiB guard: its 413, after the
        # body is read (lingering close), so the client gets it whole
        r = self.m.request("POST", "/v1/sessions",
                           raw=b" " * (10 * 1024 * 1024))
        self.assertEqual(r.status, 413, r)
        self.assertIn(b"Too Large", r.body)
        # nothing was created, and maskd goes on
        self.assertEqual(self.m.list_all(party=a), [])
        self.assertEqual(self.m.request("GET", "/healthz").status, 200)
        self.assertEqual(self.m.create(a, b).status, 201)

    def test_patch(self):
        s = self.new_session(ttl=100, callback_url="http://example.com/a")
        sid = s["id"]
        path = "/v1/sessions/" + sid

        r = self.m.request("PATCH", path, {"ttl": 500})
        self.assertEqual(r.status, 200, r)
        exp = parse_time(r.json["expires_at"])
        self.assertAlmostEqual(exp - time.time(), 500, delta=60)
        self.assertEqual(r.json["created_at"], s["created_at"])

        target = time.time() + 7200
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S",
                              time.gmtime(target)) + ".250Z"
        r = self.m.request("PATCH", path, {"expires_at": stamp})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["expires_at"], stamp)

        # an offset is accepted and normalised to UTC
        local = time.strftime("%Y-%m-%dT%H:%M:%S",
                              time.gmtime(int(target) + 3600)) + "+01:00"
        r = self.m.request("PATCH", path, {"expires_at": local})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["expires_at"],
                         time.strftime("%Y-%m-%dT%H:%M:%S",
                                       time.gmtime(int(target))) + ".000Z")

        r = self.m.request("PATCH", path,
                           {"call_time_limit": 30, "record": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["call_time_limit"], 30)
        self.assertIs(r.json["record"], True)
        self.assertEqual(r.json["callback_url"], "http://example.com/a")

        r = self.m.request("PATCH", path,
                           {"callback_url": "https://example.org/b"})
        self.assertEqual(r.json["callback_url"], "https://example.org/b")
        r = self.m.request("PATCH", path, {"callback_url": None})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["callback_url"])

        g = self.m.get(sid).json
        self.assertEqual(g, r.json)
        self.assertEqual(g["party_a"], s["party_a"])
        self.assertEqual(g["virtual_number"], s["virtual_number"])

    def test_patch_validation(self):
        sid = self.new_session()["id"]
        path = "/v1/sessions/" + sid
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(time.time() - 60))
        far = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                            time.gmtime(time.time() + 86400 * 3))
        cases = [
            ({"ttl": 10, "expires_at": far}, "invalid_field", "ttl"),
            ({"ttl": 0}, "invalid_field", "ttl"),
            ({"ttl": 86401}, "invalid_field", "ttl"),
            ({"ttl": "5"}, "invalid_field", "ttl"),
            ({"expires_at": "tomorrow"}, "invalid_field", "expires_at"),
            ({"expires_at": "2030-02-30T00:00:00Z"}, "invalid_field",
             "expires_at"),
            ({"expires_at": "2030-01-01T00:00:00"}, "invalid_field",
             "expires_at"),
            ({"expires_at": 1900000000}, "invalid_field", "expires_at"),
            ({"expires_at": past}, "invalid_field", "expires_at"),
            ({"expires_at": far}, "invalid_field", "expires_at"),
            ({"call_time_limit": -1}, "invalid_field", "call_time_limit"),
            ({"record": "no"}, "invalid_field", "record"),
            ({"callback_url": "mailto:x@example.com"}, "invalid_field",
             "callback_url"),
            ({"party_a": phone()}, "invalid_field", "party_a"),
            ({"status": "closed"}, "invalid_field", "status"),
            ({}, "missing_field", "body"),
        ]
        for body, code, field in cases:
            r = self.m.request("PATCH", path, body)
            with self.subTest(body=body):
                self.assertError(r, 400, code, field)
        # nothing changed
        self.assertEqual(self.m.get(sid).json["status"], "active")

    def test_delete(self):
        s = self.new_session()
        vn = s["virtual_number"]
        before = self.m.pool()[vn]["active_sessions"]
        r = self.m.request("DELETE", "/v1/sessions/" + s["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "closed")
        self.assertEqual(r.json["id"], s["id"])
        self.assertRegex(r.json["ended_at"], TIME_RE)
        self.assertEqual(self.m.pool()[vn]["active_sessions"], before - 1)

        g = self.m.get(s["id"])
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json["status"], "closed")

        r = self.m.request("DELETE", "/v1/sessions/" + s["id"])
        self.assertError(r, 409, "session_ended")
        r = self.m.request("PATCH", "/v1/sessions/" + s["id"], {"ttl": 60})
        self.assertError(r, 409, "session_ended")

    def test_expiry(self):
        vn = self.pool[7]
        s = self.new_session(ttl=1, virtual_number=vn)
        self.assertEqual(s["virtual_number"], vn)
        active_before = self.m.pool()[vn]["active_sessions"]
        self.assertGreaterEqual(active_before, 1)
        expiries_before = self.m.metrics()["maskd_session_expiries_total"]

        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            status = self.m.get(s["id"]).json["status"]
            if status == "expired":
                break
            time.sleep(0.1)
        self.assertEqual(status, "expired")

        # the sweeper frees the pool slot within about a second
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.m.pool()[vn]["active_sessions"] < active_before:
                break
            time.sleep(0.1)
        self.assertEqual(self.m.pool()[vn]["active_sessions"],
                         active_before - 1)
        self.assertGreaterEqual(
            self.m.metrics()["maskd_session_expiries_total"],
            expiries_before + 1)

        g = self.m.get(s["id"]).json
        self.assertEqual(g["status"], "expired")
        self.assertRegex(g["ended_at"], TIME_RE)
        ids = [x["id"] for x in self.m.list_all(party=s["party_a"],
                                                status="expired")]
        self.assertEqual(ids, [s["id"]])
        self.assertEqual(self.m.list_all(party=s["party_a"],
                                         status="active"), [])
        r = self.m.request("PATCH", "/v1/sessions/" + s["id"], {"ttl": 60})
        self.assertError(r, 409, "session_ended")
        r = self.m.request("DELETE", "/v1/sessions/" + s["id"])
        self.assertError(r, 409, "session_ended")
        # the pair can be used again
        r = self.m.create(s["party_a"], s["party_b"], virtual_number=vn)
        self.assertEqual(r.status, 201, r)

    def test_client_disconnects(self):
        """Clients that vanish before their reply must not hurt maskd."""
        body = json.dumps({"party_a": phone(), "party_b": phone()})

        def post(close_after):
            s = socket.create_connection(("127.0.0.1", self.m.port),
                                         timeout=HTTP_TIMEOUT)
            req = ("POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s"
                   % (TOKEN, len(body), body)).encode()
            s.sendall(req[:close_after])
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()

        for i in range(30):
            post(None if i % 3 == 0 else (10 if i % 3 == 1 else 60))
        # pipelined requests, then gone
        s = socket.create_connection(("127.0.0.1", self.m.port))
        one = ("GET /v1/numbers HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\n\r\n" % TOKEN).encode()
        s.sendall(one * 5)
        s.close()
        time.sleep(0.5)
        self.assertEqual(self.m.request("GET", "/healthz").status, 200)
        self.assertEqual(self.m.request("GET", "/v1/numbers").status, 200)

    def test_keepalive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.m.port,
                                          timeout=HTTP_TIMEOUT)
        h = {"Authorization": "Bearer " + TOKEN}
        try:
            for _ in range(5):
                conn.request("POST", "/v1/sessions", headers=h,
                             body=json.dumps({"party_a": phone(),
                                              "party_b": phone()}))
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 201)
                conn.request("GET", "/v1/numbers", headers=h)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            conn.close()

    def test_error_messages_stay_utf8(self):
        """A message quoting the client's field name is cut to 255 bytes
        and may hold bytes that are no UTF-8: still a JSON 400 (it was a
        400 with no body when the cut split a character)."""
        cut = "a" + "\u00fc" * 40     # 'ü' (2 bytes) cut at 64 bytes
        cases = [
            ("POST", "/v1/sessions",
             json.dumps({cut: 1}, ensure_ascii=False).encode(), cut),
            ("POST", "/v1/numbers",
             json.dumps({cut: 1}, ensure_ascii=False).encode(), cut),
            ("GET", "/v1/sessions?" + urllib.parse.quote(cut) + "=1",
             None, cut),
            ("GET", "/v1/sessions?%FF%FEx=1", None, "??x"),
            ("GET", "/v1/sessions?%ED%A0%80=1", None, "???:"),
        ]
        for method, path, raw, name in cases:
            r = self.m.request(method, path, raw=raw)
            with self.subTest(path=path[:40]):
                self.assertError(r, 400, "invalid_field")
                self.assertTrue(r.message.startswith(name[:31]), r)
                self.assertIn("unknown", r.message)


class TestList(SharedMaskd):

    def test_pagination(self):
        parties = [phone("1212") for _ in range(10)]
        created = []
        for i in range(250):
            r = self.m.create(parties[i % 10], phone(),
                              metadata={"i": i})
            self.assertEqual(r.status, 201, r)
            created.append(r.json)
        closed = set()
        for s in created[::3]:
            r = self.m.request("DELETE", "/v1/sessions/" + s["id"])
            self.assertEqual(r.status, 200, r)
            closed.add(s["id"])
        mine = {s["id"] for s in created}

        everything = self.m.list_all(limit=7)
        ids = [s["id"] for s in everything]
        self.assertEqual(len(ids), len(set(ids)), "a session seen twice")
        self.assertTrue(mine <= set(ids), "a session never seen")
        self.assertEqual(ids, sorted(ids), "not in id order")

        for p in parties[:4]:
            # listing order is id order: by creation millisecond, and
            # at random between sessions created in the same one
            expect = sorted(s["id"] for s in created
                            if p in (s["party_a"], s["party_b"]))
            got = self.m.list_all(limit=7, party=p)
            self.assertEqual([s["id"] for s in got], expect)
            got = self.m.list_all(limit=4, party=p, status="closed")
            self.assertEqual([s["id"] for s in got],
                             [i for i in expect if i in closed])
            for s in got:
                self.assertEqual(s["status"], "closed")
            got = self.m.list_all(limit=1000, party=p, status="active")
            self.assertEqual([s["id"] for s in got],
                             [i for i in expect if i not in closed])

        # as party_b, too
        b = created[10]["party_b"]
        self.assertEqual([s["id"] for s in self.m.list_all(party=b)],
                         [created[10]["id"]])

        vn = created[0]["virtual_number"]
        got = self.m.list_all(limit=7, virtual_number=vn)
        self.assertEqual(len(got), len({s["id"] for s in got}))
        for s in got:
            self.assertEqual(s["virtual_number"], vn)
        self.assertTrue({s["id"] for s in created
                         if s["virtual_number"] == vn}
                        <= {s["id"] for s in got})

        # a literal '+' in the query works like %2B
        r = self.m.request("GET", "/v1/sessions?limit=1000&party="
                           + parties[0])
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json["sessions"]), 25)

        # default limit is 100
        r = self.m.request("GET", "/v1/sessions")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json["sessions"]), 100)
        self.assertIsNotNone(r.json["next_cursor"])
        # the last page ends with a null cursor
        r = self.m.request("GET", "/v1/sessions?limit=1000&party=" +
                           q(parties[1]))
        self.assertIsNone(r.json["next_cursor"])
        self.assertEqual(len(r.json["sessions"]), 25)
        r = self.m.request("GET", "/v1/sessions?limit=25&party=" +
                           q(parties[1]))
        self.assertEqual(len(r.json["sessions"]), 25)
        if r.json["next_cursor"] is not None:
            r = self.m.request("GET", "/v1/sessions?limit=25&party=%s"
                               "&cursor=%s" % (q(parties[1]),
                                               r.json["next_cursor"]))
            self.assertEqual(r.json, {"sessions": [], "next_cursor": None})

    def test_list_validation(self):
        cases = [
            ("limit=0", "limit"), ("limit=1001", "limit"),
            ("limit=-1", "limit"), ("limit=abc", "limit"),
            ("limit=", "limit"), ("limit=5x", "limit"),
            ("cursor=xyz", "cursor"), ("cursor=" + "g" * 32, "cursor"),
            ("cursor=" + "0" * 31, "cursor"),
            ("party=12345", "party"), ("party=", "party"),
            ("virtual_number=abc", "virtual_number"),
            ("status=done", "status"), ("status=", "status"),
            ("colour=blue", "colour"),
            ("limit=5&limit=6", "limit"),
        ]
        for qs, field in cases:
            r = self.m.request("GET", "/v1/sessions?" + qs)
            with self.subTest(qs=qs):
                self.assertError(r, 400, "invalid_field", field)
        for qs in ("limit=1", "limit=1000", "status=active",
                   "status=expired", "status=closed",
                   "cursor=" + "0" * 32, "party=%2B14155550100"):
            r = self.m.request("GET", "/v1/sessions?" + qs)
            self.assertEqual(r.status, 200, (qs, r))


class TestNumbers(SharedMaskd):

    def test_numbers(self):
        n = phone("1666")
        r = self.m.request("POST", "/v1/numbers",
                           {"number": n, "country": "GB"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["number"], n)
        self.assertEqual(r.json["country"], "GB")
        self.assertEqual(r.json["active_sessions"], 0)
        self.assertRegex(r.json["added_at"], TIME_RE)
        added = r.json

        r = self.m.request("POST", "/v1/numbers",
                           {"number": n, "country": "GB"})
        self.assertError(r, 409, "number_exists")

        no_country = phone("1666")
        r = self.m.request("POST", "/v1/numbers", {"number": no_country})
        self.assertEqual(r.status, 201, r)
        self.assertIsNone(r.json["country"])

        for path in ("/v1/numbers/" + q(n), "/v1/numbers/" + n):
            r = self.m.request("GET", path)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json, added)

        listed = self.m.pool()
        self.assertEqual(listed[n], added)
        self.assertIn(no_country, listed)
        numbers = self.m.request("GET", "/v1/numbers").json["numbers"]
        self.assertEqual([x["number"] for x in numbers],
                         sorted(x["number"] for x in numbers))
        for x in numbers:
            self.assertEqual(set(x), {"number", "country",
                                      "active_sessions", "added_at"})

        # in use: 409 until the session is closed
        s = self.m.create(phone(), phone(), virtual_number=n).json
        self.assertEqual(self.m.pool()[n]["active_sessions"], 1)
        r = self.m.request("DELETE", "/v1/numbers/" + q(n))
        self.assertError(r, 409, "number_in_use")
        self.assertEqual(self.m.request(
            "DELETE", "/v1/sessions/" + s["id"]).status, 200)
        self.assertEqual(self.m.pool()[n]["active_sessions"], 0)

        r = self.m.request("DELETE", "/v1/numbers/" + q(n))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        r = self.m.request("DELETE", "/v1/numbers/" + n)
        self.assertError(r, 404, "not_found")
        r = self.m.request("GET", "/v1/numbers/" + q(n))
        self.assertError(r, 404, "not_found")
        self.assertNotIn(n, self.m.pool())
        r = self.m.request("DELETE", "/v1/numbers/" + no_country)
        self.assertEqual(r.status, 204, r)

        # a removed number cannot be asked for
        r = self.m.create(phone(), phone(), virtual_number=n)
        self.assertError(r, 400, "invalid_field", "virtual_number")

    def test_numbers_validation(self):
        cases = [
            ({}, 400, "missing_field", "number"),
            ({"number": None}, 400, "missing_field", "number"),
            ({"number": "15550001"}, 400, "invalid_field", "number"),
            ({"number": 15550001}, 400, "invalid_field", "number"),
            ({"number": phone(), "country": "us"}, 400, "invalid_field",
             "country"),
            ({"number": phone(), "country": "USA"}, 400, "invalid_field",
             "country"),
            ({"number": phone(), "country": "U"}, 400, "invalid_field",
             "country"),
            ({"number": phone(), "country": 1}, 400, "invalid_field",
             "country"),
            ({"number": phone(), "region": "x"}, 400, "invalid_field",
             "region"),
        ]
        for body, status, code, field in cases:
            r = self.m.request("POST", "/v1/numbers", body)
            with self.subTest(body=body):
                self.assertError(r, status, code, field)
        for path in ("/v1/numbers/abc", "/v1/numbers/%2B",
                     "/v1/numbers/" + q(phone("1777"))):
            self.assertError(self.m.request("GET", path), 404, "not_found")
            self.assertError(self.m.request("DELETE", path), 404,
                             "not_found")


def parse_time(s):
    """RFC 3339 UTC with milliseconds to seconds since the epoch."""
    import calendar
    base, frac = s[:-1].split(".")
    t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return t + int(frac) / 1000.0


class TestAllocation(MaskdCase):

    def test_vn_allocation(self):
        m = self.start_maskd("alloc")
        pool = sorted(pool_numbers(3, "1800"))
        m.add_numbers(pool)
        A, B, C, D, E, F, G, H = (phone("1303") for _ in range(8))

        def create(a, b, **kw):
            r = m.create(a, b, **kw)
            self.assertEqual(r.status, 201, r)
            return r.json

        ab = create(A, B)
        self.assertEqual(ab["virtual_number"], pool[0], "least-used first")
        ac = create(A, C)
        bc = create(B, C)
        self.assertEqual(len({ab["virtual_number"], ac["virtual_number"],
                              bc["virtual_number"]}), 3)
        # 2N-1: with every party in at most N=2 sessions, 3 numbers do
        for a, b in ((D, E), (D, F), (E, F), (G, H)):
            create(a, b)

        # an explicit VN one of the parties already uses
        r = m.create(A, D, virtual_number=ab["virtual_number"])
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.code, "vn_conflict")
        r = m.create(D, A, virtual_number=ac["virtual_number"])
        self.assertEqual(r.code, "vn_conflict", r)
        r = m.create(A, G, virtual_number="+18009999999")
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.message.startswith("virtual_number:"), r)

        # A takes its third and last number...
        third = [v for v in pool if v not in (ab["virtual_number"],
                                              ac["virtual_number"])][0]
        r = m.create(A, phone("1303"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["virtual_number"], third)
        # ...so a fourth session of A finds no number
        r = m.create(A, phone("1303"))
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.code, "pool_exhausted")
        r = m.create(phone("1303"), A)
        self.assertEqual(r.code, "pool_exhausted", r)

        # closing A-B frees its number for A
        self.assertEqual(m.request("DELETE", "/v1/sessions/"
                                   + ab["id"]).status, 200)
        r = m.create(A, phone("1303"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["virtual_number"], ab["virtual_number"])

        self.assert_unique_pairs(m)
        self.stop_clean(m)

    def assert_unique_pairs(self, m):
        active = m.list_all(limit=1000, status="active")
        seen = {}
        for s in active:
            for p in (s["party_a"], s["party_b"]):
                key = (p, s["virtual_number"])
                self.assertNotIn(key, seen, "two active sessions share "
                                 "%r: %s and %s" % (key, seen.get(key),
                                                    s["id"]))
                seen[key] = s["id"]
        return active

    def test_concurrent_creates(self):
        m = self.start_maskd("concurrent")
        m.add_numbers(pool_numbers(8, "1888"))
        parties = [phone("1505") for _ in range(12)]
        lock = threading.Lock()
        results = {"created": [], "exhausted": 0, "other": []}

        def worker(seed):
            rnd = random.Random(seed)
            for _ in range(50):
                a, b = rnd.sample(parties, 2)
                r = m.create(a, b)
                with lock:
                    if r.status == 201:
                        results["created"].append(r.json)
                    elif r.code == "pool_exhausted":
                        results["exhausted"] += 1
                    else:
                        results["other"].append(r)
                if r.status == 201 and rnd.random() < 0.4:
                    d = m.request("DELETE", "/v1/sessions/" + r.json["id"])
                    if d.status != 200:
                        with lock:
                            results["other"].append(d)

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            for f in [ex.submit(worker, i) for i in range(16)]:
                f.result()

        self.assertEqual(results["other"], [])
        self.assertGreater(len(results["created"]), 50)
        active = self.assert_unique_pairs(m)
        # every party is in at most 8 active sessions (one per number)
        for p in parties:
            n = sum(1 for s in active if p in (s["party_a"], s["party_b"]))
            self.assertLessEqual(n, 8)
        # the pool's counts agree with the sessions
        pool = m.pool()
        for vn, info in pool.items():
            self.assertEqual(info["active_sessions"],
                             sum(1 for s in active
                                 if s["virtual_number"] == vn), vn)
        self.stop_clean(m)


class TestLifecycle(MaskdCase):

    def test_restart_keeps_everything(self):
        m = self.start_maskd("restart")
        m.add_numbers(pool_numbers(4, "1900"))
        ids = []
        for i in range(40):
            r = m.create(phone(), phone(), ttl=3600 + i, record=bool(i % 2),
                         call_time_limit=i, metadata={"i": i},
                         callback_url="https://example.com/%d" % i)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json["id"])
        for sid in ids[::5]:
            self.assertEqual(m.request("DELETE", "/v1/sessions/"
                                       + sid).status, 200)
        before = {sid: m.get(sid).json for sid in ids}
        pool_before = m.pool()

        self.stop_clean(m)
        m.start()
        after = {sid: m.get(sid).json for sid in ids}
        self.assertEqual(after, before)
        self.assertEqual(m.pool(), pool_before)
        # ids order by creation millisecond, then at random within one
        self.assertEqual([s["id"] for s in m.list_all(limit=9)],
                         sorted(ids))
        self.stop_clean(m)

    def test_kill9_loses_nothing_acknowledged(self):
        m = self.start_maskd("kill9")
        m.add_numbers(pool_numbers(4, "1901"))
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def burst(seed):
            while not stop.is_set():
                try:
                    r = m.create(phone(), phone(), metadata={"seed": seed},
                                 record=True, call_time_limit=seed)
                except (OSError, http.client.HTTPException):
                    return
                if r.status == 201:
                    with lock:
                        acked.append(r.json)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(burst, i) for i in range(8)]
            deadline = time.monotonic() + 30
            while len(acked) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            rc = m.kill9()
            stop.set()
            for f in futs:
                f.result()
        self.assertEqual(rc, -signal.SIGKILL)
        self.assertGreater(len(acked), 0)

        m.start()
        for s in acked:
            r = m.get(s["id"])
            self.assertEqual(r.status, 200, (s, r))
            self.assertEqual(r.json, s)
        self.stop_clean(m)

    def test_sigterm_during_burst(self):
        """A clean stop under load: exit 0, and every 201 is on disk."""
        m = self.start_maskd("term")
        m.add_numbers(pool_numbers(4, "1905"))
        acked = []
        lock = threading.Lock()

        def burst(seed):
            while True:
                try:
                    r = m.create(phone(), phone(), metadata={"seed": seed})
                except (OSError, http.client.HTTPException):
                    return
                if r.status == 201:
                    with lock:
                        acked.append(r.json)
                elif r.code == "shutting_down":
                    return
                else:
                    raise AssertionError(r)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(burst, i) for i in range(8)]
            deadline = time.monotonic() + 30
            while len(acked) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.stop_clean(m)
            for f in futs:
                f.result()
        self.assertGreater(len(acked), 0)
        m.start()
        for s in acked:
            r = m.get(s["id"])
            self.assertEqual(r.status, 200, (s, r))
            self.assertEqual(r.json, s)
        self.stop_clean(m)

    def test_sighup_reopens_log(self):
        m = self.start_maskd("hup")
        self.assertEqual(m.request("GET", "/v1/numbers").status, 200)
        rotated = m.log_path + ".1"
        os.rename(m.log_path, rotated)
        m.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "reopened" in m.read(m.log_path):
                break
            time.sleep(0.05)
        self.assertIn("reopened", m.read(m.log_path))
        self.assertEqual(m.request("GET", "/v1/numbers").status, 200)
        time.sleep(0.2)
        self.assertIn("/v1/numbers", m.read(m.log_path))
        self.assertIn("listening", m.read(rotated))
        self.stop_clean(m)
        self.assertIn("stopped", m.read(m.log_path))

    def test_info_logs_hide_numbers(self):
        m = self.start_maskd("info", log_level="info")
        pool = pool_numbers(3, "1902")
        m.add_numbers(pool)
        parties = [phone("1903") for _ in range(6)]
        sids = []
        for a, b in zip(parties[::2], parties[1::2]):
            r = m.create(a, b, ttl=1)
            self.assertEqual(r.status, 201, r)
            sids.append(r.json["id"])
        m.request("DELETE", "/v1/sessions/" + sids[0])
        m.request("GET", "/v1/numbers/" + q(pool[0]))
        m.request("GET", "/v1/sessions?party=" + q(parties[0]))
        m.request("POST", "/v1/sessions", {"party_a": parties[0],
                                           "party_b": "bad"})
        m.request("DELETE", "/v1/numbers/" + q(pool[2]))
        time.sleep(1.5)     # let the sweeper expire the rest
        self.stop_clean(m)
        text = m.read(m.log_path) + m.read(m.stderr_path)
        for n in pool + parties:
            self.assertNotIn(n, text)
            self.assertNotIn(n[1:], text)
        self.assertNotIn(TOKEN, text)
        self.assertNotIn(OTHER_TOKEN, text)
        # pool changes are logged, masked
        self.assertIn(pool[0][:5] + "***" + pool[0][-4:], text)

    def test_store_full_gives_507(self):
        m = self.start_maskd("full", map_size="1M")
        m.add_numbers(pool_numbers(1, "1904"))
        first = m.create(phone(), phone())
        self.assertEqual(first.status, 201, first)
        pad = "x" * 15000
        got = None
        for i in range(400):
            r = m.create(phone(), phone(), metadata={"pad": pad, "i": i})
            if r.status != 201:
                got = r
                break
        self.assertIsNotNone(got, "the store never filled up")
        self.assertEqual(got.status, 507, got)
        self.assertEqual(got.code, "store_full")
        self.assertIn("api: store full: ", m.read(m.log_path))
        # reads still work
        self.assertEqual(m.request("GET", "/healthz").status, 200)
        r = m.get(first.json["id"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, first.json)
        self.assertEqual(m.request("GET", "/v1/sessions?limit=5").status,
                         200)
        self.assertEqual(m.request("GET", "/metrics", token=None).status,
                         200)
        self.stop_clean(m)


class TestSecurity(MaskdCase):
    """Issue 5, API side: per-token rate limit, TLS."""

    def test_rate_limit_per_token(self):
        m = self.start_maskd(api_extra="rate_limit = 5\nrate_burst = 5\n")
        codes = [m.request("GET", "/v1/numbers").status for _ in range(30)]
        self.assertIn(429, codes)
        self.assertEqual(codes[:5], [200] * 5, codes)   # the burst
        r = m.request("GET", "/v1/numbers")
        if r.status == 429:
            self.assertEqual(r.code, "rate_limited")
            self.assertGreaterEqual(int(r.headers["Retry-After"]), 1)
        # the other token has its own bucket
        self.assertEqual(m.request("GET", "/v1/numbers",
                                   token=OTHER_TOKEN).status, 200)
        # unauthenticated probes are refused before the bucket, and the
        # open endpoints are not limited
        self.assertEqual(m.request("GET", "/v1/numbers",
                                   token="nope-nope-nope").status, 401)
        self.assertEqual(m.request("GET", "/healthz", token=None).status,
                         200)
        # the bucket refills: 5/s
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if m.request("GET", "/v1/numbers").status == 200:
                break
            time.sleep(0.25)
        else:
            self.fail("the token bucket never refilled")
        self.stop_clean(m)

    def make_cert(self):
        cert = os.path.join(self.tmp, "api.crt")
        key = os.path.join(self.tmp, "api.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True)
        return cert, key

    def test_tls(self):
        import ssl
        cert, key = self.make_cert()
        ctx = ssl.create_default_context(cafile=cert)
        m = self.start_maskd(
            api_extra="tls_cert = %s\ntls_key = %s\n" % (cert, key),
            tls_ctx=ctx)
        m.add_numbers(pool_numbers(1))
        r = m.create(phone(), phone())
        self.assertEqual(r.status, 201, r)
        self.assertEqual(m.get(r.json["id"]).status, 200)

        # TLS 1.0/1.1 only: refused
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(cert)
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python cannot offer TLS 1.1")
        with socket.create_connection(("127.0.0.1", m.port), 10) as raw:
            with self.assertRaises((ssl.SSLError, OSError)):
                with old.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass
        # plain HTTP on the TLS port gets no HTTP answer
        with socket.create_connection(("127.0.0.1", m.port), 10) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            raw.settimeout(10)
            try:
                data = raw.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b""
            self.assertNotIn(b"HTTP/1.1 200", data)
        # and the daemon is fine afterwards
        self.assertEqual(m.request("GET", "/healthz", token=None).status,
                         200)
        self.stop_clean(m)

    def test_tls_bad_key_stops_startup(self):
        cert, key = self.make_cert()
        with open(key, "w") as f:
            f.write("not a key\n")
        m = Maskd(self.tmp, "badtls",
                  api_extra="tls_cert = %s\ntls_key = %s\n" % (cert, key))
        # not in self._instances: its exit status 1 is the point here
        try:
            with self.assertRaises(AssertionError):
                m.start()
            self.assertEqual(m.proc.wait(STOP_TIMEOUT), 1)
        finally:
            if m.proc and m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait()
            m._closed()
        self.assertIn("api: tls:", m.read(m.log_path))
        self.assertIsNone(m.sanitizer_report())


class TestCallbackNeedsSecret(MaskdCase):
    """A callback_url is refused (400 naming it) while no [events]
    secrets can sign its webhooks; without one maskd runs, no URL."""

    def test_callback_url_refused_without_secret(self):
        m = self.start_maskd(events_secret="")
        m.add_numbers(["+15550009001"])
        for method, path, body in (
                ("POST", "/v1/sessions", {
                    "party_a": "+14155550190", "party_b": "+14155550191",
                    "callback_url": "https://example.com/hook"}),):
            r = m.request(method, path, body)
            self.assertEqual(r.status, 400, r)
            self.assertIn("callback_url", r.json["error"]["message"])
        r = m.create("+14155550190", "+14155550191")
        self.assertEqual(r.status, 201, r)
        r = m.request("PATCH", "/v1/sessions/" + r.json["id"],
                      {"callback_url": "https://example.com/hook"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("callback_url", r.json["error"]["message"])
        self.stop_clean(m)


class TestSlowClients(MaskdCase):
    """[api] request_timeout and max_connections: a client that trickles
    its request (slowloris) is cut off at the deadline, which every byte
    does not restart as it restarts the idle timeout, while others are
    served; connections above the cap wait in the backlog."""

    TIMEOUT_S = 2
    MARGIN_S = 6    # generous: the machine may be busy

    def trickle(self, port, out, key, n_bytes=40):
        """Send a request header one byte a second; record in out[key]
        the seconds until maskd closed the connection (None: never)."""
        s = socket.create_connection(("127.0.0.1", port),
                                     timeout=HTTP_TIMEOUT)
        t0 = time.monotonic()
        head = ("GET /v1/numbers HTTP/1.1\r\nHost: x\r\nAuthorization: "
                "Bearer %s\r\nX-Slow: %s" % (TOKEN, "z" * n_bytes)).encode()
        out[key] = None
        try:
            for i in range(n_bytes):
                s.send(head[i:i + 1])
                r, _, _ = select.select([s], [], [], 1.0)
                if r and not s.recv(4096):
                    out[key] = time.monotonic() - t0
                    return
        except OSError:
            out[key] = time.monotonic() - t0
        finally:
            s.close()

    def test_slowloris_cut_off_others_served(self):
        m = self.start_maskd(api_extra="request_timeout = %d\n"
                             % self.TIMEOUT_S)
        m.add_numbers(pool_numbers(1))
        n = 8
        out = {}
        threads = [threading.Thread(target=self.trickle,
                                    args=(m.port, out, i))
                   for i in range(n)]
        for th in threads:
            th.start()
        time.sleep(0.5)
        # during the attack, others are served
        self.assertEqual(m.request("GET", "/healthz", token=None).status,
                         200)
        r = m.create(phone(), phone())
        self.assertEqual(r.status, 201, r)
        for th in threads:
            th.join(60)
        self.assertEqual(len(out), n)
        for k, took in out.items():
            self.assertIsNotNone(took, "trickler %d never cut off" % k)
            self.assertLess(took, self.TIMEOUT_S + self.MARGIN_S, out)
            # the deadline, not some earlier limit, cut it off
            self.assertGreater(took, self.TIMEOUT_S - 0.5, out)
        met = m.metrics()
        self.assertGreaterEqual(met["maskd_api_request_timeouts_total"], n)
        self.stop_clean(m)

    def test_keepalive_gets_time_per_request(self):
        """The deadline runs per request: a kept-alive connection asking
        twice a second outlives it, and is closed once idle."""
        m = self.start_maskd(api_extra="request_timeout = %d\n"
                             % self.TIMEOUT_S)
        conn = http.client.HTTPConnection("127.0.0.1", m.port,
                                          timeout=HTTP_TIMEOUT)
        h = {"Authorization": "Bearer " + TOKEN}
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.5 * self.TIMEOUT_S:
                conn.request("GET", "/v1/numbers", headers=h)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                time.sleep(0.5)
            sock = conn.sock
            sock.settimeout(self.TIMEOUT_S + self.MARGIN_S)
            t0 = time.monotonic()
            self.assertEqual(sock.recv(100), b"", "idle connection kept")
            self.assertLess(time.monotonic() - t0,
                            self.TIMEOUT_S + self.MARGIN_S)
        finally:
            conn.close()
        self.stop_clean(m)

    def test_max_connections(self):
        """Above the cap maskd stops accepting; the excess waits and is
        served once the silent holders are cut off."""
        cap = 8
        m = self.start_maskd(api_extra="request_timeout = %d\n"
                             "max_connections = %d\n"
                             % (self.TIMEOUT_S, cap))
        holders = [socket.create_connection(("127.0.0.1", m.port))
                   for _ in range(3 * cap)]
        try:
            time.sleep(0.5)
            t0 = time.monotonic()
            r = m.request("GET", "/healthz", token=None)
            self.assertEqual(r.status, 200)
            self.assertLess(time.monotonic() - t0, HTTP_TIMEOUT)
        finally:
            for s in holders:
                s.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            met = m.metrics()
            if met["maskd_api_connections"] <= 1:   # this request's
                break
            time.sleep(0.2)
        self.assertLessEqual(met["maskd_api_connections"], 1, met)
        self.assertGreaterEqual(met["maskd_api_accept_paused_total"], 1)
        self.stop_clean(m)


class TestCommandLine(unittest.TestCase):

    def run_maskd(self, *args):
        return subprocess.run([ARGS.maskd] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60)

    def test_check_config(self):
        conf = os.path.join(ARGS.source_dir, "conf", "maskd.conf")
        r = self.run_maskd("--check-config", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), conf + ": ok")

        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.conf")
            with open(bad, "w") as f:
                f.write("[api]\nlisten = 127.0.0.1:8080\nbogus = 1\n")
            r = self.run_maskd("--check-config", bad)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "")
            self.assertIn(bad, r.stderr)
            r = self.run_maskd("--check-config",
                               os.path.join(d, "missing.conf"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("missing.conf", r.stderr)
            r = self.run_maskd("-c", bad)
            self.assertEqual(r.returncode, 1)
            self.assertIn(bad, r.stderr)

    def test_version_and_help(self):
        r = self.run_maskd("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^maskd \d+\.\d+")
        for opt in ("-h", "--help"):
            r = self.run_maskd(opt)
            self.assertEqual(r.returncode, 0)
            self.assertIn("--check-config", r.stdout)
        r = self.run_maskd()
        self.assertNotEqual(r.returncode, 0)
        r = self.run_maskd("--no-such-option")
        self.assertNotEqual(r.returncode, 0)

    def test_port_in_use(self):
        with tempfile.TemporaryDirectory() as d:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            m = Maskd(d, "busy")
            m.write_config()
            with open(m.conf_path) as f:
                text = f.read()
            text = text.replace("listen = 127.0.0.1:%d\ntokens" % m.port,
                                "listen = 127.0.0.1:%d\ntokens"
                                % s.getsockname()[1])
            with open(m.conf_path, "w") as f:
                f.write(text)
            r = self.run_maskd("-c", m.conf_path)
            s.close()
            self.assertEqual(r.returncode, 1)
            log = m.read(m.log_path)
            self.assertIn("Address already in use", log + r.stderr)
            for mark in SANITIZER_MARKS:
                self.assertNotIn(mark, log + r.stderr)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    ARGS, rest = p.parse_known_args()
    ARGS.maskd = os.path.abspath(ARGS.maskd)
    ARGS.source_dir = os.path.abspath(ARGS.source_dir)
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
