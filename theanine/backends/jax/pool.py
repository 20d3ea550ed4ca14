"""Pooling (Pool, MaxPoolGrad, DownsampleFactorMaxGradGrad, AveragePoolGrad) with
the py backend's geometry (tensor/signal/pool.py): one strided slice per window
offset, unrolled while tracing (XLA fuses them), so the results, ties and border
windows included, are the py backend's."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from theanine.tensor.signal.pool import (
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
    _lowest,
)

from .registry import lowerings


def _padded(op, x, out, fill):
    nd, pads = op.ndim, [(0, 0)] * (x.ndim - op.ndim)
    for r, w, s, p, o in zip(x.shape[-nd:], op.ws, op.stride, op.pad, out):
        size = max(r + 2 * p, (o - 1) * s + w)
        pads.append((p, size - r - p))
    if not any(a or b for a, b in pads):
        return x
    return jnp.pad(x, pads, constant_values=fill)


def _max_cells(op, x, maxout, out):
    xp = _padded(op, x, out, _lowest(x.dtype))
    return xp, [(idx, xp[idx] == maxout) for _, idx in op._slices(out)]


@lowerings.register(Pool)
def _pool(node, x):
    op = node.op
    spatial = x.shape[-op.ndim:]
    out = op._out_shape(spatial)
    dt = node.outputs[0].type.dtype
    if op.mode == "max":
        xp = _padded(op, x, out, _lowest(x.dtype))
        res = None
        for _, idx in op._slices(out):
            res = xp[idx] if res is None else jnp.maximum(res, xp[idx])
        return res
    acc = x.dtype if x.dtype.kind in "fc" else np.float64
    xp = _padded(op, x.astype(acc), out, 0)
    res = jnp.zeros(x.shape[:-op.ndim] + out, dtype=acc)
    for _, idx in op._slices(out):
        res = res + xp[idx]
    if op.mode != "sum":
        res = res / op._counts(spatial, out)
    return res.astype(dt)


@lowerings.register(MaxPoolGrad)
def _max_pool_grad(node, x, maxout, gz):
    op = node.op
    spatial = x.shape[-op.ndim:]
    out = op._out_shape(spatial)
    xp, masks = _max_cells(op, x, maxout, out)
    g = jnp.zeros(xp.shape, dtype=node.outputs[0].type.dtype)
    for idx, mask in masks:
        g = g.at[idx].add(mask * gz)
    return op._crop(g, spatial)


@lowerings.register(DownsampleFactorMaxGradGrad)
def _max_pool_grad_grad(node, x, maxout, ggx):
    op = node.op
    out = op._out_shape(x.shape[-op.ndim:])
    xp, masks = _max_cells(op, x, maxout, out)
    ggp = _padded(op, ggx, out, 0)
    res = jnp.zeros(maxout.shape, dtype=node.outputs[0].type.dtype)
    for idx, mask in masks:
        res = res + mask * ggp[idx]
    return res


@lowerings.register(AveragePoolGrad)
def _average_pool_grad(node, x, gz):
    op = node.op
    spatial = x.shape[-op.ndim:]
    out = op._out_shape(spatial)
    dt = node.outputs[0].type.dtype
    g = gz / op._counts(spatial, out) if op.mode != "sum" else gz
    padded = tuple(x.shape[:-op.ndim]) + tuple(
        max(r + 2 * p, (o - 1) * s + w)
        for r, w, s, p, o in zip(spatial, op.ws, op.stride, op.pad, out))
    gp = jnp.zeros(padded, dtype=dt)
    for _, idx in op._slices(out):
        gp = gp.at[idx].add(g.astype(dt))
    return op._crop(gp, spatial)
