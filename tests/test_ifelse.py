"""ifelse: values, laziness (the untaken branch's op never runs), gradients."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backend_suite import jax_too  # noqa: F401,E402 - runs each test on jax too
from theanine.compile.ops import as_op
from theanine.gradient import verify_grad
from theanine.ifelse import ifelse


class CountingOp(theano.Op):
    """Identity that counts how often it runs (a Theano-style perform Op)."""

    __props__ = ()
    calls = 0

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        CountingOp.calls += 1
        output_storage[0][0] = inputs[0].copy()

    def grad(self, inputs, output_grads):
        return output_grads


def test_values_and_laziness():
    c = T.iscalar("c")
    x = T.dvector("x")
    out = ifelse(c, CountingOp()(x) * 2, x - 1)
    f = theano.function([c, x], out)
    CountingOp.calls = 0
    np.testing.assert_array_equal(f(0, np.arange(3.0)), np.arange(3.0) - 1)
    assert CountingOp.calls == 0
    np.testing.assert_array_equal(f(1, np.arange(3.0)), np.arange(3.0) * 2)
    assert CountingOp.calls == 1


def test_several_outputs_and_shared():
    w = theano.shared(np.float64(3.0), name="w")
    c = T.bscalar("c")
    x = T.dscalar("x")
    a, b = ifelse(c, [x * w, x + 1], [x - w, x * 0])
    f = theano.function([c, x], [a, b])
    assert [float(v) for v in f(1, 2.0)] == [6.0, 3.0]
    assert [float(v) for v in f(0, 2.0)] == [-1.0, 0.0]


def test_gradient(rng):
    x = T.dvector("x")
    c = T.iscalar("c")
    cost = T.sum(ifelse(c, T.tanh(x) * x, x ** 3))
    g = theano.function([c, x], T.grad(cost, x))
    xv = rng.normal(size=4)
    np.testing.assert_allclose(g(1, xv), (1 - np.tanh(xv) ** 2) * xv + np.tanh(xv))
    np.testing.assert_allclose(g(0, xv), 3 * xv ** 2)
    verify_grad(lambda v: ifelse(T.constant(1), T.sin(v) * v, v), [xv])


def test_errors():
    with pytest.raises(TypeError, match="scalar"):
        ifelse(T.dvector(), T.dscalar(), T.dscalar())
    with pytest.raises(TypeError, match="type"):
        ifelse(T.iscalar(), T.dvector(), T.fvector())
    with pytest.raises(ValueError, match="outputs"):
        ifelse(T.iscalar(), [T.dscalar()], [T.dscalar(), T.dscalar()])


def test_inside_scan():
    x = T.dvector("x")
    r, _ = theano.scan(lambda e, acc: ifelse(e > 0, acc + e, acc * 2), sequences=x,
                       outputs_info=T.constant(1.0))
    np.testing.assert_array_equal(theano.function([x], r)(np.array([1.0, -1.0, 2.0])),
                                  [2, 4, 6])


def test_as_op_in_graph_and_scan():
    @as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix])
    def numpy_dot(a, b):
        return np.dot(a, b)

    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], numpy_dot(x, y))
    np.testing.assert_array_equal(f(np.eye(2), np.ones((2, 2))), np.ones((2, 2)))
    r, _ = theano.scan(lambda h, w: numpy_dot(h, w), outputs_info=x, non_sequences=y,
                       n_steps=3)
    out = theano.function([x, y], r)(np.eye(2), 2 * np.eye(2))
    np.testing.assert_array_equal(out[-1], 8 * np.eye(2))
    with pytest.raises(TypeError, match="input 0"):
        numpy_dot(T.fmatrix(), y)
