# SPDX-License-Identifier: Apache-2.0
"""A pure cgroup v2 host, made inside a private mount namespace by mounting the unified
hierarchy at /sys/fs/cgroup: device rules become an eBPF program there."""

import subprocess

import pytest

from conftest import new_id


def run_v2(runtime, bundle, cid):
    """`run` with the runtime seeing only cgroup v2."""
    runtime._track(bundle, cid)
    script = 'umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
         runtime.path, "--root", str(runtime.root), "run", "--bundle", str(bundle.path), cid],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(autouse=True)
def only_skiff(runtime):
    if not runtime.is_skiff:
        pytest.skip("runc 1.1 needs controllers this host keeps on v1")


def v2_bundle(bundle):
    # the unified hierarchy of this host has no controllers besides hugetlb
    bundle.config["linux"]["cgroupsPath"] = "/" + new_id("skiff-e2e")
    bundle.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    caps = bundle.config["process"]["capabilities"]
    for name in ("bounding", "effective", "permitted"):
        caps[name] = sorted(set(caps.get(name, [])) | {"CAP_MKNOD"})
    return bundle


def test_device_filter_denies_devices_not_allowed(runtime, bundle, cid):
    v2_bundle(bundle).shell(
        "echo x > /dev/null && echo null-ok; "
        "mknod /tmp/loop b 7 0 2>&1 || echo mknod-denied")
    proc = run_v2(runtime, bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert "null-ok" in proc.stdout
    assert "mknod-denied" in proc.stdout, proc.stdout


def test_device_filter_follows_later_allow_rules(runtime, bundle, cid):
    v2_bundle(bundle)
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "m"})
    bundle.shell("mknod /tmp/loop b 7 0 && echo mknod-allowed")
    proc = run_v2(runtime, bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert "mknod-allowed" in proc.stdout


def test_missing_v2_controller_is_a_clear_error(runtime, bundle, cid):
    v2_bundle(bundle)
    bundle.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    bundle.shell("true")
    proc = run_v2(runtime, bundle, cid)
    assert proc.returncode != 0
    assert "memory" in proc.stderr, proc.stderr
