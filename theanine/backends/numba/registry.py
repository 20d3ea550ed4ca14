"""The numba backend's emitters: one registered function per Op class.

An emitter writes numba-compilable statements for one node:

    @register(MyOp)
    def _my_op(ctx, node, ins, outs):
        ctx.line(f"{outs[0]} = np.sqrt({ins[0]})")

`ins` are expressions for the node's inputs, `outs` the local names to assign.
Values are NumPy arrays, except 0-d tensors, which are numba scalars inside
compiled code (so scalar recurrences stay in registers). ``ctx`` (codegen.Ctx)
gives ``line``, ``tmp``, ``block``, ``loops``, ``dtype(var)`` ("np.float32"),
``is_scalar(var)`` and ``region(...)`` to emit a closed inner graph as a function
(used by Scan and IfElse). Compiled helpers live in kernels/ (real ``@njit``
modules): a kernel calls them by name (``la_lu_solve(a, b)``).

An emitter may raise ``Unsupported`` for a node it cannot handle (a dtype, a
non-tensor type): that node then runs its NumPy implementation from Python
("object mode"), with a one-time warning.

``outer=True``: a lone node of this class is worth compiling at the top level of a
function (``outer=predicate``: those nodes whose op the predicate accepts). Ops for
which NumPy called from Python is as fast as compiled code (shape ops, BLAS products,
single ufuncs) run their NumPy implementation there (no JIT cost); their emitters are
still used inside compiled loops (scan bodies) and fused kernels.

The registry is theanine.graph.dispatch.Registry; the modules holding the
registrations are listed in this package's ``__init__`` (EMITTER_MODULES).
"""

from __future__ import annotations

from theanine.graph.dispatch import Registry

from . import EMITTER_MODULES

EMITTERS = Registry("numba", modules=EMITTER_MODULES)
register = EMITTERS.register

_PLANNER = []  # [plan, emit_group], installed by loops.py when it loads


class Unsupported(Exception):
    """This node has no numba implementation (it runs in object mode)."""


def emitter_for(op):
    """The emitter registered for op's class (or a base class), else None; `op` may
    also be a class."""
    return EMITTERS.lookup(op)


def set_region_planner(plan, emit_group):
    """Install loop fusion (loops.py): plan(nodes) -> items, a node or a group, in
    emission order; emit_group(ctx, group, ref, names, needed) emits a group."""
    _PLANNER[:] = [plan, emit_group]


def region_planner():
    """(plan, emit_group) of loops.py (loaded with the emitter modules)."""
    EMITTERS.load()
    return tuple(_PLANNER) or None


def worth_compiling(op):
    outer = EMITTERS.info(op, "outer", False)
    return bool(outer(op) if callable(outer) else outer)
