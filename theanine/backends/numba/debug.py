"""DebugMode: every node runs on py and as a numba kernel, side by side.

Each node with a numba implementation is compiled on its own (policy sync,
every node), run on the same inputs as its NumPy implementation, and the two
results are compared: same shape and dtype, values equal (floats within a
tolerance of their precision, NaN where NaN). A mismatch raises
``DebugModeError`` naming the node; the py result feeds the next node, so one
bad implementation is reported where it is, not downstream. Outputs are
checked against their types too. Without numba, this is the py backend with
type checks.
"""

from __future__ import annotations

import numpy as np

from theanine.backends.py.linker import link as py_link
from theanine.backends.py.linker import py_funcify

from . import linker as nl
from . import store
from .registry import Unsupported, emitter_for

_RTOL = {"float16": 1e-2, "float32": 1e-4, "complex64": 1e-4}


class DebugModeError(AssertionError):
    """py and numba computed different values for one node."""


def check_available():
    return True


def compare(node, ref, got):
    refs = (ref,) if len(node.outputs) == 1 else ref
    gots = (got,) if len(node.outputs) == 1 else got
    for k, (a, b) in enumerate(zip(refs, gots)):
        if not isinstance(a, np.ndarray):
            continue
        b = np.asarray(b)
        where = f"node {node.op} output {k}"
        if a.shape != b.shape or a.dtype != b.dtype:
            raise DebugModeError(f"DebugMode: {where}: py gives shape {a.shape} dtype "
                                 f"{a.dtype}, numba shape {b.shape} dtype {b.dtype}")
        if a.dtype.kind in "fc":
            rtol = _RTOL.get(a.dtype.name, 1e-7)
            ok = np.allclose(a, b, rtol=rtol, atol=rtol * 1e-3, equal_nan=True)
        else:
            ok = np.array_equal(a, b)
        if not ok:
            with np.errstate(all="ignore"):
                diff = np.nanmax(np.abs(a.astype(complex) - b.astype(complex))) if a.size else 0
            raise DebugModeError(f"DebugMode: {where}: py and numba differ (max abs "
                                 f"difference {diff}); inputs {[str(v) for v in node.inputs]}")


def link(fgraph, check_types=False, allow_gc=True, profile=None, **_):
    try:
        nl.check_available()
    except ImportError:  # numba is not installed
        return py_link(fgraph, check_types=True, allow_gc=allow_gc, profile=profile)

    def funcify(op, node):
        base = py_funcify(op, node)
        if emitter_for(op) is None or not all(nl.codegen.is_tensor(v)
                                              for v in node.inputs + node.outputs):
            return base
        try:
            nk = nl.NodeKernel(store.get(nl.kernel_text(node)), node, base)
        except Unsupported:
            return base
        if not nk.compile_now():
            return base

        def run(*args):
            ref = base(*args)
            compare(node, ref, nk.call(*args))
            return ref

        return run

    return py_link(fgraph, check_types=True, allow_gc=allow_gc, profile=profile,
                   funcify=funcify)
