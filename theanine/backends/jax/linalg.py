"""Products and linear algebra: Dot, BatchedDot, Gemm, and the numpy.linalg /
scipy.linalg ops.

Products use Precision.HIGHEST: on GPUs XLA would otherwise multiply float32
matrices in TF32 (about 3 significant digits), and theanine's results are
NumPy's. Matrix functions read the triangle NumPy/SciPy read (no symmetrising).
Where LAPACK raises (a singular matrix, a matrix that is not positive definite)
XLA returns inf/NaN: a run-time check raises numpy.linalg.LinAlgError instead.
Eig has no XLA implementation on GPUs: there it runs through a callback.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from theanine.tensor.blas import Gemm
from theanine.tensor.linalg import BatchedDot, Dot
from theanine.tensor.nlinalg import (
    SVD,
    Det,
    Eig,
    Eigh,
    Lstsq,
    MatrixInverse,
    MatrixPinv,
    QRFull,
)
from theanine.tensor.slinalg import Cholesky, Eigvalsh, Expm, Solve

from . import callback
from .checks import require
from .evaluate import static_inputs
from .registry import lowerings

HIGHEST = jax.lax.Precision.HIGHEST


def _aligned(a, b):
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned: the last "
                         f"dimension of a ({a.shape[-1]}) must equal the first dimension of b "
                         f"({b.shape[0]})")


@lowerings.register(Dot)
def _dot(node, a, b):
    _aligned(a, b)
    dt = node.outputs[0].type.dtype
    return jnp.dot(jnp.asarray(a).astype(dt), jnp.asarray(b).astype(dt), precision=HIGHEST)


@lowerings.register(BatchedDot)
def _batched_dot(node, a, b):
    if a.shape[0] != b.shape[0] or a.shape[-1] != b.shape[1]:
        raise ValueError(f"batched_dot: shapes {a.shape} and {b.shape} do not match: the batch "
                         "sizes (first dims) must be equal and the last dimension of a must "
                         "equal the second dimension of b")
    dt = node.outputs[0].type.dtype
    a, b = jnp.asarray(a).astype(dt), jnp.asarray(b).astype(dt)
    sa = "bk" if a.ndim == 2 else "bnk"
    sb = "bk" if b.ndim == 2 else "bkm"
    out = "b" + sa[1:-1] + sb[2:]
    return jnp.einsum(f"{sa},{sb}->{out}", a, b, precision=HIGHEST)


@lowerings.register(Gemm)
def _gemm(node, z, a, x, y, b):
    _aligned(x, y)
    r = jnp.dot(x, y, precision=HIGHEST)
    bz = node.inputs[0].type.broadcastable
    if z.ndim != r.ndim or any(n != m and not (bc and n == 1)
                               for n, m, bc in zip(z.shape, r.shape, bz)):
        raise ValueError(f"Gemm: dot(x, y) has shape {r.shape} but z has shape {z.shape}")
    return a * r + b * z


def _lapack(x):
    """float16 (which LAPACK lacks) as float32; ints as the output's float."""
    x = jnp.asarray(x)
    if x.dtype == jnp.float16:
        return x.astype("float32")
    return x


def _float_input(node, x):
    dt = node.outputs[0].type.dtype
    x = jnp.asarray(x)
    return _lapack(x.astype(dt) if x.dtype.kind in "biu" else x)


def _square(x, fn):
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{fn}: expected a square matrix, got shape {x.shape}")


def _finite(r, what):
    require(jnp.all(jnp.isfinite(r)), np.linalg.LinAlgError, what)


@lowerings.register(MatrixInverse)
def _inv(node, x):
    x = _float_input(node, x)
    _square(x, "matrix_inverse")
    r = jnp.linalg.inv(x)
    _finite(r, "Singular matrix")
    return r


@lowerings.register(MatrixPinv)
def _pinv(node, x):
    return jnp.linalg.pinv(_float_input(node, x), rtol=1e-15)


@lowerings.register(Det)
def _det(node, x):
    x = _float_input(node, x)
    _square(x, "det")
    return jnp.linalg.det(x)


@lowerings.register(Eig)
def _eig(node, x):
    if jax.default_backend() != "cpu":
        return callback.run(node, [x])  # XLA has eig on CPUs only
    x = _float_input(node, x)
    _square(x, "eig")
    w, v = jnp.linalg.eig(x)
    if not node.outputs[0].type.dtype.startswith("complex"):
        eps = float(jnp.finfo(w.real.dtype).eps)
        require(jnp.all(jnp.abs(w.imag) <= 1e3 * eps * (1 + jnp.abs(w))), ValueError,
                "eig: this real matrix has complex eigenvalues, which a real-valued eig "
                "cannot return; cast the input to complex128 first")
        w, v = w.real, v.real
    return w, v


@lowerings.register(Eigh)
def _eigh(node, x):
    x = _float_input(node, x)
    _square(x, "eigh")
    w, v = jnp.linalg.eigh(x, UPLO=node.op.UPLO, symmetrize_input=False)
    return w, v


@lowerings.register(QRFull)
def _qr(node, x):
    x = _float_input(node, x)
    mode = node.op.mode
    if mode == "raw":
        return callback.run(node, [x])  # LAPACK's Householder form: no XLA equivalent
    res = jnp.linalg.qr(x, mode=mode)
    return res if mode == "r" else tuple(res)


@lowerings.register(SVD)
def _svd(node, x):
    op = node.op
    res = jnp.linalg.svd(_float_input(node, x), full_matrices=op.full_matrices,
                         compute_uv=op.compute_uv)
    return tuple(res) if op.compute_uv else res


@lowerings.register(Lstsq)
@static_inputs(2)
def _lstsq(node, a, b, rcond):
    raise callback.NeedsHost("lstsq inside a loop body: its residuals' length depends on "
                             "the rank")


def _lstsq_raw(node, a, b, rcond):
    """In the segment: x, the residuals of every column, rank, s, and a's row count;
    ``_lstsq_finish`` empties the residuals where NumPy does (rank < n or m <= n)."""
    dt = node.outputs[0].type.dtype
    a, b = _lapack(jnp.asarray(a).astype(dt)), _lapack(jnp.asarray(b).astype(dt))
    x, resid, rank, s = jnp.linalg.lstsq(a, b, rcond=float(rcond))
    return x, resid, rank, s, jnp.int64(a.shape[0])


def _lstsq_finish(node, raw):
    x, resid, rank, s, m = raw
    n = x.shape[0]
    if int(rank) < n or int(m) <= n:
        resid = jnp.zeros((0,), resid.dtype)
    return [x, resid, rank, s]


_lstsq.deferred = _lstsq_raw
_lstsq.finish = _lstsq_finish


def _triangle(x, lower):
    t = jnp.tril(x) if lower else jnp.triu(x)
    return t + (jnp.tril(x, -1) if lower else jnp.triu(x, 1)).T


@lowerings.register(Cholesky)
def _cholesky(node, x):
    op = node.op
    x = _float_input(node, x)
    _square(x, "cholesky")
    if op.lower:
        c = jax.lax.linalg.cholesky(x, symmetrize_input=False)
    else:
        c = jax.lax.linalg.cholesky(x.T, symmetrize_input=False).T
    bad = jnp.any(jnp.isnan(c))
    if op.on_error == "nan":
        return jnp.where(bad, jnp.full(c.shape, jnp.nan, c.dtype), c)
    require(jnp.logical_not(bad), np.linalg.LinAlgError,
            "cholesky: the matrix is not positive definite; use Cholesky(on_error='nan') to "
            "get NaN instead of this error")
    return c


@lowerings.register(Solve)
def _solve(node, a, b):
    a, b = _float_input(node, a), _float_input(node, b)
    _square(a, "solve")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"solve: a of shape {a.shape} and b of shape {b.shape} do not match: "
                         "b must have as many rows as a")
    st = node.op.A_structure
    if st.endswith("triangular"):
        return jsl.solve_triangular(a, b, lower=st.startswith("lower"))
    x = jnp.linalg.solve(a, b)
    _finite(x, "Singular matrix")
    return x


@lowerings.register(Eigvalsh)
def _eigvalsh(node, a, b=None):
    lower = node.op.lower
    a = _float_input(node, a)
    _square(a, "eigvalsh")
    a = _triangle(a, lower)
    if b is None:
        return jnp.linalg.eigvalsh(a, UPLO="L", symmetrize_input=False)
    b = _float_input(node, b)
    if b.shape != a.shape:
        raise ValueError(f"eigvalsh: b of shape {b.shape} must have the shape of a "
                         f"{a.shape}")
    chol = jax.lax.linalg.cholesky(_triangle(b, lower), symmetrize_input=False)
    _finite(chol, "eigvalsh: b is not positive definite")
    t = jsl.solve_triangular(chol, a, lower=True)
    c = jsl.solve_triangular(chol, t.T, lower=True)
    return jnp.linalg.eigvalsh(c, UPLO="L", symmetrize_input=False)


@lowerings.register(Expm)
def _expm(node, a):
    a = _float_input(node, a)
    _square(a, "expm")
    return jsl.expm(a)
