"""np.unique in compiled code (the Unique emitter): a stable sort and a mask of
the first of each run of equal values (or rows), and the index / inverse / counts
outputs from them.

Stable sorts (mergesort), so the index output is each value's first occurrence,
as NumPy's. NaNs sort last and, flattened, count as one value (NumPy's
equal_nan); rows are ordered lexicographically and rows holding a NaN are all
distinct, as NumPy's structured comparison.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["unique_flat", "unique_rows", "unique_extras"]

_J = numba.njit(error_model="numpy", nogil=True)


@_J
def unique_flat(flat):
    """(perm sorting flat stably, mask of the first of each run of equal values)."""
    perm = np.argsort(flat, kind="mergesort")
    srt = flat[perm]
    mask = np.ones(srt.size, np.bool_)
    for i in range(1, srt.size):
        nan_pair = srt[i] != srt[i] and srt[i - 1] != srt[i - 1]
        mask[i] = srt[i] != srt[i - 1] and not nan_pair
    return perm, mask


@_J
def unique_rows(rows):
    """(perm sorting the rows lexicographically and stably, mask of the first of
    each run of equal rows)."""
    n, ncols = rows.shape
    perm = np.arange(n)
    for c in range(ncols - 1, -1, -1):
        perm = perm[np.argsort(rows[perm, c], kind="mergesort")]
    mask = np.ones(n, np.bool_)
    for i in range(1, n):
        same = True
        for c in range(ncols):
            same = same and rows[perm[i], c] == rows[perm[i - 1], c]
        mask[i] = not same
    return perm, mask


@_J
def unique_extras(perm, mask):
    """(index, inverse, counts) of np.unique from a sort and its mask."""
    n = mask.size
    u = 0
    for i in range(n):
        u += mask[i]
    index, inverse, counts = np.empty(u, np.int64), np.empty(n, np.int64), np.zeros(u, np.int64)
    j = -1
    for i in range(n):
        if mask[i]:
            j += 1
            index[j] = perm[i]
        inverse[perm[i]] = j
        counts[j] += 1
    return index, inverse, counts
