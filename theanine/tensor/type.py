"""TensorType: dtype + broadcastable pattern, value filtering, dtype rules.

Theano's dtype rules: binary ops upcast as NumPy does for arrays; Python
int literals take the smallest int dtype that holds them; Python float
literals take ``config.floatX``; integer inputs to float-valued functions
become float32 (8/16-bit ints) or float64.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

# the package, which imports this module: used at call time
# (filter_variable converts with its functions)
import theanine.tensor as T
from theanine.config import config
from theanine.graph.basic import Type, Variable

from .variable import TensorConstant, TensorVariable

int_dtypes = ("int8", "int16", "int32", "int64")
uint_dtypes = ("uint8", "uint16", "uint32", "uint64")
float_dtypes = ("float16", "float32", "float64")
complex_dtypes = ("complex64", "complex128")
integer_dtypes = int_dtypes + uint_dtypes
discrete_dtypes = ("bool",) + integer_dtypes
continuous_dtypes = float_dtypes + complex_dtypes
all_dtypes = discrete_dtypes + continuous_dtypes

_ALIASES = {"floatX": None, "float": "float64", "int": "int64", "uint": "uint64",
            "complex": "complex128", "bool_": "bool"}


# Normalised names by spec; filled lazily with every spec seen (np.dtype objects,
# scalar types, 'f4', ...) because np.dtype(x).name is slow and graphs of
# 100,000 nodes normalise dtypes several times per node.
_CANON = {d: d for d in all_dtypes}
_NP_DTYPES = {d: np.dtype(d) for d in all_dtypes}
_CANON.update({k: v for k, v in _ALIASES.items() if v})


def canonical_dtype(dtype, arg="dtype"):
    """Normalise a dtype spec ('floatX', np.float32, 'f4', ...) to a Theano dtype name."""
    if type(dtype) is str and dtype == "floatX":
        return config.floatX
    try:
        hit = _CANON.get(dtype)
    except TypeError:  # unhashable spec
        hit = None
    if hit is not None:
        return hit
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"{arg}: expected a dtype among {all_dtypes}, got {dtype!r}") from None
    if name not in all_dtypes:
        raise TypeError(f"{arg}: expected a dtype among {all_dtypes}, got {dtype!r}")
    try:
        _CANON[dtype] = name
    except TypeError:
        pass
    return name


@functools.lru_cache(maxsize=4096)
def _upcast(dtypes):
    return np.result_type(*[np.dtype(d) for d in dtypes]).name


def upcast(*dtypes):
    """The dtype NumPy gives an operation on arrays of these dtypes."""
    return _upcast(dtypes)


def upgrade_to_float(dtype):
    """Output dtype of float-valued functions (exp, true_div, ...) of `dtype`."""
    if dtype in continuous_dtypes:
        return dtype
    if dtype in ("bool", "int8", "uint8", "int16", "uint16"):
        return "float32"
    return "float64"


def python_scalar_dtype(x):
    """Theano's autocast of Python scalars: floats to floatX, ints to the smallest int."""
    if isinstance(x, np.generic):
        return x.dtype.name
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        for d in int_dtypes:
            info = np.iinfo(d)
            if info.min <= x <= info.max:
                return d
        return "uint64" if 0 <= x <= np.iinfo("uint64").max else "float64"
    if isinstance(x, float):
        return config.floatX
    if isinstance(x, complex):
        return "complex128"
    return np.asarray(x).dtype.name


class TensorType(Type):
    """Type of n-dimensional arrays: a dtype and a broadcastable pattern.

    ``broadcastable[i]`` is True when dimension i is known to have length 1
    (and so broadcasts against any length)."""

    constant_type = TensorConstant

    def __init__(self, dtype, broadcastable=None, shape=None, name=None):
        self.dtype = canonical_dtype(dtype)
        if broadcastable is None and shape is None:
            raise TypeError("TensorType: give broadcastable (tuple of bools) or shape")
        if broadcastable is None:
            broadcastable = tuple(s == 1 for s in shape)
        self.broadcastable = tuple(bool(b) for b in broadcastable)
        self.name = name
        self.numpy_dtype = _NP_DTYPES[self.dtype]

    @property
    def ndim(self):
        return len(self.broadcastable)

    @property
    def shape(self):
        return tuple(1 if b else None for b in self.broadcastable)

    def clone(self, dtype=None, broadcastable=None):
        return TensorType(self.dtype if dtype is None else dtype,
                          self.broadcastable if broadcastable is None else broadcastable)

    def __eq__(self, other):
        return (type(other) is TensorType and other.dtype == self.dtype
                and other.broadcastable == self.broadcastable)

    def __hash__(self):
        return hash((TensorType, self.dtype, self.broadcastable))

    def __str__(self):
        if self.name:
            return self.name
        names = {(): "scalar", (False,): "vector", (False, False): "matrix",
                 (True, False): "row", (False, True): "col"}
        b = self.broadcastable
        kind = names.get(b, str(b) if any(b) else f"{self.ndim}D")
        return f"TensorType({self.dtype}, {kind})"

    __repr__ = __str__

    # -- values ---------------------------------------------------------------
    def filter(self, data, strict=False, allow_downcast=None, arg="value"):
        """Return `data` as an ndarray of this type, or raise TypeError (Theano's rules).

        - an ndarray of exactly this dtype is returned as is (no copy);
        - strict: nothing else is accepted;
        - allow_downcast True: anything is cast to this dtype;
        - otherwise an ndarray is accepted only if its dtype upcasts to this one
          (int8 into float32 yes, int64 into float32 no: precision could be lost);
        - with allow_downcast None, a Python float may become floatX;
        - any other value (Python numbers, lists, NumPy scalars) is accepted
          only if converting it loses nothing (0.5 into float32 yes, 0.1 no).
        Then the number of dimensions and the broadcastable dims are checked.
        `arg` names the value in error messages. Subclasses of ndarray become plain
        ndarrays first (see plain_ndarray: np.matrix converts, masked arrays are
        refused)."""
        if type(data) is not np.ndarray and isinstance(data, np.ndarray):
            data = plain_ndarray(data, arg)
        if isinstance(data, np.ndarray) and data.dtype == self.numpy_dtype:
            pass
        elif isinstance(data, Variable):
            raise TypeError(f"{arg}: expected an array-like value for {self}, got the symbolic "
                            f"variable {data}; a compiled function takes numeric values "
                            "(use givens= to substitute variables)")
        elif strict:
            raise TypeError(f"{arg}: expected an ndarray of dtype {self.dtype} (strict), got "
                            f"{type(data).__name__} of dtype {_dtype_of(data)}")
        elif allow_downcast:
            data = _convert(data, self, arg)
        elif isinstance(data, np.ndarray):
            if upcast(self.dtype, data.dtype) != self.dtype:
                raise TypeError(
                    f"{arg}: {self} cannot store a value of dtype {data.dtype} without "
                    f"risking loss of precision. Cast it to {self.dtype} first (e.g. "
                    f"numpy.asarray(x, dtype='{self.dtype}')), or pass "
                    f"allow_input_downcast=True to theano.function.")
            data = np.asarray(data, dtype=self.dtype)
        elif allow_downcast is None and type(data) is float and self.dtype == config.floatX:
            data = np.asarray(data, dtype=self.dtype)
        else:
            conv = _convert(data, self, arg)
            raw = np.asarray(data)
            if raw.dtype.kind in "OUSV" or raw.shape != conv.shape:
                raise TypeError(f"{arg}: cannot convert {type(data).__name__} {data!r} to "
                                f"{self}")
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                same = np.all((raw == conv) | ((raw != raw) & (conv != conv)))
            if not same:
                text = str(data) if len(str(data)) <= 80 else str(data)[:75] + "(...)"
                raise TypeError(
                    f"{arg}: {self} cannot store {text} without loss of precision "
                    f"(it would become {conv}). Convert it to a numpy array of dtype "
                    f"{self.dtype} explicitly, or pass allow_input_downcast=True to "
                    "theano.function.")
            data = conv
        if data.ndim != self.ndim:
            raise TypeError(f"{arg}: expected {self.ndim} dimensions for {self}, got "
                            f"{data.ndim} (shape {data.shape})")
        for i, b in enumerate(self.broadcastable):
            if b and data.shape[i] != 1:
                raise TypeError(f"{arg}: dimension {i} of {self} is broadcastable and must "
                                f"have length 1, got shape {data.shape}")
        return data

    def filter_variable(self, var, allow_convert=True):
        """Convert symbolic `var` to this type: same dtype and ndim required;
        broadcastable dims may be added or dropped by patternbroadcast."""
        var = T.as_tensor_variable(var)
        if var.type == self:
            return var
        if var.type.dtype != self.dtype or var.type.ndim != self.ndim:
            raise TypeError(f"cannot convert {var} of type {var.type} to {self}: dtype and "
                            "number of dimensions must match (use T.cast or reshape)")
        return T.patternbroadcast(var, self.broadcastable)

    def is_super(self, other):
        """True if every value of `other` is a value of self."""
        return (isinstance(other, TensorType) and other.dtype == self.dtype
                and other.ndim == self.ndim
                and all(o or not s for s, o in zip(self.broadcastable, other.broadcastable)))

    def data_signature(self, data):
        a = np.asarray(data)
        return (a.dtype.name, a.shape, a.tobytes() if a.size < 1000 else id(data))

    def values_eq(self, a, b):
        return np.array_equal(a, b)

    def values_eq_approx(self, a, b, rtol=None, atol=None):
        return np.allclose(a, b, rtol=rtol or 1e-5, atol=atol or 1e-8, equal_nan=True)

    def value_zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def make_variable(self, name=None):
        return TensorVariable(self, name=name)

    def __reduce__(self):
        return (TensorType, (self.dtype, self.broadcastable))


def plain_ndarray(data, arg="value"):
    """`data` (an ndarray subclass) as a plain ndarray viewing the same memory.

    Every value entering a graph (function arguments, shared values, In defaults,
    givens and update values, constants) passes here when it is not an exact
    ndarray, so that an op never sees a subclass's semantics: ``np.matrix`` (also
    what ``scipy.sparse`` ``todense()`` returns) makes ``*`` a matrix product and
    keeps reductions 2-d. A masked array is refused: some ops would honour its mask
    and others not, so no single answer would be right."""
    if isinstance(data, np.ma.MaskedArray):
        raise TypeError(
            f"{arg}: masked arrays (numpy.ma) are not supported: theanine computes on "
            "plain arrays and would ignore the mask. Pass x.filled(value) to choose what "
            "the masked entries hold, or np.asarray(x) (x.data) to ignore the mask.")
    return np.asarray(data)


def _convert(data, ttype, arg):
    """np.asarray(data, ttype.dtype), with conversion failures as TypeError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ComplexWarning: checked by the caller
            return np.asarray(data, dtype=ttype.dtype)
    except (ValueError, TypeError, OverflowError) as e:
        raise TypeError(f"{arg}: cannot convert {type(data).__name__} {data!r} to {ttype}: "
                        f"{e}") from None


def _dtype_of(x):
    return getattr(x, "dtype", type(x).__name__)
