"""Random draws.

RandomStreams (RandomOp): a generator is a JAX key (uint32[2], device.py derives
it from the numpy generator deterministically); a draw splits it, samples with
jax.random and returns the new key. Same seed, same numbers, within this backend;
the numbers differ from NumPy's (docs/jax.md lists which distributions and how
they are tested). Parameter errors NumPy raises are run-time checks.

MRG_RandomStreams (MRGUniform, MultinomialFromUniform, ChoiceFromUniform): the
MRG31k3p recurrence in int32/int64 arithmetic exactly as sandbox/mrg_core.py, so
the numbers are the py backend's bit for bit. All rounds of a draw come from the
one-step jump matrix raised by doubling (exact modular arithmetic in int64), and
running sums go column by column (lax.scan), in NumPy's order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.sandbox import mrg_core
from theanine.sandbox.mrg_ops import ChoiceFromUniform, MRGUniform, MultinomialFromUniform
from theanine.tensor.random import DISTRIBUTIONS, RandomOp, batch_shape

from .checks import require
from .device import key_from_generator
from .evaluate import static_inputs
from .registry import lowerings

_SHAPE_PARAMS = {"choice": 0, "choice_without_replacement": 0, "permutation": 0,
                 "choice_rows": 1}


def _static_params(node):
    """size, and the scalar parameter that sets a sample's shape or population
    (choice's a, permutation's n, choice_rows' size)."""
    k = _SHAPE_PARAMS.get(node.op.dist)
    if k is None or 2 + k >= len(node.inputs) or node.inputs[2 + k].type.ndim:
        return [1]
    return [1, 2 + k]


def _key(rng):
    if isinstance(rng, np.ndarray | jax.Array) or hasattr(rng, "shape"):
        return jnp.asarray(rng, jnp.uint32)
    return jnp.asarray(key_from_generator(rng))


@lowerings.register(RandomOp)
@static_inputs(_static_params)
def _random(node, rng, size, *params):
    op = node.op
    spec = DISTRIBUTIONS[op.dist]
    key = _key(rng)
    new, sub = jax.random.split(key)
    batch = [np.shape(p)[:np.ndim(p) - c] for p, c in zip(params, spec.cores) if c is not None]
    shape = batch_shape(op.dist, tuple(int(s) for s in size), op.ndim, batch)
    params = [p if c is None else jnp.broadcast_to(p, shape + np.shape(p)[np.ndim(p) - c:])
              for p, c in zip(params, spec.cores)]
    sample = _DRAW[op.dist](sub, shape, op.dtype, *params)
    return new, jnp.asarray(sample).astype(op.dtype)


def _float(dtype):
    return dtype if np.dtype(dtype).kind == "f" else "float64"


def _uniform(key, shape, dtype, low, high):
    ft = _float(dtype)
    low, high = jnp.asarray(low, ft), jnp.asarray(high, ft)
    out = low + (high - low) * jax.random.uniform(key, shape, ft)
    # rounding may reach `high`; keep samples below it (as the py backend)
    return jnp.where((out >= high) & (high > low), jnp.nextafter(high, low), out)


def _normal(key, shape, dtype, avg, std):
    require(std >= 0, ValueError, "normal: std must be >= 0")
    ft = _float(dtype)
    return avg + std * jax.random.normal(key, shape, ft)


def _truncated_normal(key, shape, dtype, avg, std):
    require(std >= 0, ValueError, "normal: std must be >= 0")
    ft = _float(dtype)
    return avg + std * jax.random.truncated_normal(key, -2.0, 2.0, shape, ft)


def _is_int(x):
    x = jnp.asarray(x)
    return True if x.dtype.kind in "iub" else jnp.floor(x) == x


def _binomial(key, shape, dtype, n, p):
    require((n >= 0) & _is_int(n), ValueError, "binomial: n must be a non-negative integer")
    require((p >= 0) & (p <= 1), ValueError, "binomial: p must be in [0, 1]")
    return jax.random.binomial(key, jnp.asarray(n, "float64"), jnp.asarray(p, "float64"),
                               shape)


def _poisson(key, shape, dtype, lam):
    require(lam >= 0, ValueError, "poisson: lam must be >= 0")
    return jax.random.poisson(key, lam, shape, dtype="int64")


def _random_integers(key, shape, dtype, low, high):
    require(low <= high, ValueError, "random_integers: low must be <= high (high is "
            "inclusive)")
    low, high = jnp.asarray(low, "int64"), jnp.asarray(high, "int64")
    return jax.random.randint(key, shape, low, high + 1, dtype="int64")


def _probs(dist, p):
    p = jnp.asarray(p, "float64")
    require(p >= 0, ValueError, f"{dist}: the probabilities must be non-negative")
    sums = jnp.sum(p, axis=-1, keepdims=True)
    require(jnp.abs(sums - 1) <= 1e-3, ValueError,
            f"{dist}: the probabilities must sum to 1 (along their last axis)")
    return p / sums


def _multinomial(key, shape, dtype, n, pvals):
    require((n >= 0) & _is_int(n), ValueError, "multinomial: n must be a non-negative "
            "integer")
    p = _probs("multinomial", pvals)
    return jax.random.multinomial(key, jnp.asarray(n, "float64"), p, shape=shape + p.shape[-1:])


def _population(a):
    if np.ndim(a) == 0:
        a = int(a)
        if a < 1:
            raise ValueError(f"choice: a must be a positive integer (or a vector), got {a}")
        return a
    if np.shape(a)[0] == 0:
        raise ValueError("choice: a must be a non-empty vector")
    return np.shape(a)[0]


def _choice(key, shape, dtype, a, p=None, replace=True):
    k = _population(a)
    count = int(np.prod(shape, dtype="int64"))
    if p is not None:
        p = _probs("choice", p)
        if p.shape[-1] != k:
            raise ValueError(f"choice: p must have {k} entries (one per element of a), got "
                             f"shape {p.shape}")
        if not replace:
            require(jnp.count_nonzero(p) >= count, ValueError,
                    f"choice: cannot draw {count} elements without replacement from fewer "
                    "non-zero probability elements")
    elif not replace and count > k:
        raise ValueError(f"choice: cannot draw {count} elements (size {shape}) without "
                         f"replacement from {k} (non-zero probability) elements")
    idx = jax.random.choice(key, k, shape, replace=replace, p=p)
    return idx if np.ndim(a) == 0 else jnp.asarray(a)[idx]


def _choice_without_replacement(key, shape, dtype, a, p=None):
    return _choice(key, shape, dtype, a, p, replace=False)


def _permutation(key, shape, dtype, n):
    n = int(n)
    if n < 0:
        raise ValueError(f"permutation: n must be a non-negative integer, got {n}")
    count = int(np.prod(shape, dtype="int64"))
    keys = jax.random.split(key, max(count, 1))[:count]
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    return perms.reshape(shape + (n,))


def _choice_rows(key, shape, dtype, p, n):
    """n distinct indices per row of p, drawn with probabilities p[row] (Gumbel top-k:
    the same distribution as drawing one at a time without replacement)."""
    n = int(n)
    p = _probs("choice", p)
    require(jnp.min(jnp.count_nonzero(p, axis=-1), initial=n) >= n, ValueError,
            f"choice: cannot draw size={n} elements without replacement from a row of p "
            "with fewer non-zero probabilities")
    g = jax.random.gumbel(key, p.shape, "float64")
    scores = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1)) + g, -jnp.inf)
    return jax.lax.top_k(scores, n)[1]


_DRAW = {"uniform": _uniform, "normal": _normal, "truncated_normal": _truncated_normal,
         "binomial": _binomial, "poisson": _poisson, "random_integers": _random_integers,
         "multinomial": _multinomial, "choice": _choice,
         "choice_without_replacement": _choice_without_replacement,
         "permutation": _permutation, "choice_rows": _choice_rows}


# -- MRG31k3p ---------------------------------------------------------------------------
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

