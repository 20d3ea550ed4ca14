"""inner_graphs: the graph held by an op (a scan's loop body) is rewritten by the
pipeline that rewrites the graph around it.

The last step of a pipeline: each InnerGraphOp node is rebuilt around its inner
graph after the same steps, with the same exclusions (this step included, so
loops nested in a body are rewritten too). Every backend then receives the same
rewritten bodies: py runs them, numba compiles them, none rewrites on its own.

Invariants:
- The rewritten inner graph has the same inner inputs and outputs of the same
  types (the engine's guarantee), so the node's outer inputs and outputs keep
  their types and only the op changes.
- Rewriting one op's inner graph with one pipeline is done once per process (the
  result is cached on the op): a loop compiled by several functions, or whose
  node merges, costs one body rewrite.
- A body whose rewriting fails stays as it was, with a RewriteWarning: the
  unrewritten body computes the same values.
"""

from __future__ import annotations

import warnings

from theanine.graph.inner_graph import InnerGraphOp
from theanine.graph.rewrite import GraphPass, RewriteGraph, RewriteWarning, run_pipeline


def rewritten_op(op, steps, excluding=frozenset()):
    """`op` rebuilt around its inner graph rewritten by `steps` (RuleSets and
    GraphPasses, skipping the names in `excluding`); `op` itself when nothing changed."""
    key = ("rewritten", tuple(steps), frozenset(excluding))
    return op.cached(key, lambda: _rewrite(op, steps, excluding))


def _rewrite(op, steps, excluding):
    try:
        graph = RewriteGraph(op.inner_inputs, op.inner_outputs)
        run_pipeline(graph, steps, excluding)
        outs = list(graph.outputs)
        if all(a is b for a, b in zip(outs, op.inner_outputs)):
            return op
        return op.with_inner_outputs(outs)
    except Exception as e:  # noqa: BLE001 - the body as it was is correct too
        warnings.warn(f"rewriting the inner graph of {op} failed and was skipped: "
                      f"{type(e).__name__}: {e}", RewriteWarning, stacklevel=2)
        return op


def _rewrite_inner_graphs(graph):
    """Replace each InnerGraphOp node by one whose inner graph went through the
    pipeline running this step (``graph.pipeline``)."""
    steps, excluding = graph.pipeline
    n = 0
    for node in list(graph.nodes):
        if node not in graph.nodes or not isinstance(node.op, InnerGraphOp):
            continue
        op = rewritten_op(node.op, steps, excluding)
        if op is node.op:
            continue
        new = op.make_node(*node.inputs).outputs
        if graph.replace_all(zip(node.outputs, new), "inner_graphs"):
            graph.record("inner_graphs", node, [str(op)])
            n += 1
    return n


inner_graphs = GraphPass("inner_graphs", _rewrite_inner_graphs, __doc__.split("\n\n")[0])
