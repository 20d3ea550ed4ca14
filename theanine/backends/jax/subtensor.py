"""Indexing: Subtensor, IncSubtensor (set/inc), AdvancedSubtensor and
AdvancedIncSubtensor, with NumPy's semantics.

- Integer indices (constant or symbolic) may be traced; NumPy raises IndexError
  out of bounds where XLA would clamp, so each traced index is a run-time check.
- Slice bounds and boolean masks decide the result's shape: they are static
  inputs (plan.py). A mask that selects what to set or increment, x[mask] = y, is
  not: it becomes a select (y broadcast over the selection) or a scatter at the
  mask's nonzero positions (y holding one row per selected element, its length
  giving the count).
- set_subtensor with repeated integer indices keeps the last write, as NumPy:
  earlier duplicates are pushed out of bounds and dropped by the scatter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.tensor.subtensor import IncSubtensor, Subtensor, check_value_broadcast
from theanine.tensor.subtensor_advanced import AdvancedIncSubtensor, AdvancedSubtensor
from theanine.tensor.subtensor_index import check_int_index

from .checks import require, require_range
from .evaluate import is_concrete, static_inputs
from .registry import lowerings


def _slot_roles(pattern, slots):
    """'int', 'slice', 'arr' or 'mask' for each slot input."""
    roles, it = [], iter(slots)
    for p in pattern:
        if isinstance(p, tuple):
            roles += ["slice" for q in p[1:] if q == "s"]
            for q in p[1:]:
                if q == "s":
                    next(it)
        elif p == "s":
            roles.append("int")
            next(it)
        elif p == "a":
            v = next(it)
            roles.append("mask" if v.type.dtype == "bool" else "arr")
    return roles


def _static(first, kinds):
    def indices(node):
        roles = _slot_roles(node.op.idx_list, node.inputs[first:])
        return [first + k for k, r in enumerate(roles) if r in kinds]

    return indices


def _signed(a):
    """Index values as int64 (an unsigned index compared with -n would wrap around)."""
    return a.astype("int64") if a.dtype.kind == "u" else a


def _index_error(n, axis):
    def error(v):
        return IndexError(f"index {int(v)} is out of bounds for axis {axis} with size {n}")

    return error


def _check_index(i, n, axis):
    if is_concrete(i):
        check_int_index(int(i), n, axis)
    else:
        require_range(i, -n, n, IndexError,
                      f"an index is out of bounds for axis {axis} with size {n}",
                      _index_error(n, axis))


def _check_array(a, n, axis):
    require_range(a, -n, n, IndexError,
                  f"an index array has an entry out of bounds for axis {axis} with size {n}",
                  _index_error(n, axis))


def index_tuple(pattern, slots, shape):
    """The jnp index for `pattern` with slot values filled in (concrete masks become
    their nonzero positions); checks bounds."""
    it = iter(slots)
    out, dim = [], 0
    for p in pattern:
        if isinstance(p, tuple):
            parts = [int(next(it)) if q == "s" else q for q in p[1:]]
            if parts[2] == 0:
                raise ValueError("slice step cannot be zero")
            out.append(slice(*parts))
            dim += 1
        elif p == "a":
            raw = next(it)
            a = _signed(raw)
            if a.dtype == bool:
                a = np.asarray(a)
                if a.shape != tuple(shape[dim:dim + a.ndim]):
                    raise IndexError(f"boolean index of shape {a.shape} does not match the "
                                     f"indexed dimensions {tuple(shape[dim:dim + a.ndim])}")
                out.extend(np.nonzero(a))
                dim += a.ndim
            else:
                _check_array(raw, shape[dim], dim)  # raw: the argument's own values
                out.append(a)
                dim += 1
        else:
            i = next(it) if p == "s" else p
            _check_index(i, shape[dim], dim)
            if not is_concrete(i):
                i = _signed(i)
            out.append(i)
            dim += 1
    return tuple(out)


@lowerings.register(Subtensor)
@static_inputs(_static(1, ("slice",)))
def _subtensor(node, x, *slots):
    return x[index_tuple(node.op.idx_list, slots, np.shape(x))]


@lowerings.register(IncSubtensor)
@static_inputs(_static(2, ("slice",)))
def _inc_subtensor(node, x, y, *slots):
    op = node.op
    idx = index_tuple(op.idx_list, slots, np.shape(x))
    view = jnp.shape(x[idx])
    check_value_broadcast(str(op), view, y, node.inputs[1].broadcastable,
                          op.set_instead_of_inc)
    y = jnp.broadcast_to(jnp.asarray(y).astype(x.dtype), view)
    return update_basic(x, idx, y, op.set_instead_of_inc)


def update_basic(x, idx, y, set_):
    """x with x[idx] (integers and slices) set to / incremented by y (of x[idx]'s shape),
    as one dynamic_update_slice when every slice has step 1 (XLA's scatter is not
    needed, and some scatter forms inside loops crash its compiler); strided slices
    scatter."""
    starts, sizes, dims_kept = [], [], []
    strided, y0 = False, y
    for d, i in enumerate(idx):
        n = x.shape[d]
        if isinstance(i, slice):
            r = range(n)[i]
            if len(r) and r.step < 0:  # the same cells in increasing order
                r = range(r[-1], r.start + 1, -r.step)
                y = jnp.flip(y, axis=len(dims_kept))
            strided |= len(r) > 1 and r.step != 1
            starts.append(r.start if len(r) else 0)
            sizes.append(len(r))
            dims_kept.append(d)
        else:
            # one index dtype for every start (dynamic_slice requires it): int64
            starts.append(jnp.where(i < 0, i + n, i).astype("int64") if not is_concrete(i)
                          else int(i) % n)
            sizes.append(1)
    if strided:
        return x.at[idx].set(y0) if set_ else x.at[idx].add(y0)
    sizes += list(x.shape[len(idx):])
    starts += [0] * (x.ndim - len(idx))
    block = jnp.reshape(y, sizes)
    if not set_:
        block = jax.lax.dynamic_slice(x, starts, sizes) + block
    return jax.lax.dynamic_update_slice(x, block, starts)


@lowerings.register(AdvancedSubtensor)
@static_inputs(_static(1, ("slice", "mask")))
def _advanced_subtensor(node, x, *slots):
    return x[index_tuple(node.op.idx_list, slots, np.shape(x))]


def _leading_mask(node):
    """Whether the index is one boolean mask (x[mask] = y)."""
    p = node.op.idx_list
    return len(p) == 1 and p[0] == "a" and node.inputs[2].type.dtype == "bool"


@lowerings.register(AdvancedIncSubtensor)
@static_inputs(lambda node: [] if _leading_mask(node)
               else _static(2, ("slice", "mask"))(node))
def _advanced_inc_subtensor(node, x, y, *slots):
    op = node.op
    if _leading_mask(node) and not is_concrete(slots[0]):
        return _masked_update(node, x, y, slots[0])
    idx = index_tuple(op.idx_list, slots, np.shape(x))
    view = jnp.shape(x[idx])
    check_value_broadcast(str(op), view, y, node.inputs[1].broadcastable,
                          op.set_instead_of_inc)
    y = jnp.broadcast_to(jnp.asarray(y).astype(x.dtype), view)
    if not op.set_instead_of_inc:
        return x.at[idx].add(y)
    return x.at[_last_writes(idx, np.shape(x))].set(y, mode="drop")


def _last_writes(idx, shape):
    """`idx` with every integer-array position that a later position of the same
    target overwrites moved out of bounds (NumPy: the last write wins)."""
    arrays = [k for k, i in enumerate(idx) if not isinstance(i, slice)]
    if not any(np.ndim(idx[k]) for k in arrays):
        return idx
    dims = {k: k for k in range(len(idx))}  # after mask expansion: one entry per dim
    block = jnp.broadcast_arrays(*[jnp.asarray(idx[k]) for k in arrays])
    flat = jnp.zeros(block[0].shape, "int64")
    for k, a in zip(arrays, block):
        n = shape[dims[k]]
        flat = flat * n + jnp.where(a < 0, a + n, a)
    flat = flat.reshape(-1)
    order = jnp.arange(flat.shape[0])
    size = int(np.prod([shape[dims[k]] for k in arrays]))
    last = jnp.full((size,), -1, "int64").at[flat].max(order)
    keep = (last[flat] == order).reshape(block[0].shape)
    first = arrays[0]
    moved = jnp.where(keep, block[0], shape[dims[first]])
    out = list(idx)
    out[first] = moved
    for k, a in zip(arrays[1:], block[1:]):
        out[k] = a
    return tuple(out)


def _masked_update(node, x, y, mask):
    """x[mask] = y or x[mask] += y for a traced mask over x's leading dims."""
    op = node.op
    m = mask.ndim
    if mask.shape != x.shape[:m]:
        raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed "
                         f"dimensions {x.shape[:m]}")
    rest = x.shape[m:]
    y = jnp.asarray(y).astype(x.dtype)
    per_element = y.ndim > len(rest) and y.shape[0] != 1
    if not per_element:  # one value (row) for every selected element
        ybc = node.inputs[1].broadcastable
        check_value_broadcast(str(op), (1,) + rest, y, ybc, op.set_instead_of_inc)
        row = jnp.broadcast_to(y.reshape(y.shape[1:]) if y.ndim > len(rest) else y, rest)
        sel = mask.reshape(mask.shape + (1,) * len(rest))
        if op.set_instead_of_inc:
            return jnp.where(sel, row, x)
        return x + jnp.where(sel, row, jnp.zeros((), x.dtype))
    count = y.shape[0]
    require(jnp.sum(mask) == count, ValueError,
            f"{op}: the value has {count} rows but the mask selects another number of "
            "elements")
    check_value_broadcast(str(op), (count,) + rest, y, node.inputs[1].broadcastable,
                          op.set_instead_of_inc)
    pos = jnp.nonzero(mask, size=count)
    y = jnp.broadcast_to(y, (count,) + rest)
    return x.at[pos].set(y) if op.set_instead_of_inc else x.at[pos].add(y)
