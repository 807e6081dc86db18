"""kamailio.py - one real Kamailio for the tests: started in the foreground
in its own process group, waited for until its sockets are bound, stopped
with SIGTERM (SIGKILL if it lingers). Used by test_tls.py (a carrier edge
that speaks TLS) and tests/cluster/test_front.py (conf/kamailio-front.cfg
through scripts/front.sh run).

    k = Kamailio(dir, argv, udp=[("127.0.0.1", 5060)], tcp=[...]).start()
    k.log()  -> everything it printed
    k.stop()

Kamailio is installed by scripts/deps.sh. Python 3 standard library only.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import time

START_S = 30
STOP_S = 10


def modules_dir(module="tm.so"):
    """The directory of Kamailio's modules that holds @module, or None."""
    for d in glob.glob("/usr/lib/*/kamailio/modules") + [
            "/usr/lib/kamailio/modules", "/usr/local/lib/kamailio/modules",
            "/usr/local/lib64/kamailio/modules"]:
        if os.path.exists(os.path.join(d, module)):
            return d
    return None


def binary():
    return shutil.which("kamailio") or shutil.which(
        "kamailio", path="/usr/sbin:/usr/local/sbin")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def udp_bound(ip, port):
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(ip), "little"),
                          port)
    return want in _read("/proc/net/udp")


def tcp_open(ip, port):
    try:
        with socket.create_connection((ip, port), 1):
            return True
    except OSError:
        return False


class Kamailio:
    """@argv run in @dir (its log in @dir/kamailio.log); started once
    every (ip, port) of @udp is bound and every one of @tcp accepts."""

    def __init__(self, dir, argv, udp=(), tcp=()):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.log_path = os.path.join(dir, "kamailio.log")
        self.argv = list(argv)
        self.udp, self.tcp = list(udp), list(tcp)
        self.proc = None
        self._log = None

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("kamailio exited with %d:\n%s"
                                     % (self.proc.returncode,
                                        self.log()[-4000:]))
            if (all(udp_bound(*a) for a in self.udp) and
                    all(tcp_open(*a) for a in self.tcp)):
                return self
            time.sleep(0.1)
        raise AssertionError("kamailio did not listen:\n%s"
                             % self.log()[-4000:])

    def log(self):
        return _read(self.log_path)

    def stop(self):
        """SIGTERM to its process group (the one it was started in),
        SIGKILL if it lingers. Returns its exit status (None: not
        running)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = self.proc.wait()
        self._log.close()
        self.proc = None
        return rc


def front(source_dir, fdir, list_path, ip, port):
    """The Kamailio front (conf/kamailio-front.cfg, run by
    scripts/front.sh) on udp @ip:@port over the dispatcher list at
    @list_path, its files under @fdir, tracing every request it relays
    (FRONT_TRACE). One receiving process: responses leave in the order
    they came (with several, a 180 and the 200 read at once may pass each
    other - a UA ignores the late 180, SIPp fails the call on it).
    Returns it started; the caller stops it."""
    script = os.path.join(source_dir, "scripts", "front.sh")
    return Kamailio(
        fdir, ["bash", script, "run", "--listen", "udp:%s:%d" % (ip, port),
               "--list", list_path, "--dir", os.path.join(fdir, "run"),
               "--", "-A", "FRONT_TRACE", "-A", "FRONT_CHILDREN=1"],
        udp=[(ip, port)]).start()
