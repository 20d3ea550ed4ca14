"""RandomStreams' draws (RandomOp) with JAX's generator, as streams.

A generator is uint32[4]: a threefry key (2 words) and a 64-bit counter (2 words),
derived from the numpy generator deterministically (device.py). A draw of N
elements (N = the sample's batch size) takes the next N counters: element i is
sampled with the key ``threefry(key, counter + i)``, and the new generator has
counter + N. So, as with NumPy's generators, one draw of n * m elements gives the
numbers of n successive draws of m elements, in order, and leaves the same state:
the rewrites that move a loop's draws out of it, or advance a loop's generator in
place, keep the numbers on this backend too.

Same seed, same numbers, within this backend; the numbers differ from NumPy's
(docs/jax.md; tests/backends/jax/test_jax_random.py tests them by distribution).
Parameter errors NumPy raises are run-time checks.
"""

from __future__ import annotations

import jax
import jax.extend.random as jxr
import jax.numpy as jnp
import numpy as np

from theanine.tensor.random import DISTRIBUTIONS, KEY_SAMPLERS, RandomOp, batch_shape

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


def _state(rng):
    if hasattr(rng, "shape"):
        return jnp.asarray(rng, jnp.uint32)
    return jnp.asarray(key_from_generator(rng))  # a generator constant of the graph


def element_keys(state, count):
    """(keys (count, 2) for the next `count` elements of the stream, the new state)."""
    key = state[:2]
    start = (state[2].astype(jnp.uint64) << 32) | state[3].astype(jnp.uint64)
    idx = start + jnp.arange(count, dtype=jnp.uint64)
    hi, lo = (idx >> 32).astype(jnp.uint32), (idx & 0xFFFFFFFF).astype(jnp.uint32)
    words = jxr.threefry_2x32(key, jnp.concatenate([hi, lo]))
    keys = jnp.stack([words[:count], words[count:]], axis=1)
    end = start + count
    new = jnp.stack([key[0], key[1], (end >> 32).astype(jnp.uint32),
                     (end & 0xFFFFFFFF).astype(jnp.uint32)])
    return keys, new


@lowerings.register(RandomOp)
@static_inputs(_static_params)
def _random(node, rng, size, *params):
    op = node.op
    spec = DISTRIBUTIONS[op.dist]
    batch = [np.shape(p)[:np.ndim(p) - c] for p, c in zip(params, spec.cores) if c is not None]
    shape = batch_shape(op.dist, tuple(int(s) for s in size), op.ndim, batch)
    n = int(np.prod(shape, dtype="int64"))
    elementwise = [jnp.broadcast_to(p, shape + np.shape(p)[np.ndim(p) - c:]).reshape(
        (n,) + np.shape(p)[np.ndim(p) - c:]) for p, c in zip(params, spec.cores)
        if c is not None]
    whole = [p for p, c in zip(params, spec.cores) if c is None]
    draw = _JOINT.get(op.dist)
    if draw is not None:  # one draw for the whole sample: one element of the stream
        keys, new = element_keys(_state(rng), 1)
        sample = draw(keys[0], shape, *whole)
    else:
        keys, new = element_keys(_state(rng), n)
        one = _ELEMENT[op.dist]
        dt = op.dtype
        sample = jax.vmap(lambda k, *ps: one(k, dt, *ps, *whole))(keys, *elementwise)
        sample = sample.reshape(shape + sample.shape[1:])
    _check(op.dist, params)
    return new, jnp.asarray(sample).astype(op.dtype)


def _draw_on_host(op, node, key, size, *params):
    """RandomOp's Python implementation given a key (a loop run on the host): the
    numbers the compiled draw gives, as NumPy values."""
    new, sample = _random(node, key, size, *params)
    return np.asarray(new), np.asarray(sample)


KEY_SAMPLERS[np.dtype(np.uint32)] = _draw_on_host


def _float(dtype):
    return dtype if np.dtype(dtype).kind == "f" else "float64"


def _uniform(key, dtype, low, high):
    ft = _float(dtype)
    low, high = jnp.asarray(low, ft), jnp.asarray(high, ft)
    out = low + (high - low) * jax.random.uniform(key, (), ft)
    if np.dtype(dtype) != np.dtype(ft) or ft != "float64":
        rounded = out.astype(dtype)
        # rounding may reach `high`; keep samples below it (as the py backend)
        bad = (rounded >= high.astype(dtype)) & (high > low)
        return jnp.where(bad, jnp.nextafter(high.astype(dtype), low.astype(dtype)), rounded)
    return out


def _normal(key, dtype, avg, std):
    return avg + std * jax.random.normal(key, (), _float(dtype))


def _truncated_normal(key, dtype, avg, std):
    return avg + std * jax.random.truncated_normal(key, -2.0, 2.0, (), _float(dtype))


def _binomial(key, dtype, n, p):
    return jax.random.binomial(key, jnp.asarray(n, "float64"), jnp.asarray(p, "float64"))


def _poisson(key, dtype, lam):
    return jax.random.poisson(key, lam, (), dtype="int64")


def _random_integers(key, dtype, low, high):
    low, high = jnp.asarray(low, "int64"), jnp.asarray(high, "int64")
    return jax.random.randint(key, (), low, high + 1, dtype="int64")


def _multinomial(key, dtype, n, pvals):
    p = pvals / jnp.sum(pvals)
    return jax.random.multinomial(key, jnp.asarray(n, "float64"), p)


def _population(a):
    if np.ndim(a) == 0:
        a = int(a)
        if a < 1:
            raise ValueError(f"choice: a must be a positive integer (or a vector), got {a}")
        return a
    if np.shape(a)[0] == 0:
        raise ValueError("choice: a must be a non-empty vector")
    return np.shape(a)[0]


def _probs(p, k):
    if p is None:
        return None
    p = jnp.asarray(p, "float64")
    if p.shape[-1] != k:
        raise ValueError(f"choice: p must have {k} entries (one per element of a), got "
                         f"shape {p.shape}")
    return p / jnp.sum(p, axis=-1, keepdims=True)


def _choice(key, dtype, a, p=None):
    k = _population(a)
    idx = jax.random.choice(key, k, (), p=_probs(p, k))
    return idx if np.ndim(a) == 0 else jnp.asarray(a)[idx]


def _choice_without_replacement(key, shape, a, p=None):
    k = _population(a)
    count = int(np.prod(shape, dtype="int64"))
    p = _probs(p, k)
    if p is None and count > k:
        raise ValueError(f"choice: cannot draw {count} elements (size {shape}) without "
                         f"replacement from {k} (non-zero probability) elements")
    if p is not None:
        require(jnp.count_nonzero(p) >= count, ValueError,
                f"choice: cannot draw {count} elements without replacement from fewer "
                "non-zero probability elements")
    idx = jax.random.choice(key, k, shape, replace=False, p=p)
    return idx if np.ndim(a) == 0 else jnp.asarray(a)[idx]


def _permutation(key, dtype, n):
    n = int(n)
    if n < 0:
        raise ValueError(f"permutation: n must be a non-negative integer, got {n}")
    return jax.random.permutation(key, n)


def _choice_rows(key, dtype, p, n):
    """n distinct indices drawn with probabilities p (Gumbel top-k: the distribution of
    drawing one at a time without replacement)."""
    n = int(n)
    p = p / jnp.sum(p)
    g = jax.random.gumbel(key, p.shape, "float64")
    scores = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1)) + g, -jnp.inf)
    return jax.lax.top_k(scores, n)[1]


_ELEMENT = {"uniform": _uniform, "normal": _normal, "truncated_normal": _truncated_normal,
            "binomial": _binomial, "poisson": _poisson, "random_integers": _random_integers,
            "multinomial": _multinomial, "choice": _choice, "permutation": _permutation,
            "choice_rows": _choice_rows}
_JOINT = {"choice_without_replacement": _choice_without_replacement}


def _is_int(x):
    x = jnp.asarray(x)
    return True if x.dtype.kind in "iub" else jnp.floor(x) == x


def _probs_ok(dist, arg, p):
    p = jnp.asarray(p, "float64")
    require(p >= 0, ValueError, f"{dist}: {arg} must be non-negative probabilities")
    require(jnp.abs(jnp.sum(p, axis=-1) - 1) <= 1e-3, ValueError,
            f"{dist}: the sum of {arg} (along its last axis) must be 1")


def _check(dist, params):
    """The py backend's parameter errors, as run-time checks."""
    if dist in ("normal", "truncated_normal"):
        require(params[1] >= 0, ValueError, "normal: std must be >= 0")
    elif dist == "binomial":
        require((params[0] >= 0) & _is_int(params[0]), ValueError,
                "binomial: n must be a non-negative integer")
        require((params[1] >= 0) & (params[1] <= 1), ValueError,
                "binomial: p must be in [0, 1]")
    elif dist == "poisson":
        require(params[0] >= 0, ValueError, "poisson: lam must be >= 0")
    elif dist == "random_integers":
        require(params[0] <= params[1], ValueError,
                "random_integers: low must be <= high (high is inclusive)")
    elif dist == "multinomial":
        require((params[0] >= 0) & _is_int(params[0]), ValueError,
                "multinomial: n must be a non-negative integer")
        _probs_ok("multinomial", "pvals", params[1])
    elif dist.startswith("choice") and len(params) > 1 and dist != "choice_rows":
        _probs_ok("choice", "p", params[1])
    elif dist == "choice_rows":
        _probs_ok("choice", "p", params[0])
        n = int(params[1])
        require(jnp.min(jnp.count_nonzero(params[0], axis=-1), initial=n) >= n, ValueError,
                f"choice: cannot draw size={n} elements without replacement from a row "
                "of p with fewer non-zero probabilities")
