#!/usr/bin/env python3
"""Self time of a workerd process by where each sample landed, from `perf script` output.

    PROFILE=1 KEEP=/tmp/prof CONTENDERS="rust-empty sy-ab" bench/workerd.sh
    cp /tmp/prof/perf-*.map /tmp/        # perf reads JIT symbols from /tmp/perf-<pid>.map
    perf script -i /tmp/prof/perf-sy-ab.data | python3 bench/perf-categories.py
    rm /tmp/perf-*.map

Prints the share of samples per category (workerd API, V8, kj, kernel, malloc, wasm code, ...)
and the wasm functions with the most self time (names need a router built with
CARGO_PROFILE_RELEASE_STRIP=false; see docs/readme-bench.md).
"""
import collections
import re
import sys


def stacks(lines):
    cur = None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                yield cur
            cur = None
            continue
        if line[0] in "\t ":
            if cur is not None:
                parts = line.strip().split(" ", 1)
                cur.append(parts[1] if len(parts) > 1 else parts[0])
        else:
            cur = []
    if cur:
        yield cur


def category(frame):
    if "[kernel" in frame:
        return "kernel"
    if "JS:" in frame and ("liftoff" in frame or "turbofan" in frame) and "index.js" not in frame:
        return "wasm code"
    if "JS:" in frame:
        return "JS (glue, worker code)"
    if any(b in frame for b in ("Builtins_Wasm", "Builtins_JSToWasm", "Builtins_WasmToJs")):
        return "V8 wasm<->JS builtins"
    if "Builtins_" in frame:
        return "V8 builtins"
    if any(g in frame for g in ("v8::internal::Heap", "Scaveng", "cppgc", "Sweep", "Mark")):
        return "V8 GC"
    if "v8::" in frame:
        return "V8 runtime"
    if "tcmalloc" in frame or "TCMalloc" in frame:
        return "malloc"
    if "workerd::" in frame or "jsg::" in frame:
        return "workerd API"
    if "kj::" in frame or "capnp" in frame:
        return "kj (event loop, HTTP)"
    return "other"


def main():
    cats = collections.Counter()
    wasm = collections.Counter()
    n = 0
    for s in stacks(sys.stdin):
        n += 1
        c = category(s[0])
        cats[c] += 1
        if c == "wasm code":
            name = re.sub(r"::h[0-9a-f]{16}", "", s[0].split("JS:", 1)[1])
            wasm[re.sub(r"\+0x[0-9a-f]+.*", "", name)[:100]] += 1
    if n == 0:
        sys.exit("no samples on stdin (perf script output expected)")
    print(f"samples {n}")
    for k, v in cats.most_common():
        print(f"{100 * v / n:5.1f}%  {k}")
    print("-- wasm functions, self time")
    for k, v in wasm.most_common(15):
        print(f"{100 * v / n:5.1f}%  {k}")


if __name__ == "__main__":
    main()
