"""OpFromGraph: an op defined by a graph (Theano's ``theano.OpFromGraph``, also
``theano.compile.builders.OpFromGraph``).

    x, y = T.dscalars("xy")
    axpy = theano.OpFromGraph([x, y], [2 * x + y])
    z = axpy(a, b) * axpy(b, a)           # two nodes of one op

Invariants:
- The op holds a closed inner graph: fresh inner inputs for the given inputs, then
  one more for each shared variable the outputs read (a node's implicit inputs,
  appended after the explicit ones, so the shared value is read when it runs);
  any other free variable is a MissingInputError at construction.
- OpFromGraph is an InnerGraphOp (graph/inner_graph.py), which gives it its
  structural key, its inner function built once, and flat pickling. Two
  OpFromGraph ops are equal when their inner graphs are equal (structure, types
  and constants), their inline flags, names and gradient overrides too.
- The inner graph of a node that stays (inline=False) is rewritten by the
  pipeline that rewrites the graph around it (the pipeline's last step,
  ``inner_graphs``), as a loop body is; every backend runs the rewritten graph.
- Its gradient is another OpFromGraph, from (inputs, output gradients) to the
  inputs' gradients (Theano's), unless ``grad_overrides`` gives a function
  ``(inputs, output_grads) -> input grads``. Its connection pattern follows the
  inner graph.
- ``inline=True``: the rewrites replace each node by its inner graph (the
  ``inline`` step), so the surrounding rewrites see through it; otherwise the
  backends run the inner graph as one unit (numba: one compiled function).
"""

from __future__ import annotations

from theanine.backends.py.linker import link
from theanine.config import config
from theanine.gradient import disconnected_type, grad
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.fgraph import FunctionGraph, MissingInputError
from theanine.graph.inner_graph import InnerGraphOp
from theanine.graph.traversal import clone_replace, graph_inputs, inner_dependencies
from theanine.ifelse.lazy import lazy_ifelse


def _is_shared(v):
    # a SharedVariable (compile layer, above this one): a root with a value cell
    return v.owner is None and hasattr(v, "container") and hasattr(v, "get_value")


class OpFromGraph(InnerGraphOp):
    """An op computing `outputs` from `inputs` (lists of variables), applied like any
    op: ``op(*values)`` returns one variable, or a list for several outputs.

    inline: expand every node into its inner graph when compiling (see the module
    doc). grad_overrides: 'default' or a callable (inputs, output_grads) -> list of
    input gradients. rop_overrides: 'default' (Rop through the gradient) or a
    callable (inputs, eval_points) -> list of output tangents. connection_pattern:
    the op's pattern (a list per input of one bool per output), else inferred.
    name: shown in printouts."""

    __props__ = ("key", "inline", "name", "grad_overrides", "rop_overrides")

    def __init__(self, inputs, outputs, inline=False, grad_overrides="default",
                 rop_overrides="default", connection_pattern=None, name=None, **kwargs):
        if "updates" in kwargs or "givens" in kwargs:
            raise TypeError("OpFromGraph: updates and givens are not allowed here")
        if not isinstance(inputs, (list, tuple)) or not isinstance(outputs, (list, tuple)):
            raise TypeError("OpFromGraph: inputs and outputs must be lists of variables, got "
                            f"{type(inputs).__name__} and {type(outputs).__name__}")
        for what, vs in (("inputs", inputs), ("outputs", outputs)):
            for k, v in enumerate(vs):
                if not isinstance(v, Variable):
                    raise TypeError(f"OpFromGraph: {what}[{k}] must be a symbolic variable, "
                                    f"got {v!r}")
        for what, f in (("grad_overrides", grad_overrides), ("rop_overrides", rop_overrides)):
            if f != "default" and not callable(f):
                raise TypeError(f"OpFromGraph: {what} must be 'default' or a callable, "
                                f"got {f!r}")
        inputs, outputs = list(inputs), list(outputs)
        free = [v for v in graph_inputs(outputs, stop_at=inputs)
                if all(v is not i for i in inputs) and not isinstance(v, Constant)]
        missing = [v for v in free if not _is_shared(v)]
        if missing:
            raise MissingInputError(f"OpFromGraph: the outputs depend on {missing[0]}, which "
                                    "is not among its inputs; add it to the inputs")
        self.shared_inputs = free
        inner_inputs = [v.type() for v in inputs + free]
        for i, v in zip(inner_inputs, inputs + free):
            i.name = v.name
        super().__init__(inner_inputs,
                         clone_replace(outputs, dict(zip(inputs + free, inner_inputs))))
        self.inline, self.name = bool(inline), name
        self.grad_overrides, self.rop_overrides = grad_overrides, rop_overrides
        self.given_pattern = connection_pattern

    @property
    def R_op(self):
        """Theano's R_op when rop_overrides is given; else None, so Rop goes
        through the gradient (theanine/rop.py)."""
        if self.rop_overrides == "default":
            return None
        rop = self.rop_overrides
        return lambda inputs, eval_points: list(rop(inputs, eval_points))

    def __str__(self):
        return f"OpFromGraph{{{self.name}}}" if self.name else "OpFromGraph"

    def make_node(self, *inputs):
        """The explicit inputs (the shared variables are appended), or all of them (a
        rewrite rebuilding the node, givens replacing a shared variable)."""
        n = len(self.inner_inputs) - len(self.shared_inputs)
        if len(inputs) == n:
            inputs = list(inputs) + list(self.shared_inputs)
        elif len(inputs) != len(self.inner_inputs):
            raise TypeError(f"{self}: expected {n} inputs, got {len(inputs)}")
        ins = []
        for k, (v, i) in enumerate(zip(inputs, self.inner_inputs)):
            try:
                ins.append(i.type.filter_variable(v))
            except TypeError:
                raise TypeError(f"{self}: input {k} must be {i.type}, got "
                                f"{getattr(v, 'type', repr(v))}") from None
        return Apply(self, ins, [o.type() for o in self.inner_outputs])

    def with_inner_outputs(self, inner_outputs):
        """This op around a rewritten inner graph: same inputs (shared ones
        included), flags, name and overrides."""
        op = object.__new__(type(self))  # not copy.copy: that pickles the graph
        op.__dict__.update((k, v) for k, v in self.__dict__.items() if k != "_cache")
        InnerGraphOp.__init__(op, self.inner_inputs, inner_outputs)
        return op

    def link_inner(self, fgraph):
        """The py linker runs the inner graph in ``perform`` (every backend's
        fallback); a branch of an ifelse in it runs only when taken."""
        outs = lazy_ifelse(fgraph.inputs, fgraph.outputs)
        return link(FunctionGraph(fgraph.inputs, outs), check_types=config.check_types)

    def compute(self, node, *values):
        res = self.inner_function()(*values)
        return res[0] if len(res) == 1 else tuple(res)

    def connection_pattern(self, node):
        if self.given_pattern is not None:
            return [list(row) for row in self.given_pattern]
        deps = inner_dependencies(self.inner_inputs, self.inner_outputs)
        return [[k in d for d in deps] for k in range(len(self.inner_inputs))]

    def infer_shape(self, node, shapes):
        outer = clone_replace([o.shape for o in self.inner_outputs],
                              dict(zip(self.inner_inputs, node.inputs)))
        return [tuple(s[d] for d in range(o.type.ndim))
                for s, o in zip(outer, self.inner_outputs)]

    def L_op(self, inputs, outputs, output_grads):
        if self.grad_overrides != "default":
            gs = list(self.grad_overrides(list(inputs), list(output_grads)))
            if len(gs) != len(inputs):
                raise ValueError(f"{self}: grad_overrides returned {len(gs)} gradients for "
                                 f"{len(inputs)} inputs")
            return gs
        live = [j for j, g in enumerate(output_grads)
                if not getattr(g.type, "is_disconnected", False)]
        if not live:
            return [disconnected_type() for _ in inputs]
        g_in = [self.inner_outputs[j].type() for j in live]
        known = {}
        for j, g in zip(live, g_in):
            o = self.inner_outputs[j]
            known[o] = known[o] + g if o in known else g
        gs = grad(None, self.inner_inputs, known_grads=known, disconnected_inputs="ignore",
                  return_disconnected="Disconnected", null_gradients="return")
        real = [k for k, g in enumerate(gs) if not getattr(g.type, "is_disconnected", False)
                and not getattr(g.type, "is_null", False)]
        out = [g if k not in real else None for k, g in enumerate(gs)]
        if real:
            grad_op = OpFromGraph(self.inner_inputs + g_in, [gs[k] for k in real],
                                  inline=self.inline, name=f"grad_{self.name or 'ofg'}")
            vals = grad_op(*inputs, *[output_grads[j] for j in live])
            vals = vals if isinstance(vals, list) else [vals]
            for k, v in zip(real, vals):
                out[k] = v
        return out

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, None, output_grads)


def inline_graph(node):
    """The outputs of an OpFromGraph node, as its inner graph over the node's inputs."""
    return clone_replace(node.op.inner_outputs, dict(zip(node.op.inner_inputs, node.inputs)))
