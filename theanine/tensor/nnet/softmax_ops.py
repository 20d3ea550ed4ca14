"""Softmax and log-softmax: two ops with stable NumPy implementations and
gradients written with other ops (so second derivatives and Rop work).

Invariants:
- ``Softmax(axis)`` and ``LogSoftmax(axis)`` take a float tensor of any ndim >= 1
  and return the same type; ``axis`` is any valid axis (negative counts from the end).
- compute subtracts the maximum along `axis` first, so no exp overflows:
  softmax([1000, 0]) = [1, 0], log_softmax([1000, 0]) = [0, -1000].
- Gradients use only the op's output: softmax: (gz - sum(gz * sm)) * sm;
  log-softmax: gz - exp(out) * sum(gz); both are finite wherever the output is.
- The functions ``softmax(c)`` / ``logsoftmax(c)`` without an axis are Theano 1.0's:
  the last axis, and a vector becomes a (1, n) row first. With ``axis=`` given, the
  output has the input's shape.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op
from theanine.tensor import math as M
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.reduce import sum as tsum
from theanine.tensor.shape import shape_padleft
from theanine.tensor.type import float_dtypes


def _check_input(fn, x, axis):
    x = as_tensor_variable(x)
    if x.dtype not in float_dtypes:
        raise TypeError(f"{fn}: x must be a tensor of floats, got dtype {x.dtype} "
                        f"({x.type}); cast it first, e.g. T.cast(x, 'floatX')")
    if x.ndim < 1:
        raise TypeError(f"{fn}: x must have at least 1 dimension, got a scalar ({x.type})")
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis must be an int in [{-x.ndim}, {x.ndim}) for a "
                         f"{x.ndim}-d input, got {axis!r}")
    return x


def _disconnected(g):
    return getattr(g.type, "is_disconnected", False)


class _AxisOp(Op):
    __props__ = ("axis",)
    fn_name = None

    def __init__(self, axis=-1):
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def make_node(self, x):
        x = _check_input(self.fn_name, x, self.axis)
        return Apply(self, [x], [x.type()])

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, [self(*inputs)], output_grads)

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def _shifted(self, x):
        """x minus its maximum along axis (0 where that maximum is not finite)."""
        m = np.max(x, axis=self.axis, keepdims=True)
        return x - np.where(np.isfinite(m), m, 0).astype(x.dtype)


class Softmax(_AxisOp):
    """exp(x) / sum(exp(x)) along `axis`."""

    fn_name = "softmax"

    def compute(self, node, x):
        if x.size == 0:
            return np.empty_like(x)
        e = np.exp(self._shifted(x))
        e /= np.sum(e, axis=self.axis, keepdims=True)
        return e

    def L_op(self, inputs, outputs, output_grads):
        (sm,), (gz,) = outputs, output_grads
        if _disconnected(gz):
            return [gz]
        return [(gz - tsum(gz * sm, axis=self.axis, keepdims=True)) * sm]


class LogSoftmax(_AxisOp):
    """x - log(sum(exp(x))) along `axis`."""

    fn_name = "logsoftmax"

    def compute(self, node, x):
        if x.size == 0:
            return np.empty_like(x)
        s = self._shifted(x)
        return s - np.log(np.sum(np.exp(s), axis=self.axis, keepdims=True))

    def L_op(self, inputs, outputs, output_grads):
        (out,), (gz,) = outputs, output_grads
        if _disconnected(gz):
            return [gz]
        return [gz - M.exp(out) * tsum(gz, axis=self.axis, keepdims=True)]


softmax_op = Softmax(-1)
logsoftmax_op = LogSoftmax(-1)


def _apply(op_class, fn, c, axis):
    c = as_tensor_variable(c)
    if axis is None:
        if c.ndim == 1:
            c = shape_padleft(c, 1)  # Theano 1.0: a vector is one row
        axis = -1
    _check_input(fn, c, axis)
    return op_class(axis)(c)


def softmax(c, axis=None):
    """Softmax along `axis` (default: the last axis).

    Without `axis`, as Theano 1.0: a vector input gives a (1, n) matrix."""
    return _apply(Softmax, "softmax", c, axis)


def logsoftmax(c, axis=None):
    """log(softmax(c)), computed stably (default: the last axis).

    Without `axis`, as Theano 1.0: a vector input gives a (1, n) matrix."""
    return _apply(LogSoftmax, "logsoftmax", c, axis)


log_softmax = logsoftmax


def softmax_graph(c):
    """The naive graph exp(c) / sum(exp(c)) over the last axis (no stabilisation)."""
    c = as_tensor_variable(c)
    e = M.exp(c)
    return e / tsum(e, axis=-1, keepdims=True)


def softmax_grad(dy, sm, axis=-1):
    """Gradient of softmax at output `sm` for output gradient `dy` (Theano's SoftmaxGrad)."""
    dy, sm = as_tensor_variable(dy), as_tensor_variable(sm)
    return (dy - tsum(dy * sm, axis=axis, keepdims=True)) * sm


def softmax_with_bias(x, b):
    """softmax(x + b) row-wise, for a matrix `x` and a bias vector `b`."""
    x, b = as_tensor_variable(x), as_tensor_variable(b)
    if x.ndim != 2:
        raise TypeError(f"softmax_with_bias: x must be a matrix, got {x.type}")
    if b.ndim != 1:
        raise TypeError(f"softmax_with_bias: b must be a vector, got {b.type}")
    return softmax(x + b, axis=-1)


__all__ = ["Softmax", "LogSoftmax", "softmax_op", "logsoftmax_op", "softmax", "logsoftmax",
           "log_softmax", "softmax_graph", "softmax_grad", "softmax_with_bias"]
