"""What generated kernels import: ``from theanine.backends.numba.runtime import *``.

Gathers the ``__all__`` of the kernel modules (kernels/: real ``@numba.njit``
code with unit tests, importing nothing from theanine), so a kernel calls
``la_lu_solve(a, b)`` or ``psi_f64(x)`` by name and a kernel loaded from the disk
cache imports numba, NumPy and these modules only.
"""

from __future__ import annotations

from .kernels import (
    basic,
    callback,
    conv,
    gemm,
    linalg,
    mrg,
    special,
    unique,
    vecmath,
    vector_width,
)
from .kernels.basic import *  # noqa: F401,F403
from .kernels.callback import *  # noqa: F401,F403
from .kernels.conv import *  # noqa: F401,F403
from .kernels.gemm import *  # noqa: F401,F403
from .kernels.linalg import *  # noqa: F401,F403
from .kernels.mrg import *  # noqa: F401,F403
from .kernels.special import *  # noqa: F401,F403
from .kernels.unique import *  # noqa: F401,F403
from .kernels.vecmath import *  # noqa: F401,F403
from .kernels.vector_width import *  # noqa: F401,F403

KERNEL_MODULES = (basic, callback, conv, gemm, linalg, mrg, special, unique, vecmath,
                  vector_width)
__all__ = [name for m in KERNEL_MODULES for name in m.__all__]
