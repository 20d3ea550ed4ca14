"""Scan rules that run two loops as one: the same body keeping different traces
(scan_merge_traced: a forward loop and the one its gradient asks for) and
independent loops over the same steps (scan_merge_siblings)."""

from __future__ import annotations

from theanine.graph.inner_graph import graph_key
from theanine.graph.rewrite import rule
from theanine.graph.traversal import ancestors
from theanine.scan.op import Scan

from .parts import ScanParts, dedupe


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
        dedupe(a)
        return a.build()
    return None

