#!/usr/bin/env python3
"""bench_rac.py - request-a-call setups per second through a real maskd.

    python3 bench/bench_rac.py --maskd build/maskd [-n CALLS] [-c CLIENTS]
                               [-p PORT_MIN]

N sessions (default 200), each with its own two parties (Python SIP peers
behind one gateway, tests/sip/sip_peers.py's Gateway and Party: every
INVITE answered 200 at once), then N POST /v1/sessions/{id}/calls from C
HTTP clients at once (default 8). Per call: the POST's latency (the 201
comes once the SIP thread claimed the session and the first INVITE is
out) and the time from the POST to the bridge (the second party's ACK);
setups/s = N / (last bridge - first POST); maskd's CPU (utime + stime
from /proc) per setup. Then every call is hung up (DELETE) and the live
counters must come back to 0.

The parties are one Python thread: at a few hundred setups/s it, not
maskd, may be the ceiling - compare maskd's CPU per setup. Loopback
only; never run by ctest.
"""
import argparse
import concurrent.futures
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sip"))
import test_sip as ts  # noqa: E402
import test_media as tm  # noqa: E402
import test_rac as tr  # noqa: E402
import sip_peers as sp  # noqa: E402


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / \
        os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100.0))] if xs else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("-c", type=int, default=8)
    ap.add_argument("-p", "--port-min", type=int, default=0,
                    help="the relay's range from here (4 ports a call); "
                    "default: a test slot of 200 ports (50 calls)")
    args = ap.parse_args()
    ns = argparse.Namespace(maskd=os.path.abspath(args.maskd),
                            source_dir=os.path.join(HERE, ".."))
    ts.ARGS = tm.ARGS = tr.ARGS = ns

    tmp = tempfile.mkdtemp(prefix="maskd-bench-rac-")
    if args.port_min:
        lo, hi = args.port_min, args.port_min + 4 * args.n + 99
    else:
        lo, hi = tm.port_range(200)
    if (hi - lo + 1) // 4 < args.n:
        sys.exit("at most %d calls (ports)" % ((hi - lo + 1) // 4))
    m = tr.RacMaskd(tmp, lo, hi).start()
    gw = sp.Gateway(ts.GW_IP, m.gw_port)
    gw.start()
    parties = []
    sids = []
    try:
        for i in range(args.n):
            a = sp.Party(gw, "+1202%07d" % i, sp.PARTY_IPS[0], ring_s=0)
            b = sp.Party(gw, "+1303%07d" % i, sp.PARTY_IPS[1], ring_s=0)
            gw.add(a)
            gw.add(b)
            parties.append((a, b))
            sids.append(m.session(a.number, b.number)["id"])

        post_ms = [0.0] * args.n
        t_post = [0.0] * args.n
        cids = [None] * args.n
        errors = []

        def one(i):
            t = time.monotonic()
            st, js, raw = m.request("POST", "/v1/sessions/%s/calls"
                                    % sids[i], {})
            t_post[i] = t
            post_ms[i] = (time.monotonic() - t) * 1000
            if st != 201:
                errors.append((st, raw))
            else:
                cids[i] = js["id"]

        cpu0 = cpu_ms(m.proc.pid)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.c) as ex:
            list(ex.map(one, range(args.n)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(b.saw("ack") for _, b in parties):
                break
            time.sleep(0.01)
        bridged = [dict(b.events).get("ack") for _, b in parties]
        done = [t for t in bridged if t]
        t1 = max(done) if done else time.monotonic()
        cpu1 = cpu_ms(m.proc.pid)
        setup_ms = [(bridged[i] - t_post[i]) * 1000
                    for i in range(args.n) if bridged[i]]

        print("request-a-call: %d calls, %d HTTP clients at once"
              % (args.n, args.c))
        print("  POST refused: %d %s" % (len(errors), errors[:3]))
        print("  bridged: %d of %d in %.2f s: %.0f setups/s"
              % (len(done), args.n, t1 - t0, len(done) / (t1 - t0)))
        print("  POST -> 201 ms   p50 %.1f  p99 %.1f  max %.1f"
              % (pct(post_ms, 50), pct(post_ms, 99), max(post_ms)))
        print("  POST -> bridged  p50 %.1f  p99 %.1f  max %.1f ms"
              % (pct(setup_ms, 50), pct(setup_ms, 99),
                 max(setup_ms or [0])))
        print("  maskd CPU: %.0f ms, %.2f ms per setup (API request, two "
              "originated legs, a prompt, the bridge)"
              % (cpu1 - cpu0, (cpu1 - cpu0) / max(1, len(done))))

        for cid in cids:
            if cid:
                m.request("DELETE", "/v1/calls/%s" % cid)
        ok, met = m.wait_zero(tuple(n for n in ts.Maskd.LIVE if
                                    n != "maskd_sip_transactions_live"), 60)
        print("  after DELETE of every call: live counters %s"
              % ("back to 0" if ok else "NOT 0: %r" % met))
    finally:
        gw.stop()
        for a, b in parties:
            a.close()
            b.close()
        rc = m.stop()
        if rc:
            print("maskd exit %r" % rc)


if __name__ == "__main__":
    main()
