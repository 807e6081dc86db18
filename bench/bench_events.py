#!/usr/bin/env python3
"""bench_events.py - what events (webhooks) cost maskd, on loopback.

Three measurements, each against a fresh maskd (build/maskd, [log] level
= warn) and a local receiver: bench/bench_recv (C, epoll) when built,
answering 200 at once, or this script in --receiver mode (asyncio
protocols; the only one for the slow receiver, answering after --slow-s
seconds); --receivers processes (2) share one port by SO_REUSEPORT.
HTTP/1.1 keep-alive. One Python process took more CPU per event than
maskd, and set the pace of the throughput figure on a shared box.

 1. delivery throughput: a backlog of N session.created events (N
    sessions created through the API while the receiver stalls every
    request, so they all wait in the outbox), then maskd restarted with
    the receiver quick: events delivered per second, each outcome
    committed durably (group commit) before the next of its session;
    target >= 5,000/s.
 2. CPU per call: SIPp (bench/sipp/uac.xml -> maskd -> uas.xml, calls
    over many sessions by a -inf file) at --rate calls/s for --secs,
    events off, then on ([events] url to the quick receiver; each call
    makes call.initiated, ringing, answered and completed): maskd's
    utime+stime (/proc/PID/stat, all threads) per call; target <= +15%.
    --rounds N repeats the pair N times (off on, on off, ...) and
    compares the medians: the SIP thread's CPU alone varies by more
    than 15% between identical runs on a shared box. Then the floor:
    what four POSTs a call cost a sender with nothing else to do
    (bench/bench_post, raw sockets and libcurl, 16 in flight, against
    the same receiver), as a share of the same "off" figure.
 3. setup latency with a receiver that takes --slow-s (20 s) per
    request: SIPp at --slow-rate (100) calls/s, INVITE -> 200 response
    times from SIPp's -trace_rtt, p50/p99 with events off vs on.

Usage (from the project root; every run bounded):
    python3 bench/bench_events.py [--maskd build/maskd] [--backlog N]
        [--rate R] [--secs S] [--rounds N] [--slow-rate R] [--slow-secs S]
        [--slow-s S] [--only 1,2,3] [--keep]

The machine's cores are shared by maskd, both SIPps and the receiver:
quote figures with the command and the box. Never run by ctest.
"""
import argparse
import asyncio
import concurrent.futures
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UAC = os.path.join(SRC, "bench", "sipp", "uac.xml")
UAS = os.path.join(SRC, "bench", "sipp", "uas.xml")
A_IP, GW_IP = "127.0.0.2", "127.0.0.3"
TOKEN = "bench-token-000001"
SECRET = "whsec_YmVuY2ggZXZlbnRzIGtleSAwMTIz"
TCK = os.sysconf("SC_CLK_TCK")
RECEIVER_PROCS = 2      # --receivers
RECEIVER_BIN = None     # --receiver-bin


# ---- the receiver (a child process) -------------------------------------

def receiver_main(port, slow_s, count_path):
    """Answer every POST 200 after @slow_s seconds (0: at once), with
    keep-alive; write the count of requests answered to @count_path
    every 0.2 s. A bare asyncio.Protocol (no streams) on a SO_REUSEPORT
    socket: several of these processes share the port, so the receiver
    is not what a throughput figure measures."""
    state = {"n": 0}
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    class Conn(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""
            self.need = -1          # body bytes still to come; -1: head

        def data_received(self, data):
            self.buf += data
            while True:
                if self.need < 0:
                    i = self.buf.find(b"\r\n\r\n")
                    if i < 0:
                        return
                    head, self.buf = self.buf[:i], self.buf[i + 4:]
                    n = 0
                    j = head.lower().find(b"content-length:")
                    if j >= 0:
                        n = int(head[j + 15:].split(b"\r\n", 1)[0])
                    self.need = n
                if len(self.buf) < self.need:
                    return
                self.buf = self.buf[self.need:]
                self.need = -1
                if slow_s:
                    asyncio.get_running_loop().call_later(slow_s,
                                                          self.answer)
                else:
                    self.answer()

        def answer(self):
            if not self.t.is_closing():
                self.t.write(answer)
                state["n"] += 1

    async def report():
        while True:
            with open(count_path + ".tmp", "w") as f:
                f.write(str(state["n"]))
            os.replace(count_path + ".tmp", count_path)
            await asyncio.sleep(0.2)

    async def main():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1024)
        srv = await asyncio.get_running_loop().create_server(
            Conn, sock=sock, backlog=1024)
        asyncio.ensure_future(report())
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


class Receiver:
    """@procs receiver processes on one port (SO_REUSEPORT)."""

    def __init__(self, tmp, slow_s=0, procs=None):
        procs = procs or RECEIVER_PROCS
        self.port = free_port("127.0.0.1", socket.SOCK_STREAM)
        self.paths = [os.path.join(tmp, "received_%d_%d" % (self.port, i))
                      for i in range(procs)]
        # the C receiver (bench/bench_recv.c) when it is built and
        # answers at once; Python's for the slow one
        if not slow_s and RECEIVER_BIN and os.path.exists(RECEIVER_BIN):
            self.kind = "bench_recv x%d" % procs
            argv = lambda path: [RECEIVER_BIN, str(self.port), path]
        else:
            self.kind = "python x%d" % procs
            argv = lambda path: [sys.executable, os.path.abspath(__file__),
                                 "--receiver", str(self.port), str(slow_s),
                                 path]
        self.procs = [subprocess.Popen(argv(path), stdin=subprocess.DEVNULL)
                      for path in self.paths]
        for path in self.paths:
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.05)

    def url(self):
        return "http://127.0.0.1:%d/events" % self.port

    def count(self):
        n = 0
        for path in self.paths:
            try:
                n += int(open(path).read() or 0)
            except (OSError, ValueError):
                pass
        return n

    def cpu(self):
        """CPU seconds of the receiver's processes so far."""
        return sum(cpu_ticks(p.pid) for p in self.procs) / TCK

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


# ---- maskd --------------------------------------------------------------

def free_port(host, kind=socket.SOCK_DGRAM):
    for _ in range(100):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((host, 0))
        p = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind((host, p))
        except OSError:
            continue
        finally:
            t.close()
            u.close()
        return p
    raise OSError("no free port")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid):
    """CPU ticks of each of @pid's threads, summed by thread name."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        if tid == str(pid):
            # the control thread: the binary's name, whatever --maskd
            # is called (a copy kept to compare builds)
            name = "maskd"
        fields = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def thread_sched(pid):
    """Per thread name: [CPU ns, runqueue wait ns] (/proc schedstat)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            if tid == str(pid):
                name = "maskd"
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                a = [int(x) for x in f.read().split()[:2]]
        except (OSError, ValueError):
            continue
        o = out.setdefault(name, [0, 0])
        o[0] += a[0]
        o[1] += a[1]
    return out


def thread_delta(a, b):
    return {k: (b.get(k, 0) - a.get(k, 0)) / TCK for k in b}


class Maskd:
    def __init__(self, tmp, binary, name):
        self.tmp = os.path.join(tmp, name)
        os.makedirs(self.tmp, exist_ok=True)
        self.binary = binary
        self.sip_port = free_port("127.0.0.1")
        self.api_port = free_port("127.0.0.1", socket.SOCK_STREAM)
        self.gw_port = free_port(GW_IP)
        self.db = os.path.join(self.tmp, "db")
        self.proc = None

    def start(self, events_url=None, concurrency=64, timeout_s=30):
        # a port free_port() found can be taken by another process on a
        # shared box before maskd binds it: new ports, up to 3 times
        for _ in range(3):
            if self.start_once(events_url, concurrency, timeout_s):
                return self
            self.sip_port = free_port("127.0.0.1")
            self.api_port = free_port("127.0.0.1", socket.SOCK_STREAM)
            self.gw_port = free_port(GW_IP)
        raise RuntimeError("maskd did not start")

    def start_once(self, events_url, concurrency, timeout_s):
        conf = os.path.join(self.tmp, "maskd.conf")
        with open(conf, "w") as f:
            # overload_lag_ms: the box is shared, and a late-scheduled
            # SIP thread would refuse calls (503) that this measures the
            # CPU of; the overload control has its own bench
            f.write("[sip]\nlisten = 127.0.0.1:%d\ntransaction_timeout = 4000\n"
                    "overload_lag_ms = 2000\n"
                    "[trunk.bench]\nsources = 127.0.0.2/32\n"
                    "[flood]\nexempt_trunks = yes\n"
                    "[gateway]\naddress = %s:%d\ntransport = udp\n"
                    "[store]\npath = %s\nmap_size = 4G\n"
                    "[api]\nlisten = 127.0.0.1:%d\ntokens = %s\n"
                    "[log]\nlevel = warn\nfile = %s\n"
                    % (self.sip_port, GW_IP, self.gw_port, self.db,
                       self.api_port, TOKEN,
                       os.path.join(self.tmp, "maskd.log")))
            if events_url:
                f.write("[events]\nurl = %s\nsecrets = %s\n"
                        "allow = 127.0.0.0/8\nconcurrency = %d\n"
                        "timeout = %d\n"
                        % (events_url, SECRET, concurrency, timeout_s))
        self.proc = subprocess.Popen(
            [self.binary, "-c", conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, "stderr.txt"), "ab"))
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            try:
                if self.api("GET", "/healthz")[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)
        self.proc = None

    def api(self, method, path, body=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.api_port,
                                               timeout=60)
        h = {"Authorization": "Bearer " + TOKEN}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        if conn is None:
            c.close()
        return r.status, raw

    def metrics(self):
        st, raw = self.api("GET", "/metrics")
        out = {}
        for line in raw.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def sessions(self, n, prefix=0):
        """@n sessions of distinct parties over 20 pool numbers; the
        SIPp injection lines (caller;vn;)."""
        for i in range(20):
            self.api("POST", "/v1/numbers",
                     {"number": "+1555%07d" % (8000000 + i),
                      "country": "US"})

        def create(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", self.api_port,
                                              timeout=60)
            out = []
            for i in chunk:
                a = "+1202%07d" % (prefix + i)
                st, raw = self.api("POST", "/v1/sessions",
                                   {"party_a": a,
                                    "party_b": "+1303%07d" % (prefix + i),
                                    "ttl": 86400}, conn)
                if st != 201:
                    raise RuntimeError("create: %d %r" % (st, raw))
                out.append("%s;%s;" % (a, json.loads(raw)["virtual_number"]))
            conn.close()
            return out
        chunks = [range(i, n, 32) for i in range(32)]
        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            return [l for part in ex.map(create, chunks) for l in part]


def ok_deliveries(m):
    return m.metrics().get('maskd_event_deliveries_total{result="ok"}', 0)


# ---- 1. delivery throughput --------------------------------------------

def bench_throughput(tmp, binary, backlog, conc):
    print("\n--- 1. delivery throughput: a backlog of %d events" % backlog,
          flush=True)
    stall = Receiver(tmp, slow_s=3600)
    m = Maskd(tmp, binary, "throughput")
    m.start(stall.url(), concurrency=16)
    t0 = time.monotonic()
    m.sessions(backlog)
    print("%d sessions created in %.1f s (their session.created wait: the "
          "receiver holds every request)" % (backlog,
                                             time.monotonic() - t0))
    m.stop()            # pending events stay pending (the outbox)
    stall.stop()
    fast = Receiver(tmp)
    t0 = time.monotonic()
    m.start(fast.url(), concurrency=conc)   # the same store: the backlog
    c0 = cpu_ticks(m.proc.pid)
    r0 = fast.cpu()
    w0 = m.metrics().get("maskd_store_commits_total", 0)
    first = None
    deadline = time.monotonic() + max(60, backlog / 500)
    while time.monotonic() < deadline:
        ok = ok_deliveries(m)
        if ok and first is None:
            first = time.monotonic()
        if ok >= backlog:
            break
        time.sleep(0.05)
    t1 = time.monotonic()
    ok = ok_deliveries(m)
    cpu = (cpu_ticks(m.proc.pid) - c0) / TCK
    rcpu = fast.cpu() - r0
    commits = m.metrics().get("maskd_store_commits_total", 0) - w0
    m.stop()
    fast.stop()
    span = t1 - (first or t0)
    rate = ok / max(span, 1e-3)
    print("[events] concurrency %d: %d delivered in %.2f s: %.0f events/s "
          "(target >= 5,000); maskd CPU %.2f s (%.0f us/event, %.0f%% of "
          "a core); %d group commits; receiver (%s) counted %d, its CPU %.2f s"
          % (conc, ok, span, rate, cpu, cpu * 1e6 / max(ok, 1),
             100 * cpu / max(span, 1e-3), commits, fast.kind, fast.count(),
             rcpu),
          flush=True)
    if ok < backlog:
        print("  (not all delivered within the bound)")
    return rate


# ---- 2 and 3: calls ------------------------------------------------------

def run_calls(m, lines, rate, secs, d, rtt=False):
    os.makedirs(d, exist_ok=True)
    inf = os.path.join(d, "calls.csv")
    calls = rate * secs
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n")
        f.write("\n".join(lines) + "\n")
    uas = subprocess.Popen(
        ["sipp", "-sf", UAS, "-i", GW_IP, "-p", str(m.gw_port), "-mi", GW_IP,
         "-nostdin", "-max_recv_loops", "5000", "-buff_size", "4194304",
         "-m", str(calls)], stdin=subprocess.DEVNULL,
        stdout=open(os.path.join(d, "uas.txt"), "wb"),
        stderr=subprocess.STDOUT, cwd=d)
    time.sleep(0.5)
    cmd = ["sipp", "-sf", UAC, "-i", A_IP, "-p", str(free_port(A_IP)),
           "-mi", A_IP, "-inf", inf, "-r", str(rate), "-rp", "1000",
           "-l", str(max(rate * 2, 100)), "-m", str(calls), "-d", "100",
           "-nostdin", "-recv_timeout", "8000",
           "-timeout", "%ds" % (secs * 3 + 30), "-max_recv_loops", "5000",
           "-buff_size", "4194304",
           "-trace_stat", "-stf", os.path.join(d, "stat.csv"), "-fd", "1"]
    if rtt:
        cmd += ["-trace_rtt", "-rtt_freq", "1"]
    cmd.append("127.0.0.1:%d" % m.sip_port)
    c0 = cpu_ticks(m.proc.pid)
    th0 = thread_ticks(m.proc.pid)
    sc0 = thread_sched(m.proc.pid)
    t0 = time.monotonic()
    subprocess.run(cmd, stdin=subprocess.DEVNULL,
                   stdout=open(os.path.join(d, "uac.txt"), "wb"),
                   stderr=subprocess.STDOUT, cwd=d)
    wall = time.monotonic() - t0
    cpu = (cpu_ticks(m.proc.pid) - c0) / TCK
    threads = thread_delta(th0, thread_ticks(m.proc.pid))
    sc1 = thread_sched(m.proc.pid)
    sched = {k: [(v[i] - sc0.get(k, [0, 0])[i]) / 1e6 for i in (0, 1)]
             for k, v in sc1.items()}
    try:
        uas.wait(30)
    except subprocess.TimeoutExpired:
        uas.kill()
        uas.wait()
    lines_ = [l for l in open(os.path.join(d, "stat.csv")).read().splitlines()
              if l]
    last = dict(zip(lines_[0].split(";"), lines_[-1].split(";")))
    r = {"ok": int(last["SuccessfulCall(C)"]),
         "failed": int(last["FailedCall(C)"]), "calls": calls,
         "wall": wall, "cpu_s": cpu, "threads": threads, "sched": sched}
    if rtt:
        vals = []
        for name in os.listdir(d):
            if name.endswith("_rtt.csv"):
                for l in open(os.path.join(d, name)).read().splitlines()[1:]:
                    parts = l.split(";")
                    if len(parts) >= 2:
                        try:
                            vals.append(float(parts[1]))
                        except ValueError:
                            pass
        vals.sort()
        r["rtt_n"] = len(vals)
        if vals:
            r["p50"] = vals[len(vals) // 2]
            r["p99"] = vals[min(len(vals) - 1, int(len(vals) * 0.99))]
    return r


def cpu_run(tmp, binary, rcv, mode, rate, secs, tag):
    """One maskd, events @mode ("off"/"on"), SIPp at @rate for @secs."""
    m = Maskd(tmp, binary, "cpu_%s_%s" % (mode, tag))
    m.start(rcv.url() if mode == "on" else None)
    lines = m.sessions(max(rate * 4, 2000), prefix=1000000)
    # the sessions' own session.created out of the way first
    deadline = time.monotonic() + 60
    while (mode == "on" and time.monotonic() < deadline and
           ok_deliveries(m) < len(lines)):
        time.sleep(0.1)
    time.sleep(1)
    r = run_calls(m, lines, rate, secs,
                  os.path.join(tmp, "cpu_%s_%s" % (mode, tag)))
    if mode == "on":
        # the calls' events cost CPU until they are out: wait for
        # them (session.created + 4 per call) and count it too
        want = len(lines) + 4 * r["ok"]
        c0 = cpu_ticks(m.proc.pid)
        th0 = thread_ticks(m.proc.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ok_deliveries(m) < want:
            time.sleep(0.1)
        r["cpu_s"] += (cpu_ticks(m.proc.pid) - c0) / TCK
        for k, v in thread_delta(th0, thread_ticks(m.proc.pid)).items():
            r["threads"][k] = r["threads"].get(k, 0) + v
        r["delivered"] = ok_deliveries(m)
        # what the calls made (the sessions' session.created went
        # before the clock started)
        r["call_events"] = r["delivered"] - len(lines)
    m.stop()
    print("events %-3s: %d/%d calls ok, %d failed, %.1f s; maskd CPU "
          "%.2f s = %.3f ms/call%s"
          % (mode, r["ok"], r["calls"], r["failed"], r["wall"],
             r["cpu_s"], 1000 * r["cpu_s"] / max(r["ok"], 1),
             ("; %d events delivered" % r["delivered"])
             if mode == "on" else ""), flush=True)
    print("  by thread: " + ", ".join(
        "%s %.2f s" % kv for kv in sorted(r["threads"].items())),
        flush=True)
    if mode == "on" and r["delivered"] > 0:
        # per event delivered (issue #10's basis), and per event the
        # calls made (the sessions' session.created went earlier)
        print("  control thread: %.1f us per event delivered (%d), "
              "%.1f us per event of the calls (%d)"
              % (1e6 * r["threads"].get("maskd", 0) / r["delivered"],
                 r["delivered"],
                 1e6 * r["threads"].get("maskd", 0) /
                 max(r["call_events"], 1), r["call_events"]), flush=True)
    return r


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def bench_cpu(tmp, binary, rate, secs, rounds=1):
    """@rounds pairs, off and on, in the order off on, on off, off on...
    (a drift of the shared box's load hits both modes alike); the
    figure is the median per call of each mode."""
    print("\n--- 2. maskd CPU per call at %d calls/s for %d s, events off "
          "vs on, %d round(s)" % (rate, secs, rounds), flush=True)
    per = {"off": [], "on": []}
    ctl = {"off": [], "on": []}
    rcv = Receiver(tmp)
    try:
        for i in range(rounds):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                r = cpu_run(tmp, binary, rcv, mode, rate, secs, str(i))
                ok = max(r["ok"], 1)
                per[mode].append(1000 * r["cpu_s"] / ok)
                ctl[mode].append(1000 * r["threads"].get("maskd", 0) / ok)
        floor = post_floor(rcv)
    finally:
        rcv.stop()
    off, on = median(per["off"]), median(per["on"])
    if rounds > 1:
        print("per call, ms: off %s; on %s" % (
            " ".join("%.3f" % x for x in per["off"]),
            " ".join("%.3f" % x for x in per["on"])))
        print("median: off %.3f ms/call, on %.3f ms/call; control thread "
              "(maskd) median on - off %.3f ms/call"
              % (off, on, median(ctl["on"]) - median(ctl["off"])))
    else:
        print("control thread (maskd) on - off: %.3f ms/call"
              % (ctl["on"][0] - ctl["off"][0]))
    print("CPU per call with events: %+.1f%% (target <= +15%%)"
          % (100 * (on - off) / off))
    # what the POSTs alone cost a sender, four a call, against the same
    # off figure: below this no deliverer making one request an event
    # can go, whatever its store and its own code
    for kind, us in floor:
        print("  floor: one POST by %s alone (bench_post, %d in flight): "
              "%.1f us = %+.1f%% at 4 a call"
              % (kind, POST_CONC, us, 100 * 4 * us / 1000 / off))
    return per


POST_BIN = None         # bench_post, next to the receiver
POST_CONC = 16          # [events] concurrency's default
POST_N = 40000


def post_floor(rcv):
    """[(client, us CPU per request)] of bench_post raw and curl against
    @rcv, when bench_post is built."""
    out = []
    if not POST_BIN or not os.path.exists(POST_BIN):
        return out
    for kind in ("raw", "curl"):
        r = subprocess.run([POST_BIN, kind, str(rcv.port), str(POST_N),
                            str(POST_CONC)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        try:
            us = float(r.stdout.split(" us CPU")[0].rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            print("  bench_post %s: %s" % (kind, (r.stdout + r.stderr)
                                           .strip()))
            continue
        out.append(("libcurl" if kind == "curl" else "raw sockets", us))
    return out


def bench_slow(tmp, binary, rate, secs, slow_s):
    print("\n--- 3. setup latency, receiver taking %d s per request, "
          "%d calls/s for %d s" % (slow_s, rate, secs), flush=True)
    rcv = Receiver(tmp, slow_s=slow_s)
    res = {}
    for mode in ("off", "slow"):
        m = Maskd(tmp, binary, "lat_" + mode)
        m.start(rcv.url() if mode == "slow" else None,
                timeout_s=slow_s + 10)
        lines = m.sessions(max(rate * 4, 1000), prefix=3000000)
        time.sleep(1)
        r = run_calls(m, lines, rate, secs, os.path.join(tmp, "lat_" + mode),
                      rtt=True)
        pend = m.metrics().get("maskd_events_pending", 0)
        m.stop()
        res[mode] = r
        print("events %-4s: %d/%d ok, %d failed; INVITE->200 p50 %.2f ms "
              "p99 %.2f ms (%d samples)%s"
              % (mode, r["ok"], r["calls"], r["failed"], r.get("p50", -1),
                 r.get("p99", -1), r.get("rtt_n", 0),
                 "; %d events pending at the end" % pend
                 if mode == "slow" else ""), flush=True)
        # where setup time goes on a shared box: a thread that is
        # runnable but not running waits for a CPU (the SIP thread never
        # sleeps on the control thread: no lock, no synchronous store
        # write), so compare the SIP thread's wait with the control
        # thread's CPU
        sc = r["sched"]
        print("  SIP thread CPU %.0f ms, runnable but waiting for a CPU "
              "%.0f ms; control thread CPU %.0f ms"
              % (sc.get("maskd-sip", [0, 0])[0],
                 sc.get("maskd-sip", [0, 0])[1],
                 sc.get("maskd", [0, 0])[0]), flush=True)
    rcv.stop()
    if res["off"].get("p99") and res["slow"].get("p99"):
        print("p99 setup with the slow receiver: %+.1f%% (target within "
              "10%%)" % (100 * (res["slow"]["p99"] - res["off"]["p99"]) /
                         res["off"]["p99"]))
    return res


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--receiver":
        receiver_main(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", default=os.path.join(SRC, "build", "maskd"))
    ap.add_argument("--backlog", type=int, default=20000)
    ap.add_argument("--concurrency", default="16,128",
                    help="[events] concurrency values for 1.")
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1,
                    help="2.: off/on pairs, alternating order; medians")
    ap.add_argument("--slow-rate", type=int, default=100)
    ap.add_argument("--slow-secs", type=int, default=20)
    ap.add_argument("--slow-s", type=int, default=20)
    ap.add_argument("--only", default="1,2,3")
    ap.add_argument("--receivers", type=int, default=2,
                    help="receiver processes sharing the port")
    ap.add_argument("--receiver-bin",
                    help="the C receiver (default: bench/bench_recv "
                    "next to --maskd; Python's when absent)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    global RECEIVER_PROCS, RECEIVER_BIN, POST_BIN
    RECEIVER_PROCS = a.receivers
    RECEIVER_BIN = a.receiver_bin or os.path.join(
        os.path.dirname(os.path.abspath(a.maskd)), "bench", "bench_recv")
    POST_BIN = os.path.join(os.path.dirname(RECEIVER_BIN), "bench_post")
    tmp = tempfile.mkdtemp(prefix="maskd-bench-events-")
    only = a.only.split(",")
    try:
        print("maskd %s; %d CPUs; the box is shared with the load "
              "generators" % (a.maskd, os.cpu_count()))
        if "1" in only:
            for conc in a.concurrency.split(","):
                bench_throughput(tmp, a.maskd, a.backlog, int(conc))
        if "2" in only:
            bench_cpu(tmp, a.maskd, a.rate, a.secs, a.rounds)
        if "3" in only:
            bench_slow(tmp, a.maskd, a.slow_rate, a.slow_secs, a.slow_s)
    finally:
        if a.keep:
            print("work directory kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
