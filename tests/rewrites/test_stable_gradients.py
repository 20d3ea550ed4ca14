"""Gradients of the stabilised forms are finite and correct at the extremes (issue 13,
item 4): checked against their closed forms at +-1e4, +-745, +-710, +-40 and 0 on py
and numba under FAST_RUN, and against finite differences in the normal range.

Under FAST_COMPILE the stabilize rules do not run: the naive forms then overflow in
value and gradient alike (docs/math_grad.md); the forms that are stable by
construction (softplus, log_softmax, the cross-entropies of logits) are checked there
too."""

import numpy as np
import pytest
import scipy.special as sps

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import BACKENDS
from theanine.backends.numba import linker
from theanine.gradient_check import verify_grad
from theanine.graph.rewrite import rewrite_outputs
from theanine.rewrites import stabilize_grad as SG

from .helpers import check_rewrite, check_unchanged

EXTREMES = np.array([-1e4, -745.0, -710.0, -40.0, 0.0, 40.0, 710.0, 745.0, 1e4])
NORMAL = np.array([-3.0, -0.7, 0.1, 1.3, 2.9])
ROWS = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, 0.0], [745.0, -745.0, 710.0],
                 [40.0, 0.0, -40.0], [1e4, 1e4, 1e4]])
W = np.array([0.3, 1.0, 2.0, 0.5, 1.5])  # per-row weights of the matrix forms

sig = T.nnet.sigmoid


def _elementwise_forms():
    """name -> (expression of x, d/dx as NumPy, stable by construction)."""
    return {
        "log(sigmoid(x))": (lambda x: T.log(sig(x)), lambda v: sps.expit(-v), False),
        "log(1 + exp(x))": (lambda x: T.log(1 + T.exp(x)), sps.expit, False),
        "log1p(exp(x))": (lambda x: T.log1p(T.exp(x)), sps.expit, False),
        "-log(1 - sigmoid(x))": (lambda x: -T.log(1 - sig(x)), sps.expit, False),
        "-log1p(-sigmoid(x))": (lambda x: -T.log1p(-sig(x)), sps.expit, False),
        "softplus(x)": (T.nnet.softplus, sps.expit, True),
        "-softplus(-x)": (lambda x: -T.nnet.softplus(-x), lambda v: sps.expit(-v), True),
        "sigmoid_binary_crossentropy(x, 0.25)": (
            lambda x: T.nnet.sigmoid_binary_crossentropy(x, 0.25),
            lambda v: sps.expit(v) - 0.25, True),
        "binary_crossentropy(sigmoid(x), 0.25)": (
            lambda x: T.nnet.binary_crossentropy(sig(x), 0.25),
            lambda v: sps.expit(v) - 0.25, True),
    }


def _softmax(v, axis):
    return sps.softmax(v, axis=axis)


def _matrix_forms():
    """name -> (cost of the matrix x, dcost/dx as NumPy, stable by construction); the
    cost weights each row by W so that the gradient is not uniform."""
    w = T.constant(W)
    onehot = np.eye(3)[[0, 2, 1, 1, 0]]
    y = T.constant(np.array([0, 2, 1, 1, 0], dtype="int64"))
    return {
        "log(sum(exp(x), axis=1))": (
            lambda x: (T.log(T.sum(T.exp(x), axis=1)) * w).sum(),
            lambda v: W[:, None] * _softmax(v, 1), False),
        "log(sum(exp(x), axis=1, keepdims=True))": (
            lambda x: (T.log(T.sum(T.exp(x), axis=1, keepdims=True))[:, 0] * w).sum(),
            lambda v: W[:, None] * _softmax(v, 1), False),
        "log(sum(exp(x)))": (lambda x: T.log(T.sum(T.exp(x))), lambda v: _softmax(v, None),
                             False),
        "log(softmax(x))": (
            lambda x: (T.log(T.nnet.softmax(x)) * w[:, None]).sum(),
            lambda v: W[:, None] - 3 * W[:, None] * _softmax(v, 1), False),
        "logsoftmax(x)": (
            lambda x: (T.nnet.logsoftmax(x) * w[:, None]).sum(),
            lambda v: W[:, None] - 3 * W[:, None] * _softmax(v, 1), True),
        "categorical_crossentropy(softmax(x), one-hot)": (
            lambda x: (T.nnet.categorical_crossentropy(T.nnet.softmax(x), onehot) * w).sum(),
            lambda v: W[:, None] * (_softmax(v, 1) - onehot), True),
        "categorical_crossentropy(softmax(x), indices)": (
            lambda x: (T.nnet.categorical_crossentropy(T.nnet.softmax(x), y) * w).sum(),
            lambda v: W[:, None] * (_softmax(v, 1) - onehot), True),
    }


def _mode(backend, optimizer="fast_run"):
    return theano.Mode(linker=backend, optimizer=optimizer)


def _check(values, grad_values, expected):
    assert np.all(np.isfinite(grad_values)), grad_values
    np.testing.assert_allclose(grad_values, expected, rtol=1e-7, atol=1e-300)
    assert not np.any(np.isnan(values))


@pytest.fixture(params=BACKENDS)
def strict_backend(request):
    if request.param == "numba":
        with linker.policy("strict", "all"):
            yield "numba"
    else:
        yield "py"


@pytest.mark.parametrize("name", list(_elementwise_forms()))
def test_elementwise_form_gradient_at_extremes(name, strict_backend):
    expr, dexpr, _ = _elementwise_forms()[name]
    x = T.dvector("x")
    e = expr(x)
    f = theano.function([x], [e, T.grad(e.sum(), x)], mode=_mode(strict_backend))
    with np.errstate(all="ignore"):
        v, g = f(EXTREMES)
    _check(v, g, dexpr(EXTREMES))


@pytest.mark.parametrize("name", list(_matrix_forms()))
def test_matrix_form_gradient_at_extremes(name, strict_backend):
    cost, dcost, _ = _matrix_forms()[name]
    x = T.dmatrix("x")
    c = cost(x)
    f = theano.function([x], [c, T.grad(c, x)], mode=_mode(strict_backend))
    with np.errstate(all="ignore"):
        v, g = f(ROWS)
    _check(v, g, dcost(ROWS))


@pytest.mark.parametrize("name", list(_elementwise_forms()))
def test_elementwise_form_gradient_matches_finite_differences(name):
    expr, _, _ = _elementwise_forms()[name]
    verify_grad(expr, [NORMAL], mode=_mode("py"))


@pytest.mark.parametrize("name", list(_matrix_forms()))
def test_matrix_form_gradient_matches_finite_differences(name):
    cost, _, _ = _matrix_forms()[name]
    rows = np.random.default_rng(0).normal(size=(5, 3))
    verify_grad(cost, [rows], mode=_mode("py"))


@pytest.mark.parametrize("name", [n for n, f in _elementwise_forms().items() if f[2]])
def test_stable_by_construction_forms_under_fast_compile(name, strict_backend):
    expr, dexpr, _ = _elementwise_forms()[name]
    x = T.dvector("x")
    e = expr(x)
    f = theano.function([x], [e, T.grad(e.sum(), x)],
                        mode=_mode(strict_backend, "fast_compile"))
    with np.errstate(all="ignore"):
        v, g = f(EXTREMES)
    _check(v, g, dexpr(EXTREMES))


@pytest.mark.parametrize("name", [n for n, f in _matrix_forms().items() if f[2]])
def test_stable_by_construction_matrix_forms_under_fast_compile(name, strict_backend):
    cost, dcost, _ = _matrix_forms()[name]
    x = T.dmatrix("x")
    c = cost(x)
    f = theano.function([x], [c, T.grad(c, x)], mode=_mode(strict_backend, "fast_compile"))
    with np.errstate(all="ignore"):
        v, g = f(ROWS)
    _check(v, g, dcost(ROWS))


def test_float32_gradients_at_extremes():
    x = T.fvector("x")
    vals = np.array([-1e4, -104, -89, -20, 0, 20, 89, 104, 1e4], dtype="float32")
    for name, (expr, dexpr, _) in _elementwise_forms().items():
        e = expr(x)
        g = theano.function([x], T.grad(e.sum(), x), mode=_mode("py"))(vals)
        assert g.dtype == np.float32 and np.all(np.isfinite(g)), (name, g)
        np.testing.assert_allclose(g, dexpr(vals.astype("float64")), rtol=1e-5, atol=1e-30,
                                   err_msg=name)


# -- each rule alone ---------------------------------------------------------------------
def test_one_minus_sigmoid():
    x = T.dmatrix("x")
    check_rewrite(SG.one_minus_sigmoid, 1 - sig(x), sig(-x), [x])
    check_rewrite(SG.one_minus_sigmoid, 1 + -sig(x), sig(-x), [x])
    check_unchanged(SG.one_minus_sigmoid, 1 + sig(x), [x])
    check_unchanged(SG.one_minus_sigmoid, 2 - sig(x), [x])
    check_unchanged(SG.one_minus_sigmoid, 1 - T.exp(x), [x])


def test_stable_product_cancels_positive_factors():
    x, g = T.dmatrices("x", "g")
    s = sig(x)
    check_rewrite(SG.stable_product, g * (1 / s) * s * (1 - s), g * (1 - s), [x, g])
    check_rewrite(SG.stable_product, -(g / T.exp(x)) * T.exp(x), -g, [x, g])
    # x / x is not cancelled for an x that may be 0 (0 / 0 is NaN there)
    check_unchanged(SG.stable_product, g * (1 / x) * x, [x, g])


def test_stable_product_exp_over_one_plus_exp():
    x, g = T.dmatrices("x", "g")
    e = T.exp(x)
    check_rewrite(SG.stable_product, g * (1 / (1 + e)) * e, g * sig(x), [x, g])
    check_rewrite(SG.stable_product, g / (1 + e), g * sig(-x), [x, g])
    check_rewrite(SG.stable_product, e * sig(-x), sig(x), [x])


def test_stable_product_exp_over_sum_of_exp():
    x = T.dmatrix("x")
    g = T.dvector("g")
    e = T.exp(x)
    before = (g / T.sum(e, axis=1)).dimshuffle(0, "x") * e
    after = check_rewrite_values(SG.stable_product, before, [x, g])
    # the rewritten product is finite where exp overflows
    f = theano.function([x, g], after, mode=theano.Mode(optimizer=None))
    np.testing.assert_allclose(f(ROWS, W), W[:, None] * _softmax(ROWS, 1), rtol=1e-12)


def check_rewrite_values(rule, before, inputs):
    from .helpers import check_same_values

    (after,) = rewrite_outputs([before], rule, inputs=inputs)
    assert after is not before and after.type == before.type
    check_same_values(inputs, [before], [after])
    return after
