#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scheduler.sh: NODES hollow nodes (`skiff sim nodes`) and NODES*PER_NODE pods created
# through Deployments and followed through one watch (`skiff sim load`); prints scheduling
# throughput, pod start latency (created -> bound -> Running), CPU and memory, and how long
# the store's WAL got.
# Defaults: 5000 nodes, 30 pods per node (150,000 pods). A /24 per node needs a cluster
# network larger than the default /16: 10.128.0.0/9 holds 32,768 nodes. SIM_THREADS sets
# the hollow nodes' request workers (default 64; 5,000 kubelets would each have their own
# connection: with 32, shared with 500 Lease renewals a second, the Running reports queued
# in the simulator, 10.6 s at p50 against 28 ms with 64). Then LATENCY_PODS pods (default 300) are
# created one at a time, LATENCY_QPS a second (default 10), on the loaded cluster, and their
# start latency is printed apart from the load's own, as upstream's density test measures
# its latency pods.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-5000}
PER_NODE=${PER_NODE:-30}
LATENCY_PODS=${LATENCY_PODS:-300}
LATENCY_QPS=${LATENCY_QPS:-10}
SKIFF=${SKIFF:-build/skiff}

work=$(mktemp -d /tmp/skiff-bench-sched.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# a signal ends the script through exit, so the EXIT trap cleans up
trap "exit 130" INT
trap "exit 143" TERM
ulimit -n 65536 2>/dev/null || ulimit -n 8192

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SKIFF" server --data-dir "$work/data" --https-listen-port "$port" --bind-address 127.0.0.1 \
	--write-kubeconfig "$work/kubeconfig.yaml" --disable-agent --disable-dns \
	--cluster-cidr 10.128.0.0/9 >"$work/server.log" 2>&1 &
spid=$!
pids+=("$spid")
# the store's WAL, sampled every second: checkpoints must keep it short under the load
(
	most=0
	while kill -0 "$spid" 2>/dev/null; do
		size=$(stat -c %s "$work/data/db/state.db-wal" 2>/dev/null || echo 0)
		[ "$size" -gt "$most" ] && most=$size && echo "$most" >"$work/wal-most"
		sleep 1
	done
) &
pids+=("$!")
for _ in $(seq 100); do
	[ -s "$work/kubeconfig.yaml" ] && break
	sleep 0.1
done
"$SKIFF" sim nodes --count "$NODES" --server "https://127.0.0.1:$port" \
	--token "$(cat "$work/data/server/token")" --ca-file "$work/data/server/tls/server-ca.crt" \
	--name-prefix hollow- --threads "${SIM_THREADS:-64}" >"$work/sim.log" 2>&1 &
simpid=$!
pids+=("$simpid")
start=$SECONDS
for _ in $(seq 600); do
	n=$(KUBECONFIG="$work/kubeconfig.yaml" kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready' || true)
	[ "$n" -ge "$NODES" ] && break
	sleep 1
done
echo "scheduler: $n hollow nodes Ready after $((SECONDS - start)) s"
# in the background: bash runs a trap only once the foreground command is done, wait
# returns at once
"$SKIFF" sim load --server "https://127.0.0.1:$port" --token-file "$work/data/server/admin-token" \
	--ca-file "$work/data/server/tls/server-ca.crt" --server-pid "$spid" --sim-pid "$simpid" \
	--pods $((NODES * PER_NODE)) --latency-pods "$LATENCY_PODS" --latency-qps "$LATENCY_QPS" &
pids+=("$!")
wait "$!"
db="$work/data/db/state.db"
echo "scheduler: store WAL at most $(($(cat "$work/wal-most" 2>/dev/null || echo 0) / 1048576)) MiB," \
	"database $(($(stat -c %s "$db" 2>/dev/null || echo 0) / 1048576)) MiB"
