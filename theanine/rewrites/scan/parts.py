"""ScanParts, the editable pieces of one Scan node, and the helpers the scan rules
share.

Each rule takes one Scan node apart (ScanParts), changes the parts, and builds a
new Scan node (``build``); outputs nobody uses are never rebuilt.
"""

from __future__ import annotations

from theanine.graph.traversal import clone_replace, toposort
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps


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
                      + [y.get("keep", 0) for y in self.ys], op.memory_budget)
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


def used(graph, var):
    """Whether `var` exists and something in the graph reads it."""
    return var is not None and graph.n_clients(var) > 0


def dedupe(parts):
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


def body_nodes(parts):
    """The body's nodes in execution order."""
    stop = ([i for _, i in parts.seqs] + [c["inner"] for c in parts.carries]
            + [i for _, i in parts.consts])
    return toposort(parts.inner_outputs(), stop_at=stop)


def frontier(parts, hoisted):
    """Outputs of hoisted nodes read by a non-hoisted node or an inner output."""
    hoisted_ids = {id(n) for n in hoisted}
    produced = {id(o): o for n in hoisted for o in n.outputs}
    used = {}
    for n in body_nodes(parts):
        if id(n) in hoisted_ids:
            continue
        for v in n.inputs:
            if id(v) in produced:
                used[id(v)] = v
    for v in parts.inner_outputs():
        if id(v) in produced:
            used[id(v)] = v
    return list(used.values())


def steps_of(seq, n):
    """The first n rows of sequence `seq`, raising as the loop would if it has fewer."""
    return CheckSteps()(seq, n)[:n]

