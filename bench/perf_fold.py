#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Folds the call graphs of `perf script -F comm,ip,sym,dso` into shares of the samples: per
thread name, per function as the sampled frame itself (self), and per function anywhere
on the sampled stack (inclusive, counted once per sample). A frame without a symbol is
named by its file ("[unknown] libmimalloc.so.2.0"). With --under, the shares are of the
samples that pass through that function, and a table of its callees is added."""
import argparse
import collections
import os
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
                dso = ""
                # the file, "(/usr/lib/…)" or "([kernel.kallsyms])", not "(inlined)"
                if sym.endswith(")") and " (" in sym and sym.rsplit(" (", 1)[1][0] in "/[":
                    sym, dso = sym[:-1].rsplit(" (", 1)
                sym = sym.split("+0x")[0].strip()
                if sym == "[unknown]" and dso and dso != "[unknown]":
                    sym = f"[unknown] {os.path.basename(dso)}"
                stack.append(sym)
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
    ap.add_argument("script_output", help="the output of perf script -F comm,ip,sym,dso")
    ap.add_argument("--top", type=int, default=40, help="rows per table (default 40)")
    ap.add_argument("--thread", help="only the samples of this thread name")
    ap.add_argument("--under", help="only the samples that pass through this function")
    args = ap.parse_args()

    threads = collections.Counter()
    own = collections.Counter()
    anywhere = collections.Counter()
    callees = collections.Counter()
    total = 0
    for comm, stack in read_samples(args.script_output):
        if args.thread and comm != args.thread:
            continue
        if args.under:
            at = [i for i, name in enumerate(stack) if name == args.under]
            if not at:
                continue
            # the outermost call: recursion counts once
            callees[stack[at[-1] - 1] if at[-1] > 0 else "(itself)"] += 1
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
    if args.under:
        table(f"called by {args.under}", callees, total, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
