"""MRG_RandomStreams' draws in compiled code: MRG31k3p uniforms (Theano's int32
arithmetic with wrap-around, bit for bit the NumPy implementation in
sandbox/mrg_core.py), and the multinomial and choice draws from uniforms.

The states are copied into six int32 columns (one per state number): a round
advances every stream once, with no dependency between streams (2.5 ns a sample
here, 4x the stream-by-stream order). np.int32(...) wraps as Theano's C code. The
state input is copied, never changed.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["mrg_uniform_f32", "mrg_uniform_f64", "mrg_first_above", "mrg_check_from_uniform",
           "mrg_choice_from_uniform"]

_J = numba.njit(error_model="numpy", nogil=True)
_INLINE = numba.njit(error_model="numpy", nogil=True, inline="always")
_M1 = np.int32(2147483647)
_M2 = np.int32(2147462579)


@_J
def _columns(state, size):
    """Check the arguments; (samples asked for, the first min(streams, samples)
    states as six int32 columns)."""
    n = 1
    for s in size:
        if s < 0:
            raise ValueError("MRG uniform: size must hold non-negative lengths")
        n *= s
    if n > 2147483647:
        raise ValueError("MRG uniform: at most 2**31 - 1 samples per draw")
    if state.shape[1] != 6 or state.shape[0] == 0:
        raise ValueError("MRG uniform: the random state must be an (n_streams, 6) matrix")
    k = min(state.shape[0], n)
    cols = np.empty((6, k), np.int32)
    for j in range(k):
        for q in range(6):
            cols[q, j] = state[j, q]
    return n, cols


@_INLINE
def _next(x11, x12, x13, x21, x22, x23, j):
    """Advance stream j (the six state columns) once; its integer sample in [1, M1]."""
    a2, a3 = x12[j], x13[j]
    y1 = np.int32(((a2 & np.int32(511)) << np.int32(22)) + (a2 >> np.int32(9))
                  + ((a3 & np.int32(16777215)) << np.int32(7)) + (a3 >> np.int32(24)))
    y1 = np.int32(y1 - _M1) if y1 < 0 or y1 >= _M1 else y1
    y1 = np.int32(y1 + a3)
    y1 = np.int32(y1 - _M1) if y1 < 0 or y1 >= _M1 else y1
    b1, b3 = x21[j], x23[j]
    a = np.int32(((b1 & np.int32(65535)) << np.int32(15))
                 + np.int32(21069) * (b1 >> np.int32(16)))
    a = np.int32(a - _M2) if a < 0 or a >= _M2 else a
    b = np.int32(((b3 & np.int32(65535)) << np.int32(15))
                 + np.int32(21069) * (b3 >> np.int32(16)))
    b = np.int32(b - _M2) if b < 0 or b >= _M2 else b
    b = np.int32(b + b3)
    b = np.int32(b - _M2) if b < 0 or b >= _M2 else b
    b = np.int32(b + a)
    b = np.int32(b - _M2) if b < 0 or b >= _M2 else b
    x13[j], x12[j], x11[j] = a2, x11[j], y1
    x23[j], x22[j], x21[j] = x22[j], b1, b
    return y1 - b + _M1 if y1 <= b else y1 - b


@_J
def _new_state(state, cols):
    st = state.copy()
    for j in range(cols.shape[1]):
        for q in range(6):
            st[j, q] = cols[q, j]
    return st


@_J
def _fill(cols, n, out):
    """Advance the streams (the six state columns `cols`) for n samples; sample i in
    out[i], converted to out's dtype (float32 rounds as np.float32(z) does)."""
    k = cols.shape[1]  # min(streams, n): a round of draws advances each stream once
    x11, x12, x13, x21, x22, x23 = cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    for lo in range(0, n, max(k, 1)):
        for j in range(min(k, n - lo)):
            out[lo + j] = _next(x11, x12, x13, x21, x22, x23, j)


@_J
def mrg_uniform_f64(state, size):
    """(new state, flat float64 samples) for the samples of `size`."""
    n, cols = _columns(state, size)
    out = np.empty(n, np.float64)
    _fill(cols, n, out)
    out *= 4.656612873077392578125e-10
    return _new_state(state, cols), out


@_J
def mrg_uniform_f32(state, size):
    """(new state, flat float32 samples) for the samples of `size`: float32(z) times
    the float32 scale, in float32, as the py op."""
    n, cols = _columns(state, size)
    out = np.empty(n, np.float32)
    _fill(cols, n, out)
    out *= np.float32(4.6566126e-10)
    return _new_state(state, cols), out


@_J
def mrg_first_above(p, r, u):
    """The first column whose running float64 sum of p[r] exceeds u (p.shape[1]
    when none)."""
    acc = 0.0
    for m in range(p.shape[1]):
        acc += np.float64(p[r, m])
        if acc > u:
            return m
    return p.shape[1]


@_J
def mrg_check_from_uniform(pvals, unis, n):
    if n < 0:
        raise ValueError("multinomial/choice: n must be >= 0")
    if unis.shape[0] != pvals.shape[0] * n:
        raise ValueError("multinomial/choice: unis must hold pvals.shape[0] * n uniforms")


@_J
def mrg_choice_from_uniform(pvals, unis, n, out):
    """Draw n distinct outcomes per row of pvals into out (rows, n): each draw zeroes
    the drawn outcome's probability and renormalises the row."""
    rows, k = pvals.shape
    if n > k:
        raise ValueError("choice: cannot draw more distinct outcomes than p has columns")
    p = pvals.copy()
    for c in range(n):
        for r in range(rows):
            m = mrg_first_above(p, r, np.float64(unis[c * rows + r]))
            if m < k:
                out[r, c] = m
                if c < n - 1:
                    p[r, m] = 0
                    total = p[r, 0]
                    for q in range(1, k):
                        total += p[r, q]
                    for q in range(k):
                        p[r, q] = p[r, q] / total
