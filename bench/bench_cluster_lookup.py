#!/usr/bin/env python3
"""bench_cluster_lookup.py - what a call costs on a cluster node whose
sessions are in its LMDB cache, next to a single-node maskd (LMDB only),
in one run, interleaved; and once, the cache-miss path.

    python3 bench/bench_cluster_lookup.py [--maskd build/maskd]
        [--rates 100,400] [--secs 10] [--call-ms 1000] [--sessions 1000]
        [--rounds 2] [--probes 40]

Starts its own PostgreSQL (tests/cluster/pg.py), two cluster nodes (A,
B: test_cluster_nodes.ClusterMaskd) and one single-node maskd (S); every
maskd at log level warn, the same relay range size, one SIPp UAS each.
S gets SESSIONS sessions through its API; the same number is created
through B's API and routed by A once A's feed put them in its cache
(each is read back through A's API, which reads the cache).
Then, for every rate and round, SIPp (bench/sipp/uac.xml, calls of
CALL_MS, -trace_rtt, bounded: RATE * SECS calls) calls S, then A, with
the same injection file shape. Per run, per successful call:
  - SIP thread CPU (schedstat of maskd-sip: ns on CPU) and its run delay
    (runnable but not running: the box's load, not maskd's work);
  - all threads' CPU (every task's schedstat);
  - PostgreSQL's CPU (every process of the server; cluster runs only:
    the claims, feed polls and sweeps a call causes);
  - INVITE -> 200 p50/p99 at the SIPp caller (1 ms resolution);
  - failed calls.
Last, the cache-miss path: PROBES sessions created through B, each
followed at once by one INVITE to A from a small UDP client here (the
microsecond clock, INVITE -> 200), interleaved with INVITEs for sessions
A's cache had all along. A's maskd_sip_cache_misses_total says which
probes were misses: a fast feed can beat the INVITE.

Numbers depend on the machine (here: 2 cores shared with other builds);
quote them with the command and the load printed.
"""
import argparse
import concurrent.futures
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
sys.path.insert(0, os.path.join(ROOT, "tests", "sip"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402  (port_range)
import test_soak  # noqa: E402  (Sipp: a bounded run)
from test_cluster_nodes import ClusterMaskd  # noqa: E402
from pg import Postgres  # noqa: E402
from bench_cluster import pg_cpu_s, pg_wal  # noqa: E402

SIPP = os.path.join(ROOT, "bench", "sipp")
RTP_PORTS = 2400        # 4 ports a call: 600 calls up at once


def quiet(conf_path):
    """A bench measures calls, not the debug log."""
    with open(conf_path) as f:
        conf = f.read()
    conf = conf.replace("level = debug", "level = warn")
    conf = conf.replace("map_size = 64M", "map_size = 1G")
    with open(conf_path, "w") as f:
        f.write(conf)


class SingleMaskd(ts.Maskd):
    """Single-node: LMDB only; the relay range as big as the node's."""

    def write_config(self):
        super().write_config()
        tm.own_rtp_range(self, RTP_PORTS)
        quiet(self.conf_path)


class NodeMaskd(ClusterMaskd):
    RTP_PORTS = RTP_PORTS

    def write_config(self):
        super().write_config()
        quiet(self.conf_path)


def tasks(pid):
    """{tid: (comm, ns on CPU, ns runnable waiting)} of process pid."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
            with open("%s/%s/schedstat" % (base, tid)) as f:
                run, wait, _ = f.read().split()
        except OSError:
            continue
        out[tid] = (comm, int(run), int(wait))
    return out


def cpu_delta(t0, t1):
    """(SIP thread ns, its run delay ns, all threads ns, {comm: ns} of
    the others) from t0 to t1. A thread that exited meanwhile is not
    counted (maskd's threads live as long as it does)."""
    sip = delay = total = 0
    other = {}
    for tid, (comm, run, wait) in t1.items():
        r0, w0 = t0.get(tid, (comm, 0, 0))[1:]
        total += run - r0
        if comm == "maskd-sip":
            sip += run - r0
            delay += wait - w0
        else:
            other[comm] = other.get(comm, 0) + run - r0
    return sip, delay, total, other


def rtts(d):
    """INVITE -> 200 times (ms) of the SIPp run in @d (-trace_rtt:
    Date;response time;rtd number), sorted."""
    out = []
    for f in os.listdir(d):
        if f.endswith("_rtt.csv"):
            with open(os.path.join(d, f)) as fh:
                for line in fh.read().splitlines()[1:]:
                    p = line.split(";")
                    if len(p) >= 3 and p[2].strip() == "1":
                        out.append(float(p[1]))
    return sorted(out)


def pg_tx(pg):
    """(transactions committed in the maskd database - read-only ones
    too: feed polls, sweeps -, WAL records, WAL flushes) so far."""
    c = int(pg.psql("SELECT xact_commit FROM pg_stat_database "
                    "WHERE datname = current_database()")[0][0])
    return (c,) + pg_wal(pg, "maskd")


def pct(vals, q):
    return vals[min(len(vals) - 1, int(len(vals) * q))] if vals else -1


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def make_sessions(m, n, base, check=None):
    """@n sessions through @m's API (parties from @base); with @check
    (another node), wait until each reads back through it. Returns the
    injection lines (caller;vn;)."""
    def one(i):
        a, b = "+1%010d" % (base + i), "+1%010d" % (base + 500000 + i)
        st, js, raw = m.request("POST", "/v1/sessions",
                                {"party_a": a, "party_b": b,
                                 "ttl": 86400})
        if st != 201:
            raise SystemExit("create: %d %r" % (st, raw))
        if check:
            deadline = time.monotonic() + 30
            while check.request("GET", "/v1/sessions/%s"
                                % js["id"])[0] != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("not in the cache: %s" % js["id"])
                time.sleep(0.05)
        return "%s;%s;" % (a, js["virtual_number"])
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(one, range(n)))


def run_calls(tmp, name, m, inf, rate, secs, call_ms, pg, perf=False):
    calls = rate * secs
    # a directory per run: SIPp names its -trace_rtt file after the
    # scenario
    d = os.path.join(tmp, name)
    os.makedirs(d)
    t0 = tasks(m.proc.pid)
    pg0 = pg_cpu_s(pg) if pg else 0
    tx0 = pg_tx(pg) if pg else (0, 0, 0)
    up0 = load()
    uac = test_soak.Sipp(d, "uac",
                         ["-sf", os.path.join(SIPP, "uac.xml"),
                          "-i", ts.A_IP,
                          "-p", str(ts.free_port(host=ts.A_IP)),
                          "-mi", ts.A_MEDIA_IP, "-inf", inf,
                          "-r", str(rate), "-rp", "1000",
                          "-l", str(rate * 10), "-m", str(calls),
                          "-d", str(call_ms),
                          "-trace_rtt", "-rtt_freq", "1",
                          "127.0.0.1:%d" % m.sip_port])
    prof = subprocess.Popen(
        ["perf", "record", "-g", "-o", os.path.join(d, "perf.data"), "-p",
         str(m.proc.pid), "--", "sleep", str(secs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL) if perf else None
    rc = uac.wait(secs * 3 + 60)
    if prof:
        prof.wait()
        print("perf: perf report -i %s" % os.path.join(d, "perf.data"))
    # calls still ending in maskd (the last BYEs) are part of the cost
    m.wait_zero(timeout=30)
    t1 = tasks(m.proc.pid)
    pg1 = pg_cpu_s(pg) if pg else 0
    tx1 = pg_tx(pg) if pg else (0, 0, 0)
    st = uac.stats()
    ok = int(st.get("SuccessfulCall(C)", 0))
    bad = int(st.get("FailedCall(C)", 0))
    sip, delay, total, other = cpu_delta(t0, t1)
    n = max(ok, 1)
    r = rtts(d)
    print("%-16s %4d/s %5d ok %4d failed  SIP thread %4.0f us/call "
          "(run delay %4.0f)  all threads %4.0f us/call  %s"
          "INVITE->200 p50 %s p99 %s ms  load %s -> %s%s"
          % (name, rate, ok, bad, sip / n / 1e3, delay / n / 1e3,
             total / n / 1e3,
             "PostgreSQL %4.0f us/call  " % ((pg1 - pg0) / n * 1e6)
             if pg else "", pct(r, 0.5), pct(r, 0.99), up0, load(),
             "" if rc == 0 else "  (sipp: %s)" % rc), flush=True)
    if pg:
        print("%-16s PostgreSQL per call: %.1f commits, %.1f WAL records, "
              "%.2f WAL flushes" % ("", (tx1[0] - tx0[0]) / n,
                                    (tx1[1] - tx0[1]) / n,
                                    (tx1[2] - tx0[2]) / n))
    print("%-16s other threads, us/call: %s" % ("", ", ".join(
        "%s %.0f" % (k, v / n / 1e3) for k, v in
        sorted(other.items(), key=lambda x: -x[1]) if v / n >= 5e3)))
    return sip / n, total / n


class Uac:
    """One INVITE at a time from A_IP: INVITE -> 200 with the monotonic
    clock in microseconds, then ACK and BYE."""

    def __init__(self, target):
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ts.A_IP, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(5)

    def _msg(self, first, hdrs, body=b""):
        lines = [first] + hdrs + ["Content-Length: %d" % len(body), "", ""]
        return "\r\n".join(lines).encode() + body

    def _recv(self, call_id, deadline):
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data, _ = self.sock.recvfrom(65535)
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            lines = head.split("\r\n")
            h = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                h.setdefault(k.strip().lower(), v.strip())
            if h.get("call-id", h.get("i")) == call_id:
                return lines[0], h

    def call(self, caller, vn):
        """INVITE -> final response time (us) and its code; ends the
        call (ACK, BYE) when it was answered."""
        me = "%s:%d" % (ts.A_IP, self.port)
        cid = "%x@bench" % random.getrandbits(64)
        tag = "%x" % random.getrandbits(32)
        ruri = "sip:%s@%s" % (vn, self.target)
        frm = "From: <sip:%s@%s>;tag=%s" % (caller, me, tag)
        sdp = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
               "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
               % (ts.A_MEDIA_IP, ts.A_MEDIA_IP)).encode()
        dst = self.target.split(":")
        dst = (dst[0], int(dst[1]))

        def br():
            return "z9hG4bK%x" % random.getrandbits(48)
        inv_branch = br()
        inv = self._msg("INVITE %s SIP/2.0" % ruri, [
            "Via: SIP/2.0/UDP %s;branch=%s" % (me, inv_branch), frm,
            "To: <sip:%s@%s>" % (vn, self.target), "Call-ID: " + cid,
            "CSeq: 1 INVITE", "Contact: <sip:%s@%s>" % (caller, me),
            "Max-Forwards: 70", "Content-Type: application/sdp"], sdp)
        t0 = time.monotonic_ns()
        self.sock.sendto(inv, dst)
        deadline = time.monotonic() + 10
        while True:
            first, h = self._recv(cid, deadline)
            code = int(first.split()[1])
            if code >= 200 and h.get("cseq", "").endswith("INVITE"):
                us = (time.monotonic_ns() - t0) / 1e3
                break
        to = h.get("to", h.get("t"))
        if code >= 300:
            self.sock.sendto(self._msg("ACK %s SIP/2.0" % ruri, [
                "Via: SIP/2.0/UDP %s;branch=%s" % (me, inv_branch), frm,
                "To: " + to, "Call-ID: " + cid, "CSeq: 1 ACK",
                "Max-Forwards: 70"]), dst)
            return us, code
        contact = h.get("contact", h.get("m", "")).strip("<>").split(">")[0]
        nxt = contact or ruri
        common = [frm, "To: " + to, "Call-ID: " + cid, "Max-Forwards: 70"]
        self.sock.sendto(self._msg("ACK %s SIP/2.0" % nxt, [
            "Via: SIP/2.0/UDP %s;branch=%s" % (me, br())] + common +
            ["CSeq: 1 ACK"]), dst)
        self.sock.sendto(self._msg("BYE %s SIP/2.0" % nxt, [
            "Via: SIP/2.0/UDP %s;branch=%s" % (me, br())] + common +
            ["CSeq: 2 BYE"]), dst)
        deadline = time.monotonic() + 10
        while True:
            first, h = self._recv(cid, deadline)
            if h.get("cseq", "").endswith("BYE"):
                return us, code


def miss_probes(a, b, inf_hits, n):
    """@n sessions made through B, each called through A at once; and
    as many calls of sessions A's cache had all along, interleaved."""
    uac = Uac("127.0.0.1:%d" % a.sip_port)
    miss, fast, hit = [], [], []
    for i in range(n):
        caller, vn = inf_hits[i].split(";")[:2]
        us, code = uac.call(caller, vn)
        if code == 200:
            hit.append(us)
        pa, pb = "+1%010d" % (7000000 + i), "+1%010d" % (7500000 + i)
        # read before the create: nothing between its answer and the
        # INVITE but this process's own turn
        m0 = a.metrics().get("maskd_sip_cache_misses_total", 0)
        st, js, raw = b.request("POST", "/v1/sessions",
                                {"party_a": pa, "party_b": pb})
        if st != 201:
            raise SystemExit("create on B: %d %r" % (st, raw))
        us, code = uac.call(pa, js["virtual_number"])
        m1 = a.metrics().get("maskd_sip_cache_misses_total", 0)
        if code != 200:
            print("  probe %d: %d" % (i, code))
            continue
        (miss if m1 > m0 else fast).append(us)
    for name, v in (("cache hit", hit), ("miss (asked PostgreSQL)", miss),
                    ("fresh, feed came first", fast)):
        v.sort()
        print("  %-24s %3d calls  INVITE->200 p50 %6.0f us  p99 %6.0f us  "
              "max %6.0f us" % (name, len(v), pct(v, 0.5), pct(v, 0.99),
                                v[-1] if v else -1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", default=os.path.join(ROOT, "build", "maskd"))
    ap.add_argument("--rates", default="100,400")
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--call-ms", type=int, default=1000)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--probes", type=int, default=40)
    ap.add_argument("--perf", action="store_true",
                    help="perf record -g on each maskd over its last run "
                    "(perf.data in that run's directory)")
    a = ap.parse_args()
    ts.ARGS = argparse.Namespace(maskd=os.path.abspath(a.maskd),
                                 source_dir=ROOT)
    tmp = tempfile.mkdtemp(prefix="maskd-bench-lookup-")
    started, uases = [], []
    with Postgres() as pg:
        try:
            single = SingleMaskd(os.path.join(tmp, "s"))
            node_a = NodeMaskd(os.path.join(tmp, "a"), pg.dsn, "bench-a")
            node_b = NodeMaskd(os.path.join(tmp, "b"), pg.dsn, "bench-b")
            for m in (single, node_a, node_b):
                started.append(m.start())
            # a pool as big on both sides: sessions spread the same way
            # (a node answers 503 until its connections are up)
            pool = max(50, a.sessions // 10)
            deadline = time.monotonic() + 30
            for i in range(pool):
                for m in (single, node_b):
                    while True:
                        st, _, raw = m.request("POST", "/v1/numbers", {
                            "number": "+1800%07d" % i, "country": "US"})
                        if st == 201:
                            break
                        if st != 503 or time.monotonic() > deadline:
                            sys.exit("add number: %d %r" % (st, raw))
                        time.sleep(0.2)
            inf_s = make_sessions(single, a.sessions, 2000000)
            inf_a = make_sessions(node_b, a.sessions, 4000000, node_a)
            for name, m in (("s", single), ("a", node_a)):
                uases.append(test_soak.Sipp(tmp, "uas_" + name, [
                    "-sf", os.path.join(SIPP, "uas.xml"), "-i", ts.GW_IP,
                    "-p", str(m.gw_port), "-mi", ts.GW_MEDIA_IP]))
                ts.wait_listening(ts.GW_IP, m.gw_port)
            files = {}
            for name, lines in (("single", inf_s), ("cluster", inf_a)):
                files[name] = os.path.join(tmp, name + ".csv")
                with open(files[name], "w") as f:
                    f.write("SEQUENTIAL\n" + "\n".join(lines) + "\n")
            print("%d sessions each, calls of %d ms, %d s a run; load %s"
                  % (a.sessions, a.call_ms, a.secs, load()), flush=True)
            rates = [int(x) for x in a.rates.split(",")]
            for rate in rates:
                for rnd in range(a.rounds):
                    for name, m, p in (("single", single, None),
                                       ("cluster", node_a, pg)):
                        run_calls(tmp, "%s_%d_%d" % (name, rate, rnd), m,
                                  files[name], rate, a.secs, a.call_ms, p,
                                  a.perf and rate == rates[-1] and
                                  rnd == a.rounds - 1)
                        time.sleep(1)
            print("cache-miss path (A; sessions made through B just "
                  "before): load %s" % load(), flush=True)
            if a.probes:
                miss_probes(node_a, node_b, inf_a, a.probes)
        finally:
            for u in uases:
                u.kill()
            for m in started:
                m.stop()
    print("load at the end: %s; work directory %s" % (load(), tmp))


if __name__ == "__main__":
    main()
