"""numba emitters: DimShuffle, CAReduce, Argmax, Dot, BatchedDot.

DimShuffle is a view: ``x.T`` for a 2-d transpose (numba then passes it to BLAS
as a transposed operand, no copy), else np.lib.stride_tricks.as_strided with
the permuted strides and zero strides for new broadcastable dims.
Reductions are explicit loops (accumulator per kept index). Dot and
BatchedDot call BLAS through numba's np.dot for float and complex dtypes;
integer products are loops.
"""

from __future__ import annotations

from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.linalg import BatchedDot, Dot
from theanine.tensor.reduce import Argmax, CAReduce

from . import blas
from .codegen import literal, np_dtype
from .registry import register


@register(DimShuffle)
def _dimshuffle(ctx, node, ins, outs):
    op = node.op
    x, = ins
    xv, out = node.inputs[0], node.outputs[0]
    if out.type.ndim == 0:
        if xv.type.ndim == 0:
            ctx.line(f"{outs[0]} = {x}")
        else:
            ctx.line(f"{outs[0]} = {x}[{', '.join('0' for _ in range(xv.type.ndim))}]")
        return
    if xv.type.ndim == 0:
        ctx.line(f"{outs[0]} = np.full(({', '.join('1' for _ in op.new_order)},), {x}, "
                 f"{np_dtype(out.type.dtype)})")
        return
    if op.new_order == tuple(range(xv.type.ndim)):
        ctx.line(f"{outs[0]} = {x}")
        return
    if xv.type.ndim == 2 and op.new_order == (1, 0):
        ctx.line(f"{outs[0]} = {x}.T")
        return
    shape = ", ".join("1" if i == "x" else f"{x}.shape[{i}]" for i in op.new_order)
    strides = ", ".join("0" if i == "x" else f"{x}.strides[{i}]" for i in op.new_order)
    ctx.line(f"{outs[0]} = np.lib.stride_tricks.as_strided({x}, ({shape},), ({strides},))")


_IDENT = {"sum": "0", "prod": "1", "prod_without_zeros": "1", "all": "True", "any": "False"}


def _combine(kind, acc, v, dt):
    if kind == "sum":
        return f"{acc} + {v}"
    if kind == "prod":
        return f"{acc} * {v}"
    if kind == "prod_without_zeros":
        return f"{acc} * ({v} if {v} != 0 else 1)"
    if kind == "max":
        return f"nan_max({acc}, {v})"
    if kind == "min":
        return f"nan_min({acc}, {v})"
    if kind == "all":
        return f"{acc} and ({v} != 0)"
    return f"{acc} or ({v} != 0)"


@register(CAReduce)
def _careduce(ctx, node, ins, outs):
    op = node.op
    x, = ins
    xv, out = node.inputs[0], node.outputs[0]
    nd = xv.type.ndim
    odt = out.type.dtype
    cast = np_dtype(odt)
    if nd == 0:
        v = f"{cast}({x})"
        if op.kind == "prod_without_zeros":
            v = f"{cast}({x} if {x} != 0 else 1)"
        elif op.kind in ("all", "any"):
            v = f"({x} != 0)"
        ctx.line(f"{outs[0]} = {v}")
        return
    axes = op.axis
    kept = [d for d in range(nd) if d not in axes]
    idx = [ctx.tmp("j") for _ in range(nd)]
    acc = outs[0]
    if op.kind in ("max", "min"):
        for a in axes:
            with ctx.block(f"if {x}.shape[{a}] == 0:"):
                ctx.line(f"raise ValueError('{op}: reduction over an empty axis')")
    if not kept:
        init = f"{cast}({x}.ravel()[0])" if op.kind in ("max", "min") else \
            f"{cast}({_IDENT[op.kind]})"
        ctx.line(f"{acc} = {init}")
        target = acc
    else:
        oshape = ", ".join(f"{x}.shape[{d}]" for d in kept)
        if op.kind in ("max", "min"):
            ctx.line(f"{acc} = np.empty(({oshape},), {cast})")
            first = ", ".join("0" if d in axes else idx[d] for d in range(nd))
            depth0 = ctx.depth
            for d in kept:
                ctx.line(f"for {idx[d]} in range({x}.shape[{d}]):")
                ctx.depth += 1
            ctx.line(f"{acc}[{', '.join(idx[d] for d in kept)}] = {x}[{first}]")
            ctx.depth = depth0
        else:
            ctx.line(f"{acc} = np.full(({oshape},), {_IDENT[op.kind]}, {cast})")
        target = f"{acc}[{', '.join(idx[d] for d in kept)}]"
    depth0 = ctx.depth
    for d in range(nd):
        ctx.line(f"for {idx[d]} in range({x}.shape[{d}]):")
        ctx.depth += 1
    v = f"{cast}({x}[{', '.join(idx)}])" if op.kind not in ("all", "any") else \
        f"{x}[{', '.join(idx)}]"
    ctx.line(f"{target} = {_combine(op.kind, target, v, odt)}")
    ctx.depth = depth0


@register(Argmax)
def _argmax(ctx, node, ins, outs):
    op = node.op
    x, = ins
    nd = node.inputs[0].type.ndim
    better = ">" if op.kind == "max" else "<"
    if nd == 0:
        ctx.line(f"{outs[0]} = np.int64(0)")
        return
    flat = ctx.tmp("f")
    with ctx.block(f"if {x}.size == 0:"):
        ctx.line(f"raise ValueError('arg{op.kind} of an empty array')")
    if op.axis is None or nd == 1:
        ctx.line(f"{flat} = np.ascontiguousarray({x}).ravel()")
        b, k = ctx.tmp("b"), ctx.tmp("k")
        ctx.line(f"{b} = np.int64(0)")
        with ctx.block(f"for {k} in range(1, {flat}.size):"):
            with ctx.block(f"if {flat}[{b}] != {flat}[{b}]:"):
                ctx.line("break")
            with ctx.block(f"if {flat}[{k}] {better} {flat}[{b}] or {flat}[{k}] != "
                           f"{flat}[{k}]:"):
                ctx.line(f"{b} = {k}")
        ctx.line(f"{outs[0]} = {b}")
        return
    a = op.axis
    kept = [d for d in range(nd) if d != a]
    idx = [ctx.tmp("j") for _ in range(nd)]
    ctx.line(f"{outs[0]} = np.zeros(({', '.join(f'{x}.shape[{d}]' for d in kept)},), np.int64)")
    depth0 = ctx.depth
    for d in kept:
        ctx.line(f"for {idx[d]} in range({x}.shape[{d}]):")
        ctx.depth += 1
    tgt = f"{outs[0]}[{', '.join(idx[d] for d in kept)}]"
    b = ctx.tmp("b")
    ctx.line(f"{b} = 0")

    def at(i):
        return f"{x}[{', '.join(i if d == a else idx[d] for d in range(nd))}]"

    with ctx.block(f"for {idx[a]} in range(1, {x}.shape[{a}]):"):
        with ctx.block(f"if {at(b)} != {at(b)}:"):
            ctx.line("break")
        with ctx.block(f"if {at(idx[a])} {better} {at(b)} or {at(idx[a])} != {at(idx[a])}:"):
            ctx.line(f"{b} = {idx[a]}")
    ctx.line(f"{tgt} = {b}")
    ctx.depth = depth0


def _blas_ok(dtype):
    return dtype in ("float32", "float64", "complex64", "complex128")


def _as(ctx, x, var, dtype):
    if var.type.dtype == dtype:
        return x
    if var.type.ndim == 0:
        return f"{np_dtype(dtype)}({x})"
    return f"{x}.astype({np_dtype(dtype)})"


@register(Dot)
def _dot(ctx, node, ins, outs):
    a, b = ins
    av, bv = node.inputs
    dt = node.outputs[0].type.dtype
    a, b = _as(ctx, a, av, dt), _as(ctx, b, bv, dt)
    with ctx.block(f"if {a}.shape[-1] != {b}.shape[0]:"):
        ctx.line("raise ValueError('dot: shapes are not aligned')")
    if av.type.ndim == bv.type.ndim == 2 and blas.available(dt):
        ctx.line(f"{outs[0]} = np.empty(({a}.shape[0], {b}.shape[1]), {np_dtype(dt)})")
        ctx.line(f"gemm_into(1.0, {a}, {b}, 0.0, {outs[0]})")
        return
    if _blas_ok(dt):
        ctx.line(f"{outs[0]} = np.dot({a}, {b})")
        return
    # integer / bool products: loops (BLAS has none)
    o = outs[0]
    i, j, k = ctx.tmp("i"), ctx.tmp("j"), ctx.tmp("k")
    zero = literal(0, dt)
    na, nb = av.type.ndim, bv.type.ndim
    if na == 1 and nb == 1:
        ctx.line(f"{o} = {zero}")
        with ctx.block(f"for {k} in range({a}.shape[0]):"):
            ctx.line(f"{o} += {a}[{k}] * {b}[{k}]")
        return
    rows = f"{a}.shape[0]" if na == 2 else "1"
    cols = f"{b}.shape[1]" if nb == 2 else "1"
    ai = f"{a}[{i}, {k}]" if na == 2 else f"{a}[{k}]"
    bi = f"{b}[{k}, {j}]" if nb == 2 else f"{b}[{k}]"
    acc = ctx.tmp("m")
    ctx.line(f"{acc} = np.zeros(({rows}, {cols}), {np_dtype(dt)})")
    with ctx.block(f"for {i} in range({rows}):"):
        with ctx.block(f"for {k} in range({a}.shape[-1]):"):
            with ctx.block(f"for {j} in range({cols}):"):
                ctx.line(f"{acc}[{i}, {j}] += {ai} * {bi}")
    if na == 2 and nb == 2:
        ctx.line(f"{o} = {acc}")
    elif na == 2:
        ctx.line(f"{o} = {acc}[:, 0].copy()")
    else:
        ctx.line(f"{o} = {acc}[0].copy()")


@register(BatchedDot)
def _batched_dot(ctx, node, ins, outs):
    a, b = ins
    av, bv = node.inputs
    dt = node.outputs[0].type.dtype
    a, b = _as(ctx, a, av, dt), _as(ctx, b, bv, dt)
    with ctx.block(f"if {a}.shape[0] != {b}.shape[0] or {a}.shape[-1] != {b}.shape[1]:"):
        ctx.line("raise ValueError('batched_dot: shapes do not match')")
    o, t = outs[0], ctx.tmp("t")
    na, nb = av.type.ndim, bv.type.ndim
    shape = [f"{a}.shape[0]"] + ([f"{a}.shape[1]"] if na == 3 else []) + \
        ([f"{b}.shape[2]"] if nb == 3 else [])
    ctx.line(f"{o} = np.empty(({', '.join(shape)},), {np_dtype(dt)})")
    with ctx.block(f"for {t} in range({a}.shape[0]):"):
        if _blas_ok(dt):
            ctx.line(f"{o}[{t}] = np.dot({a}[{t}], {b}[{t}])")
        else:
            ctx.line(f"{o}[{t}] = np.dot({a}[{t}].astype(np.float64), "
                     f"{b}[{t}].astype(np.float64))")
