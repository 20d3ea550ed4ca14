"""Scan rules that move per-step work out of the loop (see scan.py for the list)."""

from __future__ import annotations

import theanine.tensor as T
from theanine.graph.basic import Constant
from theanine.graph.inner_graph import graph_key
from theanine.graph.rewrite import RuleSet, rule
from theanine.graph.traversal import ancestors
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps, is_tensor  # noqa: F401 - and its old path
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.scalar_ops import Add
from theanine.tensor.subtensor import Subtensor

from .scan import (
    ScanParts,
    _body_nodes,
    _dedupe,
    _frontier,
    scan_hoist_invariant,
    scan_inline_constants,
    scan_remove_unused,
)
from .scan_random import scan_hoist_draws
from .vectorize_rules import batched


def _steps_of(seq, n):
    return CheckSteps()(seq, n)[:n]


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
    if not parts.seqs:
        return None
    n = parts.n_steps
    outer_of = {id(i): _steps_of(o, n) for o, i in parts.seqs if is_tensor(i)}
    per_step = {id(i): True for _, i in parts.seqs if is_tensor(i)}
    for o, i in parts.consts:
        outer_of[id(i)], per_step[id(i)] = o, False
    hoisted = []
    for b in _body_nodes(parts):
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
    if len(hoisted) < len(_body_nodes(parts)):  # a loop stays: hoist what pays
        hoisted = _worth_hoisting(hoisted, _accumulated(parts))
    if not hoisted:
        return None

    mapping = {}
    for v in _frontier(parts, hoisted):
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
            out[y["outer"]] = _steps_of(seq_outer[id(v)], n)
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


def _is_last(var):
    o = var.owner
    return (o is not None and isinstance(o.op, Subtensor) and o.op.idx_list == (-1,)
            and len(o.inputs) == 1)


@rule(Scan)
def scan_last_state(graph, node):
    """trace[-1] is the final state: read it there, so no trace need be stored."""
    parts = ScanParts(node)
    out = {}
    for c in parts.carries:
        tr = c["trace"]
        if tr is None:
            continue
        users = graph.clients_of(tr)
        if users and all(not isinstance(u, str) and _is_last(u.outputs[0])
                         for u, _ in users):
            for u, _ in users:
                out[u.outputs[0]] = c["final"]
    return out or None


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
        uses = [b for b in _body_nodes(parts)
                if b is not o and any(v in acc for v in b.inputs)]
        if uses or any(y["inner"] in acc for y in parts.ys) \
                or any(d["out"] in acc for d in parts.carries if d is not c):
            continue
        total = c["init"]
        for v in others:
            total = total + T.sum(_steps_of(seq_outer[id(v)], n), axis=0)
        res = {c["final"]: T.cast(total, c["final"].dtype)}
        parts.carries = [d for d in parts.carries if d is not c]
        if parts.carries or parts.ys:
            res.update(parts.build())
        return res
    return None


def _same_body(big, small):
    """Whether `big`'s body is `small`'s, perhaps with more per-step outputs after
    small's (a gradient's forward loop that also stores its draws)."""
    if big.key == small.key:
        return True
    if big.n_carries != small.n_carries or big.n_ys <= small.n_ys:
        return False
    until = big.inner_outputs[-1:] if big.has_until else []
    outs = big.carry_outputs + big.y_outputs[:small.n_ys] + until
    return graph_key(big.inner_inputs, outs) == small.key


@rule(Scan)
def scan_merge_traced(graph, node):
    """Two loops with one body and the same inputs, keeping different traces (one
    perhaps with more per-step outputs after the other's), run once."""
    op = node.op
    for user, _ in graph.clients_of(node.inputs[0]):
        if user is node or isinstance(user, str) or not isinstance(user.op, Scan):
            continue
        o2 = user.op
        if (o2.n_seqs != op.n_seqs or o2.has_until != op.has_until
                or o2.truncate_gradient != op.truncate_gradient
                or len(user.inputs) != len(node.inputs)
                or any(a is not b for a, b in zip(user.inputs, node.inputs))):
            continue
        if _same_body(op, o2):
            return _merge_traced(node, user)
        if _same_body(o2, op):
            return _merge_traced(user, node)
    return None


def _merge_traced(big, small):
    """Replacements running `small`'s loop as part of `big`'s (same body, `big` with
    perhaps more per-step outputs), each trace kept when either keeps it."""
    parts = ScanParts(big)
    other = ScanParts(small)
    for c, d in zip(parts.carries, other.carries):
        c["traced"] = c["traced"] or d["traced"]
    new = parts.build()
    new_op_node = next(iter(new.values())).owner
    n_tr = sum(c["traced"] for c in parts.carries)
    outs = new_op_node.outputs
    traces, finals = iter(outs[:n_tr]), outs[n_tr:n_tr + len(parts.carries)]
    for c, d, f in zip(parts.carries, other.carries, finals):
        tr = next(traces) if c["traced"] else None
        if d["trace"] is not None:
            new[d["trace"]] = tr
        new[d["final"]] = f
    for y, o in zip(other.ys, outs[n_tr + len(parts.carries):]):
        new[y["outer"]] = o
    return new


def _independent(a, b):
    """Neither node's outputs feed the other's inputs."""
    for x, y in ((a, b), (b, a)):
        outs = {id(o) for o in x.outputs}
        if any(id(v) in outs for v in ancestors(y.inputs)):
            return False
    return True


@rule(Scan)
def scan_merge_siblings(graph, node):
    """Sibling loops over the same number of steps (and usually the same sequences)
    become one loop computing both bodies; shared sequences are read once."""
    op = node.op
    if op.has_until:
        return None
    for user, _ in graph.clients_of(node.inputs[0]):
        if user is node or isinstance(user, str) or not isinstance(user.op, Scan):
            continue
        o2 = user.op
        if (o2.has_until or o2.truncate_gradient != op.truncate_gradient
                or user.inputs[0] is not node.inputs[0] or o2.key == op.key
                or not _independent(node, user)):
            continue
        a, b = ScanParts(node), ScanParts(user)
        a.seqs += b.seqs
        a.carries += b.carries
        a.consts += b.consts
        a.ys += b.ys
        _dedupe(a)
        return a.build()
    return None


scan_loops = RuleSet(
    "scan",
    [scan_merge_traced, scan_merge_siblings, scan_remove_unused, scan_inline_constants,
     scan_last_state, scan_hoist_invariant, scan_hoist_draws, scan_hoist_sequences,
     scan_output_is_sequence,
     scan_sum_accumulation],
    doc="loops that do only the work they must (theanine/rewrites/scan.py)")
