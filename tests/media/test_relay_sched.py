#!/usr/bin/env python3
"""test_relay_sched.py - [rtp] realtime_priority (src/media/relay_sched.c)
on a running maskd.

Run by ctest as:
    python3 tests/media/test_relay_sched.py --maskd /path/to/maskd --source-dir /repo

A real maskd with two relay workers (test_media.py's MediaMaskd); every
thread of it is looked at in /proc/PID/task: the relay workers
(maskd-rtp0, maskd-rtp1) must run at SCHED_RR with the configured
priority, every other thread (main, SIP, control, writer, ...) at
SCHED_OTHER, and /metrics' maskd_relay_workers_realtime must say how many
workers got it. Cases: the default (10), off (0), and a maskd that may not
raise priorities - started through setpriv without CAP_SYS_NICE and with
RLIMIT_RTPRIO 0 - which logs one warning, runs every worker at normal
priority and still relays a call's ports (it answers and its pool is
whole). The first case needs CAP_SYS_NICE (root): without it it is
skipped, saying so; the refusal case runs anywhere setpriv does.

Python 3 standard library only; loopback only; bounded waits.
"""
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sip"))
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402

WORKER_PREFIX = "maskd-rtp"
DEFAULT_PRIORITY = 10     # conf/maskd.conf: [rtp] realtime_priority


def can_raise_priority():
    """Whether this process could raise a thread to SCHED_RR 1: what a
    maskd started from it inherits."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
    except PermissionError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


class SchedMaskd(tm.MediaMaskd):
    """MediaMaskd (two workers) with @rt_lines in [rtp] and @wrapper
    before its command."""

    def __init__(self, tmp, rt_lines="", wrapper=()):
        lo, hi = tm.port_range(16)
        super().__init__(tmp, lo, hi)
        self.rt_lines = rt_lines
        self.WRAPPER = tuple(wrapper)

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            text = f.read()
        text = text.replace("[rtp]\n", "[rtp]\n" + self.rt_lines, 1)
        with open(self.conf_path, "w") as f:
            f.write(text)

    def threads(self):
        """{tid: (name, policy, priority)} of every thread of maskd."""
        out = {}
        base = "/proc/%d/task" % self.proc.pid
        for tid in os.listdir(base):
            try:
                with open(os.path.join(base, tid, "comm")) as f:
                    name = f.read().strip()
                pol = os.sched_getscheduler(int(tid))
                prio = os.sched_getparam(int(tid)).sched_priority
            except (FileNotFoundError, ProcessLookupError):
                continue        # a thread that ended meanwhile
            out[int(tid)] = (name, pol, prio)
        return out


class RelaySched(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="maskd-sched-")
        self.maskd = None

    def tearDown(self):
        if self.maskd:
            rc = self.maskd.stop()
            self.assertEqual(rc, 0, self.maskd.diagnostics())
            rep = self.maskd.sanitizer_report()
            self.assertIsNone(rep, rep)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, rt_lines="", wrapper=()):
        self.maskd = SchedMaskd(self.tmp, rt_lines, wrapper).start()
        return self.maskd

    def check_threads(self, want_rr):
        """Workers at SCHED_RR @want_rr (0: at SCHED_OTHER), every
        other thread at SCHED_OTHER; returns the workers' count."""
        ths = self.maskd.threads()
        workers = [t for t in ths.values()
                   if t[0].startswith(WORKER_PREFIX)]
        others = [t for t in ths.values()
                  if not t[0].startswith(WORKER_PREFIX)]
        self.assertEqual(len(workers), 2, ths)
        self.assertTrue(others, ths)
        for name, pol, prio in workers:
            if want_rr:
                self.assertEqual(pol, os.SCHED_RR, (name, ths))
                self.assertEqual(prio, want_rr, (name, ths))
            else:
                self.assertEqual(pol, os.SCHED_OTHER, (name, ths))
        for name, pol, prio in others:
            # the SIP and control threads never compete with the media
            self.assertEqual(pol, os.SCHED_OTHER, (name, ths))
            self.assertEqual(prio, 0, (name, ths))
        return len(workers)

    def metric(self, name):
        return self.maskd.metrics().get(name)

    def log_lines(self, text):
        return [line for line in ts.read_text(self.maskd.log_path)
                .splitlines() if text in line]

    def test_default_workers_at_rr(self):
        if not can_raise_priority():
            self.skipTest("no CAP_SYS_NICE here: cannot check that the "
                          "priority is applied")
        self.start()
        self.check_threads(DEFAULT_PRIORITY)
        self.assertEqual(self.metric("maskd_relay_workers_realtime"), 2)
        self.assertEqual(self.metric("maskd_relay_workers"), 2)
        self.assertEqual(len(self.log_lines(
            "2 workers at SCHED_RR priority %d" % DEFAULT_PRIORITY)), 1)
        self.assertEqual(self.log_lines("not applied"), [])

    def test_other_priority(self):
        if not can_raise_priority():
            self.skipTest("no CAP_SYS_NICE here")
        self.start("realtime_priority = 3\n")
        self.check_threads(3)
        self.assertEqual(self.metric("maskd_relay_workers_realtime"), 2)

    def test_off(self):
        self.start("realtime_priority = 0\n")
        self.check_threads(0)
        self.assertEqual(self.metric("maskd_relay_workers_realtime"), 0)
        self.assertEqual(self.log_lines("SCHED_RR"), [])
        self.assertEqual(self.log_lines("not applied"), [])

    def test_eperm_falls_back(self):
        setpriv, prlimit = shutil.which("setpriv"), shutil.which("prlimit")
        if not setpriv or not prlimit:
            self.skipTest("setpriv and prlimit (util-linux) needed")
        # no CAP_SYS_NICE (bounding and inheritable sets, so root loses
        # it too at exec) and no RLIMIT_RTPRIO: pthread_setschedparam()
        # must fail with EPERM
        self.start(wrapper=(prlimit, "--rtprio=0", setpriv,
                            "--inh-caps=-sys_nice",
                            "--bounding-set=-sys_nice"))
        with open("/proc/%d/status" % self.maskd.proc.pid) as f:
            status = f.read()
        eff = [int(line.split()[1], 16) for line in status.splitlines()
               if line.startswith("CapEff:")][0]
        self.assertFalse(eff & (1 << 23), "CAP_SYS_NICE still effective")
        self.check_threads(0)
        self.assertEqual(self.metric("maskd_relay_workers_realtime"), 0)
        warned = self.log_lines("realtime_priority %d not applied (EPERM"
                                % DEFAULT_PRIORITY)
        self.assertEqual(len(warned), 1, warned)
        self.assertIn("WARN", warned[0])
        # and it runs: the API answers, the relay's pool is whole
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                self.metric("maskd_relay_ports_free") != \
                self.metric("maskd_relay_ports_total"):
            time.sleep(0.1)
        self.assertEqual(self.metric("maskd_relay_ports_free"),
                         self.metric("maskd_relay_ports_total"))
        self.assertGreater(self.metric("maskd_relay_ports_total"), 0)


if __name__ == "__main__":
    ts.main(globals(), tools=())
