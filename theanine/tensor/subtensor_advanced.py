"""Advanced indexing: integer-array and boolean-mask indices, possibly mixed
with integers and slices, with NumPy's semantics; and the matching increment.

Invariants: output dtype/ndim/broadcastable are inferred in make_node by
`subtensor_index.layout` (NumPy's placement rule for the broadcast block of
advanced indices); a boolean mask contributes one dim of unknown length.
AdvancedIncSubtensor accumulates repeated indices (np.add.at) and never
modifies x.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, disconnected_type

from .alloc import zeros_like
from .basic import as_tensor_variable
from .math import cast
from .reduce import sum as tsum
from .shape import broadcast_shape
from .subtensor_index import (
    as_index_scalar,
    check_value_broadcast,
    decode,
    layout,
    prepare_value,
    reduce_like,
    slice_length,
)
from .type import TensorType


def _entries(op_name, pattern, x, slots):
    """Convert slot inputs; return (slot variables, layout entries)."""
    it = iter(slots)
    vars_, entries = [], []

    def scalar(k):
        try:
            v = next(it)
        except StopIteration:
            raise TypeError(f"{op_name}: too few index inputs for pattern {pattern}") from None
        v = as_index_scalar(v, f"{op_name}: index input {k}")
        vars_.append(v)
        return v

    for p in pattern:
        if isinstance(p, tuple):
            entries.append(("slice",) + tuple(scalar(len(vars_)) if q == "s" else q
                                              for q in p[1:]))
        elif p == "s":
            entries.append(("int", scalar(len(vars_))))
        elif p == "a":
            try:
                v = as_tensor_variable(next(it))
            except StopIteration:
                raise TypeError(f"{op_name}: too few index inputs for pattern {pattern}") from None
            if v.ndim == 0 or not (v.dtype == "bool" or v.dtype.startswith(("int", "uint"))):
                raise TypeError(f"{op_name}: index input {len(vars_)} must be an integer "
                                f"or boolean array of at least 1 dim, got {v.type}")
            vars_.append(v)
            entries.append(("mask" if v.dtype == "bool" else "arr", v))
        else:
            entries.append(("int", p))
    if next(it, None) is not None:
        raise TypeError(f"{op_name}: too many index inputs for pattern {pattern}")
    used = sum(e[1].ndim if e[0] == "mask" else 1 for e in entries)
    if used > x.ndim:
        raise IndexError(f"too many indices for a {x.ndim}-d tensor: {used} dimensions "
                         f"indexed")
    return vars_, entries


def _numpy_index(pattern, slots, masks_to_ints=False):
    idx = decode(pattern, slots)
    if not masks_to_ints:
        return idx
    out = []
    for i in idx:
        if isinstance(i, np.ndarray) and i.dtype == bool:
            out.extend(np.nonzero(i))
        else:
            out.append(i)
    return tuple(out)


def _index(opname, x, idx):
    try:
        return x[idx]
    except IndexError as e:
        raise IndexError(f"{opname}: {e} (indexing an array of shape {x.shape})") from None


class AdvancedSubtensor(Op):
    """x[idx] where the index holds integer arrays or boolean masks (NumPy's
    advanced indexing: the result is a copy)."""

    __props__ = ("idx_list",)

    def __init__(self, idx_list):
        self.idx_list = tuple(idx_list)

    def make_node(self, x, *slots):
        x = as_tensor_variable(x)
        slots, entries = _entries("AdvancedSubtensor", self.idx_list, x, slots)
        bc = [b for _, b in layout(entries, x.broadcastable)]
        return Apply(self, [x, *slots], [TensorType(x.dtype, bc)()])

    def compute(self, node, x, *slots):
        return np.asarray(_index("AdvancedSubtensor", x, _numpy_index(self.idx_list, slots)))

    def grad(self, inputs, output_grads):
        x, *slots = inputs
        (gz,) = output_grads
        gx = AdvancedIncSubtensor(self.idx_list)(zeros_like(x), gz, *slots)
        return [gx] + [disconnected_type() for _ in slots]

    def connection_pattern(self, node):
        return [[True]] + [[False] for _ in node.inputs[1:]]

    def infer_shape(self, node, shapes):
        x = node.inputs[0]
        _, entries = _entries("AdvancedSubtensor", self.idx_list, x, node.inputs[1:])
        slot_shape = {id(v): s for v, s in zip(node.inputs[1:], shapes[1:])}
        block = []
        for e in entries:
            if e[0] == "arr":
                block.append(slot_shape[id(e[1])])
            elif e[0] == "mask":
                block.append((cast(tsum(cast(e[1], "int64")), "int64"),))
            elif e[0] == "int":
                block.append(())
        block = broadcast_shape(*block) if block else ()
        slices = {}
        dim = 0
        for e in entries:
            if e[0] == "slice":
                slices[dim] = e[1:]
            dim += e[1].ndim if e[0] == "mask" else 1
        out = []
        for lab, _ in layout(entries, x.broadcastable):
            if lab[0] == "adv":
                out.append(block[lab[1]])
            else:
                d = lab[1]
                out.append(slice_length(shapes[0][d], slices[d]) if d in slices
                           else shapes[0][d])
        return [tuple(out)]


class AdvancedIncSubtensor(Op):
    """x with x[idx] (advanced index) incremented by y, or set to y with
    set_instead_of_inc. Repeated indices accumulate when incrementing (the last
    write wins when setting, as NumPy)."""

    __props__ = ("idx_list", "set_instead_of_inc")

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False,
                 ignore_duplicates=False):
        self.idx_list = tuple(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"Advanced{kind}Subtensor{{{self.idx_list}}}"

    def make_node(self, x, y, *slots):
        x = as_tensor_variable(x)
        slots, entries = _entries(str(self), self.idx_list, x, slots)
        view = TensorType(x.dtype, [b for _, b in layout(entries, x.broadcastable)])
        y = prepare_value(str(self), x, y, view)
        return Apply(self, [x, y, *slots], [x.type()])

    def compute(self, node, x, y, *slots):
        idx = _numpy_index(self.idx_list, slots, masks_to_ints=True)
        view_shape = _index(str(self), x, idx).shape
        check_value_broadcast(str(self), view_shape, y, node.inputs[1].broadcastable,
                              self.set_instead_of_inc)
        out = x.copy()
        if self.set_instead_of_inc:
            out[idx] = y
        else:
            np.add.at(out, idx, y)
        return out

    def grad(self, inputs, output_grads):
        x, y, *slots = inputs
        (gz,) = output_grads
        if self.set_instead_of_inc:
            gx = AdvancedIncSubtensor(self.idx_list, set_instead_of_inc=True)(
                gz, np.zeros((), dtype=gz.dtype), *slots)
        else:
            gx = gz
        gy = reduce_like(AdvancedSubtensor(self.idx_list)(gz, *slots), y)
        return [gx, gy] + [disconnected_type() for _ in slots]

    def connection_pattern(self, node):
        return [[True], [True]] + [[False] for _ in node.inputs[2:]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]
