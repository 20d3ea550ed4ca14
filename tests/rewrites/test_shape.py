"""shape: x.shape and x.shape[i] without computing x."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.graph.basic import Apply, Op
from theanine.graph.traversal import toposort
from theanine.rewrites import shape as S
from theanine.tensor.shape import MakeVector, Shape_i

from .helpers import check_rewrite, check_unchanged, rewritten


def i64(v):
    return T.constant(np.int64(v))


def test_constant_index_into_shape_becomes_shape_i():
    x = T.matrix("x")
    check_rewrite(S.shape_subtensor, x.shape[1], Shape_i(1)(x), [x])
    check_rewrite(S.shape_subtensor, x.shape[-2], Shape_i(0)(x), [x])
    r = T.row("r")
    check_rewrite(S.shape_subtensor, r.shape[0], i64(1), [r])


def test_index_into_make_vector():
    a, b = T.lscalar("a"), T.iscalar("b")
    v = T.stack([a, b])
    check_rewrite(S.shape_subtensor, v[1], T.cast(b, "int64"), [a, b])
    check_rewrite(S.shape_subtensor, v[0], a, [a, b])


def test_index_through_a_rebroadcast():
    a = T.lscalar("a")
    v = T.unbroadcast(T.stack([a]), 0)
    check_rewrite(S.shape_subtensor, v[0], a, [a])


def test_symbolic_index_is_kept():
    x, i = T.matrix("x"), T.lscalar("i")
    check_unchanged(S.shape_subtensor, x.shape[i], [x, i])


def test_shape_i_of_elemwise_uses_the_inputs():
    x = T.matrix("x")
    y = T.exp(x) * 2.0
    check_rewrite(S.shape_i_rule, Shape_i(1)(y), Shape_i(1)(x), [x])  # to a fixed point


def test_shape_i_of_a_broadcastable_dim_is_one():
    r = T.row("r")
    check_rewrite(S.shape_i_rule, Shape_i(0)(T.unbroadcast(r, 0) * r), i64(1), [r])


def test_shape_of_dot_and_reshape_chain_needs_no_product():
    a, b = T.matrix("a"), T.matrix("b")
    s = T.dot(a, b).shape
    out = rewritten(s, S.shape, [a, b])
    ops = {type(n.op) for n in toposort([out])}
    assert ops <= {MakeVector, Shape_i}
    av, bv = np.ones((2, 3)), np.ones((3, 4))
    f = theano.function([a, b], out, mode=theano.compile.mode.Mode(optimizer=None))
    np.testing.assert_array_equal(f(av, bv), [2, 4])


def test_shape_of_a_reshape():
    x = T.vector("x")
    y = x.reshape((2, -1))
    out = rewritten(y.shape, S.shape, [x])
    assert not any(n.op.__class__.__name__ == "Reshape" for n in toposort([out]))
    f = theano.function([x], out, mode=theano.compile.mode.Mode(optimizer=None))
    np.testing.assert_array_equal(f(np.arange(6.0)), [2, 3])


def test_shape_of_an_input_is_kept():
    x = T.matrix("x")
    check_unchanged(S.shape_rule, x.shape, [x])
    check_unchanged(S.shape_i_rule, Shape_i(0)(x), [x])


def test_op_without_infer_shape_is_kept():
    class NoInfer(Op):
        __props__ = ()

        def make_node(self, x):
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, out):
            out[0][0] = inputs[0] * 2

    x = T.vector("x")
    check_unchanged(S.shape_i_rule, Shape_i(0)(NoInfer()(x)), [x])


def test_the_shape_of_a_function_output_does_not_compute_it():
    x = T.matrix("x")
    y = T.tanh(T.dot(x, x.T)) + 1
    f = theano.function([x], [y.shape, y.shape[0]])
    ops = {type(n.op).__name__ for n in f.maker.fgraph.toposort()}
    assert "Dot" not in ops and "Elemwise" not in ops and "Composite" not in ops
    s, s0 = f(np.ones((4, 3)))
    np.testing.assert_array_equal(s, [4, 4])
    assert s0 == 4


def test_shape_of_alone():
    x = T.matrix("x")
    y = T.exp(x)
    check_rewrite(S.shape_rule, y.shape, MakeVector("int64")(Shape_i(0)(x), Shape_i(1)(x)),
                  [x])
    v = T.vector("v")
    check_rewrite(S.shape_rule, T.exp(v).shape,
                  T.unbroadcast(MakeVector("int64")(Shape_i(0)(v)), 0), [v])


def test_fill_of_a_value_used_only_for_its_shape_becomes_an_alloc():
    x = T.matrix("x")
    zero = T.constant(np.float64(0.0))
    e = T.exp(x)
    check_rewrite(S.fill_to_alloc, T.zeros_like(T.exp(x)),
                  T.alloc(zero, Shape_i(0)(e), Shape_i(1)(e)), [x])
    check_unchanged(S.fill_to_alloc, [T.zeros_like(e), e], [x])  # e is needed anyway
    check_unchanged(S.fill_to_alloc, T.zeros_like(x), [x])  # x is an input
