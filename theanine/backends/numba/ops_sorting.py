"""numba emitters of tensor.sorting: SortOp, ArgSortOp, PermuteAlongAxis (the
gradient of sort), SearchsortedOp (without sorter; NaN sorts last, as in NumPy),
Unique (every return_* option, flattened or along an axis; kernels/unique.py).

ArgSortOp sorts stably (mergesort) whatever the kind asked for: a valid order for
every kind, and NumPy's for ties on small arrays. Unique sorts stably too, so the
index output is each value's first occurrence, as NumPy's; complex Unique raises
Unsupported (NumPy's complex ordering with NaNs is not reproduced).
"""

from __future__ import annotations

from theanine.tensor.sorting import ArgSortOp, PermuteAlongAxis, SearchsortedOp, SortOp, Unique

from .codegen import tuple_src
from .registry import Unsupported, register


def _sort_like(ctx, node, ins, outs, arg):
    x, = ins
    xv = node.inputs[0]
    nd, ax = xv.type.ndim, node.op.axis
    if xv.type.dtype.startswith("complex"):
        raise Unsupported("sorting complex values")
    o = outs[0]
    if arg:
        ctx.line(f"{o} = np.empty({x}.shape, np.int64)")
    else:
        ctx.line(f"{o} = np.empty_like({x})")
    with ctx.loops_except(x, nd, ax) as idx:
        at = ", ".join(":" if d == ax else idx[d] for d in range(nd))
        if arg:
            ctx.line(f"{o}[{at}] = np.argsort({x}[{at}], kind='mergesort')")
        else:
            ctx.line(f"{o}[{at}] = np.sort({x}[{at}])")


@register(SortOp)
def _sort(ctx, node, ins, outs):
    _sort_like(ctx, node, ins, outs, arg=False)


@register(ArgSortOp)
def _argsort(ctx, node, ins, outs):
    _sort_like(ctx, node, ins, outs, arg=True)


@register(PermuteAlongAxis)
def _permute(ctx, node, ins, outs):
    x, perm = ins
    nd, ax = node.inputs[0].type.ndim, node.op.axis
    o = outs[0]
    for d in range(nd):
        with ctx.block(f"if {x}.shape[{d}] != {perm}.shape[{d}]:"):
            ctx.line("raise ValueError('permute: x and perm must have the same shape')")
    ctx.line(f"{o} = np.empty_like({x})")
    with ctx.loops_except(x, nd, ax) as idx:
        k, q = idx[ax], ctx.tmp("q")
        at = ", ".join(idx)
        to = ", ".join(q if d == ax else idx[d] for d in range(nd))
        with ctx.block(f"for {k} in range({x}.shape[{ax}]):"):
            ctx.line(f"{q} = {perm}[{at}]")
            with ctx.block(f"if {q} < -{x}.shape[{ax}] or {q} >= {x}.shape[{ax}]:"):
                ctx.line("raise IndexError('permute: index out of bounds')")
            with ctx.block(f"if {q} < 0:"):
                ctx.line(f"{q} = {q} + {x}.shape[{ax}]")
            if node.op.inverse:
                ctx.line(f"{o}[{to}] = {x}[{at}]")
            else:
                ctx.line(f"{o}[{at}] = {x}[{to}]")


def _nan_lt(a, b):
    """a < b in NumPy's sort order (NaN after every number)."""
    return f"({a} < {b} or ({b} != {b} and {a} == {a}))"


@register(SearchsortedOp)
def _searchsorted(ctx, node, ins, outs):
    if len(ins) == 3:
        raise Unsupported("searchsorted with a sorter")
    x, v = ins
    vv = node.inputs[1]
    lo, hi, mid, val = ctx.tmp("lo"), ctx.tmp("hi"), ctx.tmp("m"), ctx.tmp("u")
    o = outs[0]
    if vv.type.ndim == 0:
        ctx.line(f"{val} = {v}")
    else:
        flat, i, res = ctx.tmp("f"), ctx.tmp("i"), ctx.tmp("r")
        ctx.line(f"{flat} = np.ascontiguousarray({v}).ravel()")
        ctx.line(f"{res} = np.empty({flat}.size, np.int64)")
        ctx.line(f"for {i} in range({flat}.size):")
        ctx.depth += 1
        ctx.line(f"{val} = {flat}[{i}]")
    ctx.line(f"{lo} = 0")
    ctx.line(f"{hi} = {x}.shape[0]")
    with ctx.block(f"while {lo} < {hi}:"):
        ctx.line(f"{mid} = ({lo} + {hi}) // 2")
        go_right = (f"not {_nan_lt(f'{x}[{mid}]', val)}" if node.op.side == "left"
                    else _nan_lt(val, f"{x}[{mid}]"))
        with ctx.block(f"if {go_right}:"):
            ctx.line(f"{hi} = {mid}")
        with ctx.block("else:"):
            ctx.line(f"{lo} = {mid} + 1")
    if vv.type.ndim == 0:
        ctx.line(f"{o} = np.int64({lo})")
    else:
        ctx.line(f"{res}[{i}] = {lo}")
        ctx.depth -= 1
        shape = ", ".join(f"{v}.shape[{d}]" for d in range(vv.type.ndim))
        ctx.line(f"{o} = {res}.reshape(({shape},))")


@register(Unique)
def _unique(ctx, node, ins, outs):
    x, = ins
    xv = node.inputs[0]
    op = node.op
    if xv.type.dtype.startswith("complex"):
        raise Unsupported("unique of complex values")
    nd = xv.type.ndim
    perm, mask = ctx.tmp("perm"), ctx.tmp("mask")
    if op.axis is None:
        flat = ctx.tmp("flat")
        if nd == 0:
            ctx.line(f"{flat} = np.full(1, {x})")
        else:
            ctx.line(f"{flat} = np.ascontiguousarray({x}).ravel()")
        ctx.line(f"{perm}, {mask} = unique_flat({flat})")
        ctx.line(f"{outs[0]} = {flat}[{perm}[{mask}]]")
    else:
        order = [op.axis] + [d for d in range(nd) if d != op.axis]
        back = [order.index(d) for d in range(nd)]
        moved, rows = ctx.tmp("mv"), ctx.tmp("rows")
        ctx.line(f"{moved} = np.ascontiguousarray({x}.transpose({tuple_src(map(str, order))}))")
        ncols = " * ".join(f"{moved}.shape[{d}]" for d in range(1, nd)) or "1"
        ctx.line(f"{rows} = {moved}.reshape(({moved}.shape[0], {ncols}))")
        ctx.line(f"{perm}, {mask} = unique_rows({rows})")
        shape = [f"{mask}.sum()"] + [f"{moved}.shape[{d}]" for d in range(1, nd)]
        ctx.line(f"{outs[0]} = np.ascontiguousarray({rows}[{perm}[{mask}]]"
                 f".reshape({tuple_src(shape)}).transpose({tuple_src(map(str, back))}))")
    extras = [op.return_index, op.return_inverse, op.return_counts]
    if any(extras):
        names = [ctx.tmp(p) for p in ("idx", "inv", "cnt")]
        ctx.line(f"{', '.join(names)} = unique_extras({perm}, {mask})")
        for o, name in zip(outs[1:], [n for n, e in zip(names, extras) if e]):
            ctx.line(f"{o} = {name}")
