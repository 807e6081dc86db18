#!/usr/bin/env bash
# bench_api.sh [SECONDS] [CONNECTIONS] - session creates per second over
# real HTTP, with durable (fsync'ed, group-committed) LMDB commits.
#
# Starts maskd from build/ on a free loopback port with a throw-away store
# and a pool of 1000 numbers, then drives POST /v1/sessions with wrk
# (2 threads, CONNECTIONS connections, default 64) for SECONDS (default 10).
# Prints creates/s, latency, and the writer's commits (ops per fsync).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
scripts/deps.sh --bench
[ -x build/maskd ] || scripts/build.sh build

tmp=$(mktemp -d /tmp/maskd-bench-XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
sip_port=$(free_port)
token=bench-token-000001
cat > "$tmp/maskd.conf" <<CONF
[sip]
listen = 127.0.0.1:$sip_port
[trunk.bench]
sources = 127.0.0.0/8
[store]
path = $tmp/db
map_size = 8G
[api]
listen = 127.0.0.1:$port
tokens = $token
[log]
level = warn
file = $tmp/maskd.log
CONF
build/maskd -c "$tmp/maskd.conf" &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 100); do
	curl -sf "$url/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
python3 - "$url" "$token" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
for i in range(1000):
    req = urllib.request.Request(url + "/v1/numbers", method="POST",
        data=json.dumps({"number": "+1555%07d" % i, "country": "US"}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
echo "maskd pid $pid, $conns connections, ${secs}s, durable commits"
MASKD_TOKEN=$token wrk -t2 -c"$conns" -d"${secs}s" -s bench/creates.lua "$url" | tail -1
curl -s "$url/metrics" | grep -E '^maskd_(sessions_active|store_commits_total|session_creates_total)' || true
