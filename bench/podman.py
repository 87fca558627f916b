# SPDX-License-Identifier: Apache-2.0
"""`podman run --rm IMAGE true` with skiff, crun and runc as podman's OCI runtime, in one
run, each in a throwaway podman environment (storage, netns, cgroup parent) made by
tests/e2e/podman_env.py. Prints ms per container and the ratios. N=20 by default."""

import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from podman_env import IMAGE, PODMAN, Podman, make_scratch, runtime_path  # noqa: E402


def measure(choice, n, skiff):
    scratch = make_scratch()
    pm = None
    try:
        pm = Podman(scratch / "podman", runtime_path(choice, skiff, scratch))
        pm.import_image()
        for _ in range(2):  # warm caches: the first run of each sets up podman's state
            pm.ok(*pm.run_args(), "--rm", IMAGE, "true")
        start = time.monotonic()
        for _ in range(n):
            pm.ok(*pm.run_args(), "--rm", IMAGE, "true")
        return (time.monotonic() - start) * 1000 / n
    finally:
        if pm:
            pm.reset()
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    if os.geteuid() != 0 or not PODMAN:
        print("bench/podman.py: needs root and podman (make deps)", file=sys.stderr)
        return 1
    n = int(os.environ.get("N", "20"))
    skiff = os.environ.get("SKIFF_BIN", REPO / "build" / "skiff-runtime")
    results = {}
    for choice in ("skiff", "crun", "runc"):
        print(f"bench: podman on {choice}, {n} containers...", file=sys.stderr)
        results[choice] = measure(choice, n, skiff)
    print(f"\npodman run --rm IMAGE true, N={n}")
    print(f"{'runtime':<10} {'ms/container':>14}")
    for name, ms in results.items():
        print(f"{name:<10} {ms:>14.1f}")
    print()
    for other in ("crun", "runc"):
        print(f"skiff/{other}: {results['skiff'] / results[other]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
