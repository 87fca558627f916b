# SPDX-License-Identifier: Apache-2.0
"""ps, pause/resume, update and events on a running container."""

import json
import subprocess

import pytest

from conftest import cgroup_dirs


@pytest.fixture
def running(runtime, bundle, cid):
    bundle.new_cgroup()
    bundle.shell("sleep 60 & sleep 60")
    proc = runtime.detached("run", bundle, cid, "--detach")
    assert proc.returncode == 0, proc.stderr
    runtime.wait_status(cid, "running")
    return cid


def cgroup_file(bundle, name):
    for d in cgroup_dirs(bundle.cgroups_path):
        if (d / name).exists():
            return d / name
    raise AssertionError(f"no {name} for {bundle.cgroups_path}")


def test_ps_lists_the_container_processes(runtime, running):
    proc = runtime("ps", "--format", "json", running)
    assert proc.returncode == 0, proc.stderr
    pids = json.loads(proc.stdout)
    assert len(pids) == 2
    table = runtime("ps", running)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "PID" in lines[0] and len(lines) == 3
    assert all("sleep 60" in line for line in lines[1:])


def test_pause_freezes_and_resume_thaws(runtime, running, bundle):
    assert runtime("pause", running).returncode == 0
    assert runtime.state(running)["status"] == "paused"
    state_file = cgroup_file(bundle, "freezer.state")
    assert state_file.read_text().strip() == "FROZEN"
    assert runtime("pause", running).returncode != 0  # already paused
    assert runtime("resume", running).returncode == 0
    assert runtime.state(running)["status"] == "running"
    assert state_file.read_text().strip() == "THAWED"


def test_force_delete_of_a_paused_container(runtime, running, bundle):
    assert runtime("pause", running).returncode == 0
    proc = runtime("delete", "--force", running)
    assert proc.returncode == 0, proc.stderr
    assert not cgroup_dirs(bundle.cgroups_path)


def test_update_changes_limits(runtime, running, bundle, workdir):
    proc = runtime("update", "--memory", "96m", "--pids-limit", "33", "--cpu-quota", "20000",
                   "--cpu-period", "100000", running)
    assert proc.returncode == 0, proc.stderr
    assert cgroup_file(bundle, "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
    assert cgroup_file(bundle, "pids.max").read_text().strip() == "33"
    assert cgroup_file(bundle, "cpu.cfs_quota_us").read_text().strip() == "20000"
    resources = workdir / "resources.json"
    resources.write_text(json.dumps({"pids": {"limit": 44}}))
    proc = runtime("update", "--resources", str(resources), running)
    assert proc.returncode == 0, proc.stderr
    assert cgroup_file(bundle, "pids.max").read_text().strip() == "44"


def test_update_rejects_a_bad_value(runtime, running):
    proc = runtime("update", "--memory", "lots", running)
    assert proc.returncode != 0
    if runtime.is_skiff:
        assert "--memory" in proc.stderr


def test_events_stats_reports_the_cgroup(runtime, running):
    proc = runtime("events", "--stats", running)
    assert proc.returncode == 0, proc.stderr
    ev = json.loads(proc.stdout)
    assert ev["type"] == "stats" and ev["id"] == running
    assert ev["data"]["pids"]["current"] == 2
    assert ev["data"]["memory"]["usage"]["usage"] > 0
    assert set(ev["data"]["blkio"]) == {"ioServiceBytesRecursive", "ioServicedRecursive"}


def test_events_stream_ends_with_the_container(runtime, running):
    if not runtime.is_skiff:
        pytest.skip("runc 1.1 keeps streaming after the container has stopped")
    stream = subprocess.Popen([runtime.path, "--root", str(runtime.root), "events",
                               "--interval", "100ms", running],
                              stdout=subprocess.PIPE, text=True)
    first = json.loads(stream.stdout.readline())
    assert first["type"] == "stats"
    try:
        assert runtime("kill", "--all", running, "KILL").returncode == 0
        stream.wait(timeout=20)
    finally:
        stream.kill()
    assert stream.returncode == 0
