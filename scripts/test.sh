#!/usr/bin/env bash
# test.sh [--quick] - install what is missing, build, run the tests, and
# print a table of each step's time (build, suite, seconds, result).
#
# Full (the README's test command; .ci/run runs it):
#   1. normal build: every ctest test, several at a time (ctest -j: every
#      suite picks free ports at run time, so any two may run at once).
#   2. ASan+UBSan build (any sanitizer report fails the run): the tests
#      labelled `asan` (tests/CMakeLists.txt), i.e.
#        - every C unit test and the config checker;
#        - test_api: the HTTP, JSON and store paths of every route;
#        - test_sip, test_flows, test_auth, test_prack: every call flow
#          the B2BUA has (basic, CANCEL, rejects, ring/call limits,
#          session timers, UPDATE/INFO/re-INVITE both ways, retransmits,
#          digest auth, 100rel), each a distinct C path through sip_*.c;
#        - test_media: the relay and SDP rewriting on real RTP/RTCP;
#        - test_torture: malformed input, where memory errors hide.
#      Not under ASan: test_soak (thousands of the one basic call that
#      test_sip already runs under ASan; its RSS check is skipped there
#      anyway), test_sip_flood (the token bucket is unit-tested under
#      ASan; the suite's value is its timing) and test_sip_tls (Kamailio
#      in front; sofia-sip's TLS leaks need suppressions there). They all
#      run in the normal build.
#   3. libFuzzer build (clang): each harness for MASKD_FUZZ_SECONDS
#      (default 60) from its seed corpus, two at a time.
#
# --quick (development, a few minutes): the normal build, then the tests
# labelled `quick`: unit tests, the config checker and test_sip.
#
# MASKD_TEST_JOBS sets ctest -j (default 4: the SIP suites mostly wait on
# timers, so more suites than cores keeps both cores busy).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
--quick) quick=1 ;;
"") ;;
*) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

scripts/deps.sh || exit 1

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
jobs=${MASKD_TEST_JOBS:-4}
t_start=$SECONDS
times=$(mktemp -d)
trap 'rm -rf "$times"' EXIT
failed=0

# build DIR [cmake options...]: a timed build; a failed build ends the run
build() {
	local dir=$1 t0=$SECONDS
	if ! scripts/build.sh "$@"; then
		echo "$dir|(build)|$((SECONDS - t0))|FAILED" >>"$times/builds"
		table
		exit 1
	fi
	echo "$dir|(build)|$((SECONDS - t0))|ok" >>"$times/builds"
}

# suites DIR [ctest options...]: ctest in DIR; each test's time and result
# from its JUnit report
suites() {
	local dir=$1
	shift
	rm -f "$dir/ctest-junit.xml"
	(cd "$dir" && ctest --output-on-failure --output-junit ctest-junit.xml \
		"$@") || failed=1
	echo "$dir" >>"$times/suites"
}

table() {
	python3 - "$times" "$((SECONDS - t_start))" <<'EOF'
import os, sys, xml.etree.ElementTree as ET
d, total = sys.argv[1], int(sys.argv[2])
rows = []
def lines(name):
    p = os.path.join(d, name)
    return open(p).read().split() if os.path.exists(p) else []
builds = [l.split("|") for l in lines("builds")]
for b in builds:
    rows.append(b)
    report = os.path.join(b[0], "ctest-junit.xml")
    if b[0] not in lines("suites") or not os.path.exists(report):
        continue
    for tc in ET.parse(report).getroot().iter("testcase"):
        st = tc.get("status", "")
        res = {"run": "ok", "fail": "FAILED", "notrun": "not run",
               "disabled": "disabled"}.get(st, st)
        rows.append([b[0], tc.get("name"), "%.0f" % float(tc.get("time", 0)),
                     res])
w = max([len(r[1]) for r in rows] + [5])
print("\n%-10s  %-*s  %7s  %s" % ("build", w, "suite", "seconds", "result"))
for r in rows:
    print("%-10s  %-*s  %7s  %s" % (r[0], w, r[1], r[2], r[3]))
print("%-10s  %-*s  %7d" % ("total", w, "", total))
EOF
}

build build
if [ $quick -eq 1 ]; then
	suites build -L quick -j"$jobs" --timeout 900
else
	suites build -j"$jobs" --timeout 900

	build build-asan -DMASKD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	suites build-asan -L asan -j"$jobs" --timeout 1800

	CC=clang build build-fuzz -DMASKD_FUZZ=ON \
		-DMASKD_FUZZ_SECONDS="${MASKD_FUZZ_SECONDS:-60}"
	suites build-fuzz -j2
fi
table
if [ $failed -ne 0 ]; then
	echo "FAILED (see the output above)" >&2
	exit 1
fi
