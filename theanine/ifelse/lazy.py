"""How only the branch taken runs: LazyIfElse, and lazy_ifelse which makes them.

``lazy_ifelse(inputs, outputs)`` rewrites a graph about to be linked so that each
IfElse node becomes a LazyIfElse node whose two branches are closed inner graphs
holding exactly the nodes that only that branch needs, over the variables they read
from outside (their cut points, as scan cuts a loop's free variables). A node needed
elsewhere too (by the other branch, the condition, another output) stays outside
and runs once, so nothing is copied: the graph keeps its size.

Which nodes a branch holds follows from every variable's uses, in one pass from the
outputs back: a use as then-value (else-value) of an IfElse node N is a use "in N's
then (else) branch", a context nested in the context of N itself; graph outputs are
used always; a variable's context is the innermost one enclosing all its uses, and a
node's the innermost enclosing its outputs'. A node whose context is a branch of N
is moved into that branch (nested IfElse nodes first, so their own branches move
with them). Time and size are linear in the graph.

It runs where graphs are linked: theano.function's graph, loop bodies, OpFromGraph
graphs (py) and every numba region. Random draws whose new generator state is used
(their default update) are needed always, so they stay outside and draw every call.

LazyIfElse op interface (what a backend implements):
- node inputs: ``cond`` (0-d; nonzero is true), then the cut values; the op holds
  ``inner_inputs`` (one variable per cut), ``then_outs`` and ``else_outs`` (each
  branch's n_outs outputs over the inner inputs; a branch may ignore some inputs).
- value: ``then_outs`` evaluated on the cuts if cond, else ``else_outs``; only that
  branch may run.
"""

from __future__ import annotations

from theanine.backends.py.linker import link
from theanine.config import config
from theanine.graph.basic import Apply, Constant
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.inner_graph import InnerGraphOp
from theanine.graph.traversal import toposort
from theanine.tensor.basic import as_tensor_variable

from .op import IfElse


class LazyIfElse(InnerGraphOp):
    """(cond, *cuts) -> then_outs(cuts) if cond else else_outs(cuts) (see the module
    docstring): the form of IfElse that backends run.

    An InnerGraphOp whose inner graph is both branches over the cuts (inner outputs
    ``then_outs + else_outs``): the structural key, pickling and rebuilding around
    a rewritten graph come from the base; ``perform`` links each branch on its own
    (``branch_functions``), so only the branch taken runs."""

    __props__ = ("key", "n_outs", "name")

    def __init__(self, inner_inputs, then_outs, else_outs, name=None):
        if len(then_outs) != len(else_outs):
            raise ValueError(f"LazyIfElse: {len(then_outs)} then-outputs but "
                             f"{len(else_outs)} else-outputs")
        super().__init__(inner_inputs, list(then_outs) + list(else_outs))
        self.n_outs, self.name = len(then_outs), name

    @property
    def then_outs(self):
        return self.inner_outputs[:self.n_outs]

    @property
    def else_outs(self):
        return self.inner_outputs[self.n_outs:]

    def __str__(self):
        return f"LazyIfElse{{{self.name}}}" if self.name else "LazyIfElse"

    def make_node(self, cond, *cuts):
        cond = as_tensor_variable(cond)
        if cond.ndim != 0:
            raise TypeError(f"{self}: the condition must be a scalar (0-d), got {cond.type}")
        if len(cuts) != len(self.inner_inputs):
            raise TypeError(f"{self}: expected {len(self.inner_inputs)} inputs after the "
                            f"condition, got {len(cuts)}")
        cuts = [i.type.filter_variable(c) if c.type != i.type else c
                for c, i in zip(cuts, self.inner_inputs)]
        return Apply(self, [cond, *cuts], [o.type() for o in self.then_outs])

    def with_inner_outputs(self, inner_outputs):
        n = self.n_outs
        return LazyIfElse(self.inner_inputs, inner_outputs[:n], inner_outputs[n:], self.name)

    def link_inner(self, fgraph):
        """A graph over the cuts (a branch) linked by the py linker; its nested
        ifelse nodes are LazyIfElse already (lazy_ifelse made them inside out)."""
        return link(fgraph, check_types=config.check_types)

    def branch_functions(self):
        """(then_fn, else_fn): each branch linked on its own, once per op."""
        return self.cached("branches", lambda: tuple(
            self.link_inner(FunctionGraph(self.inner_inputs, outs))
            for outs in (self.then_outs, self.else_outs)))

    def compute(self, node, cond, *cuts):
        then_fn, else_fn = self.branch_functions()
        res = (then_fn if cond else else_fn)(*cuts)
        return res[0] if self.n_outs == 1 else tuple(res)


class _Branch:
    """The context "inside branch b of IfElse node N" (nested in N's own context)."""

    __slots__ = ("parent", "depth")

    def __init__(self, parent):
        self.parent = parent
        self.depth = 1 + (parent.depth if parent is not None else 0)


_UNUSED = object()


def _enclosing(a, b):
    """The innermost context enclosing contexts a and b (None: always)."""
    if a is _UNUSED:
        return b
    if b is _UNUSED:
        return a
    while a is not b:
        if a is None or b is None:
            return None
        if a.depth >= b.depth:
            a = a.parent
        else:
            b = b.parent
    return a


def _contexts(nodes, outputs):
    """({node: context}, {id(IfElse node): (then context, else context)})."""
    var_ctx = {id(o): None for o in outputs}
    node_ctx, branches = {}, {}

    def use(v, c):
        var_ctx[id(v)] = _enclosing(var_ctx.get(id(v), _UNUSED), c)

    for node in reversed(nodes):
        c = _UNUSED
        for o in node.outputs:
            c = _enclosing(c, var_ctx.get(id(o), _UNUSED))
        c = None if c is _UNUSED else c
        node_ctx[node] = c
        if isinstance(node.op, IfElse):
            n = node.op.n_outs
            then_c, else_c = _Branch(c), _Branch(c)
            branches[id(node)] = (then_c, else_c)
            use(node.inputs[0], c)
            for v in node.inputs[1:1 + n]:
                use(v, then_c)
            for v in node.inputs[1 + n:]:
                use(v, else_c)
        else:
            for v in node.inputs:
                use(v, c)
    return node_ctx, branches


def lazy_ifelse(inputs, outputs):
    """`outputs`, with every IfElse node they need (from `inputs`) replaced by a
    LazyIfElse node holding the nodes only its branches need (module docstring).
    Returns a new list; the same variables when there is no IfElse."""
    nodes = toposort(outputs, stop_at=inputs)
    if not any(isinstance(n.op, IfElse) for n in nodes):
        return list(outputs)
    node_ctx, branches = _contexts(nodes, outputs)
    new = {}  # id(old variable) -> its variable in the new graph
    members = {}  # branch context -> new nodes placed in it, in order

    def m(v):
        return new.get(id(v), v)

    for node in nodes:
        c = node_ctx[node]
        ins = [m(v) for v in node.inputs]
        if isinstance(node.op, IfElse):
            then_c, else_c = branches[id(node)]
            n = node.op.n_outs
            made = _close(node.op, ins[0], ins[1:1 + n], ins[1 + n:],
                          members.pop(then_c, []), members.pop(else_c, []))
        elif all(a is b for a, b in zip(ins, node.inputs)):
            made = node
        else:
            made = node.clone_with_new_inputs(ins, strict=True)
        if c is not None:
            members.setdefault(c, []).append(made)
        for o, no in zip(node.outputs, made.outputs):
            if no is not o:
                new[id(o)] = no
    return [m(o) for o in outputs]


def _close(op, cond, then_vals, else_vals, then_nodes, else_nodes):
    """The LazyIfElse node of IfElse `op` whose branches hold `then_nodes` and
    `else_nodes` (in order), computing then_vals / else_vals."""
    cuts, seen = [], set()
    for vals, region in ((then_vals, then_nodes), (else_vals, else_nodes)):
        made = {id(o) for node in region for o in node.outputs}
        for v in [i for node in region for i in node.inputs] + list(vals):
            if id(v) not in made and id(v) not in seen and not isinstance(v, Constant):
                seen.add(id(v))
                cuts.append(v)
    inner = []
    for v in cuts:
        i = v.type()
        i.name = v.name
        inner.append(i)
    outs = []
    for vals, region in ((then_vals, then_nodes), (else_vals, else_nodes)):
        memo = {id(v): i for v, i in zip(cuts, inner)}
        for node in region:
            copy = node.clone_with_new_inputs([memo.get(id(v), v) for v in node.inputs],
                                              strict=True)
            memo.update((id(o), co) for o, co in zip(node.outputs, copy.outputs))
        outs.append([memo.get(id(v), v) for v in vals])
    return LazyIfElse(inner, outs[0], outs[1], op.name).make_node(cond, *cuts)
