#!/usr/bin/env python3
"""test_api_tls.py - the API over TLS when a connection cannot have its TLS
state: SSL_new() fails (out of memory, in life; here an LD_PRELOAD shim,
tests/api/ssl_new_fail.c, makes it fail while a file exists).

Such a connection must be closed without a byte served - never answered in
plain text, which is what evhttp does if its bufferevent callback returns
NULL - counted on /metrics (maskd_api_tls_failures_total), logged once a
minute at most, and the next connection, with SSL_new() working again,
gets TLS as usual.

Run by ctest as:
    python3 tests/api/test_api_tls.py --maskd /path/to/maskd \\
        --source-dir /repo --ssl-new-fail /path/to/ssl_new_fail.so

Uses test_api.py's harness (a real maskd on a free 127.0.0.1 port).
"""
import argparse
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import MaskdCase, phone, pool_numbers  # noqa: E402

ARGS = None
LOG_LINE = "api: tls: cannot make the TLS state for a connection"


def preload(shim, maskd):
    """LD_PRELOAD for @maskd: an ASan build wants its runtime first."""
    libs = [shim]
    out = subprocess.run(["ldd", maskd], capture_output=True,
                         text=True).stdout
    m = re.search(r"libasan\.so\S* => (\S+)", out)
    if m:
        libs.insert(0, m.group(1))
    return " ".join(libs)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class TestSslNewFails(MaskdCase):

    def start_tls_maskd(self):
        cert, key = test_api.TestSecurity.make_cert(self)
        self.fail_flag = os.path.join(self.tmp, "ssl-new-fail")
        self.ctx = ssl.create_default_context(cafile=cert)
        m = self.start_maskd(
            "tls", api_extra="tls_cert = %s\ntls_key = %s\n" % (cert, key),
            tls_ctx=self.ctx,
            env={"LD_PRELOAD": preload(ARGS.ssl_new_fail, ARGS.maskd),
                 "MASKD_TEST_SSL_NEW_FAIL": self.fail_flag})
        m.add_numbers(pool_numbers(1, "1907"))
        return m

    def set_failing(self, on):
        if on:
            open(self.fail_flag, "w").close()
        else:
            os.unlink(self.fail_flag)

    def assert_closed_unserved(self, m, payload):
        """Send @payload on a new connection: the connection must close
        without a single byte coming back."""
        with socket.create_connection(("127.0.0.1", m.port), 10) as s:
            s.settimeout(20)
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass    # closed before we were done: fine
            got = b""
            closed = True
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
            except socket.timeout:
                closed = False
            self.assertEqual(got, b"", "bytes came back: %r" % got[:200])
            self.assertTrue(closed, "the connection was not closed")

    def test_refused_never_plain_then_tls_again(self):
        m = self.start_tls_maskd()
        pid = m.proc.pid
        self.assertEqual(m.metrics()["maskd_api_tls_failures_total"], 0)
        fds = open_fds(pid)

        self.set_failing(True)
        # plain HTTP: before the fix evhttp answered this in clear
        self.assertTrue(m.tls_ctx)
        self.assert_closed_unserved(
            m, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assert_closed_unserved(
            m, b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
               b"Authorization: Bearer " + test_api.TOKEN.encode() +
               b"\r\nContent-Length: 2\r\n\r\n{}")
        # a TLS client gets no handshake
        with socket.create_connection(("127.0.0.1", m.port), 10) as raw:
            raw.settimeout(20)
            with self.assertRaises((ssl.SSLError, OSError)):
                with self.ctx.wrap_socket(raw,
                                          server_hostname="127.0.0.1"):
                    pass
        # and so for a few more: counted each, logged once
        for _ in range(10):
            self.assert_closed_unserved(m, b"\x16\x03\x01\x00\x05hello")

        self.set_failing(False)
        # the next connection is TLS as usual, and sees the count
        met = m.metrics()
        self.assertEqual(met["maskd_api_tls_failures_total"], 13)
        r = m.create(phone(), phone())
        self.assertEqual(r.status, 201, r)
        self.assertEqual(m.get(r.json["id"]).status, 200)
        # nothing was created by the refused POST
        self.assertEqual(m.metrics()["maskd_session_creates_total"], 1)

        log = m.read(m.log_path)
        self.assertEqual(log.count(LOG_LINE), 1, log[-3000:])
        # every refused socket was closed (none leaked); the client
        # connections above are closed, so count again once they are gone
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and open_fds(pid) > fds:
            time.sleep(0.1)
        self.assertLessEqual(open_fds(pid), fds)
        self.stop_clean(m)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--ssl-new-fail", required=True)
    ARGS, rest = p.parse_known_args()
    ARGS.maskd = os.path.abspath(ARGS.maskd)
    ARGS.source_dir = os.path.abspath(ARGS.source_dir)
    ARGS.ssl_new_fail = os.path.abspath(ARGS.ssl_new_fail)
    test_api.ARGS = ARGS
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
