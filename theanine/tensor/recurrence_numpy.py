"""NumPy implementations of LinearRecurrence (see recurrence.py for the semantics).

- add, mul, max, min: ``np.cumsum`` / ``np.cumprod`` / ``np.maximum.accumulate`` over
  the operand with h0 folded into its first row, which is the sequential loop's
  arithmetic exactly (NumPy accumulates rows in order); final only: h0 combined with
  the reduction of the operand (``np.sum`` adds pairwise: rounding differs).
- affine and matrix: a Python loop over the steps costs ~1 us a step, so when the
  cost model says so (``chunks``), a chunked two-pass scan: the first K*L steps are K
  chunks of L steps; pass 1 runs the K chunks side by side from a zero state (one
  NumPy operation over all chunks per step) and keeps each chunk's composed map
  (product of A, or M**L, and the state reached); the chunks' starting states follow
  by composing those K maps in order; pass 2 reruns the chunks side by side from
  their true starting states, storing the trace. Within a chunk pass 2 does the
  sequential loop's arithmetic; only the starting states are reassociated. The last
  n - K*L steps run sequentially.
- reverse: the same on the operands' time-reversed views, and the trace reversed.
"""

from __future__ import annotations

import math

import numpy as np

CALL_COST = 1.5e-6   # seconds per NumPy call from Python (a step's few operations)
ELEM_COST = 1.0e-9   # seconds per element per pass


def chunks(n, width, calls_per_step=2):
    """The number of chunks K for the chunked scan of n steps of `width` elements, or 0
    when the sequential loop is cheaper (few steps, or lanes wide enough that the
    extra pass over the data costs more than the Python steps it saves)."""
    if n < 32:
        return 0
    k = max(2, int(math.sqrt(n / 2)))
    length = n // k
    sequential = n * (calls_per_step * CALL_COST + width * ELEM_COST)
    chunked = ((2 * length + k) * (calls_per_step + 1) * CALL_COST
               + 3 * n * width * ELEM_COST)
    return k if chunked < sequential else 0


def run(mode, reverse, store, n, h0, operands):
    """(trace or None, final) of LinearRecurrence(mode, reverse, store)."""
    h0 = np.asarray(h0)
    if mode == "matrix":
        m, ops = operands[0], [operands[1]]
    else:
        m, ops = None, list(operands)
    if reverse:
        ops = [x[::-1] for x in ops]
    if mode in ("add", "mul", "max", "min"):
        trace, final = _accumulate(mode, store, n, h0, ops[0])
    elif mode == "affine":
        trace, final = _affine(store, n, h0, ops[0], ops[1])
    else:
        trace, final = _matrix(store, n, h0, m, ops[0])
    if reverse and trace is not None:
        trace = trace[::-1]
    return trace, final


_UFUNC = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}
_REDUCE = {"add": np.sum, "mul": np.prod, "max": np.max, "min": np.min}


def _accumulate(mode, store, n, h0, x):
    uf = _UFUNC[mode]
    shape = (n,) + h0.shape
    if not store:
        if n == 0:
            return None, h0.copy()
        red = _REDUCE[mode](np.broadcast_to(x, shape), axis=0)
        return None, np.asarray(uf(h0, red), dtype=h0.dtype)
    out = np.empty(shape, h0.dtype)
    out[...] = x
    if n == 0:
        return out, h0.copy()
    uf(h0, out[:1], out=out[:1])
    uf.accumulate(out, axis=0, out=out)
    return out, out[-1].copy()


def _rows(x, lo, hi):
    """Rows lo:hi of a per-step operand (all of a broadcast one)."""
    return x if x.shape[0] == 1 else x[lo:hi]


def _affine(store, n, h0, a, b):
    width = max(h0.size, 1)
    k = chunks(n, width)
    out = np.empty((n,) + h0.shape, h0.dtype) if store else None
    h = h0.copy()
    done = 0
    if k:
        length = n // k
        done = k * length
        a3 = _chunked(_rows(a, 0, done), k, length)
        b3 = _chunked(_rows(b, 0, done), k, length)
        p = np.ones((k,) + h0.shape, h0.dtype)
        s = np.zeros((k,) + h0.shape, h0.dtype)
        for j in range(length):  # pass 1: each chunk's composed map
            aj = _col(a3, j)
            p *= aj
            s *= aj
            s += _col(b3, j)
        starts = np.empty((k,) + h0.shape, h0.dtype)
        for c in range(k):
            starts[c] = h
            h = p[c] * h + s[c]
        if store:
            o3 = out[:done].reshape((k, length) + h0.shape)
            cur = starts
            for j in range(length):  # pass 2: the chunks from their true starts
                cur *= _col(a3, j)
                cur += _col(b3, j)
                o3[:, j] = cur
    for t in range(done, n):
        h = _at(a, t) * h + _at(b, t)
        if store:
            out[t] = h
    return out, np.asarray(h, dtype=h0.dtype)


def _at(x, t):
    return x[0] if x.shape[0] == 1 else x[t]


def _chunked(x, k, length):
    """A per-step operand as (k, length, ...) chunks (a broadcast one as (1, 1, ...))."""
    if x.shape[0] == 1:
        return x[None]
    return x.reshape((k, length) + x.shape[1:])


def _col(x3, j):
    """Step j of every chunk."""
    return x3[:, 0] if x3.shape[1] == 1 else x3[:, j]


def _matrix(store, n, h0, m, b):
    rows = h0.size // max(h0.shape[-1], 1)
    k = chunks(n, max(h0.size, 1) * max(h0.shape[-1], 1) // 8, calls_per_step=2)
    out = np.empty((n,) + h0.shape, h0.dtype) if store else None
    h = h0.copy()
    done = 0
    if k and rows * k * h0.shape[-1] > 0:
        length = n // k
        done = k * length
        b3 = _chunked(_rows(b, 0, done), k, length)
        s = np.zeros((k,) + h0.shape, h0.dtype)
        for j in range(length):
            s = s @ m + _col(b3, j)
        ml = np.linalg.matrix_power(m, length)
        starts = np.empty((k,) + h0.shape, h0.dtype)
        for c in range(k):
            starts[c] = h
            h = h @ ml + s[c]
        if store:
            o3 = out[:done].reshape((k, length) + h0.shape)
            cur = starts
            for j in range(length):
                cur = cur @ m + _col(b3, j)
                o3[:, j] = cur
    for t in range(done, n):
        h = h @ m + _at(b, t)
        if store:
            out[t] = h
    return out, np.asarray(h, dtype=h0.dtype)
