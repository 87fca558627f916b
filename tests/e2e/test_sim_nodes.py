# SPDX-License-Identifier: Apache-2.0
"""Hollow nodes (`skiff sim nodes`) against `skiff server`, checked with the real kubectl.

Nodes register and stay Ready through their Leases, pods bound by hand (spec.nodeName)
are acted out, SIGTERM stops cleanly; with the scheduler and controllers of `skiff
server`, Deployments run on hollow nodes with their Services' endpoints filled, and a
killed simulator's nodes turn NotReady, are tainted and lose their pods.
"""

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from cluster_env import KUBECTL, SKIFF, Server, wait_for

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")

GRACE = 3       # --node-monitor-grace-period, seconds
TOLERATION = 4  # --default-{not-ready,unreachable}-toleration-seconds
HEARTBEAT = "1s"  # the hollow nodes' lease period: well under GRACE


class HollowNodes:
    """One `skiff sim nodes` process, started exactly as a user would."""

    def __init__(self, server, count, prefix, extra=()):
        data = os.path.join(server.dir, "data", "server")
        self.server = server
        self.count = count
        self.prefix = prefix
        self.out = os.path.join(server.dir, f"sim-{prefix}out")
        self.stdout = open(self.out, "wb")
        self.proc = subprocess.Popen(
            [str(SKIFF), "sim", "nodes", "--count", str(count), "--server", server.url,
             "--token", open(os.path.join(data, "token")).read().strip(),
             "--ca-file", os.path.join(data, "tls", "server-ca.crt"),
             "--name-prefix", prefix, "--heartbeat-interval", HEARTBEAT, *extra],
            stdout=self.stdout, stderr=subprocess.STDOUT)
        self.names = [f"{prefix}{i}" for i in range(count)]
        wait_for(self.all_ready, 60, f"{count} Ready hollow nodes {prefix}*")

    def output(self):
        return open(self.out, errors="replace").read()

    def all_ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"skiff sim exited {self.proc.returncode}:\n{self.output()}")
        nodes = {n["metadata"]["name"]: n for n in self.server.kjson("get", "nodes")["items"]}
        return all(n in nodes and ready(nodes[n]) == "True" for n in self.names)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stdout.close()


def ready(obj):
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == "Ready":
            return c["status"]
    return None


@pytest.fixture(scope="module")
def server():
    extra = ["--node-monitor-grace-period", f"{GRACE}s", "--node-monitor-period", "1s",
             "--default-unreachable-toleration-seconds", str(TOLERATION),
             "--default-not-ready-toleration-seconds", str(TOLERATION)]
    s = Server(extra=extra, control_plane=True)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def hollow(server):
    h = HollowNodes(server, 5, "hollow-", ["--zones", "zone-a,zone-b"])
    yield h
    h.stop()


@pytest.fixture
def ns(server):
    name = f"s-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pod_doc(name, node=None, command=None, restart="Always", extra_spec=None, labels=None):
    spec = {"restartPolicy": restart,
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": command or ["sleep", "infinity"],
                            "ports": [{"name": "http", "containerPort": 8080}]}]}
    if node:
        spec["nodeName"] = node
    spec.update(extra_spec or {})
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "labels": labels or {"app": "sim"}},
                       "spec": spec})


def get_pod(server, ns, name):
    p = server.kubectl("get", "pod", "-n", ns, name, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def phase(server, ns, name):
    p = get_pod(server, ns, name)
    return p and p["status"].get("phase")


# Needs only the API server.

def test_nodes_register_ready_with_a_lease_each(server, hollow):
    nodes = {n["metadata"]["name"]: n for n in server.kjson("get", "nodes")["items"]}
    for i, name in enumerate(hollow.names):
        n = nodes[name]
        assert ready(n) == "True"
        labels = n["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["kubernetes.io/arch"] == "amd64"
        assert labels["node.kubernetes.io/instance-type"] == "hollow"
        assert labels["topology.kubernetes.io/zone"] == ["zone-a", "zone-b"][i % 2]
        st = n["status"]
        assert st["capacity"]["cpu"] == "4" and st["capacity"]["memory"] == "16Gi"
        assert st["allocatable"]["pods"] == "110"
        assert st["nodeInfo"]["kubeletVersion"] == "v1.32.0-skiff"
        assert st["nodeInfo"]["containerRuntimeVersion"] == "skiff://0.1.0"
        assert any(a["type"] == "InternalIP" and a["address"].startswith("10.200.")
                   for a in st["addresses"])
    out = server.kubectl("get", "nodes").stdout
    assert sum(1 for line in out.splitlines() if line.startswith("hollow-") and " Ready " in line) == 5

    leases = {l["metadata"]["name"]: l
              for l in server.kjson("get", "leases", "-n", "kube-node-lease")["items"]}
    for name in hollow.names:
        assert leases[name]["spec"]["holderIdentity"] == name
        assert leases[name]["spec"]["renewTime"]


def test_leases_are_renewed(server, hollow):
    def renew():
        return server.kjson("get", "lease", "-n", "kube-node-lease", hollow.names[0])[
            "spec"]["renewTime"]
    first = renew()
    wait_for(lambda: renew() != first, 25, "a lease renewal")


def test_a_ready_condition_changed_by_another_is_put_back(server, hollow):
    # as the node lifecycle controller marks a node whose Lease lapsed, and as the kubelet
    # answers: a status that differs from its own is posted again within its update period
    name = hollow.names[1]
    before = [c for c in server.kjson("get", "node", name)["status"]["conditions"]
              if c["type"] == "Ready"][0]
    patch = {"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
         "message": "Kubelet stopped posting node status.",
         "lastHeartbeatTime": before["lastHeartbeatTime"],
         "lastTransitionTime": before["lastTransitionTime"]}]}}
    server.kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p",
                   json.dumps(patch))
    node = wait_for(lambda: (lambda n: n if ready(n) == "True" else None)(
        server.kjson("get", "node", name)), 30, f"{name} Ready again")
    after = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
    assert after["reason"] == "KubeletReady"
    assert after["lastTransitionTime"] >= before["lastTransitionTime"]
    assert {c["type"] for c in node["status"]["conditions"]} >= {"MemoryPressure", "Ready"}


def test_summary_line_names_the_registered_nodes(hollow):
    wait_for(lambda: "5 of 5 hollow nodes registered" in hollow.output(), 10, "the summary")


def test_pods_bound_by_hand_are_acted_out(server, hollow, ns):
    node = hollow.names[1]
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_doc("web", node))
    server.kubectl("apply", "-n", ns, "-f", "-",
                   input=pod_doc("fails", node, ["false"], "Never"))
    server.kubectl("apply", "-n", ns, "-f", "-",
                   input=pod_doc("done", node, ["true"], "OnFailure"))
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_doc("crash", node, ["true"]))

    wait_for(lambda: phase(server, ns, "web") == "Running", 20, "pod web Running")
    p = get_pod(server, ns, "web")
    assert p["status"]["podIP"].startswith("10.42.")
    assert p["status"]["hostIP"].startswith("10.200.")
    assert ready(p) == "True"
    cs = p["status"]["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and "running" in cs["state"]
    assert cs["containerID"].startswith("hollow://")

    wait_for(lambda: phase(server, ns, "fails") == "Failed", 20, "pod fails Failed")
    term = get_pod(server, ns, "fails")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 1 and term["reason"] == "Error"
    wait_for(lambda: phase(server, ns, "done") == "Succeeded", 20, "pod done Succeeded")

    def crash_looping():
        cs = get_pod(server, ns, "crash")["status"].get("containerStatuses", [{}])[0]
        return cs.get("restartCount", 0) >= 1 and \
            cs.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
    wait_for(crash_looping, 20, "pod crash in CrashLoopBackOff")
    assert "CrashLoopBackOff" in server.kubectl("get", "pod", "-n", ns, "crash").stdout

    # the node deletes what is marked for deletion, as the kubelet does
    server.kubectl("delete", "pod", "-n", ns, "web", "--wait=false")
    wait_for(lambda: get_pod(server, ns, "web") is None, 20, "pod web deleted")


def test_sigterm_stops_the_simulator_cleanly(server):
    h = HollowNodes(server, 2, "brief-")
    h.proc.send_signal(signal.SIGTERM)
    assert h.proc.wait(timeout=15) == 0
    h.stop()
    # hosts that are gone for good leave the cluster, so nothing is scheduled to them
    server.kubectl("delete", "node", *h.names)


# Needs the scheduler and the controllers in `skiff server`.

def test_scheduled_pods_run_on_hollow_nodes_behind_a_service(server, hollow, ns):
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web"},
              "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{
                                        "name": "c", "image": "busybox:1.36",
                                        "command": ["sleep", "infinity"],
                                        "ports": [{"name": "http", "containerPort": 8080}]}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(deploy))
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(svc))

    def all_running():
        items = [p for p in server.kjson("get", "pods", "-n", ns, "-l", "app=web")["items"]
                 if not p["metadata"].get("deletionTimestamp")]
        return len(items) == 6 and all(p["status"].get("phase") == "Running" and
                                       p["spec"].get("nodeName", "").startswith("hollow-")
                                       for p in items)
    wait_for(all_running, 60, "6 pods Running on hollow nodes")
    server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")

    def endpoints():
        ep = server.kjson("get", "endpoints", "-n", ns, "web")
        return sum(len(s.get("addresses", [])) for s in ep.get("subsets", []))
    wait_for(lambda: endpoints() == 6, 30, "6 ready endpoints")
    ep = server.kjson("get", "endpoints", "-n", ns, "web")
    assert ep["subsets"][0]["ports"][0]["port"] == 8080

    slices = server.kjson("get", "endpointslices", "-n", ns,
                          "-l", "kubernetes.io/service-name=web")["items"]
    assert sum(len(s.get("endpoints", [])) for s in slices) == 6
    assert all(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] ==
               "endpointslice-controller.k8s.io" for s in slices)


def test_killing_the_simulator_fails_its_nodes_and_evicts_pods(server, hollow, ns):
    frail = HollowNodes(server, 2, "frail-")
    try:
        server.kubectl("apply", "-n", ns, "-f", "-", input=pod_doc("evictee", "frail-0"))
        server.kubectl("apply", "-n", ns, "-f", "-", input=pod_doc(
            "stayer", "frail-0", extra_spec={"tolerations": [
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute"}]}))
        wait_for(lambda: phase(server, ns, "evictee") == "Running" and
                 phase(server, ns, "stayer") == "Running", 20, "pods Running on frail-0")

        frail.kill()

        def unreachable():
            n = server.kjson("get", "node", "frail-0")
            keys = {(t["key"], t["effect"]) for t in n["spec"].get("taints", [])}
            return ready(n) == "Unknown" and \
                ("node.kubernetes.io/unreachable", "NoExecute") in keys and \
                ("node.kubernetes.io/unreachable", "NoSchedule") in keys
        wait_for(unreachable, GRACE + 15, "frail-0 unreachable and tainted")
        out = server.kubectl("get", "nodes").stdout
        assert any(line.startswith("frail-0") and "NotReady" in line for line in out.splitlines())

        wait_for(lambda: (get_pod(server, ns, "evictee") or {}).get("metadata", {})
                 .get("deletionTimestamp"), TOLERATION + 15, "evictee evicted")
        stayer = get_pod(server, ns, "stayer")
        assert not stayer["metadata"].get("deletionTimestamp")
        assert ready(stayer) == "False"
        events = server.kubectl("get", "events", "-n", ns).stdout
        assert "TaintManagerEviction" in events

        # back again: the taints go and the node finishes the eviction
        frail = HollowNodes(server, 2, "frail-")
        wait_for(lambda: not server.kjson("get", "node", "frail-0")["spec"].get("taints"),
                 20, "frail-0 untainted")
        wait_for(lambda: get_pod(server, ns, "evictee") is None, 20, "evictee deleted")
    finally:
        frail.stop()


def test_sim_load_follows_its_pods_and_then_the_latency_pods(server, hollow):
    """`skiff sim load` (bench/scheduler.sh's load) on the hollow nodes: every pod of its
    Deployments and every latency pod is followed to Running and the figures are printed."""
    data = os.path.join(server.dir, "data", "server")
    proc = subprocess.run(
        [str(SKIFF), "sim", "load", "--server", server.url,
         "--token-file", os.path.join(data, "admin-token"),
         "--ca-file", os.path.join(data, "tls", "server-ca.crt"),
         "--pods", "30", "--per-deployment", "20", "--server-pid", str(server.proc.pid),
         "--sim-pid", str(hollow.proc.pid), "--latency-pods", "6", "--latency-qps", "20"],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "scheduler: 30/30 pods Running in " in out, out
    assert "peak RSS server " in out, out
    assert "scheduler: latency pods (6, created 20/s on the loaded cluster): 6 Running;" in out, out
    # the load's namespace holds its two Deployments' pods, the latency pods their own
    load_ns = [n["metadata"]["name"] for n in server.kjson("get", "namespaces")["items"]
               if n["metadata"]["name"].startswith("load-")]
    lat = [n for n in load_ns if n.endswith("-latency")]
    assert len(lat) == 1, load_ns
    pods = server.kjson("get", "pods", "-n", lat[0])["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == [f"latency-{i}" for i in range(6)]
    assert all(p["status"].get("phase") == "Running" for p in pods)
    deployments = server.kjson("get", "deployments", "-n", lat[0][:-len("-latency")])["items"]
    assert sorted(d["spec"]["replicas"] for d in deployments) == [10, 20]
    for n in load_ns:
        server.kubectl("delete", "namespace", n, "--wait=false", check=False)


def test_sim_load_refuses_a_bad_latency_rate(server):
    proc = subprocess.run(
        [str(SKIFF), "sim", "load", "--server", server.url, "--token", "x", "--pods", "1",
         "--latency-pods", "3", "--latency-qps", "fast"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--latency-qps 'fast': expected a rate in (0, 10000] per second" in proc.stderr
    proc = subprocess.run(
        [str(SKIFF), "sim", "load", "--server", server.url, "--token", "x", "--pods", "1",
         "--latency-pods", "-2"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--latency-pods -2: expected a count >= 0" in proc.stderr


@pytest.mark.parametrize("argv,message", [
    (["sim", "nodes", "--count", "1", "--server", "https://127.0.0.1:9", "--token", "x",
      "--heartbeat-interval", "10ms"],
     "--heartbeat-interval takes a duration from 100ms to 1h, not '10ms'"),
    (["sim", "nodes", "--count", "1", "--server", "https://127.0.0.1:9", "--token", "x",
      "--status-interval", "1h30x"],
     "--status-interval takes a duration from 100ms to 1h, not '1h30x'"),
    (["sim", "load", "--server", "https://127.0.0.1:9", "--token", "x", "--pods", "1",
      "--stall", "500ms"],
     "--stall takes a duration of 1s or more, not '500ms'"),
    # a bare number is seconds: the grace period is taken, the period is not
    (["server", "--node-monitor-grace-period", "40", "--node-monitor-period", "x"],
     "--node-monitor-period takes a duration of 1s or more such as 5s, not 'x'"),
    (["server", "--node-monitor-grace-period", "forty"],
     "--node-monitor-grace-period takes a duration of 1s or more such as 40s or 2m, "
     "not 'forty'"),
    (["server", "--node-monitor-period", "500ms"],
     "--node-monitor-period takes a duration of 1s or more such as 5s, not '500ms'"),
    (["server", "--default-unreachable-toleration-seconds", "-5"],
     "--default-unreachable-toleration-seconds must not be negative, not -5"),
    (["server", "--node-eviction-rate", "fast"],
     "--node-eviction-rate takes a number of 0 or more, not 'fast'"),
    (["server", "--secondary-node-eviction-rate", "-0.5"],
     "--secondary-node-eviction-rate takes a number of 0 or more, not '-0.5'"),
    (["server", "--unhealthy-zone-threshold", "1.5"],
     "--unhealthy-zone-threshold takes a number from 0 to 1, not '1.5'"),
    (["server", "--large-cluster-size-threshold", "-1"],
     "--large-cluster-size-threshold must not be negative, not -1"),
])
def test_duration_flags_name_the_flag_and_value(argv, message, tmp_path):
    proc = subprocess.run([str(SKIFF)] + argv + (["--data-dir", str(tmp_path)]
                                                  if argv[0] == "server" else []),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
