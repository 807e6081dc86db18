#!/usr/bin/env python3
"""test_workers_calls.py - calls that leave the SIP thread and come back,
on worker 1 of a maskd's two SIP workers (issue 14, part 4): another
thread's answer carries a token whose top bits name the worker
(SIP_WORKER_SHIFT), and it must come back through that worker's command
queue, not worker 0's.

WorkersHook, WorkersPin, WorkersMiss: test_hook's, test_pin's and
test_cluster_nodes' own calls, with their checks, landing on worker 1 of
two: a hook `connect` and an `allow`, a PIN call (prompt, RFC 4733
digits, the party called), and a cluster node's cache miss (PostgreSQL
asked, the parked INVITE routed).

Each class is another suite's own harness and checks (test_hook.py,
test_pin.py, test_cluster_nodes.py) with OnWorker1 mixed in: its callers
dial worker 1 and the per-worker metric says where each call ran. Split
from test_workers.py, whose harness (uac_at) this one uses.

Run by ctest as:
    python3 tests/sip/test_workers_calls.py --maskd /path/to/maskd \
        --source-dir /repo
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_sip as ts  # noqa: E402
from test_sip import caller_number, callee_number  # noqa: E402
import test_media as tm  # noqa: E402
import test_pin as tp  # noqa: E402  (PinBase: PIN calls, their checks)
import test_workers as tw  # noqa: E402  (uac_at: a caller to one worker)
sys.path.insert(0, os.path.join(HERE, "..", "ctl"))
import test_hook as th  # noqa: E402  (HookBase: the hook server)
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
import test_cluster_nodes as tcn  # noqa: E402  (ClusterBase: PostgreSQL)

ARGS = None


class OnWorker1:
    """Mixed in before another suite's base class: its callers
    (SipBase.uac) call worker 1 of its maskd's two workers
    (worker1_port)."""
    worker1_port = None

    def uac(self, scenario, vn, keys, d_ms=500, ip=ts.A_IP, name="uac",
            extra=()):
        return tw.uac_at(self, self.worker1_port, scenario, vn, keys, d_ms,
                      name, ip, extra)

    def worker_calls(self):
        m = self.maskd.metrics()
        return [int(m.get('maskd_sip_worker_calls_total{worker="%d"}' % i,
                          0)) for i in (0, 1)]


class TwoWorkersSip(ts.SipBase):
    """SipBase whose maskd has a second worker: its [sip] lines are
    added in front of what the suite put into sip_extra (a suite's
    setUpClass writes it, then calls this one through super())."""

    @classmethod
    def setUpClass(cls):
        cls.worker1_port = ts.free_port()
        cls.sip_extra = ("workers = 2\nworker_ports = %d\n"
                         % cls.worker1_port) + cls.sip_extra
        super().setUpClass()


class WorkersHook(OnWorker1, th.HookBase, TwoWorkersSip):
    """test_hook's routing hook with calls landing on worker 1: the
    hook's question leaves from worker 1, and its answer (a token with
    worker 1's index in its top bits) must come back through worker 1's
    command queue - one that went to worker 0 would find no parked
    INVITE, and on_error = reject would refuse the call."""
    route = "always"
    on_error = "reject"

    def test_connect_and_allow_on_worker_1(self):
        lost = self.metric("maskd_sip_hook_lost_total")
        # connect: no session, the hook names the callee
        vn = self.pool_number()
        caller, callee = ts.caller_number(), ts.callee_number()
        self.hook.answer = th.decide({"action": "connect", "to": callee})
        before = self.worker_calls()
        self.connect(caller, callee, vn)
        self.assertEqual(len(self.hook.asked(caller)), 1)
        self.assertEqual([x - y for x, y in zip(self.worker_calls(),
                                                before)], [0, 1])
        # allow: the session's other party
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        self.hook.answer = th.decide({"action": "allow"})
        before = self.worker_calls()
        self.connect(a, b, s["virtual_number"])
        req = self.hook.asked(a)
        self.assertEqual(len(req), 1, req)
        self.assertEqual(req[0]["data"]["session_id"], s["id"])
        self.assertEqual([x - y for x, y in zip(self.worker_calls(),
                                                before)], [0, 1])
        calls = self.wait_cdrs(s["id"], 1)
        self.assertEqual((calls[0]["final_code"], calls[0]["hook"]["action"]),
                         (200, "allow"), calls)
        self.assertEqual(self.metric("maskd_sip_hook_lost_total"), lost)
        ok, m = self.maskd.wait_zero(th.LIVE)
        self.assertTrue(ok, m)


class WorkersPin(OnWorker1, tp.PinBase):
    """test_pin's PIN call on worker 1: the prompt's end and every DTMF
    digit come from the relay's workers through worker 1's queue (the
    call's relay cookie names it), and worker 1 calls the party."""

    @classmethod
    def make_maskd(cls, tmp):
        # test_pin checks that no log line holds a PIN, and the worker's
        # port is logged: one that reads like a PIN would fail it
        cls.worker1_port = ts.free_port()
        while any(p in str(cls.worker1_port)
                  for p in (tp.PIN_A, tp.PIN_B, tp.WRONG)):
            cls.worker1_port = ts.free_port()
        cls.SIP_LINES = tp.PinBase.SIP_LINES + (
            "workers = 2\nworker_ports = %d\n" % cls.worker1_port)
        return super().make_maskd(tmp)

    @classmethod
    def setUpClass(cls):
        tp.ARGS = tm.ARGS = ARGS
        super().setUpClass()

    def check_clean(self):
        """test_announce's, without waiting out nta's transactions: a
        finished server transaction lingers 64*T1 (32 s) in nta, not a
        leak (test_hook's LIVE leaves it out too); test_pin waits for it
        on one worker."""
        ok, m = self.maskd.wait_zero(th.LIVE)
        self.assertTrue(ok, m)
        self.wait_pool_full()

    def test_pin_call_on_worker_1(self):
        before = self.worker_calls()
        self.right_pin(tp.PIN_A, True, tp.rfc4733)
        got = [x - y for x, y in zip(self.worker_calls(), before)]
        self.assertEqual(got[0], 0, got)
        self.assertGreaterEqual(got[1], 1, got)


class WorkersMiss(OnWorker1, tcn.ClusterBase):
    """test_cluster_nodes' cache miss on a cluster node of two workers,
    the INVITE on worker 1: its question goes to the control thread,
    PostgreSQL is asked, and the answer (a token naming worker 1) must
    come back through worker 1's queue to route the parked INVITE."""
    N_NODES = 1

    @classmethod
    def setUpClass(cls):
        cls.worker1_port = ts.free_port()
        cls.SIP_EXTRA = "workers = 2\nworker_ports = %d\n" % cls.worker1_port
        super().setUpClass()

    def test_cache_miss_on_worker_1(self):
        node = self.nodes[0]
        vn = ts.vn_number()
        self.pool_add(vn)
        a, b = caller_number(), callee_number()
        sid = self.session_in_pg_only(a, b, vn)
        before, calls = node.metrics(), self.worker_calls()
        self.call(node, vn, a, b)
        after = node.metrics()
        self.assertEqual(after["maskd_sip_cache_miss_found_total"] -
                         before.get("maskd_sip_cache_miss_found_total", 0),
                         1, after)
        self.assertEqual(after.get("maskd_sip_cache_miss_lost_total", 0),
                         before.get("maskd_sip_cache_miss_lost_total", 0))
        self.assertEqual([x - y for x, y in zip(self.worker_calls(), calls)],
                         [0, 1])
        st, js, raw = node.request("GET", "/v1/sessions/%s" % sid)
        self.assertEqual(st, 200, raw)
        self.assertEqual(js["status"], "active")


if __name__ == "__main__":
    ts.main(globals())
