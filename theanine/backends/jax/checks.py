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

Range checks on the host (``require_range``): where the checked integer array is
an explicit argument of the top-level jitted function, or holds exactly its values
(a reshape, transpose or value-preserving cast of it: ``same_values``), the check
is recorded as a host check instead, and the linker runs it in NumPy on the
argument before the executable runs (``check_host``: a min and a max of an index
array), so nothing has run or been donated when it raises. XLA compiles each
in-graph check as kernels of its own (an embedding lookup's bound check cost
about 60 ms of a model's compile time); a host check costs none. Only the
top-level body does this: a check inside a loop or branch holds only when that
step or branch runs, so it stays in the graph.
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
    """The checks recorded while tracing one body. The top-level body's collector
    is given the traced arguments whose range checks may run on the host
    (`host_args`: {argument position: traced value})."""

    def __init__(self, table, host_args=None):
        self.table = table
        self.codes = []  # traced int32 scalars, 0 where the check held
        # id(value) -> (value, argument position): values equal to an argument's. The
        # value is kept so that an id reused by another object never matches
        self.values = {id(v): (v, k) for k, v in (host_args or {}).items()}
        self.host = {}  # (argument position, lo, hi) -> error(bad entry)
        self.ranges = {}  # id(value) -> (value, least, greatest): entries known to lie there

    def code(self):
        """int32 scalar: 0, or the number of the first failing check."""
        code = jnp.int32(0)
        for c in reversed(self.codes):
            code = jnp.where(c != 0, c, code)
        return code


@contextlib.contextmanager
def collecting(table=None, host_args=None):
    """Collect the checks of a body traced inside the block (the enclosing body's
    table when `table` is None); `host_args` see Collector."""
    if table is None:
        if not _STACK:
            raise RuntimeError("theanine jax backend: a nested body traced outside a "
                               "function body")
        table = _STACK[-1].table
    c = Collector(table, host_args)
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


def same_values(out, x):
    """Declare that traced `out` holds exactly the values of `x` (reshaped, transposed
    or cast without loss): a range check of `out` may run on the host where one of
    `x` may."""
    if _STACK:
        c = _STACK[-1]
        hit = c.values.get(id(x))
        if hit is not None and hit[0] is x:
            c.values[id(out)] = (out, hit[1])


def known_range(x, least, greatest):
    """Declare that every entry of traced `x` lies in [least, greatest] (known when
    tracing, e.g. an arange of static bounds): a range check that this implies is
    dropped."""
    if _STACK:
        _STACK[-1].ranges[id(x)] = (x, least, greatest)


def require_range(a, lo, hi, exc_type, message, error):
    """Check that every entry of the integer array `a` is in [lo, hi): NumPy values at
    once, an argument's values (see same_values) on the host before the call, others
    in the graph (`exc_type(message)`). `error(v)` is the exception for a known bad
    entry v."""
    if isinstance(a, (np.ndarray, np.generic, int)):
        a = np.asarray(a)
        bad = (a < lo) | (a >= hi)
        if bad.any():
            raise error(a[bad].reshape(-1)[0])
        return
    c = _STACK[-1] if _STACK else None
    known = None if c is None else c.ranges.get(id(a))
    if known is not None and known[0] is a and lo <= known[1] and known[2] < hi:
        return
    hit = None if c is None else c.values.get(id(a))
    if hit is not None and hit[0] is a and all(isinstance(b, (int, np.integer))
                                               for b in (lo, hi)):
        k, lo, hi = hit[1], int(lo), int(hi)
        if not any(j == k and lo <= lo2 and hi2 <= hi for j, lo2, hi2 in c.host):
            c.host[(k, lo, hi)] = error  # (unless an earlier check implies it)
        return
    if a.dtype.kind == "u":  # compared with a negative bound, an unsigned one would wrap
        a = a.astype("int64")
    require((a >= lo) & (a < hi), exc_type, message)


def check_host(host, args):
    """Run the host checks `host` ((argument position, lo, hi), error) on `args`:
    raise the error of the first that fails."""
    for (k, lo, hi), error in host:
        a = args[k]
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
        if a.size and (int(a.min()) < lo or int(a.max()) >= hi):
            raise error(a[(a < lo) | (a >= hi)].reshape(-1)[0])
