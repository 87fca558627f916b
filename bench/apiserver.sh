#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# apiserver.sh: load on `skiff server` (the API server and store alone: no scheduler or
# controllers), on the embedded SQLite store and on etcd:
# N pods created through the API, list all and by label, W watchers each receiving
# every event of a burst, server RSS. PODS=10000 WATCHERS=1000 by default.
set -euo pipefail
cd "$(dirname "$0")/.."

PODS=${PODS:-10000}
WATCHERS=${WATCHERS:-1000}
SKIFF=${SKIFF:-build/skiff}

work=$(mktemp -d /tmp/skiff-bench-api.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Many watch connections: one file descriptor each, on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n 8192

run() {
	local label=$1 endpoint=$2 dir="$work/$1" port
	port=$(free_port)
	mkdir -p "$dir"
	local args=(server --data-dir "$dir/data" --https-listen-port "$port" --bind-address 127.0.0.1
		--write-kubeconfig "$dir/kubeconfig.yaml" --disable-agent --disable-dns
		--disable-scheduler --disable-controller-manager)
	[ -n "$endpoint" ] && args+=(--datastore-endpoint "$endpoint")
	"$SKIFF" "${args[@]}" >"$dir/server.log" 2>&1 &
	local spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do
		[ -s "$dir/kubeconfig.yaml" ] && break
		sleep 0.1
	done
	base64 -d <<<"$(awk '/certificate-authority-data/ {print $2}' "$dir/kubeconfig.yaml")" >"$dir/ca.crt"
	/usr/bin/python3 bench/apiserver.py --url "https://127.0.0.1:$port" \
		--token "$(cat "$dir/data/server/admin-token")" --ca "$dir/ca.crt" --pid "$spid" \
		--pods "$PODS" --watchers "$WATCHERS" --label "$label"
	kill "$spid"
	wait "$spid" 2>/dev/null || true
}

echo "apiserver: $PODS pods, $WATCHERS watchers"
run sqlite ""

if [ -x /usr/bin/etcd ]; then
	cport=$(free_port)
	pport=$(free_port)
	/usr/bin/etcd --name bench --data-dir "$work/etcd" \
		--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "bench=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$cport/health" >/dev/null && break
		sleep 0.1
	done
	run etcd "http://127.0.0.1:$cport"
else
	echo "apiserver: etcd is not installed; the etcd run is skipped"
fi
