"""numba emitters: AdvancedSubtensor / AdvancedIncSubtensor (integer arrays
indexing consecutive axes, the other axes whole: embedding lookups x[i],
crossentropy's p[arange(n), y], and their gradients), ARange, CumOp, SortOp,
ArgSortOp, PermuteAlongAxis (the gradient of sort), RepeatOp and RepeatGrad, Roll,
OneHot, Bartlett, BinCount, SearchsortedOp (without sorter; NaN sorts last, as
in NumPy).

Integer arrays may index any axes among whole ones (x[:, i], W[:, :, i, j],
x[i, :, j]): the indexed axes are moved to the front (a transposed view), and the
result's block of indexed dims goes where NumPy puts it (after the leading whole
axes when the arrays are consecutive, else first). Other patterns (masks, arrays
with integers or partial slices, several arrays of more than 1 dim) raise
Unsupported: those nodes run their NumPy implementation.
ArgSortOp sorts stably (mergesort) whatever the kind asked for: a valid order
for every kind, and NumPy's for ties on small arrays.
"""

from __future__ import annotations

from theanine.tensor.cumulative import CumOp
from theanine.tensor.ranges import ARange, Bartlett, OneHot
from theanine.tensor.repetition import BinCount, RepeatGrad, RepeatOp, Roll
from theanine.tensor.sorting import ArgSortOp, PermuteAlongAxis, SearchsortedOp, SortOp
from theanine.tensor.subtensor_advanced import AdvancedIncSubtensor, AdvancedSubtensor

from .codegen import np_dtype
from .ops_nnet import loops_except
from .registry import Unsupported, register

_FULL = ("slice", None, None, None)


def _array_run(node, n_before):
    """(axes, back): the axes indexed by integer arrays, every other axis whole
    (x[i], x[i, j], x[:, i], x[i, :, j] with 1-d i, j), and where the result's block
    of indexed dims goes: after the leading whole axes when the arrays are
    consecutive (as NumPy does), else first (back = 0). Unsupported otherwise."""
    idx_list = node.op.idx_list
    axes = [d for d, q in enumerate(idx_list) if q == "a"]
    if not axes or any(q not in ("a", _FULL) for q in idx_list):
        raise Unsupported(f"advanced index pattern {idx_list}")
    ivs = node.inputs[n_before:n_before + len(axes)]
    if any(v.type.dtype == "bool" for v in ivs):
        raise Unsupported("boolean mask index")
    if len(axes) > 1 and any(v.type.ndim != 1 for v in ivs):
        raise Unsupported("several index arrays of more than 1 dim")
    consecutive = axes == list(range(axes[0], axes[0] + len(axes)))
    return axes, axes[0] if consecutive else 0


def _front(ctx, x, nd, axes):
    """x with the indexed axes moved to the front, in order (a view)."""
    perm = axes + [d for d in range(nd) if d not in axes]
    if perm == list(range(nd)):
        return x
    t = ctx.tmp("t")
    ctx.line(f"{t} = np.transpose({x}, ({', '.join(map(str, perm))},))")
    return t


def _block_after(nb, s, nd):
    """The axes order taking (block[nb], whole[s], rest) to (whole, block, rest)."""
    return [*range(nb, nb + s), *range(nb), *range(nb + s, nd)]


def _flat_indices(ctx, x, ixs):
    """Flattened index arrays and their common length (arrays of length 1
    broadcast); returns (flats, n, shape of the advanced block)."""
    flats = [ctx.tmp("f") for _ in ixs]
    for f, ix in zip(flats, ixs):
        ctx.line(f"{f} = np.ascontiguousarray({ix}).ravel()")
    n = ctx.tmp("n")
    if len(ixs) == 1:
        ctx.line(f"{n} = {flats[0]}.size")
        return flats, n, None
    ctx.line(f"{n} = max({', '.join(f'{f}.size' for f in flats)})")
    for f in flats:
        with ctx.block(f"if {f}.size != {n} and {f}.size != 1:"):
            ctx.line("raise IndexError('shape mismatch: indexing arrays could not be "
                     "broadcast together')")
    return flats, n, [n]


def _checked(ctx, flats, i, x):
    """Bounds-checked, wrapped index names for element i of each flat array."""
    ks = []
    for d, f in enumerate(flats):
        k = ctx.tmp("k")
        pos = i if len(flats) == 1 else f"({i} if {f}.size != 1 else 0)"
        ctx.line(f"{k} = {f}[{pos}]")
        with ctx.block(f"if {k} < -{x}.shape[{d}] or {k} >= {x}.shape[{d}]:"):
            ctx.line(f"raise IndexError('advanced index out of bounds for axis {d} of the "
                     "indexed tensor')")
        with ctx.block(f"if {k} < 0:"):
            ctx.line(f"{k} = {k} + {x}.shape[{d}]")
        ks.append(k)
    return ", ".join(ks)


def _shapes(x, xnd, p, ix, ind, n, block):
    rest = [f"{x}.shape[{d}]" for d in range(p, xnd)]
    view = (block or [f"{ix}.shape[{d}]" for d in range(ind)]) + rest
    return view, [n] + rest


@register(AdvancedSubtensor)
def _adv_subtensor(ctx, node, ins, outs):
    axes, s = _array_run(node, 1)
    p = len(axes)
    xv = node.inputs[0]
    xnd = xv.type.ndim
    x, ixs = _front(ctx, ins[0], xnd, axes), ins[1:1 + p]
    dt = np_dtype(xv.type.dtype)
    flats, n, block = _flat_indices(ctx, x, ixs)
    ind = node.inputs[1].type.ndim
    view, rshape = _shapes(x, xnd, p, ixs[0], ind, n, block)
    rows, i = ctx.tmp("r"), ctx.tmp("i")
    ctx.line(f"{rows} = np.empty(({', '.join(rshape)},), {dt})")
    with ctx.block(f"for {i} in range({n}):"):
        k = _checked(ctx, flats, i, x)
        ctx.line(f"{rows}[{i}] = {x}[{k}]")
    got = f"{rows}.reshape(({', '.join(view)},))"
    if s:  # the block goes back after the whole leading axes
        order = _block_after(len(block) if block else ind, s, len(view))
        got = f"np.ascontiguousarray(np.transpose({got}, ({', '.join(map(str, order))},)))"
    ctx.line(f"{outs[0]} = {got}")


@register(AdvancedIncSubtensor, outer=True)
def _adv_inc_subtensor(ctx, node, ins, outs):
    axes, s = _array_run(node, 2)
    p = len(axes)
    y, ixs = ins[1], ins[2:2 + p]
    xv, yv = node.inputs[:2]
    xnd, ynd = xv.type.ndim, yv.type.ndim
    dt = np_dtype(xv.type.dtype)
    o, i = outs[0], ctx.tmp("i")
    ctx.line(f"{o} = {ins[0]}.copy()")
    x = _front(ctx, o, xnd, axes)  # a view: writes reach o
    flats, n, block = _flat_indices(ctx, x, ixs)
    ind = node.inputs[2].type.ndim
    view, rshape = _shapes(x, xnd, p, ixs[0], ind, n, block)
    nb = len(block) if block else ind
    shown = view[nb:nb + s] + view[:nb] + view[nb + s:]  # the indexed subtensor's shape
    off = len(shown) - ynd
    for j in range(ynd):
        if not yv.type.broadcastable[j]:
            with ctx.block(f"if {y}.shape[{j}] != {shown[off + j]}:"):
                ctx.line("raise ValueError('advanced inc_subtensor: the value does not match "
                         "the shape of the indexed subtensor')")
    yc = y if yv.type.dtype == xv.type.dtype else (
        f"{dt}({y})" if ynd == 0 else f"{y}.astype({dt})")
    if ynd == 0:
        rowv = yc
    else:
        yr = ctx.tmp("y")
        yb = f"np.broadcast_to({yc}, ({', '.join(shown)},))"
        if s:  # to the gathered order: block first
            back = [*range(s, s + nb), *range(s), *range(s + nb, len(shown))]
            yb = f"np.transpose({yb}, ({', '.join(map(str, back))},))"
        ctx.line(f"{yr} = np.ascontiguousarray({yb}).reshape(({', '.join(rshape)},))")
        rowv = f"{yr}[{i}]"
    with ctx.block(f"for {i} in range({n}):"):
        k = _checked(ctx, flats, i, x)
        if node.op.set_instead_of_inc:
            ctx.line(f"{x}[{k}] = {rowv}")
        elif xnd == p:
            ctx.line(f"{x}[{k}] += {rowv}")
        else:
            w = ctx.tmp("w")
            ctx.line(f"{w} = {x}[{k}]")
            ctx.line(f"{w} += {rowv}")


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


@register(CumOp, outer=True)
def _cumop(ctx, node, ins, outs):
    x, = ins
    xv = node.inputs[0]
    nd, ax = xv.type.ndim, node.op.axis
    dt = np_dtype(node.outputs[0].type.dtype)
    o = outs[0]
    ctx.line(f"{o} = np.empty({x}.shape, {dt})")
    with loops_except(ctx, x, nd, ax) as idx:
        k, acc = idx[ax], ctx.tmp("c")
        at = ", ".join(idx)
        ctx.line(f"{acc} = {dt}({0 if node.op.mode == 'add' else 1})")
        rng = (f"range({x}.shape[{ax}] - 1, -1, -1)" if node.op.reverse
               else f"range({x}.shape[{ax}])")
        with ctx.block(f"for {k} in {rng}:"):
            op = "+" if node.op.mode == "add" else "*"
            ctx.line(f"{acc} = {acc} {op} {dt}({x}[{at}])")
            ctx.line(f"{o}[{at}] = {acc}")


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
    with loops_except(ctx, x, nd, ax) as idx:
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
    with loops_except(ctx, x, nd, ax) as idx:
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
