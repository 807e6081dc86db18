#!/usr/bin/env python3
"""test_workers.py - one maskd with several SIP workers ([sip] workers,
src/sip/sip_worker.c), behind the Kamailio front (conf/kamailio-front.cfg,
run by scripts/front.sh with a list of the workers' ports) and reached
directly (issue 14, part 4).

    SIPp UAC (127.0.0.2) -> front (Kamailio, 127.0.0.6) -> worker 0 or 1
                                (127.0.0.1: [sip] listen, worker_ports)
    worker -> SIPp UAS (the gateway, 127.0.0.3)

WorkersFront: calls through the front spread over both workers
(maskd_sip_worker_calls_total per worker, and the front's trace); every
BYE reaches the worker its INVITE went to (the front relays it to the
Contact maskd gave: that worker's port) and a CANCEL the worker that has
the INVITE (487); what each party receives passes test_sip's masking
checks. Direct to the workers: two calls of one session at once on two
workers - the second gets 486, as on one worker, either way round; a
session closed by the API ends its call on whichever worker has it.

WorkersFront also drains worker 1 at run time (PATCH /v1/sip/workers/1):
a call ringing there is still CANCELed there (487), a call up there gets
its re-INVITE and BYE served to the end, while a new INVITE to it gets a
stateless 503 with Retry-After and its OPTIONS 503; the front's probes
mark it inactive and every new call through the front goes to worker 0
(per-worker metric and the front's trace; worker 1 refuses none, so the
front did not even try it). Resumed, calls spread again; and an INVITE
the front sends to worker 1 just after it is drained, before the front's
next probe, gets its 503 and goes on to worker 0 (failure_route).

test_workers_calls.py: the routing hook, a PIN call and a cluster
cache miss on worker 1 of two.

OneWorker: draining the only worker is allowed (a node behind a front
with other nodes is drained whole before maintenance): INVITE and
OPTIONS 503, request-a-call 503 sip_draining; resumed, calls go through.
The API's 400s and 404s name the field.

WorkersRac: request-a-calls from the API go to the workers in turn (the
parties' INVITEs come from both workers' ports); the live view and the
hang-up of each reach the worker that has it, and a second request-a-call
of a busy session is 409 whichever worker it is given to.

WorkersTls: with tls_listen, each worker has its own TLS port
(worker_tls_ports) and answers an OPTIONS over TLS there with its
certificate, and the certificate directory is gone once both have read
it.

WorkersGone: a worker that is gone without a word (a worker is a thread of
maskd: only its process's end takes it away, which draining above
avoids): the front's list names a third worker port with nothing behind
it; the front marks it inactive (no answer to its OPTIONS), and every
call - the share that port's Call-ID hash would get included - goes to
the two that run.

Run by ctest as:
    python3 tests/sip/test_workers.py --maskd /path/to/maskd --source-dir /repo

Kamailio: tests/sip/kamailio.py; the SIP harness: tests/sip/test_sip.py;
load runs: test_soak.py's Sipp. Nothing here asserts speed; every load and
wait is bounded.
"""
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_sip as ts  # noqa: E402
from test_sip import caller_number, callee_number  # noqa
import kamailio  # noqa: E402
import test_soak  # noqa: E402  (its Sipp: load runs with -trace_stat)
import test_media as tm  # noqa: E402
import test_rac as tr  # noqa: E402  (RacBase: the Python gateway, parties)
import test_tls  # noqa: E402  (Pki, TlsMaskd: certificates, TLS config)
import test_flood  # noqa: E402  (raw OPTIONS and INVITE)
import unittest  # noqa: E402

ARGS = None
FRONT_IP = "127.0.0.6"
WAIT_S = 30
CALLS = 30              # the load run through the front
RATE = 10               # its calls/s
RTP_PORTS = 400         # the relay range: 100 pairs per relay worker


class WorkersMaskd(ts.Maskd):
    """maskd with @workers SIP workers, the front's address a trunk."""

    def __init__(self, tmp, workers=2):
        super().__init__(tmp)
        self.ports = [self.sip_port] + [ts.free_port()
                                        for _ in range(workers - 1)]
        # what is tested is the workers: a refusal because the shared
        # test machine is slow (test_overload.py) would be neither's
        self.sip_extra = ("overload_lag_ms = 0\nworkers = %d\n"
                          "worker_ports = %s\n"
                          "[trunk.front]\nsources = %s/32\n"
                          % (workers, ",".join(str(p) for p in
                                               self.ports[1:]), FRONT_IP))

    def write_config(self):
        super().write_config()
        tm.own_rtp_range(self, RTP_PORTS)

    def worker_calls(self):
        """maskd_sip_worker_calls_total, per worker."""
        m = self.metrics()
        return [int(m.get('maskd_sip_worker_calls_total{worker="%d"}' % i,
                          0)) for i in range(len(self.ports))]


def uac_at(case, port, scenario, vn, keys, d_ms=500, name="uac",
           ip=ts.A_IP, extra=()):
    """A SIPp caller (test_sip's SipBase.uac) straight to the worker on
    @port."""
    s = ts.Sipp(case, name, scenario, ip,
                ["-s", vn] + case.keys(keys) + ["-d", str(d_ms)] +
                list(extra) + ["127.0.0.1:%d" % port],
                media_ip=ts.A_MEDIA_IP)
    case.runs.append(s)
    return s


def ask(port, build, timeout=10, host="127.0.0.1"):
    """The final answer of the worker on @port (or the front: @host) to
    one request from party A's address: @build(ip, port) makes it
    (test_flood's options, invite), sent again each second until
    answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ts.A_IP, 0))
        sock.settimeout(1)
        data = build(ts.A_IP, sock.getsockname()[1])
        deadline = time.monotonic() + timeout
        sock.sendto(data, (host, port))
        while time.monotonic() < deadline:
            try:
                got = sock.recv(65536)
            except socket.timeout:
                sock.sendto(data, (host, port))
                continue
            if got.startswith(b"SIP/2.0 ") and got[8:9] != b"1":
                return got.decode("utf-8", "replace")
    raise AssertionError("no final answer from port %d" % port)


def set_state(case, worker, state):
    """PATCH /v1/sip/workers/{worker}: 200 and the worker as it is now."""
    st, js, raw = case.maskd.request("PATCH", "/v1/sip/workers/%d" % worker,
                                     {"state": state})
    case.assertEqual(st, 200, raw)
    case.assertEqual((js["worker"], js["state"]), (worker, state), js)
    return js


def trace(kam):
    """The front's FRONT_TRACE lines: (kind, method, Call-ID, target)."""
    return [(m.group(1), m.group(2), m.group(3), m.group(4))
            for m in re.finditer(r"FRONT (in|new|dialog) (\S+) t=[0-9.]+ "
                                 r"ci=(\S+)(?: set=\S+)?(?: to=(\S+)| "
                                 r"ruri=\S+)", kam.log())]


def port_of(uri):
    m = re.search(r"127\.0\.0\.1:(\d+)", uri or "")
    return int(m.group(1)) if m else None


class FrontBase(ts.SipBase):
    """One maskd of WORKERS workers and a front whose list has its ports
    and DEAD_PORTS more, per class."""
    WORKERS = 2
    DEAD_PORTS = 0
    front = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-workers-")
        if not kamailio.binary() or not kamailio.modules_dir("dispatcher.so"):
            raise AssertionError("kamailio with its dispatcher module is "
                                 "not installed (scripts/deps.sh)")
        cls.maskd = WorkersMaskd(cls.tmp, cls.WORKERS).start()
        cls.dead = [ts.free_port() for _ in range(cls.DEAD_PORTS)]
        cls.front_port = ts.free_port(host=FRONT_IP)
        script = os.path.join(ts.ARGS.source_dir, "scripts", "front.sh")
        fdir = os.path.join(cls.tmp, "front")
        os.makedirs(fdir)
        lst = os.path.join(fdir, "front.list")
        with open(lst, "w") as f:
            if cls.dead:
                subprocess.run(["bash", script, "list"] +
                               ["127.0.0.1:%d" % p
                                for p in cls.maskd.ports + cls.dead],
                               check=True, stdout=f)
            else:
                # the list read from maskd's own config
                subprocess.run(["bash", script, "workers",
                                cls.maskd.conf_path], check=True, stdout=f)
        with open(lst) as f:
            nodes = re.findall(r"(?m)^1 sip:127\.0\.0\.1:(\d+) 8$",
                               f.read())
        if [int(p) for p in nodes] != cls.maskd.ports + cls.dead:
            raise AssertionError("front list %r, workers on %r"
                                 % (nodes, cls.maskd.ports + cls.dead))
        cls.front = kamailio.front(ts.ARGS.source_dir, fdir, lst, FRONT_IP,
                                   cls.front_port)

    @classmethod
    def tearDownClass(cls):
        if cls.front:
            cls.front.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.loads = []
        self.wait_front_up()

    def tearDown(self):
        for s in self.loads:
            s.kill()
        super().tearDown()

    def wait_front_up(self):
        """Until every worker has answered the front's OPTIONS twice more
        than when this began (the front probes each once a second)."""
        deadline = time.monotonic() + WAIT_S
        first = None
        while time.monotonic() < deadline:
            n = self.maskd.metrics().get("maskd_sip_options_total", 0)
            if first is None:
                first = n
            elif n >= first + 2 * (self.WORKERS + 1):
                return
            time.sleep(0.2)
        self.fail("the workers never answered the front's OPTIONS\n%s\n"
                  "--- front ---\n%s" % (self.maskd.diagnostics(),
                                         self.front.log()[-4000:]))

    def sessions(self, n):
        out = []
        for _ in range(n):
            a, b = caller_number(), callee_number()
            s = self.maskd.session(a, b)
            out.append((a, b, s["virtual_number"], s["id"]))
        return out

    def inf(self, name, sessions):
        return test_soak.write_inf(os.path.join(self.run_dir, name + ".csv"),
                                   ((a, vn) for a, _, vn, _ in sessions))

    def bench_sf(self, name):
        return os.path.join(ts.ARGS.source_dir, "bench", "sipp", name)

    def load(self, name, args):
        s = test_soak.Sipp(self.run_dir, name, args)
        self.loads.append(s)
        return s

    def wait_rc(self, run, timeout, want_ok):
        rc = run.wait(timeout)
        st = run.stats()
        ok = int(st.get("SuccessfulCall(C)", -1))
        bad = int(st.get("FailedCall(C)", -1))
        if rc != 0 or ok != want_ok or bad != 0:
            self.fail("%s: exit %r, %d successful, %d failed, want %d\n%s"
                      "\n%s\n--- front ---\n%s"
                      % (run.name, rc, ok, bad, want_ok, run.report(),
                         self.maskd.diagnostics(), self.front.log()[-3000:]))

    def load_through_front(self, sessions, tag):
        """A bounded SIPp load of one call per session through the front,
        every message traced; (caller's trace, callee's trace)."""
        calls = len(sessions)
        a_log = os.path.join(self.run_dir, tag + "_uac_msgs.log")
        b_log = os.path.join(self.run_dir, tag + "_uas_msgs.log")
        uas = self.load(tag + "_uas", [
            "-sf", self.bench_sf("uas.xml"), "-i", ts.GW_IP,
            "-p", str(self.maskd.gw_port), "-mi", ts.GW_MEDIA_IP,
            "-m", str(calls), "-trace_msg", "-message_file", b_log])
        ts.wait_listening(ts.GW_IP, self.maskd.gw_port)
        uac = self.load(tag + "_uac", [
            "-sf", self.bench_sf("uac.xml"), "-i", ts.A_IP,
            "-p", str(ts.free_port(host=ts.A_IP)), "-mi", ts.A_MEDIA_IP,
            "-inf", self.inf(tag, sessions), "-r", str(RATE),
            "-rp", "1000", "-l", str(RATE * 10), "-m", str(calls),
            "-d", "300", "-trace_msg", "-message_file", a_log,
            "%s:%d" % (FRONT_IP, self.front_port)])
        self.wait_rc(uac, 120, calls)
        self.wait_rc(uas, 60, calls)
        return a_log, b_log

    def uac_to(self, port, scenario, vn, keys, d_ms=500, name="uac"):
        """A SIPp caller straight to the worker on @port."""
        return uac_at(self, port, scenario, vn, keys, d_ms, name)

    def check_spread(self, sessions, before, mark, ports):
        """Every call of @sessions went to a worker of @ports, its BYE to
        the same one, and the per-worker counters agree."""
        got = [x - b for x, b in zip(self.maskd.worker_calls(), before)]
        self.assertEqual(sum(got), len(sessions), got)
        t = trace(self.front)[mark:]
        invite_to, bye_to = {}, {}
        for kind, method, ci, to in t:
            if kind == "new" and method == "INVITE":
                invite_to[ci] = port_of(to)
            elif kind == "dialog" and method == "BYE":
                bye_to[ci] = port_of(to)
        self.assertEqual(len(invite_to), len(sessions), t)
        self.assertEqual(set(bye_to), set(invite_to))
        for ci, p in invite_to.items():
            self.assertIn(p, ports, ci)
            self.assertEqual(bye_to[ci], p, ci)
        per_worker = [sum(1 for p in invite_to.values() if p == wp)
                      for wp in self.maskd.ports]
        self.assertEqual(per_worker, got)
        return got


class WorkersFront(FrontBase):

    def test_calls_spread_in_dialog_and_masked(self):
        sessions = self.sessions(CALLS)
        before = self.maskd.worker_calls()
        mark = len(trace(self.front))
        a_log, b_log = self.load_through_front(sessions, "spread")
        got = self.check_spread(sessions, before, mark, self.maskd.ports)
        for g in got:
            # Call-ID hash over 2 workers: fewer than 3 of 30 on one is
            # a chance of 1 in a million
            self.assertGreaterEqual(g, 3, got)

        # masking: what each party received, every pair
        a_msgs, b_msgs = self.assert_masked_logs(a_log, b_log, sessions,
                                                 hidden=(FRONT_IP,))
        # each worker's Contact names its own port: the caller's 200s
        # name both
        contacts = {port_of(c) for m in a_msgs if m.startswith("SIP/2.0 200")
                    for c in re.findall(r"(?im)^contact:.*$", m)}
        self.assertEqual(contacts - {None}, set(self.maskd.ports))
        ok, m = self.maskd.wait_zero(("maskd_sip_calls_live",
                                      "maskd_sip_dialogs_live"))
        self.assertTrue(ok, m)

    def test_cancel_reaches_the_invites_worker(self):
        """The caller CANCELs while the callee rings, through the front:
        the CANCEL goes to the worker that has the INVITE, which CANCELs
        the callee; 487. Until both workers have had one."""
        seen = set()
        for i in range(12):
            a, b = caller_number(), callee_number()
            s = self.maskd.session(a, b)
            vn = s["virtual_number"]
            before = self.maskd.worker_calls()
            mark = len(trace(self.front))
            gw = self.uas("cancel_uas.xml", {"vn": vn, "callee": b},
                          name="uas%d" % i)
            # SIPp's Call-ID is "1-PID@ip" in a run of one call: PIDs a
            # few apart hashed to the same worker run after run (every
            # one in a CI run). A random part in each makes the front's
            # hash the coin toss this test counts on.
            cid = "%u-" + secrets.token_hex(8) + "-%p@%s"
            ua = ts.Sipp(self, "uac%d" % i, "cancel_uac.xml", ts.A_IP,
                         ["-s", vn, "-cid_str", cid] +
                         self.keys({"caller": a}) +
                         ["-d", "1000", "%s:%d" % (FRONT_IP,
                                                   self.front_port)],
                         media_ip=ts.A_MEDIA_IP)
            self.runs.append(ua)
            self.expect_rc(ua)
            self.expect_rc(gw)
            self.assert_masked(ua, gw, a, b)
            got = [x - y for x, y in zip(self.maskd.worker_calls(), before)]
            self.assertEqual(sorted(got), [0, 1], got)
            t = trace(self.front)[mark:]
            inv = [x for x in t if x[0] == "new" and x[1] == "INVITE"]
            self.assertEqual(len(inv), 1, t)
            self.assertEqual(port_of(inv[0][3]),
                             self.maskd.ports[got.index(1)], t)
            self.assertTrue([x for x in t if x[0] == "in" and
                             x[1] == "CANCEL" and x[2] == inv[0][2]], t)
            self.check_cdr(s["id"], 487, "caller", "cancel", False)
            seen.add(got.index(1))
            if len(seen) == 2:
                break
        # 12 Call-IDs all hashed to one worker: 1 in 2,048
        self.assertEqual(seen, {0, 1})

    def busy_across(self, first_port, second_port, tag):
        """A talks to B through one worker and calls the VN again through
        the other: 486, as on one worker; the first call goes on. @tag
        names the runs (a trace of a run of the same name would be read
        as this one's)."""
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        busy = self.maskd.metrics().get("maskd_sip_rejected_busy_total", 0)
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b},
                      name="uas_" + tag)
        first = self.uac_to(first_port, "basic_uac.xml", vn, {"caller": a},
                            d_ms=4000, name="first_" + tag)
        self.wait_received(first, "SIP/2.0 200")
        second = self.uac_to(second_port, "reject_uac.xml", vn,
                             {"caller": a, "code": "486"},
                             name="second_" + tag)
        self.expect_rc(second)
        self.expect_rc(first)
        self.expect_rc(gw)
        self.assert_masked(first, gw, a, b)
        self.check_cdr(s["id"], 200, "caller", "normal", True)
        self.assertEqual(
            self.maskd.metrics().get("maskd_sip_rejected_busy_total", 0),
            busy + 1)
        # the session takes its next call on either worker once the
        # first has ended
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b},
                      name="uas_again_" + tag)
        again = self.uac_to(second_port, "basic_uac.xml", vn, {"caller": a},
                            name="again_" + tag)
        self.expect_rc(again)
        self.expect_rc(gw)

    def test_one_call_per_session_across_workers(self):
        p0, p1 = self.maskd.ports
        self.busy_across(p0, p1, "01")
        self.busy_across(p1, p0, "10")

    def test_session_closed_ends_call_on_worker_1(self):
        """DELETE /v1/sessions/{id} reaches the worker that has the call
        (a session's end goes to every worker; the others ignore it)."""
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        before = self.maskd.worker_calls()
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac_to(self.maskd.ports[1], "callee_bye_uac.xml", vn,
                         {"caller": a})
        self.wait_received(ua, "SIP/2.0 200")
        self.wait_received(gw, "ACK")
        got = [x - y for x, y in zip(self.maskd.worker_calls(), before)]
        self.assertEqual(got, [0, 1])
        st, js, raw = self.maskd.request("DELETE", "/v1/sessions/" + s["id"])
        self.assertEqual(st, 200, raw)
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assertTrue(any(m.startswith("BYE") for m in self.received(ua)))
        self.assertTrue(any(m.startswith("BYE") for m in self.received(gw)))
        self.assert_masked(ua, gw, a, b)
        self.check_cdr(s["id"], 200, "maskd", "session_closed", True)
        m = self.maskd.metrics()
        self.assertEqual(m.get("maskd_ctl_sip_commands_lost_total"), 0, m)


    # -- worker 1 drained and resumed at run time (PATCH
    # /v1/sip/workers/1), behind the front --

    def drained_call(self, uas_sf, uac_sf, uas_d, uac_d, heard):
        """A call of a fresh session straight to worker 1, worker 1
        drained once the caller has @heard it: (session, caller run,
        callee run, the worker's view in the PATCH's answer)."""
        a, b = caller_number(), callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas(uas_sf, {"vn": vn, "callee": b}, d_ms=uas_d,
                      name="uas_" + uac_sf[:-8])
        ua = self.uac_to(self.maskd.ports[1], uac_sf, vn, {"caller": a},
                         d_ms=uac_d, name="uac_" + uac_sf[:-8])
        self.wait_received(ua, heard)
        w = set_state(self, 1, "draining")
        self.assertEqual(w["calls_live"], 1, w)
        return s, ua, gw, w, a, b

    def test_drain_and_resume(self):
        p0, p1 = self.maskd.ports
        self.addCleanup(self.maskd.request, "PATCH", "/v1/sip/workers/1",
                        {"state": "active"})
        m = self.maskd.metrics()
        refused = m.get("maskd_sip_draining_refused_total", 0)
        self.assertEqual(m.get("maskd_sip_workers_draining"), 0, m)

        # a call ringing on worker 1 when it drains: its CANCEL is still
        # served there (487 both ways)
        s, ua, gw, _, a, b = self.drained_call(
            "cancel_uas.xml", "cancel_uac.xml", 500, 2000, "SIP/2.0 180")
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b)
        self.check_cdr(s["id"], 487, "caller", "cancel", False)
        set_state(self, 1, "active")

        # a call up on worker 1 when it drains: the callee's re-INVITE
        # (after the drain: the caller has had none yet) and the BYE are
        # served to the end
        before = self.maskd.worker_calls()
        s, ua, gw, w, a, b = self.drained_call(
            "reinvite_uas.xml", "reinvite_uac.xml", 3000, 1500,
            "SIP/2.0 200")
        self.assertFalse([x for x in self.received(ua)
                          if x.startswith("INVITE")], "re-INVITE too soon")
        # meanwhile worker 1 refuses what is new: an INVITE with 503 and
        # Retry-After (stateless, before any routing), OPTIONS with 503;
        # worker 0 is as it was
        r = ask(p1, lambda ip, port: test_flood.invite(ip, port, 1))
        self.assertRegex(r, r"^SIP/2\.0 503 ")
        self.assertRegex(r, r"(?im)^Retry-After: *10\s*$")
        self.assertRegex(ask(p1, lambda ip, port: test_flood.options(
            ip, port, "w1")), r"^SIP/2\.0 503 ")
        self.assertRegex(ask(p0, lambda ip, port: test_flood.options(
            ip, port, "w0")), r"^SIP/2\.0 200 ")
        st, js, raw = self.maskd.request("GET", "/v1/sip/workers")
        self.assertEqual(st, 200, raw)
        self.assertEqual([(x["worker"], x["port"], x["state"])
                          for x in js["workers"]],
                         [(0, p0, "active"), (1, p1, "draining")], js)
        m = self.maskd.metrics()
        self.assertEqual(m.get('maskd_sip_worker_draining{worker="1"}'), 1,
                         m)
        self.assertIsNone(m.get('maskd_sip_worker_draining{worker="0"}'), m)
        self.assertEqual(m.get("maskd_sip_workers_draining"), 1, m)
        self.assertEqual(m.get("maskd_sip_draining_refused_total"),
                         refused + 1, m)
        # draining again changes nothing
        self.assertEqual(set_state(self, 1, "draining")["calls_live"], 1)
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assertTrue([x for x in self.received(ua)
                         if x.startswith("INVITE")], "no re-INVITE")
        self.assert_masked(ua, gw, a, b)
        self.check_cdr(s["id"], 200, "caller", "normal", True)
        self.assertEqual([x - y for x, y in zip(self.maskd.worker_calls(),
                                                before)], [0, 1])

        # through the front: its probes got 503 from worker 1, so every
        # new call goes to worker 0, none even tried on worker 1
        self.wait_front_up()
        sessions = self.sessions(10)
        before = self.maskd.worker_calls()
        mark = len(trace(self.front))
        self.load_through_front(sessions, "drained")
        got = self.check_spread(sessions, before, mark, [p0])
        self.assertEqual(got, [10, 0])
        self.assertEqual(
            self.maskd.metrics().get("maskd_sip_draining_refused_total"),
            refused + 1)
        st, js, raw = self.maskd.request("GET", "/v1/sip/workers/1")
        self.assertEqual(st, 200, raw)
        self.assertEqual((js["state"], js["calls_live"]), ("draining", 0),
                         js)

        # resumed: OPTIONS 200 again, the front sends it its share
        w = set_state(self, 1, "active")
        self.assertRegex(ask(p1, lambda ip, port: test_flood.options(
            ip, port, "w1b")), r"^SIP/2\.0 200 ")
        self.assertEqual(
            self.maskd.metrics().get("maskd_sip_workers_draining"), 0)
        self.wait_front_up()
        sessions = self.sessions(20)
        before = self.maskd.worker_calls()
        mark = len(trace(self.front))
        self.load_through_front(sessions, "resumed")
        got = self.check_spread(sessions, before, mark, self.maskd.ports)
        for g in got:
            # 20 Call-IDs, fewer than 2 on one worker: 1 in 25,000
            self.assertGreaterEqual(g, 2, got)

        # a call the front sends before its next probe has seen a drain:
        # worker 1's 503, and the front's failure_route sends it on to
        # worker 0. A pair nobody has (worker 0's 404 is the answer), by
        # a Call-ID the front hashes to worker 1
        cid = None
        for n in range(1000, 1040):
            c = "drain-%d-%d@front" % (os.getpid(), n)
            if self.front_invite(c, n) == [p1]:
                cid = c
                break
        self.assertIsNotNone(cid, "40 Call-IDs, none hashed to worker 1")
        refused = self.maskd.metrics().get("maskd_sip_draining_refused_total")
        for n in range(2000, 2005):
            set_state(self, 1, "draining")
            went = self.front_invite(cid, n)
            if went == [p1, p0]:
                break
            # the front's probe came first: worker 0 straight away
            self.assertEqual(went, [p0])
            set_state(self, 1, "active")
            self.wait_front_up()
        else:
            self.fail("the front probed before every INVITE (5 times)")
        self.assertEqual(
            self.maskd.metrics().get("maskd_sip_draining_refused_total"),
            refused + 1)
        set_state(self, 1, "active")
        ok, m = self.maskd.wait_zero(("maskd_sip_calls_live",
                                      "maskd_sip_dialogs_live"))
        self.assertTrue(ok, m)

    def front_invite(self, cid, n):
        """A new INVITE (test_flood's, the @n-th: its own branch and tag)
        of a pair nobody has, Call-ID @cid, through the front: 404 from a
        worker; the ports the front sent it to, in turn."""
        def build(ip, port):
            return test_flood.invite(ip, port, n).replace(
                ("cps-%s-%d@flood" % (ip, n)).encode(), cid.encode())
        mark = len(trace(self.front))
        r = ask(self.front_port, build, host=FRONT_IP)
        self.assertRegex(r, r"^SIP/2\.0 404 ")
        return [port_of(to) for kind, method, ci, to
                in trace(self.front)[mark:]
                if kind == "new" and method == "INVITE" and ci == cid]


class OneWorker(ts.SipBase):
    """Draining the only worker: allowed. A node behind a front with
    other nodes (the cluster) is drained whole before maintenance; the
    API's errors."""

    def test_drain_the_only_worker(self):
        m = self.maskd
        st, js, raw = m.request("GET", "/v1/sip/workers")
        self.assertEqual(st, 200, raw)
        self.assertEqual(js, {"workers": [{
            "worker": 0, "port": m.sip_port, "tls_port": None,
            "state": "active", "calls_live": 0, "calls_total": 0}]})
        for path in ("/v1/sip/workers/1", "/v1/sip/workers/x",
                     "/v1/sip/workers/-1", "/v1/sip/workers/00",
                     "/v1/sip/workers/+0"):
            for method, body in (("GET", None),
                                 ("PATCH", {"state": "draining"})):
                st, js, raw = m.request(method, path, body)
                self.assertEqual(st, 404, raw)
                self.assertEqual(js["error"]["code"], "not_found", js)
                self.assertIn("worker", js["error"]["message"], js)
        for body in ({}, {"state": "stopped"}, {"state": 1},
                     {"state": "draining", "worker": 0}):
            st, js, raw = m.request("PATCH", "/v1/sip/workers/0", body)
            self.assertEqual(st, 400, raw)
            self.assertEqual(js["error"]["code"], "missing_field" if not body
                             else "invalid_field", js)
            self.assertIn("worker" if "worker" in body else "state",
                          js["error"]["message"], js)
        st, js, raw = m.request("PATCH", "/v1/sip/workers/0",
                                {"state": "draining"}, token=None)
        self.assertEqual(st, 401, raw)
        self.assertEqual(m.request("GET", "/v1/sip/workers/0")[1]["state"],
                         "active")

        set_state(self, 0, "draining")
        self.assertRegex(ask(m.sip_port, lambda ip, port: test_flood.invite(
            ip, port, 2)), r"^SIP/2\.0 503 ")
        self.assertRegex(ask(m.sip_port, lambda ip, port: test_flood.options(
            ip, port, "one")), r"^SIP/2\.0 503 ")
        # a request-a-call is a new call too
        s = m.session(caller_number(), callee_number())
        st, js, raw = m.request("POST", "/v1/sessions/%s/calls" % s["id"],
                                {})
        self.assertEqual(st, 503, raw)
        self.assertEqual(js["error"]["code"], "sip_draining", js)
        self.assertEqual(m.metrics().get("maskd_sip_api_calls_total"), 0)

        set_state(self, 0, "active")
        self.assertRegex(ask(m.sip_port, lambda ip, port: test_flood.options(
            ip, port, "one-b")), r"^SIP/2\.0 200 ")
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml")
        self.check_cdr(s["id"], 200, "caller", "normal", True)


class WorkersGone(FrontBase):
    """The front's list names a third worker port with nothing behind it."""
    DEAD_PORTS = 1

    def test_gone_workers_share_moves_to_the_others(self):
        # setUp waited for two rounds of probes: the silent port had no
        # answer to them (inactive), and a call the front still sends
        # there fails over to the next worker (FRONT_FR_MS)
        sessions = self.sessions(CALLS)
        before = self.maskd.worker_calls()
        mark = len(trace(self.front))
        self.load_through_front(sessions, "gone")
        got = self.check_spread(sessions, before, mark, self.maskd.ports)
        for g in got:
            self.assertGreaterEqual(g, 3, got)


class WorkersRacMaskd(tr.RacMaskd):
    """test_rac's maskd with two SIP workers."""

    def __init__(self, tmp, port_min, port_max):
        super().__init__(tmp, port_min, port_max)
        self.ports = [self.sip_port, ts.free_port()]

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            text = f.read()
        with open(self.conf_path, "w") as f:
            f.write(text.replace("[sip]\n", "[sip]\nworkers = 2\n"
                                 "worker_ports = %d\n" % self.ports[1], 1))


class WorkersRac(tr.RacBase):

    @classmethod
    def setUpClass(cls):
        tr.ARGS = tm.ARGS = ARGS
        super().setUpClass()

    @classmethod
    def make_maskd(cls, tmp):
        lo, hi = tm.port_range(cls.N_PORTS)
        return WorkersRacMaskd(tmp, lo, hi)

    def test_api_calls_on_both_workers(self):
        # each party its own address (check_masked tells them by it)
        pairs = []
        for i in (0, 2):
            a = self.party("+1202555", tr.PARTY_IPS[i])
            b = self.party("+1303555", tr.PARTY_IPS[i + 1])
            pairs.append((self.maskd.session(a.number, b.number), a, b))
        cids = [self.post_call(s["id"], {"first": "a"})["id"]
                for s, _, _ in pairs]
        for _, a, b in pairs:
            self.wait_state(a, "up")
            self.wait_for(lambda: b.saw("ack"), "B's ACK")
        # in turn: one request-a-call on each worker, whose port the
        # parties' INVITEs came from (and their in-dialog requests go to)
        self.assertEqual({a.dialog["src"][1] for _, a, _ in pairs},
                         set(self.maskd.ports))
        for _, a, b in pairs:
            self.assertEqual(a.dialog["src"], b.dialog["src"])
        # each call's view, whichever worker has it
        for cid in cids:
            st, live = self.get_call(cid)
            self.assertEqual(st, 200, live)
            self.assertEqual((live["id"], live["status"]),
                             (cid, "connected"), live)
        # one call per session: 409 from either worker (in turn again)
        for _ in range(2):
            st, e, raw = self.maskd.request(
                "POST", "/v1/sessions/%s/calls" % pairs[0][0]["id"], {})
            self.assertEqual(st, 409, raw)
            self.assertEqual(e["error"]["code"], "call_in_progress")
        # the hang-up reaches the worker that has the call
        for cid, (s, a, b) in zip(cids, pairs):
            st, d, raw = self.maskd.request("DELETE", "/v1/calls/%s" % cid)
            self.assertEqual(st, 200, raw)
            self.wait_for(lambda: a.saw("bye") and b.saw("bye"),
                          "both BYEs")
            c = self.cdr(s["id"])
            self.assertEqual((c["id"], c["final_code"], c["hangup_by"],
                              c["reason"]), (cid, 200, "maskd",
                                             "api_hangup"), c)
        # test_rac's masking checks, per call (they take every party of
        # the test for one call's), then nothing of one call in the other
        everyone = self.parties
        try:
            for s, a, b in pairs:
                self.parties = [a, b]
                self.check_masked(s["virtual_number"])
        finally:
            self.parties = everyone
        for i, (_, a, b) in enumerate(pairs):
            _, c, d = pairs[1 - i]
            for m in a.received + b.received:
                for bad in (c.number, d.number, c.ip, d.ip):
                    self.assertNotIn(bad.lstrip("+"), m.raw, m.raw)
        self.check_clean()
        st, js, raw = self.maskd.request("GET", "/v1/calls/%s" % ("0" * 32))
        self.assertIn(st, (400, 404), raw)


class WorkersTls(unittest.TestCase):
    """maskd with TLS and two workers; no call, only the transports."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-workers-tls-")
        cls.pki = test_tls.Pki(cls.tmp)
        cls.tmpdir = os.path.join(cls.tmp, "maskd-tmp")
        os.makedirs(cls.tmpdir)
        conf = os.path.join(cls.tmp, "openssl-weak.cnf")
        with open(conf, "w") as f:
            f.write(test_tls.WEAK_OPENSSL_CONF)
        cls.ports = [ts.free_port()]
        cls.tls_ports = [ts.free_port(), ts.free_port()]
        cls.maskd = test_tls.TlsMaskd(
            cls.tmp, cls.pki, cls.tmpdir, conf,
            "workers = 2\nworker_ports = %d\nworker_tls_ports = %d\n"
            % (cls.ports[0], cls.tls_ports[1]))
        cls.maskd.tls_port = cls.tls_ports[0]
        cls.maskd.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.maskd.stop()
        rep = cls.maskd.sanitizer_report()
        if rc != 0 or rep:
            raise AssertionError("maskd exit %s\n%s\n%s"
                                 % (rc, rep or "", cls.maskd.diagnostics()))
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def options(self, port):
        """An OPTIONS over TLS from the trunk's address (TlsMaskd's:
        127.0.0.1) to @port: the status line of the answer."""
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.crt"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            lport = t.getsockname()[1]
            t.sendall(("OPTIONS sip:127.0.0.1:%d;transport=tls SIP/2.0\r\n"
                       "Via: SIP/2.0/TLS %s:%d;branch=z9hG4bK-w%d\r\n"
                       "From: <sip:probe@%s>;tag=w%d\r\n"
                       "To: <sip:127.0.0.1:%d>\r\n"
                       "Call-ID: workers-tls-%d@%s\r\nCSeq: 1 OPTIONS\r\n"
                       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                       % (port, "127.0.0.1", lport, port, "127.0.0.1",
                          port, port, port, "127.0.0.1")).encode())
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = t.recv(4096)
                if not chunk:
                    break
                got += chunk
        return got.decode("utf-8", "replace").split("\r\n", 1)[0]

    def test_options_over_tls_on_each_worker(self):
        for port in self.tls_ports:
            self.assertEqual(self.options(port), "SIP/2.0 200 OK",
                             self.maskd.diagnostics())
        # sofia read the key when each worker made its TLS transport;
        # no copy stays on disk after start-up
        self.assertEqual(os.listdir(self.tmpdir), [])
        log = ts.read_text(self.maskd.log_path)
        self.assertIn("sip: worker 1 listening on 127.0.0.1:%d (tls)"
                      % self.tls_ports[1], log)


if __name__ == "__main__":
    ts.main(globals())
