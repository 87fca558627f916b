#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# switches.sh: how often the control plane's threads give up the CPU under the scheduler
# benchmark's load. Runs bench/scheduler.sh with NODES hollow nodes and NODES*PER_NODE pods
# (default 5000 and 6: 30,000 pods) with SKIFF (default build/skiff), reads every thread's
# voluntary and involuntary context switches and CPU time from /proc/PID/task/*/ of TARGET
# (server, or sim for the hollow nodes) SWITCH_AFTER seconds (default 6) after the nodes are
# Ready and again SWITCH_SECONDS (default 8) later, and prints the benchmark's own lines,
# then the differences per thread name and per pod (the window's length times the run's
# scheduling rate: a load that ends within the window makes the per-pod figures too low).
# Involuntary switches are preemptions. Not part of `make bench`: it measures how skiff
# spends its time, not how fast it is.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/loaded.sh
. bench/loaded.sh

NODES=${NODES:-5000}
PER_NODE=${PER_NODE:-6}
TARGET=${TARGET:-server}
SWITCH_AFTER=${SWITCH_AFTER:-6}
SWITCH_SECONDS=${SWITCH_SECONDS:-8}
SKIFF=${SKIFF:-$PWD/build/skiff}

if [ ! -x "$SKIFF" ]; then
	echo "switches: no skiff binary at $SKIFF: run make first, or set SKIFF" >&2
	exit 1
fi

loaded_init switches

# one line per thread: tid name voluntary involuntary cpu-ticks
snapshot() {
	local pid=$1 d
	for d in /proc/"$pid"/task/*; do
		{
			printf '%s\t%s\t' "${d##*/}" "$(cat "$d/comm")"
			awk '/^voluntary_ctxt_switches/ {v = $2} /^nonvoluntary_ctxt_switches/ {n = $2}
			     END {printf "%s\t%s\t", v, n}' "$d/status"
			awk '{print $14 + $15}' "$d/stat"
		} 2>/dev/null || true
	done
}

loaded_start "$SWITCH_AFTER"
snapshot "$pid" >"$work/before"
sleep "$SWITCH_SECONDS"
snapshot "$pid" >"$work/after"
loaded_finish
rate=$(sed -n 's/.*scheduling \([0-9]*\) pods\/s.*/\1/p' "$work/bench.log" | head -1)
/usr/bin/python3 - "$work/before" "$work/after" "$SWITCH_SECONDS" "${rate:-0}" \
	"$(getconf CLK_TCK)" "$TARGET" <<'EOF'
import collections
import sys

before_path, after_path, seconds, rate, hz, target = sys.argv[1:]
seconds, rate, hz = float(seconds), float(rate), float(hz)


def read(path):
    rows = {}
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 5 and fields[2] and fields[3]:
                rows[fields[0]] = (fields[1], int(fields[2]), int(fields[3]), int(fields[4]))
    return rows


before, after = read(before_path), read(after_path)
names = collections.defaultdict(lambda: [0, 0, 0, 0])
for tid, (name, vol, invol, ticks) in after.items():
    _, vol0, invol0, ticks0 = before.get(tid, (name, 0, 0, 0))
    row = names[name]
    row[0] += 1
    row[1] += vol - vol0
    row[2] += invol - invol0
    row[3] += ticks - ticks0
pods = seconds * rate
print(f"switches: {target}, {seconds:g} s, about {pods:.0f} pods (at {rate:.0f} pods/s)")
print(f"switches: {'thread':16} {'threads':>7} {'voluntary':>10} {'preempted':>10} {'CPU s':>7}")
tv = ti = 0
for name, (n, vol, invol, ticks) in sorted(names.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
    if vol or invol:
        print(f"switches: {name:16} {n:7d} {vol:10d} {invol:10d} {ticks / hz:7.2f}")
    tv += vol
    ti += invol
if pods:
    print(f"switches: all {tv} voluntary and {ti} preempted: {tv / pods:.1f} and {ti / pods:.1f} per pod")
EOF
