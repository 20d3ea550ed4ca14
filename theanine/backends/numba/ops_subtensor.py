"""numba emitters of indexing: Subtensor and IncSubtensor (basic indexing),
AdvancedSubtensor and AdvancedIncSubtensor (integer arrays), Nonzero, Split.

Basic indexing is written out literally (``x[i0, a:b]``), with explicit bounds
checks of integer indices (numba does not check).

Integer arrays may index any axes among whole ones (x[i], x[:, i], W[:, :, i, j],
x[i, :, j]: embedding lookups, crossentropy's p[arange(n), y], their gradients):
the indexed axes are moved to the front (a transposed view), and the result's
block of indexed dims goes where NumPy puts it (after the leading whole axes when
the arrays are consecutive, else first). Other patterns (masks, arrays with
integers or partial slices, several arrays of more than 1 dim) raise Unsupported:
those nodes run their NumPy implementation.
"""

from __future__ import annotations

from theanine.tensor.subtensor import IncSubtensor, Subtensor
from theanine.tensor.subtensor_advanced import AdvancedIncSubtensor, AdvancedSubtensor
from theanine.tensor.subtensor_extra import Nonzero, Split

from .codegen import np_dtype
from .registry import Unsupported, register


def _index_src(ctx, pattern, slots, x, ndim):
    """The index expression for a basic pattern; integer indices bounds-checked."""
    it = iter(slots)
    parts = []

    def part(p):
        return "None" if p is None else (next(it) if p == "s" else str(p))

    for d, p in enumerate(pattern):
        if isinstance(p, tuple):
            parts.append(f"{part(p[1])}:{part(p[2])}" + (f":{part(p[3])}"
                                                          if p[3] is not None else ""))
        elif p == "a":
            raise Unsupported("advanced index")
        else:
            parts.append(f"check_index({part(p)}, {x}.shape[{d}], {d})")
    return ", ".join(parts)


@register(Subtensor)
def _subtensor(ctx, node, ins, outs):
    x, *slots = ins
    xv = node.inputs[0]
    if xv.type.ndim == 0:
        ctx.line(f"{outs[0]} = {x}")
        return
    idx = _index_src(ctx, node.op.idx_list, slots, x, xv.type.ndim)
    ctx.line(f"{outs[0]} = {x}[{idx}]" if idx else f"{outs[0]} = {x}")


@register(IncSubtensor)
def _inc_subtensor(ctx, node, ins, outs):
    x, y, *slots = ins
    xv, yv = node.inputs[:2]
    idx = _index_src(ctx, node.op.idx_list, slots, x, xv.type.ndim)
    o = outs[0]
    ctx.line(f"{o} = {x}.copy()")
    n_int = sum(1 for p in node.op.idx_list if not isinstance(p, tuple))
    view_nd = xv.type.ndim - n_int
    if view_nd == 0:
        if node.op.set_instead_of_inc:
            ctx.line(f"{o}[{idx}] = {y}")
        else:
            ctx.line(f"{o}[{idx}] += {y}")
        return
    view = ctx.tmp("w")
    ctx.line(f"{view} = {o}[{idx}]" if idx else f"{view} = {o}")
    off = view_nd - yv.type.ndim
    for j in range(yv.type.ndim):
        if not yv.type.broadcastable[j]:
            with ctx.block(f"if {y}.shape[{j}] != {view}.shape[{off + j}]:"):
                ctx.line("raise ValueError('inc_subtensor: the value does not match the "
                         "shape of the indexed subtensor')")
    if node.op.set_instead_of_inc:
        ctx.line(f"{view}[...] = {y}")
    elif yv.type.ndim == 0:
        ctx.line(f"{view} += {y}")
    else:
        ctx.line(f"{view} += np.broadcast_to({y}, {view}.shape)")


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


@register(Split)
def _split(ctx, node, ins, outs):
    x, sp = ins
    n, ax = node.op.len_splits, node.op.axis
    with ctx.block(f"if {sp}.shape[0] != {n}:"):
        ctx.line(f"raise ValueError('split: expected {n} split sizes')")
    tot = ctx.tmp("z")
    ctx.line(f"{tot} = {sp}.sum()")
    with ctx.block(f"if {tot} != {x}.shape[{ax}] or ({sp} < 0).any():"):
        ctx.line("raise ValueError('split: sizes must be non-negative and sum to the "
                 "length of the axis')")
    start = ctx.tmp("o")
    ctx.line(f"{start} = 0")
    pre = ":, " * ax
    for k, o in enumerate(outs):
        ctx.line(f"{o} = {x}[{pre}{start}:{start} + {sp}[{k}]]")
        ctx.line(f"{start} = {start} + {sp}[{k}]")
