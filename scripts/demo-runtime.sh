#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# demo-runtime.sh: run one busybox container with build/skiff-runtime (or $SKIFF_BIN)
# and show, from inside it, what isolates it: hostname, PID 1, network devices
# and namespace, and its memory limit through its own cgroup view. `make demo-runtime`.
set -euo pipefail
cd "$(dirname "$0")/.."

# -s: keep the link name, which selects the runtime role of the binary.
runtime=$(realpath -s "${SKIFF_BIN:-build/skiff-runtime}")
if [ ! -x "$runtime" ]; then
	echo "demo: $runtime not found; run make first" >&2
	exit 1
fi

tmp=$(mktemp -d)
chmod 0755 "$tmp"
id=skiff-demo-$$
cleanup() {
	"$runtime" --root "$tmp/root" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

scripts/mkbundle.sh "$tmp/bundle" >/dev/null
# The container prints the host's values next to its own.
/usr/bin/python3 - "$tmp/bundle/config.json" "/$id" "$(uname -n)" "$(readlink /proc/self/ns/net)" <<'PY'
import json, sys
path, cgroup, host_name, host_netns = sys.argv[1:]
config = json.load(open(path))
config["hostname"] = "skiff-demo"
config["linux"]["cgroupsPath"] = cgroup
config["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
config["linux"]["namespaces"].append({"type": "cgroup"})
config["process"]["env"] += ["HOST_NAME=" + host_name, "HOST_NETNS=" + host_netns]
config["process"]["args"] = ["sh", "/demo.sh"]
json.dump(config, open(path, "w"), indent=1)
PY

cat >"$tmp/bundle/rootfs/demo.sh" <<'SH'
heading() { printf '\n== %s ==\n' "$1"; }
heading "hostname, from the config"
echo "container: $(hostname)"
echo "host:      $HOST_NAME"
heading "processes: the container's command is PID 1"
ps -o pid,user,args
heading "network devices: a new network namespace has only lo"
ls /sys/class/net
heading "network namespace"
echo "container: $(readlink /proc/self/ns/net)"
echo "host:      $HOST_NETNS"
heading "memory limit, read inside through the cgroup namespace"
limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
echo "$limit bytes = $((limit / 1024 / 1024)) MiB"
SH

echo "skiff demo: $runtime run $id"
"$runtime" --root "$tmp/root" run --bundle "$tmp/bundle" "$id"
