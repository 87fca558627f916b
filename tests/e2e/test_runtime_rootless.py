# SPDX-License-Identifier: Apache-2.0
"""Rootless: an unprivileged user (nobody) runs a container from `spec --rootless`, with its
own id mapped by itself or a range mapped through newuidmap/newgidmap."""

import json
import os
import shutil
import subprocess

import pytest

NOBODY = 65534


@pytest.fixture
def rootless_dir(workdir):
    d = workdir / "rootless"
    d.mkdir()
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(cmd, **kwargs):
    return subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                           "--clear-groups", *cmd],
                          capture_output=True, text=True, timeout=60, **kwargs)


def rootless_bundle(runtime, rootless_dir, bundle_template, script):
    bundle = rootless_dir / "bundle"
    bundle.mkdir()
    bundle.chmod(0o777)
    proc = as_nobody([runtime.path, "spec", "--rootless", "--bundle", str(bundle)])
    assert proc.returncode == 0, proc.stderr
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["path"] = str(bundle_template / "rootfs")
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", script]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle, config


@pytest.fixture(autouse=True)
def only_skiff(runtime):
    if not runtime.is_skiff:
        pytest.skip("exercises skiff's own spec --rootless output")


def test_rootless_container_maps_root_to_the_user(runtime, rootless_dir, bundle_template, cid):
    bundle, config = rootless_bundle(runtime, rootless_dir, bundle_template,
                                     "id -u; cat /proc/self/uid_map; hostname; sleep 0")
    assert config["linux"]["uidMappings"] == [
        {"containerID": 0, "hostID": NOBODY, "size": 1}]
    state = rootless_dir / "state"
    proc = as_nobody([runtime.path, "--root", str(state), "run", "--bundle", str(bundle), cid])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(NOBODY), "1"]
    assert lines[2] == "skiff"
    assert not os.listdir(state), "state left behind"


def test_rootless_range_goes_through_newuidmap(runtime, rootless_dir, bundle_template, cid):
    if not shutil.which("newuidmap"):
        pytest.skip("newuidmap (uidmap) is not installed")
    bundle, config = rootless_bundle(runtime, rootless_dir, bundle_template,
                                     "cat /proc/self/uid_map /proc/self/gid_map")
    config["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": NOBODY, "size": 1},
        {"containerID": 1, "hostID": 300000, "size": 1000}]
    config["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": NOBODY, "size": 1},
        {"containerID": 1, "hostID": 300000, "size": 1000}]
    (bundle / "config.json").write_text(json.dumps(config))
    subids = rootless_dir / "subid"
    subids.write_text(f"{NOBODY}:300000:1000\n")
    state = rootless_dir / "state"
    # the subordinate ranges exist only in this private mount namespace
    script = ('mount --bind "$0" /etc/subuid && mount --bind "$0" /etc/subgid && '
              'exec setpriv --reuid 65534 --regid 65534 --clear-groups "$@"')
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(subids),
         runtime.path, "--root", str(state), "run", "--bundle", str(bundle), cid],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows == [["0", str(NOBODY), "1"], ["1", "300000", "1000"]] * 2


def test_rootless_limits_without_a_delegated_cgroup_fail_clearly(
        runtime, rootless_dir, bundle_template, cid):
    bundle, config = rootless_bundle(runtime, rootless_dir, bundle_template, "true")
    config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    (bundle / "config.json").write_text(json.dumps(config))
    proc = as_nobody([runtime.path, "--root", str(rootless_dir / "state"), "run",
                      "--bundle", str(bundle), cid])
    assert proc.returncode != 0
    assert "rootless" in proc.stderr and "delegated" in proc.stderr, proc.stderr
