"""Cumulative sums and products along an axis, accumulated in the output dtype,
optionally from the end (gradients)."""

from __future__ import annotations

import jax.numpy as jnp

from theanine.tensor.cumulative import CumOp

from .registry import lowerings


@lowerings.register(CumOp)
def _cumop(node, x):
    op = node.op
    fn = jnp.cumsum if op.mode == "add" else jnp.cumprod
    dt = node.outputs[0].type.dtype
    if op.reverse:
        return jnp.flip(fn(jnp.flip(x, op.axis), axis=op.axis, dtype=dt), op.axis)
    return fn(x, axis=op.axis, dtype=dt)
