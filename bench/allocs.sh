#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# allocs.sh: how many allocations the server makes per pod under the scheduler
# benchmark's load, and where. Builds skiff with debug info in a scratch directory (or
# takes SKIFF), runs bench/scheduler.sh with NODES hollow nodes and NODES*PER_NODE pods
# (default 1000 and 10: heaptrack slows the server several times over) with the server
# under heaptrack on the C library's allocator, and prints the allocation calls of the
# whole run (start, nodes and Leases included) per pod: by the function that called the
# allocator and by the server's code that asked for them (bench/alloc_fold.py; TOP rows,
# default 30). The benchmark's own CPU and memory lines measure heaptrack, not the
# server. ALLOCS_FOLDED names a file to keep the folded stacks in, for bench/alloc_fold.py.
# Not part of `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/loaded.sh
. bench/loaded.sh

NODES=${NODES:-1000}
PER_NODE=${PER_NODE:-10}
TOP=${TOP:-30}

for tool in heaptrack heaptrack_print; do
	if ! command -v "$tool" >/dev/null; then
		echo "allocs: $tool is missing (package heaptrack): run scripts/install-deps.sh as root" >&2
		exit 1
	fi
done

work=$(mktemp -d /tmp/skiff-bench-allocs.XXXXXX)
# The benchmark stops the server by signalling what it started, here heaptrack's script,
# which leaves the server itself running: it is stopped by its data directory.
stop_server() {
	local dir
	dir=$(cat "$work/server.data-dir" 2>/dev/null || true)
	[ -n "$dir" ] || return 0
	pkill -TERM -f -- "server --data-dir $dir( |\$)" || true
	for _ in $(seq 600); do
		pgrep -f -- "server --data-dir $dir( |\$)" >/dev/null || return 0
		sleep 0.2
	done
	pkill -KILL -f -- "server --data-dir $dir( |\$)" || true
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

loaded_build allocs "$work"
SKIFF=$(realpath "$SKIFF")

# the server under heaptrack, everything else as it is
cat >"$work/skiff" <<WRAP
#!/bin/sh
if [ "\$1" = server ]; then
	prev=
	for a in "\$@"; do
		[ "\$prev" = --data-dir ] && echo "\$a" >"$work/server.data-dir"
		prev=\$a
	done
	SKIFF_MALLOC=libc exec heaptrack -o "$work/server" "$SKIFF" "\$@"
fi
exec "$SKIFF" "\$@"
WRAP
chmod +x "$work/skiff"

SKIFF=$work/skiff NODES=$NODES PER_NODE=$PER_NODE LATENCY_PODS=0 bash bench/scheduler.sh |
	grep -v -e 'CPU server' -e 'peak RSS'
stop_server
# heaptrack writes its file once the server has exited
data=""
for _ in $(seq 100); do
	data=$(find "$work" -maxdepth 1 -name 'server.*zst' | head -1)
	[ -n "$data" ] && ! pgrep -f "heaptrack -o $work/server" >/dev/null && break
	sleep 0.2
done
if [ -z "$data" ]; then
	echo "allocs: heaptrack left no data in $work" >&2
	exit 1
fi
heaptrack_print -f "$data" --flamegraph-cost-type allocations -F "$work/allocs.folded" \
	>"$work/print.log" 2>&1 || { cat "$work/print.log" >&2; exit 1; }
[ -z "${ALLOCS_FOLDED:-}" ] || cp "$work/allocs.folded" "$ALLOCS_FOLDED"
/usr/bin/python3 bench/alloc_fold.py --top "$TOP" --pods $((NODES * PER_NODE)) "$work/allocs.folded"
