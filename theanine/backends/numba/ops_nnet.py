"""numba emitters: Softmax, LogSoftmax (any ndim, any axis), CheckTargets.

Softmax and LogSoftmax are loops over the kept indices with three passes along
the axis (maximum, exp-sum, normalise), shifted by the maximum as the NumPy
implementation is (0 where that maximum is not finite). The exp-sum of float32
accumulates in float64 (NumPy's sum is pairwise; a float32 running sum over a long
axis is not as accurate: see ops_reduce).
"""

from __future__ import annotations

from theanine.tensor.nnet.crossentropy import CheckTargets
from theanine.tensor.nnet.softmax_ops import LogSoftmax, Softmax

from .codegen import np_dtype
from .registry import Unsupported, register


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
        at = f"{', '.join(idx)}"
        m, s, e = ctx.tmp("m"), ctx.tmp("s"), ctx.tmp("e")
        ctx.line(f"{m} = {dt}(-np.inf)")
        with ctx.block(f"for {k} in range({x}.shape[{ax}]):"):
            with ctx.block(f"if {x}[{at}] > {m}:"):
                ctx.line(f"{m} = {x}[{at}]")
        with ctx.block(f"if not np.isfinite({m}):"):
            ctx.line(f"{m} = {dt}(0)")
        ctx.line(f"{s} = {acc_dt}(0)")
        with ctx.block(f"for {k} in range({x}.shape[{ax}]):"):
            ctx.line(f"{e} = {x}[{at}] - {m}")
            if log:
                ctx.line(f"{o}[{at}] = {e}")
                ctx.line(f"{s} += np.exp({e})")
            else:
                ctx.line(f"{e} = np.exp({e})")
                ctx.line(f"{o}[{at}] = {e}")
                ctx.line(f"{s} += {e}")
        if log:
            ctx.line(f"{s} = np.log({s})")
        with ctx.block(f"for {k} in range({x}.shape[{ax}]):"):
            ctx.line(f"{o}[{at}] {'-' if log else '/'}= {s}")


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
