#!/usr/bin/env python3
"""test_cluster_nodes.py - two maskd nodes on one PostgreSQL ([cluster]
store): a session created through one node's API routes a real call
(SIPp) through the other.

Run by ctest as:
    python3 tests/cluster/test_cluster_nodes.py --maskd /path/to/maskd --source-dir /repo

PostgreSQL is started by the test (tests/cluster/pg.py); the SIP harness
(Maskd, SIPp runs, masking checks) is tests/sip/test_sip.py's.
Nothing here asserts speed: every wait is bounded and generous.
"""
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sip"))
import test_sip  # noqa: E402
import test_media as tm  # noqa: E402  (port_range)
from test_sip import (Maskd, SipBase, caller_number, callee_number,  # noqa
                      vn_number)
from pg import Postgres  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "ctl"))
import test_events as te  # noqa: E402  (Receiver: a real HTTP receiver)
import test_soak as tsk  # noqa: E402  (Sipp: a bounded load run)

WAIT_S = 30
QUERY_TIMEOUT_MS = 2000
CLUSTER_CLAIM_LEASE_S = 30      # include/maskd/cluster.h


class ClusterMaskd(Maskd):
    """A maskd whose [cluster] store is @dsn, named @node (default: one
    of its own, unique: nodes on one host must not share the host name);
    its events go to @events_url when given."""

    RTP_PORTS = 200     # 50 calls up at once

    def __init__(self, tmp, dsn, node=None, events_url=None, sip_extra="",
                 store_extra=""):
        super().__init__(tmp, sip_extra)
        self.dsn = dsn
        self.node = node or "node-%d" % self.api_port
        self.events_url = events_url
        self.store_extra = store_extra

    def write_config(self):
        super().write_config()
        if self.store_extra:
            with open(self.conf_path) as f:
                conf = f.read()
            # the [store] section's last line, where its extras go
            assert "map_size = 64M\n" in conf, "no [store] map_size"
            with open(self.conf_path, "w") as f:
                f.write(conf.replace("map_size = 64M\n", "map_size = 64M\n"
                                     + self.store_extra, 1))
        tm.own_rtp_range(self, self.RTP_PORTS)
        with open(self.conf_path, "a") as f:
            f.write("[cluster]\nstore = %s\nconnections = 2\nnode = %s\n"
                    "query_timeout_ms = %d\n"
                    % (self.dsn, self.node, QUERY_TIMEOUT_MS))
            if self.events_url:
                f.write("[events]\nurl = %s\nsecrets = %s\n"
                        "allow = 127.0.0.0/8\n"
                        % (self.events_url, te.SECRET))


class ClusterBase(SipBase):
    """A PostgreSQL and N_NODES maskd nodes on it, per class."""
    pg = None
    nodes = ()
    N_NODES = 2
    SIP_EXTRA = ""      # more [sip] lines for the nodes
    STORE_EXTRA = ""    # more [store] lines
    EVENTS = True       # the nodes' webhooks go to cls.receiver

    receiver = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-cluster-")
        cls.pg = Postgres()
        # also when a later step of setUpClass fails (no tearDownClass
        # then): a PostgreSQL left running outlives the test
        cls.addClassCleanup(cls.pg.close)
        # every node's webhooks go to one receiver: what each emits is
        # seen, and counted, in one place
        cls.receiver = te.Receiver().start()
        cls.start_nodes(lambda i: ClusterMaskd(
            os.path.join(cls.tmp, "n%d" % i), cls.pg.dsn, "n%d" % i,
            cls.receiver.url() if cls.EVENTS else None, cls.SIP_EXTRA,
            cls.STORE_EXTRA),
            range(1, cls.N_NODES + 1))
        cls.maskd = cls.nodes[0]

    @classmethod
    def start_nodes(cls, make, which):
        """cls.nodes = [make(i).start() for i in @which], but when one
        does not start, the ones that did are stopped before the error
        goes on (tearDownClass does not run then, and a node left
        running would hold its ports, and its relay range, for good)."""
        cls.nodes = []
        try:
            for i in which:
                cls.nodes.append(make(i).start())
        except BaseException:
            for m in cls.nodes:
                m.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        bad = []
        if cls.receiver:
            cls.receiver.stop()
        for m in cls.nodes:
            rc = m.stop()
            rep = m.sanitizer_report()
            if rc != 0 or rep:
                bad.append("maskd exit %s\n%s\n%s" % (rc, rep or "",
                                                      m.diagnostics()))
        if cls.pg:
            cls.pg.close()
        if bad:
            raise AssertionError("\n".join(bad))
        if not getattr(cls, "_failed", False):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def pool_add(self, vn):
        """@vn into the cluster's pool (PostgreSQL's), as soon as the
        first node has applied the schema."""
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                self.pg.psql("SELECT maskd_pool_add('%s', 'US', 0)" % vn)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def create(self, node, a, b, **kw):
        body = {"party_a": a, "party_b": b}
        body.update(kw)
        deadline = time.monotonic() + WAIT_S
        while True:
            st, js, raw = node.request("POST", "/v1/sessions", body)
            # 503 until the node's connections are up
            if st != 503 or time.monotonic() > deadline:
                return st, js, raw
            time.sleep(0.2)

    def created(self, node, **kw):
        """A new session of two fresh parties made through @node's API
        (201 checked): (party A, party B, the session)."""
        a, b = caller_number(), callee_number()
        st, s, raw = self.create(node, a, b, **kw)
        self.assertEqual(st, 201, raw)
        return a, b, s

    def wait_session(self, node, sid, status):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            st, js, _ = node.request("GET", "/v1/sessions/%s" % sid)
            if st == 200 and js["status"] == status:
                return js
            time.sleep(0.05)
        self.fail("session %s never %s on node %s\n%s"
                  % (sid, status, node.api_port, node.diagnostics()))

    def wait_pg(self, sql, want, what):
        """Until psql(@sql) == @want (bounded)."""
        deadline = time.monotonic() + WAIT_S
        rows = None
        while time.monotonic() < deadline:
            rows = self.pg.psql(sql)
            if rows == want:
                return rows
            time.sleep(0.2)
        self.fail("%s: %r, want %r\n%s" % (what, rows, want, "\n".join(
            m.diagnostics() for m in self.nodes)))

    def delivered(self, sid, type_):
        """The webhooks of @type_ for session @sid the receiver got,
        deduplicated by webhook-id (at-least-once allows repeats)."""
        with self.receiver.lock:
            got = list(self.receiver.got)
        ids = set()
        for _, _, hdrs, body, status in got:
            js = json.loads(body)
            if (js.get("type") == type_ and status == 200 and
                    js.get("data", {}).get("session_id") == sid):
                ids.add(hdrs["webhook-id"])
        return ids

    def session_in_pg_only(self, a, b, vn):
        """An active session (@a, @b) on pool number @vn written straight
        into PostgreSQL's tables, no change announced (as if the feed
        were slow): no node's cache has it. Its id."""
        sid = os.urandom(16).hex()
        now = int(time.time() * 1000)
        self.pg.psql(
            "BEGIN; INSERT INTO sessions (id, party_a, party_b, vn, status,"
            " created_at_ms, expires_at_ms) VALUES ('\\x%s', '%s', '%s', "
            "'%s', 0, %d, %d); INSERT INTO pairs (party, vn, session_id, "
            "active) VALUES ('%s', '%s', '\\x%s', true), ('%s', '%s', "
            "'\\x%s', true); UPDATE pool SET active = active + 1 WHERE vn "
            "= '%s'; COMMIT"
            % (sid, a, b, vn, now, now + 600000, a, vn, sid, b, vn, sid, vn))
        return sid

    def call(self, node, vn, a, b):
        """A basic call a -> vn through @node, masked, answered."""
        self.maskd = node
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("basic_uac.xml", vn, {"caller": a})
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b)

    def call_held_on_n1(self, d_ms):
        """A session made on node 1 (and in node 2's cache) whose call
        through node 1 is up, held @d_ms, its claim in PostgreSQL: (vn,
        caller, callee, session id, the callee's and the caller's
        SIPp)."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b, s = self.created(n1, virtual_number=vn)
        sid = s["id"]
        self.wait_session(n2, sid, "active")
        self.maskd = n1
        gw1 = self.uas("basic_uas.xml", {"vn": vn, "callee": b},
                       name="uas1")
        ua1 = self.uac("basic_uac.xml", vn, {"caller": a}, d_ms=d_ms,
                       name="uac1")
        self.wait_pg("SELECT node FROM call_claims WHERE session_id = "
                     "'\\x%s'" % sid, [["n1"]], "node 1's claim")
        return vn, a, b, sid, gw1, ua1


class ClusterNodes(ClusterBase):
    """Two nodes: what one creates, the other routes."""

    def test_create_on_one_call_through_other(self):
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b, s = self.created(n1, virtual_number=vn)
        self.assertEqual(s["virtual_number"], vn)
        self.wait_session(n2, s["id"], "active")
        # the call arrives at node 2
        self.call(n2, vn, a, b)
        # closed through node 2: node 1 sees it, PostgreSQL has it
        st, js, raw = n2.request("DELETE", "/v1/sessions/%s" % s["id"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(js["status"], "closed")
        self.wait_session(n1, s["id"], "closed")
        self.assertEqual(self.pg.psql(
            "SELECT status FROM sessions WHERE id = '\\x%s'" % s["id"]),
            [["2"]])

    def listed(self, node, query):
        """The ids @node lists for @query, two to a page."""
        ids, cursor = [], ""
        while True:
            st, js, raw = node.request(
                "GET", "/v1/sessions?%s&limit=2%s" % (query, cursor))
            self.assertEqual(st, 200, raw)
            ids += [x["id"] for x in js["sessions"]]
            if not js["next_cursor"]:
                return ids
            cursor = "&cursor=" + js["next_cursor"]

    def test_listed_while_index_queued(self):
        """Listings by number and by party on every node hold each
        session once, in id order, as soon as it is cached (readable by
        id there): while its index entries wait in the queue, and after
        the queue's flush has written them (maskd_cluster_index_queue
        back to 0)."""
        vns = [vn_number() for _ in range(3)]
        for vn in vns:
            self.pool_add(vn)
        a = caller_number()
        # party a on each number, and three other pairs on the first
        made = [(a, callee_number(), vn) for vn in vns] + [
            (caller_number(), callee_number(), vns[0]) for _ in range(3)]
        want = {}
        for i, (x, y, vn) in enumerate(made):
            st, s, raw = self.create(self.nodes[i % 2], x, y,
                                     virtual_number=vn)
            self.assertEqual(st, 201, raw)
            for key in ("party=" + x, "party=" + y,
                        "virtual_number=" + vn):
                want.setdefault(key.replace("+", "%2B"), []).append(
                    s["id"])
        queries = ["party=" + a, "virtual_number=" + vns[0],
                   "virtual_number=" + vns[1]]
        queries = [q.replace("+", "%2B") for q in queries]
        self.assertEqual([len(want[q]) for q in queries], [3, 4, 1])
        # cached (read by id) is listed, queued or not
        for node in self.nodes:
            for sid in want[queries[1]] + want[queries[0]][1:]:
                self.wait_session(node, sid, "active")
            for q in queries:
                self.assertEqual(self.listed(node, q), sorted(want[q]), q)
        for node in self.nodes:
            deadline = time.monotonic() + WAIT_S
            while node.metrics()["maskd_cluster_index_queue"]:
                self.assertLess(time.monotonic(), deadline, "queued")
                time.sleep(0.1)
            for q in queries:
                self.assertEqual(self.listed(node, q), sorted(want[q]), q)

    def test_feed_commits_lazy(self):
        """What the feed writes into a node's cache can be read again
        from PostgreSQL, so its commits skip the meta page's sync
        (writer_submit_cache()): an idle node 2 takes sessions node 1
        made in lazy commits of its own. (A durable write of node 2's in
        the same few ms would take a change along instead: a few
        tries.)"""
        n1, n2 = self.nodes
        self.pool_add(vn_number())
        name = "maskd_store_lazy_commits_total"
        before = n2.metrics()[name]
        for _ in range(5):
            a, b, s = self.created(n1)
            self.wait_session(n2, s["id"], "active")
            if n2.metrics()[name] > before:
                break
        self.assertGreater(n2.metrics()[name], before)

    def test_expiry(self):
        """A session past its ttl is expired in PostgreSQL by the nodes'
        sweep: its pool slot is free again, every node shows it expired."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        st, s, raw = self.create(n1, caller_number(), callee_number(),
                                 virtual_number=vn, ttl=1)
        self.assertEqual(st, 201, raw)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            rows = self.pg.psql("SELECT s.status, p.active FROM sessions s "
                                "JOIN pool p ON p.vn = s.vn WHERE s.id = "
                                "'\\x%s'" % s["id"])
            if rows == [["1", "0"]]:
                break
            time.sleep(0.2)
        self.assertEqual(rows, [["1", "0"]])
        self.wait_session(n2, s["id"], "expired")
        self.wait_session(n1, s["id"], "expired")

    def test_expiry_reported_once(self):
        """Both nodes sweep; the expiry is reported by exactly one of
        them: one session.expired event in all the nodes' outboxes, one
        webhook delivered, PostgreSQL saying which node and that it has
        reported it."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        sids = []
        for node in (n1, n2, n1, n2):
            st, s, raw = self.create(node, caller_number(),
                                     callee_number(), virtual_number=vn,
                                     ttl=1)
            self.assertEqual(st, 201, raw)
            sids.append(s["id"])
        for sid in sids:
            self.wait_pg("SELECT status, expiry_noted FROM sessions "
                         "WHERE id = '\\x%s'" % sid, [["1", "t"]],
                         "session %s expired and reported" % sid)
            self.wait_session(n1, sid, "expired")
            self.wait_session(n2, sid, "expired")
        # both sweeps have run several times since (1 s period)
        time.sleep(3)
        for sid in sids:
            events = []
            for node in self.nodes:
                st, js, raw = node.request(
                    "GET", "/v1/events?type=session.expired&session_id=%s"
                    % sid)
                self.assertEqual(st, 200, raw)
                events += [(node.node, e["id"]) for e in js["events"]]
            self.assertEqual(len(events), 1, events)
            by = self.pg.psql("SELECT expired_by FROM sessions WHERE id = "
                              "'\\x%s'" % sid)
            self.assertEqual(by, [[events[0][0]]])
            self.te_wait(lambda: len(self.delivered(
                sid, "session.expired")) == 1, "the expiry's webhook")
            self.assertEqual(self.delivered(sid, "session.expired"),
                             {events[0][1]})

    def te_wait(self, cond, what):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.1)
        self.fail("never: %s" % what)

    def test_cdrs_and_events_in_pg(self):
        """Calls on both nodes: each node's call records and events
        reach PostgreSQL's tables, tagged with the node."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        calls = []
        for node in (n1, n2):
            a, b, s = self.created(n1, virtual_number=vn)
            self.wait_session(node, s["id"], "active")
            self.call(node, vn, a, b)
            calls.append((node, s["id"]))
        for node, sid in calls:
            st, js, raw = node.request("GET", "/v1/sessions/%s/calls"
                                       % sid)
            self.assertEqual(st, 200, raw)
            self.assertEqual(len(js["calls"]), 1, raw)
            c = js["calls"][0]
            self.wait_pg("SELECT encode(id, 'hex'), node, final_code, "
                         "reason FROM cdrs WHERE session_id = '\\x%s'"
                         % sid, [[c["id"], node.node, "200", "normal"]],
                         "the call record of %s" % sid)
            self.wait_pg("SELECT count(*) FROM events WHERE session_id = "
                         "'\\x%s' AND node = '%s' AND type = "
                         "'call.completed'" % (sid, node.node), [["1"]],
                         "call.completed of %s" % sid)
        # any node's API lists a session's calls, wherever they ran
        for node, sid in calls:
            other = n2 if node is n1 else n1
            st, mine, raw = node.request("GET", "/v1/sessions/%s/calls"
                                         % sid)
            self.assertEqual(st, 200, raw)
            st, js, raw = other.request("GET", "/v1/sessions/%s/calls"
                                        % sid)
            self.assertEqual(st, 200, raw)
            self.assertEqual(js["calls"], mine["calls"])
        # session.created was written (and exported) by n1 only
        for _, sid in calls:
            self.assertEqual(self.pg.psql(
                "SELECT node FROM events WHERE session_id = '\\x%s' "
                "AND type = 'session.created'" % sid), [["n1"]])

    def test_cache_miss_asks_pg(self):
        """A session PostgreSQL has but no change announced yet (written
        straight into its tables, as if the feed were slow): the node's
        cache lacks the pair, the INVITE waits (100 Trying) while
        PostgreSQL is asked, and the call connects; the session is in
        the node's cache afterwards. A pair PostgreSQL lacks too still
        gets 404."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b = caller_number(), callee_number()
        sid = self.session_in_pg_only(a, b, vn)
        st, _, raw = n2.request("GET", "/v1/sessions/%s" % sid)
        self.assertEqual(st, 404, raw)      # not in n2's cache
        before = n2.metrics()
        self.call(n2, vn, a, b)
        after = n2.metrics()
        self.assertEqual(after["maskd_sip_cache_miss_found_total"] -
                         before.get("maskd_sip_cache_miss_found_total", 0),
                         1)
        st, js, raw = n2.request("GET", "/v1/sessions/%s" % sid)
        self.assertEqual(st, 200, raw)
        self.assertEqual(js["status"], "active")
        # nobody has (a stranger, vn): asked, not found, refused
        self.maskd = n2
        ua = self.uac("reject_uac.xml", vn, {"caller": caller_number(),
                                             "code": "404"},
                      name="uac404")
        self.expect_rc(ua)
        final = n2.metrics()
        self.assertEqual(final["maskd_sip_cache_misses_total"] -
                         after["maskd_sip_cache_misses_total"], 1)
        self.assertEqual(final["maskd_sip_cache_miss_found_total"],
                         after["maskd_sip_cache_miss_found_total"])

    def test_one_call_per_session_across_nodes(self):
        """A session's call up on node 1 holds its claim in PostgreSQL;
        a second call of the session through node 2 is ended with 486
        (its callee was rung and is cancelled); once the first hangs up
        the claim is released and node 2 connects the next call."""
        n1, n2 = self.nodes
        # the first call: answered, held 8 s
        vn, a, b, sid, gw1, ua1 = self.call_held_on_n1(8000)
        # a second call of the session through node 2 meanwhile (A's
        # second phone, say): busy
        self.maskd = n2
        gw2 = self.uas("cancel_uas.xml", {"vn": vn, "callee": b},
                       d_ms=10000, name="uas2")
        ua2 = self.uac("reject_uac.xml", vn, {"caller": a, "code": "486"},
                       name="uac2")
        self.expect_rc(ua2)
        self.expect_rc(gw2)
        self.assertGreaterEqual(
            n2.metrics().get("maskd_cluster_claims_refused_total", 0), 1)
        self.maskd = n1
        self.expect_rc(ua1)
        self.expect_rc(gw1)
        self.wait_pg("SELECT count(*) FROM call_claims WHERE session_id = "
                     "'\\x%s'" % sid, [["0"]], "the claim released")
        # now node 2 connects it
        self.call(n2, vn, a, b)

    def test_conflicts_across_nodes(self):
        """The same explicit vn asked through both nodes for one party:
        one 201, the other 409 vn_conflict, never two."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a = caller_number()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(self.create, n, a, callee_number(),
                              virtual_number=vn)
                    for n in (n1, n2, n1, n2, n1, n2, n1, n2)]
            codes = sorted(f.result()[0] for f in futs)
        self.assertEqual(codes, [201] + [409] * 7)
        rows = self.pg.psql("SELECT count(*) FROM sessions WHERE vn = '%s' "
                            "AND status = 0" % vn)
        self.assertEqual(rows, [["1"]])

    def test_patch_through_any_node(self):
        """PATCH on node 2 of a session node 1 created: PostgreSQL has
        it, node 1's cache gets it from the feed; PINs are indexed
        across nodes (a PIN another session on the vn holds: 409
        pin_conflict, wherever it is asked); the errors are
        single-node's."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b, s = self.created(n1, virtual_number=vn, ttl=600)
        sid = s["id"]
        self.wait_session(n2, sid, "active")
        url = self.receiver.url("/patched")
        st, js, raw = n2.request("PATCH", "/v1/sessions/%s" % sid, {
            "ttl": 7200, "call_time_limit": 90, "record": True,
            "callback_url": url})
        self.assertEqual(st, 200, raw)
        self.assertEqual((js["call_time_limit"], js["record"],
                          js["callback_url"]), (90, True, url))
        self.assertGreater(js["expires_at"], s["expires_at"])
        self.assertEqual(self.pg.psql(
            "SELECT call_time_limit_s, record, callback_url FROM sessions "
            "WHERE id = '\\x%s'" % sid), [["90", "t", url]])
        # node 1's cache: from the feed
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            st, got, _ = n1.request("GET", "/v1/sessions/%s" % sid)
            if st == 200 and got == js:
                break
            time.sleep(0.05)
        self.assertEqual(got, js)

        # PINs: set on node 2; node 1 refuses them to another session
        st, js, raw = n2.request("PATCH", "/v1/sessions/%s" % sid, {
            "pin_required": True, "pin_a": "4321", "pin_b": "8765"})
        self.assertEqual(st, 200, raw)
        self.assertEqual((js["pin_required"], js["pin_a"], js["pin_b"]),
                         (True, "4321", "8765"))
        st, o, raw = self.create(n2, caller_number(), callee_number(),
                                 virtual_number=vn)
        self.assertEqual(st, 201, raw)
        self.wait_session(n1, o["id"], "active")
        st, js, raw = n1.request("PATCH", "/v1/sessions/%s" % o["id"], {
            "pin_required": True, "pin_a": "8765", "pin_b": "1111"})
        self.assertEqual((st, js["error"]["code"]), (409, "pin_conflict"),
                         raw)
        st, js, raw = n1.request("PATCH", "/v1/sessions/%s" % o["id"], {
            "pin_required": True, "generate_pin": True, "pin_length": 6})
        self.assertEqual(st, 200, raw)
        self.assertRegex(js["pin_a"], r"^\d{6}$")
        self.assertRegex(js["pin_b"], r"^\d{6}$")
        self.assertNotEqual(js["pin_a"], js["pin_b"])
        self.assertEqual(self.pg.psql(
            "SELECT party, pin FROM pins WHERE active AND session_id = "
            "'\\x%s' ORDER BY party" % o["id"]),
            [["0", js["pin_a"]], ["1", js["pin_b"]]])
        # PINs off: the index lets them go
        st, js, raw = n2.request("PATCH", "/v1/sessions/%s" % sid,
                                 {"pin_required": False})
        self.assertEqual((st, js["pin_required"]), (200, False), raw)
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM pins WHERE active AND session_id = "
            "'\\x%s'" % sid), [["0"]])

        # the errors, as single-node: no PINs to require, unknown id,
        # an ended session
        st, p, raw = self.create(n1, caller_number(), callee_number(),
                                 virtual_number=vn)
        self.assertEqual(st, 201, raw)
        self.wait_session(n2, p["id"], "active")
        st, js, raw = n2.request("PATCH", "/v1/sessions/%s" % p["id"],
                                 {"pin_required": True})
        self.assertEqual((st, js["error"]["code"]), (400, "invalid_field"),
                         raw)
        self.assertIn("pin_required", js["error"]["message"])
        st, js, raw = n2.request("PATCH", "/v1/sessions/%s" % ("0" * 32),
                                 {"ttl": 60})
        self.assertEqual((st, js["error"]["code"]), (404, "not_found"), raw)
        st, _, raw = n1.request("DELETE", "/v1/sessions/%s" % sid)
        self.assertEqual(st, 200, raw)
        st, js, raw = n2.request("PATCH", "/v1/sessions/%s" % sid,
                                 {"ttl": 60})
        self.assertEqual((st, js["error"]["code"]),
                         (409, "session_ended"), raw)

    def test_numbers_through_any_node(self):
        """The pool is PostgreSQL's: a number added through one node is
        listed by the other with every node's active count, refused
        twice, kept while a session on any node uses it, removed through
        either."""
        n1, n2 = self.nodes
        vn = vn_number()
        st, js, raw = n1.request("POST", "/v1/numbers",
                                 {"number": vn, "country": "US"})
        self.assertEqual(st, 201, raw)
        self.assertEqual((js["number"], js["country"],
                          js["active_sessions"]), (vn, "US", 0))
        self.assertEqual(self.pg.psql("SELECT country, active FROM pool "
                                      "WHERE vn = '%s'" % vn),
                         [["US", "0"]])
        st, js, raw = n2.request("POST", "/v1/numbers", {"number": vn})
        self.assertEqual((st, js["error"]["code"]), (409, "number_exists"),
                         raw)
        st, got, raw = n2.request("GET", "/v1/numbers/%s" % vn)
        self.assertEqual(st, 200, raw)
        self.assertEqual((got["number"], got["active_sessions"]), (vn, 0))
        a, b, s = self.created(n2, virtual_number=vn)
        for node in (n1, n2):
            st, js, raw = node.request("GET", "/v1/numbers/%s" % vn)
            self.assertEqual((st, js["active_sessions"]), (200, 1), raw)
            st, js, raw = node.request("GET", "/v1/numbers?country=US")
            self.assertEqual(st, 200, raw)
            self.assertIn(vn, [x["number"] for x in js["numbers"]])
            st, js, raw = node.request("GET", "/v1/numbers?country=GB")
            self.assertEqual(st, 200, raw)
            self.assertNotIn(vn, [x["number"] for x in js["numbers"]])
        st, js, raw = n1.request("DELETE", "/v1/numbers/%s" % vn)
        self.assertEqual((st, js["error"]["code"]), (409, "number_in_use"),
                         raw)
        st, _, raw = n1.request("DELETE", "/v1/sessions/%s" % s["id"])
        self.assertEqual(st, 200, raw)
        st, _, raw = n2.request("DELETE", "/v1/numbers/%s" % vn)
        self.assertEqual(st, 204, raw)
        for node in (n1, n2):
            st, js, raw = node.request("GET", "/v1/numbers/%s" % vn)
            self.assertEqual((st, js["error"]["code"]), (404, "not_found"),
                             raw)
            st, js, raw = node.request("GET", "/v1/numbers")
            self.assertNotIn(vn, [x["number"] for x in js["numbers"]])
        st, js, raw = n1.request("DELETE", "/v1/numbers/%s" % vn)
        self.assertEqual((st, js["error"]["code"]), (404, "not_found"), raw)
        # gone from allocation too
        st, js, raw = self.create(n1, caller_number(), callee_number(),
                                  virtual_number=vn)
        self.assertEqual((st, js["error"]["code"]),
                         (400, "invalid_field"), raw)

    def test_call_record_through_any_node(self):
        """GET /v1/calls/{id} on node 1 of a call node 2 carried: its
        record, as node 2 shows it, once exported; an unknown call is
        404 on both."""
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b, s = self.created(n1, virtual_number=vn)
        self.wait_session(n2, s["id"], "active")
        self.call(n2, vn, a, b)
        st, js, raw = n2.request("GET", "/v1/sessions/%s/calls" % s["id"])
        self.assertEqual(st, 200, raw)
        cid = js["calls"][0]["id"]
        st, mine, raw = n2.request("GET", "/v1/calls/%s" % cid)
        self.assertEqual(st, 200, raw)
        self.wait_pg("SELECT count(*) FROM cdrs WHERE id = '\\x%s'" % cid,
                     [["1"]], "the record of %s" % cid)
        st, js, raw = n1.request("GET", "/v1/calls/%s" % cid)
        self.assertEqual(st, 200, raw)
        self.assertEqual(js, mine)
        self.assertEqual((js["status"], js["session_id"]),
                         ("completed", s["id"]))
        for node in (n1, n2):
            st, js, raw = node.request("GET", "/v1/calls/%s" % ("0" * 32))
            self.assertEqual((st, js["error"]["code"]), (404, "not_found"),
                             raw)

    def test_geo_match_refused_plainly(self):
        """Geo-match is not done by PostgreSQL's allocation: asked for,
        a create is 400 naming geo_match (never a number from the whole
        pool, never a 503), nothing is created; none is fine."""
        n1, _ = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b = caller_number(), callee_number()
        for mode in ("country", "area"):
            st, js, raw = self.create(n1, a, b, geo_match=mode)
            self.assertEqual((st, js["error"]["code"]),
                             (400, "invalid_field"), raw)
            self.assertIn("geo_match", js["error"]["message"])
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM sessions WHERE party_a = '%s'" % a),
            [["0"]])
        st, js, raw = self.create(n1, a, b, geo_match="none",
                                  virtual_number=vn)
        self.assertEqual(st, 201, raw)

    def test_pool_exhausted_and_password_not_logged(self):
        n1, _ = self.nodes
        st, js, raw = self.create(n1, caller_number(), callee_number())
        # the pool holds only numbers other tests gave to other parties:
        # allocation takes one of them or says pool_exhausted
        self.assertIn(st, (201, 409), raw)
        if st == 409:
            self.assertEqual(js["error"]["code"], "pool_exhausted")
        for m in self.nodes:
            log = test_sip.read_text(m.log_path)
            self.assertNotIn(self.pg.password, log)
            self.assertIn("maskd:***@127.0.0.1", log)


class ClusterPgDown(ClusterBase):
    """PostgreSQL stopped: creates get 503 store_unavailable, calls of
    existing sessions still route from the node's cache; PostgreSQL back:
    creates work again, by themselves."""
    N_NODES = 1
    # what is checked is routing from the cache while PostgreSQL is
    # away, every call: overload control off, so that an ASan build on a
    # busy machine does not refuse a few with 503 for its own lag
    SIP_EXTRA = "overload_lag_ms = 0\n"

    def test_pg_down(self):
        node = self.nodes[0]
        vn = vn_number()
        self.pool_add(vn)
        a, b, s = self.created(node, virtual_number=vn)
        self.pg.stop()
        body = {"party_a": caller_number(), "party_b": callee_number()}
        deadline = time.monotonic() + WAIT_S
        while True:
            st, js, raw = node.request("POST", "/v1/sessions", body)
            if st == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(st, 503, raw)
        self.assertEqual(js["error"]["code"], "store_unavailable")
        self.call(node, vn, a, b)
        self.pg.start()
        st, js, raw = self.create(node, caller_number(), callee_number(),
                                  virtual_number=vn)
        self.assertEqual(st, 201, raw)

    CALLS = 100     # at 5/s: 20 s of calls
    SESSIONS = 20

    def test_pg_down_under_load(self):
        """PostgreSQL stopped for 20 s while SIPp calls existing sessions
        at 5 calls/s: every call connects, creates meanwhile get 503
        store_unavailable, and the call records of the window reach
        PostgreSQL once it is back (from the node's export queue)."""
        node = self.nodes[0]
        vn = vn_number()
        self.pool_add(vn)
        sessions = []
        for i in range(self.SESSIONS):
            a, b, s = self.created(node, virtual_number=vn)
            sessions.append((a, s["id"]))
        inf = tsk.write_inf(os.path.join(self.run_dir, "calls.csv"),
                            ((a, vn) for a, _ in sessions))
        uas = tsk.Sipp(self.run_dir, "uas", [
            "-sf", os.path.join(test_sip.ARGS.source_dir, "bench", "sipp",
                                "uas.xml"),
            "-i", test_sip.GW_IP, "-p", str(node.gw_port),
            "-mi", test_sip.GW_IP, "-m", str(self.CALLS)])
        test_sip.wait_listening(test_sip.GW_IP, node.gw_port)
        uac = tsk.Sipp(self.run_dir, "uac", [
            "-sf", os.path.join(test_sip.ARGS.source_dir, "bench", "sipp",
                                "uac.xml"),
            "-i", test_sip.A_IP, "-p",
            str(test_sip.free_port(host=test_sip.A_IP)),
            "-mi", test_sip.A_IP, "-inf", inf, "-r", "5", "-l", "20",
            "-m", str(self.CALLS), "-d", "200",
            "127.0.0.1:%d" % node.sip_port])
        try:
            time.sleep(1)
            self.pg.stop()
            t_stop = time.time()
            body = {"party_a": caller_number(), "party_b": callee_number()}
            codes = set()
            while time.time() - t_stop < 20:
                st, js, raw = node.request("POST", "/v1/sessions", body)
                codes.add((st, js["error"]["code"] if st >= 400 else ""))
                time.sleep(1)
            # the first may still have gone through a connection that
            # had not yet seen the stop; once down, every create is 503
            self.assertIn((503, "store_unavailable"), codes)
            self.assertTrue(codes <= {(503, "store_unavailable"),
                                      (201, "")}, codes)
            with self.assertRaises(subprocess.CalledProcessError):
                self.pg.psql("SELECT 1")    # it really is down
            self.pg.start()
            rc = uac.wait(120)
            stats = uac.stats()
            self.assertEqual(rc, 0, uac.report())
            self.assertEqual(int(stats.get("SuccessfulCall(C)", -1)),
                             self.CALLS, uac.report())
            self.assertEqual(uas.wait(60), 0, uas.report())
        finally:
            uac.kill()
            uas.kill()
        ids = ",".join("'\\x%s'" % sid for _, sid in sessions)
        self.wait_pg("SELECT count(*) FROM cdrs WHERE session_id IN (%s) "
                     "AND final_code = 200 AND node = 'n1'" % ids,
                     [[str(self.CALLS)]], "every call's record")
        # calls that ended while PostgreSQL was down are among them
        rows = self.pg.psql("SELECT count(*) FROM cdrs WHERE session_id "
                            "IN (%s) AND end_ms BETWEEN %d AND %d"
                            % (ids, (t_stop + 1) * 1000,
                               (t_stop + 19) * 1000))
        self.assertGreater(int(rows[0][0]), 50)


class ClusterRetention(ClusterBase):
    """[store] retention = 1 on a node: PostgreSQL forgets a closed
    session once its end and its expiry are a second old, with its
    pairs and change rows, as the node's LMDB does; an active session
    stays (maskd_purge(), schema 8, from the node's sweep)."""
    N_NODES = 1
    STORE_EXTRA = "retention = 1\n"

    def test_closed_session_purged(self):
        node = self.nodes[0]
        self.pool_add("+15550008001")
        _, _, keep = self.created(node)
        _, _, s = self.created(node, ttl=1)
        st, _, raw = node.request("DELETE", "/v1/sessions/%s" % s["id"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM changes WHERE session_id = '\\x%s'"
            % s["id"]), [["2"]])
        self.wait_pg("SELECT count(*) FROM sessions WHERE id = '\\x%s'"
                     % s["id"], [["0"]], "the closed session purged")
        for table in ("pairs", "changes"):
            self.assertEqual(self.pg.psql(
                "SELECT count(*) FROM %s WHERE session_id = '\\x%s'"
                % (table, s["id"])), [["0"]], table)
        self.assertEqual(self.pg.psql(
            "SELECT status FROM sessions WHERE id = '\\x%s'" % keep["id"]),
            [["0"]])
        # the node's own cache lets it go too
        deadline = time.monotonic() + WAIT_S
        while node.request("GET", "/v1/sessions/%s" % s["id"])[0] != 404:
            self.assertLess(time.monotonic(), deadline, "still cached")
            time.sleep(0.2)


class ClusterNodeDeath(ClusterBase):
    """kill -9 of the node carrying a session's call: its claim stops
    counting at once (the node's liveness lock went with its
    connections), so the session's next call through the other node
    connects well within the lease; the node comes back clean."""

    def test_claim_of_dead_node(self):
        n1, n2 = self.nodes
        vn, a, b, sid, gw1, ua1 = self.call_held_on_n1(20000)
        n1.proc.kill()
        n1.proc.wait()
        t_kill = time.monotonic()
        for run in (ua1, gw1):      # that call is gone with its node
            run.proc.kill()
            run.wait()
        self.call(n2, vn, a, b)
        self.assertLess(time.monotonic() - t_kill,
                        CLUSTER_CLAIM_LEASE_S)
        # node 1 comes back: what its previous life left is dropped (a
        # claim whose release never came, say)
        self.pg.psql("INSERT INTO call_claims VALUES ('\\x%s', 'n1', "
                     "'\\x%s', %d)" % (os.urandom(16).hex(),
                                        os.urandom(16).hex(),
                                        int(time.time() * 1000) + 600000))
        n1._stderr.close()
        n1._stderr = None
        n1.start()
        self.wait_pg("SELECT count(*) FROM call_claims WHERE node = 'n1'",
                     [["0"]], "node 1's old claims dropped")
        self.call(n1, vn, a, b)


def pg_pids(pg):
    """The postmaster of @pg and every process it forked."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == master:
            pids.append(int(d))
    return pids


def signal_gone_ok(pid, sig):
    """Send @sig to PostgreSQL's process @pid, which may have exited since
    it was listed (an autovacuum worker, a backend whose connection a
    node dropped): what has exited answers nothing either."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class ClusterPgSilent(ClusterBase):
    """PostgreSQL frozen (SIGSTOP: the connections stay open, nothing
    answers, as with a host gone dead): a create gets 503 once
    query_timeout_ms has passed instead of hanging, a cached session
    still routes, and once PostgreSQL runs again creates work by
    themselves."""
    N_NODES = 1

    def test_pg_silent(self):
        node = self.nodes[0]
        vn = vn_number()
        self.pool_add(vn)
        a, b, s = self.created(node, virtual_number=vn)
        pids = pg_pids(self.pg)
        for pid in pids:
            signal_gone_ok(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            st, js, raw = node.request("POST", "/v1/sessions", {
                "party_a": caller_number(), "party_b": callee_number()})
            waited = time.monotonic() - t0
            self.assertEqual(st, 503, raw)
            self.assertEqual(js["error"]["code"], "store_unavailable")
            # it waited for the timeout, not for PostgreSQL
            self.assertGreaterEqual(waited, QUERY_TIMEOUT_MS / 1000 - 0.5)
            self.call(node, vn, a, b)
        finally:
            for pid in pids:
                signal_gone_ok(pid, signal.SIGCONT)
        st, js, raw = self.create(node, caller_number(), callee_number(),
                                  virtual_number=vn)
        self.assertEqual(st, 201, raw)


class ClusterNoEvents(ClusterBase):
    """A node with no webhook to send answers a create once PostgreSQL
    committed it, before its own cache has it (ctl_cluster.c,
    answer_early())."""
    N_NODES = 1
    EVENTS = False

    def test_read_by_id_at_once(self):
        """Read by id the moment its 201 is in, on the node that made
        it, each session is there as the 201 said (the cache write waits
        up to WRITER_CACHE_MS for others: most of these reads come
        before it); its calls list at once too; the listing has them
        all a moment later."""
        node = self.nodes[0]
        self.pool_add(vn_number())
        made = []
        for _ in range(30):
            a, b, s = self.created(node)
            st, js, raw = node.request("GET", "/v1/sessions/%s" % s["id"])
            self.assertEqual(st, 200, raw)
            self.assertEqual(js, s)
            st, js, raw = node.request("GET",
                                       "/v1/sessions/%s/calls" % s["id"])
            self.assertEqual(st, 200, raw)
            made.append((a, s))
        for a, s in made:
            deadline = time.monotonic() + WAIT_S
            while True:
                st, js, raw = node.request("GET", "/v1/sessions?party=%s"
                                           % a.replace("+", "%2B"))
                self.assertEqual(st, 200, raw)
                if [x["id"] for x in js["sessions"]] == [s["id"]]:
                    break
                self.assertLess(time.monotonic(), deadline, raw)
                time.sleep(0.05)


if __name__ == "__main__":
    test_sip.main(globals())
