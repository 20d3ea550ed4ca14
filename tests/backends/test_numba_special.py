"""numba agrees with py (NumPy / SciPy) on every unary scalar function it emits,
at the special points (+-inf, NaN, +-0, negative integers, poles, tiny and huge
values) and on random points (issue 13, item 5); psi and trigamma are accurate
to about 1e-15 (against a 50-digit reference, tests/backends/highprec.py)."""

import decimal

import numpy as np
import pytest
import scipy.special as sps

import theanine as theano
import theanine.tensor as T
from tests.backends import highprec as H
from tests.backends.conftest import HAVE_NUMBA, backend_mode
from theanine.backends.numba import linker
from theanine.backends.numba.kernels import special
from theanine.backends.numba.scalar_table import SCALAR

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")

# every unary function of numba's scalar table that takes a real float (theanine.tensor
# names); test_every_unary_float_function_is_covered keeps this list complete
UNARY = ["exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "sin", "cos", "tan",
         "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
         "arctanh", "deg2rad", "rad2deg", "erf", "erfc", "erfinv", "erfcx", "gamma",
         "gammaln", "psi", "tri_gamma", "nnet_sigmoid", "nnet_softplus", "floor", "ceil",
         "trunc", "round_half_to_even", "round_half_away_from_zero", "abs_", "sgn", "sqr",
         "inv", "neg", "conj", "real", "imag", "angle"]

SPECIAL = [-np.inf, -1e300, -171.5, -100.5, -3.0, -2.5, -2.0, -1.0, -0.5, -1e-300, -0.0, 0.0,
           1e-310, 1e-300, 1e-10, 0.25, 0.5, 1.0, 1.4616321449683622, 2.0, 2.5, 10.0, 100.5,
           171.7, 1e10, 1e300, np.inf, np.nan]

# Where SciPy's value is not the function's and numba's is: left out of the comparison.
# (function, float dtype) -> (points, why). (gammaln of a subnormal x, whose true value
# is -log|x|, is +inf on both: numba follows SciPy there, test_gammaln_of_subnormals.)
SCIPY_OFF = {
    # gamma(-171.5) is 1.93e-310 (subnormal); SciPy returns 0
    ("gamma", "float64"): ([-171.5], "SciPy flushes a subnormal result to 0"),
}

# ulps of difference allowed (numba calls libm or its own kernels, py NumPy or SciPy:
# the last bits may differ); default 2
ULPS = {"float64": {"gamma": 6, "erfc": 10, "erfinv": 4, "erfcx": 12, "tri_gamma": 8},
        "float32": {"exp": 4, "log": 4, "tanh": 4, "nnet_sigmoid": 4, "tan": 3, "gamma": 3}}


def _allowed(name, dtype, x, ref):
    """|numba - py| allowed at each point: ULPS, or where SciPy is less accurate than
    numba (checked against the 50-digit reference by the tests below), SciPy's error."""
    x64, ref64 = x.astype(np.float64), np.abs(ref.astype(np.float64))
    ulp = np.spacing(np.maximum(ref64, np.finfo(dtype).tiny).astype(dtype)).astype(np.float64)
    allowed = ULPS[dtype].get(name, 2) * ulp
    if dtype != "float64":
        return allowed
    eps = np.finfo(np.float64).eps
    with np.errstate(all="ignore"):
        if name == "erfc":  # SciPy rounds x * x before exp(-x * x)
            return np.maximum(allowed, ref64 * x64 * x64 * eps)
        if name == "gammaln":  # absolute accuracy near the zeros at 1 and 2
            return np.maximum(allowed, 4 * eps * np.maximum(ref64, 1.0))
        if name == "psi":  # x < 0: SciPy takes tan(pi x) with x reduced towards 0 (modf),
            # losing ulp(pi) * pi / sin^2(pi x); the reflection's terms cancel
            terms = np.abs(np.pi / np.tan(np.pi * x64)) + np.abs(sps.digamma(1 - x64))
            lost = 4 * eps * terms + np.spacing(np.pi) * np.pi / np.sin(np.pi * x64) ** 2
            return np.where(x64 < 0, np.maximum(allowed, lost), allowed)
    return allowed


def _grid(dtype):
    """SPECIAL, and random points of every magnitude; negative ones above -1e4
    (SciPy's polygamma(1, x) takes time proportional to -x)."""
    rng = np.random.default_rng(11)
    with np.errstate(over="ignore"):
        return np.concatenate([SPECIAL, rng.uniform(-10, 10, 600), rng.uniform(-1, 1, 300),
                               np.exp(rng.uniform(-40, 40, 600)),
                               -np.exp(rng.uniform(-40, 9, 300)),
                               np.arange(-12, 13) + 0.5]).astype(dtype)


@pytest.fixture(scope="module")
def values():
    """{dtype: (x, {name: (py result, numba result)})} for every UNARY function."""

    out = {}
    for dtype in ("float64", "float32"):
        x = T.vector("x", dtype=dtype)
        outs = [getattr(T, n)(x) for n in UNARY]
        v = _grid(dtype)
        with np.errstate(all="ignore"), linker.policy("strict", "all"):
            py = theano.function([x], outs, mode=backend_mode("py"))(v)
            nb = theano.function([x], outs, mode=backend_mode("numba"))(v)
        out[dtype] = v, dict(zip(UNARY, zip(py, nb)))
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", UNARY)
def test_numba_agrees_with_py(values, name, dtype):
    x, results = values[dtype]
    ref, got = (np.asarray(r) for r in results[name])
    assert ref.dtype == got.dtype and ref.shape == got.shape
    skip, _ = SCIPY_OFF.get((name, dtype), ([], ""))
    keep = ~np.isin(x, np.asarray(skip, dtype))
    x, ref, got = x[keep], ref[keep], got[keep]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{name}: NaN where")
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)],
                                  err_msg=f"{name}: infinities")
    x, ref, got = x[finite], ref[finite], got[finite]
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = diff > _allowed(name, dtype, x, ref)
    assert not bad.any(), (
        f"{name} {dtype}: x={x[bad][:5]!r}: py {ref[bad][:5]!r}, numba {got[bad][:5]!r}")


def test_the_reported_disagreements_are_gone(values):
    """softplus(-inf) = 0 (was NaN), psi(+-0) = -+inf (was NaN), gammaln(-inf) = -inf
    (was +inf), as py; NaN at psi's poles, +inf at trigamma's."""
    x, results = values["float64"]
    at = {repr(v): k for k, v in enumerate(SPECIAL)}  # the grid starts with SPECIAL
    assert np.array_equal(x[:len(SPECIAL)], SPECIAL, equal_nan=True)
    for name, point, want in [("nnet_softplus", "-inf", 0.0), ("psi", "0.0", -np.inf),
                              ("psi", "-0.0", np.inf), ("gammaln", "-inf", -np.inf),
                              ("tri_gamma", "-2.0", np.inf), ("tri_gamma", "0.0", np.inf)]:
        py, nb = (r[at[point]] for r in results[name])
        assert nb == want == py, (name, point, py, nb)
    for point in ("-1.0", "-2.0", "-inf"):
        assert np.isnan(results["psi"][1][at[point]])


def test_gammaln_of_subnormals_is_scipys(numba_strict):
    """SciPy's gammaln is +inf exactly where 1 / x overflows (|x| < 1 / DBL_MAX, a
    subnormal x; the true value is -log|x|, 709.8-744.4): numba gives the same, on
    both sides of the boundary and for negative x; float32 (computed in double) stays
    finite."""
    tiny = 1.0 / np.finfo(np.float64).max
    edge = [tiny]
    for _ in range(3):
        edge = [np.nextafter(edge[0], 0.0)] + edge + [np.nextafter(edge[-1], 1.0)]
    x = np.array(edge + [1e-310, 5e-324, 2.2250738585072014e-308, 1e-300])
    x = np.concatenate([x, -x, [0.0, -0.0]])
    want = sps.gammaln(x)
    assert np.isinf(want).sum() >= 10 and np.isfinite(want).sum() >= 10  # both sides seen
    xv = T.dvector("x")
    got = theano.function([xv], T.gammaln(xv), mode=backend_mode("numba"))(x)
    ref = theano.function([xv], T.gammaln(xv), mode=backend_mode("py"))(x)
    np.testing.assert_array_equal(ref, want)
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=str(x))
    np.testing.assert_allclose(got, want, rtol=1e-15)
    x32 = np.array([1e-42, -1e-42, 1e-45], np.float32)
    xv32 = T.fvector("x")
    got32 = theano.function([xv32], T.gammaln(xv32), mode=backend_mode("numba"))(x32)
    np.testing.assert_array_equal(got32, sps.gammaln(x32))


def test_numba_is_right_where_scipy_is_not():
    """The points where the agreement test allows SciPy's error: numba's erfc (libm)
    and gammaln are within 2 ulps of the 50-digit values (SciPy: 9 ulps at 0.83, 287 at
    23.09; 68 ulps at 0.974)."""
    import math

    import numba

    @numba.njit
    def erfc_lgamma(x):
        return math.erfc(x), math.lgamma(x)

    for x in [23.09140098572565, 9.5, 0.8302738093118407, 0.991228123757164,
              0.9740666871199151, 1.5, 2.5, 1.999]:
        got_erfc, got_lgamma = erfc_lgamma(x)
        want = float(H.lgamma(H.D(x)))
        assert abs(got_lgamma - want) <= 2 * np.spacing(abs(want)), (x, got_lgamma, want)
        want = float(H.erfc(H.D(x)))
        assert abs(got_erfc - want) <= 2 * np.spacing(want), (x, got_erfc, want)


def test_every_unary_float_function_is_covered():
    tested = set()
    for name in UNARY:
        node = getattr(T, name)(T.vector("x")).owner
        tested.add(type(node.op.scalar_op))
    unary_float = {c for c in SCALAR if getattr(c, "nin", 1) == 1
                   and getattr(c, "cast_inputs", False)}
    assert unary_float, "no unary float functions found in SCALAR"
    assert unary_float <= tested, sorted(c.__name__ for c in unary_float - tested)


# -- psi and trigamma against the 50-digit reference -----------------------------------

def _kernel_values(fn, xs):
    import numba

    @numba.njit
    def run(a):
        out = np.empty_like(a)
        for i in range(a.size):
            out[i] = fn(a[i])
        return out

    return run(np.asarray(xs, np.float64))


def _exact(fn, xs):
    with decimal.localcontext(H.CONTEXT):
        return np.array([float(fn(H.D(float(x)))) for x in xs])


POSITIVE = [1e-300, 1e-8, 0.01, 0.3, 0.9, 1.0, 1.2, 1.45, 1.4616321449683622,
            1.4616321449683625, 1.47, 1.9, 2.0, 3.7, 7.7, 9.99, 10.0, 10.5, 55.5, 1e5, 1e15]


def test_psi_is_accurate_near_its_zero_and_everywhere():
    rng = np.random.default_rng(5)
    xs = np.concatenate([POSITIVE, 1.4616321449683622 + rng.uniform(-1e-6, 1e-6, 20),
                         rng.uniform(0.01, 12, 60)])
    got, want = _kernel_values(special.psi_f64, xs), _exact(H.digamma, xs)
    rel = np.abs(got - want) / np.abs(want)
    assert rel.max() < 1e-15, (xs[np.argmax(rel)], rel.max())


def test_psi_reflection_next_to_the_poles():
    """x just above a negative integer: tan's argument is reduced to [-pi/2, pi/2]
    first, so psi stays accurate where pi * x rounds away the distance to the pole."""

    for n, eps in [(1, 1e-10), (3, 9.48e-5), (29, 6.5e-5), (7, 0.25)]:
        x = -n + eps
        with decimal.localcontext(H.CONTEXT):
            xd = H.D(x)
            r = xd - round(xd)
            want = H.digamma(1 - xd) - H.pi() * H.cos(H.pi() * r) / H.sin(H.pi() * r)
        got = _kernel_values(special.psi_f64, [x])[0]
        assert abs(got - float(want)) <= 4e-16 * abs(float(want)), (x, got, float(want))


def test_trigamma_is_accurate():
    rng = np.random.default_rng(6)
    xs = np.concatenate([POSITIVE[1:], [1e-150], rng.uniform(0.01, 15, 60)])
    got = _kernel_values(special.trigamma_f64, xs)
    want = _exact(lambda a: H.hurwitz_zeta(2, a), xs)
    rel = np.abs(got - want) / want
    assert rel.max() < 1e-15, (xs[np.argmax(rel)], rel.max())
    neg = np.array([-0.5, -1.5, -2.25, -10.7, -1e-7 - 1])  # reflection
    np.testing.assert_allclose(_kernel_values(special.trigamma_f64, neg),
                               sps.polygamma(1, neg), rtol=2e-15)


def test_psi_zero_in_the_kernel_is_the_reference_one():
    x0 = H.digamma_root()
    assert special._X0_HI == float(x0)
    assert special._X0_LO == float(x0 - H.D(special._X0_HI))
    assert abs(H.digamma(x0)) < H.D(10) ** -45
