#!/usr/bin/env python3
"""sip_peers.py - Python SIP parties behind a gateway, for the suites
that need maskd to call several parties (tests/sip/test_rac.py,
tests/api/test_openapi.py, bench/bench_rac.py).

Every outbound INVITE of maskd goes to the one [gateway] address; the
Gateway here takes them there and hands each to the Party its
Request-URI number names, which answers as its script says (ring,
answer - in the 200 or in a 183 -, refuse, never answer). Each Party has
its own loopback address: its Contact and SDP name it, so that in-dialog
requests and media reach it there and a leak of one party's address to
another shows like a leaked number. Every message a party receives is
kept (Party.received). One thread runs the gateway and every party.

Python 3 standard library only; loopback only.
"""
import math
import os
import random
import re
import select
import socket
import struct
import threading
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # G.711 reference coder (Python <= 3.12)

import test_media as tm

RATE = 8000
AMP = 6000
PARTY_IPS = ("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24")
MASKD_IP = "127.0.0.1"

_seq = [0]
_seq_lock = threading.Lock()


def number(prefix):
    with _seq_lock:
        _seq[0] += 1
        return "%s%04d" % (prefix, (os.getpid() * 7 + _seq[0]) % 10000)


def token():
    return "%016x" % random.getrandbits(64)


# ---- SIP text -------------------------------------------------------------

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type"}


class Msg:
    """One SIP message as text: its first line, headers in order, body."""

    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.replace("\r\n", "\n").partition("\n\n")
        lines = head.split("\n")
        self.first = lines[0]
        self.headers = []
        for ln in lines[1:]:
            if ln[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + ln.strip())
                continue
            n, _, v = ln.partition(":")
            n = n.strip().lower()
            self.headers.append((COMPACT.get(n, n), v.strip()))
        parts = self.first.split(" ", 2)
        self.is_request = not self.first.startswith("SIP/2.0")
        self.method = parts[0] if self.is_request else None
        self.ruri = parts[1] if self.is_request else None
        self.status = int(parts[1]) if not self.is_request else None

    def get(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    def cseq_method(self):
        return (self.get("cseq") or " ").split()[-1]


def uri_of(hdr):
    m = re.search(r"<([^>]+)>", hdr)
    return m.group(1) if m else hdr.split(";")[0].strip()


def hostport(uri):
    m = re.match(r"sips?:(?:[^@]+@)?([^;:>]+)(?::(\d+))?", uri)
    return m.group(1), int(m.group(2) or 5060)


def sdp_media(body):
    """(port, [formats]) of the first m=audio line, or None."""
    for ln in body.split("\n"):
        ln = ln.strip()
        if ln.startswith("m=audio "):
            f = ln.split()
            return int(f[1]), [int(x) for x in f[3:]]
    return None


# ---- the parties ------------------------------------------------------------

class Party:
    """One party behind the gateway: number, own address, SIP socket for
    its Contact, RTP socket for its SDP, and what it does with an INVITE:
    ring for @ring_s then answer @final (200, 486, ...; None: ring until
    CANCELled)."""

    def __init__(self, gw, num, ip, final=200, ring_s=0.2, prefer=0,
                 early=False):
        self.gw = gw
        self.number = num
        self.ip = ip
        self.final = final
        self.ring_s = ring_s
        self.prefer = prefer
        self.early = early      # the answer in a 183, none in the 200
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((ip, 0))
        self.port = self.sip.getsockname()[1]
        self.rtp = tm.bound_even(ip)
        self.rtp.setblocking(False)
        self.rtp_port = self.rtp.getsockname()[1]
        self.received = []          # Msg, every message it got
        self.events = []            # ("invite"|"cancel"|"bye"|"ack", t)
        self.dialog = None          # the one call it takes part in
        self.pt = None
        self.cseq = 100

    def close(self):
        self.sip.close()
        self.rtp.close()

    def saw(self, what):
        return any(e == what for e, _ in self.events)

    # -- answering maskd's INVITE --

    def response(self, inv, code, phrase, to_tag=True, sdp=None):
        d = self.dialog
        lines = ["SIP/2.0 %d %s" % (code, phrase)]
        for v in inv.all("via"):
            lines.append("Via: " + v)
        lines.append("From: " + inv.get("from"))
        to = inv.get("to")
        if to_tag and ";tag=" not in to:
            to += ";tag=" + d["tag"]
        lines.append("To: " + to)
        lines.append("Call-ID: " + inv.get("call-id"))
        lines.append("CSeq: " + inv.get("cseq"))
        if 100 < code < 300:
            lines.append("Contact: <sip:%s@%s:%d>"
                         % (self.number.lstrip("+"), self.ip, self.port))
        body = sdp or ""
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def answer_sdp(self, offer):
        fmts = sdp_media(offer.body)[1]
        pt = self.prefer if self.prefer in fmts else \
            [f for f in fmts if f in (0, 8)][0]
        self.pt = pt
        return ("v=0\r\no=party 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
                "t=0 0\r\nm=audio %d RTP/AVP %d 101\r\n"
                "a=rtpmap:%d %s/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                "a=sendrecv\r\n" % (self.ip, self.ip, self.rtp_port, pt, pt,
                                    "PCMU" if pt == 0 else "PCMA"))

    def on_invite(self, inv, src):
        if self.dialog and self.dialog["call_id"] == inv.get("call-id"):
            return      # a retransmission
        self.events.append(("invite", time.monotonic()))
        self.dialog = {"call_id": inv.get("call-id"), "invite": inv,
                       "src": src, "tag": token()[:10], "state": "ringing",
                       "remote": uri_of(inv.get("contact") or ""),
                       "from": inv.get("from"), "to": None}
        self.gw.send(self.response(inv, 100, "Trying", to_tag=False), src)
        if self.early:
            self.gw.send(self.response(inv, 183, "Session Progress",
                                       sdp=self.answer_sdp(inv)), src)
        elif self.ring_s > 0 or self.final is None:
            self.gw.send(self.response(inv, 180, "Ringing"), src)
        if self.final is not None:
            self.gw.later(self.ring_s, self.finish)

    def finish(self):
        d = self.dialog
        if not d or d["state"] != "ringing":
            return
        inv = d["invite"]
        if self.final == 200:
            d["state"] = "up"
            d["to"] = inv.get("to") + ";tag=" + d["tag"]
            self.gw.send(self.response(
                inv, 200, "OK", sdp=None if self.early else
                self.answer_sdp(inv)), d["src"])
        else:
            d["state"] = "failed"
            self.gw.send(self.response(inv, self.final, "Nope"), d["src"])

    def on_cancel(self, m, src):
        self.events.append(("cancel", time.monotonic()))
        d = self.dialog
        self.gw.send(self.response(m, 200, "OK"), src)
        if d and d["state"] == "ringing":
            d["state"] = "cancelled"
            self.gw.send(self.response(d["invite"], 487, "Cancelled"),
                         d["src"])

    def on_request(self, m, src, sock):
        if m.method == "ACK":
            self.events.append(("ack", time.monotonic()))
            return
        if m.method == "BYE":
            self.events.append(("bye", time.monotonic()))
            if self.dialog:
                self.dialog["state"] = "ended"
        elif m.method not in ("INVITE", "UPDATE", "OPTIONS", "INFO"):
            return
        lines = ["SIP/2.0 200 OK"] + ["Via: " + v for v in m.all("via")]
        lines += ["From: " + m.get("from"), "To: " + m.get("to"),
                  "Call-ID: " + m.get("call-id"), "CSeq: " + m.get("cseq"),
                  "Content-Length: 0"]
        sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), src)

    # -- hanging up ourselves --

    def bye(self):
        self.gw.call(self._bye)

    def _bye(self):
        d = self.dialog
        if not d or d["state"] != "up":
            return
        d["state"] = "ended"
        self.cseq += 1
        msg = ("BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;"
               "rport\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n"
               "Call-ID: %s\r\nCSeq: %d BYE\r\nContent-Length: 0\r\n\r\n"
               % (d["remote"], self.ip, self.port, token(), d["to"],
                  d["from"], d["call_id"], self.cseq))
        self.sip.sendto(msg.encode(), hostport(d["remote"]))

    # -- media --

    def maskd_rtp_port(self):
        """The relay port maskd's offer named for this party."""
        return sdp_media(self.dialog["invite"].body)[0]

    def send_rtp(self, n=10, marker_ssrc=0x1234):
        port = self.maskd_rtp_port()
        pt = self.pt if self.pt is not None else 0
        for i in range(n):
            hdr = struct.pack("!BBHII", 0x80, pt, i, i * 160, marker_ssrc)
            self.rtp.sendto(hdr + bytes([0xFF if pt == 0 else 0xD5]) * 160,
                            (MASKD_IP, port))
            time.sleep(0.005)

    def start_tone(self, hz, secs):
        """Send a tone of @hz for @secs in 20 ms packets, in the codec
        this party answered with, from a thread; what arrives meanwhile
        is kept (self.heard: decoded samples)."""
        self.heard = []
        self._tone = threading.Thread(target=self._tone_run,
                                      args=(hz, secs), daemon=True)
        self._tone.start()

    def _tone_run(self, hz, secs):
        port = self.maskd_rtp_port()
        pt = self.pt
        n = int(secs * 50)
        t0 = time.monotonic()
        ssrc = random.getrandbits(32)
        for i in range(n):
            pcm = b"".join(struct.pack("<h", int(AMP * math.sin(
                2 * math.pi * hz * (i * 160 + k) / RATE)))
                for k in range(160))
            enc = audioop.lin2ulaw(pcm, 2) if pt == 0 else \
                audioop.lin2alaw(pcm, 2)
            hdr = struct.pack("!BBHII", 0x80, pt, i & 0xFFFF, i * 160, ssrc)
            self.rtp.sendto(hdr + enc, (MASKD_IP, port))
            while True:
                try:
                    data, _ = self.rtp.recvfrom(2048)
                except BlockingIOError:
                    break
                if len(data) > 12 and data[1] & 0x7F in (0, 8):
                    dec = audioop.ulaw2lin(data[12:], 2) \
                        if data[1] & 0x7F == 0 else \
                        audioop.alaw2lin(data[12:], 2)
                    self.heard.append(dec)
            wait = t0 + (i + 1) * 0.02 - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def wait_tone(self):
        self._tone.join(30)

    def heard_pcm(self, skip_s=0.4):
        """What arrived, as samples, without the first @skip_s (the mix
        starting, the jitter buffer filling)."""
        raw = b"".join(self.heard)
        n = len(raw) // 2
        samples = struct.unpack("<%dh" % n, raw[:n * 2])
        return samples[int(skip_s * RATE):]

    def drain_rtp(self):
        n = 0
        while True:
            try:
                self.rtp.recvfrom(2048)
                n += 1
            except BlockingIOError:
                return n


class Gateway(threading.Thread):
    """maskd's [gateway]: a UDP socket that hands each INVITE to the
    party its Request-URI names (404 for a number nobody has), and one
    loop for every party's socket and every scheduled answer."""

    def __init__(self, ip, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.parties = {}
        self.timers = []
        self.calls = []
        self.lock = threading.Lock()
        self.stopping = False
        self.errors = []

    def add(self, party):
        with self.lock:
            self.parties[party.number] = party

    def send(self, text, addr):
        self.sock.sendto(text.encode(), addr)

    def later(self, delay, fn):
        self.timers.append((time.monotonic() + delay, fn))

    def call(self, fn):
        with self.lock:
            self.calls.append(fn)

    def stop(self):
        self.stopping = True
        self.join(5)
        self.sock.close()

    def party_by_sock(self, s):
        for p in self.parties.values():
            if p.sip is s:
                return p
        return None

    def dispatch(self, raw, src, sock):
        m = Msg(raw)
        if sock is self.sock:
            if not m.is_request:
                return
            user = re.match(r"sips?:([^@;]+)", m.ruri or "")
            num = user.group(1) if user else ""
            if not num.startswith("+"):
                num = "+" + num
            p = self.parties.get(num)
            if p is None:
                if m.method == "INVITE":
                    lines = ["SIP/2.0 404 Not Found"]
                    lines += ["Via: " + v for v in m.all("via")]
                    lines += ["From: " + m.get("from"),
                              "To: " + m.get("to") + ";tag=nobody",
                              "Call-ID: " + m.get("call-id"),
                              "CSeq: " + m.get("cseq"), "Content-Length: 0"]
                    self.send("\r\n".join(lines) + "\r\n\r\n", src)
                return
            p.received.append(m)
            if m.method == "INVITE":
                p.on_invite(m, src)
            elif m.method == "CANCEL":
                p.on_cancel(m, src)
            else:
                p.on_request(m, src, self.sock)
            return
        p = self.party_by_sock(sock)
        if p is None:
            return
        p.received.append(m)
        if m.is_request:
            p.on_request(m, src, sock)

    def run(self):
        while not self.stopping:
            with self.lock:
                socks = [self.sock] + [p.sip for p in self.parties.values()]
                calls, self.calls = self.calls, []
            try:
                for fn in calls:
                    fn()
                now = time.monotonic()
                due = [t for t in self.timers if t[0] <= now]
                self.timers = [t for t in self.timers if t[0] > now]
                for _, fn in due:
                    fn()
                r, _, _ = select.select(socks, [], [], 0.02)
                for s in r:
                    try:
                        raw, src = s.recvfrom(65535)
                    except OSError:
                        continue
                    self.dispatch(raw.decode("utf-8", "replace"), src, s)
            except Exception as e:      # reported by the test's checks
                self.errors.append(repr(e))


def goertzel(pcm, hz):
    """Power of @pcm at @hz: one DFT bin, normalised so that a tone of
    amplitude A at @hz gives A^2 / 4."""
    k = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in pcm:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / (len(pcm) * len(pcm))
