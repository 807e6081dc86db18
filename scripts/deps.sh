#!/usr/bin/env bash
# deps.sh - install the Debian packages maskd builds, runs and tests with.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

PKGS=(
	build-essential cmake pkg-config python3
	libsofia-sip-ua-dev libevent-dev liblmdb-dev libssl-dev
	libjansson-dev libcurl4-openssl-dev libinih-dev libcmocka-dev
	sip-tester clang libclang-rt-dev openssl
	kamailio kamailio-tls-modules
	shellcheck groff-base
	python3-yaml python3-jsonschema
	libsndfile1-dev espeak-ng sox
	libspandsp-dev
	libpq-dev postgresql-15
)
if [ "${1:-}" = "--bench" ]; then
	PKGS+=(wrk curl)
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null

# The cluster tests start their own PostgreSQL in a temporary directory
# (tests/cluster/pg.py); maskd itself needs none unless [cluster] store
# is set. The package's stock cluster is not wanted running.
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

# The SIP over TLS test runs its own Kamailio in the foreground; on a
# systemd host the package would also start its stock service.
if [[ " ${missing[*]} " == *" kamailio "* ]] && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true
fi
