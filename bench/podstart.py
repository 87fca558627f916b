# SPDX-License-Identifier: Apache-2.0
"""Pod start latency on one node: N pods created one after another through the API of a
real single-node cluster (`skiff server` plus `skiff agent` as its own process, the image
already present), each timed from its create request to the watch event that shows it
Running and Ready; beside it `podman run -d` with crun for the same number of containers
(each timed until the command returns, the container running). A second skiff pass
creates all N at once. Prints p50/p99, the agent's and monitors' memory, and ratios."""

import ctypes
import http.client
import json
import os
import shutil
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from node_env import Node  # noqa: E402
from podman_env import IMAGE, PODMAN, Podman, make_scratch, runtime_path  # noqa: E402

CLONE_NEWNET = 0x40000000


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def rss_kib(pid, field="VmHWM"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Api:
    def __init__(self, kubeconfig):
        cfg = yaml.safe_load(open(kubeconfig))
        import base64
        cluster = cfg["clusters"][0]["cluster"]
        self.host, port = cluster["server"][len("https://"):].rsplit(":", 1)
        self.port = int(port)
        self.token = cfg["users"][0]["user"]["token"]
        self.ctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())

    def conn(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                           timeout=timeout)

    def request(self, c, method, path, body=None):
        c.request(method, path, body=json.dumps(body) if body else None,
                  headers={"Authorization": f"Bearer {self.token}",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data)


class Watcher(threading.Thread):
    """Records when each pod is first seen Running and Ready."""

    def __init__(self, api, rv):
        super().__init__(daemon=True)
        self.api, self.rv = api, rv
        self.ready = {}
        self.cond = threading.Condition()

    def run(self):
        try:
            self.follow()
        except (OSError, http.client.HTTPException, ValueError):
            pass  # the cluster is gone: the benchmark is over

    def follow(self):
        c = self.api.conn(timeout=600)
        c.request("GET", f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={self.rv}",
                  headers={"Authorization": f"Bearer {self.api.token}"})
        r = c.getresponse()
        buf = b""
        while True:
            chunk = r.read1(65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                ev = json.loads(line)
                pod = ev["object"]
                st = pod.get("status", {})
                cs = st.get("containerStatuses") or []
                if st.get("phase") == "Running" and cs and all(x.get("ready") for x in cs):
                    name = pod["metadata"]["name"]
                    with self.cond:
                        if name not in self.ready:
                            self.ready[name] = time.monotonic()
                            self.cond.notify_all()

    def wait(self, names, timeout=120):
        end = time.monotonic() + timeout
        with self.cond:
            while not all(n in self.ready for n in names):
                left = end - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"pods not ready: {[n for n in names if n not in self.ready][:5]}")
                self.cond.wait(left)


def pod(name, image):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": ["sleep", "3600"]}]}}


def skiff_run(n):
    node = Node(remote_agent=True)
    try:
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{node.netns}", os.O_RDONLY)
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.setns(target, CLONE_NEWNET) == 0
        try:
            api = Api(node.kubeconfig)
            c = api.conn()
            rv = api.request(c, "GET", "/api/v1/namespaces/default/pods")["metadata"][
                "resourceVersion"]
            w = Watcher(api, rv)
            w.start()
            # the image is pulled once, by a pod not counted
            api.request(c, "POST", "/api/v1/namespaces/default/pods", pod("warm", node.image))
            w.wait(["warm"])
            seq = []
            for i in range(n):
                name = f"seq-{i}"
                t0 = time.monotonic()
                api.request(c, "POST", "/api/v1/namespaces/default/pods", pod(name, node.image))
                w.wait([name])
                seq.append((w.ready[name] - t0) * 1000)
            agent_peak = rss_kib(node.agent.pid) / 1024
            agent_now = rss_kib(node.agent.pid, "VmRSS") / 1024
            shims = []
            for f in Path(node.dir, "agent-data", "agent", "pods").glob("*/containers/*/*/shim.pid"):
                try:
                    shims.append(rss_kib(int(f.read_text()), "VmRSS") / 1024)
                except (OSError, ValueError):
                    pass
            # the node takes 110 pods: make room for the burst
            api.request(c, "DELETE", "/api/v1/namespaces/default/pods",
                        {"gracePeriodSeconds": 0})
            end = time.monotonic() + 300
            while api.request(c, "GET", "/api/v1/namespaces/default/pods")["items"]:
                if time.monotonic() > end:
                    raise RuntimeError("pods were not deleted")
                time.sleep(0.2)
            created = {}
            for i in range(n):
                name = f"burst-{i}"
                created[name] = time.monotonic()
                api.request(c, "POST", "/api/v1/namespaces/default/pods", pod(name, node.image))
            w.wait(list(created), timeout=600)
            burst = [(w.ready[k] - t) * 1000 for k, t in created.items()]
            agent_peak = max(agent_peak, rss_kib(node.agent.pid) / 1024)
        finally:
            libc.setns(own, CLONE_NEWNET)
            os.close(own)
            os.close(target)
        return seq, burst, agent_peak, agent_now, shims
    finally:
        node.cleanup()


def podman_run(n):
    scratch = make_scratch()
    pm = None
    try:
        pm = Podman(scratch / "podman", runtime_path("crun", None, scratch))
        pm.import_image()
        for i in range(2):
            pm.ok(*pm.run_args(), "-d", "--name", f"warm-{i}", IMAGE, "sleep", "3600")
        times = []
        for i in range(n):
            t0 = time.monotonic()
            pm.ok(*pm.run_args(), "-d", "--name", f"c-{i}", IMAGE, "sleep", "3600")
            times.append((time.monotonic() - t0) * 1000)
        return times
    finally:
        if pm:
            pm.reset()
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        print("bench/podstart.py: needs root", file=sys.stderr)
        return 1
    n = int(os.environ.get("N", "100"))
    print(f"bench: skiff, {n} pods one after another, then {n} at once...", file=sys.stderr)
    seq, burst, agent_peak, agent_now, shims = skiff_run(n)
    pm = None
    if PODMAN:
        print(f"bench: podman run -d on crun, {n} containers...", file=sys.stderr)
        pm = podman_run(n)
    print(f"\npod start on one node, N={n} (create -> Running and Ready; podman: run -d returns)")
    print(f"{'':<34} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'skiff, one after another':<34} {pct(seq, 50):>8.1f} {pct(seq, 99):>8.1f}")
    print(f"{'skiff, all at once':<34} {pct(burst, 50):>8.1f} {pct(burst, 99):>8.1f}")
    if pm:
        print(f"{'podman run -d (crun)':<34} {pct(pm, 50):>8.1f} {pct(pm, 99):>8.1f}")
    print(f"\nskiff agent RSS: peak {agent_peak:.1f} MiB, now {agent_now:.1f} MiB; "
          f"per-container monitor RSS: mean {statistics.mean(shims) if shims else 0:.2f} MiB "
          f"({len(shims)} monitors)")
    if pm:
        print(f"skiff/podman p50: {pct(seq, 50) / pct(pm, 50):.2f}x, "
              f"p99: {pct(seq, 99) / pct(pm, 99):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
