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
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sip"))
import test_sip  # noqa: E402
from test_sip import (Maskd, SipBase, caller_number, callee_number,  # noqa
                      vn_number)
from pg import Postgres  # noqa: E402

WAIT_S = 30


class ClusterMaskd(Maskd):
    """A maskd whose [cluster] store is @dsn."""

    def __init__(self, tmp, dsn):
        super().__init__(tmp)
        self.dsn = dsn

    def write_config(self):
        super().write_config()
        with open(self.conf_path, "a") as f:
            f.write("[cluster]\nstore = %s\nconnections = 2\n" % self.dsn)


class ClusterBase(SipBase):
    """A PostgreSQL and N_NODES maskd nodes on it, per class."""
    pg = None
    nodes = ()
    N_NODES = 2

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-cluster-")
        cls.pg = Postgres()
        cls.nodes = [ClusterMaskd(os.path.join(cls.tmp, "n%d" % i),
                                  cls.pg.dsn).start()
                     for i in range(1, cls.N_NODES + 1)]
        cls.maskd = cls.nodes[0]

    @classmethod
    def tearDownClass(cls):
        bad = []
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

    def wait_session(self, node, sid, status):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            st, js, _ = node.request("GET", "/v1/sessions/%s" % sid)
            if st == 200 and js["status"] == status:
                return js
            time.sleep(0.05)
        self.fail("session %s never %s on node %s\n%s"
                  % (sid, status, node.api_port, node.diagnostics()))

    def call(self, node, vn, a, b):
        """A basic call a -> vn through @node, masked, answered."""
        self.maskd = node
        gw = self.uas("basic_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("basic_uac.xml", vn, {"caller": a})
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_masked(ua, gw, a, b)


class ClusterNodes(ClusterBase):
    """Two nodes: what one creates, the other routes."""

    def test_create_on_one_call_through_other(self):
        n1, n2 = self.nodes
        vn = vn_number()
        self.pool_add(vn)
        a, b = caller_number(), callee_number()
        st, s, raw = self.create(n1, a, b, virtual_number=vn)
        self.assertEqual(st, 201, raw)
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

    def test_pg_down(self):
        node = self.nodes[0]
        vn = vn_number()
        self.pool_add(vn)
        a, b = caller_number(), callee_number()
        st, s, raw = self.create(node, a, b, virtual_number=vn)
        self.assertEqual(st, 201, raw)
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


if __name__ == "__main__":
    test_sip.main(globals())
