# SPDX-License-Identifier: Apache-2.0
"""Resource limits (linux.resources) enforced through the container's cgroups (v1)."""

import subprocess
import time
from pathlib import Path

import pytest

from conftest import CGROUP_ROOT, wait_for_text

MIB = 1024 * 1024
# Command substitution keeps the whole 100 MB of output in the shell's memory.
ALLOCATE_100MB = "x=$(head -c 100000000 /dev/zero | tr '\\0' a)\n"


def add_allocator(bundle):
    """Put /alloc.sh, which allocates 100 MB, into the rootfs."""
    (bundle.rootfs / "alloc.sh").write_text(ALLOCATE_100MB)


def cgroup_file(bundle, controller, name):
    return CGROUP_ROOT / controller / bundle.cgroups_path.lstrip("/") / name


def require_controller(controller):
    if not (CGROUP_ROOT / controller).is_dir():
        pytest.skip(f"no cgroup v1 '{controller}' hierarchy at {CGROUP_ROOT / controller}")


def limit_memory(bundle, limit):
    """Limit memory and, where swap accounting exists, memory+swap to the same value."""
    memory = {"limit": limit}
    if (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists():
        memory["swap"] = limit
    bundle.config["linux"]["resources"]["memory"] = memory


def stat_values(path):
    """A cgroup 'key value' file as a dict of ints."""
    return {k: int(v) for k, v in (line.split() for line in Path(path).read_text().splitlines())}


def memory_diagnostics(runtime, bundle, cid):
    """What the cgroup and the kernel say, for a container whose OOM kill did not show."""
    lines = [f"state: {runtime('state', cid).stdout.strip()}"]
    for name in ("memory.usage_in_bytes", "memory.failcnt", "memory.oom_control", "tasks"):
        f = cgroup_file(bundle, "memory", name)
        lines.append(f"{name}: {f.read_text().strip() if f.exists() else '(absent)'}")
    kmsg = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
    lines += ["kernel:"] + [k for k in kmsg if "oom" in k.lower() or "memory" in k.lower()][-15:]
    return "\n".join(lines)


def test_memory_limit_oom_kills_and_run_exits_137(runtime, bundle, cid):
    require_controller("memory")
    limit_memory(bundle, 32 * MIB)
    add_allocator(bundle)
    bundle.shell(". /alloc.sh; echo survived")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 137, proc.stderr
    assert "survived" not in proc.stdout


def test_memory_limit_is_written_and_counts_oom_kills(runtime, bundle, cid):
    require_controller("memory")
    limit_memory(bundle, 32 * MIB)
    add_allocator(bundle)
    # The shell that reports must outlive the kill: once the allocating child is chosen,
    # its `head` can fault again before the child's memory is reclaimed, and the kernel
    # then picks among what is left. The child and what it starts mark themselves the
    # first to go (raising one's own score needs no privilege).
    bundle.shell(
        "sh -c 'echo 1000 >/proc/self/oom_score_adj; . /alloc.sh'; echo child=$?; exec sleep 600"
    )
    runtime.start_container(bundle, cid)
    try:
        out = wait_for_text(runtime.output_paths(cid)[0], "child=", timeout=30)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{memory_diagnostics(runtime, bundle, cid)}") from None
    assert "child=137" in out
    assert int(cgroup_file(bundle, "memory", "memory.limit_in_bytes").read_text()) == 32 * MIB
    # Newer kernels leave failcnt at 0 for v1 and count the kill in oom_control.
    oom = stat_values(cgroup_file(bundle, "memory", "memory.oom_control"))
    if "oom_kill" in oom:
        assert oom["oom_kill"] >= 1
    else:
        assert int(cgroup_file(bundle, "memory", "memory.failcnt").read_text()) > 0
    peak = int(cgroup_file(bundle, "memory", "memory.max_usage_in_bytes").read_text())
    assert 16 * MIB < peak <= 32 * MIB


# pid 1 survives: the fork bomb runs in a child shell, and afterwards pid 1
# uses only builtins (kill -1 spares the caller) until the slots are free again.
FORK_BOMB = """
sh -c 'i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i+1)); echo started; done' \\
    >/tmp/started 2>/tmp/err
kill -9 -1; wait
n=0; while read l; do n=$((n+1)); done </tmp/started
echo started=$n
while read l; do case "$l" in *fork*) echo fork-failed; break;; esac; done </tmp/err
echo alive
exec sleep 600
"""


def test_pids_limit_stops_fork_bomb(runtime, bundle, cid):
    require_controller("pids")
    bundle.config["linux"]["resources"]["pids"] = {"limit": 16}
    bundle.shell(FORK_BOMB)
    runtime.start_container(bundle, cid)
    out = wait_for_text(runtime.output_paths(cid)[0], "alive", timeout=30)
    started = int(out.split("started=")[1].split()[0])
    assert 0 < started < 16
    assert "fork-failed" in out
    assert cgroup_file(bundle, "pids", "pids.max").read_text().strip() == "16"
    events = cgroup_file(bundle, "pids", "pids.events")
    if events.exists():
        assert stat_values(events)["max"] > 0
    assert runtime.state(cid)["status"] == "running"


def test_cpu_quota_throttles_busy_loop(runtime, bundle, cid):
    require_controller("cpu")
    bundle.config["linux"]["resources"]["cpu"] = {"quota": 10000, "period": 100000}
    bundle.shell("while :; do :; done")
    runtime.start_container(bundle, cid)
    cpu_stat = cgroup_file(bundle, "cpu", "cpu.stat")
    assert cgroup_file(bundle, "cpu", "cpu.cfs_quota_us").read_text().strip() == "10000"
    assert cgroup_file(bundle, "cpu", "cpu.cfs_period_us").read_text().strip() == "100000"
    usage = cgroup_file(bundle, "cpuacct", "cpuacct.usage")
    time.sleep(1.0)
    stat = stat_values(cpu_stat)
    used_ns = int(usage.read_text()) if usage.exists() else 0
    runtime("kill", cid, "KILL")
    assert stat["nr_throttled"] > 0
    # 10 % of one CPU over about a second; allow generous slack.
    assert used_ns < 500_000_000
