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
            "debug": "theanine.backends.numba.debug", "jax": "theanine.backends.jax.linker"}

# what to install for a backend whose dependency is missing
INSTALL = {"numba": "pip install numba", "debug": "pip install numba",
           "jax": "pip install theanine[jax]"}


def link(backend, fgraph, **options):
    return load(backend).link(fgraph, **options)


def load(backend):
    """The backend's linker module; a missing dependency is an ImportError that says
    what to install."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {sorted(BACKENDS)}")
    try:
        return importlib.import_module(BACKENDS[backend])
    except ImportError as e:
        if backend not in INSTALL or (e.name or "").startswith("theanine"):
            raise
        raise ImportError(f"the {backend} backend needs {e.name}, which is not installed "
                          f"({e}); install it with: {INSTALL[backend]}") from e


def available(backend):
    try:
        importlib.import_module(BACKENDS[backend]).check_available()
        return True
    except (ImportError, KeyError):
        return False
