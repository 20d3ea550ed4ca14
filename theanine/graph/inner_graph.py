"""Ops that hold a closed inner graph (a scan's loop body): InnerGraphOp, and the
structural key that makes two such ops equal.

Invariants:
- The inner graph is closed: every root of ``inner_outputs`` is one of
  ``inner_inputs`` or a constant (``graph_key`` raises otherwise).
- ``key`` describes the graph's structure whatever the variables' identities, and
  is one of the op's ``__props__``: ops of one class with structurally equal inner
  graphs and equal other props compare and hash equal, so they merge.
- What an op computes from its inner graph (the inner function, compiled on first
  use; anything a subclass caches with ``cached``) belongs to this process: it is
  never pickled. The inner graph pickles flat (graph/serialize.py), so deep bodies
  pickle without recursion.
"""

from __future__ import annotations

from .basic import Constant, Op
from .fgraph import FunctionGraph
from .serialize import dump_graph, load_graph
from .traversal import toposort


def graph_key(inputs, outputs):
    """A hashable structural description of the closed graph from `inputs` to
    `outputs`: input types, each node's op, argument references and output types,
    and the outputs' references. Raises ValueError if the graph is not closed."""
    ref = {id(v): ("i", k) for k, v in enumerate(inputs)}
    items = []
    for k, node in enumerate(toposort(outputs, stop_at=inputs)):
        args = []
        for v in node.inputs:
            if id(v) in ref:
                args.append(ref[id(v)])
            elif isinstance(v, Constant):
                args.append(("c", v.signature()))
            else:
                raise ValueError(f"inner graph: {v} is not an inner input")
        for j, o in enumerate(node.outputs):
            ref[id(o)] = ("n", k, j)
        items.append((node.op, tuple(args), tuple(o.type for o in node.outputs)))
    outs = tuple(ref[id(o)] if id(o) in ref else ("c", o.signature()) for o in outputs)
    return (tuple(v.type for v in inputs), tuple(items), outs)


class InnerGraphOp(Op):
    """An op computed by a closed graph from `inner_inputs` to `inner_outputs`.

    Subclasses add their props to ``__props__`` (keeping "key"), say how the inner
    graph is compiled for ``perform`` (``link_inner``) and how to rebuild the op
    around a rewritten inner graph (``with_inner_outputs``)."""

    __props__ = ("key",)

    def __init__(self, inner_inputs, inner_outputs):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.key = graph_key(self.inner_inputs, self.inner_outputs)

    def with_inner_outputs(self, inner_outputs):
        """This op with another inner graph over the same inner inputs, whose outputs
        have the same types (the inner-graph rewriting step uses it)."""
        raise NotImplementedError(f"{type(self).__name__}.with_inner_outputs")

    def link_inner(self, fgraph):
        """The inner graph (a FunctionGraph) compiled into fn(*values) -> tuple."""
        raise NotImplementedError(f"{type(self).__name__}.link_inner")

    def inner_function(self):
        """The compiled inner graph (``link_inner``), built on first use."""
        return self.cached("inner_function", lambda: self.link_inner(
            FunctionGraph(self.inner_inputs, self.inner_outputs)))

    def cached(self, name, make):
        """make(), computed once per op and process (dropped when pickled)."""
        cache = self.__dict__.setdefault("_cache", {})
        if name not in cache:
            cache[name] = make()
        return cache[name]

    def __getstate__(self):
        d = self.__dict__.copy()
        d.pop("_cache", None)
        d["inner_state"] = dump_graph(self.inner_inputs, self.inner_outputs)
        del d["inner_inputs"], d["inner_outputs"], d["key"]
        return d

    def __setstate__(self, d):
        d = dict(d)
        state = d.pop("inner_state")
        self.__dict__.update(d)
        self.inner_inputs, self.inner_outputs = load_graph(state)
        self.key = graph_key(self.inner_inputs, self.inner_outputs)


def nodes_with_inner(fgraph):
    """Every node of `fgraph` and of the inner graphs of its InnerGraphOps, nested
    ones included (in no particular order)."""
    todo = list(fgraph.toposort())
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node.op, InnerGraphOp):
            todo.extend(toposort(node.op.inner_outputs, stop_at=node.op.inner_inputs))
