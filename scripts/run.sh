#!/usr/bin/env bash
# run.sh [CONFIG] - install what is missing, build, and run maskd in the
# foreground on loopback with conf/maskd.conf (LMDB under var/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
mkdir -p var
exec build/maskd -c "${1:-conf/maskd.conf}"
