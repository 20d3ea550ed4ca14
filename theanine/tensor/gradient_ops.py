"""Ops that are the identity going forward and reshape the gradient going back
(Theano's theano.gradient.DisconnectedGrad, ZeroGrad, ...), with the functions
users call: disconnected_grad, zero_grad (consider_constant), grad_scale,
undefined_grad, grad_clip. ``theanine.gradient`` re-exports them.

Invariants:
- Each op's value is its input, unchanged (``ViewOp``); only ``grad`` (and, for
  DisconnectedGrad, ``connection_pattern``) differs from the identity's.
- Once gradients are taken the markers have done their work: the canonicalize
  rewrites remove every ViewOp from compiled graphs.
"""

from __future__ import annotations

from theanine.graph.basic import Apply, Op, disconnected_type, grad_undefined

from .alloc import zeros_like
from .basic import as_tensor_variable
from .math import clip


class ViewOp(Op):
    """The identity; its gradient is the identity's (the base of the markers below)."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def compute(self, node, x):
        return x

    def grad(self, inputs, output_grads):
        return list(output_grads)

    def infer_shape(self, node, shapes):
        return shapes


class DisconnectedGrad(ViewOp):
    """No gradient flows through: the cost is treated as not depending on the input."""

    def grad(self, inputs, output_grads):
        return [disconnected_type()]

    def connection_pattern(self, node):
        return [[False]]


class ZeroGrad(ViewOp):
    """The gradient is zero (the input stays connected)."""

    def grad(self, inputs, output_grads):
        return [zeros_like(output_grads[0])]


class UndefinedGrad(ViewOp):
    """The gradient is undefined: asking for it raises."""

    def grad(self, inputs, output_grads):
        return [grad_undefined(self, 0, inputs[0])]


class GradScale(ViewOp):
    """The gradient is multiplied by `multiplier` on the way back."""

    __props__ = ("multiplier",)

    def __init__(self, multiplier):
        self.multiplier = float(multiplier)

    def grad(self, inputs, output_grads):
        return [output_grads[0] * self.multiplier]


class GradClip(ViewOp):
    """The gradient is clipped to [lower_bound, upper_bound] on the way back."""

    __props__ = ("lower_bound", "upper_bound")

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = float(lower_bound), float(upper_bound)

    def grad(self, inputs, output_grads):
        return [clip(output_grads[0], self.lower_bound, self.upper_bound)]


def disconnected_grad(x):
    """x, through which no gradient flows (the cost is treated as not depending on x)."""
    return DisconnectedGrad()(x)


def zero_grad(x):
    """x, whose gradient is zero (connected, but zero)."""
    return ZeroGrad()(x)


consider_constant = zero_grad  # Theano's ConsiderConstant: zero gradient, still connected


def grad_scale(x, multiplier):
    """x, whose gradient is multiplied by `multiplier` on the way back."""
    return GradScale(multiplier)(x)


def undefined_grad(x):
    """x, whose gradient is undefined (asking for it raises)."""
    return UndefinedGrad()(x)


def grad_clip(x, lower_bound, upper_bound):
    """x, whose gradient is clipped to [lower_bound, upper_bound] on the way back."""
    if lower_bound > upper_bound:
        raise ValueError(f"grad_clip: lower_bound must be <= upper_bound, got "
                         f"lower_bound={lower_bound}, upper_bound={upper_bound}")
    return GradClip(lower_bound, upper_bound)(x)
