# SPDX-License-Identifier: Apache-2.0
"""Conformance with the OCI runtime-spec (v1.3.0): one test per requirement (or small group)
of runtime.md, runtime-linux.md, config.md, config-linux.md and features*.md that applies to
a Linux runtime and is not already covered by another file in tests/e2e.

Each docstring restates the requirement and names the spec file and section. Known gaps are
marked strict xfail, so a fix shows up as XPASS and fails the run until the marker goes:
`skiff_gap` only when the runtime under test is skiff, `runc_gap` only under runc 1.1.x
(E2E_RUNTIME=/usr/sbin/runc), to keep the tests themselves honest against a second runtime.
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, Bundle, cgroup_dirs, new_id, wait_for, wait_for_text


def _runtime_under_test():
    choice = os.environ.get("E2E_RUNTIME", "skiff-runtime")
    if choice == "skiff-runtime":
        return Path(os.environ.get("SKIFF_BIN", REPO / "build" / "skiff-runtime"))
    return Path(choice)


def _runc_version(path):
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except OSError:
        return ""
    m = re.search(r"runc version (\d+\.\d+)", out)
    return m.group(1) if m else ""


RUNTIME_PATH = _runtime_under_test()
IS_SKIFF = "skiff" in RUNTIME_PATH.name  # as conftest's Runtime.is_skiff
IS_RUNC_1_1 = not IS_SKIFF and "runc" in RUNTIME_PATH.name and _runc_version(RUNTIME_PATH) == "1.1"


def skiff_gap(what):
    """A requirement skiff violates: strict xfail under skiff only."""
    return pytest.mark.xfail(IS_SKIFF, reason=f"skiff: {what}", strict=True)


def runc_gap(what):
    """A requirement runc 1.1 itself violates: strict xfail under runc 1.1 only."""
    return pytest.mark.xfail(IS_RUNC_1_1, reason=f"runc 1.1.5 deviates: {what}", strict=True)


@pytest.fixture(autouse=True)
def markers_follow_the_runtime(runtime):
    assert runtime.is_skiff == IS_SKIFF, "xfail markers would target the wrong runtime"


@pytest.fixture(scope="module")
def shared_rootfs_copy(bundle_template, session_dir):
    """One copy of the template's rootfs for the whole module: copying a rootfs per test
    (conftest's bundle) costs 0.4 s here. Tests that change files in the image use
    private_bundle instead."""
    path = session_dir / f"conformance-rootfs-{uuid.uuid4().hex[:8]}"
    subprocess.run(["cp", "-a", str(bundle_template / "rootfs"), str(path)], check=True)
    return path


@pytest.fixture
def make_light_bundle(bundle_template, shared_rootfs_copy, workdir):
    """make_light_bundle() -> a Bundle of its own (config.json, cgroup) whose root.path is
    the module's shared rootfs copy."""
    count = 0

    def make():
        nonlocal count
        count += 1
        path = workdir / f"light-bundle-{count}"
        path.mkdir()
        path.chmod(0o755)
        config = json.loads((bundle_template / "config.json").read_text())
        config["root"]["path"] = str(shared_rootfs_copy)
        (path / "config.json").write_text(json.dumps(config))
        b = Bundle(path)
        b.rootfs = shared_rootfs_copy
        b.new_cgroup()
        return b

    return make


@pytest.fixture
def bundle(make_light_bundle):
    return make_light_bundle()


@pytest.fixture
def private_bundle(make_bundle):
    """A bundle with a rootfs of its own, for tests that change files in the image."""
    return make_bundle()


HOOK_KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop"]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def run_shell(runtime, bundle, cid, script, ok=True):
    bundle.shell(script)
    proc = runtime.run(bundle, cid)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def proc_alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def ns_id(kind, pid="self"):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def state_or_none(runtime, cid):
    proc = runtime("state", cid)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def assert_container_gone(runtime, bundle, cid):
    assert runtime("state", cid).returncode != 0, "the container still exists"
    assert cgroup_dirs(bundle.cgroups_path) == [], "its cgroup is left behind"


class HookLog:
    """A log file in a directory that is also bind-mounted at the same path into the
    container, so hooks in either namespace (and the program) append to one file."""

    def __init__(self, bundle, workdir, name="hooks"):
        self.dir = workdir / name
        self.dir.mkdir(exist_ok=True)
        self.dir.chmod(0o777)
        self.path = self.dir / "log"
        self.path.touch()
        self.path.chmod(0o666)
        bundle.config["mounts"].append({"destination": str(self.dir), "type": "bind",
                                        "source": str(self.dir), "options": ["rbind", "rw"]})
        bundle.save()

    def hook(self, tag, script="", status=0, **extra):
        """A hook that appends '<tag> <state from stdin>' and then runs script."""
        body = (f'state=$(cat); printf "%s %s\\n" "{tag}" "$state" >> {self.path}; '
                f"{script} exit {status}")
        return {"path": "/bin/sh", "args": ["sh", "-c", body], **extra}

    def entries(self):
        out = []
        for line in self.path.read_text().splitlines():
            tag, _, rest = line.partition(" ")
            try:
                out.append((tag, json.loads(rest)))
            except ValueError:
                out.append((tag, rest))
        return out

    def tags(self):
        return [tag for tag, _ in self.entries()]


def all_hooks(log, failing=None):
    """Every hook kind logging its name; @failing's hook exits 1 (and is followed by a second
    hook of the same kind that must then not run)."""
    hooks = {}
    for kind in HOOK_KINDS:
        hooks[kind] = [log.hook(kind, status=1 if kind == failing else 0)]
        if kind == failing:
            hooks[kind].append(log.hook(kind + "-after-failure"))
    return hooks


# ---- runtime.md: operations ----


@pytest.mark.parametrize("op", ["state", "start", "kill", "delete"])
def test_operation_without_an_id_fails(runtime, op):
    """runtime.md "Query State", "Start", "Kill", "Delete": each operation MUST generate an
    error if it is not provided the container ID."""
    proc = runtime(op)
    assert proc.returncode != 0


def test_create_without_an_id_fails(runtime, bundle):
    """runtime.md "Create": create MUST generate an error if it is not given the container
    ID (the bundle path defaults to the current directory on runc's command line, so its
    absence is not testable here)."""
    proc = runtime("create", "--bundle", str(bundle.path))
    assert proc.returncode != 0
    assert not runtime.root.exists() or not any(runtime.root.iterdir())


@pytest.mark.parametrize("bad_id", ["a/b", "..", "x" * 1025 + "/"])
def test_create_with_an_invalid_id_fails_and_creates_nothing(runtime, bundle, bad_id):
    """runtime.md "Create": if the ID is not valid, the runtime MUST generate an error and a
    new container MUST NOT be created."""
    bundle.shell("echo ran")
    proc = runtime("create", "--bundle", str(bundle.path), bad_id, stdout=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert cgroup_dirs(bundle.cgroups_path) == []
    listing = runtime("list", "--format", "json")
    assert listing.returncode == 0 and not json.loads(listing.stdout or "[]")


def test_state_object_fields_and_annotations(runtime, bundle, cid):
    """runtime.md "State": ociVersion (SemVer), id, status, pid (REQUIRED on Linux when
    created or running: the container process), bundle (absolute path of the bundle) and
    the config's annotations; schema/state-schema.json types."""
    bundle.config["annotations"] = {"org.example.key": "value", "org.example.empty": ""}
    bundle.shell("trap 'exit 0' TERM; while :; do sleep 0.1; done")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    for status in ("created", "running"):
        state = runtime.state(cid)
        assert SEMVER.match(state["ociVersion"]), state["ociVersion"]
        assert state["id"] == cid
        assert state["status"] == status
        assert isinstance(state["pid"], int) and state["pid"] > 0
        # the pid is the container's process: its root is the bundle's rootfs
        assert os.path.samefile(f"/proc/{state['pid']}/root/bin/busybox",
                                bundle.rootfs / "bin" / "busybox")
        assert os.path.isabs(state["bundle"])
        assert os.path.samefile(state["bundle"], bundle.path)
        assert state.get("annotations") == bundle.config["annotations"]
        if status == "created":
            assert runtime("start", cid).returncode == 0
    assert runtime("kill", cid, "KILL").returncode == 0
    runtime.wait_status(cid, "stopped")
    state = runtime.state(cid)
    assert state["status"] == "stopped"
    assert state.get("pid", 0) >= 0


def test_state_while_creating(runtime, bundle, cid, workdir):
    """runtime.md "State": while create runs (status creating, lifecycle step 2) a state
    that the runtime reports MUST still name the container and its bundle (REQUIRED: the
    absolute path of the bundle); a runtime may instead not show the container yet."""
    out = workdir / "state-while-creating"
    query = f"{runtime.path} --root {runtime.root} state {cid}"
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
        "sh", "-c", f"cat >/dev/null; {query} > {out}.json 2>/dev/null; echo $? > {out}.rc"]}]}
    bundle.shell("true")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    if Path(f"{out}.rc").read_text().strip() != "0":
        return
    state = json.loads(Path(f"{out}.json").read_text())
    assert state["id"] == cid
    assert state["status"] == "creating"
    assert os.path.isabs(state["bundle"]) and os.path.samefile(state["bundle"], bundle.path)


def test_create_applies_everything_but_the_program(runtime, bundle, cid, workdir):
    """runtime.md "Create" and "Lifecycle" step 2: every config.json property except process
    MUST be applied by create (namespaces, hostname, mounts, sysctl, cgroup), while
    process.args MUST NOT be applied until start."""
    marker = workdir / "marker"
    bundle.config["hostname"] = "conformance"
    bundle.config["linux"]["sysctl"] = {"kernel.msgmax": "4321"}
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["size=1m"]})
    bundle.config["mounts"].append({"destination": str(workdir), "type": "bind",
                                    "source": str(workdir), "options": ["rbind"]})
    bundle.shell(f"touch {marker}")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    pid = runtime.state(cid)["pid"]
    host = subprocess.run(["nsenter", "-t", str(pid), "-u", "-i", "sh", "-c",
                           "hostname; cat /proc/sys/kernel/msgmax"],
                          capture_output=True, text=True, timeout=10)
    assert host.stdout.split() == ["conformance", "4321"], host.stderr
    mounts = [line.split()[4] for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
    assert "/scratch" in mounts and "/proc" in mounts
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    assert bundle.cgroups_path in cgroups
    for kind in ("net", "ipc", "uts", "mnt", "pid"):
        assert ns_id(kind, pid) != ns_id(kind), f"no new {kind} namespace at create"
    time.sleep(0.2)
    assert not marker.exists(), "process.args ran before start"
    assert runtime("start", cid).returncode == 0
    assert wait_for(marker.exists, 5), "process.args did not run after start"


def test_config_changes_after_create_have_no_effect(runtime, bundle, cid):
    """runtime.md "Lifecycle" step 2 and "Create": updates to config.json after create MUST
    NOT affect the container."""
    bundle.config["hostname"] = "before"
    bundle.shell("echo original $(hostname)")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    bundle.config["hostname"] = "after"
    bundle.shell("echo changed $(hostname)")
    assert runtime("start", cid).returncode == 0
    runtime.wait_status(cid, "stopped")
    assert runtime.output_paths(cid)[0].read_text() == "original before\n"


def test_start_of_a_running_or_stopped_container_fails_without_effect(runtime, bundle, cid):
    """runtime.md "Start": attempting to start a container that is not created MUST have no
    effect on the container and MUST generate an error."""
    bundle.shell("echo ran; trap 'exit 0' TERM; while :; do sleep 0.1; done")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    assert runtime("start", cid).returncode == 0
    out = runtime.output_paths(cid)[0]
    wait_for_text(out, "ran")
    pid = runtime.state(cid)["pid"]
    assert runtime("start", cid).returncode != 0
    state = runtime.state(cid)
    assert state["status"] == "running" and state["pid"] == pid
    assert runtime("kill", cid, "TERM").returncode == 0
    runtime.wait_status(cid, "stopped")
    before = runtime.state(cid)
    assert runtime("start", cid).returncode != 0
    time.sleep(0.2)
    assert runtime.state(cid) == before
    assert out.read_text() == "ran\n", "the program ran twice"


def test_start_without_process_fails(runtime, bundle, cid):
    """runtime.md "Start" and config.md "Process": process is REQUIRED when start is called;
    start MUST generate an error if process was not set (a runtime may already refuse the
    config at create)."""
    del bundle.config["process"]
    bundle.save()
    created = runtime.create(bundle, cid)
    if created.returncode == 0:
        assert runtime("start", cid).returncode != 0


def test_kill_of_a_created_container_sends_the_signal(runtime, bundle, cid, workdir):
    """runtime.md "Kill": kill MUST send the specified signal to the container process, also
    when the container is created (not yet started)."""
    marker = workdir / "marker"
    bundle.shell(f"touch {marker}")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    pid = runtime.state(cid)["pid"]
    assert runtime("kill", cid, "KILL").returncode == 0
    assert wait_for(lambda: not proc_alive(pid), 5)
    runtime.wait_status(cid, "stopped")
    assert not marker.exists()


def test_kill_delivers_the_named_signal(runtime, bundle, cid):
    """runtime.md "Kill": kill MUST send the specified signal to the container process (SIGUSR1
    given by name, SIGUSR2 by number)."""
    bundle.shell("trap 'echo got-usr1' USR1; trap 'echo got-usr2; exit 0' USR2; "
                 "echo ready; while :; do sleep 0.1; done")
    runtime.start_container(bundle, cid)
    out = runtime.output_paths(cid)[0]
    wait_for_text(out, "ready")
    assert runtime("kill", cid, "USR1").returncode == 0
    wait_for_text(out, "got-usr1")
    assert runtime("kill", cid, str(int(signal.SIGUSR2))).returncode == 0
    wait_for_text(out, "got-usr2")
    runtime.wait_status(cid, "stopped")


def test_kill_of_a_stopped_container_fails_without_effect(runtime, bundle, cid):
    """runtime.md "Kill": attempting to send a signal to a container that is neither created
    nor running MUST have no effect on the container and MUST generate an error."""
    bundle.shell("true")
    runtime.start_container(bundle, cid)
    runtime.wait_status(cid, "stopped")
    before = runtime.state(cid)
    assert runtime("kill", cid, "KILL").returncode != 0
    assert runtime.state(cid) == before


def _pause(runtime, cid):
    assert runtime("pause", cid).returncode == 0
    runtime.wait_status(cid, "paused")


@pytest.mark.parametrize("status", [
    pytest.param("created", marks=[
        runc_gap("delete of a created container without --force succeeds and kills it")]),
    "running",
    "paused",
])
def test_delete_of_a_container_that_is_not_stopped_fails_without_effect(
        runtime, bundle, cid, status):
    """runtime.md "Delete": attempting to delete a container that is not stopped MUST have
    no effect on the container and MUST generate an error (no --force)."""
    bundle.shell("trap 'exit 0' TERM; while :; do sleep 0.1; done")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    if status != "created":
        assert runtime("start", cid).returncode == 0
    if status == "paused":
        _pause(runtime, cid)
    pid = runtime.state(cid)["pid"]
    cgroups = cgroup_dirs(bundle.cgroups_path)
    assert runtime("delete", cid).returncode != 0
    assert runtime.state(cid)["status"] == status
    assert proc_alive(pid)
    assert cgroup_dirs(bundle.cgroups_path) == cgroups
    if status == "paused":
        assert runtime("resume", cid).returncode == 0


def test_delete_removes_only_what_create_made(runtime, make_light_bundle, cid, workdir):
    """runtime.md "Delete": deleting a container MUST delete the resources created during
    create, and resources associated with the container but not created by it MUST NOT be
    deleted (a cgroup the caller made and moved the process into, a bind-mounted host
    directory); the ID MAY then be used again."""
    bundle = make_light_bundle()
    foreign = Path("/sys/fs/cgroup/pids") / new_id("skiff-e2e-foreign")
    if not foreign.parent.is_dir():
        pytest.skip("no cgroup v1 pids hierarchy")
    data = workdir / "data"
    data.mkdir()
    (data / "keep").write_text("keep\n")
    bundle.config["mounts"].append({"destination": "/data", "type": "bind",
                                    "source": str(data), "options": ["rbind"]})
    bundle.shell("cat /data/keep")
    foreign.mkdir()
    try:
        created = runtime.create(bundle, cid)
        assert created.returncode == 0, created.stderr
        (foreign / "cgroup.procs").write_text(str(runtime.state(cid)["pid"]))
        assert runtime("start", cid).returncode == 0
        runtime.wait_status(cid, "stopped")
        assert runtime("delete", cid).returncode == 0
        assert_container_gone(runtime, bundle, cid)
        assert foreign.is_dir(), "delete removed a cgroup it did not create"
        assert (data / "keep").read_text() == "keep\n"
        again = make_light_bundle()
        again.shell("true")
        proc = runtime.run(again, cid)
        assert proc.returncode == 0, proc.stderr
    finally:
        for _ in range(50):
            try:
                foreign.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


# ---- runtime.md "Lifecycle" and config.md "POSIX-platform Hooks" ----


@pytest.mark.parametrize("failing", ["prestart", "createRuntime", "createContainer"])
def test_create_hook_failure_destroys_the_container(runtime, bundle, cid, workdir, failing):
    """runtime.md "Lifecycle" steps 3-5: if a prestart, createRuntime or createContainer hook
    fails, the runtime MUST generate an error, stop the container and continue at step 12
    (destroy, then step 13: poststop hooks); the program never runs and no later hook runs."""
    log = HookLog(bundle, workdir)
    bundle.config["hooks"] = all_hooks(log, failing)
    bundle.shell(f"echo program >> {log.path}")
    proc = runtime.create(bundle, cid)
    assert proc.returncode != 0
    if runtime("state", cid).returncode == 0:
        runtime("delete", "--force", cid)
        pytest.fail("the container survived a failed create")
    assert_container_gone(runtime, bundle, cid)
    tags = log.tags()
    order = HOOK_KINDS[:HOOK_KINDS.index(failing) + 1] + ["poststop"]
    assert tags == order, tags


@runc_gap("start returns 0 after a failed startContainer hook (the error only ends the "
          "container process)")
def test_start_container_hook_failure_stops_the_container(runtime, bundle, cid, workdir):
    """runtime.md "Lifecycle" step 7: if a startContainer hook fails, the runtime MUST
    generate an error, stop the container and continue at step 12; the program never runs,
    and poststop hooks run once the container is destroyed."""
    log = HookLog(bundle, workdir)
    bundle.config["hooks"] = all_hooks(log, "startContainer")
    bundle.shell(f"echo program >> {log.path}; sleep 600")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    started = runtime("start", cid)
    state = state_or_none(runtime, cid)
    if state is not None:
        assert wait_for(lambda: runtime.state(cid)["status"] == "stopped", 5), \
            "the container kept running"
        assert runtime("delete", cid).returncode == 0
    assert "program" not in log.tags()
    assert "startContainer-after-failure" not in log.tags()
    assert log.tags()[-1] == "poststop"
    assert_container_gone(runtime, bundle, cid)
    assert started.returncode != 0, "start did not report the failed hook"


@runc_gap("poststart hooks run during create, before the program (create fails instead)")
def test_poststart_hook_failure_stops_the_container(runtime, bundle, cid, workdir):
    """runtime.md "Lifecycle" step 9 (v1.3.0): if a poststart hook fails, the runtime MUST
    generate an error, stop the container and continue at step 12 (destroy; poststop hooks
    run); config.md "Poststart": poststart hooks belong to start, not create."""
    log = HookLog(bundle, workdir)
    bundle.config["hooks"] = all_hooks(log, "poststart")
    bundle.shell(f"echo program >> {log.path}; sleep 600")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    assert "poststart" not in log.tags(), "poststart ran during create"
    started = runtime("start", cid)
    assert started.returncode != 0, "start did not report the failed hook"
    state = state_or_none(runtime, cid)
    assert state is None or state["status"] == "stopped", state
    if state is not None:
        assert runtime("delete", cid).returncode == 0
    tags = log.tags()
    assert "poststart-after-failure" not in tags
    assert tags[-1] == "poststop", tags
    assert_container_gone(runtime, bundle, cid)


@runc_gap("poststart hooks run during create, before the program is executed")
def test_poststart_hooks_run_after_the_program_is_executed(runtime, bundle, cid, workdir):
    """config.md "Poststart": poststart hooks MUST be called after the user-specified process
    is executed but before the start operation returns (the container process then runs
    the program, not the runtime)."""
    log = HookLog(bundle, workdir)
    probe = ('pid=$(echo "$state" | sed -n \'s/.*"pid": *\\([0-9]*\\).*/\\1/p\'); '
             f'echo "exe $(readlink /proc/$pid/exe)" >> {log.path};')
    bundle.config["hooks"] = {"poststart": [log.hook("poststart", script=probe)]}
    bundle.shell("trap 'exit 0' TERM; while :; do sleep 0.1; done")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    assert runtime("start", cid).returncode == 0
    entries = log.entries()
    assert [tag for tag, _ in entries] == ["poststart", "exe"], entries
    assert entries[1][1].endswith("/bin/busybox"), entries[1][1]


@runc_gap("a failed poststop hook stops the remaining poststop hooks (delete logs an error)")
def test_poststop_hook_failure_is_only_a_warning(runtime, bundle, cid, workdir):
    """runtime.md "Lifecycle" step 13: if a poststop hook fails, the runtime MUST log a
    warning, but the remaining hooks and lifecycle continue as if it had succeeded."""
    log = HookLog(bundle, workdir)
    bundle.config["hooks"] = {"poststop": [log.hook("first", status=1), log.hook("second")]}
    bundle.shell("true")
    runtime.start_container(bundle, cid)
    runtime.wait_status(cid, "stopped")
    proc = runtime("delete", cid)
    assert log.tags() == ["first", "second"]
    assert proc.returncode == 0, proc.stderr
    assert_container_gone(runtime, bundle, cid)


@pytest.mark.parametrize("path", [
    "delete",
    "failed-create",
])
def test_poststop_hooks_run_after_the_container_is_destroyed(
        runtime, bundle, cid, workdir, path):
    """config.md "Poststop" and runtime.md "Lifecycle" steps 12-13: poststop hooks MUST be
    called after the container is deleted (its create-time resources, such as the cgroup,
    destroyed) but before the delete operation returns."""
    log = HookLog(bundle, workdir)
    rel = bundle.cgroups_path.lstrip("/")
    probe = (f'for d in /sys/fs/cgroup/*/{rel}; do [ -d "$d" ] && '
             f'echo "cgroup-left $d" >> {log.path}; done;')
    bundle.config["hooks"] = {"poststop": [log.hook("poststop", script=probe)]}
    if path == "failed-create":
        bundle.config["hooks"]["createRuntime"] = [log.hook("createRuntime", status=1)]
        bundle.shell("true")
        assert runtime.create(bundle, cid).returncode != 0
    else:
        bundle.shell("true")
        runtime.start_container(bundle, cid)
        runtime.wait_status(cid, "stopped")
        assert runtime("delete", cid).returncode == 0
    assert "poststop" in log.tags()
    assert "cgroup-left" not in log.tags(), log.path.read_text()


def test_hooks_of_one_kind_run_in_the_listed_order(runtime, bundle, cid, workdir):
    """config.md "POSIX-platform Hooks": hooks MUST be called in the listed order, each with
    the container state (including annotations) on stdin."""
    log = HookLog(bundle, workdir)
    bundle.config["annotations"] = {"org.example.hooks": "yes"}
    bundle.config["hooks"] = {kind: [log.hook(f"{kind}-{i}") for i in (1, 2, 3)]
                              for kind in HOOK_KINDS}
    bundle.shell("true")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    entries = log.entries()
    for kind in HOOK_KINDS:
        mine = [tag for tag, _ in entries if tag.startswith(kind + "-")]
        assert mine == [f"{kind}-{i}" for i in (1, 2, 3)], mine
    for tag, state in entries:
        assert state["id"] == cid, tag
        assert state.get("annotations") == {"org.example.hooks": "yes"}, tag


def test_hook_state_pid_is_seen_from_the_hook_namespace(runtime, bundle, cid, workdir):
    """runtime.md "State" (pid): for hooks executed in the runtime namespace the pid is as
    seen by the runtime; for hooks executed in the container namespace (createContainer,
    startContainer) it is as seen by the container (1 in a new pid namespace)."""
    log = HookLog(bundle, workdir)
    bundle.config["hooks"] = {kind: [log.hook(kind)] for kind in HOOK_KINDS
                              if kind != "poststop"}
    bundle.shell("trap 'exit 0' TERM; while :; do sleep 0.1; done")
    runtime.start_container(bundle, cid)
    host_pid = runtime.state(cid)["pid"]
    pids = {tag: state["pid"] for tag, state in log.entries()}
    assert pids["prestart"] == pids["createRuntime"] == host_pid
    if runtime.is_skiff:
        assert pids["poststart"] == host_pid  # runc 1.1 runs poststart before the program
    assert pids["createContainer"] == 1
    assert pids["startContainer"] == 1


@pytest.mark.parametrize("kind", [
    "prestart", "createRuntime",
    "createContainer",
    "poststart", "poststop",
])
def test_hook_path_resolves_in_the_runtime_namespace(runtime, bundle, cid, workdir, kind):
    """config.md "POSIX-platform Hooks": the path of prestart, createRuntime, createContainer,
    poststart and poststop hooks MUST resolve in the runtime namespace (here a script only
    the host has); "CreateContainer Hooks": they are called before pivot_root."""
    log = HookLog(bundle, workdir)
    hostonly = workdir / "host-only"
    hostonly.mkdir()
    script = hostonly / "hook"
    script.write_text(f"#!/bin/sh\necho {kind} >> {log.path}\n")
    script.chmod(0o755)
    bundle.config["hooks"] = {kind: [{"path": str(script)}]}
    bundle.shell("true")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert log.tags() == [kind]


def test_start_container_hook_path_resolves_in_the_container(runtime, private_bundle, cid,
                                                              workdir):
    """config.md "StartContainer Hooks": the path MUST resolve in the container namespace and
    the hook MUST be executed in the container namespace (its mount, uts and pid
    namespaces), before the program."""
    bundle = private_bundle
    log = HookLog(bundle, workdir)
    hook = bundle.rootfs / "in-container-hook"
    hook.write_text("#!/bin/sh\n"
                    f"echo hook $(hostname) $(readlink /proc/self/ns/mnt) "
                    f"$(readlink /proc/self/ns/pid) >> {log.path}\n")
    hook.chmod(0o755)
    bundle.config["hostname"] = "inside"
    bundle.config["hooks"] = {"startContainer": [{"path": "/in-container-hook"}]}
    bundle.shell(f"echo program $(hostname) $(readlink /proc/self/ns/mnt) "
                 f"$(readlink /proc/self/ns/pid) >> {log.path}")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    hook_line, program_line = log.path.read_text().splitlines()
    assert hook_line.split()[0] == "hook" and program_line.split()[0] == "program"
    assert hook_line.split()[1:] == program_line.split()[1:]


def test_hooks_run_in_the_namespaces_the_spec_names(runtime, bundle, cid, workdir):
    """config.md "POSIX-platform Hooks": prestart, createRuntime, poststart and poststop hooks
    MUST be executed in the runtime namespace; createContainer and startContainer hooks in
    the container namespace."""
    log = HookLog(bundle, workdir)
    kinds = "mnt net uts ipc"
    probe = f"for k in {kinds}; do printf ' %s' $(readlink /proc/self/ns/$k); done"
    bundle.config["hooks"] = {
        kind: [{"path": "/bin/sh",
                "args": ["sh", "-c", f"cat >/dev/null; echo {kind}$({probe}) >> {log.path}"]}]
        for kind in HOOK_KINDS}
    bundle.shell(f"echo program$({probe}) >> {log.path}")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    seen = {line.split()[0]: line.split()[1:] for line in log.path.read_text().splitlines()}
    host = [ns_id(k) for k in ("mnt", "net", "uts", "ipc")]
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        assert seen[kind] == host, kind
    for kind in ("createContainer", "startContainer"):
        assert seen[kind] == seen["program"], kind
    assert seen["program"] != host


def test_hook_timeout_aborts_the_hook_and_fails_create(runtime, bundle, cid, workdir):
    """config.md "POSIX-platform Hooks" (timeout) and runtime.md "Lifecycle" step 4: a hook
    that outlives its timeout (seconds) is aborted, which is a hook failure: create fails
    and the container is destroyed."""
    log = HookLog(bundle, workdir)
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo started >> {log.path}; exec sleep 30"],
         "timeout": 1}]}
    bundle.shell("true")
    began = time.monotonic()
    proc = runtime.create(bundle, cid)
    took = time.monotonic() - began
    assert proc.returncode != 0
    assert took < 15, f"the hook was not aborted after its timeout ({took:.1f} s)"
    assert log.path.read_text() == "started\n"
    assert_container_gone(runtime, bundle, cid)


def test_hook_gets_exactly_its_args_and_env(runtime, bundle, cid, workdir):
    """config.md "POSIX-platform Hooks": args have execv's argv semantics (args[0] is argv[0])
    and env has environ semantics: the hook's environment is exactly env."""
    log = HookLog(bundle, workdir)
    script = (f"/bin/cat >/dev/null; /usr/bin/tr '\\0' '\\n' < /proc/$$/cmdline | "
              f"/usr/bin/head -1 > {log.path}; "
              f"/usr/bin/tr '\\0' '\\n' < /proc/$$/environ >> {log.path}")
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sh",
                                            "args": ["custom-argv0", "-c", script],
                                            "env": ["A=1", "B=two words"]}]}
    bundle.shell("true")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert log.path.read_text().splitlines() == ["custom-argv0", "A=1", "B=two words"]


# ---- config.md ----


def test_root_path_relative_to_the_bundle(runtime, bundle, cid):
    """config.md "Root": root.path is either an absolute path (as in every light bundle of
    this file) or a path relative to the bundle (resolved against the bundle, not the
    runtime's working directory)."""
    bundle.config["root"]["path"] = os.path.relpath(bundle.rootfs, bundle.path)
    assert not os.path.isabs(bundle.config["root"]["path"])
    proc = run_shell(runtime, bundle, cid, "cat /etc/hostname")
    assert proc.stdout == "skiff\n"


def test_missing_root_directory_fails_create(runtime, bundle, cid):
    """config.md "Root": a directory MUST exist at root.path; runtime.md "Lifecycle" step 2:
    if the environment cannot be created the runtime MUST generate an error."""
    bundle.config["root"]["path"] = "no-such-rootfs"
    proc = run_shell(runtime, bundle, cid, "true", ok=False)
    assert proc.returncode != 0
    assert_container_gone(runtime, bundle, cid)


def test_mounts_are_applied_in_the_listed_order(runtime, bundle, cid):
    """config.md "Mounts": the runtime MUST mount entries in the listed order (a later mount
    on the same or a parent destination covers an earlier one)."""
    tmpfs = {"type": "tmpfs", "source": "tmpfs"}
    bundle.config["mounts"] += [
        {"destination": "/stack", **tmpfs, "options": ["size=1m"]},
        {"destination": "/stack", **tmpfs, "options": ["size=2m"]},
        {"destination": "/outer/inner", **tmpfs},
        {"destination": "/outer", **tmpfs},
        {"destination": "/first", **tmpfs},
        {"destination": "/first/second", **tmpfs},
    ]
    proc = run_shell(runtime, bundle, cid,
                     "grep -E ' /(stack|outer|first)' /proc/self/mountinfo | cut -d' ' -f5; "
                     "echo blocks=$(stat -f -c %b /stack); ls -A /outer | wc -l; "
                     "ls -d /first/second")
    lines = proc.stdout.split()
    assert lines[:6] == ["/stack", "/stack", "/outer/inner", "/outer", "/first",
                         "/first/second"], lines
    assert lines[6] == "blocks=512", "the later /stack mount is not on top"
    assert lines[7] == "0", "/outer was mounted before /outer/inner"
    assert lines[8] == "/first/second"


def test_relative_mount_destination_is_relative_to_root(runtime, bundle, cid):
    """config.md "Mounts" (destination, Linux): it MAY be a relative path (deprecated), in
    which case it MUST be interpreted as relative to "/"."""
    bundle.config["mounts"].append({"destination": "relative-tmp", "type": "tmpfs",
                                    "source": "tmpfs"})
    proc = run_shell(runtime, bundle, cid, "grep -c ' /relative-tmp tmpfs ' /proc/mounts")
    assert proc.stdout == "1\n"


def test_bind_mount_source_relative_to_the_bundle(runtime, bundle, cid):
    """config.md "Mounts" (source): path values for bind mounts are either absolute or
    relative to the bundle."""
    (bundle.path / "shared").mkdir()
    (bundle.path / "shared" / "file").write_text("from the bundle\n")
    bundle.config["mounts"].append({"destination": "/shared", "type": "bind",
                                    "source": "shared", "options": ["rbind", "ro"]})
    proc = run_shell(runtime, bundle, cid, "cat /shared/file")
    assert proc.stdout == "from the bundle\n"


@runc_gap("the idmap option (runtime-spec 1.2) is unknown to it: the bind mount is made "
          "without a mapping")
def test_idmap_without_mappings_or_user_namespace_fails(runtime, bundle, cid, workdir):
    """config.md "Linux mount options" (idmap): if there are no uidMappings and gidMappings
    on the mount and the container does not use a user namespace, an error MUST be
    returned."""
    src = workdir / "idmap-src"
    src.mkdir()
    bundle.config["mounts"].append({"destination": "/idmapped", "type": "bind",
                                    "source": str(src), "options": ["rbind", "idmap"]})
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert_container_gone(runtime, bundle, cid)


# config.md "Linux mount options": the MUST and SHOULD options a fresh tmpfs can take
# (bind, rbind, remount and idmap need other set-ups; mand, nomand, tmpcopyup are MAY),
# with what each must show among the mount's own options in /proc/self/mountinfo
SPEC_MOUNT_OPTIONS = {
    "async": (), "atime": (), "defaults": (), "dev": (), "diratime": (), "dirsync": (),
    "exec": (), "iversion": (), "lazytime": (), "loud": (), "noiversion": (),
    "nolazytime": (), "norelatime": (), "nostrictatime": (), "private": (), "rdev": (),
    "rdiratime": (), "relatime": ("relatime",), "rexec": (), "rnorelatime": (),
    "rprivate": (), "rrelatime": ("relatime",), "rrw": ("rw",), "rslave": (), "rsuid": (),
    "rsymfollow": (), "rw": ("rw",), "silent": (), "slave": (), "suid": (),
    "symfollow": (), "sync": (), "ratime": (),
    "noatime": ("noatime",), "rnoatime": ("noatime",),
    "nodev": ("nodev",), "nodiratime": ("nodiratime",), "rnodiratime": ("nodiratime",),
    "noexec": ("noexec",), "rnoexec": ("noexec",), "nosuid": ("nosuid",),
    "rnosuid": ("nosuid",), "nosymfollow": ("nosymfollow",),
    "rnosymfollow": ("nosymfollow",), "ro": ("ro",), "rro": ("ro",),
    "strictatime": ("!relatime", "!noatime"), "rstrictatime": ("!relatime", "!noatime"),
    "rnostrictatime": (), "shared": ("shared:",), "rshared": ("shared:",),
    "unbindable": ("unbindable",), "runbindable": ("unbindable",),
}
RUNC_RECURSIVE = "recursive (mount_setattr) options are applied to bind mounts only"
MOUNT_OPTION_GAPS = {
    "ratime": [],
    "rnoatime": [runc_gap(RUNC_RECURSIVE)],
    "rstrictatime": [runc_gap(RUNC_RECURSIVE)],
    "rnostrictatime": [],
    "defaults": [runc_gap("'defaults' is passed to mount(2) as data, which tmpfs refuses")],
    **{o: [runc_gap(RUNC_RECURSIVE)]
       for o in ("rro", "rnoexec", "rnosuid", "rnodiratime", "rnosymfollow")},
}


@pytest.mark.parametrize("option", [
    pytest.param(o, marks=MOUNT_OPTION_GAPS.get(o, [])) for o in SPEC_MOUNT_OPTIONS])
def test_spec_mount_option_is_supported(runtime, bundle, cid, option):
    """config.md "Linux mount options": runtimes MUST (or SHOULD, for the recursive r*
    options, nosymfollow and symfollow) implement each option as mount(8) and
    mount_setattr(2) define it."""
    bundle.config["mounts"].append({"destination": "/opt-under-test", "type": "tmpfs",
                                    "source": "tmpfs", "options": [option]})
    proc = run_shell(runtime, bundle, cid, "grep ' /opt-under-test ' /proc/self/mountinfo")
    fields = proc.stdout.split()
    shown = set(fields[5].split(",")) | {f.split(":")[0] + ":" for f in fields[6:]
                                         if ":" in f} | set(fields[6:fields.index("-")])
    for want in SPEC_MOUNT_OPTIONS[option]:
        if want.startswith("!"):
            assert want[1:] not in shown, (option, fields)
        else:
            assert want in shown, (option, fields)


def test_process_args0_is_looked_up_in_the_process_path(runtime, private_bundle, cid):
    """config.md "Process" (args): args[0] has execvp's file semantics, searched in the PATH of
    process.env, and is passed unchanged as argv[0]."""
    bundle = private_bundle
    tools = bundle.rootfs / "opt" / "tools"
    tools.mkdir(parents=True)
    (tools / "only-here").write_text("#!/bin/busybox sh\necho found in opt\n")
    (tools / "only-here").chmod(0o755)
    os.symlink("/bin/busybox", tools / "ash")
    bundle.config["process"]["env"] = ["PATH=/opt/tools"]
    bundle.config["process"]["args"] = ["only-here"]
    bundle.save()
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "found in opt\n"
    bundle.new_cgroup()
    bundle.config["process"]["args"] = ["ash", "-c", "echo $0"]
    bundle.save()
    proc = runtime.run(bundle, new_id())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ash\n"


def test_inheritable_and_ambient_capabilities(runtime, bundle, cid):
    """config.md "Linux Process" (capabilities): the effective, bounding, inheritable,
    permitted and ambient sets are kept as listed (ambient ones reach a non-root program)."""
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]  # bits 5 and 10
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {
        kind: caps for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    proc = run_shell(runtime, bundle, cid, "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status")
    values = dict(line.split() for line in proc.stdout.splitlines())
    assert values == {f"Cap{k}:": "0000000000000420" for k in ("Inh", "Prm", "Eff", "Bnd", "Amb")}


def test_unknown_capability_is_a_warning_not_an_error(runtime, bundle, cid):
    """config.md "Linux Process" (capabilities, since v1.1.0): a value which cannot be mapped
    to a kernel interface MUST be logged as a warning and runtimes SHOULD NOT fail; a
    warning does not change the flow (runtime.md "Warnings"). Note: runtime-tools'
    process_capabilities_fail still expects an error (v1.0 wording)."""
    bundle.config["process"]["capabilities"]["bounding"].append("CAP_NO_SUCH_THING")
    proc = run_shell(runtime, bundle, cid, "grep ^CapBnd /proc/self/status", ok=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["CapBnd:", "0000000020000420"]


def test_unknown_rlimit_type_fails(runtime, bundle, cid):
    """config.md "POSIX process" (rlimits): the runtime MUST generate an error for any type
    which cannot be mapped to a kernel interface."""
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NO_SUCH", "soft": 1, "hard": 1}]
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert_container_gone(runtime, bundle, cid)


@runc_gap("duplicated rlimits entries are applied one after the other, without an error")
def test_duplicated_rlimit_type_fails(runtime, bundle, cid):
    """config.md "POSIX process" (rlimits): if rlimits contains duplicated entries with the
    same type, the runtime MUST generate an error."""
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 40, "hard": 50},
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
    ]
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert_container_gone(runtime, bundle, cid)


def test_oom_score_adj_unset_is_not_changed(runtime, bundle, cid):
    """config.md "Linux Process" (oomScoreAdj): if oomScoreAdj is not set, the runtime MUST
    NOT change the value of oom_score_adj (the program keeps its caller's)."""
    bundle.config["process"].pop("oomScoreAdj", None)
    bundle.shell("cat /proc/self/oom_score_adj")
    runtime._track(bundle, cid)
    proc = subprocess.run(
        ["sh", "-c", 'echo 97 > /proc/self/oom_score_adj && exec "$@"', "sh", runtime.path,
         "--root", str(runtime.root), "run", "--bundle", str(bundle.path), cid],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "97\n"


def test_unknown_properties_are_ignored(runtime, bundle, cid):
    """config.md "Extensibility": runtimes MAY log unknown properties but MUST otherwise
    ignore them, without generating errors."""
    bundle.config["org.example.unknown"] = {"nested": [1, 2]}
    bundle.config["process"]["orgExampleUnknown"] = True
    bundle.config["linux"]["orgExampleUnknown"] = "x"
    bundle.config["mounts"][0]["orgExampleUnknown"] = 1
    proc = run_shell(runtime, bundle, cid, "echo ok")
    assert proc.stdout == "ok\n"


# ---- config-linux.md ----


def test_namespace_not_listed_is_inherited(runtime, bundle, cid):
    """config-linux.md "Namespaces": if a namespace type is not specified, the container MUST
    inherit the runtime namespace of that type."""
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"]
        if ns["type"] not in ("network", "ipc", "uts")]
    bundle.config.pop("hostname", None)
    proc = run_shell(runtime, bundle, cid,
                     "for k in net ipc uts; do readlink /proc/self/ns/$k; done")
    assert proc.stdout.split() == [ns_id(k) for k in ("net", "ipc", "uts")]


def test_listed_namespace_without_path_is_new(runtime, bundle, cid):
    """config-linux.md "Namespaces": if path is not specified, the runtime MUST create a new
    container namespace of that type."""
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
    proc = run_shell(runtime, bundle, cid,
                     " ".join(["for k in"] + kinds + ["; do readlink /proc/self/ns/$k; done"]))
    seen = proc.stdout.split()
    for kind, value in zip(kinds, seen):
        assert value != ns_id(kind), f"{kind} namespace is the runtime's"


def test_namespace_path_of_another_type_fails(runtime, bundle, cid):
    """config-linux.md "Namespaces": the runtime MUST generate an error if path is not
    associated with a namespace of type type."""
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = f"/proc/{os.getpid()}/ns/uts"
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert_container_gone(runtime, bundle, cid)


def test_namespace_listed_twice_fails(runtime, bundle, cid):
    """config-linux.md "Namespaces": if namespaces contains duplicated namespaces with the same
    type, the runtime MUST generate an error."""
    bundle.config["linux"]["namespaces"].append({"type": "ipc"})
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert_container_gone(runtime, bundle, cid)


def test_default_devices_are_supplied(runtime, bundle, cid):
    """config-linux.md "Default Devices": the runtime MUST supply /dev/null, zero, full, random,
    urandom, tty, and /dev/ptmx as a bind mount or symlink of /dev/pts/ptmx."""
    devices = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8",
               "urandom": "1:9", "tty": "5:0"}
    script = "; ".join(f"echo {name} $(stat -c '%F %t %T' /dev/{name})" for name in devices)
    script += "; echo ptmx $(stat -L -c '%t %T' /dev/ptmx) $(stat -L -c '%t %T' /dev/pts/ptmx)"
    script += "; echo x > /dev/full 2>/dev/null || echo full-refuses"
    proc = run_shell(runtime, bundle, cid, script)
    got = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()}
    for name, majmin in devices.items():
        major, minor = majmin.split(":")
        assert got[name] == ["character", "special", "file", f"{int(major):x}",
                             f"{int(minor):x}"], name
    ptmx = got["ptmx"]
    assert ptmx[:2] == ptmx[2:] == ["5", "2"], ptmx
    assert "full-refuses" in got


def test_console_is_the_terminal(runtime, bundle, cid):
    """config-linux.md "Default Devices": /dev/console is set up, when process.terminal is
    true, by bind mounting the pseudoterminal pty to /dev/console."""
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["args"] = [
        "sh", "-c", "echo console=$(stat -L -c %t:%T /dev/console) tty=$(stat -L -c %t:%T $(tty))"]
    bundle.save()
    runtime._track(bundle, cid)
    cmd = f"{runtime.path} --root {runtime.root} run --bundle {bundle.path} {cid}"
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    m = re.search(r"console=(\S+) tty=(\S+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert m.group(1) == m.group(2)


def test_dev_symbolic_links(runtime, bundle, cid):
    """runtime-linux.md "Dev symbolic links": runtimes MUST create /dev/fd -> /proc/self/fd,
    /dev/stdin -> /proc/self/fd/0, /dev/stdout -> /proc/self/fd/1, /dev/stderr ->
    /proc/self/fd/2."""
    proc = run_shell(runtime, bundle, cid,
                     "for l in fd stdin stdout stderr; do readlink /dev/$l; done")
    assert proc.stdout.split() == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                                   "/proc/self/fd/2"]


def test_devices_of_every_type_are_created(runtime, private_bundle, cid):
    """config-linux.md "Devices": each linux.devices entry MUST be available in the container:
    types c, b, u and p, at any path (also outside /dev)."""
    bundle = private_bundle
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/char-null", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/block-loop", "type": "b", "major": 7, "minor": 0},
        {"path": "/dev/unbuffered-zero", "type": "u", "major": 1, "minor": 5},
        {"path": "/dev/a-fifo", "type": "p"},
        {"path": "/outside-dev/null", "type": "c", "major": 1, "minor": 3},
    ]
    names = [d["path"] for d in bundle.config["linux"]["devices"]]
    proc = run_shell(runtime, bundle, cid,
                     "; ".join(f"stat -c '%F %t %T' {n}" for n in names))
    assert proc.stdout.splitlines() == [
        "character special file 1 3", "block special file 7 0",
        "character special file 1 5", "fifo 0 0", "character special file 1 3"]


@runc_gap("a file already at a linux.devices path is kept and create succeeds")
def test_device_path_taken_by_another_file_fails(runtime, private_bundle, cid):
    """config-linux.md "Devices" (path): if a file already exists at path that does not match
    the requested device, the runtime MUST generate an error."""
    bundle = private_bundle
    occupied = bundle.rootfs / "occupied"
    occupied.write_text("a regular file of the image\n")
    bundle.config["linux"]["devices"] = [
        {"path": "/occupied", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert occupied.is_file() and occupied.read_text() == "a regular file of the image\n", \
        "the image's file was replaced"
    assert proc.returncode != 0 and "ran" not in proc.stdout


@pytest.fixture
def shared_mount_of_rootfs(private_bundle):
    """The bundle's rootfs as a shared mount on the host (a peer group to be a slave of)."""
    bundle = private_bundle
    root = str(bundle.rootfs)
    subprocess.run(["mount", "--bind", root, root], check=True)
    subprocess.run(["mount", "--make-shared", root], check=True)
    yield root
    subprocess.run(["umount", "-l", root], check=False)


def _root_mount_fields(out):
    """Optional fields (shared:N, master:N, unbindable) of the mountinfo line of '/'."""
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 6 and parts[4] == "/":
            return parts[6:parts.index("-")]
    raise AssertionError(f"no '/' in mountinfo: {out}")


RUNC_PROPAGATION = runc_gap("rootfsPropagation is not reflected on the container's '/', "
                            "which shows as private")


@pytest.mark.parametrize("propagation", [
    pytest.param("shared", marks=RUNC_PROPAGATION),
    pytest.param("slave", marks=RUNC_PROPAGATION),
    "private",
    pytest.param("unbindable", marks=RUNC_PROPAGATION),
])
def test_rootfs_propagation(runtime, private_bundle, cid, shared_mount_of_rootfs,
                            propagation):
    """config-linux.md "Rootfs Mount Propagation": rootfsPropagation sets the rootfs mount's
    propagation: shared (a peer group), slave (receives from the host), private, unbindable."""
    bundle = private_bundle
    bundle.config["linux"]["rootfsPropagation"] = propagation
    proc = run_shell(runtime, bundle, cid, "cat /proc/self/mountinfo")
    fields = _root_mount_fields(proc.stdout)
    kinds = {f.split(":")[0] for f in fields}
    expected = {"shared": "shared", "slave": "master", "unbindable": "unbindable"}
    if propagation == "private":
        assert not kinds & {"shared", "master", "unbindable"}, fields
    else:
        assert expected[propagation] in kinds, fields
    if propagation in ("private", "unbindable"):
        assert "shared" not in kinds and "master" not in kinds, fields


@runc_gap("linux.memoryPolicy (runtime-spec 1.3) is unknown to it and ignored")
def test_memory_policy_is_applied_or_refused(runtime, bundle, cid):
    """config-linux.md "Memory policy" and config.md "Valid values": memoryPolicy sets the
    NUMA policy of the container process (set_mempolicy); a runtime that does not support a
    value MUST generate an error rather than ignore it."""
    if not Path("/proc/self/numa_maps").exists():
        pytest.skip("no NUMA support in this kernel")
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0"}
    proc = run_shell(runtime, bundle, cid,
                     "grep -c 'interleave:0' /proc/self/numa_maps || true", ok=False)
    if proc.returncode != 0:  # refused: with an error that names the property
        assert "memoryPolicy" in proc.stderr, proc.stderr
        return
    assert int(proc.stdout) > 0, "the policy was silently ignored"


@pytest.fixture
def veth():
    """A veth pair on the host; returns the name of one end."""
    name = "skf" + uuid.uuid4().hex[:8]
    made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                           name + "p"], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a veth pair: {made.stderr}")
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True)


@runc_gap("linux.netDevices (runtime-spec 1.3) is unknown to it and ignored")
def test_net_devices_are_moved_or_refused(runtime, bundle, cid, veth):
    """config-linux.md "Network Devices": netDevices MUST be made available in the container
    (moved into its network namespace, renamed, set up); config.md "Valid values": a runtime
    that does not support them MUST generate an error rather than ignore them."""
    bundle.config["linux"]["netDevices"] = {veth: {"name": "ctr0"}}
    proc = run_shell(runtime, bundle, cid,
                     "cat /sys/class/net/ctr0/flags 2>/dev/null || echo missing", ok=False)
    if proc.returncode != 0:  # refused: with an error that names the property
        assert "netDevices" in proc.stderr, proc.stderr
        return
    assert proc.stdout != "missing\n", "netDevices was silently ignored"
    assert int(proc.stdout, 16) & 1, "ctr0 is not up"


@runc_gap("linux.personality (runtime-spec 1.2) is unknown to it and ignored")
def test_personality_is_applied_or_refused(runtime, bundle, cid):
    """config-linux.md "Personality": domain LINUX32 makes uname report a 32-bit machine;
    config.md "Valid values": an unsupported value MUST generate an error."""
    if os.uname().machine != "x86_64":
        pytest.skip("checks LINUX32 on x86_64")
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    proc = run_shell(runtime, bundle, cid, "uname -m", ok=False)
    if proc.returncode != 0:  # refused: with an error that names the property
        assert "personality" in proc.stderr, proc.stderr
        return
    assert proc.stdout == "i686\n"


@runc_gap("linux.intelRdt is ignored when no resctrl file system is mounted")
def test_intel_rdt_without_resctrl_fails(runtime, bundle, cid):
    """config-linux.md "IntelRdt": if intelRdt is set and no resctrl pseudo-filesystem is
    mounted in the runtime mount namespace, the runtime MUST generate an error."""
    if any(line.split()[2] == "resctrl" for line in open("/proc/mounts")):
        pytest.skip("resctrl is mounted on this host")
    bundle.config["linux"]["intelRdt"] = {"closID": "conformance"}
    proc = run_shell(runtime, bundle, cid, "echo ran", ok=False)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert_container_gone(runtime, bundle, cid)


# ---- features.md, features-linux.md ----

FEATURE_KEYS = {"ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux",
                "annotations", "potentiallyUnsafeConfigAnnotations"}
LINUX_FEATURE_KEYS = {
    "namespaces": None, "capabilities": None,
    "cgroup": {"v1", "v2", "systemd", "systemdUser", "rdma"},
    "seccomp": {"enabled", "actions", "operators", "archs", "knownFlags", "supportedFlags"},
    "apparmor": {"enabled"}, "selinux": {"enabled"},
    "intelRdt": {"enabled", "schemata", "monitoring"},
    "mountExtensions": {"idmap"}, "netDevices": {"enabled"},
    "memoryPolicy": {"modes", "flags"},
}
SECCOMP_ENUMS = {  # schema/defs-linux.json at v1.3.0
    "actions": {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"},
    "operators": {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                  "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"},
    "archs": {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
              "SCMP_ARCH_AARCH64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS",
              "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
              "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
              "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_SH",
              "SCMP_ARCH_SHEB", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64"},
    "knownFlags": {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                   "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
}
SECCOMP_ENUMS["supportedFlags"] = SECCOMP_ENUMS["knownFlags"]
NAMESPACE_TYPES = {"mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"}


@pytest.fixture
def features(runtime):
    proc = runtime("features")
    if proc.returncode != 0:
        pytest.skip("the runtime has no features command")
    return json.loads(proc.stdout)


def _version_key(v):
    core = v.split("-")[0].split("+")[0]
    return tuple(int(x) for x in core.split(".")), "-" not in v


def test_features_document_follows_the_schema(features):
    """features.md and features-linux.md (schema/features-schema.json): ociVersionMin and
    ociVersionMax are REQUIRED SemVer strings with max >= min; the structure MUST NOT contain
    properties this spec version does not define; names come from the spec's enums; null
    is not an empty value; annotations map strings to strings."""
    assert FEATURE_KEYS >= features.keys(), features.keys() - FEATURE_KEYS
    lo, hi = features["ociVersionMin"], features["ociVersionMax"]
    assert SEMVER.match(lo) and SEMVER.match(hi)
    assert _version_key(hi) >= _version_key(lo)
    for key in ("hooks", "mountOptions", "potentiallyUnsafeConfigAnnotations"):
        value = features.get(key)
        assert value is None or all(isinstance(x, str) for x in value), key
    assert set(features.get("hooks") or []) <= set(HOOK_KINDS)
    annotations = features.get("annotations") or {}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
    linux = features.get("linux") or {}
    assert LINUX_FEATURE_KEYS.keys() >= linux.keys(), linux.keys() - LINUX_FEATURE_KEYS.keys()
    for key, allowed in LINUX_FEATURE_KEYS.items():
        if allowed and isinstance(linux.get(key), dict):
            assert allowed >= linux[key].keys(), (key, linux[key].keys() - allowed)
    assert set(linux.get("namespaces") or []) <= NAMESPACE_TYPES
    assert all(re.match(r"^CAP_[A-Z_]+$", c) for c in linux.get("capabilities") or [])
    seccomp = linux.get("seccomp") or {}
    for key, allowed in SECCOMP_ENUMS.items():
        assert set(seccomp.get(key) or []) <= allowed, (key, set(seccomp[key]) - allowed)
    assert set(seccomp.get("supportedFlags") or []) <= set(seccomp.get("knownFlags") or [])


@pytest.mark.parametrize("which", ["ociVersionMin", "ociVersionMax"])
def test_features_oci_versions_are_accepted(runtime, features, bundle, cid, which):
    """features.md "Specification version": the runtime MUST accept ociVersionMin and
    ociVersionMax as the ociVersion of config.json."""
    bundle.config["ociVersion"] = features[which]
    proc = run_shell(runtime, bundle, cid, "echo ok")
    assert proc.stdout == "ok\n"


def test_features_namespaces_are_recognized(runtime, features, bundle, cid):
    """features-linux.md "Namespaces": the runtime MUST recognize every listed name as a type
    of linux.namespaces (all of them in one container here)."""
    listed = set(features.get("linux", {}).get("namespaces") or [])
    present = {ns["type"] for ns in bundle.config["linux"]["namespaces"]}
    for kind in sorted(listed - present):
        bundle.config["linux"]["namespaces"].append({"type": kind})
    if "user" in listed:
        mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        bundle.config["linux"]["uidMappings"] = mapping
        bundle.config["linux"]["gidMappings"] = mapping
    proc = run_shell(runtime, bundle, cid, "echo ok")
    assert proc.stdout == "ok\n"


# options that need a bind mount, an existing mount or id mappings: tested elsewhere
NOT_ON_A_NEW_TMPFS = {"bind", "rbind", "remount", "idmap", "ridmap"}


@runc_gap("'defaults' is passed to mount(2) as file-system data, which tmpfs refuses")
def test_features_mount_options_are_recognized(runtime, features, bundle, cid):
    """features.md "Mount Options": the runtime MUST recognize every listed option as an
    option of mounts (each on its own tmpfs here, except those that need a bind mount)."""
    options = [o for o in features.get("mountOptions") or [] if o not in NOT_ON_A_NEW_TMPFS]
    for i, option in enumerate(options):
        bundle.config["mounts"].append({"destination": f"/opts/{i}", "type": "tmpfs",
                                        "source": "tmpfs", "options": [option]})
    proc = run_shell(runtime, bundle, cid, "grep -c ' /opts/' /proc/self/mountinfo")
    assert int(proc.stdout) == len(options)


SECCOMP_VICTIMS = ["acct", "add_key", "request_key", "swapon", "swapoff", "syslog",
                   "kexec_load", "init_module", "delete_module", "lookup_dcookie",
                   "quotactl", "nfsservctl", "vhangup", "pivot_root", "setdomainname",
                   "uselib", "ustat", "sysfs", "afs_syscall"]


def test_features_seccomp_names_are_recognized(runtime, features, bundle, cid):
    """features-linux.md "Seccomp": the runtime MUST recognize the listed actions, operators
    and architectures, and recognize and support the listed supportedFlags, in
    linux.seccomp (rules on syscalls the program never makes)."""
    seccomp = features.get("linux", {}).get("seccomp") or {}
    if not seccomp.get("enabled"):
        pytest.skip("seccomp is not enabled in this runtime")
    victims = iter(SECCOMP_VICTIMS)
    rules = [{"names": [next(victims)], "action": action}
             for action in seccomp.get("actions") or []
             if action not in ("SCMP_ACT_ALLOW", "SCMP_ACT_NOTIFY")]
    for op in seccomp.get("operators") or []:
        rules.append({"names": [next(victims)], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]})
    native = {"x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
              "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}.get(os.uname().machine)
    if native:
        assert set(native) <= set(seccomp.get("archs") or []), "the native archs are missing"
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": native or [],
        "flags": seccomp.get("supportedFlags") or [], "syscalls": rules}
    proc = run_shell(runtime, bundle, cid, "echo ok")
    assert proc.stdout == "ok\n"
