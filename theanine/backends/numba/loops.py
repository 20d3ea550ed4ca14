"""Loop fusion in generated code: elementwise nodes of one shape share one loop nest.

The fusion rewrite makes one Composite of a chain whose intermediates have no other
user; what it leaves (a value used twice, several results of one shape) would
still be one loop nest per node. numba spends ~60 ms of CPU typing and lowering
each loop nest, so an LSTM's gradient step with 13 of them took 4.5 s to compile.
Here the elementwise nodes of a region (codegen.emit_function) are grouped, and a
group is emitted as ONE loop nest computing every member per element:

    n0 = a.shape[0]; n1 = a.shape[1]          # the group's loop dims
    if b.shape[0] != n0 or ...: raise ValueError(...)   # every input, up front
    v1 = np.empty((n0, n1), np.float32)       # results used outside the group
    for j0 in range(n0):
        for j1 in range(n1):
            s1 = tanh_f32(a[j0, j1])          # member 1 (its value stays a scalar)
            s2 = s1 * b[j0, j1]               # member 2 reads member 1's scalar
            v1[j0, j1] = s2

Which nodes share a loop (invariants):
- Shapes: an elementwise node makes each non-broadcastable dim of its inputs equal
  to its output's (or raises), so those (variable, dim) pairs are unified
  (union-find); two nodes share a loop only if their outputs have the same
  broadcast pattern and the same dim classes: equal shapes whenever the
  unfused code would not raise. A shape mismatch raises ValueError before the
  loop, as the unfused code raises at the node.
- Order: a node's *level* is the number of non-elementwise nodes on its longest
  path from the region's inputs. A group holds nodes of one level and one
  shape class. Along any path levels never decrease and rise at each
  non-elementwise node, and a path of elementwise nodes cannot return from a
  larger shape class to a smaller one, so no path leaves a group and comes
  back: groups and the other nodes form a DAG, emitted in topological order.
- Size: a group stops growing at MAX_STEPS scalar steps or MAX_ARRAYS arrays
  read and written (a loop touching many arrays is not vectorised by LLVM and
  runs out of registers); the next members start a new group, later in
  topological order (so still acyclic).
"""

from __future__ import annotations

from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise

from .codegen import np_dtype
from .ops_elemwise import composite_steps, emit_dag
from .registry import emitter_for, set_region_planner

MAX_STEPS = 256
MAX_ARRAYS = 24


def scalar_steps(node):
    """The scalar program of an Elemwise or Composite node, as emit_dag takes it."""
    in_dtypes = [v.type.dtype for v in node.inputs]
    if isinstance(node.op, Composite):
        return composite_steps(node.op, in_dtypes)
    return [(node.op.scalar_op, [("in", k) for k in range(len(node.inputs))], in_dtypes,
             node.outputs[0].type.dtype)]


class Group:
    """Elementwise nodes emitted as one loop nest (members in topological order)."""

    def __init__(self, key):
        self.key, self.members, self.steps, self.arrays = key, [], 0, set()


def _loopable(node):
    """The scalar steps of an elementwise node with an array output, else None."""
    if len(node.outputs) != 1 or node.outputs[0].type.ndim == 0:
        return None
    if emitter_for(node.op) not in (emitter_for(Elemwise), emitter_for(Composite)):
        return None  # an elementwise op with an emitter of its own
    return scalar_steps(node)


class _Classes:
    """Union-find over (id(variable), dim)."""

    def __init__(self):
        self.parent = {}

    def find(self, x):
        p = self.parent.setdefault(x, x)
        while p != x:
            self.parent[x] = self.parent.setdefault(p, p)
            x, p = p, self.parent[p]
        return p

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def plan(nodes):
    """Items to emit in order: a node alone, or a Group of elementwise nodes."""
    steps = {}
    for node in nodes:
        s = _loopable(node)
        if s is not None:
            steps[node] = s
    if len(steps) < 2:
        return list(nodes)
    classes = _Classes()
    for node in steps:
        out = node.outputs[0]
        for d, b in enumerate(out.type.broadcastable):
            if not b:
                for v in node.inputs:
                    if v.type.ndim == out.type.ndim and not v.type.broadcastable[d]:
                        classes.union((id(out), d), (id(v), d))
    level = {}
    for node in nodes:
        lv = 0
        for v in node.inputs:
            p = v.owner
            if p is not None and p in level:
                lv = max(lv, level[p] + (0 if p in steps else 1))
        level[node] = lv
    open_groups, group_of = {}, {}
    for node in nodes:
        if node not in steps:
            continue
        out = node.outputs[0]
        key = (level[node], out.type.broadcastable,
               tuple(None if b else classes.find((id(out), d))
                     for d, b in enumerate(out.type.broadcastable)))
        g = open_groups.get(key)
        arrays = {id(v) for v in node.inputs if v.owner not in group_of or
                  group_of[v.owner] is not g} | {id(out)}
        if g is None or (g.steps + len(steps[node]) > MAX_STEPS
                         or len(g.arrays | arrays) > MAX_ARRAYS):
            g = open_groups[key] = Group(key)
        g.members.append(node)
        g.steps += len(steps[node])
        g.arrays |= arrays
        group_of[node] = g
    return _order(nodes, group_of)


def _order(nodes, group_of):
    """Topological order of the items (groups of one node are plain nodes)."""
    item_of = {}
    for node in nodes:
        g = group_of.get(node)
        item_of[node] = g if g is not None and len(g.members) > 1 else node
    items, seen = [], set()
    for node in nodes:
        it = item_of[node]
        if id(it) not in seen:
            seen.add(id(it))
            items.append(it)
    index = {id(it): k for k, it in enumerate(items)}
    preds = {id(it): set() for it in items}
    succs = {id(it): [] for it in items}
    for node in nodes:
        me = item_of[node]
        for v in node.inputs:
            p = v.owner
            if p in item_of and item_of[p] is not me and id(item_of[p]) not in preds[id(me)]:
                preds[id(me)].add(id(item_of[p]))
                succs[id(item_of[p])].append(me)
    ready = sorted((index[id(it)], it) for it in items if not preds[id(it)])
    ready = [it for _, it in ready]
    out = []
    while ready:  # Kahn, earliest original position first
        ready.sort(key=lambda it: index[id(it)])
        it = ready.pop(0)
        out.append(it)
        for s in succs[id(it)]:
            preds[id(s)].discard(id(it))
            if not preds[id(s)]:
                ready.append(s)
    if len(out) != len(items):
        raise AssertionError("loop fusion produced a cycle")  # excluded by the levels
    return out


def emit_group(ctx, group, ref, names, needed):
    """Emit `group` as one loop nest. ref(v): expression of a value computed before
    the group; names: {id(variable): name}, filled with the members' outputs;
    needed(v): whether member output v is read outside the group (an array)."""
    members = group.members
    inside = {id(m.outputs[0]) for m in members}
    bcast = members[0].outputs[0].type.broadcastable
    nd = len(bcast)
    ext, seen = [], set()  # (variable, expression) of the arrays the loop reads
    for m in members:
        for v in m.inputs:
            if id(v) not in inside and id(v) not in seen:
                seen.add(id(v))
                ext.append((v, ref(v)))
    dims, bad = [], []
    for d in range(nd):
        n = ctx.tmp("n")
        src = [e for v, e in ext if not v.type.broadcastable[d]]
        ctx.line(f"{n} = {src[0]}.shape[{d}]" if src and not bcast[d] else f"{n} = 1")
        bad += [f"{e}.shape[{d}] != {n}" for e in src[1:]]
        dims.append(n)
    if bad:
        with ctx.block(f"if {' or '.join(bad)}:"):
            ctx.line("raise ValueError('elemwise: input shapes differ in a dimension that no "
                     "input declares broadcastable')")
    arrays = {}
    for m in members:
        o = m.outputs[0]
        if not needed(o):
            continue
        name = arrays[id(o)] = names[id(o)] = ctx.tmp("v")
        dest = ctx.dests.get(id(o))
        if dest is not None:  # write into a given array (a row of a scan output)
            cond = " or ".join(f"{dest}.shape[{d}] != {n}" for d, n in enumerate(dims))
            with ctx.block(f"if {cond}:"):
                ctx.line("raise ValueError('scan: a per-step output changes shape between "
                         "steps')")
            ctx.line(f"{name} = {dest}")
        else:
            ctx.line(f"{name} = np.empty(({', '.join(dims)},), {np_dtype(o.type.dtype)})")
    with ctx.loops(dims) as idx:
        elem = {}
        for v, e in ext:
            sub = ", ".join("0" if v.type.broadcastable[d] else idx[d] for d in range(nd))
            elem[id(v)] = f"{e}[{sub}]"
        # the members' scalar programs as one DAG (so that emit_dag sees, say, a
        # sigmoid(x) and a sigmoid(-x) of two members), then the stores
        steps, leaves, leaf_at, last = [], [], {}, {}
        for m in members:
            at = []
            for v in m.inputs:  # an earlier member's result, or an array's element
                if id(v) in last:
                    at.append(("step", last[id(v)]))
                    continue
                if id(v) not in leaf_at:
                    leaf_at[id(v)] = len(leaves)
                    leaves.append(elem[id(v)])
                at.append(("in", leaf_at[id(v)]))
            base = len(steps)
            steps += [(sop, [at[k] if kind == "in" else ("step", base + k) for kind, k in refs],
                       ins, out) for sop, refs, ins, out in scalar_steps(m)]
            last[id(m.outputs[0])] = len(steps) - 1
        results = emit_dag(ctx, steps, leaves)
        for m in members:
            o = m.outputs[0]
            if id(o) in arrays:
                ctx.line(f"{arrays[id(o)]}[{', '.join(idx)}] = {results[last[id(o)]]}")


set_region_planner(plan, emit_group)

__all__ = ["plan", "emit_group", "Group", "scalar_steps"]
