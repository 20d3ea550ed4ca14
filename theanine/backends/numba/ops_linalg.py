"""numba emitters for the matrix algebra ops of nlinalg and slinalg: MatrixInverse,
MatrixPinv, Det, Eig, Eigh, QRFull, SVD, Lstsq, Cholesky, Solve, Eigvalsh, Expm.

Each computes in the dtype NumPy / SciPy would use (integers in float64) and casts
to the output dtype. numba's np.linalg (LAPACK) does inv, pinv, eig, eigh,
eigvalsh, cholesky and svd; njit helpers added to the kernel's module do the rest,
in explicit loops (numba's solve with a matrix right-hand side, lstsq, triu and
diff each take seconds to compile): a Hermitian matrix from one triangle (UPLO);
LU with partial pivoting (getrf's) for det (sign * exp(log|det|), as NumPy) and the
general solve; triangular solves; eigvalsh(a, b) reduced to eigvalsh(L^-1 a L^-H)
with b = L L^H (as sygvd); QR in every mode by Householder reflectors with LAPACK's
conventions (geqrf / orgqr: 'raw' is LAPACK's (h, tau)); expm by scaling and
squaring with a Pade approximant of degree 3 to 13 (Higham 2005) in double
precision; lstsq from the SVD (minimum-norm solution, rank = the singular values
above rcond * max, as gelsd); empty matrices, which numba's wrappers refuse.
float16 (which numba lacks) raises Unsupported: such nodes run their NumPy code.
"""

from __future__ import annotations

import numpy as np

from theanine.tensor.nlinalg import SVD, Det, Eig, Eigh, Lstsq, MatrixInverse, MatrixPinv, QRFull
from theanine.tensor.slinalg import Cholesky, Eigvalsh, Expm, Solve

from .codegen import NJIT_OPTS, np_dtype
from .registry import Unsupported, register

_DEC = f"@numba.njit({NJIT_OPTS})\n"

_HERM = _DEC + """def la_herm(a, lower):
    n = a.shape[0]
    h = np.empty((n, n), a.dtype)
    for i in range(n):
        for j in range(n):
            if i == j or (i > j) == lower:
                h[i, j] = a[i, j]
            else:
                h[i, j] = np.conj(a[j, i])
    return h
"""

_LU = _DEC + """def la_lu(a):
    n = a.shape[0]
    lu = a.copy()
    piv = np.arange(n)
    parity = 1.0
    for k in range(n):
        p = k
        for r in range(k + 1, n):
            if abs(lu[r, k]) > abs(lu[p, k]):
                p = r
        if p != k:
            for c in range(n):
                lu[k, c], lu[p, c] = lu[p, c], lu[k, c]
            piv[k], piv[p] = piv[p], piv[k]
            parity = -parity
        if lu[k, k] != 0:
            for r in range(k + 1, n):
                lu[r, k] /= lu[k, k]
                for c in range(k + 1, n):
                    lu[r, c] -= lu[r, k] * lu[k, c]
    return lu, piv, parity
"""

_DET = _DEC + """def la_det(a):
    lu, piv, parity = la_lu(a)
    phase = np.full(1, parity, a.dtype)
    logdet = 0.0
    for k in range(a.shape[0]):
        u = lu[k, k]
        if u == 0:
            return phase[0] * 0.0
        phase[0] = phase[0] * (u / abs(u))
        logdet += np.log(abs(u))
    return phase[0] * np.exp(logdet)
"""

_LU_SOLVE = _DEC + """def la_lu_solve(a, b):
    lu, piv, parity = la_lu(a)
    x = b[piv]
    for c in range(b.shape[1]):
        for i in range(b.shape[0]):
            for j in range(i):
                x[i, c] -= lu[i, j] * x[j, c]
    return la_trisolve(lu, x, False)
"""

_TRISOLVE = _DEC + """def la_trisolve(a, b, lower):
    n, k = b.shape
    x = b.copy()
    for i in range(n):
        if a[i, i] == 0:
            raise np.linalg.LinAlgError("singular matrix: resolution failed at a zero "
                                        "diagonal element")
    for step in range(n):
        i = step if lower else n - 1 - step
        lo, hi = (0, i) if lower else (i + 1, n)
        for c in range(k):
            s = x[i, c]
            for j in range(lo, hi):
                s -= a[i, j] * x[j, c]
            x[i, c] = s / a[i, i]
    return x
"""

_GEIGVALSH = _DEC + """def la_geigvalsh(a, b, lower):
    chol = np.linalg.cholesky(la_herm(b, lower))
    x = la_trisolve(chol, la_herm(a, lower), True)
    return np.linalg.eigvalsh(la_trisolve(chol, np.ascontiguousarray(np.conj(x.T)), True))
"""

_CHOLESKY = _DEC + """def la_cholesky(h, nan):
    c = h
    ok = True
    try:
        c = np.linalg.cholesky(h)
    except Exception:
        ok = False
    if not ok:
        if not nan:
            raise np.linalg.LinAlgError("cholesky: the matrix is not positive definite; "
                                        "use Cholesky(on_error='nan') to get NaN instead "
                                        "of this error")
        c = np.full(h.shape, np.nan, h.dtype)
    return c
"""

_EIG_REAL = _DEC + """def la_eig_real(a, tol):
    ok = True
    w, v = np.empty(0, a.dtype), np.empty((0, 0), a.dtype)
    try:
        w, v = np.linalg.eig(a)
    except Exception:
        ok = False
    if ok:
        return np.ascontiguousarray(w), np.ascontiguousarray(v)
    wc, vc = np.linalg.eig(a.astype(np.complex128))
    if (np.abs(wc.imag) > tol * (1 + np.abs(wc))).any():
        raise ValueError("eig: this real matrix has complex eigenvalues, which a real "
                         "result cannot hold; cast the input to complex128 "
                         "(T.cast(x, 'complex128')) to get them")
    return wc.real.astype(a.dtype), vc.real.astype(a.dtype)
"""

_REFLECT = _DEC + """def la_reflect(h, i, t, q, c0):
    # q[i:, c0:] = (I - t v v^H) q[i:, c0:], v = (1, h[i + 1:, i])
    for c in range(c0, q.shape[1]):
        s = q[i, c]
        for r in range(i + 1, h.shape[0]):
            s += np.conj(h[r, i]) * q[r, c]
        s *= t
        q[i, c] -= s
        for r in range(i + 1, h.shape[0]):
            q[r, c] -= h[r, i] * s
"""

_GEQRF = _DEC + """def la_geqrf(a):
    h = a.copy()
    m, n = h.shape
    tau = np.zeros(min(m, n), h.dtype)
    for i in range(tau.size):
        alpha = h[i, i]
        xnorm = 0.0
        for r in range(i + 1, m):
            xnorm = math.hypot(xnorm, abs(h[r, i]))
        if xnorm == 0 and alpha.imag == 0:
            continue
        beta = -np.copysign(math.hypot(abs(alpha), xnorm), alpha.real)
        tau[i] = (beta - alpha) / beta
        for r in range(i + 1, m):
            h[r, i] /= alpha - beta
        h[i, i] = beta
        la_reflect(h, i, np.conj(tau[i]), h, i + 1)
    return h, tau
"""

_ORGQR = _DEC + """def la_orgqr(h, tau, ncols):
    q = np.eye(h.shape[0], ncols, 0, h.dtype)
    for i in range(tau.size - 1, -1, -1):
        la_reflect(h, i, tau[i], q, 0)
    return q
"""

_EXPM = _DEC + """def la_expm(a):
    n = a.shape[0]
    norm = 0.0
    for j in range(n):
        col = 0.0
        for i in range(n):
            col += abs(a[i, j])
        norm = max(norm, col)
    if not np.isfinite(norm):
        return np.full((n, n), np.nan, a.dtype)
    thetas = (1.495585217958292e-2, 2.539398330063230e-1, 9.504178996162932e-1,
              2.097847961257068, 5.371920351148152)
    degrees = (3, 5, 7, 9, 13)
    m, s = 13, 0
    for i in range(4):
        if norm <= thetas[i]:
            m = degrees[i]
            break
    if m == 13 and norm > thetas[4]:
        s = int(np.ceil(np.log2(norm / thetas[4])))
    a = a * 0.5 ** s
    c = np.ones(m + 1)
    for j in range(1, m + 1):
        c[j] = c[j - 1] * (m - j + 1) / (j * (2 * m - j + 1))
    # p(a) = v + u, p(-a) = v - u: v sums the even powers, u the odd ones
    a2 = a @ a
    p = np.eye(n, n, 0, a.dtype)
    u = np.zeros((n, n), a.dtype)
    v = np.zeros((n, n), a.dtype)
    for j in range((m - 1) // 2 + 1):
        if j:
            p = p @ a2
        for r in range(n):
            for q in range(n):
                u[r, q] += c[2 * j + 1] * p[r, q]
                v[r, q] += c[2 * j] * p[r, q]
    u = a @ u
    for r in range(n):
        for q in range(n):
            u[r, q], v[r, q] = v[r, q] - u[r, q], v[r, q] + u[r, q]
    e = la_lu_solve(u, v)
    for _ in range(s):
        e = e @ e
    return e
"""

_TRIU = _DEC + """def la_triu(h, rows):
    r = np.zeros((rows, h.shape[1]), h.dtype)
    for i in range(rows):
        for j in range(i, h.shape[1]):
            r[i, j] = h[i, j]
    return r
"""

_SVD = _DEC + """def la_svd(a, full):
    m, n = a.shape
    if m == 0 or n == 0:
        u = np.eye(m, m if full else 0, 0, a.dtype)
        vh = np.eye(n if full else 0, n, 0, a.dtype)
        return u, np.zeros(0, a.real.dtype), vh
    u, s, vh = np.linalg.svd(a, full)
    return np.ascontiguousarray(u), s, np.ascontiguousarray(vh)
"""

_LSTSQ = _DEC + """def la_lstsq(a, b, rcond, eps):
    m, n = a.shape
    k = b.shape[1]
    if b.shape[0] != m:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    u, s, vh = la_svd(a, False)
    cut = (rcond if rcond >= 0 else eps) * (s[0] if s.size else 0.0)
    rank = 0
    for v in s:
        rank += v > cut
    c = np.zeros((rank, k), a.dtype)
    for i in range(rank):
        for j in range(k):
            for t in range(m):
                c[i, j] += np.conj(u[t, i]) * b[t, j]
            c[i, j] /= s[i]
    x = np.zeros((n, k), a.dtype)
    for i in range(n):
        for j in range(k):
            for t in range(rank):
                x[i, j] += np.conj(vh[t, i]) * c[t, j]
    res = np.zeros(k if rank == n and m > n else 0, s.dtype)
    for j in range(res.size):
        for i in range(m):
            r = b[i, j]
            for t in range(n):
                r -= a[i, t] * x[t, j]
            res[j] += abs(r) ** 2
    return x, res, rank, s
"""


def _use(ctx, *helpers):
    """Add these helper sources to the kernel's module (ctx.helper adds each once)."""
    for src in helpers:
        ctx.helper(src)


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


# op class: (name in errors when the matrix must be square, expression, helpers)
_SIMPLE = {MatrixInverse: ("matrix_inverse", "np.linalg.inv({})", ()),
           MatrixPinv: (None, "np.linalg.pinv({})", ()),
           Det: ("det", "la_det({})", (_LU, _DET)),
           Expm: ("expm", "la_expm({})", (_LU, _TRISOLVE, _LU_SOLVE, _EXPM))}


@register(*_SIMPLE)
def _simple(ctx, node, ins, outs):
    fn, expr, helpers = _SIMPLE[type(node.op)]
    work = None
    if isinstance(node.op, Expm):  # in double precision
        work = "complex128" if node.inputs[0].type.dtype.startswith("complex") else "float64"
    a = _unary(ctx, node, ins, fn, work)
    _use(ctx, *helpers)
    _results(ctx, node, outs, [expr.format(a)])


@register(Eig)
def _eig(ctx, node, ins, outs):
    a = _unary(ctx, node, ins, "eig")
    w, v = ctx.tmp("w"), ctx.tmp("v")
    work = _work_dtype(node.inputs[0].type.dtype)
    if np.dtype(work).kind == "c":
        ctx.line(f"{w}, {v} = np.linalg.eig({a})")
    else:
        _use(ctx, _EIG_REAL)
        ctx.line(f"{w}, {v} = la_eig_real({a}, {1e3 * np.finfo(work).eps!r})")
    _results(ctx, node, outs, [w, v])


@register(Eigh)
def _eigh(ctx, node, ins, outs):
    a = _unary(ctx, node, ins, "eigh")
    w, v = ctx.tmp("w"), ctx.tmp("v")
    _use(ctx, _HERM)
    ctx.line(f"{w}, {v} = np.linalg.eigh(la_herm({a}, {node.op.UPLO == 'L'}))")
    _results(ctx, node, outs, [w, v])


@register(QRFull)
def _qr(ctx, node, ins, outs):
    a = _unary(ctx, node, ins)
    h, tau = ctx.tmp("h"), ctx.tmp("tau")
    _use(ctx, _REFLECT, _GEQRF, _ORGQR, _TRIU)
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
    _use(ctx, _SVD)
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
    _use(ctx, _SVD, _LSTSQ)
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
    _use(ctx, _HERM, _CHOLESKY)
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
        _use(ctx, _TRISOLVE)
        x = f"la_trisolve({am}, {_as_matrix(bm, bv)}, {structure.startswith('lower')})"
    else:
        _use(ctx, _LU, _TRISOLVE, _LU_SOLVE)
        x = f"la_lu_solve({am}, {_as_matrix(bm, bv)})"
    _results(ctx, node, outs, [x if bv.type.ndim == 2 else f"{x}.reshape({bm}.shape[0])"])


@register(Eigvalsh)
def _eigvalsh(ctx, node, ins, outs):
    _check_dtypes(node)
    work = _work_dtype(*(v.type.dtype for v in node.inputs))
    a = _matrix(ctx, ins[0], node.inputs[0], work, "eigvalsh")
    lower = node.op.lower
    _use(ctx, _HERM)
    if len(ins) == 1:
        _finite(ctx, a)
        _results(ctx, node, outs, [f"np.linalg.eigvalsh(la_herm({a}, {lower}))"])
        return
    with ctx.block(f"if {ins[1]}.shape[0] != {a}.shape[0] or "
                   f"{ins[1]}.shape[1] != {a}.shape[1]:"):
        ctx.line("raise ValueError('eigvalsh: b must have the shape of a')")
    b = _matrix(ctx, ins[1], node.inputs[1], work)
    _finite(ctx, a, b)
    _use(ctx, _TRISOLVE, _GEIGVALSH)
    _results(ctx, node, outs, [f"la_geigvalsh({a}, {b}, {lower})"])
