#!/usr/bin/env python3
"""test_openapi.py - docs/openapi.yaml is valid OpenAPI 3.1, and it is what
a running maskd answers.

Run by ctest as:
    python3 tests/api/test_openapi.py --maskd /path/to/maskd --source-dir /repo
        [--oas-schema /path/to/oas-3.1-schema.json]

1. The document is validated against the published OpenAPI 3.1 meta-schema
   (https://spec.openapis.org/oas/3.1/schema/2022-10-07, Apache-2.0, from
   the OpenAPI Initiative), with python3-jsonschema (draft 2020-12, which
   the meta-schema's $dynamicRef needs). The meta-schema is not kept in
   this repository: it is the copy the openapi-spec-validator package
   ships on the machine image (or --oas-schema / MASKD_OAS_SCHEMA names
   one), and its $id is checked. Broken documents must be rejected, one of
   them through $dynamicRef, so a validator that skips it fails here.
   Every Schema Object must be a valid draft 2020-12 schema, every $ref
   must resolve and every example must match its schema.

2. A real maskd (test_api.py's harness) is asked, for every path, method
   and documented status, a request that must produce that status; the
   answer's status must be documented for that operation, its body must
   match the documented schema for its Content-Type (objects are closed:
   a field the document does not name fails), and its required headers
   must be there. The statuses no request can provoke from outside (out
   of memory, a store that cannot be read) are listed with the reason.
   Every method a path does not document must get 405 with Allow naming
   exactly the documented ones.

3. Call records, which only real calls make: SIPp through maskd
   (test_sip.py's harness), one answered and one refused call, their
   records checked against the document the same way.

Needs PyYAML and jsonschema >= 4.10 (scripts/deps.sh: python3-yaml,
python3-jsonschema), and SIPp.
"""
import argparse
import copy
import hashlib
import http.client
import importlib.util
import json
import os
import socket
import sys
import time
import unittest

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "sip"))
import test_api  # noqa: E402
import test_media  # noqa: E402
import sip_peers  # noqa: E402
import test_rac  # noqa: E402
import test_sip  # noqa: E402
from test_api import (MaskdCase, phone, pool_numbers,  # noqa: E402
                      q)

ARGS = None
OAS_ID = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
                "trace")
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# (path, method, status) the document promises but no request from
# outside can bring about; everything else documented must be provoked.
NOT_PROVOKED_WHY = {
    "500": "only when maskd runs out of memory",
    "503": "only when the store cannot be read or written",
    "507": "on DELETE only when a commit runs out of map; the guard's 507 "
           "is provoked for the writes that grow the store (PROVOKED_507)",
}
# The 507 store_full answers a nearly full map brings about (probe_store_full)
# What only parties that answer can bring about: provoked by TestApiCalls
# (Python SIP parties, tests/sip/sip_peers.py, in test_rac.py's harness)
PROVOKED_BY_PARTIES = {("/v1/calls/{id}/participants", "post", "201"),
                       ("/v1/calls/{id}/participants/{leg_id}", "delete",
                        "200")}
PROVOKED_507 = {("/v1/sessions", "post", "507"),
                ("/v1/sessions/{id}", "patch", "507"),
                ("/v1/numbers", "post", "507")}
# What only a real recorded call brings about: provoked and checked by
# TestCallRecords.test_recording (SIPp through maskd), not TestContract.
REC = "/v1/calls/{id}/recording"
PROVOKED_BY_RECORDING = {(REC, "get", "200"), (REC, "get", "206"),
                         (REC, "get", "416"), (REC, "delete", "204")}
PROVOKED_BY_CALLS = PROVOKED_BY_PARTIES | PROVOKED_BY_RECORDING


def load_doc():
    with open(os.path.join(ARGS.source_dir, "docs", "openapi.yaml")) as f:
        return yaml.safe_load(f)


def meta_schema_path():
    path = ARGS.oas_schema or os.environ.get("MASKD_OAS_SCHEMA")
    if path:
        return path
    spec = importlib.util.find_spec("openapi_spec_validator")
    if spec and spec.submodule_search_locations:
        for d in spec.submodule_search_locations:
            p = os.path.join(d, "resources", "schemas", "v3.1",
                             "schema.json")
            if os.path.exists(p):
                return p
    return None


def operations(doc):
    """(path, method, operation) for every operation in @doc."""
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def deref(doc, node):
    """@node, or what its $ref (local) points at, followed to the end."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError("not a local $ref: %r" % ref)
        node = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        seen += 1
        if seen > 50:
            raise AssertionError("$ref loop at %r" % ref)
    return node


def validator(doc, schema):
    """A draft 2020-12 validator for @schema, with the document's
    components reachable as #/components/... from it (the same in
    jsonschema 4.10 and in later versions)."""
    root = {"$schema": DRAFT, "allOf": [schema],
            "components": doc.get("components", {})}
    return jsonschema.Draft202012Validator(root)


def schema_errors(doc, schema, value):
    return ["%s at %s" % (e.message[:300], list(e.absolute_path))
            for e in validator(doc, schema).iter_errors(value)]


class TestDocument(unittest.TestCase):
    """The document itself, against the OpenAPI 3.1 meta-schema."""

    @classmethod
    def setUpClass(cls):
        cls.doc = load_doc()
        path = meta_schema_path()
        if not path:
            raise AssertionError(
                "no OpenAPI 3.1 meta-schema: pass --oas-schema FILE or set "
                "MASKD_OAS_SCHEMA (the openapi-spec-validator package "
                "ships one)")
        with open(path) as f:
            cls.meta = json.load(f)
        cls.meta_validator = jsonschema.Draft202012Validator(cls.meta)

    def test_meta_schema_is_the_published_one(self):
        self.assertEqual(self.meta.get("$id"), OAS_ID)
        self.assertEqual(self.meta.get("$schema"), DRAFT)
        jsonschema.Draft202012Validator.check_schema(self.meta)
        self.assertIn('"$dynamicRef"', json.dumps(self.meta))

    def test_valid_openapi_31(self):
        errors = ["%s at %s" % (e.message[:300], list(e.absolute_path))
                  for e in self.meta_validator.iter_errors(self.doc)]
        self.assertEqual(errors, [])
        self.assertRegex(self.doc["openapi"], r"^3\.1\.\d+$")

    def test_broken_documents_rejected(self):
        def broken(change):
            d = copy.deepcopy(self.doc)
            change(d)
            return list(self.meta_validator.iter_errors(d))

        cases = {
            "no info": lambda d: d.pop("info"),
            "OpenAPI 3.0": lambda d: d.update(openapi="3.0.3"),
            "response without description":
                lambda d: d["paths"]["/healthz"]["get"]["responses"]["200"]
                .pop("description"),
            "path not starting with /":
                lambda d: d["paths"].update({"v1/x": d["paths"]["/healthz"]}),
            "parameter in body":
                lambda d: d["paths"]["/v1/sessions"]["get"]["parameters"][0]
                .update({"in": "body"}),
            "status 999":
                lambda d: d["paths"]["/healthz"]["get"]["responses"].update(
                    {"999": {"description": "x"}}),
            "unknown operation field":
                lambda d: d["paths"]["/healthz"]["get"].update(colour=1),
        }
        for name, change in cases.items():
            with self.subTest(name):
                self.assertTrue(broken(change), "%s accepted" % name)

        # A Schema Object that is neither an object nor a boolean: the
        # meta-schema checks schemas only through $dynamicRef "#meta", so
        # this is rejected only if $dynamicRef is really followed.
        def bad_schema(d):
            d["components"]["schemas"]["Session"] = 42
        errors = broken(bad_schema)
        self.assertTrue(errors, "a schema of 42 was accepted")
        paths = [list(e.absolute_schema_path) for e in errors]
        self.assertTrue(any("$dynamicRef" in p for p in paths), paths)

    def test_schemas_are_draft_2020_12(self):
        def walk(node, where):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "schema" and isinstance(v, (dict, bool)):
                        yield where + "/schema", v
                    else:
                        yield from walk(v, "%s/%s" % (where, k))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    yield from walk(v, "%s/%d" % (where, i))

        found = list(walk(self.doc["paths"], "#/paths"))
        found += [("#/components/schemas/" + k, v)
                  for k, v in self.doc["components"]["schemas"].items()]
        self.assertGreater(len(found), 30)
        for where, schema in found:
            with self.subTest(where):
                jsonschema.Draft202012Validator.check_schema(schema)

    def test_refs_resolve(self):
        def refs(node):
            if isinstance(node, dict):
                if isinstance(node.get("$ref"), str):
                    yield node["$ref"]
                for v in node.values():
                    yield from refs(v)
            elif isinstance(node, list):
                for v in node:
                    yield from refs(v)

        all_refs = set(refs(self.doc))
        self.assertGreater(len(all_refs), 20)
        for ref in all_refs:
            with self.subTest(ref):
                self.assertIsNotNone(deref(self.doc, {"$ref": ref}))

    def test_examples_match_their_schemas(self):
        n = 0
        for path, method, op in operations(self.doc):
            bodies = [op.get("requestBody", {})]
            bodies += [deref(self.doc, r)
                       for r in op.get("responses", {}).values()]
            for b in bodies:
                for ctype, media in deref(self.doc, b).get(
                        "content", {}).items():
                    examples = []
                    if "example" in media:
                        examples.append(media["example"])
                    for ex in media.get("examples", {}).values():
                        examples.append(deref(self.doc, ex)["value"])
                    for ex in examples:
                        n += 1
                        with self.subTest(path=path, method=method,
                                          ctype=ctype):
                            self.assertEqual(schema_errors(
                                self.doc, media["schema"], ex), [])
        self.assertGreater(n, 15)

    def test_every_route_documented(self):
        """The routes README.md and api.c name are all here, no more."""
        want = {
            ("/v1/sessions", "get"), ("/v1/sessions", "post"),
            ("/v1/sessions/{id}", "get"), ("/v1/sessions/{id}", "patch"),
            ("/v1/sessions/{id}", "delete"),
            ("/v1/sessions/{id}/calls", "get"),
            ("/v1/sessions/{id}/calls", "post"),
            ("/v1/calls/{id}", "get"), ("/v1/calls/{id}", "delete"),
            ("/v1/calls/{id}/participants", "post"),
            ("/v1/calls/{id}/participants/{leg_id}", "delete"),
            ("/v1/numbers", "get"), ("/v1/numbers", "post"),
            ("/v1/numbers/{number}", "get"),
            ("/v1/numbers/{number}", "delete"),
            ("/v1/events", "get"), ("/v1/events/{id}/redeliver", "post"),
            ("/v1/webhooks", "get"), ("/v1/webhooks", "patch"),
            ("/v1/calls/{id}/recording", "get"),
            ("/v1/calls/{id}/recording", "delete"),
            ("/v1/sip/workers", "get"), ("/v1/sip/workers/{worker}", "get"),
            ("/v1/sip/workers/{worker}", "patch"),
            ("/healthz", "get"), ("/metrics", "get"),
        }
        got = {(p, m) for p, m, _ in operations(self.doc)}
        self.assertEqual(got, want)
        for path, method, op in operations(self.doc):
            public = path in ("/healthz", "/metrics")
            self.assertEqual(op.get("security") == [], public,
                             "%s %s: security" % (method, path))


class TestContract(MaskdCase):
    """Every documented answer, from a real maskd."""

    @classmethod
    def setUpClass(cls):
        cls.doc = load_doc()

    # -- checking one answer --

    def op(self, path, method):
        return self.doc["paths"][path][method.lower()]

    def check(self, path, method, r, status):
        """@r (a test_api.Resp) is @status and matches the document."""
        where = "%s %s -> %d" % (method, path, r.status)
        self.assertEqual(r.status, status, "%s: %r" % (where, r))
        responses = self.op(path, method)["responses"]
        self.assertIn(str(r.status), responses,
                      "%s: status not in the document" % where)
        self.check_response(deref(self.doc, responses[str(r.status)]), r,
                            where)
        self.seen.add((path, method.lower(), str(r.status)))

    def check_response(self, spec, r, where):
        content = spec.get("content")
        if not content:
            self.assertEqual(r.body, b"", "%s: a body" % where)
        else:
            ctype = r.headers.get("Content-Type", "")
            media = ctype.split(";")[0].strip()
            self.assertIn(media, content,
                          "%s: Content-Type %r not documented"
                          % (where, ctype))
            if media == "application/json":
                value = json.loads(r.body.decode("utf-8"))
            elif content[media]["schema"].get("format") == "binary":
                value = None    # a file: its bytes are the test's to check
                self.assertGreater(len(r.body), 0, where)
            else:
                value = r.body.decode("utf-8")
            if value is not None:
                self.assertEqual(schema_errors(
                    self.doc, content[media]["schema"], value), [],
                    "%s: %r" % (where, r))
        for name, h in spec.get("headers", {}).items():
            h = deref(self.doc, h)
            value = r.headers.get(name)
            if h.get("required"):
                self.assertIsNotNone(value, "%s: no %s" % (where, name))
            if value is None:
                continue
            if h["schema"].get("type") == "integer":
                self.assertRegex(value, r"^[0-9]+$")
                value = int(value)
            self.assertEqual(schema_errors(self.doc, h["schema"], value),
                             [], "%s: header %s %r" % (where, name, value))

    def component(self, name, r, status, where):
        self.assertEqual(r.status, status, "%s: %r" % (where, r))
        self.check_response(self.doc["components"]["responses"][name], r,
                            where)

    # -- the probes --

    def setUp(self):
        super().setUp()
        self.seen = set()

    def test_contract(self):
        # a gateway that takes INVITEs and never answers: calls ring
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        m = self.start_maskd("contract", extra="[gateway]\naddress = "
                             "127.0.0.1:%d\n" % silent.getsockname()[1])
        pool = sorted(pool_numbers(3, "1908"))
        self.probe_numbers(m, pool)
        self.probe_sessions(m, pool)
        self.probe_session(m)
        self.probe_calls(m)
        self.probe_events(m)
        self.probe_recording(m)
        self.probe_sip_workers(m)
        self.probe_operations(m)
        self.probe_not_allowed(m)
        self.probe_outside_operations(m)
        self.stop_clean(m)

        limited = self.start_maskd(
            "limited", api_extra="rate_limit = 1\nrate_burst = 1\n")
        self.probe_rate_limit(limited)
        self.stop_clean(limited)

        full = self.start_maskd("full", map_size="1M")
        self.probe_store_full(full)
        self.stop_clean(full)

        self.check_coverage()

    def probe_numbers(self, m, pool):
        P, PN = "/v1/numbers", "/v1/numbers/{number}"
        for n in pool[:2]:
            self.check(P, "POST", m.request("POST", P, {"number": n,
                                                        "country": "US"}),
                       201)
        self.check(P, "POST", m.request("POST", P, {"number": pool[2]}), 201)
        self.check(P, "POST", m.request("POST", P, {"number": pool[0]}), 409)
        self.check(P, "POST", m.request("POST", P, {"number": "555"}), 400)
        self.check(P, "POST", m.request("POST", P, {"number": pool[0]},
                                        token=None), 401)
        self.check(P, "POST", m.request("POST", P, raw=b" " * 70000 + b"{}"),
                   413)
        self.check(P, "GET", m.request("GET", P), 200)
        self.check(P, "GET", m.request("GET", P + "?country=US"), 200)
        for qs in ("?country=us", "?colour=blue"):
            self.check(P, "GET", m.request("GET", P + qs), 400)
        self.check(P, "GET", m.request("GET", P, token=None), 401)

        spare = phone("1909")
        self.check(P, "POST", m.request("POST", P, {"number": spare}), 201)
        self.check(PN, "GET", m.request("GET", "/v1/numbers/" + q(pool[0])),
                   200)
        self.check(PN, "GET", m.request("GET", "/v1/numbers/" + pool[2]),
                   200)
        for path in ("/v1/numbers/" + q(phone("1910")), "/v1/numbers/abc"):
            self.check(PN, "GET", m.request("GET", path), 404)
            self.check(PN, "DELETE", m.request("DELETE", path), 404)
        self.check(PN, "GET", m.request("GET", "/v1/numbers/" + q(pool[0]),
                                        token=None), 401)
        self.check(PN, "DELETE", m.request(
            "DELETE", "/v1/numbers/" + q(spare), token=None), 401)
        self.check(PN, "DELETE", m.request("DELETE",
                                           "/v1/numbers/" + q(spare)), 204)

    def probe_sessions(self, m, pool):
        P = "/v1/sessions"
        a, b = phone(), phone()
        full = {"party_a": a, "party_b": b, "virtual_number": pool[0],
                "ttl": 600, "call_time_limit": 60, "record": True,
                "callback_url": "https://example.com/hook",
                "metadata": {"k": [1, {"x": None}]}}
        r = m.request("POST", P, full)
        self.check(P, "POST", r, 201)
        self.assertEqual(r.headers["Location"], P + "/" + r.json["id"])
        self.check(P, "POST", m.create(phone(), phone(), ttl=None,
                                       metadata=None), 201)
        # vn_conflict: pool[0] is in a's session already
        r = m.create(a, phone(), virtual_number=pool[0])
        self.check(P, "POST", r, 409)
        self.assertEqual(r.code, "vn_conflict")
        # pool_exhausted: a is on every pool number
        for n in pool[1:]:
            self.check(P, "POST", m.create(a, phone(), virtual_number=n),
                       201)
        r = m.create(a, phone())
        self.check(P, "POST", r, 409)
        self.assertEqual(r.code, "pool_exhausted")
        # geo-match: a local (US) number, and none local to a GB party
        r = m.create(phone("1908"), phone("44207"), geo_match="area",
                     geo_party="a", geo_fallback=True)
        self.check(P, "POST", r, 201)
        self.assertIs(r.json["geo_matched"], True)
        r = m.create(phone(), phone("44207"), geo_match="country",
                     geo_party="b", geo_fallback=False)
        self.check(P, "POST", r, 409)
        self.assertEqual(r.code, "no_geo_match")
        self.check(P, "POST", m.create(phone(), phone(), geo_match="city"),
                   400)
        # PINs: explicit, generated, and a clash on the same number
        pins = {"pin_required": True, "pin_a": "123456", "pin_b": "6543210",
                "pin_retries": 3}
        r = m.create(phone(), phone(), virtual_number=pool[1], **pins)
        self.check(P, "POST", r, 201)
        self.check(P, "POST", m.create(phone(), phone(), pin_required=True,
                                       generate_pin=True, pin_length=15),
                   201)
        r = m.create(phone(), phone(), virtual_number=pool[1], **pins)
        self.check(P, "POST", r, 409)
        self.assertEqual(r.code, "pin_conflict")
        for bad in ({"pin_a": "12a4", "pin_b": "5678"}, {"pin_a": "1234"},
                    {"pin_required": True},
                    {"generate_pin": True, "pin_length": 3},
                    {"pin_retries": 6}):
            self.check(P, "POST", m.create(phone(), phone(), **bad), 400)

        for body in ({"party_a": a}, {"party_a": a, "party_b": a},
                     {"party_a": a, "party_b": b, "colour": 1}):
            self.check(P, "POST", m.request("POST", P, body), 400)
        for raw in (b"", b"{", b"[]",
                    # a field name cut inside a character in the message
                    json.dumps({"a" + "\u00fc" * 40: 1},
                               ensure_ascii=False).encode()):
            self.check(P, "POST", m.request("POST", P, raw=raw), 400)
        self.check(P, "POST", m.request("POST", P, full, token=None), 401)
        self.check(P, "POST", m.request(
            "POST", P, {"party_a": a, "party_b": b,
                        "metadata": {"p": "x" * 70000}}), 413)

        for qs in ("", "?limit=2", "?party=" + q(a), "?party=" + a,
                   "?virtual_number=%s&status=active" % q(pool[0]),
                   "?status=closed", "?cursor=" + "0" * 32):
            self.check(P, "GET", m.request("GET", P + qs), 200)
        r = m.request("GET", P + "?limit=1")
        self.assertIsNotNone(r.json["next_cursor"])
        self.check(P, "GET", m.request(
            "GET", P + "?limit=1&cursor=" + r.json["next_cursor"]), 200)
        for qs in ("?limit=0", "?status=done", "?colour=blue",
                   "?party=123", "?cursor=xyz", "?limit=1&limit=2",
                   "?%FF=1"):
            self.check(P, "GET", m.request("GET", P + qs), 400)
        self.check(P, "GET", m.request("GET", P, token=None), 401)

    def probe_session(self, m):
        P, PC = "/v1/sessions/{id}", "/v1/sessions/{id}/calls"
        m.add_numbers(pool_numbers(2, "1911"))
        s = m.create(phone(), phone()).json
        path = "/v1/sessions/" + s["id"]
        unknown = ("/v1/sessions/" + "0" * 32, "/v1/sessions/xyz")

        self.check(P, "GET", m.request("GET", path), 200)
        self.check(P, "GET", m.request("GET", path, token=None), 401)
        self.check(PC, "GET", m.request("GET", path + "/calls"), 200)
        self.check(PC, "GET", m.request("GET", path + "/calls", token=None),
                   401)
        for u in unknown:
            self.check(P, "GET", m.request("GET", u), 404)
            self.check(PC, "GET", m.request("GET", u + "/calls"), 404)
            self.check(P, "PATCH", m.request("PATCH", u, {"ttl": 5}), 404)
            self.check(P, "DELETE", m.request("DELETE", u), 404)

        later = time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                              time.gmtime(time.time() + 3600))
        for body in ({"ttl": 60}, {"expires_at": later, "ttl": None},
                     {"call_time_limit": 30, "record": False},
                     {"callback_url": "http://example.com/x"},
                     {"callback_url": None},
                     {"pin_a": "4444", "pin_b": "5555", "pin_required": True},
                     {"generate_pin": True, "pin_length": 6},
                     {"pin_required": False, "pin_retries": 0}):
            self.check(P, "PATCH", m.request("PATCH", path, body), 200)
        # pin_conflict: another session on the same number takes our PIN
        mine = m.request("PATCH", path, {"pin_a": "4444", "pin_b": "5555",
                                         "pin_required": True}).json
        other = m.create(phone(), phone(),
                         virtual_number=mine["virtual_number"]).json
        r = m.request("PATCH", "/v1/sessions/" + other["id"],
                      {"pin_a": "5555", "pin_b": "6666",
                       "pin_required": True})
        self.check(P, "PATCH", r, 409)
        self.assertEqual(r.code, "pin_conflict")
        for body in ({}, {"ttl": 0}, {"ttl": 5, "expires_at":
                                      "2099-01-01T00:00:00Z"},
                     {"expires_at": "2000-01-01T00:00:00Z"},
                     {"status": "closed"}, {"pin_a": "1"},
                     {"pin_length": 5}):
            self.check(P, "PATCH", m.request("PATCH", path, body), 400)
        self.check(P, "PATCH", m.request("PATCH", path, raw=b"{"), 400)
        self.check(P, "PATCH", m.request("PATCH", path, raw=b" " * 70000
                                         + b"{}"), 413)
        self.check(P, "PATCH", m.request("PATCH", path, {"ttl": 5},
                                         token=None), 401)
        self.check(P, "DELETE", m.request("DELETE", path, token=None), 401)

        # in use: the number cannot go
        vn = s["virtual_number"]
        self.check("/v1/numbers/{number}", "DELETE",
                   m.request("DELETE", "/v1/numbers/" + q(vn)), 409)
        self.check(P, "DELETE", m.request("DELETE", path), 200)
        self.check(P, "DELETE", m.request("DELETE", path), 409)
        self.check(P, "PATCH", m.request("PATCH", path, {"ttl": 5}), 409)
        self.check(P, "GET", m.request("GET", path), 200)

    def probe_calls(self, m):
        """Request-a-call and /v1/calls against a gateway that never
        answers: the call rings until it is hung up. What needs parties
        that answer (participants joining) is TestApiCalls'."""
        PC, C = "/v1/sessions/{id}/calls", "/v1/calls/{id}"
        PP, PL = ("/v1/calls/{id}/participants",
                  "/v1/calls/{id}/participants/{leg_id}")
        m.add_numbers(pool_numbers(2, "1915"))
        s = m.create(phone(), phone()).json
        sp = "/v1/sessions/%s/calls" % s["id"]
        r = m.request("POST", sp, {"first": "b", "ring_timeout": 60})
        self.check(PC, "POST", r, 201)
        call = r.json
        cp = "/v1/calls/" + call["id"]
        r = m.request("POST", sp, {})
        self.check(PC, "POST", r, 409)
        self.assertEqual(r.code, "call_in_progress")
        for body in ({"first": "x"}, {"ring_timeout": 0}, {"nope": 1}):
            self.check(PC, "POST", m.request("POST", sp, body), 400)
        self.check(PC, "POST", m.request("POST", sp, raw=b" " * 70000
                                         + b"{}"), 413)
        self.check(PC, "POST", m.request("POST", sp, {}, token=None), 401)
        for u in ("0" * 32, "xyz"):
            self.check(PC, "POST", m.request(
                "POST", "/v1/sessions/%s/calls" % u, {}), 404)

        self.check(C, "GET", m.request("GET", cp), 200)
        self.check(C, "GET", m.request("GET", cp, token=None), 401)
        r = m.request("POST", cp + "/participants", {"number": phone()})
        self.check(PP, "POST", r, 409)
        self.assertEqual(r.code, "call_not_connected")
        for body in ({}, {"number": "12"}):
            self.check(PP, "POST", m.request("POST", cp + "/participants",
                                             body), 400)
        self.check(PP, "POST", m.request(
            "POST", cp + "/participants", raw=b" " * 70000 + b"{}"), 413)
        self.check(PP, "POST", m.request("POST", cp + "/participants",
                                         {"number": phone()}, token=None),
                   401)
        self.check(PL, "DELETE", m.request(
            "DELETE", cp + "/participants/0"), 400)
        self.check(PL, "DELETE", m.request(
            "DELETE", cp + "/participants/2"), 404)
        self.check(PL, "DELETE", m.request(
            "DELETE", cp + "/participants/2", token=None), 401)
        for u in ("0" * 32, "xyz"):
            up = "/v1/calls/" + u
            self.check(C, "GET", m.request("GET", up), 404)
            self.check(C, "DELETE", m.request("DELETE", up), 404)
            self.check(PP, "POST", m.request("POST", up + "/participants",
                                             {"number": phone()}), 404)
        self.check(C, "DELETE", m.request("DELETE", cp, token=None), 401)
        self.check(C, "DELETE", m.request("DELETE", cp), 200)
        # the record is written shortly after: then GET shows it and
        # DELETE is 409
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = m.request("DELETE", cp)
            if r.status == 409:
                break
            time.sleep(0.1)
        self.check(C, "DELETE", r, 409)
        r = m.request("GET", cp)
        self.check(C, "GET", r, 200)
        self.assertEqual(r.json["status"], "failed")
        # an ended session takes no call
        m.request("DELETE", "/v1/sessions/" + s["id"])
        r = m.request("POST", sp, {})
        self.check(PC, "POST", r, 409)
        self.assertEqual(r.code, "session_inactive")

    def probe_events(self, m):
        P, PR, PW = ("/v1/events", "/v1/events/{id}/redeliver",
                     "/v1/webhooks")
        # the sessions above wrote events for their callback_urls
        r = m.request("GET", P)
        self.check(P, "GET", r, 200)
        self.assertTrue(r.json["events"], "no event was written")
        eid = r.json["events"][0]["id"]
        self.check(P, "GET", m.request("GET", P + "?status=pending&limit=1"),
                   200)
        for qs in ("?status=done", "?limit=0", "?cursor=xyz",
                   "?session_id=12", "?colour=blue"):
            self.check(P, "GET", m.request("GET", P + qs), 400)
        self.check(P, "GET", m.request("GET", P, token=None), 401)
        self.check(PR, "POST", m.request("POST", "/v1/events/%s/redeliver"
                                         % eid), 202)
        for bad in ("msg_" + "0" * 32, "xyz"):
            self.check(PR, "POST", m.request(
                "POST", "/v1/events/%s/redeliver" % bad), 404)
        self.check(PR, "POST", m.request("POST", "/v1/events/%s/redeliver"
                                         % eid, token=None), 401)
        self.check(PW, "GET", m.request("GET", PW), 200)
        self.check(PW, "GET", m.request("GET", PW, token=None), 401)
        self.check(PW, "PATCH", m.request("PATCH", PW, {
            "url": "http://192.0.2.1/never-used", "enabled": True}), 404)
        for body in ({}, {"url": "x", "enabled": False}, {"colour": 1}):
            self.check(PW, "PATCH", m.request("PATCH", PW, body), 400)
        self.check(PW, "PATCH", m.request("PATCH", PW, raw=b" " * 70000
                                          + b"{}"), 413)
        self.check(PW, "PATCH", m.request("PATCH", PW, {}, token=None), 401)
        # an endpoint delivery has seen can be (re-)enabled
        hooks = []
        for _ in range(100):
            hooks = m.request("GET", PW).json["webhooks"]
            if hooks:
                break
            time.sleep(0.1)
        self.assertTrue(hooks, "delivery never saw an endpoint")
        self.check(PW, "PATCH", m.request("PATCH", PW, {
            "url": hooks[0]["url"], "enabled": True}), 200)

    def probe_sip_workers(self, m):
        P, PW = "/v1/sip/workers", "/v1/sip/workers/{worker}"
        self.check(P, "GET", m.request("GET", P), 200)
        self.check(P, "GET", m.request("GET", P, token=None), 401)
        self.check(PW, "GET", m.request("GET", P + "/0"), 200)
        for path in (P + "/1", P + "/x"):
            self.check(PW, "GET", m.request("GET", path), 404)
            self.check(PW, "PATCH", m.request("PATCH", path,
                                              {"state": "draining"}), 404)
        self.check(PW, "GET", m.request("GET", P + "/0", token=None), 401)
        self.check(PW, "PATCH", m.request("PATCH", P + "/0", {
            "state": "draining"}, token=None), 401)
        for body in ({}, {"state": "off"}, {"state": "active", "x": 1}):
            self.check(PW, "PATCH", m.request("PATCH", P + "/0", body), 400)
        self.check(PW, "PATCH", m.request("PATCH", P + "/0", raw=b" " * 70000
                                          + b"{}"), 413)
        r = m.request("PATCH", P + "/0", {"state": "draining"})
        self.check(PW, "PATCH", r, 200)
        self.assertEqual(r.json["state"], "draining")
        r = m.request("PATCH", P + "/0", {"state": "active"})
        self.check(PW, "PATCH", r, 200)
        self.assertEqual(r.json["state"], "active")

    def probe_operations(self, m):
        for token in (None, "wrong-token-0000"):
            self.check("/healthz", "GET",
                       m.request("GET", "/healthz", token=token), 200)
            self.check("/metrics", "GET",
                       m.request("GET", "/metrics", token=token), 200)

    def probe_recording(self, m):
        """A call without a recording (unknown, malformed): 404; no
        token: 401. The rest needs a real call: TestCallRecords."""
        for cid in ("0" * 32, "nothex"):
            url = "/v1/calls/%s/recording" % cid
            self.check(REC, "GET", m.request("GET", url), 404)
            self.check(REC, "DELETE", m.request("DELETE", url), 404)
            self.check(REC, "GET", m.request("GET", url, token=None), 401)
            self.check(REC, "DELETE", m.request("DELETE", url, token=None),
                       401)

    def probe_not_allowed(self, m):
        """Each path: every method it does not document is 405, with
        Allow naming exactly those it does."""
        ids = {"{id}": "0" * 32, "{number}": q(phone("1912")),
               "{worker}": "0"}
        for path, item in self.doc["paths"].items():
            concrete = path
            for k, v in ids.items():
                concrete = concrete.replace(k, v)
            documented = {x.upper() for x in HTTP_METHODS if x in item}
            for method in PROBED_METHODS:
                if method in documented:
                    continue
                r = m.request(method, concrete, raw=b"{}")
                where = "%s %s" % (method, path)
                self.component("MethodNotAllowed", r, 405, where)
                allow = {x.strip() for x in r.headers["Allow"].split(",")}
                self.assertEqual(allow, documented, where)

    def probe_outside_operations(self, m):
        """The answers the document describes outside its operations."""
        for path in ("/", "/v1", "/v2/sessions", "/v1/sessions/",
                     "/v1/numbers/+1/x"):
            self.component("NotFound", m.request("GET", path), 404, path)
            self.component("Unauthorized",
                           m.request("GET", path, token=None), 401, path)
        # a request target that is not an absolute path
        with socket.create_connection(("127.0.0.1", m.port), 30) as s:
            s.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(x.split(": ", 1) for x in lines[1:])
        r = test_api.Resp(status, headers, body)
        self.component("BadRequest", r, 400, "OPTIONS *")
        self.assertEqual(r.code, "invalid_request")

    def probe_rate_limit(self, m):
        sid = "0" * 32
        concrete = {"{id}": sid, "{number}": q(phone("1913")),
                    "{worker}": "0"}
        for path, method, op in operations(self.doc):
            if "429" not in op["responses"]:
                self.assertEqual(op.get("security"), [], path)
                continue
            url = path
            for k, v in concrete.items():
                url = url.replace(k, v)
            body = {"ttl": 5} if method in ("post", "patch") else None
            for _ in range(10):
                r = m.request(method.upper(), url, body)
                if r.status == 429:
                    break
            self.check(path, method.upper(), r, 429)
        # the status line says what 429 is (it said "Unknown")
        conn = http.client.HTTPConnection("127.0.0.1", m.port, timeout=30)
        try:
            for _ in range(10):
                conn.request("GET", "/v1/numbers", headers={
                    "Authorization": "Bearer " + test_api.TOKEN})
                r = conn.getresponse()
                r.read()
                if r.status == 429:
                    break
            self.assertEqual((r.status, r.reason),
                             (429, "Too Many Requests"))
        finally:
            conn.close()

    def probe_store_full(self, m):
        m.add_numbers(pool_numbers(1, "1914"))
        pad = "x" * 15000
        sid = None
        for i in range(400):
            r = m.create(phone(), phone(), metadata={"pad": pad, "i": i})
            if r.status != 201:
                break
            sid = json.loads(r.body)["id"]
        self.check("/v1/sessions", "POST", r, 507)
        self.assertIsNotNone(sid)
        r = m.request("PATCH", "/v1/sessions/" + sid,
                      {"callback_url": "https://example.com/" + pad[:1000]})
        self.check("/v1/sessions/{id}", "PATCH", r, 507)
        r = m.request("POST", "/v1/numbers",
                      {"number": "+19145550199", "country": "US"})
        self.check("/v1/numbers", "POST", r, 507)

    def check_coverage(self):
        documented = set()
        for path, method, op in operations(self.doc):
            for status in op["responses"]:
                documented.add((path, method, status))
        missing = sorted(t for t in documented - self.seen
                         - PROVOKED_BY_CALLS
                         if t[2] not in NOT_PROVOKED_WHY)
        self.assertEqual(missing, [], "documented but never provoked")
        # what is said to be unprovokable must not be provoked silently
        provoked_anyway = sorted(t for t in self.seen
                                 if t[2] in NOT_PROVOKED_WHY and
                                 t not in PROVOKED_507)
        self.assertEqual(provoked_anyway, [])
        self.assertEqual(PROVOKED_507 - self.seen, set())


class TestCallRecords(test_sip.SipBase):
    """The call records of real calls (SIPp through maskd, test_sip.py's
    harness) as GET /v1/sessions/{id}/calls documents them: one answered
    call and one refused by the callee."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.doc = load_doc()

    def check_calls(self, sid, want):
        calls = self.wait_cdrs(sid, want)
        self.assertIsNotNone(calls)
        st, js, raw = self.maskd.request("GET",
                                         "/v1/sessions/%s/calls" % sid)
        self.assertEqual(st, 200, raw)
        op = self.doc["paths"]["/v1/sessions/{id}/calls"]["get"]
        schema = op["responses"]["200"]["content"]["application/json"][
            "schema"]
        self.assertEqual(schema_errors(self.doc, schema, js), [], js)
        return js["calls"]

    def test_recording(self):
        """A recorded call (no RTP: a file of silence as long as the
        answered time): the answers only a real recording gives."""
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml",
                                   record=True)
        deadline = time.monotonic() + 30
        while True:
            c = self.check_calls(s["id"], 1)[-1]
            if c["recording"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertIsNotNone(c["recording"], c)
        url = c["recording"]["url"]
        seen = set()

        def get(method, headers=None):
            conn = http.client.HTTPConnection("127.0.0.1",
                                              self.maskd.api_port,
                                              timeout=30)
            h = {"Authorization": "Bearer " + test_sip.TOKEN}
            h.update(headers or {})
            try:
                conn.request(method, url, headers=h)
                r = conn.getresponse()
                return test_api.Resp(r.status, r.headers, r.read())
            finally:
                conn.close()

        def check(method, r, status):
            where = "%s %s -> %d" % (method, REC, r.status)
            self.assertEqual(r.status, status, "%s: %r" % (where, r))
            spec = self.doc["paths"][REC][method.lower()]["responses"][
                str(status)]
            TestContract.check_response(self, deref(self.doc, spec), r,
                                        where)
            seen.add((REC, method.lower(), str(status)))

        r = get("GET")
        check("GET", r, 200)
        self.assertEqual(len(r.body), c["recording"]["bytes"])
        self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                         c["recording"]["sha256"])
        check("GET", get("GET", {"Range": "bytes=0-43"}), 206)
        check("GET", get("GET", {"Range": "bytes=%d-" % len(r.body)}), 416)
        check("DELETE", get("DELETE"), 204)
        self.assertEqual(seen, PROVOKED_BY_RECORDING)

    def test_answered_and_refused_calls(self):
        s, ua, gw = self.call_pair("basic_uac.xml", "basic_uas.xml")
        c = self.check_calls(s["id"], 1)[-1]
        self.assertIsNotNone(c["answered_at"])
        self.assertEqual(c["hangup_by"], "caller")

        s, ua, gw = self.call_pair("reject_uac.xml", "reject_uas.xml",
                                   uas_keys={"code": "486"},
                                   uac_keys={"code": "486"})
        c = self.check_calls(s["id"], 1)[-1]
        self.assertIsNone(c["answered_at"])
        self.assertIsNone(c["hangup_by"])
        self.assertEqual(c["duration"], 0)


class TestApiCalls(test_rac.RacBase):
    """A participant joining and leaving a request-a-call whose parties
    answer (Python SIP parties behind the gateway): the answers of
    PROVOKED_BY_PARTIES, checked against the document."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.doc = load_doc()

    def check_doc(self, path, method, status, st, js):
        self.assertEqual(st, status, js)
        spec = deref(self.doc, self.doc["paths"][path][method]["responses"]
                     [str(status)])
        schema = spec["content"]["application/json"]["schema"]
        self.assertEqual(schema_errors(self.doc, schema, js), [], js)

    def test_participant_joins_and_leaves(self):
        s, a, b = self.pair()
        call = self.post_call(s["id"], {})
        self.wait_for(lambda: b.saw("ack"), "B's ACK")
        c = self.party("+1404555", sip_peers.PARTY_IPS[2])
        st, js, raw = self.maskd.request(
            "POST", "/v1/calls/%s/participants" % call["id"],
            {"number": c.number})
        self.check_doc("/v1/calls/{id}/participants", "post", 201, st, js)
        self.wait_for(lambda: c.saw("ack"), "C's ACK")
        st, js, raw = self.maskd.request(
            "DELETE", "/v1/calls/%s/participants/%d"
            % (call["id"], js["participant"]))
        self.check_doc("/v1/calls/{id}/participants/{leg_id}", "delete",
                       200, st, js)
        self.wait_for(lambda: c.saw("bye"), "BYE at C")
        self.maskd.request("DELETE", "/v1/calls/%s" % call["id"])
        self.cdr(s["id"])
        self.check_clean()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--maskd", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--oas-schema")
    ARGS, rest = p.parse_known_args()
    ARGS.maskd = os.path.abspath(ARGS.maskd)
    ARGS.source_dir = os.path.abspath(ARGS.source_dir)
    test_api.ARGS = ARGS
    test_sip.ARGS = ARGS
    test_media.ARGS = ARGS
    test_rac.ARGS = ARGS
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
