# SPDX-License-Identifier: Apache-2.0
"""Layer unpacking (src/image/unpack.c) through `skiff image load` and `mount`.

A three-layer image with whiteouts, opaque directories, a file turned directory and a
directory deleted and made again, written here as an OCI image layout, mounts as the
tree umoci unpacks from the same layout. Hostile layers, each a one-layer image in a
fresh store, make `mount` fail with the entry in the message and write nothing outside
the snapshot: no file below a canary directory next to the store, none below a
/tmp/skiff-e2e-hostile-<uuid> directory the entries aim at, no snapshot left behind.

Layouts, stores and mount points live in the test's scratch dir (conftest's workdir);
mounts are undone and writable layers removed even when a test fails.
"""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import stat
import struct
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import REPO
from podman_env import explain

UMOCI = shutil.which("umoci")
SETPRIV = shutil.which("setpriv")
TIMEOUT = 120
NOBODY = 65534
MTIME = 1_600_000_000

LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"

needs_umoci = pytest.mark.skipif(UMOCI is None, reason="umoci is not installed")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run_ok(*args):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, explain(proc)
    return proc.stdout


# ---- layers and layouts, written with tarfile, gzip and json ----

TAR_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE,
             "blk": tarfile.BLKTYPE}


def ent(name, kind="file", data=b"", mode=None, owner=(0, 0), mtime=MTIME, link="",
        dev=(0, 0), xattrs=None):
    """One tar entry: (TarInfo, content)."""
    ti = tarfile.TarInfo(name)  # the name as given: tarfile.add would strip a leading '/'
    ti.type = TAR_TYPES[kind]
    ti.mode = mode if mode is not None else (0o755 if kind == "dir" else
                                             0o777 if kind == "symlink" else 0o644)
    ti.uid, ti.gid = owner
    ti.mtime = mtime
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if kind == "file":
        ti.size = len(data)
    if xattrs:
        ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    return ti, data


def wh(path):
    """The whiteout deleting path from the layers below."""
    head, _, name = path.rpartition("/")
    return ent(f"{head}/.wh.{name}" if head else f".wh.{name}")


def opaque(path):
    """The marker hiding what the layers below have in the directory path."""
    return ent(f"{path}/.wh..wh..opq")


def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if ti.isfile() else None)
    return buf.getvalue()


def gz_layer(entries):
    """A gzip layer: {"blob": what the layout stores, "diff_id": of the tar inside}."""
    tar = tar_of(entries)
    return {"blob": gzip.compress(tar, mtime=0), "diff_id": sha256(tar)}


def chain_ids(diff_ids):
    """The snapshot names of an image's layers (image-spec config.md#layer-chainid)."""
    chains = []
    for d in diff_ids:
        chains.append(d if not chains else sha256(f"{chains[-1]} {d}".encode()))
    return chains


class Layout:
    """An OCI image layout directory being written: blobs, then index.json."""

    def __init__(self, path):
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.entries = []

    def blob(self, data, media_type):
        digest = sha256(data)
        (self.path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, tag, layers):
        """Adds an image of layers (gz_layer()s) named tag; returns its diff ids."""
        diff_ids = [layer["diff_id"] for layer in layers]
        config = self.blob(json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }).encode(), CONFIG)
        manifest = self.blob(json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST, "config": config,
            "layers": [self.blob(layer["blob"], LAYER_GZIP) for layer in layers],
        }).encode(), MANIFEST)
        manifest["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.entries.append(manifest)
        (self.path / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": INDEX, "manifests": self.entries}))
        return diff_ids


# ---- the store, mounts, trees ----


class Store:
    """`build/skiff image --root DIR`, as root or (user=uid) as that user and group."""

    def __init__(self, root, user=None):
        self.root = Path(root)
        self.user = user
        self.binary = Path(os.environ.get("SKIFF_IMAGE_BIN", REPO / "build" / "skiff"))

    def __call__(self, *args):
        cmd = [str(self.binary), "image", "--root", str(self.root), *map(str, args)]
        if self.user is not None:
            cmd = [SETPRIV, "--reuid", str(self.user), "--regid", str(self.user),
                   "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL)

    def ok(self, *args):
        proc = self(*args)
        assert proc.returncode == 0, explain(proc)
        return proc.stdout

    def load(self, path):
        """`load -i PATH` of a layout holding one image; its name."""
        out = self.ok("load", "-i", path)
        (name,) = [line.split(": ", 1)[1] for line in out.splitlines()
                   if line.startswith("Loaded image")]
        return name

    def snapshots(self):
        """What snapshots/ holds: published layers, and any leftover of an unpack."""
        d = self.root / "snapshots"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Mounts:
    """`skiff image mount` calls, each undone at teardown whatever the test did."""

    def __init__(self):
        self.made = []

    def mount(self, store, image, target, mount_id):
        self.made.append((store.root, Path(target), mount_id))
        return store("mount", image, target, "--id", mount_id)

    def cleanup(self):
        for root, target, mount_id in reversed(self.made):
            Store(root)("unmount", target, "--id", mount_id, "--rm")
            while is_mounted(target):
                if subprocess.run(["umount", "-l", str(target)]).returncode != 0:
                    break
            shutil.rmtree(root / "containers" / mount_id, ignore_errors=True)


@pytest.fixture
def mounts(workdir):
    m = Mounts()
    yield m
    m.cleanup()


def new_mount_id():
    return f"e2e-{uuid.uuid4().hex[:12]}"


TYPE_NAMES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
              stat.S_IFIFO: "fifo", stat.S_IFCHR: "chr", stat.S_IFBLK: "blk",
              stat.S_IFSOCK: "socket"}


def tree_of(root):
    """Every path below root: type, mode, owner, xattrs, the paths it shares an inode
    with; size, content and mtime of regular files; symlink targets; device numbers."""
    root = Path(root)
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            kind = stat.S_IFMT(st.st_mode)
            info = {"type": TYPE_NAMES.get(kind, oct(kind)),
                    "mode": oct(stat.S_IMODE(st.st_mode)),
                    "owner": f"{st.st_uid}:{st.st_gid}"}
            if not stat.S_ISDIR(kind):
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            if stat.S_ISREG(kind):
                info["size"] = st.st_size
                info["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
                info["mtime_ns"] = st.st_mtime_ns
            elif stat.S_ISLNK(kind):
                info["target"] = os.readlink(p)
            elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
                info["rdev"] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            if not stat.S_ISLNK(kind):
                xattrs = {k: os.getxattr(p, k, follow_symlinks=False)
                          for k in os.listxattr(p, follow_symlinks=False)}
                if xattrs:
                    info["xattrs"] = xattrs
            out[rel] = info
    for group in inodes.values():
        if len(group) > 1:
            for rel in group:
                out[rel]["links"] = sorted(group)
    return out


def tree_diff(got, want, got_name, want_name):
    """Every difference between two tree_of()s, one line each."""
    lines = []
    for path in sorted(set(got) | set(want)):
        if path not in want:
            lines.append(f"{path}: only in {got_name}: {got[path]}")
        elif path not in got:
            lines.append(f"{path}: only in {want_name}: {want[path]}")
        else:
            for key in sorted(set(got[path]) | set(want[path])):
                a, b = got[path].get(key), want[path].get(key)
                if a != b:
                    lines.append(f"{path}: {key}: {got_name} {a!r}, {want_name} {b!r}")
    return lines


# ---- a multi-layer image against umoci ----

BIG = bytes(range(256)) * 400  # 100 KiB, several tar blocks
# file capabilities (VFS_CAP_REVISION_2, effective): cap_net_bind_service permitted
CAP = struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0).decode("utf-8", "surrogateescape")

LAYER1 = [
    ent("a/", "dir"),
    ent("a/f1", data=b"one\n", mtime=MTIME + 1),
    ent("a/f2", data=b"two\n", mode=0o600, owner=(1000, 1000), mtime=MTIME + 2),
    ent("a/f2hard", "hardlink", link="a/f2"),
    ent("a/link", "symlink", link="f2", owner=(1000, 1000)),
    ent("b/", "dir", mode=0o750, owner=(1000, 1000)),
    ent("b/x", data=b"x\n"),
    ent("b/y", data=b"y\n", mode=0o755),
    ent("c/", "dir", mode=0o711),
    ent("c/keep", data=b"keep\n"),
    ent("d/", "dir"),
    ent("d/file", data=b"d\n", mode=0o640, owner=(0, 42)),
    ent("e/", "dir", mode=0o700, owner=(2000, 3000)),
    ent("e/orig", data=b"orig\n", mode=0o444, owner=(2000, 3000), mtime=MTIME + 0.5),
    ent("e/hard", "hardlink", link="e/orig"),
    ent("e/big", data=BIG, mode=0o600, owner=(100000, 100000), mtime=MTIME - 86400 * 365),
    ent("e/empty", mode=0o000),
    ent("e/fifo", "fifo", mode=0o640),
    ent("e/null", "chr", mode=0o666, dev=(1, 3)),
    ent("e/loop", "blk", mode=0o660, owner=(0, 6), dev=(7, 0)),
    ent("e/abs", "symlink", link="/a/f2"),
    ent("e/abshard", "hardlink", link="e/abs"),  # a hardlink to the symlink itself
    ent("e/dangling", "symlink", link="../nowhere"),
    ent("e/dirlink", "symlink", link="../b"),
    ent("tmp/", "dir", mode=0o1777),
]

LAYER2 = [
    ent("a/", "dir", mode=0o750),  # a mode change on a directory
    wh("a/f1"),
    ent("a/f2", data=b"two\n", mode=0o640, owner=(1000, 1000), mtime=MTIME + 2),  # and a file
    ent("b/", "dir", mode=0o750, owner=(1000, 1000)),
    opaque("b"),
    ent("b/new", data=b"new\n", mtime=MTIME + 3),
    ent("d/", "dir"),
    ent("d/file/", "dir", mode=0o755, owner=(5, 5)),  # was a file
    ent("d/file/inner", data=b"inner\n"),
    ent("tmp/", "dir", mode=0o1777),
    ent("tmp/mine", data=b"mine\n"),
    wh("tmp/mine"),  # a whiteout hides the layers below, not its own layer's file
]

LAYER3 = [
    wh("c"),
    ent("c/", "dir", mode=0o755, owner=(7, 7), xattrs={"user.dir": "d"}),  # made again
    ent("c/other", data=b"other\n"),
    ent("d/", "dir"),
    ent("d/file", "symlink", link="../a/f2"),  # was a directory, before that a file
    ent("e/", "dir", mode=0o700, owner=(2000, 3000)),
    ent("e/dirlink/", "dir", mode=0o751),  # was a symlink
    ent("e/dirlink/z", data=b"z\n"),
    ent("e/fifo", data=b"no longer a fifo\n", mode=0o604),
    ent("sbin/", "dir"),
    ent("sbin/su", data=b"#!/bin/sh\n", mode=0o6755, owner=(1000, 1000),
        xattrs={"user.test": "hello"}),
    ent("sbin/ping", data=b"#!/bin/sh\n", mode=0o755, owner=(1000, 1000),
        xattrs={"security.capability": CAP}),
]


@pytest.fixture
def layered(workdir):
    """The three-layer image in a layout (tag v1) and loaded into a store."""
    layout = Layout(workdir / "layout")
    diff_ids = layout.image("v1", [gz_layer(LAYER1), gz_layer(LAYER2), gz_layer(LAYER3)])
    store = Store(workdir / "store")
    return {"layout": layout.path, "store": store, "name": store.load(layout.path),
            "diff_ids": diff_ids}


@needs_umoci
def test_mounted_layers_are_the_tree_umoci_unpacks(layered, workdir, mounts):
    run_ok(UMOCI, "unpack", "--image", f"{layered['layout']}:v1", workdir / "bundle")
    want = tree_of(workdir / "bundle" / "rootfs")
    # the oracle did what the layers say, or the comparison proves nothing
    assert {"a/f1", "b/x", "b/y", "c/keep", "d/file/inner"}.isdisjoint(want)
    assert {"b/new", "c/other", "e/dirlink/z", "sbin/su", "tmp/mine"} <= set(want)

    store, target, mount_id = layered["store"], workdir / "merged", new_mount_id()
    target.mkdir()
    proc = mounts.mount(store, layered["name"], target, mount_id)
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.strip() == mount_id
    got = tree_of(target)
    diff = tree_diff(got, want, "skiff", "umoci")
    assert not diff, "skiff's mount differs from umoci's rootfs:\n" + "\n".join(diff)

    store.ok("unmount", target, "--id", mount_id, "--rm")
    assert not is_mounted(target)
    assert not (store.root / "containers" / mount_id).exists()
    # the layers stay unpacked for the next mount
    assert store.snapshots() == sorted(c[7:] for c in chain_ids(layered["diff_ids"]))


def test_snapshots_hold_each_layer_in_overlay_form(layered, workdir, mounts):
    store, target = layered["store"], workdir / "merged"
    target.mkdir()
    proc = mounts.mount(store, layered["name"], target, new_mount_id())
    assert proc.returncode == 0, explain(proc)
    snap = [store.root / "snapshots" / c[7:] / "fs" for c in chain_ids(layered["diff_ids"])]

    def whiteout(path):
        st = path.lstat()
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)

    def opaque_xattr(path):
        try:
            return os.getxattr(path, "trusted.overlay.opaque")
        except OSError:
            return None

    assert whiteout(snap[1] / "a" / "f1")
    assert opaque_xattr(snap[1] / "b") == b"y"
    assert sorted(os.listdir(snap[1] / "b")) == ["new"]
    assert (snap[1] / "d" / "file").is_dir() and not (snap[1] / "d" / "file").is_symlink()
    assert (snap[1] / "tmp" / "mine").read_bytes() == b"mine\n"
    # deleted then made again in one layer: an opaque directory, not a whiteout
    assert opaque_xattr(snap[2] / "c") == b"y"
    assert sorted(os.listdir(snap[2] / "c")) == ["other"]
    # the layer below keeps what the ones above hide
    assert (snap[0] / "a" / "f1").read_bytes() == b"one\n"
    assert (snap[0] / "c" / "keep").read_bytes() == b"keep\n"
    assert opaque_xattr(snap[0] / "b") is None
    # nothing of the markers shows in the mount
    assert not (target / "a" / "f1").exists()
    assert sorted(os.listdir(target / "b")) == ["new"]
    assert sorted(os.listdir(target / "c")) == ["other"]
    assert not any(n.startswith(".wh.") for _, ds, fs in os.walk(target) for n in ds + fs)


def test_overlay_xattrs_in_a_layer_are_not_obeyed(workdir, mounts):
    # overlayfs' own attributes would let a layer hide or redirect the layers below
    lower = gz_layer([ent("x/", "dir"), ent("x/keep", data=b"keep\n"),
                      ent("y/", "dir"), ent("y/secret", data=b"secret\n"),
                      ent("w/", "dir"), ent("w/f", data=b"f\n")])
    upper = gz_layer([
        ent("x/", "dir", xattrs={"trusted.overlay.opaque": "y"}),
        ent("z/", "dir", xattrs={"trusted.overlay.redirect": "/y"}),
        ent("w/", "dir", xattrs={"user.overlay.opaque": "y", "user.kept": "1"}),
    ])
    layout = Layout(workdir / "layout")
    diff_ids = layout.image("v1", [lower, upper])
    store = Store(workdir / "store")
    name = store.load(layout.path)
    target = workdir / "mnt"
    target.mkdir()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert proc.returncode == 0, explain(proc)
    assert os.listdir(target / "x") == ["keep"]
    assert os.listdir(target / "z") == []
    assert os.listdir(target / "w") == ["f"]
    snap = store.root / "snapshots" / chain_ids(diff_ids)[1][7:] / "fs"
    for d in ("x", "z", "w"):
        assert not [k for k in os.listxattr(snap / d) if ".overlay." in k], d
    assert os.getxattr(snap / "w", "user.kept") == b"1"


@needs_umoci
def test_parents_a_layer_does_not_list_keep_their_lower_attributes(workdir, mounts):
    lower = gz_layer([ent("tmp/", "dir", mode=0o1777),
                      ent("srv/", "dir", mode=0o750, owner=(1000, 1000)),
                      ent("srv/www/", "dir", mode=0o700, owner=(33, 33))])
    # as `tar -C rootfs tmp/x srv/www/index.html` writes it: files only
    upper = gz_layer([ent("tmp/x", data=b"x\n"), ent("srv/www/index.html", data=b"hi\n")])
    layout = Layout(workdir / "layout")
    layout.image("v1", [lower, upper])
    run_ok(UMOCI, "unpack", "--image", f"{layout.path}:v1", workdir / "bundle")
    want = tree_of(workdir / "bundle" / "rootfs")
    assert want["tmp"]["mode"] == "0o1777" and want["srv/www"]["owner"] == "33:33"
    store = Store(workdir / "store")
    name = store.load(layout.path)
    target = workdir / "mnt"
    target.mkdir()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert proc.returncode == 0, explain(proc)
    diff = tree_diff(tree_of(target), want, "skiff", "umoci")
    assert not diff, "skiff's mount differs from umoci's rootfs:\n" + "\n".join(diff)


# ---- hostile layers ----


class Guard:
    """What a hostile layer must not touch: a canary dir next to the store, a directory
    in /tmp the entries aim at, /etc/hostname's link count, the scratch dir's listing."""

    def __init__(self, workdir, host):
        self.workdir = workdir
        self.canary = workdir / "canary"
        self.canary.mkdir()
        (self.canary / "file").write_text("canary\n")
        (self.canary / "sub").mkdir()
        (self.canary / "sub" / "deep").write_text("deep\n")
        self.host = host

    def state(self):
        hostname = Path("/etc/hostname")
        st = self.canary.lstat()
        return {"canary": tree_of(self.canary),
                "canary dir": (oct(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns,
                               st.st_nlink, sorted(os.listxattr(self.canary))),
                "canary file links": (self.canary / "file").lstat().st_nlink,
                "host target": sorted(os.listdir(self.host)),
                "/etc/hostname links": hostname.lstat().st_nlink if hostname.exists() else 0,
                "scratch dir": sorted(os.listdir(self.workdir))}


@pytest.fixture
def host_target():
    """A unique, empty /tmp/skiff-e2e-hostile-<uuid> that hostile entries aim at."""
    d = Path(f"/tmp/skiff-e2e-hostile-{uuid.uuid4().hex}")
    d.mkdir(mode=0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def guard(workdir, host_target):
    return Guard(workdir, host_target)


# from snapshots/<tmp or chain>/fs, four levels up is the scratch dir holding the canary
TO_SCRATCH = "../../../../"
TO_ROOT = "../" * 24


def hostile_entries(case, guard):
    """The entries of a hostile layer, the one refused, and a phrase the refusal says."""
    host = guard.host
    h = str(host).lstrip("/")
    chain = [ent("d1", "symlink", link="..")] + [
        ent(f"d{i}", "symlink", link=f"d{i - 1}/..") for i in range(2, 26)]
    return {
        "traversal to the host": (
            [ent(f"{TO_ROOT}{h}/pwned", data=b"pwned\n")],
            f"{TO_ROOT}{h}/pwned", "path escapes the layer directory"),
        "traversal to the canary": (
            [ent(f"{TO_SCRATCH}canary/pwned", data=b"pwned\n")],
            f"{TO_SCRATCH}canary/pwned", "path escapes the layer directory"),
        "traversal inside a path": (
            [ent("x/", "dir"), ent(f"x/../{TO_SCRATCH}canary/pwned", data=b"pwned\n")],
            f"x/../{TO_SCRATCH}canary/pwned", "path escapes the layer directory"),
        "symlink escape, absolute": (
            [ent("evil", "symlink", link=str(host)), ent("evil/pwned", data=b"pwned\n")],
            "evil/pwned", "is a symlink"),
        "symlink escape, relative": (
            [ent("evil", "symlink", link=f"{TO_SCRATCH}canary"),
             ent("evil/pwned", data=b"pwned\n")],
            "evil/pwned", "is a symlink"),
        "symlink escape, directory entry": (
            [ent("evil", "symlink", link=str(host)), ent("evil/sub/", "dir")],
            "evil/sub/", "is a symlink"),
        "symlink chain to the parent": (
            chain + [ent(f"d25/{h}/pwned", data=b"pwned\n")],
            f"d25/{h}/pwned", "is a symlink"),
        "symlink chain to the canary": (
            chain[:4] + [ent("d4/canary/pwned", data=b"pwned\n")],
            "d4/canary/pwned", "is a symlink"),
        "symlink replaced by a whiteout in a symlinked dir": (
            [ent("evil", "symlink", link=f"{TO_SCRATCH}canary"), ent("evil/.wh.file")],
            "evil/.wh.file", "is a symlink"),
        "opaque marker in a symlinked dir": (
            [ent("evil", "symlink", link=f"{TO_SCRATCH}canary"), opaque("evil")],
            "evil/.wh..wh..opq", "is a symlink"),
        "hardlink placed through a symlink": (
            [ent("orig", data=b"orig\n"), ent("evil", "symlink", link=str(host)),
             ent("evil/h", "hardlink", link="orig")],
            "evil/h", "is a symlink"),
        "the root as a symlink": (
            [ent(".", "symlink", link=str(host))], ".", "the root must be a directory"),
        "whiteout of '..'": (
            [ent("x/", "dir"), ent("x/.wh...")], "x/.wh...", "invalid whiteout"),
        "whiteout of '.'": ([ent(".wh..")], ".wh..", "invalid whiteout"),
        "hardlink escape by two levels": (
            [ent("h", "hardlink", link="../../etc/hostname")],
            "h", "hardlink target '../../etc/hostname' escapes the layer directory"),
        "hardlink escape to /etc/hostname": (
            [ent("h", "hardlink", link=f"{TO_ROOT}etc/hostname")],
            "h", "escapes the layer directory"),
        "hardlink escape to the canary": (
            [ent("h", "hardlink", link=f"{TO_SCRATCH}canary/file")],
            "h", "escapes the layer directory"),
        "hardlink to an absolute host path": (
            [ent("h", "hardlink", link="/etc/hostname")],
            "h", "hardlink target '/etc/hostname' is not in the layer"),
        "hardlink to the canary's absolute path": (
            [ent("h", "hardlink", link=str(guard.canary / "file"))],
            "h", "is not in the layer"),
        "hardlink through a relative symlink": (
            [ent("s", "symlink", link=f"{TO_SCRATCH}canary"),
             ent("h", "hardlink", link="s/file")],
            "h", "hardlink target 's/file' is behind a symlink"),
        "hardlink through an absolute symlink": (
            [ent("s", "symlink", link="/etc"), ent("h", "hardlink", link="s/hostname")],
            "h", "hardlink target 's/hostname' is behind a symlink"),
    }[case]


HOSTILE = ["traversal to the host", "traversal to the canary", "traversal inside a path",
           "symlink escape, absolute", "symlink escape, relative",
           "symlink escape, directory entry", "symlink chain to the parent",
           "symlink chain to the canary", "symlink replaced by a whiteout in a symlinked dir",
           "opaque marker in a symlinked dir", "hardlink placed through a symlink",
           "the root as a symlink", "whiteout of '..'", "whiteout of '.'",
           "hardlink escape by two levels", "hardlink escape to /etc/hostname",
           "hardlink escape to the canary",
           "hardlink to an absolute host path", "hardlink to the canary's absolute path",
           "hardlink through a relative symlink", "hardlink through an absolute symlink"]


def one_layer_image(workdir, layer, tag="v1"):
    layout = Layout(workdir / f"layout-{uuid.uuid4().hex[:8]}")
    layout.image(tag, [layer])
    return layout.path


def assert_refused(proc, *phrases):
    assert proc.returncode != 0, "the hostile layer was applied:\n" + explain(proc)
    for phrase in phrases:
        assert phrase in proc.stderr, f"no {phrase!r} in the error:\n" + explain(proc)


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_layer_is_refused_and_writes_nothing_outside(case, workdir, guard, mounts):
    entries, bad_entry, phrase = hostile_entries(case, guard)
    store = Store(workdir / "store")
    name = store.load(one_layer_image(workdir, gz_layer(entries)))
    target = workdir / "mnt"
    target.mkdir()
    before = guard.state()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert_refused(proc, f"layer entry '{bad_entry}'", phrase)
    assert not is_mounted(target)
    assert guard.state() == before
    # the half-applied layer is gone, and nothing was published
    assert store.snapshots() == []
    assert list((store.root / "containers").glob("*")) == []


def test_absolute_paths_land_inside_the_snapshot(workdir, guard, mounts):
    # docker strips the leading '/': the entry is the image's /tmp/..., not the host's
    inside = str(guard.host).lstrip("/")
    layer = gz_layer([ent(f"{guard.host}/pwned", data=b"inside\n"),
                      ent(f"/{inside}/../abs-dotdot", data=b"dotdot\n")])
    store = Store(workdir / "store")
    name = store.load(one_layer_image(workdir, layer))
    target = workdir / "mnt"
    target.mkdir()
    before = guard.state()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert proc.returncode == 0, explain(proc)
    assert guard.state() == before
    (snap,) = store.snapshots()
    fs = store.root / "snapshots" / snap / "fs"
    assert (fs / inside / "pwned").read_bytes() == b"inside\n"
    assert (target / inside / "pwned").read_bytes() == b"inside\n"
    assert (fs / Path(inside).parent / "abs-dotdot").read_bytes() == b"dotdot\n"


def test_entries_replacing_symlinks_do_not_write_through_them(workdir, guard, mounts):
    # a later entry of the same name replaces the symlink; it does not follow it
    layer = gz_layer([
        ent("file", "symlink", link=str(guard.host / "pwned")),
        ent("file", data=b"inside\n"),
        ent("canary", "symlink", link=f"{TO_SCRATCH}canary/file"),
        ent("canary", data=b"inside\n"),
        ent("node", "symlink", link=str(guard.host / "fifo")),
        ent("node", "fifo"),
        ent("hl", "symlink", link=f"{TO_SCRATCH}canary/file"),
        ent("orig", data=b"orig\n"),
        ent("hl", "hardlink", link="orig"),
        ent("dir", "symlink", link=f"{TO_SCRATCH}canary"),
        ent("dir/", "dir", mode=0o700, mtime=MTIME),  # its mode and time come last
        ent("dir/in", data=b"in\n"),
    ])
    store = Store(workdir / "store")
    name = store.load(one_layer_image(workdir, layer))
    target = workdir / "mnt"
    target.mkdir()
    before = guard.state()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert proc.returncode == 0, explain(proc)
    assert guard.state() == before
    assert (target / "file").read_bytes() == (target / "canary").read_bytes() == b"inside\n"
    assert not (target / "file").is_symlink() and not (target / "canary").is_symlink()
    assert stat.S_ISFIFO((target / "node").lstat().st_mode)
    assert (target / "hl").read_bytes() == b"orig\n"
    assert stat.S_IMODE((target / "dir").lstat().st_mode) == 0o700
    assert os.listdir(target / "dir") == ["in"]


def test_symlink_from_a_lower_layer_is_not_followed(workdir, guard, mounts):
    # each layer is unpacked into its own directory: layer 2's evil/ is a directory there
    lower = gz_layer([ent("evil", "symlink", link=str(guard.host)),
                      ent("up", "symlink", link=f"{TO_SCRATCH}canary")])
    upper = gz_layer([ent("evil/pwned", data=b"pwned\n"), ent("up/pwned", data=b"pwned\n")])
    layout = Layout(workdir / "layout")
    layout.image("v1", [lower, upper])
    store = Store(workdir / "store")
    name = store.load(layout.path)
    target = workdir / "mnt"
    target.mkdir()
    before = guard.state()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert guard.state() == before
    assert proc.returncode == 0, explain(proc)
    for link in ("evil", "up"):
        assert (target / link).is_dir() and not (target / link).is_symlink()
        assert (target / link / "pwned").read_bytes() == b"pwned\n"


# incompressible, larger than what skiff reads at once: the cut falls inside this entry
NOISE = random.Random(1).randbytes(3 << 20)


@pytest.mark.parametrize("cut, entry", [("in an entry", "big"), ("in the first block", None)])
def test_truncated_gzip_layer_is_refused(cut, entry, workdir, guard, mounts):
    if entry:
        layer = gz_layer([ent("first", data=b"first\n"), ent("big", data=NOISE),
                          ent("after", data=b"after\n")])
    else:
        layer = gz_layer([ent("big", data=BIG), ent("after", data=b"after\n")])
    layer["blob"] = layer["blob"][:len(layer["blob"]) // 2]
    store = Store(workdir / "store")
    # the blob matches its (truncated) digest: load takes it, unpacking finds the cut
    name = store.load(one_layer_image(workdir, layer))
    target = workdir / "mnt"
    target.mkdir()
    before = guard.state()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert_refused(proc, "truncated gzip input", *([f"layer entry '{entry}'"] if entry else []))
    assert not is_mounted(target)
    assert guard.state() == before
    # what was written before the cut went with the snapshot directory
    assert store.snapshots() == []


def test_layer_not_matching_its_diff_id_is_refused(workdir, guard, mounts):
    layer = gz_layer([ent("etc/", "dir"), ent("etc/os-release", data=b"ID=e2e\n")])
    claimed = sha256(b"some other layer")
    layer["diff_id"] = claimed
    store = Store(workdir / "store")
    name = store.load(one_layer_image(workdir, layer))
    target = workdir / "mnt"
    target.mkdir()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert_refused(proc, f"the config says {claimed}", "uncompressed content has digest")
    assert not is_mounted(target)
    # unpacked whole, then thrown away: no snapshot, published or half made
    assert store.snapshots() == []
    # and a mount that is asked again tries again, and fails again
    assert_refused(mounts.mount(store, name, target, new_mount_id()), "the config says")
    assert store.snapshots() == []


@pytest.fixture
def nobody_dir(workdir):
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed")
    d = workdir / "nobody"
    d.mkdir()
    os.chown(d, NOBODY, NOBODY)
    return d


def test_device_nodes_are_refused_rootless(workdir, nobody_dir, host_target, mounts):
    # unpacking comes before the overlay mount, which nobody could not do anyway: the
    # device node must be what stops it
    guard = Guard(nobody_dir, host_target)
    layer = gz_layer([ent("dev/", "dir"), ent("dev/sda", "blk", mode=0o660, dev=(8, 0)),
                      ent("dev/mem", "chr", mode=0o640, dev=(1, 1))])
    layout = one_layer_image(workdir, layer)
    store = Store(nobody_dir / "store", user=NOBODY)
    name = store.load(layout)
    target = nobody_dir / "mnt"
    target.mkdir()
    os.chown(target, NOBODY, NOBODY)
    before = guard.state()

    proc = mounts.mount(store, name, target, new_mount_id())
    assert_refused(proc, "layer entry 'dev/sda'", "device nodes are not allowed in rootless")
    assert not is_mounted(target)
    assert guard.state() == before
    assert store.snapshots() == []
    devices = [str(Path(d) / n) for d, ds, fs in os.walk(store.root) for n in ds + fs
               if stat.S_ISBLK((Path(d) / n).lstat().st_mode)
               or stat.S_ISCHR((Path(d) / n).lstat().st_mode)]
    assert devices == []
