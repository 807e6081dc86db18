#!/usr/bin/env bash
# cluster-up.sh - a whole maskd cluster on loopback: PostgreSQL, N maskd
# nodes in cluster mode, the Kamailio front (conf/kamailio-front.cfg).
#
#   scripts/cluster-up.sh up [--nodes N] [--dir DIR] [--port P]
#                            [--gateway HOST:PORT] [--numbers K]
#       start everything in the background (DIR: var/cluster); with
#       $MASKD_CLUSTER_DSN set, that PostgreSQL is used instead of one
#       started here. Carriers send to the front, 127.0.0.1:P (15060);
#       node i listens on 127.0.0.1:P+i for SIP and 127.0.0.1:18080+i for
#       its API; every node calls out through --gateway (127.0.0.1:5080).
#       K numbers (+15550000000...) are put in the pool (default 10).
#
#   scripts/cluster-up.sh down [--dir DIR]
#       stop what `up` started there (SIGTERM; PostgreSQL last).
#
# Builds maskd first when build/maskd is missing (scripts/build.sh build).
# The PostgreSQL started here is initdb'd into DIR/pg, as the `postgres`
# user when run as root (PostgreSQL refuses root), listening on
# 127.0.0.1:P+372 and a socket in DIR/pg only; its password is random and
# kept in DIR/dsn (mode 600), which the nodes read ([cluster] store_file):
# no node config holds it. As tests/cluster/pg.py does it for the tests.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
dir=var/cluster
nodes=2
port=15060
gateway=127.0.0.1:5080
numbers=10

usage() {
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

sub=${1:-}
[ -n "$sub" ] || usage
shift
while [ $# -gt 0 ]; do
	case $1 in
	--nodes) nodes=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--gateway) gateway=$2; shift 2 ;;
	--numbers) numbers=$2; shift 2 ;;
	*) usage ;;
	esac
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
	local b
	b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$b" ] || { echo "cluster-up: PostgreSQL is not installed" \
		"(scripts/deps.sh)" >&2; exit 1; }
	echo "$b"
}

# stop the process whose pid is in $1, waiting up to 30 s
stop_pid() {
	local f=$1 pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -TERM "$pid" 2>/dev/null; then
		for i in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$f"
}

wait_http() {
	local url=$1 i
	for i in $(seq 300); do
		curl -sf "$url" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "cluster-up: $url never answered" >&2
	return 1
}

pg_up() {
	local bin pgport pw
	bin=$(pg_bin)
	pgport=$((port + 372))
	if [ ! -d "$dir/pg/data" ]; then
		pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
		mkdir -p "$dir/pg"
		chmod 700 "$dir/pg"
		printf '%s\n' "$pw" > "$dir/pg/pw"
		[ "$(id -u)" != 0 ] || chown -R postgres: "$dir/pg"
		as_pg "$bin/initdb" -D "$dir/pg/data" -U maskd \
			--pwfile "$dir/pg/pw" --auth-local=trust \
			--auth-host=scram-sha-256 -E UTF8 --locale=C \
			--no-instructions >/dev/null
		rm -f "$dir/pg/pw"
		cat >> "$dir/pg/data/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		port = $pgport
		unix_socket_directories = '$dir/pg'
		max_connections = 200
		EOF
		(umask 077; printf 'postgresql://maskd:%s@127.0.0.1:%d/maskd\n' \
			"$pw" "$pgport" > "$dir/dsn")
		as_pg "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w start \
			>/dev/null
		as_pg "$bin/psql" -X -q -h "$dir/pg" -p "$pgport" -U maskd \
			-d postgres -c "CREATE DATABASE maskd" >/dev/null
	else
		as_pg "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w start \
			>/dev/null
	fi
}

psql_maskd() {
	if [ -d "$dir/pg/data" ]; then
		as_pg "$(pg_bin)/psql" -X -q -At -h "$dir/pg" -p $((port + 372)) \
			-U maskd -d maskd -c "$1"
	else
		psql -X -q -At -d "$(cat "$dir/dsn")" -c "$1"
	fi
}

node_conf() {
	local i=$1 n=$dir/n$1
	mkdir -p "$n"
	cat > "$n/maskd.conf" <<-EOF
	; written by scripts/cluster-up.sh
	[sip]
	listen = 127.0.0.1:$((port + i))
	[trunk.front]
	sources = 127.0.0.1/32
	[gateway]
	address = $gateway
	[store]
	path = $n/db
	[api]
	listen = 127.0.0.1:$((18080 + i))
	tokens = $(cat "$dir/token")
	[rtp]
	port_min = $((30000 + (i - 1) * 1000))
	port_max = $((30000 + i * 1000 - 1))
	[cluster]
	store_file = $dir/dsn
	[log]
	file = $n/maskd.log
	EOF
}

cmd_up() {
	local i list=() vn
	[ -x build/maskd ] || scripts/build.sh build
	if [ -n "${MASKD_CLUSTER_DSN:-}" ]; then
		(umask 077; printf '%s\n' "$MASKD_CLUSTER_DSN" > "$dir/dsn")
	else
		pg_up
	fi
	[ -f "$dir/token" ] ||
		(umask 077; head -c 24 /dev/urandom | od -An -tx1 |
			tr -d ' \n' > "$dir/token")
	for i in $(seq "$nodes"); do
		node_conf "$i"
		# the DSN comes from store_file; none from our environment
		MASKD_CLUSTER_DSN= nohup build/maskd -c "$dir/n$i/maskd.conf" \
			> "$dir/n$i/stderr.txt" 2>&1 &
		echo $! > "$dir/n$i/pid"
		list+=("127.0.0.1:$((port + i))")
	done
	for i in $(seq "$nodes"); do
		wait_http "http://127.0.0.1:$((18080 + i))/healthz"
	done
	scripts/front.sh list "${list[@]}" > "$dir/front.list"
	nohup scripts/front.sh run --listen "udp:127.0.0.1:$port" \
		--list "$dir/front.list" --dir "$dir/front" \
		> "$dir/front.log" 2>&1 &
	echo $! > "$dir/front.pid"
	# the schema is in place once a node answers creates; numbers then
	for i in $(seq 0 $((numbers - 1))); do
		vn=$(printf '+1555%07d' "$i")
		for _ in $(seq 100); do
			psql_maskd "SELECT maskd_pool_add('$vn', 'US', 0)" \
				>/dev/null 2>&1 && break
			sleep 0.1
		done
	done
	echo "front:  sip:127.0.0.1:$port (udp)"
	for i in $(seq "$nodes"); do
		echo "node $i: sip 127.0.0.1:$((port + i))," \
			"api http://127.0.0.1:$((18080 + i))"
	done
	echo "token:  $dir/token; logs: $dir/n*/maskd.log, $dir/front.log"
	echo "stop:   scripts/cluster-up.sh down --dir $dir"
}

cmd_down() {
	local n
	stop_pid "$dir/front.pid"
	for n in "$dir"/n*/pid; do
		[ -e "$n" ] && stop_pid "$n"
	done
	if [ -d "$dir/pg/data" ]; then
		as_pg "$(pg_bin)/pg_ctl" -D "$dir/pg/data" -m fast -w stop \
			>/dev/null 2>&1 || true
	fi
}

case $sub in
up) cmd_up ;;
down) cmd_down ;;
*) usage ;;
esac
