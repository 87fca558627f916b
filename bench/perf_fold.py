#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Folds the call graphs of `perf script -F comm,ip,sym` into shares of the samples: per
thread name, per function as the sampled frame itself (self), and per function anywhere
on the sampled stack (inclusive, counted once per sample)."""
import argparse
import collections
import sys


def read_samples(path):
    """Yields (thread name, [frames, innermost first]) for each sample of the file."""
    comm, stack = None, []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if comm is not None:
                    yield comm, stack
                comm, stack = None, []
            elif line[0] in " \t":
                fields = line.split(None, 1)
                sym = fields[1] if len(fields) > 1 else "[unknown]"
                stack.append(sym.split("+0x")[0].strip())
            else:
                if comm is not None:
                    yield comm, stack
                comm, stack = line.strip(), []
    if comm is not None:
        yield comm, stack


def table(title, counter, total, top):
    print(f"--- {title}")
    for name, n in counter.most_common(top):
        print(f"{100.0 * n / total:6.1f}%  {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("script_output", help="the output of perf script -F comm,ip,sym")
    ap.add_argument("--top", type=int, default=40, help="rows per table (default 40)")
    ap.add_argument("--thread", help="only the samples of this thread name")
    args = ap.parse_args()

    threads = collections.Counter()
    own = collections.Counter()
    anywhere = collections.Counter()
    total = 0
    for comm, stack in read_samples(args.script_output):
        if args.thread and comm != args.thread:
            continue
        total += 1
        threads[comm] += 1
        own[stack[0] if stack else "[unknown]"] += 1
        for name in set(stack):
            anywhere[name] += 1
    if not total:
        print("perf_fold: no samples", file=sys.stderr)
        return 1
    print(f"{total} samples")
    table("threads", threads, total, args.top)
    table("self", own, total, args.top)
    table("inclusive", anywhere, total, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
