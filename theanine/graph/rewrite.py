"""The rewrite engine: rules indexed by Op class, named composable rule sets, and a
fixed-point driver over a mutable copy of the graph.

- A *rule* is a small function ``fn(graph, node)`` registered for the Op classes it
  applies to (``@rule(Dot)``; ``@rule((Elemwise, Add))`` refines by the op's scalar op,
  see ``register_subkey``; no class: every node). It returns None (no change), a list
  of replacements for the node's outputs (None keeps one), or a dict {old: new}.
- A *rule set* is a named list of rules and rule sets; a *pass* is a named function
  over the whole graph. A pipeline is a plain ordered list of both
  (theanine/rewrites/pipeline.py). Any name can be excluded.
- ``run_rules`` applies a rule set to a fixed point: a work queue of nodes, revisited
  when their inputs or clients change; never recursive; capped.

Invariants of RewriteGraph:
- It rewrites its own copy of the graph; the caller's variables are never mutated,
  and its inputs are the caller's input variables.
- ``clients`` is updated incrementally, so one replacement costs time proportional to
  the nodes it touches, never to the graph's size.
- A replacement has exactly the type of the variable it replaces (a broadcast pattern
  is fixed with patternbroadcast; another dtype is an error naming the rule).
- A node whose outputs nobody uses is dropped at once (dead-code removal).
- Once merging is on, no two nodes have equal ops and inputs, and no two constants
  are equal (common subexpressions are computed once).
"""

from __future__ import annotations

import collections
import warnings

from .basic import Apply, Constant, Op
from .traversal import gc_paused, toposort

OUTPUT = "output"  # client marker of a graph output: (OUTPUT, position)


class RewriteError(Exception):
    """A rule returned something that cannot replace the node's outputs."""


class Rule:
    """A named local rewrite; `tracks` are Op classes or (Op class, subkey class) pairs."""

    __slots__ = ("fn", "tracks", "name", "__doc__")

    def __init__(self, fn, tracks=(), name=None):
        self.fn, self.tracks = fn, tuple(tracks)
        self.name = name or fn.__name__
        self.__doc__ = fn.__doc__

    def __call__(self, graph, node):
        return self.fn(graph, node)

    def __repr__(self):
        return f"Rule({self.name})"


def rule(*tracks, name=None):
    """Decorator making ``fn(graph, node)`` a Rule for nodes of the given Op classes."""
    return lambda fn: Rule(fn, tracks, name)


class RuleSet:
    """A named, ordered collection of rules and rule sets (composable)."""

    def __init__(self, name, items=(), doc=""):
        self.name, self.items, self.doc = name, list(items), doc

    def add(self, item):
        """Append a rule or rule set; returns it (usable as a decorator on a Rule)."""
        self.items.append(item)
        return item

    def rules(self, excluding=frozenset()):
        """The rules, flattened in order, without those (or sets) named in `excluding`."""
        out, seen, stack = [], set(), [iter([self])]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
            elif item.name in excluding:
                continue
            elif isinstance(item, RuleSet):
                stack.append(iter(item.items))
            elif id(item) not in seen:
                seen.add(id(item))
                out.append(item)
        return out

    def names(self):
        """Every rule and rule set name inside (this one included)."""
        out, stack = [], [self]
        while stack:
            item = stack.pop()
            out.append(item.name)
            if isinstance(item, RuleSet):
                stack.extend(reversed(item.items))
        return out

    def __repr__(self):
        return f"RuleSet({self.name}: {', '.join(i.name for i in self.items)})"


class GraphPass:
    """A named rewrite of the whole graph: ``fn(graph) -> number of changes``."""

    def __init__(self, name, fn, doc=""):
        self.name, self.fn, self.doc = name, fn, doc or fn.__doc__

    def names(self):
        return [self.name]

    def __repr__(self):
        return f"GraphPass({self.name})"


# -- dispatch -------------------------------------------------------------------------
_SUBKEYS = {}  # Op class -> fn(op) giving the object whose class refines dispatch


def register_subkey(op_class, fn):
    """Let tracks (op_class, C) match nodes whose ``fn(op)`` is an instance of C."""
    _SUBKEYS[op_class] = fn


def _subkey_fn(cls):
    for c in cls.__mro__:
        if c in _SUBKEYS:
            return _SUBKEYS[c]
    return None


def _matches(tracks, cls, sub):
    if not tracks:
        return True
    for t in tracks:
        if isinstance(t, tuple):
            if issubclass(cls, t[0]) and sub is not None and issubclass(sub, t[1]):
                return True
        elif issubclass(cls, t):
            return True
    return False


class Dispatch:
    """op -> the rules that apply to it, cached by (op class, subkey class)."""

    def __init__(self, rules):
        self.rules, self.cache, self.subfns = list(rules), {}, {}

    def __call__(self, op):
        cls = type(op)
        subfn = self.subfns.get(cls, 0)
        if subfn == 0:
            subfn = self.subfns[cls] = _subkey_fn(cls)
        sub = type(subfn(op)) if subfn is not None else None
        found = self.cache.get((cls, sub))
        if found is None:
            found = self.cache[(cls, sub)] = tuple(
                r for r in self.rules if _matches(r.tracks, cls, sub))
        return found


# -- the graph ------------------------------------------------------------------------
def _merge_key(op):
    """Ops are merge-equal by their props only if their class declares __props__
    (else two instances may differ in attributes that eq does not see)."""
    for c in type(op).__mro__:
        if c is Op:
            return ("id", id(op))
        if "__props__" in c.__dict__:
            return op
    return ("id", id(op))


class RewriteGraph:
    """The mutable graph that rules rewrite: inputs, outputs, nodes and clients."""

    @gc_paused()
    def __init__(self, inputs, outputs, clone=True, trace=False):
        self.inputs, self.outputs = list(inputs), list(outputs)
        if clone:
            self.outputs = _clone(self.inputs, self.outputs)
        self.nodes = {}  # Apply -> None, an ordered set
        self.clients = {v: {} for v in self.inputs}  # var -> {(node | OUTPUT, i): None}
        self.listener = None  # called with each node whose surroundings changed
        self.merge_table = None  # {(op key, *inputs): node} while merging is on
        self._keys = {}  # node -> its key in merge_table
        self.constants = None  # {signature: Constant} while merging is on
        self.trace, self.counts, self.step = trace, collections.Counter(), ""
        self._pending, self._flushing = [], False
        for node in toposort(self.outputs, stop_at=self.inputs):
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
            self._prune(old)
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
            for node in self.toposort():
                self._pending.append(node)
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
        try:
            key = (_merge_key(node.op), *node.inputs)
            other = table.get(key)
        except TypeError:  # unhashable op props: never merged
            return None
        if other is not None and other is not node and other in self.nodes:
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
                if self.constants is not None:
                    for i, inp in enumerate(node.inputs):
                        if isinstance(inp, Constant):
                            c = self._canon_constant(inp)
                            if c is not inp:
                                self._move_use(node, i, c)
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

    def _prune(self, var):
        """Drop the nodes that only fed `var` now that nobody uses it."""
        clients, stack = self.clients, [var]
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or node not in self.nodes or clients.get(v):
                continue
            if any(clients.get(o) for o in node.outputs):
                continue
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
                    stack.append(inp)
                elif inp.owner is not None and inp.owner in self.nodes:
                    self._touch(inp.owner)  # its client count dropped


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
    for node in toposort(outputs, stop_at=inputs):
        outs = [o.clone() if "_tag" in o.__dict__ else type(o)(o.type, name=o.name)
                for o in node.outputs]
        new = Apply(node.op, [memo.get(v, v) for v in node.inputs], outs)
        memo.update(zip(node.outputs, new.outputs))
    return [memo.get(o, o) for o in outputs]


# -- the driver -----------------------------------------------------------------------
def _normalize(node, result):
    if isinstance(result, dict):
        return list(result.items())
    if not isinstance(result, (list, tuple)):
        result = [result]
    if len(result) != len(node.outputs):
        raise RewriteError(f"a rule returned {len(result)} replacements for the "
                           f"{len(node.outputs)} outputs of {node}")
    return [(o, n) for o, n in zip(node.outputs, result) if n is not None]


@gc_paused()
def run_rules(graph, rules, max_rewrites=None):
    """Apply `rules` (a RuleSet, or a list of Rules) to a fixed point; returns the number
    of rewrites. Stops with a warning after `max_rewrites` (default: 20 per node + 1000)."""
    if isinstance(rules, RuleSet):
        rules = rules.rules()
    dispatch = Dispatch(rules)
    queue = collections.deque(graph.toposort())
    queued = set(queue)

    def push(node):
        if node not in queued:
            queued.add(node)
            queue.append(node)

    cap = max_rewrites if max_rewrites is not None else 20 * len(queue) + 1000
    fired, recent = 0, collections.deque(maxlen=5)
    old_listener, graph.listener = graph.listener, push
    try:
        while queue:
            node = queue.popleft()
            queued.discard(node)
            if node not in graph.nodes:
                continue
            for r in dispatch(node.op):
                result = r.fn(graph, node)
                if result is None or result is False:
                    continue
                pairs = [(o, n) for o, n in _normalize(node, result) if n is not o]
                if not pairs:
                    continue
                if not graph.replace_all(pairs, r.name):
                    continue
                graph.record(r.name, node, [n for _, n in pairs])
                fired += 1
                recent.append(r.name)
                if node in graph.nodes:
                    push(node)
                break
            if fired >= cap:
                warnings.warn(f"rewrite step {graph.step!r} stopped after {fired} rewrites "
                              f"(the cap); the last rules to fire: {list(recent)}",
                              stacklevel=2)
                break
    finally:
        graph.listener = old_listener
    return fired


def run_pipeline(graph, steps, excluding=frozenset()):
    """Run each step (RuleSet or GraphPass) in order, skipping excluded names."""
    excluding = frozenset(excluding)
    for step in steps:
        if step.name in excluding:
            continue
        graph.step = step.name
        if isinstance(step, GraphPass):
            step.fn(graph)
        else:
            run_rules(graph, step.rules(excluding))
    graph.step = ""
    return graph


def rewrite_outputs(outputs, steps, inputs=None, excluding=(), trace=False):
    """Rewritten copies of `outputs` (a variable or a list) after `steps` (a step or a
    list of them); `inputs` default to the graph's non-constant roots. For tests and
    tools: the original graph is untouched."""
    from .traversal import graph_inputs

    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    if inputs is None:
        inputs = [v for v in graph_inputs(outs) if not isinstance(v, Constant)]
    steps = [steps] if isinstance(steps, (RuleSet, GraphPass)) else list(steps)
    g = run_pipeline(RewriteGraph(inputs, outs, trace=trace), steps, excluding)
    return g.outputs[0] if single else g.outputs


# -- structural equality --------------------------------------------------------------
def graph_difference(xs, ys, inputs_x=(), inputs_y=()):
    """None if outputs `xs` and `ys` are computed by structurally equal graphs (equal ops
    applied alike, equal constants, roots paired by position in inputs_x/inputs_y or
    identical); else a sentence naming the first difference."""
    xs = [xs] if not isinstance(xs, (list, tuple)) else list(xs)
    ys = [ys] if not isinstance(ys, (list, tuple)) else list(ys)
    if len(xs) != len(ys):
        return f"{len(xs)} outputs against {len(ys)}"
    memo = dict(zip(inputs_x, inputs_y))
    nodes = {}
    stack = list(zip(xs, ys))
    while stack:
        a, b = stack.pop()
        if a in memo:
            if memo[a] is not b:
                return f"{a} is paired with both {memo[a]} and {b}"
            continue
        memo[a] = b
        if a.type != b.type:
            return f"{a} has type {a.type}, {b} has type {b.type}"
        if a.owner is None or b.owner is None:
            if isinstance(a, Constant) and isinstance(b, Constant):
                if not _same_data(a.data, b.data):
                    return f"constants differ: {a} and {b}"
            elif a is not b:
                return f"{a} and {b} differ ({'root' if a.owner is None else a.owner.op} "\
                       f"against {'root' if b.owner is None else b.owner.op})"
            continue
        na, nb = a.owner, b.owner
        if na in nodes:
            if nodes[na] is not nb or a.index != b.index:
                return f"{a} and {b} come from different nodes"
            continue
        if na.op != nb.op or a.index != b.index or len(na.inputs) != len(nb.inputs):
            return f"{na} differs from {nb}"
        nodes[na] = nb
        stack.extend(zip(na.inputs, nb.inputs))
    return None


def equal_graphs(xs, ys, inputs_x=(), inputs_y=()):
    return graph_difference(xs, ys, inputs_x, inputs_y) is None


def _same_data(a, b):
    import numpy as np

    try:
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    except (TypeError, ValueError):
        return a == b
