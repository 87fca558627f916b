# SPDX-License-Identifier: Apache-2.0
"""containerd (Debian 12's 1.6, its v2 runc shim, and ctr) using the runtime under test.

One containerd serves the module (see containerd_env.py): a private config,
root, state and socket in a scratch dir, a private /run, a network namespace
of its own, and a busybox OCI image built from scripts/mkrootfs-tar.sh and
imported with `ctr images import`. Containers are run with `ctr run --runc-binary
RUNTIME`, which the shim calls with runc's command line (--root, --log,
--log-format json; create --bundle --pid-file, start, state, kill, delete,
exec --process --detach --pid-file, pause, resume, ps). Every test names its
containers uniquely and removes them, even when it fails.
E2E_CONTAINERD_RUNTIME picks the runtime: skiff (default), runc or a path.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CGROUP_ROOT, wait_for, wait_for_text
from containerd_env import (CONTAINERD, CTR, IMAGE, Containerd, make_scratch,
                            runtime_choice)
from podman_env import RUNC, explain, process_alive, unique

pytestmark = pytest.mark.skipif(
    CONTAINERD is None or CTR is None,
    reason="containerd is not installed (scripts/install-deps.sh installs it)")

# A task that says "ready" once its TERM trap is set, and exits 0 on TERM at once.
SERVE = "trap 'echo got-term; exit 0' TERM; echo ready; sleep 600 & wait"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def ctr(skiff):
    if os.geteuid() != 0:
        pytest.skip("containerd e2e tests need root")
    scratch = make_scratch("skiff-e2e-containerd-")
    runtime = runtime_choice("E2E_CONTAINERD_RUNTIME", skiff)
    if not os.access(runtime, os.X_OK):
        shutil.rmtree(scratch)
        pytest.fail(f"runtime '{runtime}' not found: run `make` or set E2E_CONTAINERD_RUNTIME")
    daemon = None
    try:
        try:
            daemon = Containerd(scratch / "containerd", runtime)
        except RuntimeError as err:
            pytest.skip(f"containerd does not start here: {err}")
        daemon.import_image()
        probe = daemon.run("--rm", IMAGE, unique("probe"), "true", runtime=str(RUNC))
        if probe.returncode != 0:
            pytest.skip(f"containerd can't run a container even with runc: {explain(probe)}")
        yield daemon
    finally:
        if daemon:
            daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def name(ctr):
    """name() -> a container id no other test uses; removed after the test."""
    names = []

    def make():
        names.append(unique("ctr"))
        return names[-1]

    yield make
    ctr.remove(*names)


def log_path(ctr, cid):
    return ctr.workdir / f"{cid}.log"


@pytest.fixture
def serving(ctr, name):
    """A detached task running SERVE, its output in log_path(); returns its id once ready."""
    def start(*options, script=SERVE):
        cid = name()
        ctr.ok(*ctr.run_args(), "--detach", "--log-uri", f"file://{log_path(ctr, cid)}",
               *options, IMAGE, cid, "sh", "-c", script)
        wait_for_text(log_path(ctr, cid), "ready")
        return cid

    return start


def bundle_dir(ctr, cid):
    """The bundle the shim hands the runtime (config.json, options.json, rootfs)."""
    return ctr.workdir / "state" / "io.containerd.runtime.v2.task" / ctr.namespace / cid


def bundle_config(ctr, cid):
    """The OCI config.json containerd wrote for the container."""
    return json.loads((bundle_dir(ctr, cid) / "config.json").read_text())


def cgroups_of(pid):
    """{controller: path} for every hierarchy in /proc/pid/cgroup ("" for cgroup v2)."""
    cgroups = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in (controllers.split(",") if controllers else [""]):
            cgroups[controller] = path
    return cgroups


def cgroup_file(pid, controller, filename):
    return CGROUP_ROOT / controller / cgroups_of(pid)[controller].lstrip("/") / filename


def exit_warning(cid, code):
    return f"task {cid} exit with non-zero exit code {code}"


# --- run in the foreground


def test_run_prints_the_command_output(ctr, name):
    cid = name()
    proc = ctr.run("--rm", IMAGE, cid, "echo", "hello-from-containerd")
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout == "hello-from-containerd\n"
    assert cid not in ctr.ok("containers", "list", "--quiet").split()


def test_run_propagates_the_exit_code(ctr, name):
    proc = ctr.run("--rm", IMAGE, name(), "sh", "-c", "exit 3")
    assert proc.returncode == 3, explain(proc)


def test_run_relays_stdin_to_the_image_cmd(ctr, name):
    proc = ctr.run("--rm", IMAGE, name(), input="echo from-stdin-$((6*7))\nexit 4\n")
    assert proc.returncode == 4, explain(proc)
    assert proc.stdout == "from-stdin-42\n"


def test_run_with_a_terminal(ctr, name):
    command = ctr.shell_command(*ctr.run_args(), "--rm", "--tty", IMAGE, name(), "sh")
    proc = subprocess.run(["script", "-qec", command, "/dev/null"],
                          input="tty\necho sum-$((40+2))\nexit 7\n",
                          capture_output=True, text=True, timeout=60)
    assert "/dev/pts/0" in proc.stdout, explain(proc)
    assert "sum-42" in proc.stdout, explain(proc)
    assert proc.returncode == 7, explain(proc)


def test_removed_container_leaves_no_state_or_cgroup(ctr, name):
    cid = name()
    ctr.ok(*ctr.run_args(), "--rm", IMAGE, cid, "true")
    assert ctr.runtime_state(cid).returncode != 0
    rel = f"{ctr.namespace}/{cid}"
    left = [h.name for h in CGROUP_ROOT.iterdir() if (h / rel).is_dir()]
    assert left == [], f"cgroup {rel} left in {left}"


# --- detached tasks


def test_detached_task_is_the_runtimes_container(ctr, serving):
    cid = serving()
    pid, status = ctr.tasks()[cid]
    assert status == "RUNNING"
    assert process_alive(pid)
    # the runtime under test holds it: runc can't read skiff's state dir, nor skiff runc's
    proc = ctr.runtime_state(cid)
    assert proc.returncode == 0, explain(proc)
    state = json.loads(proc.stdout)
    assert state["id"] == cid
    assert state["status"] == "running"
    assert state["pid"] == pid
    assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sh\0-c\0trap")
    # and it is the binary containerd handed the shim
    options = json.loads((bundle_dir(ctr, cid) / "options.json").read_text())
    assert options["binary_name"] == ctr.runtime


def test_task_is_in_the_cgroup_containerd_asked_for(ctr, serving):
    cid = serving()
    asked = bundle_config(ctr, cid)["linux"]["cgroupsPath"]
    assert asked == f"/{ctr.namespace}/{cid}"
    cgroups = cgroups_of(ctr.task_pid(cid))
    for controller in ("cpu", "cpuacct", "memory", "pids", "devices", "freezer", "blkio"):
        assert cgroups.get(controller) == asked, f"{controller}: {cgroups}"


def test_task_runs_in_its_own_namespaces(ctr, serving):
    cid = serving()
    pid = ctr.task_pid(cid)
    for ns in ("pid", "mnt", "uts", "ipc", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert os.stat(f"/proc/{pid}/ns/net").st_ino != ctr.net_ns_inode()
    links = ctr.ok("task", "exec", "--exec-id", unique("ip"), cid, "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]


def test_net_host_joins_the_daemons_network_namespace(ctr, serving):
    cid = serving("--net-host")
    assert os.stat(f"/proc/{ctr.task_pid(cid)}/ns/net").st_ino == ctr.net_ns_inode()


def test_kill_delivers_term_and_delete_reaps(ctr, serving):
    cid = serving()
    ctr.ok("task", "kill", cid)
    ctr.wait_task_status(cid, "STOPPED")
    assert "got-term" in log_path(ctr, cid).read_text()
    proc = ctr("task", "delete", cid)
    assert proc.returncode == 0, explain(proc)
    assert "exit code" not in proc.stderr, explain(proc)  # exited 0
    assert cid not in ctr.tasks()
    assert ctr.runtime_state(cid).returncode != 0


def test_kill_with_sigkill_reports_137(ctr, serving):
    cid = serving()
    ctr.ok("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_task_status(cid, "STOPPED")
    proc = ctr("task", "delete", cid)
    assert exit_warning(cid, 137) in proc.stderr, explain(proc)


# --- exec, ps


def test_exec_runs_in_the_task(ctr, serving):
    cid = serving()
    pid1 = ctr.ok("task", "exec", "--exec-id", unique("exec"), cid, "cat", "/proc/1/cmdline")
    assert pid1.startswith("sh\0-c\0trap"), repr(pid1)
    proc = ctr("task", "exec", "--exec-id", unique("exec"), cid,
               "sh", "-c", "echo out; echo err >&2; exit 5")
    assert proc.returncode == 5, explain(proc)
    assert proc.stdout == "out\n" and "err" in proc.stderr


def test_exec_with_a_terminal(ctr, serving):
    cid = serving()
    command = ctr.shell_command("task", "exec", "--tty", "--exec-id", unique("tty"), cid, "sh")
    proc = subprocess.run(["script", "-qec", command, "/dev/null"],
                          input="tty\necho sum-$((40+2))\nexit 6\n",
                          capture_output=True, text=True, timeout=60)
    assert "/dev/pts/" in proc.stdout, explain(proc)
    assert "sum-42" in proc.stdout, explain(proc)
    assert proc.returncode == 6, explain(proc)


def test_detached_exec_is_listed_by_task_ps_and_killed_by_id(ctr, serving):
    cid = serving()
    exec_id = unique("sleeper")
    ctr.ok("task", "exec", "--detach", "--exec-id", exec_id, cid, "sleep", "300")

    def exec_pid():
        for line in ctr.ok("task", "ps", cid).splitlines()[1:]:
            if exec_id in line:
                return int(line.split()[0])
        return None

    pid = wait_for(exec_pid)
    assert pid, ctr.ok("task", "ps", cid)
    init = ctr.task_pid(cid)
    assert cgroups_of(pid) == cgroups_of(init)
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    ctr.ok("task", "kill", "--signal", "KILL", "--exec-id", exec_id, cid)
    assert wait_for(lambda: not process_alive(pid)), f"exec {exec_id} ({pid}) survived"
    assert ctr.tasks()[cid][1] == "RUNNING"


def test_kill_all_reaches_exec_processes(ctr, serving):
    cid = serving()
    exec_id = unique("sleeper")
    ctr.ok("task", "exec", "--detach", "--exec-id", exec_id, cid, "sleep", "300")
    wait_for(lambda: exec_id in ctr.ok("task", "ps", cid))
    pids = [int(line.split()[0]) for line in ctr.ok("task", "ps", cid).splitlines()[1:]]
    assert len(pids) >= 3  # sh, its sleep, the exec'd sleep
    ctr.ok("task", "kill", "--all", "--signal", "KILL", cid)
    ctr.wait_task_status(cid, "STOPPED")
    assert wait_for(lambda: not any(process_alive(p) for p in pids)), pids


# --- pause, resources


def test_pause_and_resume(ctr, serving):
    cid = serving()
    pid = ctr.task_pid(cid)
    freezer = cgroup_file(pid, "freezer", "freezer.state")
    ctr.ok("task", "pause", cid)
    ctr.wait_task_status(cid, "PAUSED")
    assert freezer.read_text().strip() == "FROZEN"
    assert json.loads(ctr.runtime_state(cid).stdout)["status"] == "paused"
    ctr.ok("task", "resume", cid)
    ctr.wait_task_status(cid, "RUNNING")
    assert freezer.read_text().strip() == "THAWED"
    assert ctr.ok("task", "exec", "--exec-id", unique("exec"), cid, "echo", "awake") == "awake\n"


def test_memory_limit_and_cpu_shares(ctr, serving):
    cid = serving("--memory-limit", 64 * MIB, "--cpu-shares", 512)
    resources = bundle_config(ctr, cid)["linux"]["resources"]
    assert resources["memory"]["limit"] == 64 * MIB
    pid = ctr.task_pid(cid)
    assert int(cgroup_file(pid, "memory", "memory.limit_in_bytes").read_text()) == 64 * MIB
    assert int(cgroup_file(pid, "cpu", "cpu.shares").read_text()) == 512


def test_memory_limit_kills_a_task_that_exceeds_it(ctr, name):
    # busybox tail keeps the last line whole: /dev/zero has none, so it grows without end
    proc = ctr.run("--rm", "--memory-limit", 16 * MIB, IMAGE, name(), "tail", "/dev/zero",
                   timeout=60)
    assert proc.returncode == 137, explain(proc)
