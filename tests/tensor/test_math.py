"""Elementwise functions of the tensor API against NumPy/SciPy: values, output
dtypes (Theano's rules), broadcasting, Python-scalar weakness, operators, and
gradients against finite differences."""

import numpy as np
import pytest
import scipy.special as sps

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad

FLOAT_OF = {"float64": "float64", "float32": "float32", "int8": "float32", "uint8": "float32",
            "int16": "float32", "int32": "float64", "int64": "float64", "bool": "float32"}

# name: (reference, low, high) -- the domain keeps values away from singularities
UNARY_FLOAT = {
    "sqrt": (np.sqrt, 0.1, 4), "exp": (np.exp, -3, 3), "exp2": (np.exp2, -3, 3),
    "expm1": (np.expm1, -3, 3), "log": (np.log, 0.1, 4), "log1p": (np.log1p, -0.5, 4),
    "log2": (np.log2, 0.1, 4), "log10": (np.log10, 0.1, 4), "sin": (np.sin, -3, 3),
    "cos": (np.cos, -3, 3), "tan": (np.tan, -1.2, 1.2), "arcsin": (np.arcsin, -0.9, 0.9),
    "arccos": (np.arccos, -0.9, 0.9), "arctan": (np.arctan, -3, 3),
    "sinh": (np.sinh, -3, 3), "cosh": (np.cosh, -3, 3), "tanh": (np.tanh, -3, 3),
    "arcsinh": (np.arcsinh, -3, 3), "arccosh": (np.arccosh, 1.2, 4),
    "arctanh": (np.arctanh, -0.9, 0.9), "erf": (sps.erf, -2, 2), "erfc": (sps.erfc, -2, 2),
    "erfinv": (sps.erfinv, -0.9, 0.9), "erfcx": (sps.erfcx, -2, 3),
    "gamma": (sps.gamma, 0.5, 4), "gammaln": (sps.gammaln, 0.5, 4),
    "psi": (sps.digamma, 0.5, 4), "tri_gamma": (lambda x: sps.polygamma(1, x), 0.5, 4),
    "inv": (lambda x: 1 / x, 0.5, 3), "nnet_sigmoid": (sps.expit, -5, 5),
    "nnet_softplus": (lambda x: np.logaddexp(0, x), -5, 5), "deg2rad": (np.deg2rad, -90, 90),
    "rad2deg": (np.rad2deg, -3, 3),
}
UNARY_SAME = {  # output dtype = input dtype
    "neg": np.negative, "abs_": np.abs, "sgn": np.sign, "sqr": np.square,
}
NO_GRAD = {"tri_gamma"}
SHAPES = [(), (5,), (3, 4), (2, 3, 2)]


def run(fn, *values):
    xs = [T.TensorType(np.asarray(v).dtype.name, (False,) * np.ndim(v))() for v in values]
    out = fn(*xs)
    return out, theano.function(xs, out)(*values)


def tol(dtype):
    return {"float32": 1e-5, "float64": 1e-10}.get(dtype, 1e-5)


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_float_values(name, dtype, rng):
    ref, lo, hi = UNARY_FLOAT[name]
    for shape in SHAPES:
        v = rng.uniform(lo, hi, size=shape).astype(dtype)
        out, got = run(getattr(T, name), v)
        assert out.dtype == dtype and got.dtype == dtype
        np.testing.assert_allclose(got, ref(v.astype("float64")), rtol=100 * tol(dtype),
                                   atol=tol(dtype))


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "bool"])
def test_unary_float_of_discrete(name, dtype):
    """int8/uint8/bool upgrade to float32, wider ints to float64 (Theano's rule)."""
    ref, lo, hi = UNARY_FLOAT[name]
    if dtype == "bool":
        v = np.array([True, False, True]) if lo <= 0 < 1 <= hi else np.array([True, True])
    else:
        v = np.arange(int(np.ceil(lo)), int(np.floor(hi)) + 1)
        if name in ("gamma", "psi", "tri_gamma", "gammaln"):
            v = v[v > 0]
        if name in ("inv", "log", "log2", "log10"):
            v = v[v != 0]
        v = (v[v >= 0] if dtype == "uint8" else v).astype(dtype)
    with np.errstate(divide="ignore"):
        out, got = run(getattr(T, name), v)
        want = ref(v.astype("float64"))
    assert out.dtype == FLOAT_OF[dtype] == got.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(UNARY_SAME))
@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "int32", "int64"])
def test_unary_same_dtype(name, dtype, rng):
    for shape in SHAPES:
        v = (rng.uniform(-5, 5, size=shape)).astype(dtype)
        out, got = run(getattr(T, name), v)
        assert out.dtype == dtype == got.dtype
        np.testing.assert_array_equal(got, UNARY_SAME[name](v))


def test_unary_bool_inputs():
    b = np.array([True, False])
    assert run(T.sgn, b)[1].tolist() == [True, False]
    assert run(T.sqr, b)[1].tolist() == [True, False]
    assert run(T.abs_, b)[1].tolist() == [True, False]
    with pytest.raises(TypeError, match="neg.*bool"):
        T.neg(T.vector(dtype="bool"))


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc"])
def test_rounding_functions(name, rng):
    v = rng.uniform(-5, 5, size=(4, 3))
    v[0, :3] = [-2.5, 0.5, 1.5]
    out, got = run(getattr(T, name), v)
    np.testing.assert_array_equal(got, getattr(np, name)(v))
    out, got = run(getattr(T, name), np.array([1, -2], dtype="int32"))
    assert got.dtype == "float64" and got.tolist() == [1.0, -2.0]
    out, got = run(getattr(T, name), np.array([1, -2], dtype="int8"))
    assert got.dtype == "float32"


def test_round_modes():
    v = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6, 3.7])
    away = np.sign(v) * np.floor(np.abs(v) + 0.5)
    np.testing.assert_array_equal(run(T.round, v)[1], away)  # Theano's default
    np.testing.assert_array_equal(run(lambda x: T.round(x, "half_away_from_zero"), v)[1], away)
    np.testing.assert_array_equal(run(lambda x: T.round(x, mode="half_to_even"), v)[1],
                                  np.round(v))
    out, got = run(T.iround, v)
    assert out.dtype == "int64" and got.tolist() == away.astype("int64").tolist()
    assert run(lambda x: T.iround(x, "half_to_even"), v)[1].tolist() == [
        -2, -2, 0, 0, 2, 2, 0, -1, 4]
    x = T.vector()
    assert theano.function([x], x.round())(v).tolist() == away.tolist()
    with pytest.raises(ValueError, match="mode.*'half_up'"):
        T.round(T.vector(), mode="half_up")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_half_away_from_zero_is_exact(dtype):
    """floor(|x| + 0.5) rounds |x| + 0.5 first: 0.49999997 became 1 and float32 odd
    integers above 2**23 the next even one."""
    below_half = np.nextafter(np.array(0.5, dtype), np.array(0, dtype))
    big = np.array(2 ** 23 + 1 if dtype == "float32" else 2 ** 52 + 1, dtype)
    v = np.array([below_half, -below_half, big, -big, 2.5, -2.5, np.inf, -np.inf, 0.0],
                 dtype)
    x = T.vector(dtype=dtype)
    got = theano.function([x], T.round(x, "half_away_from_zero"))(v)
    np.testing.assert_array_equal(got, [0, 0, big, -big, 3, -3, np.inf, -np.inf, 0])
    assert got.dtype == dtype


BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "true_div": np.true_divide,
          "int_div": np.floor_divide, "mod": np.mod, "pow": np.power,
          "arctan2": np.arctan2, "maximum": np.maximum, "minimum": np.minimum,
          "eq": np.equal, "neq": np.not_equal, "lt": np.less, "le": np.less_equal,
          "gt": np.greater, "ge": np.greater_equal}
BITWISE = {"and_": np.bitwise_and, "or_": np.bitwise_or, "xor": np.bitwise_xor}
CMP = {"eq", "neq", "lt", "le", "gt", "ge"}
# (x broadcastable, y broadcastable, x shape, y shape)
PATTERNS = [((False, False), (False, False), (3, 4), (3, 4)),
            ((False, False), (True, False), (3, 4), (1, 4)),
            ((False, False), (False, True), (3, 4), (3, 1)),
            ((False, False), (), (3, 4), ()),
            ((), (False, False), (), (3, 4)),
            ((False,), (False, False), (4,), (3, 4)),
            ((True, False), (False, True), (1, 4), (3, 1)),
            ((False, True, False), (False,), (2, 1, 3), (3,))]


def binary_values(name, dtype, shape, rng, positive=False):
    if dtype == "bool":
        return rng.random(shape) > 0.5
    lo = 1 if positive or name in ("int_div", "mod", "true_div") else -4
    v = rng.uniform(lo, 4, size=shape)
    if name == "pow":
        v = rng.uniform(0.5, 2, size=shape) if dtype.startswith("float") else \
            rng.integers(0, 3, size=shape)
    return np.asarray(v).astype(dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("pattern", PATTERNS)
def test_binary_broadcasting(name, pattern, rng):
    xb, yb, xs, ys = pattern
    x, y = T.TensorType("float64", xb)(), T.TensorType("float64", yb)()
    xv, yv = binary_values(name, "float64", xs, rng), binary_values(name, "float64", ys, rng)
    out = getattr(T, name)(x, y)
    got = theano.function([x, y], out)(xv, yv)
    want = BINARY[name](xv, yv)
    assert got.shape == want.shape
    assert out.broadcastable == tuple(s == 1 for s in want.shape)
    assert got.dtype == ("bool" if name in CMP else "float64")
    np.testing.assert_allclose(got, want, rtol=1e-12)


DTYPES = ["float64", "float32", "int8", "int16", "int32", "int64", "uint8", "bool"]


def expected_dtype(name, a, b):
    if name in CMP:
        return "bool"
    up = np.result_type(a, b).name
    if name == "true_div":
        if np.dtype(up).kind in "biu":
            return theano.config.floatX
        return up
    if name == "arctan2":
        return FLOAT_OF.get(up, up)
    if name in ("sub", "int_div", "mod", "pow") and up == "bool":
        return "int8"
    return up


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_dtype_table(name, rng):
    """Every dtype pair: Theano's output dtype, NumPy's values."""
    for a in DTYPES:
        for b in DTYPES:
            x, y = T.matrix(dtype=a), T.row(dtype=b)
            xv = binary_values(name, a, (2, 3), rng, positive=True)
            yv = binary_values(name, b, (1, 3), rng, positive=True)
            if name in ("int_div", "mod", "true_div") and b == "bool":
                yv = np.ones((1, 3), dtype=bool)
            out = getattr(T, name)(x, y)
            assert out.dtype == expected_dtype(name, a, b), (a, b)
            got = theano.function([x, y], out)(xv, yv)
            assert got.dtype == out.dtype
            ref = BINARY[name]
            if np.dtype(out.dtype).kind == "f":  # NumPy would compute int8 in float16
                xv, yv = xv.astype("float64"), yv.astype("float64")
            with np.errstate(all="ignore"):
                both_bool = xv.dtype == yv.dtype == bool and name == "sub"
                want = ref(xv.astype("int8") if both_bool else xv, yv)
            np.testing.assert_allclose(got.astype("float64"), want.astype("float64"),
                                       rtol=1e-6 if out.dtype == "float32" else 1e-12)


def test_true_div_of_ints_is_floatx():
    for a, b in [("int8", "int8"), ("int32", "int64"), ("uint8", "bool")]:
        x, y = T.vector(dtype=a), T.vector(dtype=b)
        assert (x / y).dtype == "float64"
        with theano.config.change_flags(floatX="float32"):
            assert (x / y).dtype == "float32"
    x, y = T.ivector(), T.ivector()
    got = theano.function([x, y], x / y)(np.array([1, 7], "int32"), np.array([2, 2], "int32"))
    assert got.tolist() == [0.5, 3.5]


@pytest.mark.parametrize("name", sorted(BITWISE))
def test_bitwise(name, rng):
    for dt in ["bool", "int8", "int32", "uint8", "int64"]:
        a = binary_values(name, dt, (3, 4), rng)
        b = binary_values(name, dt, (3, 4), rng)
        out, got = run(getattr(T, name), a, b)
        assert out.dtype == dt
        np.testing.assert_array_equal(got, BITWISE[name](a, b))
    with pytest.raises(TypeError, match=f"{name.rstrip('_')}.*bool or integer.*float64"):
        getattr(T, name)(T.vector(), T.vector())


def test_invert_and_operators_on_bool(rng):
    a, b = rng.random(5) > 0.5, rng.random(5) > 0.5
    x, y = T.bvector(), T.bvector()
    x, y = T.vector(dtype="bool"), T.vector(dtype="bool")
    f = theano.function([x, y], [~x, x & y, x | y, x ^ y, T.invert(x)])
    for got, want in zip(f(a, b), [~a, a & b, a | b, a ^ b, ~a]):
        assert got.dtype == "bool"
        np.testing.assert_array_equal(got, want)
    i = T.ivector()
    v = np.array([0, 5, -3], dtype="int32")
    np.testing.assert_array_equal(theano.function([i], ~i)(v), ~v)
    with pytest.raises(TypeError, match="invert"):
        T.invert(T.vector())


def test_weak_python_scalars():
    f32, i8, u8, f64 = T.fvector(), T.bvector(), T.vector(dtype="uint8"), T.dvector()
    assert (f32 * 0.5).dtype == "float32"
    assert (0.5 * f32).dtype == "float32"
    assert (f32 + 1).dtype == "float32"
    assert (i8 + 1).dtype == "int8"
    assert (i8 + 1000).dtype == "int16"
    assert (u8 - 1).dtype == "uint8"
    assert (u8 + -1).dtype == "int16"
    assert (i8 * 0.5).dtype == theano.config.floatX
    assert (f64 * 2).dtype == "float64"
    assert T.maximum(f32, 0).dtype == "float32"
    assert T.switch(f32 > 0, f32, 0).dtype == "float32"
    assert T.clip(f32, 0, 1.5).dtype == "float32"
    assert (f32 ** 2).dtype == "float32"
    assert (f32 > 0.5).dtype == "bool"
    assert T.exp(T.constant(1.5)).dtype == theano.config.floatX
    # the value is computed in the tensor's dtype
    got = theano.function([f32], f32 * 0.1)(np.ones(2, "float32"))
    assert got.dtype == "float32" and np.allclose(got, 0.1)


def test_operators_and_reflected(rng):
    xv = rng.uniform(1, 3, size=(3, 4))
    yv = rng.uniform(1, 3, size=(3, 4))
    x, y = T.matrix(), T.matrix()
    cases = [
        (x + y, xv + yv), (x - y, xv - yv), (x * y, xv * yv), (x / y, xv / yv),
        (x // y, xv // yv), (x % y, xv % yv), (x ** y, xv ** yv), (-x, -xv), (+x, xv),
        (abs(x - 2), abs(xv - 2)), (x < y, xv < yv), (x <= y, xv <= yv),
        (x > y, xv > yv), (x >= y, xv >= yv),
        (2 + x, 2 + xv), (2 - x, 2 - xv), (2 * x, 2 * xv), (2 / x, 2 / xv),
        (7 // x, 7 // xv), (7 % x, 7 % xv), (2 ** x, 2 ** xv), (2.5 - x, 2.5 - xv),
        (yv + x, yv + xv), (yv - x, yv - xv), (yv * x, yv * xv), (yv / x, yv / xv),
        (yv // x, yv // xv), (yv % x, yv % xv), (yv ** x, yv ** xv),
        (yv < x, yv < xv), (yv > x, yv > xv), (yv <= x, yv <= xv), (yv >= x, yv >= xv),
        (x.clip(1.5, 2.5), xv.clip(1.5, 2.5)), (x.sqrt(), np.sqrt(xv)),
        (x.exp(), np.exp(xv)), (x.log(), np.log(xv)), (x.astype("int32"), xv.astype("int32")),
    ]
    f = theano.function([x, y], [c[0] for c in cases])
    for k, (got, (sym, want)) in enumerate(zip(f(xv, yv), cases)):
        assert sym.ndim == 2, k
        assert got.dtype == want.dtype, (k, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"case {k}")


def test_integer_operators():
    a, b = np.array([7, -7, 5], "int32"), np.array([2, 2, -3], "int32")
    x, y = T.ivector(), T.ivector()
    f = theano.function([x, y], [x // y, x % y, x & y, x | y, x ^ y, 3 & x, 1 | x, x ** 2])
    want = [a // b, a % b, a & b, a | b, a ^ b, 3 & a, 1 | a, a ** 2]
    for got, w in zip(f(a, b), want):
        assert got.dtype == "int32"
        np.testing.assert_array_equal(got, w)


def test_switch_where(rng):
    c = rng.random((3, 4)) > 0.5
    a, b = rng.random((3, 4)), rng.random((1, 4))
    cv, x, y = T.matrix(dtype="bool"), T.matrix(), T.row()
    for fn in (T.switch, T.where):
        out = fn(cv, x, y)
        np.testing.assert_array_equal(theano.function([cv, x, y], out)(c, a, b),
                                      np.where(c, a, b))
    # a numeric condition counts as true where non-zero; python scalars are weak
    i = T.ivector()
    iv = np.array([0, 2, -1], "int32")
    out = T.switch(i, 1, 0)
    assert out.dtype == "int8"
    assert theano.function([i], out)(iv).tolist() == [0, 1, 1]
    f32 = T.fvector()
    out = T.switch(T.gt(f32, 0), f32, 0)
    assert out.dtype == "float32"


def test_clip(rng):
    v = rng.uniform(-3, 3, size=(4, 5))
    out, got = run(lambda x: T.clip(x, -1, 1.5), v)
    np.testing.assert_array_equal(got, np.clip(v, -1, 1.5))
    lo, hi = rng.uniform(-2, 0, size=(4, 5)), rng.uniform(0, 2, size=(4, 5))
    out, got = run(T.clip, v, lo, hi)
    np.testing.assert_array_equal(got, np.clip(v, lo, hi))
    iv = np.array([-5, 0, 5], "int32")
    out, got = run(lambda x: T.clip(x, -2, 2), iv)
    assert got.dtype == "int32" and got.tolist() == [-2, 0, 2]


def test_isnan_isinf_isclose_allclose():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 2.0, np.inf, 1e308])
    b = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 0.0, 2.1, 1e308, np.inf])
    x, y = T.vector(), T.vector()
    f = theano.function([x, y], [T.isnan(x), T.isinf(x), T.isclose(x, y),
                                 T.isclose(x, y, equal_nan=True), T.isclose(x, y, rtol=0.1),
                                 T.allclose(x, y), T.allclose(x[:1], y[:1])])
    with np.errstate(invalid="ignore"):  # inf - inf inside, as in numpy.isclose
        r = f(a, b)
    np.testing.assert_array_equal(r[0], np.isnan(a))
    np.testing.assert_array_equal(r[1], np.isinf(a))
    np.testing.assert_array_equal(r[2], np.isclose(a, b))
    np.testing.assert_array_equal(r[3], np.isclose(a, b, equal_nan=True))
    np.testing.assert_array_equal(r[4], np.isclose(a, b, rtol=0.1))
    assert r[5].dtype == "bool" and not r[5]
    assert bool(r[6])
    # an integer operand against infinities
    i = T.lvector()
    f = theano.function([i, y], T.isclose(i, y))
    np.testing.assert_array_equal(f(np.array([5, 3]), np.array([np.inf, 3.0])),
                                  np.isclose([5, 3], [np.inf, 3.0]))


def test_cast(rng):
    v = rng.uniform(-3, 3, size=(3, 2))
    x = T.matrix()
    assert T.cast(x, "float64") is x
    for dt in ["float32", "int8", "int64", "uint8", "bool", "complex128"]:
        out = T.cast(x, dt)
        assert out.dtype == dt
        np.testing.assert_array_equal(theano.function([x], out)(v), v.astype(dt))
    assert T.cast(x, "floatX").dtype == theano.config.floatX
    with pytest.raises(TypeError, match="dtype.*'float128x'"):
        T.cast(x, "float128x")


def test_complex_parts(rng):
    v = rng.normal(size=5) + 1j * rng.normal(size=5)
    for name, ref, dt in [("real", np.real, "float64"), ("imag", np.imag, "float64"),
                          ("angle", np.angle, "float64"), ("conj", np.conj, "complex128"),
                          ("abs_", np.abs, "float64")]:
        out, got = run(getattr(T, name), v)
        assert out.dtype == dt
        np.testing.assert_allclose(got, ref(v))
    z = T.zvector()
    np.testing.assert_allclose(theano.function([z], [z.real, z.imag, z.conj()])(v),
                               [v.real, v.imag, v.conj()])
    c64 = (rng.normal(size=3) + 1j).astype("complex64")
    out, got = run(T.real, c64)
    assert out.dtype == got.dtype == "float32"
    # the angle of real numbers is 0 or pi
    out, got = run(T.angle, np.array([-2, 3], "int32"))
    assert out.dtype == "float64" and np.allclose(got, [np.pi, 0])


def test_real_only_functions_refuse_complex():
    z = T.zvector()
    for name in ["floor", "erf", "gammaln", "nnet_sigmoid", "arctan2", "mod", "sgn"]:
        fn = getattr(T, name)
        with pytest.raises(TypeError, match="complex128"):
            fn(z, z) if name in ("arctan2", "mod") else fn(z)


def test_nary_add_mul(rng):
    vs = [rng.random((3, 1)), rng.random((1, 4)), rng.random(()), rng.random((3, 4))]
    xs = [T.col(), T.row(), T.scalar(), T.matrix()]
    f = theano.function(xs, [T.add(*xs), T.mul(*xs)])
    s, p = f(*vs)
    np.testing.assert_allclose(s, vs[0] + vs[1] + vs[2] + vs[3])
    np.testing.assert_allclose(p, vs[0] * vs[1] * vs[2] * vs[3])
    with pytest.raises(TypeError, match="at least 2"):
        T.add(xs[0])


def test_second_and_fill(rng):
    a, b = rng.random((3, 4)), rng.random(())
    x, y = T.matrix(), T.scalar()
    np.testing.assert_array_equal(theano.function([x, y], T.fill(x, y))(a, b),
                                  np.full((3, 4), b))
    np.testing.assert_array_equal(theano.function([x, y], T.second(x, y))(a, b),
                                  np.full((3, 4), b))


def test_runtime_broadcast_error():
    x, y = T.matrix(), T.matrix()
    f = theano.function([x, y], x + y)
    with pytest.raises(ValueError, match="not broadcastable"):
        f(np.ones((3, 4)), np.ones((1, 4)))
    with pytest.raises(ValueError):
        f(np.ones((3, 4)), np.ones((3, 5)))


# -- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(set(UNARY_FLOAT) - NO_GRAD))
def test_unary_grad(name, rng):
    _, lo, hi = UNARY_FLOAT[name]
    verify_grad(getattr(T, name), [rng.uniform(lo, hi, size=(3, 4))], rng=rng)
    verify_grad(getattr(T, name), [np.asarray(rng.uniform(lo, hi))], rng=rng)


def test_unary_grad_float32(rng):
    for name in ["exp", "tanh", "sqrt", "log", "nnet_sigmoid", "erf"]:
        _, lo, hi = UNARY_FLOAT[name]
        verify_grad(getattr(T, name), [rng.uniform(lo, hi, size=(4,)).astype("float32")],
                    rng=rng)
    x = T.fvector()
    assert T.grad(T.exp(x).sum(), x).dtype == "float32"


@pytest.mark.parametrize("name", ["neg", "abs_", "sqr", "sgn"])
def test_unary_same_grad(name, rng):
    v = rng.uniform(0.2, 2, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))
    verify_grad(getattr(T, name), [v], rng=rng)


def test_tri_gamma_grad_is_undefined():
    x = T.vector()
    with pytest.raises(theano.gradient.NullTypeGradError, match="tri_gamma"):
        T.grad(T.tri_gamma(x).sum(), x)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "true_div", "pow", "arctan2",
                                  "maximum", "minimum", "mod"])
@pytest.mark.parametrize("pattern", PATTERNS[:4] + PATTERNS[5:7])
def test_binary_grad_broadcasting(name, pattern, rng):
    _, _, xs, ys = pattern
    lo = 0.5 if name in ("pow", "true_div", "mod") else -2
    xv = rng.uniform(lo, 2, size=xs)
    yv = rng.uniform(lo, 2, size=ys) + (0.05 if name in ("maximum", "minimum") else 0)
    if name == "mod":  # stay away from the jumps of x mod y
        xv, yv = rng.uniform(0.1, 0.9, size=xs), rng.uniform(1.1, 2, size=ys)
    verify_grad(getattr(T, name), [xv, yv], rng=rng)


def test_nary_grad(rng):
    vs = [rng.random((3, 1)) + 0.5, rng.random((1, 4)) + 0.5, np.asarray(rng.random() + 0.5),
          rng.random((3, 4)) + 0.5]
    verify_grad(lambda *a: T.mul(*a), vs, rng=rng)
    verify_grad(lambda *a: T.add(*a) ** 2, vs, rng=rng)


def test_broadcast_grad_shapes(rng):
    """Gradients of row + matrix, scalar * matrix, col * matrix reduce to each input."""
    m, r, c, s = T.matrix(), T.row(), T.col(), T.scalar()
    mv, rv, cv, sv = (rng.random((3, 4)), rng.random((1, 4)), rng.random((3, 1)),
                      np.asarray(rng.random()))
    cost = ((m + r) * s * c).sum()
    gm, gr, gc, gs = T.grad(cost, [m, r, c, s])
    assert gr.broadcastable == (True, False) and gc.broadcastable == (False, True)
    assert gs.ndim == 0
    out = theano.function([m, r, c, s], [gm, gr, gc, gs])(mv, rv, cv, sv)
    np.testing.assert_allclose(out[0], np.broadcast_to(sv * cv, (3, 4)))
    np.testing.assert_allclose(out[1], (sv * cv).sum(0, keepdims=True) * np.ones((1, 4)))
    np.testing.assert_allclose(out[2], ((mv + rv) * sv).sum(1, keepdims=True))
    np.testing.assert_allclose(out[3], ((mv + rv) * cv).sum())
    verify_grad(lambda a, b, d, e: (a + b) * d * e, [mv, rv, cv, sv], rng=rng)


def test_maximum_minimum_tie_grad():
    x, y = T.vector(), T.vector()
    f = theano.function([x, y], T.grad(T.maximum(x, y).sum(), [x, y]) +
                        T.grad(T.minimum(x, y).sum(), [x, y]))
    gx, gy, hx, hy = f(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]))
    # a tie gives the whole gradient to the first argument (as Theano)
    assert gx.tolist() == [1, 0, 1] and gy.tolist() == [0, 1, 0]
    assert hx.tolist() == [1, 1, 0] and hy.tolist() == [0, 0, 1]


def test_clip_and_switch_grad(rng):
    v = rng.uniform(-3, 3, size=(4, 5))
    v[np.abs(np.abs(v) - 1) < 0.05] = 0.0
    verify_grad(lambda x: T.clip(x, -1, 1) * x, [v], rng=rng)
    lo, hi = rng.uniform(-2, -1, size=(4, 5)), rng.uniform(1, 2, size=(4, 5))
    verify_grad(T.clip, [v, lo, hi], rng=rng)
    a, b = rng.random((4, 5)), rng.random((1, 5))
    verify_grad(lambda p, q: T.switch(T.gt(p, 0.5), p * 2, q * 3), [a, b], rng=rng)
    x = T.vector()
    g = T.grad(T.switch(x > 0, x ** 2, -x).sum(), x)
    got = theano.function([x], g)(np.array([-1.0, 2.0, -0.5]))
    assert got.tolist() == [-1.0, 4.0, -1.0]


def test_rounding_grad_is_zero(rng):
    x = T.matrix()
    for fn in [T.floor, T.ceil, T.trunc, T.round, T.sgn, lambda a: T.int_div(a, 2.0)]:
        g = theano.function([x], T.grad(fn(x).sum(), x))(rng.random((2, 3)) + 0.3)
        assert g.shape == (2, 3) and not g.any()


def test_cast_grad(rng):
    x = T.dmatrix()
    verify_grad(lambda a: T.cast(a, "float32").astype("float64") * 3, [rng.random((2, 3))],
                rng=rng, eps=1e-2)  # a float32 step inside: a coarse difference
    g = T.grad(T.cast(x, "float32").sum(), x)
    assert g.dtype == "float64"
    g = T.grad(T.cast(x, "int32").sum() + x.sum(), x)  # int path contributes zero
    np.testing.assert_array_equal(theano.function([x], g)(np.ones((2, 2))), np.ones((2, 2)))


def test_softplus_sigmoid_stable():
    x = T.vector()
    v = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    sp, sg = theano.function([x], [T.nnet_softplus(x), T.nnet_sigmoid(x)])(v)
    assert np.all(np.isfinite(sp)) and np.allclose(sp, np.logaddexp(0, v))
    np.testing.assert_allclose(sg, sps.expit(v))
