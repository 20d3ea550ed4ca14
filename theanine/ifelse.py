"""theano.ifelse.ifelse: a conditional that evaluates only the branch taken.

Each branch is a closed inner graph over the root variables it uses (its whole
graph down to inputs, shared variables and constants), so the untaken branch
costs nothing at run time on every backend. The gradient is again an ifelse
of the two branches' vector-Jacobian products.
"""

from __future__ import annotations

from theanine.backends.py.linker import link
from theanine.config import config
from theanine.gradient import grad
from theanine.graph.basic import Apply, Constant, Op, Variable, disconnected_type
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.inner_graph import graph_key
from theanine.graph.serialize import dump_graph, load_graph
from theanine.graph.traversal import clone_replace, graph_inputs
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.shape import patternbroadcast


class IfElse(Op):
    """outputs = then_fn(*free) if cond else else_fn(*free)."""

    __props__ = ("key", "n_outs", "name")

    def __init__(self, inner_inputs, then_outs, else_outs, name=None):
        self.inner_inputs = list(inner_inputs)
        self.then_outs, self.else_outs = list(then_outs), list(else_outs)
        self.n_outs = len(then_outs)
        self.name = name
        self.key = (graph_key(self.inner_inputs, self.then_outs),
                    graph_key(self.inner_inputs, self.else_outs))
        self._fns = None

    def __str__(self):
        return f"IfElse{{{self.name}}}" if self.name else "IfElse"

    def make_node(self, cond, *free):
        cond = as_tensor_variable(cond)
        if cond.ndim != 0:
            raise TypeError(f"ifelse: condition must be a scalar (0-d), got {cond.type}")
        return Apply(self, [cond, *free], [o.type() for o in self.then_outs])

    def branch_functions(self):
        if self._fns is None:
            self._fns = tuple(link(FunctionGraph(self.inner_inputs, outs),
                                   check_types=config.check_types)
                              for outs in (self.then_outs, self.else_outs))
        return self._fns

    def compute(self, node, cond, *free):
        then_fn, else_fn = self.branch_functions()
        res = (then_fn if cond else else_fn)(*free)
        return res[0] if self.n_outs == 1 else tuple(res)

    def connection_pattern(self, node):
        return [[False] * self.n_outs] + [[True] * self.n_outs for _ in node.inputs[1:]]

    def grad(self, inputs, output_grads):
        cond, free = inputs[0], list(inputs[1:])
        keep = [(o, g) for o, g in zip(range(self.n_outs), output_grads)
                if not getattr(g.type, "is_disconnected", False)]
        diff = [k for k, v in enumerate(free) if _is_float(v)]
        if not keep or not diff:
            return [disconnected_type() for _ in inputs]
        branch_grads = []
        for outs in (self.then_outs, self.else_outs):
            outer = clone_replace(outs, dict(zip(self.inner_inputs, free)))
            known = {}
            for o, g in keep:
                known[outer[o]] = known[outer[o]] + g if outer[o] in known else g
            branch_grads.append(grad(None, [free[k] for k in diff], known_grads=known,
                                     disconnected_inputs="ignore", return_disconnected="zero"))
        gs = ifelse(cond, branch_grads[0], branch_grads[1], name=f"grad_{self.name or ''}")
        gs = gs if isinstance(gs, list) else [gs]
        out = [disconnected_type()] + [disconnected_type()] * len(free)
        for k, g in zip(diff, gs):
            out[1 + k] = g
        return out

    def __getstate__(self):
        d = self.__dict__.copy()
        d["_fns"] = None
        d["graph"] = dump_graph(self.inner_inputs, self.then_outs + self.else_outs)
        for k in ("inner_inputs", "then_outs", "else_outs", "key"):
            del d[k]
        return d

    def __setstate__(self, d):
        state = d.pop("graph")
        self.__dict__.update(d)
        self.inner_inputs, outs = load_graph(state)
        self.then_outs, self.else_outs = outs[:self.n_outs], outs[self.n_outs:]
        self.key = (graph_key(self.inner_inputs, self.then_outs),
                    graph_key(self.inner_inputs, self.else_outs))


def _is_float(v):
    d = getattr(v.type, "dtype", "")
    return d.startswith(("float", "complex"))


def ifelse(condition, then_branch, else_branch, name=None):
    """`then_branch` if the scalar `condition` is true, else `else_branch`; only the
    branch taken is computed. Branches are variables or lists of equal length
    with matching types."""
    single = not isinstance(then_branch, (list, tuple))
    thens = [then_branch] if single else list(then_branch)
    elses = [else_branch] if not isinstance(else_branch, (list, tuple)) else list(else_branch)
    if len(thens) != len(elses):
        raise ValueError(f"ifelse: then_branch has {len(thens)} outputs but else_branch has "
                         f"{len(elses)}; they must match")
    thens = [as_tensor_variable(t) if not isinstance(t, Variable) else t for t in thens]
    elses = [as_tensor_variable(e) if not isinstance(e, Variable) else e for e in elses]
    for k, (t, e) in enumerate(zip(thens, elses)):
        if t.type != e.type:
            if getattr(t.type, "dtype", None) == getattr(e.type, "dtype", None) and \
                    getattr(t.type, "ndim", None) == getattr(e.type, "ndim", None):
                bc = tuple(a and b for a, b in zip(t.broadcastable, e.broadcastable))
                thens[k], elses[k] = patternbroadcast(t, bc), patternbroadcast(e, bc)
                continue
            raise TypeError(f"ifelse: output {k} has type {t.type} in then_branch but "
                            f"{e.type} in else_branch; cast them to one type (e.g. T.cast)")
    roots = [v for v in graph_inputs(thens + elses) if not isinstance(v, Constant)]
    inner = [v.type() for v in roots]
    for i, v in zip(inner, roots):
        i.name = v.name
    repl = dict(zip(roots, inner))
    t_in, e_in = clone_replace(thens, repl), clone_replace(elses, repl)
    op = IfElse(inner, t_in, e_in, name)
    outs = op.make_node(condition, *roots).outputs
    return outs[0] if single else list(outs)
