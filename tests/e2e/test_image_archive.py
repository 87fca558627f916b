# SPDX-License-Identifier: Apache-2.0
"""`skiff image import`, `save` and `load` against tools nobody here wrote.

An OCI layout skiff writes is read by skopeo (inspect, copy) and unpacked by umoci
to the tree the rootfs tarball holds; skopeo's docker-archive and OCI archives load
into skiff with the same config and diff ids; skiff's docker-archive is read by
skopeo, podman and dockerd; an OCI archive survives a round trip unchanged. Every
store, layout and archive lives in the test's scratch dir.

The busybox rootfs is scripts/mkrootfs-tar.sh's. Tests skip when the tool they
drive is not installed (scripts/install-deps.sh installs skopeo, umoci, podman).
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from conftest import REPO
from podman_env import MKROOTFS_TAR, Podman, explain

SKOPEO = shutil.which("skopeo")
UMOCI = shutil.which("umoci")
ZSTD = shutil.which("zstd")
TIMEOUT = 120
LAYER_TYPES = {
    "tar": "application/vnd.oci.image.layer.v1.tar",
    "gz": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zst": "application/vnd.oci.image.layer.v1.tar+zstd",
}

needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
needs_umoci = pytest.mark.skipif(UMOCI is None, reason="umoci is not installed")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def run_ok(*args, **kwargs):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL, **kwargs)
    assert proc.returncode == 0, explain(proc)
    return proc.stdout


class Store:
    """`build/skiff image --root DIR` on one scratch store."""

    def __init__(self, root):
        self.root = Path(root)
        self.binary = Path(os.environ.get("SKIFF_IMAGE_BIN", REPO / "build" / "skiff"))

    def __call__(self, *args):
        return subprocess.run([str(self.binary), "image", "--root", str(self.root),
                               *map(str, args)], capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)

    def ok(self, *args):
        proc = self(*args)
        assert proc.returncode == 0, explain(proc)
        return proc.stdout

    def inspect(self, name):
        return json.loads(self.ok("inspect", name))[0]

    def names(self):
        return sorted(i["Name"] for i in json.loads(self.ok("ls", "--format", "json")))

    def load(self, path):
        """`load -i PATH`; the names it reports."""
        out = self.ok("load", "-i", path)
        return sorted(line.split(": ", 1)[1] for line in out.splitlines()
                      if line.startswith("Loaded image"))


class Layout:
    """An OCI image layout directory, read with nothing but json."""

    def __init__(self, path):
        self.path = Path(path)
        self.index = json.loads((self.path / "index.json").read_text())

    def blob_path(self, digest):
        return self.path / "blobs" / "sha256" / digest.split(":", 1)[1]

    def blob(self, digest):
        return self.blob_path(digest).read_bytes()

    def entry(self, name):
        entries = [m for m in self.index["manifests"]
                   if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == name]
        assert len(entries) == 1, f"{name} in {self.index}"
        return entries[0]

    def manifest(self, name):
        return json.loads(self.blob(self.entry(name)["digest"]))

    def config(self, name):
        return json.loads(self.blob(self.manifest(name)["config"]["digest"]))


@pytest.fixture(scope="module")
def scratch():
    d = Path(tempfile.mkdtemp(prefix="skiff-e2e-archive-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def rootfs(scratch):
    """The busybox rootfs as a tarball (.tar, .tar.gz and .tar.zst) and extracted."""
    tar = scratch / "rootfs.tar"
    subprocess.run([str(MKROOTFS_TAR), str(tar)], check=True)
    with open(tar, "rb") as src, gzip.open(scratch / "rootfs.tar.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    tree = scratch / "rootfs"
    tree.mkdir()
    subprocess.run(["tar", "-C", tree, "--numeric-owner", "-xpf", tar], check=True)
    files = {"tar": tar, "gz": scratch / "rootfs.tar.gz", "tree": tree,
             "diff_id": sha256_file(tar)}
    if ZSTD:
        subprocess.run([ZSTD, "-q", "-o", scratch / "rootfs.tar.zst", tar], check=True)
        files["zst"] = scratch / "rootfs.tar.zst"
    return files


@pytest.fixture
def tmp(workdir):
    return workdir


@pytest.fixture
def store(tmp):
    return Store(tmp / "store")


def tarball(rootfs, kind):
    if kind not in rootfs:
        pytest.skip(f"no {kind} tarball: zstd is not installed")
    return rootfs[kind]


def tree_of(root):
    """Every path below root with what unpacking must keep: type, mode, owner, content."""
    out = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            kind = stat.S_IFMT(st.st_mode)
            info = [kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
            if stat.S_ISREG(kind):
                info += [st.st_size, hashlib.sha256(p.read_bytes()).hexdigest(),
                         int(st.st_mtime)]
            elif stat.S_ISLNK(kind):
                info.append(os.readlink(p))
            elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
                info.append(st.st_rdev)
            out[str(p.relative_to(root))] = info
    return out


# ---- import ----


@pytest.mark.parametrize("kind", ["tar", "gz", "zst"])
def test_import_stores_the_tarball_as_a_layer_with_its_diff_id(store, rootfs, kind):
    src = tarball(rootfs, kind)
    store.ok("import", "--change", 'CMD ["sh"]', src, f"e2e/imp:{kind}")
    im = store.inspect(f"e2e/imp:{kind}")
    assert im["RepoTags"] == [f"docker.io/e2e/imp:{kind}"]
    assert im["RootFS"]["Layers"] == [rootfs["diff_id"]]
    (layer,) = im["ManifestLayers"]
    # the blob is the file as given, compressed or not
    assert layer["digest"] == sha256_file(src)
    assert layer["size"] == src.stat().st_size
    assert layer["mediaType"] == LAYER_TYPES[kind]
    assert im["Config"]["Cmd"] == ["sh"]
    assert (im["Os"], im["Architecture"]) == ("linux", "amd64")


def test_import_applies_changes_to_the_config(store, rootfs, tmp):
    store.ok("import", "--platform", "linux/arm64",
             "--change", "ENTRYPOINT /bin/echo hi",
             "--change", 'ENV A=1 B="two words"', "--change", "ENV A=3",
             "--change", "WORKDIR /srv", "--change", "WORKDIR app",
             "--change", "USER 1000:1000", "--change", "LABEL org.example.k=v x=y",
             "--change", "EXPOSE 80 53/udp", rootfs["tar"], "e2e/changes")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/changes")
    config = Layout(tmp / "lay").config("docker.io/e2e/changes:latest")
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert config["config"] == {
        "Entrypoint": ["/bin/sh", "-c", "/bin/echo hi"],
        "Env": ["A=3", "B=two words"],
        "WorkingDir": "/srv/app",
        "User": "1000:1000",
        "Labels": {"org.example.k": "v", "x": "y"},
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
    }
    assert config["rootfs"] == {"type": "layers", "diff_ids": [rootfs["diff_id"]]}
    assert [h["created_by"] for h in config["history"]] == ["skiff image import"]
    assert config["created"].endswith("Z")


@pytest.mark.parametrize("change", ["FROM busybox", "EXPOSE 70000", 'ENV "A=1', "CMD"])
def test_import_refuses_bad_changes_before_storing_anything(store, rootfs, change):
    proc = store("import", "--change", change, rootfs["tar"], "e2e/bad")
    assert proc.returncode != 0
    assert f"change '{change}'" in proc.stderr, proc.stderr
    assert store.names() == []


def test_import_refuses_what_is_not_a_tarball(store, tmp):
    junk = tmp / "junk.tar"
    junk.write_bytes(b"not a tar archive at all\n" * 100)
    proc = store("import", junk, "e2e/junk")
    assert proc.returncode != 0
    assert "is not a tar archive" in proc.stderr, proc.stderr


# ---- OCI layouts read by skopeo and umoci ----


@needs_skopeo
@pytest.mark.parametrize("kind", ["tar", "gz", "zst"])
def test_oci_dir_is_read_and_copied_by_skopeo(store, rootfs, tmp, kind):
    store.ok("import", "--change", 'CMD ["sh"]', tarball(rootfs, kind), "e2e/bb:1")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/bb:1")
    name = "docker.io/e2e/bb:1"
    lay = Layout(tmp / "lay")
    assert json.loads((tmp / "lay" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"}

    info = json.loads(run_ok(SKOPEO, "inspect", f"oci:{tmp / 'lay'}:{name}"))
    assert info["Digest"] == lay.entry(name)["digest"]
    assert info["Layers"] == [sha256_file(tarball(rootfs, kind))]
    config = json.loads(run_ok(SKOPEO, "inspect", "--config", f"oci:{tmp / 'lay'}:{name}"))
    assert config["config"]["Cmd"] == ["sh"]
    assert config["rootfs"]["diff_ids"] == [rootfs["diff_id"]]

    run_ok(SKOPEO, "copy", f"oci:{tmp / 'lay'}:{name}", f"oci:{tmp / 'other'}:copied")
    other = Layout(tmp / "other")
    # skopeo writes the manifest its own way (and compresses a tar layer), same config
    assert other.manifest("copied")["config"] == lay.manifest(name)["config"]
    assert other.config("copied")["rootfs"]["diff_ids"] == [rootfs["diff_id"]]


@needs_umoci
@pytest.mark.parametrize("kind", ["tar", "gz"])  # umoci 0.4 has no zstd
def test_umoci_unpacks_the_original_tree(store, rootfs, tmp, kind):
    store.ok("import", tarball(rootfs, kind), "e2e/bb:umoci")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/bb:umoci")
    run_ok(UMOCI, "unpack", "--image", f"{tmp / 'lay'}:docker.io/e2e/bb:umoci", tmp / "bundle")
    assert tree_of(tmp / "bundle" / "rootfs") == tree_of(rootfs["tree"])


# ---- docker archives ----


@needs_skopeo
def test_skopeo_docker_archive_loads_with_the_same_config_and_diff_ids(store, rootfs, tmp):
    store.ok("import", "--change", 'CMD ["sh"]', rootfs["gz"], "e2e/src:1")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/src:1")
    run_ok(SKOPEO, "copy", f"oci:{tmp / 'lay'}:docker.io/e2e/src:1",
           f"docker-archive:{tmp / 'sk.tar'}:e2e/from-skopeo:2")
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "sk.tar") == ["docker.io/e2e/from-skopeo:2"]
    before, after = store.inspect("e2e/src:1"), fresh.inspect("e2e/from-skopeo:2")
    assert after["Id"] == before["Id"]
    assert after["RootFS"]["Layers"] == before["RootFS"]["Layers"] == [rootfs["diff_id"]]
    # skopeo wrote the layer uncompressed: it is stored as such
    assert after["ManifestLayers"] == [{"mediaType": LAYER_TYPES["tar"],
                                        "digest": rootfs["diff_id"],
                                        "size": rootfs["tar"].stat().st_size}]
    assert after["Config"]["Cmd"] == ["sh"]


@needs_skopeo
@pytest.mark.parametrize("kind", ["tar", "gz", "zst"])
def test_docker_archive_is_read_by_skopeo(store, rootfs, tmp, kind):
    store.ok("import", "--change", 'CMD ["sh"]', tarball(rootfs, kind), "e2e/dk:1")
    store.ok("save", "-o", tmp / "d.tar", "--format", "docker-archive", "e2e/dk:1")
    with tarfile.open(tmp / "d.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        repositories = json.load(tar.extractfile("repositories"))
        (entry,) = manifest
        # full names, as skopeo and podman write them (docker reads them too)
        assert entry["RepoTags"] == ["docker.io/e2e/dk:1"]
        (layer_path,) = entry["Layers"]
        # uncompressed, whatever the stored blob is
        layer = tar.extractfile(layer_path).read()
        assert "sha256:" + hashlib.sha256(layer).hexdigest() == rootfs["diff_id"]
    assert repositories == {"docker.io/e2e/dk": {"1": layer_path.split("/")[0]}}

    run_ok(SKOPEO, "copy", f"docker-archive:{tmp / 'd.tar'}", f"oci:{tmp / 'out'}:dk")
    config = Layout(tmp / "out").config("dk")
    assert "sha256:" + hashlib.sha256(
        Layout(tmp / "out").blob(Layout(tmp / "out").manifest("dk")["config"]["digest"])
    ).hexdigest() == store.inspect("e2e/dk:1")["Id"]
    assert config["rootfs"]["diff_ids"] == [rootfs["diff_id"]]


def test_docker_archive_round_trip_keeps_names_and_ids(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/a:1")
    store.ok("import", "--change", "CMD sh", rootfs["gz"], "quay.io/e2e/b:2")
    store.ok("save", "-o", tmp / "two.tar", "e2e/a:1", "quay.io/e2e/b:2")
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "two.tar") == ["docker.io/e2e/a:1", "quay.io/e2e/b:2"]
    for name in ("e2e/a:1", "quay.io/e2e/b:2"):
        assert fresh.inspect(name)["Id"] == store.inspect(name)["Id"]


@pytest.fixture(scope="module")
def podman(scratch):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    if os.geteuid() != 0:
        pytest.skip("the podman environment needs root")
    pm = Podman(scratch / "podman", "/usr/sbin/runc")
    yield pm
    pm.reset()


def test_podman_loads_the_docker_archive(podman, store, rootfs, tmp):
    store.ok("import", "--change", 'CMD ["sh"]', rootfs["gz"], "e2e/pm:1")
    store.ok("save", "-o", tmp / "pm.tar", "e2e/pm:1")
    podman.ok("load", "-i", tmp / "pm.tar")
    image_id = store.inspect("e2e/pm:1")["Id"].split(":", 1)[1]
    assert podman.ok("image", "inspect", "--format", "{{.Id}}",
                     "docker.io/e2e/pm:1").strip() == image_id
    assert podman.ok("image", "inspect", "--format", "{{json .Config.Cmd}}",
                     "docker.io/e2e/pm:1").strip() == '["sh"]'


def test_podman_loads_the_oci_archive(podman, store, rootfs, tmp):
    store.ok("import", rootfs["gz"], "e2e/pmo:1")
    store.ok("save", "-o", tmp / "pmo.tar", "--format", "oci-archive", "e2e/pmo:1")
    podman.ok("load", "-i", tmp / "pmo.tar")
    image_id = store.inspect("e2e/pmo:1")["Id"].split(":", 1)[1]
    assert podman.ok("image", "inspect", "--format", "{{.Id}}",
                     "docker.io/e2e/pmo:1").strip() == image_id


@pytest.fixture(scope="module")
def dockerd(scratch):
    from containerd_env import DOCKER, DOCKERD, Dockerd

    if DOCKERD is None or DOCKER is None:
        pytest.skip("docker.io is not installed")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    try:
        daemon = Dockerd(scratch / "dockerd", "/usr/sbin/runc")
    except RuntimeError as err:
        pytest.skip(f"dockerd does not start here: {err}")
    yield daemon
    daemon.stop()


def test_docker_loads_the_docker_archive(dockerd, store, rootfs, tmp):
    store.ok("import", "--change", 'CMD ["sh"]', rootfs["zst"] if ZSTD else rootfs["gz"],
             "e2e/dl:1")
    store.ok("save", "-o", tmp / "dl.tar", "e2e/dl:1")
    dockerd.ok("load", "-i", tmp / "dl.tar")
    assert dockerd.inspect("e2e/dl:1", "{{.Id}}") == store.inspect("e2e/dl:1")["Id"]
    assert dockerd.inspect("e2e/dl:1", "{{json .RootFS.Layers}}") == json.dumps(
        [rootfs["diff_id"]])


# ---- OCI archives ----


@pytest.mark.parametrize("kind", ["tar", "gz", "zst"])
def test_oci_archive_round_trip_is_unchanged(store, rootfs, tmp, kind):
    store.ok("import", "--change", 'CMD ["sh"]', tarball(rootfs, kind), "e2e/rt:1")
    store.ok("save", "--format", "oci-archive", "-o", tmp / "o.tar", "e2e/rt:1")
    with tarfile.open(tmp / "o.tar") as tar:
        names = tar.getnames()
    assert {"oci-layout", "index.json"} <= set(names)
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "o.tar") == ["docker.io/e2e/rt:1"]
    before, after = store.inspect("e2e/rt:1"), fresh.inspect("e2e/rt:1")
    # the same manifest: every byte came back
    assert after["Digest"] == before["Digest"]
    assert after["Id"] == before["Id"]
    assert after["ManifestLayers"] == before["ManifestLayers"]


@needs_skopeo
def test_oci_archive_names_from_annotations(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/ann:1")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/ann:1")
    src = f"oci:{tmp / 'lay'}:docker.io/e2e/ann:1"
    # a bare tag names the image under localhost/<archive name>, a name stands for itself
    run_ok(SKOPEO, "copy", src, f"oci-archive:{tmp / 'My_App.tar'}:1.36")
    run_ok(SKOPEO, "copy", src, f"oci-archive:{tmp / 'named.tar'}:quay.io/e2e/x:7")
    # no annotation at all: localhost/<archive name>:latest
    run_ok(SKOPEO, "copy", src, f"oci:{tmp / 'bare'}")
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "My_App.tar") == ["localhost/my-app:1.36"]
    assert fresh.load(tmp / "named.tar") == ["quay.io/e2e/x:7"]
    assert fresh.load(tmp / "bare") == ["localhost/bare:latest"]
    ids = {fresh.inspect(n)["Id"] for n in fresh.names()}
    assert ids == {store.inspect("e2e/ann:1")["Id"]}


def test_save_leaves_an_existing_directory_alone(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/keep:1")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/keep:1")
    before = tree_of(tmp / "lay")
    proc = store("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/keep:1")
    assert proc.returncode != 0
    assert "exists and is not empty" in proc.stderr, proc.stderr
    assert tree_of(tmp / "lay") == before


def test_failed_save_leaves_no_archive(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/gone:1")
    # a blob the store lost: the save fails half way
    layer = store.inspect("e2e/gone:1")["ManifestLayers"][0]["digest"]
    (store.root / "blobs" / "sha256" / layer.split(":", 1)[1]).unlink()
    for fmt in ("docker-archive", "oci-archive", "oci-dir"):
        proc = store("save", "--format", fmt, "-o", tmp / f"out-{fmt}", "e2e/gone:1")
        assert proc.returncode != 0
        assert "is not in the store" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp.iterdir()) == ["store"]
    # a gzip layer cut short: docker-archive fails while writing, after the config
    store.ok("import", rootfs["gz"], "e2e/cut:1")
    layer = store.inspect("e2e/cut:1")["ManifestLayers"][0]
    blob = store.root / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]
    blob.write_bytes(blob.read_bytes()[:layer["size"] // 2])
    proc = store("save", "-o", tmp / "cut.tar", "e2e/cut:1")
    assert proc.returncode != 0
    assert "decompress" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp.iterdir()) == ["store"]


def test_load_reads_a_pipe(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/pipe:1")
    store.ok("save", "-o", tmp / "p.tar", "e2e/pipe:1")
    fresh = Store(tmp / "fresh")
    with open(tmp / "p.tar", "rb") as f:
        proc = subprocess.run(f"cat | {fresh.binary} image --root {fresh.root} load -i /dev/stdin",
                              shell=True, stdin=f, capture_output=True, text=True,
                              timeout=TIMEOUT)
    assert proc.returncode == 0, explain(proc)
    assert fresh.names() == ["docker.io/e2e/pipe:1"]


def test_load_refuses_a_blob_that_does_not_match_its_digest(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/bad:1")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "lay", "e2e/bad:1")
    lay = Layout(tmp / "lay")
    layer = lay.blob_path(lay.manifest("docker.io/e2e/bad:1")["layers"][0]["digest"])
    data = bytearray(layer.read_bytes())
    data[600] ^= 0xff
    layer.write_bytes(bytes(data))
    fresh = Store(tmp / "fresh")
    proc = fresh("load", "-i", tmp / "lay")
    assert proc.returncode != 0
    assert "content has digest" in proc.stderr, proc.stderr
    assert fresh.names() == []


def test_load_refuses_a_docker_layer_that_is_not_the_configs(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/swap:1")
    store.ok("save", "-o", tmp / "d.tar", "e2e/swap:1")
    with tarfile.open(tmp / "d.tar") as src, tarfile.open(tmp / "bad.tar", "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("/layer.tar"):
                # still a tar (the change is in its end blocks), but another diff id
                data = data[:-1] + b"\1"
            dst.addfile(member, None if data is None else io.BytesIO(data))
    fresh = Store(tmp / "fresh")
    proc = fresh("load", "-i", tmp / "bad.tar")
    assert proc.returncode != 0
    assert "the config says" in proc.stderr, proc.stderr
    assert fresh.names() == []


def test_load_refuses_what_is_no_image_archive(store, tmp):
    with tarfile.open(tmp / "x.tar", "w") as tar:
        tar.add(__file__, arcname="hello.py")
    proc = store("load", "-i", tmp / "x.tar")
    assert proc.returncode != 0
    assert "neither a docker archive" in proc.stderr, proc.stderr


# ---- indexes and Docker media types, in layouts written here by hand ----

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def put_blob(layout, data, media_type, **extra):
    """Writes data into the layout's blobs; returns its descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = Path(layout) / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return dict(mediaType=media_type, digest=digest, size=len(data), **extra)


def write_index(layout, *entries):
    (Path(layout) / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (Path(layout) / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX, "manifests": list(entries)}))


def image_entry(store, name):
    (entry,) = [i for i in json.loads(store.ok("ls", "--format", "json")) if i["Name"] == name]
    return entry


@pytest.fixture
def two_platforms(store, rootfs, tmp):
    """A layout holding an index of an amd64 and an arm64 image, named multi:1."""
    store.ok("import", "--platform", "linux/amd64", rootfs["gz"], "e2e/p:amd64")
    store.ok("import", "--platform", "linux/arm64", rootfs["gz"], "e2e/p:arm64")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "multi", "e2e/p:amd64", "e2e/p:arm64")
    lay = Layout(tmp / "multi")
    children = []
    for arch in ("amd64", "arm64"):
        entry = lay.entry(f"docker.io/e2e/p:{arch}")
        children.append({"mediaType": entry["mediaType"], "digest": entry["digest"],
                         "size": entry["size"],
                         "platform": {"os": "linux", "architecture": arch}})
    index = put_blob(tmp / "multi", json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX, "manifests": children}).encode(), INDEX,
        annotations={"org.opencontainers.image.ref.name": "multi:1"})
    write_index(tmp / "multi", index)
    return {"index": index, "children": children,
            "amd64_config": store.inspect("e2e/p:amd64")["Id"]}


def test_index_is_loaded_and_saved_whole(two_platforms, tmp):
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "multi") == ["docker.io/library/multi:1"]
    entry = image_entry(fresh, "docker.io/library/multi:1")
    assert (entry["MediaType"], entry["Digest"]) == (INDEX, two_platforms["index"]["digest"])
    # OCI: the index as it was, with both manifests
    fresh.ok("save", "--format", "oci-dir", "-o", tmp / "again", "multi:1")
    again = Layout(tmp / "again")
    assert again.entry("docker.io/library/multi:1")["digest"] == two_platforms["index"]["digest"]
    for child in two_platforms["children"]:
        assert again.blob_path(child["digest"]).exists()
    # docker: the host's manifest
    fresh.ok("save", "-o", tmp / "d.tar", "multi:1")
    with tarfile.open(tmp / "d.tar") as tar:
        (m,) = json.load(tar.extractfile("manifest.json"))
    assert m["Config"] == two_platforms["amd64_config"].split(":", 1)[1] + ".json"


def test_partial_index_saves_the_hosts_manifest(two_platforms, tmp):
    # as containerd exports one platform of an index
    arm64 = Layout(tmp / "multi").blob_path(two_platforms["children"][1]["digest"])
    arm64.unlink()
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "multi") == ["docker.io/library/multi:1"]
    fresh.ok("save", "--format", "oci-dir", "-o", tmp / "again", "multi:1")
    entry = Layout(tmp / "again").entry("docker.io/library/multi:1")
    assert (entry["mediaType"], entry["digest"]) == (MANIFEST,
                                                     two_platforms["children"][0]["digest"])


@needs_umoci
def test_docker_manifests_are_saved_as_their_oci_twins(store, rootfs, tmp):
    store.ok("import", "--change", 'CMD ["sh"]', rootfs["gz"], "e2e/dm:1")
    store.ok("save", "--format", "oci-dir", "-o", tmp / "dock", "e2e/dm:1")
    lay = Layout(tmp / "dock")
    m = lay.manifest("docker.io/e2e/dm:1")
    docker = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
              "config": dict(m["config"], mediaType=DOCKER_CONFIG),
              "layers": [dict(layer, mediaType=DOCKER_GZIP) for layer in m["layers"]]}
    top = put_blob(tmp / "dock", json.dumps(docker).encode(), DOCKER_MANIFEST,
                   annotations={"org.opencontainers.image.ref.name": "dm:2"})
    write_index(tmp / "dock", top)
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "dock") == ["docker.io/library/dm:2"]
    assert image_entry(fresh, "docker.io/library/dm:2")["MediaType"] == DOCKER_MANIFEST

    fresh.ok("save", "--format", "oci-dir", "-o", tmp / "oci", "dm:2")
    oci = Layout(tmp / "oci")
    entry = oci.entry("docker.io/library/dm:2")
    assert entry["mediaType"] == MANIFEST
    assert entry["digest"] != top["digest"]
    converted = oci.manifest("docker.io/library/dm:2")
    assert converted["mediaType"] == MANIFEST
    assert converted["config"] == dict(docker["config"],
                                       mediaType="application/vnd.oci.image.config.v1+json")
    assert converted["layers"] == m["layers"]
    run_ok(UMOCI, "unpack", "--image", f"{tmp / 'oci'}:docker.io/library/dm:2", tmp / "bundle")
    assert tree_of(tmp / "bundle" / "rootfs") == tree_of(rootfs["tree"])


def test_untagged_docker_archive_images_are_named_after_the_archive(store, rootfs, tmp):
    store.ok("import", rootfs["tar"], "e2e/u:1")
    store.ok("import", "--change", "USER 1", rootfs["tar"], "e2e/u:2")
    store.ok("save", "-o", tmp / "d.tar", "e2e/u:1", "e2e/u:2")
    with tarfile.open(tmp / "d.tar") as src, tarfile.open(tmp / "Untagged.tar", "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "manifest.json":
                manifest = json.loads(data)
                for entry in manifest:
                    entry["RepoTags"] = None
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, None if data is None else io.BytesIO(data))
    fresh = Store(tmp / "fresh")
    assert fresh.load(tmp / "Untagged.tar") == ["localhost/untagged:1", "localhost/untagged:2"]
    assert fresh.inspect("localhost/untagged:2")["Id"] == store.inspect("e2e/u:2")["Id"]
