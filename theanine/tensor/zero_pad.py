"""ZeroPad: zeros of a shape with a value written into a range of rows — what
``set_subtensor(zeros(shape)[start:stop], y)`` computes (gradients of slicing and of
loops over sequences build it) — returning y itself, not a copy, when y already is the
whole result.

    zero_pad(y, start, stop, *shape) == out, where out = zeros(shape, y.dtype) and
    out[start:stop] = y (NumPy slice semantics for start and stop; y broadcast along
    its broadcastable dims only, as set_subtensor does)

Invariants: y has len(shape) dims; when start:stop covers every row and y has the
shape, the result is y (values in a graph are never written in place, so sharing is
safe; a function returning it still copies what aliases its inputs). Errors are
set_subtensor's.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type

from .alloc import as_int64_scalar
from .basic import as_tensor_variable
from .elemwise import sum_to
from .subtensor import check_value_broadcast
from .type import TensorType


class ZeroPad(Op):
    """See the module docstring."""

    __props__ = ()

    def make_node(self, y, start, stop, *shape):
        y = as_tensor_variable(y)
        sh = [as_int64_scalar(s, f"zero_pad: shape[{k}]") for k, s in enumerate(shape)]
        if y.ndim != len(sh) or not sh:
            raise TypeError(f"zero_pad: the value has {y.ndim} dims; the shape must have "
                            f"as many (at least one), got {len(sh)}")
        start = as_int64_scalar(start, "zero_pad: start")
        stop = as_int64_scalar(stop, "zero_pad: stop")
        bc = [isinstance(s, Constant) and int(s.data) == 1 for s in sh]
        return Apply(self, [y, start, stop, *sh], [TensorType(y.dtype, bc)()])

    def compute(self, node, y, start, stop, *shape):
        shape = tuple(int(s) for s in shape)
        y = np.asarray(y)
        a, b, _ = slice(int(start), int(stop)).indices(shape[0])
        if a == 0 and b == shape[0] and y.shape == shape:
            return y
        out = np.zeros(shape, y.dtype)
        view = out[a:b]
        check_value_broadcast("zero_pad", view.shape, y, node.inputs[0].broadcastable, True)
        view[...] = y
        return out

    def grad(self, inputs, output_grads):
        y, start, stop, *_ = inputs
        (g,) = output_grads
        return [sum_to(g[start:stop], y)] + [disconnected_type() for _ in inputs[1:]]

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]

    def infer_shape(self, node, shapes):
        return [tuple(node.inputs[3:])]


zero_pad = ZeroPad()

__all__ = ["ZeroPad", "zero_pad"]
