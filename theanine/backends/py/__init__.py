"""The py backend: NumPy reference implementations, one generated function per graph."""

from . import (
    blas,  # noqa: E402,F401  (registers the Gemm implementation)
    elemwise,  # noqa: E402,F401  (registers the fast Elemwise implementation)
    fused,  # noqa: E402,F401  (registers the Composite implementation)
)
