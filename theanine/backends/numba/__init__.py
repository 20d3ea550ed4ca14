"""The numba backend: Python glue around numba-compiled kernels (see linker.py).

Only this folder imports numba. Entry points: ``linker.link`` (the backend),
``linker.set_policy`` / ``linker.policy`` (when kernels compile), and the
registry (``registry.register``) for op implementations.
"""
