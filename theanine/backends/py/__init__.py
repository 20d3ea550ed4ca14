"""The py backend: NumPy reference implementations, one generated function per graph.

Most ops run their own ``compute`` / ``perform``; the modules below register
faster implementations of a few (``linker.IMPLS``, loaded at the first lookup).
"""

IMPL_MODULES = [
    "theanine.backends.py.blas",  # Gemm
    "theanine.backends.py.elemwise",  # Elemwise
    "theanine.backends.py.fused",  # Composite
]
