"""Backends: each turns a FunctionGraph into one Python callable.

``link(backend, fgraph, **options)`` returns ``fn(*input_values) -> tuple of
output values``. Backends live in their own folders; a backend's heavy
dependency (numba, jax) is imported only inside its folder. Each keeps its per-op
implementations in one theanine.graph.dispatch.Registry (README.md: how to add
an op to a backend).
"""

from __future__ import annotations

import importlib

BACKENDS = {"py": "theanine.backends.py.linker", "numba": "theanine.backends.numba.linker",
            "debug": "theanine.backends.numba.debug"}


def link(backend, fgraph, **options):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {sorted(BACKENDS)}")
    return importlib.import_module(BACKENDS[backend]).link(fgraph, **options)


def available(backend):
    try:
        importlib.import_module(BACKENDS[backend]).check_available()
        return True
    except (ImportError, KeyError):
        return False
