"""numba emitters for matrix products and matrix algebra: Dot, BatchedDot and Gemm
(tensor.linalg); MatrixInverse, MatrixPinv, Det, Eig, Eigh, QRFull, SVD, Lstsq
(nlinalg); Cholesky, Solve, Eigvalsh, Expm (slinalg).

Products: float32/float64 matrix products call NumPy's BLAS gemm (kernels/gemm.py:
gemm_into) where NumPy ships OpenBLAS, else numba's np.dot; other float and complex
products np.dot; integer products are loops (BLAS has none). A product where one
operand has a single element and the other more is computed as np.dot does it (BLAS
axpy: all zeros for a zero factor, also next to inf / NaN; see
kernels/blas.one_element_dot_skips_zero), so Dot and Gemm give the py backend's
values there too.

Matrix algebra computes in the dtype NumPy / SciPy would use (integers in float64)
and casts to the output dtype: numba's np.linalg (LAPACK) for inv, pinv, eig,
eigh, eigvalsh, cholesky and svd, the la_* functions of kernels/linalg.py for the
rest (LU, triangular solves, QR, expm, lstsq, empty matrices). float16 (which numba
lacks) raises Unsupported: such nodes run their NumPy code.
"""

from __future__ import annotations

import numpy as np

from theanine.rewrites.utils import is_value
from theanine.tensor.blas import Gemm
from theanine.tensor.linalg import BatchedDot, Dot
from theanine.tensor.nlinalg import SVD, Det, Eig, Eigh, Lstsq, MatrixInverse, MatrixPinv, QRFull
from theanine.tensor.slinalg import Cholesky, Eigvalsh, Expm, Solve

from .codegen import literal, np_dtype
from .kernels import blas
from .registry import Unsupported, register


def _work_dtype(*dtypes):
    """The dtype LAPACK computes in for these inputs, as NumPy and SciPy choose."""
    return np.result_type(*["float64" if np.dtype(d).kind in "biu" else d
                            for d in dtypes]).name


def _check_dtypes(node):
    for v in node.inputs + node.outputs:
        if v.type.dtype == "float16":
            raise Unsupported("float16 (numba has no float16 arrays)")


def _matrix(ctx, x, var, dtype, fn=None):
    """A C-contiguous copy (or view) of matrix x in `dtype`; with `fn`, check it is
    square first (ValueError, as the py ops)."""
    if fn is not None:
        with ctx.block(f"if {x}.shape[0] != {x}.shape[1]:"):
            ctx.line(f"raise ValueError('{fn}: expected a square matrix')")
    t = ctx.tmp("m")
    if var.type.dtype == dtype:
        ctx.line(f"{t} = np.ascontiguousarray({x})")
    else:
        ctx.line(f"{t} = {x}.astype({np_dtype(dtype)})")
    return t


def _finite(ctx, *arrays):
    """SciPy's check_finite."""
    for a in arrays:
        with ctx.block(f"if not np.isfinite({a}).all():"):
            ctx.line("raise ValueError('array must not contain infs or NaNs')")


def _results(ctx, node, outs, exprs):
    """Assign each expression, cast to its output's dtype."""
    for out, expr, var in zip(outs, exprs, node.outputs):
        dt = np_dtype(var.type.dtype)
        ctx.line(f"{out} = {dt}({expr})" if var.type.ndim == 0 else f"{out} = {expr}.astype({dt})")


def _unary(ctx, node, ins, fn=None, work=None):
    _check_dtypes(node)
    work = work or _work_dtype(node.inputs[0].type.dtype)
    return _matrix(ctx, ins[0], node.inputs[0], work, fn)


# op class: (name in errors when the matrix must be square, expression)
_SIMPLE = {MatrixInverse: ("matrix_inverse", "np.linalg.inv({})"),
           MatrixPinv: (None, "np.linalg.pinv({})"),
           Det: ("det", "la_det({})"),
           Expm: ("expm", "la_expm({})")}


@register(*_SIMPLE)
def _simple(ctx, node, ins, outs):
    fn, expr = _SIMPLE[type(node.op)]
    work = None
    if isinstance(node.op, Expm):  # in double precision
        work = "complex128" if node.inputs[0].type.dtype.startswith("complex") else "float64"
    a = _unary(ctx, node, ins, fn, work)
    _results(ctx, node, outs, [expr.format(a)])


@register(Eig)
def _eig(ctx, node, ins, outs):
    a = _unary(ctx, node, ins, "eig")
    w, v = ctx.tmp("w"), ctx.tmp("v")
    work = _work_dtype(node.inputs[0].type.dtype)
    if np.dtype(work).kind == "c":
        ctx.line(f"{w}, {v} = np.linalg.eig({a})")
    else:
        ctx.line(f"{w}, {v} = la_eig_real({a}, {1e3 * np.finfo(work).eps!r})")
    _results(ctx, node, outs, [w, v])


@register(Eigh)
def _eigh(ctx, node, ins, outs):
    a = _unary(ctx, node, ins, "eigh")
    w, v = ctx.tmp("w"), ctx.tmp("v")
    ctx.line(f"{w}, {v} = np.linalg.eigh(la_herm({a}, {node.op.UPLO == 'L'}))")
    _results(ctx, node, outs, [w, v])


@register(QRFull)
def _qr(ctx, node, ins, outs):
    a = _unary(ctx, node, ins)
    h, tau = ctx.tmp("h"), ctx.tmp("tau")
    ctx.line(f"{h}, {tau} = la_geqrf({a})")
    k = f"min({h}.shape[0], {h}.shape[1])"
    mode = node.op.mode
    r = f"la_triu({h}, {f'{h}.shape[0]' if mode == 'complete' else k})"
    q = f"la_orgqr({h}, {tau}, {f'{h}.shape[0]' if mode == 'complete' else k})"
    _results(ctx, node, outs, {"raw": [f"{h}.T", tau], "r": [r]}.get(mode, [q, r]))


@register(SVD)
def _svd(ctx, node, ins, outs):
    a = _unary(ctx, node, ins)
    u, s, vh = ctx.tmp("u"), ctx.tmp("s"), ctx.tmp("vh")
    uv = node.op.compute_uv
    ctx.line(f"{u}, {s}, {vh} = la_svd({a}, {node.op.full_matrices and uv})")
    _results(ctx, node, outs, [u, s, vh] if uv else [s])


def _as_matrix(bm, bv):
    return bm if bv.type.ndim == 2 else f"{bm}.reshape(({bm}.shape[0], 1))"


@register(Lstsq)
def _lstsq(ctx, node, ins, outs):
    _check_dtypes(node)
    (a, b, rcond), (av, bv) = ins, node.inputs[:2]
    dtype = node.outputs[0].type.dtype
    am, bm = _matrix(ctx, a, av, dtype), _matrix(ctx, b, bv, dtype)
    x, res, rank, s = (ctx.tmp(p) for p in ("x", "res", "rank", "s"))
    eps = np.finfo(dtype).eps
    ctx.line(f"{x}, {res}, {rank}, {s} = la_lstsq({am}, {_as_matrix(bm, bv)}, "
             f"np.float64({rcond}), {eps!r})")
    if bv.type.ndim == 1:
        ctx.line(f"{x} = {x}.reshape({x}.shape[0])")
    _results(ctx, node, outs, [x, res, rank, s])


@register(Cholesky)
def _cholesky(ctx, node, ins, outs):
    a = _unary(ctx, node, ins, "cholesky")
    _finite(ctx, a)
    c = ctx.tmp("c")
    lower = node.op.lower
    ctx.line(f"{c} = la_cholesky(la_herm({a}, {lower}), {node.op.on_error == 'nan'})")
    _results(ctx, node, outs, [c if lower else f"np.conj({c}).T"])


@register(Solve)
def _solve(ctx, node, ins, outs):
    _check_dtypes(node)
    (a, b), (av, bv) = ins, node.inputs
    work = _work_dtype(av.type.dtype, bv.type.dtype)
    am = _matrix(ctx, a, av, work, "solve")
    with ctx.block(f"if {a}.shape[0] != {b}.shape[0]:"):
        ctx.line("raise ValueError('solve: a and b do not match: b must have as many rows "
                 "as a')")
    bm = _matrix(ctx, b, bv, work)
    _finite(ctx, am, bm)
    structure = node.op.A_structure
    if structure.endswith("triangular"):
        x = f"la_trisolve({am}, {_as_matrix(bm, bv)}, {structure.startswith('lower')})"
    else:
        x = f"la_lu_solve({am}, {_as_matrix(bm, bv)})"
    _results(ctx, node, outs, [x if bv.type.ndim == 2 else f"{x}.reshape({bm}.shape[0])"])


@register(Eigvalsh)
def _eigvalsh(ctx, node, ins, outs):
    _check_dtypes(node)
    work = _work_dtype(*(v.type.dtype for v in node.inputs))
    a = _matrix(ctx, ins[0], node.inputs[0], work, "eigvalsh")
    lower = node.op.lower
    if len(ins) == 1:
        _finite(ctx, a)
        _results(ctx, node, outs, [f"np.linalg.eigvalsh(la_herm({a}, {lower}))"])
        return
    with ctx.block(f"if {ins[1]}.shape[0] != {a}.shape[0] or "
                   f"{ins[1]}.shape[1] != {a}.shape[1]:"):
        ctx.line("raise ValueError('eigvalsh: b must have the shape of a')")
    b = _matrix(ctx, ins[1], node.inputs[1], work)
    _finite(ctx, a, b)
    _results(ctx, node, outs, [f"la_geigvalsh({a}, {b}, {lower})"])


# -- products ------------------------------------------------------------------
def _zero_factor(x, y, xv, yv, dtype):
    """A condition under which np.dot(x, y) is all zeros although IEEE arithmetic
    (BLAS gemm, numba's np.dot) gives NaN for 0 * inf: one operand has a single
    element, which is 0, and the other more (np.dot scales by it with BLAS axpy,
    which skips a zero factor; blas.one_element_dot_skips_zero). None where this
    NumPy does not skip, or the shapes cannot have such an operand. A nonzero single
    element gives IEEE's products on both. Emitted as scalar tests, so kernels compile
    no extra array code for this rare case."""
    if not blas.one_element_dot_skips_zero(dtype):
        return None
    nx, ny = xv.type.ndim, yv.type.ndim
    first = {1: "[0]", 2: "[0, 0]"}
    if nx == 1 and ny == 1:
        return None  # vector . vector: a single element each, or none
    cases = []
    if (nx, ny) != (2, 1):  # x is (1,) or (1, 1)
        cases.append(f"({x}.size == 1 and {y}.size > 1 and {x}{first[nx]} == 0)")
    if (nx, ny) != (1, 2):  # y is (1,) or (1, 1)
        cases.append(f"({y}.size == 1 and {x}.size > 1 and {y}{first[ny]} == 0)")
    return " or ".join(cases)


def _dot_shape(a, b, na, nb):
    """The shape of dot(a, b) (vector . vector, a scalar: ())."""
    return {(1, 2): f"({b}.shape[1],)", (2, 1): f"({a}.shape[0],)",
            (2, 2): f"({a}.shape[0], {b}.shape[1])"}.get((na, nb), "()")


@register(Gemm)
def _gemm(ctx, node, ins, outs):
    """As py's Gemm: r = np.dot(x, y) * a + b * z (np.dot's zero factor included)."""
    z, a, x, y, b = ins
    r = outs[0]
    zv, av, xv, yv, bv = node.inputs
    direct = xv.type.ndim == yv.type.ndim == 2 and blas.available(zv.type.dtype)
    if not direct:  # a fresh product: scaled, summed in place
        _fresh_product(ctx, node, x, y, a, r)
        _check_z(ctx, node, z, r)
        # r = a * r + b * z as one explicit loop: numba compiles each array
        # expression (r *= a; r += b * z) into a ufunc of its own (-26% compile time
        # of a loop body made of matrix-vector products)
        bz = zv.type.broadcastable
        scaled = "" if is_value(av, 1) else f" * {a}"
        plus = "" if is_value(bv, 1) else f"{b} * "
        with ctx.loops([f"{r}.shape[{d}]" for d in range(len(bz))]) as idx:
            at = ", ".join(idx)
            zat = ", ".join("0" if bz[d] else i for d, i in enumerate(idx))
            ctx.line(f"{r}[{at}] = {r}[{at}]{scaled} + {plus}{z}[{zat}]")
        return
    zero = _aligned(ctx, node, x, y, a)
    if zv.type.ndim == 2 and not any(zv.type.broadcastable):
        # a whole z: its copy (a C-contiguous memcpy, ~4x faster than r[:] = z
        # into a new array) receives the product
        with ctx.block(f"if {z}.shape[0] != {x}.shape[0] or {z}.shape[1] != {y}.shape[1]:"):
            ctx.line("raise ValueError('Gemm: dot(x, y) does not have the shape of z')")
        ctx.line(f"{r} = {z}.copy()")
        _gemm_into_unless(ctx, zero, node, ins, r)
    else:  # NumPy's gemm adds the product into a copy of z
        ctx.line(f"{r} = np.empty(({x}.shape[0], {y}.shape[1]), {ctx.dtype(zv)})")
        _check_z(ctx, node, z, r)
        ctx.line(f"{r}[:] = {z}")
        _gemm_into_unless(ctx, zero, node, ins, r)


def _aligned(ctx, node, x, y, a):
    """Gemm's alignment check; returns its zero-factor condition (or None)."""
    zv, av, xv, yv, _ = node.inputs
    with ctx.block(f"if {x}.shape[-1] != {y}.shape[0]:"):
        ctx.line("raise ValueError('dot: shapes are not aligned')")
    zero = _zero_factor(x, y, xv, yv, zv.type.dtype)
    if zero is not None and not is_value(av, 1):
        zero = f"({zero}) and math.isfinite({a})"  # else 0 * a is NaN: the product's way
    return zero


def _fresh_product(ctx, node, x, y, a, r):
    """r = np.dot(x, y) (np.dot's zero factor included) after the alignment check:
    one call of dot_checked in a part of a large body, else written out (a call
    costs ~25 ns a step; see Ctx.in_part)."""
    zv, _, xv, yv, _ = node.inputs
    if ctx.in_part:
        _dot_call(ctx, r, x, y, zv.type.dtype)
        return
    zero = _aligned(ctx, node, x, y, a)
    _product(ctx, zero, f"np.dot({x}, {y})", _dot_shape(x, y, xv.type.ndim, yv.type.ndim),
             ctx.dtype(zv), r)


def _dot_call(ctx, out, x, y, dtype):
    """out = dot_checked(x, y, skip) (in a part of a large body: Ctx.in_part), skip
    being np.dot's zero rule on this NumPy. (Gemm scales this product afterwards, so
    a scale that is not finite makes 0 * a NaN there, as in py's product.)"""
    ctx.line(f"{out} = dot_checked({x}, {y}, {blas.one_element_dot_skips_zero(dtype)})")


def _gemm_into_unless(ctx, zero, node, ins, r):
    """r (holding z) = a * x @ y + b * r, or b * r where the product is np.dot's zeros."""
    z, a, x, y, b = ins
    if zero is None:
        ctx.line(f"gemm_into({a}, {x}, {y}, {b}, {r})")
        return
    with ctx.block(f"if not ({zero}):"):
        ctx.line(f"gemm_into({a}, {x}, {y}, {b}, {r})")
    if not is_value(node.inputs[4], 1):
        with ctx.block("else:"):
            ctx.line(f"{r} *= {b}")


def _product(ctx, zero, expr, shape, dtype, out):
    """out = expr (a product), or zeros of `shape` where `zero` holds (np.dot's rule)."""
    if zero is None:
        ctx.line(f"{out} = {expr}")
        return
    with ctx.block(f"if {zero}:"):
        ctx.line(f"{out} = np.zeros({shape}, {dtype})")
    with ctx.block("else:"):
        ctx.line(f"{out} = {expr}")


def _check_z(ctx, node, z, r):
    """z has the product r's shape (a broadcastable dim of z has length 1 by its type)."""
    same = [f"{z}.shape[{i}] != {r}.shape[{i}]"
            for i, bc in enumerate(node.inputs[0].type.broadcastable) if not bc]
    if same:
        with ctx.block(f"if {' or '.join(same)}:"):
            ctx.line("raise ValueError('Gemm: dot(x, y) does not have the shape of z')")


def _blas_ok(dtype):
    return dtype in ("float32", "float64", "complex64", "complex128")


def _as(ctx, x, var, dtype):
    if var.type.dtype == dtype:
        return x
    if var.type.ndim == 0:
        return f"{np_dtype(dtype)}({x})"
    return f"{x}.astype({np_dtype(dtype)})"


def _operands(ctx, node, ins, mismatch, message):
    """The two operands of a product in the output dtype, (a, b, av, bv, dtype), after
    a check that raises ValueError(message) where `mismatch` ({a}, {b}) holds."""
    av, bv = node.inputs
    dt = node.outputs[0].type.dtype
    a, b = _as(ctx, ins[0], av, dt), _as(ctx, ins[1], bv, dt)
    with ctx.block(f"if {mismatch.format(a=a, b=b)}:"):
        ctx.line(f"raise ValueError({message!r})")
    return a, b, av, bv, dt


@register(Dot)
def _dot(ctx, node, ins, outs):
    av, bv = node.inputs
    dt = node.outputs[0].type.dtype
    nd = (av.type.ndim, bv.type.ndim)
    if ctx.in_part and _blas_ok(dt) and (nd in ((1, 2), (2, 1)) or (
            nd == (2, 2) and not blas.available(dt))):  # see _fresh_product
        _dot_call(ctx, outs[0], _as(ctx, ins[0], av, dt), _as(ctx, ins[1], bv, dt), dt)
        return
    a, b, av, bv, dt = _operands(ctx, node, ins, "{a}.shape[-1] != {b}.shape[0]",
                                 "dot: shapes are not aligned")
    zero = _zero_factor(a, b, av, bv, dt)
    if av.type.ndim == bv.type.ndim == 2 and blas.available(dt):
        ctx.line(f"{outs[0]} = np.empty(({a}.shape[0], {b}.shape[1]), {np_dtype(dt)})")
        if zero is None:
            ctx.line(f"gemm_into(1.0, {a}, {b}, 0.0, {outs[0]})")
            return
        with ctx.block(f"if {zero}:"):
            ctx.line(f"{outs[0]}[:] = 0")
        with ctx.block("else:"):
            ctx.line(f"gemm_into(1.0, {a}, {b}, 0.0, {outs[0]})")
        return
    if _blas_ok(dt):
        _product(ctx, zero, f"np.dot({a}, {b})", _dot_shape(a, b, av.type.ndim, bv.type.ndim),
                 np_dtype(dt), outs[0])
        return
    # integer / bool products: loops (BLAS has none)
    o = outs[0]
    i, j, k = ctx.tmp("i"), ctx.tmp("j"), ctx.tmp("k")
    zero = literal(0, dt)
    na, nb = av.type.ndim, bv.type.ndim
    if na == 1 and nb == 1:
        ctx.line(f"{o} = {zero}")
        with ctx.block(f"for {k} in range({a}.shape[0]):"):
            ctx.line(f"{o} += {a}[{k}] * {b}[{k}]")
        return
    rows = f"{a}.shape[0]" if na == 2 else "1"
    cols = f"{b}.shape[1]" if nb == 2 else "1"
    ai = f"{a}[{i}, {k}]" if na == 2 else f"{a}[{k}]"
    bi = f"{b}[{k}, {j}]" if nb == 2 else f"{b}[{k}]"
    acc = ctx.tmp("m")
    ctx.line(f"{acc} = np.zeros(({rows}, {cols}), {np_dtype(dt)})")
    with ctx.block(f"for {i} in range({rows}):"):
        with ctx.block(f"for {k} in range({a}.shape[-1]):"):
            with ctx.block(f"for {j} in range({cols}):"):
                ctx.line(f"{acc}[{i}, {j}] += {ai} * {bi}")
    if na == 2 and nb == 2:
        ctx.line(f"{o} = {acc}")
    elif na == 2:
        ctx.line(f"{o} = {acc}[:, 0].copy()")
    else:
        ctx.line(f"{o} = {acc}[0].copy()")


@register(BatchedDot)
def _batched_dot(ctx, node, ins, outs):
    a, b, av, bv, dt = _operands(
        ctx, node, ins, "{a}.shape[0] != {b}.shape[0] or {a}.shape[-1] != {b}.shape[1]",
        "batched_dot: shapes do not match")
    o, t = outs[0], ctx.tmp("t")
    na, nb = av.type.ndim, bv.type.ndim
    shape = [f"{a}.shape[0]"] + ([f"{a}.shape[1]"] if na == 3 else []) + \
        ([f"{b}.shape[2]"] if nb == 3 else [])
    ctx.line(f"{o} = np.empty(({', '.join(shape)},), {np_dtype(dt)})")
    with ctx.block(f"for {t} in range({a}.shape[0]):"):
        if _blas_ok(dt):
            ctx.line(f"{o}[{t}] = np.dot({a}[{t}], {b}[{t}])")
        else:
            ctx.line(f"{o}[{t}] = np.dot({a}[{t}].astype(np.float64), "
                     f"{b}[{t}].astype(np.float64))")
