# SPDX-License-Identifier: Apache-2.0
"""Container lifecycle through the runc command line: create, start, state, list, kill,
delete, run, hooks and the console socket."""

import array
import json
import os
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import cgroup_dirs, wait_for, wait_for_text

STATE_FIELDS = {"ociVersion", "id", "status", "pid", "bundle"}
HOOK_KINDS = [
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
]
# Stops on SIGTERM: a shell as pid 1 gets only signals it handles.
WAIT_FOR_TERM = "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"


def process_gone(pid):
    """True once pid has exited (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):
        return True


def listed(runtime):
    proc = runtime("list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {c["id"]: c for c in json.loads(proc.stdout or "[]") or []}


def test_lifecycle_through_every_status(runtime, bundle, cid):
    bundle.shell(WAIT_FOR_TERM)
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    state = runtime.state(cid)
    assert STATE_FIELDS <= state.keys()
    assert state["id"] == cid
    assert state["status"] == "created"
    assert state["bundle"] == str(bundle.path)
    assert state["pid"] > 0 and not process_gone(state["pid"])
    assert "ready" not in runtime.output_paths(cid)[0].read_text(), "process ran before start"

    table = runtime("list")
    assert table.returncode == 0, table.stderr
    row = [line.split() for line in table.stdout.splitlines() if line.startswith(cid + " ")]
    assert row and row[0][1:3] == [str(state["pid"]), "created"]
    assert listed(runtime)[cid]["status"] == "created"

    started = runtime("start", cid)
    assert started.returncode == 0, started.stderr
    wait_for_text(runtime.output_paths(cid)[0], "ready")
    assert runtime.state(cid)["status"] == "running"
    assert listed(runtime)[cid]["status"] == "running"

    killed = runtime("kill", cid)
    assert killed.returncode == 0, killed.stderr
    runtime.wait_status(cid, "stopped")
    assert listed(runtime)[cid]["status"] == "stopped"

    deleted = runtime("delete", cid)
    assert deleted.returncode == 0, deleted.stderr
    assert runtime("state", cid).returncode != 0
    assert cid not in listed(runtime)
    assert not (runtime.root / cid).exists()
    assert cgroup_dirs(bundle.cgroups_path) == []


def test_delete_refuses_running_container_without_force(runtime, bundle, cid):
    bundle.shell("exec sleep 600")
    runtime.start_container(bundle, cid)
    assert runtime("delete", cid).returncode != 0
    assert runtime.state(cid)["status"] == "running"


def test_delete_force_removes_running_container(runtime, bundle, cid):
    bundle.shell("exec sleep 600")
    state = runtime.start_container(bundle, cid)
    assert state["status"] == "running"
    assert cgroup_dirs(bundle.cgroups_path), "the container has no cgroup"
    proc = runtime("delete", "--force", cid)
    assert proc.returncode == 0, proc.stderr
    assert runtime("state", cid).returncode != 0
    assert not (runtime.root / cid).exists()
    assert cgroup_dirs(bundle.cgroups_path) == []
    assert wait_for(lambda: process_gone(state["pid"]), 5)


def test_run_returns_container_exit_status(runtime, bundle, cid):
    bundle.shell("echo out; echo err >&2; exit 3")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 3
    assert proc.stdout == "out\n"
    assert "err\n" in proc.stderr
    assert not (runtime.root / cid).exists(), "run must delete the container"


def test_run_detach_leaves_container_running(runtime, bundle, cid):
    bundle.shell("echo detached; exec sleep 600")
    proc = runtime.detached("run", bundle, cid, "--detach")
    assert proc.returncode == 0, proc.stderr
    assert runtime.state(cid)["status"] == "running"
    wait_for_text(runtime.output_paths(cid)[0], "detached")
    assert runtime("kill", cid, "KILL").returncode == 0
    runtime.wait_status(cid, "stopped")
    assert runtime("delete", cid).returncode == 0


def add_hooks(bundle, log):
    """Each hook appends one line, '<kind> <state JSON from stdin>', to log.

    The log's directory is bind-mounted at the same path, so startContainer
    hooks, which run inside the container, write to the same file.
    """
    script = 'state=$(cat); printf "%s %s\\n" "$0" "$state" >> ' + str(log)
    bundle.config["hooks"] = {
        kind: [{"path": "/bin/sh", "args": ["sh", "-c", script, kind]}] for kind in HOOK_KINDS
    }
    log_dir = str(log.parent)
    bundle.config["mounts"].append(
        {"destination": log_dir, "type": "bind", "source": log_dir, "options": ["rbind", "rw"]}
    )
    bundle.save()


def read_hook_log(log):
    entries = []
    for line in log.read_text().splitlines():
        kind, state = line.split(" ", 1)
        entries.append((kind, json.loads(state)))
    return entries


def test_hooks_run_in_order_with_state_on_stdin(runtime, bundle, cid, workdir):
    log_dir = workdir / "hooks"
    log_dir.mkdir()
    log = log_dir / "log"
    add_hooks(bundle, log)
    bundle.shell("echo main")
    proc = runtime.run(bundle, cid)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "main\n"

    entries = read_hook_log(log)
    kinds = [kind for kind, _ in entries]
    assert sorted(kinds) == sorted(HOOK_KINDS)
    if runtime.is_skiff:
        assert kinds == HOOK_KINDS
    else:
        # runc runs poststart while the container runs its startContainer hooks.
        order = [k for k in kinds if k != "poststart"]
        assert order == [k for k in HOOK_KINDS if k != "poststart"]
        assert kinds.index("poststart") > kinds.index("createContainer")
    expected_status = {
        "prestart": "creating",
        "createRuntime": "creating",
        "createContainer": "creating",
        "startContainer": "created",
        "poststart": "running",
        "poststop": "stopped",
    }
    if not runtime.is_skiff:
        expected_status["poststart"] = "created"  # runc 1.1 reports the state before start
    for kind, state in entries:
        assert state["id"] == cid
        assert state["bundle"] == str(bundle.path)
        assert state["ociVersion"]
        assert state["status"] == expected_status[kind], kind
        if kind != "poststop":
            assert state["pid"] > 0, kind


class ConsoleSocket:
    """A unix socket server that receives one pty master over SCM_RIGHTS."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.master = None
        self.error = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                fds = array.array("i")
                _, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                self.master = fds[0] if fds else None
        except OSError as e:
            self.error = e

    def wait_master(self):
        self.thread.join(30)
        assert self.master is not None, f"no pty master received: {self.error}"
        return self.master

    def close(self):
        self.sock.close()
        if self.master is not None:
            os.close(self.master)


def read_until_eof(fd, timeout=30.0):
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.5)[0]:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO once the last slave fd is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture
def console_socket(workdir):
    server = ConsoleSocket(workdir / "console.sock")
    yield server
    server.close()


def test_terminal_through_console_socket(runtime, bundle, cid, console_socket):
    bundle.config["process"]["terminal"] = True
    bundle.shell("tty; test -t 0 && echo stdin-tty; test -t 1 && echo stdout-tty")
    created = runtime.create(bundle, cid, "--console-socket", console_socket.path)
    assert created.returncode == 0, created.stderr
    master = console_socket.wait_master()
    assert runtime("start", cid).returncode == 0
    output = read_until_eof(master).replace("\r\n", "\n")
    assert output.splitlines() == ["/dev/pts/0", "stdin-tty", "stdout-tty"]
    runtime.wait_status(cid, "stopped")
    assert runtime("delete", cid).returncode == 0


def test_failing_create_runtime_hook_destroys_the_container(runtime, bundle, cid, workdir):
    marker = workdir / "poststop-ran"
    bundle.new_cgroup()
    bundle.config["hooks"] = {
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}"]}],
    }
    bundle.shell("true")
    proc = runtime.create(bundle, cid)
    assert proc.returncode != 0
    if runtime.is_skiff:
        assert "createRuntime" in proc.stderr
        # runtime-spec lifecycle: destroyed, then poststop hooks (runc 1.1 skips them)
        assert marker.exists()
    assert runtime("state", cid).returncode != 0
    assert not cgroup_dirs(bundle.cgroups_path)


def test_failing_start_container_hook_fails_start(runtime, bundle, cid):
    bundle.config["hooks"] = {
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]}
    bundle.shell("true")
    created = runtime.create(bundle, cid)
    assert created.returncode == 0, created.stderr
    started = runtime("start", cid)
    if runtime.is_skiff:
        assert started.returncode != 0
        assert "startContainer" in started.stderr
    runtime.wait_status(cid, "stopped")
