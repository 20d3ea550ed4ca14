"""The py backend: NumPy reference implementations, one generated function per graph."""

from . import (
    elemwise,  # noqa: E402,F401  (registers the fast Elemwise implementation)
    fused,  # noqa: E402,F401  (registers the Composite implementation)
)
