#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/pull.sh: pull + unpack of a 5-layer, 226 MB Debian image from a local
# docker-registry with skiff, skopeo+umoci and podman (vfs and overlay), side
# by side (N=3 runs each, fresh store per run, under /var/tmp); prints seconds,
# peak RSS and skiff's ratios. The image comes from bench/mkimage.sh (cached
# under /var/cache/skiff-bench/); the runs from bench/pull.py. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

SKIFF=$(dirname "${SKIFF_BIN:-build/skiff-runtime}")/skiff

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/pull.sh: needs root" >&2
	exit 1
fi
for tool in "$SKIFF" skopeo umoci podman /usr/bin/docker-registry /usr/bin/time; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench/pull.sh: $tool is missing (make, make deps)" >&2
		exit 1
	fi
done

work=$(mktemp -d /var/tmp/skiff-pull.XXXXXX)
chmod 0755 "$work"
pid=
# podman_env's reset removes what podman made on the host, if it gets to run
had_run_containers='' had_networks=''
if [ -e /run/containers ]; then had_run_containers=1; fi
if [ -e /run/containers/networks ]; then had_networks=1; fi
# pull.py cleans up after itself; this is for when it could not (killed)
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local target ns
	# pull.py leads a process group of its own: what it started and left
	if [ -n "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
	if [ -f "$work/registry.pid" ]; then
		kill "$(cat "$work/registry.pid")" 2>/dev/null || true
	fi
	awk -v w="$work/" 'index($5 "/", w) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r target; do umount -l "$target" || true; done
	if [ -f "$work/netns" ]; then
		while read -r ns; do
			if [ -e "/run/netns/$ns" ]; then ip netns del "$ns" || true; fi
		done <"$work/netns"
	fi
	rm -rf --one-file-system "$work"
	# empty unless someone else's podman uses them now
	if [ -z "$had_networks" ]; then rmdir /run/containers/networks 2>/dev/null || true; fi
	if [ -z "$had_run_containers" ]; then rmdir /run/containers 2>/dev/null || true; fi
}
trap cleanup EXIT

layout=$(bench/mkimage.sh)
# its own session, so cleanup can kill whatever it leaves; signals are passed on
# and pull.py unwinds (podman env reset, registry stopped) before exiting
setsid /usr/bin/python3 bench/pull.py run "$layout" "$work" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM HUP
status=0
wait "$pid" || status=$?
while kill -0 "$pid" 2>/dev/null; do
	status=0
	wait "$pid" || status=$?
done
exit "$status"
