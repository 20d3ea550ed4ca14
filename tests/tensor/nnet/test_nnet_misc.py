"""T.nnet namespace, hierarchical softmax, confusion_matrix and prepend helpers."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad

nnet = T.nnet


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def h_softmax_ref(x, n_outputs, W1, b1, W2, b2):
    """Every output's probability, one example and one output at a time."""
    per_class = W2.shape[2]
    out = np.zeros((x.shape[0], n_outputs))
    for i, row in enumerate(x):
        cls = np_softmax(row @ W1 + b1)
        for o in range(n_outputs):
            c, k = divmod(o, per_class)
            out[i, o] = cls[c] * np_softmax(row @ W2[c] + b2[c])[k]
    return out


def h_params(rng, n_in=4, n_classes=3, per_class=3):
    return (rng.standard_normal((n_in, n_classes)), rng.standard_normal(n_classes),
            rng.standard_normal((n_classes, n_in, per_class)),
            rng.standard_normal((n_classes, per_class)))


@pytest.mark.parametrize("n_outputs", [9, 7])
def test_h_softmax_full_and_target_paths(n_outputs, rng):
    W1v, b1v, W2v, b2v = h_params(rng)
    xv = rng.standard_normal((5, 4))
    tv = np.array([0, 6, 3, n_outputs - 1, 2], dtype="int32")
    x, t = T.dmatrix("x"), T.ivector("t")
    W1, b1, W2, b2 = T.dmatrix("W1"), T.dvector("b1"), T.dtensor3("W2"), T.dmatrix("b2")
    full = nnet.h_softmax(x, x.shape[0], n_outputs, 3, 3, W1, b1, W2, b2)
    picked = nnet.h_softmax(x, x.shape[0], n_outputs, 3, 3, W1, b1, W2, b2, target=t)
    assert full.ndim == 2 and picked.ndim == 1
    f = theano.function([x, t, W1, b1, W2, b2], [full, picked])
    got_full, got_picked = f(xv, tv, W1v, b1v, W2v, b2v)
    ref = h_softmax_ref(xv, n_outputs, W1v, b1v, W2v, b2v)
    np.testing.assert_allclose(got_full, ref, rtol=1e-12)
    np.testing.assert_allclose(got_picked, ref[np.arange(5), tv], rtol=1e-12)
    if n_outputs == 9:
        np.testing.assert_allclose(got_full.sum(axis=1), 1.0)


def test_h_softmax_gradient(rng):
    W1v, b1v, W2v, b2v = h_params(rng, n_in=3, n_classes=2, per_class=2)
    xv, tv = rng.standard_normal((3, 3)), np.array([3, 0, 1])

    def cost(x, W1, b1, W2, b2):
        return -T.log(nnet.h_softmax(x, 3, 4, 2, 2, W1, b1, W2, b2, target=tv))

    verify_grad(cost, [xv, W1v, b1v, W2v, b2v], rng=rng)
    verify_grad(lambda x, W2: nnet.h_softmax(x, 3, 3, 2, 2, W1v, b1v, W2, b2v),
                [xv, W2v], rng=rng)


def test_h_softmax_errors():
    x, m, v, t3 = T.dmatrix("x"), T.dmatrix("m"), T.dvector("v"), T.dtensor3("t3")
    with pytest.raises(TypeError, match="W2 must have 3 dimensions, got 2"):
        nnet.h_softmax(x, 2, 4, 2, 2, m, v, m, m)
    with pytest.raises(TypeError, match="target must hold integer output indices"):
        nnet.h_softmax(x, 2, 4, 2, 2, m, v, t3, m, target=v)


def test_confusion_matrix():
    a, p = T.lvector("a"), T.lvector("p")
    av, pv = np.array([3, 1, 1, 7, 3, 3]), np.array([3, 1, 7, 7, 1, 3])
    conf, order = theano.function([a, p], nnet.confusion_matrix(a, p))(av, pv)
    np.testing.assert_array_equal(order, [1, 3, 7])
    ref = np.zeros((3, 3), dtype="int64")
    index = {v: i for i, v in enumerate(order)}
    for x, y in zip(av, pv):
        ref[index[x], index[y]] += 1
    np.testing.assert_array_equal(conf, ref)
    assert conf.dtype == np.int64
    with pytest.raises(TypeError, match="actual must have 1 dimensions, got 2"):
        nnet.confusion_matrix(T.lmatrix("a"), p)


def test_prepend_helpers():
    x = T.fmatrix("x")
    v = np.arange(6, dtype="float32").reshape(2, 3)
    f = theano.function([x], [nnet.prepend_0_to_each_row(x), nnet.prepend_1_to_each_row(x),
                              nnet.prepend_scalar_to_each_row(2.5, x)])
    zero, one, other = f(v)
    for got, val in ((zero, 0), (one, 1), (other, 2.5)):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.hstack([np.full((2, 1), val), v]))


def test_theano_namespace():
    names = ["sigmoid", "hard_sigmoid", "ultra_fast_sigmoid", "softplus", "softsign", "relu",
             "elu", "selu", "softmax", "logsoftmax", "categorical_crossentropy",
             "binary_crossentropy", "sigmoid_binary_crossentropy", "crossentropy_softmax_1hot",
             "crossentropy_softmax_argmax_1hot_with_bias", "crossentropy_categorical_1hot",
             "softmax_with_bias", "h_softmax", "confusion_matrix", "softmax_op",
             "logsoftmax_op", "Softmax", "LogSoftmax"]
    for name in names:
        assert callable(getattr(nnet, name)), name
    assert nnet.nnet.softmax is nnet.softmax
    assert nnet.nnet.categorical_crossentropy is nnet.categorical_crossentropy
    assert nnet.nnet.relu is nnet.relu
    assert nnet.sigm.ultra_fast_sigmoid is nnet.ultra_fast_sigmoid
    with pytest.raises(AttributeError, match="no attribute 'no_such_function'"):
        nnet.no_such_function  # noqa: B018
