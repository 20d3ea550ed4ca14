"""numba implementations of the nnet ops, advanced indexing, arange, cumulative
ops and sorting agree with py (values, dtype, shape), gradients included.

Few graphs, several outputs each: every graph is one JIT compilation."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import assert_same, backend_mode
from theanine.tensor.nnet.crossentropy import CheckTargets

R = np.random.default_rng(11)


def _both(inputs, outputs, args):
    ref = theano.function(inputs, outputs, mode=backend_mode("py"))(*args)
    got = theano.function(inputs, outputs, mode=backend_mode("numba"))(*args)
    assert_same(ref, got)
    return ref, got


def test_softmax_logsoftmax_and_grads(numba_strict):
    x = T.matrix("x")
    t = T.tensor3("t")
    y = T.lvector("y")
    sm, lsm = T.nnet.softmax(x), T.nnet.logsoftmax(x)
    s3 = T.nnet.softmax(t, axis=1)
    cost = T.nnet.categorical_crossentropy(sm, y).mean() + (lsm * x).sum() + (s3 ** 2).sum()
    outs = [sm, lsm, s3, T.nnet.logsoftmax(t, axis=0)] + theano.grad(cost, [x, t])
    xv = R.normal(size=(4, 5))
    xv[0, 0] = 1000.0  # the shift keeps exp finite
    _both([x, t, y], outs, [xv, R.normal(size=(2, 3, 4)), np.array([0, 4, 2, 1])])


def test_check_targets_raises(numba_strict):
    y, n, k = T.lvector("y"), T.lscalar("n"), T.lscalar("k")
    f = theano.function([y, n, k], CheckTargets()(y, n, k) * 2, mode=backend_mode("numba"))
    np.testing.assert_array_equal(f(np.array([0, 2]), 2, 3), [0, 4])
    with pytest.raises(ValueError):
        f(np.array([0, 3]), 2, 3)
    with pytest.raises(ValueError):
        f(np.array([0, 1]), 3, 3)


def test_advanced_indexing_first_axis_and_grads(numba_strict):
    W, v = T.matrix("W"), T.vector("v")
    i, m = T.lvector("i"), T.imatrix("m")
    emb = W[m]  # (2, 3, 4) embedding lookup
    cost = (emb ** 2).sum() + (v[i] * 3).sum()
    outs = [W[i], emb, v[i], W[i, :]] + theano.grad(cost, [W, v]) + [
        T.set_subtensor(W[i], 1.5), T.inc_subtensor(v[i], v[:4])]
    iv = np.array([0, 2, 2, -1])  # repeats accumulate, negatives wrap
    mv = np.array([[1, 0, 2], [2, 2, 4]], dtype="int32")
    _both([W, v, i, m], outs, [R.normal(size=(5, 4)), R.normal(size=6), iv, mv])
    f = theano.function([W, i], W[i], mode=backend_mode("numba"))
    with pytest.raises(IndexError):
        f(np.ones((5, 4)), np.array([5]))


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_advanced_indexing_after_whole_axes_and_grads(numba_strict):
    # x[:, i], x[:, :, i, j], x[i, :, j]: the indexed axes move to the front (and back)
    W, X = T.matrix("W"), T.tensor4("X")
    i, j, m = T.lvector("i"), T.lvector("j"), T.imatrix("m")
    cost = (W[:, m] ** 2).sum() + (X[:, :, i, j] * 2).sum()
    cost += (X[i, :, j] ** 2).sum()  # arrays apart: NumPy puts their block first
    outs = [W[:, i], W[:, m], X[:, i], X[:, :, i, j], X[:, :, i], X[i, :, j], X[i, :, :, j]]
    outs += theano.grad(cost, [W, X]) + [T.set_subtensor(W[:, i], -1.0),
                                         T.inc_subtensor(X[:, :, i, j], W[:, :4]),
                                         T.inc_subtensor(X[i, :, j], 1.0)]
    iv, jv = np.array([0, 2, 2, -1]), np.array([1, 0, 1, 2])
    mv = np.array([[1, 0, 2], [2, 3, 0]], dtype="int32")
    _both([W, X, i, j, m], outs,
          [R.normal(size=(3, 5)), R.normal(size=(3, 3, 4, 3)), iv, jv, mv])
    f = theano.function([W, i], W[:, i], mode=backend_mode("numba"))
    assert f.fn.kernels
    with pytest.raises(IndexError):
        f(np.ones((3, 5)), np.array([5]))


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_arange_cumulative_sort(numba_strict):
    a, b = T.lscalar("a"), T.lscalar("b")
    s = T.scalar("s")
    x = T.matrix("x")
    i = T.imatrix("i")
    outs = [T.arange(a, b), T.arange(b, a, -2), T.arange(0.0, s, 0.25),
            T.cumsum(x, axis=0), T.cumsum(x, axis=1), T.cumprod(x, axis=1), T.cumsum(i),
            T.sort(x, axis=0), T.sort(x, axis=1), T.argsort(x, axis=0), T.argsort(x),
            T.searchsorted(T.sort(x[0]), x), T.searchsorted(T.sort(x[1]), s, side="right"),
            theano.grad((T.cumsum(x, axis=1) * x).sum() + (T.cumprod(x, 0) ** 2).sum()
                        + (T.sort(x, axis=1) * T.arange(4)).sum(), x)]
    xv = R.normal(size=(3, 4))
    iv = R.integers(-5, 5, size=(3, 4)).astype("int32")
    _both([a, b, s, x, i], outs, [np.int64(2), np.int64(9), np.float64(2.1), xv, iv])


def test_repeat_roll_one_hot_and_grads(numba_strict):
    x, v = T.matrix("x"), T.vector("v")
    r, k = T.lvector("r"), T.lscalar("k")
    outs = [T.repeat(x, r, axis=1), T.repeat(x, k), T.repeat(v, r, axis=0),
            T.roll(x, k, axis=1), T.roll(v, -k - 5, axis=0),
            T.extra_ops.to_one_hot(r, 3), T.extra_ops.bartlett(k + 3),
            T.extra_ops.bincount(r, minlength=5), T.extra_ops.bincount(r, weights=v),
            theano.grad((T.repeat(x, r, axis=1) ** 2).sum() + (T.repeat(x, k) * 3).sum()
                        + (T.roll(x, k, axis=0) * x[0]).sum(), x)]
    _both([x, v, r, k], outs, [R.normal(size=(2, 3)), R.normal(size=3), np.array([2, 0, 1]),
                               np.int64(2)])
