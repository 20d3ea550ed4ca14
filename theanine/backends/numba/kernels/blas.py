"""Where NumPy's own BLAS is, for matrix products in compiled code (gemm.py).

numba's ``np.dot`` calls SciPy's BLAS through a wrapper that allocates the result
and checks its arguments; in a loop body that costs: a 32x256 by 256x256 float32
product took 54 us per step against 44 us calling NumPy's OpenBLAS directly (1.2
against 0.8 us at 32x32). gemm.gemm_into calls NumPy's ``cblas_?gemm``
(registered with LLVM by name, so compiled kernels stay cacheable).

``one_element_dot_skips_zero`` says how NumPy's dot treats 0 * inf when an
operand has a single element (see there).

Only where NumPy ships its OpenBLAS (``numpy.libs/libscipy_openblas64_*``, the
Linux wheels) is ``available()`` true; elsewhere the emitters keep ``np.dot``.
This module does not import numba (emitters ask it at link time).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

NAMES = {"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}


@functools.cache
def addresses():
    """{symbol name: address} of NumPy's cblas gemm routines, or {} if not found."""
    base = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(base, "libscipy_openblas64_*"))):
        try:
            lib = ctypes.CDLL(path)
            return {n: ctypes.cast(getattr(lib, n), ctypes.c_void_p).value
                    for n in NAMES.values()}
        except (OSError, AttributeError):
            continue
    return {}


def available(dtype):
    """Whether compiled code calls NumPy's gemm for this dtype (else np.dot)."""
    return dtype in NAMES and bool(addresses())


@functools.cache
def one_element_dot_skips_zero(dtype):
    """Whether NumPy's np.dot gives 0, not NaN, for 0 * inf when one operand has a
    single element and the other more (a length-1 vector or a 1x1 matrix).

    NumPy's dot treats such an operand as a scalar s and computes s * other with
    BLAS axpy into zeros; OpenBLAS's axpy returns at once when s == 0, so the result
    is all zeros even where `other` holds inf or NaN (np.dot(zeros(1), [[inf, 1]])
    is [0, 0]; np.matmul gives [nan, 0]). The py backend's dot is np.dot, the
    reference, so compiled code does the same where this NumPy does
    (ops_linalg._zero_factor); asked of NumPy itself, since another BLAS may not skip.
    """
    dt = np.dtype(dtype)
    if dt.kind not in "fc":
        return False
    with np.errstate(all="ignore"):
        r = np.dot(np.zeros(1, dt), np.array([[np.inf, 1.0]], dt))
    return not np.isnan(r).any()
