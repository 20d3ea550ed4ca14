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

from theanine.tensor import scalar_ops as so
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
    out dtype)], a ref is ('in', k) or ('step', j). Returns the name per step.
    sigmoid(x) and sigmoid(-x) of one x (a gate z and 1 - z, which the stabilize
    rewrites write as sigmoid(-x)) come from one exp (kernels/vecmath.py
    sigmoid_pair_*): a gated RNN's loop, 8 lanes a step, 6.8 -> 5.6 ms for 1e5 steps."""
    names = [None] * len(steps)
    pairs = sigmoid_pairs(steps)

    def expr(kind, k):
        return leaf_exprs[k] if kind == "in" else names[k]

    for j, (sop, refs, in_dtypes, out_dtype) in enumerate(steps):
        if names[j] is not None:  # the second of a pair
            continue
        args = [expr(*r) for r in refs]
        n = ctx.tmp("s")
        if j in pairs:
            m, neg = pairs[j]
            names[m] = ctx.tmp("s")
            x = expr(*steps[m][1][0]) if neg else args[0]
            pos, minus = (names[m], n) if neg else (n, names[m])
            ctx.line(f"{pos}, {minus} = sigmoid_pair_f{out_dtype[-2:]}({x})")
        else:
            ctx.line(f"{n} = {cast_expr(scalar_expr(sop, args, in_dtypes, out_dtype), out_dtype)}")
        names[j] = n
    return names


def sigmoid_pairs(steps):
    """{j: (m, neg)} for the first j of two steps sigmoid(x) and sigmoid(-x) of one x
    (m the other; neg: step j is the one of -x), float32 or float64 throughout."""
    sig, neg_of = {}, {}
    for j, (sop, refs, in_dtypes, out_dtype) in enumerate(steps):
        if out_dtype not in ("float32", "float64") or in_dtypes[0] != out_dtype:
            continue
        if isinstance(sop, so.Sigmoid):
            sig.setdefault(refs[0], j)
        elif isinstance(sop, so.Neg):
            neg_of[("step", j)] = refs[0]
    pairs = {}
    for ref, x in neg_of.items():
        j, m = sig.get(x), sig.get(ref)
        if j is None or m is None or j in pairs or m in pairs or \
                steps[j][3] != steps[m][3]:
            continue
        first, second = min(j, m), max(j, m)
        pairs[first] = (second, first == m)
    return pairs


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
