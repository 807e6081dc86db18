#!/usr/bin/env python3
"""
test_prompts.py - the prompts as maskd loads them at start-up: the real
maskd, run with [media] prompts pointing at a directory this test fills.

- a good set (the one the build speaks, copied) starts maskd, which says
  where it loaded the prompts from;
- an empty [media] prompts finds the build's own set beside the binary;
- one bad file stops start-up before SIP and the API listen: exit status
  not 0, and the log names the file and what is wrong with it (wrong
  rate, stereo, 8-bit samples, a missing file, a file that is not a WAV,
  a WAV without samples).

The bad WAV files are written with Python's wave module, not with the
code under test.
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import ports  # noqa: E402  (tests/ports.py)

ARGS = None
NAMES = ("unknown", "expired", "enter_pin", "wrong_pin", "goodbye",
         "connecting", "recorded")
TOKEN = "test-token-0123456789"
START_TIMEOUT = 60
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")


def free_port():
    """A port free for both UDP and TCP (tests/ports.py)."""
    return ports.free_port()


def free_rtp_range(n=4):
    """An even port with the @n UDP ports from it free, for [rtp]."""
    for _ in range(200):
        base = random.randrange(20000, 60000, 2)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free RTP port range")


def write_wav(path, rate=8000, channels=1, width=2, frames=4000):
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x10\x00" * (frames * channels * width // 2))


class Run:
    """One maskd run with [media] prompts = @prompts (None: no [media])."""

    def __init__(self, tmp, prompts):
        self.dir = tempfile.mkdtemp(dir=tmp)
        self.log = os.path.join(self.dir, "maskd.log")
        self.api_port = free_port()
        self.sip_port = free_port()
        rtp = free_rtp_range()
        conf = os.path.join(self.dir, "maskd.conf")
        with open(conf, "w") as f:
            f.write("[sip]\nlisten = 127.0.0.1:%d\n"
                    "[trunk.test]\nsources = 127.0.0.0/8\n"
                    "[rtp]\nport_min = %d\nport_max = %d\n"
                    "[store]\npath = %s\nmap_size = 16M\n"
                    "[api]\nlisten = 127.0.0.1:%d\ntokens = %s\n"
                    "[log]\nlevel = info\nfile = %s\n"
                    % (self.sip_port, rtp, rtp + 3,
                       os.path.join(self.dir, "db"), self.api_port, TOKEN,
                       self.log))
            if prompts is not None:
                f.write("[media]\nprompts = %s\n" % prompts)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen(
            [ARGS.maskd, "-c", conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            cwd=self.dir)
        self.stderr = ""

    def text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read() + self.stderr
        except FileNotFoundError:
            return self.stderr

    def wait_exit(self):
        try:
            _, err = self.proc.communicate(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("maskd did not stop at start-up")
        self.stderr = err.decode("utf-8", "replace")
        return self.proc.returncode

    def wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT
        url = "http://127.0.0.1:%d/healthz" % self.api_port
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.wait_exit()
                raise AssertionError("maskd exited with %d:\n%s"
                                     % (self.proc.returncode, self.text()))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("maskd did not answer /healthz")

    def stop(self):
        self.proc.terminate()
        rc = self.wait_exit()
        for mark in SANITIZER_MARKS:
            if mark in self.text():
                raise AssertionError(self.text())
        return rc


class TestPrompts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="maskd-test-prompts-")
        self.set = os.path.join(self.tmp, "prompts")
        shutil.copytree(ARGS.prompts_dir, self.set)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def starts(self, prompts, where):
        run = Run(self.tmp, prompts)
        run.wait_healthy()
        self.assertEqual(run.stop(), 0, run.text())
        self.assertIn("7 prompts loaded from %s" % where, run.text())

    def refused(self, name, *what):
        """maskd with the set, @name spoiled, stops naming it."""
        run = Run(self.tmp, self.set)
        rc = run.wait_exit()
        text = run.text()
        self.assertNotEqual(rc, 0, text)
        path = os.path.join(self.set, name + ".wav")
        line = [ln for ln in text.splitlines() if "media.prompts" in ln]
        self.assertTrue(line, text)
        self.assertIn(path, line[0])
        for w in what:
            self.assertIn(w, line[0])
        # stopped before SIP and the API started
        self.assertNotIn("listening", text)

    def test_good_set_starts(self):
        self.starts(self.set, self.set)

    def test_empty_finds_the_built_set(self):
        built = os.path.join(os.path.dirname(os.path.realpath(ARGS.maskd)),
                             "prompts")
        self.starts(None, built)

    def test_wrong_rate(self):
        write_wav(os.path.join(self.set, "goodbye.wav"), rate=16000)
        self.refused("goodbye", "16000 Hz", "8000 Hz")

    def test_stereo(self):
        write_wav(os.path.join(self.set, "enter_pin.wav"), channels=2)
        self.refused("enter_pin", "2 channels", "mono")

    def test_8_bit(self):
        write_wav(os.path.join(self.set, "recorded.wav"), width=1)
        self.refused("recorded", "8-bit", "16-bit PCM")

    def test_missing(self):
        os.unlink(os.path.join(self.set, "wrong_pin.wav"))
        self.refused("wrong_pin", "No such file")

    def test_not_a_wav(self):
        with open(os.path.join(self.set, "unknown.wav"), "w") as f:
            f.write("this is not audio\n" * 100)
        self.refused("unknown", "not a sound file")

    def test_no_samples(self):
        write_wav(os.path.join(self.set, "connecting.wav"), frames=0)
        self.refused("connecting", "no samples")

    def test_missing_dir(self):
        self.set = os.path.join(self.tmp, "nowhere")
        self.refused("unknown", "No such file")


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--prompts-dir", required=True)
    ARGS, rest = p.parse_known_args()
    for n in NAMES:
        if not os.path.exists(os.path.join(ARGS.prompts_dir, n + ".wav")):
            sys.exit("no %s.wav in %s" % (n, ARGS.prompts_dir))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
