# SPDX-License-Identifier: Apache-2.0
"""The node agent on a real single-node cluster (`skiff server` with its agent), driven
through the real kubectl: pods run as real containers from an image pulled from a local
docker-registry; their containers share the pod's network; restarts, probes, OOM, init
containers, volumes, logs, exec, port-forward, graceful deletion and adoption after the
agent is killed behave as the kubelet's do."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from cluster_env import SKIFF, wait_for
from node_env import Node

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture(scope="module")
def node():
    n = Node()
    yield n
    n.cleanup()


def pod(name, containers, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, "terminationGracePeriodSeconds": 2, **spec}}


def ctr(node, name, script, **extra):
    return {"name": name, "image": node.image, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script], **extra}


def statuses(p):
    return {c["name"]: c for c in p["status"].get("containerStatuses", [])}


def delete(node, name):
    node.kubectl("delete", "pod", name, "--wait=false", check=False)


def test_pod_runs_and_logs(node):
    node.apply(pod("hello", [ctr(node, "main", "echo hello from $HOSTNAME; sleep 3600")]))
    p = node.wait_running("hello")
    assert p["status"]["podIP"].startswith("10.42.")
    assert p["status"]["qosClass"] == "BestEffort"
    st = statuses(p)["main"]
    assert st["containerID"].startswith("skiff://")
    assert st["restartCount"] == 0
    out = wait_for(lambda: node.kubectl("logs", "hello").stdout, 10, "logs")
    assert out == "hello from hello\n"
    ts = node.kubectl("logs", "hello", "--timestamps").stdout
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z hello from hello\n$", ts), ts
    resolv = node.kubectl("exec", "hello", "--", "cat", "/etc/resolv.conf").stdout
    assert resolv == ("search default.svc.cluster.local svc.cluster.local cluster.local\n"
                      "nameserver 10.43.0.10\noptions ndots:5\n"), resolv
    hosts = node.kubectl("exec", "hello", "--", "cat", "/etc/hosts").stdout
    assert f"{p['status']['podIP']}\thello\n" in hosts, hosts
    events = node.kubectl("get", "events", "--field-selector",
                          "involvedObject.name=hello").stdout
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in events, events
    delete(node, "hello")


def test_the_servers_allocator_stays_out_of_containers(node):
    # the server re-executes itself with mimalloc preloaded and takes the preload back
    # out of its environment: the agent, shims, runtime and containers never inherit it
    with open(f"/proc/{node.proc.pid}/maps") as f:
        assert "libmimalloc.so" in f.read()
    # named after its binary, not after the /proc/self/exe it re-executed through
    with open(f"/proc/{node.proc.pid}/comm") as f:
        assert f.read().strip() == SKIFF.name[:15]
    node.apply(pod("envcheck", [ctr(node, "main", "sleep 3600")]))
    node.wait_running("envcheck")
    env = node.kubectl("exec", "envcheck", "--", "env").stdout
    assert "PATH=" in env, env
    assert "LD_PRELOAD" not in env and "SKIFF_ALLOCATOR" not in env, env
    shims = subprocess.run(["pgrep", "-f", "skiff shim"], capture_output=True,
                           text=True).stdout.split()
    assert shims
    for pid in shims:
        with open(f"/proc/{pid}/maps") as f:
            assert "libmimalloc.so" not in f.read(), pid
        # nor the variables of the re-execution, in the environment they started with
        with open(f"/proc/{pid}/environ", "rb") as f:
            shim_env = f.read().decode(errors="replace").split("\0")
        for var in shim_env:
            assert not var.startswith(("LD_PRELOAD=", "SKIFF_ALLOCATOR")), var
    delete(node, "envcheck")


def policy_in_stat(stat):
    """The scheduling policy in a /proc/PID/stat line: its 41st field, 3 for SCHED_BATCH."""
    return int(stat[stat.rindex(")") + 2:].split()[38])


def test_the_servers_batch_scheduling_stays_out_of_containers(node):
    # every thread of the server runs SCHED_BATCH; what it starts runs under the default
    tids = os.listdir(f"/proc/{node.proc.pid}/task")
    assert len(tids) > 10, tids
    for tid in tids:
        assert os.sched_getscheduler(int(tid)) == os.SCHED_BATCH, tid
    node.apply(pod("policy", [ctr(node, "main", "sleep 3600")]))
    node.wait_running("policy")
    shims = subprocess.run(["pgrep", "-f", "skiff shim"], capture_output=True,
                           text=True).stdout.split()
    assert shims
    for pid in shims:
        assert os.sched_getscheduler(int(pid)) == os.SCHED_OTHER, pid
    # the container's first process, and one started by exec
    for path in ("/proc/1/stat", "/proc/self/stat"):
        stat = node.kubectl("exec", "policy", "--", "cat", path).stdout
        assert policy_in_stat(stat) == os.SCHED_OTHER, (path, stat)
    delete(node, "policy")


def test_containers_share_localhost(node):
    node.apply(pod("duo", [
        ctr(node, "web", "mkdir -p /www && echo served-by-web > /www/index.html && "
            "exec httpd -f -p 8080 -h /www"),
        ctr(node, "client", "while true; do wget -qO- http://127.0.0.1:8080/ && "
            "sleep 3600; sleep 0.2; done")]))
    node.wait_running("duo")
    out = wait_for(lambda: node.kubectl("logs", "duo", "-c", "client").stdout, 20,
                   "the client container's output")
    assert out.strip() == "served-by-web"
    delete(node, "duo")


def test_crashloop_backoff_grows(node):
    node.apply(pod("crash", [ctr(node, "main", "echo crashing; exit 1")]))
    seen = {}
    reasons = set()
    end = time.time() + 75
    while time.time() < end and 3 not in seen:
        st = statuses(node.pod("crash")).get("main", {})
        n = st.get("restartCount", 0)
        seen.setdefault(n, time.time())
        reasons.add(st.get("state", {}).get("waiting", {}).get("reason"))
        time.sleep(0.2)
    assert 3 in seen, (seen, node.logs())
    first, second = seen[2] - seen[1], seen[3] - seen[2]
    # the kubelet's back-off: 10 s after the first restart, then 20 s
    assert 8 <= first <= 16, seen
    assert second >= first + 6, seen
    assert "CrashLoopBackOff" in reasons
    p = node.pod("crash")
    last = statuses(p)["main"]["lastState"]["terminated"]
    assert last["exitCode"] == 1 and last["reason"] == "Error"
    assert node.kubectl("logs", "crash", "--previous").stdout == "crashing\n"
    events = node.kubectl("get", "events", "--field-selector",
                          "involvedObject.name=crash").stdout
    assert "BackOff" in events
    delete(node, "crash")


def test_failing_liveness_probe_restarts(node):
    node.apply(pod("live", [ctr(
        node, "main", "touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 3600",
        livenessProbe={"exec": {"command": ["cat", "/tmp/healthy"]},
                       "periodSeconds": 1, "failureThreshold": 2})]))
    node.wait_pod("live", lambda p: statuses(p).get("main", {}).get("restartCount", 0) >= 1,
                  60, "a restart after the liveness probe failed")
    events = node.kubectl("get", "events", "--field-selector",
                          "involvedObject.name=live").stdout
    assert "Unhealthy" in events and "Liveness probe failed" in events, events
    assert "failed liveness probe, will be restarted" in events, events
    delete(node, "live")


def endpoint_ips(node, name):
    ep = node.kjson("get", "endpoints", name)
    ready, unready = set(), set()
    for s in ep.get("subsets") or []:
        ready |= {a["ip"] for a in s.get("addresses", [])}
        unready |= {a["ip"] for a in s.get("notReadyAddresses", [])}
    return ready, unready


def test_readiness_failure_leaves_service_endpoints(node):
    node.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ready-svc"},
                "spec": {"selector": {"app": "ready"}, "ports": [{"port": 80}]}})
    spec = pod("ready", [ctr(node, "main", "touch /tmp/ready; sleep 3600",
                             readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]},
                                             "periodSeconds": 1})])
    spec["metadata"]["labels"] = {"app": "ready"}
    node.apply(spec)
    ip = node.wait_running("ready")["status"]["podIP"]
    wait_for(lambda: ip in endpoint_ips(node, "ready-svc")[0], 20, "a ready endpoint")
    node.kubectl("exec", "ready", "--", "rm", "/tmp/ready")
    wait_for(lambda: ip in endpoint_ips(node, "ready-svc")[1], 20, "the endpoint not ready")
    p = node.pod("ready")
    assert not statuses(p)["main"]["ready"]
    assert {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "False"
    node.kubectl("exec", "ready", "--", "touch", "/tmp/ready")
    wait_for(lambda: ip in endpoint_ips(node, "ready-svc")[0], 20, "ready again")
    delete(node, "ready")
    node.kubectl("delete", "service", "ready-svc")


def test_oom_is_reported(node):
    node.apply(pod("oom", [ctr(node, "main", "x=$(yes | head -c 200000000); echo survived",
                               resources={"limits": {"memory": "24Mi"}})],
                   restartPolicy="Never"))
    p = node.wait_pod("oom", lambda p: p["status"].get("phase") == "Failed", 60, "OOM kill")
    term = statuses(p)["main"]["state"]["terminated"]
    assert term["reason"] == "OOMKilled", term
    assert term["exitCode"] == 137
    assert p["status"]["qosClass"] == "Burstable"
    delete(node, "oom")


def test_init_containers_run_first_in_order(node):
    work = {"name": "work", "mountPath": "/work"}
    node.apply(pod("init", [ctr(node, "main", "cat /work/order; sleep 3600",
                                volumeMounts=[work])],
                   initContainers=[ctr(node, "one", "echo one >> /work/order",
                                       volumeMounts=[work]),
                                   ctr(node, "two", "sleep 1; echo two >> /work/order",
                                       volumeMounts=[work])],
                   volumes=[{"name": "work", "emptyDir": {}}]))
    p = node.wait_running("init")
    inits = {c["name"]: c for c in p["status"]["initContainerStatuses"]}
    for name in ("one", "two"):
        assert inits[name]["state"]["terminated"]["reason"] == "Completed"
    assert (inits["one"]["state"]["terminated"]["finishedAt"]
            <= inits["two"]["state"]["terminated"]["startedAt"])
    assert wait_for(lambda: node.kubectl("logs", "init").stdout, 10) == "one\ntwo\n"
    delete(node, "init")


def test_volumes(node, tmp_path):
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "from-host").write_text("host data\n")
    node.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                "data": {"greeting": "hello", "other": "x"}})
    node.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
                "stringData": {"password": "s3cret"}})
    mounts = [{"name": "cfg", "mountPath": "/cfg"}, {"name": "sec", "mountPath": "/sec"},
              {"name": "scratch", "mountPath": "/scratch"},
              {"name": "mem", "mountPath": "/mem"},
              {"name": "host", "mountPath": "/host"},
              {"name": "info", "mountPath": "/info"},
              {"name": "all", "mountPath": "/all"}]
    spec = pod("vols", [ctr(node, "main", "sleep 3600", volumeMounts=mounts)], volumes=[
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
        {"name": "host", "hostPath": {"path": str(host_dir), "type": "Directory"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "all", "projected": {"sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "other", "path": "o"}]}},
            {"secret": {"name": "sec"}}]}}])
    spec["metadata"]["labels"] = {"tier": "test"}
    node.apply(spec)
    node.wait_running("vols")

    def sh(script):
        return node.kubectl("exec", "vols", "--", "sh", "-c", script).stdout

    assert sh("cat /cfg/greeting") == "hello"
    assert sh("cat /sec/password") == "s3cret"
    assert sh("cat /host/from-host") == "host data\n"
    assert sh("cat /info/name") == "vols"
    assert sh("cat /info/labels") == 'tier="test"'
    assert sh("cat /all/o /all/password") == "xs3cret"
    assert "tmpfs" in sh("grep ' /mem ' /proc/mounts")
    assert "tmpfs" in sh("grep ' /sec ' /proc/mounts")
    sh("echo kept > /scratch/f && echo to-host > /host/written")
    assert (host_dir / "written").read_text() == "to-host\n"
    assert sh("touch /cfg/x 2>&1 || echo read-only").strip().endswith("read-only")
    node.kubectl("patch", "configmap", "cfg", "-p", '{"data":{"greeting":"bonjour"}}')
    wait_for(lambda: sh("cat /cfg/greeting") == "bonjour", 60, "the configMap update")
    delete(node, "vols")


def test_pvc_data_survives_pod_recreation(node):
    node.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "16Mi"}}}})
    spec = pod("writer", [ctr(node, "main", "cat /data/f 2>/dev/null; sleep 3600",
                              volumeMounts=[{"name": "d", "mountPath": "/data"}])],
               volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
    node.apply(spec)
    node.wait_running("writer")
    node.kubectl("exec", "writer", "--", "sh", "-c", "echo persisted > /data/f")
    pvc = node.kjson("get", "pvc", "data")
    assert pvc["status"]["phase"] == "Bound"
    pv = node.kjson("get", "pv", pvc["spec"]["volumeName"])
    assert pv["spec"]["claimRef"]["name"] == "data"
    node.kubectl("delete", "pod", "writer", "--wait=true", timeout=60)
    node.apply(spec)
    node.wait_running("writer")
    assert wait_for(lambda: node.kubectl("logs", "writer").stdout, 10) == "persisted\n"
    delete(node, "writer")


def test_logs_follow(node):
    node.apply(pod("ticker", [ctr(node, "main", "i=0; while true; do echo tick $i; "
                                  "i=$((i+1)); sleep 0.3; done")]))
    node.wait_running("ticker")
    proc = node.popen(*["kubectl", "--kubeconfig", node.kubeconfig, "logs", "-f",
                        "--tail", "1", "ticker"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
    finally:
        proc.kill()
        proc.wait()
    nums = [int(line.split()[1]) for line in lines]
    assert nums == list(range(nums[0], nums[0] + 4)), lines
    tail = node.kubectl("logs", "ticker", "--tail", "2").stdout.splitlines()
    assert len(tail) == 2
    delete(node, "ticker")


def test_exec_and_cp(node, tmp_path):
    node.apply(pod("shell", [ctr(node, "main", "sleep 3600")]))
    node.wait_running("shell")
    p = node.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                     check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n" and p.stderr.startswith("err\n")
    p = node.kubectl("exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z",
                     input="from stdin\n")
    assert p.stdout == "FROM STDIN\n"
    # a terminal: kubectl exec -it under a pty
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("nsenter", node.cmd("kubectl", "--kubeconfig", node.kubeconfig, "exec",
                                      "-it", "shell", "--", "sh"))
    out = b""
    try:
        os.write(fd, b"echo $((6*7)); tty; exit\n")
        end = time.time() + 20
        while time.time() < end:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    assert b"42" in out and b"/dev/pts/" in out, out
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    node.kubectl("cp", str(src), "shell:/tmp/in.txt")
    assert node.kubectl("exec", "shell", "--", "cat", "/tmp/in.txt").stdout == "copied in\n"
    back = tmp_path / "back.txt"
    node.kubectl("cp", "shell:/tmp/in.txt", str(back))
    assert back.read_text() == "copied in\n"
    delete(node, "shell")


def test_port_forward(node):
    node.apply(pod("web", [ctr(node, "main", "mkdir -p /www && echo forwarded > "
                               "/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www")]))
    node.wait_running("web")
    proc = node.popen("kubectl", "--kubeconfig", node.kubeconfig, "port-forward", "web",
                      "18080:8080", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "Forwarding from" in line, (line, proc.stderr.read() if proc.poll() else "")
        fetch = ("import urllib.request;print(urllib.request.urlopen("
                 "'http://127.0.0.1:18080/').read().decode(),end='')")
        for _ in range(3):
            r = node.run("/usr/bin/python3", "-c", fetch, timeout=20)
            assert r.stdout == "forwarded\n", r.stderr
    finally:
        proc.terminate()
        proc.wait()
    delete(node, "web")


def test_graceful_deletion_honours_grace_period(node):
    node.apply(pod("stubborn", [ctr(node, "main", "trap '' TERM; while true; do sleep 0.2; "
                                    "done")], terminationGracePeriodSeconds=4))
    node.apply(pod("polite", [ctr(node, "main", "trap 'exit 0' TERM; while true; do "
                                  "sleep 0.2; done")], terminationGracePeriodSeconds=30))
    node.wait_running("stubborn")
    node.wait_running("polite")
    t0 = time.time()
    node.kubectl("delete", "pod", "stubborn", "--wait=true", timeout=60)
    stubborn = time.time() - t0
    t0 = time.time()
    node.kubectl("delete", "pod", "polite", "--wait=true", timeout=60)
    polite = time.time() - t0
    assert 3.5 <= stubborn < 15, stubborn
    assert polite < 3.5, polite


def test_agent_kill9_adopts_running_pods(node):
    node.apply(pod("survivor", [ctr(node, "main", "echo started; sleep 3600")]))
    before = node.wait_running("survivor")
    cid = statuses(before)["main"]["containerID"]
    node.kill9()
    node.start()
    time.sleep(3)
    after = node.wait_running("survivor")
    st = statuses(after)["main"]
    assert st["containerID"] == cid
    assert st["restartCount"] == 0
    assert st["state"]["running"]["startedAt"] == \
        statuses(before)["main"]["state"]["running"]["startedAt"]
    assert node.kubectl("logs", "survivor").stdout == "started\n"
    assert node.kubectl("exec", "survivor", "--", "echo", "still here").stdout == \
        "still here\n"
    delete(node, "survivor")


def test_sigterm_and_restart_keep_the_cluster(node):
    node.apply(pod("keeper", [ctr(node, "main", "sleep 3600")]))
    before = statuses(node.wait_running("keeper"))["main"]["containerID"]
    t0 = time.time()
    node.stop()
    assert node.proc.returncode == 0, node.logs()
    assert time.time() - t0 < 15
    assert "shutting down" in node.logs()
    node.start()
    after = node.wait_running("keeper")
    assert statuses(after)["main"]["containerID"] == before
    assert statuses(after)["main"]["restartCount"] == 0
    delete(node, "keeper")


def test_attach(node):
    spec = pod("talker", [ctr(node, "main", "echo ready; while read line; do echo got:$line; "
                              "done; echo stdin closed; sleep 3600", stdin=True,
                              stdinOnce=True)])
    node.apply(spec)
    node.wait_running("talker")
    wait_for(lambda: "ready" in node.kubectl("logs", "talker").stdout, 10, "the first line")
    p = node.kubectl("attach", "-i", "talker", input="hello\nworld\n", timeout=30)
    assert "got:hello" in p.stdout and "got:world" in p.stdout, (p.stdout, p.stderr)
    logs = wait_for(lambda: "stdin closed" in node.kubectl("logs", "talker").stdout and
                    node.kubectl("logs", "talker").stdout, 10, "stdin closed after detach")
    assert "got:world" in logs
    delete(node, "talker")
