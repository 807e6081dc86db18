"""pg.py - a throwaway PostgreSQL for the cluster tests and the bench.

Postgres(): initdb into a fresh temporary directory as a non-root user
(the tests run as root in CI, and postgres refuses to run as root: the
directory is given to the `postgres` user and every server command runs
through runuser), listening on 127.0.0.1 on a port from tests/ports.py
and on a unix socket in the temporary directory, never anywhere else.
Host connections need a password (scram-sha-256), so the DSN the tests
hand maskd carries a secret the logs must never show.

    with Postgres() as pg:
        pg.dsn             postgresql://maskd:SECRET@127.0.0.1:PORT/maskd
        pg.psql("SELECT 1")   -> rows as lists of strings
        pg.stop(); pg.start()

Python 3 standard library only.
"""
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from ports import free_port  # noqa: E402


def pg_bindir():
    """/usr/lib/postgresql/<newest>/bin, or None when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


class Postgres:
    USER = "postgres"  # the OS user the server runs as

    def __init__(self, fsync=True):
        self.bindir = pg_bindir()
        if not self.bindir:
            raise RuntimeError("PostgreSQL is not installed "
                               "(scripts/deps.sh installs postgresql-15)")
        self.fsync = fsync
        self.dir = tempfile.mkdtemp(prefix="maskd-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port(udp=False)
        self.password = secrets.token_hex(12)
        self.dsn = "postgresql://maskd:%s@127.0.0.1:%d/maskd" % (
            self.password, self.port)
        self._as_root = os.geteuid() == 0
        if self._as_root:
            pw = pwd.getpwnam(self.USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self._as_root:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data,
                   "-U", "maskd", "--pwfile", pwfile,
                   "--auth-local=trust", "--auth-host=scram-sha-256",
                   "-E", "UTF8", "--locale=C", "--no-instructions"])
        os.unlink(pwfile)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "max_connections = 200\n"
                    "shared_buffers = 64MB\n"
                    "fsync = %s\n"
                    "log_min_messages = warning\n"
                    % (self.port, self.dir, "on" if fsync else "off"))
        self.start()
        self.psql("CREATE DATABASE maskd", db="postgres")

    def _run(self, argv, **kw):
        if self._as_root:
            argv = ["runuser", "-u", self.USER, "--"] + argv
        return subprocess.run(argv, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, **kw)

    def start(self):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                   "-l", os.path.join(self.dir, "log"), "-w", "-t", "60",
                   "start"])

    def stop(self, mode="fast"):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                   "-m", mode, "-w", "-t", "60", "stop"])

    def psql(self, sql, db="maskd"):
        """Run @sql through the unix socket; the rows, as lists."""
        out = self._run([os.path.join(self.bindir, "psql"), "-X", "-q",
                         "-h", self.dir, "-p", str(self.port), "-U", "maskd",
                         "-d", db, "-At", "-F", "\t", "-v",
                         "ON_ERROR_STOP=1", "-c", sql]).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def close(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
