# SPDX-License-Identifier: Apache-2.0
"""dockerd (Debian 12's docker.io 20.10, on its own containerd) using the runtime under test.

One dockerd serves the module (see containerd_env.py): data root, exec root,
socket and its containerd in a scratch dir, a private /run and /etc/docker, a
network namespace of its own, no bridge and no iptables rules, a cgroup parent
of its own. The runtime under test is registered with --add-runtime and every
container is run with --runtime on it (and --network none); the busybox image
is imported from scripts/mkrootfs-tar.sh. Besides what test_containerd.py
covers, dockerd makes the shim call the runtime's `update` (docker update).
E2E_DOCKER_RUNTIME picks the runtime: skiff (default), runc or a path.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CGROUP_ROOT, wait_for
from containerd_env import DOCKER, DOCKERD, IMAGE, Dockerd, make_scratch, runtime_choice
from podman_env import explain, process_alive, unique

pytestmark = pytest.mark.skipif(
    DOCKERD is None or DOCKER is None,
    reason="docker.io is not installed (scripts/install-deps.sh installs it)")

SERVE = "trap 'echo got-term; exit 0' TERM; echo ready; sleep 600 & wait"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def docker(skiff):
    if os.geteuid() != 0:
        pytest.skip("docker e2e tests need root")
    scratch = make_scratch("skiff-e2e-docker-")
    runtime = runtime_choice("E2E_DOCKER_RUNTIME", skiff)
    if not os.access(runtime, os.X_OK):
        shutil.rmtree(scratch)
        pytest.fail(f"runtime '{runtime}' not found: run `make` or set E2E_DOCKER_RUNTIME")
    daemon = None
    try:
        try:
            daemon = Dockerd(scratch / "dockerd", runtime)
        except RuntimeError as err:
            pytest.skip(f"dockerd does not start here: {err}")
        daemon.import_image()
        probe = daemon("run", "--rm", "--runtime", "runc", "--network", "none", IMAGE, "true")
        if probe.returncode != 0:
            pytest.skip(f"dockerd can't run a container even with runc: {explain(probe)}")
        yield daemon
    finally:
        if daemon:
            daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def name(docker):
    names = []

    def make():
        names.append(unique("dk"))
        return names[-1]

    yield make
    docker.remove(*names)


@pytest.fixture
def serving(docker, name):
    def start(*options, script=SERVE):
        n = name()
        docker.ok(*docker.run_args(), "--detach", "--name", n, *options, IMAGE, "sh", "-c", script)
        assert wait_for(lambda: "ready" in docker("logs", n).stdout), docker("logs", n)
        return n

    return start


def memory_file(pid, filename):
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / path.lstrip("/") / filename
    raise AssertionError(f"process {pid} has no memory cgroup")


def test_run_prints_the_output_and_propagates_the_exit_code(docker, name):
    proc = docker.run("--rm", "--name", name(), IMAGE, "echo", "hello-from-docker")
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout == "hello-from-docker\n"
    proc = docker.run("--rm", "--name", name(), IMAGE, "sh", "-c", "exit 3")
    assert proc.returncode == 3, explain(proc)


def test_run_with_a_terminal(docker, name):
    command = docker.shell_command(*docker.run_args(), "--rm", "-it", "--name", name(), IMAGE)
    proc = subprocess.run(["script", "-qec", command, "/dev/null"],
                          input="tty\necho sum-$((40+2))\nexit 7\n", capture_output=True,
                          text=True, timeout=60, env=docker.env)
    assert "/dev/pts/0" in proc.stdout, explain(proc)
    assert "sum-42" in proc.stdout, explain(proc)
    assert proc.returncode == 7, explain(proc)


def test_detached_container_is_the_runtimes(docker, serving):
    n = serving()
    pid = int(docker.inspect(n, "{{.State.Pid}}"))
    assert docker.inspect(n, "{{.HostConfig.Runtime}}") == Dockerd.RUNTIME_NAME
    proc = docker.runtime_state(n)
    assert proc.returncode == 0, explain(proc)
    state = json.loads(proc.stdout)
    assert state["status"] == "running" and state["pid"] == pid
    cid = docker.inspect(n, "{{.Id}}")
    memory = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
              if ":memory:" in line]
    assert memory == [f"{memory[0].split(':')[0]}:memory:{docker.cgroup_parent}/{cid}"]


def test_exec_top_and_stop(docker, serving):
    n = serving()
    proc = docker("exec", n, "sh", "-c", "echo out; cat /proc/1/cmdline; exit 5")
    assert proc.returncode == 5, explain(proc)
    assert proc.stdout.startswith("out\nsh\0-c\0trap"), repr(proc.stdout)
    top = docker.ok("top", n)
    assert "sleep 600" in top, top
    docker.ok("stop", "--time", "10", n)
    assert docker.inspect(n, "{{.State.Status}}") == "exited"
    assert docker.inspect(n, "{{.State.ExitCode}}") == "0"
    assert "got-term" in docker.ok("logs", n)


def test_pause_and_unpause(docker, serving):
    n = serving()
    docker.ok("pause", n)
    assert docker.inspect(n, "{{.State.Status}}") == "paused"
    assert json.loads(docker.runtime_state(n).stdout)["status"] == "paused"
    docker.ok("unpause", n)
    assert docker.inspect(n, "{{.State.Status}}") == "running"
    assert docker.ok("exec", n, "echo", "awake") == "awake\n"


def test_memory_limit_and_update(docker, serving):
    n = serving("--memory", "64m")
    pid = int(docker.inspect(n, "{{.State.Pid}}"))
    assert int(memory_file(pid, "memory.limit_in_bytes").read_text()) == 64 * MIB
    # the shim calls the runtime's `update` with the new resources
    docker.ok("update", "--memory", "96m", "--memory-swap", "128m", n)
    assert int(memory_file(pid, "memory.limit_in_bytes").read_text()) == 96 * MIB
    assert int(memory_file(pid, "memory.memsw.limit_in_bytes").read_text()) == 128 * MIB


def test_restart_and_kill(docker, serving):
    n = serving()
    first = int(docker.inspect(n, "{{.State.Pid}}"))
    docker.ok("restart", "--time", "10", n)
    assert docker.inspect(n, "{{.State.Status}}") == "running"
    second = int(docker.inspect(n, "{{.State.Pid}}"))
    assert second != first and not process_alive(first)
    docker.ok("kill", n)
    assert wait_for(lambda: docker.inspect(n, "{{.State.Status}}") == "exited")
    assert docker.inspect(n, "{{.State.ExitCode}}") == "137"
    assert not process_alive(second)
