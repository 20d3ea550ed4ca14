"""Closed inner graphs held by ops (a scan's loop body): their structural key.

An op holding a closed graph from `inputs` to `outputs` compares equal to another
when their graphs are equal structurally, whatever the variables' identities:
``graph_key`` is that structure as a hashable value.
"""

from __future__ import annotations

from .basic import Constant
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
