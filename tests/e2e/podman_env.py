# SPDX-License-Identifier: Apache-2.0
"""Podman driven against one OCI runtime, with everything it keeps off the host.

A Podman instance owns a scratch dir holding podman's storage (--root,
--runroot, --tmpdir, vfs driver), its containers.conf and storage.conf, its
network configs, and a network namespace made with `ip netns`: every podman
command runs under `nsenter --net` into it, so `--network host` means that
namespace and the bridge netavark makes for `--network bridge` lives there
too. Containers go under a cgroup parent of their own. reset() removes all of
it, and what podman 4.3 writes to fixed host paths when they weren't there
before (its blob-info cache and, for root, netavark's IPAM db).

Environment:
  E2E_PODMAN_RUNTIME  "skiff" (default: build/skiff-runtime, or $SKIFF_BIN),
                      "runc", "crun", or the path of another runtime
  E2E_PODMAN_LOG_LEVEL  passed to podman as --log-level (e.g. debug) to diagnose
"""

import os
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from conftest import CGROUP_ROOT, remove_cgroup

PODMAN = shutil.which("podman")
CONMON = shutil.which("conmon")
RUNC = Path("/usr/sbin/runc")
CRUN = Path("/usr/bin/crun")
MKROOTFS_TAR = Path(__file__).resolve().parents[2] / "scripts" / "mkrootfs-tar.sh"
IMAGE = "localhost/skiff-e2e/busybox:latest"
TIMEOUT = 60

# crun refuses this cgroup v1 host while the v2 hierarchy is mounted at
# /sys/fs/cgroup/unified ("cgroups in hybrid mode not supported"), so it runs in
# a mount namespace of its own without it. Named crun: podman tells runtimes
# apart by the file's name.
CRUN_WRAPPER = """#!/bin/sh
exec unshare -m --propagation private sh -c \\
	'umount /sys/fs/cgroup/unified 2>/dev/null; exec {crun} "$@"' crun "$@"
"""

# Paths podman 4.3 writes as root whatever its options say: containers/image's
# blob-info cache, and netavark's IPAM db (rootful podman shares it on purpose).
HOST_PATHS = (Path("/var/lib/containers/cache"), Path("/run/containers/networks"))


def unique(prefix="pm"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def runtime_path(choice, skiff, scratch):
    """The --runtime argument for E2E_PODMAN_RUNTIME's value `choice`."""
    if choice in ("skiff", "skiff-runtime"):
        # the link's own path, not its target: the name selects skiff's role
        return str(Path(skiff).absolute())
    if choice == "runc":
        return str(RUNC)
    if choice == "crun":
        wrapper = Path(scratch) / "crun-wrapper" / "crun"
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(CRUN_WRAPPER.format(crun=CRUN))
        wrapper.chmod(0o755)
        return str(wrapper)
    return str(Path(choice).absolute())


class Podman:
    """`podman` bound to one runtime, one scratch dir and one network namespace."""

    def __init__(self, workdir, runtime):
        self.workdir = Path(workdir)
        self.runtime = runtime
        self.netns = unique("skiff-e2e-podman")
        self.cgroup_parent = "/" + unique("skiff-e2e-podman")
        self.root = self.workdir / "root"
        self.runroot = self.workdir / "runroot"
        self.tmpdir = self.workdir / "tmp"
        self.netconf = self.workdir / "networks"
        self.log_level = os.environ.get("E2E_PODMAN_LOG_LEVEL")
        self._host_paths = [p for p in HOST_PATHS if not p.exists()]
        for d in (self.root, self.runroot, self.tmpdir, self.netconf):
            d.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "containers.conf"
        conf.write_text(f"""\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
image_copy_tmp_dir = "{self.tmpdir}"

[network]
network_backend = "netavark"
network_config_dir = "{self.netconf}"
""")
        storage = self.workdir / "storage.conf"
        storage.write_text(f"""\
[storage]
driver = "vfs"
graphroot = "{self.root}"
runroot = "{self.runroot}"
""")
        # XDG_CONFIG_HOME: `system reset` makes $XDG_CONFIG_HOME/containers/podman
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf),
                        CONTAINERS_STORAGE_CONF=str(storage), TMPDIR=str(self.tmpdir),
                        XDG_CONFIG_HOME=str(self.workdir / "config"))
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)

    def command(self, *args, runtime=None):
        """The argv of `podman ARGS` in this instance's netns."""
        cmd = ["nsenter", f"--net=/run/netns/{self.netns}", PODMAN,
               "--root", str(self.root), "--runroot", str(self.runroot),
               "--tmpdir", str(self.tmpdir), "--storage-driver", "vfs",
               "--runtime", runtime or self.runtime]
        if self.log_level:
            cmd += ["--log-level", self.log_level]
        return cmd + [str(a) for a in args]

    def shell_command(self, *args):
        return shlex.join(self.command(*args))

    def __call__(self, *args, timeout=TIMEOUT, input=None, runtime=None, **kwargs):
        """Run `podman ARGS`; return the CompletedProcess (text, output captured)."""
        if input is None:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.command(*args, runtime=runtime), input=input,
                              capture_output=True, text=True, env=self.env, timeout=timeout,
                              **kwargs)

    def ok(self, *args, **kwargs):
        """Run `podman ARGS`, assert it succeeded, return its stdout."""
        proc = self(*args, **kwargs)
        assert proc.returncode == 0, explain(proc)
        return proc.stdout

    def run(self, *args, **kwargs):
        """`podman run ARGS` with this instance's cgroup parent."""
        return self(*self.run_args(), *args, **kwargs)

    def run_args(self):
        return ["run", "--cgroup-parent", self.cgroup_parent]

    def in_terminal(self, *args, input, timeout=TIMEOUT):
        """Run `podman ARGS` with a terminal of its own (under script) and input typed in."""
        return subprocess.run(["script", "-qec", self.shell_command(*args), "/dev/null"],
                              input=input, capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def inspect(self, name, template):
        return self.ok("inspect", "--format", template, name).strip()

    def pid(self, name):
        return int(self.inspect(name, "{{.State.Pid}}"))

    def wait_status(self, name, status, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            now = self("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if now == status:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} is '{now}', never '{status}'")
            time.sleep(0.1)

    def wait_logs(self, name, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            logs = self("logs", name)
            if text in logs.stdout:
                return logs.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"'{text}' not in logs of {name}: {explain(logs)}")
            time.sleep(0.1)

    def import_image(self):
        """Import scripts/mkrootfs-tar.sh's busybox rootfs as IMAGE, with CMD sh."""
        tar = self.workdir / "rootfs.tar"
        subprocess.run([str(MKROOTFS_TAR), str(tar)], check=True)
        self.ok("import", "--change", 'CMD ["sh"]', tar, IMAGE, timeout=120)
        tar.unlink()

    def remove(self, *names):
        if names:
            self("rm", "--force", "--ignore", "--time", "0", *names)

    def reset(self):
        """Remove every container, the storage, the cgroups and the netns."""
        self("rm", "--all", "--force", "--time", "0")
        self("system", "reset", "--force", timeout=120)
        remove_cgroup_tree(self.cgroup_parent)
        subprocess.run(["ip", "netns", "del", self.netns], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.workdir, ignore_errors=True)
        for path in self._host_paths:
            shutil.rmtree(path, ignore_errors=True)
            try:
                path.parent.rmdir()  # /var/lib/containers, /run/containers if now empty
            except OSError:
                pass


def remove_cgroup_tree(parent):
    """Kill what is left under the cgroup parent and remove it, deepest first."""
    rel = parent.lstrip("/")
    paths = set()
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / rel
        if hierarchy.is_symlink() or not top.is_dir():
            continue
        for dirpath, _, _ in os.walk(top):
            paths.add("/" + str(Path(dirpath).relative_to(hierarchy)))
    for path in sorted(paths, key=lambda p: p.count("/"), reverse=True):
        remove_cgroup(path)


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited; only its parent's wait is missing
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def explain(proc):
    """A failed command's argv, status and output, for assertion messages."""
    args = proc.args if isinstance(proc.args, str) else shlex.join(proc.args)
    return (f"`{args}` exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")


def make_scratch():
    d = Path(tempfile.mkdtemp(prefix="skiff-e2e-podman-"))
    d.chmod(0o755)
    return d



def main(argv):
    """scripts/podman-env.sh: podman on a runtime in a throwaway environment, by hand."""
    runtime = "skiff"
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: podman-env.sh [-r skiff|runc|crun|PATH] [PODMAN-ARGS...]\n"
              f"Runs podman on the runtime in a throwaway environment (storage, netns,\n"
              f"cgroup parent) holding the busybox image {IMAGE}; the word IMAGE in\n"
              f"PODMAN-ARGS stands for it. Without PODMAN-ARGS, opens a shell whose\n"
              f"`podman` is that. Everything is removed on exit.")
        return 0
    if argv[:1] in (["-r"], ["--runtime"]) and len(argv) > 1:
        runtime, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    repo = Path(__file__).resolve().parents[2]
    skiff = os.environ.get("SKIFF_BIN", repo / "build" / "skiff-runtime")
    scratch = make_scratch()
    pm = None
    try:
        pm = Podman(scratch / "podman", runtime_path(runtime, skiff, scratch))
        pm.import_image()
        args = [IMAGE if a == "IMAGE" else a for a in argv]
        if "run" in args[:args.index(IMAGE) if IMAGE in args else len(args)]:
            i = args.index("run")  # podman's run, not the container's: it precedes IMAGE
            args[i + 1:i + 1] = ["--cgroup-parent", pm.cgroup_parent]
        if args:
            return subprocess.run(pm.command(*args), env=pm.env).returncode
        rc = scratch / "bashrc"
        rc.write_text(f"podman() {{\n"
                      f"  [ \"$1\" = run ] && set -- {shlex.join(pm.run_args())} \"${{@:2}}\"\n"
                      f"  {shlex.join(pm.command())} \"$@\"\n}}\n"
                      f"IMAGE={IMAGE}\nPS1='podman-env$ '\n"
                      f"echo 'podman runs on {pm.runtime}; the image is $IMAGE'\n")
        return subprocess.run(["bash", "--rcfile", str(rc), "-i"], env=pm.env).returncode
    finally:
        if pm:
            pm.reset()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
