"""Shape ops: shapes (concrete: XLA shapes are static), reshape, alloc, joins and
splits, ranges, repetition, diagonals, index raveling.

Values that decide an output shape (a reshape's target, alloc's dims, arange's
bounds, split sizes, repeat counts) are static inputs: the linker makes them
NumPy values before tracing (plan.py). Errors NumPy raises on shapes are raised
when tracing, with the py backend's messages; errors on values are run-time
checks (checks.py).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from theanine.tensor.alloc import Alloc
from theanine.tensor.diagonal import ExtractDiag, SetDiag, _diag_index
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.join import Join
from theanine.tensor.ranges import ARange, Bartlett, OneHot
from theanine.tensor.repetition import BinCount, RepeatGrad, RepeatOp, Roll
from theanine.tensor.shape import MakeVector, Reshape, Shape, Shape_i
from theanine.tensor.subtensor_extra import Nonzero, Split
from theanine.tensor.unravel import RavelMultiIndex, UnravelIndex

from .checks import known_range, require
from .evaluate import ON_HOST, static_inputs
from .registry import lowerings

lowerings.register(Nonzero, BinCount)(ON_HOST)  # output lengths depend on the values


def prefer_lowering(fn):
    """Mark a lowering whose output is large for small inputs: it is not folded into a
    constant when its inputs are concrete (XLA makes it on the device instead)."""
    fn.prefer_lowering = True
    return fn


@lowerings.register(Shape)
def _shape(node, x):
    return np.asarray(np.shape(x), dtype="int64")


@lowerings.register(Shape_i)
def _shape_i(node, x):
    return np.asarray(np.shape(x)[node.op.i], dtype="int64")


@lowerings.register(MakeVector)
def _make_vector(node, *xs):
    dt = node.op.dtype
    if not xs:
        return np.zeros(0, dtype=dt)
    return jnp.stack([jnp.asarray(x).astype(dt) for x in xs])


def reshaped(shape, new):
    """The target shape `new` (one -1 allowed) for an array of `shape`, or the py
    backend's ValueError."""
    size = math.prod(shape)
    known = math.prod(s for s in new if s != -1)
    if new.count(-1) == 1 and known and size % known == 0:
        return tuple(size // known if s == -1 else s for s in new)
    if -1 not in new and known == size and min(new, default=0) >= 0:
        return tuple(new)
    raise ValueError(f"reshape: cannot reshape an array of shape {tuple(shape)} (size "
                     f"{size}) into shape {tuple(new)}")


@lowerings.register(Reshape)
@static_inputs(1)
def _reshape(node, x, shp):
    new = tuple(int(s) for s in np.asarray(shp).reshape(-1))
    if len(new) != node.op.ndim:
        raise ValueError(f"reshape: the new shape {new} has {len(new)} entries, expected "
                         f"{node.op.ndim}")
    return jnp.reshape(x, reshaped(np.shape(x), new))


@lowerings.register(Alloc)
@static_inputs(lambda node: range(1, len(node.inputs)))
@prefer_lowering
def _alloc(node, value, *shape):
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"alloc: the shape {shape} has a negative entry")
    vshape = np.shape(value)
    lead = len(shape) - len(vshape)
    vbc = node.inputs[0].type.broadcastable
    for i, n in enumerate(vshape):
        if n != shape[lead + i] and not vbc[i]:
            raise ValueError(f"alloc: cannot broadcast a value of shape {vshape} to shape "
                             f"{shape}: value dim {i} has length {n} and is not broadcastable")
    return jnp.broadcast_to(value, shape)


@lowerings.register(Rebroadcast)
def _rebroadcast(node, x):
    for a, f in node.op.axes:
        if f and x.shape[a] != 1:
            raise ValueError(f"addbroadcast: dimension {a} was declared broadcastable but "
                             f"has length {x.shape[a]} (shape {x.shape})")
    return x


@lowerings.register(Join)
def _join(node, *xs):
    ax = node.op.axis
    shapes = [np.shape(x) for x in xs]
    rest = {s[:ax] + s[ax + 1:] for s in shapes}
    if len(rest) > 1:
        raise ValueError(f"join along axis {ax}: the shapes {shapes} differ outside that "
                         "axis")
    dt = node.outputs[0].type.dtype
    return jnp.concatenate([jnp.asarray(x).astype(dt) for x in xs], axis=ax)


@lowerings.register(Split)
@static_inputs(1)
def _split(node, x, splits):
    op = node.op
    splits = np.asarray(splits)
    if splits.shape != (op.len_splits,):
        raise ValueError(f"split: expected {op.len_splits} split sizes, got "
                         f"{splits.shape[0]} ({splits.tolist()})")
    if (splits < 0).any() or splits.sum() != x.shape[op.axis]:
        raise ValueError(f"split: sizes {splits.tolist()} must be non-negative and sum to "
                         f"the length {x.shape[op.axis]} of axis {op.axis}")
    ends = np.cumsum(splits)
    pre = (slice(None),) * op.axis
    return tuple(x[pre + (slice(int(e - s), int(e)),)] for s, e in zip(splits, ends))


@lowerings.register(ARange)
@static_inputs(0, 1, 2)
@prefer_lowering
def _arange(node, start, stop, step):
    if step == 0:
        raise ValueError("arange: step must not be 0")
    n = max(math.ceil((float(stop) - float(start)) / float(step)), 0)
    dt = node.op.dtype
    out = jnp.asarray(start, dt) + jnp.arange(n, dtype=dt) * jnp.asarray(step, dt)
    if n and np.dtype(dt).kind in "iu":  # its values are known: an index check of them is not
        ends = (int(start), int(start) + (n - 1) * int(step))
        known_range(out, min(ends), max(ends))
    return out


@lowerings.register(OneHot)
@static_inputs(1)
@prefer_lowering
def _one_hot(node, y, nb_class):
    nb = int(nb_class)
    require((y >= 0) & (y < nb), ValueError,
            f"to_one_hot: a class index is out of range for nb_class={nb} (y must be in "
            f"[0, {nb}))")
    return (y[:, None] == jnp.arange(nb, dtype=y.dtype)).astype(node.op.dtype)


@lowerings.register(Bartlett)
@static_inputs(0)
def _bartlett(node, m):
    return np.bartlett(int(m)).astype("float64")


@lowerings.register(RepeatOp)
@static_inputs(1)
def _repeat(node, x, repeats):
    axis = node.op.axis
    repeats = np.asarray(repeats)
    if np.any(repeats < 0):
        raise ValueError(f"repeat: repeats must be >= 0, got {repeats}")
    n = x.size if axis is None else x.shape[axis]
    if repeats.ndim == 1 and repeats.shape[0] != n:
        raise ValueError(f"repeat: repeats has {repeats.shape[0]} entries but x has {n} "
                         f"elements along axis {axis} (x shape {x.shape})")
    total = int(repeats.sum()) if repeats.ndim else n * int(repeats)
    if axis is None:
        x, axis = jnp.reshape(x, -1), 0
    return jnp.repeat(x, repeats, axis=axis, total_repeat_length=total)


@lowerings.register(RepeatGrad)
@static_inputs(1)
def _repeat_grad(node, gz, repeats, x):
    axis = node.op.axis
    ax = 0 if axis is None else axis
    n = math.prod(np.shape(x)) if axis is None else np.shape(x)[ax]
    seg = np.repeat(np.arange(n), np.asarray(repeats))
    moved = jnp.moveaxis(gz, ax, 0)
    out = jax.ops.segment_sum(moved, seg, num_segments=n)
    return jnp.moveaxis(out, 0, ax).reshape(np.shape(x))


@lowerings.register(Roll)
def _roll(node, x, shift):
    return jnp.roll(x, shift, axis=node.op.axis)


def _moved(x, axes):
    return jnp.moveaxis(x, axes, list(range(x.ndim - len(axes), x.ndim)))


@lowerings.register(ExtractDiag)
def _extract_diag(node, a):
    idx, _ = _diag_index(np.shape(a), node.op.offset, node.op.axes)
    return _moved(a, node.op.axes)[(Ellipsis, *idx)]


@lowerings.register(SetDiag)
def _set_diag(node, a, d):
    op = node.op
    idx, k = _diag_index(np.shape(a), op.offset, op.axes)
    target = _moved(a, op.axes)
    shape = target.shape[:a.ndim - len(op.axes)] + (k,)
    dbc = node.inputs[1].type.broadcastable
    lead = len(shape) - np.ndim(d)
    for i, n in enumerate(np.shape(d)):
        if n != shape[lead + i] and not dbc[i]:
            raise ValueError(f"set diagonal: a value of shape {np.shape(d)} does not fit the "
                             f"diagonal of shape {shape}")
    target = target.at[(Ellipsis, *idx)].set(jnp.broadcast_to(d, shape).astype(a.dtype))
    dest = list(range(a.ndim - len(op.axes), a.ndim))
    return jnp.moveaxis(target, dest, op.axes)


@lowerings.register(UnravelIndex)
@static_inputs(1)
def _unravel_index(node, indices, dims):
    dims = [int(d) for d in np.asarray(dims)]
    size = math.prod(dims)
    require((indices >= 0) & (indices < size), ValueError,
            f"unravel_index: an index is out of bounds for an array of size {size} "
            f"(dims {tuple(dims)})")
    order = range(len(dims) - 1, -1, -1) if node.op.order == "C" else range(len(dims))
    out, rest = [None] * len(dims), indices
    for i in order:
        out[i] = rest % dims[i]
        rest = rest // dims[i]
    return tuple(out)


@lowerings.register(RavelMultiIndex)
@static_inputs(-1)
def _ravel_multi_index(node, *inputs):
    *multi, dims = inputs
    dims = [int(d) for d in np.asarray(dims)]
    mode = node.op.mode
    fixed = []
    for m, n in zip(multi, dims):
        if mode == "raise":
            require((m >= 0) & (m < n), ValueError,
                    f"ravel_multi_index: invalid entry in coordinates array (dims "
                    f"{tuple(dims)})")
        elif mode == "wrap":
            m = m % n
        else:
            m = jnp.clip(m, 0, n - 1)
        fixed.append(m)
    order = range(len(dims)) if node.op.order == "C" else range(len(dims) - 1, -1, -1)
    out = None
    for i in order:
        out = fixed[i] if out is None else out * dims[i] + fixed[i]
    return out
