#!/usr/bin/env python3
"""
test_print_config.py - maskd --print-config and --config-template, run as
operators run them.

- the shipped conf/maskd.conf is byte for byte what --config-template
  writes (the table and the file cannot drift apart);
- --print-config shows every key of every section, defaults included,
  with secrets (api.tokens, gateway.auth_password) as ***, and what it
  prints loads back into the same config;
- a bad file makes --print-config fail with the parser's message.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None

SECRET_TOKEN = "Tok3n-secret-AAAA"
SECRET_PW = "pw-Secret-BBBB"


def run(*args):
    return subprocess.run([ARGS.maskd] + list(args), capture_output=True,
                          text=True, timeout=30)


def sections(text):
    """{section: {key: value}} of a config file's text (no comments)."""
    out, cur = {}, None
    for line in text.splitlines():
        if not line or line[0] in ";#":
            continue
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            cur = out.setdefault(m.group(1), {})
            continue
        key, _, value = line.partition("=")
        cur[key.strip()] = value.strip()
    return out


class Template(unittest.TestCase):
    def test_shipped_file_is_the_template(self):
        r = run("--config-template")
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(ARGS.source_dir, "conf", "maskd.conf")
        with open(path) as f:
            shipped = f.read()
        if shipped != r.stdout:
            self.fail("conf/maskd.conf differs from maskd "
                      "--config-template: run scripts/gen-conf.sh")

    def test_template_runs_on_loopback(self):
        conf = sections(run("--config-template").stdout)
        self.assertEqual(conf["sip"]["listen"], "127.0.0.1:5060")
        self.assertEqual(conf["api"]["listen"], "127.0.0.1:8080")
        self.assertEqual(conf["store"]["path"], "var/maskd.lmdb")
        self.assertEqual(conf["trunk.carrier1"]["sources"], "127.0.0.0/8")
        self.assertTrue(conf["api"]["tokens"])


class Print(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="maskd-print-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_every_key_defaults_and_secrets(self):
        path = self.write("a.conf",
                          "[trunk.a]\nsources = 198.51.100.0/24, ::1\n"
                          "trusted = yes\n[api]\ntokens = %s, %s-2\n"
                          "[gateway]\nauth_user = u\nauth_password = %s\n"
                          "[rtp]\nport_min = 20000\n"
                          % (SECRET_TOKEN, SECRET_TOKEN, SECRET_PW))
        r = run("--print-config", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Tok3n", r.stdout)
        self.assertNotIn("Secret", r.stdout)
        got = sections(r.stdout)
        self.assertEqual(got["api"]["tokens"], "***")
        self.assertEqual(got["gateway"]["auth_password"], "***")
        self.assertEqual(got["gateway"]["auth_user"], "u")
        # what the file sets, and defaults it does not
        self.assertEqual(got["rtp"]["port_min"], "20000")
        self.assertEqual(got["rtp"]["port_max"], "40000")
        self.assertEqual(got["flood"]["exempt_trunks"], "yes")
        self.assertEqual(got["store"]["map_size"], "4G")
        self.assertEqual(got["log"]["level"], "info")
        self.assertEqual(got["trunk.a"]["sources"],
                         "198.51.100.0/24,::1/128")
        self.assertEqual(got["trunk.a"]["trusted"], "yes")
        # every key the template knows, in every section
        tmpl = sections(run("--config-template").stdout)
        tmpl["trunk.a"] = tmpl.pop("trunk.carrier1")
        self.assertEqual(sorted(got), sorted(tmpl))
        for sec in tmpl:
            self.assertEqual(sorted(got[sec]), sorted(tmpl[sec]), sec)

    def test_printed_config_loads_back_the_same(self):
        path = self.write("b.conf",
                          "[sip]\nadvertise = sip.example.net\n"
                          "pass_headers = P-Early-Media, Accept-Language\n"
                          "udp_buffer = 1048576\n"
                          "[trunk.x]\nsources = 192.0.2.7/24\n"
                          "country_code = 44\n[trunk.y]\nsources = ::1\n"
                          "[api]\ntokens = %s\n[log]\nlevel = debug\n"
                          "file = \" /tmp/a b \"\n[flood]\nscanners =\n"
                          % SECRET_TOKEN)
        first = run("--print-config", path)
        self.assertEqual(first.returncode, 0, first.stderr)
        # the token comes back as ***: put a real one in to reload it
        text = first.stdout.replace("tokens = ***",
                                    "tokens = %s" % SECRET_TOKEN)
        second = run("--print-config", self.write("c.conf", text))
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(second.stdout, first.stdout)
        got = sections(first.stdout)
        self.assertEqual(got["sip"]["udp_buffer"], "1M")
        self.assertEqual(got["log"]["file"], '" /tmp/a b "')
        self.assertEqual(got["flood"]["scanners"], "")
        self.assertEqual(list(k for k in got if k.startswith("trunk.")),
                         ["trunk.x", "trunk.y"])

    def test_bad_file(self):
        path = self.write("bad.conf", "[trunk.a]\nsources = ::1\n"
                          "[api]\ntokens = %s\n[rtp]\nport_min = 1\n"
                          % SECRET_TOKEN)
        r = run("--print-config", path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("%s:6: rtp.port_min: out of range" % path, r.stderr)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    ARGS, rest = p.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
