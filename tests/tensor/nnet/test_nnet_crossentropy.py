"""Cross-entropies: categorical (probability and integer targets), binary, the fused
softmax / sigmoid paths at large logits, Theano's 1-hot family, and target errors."""

import numpy as np
import pytest
import scipy.special as sps

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad

nnet = T.nnet


def np_logsoftmax(x):
    return x - sps.logsumexp(x, axis=-1, keepdims=True)


def probs(rng, shape, dtype="float64"):
    p = rng.random(shape) + 0.1
    return (p / p.sum(axis=-1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_with_probability_targets(dtype, rng):
    p, t = T.TensorType(dtype, (False, False))("p"), T.TensorType(dtype, (False, False))("t")
    pv, tv = probs(rng, (4, 3), dtype), probs(rng, (4, 3), dtype)
    out = nnet.categorical_crossentropy(p, t)
    assert out.dtype == dtype and out.ndim == 1
    got = theano.function([p, t], out)(pv, tv)
    np.testing.assert_allclose(got, -(tv * np.log(pv)).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("ydtype", ["int8", "uint8", "int32", "int64"])
def test_categorical_with_integer_targets(ydtype, rng):
    p, y = T.dmatrix("p"), T.TensorType(ydtype, (False,))("y")
    pv, yv = probs(rng, (5, 4)), np.array([0, 3, 1, 1, 2], dtype=ydtype)
    got = theano.function([p, y], nnet.categorical_crossentropy(p, y))(pv, yv)
    np.testing.assert_allclose(got, -np.log(pv[np.arange(5), yv]))
    one_hot = np.eye(4)[yv]
    same = theano.function([p], nnet.categorical_crossentropy(p, one_hot))(pv)
    np.testing.assert_allclose(got, same)


def test_categorical_3d_coding_with_2d_targets(rng):
    p, y = T.dtensor3("p"), T.lmatrix("y")
    pv, yv = probs(rng, (2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    got = theano.function([p, y], nnet.categorical_crossentropy(p, y))(pv, yv)
    ref = -np.log(np.take_along_axis(pv, yv[..., None], axis=-1))[..., 0]
    np.testing.assert_allclose(got, ref)
    verify_grad(lambda p: nnet.categorical_crossentropy(p, yv), [pv], rng=rng)


def test_categorical_gradients(rng):
    pv, tv, yv = probs(rng, (3, 4)), probs(rng, (3, 4)), np.array([2, 0, 3])
    verify_grad(nnet.categorical_crossentropy, [pv, tv], rng=rng)
    verify_grad(lambda p: nnet.categorical_crossentropy(p, yv), [pv], rng=rng)
    verify_grad(lambda p: nnet.crossentropy_categorical_1hot(p, yv), [pv], rng=rng)


@pytest.mark.parametrize("scale", [1.0, 1000.0, 1e5])
@pytest.mark.parametrize("targets", ["int", "onehot"])
def test_categorical_of_softmax_is_finite_for_large_logits(scale, targets, rng):
    x, y = T.dmatrix("x"), T.lvector("y")
    xv = rng.standard_normal((4, 5)) * scale
    yv = np.array([0, 4, 2, 2])
    t = y if targets == "int" else T.cast(T.eq(y.dimshuffle(0, "x"), T.arange(5)), "float64")
    cost = nnet.categorical_crossentropy(nnet.softmax(x), t)
    val, g = theano.function([x, y], [cost, T.grad(cost.sum(), x)])(xv, yv)
    lsm = np_logsoftmax(xv)
    np.testing.assert_allclose(val, -lsm[np.arange(4), yv], rtol=1e-10)
    np.testing.assert_allclose(g, np.exp(lsm) - np.eye(5)[yv], atol=1e-12)


def test_categorical_of_softmax_gradient_large_logits(rng):
    yv = np.array([1, 0, 2])
    xv = rng.standard_normal((3, 3)) + np.array([[600.0], [-900.0], [0.0]])
    verify_grad(lambda x: nnet.categorical_crossentropy(nnet.softmax(x), yv), [xv], rng=rng)


def test_categorical_of_vector_softmax_theano_style():
    # Theano 1.0 RNN code: softmax(vector) is a row; crossentropy takes the row
    x = T.dvector("x")
    cost = nnet.categorical_crossentropy(nnet.softmax(x), np.array([0]))[0]
    val, g = theano.function([x], [cost, T.grad(cost, x)])(np.array([0.0, 0.0, 2000.0]))
    assert val == pytest.approx(2000.0)
    np.testing.assert_allclose(g, [-1.0, 0.0, 1.0])


def test_integer_target_errors_at_build_time():
    p = T.dmatrix("p")
    with pytest.raises(TypeError, match="integer class indices expected.*got dtype float64"):
        nnet.crossentropy_categorical_1hot(p, T.dvector("y"))
    with pytest.raises(TypeError, match="rank mismatch.*got 0"):
        nnet.categorical_crossentropy(p, T.lscalar("y"))
    with pytest.raises(TypeError, match="coding_dist must be a tensor of floats"):
        nnet.categorical_crossentropy(T.lmatrix("p"), T.lvector("y"))
    with pytest.raises(TypeError, match="at least 2 dimensions"):
        nnet.crossentropy_categorical_1hot(T.dvector("p"), T.lscalar("y"))


@pytest.mark.parametrize("yv,msg", [
    (np.array([0, 1]), r"one target per row .*\(3 rows\), got 2"),
    (np.array([0, 1, 2, 3]), r"\(3 rows\), got 4"),
    (np.array([0, 3, 1]), r"in \[0, 3\), got 3"),
    (np.array([0, -1, 1]), r"in \[0, 3\), got -1"),
])
@pytest.mark.parametrize("softmax_first", [False, True])
def test_integer_target_errors_at_run_time(yv, msg, softmax_first):
    p, y = T.dmatrix("p"), T.lvector("y")
    coding = nnet.softmax(p) if softmax_first else p
    f = theano.function([p, y], nnet.categorical_crossentropy(coding, y))
    with pytest.raises(ValueError, match=msg):
        f(np.full((3, 3), 1 / 3), yv)


def np_bce(p, t):
    return -(t * np.log(p) + (1 - t) * np.log1p(-p))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_crossentropy(dtype, rng):
    p, t = T.TensorType(dtype, (False,))("p"), T.TensorType(dtype, (False,))("t")
    pv = (rng.random(6) * 0.9 + 0.05).astype(dtype)
    tv = rng.random(6).astype(dtype)
    out = nnet.binary_crossentropy(p, t)
    assert out.dtype == dtype
    got = theano.function([p, t], out)(pv, tv)
    np.testing.assert_allclose(got, np_bce(pv.astype("float64"), tv), rtol=1e-5)
    verify_grad(nnet.binary_crossentropy, [pv.astype("float64"), tv.astype("float64")],
                rng=rng)


def test_binary_crossentropy_of_sigmoid_is_stable():
    x, t = T.dvector("x"), T.dvector("t")
    xv = np.array([-800.0, -40.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    tv = np.array([1.0, 1.0, 0.3, 0.5, 0.0, 0.0, 0.0])
    for cost in (nnet.binary_crossentropy(nnet.sigmoid(x), t),
                 nnet.sigmoid_binary_crossentropy(x, t)):
        val, gx, gt = theano.function([x, t], [cost, *T.grad(cost.sum(), [x, t])])(xv, tv)
        ref = tv * np.logaddexp(0, -xv) + (1 - tv) * np.logaddexp(0, xv)
        np.testing.assert_allclose(val, ref, rtol=1e-12)
        np.testing.assert_allclose(gx, sps.expit(xv) - tv, atol=1e-15)
        np.testing.assert_allclose(gt, -xv)


def test_sigmoid_binary_crossentropy_gradient(rng):
    xv, tv = rng.standard_normal(5) * 3, rng.random(5)
    verify_grad(nnet.sigmoid_binary_crossentropy, [xv, tv], rng=rng)
    verify_grad(nnet.sigmoid_binary_crossentropy, [xv + 300.0, tv], rng=rng)


def test_crossentropy_softmax_1hot_family(rng):
    x, b, y = T.dmatrix("x"), T.dvector("b"), T.ivector("y")
    xv, bv = rng.standard_normal((4, 3)) * 2, rng.standard_normal(3)
    yv = np.array([2, 0, 1, 1], dtype="int32")
    z = xv + bv
    sm = np.exp(np_logsoftmax(z))
    nll = -np_logsoftmax(z)[np.arange(4), yv]
    outs = nnet.crossentropy_softmax_argmax_1hot_with_bias(x, b, y)
    assert outs[2].dtype == "int32"
    nll1, sm1, am1 = theano.function([x, b, y], outs)(xv, bv, yv)
    np.testing.assert_allclose(nll1, nll)
    np.testing.assert_allclose(sm1, sm)
    np.testing.assert_array_equal(am1, z.argmax(axis=1))
    nll2, sm2 = theano.function([x, b, y], nnet.crossentropy_softmax_1hot_with_bias(x, b, y))(
        xv, bv, yv)
    np.testing.assert_allclose(nll2, nll)
    nll3, sm3 = theano.function([x, y], nnet.crossentropy_softmax_1hot(x, y))(z, yv)
    np.testing.assert_allclose(nll3, nll)
    np.testing.assert_allclose(sm3, sm)
    res = theano.function([x, b, y], nnet.crossentropy_softmax_max_and_argmax_1hot_with_bias(
        x, b, y))(xv, bv, yv)
    np.testing.assert_allclose(res[2], sm.max(axis=1))
    np.testing.assert_array_equal(res[3], sm.argmax(axis=1))
    res = theano.function([x, y], nnet.crossentropy_softmax_max_and_argmax_1hot(x, y))(z, yv)
    np.testing.assert_allclose(res[0], nll)
    verify_grad(lambda x, b: nnet.crossentropy_softmax_1hot_with_bias(x, b, yv)[0],
                [xv, bv], rng=rng)


def test_crossentropy_softmax_1hot_large_logits():
    x, y = T.dmatrix("x"), T.lvector("y")
    nll, sm = nnet.crossentropy_softmax_1hot(x, y)
    f = theano.function([x, y], [nll, T.grad(nll.sum(), x)])
    val, g = f(np.array([[1000.0, -1000.0, 0.0]]), np.array([1]))
    np.testing.assert_allclose(val, [2000.0])
    np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]])


def test_explicit_gradient_helpers_match_grad(rng):
    x, y, dy = T.dmatrix("x"), T.lvector("y"), T.dvector("dy")
    xv, yv, dyv = rng.standard_normal((3, 4)), np.array([3, 0, 0]), rng.standard_normal(3)
    nll, sm = nnet.crossentropy_softmax_1hot(x, y)
    p = nnet.softmax_graph(x)  # not fused: the plain -log p[i, y_i] path
    nll_p = nnet.crossentropy_categorical_1hot(p, y)
    f = theano.function([x, y, dy], [
        nnet.crossentropy_softmax_1hot_with_bias_dx(dy, sm, y), T.grad((nll * dy).sum(), x),
        nnet.crossentropy_categorical_1hot_grad(dy, p, y), T.grad((nll_p * dy).sum(), p)])
    a, b, c, d = f(xv, yv, dyv)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(c, d)


def test_family_errors():
    with pytest.raises(TypeError, match="x must be a matrix"):
        nnet.crossentropy_softmax_1hot(T.dvector("x"), T.lvector("y"))
    with pytest.raises(TypeError, match="b must be a vector"):
        nnet.crossentropy_softmax_1hot_with_bias(T.dmatrix("x"), T.dmatrix("b"), T.lvector("y"))
    with pytest.raises(TypeError, match="integer class indices"):
        nnet.crossentropy_softmax_1hot(T.dmatrix("x"), T.dvector("y"))
