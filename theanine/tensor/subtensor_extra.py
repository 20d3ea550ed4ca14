"""Index helpers: take, split (the Split op), nonzero (the Nonzero op),
nonzero_values, flatnonzero.

Invariants: Split's outputs are views of consecutive pieces of x along
`axis` whose lengths are the `splits` vector (checked at run time: lengths
non-negative, summing to x.shape[axis]); its gradient joins the output
gradients (zeros for unused outputs). Nonzero returns int64 indices.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op

from .basic import as_tensor_variable
from .type import TensorType


def take(a, indices, axis=None, mode="raise"):
    """Elements of `a` at `indices` along `axis` (a flattened when axis is None),
    as numpy.take. mode: 'raise' (out-of-range indices raise), 'clip' or 'wrap'."""
    from .math import clip

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


class Split(Op):
    """Split x along `axis` into `len_splits` pieces of lengths `splits`."""

    __props__ = ("len_splits", "axis")

    def __init__(self, len_splits, axis=0):
        self.len_splits = int(len_splits)
        self.axis = int(axis)

    def make_node(self, x, splits):
        x = as_tensor_variable(x)
        splits = as_tensor_variable(splits)
        if x.ndim == 0:
            raise TypeError("split: cannot split a 0-d tensor")
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"split: axis {self.axis} out of range for {x.ndim}-d {x}")
        if splits.ndim != 1 or not splits.dtype.startswith(("int", "uint")):
            raise TypeError(f"split: splits_size must be an integer vector, got {splits.type}")
        from .shape import static_length

        n = static_length(splits)
        if n is not None and n != self.len_splits:
            raise ValueError(f"split: n_splits={self.len_splits} but splits_size has {n} "
                             "entries")
        bc = list(x.broadcastable)
        bc[self.axis] = False
        return Apply(self, [x, splits], [TensorType(x.dtype, bc)()
                                         for _ in range(self.len_splits)])

    def compute(self, node, x, splits):
        splits = np.asarray(splits)
        if splits.shape != (self.len_splits,):
            raise ValueError(f"split: expected {self.len_splits} split sizes, got "
                             f"{splits.shape[0]} ({splits.tolist()})")
        if (splits < 0).any() or splits.sum() != x.shape[self.axis]:
            raise ValueError(f"split: sizes {splits.tolist()} must be non-negative and sum "
                             f"to the length {x.shape[self.axis]} of axis {self.axis}")
        ends = np.cumsum(splits)
        starts = ends - splits
        pre = (slice(None),) * self.axis
        return tuple(x[pre + (slice(int(s), int(e)),)] for s, e in zip(starts, ends))

    def L_op(self, inputs, outputs, output_grads):
        from theanine.gradient import disconnected_type

        from .alloc import zeros_like
        from .join import join

        x, _ = inputs
        gs = [zeros_like(o) if getattr(g.type, "is_disconnected", False) else g
              for o, g in zip(outputs, output_grads)]
        gx = join(self.axis, *gs) if len(gs) > 1 else gs[0]
        from .shape import patternbroadcast

        return [patternbroadcast(gx, x.broadcastable), disconnected_type()]

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, self.make_node(*inputs).outputs, output_grads)

    def connection_pattern(self, node):
        return [[True] * self.len_splits, [False] * self.len_splits]

    def infer_shape(self, node, shapes):
        from .math import cast

        x, splits = node.inputs
        out = []
        for i in range(self.len_splits):
            s = list(shapes[0])
            s[self.axis] = cast(splits[i], "int64")
            out.append(tuple(s))
        return out


def split(x, splits_size, n_splits, axis=0):
    """List of `n_splits` pieces of x along `axis`, of lengths `splits_size`
    (a list of ints / symbolic scalars or an integer vector)."""
    x = as_tensor_variable(x)
    if hasattr(axis, "data"):
        axis = int(axis.data)
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"split: axis must be an int in [{-x.ndim}, {x.ndim}), got {axis!r}")
    if isinstance(splits_size, (list, tuple)):
        if all(isinstance(s, (int, np.integer)) for s in splits_size):
            splits_size = np.asarray(splits_size, dtype="int64")
        else:
            from .math import cast

            splits_size = [cast(as_tensor_variable(s), "int64") for s in splits_size]
    node = Split(n_splits, int(axis) % max(x.ndim, 1)).make_node(x, splits_size)
    return list(node.outputs)


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
        from theanine.gradient import grad_undefined

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
