# SPDX-License-Identifier: Apache-2.0
"""podman (Debian 12's 4.3 with conmon) using the runtime under test as its OCI runtime.

One podman instance serves the module (see podman_env.py): temporary storage,
a network namespace of its own, a busybox image imported from
scripts/mkrootfs-tar.sh. Every test names its containers uniquely and removes
them, even when it fails. E2E_PODMAN_RUNTIME picks the runtime: skiff
(default), runc or crun, the last two to check the tests themselves.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CGROUP_ROOT, wait_for
from podman_env import (CONMON, IMAGE, PODMAN, RUNC, Podman, explain, make_scratch,
                        process_alive, runtime_path, unique)

pytestmark = pytest.mark.skipif(
    PODMAN is None or CONMON is None,
    reason="podman or conmon is not installed (scripts/install-deps.sh installs them)")

# A container that says "ready" once its TERM trap is set, and exits 0 on TERM at once.
SERVE = "trap 'echo got-term; exit 0' TERM; echo ready; sleep 600 & wait"


@pytest.fixture(scope="module")
def podman(skiff):
    if os.geteuid() != 0:
        pytest.skip("podman e2e tests need root")
    scratch = make_scratch()
    runtime = runtime_path(os.environ.get("E2E_PODMAN_RUNTIME", "skiff"), skiff, scratch)
    if not os.access(runtime, os.X_OK):
        shutil.rmtree(scratch)
        pytest.fail(f"runtime '{runtime}' not found: run `make` or set E2E_PODMAN_RUNTIME")
    pm = Podman(scratch / "podman", runtime)
    try:
        pm.import_image()
        probe = pm.run("--rm", IMAGE, "true", runtime=str(RUNC))
        if probe.returncode != 0:
            pytest.skip(f"podman can't run a container even with runc: {explain(probe)}")
        yield pm
    finally:
        pm.reset()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def name(podman):
    """name() -> a container name no other test uses; removed after the test."""
    names = []

    def make():
        names.append(unique())
        return names[-1]

    yield make
    podman.remove(*names)


@pytest.fixture
def serving(podman, name):
    """A detached container running SERVE; returns its name once it is ready."""
    def start(*options, script=SERVE):
        n = name()
        podman.ok(*podman.run_args(), "-d", "--name", n, *options, IMAGE, "sh", "-c", script)
        podman.wait_logs(n, "ready")
        return n

    return start


def host_cgroup_file(pid, controller, filename):
    """The file of controller's cgroup v1 hierarchy for the process pid, seen from the host."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/") / filename
    raise AssertionError(f"process {pid} has no {controller} cgroup")


def cap_eff(text):
    return int(re.search(r"^CapEff:\s*([0-9a-f]+)$", text, re.M).group(1), 16)


# --- run, exit codes, stdio


def test_run_prints_the_command_output(podman, name):
    n = name()
    proc = podman.run("--rm", "--name", n, IMAGE, "echo", "hello-from-podman")
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout == "hello-from-podman\n"
    assert n not in podman.ok("ps", "-a", "--format", "{{.Names}}")


def test_run_propagates_the_exit_code(podman, name):
    proc = podman.run("--rm", "--name", name(), IMAGE, "sh", "-c", "exit 3")
    assert proc.returncode == 3, explain(proc)


def test_run_relays_stdin_to_the_image_cmd(podman, name):
    proc = podman.run("--rm", "-i", "--name", name(), IMAGE,
                      input="echo from-stdin-$((6*7))\nexit 4\n")
    assert proc.returncode == 4, explain(proc)
    assert proc.stdout == "from-stdin-42\n"


def test_run_with_a_terminal(podman, name):
    proc = podman.in_terminal(*podman.run_args(), "-it", "--rm", "--name", name(), IMAGE, "sh",
                              input="tty\necho sum-$((40+2))\nexit 7\n")
    assert "/dev/pts/0" in proc.stdout, explain(proc)
    assert "sum-42" in proc.stdout, explain(proc)
    assert proc.returncode == 7, explain(proc)


def test_info_reports_the_runtime(podman):
    info = podman.ok("info", "--format", "{{.Host.OCIRuntime.Path}}")
    assert info.strip() == podman.runtime


def test_detached_container_shows_in_ps_and_logs(podman, serving):
    n = serving()
    assert n in podman.ok("ps", "--format", "{{.Names}}").split()
    assert podman.inspect(n, "{{.State.Status}}") == "running"
    assert podman.inspect(n, "{{.OCIRuntime}}") == podman.runtime
    assert "ready" in podman.ok("logs", n)


# --- exec, top, stats


def test_exec_runs_in_the_container(podman, serving):
    n = serving()
    pid1 = podman.ok("exec", n, "cat", "/proc/1/cmdline")
    assert pid1.startswith("sh\0-c\0trap"), repr(pid1)
    proc = podman("exec", n, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert proc.returncode == 5, explain(proc)
    assert proc.stdout == "out\n" and "err" in proc.stderr


def test_exec_with_a_terminal(podman, serving):
    n = serving()
    proc = podman.in_terminal("exec", "-it", n, "sh",
                              input="tty\necho sum-$((40+2))\nexit 6\n")
    assert re.search(r"/dev/pts/\d+", proc.stdout), explain(proc)
    assert "sum-42" in proc.stdout, explain(proc)
    assert proc.returncode == 6, explain(proc)


def test_top_lists_the_container_processes(podman, serving):
    n = serving()
    table = podman.ok("top", n)
    assert "COMMAND" in table.splitlines()[0]
    assert "sleep 600" in table, table


def test_stats_reads_the_container_cgroup(podman, serving):
    n = serving()
    line = podman.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}",
                     n).strip()
    got_name, pids, mem = line.split(" ", 2)
    assert got_name == n
    assert int(pids) >= 2, line  # sh and its sleep
    assert re.match(r"[\d.]+[kMG]?B / ", mem), line


# --- pause, stop, kill, rm


def test_pause_freezes_and_unpause_thaws(podman, serving):
    n = serving()
    freezer = host_cgroup_file(podman.pid(n), "freezer", "freezer.state")
    podman.ok("pause", n)
    assert podman.inspect(n, "{{.State.Status}}") == "paused"
    assert freezer.read_text().strip() == "FROZEN"
    podman.ok("unpause", n)
    assert podman.inspect(n, "{{.State.Status}}") == "running"
    assert freezer.read_text().strip() == "THAWED"
    assert podman.ok("exec", n, "echo", "alive") == "alive\n"


def test_stop_sends_term_first(podman, serving):
    n = serving()
    start = time.monotonic()
    podman.ok("stop", "--time", "10", n)
    assert time.monotonic() - start < 5
    assert podman.inspect(n, "{{.State.Status}}") == "exited"
    assert podman.inspect(n, "{{.State.ExitCode}}") == "0"
    assert "got-term" in podman.ok("logs", n)


def test_stop_kills_a_container_that_ignores_term(podman, serving):
    n = serving(script="trap '' TERM; echo ready; sleep 600 & wait")
    start = time.monotonic()
    podman.ok("stop", "--time", "1", n)
    elapsed = time.monotonic() - start
    assert 1 <= elapsed < 8, elapsed
    assert podman.inspect(n, "{{.State.Status}}") == "exited"
    assert podman.inspect(n, "{{.State.ExitCode}}") == "137"


def test_kill_sends_the_signal(podman, serving):
    n = serving(script="trap 'echo got-usr1' USR1; echo ready; while :; do sleep 600 & wait; done")
    podman.ok("kill", "--signal", "USR1", n)
    podman.wait_logs(n, "got-usr1")
    assert podman.inspect(n, "{{.State.Status}}") == "running"
    podman.ok("kill", n)
    podman.wait_status(n, "exited")
    assert podman.inspect(n, "{{.State.ExitCode}}") == "137"


def test_rm_force_removes_a_running_container(podman, serving):
    n = serving()
    pid = podman.pid(n)
    podman.ok("rm", "--force", n)
    assert n not in podman.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert wait_for(lambda: not process_alive(pid), 5), f"container process {pid} survived"


# --- resources and security options


def test_memory_limit(podman, serving):
    n = serving("--memory", "64m")
    assert podman.ok("exec", n, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes") \
        == "67108864\n"
    limit = host_cgroup_file(podman.pid(n), "memory", "memory.limit_in_bytes")
    assert limit.read_text() == "67108864\n"


def test_pids_limit(podman, serving):
    n = serving("--pids-limit", "20")
    assert podman.ok("exec", n, "cat", "/sys/fs/cgroup/pids/pids.max") == "20\n"
    assert host_cgroup_file(podman.pid(n), "pids", "pids.max").read_text() == "20\n"
    # 30 more processes don't fit in 20
    proc = podman("exec", n, "sh", "-c",
                  "i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; echo forked")
    assert "forked" not in proc.stdout, explain(proc)
    assert "can't fork" in proc.stderr, explain(proc)


def test_cap_drop_all_leaves_no_capability(podman, name):
    out = podman.ok(*podman.run_args(), "--rm", "--name", name(), "--cap-drop", "ALL", IMAGE,
                    "cat", "/proc/self/status")
    assert cap_eff(out) == 0, out


def test_cap_drop_one_capability(podman, name):
    default = cap_eff(podman.ok(*podman.run_args(), "--rm", "--name", name(), IMAGE,
                                "cat", "/proc/self/status"))
    assert default & 1, "CAP_CHOWN should be in podman's default set"
    proc = podman.run("--rm", "--name", name(), "--cap-drop", "CHOWN", IMAGE, "sh", "-c",
                      "grep CapEff /proc/self/status; touch /f; chown 1 /f")
    assert proc.returncode != 0, explain(proc)
    assert "Operation not permitted" in proc.stderr, explain(proc)
    assert cap_eff(proc.stdout) == default & ~1, explain(proc)


def test_read_only_root(podman, name):
    proc = podman.run("--rm", "--name", name(), "--read-only", IMAGE, "sh", "-c",
                      "touch /tmp/ok && echo tmp-writable; touch /f")
    assert proc.returncode != 0, explain(proc)
    assert "tmp-writable" in proc.stdout, explain(proc)
    assert "Read-only file system" in proc.stderr, explain(proc)


def test_user(podman, name):
    out = podman.ok(*podman.run_args(), "--rm", "--name", name(), "--user", "1000:1000", IMAGE,
                    "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status")
    uid, gid, caps = out.splitlines()
    assert (uid, gid) == ("1000", "1000")
    assert cap_eff(caps) == 0  # a non-root user keeps no effective capability


# --- networks


def links(output):
    """Interface names from `ip -o link`."""
    return sorted(line.split(":")[1].strip().split("@")[0] for line in output.splitlines())


def test_network_none_has_only_loopback(podman, name):
    out = podman.ok(*podman.run_args(), "--rm", "--name", name(), "--network", "none", IMAGE,
                    "ip", "-o", "link")
    assert links(out) == ["lo"]


def test_network_host_is_the_podman_netns(podman, name):
    veth = unique("v")[:12]
    subprocess.run(["ip", "-n", podman.netns, "link", "add", veth, "type", "veth",
                    "peer", "name", veth + "p"], check=True)
    try:
        out = podman.ok(*podman.run_args(), "--rm", "--name", name(), "--network", "host",
                        IMAGE, "ip", "-o", "link")
        assert veth in links(out) and veth + "p" in links(out)
    finally:
        subprocess.run(["ip", "-n", podman.netns, "link", "del", veth])


def test_network_bridge(podman, name):
    netavark = [Path(d) / "netavark" for d in ("/usr/lib/podman", "/usr/libexec/podman")]
    if not any(p.exists() for p in netavark) or shutil.which("iptables") is None:
        pytest.skip("--network bridge needs netavark and iptables")
    # netavark makes the bridge, the veth pair and the NAT rules in podman's netns
    proc = podman.run("--rm", "--name", name(), "--network", "bridge", IMAGE, "sh", "-c",
                      "ip -o -4 addr show eth0; "
                      "ping -c 1 -W 2 $(ip route | awk '/^default/ {print $3}')")
    assert proc.returncode == 0, explain(proc)
    assert re.search(r"inet 10\.88\.\d+\.\d+/16", proc.stdout), explain(proc)
