"""toposort, ancestors, graph_inputs, clone, clone_replace (all iterative)."""

import gc

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph.basic import Apply, Constant, Op
from theanine.graph.traversal import (
    ancestors,
    clone,
    clone_replace,
    gc_paused,
    graph_inputs,
    is_in_ancestors,
    toposort,
)


@pytest.fixture
def diamond():
    """x -> a = exp(x); b = a * y; c = a + b; out = c - x (a is used twice)."""
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x)
    b = a * y
    c = a + b
    out = c - x
    return x, y, a, b, c, out


def _check_topological(nodes):
    pos = {id(n): k for k, n in enumerate(nodes)}
    for k, n in enumerate(nodes):
        for v in n.inputs:
            if v.owner is not None and id(v.owner) in pos:
                assert pos[id(v.owner)] < k
    assert len(pos) == len(nodes)  # no duplicates


def test_toposort_order_and_completeness(diamond):
    x, y, a, b, c, out = diamond
    nodes = toposort([out])
    _check_topological(nodes)
    assert [n.outputs[0] for n in nodes] == [a, b, c, out]
    assert toposort([x]) == []


def test_toposort_stop_at(diamond):
    x, y, a, b, c, out = diamond
    nodes = toposort([out], stop_at=[c])
    assert [n.outputs[0] for n in nodes] == [out]
    assert [n.outputs[0] for n in toposort([out], stop_at=[a])] == [b, c, out]


def test_toposort_deterministic_for_equal_graphs(diamond):
    *_, out = diamond
    assert toposort([out]) == toposort([out])


def test_ancestors_and_graph_inputs(diamond):
    x, y, a, b, c, out = diamond
    anc = ancestors([out])
    assert {id(v) for v in anc} == {id(v) for v in (x, y, a, b, c, out)}
    assert anc[0] is out
    assert graph_inputs([out]) == [x, y] or graph_inputs([out]) == [y, x]
    assert graph_inputs([out], stop_at=[c]) == [c, x]
    k = T.constant(np.ones(2))
    assert k in graph_inputs([x + k])
    assert is_in_ancestors(out.owner, [y])
    assert not is_in_ancestors(a, [y])


def test_clone_replace_substitutes_and_shares(diamond):
    x, y, a, b, c, out = diamond
    z = T.dvector("z")
    new = clone_replace(out, {y: z})
    assert new is not out
    assert set(map(id, graph_inputs([new]))) == {id(x), id(z)}
    # a does not depend on y, so it is shared, not copied
    assert any(v is a for v in ancestors([new]))
    xs, zs = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    f = theano.function([x, z], new)
    np.testing.assert_allclose(f(xs, zs), np.exp(xs) + np.exp(xs) * zs - xs)
    # Lists and pairs work, and the original graph is untouched
    [n1, n2] = clone_replace([out, b], [(y, z)])
    assert n2.owner.inputs[1] is z and b.owner.inputs[1] is y


def test_clone_replace_intermediate_and_value(diamond):
    x, y, a, b, c, out = diamond
    new = clone_replace(out, {a: T.ones_like(x)})
    f = theano.function([x, y], new)
    xs, ys = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_allclose(f(xs, ys), 1 + ys - xs)
    new2 = clone_replace(x * 2.0, {x: np.array([1.0, 5.0])})
    np.testing.assert_allclose(new2.eval(), [2.0, 10.0])


def test_clone_replace_errors(diamond):
    x, *_ = diamond
    with pytest.raises(TypeError, match="replace key .* is not a symbolic variable"):
        clone_replace(x * 2.0, {3: x})
    with pytest.raises(TypeError, match="cannot convert .* dtype and number of dimensions"):
        clone_replace(x * 2.0, {x: T.dmatrix()})


def test_clone_replace_share_inputs_false(diamond):
    x, y, a, b, c, out = diamond
    new = clone_replace(out, {}, share_inputs=False)
    roots = graph_inputs([new])
    assert all(r is not x and r is not y for r in roots)
    assert sorted(r.name for r in roots) == ["x", "y"]
    assert all(v is not a for v in ancestors([new]))


def test_clone_copies_inputs_and_graph(diamond):
    x, y, a, b, c, out = diamond
    (x2, y2), (out2,) = clone([x, y], [out])
    assert x2 is not x and x2.name == "x" and x2.type == x.type
    assert set(map(id, graph_inputs([out2]))) == {id(x2), id(y2)}
    assert not any(v is a for v in ancestors([out2]))
    consts = [v for v in graph_inputs([out2 * 2.0]) if isinstance(v, Constant)]
    assert len(consts) == 1
    (x3,), (o3,) = clone([x], [x + 1.0], copy_inputs=False)
    assert x3 is x and o3.owner.inputs[0] is x


class Split(Op):
    """Two outputs from one input."""

    def make_node(self, x):
        return Apply(self, [x], [x.type(), x.type()])

    def compute(self, node, x):
        return x + 1, x - 1


def test_multi_output_nodes_are_sorted_once():
    x = T.dmatrix("x")
    mx, am = Split()(x)
    nodes = toposort([mx, am, mx + am, am * 2.0])
    _check_topological(nodes)
    assert sum(1 for n in nodes if len(n.outputs) == 2) == 1


def test_clone_replace_one_output_of_a_multi_output_node():
    # replacing one output keeps that replacement even though the node itself is
    # shared (its inputs are unchanged) or rebuilt (one input replaced too)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    mx, am = Split()(x)
    out = [mx * 2.0, am + 1.0]
    new = T.dmatrix("new")
    a, b = clone_replace(out, {mx: new})
    assert mx not in ancestors([a]) and new in ancestors([a])
    assert am in ancestors([b])  # the other output still comes from the node
    a2, b2 = clone_replace(out, {mx: new, x: y})
    assert new in ancestors([a2]) and x not in ancestors([b2]) and y in ancestors([b2])


def test_deep_chain_traversals_do_not_recurse():
    x = T.dvector("x")
    y = x
    for _ in range(5000):
        y = T.tanh(y)
    assert len(toposort([y])) == 5000
    assert len(ancestors([y])) == 5001
    assert graph_inputs([y]) == [x]
    z = T.dvector("z")
    y2 = clone_replace(y, {x: z})
    assert graph_inputs([y2]) == [z]


def test_gc_paused_restores_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()

    @gc_paused()
    def boom():
        assert not gc.isenabled()
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: stays off
    finally:
        gc.enable()
