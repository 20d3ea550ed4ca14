"""Join (concatenate along an axis) and its inverse Split, with their helpers: join,
concatenate, stack, horizontal_stack, vertical_stack, split.

Invariants: a Join node's axis is non-negative; its inputs share one ndim
(>= 1) and the output dtype is their upcast. The gradient splits the output
gradient back into pieces of the inputs' lengths along the axis. Split's outputs
are views of consecutive pieces of x along `axis` whose lengths are the `splits`
vector (checked at run time: lengths non-negative, summing to x.shape[axis]); its
gradient joins the output gradients (zeros for unused outputs).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type

from .alloc import zeros_like
from .basic import as_tensor_variable
from .elemwise import convert_weak_scalars
from .math import add, cast
from .shape import (
    MakeVector,
    patternbroadcast,
    shape_i,
    shape_padaxis,
    shape_padleft,
    static_length,
)
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
        (gz,) = output_grads
        if len(inputs) == 1:
            return [gz]
        sizes = [shape_i(x, self.axis) for x in inputs]
        parts = split(gz, sizes, len(inputs), self.axis)
        return [patternbroadcast(p, x.broadcastable) for p, x in zip(parts, inputs)]

    def infer_shape(self, node, shapes):
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
    ts = [as_tensor_variable(a) for a in args]
    if len(ts) < 2:
        raise ValueError("vertical_stack: give at least two tensors")
    ts = [shape_padleft(t) if t.ndim == 1 else t for t in ts]
    return concatenate(ts, axis=0)


def stack(*tensors, axis=0):
    """Join tensors of one shape along a new `axis`.

    Both Theano forms: ``stack([a, b, c], axis=0)`` and ``stack(a, b, c)``.
    Python scalars are weak (they take the tensors' dtype when it holds them)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    elif len(tensors) == 2 and isinstance(tensors[0], (list, tuple)):
        tensors, axis = tuple(tensors[0]), tensors[1]  # stack(list, axis)
    if not tensors:
        raise ValueError("stack: give at least one tensor")
    ts = convert_weak_scalars(tensors)
    if axis == 0 and all(t.ndim == 0 for t in ts):
        return MakeVector(upcast(*[t.dtype for t in ts]))(*ts)
    nd = ts[0].ndim
    for k, t in enumerate(ts):
        if t.ndim != nd:
            raise ValueError(f"stack: all tensors must have the same ndim; tensor 0 has "
                             f"{nd}, tensor {k} has {t.ndim}")
    if not isinstance(axis, (int, np.integer)) or not -nd - 1 <= axis <= nd:
        raise ValueError(f"stack: axis {axis!r} out of range for stacking {nd}-d tensors")
    return join(axis, *[shape_padaxis(t, axis) for t in ts])


class Split(Op):
    """Split x along `axis` into `len_splits` pieces of lengths `splits`."""

    __props__ = ("len_splits", "axis")

    def __init__(self, len_splits, axis=0):
        self.len_splits = int(len_splits)
        self.axis = int(axis)

    def make_node(self, x, splits):
        x = as_tensor_variable(x)
        splits = as_tensor_variable(splits)
        if x.ndim == 0:
            raise TypeError("split: cannot split a 0-d tensor")
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"split: axis {self.axis} out of range for {x.ndim}-d {x}")
        if splits.ndim != 1 or not splits.dtype.startswith(("int", "uint")):
            raise TypeError(f"split: splits_size must be an integer vector, got {splits.type}")

        n = static_length(splits)
        if n is not None and n != self.len_splits:
            raise ValueError(f"split: n_splits={self.len_splits} but splits_size has {n} "
                             "entries")
        bc = list(x.broadcastable)
        bc[self.axis] = False
        return Apply(self, [x, splits], [TensorType(x.dtype, bc)()
                                         for _ in range(self.len_splits)])

    def compute(self, node, x, splits):
        splits = np.asarray(splits)
        if splits.shape != (self.len_splits,):
            raise ValueError(f"split: expected {self.len_splits} split sizes, got "
                             f"{splits.shape[0]} ({splits.tolist()})")
        if (splits < 0).any() or splits.sum() != x.shape[self.axis]:
            raise ValueError(f"split: sizes {splits.tolist()} must be non-negative and sum "
                             f"to the length {x.shape[self.axis]} of axis {self.axis}")
        ends = np.cumsum(splits)
        starts = ends - splits
        pre = (slice(None),) * self.axis
        return tuple(x[pre + (slice(int(s), int(e)),)] for s, e in zip(starts, ends))

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        gs = [zeros_like(o) if getattr(g.type, "is_disconnected", False) else g
              for o, g in zip(outputs, output_grads)]
        gx = join(self.axis, *gs) if len(gs) > 1 else gs[0]

        return [patternbroadcast(gx, x.broadcastable), disconnected_type()]

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, self.make_node(*inputs).outputs, output_grads)

    def connection_pattern(self, node):
        return [[True] * self.len_splits, [False] * self.len_splits]

    def infer_shape(self, node, shapes):
        x, splits = node.inputs
        out = []
        for i in range(self.len_splits):
            s = list(shapes[0])
            s[self.axis] = cast(splits[i], "int64")
            out.append(tuple(s))
        return out


def split(x, splits_size, n_splits, axis=0):
    """List of `n_splits` pieces of x along `axis`, of lengths `splits_size`
    (a list of ints / symbolic scalars or an integer vector)."""
    x = as_tensor_variable(x)
    if hasattr(axis, "data"):
        axis = int(axis.data)
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"split: axis must be an int in [{-x.ndim}, {x.ndim}), got {axis!r}")
    if isinstance(splits_size, (list, tuple)):
        if all(isinstance(s, (int, np.integer)) for s in splits_size):
            splits_size = np.asarray(splits_size, dtype="int64")
        else:
            splits_size = [cast(as_tensor_variable(s), "int64") for s in splits_size]
    node = Split(n_splits, int(axis) % max(x.ndim, 1)).make_node(x, splits_size)
    return list(node.outputs)
