"""c = alpha * a @ b + beta * c in compiled code, with NumPy's own BLAS (see blas.py),
and ``dot_checked``: np.dot of a vector and a matrix (or two matrices where BLAS
is not found) with its shape check and np.dot's zero-factor rule.

``gemm_into`` calls NumPy's ``cblas_?gemm``, registered with LLVM by name, so
compiled kernels stay cacheable. Where NumPy ships no OpenBLAS, the emitters use
np.dot instead (``blas.available``).

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import llvmlite.binding as ll
import numba
import numpy as np
from numba import types
from numba.extending import overload

from .blas import NAMES, addresses

__all__ = ["gemm_into", "dot_checked"]


def _gemm_functions():
    found = addresses()
    out = {}
    i32, i64 = types.int32, types.int64
    for dt, name in NAMES.items():
        if name in found:
            ll.add_symbol(name, found[name])
            f = types.float32 if dt == "float32" else types.float64
            p = types.CPointer(f)
            out[dt] = types.ExternalFunction(
                name, types.void(i32, i32, i32, i64, i64, i64, f, p, i64, p, i64, f, p, i64))
    return out

_GEMM = _gemm_functions()
_ROW, _NOTRANS, _TRANS = 101, 111, 112  # CblasRowMajor, CblasNoTrans, CblasTrans
_ROWS = 64  # row block of a tall product


def gemm_into(alpha, a, b, beta, c):
    """c = alpha * a @ b + beta * c in place, for matrices (compiled code only)."""
    raise NotImplementedError("gemm_into runs in compiled code")


@overload(gemm_into)
def _gemm_into(alpha, a, b, beta, c):
    if not (isinstance(c, types.Array) and c.dtype.name in _GEMM):
        return None
    fn = _GEMM[c.dtype.name]
    dt = c.dtype

    def impl(alpha, a, b, beta, c):
        m, k = a.shape
        n = b.shape[1]
        if k == 0 or m == 0 or n == 0:  # no product: BLAS is not called
            if beta == 0:
                c[:] = 0  # c may hold garbage (np.empty), which beta * c would keep
            else:
                c *= dt(beta)
            return
        if a.T.flags.c_contiguous and not a.flags.c_contiguous:  # a transposed view
            ta, lda, ac = _TRANS, m, np.ascontiguousarray(a.T)
        else:
            ta, lda, ac = _NOTRANS, k, np.ascontiguousarray(a)
        if b.T.flags.c_contiguous and not b.flags.c_contiguous:
            tb, ldb, bc = _TRANS, k, np.ascontiguousarray(b.T)
        else:
            tb, ldb, bc = _NOTRANS, n, np.ascontiguousarray(b)
        if ta == _NOTRANS and m >= 2 * _ROWS and k * n <= 8192:
            # a tall a times a small b: 64-row blocks skip OpenBLAS's packing of a
            # (as matrix_product in tensor/linalg.py)
            for r in range(0, m, _ROWS):
                rows = min(_ROWS, m - r)
                fn(_ROW, ta, tb, rows, n, k, dt(alpha), ac[r:].ctypes, lda, bc.ctypes, ldb,
                   dt(beta), c[r:].ctypes, n)
            return
        fn(_ROW, ta, tb, m, n, k, dt(alpha), ac.ctypes, lda, bc.ctypes, ldb, dt(beta),
           c.ctypes, n)

    return impl


@numba.njit(error_model="numpy", nogil=True)
def dot_checked(x, y, skip_zero):
    """np.dot(x, y) (not both vectors), raising ValueError where the shapes do not
    align; where `skip_zero` and one operand has a single element, 0, and the other
    more, all zeros (np.dot's rule on this NumPy: blas.one_element_dot_skips_zero).

    One compiled function per signature that generated code calls, not the same
    lines at each product: a loop body of 5 matrix-vector products compiled ~30%
    faster this way (the product is no faster or slower)."""
    if x.shape[-1] != y.shape[0]:
        raise ValueError("dot: shapes are not aligned")
    r = np.dot(x, y)
    if skip_zero and ((x.size == 1 and y.size > 1 and x.ravel()[0] == 0)
                      or (y.size == 1 and x.size > 1 and y.ravel()[0] == 0)):
        r[:] = 0
    return r
