"""Run-time checks that pass their value through: SpecifyShape (Theano's
``T.specify_shape``) and Assert (``theano.tensor.opt.assert_``).

Invariants:
- The output is the input value itself (no copy), so a check costs a comparison.
- A failed check raises AssertionError (Theano's class) naming what was expected
  and what was given; neither op is folded at compile time when it would fail
  (Assert is never folded: its failure must happen at run time).
- Gradients and shapes pass through: SpecifyShape's inferred shape is the shape it
  specifies, so the shape rewrites compute ``x.shape`` without running x.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op

from .basic import as_tensor_variable
from .shape import _disconnected, shape_elements
from .variable import static_length


class SpecifyShape(Op):
    """(x, shape) -> x, after checking that x.shape equals `shape` (an int vector of
    length x.ndim)."""

    __props__ = ()
    view_map = {0: [0]}

    def make_node(self, x, shape):
        x = as_tensor_variable(x)
        if isinstance(shape, (list, tuple)) and not shape:
            shape = np.zeros(0, dtype="int64")
        shape = as_tensor_variable(shape)
        if shape.ndim == 0:
            shape = shape.dimshuffle("x")
        if shape.ndim != 1 or not shape.dtype.startswith(("int", "uint")):
            raise TypeError(f"specify_shape: shape must be a vector of integers, got "
                            f"{shape.type}")
        n = static_length(shape)
        if n is not None and n != x.ndim:
            raise ValueError(f"specify_shape: {x} has {x.ndim} dimensions but the shape "
                             f"given has {n} entries")
        if isinstance(shape, Constant):
            for i, (b, s) in enumerate(zip(x.broadcastable, shape.data)):
                if b and s != 1:
                    raise ValueError(f"specify_shape: dimension {i} of {x} is "
                                     f"broadcastable (length 1) but the shape says {s}")
        return Apply(self, [x, shape], [x.type()])

    def compute(self, node, x, shape):
        if x.ndim != len(shape) or any(a != b for a, b in zip(x.shape, shape)):
            raise AssertionError(f"specify_shape: expected shape {tuple(int(s) for s in shape)}"
                                 f", got an array of shape {x.shape}")
        return x

    def infer_shape(self, node, shapes):
        return [tuple(shape_elements(node.inputs[1], node.inputs[0].ndim))]

    def grad(self, inputs, output_grads):
        return [specify_shape(output_grads[0], inputs[1]), _disconnected()]

    def connection_pattern(self, node):
        return [[True], [False]]


_specify_shape = SpecifyShape()


def specify_shape(x, shape):
    """x, checked at run time to have `shape` (a list of ints or int scalars, or an int
    vector); the shape rewrites use `shape` for x.shape."""
    return _specify_shape(x, shape)


class Assert(Op):
    """(value, *conditions) -> value, raising AssertionError(msg) when a condition is
    false (each condition is a scalar, or a tensor that must be true everywhere)."""

    __props__ = ("msg",)
    view_map = {0: [0]}

    def __init__(self, msg="Theano Assert failed!"):
        self.msg = msg

    def make_node(self, value, *conds):
        value = as_tensor_variable(value)
        if not conds:
            raise TypeError("assert_: give at least one condition")
        cs = [as_tensor_variable(c) for c in conds]
        return Apply(self, [value, *cs], [value.type()])

    def compute(self, node, value, *conds):
        for c in conds:
            if not np.all(c):
                raise AssertionError(self.msg)
        return value

    def do_constant_folding(self, node):
        return False  # a failure must happen when the function runs

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def grad(self, inputs, output_grads):
        return [output_grads[0]] + [_disconnected() for _ in inputs[1:]]

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]


assert_op = Assert()
