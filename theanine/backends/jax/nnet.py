"""Neural-network ops: softmax and log-softmax along an axis (shifted by the
finite maximum, as the py backend), and the run-time check of class targets."""

from __future__ import annotations

import jax.numpy as jnp

from theanine.tensor.nnet.crossentropy import CheckTargets
from theanine.tensor.nnet.softmax_ops import LogSoftmax, Softmax

from .checks import require, require_range
from .evaluate import is_concrete
from .registry import lowerings


def _shifted(x, axis):
    m = jnp.max(x, axis=axis, keepdims=True)
    return x - jnp.where(jnp.isfinite(m), m, 0).astype(x.dtype)


@lowerings.register(Softmax)
def _softmax(node, x):
    if x.size == 0:
        return x
    e = jnp.exp(_shifted(x, node.op.axis))
    return e / jnp.sum(e, axis=node.op.axis, keepdims=True)


@lowerings.register(LogSoftmax)
def _log_softmax(node, x):
    if x.size == 0:
        return x
    s = _shifted(x, node.op.axis)
    return s - jnp.log(jnp.sum(jnp.exp(s), axis=node.op.axis, keepdims=True))


@lowerings.register(CheckTargets)
def _check_targets(node, y, n, k):
    fn = node.op.fn
    if is_concrete(n):
        if y.shape[0] != int(n):
            raise ValueError(f"{fn}: expected one target per row of the coding distribution "
                             f"({int(n)} rows), got {y.shape[0]} targets")
    else:
        require(y.shape[0] == n, ValueError,
                f"{fn}: expected one target per row of the coding distribution, got "
                f"{y.shape[0]} targets")
    if is_concrete(k):
        k = int(k)
        bound = f"[0, {k})"
    else:
        bound = "[0, n_classes)"
    require_range(y, 0, k, ValueError, f"{fn}: targets must be class indices in {bound}",
                  lambda v: ValueError(f"{fn}: targets must be class indices in {bound}, "
                                       f"got {v}"))
    return y
