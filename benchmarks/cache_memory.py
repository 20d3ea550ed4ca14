"""Memory held by compiled code: RSS while building, calling and dropping functions.

    python benchmarks/cache_memory.py            # 200 functions, Markdown table
    python benchmarks/cache_memory.py -n 50

Each function is a distinct elementwise chain (one distinct numba kernel), compiled
under policy 'sync' (or loaded from the disk cache on a second run), called once,
then dropped (``del f``) or kept. The table shows the resident set size after
numba has started, and its growth per function: with kept functions the code must
stay; with dropped ones it should be released (store.py frees a kernel no function
uses; numba frees its code with the dispatcher). Uses its own cache directory,
filled by a first pass, so the second pass measures loading.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("THEANINE_CACHE_DIR", tempfile.mkdtemp(prefix="theanine-mem-"))

import numpy as np  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.numba import linker  # noqa: E402

OPS = [T.tanh, T.sin, T.cos, T.exp, T.log1p, T.sqrt, T.arctan, T.expm1]


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def build(i):
    x = T.dvector("x")
    y = abs(x)
    for d in (i % 8, i // 8 % 8, i // 64 % 8):
        y = OPS[d](abs(y)) * 0.5 + 0.25
    return theano.function([x], y, mode=theano.Mode(linker="numba", optimizer="fast_run"))


def run(n, keep):
    held, data = [], np.linspace(0.1, 1.0, 1000)
    with linker.policy("sync", "all"):
        build(511)(data)  # numba started, its own code loaded
        gc.collect()
        start = rss_mb()
        for i in range(n):
            f = build(i)
            f(data)
            if keep:
                held.append(f)
            del f
        gc.collect()
        end = rss_mb()
    return start, end


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=200)
    args = p.parse_args(argv)
    rows = []
    for label, keep in (("compile, drop each", False), ("load, drop each", False),
                        ("load, keep all", True)):
        start, end = run(args.n, keep)
        rows.append((label, start, end, (end - start) / args.n))
    print(f"RSS over {args.n} distinct functions (numba backend, policy sync), "
          f"cache {os.environ['THEANINE_CACHE_DIR']}\n")
    print("| pass | RSS at start (MB) | RSS at end (MB) | growth per function (MB) |")
    print("|---|---:|---:|---:|")
    for label, start, end, per in rows:
        print(f"| {label} | {start:.0f} | {end:.0f} | {per:.2f} |")


if __name__ == "__main__":
    main()
