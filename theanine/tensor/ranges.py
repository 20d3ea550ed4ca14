"""Ranges and structured matrices: arange, eye, tri, tril, triu, identity_like,
to_one_hot, bartlett.

Invariants: ARange is the one Op; eye/tri/tril/triu are compositions of
arange, comparisons and switch (so shapes, backends and gradients come free).
arange's default dtype follows Theano 1.0: the upcast of its arguments, with
every integer dtype widened to int64 (unsigned to uint64); Python scalars are
weak as in elementwise ops (alone, floats are floatX).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type

from .alloc import as_int64_scalar
from .basic import as_tensor_variable
from .elemwise import convert_weak_scalars
from .math import cast, ceil, eq, ge, maximum, switch, true_div
from .reduce import sum as tsum
from .shape import shape_i
from .type import TensorType, canonical_dtype, upcast


def _real_scalar(v, fn, arg):
    v = as_tensor_variable(v)
    if v.ndim != 0:
        raise TypeError(f"{fn}: {arg} must be a scalar, got {v.type}")
    if v.dtype == "bool" or v.dtype.startswith("complex"):
        raise TypeError(f"{fn}: {arg} must be an int or float scalar, got dtype {v.dtype}")
    return v


class ARange(Op):
    """arange(start, stop, step) of a fixed output dtype (a vector)."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = canonical_dtype(dtype)

    def make_node(self, start, stop, step):
        ins = [_real_scalar(v, "arange", n)
               for v, n in ((start, "start"), (stop, "stop"), (step, "step"))]
        if isinstance(ins[2], Constant) and ins[2].data == 0:
            raise ValueError("arange: step must not be 0")
        return Apply(self, ins, [TensorType(self.dtype, (False,))()])

    def compute(self, node, start, stop, step):
        if step == 0:
            raise ValueError("arange: step must not be 0")
        return np.arange(start, stop, step, dtype=self.dtype)

    def grad(self, inputs, output_grads):
        (gz,) = output_grads
        # out[i] = start + i * step; stop only changes the length (piecewise constant).
        idx = cast(arange(shape_i(gz, 0)), gz.dtype)
        return [tsum(gz), disconnected_type(), tsum(gz * idx)]

    def connection_pattern(self, node):
        return [[True], [False], [True]]

    def infer_shape(self, node, shapes):
        start, stop, step = [cast(v, "float64") for v in node.inputs]
        n = cast(ceil(true_div(stop - start, step)), "int64")
        return [(maximum(n, 0),)]


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop) (numpy.arange; one argument is `stop`)."""
    if stop is None:
        start, stop = 0, start
    # Python scalars are weak, as in elementwise ops: arange(x_f32, 3, 0.5) is float32.
    start, stop, step = convert_weak_scalars([start, stop, step])
    start, stop, step = [_real_scalar(v, "arange", n)
                         for v, n in ((start, "start"), (stop, "stop"), (step, "step"))]
    if dtype is None:
        dtype = upcast(start.dtype, stop.dtype, step.dtype)
        if dtype.startswith("int"):
            dtype = "int64"
        elif dtype.startswith("uint"):
            dtype = "uint64"
    return ARange(canonical_dtype(dtype))(start, stop, step)


def _grid(n, m, k, fn):
    """(rows, cols): int64 aranges shaped (n, 1) and (1, m), rows shifted by k."""
    n = as_int64_scalar(n, f"{fn}: N")
    m = n if m is None else as_int64_scalar(m, f"{fn}: M")
    k = as_int64_scalar(k, f"{fn}: k")
    rows = arange(n, dtype="int64").dimshuffle(0, "x")
    cols = arange(m, dtype="int64").dimshuffle("x", 0)
    return rows + k, cols


def eye(n, m=None, k=0, dtype=None):
    """An n x m matrix (m defaults to n) with ones on diagonal k (dtype default floatX)."""
    rows, cols = _grid(n, m, k, "eye")
    return cast(eq(rows, cols), canonical_dtype(dtype or "floatX"))


def tri(N, M=None, k=0, dtype=None):
    """An N x M matrix with ones at and below diagonal k (numpy.tri; dtype default floatX)."""
    rows, cols = _grid(N, M, k, "tri")
    return cast(ge(rows, cols), canonical_dtype(dtype or "floatX"))


def _tri_mask(m, k, fn):
    m = as_tensor_variable(m)
    if m.ndim < 2:
        raise ValueError(f"{fn}: the input must have at least 2 dims, got {m.ndim}-d {m}")

    rows, cols = _grid(shape_i(m, -2), shape_i(m, -1), k, fn)
    return m, ge(rows, cols)


def tril(m, k=0):
    """m with the elements above diagonal k zeroed (last two axes)."""
    m, mask = _tri_mask(m, k, "tril")
    return switch(mask, m, 0)


def triu(m, k=0):
    """m with the elements below diagonal k zeroed (last two axes)."""
    m, mask = _tri_mask(m, k - 1, "triu")
    return switch(mask, 0, m)


def identity_like(x):
    """The identity matrix of x's shape and dtype (x a matrix)."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"identity_like: x must be a matrix, got {x.type}")
    return eye(shape_i(x, 0), shape_i(x, 1), 0, dtype=x.dtype)


class OneHot(Op):
    """to_one_hot(y, nb_class): row i has a 1 in column y[i] (y an int vector)."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = canonical_dtype(dtype)

    def make_node(self, y, nb_class):
        y = as_tensor_variable(y)
        if y.ndim != 1 or not y.dtype.startswith(("int", "uint")):
            raise TypeError(f"to_one_hot: y must be an integer vector, got {y.type}")
        nb = as_int64_scalar(nb_class, "to_one_hot: nb_class")
        bc = (y.broadcastable[0], isinstance(nb, Constant) and int(nb.data) == 1)
        return Apply(self, [y, nb], [TensorType(self.dtype, bc)()])

    def compute(self, node, y, nb_class):
        nb = int(nb_class)
        bad = (y < 0) | (y >= nb)
        if bad.any():
            raise ValueError(f"to_one_hot: class index {y[bad][0]} out of range for "
                             f"nb_class={nb} (y must be in [0, {nb}))")
        out = np.zeros((y.shape[0], nb), dtype=self.dtype)
        out[np.arange(y.shape[0]), y] = 1
        return out

    def grad(self, inputs, output_grads):
        return [disconnected_type(), disconnected_type()]

    def connection_pattern(self, node):
        return [[False], [False]]

    def infer_shape(self, node, shapes):
        return [(shapes[0][0], node.inputs[1])]


def to_one_hot(y, nb_class, dtype=None):
    """One-hot rows for the class indices y: a len(y) x nb_class matrix (default floatX)."""
    return OneHot(dtype or "floatX")(y, nb_class)


class Bartlett(Op):
    """numpy.bartlett(M): the triangular window of M points (a float64 vector)."""

    __props__ = ()

    def make_node(self, M):
        M = as_int64_scalar(M, "bartlett: M")
        return Apply(self, [M], [TensorType("float64", (False,))()])

    def compute(self, node, M):
        return np.bartlett(int(M)).astype("float64")

    def grad(self, inputs, output_grads):
        return [disconnected_type()]

    def connection_pattern(self, node):
        return [[False]]

    def infer_shape(self, node, shapes):
        return [(maximum(node.inputs[0], 0),)]


def bartlett(M):
    """The Bartlett (triangular) window of M points, float64 (numpy.bartlett)."""
    return Bartlett()(M)


__all__ = ["Bartlett", "bartlett", "ARange", "arange", "eye", "tri", "tril", "triu",
           "identity_like", "OneHot", "to_one_hot"]
