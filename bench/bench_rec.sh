#!/usr/bin/env bash
# bench_rec.sh [CALLS] [SECONDS] [WORKERS] - what recording costs the
# relay: bench_rtp's maskd target (plain relay) against maskd-rec (every
# call recorded: taps, rings, the recorder thread, WAV files), same load.
# Prints CPU per 10,000 packets/s for both (and the recorder thread's
# share), the recorder's queue drops and late packets, and the disk bytes
# per call-minute. Default: 500 calls (50,000 packets/s), 10 s, 1 worker.
# Files go to $BENCH_REC_DIR (default /tmp/maskd-bench-rec) and are
# removed afterwards. Never run by ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-500}
secs=${2:-10}
workers=${3:-1}
bin=${BENCH_BIN:-build/bench/bench_rtp}
[ -x "$bin" ] || scripts/build.sh build
exec "$bin" -k "$calls" -s "$secs" -w "$workers" -t maskd,maskd-rec
