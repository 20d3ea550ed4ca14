"""Shape ops: Shape, Reshape, Rebroadcast, and dimension helpers
(dimshuffle, transpose, shape_pad*, flatten, broadcast helpers).

Shapes are int64 vectors; a reshape target may mix ints and symbolic scalars,
with one -1 inferred as in NumPy.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op

from .basic import as_tensor_variable, constant
from .elemwise import DimShuffle
from .type import TensorType


class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim == 1,) if False else (False,))()])

    def compute(self, node, x):
        return np.asarray(np.shape(x), dtype="int64")

    def grad(self, inputs, output_grads):
        from theanine.gradient import disconnected_type

        return [disconnected_type()]

    def connection_pattern(self, node):
        return [[False]]

    def infer_shape(self, node, shapes):
        return [(constant(np.int64(node.inputs[0].ndim)),)]


_shape = Shape()


def shape(x):
    """Symbolic shape of x (int64 vector). ``x.shape[i]`` is one dimension."""
    x = as_tensor_variable(x)
    v = _shape(x)
    v.tag.ndim_of = x.ndim
    return v


def static_length(v):
    """Length of a 1-d symbolic vector when known without running it (else None)."""
    if isinstance(v, Constant):
        return int(np.asarray(v.data).shape[0])
    if v.owner is not None and isinstance(v.owner.op, Shape):
        return v.owner.inputs[0].ndim
    if v.owner is not None and hasattr(v.owner.op, "static_length"):
        return v.owner.op.static_length(v.owner)
    if v.broadcastable == (True,):
        return 1
    return None


class Reshape(Op):
    """Reshape to a shape vector of known length `ndim` (one -1 allowed)."""

    __props__ = ("ndim",)

    def __init__(self, ndim):
        self.ndim = ndim

    def make_node(self, x, shp):
        x = as_tensor_variable(x)
        shp = as_tensor_variable(shp, ndim=1)
        if not shp.dtype.startswith(("int", "uint")):
            raise TypeError(f"reshape: the shape must be integers, got dtype {shp.dtype}")
        bc = [False] * self.ndim
        if isinstance(shp, Constant):
            bc = [int(s) == 1 for s in np.asarray(shp.data)]
        elif shp.owner is not None and hasattr(shp.owner.op, "elements_const"):
            bc = shp.owner.op.elements_const(shp.owner, self.ndim)
        return Apply(self, [x, shp], [TensorType(x.dtype, bc)()])

    def compute(self, node, x, shp):
        try:
            return np.reshape(x, tuple(int(s) for s in shp))
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an array of shape {np.shape(x)} "
                             f"(size {np.size(x)}) into shape {tuple(shp)}") from None

    def grad(self, inputs, output_grads):
        from theanine.gradient import disconnected_type

        x, _ = inputs
        return [reshape(output_grads[0], shape(x), ndim=x.ndim), disconnected_type()]

    def connection_pattern(self, node):
        return [[True], [False]]

    def infer_shape(self, node, shapes):
        x, shp = node.inputs
        from .math import int_div, mul

        items = [shp[i] for i in range(self.ndim)]
        if isinstance(shp, Constant) and -1 in np.asarray(shp.data):
            known = [s for s in np.asarray(shp.data) if s != -1]
            total = mul(*shapes[0]) if len(shapes[0]) > 1 else (
                shapes[0][0] if shapes[0] else constant(np.int64(1)))
            missing = int_div(total, int(np.prod(known)))
            items = [missing if s == -1 else constant(np.int64(s))
                     for s in np.asarray(shp.data)]
        return [tuple(items)]


def reshape(x, newshape, ndim=None):
    """x with shape `newshape` (a tuple of ints/symbolic scalars or a vector)."""
    x = as_tensor_variable(x)
    if isinstance(newshape, (list, tuple)):
        if not newshape:
            shp = constant(np.zeros(0, dtype="int64"))
        elif all(isinstance(s, (int, np.integer)) for s in newshape):
            shp = constant(np.asarray(newshape, dtype="int64"))
        else:
            from .math import cast

            shp = stack([cast(as_tensor_variable(s), "int64") for s in newshape])
        n = len(newshape)
    else:
        shp = as_tensor_variable(newshape)
        if isinstance(newshape, (int, np.integer)):
            shp = constant(np.asarray([newshape], dtype="int64"))
        n = static_length(shp) if ndim is None else ndim
        if n is None:
            raise ValueError("reshape: the length of the new shape is unknown; pass ndim=")
    if ndim is not None and ndim != n:
        raise ValueError(f"reshape: ndim={ndim} does not match the new shape's length {n}")
    return Reshape(n)(x, shp)


def flatten(x, ndim=1, outdim=None):
    """Collapse the trailing dims so that the result has `ndim` dims."""
    x = as_tensor_variable(x)
    ndim = outdim if outdim is not None else ndim
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be in [1, {max(x.ndim, 1)}], got {ndim}")
    sh = shape(x)
    lead = [sh[i] for i in range(ndim - 1)]
    out = reshape(x, lead + [-1]) if lead else reshape(x, (-1,))
    bc = x.broadcastable[:ndim - 1] + (all(x.broadcastable[ndim - 1:]),)
    return patternbroadcast(out, bc)


class Rebroadcast(Op):
    """Change the broadcastable flags of some dims, checking lengths at run time.

    `axes` is a tuple of (axis, flag) pairs."""

    __props__ = ("axes",)

    def __init__(self, axes):
        self.axes = tuple(sorted((int(a), bool(f)) for a, f in axes))

    def make_node(self, x):
        x = as_tensor_variable(x)
        bc = list(x.broadcastable)
        for a, f in self.axes:
            if a >= x.ndim:
                raise ValueError(f"rebroadcast: axis {a} out of range for {x.ndim}-d {x}")
            bc[a] = f
        return Apply(self, [x], [TensorType(x.dtype, bc)()])

    def compute(self, node, x):
        for a, f in self.axes:
            if f and x.shape[a] != 1:
                raise ValueError(f"addbroadcast: dimension {a} was declared broadcastable "
                                 f"but has length {x.shape[a]} (shape {x.shape})")
        return x

    def grad(self, inputs, output_grads):
        (x,) = inputs
        return [patternbroadcast(output_grads[0], x.broadcastable)]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def patternbroadcast(x, broadcastable):
    """x with exactly this broadcastable pattern."""
    x = as_tensor_variable(x)
    axes = [(i, b) for i, b in enumerate(broadcastable) if x.broadcastable[i] != b]
    return Rebroadcast(axes)(x) if axes else x


def addbroadcast(x, *axes):
    """Mark `axes` of x broadcastable (they must have length 1 at run time)."""
    x = as_tensor_variable(x)
    bc = list(x.broadcastable)
    for a in axes:
        bc[a] = True
    return patternbroadcast(x, bc)


def unbroadcast(x, *axes):
    """Mark `axes` of x not broadcastable."""
    x = as_tensor_variable(x)
    bc = list(x.broadcastable)
    for a in axes:
        bc[a] = False
    return patternbroadcast(x, bc)


def dimshuffle(x, pattern):
    x = as_tensor_variable(x)
    return DimShuffle(x.broadcastable, tuple(pattern))(x)


def transpose(x, axes=None):
    """Permute dims (reverse them by default)."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    axes = tuple(int(a) % x.ndim for a in axes) if x.ndim else ()
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dims")
    return dimshuffle(x, axes)


def swapaxes(x, a, b):
    x = as_tensor_variable(x)
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return dimshuffle(x, perm)


def shape_padleft(x, n_ones=1):
    """x with `n_ones` broadcastable dims prepended."""
    x = as_tensor_variable(x)
    return dimshuffle(x, ["x"] * n_ones + list(range(x.ndim)))


def shape_padright(x, n_ones=1):
    """x with `n_ones` broadcastable dims appended."""
    x = as_tensor_variable(x)
    return dimshuffle(x, list(range(x.ndim)) + ["x"] * n_ones)


def shape_padaxis(x, axis):
    """x with one broadcastable dim inserted at `axis`."""
    x = as_tensor_variable(x)
    nd = x.ndim + 1
    if not -nd <= axis < nd:
        raise IndexError(f"shape_padaxis: axis {axis} out of range for result ndim {nd}")
    axis %= nd
    pattern = list(range(x.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(x, pattern)


def squeeze(x):
    """Drop the broadcastable dims."""
    x = as_tensor_variable(x)
    return dimshuffle(x, [i for i, b in enumerate(x.broadcastable) if not b])


def broadcast_shape(*shapes):
    """Symbolic broadcast of shape tuples (of symbolic scalars), for infer_shape."""
    from .math import maximum

    nd = max(len(s) for s in shapes)
    padded = [(constant(np.int64(1)),) * (nd - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        non_one = [d for d in dims if not (isinstance(d, Constant) and d.data == 1)]
        if not non_one:
            out.append(dims[0])
        elif len(non_one) == 1:
            out.append(non_one[0])
        else:
            r = non_one[0]
            for d in non_one[1:]:
                r = maximum(r, d)
            out.append(r)
    return tuple(out)


def stack(tensors, axis=0):
    """Join tensors of one shape along a new `axis`."""
    from .join import join

    if not tensors:
        raise ValueError("stack: give at least one tensor")
    tensors = [as_tensor_variable(t) for t in tensors]
    return join(axis, *[shape_padaxis(t, axis) for t in tensors])


def broadcast_to(x, shp):
    """x broadcast to the shape vector/tuple `shp`."""
    from .alloc import alloc

    if isinstance(shp, (list, tuple)):
        return alloc(x, *shp)
    n = static_length(as_tensor_variable(shp))
    return alloc(x, *[shp[i] for i in range(n)])
