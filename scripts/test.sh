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
#        - test_torture: malformed input, where memory errors hide;
#        - test_sip_tls (SIP over TLS, with tests/sip/lsan_sofia_tls.supp)
#          and test_sip_flood (flood control): short, and their C paths
#          (sip_tls.c, sip_guard.c) are run by nothing else.
#      Not under ASan: test_soak, thousands of the one basic call that
#      test_sip, test_flows and test_media run under ASan already; its
#      RSS check is skipped under ASan, and an ASan maskd at its call rate
#      would take a core for minutes. It runs in the normal build.
#   3. libFuzzer build (clang): each of the five harnesses for
#      MASKD_FUZZ_SECONDS (default 60) from its seed corpus, two at a
#      time (one a core: about 3 minutes). The run fits in 25 minutes
#      with 60 s; MASKD_FUZZ_SECONDS=30 would save another 1.5 minutes.
#
# --quick (development, a few minutes): the normal build, then the tests
# labelled `quick`: unit tests, the config checker and test_sip.
#
# MASKD_TEST_JOBS sets ctest -j (default 4: the SIP suites mostly wait on
# timers, so more suites than cores keeps both cores busy; ctest starts
# the costliest first, see COST in tests/CMakeLists.txt). The table at
# the end gives each test's own time and each build's "(tests, wall)":
# the tests ran at once, so that, not their sum, is what they cost.
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
	local dir=$1 t0=$SECONDS res=ok
	shift
	rm -f "$dir/ctest-junit.xml"
	if ! (cd "$dir" && ctest --output-on-failure \
		--output-junit ctest-junit.xml "$@"); then
		failed=1
		res=FAILED
	fi
	echo "$dir|$((SECONDS - t0))|$res" >>"$times/suites"
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
walls = {l.split("|")[0]: l.split("|")[1:] for l in lines("suites")}
for b in builds:
    rows.append(b)
    report = os.path.join(b[0], "ctest-junit.xml")
    if b[0] not in walls or not os.path.exists(report):
        continue
    for tc in ET.parse(report).getroot().iter("testcase"):
        st = tc.get("status", "")
        res = {"run": "ok", "fail": "FAILED", "notrun": "not run",
               "disabled": "disabled"}.get(st, st)
        rows.append([b[0], tc.get("name"), "%.0f" % float(tc.get("time", 0)),
                     res])
    # the suites ran at once: what the build's tests took, start to end
    rows.append([b[0], "(tests, wall)"] + walls[b[0]])
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
