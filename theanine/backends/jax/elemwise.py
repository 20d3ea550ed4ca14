"""Elementwise ops: Elemwise (one scalar function), Composite (a fused chain of
them; XLA fuses it again into one kernel), DimShuffle, and the scalar functions.

A scalar function is applied as Elemwise.compute does: integer inputs of
float-valued functions (``cast_inputs``) are cast to the output dtype first, and
the result has the output dtype. Shapes are static while tracing, so the
refusal to broadcast a dimension not declared broadcastable is checked then.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np

from theanine.tensor import scalar_math as sm
from theanine.tensor import scalar_ops as so
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import DimShuffle, Elemwise, check_broadcast

from .checks import require
from .registry import lowerings


def _add(*a):
    r = a[0]
    for x in a[1:]:
        r = r + x
    return r


def _mul(*a):
    r = a[0]
    for x in a[1:]:
        r = r * x
    return r


def _sub(x, y):
    if x.dtype == bool and y.dtype == bool:
        x = x.astype("int8")
    return jnp.subtract(x, y)


def _int_div(x, y):
    if x.dtype.kind in "iub":  # NumPy: an integer division by zero gives 0
        zero = y == 0
        return jnp.where(zero, 0, jnp.floor_divide(x, jnp.where(zero, 1, y)))
    return jnp.floor_divide(x, y)


def _pow(x, y):
    if y.dtype.kind in "iu" and x.dtype.kind in "iu":
        require(y >= 0, ValueError, "Integers to negative integer powers are not allowed.")
    return jnp.power(x, y)


def _sgn(x):
    return x if x.dtype == bool else jnp.sign(x)


def _round_away(x):
    # from trunc(x), exactly, as the py backend: floor(|x| + 0.5) rounds |x| + 0.5 first
    t = jnp.trunc(x)
    return t + jnp.sign(x) * (jnp.abs(x - t) >= 0.5).astype(jnp.result_type(x))


_EULER = 0.5772156649015329


def _psi(x):
    # near 0 psi(x) = -1/x - euler + O(x): SciPy's (and py's) -inf at +0, +inf at -0
    # and at subnormals, where jax's digamma gives NaN
    small = jnp.abs(x) < 1e-10
    return jnp.where(small, -1 / x - _EULER, jss.digamma(jnp.where(small, 1.0, x)))


def _tri_gamma(x):
    # for large x trigamma(x) = 1/x + 1/(2x^2) + O(x^-3): 0 at +inf and no underflow
    # to 0 at 1e300, where jax's polygamma gives NaN and 0; for x < 0 the reflection
    # trigamma(x) = pi^2 / sin^2(pi x) - trigamma(1 - x) (jax's polygamma loses 7
    # digits there), with sin(pi x) from x's distance to the nearest integer
    big = x > 1e8
    neg = x < 0
    safe = jnp.where(big, 1.0, jnp.where(neg, 1 - x, x))
    core = jss.polygamma(1, safe)
    s = jnp.sin(jnp.pi * (x - jnp.round(x)))
    out = jnp.where(big, 1 / x + 0.5 / (x * x),
                    jnp.where(neg, jnp.pi ** 2 / (s * s) - core, core))
    return jnp.where(x == -jnp.inf, jnp.inf, out)  # SciPy's value at -inf


def _gammaln(x):
    # -inf at -inf as SciPy's (py's); jax gives +inf there
    return jnp.where(x == -jnp.inf, x, jss.gammaln(x))


def _second(a, b):
    return jnp.broadcast_to(b, jnp.broadcast_shapes(jnp.shape(a), jnp.shape(b)))


SCALAR = {
    so.Add: _add, so.Mul: _mul, so.Sub: _sub, so.TrueDiv: jnp.true_divide,
    so.IntDiv: _int_div, so.Mod: jnp.mod, so.Pow: _pow,
    so.Neg: jnp.negative, so.Abs: jnp.abs, so.Sgn: _sgn, so.Sqr: jnp.square,
    so.Inv: lambda x: 1 / x, so.Identity: lambda x: x,
    so.Maximum: jnp.maximum, so.Minimum: jnp.minimum,
    so.Clip: lambda x, lo, hi: jnp.minimum(jnp.maximum(x, lo), hi),
    so.Switch: jnp.where, so.Second: _second,
    so.EQ: jnp.equal, so.NEQ: jnp.not_equal, so.LT: jnp.less, so.LE: jnp.less_equal,
    so.GT: jnp.greater, so.GE: jnp.greater_equal,
    so.AND: jnp.bitwise_and, so.OR: jnp.bitwise_or, so.XOR: jnp.bitwise_xor,
    so.Invert: jnp.invert, so.IsNan: jnp.isnan, so.IsInf: jnp.isinf,
    so.Floor: jnp.floor, so.Ceil: jnp.ceil, so.Trunc: jnp.trunc,
    so.RoundHalfToEven: jnp.round, so.RoundHalfAwayFromZero: _round_away,
    sm.Exp: jnp.exp, sm.Exp2: jnp.exp2, sm.Expm1: jnp.expm1, sm.Log: jnp.log,
    sm.Log1p: jnp.log1p, sm.Log2: jnp.log2, sm.Log10: jnp.log10, sm.Sqrt: jnp.sqrt,
    sm.Sin: jnp.sin, sm.Cos: jnp.cos, sm.Tan: jnp.tan, sm.ArcSin: jnp.arcsin,
    sm.ArcCos: jnp.arccos, sm.ArcTan: jnp.arctan, sm.Sinh: jnp.sinh, sm.Cosh: jnp.cosh,
    sm.Tanh: jnp.tanh, sm.ArcSinh: jnp.arcsinh, sm.ArcCosh: jnp.arccosh,
    sm.ArcTanh: jnp.arctanh, sm.Deg2Rad: jnp.deg2rad, sm.Rad2Deg: jnp.rad2deg,
    sm.Erf: jss.erf, sm.Erfc: jss.erfc, sm.Erfinv: jss.erfinv, sm.Erfcx: jss.erfcx,
    sm.Gamma: jss.gamma, sm.GammaLn: _gammaln, sm.Psi: _psi,
    sm.TriGamma: _tri_gamma, sm.Sigmoid: jss.expit,
    sm.Softplus: lambda x: jnp.logaddexp(0, x), sm.ArcTan2: jnp.arctan2,
    sm.Conj: jnp.conj, sm.Real: jnp.real, sm.Imag: jnp.imag, sm.Angle: jnp.angle,
}


def scalar_fn(sop):
    """The jnp function of scalar op `sop` (its class or nearest registered base)."""
    for cls in type(sop).__mro__:
        fn = SCALAR.get(cls)
        if fn is not None:
            return fn
    if isinstance(sop, so.Cast):
        return None
    raise NotImplementedError(f"theanine jax backend: no JAX function for the scalar op "
                              f"{sop} ({type(sop).__name__})")


def apply_scalar(sop, dtype, xs):
    """`sop` applied elementwise to xs, as Elemwise.compute does, with result `dtype`.

    Inputs are first cast to NumPy's result type of their dtypes, the dtype NumPy
    computes in (JAX would compute float32 + int32 in float32, NumPy in float64)."""
    xs = [jnp.asarray(x) for x in xs]
    if sop.cast_inputs:
        xs = [x.astype(dtype) if x.dtype.kind in "biu" else x for x in xs]
    if isinstance(sop, so.Cast):
        return cast(xs[0], dtype)
    if isinstance(sop, so.Switch):
        xs[1:] = _common(xs[1:])
    elif len(xs) > 1 and not isinstance(sop, so.Second):
        xs = _common(xs)
    r = scalar_fn(sop)(*xs)
    return r if r.dtype == np.dtype(dtype) else r.astype(dtype)


def cast(x, dtype):
    """x.astype(dtype) with NumPy's result where XLA's differs: a float out of a narrow
    integer type's range wraps around (x86 NumPy) where XLA would saturate."""
    d = np.dtype(dtype)
    if x.dtype.kind in "fc" and d.kind in "iu" and d.itemsize < 8:
        x = jnp.real(x) if x.dtype.kind == "c" else x
        return x.astype("int64").astype(d)
    return x.astype(d)


def _common(xs):
    ct = np.result_type(*[x.dtype for x in xs])
    return [x if x.dtype == ct else x.astype(ct) for x in xs]


def _check_shapes(node, ins):
    shapes = [np.shape(x) for x in ins]
    try:
        out = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{node.op}: the input shapes {shapes} do not broadcast "
                         "together") from None
    if any(s != out for s in shapes):
        check_broadcast(node, ins, out)


@lowerings.register(Elemwise)
def _elemwise(node, *ins):
    if len(ins) > 1:
        _check_shapes(node, ins)
    return apply_scalar(node.op.scalar_op, node.outputs[0].type.dtype, ins)


@lowerings.register(Composite)
def _composite(node, *ins):
    if len(ins) > 1:
        _check_shapes(node, ins)
    values = list(ins)
    for sop, args, dtype in node.op.program:
        values.append(apply_scalar(sop, dtype, [values[a] for a in args]))
    return values[-1]


@lowerings.register(DimShuffle)
def _dimshuffle(node, x):
    op = node.op
    shape = [1 if i == "x" else x.shape[i] for i in op.new_order]
    if op.perm + op.drop != tuple(range(x.ndim)):
        x = jnp.transpose(x, op.perm + op.drop)
    return jnp.reshape(x, shape)
