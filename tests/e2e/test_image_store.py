# SPDX-License-Identifier: Apache-2.0
"""The image store as containers use it: bundles that skiff-runtime runs, names, prune
of blobs and unpacked layers (but not while mounted), and concurrent writers."""

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import new_id
from test_image_archive import Store, rootfs, scratch  # noqa: F401  (fixtures)


@pytest.fixture
def store(workdir):
    return Store(workdir / "store")


def snapshots(store):
    d = store.root / "snapshots"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def unmount(path):
    subprocess.run(["umount", "-l", str(path)], stderr=subprocess.DEVNULL)


def test_bundle_runs_under_skiff_runtime(store, rootfs, workdir, skiff):
    store.ok("import", "--change", 'CMD ["sh", "-c", "echo from-image $GREETING; pwd"]',
             "--change", "ENV GREETING=hello", "--change", "WORKDIR /tmp", rootfs["tar"],
             "e2e/run:1")
    bundle = workdir / "bundle"
    store.ok("bundle", "e2e/run:1", bundle)
    try:
        config = json.loads((bundle / "config.json").read_text())
        assert config["process"]["cwd"] == "/tmp"
        config["linux"]["cgroupsPath"] = "/" + new_id("skiff-e2e")
        (bundle / "config.json").write_text(json.dumps(config))
        proc = subprocess.run([str(skiff), "--root", str(workdir / "rt"), "run", "--bundle",
                               str(bundle), new_id()], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split("\n")[:2] == ["from-image hello", "/tmp"]
    finally:
        store("unmount", bundle)
        unmount(bundle / "rootfs")
    assert not os.path.ismount(bundle / "rootfs")


def test_prune_keeps_what_names_and_mounts_need(store, rootfs, workdir):
    store.ok("import", rootfs["tar"], "e2e/keep:1")
    store.ok("import", rootfs["gz"], "e2e/drop:1")
    target = workdir / "mnt"
    target.mkdir()
    store.ok("mount", "--id", "c1", "e2e/drop:1", target)
    try:
        store.ok("rm", "e2e/drop:1")
        out = store.ok("prune")
        assert "1 blobs" in out or "2 blobs" in out or "3 blobs" in out, out
        # the mounted image's layer is still in use
        assert len(snapshots(store)) == 1
        assert (target / "bin" / "busybox").exists()
    finally:
        store("unmount", "--id", "c1", "--rm", target)
        unmount(target)
    # both images have the same layer content: the unpacked layer is shared and still named
    store.ok("prune")
    assert len(snapshots(store)) == 1
    assert store.names() == ["docker.io/e2e/keep:1"]
    store.ok("inspect", "e2e/keep:1")
    store.ok("rm", "e2e/keep:1")
    store.ok("prune")
    assert snapshots(store) == []
    assert not any((store.root / "blobs" / "sha256").iterdir())


def test_concurrent_imports_all_land(store, rootfs):
    names = [f"e2e/par:{i}" for i in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(lambda n: store("import", rootfs["tar"], n), names))
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    assert store.names() == sorted("docker.io/" + n for n in names)


def test_unknown_image_is_a_clear_error(store):
    proc = store("inspect", "e2e/nothing:1")
    assert proc.returncode != 0
    assert "e2e/nothing:1" in proc.stderr and "not in the store" in proc.stderr


def test_the_printed_image_id_names_the_image(store, rootfs):
    store.ok("import", rootfs["tar"], "e2e/id:1")
    short = store.ok("ls", "-q").strip()
    assert len(short) == 12
    assert store.inspect(short)["RepoTags"] == ["docker.io/e2e/id:1"]
    full = store.inspect("e2e/id:1")["Id"]
    assert store.inspect(full)["Id"] == full
