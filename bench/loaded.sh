# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# loaded.sh, sourced by profile.sh, switches.sh and allocs.sh: the scheduler benchmark's
# load run in the background, and the process under study found in it.
#
# loaded_build NAME DIR: unless SKIFF is set, builds skiff with frame pointers and debug
#   info into DIR/build (for perf's and heaptrack's stacks) and sets SKIFF to it.
# loaded_init NAME: checks TARGET (server, or sim for the hollow nodes) and sets $pattern,
#   makes the scratch directory $work (/tmp/skiff-bench-NAME.*), and removes it and stops
#   the benchmark on exit. Messages start with NAME.
# loaded_start AFTER: runs bench/scheduler.sh with SKIFF, NODES and PER_NODE into
#   $work/bench.log, waits for the hollow nodes to be Ready and then AFTER seconds (the
#   pods are created meanwhile), and sets $pid to TARGET's process.
# loaded_finish: waits for the benchmark to end and prints its lines.

loaded_build() {
	[ -z "${SKIFF:-}" ] || return 0
	echo "$1: building with frame pointers and debug info in $2/build"
	if ! CFLAGS="-O2 -g -fno-omit-frame-pointer" make -j2 BUILD="$2/build" \
		"$2/build/skiff" >"$2/build.log" 2>&1; then
		cat "$2/build.log" >&2
		exit 1
	fi
	SKIFF=$2/build/skiff
}

loaded_init() {
	loaded_name=$1
	case "$TARGET" in
	server) pattern="server --data-dir /tmp/skiff-bench-sched" ;;
	sim) pattern="sim nodes --count" ;;
	*)
		echo "$loaded_name: TARGET is server or sim, not '$TARGET'" >&2
		exit 2
		;;
	esac
	work=$(mktemp -d "/tmp/skiff-bench-$loaded_name.XXXXXX")
	bench=""
	trap loaded_cleanup EXIT
	trap "exit 130" INT
	trap "exit 143" TERM
}

loaded_cleanup() {
	if [ -n "$bench" ]; then
		kill "$bench" 2>/dev/null || true
		wait "$bench" 2>/dev/null || true
	fi
	rm -rf "$work"
}

loaded_start() {
	SKIFF=$SKIFF NODES=$NODES PER_NODE=$PER_NODE bash bench/scheduler.sh >"$work/bench.log" 2>&1 &
	bench=$!
	for _ in $(seq 600); do
		grep -q "Ready after" "$work/bench.log" && break
		kill -0 "$bench" 2>/dev/null || break
		sleep 1
	done
	if ! grep -q "Ready after" "$work/bench.log"; then
		cat "$work/bench.log" >&2
		echo "$loaded_name: the hollow nodes did not become Ready" >&2
		exit 1
	fi
	sleep "$1"
	pid=$(pgrep -f -- "$SKIFF $pattern" | head -1 || true)
	if [ -z "$pid" ]; then
		echo "$loaded_name: no '$TARGET' process of $SKIFF is running" >&2
		exit 1
	fi
}

loaded_finish() {
	wait "$bench"
	bench=""
	cat "$work/bench.log"
}
