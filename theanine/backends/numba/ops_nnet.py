"""numba emitters: Softmax, LogSoftmax (any ndim, any axis), CheckTargets.

Softmax and LogSoftmax are loops over the kept indices with four passes along
the axis (maximum; the exps, into the output; their sum; normalise), shifted by
the maximum as the NumPy implementation is (0 where that maximum is not finite).
The exps' loop vectorises (kernels/vecmath.py's exp, no reduction in it); the sum
runs PARTIAL_SUMS interleaved sums, so that each add does not wait on the last
(LogSoftmax of (800, 1000) float32: 2.9 -> 1.6-1.9 ms, softmax 3.2 -> 2.1-2.2). The
sum of float32 accumulates in float64 (NumPy's sum is pairwise; a float32 running
sum over a long axis is not as accurate: see ops_reduce).
"""

from __future__ import annotations

from theanine.tensor import scalar_ops as so
from theanine.tensor.nnet.crossentropy import CheckTargets
from theanine.tensor.nnet.softmax_ops import LogSoftmax, Softmax

from .codegen import np_dtype
from .registry import Unsupported, register
from .scalar_table import scalar_expr

PARTIAL_SUMS = 4


def _softmax_like(ctx, node, ins, outs, log):
    x, = ins
    xv = node.inputs[0]
    nd = xv.type.ndim
    ax = node.op.axis % nd
    dt = np_dtype(xv.type.dtype)
    acc_dt = "np.float64" if xv.type.dtype == "float32" else dt
    o = outs[0]
    ctx.line(f"{o} = np.empty_like({x})")
    with ctx.loops_except(x, nd, ax) as idx:
        k = idx[ax]

        def at(i):
            return ", ".join(idx[:ax] + [i] + idx[ax + 1:])

        n, m, ls = ctx.tmp("n"), ctx.tmp("m"), ctx.tmp("ls")
        sums = [ctx.tmp("s") for _ in range(PARTIAL_SUMS)]
        ctx.line(f"{n} = {x}.shape[{ax}]")
        ctx.line(f"{m} = {dt}(-np.inf)")
        with ctx.block(f"for {k} in range({n}):"):
            with ctx.block(f"if {x}[{at(k)}] > {m}:"):
                ctx.line(f"{m} = {x}[{at(k)}]")
        with ctx.block(f"if not np.isfinite({m}):"):
            ctx.line(f"{m} = {dt}(0)")
        # the exps into the output (a loop with no reduction: it vectorises), then
        # their sum with partial sums (a single running sum waits on each add)
        with ctx.block(f"for {k} in range({n}):"):
            e = scalar_expr(so.Exp(), [f"{x}[{at(k)}] - {m}"], [xv.type.dtype], xv.type.dtype)
            ctx.line(f"{o}[{at(k)}] = {e}")
        for q in sums:
            ctx.line(f"{q} = {acc_dt}(0)")
        with ctx.block(f"for {k} in range(0, {n} - {n} % {PARTIAL_SUMS}, {PARTIAL_SUMS}):"):
            for j, q in enumerate(sums):
                ctx.line(f"{q} += {o}[{at(f'{k} + {j}')}]")
        with ctx.block(f"for {k} in range({n} - {n} % {PARTIAL_SUMS}, {n}):"):
            ctx.line(f"{sums[0]} += {o}[{at(k)}]")
        total = " + ".join(sums)
        if log:
            ctx.line(f"{ls} = np.log({total})")
            with ctx.block(f"for {k} in range({n}):"):
                ctx.line(f"{o}[{at(k)}] = ({x}[{at(k)}] - {m}) - {ls}")
        else:
            ctx.line(f"{ls} = {total}")
            with ctx.block(f"for {k} in range({n}):"):
                ctx.line(f"{o}[{at(k)}] = {o}[{at(k)}] / {ls}")


@register(Softmax, outer=True)
def _softmax(ctx, node, ins, outs):
    _softmax_like(ctx, node, ins, outs, log=False)


@register(LogSoftmax, outer=True)
def _logsoftmax(ctx, node, ins, outs):
    _softmax_like(ctx, node, ins, outs, log=True)


@register(CheckTargets)
def _check_targets(ctx, node, ins, outs):
    y, n, k = ins
    if node.inputs[0].type.ndim == 0:
        raise Unsupported("CheckTargets of a 0-d target")
    fn = node.op.fn.replace("'", "")
    with ctx.block(f"if {y}.shape[0] != {n}:"):
        ctx.line(f"raise ValueError('{fn}: expected one target per row of the coding "
                 "distribution')")
    with ctx.block(f"if {y}.size and ({y}.min() < 0 or {y}.max() >= {k}):"):
        ctx.line(f"raise ValueError('{fn}: targets must be class indices in [0, k)')")
    ctx.line(f"{outs[0]} = {y}")
