"""Per-Op numba implementations: one registered emitter per Op class.

An emitter writes numba-compilable statements for one node:

    @register(MyOp)
    def _my_op(ctx, node, ins, outs):
        ctx.line(f"{outs[0]} = np.sqrt({ins[0]})")

`ins` are expressions for the node's inputs, `outs` the local names to assign.
Values are NumPy arrays, except 0-d tensors, which are numba scalars inside
compiled code (so scalar recurrences stay in registers). ``ctx`` (codegen.Ctx)
gives ``line``, ``tmp``, ``dtype(var)`` ("np.float32"), ``is_scalar(var)``,
``helper(source)`` for module-level functions, and ``region(...)`` to emit a
closed inner graph as a function (used by Scan).

An emitter may raise ``Unsupported`` for a node it cannot handle (a dtype, a
non-tensor type): that node then runs its NumPy implementation from Python
("object mode"), with a one-time warning.

``outer``: whether a lone node of this class is worth compiling at the top
level of a function. Ops for which NumPy called from Python is as fast as
compiled code (shape ops, BLAS products, single ufuncs) run their NumPy
implementation there (no JIT cost); their emitters are still used inside
compiled loops (scan bodies) and fused kernels.
"""

from __future__ import annotations

_EMITTERS = {}
_OUTER = {}
_PLANNER = []


class Unsupported(Exception):
    """This node has no numba implementation (it runs in object mode)."""


def register(*op_classes, outer=False):
    def deco(fn):
        for c in op_classes:
            _EMITTERS[c] = fn
            _OUTER[c] = outer
        return fn

    return deco


def _lookup(table, op):
    for cls in type(op).__mro__:
        if cls in table:
            return table[cls]
    return None


def emitter_for(op):
    """The emitter registered for op's class (or a base class), else None."""
    _load_all()
    return _lookup(_EMITTERS, op)


def emitter_for_class(cls):
    """The emitter registered for class `cls` (or a base class), else None."""
    _load_all()
    for c in cls.__mro__:
        if c in _EMITTERS:
            return _EMITTERS[c]
    return None


def set_region_planner(plan, emit_group):
    """Install loop fusion (loops.py): plan(nodes) -> items, a node or a group, in
    emission order; emit_group(ctx, group, ref, names, needed) emits a group."""
    _PLANNER[:] = [plan, emit_group]


def region_planner():
    """(plan, emit_group), or None before loops.py is loaded."""
    _load_all()
    return tuple(_PLANNER) or None


def worth_compiling(op):
    _load_all()
    return bool(_lookup(_OUTER, op))


def registered_classes():
    _load_all()
    return set(_EMITTERS)


_LOADED = []


def _load_all():
    if _LOADED:
        return
    _LOADED.append(True)
    from . import (  # noqa: F401
        loops,
        ops_control,
        ops_conv,
        ops_elemwise,
        ops_linalg,
        ops_misc,
        ops_more,
        ops_nnet,
        ops_pool,
        ops_random,
        ops_scan,
        ops_shape,
        ops_tensor,
    )
