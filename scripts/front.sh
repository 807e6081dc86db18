#!/usr/bin/env bash
# front.sh - the Kamailio front of several maskd nodes (conf/kamailio-front.cfg).
#
#   scripts/front.sh list HOST:PORT...
#       print the dispatcher list for these nodes (their [sip] listen):
#       set 1 probed with OPTIONS, set 2 the same nodes never probed (the
#       last resort when no node of set 1 says it can route; see the
#       config's head comment)
#
#   scripts/front.sh workers MASKD.CONF...
#       the same list for the SIP workers of these maskds: one node per
#       worker, its [sip] listen's host and port for worker 0 and its
#       worker_ports for the others ([sip] workers of them; with workers
#       = auto all of them - a port no worker took is probed, found
#       silent and left alone). Several files: one front for the workers
#       of several machines.
#
#   scripts/front.sh run --listen udp:IP:PORT --list FILE [--dir DIR]
#                        [-- KAMAILIO-ARGS...]
#       run Kamailio in the foreground (exec: its pid is this script's)
#       with that list; DIR (default: a new one under /tmp) holds its
#       runtime files. Extra arguments go to kamailio, e.g. -A FRONT_TRACE
#       or -A FRONT_FR_MS=1500. Stop it with SIGTERM.
#
# scripts/cluster-up.sh starts a whole cluster on loopback with it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cfg=${MASKD_FRONT_CFG:-$here/../conf/kamailio-front.cfg}

usage() {
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

cmd_list() {
	[ $# -gt 0 ] || usage
	local n
	# host:port or [v6]:port, checked enough that Kamailio gets a URI
	for n in "$@"; do
		[[ $n =~ ^(\[[0-9a-fA-F:.]+\]|[^]:[]+):[0-9]+$ ]] ||
			{ echo "front.sh: not HOST:PORT: $n" >&2; exit 2; }
	done
	echo "# maskd nodes (scripts/front.sh list $*)"
	echo "# setid destination flags: 8 = probed with OPTIONS"
	for n in "$@"; do echo "1 sip:$n 8"; done
	echo "# the same, never probed: used only when no node above is up"
	for n in "$@"; do echo "2 sip:$n 0"; done
}

# [sip] KEY of maskd config @1 ("" when unset)
sip_key() {
	awk -v key="$2" '
		/^[ \t]*\[/ { sec = $0; gsub(/[ \t\[\]]/, "", sec); next }
		sec == "sip" && $0 ~ "^[ \t]*" key "[ \t]*=" {
			sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]*([;#].*)?$/, "")
			v = $0
		}
		END { print v }' "$1"
}

cmd_workers() {
	[ $# -gt 0 ] || usage
	local conf listen host port n ports p nodes=()
	for conf in "$@"; do
		[ -r "$conf" ] || { echo "front.sh: cannot read $conf" >&2; exit 1; }
		listen=$(sip_key "$conf" listen)
		listen=${listen:-127.0.0.1:5060}	# maskd's default
		host=${listen%:*}
		port=${listen##*:}
		case $host in
		0.0.0.0|\[::\])
			host=$(sip_key "$conf" advertise)
			[ -n "$host" ] || { echo "front.sh: $conf: [sip] listen" \
				"$listen names no address to send to (set" \
				"advertise)" >&2; exit 1; } ;;
		esac
		n=$(sip_key "$conf" workers)
		ports=$(sip_key "$conf" worker_ports | tr ',' ' ')
		nodes+=("$host:$port")
		[ "$n" = auto ] && n=$((1 + $(echo $ports | wc -w)))
		for p in $ports; do
			[ "${n:-1}" -gt 1 ] || break
			nodes+=("$host:$p")
			n=$((n - 1))
		done
	done
	cmd_list "${nodes[@]}"
}

cmd_run() {
	local listen="" list="" dir=""
	while [ $# -gt 0 ]; do
		case $1 in
		--listen) listen=$2; shift 2 ;;
		--list) list=$2; shift 2 ;;
		--dir) dir=$2; shift 2 ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	[ -n "$listen" ] && [ -n "$list" ] || usage
	[ -r "$list" ] || { echo "front.sh: cannot read $list" >&2; exit 1; }
	command -v kamailio >/dev/null ||
		{ echo "front.sh: kamailio is not installed (scripts/deps.sh)" >&2
		  exit 1; }
	[ -n "$dir" ] || dir=$(mktemp -d /tmp/maskd-front.XXXXXX)
	mkdir -p "$dir"
	list=$(cd "$(dirname "$list")" && pwd)/$(basename "$list")
	# -DD: no fork, stay in this process group; -E: log to stderr
	exec kamailio -f "$cfg" -DD -E -m 64 -M 8 -Y "$dir" \
		-A "FRONT_LISTEN=$listen" -A "FRONT_LIST=\"$list\"" "$@"
}

[ $# -gt 0 ] || usage
sub=$1; shift
case $sub in
list) cmd_list "$@" ;;
workers) cmd_workers "$@" ;;
run) cmd_run "$@" ;;
*) usage ;;
esac
