"""Broadcast patterns and dimension order: Rebroadcast (addbroadcast, unbroadcast,
patternbroadcast), dimshuffle, transpose, swapaxes, shape_pad*, squeeze, and the
symbolic broadcast of shapes.

Invariant: every function here is metadata-only (no data copied except where
NumPy's transpose/reshape must); Rebroadcast checks at run time that a dim
declared broadcastable really has length 1.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op

from .basic import as_tensor_variable, constant
from .elemwise import DimShuffle
from .math import maximum
from .type import TensorType


def _int64(v):
    return constant(np.int64(v))


def _is_one(s):
    """True when the scalar s is a constant 1."""
    return isinstance(s, Constant) and np.asarray(s.data).size == 1 and int(s.data) == 1


class Rebroadcast(Op):
    """Change the broadcastable flags of some dims, checking lengths at run time.

    `axes` is a tuple of (axis, flag) pairs."""

    __props__ = ("axes",)

    def __init__(self, axes):
        self.axes = tuple(sorted((int(a), bool(f)) for a, f in axes))

    def make_node(self, x):
        x = as_tensor_variable(x)
        bc = list(x.broadcastable)
        for a, f in self.axes:
            if not 0 <= a < x.ndim:
                raise ValueError(f"rebroadcast: axis {a} out of range for {x.ndim}-d {x}")
            bc[a] = f
        return Apply(self, [x], [TensorType(x.dtype, bc)()])

    def compute(self, node, x):
        for a, f in self.axes:
            if f and x.shape[a] != 1:
                raise ValueError(f"addbroadcast: dimension {a} was declared broadcastable "
                                 f"but has length {x.shape[a]} (shape {x.shape})")
        return x

    def grad(self, inputs, output_grads):
        (x,) = inputs
        return [patternbroadcast(output_grads[0], x.broadcastable)]

    def infer_shape(self, node, shapes):
        return [tuple(_int64(1) if f else s for s, f in
                      zip(shapes[0], node.outputs[0].broadcastable))]


def _axis(a, ndim, fn):
    if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
        raise ValueError(f"{fn}: axis {a!r} out of range for a {ndim}-d tensor")
    return int(a) % ndim


def patternbroadcast(x, broadcastable):
    """x with exactly this broadcastable pattern (lengths checked at run time)."""
    x = as_tensor_variable(x)
    if len(broadcastable) != x.ndim:
        raise ValueError(f"patternbroadcast: pattern {tuple(broadcastable)} has "
                         f"{len(broadcastable)} entries for a {x.ndim}-d tensor")
    axes = [(i, bool(b)) for i, b in enumerate(broadcastable) if x.broadcastable[i] != bool(b)]
    return Rebroadcast(axes)(x) if axes else x


def addbroadcast(x, *axes):
    """Mark `axes` of x broadcastable (they must have length 1 at run time)."""
    x = as_tensor_variable(x)
    bc = list(x.broadcastable)
    for a in axes:
        bc[_axis(a, x.ndim, "addbroadcast")] = True
    return patternbroadcast(x, bc)


def unbroadcast(x, *axes):
    """Mark `axes` of x not broadcastable."""
    x = as_tensor_variable(x)
    bc = list(x.broadcastable)
    for a in axes:
        bc[_axis(a, x.ndim, "unbroadcast")] = False
    return patternbroadcast(x, bc)


def dimshuffle(x, *pattern):
    """Theano's x.dimshuffle: pattern lists input dims and 'x' for new broadcastable dims."""
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    x = as_tensor_variable(x)
    return DimShuffle(x.broadcastable, tuple(pattern))(x)


def transpose(x, axes=None):
    """Permute dims (reverse them by default)."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    axes = tuple(_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dims")
    return dimshuffle(x, axes)


def swapaxes(x, axis1, axis2):
    """x with dims axis1 and axis2 exchanged."""
    x = as_tensor_variable(x)
    a, b = _axis(axis1, x.ndim, "swapaxes"), _axis(axis2, x.ndim, "swapaxes")
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return dimshuffle(x, perm)


def shape_padleft(x, n_ones=1):
    """x with `n_ones` broadcastable dims prepended."""
    x = as_tensor_variable(x)
    return dimshuffle(x, ["x"] * n_ones + list(range(x.ndim)))


def shape_padright(x, n_ones=1):
    """x with `n_ones` broadcastable dims appended."""
    x = as_tensor_variable(x)
    return dimshuffle(x, list(range(x.ndim)) + ["x"] * n_ones)


def shape_padaxis(x, axis):
    """x with one broadcastable dim inserted at `axis` (negative counts from the end)."""
    x = as_tensor_variable(x)
    nd = x.ndim + 1
    if not -nd <= axis < nd:
        raise IndexError(f"shape_padaxis: axis {axis} out of range for result ndim {nd}")
    axis %= nd
    pattern = list(range(x.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(x, pattern)


def squeeze(x, axis=None):
    """Drop the broadcastable dims (axis=None), or the given dims, which must have
    length 1 at run time."""
    x = as_tensor_variable(x)
    if axis is None:
        drop = [i for i, b in enumerate(x.broadcastable) if b]
    else:
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        drop = sorted({_axis(a, x.ndim, "squeeze") for a in axes})
        x = addbroadcast(x, *drop)
    return dimshuffle(x, [i for i in range(x.ndim) if i not in drop])


def broadcast_shape(*shapes):
    """Symbolic broadcast of shape tuples (of symbolic scalars), for infer_shape."""
    nd = max(len(s) for s in shapes)
    padded = [(_int64(1),) * (nd - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        non_one = [d for d in dims if not _is_one(d)]
        if not non_one:
            out.append(dims[0])
        elif len(non_one) == 1:
            out.append(non_one[0])
        else:
            r = non_one[0]
            for d in non_one[1:]:
                r = maximum(r, d)
            out.append(r)
    return tuple(out)
