#!/usr/bin/env bash
# gen-conf.sh [BUILD_DIR] - regenerate conf/maskd.conf from the config table
# (src/app/config_table.c) with maskd --config-template. Builds maskd into
# BUILD_DIR (default build/) first. ctest's test_conf_template fails until
# the shipped file is regenerated after a row changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
scripts/build.sh "$dir"
"$dir/maskd" --config-template > conf/maskd.conf.tmp
mv conf/maskd.conf.tmp conf/maskd.conf
echo "conf/maskd.conf regenerated"
