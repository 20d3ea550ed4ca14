"""merge: common subexpression elimination.

Equal constants become one constant, and nodes with equal ops applied to the same
inputs become one node, repeatedly (a merge can make the nodes using its outputs
equal). Once this pass has run, the graph keeps merging incrementally: every node a
later rule creates or changes is checked against a table keyed by (op, inputs), so
the graph stays free of duplicates at O(1) cost per change. Ops merge by their
``__props__``; an op class that declares none merges only with itself (same instance).
"""

from __future__ import annotations

from theanine.graph.rewrite import OUTPUT, GraphPass


def _merge(graph):
    before = len(graph.nodes)
    graph.enable_merging()
    return before - len(graph.nodes)


merge = GraphPass("merge", _merge, __doc__.split("\n\n")[0])


def _dead_code(graph):
    """Drop every node no output depends on. The engine already drops a node as soon as
    a replacement leaves it unused; this sweep also repairs a graph whose outputs were
    reassigned directly."""
    for v, users in graph.clients.items():  # output marks of what is no longer an output
        for n, k in [u for u in users if u[0] is OUTPUT and graph.outputs[u[1]] is not v]:
            del users[(n, k)]
    for k, v in enumerate(graph.outputs):
        graph.clients.setdefault(v, {})[(OUTPUT, k)] = None
    live, stack = set(), [v.owner for v in graph.outputs if v.owner is not None]
    while stack:
        node = stack.pop()
        if node not in live:
            live.add(node)
            stack.extend(v.owner for v in node.inputs if v.owner is not None)
    dead = [n for n in graph.nodes if n not in live]
    for node in dead:
        graph.drop(node)
    return len(dead)


dead_code = GraphPass("dead_code", _dead_code, "Drop every node no output depends on.")
