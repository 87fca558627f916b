# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the registry client: `skiff image pull/push/login/logout`.

Each test runs Debian's docker-registry on a free loopback port (plain HTTP, as
skiff uses for loopback registries) with its storage in the test's temporary
directory, puts images in with skopeo and drives `skiff image --root DIR`.
Misbehaving networks and token servers come from Proxy, a small HTTP proxy in
front of the registry: it can cut a blob's response short, flip a byte of it,
redirect blob downloads to another host or demand Bearer tokens it issues.

Environment: SKIFF_BIN (see conftest.py); the skiff binary beside it is tested.
"""

import base64
import ctypes
import gzip
import hashlib
import http.client
import io
import json
import os
import platform
import shutil
import socket
import stat
import subprocess
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIFF = Path(os.environ.get("SKIFF_BIN", REPO / "build" / "skiff-runtime")).with_name("skiff")
REGISTRY_BIN = Path("/usr/bin/docker-registry")
SKOPEO = shutil.which("skopeo")
MKROOTFS_TAR = REPO / "scripts" / "mkrootfs-tar.sh"
TIMEOUT = 120
USER, PASSWORD = "alice", "wonderland-7"

pytestmark = [
    pytest.mark.skipif(not SKIFF.exists(), reason=f"{SKIFF} is not built"),
    pytest.mark.skipif(not REGISTRY_BIN.exists(), reason="docker-registry is not installed"),
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed"),
]


def goarch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt(password):
    """A bcrypt hash for htpasswd, from libxcrypt (no Python package needed)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                  ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", 5, None, 0)
    return lib.crypt(password.encode(), salt).decode()


class Registry:
    """docker-registry on 127.0.0.1:<free port>, optionally with htpasswd basic auth."""

    def __init__(self, workdir, auth=False):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        config = [
            "version: 0.1",
            "log:",
            "  level: error",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.dir / 'data'}",
            "http:",
            f"  addr: {self.addr}",
        ]
        if auth:
            (self.dir / "htpasswd").write_text(f"{USER}:{bcrypt(PASSWORD)}\n")
            config += ["auth:", "  htpasswd:", "    realm: skiff-test",
                       f"    path: {self.dir / 'htpasswd'}"]
        (self.dir / "config.yml").write_text("\n".join(config) + "\n")
        self.log = open(self.dir / "registry.log", "w")
        self.proc = subprocess.Popen([str(REGISTRY_BIN), "serve", str(self.dir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v2/")
                conn.getresponse().read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "docker-registry did not start: "
                        + (self.dir / "registry.log").read_text())
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.handle_any()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def handle_any(self):
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        with proxy.lock:
            proxy.requests.append((self.command, self.path, headers))
        # repeated fields (skopeo sends one Accept per media type) stay separate
        forward = list(self.headers.items())
        if proxy.bearer is not None and not self.check_bearer(proxy, headers):
            return
        if self.path.startswith("/redirected/"):
            with proxy.lock:
                proxy.redirected.append(headers)
            path = self.path[len("/redirected"):]
            forward = [(k, v) for k, v in forward if k.lower() != "authorization"]
            if proxy.upstream_auth:
                forward.append(("Authorization", proxy.upstream_auth))
        else:
            path = self.path
        is_blob_get = self.command == "GET" and "/blobs/sha256:" in path
        if self.command == "PUT" and "digest=" in path and proxy.fail_uploads:
            with proxy.lock:
                proxy.fail_uploads -= 1
            self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"disk hiccup"}]}',
                       {"Content-Type": "application/json"})
            return
        if proxy.fail_manifests and "/manifests/" in path:
            status, doc = proxy.fail_manifests
            self.reply(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})
            return
        if is_blob_get and proxy.redirect_blobs and not self.path.startswith("/redirected/"):
            self.reply(307, b"", {"Location": f"http://localhost:{proxy.port}/redirected{path}"})
            return
        if proxy.bearer is not None:
            forward = [(k, v) for k, v in forward if k.lower() != "authorization"]
        conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=60)
        conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
        for k, v in forward:
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        out = [(k, v) for k, v in resp.getheaders()
               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        if self.command == "HEAD":
            out.append(("Content-Length", resp.getheader("Content-Length") or "0"))
            self.send_response(resp.status)
            for k, v in out:
                self.send_header(k, v)
            self.end_headers()
            return
        if is_blob_get and resp.status in (200, 206) and len(data) > 1000:
            with proxy.lock:
                cut = proxy.cut_after
                if not proxy.cut_every:
                    proxy.cut_after = None
                flip = proxy.flip_blobs
            if flip:
                data = data[:500] + bytes([data[500] ^ 0xFF]) + data[501:]
            if cut is not None:
                self.send_response(resp.status)
                for k, v in out:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self.reply(resp.status, data, dict(out))

    def reply(self, status, data, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def check_bearer(self, proxy, headers):
        """Acts as a token server and demands its tokens; False when it answered."""
        auth = headers.get("Authorization", "")
        if self.path.startswith("/token"):
            basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            with proxy.lock:
                proxy.token_requests.append((self.path, auth))
            if proxy.bearer == "credentials" and auth != basic:
                self.reply(401, b'{"errors":[{"message":"bad credentials"}]}',
                           {"Content-Type": "application/json"})
                return False
            body = json.dumps({"access_token": proxy.token, "expires_in": 300}).encode()
            self.reply(200, body, {"Content-Type": "application/json"})
            return False
        if auth == f"Bearer {proxy.token}":
            return True
        name = self.path.split("/")[2] if self.path.startswith("/v2/") and self.path != "/v2/" else ""
        scope = f',scope="repository:{name}:pull"' if name else ""
        challenge = (f'Bearer realm="http://127.0.0.1:{proxy.port}/token",'
                     f'service="skiff-test"{scope}')
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}',
                   {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
        return False


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of a registry, misbehaving on request."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.requests = []        # (method, path, headers) of every request
        self.redirected = []      # headers of requests that followed a redirect
        self.token_requests = []  # (path, Authorization) of token requests
        self.cut_after = None     # cut the next blob response after this many bytes
        self.cut_every = False    # ... and every one after it
        self.fail_manifests = None  # (status, JSON body) for every manifest request
        self.fail_uploads = 0     # answer this many upload-closing PUTs with 500
        self.flip_blobs = False   # flip a byte in every blob sent
        self.redirect_blobs = False  # send blob GETs to http://localhost:PORT/redirected/
        self.upstream_auth = None    # Authorization the proxy adds upstream on redirects
        self.bearer = None        # None, "anonymous" or "credentials": issue and demand tokens
        self.token = "t0k3n-" + os.urandom(6).hex()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), ProxyHandler)
        self.server.daemon_threads = True
        self.server.proxy = self
        self.port = self.server.server_address[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def seen(self, method, fragment=""):
        with self.lock:
            return [r for r in self.requests if r[0] == method and fragment in r[1]]


# ---- images ----

def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = Path(layout) / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "sha256:" + digest


def descriptor(layout, media_type, data):
    return {"mediaType": media_type, "digest": blob(layout, data), "size": len(data)}


def tar_of(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def image_manifest(layout, layers, arch):
    """Writes an OCI image of @layers ((media type, bytes, diff bytes)); its manifest bytes."""
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()
                                for _, _, raw in layers]},
    }).encode()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(layout, "application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor(layout, mt, data) for mt, data, _ in layers],
    }).encode()


def write_layout(layout, top_media_type, top, tag):
    layout = Path(layout)
    entry = descriptor(layout, top_media_type, top)
    entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return entry["digest"]


def skopeo(*args):
    proc = subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def skopeo_push(layout, tag, dest, creds=None, all_images=False):
    args = ["copy", "--dest-tls-verify=false"]
    if creds:
        args.append(f"--dest-creds={creds}")
    if all_images:
        args.append("--all")
    skopeo(*args, f"oci:{layout}:{tag}", f"docker://{dest}")


def remote_digest(ref, creds=None):
    args = ["inspect", "--tls-verify=false", "--raw"]
    if creds:
        args.append(f"--creds={creds}")
    raw = subprocess.run([SKOPEO, *args, f"docker://{ref}"], capture_output=True,
                         timeout=TIMEOUT, check=True).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.fixture(scope="module")
def busybox_layer(tmp_path_factory):
    """The gzipped busybox rootfs layer (scripts/mkrootfs-tar.sh) and its tar."""
    out = tmp_path_factory.mktemp("busybox") / "rootfs.tar"
    subprocess.run([str(MKROOTFS_TAR), str(out)], check=True, timeout=TIMEOUT)
    raw = out.read_bytes()
    return ("application/vnd.oci.image.layer.v1.tar+gzip", gzip.compress(raw, mtime=0), raw)


@pytest.fixture
def env(tmp_path):
    """The test's temporary directory, registries and proxies stopped afterwards."""
    started = []

    class Env:
        path = tmp_path
        root = tmp_path / "store"
        auth_file = tmp_path / "auth" / "auth.json"

        def registry(self, name="registry", auth=False):
            r = Registry(tmp_path / name, auth=auth)
            started.append(r)
            return r

        def proxy(self, upstream):
            p = Proxy(upstream.port)
            started.append(p)
            return p

        def skiff(self, *args, root=None, input=None):
            cmd = [str(SKIFF), "image", "--root", str(root or self.root), *args]
            environ = dict(os.environ, REGISTRY_AUTH_FILE=str(self.auth_file))
            return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                                  env=environ, input=input)

        def ok(self, *args, root=None, input=None):
            proc = self.skiff(*args, root=root, input=input)
            assert proc.returncode == 0, f"skiff image {' '.join(args)}: {proc.stderr}"
            return proc.stdout

        def inspect_digest(self, ref, root=None):
            return json.loads(self.ok("inspect", ref, root=root))[0]["Digest"]

        def names(self, root=None):
            return sorted(i["Name"] for i in json.loads(self.ok("ls", "--format", "json",
                                                                root=root)))

    yield Env()
    for s in reversed(started):
        s.stop()


def push_busybox(env, layer, dest, creds=None):
    layout = env.path / "layout-busybox"
    if not layout.exists():
        write_layout(layout, "application/vnd.oci.image.manifest.v1+json",
                     image_manifest(layout, [layer], goarch()), "1")
    skopeo_push(layout, "1", dest, creds=creds)
    return remote_digest(dest, creds=creds)


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def store_blobs(root):
    d = Path(root) / "blobs" / "sha256"
    return {"sha256:" + p.name for p in d.iterdir()} if d.exists() else set()


# ---- pull ----

def test_pull_by_tag_and_by_digest_name_the_same_manifest(env, busybox_layer):
    reg = env.registry()
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")

    by_tag = env.ok("pull", f"{reg.addr}/busybox:1").strip().splitlines()[-1]
    by_digest = env.ok("pull", f"{reg.addr}/busybox@{want}").strip().splitlines()[-1]

    assert by_tag == by_digest == want
    assert env.inspect_digest(f"{reg.addr}/busybox:1") == want
    assert env.names() == sorted([f"{reg.addr}/busybox:1", f"{reg.addr}/busybox@{want}"])
    assert digest_of(busybox_layer[1]) in store_blobs(env.root)


def test_pull_of_an_index_selects_the_platform_and_names_the_index(env, busybox_layer):
    reg = env.registry()
    layout = env.path / "layout-multi"
    children = []
    for arch in ("amd64", "arm64"):
        raw = tar_of({f"{arch}.txt": arch.encode()})
        extra = ("application/vnd.oci.image.layer.v1.tar+gzip", gzip.compress(raw, mtime=0), raw)
        m = image_manifest(layout, [busybox_layer, extra], arch)
        d = descriptor(layout, "application/vnd.oci.image.manifest.v1+json", m)
        d["platform"] = {"os": "linux", "architecture": arch}
        children.append(d)
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}).encode()
    write_layout(layout, "application/vnd.oci.image.index.v1+json", index, "multi")
    skopeo_push(layout, "multi", f"{reg.addr}/multi:1", all_images=True)
    # skopeo writes the index anew: take the registry's
    index_digest = remote_digest(f"{reg.addr}/multi:1")
    children = json.loads(skopeo("inspect", "--tls-verify=false", "--raw",
                                 f"docker://{reg.addr}/multi:1"))["manifests"]
    assert [c["platform"]["architecture"] for c in children] == ["amd64", "arm64"]

    out = env.ok("pull", "--platform", "linux/arm64", f"{reg.addr}/multi:1")

    assert out.strip().splitlines()[-1] == index_digest
    assert env.names() == [f"{reg.addr}/multi:1"]
    blobs = store_blobs(env.root)
    assert {index_digest, children[1]["digest"]} <= blobs
    assert children[0]["digest"] not in blobs
    assert digest_of(gzip.compress(tar_of({"arm64.txt": b"arm64"}), mtime=0)) in blobs

    # with one platform in the store, push sends that image alone, as podman does
    env.ok("push", f"{reg.addr}/multi:1", f"{reg.addr}/one:1")
    assert remote_digest(f"{reg.addr}/one:1") == children[1]["digest"]

    host = env.path / "host"
    env.ok("pull", f"{reg.addr}/multi:1", root=host)
    info = json.loads(env.ok("inspect", f"{reg.addr}/multi:1", root=host))[0]
    assert info["Digest"] == index_digest
    assert info["Architecture"] == goarch()

    # with every platform in the store, push sends them all and the index
    env.ok("pull", "--platform", "linux/arm64", f"{reg.addr}/multi:1", root=host)
    env.ok("push", f"{reg.addr}/multi:1", f"{reg.addr}/all:1", root=host)
    assert remote_digest(f"{reg.addr}/all:1") == index_digest
    for child in children:
        assert remote_digest(f"{reg.addr}/all@{child['digest']}") == child["digest"]

    proc = env.skiff("pull", "--platform", "linux/s390x", f"{reg.addr}/multi:1",
                     root=env.path / "other")
    assert proc.returncode != 0
    assert "linux/s390x" in proc.stderr and "linux/arm64" in proc.stderr


def test_pull_reports_a_missing_manifest(env, busybox_layer):
    reg = env.registry()
    push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")

    missing_tag = env.skiff("pull", f"{reg.addr}/busybox:nope")
    missing_repo = env.skiff("pull", f"{reg.addr}/nothing/here:1")

    assert missing_tag.returncode != 0
    assert f"manifest unknown: {reg.addr}/busybox:nope" in missing_tag.stderr
    assert f"manifest unknown: {reg.addr}/nothing/here:1" in missing_repo.stderr
    assert env.names() == []


def test_pull_resumes_a_blob_after_a_dropped_connection(env, busybox_layer):
    reg = env.registry()
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")
    proxy = env.proxy(reg)
    proxy.cut_after = 300_000
    layer = digest_of(busybox_layer[1])

    out = env.ok("pull", f"{proxy.addr}/busybox:1")

    assert out.strip().splitlines()[-1] == want
    gets = [r for r in proxy.seen("GET", f"/blobs/{layer}")]
    assert len(gets) == 2, gets
    ranges = [{k.lower(): v for k, v in h.items()}.get("range") for _, _, h in gets]
    assert ranges == [None, "bytes=300000-"]
    data = (env.root / "blobs" / "sha256" / layer.split(":")[1]).read_bytes()
    assert data == busybox_layer[1]


def test_pull_gives_up_on_a_blob_and_the_next_pull_resumes_it(env, busybox_layer):
    reg = env.registry()
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")
    proxy = env.proxy(reg)
    proxy.cut_after = 200_000
    proxy.cut_every = True
    layer = digest_of(busybox_layer[1])

    proc = env.skiff("pull", f"{proxy.addr}/busybox:1")

    assert proc.returncode != 0
    assert f"fetch blob {proxy.addr}/busybox@{layer} (gave up after 4 attempts)" in proc.stderr
    assert env.names() == []
    ranges = [{k.lower(): v for k, v in h.items()}.get("range")
              for _, _, h in proxy.seen("GET", f"/blobs/{layer}")]
    assert ranges == [None, "bytes=200000-", "bytes=400000-", "bytes=600000-"]

    proxy.cut_after = None
    del proxy.requests[:]
    assert env.ok("pull", f"{proxy.addr}/busybox:1").strip().splitlines()[-1] == want
    ranges = [{k.lower(): v for k, v in h.items()}.get("range")
              for _, _, h in proxy.seen("GET", f"/blobs/{layer}")]
    assert ranges == ["bytes=800000-"]
    assert not list((env.root / "ingest").iterdir())


def test_pull_reports_registry_errors_with_their_message(env, busybox_layer):
    reg = env.registry()
    push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")
    proxy = env.proxy(reg)
    proxy.fail_manifests = (503, {"errors": [{"code": "UNAVAILABLE",
                                              "message": "storage is on fire"}]})

    proc = env.skiff("pull", f"{proxy.addr}/busybox:1")

    assert proc.returncode != 0
    assert (f"manifest {proxy.addr}/busybox:1: registry '{proxy.addr}' answered 503: "
            "storage is on fire") in proc.stderr
    assert len(proxy.seen("GET", "/manifests/")) == 4  # three retries with backoff

    proxy.fail_manifests = (429, {"errors": [{"code": "TOOMANYREQUESTS",
                                              "message": "slow down"}]})
    proc = env.skiff("pull", f"{proxy.addr}/busybox:1")
    assert (f"manifest {proxy.addr}/busybox:1: too many requests to '{proxy.addr}': "
            "slow down") in proc.stderr
    assert env.names() == []


def test_pull_rejects_a_corrupted_blob_and_names_nothing(env, busybox_layer):
    reg = env.registry()
    push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")
    proxy = env.proxy(reg)
    proxy.flip_blobs = True
    layer = digest_of(busybox_layer[1])

    proc = env.skiff("pull", f"{proxy.addr}/busybox:1")

    assert proc.returncode != 0
    assert f"blob {layer}: content has digest" in proc.stderr
    assert env.names() == []
    assert layer not in store_blobs(env.root)
    assert not [p for p in (env.root / "ingest").iterdir() if layer.split(":")[1] in p.name]
    # a good connection then works, the store unharmed
    proxy.flip_blobs = False
    env.ok("pull", f"{proxy.addr}/busybox:1")
    assert env.names() == [f"{proxy.addr}/busybox:1"]


# ---- push ----

def test_push_then_pull_back_keeps_the_digest(env, busybox_layer):
    src = env.registry("src")
    dst = env.registry("dst")
    want = push_busybox(env, busybox_layer, f"{src.addr}/busybox:1")
    env.ok("pull", f"{src.addr}/busybox:1")

    env.ok("push", f"{src.addr}/busybox:1", f"{dst.addr}/library/busybox:copy")

    assert remote_digest(f"{dst.addr}/library/busybox:copy") == want
    inspected = json.loads(skopeo("inspect", "--tls-verify=false",
                                  f"docker://{dst.addr}/library/busybox:copy"))
    assert inspected["Digest"] == want
    back = env.path / "back"
    out = env.ok("pull", f"{dst.addr}/library/busybox:copy", root=back)
    assert out.strip().splitlines()[-1] == want
    # a second push finds every blob there and only puts the manifest again
    proxy = env.proxy(dst)
    env.ok("push", f"{src.addr}/busybox:1", f"{proxy.addr}/library/busybox:copy")
    assert proxy.seen("POST") == [] and proxy.seen("PATCH") == []
    assert len(proxy.seen("PUT", "/manifests/copy")) == 1


def test_push_retries_a_failed_upload_in_a_new_session(env, busybox_layer):
    src = env.registry("src")
    dst = env.registry("dst")
    want = push_busybox(env, busybox_layer, f"{src.addr}/busybox:1")
    env.ok("pull", f"{src.addr}/busybox:1")
    proxy = env.proxy(dst)
    proxy.fail_uploads = 1

    env.ok("push", f"{src.addr}/busybox:1", f"{proxy.addr}/busybox:1")

    assert remote_digest(f"{dst.addr}/busybox:1") == want
    assert len(proxy.seen("POST", "/blobs/uploads/")) == 3  # one blob twice

    proxy.fail_uploads = 10
    proc = env.skiff("push", f"{src.addr}/busybox:1", f"{proxy.addr}/other:1")
    assert proc.returncode != 0
    assert f"blob upload {proxy.addr}/other@sha256:" in proc.stderr
    assert f"registry '{proxy.addr}' answered 500: disk hiccup" in proc.stderr


def test_push_sends_a_large_blob_in_chunks(env):
    src = env.registry("src")
    dst = env.registry("dst")
    layout = env.path / "layout-big"
    raw = tar_of({"random.bin": os.urandom(19 << 20)})
    layer = ("application/vnd.oci.image.layer.v1.tar", raw, raw)
    write_layout(layout, "application/vnd.oci.image.manifest.v1+json",
                 image_manifest(layout, [layer], goarch()), "big")
    skopeo_push(layout, "big", f"{src.addr}/big:1")
    want = remote_digest(f"{src.addr}/big:1")
    # skopeo compresses the layer on the way: take its size from the registry
    size = json.loads(skopeo("inspect", "--tls-verify=false", "--raw",
                             f"docker://{src.addr}/big:1"))["layers"][0]["size"]
    assert size > 16 << 20
    env.ok("pull", f"{src.addr}/big:1")
    proxy = env.proxy(dst)

    env.ok("push", f"{src.addr}/big:1", f"{proxy.addr}/big:1")

    assert remote_digest(f"{dst.addr}/big:1") == want
    patches = proxy.seen("PATCH", "/blobs/uploads/")
    assert len(patches) == 3
    assert [h.get("Content-Range") for _, _, h in patches] == [
        f"0-{(8 << 20) - 1}", f"{8 << 20}-{(16 << 20) - 1}", f"{16 << 20}-{size - 1}"]
    # skopeo checks every blob's digest as it copies
    skopeo("copy", "--src-tls-verify=false", f"docker://{dst.addr}/big:1",
           f"oci:{env.path / 'verify'}:big")


def test_push_mounts_blobs_from_another_repository_of_the_registry(env, busybox_layer):
    reg = env.registry()
    proxy = env.proxy(reg)
    want = push_busybox(env, busybox_layer, f"{proxy.addr}/busybox:1")
    env.ok("pull", f"{proxy.addr}/busybox:1")

    env.ok("push", f"{proxy.addr}/busybox:1", f"{proxy.addr}/team/busybox:2")

    assert remote_digest(f"{reg.addr}/team/busybox:2") == want
    mounts = proxy.seen("POST", "mount=")
    assert len(mounts) == 2 and all("from=busybox" in p for _, p, _ in mounts)
    assert proxy.seen("PATCH", "team") == []
    assert [p for _, p, _ in proxy.seen("PUT", "team/busybox")] == [
        "/v2/team/busybox/manifests/2"]


# ---- credentials ----

def test_basic_auth_registry_needs_login(env, busybox_layer):
    reg = env.registry(auth=True)
    creds = f"{USER}:{PASSWORD}"
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1", creds=creds)

    denied = env.skiff("pull", f"{reg.addr}/busybox:1")
    assert denied.returncode != 0
    assert f"authentication required for '{reg.addr}/busybox'" in denied.stderr

    wrong = env.skiff("login", "-u", USER, "-p", "nope", reg.addr)
    assert wrong.returncode != 0
    assert "invalid username or password" in wrong.stderr
    assert not env.auth_file.exists()

    env.ok("login", "-u", USER, "--password-stdin", reg.addr, input=PASSWORD + "\n")
    assert stat.S_IMODE(env.auth_file.stat().st_mode) == 0o600
    saved = json.loads(env.auth_file.read_text())["auths"][reg.addr]["auth"]
    assert base64.b64decode(saved).decode() == creds

    assert env.ok("pull", f"{reg.addr}/busybox:1").strip().splitlines()[-1] == want
    env.ok("push", f"{reg.addr}/busybox:1", f"{reg.addr}/pushed:1")
    assert remote_digest(f"{reg.addr}/pushed:1", creds=creds) == want

    env.ok("logout", reg.addr)
    assert reg.addr not in json.loads(env.auth_file.read_text())["auths"]
    again = env.skiff("pull", f"{reg.addr}/busybox:1", root=env.path / "fresh")
    assert "authentication required" in again.stderr
    twice = env.skiff("logout", reg.addr)
    assert twice.returncode != 0 and f"not logged in to '{reg.addr}'" in twice.stderr


def test_bearer_token_flow_for_pull_push_and_login(env, busybox_layer):
    reg = env.registry()
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")
    proxy = env.proxy(reg)
    proxy.bearer = "anonymous"

    assert env.ok("pull", f"{proxy.addr}/busybox:1").strip().splitlines()[-1] == want
    path, auth = proxy.token_requests[0]
    assert "service=skiff-test" in path
    assert "scope=repository%3Abusybox%3Apull" in path
    assert auth == ""

    proxy.bearer = "credentials"
    proxy.token = "t0k3n-" + os.urandom(6).hex()
    wrong = env.skiff("login", "-u", USER, "-p", "nope", proxy.addr)
    assert wrong.returncode != 0 and "invalid username or password" in wrong.stderr
    env.ok("login", "-u", USER, "-p", PASSWORD, proxy.addr)
    del proxy.token_requests[:]
    env.ok("push", f"{proxy.addr}/busybox:1", f"{proxy.addr}/other:1")
    assert remote_digest(f"{reg.addr}/other:1") == want
    path, auth = proxy.token_requests[0]
    assert "scope=repository%3Aother%3Apull%2Cpush" in path
    assert auth.startswith("Basic ")


def test_blob_redirects_to_another_host_drop_the_credentials(env, busybox_layer):
    reg = env.registry(auth=True)
    creds = f"{USER}:{PASSWORD}"
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1", creds=creds)
    proxy = env.proxy(reg)
    proxy.redirect_blobs = True
    proxy.upstream_auth = "Basic " + base64.b64encode(creds.encode()).decode()
    env.ok("login", "-u", USER, "-p", PASSWORD, proxy.addr)

    assert env.ok("pull", f"{proxy.addr}/busybox:1").strip().splitlines()[-1] == want

    assert len(proxy.redirected) == 2  # config and layer
    for headers in proxy.redirected:
        assert headers["Host"].startswith("localhost:")
        assert "Authorization" not in headers
    direct = [h for _, p, h in proxy.seen("GET", "/blobs/") if not p.startswith("/redirected/")]
    assert len(direct) == 2 and all("Authorization" in h for h in direct)


def test_concurrent_pulls_into_one_store_keep_every_blob_intact(env, busybox_layer):
    reg = env.registry()
    want = push_busybox(env, busybox_layer, f"{reg.addr}/busybox:1")
    cmd = [str(SKIFF), "image", "--root", str(env.root), "pull", f"{reg.addr}/busybox:1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, REGISTRY_AUTH_FILE=str(env.auth_file)))
             for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err
    # every stored blob still hashes to its name
    for digest in store_blobs(env.root):
        data = (env.root / "blobs" / "sha256" / digest[7:]).read_bytes()
        assert digest_of(data) == digest
    assert env.inspect_digest(f"{reg.addr}/busybox:1") == want
    assert not list((env.root / "ingest").iterdir())
