"""Python code called from compiled kernels (``numba.objmode`` blocks).

The numba emitter of an op that must run Python (Print, as_op) numbers the op in
this process (``add``) and writes ``run_python(number, *values)`` into the
kernel's text. The number is looked up at run time, so a kernel with that text
loaded from the disk cache (compiled by another process, where the number named
another op with the same input and output types) calls this process's op.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import threading

__all__ = ["run_python"]

_CALLS = []  # number -> callable(*values) -> tuple of output arrays (or None)
_LOCK = threading.Lock()


def add(call):
    """Number `call` in this process; returns its number."""
    with _LOCK:
        _CALLS.append(call)
        return len(_CALLS) - 1


def run_python(key, *values):
    """Run callable number `key` on NumPy values (called in objmode)."""
    return _CALLS[key](*values)
