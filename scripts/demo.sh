#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh: a working cluster from one command (`make demo`). Starts `skiff server` (API
# server, scheduler, controllers, DNS, node agent, service proxy) with a local
# docker-registry holding a demo image (busybox httpd serving a page that names its
# pod), deploys 3 replicas behind a Service, shows requests through the service name
# landing on all three pods, rolls out a new page and rolls it back, and leaves the
# cluster running for kubectl. `scripts/demo.sh stop` stops it and removes its state.
set -euo pipefail
cd "$(dirname "$0")/.."

SKIFF=$(realpath "${SKIFF_BIN:-build/skiff}")
STATE=${DEMO_DIR:-/var/lib/skiff-demo}
DATA=$STATE/data
KUBECONFIG=$STATE/kubeconfig.yaml
REGISTRY=127.0.0.1:5000
export KUBECONFIG

stop() {
	for f in "$STATE"/server.pid "$STATE"/registry.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	sleep 2
	# the agent leaves pods running by design: stop them with their monitors
	for f in "$DATA"/agent/pods/*/containers/*/*/shim.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
	done
	for f in "$DATA"/agent/pods/*/pod.json; do
		[ -f "$f" ] && kill -9 "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pausePid"])' "$f")" 2>/dev/null || true
	done
	for c in /sys/fs/cgroup/*/skiff-demo; do
		[ -d "$c" ] || continue
		find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	done
	sleep 1
	grep -o " $STATE[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	for c in /sys/fs/cgroup/*/skiff-demo; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	nft delete table ip skiff-proxy 2>/dev/null || true
	nft delete table ip skiff-nat 2>/dev/null || true
	ip link del skiff.vxlan 2>/dev/null || true
	ip link del skiff0 2>/dev/null || true
	rm -rf "$STATE"
	echo "demo: stopped; $STATE removed"
}

if [ "${1:-}" = stop ]; then
	stop
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (make demo)" >&2
	exit 1
fi
if [ -f "$STATE/server.pid" ] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
	echo "demo: a demo cluster is already running; 'scripts/demo.sh stop' first" >&2
	exit 1
fi
rm -rf "$STATE"
mkdir -p "$STATE"

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
kc() { kubectl "$@"; }

step "a local registry on $REGISTRY with the demo image"
cat >"$STATE/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $STATE/registry
http:
  addr: $REGISTRY
YML
/usr/bin/docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 &
echo $! >"$STATE/registry.pid"
for v in 1 2; do
	work=$(mktemp -d)
	scripts/mkrootfs-tar.sh "$work/rootfs.tar"
	mkdir -p "$work/add"
	cat >"$work/add/web.sh" <<SH
#!/bin/sh
mkdir -p /www
echo "<h1>Hello from \$HOSTNAME</h1><p>skiff demo page, version $v</p>" > /www/index.html
exec httpd -f -p 8080 -h /www
SH
	chmod 0755 "$work/add/web.sh"
	tar -rf "$work/rootfs.tar" -C "$work/add" ./web.sh
	"$SKIFF" image --root "$STATE/images" import --change 'CMD ["/web.sh"]' \
		"$work/rootfs.tar" "$REGISTRY/demo/web:$v" >/dev/null
	for _ in $(seq 50); do
		"$SKIFF" image --root "$STATE/images" push "$REGISTRY/demo/web:$v" >/dev/null 2>&1 && break
		sleep 0.2
	done
	rm -rf "$work"
	echo "pushed $REGISTRY/demo/web:$v"
done

step "skiff server: API server, scheduler, controllers, DNS, node agent, service proxy"
"$SKIFF" server --data-dir "$DATA" --write-kubeconfig "$KUBECONFIG" \
	--pod-log-dir "$STATE/logs" --cgroup-root /skiff-demo >"$STATE/server.log" 2>&1 &
echo $! >"$STATE/server.pid"
for _ in $(seq 150); do
	kc get node -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}' \
		2>/dev/null | grep -q True && break
	sleep 0.2
done
kc get nodes -o wide

step "a Deployment of 3 replicas and a Service"
cat <<YAML | tee "$STATE/web.yaml" | kc apply -f -
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: $REGISTRY/demo/web:1
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
        lifecycle:
          preStop:
            exec: {command: [sleep, "2"]}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  containers:
  - name: client
    image: $REGISTRY/demo/web:1
    command: [sleep, "86400"]
YAML
kc rollout status deployment/web --timeout=120s
kc wait --for=condition=Ready pod/client --timeout=60s >/dev/null
kc get pods -o wide

requests() {
	kc exec client -- sh -c 'for i in $(seq 30); do wget -qO- http://web/ | sed -e "s/<[^>]*>/ /g"; echo; done' |
		sed -e 's/  */ /g' -e 's/^ //' | grep -v '^ *$' | sort | uniq -c
}
step "30 requests from a pod to http://web/ (the service name): every pod answers"
requests

step "rolling update to version 2 of the page"
kc set image deployment/web web="$REGISTRY/demo/web:2"
kc rollout status deployment/web --timeout=180s
requests

step "rollback to version 1"
kc rollout undo deployment/web
kc rollout status deployment/web --timeout=180s
sleep 3
requests
kc rollout history deployment/web

step "the cluster keeps running"
cat <<TXT
  export KUBECONFIG=$KUBECONFIG
  kubectl get pods -o wide
  kubectl logs deploy/web
  kubectl exec -it client -- sh          (then: wget -qO- http://web/)
  kubectl scale deployment/web --replicas=5
  kubectl port-forward deploy/web 8080:8080 &  then open http://127.0.0.1:8080/

  server log: $STATE/server.log
  join another machine: $SKIFF agent --server https://<this machine's address>:6443 \\
      --token-file $DATA/server/token --ca-file $DATA/server/tls/server-ca.crt \\
      --insecure-registry <this machine's address>:5000
      (start the server with --advertise-address <address> for that)
  stop and clean up: scripts/demo.sh stop
TXT
