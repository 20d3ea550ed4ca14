"""TensorVariable and TensorConstant: operators and Theano's methods.

Every method delegates to the function of the same meaning in ``theanine.tensor``
(the package, bound at import and used at call time: it imports this module).
"""

from __future__ import annotations

import numpy as np

# the package, which imports this module: used at call time (the methods call its functions)
import theanine.tensor as T
from theanine.graph.basic import Constant, Variable


class _TensorMethods:
    __array_priority__ = 1000  # numpy arrays defer to our operators

    # -- metadata -------------------------------------------------------------
    @property
    def ndim(self):
        return self.type.ndim

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def shape(self):
        return T.shape(self)

    @property
    def size(self):
        return T.prod(self.shape)

    @property
    def T(self):
        return T.transpose(self)

    def __len__(self):
        raise TypeError("a symbolic tensor has no Python len(); use x.shape[0]")

    def __iter__(self):
        """A vector of statically known length (``x.shape``, ``T.stack([a, b])``, a
        constant) iterates over its elements, as Theano's ``get_vector_length``
        allows: ``n, d = x.shape``. Any other tensor raises TypeError."""
        n = _static_vector_length(self)
        if n is None:
            raise TypeError(f"a symbolic tensor is not iterable ({self} is a {self.type} "
                            "whose length is not known when the graph is built); index it "
                            "(x[i]) or use scan. Only vectors of known length iterate, "
                            "such as x.shape or T.stack([a, b]). (Did you mean T.sum "
                            "instead of the builtin sum?)")
        return iter([self[i] for i in range(n)])

    def __bool__(self):
        raise TypeError("a symbolic tensor has no truth value; use T.switch or ifelse, "
                        "or compare with T.eq / T.neq")

    # -- arithmetic -----------------------------------------------------------
    def __neg__(self):
        return T.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return T.abs_(self)

    def __invert__(self):
        return T.invert(self)

    def __add__(self, o):
        return T.add(self, o)

    def __radd__(self, o):
        return T.add(o, self)

    def __sub__(self, o):
        return T.sub(self, o)

    def __rsub__(self, o):
        return T.sub(o, self)

    def __mul__(self, o):
        return T.mul(self, o)

    def __rmul__(self, o):
        return T.mul(o, self)

    def __truediv__(self, o):
        return T.true_div(self, o)

    def __rtruediv__(self, o):
        return T.true_div(o, self)

    def __floordiv__(self, o):
        return T.int_div(self, o)

    def __rfloordiv__(self, o):
        return T.int_div(o, self)

    def __mod__(self, o):
        return T.mod(self, o)

    def __rmod__(self, o):
        return T.mod(o, self)

    def __pow__(self, o):
        return T.pow(self, o)

    def __rpow__(self, o):
        return T.pow(o, self)

    def __matmul__(self, o):
        return T.dot(self, o)

    def __rmatmul__(self, o):
        return T.dot(o, self)

    def __and__(self, o):
        return T.and_(self, o)

    __rand__ = __and__

    def __or__(self, o):
        return T.or_(self, o)

    __ror__ = __or__

    def __xor__(self, o):
        return T.xor(self, o)

    __rxor__ = __xor__

    def __lt__(self, o):
        return T.lt(self, o)

    def __le__(self, o):
        return T.le(self, o)

    def __gt__(self, o):
        return T.gt(self, o)

    def __ge__(self, o):
        return T.ge(self, o)

    # == and != stay identity (variables are dict keys); use T.eq / T.neq.

    # -- indexing -------------------------------------------------------------
    def __getitem__(self, idx):
        return T.getitem(self, idx)

    def take(self, indices, axis=None, mode="raise"):
        return T.take(self, indices, axis, mode)

    def nonzero(self, return_matrix=False):
        return T.nonzero(self, return_matrix)

    def nonzero_values(self):
        return T.nonzero_values(self)

    # -- shape ----------------------------------------------------------------
    def reshape(self, shape, *more, ndim=None):
        if more:
            shape = (shape, *more)
        return T.reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        return T.flatten(self, ndim)

    ravel = flatten

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = tuple(pattern[0])
        return T.dimshuffle(self, pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        return T.transpose(self, axes or None)

    def swapaxes(self, a, b):
        return T.swapaxes(self, a, b)

    def squeeze(self):
        return T.squeeze(self)

    def repeat(self, repeats, axis=None):
        return T.repeat(self, repeats, axis)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return T.diagonal(self, offset, axis1, axis2)

    def trace(self):
        return T.trace(self)

    def fill(self, value):
        return T.fill(self, value)

    def zeros_like(self, dtype=None):
        return T.zeros_like(self, dtype)

    def ones_like(self, dtype=None):
        return T.ones_like(self, dtype)

    def copy(self, name=None):
        out = T.tensor_copy(self)
        out.name = name
        return out

    # -- reductions -----------------------------------------------------------
    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return T.sum(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return T.prod(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return T.mean(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def var(self, axis=None, ddof=0, keepdims=False, corrected=False):
        return T.var(self, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected)

    def std(self, axis=None, ddof=0, keepdims=False, corrected=False):
        return T.std(self, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected)

    def max(self, axis=None, keepdims=False):
        return T.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return T.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return T.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return T.argmin(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return T.all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return T.any(self, axis=axis, keepdims=keepdims)

    def ptp(self, axis=None):
        return T.ptp(self, axis)

    def norm(self, L, axis=None, keepdims=False):
        return T.norm(self, L, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        return T.cumsum(self, axis)

    def cumprod(self, axis=None):
        return T.cumprod(self, axis)

    def sort(self, axis=-1, kind="quicksort", order=None):
        return T.sort(self, axis, kind, order)

    def argsort(self, axis=-1, kind="quicksort", order=None):
        return T.argsort(self, axis, kind, order)

    # -- elementwise ----------------------------------------------------------
    def astype(self, dtype):
        return T.cast(self, dtype)

    def clip(self, a_min, a_max):
        return T.clip(self, a_min, a_max)

    def dot(self, other):
        return T.dot(self, other)

    def round(self, mode=None):
        return T.round(self, mode)

    def conj(self):
        return T.conj(self)

    @property
    def real(self):
        return T.real(self)

    @property
    def imag(self):
        return T.imag(self)

    def sqrt(self):
        return T.sqrt(self)

    def exp(self):
        return T.exp(self)

    def log(self):
        return T.log(self)


class TensorVariable(_TensorMethods, Variable):
    """A symbolic n-dimensional array."""


class TensorConstant(_TensorMethods, Constant):
    """A constant n-dimensional array; ``.data`` holds its value."""

    def __init__(self, type, data, name=None):
        Constant.__init__(self, type, data, name)
        self.data.setflags(write=False)

    def __str__(self):
        """Theano's form: ``TensorConstant{2.0}``; long values are elided in the middle."""
        if self.name is not None:
            return self.name
        d = self.data
        if d.ndim > 0 and d.size > 0 and (d == d.flat[0]).all():
            return f"TensorConstant{{{d.shape} of {d.flat[0]}}}"  # Theano's form
        text = str(self.data)
        if len(text) > 20:
            text = text[:10] + ".." + text[-10:]
        return f"TensorConstant{{{text}}}"

    def value(self):
        return self.data

    def __reduce__(self):
        return (_rebuild_constant, (self.type, np.array(self.data), self.name))


def _rebuild_constant(type_, data, name):
    return TensorConstant(type_, data, name)


def static_length(v):
    """Length of a 1-d symbolic vector when known without running it (else None):
    a constant, the output of an op with a ``static_length(node)`` method (Shape,
    MakeVector, a constant slice of those), or a broadcastable vector."""
    if isinstance(v, Constant):
        return int(np.asarray(v.data).shape[0])
    if v.owner is not None and hasattr(v.owner.op, "static_length"):
        return v.owner.op.static_length(v.owner)
    if v.broadcastable == (True,):
        return 1
    return None


def _static_vector_length(v):
    return static_length(v) if v.type.ndim == 1 else None
