#!/usr/bin/env bash
# bench_hold.sh [options] - memory per held call (issue 14, part 3).
#
# SIPp UAC 127.0.0.2 -> maskd 127.0.0.1 -> SIPp UAS 127.0.0.3 (bench/sipp/
# uac.xml, uas.xml): CALLS calls at RATE calls/s, each held (answered,
# relay ports allocated, no media) for long enough that all are up at
# once and Timer D's 32 s pass while they are. maskd's VmRSS (RssAnon and
# RssFile apart) is read:
#   idle  after the sessions were created, before any call
#   peak  when the last call is answered: CALLS held calls plus the
#         completed transactions of the last 32 s (RATE x 32 of them)
#   held  35 s later: the held calls alone
# and printed per held call ((held - idle) / CALLS), with the lingering
# transactions' share ((peak - held) / (RATE x 32)). Then the calls end
# and every failed call is listed with SIPp's reason.
#
# Options: --calls N (5000) --rate R (250) --runs K (1) --maskd PATH
#          --heap (also glibc's own account, malloc_stats() called in
#          maskd through gdb at peak and held: bytes in use, so the heap's
#          live objects apart from the free memory RSS still holds)
#          --overload-lag MS ([sip] overload_lag_ms, default 0: off - a
#          call refused on a busy shared box is not a held call; the
#          refusals are listed) --keep. Uses maskd's defaults ([sip] transaction_timeout 32 s)
# but [rtp] port_min/max 33000-60999 (the kernel's ephemeral ports: a
# port some client socket holds is skipped) and no RTP timeout (the calls
# carry no media). Never run by ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=5000
rate=250
lag=0
heap=0
runs=1
keep=0
maskd=build/maskd
while [ $# -gt 0 ]; do
	case "$1" in
	--calls) calls=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--overload-lag) lag=$2; shift 2 ;;
	--maskd) maskd=$2; shift 2 ;;
	--heap) heap=1; shift ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--calls N] [--rate R] [--runs K] [--maskd PATH]" \
		"[--heap] [--keep]" >&2; exit 2 ;;
	esac
done
[ -x "$maskd" ] || scripts/build.sh build

for run in $(seq "$runs"); do
tmp=$(mktemp -d /tmp/maskd-bench-hold-XXXXXX)
status=0
python3 - "$tmp" "$maskd" "$calls" "$rate" "$lag" "$heap" <<'PY' || status=$?
import concurrent.futures, http.client, json, os, re, signal, socket
import subprocess, sys, time

tmp, maskd, calls, rate, lag = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
heap = sys.argv[6] == "1"
SRC = os.getcwd()
A_IP, GW_IP = "127.0.0.2", "127.0.0.3"
TIMER_D_S = 32
up_s = calls / rate
# twice the set-up time: a loaded box answers late
hold_ms = int((2 * up_s + TIMER_D_S + 30) * 1000)


def free_port(host):
    """A port free for both UDP and TCP on host, below the relay range
    (33000-60999 here, which is also the kernel's ephemeral range: a port
    the kernel handed out could be taken by maskd's own relay pool before
    its SIP listener binds it)."""
    import random
    for _ in range(200):
        p = random.randrange(20000, 32000)
        socks = []
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((host, p))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    sys.exit("no free port on %s in 20000-31999" % host)


sip_port, api_port = free_port("127.0.0.1"), free_port("127.0.0.1")
while api_port == sip_port:
    api_port = free_port("127.0.0.1")
gw_port = free_port(GW_IP)
token = "bench-token-000001"
conf = os.path.join(tmp, "maskd.conf")
with open(conf, "w") as f:
    f.write("""[sip]
listen = 127.0.0.1:%d
overload_lag_ms = %d
[trunk.bench]
sources = 127.0.0.2/32
[flood]
exempt_trunks = yes
[rtp]
port_min = 33000
port_max = 60999
timeout = 0
hold_timeout = 0
[gateway]
address = %s:%d
transport = udp
[store]
path = %s/db
map_size = 4G
[api]
listen = 127.0.0.1:%d
tokens = %s
[log]
level = warn
file = %s/maskd.log
""" % (sip_port, lag, GW_IP, gw_port, tmp, api_port, token, tmp))

# four relay sockets per held call (RTP and RTCP on each side) plus
# maskd's own: a hard limit below that refuses the last calls with 503
# (maskd warns at start); say so here rather than report them as lost
import resource
fd_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
if fd_hard != resource.RLIM_INFINITY and fd_hard < 4 * calls + 40:
    print("note: open file hard limit %d: at most about %d calls can hold "
          "relay ports at once (4 descriptors each, ~40 for maskd's own); "
          "the rest get 503 (maskd_sip_rejected_ports_total)"
          % (fd_hard, (fd_hard - 40) // 4), flush=True)

proc = subprocess.Popen([maskd, "-c", conf], stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(tmp, "stderr"), "wb"))
procs = [proc]


def api(method, path, body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
    h = {"Authorization": "Bearer " + token}
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


def metrics():
    out = {}
    for line in api("GET", "/metrics")[1].decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def heap_stats():
    """glibc's malloc_stats(), run inside maskd by gdb: it prints every
    arena's system and in-use bytes on maskd's stderr. KiB, or None."""
    if not heap:
        return None
    errp = os.path.join(tmp, "stderr")
    start = os.path.getsize(errp)
    subprocess.run(["gdb", "-p", str(proc.pid), "-batch", "-nx", "-ex",
                    "call (void)malloc_stats()", "-ex",
                    "call (int)fflush(0)"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    txt = open(errp, errors="replace").read()[start:]
    m = re.search(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*"
                  r"in use bytes\s*=\s*(\d+)", txt)
    if not m:
        return None
    return {"system": int(m.group(1)) // 1024,
            "in_use": int(m.group(2)) // 1024}


def rss():
    out = {}
    for line in open("/proc/%d/status" % proc.pid):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


try:
    # a loaded box starts maskd slowly; one that exits says why
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("maskd exited %d: %s" % (proc.returncode, open(
                os.path.join(tmp, "maskd.log"), errors="replace").read()))
        try:
            if api("GET", "/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    for i in range(20):
        api("POST", "/v1/numbers", {"number": "+1555%07d" % (8000000 + i),
                                    "country": "US"})

    def create(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
        out = []
        for i in chunk:
            st, raw = api("POST", "/v1/sessions",
                          {"party_a": "+1202%07d" % i,
                           "party_b": "+1303%07d" % i, "ttl": 86400}, conn)
            assert st == 201, raw
            out.append(("+1202%07d" % i, json.loads(raw)["virtual_number"]))
        conn.close()
        return out

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        pairs = [p for part in ex.map(create, [range(i, calls, 16)
                                               for i in range(16)])
                 for p in part]
    inf = os.path.join(tmp, "calls.csv")
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n")
        for a, vn in pairs:
            f.write("%s;%s;\n" % (a, vn))
    time.sleep(2)
    r0 = rss()
    h0 = heap_stats()

    uas = subprocess.Popen(
        ["sipp", "-sf", os.path.join(SRC, "bench/sipp/uas.xml"), "-i", GW_IP,
         "-p", str(gw_port), "-mi", GW_IP, "-nostdin", "-max_recv_loops",
         "5000", "-buff_size", "4194304", "-trace_err", "-error_file",
         os.path.join(tmp, "uas_errors.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=tmp)
    procs.append(uas)
    time.sleep(0.5)
    uac = subprocess.Popen(
        ["sipp", "-sf", os.path.join(SRC, "bench/sipp/uac.xml"), "-i", A_IP,
         "-p", str(free_port(A_IP)), "-mi", A_IP, "-inf", inf,
         "-r", str(rate), "-l", str(calls + 10), "-m", str(calls),
         "-d", str(hold_ms), "-nostdin", "-recv_timeout", "20000",
         "-timeout", "%ds" % (up_s + hold_ms / 1000 + 120),
         "-max_recv_loops", "5000", "-buff_size", "4194304",
         "-trace_stat", "-stf", os.path.join(tmp, "stat.csv"), "-fd", "1",
         "-trace_err", "-error_file", os.path.join(tmp, "uac_errors.log"),
         "127.0.0.1:%d" % sip_port],
        stdout=open(os.path.join(tmp, "uac.out"), "wb"),
        stderr=subprocess.STDOUT, cwd=tmp)
    procs.append(uac)

    t0 = time.monotonic()
    peak_live, r1 = 0, None
    while time.monotonic() - t0 < up_s + 60:
        m = metrics()
        live = int(m.get("maskd_sip_calls_live", 0))
        peak_live = max(peak_live, live)
        ans = int(m.get("maskd_sip_calls_answered_total", 0))
        if ans + int(m.get("maskd_sip_rejected_ports_total", 0)) >= calls \
                or (uac.poll() is not None):
            break
        time.sleep(0.2)
    t_up = time.monotonic() - t0
    m1 = metrics()
    r1 = rss()
    h1 = heap_stats()
    time.sleep(TIMER_D_S + 3)
    m2 = metrics()
    r2 = rss()
    h2 = heap_stats()
    held = int(m2.get("maskd_sip_calls_live", 0))
    print("calls %d at %d calls/s, held %.0f s: all answered after %.1f s; "
          "live at peak %d, %d held 35 s later (transactions live %d -> "
          "%d; relay ports in use %d)"
          % (calls, rate, hold_ms / 1000.0, t_up,
             int(m1.get("maskd_sip_calls_live", 0)), held,
             int(m1.get("maskd_sip_transactions_live", 0)),
             int(m2.get("maskd_sip_transactions_live", 0)),
             int(m2.get("maskd_relay_ports_in_use", 0))))
    print("VmRSS KiB: idle %d (anon %d, file %d); peak %d (anon %d, file "
          "%d); held %d (anon %d, file %d)"
          % (r0["VmRSS"], r0["RssAnon"], r0["RssFile"], r1["VmRSS"],
             r1["RssAnon"], r1["RssFile"], r2["VmRSS"], r2["RssAnon"],
             r2["RssFile"]))
    n = max(held, 1)
    # the calls set up in the last 32 s before the peak (all of them
    # when fewer were made)
    lingering = min(calls, rate * TIMER_D_S)
    print("per held call: %.1f KiB RSS (%.1f anon, %.1f file); with the "
          "lingering transactions of the last 32 s: %.1f KiB; those cost "
          "%.2f KiB per call that completed its set-up"
          % ((r2["VmRSS"] - r0["VmRSS"]) / n,
             (r2["RssAnon"] - r0["RssAnon"]) / n,
             (r2["RssFile"] - r0["RssFile"]) / n,
             (r1["VmRSS"] - r0["VmRSS"]) / n,
             (r1["VmRSS"] - r2["VmRSS"]) / lingering), flush=True)
    if h0 and h1 and h2:
        print("malloc KiB in use (of system): idle %d (%d); peak %d (%d); "
              "held %d (%d)" % (h0["in_use"], h0["system"], h1["in_use"],
                                h1["system"], h2["in_use"], h2["system"]))
        print("per held call: %.1f KiB of live heap; per lingering "
              "transaction set (a call set up in the last 32 s): %.2f KiB;"
              " heap free but resident at held: %.1f KiB per held call"
              % ((h2["in_use"] - h0["in_use"]) / n,
                 (h1["in_use"] - h2["in_use"]) / lingering,
                 (h2["system"] - h2["in_use"]) / n), flush=True)

    uac.wait(up_s + hold_ms / 1000 + 180)
    lines = [l for l in open(os.path.join(tmp, "stat.csv")).read()
             .splitlines() if l]
    last = dict(zip(lines[0].split(";"), lines[-1].split(";")))
    print("SIPp: %s successful, %s failed, %s retransmissions"
          % (last["SuccessfulCall(C)"], last["FailedCall(C)"],
             last.get("Retransmissions(C)", "?")))
    m3 = metrics()
    for k in sorted(m3):
        if k.startswith(("maskd_sip_rejected", "maskd_sip_rtp_timeouts",
                         "maskd_relay_calls_refused", "maskd_relay_bind",
                         "maskd_sip_overload", "maskd_cdrs_lost")) and m3[k]:
            print("  %s %d" % (k, m3[k]))
    for name in ("uac_errors.log", "uas_errors.log"):
        p = os.path.join(tmp, name)
        if os.path.exists(p) and os.path.getsize(p):
            txt = open(p, errors="replace").read()
            why = {}
            for line in txt.splitlines():
                if "Aborting call" in line or "Overload" in line or \
                        "Dead call" in line or "timeout" in line.lower():
                    k = line.split(": ", 1)[-1].split("'")[0][:90]
                    # one reason, whatever call it was
                    k = re.sub(r"[0-9]+-[0-9]+@.*|[0-9a-f]{6,}[-0-9a-f@.]*|"
                               r"\(\d+\)", "<id>", k)
                    why[k] = why.get(k, 0) + 1
            print("--- %s: %s" % (name, "; ".join(
                "%d x %s" % (v, k) for k, v in sorted(
                    why.items(), key=lambda kv: -kv[1])[:8]) or txt[:400]))
finally:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
PY
if [ "$keep" = 1 ]; then echo "work directory kept: $tmp"; else rm -rf "$tmp"; fi
# a failed run leaves no directory behind either
[ "$status" = 0 ] || exit "$status"
done
