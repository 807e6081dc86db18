#!/usr/bin/env python3
"""test_deb.py - maskd's .deb, built by CPack and installed into a throw-away
root with the real dpkg and the package's real maintainer scripts.

    test_deb.py --build-dir BUILD --source-dir SRC

Steps (each depends on the previous one, so this is one flow, not
independent unittest cases):
  1. cpack -G DEB in BUILD; the control fields (dependencies from the
     shlibs), the file list, the maintainer scripts (shellcheck), the
     config template (conf/maskd.conf with only [store] path changed), the
     man page (renders without warnings, lists every option of --help).
  2. dpkg --root=ROOT --force-script-chrootless -i: a root holding only a
     passwd/group database and a dpkg status listing the package's
     dependencies as the host has them (so dpkg checks them for real).
     postinst runs with DPKG_ROOT=ROOT: the maskd user and group, the
     config with a random token (0640 root:maskd), /var/lib/maskd, the
     enable link; the host's own user database must not change.
  3. The installed maskd, as the maskd uid, checks the installed config,
     then runs it on free loopback ports with a NOTIFY_SOCKET this test
     listens on: READY=1 arrives, /healthz answers, the API takes the
     generated token and refuses the placeholder, WATCHDOG=1 keeps coming,
     the open-files limit is raised, SIGHUP keeps it running, SIGTERM
     gives STOPPING=1 and exit 0.
  4. systemd-analyze verify on the unit (when systemd-analyze exists).
  5. dpkg -i again (upgrade path: the config is kept), --remove (config and
     data stay), --purge (both go, the user stays).

Not checked here (no systemd runs on this machine): systemd starting the
unit, its sandboxing in effect, deb-systemd-invoke start/stop, apt
resolving the dependencies on a fresh machine.
Needs root (dpkg, chown); exits 77 (skipped) otherwise.
"""
import argparse
import glob
import gzip
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import ports  # noqa: E402  (tests/ports.py)

SKIP = 77
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def run(cmd, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def must(cmd, what, **kw):
    p = run(cmd, **kw)
    if p.returncode != 0:
        print("FAIL  %s: %s exited %d\n%s%s" % (what, " ".join(cmd),
              p.returncode, p.stdout, p.stderr), flush=True)
        sys.exit(1)
    return p


def free_port(kind):
    """A port free for @kind (tests/ports.py)."""
    return ports.free_port(udp=kind == socket.SOCK_DGRAM,
                           tcp=kind == socket.SOCK_STREAM)


def free_sip_port():
    """A port free for both UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free SIP port")


def set_keys(text, changes):
    """text with the value of each (section, key) in changes replaced;
    each must be found exactly once."""
    out, section, seen = [], None, set()
    for line in text.splitlines():
        m = re.match(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1)
        m = re.match(r"([a-z_]+)\s*=", line)
        if m and (section, m.group(1)) in changes:
            key = (section, m.group(1))
            assert key not in seen, key
            seen.add(key)
            line = "%s = %s" % (key[1], changes[key])
        out.append(line)
    missing = set(changes) - seen
    assert not missing, missing
    return "\n".join(out) + "\n"


def deb_checks(deb, ctrl, src, work):
    """Step 1 without installing: what the .deb holds."""
    fields = {}
    for f in ("Package", "Version", "Architecture", "Depends"):
        fields[f] = must(["dpkg-deb", "-f", deb, f], "dpkg-deb -f").stdout.strip()
    check(fields["Package"] == "maskd", "Package: maskd")
    deps = fields["Depends"]
    for lib in ("libsofia-sip-ua0", "libevent-2.1-7", "liblmdb0",
                "libjansson4", "libinih1", "libssl3", "libc6", "passwd",
                "init-system-helpers"):
        check(re.search(r"(^|, )%s( |,|$)" % re.escape(lib), deps),
              "Depends names %s (shlibdeps + explicit)" % lib)

    listing = must(["dpkg-deb", "-c", deb], "dpkg-deb -c").stdout
    files = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        if parts[0].startswith("-"):
            files[parts[5].lstrip(".")] = (parts[0], parts[1])
    want = {"/usr/sbin/maskd", "/usr/lib/systemd/system/maskd.service",
            "/usr/share/man/man8/maskd.8.gz", "/usr/share/maskd/maskd.conf",
            "/usr/share/doc/maskd/README.md"}
    # the prompts spoken at build time (cmake/prompts.cmake), which the
    # installed maskd finds from /usr/sbin as ../share/maskd/prompts
    want |= {"/usr/share/maskd/prompts/%s.wav" % n
             for n in ("unknown", "expired", "enter_pin", "wrong_pin",
                       "goodbye", "connecting", "recorded")}
    check(set(files) == want, "the .deb holds exactly %s (got %s)"
          % (sorted(want), sorted(files)))
    check(files.get("/usr/sbin/maskd") == ("-rwxr-xr-x", "root/root"),
          "/usr/sbin/maskd is 0755 root:root")
    check(not any(f.startswith("/etc/") for f in files),
          "no file under /etc: postinst makes /etc/maskd/maskd.conf")

    must(["dpkg-deb", "-e", deb, ctrl], "dpkg-deb -e")
    for s in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctrl, s)
        check(os.path.isfile(p) and
              stat.S_IMODE(os.stat(p).st_mode) == 0o755,
              "maintainer script %s, mode 0755" % s)
    check(not os.path.exists(os.path.join(ctrl, "conffiles")),
          "no conffiles (the config is the postinst's, see postinst)")
    if shutil.which("shellcheck"):
        p = run(["shellcheck", "-s", "sh"] +
                [os.path.join(ctrl, s) for s in ("postinst", "prerm", "postrm")])
        check(p.returncode == 0, "shellcheck: maintainer scripts clean "
              + p.stdout)
    else:
        print("skip  shellcheck not installed", flush=True)

    data = os.path.join(work, "data")
    must(["dpkg-deb", "-x", deb, data], "dpkg-deb -x")
    # the template is conf/maskd.conf, not a copy kept by hand
    with open(os.path.join(src, "conf", "maskd.conf")) as f:
        shipped = f.read()
    with open(os.path.join(data, "usr/share/maskd/maskd.conf")) as f:
        template = f.read()
    body = [ln for ln in template.splitlines()
            if not ln.startswith("; maskd.conf as installed")]
    while body and re.match(r";(   .*)?$", body[0]):
        body.pop(0)
    expect = set_keys(shipped, {("store", "path"): "/var/lib/maskd/maskd.lmdb"})
    check("\n".join(body) + "\n" == expect,
          "share/maskd/maskd.conf = conf/maskd.conf with [store] path = "
          "/var/lib/maskd/maskd.lmdb")
    return data


def man_checks(data, maskd, upstream):
    with gzip.open(os.path.join(data, "usr/share/man/man8/maskd.8.gz"),
                   "rt") as f:
        page = f.read()
    env = dict(os.environ, LC_ALL="C.UTF-8")
    p = run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page, env=env)
    check(p.returncode == 0 and not p.stderr.strip(),
          "maskd.8 renders without warnings " + p.stderr)
    text = run(["groff", "-man", "-Tutf8", "-P-c", "-P-b", "-P-u"],
               input=page, env=env).stdout
    text = text.replace("\u2010", "-").replace("\u2011", "-")
    version = run([maskd, "--version"]).stdout.strip()
    check(version == "maskd " + upstream,
          "maskd --version (%r) is the package's version %s"
          % (version, upstream))
    usage = run([maskd, "--help"]).stdout
    opts = set(re.findall(r"--[a-z][a-z-]*", usage))
    check(len(opts) >= 3, "--help lists long options: %s" % sorted(opts))
    for o in sorted(opts) + ["-c"]:
        check(o in text, "maskd(8) documents %s" % o)
    for s in ("SIGTERM", "SIGHUP", "/etc/maskd/maskd.conf", "/var/lib/maskd"):
        check(s in text, "maskd(8) mentions %s" % s)


def make_root(root, deps):
    """A root with only what dpkg and useradd need: the user databases
    and a dpkg status that lists the package's dependencies as installed
    at the host's versions."""
    for d in ("etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(root, 0o755)
    for name, text in (("passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                       ("group", "root:x:0:\n"),
                       ("shadow", "root:*:19000:0:99999:7:::\n"),
                       ("gshadow", "root:*::\n")):
        with open(os.path.join(root, "etc", name), "w") as f:
            f.write(text)
    shutil.copy("/etc/login.defs", os.path.join(root, "etc"))
    status = []
    for dep in deps.split(","):
        name = dep.split("(")[0].split("|")[0].strip()
        p = must(["dpkg-query", "-s", name],
                 "dependency %s installed on this host" % name)
        status.append(p.stdout.strip() + "\n")
        open(os.path.join(root, "var/lib/dpkg/info", name.split(":")[0] +
                          ".list"), "w").close()
    with open(os.path.join(root, "var/lib/dpkg/status"), "w") as f:
        f.write("\n".join(status))


def dpkg(root, *args):
    return run(["dpkg", "--root=" + root, "--force-script-chrootless",
                "--log=/dev/null"] + list(args))


def user_ids(root):
    uid = gid = None
    with open(os.path.join(root, "etc/passwd")) as f:
        for ln in f:
            p = ln.rstrip("\n").split(":")
            if p[0] == "maskd":
                uid, home, shell = int(p[2]), p[5], p[6]
                check(uid < 1000 and home == "/var/lib/maskd" and
                      shell == "/usr/sbin/nologin",
                      "maskd is a system user, home /var/lib/maskd, nologin")
    with open(os.path.join(root, "etc/group")) as f:
        for ln in f:
            p = ln.split(":")
            if p[0] == "maskd":
                gid = int(p[2])
    return uid, gid


def as_user(uid, gid, nofile=None):
    def pre():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return pre


def http_get(port, path, token=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token}
                     if token else {})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def notify_wait(sock, want, deadline):
    """Datagrams from maskd until one holds the line `want`."""
    got = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if want in msg.split("\n"):
            return msg, got
    return None, got


def run_installed(root, uid, gid, token):
    """Step 3: the installed binary with the installed config."""
    maskd = os.path.join(root, "usr/sbin/maskd")
    conf = os.path.join(root, "etc/maskd/maskd.conf")
    p = run([maskd, "--check-config", conf], preexec_fn=as_user(uid, gid))
    check(p.returncode == 0,
          "installed maskd --check-config the installed config, as maskd "
          + p.stdout + p.stderr)

    sip, api = free_sip_port(), free_port(socket.SOCK_STREAM)
    rtp = 20000 + 2 * (os.getpid() % 10000)
    with open(conf) as f:
        text = set_keys(f.read(), {
            ("sip", "listen"): "127.0.0.1:%d" % sip,
            ("api", "listen"): "127.0.0.1:%d" % api,
            ("rtp", "port_min"): str(rtp),
            ("rtp", "port_max"): str(rtp + 99),
            ("store", "path"): os.path.join(root, "var/lib/maskd/test.lmdb"),
        })
    run_conf = os.path.join(root, "var/lib/maskd/run.conf")
    with open(run_conf, "w") as f:
        f.write(text)
    os.chown(run_conf, 0, gid)
    os.chmod(run_conf, 0o640)

    nsock_path = os.path.join(root, "run/notify")
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(nsock_path)
    os.chown(nsock_path, uid, gid)
    env = dict(os.environ, NOTIFY_SOCKET=nsock_path, WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    # systemd's default soft limit; the hard one as it is (raising it
    # needs CAP_SYS_RESOURCE, which a container may not give)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    log = open(os.path.join(os.path.dirname(run_conf), "stderr"), "w+")
    proc = subprocess.Popen([maskd, "-c", run_conf], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd="/",
                            preexec_fn=as_user(uid, gid, (1024, hard)))
    try:
        msg, got = notify_wait(nsock, "READY=1", time.monotonic() + 30)
        check(msg is not None and "STATUS=listening sip=127.0.0.1:%d api="
              "127.0.0.1:%d" % (sip, api) in msg,
              "sd_notify READY=1 with the listening status (got %r)" % got)
        st, body = http_get(api, "/healthz")
        check(st == 200, "GET /healthz answers 200 after READY=1 (%d %s)"
              % (st, body))
        st, _ = http_get(api, "/v1/numbers", token)
        check(st == 200, "the API takes the token postinst generated")
        st, _ = http_get(api, "/v1/numbers", "change-me-please-0001")
        check(st == 401, "the API refuses the shipped placeholder token")
        check(os.path.isdir(os.path.join(root, "var/lib/maskd/test.lmdb")),
              "the store is created in /var/lib/maskd by the maskd uid")

        msgs = []
        end = time.monotonic() + 5
        while time.monotonic() < end and \
                sum(m == "WATCHDOG=1" for m in msgs) < 3:
            m, g = notify_wait(nsock, "WATCHDOG=1", end)
            msgs += g
        check(sum(m == "WATCHDOG=1" for m in msgs) >= 3,
              "WATCHDOG=1 keeps coming at WATCHDOG_USEC/2 (got %r)" % msgs)

        need = 100 + 1024 + 4096    # ports + max_connections + headroom
        if hard != resource.RLIM_INFINITY:
            need = min(need, hard)
        with open("/proc/%d/limits" % proc.pid) as f:
            line = [ln for ln in f if ln.startswith("Max open files")][0]
        soft = int(line.split()[3])
        check(soft >= need, "maskd raised its open-files limit from 1024 "
              "to what its RTP range needs (%d >= %d)" % (soft, need))

        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        st, _ = http_get(api, "/healthz")
        check(proc.poll() is None and st == 200,
              "SIGHUP (systemctl reload) keeps maskd running")

        proc.send_signal(signal.SIGTERM)
        msg, got = notify_wait(nsock, "STOPPING=1", time.monotonic() + 30)
        check(msg is not None, "sd_notify STOPPING=1 on SIGTERM (%r)" % got)
        rc = proc.wait(timeout=60)
        check(rc == 0, "maskd exits 0 after SIGTERM (%s)" % rc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        nsock.close()
        log.seek(0)
        out = log.read()
        log.close()
        if failures:
            print("---- maskd's output\n" + out, flush=True)


def unit_checks(root):
    """Step 4: systemd-analyze verify, on a copy whose ExecStart points
    into the throw-away root (verify wants the binary to exist)."""
    if not shutil.which("systemd-analyze"):
        print("skip  systemd-analyze not installed: unit not verified",
              flush=True)
        return
    with open(os.path.join(root, "usr/lib/systemd/system/maskd.service")) as f:
        unit = f.read()
    for line in ("Type=notify", "User=maskd", "Restart=on-failure",
                 "ExecStartPre=/usr/sbin/maskd --check-config "
                 "/etc/maskd/maskd.conf",
                 "ExecStart=/usr/sbin/maskd -c /etc/maskd/maskd.conf",
                 "ExecReload=/bin/kill -HUP $MAINPID",
                 "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "StateDirectory=maskd", "LimitRTPRIO=49",
                 "RestrictRealtime=no"):
        check(line in unit.splitlines(), "maskd.service: " + line)
    m = re.search(r"^LimitNOFILE=(\d+)", unit, re.M)
    check(m and int(m.group(1)) >= 10001 + 1024,
          "LimitNOFILE covers the default RTP range and API connections")
    vdir = tempfile.mkdtemp(prefix="maskd-unit-")
    try:
        path = os.path.join(vdir, "maskd.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/sbin/maskd",
                                 os.path.join(root, "usr/sbin/maskd")))
        p = run(["systemd-analyze", "verify", "--man=no", path])
        out = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not out,
              "systemd-analyze verify maskd.service: no complaint " + out)
    finally:
        shutil.rmtree(vdir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("skip: needs root (dpkg into a root, chown)")
        return SKIP
    for tool in ("cpack", "dpkg", "dpkg-deb", "groff", "useradd"):
        if not shutil.which(tool):
            print("FAIL  %s not found" % tool)
            return 1

    work = tempfile.mkdtemp(prefix="maskd-deb-")
    os.chmod(work, 0o755)   # the maskd uid runs the installed binary
    try:
        out = os.path.join(work, "out")
        must(["cpack", "-G", "DEB", "--config",
              os.path.join(a.build_dir, "CPackConfig.cmake"), "-B", out],
             "cpack -G DEB")
        debs = glob.glob(os.path.join(out, "maskd_*.deb"))
        if not check(len(debs) == 1, "cpack made one maskd_*.deb: %s" % debs):
            return 1
        deb = debs[0]
        data = deb_checks(deb, os.path.join(work, "control"), a.source_dir,
                          work)

        root = os.path.join(work, "root")
        deps = must(["dpkg-deb", "-f", deb, "Depends"], "Depends").stdout
        make_root(root, deps.strip())
        with open("/etc/passwd") as f:
            host_passwd = f.read()
        p = dpkg(root, "-i", deb)
        check(p.returncode == 0, "dpkg --root -i (dependencies checked): "
              + p.stdout + p.stderr)
        with open("/etc/passwd") as f:
            check(f.read() == host_passwd,
                  "the host's /etc/passwd is untouched (DPKG_ROOT honoured)")
        version = must(["dpkg-deb", "-f", deb, "Version"], "Version").stdout
        man_checks(data, os.path.join(root, "usr/sbin/maskd"),
                   version.strip().rsplit("-", 1)[0])

        uid, gid = user_ids(root)
        if not check(uid is not None and gid is not None,
                     "postinst created user and group maskd"):
            return 1
        conf = os.path.join(root, "etc/maskd/maskd.conf")
        st = os.stat(conf)
        check(stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0 and
              st.st_gid == gid, "/etc/maskd/maskd.conf is 0640 root:maskd")
        with open(conf) as f:
            installed = f.read()
        m = re.search(r"^tokens = (\S+)$", installed, re.M)
        token = m.group(1) if m else ""
        check(re.fullmatch(r"[0-9a-f]{32}", token),
              "[api] tokens is 128 random bits, not the placeholder")
        with open(os.path.join(data, "usr/share/maskd/maskd.conf")) as f:
            check(set_keys(f.read(), {("api", "tokens"): token}) == installed,
                  "the config is the template with only the token set")
        for d in ("var/lib/maskd", "var/log/maskd"):
            st = os.stat(os.path.join(root, d))
            check(st.st_uid == uid and st.st_gid == gid and
                  stat.S_IMODE(st.st_mode) == 0o750,
                  "/%s is 0750 maskd:maskd" % d)
        check(os.path.islink(os.path.join(
            root, "etc/systemd/system/multi-user.target.wants/maskd.service")),
            "the service is enabled (multi-user.target.wants link)")

        run_installed(root, uid, gid, token)
        unit_checks(root)

        p = dpkg(root, "-i", deb)
        with open(conf) as f:
            check(p.returncode == 0 and f.read() == installed,
                  "reinstall (upgrade path) keeps the config and its token")
        p = dpkg(root, "--remove", "maskd")
        check(p.returncode == 0 and
              not os.path.exists(os.path.join(root, "usr/sbin/maskd")) and
              os.path.exists(conf) and
              os.path.isdir(os.path.join(root, "var/lib/maskd/test.lmdb")),
              "dpkg --remove: binary gone, config and store kept")
        p = dpkg(root, "--purge", "maskd")
        check(p.returncode == 0 and
              not os.path.exists(os.path.join(root, "etc/maskd")) and
              not os.path.exists(os.path.join(root, "var/lib/maskd")) and
              not os.path.exists(os.path.join(root, "var/log/maskd")),
              "dpkg --purge: config, store and logs gone")
        check(user_ids(root)[0] == uid, "dpkg --purge keeps the maskd user")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if failures:
        print("\n%d check(s) failed:\n  %s" % (len(failures),
              "\n  ".join(failures)))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
