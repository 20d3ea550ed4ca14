"""Sorting and searching: sort, argsort, searchsorted, unique, and the
permutation op that carries sort's gradient.

Invariants:
- SortOp/ArgSortOp work along one non-negative axis; axis=None is a flatten first.
- PermuteAlongAxis(axis, inverse)(x, perm) requires `perm` to be a permutation
  along `axis` (as argsort returns); its gradient is the inverse permutation.
- Index outputs (argsort, searchsorted, unique's extras) are int64 and carry no
  gradient.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, disconnected_type, grad_not_implemented

from .basic import as_tensor_variable
from .math import second
from .ranges import arange
from .reduce import normalize_axis
from .shape import flatten, shape_i
from .subtensor_extra import flatnonzero, take
from .type import TensorType

_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _disconnected():
    return disconnected_type()


def _check_kind(kind, order, fn):
    if kind not in _KINDS:
        raise ValueError(f"{fn}: kind must be one of {_KINDS}, got {kind!r}")
    if order is not None:
        raise ValueError(f"{fn}: order={order!r} applies to structured arrays only; "
                         "give order=None")


class SortOp(Op):
    """Sorted copy of a tensor along `axis`."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        self.axis, self.kind = int(axis), kind

    def make_node(self, a):
        a = as_tensor_variable(a)
        if not 0 <= self.axis < a.ndim:
            raise ValueError(f"sort: axis {self.axis} out of range for {a.ndim}-d {a}")
        return Apply(self, [a], [a.type()])

    def compute(self, node, a):
        return np.sort(a, axis=self.axis, kind=self.kind)

    def grad(self, inputs, output_grads):
        (a,), (gz,) = inputs, output_grads
        idx = ArgSortOp(self.axis, self.kind)(a)
        return [PermuteAlongAxis(self.axis, inverse=True)(gz, idx)]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


class ArgSortOp(Op):
    """Indices (int64) that sort a tensor along `axis`."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        self.axis, self.kind = int(axis), kind

    def make_node(self, a):
        a = as_tensor_variable(a)
        if not 0 <= self.axis < a.ndim:
            raise ValueError(f"argsort: axis {self.axis} out of range for {a.ndim}-d {a}")
        return Apply(self, [a], [TensorType("int64", a.broadcastable)()])

    def compute(self, node, a):
        return np.argsort(a, axis=self.axis, kind=self.kind).astype("int64", copy=False)

    def grad(self, inputs, output_grads):
        return [_disconnected()]

    def connection_pattern(self, node):
        return [[False]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


class PermuteAlongAxis(Op):
    """out = take_along_axis(x, perm, axis), or with inverse=True the x placed at
    the positions perm (put_along_axis): the inverse permutation."""

    __props__ = ("axis", "inverse")

    def __init__(self, axis, inverse=False):
        self.axis, self.inverse = int(axis), bool(inverse)

    def make_node(self, x, perm):
        x, perm = as_tensor_variable(x), as_tensor_variable(perm)
        if perm.ndim != x.ndim or not perm.dtype.startswith(("int", "uint")):
            raise TypeError(f"permute: perm must be an integer tensor of {x.ndim} dims, "
                            f"got {perm.type}")
        bc = [a and b for a, b in zip(x.broadcastable, perm.broadcastable)]
        return Apply(self, [x, perm], [TensorType(x.dtype, bc)()])

    def compute(self, node, x, perm):
        if x.shape != perm.shape:
            raise ValueError(f"permute: x of shape {x.shape} and perm of shape {perm.shape} "
                             "must have the same shape")
        if not self.inverse:
            return np.take_along_axis(x, perm, axis=self.axis)
        out = np.empty_like(x)
        np.put_along_axis(out, perm, x, axis=self.axis)
        return out

    def grad(self, inputs, output_grads):
        (_, perm), (gz,) = inputs, output_grads
        return [PermuteAlongAxis(self.axis, not self.inverse)(gz, perm), _disconnected()]

    def connection_pattern(self, node):
        return [[True], [False]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def _axis_or_flat(a, axis, fn):
    a = as_tensor_variable(a)
    if axis is None:
        return flatten(a), 0
    if a.ndim == 0:
        raise ValueError(f"{fn}: axis={axis} given for a 0-d tensor; use axis=None")
    (ax,) = normalize_axis(axis, a.ndim, f"{fn}: axis")
    return a, ax


def sort(a, axis=-1, kind="quicksort", order=None):
    """Sorted copy of `a` along `axis` (None: the flattened tensor), as numpy.sort."""
    _check_kind(kind, order, "sort")
    a, ax = _axis_or_flat(a, axis, "sort")
    return SortOp(ax, kind)(a)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """int64 indices that sort `a` along `axis` (None: flattened), as numpy.argsort."""
    _check_kind(kind, order, "argsort")
    a, ax = _axis_or_flat(a, axis, "argsort")
    return ArgSortOp(ax, kind)(a)


def inverse_permutation(perm):
    """The inverse of permutation vector(s) along the last axis: out[perm[i]] = i."""
    perm = as_tensor_variable(perm)
    if perm.ndim < 1 or not perm.dtype.startswith(("int", "uint")):
        raise TypeError(f"inverse_permutation: perm must be an integer tensor, got {perm.type}")
    ax = perm.ndim - 1
    idx = arange(shape_i(perm, ax), dtype=perm.dtype)

    return PermuteAlongAxis(ax, inverse=True)(second(perm, idx), perm)


class SearchsortedOp(Op):
    """Indices (int64) where v's elements would be inserted into sorted vector x."""

    __props__ = ("side",)

    def __init__(self, side="left"):
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        self.side = side

    def make_node(self, x, v, sorter=None):
        x, v = as_tensor_variable(x), as_tensor_variable(v)
        if x.ndim != 1:
            raise TypeError(f"searchsorted: x must be a vector, got {x.type}")
        ins = [x, v]
        if sorter is not None:
            sorter = as_tensor_variable(sorter)
            if sorter.ndim != 1 or not sorter.dtype.startswith(("int", "uint")):
                raise TypeError(f"searchsorted: sorter must be an integer vector, got "
                                f"{sorter.type}")
            ins.append(sorter)
        return Apply(self, ins, [TensorType("int64", v.broadcastable)()])

    def compute(self, node, x, v, sorter=None):
        return np.asarray(np.searchsorted(x, v, side=self.side, sorter=sorter), dtype="int64")

    def grad(self, inputs, output_grads):
        return [_disconnected() for _ in inputs]

    def connection_pattern(self, node):
        return [[False] for _ in node.inputs]

    def infer_shape(self, node, shapes):
        return [shapes[1]]


def searchsorted(x, v, side="left", sorter=None):
    """Indices into sorted vector x at which to insert v to keep x sorted
    (numpy.searchsorted); `sorter` sorts an unsorted x."""
    return SearchsortedOp(side)(x, v, sorter)


class Unique(Op):
    """numpy.unique with optional index, inverse and counts outputs (all int64).
    axis=None works on the flattened input; the inverse is always a vector."""

    __props__ = ("return_index", "return_inverse", "return_counts", "axis")

    def __init__(self, return_index=False, return_inverse=False, return_counts=False,
                 axis=None):
        self.return_index, self.return_inverse = bool(return_index), bool(return_inverse)
        self.return_counts = bool(return_counts)
        self.axis = None if axis is None else int(axis)

    def make_node(self, ar):
        ar = as_tensor_variable(ar)
        if self.axis is None:
            vals = TensorType(ar.dtype, (False,))()
        else:
            if not 0 <= self.axis < ar.ndim:
                raise ValueError(f"unique: axis {self.axis} out of range for {ar.ndim}-d {ar}")
            bc = list(ar.broadcastable)
            bc[self.axis] = False
            vals = TensorType(ar.dtype, bc)()
        n_extra = self.return_index + self.return_inverse + self.return_counts
        extra = [TensorType("int64", (False,))() for _ in range(n_extra)]
        return Apply(self, [ar], [vals, *extra])

    def compute(self, node, ar):
        res = np.unique(ar, self.return_index, self.return_inverse, self.return_counts,
                        axis=self.axis)
        if len(node.outputs) == 1:
            return res
        res = list(res)
        for k in range(1, len(res)):
            res[k] = np.asarray(res[k], dtype="int64").reshape(-1)
        return tuple(res)

    def grad(self, inputs, output_grads):
        return [grad_not_implemented(self, 0, inputs[0])]


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """Sorted unique elements of `ar` (numpy.unique); with any return_* flag, a list
    [values, (index), (inverse), (counts)]."""
    if axis is not None:
        ar = as_tensor_variable(ar)
        (axis,) = normalize_axis(axis, ar.ndim, "unique: axis")
    return Unique(return_index, return_inverse, return_counts, axis)(ar)


def compress(condition, x, axis=None):
    """The slices of x along `axis` (None: elements of the flattened x) where the
    vector `condition` is true (numpy.compress); differentiable wrt x."""
    condition = as_tensor_variable(condition)
    if condition.ndim != 1:
        raise TypeError(f"compress: condition must be a vector, got {condition.type}")
    return take(x, flatnonzero(condition), axis=axis)


__all__ = ["compress", "SortOp", "ArgSortOp", "PermuteAlongAxis", "sort", "argsort",
           "inverse_permutation", "SearchsortedOp", "searchsorted", "Unique", "unique"]
