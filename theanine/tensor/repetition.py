"""Repetition and rotation: repeat, tile, roll, bincount.

Invariants:
- RepeatOp(axis) works along one non-negative axis, or (axis=None) on the
  flattened input; `repeats` is an int scalar or vector (numpy.repeat rules).
  Its gradient, RepeatGrad, sums each group of repeated copies back; RepeatGrad's
  own gradient is RepeatOp again (the two are adjoint), so second order works.
- tile is a composition (dimshuffle + alloc + reshape); its gradient comes free.
- Roll(axis)(x, shift) is numpy.roll along one axis; its gradient rolls back.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type

from .alloc import alloc, as_int64_scalar
from .basic import as_tensor_variable
from .reduce import normalize_axis
from .reduce import sum as tsum
from .shape import _prod, reshape, shape, shape_elements, shape_i, shape_padleft, static_length
from .type import TensorType

_INT = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


def _disconnected():
    return disconnected_type()


def _repeats(repeats):
    r = as_tensor_variable(repeats)
    if r.ndim > 1 or r.dtype not in _INT:
        raise TypeError(f"repeat: repeats must be an integer scalar or vector, got {r.type}")
    return r


class RepeatOp(Op):
    """numpy.repeat(x, repeats, axis)."""

    __props__ = ("axis",)

    def __init__(self, axis=None):
        self.axis = None if axis is None else int(axis)

    def make_node(self, x, repeats):
        x, r = as_tensor_variable(x), _repeats(repeats)
        if self.axis is None:
            bc = (False,)
        else:
            if not 0 <= self.axis < x.ndim:
                raise ValueError(f"repeat: axis {self.axis} out of range for {x.ndim}-d {x}")
            bc = list(x.broadcastable)
            bc[self.axis] = False
        return Apply(self, [x, r], [TensorType(x.dtype, bc)()])

    def compute(self, node, x, repeats):
        if np.any(repeats < 0):
            raise ValueError(f"repeat: repeats must be >= 0, got {repeats}")
        n = x.size if self.axis is None else x.shape[self.axis]
        if repeats.ndim == 1 and repeats.shape[0] != n:
            raise ValueError(f"repeat: repeats has {repeats.shape[0]} entries but x has {n} "
                             f"elements along axis {self.axis} (x shape {x.shape})")
        return np.repeat(x, repeats, axis=self.axis)

    def grad(self, inputs, output_grads):
        (x, r), (gz,) = inputs, output_grads
        return [RepeatGrad(self.axis)(gz, r, x), _disconnected()]

    def connection_pattern(self, node):
        return [[True], [False]]

    def infer_shape(self, node, shapes):
        x, r = node.inputs
        sx = shapes[0]
        n = _prod(sx) if self.axis is None else sx[self.axis]
        total = n * r if r.ndim == 0 else tsum(r)
        if self.axis is None:
            return [(total,)]
        out = list(sx)
        out[self.axis] = total
        return [tuple(out)]


class RepeatGrad(Op):
    """Adjoint of RepeatOp: sums the repeated copies in gz back to x's shape
    (x is an input for its shape only)."""

    __props__ = ("axis",)

    def __init__(self, axis=None):
        self.axis = None if axis is None else int(axis)

    def make_node(self, gz, repeats, x):
        gz, r, x = as_tensor_variable(gz), _repeats(repeats), as_tensor_variable(x)
        return Apply(self, [gz, r, x], [TensorType(gz.dtype, x.broadcastable)()])

    def compute(self, node, gz, repeats, x):
        axis = self.axis
        xs = x.reshape(-1) if axis is None else x
        ax = 0 if axis is None else axis
        n = xs.shape[ax]
        seg = np.repeat(np.arange(n), repeats)
        moved = np.moveaxis(gz, ax, 0)
        out = np.zeros((n,) + moved.shape[1:], dtype=gz.dtype)
        np.add.at(out, seg, moved)
        return np.moveaxis(out, 0, ax).reshape(x.shape)

    def grad(self, inputs, output_grads):
        (_, r, _), (g,) = inputs, output_grads
        return [RepeatOp(self.axis)(g, r), _disconnected(), _disconnected()]

    def connection_pattern(self, node):
        return [[True], [False], [False]]

    def infer_shape(self, node, shapes):
        return [shapes[2]]


def repeat(x, repeats, axis=None):
    """Repeat the elements of x (numpy.repeat): `repeats` is an int, an int scalar or
    an int vector (one count per element along axis); axis=None flattens x first."""
    x = as_tensor_variable(x)
    if isinstance(repeats, (int, np.integer)):
        repeats = as_int64_scalar(repeats, "repeat: repeats")
    repeats = _repeats(repeats)
    if repeats.broadcastable == (True,):
        repeats = repeats.dimshuffle()  # one count for every element, as numpy
    if axis is not None:
        (axis,) = normalize_axis(axis, x.ndim, "repeat: axis")
    return RepeatOp(axis)(x, repeats)


def _mul_int(a, b):
    """a * b for int64 scalars, folded when both are constants."""
    if isinstance(a, Constant) and isinstance(b, Constant):
        return as_int64_scalar(int(a.data) * int(b.data), "tile")
    return a * b


def _reps_list(reps, ndim):
    if isinstance(reps, (list, tuple)):
        return [as_int64_scalar(r, f"tile: reps[{k}]") for k, r in enumerate(reps)]
    if isinstance(reps, (int, np.integer)):
        return [as_int64_scalar(reps, "tile: reps")]
    r = as_tensor_variable(reps)
    if r.dtype not in _INT or r.ndim > 1:
        raise TypeError(f"tile: reps must be ints, an int scalar or an int vector, got {r.type}")
    if r.ndim == 0:
        return [as_int64_scalar(r, "tile: reps")]
    n = static_length(r)
    if n is None and ndim is None:
        raise ValueError("tile: the length of the reps vector is not known statically; "
                         "give ndim= (the vector then has ndim entries) or a list of scalars")
    return shape_elements(r, ndim if n is None else n)


def tile(x, reps, ndim=None):
    """x repeated `reps` times along each dim (numpy.tile). reps: an int, a list of
    ints / int scalars, or an int vector of static length. The result has
    ndim = max(x.ndim, len(reps)) dims (or `ndim`, if given, which must be >= both;
    a symbolic reps vector of unknown length is then taken to have ndim entries)."""
    x = as_tensor_variable(x)
    r = _reps_list(reps, ndim)
    nd = max(x.ndim, len(r)) if ndim is None else int(ndim)
    if nd < x.ndim or nd < len(r):
        raise ValueError(f"tile: ndim={ndim} must be >= x.ndim ({x.ndim}) and len(reps) "
                         f"({len(r)})")
    x = shape_padleft(x, nd - x.ndim)
    one = as_int64_scalar(1, "tile")
    r = [one] * (nd - len(r)) + r
    if nd == 0:
        return x
    pattern, alloc_shape, out_shape = [], [], []
    for i in range(nd):
        pattern += ["x", i]
        n = shape_i(x, i)
        alloc_shape += [r[i], n]
        out_shape.append(_mul_int(r[i], n))
    big = alloc(x.dimshuffle(pattern), *alloc_shape)
    return reshape(big, out_shape)


class Roll(Op):
    """numpy.roll(x, shift, axis) along one axis (shift an int scalar)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, shift):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"roll: axis {self.axis} out of range for {x.ndim}-d {x}")
        shift = as_int64_scalar(shift, "roll: shift")
        return Apply(self, [x, shift], [x.type()])

    def compute(self, node, x, shift):
        return np.roll(x, int(shift), axis=self.axis)

    def grad(self, inputs, output_grads):
        (_, shift), (gz,) = inputs, output_grads
        return [Roll(self.axis)(gz, -shift), _disconnected()]

    def connection_pattern(self, node):
        return [[True], [False]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def roll(x, shift, axis=None):
    """Elements of x shifted by `shift` along `axis` cyclically (numpy.roll);
    axis=None rolls the flattened tensor. shift/axis may be equal-length tuples."""
    x = as_tensor_variable(x)
    if isinstance(shift, (list, tuple)) or isinstance(axis, (list, tuple)):
        shifts = shift if isinstance(shift, (list, tuple)) else [shift] * len(axis)
        axes = axis if isinstance(axis, (list, tuple)) else [axis] * len(shifts)
        if len(shifts) != len(axes):
            raise ValueError(f"roll: shift has {len(shifts)} entries but axis {len(axes)}")
        for s, a in zip(shifts, axes):
            x = roll(x, s, a)
        return x
    if axis is None:
        if x.ndim == 1:
            return Roll(0)(x, shift)
        return reshape(Roll(0)(x.flatten(), shift), shape(x), ndim=x.ndim)
    (ax,) = normalize_axis(axis, x.ndim, "roll: axis")
    return Roll(ax)(x, shift)


class BinCount(Op):
    """numpy.bincount(x, weights, minlength) (x a non-negative int vector)."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, x, minlength, weights=None):
        ins = [x, minlength] + ([] if weights is None else [weights])
        return Apply(self, ins, [TensorType(self.dtype, (False,))()])

    def compute(self, node, x, minlength, weights=None):
        if x.size and x.min() < 0:
            raise ValueError(f"bincount: x must be non-negative, got the value {x.min()}")
        if weights is not None and weights.shape != x.shape:
            raise ValueError(f"bincount: weights of shape {weights.shape} must match x of "
                             f"shape {x.shape}")
        out = np.bincount(x, weights, minlength=int(minlength))
        return out.astype(self.dtype)

    def grad(self, inputs, output_grads):
        (gz,) = output_grads
        gs = [_disconnected(), _disconnected()]
        if len(inputs) == 3:
            gs.append(gz[inputs[0]])
        return gs

    def connection_pattern(self, node):
        return [[False], [False]] + [[True]] * (len(node.inputs) - 2)


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """Number of occurrences of each value in the non-negative int vector x
    (numpy.bincount). As in Theano, the result has x's dtype, or the dtype of
    `weights` when given (then each occurrence adds its weight)."""
    x = as_tensor_variable(x)
    if x.ndim != 1 or x.dtype not in _INT:
        raise TypeError(f"bincount: x must be an integer vector, got {x.type}")
    if weights is not None:
        weights = as_tensor_variable(weights)
        if weights.ndim != 1:
            raise TypeError(f"bincount: weights must be a vector, got {weights.type}")
    minlength = as_int64_scalar(0 if minlength is None else minlength, "bincount: minlength")
    dtype = x.dtype if weights is None else weights.dtype
    return BinCount(dtype)(x, minlength, weights)


__all__ = ["RepeatOp", "RepeatGrad", "repeat", "tile", "Roll", "roll", "BinCount",
           "bincount"]
