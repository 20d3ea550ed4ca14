"""Flat (non-recursive) pickling of graphs.

Pickling a deep graph object by object recurses once per node and overflows
Python's stack; ``dump_graph`` instead records the roots and, in topological
order, each node's op, input references and output types. Plain ``pickle`` of
Variables and Apply nodes is made flat the same way (``reduce_apply`` below).
"""

from __future__ import annotations

import threading
import weakref

from .basic import Apply, Constant
from .traversal import gc_paused, toposort


@gc_paused()
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


@gc_paused()
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


# -- pickling Variables and Apply nodes without recursion ------------------------------
# Pickle saves an object's arguments depth first, so a chain of n nodes would
# nest n levels deep. Instead, the first Apply node pickled from a graph
# carries a "prelude": its ancestor nodes in topological order. Each prelude
# node then finds its inputs' owners already pickled (pickle's memo), so the
# nesting stays shallow, and identity (shared subgraphs) is preserved.
# Nodes scheduled in a live prelude get an empty one; the schedule entries go
# away with the prelude, i.e. when the pickler that holds it is freed.
_local = threading.local()


class _Prelude(list):
    """Apply nodes pickled before the node that needs them (weak-referenceable)."""


def _schedule():
    sched = getattr(_local, "scheduled", None)
    if sched is None:
        sched = _local.scheduled = {}
    return sched


def _scheduled(sched, node):
    ref = sched.get(id(node))
    return ref is not None and ref() is not None


def reduce_apply(node):
    """Apply.__reduce_ex__: (rebuild, (prelude, op, inputs, output states, tag))."""
    sched = _schedule()
    prelude = _Prelude()
    if not _scheduled(sched, node):
        with gc_paused():
            prelude.extend(n for n in toposort(node.inputs) if not _scheduled(sched, n))
        if prelude:
            ids = [id(n) for n in prelude]

            def forget(_ref, ids=ids, sched=sched):
                for i in ids:
                    if sched.get(i) is _ref:
                        del sched[i]

            ref = weakref.ref(prelude, forget)
            for i in ids:
                sched[i] = ref
    # The outputs' full states go in the BUILD step, after pickle has memoized
    # the node: a state may refer back to the node's outputs (a random draw
    # keeps its sibling new-generator output), which must then be memo hits.
    states = []
    for o in node.outputs:
        st = o.__getstate__() if hasattr(o, "__getstate__") else dict(o.__dict__)
        states.append({k: v for k, v in st.items() if k not in ("owner", "index")})
    kinds = [(type(o), o.type) for o in node.outputs]
    return (_rebuild_apply, (prelude, node.op, node.inputs, kinds),
            {"outputs": states, "tag": node.__dict__.get("_tag")})


def _rebuild_apply(prelude, op, inputs, kinds):
    del prelude  # its nodes were rebuilt by unpickling it
    outputs = []
    for cls, t in kinds:
        o = cls.__new__(cls)
        o.type, o.owner, o.index, o.name = t, None, None, None
        outputs.append(o)
    return Apply(op, inputs, outputs)


def set_apply_state(node, state):
    """Apply.__setstate__: restore the outputs' attributes and the node's tag."""
    for o, st in zip(node.outputs, state["outputs"]):
        o.__dict__.update(st)
    if state["tag"] is not None:
        node.tag = state["tag"]


def output_of(node, index):
    """Variable.__reduce_ex__ for computed variables: the owner's output `index`."""
    return node.outputs[index]
