"""Reductions: sum prod max min all any (one CAReduce op), argmax/argmin,
and the compositions mean var std max_and_argmax ptp norm.

CAReduce always drops the reduced axes; ``keepdims`` is a DimShuffle after it,
so gradients see one form.
"""

from __future__ import annotations

import builtins

import numpy as np

from theanine.graph.basic import Apply, Op, disconnected_type, grad_not_implemented

from . import math as M
from .basic import as_tensor_variable, constant
from .elemwise import DimShuffle
from .math import abs_, cast, isclose, mul, sqr, sqrt, true_div
from .shape import reshape, shape, transpose
from .type import TensorType, canonical_dtype

_KINDS = ("sum", "prod", "max", "min", "all", "any", "prod_without_zeros")


def normalize_axis(axis, ndim, arg="axis"):
    """Return a sorted tuple of non-negative axes (None means all axes)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    if hasattr(axis, "data") and not isinstance(axis, (list, tuple)):
        axis = np.atleast_1d(axis.data).tolist()
    if not isinstance(axis, (list, tuple)):
        raise TypeError(f"{arg}: expected None, an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axis:
        if hasattr(a, "data"):
            a = int(a.data)
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{arg}: expected ints, got {a!r} in {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{arg}: expected an axis in [{-ndim}, {ndim}) for a {ndim}-d "
                             f"tensor, got {a}")
        a = int(a) % ndim
        if a in out:
            raise ValueError(f"{arg}: expected distinct axes, got {axis} (axis {a} repeated)")
        out.append(a)
    return tuple(sorted(out))


class CAReduce(Op):
    """Reduce over `axis` (tuple of ints) with one of sum/prod/max/min/all/any."""

    __props__ = ("kind", "axis", "dtype")

    def __init__(self, kind, axis, dtype=None):
        if kind not in _KINDS:
            raise ValueError(f"CAReduce kind must be one of {_KINDS}, got {kind!r}")
        self.kind, self.axis, self.dtype = kind, tuple(axis), dtype

    def __str__(self):
        return f"{self.kind.capitalize()}{{axis={list(self.axis)}}}"

    def out_dtype(self, in_dtype):
        if self.dtype is not None:
            return self.dtype
        if self.kind in ("all", "any"):
            return "bool"
        if self.kind in ("max", "min"):
            return in_dtype
        if in_dtype == "bool" or in_dtype.startswith("int"):
            return "int64"
        if in_dtype.startswith("uint"):
            return "uint64"
        return in_dtype

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a in self.axis:
            if a >= x.ndim:
                raise ValueError(f"{self}: axis {a} out of range for {x.ndim}-d input")
        bc = tuple(b for i, b in enumerate(x.broadcastable) if i not in self.axis)
        return Apply(self, [x], [TensorType(self.out_dtype(x.dtype), bc)()])

    def compute(self, node, x):
        dt = node.outputs[0].type.dtype
        ax = self.axis
        k = self.kind
        if k == "sum":
            return np.asarray(np.sum(x, axis=ax, dtype=dt))
        if k == "prod":
            return np.asarray(np.prod(x, axis=ax, dtype=dt))
        if k == "prod_without_zeros":
            return np.asarray(np.prod(np.where(x == 0, 1, x), axis=ax, dtype=dt))
        if x.size == 0 and k in ("max", "min") and builtins.any(x.shape[a] == 0 for a in ax):
            raise ValueError(f"{self}: reduction over an empty axis of shape {x.shape}")
        fn = {"max": np.max, "min": np.min, "all": np.all, "any": np.any}[k]
        return np.asarray(fn(x, axis=ax)).astype(dt, copy=False)

    def grad(self, inputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        if self.kind in ("all", "any") or not x.dtype.startswith(("float", "complex")):
            return [disconnected_type()]
        out = self(x)
        gzb = expand(gz, self.axis, x.ndim)
        if self.kind == "sum":
            return [M.second(x, gzb)]
        outb = expand(out, self.axis, x.ndim)
        if self.kind in ("max", "min"):
            return [gzb * M.eq(x, outb)]
        if self.kind == "prod":
            nz = expand(CAReduce("prod_without_zeros", self.axis)(x), self.axis, x.ndim)
            nzeros = expand(CAReduce("sum", self.axis)(M.eq(x, 0)), self.axis, x.ndim)
            where_zero = M.switch(M.eq(nzeros, 1), nz, 0)
            safe_x = M.switch(M.eq(x, 0), 1, x)
            return [gzb * M.switch(M.eq(x, 0), where_zero, outb / safe_x)]

        return [grad_not_implemented(self, 0, x)]

    def infer_shape(self, node, shapes):
        return [tuple(s for i, s in enumerate(shapes[0]) if i not in self.axis)]


def expand(v, axes, ndim):
    """Re-insert the reduced `axes` as broadcastable dims (inverse of a reduction)."""
    pattern, it = [], iter(range(v.ndim))
    for i in range(ndim):
        pattern.append("x" if i in axes else next(it))
    return DimShuffle(v.broadcastable, pattern)(v)


def _reduce(kind, x, axis, keepdims, dtype=None):
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    if dtype is not None:
        dtype = canonical_dtype(dtype)
    out = CAReduce(kind, axes, dtype)(x)
    return expand(out, axes, x.ndim) if keepdims else out


def sum(input, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over `axis` (int, tuple or None for all). Ints and bools sum to int64."""
    return _reduce("sum", input, axis, keepdims, dtype)


def prod(input, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over `axis`; the gradient is exact with zeros in the input."""
    return _reduce("prod", input, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over `axis`; the gradient goes to every maximal element."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over `axis`."""
    return _reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """Logical and over `axis` (bool)."""
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    """Logical or over `axis` (bool)."""
    return _reduce("any", x, axis, keepdims)


def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether every element of a is close to b's (numpy.allclose), as a 0-d bool."""
    return all(isclose(a, b, rtol, atol, equal_nan))


def _count(x, axes):
    sh = shape(x)
    if not axes:
        return constant(np.int64(1))
    parts = [sh[a] for a in axes]
    return parts[0] if len(parts) == 1 else mul(*parts)


def mean(input, axis=None, dtype=None, op=False, keepdims=False, acc_dtype=None):
    """Arithmetic mean over `axis`. Integer inputs give float64."""
    x = as_tensor_variable(input)
    axes = normalize_axis(axis, x.ndim)
    s = sum(x, axes, dtype=dtype)
    n = _count(x, axes)
    if s.dtype.startswith(("float", "complex")):
        out = true_div(s, cast(n, s.dtype if s.dtype.startswith("float") else "float64"))
    else:
        out = true_div(cast(s, "float64"), cast(n, "float64"))
    return expand(out, axes, x.ndim) if keepdims else out


def var(input, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over `axis`, dividing by n - ddof. Integer inputs give float64.

    corrected=True uses the corrected two-pass algorithm (Theano's flag): the
    rounding error of the mean is subtracted, sum(c**2) - sum(c)**2 / n; the
    divisor is still n - ddof."""
    x = as_tensor_variable(input)
    axes = normalize_axis(axis, x.ndim)
    if not x.dtype.startswith(("float", "complex")):
        x = cast(x, "float64")
    centered = x - mean(x, axes, keepdims=True)
    s = sum(sqr(centered), axes)
    n = cast(_count(x, axes), s.dtype)
    if corrected:
        s = s - true_div(sqr(sum(centered, axes)), n)
    if ddof:
        n = n - ddof
    out = true_div(s, n)
    return expand(out, axes, x.ndim) if keepdims else out


def std(input, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over `axis`."""
    return sqrt(var(input, axis, ddof, keepdims, corrected))


class Argmax(Op):
    """Index of the maximum (or minimum) along one axis, or over the flattened input."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="max"):
        self.axis, self.kind = axis, kind

    def make_node(self, x):
        x = as_tensor_variable(x)
        if self.axis is None:
            bc = ()
        else:
            bc = tuple(b for i, b in enumerate(x.broadcastable) if i != self.axis)
        return Apply(self, [x], [TensorType("int64", bc)()])

    def compute(self, node, x):
        fn = np.argmax if self.kind == "max" else np.argmin
        if x.size == 0:
            raise ValueError(f"arg{self.kind} of an empty array (shape {x.shape})")
        return np.asarray(fn(x, axis=self.axis), dtype="int64")

    def grad(self, inputs, output_grads):
        # integer-valued: connected (as Theano), and grad() gives the input zero
        return [disconnected_type()]

    def infer_shape(self, node, shapes):
        if self.axis is None:
            return [()]
        return [tuple(s for i, s in enumerate(shapes[0]) if i != self.axis)]


def _arg(kind, x, axis, keepdims):
    """Several axes are searched together: the index is into those axes flattened
    in order (as Theano)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    if len(axes) == x.ndim:
        out = Argmax(None, kind)(x)
    elif len(axes) == 1:
        out = Argmax(axes[0], kind)(x)
    else:
        kept = [i for i in range(x.ndim) if i not in axes]
        sh = shape(x)
        moved = transpose(x, kept + list(axes))
        out = Argmax(len(kept), kind)(reshape(moved, [sh[i] for i in kept] + [-1]))
    return expand(out, axes, x.ndim) if keepdims else out


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along `axis` (None: of the flattened tensor), int64."""
    return _arg("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along `axis` (None: of the flattened tensor), int64."""
    return _arg("min", x, axis, keepdims)


def max_and_argmax(a, axis=None, keepdims=False):
    """(max, argmax) over `axis`."""
    return [max(a, axis, keepdims), argmax(a, axis, keepdims)]


def ptp(a, axis=None):
    """max - min over `axis`."""
    return max(a, axis) - min(a, axis)


def norm(x, ord, axis=None, keepdims=False):
    """Vector p-norm over `axis` (ord 1, 2, inf, or any positive number)."""
    x = as_tensor_variable(x)
    if not isinstance(ord, (int, float, np.integer, np.floating)) or not ord > 0:
        raise ValueError(f"norm: ord must be a positive number or numpy.inf, got {ord!r}")
    if ord == 2:
        return sqrt(sum(sqr(abs_(x)), axis, keepdims=keepdims))
    if ord == 1:
        return sum(abs_(x), axis, keepdims=keepdims)
    if ord == np.inf:
        return max(abs_(x), axis, keepdims=keepdims)
    return M.pow(sum(M.pow(abs_(x), ord), axis, keepdims=keepdims), 1.0 / ord)
