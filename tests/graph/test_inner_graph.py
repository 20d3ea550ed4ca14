"""InnerGraphOp: equality by the inner graph's structure, the inner function built
once and never pickled, flat pickling of the inner graph; used by a minimal op."""

import pickle

import numpy as np
import pytest

import theanine.tensor as T
from theanine.backends.py.linker import link
from theanine.graph.basic import Apply
from theanine.graph.inner_graph import InnerGraphOp, graph_key


class Call(InnerGraphOp):
    """outputs = inner graph applied to the inputs (an OpFromGraph in miniature)."""

    __props__ = ("key", "label")

    def __init__(self, inner_inputs, inner_outputs, label=""):
        super().__init__(inner_inputs, inner_outputs)
        self.label = label
        self.linked = 0

    def make_node(self, *inputs):
        return Apply(self, list(inputs), [o.type() for o in self.inner_outputs])

    def link_inner(self, fgraph):
        self.linked += 1
        return link(fgraph)

    def with_inner_outputs(self, inner_outputs):
        return Call(self.inner_inputs, inner_outputs, self.label)

    def compute(self, node, *values):
        res = self.inner_function()(*values)
        return res[0] if len(res) == 1 else tuple(res)


def _body(scale=2.0):
    a, b = T.dvector("a"), T.dvector("b")
    return [a, b], [T.tanh(a) * scale + b]


def test_equal_structure_equal_ops():
    op1, op2 = Call(*_body()), Call(*_body())
    assert op1.inner_inputs[0] is not op2.inner_inputs[0]
    assert op1 == op2 and hash(op1) == hash(op2)
    assert op1 != Call(*_body(3.0))  # another constant
    assert op1 != Call(*_body(), label="other")  # another prop


def test_key_refuses_an_open_graph():
    a, b = T.dvector("a"), T.dvector("b")
    with pytest.raises(ValueError, match="not an inner input"):
        graph_key([a], [a + b])
    with pytest.raises(ValueError, match="not an inner input"):
        Call([a], [a + b])


def test_inner_function_built_once_and_runs(rng):
    op = Call(*_body())
    x, y = T.dvector("x"), T.dvector("y")
    node = op.make_node(x, y)
    xv, yv = rng.normal(size=3), rng.normal(size=3)
    for _ in range(3):
        np.testing.assert_allclose(op.compute(node, xv, yv), np.tanh(xv) * 2 + yv)
    assert op.linked == 1


def test_pickling_drops_what_was_compiled(rng):
    op = Call(*_body())
    x, y = T.dvector("x"), T.dvector("y")
    node = op.make_node(x, y)
    op.compute(node, np.zeros(2), np.zeros(2))
    op.cached("anything", lambda: lambda: None)  # not picklable: must not be pickled
    again = pickle.loads(pickle.dumps(op))
    assert again == op and again.key == op.key
    assert "_cache" not in again.__dict__
    xv, yv = rng.normal(size=4), rng.normal(size=4)
    np.testing.assert_allclose(again.compute(again.make_node(x, y), xv, yv),
                               np.tanh(xv) * 2 + yv)


def test_deep_inner_graph_pickles_flat():
    a = T.dvector("a")
    out = a
    for _ in range(5000):
        out = out + 1.0
    op = Call([a], [out])
    again = pickle.loads(pickle.dumps(op))
    assert again.key == op.key


def test_base_says_what_a_subclass_must_give():
    a = T.dvector("a")
    bare = InnerGraphOp([a], [a * 2])
    with pytest.raises(NotImplementedError, match="link_inner"):
        bare.inner_function()
    with pytest.raises(NotImplementedError, match="with_inner_outputs"):
        bare.with_inner_outputs([a * 3])
