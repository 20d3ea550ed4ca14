"""Indexing: x[...] (basic and advanced), set_subtensor / inc_subtensor, and the
index helpers take, split, nonzero, nonzero_values, flatnonzero.

Basic indexing (integers, slices, symbolic integer scalars) is the `Subtensor`
op; integer-array and boolean-mask indices are `AdvancedSubtensor`
(subtensor_advanced.py). newaxis (None) is a DimShuffle after the op and
Ellipsis is expanded, so op patterns hold neither (see subtensor_index.py).

Invariants: every op is pure (the increment ops copy x); results follow NumPy's
indexing semantics exactly; the gradient of an indexing op is the matching
increment op, whose own gradient indexes the output gradient again.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, disconnected_type

from .alloc import zeros_like
from .basic import as_tensor_variable
from .dims import addbroadcast
from .elemwise import DimShuffle
from .math import second
from .shape import static_length
from .subtensor_advanced import AdvancedIncSubtensor, AdvancedSubtensor
from .subtensor_extra import Nonzero, Split, flatnonzero, nonzero, nonzero_values, split, take
from .subtensor_index import (
    as_index_scalar,
    check_int_index,
    check_value_broadcast,
    classify,
    decode,
    encode,
    is_advanced,
    layout,
    prepare_value,
    reduce_like,
    slice_broadcastable,
    slice_length,
)
from .type import TensorType


def _n_slots(pattern):
    n = 0
    for p in pattern:
        parts = p[1:] if isinstance(p, tuple) else (p,)
        n += sum(1 for q in parts if q in ("s", "a"))
    return n


def _slot_vars(op_name, pattern, slots):
    n = _n_slots(pattern)
    if len(slots) != n:
        raise TypeError(f"{op_name} with pattern {pattern} takes {n} index inputs, got "
                        f"{len(slots)}")
    return [as_index_scalar(s, f"{op_name}: index input {k}") for k, s in enumerate(slots)]


def _check_ints(idx, shape):
    """IndexError for out-of-range integer entries of a basic index tuple."""
    for axis, i in enumerate(idx):
        if isinstance(i, int):
            check_int_index(i, shape[axis], axis)


def _basic_out_broadcastable(pattern, x):
    if len(pattern) > x.ndim:
        raise IndexError(f"too many indices for a {x.ndim}-d tensor: pattern {pattern}")
    bc = []
    for d, p in enumerate(pattern):
        if isinstance(p, tuple):
            bc.append(slice_broadcastable(x.broadcastable[d], p[1:]))
    return bc + list(x.broadcastable[len(pattern):])


def _with_slots(pattern, slots):
    """Pattern entries with "s" replaced by the slot variables (for infer_shape)."""
    it = iter(slots)
    out = []
    for p in pattern:
        if isinstance(p, tuple):
            out.append(tuple(next(it) if q == "s" else q for q in p[1:]))
        else:
            out.append(next(it) if p == "s" else p)
    return out


class Subtensor(Op):
    """Basic indexing x[idx_list] with integers and slices (NumPy view semantics).

    `idx_list` is a pattern (see subtensor_index); its "s" slots are the extra
    integer scalar inputs, in order. Integer indices drop their dimension."""

    __props__ = ("idx_list",)

    def __init__(self, idx_list):
        self.idx_list = tuple(idx_list)

    def __str__(self):
        return f"Subtensor{{{_pattern_str(self.idx_list)}}}"

    def make_node(self, x, *slots):
        x = as_tensor_variable(x)
        slots = _slot_vars("Subtensor", self.idx_list, slots)
        bc = _basic_out_broadcastable(self.idx_list, x)
        return Apply(self, [x, *slots], [TensorType(x.dtype, bc)()])

    def compute(self, node, x, *slots):
        idx = decode(self.idx_list, slots)
        _check_ints(idx, x.shape)
        return x[idx + (Ellipsis,)]  # Ellipsis: an array view even when all ints

    def grad(self, inputs, output_grads):
        x, *slots = inputs
        (gz,) = output_grads
        gx = IncSubtensor(self.idx_list)(zeros_like(x), gz, *slots)
        return [gx] + [disconnected_type() for _ in slots]

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]

    def infer_shape(self, node, shapes):
        xs = shapes[0]
        out = []
        for d, p in enumerate(_with_slots(self.idx_list, node.inputs[1:])):
            if isinstance(p, tuple):
                out.append(slice_length(xs[d], p))
        return [tuple(out) + tuple(xs[len(self.idx_list):])]

    def static_length(self, node):
        """Length of a slice of a vector of known length (for reshape targets)."""
        x = node.inputs[0]
        if x.ndim != 1:
            return None
        n = static_length(x)
        if n is None:
            return None
        if not self.idx_list:
            return n
        p = self.idx_list[0]
        if isinstance(p, tuple) and all(q is None or isinstance(q, int) for q in p[1:]):
            return len(range(n)[slice(*p[1:])])
        return None


def _pattern_str(pattern):
    def part(q):
        return "" if q is None else str(q)

    items = []
    for p in pattern:
        if isinstance(p, tuple):
            s = f"{part(p[1])}:{part(p[2])}"
            items.append(s + (f":{p[3]}" if p[3] is not None else ""))
        else:
            items.append(str(p))
    return ", ".join(items)


class IncSubtensor(Op):
    """x with x[idx_list] incremented by (or, with set_instead_of_inc, set to) y.

    Inputs: x, y, then the pattern's slot scalars. y broadcasts to the indexed
    shape. The result is a new array; x is never modified."""

    __props__ = ("idx_list", "set_instead_of_inc")

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False,
                 destroyhandler_tolerate_aliased=None):
        self.idx_list = tuple(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"{kind}Subtensor{{{_pattern_str(self.idx_list)}}}"

    def make_node(self, x, y, *slots):
        x = as_tensor_variable(x)
        slots = _slot_vars(str(self), self.idx_list, slots)
        view = TensorType(x.dtype, _basic_out_broadcastable(self.idx_list, x))
        y = prepare_value(str(self), x, y, view)
        return Apply(self, [x, y, *slots], [x.type()])

    def compute(self, node, x, y, *slots):
        idx = decode(self.idx_list, slots)
        _check_ints(idx, x.shape)
        out = x.copy()
        view = out[idx + (Ellipsis,)]
        check_value_broadcast(str(self), view.shape, y, node.inputs[1].broadcastable,
                              self.set_instead_of_inc)
        if self.set_instead_of_inc:
            view[...] = y
        else:
            view += y
        return out

    def grad(self, inputs, output_grads):
        x, y, *slots = inputs
        (gz,) = output_grads
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.idx_list, set_instead_of_inc=True)(
                gz, np.zeros((), dtype=gz.dtype), *slots)
        else:
            gx = gz
        gy = reduce_like(Subtensor(self.idx_list)(gz, *slots), y)
        return [gx, gy] + [disconnected_type() for _ in slots]

    def connection_pattern(self, node):
        return [[True], [True]] + [[False] for _ in node.inputs[2:]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def getitem(x, idx):
    """x[idx] with NumPy semantics: ints, slices (constant or symbolic parts),
    symbolic integer scalars, None, Ellipsis, integer arrays and boolean masks."""
    x = as_tensor_variable(x)
    entries = classify(idx, x.ndim)
    stripped = [e for e in entries if e[0] not in ("new", "ell0")]
    pattern, slots = encode(stripped)
    if is_advanced(stripped):
        out = AdvancedSubtensor(pattern)(x, *slots)
    else:
        out = Subtensor(pattern)(x, *slots)
    if len(stripped) != len(entries):
        full = layout(entries, x.broadcastable)
        pos = {lab: j for j, (lab, _) in enumerate(layout(stripped, x.broadcastable))}
        order = ["x" if lab == ("x",) else pos[lab] for lab, _ in full]
        if order != list(range(out.ndim)):
            out = DimShuffle(out.broadcastable, order)(out)
    return out


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False):
    """The tensor that x[...] (the first argument, a subtensor expression) is a
    part of, with that part incremented by y (broadcast). Theano's API:
    ``inc_subtensor(a[2:5], 1.0)``. `inplace` and `tolerate_inplace_aliasing`
    are accepted for compatibility; the result is always a new tensor."""
    name = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
    x = as_tensor_variable(x)
    node = x.owner
    if node is not None and isinstance(node.op, Subtensor):
        base, *slots = node.inputs
        return IncSubtensor(node.op.idx_list, set_instead_of_inc=set_instead_of_inc)(
            base, y, *slots)
    if node is not None and isinstance(node.op, AdvancedSubtensor):
        base, *slots = node.inputs
        return AdvancedIncSubtensor(node.op.idx_list, set_instead_of_inc=set_instead_of_inc)(
            base, y, *slots)
    if node is not None and isinstance(node.op, DimShuffle) and not node.op.drop:
        # x[..., None, ...]: broadcast y to the view, undo the DimShuffle
        inner = node.inputs[0]
        y = as_tensor_variable(y)
        if y.ndim > x.ndim:
            raise ValueError(f"{name}: the value y has {y.ndim} dims, more than the "
                             f"{x.ndim} of the subtensor {x}")
        yb = addbroadcast(second(x, y), *node.op.augment)
        back = [node.op.new_order.index(d) for d in range(inner.ndim)]
        yb = DimShuffle(yb.broadcastable, back)(yb)
        return inc_subtensor(inner, yb, set_instead_of_inc=set_instead_of_inc)
    raise TypeError(f"{name}: the first argument must be an indexing expression such as "
                    f"x[2:5] or x[idx], got {x}"
                    + (f" computed by {node.op}" if node is not None else ""))


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """The tensor that x[...] (the first argument) is a part of, with that part
    replaced by y (broadcast). Theano's API: ``set_subtensor(a[idx], 0)``."""
    return inc_subtensor(x, y, inplace, set_instead_of_inc=True,
                         tolerate_inplace_aliasing=tolerate_inplace_aliasing)


def advanced_subtensor1(x, ilist):
    """x[ilist] for an integer vector ilist (Theano's name)."""
    return getitem(x, as_tensor_variable(ilist))


def advanced_inc_subtensor1(x, y, ilist):
    """inc_subtensor(x[ilist], y) for an integer vector ilist (Theano's name)."""
    return inc_subtensor(advanced_subtensor1(x, ilist), y)


def advanced_set_subtensor1(x, y, ilist):
    """set_subtensor(x[ilist], y) for an integer vector ilist (Theano's name)."""
    return set_subtensor(advanced_subtensor1(x, ilist), y)


__all__ = ["getitem", "set_subtensor", "inc_subtensor", "take", "split", "nonzero",
           "nonzero_values", "flatnonzero", "Subtensor", "IncSubtensor",
           "AdvancedSubtensor", "AdvancedIncSubtensor", "Split", "Nonzero",
           "advanced_subtensor1", "advanced_inc_subtensor1", "advanced_set_subtensor1"]
