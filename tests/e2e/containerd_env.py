# SPDX-License-Identifier: Apache-2.0
"""containerd (Debian 12's 1.6, driven with ctr) and dockerd (20.10), kept off the host.

Each daemon runs as a child of the test with everything in a scratch dir: its
root and state dirs, its sockets, its logs. Two things those daemons write to
fixed paths whatever their options say are kept private too:

  * containerd 1.6 puts the sockets of its shims under /run/containerd/s, the
    v2 shim keeps the runtime's --root under /run/containerd/runc, and ctr
    makes its FIFOs under /run/containerd/fifo;
  * dockerd 20.10 writes its key to /etc/docker/key.json.

So a daemon runs in a mount namespace of its own (unshare -m, private
propagation) whose /run is a tmpfs holding bind mounts of what the host's /run
holds, plus whatever the daemon makes there; /etc/docker is a scratch dir. The
namespace, and every mount the daemon or its shims made in it, goes away with
the last of their processes. The daemon also runs in a network namespace made
with `ip netns`, so a container on the "host" network (ctr --net-host, docker
--network host) only sees that one. ctr runs in the daemon's mount namespace
(nsenter --mount) to share /run/containerd with it; the docker CLI needs no
namespace (it only talks to the socket).

Containers go under cgroups of their own: containerd names them /<namespace>/<id>
and every Containerd uses a unique containerd namespace; dockerd gets a unique
--cgroup-parent. stop() kills and removes all of it.

Environment:
  E2E_CONTAINERD_RUNTIME  runtime for test_containerd.py: "skiff" (default:
                          build/skiff-runtime, or $SKIFF_BIN), "runc", or a path
  E2E_DOCKER_RUNTIME      the same for test_docker.py
  E2E_CONTAINERD_LOG_LEVEL  containerd's log level (default info; debug also
                          makes the shims log), in the daemon log kept in the
                          scratch dir and quoted by failed start-ups
"""

import contextlib
import gzip
import hashlib
import io
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from podman_env import MKROOTFS_TAR, RUNC, explain, remove_cgroup_tree, unique

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
DOCKERD = shutil.which("dockerd", path="/usr/sbin:/usr/bin")
# Debian's client, not another docker that may come first in PATH
DOCKER = shutil.which("docker", path="/usr/bin")
IMAGE = "localhost/skiff-e2e/busybox:latest"
TIMEOUT = 60

# sh -c PRIVATE_RUN sh HOSTRUN [SRC DST]... -- COMMAND...: in a new mount
# namespace, put a tmpfs on /run holding bind mounts of the host's entries,
# bind each SRC on DST, then exec COMMAND. HOSTRUN is an empty scratch dir.
# (mkdir -p: mount(8) itself makes /run/mount once the tmpfs is there.)
PRIVATE_RUN = r"""
set -eu
hostrun=$1
shift
mount --rbind /run "$hostrun"
mount -t tmpfs -o mode=755 tmpfs /run
for entry in "$hostrun"/* "$hostrun"/.[!.]*; do
	[ -e "$entry" ] || [ -L "$entry" ] || continue
	target=/run/${entry##*/}
	if [ -L "$entry" ]; then
		cp -a "$entry" "$target"
	elif [ -d "$entry" ]; then
		mkdir -p "$target"
		mount --rbind "$entry" "$target"
	else
		[ -e "$target" ] || : >"$target"
		mount --bind "$entry" "$target"
	fi
done
umount -l "$hostrun"
while [ "$1" != "--" ]; do
	mount --bind "$1" "$2"
	shift 2
done
shift
exec "$@"
"""


def runtime_choice(variable, skiff):
    """The runtime path that environment variable's value names (default: skiff)."""
    choice = os.environ.get(variable, "skiff")
    if choice in ("skiff", "skiff-runtime"):
        return str(Path(skiff).absolute())
    if choice == "runc":
        return str(RUNC)
    return str(Path(choice).absolute())


def goarch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine)


def make_oci_archive(out, name, workdir):
    """An OCI image layout tarball of scripts/mkrootfs-tar.sh's rootfs, named name, CMD sh.

    One gzipped layer; `ctr images import` takes the name from the index's
    io.containerd.image.name annotation.
    """
    rootfs = Path(workdir) / "rootfs.tar"
    subprocess.run([str(MKROOTFS_TAR), str(rootfs)], check=True)
    raw = rootfs.read_bytes()
    rootfs.unlink()
    layer = gzip.compress(raw, mtime=0)
    config = json.dumps({
        "architecture": goarch(), "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created_by": "scripts/mkrootfs-tar.sh"}],
    }).encode()
    blobs = {}

    def descriptor(media_type, data):
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}

    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
    }).encode()
    entry = descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    entry["platform"] = {"architecture": goarch(), "os": "linux"}
    entry["annotations"] = {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
    index = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()

    def add(tar, path, data):
        info = tarfile.TarInfo(path)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(out, "w") as tar:
        add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add(tar, "index.json", index)
        for digest, data in blobs.items():
            add(tar, f"blobs/sha256/{digest}", data)
    return out


def processes_with_arg(arg):
    """Pids of the processes one of whose argv entries is arg."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arg.encode() in argv:
            pids.append(int(entry.name))
    return pids


class Daemon:
    """A daemon started in a network namespace and a private /run of its own."""

    name = "daemon"

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.netns = unique(f"skiff-e2e-{self.name}")
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc = None
        self._log = None
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)

    @contextlib.contextmanager
    def stopped_on_error(self):
        """Stop the daemon (and remove its netns) if starting it fails: no one else will."""
        try:
            yield
        except BaseException:
            self.stop()
            raise

    def launch(self, argv, binds=()):
        """Start argv in the netns and a private /run (binds: (src, dst) pairs on top)."""
        hostrun = self.workdir / "hostrun"
        hostrun.mkdir()
        cmd = ["nsenter", f"--net=/run/netns/{self.netns}",
               "unshare", "--mount", "--propagation", "private",
               "sh", "-c", PRIVATE_RUN, "sh", str(hostrun)]
        for src, dst in binds:
            cmd += [str(src), str(dst)]
        cmd += ["--", *map(str, argv)]
        self._log = open(self.log_path, "ab")
        # nsenter, unshare and sh each exec the next: proc.pid is the daemon's
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines=40):
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, ready, timeout=30.0):
        """Poll ready() until true; raise with the daemon's log if it dies or times out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def in_mount_ns(self):
        """The argv prefix that runs a command in the daemon's mount namespace."""
        return ["nsenter", f"--mount=/proc/{self.proc.pid}/ns/mnt"]

    def net_ns_inode(self):
        return os.stat(f"/run/netns/{self.netns}").st_ino

    def kill_leftovers(self):
        """Subclasses: kill what the daemon left (shims, containers)."""

    def stop(self):
        """Stop the daemon and everything it started; remove the netns and the scratch dir."""
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=15)
        finally:
            self.kill_leftovers()
            if self._log:
                self._log.close()
            subprocess.run(["ip", "netns", "del", self.netns], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.workdir, ignore_errors=True)


def kill_shims(address):
    """SIGKILL the shims serving the daemon at address (they outlive it by design)."""
    for pid in processes_with_arg(address):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Containerd(Daemon):
    """containerd with a private config, driven with `ctr` in one unique namespace."""

    name = "containerd"

    def __init__(self, workdir, runtime):
        super().__init__(workdir)
        self.runtime = runtime
        self.namespace = unique("skiff-e2e-ctr")
        self.socket = self.workdir / "containerd.sock"
        self.config = self.workdir / "config.toml"
        self.snapshotter = "overlayfs"
        level = os.environ.get("E2E_CONTAINERD_LOG_LEVEL", "info")
        # No CRI (it wants CNI and a registry), no snapshotters beyond overlayfs and native.
        self.config.write_text(f"""\
version = 2
root = "{self.workdir / 'root'}"
state = "{self.workdir / 'state'}"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  address = "{self.workdir / 'debug.sock'}"
  level = "{level}"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{self.workdir / 'opt'}"
""")
        with self.stopped_on_error():
            self.launch([CONTAINERD, "--config", self.config])
            self.wait_ready(lambda: self.socket.exists() and self("version").returncode == 0)
            # overlayfs skips itself where the scratch fs can't hold an upper dir
            plugins = self.ok("plugins", "ls")
            if not any(line.split()[1:2] == ["overlayfs"] and line.split()[-1] == "ok"
                       for line in plugins.splitlines() if line.strip()):
                self.snapshotter = "native"

    @property
    def runtime_root(self):
        """The --root the v2 shim gives the runtime: /run/containerd/runc/<namespace>."""
        return f"/run/containerd/runc/{self.namespace}"

    def command(self, *args):
        return [*self.in_mount_ns(), CTR, "--address", str(self.socket),
                "--namespace", self.namespace, *map(str, args)]

    def __call__(self, *args, timeout=TIMEOUT, input=None, **kwargs):
        """Run `ctr ARGS`; return the CompletedProcess (text, output captured)."""
        if input is None:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.command(*args), input=input, capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    def ok(self, *args, **kwargs):
        proc = self(*args, **kwargs)
        assert proc.returncode == 0, explain(proc)
        return proc.stdout

    def run_args(self, runtime=None):
        """`ctr run` with the runtime under test (the v2 shim's BinaryName)."""
        return ["run", "--runtime", "io.containerd.runc.v2",
                "--runc-binary", runtime or self.runtime, "--snapshotter", self.snapshotter]

    def run(self, *args, runtime=None, **kwargs):
        return self(*self.run_args(runtime), *args, **kwargs)

    def shell_command(self, *args):
        return shlex.join(self.command(*args))

    def import_image(self):
        archive = make_oci_archive(self.workdir / "image.tar", IMAGE, self.workdir)
        self.ok("images", "import", "--snapshotter", self.snapshotter, archive, timeout=120)
        archive.unlink()

    def tasks(self):
        """{container id: (pid, status)} from `ctr task ls`."""
        tasks = {}
        for line in self.ok("task", "ls").splitlines()[1:]:
            fields = line.split()
            if len(fields) == 3:
                tasks[fields[0]] = (int(fields[1]), fields[2])
        return tasks

    def task_pid(self, cid):
        return self.tasks()[cid][0]

    def wait_task_status(self, cid, status, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            now = self.tasks().get(cid, (0, None))[1]
            if now == status:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"task {cid} is {now}, never {status}")
            time.sleep(0.1)

    def runtime_state(self, cid, runtime=None):
        """`RUNTIME --root <shim's root> state cid`, run where the shim runs it."""
        return subprocess.run([*self.in_mount_ns(), runtime or self.runtime,
                               "--root", self.runtime_root, "state", cid],
                              capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL)

    def remove(self, *cids):
        """Kill, delete and remove the containers, whatever state they are in."""
        for cid in cids:
            self("task", "kill", "--signal", "KILL", "--all", cid)
            self("task", "delete", "--force", cid)
            self("containers", "delete", cid)

    def kill_leftovers(self):
        kill_shims(str(self.socket))
        remove_cgroup_tree("/" + self.namespace)


class Dockerd(Daemon):
    """dockerd with its own containerd, data root and exec root, no bridge, no iptables.

    The runtime under test is registered as RUNTIME_NAME (--add-runtime).
    """

    name = "dockerd"
    RUNTIME_NAME = "e2e"

    def __init__(self, workdir, runtime):
        super().__init__(workdir)
        self.runtime = runtime
        self.socket = self.workdir / "docker.sock"
        self.exec_root = self.workdir / "exec"
        self.cgroup_parent = "/" + unique("skiff-e2e-docker")
        config = self.workdir / "daemon.json"
        config.write_text("{}\n")
        etc = self.workdir / "etc-docker"
        etc.mkdir()
        (self.workdir / "cli").mkdir()
        self.env = dict(os.environ, DOCKER_CONFIG=str(self.workdir / "cli"),
                        DOCKER_HOST=f"unix://{self.socket}")
        self.env.pop("DOCKER_CONTEXT", None)
        argv = [DOCKERD, "--config-file", config, "--data-root", self.workdir / "data",
                "--exec-root", self.exec_root, "--pidfile", self.workdir / "docker.pid",
                "--host", f"unix://{self.socket}", "--bridge", "none", "--iptables=false",
                "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                "--userland-proxy=false", "--cgroup-parent", self.cgroup_parent,
                "--add-runtime", f"{self.RUNTIME_NAME}={runtime}"]
        with self.stopped_on_error():
            self.launch(argv, binds=[(etc, "/etc/docker")])
            self.wait_ready(lambda: self.socket.exists() and self("version").returncode == 0)

    def __call__(self, *args, timeout=TIMEOUT, input=None, **kwargs):
        """Run `docker ARGS`; return the CompletedProcess (text, output captured)."""
        if input is None:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run([DOCKER, *map(str, args)], input=input, capture_output=True,
                              text=True, timeout=timeout, env=self.env, **kwargs)

    def ok(self, *args, **kwargs):
        proc = self(*args, **kwargs)
        assert proc.returncode == 0, explain(proc)
        return proc.stdout

    def shell_command(self, *args):
        return shlex.join([DOCKER, *map(str, args)])

    def run_args(self):
        return ["run", "--runtime", self.RUNTIME_NAME, "--network", "none"]

    def run(self, *args, **kwargs):
        return self(*self.run_args(), *args, **kwargs)

    def import_image(self):
        tar = self.workdir / "rootfs.tar"
        subprocess.run([str(MKROOTFS_TAR), str(tar)], check=True)
        self.ok("import", "--change", 'CMD ["sh"]', tar, IMAGE, timeout=120)
        tar.unlink()

    def inspect(self, name, template):
        return self.ok("inspect", "--format", template, name).strip()

    def runtime_state(self, name):
        """The runtime's `state` of the container, from the root its shim gave it."""
        cid = self.inspect(name, "{{.Id}}")
        roots = list(self.exec_root.glob(f"runtime-*/*/{cid}"))
        assert roots, f"no runtime state dir for {cid} under {self.exec_root}"
        return subprocess.run([*self.in_mount_ns(), self.runtime, "--root", roots[0].parent,
                               "state", cid], capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)

    def remove(self, *names):
        if names:
            self("rm", "--force", *names)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            ids = self("ps", "--all", "--quiet").stdout.split()
            self.remove(*ids)
        super().stop()

    def kill_leftovers(self):
        kill_shims(str(self.exec_root / "containerd" / "containerd.sock"))
        remove_cgroup_tree(self.cgroup_parent)


def make_scratch(prefix):
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d
