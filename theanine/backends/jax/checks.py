"""Run-time checks inside jitted code: errors as values.

XLA cannot raise. Where NumPy raises on a value (an index out of bounds, a class
index out of range, a bad distribution parameter), a lowering calls
``require(ok, exc_type, message)``:

- ``ok`` known when tracing (NumPy): raise at once if it is false (shapes are
  known when tracing, so shape errors surface then, before anything runs);
- ``ok`` traced: the check is recorded in the active ``Collector``. The jitted
  function returns one int32 code (0: every check held; k: the check registered
  as k in the function's ``MessageTable`` failed first), and the linker raises
  ``exc_type(message)`` after the call, before any shared value is written.
  ``Function`` then replays the graph on the py backend to name the failing node
  and its exact NumPy error.

A loop body collects its own checks; the loop lowering carries their code and
adds it to the enclosing collector (``add_code``).
"""

from __future__ import annotations

import contextlib

import jax.numpy as jnp
import numpy as np

_STACK = []


class MessageTable:
    """The errors a function's checks can raise, numbered from 1 (stable across
    retraces: the same check gets the same number)."""

    def __init__(self):
        self.entries = []
        self._index = {}

    def number(self, exc_type, message):
        key = (exc_type, message)
        if key not in self._index:
            self.entries.append(key)
            self._index[key] = len(self.entries)
        return self._index[key]

    def error(self, code):
        """The exception for a returned code (None for 0)."""
        code = int(code)
        if code == 0:
            return None
        exc, msg = self.entries[code - 1]
        return exc(msg)


class Collector:
    """The checks recorded while tracing one body."""

    def __init__(self, table):
        self.table = table
        self.codes = []  # traced int32 scalars, 0 where the check held

    def code(self):
        """int32 scalar: 0, or the number of the first failing check."""
        code = jnp.int32(0)
        for c in reversed(self.codes):
            code = jnp.where(c != 0, c, code)
        return code


@contextlib.contextmanager
def collecting(table=None):
    """Collect the checks of a body traced inside the block (the enclosing body's
    table when `table` is None)."""
    if table is None:
        if not _STACK:
            raise RuntimeError("theanine jax backend: a nested body traced outside a "
                               "function body")
        table = _STACK[-1].table
    c = Collector(table)
    _STACK.append(c)
    try:
        yield c
    finally:
        _STACK.pop()


def require(ok, exc_type, message):
    """Raise exc_type(message) where `ok` (a bool array) is not true everywhere."""
    if isinstance(ok, (bool, np.bool_, np.ndarray)):
        if not np.all(ok):
            raise exc_type(message)
        return
    if not _STACK:
        raise RuntimeError("theanine jax backend: a run-time check outside a traced body")
    c = _STACK[-1]
    n = c.table.number(exc_type, message)
    c.codes.append(jnp.where(jnp.all(ok), jnp.int32(0), jnp.int32(n)))


def add_code(code):
    """Add the combined code of an inner body (carried out of a loop or branch)."""
    _STACK[-1].codes.append(code)
