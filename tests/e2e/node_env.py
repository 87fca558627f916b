# SPDX-License-Identifier: Apache-2.0
"""A real single-node cluster for end-to-end tests: `skiff server` with its node agent,
inside a network namespace of its own (so the pod bridge, port 10250 and the pods'
addresses never touch the host), a docker-registry on that namespace's loopback serving
a busybox image, and the real kubectl run in the same namespace. Everything the agent
leaves behind (containers, monitors, sandboxes, mounts, cgroups) is removed at the end."""

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

REPO = Path(__file__).resolve().parents[2]
REGISTRY_BIN = Path("/usr/bin/docker-registry")
MKROOTFS_TAR = REPO / "scripts" / "mkrootfs-tar.sh"
REGISTRY_PORT = 5000


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Node:
    """`skiff server` (API server, scheduler, controllers, agent) in its own netns."""

    def __init__(self, extra=(), datastore=None, remote_agent=False):
        """remote_agent: the server runs no agent; `skiff agent` joins it as node1."""
        self.id = uuid.uuid4().hex[:8]
        self.netns = f"skiff-e2e-{self.id}"
        self.dir = tempfile.mkdtemp(prefix="skiff-node-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig.yaml")
        self.log_dir = os.path.join(self.dir, "logs")
        self.cgroup_root = f"/skiff-e2e-{self.id}"
        self.extra = list(extra)
        self.datastore = datastore
        self.remote_agent = remote_agent
        self.proc = None
        self.agent = None
        self.registry = None
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        try:
            self.run("ip", "link", "set", "lo", "up", check=True)
            self._start_registry()
            self.image = self.push_image("busybox:e2e")
            self.start()
        except BaseException:
            self.cleanup()
            raise

    # processes in the namespace

    def cmd(self, *args):
        return ["nsenter", f"--net=/run/netns/{self.netns}", *[str(a) for a in args]]

    def run(self, *args, check=False, timeout=60, input=None):
        return subprocess.run(self.cmd(*args), capture_output=True, text=True,
                              check=check, timeout=timeout, input=input)

    def popen(self, *args, **kw):
        return subprocess.Popen(self.cmd(*args), **kw)

    def _start_registry(self):
        rdir = os.path.join(self.dir, "registry")
        os.makedirs(rdir)
        cfg = os.path.join(rdir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {rdir}/data\nhttp:\n"
                    f"  addr: 127.0.0.1:{REGISTRY_PORT}\n")
        self.registry_log = open(os.path.join(rdir, "registry.log"), "wb")
        self.registry = self.popen(REGISTRY_BIN, "serve", cfg, stdout=self.registry_log,
                                   stderr=subprocess.STDOUT)

        def up():
            r = self.run("sh", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{REGISTRY_PORT}"
                         if False else f"true", timeout=5)
            p = self.run(str(SKIFF), "image", "--root", os.path.join(self.dir, "probe"),
                         "pull", f"127.0.0.1:{REGISTRY_PORT}/none:none", timeout=10)
            return r.returncode == 0 and "connect" not in (p.stderr or "").lower()
        wait_for(up, 20, "docker-registry")

    def push_image(self, name, files=None):
        """Imports the busybox rootfs (plus @files: {path: text}) as @name and pushes it
        to the node's registry; returns the reference pods use."""
        work = tempfile.mkdtemp(prefix="img-", dir=self.dir)
        tar = os.path.join(work, "rootfs.tar")
        subprocess.run([str(MKROOTFS_TAR), tar], check=True, timeout=120)
        if files:
            extra = os.path.join(work, "extra")
            for path, text in files.items():
                p = os.path.join(extra, path.lstrip("/"))
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write(text)
            subprocess.run(["tar", "-rf", tar, "-C", extra, "."], check=True)
        ref = f"127.0.0.1:{REGISTRY_PORT}/{name}"
        store = os.path.join(self.dir, "push-store")
        for args in (["import", tar, ref], ["push", ref]):
            p = self.run(str(SKIFF), "image", "--root", store, *args, timeout=120)
            assert p.returncode == 0, f"skiff image {' '.join(args)}: {p.stderr}"
        shutil.rmtree(work, ignore_errors=True)
        return ref

    def start(self):
        """Starts what is not running: the server, and the remote agent if any."""
        if not self.proc or self.proc.poll() is not None:
            self._start_server()
        if self.remote_agent and (not self.agent or self.agent.poll() is not None):
            self._start_agent()
        self._wait_ready()

    def _start_server(self):
        args = [SKIFF, "server", "--data-dir", self.data, "--write-kubeconfig",
                self.kubeconfig, *self.extra]
        if self.remote_agent:
            args += ["--disable-agent"]
        else:
            args += ["--node-name", "node1", "--pod-log-dir", self.log_dir,
                     "--cgroup-root", self.cgroup_root]
        if self.datastore:
            args += ["--datastore-endpoint", self.datastore]
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = self.popen(*args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.kubeconfig) or self.proc.poll() is not None,
                 30, "the kubeconfig")

    def _start_agent(self):
        server_dir = os.path.join(self.data, "server")
        wait_for(lambda: os.path.exists(os.path.join(server_dir, "token")), 30, "the token")
        args = [SKIFF, "agent", "--server", "https://127.0.0.1:6443", "--token-file",
                os.path.join(server_dir, "token"), "--ca-file",
                os.path.join(server_dir, "tls", "server-ca.crt"),
                "--data-dir", os.path.join(self.dir, "agent-data"), "--node-name", "node1",
                "--node-ip", "127.0.0.1", "--pod-log-dir", self.log_dir,
                "--cgroup-root", self.cgroup_root]
        self.agent_log = open(os.path.join(self.dir, "agent.log"), "ab")
        self.agent = self.popen(*args, stdout=self.agent_log, stderr=subprocess.STDOUT)

    def _wait_ready(self):
        def ready():
            for proc in (self.proc, self.agent):
                if proc is not None and proc.poll() is not None:
                    raise AssertionError(f"a skiff process exited {proc.returncode}:\n"
                                         + self.logs())
            if not os.path.exists(self.kubeconfig):
                return False
            p = self.kubectl("get", "node", "node1", "-o", "json", check=False)
            if p.returncode:
                return False
            conds = json.loads(p.stdout)["status"].get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
        wait_for(ready, 60, "the node to be Ready")

    def logs(self):
        out = ""
        for name in ("server.log", "agent.log"):
            try:
                out += open(os.path.join(self.dir, name), errors="replace").read()[-6000:]
            except OSError:
                pass
        return out

    def kill9(self):
        """Kills the node agent with SIGKILL (with the in-process agent: the server)."""
        proc = self.agent if self.remote_agent else self.proc
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        (self.agent_log if self.remote_agent else self.log).close()

    def stop(self):
        for proc, log in ((self.agent, getattr(self, "agent_log", None)),
                          (self.proc, getattr(self, "log", None))):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if log:
                log.close()

    # clients

    def kubectl(self, *args, input=None, check=True, timeout=60):
        p = self.run(KUBECTL, "--kubeconfig", self.kubeconfig, *args, input=input,
                     timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))} failed "
                                 f"({p.returncode}):\n{p.stdout}\n{p.stderr}\n"
                                 f"--- server log ---\n{self.logs()}")
        return p

    def kjson(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest):
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.kubectl("apply", "-f", "-", input=text)

    def pod(self, name, ns="default"):
        return self.kjson("get", "pod", name, "-n", ns)

    def wait_pod(self, name, pred, timeout=60, what=None, ns="default"):
        last = {}

        def check():
            last["pod"] = self.pod(name, ns)
            return pred(last["pod"])
        try:
            wait_for(check, timeout, what or f"pod {name}")
            return last["pod"]
        except AssertionError as e:
            raise AssertionError(f"{e}\npod: {json.dumps(last.get('pod'), indent=1)}\n"
                                 f"--- server log ---\n{self.logs()}") from None

    def wait_running(self, name, timeout=60, ns="default"):
        return self.wait_pod(name, lambda p: p["status"].get("phase") == "Running" and all(
            c.get("ready") for c in p["status"].get("containerStatuses", [])),
            timeout, f"pod {name} Running and Ready", ns)

    # cleanup

    def cleanup(self):
        self.stop()
        for pods in (Path(self.data, "agent", "pods"),
                     Path(self.dir, "agent-data", "agent", "pods")):
            cleanup_agent_state(pods, self.cgroup_root, None)
        cleanup_agent_state(None, self.cgroup_root, self.dir)
        if self.registry and self.registry.poll() is None:
            self.registry.kill()
            self.registry.wait()
            self.registry_log.close()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _cgroup_dirs(cgroup_root):
    base = Path("/sys/fs/cgroup")
    dirs = []
    for ctl in base.iterdir() if base.exists() else []:
        d = ctl / cgroup_root.lstrip("/")
        if d.is_dir():
            dirs.append(d)
    return dirs


def cleanup_agent_state(pods_dir, cgroup_root, mount_prefix):
    """Kills what an agent left running (pause processes and container monitors under
    @pods_dir, every process in the cgroups under @cgroup_root), unmounts everything
    under @mount_prefix (deepest first) and removes the cgroups."""
    pids = []
    if pods_dir is not None:
        for rec in Path(pods_dir).glob("*/pod.json"):
            try:
                pids.append(int(json.loads(rec.read_text()).get("pausePid", 0)))
            except (OSError, ValueError):
                pass
        for f in Path(pods_dir).glob("*/containers/*/*/shim.pid"):
            try:
                pids.append(int(f.read_text().strip()))
            except (OSError, ValueError):
                pass
    for pid in pids:
        if pid > 0:
            _kill(pid)
    dirs = _cgroup_dirs(cgroup_root)
    for d in dirs:
        for procs in d.rglob("cgroup.procs"):
            try:
                for pid in procs.read_text().split():
                    _kill(int(pid))
            except OSError:
                pass
    time.sleep(0.2)
    if mount_prefix:
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp.startswith(mount_prefix):
                    mounts.append(mp)
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    for d in dirs:
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()),
                          key=lambda p: len(str(p)), reverse=True):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            d.rmdir()
        except OSError:
            pass
