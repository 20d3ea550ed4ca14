"""tidy: rules that take whole-array copies out of gradient graphs. The gradient of a
loop places its sequence gradients with set_subtensor into zeros (and the gradient of
the slicing of the sequence with inc_subtensor into zeros again), reads the loop's
output gradient as ``fill(h, 1) * w`` and reverses sequences twice; each is a pass
over the data that computes nothing.

- zeros_update: ``set_subtensor(z[a:b], y)`` or ``inc_subtensor(z[a:b], y)`` with z
  zeros (``zeros_like(x)``, ``fill(x, 0)``, ``alloc(0, ...)``) and a slice of the
  leading axis -> ``zero_pad(y, a, b, *shape(z))``, which returns y itself when it
  fills every row (no zeros, no copy).
- ones_product: ``alloc(1, *shape) * w`` -> w broadcast to the shape, as
  ``zero_pad(w, 0, rows, *shape)`` (w itself when it has the shape).
- reverse_of_reverse: ``x[::-1][::-1]`` -> x.
- shape_i_after_loops, shape_subtensor_after_loops: the shape step's rules again,
  for what scan_linear made (``x.shape[0]`` of a recurrence's trace is its n, so the
  recurrence is not run for its length).
- index_arith (rewrites/index_arith.py): the slice bounds the gradient computes for
  any number of steps, simplified with what is known (lengths >= 0, min/max order).

Values are unchanged (zero_pad raises set_subtensor's errors; inc into zeros may
turn -0.0 into 0.0). Runs after scan_linear, before the elementwise steps.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import Rule, RuleSet, rule
from theanine.tensor import scalar_ops as so
from theanine.tensor.alloc import Alloc
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.math import mul
from theanine.tensor.shape import Shape_i
from theanine.tensor.subtensor import IncSubtensor, Subtensor
from theanine.tensor.zero_pad import zero_pad

from .index_arith import index_arith
from .shape import shape_i_rule, shape_subtensor
from .utils import elemwise

_REVERSED = (("slice", None, None, -1),)


def _constant_value(v, value):
    """v is a constant whose every element equals `value`."""
    return isinstance(v, Constant) and np.asarray(v.data).size > 0 and \
        bool(np.all(np.asarray(v.data) == value))


def _filled_shape(z, value):
    """The shape (a list of scalars) of z when z is `value` everywhere by
    construction (fill(x, c), zeros_like(x), alloc(c, *shape) with constant c), else
    None."""
    o = z.owner
    if o is None:
        return None
    if isinstance(o.op, Elemwise) and isinstance(o.op.scalar_op, so.Second):
        x, c = o.inputs
        if _constant_value(c, value) and all(c.broadcastable) and x.ndim == z.ndim:
            return [Shape_i(i)(x) for i in range(x.ndim)]
    if isinstance(o.op, Alloc) and _constant_value(o.inputs[0], value) and \
            all(o.inputs[0].broadcastable):
        return list(o.inputs[1:])
    return None


def _slot(part, slots):
    """A slice part as a value: None, a Python int, or the next slot input."""
    if part == "s":
        return slots.pop(0)
    return part


@rule(IncSubtensor, name="zeros_update")
def zeros_update(graph, node):
    """set/inc_subtensor of a leading-axis slice of zeros -> zero_pad."""
    (entry,) = node.op.idx_list if len(node.op.idx_list) == 1 else (None,)
    if not (isinstance(entry, tuple) and entry[0] == "slice" and entry[3] in (None, 1)):
        return None
    x, y, *slots = node.inputs
    shape = _filled_shape(x, 0)
    if shape is None or y.ndim != x.ndim or y.dtype != x.dtype:
        return None
    slots = list(slots)
    start, stop = _slot(entry[1], slots), _slot(entry[2], slots)
    start = 0 if start is None else start
    stop = shape[0] if stop is None else stop
    return [zero_pad(y, start, stop, *shape)]


@rule(*elemwise(so.Mul), name="ones_product")
def ones_product(graph, node):
    """alloc(1, *shape) * w -> w broadcast to the shape (zero_pad, no copy when w has
    it)."""
    out = node.outputs[0]
    ones = [k for k, v in enumerate(node.inputs)
            if v.owner is not None and isinstance(v.owner.op, Alloc)
            and _constant_value(v.owner.inputs[0], 1) and all(v.owner.inputs[0].broadcastable)
            and v.ndim == out.ndim]
    if not ones or len(ones) == len(node.inputs):
        return None
    rest = [v for k, v in enumerate(node.inputs) if k != ones[0]]
    w = rest[0] if len(rest) == 1 else mul(*rest)
    if w.dtype != out.dtype or w.ndim != out.ndim:
        return None
    alloc = node.inputs[ones[0]]
    dims = [Shape_i(i)(w) if alloc.broadcastable[i] else d
            for i, d in enumerate(alloc.owner.inputs[1:])]
    return [zero_pad(w, 0, dims[0], *dims)]


@rule(Subtensor, name="reverse_of_reverse")
def reverse_of_reverse(graph, node):
    """x[::-1][::-1] -> x."""
    inner = node.inputs[0].owner
    if node.op.idx_list != _REVERSED or inner is None or not isinstance(inner.op, Subtensor) \
            or inner.op.idx_list != _REVERSED:
        return None
    return [inner.inputs[0]]


# the shape rules again, under their own names, for the loops scan_linear took away:
# x.shape[i] of a recurrence's trace is its n (so the trace is not computed for it)
shape_i_after_loops = Rule(shape_i_rule.fn, shape_i_rule.tracks, "shape_i_after_loops")
shape_subtensor_after_loops = Rule(shape_subtensor.fn, shape_subtensor.tracks,
                                   "shape_subtensor_after_loops")

tidy = RuleSet("tidy", [zeros_update, ones_product, reverse_of_reverse, shape_i_after_loops,
                        shape_subtensor_after_loops, index_arith],
               "copies out of gradient graphs: set/inc_subtensor into zeros, "
               "alloc(1) * w, double reversals; shapes without the loops' values "
               "(rewrites/tidy.py)")
