#!/usr/bin/env bash
# front.sh - the Kamailio front of several maskd nodes (conf/kamailio-front.cfg).
#
#   scripts/front.sh list HOST:PORT...
#       print the dispatcher list for these nodes (their [sip] listen):
#       set 1 probed with OPTIONS, set 2 the same nodes never probed (the
#       last resort when no node of set 1 says it can route; see the
#       config's head comment)
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
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
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
run) cmd_run "$@" ;;
*) usage ;;
esac
