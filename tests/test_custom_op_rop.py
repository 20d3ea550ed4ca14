"""A Theano-style custom Op's own R_op is used by theano.Rop (forward mode through it),
and ops around it still get their Jacobian-vector products."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from tests.backend_suite import jax_too  # noqa: F401,E402 - runs each test on jax too


class Cube(theano.Op):
    """x ** 3 with perform and R_op only (no grad), as in the book's chapter 13."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] ** 3

    def infer_shape(self, node, shapes):
        return shapes

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [3 * inputs[0] ** 2 * eval_points[0]]


def test_rop_uses_the_ops_r_op(rng):
    x = T.dvector("x")
    v = T.dvector("v")
    y = T.tanh(Cube()(x)) * 2
    jv = theano.Rop(y, x, v)
    f = theano.function([x, v], jv)
    xv, vv = rng.normal(size=4), rng.normal(size=4)
    expected = 2 * (1 - np.tanh(xv ** 3) ** 2) * 3 * xv ** 2 * vv
    np.testing.assert_allclose(f(xv, vv), expected)


def test_rop_with_two_inputs_one_through_r_op(rng):
    x, w = T.dvector("x"), T.dvector("w")
    vx, vw = T.dvector("vx"), T.dvector("vw")
    y = Cube()(x) * w
    jv = theano.Rop(y, [x, w], [vx, vw])
    f = theano.function([x, w, vx, vw], jv)
    xv, wv, a, b = (rng.normal(size=3) for _ in range(4))
    np.testing.assert_allclose(f(xv, wv, a, b), 3 * xv ** 2 * a * wv + xv ** 3 * b)


def test_input_reaching_a_node_twice_is_counted_once(rng):
    x, v = T.dvector("x"), T.dvector("v")
    y = Cube()(x) * x  # x reaches the product directly and through Cube
    f = theano.function([x, v], theano.Rop(y, x, v))
    xv, vv = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(f(xv, vv), 4 * xv ** 3 * vv)
