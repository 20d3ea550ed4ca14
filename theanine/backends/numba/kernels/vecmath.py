"""Vectorisable exp, log, tanh and sigmoid for float32 and float64.

numba from PyPI has no SVML, so np.exp/np.tanh inside a loop call scalar libm
(about 20 ns per float32 element, 30-40x slower than NumPy's SIMD loops). These
use only +, *, /, floor, selects and bit casts, which LLVM vectorises; they are
accurate to a few ulps (tests/backends/test_numba_math.py checks them against
NumPy over wide ranges, with the special values inf, -inf, nan, 0 and
subnormals). LLVM inlines every function into its caller, so a kernel's loop
vectorises across it. They are not inline="always" (numba IR inlining): numba
then re-types each at every call site (a tenth of an LSTM loop's compile time, a
quadratic cost in big loop bodies); measured: same run time on the LSTM loops and a
10^6-element tanh/sigmoid map, 8-10% less compile time.

Each function has a float32 and a float64 version written out separately, not one
generic body: they differ in the bit layout (int32 / int64 casts, exponent bias,
mantissa mask), the Cody-Waite constants and the polynomial degree, and every
constant is typed (f32(...)) so a float32 loop never widens to float64 and keeps
twice as many lanes per vector.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["exp_f32", "exp_f64", "log_f32", "log_f64", "tanh_f32", "tanh_f64",
           "sigmoid_f32", "sigmoid_f64", "sigmoid_pair_f32", "sigmoid_pair_f64"]

_J = numba.njit(error_model="numpy", nogil=True)


@intrinsic
def _f32_from_bits(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _f64_from_bits(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_f32(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _bits_of_f64(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


f32, f64, i32, i64 = np.float32, np.float64, np.int32, np.int64

# Cody-Waite split of ln 2 (the high parts have trailing zero bits, so n*hi is exact)
_LN2HI32, _LN2LO32 = f32(0.693359375), f32(-2.12194440e-4)
_LN2HI64, _LN2LO64 = f64(6.93147180369123816490e-01), f64(1.90821492927058770002e-10)
_LOG2E32, _LOG2E64 = f32(1.4426950408889634), f64(1.4426950408889634)


@_J
def _exp_parts_f32(xc):
    """(p, k) with exp(xc) = p * 2**k, for -104 <= xc <= 89."""
    n = np.floor(xc * _LOG2E32 + f32(0.5))
    r = (xc - n * _LN2HI32) - n * _LN2LO32
    p = f32(1.0 / 5040)
    p = p * r + f32(1.0 / 720)
    p = p * r + f32(1.0 / 120)
    p = p * r + f32(1.0 / 24)
    p = p * r + f32(1.0 / 6)
    p = p * r + f32(0.5)
    p = p * r + f32(1.0)
    p = p * r + f32(1.0)
    return p, i32(n)


@_J
def exp_f32(x):
    xc = x if x > f32(-104.0) else f32(-104.0)
    xc = xc if xc < f32(89.0) else f32(89.0)
    p, k = _exp_parts_f32(xc)
    h = k >> i32(1)
    s = p * _f32_from_bits((h + i32(127)) << i32(23)) * _f32_from_bits((k - h + i32(127))
                                                                       << i32(23))
    s = f32(np.inf) if x > f32(88.72283) else s
    return s if x == x else x


# exp_f64: n = round(x / ln 2) by adding 1.5 * 2**52 (the sum's low bits are n, read by
# a bit cast: no float-to-int conversion), r = x - n ln 2, and exp(r) by a polynomial
# of degree 11 interpolating exp at the Chebyshev nodes of [-ln2/2, ln2/2] (relative
# error 1.7e-17 with these coefficients; Taylor's needs degree 13): within 1 ulp of
# NumPy's, 20% faster than the degree-13 version.
_SHIFT64 = f64(6755399441055744.0)  # 1.5 * 2**52
_EXP_C = tuple(f64(c) for c in (
    0.5000000000000019, 0.1666666666666668, 0.0416666666664881, 0.008333333333319601,
    0.0013888888952314775, 0.00019841269890047113, 2.4801485482328494e-05,
    2.755724091857897e-06, 2.763263963904103e-07, 2.5110037605963777e-08))
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11 = _EXP_C


@_J
def _exp_parts_f64(xc):
    """(p, k) with exp(xc) = p * 2**k, for -746 <= xc <= 710."""
    t = xc * _LOG2E64 + _SHIFT64
    n = t - _SHIFT64
    r = (xc - n * _LN2HI64) - n * _LN2LO64
    p = _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + f64(1.0)
    p = p * r + f64(1.0)
    return p, _bits_of_f64(t) - _bits_of_f64(_SHIFT64)


@_J
def exp_f64(x):
    xc = x if x > f64(-746.0) else f64(-746.0)
    xc = xc if xc < f64(710.0) else f64(710.0)
    p, k = _exp_parts_f64(xc)
    h = k >> i64(1)
    s = p * _f64_from_bits((h + i64(1023)) << i64(52)) * _f64_from_bits(
        (k - h + i64(1023)) << i64(52))
    s = f64(np.inf) if x > f64(709.782712893384) else s
    return s if x == x else x


@_J
def log_f32(x):
    sub = x < f32(1.1754944e-38)
    xs = x * f32(33554432.0) if sub else x  # 2**25: subnormals become normal
    b = _bits_of_f32(xs)
    e = ((b >> i32(23)) & i32(255)) - i32(127)
    m = _f32_from_bits((b & i32(0x7FFFFF)) | i32(0x3F800000))  # in [1, 2)
    big = m > f32(1.41421356)
    m = m * f32(0.5) if big else m
    e = e + i32(1) if big else e
    e = e - i32(25) if sub else e
    s = (m - f32(1.0)) / (m + f32(1.0))
    z = s * s
    p = f32(2.0 / 11)
    p = p * z + f32(2.0 / 9)
    p = p * z + f32(2.0 / 7)
    p = p * z + f32(2.0 / 5)
    p = p * z + f32(2.0 / 3)
    lm = s * f32(2.0) + s * z * p
    fe = f32(e)
    r = fe * _LN2HI32 + (fe * _LN2LO32 + lm)
    r = f32(-np.inf) if x == f32(0.0) else r
    r = f32(np.nan) if x < f32(0.0) else r
    r = x if (x == f32(np.inf)) or (x != x) else r
    return r


@_J
def log_f64(x):
    sub = x < f64(2.2250738585072014e-308)
    xs = x * f64(18014398509481984.0) if sub else x  # 2**54
    b = _bits_of_f64(xs)
    e = ((b >> i64(52)) & i64(2047)) - i64(1023)
    m = _f64_from_bits((b & i64(0xFFFFFFFFFFFFF)) | i64(0x3FF0000000000000))
    big = m > f64(1.4142135623730951)
    m = m * f64(0.5) if big else m
    e = e + i64(1) if big else e
    e = e - i64(54) if sub else e
    s = (m - f64(1.0)) / (m + f64(1.0))
    z = s * s
    p = f64(2.0 / 23)
    p = p * z + f64(2.0 / 21)
    p = p * z + f64(2.0 / 19)
    p = p * z + f64(2.0 / 17)
    p = p * z + f64(2.0 / 15)
    p = p * z + f64(2.0 / 13)
    p = p * z + f64(2.0 / 11)
    p = p * z + f64(2.0 / 9)
    p = p * z + f64(2.0 / 7)
    p = p * z + f64(2.0 / 5)
    p = p * z + f64(2.0 / 3)
    lm = s * f64(2.0) + s * z * p
    fe = f64(e)
    r = fe * _LN2HI64 + (fe * _LN2LO64 + lm)
    r = f64(-np.inf) if x == f64(0.0) else r
    r = f64(np.nan) if x < f64(0.0) else r
    r = x if (x == f64(np.inf)) or (x != x) else r
    return r


@_J
def _expm1_pos_f32(y):
    """expm1(y) for 0 <= y <= 40, accurate for small y (no cancellation)."""
    n = np.floor(y * _LOG2E32 + f32(0.5))
    r = (y - n * _LN2HI32) - n * _LN2LO32
    q = f32(1.0 / 5040)
    q = q * r + f32(1.0 / 720)
    q = q * r + f32(1.0 / 120)
    q = q * r + f32(1.0 / 24)
    q = q * r + f32(1.0 / 6)
    q = q * r + f32(0.5)
    q = (q * r) * r + r  # exp(r) - 1
    s = _f32_from_bits((i32(n) + i32(127)) << i32(23))
    return s * q + (s - f32(1.0))


@_J
def _expm1_pos_f64(y):
    n = np.floor(y * _LOG2E64 + f64(0.5))
    r = (y - n * _LN2HI64) - n * _LN2LO64
    q = f64(1.0 / 6227020800)
    q = q * r + f64(1.0 / 479001600)
    q = q * r + f64(1.0 / 39916800)
    q = q * r + f64(1.0 / 3628800)
    q = q * r + f64(1.0 / 362880)
    q = q * r + f64(1.0 / 40320)
    q = q * r + f64(1.0 / 5040)
    q = q * r + f64(1.0 / 720)
    q = q * r + f64(1.0 / 120)
    q = q * r + f64(1.0 / 24)
    q = q * r + f64(1.0 / 6)
    q = q * r + f64(0.5)
    q = (q * r) * r + r
    s = _f64_from_bits((i64(n) + i64(1023)) << i64(52))
    return s * q + (s - f64(1.0))


@_J
def tanh_f32(x):
    """tanh = expm1(2|x|) / (expm1(2|x|) + 2), sign restored."""
    ax = np.abs(x)
    em = _expm1_pos_f32(f32(2.0) * (ax if ax < f32(20.0) else f32(20.0)))
    t = em / (em + f32(2.0))
    t = np.copysign(t, x)
    return t if x == x else x


@_J
def tanh_f64(x):
    ax = np.abs(x)
    em = _expm1_pos_f64(f64(2.0) * (ax if ax < f64(40.0) else f64(40.0)))
    t = em / (em + f64(2.0))
    t = np.copysign(t, x)
    return t if x == x else x


@_J
def sigmoid_f32(x):
    return f32(1.0) / (f32(1.0) + exp_f32(-x))


@_J
def sigmoid_f64(x):
    return f64(1.0) / (f64(1.0) + exp_f64(-x))


# exp of a non-positive argument (or NaN), for the sigmoid pairs: no overflow, so no
# upper clamp and no infinity, and 2**k (k in [-150, 0] / [-1077, 0]) as one power of
# two raised into the normal range, then the constant 2**-32 / 2**-64 (one rounding
# into the subnormals, as exp_f32/exp_f64's two factors): bit for bit exp_f32/exp_f64
# there (tests/backends/test_numba_math.py), with a sixth fewer operations; 800,000
# float64 sigmoid pairs 0.85 -> 0.75 ms on AMD's Zen 4 (benchmarks/RESULTS.md, "Stop 25").
@_J
def _exp_nonpos_f32(x):
    xc = x if x > f32(-104.0) else f32(-104.0)
    p, k = _exp_parts_f32(xc)
    s = p * _f32_from_bits((k + i32(127 + 32)) << i32(23)) * f32(2.3283064365386963e-10)
    return s if x == x else x


@_J
def _exp_nonpos_f64(x):
    xc = x if x > f64(-746.0) else f64(-746.0)
    p, k = _exp_parts_f64(xc)
    s = p * _f64_from_bits((k + i64(1023 + 64)) << i64(52)) * f64(5.421010862427522e-20)
    return s if x == x else x


@_J
def sigmoid_pair_f32(x):
    """(sigmoid(x), sigmoid(-x)) from one exp: q = 1 / (1 + exp(-|x|)) is the one of
    the two at |x|, exp(-|x|) * q the other (no overflow: exp(-|x|) <= 1)."""
    e = _exp_nonpos_f32(-np.abs(x))
    q = f32(1.0) / (f32(1.0) + e)
    eq = e * q
    return (q if x >= f32(0.0) else eq), (eq if x >= f32(0.0) else q)


@_J
def sigmoid_pair_f64(x):
    """(sigmoid(x), sigmoid(-x)) from one exp (see sigmoid_pair_f32)."""
    e = _exp_nonpos_f64(-np.abs(x))
    q = f64(1.0) / (f64(1.0) + e)
    eq = e * q
    return (q if x >= f64(0.0) else eq), (eq if x >= f64(0.0) else q)
