# SPDX-License-Identifier: Apache-2.0
"""Namespaces, root filesystem, identity and capabilities, seen from inside the container."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import new_id, wait_for_text

# CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29): mkbundle's default set.
DEFAULT_CAPS = "0000000020000420"
CAP_SYS_ADMIN = "CAP_SYS_ADMIN"


def run_shell(runtime, bundle, cid, script):
    bundle.shell(script)
    return runtime.run(bundle, cid)


def status_field(pid, name):
    """The first value of a field of /proc/PID/status, e.g. Uid."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def test_pid_namespace_shows_only_own_processes(runtime, bundle, cid):
    # The trailing echo keeps sh from exec'ing ps in its own place.
    script = "echo self=$$; ps -o pid,args; echo done"
    proc = run_shell(runtime, bundle, cid, script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "self=1" and lines[-1] == "done"
    rows = [line.split(None, 1) for line in lines[2:-1]]
    assert rows[0] == ["1", "sh -c " + script]
    assert len(rows) == 2, f"expected only sh and ps: {proc.stdout}"


def test_hostname_comes_from_config(runtime, bundle, cid):
    bundle.config["hostname"] = "e2e-host"
    proc = run_shell(runtime, bundle, cid, "hostname; cat /proc/sys/kernel/hostname")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["e2e-host", "e2e-host"]
    assert os.uname().nodename != "e2e-host"


def test_new_network_namespace_has_only_loopback(runtime, bundle, cid):
    proc = run_shell(runtime, bundle, cid, "ls /sys/class/net; readlink /proc/self/ns/net")
    assert proc.returncode == 0, proc.stderr
    names, netns = proc.stdout.split()[:-1], proc.stdout.split()[-1]
    assert names == ["lo"]
    assert netns != os.readlink("/proc/self/ns/net")


def test_readonly_root_refuses_writes(runtime, bundle, cid):
    bundle.config["root"]["readonly"] = True
    proc = run_shell(runtime, bundle, cid, "touch /x")
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr
    assert not (bundle.rootfs / "x").exists()


def test_writable_root_accepts_writes(runtime, bundle, cid):
    proc = run_shell(runtime, bundle, cid, "echo hello > /x && cat /x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello\n"
    assert (bundle.rootfs / "x").read_text() == "hello\n"


def masked_paths_present(bundle):
    """Masked paths this kernel has, with content to hide (a file or a non-empty dir)."""
    present = []
    for path in bundle.config["linux"]["maskedPaths"]:
        p = Path(path)
        if p.is_file() and p.read_bytes()[:1]:
            present.append((path, "file"))
        elif p.is_dir() and any(p.iterdir()):
            present.append((path, "dir"))
    return present


def test_masked_paths_show_nothing(runtime, bundle, cid):
    paths = masked_paths_present(bundle)
    if not paths:
        pytest.skip("none of the masked paths exists on this host")
    count = {"file": "cat {} | wc -c", "dir": "ls -A {} | wc -l"}
    script = "; ".join(f"echo {path}=$({count[kind].format(path)})" for path, kind in paths)
    proc = run_shell(runtime, bundle, cid, script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"{path}=0" for path, _ in paths]


def test_readonly_paths_refuse_writes(runtime, bundle, cid):
    proc = run_shell(runtime, bundle, cid, "echo x > /proc/sys/kernel/hostname")
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr


def test_user_group_and_additional_gids(runtime, bundle, cid):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10]}
    proc = run_shell(runtime, bundle, cid, "id -u; id -g; grep ^Groups: /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1000", "1000", "Groups:", "10"]


def test_rlimit_nofile(runtime, bundle, cid):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
    proc = run_shell(runtime, bundle, cid, "ulimit -n; ulimit -Hn")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["123", "456"]


def test_default_capabilities_are_the_configured_set(runtime, bundle, cid):
    proc = run_shell(runtime, bundle, cid, "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    values = [line.split()[1] for line in proc.stdout.splitlines()]
    assert values == [DEFAULT_CAPS] * 3


def test_missing_cap_sys_admin_makes_mount_fail(runtime, bundle, cid):
    proc = run_shell(runtime, bundle, cid, "id -u; mount -t tmpfs none /mnt")
    assert proc.stdout.strip() == "0", "the container should run as root"
    assert proc.returncode != 0
    assert "permission denied" in proc.stderr.lower()


def test_granted_cap_sys_admin_makes_mount_work(runtime, bundle, cid):
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind].append(CAP_SYS_ADMIN)
    proc = run_shell(runtime, bundle, cid, "mount -t tmpfs none /mnt && grep ' /mnt ' /proc/mounts")
    assert proc.returncode == 0, proc.stderr
    assert "tmpfs" in proc.stdout


def test_user_namespace_maps_root_to_host_range(runtime, bundle, cid):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["uidMappings"] = mapping
    bundle.config["linux"]["gidMappings"] = mapping
    bundle.shell("id -u; id -g; echo ready; exec sleep 600")
    state = runtime.start_container(bundle, cid)
    out = wait_for_text(runtime.output_paths(cid)[0], "ready")
    assert out.split()[:2] == ["0", "0"]
    assert status_field(state["pid"], "Uid") == "100000"
    assert status_field(state["pid"], "Gid") == "100000"


@pytest.fixture
def netns():
    """A named network namespace with lo up; deleted afterwards."""
    name = new_id("skiff-e2e")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield Path("/run/netns") / name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_joins_existing_network_namespace_by_path(runtime, bundle, cid, netns):
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = str(netns)
    script = "readlink /proc/self/ns/net; ls /sys/class/net; cat /sys/class/net/lo/operstate"
    proc = run_shell(runtime, bundle, cid, script)
    assert proc.returncode == 0, proc.stderr
    inode = os.stat(netns).st_ino
    assert proc.stdout.split() == [f"net:[{inode}]", "lo", "unknown"]
