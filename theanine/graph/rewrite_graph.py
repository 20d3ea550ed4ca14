"""RewriteGraph: the mutable copy of a graph that rewrite rules change.

Invariants:
- It rewrites its own copy of the graph; the caller's variables are never mutated,
  and its inputs are the caller's input variables.
- ``clients`` is updated incrementally, so one replacement costs time proportional to
  the nodes it touches, never to the graph's size.
- A replacement has exactly the type of the variable it replaces (a broadcast pattern
  is fixed with patternbroadcast; another dtype is an error naming the rule).
- A node whose outputs nobody uses is dropped at once (dead-code removal).
- Once merging is on, no two nodes have equal ops and inputs (inputs compared as a
  multiset for commutative nodes, see register_commutative), and no two constants
  are equal (common subexpressions are computed once).
"""

from __future__ import annotations

import collections

from .basic import Apply, Constant, Op
from .traversal import gc_paused, toposort

OUTPUT = "output"  # client marker of a graph output: (OUTPUT, position)


class RewriteError(Exception):
    """A rule returned something that cannot replace the node's outputs."""


_COMMUTATIVE = {}  # Op class -> fn(node): True when the node's inputs can be reordered


def register_commutative(op_class, fn):
    """Merge nodes of op_class whose inputs are equal as multisets when fn(node) is True
    (so a + b and b + a are computed once)."""
    _COMMUTATIVE[op_class] = fn


_BY_PROPS = {}  # Op class -> whether its instances merge by props


def _by_props(cls):
    """Ops are merge-equal by their props only if their class declares __props__
    (else two instances may differ in attributes that eq does not see)."""
    by_props = _BY_PROPS.get(cls)
    if by_props is None:
        by_props = False
        for c in cls.__mro__:
            if c is Op:
                break
            if "__props__" in c.__dict__:
                by_props = True
                break
        _BY_PROPS[cls] = by_props
    return by_props


class RewriteGraph:
    """The mutable graph that rules rewrite: inputs, outputs, nodes and clients."""

    @gc_paused()
    def __init__(self, inputs, outputs, clone=True, trace=False):
        self.inputs, self.outputs = list(inputs), list(outputs)
        if clone:
            self.outputs, order = _clone(self.inputs, self.outputs)
        else:
            order = toposort(self.outputs, stop_at=self.inputs)
        self.nodes = {}  # Apply -> None, an ordered set
        self.clients = {v: {} for v in self.inputs}  # var -> {(node | OUTPUT, i): None}
        self.listener = None  # called with each node whose surroundings changed
        self.merge_table = None  # {(op hash, *inputs): node} while merging is on
        self._op_hashes = {}  # id(op) -> (op, hash or None, merges by props)
        self._keys = {}  # node -> its key in merge_table
        self.constants = None  # {signature: Constant} while merging is on
        self.trace, self.counts, self.step = trace, collections.Counter(), ""
        self.pipeline = ([], frozenset())  # (steps, excluded names) of run_pipeline
        self._pending, self._flushing = [], False
        for node in order:
            self._add(node)
        for k, o in enumerate(self.outputs):
            self.clients.setdefault(o, {})[(OUTPUT, k)] = None

    # -- queries ----------------------------------------------------------------
    def toposort(self):
        return toposort(self.outputs, stop_at=self.inputs)

    def clients_of(self, var):
        """[(node or OUTPUT, input index)] of the variable's uses."""
        return list(self.clients.get(var, ()))

    def n_clients(self, var):
        return len(self.clients.get(var, ()))

    def is_output(self, var):
        return any(n is OUTPUT for n, _ in self.clients.get(var, ()))

    # -- changes ----------------------------------------------------------------
    def replace(self, old, new, reason=""):
        """Make every user of `old` use `new` (imported first); drop what becomes unused.
        Returns True if the graph changed."""
        with gc_paused():
            new = self._import(_fit(old, new, reason), old, reason)
            if new is old:
                return False
            users = self.clients.get(old, {})
            self.clients[old] = {}
            target = self.clients.setdefault(new, {})
            for node, i in users:
                if node is OUTPUT:
                    self.outputs[i] = new
                else:
                    self._unregister(node)
                    node.inputs[i] = new
                    self._pending.append(node)
                target[(node, i)] = None
            self.prune(old)
            self._flush()
        return True

    def replace_all(self, pairs, reason=""):
        changed = False
        for old, new in pairs:
            if old in self.clients:  # an earlier pair may have pruned it
                changed |= self.replace(old, new, reason)
        return changed

    def enable_merging(self):
        """Merge equal constants and equal nodes now, and keep merging on every change."""
        if self.merge_table is not None:
            return
        self.merge_table, self.constants = {}, {}
        with gc_paused():
            order = list(self.nodes)  # topological, but for rewrites since construction
            for node in order:
                for i, inp in enumerate(node.inputs):
                    if isinstance(inp, Constant):
                        c = self._canon_constant(inp)
                        if c is not inp:
                            self._move_use(node, i, c)
            self._pending.extend(reversed(order))  # popped from the end: inputs first
            self._flush()

    def record(self, rule_name, node, new):
        """Count a rewrite; print it when tracing."""
        self.counts[f"{self.step}/{rule_name}"] += 1
        if self.trace:
            print(f"rewrite {self.step}/{rule_name}: {node} -> {', '.join(map(str, new))}")

    # -- internals --------------------------------------------------------------
    def _touch(self, node):
        if self.listener is not None:
            self.listener(node)

    def _add(self, node):
        self.nodes[node] = None
        clients = self.clients
        for i, v in enumerate(node.inputs):
            c = clients.get(v)
            if c is None:
                c = clients[v] = {}
            c[(node, i)] = None
        for o in node.outputs:
            clients.setdefault(o, {})

    def _import(self, var, forbid, reason):
        """Add the new nodes `var` depends on (merging them if merging is on); returns
        the variable that now stands for `var`."""
        order, seen, stack = [], set(), []
        if var.owner is None:
            self._check_root(var, reason)
        elif var.owner not in self.nodes:
            stack.append((var, False))
        while stack:
            v, done = stack.pop()
            node = v.owner
            if done:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((v, True))
            for inp in node.inputs:
                if inp is forbid:
                    raise RewriteError(f"rule {reason}: the replacement of {forbid} depends "
                                       "on it (a cycle)")
                own = inp.owner
                if own is None:
                    self._check_root(inp, reason)
                elif own not in self.nodes and own not in seen:
                    stack.append((inp, False))
        alias = {}
        for node in order:
            ins = node.inputs
            for i, inp in enumerate(ins):
                a = alias.get(inp)
                if a is not None:
                    ins[i] = inp = a
                if self.constants is not None and isinstance(inp, Constant):
                    ins[i] = self._canon_constant(inp)
            other = self._twin(node)
            if other is not None:
                alias.update(zip(node.outputs, other.outputs))
                continue
            self._add(node)
            self._touch(node)
        var = alias.get(var, var)
        if self.constants is not None and isinstance(var, Constant):
            var = self._canon_constant(var)
        return var

    def _check_root(self, v, reason):
        if v not in self.clients and not isinstance(v, Constant):
            raise RewriteError(f"rule {reason}: the replacement uses {v}, which is neither "
                               "an input of the graph nor a constant")

    def _twin(self, node):
        """With merging on: an equal node already in the graph, else register `node`."""
        table = self.merge_table
        if table is None:
            return None
        op = node.op
        h = self._op_hashes.get(id(op))
        if h is None or h[0] is not op:  # hash each op once: props can be long tuples
            by_props = _by_props(type(op))
            try:
                h = (op, hash(op) if by_props else id(op), by_props)
            except TypeError:  # unhashable props: never merged
                h = (op, None, False)
            self._op_hashes[id(op)] = h
        if h[1] is None:
            return None
        commutes = _COMMUTATIVE.get(type(op))
        ins = node.inputs
        key = (h[1], *(sorted(ins, key=id) if commutes and commutes(node) else ins))
        other = table.get(key)
        if other is not None and other is not node and other in self.nodes and (
                other.op is op or h[2] and other.op == op):
            return other
        table[key] = node
        self._keys[node] = key
        return None

    def _unregister(self, node):
        """Forget node's merge key (its inputs are about to change, or it is gone)."""
        key = self._keys.pop(node, None)
        if key is not None and self.merge_table.get(key) is node:
            del self.merge_table[key]

    def _canon_constant(self, c):
        try:
            sig = c.signature()
            return self.constants.setdefault(sig, c)
        except (AttributeError, TypeError, NotImplementedError):
            return c

    def _flush(self):
        """Revisit nodes whose inputs changed: merge duplicates, notify the listener."""
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._pending:
                node = self._pending.pop()
                if node not in self.nodes:
                    continue
                other = self._twin(node)
                if other is not None:
                    self.record("merge", node, other.outputs)
                    for o, oo in zip(node.outputs, other.outputs):
                        if o in self.clients:
                            self.replace(o, oo, "merge")
                    continue
                self._touch(node)
        finally:
            self._flushing = False

    def _move_use(self, node, i, new):
        old = node.inputs[i]
        self._unregister(node)
        del self.clients[old][(node, i)]
        node.inputs[i] = new
        self.clients.setdefault(new, {})[(node, i)] = None

    def prune(self, var):
        """Drop the nodes that only fed `var` now that nobody uses it."""
        clients, stack = self.clients, [var]
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or node not in self.nodes or clients.get(v):
                continue
            if not any(clients.get(o) for o in node.outputs):
                stack.extend(self.drop(node))

    def drop(self, node):
        """Remove `node` (whatever uses it); returns its inputs left without users."""
        clients, unused = self.clients, []
        del self.nodes[node]
        self._unregister(node)
        for o in node.outputs:
            clients.pop(o, None)
        for i, inp in enumerate(node.inputs):
            c = clients.get(inp)
            if c is None:
                continue
            c.pop((node, i), None)
            if not c:
                unused.append(inp)
            elif inp.owner is not None and inp.owner in self.nodes:
                self._touch(inp.owner)  # its client count dropped
        return unused


def _fit(old, new, reason):
    """`new` with exactly old's type (patternbroadcast), or RewriteError."""
    if new.type == old.type:
        return new
    try:
        return old.type.filter_variable(new)
    except TypeError:
        raise RewriteError(f"rule {reason}: replacement {new} has type {new.type}, but "
                           f"{old} has type {old.type}") from None


@gc_paused()
def _clone(inputs, outputs):
    """A copy of the graph from `inputs` (kept) to `outputs` (node by node, same ops and
    types), so that rewriting never mutates the caller's graph."""
    memo = {v: v for v in inputs}
    order = []
    for node in toposort(outputs, stop_at=inputs):
        outs = [o.clone() if "_tag" in o.__dict__ else type(o)(o.type, name=o.name)
                for o in node.outputs]
        new = Apply(node.op, [memo.get(v, v) for v in node.inputs], outs)
        memo.update(zip(node.outputs, new.outputs))
        order.append(new)
    return [memo.get(o, o) for o in outputs], order
