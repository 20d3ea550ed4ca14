"""The vectorisable math kernels (runtime.py) are within a few ulps of NumPy,
including the special values."""

import numpy as np
import pytest

from tests.backends.conftest import HAVE_NUMBA
from theanine.backends.numba import runtime

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


def _vectorised(f):
    import numba

    @numba.njit(error_model="numpy")
    def g(a):
        out = np.empty_like(a)
        for i in range(a.size):
            out[i] = f(a[i])
        return out

    return g


def _ulps(got, ref, dt):
    with np.errstate(over="ignore"):
        ref_c = ref.astype(dt)
    same = (got == ref_c) | (np.isnan(got) & np.isnan(ref_c))
    sp = np.maximum(np.spacing(np.abs(ref_c)).astype(np.float64),
                    np.finfo(dt).smallest_subnormal)
    with np.errstate(invalid="ignore"):
        return np.where(same, 0.0, np.abs(got.astype(np.float64) - ref) / sp)


SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 1e-40]


@pytest.mark.parametrize("name,ref,lo,hi", [
    ("exp", np.exp, -110.0, 90.0), ("log", np.log, 0.0, 1e6), ("tanh", np.tanh, -20.0, 20.0),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), -40.0, 40.0)])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_kernel_accuracy(name, ref, lo, hi, dt):
    f = _vectorised(getattr(runtime, f"{name}_f{np.dtype(dt).itemsize * 8}"))
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(lo, hi, 20001), rng.normal(size=2000) * 3,
                        np.geomspace(1e-30, 10, 200), SPECIAL]).astype(dt)
    if dt is np.float64 and name == "exp":
        x = np.concatenate([x, np.linspace(-745, 709, 2001)])
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.longdouble)).astype(np.float64)
        got = f(x)
    assert got.dtype == dt
    u = _ulps(got, want, dt)
    worst = int(np.argmax(u))
    assert u[worst] <= 4, f"{name} {dt.__name__}: {u[worst]:.1f} ulps at x={x[worst]!r}"


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_sigmoid_pair_is_both_sigmoids(dt):
    """sigmoid_pair(x) = (sigmoid(x), sigmoid(-x)) from one exp, within a few ulps of
    each (both stay accurate where one of them is tiny), special values included."""
    import numba


    pair = getattr(runtime, f"sigmoid_pair_f{np.dtype(dt).itemsize * 8}")

    @numba.njit(error_model="numpy")
    def g(a):
        p, m = np.empty_like(a), np.empty_like(a)
        for i in range(a.size):
            p[i], m[i] = pair(a[i])
        return p, m

    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-800, 800, 20001), rng.normal(size=2000) * 5,
                        SPECIAL, [-1e30, 1e30]]).astype(dt)
    p, m = g(x)
    assert p.dtype == m.dtype == dt
    with np.errstate(all="ignore"):
        xl = x.astype(np.longdouble)
        for got, want in ((p, 1 / (1 + np.exp(-xl))), (m, 1 / (1 + np.exp(xl)))):
            u = _ulps(got, want.astype(np.float64), dt)
            worst = int(np.argmax(u))
            assert u[worst] <= 4, f"{u[worst]:.1f} ulps at x={x[worst]!r}"


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_exp_of_non_positive_arguments_is_exp_bit_for_bit(dt):
    """The sigmoid pairs' exp for x <= 0 (one scale, no overflow path) gives exp's bits
    at every non-positive argument: the subnormal results, the flush to 0, -0.0,
    -inf and NaN included."""
    from theanine.backends.numba.kernels import vecmath

    bits = np.dtype(dt).itemsize * 8
    lo = np.log(np.finfo(dt).smallest_subnormal) - 2  # past the last subnormal
    rng = np.random.default_rng(2)
    x = np.concatenate([np.linspace(lo, 0, 200001), -np.abs(rng.normal(size=20000)) * 30,
                        -np.geomspace(1e-30, -lo, 2000), [0.0, -0.0, -np.inf, np.nan]])
    x = x.astype(dt)
    got = _vectorised(getattr(vecmath, f"_exp_nonpos_f{bits}"))(x)
    want = _vectorised(getattr(vecmath, f"exp_f{bits}"))(x)
    assert got.dtype == dt
    np.testing.assert_array_equal(got.view(f"i{bits // 8}"), want.view(f"i{bits // 8}"))
    assert (got[x < lo + 1] == 0).all() and (got[(x > lo + 3) & (x < lo + 30)] > 0).all()
