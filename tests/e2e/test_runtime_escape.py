# SPDX-License-Identifier: Apache-2.0
"""Escape attempts from a container made of `skiff-runtime spec`'s defaults: Docker's
capability set, masked and read-only paths, Docker's seccomp profile and a devices
cgroup that denies everything. Each attempt must fail and ordinary work must not.

The config.json always comes from skiff's `spec`, also when the tests drive runc
(E2E_RUNTIME=/usr/sbin/runc): runc 1.1.5 runs it unchanged, ociVersion 1.3.0 included,
which shows the tests ask only for what a sound runtime gives."""

import errno
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Bundle

# Docker's default set: CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6,
# SETUID 7, SETPCAP 8, NET_BIND_SERVICE 10, NET_RAW 13, SYS_CHROOT 18, MKNOD 27,
# AUDIT_WRITE 29, SETFCAP 31.
DOCKER_CAPS = f"{sum(1 << n for n in (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)):016x}"

DENIED = "Operation not permitted"


@pytest.fixture
def default_bundle(skiff, bundle_template, workdir):
    """default_bundle(script, mounts=()) -> a Bundle with skiff's default spec running script.

    Only what a bundle needs to run is changed: no terminal, the busybox rootfs, its own
    cgroup, the arguments, and any extra mounts.
    """
    count = 0

    def make(script, mounts=()):
        nonlocal count
        count += 1
        path = workdir / f"spec-{count}"
        path.mkdir()
        proc = subprocess.run([str(skiff), "spec", "--bundle", str(path)],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        bundle = Bundle(path)
        bundle.config["process"]["terminal"] = False
        bundle.config["root"]["path"] = str(bundle_template / "rootfs")
        bundle.config["mounts"].extend(mounts)
        bundle.new_cgroup()
        bundle.shell(script)
        return bundle

    return make


def values(stdout):
    """The key=value lines a script printed, as a dict."""
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def run_script(runtime, default_bundle, cid, script, **kwargs):
    proc = runtime.run(default_bundle(script, **kwargs), cid)
    assert proc.returncode == 0, proc.stderr
    return proc


# ---- what must still work ----

def test_ordinary_commands_work_with_dockers_capabilities(runtime, default_bundle, cid):
    script = ("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):'"
              " /proc/self/status | tr -d '\\t' | tr : =;"
              " ls / >/dev/null && echo ls=ok; ps >/dev/null && echo ps=ok;"
              " linux32 true && echo linux32=ok; linux64 true && echo linux64=ok;"
              " chroot / true && echo chroot=ok;"
              " echo data >/dev/shm/f && chown 65534:65534 /dev/shm/f && echo chown=ok")
    got = values(run_script(runtime, default_bundle, cid, script).stdout)
    assert got == {
        "CapInh": "0" * 16, "CapPrm": DOCKER_CAPS, "CapEff": DOCKER_CAPS,
        "CapBnd": DOCKER_CAPS, "CapAmb": "0" * 16, "NoNewPrivs": "1", "Seccomp": "2",
        "ls": "ok", "ps": "ok", "linux32": "ok", "linux64": "ok", "chroot": "ok",
        "chown": "ok",
    }


def test_loopback_answers_ping(runtime, default_bundle, cid):
    # runc (and crun) bring lo up in a new network namespace; ping needs CAP_NET_RAW
    proc = run_script(runtime, default_bundle, cid, "ping -c 1 -W 2 127.0.0.1")
    assert "1 packets received" in proc.stdout, proc.stdout + proc.stderr


# ---- mounts and namespaces ----

def test_mounting_is_denied(runtime, default_bundle, cid):
    script = ("mount -t tmpfs none /mnt; echo tmpfs=$?; mount -o bind /bin /mnt; echo bind=$?;"
              " mount -o remount,rw /; echo remount=$?; umount /proc; echo umount=$?;"
              " pivot_root /mnt /mnt; echo pivot_root=$?;"
              " echo mnt_mounts=$(grep -c ' /mnt ' /proc/self/mountinfo)")
    proc = run_script(runtime, default_bundle, cid, script)
    got = values(proc.stdout)
    assert got == {"tmpfs": "1", "bind": "1", "remount": "1", "umount": "1",
                   "pivot_root": "1", "mnt_mounts": "0"}, proc.stderr
    assert "umount: can't unmount /proc: " + DENIED in proc.stderr
    assert "pivot_root: (null): " + DENIED in proc.stderr


def test_namespaces_can_be_neither_created_nor_joined(runtime, default_bundle, cid):
    script = ("unshare -U true; echo user=$?; unshare -m true; echo mount=$?;"
              " unshare -n true; echo net=$?; unshare -p -f true; echo pid=$?;"
              " nsenter -t 1 -n true; echo setns=$?")
    proc = run_script(runtime, default_bundle, cid, script)
    assert values(proc.stdout) == {"user": "1", "mount": "1", "net": "1", "pid": "1",
                                   "setns": "1"}, proc.stderr
    for flag in ("0x10000000", "0x20000", "0x40000000", "0x20000000"):
        assert f"unshare({flag}): {DENIED}" in proc.stderr
    assert f"can't reassociate to namespace 'net': {DENIED}" in proc.stderr


# ---- the kernel ----

def test_kernel_modules_cannot_be_loaded_or_removed(runtime, default_bundle, cid):
    script = ("head -c 4096 /dev/zero >/dev/shm/escape.ko; insmod /dev/shm/escape.ko;"
              " echo insmod=$?; rmmod escape; echo rmmod=$?")
    proc = run_script(runtime, default_bundle, cid, script)
    assert values(proc.stdout) == {"insmod": "1", "rmmod": "1"}
    assert f"insmod: can't insert '/dev/shm/escape.ko': {DENIED}" in proc.stderr
    assert f"rmmod: can't unload module 'escape': {DENIED}" in proc.stderr


def test_kernel_control_files_refuse_writes(runtime, default_bundle, cid):
    # Harmless values, should a write get through: sysrq 'h' prints help, core_pattern gets
    # its own value. /proc/sysrq-trigger is absent without CONFIG_MAGIC_SYSRQ; then the write
    # fails for want of the file, and mountinfo shows the rest is read-only.
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    script = ("echo h >/proc/sysrq-trigger; echo sysrq=$?;"
              f" echo '{before.strip()}' >/proc/sys/kernel/core_pattern; echo core_pattern=$?;"
              " echo 1 >/proc/sys/vm/drop_caches; echo drop_caches=$?;"
              " touch /sys/escape; echo sys_create=$?;"
              " echo sys_ro=$(grep -cE '^([^ ]+ ){4}/sys ro[, ]' /proc/self/mountinfo);"
              " echo proc_sys_ro=$(grep -cE '^([^ ]+ ){4}/proc/sys ro[, ]' /proc/self/mountinfo)")
    proc = run_script(runtime, default_bundle, cid, script)
    got = values(proc.stdout)
    assert got["sysrq"] == got["core_pattern"] == got["drop_caches"] == got["sys_create"] == "1"
    assert got["sys_ro"] == got["proc_sys_ro"] == "1", proc.stdout
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/sys/devices/virtual/powercap", "/proc/scsi", "/proc/interrupts"]


def test_masked_paths_show_nothing(runtime, default_bundle, cid):
    present = [p for p in MASKED if os.path.exists(p)]
    assert present, "the host has none of the masked paths"
    script = "".join(f"if [ -d {p} ]; then echo {p}=$(ls -A {p} | wc -l);"
                     f" else echo {p}=$(head -c 64 {p} | wc -c); fi; " for p in present)
    got = values(run_script(runtime, default_bundle, cid, script).stdout)
    assert got == {p: "0" for p in present}


def test_clock_and_reboot_are_refused(runtime, default_bundle, cid):
    # busybox date reports the failure but exits 0
    script = "date -s '2000-01-01 00:00:00'; reboot -f; echo reboot=$?; echo alive=yes"
    proc = run_script(runtime, default_bundle, cid, script)
    assert f"date: can't set date: {DENIED}" in proc.stderr
    assert values(proc.stdout) == {"reboot": "1", "alive": "yes"}, proc.stderr


# ---- the host's files, processes and devices ----

def test_no_host_file_is_reachable_through_fds_or_proc_root(runtime, default_bundle, cid,
                                                            workdir):
    secret = workdir / "host-secret"
    secret.write_text("host only\n")
    # ls opens the directory it lists as fd 3; pid 1 (sh) holds pipes besides stdio
    script = (f"echo fds=$(ls /proc/self/fd); for f in /proc/1/fd/*; do readlink $f; done;"
              f" echo root=$(readlink /proc/1/root); cat /proc/1/root{secret}; echo via_root=$?;"
              f" cat {secret}; echo direct=$?")
    proc = run_script(runtime, default_bundle, cid, script)
    got = values(proc.stdout)
    assert got == {"fds": "0 1 2 3", "root": "/", "via_root": "1", "direct": "1"}, proc.stderr
    # the runtime was started with stdin from /dev/null and output into pipes
    targets = [line for line in proc.stdout.splitlines() if "=" not in line]
    assert targets and all(t == "/dev/null" or t.startswith("pipe:") for t in targets), targets
    assert "host only" not in proc.stdout


def test_process_cwd_cannot_name_a_runtime_fd(runtime, default_bundle, cid, workdir):
    # CVE-2024-21626: a directory fd of the runtime still open at chdir (a cgroup or state
    # directory) gives the container a working directory on the host
    secret = workdir / "host-secret"
    secret.write_text("host only\n")
    up = "../" * 16
    escaped = []
    for fd in range(3, 20):
        bundle = default_bundle(f"cat {up}{str(secret).lstrip('/')}")
        bundle.config["process"]["cwd"] = f"/proc/self/fd/{fd}"
        bundle.save()
        proc = runtime.run(bundle, f"{cid}-{fd}")
        if "host only" in proc.stdout:
            escaped.append(fd)
    assert escaped == [], f"process.cwd /proc/self/fd/N reached the host for N in {escaped}"


def test_no_host_process_is_visible(runtime, default_bundle, cid):
    # only builtins: while the shell expands the glob, it is the only process
    script = "set -- /proc/[0-9]*; echo \"pids=$*\"; read comm </proc/1/comm; echo init=$comm"
    got = values(run_script(runtime, default_bundle, cid, script).stdout)
    assert got == {"pids": "/proc/1", "init": "sh"}


def test_device_node_of_a_host_disk_cannot_be_read(runtime, default_bundle, cid,
                                                   bundle_template):
    dev = os.stat(bundle_template / "rootfs").st_dev
    if os.major(dev) == 0:
        pytest.skip("the rootfs is on a file system without a block device")
    # CAP_MKNOD is in the set: the devices cgroup stops either mknod or the open
    script = (f"mknod /dev/escape b {os.major(dev)} {os.minor(dev)}; echo mknod=$?;"
              " echo read=$(head -c 512 /dev/escape | wc -c)")
    proc = run_script(runtime, default_bundle, cid, script)
    got = values(proc.stdout)
    assert got["read"] == "0", proc.stderr
    assert f"/dev/escape: {DENIED}" in proc.stderr


# ---- the runtime's binary ----

def test_container_cannot_overwrite_running_programs(runtime, default_bundle, cid):
    script = ("echo init_exe=$(readlink /proc/1/exe); echo x >>/proc/1/exe; echo init=$?;"
              " cat </dev/null >/proc/self/exe; echo self=$?")
    proc = run_script(runtime, default_bundle, cid, script)
    assert values(proc.stdout) == {"init_exe": "/bin/busybox", "init": "1", "self": "1"}
    # busy text, or the read-only root the default spec asks for
    reasons = ("Text file busy", "Permission denied", "Read-only file system")
    lines = [line for line in proc.stderr.splitlines() if "can't create" in line]
    assert len(lines) == 2 and all(line.endswith(reasons) for line in lines), proc.stderr


def test_waiting_runtime_process_is_out_of_reach(runtime, default_bundle, cid, skiff, workdir):
    # Before start, the container's pid 1 is the runtime's own process, holding descriptors
    # of the host (runc: the exec fifo; skiff: also the state and cgroup directories). A
    # process exec'd into the created container must reach no host file through them, and
    # must not write or name the runtime's binary.
    secret = workdir / "host-secret"
    secret.write_text("host only\n")
    bundle = default_bundle("true")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    up = "../" * 16
    script = ("echo exe=$(readlink /proc/1/exe); echo x >>/proc/1/exe; echo write_exe=$?;"
              f" for f in /proc/1/fd/*; do cat $f/{up}{str(secret).lstrip('/')}; done;"
              " echo done=yes")
    proc = runtime("exec", cid, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    got = values(proc.stdout)
    assert got["write_exe"] == "1" and got["done"] == "yes", proc.stdout
    assert got["exe"] not in {os.path.realpath(runtime.path), os.path.realpath(skiff)}
    assert "host only" not in proc.stdout


def test_runtime_process_keeps_its_binarys_name(runtime, default_bundle, cid):
    # skiff runs from a sealed memfd copy of itself, which would name the process
    # "memfd:skiff" in ps and top and hide it from pgrep and killall
    if not runtime.is_skiff:
        pytest.skip("how the runtime names its own processes is its own")
    bundle = default_bundle("sleep 30")
    runtime._track(bundle, cid)
    proc = subprocess.Popen([runtime.path, "--root", str(runtime.root), "run", "--bundle",
                             str(bundle.path), cid], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = runtime("state", cid)
            if state.returncode == 0 and json.loads(state.stdout)["status"] == "running":
                break
            time.sleep(0.05)
        with open(f"/proc/{proc.pid}/comm") as f:
            assert f.read().strip() == os.path.basename(runtime.path)[:15]
    finally:
        runtime("kill", cid, "KILL")
        proc.wait(timeout=10)


# ---- syscalls busybox does not make ----

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NONE "/nonexistent-skiff"

/* Arguments the kernel itself would answer with something other than the filter. */
static const struct { const char *name; long nr, a[6]; } calls[] = {
	{"ptrace", SYS_ptrace, {PTRACE_ATTACH, 0x3fffffff}},
	{"process_vm_readv", SYS_process_vm_readv, {0, 0, 0, 0, 0, 1}},
	{"keyctl", SYS_keyctl, {KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING}},
	{"add_key", SYS_add_key, {(long)"user", (long)"skiff", (long)"x", 1,
				  KEY_SPEC_PROCESS_KEYRING}},
	{"request_key", SYS_request_key, {(long)"user", (long)"skiff-none", 0, 0}},
	{"personality_read_implies_exec", SYS_personality, {0x0400000}},
	{"personality_addr_no_randomize", SYS_personality, {0x0040000}},
	{"personality_query", SYS_personality, {0xffffffff}},
	{"personality_linux32", SYS_personality, {0x0008}},
	{"personality_linux", SYS_personality, {0}},
	{"clone3", SYS_clone3, {0, 0}},
	{"clone_newuser", SYS_clone, {CLONE_NEWUSER | CLONE_FS}},
	{"clone_sighand", SYS_clone, {CLONE_SIGHAND}},
	{"socket_vsock", SYS_socket, {AF_VSOCK, SOCK_STREAM, 0}},
	{"socket_alg", SYS_socket, {AF_ALG, SOCK_SEQPACKET, 0}},
	{"socket_unix", SYS_socket, {AF_UNIX, SOCK_STREAM, 0}},
	{"bpf", SYS_bpf, {0, 0, 0}},
	{"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0}},
	{"open_by_handle_at", SYS_open_by_handle_at, {-100, 0, 0}},
	{"kexec_load", SYS_kexec_load, {0, 0, 0, 0}},
	{"userfaultfd", SYS_userfaultfd, {0}},
	{"io_uring_setup", SYS_io_uring_setup, {1, 0}},
	{"swapon", SYS_swapon, {(long)NONE, 0}},
	{"chroot", SYS_chroot, {(long)NONE}},
};

int main(void)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const long *a = calls[i].a;
		long r = syscall(calls[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);

		printf("%s=%d\n", calls[i].name, r < 0 ? errno : 0);
	}
	return 0;
}
"""

PROBE_WANT = {
    "ptrace": errno.EPERM, "process_vm_readv": errno.EPERM, "keyctl": errno.EPERM,
    "add_key": errno.EPERM, "request_key": errno.EPERM,
    "personality_read_implies_exec": errno.EPERM, "personality_addr_no_randomize": errno.EPERM,
    "personality_query": 0, "personality_linux32": 0, "personality_linux": 0,
    # ENOSYS, so that glibc falls back to clone, whose flags the filter can see
    "clone3": errno.ENOSYS, "clone_newuser": errno.EPERM,
    # no namespace flag: let through to the kernel, which refuses CLONE_SIGHAND alone
    "clone_sighand": errno.EINVAL,
    "socket_vsock": errno.EPERM, "socket_alg": errno.EPERM, "socket_unix": 0,
    "bpf": errno.EPERM, "perf_event_open": errno.EPERM, "open_by_handle_at": errno.EPERM,
    "kexec_load": errno.EPERM, "userfaultfd": errno.EPERM, "io_uring_setup": errno.EPERM,
    "swapon": errno.EPERM,
    # allowed with CAP_SYS_CHROOT: the kernel looks the path up
    "chroot": errno.ENOENT,
}


@pytest.fixture(scope="session")
def probe_dir(session_dir):
    """A directory holding `probe`, a static program making the calls of PROBE_C."""
    d = session_dir / "probe"
    d.mkdir()
    (d / "probe.c").write_text(PROBE_C)
    try:
        proc = subprocess.run(["cc", "-static", "-O1", "-o", str(d / "probe"), str(d / "probe.c")],
                              capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("no C compiler to build the static probe")
    if proc.returncode != 0:
        pytest.skip(f"cannot build a static probe: {proc.stderr.strip()[-200:]}")
    return d


def test_syscalls_outside_busybox_are_filtered(runtime, default_bundle, cid, probe_dir):
    mount = {"destination": "/mnt", "type": "bind", "source": str(probe_dir),
             "options": ["rbind", "ro"]}
    proc = run_script(runtime, default_bundle, cid, "/mnt/probe", mounts=[mount])
    got = {name: int(value) for name, value in values(proc.stdout).items()}
    assert got == PROBE_WANT, {k: (errno.errorcode.get(v, v), errno.errorcode.get(PROBE_WANT[k]))
                               for k, v in got.items() if v != PROBE_WANT.get(k)}
