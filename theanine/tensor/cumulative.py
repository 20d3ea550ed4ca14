"""Cumulative ops: cumsum, cumprod (one CumOp) and diff.

Invariants:
- A CumOp node scans one non-negative axis; axis=None is a flatten first.
- Output dtype follows NumPy: integers and bools accumulate in int64 (unsigned
  in uint64), floats keep their dtype.
- Gradients are exact: cumsum's is the reversed cumsum; cumprod's is built from
  cumsum/cumprod/switch so that it stays exact when the input holds zeros.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, grad_not_implemented

from .basic import as_tensor_variable
from .math import and_, cast, eq, neq, switch
from .reduce import normalize_axis
from .shape import flatten
from .type import TensorType


def _acc_dtype(dtype):
    if dtype == "bool" or dtype.startswith("int"):
        return "int64"
    if dtype.startswith("uint"):
        return "uint64"
    return dtype


class CumOp(Op):
    """Cumulative sum (mode 'add') or product ('mul') along `axis`;
    reverse=True accumulates from the end (used by gradients)."""

    __props__ = ("axis", "mode", "reverse")

    def __init__(self, axis, mode="add", reverse=False):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis, self.mode, self.reverse = int(axis), mode, bool(reverse)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"cum{'sum' if self.mode == 'add' else 'prod'}: axis "
                             f"{self.axis} out of range for {x.ndim}-d {x}")
        return Apply(self, [x], [TensorType(_acc_dtype(x.dtype), x.broadcastable)()])

    def compute(self, node, x):
        fn = np.cumsum if self.mode == "add" else np.cumprod
        dt = node.outputs[0].type.dtype
        if self.reverse:
            return np.flip(fn(np.flip(x, self.axis), axis=self.axis, dtype=dt), self.axis)
        return fn(x, axis=self.axis, dtype=dt)

    def grad(self, inputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        if self.mode == "add":
            return [CumOp(self.axis, "add", not self.reverse)(gz)]
        if self.reverse:
            return [grad_not_implemented(self, 0, x, "(reverse cumprod)")]
        return [_cumprod_grad(x, gz, self.axis)]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def _cumprod_grad(x, gz, axis):
    """d/dx_i of sum_j gz_j * prod_{k<=j} x_k, exact with zeros.

    Before the first zero z (x_i != 0):  revcumsum(gz * cumprod(x))_i / x_i.
    At z:                                revcumsum(gz * cumprod(x with x_z := 1))_z.
    After z:                             0 (every term holds the factor x_z = 0).
    """
    cum = lambda v: CumOp(axis, "add")(v)
    rcum = lambda v: CumOp(axis, "add", reverse=True)(v)
    prod = lambda v: CumOp(axis, "mul")(v)
    is_zero = eq(x, 0)
    zeros_so_far = cum(cast(is_zero, "int64"))
    before = eq(zeros_so_far, 0)
    first = and_(is_zero, eq(zeros_so_far, 1))
    a = rcum(gz * prod(x)) / switch(before, x, 1)
    b = rcum(gz * prod(switch(first, 1, x)))
    return switch(before, a, switch(first, b, 0))


def _cum(x, axis, mode):
    x = as_tensor_variable(x)
    if axis is None:
        return CumOp(0, mode)(flatten(x))
    fn = "cumsum" if mode == "add" else "cumprod"
    if x.ndim == 0:
        raise ValueError(f"{fn}: axis={axis} given for a 0-d tensor; use axis=None")
    (ax,) = normalize_axis(axis, x.ndim, f"{fn}: axis")
    return CumOp(ax, mode)(x)


def cumsum(x, axis=None):
    """Cumulative sum along `axis` (None: of the flattened tensor), as numpy.cumsum."""
    return _cum(x, axis, "add")


def cumprod(x, axis=None):
    """Cumulative product along `axis` (None: of the flattened tensor), as numpy.cumprod."""
    return _cum(x, axis, "mul")


def diff(x, n=1, axis=-1):
    """The n-th discrete difference along `axis` (numpy.diff): out[i] = x[i+1] - x[i],
    applied n times. Bool inputs give x[i+1] != x[i], as NumPy."""
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise ValueError("diff: x must have at least one dimension")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    (ax,) = normalize_axis(axis, x.ndim, "diff: axis")
    head = (slice(None),) * ax
    for _ in range(n):
        hi, lo = x[head + (slice(1, None),)], x[head + (slice(None, -1),)]
        x = neq(hi, lo) if x.dtype == "bool" else hi - lo
    return x


__all__ = ["CumOp", "cumsum", "cumprod", "diff"]
