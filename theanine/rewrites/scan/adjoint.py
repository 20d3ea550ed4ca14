"""linear_recurrence_of_sums: the adjoint recurrence of a loop with a constant decay
runs on the cotangents themselves (one recurrence, no operand to compute first).

The gradient of h_t = A*h_{t-1} + B_t (A constant in time) is a loop whose carry is
nu_t = A*(nu_{t+1} + G_t) and whose per-step output is y_t = G_t + nu_{t+1}; after
scan_parallel_linear that is ``nu = LinearRecurrence(affine)(n, 0, A, A*G)`` and
``y = G + (the state before each step)``. With h0 = 0 and A one value for every step,
y is itself the recurrence y_t = A*y_{t+1} + G_t from 0 (then nu_t = A*y_t), so

    y   -> LinearRecurrence(affine)(n, 0, A, G).trace
    nu  -> A * y  (trace),   A[0] * that recurrence's final state (final)

(either direction; "before" is h0 first, or last when the recurrence runs
backwards). The recurrence then reads G as it is: on numba, a scalar one is one
streaming pass (recurrence_kernels.window_rev) instead of a loop computing A*G, the
recurrence, and G + the states. Values: the same sums, reassociated (A*(nu + G)
versus A*nu + A*G: within the tolerance of docs/parallel_scan.md).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.scan.utils import CheckSteps
from theanine.tensor import scalar_ops as so
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.join import Join
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.subtensor import Subtensor

_CUT = (("slice", None, "s", None),)


def _strip(v):
    """x when v is x inside Subtensor{:n}(CheckSteps(x, n)) wrappers (any n: the
    values compared below are the recurrence's, whose n they all check)."""
    while True:
        o = v.owner
        if o is None or not isinstance(o.op, Subtensor) or o.op.idx_list != _CUT:
            return v
        c = o.inputs[0].owner
        if c is None or not isinstance(c.op, CheckSteps) or c.inputs[1] is not o.inputs[1]:
            return v
        v = c.inputs[0]


def _zero_constant(v):
    return isinstance(v, Constant) and not np.any(np.asarray(v.data))


def _padded_h0(v, h0):
    """v is h0 with a leading axis of one row (a constant, or h0[None])."""
    if isinstance(v, Constant):
        return np.array_equal(np.asarray(v.data), np.asarray(h0.data)[None])
    o = v.owner
    return o is not None and isinstance(o.op, DimShuffle) and o.inputs[0] is h0 and \
        tuple(o.op.new_order) == ("x",) + tuple(range(h0.ndim))


def _recurrence_before(x):
    """The LinearRecurrence node whose states before each step x is (the view of its
    trace with h0 joined: [h0, trace][:-1], or [trace, h0][1:] backwards), else None."""
    o = x.owner
    if o is None or not isinstance(o.op, Subtensor) or len(o.inputs) != 1:
        return None
    j = o.inputs[0].owner
    if j is None or not isinstance(j.op, Join) or j.op.axis != 0 or len(j.inputs) != 2:
        return None
    for k, view in ((1, (("slice", None, -1, None),)), (0, (("slice", 1, None, None),))):
        lr = j.inputs[k].owner
        if lr is None or not isinstance(lr.op, LinearRecurrence) or \
                j.inputs[k] is not lr.outputs[0] or lr.op.reverse != (k == 0):
            continue
        if o.op.idx_list == view and _padded_h0(j.inputs[1 - k], lr.inputs[1]):
            return lr
    return None


def _same(a, b):
    return a is b or (isinstance(a, Constant) and isinstance(b, Constant) and
                      a.type == b.type and np.array_equal(a.data, b.data))


@rule(Elemwise)
def linear_recurrence_of_sums(graph, node):
    """G + (states before each step of nu = recurrence(0, A, A*G)) -> recurrence(0, A,
    G); see the module docstring."""
    if not isinstance(node.op.scalar_op, so.Add) or len(node.inputs) != 2:
        return None
    for k in (0, 1):
        lr = _recurrence_before(_strip(node.inputs[k]))
        if lr is None or lr.op.mode != "affine" or not lr.op.store:
            continue
        n, h0, a, b = lr.inputs
        g = node.inputs[1 - k]
        mul = _strip(b).owner
        if not (a.broadcastable[0] and _zero_constant(h0) and mul is not None and
                isinstance(mul.op, Elemwise) and isinstance(mul.op.scalar_op, so.Mul) and
                len(mul.inputs) == 2):
            continue
        m = [v for v in mul.inputs if not _same(v, a)]
        if len(m) != 1 or _strip(m[0]) is not _strip(g):
            continue
        g_step = m[0]  # G as the recurrence's operand read it (cut to n rows)
        per_step = (False,) + h0.broadcastable
        if g_step.type.dtype != h0.dtype or g_step.broadcastable != per_step or \
                node.outputs[0].type != g_step.type:
            continue
        y, y_last = LinearRecurrence("affine", lr.op.reverse, True, name=lr.op.name)(
            n, h0, a, g_step)
        return {node.outputs[0]: y, lr.outputs[0]: a * y, lr.outputs[1]: a[0] * y_last}
    return None


__all__ = ["linear_recurrence_of_sums"]
