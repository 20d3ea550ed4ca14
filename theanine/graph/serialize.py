"""Flat (non-recursive) pickling of graphs.

Pickling a deep graph object by object recurses once per node and overflows
Python's stack; ``dump_graph`` instead records the roots and, in topological
order, each node's op, input references and output types.
"""

from __future__ import annotations

from .basic import Apply, Constant
from .traversal import toposort


def dump_graph(inputs, outputs):
    """A picklable description of the graph from `inputs` to `outputs`."""
    index = {}
    roots = []
    for v in inputs:
        index[id(v)] = ("r", len(roots))
        roots.append(v)
    consts = []
    nodes = []
    for k, node in enumerate(toposort(outputs, stop_at=inputs)):
        refs = []
        for v in node.inputs:
            if id(v) not in index:
                if not isinstance(v, Constant):
                    raise ValueError(f"dump_graph: {v} is not an input of the graph")
                index[id(v)] = ("c", len(consts))
                consts.append(v)
            refs.append(index[id(v)])
        for j, o in enumerate(node.outputs):
            index[id(o)] = ("n", k, j)
        nodes.append((node.op, refs, [(o.type, o.name) for o in node.outputs]))
    out_refs = []
    for v in outputs:
        if id(v) not in index:
            index[id(v)] = ("c", len(consts))
            consts.append(v)
        out_refs.append(index[id(v)])
    return {"roots": roots, "consts": consts, "nodes": nodes, "outputs": out_refs}


def load_graph(state):
    """Rebuild (roots, outputs) from ``dump_graph``'s description."""
    roots, consts = state["roots"], state["consts"]
    built = []

    def get(ref):
        if ref[0] == "r":
            return roots[ref[1]]
        if ref[0] == "c":
            return consts[ref[1]]
        return built[ref[1]].outputs[ref[2]]

    for op, refs, out_specs in state["nodes"]:
        outs = []
        for t, name in out_specs:
            o = t()
            o.name = name
            outs.append(o)
        built.append(Apply(op, [get(r) for r in refs], outs))
    return roots, [get(r) for r in state["outputs"]]
