"""Index helpers: take, nonzero (the Nonzero op), nonzero_values, flatnonzero; split
(the Split op) lives with join in join.py, its inverse, and is re-exported here.

Invariants: Split's outputs are views of consecutive pieces of x along
`axis` whose lengths are the `splits` vector (checked at run time: lengths
non-negative, summing to x.shape[axis]); its gradient joins the output
gradients (zeros for unused outputs). Nonzero returns int64 indices.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, grad_undefined

from .basic import as_tensor_variable
from .join import Split, split  # noqa: F401 - re-exported
from .math import clip
from .type import TensorType


def take(a, indices, axis=None, mode="raise"):
    """Elements of `a` at `indices` along `axis` (a flattened when axis is None),
    as numpy.take. mode: 'raise' (out-of-range indices raise), 'clip' or 'wrap'."""
    a = as_tensor_variable(a)
    indices = as_tensor_variable(indices)
    if not indices.dtype.startswith(("int", "uint")):
        raise TypeError(f"take: indices must be integers, got dtype {indices.dtype}")
    if mode not in ("raise", "clip", "wrap"):
        raise ValueError(f"take: mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    if axis is None:
        a, axis = a.flatten(), 0
    if hasattr(axis, "data"):
        axis = int(axis.data)
    if not isinstance(axis, (int, np.integer)) or not -a.ndim <= axis < a.ndim:
        raise ValueError(f"take: axis must be an int in [{-a.ndim}, {a.ndim}), got {axis!r}")
    axis = int(axis) % a.ndim
    n = a.shape[axis]
    if mode == "clip":
        indices = clip(indices, 0, n - 1)
    elif mode == "wrap":
        indices = indices % n
    return a[(slice(None),) * axis + (indices,)]


class Nonzero(Op):
    """Indices of the non-zero elements of a (ndim >= 1) as an int64 matrix of
    shape (a.ndim, count), as numpy.array(numpy.nonzero(a))."""

    __props__ = ()

    def make_node(self, a):
        a = as_tensor_variable(a)
        if a.ndim == 0:
            raise ValueError("nonzero: a must have at least 1 dimension, got a 0-d tensor")
        return Apply(self, [a], [TensorType("int64", (a.ndim == 1, False))()])

    def compute(self, node, a):
        return np.array(np.nonzero(a), dtype="int64").reshape(a.ndim, -1)

    def grad(self, inputs, output_grads):
        return [grad_undefined(self, 0, inputs[0])]


def nonzero(a, return_matrix=False):
    """Indices of the non-zero elements of a: a tuple of a.ndim int64 vectors
    (as numpy.nonzero), or with return_matrix the (a.ndim, count) matrix."""
    a = as_tensor_variable(a)
    m = Nonzero()(a)
    if return_matrix:
        return m
    return tuple(m[i] for i in range(a.ndim))


def flatnonzero(a):
    """Indices of the non-zero elements of a.flatten() (int64 vector)."""
    a = as_tensor_variable(a)
    if a.ndim == 0:
        raise ValueError("flatnonzero: a must have at least 1 dimension, got a 0-d tensor")
    return Nonzero()(a.flatten())[0]


def nonzero_values(a):
    """The non-zero elements of a.flatten(), in order (differentiable wrt a)."""
    a = as_tensor_variable(a)
    return a.flatten()[flatnonzero(a)]
