#!/usr/bin/env python3
"""
bench_refuse.py [--maskd PATH] [--n N] [--rounds R] - what one overload
refusal costs maskd's SIP thread (issue 14, part 1), in CPU time: the
figure that decides how much of the thread's capacity is left for calls
when twice as many are offered, and one a shared machine does not blur
(the thread's own CPU time, from /proc/PID/task/TID/schedstat, not
calls per second).

Per round: maskd is stopped (SIGSTOP) while N new INVITEs (each its own
Call-ID, for a number in no session) queue on its SIP socket, then
continued; its lag is then far above [sip] overload_lag_ms (20 here), so
it refuses them with 503 (the first one or two, read before its first
lag sample, are served: 404). The SIP thread's CPU time until the last
answer, over the 503s, is the cost of refusing an INVITE. Then the same
with the ACKs of those 503s (what every caller sends back): the cost of
taking an ACK. Their sum is the cost of one refused call.

Run it against a maskd before and after a change (--maskd) on the same
machine, one after the other. Never run by ctest; loopback only; every
wait bounded.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLER_IP = "127.0.0.2"


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP (maskd listens on both)."""
    for _ in range(100):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((host, 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def invite(port, sip_port, tag, n):
    return ("INVITE sip:+15559990001@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-rf-%s-%d\r\n"
            "From: <sip:+12025550100@%s>;tag=f%d\r\n"
            "To: <sip:+15559990001@127.0.0.1>\r\n"
            "Call-ID: rf-%s-%d@bench\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:+12025550100@%s:%d>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (sip_port, CALLER_IP, port, tag, n, CALLER_IP, n, tag, n,
               CALLER_IP, port)).encode()


def ack_of(req, resp):
    """The ACK of a non-2xx final (RFC 3261 17.1.1.3): the INVITE's top
    Via, From, Call-ID, Request-URI; the response's To; CSeq n ACK."""
    req, resp = req.decode(), resp.decode()
    rline = req.split("\r\n", 1)[0].replace("INVITE", "ACK", 1)
    hdr = {}
    for line in req.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        hdr.setdefault(name.lower(), line)
    to = [l for l in resp.split("\r\n") if l.lower().startswith("to:")][0]
    return ("%s\r\n%s\r\n%s\r\n%s\r\n%s\r\nCSeq: 1 ACK\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (rline, hdr["via"], hdr["from"], to, hdr["call-id"])).encode()


def sip_thread_ns(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        with open(base + "comm") as f:
            if f.read().strip() != "maskd-sip":
                continue
        with open(base + "schedstat") as f:
            return int(f.read().split()[0])
    raise RuntimeError("no maskd-sip thread")


def rx_queue(port):
    """Bytes queued on the UDP socket bound to 127.0.0.1:@port."""
    want = ":%04X" % port
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1].endswith(want):
                return int(cols[4].split(":")[1], 16)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", default=os.path.join(SRC, "build", "maskd"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="maskd-bench-refuse-")
    sip_port, api_port = free_port(), free_port()
    conf = os.path.join(tmp, "maskd.conf")
    with open(conf, "w") as f:
        f.write("[sip]\nlisten = 127.0.0.1:%d\ntransaction_timeout = 4000\n"
                "overload_lag_ms = 20\n"
                "[trunk.bench]\nsources = %s/32\n[flood]\nexempt_trunks = yes\n"
                "[gateway]\naddress = 127.0.0.3:%d\ntransport = udp\n"
                "[store]\npath = %s\nmap_size = 64M\n"
                "[api]\nlisten = 127.0.0.1:%d\ntokens = bench-token-000001\n"
                "[log]\nlevel = warn\nfile = %s\n"
                % (sip_port, CALLER_IP, free_port("127.0.0.3"),
                   os.path.join(tmp, "db"), api_port,
                   os.path.join(tmp, "maskd.log")))
    proc = subprocess.Popen([args.maskd, "-c", conf],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "stderr"), "wb"))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz"
                                       % api_port, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError("maskd exited at start: see %s" % tmp)
        run(args, proc.pid, sip_port)
    finally:
        try:
            os.kill(proc.pid, signal.SIGCONT)
        except OSError:
            pass
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if args.keep:
            print("work directory kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def burst(pid, sock, msgs, sip_port):
    """maskd stopped while @msgs queue; continued; returns the SIP
    thread's CPU ns until its socket is empty and quiet."""
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = sip_thread_ns(pid)
        for m in msgs:
            sock.sendto(m, ("127.0.0.1", sip_port))
        time.sleep(0.3)
    finally:
        os.kill(pid, signal.SIGCONT)
    return t0


def run(args, pid, sip_port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((CALLER_IP, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    port = sock.getsockname()[1]
    sock.settimeout(0.2)
    tot = {"inv_ns": 0, "ack_ns": 0, "n503": 0, "other": 0, "acks": 0}
    print("maskd %s: %d rounds of %d new INVITEs queued while stopped, "
          "then their ACKs" % (args.maskd, args.rounds, args.n))
    for r in range(args.rounds):
        tag = "%d-%d" % (os.getpid(), r)
        reqs = {"rf-%s-%d@bench" % (tag, i): invite(port, sip_port, tag, i)
                for i in range(args.n)}
        t0 = burst(pid, sock, reqs.values(), sip_port)
        finals = {}
        deadline = time.monotonic() + 30
        while len(finals) < args.n and time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            m = re.search(rb"(?mi)^Call-ID:\s*(\S+)", data)
            # (an earlier round's answers may still come: nta repeats
            # its 404s until Timer H)
            if m and data[8:9] != b"1" and m.group(1).decode() in reqs:
                finals[m.group(1).decode()] = data
        t1 = sip_thread_ns(pid)
        got503 = [c for c, d in finals.items()
                  if d.startswith(b"SIP/2.0 503")]
        tot["inv_ns"] += t1 - t0
        tot["n503"] += len(got503)
        tot["other"] += len(finals) - len(got503)
        if len(finals) < args.n:
            print("round %d: only %d of %d answered" % (r, len(finals),
                                                         args.n))

        acks = [ack_of(reqs[c], finals[c]) for c in got503]
        t0 = burst(pid, sock, acks, sip_port)
        deadline = time.monotonic() + 30
        while rx_queue(sip_port) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        tot["ack_ns"] += sip_thread_ns(pid) - t0
        tot["acks"] += len(acks)
        time.sleep(0.5)     # the lag falls back; refusals off

    inv_us = tot["inv_ns"] / 1000.0 / max(tot["n503"], 1)
    ack_us = tot["ack_ns"] / 1000.0 / max(tot["acks"], 1)
    print("503s %d, other finals %d; SIP thread CPU per refused INVITE "
          "%.1f us, per ACK of a 503 %.1f us: %.1f us per refused call"
          % (tot["n503"], tot["other"], inv_us, ack_us, inv_us + ack_us))


if __name__ == "__main__":
    sys.exit(main())
