# SPDX-License-Identifier: Apache-2.0
"""Pull + unpack of a multi-layer Debian image from a local registry, side by side:

  skiff         `skiff image --root DIR pull --insecure REF` + `skiff image bundle REF B`
  skopeo+umoci  `skopeo copy docker://REF oci:DIR:1` + `umoci unpack --image DIR:1 B`
  podman        `podman pull --tls-verify=false REF` with the storage and configuration
                of tests/e2e/podman_env.py's throwaway environment (its vfs driver, and
                overlay as a second contender), outside its netns to reach the registry

The image is bench/mkimage.sh's OCI layout, pushed with skopeo into Debian's
docker-registry on 127.0.0.1 (tests/e2e/test_image_registry.py's Registry). Every run
starts from an empty store on the same file system (under /var/tmp); each contender
pulls once to warm the page cache (it cannot be dropped on a shared machine), then the
contenders take turns for N rounds. Wall time covers the steps above, not the checks
and removal after them; peak RSS is the largest of the steps' (/usr/bin/time %M).
Prints a table and skiff's ratios.

  pull.py run LAYOUT WORKDIR     the benchmark (bench/pull.sh)
  pull.py layout ROOTFS OUT      an OCI layout of ROOTFS, 5 layers (bench/mkimage.sh)

Environment: N (default 3), SKIFF_BIN (default build/skiff-runtime; skiff beside it),
PODMAN_DRIVERS (default "vfs overlay").
"""

import gzip
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TAG = "1"
REPOSITORY = "bench/debian"
STEP_TIMEOUT = 600

# ---- the OCI layout ----

# (name, predicate on the path relative to the root); a path goes to the first match,
# and every directory comes in a layer no later than its contents
LAYERS = (
    ("base", None),
    ("usr", lambda p: p == "usr" or p.startswith("usr/")),
    ("usr/lib", lambda p: p == "usr/lib" or p.startswith("usr/lib/")),
    ("usr/lib/x86_64-linux-gnu",
     lambda p: p == "usr/lib/x86_64-linux-gnu" or p.startswith("usr/lib/x86_64-linux-gnu/")),
    ("usr/share", lambda p: p == "usr/share" or p.startswith("usr/share/")),
)
CREATED = "2024-01-01T00:00:00Z"


def layer_of(path):
    """Index in LAYERS of the layer holding `path`: the most specific predicate wins."""
    best = 0
    for i, (_, match) in enumerate(LAYERS):
        if match and match(path):
            best = i
    return best


class HashWriter:
    """A write-only file that hashes and counts what passes through to `out`."""

    def __init__(self, out):
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self):
        self.out.flush()


def walk(root):
    """Paths under root relative to it, sorted, parents first; dev, proc, sys, run emptied."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel
        if rel in ("dev", "proc", "sys", "run"):
            dirnames[:] = []
            continue
        dirnames.sort()
        names = sorted(dirnames + filenames)
        # directories are yielded here, before os.walk descends into them
        for name in names:
            yield os.path.join(rel, name) if rel else name


def write_layer(root, paths, blobs):
    """One gzip layer of `paths`; returns (descriptor, diff id, uncompressed size)."""
    tmp = blobs / "layer.partial"
    with open(tmp, "wb") as raw:
        compressed = HashWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:
            plain = HashWriter(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for rel in paths:
                    info = tar.gettarinfo(os.path.join(root, rel), arcname=rel)
                    if info is None:  # a socket
                        continue
                    info.uname = info.gname = ""
                    if info.isreg():
                        with open(os.path.join(root, rel), "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
    digest = "sha256:" + compressed.sha.hexdigest()
    tmp.rename(blobs / compressed.sha.hexdigest())
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": compressed.size}
    return desc, "sha256:" + plain.sha.hexdigest(), plain.size


def write_blob(blobs, data):
    hexd = hashlib.sha256(data).hexdigest()
    (blobs / hexd).write_bytes(data)
    return "sha256:" + hexd, len(data)


def make_layout(rootfs, out):
    root = Path(rootfs)
    out = Path(out)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    parts = [[] for _ in LAYERS]
    for rel in walk(root):
        parts[layer_of(rel)].append(rel)
    layers, diff_ids, history, total = [], [], [], 0
    for (name, _), paths in zip(LAYERS, parts):
        desc, diff_id, size = write_layer(root, paths, blobs)
        layers.append(desc)
        diff_ids.append(diff_id)
        history.append({"created": CREATED, "created_by": f"bench/mkimage.sh: {name}"})
        total += size
        print(f"layer {name}: {len(paths)} entries, {size / 1e6:.1f} MB, "
              f"{desc['size'] / 1e6:.1f} MB gzip", file=sys.stderr)
    if total < 200e6:
        raise SystemExit(f"bench/pull.py: the image is {total / 1e6:.0f} MB uncompressed, "
                         f"less than 200 MB: add packages in bench/mkimage.sh")
    config = {
        "created": CREATED, "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    cdigest, csize = write_blob(blobs, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cdigest, "size": csize},
        "layers": layers,
    }
    mdigest, msize = write_blob(blobs, json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": mdigest, "size": msize,
        "annotations": {"org.opencontainers.image.ref.name": TAG}}]}
    (out / "index.json").write_text(json.dumps(index))
    (out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    print(f"{len(layers)} layers, {total / 1e6:.1f} MB, "
          f"{sum(d['size'] for d in layers) / 1e6:.1f} MB gzip", file=sys.stderr)


def layout_sizes(layout):
    """(layer count, compressed bytes, uncompressed bytes) of LAYOUT's image."""
    layout = Path(layout)
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    packed = sum(d["size"] for d in manifest["layers"])
    unpacked = 0
    for d in manifest["layers"]:
        with gzip.open(blobs / d["digest"].split(":")[1]) as f:
            while chunk := f.read(1 << 20):
                unpacked += len(chunk)
    return len(manifest["layers"]), packed, unpacked


# ---- the contenders ----

class Failure(Exception):
    pass


def timed(argv, log, env=None):
    """Run argv under /usr/bin/time; return (seconds, peak RSS in KiB). Raises Failure."""
    rss = log.with_suffix(".rss")
    start = time.monotonic()
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(map(str, argv))}\n".encode())
        out.flush()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss)]
                              + [str(a) for a in argv], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=out, env=env, timeout=STEP_TIMEOUT)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise Failure(f"`{' '.join(map(str, argv))}` exited {proc.returncode}; "
                      f"its output:\n{log.read_text()}")
    # time's file may carry "Command exited with non-zero status" first
    return elapsed, int(rss.read_text().split()[-1])


class Steps:
    """The timed steps of one run: their total wall time, seconds each and largest RSS."""

    def __init__(self):
        self.start = time.monotonic()
        self.seconds, self.rss = [], 0

    def run(self, argv, log, env=None):
        elapsed, rss = timed(argv, log, env)
        self.seconds.append(elapsed)
        self.rss = max(self.rss, rss)

    def done(self):
        self.elapsed = time.monotonic() - self.start
        return self


def check_rootfs(rootfs):
    for path in ("usr/bin/python3", "usr/bin/perl", "etc/debian_version"):
        if not (rootfs / path).exists():
            raise Failure(f"'{rootfs / path}' is missing after the unpack")


class Skiff:
    name = "skiff"
    steps = ("pull", "bundle")

    def __init__(self, bench):
        self.bench = bench
        self.bin = Path(os.environ.get("SKIFF_BIN", REPO / "build" / "skiff-runtime")) \
            .with_name("skiff")

    def run(self, i):
        d = self.bench.scratch(f"skiff-{i}")
        root, bundle, log = d / "root", d / "bundle", d / "log"
        ref = self.bench.ref

        def remove():
            if (bundle / "rootfs").exists():
                subprocess.run([self.bin, "image", "--root", root, "unmount", bundle],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.bench.remove(d)

        self.bench.later(remove)
        steps = Steps()
        steps.run([self.bin, "image", "--root", root, "pull", "--insecure", ref], log)
        steps.run([self.bin, "image", "--root", root, "bundle", ref, bundle], log)
        steps.done()
        check_rootfs(bundle / "rootfs")
        return steps


class SkopeoUmoci:
    name = "skopeo+umoci"
    steps = ("skopeo copy", "umoci unpack")

    def __init__(self, bench):
        self.bench = bench

    def run(self, i):
        d = self.bench.scratch(f"skopeo-{i}")
        oci, bundle, log = d / "oci", d / "bundle", d / "log"
        self.bench.later(lambda: self.bench.remove(d))
        steps = Steps()
        steps.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                   f"docker://{self.bench.ref}", f"oci:{oci}:{TAG}"], log)
        steps.run(["umoci", "unpack", "--image", f"{oci}:{TAG}", bundle], log)
        steps.done()
        check_rootfs(bundle / "rootfs")
        return steps


class Podman:
    def __init__(self, bench, driver):
        self.bench, self.driver = bench, driver
        self.name = f"podman ({driver})"
        self.steps = ("pull",)

    def run(self, i):
        from podman_env import PODMAN, Podman as Env, runtime_path

        driver = self.driver

        class DriverEnv(Env):
            """podman_env's instance, whose storage uses `driver` instead of vfs."""

            def __init__(self, *args):
                super().__init__(*args)
                conf = self.workdir / "storage.conf"
                conf.write_text(conf.read_text().replace('"vfs"', f'"{driver}"'))

            def command(self, *args, runtime=None):
                cmd = super().command(*args, runtime=runtime)
                cmd[cmd.index("--storage-driver") + 1] = driver
                return cmd

        # podman refuses a runroot (here d/runroot) longer than 50 characters
        d = self.bench.scratch(f"pm-{driver}-{i}")
        self.bench.later(lambda: self.bench.remove(d))
        pm = (Env if driver == "vfs" else DriverEnv)(d, runtime_path("runc", None, d))
        self.bench.note_netns(pm.netns)
        self.bench.later(pm.reset)
        # outside the env's netns, where the registry is; a pull sets up no network
        argv = pm.command("pull", "--quiet", "--tls-verify=false", self.bench.ref)
        argv = argv[argv.index(PODMAN):]
        steps = Steps()
        steps.run(argv, d / "log", env=pm.env)
        steps.done()
        out = pm("image", "mount", self.bench.ref)
        if out.returncode != 0:
            raise Failure(f"podman image mount: {out.stderr}")
        try:
            check_rootfs(Path(out.stdout.strip()))
        finally:
            pm("image", "unmount", "--all")
        return steps


# ---- the run ----

class Bench:
    """The work dir and what to undo in it. Stores are removed only at the end: a tree
    just deleted slows down the next one created (ext4 skips its inodes while they are
    recent, scanning for others), which would charge each contender for the last."""

    def __init__(self, workdir):
        self.work = Path(workdir)
        self.ref = None
        self.undo = []

    def later(self, fn):
        self.undo.append(fn)

    def cleanup(self):
        while self.undo:
            try:
                self.undo.pop()()
            except Exception as e:  # noqa: BLE001 - the rest must still be undone
                print(f"bench/pull.py: cleanup: {e}, ignoring", file=sys.stderr)

    def scratch(self, name):
        d = self.work / name
        d.mkdir(mode=0o755)
        return d

    def note_netns(self, name):
        """For pull.sh's trap, should this process die before podman_env's reset."""
        with open(self.work / "netns", "a") as f:
            f.write(name + "\n")

    def remove(self, d):
        unmount_under(d)
        shutil.rmtree(d, ignore_errors=True)


def unmount_under(d):
    """Lazily unmount whatever is mounted at or below d, deepest first."""
    prefix = str(d).rstrip("/") + "/"
    targets = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].encode().decode("unicode_escape")
            if (target + "/").startswith(prefix):
                targets.append(target)
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], stderr=subprocess.DEVNULL)


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def fmt_rss(kib):
    return f"{kib / 1024:.0f} MiB"


def run(layout, workdir):
    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from test_image_registry import Registry

    n = int(os.environ.get("N", "3"))
    drivers = os.environ.get("PODMAN_DRIVERS", "vfs overlay").split()
    bench = Bench(workdir)
    # skopeo's blob-info cache, made as root whatever its options say (podman_env's
    # reset takes care of podman's)
    absent = [p for p in [Path("/var/lib/containers/cache")] if not p.exists()]
    # SIGTERM/SIGHUP unwind through the finally clauses like Ctrl-C does
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    registry = None
    try:
        layers, packed, unpacked = layout_sizes(layout)
        # every store stays until the end: about 1.5 GB per round of the four
        need = (n + 1) * len(drivers + ["skiff", "skopeo"]) * 2 * unpacked
        free = shutil.disk_usage(bench.work).free
        if free < need:
            raise Failure(f"{free / 1e9:.1f} GB free under {bench.work}, "
                          f"{need / 1e9:.1f} GB needed")
        registry = Registry(bench.work / "registry")
        (bench.work / "registry.pid").write_text(str(registry.proc.pid))
        bench.ref = f"{registry.addr}/{REPOSITORY}:{TAG}"
        print(f"bench: pushing {layers} layers ({packed / 1e6:.0f} MB gzip) to {bench.ref}",
              file=sys.stderr)
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci:{layout}:{TAG}", f"docker://{bench.ref}"], check=True,
                       stdin=subprocess.DEVNULL, timeout=STEP_TIMEOUT)
        contenders = [Skiff(bench), SkopeoUmoci(bench)] + [Podman(bench, d) for d in drivers]
        runs = {c.name: [] for c in contenders}
        for c in contenders:
            print(f"bench: warm-up {c.name}", file=sys.stderr)
            c.run("w")
        for i in range(n):
            for c in contenders:
                steps = c.run(i)
                print(f"bench: round {i + 1}/{n} {c.name}: {steps.elapsed:.2f} s "
                      f"({' + '.join(f'{t:.2f}' for t in steps.seconds)}), {fmt_rss(steps.rss)}",
                      file=sys.stderr)
                runs[c.name].append(steps)
    except Failure as e:
        print(f"bench/pull.py: {e}", file=sys.stderr)
        return 1
    finally:
        print("bench: cleaning up", file=sys.stderr)
        bench.cleanup()
        if registry:
            registry.stop()
        for p in absent:
            shutil.rmtree(p, ignore_errors=True)
            try:
                p.parent.rmdir()
            except OSError:
                pass

    report(contenders, runs, bench.ref, n, layers, packed, unpacked)
    return 0


def report(contenders, runs, ref, n, layers, packed, unpacked):
    med = {c.name: statistics.median(r.elapsed for r in runs[c.name]) for c in contenders}
    print(f"\npull + unpack of {ref.split('/', 1)[1]} from a local registry: "
          f"{layers} layers, {packed / 1e6:.0f} MB gzip, {unpacked / 1e6:.0f} MB unpacked; "
          f"N={n}, fresh store per run, warm page cache")
    head = "".join(f"{f'run {i + 1}':>8}" for i in range(n))
    print(f"{'contender':<18}{head}{'median':>9}{'peak RSS':>11}")
    for c in contenders:
        cells = "".join(f"{r.elapsed:>8.2f}" for r in runs[c.name])
        rss = max(r.rss for r in runs[c.name])
        print(f"{c.name:<18}{cells}{med[c.name]:>9.2f}{fmt_rss(rss):>11}")
    print("(seconds, wall time of all steps; peak RSS: the largest process of the steps)")
    for c in contenders:
        if len(c.steps) > 1:
            parts = ", ".join(
                f"{name} {statistics.median(r.seconds[k] for r in runs[c.name]):.2f} s"
                for k, name in enumerate(c.steps))
            print(f"  {c.name} steps (median): {parts}")
    print()
    others = [c.name for c in contenders if c.name != "skiff"]
    for name in others:
        print(f"skiff / {name}: {med['skiff'] / med[name]:.2f}x")
    fastest = min(others, key=med.get)
    print(f"skiff / fastest other ({fastest}): {med['skiff'] / med[fastest]:.2f}x")


def main(argv):
    if argv[:1] == ["layout"] and len(argv) == 3:
        make_layout(argv[1], argv[2])
        return 0
    if argv[:1] == ["run"] and len(argv) == 3:
        try:
            return run(argv[1], argv[2])
        except KeyboardInterrupt as e:
            print(f"bench/pull.py: interrupted ({e or 'SIGINT'}), cleaned up", file=sys.stderr)
            return 130
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
