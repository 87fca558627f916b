# SPDX-License-Identifier: Apache-2.0
"""Cluster networking on three real nodes (each in its own network namespace, joined by a
bridge; `skiff server` plus two `skiff agent`s), through the real kubectl, on SQLite and
on a real etcd: pods on different nodes reach each other by IP and by service name; a
ClusterIP spreads over every ready endpoint; NodePorts answer on every node; readiness
failures leave the endpoints at once; scaling, rolling update and rollback under
continuous traffic lose no request; cluster DNS answers A, SRV, PTR and headless records
and forwards other names to an upstream; a failed node's pods move to the others."""

import json
import os
import time
from pathlib import Path

import pytest

from cluster_env import wait_for
from multinode_env import Cluster

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

DNSUTIL = Path(__file__).with_name("dnsutil.py")
WEB = ("mkdir -p /www && echo $HOSTNAME > /www/index.html && "
       "exec httpd -f -p 8080 -h /www")


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def cluster(request):
    c = Cluster(datastore=request.param if request.param == "etcd" else None,
                dns_upstream="127.0.0.1:5353",
                server_extra=["--node-monitor-grace-period", "10s",
                              "--default-unreachable-toleration-seconds", "5",
                              "--default-not-ready-toleration-seconds", "5"])
    yield c
    c.cleanup()


def web_pod(c, name, node, labels, **extra):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "web", "image": c.image, "command": ["sh", "-c", WEB],
                "ports": [{"containerPort": 8080, "name": "http"}], **extra}]}}


def client_pod(c, name, node, script="sleep 3600"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "c", "image": c.image, "command": ["sh", "-c", script]}]}}


def service(name, selector, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}], **spec}}


def wait_ready(c, *names, timeout=90):
    def ready():
        for n in names:
            p = c.kjson("get", "pod", n)
            cs = p["status"].get("containerStatuses") or []
            if p["status"].get("phase") != "Running" or not all(x["ready"] for x in cs):
                return False
        return True
    wait_for(ready, timeout, f"pods {names} ready")
    return {n: c.kjson("get", "pod", n)["status"]["podIP"] for n in names}


def test_pods_reach_each_other_across_nodes(cluster):
    c = cluster
    c.apply({"apiVersion": "v1", "kind": "List", "items": [
        web_pod(c, "far", "agent2", {"app": "far"}),
        client_pod(c, "near", "agent1"),
        service("far", {"app": "far"})]})
    ips = wait_ready(c, "far", "near")
    assert ips["far"] != ips["near"]
    assert c.exec("near", f"timeout 5 wget -qO- http://{ips['far']}:8080/") == "far\n"
    out = wait_for(lambda: c.exec("near", "timeout 3 wget -qO- http://far/", check=False), 30,
                   "the service by name")
    assert out == "far\n"
    assert c.exec("near", "timeout 5 wget -qO- http://far.default.svc.cluster.local/") == "far\n"


def test_clusterip_spreads_over_every_endpoint(cluster):
    c = cluster
    items = [web_pod(c, f"spread-{n}", n, {"app": "spread"}) for n in c.names]
    items += [service("spread", {"app": "spread"}), client_pod(c, "caller", "agent1")]
    c.apply({"apiVersion": "v1", "kind": "List", "items": items})
    wait_ready(c, "caller", *[f"spread-{n}" for n in c.names])
    wait_for(lambda: len([a for s in c.kjson("get", "endpoints", "spread").get("subsets", [])
                          for a in s.get("addresses", [])]) == 3, 30, "3 endpoints")
    out = c.exec("caller", "for i in $(seq 100); do timeout 3 wget -qO- http://spread/; done",
                 timeout=120)
    seen = out.split()
    assert len(seen) == 100
    assert set(seen) == {f"spread-{n}" for n in c.names}, sorted(set(seen))


def test_nodeport_answers_on_every_node(cluster):
    c = cluster
    c.apply(service("spread-np", {"app": "spread"}, type="NodePort"))
    port = c.kjson("get", "service", "spread-np")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    fetch = ("import urllib.request,sys;print(urllib.request.urlopen("
             "'http://%s:%d/', timeout=5).read().decode(), end='')")
    for n in c.names:
        def get():
            r = c.run(c.lan, "/usr/bin/python3", "-c", fetch % (c.ip[n], port))
            return r.stdout if r.returncode == 0 else None
        assert wait_for(get, 30, f"NodePort on {n}").startswith("spread-")


def test_readiness_failure_leaves_endpoints(cluster):
    c = cluster
    pod = web_pod(c, "flaky", "agent2", {"app": "flaky"},
                  readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]},
                                  "periodSeconds": 1, "failureThreshold": 1})
    pod["spec"]["containers"][0]["command"] = ["sh", "-c", "touch /tmp/ready; " + WEB]
    c.apply({"apiVersion": "v1", "kind": "List", "items": [pod, service("flaky", {"app": "flaky"})]})
    ip = wait_ready(c, "flaky")["flaky"]

    def ready_ips():
        ep = c.kjson("get", "endpoints", "flaky")
        return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses", [])}
    wait_for(lambda: ip in ready_ips(), 30, "the endpoint ready")
    c.exec("flaky", "rm /tmp/ready")
    t0 = time.time()
    wait_for(lambda: ip not in ready_ips(), 30, "the endpoint gone")
    took = time.time() - t0
    print(f"readiness failure to endpoint removal: {took:.2f} s (probe period 1 s)")
    assert took < 5


def test_rollout_under_traffic_loses_no_request(cluster):
    c = cluster
    template = {"metadata": {"labels": {"app": "roll"}}, "spec": {
        "terminationGracePeriodSeconds": 10, "containers": [{
            "name": "web", "image": c.image, "env": [{"name": "VERSION", "value": "v1"}],
            "command": ["sh", "-c", "mkdir -p /www && echo $VERSION > /www/index.html && "
                        "exec httpd -f -p 8080 -h /www"],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}}}]}}
    c.apply({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "roll"},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "roll"}},
                  "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                  "template": template}},
        service("roll", {"app": "roll"}),
        client_pod(c, "hammer", "agent1",
                   "while true; do if timeout 2 wget -qO- http://roll/ > /tmp/r; then "
                   "echo ok $(cat /tmp/r); else echo FAIL; fi; sleep 0.05; done")]})
    c.kubectl("rollout", "status", "deployment/roll", "--timeout=120s", timeout=150)
    wait_ready(c, "hammer")
    wait_for(lambda: "ok v1" in c.kubectl("logs", "hammer").stdout, 30, "traffic flowing")
    c.kubectl("scale", "deployment/roll", "--replicas=5")
    c.kubectl("rollout", "status", "deployment/roll", "--timeout=120s", timeout=150)
    c.kubectl("scale", "deployment/roll", "--replicas=2")
    time.sleep(6)
    c.kubectl("set", "env", "deployment/roll", "VERSION=v2")
    c.kubectl("rollout", "status", "deployment/roll", "--timeout=180s", timeout=200)
    wait_for(lambda: "ok v2" in c.kubectl("logs", "hammer", "--tail", "5").stdout, 30,
             "the new version served")
    c.kubectl("rollout", "undo", "deployment/roll")
    c.kubectl("rollout", "status", "deployment/roll", "--timeout=180s", timeout=200)
    wait_for(lambda: c.kubectl("logs", "hammer", "--tail", "3").stdout.split()[-1] == "v1",
             30, "the old version back")
    time.sleep(6)  # the rolled-back pods' terminations are part of the test too
    log = c.kubectl("logs", "hammer").stdout.splitlines()
    # requests before the service first answered (the client started first) don't count
    first = next(i for i, line in enumerate(log) if line.startswith("ok "))
    fails = [i for i, line in enumerate(log) if line == "FAIL" and i > first]
    assert len(log) > 100 and not fails, (len(log), fails[:10])


def dns(c, name, qtype, tcp=False):
    """Asks the cluster DNS where it listens (the server node's pod bridge): the server's
    own namespace has no route to the service network; pods reach 10.43.0.10 (below)."""
    cidr = c.kjson("get", "node", "server")["spec"]["podCIDR"]
    a, b, cc, _ = cidr.split("/")[0].split(".")
    args = ["/usr/bin/python3", DNSUTIL, "query", f"{a}.{b}.{cc}.1", "53", name, qtype]
    if tcp:
        args.append("tcp")
    r = c.run("server", *args, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_dns(cluster):
    c = cluster
    pods = [web_pod(c, f"hl-{i}", n, {"app": "hl"}) for i, n in enumerate(("agent1", "agent2"))]
    c.apply({"apiVersion": "v1", "kind": "List", "items": pods + [
        service("named", {"app": "hl"}),
        service("hl", {"app": "hl"}, clusterIP="None")]})
    ips = wait_ready(c, "hl-0", "hl-1")
    cip = c.kjson("get", "service", "named")["spec"]["clusterIP"]
    a = wait_for(lambda: dns(c, "named.default.svc.cluster.local", "A")["answer"], 30,
                 "the A record")
    assert [r["value"] for r in a] == [cip]
    srv = dns(c, "_http._tcp.named.default.svc.cluster.local", "SRV")["answer"]
    assert srv[0]["value"]["port"] == 80
    assert srv[0]["value"]["target"] == "named.default.svc.cluster.local."
    ptr = dns(c, ".".join(reversed(cip.split("."))) + ".in-addr.arpa", "PTR")["answer"]
    assert ptr[0]["value"] == "named.default.svc.cluster.local."
    hl = wait_for(lambda: {r["value"] for r in dns(c, "hl.default.svc.cluster.local",
                                                    "A", tcp=True)["answer"]} ==
                  set(ips.values()) or None, 30, "headless A records")
    assert hl
    missing = dns(c, "missing.default.svc.cluster.local", "A")
    assert missing["rcode"] == 3 and missing["authority"][0]["type"] == "SOA"
    fwd = dns(c, "outside.example.test", "A")
    assert [r["value"] for r in fwd["answer"]] == ["192.0.2.53"]
    assert "outside.example.test." in Path(c.upstream_log).read_text()
    # and from a pod, through its resolv.conf (search path) and the service proxy
    c.apply(client_pod(c, "resolver", "agent2"))
    wait_ready(c, "resolver")
    out = c.exec("resolver", "nslookup named.default.svc.cluster.local", check=False)
    assert cip in out, out
    # the C library's resolver with the search path, as applications resolve
    out = c.exec("resolver", "timeout 5 wget -qO- http://named/ 2>&1 || true", check=False)
    assert out.startswith("hl-"), out


def test_dns_statefulset_pod_names(cluster):
    c = cluster
    c.apply({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
         "spec": {"clusterIP": "None", "selector": {"app": "db"},
                  "ports": [{"name": "http", "port": 8080}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
         "spec": {"serviceName": "db", "replicas": 2,
                  "selector": {"matchLabels": {"app": "db"}},
                  "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": "web", "image": c.image,
                                      "command": ["sh", "-c", WEB]}]}}}}]})
    ips = wait_ready(c, "db-0", "db-1", timeout=120)
    for name, ip in ips.items():
        fqdn = f"{name}.db.default.svc.cluster.local"
        a = wait_for(lambda: dns(c, fqdn, "A")["answer"], 30, f"the A record of {fqdn}")
        assert [r["value"] for r in a] == [ip]
    srv = {r["value"]["target"] for r in
           dns(c, "_http._tcp.db.default.svc.cluster.local", "SRV")["answer"]}
    assert srv == {"db-0.db.default.svc.cluster.local.", "db-1.db.default.svc.cluster.local."}
    # a pod's own name resolves inside it (its /etc/hosts names its subdomain too)
    assert c.exec("db-1", "timeout 5 wget -qO- http://db-0.db:8080/") == "db-0\n"


def test_failed_node_loses_its_pods(cluster):
    c = cluster
    c.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "movers"},
             "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "movers"}},
                      "template": {"metadata": {"labels": {"app": "movers"}}, "spec": {
                          "terminationGracePeriodSeconds": 1,
                          "affinity": {"podAntiAffinity": {
                              "preferredDuringSchedulingIgnoredDuringExecution": [{
                                  "weight": 100, "podAffinityTerm": {
                                      "topologyKey": "kubernetes.io/hostname",
                                      "labelSelector": {"matchLabels": {"app": "movers"}}}}]}},
                          "containers": [{"name": "w", "image": c.image,
                                          "command": ["sleep", "3600"]}]}}}})
    c.kubectl("rollout", "status", "deployment/movers", "--timeout=120s", timeout=150)

    def placement():
        items = c.kjson("get", "pods", "-l", "app=movers")["items"]
        return {p["metadata"]["name"]: (p["spec"].get("nodeName"), p["status"].get("phase"),
                                        bool(p["metadata"].get("deletionTimestamp")))
                for p in items}
    assert any(node == "agent2" for node, _, _ in placement().values()), placement()
    t0 = time.time()
    c.stop("agent2", signal_kill())
    c.link_down("agent2")

    def moved():
        live = [(n, ph) for n, ph, gone in placement().values() if not gone]
        running = [n for n, ph in live if ph == "Running" and n != "agent2"]
        return len(running) >= 3
    wait_for(moved, 90, "the pods of the failed node running elsewhere")
    print(f"failed node to pods running elsewhere: {time.time() - t0:.1f} s "
          f"(grace 10 s + toleration 5 s)")
    node = c.kjson("get", "node", "agent2")
    assert any(t["key"] == "node.kubernetes.io/unreachable"
               for t in node["spec"].get("taints", []))


def signal_kill():
    import signal
    return signal.SIGKILL
