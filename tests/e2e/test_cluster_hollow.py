# SPDX-License-Identifier: Apache-2.0
"""Scheduler and controllers on hollow nodes, through the real kubectl.

Two `skiff sim nodes` processes play five hosts (zones a and b); killing one fails its
hosts. The node lifecycle flags are shortened so failures play out in seconds.
"""

import json
import threading
import time
import uuid

import pytest

from cluster_env import KUBECTL, Server, Sim, wait_for

GRACE = 4       # --node-monitor-grace-period
TOLERATION = 5  # --default-{not-ready,unreachable}-toleration-seconds


@pytest.fixture(scope="module")
def cluster():
    s = Server(control_plane=True, extra=["--node-monitor-grace-period", f"{GRACE}s", "--node-monitor-period", "1s",
                      "--default-unreachable-toleration-seconds", str(TOLERATION),
                      "--default-not-ready-toleration-seconds", str(TOLERATION)])
    beat = ["--heartbeat-interval", "1s"]
    sims = [Sim(s, 3, "hollow-a-", ["--zones", "zone-a", *beat]),
            Sim(s, 2, "hollow-b-", ["--zones", "zone-b", "--first-index", "3", *beat])]
    yield s, sims
    for sim in sims:
        sim.stop()
    s.cleanup()


@pytest.fixture
def ns(cluster):
    s, _ = cluster
    name = f"h-{uuid.uuid4().hex[:8]}"
    s.kubectl("create", "namespace", name)
    yield name
    s.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pods(s, ns, selector=None):
    args = ["get", "pods", "-n", ns, "-o", "json"] + (["-l", selector] if selector else [])
    return json.loads(s.kubectl(*args).stdout)["items"]


def running(p):
    return p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")


def deployment(name, replicas, image="busybox:1.36", extra_spec=None, strategy=None):
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "main", "image": image}]}}}}
    if extra_spec:
        d["spec"]["template"]["spec"].update(extra_spec)
    if strategy:
        d["spec"]["strategy"] = strategy
    return json.dumps(d)


def test_deployment_scales_and_rolls(cluster, ns):
    s, _ = cluster
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("web", 3, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}))
    s.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=60s", timeout=90)
    assert len([p for p in pods(s, ns, "app=web") if running(p)]) == 3
    s.kubectl("scale", "-n", ns, "deploy/web", "--replicas=6")
    wait_for(lambda: len([p for p in pods(s, ns, "app=web") if running(p)]) == 6, 30,
             "6 running pods")
    s.kubectl("scale", "-n", ns, "deploy/web", "--replicas=4")
    wait_for(lambda: len(pods(s, ns, "app=web")) == 4, 30, "4 pods")

    # a rolling update never drops below replicas - maxUnavailable ready pods
    low, stop = [4], threading.Event()

    def watch_ready():
        while not stop.is_set():
            d = json.loads(s.kubectl("get", "-n", ns, "deploy", "web", "-o", "json").stdout)
            low[0] = min(low[0], d.get("status", {}).get("availableReplicas", 0))
            time.sleep(0.05)
    t = threading.Thread(target=watch_ready)
    t.start()
    try:
        s.kubectl("set", "image", "-n", ns, "deploy/web", "main=busybox:1.37")
        s.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=90s", timeout=120)
    finally:
        stop.set()
        t.join()
    assert low[0] >= 3
    images = {p["spec"]["containers"][0]["image"] for p in pods(s, ns, "app=web") if running(p)}
    assert images == {"busybox:1.37"}
    hist = s.kubectl("rollout", "history", "-n", ns, "deploy/web").stdout
    assert "1" in hist and "2" in hist

    s.kubectl("rollout", "undo", "-n", ns, "deploy/web")
    s.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=90s", timeout=120)
    d = json.loads(s.kubectl("get", "-n", ns, "deploy", "web", "-o", "json").stdout)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    rs = json.loads(s.kubectl("get", "-n", ns, "rs", "-o", "json").stdout)["items"]
    assert len(rs) == 2  # the first template's ReplicaSet came back

    # cascading delete: replica sets and pods go with the deployment
    s.kubectl("delete", "-n", ns, "deploy", "web")
    wait_for(lambda: not pods(s, ns, "app=web"), 30, "pods of the deleted deployment")


def test_orphaning_delete_keeps_pods(cluster, ns):
    s, _ = cluster
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("keep", 2))
    s.kubectl("rollout", "status", "-n", ns, "deploy/keep", "--timeout=60s", timeout=90)
    old = json.loads(s.kubectl("get", "-n", ns, "rs", "-l", "app=keep", "-o", "json").stdout)["items"]
    assert len(old) == 1
    old_uid = old[0]["metadata"]["uid"]
    # --wait=false: the deployment recreates its replica set under the same name at once,
    # and kubectl's wait can list that new object between its GET of the old one and its
    # watch, and then waits for the new one to go (a client race; upstream's too)
    s.kubectl("delete", "-n", ns, "rs", "-l", "app=keep", "--cascade=orphan", "--wait=false")

    def adopted():
        rs = json.loads(s.kubectl("get", "-n", ns, "rs", "-l", "app=keep", "-o",
                                  "json").stdout)["items"]
        if [r for r in rs if r["metadata"]["uid"] == old_uid] or len(rs) != 1:
            return None
        new_uid = rs[0]["metadata"]["uid"]
        owners = [[o["uid"] for o in p["metadata"].get("ownerReferences", [])]
                  for p in pods(s, ns, "app=keep")]
        return owners if owners and all(o == [new_uid] for o in owners) else None
    # the old replica set is gone and its orphans are adopted by the new one: still 2 pods
    owners = wait_for(adopted, 30, "the orphans adopted by a new replica set")
    assert len(owners) == 2
    time.sleep(1)
    assert len(pods(s, ns, "app=keep")) == 2


def test_requests_fit_or_stay_pending(cluster, ns):
    s, _ = cluster
    big = {"containers": [{"name": "main", "image": "busybox:1.36",
                           "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}]}
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("big", 7, extra_spec=big))
    # hollow nodes have 4 cpus: one such pod per node, 5 nodes
    try:
        wait_for(lambda: len([p for p in pods(s, ns, "app=big") if running(p)]) == 5, 60,
                 "5 big pods running")
    except AssertionError:
        print(s.kubectl("get", "pods", "-A", "-o", "wide").stdout)
        print(s.kubectl("describe", "nodes").stdout[-6000:])
        raise
    nodes = {p["spec"]["nodeName"] for p in pods(s, ns, "app=big") if running(p)}
    assert len(nodes) == 5
    pending = [p for p in pods(s, ns, "app=big") if p["status"].get("phase") == "Pending"]
    assert len(pending) == 2

    def reason():
        ev = json.loads(s.kubectl("get", "events", "-n", ns, "--field-selector",
                                  f"involvedObject.name={pending[0]['metadata']['name']}",
                                  "-o", "json").stdout)["items"]
        return [e for e in ev if e["reason"] == "FailedScheduling"]
    ev = wait_for(reason, 30, "a FailedScheduling event")
    assert "0/5 nodes are available: 5 Insufficient cpu" in ev[0]["message"]
    p = json.loads(s.kubectl("get", "pod", "-n", ns, pending[0]["metadata"]["name"], "-o",
                             "json").stdout)
    cond = [c for c in p["status"]["conditions"] if c["type"] == "PodScheduled"][0]
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    s.kubectl("scale", "-n", ns, "deploy/big", "--replicas=5")


def test_taints_tolerations_affinity_spread(cluster, ns):
    s, sims = cluster
    node = sims[0].names[0]
    s.kubectl("taint", "nodes", node, "dedicated=db:NoSchedule")
    try:
        s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("plain", 6))
        wait_for(lambda: len([p for p in pods(s, ns, "app=plain") if running(p)]) == 6, 60,
                 "6 running")
        assert node not in {p["spec"]["nodeName"] for p in pods(s, ns, "app=plain")}

        tol = {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db",
                                "effect": "NoSchedule"}],
               "nodeSelector": {"kubernetes.io/hostname": node}}
        s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("db", 1, extra_spec=tol))
        wait_for(lambda: [p["spec"].get("nodeName") for p in pods(s, ns, "app=db")
                          if running(p)] == [node], 60, "the db pod on the tainted node")
    finally:
        s.kubectl("taint", "nodes", node, "dedicated=db:NoSchedule-")

    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "solo"}},
         "topologyKey": "kubernetes.io/hostname"}]}}}
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("solo", 6, extra_spec=anti))
    wait_for(lambda: len([p for p in pods(s, ns, "app=solo") if running(p)]) == 5, 60,
             "5 solo pods")
    placed = [p["spec"]["nodeName"] for p in pods(s, ns, "app=solo") if running(p)]
    assert len(set(placed)) == 5
    assert len([p for p in pods(s, ns, "app=solo") if p["status"].get("phase") == "Pending"]) == 1

    spread = {"topologySpreadConstraints": [{"maxSkew": 1,
                                             "topologyKey": "topology.kubernetes.io/zone",
                                             "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": {"matchLabels": {"app": "zonal"}}}]}
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("zonal", 4, extra_spec=spread))
    wait_for(lambda: len([p for p in pods(s, ns, "app=zonal") if running(p)]) == 4, 60,
             "4 zonal pods")
    zones = {}
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for n in json.loads(s.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    for p in pods(s, ns, "app=zonal"):
        z = nodes[p["spec"]["nodeName"]]
        zones[z] = zones.get(z, 0) + 1
    assert zones == {"zone-a": 2, "zone-b": 2}


def test_job_cronjob_daemonset_statefulset(cluster, ns):
    s, _ = cluster
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "ok"},
           "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
               "restartPolicy": "Never",
               "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}]}}}}
    s.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job))
    s.kubectl("wait", "-n", ns, "--for=condition=Complete", "job/ok", "--timeout=60s", timeout=90)
    j = json.loads(s.kubectl("get", "-n", ns, "job", "ok", "-o", "json").stdout)
    assert j["status"]["succeeded"] == 3

    job["metadata"]["name"] = "bad"
    job["spec"] = {"backoffLimit": 2, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox:1.36", "command": ["false"]}]}}}
    s.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job))
    s.kubectl("wait", "-n", ns, "--for=condition=Failed", "job/bad", "--timeout=90s", timeout=120)
    j = json.loads(s.kubectl("get", "-n", ns, "job", "bad", "-o", "json").stdout)
    reasons = [c["reason"] for c in j["status"]["conditions"] if c["type"] == "Failed"]
    assert reasons == ["BackoffLimitExceeded"] and j["status"]["failed"] == 3

    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}}}
    s.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(ds))
    wait_for(lambda: len({p["spec"].get("nodeName") for p in pods(s, ns, "app=agent")
                          if running(p)}) == 5, 60, "one daemon pod per node")

    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"serviceName": "db", "replicas": 3,
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "d", "image": "busybox:1.36"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}]}}
    s.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sts))
    s.kubectl("rollout", "status", "-n", ns, "sts/db", "--timeout=90s", timeout=120)
    names = sorted(p["metadata"]["name"] for p in pods(s, ns, "app=db"))
    assert names == ["db-0", "db-1", "db-2"]
    pvcs = json.loads(s.kubectl("get", "pvc", "-n", ns, "-o", "json").stdout)["items"]
    assert sorted(p["metadata"]["name"] for p in pvcs) == ["data-db-0", "data-db-1", "data-db-2"]

    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
          "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
              "restartPolicy": "Never",
              "containers": [{"name": "t", "image": "busybox:1.36", "command": ["true"]}]}}}}}}
    s.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(cj))
    c = json.loads(s.kubectl("get", "-n", ns, "cronjob", "tick", "-o", "json").stdout)
    assert c["spec"]["concurrencyPolicy"] == "Allow"


def test_nodes_get_distinct_pod_networks(cluster, ns):
    s, _ = cluster
    nodes = json.loads(s.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    cidrs = [n["spec"]["podCIDR"] for n in nodes]
    assert len(set(cidrs)) == len(cidrs)
    assert all(c.startswith("10.42.") and c.endswith(".0/24") for c in cidrs)
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("ips", 5))
    wait_for(lambda: len([p for p in pods(s, ns, "app=ips") if running(p)]) == 5, 60, "5 pods")
    by_node = {n["metadata"]["name"]: n["spec"]["podCIDR"].rsplit(".", 1)[0] + "."
               for n in nodes}
    for p in pods(s, ns, "app=ips"):
        assert p["status"]["podIP"].startswith(by_node[p["spec"]["nodeName"]])


def test_failed_node_loses_its_pods(cluster, ns):
    s, sims = cluster
    s.kubectl("apply", "-n", ns, "-f", "-", input=deployment("moving", 5))
    wait_for(lambda: len([p for p in pods(s, ns, "app=moving") if running(p)]) == 5, 60,
             "5 running")
    victim = sims[1]
    on_b = [p for p in pods(s, ns, "app=moving") if p["spec"]["nodeName"] in victim.names]
    assert on_b, "the spread put nothing on the b nodes"
    t0 = time.time()
    victim.kill()

    def moved():
        ps = [p for p in pods(s, ns, "app=moving") if running(p)]
        return len(ps) == 5 and not [p for p in ps if p["spec"]["nodeName"] in victim.names]
    wait_for(moved, GRACE + TOLERATION + 40, "pods recreated off the failed nodes")
    elapsed = time.time() - t0
    n = json.loads(s.kubectl("get", "node", victim.names[0], "-o", "json").stdout)
    taints = {t["key"] for t in n["spec"].get("taints", [])}
    assert "node.kubernetes.io/unreachable" in taints
    ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
    assert ready["status"] == "Unknown"
    assert elapsed >= GRACE  # not before the grace period
