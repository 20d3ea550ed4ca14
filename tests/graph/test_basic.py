"""The graph IR: Op props/equality, Apply, Variable, Constant, eval, pickling."""

import pickle

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph import serialize
from theanine.graph.basic import Apply, Constant, Op, Variable
from theanine.graph.fgraph import FunctionGraph, MissingInputError
from theanine.graph.serialize import dump_graph, load_graph
from theanine.graph.traversal import graph_inputs


class Scale(Op):
    """A user op written against Theano's protocol (perform, not compute)."""

    __props__ = ("factor",)

    def __init__(self, factor):
        self.factor = factor

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * self.factor

    def grad(self, inputs, output_grads):
        return [output_grads[0] * self.factor]

    def infer_shape(self, node, shapes):
        return shapes


class Pair(Op):
    """Two outputs, computed with the pure `compute` form."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type(), x.type()])

    def compute(self, node, x):
        return x + 1, x - 1


def test_op_equality_and_hash_follow_props():
    assert Scale(2.0) == Scale(2.0)
    assert hash(Scale(2.0)) == hash(Scale(2.0))
    assert Scale(2.0) != Scale(3.0)
    assert Pair() == Pair() and hash(Pair()) == hash(Pair())
    assert Scale(2.0) != Pair()
    assert len({Scale(1.0), Scale(1.0), Scale(2.0)}) == 2
    assert str(Scale(2.0)) == "Scale{factor=2.0}"
    assert str(Pair()) == "Pair"


def test_apply_links_outputs_to_owner():
    x = T.dvector("x")
    node = Scale(2.0).make_node(x)
    (out,) = node.outputs
    assert out.owner is node and out.index == 0
    assert node.inputs == [x] and node.nin == 1 and node.nout == 1
    assert node.out is out
    assert x.owner is None and x.get_parents() == []
    assert out.get_parents() == [node]


def test_apply_rejects_non_variables_and_owned_outputs():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="input 0 of Scale.* is not a Variable"):
        Apply(Scale(1.0), [np.ones(2)], [x.type()])
    y = Scale(2.0)(x)
    with pytest.raises(ValueError, match="output 0 of .* already has an owner"):
        Apply(Scale(3.0), [x], [y])


def test_multi_output_op_call_returns_list_and_out_refuses():
    x = T.dvector("x")
    a, b = Pair()(x)
    assert a.owner is b.owner and (a.index, b.index) == (0, 1)
    with pytest.raises(ValueError, match="2 outputs"):
        a.owner.out
    f = theano.function([x], [a, b])
    r = f(np.array([1.0, 2.0]))
    np.testing.assert_allclose(r[0], [2.0, 3.0])
    np.testing.assert_allclose(r[1], [0.0, 1.0])


def test_user_perform_op_runs_and_differentiates():
    x = T.dvector("x")
    y = Scale(3.0)(x)
    f = theano.function([x], [y, theano.grad(y.sum(), x)])
    out, g = f(np.array([1.0, 2.0]))
    np.testing.assert_allclose(out, [3.0, 6.0])
    np.testing.assert_allclose(g, [3.0, 3.0])


def test_clone_with_new_inputs():
    x, z = T.dvector("x"), T.dvector("z")
    y = Scale(2.0)(x)
    y.name = "y"
    node = y.owner.clone_with_new_inputs([z])
    assert node is not y.owner and node.op == y.owner.op
    assert node.inputs == [z] and node.outputs[0].name == "y"
    # A different type: make_node re-infers the outputs
    m = T.fvector("m")
    node2 = y.owner.clone_with_new_inputs([m], strict=False)
    assert node2.outputs[0].dtype == "float32"


def test_variable_clone_and_str():
    x = T.dmatrix("x")
    c = x.clone()
    assert c is not x and c.type == x.type and c.name == "x" and c.owner is None
    assert x.clone(name="k").name == "k"
    assert str(T.dmatrix()) == "<TensorType(float64, matrix)>"
    y = T.exp(x)
    assert str(y) == "Elemwise{exp}.0"
    a, b = Pair()(x)
    assert str(b) == "Pair.1"


def test_tag_is_lazy_and_copied_by_clone():
    x = T.dvector("x")
    assert "_tag" not in x.__dict__
    x.tag.test_value = 3
    assert x.tag.test_value == 3 and x.tag["test_value"] == 3
    c = x.clone()
    c.tag.test_value = 4
    assert x.tag.test_value == 3
    with pytest.raises(AttributeError):
        x.tag.missing


def test_constant_signature_and_str():
    a = T.constant(np.array([1.0, 2.0]))
    b = T.constant(np.array([1.0, 2.0]))
    c = T.constant(np.array([1.0, 3.0]))
    d = T.constant(np.array([1, 2], dtype="int32"))
    assert isinstance(a, Constant)
    assert a.signature() == b.signature()
    assert a.signature() != c.signature()
    assert a.signature() != d.signature()
    assert str(a) == "TensorConstant{[1. 2.]}"
    assert str(T.constant(np.arange(100.0))).startswith("TensorConstant{[ 0.  1.  ..")
    assert str(T.constant(2.0, name="two")) == "two"
    assert a.clone().signature() == a.signature()
    with pytest.raises(ValueError):
        a.data[0] = 5.0  # constants are read-only


def test_variable_eval_and_cache():
    x, y = T.dscalar("x"), T.dscalar("y")
    z = x * y + 1
    assert z.eval({x: 2.0, y: 3.0}) == 7.0
    assert z.eval({x: 1.0, y: 1.0}) == 2.0
    assert len(z._eval_cache) == 1  # one compiled function per set of inputs
    assert T.constant(4.0).eval() == 4.0
    with pytest.raises(MissingInputError):
        z.eval({x: 1.0})


def test_pickle_variable_graph_roundtrip():
    x = T.dmatrix("x")
    y = T.tanh(x.sum(axis=1)) * 2.0
    y.name = "y"
    y2 = pickle.loads(pickle.dumps(y))
    assert y2.name == "y" and y2.type == y.type
    (x2,) = [v for v in _roots(y2) if not isinstance(v, Constant)]
    assert x2.name == "x"
    val = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(y2.eval({x2: val}), np.tanh(val.sum(1)) * 2)


def _roots(v):
    return graph_inputs([v])


def test_pickle_function_keeps_state_and_behaviour():
    x = T.dvector("x")
    acc = theano.shared(np.zeros(2), name="acc")
    f = theano.function([x], acc + x, updates=[(acc, acc + x)])
    f(np.ones(2))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    np.testing.assert_allclose(g(np.ones(2)), [3.0, 3.0])
    # The original's shared state is separate from the copy's
    np.testing.assert_allclose(acc.get_value(), [1.0, 1.0])


def test_dump_and_load_graph_is_flat():
    x = T.dvector("x")
    y = x
    for _ in range(3000):  # deeper than the recursion limit
        y = T.tanh(y)
    state = dump_graph([x], [y])
    assert len(state["nodes"]) == 3000
    roots, (y2,) = load_graph(pickle.loads(pickle.dumps(state)))
    f = theano.function([roots[0]], y2)
    v = np.array([0.5])
    expected = v
    for _ in range(3000):
        expected = np.tanh(expected)
    np.testing.assert_allclose(f(v), expected)
    with pytest.raises(ValueError, match="is not an input of the graph"):
        dump_graph([], [y])


def test_function_graph_missing_input_names_it():
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(MissingInputError, match="input y .* was not provided"):
        FunctionGraph([x], [x + y])
    fg = FunctionGraph([x, y], [x * y + x])
    assert [n.op for n in fg.toposort()] == [n.op for n in fg.apply_nodes]
    clients = fg.clients()
    assert len(clients[id(x)]) == 2


def test_type_base_class():
    x = T.dvector("x")
    assert x.type.filter_variable(x) is x
    assert x.type.is_valid_value(np.zeros(3))
    assert not x.type.is_valid_value(np.zeros(3, dtype="float32"))
    assert isinstance(x.type("n"), Variable) and x.type("n").name == "n"


def test_pickle_deep_graph_is_flat_and_keeps_identity():
    x = T.dvector("x")
    y = x
    for _ in range(5000):  # plain recursive pickling would overflow the stack
        y = T.tanh(y)
    h = y * 2.0
    h.name = "h"
    z = h + h
    x2, h2, z2 = pickle.loads(pickle.dumps([x, h, z]))
    assert z2.owner.inputs == [h2, h2] and h2.name == "h"
    assert _roots(z2)[0] is x2
    v = np.array([0.3])
    np.testing.assert_allclose(theano.function([x2], z2)(v), theano.function([x], z)(v))
    node2 = pickle.loads(pickle.dumps(z.owner))
    assert isinstance(node2, Apply) and node2.op == z.owner.op

    assert not serialize._local.scheduled  # bookkeeping freed with the pickler


def test_pickle_output_whose_state_refers_to_its_sibling():
    """As a random draw does: the sample keeps a reference to the new-state output."""
    x = T.dvector("x")
    a, b = Pair()(x)
    a.partner = b
    b.partner = a
    a2 = pickle.loads(pickle.dumps(a))
    assert a2.partner is a2.owner.outputs[1] and a2.partner.partner is a2
    np.testing.assert_allclose(a2.partner.eval({_roots(a2)[0]: np.ones(1)}), [0.0])
