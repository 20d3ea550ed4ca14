"""MRG_RandomStreams' ops (MRGUniform, MultinomialFromUniform, ChoiceFromUniform): the
MRG31k3p recurrence in int32/int64 arithmetic exactly as sandbox/mrg_core.py, so the
numbers are the py backend's bit for bit. All rounds of a draw come from the one-step
jump matrix raised by doubling (exact modular arithmetic in int64), and running sums
go column by column (lax.scan), in NumPy's order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.sandbox import mrg_core
from theanine.sandbox.mrg_ops import ChoiceFromUniform, MRGUniform, MultinomialFromUniform

from .evaluate import static_inputs
from .registry import lowerings


def _apply(jump, rows):
    """`jump` (a pair of 3x3 matrices of Python ints) applied to rows (..., 6)."""
    halves = []
    for half, (mat, m) in enumerate(zip(jump, (mrg_core.M1, mrg_core.M2))):
        x = rows[..., 3 * half:3 * half + 3].astype("int64")
        mat = jnp.asarray(np.asarray(mat, dtype="int64"))
        prod = (mat * x[..., None, :]) % m  # each < 2**62: no overflow
        halves.append(jnp.sum(prod, axis=-1) % m)
    return jnp.concatenate(halves, axis=-1).astype("int32")


def _after_steps(state, rounds):
    """(rounds, n_streams, 6): the states after 1, 2, ..., rounds steps (doubling)."""
    jump = mrg_core._ONE_STEP
    out = _apply(jump, state)[None]
    while out.shape[0] < rounds:
        c = min(out.shape[0], rounds - out.shape[0])
        out = jnp.concatenate([out, _apply(jump, out[:c])])
        jump = mrg_core._compose(jump, jump)
    return out


def _to_uniform(z, dtype):
    if dtype == "float64":
        return z.astype("float64") * 4.656612873077392578125e-10
    if dtype == "float32":
        return z.astype("float32") * np.float32(4.6566126e-10)
    return (((z & 0x7FFF) + 1).astype("float32") * np.float32(3.0458e-05)).astype("float16")


@lowerings.register(MRGUniform)
@static_inputs(1)
def _mrg_uniform(node, rstate, size):
    op = node.op
    size = tuple(int(s) for s in np.asarray(size))
    if len(size) != op.ndim:
        raise ValueError(f"MRG uniform: size must have {op.ndim} entries, got {size}")
    if any(s < 0 for s in size):
        raise ValueError(f"MRG uniform: size must hold non-negative lengths, got {size}")
    n = int(np.prod(size, dtype="int64"))
    if n > mrg_core.M1:
        raise ValueError(f"MRG uniform: at most 2**31 - 1 samples per draw, got size {size} "
                         f"({n} samples)")
    ns = rstate.shape[0]
    if rstate.ndim != 2 or rstate.shape[1] != 6 or ns == 0:
        raise ValueError(f"MRG uniform: the random state must be an (n_streams, 6) int32 "
                         f"matrix with n_streams >= 1, got shape {rstate.shape}")
    rstate = jnp.asarray(rstate, "int32")
    if n == 0:
        return rstate, jnp.zeros(size, op.dtype)
    rounds = -(-n // ns)
    states = _after_steps(rstate, rounds)
    x1, x2 = states[..., 0].astype("int64"), states[..., 3].astype("int64")
    z = jnp.where(x1 <= x2, x1 - x2 + mrg_core.M1, x1 - x2).astype("int32")
    sample = _to_uniform(z.reshape(-1)[:n], op.dtype).reshape(size)
    last = n - (rounds - 1) * ns  # streams that advanced in the last round
    before = states[-2] if rounds > 1 else rstate
    new = jnp.where((jnp.arange(ns) < last)[:, None], states[-1], before)
    return new, sample


def _cumsum_in_order(p):
    """Running sums along axis 1 added one column after another (NumPy's order)."""
    def step(acc, col):
        acc = acc + col
        return acc, acc

    _, cols = jax.lax.scan(step, jnp.zeros(p.shape[0], p.dtype), p.T)
    return cols.T


def _first_above(cum, u):
    above = cum > u[:, None]
    return jnp.where(above.any(axis=1), jnp.argmax(above, axis=1), cum.shape[1])


def _from_uniform_check(name, pvals, unis, n):
    n = int(n)
    if n < 0:
        raise ValueError(f"{name}: n must be >= 0, got {n}")
    if unis.shape[0] != pvals.shape[0] * n:
        raise ValueError(f"{name}: unis must hold pvals.shape[0] * n = {pvals.shape[0]} * "
                         f"{n} uniforms, got {unis.shape[0]}")
    return n


@lowerings.register(MultinomialFromUniform)
@static_inputs(2)
def _multinomial_from_uniform(node, pvals, unis, n):
    n = _from_uniform_check("multinomial", pvals, unis, n)
    rows, k = pvals.shape
    dt = node.op.dtype
    if rows == 0 or n == 0:
        return jnp.zeros((rows, k), dt)
    cum = _cumsum_in_order(jnp.asarray(pvals, "float64"))
    u = jnp.asarray(unis, "float64").reshape(n, rows)
    idx = jax.vmap(lambda uc: _first_above(cum, uc))(u)  # (n, rows)
    ar = jnp.broadcast_to(jnp.arange(rows), idx.shape)
    return jnp.zeros((rows, k), dt).at[ar, idx].add(1, mode="drop")


@lowerings.register(ChoiceFromUniform)
@static_inputs(2)
def _choice_from_uniform(node, pvals, unis, n):
    n = _from_uniform_check("choice", pvals, unis, n)
    rows, k = pvals.shape
    if n > k:
        raise ValueError(f"choice: cannot draw {n} distinct outcomes from {k} "
                         "(replace=False)")
    dt = node.op.dtype
    if rows == 0 or n == 0:
        return jnp.full((rows, n), -1, dt)
    u = jnp.asarray(unis, "float64").reshape(n, rows)
    ar = jnp.arange(rows)
    p = jnp.asarray(pvals)
    out = []
    for c in range(n):
        idx = _first_above(_cumsum_in_order(p.astype("float64")), u[c])
        hit = idx < k
        out.append(jnp.where(hit, idx, -1))
        if c < n - 1:
            p = p.at[ar, idx].set(jnp.where(hit, 0, p[ar, jnp.minimum(idx, k - 1)]),
                                  mode="drop")
            total = _cumsum_in_order(p)[:, -1:]
            p = jnp.where(hit[:, None], p / total, p)
    return jnp.stack(out, axis=1).astype(dt)

