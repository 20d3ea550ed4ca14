"""numba emitters: Shape, Shape_i, MakeVector, Reshape, Rebroadcast, CheckSteps, Alloc,
Join, Subtensor, IncSubtensor.

Basic indexing is written out literally (``x[i0, a:b]``), with explicit bounds
checks of integer indices (numba does not check). Reshape copies a
non-contiguous input first (numba reshapes only contiguous arrays).
"""

from __future__ import annotations

from theanine.scan.utils import CheckSteps
from theanine.tensor.alloc import Alloc
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.join import Join
from theanine.tensor.shape import MakeVector, Reshape, Shape, Shape_i
from theanine.tensor.subtensor import IncSubtensor, Subtensor

from .codegen import np_dtype
from .registry import Unsupported, register


@register(Shape)
def _shape(ctx, node, ins, outs):
    x, = ins
    nd = node.inputs[0].type.ndim
    ctx.line(f"{outs[0]} = np.empty({nd}, np.int64)")
    for d in range(nd):
        ctx.line(f"{outs[0]}[{d}] = {x}.shape[{d}]")


@register(Shape_i)
def _shape_i(ctx, node, ins, outs):
    ctx.line(f"{outs[0]} = np.int64({ins[0]}.shape[{node.op.i}])")


@register(MakeVector)
def _make_vector(ctx, node, ins, outs):
    dt = np_dtype(node.op.dtype)
    ctx.line(f"{outs[0]} = np.empty({len(ins)}, {dt})")
    for k, v in enumerate(ins):
        ctx.line(f"{outs[0]}[{k}] = {v}")


@register(Reshape)
def _reshape(ctx, node, ins, outs):
    x, shp = ins
    n = node.op.ndim
    xv = node.inputs[0]
    src = x if xv.type.ndim == 0 else f"np.ascontiguousarray({x})"
    with ctx.block(f"if {shp}.shape[0] != {n}:"):
        ctx.line(f"raise ValueError('reshape: the new shape must have {n} entries')")
    if xv.type.ndim == 0:
        src = f"np.full((1,), {x}, {np_dtype(xv.type.dtype)})"
    if n == 0:
        with ctx.block(f"if {src}.size != 1:"):
            ctx.line("raise ValueError('reshape: cannot reshape to a 0-d tensor')")
        ctx.line(f"{outs[0]} = {src}.ravel()[0]")
        return
    dims = ", ".join(f"{shp}[{k}]" for k in range(n))
    ctx.line(f"{outs[0]} = {src}.reshape(({dims},))")


@register(CheckSteps)
def _check_steps(ctx, node, ins, outs):
    seq, n = ins
    with ctx.block(f"if {n} < 0:"):
        ctx.line("raise ValueError('scan: n_steps must be >= 0')")
    with ctx.block(f"if {seq}.shape[0] < {n}:"):
        ctx.line("raise ValueError('scan: a sequence has fewer rows than the steps asked "
                 "for (n_steps)')")
    ctx.line(f"{outs[0]} = {seq}")


@register(Rebroadcast)
def _rebroadcast(ctx, node, ins, outs):
    x, = ins
    for a, f in node.op.axes:
        if f:
            with ctx.block(f"if {x}.shape[{a}] != 1:"):
                ctx.line(f"raise ValueError('addbroadcast: dimension {a} was declared "
                         "broadcastable but its length is not 1')")
    ctx.line(f"{outs[0]} = {x}")


@register(Alloc)
def _alloc(ctx, node, ins, outs):
    v, *shape = ins
    vv = node.inputs[0]
    dt = np_dtype(vv.type.dtype)
    nd = len(shape)
    if nd == 0:
        ctx.line(f"{outs[0]} = {v}")
        return
    ctx.line(f"{outs[0]} = np.empty(({', '.join(f'np.int64({s})' for s in shape)},), {dt})")
    if vv.type.ndim == 0:
        ctx.line(f"{outs[0]}[...] = {v}")
        return
    lead = nd - vv.type.ndim
    for i in range(vv.type.ndim):
        if not vv.type.broadcastable[i]:
            with ctx.block(f"if {v}.shape[{i}] != {shape[lead + i]}:"):
                ctx.line("raise ValueError('alloc: cannot broadcast the value to the shape')")
    bshape = ", ".join(f"np.int64({s})" for s in shape)
    ctx.line(f"{outs[0]}[...] = np.broadcast_to({v}, ({bshape},))")


@register(Join)
def _join(ctx, node, ins, outs):
    dt = np_dtype(node.outputs[0].type.dtype)
    parts = [x if v.type.dtype == node.outputs[0].type.dtype else f"{x}.astype({dt})"
             for x, v in zip(ins, node.inputs)]
    ax = node.op.axis
    nd = node.outputs[0].type.ndim
    for p in parts[1:]:
        for d in range(nd):
            if d != ax:
                with ctx.block(f"if {p}.shape[{d}] != {parts[0]}.shape[{d}]:"):
                    ctx.line(f"raise ValueError('join along axis {ax}: the shapes differ "
                             "outside that axis')")
    ctx.line(f"{outs[0]} = np.concatenate(({', '.join(parts)},), axis={ax})")


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


def _register_split():
    from theanine.tensor.subtensor_extra import Split

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


_register_split()
