"""Flat <-> multi-dimensional index conversion: unravel_index, ravel_multi_index
(numpy's), as Theano 1.0's extra_ops.

Invariants: the outputs are integer index arrays of the index input's dtype
(as Theano) and carry no gradient; `dims` is an int vector of static length
(a tuple of ints or int scalars, or e.g. ``x.shape``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, disconnected_type

from .basic import as_tensor_variable
from .shape import make_vector, static_length
from .type import TensorType, upcast

_INT = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


def _dims_vector(dims, fn):
    if isinstance(dims, (list, tuple)):
        if all(isinstance(d, (int, np.integer)) for d in dims):
            dims = as_tensor_variable(np.asarray(dims, dtype="int64"))
        else:
            dims = make_vector(*dims, dtype="int64")
    dims = as_tensor_variable(dims)
    if dims.ndim != 1 or dims.dtype not in _INT:
        raise TypeError(f"{fn}: dims must be a tuple of ints or an int vector, got {dims.type}")
    n = static_length(dims)
    if n is None:
        raise ValueError(f"{fn}: the length of dims must be known statically; give a tuple")
    return dims, n


def _order(order, fn):
    if order not in ("C", "F"):
        raise ValueError(f"{fn}: order must be 'C' or 'F', got {order!r}")
    return order


def _no_grad(inputs):
    return [disconnected_type() for _ in inputs]


class UnravelIndex(Op):
    """numpy.unravel_index(indices, dims, order): one index array per dim."""

    __props__ = ("order",)

    def __init__(self, order="C"):
        self.order = _order(order, "unravel_index")

    def make_node(self, indices, dims):
        indices = as_tensor_variable(indices)
        if indices.dtype not in _INT:
            raise TypeError(f"unravel_index: indices must be integers, got {indices.type}")
        dims = as_tensor_variable(dims)
        n = static_length(dims)
        return Apply(self, [indices, dims], [indices.type() for _ in range(n)])

    def compute(self, node, indices, dims):
        res = np.unravel_index(indices, tuple(int(d) for d in dims), order=self.order)
        return tuple(np.asarray(r, dtype=indices.dtype) for r in res)

    def grad(self, inputs, output_grads):
        return _no_grad(inputs)

    def connection_pattern(self, node):
        return [[False] * len(node.outputs) for _ in node.inputs]

    def infer_shape(self, node, shapes):
        return [shapes[0]] * len(node.outputs)


def unravel_index(indices, dims, order="C"):
    """The tuple of index arrays that flat `indices` have in an array of shape `dims`."""
    dims, n = _dims_vector(dims, "unravel_index")
    if n == 0:
        raise ValueError("unravel_index: dims must not be empty")
    out = UnravelIndex(order)(indices, dims)
    return tuple(out) if isinstance(out, list) else (out,)


class RavelMultiIndex(Op):
    """numpy.ravel_multi_index(multi_index, dims, mode, order)."""

    __props__ = ("mode", "order")

    def __init__(self, mode="raise", order="C"):
        if mode not in ("raise", "wrap", "clip"):
            raise ValueError(f"ravel_multi_index: mode must be 'raise', 'wrap' or 'clip', "
                             f"got {mode!r}")
        self.mode, self.order = mode, _order(order, "ravel_multi_index")

    def make_node(self, *inputs):
        *multi, dims = [as_tensor_variable(v) for v in inputs]
        for k, m in enumerate(multi):
            if m.dtype not in _INT:
                raise TypeError(f"ravel_multi_index: multi_index[{k}] must be integers, got "
                                f"{m.type}")
        nd = max(m.ndim for m in multi)
        bc = [all(m.broadcastable[i - nd + m.ndim] if i - nd + m.ndim >= 0 else True
                  for m in multi) for i in range(nd)]
        dtype = upcast(*[m.dtype for m in multi])
        return Apply(self, [*multi, dims], [TensorType(dtype, bc)()])

    def compute(self, node, *inputs):
        *multi, dims = inputs
        try:
            res = np.ravel_multi_index(tuple(multi), tuple(int(d) for d in dims),
                                       mode=self.mode, order=self.order)
        except ValueError as e:
            raise ValueError(f"ravel_multi_index: {e} (dims {tuple(dims)})") from None
        return np.asarray(res, dtype=node.outputs[0].type.dtype)

    def grad(self, inputs, output_grads):
        return _no_grad(inputs)

    def connection_pattern(self, node):
        return [[False] for _ in node.inputs]


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Flat indices of the index arrays `multi_index` (one per dim) in shape `dims`."""
    dims, n = _dims_vector(dims, "ravel_multi_index")
    if not isinstance(multi_index, (list, tuple)) or len(multi_index) != n:
        got = len(multi_index) if isinstance(multi_index, (list, tuple)) else multi_index
        raise ValueError(f"ravel_multi_index: multi_index must be a tuple of {n} index "
                         f"arrays (one per entry of dims), got {got!r}")
    return RavelMultiIndex(mode, order)(*multi_index, dims)


__all__ = ["UnravelIndex", "unravel_index", "RavelMultiIndex", "ravel_multi_index"]
