"""Background compile worker: reads [{key, path, sig}] as JSON on stdin and
compiles each kernel into the disk cache (store.Kernel.compile, under its lock)."""

from __future__ import annotations

import json
import sys

import numba
import numpy as np
from numba import types

from . import store


def main():
    jobs = json.loads(sys.stdin.read() or "[]")
    failed = 0
    for job in jobs:
        try:
            with open(job["path"], encoding="utf-8") as f:
                text = f.read()
            k = store.get(text)
            if k.key != job["key"]:
                continue  # another library version wrote it: the main process compiles
            sig = tuple(types.Array(numba.from_dtype(np.dtype(dt)), nd, layout,
                                    readonly=readonly)
                        for dt, nd, layout, readonly in job["sig"])
            k.compile(sig)
        except Exception:  # noqa: BLE001 - the main process falls back or compiles itself
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
