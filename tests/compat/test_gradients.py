"""T.grad as in Theano 1.0: integer inputs of float operations get their gradient,
the seed keeps the cost in the graph, undefined and disconnected known gradients
raise, and a random draw's parameters have no gradient."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import DisconnectedInputError, DisconnectedType, NullType, NullTypeGradError
from theanine.graph.basic import Apply, Op
from theanine.tensor.shared_randomstreams import RandomStreams


def test_integer_input_of_a_float_dot_gets_its_gradient(mode):
    X = T.imatrix("X")
    W = T.dmatrix("W")
    g = T.grad(T.dot(X, W).sum(), X)
    assert g.dtype == "float64"
    w = np.arange(12.0).reshape(3, 4)
    got = theano.function([X, W], g, mode=mode)(np.ones((2, 3), "int32"), w)
    np.testing.assert_allclose(got, np.ones((2, 4)) @ w.T)


def test_integer_input_times_a_float(mode):
    x = T.ivector("x")
    got = theano.function([x], T.grad((x * 2.5).sum(), x), mode=mode)(
        np.array([1, 2], "int32"))
    np.testing.assert_allclose(got, [2.5, 2.5])
    # a cast to float passes the gradient on, as Theano's Cast
    got = theano.function([x], T.grad(T.cast(x, "float64").sum() * 3, x), mode=mode)(
        np.array([4, 5], "int32"))
    np.testing.assert_allclose(got, [3.0, 3.0])


def test_an_integer_output_cuts_the_gradient(mode):
    x = T.dvector("x")
    cost = (T.cast(x * 3, "int32") * x).sum()  # d/dx through the int cast: zero
    xv = np.array([0.5, 1.5])
    got = theano.function([x], T.grad(cost, x), mode=mode)(xv)
    np.testing.assert_allclose(got, np.floor(xv * 3))


def test_grad_keeps_the_cost_so_every_input_counts_as_used(mode):
    x, y = T.dscalar("x"), T.dscalar("y")
    f = theano.function([x, y], T.grad(x * y, x), mode=mode)
    assert f(1.0, 2.0) == 2.0
    v = T.dvector("v")
    j = theano.function([v], T.jacobian(2 * v, v), mode=mode)
    np.testing.assert_allclose(j(np.ones(3)), 2 * np.eye(3))


def test_random_draw_parameters_have_no_gradient():
    srng = RandomStreams(1)
    p = T.dvector("p")
    with pytest.raises(NullTypeGradError, match="binomial"):
        T.grad((srng.binomial(size=p.shape, p=p) * p).sum(), p)
    with pytest.raises(NullTypeGradError, match="uniform"):
        T.grad((srng.uniform(size=p.shape, low=p) * p).sum(), p)


def test_known_grads_null_and_disconnected():
    x = T.dscalar("x")
    c = x * 2
    with pytest.raises(NullTypeGradError):
        T.grad(None, x, known_grads={c: NullType()()})
    with pytest.raises(DisconnectedInputError):
        T.grad(None, x, known_grads={c: DisconnectedType()()})
    g = T.grad(None, x, known_grads={c: DisconnectedType()()}, disconnected_inputs="ignore",
               return_disconnected="Disconnected")
    assert isinstance(g.type, DisconnectedType)


class SumToScalar(Op):
    """A custom op whose gradient accepts an output gradient of another rank."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 1.0

    def grad(self, inputs, output_grads):
        (g,) = output_grads
        return [T.ones_like(inputs[0]) * g.sum()]  # g may be of any rank


def test_known_grads_of_another_rank_reach_the_op(mode):
    x = T.dvector("x")
    y = SumToScalar()(x)
    g = T.grad(None, x, known_grads={y: T.constant(np.ones((2, 2)))})
    np.testing.assert_allclose(theano.function([x], g, mode=mode)(np.zeros(3)), [4.0] * 3)
