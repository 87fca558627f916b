# SPDX-License-Identifier: Apache-2.0
"""What the runtime must not let into a container, and the less common set-ups:
fds, its own binary, --no-pivot, --preserve-fds, time and cgroup namespaces, the default spec."""

import json
import os
import subprocess

import pytest

from conftest import Bundle, new_id


def only_skiff(runtime):
    if not runtime.is_skiff:
        pytest.skip("checks a skiff-specific guarantee")


def test_no_runtime_fd_reaches_the_container(runtime, bundle, cid):
    # ls itself opens one directory fd (3) while it lists
    bundle.shell("ls /proc/self/fd")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= {"0", "1", "2", "3"}, proc.stdout


def test_preserved_fd_reaches_the_container(runtime, bundle, cid, workdir):
    secret = workdir / "passed"
    secret.write_text("handed over\n")
    bundle.shell("cat <&3")
    runtime._track(bundle, cid)
    # a shell opens the file as fd 3 and becomes the runtime, as an engine would pass it
    proc = subprocess.run(
        ["sh", "-c", 'exec 3<"$0"; exec "$@"', str(secret), runtime.path,
         "--root", str(runtime.root), "run", "--preserve-fds", "1",
         "--bundle", str(bundle.path), cid],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "handed over\n"


def test_waiting_container_process_does_not_run_the_host_binary(runtime, bundle, cid):
    only_skiff(runtime)
    bundle.shell("true")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    pid = runtime.state(cid)["pid"]
    exe = os.readlink(f"/proc/{pid}/exe")
    # a sealed in-memory copy: nothing in the container can reach the file on disk
    assert exe.startswith("/memfd:skiff"), exe


def test_no_pivot_runs_in_the_rootfs(runtime, bundle, cid):
    bundle.shell("cat /etc/hostname 2>/dev/null; ls /bin/busybox")
    proc = runtime.run(bundle, cid, "--no-pivot")
    assert proc.returncode == 0, proc.stderr
    assert "/bin/busybox" in proc.stdout


def test_time_namespace_applies_boottime_offset(runtime, bundle, cid):
    only_skiff(runtime)  # runc 1.1 predates time namespaces
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 864000, "nanosecs": 0}}
    bundle.shell("cut -d. -f1 /proc/uptime")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    host_uptime = float(open("/proc/uptime").read().split()[0])
    assert int(proc.stdout) >= 864000 + int(host_uptime) - 5


def test_cgroup_namespace_is_rooted_at_the_container(runtime, bundle, cid):
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.new_cgroup()
    bundle.config["linux"]["resources"]["memory"] = {"limit": 48 * 1024 * 1024}
    bundle.shell("grep memory /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    line, limit = proc.stdout.split()
    assert line.endswith(":memory:/"), proc.stdout
    assert int(limit) == 48 * 1024 * 1024


def test_default_spec_runs_a_container(runtime, bundle_template, workdir, cid):
    only_skiff(runtime)
    path = workdir / "spec-bundle"
    path.mkdir()
    proc = runtime("spec", "--bundle", str(path))
    assert proc.returncode == 0, proc.stderr
    again = runtime("spec", "--bundle", str(path))
    assert again.returncode != 0 and "exists" in again.stderr
    b = Bundle(path)
    assert b.config["ociVersion"] == "1.3.0"
    b.config["root"]["path"] = str(bundle_template / "rootfs")
    b.config["process"]["terminal"] = False
    b.config["linux"]["cgroupsPath"] = "/" + new_id("skiff-e2e")
    b.shell("echo $HOME; hostname")
    proc = runtime.run(b, cid)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["/root", "skiff"]


def test_features_describe_the_runtime(runtime):
    only_skiff(runtime)
    proc = runtime("features")
    assert proc.returncode == 0, proc.stderr
    f = json.loads(proc.stdout)
    assert f["ociVersionMax"] == "1.3.0"
    assert set(f["linux"]["namespaces"]) >= {"pid", "network", "user", "cgroup", "time"}


def test_unsupported_major_version_is_refused(runtime, bundle, cid):
    only_skiff(runtime)
    bundle.config["ociVersion"] = "2.0.0"
    bundle.save()
    proc = runtime.run(bundle, cid)
    assert proc.returncode != 0
    assert "ociVersion" in proc.stderr and "2.0.0" in proc.stderr


def test_version_flag(runtime):
    proc = runtime("--version")
    assert proc.returncode == 0 and "spec" in proc.stdout


def test_foreground_run_relays_its_own_terminal(runtime, bundle, cid):
    # runc's `run` without --console-socket allocates the terminal and relays it; `script`
    # gives the runtime a terminal of its own to relay from
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["args"] = ["sh"]
    bundle.save()
    runtime._track(bundle, cid)
    cmd = f"{runtime.path} --root {runtime.root} run --bundle {bundle.path} {cid}"
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                          input="tty\necho sum-$((40+2))\nexit 7\n",
                          capture_output=True, text=True, timeout=60)
    assert "/dev/pts/0" in proc.stdout, proc.stdout + proc.stderr
    assert "sum-42" in proc.stdout
    assert proc.returncode == 7
