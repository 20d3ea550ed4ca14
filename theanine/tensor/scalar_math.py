"""The transcendental and complex-part scalar functions (split from scalar_ops.py,
which re-exports them): exp/log family, trigonometric and hyperbolic functions and
their inverses, the error and gamma functions, sigmoid/softplus, and conj/real/imag/
angle. Same contract as scalar_ops: dtype rule, NumPy impl, gradient."""

from __future__ import annotations

import math

import numpy as np

# the package, which imports this module: used at call time (gradient formulas)
import theanine.tensor as T

from .elemwise import ScalarOp
from .scalar_ops import _Float, _RealFloat, _ufunc_impl
from .scipy_deferred import special as sps
from .scipy_deferred import special_function as _sf
from .type import upgrade_to_float

__all__ = ["Exp", "Exp2", "Expm1", "Log", "Log1p", "Log2", "Log10", "Sqrt", "Sin", "Cos",
           "Tan", "ArcSin", "ArcCos", "ArcTan", "Sinh", "Cosh", "Tanh", "ArcSinh",
           "ArcCosh", "ArcTanh", "Deg2Rad", "Rad2Deg", "Erf", "Erfc", "Erfinv", "Erfcx",
           "Gamma", "GammaLn", "Psi", "TriGamma", "Sigmoid", "Softplus", "ArcTan2", "Conj",
           "Real", "Imag", "Angle"]


def _unary_float(name, fn, dfdx, base=_Float):
    """dfdx(x, out) returns the derivative (symbolic); gradient is gz * dfdx."""

    def grad(self, inputs, out, gz):
        x = inputs[0]
        if not x.dtype.startswith(("float", "complex")):
            return [None]
        return [gz * dfdx(x, out)]

    return type(name, (base,), {"impl": _ufunc_impl(fn), "grad": grad,
                                  "name": name.lower()})


def _sqrt1m(x):
    return T.sqrt(1 - x * x)


Exp = _unary_float("Exp", np.exp, lambda x, o: o)
Exp2 = _unary_float("Exp2", np.exp2, lambda x, o: o * math.log(2))
Expm1 = _unary_float("Expm1", np.expm1, lambda x, o: o + 1)
Log = _unary_float("Log", np.log, lambda x, o: 1 / x)
Log1p = _unary_float("Log1p", np.log1p, lambda x, o: 1 / (1 + x))
Log2 = _unary_float("Log2", np.log2, lambda x, o: 1 / (x * math.log(2)))
Log10 = _unary_float("Log10", np.log10, lambda x, o: 1 / (x * math.log(10)))
Sqrt = _unary_float("Sqrt", np.sqrt, lambda x, o: 0.5 / o)
Sin = _unary_float("Sin", np.sin, lambda x, o: T.cos(x))
Cos = _unary_float("Cos", np.cos, lambda x, o: -T.sin(x))
Tan = _unary_float("Tan", np.tan, lambda x, o: 1 + o * o)
ArcSin = _unary_float("ArcSin", np.arcsin, lambda x, o: 1 / _sqrt1m(x))
ArcCos = _unary_float("ArcCos", np.arccos, lambda x, o: -1 / _sqrt1m(x))
ArcTan = _unary_float("ArcTan", np.arctan, lambda x, o: 1 / (1 + x * x))
Sinh = _unary_float("Sinh", np.sinh, lambda x, o: T.cosh(x))
Cosh = _unary_float("Cosh", np.cosh, lambda x, o: T.sinh(x))
Tanh = _unary_float("Tanh", np.tanh, lambda x, o: 1 - o * o)
ArcSinh = _unary_float("ArcSinh", np.arcsinh, lambda x, o: 1 / T.sqrt(x * x + 1))
ArcCosh = _unary_float("ArcCosh", np.arccosh, lambda x, o: 1 / T.sqrt(x * x - 1))
ArcTanh = _unary_float("ArcTanh", np.arctanh, lambda x, o: 1 / (1 - x * x))
Deg2Rad = _unary_float("Deg2Rad", np.deg2rad, lambda x, o: math.pi / 180, _RealFloat)
Rad2Deg = _unary_float("Rad2Deg", np.rad2deg, lambda x, o: 180 / math.pi, _RealFloat)
_TWO_RTPI = 2 / math.sqrt(math.pi)
Erf = _unary_float("Erf", _sf("erf"), lambda x, o: _TWO_RTPI * T.exp(-x * x), _RealFloat)
Erfc = _unary_float("Erfc", _sf("erfc"), lambda x, o: -_TWO_RTPI * T.exp(-x * x), _RealFloat)
Erfinv = _unary_float("Erfinv", _sf("erfinv"),
                      lambda x, o: math.sqrt(math.pi) / 2 * T.exp(o * o), _RealFloat)
Erfcx = _unary_float("Erfcx", _sf("erfcx"),
                     lambda x, o: 2 * x * o - _TWO_RTPI, _RealFloat)
Gamma = _unary_float("Gamma", _sf("gamma"), lambda x, o: o * T.psi(x), _RealFloat)
GammaLn = _unary_float("GammaLn", _sf("gammaln"), lambda x, o: T.psi(x), _RealFloat)
Psi = _unary_float("Psi", _sf("digamma"), lambda x, o: T.tri_gamma(x), _RealFloat)


class TriGamma(_RealFloat):
    impl = _ufunc_impl(lambda x: sps.polygamma(1, x))
    name = "tri_gamma"


class Sigmoid(_RealFloat):
    impl = _ufunc_impl(_sf("expit"))

    def grad(self, inputs, out, gz):
        return [gz * out * (1 - out)]


class Softplus(_RealFloat):
    impl = _ufunc_impl(lambda x: np.logaddexp(0, x))

    def grad(self, inputs, out, gz):
        return [gz * T.nnet_sigmoid(inputs[0])]


class ArcTan2(_RealFloat):
    nin = 2
    impl = _ufunc_impl(np.arctan2)

    def grad(self, inputs, out, gz):
        y, x = inputs
        r = x * x + y * y
        return [gz * x / r, -gz * y / r]


class Conj(ScalarOp):
    impl = _ufunc_impl(np.conj)

    def grad(self, inputs, out, gz):
        return [T.conj(gz)]


class Real(ScalarOp):
    def output_dtype(self, d):
        return {"complex64": "float32", "complex128": "float64"}.get(d, d)

    impl = _ufunc_impl(np.real)

    def grad(self, inputs, out, gz):
        return [T.cast(gz, inputs[0].dtype)]


class Imag(Real):
    impl = _ufunc_impl(np.imag)

    def grad(self, inputs, out, gz):
        return [T.cast(gz, inputs[0].dtype) * 1j]


class Angle(Real):
    def output_dtype(self, d):
        return {"complex64": "float32", "complex128": "float64"}.get(d) or upgrade_to_float(d)

    impl = _ufunc_impl(np.angle)
