"""numba emitters: CAReduce (sum, prod, max, min, all, any over any axes) and
Argmax / Argmin, as explicit loops (an accumulator per kept index).

Sums of float32 (complex64) accumulate in float64 (complex128) and round once at
the end: NumPy sums pairwise, so a float32 sum of 2e7 ones is 2e7 on py, where a
float32 running sum stops at 16777216; the wider accumulator is at least as
accurate as NumPy's pairwise sum. Every other accumulation is in the output dtype,
in order (products, max/min, and float64 sums; cumulative sums, in ops_extra, are
sequential in NumPy too).
"""

from __future__ import annotations

from theanine.tensor.reduce import Argmax, CAReduce

from .codegen import np_dtype
from .registry import register

# the accumulator dtype of a sum in this output dtype (module docstring)
_WIDE_SUM = {"float32": "float64", "complex64": "complex128"}
_IDENT = {"sum": "0", "prod": "1", "prod_without_zeros": "1", "all": "True", "any": "False"}


# kind -> how a reduction combines its accumulator {a} with a value {v}
_COMBINE = {"sum": "{a} + {v}", "prod": "{a} * {v}",
            "prod_without_zeros": "{a} * ({v} if {v} != 0 else 1)",
            "max": "nan_max({a}, {v})", "min": "nan_min({a}, {v})",
            "all": "{a} and ({v} != 0)", "any": "{a} or ({v} != 0)"}


def _combine(kind, acc, v):
    return _COMBINE[kind].format(a=acc, v=v)


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
    wide = _WIDE_SUM.get(odt) if op.kind == "sum" else None
    if wide is not None:
        acc, cast = ctx.tmp("acc"), np_dtype(wide)
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
    ctx.line(f"{target} = {_combine(op.kind, target, v)}")
    ctx.depth = depth0
    if wide is not None:
        ctx.line(f"{outs[0]} = {acc}.astype({np_dtype(odt)})" if kept else
                 f"{outs[0]} = {np_dtype(odt)}({acc})")


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
