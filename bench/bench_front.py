#!/usr/bin/env python3
"""bench_front.py - what the Kamailio front (conf/kamailio-front.cfg) costs
per call, next to maskd's own cost.

    python3 bench/bench_front.py --maskd build/maskd [--rate R] [--secs S]
                                 [--call-ms MS] [--children N]

One maskd (single-node, LMDB) with SESSIONS sessions; SIPp calls (bench/
sipp/uac.xml, uas.xml: INVITE, 180, 200, ACK, pause, BYE) at R calls/s
(default 100) for S seconds (default 20), twice in one run:
  direct   SIPp -> maskd -> SIPp UAS
  front    SIPp -> front (Kamailio, scripts/front.sh run) -> maskd -> UAS
Per run: calls completed and failed, maskd's CPU (utime + stime from
/proc) per call and, in the front run, Kamailio's (every process of its
group) per call. The front's processes are a separate cost: on a real
deployment they run on their own machine or cores.

Loopback only; never run by ctest. The machine's other load shows in the
figures: quote them with the command and the load.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sip"))
import test_sip as ts  # noqa: E402
import test_soak  # noqa: E402
import kamailio  # noqa: E402

FRONT_IP = "127.0.0.6"
SESSIONS = 400


def cpu_ms(pids):
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) * 1000.0 / tck
    return total


def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid:
                out.append(int(d))
    return out


class FrontMaskd(ts.Maskd):
    def write_config(self):
        super().write_config()
        with open(self.conf_path, "a") as f:
            f.write("[trunk.front]\nsources = %s/32\n" % FRONT_IP)
        # info, not debug: the log would be most of its work
        with open(self.conf_path) as f:
            text = f.read().replace("level = debug", "level = info")
        with open(self.conf_path, "w") as f:
            f.write(text)


def run(tmp, name, m, inf, dst, rate, secs, call_ms, kam_pids):
    calls = rate * secs
    uas = test_soak.Sipp(tmp, name + "_uas",
                         ["-sf", os.path.join(HERE, "sipp", "uas.xml"),
                          "-i", ts.GW_IP, "-p", str(m.gw_port),
                          "-mi", ts.GW_MEDIA_IP, "-m", str(calls)])
    ts.wait_listening(ts.GW_IP, m.gw_port)
    m0, k0 = cpu_ms([m.proc.pid]), cpu_ms(kam_pids)
    uac = test_soak.Sipp(tmp, name + "_uac",
                         ["-sf", os.path.join(HERE, "sipp", "uac.xml"),
                          "-i", ts.A_IP,
                          "-p", str(ts.free_port(host=ts.A_IP)),
                          "-mi", ts.A_MEDIA_IP, "-inf", inf,
                          "-r", str(rate), "-rp", "1000",
                          "-l", str(rate * 10), "-m", str(calls),
                          "-d", str(call_ms), dst])
    uac.wait(secs * 3 + 60)
    uas.wait(60)
    uas.kill()
    st = uac.stats()
    ok = int(st.get("SuccessfulCall(C)", 0))
    bad = int(st.get("FailedCall(C)", 0))
    m1, k1 = cpu_ms([m.proc.pid]), cpu_ms(kam_pids)
    n = max(ok, 1)
    print("%-7s %6d ok %5d failed   maskd %.3f ms/call   front %s"
          % (name, ok, bad, (m1 - m0) / n,
             "%.3f ms/call" % ((k1 - k0) / n) if kam_pids else "-"),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", required=True)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--secs", type=int, default=20)
    ap.add_argument("--call-ms", type=int, default=500)
    ap.add_argument("--children", type=int, default=4)
    a = ap.parse_args()
    src = os.path.abspath(os.path.join(HERE, ".."))
    ts.ARGS = argparse.Namespace(maskd=os.path.abspath(a.maskd),
                                 source_dir=src)
    tmp = tempfile.mkdtemp(prefix="maskd-bench-front-")
    # no overload control: a refusal would not be a cost of the front
    m = FrontMaskd(tmp, "overload_lag_ms = 0\n").start()
    front = None
    try:
        inf = os.path.join(tmp, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(SESSIONS):
                s = m.session("+1202555%04d" % i, "+1303555%04d" % i,
                              ttl=86400)
                f.write("+1202555%04d;%s;\n" % (i, s["virtual_number"]))
        fport = ts.free_port(host=FRONT_IP)
        flist = os.path.join(tmp, "front.list")
        script = os.path.join(src, "scripts", "front.sh")
        with open(flist, "w") as f:
            subprocess.run(["bash", script, "list",
                            "127.0.0.1:%d" % m.sip_port], check=True,
                           stdout=f)
        front = kamailio.Kamailio(
            os.path.join(tmp, "front"),
            ["bash", script, "run", "--listen",
             "udp:%s:%d" % (FRONT_IP, fport), "--list", flist,
             "--dir", os.path.join(tmp, "front", "run"), "--",
             "-A", "FRONT_CHILDREN=%d" % a.children],
            udp=[(FRONT_IP, fport)]).start()
        kam = group_pids(front.proc.pid)
        print("rate %d calls/s, %d s, calls of %d ms, front children %d, "
              "load %s" % (a.rate, a.secs, a.call_ms, a.children,
                           open("/proc/loadavg").read().split()[0]))
        run(tmp, "direct", m, inf, "127.0.0.1:%d" % m.sip_port, a.rate,
            a.secs, a.call_ms, [])
        time.sleep(2)
        run(tmp, "front", m, inf, "%s:%d" % (FRONT_IP, fport), a.rate,
            a.secs, a.call_ms, kam)
    finally:
        if front:
            front.stop()
        m.stop()


if __name__ == "__main__":
    main()
