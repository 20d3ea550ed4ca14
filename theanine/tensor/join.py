"""Join (concatenate along an axis) and its helpers."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op

from .basic import as_tensor_variable
from .type import TensorType, upcast


class Join(Op):
    """Concatenate tensors of equal ndim along a constant `axis`."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, *tensors):
        if not tensors:
            raise ValueError("join: give at least one tensor")
        ts = [as_tensor_variable(t) for t in tensors]
        nd = ts[0].ndim
        if nd == 0:
            raise TypeError("join: cannot join 0-d tensors; use stack")
        for k, t in enumerate(ts):
            if t.ndim != nd:
                raise TypeError(f"join: all tensors must have {nd} dims; tensor {k} has "
                                f"{t.ndim}")
        if not -nd <= self.axis < nd:
            raise ValueError(f"join: axis {self.axis} out of range for {nd}-d tensors")
        ax = self.axis % nd
        dtype = upcast(*[t.dtype for t in ts])
        bc = [all(t.broadcastable[i] for t in ts) for i in range(nd)]
        bc[ax] = len(ts) == 1 and ts[0].broadcastable[ax]
        return Apply(Join(ax), ts, [TensorType(dtype, bc)()])

    def compute(self, node, *xs):
        try:
            return np.concatenate(xs, axis=self.axis).astype(node.outputs[0].type.dtype,
                                                               copy=False)
        except ValueError as e:
            raise ValueError(f"join along axis {self.axis}: shapes "
                             f"{[np.shape(x) for x in xs]} do not match ({e})") from None

    def grad(self, inputs, output_grads):
        from .shape import patternbroadcast, shape
        from .subtensor import split

        (gz,) = output_grads
        sizes = [shape(x)[self.axis] for x in inputs]
        parts = split(gz, sizes, len(inputs), self.axis)
        return [patternbroadcast(p, x.broadcastable) for p, x in zip(parts, inputs)]

    def infer_shape(self, node, shapes):
        from .math import add

        out = list(shapes[0])
        col = [s[self.axis] for s in shapes]
        out[self.axis] = col[0] if len(col) == 1 else add(*col)
        return [tuple(out)]


def join(axis, *tensors):
    """Concatenate `tensors` along `axis` (Theano's argument order)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if hasattr(axis, "data"):
        axis = int(axis.data)
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"join: axis must be a constant int, got {axis!r}")
    return Join(int(axis))(*tensors)


def concatenate(tensor_list, axis=0):
    """Concatenate a list of tensors along `axis` (NumPy's argument order)."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError("concatenate: the first argument must be a list or tuple of tensors")
    return join(axis, *tensor_list)
