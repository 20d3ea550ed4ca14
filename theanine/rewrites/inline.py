"""inline: an OpFromGraph built with inline=True is replaced by its inner graph, so
the rewrites that follow (and the backends) see through it (Theano's inlining)."""

from __future__ import annotations

from theanine.builders import OpFromGraph, inline_graph
from theanine.graph.rewrite import RuleSet, rule


@rule(OpFromGraph, name="inline_op_from_graph")
def inline_op_from_graph(graph, node):
    """OpFromGraph(inline=True)(x) -> its inner graph over x."""
    if not node.op.inline:
        return None
    return inline_graph(node)


inline = RuleSet("inline", [inline_op_from_graph], __doc__.split("\n\n")[0])
