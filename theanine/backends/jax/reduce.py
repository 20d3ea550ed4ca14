"""Reductions: CAReduce (sum prod max min all any prod_without_zeros) and
Argmax/Argmin. Sums and products accumulate in the output dtype, as NumPy's
``dtype=`` does; empty max/min and arg-reductions raise when tracing (shapes are
static), as NumPy raises when running."""

from __future__ import annotations

import jax.numpy as jnp

from theanine.tensor.reduce import Argmax, CAReduce

from .registry import lowerings


@lowerings.register(CAReduce)
def _careduce(node, x):
    op = node.op
    dt = node.outputs[0].type.dtype
    ax, k = op.axis, op.kind
    if k == "sum":
        return jnp.sum(x, axis=ax, dtype=dt)
    if k == "prod":
        return jnp.prod(x, axis=ax, dtype=dt)
    if k == "prod_without_zeros":
        return jnp.prod(jnp.where(x == 0, jnp.ones((), x.dtype), x), axis=ax, dtype=dt)
    if k in ("max", "min") and any(x.shape[a] == 0 for a in ax):
        raise ValueError(f"{op}: reduction over an empty axis of shape {x.shape}")
    fn = {"max": jnp.max, "min": jnp.min, "all": jnp.all, "any": jnp.any}[k]
    return fn(x, axis=ax).astype(dt)


@lowerings.register(Argmax)
def _argmax(node, x):
    op = node.op
    if x.size == 0:
        raise ValueError(f"arg{op.kind} of an empty array (shape {x.shape})")
    fn = jnp.argmax if op.kind == "max" else jnp.argmin
    return fn(x, axis=op.axis).astype("int64")
