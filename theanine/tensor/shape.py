"""Shape ops: Shape, Shape_i, MakeVector, Reshape, Rebroadcast, and dimension
helpers (dimshuffle, transpose, shape_pad*, flatten, squeeze, broadcast helpers).

Invariants:
- Shapes are int64: ``shape(x)`` is an int64 vector of static length x.ndim,
  ``shape_i(x, i)`` an int64 scalar.
- A reshape target is a vector of static length (the output ndim); it may mix
  ints and symbolic scalars, with one -1 inferred as in NumPy. Target entries
  known to be 1 (constants, or lengths of broadcastable dims) make the output
  dim broadcastable, as in Theano.
- ``shape_elements(v, n)`` turns a shape vector into n scalars without indexing
  when its structure is known (Shape, MakeVector, constants).
- ``infer_shapes(outputs, inputs)`` states the outputs' shapes through each op's
  infer_shape: an output is computed only where its op cannot say.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type
from theanine.graph.traversal import toposort

from .basic import as_tensor_variable, constant
from .dims import (  # noqa: F401
    Rebroadcast,
    _is_one,
    addbroadcast,
    broadcast_shape,
    dimshuffle,
    patternbroadcast,
    shape_padaxis,
    shape_padleft,
    shape_padright,
    squeeze,
    swapaxes,
    transpose,
    unbroadcast,
)
from .math import cast, eq, int_div, mul, switch
from .type import TensorType, upcast
from .variable import static_length  # noqa: F401 - re-exported (Theano's helpers use it)


def _disconnected():
    return disconnected_type()


def _int64(v):
    return constant(np.int64(v))


class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (False,))()])

    def compute(self, node, x):
        return np.asarray(np.shape(x), dtype="int64")

    def grad(self, inputs, output_grads):
        return [_disconnected()]

    def connection_pattern(self, node):
        return [[False]]

    def infer_shape(self, node, shapes):
        return [(_int64(node.inputs[0].ndim),)]

    def static_length(self, node):
        return node.inputs[0].ndim


_shape = Shape()


def shape(x):
    """Symbolic shape of x (int64 vector). ``x.shape[i]`` is one dimension."""
    return _shape(as_tensor_variable(x))


class Shape_i(Op):
    """The length of dimension `i` of a tensor (int64 scalar)."""

    __props__ = ("i",)

    def __init__(self, i):
        self.i = int(i)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise ValueError(f"shape_i: dimension {self.i} out of range for {x.ndim}-d {x}")
        return Apply(self, [x], [TensorType("int64", ())()])

    def compute(self, node, x):
        return np.asarray(x.shape[self.i], dtype="int64")

    def grad(self, inputs, output_grads):
        return [_disconnected()]

    def connection_pattern(self, node):
        return [[False]]

    def infer_shape(self, node, shapes):
        return [()]


def shape_i(x, i):
    """Length of dimension i of x (negative i counts from the end), an int64 scalar.
    A broadcastable dimension gives the constant 1."""
    x = as_tensor_variable(x)
    if not -x.ndim <= i < x.ndim:
        raise IndexError(f"shape_i: dimension {i} out of range for {x.ndim}-d {x}")
    i %= x.ndim
    if x.broadcastable[i]:
        return _int64(1)
    if isinstance(x, Constant):
        return _int64(x.data.shape[i])
    return Shape_i(i)(x)


class MakeVector(Op):
    """A vector built from scalars (all cast to `dtype`)."""

    __props__ = ("dtype",)

    def __init__(self, dtype="int64"):
        self.dtype = dtype

    def make_node(self, *scalars):
        xs = [as_tensor_variable(s) for s in scalars]
        for k, s in enumerate(xs):
            if s.ndim != 0:
                raise TypeError(f"make_vector: element {k} must be a scalar, got {s.type}")
            if upcast(s.dtype, self.dtype) != self.dtype and not isinstance(s, Constant):
                raise TypeError(f"make_vector: element {k} of dtype {s.dtype} does not fit "
                                f"the vector dtype {self.dtype}")
        return Apply(self, xs, [TensorType(self.dtype, (len(xs) == 1,))()])

    def compute(self, node, *scalars):
        return np.asarray(scalars, dtype=self.dtype).reshape(len(scalars))

    def grad(self, inputs, output_grads):
        (gz,) = output_grads
        if not self.dtype.startswith(("float", "complex")):
            return [_disconnected() for _ in inputs]
        return [gz[k] for k in range(len(inputs))]

    def infer_shape(self, node, shapes):
        return [(_int64(len(node.inputs)),)]

    def static_length(self, node):
        return len(node.inputs)


def make_vector(*scalars, dtype=None):
    """A vector of the scalars; dtype defaults to their upcast."""
    xs = [as_tensor_variable(s) for s in scalars]
    dtype = dtype or (upcast(*[s.dtype for s in xs]) if xs else "int64")
    return MakeVector(dtype)(*xs)


def get_vector_length(v):
    """Theano's name: the static length of vector v, or ValueError if unknown."""
    v = as_tensor_variable(v)
    if v.ndim != 1:
        raise TypeError(f"get_vector_length: expected a vector, got {v.type}")
    n = static_length(v)
    if n is None:
        raise ValueError(f"get_vector_length: the length of {v} is not known statically")
    return n


def shape_elements(v, n):
    """The n int64 scalars of shape vector v (no indexing op when avoidable)."""
    if isinstance(v, Constant):
        return [_int64(s) for s in np.asarray(v.data).reshape(-1)]
    if v.owner is not None and isinstance(v.owner.op, Shape):
        x = v.owner.inputs[0]
        return [shape_i(x, i) for i in range(x.ndim)]
    if v.owner is not None and isinstance(v.owner.op, MakeVector):
        return [cast(s, "int64") for s in v.owner.inputs]

    return [cast(v[i], "int64") for i in range(n)]


def _known_ones(shp, n):
    if isinstance(shp, Constant):
        return [int(s) == 1 for s in np.asarray(shp.data)]
    if shp.owner is not None and isinstance(shp.owner.op, Shape):
        return list(shp.owner.inputs[0].broadcastable)
    if shp.owner is not None and isinstance(shp.owner.op, MakeVector):
        return [_is_one(s) for s in shp.owner.inputs]
    return [False] * n


class Reshape(Op):
    """Reshape to a shape vector of static length `ndim` (one -1 allowed)."""

    __props__ = ("ndim",)

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shp):
        x = as_tensor_variable(x)
        shp = as_tensor_variable(shp, ndim=1)
        if shp.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"):
            raise TypeError(f"reshape: the new shape must be integers, got dtype {shp.dtype}")
        n = static_length(shp)
        if n is not None and n != self.ndim:
            raise ValueError(f"reshape: the new shape has {n} entries but ndim={self.ndim}")
        if isinstance(shp, Constant):
            vals = np.asarray(shp.data)
            if np.sum(vals == -1) > 1 or np.any(vals < -1):
                raise ValueError(f"reshape: invalid new shape {tuple(vals)} (at most one -1, "
                                 "other entries >= 0)")
        return Apply(self, [x, shp], [TensorType(x.dtype, _known_ones(shp, self.ndim))()])

    def compute(self, node, x, shp):
        new = tuple(int(s) for s in shp)
        if len(new) != self.ndim:
            raise ValueError(f"reshape: the new shape {new} has {len(new)} entries, expected "
                             f"{self.ndim}")
        try:
            return np.reshape(x, new)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an array of shape {np.shape(x)} "
                             f"(size {np.size(x)}) into shape {new}") from None

    def grad(self, inputs, output_grads):
        x, _ = inputs
        return [reshape(output_grads[0], shape(x), ndim=x.ndim), _disconnected()]

    def connection_pattern(self, node):
        return [[True], [False]]

    def infer_shape(self, node, shapes):
        x, shp = node.inputs
        items = shape_elements(shp, self.ndim)
        if all(isinstance(s, Constant) and int(s.data) >= 0 for s in items):
            return [tuple(items)]
        size = _prod(shapes[0])
        # With exactly one -1 entry, -prod(entries) is the product of the others.
        known = -_prod(items)
        out = []
        for s in items:
            if isinstance(s, Constant) and int(s.data) >= 0:
                out.append(s)
            else:
                out.append(switch(eq(s, -1), int_div(size, known), s))
        return [tuple(out)]


def _prod(items):
    items = list(items)
    if not items:
        return _int64(1)
    return items[0] if len(items) == 1 else mul(*items)


def _shape_vector(newshape):
    """A shape given as a tuple of ints / symbolic scalars -> an int64 vector."""
    if not newshape:
        return constant(np.zeros(0, dtype="int64"))
    if all(isinstance(s, (int, np.integer)) for s in newshape):
        return constant(np.asarray(newshape, dtype="int64"))
    elems = []
    for k, s in enumerate(newshape):
        if isinstance(s, (int, np.integer)):
            elems.append(_int64(s))
            continue
        s = as_tensor_variable(s)
        if s.ndim != 0 or s.dtype not in ("int8", "int16", "int32", "int64", "uint8",
                                          "uint16", "uint32"):
            raise TypeError(f"shape entry {k} must be an integer scalar, got {s.type}")
        elems.append(s)
    return MakeVector("int64")(*elems)


def reshape(x, newshape, ndim=None):
    """x with shape `newshape`: a tuple/list of ints and symbolic scalars, or an int
    vector (then its length must be static, or given as `ndim`)."""
    x = as_tensor_variable(x)
    if isinstance(newshape, (list, tuple)):
        shp = _shape_vector(newshape)
        n = len(newshape)
    elif isinstance(newshape, (int, np.integer)):
        shp, n = constant(np.asarray([newshape], dtype="int64")), 1
    else:
        shp = as_tensor_variable(newshape)
        if shp.ndim != 1:
            raise TypeError(f"reshape: newshape must be a tuple or an int vector, got {shp.type}")
        n = static_length(shp) if ndim is None else ndim
        if n is None:
            raise ValueError("reshape: the length of the new shape is unknown; pass ndim=")
    if ndim is not None and ndim != n:
        raise ValueError(f"reshape: ndim={ndim} does not match the new shape's length {n}")
    return Reshape(n)(x, shp)


def flatten(x, ndim=1, outdim=None):
    """Keep the first ndim-1 dims and collapse the rest into one (Theano: `outdim`)."""
    x = as_tensor_variable(x)
    ndim = outdim if outdim is not None else (1 if ndim is None else ndim)
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be in [1, {max(x.ndim, 1)}] for a {x.ndim}-d "
                         f"tensor, got {ndim}")
    lead = [shape_i(x, i) for i in range(ndim - 1)]
    out = reshape(x, lead + [-1])
    bc = x.broadcastable[:ndim - 1] + (all(x.broadcastable[ndim - 1:]),)
    return patternbroadcast(out, bc)


def infer_shapes(outputs, inputs):
    """The shapes of `outputs` (tensor variables) as tuples of int64 scalars computed
    from `inputs`, through each op's ``infer_shape`` (a zero-step loop's per-step
    output shapes, for one). Where an op cannot tell a shape (no infer_shape, or an
    error, or an answer that needs the op's own outputs), the entry is Shape_i of
    the output, which computes it. A non-tensor output gives None."""
    shapes = {}

    def of(v):
        if id(v) not in shapes:
            shapes[id(v)] = (tuple(shape_i(v, d) for d in range(v.ndim))
                             if isinstance(v.type, TensorType) else None)
        return shapes[id(v)]

    for node in toposort(outputs, stop_at=inputs):
        try:
            stated = node.op.infer_shape(node, [of(v) for v in node.inputs])
        except Exception:  # noqa: BLE001 - an op that cannot say: its outputs are computed
            stated = None
        for k, o in enumerate(node.outputs):
            entries = _int64_entries(stated[k], o) if stated is not None else None
            if entries is not None and not _reads(entries, node.outputs):
                shapes[id(o)] = entries
    return [of(o) for o in outputs]


def _int64_entries(shape, v):
    """`shape` (ints and integer scalars) as a tuple of int64 scalars for v, or None."""
    if not isinstance(v.type, TensorType) or shape is None or len(shape) != v.ndim:
        return None
    out = []
    for e in shape:
        if isinstance(e, int | np.integer):
            e = _int64(e)
        if not isinstance(getattr(e, "type", None), TensorType) or e.ndim != 0 \
                or not e.dtype.startswith(("int", "uint")):
            return None
        out.append(e if e.dtype == "int64" else cast(e, "int64"))
    return tuple(out)


def _reads(entries, outputs):
    """Whether shape entries depend on one of `outputs` (stopping at Shape ops, which
    do not read their input's value)."""
    targets = {id(o) for o in outputs}
    stack, seen = list(entries), set()
    while stack:
        v = stack.pop()
        if id(v) in targets:
            return True
        if v.owner is None or id(v.owner) in seen:
            continue
        seen.add(id(v.owner))
        if isinstance(v.owner.op, Shape | Shape_i):
            if id(v.owner.inputs[0]) in targets:
                return True
            continue
        stack.extend(v.owner.inputs)
    return False
