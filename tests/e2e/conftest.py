# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the runtime end-to-end tests.

Every test gets a fresh busybox bundle, a runtime bound to a temporary --root
and unique container ids and cgroup paths; finalizers kill and delete whatever
the test created, even when it fails.

Environment:
  SKIFF_BIN    the skiff-runtime link to test (default: <repo>/build/skiff-runtime)
  E2E_RUNTIME  runtime the tests drive: "skiff-runtime" (default) or a path such
               as /usr/sbin/runc, to check the tests themselves against runc
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MKBUNDLE = REPO / "scripts" / "mkbundle.sh"
RUNC = Path("/usr/sbin/runc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
TIMEOUT = 60


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    """A run ended by SIGTERM or SIGHUP (a CI timeout, a stopped job) stops like one
    interrupted by ^C: the fixtures still tear down, so the clusters' mounts, network
    namespaces and cgroups go with them instead of staying on the machine."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _interrupted)


def new_id(prefix="e2e"):
    """A container id no other test or run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def cgroup_dirs(cgroups_path):
    """Every existing directory of cgroups_path, one per mounted hierarchy."""
    rel = cgroups_path.lstrip("/")
    dirs = []
    for hierarchy in sorted(CGROUP_ROOT.iterdir()):
        d = hierarchy / rel
        if hierarchy.is_dir() and not hierarchy.is_symlink() and d.is_dir():
            dirs.append(d)
    return dirs


def remove_cgroup(cgroups_path):
    """Kill what is left in cgroups_path and remove its directories."""
    for d in cgroup_dirs(cgroups_path):
        freezer = d / "freezer.state"
        if freezer.exists():
            freezer.write_text("THAWED")
        for _ in range(50):
            try:
                procs = (d / "cgroup.procs").read_text().split()
            except FileNotFoundError:
                break  # not a cgroup: leave it alone
            for pid in procs:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Poll predicate until it returns a true value; return that value or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_for_text(path, text, timeout=10.0):
    """Wait until the file at path contains text; return the file's content."""
    def found():
        try:
            content = Path(path).read_text(errors="replace")
        except FileNotFoundError:
            return None
        return content if text in content else None

    content = wait_for(found, timeout)
    if content is None:
        last = Path(path).read_text(errors="replace") if Path(path).exists() else None
        raise AssertionError(f"'{text}' not in {path}: {last!r}")
    return content


class Bundle:
    """An OCI bundle directory whose config.json is edited as a dict."""

    def __init__(self, path):
        self.path = Path(path)
        self.rootfs = self.path / "rootfs"
        self.config = json.loads((self.path / "config.json").read_text())

    def save(self):
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))

    def shell(self, script):
        """Make the container run script with busybox sh."""
        self.config["process"]["args"] = ["sh", "-c", script]
        self.save()

    @property
    def cgroups_path(self):
        return self.config["linux"].get("cgroupsPath")

    def new_cgroup(self):
        """Give the next container its own cgroup; return the path."""
        self.config["linux"]["cgroupsPath"] = "/" + new_id("skiff-e2e")
        self.save()
        return self.config["linux"]["cgroupsPath"]


class Runtime:
    """A runtime binary driven with runc's command line under one --root."""

    def __init__(self, path, workdir):
        self.path = str(path)
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.ids = []
        self.cgroups = []

    @property
    def is_skiff(self):
        return "skiff" in Path(self.path).name

    def __call__(self, *args, global_args=(), timeout=TIMEOUT, **kwargs):
        """Run `RUNTIME --root R [global_args] args...`; return the CompletedProcess."""
        cmd = [self.path, "--root", str(self.root), *global_args, *args]
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("capture_output", "stdout" not in kwargs)
        return subprocess.run(cmd, timeout=timeout, text=True, **kwargs)

    def _track(self, bundle, cid):
        self.ids.append(cid)
        if bundle.cgroups_path:
            self.cgroups.append(bundle.cgroups_path)

    def run(self, bundle, cid, *extra, **kwargs):
        """`run` in the foreground: create, start, wait, delete."""
        self._track(bundle, cid)
        return self("run", "--bundle", str(bundle.path), *extra, cid, **kwargs)

    def output_paths(self, cid):
        return self.workdir / f"{cid}.out", self.workdir / f"{cid}.err"

    def detached(self, command, bundle, cid, *extra):
        """`create` or `run --detach` with stdio in files (the container keeps them open).

        Returns the CompletedProcess; the runtime's and the container's output
        are in output_paths(cid).
        """
        self._track(bundle, cid)
        out, err = self.output_paths(cid)
        args = [command, "--bundle", str(bundle.path), *extra, cid]
        with open(out, "a") as fout, open(err, "a") as ferr:
            proc = self(*args, stdout=fout, stderr=ferr)
        proc.stdout = out.read_text(errors="replace")
        proc.stderr = err.read_text(errors="replace")
        return proc

    def create(self, bundle, cid, *extra):
        return self.detached("create", bundle, cid, *extra)

    def start_container(self, bundle, cid):
        """create then start; asserts both succeed; returns the state."""
        created = self.create(bundle, cid)
        assert created.returncode == 0, created.stderr
        started = self("start", cid)
        assert started.returncode == 0, started.stderr
        return self.state(cid)

    def state(self, cid):
        proc = self("state", cid)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def wait_status(self, cid, status, timeout=10.0):
        def reached():
            proc = self("state", cid)
            return proc.returncode == 0 and json.loads(proc.stdout)["status"] == status

        assert wait_for(reached, timeout), f"container {cid} never reached '{status}'"

    def cleanup(self):
        for cid in self.ids:
            self("kill", cid, "KILL", timeout=20)
            self("delete", "--force", cid, timeout=20)
        for path in self.cgroups:
            remove_cgroup(path)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(autouse=True)
def require_root():
    if os.geteuid() != 0:
        pytest.skip("runtime e2e tests need root")


@pytest.fixture(scope="session")
def skiff():
    return Path(os.environ.get("SKIFF_BIN", REPO / "build" / "skiff-runtime"))


@pytest.fixture(scope="session")
def runtime_path(skiff):
    choice = os.environ.get("E2E_RUNTIME", "skiff-runtime")
    path = skiff if choice == "skiff-runtime" else Path(choice)
    if not os.access(path, os.X_OK):
        pytest.fail(f"runtime '{path}' not found: run `make` or set E2E_RUNTIME")
    return path


@pytest.fixture(scope="session")
def session_dir():
    """A world-traversable scratch dir: user-namespaced containers must reach their rootfs."""
    d = Path(tempfile.mkdtemp(prefix="skiff-e2e-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def bundle_template(session_dir):
    path = session_dir / "template"
    subprocess.run([str(MKBUNDLE), str(path)], check=True)
    return path


@pytest.fixture
def workdir(session_dir):
    d = Path(tempfile.mkdtemp(prefix="t-", dir=session_dir))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_bundle(bundle_template, workdir):
    """make_bundle() -> a fresh Bundle copied from the session template, with its own cgroup."""
    count = 0

    def make():
        nonlocal count
        count += 1
        path = workdir / f"bundle-{count}"
        subprocess.run(["cp", "-a", str(bundle_template), str(path)], check=True)
        bundle = Bundle(path)
        bundle.new_cgroup()
        return bundle

    return make


@pytest.fixture
def bundle(make_bundle):
    return make_bundle()


@pytest.fixture
def runtime(runtime_path, workdir):
    rt = Runtime(runtime_path, workdir)
    yield rt
    rt.cleanup()


@pytest.fixture
def cid():
    return new_id()
