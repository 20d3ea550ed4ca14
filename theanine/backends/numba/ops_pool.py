"""numba emitters of the pooling ops: Pool, MaxPoolGrad, AveragePoolGrad,
DownsampleFactorMaxGradGrad (any number of pooled axes, every mode, ignore_border,
stride, pad; Theano's symbolic ws/stride/pad arguments are constants by then: ops
carry them as properties).

Explicit loops over the windows and over each window's cells inside the input (the
padding and the cells past the border are skipped, not materialised), with the
window geometry as literals. The arithmetic is the NumPy implementation's: sums in
the input's float dtype (float64 for integers), averages divided in float64, the max
gradients multiplied by the 0/1 mask (a NaN or inf gradient spreads alike).

Unsupported (NumPy runs): booleans; gradients into integer outputs from float values
(average modes, or a float gradient: NumPy refuses those casts too).
"""

from __future__ import annotations

import contextlib

import numpy as np

from theanine.tensor.signal import pool

from .codegen import literal, np_dtype
from .registry import Unsupported, register


class _Geometry:
    """Names for a pooling node's loops: x flattened to (n, spatial...), the output lengths."""

    def __init__(self, ctx, node, x):
        op, xv = node.op, node.inputs[0]
        self.op, lead = op, xv.type.ndim - op.ndim
        self.n, self.r, self.o = ctx.tmp("n"), [], []
        ctx.line(f"{self.n} = 1" + "".join(f" * {x}.shape[{d}]" for d in range(lead)))
        for d, (w, s, p) in enumerate(zip(op.ws, op.stride, op.pad)):
            r, o = ctx.tmp("r"), ctx.tmp("o")
            ctx.line(f"{r} = {x}.shape[{lead + d}]")
            if op.ignore_border:
                ctx.line(f"{o} = max(0, ({r} + {2 * p - w}) // {s} + 1)")
            elif s >= w:
                ctx.line(f"{o} = ({r} - 1) // {s} + 1")
            else:
                ctx.line(f"{o} = max(0, ({r} - {1 + w - s}) // {s}) + 1")
            self.r.append(r)
            self.o.append(o)
        self.lead = [f"{x}.shape[{d}]" for d in range(lead)]
        self.win, self.cell = [], []

    def flat(self, ctx, e, spatial, check=True):
        """e as a C-contiguous (n, spatial...) array (checked against that shape)."""
        name = ctx.tmp("f")
        shape = ", ".join([self.n] + spatial)
        ctx.line(f"{name} = np.ascontiguousarray({e})")
        if check:
            full = self.lead + spatial
            cond = " or ".join(f"{name}.shape[{d}] != {s}" for d, s in enumerate(full))
            with ctx.block(f"if {cond}:"):
                ctx.line(f"raise ValueError('{self.op.fn}: an input has the wrong shape')")
        ctx.line(f"{name} = {name}.reshape(({shape},))")
        return name

    def full_shape(self, spatial):
        return f"({', '.join(self.lead + spatial)},)"

    @contextlib.contextmanager
    def windows(self, ctx):
        """Loops over the output cells; sets .win (the output index) and .count (the
        window's divisor under the op's mode)."""
        op, depth = self.op, ctx.depth
        n = ctx.tmp("i")
        ctx.line(f"for {n} in range({self.n}):")
        ctx.depth += 1
        self.win, self.start, counts = [n], [], []
        for r, o, w, s, p in zip(self.r, self.o, op.ws, op.stride, op.pad):
            i, a = ctx.tmp("i"), ctx.tmp("a")
            ctx.line(f"for {i} in range({o}):")
            ctx.depth += 1
            ctx.line(f"{a} = {i} * {s} - {p}")
            if op.mode == "average_inc_pad":
                counts.append(f"(min({a} + {w}, {r} + {p}) - {a})")
            else:
                counts.append(f"(min({a} + {w}, {r}) - max({a}, 0))")
            self.win.append(i)
            self.start.append(a)
        self.count = " * ".join(counts)
        try:
            yield
        finally:
            ctx.depth = depth

    @contextlib.contextmanager
    def cells(self, ctx):
        """Loops over the current window's cells inside x; sets .cell (their index). The
        loops have the window's (literal) length, so they unroll; cells outside x are
        skipped, tested only where windows can reach there."""
        op, depth = self.op, ctx.depth
        self.cell = [self.win[0]]
        for a, r, w, p in zip(self.start, self.r, op.ws, op.pad):
            q, u = ctx.tmp("q"), ctx.tmp("u")
            ctx.line(f"for {q} in range({w}):")
            ctx.depth += 1
            ctx.line(f"{u} = {a} + {q}")
            out = ([f"{u} < 0"] if p else []) + ([f"{u} >= {r}"] if p or not op.ignore_border
                                                 else [])
            if out:
                with ctx.block(f"if {' or '.join(out)}:"):
                    ctx.line("continue")
            self.cell.append(u)
        try:
            yield
        finally:
            ctx.depth = depth


def _pool_setup(node, floats_only=False):
    """The output's dtype; Unsupported for booleans, for inputs of another ndim than x,
    and where NumPy refuses to store a float result into an integer output."""
    dt, ins = node.outputs[0].type.dtype, node.inputs
    if dt == "bool" or any(v.type.dtype == "bool" for v in ins):
        raise Unsupported("pooling of booleans")
    if any(v.type.ndim != ins[0].type.ndim for v in ins):
        raise Unsupported("pooling inputs of different ndim")
    if np.dtype(dt).kind != "f" and (floats_only or any(v.type.dtype.startswith("float")
                                                        for v in ins)):
        raise Unsupported(f"{node.op.mode} pooling gradient into {dt}")
    return np_dtype(dt)


@register(pool.Pool, outer=True)
def _pool(ctx, node, ins, outs):
    op, dt = node.op, _pool_setup(node)
    G = _Geometry(ctx, node, ins[0])
    x, res = G.flat(ctx, ins[0], G.r, check=False), ctx.tmp("p")
    ctx.line(f"{res} = np.empty(({', '.join([G.n] + G.o)}), {dt})")
    in_dt = node.inputs[0].type.dtype
    acc_dt = np_dtype(in_dt if np.dtype(in_dt).kind == "f" else "float64")
    acc = ctx.tmp("s")
    with G.windows(ctx):
        if op.mode == "max":
            ctx.line(f"{acc} = {literal(_lowest(in_dt), in_dt)}")
        else:
            ctx.line(f"{acc} = {acc_dt}(0)")
        with G.cells(ctx):
            v = f"{x}[{', '.join(G.cell)}]"
            ctx.line(f"{acc} = nan_max({acc}, {v})" if op.mode == "max" else
                     f"{acc} = {acc_dt}({acc} + {v})")
        if op.mode.startswith("average"):
            acc = f"np.float64({acc}) / ({G.count})"
        ctx.line(f"{res}[{', '.join(G.win)}] = {dt}({acc})")
    ctx.line(f"{outs[0]} = {res}.reshape({G.full_shape(G.o)})")


def _lowest(dtype):
    dtype = np.dtype(dtype)
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@register(pool.MaxPoolGrad, pool.DownsampleFactorMaxGradGrad, outer=True)
def _max_pool_grads(ctx, node, ins, outs):
    """MaxPoolGrad (x, maxout, gz) -> gx adds gz to the cells equal to their window's max;
    its adjoint (x, maxout, ggx) -> ggz sums ggx over them. Both multiply by the 0/1 mask,
    as NumPy does (so a NaN or inf gradient spreads over its window alike)."""
    dt = _pool_setup(node)
    G = _Geometry(ctx, node, ins[0])
    x = G.flat(ctx, ins[0], G.r, check=False)
    mx = G.flat(ctx, ins[1], G.o)
    back = isinstance(node.op, pool.MaxPoolGrad)
    g = G.flat(ctx, ins[2], G.o if back else G.r)
    res, acc, m, e = ctx.tmp("p"), ctx.tmp("s"), ctx.tmp("m"), ctx.tmp("e")
    ctx.line(f"{res} = np.zeros(({', '.join([G.n] + (G.r if back else G.o))}), {dt})")
    with G.windows(ctx):
        win = ", ".join(G.win)
        ctx.line(f"{m} = {mx}[{win}]")
        ctx.line(f"{acc} = {g}[{win}]" if back else f"{acc} = {dt}(0)")
        with G.cells(ctx):
            cell = ", ".join(G.cell)
            ctx.line(f"{e} = {dt}(1) if {x}[{cell}] == {m} else {dt}(0)")
            if back:
                ctx.line(f"{res}[{cell}] += {e} * {acc}")
            else:
                ctx.line(f"{acc} = {dt}({acc} + {e} * {g}[{cell}])")
        if not back:
            ctx.line(f"{res}[{win}] = {acc}")
    ctx.line(f"{outs[0]} = {res}.reshape({G.full_shape(G.r if back else G.o)})")


@register(pool.AveragePoolGrad, outer=True)
def _average_pool_grad(ctx, node, ins, outs):
    op = node.op
    dt = _pool_setup(node, floats_only=op.mode != "sum")
    G = _Geometry(ctx, node, ins[0])
    g = G.flat(ctx, ins[1], G.o)
    res, v = ctx.tmp("p"), ctx.tmp("s")
    ctx.line(f"{res} = np.zeros(({', '.join([G.n] + G.r)}), {dt})")
    with G.windows(ctx):
        ctx.line(f"{v} = {g}[{', '.join(G.win)}]")
        if op.mode != "sum":
            ctx.line(f"{v} = np.float64({v}) / ({G.count})")
        with G.cells(ctx):
            ctx.line(f"{res}[{', '.join(G.cell)}] += {v}")
    ctx.line(f"{outs[0]} = {res}.reshape({G.full_shape(G.r)})")
