#!/usr/bin/env bash
# test.sh - install what is missing, then build and run every test twice:
# a normal build, and an AddressSanitizer + UndefinedBehaviorSanitizer
# build (any sanitizer report fails the run); then each libFuzzer harness
# for MASKD_FUZZ_SECONDS (default 60) from its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

scripts/build.sh build
(cd build && ctest --output-on-failure --timeout 900)

scripts/build.sh build-asan -DMASKD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ctest --output-on-failure --timeout 1800)

CC=clang scripts/build.sh build-fuzz -DMASKD_FUZZ=ON \
	-DMASKD_FUZZ_SECONDS="${MASKD_FUZZ_SECONDS:-60}"
(cd build-fuzz && ctest --output-on-failure)
