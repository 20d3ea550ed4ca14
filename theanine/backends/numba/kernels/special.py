"""Special functions for compiled code, agreeing with the py backend (SciPy).

Each takes a float64 (emitters cast) and matches scipy.special at the special
points (infinities, NaN, signed zeros, poles) and to about 1e-15 relative error
elsewhere (tests/backends/test_numba_special.py compares them with SciPy and
with a 50-digit reference, tests/backends/highprec.py):

- ``psi_f64`` (digamma): psi(+0) = -inf, psi(-0) = +inf, NaN at the negative
  integers and -inf. For 0 < x < 10, psi(x) is written as its difference from
  psi(x0) = 0 at the positive zero x0 = 1.4616...:
      psi(x) = sum_{j<9} h / ((x + j)(x0 + j)) + psi(x + 9) - psi(x0 + 9),  h = x - x0,
  with the last difference from the asymptotic series in a factored form, so every
  term has the sign of h: no cancellation, full relative accuracy near the zero
  too. For x >= 10 the asymptotic series; for x < 0 the reflection
  psi(x) = psi(1 - x) - pi / tan(pi x), with tan's argument reduced to
  [-pi/2, pi/2] first (accurate next to the poles).
- ``trigamma_f64``: +inf at 0, the negative integers and -inf (as SciPy); the
  recurrence up to 10 (all terms positive) and the asymptotic series; the
  reflection pi^2 / sin^2(pi x) - psi1(1 - x) below 0.
- ``gammaln_f64``: libm's lgamma, with SciPy's values where they differ:
  gammaln(-inf) = -inf, and +inf for a subnormal x with |x| < 1 / DBL_MAX
  (SciPy's Cephes lgam divides 1 by x first, which overflows there; the true
  value, -log|x|, is about 709.8-744.4). py (SciPy) is the reference.
- ``softplus``: log(1 + exp(x)) without overflow; softplus(-inf) = 0.
- ``erfinv_f64``, ``erfcx_f64``: accurate to a few ulps.

Imports nothing from theanine (kernel modules load light; see kernels/__init__).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["softplus", "psi_f64", "trigamma_f64", "gammaln_f64", "erfinv_f64",
           "erfcx_f64"]

_J = numba.njit(error_model="numpy", nogil=True)

# B_2k / (2k), k = 1..7 (Bernoulli numbers): the asymptotic series of psi
_PSI_ASY = (1.0 / 12, -1.0 / 120, 1.0 / 252, -1.0 / 240, 1.0 / 132, -691.0 / 32760,
            1.0 / 12)
# B_2k, k = 8..1 (highest first, for Horner): the asymptotic series of trigamma
_TRI_ASY_REV = (-3617.0 / 510, 7.0 / 6, -691.0 / 2730, 5.0 / 66, -1.0 / 30, 1.0 / 42,
                -1.0 / 30, 1.0 / 6)
# the positive zero of psi, x0 = _X0_HI + _X0_LO (tests/backends/highprec.py)
_X0_HI = 1.4616321449683622
_X0_LO = 9.549995429965697e-17
_SHIFT = 9  # _X0_HI + 9 > 10: the asymptotic series is accurate there
_PI2 = np.pi * np.pi


@_J
def softplus(x):
    if x > 0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))  # also x = -inf (0) and NaN


@_J
def _psi_asymptotic(x):
    """psi(x) for x >= 10 (error below 1e-17 relative)."""
    z = 1.0 / (x * x)
    s = 0.0
    for k in range(len(_PSI_ASY) - 1, -1, -1):
        s = s * z + _PSI_ASY[k]
    return np.log(x) - 0.5 / x - z * s


@_J
def _psi_from_zero(x):
    """psi(x) for 0 < x < 10 as psi(x) - psi(x0) (module docstring)."""
    h = (x - _X0_HI) - _X0_LO  # x - _X0_HI is exact near x0
    acc = 0.0
    for j in range(1, _SHIFT):
        acc += 1.0 / ((x + j) * (_X0_HI + j))
    y, y0 = x + _SHIFT, _X0_HI + _SHIFT
    u, v = 1.0 / y0, 1.0 / y
    # psi(y) - psi(y0) = log1p(h / y0) + h / (2 y y0) + (u - v) sum_k c_k S_k, where
    # u^2k - v^2k = (u - v) S_k, S_k = sum_{i<2k} u^i v^(2k-1-i), S_{k+1} = v^2 S_k + u^2k (u + v)
    s_k, u2k, bern = u + v, u * u, 0.0
    for c in _PSI_ASY:
        bern += c * s_k
        s_k = v * v * s_k + u2k * (u + v)
        u2k *= u * u
    acc += 0.5 / (y * y0) + bern / (y * y0)
    return (h / _X0_HI) / x + h * acc + np.log1p(h / y0)


@_J
def psi_f64(x):
    """Digamma as scipy.special.digamma (module docstring)."""
    if x != x or x == np.inf:
        return x
    if x == 0.0:
        return -np.copysign(np.inf, x)
    if x < 0.0:
        if np.floor(x) == x:  # a pole, or -inf
            return np.nan
        r = x - np.round(x)  # tan(pi x) = tan(pi r), r in [-1/2, 1/2]
        refl = -np.pi / np.tan(np.pi * r)
        y = 1.0 - x
        return refl + (_psi_from_zero(y) if y < 10.0 else _psi_asymptotic(y))
    return _psi_from_zero(x) if x < 10.0 else _psi_asymptotic(x)


@_J
def _trigamma_pos(x):
    """Trigamma for x > 0: 1/x^2 + 1/(x+1)^2 + ... up to 10, then the asymptotic
    series; summed smallest term first."""
    if x == np.inf:
        return 0.0
    n = 0 if x >= 10.0 else int(np.ceil(10.0 - x))
    y = x + n
    z = 1.0 / (y * y)
    s = 0.0
    for c in _TRI_ASY_REV:
        s = s * z + c
    r = (1.0 + 0.5 / y + z * s) / y
    for k in range(n - 1, -1, -1):
        t = 1.0 / (x + k)
        r += t * t
    return r


@_J
def trigamma_f64(x):
    """Trigamma as scipy.special.polygamma(1, x) (module docstring)."""
    if x != x:
        return x
    if x <= 0.0 and np.floor(x) == x:  # 0, a negative integer, -inf
        return np.inf
    if x < 0.0:
        s = np.sin(np.pi * (x - np.round(x)))
        return _PI2 / (s * s) - _trigamma_pos(1.0 - x)
    return _trigamma_pos(x)


@_J
def gammaln_f64(x):
    """log|gamma(x)| (libm); -inf at -inf, and +inf where 1 / x overflows (a subnormal
    x, |x| < 1 / DBL_MAX), as scipy.special.gammaln."""
    if x == -np.inf:
        return x
    if x != 0.0 and math.isinf(1.0 / x):
        return np.inf
    return math.lgamma(x)


# -- erfinv, erfcx (accurate to a few ulps against scipy.special) ----------------
_TWO_RTPI = 1.1283791670955126  # 2 / sqrt(pi)
_INV_RTPI = 0.5641895835477563  # 1 / sqrt(pi)


@_J
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


@_J
def _erfcx_pos(x):
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


@_J
def erfcx_f64(x):
    """Scaled complementary error function exp(x^2) erfc(x). Negative x as SciPy
    (Faddeeva): 2 exp(x*x) - erfcx(-x), overflowing to inf below about -26.6."""
    x = np.float64(x)
    if x != x:
        return x
    if x < 0.0:
        return 2.0 * math.exp(x * x) - _erfcx_pos(-x)
    return _erfcx_pos(x)
