"""Elementwise functions of the tensor API (T.exp, T.switch, T.cast, ...)."""

from __future__ import annotations

from . import scalar_ops as so
from .basic import as_tensor_variable
from .elemwise import Elemwise
from .type import canonical_dtype


def _elemwise(sop, doc):
    op = Elemwise(sop)

    def fn(*xs):
        return op(*xs)

    fn.__doc__ = doc
    fn.op = op
    return fn


def add(*xs):
    """Elementwise sum of any number of tensors (broadcasting)."""
    if len(xs) < 2:
        raise TypeError(f"add expects at least 2 inputs, got {len(xs)}")
    return _ADD(*xs)


def mul(*xs):
    """Elementwise product of any number of tensors (broadcasting)."""
    if len(xs) < 2:
        raise TypeError(f"mul expects at least 2 inputs, got {len(xs)}")
    return _MUL(*xs)


_ADD = Elemwise(so.Add())
_MUL = Elemwise(so.Mul())

sub = _elemwise(so.Sub(), "x - y elementwise.")
true_div = _elemwise(so.TrueDiv(), "x / y elementwise; integers give floats.")
int_div = _elemwise(so.IntDiv(), "x // y elementwise (floor division).")
floor_div = int_div
mod = _elemwise(so.Mod(), "x % y elementwise (sign of y, as NumPy).")
pow = _elemwise(so.Pow(), "x ** y elementwise.")
neg = _elemwise(so.Neg(), "-x elementwise.")
abs_ = _elemwise(so.Abs(), "|x| elementwise.")
sgn = _elemwise(so.Sgn(), "sign of x (-1, 0, 1).")
sqr = _elemwise(so.Sqr(), "x * x.")
sqrt = _elemwise(so.Sqrt(), "square root.")
inv = _elemwise(so.Inv(), "1 / x.")
reciprocal = inv
exp = _elemwise(so.Exp(), "e ** x.")
exp2 = _elemwise(so.Exp2(), "2 ** x.")
expm1 = _elemwise(so.Expm1(), "exp(x) - 1, accurate near 0.")
log = _elemwise(so.Log(), "natural logarithm.")
log1p = _elemwise(so.Log1p(), "log(1 + x), accurate near 0.")
log2 = _elemwise(so.Log2(), "base-2 logarithm.")
log10 = _elemwise(so.Log10(), "base-10 logarithm.")
sin = _elemwise(so.Sin(), "sine.")
cos = _elemwise(so.Cos(), "cosine.")
tan = _elemwise(so.Tan(), "tangent.")
arcsin = _elemwise(so.ArcSin(), "inverse sine.")
arccos = _elemwise(so.ArcCos(), "inverse cosine.")
arctan = _elemwise(so.ArcTan(), "inverse tangent.")
arctan2 = _elemwise(so.ArcTan2(), "arctan(y / x) with the quadrant of (x, y).")
sinh = _elemwise(so.Sinh(), "hyperbolic sine.")
cosh = _elemwise(so.Cosh(), "hyperbolic cosine.")
tanh = _elemwise(so.Tanh(), "hyperbolic tangent.")
arcsinh = _elemwise(so.ArcSinh(), "inverse hyperbolic sine.")
arccosh = _elemwise(so.ArcCosh(), "inverse hyperbolic cosine.")
arctanh = _elemwise(so.ArcTanh(), "inverse hyperbolic tangent.")
deg2rad = _elemwise(so.Deg2Rad(), "degrees to radians.")
rad2deg = _elemwise(so.Rad2Deg(), "radians to degrees.")
floor = _elemwise(so.Floor(), "largest integer <= x (as float).")
ceil = _elemwise(so.Ceil(), "smallest integer >= x (as float).")
trunc = _elemwise(so.Trunc(), "integer part of x (as float).")
round_half_to_even = _elemwise(so.RoundHalfToEven(), "round, ties to even.")
round_half_away_from_zero = _elemwise(so.RoundHalfAwayFromZero(), "round, ties away from 0.")
erf = _elemwise(so.Erf(), "error function.")
erfc = _elemwise(so.Erfc(), "complementary error function.")
erfinv = _elemwise(so.Erfinv(), "inverse error function.")
erfcx = _elemwise(so.Erfcx(), "scaled complementary error function exp(x**2) erfc(x).")
gamma = _elemwise(so.Gamma(), "gamma function.")
gammaln = _elemwise(so.GammaLn(), "log of the absolute gamma function.")
psi = _elemwise(so.Psi(), "digamma function.")
tri_gamma = _elemwise(so.TriGamma(), "trigamma function (derivative of psi).")
maximum = _elemwise(so.Maximum(), "elementwise maximum.")
minimum = _elemwise(so.Minimum(), "elementwise minimum.")
switch = _elemwise(so.Switch(), "switch(cond, a, b): a where cond is true, else b.")
where = switch
eq = _elemwise(so.EQ(), "x == y elementwise (bool).")
neq = _elemwise(so.NEQ(), "x != y elementwise (bool).")
lt = _elemwise(so.LT(), "x < y elementwise (bool).")
le = _elemwise(so.LE(), "x <= y elementwise (bool).")
gt = _elemwise(so.GT(), "x > y elementwise (bool).")
ge = _elemwise(so.GE(), "x >= y elementwise (bool).")
and_ = _elemwise(so.AND(), "bitwise/logical and.")
or_ = _elemwise(so.OR(), "bitwise/logical or.")
xor = _elemwise(so.XOR(), "bitwise/logical xor.")
invert = _elemwise(so.Invert(), "bitwise/logical not.")
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
isnan = _elemwise(so.IsNan(), "x is NaN (bool).")
isinf = _elemwise(so.IsInf(), "x is +-inf (bool).")
second = _elemwise(so.Second(), "second(a, b): b broadcast to a's shape.")
fill = second
tensor_copy = _elemwise(so.Identity(), "a copy of x.")
identity = tensor_copy
conj = _elemwise(so.Conj(), "complex conjugate.")
real = _elemwise(so.Real(), "real part.")
imag = _elemwise(so.Imag(), "imaginary part.")
angle = _elemwise(so.Angle(), "complex argument.")
nnet_sigmoid = _elemwise(so.Sigmoid(), "logistic sigmoid 1 / (1 + exp(-x)).")
nnet_softplus = _elemwise(so.Softplus(), "softplus log(1 + exp(x)), stable.")


def clip(x, min, max):
    """x limited to [min, max] elementwise (gradient flows where x is inside)."""
    return _CLIP(x, min, max)


_CLIP = Elemwise(so.Clip())


def cast(x, dtype):
    """x converted to `dtype` ('floatX' allowed). Returns x itself if already so."""
    x = as_tensor_variable(x)
    dtype = canonical_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Elemwise(so.Cast(dtype))(x)


def round(a, mode=None):
    """Round elementwise. mode: 'half_away_from_zero' (default, as Theano) or
    'half_to_even' (NumPy's)."""
    if mode in (None, "half_away_from_zero"):
        return round_half_away_from_zero(a)
    if mode == "half_to_even":
        return round_half_to_even(a)
    raise ValueError(f"round: mode must be 'half_away_from_zero' or 'half_to_even', "
                     f"got {mode!r}")


def iround(a, mode=None):
    """round(a) cast to int64."""
    return cast(round(a, mode), "int64")


def isclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|a - b| <= atol + rtol * |b| elementwise, as numpy.isclose."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    close = le(abs_(a - b), atol + rtol * abs_(b))
    if a.dtype.startswith("float") or b.dtype.startswith("float"):
        # an infinity is close only to itself
        close = and_(close, invert(or_(isinf(a), isinf(b))))
    close = or_(close, eq(a, b))
    if equal_nan:
        close = or_(close, and_(isnan(a), isnan(b)))
    return close


__all__ = [n for n, v in list(globals().items())
           if not n.startswith("_") and callable(v) and getattr(v, "__module__", "") == __name__]
