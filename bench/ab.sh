#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ab.sh A B: compares the control plane's CPU cost of two skiff builds under the scheduler
# benchmark's load. A and B are each a skiff binary or a git revision (built in a scratch
# worktree). Both run bench/scheduler.sh at the same time, each with NODES hollow nodes
# (default 2500) and NODES*PER_NODE pods (default 6 per node), ROUNDS times (default 4),
# the two swapping which starts first each round; prints each run's CPU per pod and the
# ratios B/A, and the servers' peak RSS. Side by side, the two share whatever this machine's speed does meanwhile:
# on this VM one build run after the other drifts by 10 to 30% between runs, which hides
# any change smaller than that, while the paired ratio moves by a few percent a round
# (one binary against itself: 1.049, 1.009, 0.984, 1.024), hence four rounds.
# Not part of `make bench`: it compares two versions of skiff, not skiff with its peers.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
	echo "usage: bench/ab.sh A B (each a skiff binary or a git revision)" >&2
	exit 2
fi
NODES=${NODES:-2500}
PER_NODE=${PER_NODE:-6}
ROUNDS=${ROUNDS:-4}

work=$(mktemp -d /tmp/skiff-bench-ab.XXXXXX)
trees=()
runs=()
cleanup() {
	for p in "${runs[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for t in "${trees[@]}"; do git worktree remove --force "$t" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

# A binary as it is; a revision built in a worktree of its own. Sets $bin (not printed:
# a command substitution's subshell would lose the worktree cleanup must remove).
resolve() {
	local what=$1 name=$2
	if [ -x "$what" ] && [ -f "$what" ]; then
		bin=$(realpath "$what")
		return
	fi
	if ! git rev-parse --verify --quiet "$what^{commit}" >/dev/null; then
		echo "ab: '$what' is neither an executable nor a git revision" >&2
		exit 2
	fi
	git worktree add --detach "$work/$name" "$what" >/dev/null 2>&1
	trees+=("$work/$name")
	echo "ab: building $what in $work/$name" >&2
	if ! make -C "$work/$name" -j2 build/skiff >"$work/$name.log" 2>&1; then
		cat "$work/$name.log" >&2
		echo "ab: building $what failed" >&2
		exit 1
	fi
	bin=$work/$name/build/skiff
}
resolve "$1" a
a=$bin
resolve "$2" b
b=$bin

# server and hollow-node milliseconds of CPU per pod, from a run's output
cost() {
	sed -n 's/.*CPU server [0-9.]* s (\([0-9.]*\) ms per pod), hollow nodes [0-9.]* s (\([0-9.]*\) ms per pod).*/\1 \2/p' "$1"
}
# the server's peak RSS in MiB, from a run's output
rss() {
	sed -n 's/.*peak RSS server \([0-9]*\) MiB.*/\1/p' "$1"
}

ratios=()
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) -eq 1 ]; then order="a b"; else order="b a"; fi
	runs=()
	for x in $order; do
		bin=$a
		[ "$x" = b ] && bin=$b
		SKIFF=$bin NODES=$NODES PER_NODE=$PER_NODE LATENCY_PODS=0 bash bench/scheduler.sh \
			>"$work/$x.out" 2>&1 &
		runs+=("$!")
		sleep 1
	done
	for p in "${runs[@]}"; do wait "$p" || true; done
	runs=()
	read -r sa ha <<<"$(cost "$work/a.out")"
	read -r sb hb <<<"$(cost "$work/b.out")"
	if [ -z "${sa:-}" ] || [ -z "${sb:-}" ]; then
		echo "ab: round $round: a run did not finish:" >&2
		tail -n 5 "$work/a.out" "$work/b.out" >&2
		exit 1
	fi
	r=$(awk -v a="$sa" -v b="$sb" 'BEGIN { printf "%.3f", b / a }')
	ratios+=("$r")
	echo "ab: round $round (started $order): server CPU per pod A $sa ms, B $sb ms (B/A $r);" \
		"hollow nodes A $ha ms, B $hb ms; server peak RSS A $(rss "$work/a.out") MiB," \
		"B $(rss "$work/b.out") MiB"
done
echo "ab: server CPU per pod B/A: ${ratios[*]}; mean $(printf '%s\n' "${ratios[@]}" |
	awk '{ s += $1 } END { printf "%.3f", s / NR }')"
