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
# shellcheck source=bench/loaded.sh
. bench/loaded.sh

NODES=${NODES:-5000}
PER_NODE=${PER_NODE:-6}
TARGET=${TARGET:-server}
PROFILE_SECONDS=${PROFILE_SECONDS:-12}
PROFILE_AFTER=${PROFILE_AFTER:-8}
TOP=${TOP:-40}

if ! command -v perf >/dev/null; then
	echo "profile: perf is missing (package linux-perf): run scripts/install-deps.sh as root" >&2
	exit 1
fi

loaded_init profile

loaded_build profile "$work"

# the pods' creation starts after the nodes are Ready: record the middle of the load
loaded_start "$PROFILE_AFTER"
# the whole machine, not -p: attaching to each thread fails while threads come and go
if ! perf record -a -F 499 --call-graph dwarf,16384 -o "$work/perf.data" \
	-- sleep "$PROFILE_SECONDS" >"$work/perf.log" 2>&1; then
	cat "$work/perf.log" >&2
	echo "profile: perf record of the $TARGET (pid $pid) failed" >&2
	exit 1
fi
loaded_finish
perf script -i "$work/perf.data" --pid "$pid" -F comm,ip,sym,dso >"$work/perf.txt" 2>/dev/null
[ -z "${PERF_TXT:-}" ] || cp "$work/perf.txt" "$PERF_TXT"
/usr/bin/python3 bench/perf_fold.py --top "$TOP" "$work/perf.txt"
