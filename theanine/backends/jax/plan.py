"""Which nodes run in which jitted segment, and which values are known when tracing.

XLA compiles for static shapes. Most shape-deciding values are known when tracing
(shapes of arrays, constants, arithmetic on them: evaluate.py folds those with
NumPy). The others are planned here, before the first trace:

- **Specialised inputs**: an input of the function whose value decides a shape
  (``n`` in ``arange(n)``, a symbolic ``n_steps``, a reshape's target shape) is
  passed to the trace as a NumPy value; the linker compiles one variant per
  distinct value (cached, bounded: linker.MAX_VARIANTS).
- **Fetched values**: a shape-deciding value computed from array data (``x.sum()``
  used as a length) splits the function: the segment computing it runs, the value
  comes to the host, and the next segment is specialised on it.
- **Host nodes** run between segments on NumPy values: ops whose output shapes
  depend on values (nonzero, unique), Python ops whose output shapes cannot be
  inferred, loops whose bodies cannot be traced.
- **Deferred nodes** (``until`` loops) run inside a segment into buffers of their
  bound; the steps taken come to the host, which trims the buffers.

The outputs of host and deferred nodes are available from the next segment on.
A function without any of these is one segment: one jitted call.

Invariant: in segment t every value a lowering needs concrete is a constant, a
specialised input, a fetched value, a shape of a value present in t, or folded in
t from those (``Segment.fold``).
"""

from __future__ import annotations

from theanine.graph.basic import Constant
from theanine.scan.op import Scan
from theanine.tensor.shape import Shape, Shape_i
from theanine.tensor.type import TensorType

from . import callback
from .evaluate import foldable, needed_static
from .registry import lowering_for


class Segment:
    """One jitted function of a plan.

    nodes: evaluated in order (the segment's own nodes, plus the fold nodes that
    recompute its shape-deciding values concretely); fold: those fold nodes;
    dynamic: variables passed as jit arguments; concrete: variables passed as
    NumPy values (the variant key); outputs: variables returned."""

    def __init__(self, index, nodes, fold, dynamic, concrete):
        self.index, self.nodes, self.fold = index, nodes, fold
        self.dynamic, self.concrete = dynamic, concrete
        self.outputs = []
        self.own = []  # the segment's own nodes (not recomputed fold nodes)
        self.deferred = []  # own deferred nodes: their raw values are returned too


class Plan:
    """The segments of a function graph and what runs between them.

    ``steps``, in execution order: Segment objects, ("host", node) for a node run on
    NumPy values after its segment, ("finish", node) for a deferred node's outputs
    made from its raw values. ``fetched`` values come to the host after the segment
    computing them."""

    def __init__(self, fgraph, host=()):
        self.fgraph = fgraph
        self.nodes = fgraph.toposort()
        self.order = {n: k for k, n in enumerate(self.nodes)}
        self.inputs = {id(v): k for k, v in enumerate(fgraph.inputs)}
        self.host = set(host) | {n for n in self.nodes if _host_op(n)}
        self.deferred = {n for n in self.nodes if _deferred(n)} - self.host
        self.specialised = set()  # positions of inputs passed concretely
        self.fetched = set()  # id(var) of values brought to the host between segments
        self.fold_nodes = set()
        self._avail = {}  # id(var) -> segment from which the value exists
        self._concrete = {}  # id(var) -> segment from which it can be concrete
        self.stage = {}
        for node in self.nodes:
            self._place(node)
        self.n_segments = 1 + max(self.stage.values(), default=0)
        self.steps = self._steps()

    # -- placing nodes -----------------------------------------------------------
    def avail(self, v):
        if isinstance(v, Constant) or id(v) in self.inputs:
            return 0
        return self._avail[id(v)]

    def _place(self, node):
        s = max((self.avail(v) for v in node.inputs), default=0)
        if node not in self.host:  # a host node gets NumPy values anyway
            for k in needed_static(node, lowering_for(node.op)):
                s = max(s, self.concrete_from(node.inputs[k]))
        self.stage[node] = s
        later = node in self.host or node in self.deferred
        for o in node.outputs:
            self._avail[id(o)] = s + 1 if later else s

    def concrete_from(self, v):
        """The first segment in which `v` can be a NumPy value when tracing."""
        key = id(v)
        if key in self._concrete:
            return self._concrete[key]
        if isinstance(v, Constant):
            res = 0
        elif key in self.inputs:
            self.specialised.add(self.inputs[key])
            res = 0
        elif isinstance(v.owner.op, (Shape, Shape_i)):
            res = self.avail(v.owner.inputs[0])
        elif v.owner in self.host:
            self.fetched.add(key)  # already a NumPy value
            res = self.avail(v)
        elif _small_fold(v.owner):
            self.fold_nodes.add(v.owner)
            res = max((self.concrete_from(i) for i in v.owner.inputs), default=0)
        else:
            self.fetched.add(key)
            res = self.avail(v) + 1
        self._concrete[key] = res
        return res

    # -- building the steps --------------------------------------------------------
    def _closure(self, nodes):
        """Fold nodes (and shape nodes) that recompute, concretely, the shape-deciding
        inputs of `nodes` from constants, specialised inputs and fetched values."""
        out, stack = set(), []
        for node in nodes:
            if node not in self.host:
                stack.extend(node.inputs[k] for k in needed_static(node, lowering_for(node.op)))
        while stack:
            v = stack.pop()
            if isinstance(v, Constant) or id(v) in self.inputs or id(v) in self.fetched:
                continue
            node = v.owner
            if node in out:
                continue
            if isinstance(node.op, (Shape, Shape_i)):
                out.add(node)
            elif node in self.fold_nodes:
                out.add(node)
                stack.extend(node.inputs)
        return out

    def _steps(self):
        steps, segments = [], []
        for t in range(self.n_segments):
            own = [n for n in self.nodes if self.stage[n] == t and n not in self.host]
            fold = self._closure(own)
            nodes = sorted(set(own) | fold, key=self.order.__getitem__)
            produced = {id(o) for n in nodes for o in n.outputs}
            used, seen = [], set()
            for n in nodes:
                for v in n.inputs:
                    if (not isinstance(v, Constant) and id(v) not in produced
                            and id(v) not in seen):
                        seen.add(id(v))
                        used.append(v)
            concrete = [v for v in used if id(v) in self.fetched
                        or self.inputs.get(id(v)) in self.specialised]
            dynamic = [v for v in used if not any(v is c for c in concrete)]
            seg = Segment(t, nodes, fold, dynamic, concrete)
            seg.own = own
            segments.append(seg)
            if nodes:
                steps.append(seg)
            steps.extend(("finish", n) for n in own if n in self.deferred)
            for n in self.nodes:
                if self.stage[n] == t and n in self.host:
                    steps.append(("host", n))
        self._set_outputs(segments, steps)
        return steps

    def _set_outputs(self, segments, steps):
        """Each segment returns what a later step or the function's outputs use."""
        needed = {id(v) for v in self.fgraph.outputs}
        for step in steps:
            if isinstance(step, Segment):
                needed.update(id(v) for v in step.dynamic + step.concrete)
            else:
                needed.update(id(v) for v in step[1].inputs)
        for seg in segments:
            seen = set()
            for n in seg.own:
                if n in self.deferred:
                    continue
                for o in n.outputs:
                    if id(o) in needed and id(o) not in seen:
                        seen.add(id(o))
                        seg.outputs.append(o)
            seg.deferred = [n for n in seg.own if n in self.deferred]

    def single(self):
        """The plan is one segment with nothing concrete: one plain jitted call."""
        return (len(self.steps) == 1 and isinstance(self.steps[0], Segment)
                and not self.steps[0].concrete)


def _small_fold(node):
    """Cheap to fold on the host: a foldable op on scalars and vectors."""
    return foldable(node) and all(
        isinstance(v.type, TensorType) and v.type.ndim <= 1 for v in node.inputs)


def _host_op(node):
    fn = lowering_for(node.op)
    if fn is None:
        return not callback.traceable(node)
    inner = getattr(fn, "traceable", None)  # loops and branches: is their body traceable?
    return getattr(fn, "host", False) or (inner is not None and not inner(node))


def _deferred(node):
    """Nodes whose output shapes are known only after they run: until loops, lstsq."""
    if isinstance(node.op, Scan):
        return node.op.has_until
    return hasattr(lowering_for(node.op), "deferred")
