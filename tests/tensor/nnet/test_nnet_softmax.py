"""Softmax / LogSoftmax ops: values against NumPy over shapes, axes and dtypes,
stability at large logits, gradients (first and second order, Rop), errors."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.nnet import LogSoftmax, Softmax

nnet = T.nnet


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_logsoftmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def sym(dtype, ndim, name="x"):
    return T.TensorType(dtype, (False,) * ndim)(name)


CASES = [((5,), 0), ((5,), -1), ((3, 4), -1), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -1),
         ((2, 3, 4), 1), ((2, 3, 4), 0), ((1, 1), -1)]


@pytest.mark.parametrize("shape,axis", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("which", ["softmax", "logsoftmax"])
def test_matches_numpy(which, dtype, shape, axis, rng):
    fn, ref = (nnet.softmax, np_softmax) if which == "softmax" else (nnet.logsoftmax,
                                                                     np_logsoftmax)
    x = sym(dtype, len(shape))
    v = (rng.standard_normal(shape) * 3).astype(dtype)
    out = fn(x, axis=axis)
    assert out.type == x.type
    got = theano.function([x], out)(v)
    assert got.dtype == dtype and got.shape == shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, ref(v.astype("float64"), axis), rtol=tol, atol=tol)


def test_default_is_theano_1_rowwise_and_vector_becomes_row():
    m, v = T.dmatrix("m"), T.dvector("v")
    assert nnet.softmax(m).owner.op == Softmax(-1)
    out = nnet.softmax(v)
    assert out.ndim == 2 and out.broadcastable == (True, False)
    a = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(theano.function([v], out)(a), np_softmax(a)[None])
    np.testing.assert_allclose(theano.function([v], nnet.logsoftmax(v)[0])(a),
                               np_logsoftmax(a))
    assert nnet.log_softmax is nnet.logsoftmax


def test_large_logits_are_stable():
    x = T.dmatrix("x")
    big = np.array([[1000.0, 0.0], [-1000.0, 1000.0], [5e5, 5e5]])
    sm, lsm = theano.function([x], [nnet.softmax(x), nnet.logsoftmax(x)])(big)
    np.testing.assert_allclose(sm, [[1, 0], [0, 1], [0.5, 0.5]])
    np.testing.assert_allclose(lsm, [[0, -1000], [-2000, 0], [-np.log(2)] * 2])
    w = np.array([[0.3, -1.2], [2.0, 0.1], [1.0, -1.0]])
    for out in (nnet.softmax(x), nnet.logsoftmax(x)):
        g = theano.function([x], T.grad((out * w).sum(), x))(big)
        assert np.all(np.isfinite(g))
    # the log-softmax gradient where softmax underflows to 0 is exact
    g = theano.function([x], T.grad(nnet.logsoftmax(x)[0, 1], x))(big)
    np.testing.assert_allclose(g[0], [-1.0, 1.0])


def test_minus_infinity_masks_entries():
    x = T.dvector("x")
    v = np.array([0.0, -np.inf, 0.0])
    np.testing.assert_allclose(theano.function([x], nnet.softmax(x, axis=0))(v),
                               [0.5, 0.0, 0.5])


@pytest.mark.parametrize("fn", [nnet.softmax, nnet.logsoftmax])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_row_length_and_non_finite_rows_as_on_py(fn, dtype, rng):
    """Rows of 1-9 entries (the compiled sums take 4 at a time) and rows holding
    -inf, inf or nan give the py backend's values."""
    x = T.matrix("x", dtype=dtype)
    f = theano.function([x], fn(x))
    ref = theano.function([x], fn(x), mode="PY")
    tol = 1e-5 if dtype == "float32" else 1e-12  # (log-softmax near 0: absolute)
    for n in range(1, 10):
        v = (rng.standard_normal((3, n)) * 5).astype(dtype)
        np.testing.assert_allclose(f(v), ref(v), rtol=tol, atol=tol)
    v = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0],
                  [-np.inf, 2.0, -np.inf]], dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(f(v), ref(v), rtol=tol, atol=tol)


def test_empty_input():
    x = T.dmatrix("x")
    out = theano.function([x], nnet.softmax(x))(np.zeros((0, 3)))
    assert out.shape == (0, 3)


@pytest.mark.parametrize("fn", [nnet.softmax, nnet.logsoftmax])
@pytest.mark.parametrize("shape,axis", [((3, 4), -1), ((3, 4), 0), ((2, 3, 2), 1), ((4,), 0)])
def test_gradient(fn, shape, axis, rng):
    verify_grad(lambda x: fn(x, axis=axis), [rng.standard_normal(shape)], rng=rng)


@pytest.mark.parametrize("fn", [nnet.softmax, nnet.logsoftmax])
def test_gradient_at_large_magnitude(fn, rng):
    v = rng.standard_normal((3, 4)) * 3 + np.array([[500.0], [-800.0], [0.0]])
    verify_grad(lambda x: fn(x), [v], rng=rng)


def test_gradient_float32(rng):
    v = rng.standard_normal((3, 4)).astype("float32")
    verify_grad(nnet.softmax, [v], rng=rng)
    verify_grad(nnet.logsoftmax, [v], rng=rng)


@pytest.mark.parametrize("fn", [nnet.softmax, nnet.logsoftmax])
def test_second_derivative(fn, rng):
    w = rng.standard_normal((2, 5))

    def first(x):
        return T.grad((fn(x) * w).sum(), x)

    verify_grad(first, [rng.standard_normal((2, 5))], rng=rng)


def test_rop_matches_finite_differences(rng):
    x, v = T.dmatrix("x"), T.dmatrix("v")
    jv = theano.function([x, v], T.Rop(nnet.softmax(x), x, v))
    a, d = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    eps = 1e-6
    fd = (np_softmax(a + eps * d) - np_softmax(a - eps * d)) / (2 * eps)
    np.testing.assert_allclose(jv(a, d), fd, rtol=1e-6, atol=1e-8)


def test_infer_shape():
    x = T.dtensor3("x")
    for op in (Softmax(1), LogSoftmax(-1)):
        node = op(x).owner
        shapes = [tuple(T.shape(x)[i] for i in range(3))]
        assert op.infer_shape(node, shapes) == shapes


def test_ops_compare_by_axis():
    assert Softmax(1) == Softmax(1) and hash(Softmax(1)) == hash(Softmax(1))
    assert Softmax(1) != Softmax(0) and Softmax(1) != LogSoftmax(1)


def test_softmax_with_bias_graph_and_grad(rng):
    x, b, dy = T.dmatrix("x"), T.dvector("b"), T.dmatrix("dy")
    a, bb, g = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    f = theano.function([x, b, dy], [nnet.softmax_with_bias(x, b), nnet.softmax_graph(x),
                                     nnet.softmax_grad(dy, nnet.softmax(x)),
                                     T.grad((nnet.softmax(x) * dy).sum(), x)])
    swb, graph, sgrad, tgrad = f(a, bb, g)
    np.testing.assert_allclose(swb, np_softmax(a + bb))
    np.testing.assert_allclose(graph, np_softmax(a))
    np.testing.assert_allclose(sgrad, tgrad)
    verify_grad(nnet.softmax_with_bias, [a, bb], rng=rng)


@pytest.mark.parametrize("fn", [nnet.softmax, nnet.logsoftmax])
def test_errors(fn):
    with pytest.raises(TypeError, match="x must be a tensor of floats, got dtype int64"):
        fn(T.lmatrix("i"))
    with pytest.raises(TypeError, match="at least 1 dimension"):
        fn(T.dscalar("s"), axis=0)
    with pytest.raises(ValueError, match=r"axis must be an int in \[-2, 2\).*got 2"):
        fn(T.dmatrix("m"), axis=2)
    with pytest.raises(TypeError, match="b must be a vector"):
        nnet.softmax_with_bias(T.dmatrix("m"), T.dmatrix("b"))
    with pytest.raises(TypeError, match="x must be a matrix"):
        nnet.softmax_with_bias(T.dvector("m"), T.dvector("b"))
