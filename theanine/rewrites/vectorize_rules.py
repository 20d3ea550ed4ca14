"""Batching rules: one node of a loop body applied to every step at once.

`batched(node, ins, seq, n, stops_early)` gives, for body node `node`, outer
variables that compute its outputs for all `n` steps of the loop together, or None
when no rule applies (the node then stays in the loop). `ins` holds one outer value
per input of the node: where `seq` is True, the input's values at every step
stacked along a new leading axis of length n; elsewhere, the loop-invariant value
itself. Each result is (variable, per_step): per_step outputs carry the leading
steps axis; the others (shapes) are loop-invariant.

Rules, by op:
- Elemwise (invariant inputs get a broadcastable leading axis), DimShuffle,
  CAReduce, Rebroadcast, Softmax and LogSoftmax (their axes shift by one);
- Dot of every vector/matrix pairing: one operand per-step is a single product
  (``x_t . W`` -> ``X . W``, ``W . x_t`` -> ``X . W^T``), both per-step is a BatchedDot;
- Subtensor, IncSubtensor, AdvancedSubtensor, AdvancedIncSubtensor: a per-step
  tensor is indexed with a full slice added in front; an integer index that varies
  per step becomes an integer-array index, with ``arange(n)`` on the steps axis
  (so ``set_subtensor(zeros[i], 1)`` over i is one advanced increment); indexing by
  a per-step slice bound or boolean mask is not batched, nor, in a loop that may stop
  early (until), any indexing by a per-step index (later steps could be out of range);
- Alloc (per-step value, invariant shape), Reshape (invariant shape), Join, Split;
- Shape and Shape_i of a per-step value give loop-invariant results.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.tensor.alloc import Alloc, alloc
from theanine.tensor.basic import constant
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.join import Join
from theanine.tensor.linalg import Dot, batched_dot, dot
from theanine.tensor.math import int_div, mul
from theanine.tensor.nnet.softmax_ops import LogSoftmax, Softmax
from theanine.tensor.ranges import arange
from theanine.tensor.reduce import CAReduce
from theanine.tensor.shape import Reshape, Shape, Shape_i, reshape, shape, shape_elements, shape_i
from theanine.tensor.subtensor import IncSubtensor, Subtensor
from theanine.tensor.subtensor_advanced import AdvancedIncSubtensor, AdvancedSubtensor, _entries
from theanine.tensor.subtensor_extra import Split
from theanine.tensor.subtensor_index import FULL, layout


def _shuffled(v, order):
    """v.dimshuffle(order), or v itself when that is the identity."""
    order = list(order)
    return v if order == list(range(v.ndim)) else v.dimshuffle(*order)


def _pad_after_steps(v, ndim):
    """Per-step value `v` (steps axis first) with broadcastable dims inserted after the
    steps axis, so that each step's value has `ndim` dims."""
    k = v.ndim - 1
    return _shuffled(v, [0, *["x"] * (ndim - k), *range(1, k + 1)])


def _tile(v, n):
    """Loop-invariant `v` repeated for each of the n steps."""
    return alloc(v, n, *[shape_i(v, k) for k in range(v.ndim)])


def _step_shape(v):
    return [shape_i(v, k) for k in range(1, v.ndim)]


def _product(items):
    return mul(*items) if len(items) > 1 else (items[0] if items else constant(np.int64(1)))


def _elemwise(node, ins, seq, n):
    args = [v if s else v.dimshuffle("x", *range(v.ndim)) for v, s in zip(ins, seq)]
    return [node.op(*args)]


def _dimshuffle(node, ins, seq, n):
    return [_shuffled(ins[0], [0] + [p if p == "x" else p + 1 for p in node.op.new_order])]


def _careduce(node, ins, seq, n):
    op = node.op
    return [CAReduce(op.kind, tuple(a + 1 for a in op.axis), op.dtype)(ins[0])]


def _rebroadcast(node, ins, seq, n):
    return [Rebroadcast([(a + 1, f) for a, f in node.op.axes])(ins[0])]


def _axis_op(node, ins, seq, n):
    axis = node.op.axis
    return [type(node.op)(axis if axis < 0 else axis + 1)(ins[0])]


def _dot(node, ins, seq, n):
    (a, b), (sa, sb) = ins, seq
    if sa and sb:
        return [batched_dot(a, b)]  # (n, [m,] p) . (n, p[, k]) step by step
    if sa:
        return [dot(a, b)]  # (n, [m,] p) . (p[, k]): the steps axis stays first
    if node.inputs[1].ndim == 1:
        return [dot(b, a.T if a.ndim == 2 else a)]  # a . x_t for every t: X . a^T
    r = dot(a, b)  # a (p) or (m, p) with B (n, p, k): (n, k) or (m, n, k)
    return [r.dimshuffle(1, 0, 2) if a.ndim == 2 else r]


def _alloc(node, ins, seq, n):
    if any(seq[1:]):
        return None
    shape = ins[1:]
    return [alloc(_pad_after_steps(ins[0], len(shape)), n, *shape)]


def _reshape(node, ins, seq, n):
    x, shp = ins
    if seq[1]:
        return None
    dims = shape_elements(shp, node.op.ndim)
    holes = [k for k, d in enumerate(dims) if isinstance(d, Constant) and int(d.data) == -1]
    if holes:  # resolved here, so that n = 0 steps reshape too
        others = [d for k, d in enumerate(dims) if k != holes[0]]
        dims[holes[0]] = int_div(_product(_step_shape(x)), _product(others))
    return [reshape(x, [n, *dims])]


def _join(node, ins, seq, n):
    parts = [v if s else _tile(v, n) for v, s in zip(ins, seq)]
    return [Join(node.op.axis + 1)(*parts)]


def _split(node, ins, seq, n):
    if seq[1]:
        return None
    op = node.op
    return Split(op.len_splits, op.axis + 1).make_node(ins[0], ins[1]).outputs


def _block_ndim(pattern, slots):
    """Number of dims the advanced-index block of one step has (0: basic indexing)."""
    it = iter(slots)
    depth = 0
    for p in pattern:
        if isinstance(p, tuple):
            for q in p[1:]:
                if q == "s":
                    next(it)
        elif p == "s":
            next(it)
        elif p == "a":
            v = next(it)
            depth = max(depth, 1 if v.dtype == "bool" else v.ndim)
    return depth


def _labels(pattern, x, slots):
    _, entries = _entries("batching", pattern, x, slots)
    return [lab for lab, _ in layout(entries, x.broadcastable)]


def _indexing(node, ins, seq, n, stops_early):
    """The four indexing ops; see the module docstring."""
    op = node.op
    inc = isinstance(op, (IncSubtensor, AdvancedIncSubtensor))
    first = 2 if inc else 1
    step_x, step_slots = node.inputs[0], node.inputs[first:]
    slots, slot_seq = ins[first:], seq[first:]
    by_step = any(slot_seq)
    if by_step and stops_early:
        return None
    x, x_seq = ins[0], seq[0]
    if inc and not x_seq:
        x, x_seq = _tile(x, n), True
    depth = _block_ndim(op.idx_list, step_slots)
    pattern, new_slots = [], []
    if x_seq and by_step:
        pattern.append("a")
        new_slots.append(_pad_after_steps(arange(n), depth))
    elif x_seq:
        pattern.append(FULL)
    it = iter(zip(slots, slot_seq, step_slots))
    for p in op.idx_list:
        if isinstance(p, tuple):
            for q in p[1:]:
                if q == "s":
                    v, s, _ = next(it)
                    if s:
                        return None
                    new_slots.append(v)
            pattern.append(p)
        elif p in ("s", "a"):
            v, s, step_v = next(it)
            if s and step_v.dtype == "bool":
                return None
            pattern.append("a" if s else p)
            new_slots.append(_pad_after_steps(v, depth) if s else v)
        else:
            pattern.append(p)
    # where each dim of one step's result lies in the batched result
    steps = "steps"
    mapped = []
    for lab in _labels(pattern, x, new_slots):
        if lab[0] == "d":
            k = lab[1] - (1 if x_seq else 0)
            mapped.append(steps if k < 0 else ("d", k))
        elif by_step:
            mapped.append(steps if lab[1] == 0 else ("adv", lab[1] - 1))
        else:
            mapped.append(lab)
    step_labels = _labels(op.idx_list, step_x, step_slots)
    advanced = "a" in pattern
    if not inc:
        out = (AdvancedSubtensor if advanced else Subtensor)(pattern)(x, *new_slots)
        return [_shuffled(out, [mapped.index(lab) for lab in [steps, *step_labels]])]
    # the value, laid out as (steps, dims of one step's view), then as the batched view
    y, view_nd = ins[1], len(step_labels)
    if seq[1]:
        y = _pad_after_steps(y, view_nd)
    else:
        y = _shuffled(y, [*["x"] * (view_nd + 1 - y.ndim), *range(y.ndim)])
    y = _shuffled(y, [0 if lab == steps else 1 + step_labels.index(lab) for lab in mapped])
    cls = AdvancedIncSubtensor if advanced else IncSubtensor
    return [cls(pattern, set_instead_of_inc=op.set_instead_of_inc)(x, y, *new_slots)]


_RULES = {
    Elemwise: _elemwise, DimShuffle: _dimshuffle, CAReduce: _careduce,
    Rebroadcast: _rebroadcast, Softmax: _axis_op, LogSoftmax: _axis_op, Dot: _dot,
    Alloc: _alloc, Reshape: _reshape, Join: _join, Split: _split,
}
_INDEXING = (Subtensor, IncSubtensor, AdvancedSubtensor, AdvancedIncSubtensor)


def batched(node, ins, seq, n, stops_early=False):
    """[(outer variable, per_step)] for each output of body node `node`, or None."""
    op = node.op
    if isinstance(op, Shape):
        return [(shape(ins[0])[1:], False)]
    if isinstance(op, Shape_i):
        return [(Shape_i(op.i + 1)(ins[0]), False)]
    if type(op) in _INDEXING:
        outs = _indexing(node, ins, seq, n, stops_early)
    else:
        fn = _RULES.get(type(op))
        outs = fn(node, ins, seq, n) if fn is not None else None
    return None if outs is None else [(o, True) for o in outs]
