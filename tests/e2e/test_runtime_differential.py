# SPDX-License-Identifier: Apache-2.0
"""The same bundles run under runc and under the runtime being tested: exit codes and
stdout must be identical (stderr wording may differ)."""

import pytest

from conftest import RUNC, Runtime, new_id


def set_user(c):
    c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 65534]}


def set_caps(c):
    kinds = ("bounding", "effective", "permitted")
    c["process"]["capabilities"] = {kind: ["CAP_KILL"] for kind in kinds}


def set_env(c):
    c["process"]["env"] = ["PATH=/bin", "GREETING=hello world", "EMPTY="]


def set_rlimits(c):
    c["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 77, "hard": 99},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
    ]


def set_readonly(c):
    c["root"]["readonly"] = True


def set_hostname(c):
    c["hostname"] = "diff-host"


def set_cwd(c):
    c["process"]["cwd"] = "/tmp/work/dir"


def keep_defaults(c):
    pass


SPEC_MOUNTS = "/ /proc /dev /dev/pts /dev/shm /dev/mqueue /sys"

# (name, config change, shell commands run in order)
VARIANTS = [
    ("exit-zero", keep_defaults, ["echo ok"]),
    ("exit-code", keep_defaults, ["echo before", "exit 7"]),
    ("killed-by-signal", keep_defaults, ["echo before", "kill -9 $$"]),
    ("hostname", set_hostname, ["hostname", "uname -n"]),
    ("user", set_user, ["id", "id -u", "id -g", "id -G", "echo $HOME"]),
    ("readonly-root", set_readonly, [
        "touch /x 2>/dev/null", "echo touch=$?", "touch /tmp/y 2>/dev/null", "echo tmp=$?",
    ]),
    ("caps-drop", set_caps, [
        "grep ^Cap /proc/self/status", "mount -t tmpfs none /mnt 2>/dev/null", "echo mount=$?",
    ]),
    ("env", set_env, ["env | sort", "umask"]),
    ("cwd", set_cwd, ["pwd", "ls -ld . | cut -c1-10"]),
    ("rlimits", set_rlimits, ["ulimit -n", "ulimit -Hn", "ulimit -u", "ulimit -Hu"]),
    ("namespaces", keep_defaults, [
        "ls /proc/self/ns", "ls /sys/class/net", "cat /proc/self/uid_map", "echo $$",
    ]),
    ("mount-points", keep_defaults, [
        "cut -d' ' -f2 /proc/mounts | grep -v '^/sys/fs/cgroup/' | sort",
    ]),
    ("mount-types", keep_defaults, [
        f"for m in {SPEC_MOUNTS}; do grep \" $m \" /proc/mounts | cut -d' ' -f2,3; done",
    ]),
    ("devices", keep_defaults, ["ls /dev | sort", "ls -l /dev/null | cut -c1-10"]),
]


@pytest.fixture(scope="module")
def runc_path():
    if not RUNC.exists():
        pytest.skip(f"{RUNC} is not installed")
    return RUNC


@pytest.mark.parametrize("name,change,commands", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_same_result_as_runc(runtime, runc_path, workdir, bundle, name, change, commands):
    change(bundle.config)
    bundle.shell("; ".join(commands))
    (workdir / "runc").mkdir()
    reference = Runtime(runc_path, workdir / "runc")
    try:
        expected = reference.run(bundle, new_id("runc"))
    finally:
        reference.cleanup()
    bundle.new_cgroup()
    actual = runtime.run(bundle, new_id())
    assert expected.stdout, f"runc printed nothing: {expected.stderr}"
    assert actual.returncode == expected.returncode, actual.stderr
    assert actual.stdout == expected.stdout, actual.stderr
