"""Matrix algebra in explicit loops, for the numba emitters of nlinalg and slinalg.

numba's np.linalg (LAPACK) does inv, pinv, eig, eigh, eigvalsh, cholesky and svd;
these do the rest (numba's solve with a matrix right-hand side, lstsq, triu and
diff each take seconds to compile): a Hermitian matrix from one triangle (UPLO);
LU with partial pivoting (getrf's) for det (sign * exp(log|det|), as NumPy) and
the general solve; triangular solves; eigvalsh(a, b) reduced to
eigvalsh(L^-1 a L^-H) with b = L L^H (as sygvd); QR by Householder reflectors
with LAPACK's conventions (geqrf / orgqr: 'raw' is LAPACK's (h, tau)); expm by
scaling and squaring with a Pade approximant of degree 3 to 13 (Higham 2005);
lstsq from the SVD (minimum-norm solution, rank = the singular values above
rcond * max, as gelsd); empty matrices, which numba's wrappers refuse.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["la_herm", "la_lu", "la_det", "la_trisolve", "la_lu_solve", "la_geigvalsh",
           "la_cholesky", "la_eig_real", "la_reflect", "la_geqrf", "la_orgqr", "la_triu",
           "la_expm", "la_svd", "la_lstsq"]

_J = numba.njit(error_model="numpy", nogil=True)


@_J
def la_herm(a, lower):
    n = a.shape[0]
    h = np.empty((n, n), a.dtype)
    for i in range(n):
        for j in range(n):
            if i == j or (i > j) == lower:
                h[i, j] = a[i, j]
            else:
                h[i, j] = np.conj(a[j, i])
    return h


@_J
def la_lu(a):
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


@_J
def la_det(a):
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


@_J
def la_trisolve(a, b, lower):
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


@_J
def la_lu_solve(a, b):
    lu, piv, parity = la_lu(a)
    x = b[piv]
    for c in range(b.shape[1]):
        for i in range(b.shape[0]):
            for j in range(i):
                x[i, c] -= lu[i, j] * x[j, c]
    return la_trisolve(lu, x, False)


@_J
def la_geigvalsh(a, b, lower):
    chol = np.linalg.cholesky(la_herm(b, lower))
    x = la_trisolve(chol, la_herm(a, lower), True)
    return np.linalg.eigvalsh(la_trisolve(chol, np.ascontiguousarray(np.conj(x.T)), True))


@_J
def la_cholesky(h, nan):
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


@_J
def la_eig_real(a, tol):
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


@_J
def la_reflect(h, i, t, q, c0):
    # q[i:, c0:] = (I - t v v^H) q[i:, c0:], v = (1, h[i + 1:, i])
    for c in range(c0, q.shape[1]):
        s = q[i, c]
        for r in range(i + 1, h.shape[0]):
            s += np.conj(h[r, i]) * q[r, c]
        s *= t
        q[i, c] -= s
        for r in range(i + 1, h.shape[0]):
            q[r, c] -= h[r, i] * s


@_J
def la_geqrf(a):
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


@_J
def la_orgqr(h, tau, ncols):
    q = np.eye(h.shape[0], ncols, 0, h.dtype)
    for i in range(tau.size - 1, -1, -1):
        la_reflect(h, i, tau[i], q, 0)
    return q


@_J
def la_triu(h, rows):
    r = np.zeros((rows, h.shape[1]), h.dtype)
    for i in range(rows):
        for j in range(i, h.shape[1]):
            r[i, j] = h[i, j]
    return r


@_J
def la_expm(a):
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


@_J
def la_svd(a, full):
    m, n = a.shape
    if m == 0 or n == 0:
        u = np.eye(m, m if full else 0, 0, a.dtype)
        vh = np.eye(n if full else 0, n, 0, a.dtype)
        return u, np.zeros(0, a.real.dtype), vh
    u, s, vh = np.linalg.svd(a, full)
    return np.ascontiguousarray(u), s, np.ascontiguousarray(vh)


@_J
def la_lstsq(a, b, rcond, eps):
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
