# SPDX-License-Identifier: Apache-2.0
"""A real multi-node cluster for end-to-end tests: each node in a network namespace of
its own, joined by a bridge in a "LAN" namespace (192.168.77.0/24; the LAN namespace
itself is 192.168.77.100, a client outside the cluster). Node "server" runs `skiff
server` (API server, scheduler, controllers, DNS, its own agent) and a docker-registry
with the busybox image; nodes "agent1", "agent2" run `skiff agent` joined with the join
token. kubectl runs in the server's namespace. Everything is removed at the end."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from cluster_env import KUBECTL, SKIFF, wait_for
from node_env import MKROOTFS_TAR, REGISTRY_BIN, cleanup_agent_state

LAN = "192.168.77"
REGISTRY = f"{LAN}.1:5000"


def sh(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check)


class Cluster:
    def __init__(self, agents=2, datastore=None, mode="vxlan", server_extra=(),
                 dns_upstream=None):
        self.id = uuid.uuid4().hex[:6]
        self.dir = tempfile.mkdtemp(prefix="skiff-cluster-")
        os.chmod(self.dir, 0o755)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig.yaml")
        self.names = ["server"] + [f"agent{i + 1}" for i in range(agents)]
        self.ns = {n: f"sk{self.id}-{n}" for n in self.names}
        self.lan = f"sk{self.id}-lan"
        self.ip = {n: f"{LAN}.{i + 1}" for i, n in enumerate(self.names)}
        self.procs = {}
        self.logs_open = []
        self.mode = mode
        self.datastore = datastore
        self.server_extra = list(server_extra)
        self.dns_upstream = dns_upstream
        self.upstream_log = os.path.join(self.dir, "upstream-queries.log")
        try:
            self._network()
            self._registry()
            if datastore == "etcd":
                self._etcd()
                self.datastore = "http://127.0.0.1:2379"
            self.image = self._push("busybox:e2e")
            self._start_server()
            for n in self.names[1:]:
                self.start_agent(n)
            self.wait_nodes_ready()
        except BaseException:
            self.cleanup()
            raise

    # namespaces

    def cmd(self, node, *args):
        ns = self.ns.get(node, node)
        return ["nsenter", f"--net=/run/netns/{ns}", *[str(a) for a in args]]

    def run(self, node, *args, check=False, timeout=60, input=None):
        return subprocess.run(self.cmd(node, *args), capture_output=True, text=True,
                              check=check, timeout=timeout, input=input)

    def popen(self, node, *args, log=None, **kw):
        if log:
            f = open(os.path.join(self.dir, log), "ab")
            self.logs_open.append(f)
            kw.update(stdout=f, stderr=subprocess.STDOUT)
        return subprocess.Popen(self.cmd(node, *args), **kw)

    def _network(self):
        sh("ip", "netns", "add", self.lan)
        sh("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.lan, "addr", "add", f"{LAN}.100/24", "dev", "br0")
        sh("ip", "-n", self.lan, "link", "set", "br0", "up")
        sh("ip", "-n", self.lan, "link", "set", "lo", "up")
        for i, n in enumerate(self.names):
            ns = self.ns[n]
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", f"sk{self.id}{i}", "netns", self.lan, "type", "veth",
               "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.lan, "link", "set", f"sk{self.id}{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip[n]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def link_down(self, node):
        """Cuts @node off the LAN."""
        i = self.names.index(node)
        sh("ip", "-n", self.lan, "link", "set", f"sk{self.id}{i}", "down")

    def _registry(self):
        rdir = os.path.join(self.dir, "registry")
        os.makedirs(rdir)
        cfg = os.path.join(rdir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {rdir}/data\nhttp:\n  addr: {REGISTRY}\n")
        self.procs["registry"] = self.popen("server", REGISTRY_BIN, "serve", cfg,
                                            log="registry.log")

    def _etcd(self):
        d = os.path.join(self.dir, "etcd")
        self.procs["etcd"] = self.popen(
            "server", "/usr/bin/etcd", "--name", "default", "--data-dir", d,
            "--listen-client-urls", "http://127.0.0.1:2379",
            "--advertise-client-urls", "http://127.0.0.1:2379",
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "default=http://127.0.0.1:2380", log="etcd.log")
        check = ("import urllib.request;"
                 "urllib.request.urlopen('http://127.0.0.1:2379/health', timeout=1)")
        wait_for(lambda: self.run("server", "/usr/bin/python3", "-c", check).returncode == 0,
                 30, "etcd")

    def _push(self, name):
        work = tempfile.mkdtemp(prefix="img-", dir=self.dir)
        tar = os.path.join(work, "rootfs.tar")
        subprocess.run([str(MKROOTFS_TAR), tar], check=True, timeout=120)
        ref = f"{REGISTRY}/{name}"
        store = os.path.join(self.dir, "push-store")

        self.run("server", SKIFF, "image", "--root", store, "import", tar, ref, check=True)

        def pushed():
            r = self.run("server", SKIFF, "image", "--root", store, "push", "--insecure",
                         ref, timeout=60)
            return r.returncode == 0 or None
        wait_for(pushed, 30, "the image pushed to the registry")
        shutil.rmtree(work, ignore_errors=True)
        return ref

    # skiff processes

    def node_dir(self, node):
        d = os.path.join(self.dir, node)
        os.makedirs(d, exist_ok=True)
        return d

    def common(self, node):
        d = self.node_dir(node)
        return ["--node-name", node, "--node-ip", self.ip[node],
                "--pod-log-dir", os.path.join(d, "logs"),
                "--cgroup-root", f"/skiff-e2e-{self.id}-{node}",
                "--insecure-registry", REGISTRY, "--flannel-backend", self.mode]

    def _start_server(self):
        d = self.node_dir("server")
        args = [SKIFF, "server", "--data-dir", os.path.join(d, "data"),
                "--write-kubeconfig", self.kubeconfig,
                "--advertise-address", self.ip["server"],
                *self.common("server"), *self.server_extra]
        if self.datastore:
            args += ["--datastore-endpoint", self.datastore]
        if self.dns_upstream:
            # a fake upstream on the server's loopback, recording what reaches it
            host, port = self.dns_upstream.split(":")
            self.procs["upstream"] = self.popen(
                "server", "/usr/bin/python3", Path(__file__).with_name("dnsutil.py"),
                "upstream", host, port, self.upstream_log, log="upstream.log")
            args += ["--dns-upstream", self.dns_upstream]
        self.procs["server"] = self.popen("server", *args, log="server.log")
        wait_for(lambda: os.path.exists(self.kubeconfig) or
                 self.procs["server"].poll() is not None, 30, "the kubeconfig")

    def start_agent(self, node):
        sdir = os.path.join(self.node_dir("server"), "data", "server")
        wait_for(lambda: os.path.exists(os.path.join(sdir, "token")), 30, "the token")
        args = [SKIFF, "agent", "--server", f"https://{self.ip['server']}:6443",
                "--token-file", os.path.join(sdir, "token"),
                "--ca-file", os.path.join(sdir, "tls", "server-ca.crt"),
                "--data-dir", os.path.join(self.node_dir(node), "data"), *self.common(node)]
        self.procs[node] = self.popen(node, *args, log=f"{node}.log")

    def stop(self, node, sig=signal.SIGTERM):
        p = self.procs.get(node)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self):
        out = ""
        for n in self.names:
            try:
                text = open(os.path.join(self.dir, f"{n}.log"), errors="replace").read()
                out += f"--- {n} ---\n{text[-3000:]}\n"
            except OSError:
                pass
        return out

    def wait_nodes_ready(self, timeout=90):
        def ready():
            for n, p in self.procs.items():
                if n not in ("registry", "etcd", "upstream") and p.poll() is not None:
                    raise AssertionError(f"{n} exited {p.returncode}\n{self.logs()}")
            p = self.kubectl("get", "nodes", "-o", "json", check=False)
            if p.returncode:
                return False
            # Ready, and the node lifecycle controller has lifted its not-ready taints
            up = {x["metadata"]["name"] for x in json.loads(p.stdout)["items"]
                  if any(c["type"] == "Ready" and c["status"] == "True"
                         for c in x["status"].get("conditions", [])) and
                  not any(t["key"].startswith("node.kubernetes.io/not-ready")
                          for t in x["spec"].get("taints", []))}
            return set(self.names) <= up
        wait_for(ready, timeout, "every node Ready")

    # clients

    def kubectl(self, *args, input=None, check=True, timeout=90):
        p = self.run("server", KUBECTL, "--kubeconfig", self.kubeconfig, *args, input=input,
                     timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))} failed "
                                 f"({p.returncode}):\n{p.stdout}\n{p.stderr}\n{self.logs()}")
        return p

    def kjson(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest):
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.kubectl("apply", "-f", "-", input=text)

    def exec(self, pod, script, check=True, timeout=60):
        p = self.kubectl("exec", pod, "--", "sh", "-c", script, check=check,
                         timeout=timeout)
        return p.stdout

    def cleanup(self):
        for n in reversed(self.names):
            self.stop(n)
        for n in self.names:
            d = os.path.join(self.dir, n)
            cleanup_agent_state(Path(d, "data", "agent", "pods"),
                                f"/skiff-e2e-{self.id}-{n}", d)
        for extra in ("registry", "etcd", "upstream"):
            if extra in self.procs:
                self.stop(extra, signal.SIGKILL)
        for f in self.logs_open:
            f.close()
        for ns in list(self.ns.values()) + [self.lan]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
