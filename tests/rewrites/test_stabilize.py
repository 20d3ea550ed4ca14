"""stabilize: each rule alone, and the stable forms stay finite where the naive ones
overflow."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.rewrites import stabilize as S
from theanine.tensor.nnet.softmax_ops import LogSoftmax, Softmax
from theanine.tensor.reduce import CAReduce, expand

from .helpers import check_rewrite, check_unchanged, rewritten

ONE = T.constant(np.float64(1.0))


def test_log1p():
    x, y = T.matrix("x"), T.matrix("y")
    check_rewrite(S.log1p, T.log(1 + x), T.log1p(x), [x])
    check_rewrite(S.log1p, T.log(x + 1), T.log1p(x), [x])
    check_rewrite(S.log1p, T.log(T.add(x, ONE, y)), T.log1p(T.add(x, y)), [x, y])
    check_rewrite(S.log1p, T.log(1 - x), T.log1p(-x), [x], values=[np.full((3, 3), 0.5)])
    check_unchanged(S.log1p, T.log(2 + x), [x])


def test_log1p_of_integers_is_kept():
    i = T.ivector("i")
    check_unchanged(S.log1p, T.log(1 + i), [i])


def test_expm1():
    x = T.matrix("x")
    check_rewrite(S.expm1, T.exp(x) - 1, T.expm1(x), [x])
    check_unchanged(S.expm1, T.exp(x) - 2, [x])
    check_unchanged(S.expm1, 1 - T.exp(x), [x])


def test_softplus():
    x = T.matrix("x")
    check_rewrite(S.softplus, T.log1p(T.exp(x)), T.nnet.softplus(x), [x])
    check_rewrite(S.softplus, T.log1p(-T.nnet.sigmoid(x)), -T.nnet.softplus(x), [x])


def test_log_sigmoid():
    x = T.matrix("x")
    check_rewrite(S.log_sigmoid, T.log(T.nnet.sigmoid(x)), -T.nnet.softplus(-x), [x])
    check_rewrite(S.log_sigmoid, T.log(1 - T.nnet.sigmoid(x)), -T.nnet.softplus(x), [x])


def test_log_softmax():
    x = T.matrix("x")
    check_rewrite(S.log_softmax, T.log(T.nnet.softmax(x)), LogSoftmax(-1)(x), [x])
    check_rewrite(S.log_softmax, T.log(Softmax(0)(x)), LogSoftmax(0)(x), [x])


def _stable_lse(x, axes):
    m = CAReduce("max", axes)(x)
    m = T.switch(T.isinf(m), T.zeros_like(m), m)
    return T.log(CAReduce("sum", axes)(T.exp(x - expand(m, axes, x.ndim)))) + m


def test_logsumexp():
    x = T.matrix("x")
    check_rewrite(S.logsumexp, T.log(T.sum(T.exp(x), axis=1)), _stable_lse(x, (1,)), [x])
    expected = _stable_lse(x, (0,)).dimshuffle("x", 0)
    check_rewrite(S.logsumexp, T.log(T.sum(T.exp(x), axis=0, keepdims=True)), expected, [x])
    check_unchanged(S.logsumexp, T.log(T.sum(T.exp(x) * 2, axis=1)), [x])


def test_logsumexp_does_not_rewrite_itself():
    x = T.matrix("x")
    once = rewritten(T.log(T.sum(T.exp(x))), S.logsumexp, [x])
    check_unchanged(S.logsumexp, once, [x])


def test_stable_forms_are_finite_where_naive_ones_overflow():
    x = T.vector("x")
    big = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    exprs = [T.log(1 + T.exp(x)), T.log(T.nnet.sigmoid(x)), T.log(1 - T.nnet.sigmoid(x)),
             T.log(T.sum(T.exp(x))), T.log(T.nnet.softmax(x))]
    naive = theano.function([x], exprs, mode=theano.compile.mode.Mode(optimizer=None))
    stable = theano.function([x], exprs, mode=theano.compile.mode.Mode(optimizer="fast_run"))
    with np.errstate(all="ignore"):
        assert not all(np.all(np.isfinite(v)) for v in naive(big))
    for v in stable(big):
        assert np.all(np.isfinite(v))
    np.testing.assert_allclose(stable(big)[0], np.logaddexp(0, big))
    np.testing.assert_allclose(stable(big)[3], np.logaddexp.reduce(big))


def test_tiny_arguments_keep_their_precision():
    x = T.dvector("x")
    f = theano.function([x], [T.log(1 + x), T.exp(x) - 1])
    a, b = f(np.array([1e-20]))
    assert a[0] == 1e-20 and b[0] == 1e-20


def test_gradient_of_log_softmax_is_finite():
    x = T.matrix("x")
    y = T.log(T.nnet.softmax(x))[0, 0]
    g = T.grad(y, x)
    f = theano.function([x], g)
    v = f(np.array([[-1000.0, 0.0, 1000.0]]))
    assert np.all(np.isfinite(v))


def test_log_softmax_grad():
    x, g = T.matrix("x"), T.matrix("g")
    sm = T.nnet.softmax(x)
    a = g * (1 / sm)
    before = (a - T.sum(a * sm, axis=1, keepdims=True)) * sm
    expected = g - expand(CAReduce("sum", (1,))(g), (1,), 2) * sm
    check_rewrite(S.log_softmax_grad, before, expected, [x, g])
    other_axis = (a - T.sum(a * sm, axis=0, keepdims=True)) * sm
    check_unchanged(S.log_softmax_grad, other_axis, [x, g])
