"""Where NumPy's own BLAS is, for matrix products in compiled code (gemm.py).

numba's ``np.dot`` calls SciPy's BLAS through a wrapper that allocates the result
and checks its arguments; in a loop body that costs: a 32x256 by 256x256 float32
product took 54 us per step against 44 us calling NumPy's OpenBLAS directly (1.2
against 0.8 us at 32x32). gemm.gemm_into calls NumPy's ``cblas_?gemm``
(registered with LLVM by name, so compiled kernels stay cacheable).

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
