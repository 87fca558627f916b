#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/runtime.sh: container start-to-exit cost of skiff-runtime against crun
# and runc. Each runtime does N (default 200) `run` of a busybox bundle whose
# process is /bin/true (create + start + wait + delete); the table shows the
# wall time per container, the runtime's peak RSS (max over RSS_RUNS runs) and
# the floor, `unshare` of the same namespaces running /bin/true. Called by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200}
RSS_RUNS=${RSS_RUNS:-5}
SKIFF=${SKIFF_BIN:-build/skiff-runtime}
UNIFIED=/sys/fs/cgroup/unified

tmp=$(mktemp -d)
chmod 0755 "$tmp"
cgroup=/skiff-bench-$$
cleanup() {
	local d
	for d in /sys/fs/cgroup/*"$cgroup"; do
		if [ -d "$d" ]; then rmdir "$d" 2>/dev/null || true; fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

bundle=$tmp/bundle
scripts/mkbundle.sh "$bundle"
/usr/bin/python3 - "$bundle/config.json" "$cgroup" <<'PY'
import json, sys
path, cgroup = sys.argv[1], sys.argv[2]
config = json.load(open(path))
config["process"]["args"] = ["/bin/true"]
config["process"]["terminal"] = False
config["linux"]["cgroupsPath"] = cgroup
json.dump(config, open(path, "w"), indent=1)
PY

# Runs "$@" with crun's workaround when needed: crun refuses hybrid cgroup
# hosts, so it gets a private mount namespace without the cgroup2 mount.
crun_wrap() {
	if mountpoint -q "$UNIFIED"; then
		unshare -m --propagation private sh -c 'umount "$0" && exec "$@"' "$UNIFIED" "$@"
	else
		"$@"
	fi
}

# loop_ns RUNTIME: N runs in one shell (inside the wrapper); prints elapsed ns.
loop_script='
rt=$1 root=$2 bundle=$3 n=$4
start=$(date +%s%N)
i=0
while [ $i -lt $n ]; do
	if ! "$rt" --root "$root" run --bundle "$bundle" "bench-$i" >/dev/null; then
		echo "bench: $rt failed on run $i" >&2
		exit 1
	fi
	i=$((i + 1))
done
echo $(( $(date +%s%N) - start ))
'
floor_script='
n=$1
start=$(date +%s%N)
i=0
while [ $i -lt $n ]; do
	unshare --fork --pid --net --mount --ipc --uts /bin/true
	i=$((i + 1))
done
echo $(( $(date +%s%N) - start ))
'

# rss_kib WRAPPER RUNTIME: the largest peak RSS (KiB) over RSS_RUNS runs.
rss_kib() {
	local wrap=$1 rt=$2 root=$tmp/rss-root max=0 kib i
	for i in $(seq "$RSS_RUNS"); do
		kib=$($wrap /usr/bin/time -f %M "$rt" --root "$root" run --bundle "$bundle" "rss-$i" \
			2>&1 >/dev/null | tail -n 1)
		[ "$kib" -gt "$max" ] && max=$kib
	done
	echo "$max"
}

no_wrap() { "$@"; }

declare -A ms rss
names=()
measure() {
	local name=$1 wrap=$2 rt=$3 ns
	echo "bench: $name, $N containers..." >&2
	if ! ns=$($wrap bash -c "$loop_script" bench "$rt" "$tmp/root-$name" "$bundle" "$N"); then
		echo "bench: $name failed, left out" >&2
		return 0
	fi
	ms[$name]=$(awk -v ns="$ns" -v n="$N" 'BEGIN { printf "%.2f", ns / n / 1e6 }')
	rss[$name]=$(rss_kib "$wrap" "$rt")
	names+=("$name")
}

if [ -x "$SKIFF" ]; then
	measure skiff no_wrap "$(cd "$(dirname "$SKIFF")" && pwd)/$(basename "$SKIFF")"
else
	echo "bench: $SKIFF not built, comparing crun and runc only" >&2
fi
command -v crun >/dev/null && measure crun crun_wrap "$(command -v crun)"
command -v runc >/dev/null && measure runc no_wrap "$(command -v runc)"

echo "bench: unshare floor, $N runs..." >&2
floor_ns=$(bash -c "$floor_script" floor "$N")
floor_ms=$(awk -v ns="$floor_ns" -v n="$N" 'BEGIN { printf "%.2f", ns / n / 1e6 }')

echo
echo "runtime run of /bin/true, N=$N (peak RSS: max of $RSS_RUNS runs)"
printf '%-10s %14s %16s\n' runtime ms/container "peak RSS KiB"
for name in "${names[@]}"; do
	printf '%-10s %14s %16s\n' "$name" "${ms[$name]}" "${rss[$name]}"
done
printf '%-10s %14s %16s\n' unshare "$floor_ms" -

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}
if [ -n "${ms[skiff]:-}" ]; then
	echo
	for name in crun runc; do
		[ -n "${ms[$name]:-}" ] || continue
		echo "skiff/$name: time $(ratio "${ms[skiff]}" "${ms[$name]}")x," \
			"peak RSS $(ratio "${rss[skiff]}" "${rss[$name]}")x"
	done
	echo "skiff/unshare: time $(ratio "${ms[skiff]}" "$floor_ms")x"
fi
