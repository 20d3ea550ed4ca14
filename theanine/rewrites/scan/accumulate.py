"""scan_accumulate: a loop that accumulates products becomes one product after it.

The gradient of a weight used at every step (``y_t = dot(h_t, V)``, the output
projection of an RNN) is a sum of per-step outer products, and BPTT accumulates
``dU += outer(h_{t-1}, dz_t)`` in its reverse loop. Two rules turn these into one
matrix product over all the steps:

- sum_of_batched_products: ``sum(batched_dot(A, B), axis=0)`` is
  ``dot(A', B')`` with A' the steps laid side by side (``A.dimshuffle(1, 0, 2)``
  reshaped to (m, steps*k)) and B' stacked (steps*k, n); with k = 1 (outer products)
  ``dot(a.T, b)``. Written by hand, or made by the scan rules from a hoisted
  accumulation;
- scan_sink_outputs: a per-step output computed from the carries' new values but not
  needed by the loop (``y_t = dot(h_t, V)``) is computed after it over their traces
  (``Y = dot(H, V)``) by the batching rules of vectorize_rules.py, when that takes a
  product (not only elementwise work) out of the loop;
- scan_accumulate_products: a loop carry ``acc_t = acc_{t-1} + dot(p_t, q_t) (+ ...)``
  read only at the end, where p_t or q_t depends on the loop (so the scan rules cannot
  hoist it), stores p_t and q_t as per-step outputs instead (sequence slices and
  loop invariants are read from outside), and the final value becomes
  ``acc_0 + sum(batched_dot(P, Q), axis=0)`` (then one product, by the rule above);
  a row increment of zeros, ``acc += inc_subtensor(zeros[i_t], v_t)`` (the gradient
  of an embedding lookup ``E[i_t]``), becomes one ``inc_subtensor(zeros[I], V)``
  (repeated rows add up); other terms of the sum stay in the loop.

Values are equal up to float rounding (one product sums in another order). The
per-step operands are stored (steps x (m*k + k*n) values) instead of being added
into an m x n accumulator at every step.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import RuleSet, rule
from theanine.graph.traversal import ancestors, clone_with_memo
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps, is_tensor
from theanine.tensor.alloc import Alloc
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.linalg import BatchedDot, Dot, batched_dot, dot
from theanine.tensor.math import add, cast
from theanine.tensor.reduce import CAReduce
from theanine.tensor.reduce import sum as tsum
from theanine.tensor.scalar_ops import Add, Second
from theanine.tensor.shape import reshape, shape_i
from theanine.tensor.subtensor import IncSubtensor, Subtensor, inc_subtensor

from ..vectorize_rules import batched
from .parts import ScanParts, body_nodes, steps_of


def _flat_steps(v, side):
    """Stacked per-step operands (steps first) laid out for one product over the steps:
    'left' (steps, m, k) -> (m, steps*k), 'right' (steps, k, n) -> (steps*k, n), a
    vector per step (steps, k) -> (steps*k,)."""
    if v.ndim == 2:
        return v.flatten()
    if side == "left":
        if v.broadcastable[2]:
            return v.dimshuffle(1, 0)  # k == 1 (outer products): (m, steps)
        return reshape(v.dimshuffle(1, 0, 2), [shape_i(v, 1), -1])
    if v.broadcastable[1]:
        return v.dimshuffle(0, 2)  # k == 1: (steps, n)
    return reshape(v, [-1, shape_i(v, 2)])


def _batched_operands(x):
    """(A, B) when x is batched_dot(A, B), or its first steps as the scan rules read a
    hoisted sequence (CheckSteps(batched_dot(A, B), n)[:s]: the same rows of A and B);
    else None."""
    o = x.owner
    if o is None:
        return None
    if isinstance(o.op, BatchedDot):
        return tuple(o.inputs)
    inner = o.inputs[0].owner
    if (isinstance(o.op, Subtensor) and o.op.idx_list == (("slice", None, "s", None),)
            and inner is not None and isinstance(inner.op, CheckSteps)):
        base = inner.inputs[0].owner
        if base is not None and isinstance(base.op, BatchedDot):
            n = inner.inputs[1]
            return tuple(o.op.make_node(CheckSteps()(v, n), *o.inputs[1:]).outputs[0]
                         for v in base.inputs)
    return None


@rule(CAReduce, name="sum_of_batched_products")
def sum_of_batched_products(graph, node):
    """sum(batched_dot(A, B), axis=0) -> one dot over the steps laid side by side."""
    op = node.op
    if op.kind != "sum" or op.axis != (0,):
        return None
    operands = _batched_operands(node.inputs[0])
    if operands is None:
        return None
    a, b = operands
    if a.ndim == 2 and b.ndim == 2:  # row-wise dots, summed: one long dot
        out = dot(a.flatten(), b.flatten())
    else:
        out = dot(_flat_steps(a, "left"), _flat_steps(b, "right"))
    dtype = node.outputs[0].dtype
    return [cast(out, dtype) if out.dtype != dtype else out]


def _stacked(v, parts, seq_outer, const_outer, new_ys):
    """The outer variable stacking inner per-step value `v` over the steps: a sequence
    slice reads the sequence, a dimshuffle of a stacked value is batched, anything
    else becomes a new per-step output (appended to new_ys, with a placeholder as its
    outer variable). None if `v` is loop-invariant (see _invariant)."""
    if _invariant(v, const_outer) is not None or not is_tensor(v):
        return None
    if id(v) in seq_outer:
        return steps_of(seq_outer[id(v)], parts.n_steps)
    o = v.owner
    if o is not None and isinstance(o.op, DimShuffle):
        base = _stacked(o.inputs[0], parts, seq_outer, const_outer, new_ys)
        if base is not None:
            order = [0] + [d if d == "x" else d + 1 for d in o.op.new_order]
            return base.dimshuffle(*order)
    placeholder = v.type.clone(broadcastable=(False,) + v.broadcastable)()
    new_ys.append({"inner": v, "outer": placeholder, "keep": 0})
    return placeholder


def _invariant(v, const_outer):
    """The outer value of loop-invariant `v` (a non-sequence, or a dimshuffle of one),
    else None."""
    if id(v) in const_outer:
        return const_outer[id(v)]
    o = v.owner
    if o is not None and isinstance(o.op, DimShuffle):
        base = _invariant(o.inputs[0], const_outer)
        if base is not None:
            return base.dimshuffle(*o.op.new_order)
    return None


def _is_zeros(v):
    """Whether `v` is known to be all zeros (a constant, alloc or zeros_like of 0)."""
    if isinstance(v, Constant):
        return not np.asarray(v.data).any()
    o = v.owner
    if o is None:
        return False
    if isinstance(o.op, Alloc) or (isinstance(o.op, Elemwise)
                                   and isinstance(o.op.scalar_op, Second)):
        fill = o.inputs[0] if isinstance(o.op, Alloc) else o.inputs[1]
        return isinstance(fill, Constant) and not np.asarray(fill.data).any()
    return False


def _accumulable(t):
    """Whether term `t` of an accumulation has a rule here: dot(p_t, q_t) of vectors or
    matrices, or a row increment of zeros inc_subtensor(zeros[i_t], v_t)."""
    o = t.owner
    if o is None:
        return False
    if isinstance(o.op, Dot):
        return all(v.ndim in (1, 2) for v in o.inputs)
    return isinstance(o.op, IncSubtensor) and o.op.idx_list == ("s",)


def _term_sum(t, parts, seq_outer, const_outer, new_ys):
    """The sum over the steps of accumulated term `t` (see _accumulable), as an outer
    expression; None when the term is loop-invariant (the other scan rules handle it)
    or has no rule."""
    if isinstance(t.owner.op, IncSubtensor):
        z, v, i = t.owner.inputs
        zeros = _invariant(z, const_outer)
        if zeros is None or not _is_zeros(zeros):
            return None
        V = _stacked(v, parts, seq_outer, const_outer, new_ys)
        idx = _stacked(i, parts, seq_outer, const_outer, new_ys)
        if V is None or idx is None:
            return None
        if v.ndim < z.ndim - 1:  # a broadcast value: one row per step
            V = V.dimshuffle(0, *["x"] * (z.ndim - 1 - v.ndim), *range(1, v.ndim + 1))
        return inc_subtensor(zeros[idx], V)  # repeated rows add up, as the steps did
    p, q = t.owner.inputs
    P = _stacked(p, parts, seq_outer, const_outer, new_ys)
    Q = _stacked(q, parts, seq_outer, const_outer, new_ys)
    if P is None and Q is None:
        return None
    if P is None:
        return dot(_invariant(p, const_outer), tsum(Q, axis=0))
    if Q is None:
        return dot(tsum(P, axis=0), _invariant(q, const_outer))
    return tsum(batched_dot(P, Q), axis=0)


@rule(Scan, name="scan_accumulate_products")
def scan_accumulate_products(graph, node):
    """acc_t = acc_{t-1} + dot(p_t, q_t) (+ ...), read only at the end: store p_t and
    q_t per step, and add one product over all the steps after the loop."""
    parts = ScanParts(node)
    if parts.cond is not None or parts.op.truncate_gradient >= 0:
        return None
    seq_outer = {id(i): o for o, i in parts.seqs}
    const_outer = {id(i): o for o, i in parts.consts}
    body = body_nodes(parts)
    for c in parts.carries:
        o = c["out"].owner
        if c["traced"] or o is None or not isinstance(o.op, Elemwise) \
                or not isinstance(o.op.scalar_op, Add) \
                or sum(v is c["inner"] for v in o.inputs) != 1:
            continue
        terms = [v for v in o.inputs if v is not c["inner"]]
        products = [t for t in terms if _accumulable(t)]
        acc = (c["inner"], c["out"])
        if not products or any(b is not o and any(v in acc for v in b.inputs) for b in body) \
                or any(y["inner"] in acc for y in parts.ys) \
                or any(d["out"] in acc for d in parts.carries if d is not c):
            continue
        new_ys = []
        sums = [_term_sum(t, parts, seq_outer, const_outer, new_ys) for t in products]
        if any(s is None for s in sums):
            continue
        return _rebuild(parts, c, [t for t in terms if all(t is not p for p in products)],
                        new_ys, sums)
    return None


def _rebuild(parts, c, rest, new_ys, sums):
    """Replacements: carry c keeps only the `rest` of its terms (or goes), the products'
    operands are per-step outputs `new_ys`, and c's final value adds `sums`."""
    if rest:
        c["out"] = c["inner"].type.filter_variable(cast(add(c["inner"], *rest),
                                                        c["inner"].dtype))
    else:
        parts.carries = [d for d in parts.carries if d is not c]
    parts.ys = parts.ys + new_ys
    built = parts.build() if parts.carries or parts.ys else {}
    stacked = {id(y["outer"]): built.pop(y["outer"]) for y in new_ys}
    if stacked:
        sums = clone_with_memo(sums, stacked)
    init = built[c["final"]] if rest else c["init"]
    if _is_zeros(init) and all(v.broadcastable == init.broadcastable for v in sums):
        total = add(*sums) if len(sums) > 1 else sums[0]  # no zeros to add to
    else:
        total = add(init, *sums)
    built[c["final"]] = cast(total, c["final"].dtype) if total.dtype != c["final"].dtype \
        else total
    return built


_LIGHT = (Elemwise, DimShuffle, Rebroadcast)


@rule(Scan, name="scan_sink_outputs")
def scan_sink_outputs(graph, node):
    """Per-step outputs computed from the carries' new values (and sequence slices,
    non-sequences) but not needed by the loop itself, y_t = dot(h_t, V), are computed
    after the loop over the carries' traces, by the batching rules: one product
    Y = dot(H, V) instead of one per step."""
    parts = ScanParts(node)
    if parts.cond is not None or not parts.ys:
        return None
    n = parts.n_steps
    in_loop = {id(v) for v in ancestors([c["out"] for c in parts.carries],
                                        stop_at=[c["inner"] for c in parts.carries])}
    outer_of, per_step, traced = {}, {}, {}
    for c in parts.carries:
        if is_tensor(c["out"]) and c["keep"] == 0 and id(c["out"]) not in outer_of:
            holder = c["trace"] if c["trace"] is not None else \
                c["out"].type.clone(broadcastable=(False,) + c["out"].broadcastable)()
            outer_of[id(c["out"])], per_step[id(c["out"])] = holder, True
            traced[id(c["out"])] = (c, holder)
    for o, i in parts.seqs:
        if is_tensor(i):
            outer_of[id(i)], per_step[id(i)] = steps_of(o, n), True
    for o, i in parts.consts:
        outer_of[id(i)], per_step[id(i)] = o, False
    sunk, from_carry = [], set(traced)  # from_carry: values computed from a carry
    for b in body_nodes(parts):
        if any(id(o) in in_loop for o in b.outputs) or not all(is_tensor(o) for o in b.outputs):
            continue
        if not all(isinstance(v, Constant) or id(v) in outer_of for v in b.inputs):
            continue
        seq = [False if isinstance(v, Constant) else per_step[id(v)] for v in b.inputs]
        if not any(seq):
            continue
        new = batched(b, [v if isinstance(v, Constant) else outer_of[id(v)]
                          for v in b.inputs], seq, n)
        if new is None:
            continue
        for o, (v, s) in zip(b.outputs, new):
            outer_of[id(o)], per_step[id(o)] = v, s
            if any(id(i) in from_carry for i in b.inputs):
                from_carry.add(id(o))
        sunk.append(b)
    # (work on sequences alone is scan_hoist_sequences' to move)
    moved = [y for y in parts.ys if per_step.get(id(y["inner"])) and y["keep"] == 0
             and id(y["inner"]) not in traced and id(y["inner"]) in from_carry
             and y["inner"].owner in sunk]
    feeding = {id(v) for v in ancestors([y["inner"] for y in moved])}
    if not moved or all(isinstance(b.op, _LIGHT) for b in sunk
                        if any(id(o) in feeding for o in b.outputs)):
        return None  # elementwise work costs the same in the loop or after it
    return _sink(parts, moved, outer_of, traced)


def _sink(parts, moved, outer_of, traced):
    """Replacements: the `moved` per-step outputs computed after the loop from the
    carries' traces (placeholders in outer_of until the loop is rebuilt)."""
    parts.ys = [y for y in parts.ys if all(y is not m for m in moved)]
    holders = {}
    for c, holder in traced.values():
        if c["trace"] is None:
            c["traced"], c["trace"] = True, holder
            holders[id(holder)] = holder
    built = parts.build()
    memo = {id(h): built.pop(h) for h in holders.values()}
    outs = clone_with_memo([outer_of[id(y["inner"])] for y in moved], memo)
    for y, v in zip(moved, outs):
        built[y["outer"]] = y["outer"].type.filter_variable(cast(v, y["outer"].dtype))
    return built


scan_accumulate = RuleSet("scan_accumulate", [scan_accumulate_products,
                                              sum_of_batched_products, scan_sink_outputs],
                          __doc__.split("\n\n")[0])
