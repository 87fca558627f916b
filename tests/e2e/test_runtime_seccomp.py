# SPDX-License-Identifier: Apache-2.0
"""linux.seccomp (runtime-spec config-linux.md#seccomp): what a profile lets the
container do, when the filter is loaded, and how a bad profile fails create.

Run against runc too (E2E_RUNTIME=/usr/sbin/runc); the few skiff-only checks
are marked, since runc installs the filter before the startContainer hooks."""

import errno
import os
import platform

import pytest

SIGSYS = 31

# Enough for busybox sh and its applets, the runtime's own steps between loading
# the filter and execve (with and without noNewPrivileges) and runc's Go init.
# mkdir and mkdirat are left out on purpose.
ALLOWED = """
    accept accept4 access alarm arch_prctl bind brk capget capset chdir chmod chown
    clock_getres clock_gettime clock_nanosleep clone clone3 close close_range connect
    dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_wait eventfd2
    execve execveat exit exit_group faccessat faccessat2 fchdir fchmod fchmodat fchown
    fchownat fcntl fdatasync flock fork fstat fstatfs fsync ftruncate futex getcwd
    getdents getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid
    getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit getrusage
    getsid getsockname getsockopt gettid gettimeofday getuid getxattr ioctl kill
    lgetxattr link linkat listen lseek lstat madvise membarrier mmap mprotect mremap
    munmap nanosleep newfstatat open openat openat2 pause pipe pipe2 poll ppoll prctl
    pread64 preadv prlimit64 pselect6 pwrite64 pwritev read readlink readlinkat readv
    recvfrom recvmmsg recvmsg rename renameat renameat2 restart_syscall rmdir
    rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
    rt_sigsuspend rt_sigtimedwait sched_getaffinity sched_yield select sendfile
    sendmmsg sendmsg sendto set_robust_list set_tid_address setgid setgroups setitimer
    setpgid setpriority setregid setresgid setresuid setreuid setrlimit setsid
    setsockopt setuid shutdown sigaltstack socket socketpair stat statfs statx symlink
    symlinkat sysinfo tgkill time timer_create timer_delete timer_settime tkill
    truncate umask uname unlink unlinkat utime utimensat utimes vfork wait4 waitid
    write writev
""".split()


# what engines list for the host, as Docker's default profile does
ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def set_seccomp(bundle, profile, no_new_privileges=None):
    bundle.config["linux"]["seccomp"] = profile
    if no_new_privileges is not None:
        bundle.config["process"]["noNewPrivileges"] = no_new_privileges
    bundle.save()


def deny_mkdir(errno_ret=errno.EPERM, **extra):
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret}
        ],
        **extra,
    }


def only_skiff(runtime, why):
    if not runtime.is_skiff:
        pytest.skip(why)


ALL_FLAGS = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
             "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]


@pytest.mark.parametrize("nnp", [True, False], ids=["no-new-privs", "privileged-load"])
@pytest.mark.parametrize("flags", [None, ALL_FLAGS], ids=["no-flags", "all-flags"])
def test_errno_rule_denies_mkdir_and_nothing_else(runtime, bundle, cid, nnp, flags):
    if flags:
        only_skiff(runtime, "runc 1.1 predates seccomp flags")
    extra = {"flags": flags} if flags else {}
    set_seccomp(bundle, deny_mkdir(**extra), no_new_privileges=nnp)
    bundle.shell("grep Seccomp: /proc/self/status; mkdir /tmp/x; echo mkdir=$?;"
                 " touch /tmp/y && rm /tmp/y && echo other-calls-work")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert "Operation not permitted" in proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0].split() == ["Seccomp:", "2"], proc.stdout
    assert "mkdir=1" in lines and "other-calls-work" in lines, proc.stdout


def test_filter_applies_after_create_and_start(runtime, bundle, cid):
    set_seccomp(bundle, deny_mkdir())
    bundle.shell("mkdir /tmp/x || echo denied")
    runtime.start_container(bundle, cid)
    runtime.wait_status(cid, "stopped")
    assert runtime.output_paths(cid)[0].read_text() == "denied\n"


def test_errno_rule_returns_its_errno(runtime, bundle, cid):
    set_seccomp(bundle, deny_mkdir(errno_ret=errno.EROFS))
    bundle.shell("mkdir /tmp/x")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 1
    assert "Read-only file system" in proc.stderr, proc.stderr


@pytest.mark.parametrize("nnp", [True, False], ids=["no-new-privs", "privileged-load"])
def test_allow_list_profile_runs_a_shell(runtime, bundle, cid, nnp):
    set_seccomp(bundle, {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EACCES,
        "architectures": ARCHITECTURES.get(platform.machine(), []),
        "syscalls": [{"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}],
    }, no_new_privileges=nnp)
    bundle.shell("echo hello from $(uname -s); mkdir /tmp/x")
    proc = runtime.run(bundle, cid)
    assert proc.stdout == "hello from Linux\n", proc.stderr
    assert proc.returncode == 1
    assert "Permission denied" in proc.stderr  # defaultErrnoRet: EACCES


def test_filter_applies_to_an_unprivileged_user(runtime, bundle, cid):
    # without noNewPrivileges the filter must be loaded while the process still
    # has CAP_SYS_ADMIN, before it becomes nobody with no capabilities
    bundle.config["process"]["user"] = {"uid": 65534, "gid": 65534}
    bundle.config["process"]["capabilities"] = {}
    set_seccomp(bundle, deny_mkdir(), no_new_privileges=False)
    bundle.shell("id -u; mkdir /tmp/x")
    proc = runtime.run(bundle, cid)
    assert proc.stdout == "65534\n", proc.stderr
    assert proc.returncode == 1
    assert "Operation not permitted" in proc.stderr


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_killing_action_ends_the_process_with_sigsys(runtime, bundle, cid, action):
    set_seccomp(bundle, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["uname"], "action": action}],
    })
    bundle.config["process"]["args"] = ["uname", "-s"]
    bundle.save()
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 128 + SIGSYS, (proc.returncode, proc.stderr)
    assert proc.stdout == ""


def test_log_action_lets_the_call_through(runtime, bundle, cid):
    set_seccomp(bundle, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_LOG"}],
    })
    bundle.shell("uname -s")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Linux\n"


# ifconfig opens an AF_INET datagram socket, nc an AF_INET stream socket and
# ip an AF_NETLINK socket; without a filter all three get that far.
NET_SCRIPT = ("ifconfig lo >/dev/null && echo ifconfig-ok;"
              " nc -w 1 127.0.0.1 9 </dev/null; ip link show lo >/dev/null && echo ip-ok")
AF_INET, AF_NETLINK, SOCK_STREAM = 2, 16, 1


def test_conditions_on_different_arguments_must_all_match(runtime, bundle, cid):
    set_seccomp(bundle, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
            "args": [
                {"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"},
                # the type without SOCK_CLOEXEC/SOCK_NONBLOCK
                {"index": 1, "value": 0xf, "valueTwo": SOCK_STREAM, "op": "SCMP_CMP_MASKED_EQ"},
            ],
        }],
    })
    bundle.shell(NET_SCRIPT)
    proc = runtime.run(bundle, cid)
    assert proc.stdout.split() == ["ifconfig-ok", "ip-ok"], proc.stderr
    assert "nc:" in proc.stderr and "Operation not permitted" in proc.stderr, proc.stderr


def test_conditions_on_one_argument_are_alternatives(runtime, bundle, cid):
    set_seccomp(bundle, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
            "args": [
                {"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": AF_NETLINK, "op": "SCMP_CMP_EQ"},
            ],
        }],
    })
    bundle.shell(NET_SCRIPT + "; echo done")
    proc = runtime.run(bundle, cid)
    assert proc.stdout.split() == ["done"], (proc.stdout, proc.stderr)
    assert proc.stderr.count("Operation not permitted") >= 3, proc.stderr


HOOK_KINDS = ["prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop"]


def test_filter_confines_neither_the_hooks_nor_the_runtime(runtime, bundle, cid, workdir):
    """Every hook makes a directory; only the container's own mkdir is denied."""
    shared = workdir / "hooks"
    shared.mkdir()
    # a hook's failure would fail the container; whether mkdir worked is seen below
    bundle.config["hooks"] = {
        kind: [{"path": "/bin/sh", "args": ["sh", "-c", f"mkdir {shared}/{kind}; exit 0"]}]
        for kind in HOOK_KINDS
    }
    # the same path inside the container, for the hooks that run there
    bundle.config["mounts"].append(
        {"destination": str(shared), "type": "bind", "source": str(shared),
         "options": ["rbind", "rw"]})
    set_seccomp(bundle, deny_mkdir(), no_new_privileges=True)
    bundle.shell(f"mkdir {shared}/container")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 1, proc.stderr
    assert "Operation not permitted" in proc.stderr
    made = {p.name for p in shared.iterdir()}
    assert "container" not in made
    # the runtime's own hooks and createContainer (in the container, before the
    # filter) run unconfined in both runtimes
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        assert kind in made, (kind, sorted(made))
    if runtime.is_skiff:
        # skiff: with noNewPrivileges the filter is loaded right before execve, after
        # the startContainer hooks; runc loads it before them
        assert "startContainer" in made, sorted(made)


@pytest.mark.parametrize("profile, where", [
    ({"defaultAction": "SCMP_ACT_FOO"},
     "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_FOO'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
     "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_VAX'"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                   {"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_SIMILAR"}]}]},
     "linux.seccomp.syscalls[1].args[0].op: unknown operator 'SCMP_CMP_SIMILAR'"),
], ids=["action", "architecture", "operator"])
def test_bad_profile_fails_create_and_leaves_no_state(runtime, bundle, cid, profile, where):
    set_seccomp(bundle, profile)
    bundle.shell("true")
    proc = runtime.create(bundle, cid)
    assert proc.returncode != 0
    if runtime.is_skiff:
        # skiff-only wording: the error names the field by its JSON path
        assert where in proc.stderr, proc.stderr
    assert not (runtime.root / cid).exists(), "state dir left after a failed create"
    assert runtime("state", cid).returncode != 0


def test_notify_without_an_agent_fails_create(runtime, bundle, cid):
    only_skiff(runtime, "runc supports seccomp agents; skiff refuses them clearly")
    set_seccomp(bundle, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": os.path.join(str(bundle.path), "agent.sock"),
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    })
    bundle.shell("true")
    proc = runtime.create(bundle, cid)
    assert proc.returncode != 0
    assert "linux.seccomp: SCMP_ACT_NOTIFY" in proc.stderr, proc.stderr
    assert not (runtime.root / cid).exists()


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_exec_is_confined_by_the_container_profile(runtime, bundle, cid, no_new_privileges):
    set_seccomp(bundle, deny_mkdir(), no_new_privileges=no_new_privileges)
    bundle.shell("sleep 60")
    proc = runtime.detached("run", bundle, cid, "--detach")
    assert proc.returncode == 0, proc.stderr
    runtime.wait_status(cid, "running")
    proc = runtime("exec", cid, "sh", "-c", "mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status")
    assert "Operation not permitted" in proc.stdout, proc.stdout + proc.stderr
    assert "Seccomp:\t2" in proc.stdout
