#!/usr/bin/env python3
"""bench_cluster.py - session creates through PostgreSQL and cache
propagation, with src/cluster/ driven by build/tests/cluster_tool.

    python3 bench/bench_cluster.py [--nodes 3] [--creates 3000] [--conns 4]
                                   [--conc 32] [--pool 1000] [--parties 100000]
                                   [--export 20000]

Starts its own PostgreSQL (tests/cluster/pg.py: temporary directory,
loopback, fsync on, synchronous_commit on: every create is a durable
commit) and, for each allocation mode (lock = advisory locks + SKIP
LOCKED, serializable = SERIALIZABLE + retries):
  - NODES cluster_tool processes (one per simulated node, CONNS
    connections and CONC creates in flight each) create CREATES sessions
    each at once: creates/s over all of them, retries;
  - the same with a small pool (2N-1 = 9 numbers, 12 parties, 40% closes)
    where every create contends;
then propagation: a feed (node 2's LMDB cache) running while one node
creates, the delay from a create's start to its row in node 2's LMDB,
p50/p99, at light load (1 in flight) and at full load; then export:
EXPORT call records written into a node's LMDB with the export queue on
and copied into PostgreSQL (records/s from the first write to an empty
queue).

Numbers depend on the machine (here: 2 cores shared with other builds);
quote them with the command.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
from pg import Postgres  # noqa: E402

TOOL = os.path.join(ROOT, "build", "tests", "cluster_tool")


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


HZ = os.sysconf("SC_CLK_TCK")


def pg_cpu_s(pg):
    """CPU seconds of the PostgreSQL server so far: the postmaster, its
    live children (backends, WAL writer, checkpointer...) and the
    children it has reaped (the backends of nodes that have exited)."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        pm = int(f.readline())
    ticks = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == pm:
            ticks += sum(int(x) for x in st[11:15])
        elif int(st[1]) == pm:
            ticks += int(st[11]) + int(st[12])
    return ticks / HZ


def pg_wal(pg, db):
    r = pg.psql("SELECT wal_records, wal_sync FROM pg_stat_wal", db=db)[0]
    return int(r[0]), int(r[1])


def run_nodes(dsn, nodes, n, conc, parties, conns, alloc, close_pct=0,
              pg=None, db=None):
    """NODES cluster_tool processes, started together once all are up:
    ops/s over the window from the first create to the last answer."""
    # each node warms its connections first (PostgreSQL compiles the
    # functions and settles their plans per connection: ~50 ms each,
    # much of a short run's CPU otherwise), says "ready", and all start
    # together when told
    env = dict(os.environ, CLUSTER_TOOL_READY="1",
               CLUSTER_TOOL_WARMUP=str(min(n, 100 * conns)))
    procs = [subprocess.Popen([TOOL, "create", dsn, str(n), str(conc),
                               str(parties), str(conns), alloc,
                               str(17 + i), str(close_pct)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for i in range(nodes)]
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            sys.exit("cluster_tool create failed: " + p.stderr.read()[-500:])
    if pg:
        cpu0, wal0 = pg_cpu_s(pg), pg_wal(pg, db)
    # the nodes' CPU: what they will have used, less what they used
    # already (/proc/PID/stat now, their rusage when reaped)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    node_cpu0 = ru.ru_utime + ru.ru_stime
    if pg:
        for p in procs:
            with open("/proc/%d/stat" % p.pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            node_cpu0 += (int(st[11]) + int(st[12])) / HZ
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    res = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            sys.exit("cluster_tool create failed: " + err[-500:])
        res.append(last_json(out))
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    node_cpu = ru.ru_utime + ru.ru_stime - node_cpu0
    dt = (max(r["end_ms"] for r in res) -
          min(r["start_ms"] for r in res)) / 1000
    ok = sum(r["ok"] for r in res)
    ops = ok + sum(r["closed"] for r in res)
    out = {"creates": ok, "closes": sum(r["closed"] for r in res),
           "enospc": sum(r["enospc"] for r in res),
           "busy": sum(r["busy"] for r in res),
           "retries": sum(r["retries"] for r in res),
           "seconds": round(dt, 2),
           "ops_per_s": round(ops / dt, 1)}
    if pg:
        cpu1, wal1 = pg_cpu_s(pg), pg_wal(pg, db)
        # per operation: the server's CPU (every process of it), the
        # nodes' (src/cluster/ and this tool's loop),
        # WAL records and WAL flushes (fsync: durable commits)
        out["pg_cpu_us_per_op"] = round((cpu1 - cpu0) / ops * 1e6)
        out["node_cpu_us_per_op"] = round(node_cpu / ops * 1e6)
        out["wal_records_per_op"] = round((wal1[0] - wal0[0]) / ops, 1)
        out["ops_per_wal_sync"] = round(ops / max(1, wal1[1] - wal0[1]),
                                        1)
    return out


def propagation(pg, db, n, conc, alloc="lock"):
    dsn = pg.dsn.rsplit("/", 1)[0] + "/" + db
    pg.psql("CREATE DATABASE %s" % db, db="postgres")
    subprocess.run([TOOL, "pool", dsn, "1000"], check=True,
                   stdout=subprocess.DEVNULL)
    lmdb = os.path.join(pg.dir, db + ".lmdb")
    feed = subprocess.Popen([TOOL, "feed", dsn, lmdb, str(n), "300"],
                            stdout=subprocess.PIPE, text=True)
    assert feed.stdout.readline().strip() == "feeding"
    subprocess.run([TOOL, "create", dsn, str(n), str(conc), "100000", "4",
                    alloc, "5"], check=True, stdout=subprocess.DEVNULL)
    out, _ = feed.communicate()
    return last_json(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--creates", type=int, default=3000)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--parties", type=int, default=100000)
    ap.add_argument("--alloc", default="lock,serializable",
                    help="allocation modes to run, comma-separated")
    ap.add_argument("--no-propagation", action="store_true")
    ap.add_argument("--export", type=int, default=20000,
                    help="call records written and copied into "
                    "PostgreSQL (0: skip)")
    a = ap.parse_args()
    if not os.access(TOOL, os.X_OK):
        sys.exit("build first: scripts/build.sh build")
    with Postgres() as pg:
        print("postgresql on 127.0.0.1:%d, fsync on" % pg.port)
        for alloc in a.alloc.split(","):
            db = "b_" + alloc
            pg.psql("CREATE DATABASE %s" % db, db="postgres")
            dsn = pg.dsn.rsplit("/", 1)[0] + "/" + db
            subprocess.run([TOOL, "pool", dsn, str(a.pool)], check=True,
                           stdout=subprocess.DEVNULL)
            r = run_nodes(dsn, a.nodes, a.creates, a.conc, a.parties,
                          a.conns, alloc, pg=pg, db=db)
            print("%-12s %d nodes x %d conns x %d in flight, pool %d: %s"
                  % (alloc, a.nodes, a.conns, a.conc, a.pool, json.dumps(r)))
            db = "c_" + alloc
            pg.psql("CREATE DATABASE %s" % db, db="postgres")
            dsn = pg.dsn.rsplit("/", 1)[0] + "/" + db
            subprocess.run([TOOL, "pool", dsn, "9"], check=True,
                           stdout=subprocess.DEVNULL)
            r = run_nodes(dsn, a.nodes, a.creates // 3, 8, 12, 2, alloc, 40)
            print("%-12s contended: pool 9, 12 parties, 40%% closes: %s"
                  % (alloc, json.dumps(r)))
        runs = [("light (1 in flight)", 1),
                ("loaded (%d in flight)" % a.conc, a.conc)]
        for name, conc in ([] if a.no_propagation else runs):
            r = propagation(pg, "p%d" % conc, 500 if conc == 1 else 2000,
                            conc)
            print("propagation %s: %s" % (name, json.dumps(r)))
        if a.export:
            pg.psql("CREATE DATABASE e_export", db="postgres")
            dsn = pg.dsn.rsplit("/", 1)[0] + "/e_export"
            lmdb = os.path.join(pg.dir, "export_lmdb")
            os.makedirs(lmdb)
            out = subprocess.run([TOOL, "export", dsn, lmdb, str(a.export),
                                  "300"], check=True, text=True,
                                 stdout=subprocess.PIPE).stdout
            r = last_json(out)
            r["records_per_s"] = round(a.export / r["total_s"])
            print("export (call records, LMDB queue -> PostgreSQL): %s"
                  % json.dumps(r))


if __name__ == "__main__":
    main()
