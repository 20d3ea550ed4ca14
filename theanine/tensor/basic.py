"""Converting Python and NumPy values to symbolic tensors; tensor constructors."""

from __future__ import annotations

import numpy as np

# the package, which imports this module: used at call time
# (as_tensor_variable stacks lists and casts with it)
import theanine.tensor as T
from theanine.config import config
from theanine.graph.basic import Constant, Variable

from .type import TensorType, canonical_dtype, plain_ndarray, python_scalar_dtype
from .variable import TensorConstant, TensorVariable  # noqa: F401 - re-exported


def constant(x, name=None, ndim=None, dtype=None):
    """A TensorConstant holding `x`. Python floats become floatX, Python ints the
    smallest int dtype that holds them (Theano's autocasting)."""
    if isinstance(x, TensorConstant):
        x = x.data
    if type(x) is not np.ndarray and isinstance(x, np.ndarray):
        x = plain_ndarray(x, "constant")
    if dtype is not None:
        dtype = canonical_dtype(dtype)
        arr = np.asarray(x, dtype=dtype)
    elif isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        arr = np.asarray(x, dtype=python_scalar_dtype(x))
    else:
        arr = np.asarray(x)
        if arr.dtype.kind in "OUSV":
            raise TypeError(f"constant: cannot make a tensor constant from {x!r}")
        if arr.size == 0 and not hasattr(x, "dtype"):
            arr = arr.astype(config.floatX)
    if ndim is not None:
        if arr.ndim > ndim:
            raise ValueError(f"constant: value has {arr.ndim} dims, more than ndim={ndim}")
        arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
    ttype = TensorType(arr.dtype, tuple(s == 1 for s in arr.shape))
    return TensorConstant(ttype, arr, name=name)


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """Return `x` as a TensorVariable: variables pass through, values become constants."""
    if isinstance(x, Variable) and isinstance(x.type, TensorType):
        if ndim is not None and x.ndim != ndim:
            extra = x.ndim - ndim
            if extra < 0:
                return T.shape_padleft(x, -extra)
            if all(x.broadcastable[:extra]):
                return x.dimshuffle(list(range(extra, x.ndim)))
            raise TypeError(f"cannot make {x} (type {x.type}) have {ndim} dimensions")
        if dtype is not None and x.dtype != canonical_dtype(dtype):
            return T.cast(x, dtype)
        return x
    if isinstance(x, Variable):
        if hasattr(x, "_as_tensor_variable"):
            return x._as_tensor_variable()
        raise TypeError(f"cannot convert {x} of type {x.type} to a tensor")
    if hasattr(x, "_as_TensorVariable"):
        return x._as_TensorVariable()
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flat(x)):
        return T.stack([as_tensor_variable(e) for e in x])
    if isinstance(x, Constant):
        x = x.data
    try:
        return constant(x, name=name, ndim=ndim, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot convert {x!r} to a symbolic tensor: {e}") from None


def _flat(x):
    stack = [x]
    while stack:
        e = stack.pop()
        if isinstance(e, (list, tuple)):
            stack.extend(e)
        else:
            yield e


# -- constructors -------------------------------------------------------------
def tensor(dtype=None, broadcastable=None, name=None, shape=None):
    """A symbolic tensor of the given dtype (default floatX) and broadcastable pattern."""
    if broadcastable is None and shape is None:
        raise TypeError("tensor(): give broadcastable=(...) or shape=(...)")
    return TensorType(dtype or config.floatX, broadcastable, shape=shape)(name)


def _maker(ndim_pattern, default_dtype=None):
    def make(name=None, dtype=None):
        return TensorType(dtype or default_dtype or config.floatX, ndim_pattern)(name)

    return make


scalar = _maker(())
vector = _maker((False,))
matrix = _maker((False, False))
row = _maker((True, False))
col = _maker((False, True))
tensor3 = _maker((False,) * 3)
tensor4 = _maker((False,) * 4)
tensor5 = _maker((False,) * 5)
tensor6 = _maker((False,) * 6)
tensor7 = _maker((False,) * 7)

_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64", "c": "complex64", "z": "complex128"}
_KINDS = {"scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
          "col": (False, True), "tensor3": (False,) * 3, "tensor4": (False,) * 4,
          "tensor5": (False,) * 5, "tensor6": (False,) * 6, "tensor7": (False,) * 7}

# As in Theano, T.dmatrix, T.ivector, ... are TensorType instances (calling one
# makes a variable: T.dmatrix("x")); T.matrix, T.vector, ... are functions (floatX).
typed_constructors = {_p + _k: TensorType(_dt, _pat)
                      for _p, _dt in _PREFIX.items() for _k, _pat in _KINDS.items()}


def _plural(maker):
    """Theano's plural constructors: ``T.scalars('x', 'y')`` and ``T.scalars(['x', 'y'])``
    give a list; one string is iterated (``T.scalars('xy')`` is [x, y]) and a string of
    one character gives the variable itself (``T.scalars('x')`` is x); an int n gives a
    list of n unnamed variables."""

    def make(*names):
        if len(names) == 1 and isinstance(names[0], (int, np.integer)) \
                and not isinstance(names[0], bool):
            return [maker() for _ in range(names[0])]
        if len(names) == 1:
            names = names[0]
        if len(names) == 1:
            return maker(names[0] if not isinstance(names, str) else names)
        return [maker(n) for n in names]

    return make


def _plural_name(kind):
    return "matrices" if kind == "matrix" else kind + "s"


for _k in _KINDS:  # Theano's plural forms: T.matrices("x", "y"), T.dvectors(3), ...
    typed_constructors[_plural_name(_k)] = _plural(_maker(_KINDS[_k]))
    for _p in _PREFIX:
        typed_constructors[_p + _plural_name(_k)] = _plural(typed_constructors[_p + _k])
