#!/usr/bin/env bash
# bench_sip.sh [options] - SIP signalling load through maskd with SIPp.
#
# A fixed-rate ramp of short calls (bench/sipp/uac.xml -> uas.xml: INVITE,
# 100, 180, 200, ACK, BYE, 200), on loopback:
#   via maskd:  SIPp UAC 127.0.0.2 -> maskd 127.0.0.1 -> SIPp UAS 127.0.0.3
#   direct:     SIPp UAC 127.0.0.2 -> SIPp UAS 127.0.0.3
# The direct ramp is the load generator's own ceiling, measured in the same
# run on the same box. Calls are spread over many sessions (a SIPp -inf
# injection file), so the one-call-per-session rule refuses none.
#
# Per step: attempted and achieved calls/s, failed calls (%), SIPp
# retransmissions, maskd's CPU per call (utime+stime from /proc/PID/stat
# over the step / calls) and CPU share, the SIPps' CPU share, the box's
# steal. Then at half of maskd's highest clean rate (< 0.1% failed) one
# step each way with -trace_rtt: INVITE -> 200 OK p50/p99 via maskd vs.
# direct. Optionally (--perf) perf record -g on maskd during the step at
# its highest clean rate.
#
# Options (all optional):
#   --rates "200 400 ..."  the steps, calls/s
#                          (default: 200 400 800 1200 1600 2000 2500 3000)
#   --step SECONDS         length of a step (default 10)
#   --call-ms MS           talk time of each call (default 100)
#   --sessions N           sessions to spread the calls over (default 20000)
#   --perf                 profile maskd (perf record -g) at its best rate
#   --strace               count maskd's system calls (strace -c -f) over
#                          every maskd step: calls per SIP call, by type
#   --threads              maskd's CPU per call per thread, every step
#   --maskd-only           no direct ramp, no latency steps
#   --overload FACTOR      after the ramp, offer FACTOR times maskd's
#                          highest clean rate (bench/bench_overload.sh)
#   --overload-s SECONDS   length of that step (default 30)
#   --overload-lag MS      [sip] overload_lag_ms (default: maskd's, 60)
#   --clean-max RATE       no ramp: one step at RATE, taken as the clean
#                          maximum whatever its failures (a before/after
#                          pair of overload runs at the same offered rate
#                          on a machine too busy for a clean ramp)
#   --workers N            [sip] workers = N (default 1): maskd's SIP
#                          threads, each on its own port; the caller is
#                          then N SIPps, one per worker port at 1/N of
#                          the rate with 1/N of the sessions (a front
#                          would spread them by Call-ID hash; SIPp does
#                          it here without the front's own CPU)
#   --rtp-ports MIN-MAX    maskd's relay range (default 61000-65535, above
#                          the kernel's ephemeral ports and away from the
#                          tests' ranges): 4 ports a held call, so long
#                          calls at high rates need a wider one, e.g.
#                          20000-32767 on a box running no tests
#   --maskd PATH           the maskd binary (default build/maskd)
#   --keep                 keep the work directory (logs, CSVs, perf.data)
#
# Uses maskd from build/ (RelWithDebInfo: scripts/build.sh build), with
# [log] level = warn and [sip] transaction_timeout = 4000. Both SIPps and
# maskd share the machine's cores: on a small box the figures are the
# box's, not maskd's alone; the direct ramp says how much the load
# generator itself takes. Never run by ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

rates="200 400 800 1200 1600 2000 2500 3000"
step=10
call_ms=100
sessions=20000
perf=0
strace=0
threads=0
maskd_only=0
overload=0
overload_s=30
overload_lag=
clean_max=
keep=0
workers=1
rtp_min=61000
rtp_max=65535
maskd=build/maskd
while [ $# -gt 0 ]; do
	case "$1" in
	--rates) rates=$2; shift 2 ;;
	--step) step=$2; shift 2 ;;
	--call-ms) call_ms=$2; shift 2 ;;
	--sessions) sessions=$2; shift 2 ;;
	--perf) perf=1; shift ;;
	--strace) strace=1; shift ;;
	--threads) threads=1; shift ;;
	--maskd-only) maskd_only=1; shift ;;
	--overload) overload=$2; shift 2 ;;
	--overload-s) overload_s=$2; shift 2 ;;
	--overload-lag) overload_lag=$2; shift 2 ;;
	--clean-max) clean_max=$2; rates=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--rtp-ports) rtp_min=${2%-*}; rtp_max=${2#*-}; shift 2 ;;
	--maskd) maskd=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--rates \"R1 R2..\"] [--step S] [--call-ms MS]" \
		"[--sessions N] [--perf] [--strace] [--threads] [--maskd-only]" \
		"[--overload FACTOR] [--overload-s S] [--overload-lag MS]" \
		"[--clean-max RATE] [--workers N] [--rtp-ports MIN-MAX]" \
		"[--maskd PATH] [--keep]" >&2; exit 2 ;;
	esac
done

if [ "$workers" != 1 ] && [ "$overload" != 0 ]; then
	echo "bench_sip.sh: --overload reads one caller's counts: not with" \
		"--workers" >&2
	exit 2
fi

scripts/deps.sh --bench
# the latency capture and the profiler (not in deps.sh's list)
need=()
command -v tcpdump >/dev/null || need+=(tcpdump)
[ "$perf" = 1 ] && ! command -v perf >/dev/null && need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "${need[@]}" >/dev/null
fi
[ -x "$maskd" ] || scripts/build.sh build
# strace slows every system call tenfold: the SIP thread would lag past
# the overload threshold and refuse calls, which changes what is counted
[ "$strace" = 1 ] && [ -z "$overload_lag" ] && overload_lag=0

tmp=$(mktemp -d /tmp/maskd-bench-sip-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if [ "$keep" = 1 ]; then echo "work directory kept: $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# a port free for UDP and TCP on $1, outside maskd's relay range (the
# kernel's ephemeral range, where it comes from, may overlap it: maskd
# binds the range first and then cannot open SIP on it)
free_port() {
	python3 -c 'import socket,sys
lo,hi=int(sys.argv[2]),int(sys.argv[3])
for _ in range(100):
    u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind((sys.argv[1],0)); p=u.getsockname()[1]
    if lo <= p <= hi: continue
    t=socket.socket()
    try: t.bind((sys.argv[1],p))
    except OSError: continue
    print(p); break' "$1" "$rtp_min" "$rtp_max"
}
sip_port=$(free_port 127.0.0.1)
# worker i > 0 of [sip] workers on a port of its own
worker_ports=
for _ in $(seq 2 "$workers"); do
	worker_ports="$worker_ports${worker_ports:+,}$(free_port 127.0.0.1)"
done
workers_lines=
[ "$workers" -gt 1 ] &&
	workers_lines=$(printf 'workers = %s\nworker_ports = %s' "$workers" \
		"$worker_ports")
api_port=$(free_port 127.0.0.1)
gw_port=$(free_port 127.0.0.3)
token=bench-token-000001
# keys an older maskd (--maskd, for a before/after run) does not know
tpl=$("$maskd" --config-template)
preopen_line=
echo "$tpl" | grep -q '^;* *preopen' && preopen_line="preopen = yes"
echo "$tpl" | grep -q '^;* *overload_lag_ms' || overload_lag=
cat > "$tmp/maskd.conf" <<CONF
[sip]
listen = 127.0.0.1:$sip_port
transaction_timeout = 4000
${overload_lag:+overload_lag_ms = $overload_lag}
$workers_lines
[trunk.bench]
sources = 127.0.0.2/32
[flood]
; one trunk source at thousands of calls/s: far above the per-source
; flood limit meant for strangers, so the trunk is exempt
exempt_trunks = yes
[rtp]
; a range of its own, bound whole at start: above the kernel's ephemeral
; ports (where free_port() finds the SIP port) and away from the
; default range the tests running beside the bench use
port_min = $rtp_min
port_max = $rtp_max
$preopen_line
[gateway]
address = 127.0.0.3:$gw_port
transport = udp
[store]
path = $tmp/db
map_size = 4G
[api]
listen = 127.0.0.1:$api_port
tokens = $token
[log]
level = warn
file = $tmp/maskd.log
CONF
"$maskd" -c "$tmp/maskd.conf" 2>"$tmp/maskd.stderr" &
pid=$!
up=0
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 &&
		up=1 && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$up" = 0 ]; then
	echo "maskd did not start:" >&2
	tail -5 "$tmp/maskd.log" "$tmp/maskd.stderr" >&2
	exit 1
fi

echo "maskd $maskd pid $pid; steps: $rates calls/s, ${step}s each, calls of ${call_ms} ms, $sessions sessions, $workers SIP worker(s)"
RTP_MIN=$rtp_min RTP_MAX=$rtp_max WORKER_PORTS=$worker_ports CLEAN_MAX=$clean_max python3 - "$tmp" "$pid" "$sip_port" "$api_port" "$gw_port" "$token" \
	"$rates" "$step" "$call_ms" "$sessions" "$perf" "$strace" "$threads" \
	"$maskd_only" "$overload" "$overload_s" <<'PY'
import concurrent.futures, http.client, json, os, signal, subprocess, sys
import time

(tmp, pid, sip_port, api_port, gw_port, token, rates, step, call_ms,
 nsess, want_perf, want_strace, want_threads, maskd_only, overload,
 overload_s) = sys.argv[1:]
overload, overload_s = float(overload), int(overload_s)
pid, sip_port, api_port, gw_port = int(pid), int(sip_port), int(api_port), int(gw_port)
rates = [int(r) for r in rates.split()]
step, call_ms, nsess = int(step), int(call_ms), int(nsess)
want_perf = want_perf == "1"
want_strace = want_strace == "1"
want_threads = want_threads == "1"
maskd_only = maskd_only == "1"
SRC = os.getcwd()
UAC = os.path.join(SRC, "bench", "sipp", "uac.xml")
UAS = os.path.join(SRC, "bench", "sipp", "uas.xml")
UAC_OVL = os.path.join(SRC, "bench", "sipp", "uac_overload.xml")
# [sip] listen, then --workers' further ports
WORKER_PORTS = [sip_port] + [int(p) for p in
                             os.environ.get("WORKER_PORTS", "").split(",")
                             if p]
A_IP, GW_IP = "127.0.0.2", "127.0.0.3"
TCK = os.sysconf("SC_CLK_TCK")
CLEAN = 0.001           # "clean" step: fewer than 0.1% failed calls


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
    st, raw = api("GET", "/metrics")
    out = {}
    for line in raw.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def free_port(host):
    import socket
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((host, 0))
    port = u.getsockname()[1]
    u.close()
    return port


def cpu_ticks(p):
    """utime + stime of process @p, in clock ticks."""
    with open("/proc/%d/stat" % p) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(p):
    """{thread name: utime + stime} of process @p's threads (same-named
    threads summed)."""
    out = {}
    for t in os.listdir("/proc/%d/task" % p):
        try:
            with open("/proc/%d/task/%s/stat" % (p, t)) as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def thread_runs(p):
    """{thread name: times scheduled onto a CPU} of process @p's threads
    (schedstat's third field, same-named threads summed): the wake-ups,
    which on a virtual machine cost more than most of the work between
    them."""
    out = {}
    for t in os.listdir("/proc/%d/task" % p):
        try:
            with open("/proc/%d/task/%s/comm" % (p, t)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                n = int(f.read().split()[2])
        except (OSError, IndexError, ValueError):
            continue
        out[name] = out.get(name, 0) + n
    return out


def sip_sched(p):
    """(ns on a CPU, ns runnable but waiting for one) of process @p's SIP
    threads (schedstat; maskd-sip, maskd-sip1, ... summed): how much a
    shared machine kept them waiting."""
    run = wait = 0
    for t in os.listdir("/proc/%d/task" % p):
        try:
            with open("/proc/%d/task/%s/comm" % (p, t)) as f:
                if not f.read().strip().startswith("maskd-sip"):
                    continue
            with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                v = f.read().split()
            run += int(v[0])
            wait += int(v[1])
        except (OSError, IndexError, ValueError):
            pass
    return run, wait


def strace_table(path):
    """{syscall: calls} from strace -c's summary."""
    out = {}
    for line in open(path).read().splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and not f[-1] == "total":
            try:
                out[f[-1]] = int(f[3])
            except ValueError:
                pass
    return out


def box_ticks():
    """(total, steal) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[7]


# ---- sessions: distinct parties, so a handful of pool numbers serve all
for i in range(20):
    st, raw = api("POST", "/v1/numbers",
                  {"number": "+1555%07d" % (8000000 + i), "country": "US"})
    assert st == 201, raw


def create(chunk):
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
    out = []
    for i in chunk:
        a = "+1202%07d" % i
        st, raw = api("POST", "/v1/sessions",
                      {"party_a": a, "party_b": "+1303%07d" % i,
                       "ttl": 86400}, conn)
        assert st == 201, raw
        out.append((a, json.loads(raw)["virtual_number"]))
    conn.close()
    return out


t0 = time.monotonic()
chunks = [range(i, nsess, 32) for i in range(32)]
with concurrent.futures.ThreadPoolExecutor(32) as ex:
    pairs = [p for part in ex.map(create, chunks) for p in part]
inf_maskd = os.path.join(tmp, "via_maskd.csv")
inf_direct = os.path.join(tmp, "direct.csv")
with open(inf_maskd, "w") as f, open(inf_direct, "w") as g:
    f.write("SEQUENTIAL\n")
    g.write("SEQUENTIAL\n")
    for a, vn in pairs:
        f.write("%s;%s;\n" % (a, vn))
        g.write("%s;%s;\n" % (a, vn))
# --workers: worker i's caller takes every Nth session
inf_worker = []
for w in range(len(WORKER_PORTS)):
    path = os.path.join(tmp, "via_worker%d.csv" % w)
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for a, vn in pairs[w::len(WORKER_PORTS)]:
            f.write("%s;%s;\n" % (a, vn))
    inf_worker.append(path)
print("%d sessions created in %.1fs" % (nsess, time.monotonic() - t0))

# ---- one UAS (the gateway) for the whole run, serving both paths
uas_log = open(os.path.join(tmp, "uas.out"), "wb")
uas = subprocess.Popen(
    ["sipp", "-sf", UAS, "-i", GW_IP, "-p", str(gw_port), "-mi", GW_IP,
     "-nostdin", "-max_recv_loops", "5000",
     "-buff_size", "4194304", "-trace_err", "-error_file",
     os.path.join(tmp, "uas_errors.log")],
    stdin=subprocess.DEVNULL, stdout=uas_log, stderr=subprocess.STDOUT,
    cwd=tmp)
time.sleep(0.5)


def setup_times(pcap):
    """INVITE -> 200 OK times (ms, sorted) seen on the UAC's address.

    SIPp's own response times (-trace_rtt) have a resolution of 1 ms, too
    coarse for a sub-millisecond hop; the kernel's capture timestamps are
    microseconds. Per Call-ID: the first INVITE the UAC sent to the first
    200 OK to that INVITE it got (retransmissions are ignored)."""
    import struct
    data = open(pcap, "rb").read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    link = struct.unpack(end + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16, 0: 4}.get(link, 14)   # EN10MB, SLL, NULL
    sent, got = {}, {}
    off = 24
    while off + 16 <= len(data):
        ts, frac, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        t = ts + frac / (1e9 if nano else 1e6)
        ip = pkt[l2:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        payload = ip[(ip[0] & 15) * 4 + 8:]
        first, _, rest = payload.partition(b"\r\n")
        inv = first.startswith(b"INVITE ")
        ok = first.startswith(b"SIP/2.0 200")
        if not (inv or ok):
            continue
        cid = cseq = None
        for line in rest.split(b"\r\n"):
            if not line:
                break
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k in (b"call-id", b"i"):
                cid = v.strip()
            elif k == b"cseq":
                cseq = v.strip()
        if cid is None:
            continue
        if inv:
            sent.setdefault(cid, t)
        elif cseq and cseq.endswith(b"INVITE"):
            got.setdefault(cid, t)
    return sorted((got[c] - sent[c]) * 1000.0 for c in got if c in sent)


def sipp_counts(d):
    """The last line of SIPp's -trace_counts file in @d, by column."""
    for f in os.listdir(d):
        if f.endswith("_counts.csv"):
            lines = [l for l in open(os.path.join(d, f)).read().splitlines()
                     if l]
            return dict(zip(lines[0].split(";"), lines[-1].split(";")))
    return {}


def sipp_rtts(d):
    """Every response time 1 (INVITE to its final) SIPp's -trace_rtt
    wrote in @d, in ms, sorted."""
    out = []
    for f in os.listdir(d):
        if f.endswith("_rtt.csv"):
            for line in open(os.path.join(d, f)).read().splitlines()[1:]:
                p = line.split(";")
                if len(p) >= 3 and p[2].strip() == "1":
                    out.append(float(p[1]))
    return sorted(out)


def run_step(target, rate, secs, tag, rtt=False, perf_out=None,
             uac=UAC, extra=()):
    """One fixed-rate step; returns a dict of figures."""
    calls = rate * secs
    d = os.path.join(tmp, "%s_%s_%d" % (tag, target, rate))
    os.makedirs(d, exist_ok=True)
    # one caller, or with --workers one per worker port at 1/N the rate
    if target == "maskd":
        n = len(WORKER_PORTS)
        parts = [("127.0.0.1:%d" % WORKER_PORTS[w], inf_worker[w]
                  if n > 1 else inf_maskd,
                  rate // n + (w < rate % n), os.path.join(d, "w%d" % w)
                  if n > 1 else d) for w in range(n)]
    else:
        parts = [("%s:%d" % (GW_IP, gw_port), inf_direct, rate, d)]
    cmds = []
    for dest, inf, r_i, d_i in parts:
        os.makedirs(d_i, exist_ok=True)
        cmd = ["sipp", "-sf", uac, "-i", A_IP, "-p", str(free_port(A_IP)),
               "-mi", A_IP,
               "-inf", inf, "-r", str(r_i), "-rp", "1000",
               "-l", str(max(r_i * 2, 100)), "-m", str(r_i * secs),
               "-d", str(call_ms), "-nostdin", "-recv_timeout", "8000",
               "-timeout", "%ds" % (secs * 3 + 30), "-max_recv_loops",
               "5000", "-buff_size", "4194304",
               "-trace_stat", "-stf", os.path.join(d_i, "stat.csv"),
               "-fd", "1",
               "-trace_err", "-error_file", os.path.join(d_i, "errors.log")]
        cmd += list(extra)
        cmd.append(dest)
        cmds.append((cmd, d_i))
    cap = None
    if rtt:
        pcap = os.path.join(d, "uac.pcap")
        cap = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-s", "2048", "-B", "32768",
             "-w", pcap, "udp and host %s" % A_IP],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(d, "tcpdump.txt"), "wb"))
        time.sleep(1.5)
    st = None
    if want_strace and target == "maskd":
        st_out = os.path.join(d, "strace.txt")
        st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid),
                               "-o", st_out],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(1)
    c0, b0, u0 = cpu_ticks(pid), box_ticks(), cpu_ticks(uas.pid)
    th0 = thread_ticks(pid)
    wk0 = thread_runs(pid)
    ss0 = sip_sched(pid) if target == "maskd" else (0, 0)
    t0 = time.monotonic()
    procs = []
    for cmd, d_i in cmds:
        out = open(os.path.join(d_i, "stdout.txt"), "wb")
        procs.append((subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       cwd=d_i), out))
    prof = None
    if perf_out:
        time.sleep(1)
        prof = subprocess.Popen(
            ["perf", "record", "-g", "-p", str(pid), "-o", perf_out, "--",
             "sleep", str(max(secs - 3, 2))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uac_ticks = {}
    while any(p.poll() is None for p, _ in procs):
        for p, _ in procs:
            try:
                uac_ticks[p.pid] = cpu_ticks(p.pid)
            except OSError:
                pass
        time.sleep(0.2)
    uac_ticks = sum(uac_ticks.values())
    wall = time.monotonic() - t0
    c1, b1, u1 = cpu_ticks(pid), box_ticks(), cpu_ticks(uas.pid)
    th1 = thread_ticks(pid)
    wk1 = thread_runs(pid)
    ss1 = sip_sched(pid) if target == "maskd" else (0, 0)
    for _, out in procs:
        out.close()
    if st:
        # let the calls of the step end inside the count
        time.sleep(call_ms / 1000.0 + 1)
        st.send_signal(signal.SIGINT)
        st.wait()
    if prof:
        prof.wait()
    if cap:
        time.sleep(0.5)
        cap.send_signal(signal.SIGINT)
        cap.wait()
    ok = bad = made = retrans = 0
    for _, d_i in cmds:
        lines = [l for l in
                 open(os.path.join(d_i, "stat.csv")).read().splitlines()
                 if l]
        names = lines[0].split(";")
        last = dict(zip(names, lines[-1].split(";")))
        ok += int(last["SuccessfulCall(C)"])
        bad += int(last["FailedCall(C)"])
        made += int(last["OutgoingCall(C)"])
        retrans += int(last.get("Retransmissions(C)", 0))
    lost = max(0, calls - ok - bad)     # never placed or never finished
    r = {
        "target": target, "rate": rate, "calls": calls, "ok": ok,
        "failed": bad + lost, "made": made,
        "retrans": retrans,
        # the calls' own length is not time the generator could use
        "achieved": ok / max(wall - call_ms / 1000.0, 0.1),
        "wall": wall,
        "fail_pct": 100.0 * (bad + lost) / calls,
        "maskd_cpu_ms": (c1 - c0) * 1000.0 / TCK,
        "uas_cpu": (u1 - u0) / TCK / wall,
        "uac_cpu": uac_ticks / TCK / wall,
        "steal": (b1[1] - b0[1]) / max(b1[0] - b0[0], 1),
        "dir": d,
        "sip_run": (ss1[0] - ss0[0]) / 1e9 / wall,
        "sip_wait": (ss1[1] - ss0[1]) / 1e9 / wall,
    }
    if target == "direct":
        r["maskd_cpu_ms"] = None
    else:
        r["threads"] = {k: (th1.get(k, 0) - v) * 1000.0 / TCK
                        for k, v in th0.items()}
        r["wakeups"] = {k: wk1.get(k, 0) - v for k, v in wk0.items()}
    if st:
        r["strace"] = strace_table(st_out)
    if rtt:
        vals = setup_times(pcap)
        r["rtt_n"] = len(vals)
        if vals:
            r["p50"] = vals[len(vals) // 2]
            r["p99"] = vals[min(len(vals) - 1, int(len(vals) * 0.99))]
    return r


def settle():
    """Let the last step's calls end before the next one starts."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if metrics().get("maskd_sip_calls_live", 0) == 0:
            break
        time.sleep(0.5)
    time.sleep(2)


def show(r):
    cpu = ("%7.3f" % (r["maskd_cpu_ms"] / max(r["ok"], 1))
           if r["maskd_cpu_ms"] is not None else "      -")
    mcpu = ("%4.0f%%" % (100 * r["maskd_cpu_ms"] / 1000.0 / r["wall"])
            if r["maskd_cpu_ms"] is not None else "    -")
    print("%-6s %6d %8.0f %8.3f %7d %s %s %5.0f%% %5.0f%% %5.1f%%"
          % (r["target"], r["rate"], r["achieved"], r["fail_pct"],
             r["retrans"], cpu, mcpu, 100 * r["uac_cpu"],
             100 * r["uas_cpu"], 100 * r["steal"]), flush=True)
    n = max(r["ok"], 1)
    if overload and r["target"] == "maskd":
        print("       SIP thread on a CPU %.0f%%, waiting for one %.0f%%"
              % (100 * r["sip_run"], 100 * r["sip_wait"]), flush=True)
    if want_threads and r.get("threads"):
        print("       cpu ms/call by thread: " + ", ".join(
            "%s %.3f" % (k, v / n) for k, v in
            sorted(r["threads"].items(), key=lambda kv: -kv[1]) if v),
            flush=True)
        print("       wake-ups/call by thread: " + ", ".join(
            "%s %.1f" % (k, v / n) for k, v in
            sorted(r["wakeups"].items(), key=lambda kv: -kv[1]) if v),
            flush=True)
    if r.get("strace"):
        tab = r["strace"]
        print("       system calls/call (strace -c -f, %d calls): %.1f: %s"
              % (r["ok"], sum(tab.values()) / n, ", ".join(
                  "%s %.1f" % (k, v / n) for k, v in
                  sorted(tab.items(), key=lambda kv: -kv[1])
                  if v / n >= 0.05)), flush=True)


HDR = ("%-6s %6s %8s %8s %7s %7s %5s %6s %6s %6s"
       % ("path", "calls/s", "achieved", "failed%", "retrans", "cpu_ms",
          "maskd", "uac", "uas", "steal"))


# the relay range of the config above: 4 ports per call held (RTP and
# RTCP each side); calls held at once are about rate x (talk + set-up)
RTP_PORTS = int(os.environ["RTP_MAX"]) - int(os.environ["RTP_MIN"]) + 1


def ramp(target):
    if target == "maskd":
        for rate in rates:
            held = rate * (call_ms / 1000.0 + 0.5)
            if 4 * held > RTP_PORTS:
                print("note: %d calls/s of %d ms hold about %d calls, more "
                      "than the bench's relay range holds (%d ports, 4 a "
                      "call): the rest get 503 "
                      "(maskd_sip_rejected_ports_total); shorter --call-ms "
                      "or a wider --rtp-ports" % (rate, call_ms, held, RTP_PORTS),
                      flush=True)
    print("\n--- ramp %s\n%s" % (target, HDR), flush=True)
    out, dirty = [], 0
    for rate in rates:
        r = run_step(target, rate, step, "ramp")
        show(r)
        out.append(r)
        settle()
        dirty = dirty + 1 if r["fail_pct"] >= 5 else 0
        if dirty >= 2:
            print("(two steps with >= 5% failed calls: ramp stopped)")
            break
    return out


def best(rs):
    clean = [r for r in rs if r["fail_pct"] < 100 * CLEAN]
    return max(clean, key=lambda r: r["rate"]) if clean else None


via = ramp("maskd")
direct = [] if maskd_only else ramp("direct")
bm, bd = best(via), best(direct)
if os.environ.get("CLEAN_MAX"):
    bm = via[0]
    print("(--clean-max: %d calls/s taken as the clean maximum, %.2f%% "
          "failed)" % (bm["rate"], bm["fail_pct"]))

lat = {}
if bm and not maskd_only:
    half = max(bm["rate"] // 2, 1)
    print("\n--- setup latency at %d calls/s (half of maskd's best)\n%s"
          % (half, HDR), flush=True)
    for target in ("maskd", "direct"):
        r = run_step(target, half, step, "latency", rtt=True)
        show(r)
        lat[target] = r
        settle()

ovl = None
if overload and bm:
    rate = int(bm["rate"] * overload)
    print("\n--- overload: %.1f x the highest clean rate = %d calls/s for "
          "%ds\n%s" % (overload, rate, overload_s, HDR), flush=True)
    m0 = metrics()
    ovl = run_step("maskd", rate, overload_s, "overload", uac=UAC_OVL,
                   extra=("-trace_counts", "-trace_rtt", "-rtt_freq", "1"))
    m1 = metrics()
    show(ovl)
    cnt = sipp_counts(ovl["dir"])
    inv_sent = sum(int(v) for k, v in cnt.items()
                   if k.endswith("_INVITE_Sent"))
    inv_retr = sum(int(v) for k, v in cnt.items()
                   if k.endswith("_INVITE_Retrans"))
    got503 = sum(int(v) for k, v in cnt.items() if k.endswith("_503_Recv"))
    rtts = sipp_rtts(ovl["dir"])
    good = ovl["ok"] - got503      # answered and completed
    answered = (m1.get("maskd_sip_calls_answered_total", 0) -
                m0.get("maskd_sip_calls_answered_total", 0))
    secs_used = max(ovl["wall"] - call_ms / 1000.0, 0.1)
    late = sum(1 for v in rtts if v > 1000)
    print("overload at %d calls/s offered (%d INVITEs): %d completed calls "
          "(%.0f calls/s = %.0f%% of the clean %d), %d refused with 503 "
          "(maskd counted %d), %d failed (SIPp), %d answered by maskd"
          % (rate, inv_sent, good, good / secs_used,
             100.0 * good / secs_used / bm["rate"], bm["rate"], got503,
             m1.get("maskd_sip_overload_rejected_total", 0) -
             m0.get("maskd_sip_overload_rejected_total", 0),
             ovl["failed"], answered))
    if rtts:
        print("INVITE -> final response: p50 %.0f ms, p99 %.0f ms, max %.0f "
              "ms; %d of %d finals later than 1 s; INVITEs without a final "
              "response: %d"
              % (rtts[len(rtts) // 2], rtts[min(len(rtts) - 1,
                                                 int(len(rtts) * 0.99))],
                 rtts[-1], late, len(rtts), max(inv_sent - len(rtts), 0)))
    print("retransmitted INVITEs: %d of %d (%.2f%%); maskd received %d "
          "retransmissions; lag gauge at the end %.0f ms"
          % (inv_retr, inv_sent, 100.0 * inv_retr / max(inv_sent, 1),
             m1.get("maskd_sip_retransmissions_received_total", 0) -
             m0.get("maskd_sip_retransmissions_received_total", 0),
             m1.get("maskd_sip_lag_ms", 0)), flush=True)
    print("SIP thread: on a CPU %.0f%% of the step, runnable but waiting "
          "for a CPU %.0f%% (schedstat: the machine's other load)"
          % (100 * ovl["sip_run"], 100 * ovl["sip_wait"]), flush=True)
    settle()

prof_file = None
if want_perf and bm:
    prof_file = os.path.join(tmp, "perf.data")
    print("\n--- perf record -g on maskd at %d calls/s" % bm["rate"],
          flush=True)
    r = run_step("maskd", bm["rate"], step, "perf", perf_out=prof_file)
    show(r)

uas.send_signal(signal.SIGTERM)
try:
    uas.wait(10)
except subprocess.TimeoutExpired:
    uas.kill()
    uas.wait()

# ---- summary
print("\n=== summary (failed = SIPp failed calls + calls never completed;"
      " cpu_ms = maskd utime+stime per successful call)")
print(HDR)
for r in via + direct:
    show(r)
print()
if bm:
    print("maskd  highest clean rate (< 0.1%% failed): %d calls/s "
          "(achieved %.0f), %.3f ms CPU/call"
          % (bm["rate"], bm["achieved"], bm["maskd_cpu_ms"] / bm["ok"]))
else:
    print("maskd  no clean step")
if bd:
    print("direct highest clean rate (< 0.1%% failed): %d calls/s "
          "(achieved %.0f)" % (bd["rate"], bd["achieved"]))
else:
    print("direct no clean step")
if bm and bd:
    print("maskd / direct: %.0f%%" % (100.0 * bm["rate"] / bd["rate"]))
if lat.get("maskd", {}).get("p50") is not None and \
        lat.get("direct", {}).get("p50") is not None:
    m, d = lat["maskd"], lat["direct"]
    print("INVITE->200 at %d calls/s: via maskd p50 %.3f ms p99 %.3f ms "
          "(%d calls); direct p50 %.3f ms p99 %.3f ms (%d calls); "
          "added p50 %.3f ms, p99 %.3f ms"
          % (m["rate"], m["p50"], m["p99"], m["rtt_n"], d["p50"], d["p99"],
             d["rtt_n"], m["p50"] - d["p50"], m["p99"] - d["p99"]))
if prof_file:
    print("\nperf report --no-children -i %s (top 25):" % prof_file,
          flush=True)
    rep = subprocess.run(
        ["perf", "report", "--no-children", "--stdio", "-i", prof_file,
         "--percent-limit", "0.8", "-g", "none", "--sort", "dso,sym"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = [l for l in rep.stdout.splitlines()
             if l.strip() and not l.startswith("#")]
    print("\n".join(lines[:25]))
PY
m=$(curl -s "http://127.0.0.1:$api_port/metrics")
echo "$m" | grep -E '^maskd_(sip_calls_total|sip_calls_answered_total|sip_rejected_busy_total|sip_rejected_ports_total|sip_overload_rejected_total|sip_retransmissions_received_total|cdrs_written_total|cdrs_lost_total) ' || true
echo "maskd VmHWM: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
