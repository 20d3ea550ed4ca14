"""Compiled code that generated kernels call: real ``@numba.njit`` modules.

Generated kernel modules import them all with
``from theanine.backends.numba.runtime import *``; runtime.py gathers their
``__all__``. Rules for a module here:

- it imports nothing from theanine outside this folder, so a kernel loaded from
  the disk cache imports numba, NumPy and these modules only;
- every name a kernel calls is in its ``__all__``, prefixed by its family (la_,
  conv_, mrg_, unique_) where it is not a plain math function;
- its source is part of every kernel's cache key (store.version_tag hashes this
  folder), since numba's cache of a kernel does not notice a changed callee;
- it has unit tests against NumPy / SciPy (tests/backends/test_numba_kernels.py).

Modules: vecmath (vectorisable exp/log/tanh/sigmoid), special (psi, trigamma,
gammaln, softplus, erfinv, erfcx), basic (NaN-aware max/min, index checks, ring
buffers), gemm and blas (NumPy's BLAS from compiled code), linalg (LU, solves, QR,
expm, lstsq), conv (im2col convolutions), mrg (MRG31k3p uniforms, multinomial
and choice draws), unique (np.unique's sort and masks), callback (Python calls
from objmode blocks), vector_width (a kernel's request for 512-bit vectors).
"""
