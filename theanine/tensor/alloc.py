"""Allocation: alloc (broadcast a value to a shape), broadcast_to, zeros/ones and *_like.

Invariants:
- Alloc's shape inputs are int64 scalars; a constant 1 makes that output dim
  broadcastable.
- Like Elemwise, Alloc refuses at run time to stretch a value dim of length 1
  that is not declared broadcastable (its gradient would have the wrong shape).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type

from .basic import as_tensor_variable, constant
from .elemwise import sum_to
from .math import cast, second
from .reduce import sum as tsum
from .shape import shape_elements, static_length
from .type import TensorType, canonical_dtype

_INT = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


def as_int64_scalar(s, what):
    """s (int, integer constant or symbolic integer scalar) as an int64 scalar;
    constants stay constants (so a constant 1 is recognised)."""
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        return constant(np.int64(s))
    s = as_tensor_variable(s)
    if s.ndim != 0 or s.dtype not in _INT:
        raise TypeError(f"{what} must be an integer scalar, got {s.type}")
    if isinstance(s, Constant):
        return constant(np.int64(s.data))
    return cast(s, "int64")


class Alloc(Op):
    """alloc(value, *shape): `value` broadcast to `shape` (a new array)."""

    __props__ = ()

    def make_node(self, value, *shape):
        v = as_tensor_variable(value)
        sh = [as_int64_scalar(s, f"alloc: shape[{k}]") for k, s in enumerate(shape)]
        if v.ndim > len(sh):
            raise TypeError(f"alloc: the value has {v.ndim} dims, more than the {len(sh)} "
                            "of the shape")
        for k, s in enumerate(sh):
            if isinstance(s, Constant) and int(s.data) < 0:
                raise ValueError(f"alloc: shape[{k}] must be >= 0, got {int(s.data)}")
        bc = [isinstance(s, Constant) and int(s.data) == 1 for s in sh]
        return Apply(self, [v, *sh], [TensorType(v.dtype, bc)()])

    def compute(self, node, value, *shape):
        shape = tuple(int(s) for s in shape)
        value = np.asarray(value)
        lead = len(shape) - value.ndim
        vbc = node.inputs[0].type.broadcastable
        for i, n in enumerate(value.shape):
            if n != shape[lead + i] and not vbc[i]:
                raise ValueError(f"alloc: cannot broadcast a value of shape {value.shape} to "
                                 f"shape {shape}: value dim {i} has length {n} and is not "
                                 "broadcastable")
        return np.array(np.broadcast_to(value, shape))

    def grad(self, inputs, output_grads):
        v = inputs[0]
        (gz,) = output_grads
        lead = gz.ndim - v.ndim
        g = tsum(gz, axis=tuple(range(lead))) if lead else gz
        axes = tuple(i for i in range(v.ndim) if v.broadcastable[i] and not g.broadcastable[i])
        g = tsum(g, axis=axes, keepdims=True) if axes else g
        g = sum_to(g, v)
        return [g] + [disconnected_type() for _ in inputs[1:]]

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]

    def infer_shape(self, node, shapes):
        return [tuple(node.inputs[1:])]


_alloc = Alloc()


def alloc(value, *shape):
    """A new tensor of `shape` (ints or int scalars) filled with `value` (broadcast)."""
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    return _alloc(value, *shape)


def shape_args(shape, fn):
    """A shape argument (int, tuple/list, int scalar or int vector of static length)
    as a list of scalars."""
    if isinstance(shape, (list, tuple)):
        return list(shape)
    if isinstance(shape, (int, np.integer)):
        return [shape]
    shape = as_tensor_variable(shape)
    if shape.ndim == 0:
        return [shape]
    n = static_length(shape) if shape.ndim == 1 else None
    if n is None:
        raise ValueError(f"{fn}: the shape must be a tuple, an int, or an int vector of "
                         f"static length; got {shape.type}")
    return shape_elements(shape, n)


def zeros(shape, dtype=None):
    """A tensor of zeros of `shape` (dtype default floatX)."""
    dtype = canonical_dtype(dtype or "floatX")
    return alloc(constant(np.zeros((), dtype=dtype)), *shape_args(shape, "zeros"))


def ones(shape, dtype=None):
    """A tensor of ones of `shape` (dtype default floatX)."""
    dtype = canonical_dtype(dtype or "floatX")
    return alloc(constant(np.ones((), dtype=dtype)), *shape_args(shape, "ones"))


def zeros_like(model, dtype=None, opt=False):
    """Zeros with the shape (and dtype, unless given) of `model`."""
    model = as_tensor_variable(model)
    dtype = canonical_dtype(dtype) if dtype else model.dtype
    return second(model, constant(np.zeros((), dtype=dtype)))


def ones_like(model, dtype=None, opt=False):
    """Ones with the shape (and dtype, unless given) of `model`."""
    model = as_tensor_variable(model)
    dtype = canonical_dtype(dtype) if dtype else model.dtype
    return second(model, constant(np.ones((), dtype=dtype)))


def broadcast_to(x, shp):
    """x broadcast to the shape `shp` (tuple of ints/scalars, or an int vector)."""
    if isinstance(shp, (list, tuple)):
        return alloc(x, *shp)
    v = as_tensor_variable(shp)
    n = static_length(v) if v.ndim == 1 else None
    if n is None:
        raise ValueError(f"broadcast_to: the shape must be a tuple or a vector of static "
                         f"length, got {v.type}")
    return alloc(x, *shape_elements(v, n))
