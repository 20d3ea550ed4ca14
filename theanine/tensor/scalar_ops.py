"""The scalar functions that Elemwise applies: dtype rule, NumPy impl, gradient.

Each class is one scalar function. Gradient formulas are written with the
tensor API (Python literals are weak, so they keep the operand's dtype) and
return None for inputs that get no gradient (discrete ones).
"""

from __future__ import annotations

import numpy as np

# the package, which imports this module: used at call time (gradient formulas use its functions)
import theanine.tensor as T
from theanine.config import config

from .elemwise import ScalarOp
from .type import upcast, upgrade_to_float


def _refuse(op, dtypes, kinds, what):
    """Raise TypeError if any input dtype's kind (numpy letter) is in `kinds`."""
    bad = [d for d in dtypes if np.dtype(d).kind in kinds]
    if bad:
        raise TypeError(f"{op}: inputs must be {what}, got dtypes {list(dtypes)}")


class _Float(ScalarOp):
    """Float-valued function of numbers: ints are upgraded to float."""

    cast_inputs = True

    def output_dtype(self, *dtypes):
        return upgrade_to_float(upcast(*dtypes))


class _RealFloat(_Float):
    """Float-valued function of real numbers (complex inputs are refused)."""

    def output_dtype(self, *dtypes):
        _refuse(self, dtypes, "c", "real (bool, int or float)")
        return upgrade_to_float(upcast(*dtypes))


def _no_bool_pair(dtypes):
    """bool op bool -> int8 for arithmetic that NumPy refuses or Theano types as int."""
    d = upcast(*dtypes)
    return "int8" if d == "bool" else d


class _Bool(ScalarOp):
    def output_dtype(self, *dtypes):
        return "bool"


def _ufunc_impl(fn):
    def impl(self, *args):
        return fn(*args)

    impl.ufunc = fn  # backends may call fn directly

    return impl


# -- arithmetic ---------------------------------------------------------------
class Add(ScalarOp):
    nin = -1
    commutative = True
    impl = _ufunc_impl(lambda *a: a[0] + a[1] if len(a) == 2 else _reduce_add(a))

    def grad(self, inputs, out, gz):
        return [gz for _ in inputs]


def _reduce_add(a):
    r = a[0]
    for x in a[1:]:
        r = r + x
    return r


class Mul(ScalarOp):
    nin = -1
    commutative = True

    def impl(self, *a):
        r = a[0]
        for x in a[1:]:
            r = r * x
        return r

    def grad(self, inputs, out, gz):
        res = []
        for i in range(len(inputs)):
            others = [x for j, x in enumerate(inputs) if j != i]
            res.append(T.mul(gz, *others) if others else gz)
        return res


class Sub(ScalarOp):
    nin = 2

    def output_dtype(self, *dtypes):
        return _no_bool_pair(dtypes)

    def impl(self, x, y):
        if x.dtype == bool and y.dtype == bool:
            x = x.astype("int8")
        return np.subtract(x, y)

    def grad(self, inputs, out, gz):
        return [gz, -gz]


class TrueDiv(_Float):
    """x / y. Two integer (or bool) inputs give floatX, as Theano."""

    nin = 2
    impl = _ufunc_impl(np.true_divide)

    def output_dtype(self, *dtypes):
        if all(np.dtype(d).kind in "biu" for d in dtypes):
            return config.floatX
        return upgrade_to_float(upcast(*dtypes))

    def grad(self, inputs, out, gz):
        x, y = inputs
        return [gz / y, -gz * x / (y * y)]


class IntDiv(ScalarOp):
    """Floor division (Theano's int_div / floor_div)."""

    nin = 2
    impl = _ufunc_impl(np.floor_divide)

    def output_dtype(self, *dtypes):
        _refuse(self, dtypes, "c", "real")
        return _no_bool_pair(dtypes)

    def grad(self, inputs, out, gz):
        return [T.zeros_like(x) if x.dtype.startswith("float") else None for x in inputs]


class Mod(ScalarOp):
    nin = 2
    impl = _ufunc_impl(np.mod)

    def output_dtype(self, *dtypes):
        _refuse(self, dtypes, "c", "real")
        return _no_bool_pair(dtypes)

    def grad(self, inputs, out, gz):
        x, y = inputs
        if not out.dtype.startswith("float"):
            return [None, None]
        return [gz, -gz * T.int_div(x, y)]


class Pow(ScalarOp):
    nin = 2
    impl = _ufunc_impl(np.power)

    def output_dtype(self, *dtypes):
        return _no_bool_pair(dtypes)

    def grad(self, inputs, out, gz):
        x, y = inputs
        gx = gz * y * T.pow(x, y - 1)
        gy = gz * T.log(T.switch(T.eq(x, 0), 1, x)) * out
        return [gx, gy]


class Neg(ScalarOp):
    impl = _ufunc_impl(np.negative)

    def output_dtype(self, d):
        if d == "bool":
            raise TypeError("neg: a bool input cannot be negated, got dtype bool; use "
                            "T.invert(x) (~x) for logical not, or cast it first")
        return d

    def grad(self, inputs, out, gz):
        return [-gz]


class Abs(ScalarOp):
    name = "abs"

    def output_dtype(self, d):
        return {"complex64": "float32", "complex128": "float64"}.get(d, d)

    impl = _ufunc_impl(np.abs)

    def grad(self, inputs, out, gz):
        return [gz * T.sgn(inputs[0])]


class Sgn(ScalarOp):
    def output_dtype(self, d):
        _refuse(self, [d], "c", "real")
        return d

    def impl(self, x):
        return x.copy() if x.dtype == bool else np.sign(x)

    def grad(self, inputs, out, gz):
        return [T.zeros_like(inputs[0])]


class Sqr(ScalarOp):
    impl = _ufunc_impl(np.square)

    def grad(self, inputs, out, gz):
        return [gz * 2 * inputs[0]]


class Inv(_Float):
    impl = _ufunc_impl(lambda x: np.true_divide(1, x))

    def grad(self, inputs, out, gz):
        return [-gz * out * out]


class Identity(ScalarOp):
    impl = _ufunc_impl(lambda x: np.array(x, copy=True))

    def grad(self, inputs, out, gz):
        return [gz]


class Maximum(ScalarOp):
    nin = 2
    commutative = True
    impl = _ufunc_impl(np.maximum)

    def grad(self, inputs, out, gz):
        x, y = inputs
        return [T.switch(T.ge(x, y), gz, 0), T.switch(T.lt(x, y), gz, 0)]


class Minimum(ScalarOp):
    nin = 2
    commutative = True
    impl = _ufunc_impl(np.minimum)

    def grad(self, inputs, out, gz):
        x, y = inputs
        return [T.switch(T.le(x, y), gz, 0), T.switch(T.gt(x, y), gz, 0)]


class Clip(ScalarOp):
    nin = 3

    def output_dtype(self, *dtypes):
        _refuse(self, dtypes, "c", "real")
        return upcast(*dtypes)
    impl = _ufunc_impl(lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi))

    def grad(self, inputs, out, gz):
        x, lo, hi = inputs
        inside = T.and_(T.ge(x, lo), T.le(x, hi))
        return [T.switch(inside, gz, 0), T.switch(T.lt(x, lo), gz, 0),
                T.switch(T.gt(x, hi), gz, 0)]


class Switch(ScalarOp):
    nin = 3
    weak_from = (1, 2)

    def output_dtype(self, c, a, b):
        return upcast(a, b)

    impl = _ufunc_impl(np.where)

    def grad(self, inputs, out, gz):
        c, a, b = inputs
        return [None, T.switch(c, gz, 0), T.switch(c, 0, gz)]


class Second(ScalarOp):
    """second(a, b): b broadcast to the shape of a (Theano's fill)."""

    nin = 2

    def output_dtype(self, a, b):
        return b

    def impl(self, a, b):
        return np.array(np.broadcast_to(b, np.broadcast_shapes(np.shape(a), np.shape(b))))

    def grad(self, inputs, out, gz):
        return [None, gz]

    def connection_pattern(self):
        return [False, True]  # only the shape of `a` is used


class Cast(ScalarOp):
    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def output_dtype(self, d):
        return self.dtype

    def impl(self, x):
        return np.asarray(x).astype(self.dtype)

    def grad(self, inputs, out, gz):
        x = inputs[0]
        if self.dtype.startswith(("int", "uint", "bool")):
            return [None]
        if x.dtype in ("bool",) or x.dtype.startswith(("int", "uint")):
            return [gz]  # as Theano: an integer input gets the float gradient
        return [T.cast(gz, x.dtype)]


# -- comparisons and logic (no gradient) --------------------------------------
def _cmp(cls_name, fn, nm):
    cls = type(cls_name, (_Bool,), {"nin": 2, "impl": _ufunc_impl(fn), "name": nm,
                                           "grad": lambda self, i, o, g: [None, None]})
    return cls


EQ = _cmp("EQ", np.equal, "eq")
NEQ = _cmp("NEQ", np.not_equal, "neq")
LT = _cmp("LT", np.less, "lt")
LE = _cmp("LE", np.less_equal, "le")
GT = _cmp("GT", np.greater, "gt")
GE = _cmp("GE", np.greater_equal, "ge")


class _Bitwise(ScalarOp):
    nin = 2

    def output_dtype(self, *dtypes):
        _refuse(self, dtypes, "fc", "bool or integer (for floats, compare first: "
                "T.and_(T.gt(x, 0), ...))")
        return upcast(*dtypes)

    def grad(self, inputs, out, gz):
        return [None] * len(inputs)


class AND(_Bitwise):
    name = "and"
    impl = _ufunc_impl(np.bitwise_and)


class OR(_Bitwise):
    name = "or"
    impl = _ufunc_impl(np.bitwise_or)


class XOR(_Bitwise):
    name = "xor"
    impl = _ufunc_impl(np.bitwise_xor)


class Invert(_Bitwise):
    nin = 1
    impl = _ufunc_impl(np.invert)


class IsNan(_Bool):
    impl = _ufunc_impl(np.isnan)

    def grad(self, inputs, out, gz):
        return [None]


class IsInf(_Bool):
    impl = _ufunc_impl(np.isinf)

    def grad(self, inputs, out, gz):
        return [None]


# -- rounding (zero gradient, as Theano) -----------------------------------------
class _Round(_RealFloat):
    def grad(self, inputs, out, gz):
        x = inputs[0]
        return [T.zeros_like(x) if x.dtype.startswith("float") else None]


class Floor(_Round):
    impl = _ufunc_impl(np.floor)


class Ceil(Floor):
    impl = _ufunc_impl(np.ceil)


class Trunc(Floor):
    impl = _ufunc_impl(np.trunc)


class RoundHalfToEven(Floor):
    impl = _ufunc_impl(np.round)


def _round_half_away(x):
    # from trunc(x), exactly: floor(|x| + 0.5) rounds |x| + 0.5 first (0.49999997
    # became 1, and float32 odd integers above 2**23 the next even one)
    t = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, not >= 0.5
        return t + np.sign(x) * (np.abs(x - t) >= 0.5)


class RoundHalfAwayFromZero(Floor):
    impl = _ufunc_impl(_round_half_away)


# the transcendental and complex-part functions live in scalar_math.py (its __all__)
from .scalar_math import *  # noqa: E402,F401,F403 - re-exported
