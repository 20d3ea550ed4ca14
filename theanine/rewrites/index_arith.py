"""index_arith: integer scalar arithmetic on lengths and slice bounds, simplified with
what is known of it: lengths are never negative (Shape_i, ``x.shape[i]``), and
``minimum``/``maximum`` order their arguments.

The gradient of a loop slices its sequences with bounds computed for any number of
steps (``x[:n][::-1]``, normalised negative starts, ``max(len - n, 0)``); for a
linear recurrence whose number of steps is the sequences' common length those bounds
are 0 and n, but they stay expressions: each is a node run at every call, and two
views of one sequence that are equal at run time are different variables (so their
elementwise work is not merged). The rules, on 0-d integer Elemwise nodes only
(integers have no nan, and no broadcasting can change a shape):

- ``minimum(a, b)`` -> a when a <= b is provable (or b when b <= a);
  ``maximum(a, b)`` likewise;
- ``lt(a, b)`` -> False when b <= a; ``ge(a, b)`` -> True when b <= a;
- ``switch(c, x, y)`` with c a constant -> x or y;
- ``second(x, y)`` (``x - x`` leaves ``second(x, 0)``) -> y;
- and canonicalize's x - x, x - 0, x + 0, x * 1 again, for what these leave;
- slices: ``x[0:]`` (every index a whole slice) -> x; ``CheckSteps(x[:n], n)`` with
  x = CheckSteps(_, n), and CheckSteps(CheckSteps(x, n), n), -> the inner one;
  ``x[:n][:n]`` -> x[:n] (n >= 0, or x checked for n); ``CheckSteps(x[:n], n)[:n]``
  -> ``CheckSteps(x, n)[:n]`` (one form for both orders); ``zero_pad(y, 0, n, n, ...)``
  -> y when y has n rows (y = CheckSteps(_, n)[:n]) and the other dims are y's.

Sums and products of lengths are taken not to overflow int64. a <= b is proved
from: a is b; both constants; a = 0 and b non-negative (a Shape_i, ``x.shape[i]``, a
non-negative constant, a maximum with a non-negative argument, a minimum, sum or
product of non-negative values); b = a + non-negative terms; a = b - a non-negative
term; a a minimum with one argument <= b; b a maximum with one argument >= a; a a
maximum of arguments all <= b; b a minimum of arguments all >= a. The search is
bounded (depth ``_DEPTH``). Values are unchanged.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import RuleSet, rule
from theanine.scan.utils import CheckSteps
from theanine.tensor import math as M
from theanine.tensor import scalar_ops as so
from theanine.tensor.shape import Shape, Shape_i
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.zero_pad import ZeroPad

from .canonicalize import drop_identity, drop_right_identity, sub_self
from .utils import elemwise, ew, scalar_constant

_DEPTH = 6


def _int0d(v):
    return getattr(v.type, "ndim", None) == 0 and v.dtype.startswith(("int", "uint"))


def _const(v):
    if isinstance(v, Constant) and _int0d(v):
        return int(np.asarray(v.data))
    return None


def nonneg(v, depth=_DEPTH):
    """Whether the 0-d integer v is provably >= 0."""
    if not _int0d(v) or depth <= 0:
        return False
    c = _const(v)
    if c is not None:
        return c >= 0
    node = v.owner
    if node is None:
        return False
    if isinstance(node.op, Shape_i) or v.dtype.startswith("uint"):
        return True
    if isinstance(node.op, Subtensor) and node.inputs[0].owner is not None and \
            isinstance(node.inputs[0].owner.op, Shape):  # x.shape[i]
        return True
    if ew(v, so.Maximum) is not None:
        return any(nonneg(u, depth - 1) for u in node.inputs)
    if ew(v, (so.Minimum, so.Add, so.Mul)) is not None:
        return all(nonneg(u, depth - 1) for u in node.inputs)
    if ew(v, so.Switch) is not None:
        return all(nonneg(u, depth - 1) for u in node.inputs[1:])
    return False


def le(a, b, depth=_DEPTH):
    """Whether a <= b is provable for 0-d integers a and b."""
    if a is b:
        return True
    if depth <= 0 or not (_int0d(a) and _int0d(b)):
        return False
    ca, cb = _const(a), _const(b)
    if ca is not None and cb is not None:
        return ca <= cb
    if ca is not None and ca <= 0 and nonneg(b, depth):
        return True
    d = depth - 1
    if ew(a, so.Minimum) is not None and any(le(u, b, d) for u in a.owner.inputs):
        return True
    if ew(b, so.Maximum) is not None and any(le(a, u, d) for u in b.owner.inputs):
        return True
    add = ew(b, so.Add)
    if add is not None and any(u is a for u in add.inputs) and \
            sum(u is not a and not nonneg(u, d) for u in add.inputs) == 0:
        return True  # b = a + (non-negative terms)
    sub = ew(a, so.Sub)
    if sub is not None and sub.inputs[0] is b and nonneg(sub.inputs[1], d):
        return True  # a = b - (a non-negative term)
    if ew(a, so.Maximum) is not None and all(le(u, b, d) for u in a.owner.inputs):
        return True
    if ew(b, so.Minimum) is not None and all(le(a, u, d) for u in b.owner.inputs):
        return True
    return False


def _all_0d(node):
    return all(getattr(v.type, "ndim", None) == 0 for v in node.inputs + node.outputs)


def _as(node, v):
    dtype = node.outputs[0].dtype
    return [v if v.dtype == dtype else M.cast(v, dtype)]


@rule(*elemwise(so.Minimum, so.Maximum), name="ordered_min_max")
def ordered_min_max(graph, node):
    """minimum(a, b) -> the one provably smaller; maximum -> the one provably larger."""
    a, b = node.inputs
    if not (_int0d(a) and _int0d(b)) or node.outputs[0].ndim != 0:
        return None
    small = isinstance(node.op.scalar_op, so.Minimum)
    if le(a, b):
        return _as(node, a if small else b)
    if le(b, a):
        return _as(node, b if small else a)
    return None


@rule(*elemwise(so.LT, so.GE), name="decided_comparison")
def decided_comparison(graph, node):
    """lt(a, b) -> False and ge(a, b) -> True when b <= a is provable."""
    a, b = node.inputs
    if not (_int0d(a) and _int0d(b)) or node.outputs[0].ndim != 0 or not le(b, a):
        return None
    value = not isinstance(node.op.scalar_op, so.LT)
    return [scalar_constant(value, node.outputs[0].dtype)]


@rule(*elemwise(so.Switch), name="constant_switch")
def constant_switch(graph, node):
    """switch(c, x, y) of 0-d values with c a constant -> x or y."""
    c, x, y = node.inputs
    if not _all_0d(node) or not isinstance(c, Constant):
        return None
    return _as(node, x if bool(np.asarray(c.data)) else y)


@rule(*elemwise(so.Second), name="second_of_scalars")
def second_of_scalars(graph, node):
    """second(x, y) of 0-d integers -> y."""
    x, y = node.inputs
    if not (_int0d(x) and _int0d(y)) or node.outputs[0].ndim != 0:
        return None
    return _as(node, y)


@rule(*elemwise(so.Add, so.Mul, so.Sub), name="index_identities")
def index_identities(graph, node):
    """canonicalize's x - x, x - 0, x + 0 and x * 1, on 0-d integers only (for what
    the rules above leave; this step runs after canonicalize)."""
    if node.outputs[0].ndim != 0 or not all(_int0d(v) for v in node.inputs):
        return None
    for r in (sub_self, drop_identity, drop_right_identity):
        if any(isinstance(node.op.scalar_op, c) for _, c in r.tracks):
            new = r.fn(graph, node)
            if new is not None:
                return new
    return None


# -- slices of the leading axis ------------------------------------------------------
_CUT = (("slice", None, "s", None),)


def _slot_values(node):
    """idx_list with each "s" slot replaced by its input variable."""
    ins = iter(node.inputs[1:])
    return [tuple(next(ins) if p == "s" else p for p in entry) if isinstance(entry, tuple)
            else (next(ins) if entry == "s" else entry) for entry in node.op.idx_list]


def _is_int(p, value):
    if p is None:
        return False
    if isinstance(p, (int, np.integer)):
        return int(p) == value
    return _const(p) == value


@rule(Subtensor, name="whole_slice")
def whole_slice(graph, node):
    """x[0:], x[::1], x[0::1, :] (every index a slice of every element) -> x."""
    entries = _slot_values(node)
    for e in entries:
        if not (isinstance(e, tuple) and e[0] == "slice" and len(e) == 4):
            return None
        _, start, stop, step = e
        if stop is not None or not (start is None or _is_int(start, 0)) or \
                not (step is None or _is_int(step, 1)):
            return None
    x = node.inputs[0]
    return [x] if x.type == node.outputs[0].type else None


def _cut_input(v):
    """(x, n) when v is Subtensor{:n}(x), else None."""
    o = v.owner
    if o is None or not isinstance(o.op, Subtensor) or o.op.idx_list != _CUT:
        return None
    return o.inputs[0], o.inputs[1]


def _checked(v, n):
    """Whether v is CheckSteps(_, n) (which raises for n < 0 or too few rows)."""
    o = v.owner
    return o is not None and isinstance(o.op, CheckSteps) and o.inputs[1] is n


def _rows_are(y, n):
    """Whether y provably has exactly n rows: y = CheckSteps(_, n)[:n]."""
    cut = _cut_input(y)
    return cut is not None and cut[1] is n and _checked(cut[0], n)


@rule(CheckSteps, name="checked_twice")
def checked_twice(graph, node):
    """CheckSteps(y, n) -> y when y is CheckSteps(_, n) or CheckSteps(_, n)[:n]: the
    same check has run on it."""
    y, n = node.inputs
    if not (_checked(y, n) or _rows_are(y, n)):
        return None
    return [y] if y.type == node.outputs[0].type else None


@rule(Subtensor, name="cut_before_check")
def cut_before_check(graph, node):
    """CheckSteps(x[:n], n)[:n] -> CheckSteps(x, n)[:n]: the same rows and the same
    check (x[:n] has n rows exactly when x has), so that two views of one sequence
    cut in either order are one variable."""
    outer = _cut_input(node.outputs[0])
    if outer is None or not _checked(outer[0], outer[1]):
        return None
    n = outer[1]
    check = outer[0].owner
    inner = _cut_input(check.inputs[0])
    if inner is None or inner[1] is not n:
        return None
    new = check.op(inner[0], n)[:n]
    return [new] if new.type == node.outputs[0].type else None


@rule(ZeroPad, name="zero_pad_whole")
def zero_pad_whole(graph, node):
    """zero_pad(y, 0, n, n, *rest) -> y when y has n rows and rest is y's other dims:
    y fills every row (the op returns y itself at run time)."""
    y, start, stop, *shape = node.inputs
    if not _is_int(start, 0) or stop is not shape[0] or not _rows_are(y, shape[0]):
        return None
    for d, s in enumerate(shape[1:], 1):
        o = s.owner
        if o is None or not isinstance(o.op, Shape_i) or o.op.i != d or o.inputs[0] is not y:
            return None
    return [y] if y.type == node.outputs[0].type else None


@rule(Subtensor, name="cut_twice")
def cut_twice(graph, node):
    """x[:n][:n] -> x[:n] when n >= 0 (provably, or x is CheckSteps(_, n))."""
    outer = _cut_input(node.outputs[0])
    inner = _cut_input(node.inputs[0]) if outer is not None else None
    if inner is None or inner[1] is not outer[1]:
        return None
    if not (nonneg(outer[1]) or _checked(inner[0], outer[1])):
        return None
    y = node.inputs[0]
    return [y] if y.type == node.outputs[0].type else None


index_arith = RuleSet(
    "index_arith", [ordered_min_max, decided_comparison, constant_switch, second_of_scalars,
                    index_identities, whole_slice, checked_twice,
                    cut_twice, cut_before_check, zero_pad_whole],
    "integer index arithmetic: min/max of ordered values, decided comparisons, "
    "constant switches (rewrites/index_arith.py)")
