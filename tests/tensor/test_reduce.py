"""Reductions against NumPy: axis None / int / negative / tuple, keepdims, output
dtypes, errors, and gradients (ties of max/min, zeros of prod, mean/var/std)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad

AXES = [None, 0, 1, 2, -1, -3, (0, 2), (2, 0), (0, 1, 2), (), [1, 2]]
NP = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "all": np.all,
      "any": np.any, "mean": np.mean, "var": np.var, "std": np.std}


def ax(a):
    return tuple(a) if isinstance(a, list) else a


@pytest.mark.parametrize("name", sorted(NP))
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_values(name, axis, keepdims, rng):
    v = rng.uniform(-2, 2, size=(2, 3, 4))
    x = T.tensor3()
    out = getattr(T, name)(x, axis=axis, keepdims=keepdims)
    got = theano.function([x], out)(v)
    want = NP[name](v, axis=ax(axis), keepdims=keepdims)
    assert got.shape == np.shape(want)
    assert out.ndim == np.ndim(want)
    if keepdims:
        assert all(out.broadcastable[a % 3] for a in (range(3) if axis is None else
                                                       np.atleast_1d(ax(axis))))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std"])
def test_method_forms(name, rng):
    v = rng.uniform(0.5, 2, size=(3, 4))
    x = T.matrix()
    got = theano.function([x], getattr(x, name)(axis=0, keepdims=True))(v)
    np.testing.assert_allclose(got, NP[name](v, axis=0, keepdims=True))


@pytest.mark.parametrize("dtype, sum_dt, mean_dt", [
    ("int8", "int64", "float64"), ("int32", "int64", "float64"),
    ("uint8", "uint64", "float64"), ("bool", "int64", "float64"),
    ("float32", "float32", "float32"), ("float64", "float64", "float64"),
])
def test_reduction_dtypes(dtype, sum_dt, mean_dt, rng):
    v = (rng.uniform(0, 100, size=(3, 4)) > 50) if dtype == "bool" else \
        rng.uniform(0, 100, size=(3, 4)).astype(dtype)
    x = T.matrix(dtype=dtype)
    outs = [T.sum(x), T.prod(x, axis=0), T.mean(x, axis=1), T.max(x), T.min(x, axis=0),
            T.all(x), T.any(x, axis=1), T.var(x), T.std(x, axis=0)]
    want_dt = [sum_dt, sum_dt, mean_dt, dtype, dtype, "bool", "bool", mean_dt, mean_dt]
    assert [o.dtype for o in outs] == want_dt
    got = theano.function([x], outs)(v)
    vf = v.astype("float64")
    refs = [v.sum(), v.prod(axis=0), vf.mean(axis=1), v.max(), v.min(axis=0), v.all(),
            v.any(axis=1), vf.var(), vf.std(axis=0)]
    for g, r, dt in zip(got, refs, want_dt):
        assert g.dtype == dt
        np.testing.assert_allclose(g.astype("float64"), np.asarray(r, dtype="float64"),
                                   rtol=1e-5 if "float32" in (dtype, dt) else 1e-12)


def test_sum_int8_does_not_overflow():
    x = T.bvector()
    v = np.full(100, 100, dtype="int8")
    assert theano.function([x], T.sum(x))(v) == 10000


def test_explicit_dtype(rng):
    x = T.bmatrix()
    v = rng.integers(-5, 5, size=(3, 4)).astype("int8")
    for fn, ref in [(T.sum, np.sum), (T.prod, np.prod)]:
        out = fn(x, axis=0, dtype="int16")
        assert out.dtype == "int16"
        np.testing.assert_array_equal(theano.function([x], out)(v), ref(v, axis=0,
                                                                         dtype="int16"))
    out = T.mean(x, dtype="float32")
    assert out.dtype == "float32"
    np.testing.assert_allclose(theano.function([x], out)(v), v.mean(), rtol=1e-6)
    out = T.sum(T.fmatrix(), dtype="float64")
    assert out.dtype == "float64"


def test_axis_errors():
    x = T.matrix()
    for fn in [T.sum, T.max, T.mean, T.argmax, T.var, T.all]:
        with pytest.raises(ValueError, match=r"expected an axis in \[-2, 2\).*got 2"):
            fn(x, axis=2)
        with pytest.raises(ValueError, match="got -3"):
            fn(x, axis=-3)
    with pytest.raises(ValueError, match="repeated"):
        T.sum(x, axis=(0, -2))
    with pytest.raises(TypeError, match="expected None, an int or a tuple of ints, got 1.5"):
        T.sum(x, axis=1.5)
    with pytest.raises(TypeError, match="expected ints, got 'a'"):
        T.max(x, axis=(0, "a"))


def test_empty_reductions():
    x = T.matrix()
    f = theano.function([x], [T.sum(x, axis=0), T.prod(x, axis=0), T.any(x), T.all(x)])
    s, p, a, al = f(np.zeros((0, 3)))
    assert s.tolist() == [0, 0, 0] and p.tolist() == [1, 1, 1] and not a and al
    with pytest.raises(ValueError, match="empty"):
        theano.function([x], T.max(x, axis=0))(np.zeros((0, 3)))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (1, 2), (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin(axis, keepdims, rng):
    v = rng.permutation(24).reshape(2, 3, 4).astype("float64")
    x = T.tensor3()
    outs = [T.argmax(x, axis=axis, keepdims=keepdims), T.argmin(x, axis=axis,
                                                                 keepdims=keepdims)]
    got = theano.function([x], outs)(v)
    for g, o, npfn in zip(got, outs, [np.argmax, np.argmin]):
        assert o.dtype == "int64" and g.dtype == "int64"
        if axis is None or isinstance(axis, int):
            want = npfn(v, axis=axis, keepdims=keepdims)
        else:  # several axes: the index into them flattened, in order
            kept = [i for i in range(3) if i not in axis]
            moved = np.transpose(v, kept + list(axis)).reshape([v.shape[i] for i in kept]
                                                                + [-1])
            want = npfn(moved, axis=-1)
            if keepdims:
                want = np.expand_dims(want, axis)
        np.testing.assert_array_equal(g, want)


def test_max_and_argmax(rng):
    v = rng.random((3, 5))
    x = T.matrix()
    m, a = T.max_and_argmax(x, axis=1)
    gm, ga = theano.function([x], [m, a])(v)
    np.testing.assert_array_equal(gm, v.max(axis=1))
    np.testing.assert_array_equal(ga, v.argmax(axis=1))
    m, a = T.max_and_argmax(x)
    assert theano.function([x], a)(v) == v.argmax()


def test_ptp_and_norm(rng):
    v = rng.uniform(-3, 3, size=(4, 5))
    x = T.matrix()
    outs = [T.ptp(x), T.ptp(x, axis=0), x.ptp(1), T.norm(x, 2), T.norm(x, 1, axis=0),
            T.norm(x, np.inf, axis=1), T.norm(x, 3, axis=1), x.norm(2, axis=1),
            T.norm(x, 2, axis=0, keepdims=True)]
    refs = [np.ptp(v), np.ptp(v, axis=0), np.ptp(v, axis=1), np.sqrt((v ** 2).sum()),
            np.abs(v).sum(axis=0), np.abs(v).max(axis=1),
            (np.abs(v) ** 3).sum(axis=1) ** (1 / 3), np.linalg.norm(v, axis=1),
            np.linalg.norm(v, axis=0, keepdims=True)]
    for g, r in zip(theano.function([x], outs)(v), refs):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    for bad in [0, -1, "fro"]:
        with pytest.raises(ValueError, match=f"ord must be a positive number.*{bad!r}"):
            T.norm(x, bad)


def test_var_std_options(rng):
    v = rng.uniform(-3, 3, size=(4, 5)) + 1e4
    x = T.matrix()
    outs = [T.var(x, ddof=1), T.var(x, axis=0, ddof=1), T.std(x, axis=1, ddof=2),
            T.var(x, axis=0, corrected=True), T.std(x, corrected=True, ddof=1),
            T.var(x, axis=1, keepdims=True)]
    refs = [np.var(v, ddof=1), np.var(v, axis=0, ddof=1), np.std(v, axis=1, ddof=2),
            np.var(v, axis=0), np.std(v, ddof=1), np.var(v, axis=1, keepdims=True)]
    for g, r in zip(theano.function([x], outs)(v), refs):
        np.testing.assert_allclose(g, r, rtol=1e-9)


def test_mean_of_float32_stays_float32(rng):
    x = T.fmatrix()
    v = rng.random((3, 4)).astype("float32")
    for fn in [T.mean, T.var, T.std]:
        out = fn(x, axis=0)
        assert out.dtype == "float32"
        assert theano.function([x], out)(v).dtype == "float32"


# -- gradients -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "var", "std", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_grad(name, axis, keepdims, rng):
    v = rng.uniform(0.5, 2, size=(2, 3, 4)) * rng.choice([-1, 1], size=(2, 3, 4))
    verify_grad(lambda a: getattr(T, name)(a, axis=axis, keepdims=keepdims), [v], rng=rng)


def test_norm_and_ptp_grad(rng):
    v = rng.uniform(0.5, 2, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))
    verify_grad(lambda a: T.norm(a, 2, axis=1), [v], rng=rng)
    verify_grad(lambda a: T.norm(a, 1), [v], rng=rng)
    verify_grad(lambda a: T.norm(a, 3, axis=0), [v], rng=rng)
    verify_grad(lambda a: T.ptp(a, axis=0), [v], rng=rng)


def test_max_min_grad_goes_to_every_tie():
    x = T.matrix()
    v = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    gmax, gmax0, gmin = theano.function([x], [T.grad(T.max(x), x),
                                              T.grad(T.max(x, axis=1).sum(), x),
                                              T.grad(T.min(x, axis=0).sum(), x)])(v)
    np.testing.assert_array_equal(gmax, [[0, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(gmax0, [[0, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(gmin, [[1, 0, 0], [0, 1, 1]])


def test_prod_grad_with_zeros(rng):
    x = T.matrix()
    g = theano.function([x], T.grad(T.prod(x, axis=1).sum(), x))
    v = np.array([[2.0, 0.0, 3.0, 4.0],    # one zero: only it gets a gradient
                  [0.0, 5.0, 0.0, 1.0],    # two zeros: all zero
                  [1.0, 2.0, 3.0, 4.0]])   # none: prod / x
    np.testing.assert_allclose(g(v), [[0, 24, 0, 0], [0, 0, 0, 0], [24, 12, 8, 6]])
    gall = theano.function([x], T.grad(T.prod(x), x))
    one_zero = np.array([[2.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(gall(one_zero), [[0, 24], [0, 0]])
    v = rng.uniform(0.5, 2, size=(3, 4))
    v[0, 1] = 0.0
    verify_grad(lambda a: T.prod(a, axis=1), [v], rng=rng)
    v[1, 2] = v[1, 3] = 0.0
    verify_grad(lambda a: T.prod(a, axis=1), [v], rng=rng)


def test_integer_and_boolean_reductions_have_no_gradient_path(rng):
    x = T.matrix()
    v = rng.random((2, 3))
    # all/any/argmax are integer-valued: connected, zero gradient
    for fn in [lambda a: T.any(a > 0.5).astype("float64"),
               lambda a: T.argmax(a, axis=0).sum().astype("float64")]:
        cost = fn(x) + 0 * x.sum()
        g = theano.function([x], T.grad(cost, x))(v)
        assert not g.any()
    assert T.grad(T.sum(x, dtype="int64") + x.sum(), x).dtype == "float64"


def test_mean_var_grad_float32(rng):
    v = rng.uniform(0.5, 2, size=(3, 4)).astype("float32")
    verify_grad(lambda a: T.mean(a, axis=0), [v], rng=rng)
    verify_grad(lambda a: T.var(a, axis=1), [v], rng=rng)
    x = T.fmatrix()
    assert T.grad(T.std(x), x).dtype == "float32"


def inferred_shape(out, inputs, values):
    node = out.owner
    shapes = [tuple(i.shape[k] for k in range(i.ndim)) for i in node.inputs]
    sym = node.op.infer_shape(node, shapes)[out.index]
    if not sym:
        return ()
    return tuple(int(n) for n in theano.function(inputs, list(sym),
                                                 on_unused_input="ignore")(*values))


def test_infer_shape(rng):
    x = T.tensor3()
    v = rng.random((2, 3, 4))
    for out in [T.sum(x, axis=1), T.max(x, axis=(0, 2)), T.prod(x), T.argmax(x, axis=-1),
                T.argmin(x), T.all(x, axis=0), x.dimshuffle(2, "x", 0, 1)]:
        want = theano.function([x], out)(v).shape
        assert inferred_shape(out, [x], [v]) == want


def test_var_options_grad(rng):
    v = rng.uniform(-2, 2, size=(3, 4))
    verify_grad(lambda a: T.var(a, axis=0, corrected=True), [v], rng=rng)
    verify_grad(lambda a: T.std(a, axis=1, ddof=1), [v], rng=rng)
