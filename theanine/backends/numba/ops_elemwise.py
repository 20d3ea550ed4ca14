"""Elemwise (and fused elementwise DAGs) as one explicit loop nest.

    n0 = x.shape[0]; n1 = y.shape[1]        # each dim from an input not broadcast there
    out = np.empty((n0, n1), np.float32)
    for j0 in range(n0):
        for j1 in range(n1):
            s = x[j0, j1] * y[0, j1]          # broadcastable dims index 0
            out[j0, j1] = np.float32(tanh_f32(s))

0-d results are plain scalar statements. Each scalar op is one expression
(SCALAR table); its result is cast to the node's output dtype, so numba's own
scalar promotion never changes a dtype. A runtime length that differs between
inputs in a dimension that none declares broadcastable raises ValueError, as
the py backend does.
"""

from __future__ import annotations

import numpy as np

from theanine.tensor import scalar_ops as S
from theanine.tensor.elemwise import Elemwise

from . import blas
from .codegen import np_dtype
from .registry import Unsupported, register

_BIN = {S.Add: "+", S.Mul: "*", S.IntDiv: "//", S.Mod: "%", S.Pow: "**",
        S.EQ: "==", S.NEQ: "!=", S.LT: "<", S.LE: "<=", S.GT: ">", S.GE: ">="}
_NPFN = {S.Exp2: "np.exp2", S.Expm1: "np.expm1", S.Log1p: "np.log1p",
         S.Log2: "np.log2", S.Log10: "np.log10", S.Sqrt: "np.sqrt", S.Sin: "np.sin",
         S.Cos: "np.cos", S.Tan: "np.tan", S.ArcSin: "np.arcsin", S.ArcCos: "np.arccos",
         S.ArcTan: "np.arctan", S.Sinh: "np.sinh", S.Cosh: "np.cosh",
         S.ArcSinh: "np.arcsinh", S.ArcCosh: "np.arccosh", S.ArcTanh: "np.arctanh",
         S.Deg2Rad: "np.deg2rad", S.Rad2Deg: "np.rad2deg", S.Erf: "math.erf",
         S.Erfc: "math.erfc", S.Gamma: "math.gamma", S.GammaLn: "math.lgamma",
         S.Floor: "np.floor", S.Ceil: "np.ceil", S.Trunc: "np.trunc",
         S.IsNan: "np.isnan", S.IsInf: "np.isinf", S.Conj: "np.conj",
         S.Softplus: "softplus", S.RoundHalfToEven: "round_half_even",
         S.Erfinv: "erfinv_f64", S.Erfcx: "erfcx_f64"}
# vectorisable kernels (runtime.py) for float32/float64
_FAST = {S.Exp: "exp", S.Log: "log", S.Tanh: "tanh", S.Sigmoid: "sigmoid"}
_SLOW = {S.Exp: "np.exp", S.Log: "np.log", S.Tanh: "np.tanh",
         S.Sigmoid: "(lambda v: 1.0 / (1.0 + np.exp(-v)))"}


_IN_OUT_DTYPE = (S.Add, S.Mul, S.Sub, S.Pow, S.IntDiv, S.Mod, S.Maximum, S.Minimum, S.Clip)


def scalar_expr(sop, args, in_dtypes, out_dtype):
    """Source of sop applied to scalar expressions `args` (before the final cast)."""
    cls = type(sop)
    if sop.cast_inputs:
        args = [f"{np_dtype(out_dtype)}({a})" if np.dtype(d).kind in "biu" else a
                for a, d in zip(args, in_dtypes)]
    elif cls in _IN_OUT_DTYPE and np.dtype(out_dtype).kind in "fc":
        # NumPy computes in the result dtype (numba would compute float32 ** int64
        # in float32, for one)
        args = [a if d == out_dtype else f"{np_dtype(out_dtype)}({a})"
                for a, d in zip(args, in_dtypes)]
    all_bool = all(d == "bool" for d in in_dtypes)
    if cls in _FAST:
        ft = np.dtype(in_dtypes[0] if not sop.cast_inputs else out_dtype).name
        if ft in ("float32", "float64"):
            return f"{_FAST[cls]}_f{ft[-2:]}({args[0]})"
        if cls is S.Sigmoid:
            return f"(1.0 / (1.0 + np.exp(-{args[0]})))"
        return f"{_SLOW[cls]}({args[0]})"
    if cls in (S.AND, S.OR, S.XOR) and all_bool:
        op = {S.AND: "and", S.OR: "or", S.XOR: "!="}[cls]
        return f"(({args[0]}) {op} ({args[1]}))"
    if cls in _BIN:
        if cls in (S.Add, S.Mul) and all_bool:
            op = "or" if cls is S.Add else "and"
            return "(" + f" {op} ".join(f"({a})" for a in args) + ")"
        if cls is S.Pow and all_bool:
            return f"(({args[0]}) or not ({args[1]}))"
        if cls in (S.IntDiv, S.Mod) and np.dtype(out_dtype).kind in "iu":
            fn = "np.floor_divide" if cls is S.IntDiv else "np.mod"
            return f"{fn}({args[0]}, {args[1]})"
        return "(" + f" {_BIN[cls]} ".join(f"({a})" for a in args) + ")"
    if cls in (S.AND, S.OR, S.XOR):
        return f"(({args[0]}) {({S.AND: '&', S.OR: '|', S.XOR: '^'})[cls]} ({args[1]}))"
    if cls is S.Sub:
        if all_bool:
            return f"(np.int8({args[0]}) - np.int8({args[1]}))"
        return f"(({args[0]}) - ({args[1]}))"
    if cls is S.TrueDiv:
        return f"(({args[0]}) / ({args[1]}))"
    if cls is S.Neg:
        return f"(-({args[0]}))"
    if cls is S.Abs:
        return f"np.abs({args[0]})"
    if cls is S.Sgn:
        return args[0] if all_bool else f"sign_of({args[0]})"
    if cls is S.Sqr:
        return f"(({args[0]}) * ({args[0]}))"
    if cls is S.Inv:
        return f"(1 / ({args[0]}))"
    if cls is S.Identity:
        return args[0]
    if cls is S.Maximum:
        return f"nan_max({args[0]}, {args[1]})" if not all_bool else f"({args[0]} or {args[1]})"
    if cls is S.Minimum:
        return f"nan_min({args[0]}, {args[1]})" if not all_bool else f"({args[0]} and {args[1]})"
    if cls is S.Clip:
        return f"nan_min(nan_max({args[0]}, {args[1]}), {args[2]})"
    if cls is S.Switch:
        return f"(({args[1]}) if ({args[0]}) else ({args[2]}))"
    if cls is S.Second:
        return args[1]
    if cls is S.Cast:
        if out_dtype == "bool":
            return f"(({args[0]}) != 0)"
        if np.dtype(in_dtypes[0]).kind == "c" and np.dtype(out_dtype).kind != "c":
            return f"({args[0]}).real"
        return args[0]
    if cls is S.Invert:
        return f"(not ({args[0]}))" if all_bool else f"(~({args[0]}))"
    if cls is S.RoundHalfAwayFromZero:
        return f"(np.sign({args[0]}) * np.floor(np.abs({args[0]}) + 0.5))"
    if cls is S.ArcTan2:
        return f"np.arctan2({args[0]}, {args[1]})"
    if cls in (S.Real, S.Imag):
        part = "real" if cls is S.Real else "imag"
        if np.dtype(in_dtypes[0]).kind == "c":
            return f"({args[0]}).{part}"
        return args[0] if cls is S.Real else f"({args[0]} - {args[0]})"
    if cls is S.Angle:
        if np.dtype(in_dtypes[0]).kind == "c":
            return f"angle_of({args[0]})"
        return f"(np.pi if {args[0]} < 0 else 0.0)"
    if cls is S.Psi:
        return f"psi_f64(np.float64({args[0]}))"
    if cls is S.TriGamma:
        return f"trigamma_f64(np.float64({args[0]}))"
    if cls in _NPFN:
        return f"{_NPFN[cls]}({', '.join(args)})"
    raise Unsupported(f"scalar op {sop} in compiled code")


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
            for e in src[1:]:
                with ctx.block(f"if {e}.shape[{d}] != {n}:"):
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


@register(Elemwise)
def _elemwise(ctx, node, ins, outs):
    out = node.outputs[0]
    sop = node.op.scalar_op
    in_dtypes = [v.type.dtype for v in node.inputs]
    steps = [(sop, [("in", k) for k in range(len(ins))], in_dtypes, out.type.dtype)]

    def body(c, elems):
        return emit_dag(c, steps, elems)[-1]

    emit_loop(ctx, node.inputs, ins, out, outs[0], body)


def _composite_steps(op, in_dtypes):
    dtypes = list(in_dtypes)
    steps = []
    for sop, args, dtype in op.program:
        refs = [("in", a) if a < op.nin else ("step", a - op.nin) for a in args]
        steps.append((sop, refs, [dtypes[a] for a in args], dtype))
        dtypes.append(dtype)
    return steps


def _register_composite():
    from theanine.rewrites.composite import Composite

    @register(Composite, outer=True)
    def _composite(ctx, node, ins, outs):
        steps = _composite_steps(node.op, [v.type.dtype for v in node.inputs])

        def body(c, elems):
            return emit_dag(c, steps, elems)[-1]

        emit_loop(ctx, node.inputs, ins, node.outputs[0], outs[0], body)

    from theanine.rewrites.blas import Gemm
    from theanine.rewrites.utils import is_value

    @register(Gemm)
    def _gemm(ctx, node, ins, outs):
        z, a, x, y, b = ins
        with ctx.block(f"if {x}.shape[-1] != {y}.shape[0]:"):
            ctx.line("raise ValueError('dot: shapes are not aligned')")
        r = outs[0]
        zv, _, xv, yv, _ = node.inputs
        bz = zv.type.broadcastable
        direct = xv.type.ndim == yv.type.ndim == 2 and blas.available(zv.type.dtype)
        if direct and zv.type.ndim == 2 and not any(bz):
            # a whole z: its copy (a C-contiguous memcpy, ~4x faster than r[:] = z
            # into a new array) receives the product
            with ctx.block(f"if {z}.shape[0] != {x}.shape[0] or {z}.shape[1] != {y}.shape[1]:"):
                ctx.line("raise ValueError('Gemm: dot(x, y) does not have the shape of z')")
            ctx.line(f"{r} = {z}.copy()")
            ctx.line(f"gemm_into({a}, {x}, {y}, {b}, {r})")
            return
        if direct:  # NumPy's gemm adds the product into a copy of z
            ctx.line(f"{r} = np.empty(({x}.shape[0], {y}.shape[1]), {ctx.dtype(zv)})")
        else:
            ctx.line(f"{r} = np.dot({x}, {y})")  # a fresh array: scaled, summed in place
        same = [f"{z}.shape[{i}] != {r}.shape[{i}]" for i, b in enumerate(bz) if not b]
        if same:  # a broadcastable dim of z has length 1 by its type
            with ctx.block(f"if {' or '.join(same)}:"):
                ctx.line("raise ValueError('Gemm: dot(x, y) does not have the shape of z')")
        if direct:
            ctx.line(f"{r}[:] = {z}")
            ctx.line(f"gemm_into({a}, {x}, {y}, {b}, {r})")
            return
        # r = a * r + b * z as one explicit loop: numba compiles each array
        # expression (r *= a; r += b * z) into a ufunc of its own (-26% compile time
        # of a loop body made of matrix-vector products)
        scaled = "" if is_value(node.inputs[1], 1) else f" * {a}"
        plus = "" if is_value(node.inputs[4], 1) else f"{b} * "
        with ctx.loops([f"{r}.shape[{d}]" for d in range(len(bz))]) as idx:
            at = ", ".join(idx)
            zat = ", ".join("0" if bz[d] else i for d, i in enumerate(idx))
            ctx.line(f"{r}[{at}] = {r}[{at}]{scaled} + {plus}{z}[{zat}]")



_register_composite()
