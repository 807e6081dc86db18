#!/usr/bin/env bash
# bench_overload.sh [bench_sip.sh options] - overload without collapse
# (issue 14): bench_sip.sh's ramp through maskd finds its highest clean
# rate (< 0.1% failed calls), then offers twice that for 30 s with a
# caller that takes maskd's 503 as an answer (bench/sipp/uac_overload.xml)
# and reports: completed calls/s against the clean maximum, 503s, failed
# calls, INVITE -> final response times (SIPp -trace_rtt: how many later
# than 1 s, how many never), retransmitted INVITEs (SIPp -trace_counts)
# and maskd's own counters.
#
# Defaults: --rates "200 400 600 800 1000 1200 1600 2000" --step 10
# --overload 2 --overload-s 30; any bench_sip.sh option overrides them
# (e.g. --overload-lag 40, --rates "300 600 900"). Never run by ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bench/bench_sip.sh --maskd-only \
	--rates "200 400 600 800 1000 1200 1600 2000" --step 10 \
	--overload 2 --overload-s 30 "$@"
