#!/usr/bin/env python3
"""test_pin.py - PIN authentication's session half over the REST API:
the fields on create, GET, list and PATCH, every validation error, 409
pin_conflict, and PINs kept out of the log above debug. Against a real
maskd over real HTTP (test_api.py's harness, free ports).

Run by ctest as:
    python3 tests/api/test_pin.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k conflict).

Python 3 standard library only.
"""
import os
import re
import sys
import unittest
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import MaskdCase, SharedMaskd, phone, pool_numbers  # noqa: E402

PIN_FIELDS = ("pin_required", "pin_a", "pin_b", "pin_retries")


def q(s):
    return quote(s, safe="")


class TestPinFields(SharedMaskd):

    def path(self, s):
        return "/v1/sessions/" + s["id"]

    def test_defaults(self):
        s = self.new_session()
        self.assertEqual({k: s[k] for k in PIN_FIELDS},
                         {"pin_required": False, "pin_a": None,
                          "pin_b": None, "pin_retries": 1})

    def test_explicit_returned_everywhere(self):
        s = self.new_session(pin_required=True, pin_a="2580",
                             pin_b="123456789012345", pin_retries=0)
        want = {"pin_required": True, "pin_a": "2580",
                "pin_b": "123456789012345", "pin_retries": 0}
        self.assertEqual({k: s[k] for k in PIN_FIELDS}, want)
        g = self.m.get(s["id"]).json
        self.assertEqual({k: g[k] for k in PIN_FIELDS}, want)
        r = self.m.request("GET", "/v1/sessions?party=" + q(s["party_a"]))
        self.assertEqual(r.status, 200, r)
        (ls,) = r.json["sessions"]
        self.assertEqual({k: ls[k] for k in PIN_FIELDS}, want)

    def test_generated(self):
        for length, want in ((None, 4), (4, 4), (9, 9), (15, 15)):
            kw = {"generate_pin": True, "pin_required": True}
            if length is not None:
                kw["pin_length"] = length
            s = self.new_session(**kw)
            for k in ("pin_a", "pin_b"):
                self.assertRegex(s[k], r"^[0-9]{%d}$" % want, s)
            self.assertNotEqual(s["pin_a"], s["pin_b"])
            self.assertTrue(s["pin_required"])
        # generated without pin_required: kept, not required
        s = self.new_session(generate_pin=True)
        self.assertFalse(s["pin_required"])
        self.assertRegex(s["pin_a"], r"^[0-9]{4}$")

    def test_create_errors(self):
        cases = [
            ({"pin_a": "123", "pin_b": "4567"}, "pin_a"),
            ({"pin_a": "1234", "pin_b": "1234567890123456"}, "pin_b"),
            ({"pin_a": "12a4", "pin_b": "4567"}, "pin_a"),
            ({"pin_a": 1234, "pin_b": "4567"}, "pin_a"),
            ({"pin_a": "1234"}, "pin_b"),
            ({"pin_b": "1234"}, "pin_a"),
            ({"pin_a": "1234", "pin_b": "1234"}, "pin_b"),
            ({"pin_required": True}, "pin_required"),
            ({"pin_required": "yes", "generate_pin": True}, "pin_required"),
            ({"generate_pin": 1}, "generate_pin"),
            ({"generate_pin": True, "pin_a": "1234", "pin_b": "5678"},
             "generate_pin"),
            ({"generate_pin": True, "pin_length": 3}, "pin_length"),
            ({"generate_pin": True, "pin_length": 16}, "pin_length"),
            ({"pin_length": 6}, "pin_length"),
            ({"pin_retries": 6}, "pin_retries"),
            ({"pin_retries": -1}, "pin_retries"),
        ]
        for body, field in cases:
            r = self.m.create(phone(), phone(), **body)
            self.assertError(r, 400, "invalid_field", field)
            # the message names the field, never echoes a PIN
            for v in body.values():
                if isinstance(v, str) and v.isdigit():
                    self.assertNotIn(v, r.message)

    def test_patch(self):
        s = self.new_session()
        p = self.path(s)
        r = self.m.request("PATCH", p, {"pin_a": "1111", "pin_b": "2222"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["pin_a"], r.json["pin_b"],
                          r.json["pin_required"]), ("1111", "2222", False))
        r = self.m.request("PATCH", p, {"pin_required": True,
                                        "pin_retries": 5})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["pin_required"], r.json["pin_retries"]),
                         (True, 5))
        r = self.m.request("PATCH", p, {"generate_pin": True,
                                        "pin_length": 7})
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.json["pin_a"], r"^[0-9]{7}$")
        self.assertRegex(r.json["pin_b"], r"^[0-9]{7}$")
        self.assertNotEqual(r.json["pin_a"], r.json["pin_b"])
        self.assertTrue(r.json["pin_required"])
        self.assertEqual(self.m.get(s["id"]).json["pin_a"], r.json["pin_a"])
        r = self.m.request("PATCH", p, {"pin_required": False})
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["pin_required"])
        self.assertRegex(r.json["pin_a"], r"^[0-9]{7}$")

        # a session without PINs cannot require them
        t = self.new_session()
        r = self.m.request("PATCH", self.path(t), {"pin_required": True})
        self.assertError(r, 400, "invalid_field", "pin_required")
        self.assertFalse(self.m.get(t["id"]).json["pin_required"])
        for body, field in (({"pin_a": "1"}, "pin_a"),
                            ({"pin_a": "1234"}, "pin_b"),
                            ({"pin_a": "1234", "pin_b": "1234"}, "pin_b"),
                            ({"pin_length": 5}, "pin_length"),
                            ({"pin_retries": 9}, "pin_retries")):
            r = self.m.request("PATCH", self.path(t), body)
            self.assertError(r, 400, "invalid_field", field)
        # ended: 409 session_ended
        self.assertEqual(self.m.request("DELETE", p).status, 200)
        r = self.m.request("PATCH", p, {"pin_a": "3333", "pin_b": "4444"})
        self.assertError(r, 409, "session_ended")

    def test_conflict(self):
        vn = self.pool[0]
        s = self.new_session(virtual_number=vn, pin_required=True,
                             pin_a="70010000", pin_b="70020000")
        # either PIN, on create with that number
        for a, b in (("70010000", "79990000"), ("79980000", "70020000"), ("70020000", "70010000")):
            r = self.m.create(phone(), phone(), virtual_number=vn,
                              pin_required=True, pin_a=a, pin_b=b)
            self.assertError(r, 409, "pin_conflict")
        # another number is fine
        self.new_session(virtual_number=self.pool[1], pin_required=True,
                         pin_a="70010000", pin_b="70020000")
        # on patch
        t = self.new_session(virtual_number=vn)
        r = self.m.request("PATCH", self.path(t), {
            "pin_required": True, "pin_a": "70020000", "pin_b": "70030000"})
        self.assertError(r, 409, "pin_conflict")
        g = self.m.get(t["id"]).json
        self.assertEqual((g["pin_required"], g["pin_a"]), (False, None))
        # turning s's requirement off frees its PINs; on again clashes
        r = self.m.request("PATCH", self.path(s), {"pin_required": False})
        self.assertEqual(r.status, 200, r)
        r = self.m.request("PATCH", self.path(t), {
            "pin_required": True, "pin_a": "70020000", "pin_b": "70030000"})
        self.assertEqual(r.status, 200, r)
        r = self.m.request("PATCH", self.path(s), {"pin_required": True})
        self.assertError(r, 409, "pin_conflict")
        # closing t frees them for s
        self.assertEqual(self.m.request("DELETE", self.path(t)).status, 200)
        r = self.m.request("PATCH", self.path(s), {"pin_required": True})
        self.assertEqual(r.status, 200, r)


class TestPinAllocation(MaskdCase):

    def test_allocation_avoids_pin(self):
        m = self.start_maskd("alloc")
        pool = pool_numbers(2, "1921")
        m.add_numbers(pool)
        r = m.create(phone(), phone(), virtual_number=pool[0],
                     pin_required=True, pin_a="4242", pin_b="2424")
        self.assertEqual(r.status, 201, r)
        # pool[1] is busier now, but pool[0] has the PIN
        for _ in range(2):
            r = m.create(phone(), phone(), virtual_number=pool[1])
            self.assertEqual(r.status, 201, r)
        r = m.create(phone(), phone(), pin_required=True, pin_a="4242",
                     pin_b="9999")
        self.assertEqual((r.status, r.json["virtual_number"]),
                         (201, pool[1]), r)
        r = m.create(phone(), phone(), pin_required=True, pin_a="4242",
                     pin_b="8888")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.code, "pin_conflict")
        # free PINs: the least-used, pool[0]
        r = m.create(phone(), phone(), pin_required=True, pin_a="5151",
                     pin_b="1515")
        self.assertEqual((r.status, r.json["virtual_number"]),
                         (201, pool[0]), r)
        self.stop_clean(m)


class TestPinLog(MaskdCase):

    def exercise(self, m, prefix):
        pool = pool_numbers(1, prefix)
        m.add_numbers(pool)
        pins = ["31415926", "27182818", "16180339", "14142135"]
        r = m.create(phone(), phone(), pin_required=True, pin_a=pins[0],
                     pin_b=pins[1])
        self.assertEqual(r.status, 201, r)
        sid = r.json["id"]
        r = m.request("PATCH", "/v1/sessions/" + sid,
                      {"pin_a": pins[2], "pin_b": pins[3]})
        self.assertEqual(r.status, 200, r)
        r = m.request("PATCH", "/v1/sessions/" + sid,
                      {"generate_pin": True, "pin_length": 12})
        self.assertEqual(r.status, 200, r)
        pins += [r.json["pin_a"], r.json["pin_b"]]
        # refusals too
        m.create(phone(), phone(), pin_required=True, pin_a=pins[4],
                 pin_b="99999999")
        m.create(phone(), phone(), pin_a="123", pin_b=pins[0])
        m.request("DELETE", "/v1/sessions/" + sid)
        self.stop_clean(m)
        return pins, m.read(m.log_path) + m.read(m.stderr_path)

    def test_info_log_has_no_pin(self):
        m = self.start_maskd("info", log_level="info")
        pins, text = self.exercise(m, "1922")
        self.assertIn("api:", text)     # the log is not empty
        for p in pins:
            self.assertNotIn(p, text)

    def test_debug_log_has_them_only_in_debug_lines(self):
        m = self.start_maskd("debug", log_level="debug")
        pins, text = self.exercise(m, "1923")
        # the PINs are in the debug lines (so the other test can fail)
        self.assertIn("pin_a=" + pins[0], text)
        above = 0
        for line in text.splitlines():
            # "<time> LEVEL text"; a line of any other shape counts as
            # above debug too
            lv = re.match(r"^\S+ (ERROR|WARN|INFO|DEBUG) ", line)
            if lv and lv.group(1) == "DEBUG":
                continue
            above += 1
            for p in pins:
                self.assertNotIn(p, line)
        self.assertGreater(above, 0)


def main():
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    args, rest = p.parse_known_args()
    args.maskd = os.path.abspath(args.maskd)
    args.source_dir = os.path.abspath(args.source_dir)
    test_api.ARGS = args
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
