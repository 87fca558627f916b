# SPDX-License-Identifier: Apache-2.0
"""Failures: bad configs, duplicate and unknown ids, cleanup after a failed create,
and the JSON log that containerd and podman read."""

import json

from conftest import cgroup_dirs


def assert_nothing_left(runtime, bundle, cid):
    assert not (runtime.root / cid).exists(), "state dir left after a failed create"
    assert cgroup_dirs(bundle.cgroups_path) == [], "cgroup left after a failed create"
    assert runtime("state", cid).returncode != 0


def test_bad_config_field_is_named(runtime, bundle, cid):
    bundle.config["linux"]["resources"]["memory"] = {"limit": "32m"}
    bundle.save()
    proc = runtime.create(bundle, cid)
    assert proc.returncode != 0
    assert "linux.resources.memory.limit" in proc.stderr
    assert_nothing_left(runtime, bundle, cid)


def test_missing_executable_fails_create_and_leaves_nothing(runtime, bundle, cid):
    bundle.config["process"]["args"] = ["/does-not-exist"]
    bundle.save()
    proc = runtime.create(bundle, cid)
    assert proc.returncode != 0
    assert "/does-not-exist" in proc.stderr
    assert_nothing_left(runtime, bundle, cid)


def test_duplicate_id_is_refused(runtime, make_bundle, cid):
    first, second = make_bundle(), make_bundle()
    first.shell("exec sleep 600")
    second.shell("exec sleep 600")
    assert runtime.create(first, cid).returncode == 0
    proc = runtime.create(second, cid)
    assert proc.returncode != 0
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["bundle"] == str(first.path)
    assert cgroup_dirs(second.cgroups_path) == []


def test_start_of_unknown_id_fails(runtime, cid):
    proc = runtime("start", cid)
    assert proc.returncode != 0
    assert proc.stderr.strip()


def test_state_of_unknown_id_fails(runtime, cid):
    proc = runtime("state", cid)
    assert proc.returncode != 0
    assert proc.stdout == ""


def test_json_log_records_errors(runtime, workdir, cid):
    log = workdir / "runtime.log"
    proc = runtime("start", cid, global_args=("--log", str(log), "--log-format", "json"))
    assert proc.returncode != 0
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert entries, "nothing logged"
    for entry in entries:
        assert {"level", "msg", "time"} <= entry.keys()
    assert any(e["level"] == "error" for e in entries)
