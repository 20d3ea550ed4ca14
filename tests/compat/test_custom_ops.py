"""Users' Ops as the book's chapter 13 writes them: an op with only c_code is refused
when it is applied, and the object-mode warning of the numba backend points at the
user's line."""

import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.numba import linker


class Double(theano.Op):
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def c_code(self, node, name, inputs, outputs, sub):
        return f"{outputs[0]} = 2 * {inputs[0]};"


class Triple(theano.Op):
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 3


def test_op_with_only_c_code_is_refused_when_applied():
    msg = "Double defines c_code but no perform\\(\\); theanine has no C backend: write perform"
    with pytest.raises(NotImplementedError, match=msg):
        Double()(T.dvector())
    node = Double().make_node(T.dvector())  # built by hand: refused when compiled
    with pytest.raises(NotImplementedError, match=msg):
        theano.function(node.inputs, node.outputs[0], mode=theano.Mode(linker="py"))


def test_object_mode_warning_points_at_the_users_call(numba_strict):
    linker._warned.discard("Triple")
    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = theano.function([x], Triple()(x), mode=theano.Mode(linker="numba"))
    ours = [w for w in caught if "Triple runs in object mode" in str(w.message)]
    assert ours and ours[0].filename == __file__
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [3.0, 6.0])


# -- theano.OpFromGraph ---------------------------------------------------------------


def _axpy():
    x, y = T.dscalars("xy")
    return theano.OpFromGraph([x, y], [2 * x + y], name="axpy")


def test_op_from_graph_values_and_gradient(mode):
    axpy = _axpy()
    a, b = T.dscalar("a"), T.dscalar("b")
    z = axpy(a, b) * axpy(b, a)
    f = theano.function([a, b], [z] + T.grad(z, [a, b]), mode=mode)
    val, ga, gb = f(1.5, -0.5)
    u, v = 2 * 1.5 - 0.5, 2 * -0.5 + 1.5
    np.testing.assert_allclose([val, ga, gb], [u * v, 2 * v + u, v + 2 * u])
    theano.gradient.verify_grad(lambda p, q: axpy(p, q) * axpy(q, p), [1.5, -0.5],
                                rng=np.random.default_rng(0))


def test_op_from_graph_several_outputs_and_shared_variables(mode):
    x = T.dvector("x")
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    op = theano.OpFromGraph([x], [x * w, (x * w).sum()])
    v = T.dvector("v")
    prod, total = op(v)
    f = theano.function([v], [prod, total, T.grad(total + prod[0], v)], mode=mode)
    p, t, g = f(np.array([3.0, 4.0]))
    np.testing.assert_allclose(p, [3.0, 8.0])
    assert t == 11.0
    np.testing.assert_allclose(g, [2.0, 2.0])
    w.set_value(np.array([10.0, 0.0]))  # the shared value is read when the node runs
    assert f(np.array([3.0, 4.0]))[1] == 30.0
    gw = theano.function([v], T.grad(total, w), mode=mode)(np.array([3.0, 4.0]))
    np.testing.assert_allclose(gw, [3.0, 4.0])


def test_op_from_graph_in_a_loop_and_inline(mode):
    x = T.dvector("x")
    for inline in (False, True):
        op = theano.OpFromGraph([x], [T.tanh(x) * 2], inline=inline)
        seq = T.dmatrix("seq")
        out, _ = theano.scan(op, sequences=[seq])
        f = theano.function([seq], [out, T.grad(out.sum(), seq)], mode=mode)
        s = np.arange(6.0).reshape(3, 2) / 6
        o, g = f(s)
        np.testing.assert_allclose(o, np.tanh(s) * 2)
        np.testing.assert_allclose(g, 2 * (1 - np.tanh(s) ** 2))
        kinds = {type(n.op).__name__ for n in theano.function([x], op(x)).maker.fgraph.toposort()}
        assert ("OpFromGraph" in kinds) == (not inline)


def test_op_from_graph_refuses_free_variables_and_overrides_gradients(mode):
    x, y = T.dscalars("xy")
    with pytest.raises(theano.MissingInputError, match="not among its inputs"):
        theano.OpFromGraph([x], [x + y])
    op = theano.OpFromGraph([x], [x ** 2], grad_overrides=lambda ins, gs: [gs[0] * 10])
    a = T.dscalar("a")
    assert theano.function([a], T.grad(op(a), a), mode=mode)(3.0) == 10.0
    assert op == theano.OpFromGraph([y], [y ** 2], grad_overrides=op.grad_overrides)
    assert op != theano.OpFromGraph([y], [y ** 3], grad_overrides=op.grad_overrides)


def test_op_from_graph_pickles():
    import pickle

    axpy = _axpy()
    a = T.dscalar("a")
    f = theano.function([a], axpy(a, a), mode=theano.Mode(linker="py"))
    g = pickle.loads(pickle.dumps(f))
    assert g(2.0) == 6.0


def test_inline_rule_alone():
    from tests.rewrites.helpers import check_rewrite, check_unchanged
    from theanine.rewrites.inline import inline_op_from_graph

    x, a = T.dvector("x"), T.dvector("a")
    inlined = theano.OpFromGraph([x], [T.exp(x) * 2], inline=True)
    check_rewrite(inline_op_from_graph, inlined(a) + 1, T.exp(a) * 2 + 1, [a])
    kept = theano.OpFromGraph([x], [T.exp(x) * 2])
    check_unchanged(inline_op_from_graph, kept(a) + 1, [a])
