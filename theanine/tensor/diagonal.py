"""Diagonals: diagonal, trace, diag, fill_diagonal, fill_diagonal_offset.

Two Ops, adjoint to each other, over a diagonal described by `axes` and `offset`:
- ExtractDiag(offset, axes)(a): the diagonal as the last dim, the other dims of
  `a` first in order (numpy.diagonal for two axes).
- SetDiag(offset, axes)(a, d): a copy of `a` whose diagonal is d (broadcast).
With two axes (axis1, axis2) the diagonal is a[.., i + max(-offset, 0), ..,
i + max(offset, 0), ..]; with more axes (offset 0) it is a[i, i, ..., i].
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op

from .alloc import alloc, zeros_like
from .basic import as_tensor_variable
from .elemwise import _is_py_scalar, sum_to
from .math import maximum, minimum
from .reduce import normalize_axis
from .reduce import sum as tsum
from .shape import shape_i
from .type import TensorType, upcast


def _diag_index(shape, offset, axes):
    """(index arrays for the diagonal axes moved last, diagonal length)."""
    lens = [shape[a] for a in axes]
    if len(axes) == 2:
        starts = [max(-offset, 0), max(offset, 0)]
    else:
        starts = [0] * len(axes)
    k = max(0, min(n - s for n, s in zip(lens, starts)))
    idx = tuple(np.arange(k) + s for s in starts)
    return idx, k


def _moved(x, axes):
    return np.moveaxis(x, axes, list(range(x.ndim - len(axes), x.ndim)))


class _DiagBase(Op):
    __props__ = ("offset", "axes")

    def __init__(self, offset=0, axes=(0, 1)):
        self.offset, self.axes = int(offset), tuple(int(a) for a in axes)
        if len(self.axes) < 2 or len(set(self.axes)) != len(self.axes):
            raise ValueError(f"diagonal: need two or more distinct axes, got {self.axes}")
        if len(self.axes) > 2 and self.offset:
            raise ValueError("diagonal: an offset needs exactly two axes")

    def _check(self, a, fn):
        for ax in self.axes:
            if not 0 <= ax < a.ndim:
                raise ValueError(f"{fn}: axis {ax} out of range for {a.ndim}-d {a}")

    def _rest_bc(self, a):
        return tuple(b for i, b in enumerate(a.broadcastable) if i not in self.axes)


class ExtractDiag(_DiagBase):
    """The diagonal of `a` along `axes` (numpy.diagonal), as a new array."""

    def make_node(self, a):
        a = as_tensor_variable(a)
        self._check(a, "diagonal")
        diag_bc = all(a.broadcastable[ax] for ax in self.axes) and self.offset == 0
        return Apply(self, [a], [TensorType(a.dtype, self._rest_bc(a) + (diag_bc,))()])

    def compute(self, node, a):
        idx, _ = _diag_index(a.shape, self.offset, self.axes)
        return np.array(_moved(a, self.axes)[(Ellipsis, *idx)])

    def grad(self, inputs, output_grads):
        (a,), (gz,) = inputs, output_grads
        return [SetDiag(self.offset, self.axes)(zeros_like(a, gz.dtype), gz)]

    def infer_shape(self, node, shapes):
        sh = shapes[0]
        rest = [s for i, s in enumerate(sh) if i not in self.axes]
        lens = [sh[a] for a in self.axes]
        if len(lens) == 2:
            lens = [lens[0] - max(-self.offset, 0), lens[1] - max(self.offset, 0)]
        k = lens[0]
        for n in lens[1:]:
            k = minimum(k, n)
        return [tuple(rest) + (maximum(k, 0),)]


class SetDiag(_DiagBase):
    """A copy of `a` whose diagonal along `axes` is `d` (broadcast to the diagonal's
    shape: a's other dims, then the diagonal's length)."""

    def make_node(self, a, d):
        a, d = as_tensor_variable(a), as_tensor_variable(d)
        self._check(a, "set diagonal")
        if d.ndim > a.ndim - len(self.axes) + 1:
            raise TypeError(f"set diagonal: the value has {d.ndim} dims, more than the "
                            f"{a.ndim - len(self.axes) + 1} of the diagonal of {a.type}")
        if upcast(a.dtype, d.dtype) != a.dtype:
            raise TypeError(f"set diagonal: a value of dtype {d.dtype} cannot be stored in "
                            f"an array of dtype {a.dtype} without loss; cast it first")
        return Apply(self, [a, d], [a.type()])

    def compute(self, node, a, d):
        out = np.array(a)
        idx, k = _diag_index(a.shape, self.offset, self.axes)
        target = _moved(out, self.axes)
        shape = target.shape[:a.ndim - len(self.axes)] + (k,)
        dbc = node.inputs[1].type.broadcastable
        lead = len(shape) - d.ndim
        for i, n in enumerate(d.shape):
            if n != shape[lead + i] and not dbc[i]:
                raise ValueError(f"set diagonal: a value of shape {d.shape} does not fit the "
                                 f"diagonal of shape {shape}")
        target[(Ellipsis, *idx)] = d
        return out

    def grad(self, inputs, output_grads):
        (_, d), (gz,) = inputs, output_grads
        ga = SetDiag(self.offset, self.axes)(gz, np.zeros((), dtype=gz.dtype))
        gd = ExtractDiag(self.offset, self.axes)(gz)
        lead = gd.ndim - d.ndim
        gd = tsum(gd, axis=tuple(range(lead))) if lead else gd
        return [ga, sum_to(gd, d)]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal of `a` with `offset`, over axes axis1 and axis2 (numpy.diagonal):
    those axes are removed and the diagonal appended as the last dim."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"diagonal: a must have at least 2 dims, got {a.ndim}-d {a}")
    if not isinstance(offset, (int, np.integer)):
        raise TypeError(f"diagonal: offset must be an int, got {offset!r}")
    ax1 = normalize_axis(axis1, a.ndim, "diagonal: axis1")[0]
    ax2 = normalize_axis(axis2, a.ndim, "diagonal: axis2")[0]
    if ax1 == ax2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    return ExtractDiag(offset, (ax1, ax2))(a)


def trace(a, offset=0, axis1=0, axis2=1):
    """Sum along the diagonal (numpy.trace)."""
    return tsum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v, k=0):
    """numpy.diag: a vector becomes a square matrix with v on diagonal k; a matrix
    gives its diagonal k."""
    v = as_tensor_variable(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: v must be a vector or a matrix, got {v.ndim}-d {v}")
    if not isinstance(k, (int, np.integer)):
        raise TypeError(f"diag: k must be an int, got {k!r}")
    n = shape_i(v, 0) + abs(int(k))
    return SetDiag(k, (0, 1))(alloc(np.zeros((), dtype=v.dtype), n, n), v)


def _weak_value(val, a, fn):
    if _is_py_scalar(val):
        return as_tensor_variable(val, dtype=a.dtype)
    val = as_tensor_variable(val)
    if val.ndim != 0:
        raise TypeError(f"{fn}: val must be a scalar, got {val.type}")
    return val


def fill_diagonal(a, val):
    """A copy of `a` with its main diagonal (a[i, i, ..., i]) set to the scalar `val`.
    For more than 2 dims all dims should have one length (as numpy.fill_diagonal)."""
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise ValueError(f"fill_diagonal: a must have at least 2 dims, got {a.ndim}-d {a}")
    return SetDiag(0, tuple(range(a.ndim)))(a, _weak_value(val, a, "fill_diagonal"))


def fill_diagonal_offset(a, val, offset):
    """A copy of matrix `a` with diagonal `offset` (an int) set to the scalar `val`."""
    a = as_tensor_variable(a)
    if a.ndim != 2:
        raise ValueError(f"fill_diagonal_offset: a must be a matrix, got {a.ndim}-d {a}")
    if not isinstance(offset, (int, np.integer)):
        raise TypeError(f"fill_diagonal_offset: offset must be an int, got {offset!r}")
    return SetDiag(int(offset), (0, 1))(a, _weak_value(val, a, "fill_diagonal_offset"))


__all__ = ["ExtractDiag", "SetDiag", "diagonal", "trace", "diag", "fill_diagonal",
           "fill_diagonal_offset"]
