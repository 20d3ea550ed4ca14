"""Scan rules that drop work nobody needs: outputs, traces, carries and inputs
nobody reads (scan_remove_unused), constants passed in (scan_inline_constants), a
trace read only at its end (scan_last_state), the gradients nobody reads of a
memory-budgeted loop's reverse pass (revolve_remove_unused)."""

from __future__ import annotations

from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.graph.traversal import ancestors
from theanine.scan.checkpointed_grad import RevolveGrad
from theanine.scan.op import Scan
from theanine.tensor.subtensor import Subtensor

from .parts import ScanParts, dedupe, used


@rule(Scan)
def scan_remove_unused(graph, node):
    parts = ScanParts(node)
    changed = False
    keep_y, same = [], {}
    for y in parts.ys:
        if not used(graph, y["outer"]):
            continue
        first = next((k for k in keep_y if k["inner"] is y["inner"]), None)
        if first is not None:  # a duplicate per-step output: read the first one's trace
            same[y["outer"]] = first["outer"]
            continue
        keep_y.append(y)
    changed |= len(keep_y) != len(parts.ys)
    parts.ys = keep_y
    for c in parts.carries:
        if c["traced"] and not used(graph, c["trace"]):
            c["traced"], c["trace"], changed = False, None, True
    # carries whose value nobody needs: not read outside, and feeding no needed output
    keep = {id(c["inner"]) for c in parts.carries if c["traced"] or used(graph, c["final"])}
    base = [y["inner"] for y in parts.ys] + ([parts.cond] if parts.cond is not None else [])
    while True:
        roots = base + [c["out"] for c in parts.carries if id(c["inner"]) in keep]
        live = {id(v) for v in ancestors(roots)}
        more = keep | {id(c["inner"]) for c in parts.carries if id(c["inner"]) in live}
        if more == keep:
            break
        keep = more
    kept = [c for c in parts.carries if id(c["inner"]) in keep]
    changed |= len(kept) != len(parts.carries)
    parts.carries = kept
    live = {id(v) for v in ancestors(parts.inner_outputs())}
    seqs = [s for s in parts.seqs if id(s[1]) in live]
    consts = [k for k in parts.consts if id(k[1]) in live]
    changed |= len(seqs) != len(parts.seqs) or len(consts) != len(parts.consts)
    parts.seqs, parts.consts = seqs, consts
    changed |= dedupe(parts)
    if not changed:
        return None
    if not parts.carries and not parts.ys:
        return {}
    out = parts.build()
    out.update({dup: out[orig] for dup, orig in same.items()})
    return out


@rule(Scan)
def scan_inline_constants(graph, node):
    parts = ScanParts(node)
    consts = [(o, i) for o, i in parts.consts if isinstance(o, Constant) and o.data.size <= 64]
    if not consts:
        return None
    parts.substitute({i: o for o, i in consts})
    parts.consts = [k for k in parts.consts if not isinstance(k[0], Constant)
                    or k[0].data.size > 64]
    return parts.build()


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



@rule(RevolveGrad)
def revolve_remove_unused(graph, node):
    """A budgeted reverse pass computes only the gradients read (a sequence's is a
    full-length array); the gradients of the initial states stay: each leaf passes
    them to the next one back."""
    op = node.op
    S, C, K, dc, ds, dk = op.layout
    n_s, n_c = len(ds), len(dc)
    use_s = [used(graph, o) for o in node.outputs[:n_s]]
    use_k = [used(graph, o) for o in node.outputs[n_s + n_c:]]
    if all(use_s) and all(use_k):
        return None
    if not any(used(graph, o) for o in node.outputs):
        return {}
    inner = op.inner_outputs
    leaf_s, leaf_k = inner[C + n_c:C + n_c + n_s], inner[C + n_c + n_s:]
    new = RevolveGrad(op.inner_inputs,
                      inner[:C + n_c] + [o for o, u in zip(leaf_s, use_s) if u]
                      + [o for o, u in zip(leaf_k, use_k) if u],
                      (S, C, K, dc, tuple(k for k, u in zip(ds, use_s) if u),
                       tuple(k for k, u in zip(dk, use_k) if u)), op.name, op.loop,
                      op.cotangents)
    outs = iter(new.make_node(*node.inputs).outputs)
    old_s, old_c = node.outputs[:n_s], node.outputs[n_s:n_s + n_c]
    old_k = node.outputs[n_s + n_c:]
    result = {o: next(outs) for o, u in zip(old_s, use_s) if u}
    result.update((o, next(outs)) for o in old_c)
    result.update((o, next(outs)) for o, u in zip(old_k, use_k) if u)
    return result
