#!/usr/bin/env python3
"""test_sip.py - the masking B2BUA, tested with SIPp against a real maskd.

Run by ctest as:
    python3 tests/sip/test_sip.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k cancel).

Python 3 standard library and SIPp only. The topology makes every leak
visible: party A (the caller, a carrier trunk) sends from 127.0.0.2, maskd
listens on 127.0.0.1, the outbound gateway (party B) is a SIPp UAS on
127.0.0.3, and 127.0.0.4 is a source outside every trunk. Callers are
+1202555xxxx and callees +1303555xxxx, so the scenarios under
sipp-scenarios/ can check with plain regexps that neither number crosses.
Each party's SDP names its own signalling address (SIPp -mi), so those
regexps see an SDP leak as well as a header leak: maskd rewrites every SDP
to name only itself (127.0.0.1) and its relay ports.

Besides the scenarios' own checks, every message trace is read back here:
nothing A received may hold B's number or address, nothing B received may
hold A's, anywhere in the message, body included; every SDP either
receives names only maskd. (Media itself is tested in test_media.py.)

Nothing here asserts speed: every wait is bounded and generous.
"""
import argparse
import concurrent.futures
import http.client
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ARGS = None
TOKEN = "sip-test-token-0123456789"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")
START_TIMEOUT = 60
STOP_TIMEOUT = 120
SIPP_TIMEOUT_S = 30
RUN_TIMEOUT_S = 90
RING_TIMEOUT_S = 3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import ports  # noqa: E402  (tests/ports.py)

A_IP = "127.0.0.2"
GW_IP = "127.0.0.3"
FOREIGN_IP = "127.0.0.4"
TRUSTED_IP = "127.0.0.5"
MASKD_IP = "127.0.0.1"
# each party's media on its signalling address: a leaked SDP shows up in
# the same checks as a leaked header
A_MEDIA_IP = A_IP
GW_MEDIA_IP = GW_IP

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def _next():
    with _seq_lock:
        return next(_seq)


def caller_number():
    return "+1202555%04d" % _next()


def callee_number():
    return "+1303555%04d" % _next()


def vn_number():
    return "+1555%07d" % _next()


def free_port(kind=socket.SOCK_DGRAM, host="127.0.0.1"):
    """A port free for both UDP and TCP on @host (tests/ports.py)."""
    return ports.free_port(host)


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def sip_messages(trace, direction):
    """The messages of a SIPp -trace_msg file, "received" or "sent"."""
    out = []
    for block in re.split(r"\n-{20,} [^\n]*\n", "\n" + read_text(trace)):
        head, _, rest = block.strip("\n").partition("\n")
        if direction in head and ("message" in head):
            out.append(rest.strip("\n"))
    return out


def headers_of(msg):
    return msg.replace("\r\n", "\n").split("\n\n", 1)[0]


def body_of(msg):
    parts = msg.replace("\r\n", "\n").split("\n\n", 1)
    return parts[1] if len(parts) > 1 else ""


def sdp_addresses(msg):
    """Every address an SDP body names: c=, o= and a=rtcp."""
    out = []
    for line in body_of(msg).split("\n"):
        line = line.strip()
        if line.startswith("c=") or line.startswith("o="):
            out.append(line.split()[-1])
        elif line.startswith("a=rtcp:") and " IN " in line:
            out.append(line.split()[-1])
    return out


class Maskd:
    """One maskd with its own directory, config, store and log. WRAPPER:
    a command that execs maskd in its own process (setpriv, prlimit), so
    proc.pid is still maskd's."""
    WRAPPER = ()

    def __init__(self, tmp, sip_extra="", ring_timeout_s=None):
        self.sip_extra = sip_extra
        self.ring_timeout_s = (RING_TIMEOUT_S if ring_timeout_s is None
                               else ring_timeout_s)
        self.dir = os.path.join(tmp, "maskd")
        os.makedirs(self.dir, exist_ok=True)
        self.conf_path = os.path.join(self.dir, "maskd.conf")
        self.log_path = os.path.join(self.dir, "maskd.log")
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.proc = None
        self._stderr = None
        self.sip_port = free_port()
        self.api_port = free_port(socket.SOCK_STREAM)
        self.gw_port = free_port(host=GW_IP)

    def write_config(self):
        # These suites check what maskd does with a call, not admission
        # (test_overload does): a CI box starving the SIP thread for the
        # default 60 ms must not turn their INVITEs into 503s. A class
        # that sets its own threshold keeps it.
        # (first: a class's sip_extra may go on to other sections)
        sip_extra = self.sip_extra
        if "overload_lag_ms" not in sip_extra:
            sip_extra = "overload_lag_ms = 1000\n" + sip_extra
        with open(self.conf_path, "w") as f:
            f.write(
                "[sip]\nlisten = 127.0.0.1:%d\ntransaction_timeout = 8000\n%s"
                "[trunk.carrier]\nsources = %s/32\n"
                "[trunk.trusted]\nsources = %s/32\ntrusted = yes\n"
                "country_code = 1\nnational_prefix = 1\n"
                "[gateway]\naddress = %s:%d\ntransport = udp\n"
                "[store]\npath = %s\nmap_size = 64M\n"
                "[api]\nlisten = 127.0.0.1:%d\ntokens = %s\n"
                "[session]\nring_timeout = %d\n"
                "[log]\nlevel = debug\nfile = %s\n"
                % (self.sip_port, sip_extra, A_IP, TRUSTED_IP, GW_IP, self.gw_port,
                   os.path.join(self.dir, "db"), self.api_port, TOKEN,
                   self.ring_timeout_s, self.log_path))

    def start(self):
        t0 = time.monotonic()
        try:
            return self._start()
        finally:
            TIMES["maskd start"].append(time.monotonic() - t0)

    def _start(self):
        self.write_config()
        env = self.child_env()
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            list(self.WRAPPER) + [ARGS.maskd, "-c", self.conf_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
            cwd=self.dir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("maskd exited with %d at start:\n%s"
                                     % (self.proc.returncode,
                                        self.diagnostics()))
            try:
                if self.request("GET", "/healthz", token=None)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("maskd did not answer /healthz:\n%s"
                             % self.diagnostics())

    def child_env(self):
        """maskd's environment: ours, never changed for it (the classes
        of a script start their maskds at once)."""
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        return env

    def stop(self):
        if not self.proc:
            return None
        t0 = time.monotonic()
        try:
            return self._stop()
        finally:
            TIMES["maskd stop"].append(time.monotonic() - t0)

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("maskd did not stop on SIGTERM")
        finally:
            if self._stderr:
                self._stderr.close()
                self._stderr = None
        self.proc = None
        return rc

    def diagnostics(self):
        return ("--- stderr ---\n%s\n--- log (tail) ---\n%s"
                % (read_text(self.stderr_path)[-4000:],
                   read_text(self.log_path)[-6000:]))

    def sanitizer_report(self):
        for t in (read_text(self.stderr_path), read_text(self.log_path)):
            for mark in SANITIZER_MARKS:
                i = t.find(mark)
                if i >= 0:
                    return t[max(0, i - 200):i + 3000]
        return None

    def request(self, method, path, body=None, token=TOKEN):
        h = {}
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port,
                                          timeout=60)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            js = None
            if raw and r.headers.get("Content-Type", "").startswith(
                    "application/json"):
                js = json.loads(raw.decode())
            return r.status, js, raw
        finally:
            conn.close()

    def session(self, a, b, **kw):
        """A fresh pool number and an active session (a, b) on it."""
        vn = vn_number()
        st, js, raw = self.request("POST", "/v1/numbers",
                                   {"number": vn, "country": "US"})
        if st != 201:
            raise AssertionError("add number: %d %r" % (st, raw))
        body = {"party_a": a, "party_b": b, "virtual_number": vn}
        body.update(kw)
        st, js, raw = self.request("POST", "/v1/sessions", body)
        if st != 201:
            raise AssertionError("create session: %d %r" % (st, raw))
        return js

    def calls(self, sid):
        """The session's CDRs, or None when the API has no such route."""
        st, js, raw = self.request("GET", "/v1/sessions/%s/calls" % sid)
        if st == 404 and (not js or "calls" not in js):
            return None
        if st != 200:
            raise AssertionError("calls: %d %r" % (st, raw))
        return js["calls"]

    def metrics(self):
        st, js, raw = self.request("GET", "/metrics", token=None)
        if st != 200:
            return {}
        out = {}
        for line in raw.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    # what must fall back to 0 once every call has ended
    LIVE = ("maskd_sip_calls_live", "maskd_sip_dialogs_live",
            "maskd_sip_transactions_live", "maskd_relay_calls_live",
            "maskd_relay_ports_in_use")

    def wait_zero(self, names=LIVE, timeout=60):
        """Poll /metrics until every counter of @names reads 0, for at
        most @timeout seconds. A counter missing from /metrics is not 0:
        a renamed one fails the wait instead of passing it. Returns (True
        when they all did, the last /metrics read)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if all(m.get(n) == 0 for n in names):
                return True, m
            if time.monotonic() >= deadline:
                return False, m
            time.sleep(0.5)


class Sipp:
    """One bounded SIPp run in the background, with its traces."""

    def __init__(self, case, name, scenario, ip, args, port=None,
                 media_ip=None):
        self.case = case
        self.name = name
        self.dir = case.run_dir
        self.msg_log = os.path.join(self.dir, name + "_messages.log")
        self.err_log = os.path.join(self.dir, name + "_errors.log")
        self.out_log = os.path.join(self.dir, name + "_stdout.txt")
        if port is None:
            port = free_port(host=ip)
        cmd = ["sipp", "-sf", os.path.join(ARGS.source_dir,
                                           "sipp-scenarios", scenario),
               "-i", ip, "-p", str(port), "-m", "1", "-nostdin",
               "-timeout", "%ds" % SIPP_TIMEOUT_S, "-timeout_error",
               "-trace_msg", "-message_file", self.msg_log,
               "-trace_err", "-error_file", self.err_log,
               "-max_recv_loops", "1000"]
        if media_ip:
            cmd += ["-mi", media_ip]
        cmd += args
        self.cmd = cmd
        self._out = open(self.out_log, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._out,
                                     stderr=subprocess.STDOUT,
                                     cwd=self.dir)

    def wait(self):
        try:
            rc = self.proc.wait(RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "killed after %ds" % RUN_TIMEOUT_S
        self._out.close()
        return rc

    def report(self):
        return ("--- %s: %s\n--- errors ---\n%s\n--- messages ---\n%s"
                % (self.name, " ".join(self.cmd), read_text(self.err_log),
                   read_text(self.msg_log)[-8000:]))


def wait_listening(ip, port, timeout=10):
    """Until a UDP socket is bound on ip:port (SIPp UAS is up)."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(ip), "little"),
                          port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want in read_text("/proc/net/udp"):
            return
        time.sleep(0.02)


class SipBase(unittest.TestCase):
    """One maskd per class; each test its own numbers and traces."""
    maskd = None
    sip_extra = ""      # more [sip] lines for this class's maskd
    ring_timeout_s = None   # [session] ring_timeout, RING_TIMEOUT_S if None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-sip-")
        cls.maskd = Maskd(cls.tmp, cls.sip_extra,
                          ring_timeout_s=cls.ring_timeout_s).start()

    @classmethod
    def tearDownClass(cls):
        m = cls.maskd
        rc = m.stop()
        rep = m.sanitizer_report()
        if rc != 0 or rep:
            raise AssertionError("maskd exit %s\n%s\n%s"
                                 % (rc, rep or "", m.diagnostics()))
        if not getattr(cls, "_failed", False):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.run_dir = os.path.join(self.tmp, self.id().rsplit(".", 1)[1])
        os.makedirs(self.run_dir, exist_ok=True)
        self.runs = []

    def tearDown(self):
        # a failed test may leave a SIPp waiting: never let it outlive it
        for r in self.runs:
            if r.proc.poll() is None:
                r.proc.kill()
                r.wait()
        outcome = getattr(self, "_outcome", None)
        errors = getattr(outcome, "errors", None) or []
        result = getattr(outcome, "result", None)
        if any(e for _, e in errors) or (
                result is not None and
                (getattr(result, "failures", None) or
                 getattr(result, "errors", None))):
            type(self)._failed = True

    # -- running scenario pairs --

    def uas(self, scenario, keys, d_ms=500, name="uas"):
        s = Sipp(self, name, scenario, GW_IP,
                 self.keys(keys) + ["-d", str(d_ms)],
                 port=self.maskd.gw_port, media_ip=GW_MEDIA_IP)
        self.runs.append(s)
        wait_listening(GW_IP, self.maskd.gw_port)
        return s

    def uac(self, scenario, vn, keys, d_ms=500, ip=A_IP, name="uac",
            extra=()):
        s = Sipp(self, name, scenario, ip,
                 ["-s", vn] + self.keys(keys) + ["-d", str(d_ms)]
                 + list(extra) + ["127.0.0.1:%d" % self.maskd.sip_port],
                 media_ip=A_MEDIA_IP)
        self.runs.append(s)
        return s

    @staticmethod
    def keys(d):
        out = []
        for k, v in d.items():
            out += ["-key", k, v]
        return out

    def expect_rc(self, run, want=0):
        rc = run.wait()
        if rc != want:
            self.fail("%s exited %r, want %r\n%s\n%s"
                      % (run.name, rc, want,
                         "\n".join(r.report() for r in self.runs),
                         self.maskd.diagnostics()))

    def assert_masked(self, a_run, b_run, caller, callee, a_ip=A_IP):
        """Nothing of A reached B and nothing of B reached A, in any
        header or body; every SDP names only maskd."""
        for m in sip_messages(b_run.msg_log, "received"):
            for bad in (caller, caller.lstrip("+"), a_ip, A_MEDIA_IP,
                        "PartyA", "partya"):
                self.assertNotIn(bad, m, "party A leaked to B:\n" + m)
            self.assert_sdp_maskd(m)
        for m in sip_messages(a_run.msg_log, "received"):
            for bad in (callee, callee.lstrip("+"), GW_IP, GW_MEDIA_IP,
                        "PartyB", "partyb"):
                self.assertNotIn(bad, m, "party B leaked to A:\n" + m)
            self.assert_sdp_maskd(m)

    def assert_masked_logs(self, a_log, b_log, sessions, hidden=()):
        """As assert_masked, for the message logs of a load of calls
        (SIPp -trace_msg files @a_log of the callers, @b_log of the
        callees) over @sessions [(caller, callee, vn, id)]: no caller's
        number or address reached a callee, no callee's a caller, and
        none of @hidden (addresses in between, e.g. a front) reached
        the callees. Returns (A's messages, B's messages)."""
        b_msgs = sip_messages(b_log, "received")
        a_msgs = sip_messages(a_log, "received")
        self.assertTrue(b_msgs and a_msgs)
        for m in b_msgs:
            for a, _, _, _ in sessions:
                self.assertNotIn(a.lstrip("+"), m, "A leaked to B:\n" + m)
            for bad in (A_IP,) + tuple(hidden):
                self.assertNotIn(bad, m, "leak to B:\n" + m)
            self.assert_sdp_maskd(m)
        for m in a_msgs:
            for _, b, _, _ in sessions:
                self.assertNotIn(b.lstrip("+"), m, "B leaked to A:\n" + m)
            self.assertNotIn(GW_IP, m, "leak to A:\n" + m)
            self.assert_sdp_maskd(m)
        return a_msgs, b_msgs

    def assert_sdp_maskd(self, m):
        for addr in sdp_addresses(m):
            self.assertIn(addr, (MASKD_IP, "0.0.0.0"),
                          "SDP names someone else:\n" + m)

    def wait_received(self, run, prefix, timeout=20):
        """Until @run's trace shows a received message starting with
        @prefix (e.g. "SIP/2.0 200"); fails after @timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(m.startswith(prefix) for m in self.received(run)):
                return
            time.sleep(0.05)
        self.fail("%s never received %r\n%s\n%s"
                  % (run.name, prefix,
                     "\n".join(r.report() for r in self.runs),
                     self.maskd.diagnostics()))

    def received(self, run):
        return sip_messages(run.msg_log, "received")

    def wait_cdrs(self, sid, n=1, timeout=30):
        deadline = time.monotonic() + timeout
        calls = None
        while time.monotonic() < deadline:
            calls = self.maskd.calls(sid)
            if calls is None:
                return None
            if len(calls) >= n:
                return calls
            time.sleep(0.1)
        self.fail("session %s: %r CDRs after %ds, want %d\n%s"
                  % (sid, calls, timeout, n, self.maskd.diagnostics()))

    def check_cdr(self, sid, code, hangup, reason, answered, a_to_b=True):
        calls = self.wait_cdrs(sid)
        if calls is None:
            return      # GET /v1/sessions/{id}/calls not in this build
        c = calls[-1]
        self.assertEqual(c["final_code"], code, c)
        self.assertEqual(c["hangup_by"], hangup, c)
        self.assertEqual(c["reason"], reason, c)
        self.assertEqual(c["direction"], "a_to_b" if a_to_b else "b_to_a",
                         c)
        if answered:
            self.assertIsNotNone(c["answered_at"], c)
        else:
            self.assertIsNone(c["answered_at"], c)

    def call_pair(self, uac_sf, uas_sf, uas_keys=None, uac_keys=None,
                  a_to_b=True, uac_d=500, uas_d=500, uac_ip=A_IP,
                  uac_extra=(), **session_kw):
        a, b = caller_number(), callee_number()
        if a_to_b:
            s = self.maskd.session(a, b, **session_kw)
        else:
            s = self.maskd.session(b, a, **session_kw)
        vn = s["virtual_number"]
        ukeys = {"vn": vn, "callee": b}
        ukeys.update(uas_keys or {})
        ckeys = {"caller": a}
        ckeys.update(uac_keys or {})
        gw = self.uas(uas_sf, ukeys, d_ms=uas_d)
        ua = self.uac(uac_sf, vn, ckeys, d_ms=uac_d, ip=uac_ip,
                      extra=uac_extra)
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b, a_ip=uac_ip)
        return s, ua, gw


class SipFlows(SipBase):
    """Every flow of issue 3, each a SIPp pair through maskd."""

    def test_options_keepalive(self):
        ua = self.uac("options_uac.xml", "x", {"caller": caller_number()})
        self.expect_rc(ua)
        ok = [m for m in self.received(ua) if m.startswith("SIP/2.0 200")]
        self.assertTrue(ok)
        self.assertIn("Allow:", ok[0])

    def test_basic_call_caller_hangs_up(self):
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml")
        invite = headers_of([m for m in self.received(gw)
                             if m.startswith("INVITE")][0])
        sent = headers_of([m for m in sip_messages(ua.msg_log, "sent")
                           if m.startswith("INVITE")][0])
        # a brand-new dialog: no Call-ID, tag or branch of the caller's
        for name in ("Call-ID", "From", "Via"):
            mine = re.search(r"^%s: (.*)$" % name, sent, re.M).group(1)
            self.assertNotIn(mine, invite)
        self.assertNotIn("User-Agent", invite)
        self.assertRegex(invite, r"(?m)^Max-Forwards: 69$")
        contact = "Contact: <sip:%s@127.0.0.1:%d>" % (s["virtual_number"],
                                                      self.maskd.sip_port)
        self.assertIn(contact, invite)
        ok = [m for m in self.received(ua) if m.startswith("SIP/2.0 200")]
        self.assertIn(contact, ok[0])
        # early media: the 183's SDP is relayed
        early = [m for m in self.received(ua) if m.startswith("SIP/2.0 183")]
        self.assertTrue(early, "no 183 relayed")
        self.assertIn("Content-Type: application/sdp", early[0])
        self.assertIn("m=audio", early[0])
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_caller_over_tcp(self):
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml",
                                   uac_extra=("-t", "t1"))
        ok = [m for m in self.received(ua) if m.startswith("SIP/2.0 200")]
        self.assertIn(";transport=tcp>", ok[0])
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_trusted_trunk_pai_national_numbers(self):
        # caller in P-Asserted-Identity, numbers in national form: the
        # trunk's country_code/national_prefix make them E.164
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("pai_uac.xml", vn.lstrip("+"),
                      {"caller": a.lstrip("+")}, ip=TRUSTED_IP)
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b, a_ip=TRUSTED_IP)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_callee_hangs_up(self):
        s, ua, gw = self.call_pair("callee_bye_uac.xml",
                                   "callee_bye_uas.xml")
        self.check_cdr(s["id"], 200, "callee", "normal", True)

    def test_callback_b_to_a(self):
        # the session's party_b calls the VN back and reaches party_a
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml",
                                   a_to_b=False)
        self.check_cdr(s["id"], 200, "caller", "normal", True,
                       a_to_b=False)

    def reject(self, gw_code, caller_code, reason):
        s, ua, gw = self.call_pair("reject_uac.xml", "reject_uas.xml",
                                   uas_keys={"code": gw_code},
                                   uac_keys={"code": caller_code})
        self.check_cdr(s["id"], int(caller_code), None, reason, False)

    def test_busy_486(self):
        self.reject("486", "486", "busy")

    def test_not_found_maps_to_480(self):
        self.reject("404", "480", "no_answer")

    def test_unavailable_480(self):
        self.reject("480", "480", "no_answer")

    def test_request_timeout_408(self):
        self.reject("408", "408", "no_answer")

    def test_gateway_failure_503(self):
        self.reject("502", "503", "failure")

    def test_decline_603(self):
        self.reject("603", "603", "declined")

    def test_cancel_before_answer(self):
        s, ua, gw = self.call_pair("cancel_uac.xml", "cancel_uas.xml")
        self.check_cdr(s["id"], 487, "caller", "cancel", False)

    def test_ring_timeout(self):
        # the callee rings past ring_timeout: maskd CANCELs it, 480 to A
        s, ua, gw = self.call_pair("reject_uac.xml", "cancel_uas.xml",
                                   uac_keys={"code": "480"})
        self.check_cdr(s["id"], 480, "maskd", "ring_timeout", False)

    def test_hold_resume_by_caller(self):
        s, ua, gw = self.call_pair("hold_uac.xml", "hold_uas.xml")
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_reinvite_by_callee(self):
        s, ua, gw = self.call_pair("reinvite_uac.xml", "reinvite_uas.xml")
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_call_time_limit(self):
        # maskd BYEs both legs when the session's limit is reached
        s, ua, gw = self.call_pair("callee_bye_uac.xml", "basic_uas.xml",
                                   call_time_limit=2)
        self.check_cdr(s["id"], 200, "maskd", "call_time_limit", True)

    def close_session(self, sid):
        st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + sid)
        self.assertEqual(st, 200, raw)
        self.assertEqual(js["status"], "closed", js)

    def test_session_closed_ends_call(self):
        # the platform closes the session while its call is up: maskd
        # BYEs both legs at once (neither party hangs up: callee_bye_uac
        # waits for a BYE, basic_uas too, for longer than the test)
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("callee_bye_uac.xml", vn, {"caller": a})
        self.wait_received(ua, "SIP/2.0 200")
        self.wait_received(gw, "ACK")
        self.close_session(s["id"])
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assertTrue(any(m.startswith("BYE") for m in self.received(ua)))
        self.assertTrue(any(m.startswith("BYE") for m in self.received(gw)))
        self.assert_masked(ua, gw, a, b)
        self.check_cdr(s["id"], 200, "maskd", "session_closed", True)
        ok, m = self.maskd.wait_zero()
        self.assertTrue(ok, m)
        self.assertEqual(m.get("maskd_ctl_sip_commands_lost_total"), 0, m)

    def test_session_closed_while_ringing(self):
        # closed while the callee rings: CANCEL to the callee, 480 to the
        # caller, long before ring_timeout would have done it
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("cancel_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("reject_uac.xml", vn, {"caller": a, "code": "480"})
        self.wait_received(ua, "SIP/2.0 180")
        self.close_session(s["id"])
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b)
        self.check_cdr(s["id"], 480, "maskd", "session_closed", False)

    def test_session_closed_other_call_untouched(self):
        # closing one session ends only its own call: another session's
        # call with the same callee goes on until its caller hangs up
        a1, a2, b = caller_number(), caller_number(), callee_number()
        s1 = self.maskd.session(a1, b)
        s2 = self.maskd.session(a2, b)
        gw = self.uas("basic_uas.xml", {"vn": s2["virtual_number"],
                                        "callee": b})
        ua = self.uac("basic_uac.xml", s2["virtual_number"], {"caller": a2},
                      d_ms=2000)
        self.wait_received(ua, "SIP/2.0 200")
        self.close_session(s1["id"])
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.check_cdr(s2["id"], 200, "caller", "normal", True)
        self.assertEqual(self.maskd.calls(s1["id"]), [])

    def refused(self, vn, caller, code, ip=A_IP):
        """A's INVITE gets @code; the gateway sees nothing at all."""
        gw = Sipp(self, "uas", "basic_uas.xml", GW_IP,
                  ["-key", "vn", vn, "-key", "callee", callee_number(),
                   "-timeout", "4s"],
                  port=self.maskd.gw_port, media_ip=GW_MEDIA_IP)
        self.runs.append(gw)
        wait_listening(GW_IP, self.maskd.gw_port)
        ua = self.uac("reject_uac.xml", vn, {"caller": caller, "code": code},
                      ip=ip)
        self.expect_rc(ua)
        gw.wait()
        self.assertEqual(self.received(gw), [],
                         "the gateway got something:\n" + gw.report())

    def test_unknown_pair_404(self):
        s = self.maskd.session(caller_number(), callee_number())
        # a stranger calls an existing VN
        self.refused(s["virtual_number"], caller_number(), "404")

    def test_ended_session_404(self):
        a = caller_number()
        s = self.maskd.session(a, callee_number())
        st, js, raw = self.maskd.request("DELETE",
                                         "/v1/sessions/" + s["id"])
        self.assertIn(st, (200, 204), raw)
        self.refused(s["virtual_number"], a, "404")

    def test_foreign_source_403(self):
        a = caller_number()
        s = self.maskd.session(a, callee_number())
        self.refused(s["virtual_number"], a, "403", ip=FOREIGN_IP)

    def test_busy_session_486(self):
        # A talks to B and calls the VN again from another line
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        first = self.uac("basic_uac.xml", vn, {"caller": a}, d_ms=4000,
                         name="first")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(m.startswith("SIP/2.0 200")
                   for m in self.received(first)):
                break
            time.sleep(0.05)
        second = self.uac("reject_uac.xml", vn, {"caller": a, "code": "486"},
                          name="second", ip=A_IP)
        self.expect_rc(second)
        self.expect_rc(first)
        self.expect_rc(gw)
        self.assert_masked(first, gw, a, b)


class SipSessionTimers(SipBase):
    """RFC 4028 session timers, negotiated per leg. Intervals of seconds
    (production uses 90 s or more) so refreshes happen within a test."""
    sip_extra = "session_expires = 6\nmin_se = 2\n"

    def test_caller_refreshes_locally_answered(self):
        # A refreshes every 1.5 s (interval 4 s) past the interval; the
        # refreshes never reach B (basic_uas.xml would fail on them)
        s, ua, gw = self.call_pair("st_refresh_uac.xml", "basic_uas.xml",
                                   uac_d=1500)
        invites = [m for m in self.received(gw) if m.startswith("INVITE")]
        self.assertEqual(len(invites), 1, "a refresh reached B")
        oks = [m for m in self.received(ua) if m.startswith("SIP/2.0 200")
               and re.search(r"(?m)^CSeq: [23] INVITE", m)]
        self.assertEqual(len(oks), 2)
        first = [m for m in self.received(ua)
                 if m.startswith("SIP/2.0 200")][0]
        # the refresh is answered with the SDP A was given, unchanged
        for ok in oks:
            self.assertEqual(body_of(ok), body_of(first))
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_maskd_refreshes_leg_b(self):
        # B makes maskd the refresher (6 s): a re-INVITE with maskd's SDP
        # reaches B at ~3 s; A, which does no timers, sees nothing of it
        s, ua, gw = self.call_pair("st_plain_uac.xml",
                                   "st_refresher_uas.xml", uac_d=4500)
        invites = [m for m in self.received(gw) if m.startswith("INVITE")]
        self.assertEqual(len(invites), 2)
        self.assertEqual(body_of(invites[0]), body_of(invites[1]))
        self.assertRegex(headers_of(invites[0]),
                         r"(?m)^Session-Expires: 6$")
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_maskd_refreshes_leg_b_with_update(self):
        s, ua, gw = self.call_pair("st_plain_uac.xml", "st_update_uas.xml",
                                   uac_d=4500)
        self.assertEqual(len([m for m in self.received(gw)
                              if m.startswith("UPDATE")]), 1)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_caller_interval_too_small_422(self):
        a = caller_number()
        s = self.maskd.session(a, callee_number())
        gw = Sipp(self, "uas", "basic_uas.xml", GW_IP,
                  ["-key", "vn", s["virtual_number"], "-key", "callee",
                   callee_number(), "-timeout", "4s"],
                  port=self.maskd.gw_port, media_ip=GW_MEDIA_IP)
        self.runs.append(gw)
        wait_listening(GW_IP, self.maskd.gw_port)
        ua = self.uac("st_422_uac.xml", s["virtual_number"], {"caller": a})
        self.expect_rc(ua)
        gw.wait()
        self.assertEqual(self.received(gw), [],
                         "the gateway got something:\n" + gw.report())

    def test_callee_refreshes_locally_answered(self):
        # B refreshes (6 s: maskd would BYE at 4 s) at 1.5 s; A, which
        # does no timers, sees none of it, and the call outlives 4 s
        s, ua, gw = self.call_pair("st_plain_uac.xml",
                                   "st_b_refresh_uas.xml", uac_d=4700,
                                   uas_d=1500)
        self.assertEqual(len([m for m in self.received(ua)
                              if m.startswith("INVITE")]), 0)
        self.check_cdr(s["id"], 200, "caller", "normal", True)

    def test_zz_counters_return_to_zero(self):
        # last of the class (unittest runs them by name): every refresh,
        # timer and local answer of the calls above is gone
        names = ("maskd_sip_calls_live", "maskd_sip_dialogs_live",
                 "maskd_sip_transactions_live")
        zero, m = self.maskd.wait_zero(names)
        if not zero:
            self.fail("live counters did not return to 0: %r"
                      % {n: m.get(n) for n in names})

    def test_caller_stops_refreshing(self):
        s, ua, gw = self.call_pair("st_expire_uac.xml", "basic_uas.xml")
        self.check_cdr(s["id"], 200, "maskd", "session_timer_expired",
                       True)
        c = self.maskd.calls(s["id"])[-1]
        # BYEd at the interval (4 s) less a third, not before
        self.assertGreater(c["duration_ms"], 2000, c)
        self.assertLess(c["duration_ms"], 4000, c)

    def test_422_retry_on_leg_b(self):
        s, ua, gw = self.call_pair("st_plain_uac.xml", "st_422_uas.xml",
                                   uac_d=1000)
        invites = [m for m in self.received(gw) if m.startswith("INVITE")]
        self.assertEqual(len(invites), 2)
        self.assertRegex(headers_of(invites[1]),
                         r"(?m)^Session-Expires: 8$")
        self.assertRegex(headers_of(invites[1]), r"(?m)^Min-SE: 8$")
        self.check_cdr(s["id"], 200, "caller", "normal", True)


class SipCounters(SipBase):
    """After the calls, the live counters go back to zero."""

    def test_counters_return_to_zero(self):
        self.call_pair("basic_uac.xml", "basic_uas.xml")
        self.call_pair("cancel_uac.xml", "cancel_uas.xml")
        names = Maskd.LIVE
        zero, m = self.maskd.wait_zero(names)
        if not zero:
            self.fail("live counters did not return to 0: %r"
                      % {n: m.get(n) for n in names})


TIMES = {"maskd start": [], "maskd stop": []}
# test classes of one script run at once (ClassRunner)
CLASS_JOBS = int(os.environ.get("MASKD_TEST_CLASS_JOBS", "4"))


class TimedResult(unittest.TextTestResult):
    """Records each test's time, set-up to tear-down, for the table
    ClassRunner prints: where a suite's time goes."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.times = []

    def startTest(self, test):
        self.t_test = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.times.append((time.monotonic() - self.t_test, test.id()))


def _by_class(suite, out):
    """The tests of @suite grouped by class, in order."""
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            _by_class(t, out)
        elif out and type(out[-1][0]) is type(t):
            out[-1].append(t)
        else:
            out.append([t])
    return out


class ClassRunner(unittest.TextTestRunner):
    """Runs the test classes of a script at once, CLASS_JOBS at a time,
    each in a thread of its own: a class has its own maskd (its own
    directory, config and free ports, set up in setUpClass) and its
    tests run in order against it, as unittest runs them. A suite's
    time is then its slowest class's instead of their sum: most of it is
    waiting (Timer D's 32 s before the live counters read 0, SIPp's
    pauses, RTP timeouts), which overlaps. Nothing a class does may reach
    another class's maskd or change what they share (os.environ, this
    module's settings): Maskd.child_env() and SipBase's class attributes
    are where per-class settings go. Each class's output is printed
    whole, in order, then the failures of all and a table of the slowest
    tests. MASKD_TEST_CLASS_JOBS=1 runs them one after another."""

    resultclass = TimedResult

    def run(self, test):
        t0 = time.monotonic()
        groups = _by_class(test, [])

        def run_group(tests):
            stream = io.StringIO()
            res = self.resultclass(unittest.runner._WritelnDecorator(stream),
                                   self.descriptions, self.verbosity)
            res.startTestRun()
            try:
                unittest.TestSuite(tests).run(res)
            finally:
                res.stopTestRun()
            return res, stream.getvalue()

        with concurrent.futures.ThreadPoolExecutor(
                max(1, CLASS_JOBS)) as pool:
            outs = list(pool.map(run_group, groups))
        total = self._makeResult()
        for res, text in outs:
            self.stream.write(text)
            for k in ("failures", "errors", "skipped", "expectedFailures",
                      "unexpectedSuccesses", "times"):
                getattr(total, k).extend(getattr(res, k))
            total.testsRun += res.testsRun
        self.stream.writeln()
        total.printErrors()
        took = time.monotonic() - t0
        self.stream.writeln(total.separator2)
        self.stream.writeln("Ran %d tests in %.3fs (%d classes, %d at once)"
                            % (total.testsRun, took, len(groups),
                               CLASS_JOBS))
        out = ["", "time: %.1f s; tests %.1f s in all" % (
            took, sum(t for t, _ in total.times))]
        for k, v in TIMES.items():
            if v:
                out.append("  %-20s x%-3d %6.1f s" % (k, len(v), sum(v)))
        for t, name in sorted(total.times, reverse=True)[:15]:
            out.append("  %6.1f s  %s" % (t, name.split(".", 1)[-1]))
        self.stream.writeln("\n".join(out))
        self.stream.writeln()
        if total.wasSuccessful():
            self.stream.writeln("OK")
        else:
            self.stream.writeln("FAILED (failures=%d, errors=%d)"
                                % (len(total.failures), len(total.errors)))
        self.stream.flush()
        return total


def main(module_globals=None, tools=("sipp",)):
    """Run the tests of the script started (this one, or one that imports
    this harness): --maskd and --source-dir into ARGS, here and in
    @module_globals (that script's globals()), the @tools it needs
    checked, the rest of the command line to unittest."""
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    ARGS, rest = p.parse_known_args()
    if module_globals is not None:
        module_globals["ARGS"] = ARGS
    for tool in tools:
        if not shutil.which(tool):
            print("%s not found (scripts/deps.sh installs it)" % tool)
            sys.exit(1)
    unittest.main(argv=[sys.argv[0]] + rest, testRunner=ClassRunner)


if __name__ == "__main__":
    main()
