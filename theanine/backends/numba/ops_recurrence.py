"""numba emitter of LinearRecurrence: the operands as (steps, lanes) views, a call of
the mode's kernel in recurrence_kernels.py (chunked when long and narrow), and the
trace reshaped to the state's shape. A reverse recurrence runs on reversed views.

    r = run_affine(n, h0.reshape(W), A.reshape(rows_A, -1), B.reshape(rows_B, -1), True)
    trace = r[0].reshape((n,) + h0.shape); final = r[1].reshape(h0.shape)

A scalar state calls ``run1_<mode>`` on the 1-D operands (its final state is a
scalar; affine and add running backwards call ``run1r_<mode>`` on the operands as
they are, whose trace is in step order); matrix mode calls ``run_matrix`` with the
state as (rows, d).
"""

from __future__ import annotations

from theanine.tensor.recurrence import LinearRecurrence

from .codegen import np_dtype
from .registry import Unsupported, register

_IMPORT = ("from theanine.backends.numba.recurrence_kernels import (  # noqa: F401\n"
           "    run1_add, run1_affine, run1_max, run1_min, run1_mul, run1r_add, run1r_affine,\n"
           "    run_add, run_affine, run_matrix, run_max, run_min, run_mul)\n")


def _check_rows(ctx, x, var, n, name, op):
    """The run-time shape checks of one per-step operand (as compute does)."""
    rows_ok = f"{x}.shape[0] != {n}"
    if var.broadcastable[0]:
        rows_ok += f" and {x}.shape[0] != 1"
    with ctx.block(f"if {rows_ok}:"):
        ctx.line(f"raise ValueError('{op}: operand {name} has a number of rows other than "
                 f"the steps')")


def _check_lanes(ctx, x, var, h0, ndim, name, op):
    for i in range(ndim):
        if not var.broadcastable[i + 1]:
            with ctx.block(f"if {x}.shape[{i + 1}] != {h0}.shape[{i}]:"):
                ctx.line(f"raise ValueError('{op}: operand {name} does not match the "
                         f"state\\'s shape in dimension {i + 1}')")


@register(LinearRecurrence, outer=True)
def _linear_recurrence(ctx, node, ins, outs):
    op = node.op
    h0v = node.inputs[1]
    if h0v.type.dtype not in ("float32", "float64"):
        raise Unsupported(f"LinearRecurrence of dtype {h0v.type.dtype}")
    ctx.helper(_IMPORT)
    n, h0, *xs = ins
    dt = np_dtype(h0v.type.dtype)
    nd = h0v.type.ndim
    label = str(op).replace("'", "")
    for x, var, name in zip(xs, node.inputs[2:], op.operand_names):
        if name != "M":
            _check_rows(ctx, x, var, n, name, label)
            _check_lanes(ctx, x, var, h0, nd, name, label)
    rev = "[::-1]" if op.reverse else ""
    store = "True" if op.store else "False"
    res = ctx.tmp("r")
    if op.mode == "matrix":
        trace, final = _matrix(ctx, n, h0, xs, nd, rev, store, res, label)
    else:
        named = dict(zip(op.operand_names, xs))
        dummy = f"np.zeros({'1' if nd == 0 else '(1, 1)'}, {dt})"
        ops = []
        for name in ("A", "B"):
            if name not in named:
                ops.append(dummy)
            elif nd == 0:
                ops.append(named[name])
            else:
                x = named[name]
                ops.append(f"np.ascontiguousarray({x}).reshape({x}.shape[0], -1){rev}")
        if nd == 0:
            # backwards: run1r on the operands as they are (affine, add: the trace in
            # step order), else run1 on reversed views (the trace in processing order)
            if op.reverse and op.mode in ("affine", "add"):
                call = f"run1r_{op.mode}({n}, {h0}, {ops[0]}, {ops[1]}, {store})"
                trace = f"{res}[0]"
            else:
                a, b = (x if x == dummy else f"{x}{rev}" for x in ops)
                call = f"run1_{op.mode}({n}, {h0}, {a}, {b}, {store})"
                trace = f"{res}[0]{rev}"
            ctx.line(f"{res} = {call}")
            final = f"{res}[1]"
        else:
            flat = f"np.ascontiguousarray({h0}).reshape({h0}.size)"
            ctx.line(f"{res} = run_{op.mode}({n}, {flat}, {ops[0]}, {ops[1]}, {store})")
            trace = f"{res}[0].reshape(({n},) + {h0}.shape){rev}"
            final = f"{res}[1].reshape({h0}.shape)"
    if op.store:
        ctx.line(f"{outs[0]} = {trace}")
        ctx.line(f"{outs[1]} = {final}")
    else:
        ctx.line(f"{outs[0]} = {final}")


def _matrix(ctx, n, h0, xs, nd, rev, store, res, label):
    """The call of run_matrix; returns the trace and final expressions."""
    m, b = xs
    d = f"{h0}.shape[{nd - 1}]"
    with ctx.block(f"if {m}.shape[0] != {d} or {m}.shape[1] != {d}:"):
        ctx.line(f"raise ValueError('{label}: M must be (d, d) for a state whose last dim "
                 "is d')")
    h2 = f"np.ascontiguousarray({h0}).reshape(-1, {d})"
    b3 = f"np.ascontiguousarray({b}).reshape({b}.shape[0], -1, {b}.shape[{nd}]){rev}"
    ctx.line(f"{res} = run_matrix({n}, {h2}, np.ascontiguousarray({m}), {b3}, {store})")
    return (f"{res}[0].reshape(({n},) + {h0}.shape){rev}",
            f"{res}[1].reshape({h0}.shape)")
