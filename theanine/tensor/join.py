"""Join (concatenate along an axis) and its helpers: join, concatenate,
horizontal_stack, vertical_stack.

Invariants: a Join node's axis is non-negative; its inputs share one ndim
(>= 1) and the output dtype is their upcast. The gradient splits the output
gradient back into pieces of the inputs' lengths along the axis.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op

from .basic import as_tensor_variable
from .type import TensorType, upcast


class Join(Op):
    """Concatenate tensors of equal ndim along a constant `axis`."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        if not tensors:
            raise ValueError("join: give at least one tensor")
        ts = [as_tensor_variable(t) for t in tensors]
        nd = ts[0].ndim
        if nd == 0:
            raise TypeError("join: cannot join 0-d tensors; use stack")
        for k, t in enumerate(ts):
            if t.ndim != nd:
                raise TypeError(f"join: all tensors must have {nd} dims (like tensor 0); "
                                f"tensor {k} has {t.ndim}")
        if not -nd <= self.axis < nd:
            raise ValueError(f"join: axis {self.axis} out of range for {nd}-d tensors")
        ax = self.axis % nd
        dtype = upcast(*[t.dtype for t in ts])
        bc = [all(t.broadcastable[i] for t in ts) for i in range(nd)]
        bc[ax] = len(ts) == 1 and ts[0].broadcastable[ax]
        op = self if ax == self.axis else Join(ax)
        return Apply(op, ts, [TensorType(dtype, bc)()])

    def compute(self, node, *xs):
        try:
            out = np.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ValueError(f"join along axis {self.axis}: the shapes "
                             f"{[np.shape(x) for x in xs]} differ outside that axis") from None
        return out.astype(node.outputs[0].type.dtype, copy=False)

    def grad(self, inputs, output_grads):
        from .shape import patternbroadcast, shape_i
        from .subtensor import split

        (gz,) = output_grads
        if len(inputs) == 1:
            return [gz]
        sizes = [shape_i(x, self.axis) for x in inputs]
        parts = split(gz, sizes, len(inputs), self.axis)
        return [patternbroadcast(p, x.broadcastable) for p, x in zip(parts, inputs)]

    def infer_shape(self, node, shapes):
        from .math import add

        out = list(shapes[0])
        col = [s[self.axis] for s in shapes]
        out[self.axis] = col[0] if len(col) == 1 else add(*col)
        return [tuple(out)]


def join(axis, *tensors_list):
    """Concatenate tensors along `axis` (Theano's argument order: axis first).
    One tensor is returned unchanged."""
    if len(tensors_list) == 1 and isinstance(tensors_list[0], (list, tuple)):
        tensors_list = tuple(tensors_list[0])
    if isinstance(axis, Constant):
        axis = np.asarray(axis.data)
        axis = int(axis) if axis.ndim == 0 and axis.dtype.kind in "iu" else axis
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"join: axis must be a constant int, got {axis!r}")
    if len(tensors_list) == 1:
        t = as_tensor_variable(tensors_list[0])
        if t.ndim == 0 or not -t.ndim <= axis < t.ndim:
            raise ValueError(f"join: axis {axis} out of range for {t.ndim}-d tensors")
        return t
    return Join(int(axis))(*tensors_list)


def concatenate(tensor_list, axis=0):
    """Concatenate a list of tensors along `axis` (NumPy's argument order)."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError("concatenate: the first argument must be a list or tuple of tensors, "
                        f"got {type(tensor_list).__name__}")
    return join(axis, *tensor_list)


def horizontal_stack(*args):
    """Concatenate matrices along axis 1 (vectors along axis 0), as numpy.hstack."""
    ts = [as_tensor_variable(a) for a in args]
    if len(ts) < 2:
        raise ValueError("horizontal_stack: give at least two tensors")
    return concatenate(ts, axis=1 if ts[0].ndim >= 2 else 0)


def vertical_stack(*args):
    """Concatenate tensors along axis 0 (vectors become rows first), as numpy.vstack."""
    from .shape import shape_padleft

    ts = [as_tensor_variable(a) for a in args]
    if len(ts) < 2:
        raise ValueError("vertical_stack: give at least two tensors")
    ts = [shape_padleft(t) if t.ndim == 1 else t for t in ts]
    return concatenate(ts, axis=0)
