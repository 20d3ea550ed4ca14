"""MRG31k3p (L'Ecuyer and Touzin, 2000) in NumPy, as Theano's MRG_RandomStreams
draws it: the state of one stream is six int32 numbers (x1 at n-1, n-2, n-3, then
x2 at n-1, n-2, n-3) with

    x1_n = (2**22 x1_{n-2} + (2**7 + 1) x1_{n-3}) mod M1,   M1 = 2**31 - 1
    x2_n = (2**15 x2_{n-1} + (2**15 + 1) x2_{n-3}) mod M2,  M2 = 2**31 - 21069
    z_n  = (x1_n - x2_n) mod M1, in (0, M1]

Invariants:
- Sample i of a draw comes from stream i % n_streams (a state matrix has one row
  per stream), as Theano's CPU op; the arithmetic is Theano's C code's, in int32
  with wrap-around, so the numbers are Theano's bit for bit.
- A uniform in [0, 1) is z * NORM: float64 with NORM = 2**-31; float32 as
  float32(z) * float32(4.6566126e-10) (the largest NORM whose product with M1
  stays below 1 in float32); float16 from ((z & 0x7FFF) + 1) * 3.0458e-05.
- Streams are spaced 2**72 steps apart and a stream class's successive draws
  2**134 apart (L'Ecuyer et al. 2002); the jump matrices are the recurrences'
  companion matrices raised to those powers (computed here, not tabulated).
"""

from __future__ import annotations

import numpy as np

M1 = 2147483647  # 2**31 - 1
M2 = 2147462579  # 2**31 - 21069
MAX_STREAMS_GUESS = 60 * 256  # Theano's number of streams when the size is symbolic
_MANY_ROUNDS = 64  # from this many rounds per stream, draw by jump matrices
_BLOCK_ROUNDS = 4096  # rounds per block of jump-matrix draws

# companion matrices: new state (x_n, x_{n-1}, x_{n-2}) = A @ (x_{n-1}, x_{n-2}, x_{n-3})
_A1 = ((0, 2 ** 22, 2 ** 7 + 1), (1, 0, 0), (0, 1, 0))
_A2 = ((2 ** 15, 0, 2 ** 15 + 1), (1, 0, 0), (0, 1, 0))


def _matmul_mod(a, b, m):
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) % m for j in range(3))
                 for i in range(3))


def _power_of_two(a, e, m):
    """a ** (2 ** e) mod m (Python ints: exact)."""
    for _ in range(e):
        a = _matmul_mod(a, a, m)
    return a


_ONE_STEP = (_A1, _A2)
JUMP_STREAM = (_power_of_two(_A1, 72, M1), _power_of_two(_A2, 72, M2))
JUMP_CLASS = (_power_of_two(_A1, 134, M1), _power_of_two(_A2, 134, M2))


def _apply(jump, rows):
    """jump (a pair of 3x3 matrices) applied to each row (n, 6) of states."""
    out = np.empty(rows.shape, dtype="int32")
    for half, (mat, m) in enumerate(zip(jump, (M1, M2))):
        mat = np.asarray(mat, dtype="int64")
        x = rows[:, 3 * half:3 * half + 3].astype("int64")
        prod = (mat[None, :, :] * x[:, None, :]) % m  # each < 2**62: no overflow
        out[:, 3 * half:3 * half + 3] = prod.sum(axis=2) % m
    return out


def _compose(a, b):
    return tuple(_matmul_mod(p, q, m) for p, q, m in zip(a, b, (M1, M2)))


def _powers(first, jump, count):
    """(count, *first.shape) int32: first (states in rows of 6), then each block
    `jump` applied once more than the one before, filled in doubling blocks."""
    out = np.empty((count,) + first.shape, dtype="int32")
    out[0] = first
    done = 1  # `jump` is the one-block jump ** done
    while done < count:
        c = min(done, count - done)
        out[done:done + c] = _apply(jump, out[:c].reshape(-1, 6)).reshape(c, *first.shape)
        done += c
        jump = _compose(jump, jump)
    return out


def substreams(rstate, n_streams):
    """(n_streams, 6) int32: rstate, then each row 2**72 steps after the one before."""
    return _powers(np.asarray(rstate, dtype="int32"), JUMP_STREAM, n_streams)


def next_class_state(rstate):
    """The state 2**134 steps after rstate (where a stream class's next draw starts)."""
    return _apply(JUMP_CLASS, np.asarray(rstate, dtype="int32")[None, :])[0]


def check_seed(seed, arg="MRG_RandomStreams: seed"):
    """The six-number state for seed: an int in [1, M2) (repeated six times) or six
    ints, the first three < M1 and not all 0, the last three < M2 and not all 0."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        if not 0 < seed < M2:
            raise ValueError(f"{arg} must be in [1, {M2 - 1}] (or six ints), got {seed}")
        return np.full(6, seed, dtype="int32")
    if isinstance(seed, (list, tuple, np.ndarray)) and len(seed) == 6 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seed):
        s = [int(v) for v in seed]
        for part, m in ((s[:3], M1), (s[3:], M2)):
            if any(not 0 <= v < m for v in part) or not any(part):
                raise ValueError(f"{arg}: six ints need the first three in [0, {M1}) and "
                                 f"the last three in [0, {M2}), neither three all 0; "
                                 f"got {s}")
        return np.asarray(s, dtype="int32")
    raise TypeError(f"{arg} must be an int or a list of six ints, got {seed!r}")


def guess_n_streams(size):
    """Theano's choice: for a size of known ints, prod // 6 (prod when <= 6), at most
    60 * 256; for a symbolic size, 60 * 256."""
    if isinstance(size, (tuple, list)) and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
        r = int(np.prod([int(s) for s in size], dtype="int64"))
        r = r // 6 if r > 6 else r
        return max(1, min(r, MAX_STREAMS_GUESS))
    return MAX_STREAMS_GUESS


def _step(s):
    """Advance every row of s (k, 6) int32 in place by one step; return z (int32).
    int32 array arithmetic wraps around, as Theano's C code's."""
    x11, x12, x13, x21, x22, x23 = (s[:, j].copy() for j in range(6))
    y1 = ((x12 & 511) << 22) + (x12 >> 9) + ((x13 & 16777215) << 7) + (x13 >> 24)
    y1 = np.where((y1 < 0) | (y1 >= M1), y1 - M1, y1)
    y1 = y1 + x13
    y1 = np.where((y1 < 0) | (y1 >= M1), y1 - M1, y1)
    a = ((x21 & 65535) << 15) + 21069 * (x21 >> 16)
    a = np.where((a < 0) | (a >= M2), a - M2, a)
    b = ((x23 & 65535) << 15) + 21069 * (x23 >> 16)
    b = np.where((b < 0) | (b >= M2), b - M2, b)
    b = b + x23
    b = np.where((b < 0) | (b >= M2), b - M2, b)
    b = b + a
    b = np.where((b < 0) | (b >= M2), b - M2, b)
    s[:, 0], s[:, 1], s[:, 2] = y1, x11, x12
    s[:, 3], s[:, 4], s[:, 5] = b, x21, x22
    return np.where(y1 <= b, y1 - b + M1, y1 - b)


def to_uniform(z, dtype):
    """Samples in [0, 1) of `dtype` from z in (0, M1] (int32)."""
    if dtype == "float64":
        return z.astype("float64") * 4.656612873077392578125e-10
    if dtype == "float32":
        return z.astype("float32") * np.float32(4.6566126e-10)
    if dtype == "float16":
        return (((z & 0x7FFF) + 1).astype("float32") * np.float32(3.0458e-05)).astype(
            "float16")
    raise TypeError(f"MRG uniform: dtype must be a float dtype, got {dtype!r}")


def _after_steps(rows, r):
    """The states of rows (k, 6) after 1, 2, ..., r steps: (r, k, 6) int32, by the
    one-step jump matrices (exact modular arithmetic, the same numbers as stepping)."""
    return _powers(_apply(_ONE_STEP, rows), _ONE_STEP, r)


def uniform(rstate, n, dtype):
    """(new state, n uniforms): sample i from stream i % n_streams. rstate is not
    changed. Few streams and many rounds go by jump matrices (O(log rounds) NumPy
    calls), otherwise one vectorised step per round."""
    state = np.array(rstate, dtype="int32", copy=True)
    if state.ndim != 2 or state.shape[1] != 6 or state.shape[0] == 0:
        raise ValueError(f"MRG uniform: the random state must be an (n_streams, 6) int32 "
                         f"matrix with n_streams >= 1, got shape {state.shape}")
    out = np.empty(n, dtype=dtype)
    ns = state.shape[0]
    done = 0
    while n - done >= ns * _MANY_ROUNDS:  # whole rounds, a block at a time
        r = min((n - done) // ns, _BLOCK_ROUNDS)
        states = _after_steps(state, r)
        x1, x2 = states[:, :, 0].astype("int64"), states[:, :, 3].astype("int64")
        z = np.where(x1 <= x2, x1 - x2 + M1, x1 - x2)
        out[done:done + r * ns] = to_uniform(z.reshape(-1), dtype)
        state = states[-1].copy()
        done += r * ns
    with np.errstate(over="ignore"):
        for lo in range(done, n, ns):
            k = min(ns, n - lo)
            rows = state[:k]
            out[lo:lo + k] = to_uniform(_step(rows), dtype)
            state[:k] = rows
    return state, out


def multinomial_from_uniform(pvals, unis, n, dtype):
    """Counts (rows, k) of n draws per row of pvals, draw c of row r taking the first
    outcome whose running sum of pvals[r] (float64) exceeds unis[c * rows + r]; no
    outcome when none does."""
    rows, k = pvals.shape
    out = np.zeros((rows, k), dtype=dtype)
    if rows == 0 or n == 0:
        return out
    cum = np.cumsum(pvals, axis=1, dtype="float64")
    u = np.asarray(unis, dtype="float64").reshape(n, rows)
    ar = np.arange(rows)
    for c in range(n):
        idx = _first_above(cum, u[c])
        hit = idx < k
        out[ar[hit], idx[hit]] += 1
    return out


def _first_above(cum, u):
    """Per row, the first column where cum > u (cum.shape[1] where there is none)."""
    above = cum > u[:, None]
    return np.where(above.any(axis=1), above.argmax(axis=1), cum.shape[1])


def choice_from_uniform(pvals, unis, n, dtype):
    """(rows, n) outcomes drawn without replacement: draw c of row r takes the first
    outcome whose running sum (float64) of the remaining probabilities exceeds
    unis[c * rows + r]; the chosen one is then set to 0 and the row renormalised in
    pvals' dtype (-1 where no outcome is taken)."""
    rows, k = pvals.shape
    out = np.full((rows, n), -1, dtype=dtype)
    if rows == 0 or n == 0:
        return out
    p = np.array(pvals, copy=True)
    u = np.asarray(unis, dtype="float64").reshape(n, rows)
    ar = np.arange(rows)
    for c in range(n):
        idx = _first_above(np.cumsum(p, axis=1, dtype="float64"), u[c])
        hit = idx < k
        out[ar[hit], c] = idx[hit]
        if c < n - 1:
            p[ar[hit], idx[hit]] = 0.0
            with np.errstate(invalid="ignore", divide="ignore"):
                p[hit] /= np.cumsum(p[hit], axis=1)[:, -1:]  # summed in order
    return out
