#!/usr/bin/env python3
"""test_cluster.py - src/cluster/ against a real PostgreSQL.

Run by ctest as:
    python3 tests/cluster/test_cluster.py --maskd /path/to/maskd --source-dir /repo
with CLUSTER_TOOL naming the built tests/cluster/cluster_tool (the real
module on a real libevent loop). Further arguments go to unittest.

PostgreSQL is started by the test itself (tests/cluster/pg.py): initdb in
a temporary directory as the postgres user, 127.0.0.1 on a free port.
Each test works in its own database of that server.

Nothing here asserts speed: the bench (bench/bench_cluster.sh) measures.
"""
import argparse
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg import Postgres  # noqa: E402

TOOL = os.environ.get("CLUSTER_TOOL", "")
WAIT_S = 60


def tool(*args, timeout=300):
    """Run cluster_tool; its CompletedProcess (text)."""
    return subprocess.run([TOOL] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def last_json(out):
    import json
    return json.loads(out.strip().splitlines()[-1])


class ClusterCase(unittest.TestCase):
    pg = None
    n_created = 0       # create_many(): ids given so far

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres()

    @classmethod
    def tearDownClass(cls):
        if cls.pg:
            cls.pg.close()

    def db(self, name):
        """A fresh database @name; its DSN."""
        self.pg.psql("CREATE DATABASE %s" % name, db="postgres")
        return self.pg.dsn.rsplit("/", 1)[0] + "/" + name

    def sql(self, db, q):
        return self.pg.psql(q, db=db)

    # ---- migrations ----

    def test_migrations_twice(self):
        dsn = self.db("mig_twice")
        for _ in range(2):
            r = tool("migrate", dsn)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("schema ok", r.stdout)
        self.assertEqual(self.sql("mig_twice",
                                  "SELECT version FROM schema_version "
                                  "ORDER BY version"),
                         [[str(v)] for v in range(1, 9)])
        for t in ("sessions", "pairs", "pool", "pins", "cdrs", "events",
                  "changes"):
            self.assertEqual(self.sql("mig_twice",
                                      "SELECT to_regclass('%s') IS NOT NULL"
                                      % t), [["t"]], t)

    def test_migrations_at_once(self):
        """Three nodes starting together: one applies, none fails."""
        dsn = self.db("mig_once")
        procs = [subprocess.Popen([TOOL, "migrate", dsn],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        for p in procs:
            out, err = p.communicate(timeout=WAIT_S)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("schema ok", out)
        self.assertEqual(self.sql("mig_once",
                                  "SELECT version FROM schema_version "
                                  "ORDER BY version"),
                         [[str(v)] for v in range(1, 9)])

    def test_newer_schema_refused(self):
        dsn = self.db("mig_newer")
        self.assertEqual(tool("migrate", dsn).returncode, 0)
        self.sql("mig_newer", "INSERT INTO schema_version VALUES (99)")
        r = tool("migrate", dsn, timeout=WAIT_S)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("newer than this maskd", r.stderr)
        # the password never reaches the log
        self.assertNotIn(self.pg.password, r.stderr)
        self.assertIn("maskd:***@", r.stderr)

    # ---- allocation ----

    def check_no_shared_pair(self, db):
        rows = self.sql(db, """
            SELECT party, vn, count(*) FROM (
              SELECT party_a AS party, vn FROM sessions WHERE status = 0
              UNION ALL
              SELECT party_b, vn FROM sessions WHERE status = 0) x
            GROUP BY 1, 2 HAVING count(*) > 1""")
        self.assertEqual(rows, [], "two active sessions share (party, vn)")
        # the pool's counts are what the sessions say
        rows = self.sql(db, """
            SELECT p.vn, p.active, count(s.id) FROM pool p
              LEFT JOIN sessions s ON s.vn = p.vn AND s.status = 0
            GROUP BY 1, 2 HAVING p.active <> count(s.id)""")
        self.assertEqual(rows, [], "pool counts out of step")

    def run_concurrent(self, alloc, pool=5, parties=8, db=None):
        """4 processes x 2 connections, 300 operations each (40% closes),
        8 parties over a pool of 5: creates that share parties race all
        the time."""
        db = db or "alloc_" + alloc
        dsn = self.db(db)
        r = tool("pool", dsn, pool)
        self.assertEqual(r.returncode, 0, r.stderr)
        procs = [subprocess.Popen([TOOL, "create", dsn, "300", "6",
                                   str(parties), "2", alloc, str(seed),
                                   "40"],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for seed in (11, 23, 37, 41)]
        ok = 0
        for p in procs:
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, err)
            res = last_json(out)
            self.assertEqual(res["other"], 0, out)
            self.assertEqual(res["unavailable"], 0, out)
            if alloc == "lock":
                # locks never lose a race; SERIALIZABLE may starve one
                # (EBUSY after CLUSTER_RETRY_MAX tries): counted, and the
                # invariants below must hold all the same
                self.assertEqual(res["busy"], 0, out)
            ok += res["ok"]
        self.assertGreater(ok, 0)
        self.check_no_shared_pair(db)
        total = int(self.sql(db, "SELECT count(*) FROM sessions")[0][0])
        self.assertEqual(total, ok)
        # the feed has one change per create and per close
        changes = int(self.sql(db, "SELECT count(*) FROM changes "
                               "WHERE kind = 'session'")[0][0])
        ended = int(self.sql(db, "SELECT count(*) FROM sessions "
                             "WHERE status <> 0")[0][0])
        self.assertEqual(changes, total + ended)

    def test_concurrent_creates_lock(self):
        self.run_concurrent("lock")

    def test_concurrent_creates_serializable(self):
        self.run_concurrent("serializable")

    def test_concurrent_creates_window(self):
        """A pool of 64, large enough for a batch's window (schema 5:
        maskd_session_create_many() picks in memory), and 24 parties
        that come to hold most of it: creates of one batch share
        parties, picks find nothing eligible in the window and go create
        by create, and the other processes' batches race for the same
        numbers."""
        self.run_concurrent("lock", pool=64, parties=24, db="alloc_window")

    def test_pool_vacuum_shared(self):
        """Three nodes creating for 3.5 s: every create dirties a pool
        row and each node's sweep (CLUSTER_SWEEP_MS, 1 s) finds creates
        to clean up after, but the pool is vacuumed at most once every
        CLUSTER_VACUUM_MS (0.9 s) across them all, by whichever node
        takes the vacuum turn - not once a second by each (about 9
        here). Without the turn's lock, two nodes could both find a
        vacuum due and run one after the other (5 in 3.6 s, CI)."""
        dsn = self.db("vacuum_turn")
        self.assertEqual(tool("pool", dsn, 50).returncode, 0)
        env = dict(os.environ, CLUSTER_TOOL_SECS="3.5")
        t0 = time.monotonic()
        procs = [subprocess.Popen([TOOL, "create", dsn, "200000", "2",
                                   "100000", "1", "lock", str(seed)],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=env)
                 for seed in (5, 7, 9)]
        for p in procs:
            out, err = p.communicate(timeout=WAIT_S)
            self.assertEqual(p.returncode, 0, err)
            res = last_json(out)
            self.assertGreater(res["ok"], 0, out)
            self.assertLess(res["ok"], 200000, out)    # time ended it
        secs = time.monotonic() - t0
        n = int(self.sql("vacuum_turn", "SELECT vacuum_count FROM "
                         "pg_stat_user_tables WHERE relname = 'pool'")
                [0][0])
        self.assertGreaterEqual(n, 1)
        self.assertLessEqual(n, int(secs / 0.9) + 1, "%.1f s" % secs)

    def test_least_used(self):
        """One connection, batches of 8 one after the other, parties
        that never meet: every create takes the least-used number, so
        640 creates over 64 numbers give each exactly 10."""
        dsn = self.db("alloc_least")
        self.assertEqual(tool("pool", dsn, 64).returncode, 0)
        r = tool("create", dsn, 640, 8, 1000000, 1, "lock", 7)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(last_json(r.stdout)["ok"], 640)
        self.assertEqual(self.sql("alloc_least", "SELECT min(active), "
                                  "max(active), count(*) FROM pool"),
                         [["10", "10", "64"]])
        self.check_no_shared_pair("alloc_least")

    def create_many(self, db, parties):
        """maskd_session_create_many() called as the node calls it, one
        batch of creates (party_a, party_b), no number, no PIN: the
        numbers it answers, in order."""
        n = len(parties)

        def arr(vals, typ):
            return "ARRAY[%s]::%s[]" % (", ".join(vals), typ)
        ids = ["decode('%032x', 'hex')" % (0xbeef0000 + i + 1)
               for i in range(self.n_created, self.n_created + n)]
        self.n_created += n
        q = ("SELECT k, err, vn FROM maskd_session_create_many(%s) "
             "ORDER BY k" % ", ".join([
                 arr(ids, "bytea"),
                 arr(["'%s'" % a for a, _ in parties], "text"),
                 arr(["'%s'" % b for _, b in parties], "text"),
                 arr(["''"] * n, "text"), arr(["1000"] * n, "bigint"),
                 arr(["3600000"] * n, "bigint"), arr(["0"] * n, "bigint"),
                 arr(["false"] * n, "boolean"), arr(["NULL"] * n, "text"),
                 arr(["NULL"] * n, "text"), arr(["false"] * n, "boolean"),
                 arr(["0"] * n, "smallint"), arr(["NULL"] * n, "text"),
                 arr(["NULL"] * n, "text"), arr(["false"] * n, "boolean"),
                 arr(["0"] * n, "integer")]))
        rows = self.sql(db, q)
        self.assertEqual([r[:2] for r in rows],
                         [[str(i + 1), ""] for i in range(n)], rows)
        return [r[2] for r in rows]

    def test_batch_picks(self):
        """One batch, called directly, on a pool of 40 numbers with
        uneven counts: each create takes the least-used (count, number)
        that neither of its parties holds, the counts as the creates
        before it in the batch left them. A batch whose parties are all
        new and distinct is picked by one statement (schema 7); one in
        which a party comes twice by the PL/pgSQL loop; both answer as
        this model does, and the pool's counts follow."""
        import random
        dsn = self.db("alloc_picks")
        self.assertEqual(tool("pool", dsn, 40).returncode, 0)
        rnd = random.Random(5)
        counts = {}
        # two numbers far less used than the rest: the batch's picks
        # go back to them, each pick raising the count the next sees
        for i, (vn,) in enumerate(self.sql("alloc_picks", "SELECT vn "
                                           "FROM pool ORDER BY vn")):
            counts[vn] = i if i < 2 else 3 + rnd.randrange(4)
            self.sql("alloc_picks", "UPDATE pool SET active = %d "
                     "WHERE vn = '%s'" % (counts[vn], vn))
        held = {}

        def model(parties):
            # the window: the batch's size + 2 least-used numbers
            win = sorted(counts, key=lambda v: (counts[v], v))
            win = win[:len(parties) + 2]
            out = []
            for a, b in parties:
                used = held.get(a, set()) | held.get(b, set())
                vn = min((v for v in win if v not in used),
                         key=lambda v: (counts[v], v))
                counts[vn] += 1
                held.setdefault(a, set()).add(vn)
                held.setdefault(b, set()).add(vn)
                out.append(vn)
            return out

        distinct = [("+1666%04d" % i, "+1777%04d" % i) for i in range(8)]
        want = model(distinct)
        self.assertEqual(self.create_many("alloc_picks", distinct), want)
        self.assertLess(len(set(want)), len(want))
        shared = [("+1888%04d" % i, "+1999%04d" % (i % 3))
                  for i in range(8)]
        want = model(shared)
        self.assertEqual(self.create_many("alloc_picks", shared), want)
        self.assertEqual(dict(self.sql("alloc_picks", "SELECT vn, "
                                       "active::text FROM pool")),
                         {v: str(c) for v, c in counts.items()})

    def test_purge(self):
        """maskd_purge() (schema 8) keeps what retention keeps: a
        session goes, with its pairs, PINs, call records and change
        rows, once its end and its expiry are both past the cutoff; an
        active one, and an ended one not yet expired, stay with their
        change rows (a node starting later replays them); session-less
        call records and events go by their own times; pool rows of
        the feed go when old. A turn of at most one row a kind goes on
        where the last stopped."""
        db = "purge"
        dsn = self.db(db)
        self.assertEqual(tool("pool", dsn, 40).returncode, 0)
        # 4 sessions, created at 1000 ms, expiring at 3,601,000
        vns = self.create_many(db, [("+1444%04d" % i, "+1555%04d" % i)
                                    for i in range(4)])
        self.assertEqual(len(vns), 4)
        ids = [r[0] for r in self.sql(db, "SELECT encode(id, 'hex') "
                                      "FROM sessions ORDER BY id")]
        gone, kept_ended, active, unnoted = ids
        for sid, status in ((gone, 2), (kept_ended, 2), (unnoted, 1)):
            self.sql(db, "SELECT maskd_session_end(decode('%s', 'hex'), "
                     "%d::smallint, 2000)" % (sid, status))
        # closed, but it could still be routed until this expiry
        self.sql(db, "UPDATE sessions SET expires_at_ms = 99000000 "
                 "WHERE id = decode('%s', 'hex')" % kept_ended)
        # expired by a node that died before it wrote session.expired
        self.sql(db, "UPDATE sessions SET expiry_noted = false "
                 "WHERE id = decode('%s', 'hex')" % unnoted)
        self.sql(db, "INSERT INTO pins (session_id, party, vn, pin, "
                 "active) VALUES (decode('%s', 'hex'), 0, '+1', '1234', "
                 "false)" % gone)
        zero = "decode('%s', 'hex')" % ("00" * 16)
        for cid, sid, end in (("01", "'\\x%s'" % gone, 2000),
                              ("02", "'\\x%s'" % active, 2000),
                              ("03", zero, 2000), ("04", zero, 50000000)):
            self.sql(db, "INSERT INTO cdrs (id, session_id, a_to_b, "
                     "start_ms, answer_ms, end_ms, final_code, hangup, "
                     "reason, pkts_a_to_b, pkts_b_to_a, bytes_a_to_b, "
                     "bytes_b_to_a) VALUES (decode('%s', 'hex'), %s, "
                     "true, 1000, 0, %d, 200, 0, '', 0, 0, 0, 0)"
                     % (cid * 16, sid, end))
        for eid, created in (("0a", 2000), ("0b", 60000000)):
            self.sql(db, "INSERT INTO events (id, type, created_ms, "
                     "next_at_ms, body) VALUES (decode('%s', 'hex'), "
                     "'call.unrouted', %d, 0, '{}')" % (eid * 16, created))
        self.sql(db, "UPDATE changes SET at_ms = 1000 WHERE kind = 'pool'")
        before = int(self.sql(db, "SELECT count(*) FROM changes")[0][0])

        def purge(cutoff, max_, xid="0", cid=0):
            return self.sql(db, "SELECT * FROM maskd_purge(%s, 10000000, "
                            "%d, '%s', %d)" % (cutoff, max_, xid, cid))[0]

        # sessions off (NULL): the old event alone
        self.assertEqual(purge("NULL", 100)[:4], ["0", "0", "1", "0"])
        # one row a kind: the old session with its record, the old
        # session-less record, one change row kept or gone, a position
        n_s, n_c, n_e, n_ch, xid, cid = purge(10000000, 1)
        self.assertEqual([n_s, n_c, n_e], ["1", "2", "0"])
        self.assertNotEqual(cid, "0")
        # from there to the end (40 pool rows, 4 creates, 3 ends)
        n_s, n_c, n_e, n_ch, xid, cid = purge(10000000, 1000, xid,
                                              int(cid))
        self.assertEqual([n_s, n_c, n_e, xid, cid],
                         ["0", "0", "0", "0", "0"])
        left = dict(self.sql(db, "SELECT encode(id, 'hex'), status::text "
                             "FROM sessions"))
        self.assertEqual(left, {kept_ended: "2", active: "0",
                                unnoted: "1"})
        for table in ("pairs", "pins", "cdrs", "changes"):
            self.assertEqual(self.sql(db, "SELECT count(*) FROM %s WHERE "
                                      "session_id = decode('%s', 'hex')"
                                      % (table, gone)), [["0"]], table)
        # the other sessions' rows stay: 5 change rows, 6 pairs
        self.assertEqual(self.sql(db, "SELECT count(*) FROM changes"),
                         [["5"]])
        self.assertLess(5, before)
        self.assertEqual(self.sql(db, "SELECT count(*) FROM pairs"),
                         [["6"]])
        self.assertEqual(self.sql(db, "SELECT encode(id, 'hex') FROM cdrs "
                                  "ORDER BY id"),
                         [["02" * 16], ["04" * 16]])
        self.assertEqual(self.sql(db, "SELECT encode(id, 'hex') FROM "
                                  "events"), [["0b" * 16]])

    def test_pool_exhausted(self):
        """3 numbers, 3 parties: a party is in at most 3 active
        sessions (one per number), so at most 4 sessions fit (9 party
        slots, 2 a session); the rest get ENOSPC."""
        dsn = self.db("alloc_spc")
        self.assertEqual(tool("pool", dsn, 3).returncode, 0)
        r = tool("create", dsn, 40, 1, 3, 1, "lock", 5)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = last_json(r.stdout)
        self.assertGreaterEqual(res["ok"], 3)
        self.assertLessEqual(res["ok"], 4)
        self.assertEqual(res["ok"] + res["enospc"], 40)
        self.check_no_shared_pair("alloc_spc")
        # no party holds more sessions than there are numbers
        rows = self.sql("alloc_spc", """
            SELECT party, count(*) FROM (
              SELECT party_a AS party FROM sessions WHERE status = 0
              UNION ALL SELECT party_b FROM sessions WHERE status = 0) x
            GROUP BY 1 HAVING count(*) > 3""")
        self.assertEqual(rows, [])

    # ---- the cache feed ----

    def start_feed(self, dsn, lmdb, expect, timeout=120):
        p = subprocess.Popen([TOOL, "feed", dsn, lmdb, str(expect),
                              str(timeout)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertEqual(p.stdout.readline().strip(), "feeding")
        return p

    def finish_feed(self, p):
        out, err = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, out + err)
        return last_json(out)

    def check_cache(self, db, lmdb):
        """Every session of PostgreSQL routes in the LMDB cache: both
        parties' pairs of the active ones name it; the ended ones are
        ESTALE (or a newer session of the pair)."""
        rows = self.sql(db, "SELECT encode(id, 'hex'), party_a, party_b, "
                        "vn, status FROM sessions")
        for sid, a, b, vn, status in rows:
            for party in (a, b):
                r = tool("lookup", lmdb, party, vn)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = r.stdout.strip()
                if status == "0":
                    self.assertEqual(got, sid, (party, vn))
                else:
                    self.assertNotEqual(got, "ENOENT", (party, vn))
        return len(rows)

    def test_feed(self):
        """Sessions created and closed through one node's path appear in
        another node's LMDB (store_lookup() routes them); stopped and
        started again, the feed resumes from its kept cursor."""
        db = "feed"
        dsn = self.db(db)
        self.assertEqual(tool("pool", dsn, 10).returncode, 0)
        lmdb = os.path.join(self.pg.dir, "node2.lmdb")
        feed = self.start_feed(dsn, lmdb, 60)
        r = tool("create", dsn, 60, 4, 200, 2, "lock", 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(last_json(r.stdout)["ok"], 60)
        res = self.finish_feed(feed)
        self.assertGreaterEqual(res["applied"], 60)
        self.assertEqual(self.check_cache(db, lmdb), 60)
        # node 2 down; node 1 creates and closes (40% of 80 operations)
        r = tool("create", dsn, 80, 4, 200, 2, "lock", 9, 40)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = last_json(r.stdout)
        changes = res["ok"] + res["closed"]
        self.assertGreater(res["closed"], 0)
        # back: exactly what changed meanwhile is applied, no more
        feed = self.start_feed(dsn, lmdb, changes)
        res = self.finish_feed(feed)
        self.assertEqual(res["applied"], changes)
        self.check_cache(db, lmdb)

    def test_feed_catch_up_in_order(self):
        """A node far behind catches up reading each change about once:
        the feed walks changes_cursor in order, batch by batch, even
        where changes has no statistics yet (a new table, autovacuum not
        yet round). A read that took the whole backlog and sorted it -
        the plan chosen there without the feed's settings - reads
        5 + 4 + 3 + 2 + 1 = 15 thousand index entries for 5,000
        changes."""
        n = 5000
        db = "feed_catch_up"
        dsn = self.db(db)
        self.assertEqual(tool("migrate", dsn).returncode, 0)
        self.sql(db, "ALTER TABLE changes SET (autovacuum_enabled = off);"
                 "ALTER TABLE sessions SET (autovacuum_enabled = off)")
        self.assertEqual(tool("pool", dsn, 1000).returncode, 0)
        r = tool("create", dsn, n, 32, 10 * n, 2, "lock", 5)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(last_json(r.stdout)["ok"], n)
        self.assertEqual(self.sql(db, "SELECT reltuples < 0 FROM pg_class "
                                  "WHERE relname = 'changes'"), [["t"]],
                         "changes has statistics: the case is not made")

        def entries_read():
            return int(self.sql(db, "SELECT idx_tup_read FROM "
                                "pg_stat_user_indexes WHERE indexrelname "
                                "= 'changes_cursor'")[0][0])

        before = entries_read()
        lmdb = os.path.join(self.pg.dir, "catch_up.lmdb")
        res = self.finish_feed(self.start_feed(dsn, lmdb, n))
        self.assertEqual(res["applied"], n)
        # a backend's counters reach the view when it ends, a moment
        # after the feed's process has gone
        deadline = time.monotonic() + WAIT_S
        read = entries_read() - before
        while read < n and time.monotonic() < deadline:
            time.sleep(0.2)
            read = entries_read() - before
        self.assertGreaterEqual(read, n)
        self.assertLess(read, 1.5 * n,
                        "index entries read for %d changes" % n)

    # ---- reconnect ----

    def test_reconnect(self):
        """PostgreSQL stopped and started again: the connection comes
        back by itself and queries work again."""
        dsn = self.db("reconnect")
        self.assertEqual(tool("migrate", dsn).returncode, 0)
        p = subprocess.Popen([TOOL, "watch", dsn, "120"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            def expect(line):
                deadline = time.monotonic() + WAIT_S
                while time.monotonic() < deadline:
                    got = p.stdout.readline().strip()
                    if got == line:
                        return
                    if not got and p.poll() is not None:
                        break
                self.fail("watch never said %r" % line)

            expect("up")
            expect("query ok")
            self.pg.stop()
            expect("down")
            time.sleep(1)
            self.pg.start()
            expect("up")
            expect("query ok")
        finally:
            p.kill()
            p.communicate()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskd", required=True)
    ap.add_argument("--source-dir", required=True)
    args, rest = ap.parse_known_args()
    if not TOOL or not os.access(TOOL, os.X_OK):
        sys.exit("test_cluster: CLUSTER_TOOL must name cluster_tool")
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
