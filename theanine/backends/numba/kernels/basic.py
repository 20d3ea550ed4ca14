"""Small helpers of generated kernels: NaN-propagating maximum and minimum (as
NumPy's), sign, rounding, the phase of a complex number, bounds checks of
integer indices, the rows of a scan's ring buffer in step order, and a scan's
sequence as rows in contiguous memory.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["nan_max", "nan_min", "sign_of", "round_half_even", "angle_of", "check_index",
           "ring_in_order", "c_rows"]

# Not inline="always": numba then inlines and re-types each helper at every call
# site (a quadratic cost in big loop bodies); LLVM inlines these small functions
# anyway. Except a function that raises: LLVM does not inline numba's exception
# paths, and a call per element costs ~25 ns (check_index in a 1e6-step loop:
# 2.8 -> 25 ms), so it is inlined by numba (_JI).
_J = numba.njit(error_model="numpy", nogil=True)
_JI = numba.njit(error_model="numpy", nogil=True, inline="always")


@_J
def nan_max(a, b):
    return a if (a > b or a != a) else b


@_J
def nan_min(a, b):
    return a if (a < b or a != a) else b


@_J
def sign_of(x):
    return np.sign(x)


@_J
def round_half_even(x):
    return np.rint(x)


@_J
def angle_of(x):
    return math.atan2(x.imag, x.real)


@_JI
def check_index(i, n, axis):
    if i < -n or i >= n:
        raise IndexError("index out of bounds for a dimension of the indexed tensor")
    return i


@numba.njit(error_model="numpy", nogil=True)
def ring_in_order(buf, steps):
    """The rows of a ring buffer that kept the last buf.shape[0] of `steps` rows
    (row t at t % rows), oldest first."""
    rows = buf.shape[0]
    if steps <= rows:
        return buf[:steps]
    cut = steps % rows
    if cut == 0:
        return buf
    return np.concatenate((buf[cut:], buf[:cut]))


@numba.njit(error_model="numpy", nogil=True)
def c_rows(a):
    """(how, rows) for a scan's sequence `a` of any strides, read a row a step: how 1,
    rows is `a` as a C-contiguous array (no copy); how -1, `a` reversed is, and rows is
    that (row t of a is rows[len - 1 - t]); how 0, a's rows are not contiguous (rows is
    empty: each row is copied when read). Checked once a call: np.ascontiguousarray on
    every row checked its strides at every step (9 ns a step and sequence)."""
    if a.flags.c_contiguous:
        return 1, np.ascontiguousarray(a)
    r = a[::-1]
    if r.flags.c_contiguous:
        return -1, np.ascontiguousarray(r)
    return 0, np.empty((0,) + a.shape[1:], a.dtype)
