#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# profile.sh: where the CPU goes under the scheduler benchmark's load. Builds skiff with
# frame pointers and debug info in a scratch directory (or takes SKIFF, which should be
# built so), runs bench/scheduler.sh with NODES hollow nodes and NODES*PER_NODE pods
# (default 5000 and 6: 30,000 pods), records TARGET (server, or sim for the hollow nodes)
# with perf for PROFILE_SECONDS (default 12) from PROFILE_AFTER seconds (default 8) after
# the nodes are Ready, when the pods are being created, and prints
# the benchmark's own lines and then the shares of the samples per thread and function
# (bench/perf_fold.py; TOP rows per table, default 40). Not part of `make bench`: it
# measures where time goes, not how fast skiff is, and perf slows what it records.
# PERF_TXT names a file to keep perf script's output in, for bench/perf_fold.py --thread.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-5000}
PER_NODE=${PER_NODE:-6}
TARGET=${TARGET:-server}
PROFILE_SECONDS=${PROFILE_SECONDS:-12}
PROFILE_AFTER=${PROFILE_AFTER:-8}
TOP=${TOP:-40}

case "$TARGET" in
server) pattern="server --data-dir /tmp/skiff-bench-sched" ;;
sim) pattern="sim nodes --count" ;;
*)
	echo "profile: TARGET is server or sim, not '$TARGET'" >&2
	exit 2
	;;
esac
if ! command -v perf >/dev/null; then
	echo "profile: perf is missing (package linux-perf): run scripts/install-deps.sh as root" >&2
	exit 1
fi

work=$(mktemp -d /tmp/skiff-bench-profile.XXXXXX)
bench=""
cleanup() {
	if [ -n "$bench" ]; then
		kill "$bench" 2>/dev/null || true
		wait "$bench" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

if [ -z "${SKIFF:-}" ]; then
	echo "profile: building with frame pointers in $work/build"
	if ! CFLAGS="-O2 -g -fno-omit-frame-pointer" make -j2 BUILD="$work/build" \
		"$work/build/skiff" >"$work/build.log" 2>&1; then
		cat "$work/build.log" >&2
		exit 1
	fi
	SKIFF=$work/build/skiff
fi

SKIFF=$SKIFF NODES=$NODES PER_NODE=$PER_NODE bash bench/scheduler.sh >"$work/bench.log" 2>&1 &
bench=$!
for _ in $(seq 600); do
	grep -q "Ready after" "$work/bench.log" && break
	kill -0 "$bench" 2>/dev/null || break
	sleep 1
done
if ! grep -q "Ready after" "$work/bench.log"; then
	cat "$work/bench.log" >&2
	echo "profile: the hollow nodes did not become Ready" >&2
	exit 1
fi
# the pods' creation starts after the nodes are Ready: record the middle of the load
sleep "$PROFILE_AFTER"
pid=$(pgrep -f -- "$SKIFF $pattern" | head -1 || true)
if [ -z "$pid" ]; then
	echo "profile: no '$TARGET' process of $SKIFF is running" >&2
	exit 1
fi
# the whole machine, not -p: attaching to each thread fails while threads come and go
if ! perf record -a -F 499 --call-graph dwarf,16384 -o "$work/perf.data" \
	-- sleep "$PROFILE_SECONDS" >"$work/perf.log" 2>&1; then
	cat "$work/perf.log" >&2
	echo "profile: perf record of the $TARGET (pid $pid) failed" >&2
	exit 1
fi
wait "$bench"
bench=""
cat "$work/bench.log"
perf script -i "$work/perf.data" --pid "$pid" -F comm,ip,sym >"$work/perf.txt" 2>/dev/null
[ -z "${PERF_TXT:-}" ] || cp "$work/perf.txt" "$PERF_TXT"
/usr/bin/python3 bench/perf_fold.py --top "$TOP" "$work/perf.txt"
