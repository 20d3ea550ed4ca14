"""Allocation: alloc (broadcast a value to a shape), zeros/ones and *_like."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op

from .basic import as_tensor_variable, constant
from .type import TensorType, canonical_dtype


class Alloc(Op):
    """alloc(value, *shape): `value` broadcast to `shape` (a new array)."""

    __props__ = ()

    def make_node(self, value, *shape):
        from .math import cast

        v = as_tensor_variable(value)
        sh = []
        for k, s in enumerate(shape):
            s = as_tensor_variable(s)
            if s.ndim != 0 or not s.dtype.startswith(("int", "uint")):
                raise TypeError(f"alloc: shape[{k}] must be an integer scalar, got {s.type}")
            sh.append(cast(s, "int64"))
        if v.ndim > len(sh):
            raise TypeError(f"alloc: the value has {v.ndim} dims, more than the {len(sh)} "
                            "of the shape")
        bc = []
        for s in sh:
            bc.append(isinstance(s, Constant) and int(s.data) == 1)
        return Apply(self, [v, *sh], [TensorType(v.dtype, bc)()])

    def compute(self, node, value, *shape):
        shape = tuple(int(s) for s in shape)
        try:
            return np.array(np.broadcast_to(value, shape))
        except ValueError:
            raise ValueError(f"alloc: cannot broadcast a value of shape {np.shape(value)} "
                             f"to shape {shape}") from None

    def grad(self, inputs, output_grads):
        from theanine.gradient import disconnected_type

        from .elemwise import sum_to
        from .reduce import sum as tsum

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
    """A new tensor of `shape` filled with `value` (broadcast)."""
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    return _alloc(value, *shape)


def _shape_args(shape):
    from .shape import static_length

    if isinstance(shape, (list, tuple)):
        return list(shape)
    if isinstance(shape, (int, np.integer)):
        return [shape]
    shape = as_tensor_variable(shape)
    if shape.ndim == 0:
        return [shape]
    n = static_length(shape)
    if n is None:
        raise ValueError("zeros/ones: the length of the shape vector must be known")
    return [shape[i] for i in range(n)]


def zeros(shape, dtype=None):
    """A tensor of zeros (dtype default floatX)."""
    dtype = canonical_dtype(dtype or "floatX")
    return alloc(constant(np.zeros((), dtype=dtype)), *_shape_args(shape))


def ones(shape, dtype=None):
    """A tensor of ones (dtype default floatX)."""
    dtype = canonical_dtype(dtype or "floatX")
    return alloc(constant(np.ones((), dtype=dtype)), *_shape_args(shape))


def zeros_like(model, dtype=None, opt=False):
    """Zeros with the shape (and dtype, unless given) of `model`."""
    from .math import second

    model = as_tensor_variable(model)
    dtype = canonical_dtype(dtype) if dtype else model.dtype
    return second(model, constant(np.zeros((), dtype=dtype)))


def ones_like(model, dtype=None, opt=False):
    """Ones with the shape (and dtype, unless given) of `model`."""
    from .math import second

    model = as_tensor_variable(model)
    dtype = canonical_dtype(dtype) if dtype else model.dtype
    return second(model, constant(np.ones((), dtype=dtype)))
