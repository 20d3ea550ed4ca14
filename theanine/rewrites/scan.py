"""Scan rules: loops that do only the work they must.

Each rule takes one Scan node apart (ScanParts), changes the parts, and builds
a new Scan node; outputs nobody uses are never rebuilt. The rules:

- scan_remove_unused: drop per-step outputs and traces nobody reads, duplicate
  per-step outputs, carries that feed nothing, inner inputs the body does not use,
  duplicate outer inputs;
- scan_inline_constants: constant non-sequences become constants of the body;
- scan_hoist_invariant: body work that depends only on non-sequences runs once,
  before the loop;
- scan_hoist_sequences: body work that depends only on sequence slices and
  non-sequences runs once over whole sequences, by the per-op batching rules in
  vectorize_rules.py (x_t . W becomes one matrix product X . W);
- scan_output_is_sequence: a per-step output that is a sequence slice (or a loop
  invariant) needs no loop; a scan left with nothing to do disappears (a map of
  elementwise work becomes plain vectorised ops);
- scan_last_state: a trace read only as trace[-1] is the final state (no trace
  is stored);
- scan_sum_accumulation: acc_t = acc_{t-1} + s_t read only at the end becomes
  acc_0 + sum(s) before the loop;
- scan_merge_traced: two loops with the same body and inputs differing only in
  which traces they keep (the forward loop and the one a gradient asks for) run
  once;
- scan_merge_siblings: independent loops over the same number of steps become one
  loop (sequences they share are read once).
"""

from __future__ import annotations

from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.graph.traversal import ancestors, clone_replace, toposort
from theanine.scan.op import Scan
from theanine.scan.utils import is_tensor


class ScanParts:
    """The pieces of one Scan node, editable, and rebuilt into a new node."""

    def __init__(self, node):
        op = node.op
        S, C = op.n_seqs, op.n_carries
        self.node, self.op = node, op
        self.n_steps = node.inputs[0]
        outer = node.inputs[1:]
        self.seqs = [[o, i] for o, i in zip(outer[:S], op.seq_inputs)]
        self.consts = [[o, i] for o, i in zip(outer[S + C:], op.const_inputs)]
        n_tr = sum(op.traced)
        traces = iter(node.outputs[:n_tr])
        finals = node.outputs[n_tr:n_tr + C]
        self.carries = []
        for k in range(C):
            self.carries.append({
                "init": outer[S + k], "inner": op.carry_inputs[k],
                "out": op.carry_outputs[k], "traced": op.traced[k],
                "trace": next(traces) if op.traced[k] else None, "final": finals[k],
                "keep": op.keep[k]})
        self.ys = [{"inner": y, "outer": o, "keep": m}
                   for y, o, m in zip(op.y_outputs, node.outputs[n_tr + C:], op.keep[C:])]
        self.cond = op.inner_outputs[-1] if op.has_until else None

    def inner_outputs(self):
        outs = [c["out"] for c in self.carries] + [y["inner"] for y in self.ys]
        return outs + ([self.cond] if self.cond is not None else [])

    def inner_clients(self):
        """{id(inner variable): [(node, input position), ...]} over the body."""
        clients = {}
        for n in toposort(self.inner_outputs()):
            for pos, v in enumerate(n.inputs):
                clients.setdefault(id(v), []).append((n, pos))
        return clients

    def substitute(self, mapping):
        """Replace inner variables in every inner output (mapping: inner -> inner)."""
        outs = clone_replace(self.inner_outputs(), mapping, strict=True)
        C, Y = len(self.carries), len(self.ys)
        for c, o in zip(self.carries, outs[:C]):
            c["out"] = o
        for y, o in zip(self.ys, outs[C:C + Y]):
            y["inner"] = o
        if self.cond is not None:
            self.cond = outs[-1]

    def build(self):
        """{old outer output: new outer output} for the outputs still present."""
        op = self.op
        inner_in = ([i for _, i in self.seqs] + [c["inner"] for c in self.carries]
                    + [i for _, i in self.consts])
        new_op = Scan(inner_in, self.inner_outputs(), len(self.seqs), len(self.carries),
                      [c["traced"] for c in self.carries], self.cond is not None, op.name,
                      op.truncate_gradient, op.profile, op.mode,
                      [c.get("keep", 0) if c["traced"] else 0 for c in self.carries]
                      + [y.get("keep", 0) for y in self.ys])
        outer = ([o for o, _ in self.seqs] + [c["init"] for c in self.carries]
                 + [o for o, _ in self.consts])
        new = new_op.make_node(self.n_steps, *outer).outputs
        n_tr = sum(c["traced"] for c in self.carries)
        traces, finals = iter(new[:n_tr]), new[n_tr:n_tr + len(self.carries)]
        out = {}
        for c, f in zip(self.carries, finals):
            if c["traced"]:
                tr = next(traces)
                if c["trace"] is not None:
                    out[c["trace"]] = tr
            out[c["final"]] = f
        for y, o in zip(self.ys, new[n_tr + len(self.carries):]):
            out[y["outer"]] = o
        return out


def _used(graph, var):
    return var is not None and graph.n_clients(var) > 0


@rule(Scan)
def scan_remove_unused(graph, node):
    parts = ScanParts(node)
    changed = False
    keep_y, same = [], {}
    for y in parts.ys:
        if not _used(graph, y["outer"]):
            continue
        first = next((k for k in keep_y if k["inner"] is y["inner"]), None)
        if first is not None:  # a duplicate per-step output: read the first one's trace
            same[y["outer"]] = first["outer"]
            continue
        keep_y.append(y)
    changed |= len(keep_y) != len(parts.ys)
    parts.ys = keep_y
    for c in parts.carries:
        if c["traced"] and not _used(graph, c["trace"]):
            c["traced"], c["trace"], changed = False, None, True
    # carries whose value nobody needs: not read outside, and feeding no needed output
    keep = {id(c["inner"]) for c in parts.carries if c["traced"] or _used(graph, c["final"])}
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
    changed |= _dedupe(parts)
    if not changed:
        return None
    if not parts.carries and not parts.ys:
        return {}
    out = parts.build()
    out.update({dup: out[orig] for dup, orig in same.items()})
    return out


def _dedupe(parts):
    """Merge non-sequences (and sequences) fed by the same outer variable."""
    changed = False
    for group in (parts.consts, parts.seqs):
        seen, mapping, keep = {}, {}, []
        for o, i in group:
            if o in seen and seen[o].type == i.type:
                mapping[i] = seen[o]
            else:
                seen[o] = i
                keep.append([o, i])
        if mapping:
            parts.substitute(mapping)
            group[:] = keep
            changed = True
    return changed


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


def _body_nodes(parts):
    stop = ([i for _, i in parts.seqs] + [c["inner"] for c in parts.carries]
            + [i for _, i in parts.consts])
    return toposort(parts.inner_outputs(), stop_at=stop)


@rule(Scan)
def scan_hoist_invariant(graph, node):
    parts = ScanParts(node)
    const_of = {id(i): o for o, i in parts.consts}
    mapping_outer = dict((id(i), o) for o, i in parts.consts)
    invariant = set(const_of)
    hoisted = []
    for n in _body_nodes(parts):
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
    frontier = _frontier(parts, hoisted)
    if not frontier:
        return None
    mapping = {}
    for v in frontier:
        inner = v.type()
        mapping[v] = inner
        parts.consts.append([outer_of[id(v)], inner])
    parts.substitute(mapping)
    return parts.build()


def _frontier(parts, hoisted):
    """Outputs of hoisted nodes read by a non-hoisted node or an inner output."""
    hoisted_ids = {id(n) for n in hoisted}
    produced = {id(o): o for n in hoisted for o in n.outputs}
    used = {}
    for n in _body_nodes(parts):
        if id(n) in hoisted_ids:
            continue
        for v in n.inputs:
            if id(v) in produced:
                used[id(v)] = v
    for v in parts.inner_outputs():
        if id(v) in produced:
            used[id(v)] = v
    return list(used.values())
