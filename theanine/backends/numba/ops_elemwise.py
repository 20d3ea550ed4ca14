"""Elemwise, fused elementwise DAGs (Composite) and DimShuffle.

Elemwise and Composite become one explicit loop nest:

    n0 = x.shape[0]; n1 = y.shape[1]        # each dim from an input not broadcast there
    out = np.empty((n0, n1), np.float32)
    for j0 in range(n0):
        for j1 in range(n1):
            s = x[j0, j1] * y[0, j1]          # broadcastable dims index 0
            out[j0, j1] = np.float32(tanh_f32(s))

0-d results are plain scalar statements. Each scalar op is one expression
(scalar_table.SCALAR); its result is cast to the node's output dtype, so numba's
own scalar promotion never changes a dtype. A runtime length that differs between
inputs in a dimension that none declares broadcastable raises ValueError, as
the py backend does.

DimShuffle is a view: ``x.T`` for a 2-d transpose (numba then passes it to BLAS
as a transposed operand, no copy), else np.lib.stride_tricks.as_strided with
the permuted strides and zero strides for new broadcastable dims.
"""

from __future__ import annotations

from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import DimShuffle, Elemwise

from .codegen import np_dtype
from .registry import register
from .scalar_table import NUMPY_SLOWER, scalar_expr


def cast_expr(expr, dtype):
    if dtype == "bool":
        return f"bool({expr})"
    return f"{np_dtype(dtype)}({expr})"


def emit_dag(ctx, steps, leaf_exprs):
    """Scalar statements for a DAG. steps: [(scalar_op, arg refs, in dtypes,
    out dtype)], a ref is ('in', k) or ('step', j). Returns the name per step."""
    names = []
    for sop, refs, in_dtypes, out_dtype in steps:
        args = [leaf_exprs[k] if kind == "in" else names[k] for kind, k in refs]
        n = ctx.tmp("s")
        ctx.line(f"{n} = {cast_expr(scalar_expr(sop, args, in_dtypes, out_dtype), out_dtype)}")
        names.append(n)
    return names


def emit_loop(ctx, inputs, in_exprs, out_var, out_name, body):
    """The loop nest over out_var's shape; body(ctx, leaf element exprs) -> result
    scalar expression. inputs: the leaf graph variables (same ndim as out_var)."""
    nd = out_var.type.ndim
    dt = np_dtype(out_var.type.dtype)
    if nd == 0:
        r = body(ctx, in_exprs)
        ctx.line(f"{out_name} = {cast_expr(r, out_var.type.dtype)}")
        return
    dims = []
    for d in range(nd):
        src = [e for v, e in zip(inputs, in_exprs) if not v.type.broadcastable[d]]
        n = ctx.tmp("n")
        if src:
            ctx.line(f"{n} = {src[0]}.shape[{d}]")
            if src[1:]:  # one raise per dimension: each raise is code numba compiles
                cond = " or ".join(f"{e}.shape[{d}] != {n}" for e in src[1:])
                with ctx.block(f"if {cond}:"):
                    ctx.line(f"raise ValueError('elemwise: input shapes differ in dimension "
                             f"{d}, which no input declares broadcastable')")
        else:
            ctx.line(f"{n} = 1")
        dims.append(n)
    dest = getattr(ctx, "dest", None)
    if dest is not None:  # write into a given array (a row of a scan output)
        cond = " or ".join(f"{dest}.shape[{d}] != {n}" for d, n in enumerate(dims))
        with ctx.block(f"if {cond}:"):
            ctx.line("raise ValueError('scan: a per-step output changes shape between steps')")
        ctx.line(f"{out_name} = {dest}")
    else:
        ctx.line(f"{out_name} = np.empty(({', '.join(dims)},), {dt})")
    idx = [ctx.tmp("j") for _ in range(nd)]
    depth0 = ctx.depth
    for d in range(nd):
        ctx.line(f"for {idx[d]} in range({dims[d]}):")
        ctx.depth += 1
    elems = []
    for v, e in zip(inputs, in_exprs):
        sub = ", ".join("0" if v.type.broadcastable[d] else idx[d] for d in range(nd))
        elems.append(f"{e}[{sub}]")
    r = body(ctx, elems)
    ctx.line(f"{out_name}[{', '.join(idx)}] = {r}")
    ctx.depth = depth0


def _emit(ctx, node, ins, outs, steps):
    def body(c, elems):
        return emit_dag(c, steps, elems)[-1]

    emit_loop(ctx, node.inputs, ins, node.outputs[0], outs[0], body)


def _numpy_is_slower(op):
    """A lone Elemwise whose NumPy implementation is slower than our kernel
    (scalar_table.NUMPY_SLOWER) is compiled at the top level too."""
    return type(op.scalar_op).__name__ in NUMPY_SLOWER


@register(Elemwise, outer=_numpy_is_slower)
def _elemwise(ctx, node, ins, outs):
    in_dtypes = [v.type.dtype for v in node.inputs]
    steps = [(node.op.scalar_op, [("in", k) for k in range(len(ins))], in_dtypes,
              node.outputs[0].type.dtype)]
    _emit(ctx, node, ins, outs, steps)


def composite_steps(op, in_dtypes):
    """A Composite's program as emit_dag's steps, given its inputs' dtypes."""
    dtypes = list(in_dtypes)
    steps = []
    for sop, args, dtype in op.program:
        refs = [("in", a) if a < op.nin else ("step", a - op.nin) for a in args]
        steps.append((sop, refs, [dtypes[a] for a in args], dtype))
        dtypes.append(dtype)
    return steps


@register(Composite, outer=True)
def _composite(ctx, node, ins, outs):
    _emit(ctx, node, ins, outs, composite_steps(node.op, [v.type.dtype for v in node.inputs]))


@register(DimShuffle)
def _dimshuffle(ctx, node, ins, outs):
    op = node.op
    x, = ins
    xv, out = node.inputs[0], node.outputs[0]
    if out.type.ndim == 0:
        if xv.type.ndim == 0:
            ctx.line(f"{outs[0]} = {x}")
        else:
            ctx.line(f"{outs[0]} = {x}[{', '.join('0' for _ in range(xv.type.ndim))}]")
        return
    if xv.type.ndim == 0:
        ctx.line(f"{outs[0]} = np.full(({', '.join('1' for _ in op.new_order)},), {x}, "
                 f"{np_dtype(out.type.dtype)})")
        return
    if op.new_order == tuple(range(xv.type.ndim)):
        ctx.line(f"{outs[0]} = {x}")
        return
    if xv.type.ndim == 2 and op.new_order == (1, 0):
        ctx.line(f"{outs[0]} = {x}.T")
        return
    shape = ", ".join("1" if i == "x" else f"{x}.shape[{i}]" for i in op.new_order)
    strides = ", ".join("0" if i == "x" else f"{x}.strides[{i}]" for i in op.new_order)
    ctx.line(f"{outs[0]} = np.lib.stride_tricks.as_strided({x}, ({shape},), ({strides},))")
