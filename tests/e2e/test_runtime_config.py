# SPDX-License-Identifier: Apache-2.0
"""config.json fields applied to the container: sysctl, domainname, devices, process
details (umask, oomScoreAdj, noNewPrivileges, env, cwd) and more cgroup resources."""

import os
from pathlib import Path

import pytest

from conftest import cgroup_dirs


def run_shell(runtime, bundle, cid, script):
    bundle.shell(script)
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_sysctl_is_written_in_the_container_namespaces(runtime, bundle, cid):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"}
    out = run_shell(runtime, bundle, cid,
                    "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax")
    assert out.split() == ["1", "4096"]


def test_domainname_is_set(runtime, bundle, cid):
    if not runtime.is_skiff:
        pytest.skip("runc 1.1 ignores domainname")
    bundle.config["domainname"] = "example.test"
    assert run_shell(runtime, bundle, cid, "cat /proc/sys/kernel/domainname") == "example.test\n"


def test_linux_devices_are_created_with_mode_and_owner(runtime, bundle, cid):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
         "fileMode": 0o640, "uid": 7, "gid": 8},
    ]
    out = run_shell(runtime, bundle, cid, "stat -c '%t:%T %a %u %g %F' /dev/fuse")
    assert out.split() == ["a:e5", "640", "7", "8", "character", "special", "file"]


def test_default_devices_work_under_the_device_cgroup(runtime, bundle, cid):
    out = run_shell(runtime, bundle, cid,
                    "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; "
                    "ls -l /dev/ptmx /dev/fd | cut -c1")
    assert out.split() == ["4", "null-ok", "l", "l"]


def test_process_details_are_applied(runtime, bundle, cid):
    proc = bundle.config["process"]
    proc["user"]["umask"] = 0o027
    proc["oomScoreAdj"] = 123
    proc["noNewPrivileges"] = True
    proc["cwd"] = "/tmp"
    proc["env"] = ["PATH=/bin", "GREETING=hello world"]
    out = run_shell(runtime, bundle, cid,
                    "umask; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status; "
                    "pwd; echo $GREETING")
    assert out.splitlines() == ["0027", "123", "NoNewPrivs:\t1", "/tmp", "hello world"]


def test_tmpfs_mount_options_are_applied(runtime, bundle, cid):
    bundle.config["mounts"].append({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "mode=1777", "size=1m"]})
    out = run_shell(runtime, bundle, cid, "grep ' /scratch ' /proc/mounts; stat -c %a /scratch")
    line, mode = out.splitlines()
    opts = line.split()[3].split(",")
    assert {"nosuid", "nodev", "noexec", "size=1024k"} <= set(opts), line
    assert mode == "1777"


def test_readonly_bind_mount_refuses_writes(runtime, bundle, cid, workdir):
    src = workdir / "shared"
    src.mkdir()
    (src / "file").write_text("from the host\n")
    bundle.config["mounts"].append({
        "destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]})
    out = run_shell(runtime, bundle, cid, "cat /data/file; touch /data/new 2>&1 || echo refused")
    assert out.splitlines()[0] == "from the host"
    assert "refused" in out
    assert not (src / "new").exists()


def test_cpuset_limits_the_cpus(runtime, bundle, cid):
    path = bundle.new_cgroup()
    bundle.config["linux"]["resources"]["cpu"] = {"cpus": "0", "mems": "0"}
    out = run_shell(runtime, bundle, cid, "grep Cpus_allowed_list /proc/self/status")
    assert out.split() == ["Cpus_allowed_list:", "0"]
    assert not any(d.exists() for d in cgroup_dirs(path))


def test_hugetlb_limit_is_written(runtime, bundle, cid):
    if not Path("/sys/kernel/mm/hugepages/hugepages-2048kB").exists():
        pytest.skip("no 2 MB huge pages on this host")
    if not runtime.is_skiff:
        pytest.skip("runc 1.1 cannot place hugetlb limits on a hybrid cgroup host")
    path = bundle.new_cgroup()
    bundle.config["linux"]["resources"]["hugepageLimits"] = [
        {"pageSize": "2MB", "limit": 4 * 1024 * 1024}]
    bundle.shell("sleep 10")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    files = [d / name for d in cgroup_dirs(path)
             for name in ("hugetlb.2MB.max", "hugetlb.2MB.limit_in_bytes")]
    values = [f.read_text().strip() for f in files if f.exists()]
    assert values == [str(4 * 1024 * 1024)], files


def test_blkio_throttle_is_written(runtime, bundle, cid):
    path = bundle.new_cgroup()
    st = os.stat("/")
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    blkdev = f"/sys/dev/block/{major}:{minor}"
    if not Path(blkdev).exists():
        pytest.skip("the root file system is not on a block device")
    bundle.config["linux"]["resources"]["blockIO"] = {
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]}
    bundle.shell("sleep 10")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    files = [d / "blkio.throttle.read_bps_device" for d in cgroup_dirs(path)]
    values = [f.read_text().strip() for f in files if f.exists()]
    assert values == [f"{major}:{minor} 1048576"]


def test_scheduler_io_priority_and_affinity_are_applied(runtime, bundle, cid):
    if not runtime.is_skiff:
        pytest.skip("runc 1.1 predates process.scheduler, ioPriority and execCPUAffinity")
    proc = bundle.config["process"]
    proc["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    proc["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
    proc["execCPUAffinity"] = {"initial": "0", "final": "1"}
    out = run_shell(runtime, bundle, cid,
                    "grep -E '^policy' /proc/self/sched | tr -d ' '; "
                    "cut -d' ' -f19 /proc/self/stat; ionice; "
                    "grep Cpus_allowed_list /proc/self/status | cut -f2")
    policy, nice, ioprio, cpus = out.split("\n")[:4]
    assert policy == "policy:3"  # SCHED_BATCH
    assert nice == "5"
    assert ioprio.startswith("idle")
    assert cpus == "1"


def test_lsm_profile_without_the_lsm_is_a_clear_error(runtime, bundle, cid):
    if Path("/sys/module/apparmor/parameters/enabled").exists():
        pytest.skip("AppArmor is enabled on this host")
    bundle.config["process"]["apparmorProfile"] = "skiff-test-profile"
    bundle.shell("true")
    proc = runtime.run(bundle, cid)
    assert proc.returncode != 0
    if runtime.is_skiff:
        assert "apparmorProfile" in proc.stderr and "not enabled" in proc.stderr


def test_idmapped_bind_mount_shifts_owners(runtime, bundle, cid, workdir):
    if not runtime.is_skiff:
        pytest.skip("runc 1.1 predates idmapped mounts")
    src = workdir / "owned"
    src.mkdir()
    (src / "by-root").write_text("x")
    os.chown(src / "by-root", 0, 0)
    (src / "by-1234").write_text("y")
    os.chown(src / "by-1234", 1234, 1234)
    bundle.config["mounts"].append({
        "destination": "/idmapped", "type": "bind", "source": str(src),
        "options": ["rbind", "idmap"],
        # as in a user namespace: source id (containerID) shows as hostID
        "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 2000}],
        "gidMappings": [{"containerID": 0, "hostID": 6000, "size": 2000}]})
    out = run_shell(runtime, bundle, cid,
                    "stat -c '%n %u %g' /idmapped/by-root /idmapped/by-1234")
    assert out.splitlines() == ["/idmapped/by-root 5000 6000", "/idmapped/by-1234 6234 7234"]
    # the host's files keep their owners
    assert (src / "by-root").stat().st_uid == 0
