"""Functions that generated kernels call (``from ...runtime import *``).

Vectorisable math: numba from PyPI has no SVML, so np.exp/np.tanh inside a
loop call scalar libm (about 20 ns per float32 element, 30-40x slower than
NumPy's SIMD loops). The kernels below use only +, *, /, floor, selects and
bit casts, which LLVM vectorises: exp, log, tanh, sigmoid for float32 and
float64, accurate to a few ulps (tests/backends/test_numba_math.py checks
them against NumPy over wide ranges, with the special values inf, -inf, nan,
0 and subnormals). Other functions call numba's scalar implementations.

Also: NaN-propagating maximum/minimum (as NumPy's), and small helpers.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["exp_f32", "exp_f64", "log_f32", "log_f64", "tanh_f32", "tanh_f64",
           "sigmoid_f32", "sigmoid_f64", "nan_max", "nan_min", "softplus", "sign_of",
           "round_half_even", "angle_of", "psi_f64", "trigamma_f64", "check_index",
           "gemm_into"]

# Not inline="always": numba then inlines and re-types each helper at every call
# site (a tenth of an LSTM loop's compile time, a quadratic cost in big loop
# bodies); LLVM inlines these small functions anyway, so the loops still vectorise
# (measured: same run time, 8-10% less compile time). Except a function that
# raises: LLVM does not inline numba's exception paths, and a call per element
# costs ~25 ns (check_index in a 1e6-step loop: 2.8 -> 25 ms), so it is inlined
# by numba (_JI).
_J = numba.njit(error_model="numpy", nogil=True)
_JI = numba.njit(error_model="numpy", nogil=True, inline="always")


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
def exp_f32(x):
    xc = x if x > f32(-104.0) else f32(-104.0)
    xc = xc if xc < f32(89.0) else f32(89.0)
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
    k = i32(n)
    h = k >> i32(1)
    s = p * _f32_from_bits((h + i32(127)) << i32(23)) * _f32_from_bits((k - h + i32(127))
                                                                       << i32(23))
    s = f32(np.inf) if x > f32(88.72283) else s
    return s if x == x else x


@_J
def exp_f64(x):
    xc = x if x > f64(-746.0) else f64(-746.0)
    xc = xc if xc < f64(710.0) else f64(710.0)
    n = np.floor(xc * _LOG2E64 + f64(0.5))
    r = (xc - n * _LN2HI64) - n * _LN2LO64
    p = f64(1.0 / 6227020800)
    p = p * r + f64(1.0 / 479001600)
    p = p * r + f64(1.0 / 39916800)
    p = p * r + f64(1.0 / 3628800)
    p = p * r + f64(1.0 / 362880)
    p = p * r + f64(1.0 / 40320)
    p = p * r + f64(1.0 / 5040)
    p = p * r + f64(1.0 / 720)
    p = p * r + f64(1.0 / 120)
    p = p * r + f64(1.0 / 24)
    p = p * r + f64(1.0 / 6)
    p = p * r + f64(0.5)
    p = p * r + f64(1.0)
    p = p * r + f64(1.0)
    k = i64(n)
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


@_J
def nan_max(a, b):
    return a if (a > b or a != a) else b


@_J
def nan_min(a, b):
    return a if (a < b or a != a) else b


@_J
def softplus(x):
    ax = x if x >= 0 else -x
    m = x if x > 0 else x - x
    return m + np.log1p(np.exp(-ax))


@_J
def sign_of(x):
    return np.sign(x)


@_J
def round_half_even(x):
    return np.rint(x)


@_J
def angle_of(x):
    return math.atan2(x.imag, x.real)


@_J
def psi_f64(x):
    """Digamma: reflection for x < 0.5, recurrence up to 6, asymptotic series."""
    if x != x:
        return x
    if x <= 0.0 and np.floor(x) == x:
        return np.nan
    r = 0.0
    if x < 0.5:
        r = -np.pi / np.tan(np.pi * x)
        x = 1.0 - x
    while x < 6.0:
        r -= 1.0 / x
        x += 1.0
    z = 1.0 / (x * x)
    s = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132)))))
    return r + np.log(x) - 0.5 / x - s


@_J
def trigamma_f64(x):
    """Trigamma: reflection for x < 0.5, recurrence up to 6, asymptotic series."""
    if x != x:
        return x
    if x <= 0.0 and np.floor(x) == x:
        return np.inf
    if x < 0.5:
        s = np.sin(np.pi * x)
        return -trigamma_pos(1.0 - x) + np.pi * np.pi / (s * s)
    return trigamma_pos(x)


@numba.njit(error_model="numpy", nogil=True)
def trigamma_pos(x):
    r = 0.0
    while x < 6.0:
        r += 1.0 / (x * x)
        x += 1.0
    z = 1.0 / (x * x)
    t = z * (1.0 / 6 - z * (1.0 / 30 - z * (1.0 / 42 - z * (1.0 / 30))))
    return r + 1.0 / x + 0.5 * z + t / x


@_JI
def check_index(i, n, axis):
    if i < -n or i >= n:
        raise IndexError("index out of bounds for a dimension of the indexed tensor")
    return i


# -- erfinv, erfcx (accurate to a few ulps against scipy.special) ----------------
_TWO_RTPI = 1.1283791670955126  # 2 / sqrt(pi)
_INV_RTPI = 0.5641895835477563  # 1 / sqrt(pi)


@numba.njit(error_model="numpy", nogil=True)
def erfinv_f64(x):
    """Inverse error function: Winitzki's closed-form estimate (relative error about
    2e-3), then Halley steps on erf(y) = |x| to full precision. Above 0.5 the steps
    solve erfc(y) = 1 - |x| instead (1 - |x| is exact there, erfc accurate in the
    tail), so arguments near 1 keep their precision."""
    x = np.float64(x)
    ax = abs(x)
    if not ax < 1.0:
        return np.copysign(np.inf, x) if ax == 1.0 else np.nan
    if ax < 1e-9:
        return x * 0.886226925452758 * (1.0 + 0.2617993877991494 * x * x)
    ln = np.log1p(-ax) + np.log1p(ax)  # log(1 - x^2)
    t = 4.330746750799873 + 0.5 * ln  # 2 / (pi * 0.147) + ln / 2
    y = np.sqrt(np.sqrt(t * t - ln / 0.147) - t)
    for _ in range(3):
        f = math.erf(y) - ax if ax <= 0.5 else (1.0 - ax) - math.erfc(y)
        u = f / (_TWO_RTPI * math.exp(-y * y))
        y = y - u / (1.0 + y * u)
    return np.copysign(y, x)


@numba.njit(error_model="numpy", nogil=True)
def erfcx_pos(x):
    """exp(x^2) erfc(x) for x >= 0."""
    if x < 26.0:
        # x^2 = hi + lo exactly (Dekker's split), and exp(lo) = 1 + lo
        c = 134217729.0 * x
        xh = c - (c - x)
        xl = x - xh
        hi = x * x
        lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl
        return math.exp(hi) * math.erfc(x) * (1.0 + lo)
    if x > 5e7:
        return _INV_RTPI / x
    z = 0.5 / (x * x)  # asymptotic series: sum (-1)^k (2k-1)!! z^k
    term, s = 1.0, 1.0
    for k in range(1, 10):
        term *= -(2 * k - 1) * z
        s += term
    return s * _INV_RTPI / x


@numba.njit(error_model="numpy", nogil=True)
def erfcx_f64(x):
    """Scaled complementary error function exp(x^2) erfc(x). Negative x as SciPy
    (Faddeeva): 2 exp(x*x) - erfcx(-x), overflowing to inf below about -26.6."""
    x = np.float64(x)
    if x != x:
        return x
    if x < 0.0:
        return 2.0 * math.exp(x * x) - erfcx_pos(-x)
    return erfcx_pos(x)


__all__ += ["erfinv_f64", "erfcx_f64"]


# -- c = alpha * a @ b + beta * c with NumPy's BLAS (see blas.py) --------------------
def _gemm_functions():
    import llvmlite.binding as ll

    from .blas import NAMES, addresses

    found = addresses()
    out = {}
    i32, i64 = types.int32, types.int64
    for dt, name in NAMES.items():
        if name in found:
            ll.add_symbol(name, found[name])
            f = types.float32 if dt == "float32" else types.float64
            p = types.CPointer(f)
            out[dt] = types.ExternalFunction(
                name, types.void(i32, i32, i32, i64, i64, i64, f, p, i64, p, i64, f, p, i64))
    return out


_GEMM = _gemm_functions()
_ROW, _NOTRANS, _TRANS = 101, 111, 112  # CblasRowMajor, CblasNoTrans, CblasTrans
_ROWS = 64  # row block of a tall product


def gemm_into(alpha, a, b, beta, c):
    """c = alpha * a @ b + beta * c in place, for matrices (compiled code only)."""
    raise NotImplementedError("gemm_into runs in compiled code")


@overload(gemm_into)
def _gemm_into(alpha, a, b, beta, c):
    if not (isinstance(c, types.Array) and c.dtype.name in _GEMM):
        return None
    fn = _GEMM[c.dtype.name]
    dt = c.dtype

    def impl(alpha, a, b, beta, c):
        m, k = a.shape
        n = b.shape[1]
        if k == 0 or m == 0 or n == 0:  # no product: BLAS is not called
            if beta == 0:
                c[:] = 0  # c may hold garbage (np.empty), which beta * c would keep
            else:
                c *= dt(beta)
            return
        if a.T.flags.c_contiguous and not a.flags.c_contiguous:  # a transposed view
            ta, lda, ac = _TRANS, m, np.ascontiguousarray(a.T)
        else:
            ta, lda, ac = _NOTRANS, k, np.ascontiguousarray(a)
        if b.T.flags.c_contiguous and not b.flags.c_contiguous:
            tb, ldb, bc = _TRANS, k, np.ascontiguousarray(b.T)
        else:
            tb, ldb, bc = _NOTRANS, n, np.ascontiguousarray(b)
        if ta == _NOTRANS and m >= 2 * _ROWS and k * n <= 8192:
            # a tall a times a small b: 64-row blocks skip OpenBLAS's packing of a
            # (as matrix_product in tensor/linalg.py)
            for r in range(0, m, _ROWS):
                rows = min(_ROWS, m - r)
                fn(_ROW, ta, tb, rows, n, k, dt(alpha), ac[r:].ctypes, lda, bc.ctypes, ldb,
                   dt(beta), c[r:].ctypes, n)
            return
        fn(_ROW, ta, tb, m, n, k, dt(alpha), ac.ctypes, lda, bc.ctypes, ldb, dt(beta),
           c.ctypes, n)

    return impl
