"""Stable products: the gradients of the stabilised forms.

``T.grad`` differentiates the expression as written, so the gradient of
log(sigmoid(x)) is ``g * (1 / sigmoid(x)) * sigmoid(x) * (1 - sigmoid(x))``: the
stabilize rules then rewrite the forward value to -softplus(-x), but the gradient
still divides by a sigmoid that underflows to 0 below x = -745 (inf * 0 = NaN).
Likewise ``exp(x) / (1 + exp(x))`` (log(1 + exp(x)), log1p(exp(x))) overflows to
inf / inf above x = 709, ``1 / (1 - sigmoid(x))`` (-log(1 - sigmoid(x))) to 1 / 0
from x = 37, and ``exp(x) / sum(exp(x))`` (log(sum(exp(x)))) to inf / inf.

``stable_product`` parses a product (through mul, neg, true_div, fill and
DimShuffles, which distribute over products) into a sign and numerator and
denominator factors, and replaces the pairs whose ratio has a stable form:

    f / f                          -> 1           f one of exp(x), sigmoid(x), softplus(x),
                                                  1 + exp(x), sum(exp(x)): positive and
                                                  finite, only rounding makes it 0 or inf
    exp(x) / (1 + exp(x))          -> sigmoid(x)
    1 / (1 + exp(x))               -> sigmoid(-x)
    exp(x) * sigmoid(-x)           -> sigmoid(x)
    exp(x) / sum(exp(x), axes)     -> exp(x - m) / sum(exp(x - m), axes), m = max(x, axes)

``one_minus_sigmoid``: 1 - sigmoid(x) and 1 + -sigmoid(x) -> sigmoid(-x) (exact
where 1 - sigmoid(x) rounds to 0). Only float expressions are rewritten; a parse stops after
MAX_FACTORS factors, so a rule costs O(1) per node.
"""

from __future__ import annotations

from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.tensor import math as M
from theanine.tensor import scalar_ops as so
from theanine.tensor.alloc import zeros_like
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.reduce import CAReduce, expand

from .utils import elemwise, ew, is_float, is_value, owner_op

MAX_FACTORS = 32
_SAME_DEPTH = 4


def _same(a, b, depth=_SAME_DEPTH):
    """a and b compute the same value: the same variable, equal constants, or equal
    ops applied to the same inputs (compared `depth` levels deep)."""
    if a is b:
        return True
    if a.type != b.type:
        return False
    if isinstance(a, Constant) and isinstance(b, Constant):
        return a.signature() == b.signature()
    na, nb = a.owner, b.owner
    if depth == 0 or na is None or nb is None or na.op != nb.op:
        return False
    if len(na.inputs) != len(nb.inputs) or a.index != b.index:
        return False
    return all(_same(x, y, depth - 1) for x, y in zip(na.inputs, nb.inputs))


class _Product:
    """sign * prod(num) / prod(den); carriers: values whose shape the product had
    (fill's first input, cancelled factors), to broadcast the result back."""

    def __init__(self):
        self.negative = False
        self.num, self.den, self.carriers = [], [], []


def _parse(v):
    prod = _Product()
    stack = [(v, False)]
    while stack:
        var, below = stack.pop()
        node = var.owner
        if len(prod.num) + len(prod.den) + len(stack) >= MAX_FACTORS or node is None:
            (prod.den if below else prod.num).append(var)
            continue
        parts = _split(var)
        if parts is None:
            (prod.den if below else prod.num).append(var)
            continue
        kind, ins = parts
        if kind == "neg":
            prod.negative = not prod.negative
            stack.append((ins[0], below))
        elif kind == "mul":
            stack.extend((i, below) for i in ins)
        elif kind == "div":
            stack += [(ins[0], below), (ins[1], not below)]
        else:  # fill
            prod.carriers.append(ins[0])
            stack.append((ins[1], below))
    return prod


def _split(var):
    """(kind, inputs) of a product-like node, the inputs of a DimShuffle'd product
    given that DimShuffle; else None."""
    node = var.owner
    if isinstance(node.op, DimShuffle):
        inner = node.inputs[0]
        parts = _split(inner) if inner.owner is not None else None
        if parts is None:
            return None
        order = node.op.new_order
        return parts[0], [i.dimshuffle(order) for i in parts[1]]
    for kind, cls in (("neg", so.Neg), ("mul", so.Mul), ("div", so.TrueDiv),
                      ("fill", so.Second)):
        if ew(var, cls) is not None:
            return kind, list(node.inputs)
    return None


def _exp_arg(v):
    node = ew(v, so.Exp)
    return node.inputs[0] if node is not None else None


def _one_plus_exp(v):
    """(the exp(x) factor, x) when v is 1 + exp(x), else None."""
    node = ew(v, so.Add)
    if node is None or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    for one, e in ((a, b), (b, a)):
        if is_value(one, 1) and _exp_arg(e) is not None:
            return e, _exp_arg(e)
    return None


def _ds_chain(v):
    """(base, order): v is base.dimshuffle(order) through any chain of DimShuffles."""
    order = list(range(v.ndim))
    while owner_op(v, DimShuffle) is not None:
        inner = v.owner.op.new_order
        order = ["x" if d == "x" else inner[d] for d in order]
        v = v.owner.inputs[0]
    return v, order


def _sum_of_exp(v):
    """(axes, x) when v is sum(exp(x), axes) with the summed axes put back as
    broadcastable dims (expand, keepdims), else None."""
    base, order = _ds_chain(v)
    s = owner_op(base, CAReduce)
    if s is None or s.op.kind != "sum":
        return None
    x = _exp_arg(s.inputs[0])
    if x is None or s.outputs[0].dtype != s.inputs[0].dtype or _shifted(x):
        return None
    axes = tuple(s.op.axis)
    kept = iter(range(base.ndim))
    if order != ["x" if i in axes else next(kept) for i in range(x.ndim)]:
        return None
    return axes, x


def _shifted(x):
    """True when x is already y - max(y) (the stable form must not rewrite itself)."""
    sub = ew(x, so.Sub)
    if sub is None:
        return False
    m = sub.inputs[1]
    while owner_op(m, DimShuffle) is not None:
        m = m.owner.inputs[0]
    sw = ew(m, so.Switch)
    mx = owner_op(sw.inputs[2], CAReduce) if sw is not None else None
    return mx is not None and mx.op.kind == "max" and mx.inputs[0] is sub.inputs[0]


def _positive(v):
    """v is positive and finite as a real number (0 or inf only by rounding)."""
    while owner_op(v, DimShuffle) is not None:
        v = v.owner.inputs[0]
    if any(ew(v, c) is not None for c in (so.Exp, so.Sigmoid, so.Softplus)):
        return True
    return _one_plus_exp(v) is not None or _sum_of_exp(v) is not None


def _take(items, pred):
    for k, v in enumerate(items):
        if pred(v):
            return items.pop(k)
    return None


def _simplify(p):
    """Apply the stable forms to the factors of p; True if any applied."""
    changed = False
    for d in list(p.den):
        if d not in p.den:
            continue
        if _positive(d) and _take(p.num, lambda n, d=d: _same(n, d)) is not None:
            p.den.remove(d)
            p.carriers.append(d)
            changed = True
            continue
        ope = _one_plus_exp(d)
        if ope is not None:
            e, x = ope
            p.den.remove(d)
            p.carriers.append(d)
            if _take(p.num, lambda n, e=e: _same(n, e)) is not None:
                p.num.append(M.nnet_sigmoid(x))
            else:
                p.num.append(M.nnet_sigmoid(M.neg(x)))
            changed = True
            continue
        soe = _sum_of_exp(d)
        if soe is not None:
            axes, x = soe
            e = _take(p.num, lambda n, x=x: _exp_arg(n) is not None and _same(_exp_arg(n), x))
            if e is not None:
                p.den.remove(d)
                num, den = _stable_softmax(x, axes)
                p.num.append(num)
                p.den.append(den)
                p.carriers.append(d)
                changed = True
    for n in list(p.num):
        x = _exp_arg(n)
        if x is None or n not in p.num:
            continue
        s = _take(p.num, lambda v, x=x: (ew(v, so.Sigmoid) is not None
                                         and ew(v.owner.inputs[0], so.Neg) is not None
                                         and _same(v.owner.inputs[0].owner.inputs[0], x)))
        if s is not None:
            p.num.remove(n)
            p.num.append(M.nnet_sigmoid(x))
            changed = True
    return changed


def _stable_softmax(x, axes):
    m = CAReduce("max", axes)(x)
    m = M.switch(M.isinf(m), zeros_like(m), m)
    e = M.exp(x - expand(m, axes, x.ndim))
    return e, expand(CAReduce("sum", axes)(e), axes, x.ndim)


def _rebuild(p, out):
    num = [v for v in p.num if not is_value(v, 1)]
    if not num:
        r = M.cast(1, out.dtype)
    else:
        r = num[0] if len(num) == 1 else M.mul(*num)
    if p.den:
        r = M.true_div(r, p.den[0] if len(p.den) == 1 else M.mul(*p.den))
    if p.negative:
        r = M.neg(r)
    for c in p.carriers + [v for v in p.num if is_value(v, 1)]:
        if r.broadcastable == out.broadcastable:
            break
        if c.ndim == out.ndim and any(rb and not cb for rb, cb in
                                      zip(r.broadcastable, c.broadcastable)):
            r = M.second(c, r)
    if r.ndim != out.ndim or r.broadcastable != out.broadcastable:
        return None
    return r if r.dtype == out.dtype else M.cast(r, out.dtype)


@rule(*elemwise(so.Mul, so.TrueDiv), name="stable_product")
def stable_product(graph, node):
    """Products whose factors overflow or underflow in ratio (see module doc)."""
    out = node.outputs[0]
    if not is_float(out):
        return None
    p = _parse(out)
    if not p.den and not any(_exp_arg(n) is not None for n in p.num):
        return None
    if not _simplify(p):
        return None
    r = _rebuild(p, out)
    return [r] if r is not None else None


@rule(*elemwise(so.Sub, so.Add), name="one_minus_sigmoid")
def one_minus_sigmoid(graph, node):
    """1 - sigmoid(x) -> sigmoid(-x); also 1 + -sigmoid(x) (log1p(-sigmoid(x))'s
    gradient divides by it)."""
    out = node.outputs[0]
    if len(node.inputs) != 2:
        return None
    one, s = node.inputs
    if ew(out, so.Add) is not None:
        if not is_value(one, 1):
            one, s = s, one
        neg = ew(s, so.Neg)
        if neg is None:
            return None
        s = neg.inputs[0]
    sig = ew(s, so.Sigmoid)
    if sig is None or not is_value(one, 1) or s.type != out.type:
        return None
    return [M.nnet_sigmoid(M.neg(sig.inputs[0]))]
