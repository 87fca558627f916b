# SPDX-License-Identifier: Apache-2.0
"""A skiff control plane for end-to-end tests: `skiff server` on a free loopback
port with a temporary data directory and kubeconfig, on SQLite or on a real etcd
the test starts; the real kubectl as the client, and a small HTTPS client for
what kubectl does not show (status codes, watch streams)."""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import yaml  # noqa: F401  (python3-yaml, for tests that read kubectl -o yaml)

REPO = Path(__file__).resolve().parents[2]
SKIFF = Path(os.environ.get("SKIFF", REPO / "build" / "skiff"))
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
ETCD = Path("/usr/bin/etcd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Etcd:
    """A single-member etcd on loopback ports with its data in a temporary dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="skiff-etcd-")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(os.path.join(self.dir, "etcd.log"), "wb")
        self.proc = subprocess.Popen(
            [str(ETCD), "--name", "default", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"default={peer}"],
            stdout=self.log, stderr=subprocess.STDOUT)

        def healthy():
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=1)
                c.request("GET", "/health")
                return c.getresponse().status == 200
            except OSError:
                return False
        wait_for(healthy, 30, "etcd")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """`skiff server` with its own data dir; kubectl and HTTPS helpers."""

    def __init__(self, datastore=None, extra=(), control_plane=False):
        """control_plane: also run the scheduler and controllers (API-only tests leave
        them out, so that nothing but the test writes objects)."""
        self.dir = tempfile.mkdtemp(prefix="skiff-server-")
        self.port = free_port()
        self.kubeconfig = os.path.join(self.dir, "kubeconfig.yaml")
        self.datastore = datastore
        self.extra = list(extra)
        if not control_plane:
            self.extra += ["--disable-scheduler", "--disable-controller-manager"]
        self.proc = None
        self.start()

    # process

    def start(self):
        args = [str(SKIFF), "server", "--data-dir", os.path.join(self.dir, "data"),
                "--https-listen-port", str(self.port), "--bind-address", "127.0.0.1",
                "--write-kubeconfig", self.kubeconfig, "--disable-agent",
                "--disable-dns"] + self.extra
        if self.datastore:
            args += ["--datastore-endpoint", self.datastore]
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._ready, 30, "the API server")
        self._load_kubeconfig()

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"skiff server exited: {self.proc.returncode}\n{self.logs()}")
        if not os.path.exists(self.kubeconfig):
            return False
        try:
            self._load_kubeconfig()
            return self.request("GET", "/readyz", auth=False)[0] == 200
        except (OSError, ssl.SSLError, KeyError):
            return False

    def _load_kubeconfig(self):
        cfg = yaml.safe_load(open(self.kubeconfig))
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        self.token = cfg["users"][0]["user"]["token"]
        self.ctx = ssl.create_default_context(cadata=self.ca)

    def logs(self):
        try:
            return open(os.path.join(self.dir, "server.log"), errors="replace").read()[-4000:]
        except OSError:
            return ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def restart(self):
        self.stop()
        self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # clients

    def kubectl(self, *args, input=None, check=True, env=None, timeout=60):
        e = dict(os.environ)
        e.pop("KUBECONFIG", None)
        e.update(env or {})
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, env=e,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}\n--- server log ---\n{self.logs()}")
        return p

    def kjson(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def connection(self, timeout=30):
        host, port = self.url[len("https://"):].rsplit(":", 1)
        return http.client.HTTPSConnection(host.strip("[]"), int(port), context=self.ctx,
                                           timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json", auth=True,
                token=None, headers=None):
        c = self.connection()
        h = dict(headers or {})
        if auth:
            h["Authorization"] = f"Bearer {token or self.token}"
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            h["Content-Type"] = ctype
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = data.decode(errors="replace")
        return r.status, doc

    def watch(self, path, timeout=30):
        """Opens a watch; yields decoded events until the server ends the stream."""
        c = self.connection(timeout=timeout)
        c.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        buf = b""
        try:
            while True:
                chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            c.close()


class Sim:
    """`skiff sim nodes`: hollow nodes joined to a Server, killed to fail their hosts."""

    def __init__(self, server, count, prefix, extra=()):
        data = os.path.join(server.dir, "data", "server")
        self.log = open(os.path.join(server.dir, f"sim-{prefix}.log"), "ab")
        self.proc = subprocess.Popen(
            [str(SKIFF), "sim", "nodes", "--count", str(count), "--server", server.url,
             "--token", open(os.path.join(data, "token")).read().strip(),
             "--ca-file", os.path.join(data, "tls", "server-ca.crt"),
             "--name-prefix", prefix, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.names = []

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"skiff sim exited {self.proc.returncode}")
            nodes = json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            up = sorted(n["metadata"]["name"] for n in nodes
                        if n["metadata"]["name"].startswith(prefix) and
                        any(c["type"] == "Ready" and c["status"] == "True"
                            for c in n.get("status", {}).get("conditions", [])))
            self.names = up
            return len(up) == count
        wait_for(ready, 60, f"{count} hollow nodes {prefix}*")

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
        self.log.close()
