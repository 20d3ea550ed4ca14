"""numba emitters of tensor.extra_ops (except sorting, ops_sorting): ARange,
Bartlett, OneHot (ranges), CumOp (cumulative: sequential sums and products, as
NumPy's), RepeatOp, RepeatGrad, Roll, BinCount (repetition), ExtractDiag and
SetDiag (any axes and offset), RavelMultiIndex (every mode and order, the index
arrays broadcast as NumPy does) and UnravelIndex.
"""

from __future__ import annotations

import contextlib

from theanine.tensor.cumulative import CumOp
from theanine.tensor.diagonal import ExtractDiag, SetDiag
from theanine.tensor.ranges import ARange, Bartlett, OneHot
from theanine.tensor.repetition import BinCount, RepeatGrad, RepeatOp, Roll
from theanine.tensor.unravel import RavelMultiIndex, UnravelIndex

from .codegen import np_dtype, tuple_src
from .registry import Unsupported, register


@register(ARange)
def _arange(ctx, node, ins, outs):
    start, stop, step = ins
    dt = np_dtype(node.op.dtype)
    if node.op.dtype == "bool":
        raise Unsupported("arange of dtype bool")
    n, a0, dl, i = ctx.tmp("n"), ctx.tmp("a"), ctx.tmp("d"), ctx.tmp("i")
    with ctx.block(f"if {step} == 0:"):
        ctx.line("raise ValueError('arange: step must not be 0')")
    ctx.line(f"{n} = max(np.int64(np.ceil((np.float64({stop}) - np.float64({start})) / "
             f"np.float64({step}))), np.int64(0))")
    # as NumPy: the first two values in the output dtype, then start + i * delta
    ctx.line(f"{a0} = {dt}({start})")
    ctx.line(f"{dl} = {dt}({dt}({start} + {step}) - {a0})")
    ctx.line(f"{outs[0]} = np.empty({n}, {dt})")
    with ctx.block(f"for {i} in range({n}):"):
        ctx.line(f"{outs[0]}[{i}] = {a0} + {dt}({i}) * {dl}")


@register(OneHot)
def _one_hot(ctx, node, ins, outs):
    y, nb = ins
    o, i = outs[0], ctx.tmp("i")
    with ctx.block(f"if {y}.size and ({y}.min() < 0 or {y}.max() >= {nb}):"):
        ctx.line("raise ValueError('to_one_hot: class index out of range for nb_class')")
    ctx.line(f"{o} = np.zeros(({y}.shape[0], {nb}), {np_dtype(node.op.dtype)})")
    with ctx.block(f"for {i} in range({y}.shape[0]):"):
        ctx.line(f"{o}[{i}, {y}[{i}]] = 1")


@register(Bartlett)
def _bartlett(ctx, node, ins, outs):
    m, = ins
    o, i, q = outs[0], ctx.tmp("i"), ctx.tmp("q")
    ctx.line(f"{o} = np.ones(max(np.int64({m}), 0), np.float64)")
    with ctx.block(f"if {m} > 1:"):
        with ctx.block(f"for {i} in range({m}):"):
            ctx.line(f"{q} = (1 - {m} + 2 * {i}) / ({m} - 1)")
            ctx.line(f"{o}[{i}] = 1 + {q} if {q} <= 0 else 1 - {q}")


@register(CumOp, outer=True)
def _cumop(ctx, node, ins, outs):
    x, = ins
    xv = node.inputs[0]
    nd, ax = xv.type.ndim, node.op.axis
    dt = np_dtype(node.outputs[0].type.dtype)
    o = outs[0]
    ctx.line(f"{o} = np.empty({x}.shape, {dt})")
    with ctx.loops_except(x, nd, ax) as idx:
        k, acc = idx[ax], ctx.tmp("c")
        at = ", ".join(idx)
        ctx.line(f"{acc} = {dt}({0 if node.op.mode == 'add' else 1})")
        rng = (f"range({x}.shape[{ax}] - 1, -1, -1)" if node.op.reverse
               else f"range({x}.shape[{ax}])")
        with ctx.block(f"for {k} in {rng}:"):
            op = "+" if node.op.mode == "add" else "*"
            ctx.line(f"{acc} = {acc} {op} {dt}({x}[{at}])")
            ctx.line(f"{o}[{at}] = {acc}")


def _repeat_setup(ctx, node, x, r, xv, rv):
    """(source array, axis, ndim, n, count expression) for a repeat along axis
    (axis None: the flattened x)."""
    if xv.type.ndim == 0:
        raise Unsupported("repeat of a 0-d tensor")
    if node.op.axis is None:
        xs = ctx.tmp("x")
        ctx.line(f"{xs} = np.ascontiguousarray({x}).ravel()")
        ax, nd = 0, 1
    else:
        xs, ax, nd = x, node.op.axis, xv.type.ndim
    n = f"{xs}.shape[{ax}]"
    if rv.type.ndim == 0:
        with ctx.block(f"if {r} < 0:"):
            ctx.line("raise ValueError('repeat: repeats must be >= 0')")
        return xs, ax, nd, n, (lambda k: r)
    with ctx.block(f"if ({r} < 0).any():"):
        ctx.line("raise ValueError('repeat: repeats must be >= 0')")
    with ctx.block(f"if {r}.shape[0] != {n}:"):
        ctx.line("raise ValueError('repeat: repeats must have one entry per element along "
                 "the axis')")
    return xs, ax, nd, n, (lambda k: f"{r}[{k}]")


def _along(nd, ax, i):
    return ", ".join(i if d == ax else ":" for d in range(nd))


@register(RepeatOp)
def _repeat(ctx, node, ins, outs):
    x, r = ins
    xv, rv = node.inputs
    xs, ax, nd, n, count = _repeat_setup(ctx, node, x, r, xv, rv)
    tot, k, t, pos = ctx.tmp("z"), ctx.tmp("k"), ctx.tmp("t"), ctx.tmp("p")
    if rv.type.ndim == 0:
        ctx.line(f"{tot} = np.int64({n}) * np.int64({r})")
    else:
        ctx.line(f"{tot} = np.int64({r}.sum())")
    shape = ", ".join(tot if d == ax else f"{xs}.shape[{d}]" for d in range(nd))
    o = outs[0]
    ctx.line(f"{o} = np.empty(({shape},), {np_dtype(xv.type.dtype)})")
    ctx.line(f"{pos} = 0")
    with ctx.block(f"for {k} in range({n}):"):
        with ctx.block(f"for {t} in range({count(k)}):"):
            ctx.line(f"{o}[{_along(nd, ax, pos)}] = {xs}[{_along(nd, ax, k)}]")
            ctx.line(f"{pos} += 1")


@register(RepeatGrad)
def _repeat_grad(ctx, node, ins, outs):
    gz, r, x = ins
    gv, rv, xv = node.inputs
    xs, ax, nd, n, count = _repeat_setup(ctx, node, x, r, xv, rv)
    acc, k, t, pos = ctx.tmp("g"), ctx.tmp("k"), ctx.tmp("t"), ctx.tmp("p")
    shape = ", ".join(f"{xs}.shape[{d}]" for d in range(nd))
    ctx.line(f"{acc} = np.zeros(({shape},), {np_dtype(gv.type.dtype)})")
    ctx.line(f"{pos} = 0")
    with ctx.block(f"for {k} in range({n}):"):
        with ctx.block(f"for {t} in range({count(k)}):"):
            with ctx.block(f"if {pos} >= {gz}.shape[{ax}]:"):
                ctx.line("raise ValueError('repeat grad: gz is shorter than the repeats')")
            if nd == 1:
                ctx.line(f"{acc}[{k}] += {gz}[{pos}]")
            else:
                w = ctx.tmp("w")
                ctx.line(f"{w} = {acc}[{_along(nd, ax, k)}]")
                ctx.line(f"{w} += {gz}[{_along(nd, ax, pos)}]")
            ctx.line(f"{pos} += 1")
    if node.op.axis is None:
        shp = ", ".join(f"{x}.shape[{d}]" for d in range(xv.type.ndim))
        ctx.line(f"{outs[0]} = {acc}.reshape(({shp},))")
    else:
        ctx.line(f"{outs[0]} = {acc}")


@register(Roll)
def _roll(ctx, node, ins, outs):
    x, shift = ins
    nd, ax = node.inputs[0].type.ndim, node.op.axis
    o, n, s, k = outs[0], ctx.tmp("n"), ctx.tmp("s"), ctx.tmp("k")
    ctx.line(f"{o} = np.empty_like({x})")
    ctx.line(f"{n} = {x}.shape[{ax}]")
    with ctx.block(f"if {n} > 0:"):
        ctx.line(f"{s} = np.int64({shift}) % {n}")
        with ctx.block(f"for {k} in range({n}):"):
            ctx.line(f"{o}[{_along(nd, ax, f'({k} + {s}) % {n}')}] = {x}[{_along(nd, ax, k)}]")


@register(BinCount)
def _bincount(ctx, node, ins, outs):
    x, minlength = ins[:2]
    w = ins[2] if len(ins) == 3 else None
    if w is not None and node.inputs[2].type.dtype.startswith("complex"):
        raise Unsupported("bincount with complex weights")
    if node.inputs[0].type.ndim != 1:
        raise Unsupported("bincount of a non-vector")
    n, acc, i = ctx.tmp("n"), ctx.tmp("c"), ctx.tmp("i")
    with ctx.block(f"if {x}.size and {x}.min() < 0:"):
        ctx.line("raise ValueError('bincount: x must be non-negative')")
    with ctx.block(f"if {minlength} < 0:"):
        ctx.line("raise ValueError('bincount: minlength must be non-negative')")
    if w is not None:
        with ctx.block(f"if {w}.shape[0] != {x}.shape[0]:"):
            ctx.line("raise ValueError('bincount: weights must match the shape of x')")
    ctx.line(f"{n} = np.int64({minlength})")
    with ctx.block(f"if {x}.size:"):
        ctx.line(f"{n} = max({n}, np.int64({x}.max()) + 1)")
    ctx.line(f"{acc} = np.zeros({n}, {'np.float64' if w is not None else 'np.int64'})")
    with ctx.block(f"for {i} in range({x}.shape[0]):"):
        ctx.line(f"{acc}[{x}[{i}]] += " + (f"np.float64({w}[{i}])" if w is not None else "1"))
    ctx.line(f"{outs[0]} = {acc}.astype({np_dtype(node.outputs[0].type.dtype)})")


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
    ctx.line(f"{o} = np.empty({tuple_src(shape)}, {np_dtype(node.outputs[0].type.dtype)})")
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
            src = f"np.full({tuple_src(shape)}, {m})" if mv.type.ndim == 0 else (
                f"np.ascontiguousarray(np.broadcast_to({m}, {tuple_src(shape)}))")
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
        ctx.line(f"{outs[0]} = {res}.reshape({tuple_src(shape)})")


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
