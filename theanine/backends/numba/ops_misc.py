"""numba emitters: ExtractDiag and SetDiag (any axes and offset), Nonzero, Unique
(every return_* option, flattened or along an axis), RavelMultiIndex (every mode
and order, the index arrays broadcast as NumPy does), UnravelIndex, and
ViewOp (the identity forward of the gradient-shaping ops).

Unique sorts stably (mergesort), so the index output is each value's first
occurrence, as NumPy's; NaNs sort last and, flattened, count as one value
(NumPy's equal_nan); along an axis, rows are ordered lexicographically and rows
holding a NaN are all distinct, as NumPy's structured comparison. Complex Unique
raises Unsupported (NumPy's complex ordering with NaNs is not reproduced).
"""

from __future__ import annotations

import contextlib

from theanine.tensor.diagonal import ExtractDiag, SetDiag
from theanine.tensor.gradient_ops import ViewOp
from theanine.tensor.sorting import Unique
from theanine.tensor.subtensor_extra import Nonzero
from theanine.tensor.unravel import RavelMultiIndex, UnravelIndex

from .codegen import NJIT_OPTS, np_dtype
from .registry import Unsupported, register

_DEC = f"@numba.njit({NJIT_OPTS})\n"

# perm sorts the values stably; mask marks the first of each run of equal values
_UNIQUE_FLAT = _DEC + """def mi_unique_flat(flat):
    perm = np.argsort(flat, kind="mergesort")
    srt = flat[perm]
    mask = np.ones(srt.size, np.bool_)
    for i in range(1, srt.size):
        nan_pair = srt[i] != srt[i] and srt[i - 1] != srt[i - 1]
        mask[i] = srt[i] != srt[i - 1] and not nan_pair
    return perm, mask
"""

_UNIQUE_ROWS = _DEC + """def mi_unique_rows(rows):
    n, ncols = rows.shape
    perm = np.arange(n)
    for c in range(ncols - 1, -1, -1):
        perm = perm[np.argsort(rows[perm, c], kind="mergesort")]
    mask = np.ones(n, np.bool_)
    for i in range(1, n):
        same = True
        for c in range(ncols):
            same = same and rows[perm[i], c] == rows[perm[i - 1], c]
        mask[i] = not same
    return perm, mask
"""

_UNIQUE_EXTRAS = _DEC + """def mi_unique_extras(perm, mask):
    n = mask.size
    u = 0
    for i in range(n):
        u += mask[i]
    index, inverse, counts = np.empty(u, np.int64), np.empty(n, np.int64), np.zeros(u, np.int64)
    j = -1
    for i in range(n):
        if mask[i]:
            j += 1
            index[j] = perm[i]
        inverse[perm[i]] = j
        counts[j] += 1
    return index, inverse, counts
"""

def _use(ctx, *helpers):
    """Add these helper sources to the kernel's module (ctx.helper adds each once)."""
    for src in helpers:
        ctx.helper(src)


def _tuple(items):
    return f"({', '.join(items)},)" if items else "()"


def _diag_setup(ctx, node, a):
    """(the other axes, the name of the diagonal's length, the start offsets)."""
    axes, off, nd = node.op.axes, node.op.offset, node.inputs[0].type.ndim
    starts = [max(-off, 0), max(off, 0)] if len(axes) == 2 else [0] * len(axes)
    k = ctx.tmp("k")
    lens = ", ".join(f"{a}.shape[{ax}] - {s}" for ax, s in zip(axes, starts))
    ctx.line(f"{k} = max(0, min({lens}))")
    rest = [d for d in range(nd) if d not in axes]
    return rest, k, starts


def _diag_index(node, rest, loop_idx, i, starts):
    """Index of `a` at diagonal position i, the other axes at loop_idx."""
    axes = node.op.axes
    at = {d: j for d, j in zip(rest, loop_idx)}
    for ax, s in zip(axes, starts):
        at[ax] = f"{i} + {s}" if s else i
    return ", ".join(at[d] for d in range(node.inputs[0].type.ndim))


@register(ExtractDiag)
def _extract_diag(ctx, node, ins, outs):
    a, = ins
    rest, k, starts = _diag_setup(ctx, node, a)
    o = outs[0]
    shape = [f"{a}.shape[{d}]" for d in rest] + [k]
    ctx.line(f"{o} = np.empty({_tuple(shape)}, {np_dtype(node.outputs[0].type.dtype)})")
    with ctx.loops(shape) as idx:
        ctx.line(f"{o}[{', '.join(idx)}] = {a}[{_diag_index(node, rest, idx, idx[-1], starts)}]")


@register(SetDiag)
def _set_diag(ctx, node, ins, outs):
    a, d = ins
    dv = node.inputs[1]
    rest, k, starts = _diag_setup(ctx, node, a)
    o = outs[0]
    ctx.line(f"{o} = {a}.copy()")
    shape = [f"{a}.shape[{r}]" for r in rest] + [k]
    lead = len(shape) - dv.type.ndim
    for i, bc in enumerate(dv.type.broadcastable):
        if not bc:
            with ctx.block(f"if {d}.shape[{i}] != {shape[lead + i]}:"):
                ctx.line("raise ValueError('set diagonal: the value does not fit the "
                         "diagonal')")
    with ctx.loops(shape) as idx:
        at = _diag_index(node, rest, idx, idx[-1], starts)
        if dv.type.ndim == 0:
            ctx.line(f"{o}[{at}] = {d}")
        else:
            di = ["0" if bc else idx[lead + i] for i, bc in enumerate(dv.type.broadcastable)]
            ctx.line(f"{o}[{at}] = {d}[{', '.join(di)}]")


@register(Nonzero)
def _nonzero(ctx, node, ins, outs):
    a, = ins
    nd = node.inputs[0].type.ndim
    o, c = outs[0], ctx.tmp("c")
    shape = [f"{a}.shape[{d}]" for d in range(nd)]
    ctx.line(f"{c} = 0")
    with ctx.loops(shape) as idx, ctx.block(f"if {a}[{', '.join(idx)}] != 0:"):
        ctx.line(f"{c} += 1")
    ctx.line(f"{o} = np.empty(({nd}, {c}), np.int64)")
    ctx.line(f"{c} = 0")
    with ctx.loops(shape) as idx, ctx.block(f"if {a}[{', '.join(idx)}] != 0:"):
        for d, j in enumerate(idx):
            ctx.line(f"{o}[{d}, {c}] = {j}")
        ctx.line(f"{c} += 1")


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
        _use(ctx, _UNIQUE_FLAT)
        ctx.line(f"{perm}, {mask} = mi_unique_flat({flat})")
        ctx.line(f"{outs[0]} = {flat}[{perm}[{mask}]]")
    else:
        order = [op.axis] + [d for d in range(nd) if d != op.axis]
        back = [order.index(d) for d in range(nd)]
        moved, rows = ctx.tmp("mv"), ctx.tmp("rows")
        ctx.line(f"{moved} = np.ascontiguousarray({x}.transpose({_tuple(map(str, order))}))")
        ncols = " * ".join(f"{moved}.shape[{d}]" for d in range(1, nd)) or "1"
        ctx.line(f"{rows} = {moved}.reshape(({moved}.shape[0], {ncols}))")
        _use(ctx, _UNIQUE_ROWS)
        ctx.line(f"{perm}, {mask} = mi_unique_rows({rows})")
        shape = [f"{mask}.sum()"] + [f"{moved}.shape[{d}]" for d in range(1, nd)]
        ctx.line(f"{outs[0]} = np.ascontiguousarray({rows}[{perm}[{mask}]]"
                 f".reshape({_tuple(shape)}).transpose({_tuple(map(str, back))}))")
    extras = [op.return_index, op.return_inverse, op.return_counts]
    if any(extras):
        names = [ctx.tmp(p) for p in ("idx", "inv", "cnt")]
        _use(ctx, _UNIQUE_EXTRAS)
        ctx.line(f"{', '.join(names)} = mi_unique_extras({perm}, {mask})")
        for o, name in zip(outs[1:], [n for n, e in zip(names, extras) if e]):
            ctx.line(f"{o} = {name}")


def _check_dims(ctx, dims, n, what):
    with ctx.block(f"if {dims}.shape[0] != {n}:"):
        ctx.line(f"raise ValueError('{what}: dims must have one entry per index array')")


def _each(ctx, scalar, n_items):
    """A block run once (scalar) or for each i in range(n_items); yields i."""
    if scalar:
        return contextlib.nullcontext(None)
    i = ctx.tmp("i")

    @contextlib.contextmanager
    def loop():
        with ctx.block(f"for {i} in range({n_items}):"):
            yield i

    return loop()


@register(RavelMultiIndex)
def _ravel_multi_index(ctx, node, ins, outs):
    *multi, dims = ins
    mvs = node.inputs[:-1]
    out = node.outputs[0]
    nd, dt = out.type.ndim, np_dtype(out.type.dtype)
    _check_dims(ctx, dims, len(multi), "ravel_multi_index")
    shape = [ctx.tmp("s") for _ in range(nd)]
    for j, s in enumerate(shape):  # NumPy's broadcasting, at run time
        ctx.line(f"{s} = 1")
        for m, mv in zip(multi, mvs):
            p = j - (nd - mv.type.ndim)
            if p < 0:
                continue
            with ctx.block(f"if {m}.shape[{p}] != 1:"):
                with ctx.block(f"if {s} != 1 and {s} != {m}.shape[{p}]:"):
                    ctx.line("raise ValueError('ravel_multi_index: shape mismatch: the index "
                             "arrays cannot be broadcast together')")
                ctx.line(f"{s} = {m}.shape[{p}]")
    flats, res = [ctx.tmp("f") for _ in multi], ctx.tmp("o")
    if nd:
        for f, m, mv in zip(flats, multi, mvs):
            src = f"np.full({_tuple(shape)}, {m})" if mv.type.ndim == 0 else (
                f"np.ascontiguousarray(np.broadcast_to({m}, {_tuple(shape)}))")
            ctx.line(f"{f} = {src}.ravel()")
        ctx.line(f"{res} = np.empty({' * '.join(shape)}, {dt})")
    order = range(len(multi)) if node.op.order == "C" else range(len(multi) - 1, -1, -1)
    with _each(ctx, nd == 0, f"{res}.size") as i:
        r = ctx.tmp("r")
        ctx.line(f"{r} = 0")
        for d in order:
            v = ctx.tmp("c")
            ctx.line(f"{v} = np.int64({multi[d] if i is None else f'{flats[d]}[{i}]'})")
            if node.op.mode == "raise":
                with ctx.block(f"if {v} < 0 or {v} >= {dims}[{d}]:"):
                    ctx.line("raise ValueError('ravel_multi_index: invalid entry in "
                             "coordinates array')")
            elif node.op.mode == "wrap":
                ctx.line(f"{v} = {v} % {dims}[{d}]")
            else:
                ctx.line(f"{v} = min(max({v}, 0), {dims}[{d}] - 1)")
            ctx.line(f"{r} = {r} * {dims}[{d}] + {v}")
        ctx.line(f"{outs[0]} = {dt}({r})" if i is None else f"{res}[{i}] = {r}")
    if nd:
        ctx.line(f"{outs[0]} = {res}.reshape({_tuple(shape)})")


@register(UnravelIndex)
def _unravel_index(ctx, node, ins, outs):
    idx, dims = ins
    iv = node.inputs[0]
    n, dt = len(outs), np_dtype(iv.type.dtype)
    _check_dims(ctx, dims, n, "unravel_index")
    size, flat = ctx.tmp("size"), ctx.tmp("f")
    ctx.line(f"{size} = np.int64(np.prod({dims}))")
    scalar = iv.type.ndim == 0
    res = [ctx.tmp("u") for _ in range(n)]
    if not scalar:
        ctx.line(f"{flat} = np.ascontiguousarray({idx}).ravel()")
        for r in res:
            ctx.line(f"{r} = np.empty({flat}.size, {dt})")
    with _each(ctx, scalar, f"{flat}.size") as i:
        v = ctx.tmp("v")
        ctx.line(f"{v} = np.int64({idx if i is None else f'{flat}[{i}]'})")
        with ctx.block(f"if {v} < 0 or {v} >= {size}:"):
            ctx.line("raise ValueError('unravel_index: index out of bounds for an array of "
                     "shape dims')")
        for d in (range(n - 1, -1, -1) if node.op.order == "C" else range(n)):
            ctx.line(f"{res[d] if i is None else f'{res[d]}[{i}]'} = {dt}({v} % {dims}[{d}])")
            ctx.line(f"{v} = {v} // {dims}[{d}]")
    for o, r in zip(outs, res):
        ctx.line(f"{o} = {r}" if scalar else f"{o} = {r}.reshape({idx}.shape)")


@register(ViewOp)
def _identity_grad(ctx, node, ins, outs):
    ctx.line(f"{outs[0]} = {ins[0]}")
