#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Folds heaptrack's allocation stacks (heaptrack_print --flamegraph-cost-type allocations
-F) into allocation calls per pod: in all, for JSON trees (stacks through jansson or
skiff's JSON reader), by the function that called the allocator, and by the server's code
that asked for them (the first frame above the allocation and JSON helpers, with its
caller)."""
import argparse
import collections

# frames that allocate for someone else: the allocation wrappers, jansson, the JSON reader
# and writer, the C library
HELPERS = (
    "xmalloc", "xcalloc", "xrealloc", "xstrdup", "xstrndup", "xasprintf", "xvasprintf",
    "jload_b", "jload_s", "read_value", "read_object", "read_array", "read_string",
    "read_number", "jdump_s", "put", "put_char", "put_string", "put_value", "put_integer",
    "reserve", "cleanup_json_fn",
)


def helper(frame):
    name = frame.split(" (")[0]
    return (name in HELPERS or name.startswith(("json_", "0x", "__", "_IO", "str", "malloc",
                                                "calloc", "realloc", "vasprintf"))
            or name == "??")


def read_stacks(path):
    """Yields ([frames, outermost first], allocation calls) per line."""
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or " " not in line:
                continue
            stack, n = line.rsplit(" ", 1)
            frames = [fr for fr in stack.split(";") if fr]
            if frames and n.isdigit():
                yield frames, int(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folded")
    ap.add_argument("--pods", type=int, required=True, help="pods the run created")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    total = json_total = 0
    callers, sites = collections.Counter(), collections.Counter()
    for frames, n in read_stacks(args.folded):
        total += n
        if any(fr.startswith(("json_", "jload_")) for fr in frames):
            json_total += n
        named = [fr.split(" (")[0] for fr in frames if not fr.startswith("0x")]
        callers[named[-1] if named else "?"] += n
        i = len(frames) - 1
        while i > 0 and helper(frames[i]):
            i -= 1
        site = frames[i].split(" (")[0]
        # inlined frames repeat a name or sit out of order: the caller is the next outer
        # frame of the server's own with another name
        j = i - 1
        while j >= 0 and (helper(frames[j]) or frames[j].split(" (")[0] == site):
            j -= 1
        caller = frames[j].split(" (")[0] if j >= 0 else ""
        sites[f"{site} <- {caller}" if caller else site] += n

    pods = max(args.pods, 1)
    print(f"allocs: {total} allocation calls, {total / pods:.0f} per pod; "
          f"{100.0 * json_total / max(total, 1):.1f}% of them for JSON trees")
    for title, counter in (("by the allocator's caller", callers), ("by the code asking", sites)):
        print(f"--- {title}: per pod, share")
        for name, n in counter.most_common(args.top):
            print(f"{n / pods:9.1f}  {100.0 * n / max(total, 1):5.1f}%  {name}")


if __name__ == "__main__":
    main()
