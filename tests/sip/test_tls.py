#!/usr/bin/env python3
"""
test_tls.py - SIP over TLS: a call whose both legs run over TLS, TLS 1.0
and 1.1 refused, a gateway whose certificate does not verify (another CA,
another host's name) refused, and bad certificate files refused at
start-up.

Debian's SIPp speaks no TLS, so Kamailio (with its tls module) stands
between SIPp on UDP and maskd on TLS, on loopback only, in the
foreground, with ports chosen free at run time:

    SIPp UAC (127.0.0.2, UDP) -> Kamailio -> TLS -> maskd [tls_listen]
    maskd -> TLS -> Kamailio ([gateway] address, transport = tls)
          -> UDP -> SIPp UAS (127.0.0.3)

Kamailio sends what arrives over UDP to maskd's TLS port and what
arrives over TLS to the UAS, record-routing both ways; its script logs
every request and reply with the protocol it came on ("KAMTEST ..."),
which is how the test sees that each of maskd's messages travelled over
TLS. maskd's gateway is Kamailio's TLS port, where nothing listens on
UDP: there is no clear-text path between them.

Certificates are made here with the openssl CLI: a CA that maskd and
Kamailio trust, maskd's and Kamailio's certificates from it, and a second,
unrelated CA whose certificate Kamailio presents in TlsWrongCa (in
TlsWrongName and TlsNameNotChecked, one of the right CA for another
host).
sofia-sip 1.12.11 compares the host it connects to with the
certificate's DNS subjectAltNames and common name only (it misreads
OpenSSL's "IP Address" entries), so the gateway certificates carry
127.0.0.1 as their common name.

maskd runs with OPENSSL_CONF naming a configuration that lowers
OpenSSL's security level to 0 and allows TLS 1.0: so a TLS 1.0 client
could complete its handshake but for maskd's own minimum (TLS 1.2).

Kamailio is installed by scripts/deps.sh; without it the test fails.
Nothing here asserts speed: every wait is bounded and generous.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sip as ts  # noqa: E402  (the harness: Maskd, Sipp, ...)
import kamailio  # noqa: E402  (tests/sip/kamailio.py)

LSAN_SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "lsan_sofia_tls.supp")
TLS_IO_S = 10

# OpenSSL's own knobs turned down: without maskd's minimum, TLS 1.0 would
# pass (OpenSSL 3 refuses it only from security level 1 up)
WEAK_OPENSSL_CONF = """openssl_conf = weak_init
[weak_init]
ssl_conf = weak_ssl
[weak_ssl]
system_default = weak_default
[weak_default]
MinProtocol = TLSv1
CipherString = DEFAULT:@SECLEVEL=0
"""


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    if p.returncode:
        raise AssertionError("%s: %d\n%s" % (" ".join(cmd), p.returncode,
                                             p.stdout.decode("utf-8",
                                                             "replace")))


class Pki:
    """Two unrelated CAs and the certificates the tests need (P-256)."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pki")
        os.makedirs(self.dir)
        self.ca("ca")
        self.ca("wrongca")
        # maskd's own: checked by Kamailio against ca
        self.leaf("maskd", "ca", "127.0.0.1")
        # the gateway's, named 127.0.0.1 (see the module's comment)
        self.leaf("gw", "ca", "127.0.0.1")
        self.leaf("gw_wrongca", "wrongca", "127.0.0.1")
        # the right CA, but another host's name
        self.leaf("gw_wrongname", "ca", "gw.example.net",
                  "DNS:gw.example.net")
        # a key that matches no certificate here
        self.key("stray")

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", name + ".key"], self.dir)

    def ca(self, name):
        self.key(name)
        run(["openssl", "req", "-x509", "-new", "-key", name + ".key",
             "-out", name + ".crt", "-days", "2", "-subj",
             "/CN=maskd test %s" % name, "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"], self.dir)

    def leaf(self, name, ca, cn, san=None):
        self.key(name)
        run(["openssl", "req", "-new", "-key", name + ".key", "-out",
             name + ".csr", "-subj", "/CN=%s" % cn], self.dir)
        with open(self.path(name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=%s\n" % (san or "IP:" + cn))
        run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA",
             ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial", "-out",
             name + ".crt", "-days", "2", "-extfile", name + ".ext"],
            self.dir)


KAM_CFG = r"""#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
disable_sctp=yes
enable_tls=yes
listen=udp:127.0.0.1:%(udp)d
listen=tls:127.0.0.1:%(tls)d

loadpath "%(modules)s"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "tls.so"
modparam("tls", "config", "%(tls_cfg)s")

request_route {
	xlog("L_NOTICE", "KAMTEST in $rm proto=$pr from=$si:$sp ruri=$ru\n");
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				t_relay();
				exit;
			}
			forward();
			exit;
		}
		t_relay();
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans())
			t_relay();
		exit;
	}
	record_route();
	if ($pr == "udp") {
		$du = "sip:127.0.0.1:%(maskd_tls)d;transport=tls";
	} else {
		$du = "sip:%(uas_ip)s:%(uas)d";
	}
	t_relay();
}

onreply_route {
	xlog("L_NOTICE", "KAMTEST reply $rs $rm proto=$pr from=$si:$sp\n");
}
"""

KAM_TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %(cert)s
private_key = %(key)s

[client:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
ca_list = %(ca)s
"""


class Kamailio(kamailio.Kamailio):
    """The carrier edge: KAM_CFG on free ports (tests/sip/kamailio.py
    runs it)."""

    def __init__(self, tmp, pki, cert, maskd_tls_port, uas_port):
        d = os.path.join(tmp, "kamailio")
        os.makedirs(d)
        self.udp_port = ts.free_port()
        self.tls_port = ts.free_port()
        tls_cfg = os.path.join(d, "tls.cfg")
        with open(tls_cfg, "w") as f:
            f.write(KAM_TLS_CFG % {"cert": pki.path(cert + ".crt"),
                                   "key": pki.path(cert + ".key"),
                                   "ca": pki.path("ca.crt")})
        self.cfg = os.path.join(d, "kamailio.cfg")
        with open(self.cfg, "w") as f:
            f.write(KAM_CFG % {"udp": self.udp_port, "tls": self.tls_port,
                               "modules": kamailio.modules_dir("tls.so"),
                               "tls_cfg": tls_cfg,
                               "maskd_tls": maskd_tls_port,
                               "uas_ip": ts.GW_IP, "uas": uas_port})
        rundir = os.path.join(d, "run")
        os.makedirs(rundir)
        super().__init__(d, [kamailio.binary(), "-f", self.cfg, "-DD", "-E",
                             "-m", "32", "-M", "8", "-Y", rundir],
                         udp=[("127.0.0.1", self.udp_port)],
                         tcp=[("127.0.0.1", self.tls_port)])

    def lines(self):
        """What its script logged: (kind, method or status, proto, from,
        ruri) per line."""
        out = []
        for m in re.finditer(r"KAMTEST (in|reply) (.*)$", self.log(), re.M):
            out.append((m.group(1), m.group(2)))
        return out


class TlsMaskd(ts.Maskd):
    """maskd with TLS on both sides: trunk and gateway are Kamailio."""

    def __init__(self, tmp, pki, tmpdir, openssl_conf, sip_extra=""):
        super().__init__(tmp, sip_extra)
        self.pki = pki
        self.tls_port = ts.free_port()
        self.tmpdir = tmpdir
        self.openssl_conf = openssl_conf
        self.gw_tls = None      # Kamailio's TLS port, set before start()
        self.cert, self.key = "maskd.crt", "maskd.key"

    def write_config(self):
        with open(self.conf_path, "w") as f:
            f.write(
                "[sip]\nlisten = 127.0.0.1:%d\ntls_listen = 127.0.0.1:%d\n"
                "tls_cert = %s\ntls_key = %s\ntls_ca = %s\n"
                "transaction_timeout = 8000\n"
                # as test_sip.Maskd: admission is test_overload's
                "overload_lag_ms = 1000\n%s"
                "[trunk.kamailio]\nsources = 127.0.0.1/32\n"
                "[gateway]\naddress = 127.0.0.1:%d\ntransport = tls\n"
                "[store]\npath = %s\nmap_size = 64M\n"
                "[api]\nlisten = 127.0.0.1:%d\ntokens = %s\n"
                "[session]\nring_timeout = %d\n"
                "[log]\nlevel = debug\nfile = %s\n"
                % (self.sip_port, self.tls_port, self.pki.path(self.cert),
                   self.pki.path(self.key), self.pki.path("ca.crt"),
                   self.sip_extra, self.gw_tls or ts.free_port(),
                   os.path.join(self.dir, "db"), self.api_port, ts.TOKEN,
                   ts.RING_TIMEOUT_S, self.log_path))

    def child_env(self):
        # the child's environment: where its certificate directory goes,
        # the weakened OpenSSL configuration, and (ASan build) the leaks of
        # sofia-sip's TLS code left out of the report, which needs whole
        # stacks through OpenSSL to match them
        env = super().child_env()
        env["TMPDIR"] = self.tmpdir
        env["OPENSSL_CONF"] = self.openssl_conf
        env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" \
            % LSAN_SUPPRESSIONS
        env["ASAN_OPTIONS"] = ":".join(
            [os.environ.get("ASAN_OPTIONS") or "detect_leaks=1",
             "fast_unwind_on_malloc=0"])
        return env


class TlsBase(unittest.TestCase):
    """One CA set, one Kamailio and one maskd per class."""
    gateway_cert = "gw"
    sip_extra = ""      # more [sip] lines for this class's maskd

    @classmethod
    def setUpClass(cls):
        if not kamailio.binary() or not kamailio.modules_dir("tls.so"):
            raise AssertionError("kamailio with its tls module is not "
                                 "installed (scripts/deps.sh installs "
                                 "kamailio kamailio-tls-modules)")
        cls.tmp = tempfile.mkdtemp(prefix="maskd-tls-test-")
        cls.kam = cls.maskd = None
        try:
            cls.pki = Pki(cls.tmp)
            cls.tmpdir = os.path.join(cls.tmp, "maskd-tmp")
            os.makedirs(cls.tmpdir)
            cls.openssl_conf = os.path.join(cls.tmp, "openssl-weak.cnf")
            with open(cls.openssl_conf, "w") as f:
                f.write(WEAK_OPENSSL_CONF)
            cls.uas_port = ts.free_port(host=ts.GW_IP)
            cls.maskd = TlsMaskd(cls.tmp, cls.pki, cls.tmpdir,
                                 cls.openssl_conf, cls.sip_extra)
            cls.kam = Kamailio(cls.tmp, cls.pki, cls.gateway_cert,
                               cls.maskd.tls_port, cls.uas_port).start()
            cls.maskd.gw_tls = cls.kam.tls_port
            cls.maskd.start()
        except BaseException:
            cls._cleanup(False)
            raise

    @classmethod
    def _cleanup(cls, remove):
        rc = rep = None
        if cls.maskd and cls.maskd.proc:
            rc = cls.maskd.stop()
            rep = cls.maskd.sanitizer_report()
        if cls.kam:
            cls.kam.stop()
        if remove:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        return rc, rep

    @classmethod
    def tearDownClass(cls):
        m = cls.maskd
        rc, rep = cls._cleanup(False)
        if rc != 0 or rep:
            raise AssertionError("maskd exit %s\n%s\n%s"
                                 % (rc, rep or "", m.diagnostics()))
        # the key's copy for sofia-sip is gone once maskd has started
        left = os.listdir(cls.tmpdir)
        if left:
            raise AssertionError("left in TMPDIR: %r" % left)
        if not getattr(cls, "_failed", False):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.run_dir = os.path.join(self.tmp, self.id().rsplit(".", 1)[1])
        os.makedirs(self.run_dir, exist_ok=True)
        self.runs = []
        self.kam_mark = len(self.kam.lines())

    def tearDown(self):
        for r in self.runs:
            if r.proc.poll() is None:
                r.proc.kill()
                r.wait()
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and (getattr(result, "failures", None) or
                                   getattr(result, "errors", None)):
            type(self)._failed = True

    def uas(self, scenario, keys, timeout=None):
        args = ts.SipBase.keys(keys) + ["-d", "500"]
        if timeout:
            args += ["-timeout", timeout]
        s = ts.Sipp(self, "uas", scenario, ts.GW_IP, args,
                    port=self.uas_port, media_ip=ts.GW_MEDIA_IP)
        self.runs.append(s)
        ts.wait_listening(ts.GW_IP, self.uas_port)
        return s

    def uac(self, scenario, vn, keys):
        s = ts.Sipp(self, "uac", scenario, ts.A_IP,
                    ["-s", vn] + ts.SipBase.keys(keys) + ["-d", "500",
                     "127.0.0.1:%d" % self.kam.udp_port],
                    media_ip=ts.A_MEDIA_IP)
        self.runs.append(s)
        return s

    def expect_rc(self, run, want=0):
        rc = run.wait()
        if rc != want:
            self.fail("%s exited %r, want %r\n%s\n%s\n--- kamailio ---\n%s"
                      % (run.name, rc, want,
                         "\n".join(r.report() for r in self.runs),
                         self.maskd.diagnostics(),
                         ts.read_text(self.kam.log_path)[-6000:]))

    def kam_seen(self):
        """Kamailio's lines since this test began, as text."""
        return ["%s %s" % l for l in self.kam.lines()[self.kam_mark:]]

    def assert_kam(self, regexp, what):
        seen = self.kam_seen()
        if not any(re.search(regexp, l) for l in seen):
            self.fail("%s: no Kamailio line matches %r:\n%s"
                      % (what, regexp, "\n".join(seen)))

    def calls(self, sid, n=1, timeout=30):
        deadline = time.monotonic() + timeout
        calls = []
        while time.monotonic() < deadline:
            calls = self.maskd.calls(sid) or []
            if len(calls) >= n:
                return calls
            time.sleep(0.1)
        self.fail("session %s: %r CDRs, want %d\n%s"
                  % (sid, calls, n, self.maskd.diagnostics()))


class TlsCalls(TlsBase):
    """Both legs over TLS, through Kamailio."""

    def maskd_tls(self):
        return "from=127.0.0.1:%d" % self.maskd.tls_port

    def test_call_caller_hangs_up(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("proxy_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("basic_uac.xml", vn, {"caller": a})
        self.expect_rc(ua)
        self.expect_rc(gw)

        # leg a: the caller's INVITE reached maskd over TLS (Kamailio
        # forwards it there), and maskd's answers came back over TLS
        self.assert_kam(r"^reply 200 INVITE proto=tls %s" % self.maskd_tls(),
                        "maskd's 200 to the caller")
        self.assert_kam(r"^reply 200 BYE proto=tls %s" % self.maskd_tls(),
                        "maskd's 200 to the caller's BYE")
        # leg b: maskd's INVITE, ACK and BYE arrived at the gateway over
        # TLS (its only port there is TLS)
        for method in ("INVITE", "ACK", "BYE"):
            self.assert_kam(r"^in %s proto=tls from=127\.0\.0\.1:\d+ "
                            r"ruri=sip:\+?%s@" % (method, b.lstrip("+")),
                            "maskd's %s to the gateway" % method)
        self.assertFalse([l for l in self.kam_seen()
                          if re.match(r"in \S+ proto=udp from=127\.0\.0\.1:",
                                      l)],
                         "maskd sent something in clear")

        # what B received: maskd's Via and Contact say TLS, its TLS port
        invite = [m for m in ts.sip_messages(gw.msg_log, "received")
                  if m.startswith("INVITE")][0]
        self.assertRegex(invite, r"(?m)^Via: SIP/2\.0/TLS 127\.0\.0\.1:%d;"
                         % self.maskd.tls_port)
        self.assertIn("Contact: <sip:%s@127.0.0.1:%d;transport=tls>"
                      % (vn, self.maskd.tls_port), invite)
        self.assertNotIn(a.lstrip("+"), invite)
        ok = [m for m in ts.sip_messages(ua.msg_log, "received")
              if m.startswith("SIP/2.0 200") and "INVITE" in m][0]
        self.assertIn("Contact: <sip:%s@127.0.0.1:%d;transport=tls>"
                      % (vn, self.maskd.tls_port), ok)
        self.assertNotIn(b.lstrip("+"), ok)

        c = self.calls(s["id"])[-1]
        self.assertEqual(c["final_code"], 200, c)
        self.assertEqual(c["hangup_by"], "caller", c)
        self.assertEqual(c["reason"], "normal", c)

    def test_callee_hangs_up(self):
        # maskd's BYE to the caller leaves on leg a over TLS
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("proxy_callee_bye_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("callee_bye_uac.xml", vn, {"caller": a})
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_kam(r"^in BYE proto=tls from=127\.0\.0\.1:\d+ "
                        r"ruri=sip:\+?%s@%s" % (a.lstrip("+"), ts.A_IP),
                        "maskd's BYE to the caller")
        self.assert_kam(r"^reply 200 BYE proto=tls %s" % self.maskd_tls(),
                        "maskd's 200 to the callee's BYE")
        c = self.calls(s["id"])[-1]
        self.assertEqual(c["final_code"], 200, c)
        self.assertEqual(c["hangup_by"], "callee", c)

    def handshake(self, version):
        """A TLS client of exactly @version against maskd's TLS port;
        returns the negotiated version or raises ssl.SSLError."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.pki.path("ca.crt"))
        ctx.check_hostname = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # security level 0: this client really offers TLS 1.0/1.1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = version
            ctx.maximum_version = version
        with socket.create_connection(("127.0.0.1", self.maskd.tls_port),
                                      TLS_IO_S) as raw:
            with ctx.wrap_socket(raw) as t:
                return t.version()

    def test_tls12_accepted_tls10_tls11_refused(self):
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_2), "TLSv1.2")
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_3), "TLSv1.3")
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.assertRaises(ssl.SSLError) as e:
                self.handshake(v)
            # maskd's refusal, not this client failing to offer it
            self.assertEqual(e.exception.reason,
                             "TLSV1_ALERT_PROTOCOL_VERSION",
                             "%s: %r" % (v, e.exception))
        # maskd still serves after the refused handshakes
        self.assertEqual(self.maskd.request("GET", "/healthz",
                                            token=None)[0], 200)

    def test_zz_counters_return_to_zero(self):
        # last of the class (unittest runs them by name)
        zero, m = self.maskd.wait_zero()
        if not zero:
            self.fail("live counters did not return to 0: %r"
                      % {n: m.get(n) for n in ts.Maskd.LIVE})


class TlsWrongCa(TlsBase):
    """The gateway presents a certificate from a CA maskd does not trust."""
    gateway_cert = "gw_wrongca"
    why = r"unable to get local issuer certificate"

    def test_gateway_refused_call_fails(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("proxy_uas.xml", {"vn": vn, "callee": b},
                      timeout="6s")
        # maskd answers 503; Kamailio, a proxy, turns a 503 into 500
        # (RFC 3261 16.7)
        ua = self.uac("reject_uac.xml", vn, {"caller": a, "code": "500"})
        self.expect_rc(ua)
        gw.wait()
        self.assertEqual(ts.sip_messages(gw.msg_log, "received"), [],
                         "the callee got something:\n" + gw.report())
        self.assert_kam(r"^reply 503 INVITE proto=tls %s"
                        % ("from=127.0.0.1:%d" % self.maskd.tls_port),
                        "maskd's 503 to the caller")
        # nothing of maskd's ever got through to the gateway
        self.assertFalse([l for l in self.kam_seen()
                          if re.match(r"in INVITE proto=tls", l)],
                         "an INVITE reached the gateway")
        c = self.calls(s["id"])[-1]
        self.assertEqual(c["final_code"], 503, c)
        self.assertIsNone(c["answered_at"], c)
        self.assertEqual(c["reason"], "failure", c)
        log = ts.read_text(self.maskd.log_path)
        self.assertRegex(log, r"WARN sip: tls: .*" + self.why)


class TlsWrongName(TlsWrongCa):
    """The gateway's certificate is from the right CA but names another
    host than [gateway] address's."""
    gateway_cert = "gw_wrongname"
    why = r"Peer Subject Mismatch \(127\.0\.0\.1\)"


class TlsNameNotChecked(TlsBase):
    """tls_verify_name = no: the gateway's certificate names another host
    but chains to tls_ca, and the call goes through, over TLS."""
    gateway_cert = "gw_wrongname"
    sip_extra = "tls_verify_name = no\n"

    def test_call(self):
        a, b = ts.caller_number(), ts.callee_number()
        s = self.maskd.session(a, b)
        vn = s["virtual_number"]
        gw = self.uas("proxy_uas.xml", {"vn": vn, "callee": b})
        ua = self.uac("basic_uac.xml", vn, {"caller": a})
        self.expect_rc(ua)
        self.expect_rc(gw)
        self.assert_kam(r"^in BYE proto=tls from=127\.0\.0\.1:\d+ "
                        r"ruri=sip:\+?%s@" % b.lstrip("+"),
                        "maskd's BYE to the gateway")
        c = self.calls(s["id"])[-1]
        self.assertEqual(c["final_code"], 200, c)


class TlsStartup(unittest.TestCase):
    """Certificate files that cannot serve stop maskd at start-up."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maskd-tls-start-")
        cls.pki = Pki(cls.tmp)
        cls.tmpdir = os.path.join(cls.tmp, "maskd-tmp")
        os.makedirs(cls.tmpdir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def refused(self, cert, key, want):
        m = TlsMaskd(tempfile.mkdtemp(dir=self.tmp), self.pki, self.tmpdir,
                     os.devnull)
        m.cert, m.key = cert, key
        m.write_config()
        env = dict(os.environ, TMPDIR=self.tmpdir)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        p = subprocess.run([ts.ARGS.maskd, "-c", m.conf_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, cwd=m.dir,
                           timeout=ts.START_TIMEOUT)
        out = p.stdout.decode("utf-8", "replace") + ts.read_text(m.log_path)
        self.assertEqual(p.returncode, 1, out)
        self.assertRegex(out, want)
        for mark in ts.SANITIZER_MARKS:
            self.assertNotIn(mark, out)
        self.assertEqual(os.listdir(self.tmpdir), [])

    def test_key_does_not_match(self):
        self.refused("maskd.crt", "stray.key",
                     r"ERROR tls: .*stray\.key does not match the "
                     r"certificate of .*maskd\.crt")

    def test_missing_certificate(self):
        self.refused("nothing.crt", "maskd.key",
                     r"ERROR tls: cannot read .*nothing\.crt: No such file")

    def test_key_is_no_key(self):
        self.refused("maskd.crt", "ca.crt",
                     r"ERROR tls: .*ca\.crt: no unencrypted PEM private key")

    def test_certificate_is_no_certificate(self):
        self.refused("maskd.key", "maskd.key",
                     r"ERROR tls: .*maskd\.key: not a PEM certificate file")


if __name__ == "__main__":
    ts.main(globals(), tools=("sipp", "openssl"))
