"""canonicalize: simpler, canonical forms of arithmetic and dimension ops.

Each rule keeps the replaced variable's type (dtype and broadcast pattern) and its
value, up to float rounding; x - x -> 0 differs only where x is inf or nan (as in
Theano). A rule that drops a constant drops only constants whose dims are all
broadcastable, so shapes are unchanged.
"""

from __future__ import annotations

import functools

import numpy as np

from theanine.graph.rewrite import OUTPUT, RuleSet, rule
from theanine.tensor import math as M
from theanine.tensor import scalar_ops as so
from theanine.tensor.dims import Rebroadcast, patternbroadcast
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.gradient_ops import ViewOp
from theanine.tensor.reduce import CAReduce
from theanine.tensor.shape import MakeVector, Reshape, Shape, Shape_i
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.type import upcast

from .constant_folding import constant_folding
from .utils import (
    elemwise,
    ew,
    is_float,
    is_value,
    owner_op,
    scalar_constant,
    scalar_value,
    single_use,
)


def _as_output(node, new):
    """new, cast to the node's output dtype (only where that is exact)."""
    dtype = node.outputs[0].dtype
    return [new if new.dtype == dtype else M.cast(new, dtype)]


@rule(*elemwise(so.Add, so.Mul), name="drop_identity")
def drop_identity(graph, node):
    """x * 1 -> x and x + 0 -> x."""
    unit = 1 if isinstance(node.op.scalar_op, so.Mul) else 0
    keep = [v for v in node.inputs if not is_value(v, unit)]
    if not keep or len(keep) == len(node.inputs):
        return None
    if len(keep) == 1:
        return _as_output(node, keep[0])
    if upcast(*[v.dtype for v in keep]) != node.outputs[0].dtype:
        return None  # the rest would compute in a narrower dtype
    return [node.op(*keep)]


@rule(*elemwise(so.Sub, so.TrueDiv), name="drop_right_identity")
def drop_right_identity(graph, node):
    """x - 0 -> x and x / 1 -> x."""
    x, y = node.inputs
    if not is_value(y, 0 if isinstance(node.op.scalar_op, so.Sub) else 1):
        return None
    return _as_output(node, x)


@rule(*elemwise(so.Sub), name="sub_self")
def sub_self(graph, node):
    """x - x -> zeros of x's shape."""
    x, y = node.inputs
    if x is not y:
        return None
    return [M.second(x, scalar_constant(0, node.outputs[0].dtype))]


@rule(*elemwise(so.Neg), name="neg_neg")
def neg_neg(graph, node):
    """-(-x) -> x."""
    inner = ew(node.inputs[0], so.Neg)
    return [inner.inputs[0]] if inner is not None else None


MAX_FLAT = 64  # inputs of a flattened add/mul: a longer sum becomes a tree of them


def _absorbed(graph, var, cls):
    """True when var's only user is an op of scalar class `cls` that will flatten it."""
    c = graph.clients.get(var, ())
    if len(c) != 1:
        return False
    ((client, _),) = c
    return (client is not OUTPUT and isinstance(client.op, Elemwise)
            and isinstance(client.op.scalar_op, cls) and client.outputs[0].dtype == var.dtype
            and len(client.inputs) < MAX_FLAT)


@rule(*elemwise(so.Add, so.Mul), name="flatten")
def flatten(graph, node):
    """add(add(a, b), c) -> add(a, b, c), and the same for mul, through every nested
    node of the same op and dtype used only there, up to MAX_FLAT inputs. Only the
    outermost node of such a tree rewrites, so a chain of n additions costs O(n)."""
    out = node.outputs[0]
    cls = type(node.op.scalar_op)
    if _absorbed(graph, out, cls) or len(node.inputs) >= MAX_FLAT:
        return None
    flat, changed, stack = [], False, list(reversed(node.inputs))
    while stack:
        v = stack.pop()
        inner = ew(v, cls)
        if (inner is not None and v.dtype == out.dtype and single_use(graph, v)
                and len(flat) + len(stack) + len(inner.inputs) <= MAX_FLAT):
            stack.extend(reversed(inner.inputs))
            changed = True
        else:
            flat.append(v)
    return [node.op(*flat)] if changed else None


@rule(*elemwise(so.Add, so.Mul), name="sort")
def sort_inputs(graph, node):
    """Constant inputs of add and mul last, combined into one constant, where every
    input has the output's dtype (then the order changes nothing but rounding). The
    order of the other inputs is left alone: merging compares the inputs of additions
    and products as multisets, so a + b and b + a are computed once anyway."""
    out = node.outputs[0]
    consts = [scalar_value(v) for v in node.inputs]
    values = [c for c in consts if c is not None]
    if not values or len(values) == len(consts):
        return None  # nothing to move, or all constant (constant folding's job)
    if len(values) == 1 and consts[-1] is not None:
        return None  # already last
    if any(v.dtype != out.dtype for v in node.inputs):
        return None
    if _absorbed(graph, out, type(node.op.scalar_op)):
        return None  # the outer node gathers them
    others = [v for v, c in zip(node.inputs, consts) if c is None]
    fn = np.add if isinstance(node.op.scalar_op, so.Add) else np.multiply
    with np.errstate(all="ignore"):
        value = functools.reduce(fn, [np.asarray(c, out.dtype) for c in values])
    return [node.op(*others, scalar_constant(value, out.dtype))]


@rule(*elemwise(so.TrueDiv), name="div_by_constant")
def div_by_constant(graph, node):
    """x / c -> x * (1 / c) for a float constant c."""
    x, y = node.inputs
    out = node.outputs[0]
    c = scalar_value(y)
    if c is None or not is_float(out) or x.dtype != out.dtype or c == 0 or c == 1:
        return None
    with np.errstate(all="ignore"):
        inv = np.asarray(1, out.dtype) / np.asarray(c, out.dtype)
    if not np.isfinite(inv):
        return None
    return [M.mul(x, scalar_constant(inv, out.dtype))]


def _power(x, n):
    if n == 1:
        return x
    half = _power(x, n // 2)
    sq = M.sqr(half)
    return M.mul(sq, x) if n % 2 else sq


@rule(*elemwise(so.Pow), name="pow_small")
def pow_small(graph, node):
    """x ** k for k in 0, +-1..4, +-0.5 -> multiplications, inv, sqrt."""
    x, y = node.inputs
    out = node.outputs[0]
    k = scalar_value(y)
    if k is None or np.iscomplexobj(k) or not np.isfinite(k):
        return None
    k = float(k)
    if x.dtype != out.dtype:
        x = M.cast(x, out.dtype)  # pow computes in the output dtype
    floats = is_float(out)
    if k == 0:
        return [M.second(x, scalar_constant(1, out.dtype))]
    if abs(k) == 0.5 and floats:
        r = M.sqrt(x)
    elif k == int(k) and abs(k) <= 4 and (k > 0 or floats):
        r = _power(x, int(abs(k)))
    else:
        return None
    return [M.inv(r) if k < 0 else r]


@rule(CAReduce, name="reduce_of_reduce")
def reduce_of_reduce(graph, node):
    """sum(sum(x, a), b) -> sum(x, a + b), and the same for prod, max, min, all, any."""
    (v,) = node.inputs
    inner = owner_op(v, CAReduce)
    kind = node.op.kind
    if inner is None or inner.op.kind != kind or not single_use(graph, v):
        return None
    x, out = inner.inputs[0], node.outputs[0]
    if kind not in ("all", "any") and (v.dtype != out.dtype or upcast(x.dtype, v.dtype) != v.dtype):
        return None  # the inner reduction rounds to a narrower dtype
    kept = [d for d in range(x.ndim) if d not in inner.op.axis]
    axes = sorted(set(inner.op.axis) | {kept[b] for b in node.op.axis})
    plain = CAReduce(kind, axes)
    dtype = None if plain.out_dtype(x.dtype) == out.dtype else out.dtype
    return [CAReduce(kind, axes, dtype)(x)]


@rule(DimShuffle, name="dimshuffle_chain")
def dimshuffle_chain(graph, node):
    """Two dimshuffles (transpose of transpose, ...) -> one; an identity one -> x."""
    x = node.inputs[0]
    order = node.op.new_order
    inner = owner_op(x, DimShuffle)
    if inner is not None:
        x = inner.inputs[0]
        order = tuple("x" if i == "x" else inner.op.new_order[i] for i in order)
    if order == tuple(range(x.ndim)):
        return [x]
    return [DimShuffle(x.broadcastable, order)(x)] if inner is not None else None


def _is_shape_of(shp, x):
    """True when the shape vector shp is known to be x's shape."""
    if shp.owner is None:
        return False
    if isinstance(shp.owner.op, Shape):
        return shp.owner.inputs[0] is x
    if not isinstance(shp.owner.op, MakeVector) or len(shp.owner.inputs) != x.ndim:
        return False
    for d, e in enumerate(shp.owner.inputs):
        if x.broadcastable[d] and is_value(e, 1):
            continue
        if _dim_of(e) != (x, d):
            return False
    return True


def _dim_of(e):
    """(x, d) when scalar e is x.shape[d] (Shape_i or a constant index into Shape)."""
    node = owner_op(e, Shape_i)
    if node is not None:
        return node.inputs[0], node.op.i
    node = owner_op(e, Subtensor)
    idx = node.op.idx_list if node is not None else ()
    if len(idx) != 1 or not isinstance(idx[0], int) or len(node.inputs) != 1:
        return None
    shape = owner_op(node.inputs[0], Shape)
    x = shape.inputs[0] if shape is not None else None
    if x is None or not -x.ndim <= idx[0] < x.ndim:
        return None
    return x, idx[0] % x.ndim


@rule(Reshape, name="reshape_chain")
def reshape_chain(graph, node):
    """reshape(reshape(x, s1), s2) -> reshape(x, s2); reshape(x, x.shape) -> x."""
    x, shp = node.inputs
    inner = owner_op(x, Reshape)
    if inner is not None:
        return [node.op(inner.inputs[0], shp)]
    if x.ndim == node.op.ndim and _is_shape_of(shp, x):
        return [x]
    return None


@rule(ViewOp, Rebroadcast, *elemwise(so.Identity, so.Cast), name="useless")
def useless(graph, node):
    """Ops that return their input: gradient markers (zero_grad, disconnected_grad, ...)
    once gradients are taken, copies, casts to the same dtype, rebroadcasts that change
    nothing; and rebroadcast of rebroadcast -> one."""
    x, out = node.inputs[0], node.outputs[0]
    if isinstance(node.op, Rebroadcast):
        inner = owner_op(x, Rebroadcast)
        if inner is not None and all(out.broadcastable[a] for a, f in inner.op.axes if f):
            return [patternbroadcast(inner.inputs[0], out.broadcastable)]
        return [x] if x.type == out.type else None
    if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, so.Cast):
        return [x] if x.dtype == out.dtype else None
    return [x]


canonicalize = RuleSet("canonicalize", [
    constant_folding, useless, drop_identity, drop_right_identity, sub_self, neg_neg,
    flatten, sort_inputs, div_by_constant, pow_small, reduce_of_reduce, dimshuffle_chain,
    reshape_chain,
], __doc__.split("\n\n")[0])
