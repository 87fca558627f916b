# SPDX-License-Identifier: Apache-2.0
"""The node agent's housekeeping on a real node: image garbage collection past the disk
threshold removes the images no container uses and keeps those in use; under memory
pressure (a threshold above what the machine has) pods are evicted one at a time,
BestEffort before Burstable, with the kubelet's status and event."""

import json
import os
import time

import pytest

from cluster_env import SKIFF, wait_for
from node_env import Node
from test_agent import ctr, pod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def store_images(node):
    out = node.run(SKIFF, "image", "--root", os.path.join(node.data, "images"),
                   "ls", "--format", "json", check=True)
    return {i["Name"] for i in json.loads(out.stdout or "[]")}


def test_image_gc_removes_unused_images():
    node = Node(extra=["--image-gc-high-threshold", "0", "--image-gc-low-threshold", "0",
                       "--housekeeping-interval", "1s"])
    try:
        other = node.push_image("other:e2e", files={"/marker": "other image\n"})
        node.apply(pod("keeper", [ctr(node, "main", "sleep 3600")]))
        spec = pod("user", [ctr(node, "main", "cat /marker; sleep 3600")])
        spec["spec"]["containers"][0]["image"] = other
        node.apply(spec)
        node.wait_running("keeper")
        node.wait_running("user")
        assert wait_for(lambda: node.kubectl("logs", "user").stdout, 10) == "other image\n"
        images = store_images(node)
        assert any("other" in i for i in images) and any("busybox" in i for i in images)
        node.kubectl("delete", "pod", "user", "--wait=true", timeout=60)
        wait_for(lambda: not any("other" in i for i in store_images(node)), 30,
                 "the unused image to be collected")
        time.sleep(2)
        assert any("busybox" in i for i in store_images(node)), "an image in use was removed"
        assert "image garbage collection removed" in node.logs()
    finally:
        node.cleanup()


def test_memory_pressure_evicts_besteffort_first():
    node = Node(extra=["--eviction-hard", "memory.available<100Ti",
                       "--housekeeping-interval", "1s"])
    try:
        be = pod("besteffort", [ctr(node, "main", "sleep 3600")])
        bu = pod("burstable", [ctr(node, "main", "sleep 3600",
                                   resources={"requests": {"memory": "8Mi"}})])
        node.apply({"apiVersion": "v1", "kind": "List", "items": [be, bu]})
        evicted = {}
        end = time.time() + 60
        while time.time() < end and len(evicted) < 2:
            for name in ("besteffort", "burstable"):
                st = node.pod(name)["status"]
                if name not in evicted and st.get("reason") == "Evicted":
                    evicted[name] = time.time()
                    assert st["phase"] == "Failed"
                    assert st["message"].startswith("The node was low on resource: memory.")
            time.sleep(0.1)
        assert set(evicted) == {"besteffort", "burstable"}, (evicted, node.logs())
        assert evicted["besteffort"] < evicted["burstable"]
        events = node.kubectl("get", "events", "--field-selector", "reason=Evicted").stdout
        assert "besteffort" in events and "burstable" in events
        n = node.kjson("get", "node", "node1")
        conds = {c["type"]: c["status"] for c in n["status"]["conditions"]}
        assert conds["MemoryPressure"] == "True"
    finally:
        node.cleanup()
