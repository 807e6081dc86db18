#!/usr/bin/env python3
"""test_geo.py - geo-match over the REST API: geo_match (country, area),
geo_party, geo_fallback and geo_matched on create, 409 no_geo_match,
every validation error, GET /v1/numbers?country=, [session]
geo_area_digits and the geo-match counters on /metrics. Against a real
maskd over real HTTP (test_api.py's harness, free ports), with a pool
mixing US (two area codes), CA, GB and IN numbers.

Run by ctest as:
    python3 tests/api/test_geo.py --maskd /path/to/maskd --source-dir /repo
Further arguments go to unittest (e.g. -v, -k area).

Python 3 standard library only.
"""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import Maskd, MaskdCase, phone, pool_numbers  # noqa: E402

MATCHED = "maskd_alloc_geo_matched_total"
FALLBACK = "maskd_alloc_geo_fallback_total"


class TestGeo(MaskdCase):
    """One maskd with a regional pool; every test uses fresh parties."""

    @classmethod
    def setUpClass(cls):
        cls.shared_tmp = tempfile.mkdtemp(prefix="maskd-geo-")
        cls.m = Maskd(cls.shared_tmp, "geo").start()
        # pool number -> the country geo-match sees; field None = none
        # given (the digits decide)
        cls.us415 = pool_numbers(2, "1415")
        cls.us212 = pool_numbers(2, "1212")
        cls.ca416 = pool_numbers(2, "1416")
        cls.gb = pool_numbers(2, "44207")
        cls.inn = pool_numbers(2, "9198")
        # a +1 415 number the pool calls Canadian: the field decides
        cls.ca_by_field = pool_numbers(1, "1415")
        for nums, field in ((cls.us415, "US"), (cls.us212, None),
                            (cls.ca416, "CA"), (cls.gb, "GB"),
                            (cls.inn, None), (cls.ca_by_field, "CA")):
            for n in nums:
                body = {"number": n}
                if field:
                    body["country"] = field
                r = cls.m.request("POST", "/v1/numbers", body)
                if r.status != 201:
                    raise AssertionError("add %s: %r" % (n, r))

    @classmethod
    def tearDownClass(cls):
        rc = cls.m.stop()
        rep = cls.m.sanitizer_report()
        diag = cls.m.diagnostics()
        if rc == 0 and not rep:
            shutil.rmtree(cls.shared_tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError("maskd exit status %s\n%s" % (rc, diag))
        if rep:
            raise AssertionError("sanitizer report:\n" + rep)

    def create(self, a, b, status=201, **kw):
        r = self.m.create(a, b, **kw)
        self.assertEqual(r.status, status, r)
        return r

    def assertError(self, r, status, code, field=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.code, code, r)
        if field is not None:
            self.assertTrue(r.message.startswith(field + ":"), r.message)

    # -- country --

    def test_country_party_a(self):
        s = self.create(phone("44207"), phone("1415"),
                        geo_match="country").json
        self.assertIn(s["virtual_number"], self.gb)
        self.assertIs(s["geo_matched"], True)
        # the reply to create alone carries geo_matched
        g = self.m.get(s["id"]).json
        self.assertNotIn("geo_matched", g)
        self.assertEqual(g["virtual_number"], s["virtual_number"])

    def test_country_party_b(self):
        a, b = phone("1415"), phone("9198")
        s = self.create(a, b, geo_match="country", geo_party="b").json
        self.assertIn(s["virtual_number"], self.inn)
        self.assertIs(s["geo_matched"], True)
        s = self.create(a, phone("44207"), geo_match="country",
                        geo_party="a").json
        self.assertIn(s["virtual_number"],
                      self.us415 + self.us212)

    def test_pool_field_decides(self):
        # Vancouver: no 604 numbers, but CA ones by area (416) and by
        # the pool's field (+1 415 ...)
        seen = set()
        a = phone("1604")
        for _ in range(3):
            s = self.create(a, phone("44207"), geo_match="country").json
            self.assertIs(s["geo_matched"], True)
            seen.add(s["virtual_number"])
        self.assertEqual(seen, set(self.ca416 + self.ca_by_field))
        # a US party never gets the CA-by-field number while a US one
        # is free: the four US numbers first
        a = phone("1415")
        seen = set()
        for _ in range(4):
            s = self.create(a, phone("44207"), geo_match="country").json
            self.assertIs(s["geo_matched"], True)
            seen.add(s["virtual_number"])
        self.assertEqual(seen, set(self.us415 + self.us212))
        # then none is free for a: 409, or the whole pool
        r = self.create(a, phone("44207"), status=409, geo_match="country",
                        geo_fallback=False)
        self.assertError(r, 409, "no_geo_match")
        s = self.create(a, phone("44207"), geo_match="country").json
        self.assertIs(s["geo_matched"], False)
        self.assertNotIn(s["virtual_number"], self.us415 + self.us212)

    # -- area --

    def test_area(self):
        s = self.create(phone("1212"), phone("1415"), geo_match="area").json
        self.assertIn(s["virtual_number"], self.us212)
        self.assertIs(s["geo_matched"], True)
        s = self.create(phone("1415"), phone("1416"), geo_match="area",
                        geo_party="b").json
        self.assertIn(s["virtual_number"], self.ca416)
        # area 1415 holds the US 415 numbers and the CA-by-field one
        s = self.create(phone("1415"), phone("1416"), geo_match="area").json
        self.assertIn(s["virtual_number"], self.us415 + self.ca_by_field)
        s = self.create(phone("44207"), phone("1416"), geo_match="area").json
        self.assertIn(s["virtual_number"], self.gb)

    def test_area_none_local(self):
        # +1 650: US, but no 650 number in the pool
        a = phone("1650")
        r = self.create(a, phone("1415"), status=409, geo_match="area",
                        geo_fallback=False)
        self.assertError(r, 409, "no_geo_match")
        s = self.create(a, phone("1415"), geo_match="area",
                        geo_fallback=True).json
        self.assertIs(s["geo_matched"], False)
        # country still finds a US number for the same party
        s = self.create(a, phone("1415"), geo_match="country").json
        self.assertIs(s["geo_matched"], True)
        self.assertIn(s["virtual_number"], self.us415 + self.us212)

    def test_unknown_country(self):
        # +999 is in no table: never local
        a = "+99912345678"
        r = self.create(a, phone("1415"), status=409, geo_match="country",
                        geo_fallback=False)
        self.assertError(r, 409, "no_geo_match")

    # -- defaults and errors --

    def test_defaults(self):
        # no geo-match asked: the reply is what GET shows
        s = self.create(phone("44207"), phone("1415")).json
        self.assertNotIn("geo_matched", s)
        self.assertEqual(self.m.get(s["id"]).json, s)
        s = self.create(phone("44207"), phone("1415"), geo_match="none",
                        geo_party=None, geo_fallback=None).json
        self.assertNotIn("geo_matched", s)
        # null is left out: party a, fallback on
        s = self.create(phone("9198"), phone("1415"), geo_match="country",
                        geo_party=None, geo_fallback=None).json
        self.assertIn(s["virtual_number"], self.inn)

    def test_errors(self):
        a, b = phone("1415"), phone("44207")
        for kw, field in (({"geo_match": "city"}, "geo_match"),
                          ({"geo_match": 1}, "geo_match"),
                          ({"geo_match": "Country"}, "geo_match"),
                          ({"geo_party": "c"}, "geo_party"),
                          ({"geo_party": 0}, "geo_party"),
                          ({"geo_fallback": "yes"}, "geo_fallback"),
                          ({"geo_match": "country",
                            "virtual_number": self.gb[0]}, "geo_match")):
            r = self.m.create(a, b, **kw)
            self.assertError(r, 400, "invalid_field", field)
        # an explicit number without geo_match is as before
        s = self.create(a, b, virtual_number=self.gb[1]).json
        self.assertNotIn("geo_matched", s)

    # -- the pool listing --

    def test_numbers_country(self):
        def listed(qs):
            r = self.m.request("GET", "/v1/numbers" + qs)
            self.assertEqual(r.status, 200, r)
            return {n["number"] for n in r.json["numbers"]}

        self.assertEqual(listed("?country=GB"), set(self.gb))
        self.assertEqual(listed("?country=IN"), set(self.inn))
        # US: by field and by digits; the +1 415 CA-by-field one is CA
        self.assertEqual(listed("?country=US"),
                         set(self.us415 + self.us212))
        self.assertEqual(listed("?country=CA"),
                         set(self.ca416 + self.ca_by_field))
        self.assertEqual(listed("?country=ZZ"), set())
        self.assertTrue(set(self.gb + self.inn) <= listed(""))
        for qs in ("?country=gb", "?country=GBR", "?country=",
                   "?colour=blue"):
            r = self.m.request("GET", "/v1/numbers" + qs)
            self.assertError(r, 400, "invalid_field" if "country" in qs
                             else r.code)

    # -- metrics --

    def test_metrics(self):
        before = self.m.metrics()
        self.create(phone("44207"), phone("1415"), geo_match="country")
        self.create(phone("4930"), phone("1415"), geo_match="country")
        self.create(phone("4930"), phone("1415"), status=409,
                    geo_match="country", geo_fallback=False)
        self.create(phone("44207"), phone("1415"))
        after = self.m.metrics()
        self.assertEqual(after[MATCHED] - before[MATCHED], 1)
        self.assertEqual(after[FALLBACK] - before[FALLBACK], 1)


class AreaDigitsMaskd(Maskd):
    """A maskd whose [session] says geo_area_digits = 4."""

    def write_config(self):
        super().write_config()
        with open(self.conf_path) as f:
            conf = f.read()
        with open(self.conf_path, "w") as f:
            f.write(conf.replace("[session]\n",
                                 "[session]\ngeo_area_digits = 4\n", 1))


class TestAreaDigits(MaskdCase):
    """[session] geo_area_digits: how many national digits an area is."""

    def test_four_digits(self):
        m = AreaDigitsMaskd(self.tmp, "digits")
        self._instances.append(m)
        m.start()
        near, far = "+12125550001", "+12126660001"
        for n in (far, near):
            r = m.request("POST", "/v1/numbers", {"number": n})
            self.assertEqual(r.status, 201, r)
        # 1 212 5...: the 4-digit area holds near alone, though far is
        # the lower number
        r = m.create("+12125559999", phone("1415"), geo_match="area",
                     geo_fallback=False)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["virtual_number"], near)
        r = m.create("+12127779999", phone("1415"), geo_match="area",
                     geo_fallback=False)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.code, "no_geo_match")
        self.stop_clean(m)


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
