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

from cluster_env import wait_for
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
    events = node.kubectl("get", "events", "--field-selector",
                          "involvedObject.name=hello").stdout
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in events, events
    delete(node, "hello")
