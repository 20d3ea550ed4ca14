"""stabilize: numerically stable forms of expressions that overflow or lose precision.

log(1 + x) -> log1p(x), log(1 - x) -> log1p(-x), exp(x) - 1 -> expm1(x),
log1p(exp(x)) -> softplus(x), log(sigmoid(x)) -> -softplus(-x),
log(1 - sigmoid(x)) -> -softplus(x), log(softmax(x)) -> log_softmax(x) and its
gradient (a - sum(a * sm)) * sm with a = g / sm -> g - sum(g) * sm,
log(sum(exp(x))) -> max(x) + log(sum(exp(x - max(x)))); and (stabilize_grad.py) the
products that the gradients of these forms build: 1 - sigmoid(x) -> sigmoid(-x),
f / f -> 1, exp(x) / (1 + exp(x)) -> sigmoid(x), exp(x) / sum(exp(x)) -> a shifted
softmax, ...
Only float expressions are rewritten. The logsumexp form takes a max over the summed
axes, so (unlike the sum) it refuses empty axes.
"""

from __future__ import annotations

from theanine.graph.rewrite import RuleSet, rule
from theanine.tensor import math as M
from theanine.tensor import scalar_ops as so
from theanine.tensor.alloc import zeros_like
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.nnet.softmax_ops import LogSoftmax, Softmax
from theanine.tensor.reduce import CAReduce, expand

from .constant_folding import constant_folding
from .stabilize_grad import one_minus_sigmoid, stable_product
from .utils import elemwise, ew, is_float, is_value, owner_op


def _cast_to(v, dtype):
    return v if v.dtype == dtype else M.cast(v, dtype)


def _one_plus(v):
    """x when v is 1 + x (x possibly a sum), else None; x has v's dtype."""
    node = ew(v, so.Add)
    if node is None or not is_float(v):
        return None
    rest = [u for u in node.inputs if not is_value(u, 1)]
    if len(rest) != len(node.inputs) - 1 or not rest:
        return None
    x = rest[0] if len(rest) == 1 else M.add(*rest)
    return _cast_to(x, v.dtype)


def _one_minus(v):
    """x when v is 1 - x, else None."""
    node = ew(v, so.Sub)
    if node is None or not is_float(v) or not is_value(node.inputs[0], 1):
        return None
    return _cast_to(node.inputs[1], v.dtype)


@rule(*elemwise(so.Log), name="log1p")
def log1p(graph, node):
    """log(1 + x) -> log1p(x); log(1 - x) -> log1p(-x)."""
    v = node.inputs[0]
    x = _one_plus(v)
    if x is not None:
        return [M.log1p(x)]
    x = _one_minus(v)
    return [M.log1p(M.neg(x))] if x is not None else None


@rule(*elemwise(so.Sub), name="expm1")
def expm1(graph, node):
    """exp(x) - 1 -> expm1(x)."""
    e, one = node.inputs
    exp = ew(e, so.Exp)
    if exp is None or not is_value(one, 1) or e.dtype != node.outputs[0].dtype:
        return None
    return [M.expm1(exp.inputs[0])]


@rule(*elemwise(so.Log1p), name="softplus")
def softplus(graph, node):
    """log1p(exp(x)) -> softplus(x); log1p(-sigmoid(x)) -> -softplus(x)."""
    v = node.inputs[0]
    exp = ew(v, so.Exp)
    if exp is not None and is_float(exp.inputs[0]):
        return [M.nnet_softplus(exp.inputs[0])]
    neg = ew(v, so.Neg)
    sig = ew(neg.inputs[0], so.Sigmoid) if neg is not None else None
    if sig is not None and is_float(sig.inputs[0]):
        return [M.neg(M.nnet_softplus(sig.inputs[0]))]
    return None


@rule(*elemwise(so.Log), name="log_sigmoid")
def log_sigmoid(graph, node):
    """log(sigmoid(x)) -> -softplus(-x); log(1 - sigmoid(x)) -> -softplus(x)."""
    v = node.inputs[0]
    sig = ew(v, so.Sigmoid)
    if sig is not None and is_float(sig.inputs[0]):
        return [M.neg(M.nnet_softplus(M.neg(sig.inputs[0])))]
    x = _one_minus(v)
    sig = ew(x, so.Sigmoid) if x is not None else None
    if sig is not None and is_float(sig.inputs[0]):
        return [M.neg(M.nnet_softplus(sig.inputs[0]))]
    return None


@rule(*elemwise(so.Log), name="log_softmax")
def log_softmax(graph, node):
    """log(softmax(x)) -> log_softmax(x)."""
    sm = owner_op(node.inputs[0], Softmax)
    if sm is None:
        return None
    return [LogSoftmax(sm.op.axis)(sm.inputs[0])]


def _over(a, sm):
    """G when a = G / sm (as a division, or a product with a factor 1 / sm), else None."""
    div = ew(a, so.TrueDiv)
    if div is not None and div.inputs[1] is sm:
        return None if is_value(div.inputs[0], 1) else div.inputs[0]
    mul = ew(a, so.Mul)
    if mul is None:
        return None
    for k, f in enumerate(mul.inputs):
        d = ew(f, so.TrueDiv)
        if d is not None and d.inputs[1] is sm and is_value(d.inputs[0], 1):
            rest = mul.inputs[:k] + mul.inputs[k + 1:]
            return rest[0] if len(rest) == 1 else M.mul(*rest)
    return None


def _summed_axis(d, a, sm):
    """The axis when d = sum(a * sm, axis, keepdims=True), else None."""
    ds = owner_op(d, DimShuffle)
    s = owner_op(ds.inputs[0], CAReduce) if ds is not None else None
    if s is None or s.op.kind != "sum" or len(s.op.axis) != 1:
        return None
    e = ew(s.inputs[0], so.Mul)
    if e is None or sorted(map(id, e.inputs)) != sorted(map(id, (a, sm))):
        return None
    axis = s.op.axis[0]
    kept = [i for i in range(sm.ndim) if i != axis]
    pattern = tuple("x" if i == axis else kept.index(i) for i in range(sm.ndim))
    return axis if ds.op.new_order == pattern else None


@rule(*elemwise(so.Mul), name="log_softmax_grad")
def log_softmax_grad(graph, node):
    """(a - sum(a * sm)) * sm with a = g / sm and sm = softmax(x) -> g - sum(g) * sm:
    the gradient of log(softmax(x)) without dividing by a softmax that underflows."""
    for k, sm in enumerate(node.inputs):
        smn = owner_op(sm, Softmax)
        if smn is None:
            continue
        for j, d in enumerate(node.inputs):
            sub = ew(d, so.Sub)
            if j == k or sub is None:
                continue
            a, summed = sub.inputs
            g = _over(a, sm)
            axis = _summed_axis(summed, a, sm)
            if g is None or axis is None or axis != smn.op.axis % sm.ndim:
                continue
            stable = g - expand(CAReduce("sum", (axis,))(g), (axis,), sm.ndim) * sm
            rest = [v for i, v in enumerate(node.inputs) if i not in (j, k)]
            return [M.mul(stable, *rest) if rest else stable]
    return None


def _shift_of(x):
    """True when x is already y - max(y) (so logsumexp does not rewrite itself)."""
    sub = ew(x, so.Sub)
    if sub is None:
        return False
    ds = owner_op(sub.inputs[1], DimShuffle)
    sw = ew(ds.inputs[0], so.Switch) if ds is not None else None
    mx = owner_op(sw.inputs[2], CAReduce) if sw is not None else None
    return mx is not None and mx.op.kind == "max" and mx.inputs[0] is sub.inputs[0]


@rule(*elemwise(so.Log), name="logsumexp")
def logsumexp(graph, node):
    """log(sum(exp(x), axes)) -> m + log(sum(exp(x - m), axes)), m = max(x, axes)
    (0 where infinite), also through the dimshuffle of keepdims=True."""
    v = node.inputs[0]
    ds = owner_op(v, DimShuffle)
    s = owner_op(ds.inputs[0] if ds is not None else v, CAReduce)
    if s is None or s.op.kind != "sum":
        return None
    exp = ew(s.inputs[0], so.Exp)
    if exp is None:
        return None
    x = exp.inputs[0]
    if not is_float(x) or x.dtype != s.outputs[0].dtype or _shift_of(x):
        return None
    axes = s.op.axis
    m = CAReduce("max", axes)(x)
    m = M.switch(M.isinf(m), zeros_like(m), m)
    lse = M.log(CAReduce("sum", axes)(M.exp(x - expand(m, axes, x.ndim)))) + m
    return [ds.op(lse) if ds is not None else lse]


stabilize = RuleSet("stabilize", [
    constant_folding, log1p, expm1, softplus, log_sigmoid, log_softmax, log_softmax_grad,
    logsumexp, one_minus_sigmoid, stable_product,
], __doc__.split("\n\n")[0])
