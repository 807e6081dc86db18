#!/usr/bin/env python3
"""bench_cluster_api.py - session creates/s over real HTTP through NODES
maskd nodes in cluster mode on one PostgreSQL (durable commits on both
sides: PostgreSQL with fsync and synchronous_commit on, each node's LMDB
group commit).

    python3 bench/bench_cluster_api.py [--maskd build/maskd] [--nodes 3]
        [--secs 10] [--conns 32] [--pg-conns 4] [--pool 1000]
        [--load-nodes K] [--perf] [--statements]

Starts its own PostgreSQL (tests/cluster/pg.py), a pool of POOL numbers,
NODES maskd (tests/cluster/test_cluster_nodes.py's ClusterMaskd, log
level warn, [cluster] connections = PG_CONNS), then one wrk per node
(bench/creates.lua: POST /v1/sessions, parties never repeated, CONNS
keep-alive connections each; with --load-nodes only the first K nodes
get creates, the rest only cache what the feed brings, which prices a
node's feed alone) for SECS seconds, all at once. Prints
creates/s over all nodes, latency per node, and CPU per create of
PostgreSQL (every process of the server), of the maskd nodes and of the
client (wrk: what the load costs, not part of the figure), PostgreSQL's
WAL bytes per create (steady where CPU figures swing with the box's
other load), and the sessions PostgreSQL holds at the end (each
answered 201 is there).

Numbers depend on the machine (here: 2 cores shared with other builds);
quote them with the command.
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
sys.path.insert(0, os.path.join(ROOT, "tests", "sip"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import test_sip  # noqa: E402
from test_cluster_nodes import ClusterMaskd  # noqa: E402
from pg import Postgres  # noqa: E402
from bench_cluster import pg_cpu_s, HZ  # noqa: E402

TOOL = os.path.join(ROOT, "build", "tests", "cluster_tool")


class BenchMaskd(ClusterMaskd):
    PG_CONNS = 4

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            conf = f.read()
        # a bench measures creates, not the debug log; room for them all
        conf = conf.replace("level = debug", "level = warn")
        conf = conf.replace("map_size = 64M", "map_size = 2G")
        conf = conf.replace("connections = 2",
                            "connections = %d" % self.PG_CONNS)
        with open(self.conf_path, "w") as f:
            f.write(conf)


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / HZ


def proc_write_bytes(pid):
    """Bytes pid made the kernel write to storage (its LMDB pages,
    mostly; /proc/<pid>/io write_bytes)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def box_ticks():
    """The box's CPU ticks since boot by kind (/proc/stat's cpu line)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return dict(zip(("user", "nice", "system", "idle", "iowait", "irq",
                     "softirq", "steal"), v))


def thread_cpu_s(pid):
    """CPU seconds by thread name (comm) of process pid."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/stat" % (base, tid)) as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        st = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(st[11]) + int(st[12])) / HZ
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", default=os.path.join(ROOT, "build", "maskd"))
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--pg-conns", type=int, default=4)
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--load-nodes", type=int, default=0,
                    help="send the creates to the first K nodes only "
                    "(default: all); the others still cache every "
                    "session through the feed")
    ap.add_argument("--perf", action="store_true",
                    help="perf record -g on node 0 over the run "
                    "(perf.data in the work directory)")
    ap.add_argument("--statements", action="store_true",
                    help="load pg_stat_statements (postgresql-15's "
                    "contrib) and print where PostgreSQL's time went")
    a = ap.parse_args()
    for exe in (a.maskd, TOOL):
        if not os.access(exe, os.X_OK):
            sys.exit("build first: scripts/build.sh build (%s)" % exe)
    test_sip.ARGS = argparse.Namespace(maskd=a.maskd, source_dir=ROOT)
    BenchMaskd.PG_CONNS = a.pg_conns
    tmp = tempfile.mkdtemp(prefix="maskd-bench-cluster-")
    nodes = []
    with Postgres() as pg:
        try:
            if a.statements:
                with open(os.path.join(pg.data, "postgresql.conf"),
                          "a") as f:
                    f.write("shared_preload_libraries = "
                            "'pg_stat_statements'\n"
                            "pg_stat_statements.track = all\n")
                pg.stop()
                pg.start()
                pg.psql("CREATE EXTENSION pg_stat_statements")
            subprocess.run([TOOL, "pool", pg.dsn, str(a.pool)], check=True,
                           stdout=subprocess.DEVNULL)
            for i in range(a.nodes):
                nodes.append(BenchMaskd(os.path.join(tmp, "n%d" % i),
                                        pg.dsn, "bench%d" % i).start())
            # every node's connections up: a create answers 201
            for i, m in enumerate(nodes):
                deadline = time.monotonic() + 30
                while True:
                    st, _, raw = m.request("POST", "/v1/sessions", {
                        "party_a": "+1990000%04d" % i,
                        "party_b": "+1991000%04d" % i})
                    if st == 201:
                        break
                    if time.monotonic() > deadline:
                        sys.exit("node %d: %s" % (i, raw))
                    time.sleep(0.2)
            before = int(pg.psql("SELECT count(*) FROM sessions")[0][0])
            lsn0 = pg.psql("SELECT pg_current_wal_lsn()")[0][0]
            if a.statements:
                pg.psql("SELECT pg_stat_statements_reset()")
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_pg0 = pg_cpu_s(pg)
            cpu_n0 = [proc_cpu_s(m.proc.pid) for m in nodes]
            io_n0 = [proc_write_bytes(m.proc.pid) for m in nodes]
            thr0 = [thread_cpu_s(m.proc.pid) for m in nodes]
            met0 = [m.metrics() for m in nodes]
            perf = None
            if a.perf:
                perf = subprocess.Popen(
                    ["perf", "record", "-g", "-o",
                     os.path.join(tmp, "perf.data"), "-p",
                     str(nodes[0].proc.pid), "--", "sleep", str(a.secs)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            box0 = box_ticks()
            wrks = []
            for i, m in enumerate(nodes[:a.load_nodes or a.nodes]):
                env = dict(os.environ, MASKD_TOKEN=test_sip.TOKEN,
                           MASKD_PARTY_BASE=str(i * 100000000))
                wrks.append(subprocess.Popen(
                    ["wrk", "-t1", "-c%d" % a.conns, "-d%ds" % a.secs,
                     "-s", os.path.join(ROOT, "bench", "creates.lua"),
                     "http://127.0.0.1:%d" % m.api_port],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, env=env))
            outs = [w.communicate()[0] for w in wrks]
            box1 = box_ticks()
            if perf:
                perf.wait()
            met1 = [m.metrics() for m in nodes]
            cpu_n1 = [proc_cpu_s(m.proc.pid) for m in nodes]
            io_n1 = [proc_write_bytes(m.proc.pid) for m in nodes]
            thr1 = [thread_cpu_s(m.proc.pid) for m in nodes]
            cpu_pg1 = pg_cpu_s(pg)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            after = int(pg.psql("SELECT count(*) FROM sessions")[0][0])
            # WAL: what each create writes, steady where CPU figures
            # swing with the box's other load
            wal = int(float(pg.psql("SELECT pg_wal_lsn_diff("
                                    "pg_current_wal_lsn(), '%s')" % lsn0)
                            [0][0]))
            top = pg.psql(
                "SELECT calls, round(total_exec_time), rows, "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                "FROM pg_stat_statements ORDER BY total_exec_time DESC "
                "LIMIT 15") if a.statements else []
        finally:
            for m in nodes:
                m.stop()
    total = 0.0
    for i, out in enumerate(outs):
        line = out.strip().splitlines()[-1] if out.strip() else ""
        print("node %d: %s" % (i, line))
        mo = re.search(r"creates/s (\d+)", line)
        total += float(mo.group(1)) if mo else 0
    created = after - before
    for row in top:
        print("  calls %s, %s ms, rows %s: %s" % tuple(row))
    client = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    print("%d nodes (%d loaded) x %d HTTP connections, %d PostgreSQL "
          "connections each, %d s: %.0f creates/s; in PostgreSQL: %d" % (
              a.nodes, len(outs), a.conns, a.pg_conns, a.secs, total,
              created))
    if created:
        print("CPU per create: PostgreSQL %.0f us, maskd %.0f us (%s s "
              "per node), client (wrk) %.0f us" % (
                  (cpu_pg1 - cpu_pg0) / created * 1e6,
                  (sum(cpu_n1) - sum(cpu_n0)) / created * 1e6,
                  "/".join("%.1f" % (y - x) for x, y in zip(cpu_n0, cpu_n1)),
                  client / created * 1e6))
        print("PostgreSQL WAL per create: %.0f bytes" % (wal / created))
        # whether the load kept the box busy (idle: the figure is the
        # connections' latency, not the CPU) and what the host took
        # (steal); the same code gives half the creates/s in the box's
        # slow hours, with CPU per create twice as high everywhere
        d = {k: box1[k] - box0[k] for k in box0}
        t = sum(d.values()) or 1
        print("box over the load: busy %.0f%%, idle %.0f%%, iowait "
              "%.0f%%, steal %.0f%%" % (
                  100.0 * (t - d["idle"] - d["iowait"] - d["steal"]) / t,
                  100.0 * d["idle"] / t, 100.0 * d["iowait"] / t,
                  100.0 * d["steal"] / t))
        by = {}
        for t0, t1 in zip(thr0, thr1):
            for name, v in t1.items():
                by[name] = by.get(name, 0.0) + v - t0.get(name, 0.0)
        print("maskd CPU per create by thread: " + ", ".join(
            "%s %.0f us" % (n, v / created * 1e6)
            for n, v in sorted(by.items(), key=lambda x: -x[1]) if v > 0))
        # LMDB commits (all; lazy: cache only, meta page not synced) and
        # write operations per create made anywhere, every node together
        d = {}
        for m0, m1 in zip(met0, met1):
            for k in ("maskd_store_commits_total",
                      "maskd_store_lazy_commits_total",
                      "maskd_store_ops_total"):
                d[k] = d.get(k, 0) + m1.get(k, 0) - m0.get(k, 0)
        print("per create, all nodes: " + ", ".join(
            "%s %.2f" % (k.replace("maskd_", ""), v / created)
            for k, v in d.items()) + ", storage writes %.1f KB" % (
                (sum(io_n1) - sum(io_n0)) / created / 1024))
        tx = sum(m1.get("maskd_cluster_create_transactions_total", 0) -
                 m0.get("maskd_cluster_create_transactions_total", 0)
                 for m0, m1 in zip(met0, met1))
        if tx:
            # PostgreSQL's CPU per create falls as batches grow (one
            # function call, plan and commit for all): more creates in
            # flight per node, bigger batches
            print("creates per PostgreSQL transaction (batch): %.1f"
                  % (created / tx))
    # the nodes' stores are 2G maps, hundreds of MB each after a run:
    # only a profile asked for stays
    for i in range(a.nodes):
        shutil.rmtree(os.path.join(tmp, "n%d" % i), ignore_errors=True)
    if a.perf:
        print("perf: perf report -i %s" % os.path.join(tmp, "perf.data"))
    else:
        os.rmdir(tmp)

if __name__ == "__main__":
    main()
