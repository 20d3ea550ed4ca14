"""The rewrite engine: rules indexed by Op class, named composable rule sets, and a
fixed-point driver over a mutable copy of the graph (RewriteGraph, rewrite_graph.py).

- A *rule* is a small function ``fn(graph, node)`` registered for the Op classes it
  applies to (``@rule(Dot)``; ``@rule((Elemwise, Add))`` refines by the op's scalar op,
  see ``register_subkey``; no class: every node). It returns None (no change), a list
  of replacements for the node's outputs (None keeps one), or a dict {old: new}.
- A *rule set* is a named list of rules and rule sets; a *pass* is a named function
  over the whole graph. A pipeline is a plain ordered list of both
  (theanine/rewrites/pipeline.py). Any name can be excluded.
- ``run_rules`` applies a rule set to a fixed point: a work queue of nodes, revisited
  when their inputs or clients change; never recursive; capped. A rule that raises
  is skipped with a RewriteWarning.
- ``graph_difference`` / ``equal_graphs`` compare graphs structurally (for tests).
"""

from __future__ import annotations

import collections
import pdb
import warnings

from theanine.config import config

from .basic import Constant
from .rewrite_graph import (  # noqa: F401  (re-exported: the engine's public names)
    OUTPUT,
    RewriteError,
    RewriteGraph,
    register_commutative,
)
from .traversal import gc_paused, graph_inputs
from .utils import user_stacklevel


class RewriteWarning(UserWarning):
    """A rule failed on a node (the node is left as it was) or a step hit its cap."""


def _rule_failed(graph, r, node, e):
    """A rule raised `e` on `node`: per config.on_opt_error, warn and skip the rule
    (the node stays as it was), skip it silently, raise, or open pdb then raise."""
    how = config.on_opt_error
    if how == "ignore":
        return
    if how == "warn":
        warnings.warn(f"rewrite rule {graph.step}/{r.name} failed on {node} and was "
                      f"skipped: {type(e).__name__}: {e}", RewriteWarning,
                      stacklevel=user_stacklevel())
        return
    if how == "pdb":
        pdb.post_mortem(e.__traceback__)
    raise e


class Rule:
    """A named local rewrite; `tracks` are Op classes or (Op class, subkey class) pairs."""

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
        self.by_op = {}  # id(op) -> (op, rules): most nodes share a few op instances

    def __call__(self, op):
        hit = self.by_op.get(id(op))
        if hit is not None and hit[0] is op:
            return hit[1]
        found = self.lookup(op)
        self.by_op[id(op)] = (op, found)
        return found

    def lookup(self, op):
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
    queue = collections.deque(graph.nodes)  # near topological: inputs mostly first
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
                try:
                    result = r.fn(graph, node)
                    if result is None or result is False:
                        continue
                    pairs = [(o, n) for o, n in _normalize(node, result) if n is not o]
                    if not pairs or not graph.replace_all(pairs, r.name):
                        continue
                except Exception as e:  # noqa: BLE001 - a failing rule must not stop compiling
                    _rule_failed(graph, r, node, e)
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
                              RewriteWarning, stacklevel=2)
                break
    finally:
        graph.listener = old_listener
    return fired


@gc_paused()
def run_pipeline(graph, steps, excluding=frozenset()):
    """Run each step (RuleSet or GraphPass) in order, skipping excluded names.
    ``graph.pipeline`` holds (steps, excluding) meanwhile, for a pass that runs the
    same pipeline on inner graphs (rewrites/inner_graphs.py)."""
    excluding = frozenset(excluding)
    graph.pipeline = (list(steps), excluding)
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
    """Rewritten copies of `outputs` (a variable or a list) after `steps` (a rule, rule
    set or pass, or a list of them); `inputs` default to the graph's non-constant
    roots. For tests and tools: the original graph is untouched."""
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    if inputs is None:
        inputs = [v for v in graph_inputs(outs) if not isinstance(v, Constant)]
    steps = [steps] if isinstance(steps, (Rule, RuleSet, GraphPass)) else list(steps)
    steps = [RuleSet(s.name, [s]) if isinstance(s, Rule) else s for s in steps]
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
