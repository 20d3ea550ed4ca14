"""Reverse-mode differentiation over the graph: grad, Lop, Rop, verify_grad;
re-exported here (Theano's names): the gradient-shaping ops of
theanine/tensor/gradient_ops.py (disconnected_grad, zero_grad, grad_clip, grad_scale)
and the gradient marker types of theanine/graph/basic.py (DisconnectedType, NullType).
jacobian and hessian are built on scan, a layer above (theanine/scan/jacobian.py);
``theanine.gradient.jacobian`` forwards to them (module __getattr__ below).

Invariants:
- The walk is iterative, in reverse topological order, over the "live" variables:
  those that depend on some `wrt` and influence the cost (or a `known_grads` key),
  following each op's connection_pattern (Theano's notion of connectedness).
- An op's gradient for an input is a variable of the input's type, or a
  DisconnectedType variable (no gradient flows), or a NullType variable
  (undefined / not implemented). A NullType reaching a requested wrt raises.
- Only an op with an integer (or bool) *output* cuts the gradient (Theano 1.0: "do
  not force integer variables to have zero grad"): an integer input of a float
  operation receives its float gradient (``grad((x_int * 2.5).sum(), x_int)`` is
  2.5 everywhere). An op whose live outputs are all discrete is asked for its
  gradient only to learn whether it is undefined (a NullType, e.g. a random draw's
  parameters, raises NullTypeGradError); otherwise its inputs get zero from it. A
  wrt that is live but receives no gradient term gets zeros; only a wrt that is not
  live at all is "disconnected" (DisconnectedInputError by default).
- The seed is ``ones_like(cost)``, so the gradient graph depends on the cost and
  every input of the cost counts as used by theano.function (as in Theano).
"""

from __future__ import annotations

import warnings

from theanine.config import config
from theanine.graph.basic import (  # noqa: F401 - re-exported: Theano's names here
    DisconnectedType,
    NullType,
    Variable,
    disconnected_type,
    grad_not_implemented,
    grad_undefined,
)
from theanine.graph.traversal import gc_paused as _gc_paused
from theanine.graph.traversal import toposort
from theanine.tensor.alloc import ones_like, zeros_like
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.gradient_ops import (  # noqa: F401 - re-exported: Theano's names here
    DisconnectedGrad,
    GradClip,
    GradScale,
    UndefinedGrad,
    ViewOp,
    ZeroGrad,
    consider_constant,
    disconnected_grad,
    grad_clip,
    grad_scale,
    undefined_grad,
    zero_grad,
)
from theanine.tensor.math import add, cast
from theanine.tensor.shape import patternbroadcast


class DisconnectedInputError(ValueError):
    """grad was asked for a variable that the cost does not depend on."""


class NullTypeGradError(TypeError):
    """A gradient on the path to a requested variable is undefined."""


class GradientError(Exception):
    """verify_grad found the symbolic and numeric gradients differ."""

    def __init__(self, arg, err_pos, shape, val1, val2, abs_err, rel_err, abs_tol, rel_tol):
        super().__init__(
            f"gradient of input {arg} (shape {shape}) differs from finite differences at "
            f"flat position {err_pos}: symbolic {val1} vs numeric {val2}; abs error "
            f"{abs_err:.3g} (tol {abs_tol:g}), rel error {rel_err:.3g} (tol {rel_tol:g})")
        self.arg, self.err_pos, self.abs_err, self.rel_err = arg, err_pos, abs_err, rel_err


def _is_discrete(v):
    d = getattr(v.type, "dtype", None)
    return d is None or not d.startswith(("float", "complex"))


def _is_null(g):
    return getattr(g.type, "is_null", False)


def _is_disconnected(g):
    return getattr(g.type, "is_disconnected", False)


def _cast_like(g, v, where="a gradient"):
    """`g` converted to the dtype and broadcast pattern of `v` (ndim must match). The
    gradient of a discrete variable stays a float (floatX if `g` is discrete)."""
    if g.type.ndim != v.type.ndim:
        raise TypeError(f"{where} for {v} has {g.type.ndim} dimensions; expected "
                        f"{v.type.ndim} (the variable's type is {v.type})")
    if _is_discrete(v):
        if _is_discrete(g):
            g = cast(g, _dtype("floatX"))
    elif g.type.dtype != v.type.dtype:
        g = cast(g, v.type.dtype)
    if g.type.broadcastable != v.type.broadcastable:
        g = patternbroadcast(g, v.type.broadcastable)
    return g


def _sum_terms(terms):
    nulls = [t for t in terms if _is_null(t)]
    if nulls:
        return nulls[0]
    return terms[0] if len(terms) == 1 else add(*terms)


def _pattern(node):
    cp = node.op.connection_pattern(node)
    if len(cp) != len(node.inputs) or any(len(r) != len(node.outputs) for r in cp):
        raise ValueError(f"{node.op}.connection_pattern must be a list of {len(node.inputs)} "
                         f"lists of {len(node.outputs)} bools, got {cp!r}")
    return cp


def _live(roots, wrt_list, consts):
    """(nodes, live): the nodes behind `roots` in topological order, and the ids of
    the variables that both depend on some wrt and influence some root, following
    each op's connection_pattern; variables in `consts` pass nothing through."""
    const_ids = {id(c) for c in consts}
    nodes = toposort(roots, stop_at=consts)
    patterns = {id(n): _pattern(n) for n in nodes}
    anc = {id(r) for r in roots}
    for node in reversed(nodes):
        cp = patterns[id(node)]
        for i, inp in enumerate(node.inputs):
            if any(cp[i][j] and id(o) in anc for j, o in enumerate(node.outputs)):
                anc.add(id(inp))
    reach = {id(w) for w in wrt_list}
    for node in nodes:
        cp = patterns[id(node)]
        for j, o in enumerate(node.outputs):
            if id(o) in const_ids:
                continue
            if any(cp[i][j] and id(inp) in reach for i, inp in enumerate(node.inputs)):
                reach.add(id(o))
    return nodes, patterns, anc & reach


@_gc_paused()
def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", add_names=True,
         known_grads=None, return_disconnected="zero", null_gradients="raise"):
    """Symbolic gradient of scalar `cost` with respect to `wrt` (a variable, list or tuple;
    the result has the same structure).

    consider_constant: variables through which no gradient flows to their inputs.
    disconnected_inputs: 'raise', 'warn' or 'ignore' when cost does not depend on a wrt.
        Dependence follows each op's connection_pattern, as Theano: a wrt that reaches
        the cost only through integer-valued variables is connected, with zero gradient.
    known_grads: {variable: gradient} to start from (cost may then be None).
    return_disconnected: 'zero', 'None' or 'Disconnected' for disconnected wrt.
    null_gradients: 'raise' (NullTypeGradError) or 'return' when a gradient is undefined."""
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("grad: disconnected_inputs must be 'raise', 'warn' or 'ignore', "
                         f"got {disconnected_inputs!r}")
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError("grad: return_disconnected must be 'zero', 'None' or "
                         f"'Disconnected', got {return_disconnected!r}")
    if null_gradients not in ("raise", "return"):
        raise ValueError(f"grad: null_gradients must be 'raise' or 'return', got "
                         f"{null_gradients!r}")
    structure = type(wrt) if isinstance(wrt, (list, tuple)) else None
    wrt_list = list(wrt) if structure else [wrt]
    for i, w in enumerate(wrt_list):
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt[{i}] must be a symbolic variable, got {w!r}")
    start = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError(f"grad: cost must be a symbolic variable, got {cost!r}")
        if getattr(cost.type, "ndim", 0) != 0:
            raise TypeError(f"grad: cost must be a scalar (0-d), got a {cost.type.ndim}-d "
                            f"tensor {cost}; take T.sum(cost) or pass known_grads")
        dt = _dtype("floatX") if _is_discrete(cost) else cost.type.dtype
        start[id(cost)] = (cost, [ones_like(cost, dtype=dt)])
    for v, g in (known_grads or {}).items():
        if not isinstance(v, Variable):
            raise TypeError(f"grad: known_grads keys must be symbolic variables, got {v!r}")
        if not isinstance(g, Variable):
            g = as_tensor_variable(g)
        if not (_is_null(g) or _is_disconnected(g) or _is_discrete(v)) \
                and g.type.ndim == v.type.ndim:
            # a gradient of another rank is passed on as given (Theano accepts it:
            # custom ops' grads may expect it)
            g = _cast_like(g, v, "known_grads")
        start.setdefault(id(v), (v, []))[1].append(g)
    if not start:
        raise ValueError("grad: give a cost or known_grads")
    consts = list(consider_constant or [])
    for c in consts:
        if not isinstance(c, Variable):
            raise TypeError(f"grad: consider_constant must hold symbolic variables, got {c!r}")
    # a variable whose only known gradient is DisconnectedType starts nothing
    roots = [v for v, gs in start.values() if not all(_is_disconnected(g) for g in gs)]
    nodes, patterns, live = _live(roots, wrt_list, consts)
    grads = {k: [g for g in v[1] if not _is_disconnected(g)] for k, v in start.items()}
    for node in reversed(nodes):
        _backprop(node, patterns[id(node)], grads, live)
    out = []
    for w in wrt_list:
        terms = grads.get(id(w))
        if not terms and id(w) in live:
            # connected only through integer-valued or zero-gradient paths
            out.append(_float_zeros_like(w))
            continue
        if not terms:
            msg = ("grad method was asked to compute the gradient with respect to a "
                   "variable that is not part of the computational graph of the cost, "
                   f"or is used only by a non-differentiable operator: {w}")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=2)
            out.append(_disconnected_result(w, return_disconnected))
            continue
        g = _sum_terms(terms)
        if _is_null(g) and null_gradients == "raise":
            raise NullTypeGradError(f"grad: the gradient with respect to {w} is undefined: "
                                    f"{g.type.why_null}")
        if (add_names and g.name is None and cost is not None and cost.name
                and getattr(w, "name", None)):
            g.name = f"(d{cost.name}/d{w.name})"
        out.append(g)
    return structure(out) if structure else out[0]


def _backprop(node, cp, grads, live):
    """Add the gradient terms that `node` sends to its live inputs into `grads`."""
    if not any(id(o) in live for o in node.outputs):
        return
    if not any(id(i) in live for i in node.inputs):
        return
    ogs, useful, nulls = [], [], []
    for j, o in enumerate(node.outputs):
        terms = grads.get(id(o))
        if not terms:
            ogs.append(disconnected_type())
            continue
        g = _sum_terms(terms)
        (nulls if _is_null(g) else useful).append(j)
        ogs.append(g)
    if not useful and not nulls:
        return
    # Discrete outputs pass zero to the inputs; the op is asked about them only when
    # they are all it has (to learn whether its gradient is undefined there).
    real = [j for j in useful if not _is_discrete(node.outputs[j])]
    ask = real or useful
    if ask:
        passed = [ogs[j] if j in ask else disconnected_type() for j in range(len(ogs))]
        igs = node.op.L_op(node.inputs, node.outputs, passed)
        if igs is None or len(igs) != len(node.inputs):
            raise ValueError(f"{node.op}.grad returned {igs!r}: expected a list of "
                             f"{len(node.inputs)} gradients, one per input")
        igs = list(igs)
    else:
        igs = [None] * len(node.inputs)
    for i, inp in enumerate(node.inputs):
        if id(inp) not in live:
            continue
        null_to = [j for j in nulls if cp[i][j]]
        g = ogs[null_to[0]] if null_to else igs[i]
        if g is None:
            continue
        if not isinstance(g, Variable):
            g = as_tensor_variable(g)
        if _is_disconnected(g):
            continue
        if not _is_null(g):
            if not real:
                continue  # reached only through discrete outputs: zero
            g = _cast_like(g, inp, f"{node.op}.grad: the gradient of input {i}")
        grads.setdefault(id(inp), []).append(g)


def _disconnected_result(v, how):
    if how == "zero":
        return _float_zeros_like(v)
    return None if how == "None" else disconnected_type()


def _float_zeros_like(w):
    return zeros_like(w, dtype=_dtype("floatX") if _is_discrete(w) else None)


def _dtype(d):
    return config.floatX if d == "floatX" else d


def subgraph_grad(wrt, end, start=None, cost=None, details=False):
    """Gradients of `cost` and/or of known gradients `start` ({var: grad}) with respect
    to `wrt` and to the variables `end`, stopping at `end` (treated as constants).
    Returns (wrt_grads, end_grads), plus (start_grads, cost_grads) with details=True;
    feed dict(zip(end, end_grads)) as the next `start` to go back layer by layer."""
    if cost is None and start is None:
        raise ValueError("subgraph_grad: give a cost or start gradients")
    params = list(dict.fromkeys(list(wrt) + list(end)))
    start_grads = cost_grads = None
    if start is not None:
        start_grads = grad(None, params, known_grads=start, consider_constant=end,
                           disconnected_inputs="ignore")
    if cost is not None:
        cost_grads = grad(cost, params, consider_constant=end, disconnected_inputs="ignore")
    grads = start_grads if cost_grads is None else cost_grads
    if start_grads is not None and cost_grads is not None:
        grads = [a + b for a, b in zip(start_grads, cost_grads)]
    by_param = dict(zip(params, grads))
    out = ([by_param[w] for w in wrt], [by_param[e] for e in end])
    return out + (start_grads, cost_grads) if details else out


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product sum_i eval_points[i]^T (d f[i] / d wrt), same structure as wrt."""
    fs = list(f) if isinstance(f, (list, tuple)) else [f]
    evs = list(eval_points) if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(fs) != len(evs):
        raise ValueError(f"Lop: f has {len(fs)} outputs but eval_points has {len(evs)}")
    return grad(None, wrt, consider_constant=consider_constant,
                disconnected_inputs=disconnected_inputs, known_grads=_accumulate(fs, evs))


def _accumulate(keys, values):
    """{key: value}, adding the values of a key given more than once."""
    out = {}
    for k, v in zip(keys, values):
        out[k] = out[k] + as_tensor_variable(v) if k in out else v
    return out


# Split out along their seams; imported last because they use grad above.
from .gradient_check import numeric_grad, verify_grad  # noqa: E402
from .rop import Rop  # noqa: E402


def __getattr__(name):
    """Theano's theano.gradient.jacobian / hessian, stated with scan (a layer above)."""
    if name in ("jacobian", "hessian"):
        from theanine.scan import jacobian as module  # allow-listed: scan is above gradient

        return getattr(module, name)
    raise AttributeError(f"module 'theanine.gradient' has no attribute {name!r}")


__all__ = ["DisconnectedType", "NullType", "disconnected_type", "grad_not_implemented",
           "grad_undefined", "DisconnectedInputError", "NullTypeGradError", "GradientError",
           "grad", "subgraph_grad", "Lop", "Rop", "disconnected_grad", "consider_constant",
           "zero_grad", "grad_scale", "undefined_grad", "grad_clip", "numeric_grad",
           "verify_grad"]
