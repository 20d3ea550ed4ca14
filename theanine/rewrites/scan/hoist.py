"""Scan rules that move work out of the loop: loop-invariant work
(scan_hoist_invariant), per-sequence work computed once over whole sequences by the
batching rules of rewrites/vectorize_rules.py (scan_hoist_sequences), per-step
outputs that need no loop (scan_output_is_sequence), sums accumulated in a carry
(scan_sum_accumulation)."""

from __future__ import annotations

import theanine.tensor as T
from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.scan.checkpointed_grad import budget_of
from theanine.scan.op import Scan
from theanine.scan.utils import is_tensor
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.scalar_ops import Add

from ..vectorize_rules import batched
from .parts import ScanParts, body_nodes, frontier, steps_of


@rule(Scan)
def scan_hoist_invariant(graph, node):
    parts = ScanParts(node)
    const_of = {id(i): o for o, i in parts.consts}
    mapping_outer = dict((id(i), o) for o, i in parts.consts)
    invariant = set(const_of)
    hoisted = []
    for n in body_nodes(parts):
        if not all(id(v) in invariant or isinstance(v, Constant) for v in n.inputs):
            continue
        if not getattr(n.op, "hoistable", True) or not all(is_tensor(o) for o in n.outputs):
            continue
        for o in n.outputs:
            invariant.add(id(o))
        hoisted.append(n)
    if not hoisted:
        return None
    # outer copies of the hoisted nodes
    outer_of = {}
    for n in hoisted:
        ins = [mapping_outer.get(id(v), outer_of.get(id(v), v)) for v in n.inputs]
        new = n.op.make_node(*ins)
        for o, no in zip(n.outputs, new.outputs):
            outer_of[id(o)] = no
    # the hoisted values the rest of the body still reads become non-sequences
    read = frontier(parts, hoisted)
    if not read:
        return None
    mapping = {}
    for v in read:
        inner = v.type()
        mapping[v] = inner
        parts.consts.append([outer_of[id(v)], inner])
    parts.substitute(mapping)
    return parts.build()


def _worth_hoisting(nodes, accumulated):
    """The nodes among `nodes` (body nodes in order) whose hoisting saves work: all but
    elementwise ones, and elementwise ones that feed them or a sum accumulation
    (which scan_sum_accumulation then takes out of the loop). An elementwise chain of
    sequence slices left in a loop that stays costs the same per step, and hoisted
    it would store an array over all steps (a gradient's 1 - h_t**2, for one)."""
    light = (Elemwise, DimShuffle, Rebroadcast)
    keep = set()
    for b in reversed(nodes):
        if not isinstance(b.op, light) or any(id(o) in accumulated for o in b.outputs) \
                or any(c in keep for o in b.outputs for c in _readers(o, nodes)):
            keep.add(b)
    return [b for b in nodes if b in keep]


def _accumulated(parts):
    """ids of the values added to a carry: acc_t = acc_{t-1} + v."""
    out = set()
    for c in parts.carries:
        o = c["out"].owner
        if o is not None and isinstance(o.op, Elemwise) and isinstance(o.op.scalar_op, Add) \
                and any(v is c["inner"] for v in o.inputs):
            out.update(id(v) for v in o.inputs if v is not c["inner"])
    return out


def _readers(var, nodes):
    return [b for b in nodes if var in b.inputs]


@rule(Scan)
def scan_hoist_sequences(graph, node):
    """Body work that depends only on sequence slices and non-sequences runs once over
    whole sequences (the batching rules are in vectorize_rules.py)."""
    parts = ScanParts(node)
    if not parts.seqs or budget_of(parts.op) > 0:
        return None  # with a memory budget, per-step work is not stored for all steps
    n = parts.n_steps
    outer_of = {id(i): steps_of(o, n) for o, i in parts.seqs if is_tensor(i)}
    per_step = {id(i): True for _, i in parts.seqs if is_tensor(i)}
    for o, i in parts.consts:
        outer_of[id(i)], per_step[id(i)] = o, False
    hoisted = []
    for b in body_nodes(parts):
        seq = []
        for v in b.inputs:
            if isinstance(v, Constant):
                outer_of.setdefault(id(v), v)
                seq.append(False)
            else:
                seq.append(per_step.get(id(v)))
        if None in seq or not any(seq) or not all(is_tensor(o) for o in b.outputs):
            continue
        new = batched(b, [outer_of[id(v)] for v in b.inputs], seq, n,
                      stops_early=parts.cond is not None)
        if new is None:
            continue
        for o, (v, s) in zip(b.outputs, new):
            outer_of[id(o)], per_step[id(o)] = v, s
        hoisted.append(b)
    if len(hoisted) < len(body_nodes(parts)):  # a loop stays: hoist what pays
        hoisted = _worth_hoisting(hoisted, _accumulated(parts))
    if not hoisted:
        return None

    mapping = {}
    for v in frontier(parts, hoisted):
        inner = v.type()
        mapping[v] = inner
        group = parts.seqs if per_step[id(v)] else parts.consts
        group.append([outer_of[id(v)], inner])
    if not mapping:
        return None
    parts.substitute(mapping)
    return parts.build()


@rule(Scan)
def scan_output_is_sequence(graph, node):
    """Per-step outputs that are a sequence slice or loop-invariant need no loop."""
    parts = ScanParts(node)
    if parts.cond is not None:
        return None
    seq_outer = {id(i): o for o, i in parts.seqs}
    const_outer = {id(i): o for o, i in parts.consts}
    n = parts.n_steps
    out, keep = {}, []
    for y in parts.ys:
        v = y["inner"]
        if id(v) in seq_outer:
            out[y["outer"]] = steps_of(seq_outer[id(v)], n)
        elif id(v) in const_outer or isinstance(v, Constant):
            val = const_outer.get(id(v), v)
            out[y["outer"]] = T.alloc(val, n, *[val.shape[i] for i in range(val.ndim)])
        else:
            keep.append(y)
    if not out:
        return None
    parts.ys = keep
    if parts.carries or parts.ys:
        out.update(parts.build())
    return out


@rule(Scan)
def scan_sum_accumulation(graph, node):
    """acc_t = acc_{t-1} + s_t (+ ...), only the final read: init + sum(s) instead."""
    parts = ScanParts(node)
    if parts.cond is not None or parts.op.truncate_gradient >= 0:
        return None
    seq_outer = {id(i): o for o, i in parts.seqs}
    n = parts.n_steps
    for c in parts.carries:
        o = c["out"].owner
        if c["traced"] or o is None or not isinstance(o.op, Elemwise) \
                or not isinstance(o.op.scalar_op, Add):
            continue
        ins = list(o.inputs)
        if sum(v is c["inner"] for v in ins) != 1:
            continue
        others = [v for v in ins if v is not c["inner"]]
        if not all(id(v) in seq_outer for v in others):
            continue
        # the accumulator (before or after the step) must feed nothing else
        acc = (c["inner"], c["out"])
        uses = [b for b in body_nodes(parts)
                if b is not o and any(v in acc for v in b.inputs)]
        if uses or any(y["inner"] in acc for y in parts.ys) \
                or any(d["out"] in acc for d in parts.carries if d is not c):
            continue
        total = c["init"]
        for v in others:
            total = total + T.sum(steps_of(seq_outer[id(v)], n), axis=0)
        res = {c["final"]: T.cast(total, c["final"].dtype)}
        parts.carries = [d for d in parts.carries if d is not c]
        if parts.carries or parts.ys:
            res.update(parts.build())
        return res
    return None

