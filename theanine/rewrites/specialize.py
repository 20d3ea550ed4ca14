"""specialize: faster forms for particular shapes and combinations of products.

sum(x * y) of two vectors -> dot(x, y); dot(col, row) -> col * row (the outer product
needs no BLAS call); a * dot(x, y) + b * z (also z - a * dot(x, y), and inside a longer
sum) -> gemm(z, a, x, y, b), one op that adds into the dot product's buffer (z may
be a broadcast bias, dot(x, W) + b, when no elementwise op follows: fusion would add
it for free); a sum of several dots becomes a chain of gemms. A dot whose result is
also used elsewhere is left alone (it would be computed twice).
"""

from __future__ import annotations

from theanine.graph.rewrite import OUTPUT, RuleSet, rule
from theanine.tensor import math as M
from theanine.tensor import scalar_ops as so
from theanine.tensor.blas import gemm
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.linalg import Dot
from theanine.tensor.reduce import CAReduce

from .constant_folding import constant_folding
from .join_increments import inc_zeros_to_join
from .utils import elemwise, ew, owner_op, scalar_constant, scalar_value, single_use


@rule(CAReduce, name="sum_mul_to_dot")
def sum_mul_to_dot(graph, node):
    """sum(x * y) -> dot(x, y) for float vectors x, y of one dtype."""
    (v,) = node.inputs
    mul = ew(v, so.Mul)
    if node.op.kind != "sum" or mul is None or v.ndim != 1 or len(mul.inputs) != 2:
        return None
    x, y = mul.inputs
    if x.broadcastable != (False,) or y.broadcastable != (False,):
        return None
    if not (x.dtype == y.dtype == node.outputs[0].dtype) or not x.dtype.startswith("float"):
        return None
    return [Dot()(x, y)] if single_use(graph, v) else None


@rule(Dot, name="dot_outer")
def dot_outer(graph, node):
    """dot(a, b) of a column and a row (the summed dim has length 1) -> a * b."""
    a, b = node.inputs
    if a.ndim == 2 and b.ndim == 2 and a.broadcastable[1] and b.broadcastable[0]:
        return [M.mul(a, b)]
    return None


def _scaled(graph, t, dtype):
    """(scale, base) with t = scale * base: scale a number, or a variable of `dtype`
    whose dims all have length 1."""
    node = ew(t, so.Neg)
    if node is not None and single_use(graph, t):
        return -1, node.inputs[0]
    node = ew(t, so.Mul)
    if node is not None and len(node.inputs) == 2 and single_use(graph, t):
        for k in (0, 1):
            s, base = node.inputs[k], node.inputs[1 - k]
            if s.dtype == dtype and all(s.broadcastable) and not all(base.broadcastable):
                return s, base
    return 1, t


def _times(sign, scale, dtype):
    """sign * scale as a 0-d variable of `dtype`."""
    value = scale if isinstance(scale, int) else scalar_value(scale)
    if value is not None:
        return scalar_constant(sign * value, dtype)
    if scale.ndim:
        ds = owner_op(scale, DimShuffle)
        if ds is not None and ds.inputs[0].ndim == 0:
            scale = ds.inputs[0]
        else:
            scale = DimShuffle(scale.broadcastable, ())(scale)
    return scale if sign == 1 else M.neg(scale)


def _dot_of(graph, base, out):
    """base's Dot node when it can go into a gemm for output `out`, else None."""
    d = owner_op(base, Dot)
    if d is None or base.type != out.type or not single_use(graph, base):
        return None
    return d if d.inputs[0].dtype == d.inputs[1].dtype == out.dtype else None


def _broadcasts_to(z, out):
    return (z.dtype == out.dtype and z.ndim == out.ndim
            and all(zb or not ob for zb, ob in zip(z.broadcastable, out.broadcastable)))


def _feeds_elemwise(graph, out):
    return any(n is not OUTPUT and isinstance(n.op, Elemwise)
               for n, _ in graph.clients.get(out, ()))


@rule(*elemwise(so.Add, so.Sub), name="gemm")
def gemm_rule(graph, node):
    """b * z + a * dot(x, y) -> gemm(z, a, x, y, b); every further dot of the sum is
    added by another gemm into the first one's result."""
    out = node.outputs[0]
    dtype = out.dtype
    if out.ndim not in (1, 2) or dtype not in ("float32", "float64"):
        return None
    signs = (1, -1) if isinstance(node.op.scalar_op, so.Sub) else (1,) * len(node.inputs)
    terms = [(sign, *_scaled(graph, t, dtype), t) for sign, t in zip(signs, node.inputs)]
    dots = {k: d for k, (_, _, base, _) in enumerate(terms) if (d := _dot_of(graph, base, out))}
    if not dots:
        return None
    z_at = next((k for k, (_, _, base, _) in enumerate(terms)
                 if k not in dots and base.type == out.type), None)
    if z_at is None and not _feeds_elemwise(graph, out):
        # a broadcast z (a bias row): added into the product's buffer, unless a
        # fused elementwise loop that follows would add it for free
        z_at = next((k for k, (_, _, base, _) in enumerate(terms)
                     if k not in dots and _broadcasts_to(base, out)), None)
    if z_at is None:  # only dots (and broadcast terms): the first dot is z
        if len(dots) < 2:
            return None
        z_at = min(dots)
        sb, b, z = terms[z_at][0], 1, terms[z_at][3]
        del dots[z_at]
    else:
        sb, b, z, _ = terms[z_at]
    g, beta = z, _times(sb, b, dtype)
    for k, d in dots.items():
        sa, a = terms[k][:2]
        g = gemm(g, _times(sa, a, dtype), d.inputs[0], d.inputs[1], beta)
        beta = _times(1, 1, dtype)
    rest = [t for k, (_, _, _, t) in enumerate(terms) if k not in dots and k != z_at]
    return [M.add(g, *rest) if rest else g]


specialize = RuleSet("specialize", [constant_folding, sum_mul_to_dot, dot_outer, gemm_rule,
                                    inc_zeros_to_join],
                     __doc__.split("\n\n")[0])
