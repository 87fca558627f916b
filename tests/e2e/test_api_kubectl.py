# SPDX-License-Identifier: Apache-2.0
"""The real kubectl against `skiff server`, on SQLite and on a real etcd.

Each test works in its own namespace so the tests of one module share a server.
"""

import json
import os
import subprocess
import textwrap
import time
import uuid

import pytest
import yaml

from cluster_env import ETCD, KUBECTL, Etcd, Server, wait_for

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")


def running_server(backend, control_plane=False):
    etcd = None
    if backend == "etcd":
        if not ETCD.exists():
            pytest.skip("etcd is not installed")
        etcd = Etcd()
    s = Server(datastore=etcd.url if etcd else None, control_plane=control_plane)
    yield s
    s.cleanup()
    if etcd:
        etcd.stop()


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def server(request):
    yield from running_server(request.param)


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def cp_server(request):
    """With the controllers: garbage collection and namespace deletion are theirs."""
    yield from running_server(request.param, control_plane=True)


def make_ns(server):
    name = f"t-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    yield name
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def ns(server):
    yield from make_ns(server)


@pytest.fixture
def cp_ns(cp_server):
    yield from make_ns(cp_server)


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "infinity"]
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {tier: config}
data:
  greeting: hello
"""


def test_apply_multi_document_and_reapply(server, ns, tmp_path):
    f = tmp_path / "app.yaml"
    f.write_text("---\n".join([DEPLOY, SERVICE, CONFIGMAP]))
    out = server.kubectl("apply", "-n", ns, "-f", str(f)).stdout
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    assert "configmap/settings created" in out

    d = server.kjson("get", "-n", ns, "deployment", "web")
    assert d["metadata"]["generation"] == 1
    assert d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == "25%"
    assert "kubectl.kubernetes.io/last-applied-configuration" in d["metadata"]["annotations"]
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    svc = server.kjson("get", "-n", ns, "service", "web")
    assert svc["spec"]["clusterIP"].startswith("10.43.")
    assert svc["spec"]["ports"][0]["protocol"] == "TCP"

    # an edit re-applied: the patch merges containers by name and env by name
    edited = DEPLOY.replace("replicas: 2", "replicas: 3").replace(
        "image: busybox:1.36\n        command: [\"httpd\"", "image: busybox:1.37\n        command: [\"httpd\"").replace(
        "        - {name: B, value: \"2\"}\n", "")
    f.write_text(edited)
    out = server.kubectl("apply", "-n", ns, "-f", str(f)).stdout
    assert "deployment.apps/web configured" in out
    d = server.kjson("get", "-n", ns, "deployment", "web")
    assert d["spec"]["replicas"] == 3
    assert d["metadata"]["generation"] == 2
    cs = d["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["httpd", "sidecar"]
    assert cs[0]["image"] == "busybox:1.37"
    assert cs[0]["env"] == [{"name": "A", "value": "1"}]
    assert cs[1]["image"] == "busybox:1.36"

    # unchanged: nothing written
    rv = d["metadata"]["resourceVersion"]
    out = server.kubectl("apply", "-n", ns, "-f", str(f)).stdout
    assert "deployment.apps/web unchanged" in out
    assert server.kjson("get", "-n", ns, "deployment", "web")["metadata"]["resourceVersion"] == rv


def test_apply_directory(server, ns, tmp_path):
    (tmp_path / "a.yaml").write_text(CONFIGMAP)
    (tmp_path / "b.yaml").write_text(SERVICE)
    out = server.kubectl("apply", "-n", ns, "-f", str(tmp_path)).stdout
    assert "configmap/settings created" in out and "service/web created" in out
    names = server.kubectl("get", "-n", ns, "cm,svc", "-o", "name").stdout.split()
    assert "configmap/settings" in names and "service/web" in names


def test_get_outputs(server, ns):
    server.kubectl("create", "-n", ns, "configmap", "one", "--from-literal=k=v")
    server.kubectl("create", "-n", ns, "deployment", "app", "--image=busybox:1.36",
                   "--replicas=2")
    out = server.kubectl("get", "-n", ns, "deployments").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:2] == ["app", "0/2"]
    wide = server.kubectl("get", "-n", ns, "deployments", "-o", "wide").stdout
    assert wide.splitlines()[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert "app=app" in wide
    y = yaml.safe_load(server.kubectl("get", "-n", ns, "cm", "one", "-o", "yaml").stdout)
    assert y["data"] == {"k": "v"} and y["kind"] == "ConfigMap"
    jp = server.kubectl("get", "-n", ns, "deploy", "app", "-o",
                        "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert jp == "busybox:1.36"
    every = server.kubectl("get", "namespaces").stdout
    for name in ("default", "kube-system", "kube-public", "kube-node-lease", ns):
        assert name in every
    allns = server.kubectl("get", "cm", "-A").stdout
    assert allns.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [ns, "one"] for line in allns.splitlines())


def test_selectors(server, ns):
    for name, tier in [("a", "web"), ("b", "web"), ("c", "db")]:
        server.kubectl("create", "-n", ns, "configmap", name)
        server.kubectl("label", "-n", ns, "configmap", name, f"tier={tier}")
    got = lambda *sel: sorted(server.kubectl("get", "-n", ns, "cm", *sel, "-o",  # noqa: E731
                                             "jsonpath={.items[*].metadata.name}").stdout.split())
    assert got("-l", "tier=web") == ["a", "b"]
    assert got("-l", "tier!=web") == ["c"] + (["kube-root-ca.crt"] if "kube-root-ca.crt" in got() else [])
    assert got("-l", "tier in (db)") == ["c"]
    assert got("-l", "tier notin (db),tier") == ["a", "b"]
    assert got("-l", "!tier") == [n for n in got() if n not in ("a", "b", "c")]
    assert got("--field-selector", "metadata.name=b") == ["b"]
    assert got("--field-selector", "metadata.name!=b", "-l", "tier") == ["a", "c"]
    p = server.kubectl("get", "-n", ns, "cm", "--field-selector", "spec.foo=x", check=False)
    assert p.returncode != 0 and "field label not supported: spec.foo" in p.stderr
    p = server.kubectl("get", "-n", ns, "cm", "-l", "tier in (", check=False)
    assert p.returncode != 0


def test_field_selectors_of_counts_and_flags(server, ns):
    # upstream's field sets format a bool or a count whether the object holds it or not,
    # and a Job's status.successful is its status.succeeded
    cordoned, schedulable = f"{ns}-cordoned", f"{ns}-open"
    nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": cordoned},
              "spec": {"unschedulable": True}},
             {"apiVersion": "v1", "kind": "Node", "metadata": {"name": schedulable}}]
    server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                          "items": nodes}))
    try:
        def node_names(sel):
            out = server.kubectl("get", "nodes", "--field-selector", sel, "-o",
                                 "jsonpath={.items[*].metadata.name}").stdout.split()
            return sorted(n for n in out if n in (cordoned, schedulable))
        assert node_names("spec.unschedulable=true") == [cordoned]
        assert node_names("spec.unschedulable=false") == [schedulable]
        assert node_names("spec.unschedulable!=true") == [schedulable]
    finally:
        server.kubectl("delete", "node", cordoned, schedulable)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "done"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "c", "image": "busybox", "command": ["true"]}]}}}}
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job))
    job["metadata"]["name"] = "fresh"
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job))
    server.kubectl("patch", "-n", ns, "job", "done", "--subresource=status", "--type=merge",
                   "-p", '{"status":{"succeeded":2}}')

    def job_names(sel):
        return sorted(server.kubectl("get", "-n", ns, "jobs", "--field-selector", sel, "-o",
                                     "jsonpath={.items[*].metadata.name}").stdout.split())
    assert job_names("status.successful=2") == ["done"]
    assert job_names("status.successful=0") == ["fresh"]
    assert job_names("status.successful!=0") == ["done"]


def test_label_annotate_patch(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY)
    server.kubectl("label", "-n", ns, "deploy", "web", "team=blue")
    p = server.kubectl("label", "-n", ns, "deploy", "web", "team=red", check=False)
    assert p.returncode != 0 and "already has a value (blue)" in p.stderr
    server.kubectl("label", "-n", ns, "deploy", "web", "team=red", "--overwrite")
    server.kubectl("annotate", "-n", ns, "deploy", "web", "note=first")
    d = server.kjson("get", "-n", ns, "deploy", "web")
    assert d["metadata"]["labels"]["team"] == "red"
    assert d["metadata"]["annotations"]["note"] == "first"
    assert d["metadata"]["generation"] == 1  # metadata changes leave generation alone

    # strategic merge: containers merge by name
    server.kubectl("patch", "-n", ns, "deploy", "web", "-p",
                   json.dumps({"spec": {"template": {"spec": {"containers": [
                       {"name": "sidecar", "image": "busybox:1.37"}]}}}}))
    cs = server.kjson("get", "-n", ns, "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in cs] == [("httpd", "busybox:1.36"),
                                                      ("sidecar", "busybox:1.37")]
    # JSON merge patch: the list is replaced
    server.kubectl("patch", "-n", ns, "deploy", "web", "--type", "merge", "-p",
                   json.dumps({"metadata": {"labels": {"team": None}}}))
    assert "team" not in server.kjson("get", "-n", ns, "deploy", "web")["metadata"]["labels"]
    # JSON patch
    server.kubectl("patch", "-n", ns, "deploy", "web", "--type", "json", "-p",
                   json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 5},
                               {"op": "add", "path": "/metadata/labels/x", "value": "y"}]))
    d = server.kjson("get", "-n", ns, "deploy", "web")
    assert d["spec"]["replicas"] == 5 and d["metadata"]["labels"]["x"] == "y"
    assert d["metadata"]["generation"] == 3
    p = server.kubectl("patch", "-n", ns, "deploy", "web", "--type", "json", "-p",
                       json.dumps([{"op": "test", "path": "/spec/replicas", "value": 1}]),
                       check=False)
    assert p.returncode != 0


def test_scale_and_status_subresource(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY)
    out = server.kubectl("scale", "-n", ns, "deploy", "web", "--replicas=4").stdout
    assert "deployment.apps/web scaled" in out
    assert server.kjson("get", "-n", ns, "deploy", "web")["spec"]["replicas"] == 4
    code, scale = server.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale")
    assert code == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 4
    assert scale["status"]["selector"] == "app=web"
    # status is written only through /status
    server.kubectl("patch", "-n", ns, "deploy", "web", "--type", "merge", "-p",
                   '{"status":{"replicas":7}}')
    assert "replicas" not in server.kjson("get", "-n", ns, "deploy", "web").get("status", {})
    server.kubectl("patch", "-n", ns, "deploy", "web", "--subresource=status", "--type",
                   "merge", "-p", '{"status":{"replicas":7}}')
    d = server.kjson("get", "-n", ns, "deploy", "web")
    assert d["status"]["replicas"] == 7 and d["metadata"]["generation"] == 2


def test_delete_variants(cp_server, cp_ns):
    server, ns = cp_server, cp_ns
    for name in ("a", "b", "c"):
        server.kubectl("create", "-n", ns, "configmap", name)
    server.kubectl("label", "-n", ns, "cm", "a", "b", "gone=yes")
    out = server.kubectl("delete", "-n", ns, "cm", "-l", "gone=yes").stdout
    assert 'configmap "a" deleted' in out and 'configmap "b" deleted' in out
    names = server.kubectl("get", "-n", ns, "cm", "-o", "name").stdout.split()
    assert "configmap/c" in names and "configmap/a" not in names

    # a pod not on a node goes at once, whatever the grace period
    server.kubectl("run", "-n", ns, "p", "--image=busybox:1.36", "--restart=Never")
    server.kubectl("delete", "-n", ns, "pod", "p", "--grace-period=5")
    assert server.kubectl("get", "-n", ns, "pod", "p", check=False).returncode != 0

    # --cascade=orphan keeps the dependent and drops its owner reference
    server.kubectl("create", "-n", ns, "configmap", "owner")
    uid = server.kjson("get", "-n", ns, "cm", "owner")["metadata"]["uid"]
    dep = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "dep", "ownerReferences": [
               {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}}
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(dep))
    server.kubectl("delete", "-n", ns, "cm", "owner", "--cascade=orphan", timeout=30)
    d = server.kjson("get", "-n", ns, "cm", "dep")
    assert not d["metadata"].get("ownerReferences")

    # background cascade: the dependent of a deleted owner goes too
    server.kubectl("create", "-n", ns, "configmap", "owner2")
    uid = server.kjson("get", "-n", ns, "cm", "owner2")["metadata"]["uid"]
    dep["metadata"] = {"name": "dep2", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": uid}]}
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(dep))
    server.kubectl("delete", "-n", ns, "cm", "owner2")
    wait_for(lambda: server.kubectl("get", "-n", ns, "cm", "dep2", check=False).returncode != 0,
             10, "the dependent to be collected")


def test_finalizers_hold_deletion(server, ns):
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(cm))
    server.kubectl("delete", "-n", ns, "cm", "held", "--wait=false")
    d = server.kjson("get", "-n", ns, "cm", "held")
    assert d["metadata"]["deletionTimestamp"]
    # deleting it again changes nothing: no new revision, the same object back
    code, again = server.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/held")
    assert code == 200
    assert again["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]
    server.kubectl("patch", "-n", ns, "cm", "held", "--type", "json", "-p",
                   '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert server.kubectl("get", "-n", ns, "cm", "held", check=False).returncode != 0


def test_collection_delete_of_many_objects(server, ns):
    # more than one thread's worth: the server splits a long collection delete
    items = [{"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": f"many-{i:03d}", "labels": {"batch": "a" if i % 3 else "b"},
                           **({"finalizers": ["example.com/hold"]} if i == 7 else {})}}
             for i in range(150)]
    server.kubectl("apply", "-n", ns, "-f", "-",
                   input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    code, left = server.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps?labelSelector=batch%3Da")
    assert code == 200
    # what is left of the selection: the one a finalizer holds, marked
    assert [o["metadata"]["name"] for o in left["items"]] == ["many-007"]
    assert left["items"][0]["metadata"]["deletionTimestamp"]
    names = server.kubectl("get", "-n", ns, "cm", "-o", "name").stdout.split()
    many = sorted(n for n in names if n.startswith("configmap/many-"))
    assert many == sorted([f"configmap/many-{i:03d}" for i in range(150) if i % 3 == 0]
                          + ["configmap/many-007"])
    server.kubectl("patch", "-n", ns, "cm", "many-007", "--type", "json", "-p",
                   '[{"op":"remove","path":"/metadata/finalizers"}]')


def test_edit_with_editor(server, ns, tmp_path):
    server.kubectl("create", "-n", ns, "configmap", "ed", "--from-literal=color=red")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: red/color: blue/' \"$1\"\n")
    editor.chmod(0o755)
    out = server.kubectl("edit", "-n", ns, "cm", "ed", env={"KUBE_EDITOR": str(editor)}).stdout
    assert "configmap/ed edited" in out
    assert server.kjson("get", "-n", ns, "cm", "ed")["data"]["color"] == "blue"


def test_wait_and_watch(server, ns):
    server.kubectl("create", "-n", ns, "configmap", "w1")
    watcher = subprocess.Popen([KUBECTL, "--kubeconfig", server.kubeconfig, "get", "-n", ns,
                                "cm", "-w", "--output-watch-events"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        server.kubectl("create", "-n", ns, "configmap", "w2")
        server.kubectl("label", "-n", ns, "cm", "w2", "x=y")
        server.kubectl("delete", "-n", ns, "cm", "w2")
        time.sleep(1.5)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    lines = [line.split()[:2] for line in out.splitlines()]
    assert lines[0] == ["EVENT", "NAME"]
    assert ["ADDED", "w1"] in lines
    assert lines[-3:] == [["ADDED", "w2"], ["MODIFIED", "w2"], ["DELETED", "w2"]]

    server.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY)
    waiter = subprocess.Popen([KUBECTL, "--kubeconfig", server.kubeconfig, "wait", "-n", ns,
                               "--for=jsonpath={.spec.replicas}=6", "deploy/web",
                               "--timeout=20s"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    server.kubectl("scale", "-n", ns, "deploy", "web", "--replicas=6")
    assert waiter.wait(timeout=30) == 0
    server.kubectl("patch", "-n", ns, "deploy", "web", "--subresource=status", "--type=merge",
                   "-p", json.dumps({"status": {"conditions": [
                       {"type": "Available", "status": "True", "reason": "Test"}]}}))
    server.kubectl("wait", "-n", ns, "--for=condition=Available", "deploy/web", "--timeout=10s")
    deleter = subprocess.Popen([KUBECTL, "--kubeconfig", server.kubeconfig, "wait", "-n", ns,
                                "--for=delete", "deploy/web", "--timeout=20s"])
    time.sleep(0.5)
    server.kubectl("delete", "-n", ns, "deploy", "web", "--wait=false")
    assert deleter.wait(timeout=30) == 0


def test_describe(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY)
    out = server.kubectl("describe", "-n", ns, "deploy", "web").stdout
    assert "Name:" in out and "web" in out
    assert "Replicas:" in out and "2 desired" in out
    assert "RollingUpdate" in out and "busybox:1.36" in out
    server.kubectl("run", "-n", ns, "solo", "--image=busybox:1.36", "--restart=Never")
    out = server.kubectl("describe", "-n", ns, "pod", "solo").stdout
    assert "Status:" in out and "Pending" in out and "QoS Class:" in out


def test_discovery_explain_and_auth(server):
    out = server.kubectl("api-resources").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["deployments"][1] == "deploy" and rows["deployments"][2] == "apps/v1"
    assert rows["pods"][1] == "po" and rows["pods"][-1] == "Pod"
    assert rows["namespaces"][-2] == "false"
    for name in ("services", "endpoints", "nodes", "configmaps", "secrets", "events",
                 "serviceaccounts", "persistentvolumes", "persistentvolumeclaims",
                 "replicasets", "daemonsets", "statefulsets", "jobs", "cronjobs", "leases",
                 "endpointslices"):
        assert name in rows, name
    out = server.kubectl("explain", "deployment.spec.replicas").stdout
    assert "KIND:" in out and "Deployment" in out and "replicas" in out
    out = server.kubectl("explain", "pods.spec.containers").stdout
    assert "image" in out and "FIELDS" in out
    assert server.kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    v = json.loads(server.kubectl("version", "-o", "json").stdout)
    assert v["serverVersion"]["major"] == "1"


def test_dry_run_server(server, ns):
    out = server.kubectl("create", "-n", ns, "configmap", "dry", "--dry-run=server",
                         "-o", "json").stdout
    assert json.loads(out)["metadata"]["name"] == "dry"
    assert server.kubectl("get", "-n", ns, "cm", "dry", check=False).returncode != 0
    out = server.kubectl("apply", "-n", ns, "--dry-run=server", "-f", "-", input=DEPLOY).stdout
    assert "(server dry run)" in out
    assert server.kubectl("get", "-n", ns, "deploy", "web", check=False).returncode != 0


def test_errors_as_upstream(server, ns, tmp_path):
    p = server.kubectl("apply", "-n", ns, "-f", "-", input="kind: [unclosed\n", check=False)
    assert p.returncode != 0 and "error" in p.stderr.lower()

    p = server.kubectl("apply", "-n", ns, "-f", "-", check=False,
                       input="apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n")
    assert p.returncode != 0 and 'no matches for kind "Widget"' in p.stderr

    bad = DEPLOY.replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n")
    p = server.kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
    assert p.returncode != 0 and 'unknown field "spec.replicaz"' in p.stderr

    p = server.kubectl("create", "-n", ns, "configmap", "Bad_Name", check=False)
    assert p.returncode != 0
    assert 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in p.stderr

    nosel = DEPLOY.replace("    matchLabels: {app: web}", "    matchLabels: {app: other}")
    p = server.kubectl("apply", "-n", ns, "-f", "-", input=nosel, check=False)
    assert p.returncode != 0
    assert "`selector` does not match template `labels`" in p.stderr

    p = server.kubectl("create", "-n", ns, "configmap", "dup")
    p = server.kubectl("create", "-n", ns, "configmap", "dup", check=False)
    assert p.returncode != 0 and 'configmaps "dup" already exists' in p.stderr

    p = server.kubectl("get", "-n", ns, "cm", "missing", check=False)
    assert p.returncode != 0 and 'configmaps "missing" not found' in p.stderr

    # a stale update conflicts
    cm = server.kjson("get", "-n", ns, "cm", "dup")
    server.kubectl("label", "-n", ns, "cm", "dup", "v=2")
    cm["data"] = {"x": "y"}
    f = tmp_path / "stale.json"
    f.write_text(json.dumps(cm))
    p = server.kubectl("replace", "-f", str(f), check=False)
    assert p.returncode != 0
    assert "the object has been modified; please apply your changes" in p.stderr

    p = server.kubectl("create", "namespace", "nope-" + ns, "--dry-run=client", "-o", "name")
    p = server.kubectl("create", "-n", "does-not-exist", "configmap", "x", check=False)
    assert p.returncode != 0 and 'namespaces "does-not-exist" not found' in p.stderr


def test_http_status_codes(server, ns):
    code, st = server.request("GET", "/api/v1/namespaces", auth=False)
    assert code == 401 and st["reason"] == "Unauthorized"
    code, st = server.request("GET", "/api/v1/namespaces", token="wrong")
    assert code == 401
    code, _ = server.request("GET", "/healthz", auth=False)
    assert code == 200
    # a body above 3 MiB is refused from its Content-Length, before it is sent
    c = server.connection()
    c.putrequest("POST", f"/api/v1/namespaces/{ns}/configmaps")
    c.putheader("Authorization", f"Bearer {server.token}")
    c.putheader("Content-Type", "application/json")
    c.putheader("Content-Length", str(4 << 20))
    c.endheaders()
    r = c.getresponse()
    st = json.loads(r.read())
    c.close()
    assert r.status == 413 and st["reason"] == "RequestEntityTooLarge"
    # ... and so is one that turns out larger than it said it would be: chunked
    big = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                      "data": {"x": "a" * (4 << 20)}}).encode()
    c = server.connection()
    try:
        c.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body=iter([big[:1 << 20]] * 4),
                  headers={"Authorization": f"Bearer {server.token}",
                           "Content-Type": "application/json"}, encode_chunked=True)
        r = c.getresponse()
        assert r.status == 413
    except OSError:
        pass  # the server may close the connection before the client has sent it all
    c.close()
    code, _ = server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/big")
    assert code == 404
    code, st = server.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                              {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "x", "resourceVersion": "1"}})
    assert code == 201
    code, st = server.request("PUT", f"/api/v1/namespaces/{ns}/configmaps/x",
                              {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "x", "resourceVersion": "1"}})
    assert code == 409 and st["reason"] == "Conflict"
    code, st = server.request("GET", "/apis/apps/v1/namespaces/x/widgets")
    assert code == 404
    code, metrics = server.request("GET", "/metrics")
    assert code == 200 and "apiserver_storage_objects" in metrics


def test_node_credentials_are_limited(server):
    import hashlib
    import hmac
    join = open(os.path.join(server.dir, "data", "server", "token")).read().strip()
    mac = hmac.new(join.encode(), b"n1", hashlib.sha256).hexdigest()
    tok = f"skiff-node:n1:{mac}"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    code, _ = server.request("POST", "/api/v1/nodes", node, token=tok)
    assert code == 201
    other = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}
    code, st = server.request("PUT", "/api/v1/nodes/n2", other, token=tok)
    assert code == 403 and st["reason"] == "Forbidden"
    code, _ = server.request("POST", "/api/v1/namespaces/default/secrets",
                             {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
                             token=tok)
    assert code == 403
    code, _ = server.request("GET", "/api/v1/namespaces/default/configmaps", token=tok)
    assert code == 200
    code, _ = server.request("GET", "/api/v1/nodes", token=f"skiff-node:n1:{'0' * 64}")
    assert code == 401
    server.kubectl("delete", "node", "n1")


def test_pagination(server, ns):
    for i in range(25):
        server.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                       {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": f"page-{i:02d}"}})
    names, cont, rvs = [], "", set()
    while True:
        code, page = server.request("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=10"
                                    + (f"&continue={cont}" if cont else ""))
        assert code == 200
        names += [o["metadata"]["name"] for o in page["items"]]
        rvs.add(page["metadata"]["resourceVersion"])
        cont = page["metadata"].get("continue")
        if not cont:
            break
        assert page["metadata"]["remainingItemCount"] > 0
    assert names == sorted(names) and len([n for n in names if n.startswith("page-")]) == 25
    assert len(rvs) == 1
    out = server.kubectl("get", "-n", ns, "cm", "--chunk-size=7", "-o", "name").stdout.split()
    assert len([n for n in out if "page-" in n]) == 25


def test_watch_resume_no_gap_no_duplicate(server, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    code, lst = server.request("GET", base)
    rv = lst["metadata"]["resourceVersion"]
    for i in range(5):
        server.request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": f"ev-{i}"}})
    server.request("DELETE", f"{base}/ev-0")
    events = []
    for ev in server.watch(f"{base}?watch=1&resourceVersion={rv}&timeoutSeconds=2"):
        events.append(ev)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == \
        [("ADDED", f"ev-{i}") for i in range(5)] + [("DELETED", "ev-0")]
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    # resuming from the middle gives exactly the rest
    mid = events[2]["object"]["metadata"]["resourceVersion"]
    rest = list(server.watch(f"{base}?watch=1&resourceVersion={mid}&timeoutSeconds=1"))
    assert [e["object"]["metadata"]["name"] for e in rest] == ["ev-3", "ev-4", "ev-0"]
    # bookmarks on request
    got = list(server.watch(f"{base}?watch=1&resourceVersion={mid}&allowWatchBookmarks=true"
                            f"&timeoutSeconds=12", timeout=30))
    assert got[-1]["type"] == "BOOKMARK" or any(e["type"] == "BOOKMARK" for e in got)


def test_a_short_watch_gets_a_bookmark_before_its_timeout(server, ns):
    # as upstream: a bookmark 2 s before the deadline, so a client that watches a quiet
    # collection in short spells resumes from a recent revision and not a dropped one
    quiet = f"/api/v1/namespaces/{ns}/secrets"
    code, lst = server.request("GET", quiet)
    rv = lst["metadata"]["resourceVersion"]
    code, cm = server.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                              {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "elsewhere"}})
    assert code == 201
    got = list(server.watch(f"{quiet}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
                            f"&timeoutSeconds=4", timeout=30))
    marks = [e for e in got if e["type"] == "BOOKMARK"]
    assert [e["type"] for e in got] == ["BOOKMARK"], got
    assert int(marks[0]["object"]["metadata"]["resourceVersion"]) >= \
        int(cm["metadata"]["resourceVersion"])


def test_watch_too_old_is_gone():
    s = Server(extra=["--watch-cache-size", "16"])
    try:
        base = "/api/v1/namespaces/default/configmaps"
        code, lst = s.request("GET", base)
        rv = lst["metadata"]["resourceVersion"]
        for i in range(40):
            s.request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": f"c{i}"}})
        gone = list(s.watch(f"{base}?watch=1&resourceVersion={rv}&timeoutSeconds=2"))
        assert gone[0]["type"] == "ERROR"
        assert gone[0]["object"]["code"] == 410 and gone[0]["object"]["reason"] == "Expired"
        # a client-go reflector relists and watches on: kubectl get -w does that
        p = s.kubectl("get", "cm", "-n", "default", "-o", "name")
        assert len([n for n in p.stdout.split() if n.startswith("configmap/c")]) == 40
    finally:
        s.cleanup()


def test_namespace_deletion_empties_it(cp_server):
    server = cp_server
    name = f"gone-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", name)
    server.kubectl("create", "-n", name, "configmap", "c")
    server.kubectl("create", "-n", name, "deployment", "d", "--image=busybox:1.36")
    server.kubectl("delete", "namespace", name, timeout=60)
    assert server.kubectl("get", "namespace", name, check=False).returncode != 0
    code, _ = server.request("GET", f"/api/v1/namespaces/{name}/configmaps/c")
    assert code == 404


def test_service_account_tokens(server, ns):
    wait_for(lambda: server.kubectl("get", "-n", ns, "serviceaccount", "default",
                                    check=False).returncode == 0, 10, "the default account")
    root = server.kjson("get", "-n", ns, "configmap", "kube-root-ca.crt")
    assert root["data"]["ca.crt"] == server.ca
    tok = server.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    assert tok.count(".") == 2
    code, st = server.request("GET", f"/api/v1/namespaces/{ns}/pods", token=tok)
    assert code == 403, st
    assert (f'User "system:serviceaccount:{ns}:default" cannot list resource "pods"'
            in st["message"])
    code, _ = server.request("GET", "/api/v1", token=tok)
    assert code == 200
    code, review = server.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                  {"apiVersion": "authentication.k8s.io/v1",
                                   "kind": "SelfSubjectReview"}, token=tok)
    assert code == 201
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:default"
    p = server.kubectl("create", "token", "default", "-n", ns, "--duration=1m", check=False)
    assert p.returncode != 0 and "less than 10 minutes" in p.stderr
    # a token outlives neither its account nor a forged signature
    server.kubectl("delete", "-n", ns, "serviceaccount", "default")
    code, _ = server.request("GET", "/api/v1", token=tok)
    assert code == 401
    code, _ = server.request("GET", "/api/v1", token=tok[:-4] + "AAAA")
    assert code == 401
