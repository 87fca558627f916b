# SPDX-License-Identifier: Apache-2.0
"""exec: another process in a running container, in its namespaces and cgroup."""

import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def running(runtime, bundle, cid):
    """A detached container that sleeps; returns its id."""
    bundle.new_cgroup()
    bundle.shell("sleep 60")
    proc = runtime.detached("run", bundle, cid, "--detach")
    assert proc.returncode == 0, proc.stderr
    runtime.wait_status(cid, "running")
    return cid


def test_exec_joins_the_container_namespaces(runtime, running):
    proc = runtime("exec", running, "sh", "-c", "hostname; ps -o pid,args | sed -n 2p; ls /sys/class/net")
    assert proc.returncode == 0, proc.stderr
    hostname, first, *nets = proc.stdout.split("\n")
    assert hostname == "skiff"
    assert first.split(None, 1) == ["1", "sleep 60"]  # sh execs its last command
    assert [n for n in nets if n] == ["lo"]


def test_exec_returns_the_exit_status(runtime, running):
    assert runtime("exec", running, "sh", "-c", "exit 7").returncode == 7


def test_exec_process_is_in_the_container_cgroup(runtime, running, bundle):
    proc = runtime("exec", running, "cat", "/proc/self/cgroup")
    assert proc.returncode == 0, proc.stderr
    rel = bundle.cgroups_path
    lines = [l for l in proc.stdout.splitlines() if ":memory:" in l or ":pids:" in l]
    assert lines and all(l.endswith(rel) for l in lines), proc.stdout


def test_exec_flags_set_env_user_cwd_and_caps(runtime, running):
    proc = runtime("exec", "--env", "GREETING=hi there", "--env", "EMPTY=", "--user", "1000:100",
                   "-g", "10", "--cwd", "/tmp", running,
                   "sh", "-c", "echo $GREETING; id; pwd")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["hi there", "uid=1000 gid=100 groups=10(wheel)", "/tmp"]
    proc = runtime("exec", "--cap", "CAP_SYS_ADMIN", running,
                   "sh", "-c", "grep CapEff /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[1], 16) & (1 << 21)


def test_exec_process_file(runtime, running, workdir):
    spec = {"args": ["sh", "-c", "echo from-file $X; id -u"], "cwd": "/", "env": ["PATH=/bin", "X=1"],
            "user": {"uid": 65534, "gid": 65534}, "terminal": False}
    path = workdir / "process.json"
    path.write_text(json.dumps(spec))
    proc = runtime("exec", "--process", str(path), running)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["from-file 1", "65534"]


def test_exec_detached_writes_the_pid_file(runtime, running, workdir):
    pid_file = workdir / "exec.pid"
    # the detached process keeps its stdio: give it files, not the pipes we wait on
    with open(workdir / "exec.out", "w") as out:
        proc = runtime("exec", "--detach", "--pid-file", str(pid_file), running, "sleep", "30",
                       stdout=out, stderr=out)
    assert proc.returncode == 0, (workdir / "exec.out").read_text()
    pid = int(pid_file.read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[:2] == [b"sleep", b"30"]


def test_exec_with_a_terminal(runtime, running):
    cmd = f"{runtime.path} --root {runtime.root} exec -t {running} sh"
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                          input="tty\nexit 3\n", capture_output=True, text=True, timeout=60)
    assert "/dev/pts/" in proc.stdout
    assert proc.returncode == 3


def test_exec_of_a_missing_program_fails_clearly(runtime, running):
    proc = runtime("exec", running, "no-such-program")
    assert proc.returncode != 0
    if runtime.is_skiff:
        assert "no-such-program" in proc.stderr and "not found" in proc.stderr


def test_exec_in_a_stopped_container_fails(runtime, bundle, cid):
    bundle.shell("true")
    proc = runtime.detached("run", bundle, cid, "--detach")
    assert proc.returncode == 0, proc.stderr
    runtime.wait_status(cid, "stopped")
    proc = runtime("exec", cid, "true")
    assert proc.returncode != 0
    if runtime.is_skiff:
        assert "stopped" in proc.stderr
