"""numba emitters: Shape, Shape_i, MakeVector, Reshape (tensor.shape), Alloc,
ZeroPad (tensor.zero_pad), Rebroadcast (tensor.dims), Join.

Reshape copies a non-contiguous input first (numba reshapes only contiguous arrays).
"""

from __future__ import annotations

from theanine.tensor.alloc import Alloc
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.join import Join
from theanine.tensor.shape import MakeVector, Reshape, Shape, Shape_i
from theanine.tensor.zero_pad import ZeroPad

from .codegen import np_dtype
from .registry import register


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


@register(ZeroPad)
def _zero_pad(ctx, node, ins, outs):
    """Inside compiled loops (at the top level its NumPy implementation runs, which
    returns the value itself when it fills the whole result): zeros, the rows set."""
    y, a, b, *shape = ins
    yv = node.inputs[0]
    dt = np_dtype(node.outputs[0].type.dtype)
    o = outs[0]
    ctx.line(f"{o} = np.zeros(({', '.join(f'np.int64({s})' for s in shape)},), {dt})")
    view = ctx.tmp("view")
    ctx.line(f"{view} = {o}[{a}:{b}]")
    bc = yv.type.broadcastable
    cond = " or ".join(f"({view}.shape[{d}] != {y}.shape[{d}]" +
                       (f" and {y}.shape[{d}] != 1)" if bc[d] else ")")
                       for d in range(yv.type.ndim))
    with ctx.block(f"if {cond}:"):
        ctx.line("raise ValueError('zero_pad: the value does not have the shape of the "
                 "rows it is written to')")
    ctx.line(f"{view}[...] = {y}")


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
